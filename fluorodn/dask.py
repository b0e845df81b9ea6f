"""Scale-out with Dask: denoise arrays larger than one machine on an existing cluster.

Optional: needs ``pip install fluorodn[dask]`` (dask[array], distributed, zarr).
Nothing here is imported by the core package, and dask/zarr are imported only
when a function of this module is called.

How exactness is kept for any chunking
--------------------------------------
The network's output at a pixel depends only on inputs within ``halo`` rows and
columns of it, with zero padding (in normalized units) at the true image border.
So a 2D array is denoised with :func:`dask.array.map_overlap`:

* the global ``(m, s)`` is computed once, exactly as
  :func:`fluorodn.normalize.global_scale` does on the whole array (the same rows,
  fetched with :func:`~fluorodn.normalize.sample_rows`), as one task of the graph;
* every chunk is extended by ``halo`` rows/columns of its neighbours only
  (``boundary="none"``: no fake data beyond the array border, where the network
  zero-pads exactly as on the whole array), denoised with that shared scale, and
  trimmed back.

3D stacks (pages, Y, X) are denoised page by page, each page with its own scale,
as :meth:`fluorodn.Denoiser.run` does; chunks are made to hold whole pages.

Each worker process loads a model once (a per-process cache); the task graph
holds only the model's name or path and its sha256, never the model bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as _dt
import os
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import FileFormatError, FluorodnError, ModelError, OutputExistsError
from .normalize import CONVENTION, sample_rows, scale_from_rows
from .registry import IMAGE_MODEL

if TYPE_CHECKING:  # pragma: no cover
    import dask.array as da

    from . import Denoiser, DenoiserOptions

__all__ = ["denoise", "denoise_zarr", "preload", "read_tiff_lazy", "read_zarr", "write_zarr"]

# --------------------------------------------------------------------------- worker-side cache

_CACHE: dict[tuple[str, str, str], Denoiser] = {}
_CACHE_LOCK = threading.Lock()
#: How many times this process built a Denoiser, per cache key (inspected by tests).
LOADS: Counter[tuple[str, str, str]] = Counter()


def _cached_denoiser(model: str, device: str, options: DenoiserOptions | None) -> Denoiser:
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


def preload(
    model: str | os.PathLike[str] = "default", device: str = "auto", options: DenoiserOptions | None = None
) -> dict[str, Any]:
    """Load a model into this process's cache; e.g. ``client.run(preload, "high")`` on every worker.

    Returns a small summary (name, provider, precision, sha256, threads) of the cached Denoiser.
    """
    ref = _model_ref(model)
    den = _cached_denoiser(ref, device, _pinned_options(ref, device, options))
    return {
        "name": den.name,
        "provider": den.provider,
        "precision": getattr(den, "precision", "fp32"),
        "sha256": den.sha256,
        "threads": den.threads,
    }


def _worker_denoiser(model: str, device: str, options: Any, sha256: str | None) -> Denoiser:
    den = _cached_denoiser(model, device, options)
    if sha256 and getattr(den, "sha256", None) and den.sha256 != sha256:
        raise ModelError(
            f"model {model!r} on this worker has sha256 {den.sha256[:12]}..., but the client "
            f"planned with {sha256[:12]}...; install the same fluorodn/model files on every worker"
        )
    return den


def _run_block_2d(
    block: np.ndarray,
    *,
    model: str,
    device: str,
    options: Any,
    sha256: str | None,
    scale: tuple[float, float],
) -> np.ndarray:
    """Denoise one overlapped 2D block with the array's global scale."""
    den = _worker_denoiser(model, device, options, sha256)
    return den.run(block, scale=(float(scale[0]), float(scale[1])))


def _run_block_3d(block: np.ndarray, *, model: str, device: str, options: Any, sha256: str | None) -> np.ndarray:
    """Denoise a block of whole pages (k, Y, X), each page with its own scale."""
    den = _worker_denoiser(model, device, options, sha256)
    if block.shape[0] == 0:
        return np.empty(block.shape, dtype=np.float32)
    return den.run(block)


# --------------------------------------------------------------------------- the lazy denoiser


def _model_ref(model: str | os.PathLike[str]) -> str:
    """What goes into the graph: a shipped model's name as is, a path made absolute."""
    from .registry import _looks_like_path

    return os.path.abspath(os.fspath(model)) if _looks_like_path(model) else str(model)


