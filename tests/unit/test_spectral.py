"""The spectral path: noise levels, projection, exact windows, detection, domain checks."""

from __future__ import annotations

import itertools
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fluorodn import Denoiser, DenoiserOptions, spectral
from fluorodn.errors import LightOffNotice, ModelError, OutOfDomainWarning
from tests.support import hemodynamics_draws, small_events_draws


def recording(
    t: int = 4000, w: int = 152, noise: float = 1.0, fast: float = 0.0, seed: int = 0, time_corr: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noisy, clean, per-bin noise sd): a few smooth spectra with slow (and optionally fast,
    large) time courses, heteroscedastic Gaussian noise (shot-like: sd ~ sqrt(intensity))."""
    rng = np.random.default_rng(seed)
    wl = np.linspace(0, 1, w)
    spectra = np.stack([np.exp(-0.5 * ((wl - c) / s) ** 2) for c, s in ((0.3, 0.15), (0.6, 0.2), (0.8, 0.1))])
    tt = np.arange(t)
    slow = np.stack([np.convolve(rng.standard_normal(t + 200), np.ones(100) / 10, "same")[100:-100] for _ in range(3)])
    course = slow + fast * rng.standard_normal((3, t))  # fast: white over time, spectrally structured
    base = 5000.0 * spectra[0] + 200.0
    clean = base[None, :] * (1.0 + 0.01 * course.T @ spectra) + 0.0 * tt[:, None]
    sd = noise * np.sqrt(base)
    eps = rng.standard_normal((t, w))
    if time_corr:
        from scipy.signal import lfilter

        eps = lfilter([np.sqrt(1 - time_corr**2)], [1.0, -time_corr], eps, axis=0)
    return clean + eps * sd[None, :], clean, sd


def bright_recording(t: int = 2000, w: int = 152, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noisy, clean, per-bin noise sd of one sample) of a bright photometry recording:
    an emission spectrum peaking at 3e4 counts over a dark level of 300, a slow gain drift and a
    slow sensor response, shot noise and a read noise of 6 counts."""
    rng = np.random.default_rng(seed)
    u = np.linspace(0, 1, w)
    width = np.where(u < 0.28, 0.09, 0.2)
    emission = np.exp(-0.5 * ((u - 0.28) / width) ** 2) + 0.25 * np.exp(-0.5 * ((u - 0.57) / 0.12) ** 2)
    response = 0.8 * np.exp(-0.5 * ((u - 0.33) / 0.13) ** 2) - 0.35 * np.exp(-0.5 * ((u - 0.07) / 0.08) ** 2) + 0.15
    slow = np.stack(
        [np.convolve(s, np.ones(200) / 200, "same")[200:-200] for s in rng.standard_normal((2, t + 400)).cumsum(axis=1)]
    )
    slow = (slow - slow.mean(axis=1, keepdims=True)) / slow.std(axis=1, keepdims=True)
    photons = (
        3e4 / emission.max() * emission * (1.0 + 0.02 * slow[0])[:, None] * np.exp(0.1 * slow[1][:, None] * response)
    )
    clean = photons + 300.0
    noisy = clean + np.sqrt(photons) * rng.standard_normal((t, w)) + 6.0 * rng.standard_normal((t, w))
    return noisy, clean, np.sqrt(photons.mean(axis=0) + 36.0)


# -- noise levels ------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [0.0, 8.0])
@pytest.mark.parametrize("noise", [0.3, 1.2])
def test_noise_levels_within_ten_percent(fast: float, noise: float) -> None:
    x, _clean, sd = recording(noise=noise, fast=fast)
    if fast:  # the fast signal is far above the noise: a naive estimate is fooled
        d = np.diff(x, axis=0) / np.sqrt(2)
        naive = 1.4826 * np.median(np.abs(d - np.median(d, axis=0)), axis=0)
        assert np.median(naive / sd) > 1.5
    sigma, corr = spectral.noise_levels(x)
    ratio = sigma / sd
    assert abs(np.median(ratio) - 1.0) < 0.1
    assert np.percentile(np.abs(ratio - 1.0), 90) < 0.1
    assert abs(corr[1]) < 0.1


def test_noise_levels_correct_for_time_correlation() -> None:
    x, _, sd = recording(noise=1.0, time_corr=0.3)
    sigma, _ = spectral.noise_levels(x)
    assert abs(np.median(sigma / sd) - 1.0) < 0.1


def test_noise_levels_measure_across_bin_correlation() -> None:
    from scipy.ndimage import convolve1d

    x, clean, sd = recording(noise=1.0)
    k = np.array([0.5, 1.0, 0.5]) / np.sqrt(1.5)
    eps = convolve1d((x - clean) / sd, k, axis=1, mode="wrap") * sd
    _, corr = spectral.noise_levels(clean + eps)
    assert corr[1] == pytest.approx(2 * 0.5 / 1.5, abs=0.08)  # lag-1 correlation of the kernel: 0.667
    assert 0.0 < corr[2] < 0.25 / 1.5 + 0.05  # lag 2: 0.167, partly removed with the leading components


# -- projection ------------------------------------------------------------------------


def test_projection_with_every_component_is_exact() -> None:
    x, _, _ = recording(t=500, w=40)
    p = spectral.project(x, components=40, fixed_pattern=False)
    assert p.pattern is None
    np.testing.assert_allclose(spectral.reconstruct(p, p.coef, np.float64), x, rtol=1e-5)
    q = spectral.project(x, components=40)  # the same, less a pattern constant in time
    np.testing.assert_allclose(spectral.reconstruct(q, q.coef, np.float64), x - q.pattern, rtol=1e-5)


# -- the per-bin fixed pattern ------------------------------------------------------------


def test_smooth_spectrum_keeps_low_polynomials_and_removes_white_noise() -> None:
    rng = np.random.default_rng(4)
    u = np.linspace(-1, 1, 152)
    quad = 3.0 + 2.0 * u - 5.0 * u**2
    np.testing.assert_allclose(spectral.smooth_spectrum(quad), quad, atol=1e-6)
    smooth = 1000.0 * np.exp(-0.5 * ((u - 0.2) / 0.3) ** 2) + 200.0 * np.exp(-0.5 * ((u + 0.5) / 0.1) ** 2)
    noise = 5.0 * rng.standard_normal(152)
    got = spectral.smooth_spectrum(smooth + noise)
    assert np.sqrt(np.mean((got - smooth) ** 2)) < 0.5 * 5.0  # 1.7 measured
    # equivariant to units and offset
    np.testing.assert_allclose(spectral.smooth_spectrum(1e-3 * (smooth + noise) + 7.0), 1e-3 * got + 7.0, rtol=1e-9)


def test_rows_of_interleaved_excitations_are_told_as_such_not_as_fast_hemodynamics(den: Denoiser) -> None:
    """A recording whose every other row comes from a second light source half as bright: the
    projection reads the alternation as fast hemodynamics; the warning says what it is and how to
    denoise each excitation alone. A recording of fast hemodynamics keeps its caution."""
    x, _, _ = recording(t=3000, w=152, noise=0.5)
    x[1::2] = 200.0 + 0.5 * (x[1::2] - 200.0)  # 200 counts of dark level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        den.run(x)
    said = [(w.category, str(w.message)) for w in caught]
    assert [c for c, _ in said] == [OutOfDomainWarning], said
    assert "alternate between the levels of 2 interleaved excitations" in said[0][1] and "x[k::2]" in said[0][1]
    fast, _, _ = recording(t=3000, w=152, noise=0.5, fast=3.0)
    assert spectral.interleaved_message(fast) is None


def test_a_gain_pattern_on_a_bright_base_is_still_removed() -> None:
    """A detector's 2 % gain pattern scales a bright base (20000 counts of autofluorescence under the
    emission) as it scales the emission: no bin of it departs further than a pattern does, so it
    is removed whole (0.15 of it left, and no bin kept)."""
    x, clean, _ = recording(t=3000, w=152, noise=0.5)
    gain = 0.02 * np.random.default_rng(1).standard_normal(152)
    true = ((clean + 20000.0) * gain).mean(axis=0)[1:-1]
    pattern = spectral.project((x + 20000.0) * (1.0 + gain)).pattern[1:-1]
    assert np.sqrt(np.mean((true - pattern) ** 2)) < 0.2 * np.sqrt(np.mean(true**2))
    assert np.all(pattern != 0.0)


@pytest.mark.parametrize(("width", "depth"), [(5, 0.0), (6, 0.0), (6, 0.8)])
def test_a_band_with_sharp_edges_is_kept_not_removed_as_pattern(width: int, depth: float) -> None:
    """A band of a few bins cut out of the spectrum with edges a bin wide (a notch filter blocking a
    laser line: down to the dark level; or a dip of 20 % over 6 bins) departs from the smooth mean
    spectrum further than a detector's pattern does: it is kept, not removed as the pattern (which
    put the band's neighbours' level into it, 138-168x the raw error with the band blocked, 6x with
    the dip, silently), and the recording is denoised as any other (measured 0.015 of the raw error)."""
    x, clean, _ = recording(t=3000, w=152, noise=0.5)
    band = slice(40, 40 + width)  # on the flank of the brightest spectrum, 200 counts of dark level
    clean, x = clean.copy(), x.copy()
    clean[:, band] = 200.0 + depth * (clean[:, band] - 200.0)
    shot = np.random.default_rng(5).standard_normal((3000, width))
    x[:, band] = clean[:, band] + 0.5 * np.sqrt(clean[:, band]) * shot
    p = spectral.project(x)
    assert np.abs(p.pattern[38 : 42 + width]).max() < p.sigma[38 : 42 + width].min()
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = den.run(x)
    near = np.s_[:, 35 : 50 + width]
    assert np.mean((y - clean) ** 2) < 0.05 * np.mean((x - clean) ** 2)
    assert np.mean((y[near] - clean[near]) ** 2) < 0.05 * np.mean((x[near] - clean[near]) ** 2)


@pytest.mark.parametrize("w", [76, 152, 1024])
def test_fixed_pattern_is_estimated_and_removed(w: int) -> None:
    """A white per-bin offset constant in time (the detector's fixed pattern, std 30 counts)
    on top of smooth spectra: the projection estimates it and the reconstruction's time-mean
    error drops by more than 2.5x (measured: 3.1x, 3.4x, 11x; the fewer the bins, the less
    smooth the spectra look); keeping it reproduces the recording's time mean."""
    x, clean, _ = recording(t=3000, w=w, noise=0.5)
    fixed = 30.0 * np.random.default_rng(9).standard_normal(w)
    p = spectral.project(x + fixed, fixed_pattern=True)
    y = spectral.reconstruct(p, p.coef, np.float64)
    kept = spectral.project(x + fixed, fixed_pattern=False)
    y_kept = spectral.reconstruct(kept, kept.coef, np.float64)
    err = np.sqrt(np.mean((y.mean(axis=0) - clean.mean(axis=0)) ** 2))
    err_kept = np.sqrt(np.mean((y_kept.mean(axis=0) - clean.mean(axis=0)) ** 2))
    assert err_kept > 0.8 * 30.0
    assert err < err_kept / 2.5, (err, err_kept)
    assert np.corrcoef(p.pattern, fixed)[0, 1] > 0.9
    # only each bin's time mean changes: kept, it is the recording's
    diff, tol = y_kept - y, 1e-6 * float(np.abs(x).max())
    np.testing.assert_allclose(diff, np.broadcast_to(diff.mean(axis=0), y.shape), atol=tol)
    np.testing.assert_allclose(y_kept.mean(axis=0), (x + fixed).mean(axis=0), atol=tol)


def test_smooth_spectrum_keeps_narrow_lines() -> None:
    """Lines a bin or two wide, far beyond the noise, pass as they are with their neighbouring bins,
    and do not pull the smooth elsewhere: it stays within half the noise of the truth (RMS; measured:
    1.9, against 1.7 without the lines and 13 with them smoothed as the rest)."""
    rng = np.random.default_rng(4)
    u = np.linspace(-1, 1, 152)
    smooth = 1000.0 * np.exp(-0.5 * ((u - 0.2) / 0.3) ** 2) + 200.0 * np.exp(-0.5 * ((u + 0.5) / 0.1) ** 2)
    y = smooth + 5.0 * rng.standard_normal(152)
    lines = np.zeros(152)
    lines[40], lines[100], lines[101] = 300.0, 500.0, 150.0
    got = spectral.smooth_spectrum(y + lines)
    kept = np.r_[39:42, 99:103]
    np.testing.assert_array_equal(got[kept], (y + lines)[kept])
    assert np.sqrt(np.mean(np.delete(got - smooth, kept) ** 2)) < 0.5 * 5.0
    np.testing.assert_allclose(spectral.smooth_spectrum(1e-3 * (y + lines) + 7.0), 1e-3 * got + 7.0, rtol=1e-9)


@pytest.mark.parametrize("height", [20.0, 200.0])
def test_a_narrow_line_in_the_mean_spectrum_is_kept(height: float) -> None:
    """A real feature one bin wide (a laser line constant in time) is not taken for fixed
    pattern: at most 10 % of the line is removed (measured: 1.6 %, and none where the line stands
    out of the smooth enough to be kept whole)."""
    x, _, _ = recording(t=3000, w=152, noise=1.0)
    line = height * np.exp(-0.5 * ((np.arange(152) - 90) / 1.0) ** 2)
    p = spectral.project(x + line)
    assert abs(p.pattern[90]) < 0.1 * height


@pytest.mark.parametrize("height", [1000.0, 3000.0, 20000.0])
def test_a_bright_narrow_line_keeps_its_time_mean(den: Denoiser, height: float) -> None:
    """A line constant in time in one bin (excitation light leaking into the detection band), of
    3-70 % of the spectrum's peak, is no detector's pattern: its bin keeps its time mean, within 4
    noise units of that mean (measured: 1.7), and the output's error is a fraction of the input's
    (measured: 0.07; removing the line as pattern left 0.65x, 2.0x and 14x the input's error)."""
    x, clean, sd = bright_recording()
    j = 10
    clean[:, j] += height
    x[:, j] += height + np.sqrt(height) * np.random.default_rng(1).standard_normal(len(x))
    out = den.run(x).astype(np.float64)
    unit = np.sqrt((sd[j] ** 2 + height) / len(x))  # the noise of the bin's time mean
    assert abs(out[:, j].mean() - clean[:, j].mean()) < 4.0 * unit
    assert np.sqrt(np.mean((out - clean) ** 2)) < 0.2 * np.sqrt(np.mean((x - clean) ** 2))
    assert spectral.project(x).pattern[j] == 0.0


