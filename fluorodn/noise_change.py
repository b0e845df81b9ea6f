"""Spectral recordings whose noise level changes over time.

The spectral model was trained on recordings whose noise level is steady, or follows their light
(shot noise falls with bleaching, as the light does). :func:`fluorodn.spectral.fit` gives each
bin one noise level for the whole recording, and the network is told one level per trace. Where
the noise changes without the light (sessions joined, the spectrometer's gain or averaging
changed, or bleaching divided out before denoising, which raises the noise as the correction
grows), the quieter part is denoised as if it were as noisy as the whole: changes that stand
above its own noise are removed, and the sensor's trace there can end worse than raw.

:func:`change` tells such a recording from a few blocks of rows; :func:`profile` reads its noise
level at every sample; :func:`steadied` divides each sample's departure from the time median by
that level, so that the spectral path sees steady noise (and each part's signal at its own
signal-to-noise ratio), and :func:`unsteadied` puts what it removed back into the recording's
units. ``python -m benchmarks noise-changes`` measures both sides.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fluorodn import spectral

__all__ = [
    "BLOCKS",
    "BLOCK_ROWS",
    "CHANGE",
    "PROFILE_ROWS",
    "NoiseChange",
    "change",
    "extremes",
    "message",
    "one_level_message",
    "profile",
    "steadied",
    "unsteadied",
]

#: Blocks of contiguous rows, spread evenly over the recording, whose noise :func:`change` compares.
BLOCKS = 16
#: Rows of each block (fewer on a recording shorter than ``BLOCKS`` of them, at least 8).
BLOCK_ROWS = 64
#: :func:`change` above this: the recording's noise is made steady before denoising. On 194
#: recordings of the training domain and of the benchmarks (the oscillations benchmark's in-domain
#: set: the events benchmark's of 4 seeds, the quality benchmark's stress recordings and 150 draws of
#: the widened generator, 600-12000 samples, bleached up to 6.6 x in light) it read at most 1.44;
#: the shot noise scaled from 0.3 to 0.6 halfway through a recording reads 1.69
#: (``python -m benchmarks noise-changes``).
CHANGE = 1.6
#: Rows of the running median that smooths each sample's noise level (:func:`profile`).
PROFILE_ROWS = 65


class NoiseChange(str):
    """The message of a recording whose noise was made steady (:class:`fluorodn.NoiseChangeNotice`)."""


def _residual(d: np.ndarray, basis_rows: np.ndarray) -> np.ndarray:
    """``d`` (N, W), its bins each divided by a noise level, less its leading spectral components
    (:data:`fluorodn.spectral.DIFF_COMPONENTS`, found among ``basis_rows``): what fast signal is
    left in time differences spans a few spectra, the noise all the bins."""
    k = min(spectral.DIFF_COMPONENTS, d.shape[1] // 4, len(basis_rows) // 4)
    if k == 0:
        return d
    _, vecs = np.linalg.eigh(basis_rows.T @ basis_rows)
    v = vecs[:, -k:]
    return d - (d @ v) @ v.T


def _levels_and_light(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """(noise level, mean value) of each of :data:`BLOCKS` blocks of :data:`BLOCK_ROWS` contiguous
    rows spread over a (T, W) recording: the median absolute time difference of its bins, each
    bin divided by its mean absolute one over all the blocks, after :func:`_residual`; its mean
    over its values.
    Empty where the recording holds under 17 rows."""
    t, _ = x.shape
    n = min(BLOCK_ROWS, max(8, t // BLOCKS))
    count = min(BLOCKS, (t - 1) // n)
    if count < 2:
        return np.empty(0), np.empty(0)
    starts = np.linspace(0, t - n - 1, count).astype(int)
    rows = (starts[:, None] + np.arange(n)[None, :]).ravel()
    first = np.asarray(x[rows], np.float64)
    d = np.asarray(x[rows + 1], np.float64) - first
    scale = np.mean(np.abs(d), axis=0)
    d /= np.where(scale > 0, scale, 1.0)
    r = np.abs(_residual(d, d)).reshape(count, -1)
    return np.median(r, axis=1), first.reshape(count, -1).mean(axis=1)


def change(x: Any) -> float:
    """How many times its noise level changes over a (T, W) recording, beyond what its light
    explains (``x`` a NumPy array, or one that indexes rows as NumPy does: a Dask array): the ratio
    of the noisiest block's level to the quietest's (:func:`_levels_and_light`),
    and the same ratio of each level over the square root of its block's mean (shot noise follows
    the light, as in bleaching); the smaller of the two (noise steady, or following the light). 1.0
    on a recording too short to tell, or whose noise does not change."""
    levels, light = _levels_and_light(x)
    if len(levels) < 2 or not np.all(levels > 0):
        return 1.0
    steady = float(levels.max() / levels.min())
    if not np.all(light > 0):
        return steady
    shot = levels / np.sqrt(light)
    return min(steady, float(shot.max() / shot.min()))


def profile(x: np.ndarray) -> np.ndarray:
    """(T,) float64 the noise level of a (T, W) recording at each sample, over its median: the
    median absolute time difference across its bins (each divided by its noise level,
    :func:`fluorodn.spectral.noise_levels`, after :func:`_residual`), smoothed by a running median
    over :data:`PROFILE_ROWS` samples, which keeps a sudden change sudden."""
    from scipy.ndimage import median_filter

    a = np.asarray(x, np.float64)
    sigma, _ = spectral.noise_levels(a)
    d = np.diff(a, axis=0) / sigma
    r = _residual(d, d[spectral._stat_rows(len(d))])
    per_row = np.median(np.abs(r), axis=1)
    level = median_filter(per_row, min(PROFILE_ROWS, len(per_row)) | 1, mode="nearest")
    level = np.concatenate([level[:1], level])  # the difference into each row, the first row's own
    mid = float(np.median(level))
    if not mid > 0:
        return np.ones(len(a))
    return np.maximum(level / mid, 1e-3)


def steadied(x: np.ndarray, level: np.ndarray) -> np.ndarray:
    """(T, W) float64: each row's departure from the time median of each bin, divided by its noise
    ``level`` (:func:`profile`), about that median: the same recording with steady noise."""
    a = np.asarray(x, np.float64)
    mid = spectral._column_median(a[spectral._stat_rows(len(a))])
    return mid + (a - mid) / level[:, None]


def unsteadied(x: np.ndarray, steady: np.ndarray, out: np.ndarray, level: np.ndarray) -> np.ndarray:
    """(T, W) float32: the output for ``x`` from the output ``out`` of its :func:`steadied`
    recording ``steady``. What was removed from it varies in time at ``level`` (the noise, and
    signal taken with it), and is removed from ``x`` at each row's level; each bin's time mean of
    it (a detector's fixed pattern, which does not change with the noise) as it is."""
    removed = np.asarray(steady, np.float64) - np.asarray(out, np.float64)
    fixed = removed.mean(axis=0)
    y = np.asarray(x, np.float64) - fixed - (removed - fixed) * level[:, None]
    return y.astype(np.float32)


def message(level: np.ndarray, index: np.ndarray | None = None) -> NoiseChange:
    """The sentence telling that a recording's noise changes over time: how much between its
    quietest and noisiest samples (the 1st and 99th percentiles of ``level``) and where each lies
    (``index``: each row's sample index in the recording the message names; None: its own)."""
    lo, hi = np.percentile(level, [1, 99])
    at = np.arange(len(level)) if index is None else np.asarray(index)
    quiet, noisy = int(at[int(np.argmin(level))]), int(at[int(np.argmax(level))])
    return NoiseChange(
        f"the noise level changes {hi / lo:.1f} x over the recording (quietest near sample {quiet}, noisiest "
        f"near sample {noisy}), more than its light explains: each part was denoised at its own noise level"
    )


def extremes(snr: float, level: np.ndarray, limits: list[float] | None) -> float:
    """The brightness over noise to judge of a steadied recording whose brightness over noise is
    ``snr`` at its median noise level and whose noise was at ``level`` (:func:`profile`): at its
    noisiest samples (the 99th percentile of ``level``) where that is under the least of ``limits``
    (the trained range), else at its quietest (the 1st percentile) where that is over the most,
    else ``snr``: each part of the recording lies in the trained range, or the check says which
    side it leaves."""
    lo, hi = (0.0, np.inf) if limits is None else (float(limits[0]), float(limits[1]))
    quiet, noisy = np.percentile(level, [1, 99])
    if snr / noisy < lo:
        return float(snr / noisy)
    if snr / quiet > hi:
        return float(snr / quiet)
    return snr


def one_level_message(read: float) -> str | None:
    """Where :func:`change` read ``read`` over :data:`CHANGE`, the warning of a path that denoises a
    recording at one noise level (``fluorodn.dask``); None otherwise."""
    if not read > CHANGE:
        return None
    return (
        f"the noise level changes {read:.1f} x over the recording, more than its light explains, and fluorodn.dask "
        "denoises it at one noise level, which smooths its quieter part as if it were as noisy as the whole: "
        "denoise it with Denoiser().run, which denoises each part at its own noise level"
    )
