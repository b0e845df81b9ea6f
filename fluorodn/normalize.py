"""The global intensity convention shared by training and inference.

A model never sees raw counts. For a whole 2D recording ``x`` the runtime computes
two numbers once, a centre ``m`` and a scale ``s``, and the network predicts the noise
of ``(x - m) / s``; the denoised recording is ``x - s * net((x - m) / s)``.

* ``m`` is the median of ``x``: an additive offset in the data cancels exactly.
* ``s`` is a robust estimate of the noise level (median absolute deviation of the
  differences between consecutive rows, i.e. along time), floored at a small fraction
  of the data's robust range so that data with almost no noise never blows up.

Both are equivariant (``m(k x) = k m(x)``, ``s(k x) = |k| s(x)``), so the result does
not depend on the data's units. Training (``fluorodn_train``) imports these functions,
so the two sides cannot drift apart. The convention's name is written into every
model's metadata as ``normalization``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "CONSTANT_SCALE",
    "CONVENTION",
    "MAX_SAMPLES",
    "RANGE_FLOOR",
    "ZERO_SCALE",
    "difference_noise",
    "floor_over_noise",
    "global_scale",
    "sample_rows",
    "scale_from_rows",
]

#: Name of this convention, as stored in model metadata.
CONVENTION = "median-mad-dt-v1"
#: The scale is never below this fraction of the 0.1-99.9 percentile range.
RANGE_FLOOR = 1e-3
#: Above this many values the statistics use an evenly strided subset of rows.
MAX_SAMPLES = 4_000_000

#: The scale of a constant input, relative to its value: a correction this small (times the
#: network's output) is far below half a float32 unit in the last place of the value.
CONSTANT_SCALE = 2.0**-64
#: The scale of an input that is all 0: a correction this small (times the network's output) is
#: below float32's smallest subnormal number, so the output is 0, while 1 / ZERO_SCALE stays finite.
ZERO_SCALE = 1e-300

_MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4)


def sample_rows(shape: tuple[int, int]) -> np.ndarray | None:
    """Rows that the statistics use: ``None`` for all of them, else sorted row indices.

    Inputs above ``MAX_SAMPLES`` values use evenly spaced *pairs* of consecutive rows
    (``idx[0::2]`` and ``idx[1::2] = idx[0::2] + 1``), so that a chunked array (dask)
    can fetch exactly the same rows and get exactly the same scale.
    """
    rows, cols = shape
    if rows * cols <= MAX_SAMPLES or rows < 4:
        return None
    n_pairs = max(1, MAX_SAMPLES // (2 * cols))
    starts = np.unique(np.linspace(0, rows - 2, n_pairs).astype(np.int64))
    return np.stack([starts, starts + 1], axis=1).ravel()


def median(values: np.ndarray, overwrite: bool = False) -> Any:
    """``np.median`` of 1D ``values``, the same number (and type), without the general function's
    fixed cost, which is most of a median's cost over the few thousand values the checks read.
    ``overwrite``: ``values`` may be reordered in place (no copy)."""
    n = values.size
    if n == 0:
        return np.median(values)
    half = n // 2
    nan = values.dtype.kind in "fc"
    middle = (half - 1, half) if n % 2 == 0 else (half,)
    kth = (*middle, n - 1) if nan else middle
    if overwrite:
        values.partition(kth)
        part = values
    else:
        part = np.partition(values, kth)
    if nan and np.isnan(part[-1]):  # NaN sorts last
        return part[-1]
    return part[middle[0] : half + 1].mean()


#: Widest span of whole numbers whose MAD :func:`counted_mad` takes by counting them (the counts of
#: its values, 512 KiB).
COUNTED_SPAN = 1 << 16
#: Fewest values :func:`difference_noise` counts: on fewer, two partitions cost as little.
COUNTED_LEAST = 4096


def counted_mad(values: np.ndarray) -> float | None:
    """``np.median(np.abs(values - np.median(values)))`` of 1D ``values`` that are whole numbers
    spanning at most :data:`COUNTED_SPAN` (a camera's or a spectrometer's counts, and their
    differences), as a float, the same number, from the counts of their values instead of two
    partitions (a few times faster on tens of thousands of values); None for any other values, and
    for whole numbers in float16 or beyond 2^23 in float32, whose medians numpy rounds."""
    n = values.size
    kind, size = values.dtype.kind, values.dtype.itemsize
    if n == 0 or kind not in "iuf" or (kind == "f" and size < 4):
        return None
    if kind == "f":  # continuous values show a fraction among a few of them, spread over them all
        look = values[:: max(1, n // 64)]
        if not np.array_equal(look, np.rint(look)):
            return None
    lo, hi = values.min(), values.max()
    top = 1 << (23 if kind == "f" and size == 4 else 24)
    if not (lo > -top and hi < top and int(hi) - int(lo) <= COUNTED_SPAN):  # NaN fails the first
        return None
    whole = values.astype(np.int64)
    if kind == "f" and not np.array_equal(whole, values):
        return None
    half = n // 2

    def doubled_median(v: np.ndarray) -> int:  # twice the median of the non-negative ints v
        ranks = np.cumsum(np.bincount(v))
        upper = int(np.searchsorted(ranks, half + 1))  # the value of rank half (from 0)
        lower = int(np.searchsorted(ranks, half)) if n % 2 == 0 else upper
        return lower + upper

    centre = doubled_median(whole - int(lo)) + 2 * int(lo)  # twice the median
    return doubled_median(np.abs(2 * whole - centre)) / 4.0


def difference_noise(d: np.ndarray) -> float:
    """The noise level of values whose differences between neighbours are ``d`` (any shape):
    their MAD, as a standard deviation, over sqrt 2."""
    d = np.asarray(d).ravel()
    mad = counted_mad(d) if d.size >= COUNTED_LEAST else None
    if mad is None:
        mad = float(median(np.abs(d - median(d)), overwrite=True))
    return _MAD_TO_SIGMA * mad / float(np.sqrt(2.0))


def scale_from_rows(sub: np.ndarray, paired: bool) -> tuple[float, float]:
    """(m, s) from the rows chosen by :func:`sample_rows`.

    ``paired`` is True when ``sub`` holds row pairs (``sample_rows`` returned indices),
    False when it is the whole array.
    """
    sub = np.asarray(sub, dtype=np.float64)
    m = float(np.median(sub))
    noise, floor = _noise_and_floor(sub, paired)
    s = max(noise, floor)
    if not s > 0.0:  # all but a few values alike (a sparse frame of photon counts): the whole range
        s = RANGE_FLOOR * float(np.ptp(sub))
    if not np.isfinite(s) or s <= 0.0:
        # constant input: the network sees zeros whatever the scale, and this scale makes its
        # correction vanish in the float32 output, which is then the constant itself
        s = abs(m) * CONSTANT_SCALE if m else ZERO_SCALE
    return m, float(s)


def _noise_and_floor(sub: np.ndarray, paired: bool) -> tuple[float, float]:
    """(noise, floor) of :func:`scale_from_rows` (float64 ``sub``): the noise its differences give, and
    :data:`RANGE_FLOOR` times its 0.1-99.9 percentile range."""
    if paired:
        d = sub[1::2] - sub[0::2]
    elif sub.shape[0] >= 2:
        d = np.diff(sub, axis=0)
    elif sub.shape[1] >= 2:
        d = np.diff(sub, axis=1)
    else:
        d = np.zeros(1)
    lo, hi = np.percentile(sub, [0.1, 99.9])
    return difference_noise(d), RANGE_FLOOR * float(hi - lo)


def floor_over_noise(x: np.ndarray) -> float:
    """How many times the noise :func:`global_scale` measures on the 2D ``x`` its range's floor
    (:data:`RANGE_FLOOR` of the 0.1-99.9 percentile range) stands: above 1, the floor is the scale
    the network sees ``x`` at (inf where no noise is measured)."""
    idx = sample_rows(x.shape)
    noise, floor = (
        _noise_and_floor(np.asarray(x, np.float64), False)
        if idx is None
        else _noise_and_floor(np.asarray(x[idx], np.float64), True)
    )
    return floor / noise if noise > 0 else math.inf


def global_scale(x: np.ndarray) -> tuple[float, float]:
    """Centre and noise scale of one 2D recording.

    Parameters
    ----------
    x : (T, W) array of real numbers, finite.

    Returns
    -------
    (m, s) : floats with ``s > 0``. The network input is ``(x - m) / s``.
    """
    if x.ndim != 2:
        raise ValueError(f"global_scale expects a 2D array, got shape {x.shape}")
    idx = sample_rows(x.shape)
    if idx is None:
        return scale_from_rows(x, paired=False)
    return scale_from_rows(x[idx], paired=True)
