"""Scale-out with Dask: denoise arrays larger than one machine on an existing cluster.

Optional: needs ``pip install fluorodn[dask]`` (dask[array], distributed, zarr).
Nothing here is imported by the core package, and dask/zarr are imported only
when a function of this module is called.

How exactness is kept for any chunking
--------------------------------------
The network's output at a pixel depends only on inputs within ``halo`` rows and
columns of it; at the true image border the page is extended by mirrored pixels (or the
network zero-pads, for pages that look spectral: :meth:`fluorodn.Denoiser.run`'s ``border``).
So a 2D array is denoised with :func:`dask.array.map_overlap`:

* the global ``(m, s)`` is computed once, on the client, exactly as
  :func:`fluorodn.normalize.global_scale` does on the whole array (the same rows,
  fetched with :func:`~fluorodn.normalize.sample_rows`);
* every chunk is extended by ``halo`` rows/columns of its neighbours only
  (``boundary="none"``: no fake data beyond the array border, where each block is
  extended exactly as the whole array is), denoised with that shared scale and the
  whole array's border handling, and trimmed back.

3D stacks (pages, Y, X) are denoised page by page, each page with its own scale,
as :meth:`fluorodn.Denoiser.run` does; chunks are made to hold whole pages.

Each worker process loads a model once (a per-process cache); the task graph
holds only the model's name or path and its sha256, never the model bytes.

The out-of-domain checks of :meth:`fluorodn.Denoiser.run` run once, on the client, when the
graph is built, and warn there (a worker's warnings are lost under a process or distributed
scheduler): a spectral recording is checked as one call checks it; a frame on its statistics
rows (clipping) and on its centred square of side ``CHECK_SIDE``, denoised on the client (what
the image model removes); a stack on one page in ``CHECK_EVERY`` (at most ``CHECK_PAGES``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._atomic import atomic_folder, remove_stale_temps
from ._dask_io import (
    check_destination,
    is_tiff,
    open_zarr,
    own_threads,
    provenance,
    read_tiff_lazy,
    read_zarr,
    write_zarr,
)
from ._dask_worker import LOADS as LOADS
from ._dask_worker import (
    cached_denoiser,
    check_block,
    reconstruct_block,
    run_block_2d,
    run_block_3d,
    run_block_spectral,
    run_block_traces,
)
from ._engine import MIN_VALUE, check_scale, clipping_warning, removal_warning, tiny_error
from .errors import FluorodnError, InputError
from .files import check_name_length, make_folder
from .normalize import sample_rows, scale_from_rows
from .registry import IMAGE_MODEL

if TYPE_CHECKING:  # pragma: no cover
    import dask.array as da

    from . import Denoiser, DenoiserOptions, spectral

__all__ = ["denoise", "denoise_zarr", "preload", "read_tiff_lazy", "read_zarr", "write_zarr"]


def preload(
    model: str | os.PathLike[str] = "default", device: str = "auto", options: DenoiserOptions | None = None
) -> dict[str, Any]:
    """Load a model into this process's cache; e.g. ``client.run(preload, "high")`` on every worker.

    Returns a small summary (name, provider, precision, sha256, threads) of the cached Denoiser.
    """
    from .denoiser import checked_model

    checked_model(model)
    ref = _model_ref(model)
    den = cached_denoiser(ref, device, _pinned_options(ref, device, options))
    return {
        "name": den.name,
        "provider": den.provider,
        "precision": getattr(den, "precision", "fp32"),
        "sha256": den.sha256,
        "threads": den.threads,
    }


# --------------------------------------------------------------------------- the lazy denoiser


def _model_ref(model: str | os.PathLike[str]) -> str:
    """What goes into the graph: a shipped model's name as is, a path made absolute."""
    from .registry import _looks_like_path

    return os.path.abspath(os.fspath(model)) if _looks_like_path(model) else str(model)


