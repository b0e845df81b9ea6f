"""Bad input matrix: every refusal is one sentence naming the file and the fix, exit code 1,
no traceback, the input byte-identical afterwards and nothing left in the output folder.

Each case builds its files in a fresh folder and runs ``fluorodn denoise`` (in process);
the whole folder (inputs and outputs, with modes) is hashed before and after. Cases that
need a real process (permissions, memory limits) run ``python -m fluorodn``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import tifffile

from fluorodn import Denoiser, DenoiserOptions

Case = Callable[[Path, SimpleNamespace], tuple[list[Any], list[str]]]
CASES: dict[str, Case] = {}


def case(fn: Case) -> Case:
    CASES[fn.__name__] = fn
    return fn


def pages(n: int = 10, rows: int = 40, cols: int = 30, dtype: Any = np.uint16) -> np.ndarray:
    rng = np.random.default_rng(n)
    return rng.poisson(100, (n, rows, cols)).astype(dtype)


def text(path: Path) -> Path:
    path.write_text("Date,Signal\n2025-01-01,3.2\n", encoding="utf-8")
    return path


# -- finding inputs --------------------------------------------------------------------


@case
def missing_file(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    return [d / "nope.tif"], [str(d / "nope.tif"), "does not exist"]


@case
def folder_without_recordings(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    text(d / "notes.txt")
    (d / "photo.png").write_bytes(b"\x89PNG\r\n")
    return [d], [str(d), "matches no", "folder or pattern that holds recordings"]


@case
def empty_folder(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    (d / "raw").mkdir()
    return [d / "raw"], [str(d / "raw"), "matches no"]


@case
def pattern_matching_nothing(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", pages(1)[0])
    return [f"{d}/*.tiff"], [f"{d}/*.tiff", "matches no"]


@case
def unsupported_extension(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    return [text(d / "signal.csv")], [str(d / "signal.csv"), ".tif, .tiff, .npy, .mat"]


# -- files that are not what their name says ---------------------------------------------


@case
def empty_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    (d / "a.tif").write_bytes(b"")
    return [d / "a.tif"], [str(d / "a.tif"), "is empty (0 bytes)"]


@case
def empty_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    (d / "a.npy").write_bytes(b"")
    return [d / "a.npy"], [str(d / "a.npy"), "is empty (0 bytes)"]


@case
def empty_mat(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    (d / "a.mat").write_bytes(b"")
    return [d / "a.mat"], [str(d / "a.mat"), "is empty (0 bytes)"]


@case
def text_renamed_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    return [text(d / "a.tif")], [str(d / "a.tif"), "as TIFF", "complete TIFF file"]


@case
def text_renamed_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    return [text(d / "a.npy")], [str(d / "a.npy"), "numpy.save"]


@case
def text_renamed_mat(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    return [text(d / "a.mat")], [str(d / "a.mat"), "MATLAB"]


@case
def truncated_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "full.npy", pages())
    data = (d / "full.npy").read_bytes()
    (d / "full.npy").unlink()
    (d / "a.npy").write_bytes(data[: len(data) // 2])
    return [d / "a.npy"], [str(d / "a.npy"), "cannot read", "or still being written", "numpy.save"]


@case
def truncated_mat_v73(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    import h5py

    with h5py.File(d / "full.mat", "w", userblock_size=512) as f:
        f.create_dataset("spectra", data=pages(1, dtype=np.float64)[0].T).attrs["MATLAB_class"] = np.bytes_("double")
    data = (d / "full.mat").read_bytes()
    (d / "full.mat").unlink()
    (d / "a.mat").write_bytes(data[: len(data) * 2 // 3])
    return [d / "a.mat"], [str(d / "a.mat"), "save it again from MATLAB"]


# -- damaged TIFF files ------------------------------------------------------------------


@case
def truncated_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "full.tif", pages())
    data = (d / "full.tif").read_bytes()
    (d / "full.tif").unlink()
    (d / "a.tif").write_bytes(data[: len(data) // 2])
    return [d / "a.tif"], [str(d / "a.tif"), "truncated", "restore it"]


@case
def truncated_compressed_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    """tifffile alone reads the pages before the cut and logs the rest away."""
    tifffile.imwrite(d / "full.tif", pages(), compression="zlib")
    data = (d / "full.tif").read_bytes()
    (d / "full.tif").unlink()
    (d / "a.tif").write_bytes(data[: len(data) // 2])
    return [d / "a.tif"], [str(d / "a.tif"), "truncated", "restore it"]


@case
def truncated_bigtiff(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "full.tif", pages(), bigtiff=True)
    data = (d / "full.tif").read_bytes()
    (d / "full.tif").unlink()
    (d / "a.tif").write_bytes(data[: len(data) - 100])
    return [d / "a.tif"], [str(d / "a.tif"), "truncated", "restore it"]


@case
def corrupt_page_data_in_the_middle(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", pages(), compression="zlib")
    with tifffile.TiffFile(d / "a.tif") as tif:
        offset, count = tif.pages[5].dataoffsets[0], tif.pages[5].databytecounts[0]
    data = bytearray((d / "a.tif").read_bytes())
    data[offset : offset + count] = bytes(count)
    (d / "a.tif").write_bytes(bytes(data))
    return [d / "a.tif"], [str(d / "a.tif"), "damaged", "restore it"]


@case
def corrupt_page_directory_in_the_middle(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    """A broken chain of pages: tifffile alone would return the first five pages only."""
    tifffile.imwrite(d / "a.tif", pages(), metadata=None)
    with tifffile.TiffFile(d / "a.tif") as tif:
        offset = tif.pages[5].offset
    data = bytearray((d / "a.tif").read_bytes())
    data[offset : offset + 40] = b"\xff" * 40
    (d / "a.tif").write_bytes(bytes(data))
    return [d / "a.tif"], [str(d / "a.tif"), "damaged", "restore it"]


# -- images fluorodn does not denoise ------------------------------------------------------


@case
def rgb_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", np.zeros((20, 20, 3), np.uint8), photometric="rgb")
    return [d / "a.tif"], [str(d / "a.tif"), "3 samples per pixel", "grey-scale pages"]


@case
def rgba_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", np.zeros((20, 20, 4), np.uint8), photometric="rgb", extrasamples=["unassalpha"])
    return [d / "a.tif"], [str(d / "a.tif"), "4 samples per pixel", "grey-scale pages"]


@case
def two_channels_per_pixel_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    data = np.zeros((20, 20, 2), np.uint16)
    tifffile.imwrite(d / "a.tif", data, photometric="minisblack", planarconfig="contig")
    return [d / "a.tif"], [str(d / "a.tif"), "2 samples per pixel", "grey-scale pages"]


@case
def complex_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", np.ones((20, 20), np.complex64))
    return [d / "a.tif"], [str(d / "a.tif"), "complex64", "integers or floats"]


@case
def complex_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", np.ones((20, 20), np.complex128))
    return [d / "a.npy"], [str(d / "a.npy"), "complex128", "save such an array"]


@case
def bool_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", np.ones((20, 20), bool))
    return [d / "a.npy"], [str(d / "a.npy"), "bool", "save such an array"]


@case
def object_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", np.array([[1, None], [2, 3]], dtype=object), allow_pickle=True)
    return [d / "a.npy"], [str(d / "a.npy"), "numeric array"]


@case
def nan_on_a_middle_page_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    data = pages(3, dtype=np.float32)
    data[1, 7, 3] = np.nan
    tifffile.imwrite(d / "a.tif", data, photometric="minisblack")
    return [d / "a.tif"], [str(d / "a.tif"), "NaN", "page index 1", "(7, 3)", "pass --nan fill"]


@case
def inf_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    data = pages(1, dtype=np.float64)[0]
    data[2, 2] = -np.inf
    np.save(d / "a.npy", data)
    return [d / "a.npy"], [str(d / "a.npy"), "infinite", "pass --nan fill"]


@case
def zero_d_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", np.float32(3))
    return [d / "a.npy"], [str(d / "a.npy"), "shape ()", "2 or more dimensions"]


@case
def one_d_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", np.ones(50))
    return [d / "a.npy"], [str(d / "a.npy"), "shape (50,)", "2 or more dimensions"]


@case
def empty_array_npy(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", np.ones((0, 20)))
    return [d / "a.npy"], [str(d / "a.npy"), "non-empty"]


@case
def two_series_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    with tifffile.TiffWriter(d / "a.tif") as tif:
        tif.write(np.zeros((5, 5), np.uint8))
        tif.write(np.zeros((6, 6), np.uint8))
    return [d / "a.tif"], [str(d / "a.tif"), "2 image series", "its own file"]


@case
def mat_without_a_matrix(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    import scipy.io

    scipy.io.savemat(d / "a.mat", {"wavelengths": np.arange(5.0), "note": "dark frame"})
    return [d / "a.mat"], [str(d / "a.mat"), "no 2D or 3D numeric array", "numeric matrix"]


@case
def mat_wrong_key(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    import scipy.io

    scipy.io.savemat(d / "a.mat", {"spectra": pages(1, dtype=np.float64)[0]})
    return [d / "a.mat", "--key", "spectrum"], [str(d / "a.mat"), "'spectrum'", "fix --key"]


@case
def key_for_a_tif(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", pages(1)[0])
    return [d / "a.tif", "--key", "x"], ["--key", ".mat"]


# -- outputs ---------------------------------------------------------------------------


@case
def output_equals_input(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", pages(2))
    return [d / "a.tif", "-o", d / "a.tif", "--overwrite"], [str(d / "a.tif"), "overwrite its input", "-o"]


@case
def empty_suffix_overwrites_input(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", pages(2))
    return [d / "a.npy", "--suffix", "", "--overwrite"], [str(d / "a.npy"), "overwrite its input", "--suffix"]


@case
def output_is_another_input(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", pages(2))
    np.save(d / "a_denoised.npy", pages(3))
    args = [d / "a.npy", d / "a_denoised.npy", "--overwrite"]
    return args, [str(d / "a.npy"), "another input", "--suffix"]


@case
def output_exists(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", pages(2))
    (d / "a_denoised.tif").write_bytes(b"last week's result")
    return [d / "a.tif"], [str(d / "a_denoised.tif"), "--overwrite", "--skip-existing"]


@case
def output_folder_below_a_file(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", pages(2))
    text(d / "results")
    return [d / "a.tif", "-o", d / "results" / "today"], [str(d / "results" / "today"), "choose another folder"]


@case
def output_of_another_format(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    tifffile.imwrite(d / "a.tif", pages(2))
    return [d / "a.tif", "-o", d / "a.npy"], [str(d / "a.tif"), "same format"]


@case
def output_name_too_long(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    name = "q" * 250 + ".tif"  # its output, q..q_denoised.tif, is 263 bytes
    tifffile.imwrite(d / name, pages(2))
    return [d / name], [str(d / name), "is 263 bytes, over the 255 bytes", "--suffix or -o"]


@case
def input_name_too_long(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    return [d / ("q" * 300 + ".tif")], ["is 304 bytes, over the 255 bytes", "no input can have that name"]


# -- models and devices -------------------------------------------------------------------


@case
def model_file_truncated(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    data = ctx.tiny_model.read_bytes()
    (d / "model.onnx").write_bytes(data[: len(data) // 2])
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--model", d / "model.onnx"], [str(d / "model.onnx"), "damaged", "export it again"]


@case
def model_file_is_text(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--model", text(d / "model.onnx")], [str(d / "model.onnx"), "cannot load", "export it"]


@case
def model_without_metadata(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    ctx.make_model(d / "model.onnx", metadata=False)
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--model", d / "model.onnx"], [str(d / "model.onnx"), "no 'fluorodn' metadata", "export"]


@case
def model_metadata_not_json(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    ctx.make_model(d / "model.onnx", metadata="{halo: 5")
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--model", d / "model.onnx"], [str(d / "model.onnx"), "not valid JSON", "export the model"]


@case
def model_metadata_without_halo(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    meta = ctx.tiny_metadata()
    del meta["halo"]
    ctx.make_model(d / "model.onnx", metadata=meta)
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--model", d / "model.onnx"], [str(d / "model.onnx"), "'halo'", "export the model"]


@case
def model_with_other_normalization(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    ctx.make_model(d / "model.onnx", metadata=ctx.tiny_metadata(normalization="min-max"))
    np.save(d / "a.npy", pages(1)[0])
    args = [d / "a.npy", "--model", d / "model.onnx"]
    return args, [str(d / "model.onnx"), "normalization 'min-max'", "matching fluorodn version"]


@case
def model_with_three_input_channels(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((1, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["noise"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
        "rgb",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("noise", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"fluorodn": json.dumps(ctx.tiny_metadata(depth=1))})
    onnx.save(model, str(d / "model.onnx"))
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--model", d / "model.onnx"], [str(d / "model.onnx"), "(N, 1, H, W)", "export the model"]


@case
def unknown_model_name(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--model", "medium"], ["unknown model 'medium'", "valid names are"]


@case
def missing_model_file(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--model", d / "nothere.onnx"], [str(d / "nothere.onnx"), "does not exist"]


@case
def shipped_model_modified(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    model = ctx.shipped() / "low.onnx"
    data = bytearray(model.read_bytes())
    data[-20] ^= 0xFF  # one flipped bit pattern in a weight: still a loadable model
    model.write_bytes(bytes(data))
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--model", "default"], ["'low' is corrupt", "low.onnx", "reinstall fluorodn"]


@case
def cuda_without_cuda(d: Path, ctx: SimpleNamespace) -> tuple[list[Any], list[str]]:
    np.save(d / "a.npy", pages(1)[0])
    return [d / "a.npy", "--device", "cuda"], ["CUDA was requested", "--device cpu"]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_cleanly(
    name: str,
    tmp_path: Path,
    tiny_model: Path,
    helpers: Any,
    rel: Any,
    request: pytest.FixtureRequest,
) -> None:
    ctx = SimpleNamespace(
        tiny_model=tiny_model,
        make_model=helpers.build_model,
        tiny_metadata=helpers.tiny_metadata,
        shipped=lambda: request.getfixturevalue("shipped"),
    )
    folder = tmp_path / "work"
    folder.mkdir()
    args, fragments = CASES[name](folder, ctx)
    if "--model" not in args:
        args += ["--model", tiny_model]
    if "--device" not in args:
        args += ["--device", "cpu"]
    before = rel.snapshot(tmp_path)
    result = rel.cli("denoise", *args, "--threads", 1)
    if name == "cuda_without_cuda" and result.exit_code == 0:
        pytest.skip("CUDA works on this machine")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    rel.assert_one_sentence(result.stderr, *fragments)
    assert rel.snapshot(tmp_path) == before, "inputs changed or files were left behind"


def test_matrix_has_at_least_25_cases() -> None:
    assert len(CASES) >= 25


# -- inputs that look odd but are fine ----------------------------------------------------------


def _odd(d: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """Unusual but valid inputs: name -> (file, data as the Denoiser sees it: (pages, H, W))."""
    out: dict[str, tuple[Path, np.ndarray]] = {}
    x = pages(2)
    out["read_only_input"] = (d / "ro.tif", x)
    tifffile.imwrite(d / "ro.tif", x)
    os.chmod(d / "ro.tif", 0o444)
    sub = d / "données ü 測定"
    sub.mkdir()
    out["non_ascii_path"] = (sub / "réc ü 1.tif", x)
    tifffile.imwrite(sub / "réc ü 1.tif", x)
    spaced = d / "my data"
    spaced.mkdir()
    out["path_with_spaces"] = (spaced / "rec 1 (copy).npy", x)
    np.save(spaced / "rec 1 (copy).npy", x)
    one = np.full((1, 1), 7.0)
    out["one_by_one"] = (d / "one.npy", one[None])
    np.save(d / "one.npy", one)
    row = pages(1, 1, 50)
    out["one_by_n"] = (d / "row.tif", row)
    tifffile.imwrite(d / "row.tif", row[0])
    col = pages(1, 50, 1)
    out["n_by_one"] = (d / "col.npy", col)
    np.save(d / "col.npy", col[0])
    flat = np.zeros((1, 30, 30), np.uint16)
    out["constant_image"] = (d / "flat.tif", flat)
    tifffile.imwrite(d / "flat.tif", flat[0])
    four = pages(6, 20, 20).reshape(2, 3, 20, 20)
    out["four_d_npy"] = (d / "four.npy", four.reshape(6, 20, 20))
    np.save(d / "four.npy", four)
    hyper = pages(4, 20, 20).reshape(2, 2, 20, 20)  # (T, C, Y, X): channels are grey pages
    out["imagej_two_channels"] = (d / "hyper.tif", hyper.reshape(4, 20, 20))
    tifffile.imwrite(d / "hyper.tif", hyper, imagej=True, metadata={"axes": "TCYX"})
    return out


def test_odd_but_valid_inputs_are_denoised(tmp_path: Path, denoiser: Denoiser, tiny_model: Path, rel: Any) -> None:
    """Read-only, non-ASCII and spaced paths, 1x1 and 1xN images, 4D arrays, channels."""
    import fluorodn.io as fio

    files = _odd(tmp_path)
    before = rel.snapshot(tmp_path)
    result = rel.cli("denoise", *(f for f, _ in files.values()), "--model", tiny_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and not rel.error_lines(result.stderr)
    after = rel.snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, "an input changed"
    assert not rel.temporaries(tmp_path)
    for name, (path, data) in files.items():
        stem, ext = path.name.rsplit(".", 1)
        out = path.with_name(f"{stem}_denoised.{ext}")
        with contextlib.closing(fio.open_recording(out)) as rec:
            got = np.stack(list(rec.pages()))
        np.testing.assert_array_equal(got, denoiser.run(data), err_msg=name)
        assert np.isfinite(got).all(), name
    assert os.stat(files["read_only_input"][0]).st_mode & 0o777 == 0o444


@pytest.mark.parametrize("shape", [(3, 4000), (4000, 3), (1, 20_000), (700, 650)])
def test_huge_dimensions_with_a_tiny_tile_budget(tiny_model: Path, denoiser: Denoiser, shape: tuple[int, int]) -> None:
    """A budget far below the minimum window still works, tiled, and equals the whole-image result."""
    x = np.random.default_rng(1).poisson(50, shape).astype(np.uint16)
    small = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1, tile_pixels=16))
    got = small.run(x)
    want = denoiser.run(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


@pytest.mark.parametrize(
    ("x", "fragment"),
    [
        (np.float64(3.0), "0D"),
        (np.ones(5), "1D"),
        (np.ones((1, 1, 1, 1, 1, 2, 2)), "7D"),
        (np.ones((4, 4), complex), "complex"),
        (np.ones((4, 4), bool), "boolean"),
        (np.array([[1, None], [2, 3]], dtype=object), "object"),
        (np.array([["a", "b"]]), "string"),
        (np.ones((0, 5)), "non-empty"),
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN"),
        (np.array([[1.0, 2.0], [np.inf, 3.0]]), "infinite"),
    ],
)
def test_api_refuses_with_one_sentence_and_leaves_the_input(denoiser: Denoiser, x: Any, fragment: str) -> None:
    copy = x.copy()
    with pytest.raises(ValueError, match=fragment) as info:
        denoiser.run(x)
    assert "\n" not in str(info.value)
    np.testing.assert_array_equal(x, copy)


@pytest.mark.parametrize(
    ("name", "to", "fragment"),
    [
        ("out.npy", None, "must have the same format as its input"),
        ("out.mat", None, "must have the same format as its input"),
        ("out.h5", None, "must have the same format as its input"),
        ("noext", None, "must have the same format as its input"),
        ("out.tif", "npy", "must have the format to='npy' writes (.npy)"),
    ],
)
def test_denoise_file_refuses_an_output_named_for_another_format(
    tmp_path: Path, denoiser: Denoiser, name: str, to: str | None, fragment: str
) -> None:
    """The API refuses what the command refuses: an output name whose extension says another
    format than the one written, before anything is read."""
    from fluorodn.errors import FileFormatError
    from fluorodn.files import FileSettings, denoise_file

    tifffile.imwrite(tmp_path / "r.tif", pages(2))
    with pytest.raises(FileFormatError, match=re.escape(fragment)) as info:
        denoise_file(denoiser, tmp_path / "r.tif", tmp_path / name, FileSettings(to=to))
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.tif"]


def test_denoise_file_writes_what_its_name_says(tmp_path: Path, denoiser: Denoiser) -> None:
    from fluorodn.errors import InputError
    from fluorodn.files import FileSettings, denoise_file

    tifffile.imwrite(tmp_path / "r.tif", pages(2))
    denoise_file(denoiser, tmp_path / "r.tif", tmp_path / "out.npy", FileSettings(to="npy"))
    denoise_file(denoiser, tmp_path / "r.tif", tmp_path / "out.tiff")
    assert np.load(tmp_path / "out.npy").shape == tifffile.imread(tmp_path / "out.tiff").shape == (2, 40, 30)
    with pytest.raises(InputError, match="settings must be a FileSettings"):
        denoise_file(denoiser, tmp_path / "r.tif", tmp_path / "x.tif", "bad")  # type: ignore[arg-type]


# -- cases that need a real process ---------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX folder permissions")
def test_unwritable_output_folder(tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    """A read-only folder (inputs beside their outputs, or -o): refused before any work."""
    prefix = rel.unprivileged_prefix()
    ro = tmp_path / "readonly"
    ro.mkdir()
    tifffile.imwrite(ro / "a.tif", pages(3), photometric="minisblack")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(ro, 0o555)
    os.chmod(locked, 0o555)
    try:
        before = rel.snapshot(tmp_path)
        beside = rel.run("denoise", ro / "a.tif", "--model", tiny_model, "--device", "cpu", prefix=prefix)
        into = rel.run("denoise", ro / "a.tif", "-o", locked, "--model", tiny_model, "--device", "cpu", prefix=prefix)
        planned = rel.run("denoise", ro / "a.tif", "-o", locked / "new", "--dry-run", "--model", tiny_model,
                          prefix=prefix)  # fmt: skip
        after = rel.snapshot(tmp_path)
    finally:
        os.chmod(ro, 0o755)
        os.chmod(locked, 0o755)
    assert "Dry run: would denoise 0 files; 1 would fail." in planned.stdout  # the dry run finds it too
    for proc, folder in ((beside, ro), (into, locked), (planned, locked)):
        assert proc.returncode == 1, proc.stderr
        rel.assert_one_sentence(proc.stderr, str(ro / "a.tif"), str(folder), "writable output folder")
    assert after == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses RLIMIT_AS and sparse files (Linux)")
def test_page_too_big_for_memory(tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    """A 30,000 x 30,000 page in a process limited to 3 GB: a clear memory error, nothing written."""
    import resource

    big = tmp_path / "big.tif"
    tifffile.memmap(big, shape=(30_000, 30_000), dtype=np.uint8, bigtiff=True)  # sparse: costs no disk
    before = sorted(p.name for p in tmp_path.iterdir()), big.stat().st_size, big.stat().st_mtime_ns

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    proc = rel.run("denoise", big, "--model", tiny_model, "--device", "cpu", "--threads", 1, preexec_fn=limit)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rel.assert_one_sentence(proc.stderr, str(big), "not enough memory", "30000 x 30000", "split the pages")
    assert (sorted(p.name for p in tmp_path.iterdir()), big.stat().st_size, big.stat().st_mtime_ns) == before