def _effective(
    model: str | os.PathLike[str], device: str, options: DenoiserOptions | None, shape: tuple[int, ...]
) -> tuple[str, DenoiserOptions, Denoiser]:
    """(model reference, pinned options, client-side Denoiser) that denoise an array of ``shape``:
    a spectral model hands arrays that are not spectral recordings to the image model."""
    ref = _model_ref(model)
    pinned = _pinned_options(ref, device, options)
    planner = _cached_denoiser(ref, "cpu", pinned)
    if planner.kind == "spectral" and planner._path_for(tuple(shape)) == "delegate":
        ref = IMAGE_MODEL
        pinned = _pinned_options(ref, device, options)
        planner = _cached_denoiser(ref, "cpu", pinned)
    return ref, pinned, planner


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
    pinned = "fp32" if device == "cuda" else _cached_denoiser(ref, "cpu", options).precision
    return dataclasses.replace(options, precision=pinned)


def _global_scale_task(array: da.Array) -> Any:
    """A dask Delayed of ``global_scale(array)``, fetching only the rows it needs."""
    import dask

    idx = sample_rows(array.shape)
    if idx is None:
        sub, paired = array, False
    else:
        sub, paired = array[idx, :], True
    return dask.delayed(scale_from_rows, pure=True)(sub, paired)


def denoise(
    array: Any,
    model: str | os.PathLike[str] = "default",
    device: str = "auto",
    *,
    options: DenoiserOptions | None = None,
    scale: tuple[float, float] | None = None,
) -> da.Array:
    """Lazily denoise a dask array; equal to ``Denoiser(model).run(array.compute())``.

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

    Returns
    -------
    dask array, float32, same shape; nothing is computed yet except reading the
    model's metadata on the client.
    """
    import dask.array as da

    arr = da.asarray(array)
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected a 2D (Y, X) or 3D (pages, Y, X) array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"expected a real-valued array, got dtype {arr.dtype}")
    if scale is not None and arr.ndim != 2:
        raise ValueError("scale= is only meaningful for a 2D array (3D pages each use their own)")

    # The client reads the halo (and validates the name) on CPU; workers use `device`.
    ref, options, planner = _effective(model, device, options, arr.shape)
    halo = int(planner.halo)
    common = {"model": ref, "device": device, "options": options, "sha256": getattr(planner, "sha256", None)}
    meta = np.empty((0,) * arr.ndim, dtype=np.float32)

    if arr.ndim == 3:
        if len(arr.chunks[1]) > 1 or len(arr.chunks[2]) > 1:
            arr = arr.rechunk({1: -1, 2: -1})
        return arr.map_blocks(_run_block_3d, dtype=np.float32, meta=meta, token="fluorodn-denoise-pages", **common)

    if planner.kind == "spectral" and planner._path_for(arr.shape) == "spectral":
        if scale is not None:
            raise ValueError("scale= applies to image models only; spectral recordings are scaled per bin")
        return _denoise_spectral(arr, planner, common, meta)
    sc: Any = (float(scale[0]), float(scale[1])) if scale is not None else _global_scale_task(arr)
    # An axis short enough for one chunk needs no overlap (dask also refuses a depth
    # larger than the axis): merge it. Chunks thinner than the halo are merged by dask.
    depth = {}
    for ax in (0, 1):
        if arr.numblocks[ax] > 1 and arr.shape[ax] <= 2 * halo:
            arr = arr.rechunk({ax: -1})
        depth[ax] = halo if arr.numblocks[ax] > 1 else 0
    if not any(depth.values()):
        return arr.map_blocks(_run_block_2d, dtype=np.float32, meta=meta, token="fluorodn-denoise", scale=sc, **common)
    return da.map_overlap(
        _run_block_2d,
        arr,
        depth=depth,
        boundary="none",
        trim=True,
        dtype=np.float32,
        meta=meta,
        token="fluorodn-denoise",
        scale=sc,
        **common,
    )


