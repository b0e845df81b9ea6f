"""The Wiener references are the best linear estimators, inside and at an edge."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve

from benchmarks.oracle import autocovariance_2d, oracle_frame_wiener, oracle_spectral_wiener, wiener_2d

SIGMA, RADIUS, SIDE = 2.0, 6, 64


def _field_autocovariance() -> np.ndarray:
    """Exact autocovariance of unit white noise through ``gaussian_filter(., SIGMA)``, lags up to 2 RADIUS."""
    delta = np.zeros((41, 41))
    delta[20, 20] = 1.0
    g = gaussian_filter(delta, SIGMA)
    acov = fftconvolve(g, g[::-1, ::-1])  # lag 0 at index 40
    return acov[40 - 2 * RADIUS : 41 + 2 * RADIUS, 40 - 2 * RADIUS : 41 + 2 * RADIUS]


def _error_variance(acov: np.ndarray, noise_var: float, oy: np.ndarray, ox: np.ndarray) -> float:
    """Theoretical LMMSE error variance of a pixel from the window offsets ``oy``, ``ox``."""
    c0 = acov.shape[0] // 2
    c = acov[c0 + oy[:, None] - oy[None, :], c0 + ox[:, None] - ox[None, :]] + noise_var * np.eye(len(oy))
    k = acov[c0 + oy, c0 + ox]
    return float(acov[c0, c0] - k @ np.linalg.solve(c, k))


def test_wiener_2d_error_matches_theory_inside_and_on_the_border() -> None:
    acov, noise_var = _field_autocovariance(), 0.002
    rng = np.random.default_rng(0)
    inside = top = 0.0
    n = 24
    for _ in range(n):
        clean = gaussian_filter(rng.standard_normal((SIDE, SIDE)), SIGMA, mode="wrap")
        err = wiener_2d(clean + rng.standard_normal(clean.shape) * np.sqrt(noise_var), acov, noise_var, RADIUS) - clean
        inside += float(np.mean(err[RADIUS:-RADIUS, RADIUS:-RADIUS] ** 2)) / n
        top += float(np.mean(err[0, RADIUS:-RADIUS] ** 2)) / n
    full = np.arange(-RADIUS, RADIUS + 1)
    oy, ox = (a.ravel() for a in np.meshgrid(full, full, indexing="ij"))
    expect_inside = _error_variance(acov, noise_var, oy, ox)
    half = oy >= 0  # the first row sees only the rows below it
    expect_top = _error_variance(acov, noise_var, oy[half], ox[half])
    assert expect_top > 1.3 * expect_inside  # the border costs the best estimator too
    assert inside == np.clip(inside, 0.9 * expect_inside, 1.12 * expect_inside)
    assert top == np.clip(top, 0.85 * expect_top, 1.18 * expect_top)


def test_wiener_2d_keeps_a_noiseless_frame_and_flattens_pure_noise() -> None:
    rng = np.random.default_rng(1)
    acov = _field_autocovariance()
    clean = gaussian_filter(rng.standard_normal((40, 50)), SIGMA, mode="wrap") + np.linspace(0, 3, 50)
    np.testing.assert_allclose(wiener_2d(clean, acov, 1e-9, RADIUS), clean, atol=1e-4)
    ramp = 2.0 + 0.1 * np.arange(40)[:, None] - 0.05 * np.arange(50)[None, :]
    noisy = ramp + rng.standard_normal(ramp.shape)
    # no signal beyond the plane: every pixel is the least-squares plane through the frame
    flat = wiener_2d(noisy, np.zeros_like(acov), 1.0, RADIUS)
    assert np.max(np.abs(flat - ramp)) < 0.1
    assert np.ptp(np.diff(flat, 2, axis=0)) < 1e-9 and np.ptp(np.diff(flat, 2, axis=1)) < 1e-9


def test_oracle_frame_wiener_takes_crops_and_estimates_the_covariance() -> None:
    rng = np.random.default_rng(2)
    clean = gaussian_filter(rng.standard_normal((120, 120)), SIGMA, mode="wrap") * 50 + 100
    noisy = clean + rng.standard_normal(clean.shape)
    acov = autocovariance_2d(clean, 2)
    assert acov.shape == (5, 5) and acov[2, 2] == acov.max()
    np.testing.assert_allclose(acov, acov[::-1, ::-1])
    fn = oracle_frame_wiener(clean, noisy, RADIUS)
    crop = np.s_[30:-30, 30:-30]
    out = fn(noisy[crop])
    assert out.shape == noisy[crop].shape
    assert np.sqrt(np.mean((out - clean[crop]) ** 2)) < 0.6 * np.sqrt(np.mean((noisy - clean)[crop] ** 2))


def test_oracle_spectral_wiener_matches_theory_on_a_rank_one_recording() -> None:
    """One spectrum ``v`` with a Gaussian time course of variance ``a`` in white noise of variance
    ``n``: the Wiener estimate's error on bin ``w`` is ``v_w^2 a n / (a |v|^2 + n)``, larger on a
    crop that keeps fewer bins of ``v``."""
    rng = np.random.default_rng(5)
    t, w, a, n = 20000, 40, 4.0, 1.0
    v = np.exp(-0.5 * ((np.arange(w) - 12) / 6.0) ** 2)
    clean = rng.standard_normal((t, 1)) * np.sqrt(a) * v[None, :] + 50.0
    noisy = clean + rng.standard_normal(clean.shape) * np.sqrt(n)
    fn = oracle_spectral_wiener(clean, noisy)
    for cut in (0, 10):
        keep = slice(cut, w - cut)
        vk = v[keep]
        err = np.mean((fn(noisy[:, keep]) - clean[:, keep]) ** 2, axis=0)
        expect = vk**2 * a * n / (a * vk @ vk + n)
        np.testing.assert_allclose(err[vk > 0.3], expect[vk > 0.3], rtol=0.1)
    whole, crop = (np.mean((fn(noisy[:, c : w - c]) - clean[:, c : w - c]) ** 2, axis=0) for c in (0, 10))
    assert crop[0] > 1.3 * whole[10]  # the crop's first bin, against the same bin with every bin there
    with pytest.raises(ValueError, match="cut equally"):
        fn(noisy[:, 1:])
