"""The denoise command for scripts and batches: --json, --quiet, --dry-run, --keep-tree, --kind,
--nan, warnings, stale temporary files, kept compression, and the help text."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from fluorodn import Denoiser, DenoiserOptions
from fluorodn.cli import app
from fluorodn.errors import OutOfDomainWarning
from fluorodn.io import read_provenance, temp_name

runner = CliRunner()


def cli(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def denoise(model: Path, *args: Any) -> Any:
    return cli("denoise", *args, "--model", model, "--threads", 1)


def error_lines(result: Any) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: error:")]


# -- summary, --json, --quiet, --dry-run ------------------------------------------------


def test_summary_says_where_outputs_went(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    for name in ("a", "b"):
        tifffile.imwrite(tmp_path / f"{name}.tif", helpers.spectra(30, 20))
    result = denoise(tiny_model, tmp_path / "a.tif", tmp_path / "b.tif", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"{tmp_path / 'a.tif'} -> {tmp_path / 'out' / 'a_denoised.tif'}",
                         f"{tmp_path / 'b.tif'} -> {tmp_path / 'out' / 'b_denoised.tif'}"]  # fmt: skip
    assert lines[2].startswith("Denoised 2 files") and lines[2].endswith(f"into {tmp_path / 'out'}.")
    result = denoise(tiny_model, tmp_path / "a.tif")
    assert result.stdout.splitlines()[-1].endswith(f"-> {tmp_path / 'a_denoised.tif'}.")


def test_summary_names_a_tree_of_outputs_as_given(tiny_model: Path, tmp_path: Path, helpers: Any,
                                                  monkeypatch: Any) -> None:  # fmt: skip
    """--keep-tree spreads outputs over subfolders: the summary names their common folder as -o gave
    it (relative stays relative), as it names one output folder."""
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        tifffile.imwrite(tmp_path / "data" / name / "r.tif", helpers.spectra(30, 20))
    result = denoise(tiny_model, "data/**/*.tif", "-o", "out/", "--keep-tree")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].endswith(f" under {Path('out')}."), result.stdout


def test_json_report(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    tifffile.imwrite(tmp_path / "c.tif", helpers.spectra(30, 20))
    (tmp_path / "c_denoised.tif").write_bytes(b"earlier")
    result = denoise(tiny_model, tmp_path / "a.tif", tmp_path / "bad.npy", tmp_path / "c.tif", "--skip-existing",
                     "--json")  # fmt: skip
    assert result.exit_code == 1
    doc = json.loads(result.stdout)  # stdout holds the document only
    assert doc["model"]["name"] == "tiny" and doc["model"]["provider"] == "CPUExecutionProvider"
    assert (doc["denoised"], doc["failed"], doc["skipped"]) == (1, 1, 1)
    by_name = {Path(f["input"]).name: f for f in doc["files"]}
    assert by_name["a.tif"]["status"] == "denoised" and by_name["a.tif"]["frames"] == 1
    assert by_name["a.tif"]["output"] == str(tmp_path / "a_denoised.tif")
    assert by_name["bad.npy"]["status"] == "failed" and "bad.npy" in by_name["bad.npy"]["error"]
    assert by_name["c.tif"]["status"] == "skipped"
    assert len(error_lines(result)) == 1  # the error is on stderr too


def test_quiet_prints_nothing_but_errors(tiny_model: Path, tmp_path: Path, helpers: Any, monkeypatch: Any) -> None:
    quiet_removal_check(monkeypatch)
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    result = denoise(tiny_model, tmp_path / "a.tif", "-q")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    assert (tmp_path / "a_denoised.tif").is_file()


def test_dry_run_writes_nothing_and_loads_no_model(tiny_model: Path, tmp_path: Path, helpers: Any,
                                                   monkeypatch: Any) -> None:  # fmt: skip
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    np.save(tmp_path / "b.npy", np.zeros((2, 10, 12), np.float32))
    (tmp_path / "c.npy").write_bytes(b"junk")
    monkeypatch.setattr(Denoiser, "__init__", lambda *a, **k: pytest.fail("the model was loaded"))
    result = denoise(tiny_model, tmp_path, "-o", tmp_path / "out", "--dry-run")
    assert result.exit_code == 1  # c.npy would fail
    assert f"{tmp_path / 'a.tif'} -> {tmp_path / 'out' / 'a_denoised.tif'} (30 x 20 uint16, 1 page)" in result.stdout
    assert "(2 x 10 x 12 float32, 2 pages)" in result.stdout
    assert result.stdout.splitlines()[-1] == f"Dry run: would denoise 2 files into {tmp_path / 'out'}; 1 would fail."
    assert len(error_lines(result)) == 1 and "c.npy" in error_lines(result)[0]
    assert not (tmp_path / "out").exists()
    doc = json.loads(denoise(tiny_model, tmp_path / "a.tif", "--dry-run", "--json").stdout)
    assert doc["dry_run"] and doc["files"][0]["status"] == "planned" and doc["files"][0]["shape"] == [30, 20]
    assert doc["model"]["name"] == tiny_model.stem and doc["model"]["file"] == tiny_model.name
    assert doc["model"]["sha256"] == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    cuda_int8 = cli("denoise", tmp_path / "a.tif", "--dry-run", "--precision", "int8", "--device", "cuda")
    assert cuda_int8.exit_code == 1 and "--device cpu" in error_lines(cuda_int8)[0]
    assert "unknown model" in error_lines(cli("denoise", tmp_path / "a.tif", "--dry-run", "--model", "medium"))[0]


def test_dry_run_reads_every_page_as_the_run_does(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    """A dry run fails each file the run would fail on its data, not only on its header: a NaN
    (unless --nan fill) and a compressed page that cannot be decoded; both with the run's sentence."""
    x = helpers.spectra(60, 20).astype(np.float32)
    nan = x.copy()
    nan[5, 3] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    tifffile.imwrite(tmp_path / "z.tif", np.stack([x, x, x, x]), compression="zlib", photometric="minisblack")
    raw = bytearray((tmp_path / "z.tif").read_bytes())
    with tifffile.TiffFile(tmp_path / "z.tif") as tif:  # spoil the last page's compressed data
        offset, count = tif.pages[3].dataoffsets[0], tif.pages[3].databytecounts[0]
    raw[offset + count // 2 : offset + count // 2 + 8] = b"\xff" * 8
    (tmp_path / "z.tif").write_bytes(bytes(raw))
    out = tmp_path / "out"
    result = denoise(tiny_model, tmp_path / "nan.npy", tmp_path / "z.tif", "-o", out, "--dry-run")
    assert result.exit_code == 1 and "would denoise 0 files; 2 would fail" in result.stdout
    lines = error_lines(result)
    assert any("nan.npy" in ln and "NaN or infinite" in ln and "--nan fill" in ln for ln in lines), lines
    assert any("z.tif" in ln and "damaged or truncated" in ln for ln in lines), lines
    run = denoise(tiny_model, tmp_path / "nan.npy", tmp_path / "z.tif", "-o", out)
    assert run.exit_code == 1 and sorted(error_lines(run)) == sorted(lines)  # the run's own sentences
    filled = denoise(tiny_model, tmp_path / "nan.npy", "--nan", "fill", "-o", out, "--dry-run")
    assert filled.exit_code == 0 and "would denoise 1 file" in filled.stdout


def test_bad_input_is_reported_before_the_model_loads(tiny_model: Path, tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "bad.tif").write_bytes(b"II*\x00 not really")
    monkeypatch.setattr(Denoiser, "__init__", lambda *a, **k: pytest.fail("the model was loaded"))
    result = denoise(tiny_model, tmp_path / "bad.tif")
    assert result.exit_code == 1 and len(error_lines(result)) == 1 and "bad.tif" in error_lines(result)[0]
    assert "model" not in result.stderr.replace(str(tiny_model), "")  # no model header
    assert result.stdout.strip() == "No file denoised; 1 failed."


# -- --keep-tree ------------------------------------------------------------------------


def test_same_names_in_several_folders(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    for mouse in ("m1", "m2"):
        (tmp_path / "data" / mouse).mkdir(parents=True)
        tifffile.imwrite(tmp_path / "data" / mouse / "rec.tif", helpers.spectra(30, 20))
    pattern = str(tmp_path / "data" / "**" / "*.tif")
    result = denoise(tiny_model, pattern, "-o", tmp_path / "out")
    assert result.exit_code == 1 and "--keep-tree" in error_lines(result)[0]
    result = denoise(tiny_model, pattern, "-o", tmp_path / "out", "--keep-tree")
    assert result.exit_code == 0, result.output
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.tif")) == [
        os.path.join("m1", "rec_denoised.tif"), os.path.join("m2", "rec_denoised.tif")]  # fmt: skip
    assert result.stdout.splitlines()[-1].endswith(f"under {tmp_path / 'out'}.")
    result = denoise(tiny_model, pattern, "--keep-tree")
    assert result.exit_code == 1 and "give -o" in error_lines(result)[0]


# -- --kind -----------------------------------------------------------------------------


def test_kind(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(60, 30))
    result = denoise(tiny_model, tmp_path / "a.tif", "--kind", "image")
    assert result.exit_code == 0, result.output
    assert read_provenance(tmp_path / "a_denoised.tif")["settings"]["kind"] == "image"
    result = denoise(tiny_model, tmp_path / "a.tif", "--kind", "spectral", "--overwrite")
    assert result.exit_code == 1 and "image model" in error_lines(result)[0] and "spectral" in error_lines(result)[0]
    result = denoise(tiny_model, tmp_path / "a.tif", "--kind", "cells")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_kind_is_passed_to_the_denoiser(tiny_model: Path, tmp_path: Path, helpers: Any, monkeypatch: Any) -> None:
    seen = []
    real = Denoiser.__init__

    def spy(self: Denoiser, *args: Any, **kw: Any) -> None:
        seen.append(kw.get("kind"))
        real(self, *args, **{**kw, "kind": "auto"})

    monkeypatch.setattr(Denoiser, "__init__", spy)
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(60, 30))
    assert denoise(tiny_model, tmp_path / "a.tif", "--kind", "spectral").exit_code == 0
    assert seen == ["spectral"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--kind", "spectral"], "--kind"),
        (["--nan", "fill"], "--nan"),
        (["--spikes", "fill"], "--spikes"),
        (["--dtype", "same", "--keep-tree", "-o", "x"], "--keep-tree, --dtype"),
        (["--dry-run"], "--dry-run"),
    ],
)
def test_options_a_zarr_input_does_not_take_are_refused(tmp_path: Path, args: list[str], fragment: str) -> None:
    (tmp_path / "rec.zarr").mkdir()
    result = cli("denoise", tmp_path / "rec.zarr", *args)
    assert result.exit_code == 1 and "not apply to .zarr inputs" in error_lines(result)[0]
    assert fragment in error_lines(result)[0]