def _denoise_spectral(arr: da.Array, planner: Denoiser, common: dict[str, Any], meta: np.ndarray) -> da.Array:
    """A spectral recording: the projection is fitted once on the client from exactly the rows
    :func:`fluorodn.spectral.project` uses, then row blocks (whole spectra) are denoised with
    ``halo`` rows of overlap along time (none beyond the recording's ends, as in one call)."""
    import dask.array as da

    from . import spectral

    fitted = spectral.fit(arr, planner.channels, take=lambda index: np.asarray(arr[index].compute()))
    halo = int(planner.halo)
    if arr.numblocks[1] > 1:
        arr = arr.rechunk({1: -1})
    if arr.numblocks[0] > 1 and min(arr.chunks[0]) < halo:
        arr = arr.rechunk({0: max(4 * halo, max(arr.chunks[0]))})
    depth = {0: halo if arr.numblocks[0] > 1 else 0, 1: 0}
    return da.map_overlap(
        _run_block_spectral,
        arr,
        depth=depth,
        boundary="none",
        trim=True,
        dtype=np.float32,
        meta=meta,
        token="fluorodn-denoise-spectral",
        projection=fitted,
        **common,
    )


def _run_block_spectral(
    block: np.ndarray, *, model: str, device: str, options: Any, sha256: str | None, projection: Any
) -> np.ndarray:
    """Denoise one overlapped row block of a spectral recording with the recording's projection."""
    den = _worker_denoiser(model, device, options, sha256)
    if block.shape[0] == 0:
        return np.empty(block.shape, dtype=np.float32)
    return den.run_projected(block, projection)


# --------------------------------------------------------------------------- readers and writers


def read_zarr(src: str | os.PathLike[str], component: str | None = None) -> tuple[da.Array, dict[str, Any]]:
    """Open a zarr array lazily.

    Parameters
    ----------
    src : path (or URL) of a zarr array, or of a group holding exactly one array.
    component : path of the array inside a group.

    Returns
    -------
    (array, attrs): the dask array, chunked as stored, and a copy of its attributes.
    """
    import dask.array as da

    node = _open_zarr_array(src, component)
    return da.from_array(_Chunks(node, src), chunks=node.chunks), dict(node.attrs)


class _Chunks:
    """A zarr array as dask reads it: a chunk that cannot be decoded raises FileFormatError.

    zarr and its codecs raise many types on damaged chunks (RuntimeError from blosc,
    ValueError, ...); here each becomes one sentence naming the store.
    """

    def __init__(self, node: Any, src: str | os.PathLike[str]) -> None:
        self.node, self.src = node, os.fspath(src)
        self.shape, self.dtype, self.ndim = node.shape, node.dtype, node.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return np.asarray(self.node[key])
        except Exception as err:  # zarr and numcodecs raise many types on damaged chunks
            detail = " ".join(str(err).split())[:200] or type(err).__name__
            raise FileFormatError(
                f"cannot decode a chunk of the zarr store {self.src} ({detail}); copy the store again from its source"
            ) from err


def _open_zarr_array(src: str | os.PathLike[str], component: str | None) -> Any:
    """The array at ``src`` (or its ``component``), its codecs checked before any chunk is read.

    A local store's metadata documents are checked before zarr opens it
    (:func:`fluorodn._zarr.check_store`); a URL's only once zarr has parsed them.
    """
    import zarr

    from ._zarr import check_array, check_store

    where = os.fspath(src)
    if "://" not in where:
        check_store(where)
    try:
        node: Any = zarr.open(where, mode="r", path=component)
    except FileFormatError:
        raise
    except (ValueError, KeyError, TypeError, OSError) as err:  # zarr's parsing errors
        message = " ".join(str(err).split())[:200]
        raise FileFormatError(f"cannot open {src} as a zarr array ({message}); check the path and the store") from err
    if isinstance(node, zarr.Group):
        names = [name for name, _ in node.arrays()]
        if len(names) != 1:
            raise FileFormatError(
                f"{src} is a zarr group with {len(names)} arrays ({', '.join(names) or 'none'}); "
                "name the one to denoise (component)"
            )
        node = node[names[0]]
    check_array(node, src)
    return node


