"""The statistics the checks take on every call: numpy's numbers without numpy's fixed cost, and a
sample of differences that stays out of step with the patterns of the rows it comes from."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fluorodn import _engine
from fluorodn._engine import removal_readings, sample_values
from fluorodn.normalize import median
from fluorodn.spectral import quantile


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64, np.uint16])
def test_median_is_numpys_number_and_type(dtype: type) -> None:
    rng = np.random.default_rng(0)
    for n in [*range(1, 12), 511, 512, 8193]:
        for values in (rng.normal(size=n) * 1000, np.round(rng.normal(size=n) * 3)):  # ties in the second
            v = values.astype(dtype)
            kept = v.copy()
            ours, numpys = median(v), np.median(v)
            assert ours == numpys and type(ours) is type(numpys), (n, dtype)
            assert np.array_equal(v, kept) and median(kept, overwrite=True) == numpys  # in place only if asked
    if np.dtype(dtype).kind == "f":
        v = rng.normal(size=101).astype(dtype)
        v[17] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert np.isnan(median(v)) and np.isnan(np.median(v))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int16, np.uint16])
def test_counted_mad_is_numpys_number_on_whole_numbers_and_declines_the_rest(dtype: type) -> None:
    from fluorodn.normalize import counted_mad

    rng = np.random.default_rng(4)
    offset = 5000 if dtype is np.uint16 else 0
    for n in [1, 2, 3, 4, 5, 10, 11, 1000, 1001, 32640]:
        for spread in (0.4, 3.0, 50.0, 3000.0):  # a few values repeated many times, up to thousands
            v = np.round(rng.normal(size=n) * spread + offset).astype(dtype)
            assert counted_mad(v) == float(np.median(np.abs(v - np.median(v)))), (n, spread)
    assert counted_mad(np.array([0.5, 1.0, 2.0])) is None  # not whole
    # numpy rounds the medians of float32 beyond 2^23 and of float16: declined, numpy's number kept
    big = np.array([8388614, 8388608, 8388614, 8388611], np.float32)
    assert counted_mad(big) is None and counted_mad(big - 8388608) == 1.5
    assert counted_mad(np.array([1024, 1030, 1026, 1025], np.float16)) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in telling the span of a narrow integer dtype
        assert counted_mad(np.array([-20000, 0, 20000], np.int16)) == 20000.0
    assert counted_mad(np.array([1.0, 2.0] * 40 + [2.5])) is None  # a fraction past the first values
    assert counted_mad(np.array([0.0, np.nan, 1.0])) is None
    assert counted_mad(np.array([0.0, 1e6])) is None  # spans more than it counts
    assert counted_mad(np.array([], np.float64)) is None


def test_quantile_is_numpys_number() -> None:
    rng = np.random.default_rng(1)
    for n in [1, 2, 3, 4, 5, 10, 63, 64, 1000, 44156]:
        values = rng.normal(size=n) * 10 ** rng.uniform(-3, 6) + rng.uniform(-1e3, 1e3)
        for q in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0, 1 / 3):
            assert quantile(values, q) == float(np.quantile(values, q)), (n, q)


def test_sample_values_takes_each_value_once_from_all_of_them_and_out_of_step_with_patterns() -> None:
    small = np.arange(100.0).reshape(10, 10)
    assert np.array_equal(sample_values(small, 100), small.ravel())
    n = 96 * 192
    taken = sample_values(np.arange(n), 4096)
    assert len(taken) == len(np.unique(taken)) == 4096
    # every tenth of the values gives its share (409.6; a random draw's spread is about 19)
    assert np.all(np.abs(np.bincount(taken * 10 // n, minlength=10) - 409.6) < 80)
    assert np.array_equal(sample_values(np.arange(n), 4096), taken)  # the same draw each time
    # patterns of rows, of columns and of both (squares a few pixels wide): each phase gives its
    # share, where every other value, pair of rows or column (a fixed stride) would read one phase,
    # and where a regular sequence of places falls in step with squares (0.66 of one phase on
    # 3-pixel squares of a 654 x 506 frame)
    rows, cols = np.indices((96, 192))
    for phase in (rows % 2, cols % 2, (rows // 2) % 2, (cols // 2 + rows // 2) % 2):
        assert sample_values(phase, 4096).mean() == pytest.approx(0.5, abs=0.03)
    for shape, side in (((654, 506), 3), ((418, 3955), 8), ((1937, 2246), 5)):
        i, j = np.indices(shape)
        squares = (i // side + j // side) % 2
        assert sample_values(squares).mean() == pytest.approx(squares.mean(), abs=0.02), (shape, side)


def test_the_noise_from_a_sample_of_differences_reads_as_all_of_them() -> None:
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
        sampled, whole = removal_readings(noisy, out)[0], removal_readings(noisy, out, sample=False)[0]
        assert sampled != whole and sampled == pytest.approx(whole, rel=0.02)
    assert removal_readings(np.zeros((1024, 1024)) + 10.0 * rng.standard_normal((1024, 1024)), np.zeros((1024, 1024)))[
        0
    ] == pytest.approx(1.0, abs=0.03)


def test_whole_numbers_are_read_from_every_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts (a camera's, photons') have a MAD that moves in whole steps, which a sample can land a
    step away from: their noise comes from every difference, their readings those of all of them
    (with a sample so small that it would read otherwise)."""
    from fluorodn._engine import whole_numbers

    monkeypatch.setattr(_engine, "NOISE_VALUES", 64)
    rng = np.random.default_rng(3)
    counts = rng.poisson(3000.0, (1024, 1024))  # a MAD of about 50 counts: a sample of 64 lands elsewhere
    assert whole_numbers(counts.astype(np.uint16), counts) and whole_numbers(counts.astype(np.float64), counts * 1.0)
    assert not whole_numbers(counts + 0.5 * rng.standard_normal(counts.shape), counts + 0.1)
    out = np.full(counts.shape, 3000.0)
    for page in (counts.astype(np.uint16), counts.astype(np.float32)):
        assert removal_readings(page, out) == removal_readings(page, out, sample=False)
    continuous = counts + rng.standard_normal(counts.shape)
    assert removal_readings(continuous, out) != removal_readings(continuous, out, sample=False)  # sampled
    blank = continuous.copy()
    blank[:4] = 0.0  # blank rows on top: the values looked at are spread over all of them
    assert not whole_numbers(blank, blank[[0, 1, 500, 501, 1000, 1001]])
