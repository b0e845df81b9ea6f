"""Fuzzing fluorodn's readers: mutated NPY, TIFF, MAT (v5, v7.3) and zarr files.

Each example starts from a small valid file (or zarr store), changes its headers, tags,
JSON metadata or bytes (hypothesis draws the changes), and reads it with fluorodn in a
separate process (``reader_worker.py``). The property:

* the reader returns the data or raises fluorodn's own error, with a one-line message;
  any other exception, a crash (signal), a hang or a runaway allocation fails the test;
* the input is byte-identical afterwards, and no file is left beside it.

The normal test run tries a few examples per seed file (about 10 s in all); a long run::

    FLUORODN_FUZZ_EXAMPLES=5000 python -m pytest tests/fuzz -q -p no:cacheprovider

draws that many examples per seed file, at random (the brief run is derandomized, so that
it gives the same answer every time).
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("reader_worker.py")
LONG = int(os.environ.get("FLUORODN_FUZZ_EXAMPLES", "0"))
EXAMPLES = LONG or 6
#: Seconds one file may take to read before it counts as a hang.
READ_TIMEOUT_S = 60.0

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- seed files: small valid recordings --------------------------------------------------------

Files = dict[str, bytes]  # path relative to the example folder -> content
_RNG = np.random.default_rng(7)
_U16 = _RNG.poisson(100, (3, 12, 10)).astype(np.uint16)
_F32 = _RNG.normal(0, 1, (2, 9, 11)).astype(np.float32)


def _npy(d: Path) -> str:
    np.save(d / "a.npy", _U16)
    return "a.npy"


def _npy_fortran(d: Path) -> str:
    np.save(d / "a.npy", np.asfortranarray(_F32[0].astype(">f8")))
    return "a.npy"


def _tif(d: Path) -> str:
    import tifffile

    tifffile.imwrite(d / "a.tif", _U16, photometric="minisblack", metadata=None)
    return "a.tif"


def _tif_zlib_imagej(d: Path) -> str:
    import tifffile

    tifffile.imwrite(d / "a.tif", _U16, imagej=True, compression="zlib", metadata={"axes": "TYX"})
    return "a.tif"


def _tif_lzw_tiled_bigtiff(d: Path) -> str:
    import tifffile

    tifffile.imwrite(d / "a.tif", _F32, bigtiff=True, tile=(16, 16), compression="lzw", photometric="minisblack")
    return "a.tif"


def _mat5(d: Path) -> str:
    import scipy.io

    scipy.io.savemat(d / "a.mat", {"spectra": _U16[0].astype(np.float64), "fs": 5.0}, do_compression=True)
    return "a.mat"


def _mat73(d: Path) -> str:
    import h5py

    with h5py.File(d / "a.mat", "w", userblock_size=512) as f:
        dset = f.create_dataset("spectra", data=_U16.transpose(0, 2, 1), compression="gzip", chunks=(1, 10, 12))
        dset.attrs["MATLAB_class"] = np.bytes_("uint16")
    return "a.mat"


def _zarr(fmt: int) -> Callable[[Path], str]:
    def make(d: Path) -> str:
        zarr = pytest.importorskip("zarr")
        pytest.importorskip("dask")
        z = zarr.create_array(store=str(d / "s.zarr"), shape=(12, 10), chunks=(6, 10), dtype="u2", zarr_format=fmt)
        z[:] = _U16[0]
        return "s.zarr"

    return make


SEEDS: dict[str, Callable[[Path], str]] = {
    "npy": _npy,
    "npy_fortran_big_endian": _npy_fortran,
    "tif": _tif,
    "tif_zlib_imagej": _tif_zlib_imagej,
    "tif_lzw_tiled_bigtiff": _tif_lzw_tiled_bigtiff,
    "mat_v5": _mat5,
    "mat_v73": _mat73,
    "zarr_v2": _zarr(2),
    "zarr_v3": _zarr(3),
}

_SEED_CACHE: dict[str, tuple[str, Files]] = {}


def seed(name: str) -> tuple[str, Files]:
    """(the path to read, every file of the seed) for seed ``name``, built once."""
    if name not in _SEED_CACHE:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            entry = SEEDS[name](d)
            files = {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
        _SEED_CACHE[name] = (entry, files)
    return _SEED_CACHE[name]


# -- where the structure of each format lies ---------------------------------------------------


def hot_ranges(name: str, data: bytes) -> list[tuple[int, int]]:
    """Byte ranges holding headers, tags and other structure (mutated more often than the rest)."""
    if name.endswith(".npy"):
        return [(0, data.index(b"\n") + 1 if b"\n" in data else 128)]
    if name.endswith(".tif"):
        return _tiff_structure(data)
    if name.endswith(".mat"):
        return [(0, min(len(data), 4096))]
    return [(0, len(data))]


def _tiff_structure(data: bytes) -> list[tuple[int, int]]:
    import io

    import tifffile

    ranges = [(0, 16)]
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        for page in tif.pages:
            for tag in page.tags:
                ranges.append((tag.offset, tag.offset + 20))
                ranges.append((tag.valueoffset, tag.valueoffset + min(64, max(4, tag.count))))
    return [(a, min(b, len(data))) for a, b in ranges if a < len(data)]


# -- mutations ------------------------------------------------------------------------------------

INTERESTING = [
    b"\x00",
    b"\xff",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\xff\xff\xff\x7f",
    b"\x00\x00\x00\x80",
    b"\x01\x00\x00\x00",
    struct.pack("<Q", 2**63 - 1),
    struct.pack("<Q", 2**40),
    struct.pack("<H", 0xFFFF),
]
JSON_KEYS = [
    "dtype", "data_type", "shape", "chunks", "compressor", "filters", "codecs", "fill_value", "order",
    "zarr_format", "node_type", "dimension_separator", "chunk_key_encoding", "chunk_grid",
]  # fmt: skip
CODEC_IDS = ["pickle", "json2", "msgpack2", "vlen-utf8", "categorize", "zlib", "blosc", "zstd", "bytes", "gzip", "x"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**65), 2**65) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
CODECS = st.builds(
    lambda key, name, extra: {key: name, **extra},
    st.sampled_from(["id", "name"]),
    st.sampled_from(CODEC_IDS + [f"numcodecs.{c}" for c in CODEC_IDS]),
    st.dictionaries(st.sampled_from(["dtype", "astype", "level", "configuration"]), JSON_VALUES, max_size=2),
)
NPY_FIELDS = {
    "descr": ["'<f4'", "'|O'", "'<U4'", "'>i8'", "[('a', '<f4')]", "'<c8'", "'|b1'", "'V8'", "'f2'", "42", "'<f4"],
    "fortran_order": ["True", "False", "1", "None"],
    "shape": ["(3, 12, 10)", "()", "(5,)", "(-1, 10)", "(0, 10)", "(2**40, 2**40)", "(1 << 62, 4)", "[3, 12, 10]"],
}


@st.composite
def byte_ops(draw: Any, name: str, data: bytes) -> list[tuple[Any, ...]]:
    hot = hot_ranges(name, data)
    size = max(1, len(data))
    position = st.one_of(
        st.sampled_from(hot).flatmap(lambda r: st.integers(r[0], max(r[0], r[1] - 1))),
        st.integers(0, size - 1),
    )
    op = st.one_of(
        st.tuples(st.just("set"), position, st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("truncate"), st.integers(0, size)),
        st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("delete"), position, st.integers(1, 64)),
    )
    return draw(st.lists(op, min_size=1, max_size=4))


def apply_bytes(data: bytes, ops: list[tuple[Any, ...]]) -> bytes:
    buf = bytearray(data)
    for op in ops:
        if op[0] == "set":
            _, pos, value = op
            buf[pos : pos + len(value)] = value
        elif op[0] == "truncate":
            del buf[op[1] :]
        elif op[0] == "insert":
            buf[op[1] : op[1]] = op[2]
        else:
            del buf[op[1] : op[1] + op[2]]
    return bytes(buf)


def npy_header(data: bytes, fields: dict[str, str]) -> bytes:
    """``data`` with its header dict rewritten from ``fields`` (length and padding kept valid)."""
    end = data.index(b"\n") + 1
    text = "{" + "".join(f"'{k}': {v}, " for k, v in fields.items()) + "}"
    header = text.encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return data[:6] + b"\x01\x00" + struct.pack("<H", len(header)) + header + data[end:]


@st.composite
def mutated(draw: Any, seed_name: str) -> tuple[str, Files, str]:
    """(path to read, mutated files, a description of what changed)."""
    entry, files = seed(seed_name)
    files = dict(files)
    names = sorted(files)
    target = draw(st.sampled_from(names))
    kinds = ["bytes"]
    if target.endswith(".npy"):
        kinds.append("npy_header")
    if target.endswith((".zarray", "zarr.json", ".zmetadata")):
        kinds += ["json", "json", "codec"]
    kind = draw(st.sampled_from(kinds))
    if kind == "npy_header":
        fields = {k: draw(st.sampled_from(v)) for k, v in NPY_FIELDS.items() if draw(st.booleans()) or k == "descr"}
        files[target] = npy_header(files[target], fields)
        what = f"{target}: header {fields}"
    elif kind in ("json", "codec"):
        meta = json.loads(files[target])
        key = draw(st.sampled_from(JSON_KEYS))
        if kind == "codec":
            value: Any = draw(st.lists(CODECS, min_size=1, max_size=2))
            key = "codecs" if "zarr.json" in target else draw(st.sampled_from(["filters", "compressor"]))
            value = value[0] if key == "compressor" else value
        else:
            value = draw(JSON_VALUES)
        meta[key] = value
        files[target] = json.dumps(meta, allow_nan=True).encode()
        what = f"{target}: {key} = {value!r}"
    else:
        ops = draw(byte_ops(target, files[target]))
        files[target] = apply_bytes(files[target], ops)
        what = f"{target}: {ops}"
    return entry, files, what


# -- the reader process -------------------------------------------------------------------------


class Reader:
    """A ``reader_worker.py`` process, started again after a crash or a hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self._answer(proc, 120.0)["outcome"] == "ready"
        return proc

    def read(self, path: Path) -> dict[str, str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self.start()
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        return self._answer(self.proc, READ_TIMEOUT_S)

    def _answer(self, proc: subprocess.Popen[str], timeout: float) -> dict[str, str]:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            proc.kill()
            proc.wait()
            return {"outcome": "hang", "detail": f"no answer within {timeout:.0f} s"}
        line = proc.stdout.readline()
        if not line:
            code = proc.wait()
            return {"outcome": "crash", "detail": f"the reader process ended with code {code}"}
        return dict(json.loads(line))

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def reader() -> Iterator[Reader]:
    if sys.platform == "win32":
        pytest.skip("the reader process is driven through select() on a pipe (POSIX)")
    worker = Reader()
    yield worker
    worker.close()


def state(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("seed_name", list(SEEDS))
def test_seed_files_are_read(seed_name: str, reader: Reader, tmp_path: Path) -> None:
    """Each unmutated seed is a valid recording (so mutations start from something fluorodn reads)."""
    entry, files = seed(seed_name)
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    answer = reader.read(tmp_path / entry)
    assert answer["outcome"] == "read", answer["detail"]


@pytest.mark.parametrize("seed_name", list(SEEDS))
@FUZZ
@given(data=st.data())
def test_mutated_files_are_read_or_refused_in_one_sentence(seed_name: str, reader: Reader, data: Any) -> None:
    entry, files, what = data.draw(mutated(seed_name))
    folder = Path(tempfile.mkdtemp(prefix="fluorodn-fuzz-"))
    try:
        for rel, content in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(content)
        before = state(folder)
        answer = reader.read(folder / entry)
        event(answer["outcome"])
        assert answer["outcome"] in ("read", "refused"), f"{what}\n{answer['outcome']}: {answer['detail']}"
        if answer["outcome"] == "refused":
            assert "\n" not in answer["detail"].strip(), f"{what}: not one line: {answer['detail']}"
        assert state(folder) == before, f"{what}: the input changed or a file was left behind"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