def _provenance(den: Denoiser | None, model: str, source: str | None, ndim: int) -> dict[str, Any]:
    from . import __version__

    prov: dict[str, Any] = {
        "software": "fluorodn",
        "version": __version__,
        "model": getattr(den, "name", model),
        "model_ref": model,
        "normalization": CONVENTION,
        "scale": "global per 2D array" if ndim == 2 else "per page",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if den is not None:
        prov["model_sha256"] = getattr(den, "sha256", None)
        prov["model_version"] = getattr(den, "metadata", {}).get("version")
        prov["precision"] = getattr(den, "precision", "fp32")
    if source is not None:
        prov["source"] = source
    return prov


def write_zarr(
    array: da.Array,
    dst: str | os.PathLike[str],
    *,
    attrs: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    chunks: tuple[int, ...] | None = None,
    zarr_format: Literal[2, 3] = 3,
    overwrite: bool = False,
    compute: bool = True,
) -> Any:
    """Store a dask array as a zarr array with attributes.

    Parameters
    ----------
    array : dask array to store.
    dst : path of the new zarr array.
    attrs : attributes to keep (e.g. the source's, from :func:`read_zarr`).
    provenance : written as ``attrs["fluorodn"]``; an earlier ``"fluorodn"`` entry in
        ``attrs`` is kept as its ``"previous"``.
    chunks : zarr chunk shape; default the array's first chunk shape.
    zarr_format : 2 or 3.
    overwrite : replace an existing array at ``dst``.
    compute : False returns the dask ``Delayed`` of the store instead of running it.
    """
    import dask.array as da
    import zarr

    attrs = dict(attrs or {})
    if provenance is not None:
        prov = dict(provenance)
        if "fluorodn" in attrs:
            prov["previous"] = attrs["fluorodn"]
        attrs["fluorodn"] = prov
    if chunks is None:
        chunks = tuple(int(c[0]) for c in array.chunks)
    chunks = tuple(max(1, min(int(c), int(n))) for c, n in zip(chunks, array.shape, strict=True))
    if hasattr(zarr, "create_array"):  # zarr >= 3
        z = zarr.create_array(
            store=os.fspath(dst),
            shape=array.shape,
            dtype=array.dtype,
            chunks=chunks,
            attributes=attrs,
            zarr_format=zarr_format,
            overwrite=overwrite,
        )
    else:  # zarr 2 (Python 3.10): format 2 only
        z = zarr.create(shape=array.shape, dtype=array.dtype, chunks=chunks, store=os.fspath(dst), overwrite=overwrite)
        z.attrs.update(attrs)
    target: Any = z
    return da.store(array.rechunk(chunks), target, lock=False, compute=compute)


def read_tiff_lazy(path: str | os.PathLike[str], *, pages_per_chunk: int = 1) -> da.Array:
    """Open a TIFF's first series lazily: each task reads only its own pages.

    Parameters
    ----------
    path : TIFF file, readable from every worker at the same path.
    pages_per_chunk : pages per dask chunk.

    Returns
    -------
    dask array (P, Y, X) for a multi-page series, (Y, X) for a single page, the
    file's dtype.
    """
    import dask.array as da
    import tifffile
    from dask.base import tokenize

    path = os.path.abspath(os.fspath(path))
    st = os.stat(path)
    with tifffile.TiffFile(path) as tf:
        series = tf.series[0]
        shape, dtype = tuple(series.shape), np.dtype(series.dtype)
        n_pages = len(series.pages)
    if len(shape) == 2:
        pshape, n_pages = shape, 1
    elif len(shape) >= 3 and int(np.prod(shape[:-2])) == n_pages:
        pshape = shape[-2:]
    else:
        raise FileFormatError(f"{path}: series of shape {shape} is not a stack of 2D grayscale pages")
    step = max(1, int(pages_per_chunk))
    pchunks = tuple(min(step, n_pages - a) for a in range(0, n_pages, step))
    arr = da.map_blocks(
        _read_tiff_pages,
        chunks=(pchunks, (pshape[0],), (pshape[1],)),
        dtype=dtype,
        meta=np.empty((0, 0, 0), dtype=dtype),
        path=path,
        page_shape=pshape,
        name="read-tiff-" + tokenize(path, st.st_size, st.st_mtime_ns, step),
    )
    return arr[0] if len(shape) == 2 else arr


def _read_tiff_pages(block_info: dict[Any, Any] | None = None, *, path: str, page_shape: tuple[int, int]) -> np.ndarray:
    import tifffile

    assert block_info is not None
    start, stop = block_info[None]["array-location"][0]
    data = tifffile.imread(path, series=0, key=range(start, stop))
    return np.asarray(data).reshape(stop - start, *page_shape)


# --------------------------------------------------------------------------- the CLI's entry point

#: With a scheduler address and ``workers``, how long to wait for that many workers.
WAIT_FOR_WORKERS_S = 300.0


@contextlib.contextmanager
def _scheduler(scheduler: str, workers: int | None) -> Iterator[Any]:
    """Context in which ``dask.compute`` uses the requested scheduler."""
    import dask

    if scheduler in ("threads", "processes", "synchronous"):
        with dask.config.set(scheduler=scheduler, num_workers=workers):
            yield None
    elif scheduler == "local":
        from distributed import Client, LocalCluster

        n = workers or os.cpu_count() or 1
        with (
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True) as cluster,
            Client(cluster) as client,
        ):
            yield client
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
            yield client