def test_zarr_options_are_refused_for_other_files(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    result = denoise(tiny_model, tmp_path / "a.tif", "--scheduler", "processes")
    assert result.exit_code == 1 and ".zarr inputs only" in error_lines(result)[0]


# -- warnings ---------------------------------------------------------------------------


def warning_stream(monkeypatch: Any) -> None:
    """Denoiser.stream raising two OutOfDomainWarnings per page (from the pipeline's thread)."""
    real = Denoiser.stream

    def stream(self: Denoiser, pages: Any, **kw: Any) -> Any:
        for page in real(self, pages, **kw):
            warnings.warn(
                OutOfDomainWarning("the recording is noisier than any the model was trained on"), stacklevel=2
            )
            warnings.warn(OutOfDomainWarning("the removed part is structured across wavelengths"), stacklevel=2)
            yield page

    monkeypatch.setattr(Denoiser, "stream", stream)
    quiet_removal_check(monkeypatch)


def quiet_removal_check(monkeypatch: Any) -> None:
    """No removal check on the image path: the tiny model's random weights remove more than the
    noise (as that check would say), and these tests are about how warnings reach the user."""
    import fluorodn.denoiser

    monkeypatch.setattr(fluorodn.denoiser, "removal_warning", lambda pages, outs, first=0, keep=False: None)
    monkeypatch.setattr(fluorodn.denoiser, "removal_check", lambda pages, outs, first=0, keep=False: (None, 0, None))


def test_one_warning_line_per_file(tiny_model: Path, tmp_path: Path, helpers: Any, monkeypatch: Any) -> None:
    warning_stream(monkeypatch)
    tifffile.imwrite(tmp_path / "rec.tif", np.stack([helpers.spectra(30, 20, seed=s) for s in range(5)]))
    np.save(tmp_path / "b.npy", helpers.spectra(30, 20))
    result = denoise(tiny_model, tmp_path / "rec.tif", tmp_path / "b.npy")
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if "warning" in ln.lower()]
    expected = ("the recording is noisier than any the model was trained on; "
                "the removed part is structured across wavelengths")  # fmt: skip
    assert lines == [f"fluorodn: warning: {tmp_path / 'rec.tif'}: {expected}",
                     f"fluorodn: warning: {tmp_path / 'b.npy'}: {expected}"]  # fmt: skip
    assert "OutOfDomainWarning" not in result.output and "warnings.warn" not in result.output
    doc = json.loads(denoise(tiny_model, tmp_path / "rec.tif", "--overwrite", "--json").stdout)
    assert doc["files"][0]["warnings"] == expected.split("; ")


