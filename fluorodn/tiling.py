"""Tile plans: cut a 2D image into equal windows whose cores stitch exactly.

A DnCNN output value at ``(i, j)`` depends only on inputs within ``halo`` rows and
columns of it (zero padding at the image border). So if every output pixel is taken
from a window in which it lies at least ``halo`` away from each window edge that is
not also an image edge, the stitched result equals the whole-image result (up to
float rounding).

All windows of a plan have the same shape: windows near the far border are shifted
inwards instead of being clipped. Equal shapes let the runtime send several windows
(and windows of several pages) to the network in one batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Tile", "TilePlan", "axis_windows", "even_window", "plan_tiles", "window_shape"]


@dataclass(frozen=True)
class Tile:
    """One window of a plan.

    ``window`` are the slices of the input to send to the network, ``core`` the slices
    of the output this window is responsible for, and ``inner`` the same region in
    window coordinates (rows, cols).
    """

    window: tuple[slice, slice]
    core: tuple[slice, slice]
    inner: tuple[slice, slice]


@dataclass(frozen=True)
class TilePlan:
    """Equal-shape windows covering an ``(H, W)`` image; their cores partition it."""

    shape: tuple[int, int]
    window: tuple[int, int]
    halo: int
    tiles: tuple[Tile, ...]

    @property
    def window_pixels(self) -> int:
        """Pixels of one window (halo included)."""
        return self.window[0] * self.window[1]

    def __iter__(self) -> Iterator[Tile]:
        return iter(self.tiles)

    def __len__(self) -> int:
        return len(self.tiles)


def axis_windows(length: int, window: int, halo: int) -> list[tuple[int, int, int, int]]:
    """Windows along one axis as ``(start, stop, core_start, core_stop)``.

    Parameters
    ----------
    length : size of the axis (>= 1).
    window : window size; clipped to ``length``. Must exceed ``2 * halo`` if smaller
        than ``length``.
    halo : receptive-field radius of the network.

    Returns
    -------
    Windows of size ``min(window, length)`` whose cores ``[core_start, core_stop)``
    partition ``[0, length)``. Every core position is at least ``halo`` away from each
    window end that is not an axis end.
    """
    if length < 1:
        raise ValueError(f"axis length must be positive, got {length}")
    window = min(window, length)
    if window == length:
        return [(0, length, 0, length)]
    if window <= 2 * halo:
        raise ValueError(f"window {window} must exceed twice the halo ({halo}) to leave a core")
    out = []
    a = 0
    while a < length:
        start = max(0, min(a - halo, length - window))
        stop = start + window
        b = length if stop >= length else stop - halo
        out.append((start, stop, a, b))
        a = b
    return out


def even_window(length: int, window: int, halo: int) -> int:
    """The smallest window size that covers ``length`` in as few windows as ``window`` does.

    With ``n = ceil((length - 2 halo) / (window - 2 halo))`` windows, each needs only
    ``ceil((length + 2 halo (n - 1)) / n)`` samples, so the halo is not recomputed more
    than it must be (a 2048-row page under a 1724-row budget runs as two 1044-row windows,
    not two of 1724).
    """
    if window >= length:
        return length
    if window <= 2 * halo:
        raise ValueError(f"window {window} must exceed twice the halo ({halo}) to leave a core")
    n = -(-(length - 2 * halo) // (window - 2 * halo))
    return -(-(length + 2 * halo * (n - 1)) // n)


def _count(length: int, window: int, halo: int) -> int:
    """Windows of size ``window`` (from :func:`even_window`) along an axis of ``length``."""
    return 1 if window >= length else -(-(length - 2 * halo) // (window - 2 * halo))


def window_shape(shape: tuple[int, int], halo: int, budget: int) -> tuple[int, int]:
    """Window shape for an ``(H, W)`` image under a budget of ``budget`` pixels per window.

    The whole image when it fits. Otherwise the shape, among those that split the
    columns into ``k`` equal windows (``k = 1``: whole rows, the usual case for time x
    wavelength recordings) and the rows into as few equal windows as the budget allows,
    that computes the fewest pixels in all (halos included; ties: fewer windows). A
    2048 x 2048 image under 2**18 pixels runs as 5 x 4 windows of 542 x 442 (1.14x its
    pixels) rather than 23 bands of 128 rows (1.44x). Windows are never smaller than
    ``4 * halo`` per side (or the image side), even if that exceeds the budget, so the
    halo costs at most 2x.
    """
    rows, cols = shape
    if rows * cols <= budget:
        return rows, cols
    min_side = max(4 * halo, 8)
    best: tuple[int, int, int, int] | None = None  # (computed pixels, windows, rows, cols)
    for k in range(1, max(1, cols // min_side) + 1):
        wc = cols if k == 1 else even_window(cols, -(-(cols + 2 * halo * (k - 1)) // k), halo)
        if _count(cols, wc, halo) != k or (k > 1 and wc < min_side):
            continue
        cap = budget // wc
        if cap < min(rows, min_side) or (cap < rows and cap <= 2 * halo):
            continue
        wr = even_window(rows, min(rows, cap), halo)
        n = _count(rows, wr, halo) * k
        cand = (n * wr * wc, n, wr, wc)
        if best is None or cand[:2] < best[:2]:
            best = cand
    if best is not None:
        return best[2], best[3]
    side = max(min_side, math.isqrt(budget))
    wr = min(rows, side)
    wc = min(cols, max(min_side, budget // wr))
    return wr, wc


def plan_tiles(
    shape: tuple[int, int],
    halo: int,
    budget: int | None = None,
    window: tuple[int, int] | None = None,
) -> TilePlan:
    """Tile plan of an ``(H, W)`` image.

    Parameters
    ----------
    shape : (H, W) of the image.
    halo : receptive-field radius of the network (>= 0).
    budget : most pixels per window; ignored if ``window`` is given.
    window : explicit window shape (rows, cols); each side is clipped to the image and
        must otherwise exceed ``2 * halo``.
    """
    rows, cols = int(shape[0]), int(shape[1])
    if halo < 0:
        raise ValueError(f"halo must be >= 0, got {halo}")
    if window is None:
        if budget is None:
            raise ValueError("give a pixel budget or a window shape")
        window = window_shape((rows, cols), halo, budget)
    ra = axis_windows(rows, window[0], halo)
    ca = axis_windows(cols, window[1], halo)
    tiles = tuple(
        Tile(
            window=(slice(r0, r1), slice(c0, c1)),
            core=(slice(rc0, rc1), slice(cc0, cc1)),
            inner=(slice(rc0 - r0, rc1 - r0), slice(cc0 - c0, cc1 - c0)),
        )
        for (r0, r1, rc0, rc1) in ra
        for (c0, c1, cc0, cc1) in ca
    )
    wshape = (ra[0][1] - ra[0][0], ca[0][1] - ca[0][0])
    return TilePlan(shape=(rows, cols), window=wshape, halo=halo, tiles=tiles)
