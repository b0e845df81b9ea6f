"""Zarr stores from elsewhere: what their metadata may declare before fluorodn opens them.

zarr decodes a chunk with the codecs its metadata names, and numcodecs has codecs that run
code or build Python objects from the stored bytes (``pickle``, ``json``, ``msgpack``,
``vlen-*``, ``categorize``, object dtypes). fluorodn therefore decodes numeric data only:

* before zarr sees a local store, :func:`check_store` reads every metadata document in it
  (format 2: ``.zarray``, ``.zmetadata``; format 3: ``zarr.json`` with any consolidated
  metadata inside) and refuses an array whose dtype is not a real number or whose
  codecs are not listed below; a store holding a symbolic link, a FIFO or a device is
  refused too (fluorodn reads only what a store holds itself);
* after zarr has opened an array, and before any chunk is read, :func:`check_array`
  checks the metadata zarr actually parsed against the same lists.

Every refusal is a :class:`~fluorodn.errors.FileFormatError` with one sentence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError

__all__ = ["CHUNK_BYTES_MAX", "V2_CODECS", "V3_CODECS", "V3_DATA_TYPES", "check_array", "check_store"]

#: numcodecs ids of format-2 compressors and filters: numeric transforms done in C or numpy.
V2_CODECS = frozenset(
    {
        "blosc", "zstd", "lz4", "zlib", "gzip", "bz2", "lzma",
        "shuffle", "delta", "fixedscaleoffset", "quantize", "bitround",
        "crc32", "crc32c", "adler32", "fletcher32",
    }
)  # fmt: skip
#: Format-3 codec names (the core ones, and numcodecs' numeric ones under their ``numcodecs.`` names).
V3_CODECS = frozenset(
    {"bytes", "transpose", "blosc", "zstd", "gzip", "crc32c", "sharding_indexed"}
    | {f"numcodecs.{name}" for name in V2_CODECS}
)
#: Format-3 data types of real numbers.
V3_DATA_TYPES = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64"}
)
#: Largest decoded chunk fluorodn accepts (a small compressed chunk may declare a huge one).
CHUNK_BYTES_MAX = 1 << 30
#: Largest metadata document read.
_META_BYTES_MAX = 16 << 20
_FIX = "convert it on a trusted machine to real numbers with a numeric compressor (e.g. zstd or blosc)"


def check_store(root: str | os.PathLike[str]) -> None:
    """Refuse a local store that holds a link or special file, or an array fluorodn would not decode.

    Walks the whole store without following links (chunk files included, so that none of
    them can stand for a file outside the store) and checks every metadata document.
    """
    root = Path(root)
    for path, rel in _entries(root):
        if path.name in (".zarray", ".zmetadata", "zarr.json"):
            doc = _load_json(root, path, rel)
            for where, meta in _arrays_in(path.name, doc, rel):
                check_metadata(meta, f"{root} ({where})")


def _entries(root: Path) -> Iterator[tuple[Path, str]]:
    """Regular files under ``root`` with their path relative to it; links and special files refused."""
    if root.is_symlink() and not root.is_dir():
        raise FileFormatError(f"{root} is a link to a file, not a zarr store; give the store's folder")
    if not root.is_dir():
        raise FileFormatError(f"{root} is not a folder, so not a zarr store; give the store's folder")
    stack = [root.resolve()]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as err:
            raise FileFormatError(f"cannot list {folder} in the zarr store {root} ({err.strerror or err})") from err
        for entry in entries:
            path = Path(entry.path)
            rel = path.relative_to(root.resolve()).as_posix()
            if entry.is_symlink():
                raise FileFormatError(
                    f"the zarr store {root} holds a symbolic link ({rel}); fluorodn reads only what a store "
                    "holds itself: copy the linked data into the store"
                )
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif entry.is_file(follow_symlinks=False):
                yield path, rel
            else:
                raise FileFormatError(
                    f"the zarr store {root} holds {rel}, which is not a regular file (a FIFO, socket or device); "
                    "remove it from the store"
                )


def _load_json(root: Path, path: Path, rel: str) -> Any:
    try:
        if path.stat().st_size > _META_BYTES_MAX:
            raise ValueError(f"larger than {_META_BYTES_MAX >> 20} MiB")
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as err:
        raise FileFormatError(
            f"the zarr store {root} has unreadable metadata in {rel} ({err}); copy the store again from its source"
        ) from err


def _arrays_in(name: str, doc: Any, rel: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Array metadata found in one document: (where, metadata)."""
    if not isinstance(doc, dict):
        raise FileFormatError(f"zarr metadata {rel} is not a JSON object; copy the store again from its source")
    if name == ".zarray":
        yield rel, {"zarr_format": 2, **doc}
    elif name == ".zmetadata":
        entries = doc.get("metadata", {})
        for key, meta in entries.items() if isinstance(entries, dict) else ():
            if str(key).endswith(".zarray"):
                yield f"{rel}: {key}", {"zarr_format": 2, **(meta if isinstance(meta, dict) else {"dtype": None})}
    else:
        yield from _v3_arrays(doc, rel)


