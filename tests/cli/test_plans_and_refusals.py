"""What a run refuses before any work, and reports that find their files: two inputs whose reports
would share a name, a report beside an existing one, options a dry run must refuse as the run does,
an empty input name, NaN messages, and a .mat recording reported on after --to h5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
import tifffile
from typer.testing import CliRunner

from fluorodn.cli import app
from tests.support import assert_user_error

runner = CliRunner()


def cli(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def _frame(seed: int = 0, shape: tuple[int, int] = (240, 32)) -> np.ndarray:
    return np.random.default_rng(seed).normal(1000.0, 20.0, shape).astype(np.float32)


def test_two_inputs_whose_reports_share_a_name_are_refused_before_any_work(tiny_model: Path, tmp_path: Path) -> None:
    """rec.npy and rec.tif write different outputs, whose reports would be one file: refused at once,
    nothing written; without --report both are denoised."""
    np.save(tmp_path / "rec.npy", _frame())
    tifffile.imwrite(tmp_path / "rec.tif", _frame(1))
    out = tmp_path / "out"
    result = cli("denoise", tmp_path / "rec.npy", tmp_path / "rec.tif", "-o", out, "--model", tiny_model, "--report")
    assert_user_error(result, "rec_denoised_report.html", "separate runs")
    assert not out.exists() or not any(out.iterdir())
    result = cli("denoise", tmp_path / "rec.npy", tmp_path / "rec.tif", "-o", out, "--model", tiny_model)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["rec_denoised.npy", "rec_denoised.tif"]


def test_a_report_beside_an_existing_summary_writes_neither(tiny_model: Path, tmp_path: Path) -> None:
    """fluorodn report -o r.html where r.json exists: refused, and r.html is not left behind."""
    np.save(tmp_path / "a.npy", _frame())
    assert cli("denoise", tmp_path / "a.npy", "--model", tiny_model).exit_code == 0
    (tmp_path / "r.json").write_text("{}")
    result = cli("report", tmp_path / "a.npy", tmp_path / "a_denoised.npy", "-o", tmp_path / "r.html")
    assert_user_error(result, "r.json exists already", "--overwrite")
    assert not (tmp_path / "r.html").exists() and (tmp_path / "r.json").read_text() == "{}"


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--spectral-only", "--strength", "0.5"], "--spectral-only filters nothing over time"),
        (["--model", "low", "--round-onsets"], "model 'low' is an image model"),
        (["--kind", "image", "--strength", "0.5"], "--kind image runs the image path on every input, and --strength"),
        (["--kind", "spectral", "--self-ensemble"], "--self-ensemble applies to the image path only"),
    ],
    ids=["contradicting", "image model", "kind image", "kind spectral"],
)
def test_a_dry_run_refuses_the_options_the_run_refuses(tmp_path: Path, options: list[str], said: str) -> None:
    np.save(tmp_path / "s.npy", _frame(shape=(300, 152)))
    dry = cli("denoise", tmp_path / "s.npy", *options, "--dry-run")
    assert_user_error(dry, said)
    real = cli("denoise", tmp_path / "s.npy", *options)
    assert_user_error(real, said)
    assert not (tmp_path / "s_denoised.npy").exists()
    # refused before the inputs are checked: alone, not after an error about an existing output
    np.save(tmp_path / "s_denoised.npy", _frame(shape=(300, 152)))
    for dry_run in ([], ["--dry-run"]):
        result = cli("denoise", tmp_path / "s.npy", *options, *dry_run)
        assert [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: error:")] == [
            next(ln for ln in result.stderr.splitlines() if said in ln)
        ], result.stderr


def test_an_empty_input_name_is_refused_not_taken_for_the_current_folder(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "a.npy", _frame())
    assert_user_error(cli("denoise", "", "--dry-run"), "an input is an empty name")
    assert_user_error(cli("denoise", ""), "an input is an empty name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "b.npy", _frame())
    for option in ("", " "):  # -o "$OUT" with OUT unset: not the current folder either
        assert_user_error(cli("denoise", "in/b.npy", "-o", option), "-o is an empty name")
        assert_user_error(cli("denoise", "in/b.npy", "-o", option, "--dry-run"), "-o is an empty name")
        assert_user_error(cli("watch", "in", "-o", option), "-o is an empty name")
        assert_user_error(cli("example", option), "PATH is an empty name")
        assert_user_error(cli("unmix", "in/b.npy", "--sensor", "example", "-o", option), "-o is an empty name")
        assert_user_error(cli("report", "in/b.npy", "in/b.npy", "-o", option), "-o is an empty name")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.npy", "b.npy", "in"]


def test_a_mat_output_that_would_lose_a_variable_of_its_input_is_refused_before_any_work(tmp_path: Path) -> None:
    """An input holding ``<key><suffix>`` already: the dry run and the run refuse it, naming --suffix,
    before the model loads; another suffix passes."""
    scipy.io.savemat(tmp_path / "a.mat", {"spectra": _frame(shape=(300, 152)), "spectra_denoised": np.ones(3)})
    for extra in (["--dry-run"], []):
        result = cli("denoise", tmp_path / "a.mat", "--key", "spectra", "-o", tmp_path / "o.mat", *extra)
        assert_user_error(result, "holds a variable spectra_denoised already", "--suffix")
        assert "model spectral" not in result.stderr
    assert not (tmp_path / "o.mat").exists()
    assert cli("denoise", tmp_path / "a.mat", "--key", "spectra", "-o", tmp_path / "o.mat", "--suffix", "_dn",
               "--dry-run").exit_code == 0  # fmt: skip


def test_nan_messages_name_the_fix_that_applies(tiny_model: Path, tmp_path: Path) -> None:
    """A recording with a NaN: one error line naming --nan fill, and no numpy warning before it; a
    page with no finite value under --nan fill: its error does not advise the flag given."""
    x = np.random.default_rng(0).normal(1000.0, 10.0, (300, 152))
    x[5, 5] = np.nan
    np.save(tmp_path / "nan.npy", x)
    result = cli("denoise", tmp_path / "nan.npy")
    assert_user_error(result, "input contains NaN or infinite values", "pass --nan fill")
    assert "warning" not in result.stderr, result.stderr
    np.save(tmp_path / "allnan.npy", np.full((300, 152), np.nan))
    result = cli("denoise", tmp_path / "allnan.npy", "--nan", "fill")
    assert_user_error(result, "a page holds no finite value")
    assert "--nan fill" not in result.stderr


def test_a_mat_recording_written_as_h5_is_reported_on(tmp_path: Path) -> None:
    """--to h5 names a .mat recording's dataset anew: the report reads the output's one dataset, not
    the .mat variable's name."""
    rng = np.random.default_rng(2)
    spectrum = 1000.0 * np.exp(-0.5 * ((np.arange(152) - 70) / 25.0) ** 2) + 200.0
    change = 1.0 + 0.05 * np.sin(np.arange(300) / 20.0)
    x = np.outer(change, spectrum) + rng.normal(0.0, 5.0, (300, 152))
    scipy.io.savemat(tmp_path / "one.mat", {"spectra": x})
    result = cli("denoise", tmp_path / "one.mat", "--to", "h5", "--report", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "one_denoised.h5").is_file()
    assert (tmp_path / "out" / "one_denoised_report.html").is_file()
    assert (tmp_path / "out" / "one_denoised_report.json").is_file()