def test_fast_hemodynamics_give_one_caution_line(tmp_path: Path) -> None:
    """The default on a recording with fast hemodynamics: one warning line for the file, saying
    that events may be lost; the file is denoised all the same (exit 0), and listed in --json."""
    from dataclasses import replace

    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    inst = make_instance(np.random.default_rng(1), 3000, 152, 0.4, signal=replace(WIDE, hemo_fast_prob=1.0))
    np.save(tmp_path / "fast.npy", inst.noisy.astype(np.float32))
    result = cli("denoise", tmp_path / "fast.npy", "--threads", 1, "--json")
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if "warning" in ln.lower()]
    assert len(lines) == 1 and "carries fast hemodynamics" in lines[0] and "raw recording" in lines[0], lines
    (warned,) = json.loads(result.stdout)["files"][0]["warnings"]
    assert warned.startswith("the recording carries fast hemodynamics")
    assert (tmp_path / "fast_denoised.npy").exists()


def test_small_frequent_events_give_one_caution_line_naming_the_option(tmp_path: Path) -> None:
    """Small, frequent events: one warning line for the file, naming --spectral-only as the command
    spells it (the library names DenoiserOptions(spectral_only=True)); the file is denoised (exit 0)."""
    from tests.support import small_events_draws

    inst = small_events_draws(0.5, 0.5)(np.random.default_rng(0), 3000, 152, 0.8)
    np.save(tmp_path / "small.npy", inst.noisy.astype(np.float32))
    result = cli("denoise", tmp_path / "small.npy", "--threads", 1)
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if "warning" in ln.lower()]
    assert len(lines) == 1 and "rise often and in small steps" in lines[0], lines
    assert "--spectral-only" in lines[0] and "DenoiserOptions" not in lines[0]
    assert (tmp_path / "small_denoised.npy").exists()


