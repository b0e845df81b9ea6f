"""Zarr stores from elsewhere: only numeric codecs are decoded, and an input store is never replaced.

A store is refused (one sentence, exit code 1) before any chunk is decoded when its
metadata names a codec outside fluorodn's list (pickle above all: its payload would run),
a non-numeric dtype, a link or a special file. The input store stays byte-identical and no
output or temporary store is left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("dask")
zarr = pytest.importorskip("zarr")

import fluorodn.dask as fdask  # noqa: E402
from fluorodn.cli import app  # noqa: E402
from fluorodn.errors import FileFormatError, OutputExistsError  # noqa: E402
from tests.support import assert_user_error  # noqa: E402


class _Payload:
    """Unpickling this creates the file ``marker``: proof that pickled data ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def v2_store(path: Path, filters: Any = None, compressor: Any = None, dtype: str = "<f4", **extra: Any) -> Path:
    path.mkdir(parents=True)
    meta = {
        "zarr_format": 2,
        "shape": [4, 4],
        "chunks": [4, 4],
        "dtype": dtype,
        "fill_value": 0,
        "order": "C",
        "filters": filters,
        "compressor": compressor,
        "dimension_separator": ".",
        **extra,
    }
    (path / ".zarray").write_text(json.dumps(meta))
    return path


def pickle_store(folder: Path, marker: Path, dtype: str = "<f4") -> Path:
    """A format-2 store declaring ``dtype`` with a pickle filter whose one chunk creates ``marker``."""
    store = v2_store(folder / "evil.zarr", filters=[{"id": "pickle", "protocol": 5}], dtype=dtype)
    (store / "0.0").write_bytes(pickle.dumps(_Payload(marker)))
    return store


