"""The image path's engine and the checks of what :meth:`fluorodn.Denoiser.run` is given.

:func:`denoise_pages` cuts each page into the equal windows of a tile plan, normalizes
them with the page's ``(m, s)``, sends them to the network in batches up to a pixel
budget, and writes ``page - s * noise`` of each window's core into the output; the cores
partition the page, so the stitched result equals the whole-page result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fluorodn.tiling import TilePlan

__all__ = ["Net", "Progress", "check_input", "check_scale", "denoise_pages"]

#: The network: a float32 batch in, the noise it estimates out (same shape).
Net = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[int], None]
#: Rows x cols checked for NaN/inf at a time (bounds the temporary boolean mask).
_CHECK_BLOCK = 1 << 22


def denoise_pages(
    net: Net,
    plan: TilePlan,
    budget: int,
    pages: Sequence[np.ndarray],
    scales: Sequence[tuple[float, float]],
    outs: Sequence[np.ndarray],
    progress: Progress | None,
) -> None:
    """Denoise ``pages`` (all of ``plan.shape``) into ``outs`` (float32), page ``p`` with ``scales[p]``.

    Windows of each page (the network zero-pads at the page border, as in training) are
    batched up to ``budget`` pixels per call, across pages; the cores of the windows
    stitch exactly. ``progress`` is called with the output pixels finished after each call.
    """
    wr, wc = plan.window
    per_call = max(1, min(budget // plan.window_pixels, len(plan) * len(pages)))
    batch = np.empty((per_call, 1, wr, wc), dtype=np.float32)
    norm = np.empty((wr, wc), dtype=np.float64)
    pending: list[tuple[int, Any]] = []

    def flush() -> None:
        n = len(pending)
        noise = net(batch[:n])
        done = 0
        for k, (p, tile) in enumerate(pending):
            _, s = scales[p]
            core = pages[p][tile.core]
            np.subtract(
                core,
                s * noise[k, 0][tile.inner].astype(np.float64),
                out=norm[: core.shape[0], : core.shape[1]],
            )
            outs[p][tile.core] = norm[: core.shape[0], : core.shape[1]]
            done += core.size
        pending.clear()
        if progress is not None:
            progress(done)

    for p, page in enumerate(pages):
        m, s = scales[p]
        inv = 1.0 / s
        for tile in plan:
            win = page[tile.window]
            np.subtract(win, m, out=norm)
            norm *= inv
            batch[len(pending), 0] = norm
            pending.append((p, tile))
            if len(pending) == per_call:
                flush()
    if pending:
        flush()


def check_input(x: Any, ndims: tuple[int, ...]) -> np.ndarray:
    """``x`` as an array of real numbers with one of ``ndims`` dimensions, not empty, finite;
    ValueError naming what is wrong otherwise."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    kind = arr.dtype.kind
    if kind not in "iuf":
        what = {"b": "boolean", "c": "complex", "O": "object", "U": "string", "S": "bytes"}.get(kind, str(arr.dtype))
        raise ValueError(f"expected an array of real numbers (ints or floats), got {what} dtype {arr.dtype}")
    if arr.ndim not in ndims:
        want = " or ".join(f"{n}D" for n in ndims)
        raise ValueError(f"expected a {want} array ((H, W) or (pages, H, W)), got {arr.ndim}D with shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"expected a non-empty array, got shape {arr.shape}")
    if kind == "f":
        _check_finite(arr)
    return arr


def _check_finite(arr: np.ndarray) -> None:
    """Raise ValueError at the first NaN/inf, scanning in blocks so memory stays bounded."""
    pages = [arr] if arr.ndim == 2 else (arr[i] for i in range(arr.shape[0]))
    for p, page in enumerate(pages):
        step = max(1, _CHECK_BLOCK // page.shape[1])
        for r in range(0, page.shape[0], step):
            block = page[r : r + step]
            if not np.isfinite(block).all():
                i, j = (int(v) for v in np.argwhere(~np.isfinite(block))[0])
                where = (r + i, j) if arr.ndim == 2 else (p, r + i, j)
                raise ValueError(
                    f"input contains NaN or infinite values (first at index {where}); "
                    "replace them first, e.g. with np.nan_to_num"
                )


def check_scale(scale: Any) -> tuple[float, float]:
    """A user's ``(m, s)``: two finite numbers, ``s > 0``; ValueError otherwise."""
    try:
        m, s = (float(v) for v in scale)
    except (TypeError, ValueError) as err:
        raise ValueError(f"scale must be a pair (m, s) of numbers, got {scale!r}") from err
    if not (np.isfinite(m) and np.isfinite(s) and s > 0):
        raise ValueError(f"scale (m, s) must be finite with s > 0, got {scale!r}")
    return m, s
