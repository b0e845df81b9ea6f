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

__all__ = ["Tile", "TilePlan", "axis_windows", "plan_tiles", "window_shape"]


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


def window_shape(shape: tuple[int, int], halo: int, budget: int) -> tuple[int, int]:
    """Window shape for an ``(H, W)`` image under a budget of ``budget`` pixels per window.

    The whole image when it fits; otherwise whole rows when a band of rows at least
    ``4 * halo`` high fits (the usual case for time x wavelength recordings), else
    square-ish windows. Windows are never smaller than ``4 * halo`` per side (or the
    image side), even if that exceeds the budget, so the halo costs at most 2x.
    """
    rows, cols = shape
    if rows * cols <= budget:
        return rows, cols
    min_side = max(4 * halo, 8)
    band = budget // cols
    if band >= min(rows, min_side):
        return min(rows, band), cols
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
