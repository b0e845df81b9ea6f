"""Isolated spikes (cosmic rays, detector glitches): found by spectral.isolated_spikes, named by the
default's checks, and replaced by fluorodn.files.despike, which a change of the signal passes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fluorodn.files as ff
from fluorodn import Denoiser, spectral
from fluorodn.errors import OutOfDomainWarning


@pytest.fixture(scope="module")
def den() -> Denoiser:
    return Denoiser(device="cpu")


def recording(seed: int = 0, n: int = 3000, w: int = 152) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean): a sensor-like spectrum whose brightness changes slowly, with one fast
    one-sample change over the whole spectrum (a motion artifact: a change of the signal), shot
    noise, float64."""
    rng = np.random.default_rng(seed)
    wl = np.linspace(477.0, 595.0, w)
    e = 8000.0 * np.exp(-0.5 * ((wl - 515.0) / 25.0) ** 2) + 800.0
    a = 0.05 * np.sin(2 * np.pi * np.arange(n) / 400.0)
    a[n // 2] += 0.3  # one sample, every bin: 30x the noise in the brightest
    clean = 500.0 + e * np.exp(a)[:, None]
    return clean + rng.standard_normal(clean.shape) * np.sqrt(clean), clean


def with_spikes(x: np.ndarray, count: int, seed: int = 1) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    t = rng.choice(np.arange(2, len(x) - 2), count, replace=False)
    w = rng.integers(0, x.shape[1], count)
    y = x.copy()
    y[t, w] += rng.uniform(5000.0, 20000.0, count) * rng.choice([-1.0, 1.0], count)
    return y, (t, w)


def test_isolated_spikes_are_found_and_changes_of_the_signal_are_not() -> None:
    """Single-value spikes either way, at the spectrum's ends too, and a cosmic ray over two
    neighbouring bins are found; the one-sample change over the whole spectrum (in the bin of a
    narrow line steady in time too), a step and the first and last sample are not; unsigned input
    does not wrap."""
    x, _ = recording()
    assert not spectral.isolated_spikes(x).any()
    x[:, 0] -= 4000.0  # a steep end of the spectrum
    t = np.arange(10, 2800, 70)
    w = (np.arange(len(t)) * 37) % x.shape[1]
    w[:2] = (0, x.shape[1] - 1)
    y = x.copy()
    y[t, w] += np.where(np.arange(len(t)) % 2, 9000.0, -9000.0)
    y[100, 50:52] += 15000.0  # one cosmic ray over two pixels
    y[:, 80] += 20000.0  # a narrow line, steady
    y[2000:, 92:95] += 3000.0  # a step over a few bins
    y[0, 10] += 20000.0
    y[-1, 11] += 20000.0
    found = spectral.isolated_spikes(y)
    expected = np.zeros(x.shape, bool)
    expected[t, w] = True
    expected[100, 50:52] = True
    assert np.array_equal(found, expected)
    unsigned = np.clip(np.round(y), 0, 65535).astype(np.uint16)
    assert np.array_equal(spectral.isolated_spikes(unsigned), spectral.isolated_spikes(np.round(np.clip(y, 0, 65535))))


def test_no_spikes_in_low_counts_clipped_or_rounded_data_nor_at_a_narrow_line_that_moves() -> None:
    """Bins whose time differences are mostly 0 (Poisson counts of 0.2-5 a sample, values clipped at
    0, coarse rounding, a bin clipped at the detector's maximum) are judged against their step and
    their values' spread, not a MAD of 0, or not at all where held at one extreme; a
    one-sample change of the whole spectrum, or a sample taken with the light off, moves a narrow
    line (light leaking in) far more than its neighbours but departs together across the sample."""
    rng = np.random.default_rng(0)
    n, w = 2000, 152
    shape = np.exp(-0.5 * ((np.linspace(477.0, 595.0, w) - 515.0) / 25.0) ** 2)
    swing = np.exp(0.05 * np.sin(2 * np.pi * np.arange(n) / 400.0))[:, None]
    for peak in (0.2, 0.5, 2.0, 5.0):
        counts = rng.poisson(peak * (shape + 0.1) * swing).astype(np.float32)
        assert not spectral.isolated_spikes(counts).any(), peak
    x, _ = recording(7, n)
    clipped = np.clip(x - np.percentile(x, 30), 0.0, None)
    assert not spectral.isolated_spikes(clipped).any()
    assert not spectral.isolated_spikes(np.round(x / x.max(), 2)).any()
    line = 20000.0 * np.exp(-0.5 * ((np.arange(w) - 10) / 0.6) ** 2)
    for dip, dark in ((0.3, False), (-0.2, False), (0.1, False), (0.0, True)):
        a = 0.05 * np.sin(2 * np.pi * np.arange(n) / 400.0)
        a[n // 3] += dip
        clean = 500.0 + (8000.0 * shape + 800.0 + line) * np.exp(a)[:, None]
        if dark:
            clean[2 * n // 3] = 500.0
        noisy = clean + rng.standard_normal(clean.shape) * np.sqrt(clean)
        assert not spectral.isolated_spikes(noisy).any(), (dip, dark)
        noisy[500, 10] += 20000.0  # a cosmic ray on the line itself is still one
        assert np.argwhere(spectral.isolated_spikes(noisy)).tolist() == [[500, 10]]
    # a bin clipped at the detector's maximum in most samples: its rare dips are not spikes
    held = np.round(2000.0 + rng.standard_normal((4096, w)) * 44.7)
    held[:, 70] = 65535.0
    held[[1000, 2000, 3000], 70] = [65530.0, 65300.0, 65035.0]
    assert not spectral.isolated_spikes(held.astype(np.uint16)).any()
    held[500, 20] += 20000.0
    assert np.argwhere(spectral.isolated_spikes(held.astype(np.uint16))).tolist() == [[500, 20]]


def test_the_default_names_spikes_and_despike_gives_back_what_it_would_give_without_them(den: Denoiser) -> None:
    """30 cosmic rays: the default spreads them (far more error on their samples than raw, three times
    its error elsewhere) and says how many it found; replaced by despike (the input left as it was),
    the output is within 5 % of the one without spikes, and quiet."""
    x, clean = recording(3)
    y, (t, w) = with_spikes(x, 30, seed=4)
    before = y.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = den.run(y)
        base = den.run(x)
    said = [str(c.message) for c in caught if issubclass(c.category, OutOfDomainWarning)]
    spikes = [m for m in said if "isolated spike" in m]
    assert len(spikes) == 1 and spikes[0].startswith("30 values of the 3000 samples checked read as isolated"), said
    assert "fluorodn.files.despike" in spikes[0]
    rows = np.zeros(len(x), bool)
    rows[t] = True

    def rmse(a: np.ndarray, where: np.ndarray) -> float:
        return float(np.sqrt(np.mean((a - clean)[where] ** 2)))

    assert rmse(out, rows) > 2 * rmse(x, rows)  # worse than raw on their samples
    assert rmse(out, ~rows) > 2 * rmse(base, ~rows)
    fixed, mask = ff.despike(y)
    assert np.array_equal(y, before)
    assert mask.sum() == 30 and mask[t, w].all()
    np.testing.assert_allclose(fixed[t, w], (y[t - 1, w] + y[t + 1, w]) / 2)
    assert np.array_equal(fixed[~mask], y[~mask])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = den.run(fixed)
    assert not [c for c in caught if "isolated spike" in str(c.message)]
    assert rmse(again, rows) < 1.05 * rmse(base, rows) and rmse(again, ~rows) < 1.05 * rmse(base, ~rows)


def test_no_spikes_in_the_training_domain() -> None:
    """Widened-generator recordings (noise 0.1-1.2, 76-304 bins, fast hemodynamics, other
    sensors): none of their values reads as an isolated spike."""
    data = pytest.importorskip("fluorodn_train.data")
    from fluorodn_train.synth import WIDE

    rng = np.random.default_rng(11)
    for k in range(12):
        noise = (0.1, 1.2, float(rng.uniform(0.1, 1.2)))[k % 3]
        inst = data.make_instance(rng, int(rng.integers(600, 3000)), int(rng.integers(76, 305)), noise, signal=WIDE)
        assert not spectral.isolated_spikes(np.asarray(inst.noisy)).any(), k


def test_dask_names_the_spikes_as_one_call_does(den: Denoiser) -> None:
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    y, _ = with_spikes(recording(5)[0], 12, seed=6)
    y = y.astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fdask.denoise(da.from_array(y, chunks=(700, 152)))
        den.run(y)
    said = [str(c.message) for c in caught if "isolated spike" in str(c.message)]
    assert len(said) == 2 and said[0] == said[1] and said[0].startswith("12 values of the 3000 samples checked")