def _v3_arrays(doc: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if doc.get("node_type") == "array":
        yield where, doc
    consolidated = doc.get("consolidated_metadata")
    entries = consolidated.get("metadata", {}) if isinstance(consolidated, dict) else {}
    for key, meta in entries.items() if isinstance(entries, dict) else ():
        if isinstance(meta, dict):
            yield from _v3_arrays(meta, f"{where}: {key}")


def check_metadata(meta: dict[str, Any], where: str) -> None:
    """Refuse array metadata (a format 2 or 3 document) whose dtype or codecs fluorodn does not decode."""
    if meta.get("zarr_format") == 2:
        itemsize = _v2_dtype(meta.get("dtype"), where)
        codecs = [meta.get("compressor"), *(meta.get("filters") or [])]
        for codec in codecs:
            if codec is not None:
                _check_codec(codec, "id", V2_CODECS, where)
    else:
        data_type = meta.get("data_type")
        if not isinstance(data_type, str) or data_type not in V3_DATA_TYPES:
            raise FileFormatError(
                f"{where}: the zarr array stores {_short(data_type)} values; fluorodn reads only "
                f"real numbers ({', '.join(sorted(V3_DATA_TYPES))}): {_FIX}"
            )
        itemsize = np.dtype(data_type).itemsize
        if meta.get("storage_transformers"):
            raise FileFormatError(f"{where}: the zarr array uses storage transformers, which fluorodn does not apply")
        for codec in _list(meta.get("codecs"), where):
            _check_codec(codec, "name", V3_CODECS, where)
    _check_chunks(meta, itemsize, where)


def _v2_dtype(dtype: Any, where: str) -> int:
    try:
        parsed = np.dtype(dtype) if isinstance(dtype, str) else None
    except TypeError:
        parsed = None
    if parsed is None or parsed.kind not in "iuf" or parsed.fields is not None or parsed.subdtype is not None:
        raise FileFormatError(
            f"{where}: the zarr array stores {_short(dtype)} values; fluorodn reads only real numbers "
            f"(integers or floats): {_FIX}"
        )
    return parsed.itemsize


def _check_codec(codec: Any, key: str, allowed: frozenset[str], where: str) -> None:
    name = codec.get(key) if isinstance(codec, dict) else codec if isinstance(codec, str) else None
    if not isinstance(name, str) or name not in allowed:
        raise FileFormatError(
            f"{where}: the zarr array uses the codec {_short(name if name is not None else codec)}, which fluorodn "
            f"does not decode (it decodes {', '.join(sorted(n for n in allowed if '.' not in n))}): {_FIX}"
        )
    config = codec.get("configuration", codec) if isinstance(codec, dict) else {}
    for field in ("dtype", "astype"):  # numeric filters convert between dtypes: numbers only
        if field in config:
            _v2_dtype(config[field], where)
    if name == "sharding_indexed":
        for field in ("codecs", "index_codecs"):
            for inner in _list(config.get(field), where):
                _check_codec(inner, key, allowed, where)


def _check_chunks(meta: dict[str, Any], itemsize: int, where: str) -> None:
    grid = meta.get("chunk_grid")
    chunks = meta.get("chunks")
    if isinstance(grid, dict):
        chunks = (grid.get("configuration") or {}).get("chunk_shape")
    shape = meta.get("shape")
    for dims in (shape, chunks):
        if not isinstance(dims, list | tuple) or not all(isinstance(n, int) and n >= 0 for n in dims):
            raise FileFormatError(f"{where}: the zarr array's shape or chunks are not lists of sizes; copy it again")
    assert isinstance(chunks, list | tuple)
    nbytes = itemsize
    for n in chunks:
        nbytes *= max(1, n)
    if nbytes > CHUNK_BYTES_MAX:
        raise FileFormatError(
            f"{where}: one chunk of the zarr array holds {nbytes} bytes, more than fluorodn decodes at once "
            f"({CHUNK_BYTES_MAX >> 20} MiB); rechunk the store into smaller chunks"
        )


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise FileFormatError(f"{where}: the zarr array's codecs are not a list; copy the store again")
    return list(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_array(node: Any, src: str | os.PathLike[str]) -> None:
    """Check the metadata zarr parsed for an opened array (zarr 3, or zarr 2's codec objects)."""
    metadata = getattr(node, "metadata", None)
    if metadata is not None and hasattr(metadata, "to_dict"):
        meta = dict(metadata.to_dict())
    else:  # zarr 2
        compressor = getattr(node, "compressor", None)
        meta = {
            "zarr_format": 2,
            "dtype": np.dtype(node.dtype).str,
            "shape": list(node.shape),
            "chunks": list(node.chunks),
            "compressor": compressor.get_config() if compressor is not None else None,
            "filters": [f.get_config() for f in (getattr(node, "filters", None) or [])],
        }
    meta = json.loads(json.dumps(meta, default=_jsonable))
    check_metadata(meta, f"{src} ({getattr(node, 'path', '') or 'root'})")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "get_config"):
        return value.get_config()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype):
        return value.str
    return str(value)
