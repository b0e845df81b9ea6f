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

import numpy as np

__all__ = ["CONVENTION", "MAX_SAMPLES", "RANGE_FLOOR", "global_scale"]

#: Name of this convention, as stored in model metadata.
CONVENTION = "median-mad-dt-v1"
#: The scale is never below this fraction of the 0.1-99.9 percentile range.
RANGE_FLOOR = 1e-3
#: Above this many values the statistics use an evenly strided subset of rows.
MAX_SAMPLES = 4_000_000

_MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4)


def _row_subset(x: np.ndarray) -> np.ndarray:
    """Evenly strided pairs of consecutive rows, so that huge inputs stay cheap."""
    rows, cols = x.shape
    if rows * cols <= MAX_SAMPLES or rows < 4:
        return x
    n_pairs = max(1, MAX_SAMPLES // (2 * cols))
    starts = np.linspace(0, rows - 2, n_pairs).astype(np.int64)
    idx = np.stack([starts, starts + 1], axis=1).ravel()
    return x[idx]


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
    sub = np.asarray(_row_subset(x), dtype=np.float64)
    m = float(np.median(sub))
    if sub.shape[0] >= 2:
        if sub is x or sub.shape[0] == x.shape[0]:
            d = np.diff(sub, axis=0)
        else:  # strided pairs: differences inside each pair only
            d = sub[1::2] - sub[0::2]
    elif sub.shape[1] >= 2:
        d = np.diff(sub, axis=1)
    else:
        d = np.zeros(1)
    d = d.ravel()
    noise = _MAD_TO_SIGMA * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(2.0)
    lo, hi = np.percentile(sub, [0.1, 99.9])
    floor = RANGE_FLOOR * float(hi - lo)
    s = max(noise, floor)
    if not np.isfinite(s) or s <= 0.0:
        # constant input: a tiny scale makes the network's correction vanish
        s = max(abs(m) * 1e-6, float(np.finfo(np.float32).tiny))
    return m, float(s)
