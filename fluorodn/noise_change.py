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
    "BLOCK_VALUES",
    "CHANGE",
    "LEVEL_RANGE",
    "PROFILE_ROWS",
    "STILL",
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
#: Rows of each block (more where the recording has few bins, to hold :data:`BLOCK_VALUES`; fewer on
#: a recording shorter than ``BLOCKS`` of them, at least 8).
BLOCK_ROWS = 64
#: Values each block holds at least, or the change is not read (1.0): a block's level is a median
#: over its values, and on fewer its spread alone passes :data:`CHANGE` (steady noise on 24-40 bins
#: and 100-150 samples read up to 1.88, 14 of 160 draws over 1.6; ad hoc).
BLOCK_VALUES = 2048
#: :func:`change` above this: the recording's noise is made steady before denoising. On 194
#: recordings of the training domain and of the benchmarks (the oscillations benchmark's in-domain
#: set: the events benchmark's of 4 seeds, the quality benchmark's stress recordings and 150 draws of
#: the widened generator, 600-12000 samples, bleached up to 6.6 x in light) it read at most 1.11, on
#: physically bleached recordings (noise following the light) 1.07-1.10; shot noise from 0.3 to 0.6
#: halfway through a recording reads 1.53-2.01, where one noise level costs the quiet half nothing
#: yet, from 0.2 to 0.8 2.26-3.93, where it does (``python -m benchmarks noise-changes``).
CHANGE = 1.6
#: Rows of the running median that smooths each sample's noise level (:func:`profile`).
PROFILE_ROWS = 65
#: A row whose second difference is under this share of the median one holds no noise (:func:`_still`).
STILL = 1e-3
#: :func:`profile` keeps each sample's level within this many times the median either way.
LEVEL_RANGE = 100.0


class NoiseChange(str):
    """The message of a recording whose noise was made steady (:class:`fluorodn.NoiseChangeNotice`)."""


