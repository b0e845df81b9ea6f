"""Stores for :mod:`fluorodn.dask`: zarr arrays and TIFF stacks read lazily, zarr arrays
written with their attributes and fluorodn's provenance, and the checks and clean-up
around replacing an output store.

dask, zarr and tifffile are imported when a function here is called.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import FileFormatError, OutputExistsError

if TYPE_CHECKING:  # pragma: no cover
    import dask.array as da

    from . import Denoiser

__all__ = [
    "check_destination",
    "check_store_destination",
    "is_tiff",
    "open_zarr",
    "provenance",
    "read_tiff_lazy",
    "read_zarr",
    "write_zarr",
]


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
    arr, attrs, _ = open_zarr(src, component)
    return arr, attrs


def open_zarr(src: str | os.PathLike[str], component: str | None = None) -> tuple[da.Array, dict[str, Any], Any]:
    """(array, attrs, zarr array): :func:`read_zarr`'s answer and the zarr array it reads
    (its chunks and format)."""
    import dask.array as da

    node = _open_zarr_array(src, component)
    return da.from_array(_Chunks(node, src), chunks=node.chunks), dict(node.attrs), node


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
        names = sorted(name for name, _ in node.arrays())
        if len(names) != 1:
            raise FileFormatError(
                f"{src} is a zarr group with {len(names)} arrays ({', '.join(names) or 'none'}); "
                "name the one to denoise (component=... in Python, --key on the command line)"
            )
        node = node[names[0]]
    check_array(node, src)
    return node


def provenance(den: Denoiser, model: str, source: str, ndim: int, device: str) -> dict[str, Any]:
    """The provenance of a zarr store (``fluorodn._file_pipeline.provenance_record``): the
    model reference given, the device and how pages were scaled in its settings."""
    from ._file_pipeline import provenance_record

    scale = "global per 2D array" if ndim == 2 else "per page"
    return provenance_record(den, source, {"device": device, "model_ref": model, "scale": scale})


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

    With ``compute`` and a local ``dst``, the array is written atomically: into a temporary store
    beside ``dst`` (:func:`fluorodn._atomic.atomic_folder`), which gets the name ``dst`` once
    complete, so ``dst`` never holds a partial result and an error or interrupt leaves it as it
    was (an existing ``dst`` without ``overwrite`` is refused before any work, OutputExistsError).
    The ``Delayed`` of ``compute=False``, and a remote store (a URL), write at ``dst`` itself.
    """
    local = Path(os.fspath(dst)).absolute() if "://" not in os.fspath(dst) else None
    if local is not None and not (local.is_dir() and not any(local.iterdir())):  # an empty folder takes a store
        check_store_destination(local, overwrite)
    if compute and "://" not in os.fspath(dst):
        from ._atomic import atomic_folder
        from .files import check_name_length, make_folder

        dst_p = check_name_length(Path(os.fspath(dst)).absolute())
        make_folder(dst_p.parent)
        with atomic_folder(dst_p, overwrite=overwrite) as tmp, _finished_chunks() as how:
            _store(array, tmp, attrs, provenance, chunks, zarr_format, overwrite=True, compute=True, **how)
        return None
    return _store(array, dst, attrs, provenance, chunks, zarr_format, overwrite=overwrite, compute=compute)


@contextlib.contextmanager
def own_threads(workers: int | None = None) -> Iterator[dict[str, Any]]:
    """Context giving the keywords (``dask.compute(..., **how)``) with which a compute runs on
    threads of a pool of its own, which on leaving has ended the chunks it was running, also where
    an error or an interrupt ended the compute (dask's shared pool runs them on, and a zarr chunk
    written then makes a removed store again); the chunks not started are dropped. dask's config is
    left alone: a process-wide setting would reach, and outlive, other threads' computes."""
    from dask import threaded
    from dask.system import CPU_COUNT

    executor = getattr(threaded, "ContextAwareThreadPoolExecutor", ThreadPoolExecutor)
    pool = executor(workers or CPU_COUNT)
    try:
        yield {"scheduler": "threads", "pool": pool}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _finished_chunks() -> Iterator[dict[str, Any]]:
    """:func:`own_threads`'s keywords where ``dask.compute`` would run on dask's default threads (no
    scheduler set, no distributed client): the compute given them has no chunk left running when it
    ends. Otherwise none (the compute runs as configured)."""
    import dask

    if dask.config.get("scheduler", None) is None and dask.config.get("pool", None) is None and not _has_client():
        with own_threads() as how:
            yield how
    else:
        yield {}


def _has_client() -> bool:
    try:
        from distributed import default_client
    except ImportError:
        return False
    try:
        default_client()
    except ValueError:
        return False
    return True


def _store(
    array: da.Array,
    dst: str | os.PathLike[str],
    attrs: dict[str, Any] | None,
    provenance: dict[str, Any] | None,
    chunks: tuple[int, ...] | None,
    zarr_format: Literal[2, 3],
    *,
    overwrite: bool,
    compute: bool,
    **how: Any,
) -> Any:
    """:func:`write_zarr` at ``dst`` itself; ``how``: keywords of the compute (with ``compute``)."""
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
    return da.store(array.rechunk(chunks), target, lock=False, compute=compute, **how)


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


def is_tiff(path: str) -> bool:
    return path.lower().endswith((".tif", ".tiff"))


def check_destination(src: str, dst: Path, overwrite: bool) -> None:
    """Refuse a ``dst`` that is ``src``, holds it or lies inside it (any spelling), or is not a store.

    ``overwrite`` replaces an earlier output store, never the input nor a folder that is
    not a zarr store (an output path ``data`` with ``overwrite`` must not remove ``data/``).
    """
    from .files import inside

    if "://" not in src and (inside(src, dst) or inside(dst, src)):
        raise OutputExistsError(
            f"the output {dst} would overwrite its input {src} (the same store, a folder holding it, or a "
            "folder inside it); choose another output path"
        )
    check_store_destination(dst, overwrite)


def check_store_destination(dst: Path, overwrite: bool) -> None:
    """Refuse a local ``dst`` that exists (unless ``overwrite``) or is not a zarr store: ``overwrite``
    replaces an earlier store, never a folder of other files."""
    if not (dst.exists() or dst.is_symlink()):
        return
    if not overwrite:
        raise OutputExistsError(f"{dst} exists already; pass overwrite=True to replace it")
    if (
        dst.is_symlink()
        or not dst.is_dir()
        or not any((dst / m).is_file() for m in (".zarray", ".zgroup", "zarr.json"))
    ):
        raise OutputExistsError(f"{dst} exists and is not a zarr store, so it is not replaced; choose another output")