def _effective(
    model: str | os.PathLike[str],
    device: str,
    options: DenoiserOptions | None,
    arr: da.Array,
    recording: bool = False,
) -> tuple[str, DenoiserOptions, Denoiser, bool]:
    """(model reference, pinned options, client-side Denoiser, whether the pages are time x
    wavelength recordings) that denoise ``arr``: a spectral model hands arrays that are not spectral
    recordings to the image model (``recording``: pages known to be time x wavelength,
    :meth:`Denoiser.run`'s), telling a short recording from a frame by its first page, as one call
    does (read here only where the shape leaves it open); a short recording so told is then known
    to be one."""
    ref = _model_ref(model)
    pinned = _pinned_options(ref, device, options)
    planner = cached_denoiser(ref, "cpu", pinned)
    shape = tuple(arr.shape)
    if planner.kind == "spectral" and planner._path_for(shape, recording) == "delegate":
        first = _first_page(arr)
        if first is not None and planner._path_for(shape, recording, first) == "spectral":
            return ref, pinned, planner, True
        ref = IMAGE_MODEL  # frames run without the spectral path's settings, as one call hands them on
        pinned = _pinned_options(ref, device, options.for_images() if options is not None else None)
        planner = cached_denoiser(ref, "cpu", pinned)
    return ref, pinned, planner, recording


def _first_page(arr: da.Array) -> np.ndarray | None:
    """The first page of ``arr``, read here, where its shape leaves its path open: a page of
    ``MIN_BINS``-``MAX_BINS`` columns too short to look like a recording (at most 2047 x 1024
    values), whose rows say whether it is one (:meth:`fluorodn.Denoiser._path_for`); None for any
    other shape, or a stack of no pages."""
    from . import spectral

    page = tuple(arr.shape[-2:])
    if (arr.ndim == 3 and arr.shape[0] == 0) or spectral.looks_spectral(page) or not spectral.takes_recording(page):
        return None
    return np.asarray((arr if arr.ndim == 2 else arr[0]).compute())


def _default_options() -> DenoiserOptions:
    from . import DenoiserOptions

    return DenoiserOptions(threads=1)


def _pinned_options(ref: str, device: str, options: DenoiserOptions | None) -> DenoiserOptions:
    """Options with one precision for every chunk (chunks must not mix int8 and fp32).

    ``precision="auto"`` would let each worker pick (int8 on a CPU worker where the model
    ships it, fp32 on a GPU worker); here it is fixed on the client instead: fp32 for
    ``device="cuda"``, else what a CPU picks (the shipped int8 variant, if any).
    """
    options = options if options is not None else _default_options()
    if getattr(options, "precision", None) != "auto":
        return options
    pinned = "fp32" if device == "cuda" else cached_denoiser(ref, "cpu", options).precision
    return dataclasses.replace(options, precision=pinned)


#: Pages of a stack per page whose out-of-domain checks the client runs (at least one), and the most
#: it checks, spread evenly over the stack (first, middle, last).
CHECK_EVERY, CHECK_PAGES = 16, 3
#: Side of the centred square of a frame on which the client measures what the image model removes.
CHECK_SIDE = 128


def _refuse_tiny(page: da.Array, least: float) -> None:
    """Refuse a 2D ``page`` cut into blocks, as one call refuses it (:func:`fluorodn._engine.check_values`),
    where its values are not all 0 but all below float32's smallest normal number in magnitude (the
    workers' blocks are not whole pages, so they cannot tell). ``least``: a magnitude the page's
    largest reaches (its row means', or rows read for its scale), so that a pass over the whole
    page is made only where that is below the limit; not at all for NaN (refused by the blocks)."""
    import dask.array as da

    if page.dtype.kind != "f" or page.dtype.itemsize < 4 or not least < MIN_VALUE:
        return
    top = float(da.fabs(page).max().compute())
    if 0 < top < MIN_VALUE:
        raise tiny_error(top)


def _image_scale(page: da.Array) -> tuple[tuple[float, float], np.ndarray]:
    """The global scale of a 2D page, computed here from exactly the rows
    :func:`fluorodn.normalize.global_scale` reads (so it equals one call's), and those rows."""
    idx = sample_rows(page.shape)
    rows = np.asarray((page if idx is None else page[idx, :]).compute())
    return scale_from_rows(rows, idx is not None), rows