def test_bins_that_repeat_their_neighbours_keep_their_time_means(den: Denoiser) -> None:
    """A detector of 76 pixels reported on a grid of 152 bins repeats each value in two neighbouring
    bins, whose noise is then one: each pair's pattern cannot be told apart, and the steps of the
    pairs' staircase are no pattern, so every bin keeps its time mean. The pairs stay equal and the
    output's error is a fraction of the input's (measured: 0.15; removing the steps as pattern left
    2.3x the input's error). Noise correlated between every pair of neighbours, as in training
    (0.67), still has its pattern estimated and removed."""
    x, clean, _ = bright_recording(seed=3)
    x[:, 1::2], clean[:, 1::2] = x[:, 0::2], clean[:, 0::2]
    out = den.run(x).astype(np.float64)
    assert np.sqrt(np.mean((out - clean) ** 2)) < 0.2 * np.sqrt(np.mean((x - clean) ** 2))
    means = out.mean(axis=0)
    np.testing.assert_allclose(means[1::2], means[0::2], rtol=0, atol=1e-6 * float(np.abs(x).max()))
    assert not spectral.project(x).pattern.any()

    from scipy.ndimage import convolve1d

    x, clean, sd = recording(t=3000, w=152, noise=0.5)
    k = np.array([0.5, 1.0, 0.5]) / np.sqrt(1.5)
    fixed = 30.0 * np.random.default_rng(9).standard_normal(152)
    correlated = clean + convolve1d((x - clean) / sd, k, axis=1, mode="wrap") * sd + fixed
    p = spectral.project(correlated)
    assert np.count_nonzero(p.pattern[1:-1]) == 150
    assert np.corrcoef(p.pattern, fixed)[0, 1] > 0.9


def test_fixed_pattern_is_equivariant_to_units_and_offset() -> None:
    x, _, _ = recording(t=1000)
    x = x + 20.0 * np.random.default_rng(3).standard_normal(x.shape[1])
    a = spectral.project(x)
    b = spectral.project(x * 1e-3 + 7.0)
    np.testing.assert_allclose(b.pattern, 1e-3 * a.pattern, atol=1e-6 * float(np.abs(a.pattern).max()))


def test_denoiser_keeps_the_fixed_pattern_on_request(den: Denoiser, generator) -> None:
    inst = generator(np.random.default_rng(21), 2000, 152, 0.4)
    keep = Denoiser(device="cpu", options=DenoiserOptions(threads=1, keep_fixed_pattern=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        y, y_kept = den.run(inst.noisy), keep.run(inst.noisy)
    diff = (y_kept - y).astype(np.float64)
    tol = 1e-6 * float(np.abs(inst.noisy).max())  # float32 rounding of the outputs
    np.testing.assert_allclose(diff, np.broadcast_to(diff.mean(axis=0), diff.shape), atol=tol)  # constant in time
    p = spectral.project(inst.noisy)
    np.testing.assert_allclose(y_kept.mean(axis=0, dtype=np.float64), inst.noisy.mean(axis=0), atol=tol)
    assert np.corrcoef(diff.mean(axis=0), p.pattern)[0, 1] > 0.9
    assert np.std(p.pattern) > 10 * tol


def test_a_mean_spectrum_that_is_all_pattern_warns(generator) -> None:
    """Removing the fixed pattern warns where what it removes is no detector's pattern: on a frame
    of fine stripes 6x the noise, whose rows read as one spectrum over time, the part of the mean
    spectrum that is not smooth is all of it. Stripes 20x the noise depart further than any
    detector's pattern and are kept, and denoised. A detector's pattern (30 counts, as large as the
    noise) and the training generator's recordings stay far below the limits, and silent."""
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1), kind="spectral")
    rng = np.random.default_rng(11)
    j = np.arange(128)
    wave = np.sin(2 * np.pi * j / 2.5 + 0.3)
    noise = 10.0 * rng.standard_normal((128, 128))
    clean = np.broadcast_to(1000.0 + 200.0 * wave, (128, 128))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = den.run(clean + noise)
    assert np.sqrt(np.mean((out - clean) ** 2)) < 0.3 * np.sqrt(np.mean(noise**2))  # measured 0.19
    assert spectral.project(clean + noise).pattern_size == (0.0, 0.0)
    clean = np.broadcast_to(1000.0 + 60.0 * wave, (128, 128))
    stripes = clean + noise
    with pytest.warns(OutOfDomainWarning, match=r"not smooth across bins: .* removed as the detector's fixed pattern"):
        out = den.run(stripes)
    assert np.sqrt(np.mean((out - clean) ** 2)) > 3 * np.sqrt(np.mean((stripes - clean) ** 2))  # the harm it names
    share, over = spectral.project(stripes).pattern_size
    assert share > 0.9 and over > 4
    keep = Denoiser(device="cpu", options=DenoiserOptions(threads=1, keep_fixed_pattern=True), kind="spectral")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = keep.run(stripes)
    assert not [w for w in caught if "smooth across bins" in str(w.message)]
    assert np.sqrt(np.mean((kept - clean) ** 2)) < np.sqrt(np.mean((stripes - clean) ** 2))
    assert spectral.project(stripes, fixed_pattern=False).pattern_size is None

    x, _, _ = recording(t=3000, w=152, noise=0.5)
    detector = x + 30.0 * np.random.default_rng(9).standard_normal(152)
    share, over = spectral.project(detector).pattern_size
    assert share < 0.1 * spectral.PATTERN_SHARE and over > 1.0  # as large as the noise, a sliver of the spectrum
    gain = x * (1.0 + 0.02 * np.random.default_rng(1).standard_normal(152))  # a 2 % gain pattern
    share, over = spectral.project(gain).pattern_size
    assert share < 0.2 * spectral.PATTERN_SHARE and over > 2.0
    for seed, noise in ((1, 0.1), (2, 0.4), (3, 1.2)):
        inst = generator(np.random.default_rng(seed), 1500, 152, noise)
        share, over = spectral.project(inst.noisy).pattern_size
        assert share < 0.1 * spectral.PATTERN_SHARE and over < 0.5 * spectral.PATTERN_NOISE
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        den.run(detector)
    assert not [w for w in caught if "smooth across bins" in str(w.message)]


def test_projection_is_invariant_to_units_and_offset() -> None:
    x, _, _ = recording(t=1000)
    a = spectral.project(x)
    b = spectral.project(x * 1e-3 + 7.0)
    np.testing.assert_allclose(b.coef, a.coef, atol=1e-3 * float(np.abs(a.coef).max()))


def test_projection_keeps_the_signal_and_drops_most_noise() -> None:
    x, clean, _sd = recording(t=4000, noise=1.0, fast=0.5)
    p = spectral.project(x)
    y = spectral.reconstruct(p, p.coef, np.float64)
    err, raw = np.sqrt(np.mean((y - clean) ** 2)), np.sqrt(np.mean((x - clean) ** 2))
    assert err < 0.45 * raw


def test_windows_equal_one_call() -> None:
    """run_traces in windows with a halo equals one call on the whole recording."""
    halo = 5
    kernel = np.random.default_rng(1).standard_normal(2 * halo + 1)

    def net(b: np.ndarray) -> np.ndarray:  # a 1D filter of radius halo with zero padding, rescaled
        pad = np.pad(b[:, :8], ((0, 0), (0, 0), (halo, halo)))
        out = np.stack([[np.convolve(c, kernel, "valid") for c in row] for row in pad])
        return (out / b[:, 8:]).astype(np.float32)

    coef = np.random.default_rng(2).standard_normal((1000, 6)).astype(np.float32) * [50, 9, 2, 1, 1, 1]
    scale = np.maximum(coef.std(axis=0), 1.0)
    whole = spectral.run_traces(net, coef, scale, 8, halo, window=10**6)
    for window in (4 * halo + 1, 37, 250):
        np.testing.assert_allclose(spectral.run_traces(net, coef, scale, 8, halo, window=window), whole, atol=1e-4)


def per_channel_filter(halo: int, channels: int, calls: list[tuple[int, ...]] | None = None):
    """A network that filters each channel on its own (radius ``halo``, zero padding) and
    divides by the channel's level, as a shared spectral network does; records input shapes."""
    kernel = np.random.default_rng(1).standard_normal(2 * halo + 1)

    def net(b: np.ndarray) -> np.ndarray:
        if calls is not None:
            calls.append(b.shape)
        pad = np.pad(b[:, :channels], ((0, 0), (0, 0), (halo, halo)))
        out = np.stack([[np.convolve(c, kernel, "valid") for c in row] for row in pad])
        return (out / b[:, channels:]).astype(np.float32)

    return net


def test_pieces_equal_whole_traces() -> None:
    """A network that denoises each trace on its own gets the signal traces cut into pieces
    that fill its channels: the same values as whole traces, noise-only traces zero, and
    network work that follows the number of signal traces."""
    halo, t = 5, 1000
    coef = np.random.default_rng(2).standard_normal((t, 6)).astype(np.float32) * [50, 9, 2, 1, 1, 1]
    scale = np.maximum(coef.std(axis=0), 1.0)
    signal = np.array([True, True, False, True, False, False])
    whole = spectral.run_traces(per_channel_filter(halo, 8), coef, scale, 8, halo, window=10**6)
    for window in (4 * halo + 1, 37, 250, 10**6):
        calls: list[tuple[int, ...]] = []
        got = spectral.run_traces(
            per_channel_filter(halo, 8, calls), coef, scale, 8, halo, window=window, signal=signal, independent=True
        )
        np.testing.assert_allclose(got[:, signal], whole[:, signal], atol=1e-4)
        assert np.all(got[:, ~signal] == 0.0)
        filled = spectral.run_traces(
            per_channel_filter(halo, 8), coef, scale, 8, halo, window=window, signal=signal, fill=np.arange(6.0)
        )
        np.testing.assert_allclose(filled[:, signal], whole[:, signal], atol=1e-4)
        np.testing.assert_array_equal(filled[:, ~signal], np.broadcast_to([2.0, 4.0, 5.0], (t, 3)))
        every: list[tuple[int, ...]] = []
        spectral.run_traces(per_channel_filter(halo, 8, every), coef, scale, 8, halo, window=window)
        # 3 signal traces in 8 channels: at most 0.6 of the samples the whole traces take
        assert sum(shape[2] for shape in calls) <= 0.6 * sum(shape[2] for shape in every)
    mixed = spectral.run_traces(per_channel_filter(halo, 8), coef, scale, 8, halo, window=37, signal=signal)
    np.testing.assert_allclose(mixed, got, atol=1e-4)


def test_continue_ends_continues_a_straight_line() -> None:
    """The odd reflection about the fitted end value continues a line as itself, on either axis;
    noise around a line continues as the line minus its mirrored noise."""
    u = np.arange(-6, 36, dtype=np.float64)
    line = np.stack([3 + 0.5 * u, -2 * u], axis=1)
    a = line[6:-6]
    np.testing.assert_allclose(spectral.continue_ends(a, 6), line, atol=1e-9)
    np.testing.assert_allclose(spectral.continue_ends(a.T, 6, axis=1), line.T, atol=1e-9)
    noise = np.random.default_rng(0).standard_normal(30) * 1e-3
    e = spectral.continue_ends(a[:, 0] + noise, 4)
    np.testing.assert_allclose(e[:4], line[2:6, 0] - noise[4:0:-1], atol=5e-3)
    assert spectral.continue_ends(a[:1], 3).shape == (7, 2)  # one sample: repeated


def test_run_traces_averages_two_borders_at_the_ends() -> None:
    """Rows more than halo from an end are those of the mirrored border alone; the first and last
    halo rows are the mean of the mirrored border's and the continued border's results, whatever
    the windows; a recording shorter than three halos too."""
    halo = 5
    net = per_channel_filter(halo, 8)
    for t in (1000, 12):
        coef = np.random.default_rng(t).standard_normal((t, 6)).astype(np.float32) * [50, 9, 2, 1, 1, 1]
        scale = np.maximum(coef.std(axis=0), 1.0)
        args = (net, scale, 8, halo, 10**6, None, False, None)
        mirror = spectral._run_traces(coef, *args)
        cont = spectral._run_traces(coef, *args, pad=spectral.continue_ends)
        got = spectral.run_traces(net, coef, scale, 8, halo, window=10**6)
        np.testing.assert_allclose(got[halo:-halo], mirror[halo:-halo], atol=1e-5)
        np.testing.assert_allclose(got[:halo], (mirror[:halo] + cont[:halo]) / 2, atol=1e-4)
        np.testing.assert_allclose(got[-halo:], (mirror[-halo:] + cont[-halo:]) / 2, atol=1e-4)
        assert np.abs(got[:halo] - mirror[:halo]).max() > 1e-3  # the second border changes them
        for window in (4 * halo + 1, 37):
            np.testing.assert_allclose(spectral.run_traces(net, coef, scale, 8, halo, window=window), got, atol=1e-4)


def test_noise_only_traces_are_told_from_signal() -> None:
    rng = np.random.default_rng(3)
    n = 6000
    noise = rng.standard_normal((n, 5))
    slow = np.convolve(rng.standard_normal(n + 400), np.ones(200) / np.sqrt(200), "same")[200:-200]
    coef = noise.copy()
    coef[:, 1] += 0.4 * slow / slow.std()  # slow signal well below the noise
    coef[:, 2] += 2.0 * np.sign(np.sin(np.arange(n) * 2.2))  # fast signal, twice the noise
    ar = np.empty(n)  # noise correlated in time as in training (AR(1), 0.3)
    ar[0] = noise[0, 3]
    for i in range(1, n):
        ar[i] = 0.3 * ar[i - 1] + np.sqrt(1 - 0.09) * noise[i, 3]
    coef[:, 3] = ar
    np.testing.assert_array_equal(spectral.holds_signal(coef, 152), [False, True, True, False, False])