def _residual(d: np.ndarray, basis_rows: np.ndarray) -> np.ndarray:
    """``d`` (N, W), its bins each divided by a noise level, less its leading spectral components
    (:data:`fluorodn.spectral.DIFF_COMPONENTS`, found among ``basis_rows``): what fast signal is
    left in time differences spans a few spectra, the noise all the bins."""
    k = min(spectral.DIFF_COMPONENTS, d.shape[1] // 4, len(basis_rows) // 4)
    if k == 0:
        return d
    v = spectral._leading_vectors(basis_rows.T @ basis_rows, k)
    return d - (d @ v) @ v.T


def _still(curvature: np.ndarray) -> np.ndarray:
    """(N,) bool: the time differences that hold no noise, from ``curvature`` (N + 1,), the median
    absolute second difference across the bins (``curvature[i]``: difference ``i`` less difference
    ``i - 1``, infinite where there is none): those next to one under :data:`STILL` of the median of
    those above 0. A frame
    repeated, a gap filled with one spectrum or by a straight line (``--nan fill``), changes by the
    same step from row to row, which noise never does; such rows say nothing of the noise around."""
    above = curvature[curvature > 0]
    flat = curvature <= STILL * float(np.median(above)) if above.size else np.ones(len(curvature), bool)
    return flat[:-1] | flat[1:]


def _levels_and_light(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """(noise level, light) of each of :data:`BLOCKS` blocks of :data:`BLOCK_ROWS` contiguous rows
    spread over a (T, W) recording. Level: the median over its rows that hold noise (:func:`_still`;
    NaN where under 8 do) of each row's median absolute time difference across the bins, each bin
    divided by its mean absolute one over all the blocks, after :func:`_residual`. Light: its mean
    spectrum's mean over the bins less its lowest bin (the detector's offset, which a spectrum's
    dimmest bin holds with little light, left out). Empty where the blocks would hold under
    :data:`BLOCK_VALUES` values each, or the recording under 18 rows."""
    t, w = x.shape
    n = min(max(BLOCK_ROWS, -(-BLOCK_VALUES // w)), max(8, t // BLOCKS))
    count = min(BLOCKS, (t - 2) // n)
    if count < 2 or n * w < BLOCK_VALUES:
        return np.empty(0), np.empty(0)
    starts = np.linspace(0, t - n - 2, count).astype(int)
    rows = (starts[:, None] + np.arange(n + 2)[None, :]).ravel()  # each block and the two rows after it
    read = np.asarray(x[rows], np.float64).reshape(count, n + 2, w)  # one read (a Dask array: one compute)
    first = read[:, : n + 1]
    d = read[:, 1:] - first
    scale = np.mean(np.abs(d), axis=(0, 1))
    d /= np.where(scale > 0, scale, 1.0)
    curvature = np.median(np.abs(np.diff(d, axis=1)), axis=2)  # (count, n)
    diffs = d[:, :n].reshape(-1, w)
    per_row = np.median(np.abs(_residual(diffs, diffs)), axis=1).reshape(count, n)
    # each block's first difference has no curvature before it within the block: only the one after
    still = np.array([_still(np.concatenate([[np.inf], c])) for c in curvature])
    moving = ~still & (per_row > 0)
    levels = np.array([np.median(v[m]) if m.sum() >= 8 else np.nan for v, m in zip(per_row, moving, strict=True)])
    spectra = first[:, :n].mean(axis=1)
    return levels, spectra.mean(axis=1) - spectra.min(axis=1)


def change(x: Any) -> float:
    """How many times its noise level changes over a (T, W) recording, beyond what its light
    explains (``x`` a NumPy array, or one that indexes rows as NumPy does: a Dask array): the ratio
    of the noisiest block's level to the quietest's (:func:`_levels_and_light`; blocks without noise
    to read left out), and the same ratio of each level over what read and shot noise give at its
    block's light (the square root of ``a + b * light``, ``a`` and ``b`` at least 0 fitted to the
    blocks: shot noise follows the light, as in bleaching, read noise does not); the smaller of the
    two. A change the light explains reads about 1; one under a steady light reads the change. 1.0
    on a recording too short to tell, or whose noise does not change."""
    levels, light = _levels_and_light(x)
    keep = np.isfinite(levels) & (levels > 0)
    if keep.sum() < 2:
        return 1.0
    levels, light = levels[keep], light[keep]
    steady = float(levels.max() / levels.min())
    if not np.all(light > 0):
        return steady
    from scipy.optimize import nnls

    # read noise and shot noise: a variance of a + b * light, a and b at least 0, fitted to each
    # block's relative to its own (the same share of every block's variance counts alike)
    var = levels**2
    (a, b), _ = nnls(np.stack([np.ones_like(light), light], axis=1) / var[:, None], np.ones_like(var))
    if not a + b > 0:
        return steady
    left = levels / np.sqrt(a + b * light)
    return min(steady, float(left.max() / left.min()))


def profile(x: np.ndarray) -> np.ndarray:
    """(T,) float64 the noise level of a (T, W) recording at each sample, over its median: the
    median absolute time difference across its bins (each divided by its noise level,
    :func:`fluorodn.spectral.noise_levels`, after :func:`_residual`), smoothed by a running median
    over :data:`PROFILE_ROWS` samples, which keeps a sudden change sudden. Rows that hold no noise
    (:func:`_still`) take their neighbours' level; the level stays within :data:`LEVEL_RANGE`
    times the median either way."""
    from scipy.ndimage import median_filter

    a = np.asarray(x, np.float64)
    sigma, _ = spectral.noise_levels(a)
    d = np.diff(a, axis=0) / sigma
    r = _residual(d, d[spectral._stat_rows(len(d))])
    per_row = np.median(np.abs(r), axis=1)
    moving = (per_row > 0) & ~_still(
        np.concatenate([[np.inf], np.median(np.abs(np.diff(d, axis=0)), axis=1), [np.inf]])
    )
    if not moving.any():
        return np.ones(len(a))
    at = np.arange(len(per_row))
    per_row = np.interp(at, at[moving], per_row[moving])
    level = median_filter(per_row, min(PROFILE_ROWS, len(per_row)) | 1, mode="nearest")
    level = np.concatenate([level[:1], level])  # the difference into each row, the first row's own
    return np.clip(level / float(np.median(level)), 1.0 / LEVEL_RANGE, LEVEL_RANGE)


def steadied(x: np.ndarray, level: np.ndarray) -> np.ndarray:
    """(T, W) float64: each row's departure from the time median of each bin, divided by its noise
    ``level`` (:func:`profile`), about that median: the same recording with steady noise."""
    a = np.asarray(x, np.float64)
    mid = spectral._column_median(a[spectral._stat_rows(len(a))])
    return mid + (a - mid) / level[:, None]


def unsteadied(x: np.ndarray, steady: np.ndarray, out: np.ndarray, level: np.ndarray) -> np.ndarray:
    """(T, W) float32: the output for ``x`` from the output ``out`` of its :func:`steadied`
    recording ``steady``. What was removed from it varies in time at ``level`` (the noise, and
    signal taken with it), and is removed from ``x`` at each row's level; each bin's time median of
    it (a detector's fixed pattern, which does not change with the noise) as it is."""
    removed = np.asarray(steady, np.float64) - np.asarray(out, np.float64)
    # the median: a stretch where much was removed (frames repeated, a flash) moves a mean, which the
    # quiet part would then take at the noisy part's level
    fixed = spectral._column_median(removed)
    y = np.asarray(x, np.float64) - fixed - (removed - fixed) * level[:, None]
    return y.astype(np.float32)


def message(read: float, level: np.ndarray, index: np.ndarray | None = None) -> NoiseChange:
    """The sentence telling that a recording's noise changes over time: ``read`` (:func:`change`)
    and where its quietest and noisiest samples lie (of ``level``, :func:`profile`; ``index``: each
    row's sample index in the recording the message names; None: its own)."""
    at = np.arange(len(level)) if index is None else np.asarray(index)
    quiet, noisy = int(at[int(np.argmin(level))]), int(at[int(np.argmax(level))])
    return NoiseChange(
        f"the noise level changes {read:.1f} x over the recording (quietest near sample {quiet}, noisiest "
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
