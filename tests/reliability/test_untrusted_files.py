"""Files from elsewhere: what fluorodn reads, and how each failure of one input stays one sentence.

* integer and float16 round trips (``--dtype same``) saturate at the type's limits;
* links out of a MATLAB v7.3 (HDF5) file are never followed, link loops do not hang or crash;
* a file cut short while it is read is an error, not SIGBUS, and leaves no temporary file;
* compressed TIFFs are decoded (imagecodecs), or the missing codec is named;
* one bad file in a batch is one line, and the batch goes on (tracebacks with ``--debug``);
* a model given by path is probed before any file is read, with a note that its hash is not checked.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from fluorodn import Denoiser, FileFormatError
from fluorodn import io as fio

# -- integer and float16 round trips ------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "uint32", "int64", "uint64"])
def test_integers_saturate(dtype: str) -> None:
    info = np.iinfo(dtype)
    page = np.array([[1e30, -1e30, float(info.max), float(info.min), np.float32(info.max) * 2, 0.4]], np.float32)
    (out,) = fio.cast_pages([page], np.dtype(dtype))
    assert out.dtype == np.dtype(dtype)
    assert out.tolist() == [[info.max, info.min, info.max, info.min, info.max, 0]]


def test_float16_saturates_at_its_largest_finite_values() -> None:
    page = np.array([[1e6, -1e6, 65519.0, 65504.0, 1.5]], np.float32)
    (out,) = fio.cast_pages([page], np.dtype(np.float16))
    assert out.dtype == np.float16 and np.isfinite(out).all()
    assert out.tolist() == [[65504.0, -65504.0, 65504.0, 65504.0, 1.5]]


@pytest.mark.parametrize("dtype", ["int32", "uint32", "int64", "uint64", "float16"])
def test_same_dtype_near_the_limits_through_the_cli(tmp_path: Path, tiny_model: Path, rel: Any, dtype: str) -> None:
    """Values next to the type's maximum come back at (or just below) it, never wrapped to the minimum."""
    top = np.iinfo(dtype).max if dtype != "float16" else np.finfo(np.float16).max
    noise = np.random.default_rng(0).poisson(3, (40, 30))
    if dtype == "float16":
        x = (np.float64(top) - 32 * noise).astype(dtype)
    else:
        x = np.array(top, dtype) - noise.astype(dtype)  # exact integers up to the maximum
    np.save(tmp_path / "a.npy", x)
    result = rel.cli("denoise", tmp_path / "a.npy", "--dtype", "same", "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = np.load(tmp_path / "a_denoised.npy")
    assert out.dtype == np.dtype(dtype)
    assert np.isfinite(out.astype(np.float64)).all()
    assert out.astype(np.float64).min() > float(top) * 0.99, "wrapped around"
    assert out.max() == top


# -- MATLAB v7.3: links out of the file ----------------------------------------------------------


def v73(path: Path, **variables: Any) -> Path:
    """A MATLAB v7.3 file; a variable given as an array is a double matrix, anything else is stored as is."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            if isinstance(value, np.ndarray):
                f.create_dataset(name, data=value.T).attrs["MATLAB_class"] = np.bytes_("double")
            elif callable(value):
                value(f, name)
            else:
                f[name] = value
    return path


def matrix(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(100, (30, 20)).astype(np.float64)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A FIFO nobody writes to: opening it for reading blocks forever."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    path = tmp_path / "pipe.h5"
    os.mkfifo(path)
    return path


def test_external_link_is_not_followed(tmp_path: Path, tiny_model: Path, rel: Any, fifo: Path) -> None:
    """An external link to a FIFO would hang the reader if followed; it is refused at once."""
    import h5py

    src = v73(tmp_path / "a.mat", spectra=h5py.ExternalLink(str(fifo), "/data"))
    proc = rel.run("denoise", src, "--model", tiny_model, "--device", "cpu", timeout=120)
    assert proc.returncode == 1, proc.stderr
    rel.assert_one_sentence(proc.stderr, str(src), "'spectra'", "is a link", "itself holds")
    assert not (tmp_path / "a_denoised.mat").exists()


def test_external_link_beside_a_variable_is_left_alone(tmp_path: Path, tiny_model: Path, rel: Any, fifo: Path) -> None:
    import h5py

    src = v73(tmp_path / "a.mat", spectra=matrix(), notes=h5py.ExternalLink(str(fifo), "/data"))
    proc = rel.run("denoise", src, "--model", tiny_model, "--device", "cpu", timeout=120)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(tmp_path / "a_denoised.mat", "r") as f:
        assert isinstance(f.get("notes", getlink=True), h5py.ExternalLink)  # kept as it was, not followed
        assert f["spectra_denoised"].shape == (20, 30)


def test_soft_link_loop(tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    import h5py

    src = v73(tmp_path / "a.mat", spectra=matrix(), a=h5py.SoftLink("/b"), b=h5py.SoftLink("/a"))
    result = rel.cli("denoise", src, "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    loop_only = v73(tmp_path / "b.mat", a=h5py.SoftLink("/b"), b=h5py.SoftLink("/a"))
    cases = (([src, "--key", "a", "--overwrite"], ["'a'", "is a link to '/b'"]), ([loop_only], ["no 2D or 3D"]))
    for args, fragments in cases:
        before = rel.snapshot(tmp_path)
        result = rel.cli("denoise", *args, "--model", tiny_model, "--device", "cpu")
        assert result.exit_code == 1, result.output
        rel.assert_one_sentence(result.stderr, *fragments)
        assert rel.snapshot(tmp_path) == before


def _virtual(other: Path) -> Any:
    def make(f: Any, name: str) -> None:
        import h5py

        layout = h5py.VirtualLayout(shape=(20, 30), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "data", shape=(20, 30))
        f.create_virtual_dataset(name, layout).attrs["MATLAB_class"] = np.bytes_("double")

    return make


def _external_raw(raw: Path) -> Any:
    def make(f: Any, name: str) -> None:
        raw.write_bytes(np.zeros((20, 30)).tobytes())
        dset = f.create_dataset(name, shape=(20, 30), dtype="f8", external=[(str(raw), 0, 20 * 30 * 8)])
        dset.attrs["MATLAB_class"] = np.bytes_("double")

    return make


@pytest.mark.parametrize("kind", ["virtual", "external_raw"])
def test_data_kept_in_other_files_is_not_read(tmp_path: Path, tiny_model: Path, rel: Any, kind: str) -> None:
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = np.full((20, 30), 7.0)
    make = _virtual(other) if kind == "virtual" else _external_raw(tmp_path / "raw.bin")
    src = v73(tmp_path / "a.mat", spectra=make)
    fragment = "virtual dataset" if kind == "virtual" else "external file"
    with pytest.raises(FileFormatError, match=fragment):
        fio.open_recording(src)
    before = rel.snapshot(tmp_path)
    for args in ([src], [src, "--key", "spectra"]):
        result = rel.cli("denoise", *args, "--model", tiny_model, "--device", "cpu")
        assert result.exit_code == 1, result.output
        rel.assert_one_sentence(result.stderr, str(src), fragment, "itself holds")
    assert rel.snapshot(tmp_path) == before


# -- a file cut short while it is read ------------------------------------------------------------

_CUT = textwrap.dedent(
    """
    import os, sys
    from fluorodn import _tiff, io as fio
    path = sys.argv[1]
    _tiff.READ_WINDOW_BYTES = 1  # one page per read
    rec = fio.open_recording(path)
    pages = rec.pages()
    next(pages)
    os.truncate(path, os.path.getsize(path) // 2)
    try:
        for page in pages:
            page.sum()
    except fio.FileFormatError as err:
        print("refused:", err)
        sys.exit(3)
    """
)


@pytest.mark.parametrize("name", ["a.npy", "a.tif"])
def test_a_file_cut_short_while_read_is_an_error_not_sigbus(tmp_path: Path, rel: Any, name: str) -> None:
    x = np.random.default_rng(0).poisson(100, (8, 256, 256)).astype(np.uint16)
    path = tmp_path / name
    np.save(path, x) if name.endswith(".npy") else tifffile.imwrite(path, x)
    proc = subprocess.run(
        [sys.executable, "-c", _CUT, str(path)], capture_output=True, text=True, env=rel_env(), timeout=120
    )
    assert proc.returncode == 3, f"code {proc.returncode} (-7 is SIGBUS): {proc.stderr}"
    assert "cut short" in proc.stdout and str(path) in proc.stdout


def rel_env() -> dict[str, str]:
    repo = Path(__file__).resolve().parents[2]
    return {**os.environ, "PYTHONPATH": str(repo)}


def test_cli_input_cut_short_removes_the_partial_output(
    tmp_path: Path, tiny_model: Path, rel: Any, monkeypatch: Any
) -> None:
    from fluorodn import _tiff

    src = tmp_path / "a.npy"
    side = 600  # pages large enough to be sent to the network one at a time
    np.save(src, np.random.default_rng(0).poisson(100, (12, side, side)).astype(np.uint16))
    monkeypatch.setattr(_tiff, "READ_WINDOW_BYTES", 1)
    real_stream = Denoiser.stream

    def cut_after_first(self: Denoiser, pages: Any, **kw: Any) -> Any:
        for k, page in enumerate(real_stream(self, pages, **kw)):
            if k == 0:
                os.truncate(src, side * side * 2 * 5)
            yield page

    monkeypatch.setattr(Denoiser, "stream", cut_after_first)
    result = rel.cli("denoise", src, "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 1, result.output
    rel.assert_one_sentence(result.stderr, str(src), "cut short")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


# -- compressed TIFFs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compression", "dtype"),
    [
        ("lzw", np.uint16),
        ("zstd", np.uint16),
        ("jpeg", np.uint8),
        ("jpeg2000", np.uint16),
        ("lzma", np.float32),
        ("packbits", np.uint8),
        ("deflate", np.int16),
    ],
)
def test_compressed_tiffs_are_read(tmp_path: Path, denoiser: Denoiser, compression: str, dtype: Any) -> None:
    pytest.importorskip("imagecodecs")
    x = np.random.default_rng(0).poisson(100, (3, 32, 40)).astype(dtype)
    tifffile.imwrite(tmp_path / "c.tif", x, compression=compression, photometric="minisblack")
    with contextlib.closing(fio.open_recording(tmp_path / "c.tif")) as rec:
        got = np.stack(list(rec.pages()))
    np.testing.assert_array_equal(got, tifffile.imread(tmp_path / "c.tif"))


def test_lzw_tiff_through_the_cli(tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    pytest.importorskip("imagecodecs")
    tifffile.imwrite(tmp_path / "c.tif", np.ones((2, 20, 20), np.uint16), compression="lzw")
    result = rel.cli("denoise", tmp_path / "c.tif", "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 0, result.output


def test_a_missing_codec_is_named(tmp_path: Path, tiny_model: Path, rel: Any, monkeypatch: Any) -> None:
    """Where imagecodecs is not installed, the sentence names the codec and the package."""
    pytest.importorskip("imagecodecs")
    tifffile.imwrite(tmp_path / "c.tif", np.ones((2, 20, 20), np.uint16), compression="lzw")
    monkeypatch.setattr(type(tifffile.TIFF), "DECOMPRESSORS", property(lambda self: {1: None, 8: None}))
    before = rel.snapshot(tmp_path)
    result = rel.cli("denoise", tmp_path / "c.tif", "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 1, result.output
    rel.assert_one_sentence(result.stderr, str(tmp_path / "c.tif"), "LZW", "pip install imagecodecs")
    assert rel.snapshot(tmp_path) == before


# -- one bad file in a batch ---------------------------------------------------------------------


def _bad_header(path: Path) -> Path:
    np.save(path, np.ones((10, 10), np.float32))
    data = bytearray(path.read_bytes())
    start = data.index(b"{")
    data[start : start + 12] = b"{'descr': <f"  # a quote missing: not a Python literal
    path.write_bytes(bytes(data))
    return path


def test_one_bad_file_is_one_line_and_the_batch_goes_on(tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    import h5py

    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.ones((2, 20, 20), np.uint16))
    bad_npy = _bad_header(tmp_path / "bad.npy")
    loop = v73(tmp_path / "loop.mat", a=h5py.SoftLink("/b"), b=h5py.SoftLink("/a"))
    also_good = v73(tmp_path / "z.mat", spectra=matrix())
    result = rel.cli("denoise", good, bad_npy, loop, also_good, "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = rel.error_lines(result.stderr)
    assert len(lines) == 2, result.stderr
    assert str(bad_npy) in lines[0] and "numpy.save" in lines[0]
    assert str(loop) in lines[1]
    assert (tmp_path / "good_denoised.tif").is_file() and (tmp_path / "z_denoised.mat").is_file()
    assert "2 failed" in result.stdout and not rel.temporaries(tmp_path)


def test_an_unforeseen_error_is_one_line_and_the_traceback_needs_debug(
    tmp_path: Path, tiny_model: Path, rel: Any, monkeypatch: Any
) -> None:
    for name in ("a.npy", "b.npy"):
        np.save(tmp_path / name, np.ones((10, 10), np.float32))
    real = fio.NpyRecording.pages

    def broken(self: Any) -> Any:
        if self.path.name == "a.npy":
            raise KeyError("a reader bug")
        return real(self)

    monkeypatch.setattr(fio.NpyRecording, "pages", broken)
    args = [tmp_path / "a.npy", tmp_path / "b.npy", "--model", tiny_model, "--device", "cpu"]
    result = rel.cli("denoise", *args)
    assert result.exit_code == 1
    rel.assert_one_sentence(result.stderr, str(tmp_path / "a.npy"), "KeyError", "--debug")
    assert (tmp_path / "b_denoised.npy").is_file()
    result = rel.cli("denoise", *args, "--overwrite", "--debug")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "a reader bug" in result.stderr


# -- a model given by path ----------------------------------------------------------------------


def graph_model(path: Path, helpers: Any, kind: str) -> Path:
    """An ONNX model with valid fluorodn metadata that is not fit to denoise (``kind`` says how)."""
    import onnx
    from onnx import TensorProto, helper

    elem = TensorProto.DOUBLE if kind == "double_input" else TensorProto.FLOAT
    dims = ["N", 1, "H", "W"]
    nodes, inits = [], []
    if kind == "shrinks":  # the mean of each image: (N, 1, 1, 1), which tiling would broadcast
        nodes.append(helper.make_node("ReduceMean", ["input"], ["noise"], axes=[2, 3], keepdims=1))
    elif kind == "nan":
        nodes.append(helper.make_node("Log", ["input"], ["noise"]))
    elif kind == "fails":
        inits.append(onnx.numpy_helper.from_array(np.array([1, 1, 8, 8], np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["input", "shape"], ["noise"]))
    else:
        nodes.append(helper.make_node("Identity", ["input"], ["noise"]))
    graph = helper.make_graph(
        nodes,
        kind,
        [helper.make_tensor_value_info("input", elem, dims)],
        [helper.make_tensor_value_info("noise", elem, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"fluorodn": json.dumps(helpers.tiny_metadata(kind, depth=1))})
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("shrinks", "into shape"),
        ("nan", "NaN"),
        ("double_input", "float32"),
        ("fails", "fails on a small probe"),
    ],
)
def test_an_unfit_user_model_is_refused_before_any_file(
    tmp_path: Path, helpers: Any, rel: Any, kind: str, fragment: str
) -> None:
    pytest.importorskip("onnx")
    model = graph_model(tmp_path / "m.onnx", helpers, kind)
    np.save(tmp_path / "a.npy", np.ones((30, 20), np.float32))
    before = rel.snapshot(tmp_path)
    result = rel.cli("denoise", tmp_path / "a.npy", "--model", model, "--device", "cpu")
    assert result.exit_code == 1, result.output
    rel.assert_one_sentence(result.stderr, str(model), fragment)
    assert rel.snapshot(tmp_path) == before


def test_a_spectral_model_given_by_path_runs(tmp_path: Path, rel: Any) -> None:
    """A spectral model file (traces and levels in, noise traces out) passes the probe and runs."""
    import shutil

    from fluorodn.registry import load_model

    model = tmp_path / "mine.onnx"
    shutil.copyfile(load_model("spectral").path, model)
    x = np.random.default_rng(0).normal(1000.0, 10.0, (400, 60)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    result = rel.cli("denoise", tmp_path / "a.npy", "--model", model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    y = np.load(tmp_path / "a_denoised.npy")
    expected = Denoiser("spectral", device="cpu").run(x)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-3)


def test_a_user_model_is_announced_unchecked(tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    np.save(tmp_path / "a.npy", np.ones((30, 20), np.float32))
    result = rel.cli("denoise", tmp_path / "a.npy", "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    notes = [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: note:")]
    assert len(notes) == 1 and "not a shipped model" in notes[0] and "not checked" in notes[0], result.stderr
    assert "no Python code" in notes[0]