def test_the_example_command_quotes_a_name_it_suggests(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("example", "sp ü.tif")
    assert result.exit_code == 0, result.output
    assert "fluorodn denoise 'sp ü.tif'" in result.output
    assert "fluorodn unmix 'sp ü.tif' --sensor example" in result.output


def test_an_output_folder_that_is_a_file_is_named_so(tiny_model: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", _frame())
    (tmp_path / "afile").write_text("")
    result = cli("denoise", tmp_path / "a.npy", "-o", f"{tmp_path / 'afile'}/sub/", "--model", tiny_model)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"({tmp_path / 'afile'} is a file)" in result.stderr, result.stderr


def test_a_dry_run_with_a_model_file_refuses_what_kind_spectral_refuses(tiny_model: Path, tmp_path: Path) -> None:
    """A user's model file is read only when it loads, but --kind spectral refuses the image path's
    options whatever the model: the dry run says so as the run does."""
    np.save(tmp_path / "s.npy", _frame(shape=(300, 152)))
    options = ["--model", tiny_model, "--kind", "spectral", "--self-ensemble"]
    assert_user_error(cli("denoise", tmp_path / "s.npy", *options, "--dry-run"), "--self-ensemble applies to the image")


def test_an_output_folder_that_cannot_be_looked_at_is_an_output_error(tmp_path: Path) -> None:
    """A name too long for the file system: the one-sentence OutputError, not an OSError from the
    lookup of what stands in the way."""
    from fluorodn._file_pipeline import make_folder
    from fluorodn.errors import OutputError

    with pytest.raises(OutputError, match="cannot create the output folder"):
        make_folder(tmp_path / ("d" * 300) / "x")


def test_a_report_whose_html_name_is_its_summary_s_is_refused(tmp_path: Path) -> None:
    from fluorodn.errors import InputError
    from fluorodn.report import write_report

    x = _frame()
    with pytest.raises(InputError, match=r"give a \.html name"):
        write_report(tmp_path / "r.json", x, x)
    assert not (tmp_path / "r.json").exists()


def _denied(monkeypatch: pytest.MonkeyPatch, where: Path) -> None:
    """The system refuses anything under ``where``, as for a folder of mode 000 to a user without
    root's override (which the test may run as)."""
    import os

    def refuse(original: Any) -> Any:
        def call(path: Any, *args: Any, **kwargs: Any) -> Any:
            if Path(os.fspath(path)).absolute().is_relative_to(where):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return original(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "stat", refuse(os.stat))
    monkeypatch.setattr(os, "scandir", refuse(os.scandir))


@pytest.mark.parametrize(
    "args",
    [
        ("denoise", "{locked}"),
        ("denoise", "{locked}/rec.npy", "-o", "{tmp}/out.npy"),
        ("unmix", "{locked}/rec.npy", "--sensor", "example"),
        ("report", "{locked}/rec.npy", "{tmp}/rec.npy"),
        ("watch", "{locked}"),
    ],
)
def test_a_file_or_folder_the_system_refuses_is_named_in_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    """Permission denied on an input, its folder or a watched folder: one sentence naming the path
    and what to check, exit 1, no traceback (the command's own checks hold no answer for it)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    np.save(locked / "rec.npy", _frame())
    np.save(tmp_path / "rec.npy", _frame())
    _denied(monkeypatch, locked)
    result = cli(*(a.format(locked=locked, tmp=tmp_path) for a in args))
    assert_user_error(result, "locked", "permission denied; check that the input can be read")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("report", "{tmp}/missing.npy", "{tmp}/rec.npy"), "missing.npy does not exist; check the path"),
        (("report", "{tmp}/rec.npy", "{tmp}/missing.npy"), "missing.npy does not exist; check the path"),
        (("watch", "{tmp}/missing"), "missing does not exist; watch a folder"),
        (("watch", "{tmp}/rec.npy"), "rec.npy is a file; watch a folder"),
    ],
)
def test_report_and_watch_name_a_missing_input_as_denoise_does(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    np.save(tmp_path / "rec.npy", _frame())
    assert_user_error(cli(*(a.format(tmp=tmp_path) for a in args)), said)


def test_an_output_named_as_an_image_or_table_is_refused_not_made_a_folder(tiny_model: Path, tmp_path: Path) -> None:
    """-o out.png (or .csv) for one input: refused in one sentence naming the input's extension, no
    folder made; declared a folder (out.png/), it is one."""
    np.save(tmp_path / "rec.npy", _frame())
    for name in ("out.png", "out.csv"):
        result = cli("denoise", tmp_path / "rec.npy", "-o", tmp_path / name, "--model", tiny_model)
        assert_user_error(result, f"names a {name[3:]} file", "ending in .npy or a folder")
        assert not (tmp_path / name).exists()
    result = cli("denoise", tmp_path / "rec.npy", "-o", f"{tmp_path / 'out.png'}/", "--model", tiny_model)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.png" / "rec_denoised.npy").is_file()


@pytest.mark.parametrize("ext", [".tif", ".npy", ".mat", ".h5", ".txt"])
def test_an_empty_file_is_named_empty(tmp_path: Path, ext: str) -> None:
    """A file of 0 bytes (a copy or an acquisition that never wrote): one sentence saying so, for
    denoise and unmix alike, not a reader's words about a header."""
    (tmp_path / f"rec{ext}").write_bytes(b"")
    for args in (("denoise", "--dry-run"), ("unmix", "--sensor", "example")):
        result = cli(args[0], tmp_path / f"rec{ext}", *args[1:])
        assert_user_error(result, f"rec{ext} is empty (0 bytes)")


def test_colour_pixels_in_a_npy_file_are_refused_before_the_model_loads(tiny_model: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "rgb.npy", np.zeros((64, 48, 3), np.uint8))
    for extra in (("--dry-run",), ()):
        result = cli("denoise", tmp_path / "rgb.npy", "--model", tiny_model, *extra)
        assert_user_error(result, "rgb.npy: its shape (64, 48, 3)", "give one channel")
    assert not (tmp_path / "rgb_denoised.npy").exists()


def test_a_truncated_hdf5_file_is_named_truncated(tmp_path: Path) -> None:
    """An HDF5 file cut short (a copy that stopped): one sentence saying how much of it is there,
    not the advice to name a dataset with --key."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "full.h5", "w") as f:
        f["Channel1"] = np.zeros((2000, 100))
        f["Time"] = np.arange(2000) / 5.0
        f["Wavelength"] = np.linspace(500.0, 600.0, 100)
    data = (tmp_path / "full.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[:100_000])
    result = cli("denoise", tmp_path / "cut.h5", "--dry-run")
    assert_user_error(result, f"cut.h5 is truncated (100000 of {len(data)} bytes)", "copy or write it again")
    assert "--key" not in result.stderr


def test_a_system_refusal_without_an_error_number_keeps_its_words() -> None:
    """An OSError without errno or strerror (as h5py raises) keeps its message, not its class name."""
    from fluorodn.cli._common import system_refusal

    assert (
        system_refusal(OSError("Unable to open file (bad object header)")) == "unable to open file (bad object header)"
    )
    assert system_refusal(OSError(5, "Input/output error", "x.tif")) == "x.tif: input/output error"


def test_the_default_run_says_where_frames_go(tmp_path: Path) -> None:
    """The default (spectral) model's line names the image model frames go to, as the summary then
    says it ran; a declared kind names its own model only."""
    from fluorodn.registry import IMAGE_MODEL, available_models, default_name

    if not available_models() or default_name() == IMAGE_MODEL:
        pytest.skip("the shipped default is no spectral model in this checkout")
    np.save(tmp_path / "stack.npy", np.random.default_rng(0).normal(1000.0, 20.0, (3, 64, 64)).astype(np.float32))
    result = cli("denoise", tmp_path / "stack.npy", "--threads", 1)
    assert result.exit_code == 0, result.output
    assert f"; frames: {IMAGE_MODEL})" in result.stderr.splitlines()[0], result.stderr
    assert f"with model {IMAGE_MODEL} on" in result.stdout
    declared = cli("denoise", tmp_path / "stack.npy", "--threads", 1, "--kind", "image", "--overwrite")
    assert declared.exit_code == 0 and "frames:" not in declared.stderr.splitlines()[0], declared.stderr


def test_a_mistake_in_the_command_is_named_before_an_output_that_exists(tmp_path: Path) -> None:
    """An unknown model (denoise) or sensor spectrum (unmix) is the mistake to fix; an output left by
    an earlier run comes after it, not first."""
    np.save(tmp_path / "a.npy", _frame())
    np.save(tmp_path / "a_denoised.npy", _frame())
    (tmp_path / "a_unmixed.csv").write_text("x\n")
    assert_user_error(cli("denoise", tmp_path / "a.npy", "--model", "nosuch"), "unknown model 'nosuch'")
    result = cli("denoise", tmp_path / "a.npy", "--model", tmp_path / "none.onnx")
    assert_user_error(result, "none.onnx does not exist")
    result = cli("unmix", tmp_path / "a.npy", "--sensor", tmp_path / "none.csv")
    assert_user_error(result, "none.csv is neither a file nor a shipped spectrum")
    assert_user_error(cli("denoise", tmp_path / "a.npy"), "a_denoised.npy exists already")


def test_an_output_named_for_a_format_a_conversion_writes_names_the_conversion(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "r.tif", _frame())
    result = cli("denoise", tmp_path / "r.tif", "-o", tmp_path / "r.npy")
    assert_user_error(result, "must have the same format as its input", "(.tif), or convert it: --to npy")
    result = cli("denoise", tmp_path / "r.tif", "-o", tmp_path / "r.mat")
    assert_user_error(result, "must have the same format as its input")
    assert "--to" not in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["denoise", "x.npy", "--strength", "abc"], "Invalid value for '--strength': must be a number, not 'abc'"),
        (["denoise", "x.npy", "--threads", "two"], "Invalid value for '--threads': must be a whole number, not 'two'"),
        (["denoise", "x.npy", "--excitations", "0"], "Invalid value for '--excitations': must be 1 or more, not 0"),
        (["denoise", "x.npy", "--rate", "5Hz"], "Invalid value for '--rate': must be a number, not '5Hz'"),
        (["unmix", "x.npy", "--sensor", "example", "--channel", "-1"], "'--channel': must be 0 or more, not -1"),
        (["watch", ".", "--settle", "soon"], "Invalid value for '--settle': must be a number, not 'soon'"),
        (["info", "--threads", "1.5"], "Invalid value for '--threads': must be a whole number, not '1.5'"),
    ],
)
def test_an_option_value_of_the_wrong_kind_is_one_sentence_in_the_options_terms(args: list[str], said: str) -> None:
    """Exit 2 (a usage error), the option named, and the value's kind in plain words, not the type
    converter's."""
    result = cli(*args)
    assert result.exit_code == 2 and said in " ".join(result.output.split()), result.output
    assert "Input should" not in result.output and "Traceback" not in result.output