def test_projection_marks_the_noise_only_traces() -> None:
    x, clean, _ = recording(t=4000, noise=1.0)
    p = spectral.project(x)
    assert p.signal is not None
    assert p.signal[0] and 2 <= p.signal.sum() <= 6 and not p.signal[-6:].any()
    # dropping the noise-only traces loses no signal: the projection with each at its time mean is closer
    assert p.coef_mean is not None
    kept = np.where(p.signal[None, :], p.coef, p.coef_mean[None, :])
    err_kept = np.mean((spectral.reconstruct(p, kept, np.float64) - clean) ** 2)
    err_all = np.mean((spectral.reconstruct(p, p.coef, np.float64) - clean) ** 2)
    assert err_kept < err_all
    short = spectral.project(x[: spectral.SIGNAL_TEST_ROWS - 1])
    assert short.signal is not None and short.signal.all()


def test_sparse_rotation_gathers_a_transient_into_one_trace() -> None:
    """A transient (sudden rises) spread over three principal traces ends up in one of them; the
    slow signal and the noise-only trace do not pull it apart, and the mix is orthogonal."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(4)
    n = 6000
    spikes = np.zeros(n)
    spikes[rng.choice(n, 40, replace=False)] = 8.0
    transient = lfilter([1.0], [1.0, -0.95], spikes)  # rise in one sample, slow decay
    slow = np.stack([np.convolve(rng.standard_normal(n + 400), np.ones(200) / 4, "same")[200:-200] for _ in range(2)])
    u = np.array([1.0, 1.0, 1.0, 0.0]) / np.sqrt(3.0)
    v = np.array([[1.0, -1.0, 0.0, 0.0], [1.0, 1.0, -2.0, 0.0]]) / np.sqrt([[2.0], [6.0]])
    coef = transient[:, None] * u + slow.T @ v + rng.standard_normal((n, 4))
    signal = np.array([True, True, True, False])
    r = spectral.sparse_rotation(coef, signal)
    np.testing.assert_allclose(r @ r.T, np.eye(4), atol=1e-12)
    np.testing.assert_array_equal(r[3], [0, 0, 0, 1])
    assert np.max(np.abs(u @ r)) > 0.99  # one trace carries the transient's direction
    assert np.max(np.abs(u)) < 0.6  # which the principal traces spread over three
    np.testing.assert_array_equal(spectral.sparse_rotation(coef, np.array([True, False, False, False])), np.eye(4))
    np.testing.assert_array_equal(spectral.sparse_rotation(np.ones((50, 4)), signal), np.eye(4))  # nothing moves
    dense = coef.copy()
    dense[:, 1] += 5.0 * rng.standard_normal(n)  # changes faster than its noise, everywhere
    r = spectral.sparse_rotation(dense, signal)
    np.testing.assert_array_equal(r[1], [0, 1, 0, 0])
    assert np.max(np.abs(r[[0, 2]][:, [0, 2]] - np.eye(2))) > 0.1  # the other two are still mixed


def test_changes_sparsely_finds_the_traces_that_carry_rises() -> None:
    """Rare rises make a trace's differences heavy-tailed; white noise, slow signal and dense fast
    changes do not; only candidates count; a recording too short to tell gives none."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(6)
    n = 3000
    spikes = np.zeros(n)
    spikes[rng.choice(n, 30, replace=False)] = 6.0
    transient = lfilter([1.0], [1.0, -0.95], spikes)
    slow = np.convolve(rng.standard_normal(n + 400), np.ones(200) / 4, "same")[200:-200]
    coef = rng.standard_normal((n, 4))
    coef[:, 0] += transient
    coef[:, 1] += slow
    coef[:, 2] += 3.0 * rng.standard_normal(n)  # dense fast changes
    everything = np.ones(4, bool)
    np.testing.assert_array_equal(spectral.changes_sparsely(coef, everything), [True, False, False, False])
    np.testing.assert_array_equal(spectral.changes_sparsely(coef, ~everything), [False] * 4)
    np.testing.assert_array_equal(spectral.changes_sparsely(coef, np.array([False, True, True, True])), [False] * 4)
    assert not spectral.changes_sparsely(coef[: spectral.SIGNAL_TEST_ROWS - 1], everything).any()


def test_onset_rows_mark_large_changes_and_depend_on_their_reach_only() -> None:
    """The rows around a step (within the width, the change measured over the span) are marked,
    and few others on a noisy trace (the noise's own rare large changes); a row of a longer trace
    is marked as it is there whenever the trace reaches ``ONSET_REACH`` rows past it on both
    sides."""
    rng = np.random.default_rng(2)
    n = 2000
    y = 0.1 * rng.standard_normal(n)
    y[1000:] += 5.0
    rows = spectral.onset_rows(y)
    h = spectral.ONSET_SPAN // 2
    near = np.zeros(n, bool)
    near[1000 - h - spectral.ONSET_WIDTH : 1000 + h + spectral.ONSET_WIDTH] = True
    assert rows[near].all()
    assert rows[~near].mean() < 0.05
    assert not spectral.onset_rows(y[1000 - 7 : 1000 + 8]).any()  # too short to measure the spread
    z = rng.standard_normal(n).cumsum() * 0.05 + 0.3 * rng.standard_normal(n)
    z[rng.choice(n, 15, replace=False)] += 4.0
    whole = spectral.onset_rows(z)
    assert 0 < whole.mean() < 0.3
    a, b = 700, 1300
    part = spectral.onset_rows(z[a - spectral.ONSET_REACH : b + spectral.ONSET_REACH])
    np.testing.assert_array_equal(part[spectral.ONSET_REACH : -spectral.ONSET_REACH], whole[a:b])


def test_keep_onsets_takes_the_weak_run_on_its_onset_rows_only() -> None:
    rng = np.random.default_rng(3)
    n = 600
    weak = 0.1 * rng.standard_normal((n, 3)).astype(np.float32)
    weak[300:, :2] += 5.0
    full = weak + 1.0
    traces = np.array([True, False, False])
    out = spectral.keep_onsets(full, weak, traces)
    rows = spectral.onset_rows(weak[:, 0])
    assert 0 < rows.sum() < 20
    np.testing.assert_array_equal(out[rows, 0], weak[rows, 0])
    np.testing.assert_array_equal(out[~rows, 0], full[~rows, 0])
    np.testing.assert_array_equal(out[:, 1:], full[:, 1:])  # not among the traces: the full run
    assert out.dtype == np.float32 and not np.shares_memory(out, full)


def test_diff_variance_is_the_white_noise_variance_and_shared_by_both_tests() -> None:
    """A white trace's differences give its variance; sparse steps barely move it; passing it
    precomputed changes neither the signal test nor the mix."""
    rng = np.random.default_rng(5)
    n = 8000
    coef = rng.standard_normal((n, 4)) * np.array([1.0, 2.0, 1.0, 1.0])
    coef[::400, 2] += 30.0  # sparse steps
    coef[:, 3] += np.cumsum(rng.standard_normal(n)) * 0.5  # a random walk: dense, slow
    v = spectral.diff_variance(coef)
    np.testing.assert_allclose(v[:3], [1.0, 4.0, 1.0], rtol=0.06)
    np.testing.assert_allclose(v[3], 1.0 + 0.25 / 2.0, rtol=0.06)
    sig = spectral.holds_signal(coef, 152)
    np.testing.assert_array_equal(spectral.holds_signal(coef, 152, v), sig)
    np.testing.assert_array_equal(spectral.sparse_rotation(coef, sig, v), spectral.sparse_rotation(coef, sig))


def test_rotation_leaves_the_projection_unchanged() -> None:
    """Mixing the signal traces changes what the network sees, not what the projection keeps."""
    from dataclasses import replace

    x, _, _ = recording(t=4000, noise=1.0)
    p = spectral.project(x)
    assert p.rotation is not None and p.signal is not None and p.signal.sum() >= 2
    assert np.max(np.abs(p.rotation - np.eye(p.components))) > 1e-3  # the signal traces are mixed
    plain = replace(p, rotation=None)
    np.testing.assert_allclose(
        spectral.reconstruct(p, p.coef, np.float64),
        spectral.reconstruct(plain, spectral.coefficients(plain, x), np.float64),
        atol=1e-6 * np.abs(x).max(),
    )
    np.testing.assert_allclose(p.scale, np.maximum(p.coef.std(axis=0), 1.0), rtol=0.05)


def test_network_input_divides_by_scale() -> None:
    coef = np.array([[10.0, 1.0], [-20.0, 2.0], [30.0, 0.5]], np.float32)
    scale = np.array([20.0, 1.0])
    x = spectral.network_input(coef, scale, 3)
    assert x.shape == (1, 6, 3)
    np.testing.assert_allclose(x[0, 0], [0.5, -1.0, 1.5])
    np.testing.assert_allclose(x[0, 1], coef[:, 1])
    np.testing.assert_allclose(x[0, 2], 0.0)
    np.testing.assert_allclose(x[0, 3:, 0], [0.05, 1.0, 1.0])


def test_detection_rule() -> None:
    assert spectral.looks_spectral((3000, 152))
    assert spectral.looks_spectral((304, 152))
    assert not spectral.looks_spectral((512, 512))
    assert not spectral.looks_spectral((3000, 8))
    assert not spectral.looks_spectral((10, 3000, 152))
    # known to be time x wavelength: however short, from 2 samples, bins in range
    assert spectral.takes_recording((2, 152)) and spectral.takes_recording((200, 1024))
    assert not spectral.takes_recording((1, 152)) and not spectral.takes_recording((2000, 1025))
    assert not spectral.takes_recording((3000, 8)) and not spectral.takes_recording((10, 300, 152))


# -- the shipped spectral model through Denoiser -------------------------------------------


@pytest.fixture(scope="module")
def den() -> Denoiser:
    return Denoiser(device="cpu", options=DenoiserOptions(threads=1))


@pytest.fixture(scope="module")
def generator():
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    return lambda rng, t, w, ns: make_instance(rng, t, w, ns, signal=WIDE)


def test_default_takes_the_right_path_per_input(den: Denoiser) -> None:
    assert den.kind == "spectral" and den.name == "spectral"
    x, _, _ = recording(t=600, w=76)
    assert den.run(x).shape == x.shape
    frame = np.random.default_rng(0).normal(100, 5, (64, 64))
    image = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1))
    np.testing.assert_allclose(den.run(frame), image.run(frame), rtol=1e-6, atol=1e-4)
    stack = np.stack([frame, frame])
    np.testing.assert_allclose(den.run(stack)[1], image.run(frame), rtol=1e-6, atol=1e-4)
    assert [p.shape for p in den.stream([frame, frame])] == [(64, 64)] * 2


