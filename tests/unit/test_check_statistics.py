"""The statistics the checks take on every call: numpy's numbers without numpy's fixed cost, and a
sample of differences that stays out of step with the patterns of the rows it comes from."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fluorodn import _engine
from fluorodn._engine import removal_readings, spread_sample
from fluorodn.normalize import median
from fluorodn.spectral import quantile


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64, np.uint16])
def test_median_is_numpys_number_and_type(dtype: type) -> None:
    rng = np.random.default_rng(0)
    for n in [*range(1, 12), 511, 512, 8193]:
        for values in (rng.normal(size=n) * 1000, np.round(rng.normal(size=n) * 3)):  # ties in the second
            v = values.astype(dtype)
            ours, numpys = median(v), np.median(v)
            assert ours == numpys and type(ours) is type(numpys), (n, dtype)
    if np.dtype(dtype).kind == "f":
        v = rng.normal(size=101).astype(dtype)
        v[17] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert np.isnan(median(v)) and np.isnan(np.median(v))


def test_quantile_is_numpys_number() -> None:
    rng = np.random.default_rng(1)
    for n in [1, 2, 3, 4, 5, 10, 63, 64, 1000, 44156]:
        values = rng.normal(size=n) * 10 ** rng.uniform(-3, 6) + rng.uniform(-1e3, 1e3)
        for q in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0, 1 / 3):
            assert quantile(values, q) == float(np.quantile(values, q)), (n, q)


def test_spread_sample_takes_each_value_once_spread_over_all_and_out_of_step() -> None:
    small = np.arange(100.0).reshape(10, 10)
    assert np.array_equal(spread_sample(small, 100), small.ravel())
    n = 96 * 192
    taken = spread_sample(np.arange(n), 4096)
    assert len(taken) == len(np.unique(taken)) == 4096
    assert np.all(np.abs(np.bincount(taken * 10 // n, minlength=10) - 409.6) < 20)  # every tenth of them
    # rows (pairs of rows) and columns alternating: half the sample from each phase, where every
    # other row or column (a fixed stride of 2) would read one phase only
    rows, cols = np.indices((96, 192))
    for phase in (rows % 2, cols % 2, (rows // 2) % 2, (cols // 2 + rows // 2) % 2):
        assert spread_sample(phase, 4096).mean() == pytest.approx(0.5, abs=0.02)


def test_the_noise_from_a_sample_of_differences_reads_as_all_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a large frame of white noise and on a checkerboard of 4-pixel squares (whose differences
    between neighbours cross an edge on a quarter of the pairs of rows and of the columns), what was
    removed over the noise measured on a sample of the differences is within 2 % of it measured on
    all of them."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:1024, :1024]
    board = 300.0 * (((yy // 4) + (xx // 4)) % 2)
    for clean in (np.zeros((1024, 1024)), board):
        noisy = clean + 10.0 * rng.standard_normal(clean.shape)
        out = clean + 0.3 * (noisy - clean)  # 70 % of the noise removed
        sampled = removal_readings(noisy, out)[0]
        monkeypatch.setattr(_engine, "NOISE_VALUES", 1 << 30)
        whole = removal_readings(noisy, out)[0]
        monkeypatch.undo()
        assert sampled == pytest.approx(whole, rel=0.02)
    assert removal_readings(np.zeros((1024, 1024)) + 10.0 * rng.standard_normal((1024, 1024)), np.zeros((1024, 1024)))[
        0
    ] == pytest.approx(1.0, abs=0.03)