def _is_tiff(path: str) -> bool:
    return path.lower().endswith((".tif", ".tiff"))


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
) -> dict[str, Any]:
    """Denoise a zarr array (or a TIFF, read lazily) into a new zarr array, atomically.

    The result is written to a temporary store beside ``dst`` and renamed into place
    only when complete, so ``dst`` never holds a partial result. Attributes of a zarr
    source are kept and ``attrs["fluorodn"]`` records the provenance.

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

    Returns
    -------
    dict with "dst", "shape", "seconds", "mpx_per_s", "scheduler", "model".
    """
    import dask
    import dask.array as da

    src_s, dst_p = os.fspath(src), Path(os.fspath(dst)).absolute()
    _check_destination(src_s, dst_p, overwrite)
    attrs: dict[str, Any] = {}
    zchunks: tuple[int, ...] | None = None
    zfmt: Literal[2, 3] = 3
    if _is_tiff(src_s):
        arr = read_tiff_lazy(src_s)
    else:
        node = _open_zarr_array(src_s, component)
        arr, attrs = da.from_array(_Chunks(node, src_s), chunks=node.chunks), dict(node.attrs)
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

    ref, _, planner = _effective(model, device, options, arr.shape)
    out = denoise(arr, model, device, options=options)
    prov = _provenance(planner, ref, os.path.abspath(src_s), arr.ndim)
    tmp = dst_p.with_name(f".{dst_p.name}.tmp-{uuid.uuid4().hex[:8]}")
    t0 = time.perf_counter()
    try:
        stored = write_zarr(out, tmp, attrs=attrs, provenance=prov, chunks=zchunks, zarr_format=zfmt, compute=False)
        with _scheduler(scheduler, workers) as client:
            if client is not None:
                fut = client.compute(stored)
                if progress:
                    from distributed import progress as dprogress

                    dprogress(fut)
                fut.result()
            elif progress:
                from dask.diagnostics import ProgressBar

                with ProgressBar():
                    dask.compute(stored)
            else:
                dask.compute(stored)
        seconds = time.perf_counter() - t0
        if dst_p.exists():  # overwrite: move the old one aside, then swap
            trash = dst_p.with_name(f".{dst_p.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(dst_p, trash)
            os.replace(tmp, dst_p)
            _rmtree(trash)
        else:
            os.replace(tmp, dst_p)
    except BaseException:
        _rmtree(tmp)
        raise
    npx = float(np.prod(arr.shape))
    return {
        "dst": str(dst_p),
        "shape": tuple(int(n) for n in arr.shape),
        "seconds": seconds,
        "mpx_per_s": npx / 1e6 / seconds if seconds > 0 else float("nan"),
        "scheduler": scheduler,
        "model": prov["model"],
    }


def _check_destination(src: str, dst: Path, overwrite: bool) -> None:
    """Refuse a ``dst`` that is ``src``, holds it or lies inside it (any spelling), or is not a store.

    ``overwrite`` replaces an earlier output store, never the input nor a folder that is
    not a zarr store (``-o data --overwrite`` must not remove ``data/``).
    """
    from .files import inside

    if "://" not in src and (inside(src, dst) or inside(dst, src)):
        raise OutputExistsError(
            f"the output {dst} would overwrite its input {src} (the same store, a folder holding it, or a "
            "folder inside it); choose another output path"
        )
    if not (dst.exists() or dst.is_symlink()):
        return
    if not overwrite:
        raise OutputExistsError(f"{dst} exists already; pass overwrite=True (--overwrite) to replace it")
    if (
        dst.is_symlink()
        or not dst.is_dir()
        or not any((dst / m).is_file() for m in (".zarray", ".zgroup", "zarr.json"))
    ):
        raise OutputExistsError(f"{dst} exists and is not a zarr store, so it is not replaced; choose another output")


def _rmtree(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