def test_default_denoises_only_the_signal_traces(den: Denoiser) -> None:
    """The shipped network denoises each trace on its own, so the default packs the signal
    traces into its channels: the values of whole traces (each around its slow baseline, which
    is added back), the noise-only traces dropped."""
    assert den.model_card.shared is True
    x, clean, _ = recording(t=3000, noise=0.8)
    p = spectral.project(x)
    assert p.signal is not None and 0 < p.signal.sum() < p.components
    assert p.baseline_samples == spectral.BASELINE_SAMPLES and p.spread is not None
    base = spectral.baseline(p.coef, p.baseline_samples)
    whole = spectral.run_traces(den._net, (p.coef - base).astype(np.float32), p.spread, den.channels, den.halo)
    whole = whole + base
    expected = spectral.reconstruct(p, np.where(p.signal[None, :], whole, p.coef_mean[None, :]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        got = den.run(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    assert np.mean((got - clean) ** 2) < np.mean((spectral.reconstruct(p, whole) - clean) ** 2)


def test_the_shared_flag_is_checked(den: Denoiser) -> None:
    """Packing traces is only right for a network that denoises each on its own: a card whose
    ``shared`` is not a boolean is refused, not read as true."""
    from fluorodn.registry import ModelCard

    with pytest.raises(ModelError, match="'shared' must be true or false"):
        ModelCard.from_metadata({**den.metadata, "shared": "no"}, "x.onnx")
    assert ModelCard.from_metadata({k: v for k, v in den.metadata.items() if k != "shared"}, "x.onnx").shared is False


def test_traces_wider_than_training_are_kept_as_they_are(den: Denoiser) -> None:
    """A signal trace spreading wider than the card's ``max_spread`` (the widest training gave,
    with a margin) is not given to the network: it comes back as recorded; the others are
    denoised as before. A card with a non-positive ``max_spread`` is refused."""
    import dataclasses

    from fluorodn.registry import ModelCard

    assert 100.0 < den.model_card.max_spread < 1e4
    x, _, _ = recording(t=3000, noise=0.8)
    p = spectral.project(x)
    assert p.signal is not None and p.coef_mean is not None and p.spread is not None
    # the spread around each trace's baseline is what the network sees on a long recording
    limit = float(np.sort(p.spread[p.signal])[-2]) * 1.01  # only the widest signal trace is beyond
    wide = p.signal & (p.spread > limit)
    assert wide.sum() == 1
    base = spectral.baseline(p.coef, p.baseline_samples)
    whole = spectral.run_traces(den._net, (p.coef - base).astype(np.float32), p.spread, den.channels, den.halo)
    traces = np.where(p.signal[None, :], whole + base, p.coef_mean[None, :])
    traces[:, wide] = p.coef[:, wide]
    narrow = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    narrow.model_card = dataclasses.replace(den.model_card, max_spread=limit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        got, plain = narrow.run(x), den.run(x)
    np.testing.assert_allclose(got, spectral.reconstruct(p, traces), rtol=1e-5, atol=1e-3)
    assert np.max(np.abs(got - plain)) > 1e-2
    for bad in (0, -1.0, "9", True):
        with pytest.raises(ModelError, match="'max_spread' must be a positive number"):
            ModelCard.from_metadata({**den.metadata, "max_spread": bad}, "x.onnx")


def test_declared_kinds(den: Denoiser) -> None:
    frame = np.random.default_rng(0).normal(100, 5, (64, 64))
    img = Denoiser(device="cpu", kind="image", options=DenoiserOptions(threads=1))
    assert img.kind == "image" and img.name == "low"
    declared = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    with warnings.catch_warnings():  # declared: a stack of recordings, each on its own
        warnings.simplefilter("ignore", OutOfDomainWarning)
        stack = declared.run(np.stack([frame, frame[::-1]]))
        np.testing.assert_array_equal(stack[1], declared.run(frame[::-1]))
    with pytest.raises(ModelError, match="image model"):
        Denoiser("low", device="cpu", kind="spectral")
    with pytest.raises(ValueError, match="kind must be"):
        Denoiser(kind="hyperspectral")


def test_short_recordings_take_the_spectral_path(den: Denoiser, generator) -> None:
    """A recording of 40 s (200 x 152) does not look spectral (it is not twice as long as wide), but
    its rows are one spectrum, so the default gives it the spectral path as an array too, without a
    warning: the result of a declared spectral model, nearer the truth than the image model's and
    never left worse than it came. Known to be time x wavelength (``recording=True``, as the command
    line says for a spectrometer's file and ``unmix`` for what it denoises) it gets the same."""
    image = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1))
    declared = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    rng = np.random.default_rng(7)
    ratios = []
    for t, ns in ((200, 0.15), (200, 0.3), (200, 0.5), (200, 0.8), (200, 1.1), (120, 0.2), (80, 0.4)):
        inst = generator(rng, t, 152, ns)
        x = inst.noisy.astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("error", OutOfDomainWarning)
            looked = den.run(x)
            (streamed,) = den.stream([x])
            known = den.run(x, recording=True)
        np.testing.assert_array_equal(looked, declared.run(x))
        np.testing.assert_array_equal(streamed, looked)
        np.testing.assert_array_equal(known, looked)
        assert den._runs(x.shape, first=x) is den and den._runs(x.shape).name == "low"
        err = np.mean((looked - inst.clean) ** 2)
        assert err < 0.8 * np.mean((x - inst.clean) ** 2)  # denoised, never left worse than it came
        ratios.append(np.sqrt(err / np.mean((image.run(x) - inst.clean) ** 2)))
    # the spectral path's error over the image model's: below on the whole
    assert np.exp(np.mean(np.log(ratios))) < 0.9, np.round(ratios, 2)
    # a stack of short recordings: each on its own, as one call on each gives it
    stack = np.stack([x, x[::-1]])
    np.testing.assert_array_equal(den.run(stack)[1], declared.run(x[::-1]))
    # a declared image model keeps the image path
    img = Denoiser(device="cpu", kind="image", options=DenoiserOptions(threads=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        np.testing.assert_array_equal(img.run(x, recording=True), img.run(x))
        np.testing.assert_array_equal(img.run(x), image.run(x))


def test_a_short_recording_that_starts_dark_takes_the_spectral_path(den: Denoiser, generator) -> None:
    """A short recording whose first (and last) samples were taken with the light off: the dark rows
    are set aside when its rows are read, so it takes the spectral path as a declared recording does,
    without a warning, and its lit samples come out nearer the truth than they went in."""
    declared = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    rng = np.random.default_rng(11)
    for t, ns, first, last in ((200, 0.3, 6, 0), (200, 0.8, 10, 3), (120, 0.5, 4, 0)):
        inst = generator(rng, t, 152, ns)
        offset = inst.truth.clean - inst.truth.photons  # the detector's level without light
        x = inst.noisy.astype(np.float32)
        dark = np.r_[0:first, t - last : t]
        x[dark] = offset[dark] + rng.normal(0.0, 5.0, (len(dark), 152))
        assert spectral.one_spectrum(x) < spectral.ONE_SPECTRUM  # read with its dark rows, it is not
        np.testing.assert_array_equal(np.flatnonzero(spectral.lit_mask(x)), np.arange(first, t - last))
        with warnings.catch_warnings():
            warnings.simplefilter("error", OutOfDomainWarning)
            with pytest.warns(LightOffNotice, match=f"{first + last} of {t} samples"):
                y = den.run(x)
            with pytest.warns(LightOffNotice):
                np.testing.assert_array_equal(y, declared.run(x))
        lit = slice(first, t - last)
        err = np.mean((y[lit] - inst.clean[lit]) ** 2)
        assert err < 0.5 * np.mean((x[lit] - inst.clean[lit]) ** 2)
    # without dark rows, every row is lit, however the signal moves
    x = generator(rng, 200, 152, 0.4).noisy
    np.testing.assert_array_equal(np.flatnonzero(spectral.lit_mask(x)), np.arange(200))
    np.testing.assert_array_equal(
        np.flatnonzero(spectral.lit_mask(x * np.linspace(1.0, 0.6, 200)[:, None])), np.arange(200)
    )


def _ramp_frame(shape: tuple[int, int], cells: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noisy float32, clean, cell mask): a frame lit by a ramp from 1 to 11 across its columns, so that
    its rows read as one spectrum, with ``cells`` Gaussian cells (1.5-4 px wide, peak 2) and noise 0.3."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[:h, :w]
    ramp = 1.0 + 10.0 * x / w
    clean = ramp.copy()
    for cy, cx, s in zip(rng.uniform(0, h, cells), rng.uniform(0, w, cells), rng.uniform(1.5, 4.0, cells), strict=True):
        clean += 2.0 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
    return (clean + rng.normal(0.0, 0.3, shape)).astype(np.float32), clean, clean - ramp > 1.0


def test_a_frame_whose_rows_read_as_one_spectrum_is_told_from_a_recording_by_its_cells(
    den: Denoiser, generator
) -> None:
    """A square frame lit by a ramp reads as one spectrum row by row, but its cells lie outside its
    leading spectral components: the spectral path removed them with the noise (cells 1.4x the
    input's error, unwarned) where the image model keeps them. What the components leave out reads as
    local detail (:func:`fluorodn.spectral.local_structure`), so the default gives such a frame the
    image path; a tall frame, spectral by its shape, keeps the spectral path and is told. Recordings,
    short or long, at noise 0.1-1.2 read far below the limit."""
    declared = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    noisy, clean, cells = _ramp_frame((256, 256), 20, seed=3)
    assert spectral.rows_are_spectra(noisy)
    assert spectral.local_structure([noisy], spectral.project(noisy)) > spectral.LOCAL_LIMIT
    assert not spectral.short_recording(noisy) and den._runs(noisy.shape, first=noisy) is not den

    def cells_error(y: np.ndarray) -> float:
        return float(np.sqrt(np.mean((y - clean)[cells] ** 2) / np.mean((noisy - clean)[cells] ** 2)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cells_error(declared.run(noisy)) > 1.2
    assert cells_error(den.run(noisy)) < 1.0
    # spectral by its shape: the spectral path, told that it removed local detail
    tall, clean, cells = _ramp_frame((1024, 256), 80, seed=4)
    assert den._runs(tall.shape, first=tall) is den
    with pytest.warns(OutOfDomainWarning, match="holds local detail, not noise"):
        y = den.run(tall)
    assert np.sqrt(np.mean((y - clean)[cells] ** 2)) > np.sqrt(np.mean((tall - clean)[cells] ** 2))
    # recordings: nothing local left out of their components
    rng = np.random.default_rng(5)
    for t, ns in ((150, 0.1), (280, 0.4), (280, 1.2), (3000, 0.2), (3000, 0.8)):
        x = generator(rng, t, 152, ns).noisy
        assert spectral.local_structure([x], spectral.project(x)) < spectral.LOCAL_LIMIT - 0.4
    # short, narrow recordings are not read: from under a hundred rows of 24-40 bins, noise alone read
    # over the limit now and then (ad hoc, 4 of 593 draws, which then went to the image model)
    for seed, t, ns in ((182, 73, 0.22), (285, 69, 0.5)):
        x = generator(np.random.default_rng(seed), t, 40, ns).noisy
        assert spectral.short_recording(x) and spectral.local_structure([x], spectral.project(x)) == 0.0


def test_samples_with_the_light_off_pass_through(den: Denoiser, generator) -> None:
    """A recording whose light was off for its first and last samples and for a few in between:
    those rows are returned as recorded and the lit ones denoised as one recording, in order, in
    one call, a stream and through dask; projected with the rest, the dark rows would be smeared
    into the lit samples next to them (``python -m benchmarks dark``)."""
    import dask.array as da

    from fluorodn.dask import denoise as dask_denoise

    rng = np.random.default_rng(12)
    inst = hemodynamics_draws(0.0)(rng, 3000, 152, 0.3)  # no fast hemodynamics: no warning of theirs
    offset = inst.truth.clean - inst.truth.photons
    x = inst.noisy.astype(np.float32)
    dark = np.r_[0:3, 1400:1405, 2998:3000]
    x[dark] = offset[dark] + rng.normal(0.0, 5.0, (len(dark), 152))
    lit = np.ones(3000, bool)
    lit[dark] = False
    np.testing.assert_array_equal(spectral.lit_mask(x), lit)
    assert spectral.runs(lit) == [
        (0, 3, False),
        (3, 1400, True),
        (1400, 1405, False),
        (1405, 2998, True),
        (2998, 3000, False),
    ]
    notice = (
        "10 of 3000 samples read as taken with the light off (the detector's dark level, "
        "at sample 0-2, 1400-1404, 2998-2999, counting from 0) were returned as recorded"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        with pytest.warns(LightOffNotice, match=re.escape(notice)) as said:
            y = den.run(x)
    assert len(said) == 1 and said[0].filename == __file__  # once, pointing at the call
    np.testing.assert_array_equal(y[dark], x[dark])
    np.testing.assert_array_equal(y[lit], den.run(x[lit]))
    with pytest.warns(LightOffNotice, match=re.escape(notice)):
        (streamed,) = den.stream([x])
    np.testing.assert_array_equal(streamed, y)
    with pytest.warns(LightOffNotice, match=re.escape(notice)):
        lazy = dask_denoise(da.from_array(x, chunks=(700, 152)), device="cpu", options=DenoiserOptions(threads=1))
    np.testing.assert_allclose(lazy.compute(scheduler="threads"), y, rtol=1e-5, atol=1e-3)
    # a stack: the notice names the page, in one call and through dask
    stack = np.stack([inst.noisy.astype(np.float32), x])
    with pytest.warns(LightOffNotice, match=r"^page index 1: 10 of 3000") as said:
        stacked = den.run(stack, recording=True)
    assert len(said) == 1
    np.testing.assert_array_equal(stacked[1], y)
    with pytest.warns(LightOffNotice, match=r"^page index 1: 10 of 3000") as said:
        lazy = dask_denoise(da.from_array(stack, chunks=(1, 3000, 152)), device="cpu", recording=True)
    assert len(said) == 1
    np.testing.assert_allclose(lazy.compute(scheduler="threads"), stacked, rtol=1e-5, atol=1e-3)
    for near in (np.s_[3:23], np.r_[1380:1400, 1405:1425]):  # the lit samples next to the dark ones
        err = np.sqrt(np.mean((y[near] - inst.clean[near]) ** 2) / np.mean((x[near] - inst.clean[near]) ** 2))
        assert err < 0.5
    # only the end dark: the lit span is denoised as the recording it is
    x_ends = inst.noisy.astype(np.float32)
    x_ends[[0, 1, 2, 2998, 2999]] = x[[0, 1, 2, 2998, 2999]]
    with pytest.warns(LightOffNotice, match="5 of 3000 samples"):
        ends = den.run(x_ends)
    np.testing.assert_array_equal(ends[3:2998], den.run(x_ends[3:2998]))
    # a recording without dark samples: every row lit, however it dims, and no notice
    with warnings.catch_warnings():
        warnings.simplefilter("error", LightOffNotice)
        den.run(inst.noisy)
    assert spectral.lit_mask(inst.noisy).all()
    assert spectral.lit_mask(inst.noisy * np.linspace(1.0, 0.5, 3000)[:, None]).all()
    assert spectral.runs(np.zeros(0, bool)) == []


def test_dark_rows_are_told_from_a_recording_that_dims() -> None:
    """Dark rows sit at the detector's level, apart from every lit row however far the light dims:
    found exactly at the start, the end and in between, where the lit rows' means fall to half of
    the way down to the dark level and a band around the midpoint is no longer empty; a lit
    recording that dims continuously, even to a tenth, has none."""
    rng = np.random.default_rng(21)
    t = 4000
    level = 100.0 + 1000.0 * np.linspace(1.0, 0.3, t)  # dark level 100, the light dims to 30 %
    means = level + rng.normal(0.0, 2.0, t)
    dark = np.zeros(t, bool)
    dark[[0, 1, 2, 3999]] = True
    dark[1868:1876] = True
    means[dark] = 100.0 + rng.normal(0.0, 0.5, dark.sum())
    np.testing.assert_array_equal(spectral.dark_rows(means), dark)
    z = (means - means.min()) / (np.median(means) - means.min())
    assert np.any(np.abs(z[~dark] - 0.5) < 0.05)  # lit rows cross the midpoint
    # a stretch longer than DARK_LONGEST (the excitation turned down for a while reads so too) is
    # projected with the rest; the short ones are still set aside
    long = means.copy()
    long[3000 : 3001 + spectral.DARK_LONGEST] = 100.0 + rng.normal(0.0, 0.5, spectral.DARK_LONGEST + 1)
    np.testing.assert_array_equal(spectral.dark_rows(long), dark)
    longer = dark.copy()
    longer[3000 : 3001 + spectral.DARK_LONGEST] = True
    np.testing.assert_array_equal(spectral.dark_rows(long, longest=None), longer)  # any length
    # exactly half the rows dark: the median lies between the two halves, and the dark half is found
    half = np.r_[100.0 + rng.normal(0.0, 0.5, 600), 1100.0 + rng.normal(0.0, 2.0, 600)]
    np.testing.assert_array_equal(spectral.dark_rows(half, longest=None), np.arange(1200) < 600)
    assert not spectral.dark_rows(half).any()  # a stretch of 600 is longer than DARK_LONGEST
    dims = 100.0 + 1000.0 * np.geomspace(1.0, 0.1, t) + rng.normal(0.0, 2.0, t)
    assert not spectral.dark_rows(dims).any()
    assert not spectral.dark_rows(np.r_[means[:10], np.nan]).any()  # a non-finite mean: none
    assert not spectral.dark_rows(means[:2]).any()


def test_more_than_half_dark_is_found_where_those_rows_hold_no_spectrum(den: Denoiser) -> None:
    """Light off two samples of three, or every other sample and for a while at the start: more
    than half of the rows are dark, found exactly (below the 0.9 quantile, their mean flat), set
    aside and named, and the lit samples denoised as one recording. Rows that are a majority but
    keep the spectrum's shape are not dark: dimmer rows between bright flashes, between light
    leaking in, or the excitation turned down most of the time."""
    draw = hemodynamics_draws(0.0)
    rng = np.random.default_rng(31)
    for t, pattern in ((2400, "two of three"), (3000, "every other and first 300")):
        inst = draw(rng, t, 152, 0.4)
        level = inst.truth.clean - inst.truth.photons  # the detector's level without light
        x = inst.noisy.astype(np.float32)
        dark = np.arange(t) % 3 != 0 if pattern == "two of three" else (np.arange(t) % 2 == 1) | (np.arange(t) < 300)
        x[dark] = level[dark] + rng.normal(0.0, 5.0, (int(dark.sum()), 152))
        assert dark.mean() > 0.5 and not spectral.dark_rows(x.mean(axis=1)).all()
        np.testing.assert_array_equal(spectral.lit_mask(x), ~dark)
        with warnings.catch_warnings():
            warnings.simplefilter("error", OutOfDomainWarning)
            with pytest.warns(LightOffNotice, match=f"{int(dark.sum())} of {t} samples"):
                y = den.run(x)
        np.testing.assert_array_equal(y[dark], x[dark])
        np.testing.assert_array_equal(y[~dark], den.run(x[~dark]))
        lit = ~dark
        assert np.mean((y[lit] - inst.clean[lit]) ** 2) < 0.1 * np.mean((x[lit] - inst.clean[lit]) ** 2)
        # the same rows keeping the spectrum (dimmed to 0.3, or the majority left at full light
        # with a third brighter, or a narrow line added to the lit third): none is dark
        dim = inst.noisy.astype(np.float64)
        dim[dark] = level[dark] + 0.3 * (dim[dark] - level[dark])
        flash = inst.noisy.astype(np.float64)
        flash[lit] = level[lit] + 1.6 * (flash[lit] - level[lit])
        leak = inst.noisy.astype(np.float64)
        leak[lit] += 3.0 * leak.mean() * np.exp(-0.5 * ((np.arange(152) - 20) / 2.0) ** 2)
        for kept in (dim, flash, leak):
            assert spectral.lit_mask(kept).all()
    # the light turned down to 30 % next to rows with it off (every other sample, or a stretch
    # before): the dark rows are found, the dimmed ones are not taken for dark
    t = 2000
    spectrum = np.exp(-(((np.linspace(0.0, 1.0, 128) - 0.4) / 0.1) ** 2))
    for off in (np.arange(t) % 2 == 0, np.arange(t) < 300):
        light = np.where(off, 0.0, 1.0)
        dimmed = ~off & (np.arange(t) < 400)
        light[dimmed] = 0.3
        x = 1000.0 + 100.0 * light[:, None] * spectrum + rng.standard_normal((t, 128))
        np.testing.assert_array_equal(~spectral.lit_mask(x), off)
    # a faint recording (brightness over noise about 6) whose rows stand apart only by their noise:
    # none is taken for dark; a row with the light off among them is
    for seed in range(40):
        r = np.random.default_rng(seed)
        faint = 1000.0 + 6.0 * np.exp(-(((np.linspace(0.0, 1.0, 64) - 0.5) / 0.15) ** 2)) + r.standard_normal((50, 64))
        assert spectral.lit_mask(faint).all(), seed
        faint[20] = 1000.0 + r.standard_normal(64)
        np.testing.assert_array_equal(np.flatnonzero(~spectral.lit_mask(faint)), [20])


def test_light_off_is_read_alike_whatever_the_offset_scale_or_sign(den: Denoiser) -> None:
    """Dark rows are found from the rows' spectrum, not from their distance to 0: with an offset
    added, a scale or the sign flipped, the same rows are set aside and named, and run(k x + c) =
    k run(x) + c holds; a dip of the light to half (the spectrum kept), in raw counts or with each
    bin's baseline subtracted (values around 0), is denoised, not taken for light off."""
    rng = np.random.default_rng(41)
    inst = hemodynamics_draws(0.0)(rng, 1200, 152, 0.4)
    level = inst.truth.clean - inst.truth.photons
    x = inst.noisy.astype(np.float64)
    dark = np.r_[0:10, 600:605]
    x[dark] = level[dark] + rng.normal(0.0, 5.0, (len(dark), 152))
    lit = np.ones(1200, bool)
    lit[dark] = False
    with pytest.warns(LightOffNotice, match="15 of 1200 samples"):
        y = den.run(x)
    for k, c in ((1.0, 1e4), (-1.0, 0.0), (3.0, -500.0), (-0.5, 2e3)):
        np.testing.assert_array_equal(spectral.lit_mask(k * x + c), lit)
        with pytest.warns(LightOffNotice, match="15 of 1200 samples"):
            moved = den.run(k * x + c)
        np.testing.assert_allclose((moved - c) / k, y, atol=1e-3 * float(np.std(x)))
    da = pytest.importorskip("dask.array")
    from fluorodn.dask import denoise as dask_denoise

    with pytest.warns(LightOffNotice, match="15 of 1200 samples"):  # through dask, from the row means and spectra
        lazy = dask_denoise(da.from_array(x + 1e4, chunks=(300, 152)), device="cpu")
    np.testing.assert_allclose(lazy.compute(scheduler="threads") - 1e4, y, atol=1e-3 * float(np.std(x)))
    dip = inst.noisy.astype(np.float64)
    dip[500:600] = level[500:600] + 0.5 * (dip[500:600] - level[500:600])
    baseline = dip - np.median(dip, axis=0)
    for page in (dip, baseline):
        assert spectral.lit_mask(page).all()
        with warnings.catch_warnings():
            warnings.simplefilter("error", LightOffNotice)
            out = den.run(page)
        truth = (level + 0.5 * (inst.clean - level))[500:600] - (dip - page)[500:600]  # the dip, as given
        assert np.mean((out[500:600] - truth) ** 2) < 0.5 * np.mean((page[500:600] - truth) ** 2)


def test_dask_gives_a_short_recording_the_spectral_path(generator) -> None:
    """Through fluorodn.dask, a short recording (200 x 152) takes the spectral path as one call gives
    it, without a warning, a stack of two too; an image model asked for by name keeps it an image,
    and a frame stays a frame."""
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    x = generator(np.random.default_rng(5), 200, 152, 0.4).noisy.astype(np.float32)
    one = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    known = one.run(x)
    for arr in (x, np.stack([x, x[::-1]])):
        chunks = (100, 152) if arr.ndim == 2 else (1, 200, 152)
        for rec in (False, True):
            lazy, built = _domain_messages(
                lambda a, r=rec: fdask.denoise(a, recording=r), da.from_array(arr, chunks=chunks)
            )
            assert built == []
            got = lazy.compute(scheduler="threads")
            np.testing.assert_allclose(got if arr.ndim == 2 else got[0], known, rtol=1e-5, atol=1e-2)
    named = fdask.denoise(da.from_array(x, chunks=(100, 152)), "low").compute(scheduler="threads")
    np.testing.assert_allclose(named, Denoiser("low", device="cpu").run(x), rtol=1e-5, atol=1e-2)
    frame = np.random.default_rng(0).normal(100, 5, (256, 256))
    lazy, built = _domain_messages(fdask.denoise, da.from_array(frame, chunks=128))
    assert built == []
    np.testing.assert_allclose(
        lazy.compute(scheduler="threads"), Denoiser("low", device="cpu").run(frame), rtol=1e-4, atol=1e-2
    )


def test_frames_are_not_one_spectrum(den: Denoiser) -> None:
    """The rows of a frame differ: no frame of a smooth structure on a ramp (the image models'
    test frame), a textured frame or noise is read as one spectrum, so the default gives them the
    image model, as a declared image model denoises them; a recording's rows are, at any noise."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(1)
    ramp = gaussian_filter(rng.standard_normal((256, 256)), 8) * 400 + 1000 + np.linspace(0, 300, 256)[None, :]
    frames = [ramp + 0.3 * np.sqrt(ramp) * rng.standard_normal(ramp.shape), rng.normal(100, 5, (200, 152))]
    frames.append(gaussian_filter(rng.standard_normal((300, 200)), 2) * 50 + 500)
    for frame in frames:
        assert spectral.one_spectrum(frame) < spectral.ONE_SPECTRUM
        assert den._runs(frame.shape, first=frame).name == "low"
        np.testing.assert_array_equal(den.run(frame), Denoiser("low", device="cpu").run(frame))
    for noise in (0.3, 1.2):
        x, _, _ = recording(t=150, w=152, noise=noise)
        assert spectral.one_spectrum(x) > 0.995 and spectral.short_recording(x)
    assert not spectral.short_recording(recording(t=400, w=152)[0])  # it looks spectral already


def test_in_domain_recordings_do_not_warn_and_are_denoised(den: Denoiser, generator) -> None:
    rng = np.random.default_rng(123)
    for ns, w in ((0.2, 152), (0.8, 100), (1.1, 250)):
        inst = generator(rng, 2000, w, ns)
        with warnings.catch_warnings():
            warnings.simplefilter("error", OutOfDomainWarning)
            y = den.run(inst.noisy)
        err = np.sqrt(np.mean((y - inst.clean) ** 2))
        raw = np.sqrt(np.mean((inst.noisy - inst.clean) ** 2))
        assert err < 0.7 * raw, (ns, w, err / raw)


def test_fast_hemodynamics_warn_and_slow_ones_do_not(den: Denoiser) -> None:
    """Recordings of the widened generator with fast hemodynamics warn that events may be lost
    (all but at most one of six), as an EventDetectionWarning, not an out-of-domain one; the same
    draws without them warn of nothing."""
    from fluorodn import EventDetectionWarning

    fast, slow = hemodynamics_draws(1.0), hemodynamics_draws(0.0)
    warned = 0
    for seed, ns in enumerate((0.2, 0.4, 0.8, 0.2, 0.4, 0.8)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            den.run(fast(np.random.default_rng(seed), 3000, 152, ns).noisy)
        assert not [w for w in caught if issubclass(w.category, OutOfDomainWarning)]
        said = [str(w.message) for w in caught if issubclass(w.category, EventDetectionWarning)]
        warned += any("fast hemodynamics" in m for m in said)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            den.run(slow(np.random.default_rng(seed), 3000, 152, ns).noisy)
    assert warned >= 5


def test_fast_hemodynamics_are_dense_near_gaussian_changes() -> None:
    """A dense trace of near-gaussian changes is fast hemodynamics; a dense trace of many large
    transients is not, nor a trace that is not a candidate; a recording too short to tell has none."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(8)
    n = 3000
    spikes = np.zeros(n)
    spikes[rng.choice(n, 400, replace=False)] = rng.uniform(30.0, 80.0, 400)
    coef = rng.standard_normal((n, 3))
    coef[:, 0] += 3.0 * rng.standard_normal(n)  # fast hemodynamics: dense, gaussian
    coef[:, 1] += lfilter([1.0], [1.0, -0.95], spikes)  # many large transients: their decays are dense
    coef[:, 2] += 3.0 * rng.standard_normal(n)
    dense = spectral.diff_variance(coef) > spectral.DENSE_RATIO
    np.testing.assert_array_equal(dense, [True, True, True])
    candidates = np.array([True, True, False])
    np.testing.assert_array_equal(spectral.fast_hemodynamics(coef, candidates), [True, False, False])
    assert not spectral.fast_hemodynamics(coef[: spectral.SIGNAL_TEST_ROWS - 1], candidates).any()
    slow = np.sin(np.arange(n) / 30.0)[:, None] * 150.0 + rng.standard_normal((n, 1))  # large, slow
    assert spectral.diff_variance(slow)[0] > spectral.DENSE_RATIO
    assert not spectral.fast_hemodynamics(slow, np.array([True])).any()
    p = spectral.fit(recording(t=3000, noise=0.3)[0])
    assert p.fast is not None and not p.fast.any() and spectral.fast_hemodynamics_message(p) is None


def _events_trace(rng: np.random.Generator, n: int, count: int, size: float, rise: int = 1) -> np.ndarray:
    """A trace in noise units: white noise plus ``count`` transients of ``size`` rising over
    ``rise`` samples and decaying by 0.979 a sample."""
    from scipy.signal import lfilter

    steps = np.zeros(n)
    for t0 in rng.choice(np.arange(10, n - 10), count, replace=False):
        steps[t0 : t0 + rise] += size / rise
    return lfilter([1.0], [1.0, -0.979], steps) + rng.standard_normal(n)


def test_rises_count_each_transient_once_and_tell_the_weak_ones() -> None:
    """Strong transients are rises and none is weak; small, frequent ones are counted as about as
    many as reach the threshold, most of them weak; a transient rising over 3 samples is one rise;
    the sign of a trace does not matter, the sparse trace with the most rises is the one told, and
    without a sparse trace there is none."""
    rng = np.random.default_rng(3)
    n = 6000
    strong = _events_trace(rng, n, 100, 15.0)
    weak = _events_trace(rng, n, 300, 5.0)
    slow = _events_trace(rng, n, 100, 15.0, rise=3)
    # noise crosses the threshold both ways alike: its excess is about +- 10 here
    per_row, share = spectral.rises(strong[:, None], np.array([True]))
    assert per_row == pytest.approx(100 / n, rel=0.15) and share < 0.15
    per_row, share = spectral.rises(weak[:, None], np.array([True]))
    assert 0.6 * 300 / n < per_row < 300 / n and share > 0.7
    assert spectral.rises(-weak[:, None], np.array([True])) == (per_row, share)
    assert spectral.rises(slow[:, None], np.array([True]))[0] == pytest.approx(100 / n, rel=0.15)
    both = np.stack([strong, weak, rng.standard_normal(n)], axis=1)
    assert spectral.rises(both, np.array([True, True, False])) == (per_row, share)
    assert spectral.rises(both, np.array([False, False, False])) == (0.0, 0.0)


def test_small_frequent_events_caution_and_the_main_ones_do_not(den: Denoiser) -> None:
    """Small events (a third of the main recordings' size) five times as frequent as theirs warn
    that events may be lost, as an EventDetectionWarning naming the rises; the main recordings'
    events at the same noise warn of nothing."""
    from fluorodn import EventDetectionWarning

    small, main = small_events_draws(0.5, 0.5), small_events_draws(0.1, 1.4)
    for seed in range(3):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            den.run(small(np.random.default_rng(seed), 3000, 152, 0.8).noisy)
        said = [str(w.message) for w in caught if issubclass(w.category, EventDetectionWarning)]
        assert len(said) == 1 and said[0].startswith("the recording's events rise often and in small steps")
        assert not [w for w in caught if issubclass(w.category, OutOfDomainWarning)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            den.run(main(np.random.default_rng(seed), 3000, 152, 0.8).noisy)
    p = spectral.fit(small(np.random.default_rng(0), 3000, 152, 0.8).noisy)
    assert p.rises is not None and p.rises[1] > spectral.WEAK_RISE_SHARE
    assert p.rises[0] * spectral.FREQUENT_RISE_SAMPLES > 1.0
    short = spectral.fit(small(np.random.default_rng(0), spectral.SIGNAL_TEST_ROWS - 1, 152, 0.8).noisy)
    assert spectral.small_events_message(short) is None  # too short to tell: no sparse trace


def test_the_small_events_caution_follows_the_filtering_over_time(den: Denoiser) -> None:
    """The projection alone (spectral_only, or strength 0) filters nothing over time and keeps the
    events' count, so it gives no small-events caution where the default does; a weaker network
    still filters over time and still cautions. The fast-hemodynamics caution stays with the
    projection alone, which loses those events too."""
    from fluorodn import EventDetectionWarning

    def cautions(options: DenoiserOptions, x: np.ndarray) -> list[str]:
        runner = Denoiser(device="cpu", options=options)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runner.run(x)
        return [str(w.message) for w in caught if issubclass(w.category, EventDetectionWarning)]

    small = small_events_draws(0.5, 0.5)(np.random.default_rng(0), 3000, 152, 0.8).noisy
    assert len(cautions(DenoiserOptions(threads=1), small)) == 1
    assert len(cautions(DenoiserOptions(threads=1, strength=0.6), small)) == 1
    assert cautions(DenoiserOptions(threads=1, spectral_only=True), small) == []
    assert cautions(DenoiserOptions(threads=1, strength=0.0), small) == []
    fast = hemodynamics_draws(1.0)(np.random.default_rng(0), 3000, 152, 0.4).noisy
    (said,) = cautions(DenoiserOptions(threads=1, spectral_only=True), fast)
    assert "fast hemodynamics" in said
    assert DenoiserOptions(spectral_only=True).spectral_label() == "spectral only"
    assert DenoiserOptions(strength=0.5, keep_onsets=False).spectral_label() == "strength 0.5, onsets rounded"
    for over_time in ({"strength": 0.5}, {"keep_onsets": False}):  # they would be dropped silently
        with pytest.raises(ValueError, match="spectral_only=True filters nothing over time"):
            DenoiserOptions(spectral_only=True, **over_time)


def test_a_stack_s_events_caution_is_given_once_by_run_and_by_stream(den: Denoiser) -> None:
    """Three pages that each carry fast hemodynamics: one EventDetectionWarning for the stack, from
    run() and from stream() alike, not one per page."""
    from fluorodn import EventDetectionWarning

    draw = hemodynamics_draws(1.0)
    stack = np.stack([draw(np.random.default_rng(k), 1200, 152, 0.4).noisy for k in range(3)]).astype(np.float32)
    for go in (lambda: den.run(stack, recording=True), lambda: list(den.stream(stack, recording=True))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            go()
        said = [str(w.message) for w in caught if issubclass(w.category, EventDetectionWarning)]
        assert len(said) == 1 and "fast hemodynamics" in said[0], said


def test_noise_far_outside_training_warns(den: Denoiser, generator) -> None:
    inst = generator(np.random.default_rng(5), 2000, 152, 0.4)
    very_noisy = inst.clean + (inst.noisy - inst.clean) * 40.0
    with pytest.warns(OutOfDomainWarning, match="noisier"):
        den.run(very_noisy)


def test_a_recording_without_noise_is_named_for_what_it_is(den: Denoiser) -> None:
    """A constant recording, or one spectrum repeated, has no noise to measure: the one warning
    says so (not that it is noisier or cleaner than training, nor that signal was removed), and
    each comes back as it was (a repeated spectrum's sharp detail is not taken for the detector's
    fixed pattern)."""

    def run(x: np.ndarray) -> tuple[np.ndarray, list[str]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = den.run(x)
        return out, [str(w.message) for w in caught if issubclass(w.category, OutOfDomainWarning)]

    constant = np.full((600, 152), 100.0, np.float32)
    out, said = run(constant)
    assert len(said) == 1 and said[0].startswith("the recording is constant"), said
    assert "returned as it is" in said[0] and np.array_equal(out, constant)
    repeated = np.tile(np.linspace(10.0, 500.0, 152, dtype=np.float32), (600, 1))
    _, said = run(repeated)
    assert len(said) == 1 and said[0].startswith("the recording does not change over time"), said
    rough = 300.0 + 1000.0 * np.exp(-0.5 * ((np.arange(152) - 60) / 15.0) ** 2)
    rough += np.random.default_rng(2).normal(0.0, 20.0, 152)  # detail from bin to bin
    rough_repeated = np.tile(rough.astype(np.float32), (600, 1))
    out, said = run(rough_repeated)
    assert len(said) == 1 and np.array_equal(out, rough_repeated)
    stats = {"snr": 0.0, "time_corr": 0.0, "structure": 0.0, "still": 0.0}  # noise about a flat spectrum
    assert "noisier than any" in spectral.domain_warnings(stats, {"snr": [16.6, 3540.0]})[0]


def test_the_noisier_than_trained_warning_says_what_it_costs() -> None:
    """Below the trained brightness the warning names what the brightness benchmark measured (event
    counts fall first) and what to check; above it, nothing is added."""
    quiet = {"time_corr": 0.0, "structure": 0.0, "still": 0.0}
    (dim,) = spectral.domain_warnings({"snr": 9.0, **quiet}, {"snr": [16.6, 3540.0]})
    assert dim.startswith("the recording is noisier than any the model was trained on (brightness/noise 9")
    assert dim.endswith(spectral.DIM_ADVICE) and "check an event analysis against the raw recording" in dim
    (bright,) = spectral.domain_warnings({"snr": 5000.0, **quiet}, {"snr": [16.6, 3540.0]})
    assert "cleaner than any" in bright and spectral.DIM_ADVICE not in bright
    assert spectral.domain_warnings({"snr": 20.0, **quiet}, {"snr": [16.6, 3540.0]}) == []


def test_structured_removal_warns(den: Denoiser) -> None:
    """Signal of higher rank than the projection keeps is removed: the check says so."""
    rng = np.random.default_rng(7)
    t, w = 3000, 152
    wl = np.linspace(0, 1, w)
    spectra = np.stack([np.exp(-0.5 * ((wl - c) / 0.03) ** 2) for c in np.linspace(0.02, 0.98, 40)])
    courses = np.cumsum(rng.standard_normal((t, 40)), axis=0)
    x = 1000 + courses @ spectra * 30 + rng.standard_normal((t, w))
    with pytest.warns(OutOfDomainWarning, match="spectral structure|correlated in time"):
        den.run(x)


def test_saturated_recording_warns(den: Denoiser, generator) -> None:
    """Values clipped at a ceiling (a saturated detector) or a floor are named, with their share;
    the same recording unclipped, and as integer counts, is not."""
    inst = generator(np.random.default_rng(11), 2000, 152, 0.4)
    counts = np.round(inst.noisy).astype(np.int64)
    ceiling = np.quantile(counts, 0.98)
    with pytest.warns(OutOfDomainWarning, match=r"^2 % of the values equal the input's maximum .*saturated"):
        den.run(np.minimum(counts, ceiling))
    floor = np.quantile(inst.noisy, 0.01)
    with pytest.warns(OutOfDomainWarning, match=r"^1 % of the values equal the input's minimum .*clipped"):
        den.run(np.maximum(inst.noisy, floor))
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        den.run(counts)


def test_clipping_needs_an_excess_at_the_extreme() -> None:
    """Low photon counts hold many zeros, and as many ones: no clipping there; a frame with
    saturated pixels (uint8 at 255) is found, whatever their layout, and so is a floor."""
    from fluorodn._engine import clipping

    rng = np.random.default_rng(0)
    for lam in (0.5, 2.0, 10.0):
        assert clipping(rng.poisson(lam, (3000, 152)).astype(np.uint16)) is None
    frame = rng.normal(120, 10, (256, 256))
    assert clipping(frame.astype(np.uint8)) is None and clipping(frame) is None
    frame[100:140, 60:90] = 1e4  # a bright cell
    side, value, share = clipping(np.clip(frame, 0, 255).astype(np.uint8))
    assert (side, value) == ("maximum", 255.0) and share == pytest.approx(1200 / 256**2)
    side, value, share = clipping(np.maximum(frame, 125.0))
    assert (side, value) == ("minimum", 125.0) and 0.6 < share < 0.75
    assert clipping(np.full((50, 40), 3.0)) is None


def test_transposed_recording_warns(den: Denoiser) -> None:
    x, _, _ = recording(t=600, w=152)
    with pytest.warns(OutOfDomainWarning, match="transposed"):
        Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1)).run(x.T[:, :300])
    with pytest.warns(OutOfDomainWarning, match=r"\(wavelength, time\)"):
        den.run(x.T)  # detected: denoised as an image, with a warning


def test_recordings_with_their_channels_last_warn(den: Denoiser) -> None:
    """Two recordings stacked along a last axis, (time, wavelength, channel), would be denoised as
    images of W x 2 (here 64 of 32 x 2): the default says so and how to pass them; stacked first,
    or declared images, they are not said to be."""
    x, _, _ = recording(t=64, w=32)
    last = np.stack([x, 0.5 * x], axis=-1)
    with pytest.warns(OutOfDomainWarning, match=r"channels last .* pass it as \(channel, time, wavelength\)"):
        den.run(last)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        den.run(np.moveaxis(last, -1, 0))
        Denoiser(device="cpu", kind="image", options=DenoiserOptions(threads=1)).run(last[:64])
        den.run(np.stack([x[:32, :32]] * 5, axis=-1))  # frames of 32 x 5: not shaped like a recording
    assert not [w for w in caught if "channels last" in str(w.message)]


def test_pages_too_narrow_for_the_image_model_warn(den: Denoiser) -> None:
    """Two traces over time (6000 x 2) or a single row are not frames: the image path says so, by
    run and by stream, declared images too; frames 8 values wide or more are not said to be."""
    rng = np.random.default_rng(3)
    traces = rng.normal(1000.0, 20.0, (6000, 2)).astype(np.float32)
    image = Denoiser(device="cpu", kind="image", options=DenoiserOptions(threads=1))
    for run in (den.run, image.run, lambda a: list(den.stream(iter([a])))):
        with pytest.warns(OutOfDomainWarning, match=r"pages of 6000 x 2 values are too narrow .* 2 traces of 6000"):
            run(traces)
    with pytest.warns(OutOfDomainWarning, match=r"pages of 1 x 500 values .* 1 trace of 500 values"):
        den.run(traces[:500, :1].T.copy())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image.run(rng.normal(100.0, 5.0, (8, 300)).astype(np.float32))
        den.run(rng.normal(100.0, 5.0, (64, 64)).astype(np.float32))
    assert not [w for w in caught if "too narrow" in str(w.message)]


def test_a_short_recording_is_not_said_to_look_transposed(den: Denoiser, generator) -> None:
    """Fewer samples than bins, the right way round: its rows are one spectrum and its columns are
    not. Declared spectral, it is denoised without the orientation warning (run, and dask's
    client); by the default too, which gives it the spectral path the right way round, not the
    advice to transpose it (which would swap its axes). A recording of more samples than
    bins given as (wavelength, time) still gets the orientation warning."""
    import dask.array as da

    from fluorodn.dask import denoise as dask_denoise

    spec = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    for seed, (t, w) in enumerate(((60, 152), (100, 304), (30, 76))):
        x = generator(np.random.default_rng(40 + seed), t, w, 0.6).noisy
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec.run(x)
            dask_denoise(da.from_array(x, chunks=(t // 2, w)), "spectral", "cpu")
        assert not [c for c in caught if "transposed" in str(c.message)], (t, w)

        def chunked(a: np.ndarray, t: int = t, w: int = w) -> Any:
            return dask_denoise(da.from_array(a, chunks=(t // 2, w)), "default", "cpu")

        for run in (den.run, chunked):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run(x)
            said = [str(c.message) for c in caught if issubclass(c.category, OutOfDomainWarning)]
            assert not any("(wavelength, time)" in m or "transposed" in m for m in said), said
    x = generator(np.random.default_rng(50), 200, 152, 0.6).noisy
    with pytest.warns(OutOfDomainWarning, match="looks transposed"):
        spec.run(np.ascontiguousarray(x.T))


def test_a_short_recording_at_low_counts_is_not_told_to_transpose_and_a_transposed_one_is() -> None:
    """40-70 samples x 152 bins of a few photons a bin: too noisy for its rows to read as one
    spectrum, so the image model takes it, but its rows read more like one than its columns do; the
    advice to transpose it (which would swap its axes) is not given, by the default nor by the
    spectral path declared. 40 bins x 152 samples given as (wavelength, time) still gets it."""
    rng = np.random.default_rng(14)

    def counts(t: int, w: int, photons: float, off: slice | None = None) -> np.ndarray:
        wl = np.linspace(477.0, 595.0, w)
        spectrum = np.exp(-(((wl - 510.0) / 30.0) ** 2)) + 0.05
        a = 0.3 * np.sin(np.arange(t) / 12.0)
        clean = photons * spectrum[None, :] * (1.0 + a[:, None] * (wl[None, :] > 500.0))
        if off is not None:  # the light off: the detector's level and read noise
            clean[off] = 0.0
        return (rng.poisson(clean) + 100 + rng.normal(0.0, 2.0, clean.shape)).astype(np.float32)

    spec = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    for t, photons, off in ((40, 30.0, None), (60, 30.0, None), (70, 50.0, slice(0, 10)), (40, 10.0, None)):
        x = counts(t, 152, photons, off)
        assert not spectral.rows_are_spectra(x) and spectral.reads_as_given(x)
        for run in (den.run, spec.run):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run(x)
            said = [str(c.message) for c in caught]
            assert not any("(wavelength, time)" in m or "transposed" in m for m in said), (t, said)
    # (40 wavelengths, 152 samples), and with the light off for 30 samples, which steps every bin's
    # time course alike: its rows then read alike, unless the dark samples are set aside
    for off in (None, slice(0, 30)):
        given = np.ascontiguousarray(counts(152, 40, 300.0, off).T)
        assert not spectral.reads_as_given(given)
        with pytest.warns(OutOfDomainWarning, match=r"given as \(wavelength, time\).*pass it transposed"):
            den.run(given)


def test_too_few_samples_are_said_to_be(generator) -> None:
    """Under FEW_SAMPLES samples the spectral path says the recording is too short to denoise
    reliably (one call and dask's client); from FEW_SAMPLES on it does not."""
    import dask.array as da

    from fluorodn.dask import denoise as dask_denoise

    spec = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    for t in (4, spectral.FEW_SAMPLES - 1, spectral.FEW_SAMPLES, 40):
        x = generator(np.random.default_rng(t), t, 152, 0.5).noisy
        for run in (spec.run, lambda a: dask_denoise(da.from_array(a), "spectral", "cpu", recording=True)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run(x)
            said = [str(c.message) for c in caught if f"only {t} samples" in str(c.message)]
            assert len(said) == (t < spectral.FEW_SAMPLES), (t, said)


def test_too_few_samples_say_nothing_of_their_noise_or_what_was_removed() -> None:
    """Under FEW_SAMPLES samples only the few-samples warning is given, since a brightness over noise
    or a removed component measured on 3 rows says nothing; a constant one is still named constant."""
    spec = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    wl = np.linspace(0, 1, 152)
    bright = np.exp(-(((wl - 0.4) / 0.15) ** 2)) * 2000 + 100
    x = np.random.default_rng(0).poisson(np.tile(bright, (3, 1))).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec.run(x, recording=True)
    said = [str(c.message) for c in caught if issubclass(c.category, OutOfDomainWarning)]
    assert len(said) == 1 and "only 3 samples" in said[0], said
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec.run(np.full((3, 152), 7.0, np.float32), recording=True)
    said = [str(c.message) for c in caught if issubclass(c.category, OutOfDomainWarning)]
    assert any("constant" in m for m in said), said


def test_a_rate_below_training_is_said_to_be(den: Denoiser, generator) -> None:
    """rate= under LOW_RATE_HZ warns once at the caller's line where the spectral path runs (run,
    stream, dask's client), naming the rate; at 5 Hz or without a rate nothing is said and the output
    is the same; a frame the image model takes is not a recording; a rate that is not a positive
    number is refused in one sentence."""
    import dask.array as da

    from fluorodn.dask import denoise as dask_denoise

    x = generator(np.random.default_rng(60), 600, 152, 0.4).noisy
    runs = {
        "run": lambda a, r: den.run(a, rate=r),
        "stream": lambda a, r: np.stack(list(den.stream([a, a], rate=r)))[0],
        "dask": lambda a, r: dask_denoise(da.from_array(a, chunks=(300, 152)), rate=r).compute(),
    }
    for name, run in runs.items():
        outs = {}
        for rate in (2.0, 5.0, None):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                outs[rate] = run(x, rate)
            said = [c for c in caught if "sampled at" in str(c.message)]
            assert len(said) == (rate == 2.0), (name, rate, [str(c.message) for c in caught])
            if said:
                assert issubclass(said[0].category, OutOfDomainWarning) and "sampled at 2 Hz" in str(said[0].message)
                assert said[0].filename == __file__, (name, said[0].filename)
        np.testing.assert_allclose(outs[2.0], outs[None], atol=1e-2)
        np.testing.assert_array_equal(outs[5.0], outs[None])
    frame = np.random.default_rng(0).normal(100, 5, (64, 64))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        den.run(frame, rate=1.0)
    assert not [c for c in caught if "sampled at" in str(c.message)]
    for bad in (0.0, -5.0, float("nan"), "5"):
        with pytest.raises(ValueError, match="rate must be a"):
            den.run(x, rate=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_edges_are_denoised_like_the_interior(precision: str, generator) -> None:
    """Error / raw error at the first and last 5 samples within 1.15x of the interior's, with the
    float model and its shipped int8 variant (the
    traces are extended by their mirror image there: 1.03x and 1.11x measured on these 10
    recordings, 1.04x and 1.10x with int8; 1.13x at worst over other seeds).

    Bins: the part of the error that varies in time (what the network and the projection
    leave) at the first and last bin within 1.25x of the interior bins' 90th percentile (the
    ratio varies from bin to bin with each bin's weight in the leading components, by about
    1.5x between interior bins; measured here: 1.18x and 1.07x). The fixed pattern is removed
    in the interior but kept at the end bins (it cannot be told from the spectrum's slope there),
    so their total error is that of the output with the pattern kept, while the interior's drops."""
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1, precision=precision))
    kept = Denoiser(device="cpu", options=DenoiserOptions(threads=1, precision=precision, keep_fixed_pattern=True))
    assert den.precision == kept.precision == precision
    rng = np.random.default_rng(11)
    regions = {"first 5 samples": np.s_[:5], "last 5 samples": np.s_[-5:], "interior": np.s_[5:-5, 3:-3]}
    ratios: dict[str, list[float]] = {k: [] for k in regions}
    varying, total, total_kept = [], [], []
    for _ in range(10):
        inst = generator(rng, 3000, 152, 0.4)
        y, y_kept = den.run(inst.noisy), kept.run(inst.noisy)
        e, r = (y - inst.clean) ** 2, (inst.noisy - inst.clean) ** 2
        for k, sl in regions.items():
            ratios[k].append(e[sl].mean() / r[sl].mean())
        dev = (y - inst.clean)[5:-5]
        varying.append(((dev - dev.mean(axis=0)) ** 2).mean(axis=0) / r[5:-5].mean(axis=0))
        total.append(e[5:-5].mean(axis=0) / r[5:-5].mean(axis=0))
        total_kept.append(((y_kept - inst.clean) ** 2)[5:-5].mean(axis=0) / r[5:-5].mean(axis=0))
    interior = float(np.sqrt(np.mean(ratios["interior"])))
    for k in ("first 5 samples", "last 5 samples"):
        assert np.sqrt(np.mean(ratios[k])) <= 1.15 * interior, (k, ratios)
    per_bin = np.sqrt(np.mean(varying, axis=0))
    assert per_bin[3:-3].max() < 2.0 * interior  # a sanity bound on the spread itself
    top = float(np.percentile(per_bin[3:-3], 90))
    for name, value in (("first bin", per_bin[0]), ("last bin", per_bin[-1])):
        assert value <= 1.25 * top, (name, value, top, interior)
    with_pattern, without = np.sqrt(np.mean(total_kept, axis=0)), np.sqrt(np.mean(total, axis=0))
    np.testing.assert_allclose(without[[0, -1]], with_pattern[[0, -1]], rtol=1e-2)
    assert np.median(without[3:-3]) < 0.95 * np.median(with_pattern[3:-3])  # 0.213 vs 0.244 measured


def test_dask_equals_one_call(den: Denoiser, generator, monkeypatch) -> None:
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    inst = generator(np.random.default_rng(3), 2500, 120, 0.5)
    x = inst.noisy.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        ref = den.run(x)
    for chunks in ((300, 120), (1000, 40), (2500, 120)):
        got = fdask.denoise(da.from_array(x, chunks=chunks)).compute(scheduler="threads")
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4 * float(np.abs(ref).max()))
    # the fixed pattern kept: the same in chunks, each bin's time mean as recorded over all the rows
    # (also where the fit reads fewer), and it differs from the default
    options = DenoiserOptions(threads=1, keep_fixed_pattern=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        kept = Denoiser(device="cpu", options=options).run(x)
    rounding = 4 * float(np.spacing(np.float32(np.abs(x).max())))
    np.testing.assert_allclose(kept.mean(axis=0, dtype=np.float64), x.mean(axis=0, dtype=np.float64), atol=rounding)
    for chunks in ((300, 120), (2500, 120)):
        got = fdask.denoise(da.from_array(x, chunks=chunks), options=options).compute(scheduler="threads")
        np.testing.assert_allclose(got, kept, rtol=0, atol=rounding)
    every = spectral._stat_rows
    monkeypatch.setattr(spectral, "_stat_rows", lambda n, limit=800: every(n, limit))  # the fit reads 800 rows
    got = fdask.denoise(da.from_array(x, chunks=(400, 120)), options=options).compute(scheduler="threads")
    np.testing.assert_allclose(got.mean(axis=0, dtype=np.float64), x.mean(axis=0, dtype=np.float64), atol=rounding)
    assert np.abs(kept - ref).max() > 1e-2 * float(np.abs(ref - x).std())
    monkeypatch.undo()
    # long enough for blocks that overlap (a 2500-row recording is one block), the last one shorter than
    # the overlap: stored block by block, each of its declared size, as one call gives them
    long = generator(np.random.default_rng(4), 7300, 120, 0.5).noisy.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        kept = Denoiser(device="cpu", options=options).run(long)
    lazy = fdask.denoise(da.from_array(long, chunks=(3500, 120)), options=options)
    assert lazy.numblocks[0] == 2 and lazy.chunks[0] == (3500, 3800)
    got = np.empty(lazy.shape, np.float32)
    da.store(lazy, got, scheduler="threads")
    np.testing.assert_allclose(got, kept, rtol=0, atol=4 * float(np.spacing(np.float32(np.abs(long).max()))))
    assert fdask.at_least((5000, 5000, 5000, 100), 772) == (5000, 5000, 5100)
    assert fdask.at_least((100, 5000), 772) == (5100,) and fdask.at_least((300, 300, 300), 772) == (900,)


def _domain_messages(run: Any, *args: Any, category: type[Warning] = OutOfDomainWarning) -> tuple[Any, list[str]]:
    """``run(*args)`` and the ``category`` messages it issued, each with the file it points at."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = run(*args)
    return got, [f"{Path(w.filename).name}: {w.message}" for w in caught if issubclass(w.category, category)]


@pytest.mark.parametrize(
    ("draw", "seed", "noise", "chunk", "said"),
    [
        (lambda: hemodynamics_draws(1.0), 1, 0.4, 500, "the recording carries fast hemodynamics"),
        (lambda: small_events_draws(0.5, 0.5), 2, 0.8, 700, "the recording's events rise often and in small steps"),
    ],
    ids=["fast hemodynamics", "small frequent events"],
)
def test_dask_cautions_about_the_events_as_one_call_does(
    den: Denoiser, draw: Any, seed: int, noise: float, chunk: int, said: str
) -> None:
    """A recording with fast hemodynamics, or with small, frequent events, through fluorodn.dask:
    the same EventDetectionWarning as ``Denoiser.run`` (the fit reads the same statistics rows),
    issued once on the client, pointing at the caller."""
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask
    from fluorodn import EventDetectionWarning

    x = draw()(np.random.default_rng(seed), 3000, 152, noise).noisy
    lazy, built = _domain_messages(fdask.denoise, da.from_array(x, chunks=(chunk, 152)), category=EventDetectionWarning)
    assert _domain_messages(lazy.compute, category=EventDetectionWarning)[1] == []
    assert built == _domain_messages(den.run, x, category=EventDetectionWarning)[1]
    assert len(built) == 1 and built[0].startswith(f"test_spectral.py: {said}")


def test_dask_checks_a_recording_as_one_call_does(den: Denoiser, generator) -> None:
    """fluorodn.dask runs one call's checks once, on the client, when the graph is built (not
    from the chunks), pointing at the caller: the same warnings as ``Denoiser.run``, for a
    saturated, a far too noisy and a structured recording; an in-domain one passes."""
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    inst = generator(np.random.default_rng(11), 2000, 152, 0.4)
    counts = np.round(inst.noisy).astype(np.int64)
    rng = np.random.default_rng(7)
    t, w = 3000, 152
    peaks = np.exp(-0.5 * ((np.linspace(0, 1, w)[None, :] - np.linspace(0.02, 0.98, 40)[:, None]) / 0.03) ** 2)
    structured = 1000 + np.cumsum(rng.standard_normal((t, 40)), axis=0) @ peaks * 30 + rng.standard_normal((t, w))
    cases = {
        "saturated": np.minimum(counts, np.quantile(counts, 0.98)),
        "noisy": inst.clean + (inst.noisy - inst.clean) * 40.0,
        "structured": structured,
    }
    for name, x in cases.items():
        lazy, built = _domain_messages(fdask.denoise, da.from_array(x, chunks=(500, w)))
        assert _domain_messages(lazy.compute)[1] == []
        assert built == _domain_messages(den.run, x)[1], name
        assert built and all(m.startswith("test_spectral.py: ") for m in built), built
    lazy, built = _domain_messages(fdask.denoise, da.from_array(counts, chunks=(300, 152)))
    assert built == [] and _domain_messages(lazy.compute)[1] == []


def test_dask_checks_frames_and_stacks_on_the_client(den: Denoiser, generator, monkeypatch) -> None:
    """Frames and stacks through fluorodn.dask are checked as one call checks them, on the client
    when the graph is built, and the workers warn nothing (what they warn is lost under a process
    or distributed scheduler): a frame the image model removes texture from, a clipped frame, a
    stack whose last page is textured, a stack of recordings whose second is saturated. Smooth
    frames and an in-domain recording pass."""
    da = pytest.importorskip("dask.array")
    from scipy.ndimage import gaussian_filter

    import fluorodn.dask as fdask

    rng = np.random.default_rng(12)
    yy, xx = np.mgrid[:256, :256]
    texture = 1000.0 + 300.0 * (((yy // 2) + (xx // 2)) % 2)
    textured = texture + 0.3 * np.sqrt(texture) * rng.standard_normal(texture.shape)
    smooth = gaussian_filter(rng.standard_normal((256, 256)), 8) * 400 + 1000
    smooth = smooth + 0.3 * np.sqrt(smooth) * rng.standard_normal(smooth.shape)

    def checked(x: np.ndarray, chunks: tuple[int, ...]) -> list[str]:
        lazy, built = _domain_messages(fdask.denoise, da.from_array(x, chunks=chunks))
        assert _domain_messages(lambda: lazy.compute(scheduler="threads"))[1] == []
        return built

    one = _domain_messages(den.run, textured)[1]
    assert len(one) == 1 and one[0].startswith("test_spectral.py: the image model removed"), one
    built = checked(textured, (100, 150))
    assert len(built) == 1 and built[0].startswith("test_spectral.py: the image model removed"), built
    assert checked(smooth, (100, 150)) == _domain_messages(den.run, smooth)[1] == []
    transposed = np.ascontiguousarray(generator(np.random.default_rng(3), 1200, 152, 0.4).noisy.T)
    built = checked(transposed, (76, 600))  # handed to the image model, as one call does, said at the caller
    assert built and built[0].startswith("test_spectral.py: a 152 x 1200 array looks like a spectral recording")
    clipped = np.minimum(smooth, np.quantile(smooth, 0.97))
    assert checked(clipped, (100, 150)) == _domain_messages(den.run, clipped)[1] != []

    assert [fdask.check_pages(n) for n in (0, 1, 3, 31, 32, 100)] == [[], [0], [0], [0], [0, 31], [0, 50, 99]]
    empty = fdask.denoise(da.zeros((0, 64, 64), chunks=(1, 64, 64)))  # nothing to check, nothing to denoise
    assert empty.compute().shape == (0, 64, 64)
    assert checked(np.stack([smooth, smooth, textured]), (1, 256, 256)) == []  # a sample: page 0 only
    monkeypatch.setattr(fdask, "CHECK_EVERY", 1)  # every page of three
    built = checked(np.stack([smooth, smooth, textured]), (1, 256, 256))
    assert len(built) == 1 and built[0].startswith("test_spectral.py: page index 2: the image model removed"), built
    assert checked(np.stack([smooth, smooth, smooth]), (2, 256, 256)) == []

    inst = generator(np.random.default_rng(11), 2000, 152, 0.4)
    counts = np.round(inst.noisy).astype(np.int64)
    saturated = np.minimum(counts, np.quantile(counts, 0.98))
    alone = _domain_messages(den.run, saturated)[1]
    assert alone
    built = checked(np.stack([counts, saturated]), (1, 1000, 152))
    assert built == [m.replace(": ", ": page index 1: ", 1) for m in alone]
    assert checked(np.stack([counts, counts]), (1, 2000, 152)) == []


def test_weakened_network_sees_lower_levels_and_answers_in_trace_units() -> None:
    """:func:`spectral.weakened` lowers the level channels by the strength, leaves the traces, and
    multiplies the output (noise over the levels) by the strength."""
    seen = []

    def net(x: np.ndarray) -> np.ndarray:  # noise over the levels: a tenth of the trace here
        seen.append(x.copy())
        c = x.shape[1] // 2
        return 0.1 * x[:, :c] / x[:, c:]

    x = spectral.network_input(np.arange(12.0).reshape(6, 2), np.array([2.0, 4.0]), 2)
    full = net(x)
    got = spectral.weakened(net, 0.25)(x)
    np.testing.assert_allclose(seen[-1][:, :2], x[:, :2])
    np.testing.assert_allclose(seen[-1][:, 2:], 0.25 * x[:, 2:])
    np.testing.assert_allclose(got, full, rtol=1e-6)  # this net ignores what it is told: same noise
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="strength"):
            spectral.weakened(net, bad)


def _run_with(x: np.ndarray, **opts: Any) -> np.ndarray:
    """``x`` denoised by the default model on one CPU thread with these :class:`DenoiserOptions`,
    its out-of-domain warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        return Denoiser(device="cpu", options=DenoiserOptions(threads=1, **opts)).run(x)


def test_strength_moves_from_the_projection_to_the_default(den: Denoiser, generator) -> None:
    """``strength`` 1 is the default and 0 the projection alone, bit for bit; in between, the
    less the strength, the less the output moves from the projection alone (and the less it
    removes in all), continuously near 0; through dask the same; out of range raises."""
    inst = generator(np.random.default_rng(11), 2000, 100, 0.8)
    x = inst.noisy.astype(np.float32)

    def run(**opts: Any) -> np.ndarray:
        return _run_with(x, **opts)

    full, only = den.run(x), run(spectral_only=True)
    np.testing.assert_array_equal(run(strength=1.0), full)
    np.testing.assert_array_equal(run(strength=0), only)
    moved = {s: float(np.sqrt(np.mean((run(strength=s) - only) ** 2))) for s in (0.01, 0.25, 0.5, 0.75)}
    moved[1.0] = float(np.sqrt(np.mean((full - only) ** 2)))
    values = [moved[s] for s in sorted(moved)]
    assert all(a < b for a, b in itertools.pairwise(values)), moved
    assert moved[0.01] < 0.02 * moved[1.0], moved
    removed = [float(np.std(x - run(strength=s))) for s in (0.25, 0.75)]
    assert removed[0] < removed[1] < float(np.std(x - full)) + 1e-6
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    half = DenoiserOptions(threads=1, strength=0.5)
    got = fdask.denoise(da.from_array(x, chunks=(500, 100)), options=half).compute(scheduler="threads")
    np.testing.assert_allclose(got, run(strength=0.5), rtol=1e-5, atol=1e-5 * float(np.abs(x).max()))
    for bad in (-0.1, 1.01, float("nan"), "1", True):
        with pytest.raises(ValueError, match="strength"):
            DenoiserOptions(strength=bad)
    # the least strengths, which float32 would round to 0, act as the least it holds: finite, and
    # as near the projection alone as 1e-10 is
    tiny = run(strength=spectral.LEAST_STRENGTH)
    for s in (1e-40, 1e-300, 5e-324):
        np.testing.assert_array_equal(run(strength=s), tiny)
    np.testing.assert_allclose(tiny, run(strength=1e-10), rtol=1e-6, atol=1e-6 * float(np.abs(x).max()))
    assert float(np.sqrt(np.mean((tiny - only) ** 2))) < 0.02 * moved[1.0]


def test_keep_onsets_changes_only_the_rises_of_the_sparse_traces(den: Denoiser, generator) -> None:
    """``keep_onsets`` (the default) differs from the full network only on a minority of rows, by
    less than the weaker strength would move the whole output; the fitted projection marks sparse
    traces among the signal traces; through dask, in chunks shorter than its reach, the same;
    anything but a bool is refused."""
    inst = generator(np.random.default_rng(11), 2400, 100, 1.0)
    x = inst.noisy.astype(np.float32)

    def run(**opts: Any) -> np.ndarray:
        return _run_with(x, **opts)

    p = spectral.fit(x)
    assert p.sparse is not None and p.signal is not None
    assert p.sparse.any() and not (p.sparse & ~p.signal).any()
    kept, full = den.run(x), run(keep_onsets=False)
    np.testing.assert_array_equal(run(keep_onsets=True), kept)
    moved = np.abs(kept - full).max(axis=1) > 1e-6 * float(np.abs(x).max())
    assert 0.005 < moved.mean() < 0.5, moved.mean()
    weak = run(keep_onsets=False, strength=spectral.ONSET_STRENGTH)
    assert np.sqrt(np.mean((kept - full) ** 2)) < 0.7 * np.sqrt(np.mean((weak - full) ** 2))
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    got = fdask.denoise(da.from_array(x, chunks=(200, 100))).compute(scheduler="threads")
    np.testing.assert_allclose(got, kept, rtol=1e-5, atol=1e-5 * float(np.abs(x).max()))
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="keep_onsets"):
            DenoiserOptions(keep_onsets=bad)


def test_spectral_label_names_what_differs_from_the_default() -> None:
    assert DenoiserOptions().spectral_label() == ""
    assert DenoiserOptions(threads=2, spectral_only=True).spectral_label() == "spectral only"
    assert DenoiserOptions(strength=0.5).spectral_label() == "strength 0.5"
    assert DenoiserOptions(keep_onsets=False).spectral_label() == "onsets rounded"
    assert DenoiserOptions(strength=0.25, keep_onsets=False).spectral_label() == "strength 0.25, onsets rounded"


def test_spectral_only_keeps_each_signal_trace_as_recorded(den: Denoiser, generator) -> None:
    """``spectral_only``: the projection without the network. The signal traces keep their
    recorded time course (nothing is filtered over time), the noise-only traces their time
    mean; the error is far below raw's, above the default's; in chunks through dask the same."""
    inst = generator(np.random.default_rng(8), 2500, 120, 0.8)
    x = inst.noisy.astype(np.float32)
    options = DenoiserOptions(threads=1, spectral_only=True)
    only = Denoiser(device="cpu", options=options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        y, y_net = only.run(x), den.run(x)
    p = spectral.project(x)
    assert p.signal is not None and 0 < p.signal.sum() < p.components
    expected = spectral.reconstruct(p, np.where(p.signal[None, :], p.coef, p.coef_mean.astype(np.float32)[None, :]))
    scale = float(np.abs(x).max())
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5 * scale)
    # in coefficient space: the signal traces' time differences are the recording's own
    got = spectral.coefficients(p, y).astype(np.float64)
    np.testing.assert_allclose(np.diff(got[:, p.signal], axis=0), np.diff(p.coef[:, p.signal], axis=0), atol=1e-2)
    assert np.abs(np.diff(got[:, ~p.signal], axis=0)).max() < 1e-2  # noise-only traces: constant
    assert np.abs(np.diff(p.coef[:, ~p.signal], axis=0)).max() > 1.0

    def rms(a: np.ndarray) -> float:
        return float(np.sqrt(np.mean((a.astype(np.float64) - inst.clean) ** 2)))

    assert rms(y) < 0.5 * rms(x)
    assert rms(y_net) < 0.8 * rms(y)
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    got = fdask.denoise(da.from_array(x, chunks=(600, 120)), options=options).compute(scheduler="threads")
    np.testing.assert_allclose(got, y, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_image_path_border_is_denoised_like_the_interior(precision: str) -> None:
    """A 512 x 512 frame through the image model: the page is extended by mirrored pixels, so
    the 2-pixel border keeps at most 1.25x the interior's error / raw error (1.19-1.20x measured;
    4.6-5.4x with ``border="zero"``, the network's zero padding)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    clean = gaussian_filter(rng.standard_normal((512, 512)), 8) * 400 + 1000 + np.linspace(0, 300, 512)[None, :]
    noisy = clean + rng.standard_normal(clean.shape) * np.sqrt(clean) * 0.8
    y = Denoiser("low", device="cpu", precision=precision, options=DenoiserOptions(threads=1)).run(noisy)
    err, raw = (y - clean) ** 2, (noisy - clean) ** 2
    border = np.zeros(clean.shape, bool)
    border[:2] = border[-2:] = True
    border[:, :2] = border[:, -2:] = True
    interior = np.zeros(clean.shape, bool)
    interior[10:-10, 10:-10] = True
    ratio_border = np.sqrt(err[border].mean() / raw[border].mean())
    ratio_interior = np.sqrt(err[interior].mean() / raw[interior].mean())
    assert ratio_interior < 0.2
    assert ratio_border <= 1.25 * ratio_interior, (ratio_border, ratio_interior)


def test_baseline_is_the_line_fitted_around_each_sample() -> None:
    """Inside, the moving mean; at the ends (window cut), the value of the least-squares line over
    the rows that remain; a straight trace is its own baseline, and no row sees past half the span."""
    rng = np.random.default_rng(4)
    c = np.cumsum(rng.standard_normal((700, 3)), axis=0)
    size, half = 201, 100
    b = spectral.baseline(c, size)
    for i in (0, 1, 57, 100, 350, 599, 650, 699):
        lo, hi = max(0, i - half), min(len(c), i + half + 1)
        design = np.c_[np.ones(hi - lo), np.arange(lo, hi) - i]
        line = np.linalg.lstsq(design, c[lo:hi], rcond=None)[0][0]
        np.testing.assert_allclose(b[i], line, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        b[half:-half], [c[i - half : i + half + 1].mean(axis=0) for i in range(half, 700 - half)]
    )
    ramp = 3.0 + 0.25 * np.arange(700.0)[:, None]
    np.testing.assert_allclose(spectral.baseline(ramp, size), ramp, rtol=1e-9)
    changed = c.copy()
    changed[400:] += 100.0
    np.testing.assert_allclose(spectral.baseline(changed, size)[: 400 - half], b[: 400 - half], rtol=1e-12)


def test_long_recordings_carry_a_baseline_span_and_short_ones_none() -> None:
    x, _, _ = recording(t=600, noise=0.5)
    p = spectral.fit(x)
    assert p.baseline_samples == 0 and p.spread is None
    x, _, _ = recording(t=3000, noise=0.5)
    p = spectral.project(x)
    assert p.baseline_samples == spectral.BASELINE_SAMPLES and p.spread is not None
    # around its baseline a trace spreads no wider (a noise-only trace about as wide), and the
    # trace carrying the slow signal much less
    assert np.all(p.spread >= 1.0) and np.all(p.spread <= 1.01 * p.scale)
    assert p.spread[0] < 0.97 * p.scale[0]


def test_the_leading_eigenvectors_alone_span_what_the_full_decomposition_gives() -> None:
    """The fit computes only the eigenvectors it keeps: they span the same subspace as the last
    columns of ``np.linalg.eigh`` (up to sign, in the same order), at 24-1024 bins, and the least
    eigenvalue alone is the full decomposition's."""
    rng = np.random.default_rng(21)
    for w, k in ((24, 8), (152, 16), (304, 16), (1024, 16)):
        a = rng.standard_normal((3 * w, w)) * np.linspace(0.5, 3.0, w)
        a[:, : w // 2] += rng.standard_normal((3 * w, 1)) * 4.0  # one strong shared direction
        c = a.T @ a
        vecs = np.linalg.eigh(c)[1][:, -k:]
        ours = spectral._leading_vectors(c, k)
        assert ours.shape == (w, k)
        np.testing.assert_allclose(np.abs(np.sum(ours * vecs, axis=0)), 1.0, atol=1e-8)
        assert spectral._least_eigenvalue(c) == pytest.approx(np.linalg.eigvalsh(c)[0], rel=1e-9, abs=1e-9)
    toeplitz = spectral._noise_cov(np.array([1.0, 0.95, 0.95, 0.95]), 64)  # not positive: clipped
    assert np.linalg.eigvalsh(toeplitz)[0] > -1e-9