def test_options_a_file_s_path_does_not_read_are_noted(tmp_path: Path) -> None:
    """The default model runs the spectral path on recordings and hands frames to the image path:
    a file whose path does not read an option given gets one note naming it (--self-ensemble on a
    recording; --strength and --round-onsets on a frame), and its output is that of a run without
    it; a file that reads every option given gets none, and --quiet prints none."""
    from tests.support import small_events_draws

    rec = small_events_draws(0.1, 1.4)(np.random.default_rng(0), 600, 152, 0.4).noisy.astype(np.float32)
    np.save(tmp_path / "rec.npy", rec)
    np.save(tmp_path / "frame.npy", np.random.default_rng(1).normal(100.0, 5.0, (96, 96)).astype(np.float32))

    runs = iter(range(100))

    def run(name: str, *flags: Any) -> tuple[list[str], np.ndarray]:
        out = tmp_path / f"{name}_{next(runs)}.npy"
        result = cli("denoise", tmp_path / f"{name}.npy", "-o", out, "--threads", 1, *flags)
        assert result.exit_code == 0, result.output
        return [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: note:")], np.load(out)

    notes, out = run("rec", "--self-ensemble")
    assert notes == [
        f"fluorodn: note: {tmp_path / 'rec.npy'}: its pages are spectral recordings, which the spectral path "
        "denoises without --self-ensemble"
    ]
    np.testing.assert_array_equal(out, run("rec")[1])
    notes, out = run("frame", "--strength", "0.5", "--round-onsets")
    assert len(notes) == 1 and notes[0].endswith(
        "its pages are frames, which the image path denoises without --strength and --round-onsets"
    )
    np.testing.assert_array_equal(out, run("frame")[1])
    assert run("frame", "--self-ensemble")[0] == [] and run("rec", "--strength", "0.5")[0] == []
    assert run("rec", "--self-ensemble", "--quiet")[0] == []
    # --json: no note on stderr; the file's entry lists the options as flags
    result = cli("denoise", tmp_path / "frame.npy", "-o", tmp_path / "f_json.npy", "--threads", 1, "--json",
                 "--strength", "0.5", "--keep-fixed-pattern")  # fmt: skip
    assert result.exit_code == 0 and "note:" not in result.stderr
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["unread_options"] == ["--keep-fixed-pattern", "--strength"]
    result = cli("denoise", tmp_path / "rec.npy", "-o", tmp_path / "r_json.npy", "--threads", 1, "--json")
    assert "unread_options" not in json.loads(result.stdout)["files"][0]


def test_warnings_of_a_real_process_are_one_line(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    """As a process: no Python warning lines (file:line, source) on stderr, one line per file."""
    tifffile.imwrite(tmp_path / "rec.tif", np.stack([helpers.spectra(30, 20, seed=s) for s in range(5)]))
    code = f"""
import sys, warnings
from fluorodn import Denoiser, DenoiserOptions
from fluorodn.errors import OutOfDomainWarning
from fluorodn.cli import main
import fluorodn.denoiser
# the tiny model's own removal is not what this tests
fluorodn.denoiser.removal_warning = lambda pages, outs, first=0, keep=False: None
fluorodn.denoiser.removal_check = lambda pages, outs, first=0, keep=False: (None, 0, None)
real = Denoiser.stream
def stream(self, pages, **kw):
    for page in real(self, pages, **kw):
        warnings.warn(OutOfDomainWarning("off the training domain"))
        yield page
Denoiser.stream = stream
sys.argv = ["fluorodn", "denoise", {str(tmp_path / "rec.tif")!r}, "--model", {str(tiny_model)!r}]
main()
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if "warn" in ln.lower()] == [
        f"fluorodn: warning: {tmp_path / 'rec.tif'}: off the training domain"
    ]


# -- NaN --------------------------------------------------------------------------------


def test_nan_fill(tiny_model: Path, denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    x = helpers.spectra(60, 30).astype(np.float32)
    x[10, :] = np.nan  # a dropped sample
    x[20, 5] = np.inf
    tifffile.imwrite(tmp_path / "a.tif", x)
    result = denoise(tiny_model, tmp_path / "a.tif")
    assert result.exit_code == 1 and "--nan fill" in error_lines(result)[0]
    result = denoise(tiny_model, tmp_path / "a.tif", "--nan", "fill", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"][0]["filled"] == 31
    out = tifffile.imread(tmp_path / "a_denoised.tif")
    assert np.isnan(out[10]).all() and out[20, 5] == np.inf
    finite = np.isfinite(x)
    assert np.isfinite(out[finite]).all()
    filled = x.copy()
    filled[10] = (x[9] + x[11]) / 2
    filled[20, 5] = (x[19, 5] + x[21, 5]) / 2
    np.testing.assert_allclose(out[finite], denoiser.run(filled)[finite], rtol=1e-5)
    assert read_provenance(tmp_path / "a_denoised.tif")["settings"]["nan"] == "fill"


def test_spikes_fill(tmp_path: Path, helpers: Any) -> None:
    """A recording with cosmic rays: the default's warning names them and points at --spikes fill;
    with it they are replaced before denoising (a note, the JSON count, the provenance) and the output
    equals the one of the recording despiked by fluorodn.files.despike."""
    import fluorodn.files as ff

    rng = np.random.default_rng(2)
    wl = np.linspace(477.0, 595.0, 152)
    clean = (
        500.0
        + (8000.0 * np.exp(-0.5 * ((wl - 515.0) / 25.0) ** 2) + 800.0)
        * np.exp(0.05 * np.sin(np.arange(1500) / 60.0))[:, None]
    )
    x = (clean + rng.standard_normal(clean.shape) * np.sqrt(clean)).astype(np.float32)
    x[np.arange(50, 1450, 70), np.arange(20) * 7] += 15000.0
    np.save(tmp_path / "r.npy", x)
    kept = cli("denoise", tmp_path / "r.npy", "--threads", 1)
    assert kept.exit_code == 0, kept.output
    # the checks read the rows within their blocks (a block's first and last rows are not judged)
    assert re.search(r"(19|20) values of the 1500 samples checked read as isolated spikes", kept.stderr), kept.stderr
    assert "--spikes fill" in kept.stderr
    filled = cli("denoise", tmp_path / "r.npy", "--threads", 1, "--spikes", "fill", "-o", tmp_path / "f.npy", "--json")
    assert filled.exit_code == 0, filled.output
    assert json.loads(filled.stdout)["files"][0]["despiked"] == 20
    assert "isolated spike" not in filled.stderr
    noted = cli("denoise", tmp_path / "r.npy", "--threads", 1, "--spikes", "fill", "-o", tmp_path / "g.npy")
    assert "replaced 20 isolated spikes before denoising (--spikes fill)" in noted.stderr
    np.testing.assert_allclose(
        np.load(tmp_path / "f.npy"), Denoiser(options=DenoiserOptions(threads=1)).run(ff.despike(x)[0]), rtol=1e-5
    )
    tifffile.imwrite(tmp_path / "r.tif", x)
    assert cli("denoise", tmp_path / "r.tif", "--threads", 1, "--spikes", "fill").exit_code == 0
    assert read_provenance(tmp_path / "r_denoised.tif")["settings"]["spikes"] == "fill"
    frame = np.random.default_rng(3).normal(1000.0, 20.0, (256, 256)).astype(np.float32)
    frame[np.arange(20, 240, 20), np.arange(20, 240, 20)] += 5000.0  # bright puncta, not spikes in time
    tifffile.imwrite(tmp_path / "f.tif", frame)
    image = cli("denoise", tmp_path / "f.tif", "--threads", 1, "--spikes", "fill", "--json")
    assert image.exit_code == 0 and json.loads(image.stdout)["files"][0]["despiked"] == 0
    refused = cli("denoise", tmp_path / "r.npy", "--spikes", "drop")
    assert refused.exit_code == 2 and "--spikes" in refused.stderr


# -- temporary files and compression ------------------------------------------------------


def test_next_run_removes_stale_temp_files(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live = temp_name(tmp_path / "a_denoised.tif")
    stale = live.with_name(live.name.replace(f"-{os.getpid()}-", f"-{int(dead.stdout)}-"))
    stale.write_bytes(b"left by kill -9")
    result = denoise(tiny_model, tmp_path / "a.tif")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and "removed 1 temporary file" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "a_denoised.tif"]


def test_compression_is_kept(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    stack = np.stack([helpers.spectra(100, 40, seed=s) for s in range(6)])
    tifffile.imwrite(tmp_path / "z.tif", stack, compression="zlib", predictor=True, imagej=True)
    assert denoise(tiny_model, tmp_path / "z.tif", "--dtype", "same").exit_code == 0
    with tifffile.TiffFile(tmp_path / "z_denoised.tif") as tif:
        assert tif.pages[0].compression.name == "ADOBE_DEFLATE" and tif.is_imagej


# -- help and other commands -------------------------------------------------------------


def test_help_is_plain_text() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "fluorodn", "denoise", "--help"], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    text = proc.stdout
    assert proc.returncode == 0
    assert "pip install 'fluorodn[dask]'" in text  # brackets are not markup
    assert "--overwrite  " in text and "<bool>" not in text  # flags take no value
    assert "bf16" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "│" not in text  # no boxes to re-wrap
    assert cli("denoise", "--precision", "bf16", "x.tif").exit_code == 2


def test_info_names_the_device_and_precision_apart(shipped: Path) -> None:
    result = cli("info", "--device", "cpu", "--threads", 1, "--precision", "fp32")
    assert result.exit_code == 0, result.output
    assert "device        cpu -> CPUExecutionProvider" in result.stdout
    assert "precision     fp32 (asked: fp32)" in result.stdout


def test_auto_device_says_nothing_about_cuda(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    result = denoise(tiny_model, tmp_path / "a.tif")
    assert result.exit_code == 0 and "CUDA" not in result.output


def test_cuda_failure_is_one_line_without_onnxruntime_logs(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    if Denoiser(tiny_model, device="auto").provider == "CUDAExecutionProvider":
        pytest.skip("CUDA works on this machine")
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = ["-m", "fluorodn", "denoise", str(tmp_path / "a.tif"), "--model", str(tiny_model), "--device", "cuda"]
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fluorodn: error: CUDA was requested"), proc.stderr


def test_an_output_ending_in_a_slash_is_a_folder(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    """-o NAME/ is a folder whatever NAME looks like (made if missing), for one input too; without
    the slash the same name is the output file."""
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    result = denoise(tiny_model, tmp_path / "a.tif", "-o", f"{tmp_path / 'results.tif'}/")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results.tif" / "a_denoised.tif").is_file()
    kept = denoise(tiny_model, tmp_path / "a.tif", "-o", f"{tmp_path / 'deep' / 'er'}{os.sep}", "--keep-tree")
    assert kept.exit_code == 0, kept.output
    assert (tmp_path / "deep" / "er" / "a_denoised.tif").is_file()
    tree = denoise(tiny_model, tmp_path / "a.tif", "-o", f"{tmp_path / 'tree.tif'}{os.sep}", "--keep-tree")
    assert tree.exit_code == 0, tree.output
    assert (tmp_path / "tree.tif" / "a_denoised.tif").is_file()
    if os.sep == "/":  # a backslash is part of a name here, not a separator
        odd = denoise(tiny_model, tmp_path / "a.tif", "-o", f"{tmp_path / 'odd'}\\")
        assert odd.exit_code == 0 and (tmp_path / "odd\\" / "a_denoised.tif").is_file(), odd.output
    as_file = denoise(tiny_model, tmp_path / "a.tif", "-o", tmp_path / "plain.tif")
    assert as_file.exit_code == 0 and (tmp_path / "plain.tif").is_file()


def test_json_errors_that_end_the_command_are_in_its_document(tiny_model: Path, tmp_path: Path,
                                                               helpers: Any) -> None:  # fmt: skip
    """Under --json an error that ends the command (a missing input, an out-of-range value that
    fluorodn checks, an unknown model) is written into the command's one document on stdout, with
    what it holds of the files so far, besides its line on stderr. (Values the option parser
    refuses, e.g. --device gpu, end with its usage message and exit code 2 before the command runs.)"""
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(30, 20))
    cases = [
        ([tmp_path / "missing.npy"], "does not exist"),
        ([tmp_path / "a.tif", "--threads", 0], "--threads 0 is out of range"),
        ([tmp_path / "a.tif", "--model", "nonexistent"], "unknown model"),
    ]
    for args, fragment in cases:
        result = cli("denoise", *args, "--json")
        assert result.exit_code == 1 and len(error_lines(result)) == 1, result.output
        doc = json.loads(result.stdout)
        assert fragment in doc["error"] and doc["files"] == [] and doc["failed"] == 0
        assert doc["dry_run"] is False and doc["model"] is None and "seconds" in doc
    (tmp_path / "b.npy").write_bytes(b"not an array")  # the model, a mistake of the command, is named first
    result = cli("denoise", tmp_path / "a.tif", tmp_path / "b.npy", "--model", "nonexistent", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and "unknown model" in doc["error"]
    assert doc["failed"] == 0 and doc["files"] == []
    other = cli("unmix", tmp_path / "missing.npy", "-s", "example")  # a command without --json after one with it
    assert other.exit_code == 1 and other.stdout == "" and "does not exist" in error_lines(other)[0]
    without = cli("denoise", tmp_path / "missing.npy")
    assert without.exit_code == 1 and without.stdout == ""


def test_thread_and_worker_counts_beyond_the_machine_are_one_sentence(tmp_path: Path) -> None:
    """--threads (and --workers) take 1 to 4 x the CPUs, the limit DenoiserOptions takes too."""
    import os

    from fluorodn.session import thread_limit

    np.save(tmp_path / "x.npy", np.ones((64, 64), np.float32))
    limit = thread_limit()
    assert limit == 4 * (os.cpu_count() or 1)
    for value in (0, limit + 1):
        result = cli("denoise", str(tmp_path / "x.npy"), "--threads", str(value))
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"--threads {value} is out of range: give 1 to {limit} (4 x the" in result.output, result.output
    assert not (tmp_path / "x_denoised.npy").exists()


def test_dim_counts_written_as_integers_are_told(tiny_model: Path, tmp_path: Path) -> None:
    """--dtype same on photon counts of a few per pixel rounds the denoised values (a background of
    0.6 written as 1): one warning line says so and how to keep them; bright counts, and a float32
    output, are written without it."""
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "dim.tif", rng.poisson(0.7, (128, 128)).astype(np.uint16))
    tifffile.imwrite(tmp_path / "bright.tif", (1000 + rng.normal(0, 10, (128, 128))).astype(np.uint16))
    told = "rounds the denoised values: rounding moves each by up to half a step"
    result = denoise(tiny_model, tmp_path / "dim.tif", "--dtype", "same", "-o", tmp_path / "d.tif")
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: warning:")]
    assert len(lines) == 1 and told in lines[0] and "(uint16: --dtype same)" in lines[0], result.stderr
    assert tifffile.imread(tmp_path / "d.tif").dtype == np.uint16
    for args in (["dim.tif", "-o", tmp_path / "f.tif"], ["bright.tif", "--dtype", "same", "-o", tmp_path / "b.tif"]):
        result = denoise(tiny_model, tmp_path / args[0], *args[1:])
        assert result.exit_code == 0 and told not in result.stderr, result.stderr