def cli(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def unsafe_numcodecs(monkeypatch: pytest.MonkeyPatch) -> Any:
    """numcodecs as before 0.16.6 (and on Python 3.10): its pickle codec unpickles whatever it is given."""
    numcodecs = pytest.importorskip("numcodecs")
    pickles = sys.modules.get("numcodecs.pickles")
    if pickles is not None and hasattr(pickles, "ALLOW_UNSAFE_PICKLE_DECODE"):
        monkeypatch.setattr(pickles, "ALLOW_UNSAFE_PICKLE_DECODE", True)
    return numcodecs


def test_the_payload_is_live(tmp_path: Path, unsafe_numcodecs: Any) -> None:
    """The chunk of the adversarial store does run code when unpickled (so the tests below mean something)."""
    marker = tmp_path / "ran"
    store = pickle_store(tmp_path, marker)
    unsafe_numcodecs.Pickle().decode((store / "0.0").read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("dtype", ["<f4", "|O"])
def test_pickle_filter_never_runs(
    tmp_path: Path, tiny_model: Path, dtype: str, monkeypatch: Any, unsafe_numcodecs: Any
) -> None:
    """Refused by fluorodn itself, even where numcodecs would unpickle."""
    marker = tmp_path / "ran"
    store = pickle_store(tmp_path, marker, dtype)
    before = snapshot(tmp_path)
    opened: list[Any] = []
    monkeypatch.setattr(zarr, "open", lambda *a, **k: opened.append(a) or pytest.fail("zarr opened the store"))
    result = cli("denoise", store, "--model", tiny_model, "--device", "cpu", "--scheduler", "synchronous")
    assert_user_error(result, str(store), "pickle" if dtype == "<f4" else "'|O'", "trusted machine")
    for call in (lambda: fdask.read_zarr(store), lambda: fdask.denoise_zarr(store, tmp_path / "o.zarr", tiny_model)):
        with pytest.raises(FileFormatError):
            call()
    assert not marker.exists()
    assert not opened
    assert snapshot(tmp_path) == before


def _pickle_v3(d: Path) -> Path:
    store = d / "s.zarr"
    zarr.create_array(store=str(store), shape=(4, 4), chunks=(4, 4), dtype="f4")
    meta = json.loads((store / "zarr.json").read_text())
    meta["codecs"] = [{"name": "numcodecs.pickle", "configuration": {"protocol": 5}}]
    (store / "zarr.json").write_text(json.dumps(meta))
    return store


def _pickle_in_shard(d: Path) -> Path:
    store = d / "s.zarr"
    zarr.create_array(store=str(store), shape=(8, 8), chunks=(2, 2), shards=(4, 4), dtype="f4")
    meta = json.loads((store / "zarr.json").read_text())
    meta["codecs"][0]["configuration"]["codecs"].append({"name": "numcodecs.pickle"})
    (store / "zarr.json").write_text(json.dumps(meta))
    return store


def _consolidated_v2(d: Path) -> Path:
    """A harmless .zarray, but consolidated metadata (which zarr may prefer) naming pickle."""
    store = d / "s.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    group.create_array("a", shape=(4, 4), dtype="f4")
    zarr.consolidate_metadata(str(store))
    meta = json.loads((store / ".zmetadata").read_text())
    meta["metadata"]["a/.zarray"]["filters"] = [{"id": "pickle"}]
    (store / ".zmetadata").write_text(json.dumps(meta))
    return store


def _consolidated_v3(d: Path) -> Path:
    store = d / "s.zarr"
    group = zarr.open_group(str(store), mode="w")
    group.create_array("a", shape=(4, 4), dtype="f4")
    with pytest.warns(UserWarning, match="[Cc]onsolidated"):
        zarr.consolidate_metadata(str(store))
    meta = json.loads((store / "zarr.json").read_text())
    meta["consolidated_metadata"]["metadata"]["a"]["codecs"].append({"name": "numcodecs.pickle"})
    (store / "zarr.json").write_text(json.dumps(meta))
    return store


def _nested_array(d: Path) -> Path:
    group = zarr.open_group(str(d / "s.zarr"), mode="w", zarr_format=2)
    group.create_array("good", shape=(4, 4), dtype="f4")
    v2_store(d / "s.zarr" / "sub" / "bad", compressor={"id": "msgpack2"})
    return d / "s.zarr"


CASES = {
    "v3_pickle_codec": (_pickle_v3, "numcodecs.pickle"),
    "pickle_inside_a_shard": (_pickle_in_shard, "numcodecs.pickle"),
    "consolidated_v2": (_consolidated_v2, "pickle"),
    "consolidated_v3": (_consolidated_v3, "numcodecs.pickle"),
    "array_deep_in_a_group": (_nested_array, "msgpack2"),
    "json_filter": (lambda d: v2_store(d / "s.zarr", filters=[{"id": "json2"}]), "json2"),
    "vlen_utf8": (lambda d: v2_store(d / "s.zarr", filters=[{"id": "vlen-utf8"}], dtype="|O"), "'|O'"),
    "unknown_compressor": (lambda d: v2_store(d / "s.zarr", compressor={"id": "evil-codec"}), "evil-codec"),
    "categorize": (lambda d: v2_store(d / "s.zarr", filters=[{"id": "categorize", "dtype": "<U1"}]), "categorize"),
    "delta_to_objects": (lambda d: v2_store(d / "s.zarr", filters=[{"id": "delta", "dtype": "|O"}]), "'|O'"),
    "structured_dtype": (lambda d: v2_store(d / "s.zarr", dtype=[["a", "<f4"]]), "real numbers"),
    "string_dtype": (lambda d: v2_store(d / "s.zarr", dtype="<U4"), "'<U4'"),
    "v3_string_type": (lambda d: _retype(d, "string"), "'string'"),
    "huge_chunk": (lambda d: v2_store(d / "s.zarr", chunks=[1 << 20, 1 << 20]), "rechunk"),
    "metadata_not_json": (lambda d: _write(d / "s.zarr", ".zarray", b'{"shape": [4,'), "unreadable metadata"),
}


def _retype(d: Path, data_type: str) -> Path:
    store = d / "s.zarr"
    zarr.create_array(store=str(store), shape=(4, 4), chunks=(4, 4), dtype="f4")
    meta = json.loads((store / "zarr.json").read_text())
    meta["data_type"] = data_type
    (store / "zarr.json").write_text(json.dumps(meta))
    return store


def _write(store: Path, name: str, data: bytes) -> Path:
    store.mkdir()
    (store / name).write_bytes(data)
    return store


@pytest.mark.parametrize("name", list(CASES))
def test_store_refused_before_zarr_opens_it(name: str, tmp_path: Path, tiny_model: Path, monkeypatch: Any) -> None:
    build, fragment = CASES[name]
    store = build(tmp_path)
    before = snapshot(tmp_path)
    monkeypatch.setattr(zarr, "open", lambda *a, **k: pytest.fail("zarr opened the store"))
    assert_user_error(cli("denoise", store, "--model", tiny_model, "--device", "cpu"), str(store), fragment)
    with pytest.raises(FileFormatError, match="zarr"):
        fdask.read_zarr(store)
    assert snapshot(tmp_path) == before


def test_parsed_metadata_is_checked_too(tmp_path: Path, monkeypatch: Any, unsafe_numcodecs: Any) -> None:
    """If zarr read its metadata from somewhere fluorodn did not look, the parsed codecs are still checked."""
    import fluorodn._zarr as fzarr

    marker = tmp_path / "ran"
    store = pickle_store(tmp_path, marker, "|O")
    monkeypatch.setattr(fzarr, "check_store", lambda root: None)
    with pytest.raises(FileFormatError, match="zarr"):
        fdask.read_zarr(store)
    assert not marker.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links and FIFOs")
@pytest.mark.parametrize("kind", ["chunk_link", "folder_link", "fifo"])
def test_links_and_special_files_in_a_store(tmp_path: Path, tiny_model: Path, kind: str) -> None:
    """A chunk may not stand for another file (a secret, a FIFO that would hang the reader)."""
    store = tmp_path / "s.zarr"
    zarr.create_array(store=str(store), shape=(4, 4), chunks=(2, 2), dtype="f4", zarr_format=2)[:] = 1
    outside = tmp_path / "secret.bin"
    outside.write_bytes(np.arange(4, dtype="<f4").tobytes())
    (store / "0.0").unlink()
    (store / "1.1").unlink()
    if kind == "chunk_link":
        (store / "0.0").symlink_to(outside)
    elif kind == "folder_link":
        (tmp_path / "elsewhere").mkdir()
        (store / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    else:
        os.mkfifo(store / "1.1")
    result = cli("denoise", store, "--model", tiny_model, "--device", "cpu")
    assert_user_error(result, str(store), "FIFO" if kind == "fifo" else "symbolic link")
    assert not (tmp_path / "s_denoised.zarr").exists()


@pytest.mark.parametrize(
    ("compressor", "filters", "zarr_format"),
    [
        ({"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}, None, 2),
        ({"id": "zlib", "level": 1}, [{"id": "delta", "dtype": "<f4"}], 2),
        ({"id": "bz2", "level": 1}, None, 2),
        ({"id": "lzma", "format": 1, "check": -1, "preset": None, "filters": None}, None, 2),
        (None, None, 2),
        ("zstd", None, 3),
        ("gzip", None, 3),
        ("sharded", None, 3),
    ],
)
def test_numeric_codecs_are_read(tmp_path: Path, compressor: Any, filters: Any, zarr_format: int) -> None:
    """The allow-list does not refuse what fluorodn's users store: common compressors, sharding."""
    numcodecs = pytest.importorskip("numcodecs")
    x = np.random.default_rng(0).normal(100, 5, (12, 10)).astype("f4")
    store = tmp_path / "s.zarr"
    if zarr_format == 2:
        z = zarr.create_array(
            store=str(store),
            shape=x.shape,
            chunks=(4, 10),
            dtype="f4",
            zarr_format=2,
            compressors=numcodecs.get_codec(compressor) if compressor else None,
            filters=[numcodecs.get_codec(f) for f in filters] if filters else None,
        )
    elif compressor == "sharded":
        z = zarr.create_array(store=str(store), shape=x.shape, chunks=(2, 5), shards=(4, 10), dtype="f4")
    else:
        codec = zarr.codecs.ZstdCodec(level=3) if compressor == "zstd" else zarr.codecs.GzipCodec(level=1)
        z = zarr.create_array(store=str(store), shape=x.shape, chunks=(4, 10), dtype="f4", compressors=codec)
    z[:] = x
    arr, _ = fdask.read_zarr(store)
    np.testing.assert_array_equal(arr.compute(), x)


# -- an input store is never replaced ------------------------------------------------------------


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    store = tmp_path / "data" / "v.zarr"
    store.parent.mkdir()
    zarr.create_array(store=str(store), shape=(40, 30), chunks=(20, 30), dtype="f4")[:] = np.ones((40, 30), "f4")
    return store


def _spellings(raw: Path) -> dict[str, list[Any]]:
    data = raw.parent
    (data / "link.zarr").symlink_to(raw, target_is_directory=True)
    (data / "sub").mkdir()
    return {
        "same_path": ["-o", raw],
        "empty_suffix": ["--suffix", ""],
        "symlink_to_it": ["-o", data / "link.zarr"],
        "dotdot": ["-o", data / "sub" / ".." / "v.zarr"],
        "trailing_slash": ["-o", f"{raw}/"],
        "folder_holding_it": ["-o", data],
        "inside_it": ["-o", raw / "out.zarr"],
    }


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
@pytest.mark.parametrize(
    "spelling", ["same_path", "empty_suffix", "symlink_to_it", "dotdot", "trailing_slash", "folder_holding_it",
                 "inside_it"],
)  # fmt: skip
def test_cli_never_replaces_the_input_store(raw: Path, tiny_model: Path, spelling: str) -> None:
    args = _spellings(raw)[spelling]
    before = snapshot(raw.parent)
    result = cli("denoise", raw, *args, "--overwrite", "--model", tiny_model, "--device", "cpu")
    assert_user_error(result, "its input")
    assert snapshot(raw.parent) == before


def test_overwrite_never_replaces_a_folder_that_is_not_a_store(raw: Path, tiny_model: Path) -> None:
    results = raw.parent.parent / "results"
    results.mkdir()
    (results / "notes.txt").write_text("keep me")
    result = cli("denoise", raw, "-o", results, "--overwrite", "--model", tiny_model, "--device", "cpu")
    assert_user_error(result, str(results), "not a zarr store")
    assert (results / "notes.txt").read_text() == "keep me"


def test_api_never_replaces_the_input_store(raw: Path, tiny_model: Path) -> None:
    before = snapshot(raw.parent)
    for dst in (raw, raw.parent, raw / "x.zarr", raw.parent / "." / "v.zarr"):
        with pytest.raises(OutputExistsError, match="its input"):
            fdask.denoise_zarr(raw, dst, tiny_model, device="cpu", overwrite=True)
    assert snapshot(raw.parent) == before