def _image_messages(
    planner: Denoiser,
    page: da.Array,
    scale: tuple[float, float],
    rows: np.ndarray,
    border: str,
    index: int = 0,
    keep: bool = False,
) -> list[str | None]:
    """The image path's checks of one call on a 2D ``page`` (page ``index`` of a stack), here on the
    client: clipping among the statistics ``rows``, and what the model removes from the centred
    square of side ``CHECK_SIDE``, denoised here from the square and the ``halo`` pixels around it
    (the values the whole page gets there); ``keep``: the workers put flattened spots back (whole
    pages), as the message then says."""
    halo = int(planner.halo)
    core, around = [], []
    for n in page.shape:
        lo = max(0, (n - CHECK_SIDE) // 2)
        hi = min(n, lo + CHECK_SIDE)
        core.append((lo, hi))
        around.append((max(0, lo - halo), min(n, hi + halo)))
    (r0, r1), (c0, c1) = around
    block = np.asarray(page[r0:r1, c0:c1].compute())
    out = planner.run(block, scale=scale, border=border)
    inner = tuple(slice(lo - a, hi - a) for (lo, hi), (a, _) in zip(core, around, strict=True))
    clipped = clipping_warning(rows)
    return [
        f"page index {index}: {clipped}" if clipped and index else clipped,
        removal_warning([block[inner]], [out[inner]], first=index, keep=keep),
    ]


def check_pages(pages: int) -> list[int]:
    """Which pages of a stack of ``pages`` the client checks: one in ``CHECK_EVERY``, at least one and
    at most ``CHECK_PAGES``, spread evenly over the stack from the first to the last."""
    if pages < 1:
        return []
    n = max(1, min(CHECK_PAGES, pages // CHECK_EVERY))
    return [int(k) for k in np.unique(np.linspace(0, pages - 1, n).round())]


def _page_messages(
    planner: Denoiser, arr: da.Array, recording: bool = False, row_means: np.ndarray | None = None
) -> list[str | None]:
    """The checks of a stack of pages (P, Y, X), here on the client, on one page in ``CHECK_EVERY``
    (at least one, at most ``CHECK_PAGES``), spread evenly over it: the messages of the first of
    them that gets out-of-domain ones, after the first caution about the events if any (workers
    check nothing, since what they warn is lost under a process or distributed scheduler).
    ``row_means`` (P, Y): the pages' row means, which a spectral model's checks need."""
    from . import spectral

    spectral_pages = planner.kind == "spectral"
    cautions: list[str | None] = []  # about the events: the first page's, and they do not stop the checks
    for k in check_pages(arr.shape[0]):
        page = arr[k]
        if spectral_pages and row_means is not None:
            # the rows one call checks: those taken with the light off, and saturated ones, set aside
            lit, _ = spectral.split_rows(row_means[k], _means_of(page))
            rows = None if lit.all() else np.flatnonzero(lit)
            checked = _fit_checked(planner, page if rows is None else page[rows], recording, rows)[1]
            found = [type(m)(f"page index {k}: {m}") if m and k else m for m in checked]  # each keeps its kind
        else:
            scale, rows = _image_scale(page)
            found = _image_messages(
                planner, page, scale, rows, planner.border_mode(page.shape), k, keep=planner.options.keep_spots
            )
        cautions = cautions or [m for m in found if isinstance(m, spectral.EventCaution)]
        others = [m for m in found if not isinstance(m, spectral.EventCaution)]
        if any(others):
            return [*cautions, *others]
    return cautions


def _means_of(page: da.Array) -> Any:
    """:data:`fluorodn.spectral.MeansOf` of a lazy 2D page: the mean spectrum over given rows,
    computed here (a pass over those rows of the page; :func:`fluorodn.spectral.dark_mask` asks
    for each set once, and only where rows stand apart)."""

    def means_of(rows: np.ndarray) -> np.ndarray:
        return np.asarray(page[np.flatnonzero(rows)].mean(axis=0, dtype=np.float64).compute())

    return means_of


def _light_off_pages(arr: da.Array, row_means: np.ndarray) -> list[str | None]:
    """The notices of a stack of spectral recordings whose samples taken with the light off (and
    saturated ones) the workers return as recorded (:func:`fluorodn.spectral.split_rows`, from the
    pages' row means ``row_means`` (P, Y), and where rows stand apart the page's mean spectra),
    named by page index as one call names them."""
    from . import spectral

    notices: list[str | None] = []
    for k, page in enumerate(row_means):
        lit, saturated = spectral.split_rows(page, _means_of(arr[k]))
        if not lit.all():
            for said in spectral.set_aside_messages(lit, saturated):
                notices.append(type(said)(f"page index {k}: {said}") if k else said)
    return notices


def _fit_checked(
    planner: Denoiser, arr: da.Array, recording: bool = False, index: np.ndarray | None = None
) -> tuple[spectral.Projection, list[str | None]]:
    """The projection of a spectral recording, fitted here on the client from exactly the rows
    :func:`fluorodn.spectral.project` uses, and the messages of one call's checks, run here:
    clipping among the statistics rows (an evenly strided sample of the recording), what is removed
    from the rows the checks read, denoised here. ``index``: each row's sample index in the recording
    the messages name, where ``arr`` is its lit rows (None: its own)."""
    from . import spectral

    stat_rows = spectral._stat_rows(arr.shape[0])
    take = _cached_take(arr, stat_rows)
    fitted = spectral.fit(arr, planner.channels, take=take, fixed_pattern=not planner.options.keep_fixed_pattern)
    return fitted, planner._fitted_messages(arr.shape, take, fitted, take(stat_rows), recording, index)


def _cached_take(arr: da.Array, stat_rows: slice) -> spectral.Take:
    """Rows ``index`` of ``arr`` (a spectral recording) as numpy; the statistics rows (read by the
    fit twice, and by the clipping check) read once."""
    read: dict[str, np.ndarray] = {}

    def take(index: Any) -> np.ndarray:
        if isinstance(index, slice) and index == stat_rows:
            if "stats" not in read:
                read["stats"] = np.asarray(arr[index].compute())
            return read["stats"]
        return np.asarray(arr[index].compute())

    return take


def _warn(messages: list[str | None], detected: bool = False) -> None:
    """Each message as its :func:`fluorodn.denoiser.warning_category` (mostly an
    ``OutOfDomainWarning``) pointing at the caller of :func:`denoise`; ``detected``: messages of the
    spectral path, chosen by the input's shape (:func:`fluorodn.denoiser.with_path`)."""
    from .denoiser import warning_category, with_path

    for message in messages:
        if message:
            warnings.warn(warning_category(message)(with_path(message, detected)), stacklevel=3)


def denoise(
    array: Any,
    model: str | os.PathLike[str] = "default",
    device: str = "auto",
    *,
    options: DenoiserOptions | None = None,
    scale: tuple[float, float] | None = None,
    recording: bool = False,
    rate: float | None = None,
) -> da.Array:
    """Lazily denoise a dask array; equal to ``Denoiser(model).run(array.compute(), recording=recording)``,
    except that a single frame (2D) cut into chunks keeps the network's output where it flattened
    small bright spots (``keep_spots`` needs whole pages: the warning then says to measure spots on
    the input); a stack's pages get their spots put back as in one call. A stack of no pages gives
    no pages (one call refuses it). The out-of-domain checks read samples (module docstring): a
    stack's pages one in ``CHECK_EVERY``, at least one and at most ``CHECK_PAGES`` (page 0 alone of
    a stack of 2-31 pages), a frame's centred square; a problem only outside them goes unwarned,
    where one call checks every page whole.

    Parameters
    ----------
    array : dask array (or anything ``dask.array.asarray`` accepts)
        (Y, X) one recording, any real dtype, any chunking; or (P, Y, X) a stack of
        pages, rechunked here (if needed) so that every chunk holds whole pages.
    model : shipped model name or path to an ``.onnx`` file. A path must be readable
        at the same location on every worker.
    device : "auto", "cpu" or "cuda", resolved on each worker.
    options : ``fluorodn.DenoiserOptions`` for the workers' Denoisers. Default: one
        onnxruntime thread per task, since dask already runs one task per worker thread.
        ``precision="auto"`` is fixed here, once for all chunks: fp32 for
        ``device="cuda"``, else the CPU's choice (the shipped int8 variant, if any), as
        ``Denoiser(model, device="cpu")`` would pick. On GPU workers pass ``device="cuda"``.
    scale : (m, s) to use instead of the global scale (2D only).
    recording : the pages are known to be time x wavelength, as for :meth:`fluorodn.Denoiser.run`:
        with a spectral model, a recording takes the spectral path however short.
    rate : samples per second, where known: as for :meth:`fluorodn.Denoiser.run`, a recording
        sampled under :data:`fluorodn.spectral.LOW_RATE_HZ` that the spectral path denoises warns.

    Returns
    -------
    dask array, float32, same shape. On the client, before it returns: the model's
    metadata, the scale of a frame, the projection of a spectral recording, and the
    out-of-domain checks (module docstring), which issue ``fluorodn.OutOfDomainWarning``
    as :meth:`fluorodn.Denoiser.run` does.
    """
    import dask.array as da

    from .denoiser import DEVICES, checked_bool, checked_model, checked_rate

    checked_model(model)
    if device not in DEVICES:  # here, as the graph is built, not on the workers
        raise InputError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    arr = da.asarray(array)
    if arr.ndim not in (2, 3):
        raise InputError(f"expected a 2D (Y, X) or 3D (pages, Y, X) array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"expected a real-valued array, got dtype {arr.dtype}")
    if 0 in arr.shape[-2:]:  # as one call refuses it (a stack of no pages is denoised: to no pages)
        raise InputError(f"expected a non-empty array, got shape {arr.shape}")
    if scale is not None and arr.ndim != 2:
        raise InputError("scale= is only meaningful for a 2D array (3D pages each use their own)")
    slow = checked_rate(rate)
    recording = checked_bool("recording", recording)
    if arr.dtype.kind == "f":
        # NaN/inf and values beyond float32 are refused by the chunks as given, so that the error
        # names the index in the whole array (a worker's block is a piece of a rechunked, overlapped one)
        arr = arr.map_blocks(check_block, dtype=arr.dtype, meta=np.empty((0,) * arr.ndim, dtype=arr.dtype))
    # The client reads the halo (and validates the name) on CPU; workers use `device`.
    given = recording
    ref, options, planner, recording = _effective(model, device, options, arr, recording)
    planner._warn_choice(arr.shape[-2:])  # once, here on the client, not from every block
    if given and planner.kind != "spectral" and ref != _model_ref(model):
        from .denoiser import recorded_bins_warning

        _warn([recorded_bins_warning(tuple(arr.shape))])
    if planner.kind != "spectral" and scale is None:  # the image path's shape checks, as one call makes them
        from .denoiser import channels_last_warning, narrow_warning

        delegated = ref != _model_ref(model)  # the default handing a stack to the image model
        _warn([channels_last_warning(tuple(arr.shape)) if delegated else None, narrow_warning(tuple(arr.shape))])
    if planner.kind == "spectral":
        _warn([slow])
    halo = int(planner.halo)
    common = {"model": ref, "device": device, "options": options, "sha256": getattr(planner, "sha256", None)}

    if arr.ndim == 3:
        if len(arr.chunks[1]) > 1 or len(arr.chunks[2]) > 1:
            arr = arr.rechunk({1: -1, 2: -1})
        # a spectral model's pages: their row means, one pass over the stack, for both
        row_means = np.asarray(arr.mean(axis=2, dtype=np.float64).compute()) if planner.kind == "spectral" else None
        detected = row_means is not None and planner.declared_kind == "auto" and not recording
        _warn(_page_messages(planner, arr, recording, row_means), detected)
        if row_means is not None:
            _warn(_light_off_pages(arr, row_means))
        return _blocks(run_block_3d, arr, {}, "fluorodn-denoise-pages", **common)

    if planner.kind == "spectral" and planner._path_for(arr.shape, recording=recording) == "spectral":
        if scale is not None:
            raise InputError("scale= applies to image models only; spectral recordings are scaled per bin")
        out, messages = _denoise_spectral(arr, planner, common, recording)
        _warn(messages, planner.declared_kind == "auto" and not recording)
        return out
    border = planner.border_mode(arr.shape)
    if scale is not None:  # a scale given: the caller's own normalization, as one call runs no checks then
        sc = check_scale(scale)
    else:
        sc, rows = _image_scale(arr)
        _refuse_tiny(arr, float(np.abs(rows).max()))
        from .denoiser import delegated_warning

        # a default that hands what may be a recording to the image model says so, as one call does
        short = delegated_warning(rows, arr.shape) if ref != _model_ref(model) else None
        _warn([short, *_image_messages(planner, arr, sc, rows, border)])
    # An axis short enough for one chunk needs no overlap (dask also refuses a depth
    # larger than the axis): merge it. Chunks thinner than the halo are merged by dask.
    depth = {}
    for ax in (0, 1):
        if arr.numblocks[ax] > 1 and arr.shape[ax] <= 2 * halo:
            arr = arr.rechunk({ax: -1})
        depth[ax] = halo if arr.numblocks[ax] > 1 else 0
    return _blocks(run_block_2d, arr, depth, "fluorodn-denoise", scale=sc, border=border, **common)


def _blocks(func: Any, arr: da.Array, depth: dict[int, int], token: str, **kw: Any) -> da.Array:
    """``func(block, **kw)`` on every chunk of ``arr`` extended by ``depth`` rows/columns of its
    neighbours (none beyond the array border: ``boundary="none"``) and trimmed back, as float32;
    the chunks as they are where no axis has a depth."""
    import dask.array as da

    meta = np.empty((0,) * arr.ndim, dtype=np.float32)
    if not any(depth.values()):
        return arr.map_blocks(func, dtype=np.float32, meta=meta, token=token, **kw)
    return da.map_overlap(
        func, arr, depth=depth, boundary="none", trim=True, dtype=np.float32, meta=meta, token=token, **kw
    )


def _denoise_spectral(
    arr: da.Array,
    planner: Denoiser,
    common: dict[str, Any],
    recording: bool = False,
    lit: bool = False,
    index: np.ndarray | None = None,
) -> tuple[da.Array, list[str | None]]:
    """A spectral recording: the projection is fitted once on the client from exactly the rows
    :func:`fluorodn.spectral.project` uses, then row blocks (whole spectra) are denoised with
    ``halo`` rows of overlap along time, plus half the traces' baseline span on a long recording
    (none beyond the recording's ends, as in one call). Returns the lazy output and the messages
    of one call's checks, run here on the client (:func:`_fit_checked`).

    Samples taken with the light off (:func:`fluorodn.spectral.dark_mask`, from the row means
    computed here, one pass over the recording, and where rows stand apart its mean spectra) are
    passed through as recorded and the lit samples
    denoised as one recording, as in one call; ``lit``: the rows are known to be lit, ``index`` each
    one's sample index in the whole recording (None: its own). A recording whose noise changes over
    time (:func:`fluorodn.noise_change.change`) is denoised at one noise level, and told."""
    import dask.array as da

    from . import noise_change, spectral

    if not lit:
        means = np.asarray(arr.mean(axis=1, dtype=np.float64).compute())
        _refuse_tiny(arr, float(np.abs(means).max()))
        mask, saturated = spectral.split_rows(means, _means_of(arr))
        if not mask.all():
            pieces = spectral.runs(mask)
            lit_arr = da.concatenate([arr[a:b] for a, b, on in pieces if on], axis=0)
            y, messages = _denoise_spectral(lit_arr, planner, common, recording, lit=True, index=np.flatnonzero(mask))
            parts, at = [], 0
            for a, b, on in pieces:
                parts.append(y[at : at + b - a] if on else arr[a:b].astype(np.float32))
                at += (b - a) if on else 0
            return da.concatenate(parts, axis=0), [*spectral.set_aside_messages(mask, saturated), *messages]
    fitted, messages = _fit_checked(planner, arr, recording, index)
    messages.append(noise_change.one_level_message(noise_change.change(arr)))
    # an output row depends on the rows within the network's halo, and on the traces' baselines
    # (moving means) there, which reach half their span further
    reach = int(planner.halo) + fitted.baseline_samples // 2
    if planner.options.keep_onsets:
        # ... and on the second run's output within the reach of its onset rows
        reach += spectral.ONSET_REACH
    if arr.numblocks[1] > 1:
        arr = arr.rechunk({1: -1})
    if arr.numblocks[0] > 1 and min(arr.chunks[0]) < reach:
        arr = arr.rechunk({0: max(4 * reach, max(arr.chunks[0]))})
    depth = {0: reach if arr.numblocks[0] > 1 else 0, 1: 0}
    if fitted.mean is None:
        return _blocks(
            run_block_spectral, arr, depth, "fluorodn-denoise-spectral", projection=fitted, **common
        ), messages
    return _kept_means(arr, depth[0], fitted, common), messages


def at_least(chunks: tuple[int, ...], least: int) -> tuple[int, ...]:
    """``chunks`` (sizes along one axis) with each one shorter than ``least`` merged into its
    neighbour (the one before it; the first, into the one after), so that every chunk but a lone
    one holds ``least`` or more."""
    out: list[int] = []
    for size in chunks:
        if out and (size < least or out[-1] < least):
            out[-1] += size
        else:
            out.append(size)
    return tuple(out)


def _kept_means(arr: da.Array, depth: int, fitted: Any, common: dict[str, Any]) -> da.Array:
    """A spectral recording (one chunk across wavelength) whose bins keep their time means as
    recorded (``keep_fixed_pattern``), as one call keeps them over all the rows: the denoised
    traces of each row block (``depth`` rows of overlap) first, then their time means and the
    bins' over the whole recording, then each block's output rows from its traces. The traces
    (K values a row) are held until the last block is put back."""
    import dask.array as da

    k, w = fitted.components, arr.shape[1]
    if depth and min(arr.chunks[0]) < depth:  # as the overlap would rechunk it itself, under our chunk sizes
        arr = arr.rechunk({0: at_least(arr.chunks[0], depth)})
    extended = da.overlap.overlap(arr, depth={0: depth, 1: 0}, boundary="none") if depth else arr
    traces = da.map_blocks(
        run_block_traces, extended, projection=fitted, depth=depth, chunks=(arr.chunks[0], (k,)), dtype=np.float32,
        meta=np.empty((0, 0), np.float32), token="fluorodn-denoise-traces", **common,
    )  # fmt: skip
    coef_mean = traces.mean(axis=0, dtype=np.float64, keepdims=True)
    bin_mean = arr.mean(axis=0, dtype=np.float64, keepdims=True)
    return da.map_blocks(
        reconstruct_block, traces, coef_mean, bin_mean, projection=fitted, chunks=(arr.chunks[0], (w,)),
        dtype=np.float32, meta=np.empty((0, 0), np.float32), token="fluorodn-denoise-bins",
    )  # fmt: skip


# --------------------------------------------------------------------------- the CLI's entry point

WAIT_FOR_WORKERS_S = 300.0


@contextlib.contextmanager
def _scheduler(scheduler: str, workers: int | None) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Context giving the distributed client (or None) and the keywords with which ``dask.compute``
    uses the requested scheduler (dask's config is left alone: other threads compute too). On
    leaving it, the local threads or processes have ended the chunks they were running, also where
    an error or an interrupt ended the compute: nothing writes into the output any more (the chunks
    not started are dropped)."""
    if scheduler == "threads":  # a pool of its own: dask's shared pool would run on after an interrupt
        with own_threads(workers) as how:
            yield None, how
    elif scheduler in ("processes", "synchronous"):  # dask's process pool is shut down, waiting, by the compute
        yield None, {"scheduler": scheduler, "num_workers": workers}
    elif scheduler == "local":
        from distributed import Client, LocalCluster

        n = workers or os.cpu_count() or 1
        with (
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True) as cluster,
            Client(cluster) as client,
        ):
            yield client, {}
    else:  # an address of an existing scheduler, e.g. tcp://host:8786
        from distributed import Client

        with Client(scheduler) as client:
            if workers:
                try:
                    client.wait_for_workers(workers, timeout=WAIT_FOR_WORKERS_S)
                except (TimeoutError, asyncio.TimeoutError) as err:
                    have = len(client.scheduler_info().get("workers", {}))
                    raise FluorodnError(
                        f"only {have} of {workers} workers joined {scheduler} within "
                        f"{WAIT_FOR_WORKERS_S:.0f} s; start more workers or ask for fewer"
                    ) from err
            yield client, {}


def denoise_zarr(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    model: str | os.PathLike[str] = "default",
    device: str = "auto",
    scheduler: str = "threads",
    workers: int | None = None,
    overwrite: bool = False,
    *,
    options: DenoiserOptions | None = None,
    component: str | None = None,
    rows_per_chunk: int | None = None,
    progress: bool = False,
    rate: float | None = None,
) -> dict[str, Any]:
    """Denoise a zarr array (or a TIFF, read lazily) into a new zarr array, atomically.

    The result is written to a temporary store beside ``dst`` and renamed into place
    only when complete (:func:`fluorodn._atomic.atomic_folder`), so ``dst`` never holds a
    partial result, and a ``dst`` another process made in the meantime is not replaced. The
    temporary store's name is shortened where ``dst``'s, valid, leaves no room for its tail;
    temporary outputs a killed fluorodn process left in ``dst``'s folder are removed first
    (:func:`fluorodn._atomic.remove_stale_temps`). On any error or interruption
    (KeyboardInterrupt) the local workers end the chunks they are writing, tasks not started on
    a cluster are cancelled, and the temporary store is removed. Attributes of a zarr source are
    kept and ``attrs["fluorodn"]`` records the provenance.

    Parameters
    ----------
    src : zarr array/group path, or a ``.tif``/``.tiff`` file.
    dst : local (or shared-filesystem) path of the output zarr array, float32.
    model, device : as for :class:`fluorodn.Denoiser`.
    scheduler : "threads", "processes", "synchronous", "local" (a LocalCluster of
        ``workers`` single-threaded processes) or the address of a running
        ``distributed`` scheduler ("tcp://host:8786").
    workers : number of threads/processes; with an address, wait (up to
        ``WAIT_FOR_WORKERS_S``) until this many workers have joined.
    overwrite : replace an existing ``dst``.
    options : ``fluorodn.DenoiserOptions`` for the workers.
    component : array inside a zarr group.
    rows_per_chunk : rechunk a 2D input along rows (default: keep the source's chunks,
        or about 1 Mpixel per chunk when the source is a single chunk).
    progress : show dask's progress bar.
    rate : samples per second of the recording, where known: as for :func:`denoise`, a recording
        sampled under :data:`fluorodn.spectral.LOW_RATE_HZ` that the spectral path denoises warns.

    Returns
    -------
    dict with "dst", "shape", "seconds", "mpx_per_s", "scheduler", "model" (the model that ran) and
    "path" (its path: "spectral" or "image").
    """
    import dask

    src_s, dst_p = os.fspath(src), Path(os.fspath(dst)).absolute()
    dst_p = check_name_length(dst_p)  # a name no file system takes: asking whether it exists would fail
    check_destination(src_s, dst_p, overwrite)
    attrs: dict[str, Any] = {}
    zchunks: tuple[int, ...] | None = None
    zfmt: Literal[2, 3] = 3
    t0 = time.perf_counter()  # the whole run: opening, the client's fit and checks, and the chunks
    if is_tiff(src_s):
        arr = read_tiff_lazy(src_s)
    else:
        arr, attrs, node = open_zarr(src_s, component)
        zchunks = tuple(int(c) for c in node.chunks)
        zfmt = 2 if getattr(getattr(node, "metadata", None), "zarr_format", 3) == 2 else 3
    if arr.ndim == 2:
        if rows_per_chunk:
            arr = arr.rechunk({0: int(rows_per_chunk)})
        elif arr.numblocks == (1, 1):
            arr = arr.rechunk({0: max(256, (1 << 20) // max(1, arr.shape[1]))})
        if zchunks is None:
            zchunks = tuple(int(c[0]) for c in arr.chunks)
    elif zchunks is None:
        zchunks = (1, *arr.shape[1:])

    ref, _, planner, recording = _effective(model, device, options, arr)
    # a short recording told by its rows is passed on as one, so its first page is read once
    out = denoise(arr, model, device, options=options, recording=recording, rate=rate)
    prov = provenance(planner, ref, os.path.abspath(src_s), arr.ndim, device)
    make_folder(dst_p.parent)
    remove_stale_temps(dst_p.parent)
    with atomic_folder(dst_p, overwrite=overwrite, source=None if "://" in src_s else Path(src_s)) as tmp:
        stored = write_zarr(out, tmp, attrs=attrs, provenance=prov, chunks=zchunks, zarr_format=zfmt, compute=False)
        with _scheduler(scheduler, workers) as (client, how):
            if client is not None:
                fut = client.compute(stored)
                try:
                    if progress:
                        from distributed import progress as dprogress

                        dprogress(fut)
                    fut.result()
                except BaseException:
                    with contextlib.suppress(Exception):  # a scheduler that is gone has nothing left to run
                        fut.cancel()
                    raise
            elif progress:
                from dask.diagnostics import ProgressBar

                with ProgressBar():
                    dask.compute(stored, **how)
            else:
                dask.compute(stored, **how)
        seconds = time.perf_counter() - t0
    npx = float(np.prod(arr.shape))
    return {
        "dst": str(dst_p),
        "shape": tuple(int(n) for n in arr.shape),
        "seconds": seconds,
        "mpx_per_s": npx / 1e6 / seconds if seconds > 0 else float("nan"),
        "scheduler": scheduler,
        "model": prov["model"],
        "path": planner.kind,
    }
