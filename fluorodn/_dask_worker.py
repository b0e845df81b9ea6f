"""The worker side of :mod:`fluorodn.dask`: one Denoiser per process, and the functions
the task graph runs on each block.

The graph holds only a model's name or path, its sha256 and the options; each process
builds its Denoiser once (:func:`cached_denoiser`) and checks that it runs the file the
client planned with.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from ._engine import check_input, check_values, removal_check
from .errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from . import Denoiser, DenoiserOptions

__all__ = [
    "LOADS",
    "cached_denoiser",
    "check_block",
    "reconstruct_block",
    "run_block_2d",
    "run_block_3d",
    "run_block_spectral",
    "run_block_traces",
]

_CACHE: dict[tuple[str, str, str], Denoiser] = {}
_CACHE_LOCK = threading.Lock()
#: How many times this process built a Denoiser, per cache key (inspected by tests).
LOADS: Counter[tuple[str, str, str]] = Counter()


def cached_denoiser(model: str, device: str, options: DenoiserOptions | None) -> Denoiser:
    """One Denoiser per (model, device, options) and process; thread-safe."""
    key = (model, device, repr(options))
    den = _CACHE.get(key)
    if den is None:
        with _CACHE_LOCK:
            den = _CACHE.get(key)
            if den is None:
                from . import Denoiser

                kw: dict[str, Any] = {"device": device}
                if options is not None:
                    kw["options"] = options
                den = Denoiser(model, **kw)
                _CACHE[key] = den
                LOADS[key] += 1
    return den


def worker_denoiser(model: str, device: str, options: Any, sha256: str | None) -> Denoiser:
    den = cached_denoiser(model, device, options)
    if sha256 and getattr(den, "sha256", None) and den.sha256 != sha256:
        raise ModelError(
            f"model {model!r} on this worker has sha256 {den.sha256[:12]}..., but the client "
            f"planned with {sha256[:12]}...; install the same fluorodn/model files on every worker"
        )
    return den


def check_block(block: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
    """``block`` of the input array as it is, once :func:`fluorodn._engine.check_values` found it
    finite and within float32's range; its InputError names the index in the whole array, which
    dask's ``block_info`` places the block in."""
    origin = None
    if block_info and 0 in block_info:
        origin = tuple(int(lo) for lo, _ in block_info[0]["array-location"])
    check_values(block, origin)
    return block


def run_block_2d(
    block: np.ndarray,
    *,
    model: str,
    device: str,
    options: Any,
    sha256: str | None,
    scale: tuple[float, float],
    border: str,
) -> np.ndarray:
    """Denoise one overlapped 2D block with the array's global scale and the border handling
    chosen for the whole array (a block's own shape may look otherwise)."""
    den = worker_denoiser(model, device, options, sha256)
    return den.run(block, scale=(float(scale[0]), float(scale[1])), border=border)


def run_block_3d(
    block: np.ndarray,
    *,
    model: str,
    device: str,
    options: Any,
    sha256: str | None,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """Denoise a block of whole pages (k, Y, X): spectral recordings each on its own, frames each
    with its own scale. The warnings about the input come once, from the client
    (:func:`fluorodn.dask.denoise`), not per block: a worker's would be lost under a process or
    distributed scheduler. A refusal names the page's index in the whole stack, which dask's
    ``block_info`` places the block in."""
    den = worker_denoiser(model, device, options, sha256)
    first = int(block_info[0]["array-location"][0][0]) if block_info and 0 in block_info else 0
    arr = check_input(block, ndims=(3,), first_page=first) if block.shape[0] else block
    if den.kind != "spectral":
        if not block.shape[0]:
            return np.empty(block.shape, dtype=np.float32)
        out = den._run_image(arr)
        if den.options.keep_spots:  # whole pages: flattened spots are put back as one call puts them
            removal_check(list(arr), list(out), keep=True)
        return out
    out = np.empty(block.shape, dtype=np.float32)
    for k, page in enumerate(arr):
        out[k] = den._run_spectral(page, None, checks=False)[0]
    return out


def run_block_spectral(
    block: np.ndarray, *, model: str, device: str, options: Any, sha256: str | None, projection: Any
) -> np.ndarray:
    """Denoise one overlapped row block of a spectral recording with the recording's projection."""
    den = worker_denoiser(model, device, options, sha256)
    if block.shape[0] == 0:
        return np.empty(block.shape, dtype=np.float32)
    return den.run_projected(block, projection)


def run_block_traces(
    block: np.ndarray,
    *,
    model: str,
    device: str,
    options: Any,
    sha256: str | None,
    projection: Any,
    depth: int,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """The (T, K) denoised coefficient traces of one row block of a spectral recording, extended by
    ``depth`` rows of its neighbours on each side that has one (dask's overlap without a boundary),
    with the recording's projection; those rows trimmed off again."""
    den = worker_denoiser(model, device, options, sha256)
    k = projection.components
    if block.shape[0] == 0:
        return np.empty((0, k), dtype=np.float32)
    coef = den._projected_traces(block, projection)
    where, count = (
        (0, 1) if block_info is None else (block_info[0]["chunk-location"][0], block_info[0]["num-chunks"][0])
    )
    top = depth if where > 0 else 0
    bottom = depth if where < count - 1 else 0
    return np.ascontiguousarray(coef[top : coef.shape[0] - bottom])


def reconstruct_block(coef: np.ndarray, coef_mean: np.ndarray, bin_mean: np.ndarray, *, projection: Any) -> np.ndarray:
    """(T, W) float32 rows of a spectral recording from their (T, K) denoised traces, each bin's
    time mean over the whole recording being ``bin_mean`` ((1, W): the recording's own, as
    recorded) where the whole recording's traces have the time means ``coef_mean`` ((1, K))."""
    import dataclasses

    from . import spectral

    p = dataclasses.replace(
        projection,
        mean=np.asarray(bin_mean, np.float64)[0],
        coef_mean=np.asarray(coef_mean, np.float64)[0],
        whole=False,
    )
    return spectral.reconstruct(p, coef)
