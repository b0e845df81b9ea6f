"""The best linear estimator near an edge: Wiener filters that know the signal's covariance.

A reference for what an edge has to cost. Each output value is the linear minimum mean squared
error (LMMSE) estimate from the values around it that exist: on a frame, the pixels within
``radius``, and at a border the part of that window that lies in the frame, with weights solved
for that part; on a spectral recording, each sample's whole spectrum, and on a recording cut
short in wavelength the bins that are left. Given the signal's and the noise's covariance (taken
from the clean data, which is why these are oracles), no linear filter of the same values does
better at any position, edges included, and for a Gaussian signal in Gaussian noise no filter at
all. What such a filter loses at an edge is therefore what the edge itself costs, not what a
border rule adds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import fftconvolve

#: Pixels on each side of the window. On the test frame (white noise through a Gaussian of 8
#: pixels) at noise 0.8, radii 8 / 12 / 16 left 0.094 / 0.089 / 0.085 of the raw error inside
#: with edge costs 1.51 / 1.54 / 1.55 (one run of :func:`benchmarks.diagnose.frame_edge_cost`):
#: a wider window denoises the interior a little more and pays a little more at the border, at a
#: solve that grows with the window's area cubed.
FRAME_RADIUS = 12


def _reach(n: int, radius: int) -> np.ndarray:
    """(n, 2) samples of the window that exist before and after each of ``n`` positions."""
    t = np.arange(n)
    return np.stack([np.minimum(t, radius), np.minimum(n - 1 - t, radius)], axis=1)


def plane(x: np.ndarray) -> np.ndarray:
    """The least-squares plane through a (Y, X) array, as an array of its shape."""
    h, w = x.shape
    yy, xx = np.mgrid[0:h, 0:w]
    design = np.stack([np.ones(x.size), yy.ravel(), xx.ravel()], axis=1)
    return (design @ np.linalg.lstsq(design, x.ravel(), rcond=None)[0]).reshape(h, w)


def autocovariance_2d(x: np.ndarray, max_lag: int) -> np.ndarray:
    """(2 max_lag + 1, 2 max_lag + 1) biased autocovariance of a (Y, X) array, lags -max_lag..max_lag
    on each axis (index ``max_lag`` is lag 0)."""
    x = x - x.mean()
    h, w = x.shape
    f = np.fft.rfft2(x, (2 * h, 2 * w))
    acf = np.fft.irfft2(np.abs(f) ** 2, (2 * h, 2 * w)) / x.size
    lags = np.r_[np.arange(-max_lag, 0), np.arange(0, max_lag + 1)]
    return acf[np.ix_(lags % (2 * h), lags % (2 * w))]


def wiener_2d(
    x: np.ndarray,
    acov: np.ndarray,
    noise_var: float,
    radius: int = FRAME_RADIUS,
    kernels: dict[tuple[int, int, int, int], np.ndarray] | None = None,
) -> np.ndarray:
    """Windowed Wiener filter of a (Y, X) frame about the least-squares plane through it.

    ``acov``: (>= 4 radius + 1)-square signal autocovariance, lag 0 at its centre; ``noise_var``:
    the white noise variance. ``kernels``: the weights already solved for each part of the window a
    border leaves (rows before and after, columns before and after), filled in as they are solved:
    they depend on ``acov``, ``noise_var`` and ``radius`` only, so a frame and its crops share them."""
    x = np.asarray(x, np.float64)
    h, w = x.shape
    trend = plane(x)
    side = 2 * radius + 1
    pad = np.pad(x - trend, radius)
    windows = sliding_window_view(pad, (side, side))  # (Y, X, side, side)
    c0 = acov.shape[0] // 2
    rows, cols = _reach(h, radius), _reach(w, radius)
    out = np.empty_like(x)
    for rb, ra in np.unique(rows, axis=0):
        ri = np.flatnonzero((rows[:, 0] == rb) & (rows[:, 1] == ra))
        for cb, ca in np.unique(cols, axis=0):
            ci = np.flatnonzero((cols[:, 0] == cb) & (cols[:, 1] == ca))
            reach = (int(rb), int(ra), int(cb), int(ca))
            kernel = None if kernels is None else kernels.get(reach)
            if kernel is None:
                oy, ox = (g.ravel() for g in np.meshgrid(np.arange(-rb, ra + 1), np.arange(-cb, ca + 1), indexing="ij"))
                c = acov[c0 + oy[:, None] - oy[None, :], c0 + ox[:, None] - ox[None, :]] + noise_var * np.eye(len(oy))
                kernel = np.zeros((side, side))
                kernel[oy + radius, ox + radius] = np.linalg.solve(c, acov[c0 + oy, c0 + ox])
                if kernels is not None:
                    kernels[reach] = kernel
            if len(ri) * len(ci) > 4 * side * side:  # the interior: one kernel, filtered in one go
                full = fftconvolve(pad, kernel[::-1, ::-1], mode="valid")
                out[np.ix_(ri, ci)] = full[np.ix_(ri, ci)]
            else:
                out[np.ix_(ri, ci)] = np.tensordot(windows[np.ix_(ri, ci)], kernel, axes=([2, 3], [0, 1]))
    return out + trend


def oracle_spectral_wiener(clean: np.ndarray, noisy: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The Wiener filter across wavelength of a (T, W) recording, each sample on its own: the
    signal's and the noise's covariance between bins taken from the clean and noisy recording
    (about their time means), each sample's deviation from the time mean mapped by
    ``S (S + N)^-1``. The returned pipeline takes that recording, any stretch of it in time, or
    a crop cut equally from both ends of its spectrum (the covariances restricted to the bins
    left). It filters nothing over time and keeps each bin's time mean as recorded."""
    w_all = clean.shape[1]
    sig = np.cov(clean, rowvar=False)
    noise = np.cov(noisy - clean, rowvar=False)

    def run(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        cut, odd = divmod(w_all - x.shape[1], 2)
        if odd or cut < 0:
            raise ValueError(f"{x.shape[1]} bins are not the recording's {w_all} cut equally at both ends")
        keep = slice(cut, w_all - cut)
        s, n = sig[keep, keep], noise[keep, keep]
        mean = x.mean(axis=0)
        return (x - mean) @ np.linalg.solve(s + n, s) + mean  # S (S + N)^-1, both symmetric

    return run


def oracle_frame_wiener(
    clean: np.ndarray, noisy: np.ndarray, radius: int = FRAME_RADIUS
) -> Callable[[np.ndarray], np.ndarray]:
    """A windowed Wiener filter of frames, with the signal autocovariance of the clean (Y, X) frame
    about its least-squares plane and the mean noise variance of ``noisy``. The returned pipeline
    takes that frame or any crop of it; it solves each part of the window's weights once, on the
    first call that needs it, and keeps them for the later calls."""
    acov = autocovariance_2d(clean - plane(clean), 2 * radius)
    noise_var = float(np.mean((noisy - clean) ** 2))
    kernels: dict[tuple[int, int, int, int], np.ndarray] = {}
    return lambda x: wiener_2d(x, acov, noise_var, radius, kernels)


#: Samples on each side of the temporal oracle's window, and the spectral components whose traces it
#: filters (the clean recording's leading ones: the generator's recordings hold a handful of spectra).
TIME_RADIUS, TIME_RANK = 32, 8


def autocovariance_1d(x: np.ndarray, max_lag: int) -> np.ndarray:
    """(K, max_lag + 1) biased autocovariance of each column of a (T, K) array, lags 0..max_lag."""
    x = x - x.mean(axis=0)
    n = len(x)
    f = np.fft.rfft(x, 2 * n, axis=0)
    return (np.fft.irfft(np.abs(f) ** 2, 2 * n, axis=0)[: max_lag + 1] / n).T


def wiener_1d(traces: np.ndarray, signal: np.ndarray, noise: np.ndarray, radius: int = TIME_RADIUS) -> np.ndarray:
    """Windowed Wiener filter over time of each column of a (T, K) array about its mean: column k's
    value at t estimated from the samples within ``radius`` of t that exist, by the weights that
    ``signal[k]`` and ``noise[k]`` (autocovariances, lags 0..>= 2 radius) give for that window, solved
    anew for each window the recording's ends cut."""
    x = np.asarray(traces, np.float64)
    mean = x.mean(axis=0)
    x = x - mean
    n, k = x.shape
    side = 2 * radius + 1
    pad = np.pad(x, ((radius, radius), (0, 0)))
    windows = sliding_window_view(pad, side, axis=0)  # (T, K, side)
    reach = _reach(n, radius)
    out = np.empty_like(x)
    for before, after in np.unique(reach, axis=0):
        rows = np.flatnonzero((reach[:, 0] == before) & (reach[:, 1] == after))
        off = np.arange(-before, after + 1)
        lag = np.abs(off[:, None] - off[None, :])
        for j in range(k):
            kernel = np.zeros(side)
            kernel[off + radius] = np.linalg.solve(signal[j][lag] + noise[j][lag], signal[j][np.abs(off)])
            out[rows, j] = windows[rows, j] @ kernel
    return out + mean


def oracle_temporal_wiener(
    clean: np.ndarray, noisy: np.ndarray, rank: int = TIME_RANK, radius: int = TIME_RADIUS
) -> Callable[[np.ndarray], np.ndarray]:
    """The Wiener filter over time of a (T, W) recording's leading spectral components: the clean
    recording's ``rank`` leading principal components (about its time mean) as the basis, and each
    component trace filtered by :func:`wiener_1d` with the clean trace's autocovariance as the
    signal's and the noise trace's (``noisy - clean`` through the same basis) as the noise's, so
    that the noise's correlation in time is known too. What lies outside the components is dropped
    and each bin's time mean kept as recorded, so only its ratios after taking out each bin's
    time-mean error compare. The returned pipeline takes that recording, any stretch of it in time,
    or a crop cut equally from both ends of its spectrum (the traces then fitted by least squares
    on the bins left, and their statistics taken the same way)."""
    w_all = clean.shape[1]
    centre = clean.mean(axis=0)
    basis = np.linalg.svd(clean - centre, full_matrices=False)[2][:rank].T  # (W, rank)
    cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def run(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        cut, odd = divmod(w_all - x.shape[1], 2)
        if odd or cut < 0:
            raise ValueError(f"{x.shape[1]} bins are not the recording's {w_all} cut equally at both ends")
        if cut not in cache:
            keep = slice(cut, w_all - cut)
            b = basis[keep]
            fit = np.linalg.pinv(b)  # (rank, W'): least-squares traces from the bins left
            signal = autocovariance_1d((clean[:, keep] - centre[keep]) @ fit.T, 2 * radius)
            noise = autocovariance_1d((noisy - clean)[:, keep] @ fit.T, 2 * radius)
            cache[cut] = (b, fit, signal, noise)
        b, fit, signal, noise = cache[cut]
        mean = x.mean(axis=0)
        return wiener_1d((x - mean) @ fit.T, signal, noise, radius) @ b.T + mean

    return run
