"""The fluorodn command on real files: outputs, metadata, refusals, exit codes, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from fluorodn import Denoiser
from fluorodn.cli import app
from fluorodn.io import read_provenance
from tests.support import assert_user_error

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def cli(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def denoise(model: Path, *args: Any) -> Any:
    return cli("denoise", *args, "--model", model, "--threads", 1)


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# -- TIFF metadata ---------------------------------------------------------------------


def test_imagej_stack(tiny_model: Path, denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    stack = np.stack([helpers.spectra(40, 30, seed=s) for s in range(6)]).reshape(2, 3, 40, 30)
    meta = {"axes": "TZYX", "unit": "um", "spacing": 0.5, "finterval": 0.2, "Info": "rig 2", "Labels": list("abcdef"),
            "Properties": {"animal": "m3"}}  # fmt: skip
    tifffile.imwrite(tmp_path / "ij.tif", stack, imagej=True, resolution=(2.5, 2.5), metadata=meta)
    result = denoise(tiny_model, tmp_path / "ij.tif")
    assert result.exit_code == 0, result.output
    out = tmp_path / "ij_denoised.tif"
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej and tif.series[0].axes == "TZYX"
        data = tif.asarray()
        ij = tif.imagej_metadata
        assert tif.pages[0].resolution == pytest.approx((2.5, 2.5))
        assert tif.pages[0].software.startswith("fluorodn")
    assert data.dtype == np.float32 and data.shape == stack.shape
    np.testing.assert_allclose(data, denoiser.run(stack.reshape(6, 40, 30)).reshape(stack.shape), rtol=1e-6)
    assert ij["unit"] == "um" and ij["spacing"] == 0.5 and ij["finterval"] == 0.2
    assert ij["Info"] == "rig 2" and ij["Labels"] == list("abcdef") and ij["Properties"]["animal"] == "m3"
    prov = read_provenance(out)
    assert prov["model"] == "tiny" and prov["model_sha256"] == denoiser.sha256
    assert prov["settings"]["dtype"] == "float32" and prov["fluorodn"]
    assert "Denoised 1 file (6 frames" in result.stdout


def test_ome_tiff(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    stack = np.stack([helpers.spectra(40, 30, seed=s) for s in range(3)])
    meta = {"axes": "TYX", "PhysicalSizeX": 0.65, "PhysicalSizeXUnit": "µm", "PhysicalSizeY": 0.65,
            "Description": "fibre 1", "Name": "session 4"}  # fmt: skip
    tifffile.imwrite(tmp_path / "rec.ome.tif", stack, ome=True, metadata=meta)
    assert denoise(tiny_model, tmp_path / "rec.ome.tif").exit_code == 0
    out = tmp_path / "rec_denoised.ome.tif"
    with tifffile.TiffFile(out) as tif:
        assert tif.is_ome
        image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
        assert tif.asarray().shape == stack.shape
    assert image["Name"] == "session 4" and image["Description"] == "fibre 1"
    assert image["Pixels"]["PhysicalSizeX"] == 0.65 and image["Pixels"]["Type"] == "float"
    assert read_provenance(out)["model"] == "tiny"


def test_plain_tiff_keeps_description(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    x = helpers.spectra(50, 40)
    tifffile.imwrite(tmp_path / "p.tif", x, description="LabVIEW spectrometer v3; 5 Hz", metadata=None,
                     resolution=(3.0, 4.0), resolutionunit="CENTIMETER")  # fmt: skip
    assert denoise(tiny_model, tmp_path / "p.tif", "--dtype", "same").exit_code == 0
    with tifffile.TiffFile(tmp_path / "p_denoised.tif") as tif:
        page = tif.pages[0]
        assert page.description == "LabVIEW spectrometer v3; 5 Hz"
        assert page.resolution == pytest.approx((3.0, 4.0)) and page.resolutionunit == 3
        assert tif.asarray().dtype == np.uint16
    prov = read_provenance(tmp_path / "p_denoised.tif")
    assert prov["settings"]["dtype"] == "uint16" and prov["source"] == "p.tif"


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("latin-1", "exposure 100 \u00b5s at 25 \u00b0C"),
        ("utf-8", "exposure 100 \u00b5s at 25 \u00b0C\n"),  # tifffile reads it without its newline
        ("cp1252", "500\u2013550 nm, 100 \u00b5s  "),
    ],
)
def test_a_description_not_in_ascii_and_the_acquisition_program_are_kept(
    tiny_model: Path, tmp_path: Path, helpers: Any, encoding: str, text: str
) -> None:
    """An instrument's description holding a µ, a ° or a dash in Latin-1, UTF-8 or Windows' cp1252,
    ending in whitespace or not (TIFF strings are ASCII, tifffile writes none other) is written back
    byte for byte, not refused after the denoising; the Software tag names the acquisition program
    beside fluorodn, not the library that wrote the file."""
    stand_in = "".join(c if c.isascii() else "X" * len(c.encode(encoding)) for c in text)  # as many bytes
    tifffile.imwrite(tmp_path / "p.tif", helpers.spectra(50, 40), description=stand_in, metadata=None,
                     software="MyScope 1.0")  # fmt: skip
    raw = (tmp_path / "p.tif").read_bytes()
    (tmp_path / "p.tif").write_bytes(raw.replace(stand_in.encode(), text.encode(encoding)))
    result = denoise(tiny_model, tmp_path / "p.tif")
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(tmp_path / "p_denoised.tif") as tif:
        assert tif.pages[0].description == text.rstrip()
        assert tif.pages[0].software.startswith("fluorodn ") and tif.pages[0].software.endswith(" (from MyScope 1.0)")
    assert text.encode(encoding) in (tmp_path / "p_denoised.tif").read_bytes()
    assert read_provenance(tmp_path / "p_denoised.tif")["source"] == "p.tif"
    tifffile.imwrite(tmp_path / "q.tif", helpers.spectra(50, 40))  # tifffile names itself as the Software
    assert denoise(tiny_model, tmp_path / "q.tif").exit_code == 0
    with tifffile.TiffFile(tmp_path / "q_denoised.tif") as tif:
        assert "(from" not in tif.pages[0].software


@pytest.mark.filterwarnings("ignore:.*stored as RGB")  # tifffile's default for 3- or 4-page stacks
def test_shaped_tiff_keeps_its_metadata(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    stack = np.stack([helpers.spectra(20, 30, seed=s) for s in range(4)])
    tifffile.imwrite(tmp_path / "s.tif", stack, metadata={"fs": 5.0, "wavelengths": [477, 595]})
    assert denoise(tiny_model, tmp_path / "s.tif").exit_code == 0
    with tifffile.TiffFile(tmp_path / "s_denoised.tif") as tif:
        meta = tif.shaped_metadata[0]
        assert tif.asarray().shape == (4, 20, 30)
    assert meta["fs"] == 5.0 and meta["wavelengths"] == [477, 595] and meta["fluorodn"]["model"] == "tiny"
    # a description of the user's own beside tifffile's JSON (tifffile's defaults with description=): both kept
    tifffile.imwrite(tmp_path / "d.tif", stack[0], compression="lzw", predictor=True, description="rig 2, fiber A")
    assert denoise(tiny_model, tmp_path / "d.tif").exit_code == 0
    with tifffile.TiffFile(tmp_path / "d_denoised.tif") as tif:
        assert tif.pages[0].description == "rig 2, fiber A" and tif.shaped_metadata[0]["fluorodn"]["model"] == "tiny"
        assert tif.pages[0].compression == tifffile.COMPRESSION.LZW


# -- other formats ---------------------------------------------------------------------


def test_npy_and_mat_through_the_cli(tiny_model: Path, denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    import scipy.io

    x = helpers.spectra(60, 20)
    np.save(tmp_path / "a.npy", x)
    scipy.io.savemat(tmp_path / "b.mat", {"raw": x, "dark": x[:10]})
    result = denoise(tiny_model, tmp_path / "a.npy", tmp_path / "b.mat", "--key", "raw", "--suffix", "_dn")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "a_dn.npy"), denoiser.run(x), rtol=1e-6)
    out = scipy.io.loadmat(tmp_path / "b_dn.mat")
    assert {"raw", "dark", "raw_dn", "fluorodn_provenance"} <= set(out)
    np.testing.assert_allclose(out["raw_dn"], denoiser.run(x), rtol=1e-6)


def test_folder_and_glob_inputs_with_output_folder(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        tifffile.imwrite(src / f"r{i}.tif", helpers.spectra(20, 20, seed=i))
    (src / "notes.txt").write_text("not a recording")
    result = denoise(tiny_model, src, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"r{i}_denoised.tif" for i in range(3)]
    # earlier outputs are not picked up again by a glob
    tifffile.imwrite(src / "r0_denoised.tif", helpers.spectra(20, 20))
    result = denoise(tiny_model, str(src / "*.tif"), "-o", tmp_path / "out2")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out2").iterdir())) == 3


# -- refusals and errors ---------------------------------------------------------------


def test_existing_output_needs_overwrite(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(20, 20))
    out = tmp_path / "a_denoised.tif"
    out.write_bytes(b"precious")
    result = denoise(tiny_model, tmp_path / "a.tif")
    assert_user_error(result, str(out), "--overwrite")
    assert out.read_bytes() == b"precious"
    result = denoise(tiny_model, tmp_path / "a.tif", "--skip-existing")
    assert result.exit_code == 0 and "1 skipped" in result.stdout and out.read_bytes() == b"precious"
    assert denoise(tiny_model, tmp_path / "a.tif", "--overwrite").exit_code == 0
    assert tifffile.imread(out).shape == (20, 20)
    assert no_temp_files(tmp_path)


def test_a_report_left_without_its_output_is_not_taken_for_the_output(
    tiny_model: Path, tmp_path: Path, helpers: Any
) -> None:
    """An earlier run's report whose denoised output is gone: --skip-existing does not skip the file
    (its output does not exist) but names the report in the way, and says neither option would do."""
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(20, 20))
    assert denoise(tiny_model, tmp_path / "a.tif", "--report").exit_code == 0
    (tmp_path / "a_denoised.tif").unlink()
    for flags in ((), ("--skip-existing",)):
        result = denoise(tiny_model, tmp_path / "a.tif", "--report", *flags)
        assert result.exit_code != 0 and "skipped" not in result.stdout, result.output
        assert "a_denoised_report.html exists already, but a_denoised.tif does not; pass --overwrite" in result.output
        assert not (tmp_path / "a_denoised.tif").exists()
    assert denoise(tiny_model, tmp_path / "a.tif", "--report", "--overwrite").exit_code == 0
    assert (tmp_path / "a_denoised.tif").exists()


def test_the_summary_times_the_denoising_apart_from_the_reports(
    tiny_model: Path, tmp_path: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --report, the summary's time and rate are the denoising's, and the reports' time is told
    beside them (here a report made to take 4 s); --json gives both."""
    import time

    import fluorodn.report

    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(20, 20))
    slow = fluorodn.report.report_files

    def report_files(*args: Any, **kwargs: Any) -> Any:
        time.sleep(4.0)
        return slow(*args, **kwargs)

    monkeypatch.setattr(fluorodn.report, "report_files", report_files)
    result = denoise(tiny_model, tmp_path / "a.tif", "--report")
    assert result.exit_code == 0, result.output
    summary = result.stdout.strip().splitlines()[-1]
    seconds = float(summary.split(" in ")[1].split(" s ")[0])
    assert seconds < 3.5, summary  # a tiny model on 20 x 20 values: well under a second unloaded
    assert float(summary.split("reports written in ")[1].split(" s more")[0]) >= 4.0
    doc = json.loads(denoise(tiny_model, tmp_path / "a.tif", "--report", "--overwrite", "--json").stdout)
    assert doc["report_seconds"] >= 4.0 and doc["seconds"] >= doc["report_seconds"]


def test_library_errors_name_keywords_and_the_command_names_its_options(
    tiny_model: Path, tmp_path: Path, helpers: Any
) -> None:
    """Raised by the library, an error names the keyword argument and no option; the command prints the option."""
    import re

    import scipy.io

    from fluorodn import io as fio
    from fluorodn.cli._common import as_flags
    from fluorodn.errors import FileFormatError, OutputExistsError
    from fluorodn.unmixing import unmix_file

    rec, out = tmp_path / "rec.npy", tmp_path / "rec_unmixed.csv"
    np.save(rec, helpers.spectra(40, 30).astype(np.float32))
    out.write_text("keep", encoding="utf-8")
    scipy.io.savemat(tmp_path / "two.mat", {"a": helpers.spectra(20, 20), "b": helpers.spectra(20, 20)})
    with pytest.raises(OutputExistsError) as unmixed:
        unmix_file(rec, "example", "477:595", denoise=False)
    with pytest.raises(OutputExistsError) as written, fio.atomic_output(out):
        pass
    with pytest.raises(FileFormatError) as several:
        fio.open_recording(tmp_path / "two.mat")
    for raised, keyword in ((unmixed, "pass overwrite=True to replace it"),
                            (written, "pass overwrite=True to replace it or skip this input"),
                            (several, "choose one with key=...")):  # fmt: skip
        message = str(raised.value)
        assert message.endswith(keyword) and re.search(r"(?<![\w-])--?[a-z]", message) is None, message

    assert as_flags(str(written.value)) == f"{out} exists already; pass --overwrite to replace it or --skip-existing"
    for result, line in (
        (cli("unmix", rec, "-s", "example", "--wavelengths", "477:595", "--no-denoise"),
         f"{rec}: {out} exists already; pass --overwrite to replace it"),
        (denoise(tiny_model, tmp_path / "two.mat"),
         f"{tmp_path / 'two.mat'} holds several arrays (a, b); choose one with --key"),
    ):  # fmt: skip
        assert_user_error(result)
        assert [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: error:")] == [
            f"fluorodn: error: {line}"
        ]
    assert out.read_text(encoding="utf-8") == "keep"


@pytest.mark.parametrize(
    ("message", "flags"),
    [
        ("rec: its rows alternate ...; declare excitations=2", "rec: its rows alternate ...; declare --excitations 2"),
        ("give the bins' wavelengths with wavelengths=...", "give the bins' wavelengths with --wavelengths"),
    ],
)
def test_a_count_or_the_wavelengths_named_in_an_error_read_as_options(message: str, flags: str) -> None:
    from fluorodn.cli._common import as_flags

    assert as_flags(message) == flags


def test_never_over_the_input(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(20, 20))
    before = (tmp_path / "a.tif").read_bytes()
    assert_user_error(denoise(tiny_model, tmp_path / "a.tif", "--suffix", "", "--overwrite"), "its input")
    assert_user_error(denoise(tiny_model, tmp_path / "a.tif", "-o", tmp_path / "a.tif", "--overwrite"), "input")
    for dots in (".", ".."):  # a folder's name, not a piece of a file's: said so, not "a path separator"
        assert_user_error(
            denoise(tiny_model, tmp_path / "a.tif", "--suffix", dots),
            f"--suffix '{dots}' is not taken as a piece of a file name",
        )
    assert (tmp_path / "a.tif").read_bytes() == before


def test_outputs_in_the_current_folder_are_said_to_be(
    tiny_model: Path, tmp_path: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(name, helpers.spectra(20, 20))
    result = denoise(tiny_model, "a.tif", "b.tif")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1].endswith("into the current folder."), result.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["missing.tif"], ["missing.tif", "does not exist"]),
        (["notes.txt"], ["notes.txt", "expected an OceanView time-series export"]),
        (["a.tif", "--model", "medium"], ["unknown model 'medium'"]),
        (["a.tif", "--model", "nothere.onnx"], ["nothere.onnx", "does not exist"]),
        (["a.tif", "--overwrite", "--skip-existing"], ["choose one"]),
        (["a.tif", "--key", "x"], ["--key", ".mat"]),
    ],
)
def test_user_mistakes_are_one_sentence(tiny_model: Path, tmp_path: Path, helpers: Any, args: list[str],
                                        fragments: list[str], monkeypatch: Any) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite("a.tif", helpers.spectra(20, 20))
    Path("notes.txt").write_text("x")
    if "--model" not in args:
        args = [*args, "--model", str(tiny_model)]
    assert_user_error(cli("denoise", *args), *fragments)


def test_cuda_without_cuda_fails_clearly(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    if Denoiser(tiny_model, device="auto").provider == "CUDAExecutionProvider":
        pytest.skip("CUDA works on this machine")
    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(20, 20))
    assert_user_error(denoise(tiny_model, tmp_path / "a.tif", "--device", "cuda"), "CUDA was requested", "cpu")


def test_bad_file_among_good_ones(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    """A broken file is reported by name; the others are written; the exit code says it failed."""
    good = helpers.spectra(20, 20).astype(np.float32)
    bad = good.copy()
    bad[3, 4] = np.nan
    tifffile.imwrite(tmp_path / "bad.tif", np.stack([good, bad]))
    tifffile.imwrite(tmp_path / "good.tif", good)
    result = denoise(tiny_model, tmp_path / "bad.tif", tmp_path / "good.tif")
    assert_user_error(result, "bad.tif", "NaN")
    assert (tmp_path / "good_denoised.tif").is_file()
    assert not (tmp_path / "bad_denoised.tif").exists() and no_temp_files(tmp_path)
    assert "1 failed" in result.stdout


def test_interrupt_removes_the_partial_output(tiny_model: Path, tmp_path: Path, helpers: Any, monkeypatch: Any) -> None:
    stack = np.stack([helpers.spectra(20, 20, seed=s) for s in range(5)])
    tifffile.imwrite(tmp_path / "a.tif", stack)
    real_stream = Denoiser.stream

    def interrupted(self: Denoiser, pages: Any, **kw: Any) -> Any:
        for k, page in enumerate(real_stream(self, pages, **kw)):
            if k == 2:
                raise KeyboardInterrupt
            yield page

    monkeypatch.setattr(Denoiser, "stream", interrupted)
    result = denoise(tiny_model, tmp_path / "a.tif")
    assert result.exit_code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


@pytest.fixture
def stop_signals() -> Any:
    """Ctrl-C raising KeyboardInterrupt in this process while the test runs (a suite started in the
    background runs with it ignored), and the handlers of SIGINT and SIGTERM restored after it."""
    import signal

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_ctrl_c_pressed_again_while_cleaning_up_is_ignored(
    tiny_model: Path, tmp_path: Path, helpers: Any, monkeypatch: Any, stop_signals: Any
) -> None:
    """The first Ctrl-C stops the run; more of them (or SIGTERM) while the clean-up it started
    runs (worker threads joined, the temporary output removed) are ignored: that clean-up ends,
    and the command exits with 130."""
    import signal

    from fluorodn.cli import denoise as cli_denoise

    tifffile.imwrite(tmp_path / "a.tif", helpers.spectra(20, 20))
    cleaned: list[bool] = []

    def pressed(*args: Any, **kw: Any) -> Any:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # interrupted at once
            raise AssertionError("Ctrl-C did not interrupt the file")
        finally:  # the clean-up, during which Ctrl-C is pressed again
            for sig in (signal.SIGINT, signal.SIGINT, signal.SIGTERM):
                os.kill(os.getpid(), sig)
            time.sleep(0.05)
            cleaned.append(True)

    monkeypatch.setattr(cli_denoise, "denoise_one", pressed)
    result = denoise(tiny_model, tmp_path / "a.tif")
    assert cleaned == [True]
    assert result.exit_code == 130, (result.exception, result.output)
    assert "interrupted; no partial output is left" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


def test_stop_signals_are_restored_after_a_block_without_interrupt(stop_signals: Any) -> None:
    import signal

    from fluorodn.cli._common import sigterm_interrupts

    before = signal.getsignal(signal.SIGTERM)
    with sigterm_interrupts():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def stopped() -> None:
        with sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # interrupted at once

    with pytest.raises(KeyboardInterrupt):
        stopped()
    assert signal.getsignal(signal.SIGINT) == signal.getsignal(signal.SIGTERM) == signal.SIG_IGN


# -- names too long for the file system ----------------------------------------------


def test_names_too_long_are_one_sentence_and_the_dry_run_agrees(
    tiny_model: Path, tmp_path: Path, helpers: Any, monkeypatch: Any
) -> None:
    from fluorodn.files import name_max

    limit = name_max(tmp_path)
    fits = tmp_path / ("r" * (limit - 15) + ".tif")  # its output fits, a temporary name after it would not
    tifffile.imwrite(fits, helpers.spectra(20, 20))
    dry = denoise(tiny_model, fits, "--dry-run")
    assert dry.exit_code == 0 and "would denoise 1 file" in dry.stdout, dry.output
    assert denoise(tiny_model, fits).exit_code == 0
    assert (tmp_path / (fits.stem + "_denoised.tif")).is_file() and no_temp_files(tmp_path)
    # --report's names are longer than the output's: that file fails, in the dry run as in the run
    for args in (["--dry-run"], ["--overwrite"]):
        result = denoise(tiny_model, fits, "--report", *args)
        assert_user_error(result, f"bytes, over the {limit} bytes", "choose a shorter --suffix or -o")
    too_long = tmp_path / ("q" * (limit - 10) + ".tif")  # its output's name does not fit
    tifffile.imwrite(too_long, helpers.spectra(20, 20))
    for args in (["--dry-run"], []):
        assert_user_error(denoise(tiny_model, too_long, *args), f"is {limit + 3} bytes, over the {limit} bytes",
                          "choose a shorter --suffix or -o")  # fmt: skip
    assert_user_error(denoise(tiny_model, fits, "-o", tmp_path / ("o" * 300 + ".tif")), "is 304 bytes", "-o")
    assert_user_error(denoise(tiny_model, tmp_path / ("i" * 300 + ".tif")), "is 304 bytes", "check the path")
    assert_user_error(cli("denoise", tmp_path / ("z" * 300 + ".zarr")), "is 305 bytes", "check the path")
    monkeypatch.chdir(tmp_path)
    assert_user_error(cli("example", "e" * 300 + ".tif"), "is 304 bytes", "give a shorter PATH")
    assert "Traceback" not in cli("example", "e" * 300 + "/").output
    assert sorted(len(p.name) for p in tmp_path.iterdir()) == [limit - 11, limit - 6, limit - 2]


# -- other commands --------------------------------------------------------------------


def test_models_and_info(shipped: Path) -> None:
    result = cli("models")
    assert result.exit_code == 0, result.output
    assert "low (default)" in result.stdout and "high" in result.stdout and "0.8" in result.stdout
    result = cli("info", "--device", "cpu", "--threads", 1)
    assert result.exit_code == 0, result.output
    for fragment in ("fluorodn", "onnxruntime", "CPUExecutionProvider", "threads       1", "default, high, low"):
        assert fragment in result.stdout
    import fluorodn

    assert f"({Path(fluorodn.__file__).parent})" in result.stdout.splitlines()[0]  # the package, not its cli


def test_info_tells_of_both_onnxruntime_packages_installed(shipped: Path, monkeypatch: Any) -> None:
    """onnxruntime and onnxruntime-gpu both installed (they write the same files): info names both
    and says how to mend it, in one warning line."""
    from fluorodn import session

    monkeypatch.setattr(session, "ort_packages", lambda: ["onnxruntime-gpu", "onnxruntime"])
    result = cli("info", "--device", "cpu", "--threads", 1)
    assert result.exit_code == 0, result.output
    assert "(package onnxruntime-gpu and onnxruntime)" in result.stdout
    warned = [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: warning:")]
    assert len(warned) == 1 and "pip install onnxruntime-gpu" in warned[0]


def test_an_onnxruntime_left_in_part_is_named_not_a_traceback(shipped: Path, monkeypatch: Any, tmp_path: Path) -> None:
    """The module one of the two packages leaves when the other is uninstalled (no InferenceSession):
    info, a dry run and a run end in one sentence saying to reinstall; Denoiser() raises DeviceError."""
    import sys
    import types

    import fluorodn
    from fluorodn.errors import DeviceError

    monkeypatch.setitem(sys.modules, "onnxruntime", types.ModuleType("onnxruntime"))
    np.save(tmp_path / "rec.npy", np.random.default_rng(0).normal(1000.0, 20.0, (120, 40)).astype(np.float32))
    for args in (("info",), ("denoise", tmp_path / "rec.npy", "--dry-run"), ("denoise", tmp_path / "rec.npy")):
        result = cli(*args)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: error:")]
        assert len(errors) == 1 and "pip install --force-reinstall onnxruntime-gpu" in errors[0], result.stderr
    with pytest.raises(DeviceError, match="installed only in part"):
        fluorodn.Denoiser()


def test_models_shows_a_blind_model_s_noise_range() -> None:
    from fluorodn.registry import available_models

    if not any(card.get("noise_scale_range") for card in available_models()):
        pytest.skip("no blind model is shipped in this installation")
    result = cli("models")
    assert result.exit_code == 0, result.output
    assert "spectral (default)" in result.stdout and "0.1-1.2 (blind)" in result.stdout


def test_models_without_models(monkeypatch: Any, tmp_path: Path) -> None:
    from fluorodn import registry

    monkeypatch.setattr(registry, "models_dir", lambda: tmp_path)
    result = cli("models")
    assert result.exit_code == 0 and "No models" in result.stdout


def test_example(tmp_path: Path, monkeypatch: Any) -> None:
    from fluorodn.cli import models as cli_module

    monkeypatch.chdir(tmp_path)
    shipped = Path(cli_module.__file__).parents[1] / "data" / "example.tif"
    if not shipped.is_file():
        assert_user_error(cli("example"), "no example recording")
        fake = tmp_path / "pkg"
        (fake / "data").mkdir(parents=True)
        tifffile.imwrite(fake / "data" / "example.tif", np.ones((5, 5), np.uint16))
        monkeypatch.setattr(cli_module.resources, "files", lambda _pkg: fake)
    assert cli("example").exit_code == 0
    assert tifffile.imread(tmp_path / "example.tif").ndim >= 2
    assert_user_error(cli("example"), "exists already")
    assert cli("example", "copy.tif").exit_code == 0 and (tmp_path / "copy.tif").is_file()
    # a folder, written as one: created, the recording inside; another format's name is refused
    assert cli("example", "new/").exit_code == 0 and (tmp_path / "new" / "example.tif").is_file()
    assert cli("example", "deep/er/x.tif").exit_code == 0 and (tmp_path / "deep" / "er" / "x.tif").is_file()
    assert_user_error(cli("example", "ex.npy"), "is a TIFF", "ex.tif")
    assert not (tmp_path / "ex.npy").exists()


def test_example_advises_only_its_own_options(tmp_path: Path, monkeypatch: Any) -> None:
    from fluorodn.cli import models as cli_module

    fake = tmp_path / "pkg"
    (fake / "data").mkdir(parents=True)
    tifffile.imwrite(fake / "data" / "example.tif", np.ones((5, 5), np.uint16))
    monkeypatch.setattr(cli_module.resources, "files", lambda _pkg: fake)
    monkeypatch.chdir(tmp_path)
    assert cli("example").exit_code == 0
    result = cli("example")
    assert_user_error(result, "exists already", "--overwrite", "another PATH")
    assert "--skip-existing" not in result.stderr
    (tmp_path / "a_file").write_bytes(b"")
    result = cli("example", tmp_path / "a_file" / "x.tif")
    assert_user_error(result, "cannot write", "give a PATH in a writable folder")
    assert "(-o)" not in result.stderr and "output=" not in result.stderr


def test_help_reads_well() -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("denoise", "models", "info", "example"):
        assert command in result.stdout
    result = cli("denoise", "--help")
    for option in ("--output", "--model", "--device", "--dtype", "--suffix", "--overwrite", "--skip-existing",
                   "--key", "--threads"):  # fmt: skip
        assert option in result.stdout


# -- as a real process -----------------------------------------------------------------


def run(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, **kw)


def test_version_is_fast_and_skips_onnxruntime() -> None:
    code = (
        "import sys\nfrom fluorodn.cli import main\nsys.argv = ['fluorodn', '--version']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('loaded:', sorted(m for m in ('onnxruntime', 'numpy', 'torch') if m in sys.modules))"
    )
    proc = run("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("fluorodn ")
    assert "loaded: []" in proc.stdout


def test_process_exit_code_and_stderr(tiny_model: Path, tmp_path: Path) -> None:
    proc = run("-m", "fluorodn", "denoise", str(tmp_path / "missing.tif"), "--model", str(tiny_model))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"fluorodn: error: input {tmp_path / 'missing.tif'} does not exist (not a file, folder or matching pattern)"
    ]
    assert proc.stdout == ""


def test_no_torch_anywhere(tiny_model: Path, tmp_path: Path) -> None:
    """The runtime works with torch made unimportable, and never imports the training side."""
    code = f"""
import sys
sys.modules["torch"] = None
import numpy as np, fluorodn
from fluorodn import Denoiser, denoise, available_models
import fluorodn.cli, fluorodn.io, fluorodn.registry, fluorodn.tiling, fluorodn.normalize
out = Denoiser({str(tiny_model)!r}, device="cpu").run(np.ones((30, 20)))
assert out.dtype == np.float32
bad = [m for m in sys.modules if m.startswith(("fluorodn_train", "torch")) and sys.modules[m] is not None]
assert not bad, bad
print("ok")
"""
    proc = run("-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_import_is_cheap() -> None:
    proc = run("-c", "import sys, fluorodn; print(sorted(m for m in ('numpy', 'onnxruntime') if m in sys.modules))")
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    json.loads("{}")


def _spectral_tif(path: Path, seed: int, events: bool = False) -> np.ndarray:
    """A 1500 x 80 spectral recording (one bright spectrum with a slow course and shot noise; with
    ``events``, transients too: sudden rises decaying over about 10 samples), written to ``path``
    as float32 TIFF and returned."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    t, w = 1500, 80
    wl = np.linspace(0, 1, w)
    spectrum = 3000.0 * np.exp(-0.5 * ((wl - 0.4) / 0.2) ** 2) + 300.0
    course = np.convolve(rng.standard_normal(t + 50), np.ones(50) / 7, "same")[25:-25]
    if events:
        spikes = np.zeros(t)
        spikes[rng.choice(t, 20, replace=False)] = 1.5
        course += lfilter([1.0], [1.0, -0.9], spikes)
    x = spectrum[None, :] * (1.0 + 0.02 * course[:, None]) + np.sqrt(spectrum)[None, :] * rng.standard_normal((t, w))
    x = x.astype(np.float32)
    tifffile.imwrite(path, x)
    return x


def test_spectral_only_runs_the_projection_alone(tmp_path: Path) -> None:
    """--spectral-only gives what ``DenoiserOptions(spectral_only=True)`` gives, says so in the
    provenance, and differs from the default's output (which filters over time too)."""
    from fluorodn import Denoiser, DenoiserOptions

    x = _spectral_tif(tmp_path / "rec.tif", 6)
    result = cli("denoise", tmp_path / "rec.tif", "--threads", 1, "--spectral-only", "--suffix", "_proj")
    assert result.exit_code == 0, result.output
    assert cli("denoise", tmp_path / "rec.tif", "--threads", 1).exit_code == 0
    proj, full = tifffile.imread(tmp_path / "rec_proj.tif"), tifffile.imread(tmp_path / "rec_denoised.tif")
    assert read_provenance(tmp_path / "rec_proj.tif")["settings"]["spectral_only"] is True
    assert read_provenance(tmp_path / "rec_denoised.tif")["settings"]["spectral_only"] is False
    api = Denoiser(device="cpu", options=DenoiserOptions(threads=1, spectral_only=True)).run(x)
    np.testing.assert_allclose(proj, api, rtol=1e-6, atol=1e-3)
    assert np.abs(proj - full).max() > 1.0
    for over_time in (["--strength", 0.5], ["--round-onsets"]):  # they would be dropped silently
        result = cli("denoise", tmp_path / "rec.tif", "--spectral-only", *over_time, "--suffix", "_refused")
        assert_user_error(result, "--spectral-only filters nothing over time", "leave them out")
        assert not (tmp_path / "rec_refused.tif").exists()
    # an image model runs no spectral path: its options would be dropped silently too
    result = cli("denoise", tmp_path / "rec.tif", "--model", "low", "--spectral-only", "--suffix", "_refused")
    assert_user_error(result, "model 'low' is an image model", "--spectral-only applies to the spectral path only")
    assert not (tmp_path / "rec_refused.tif").exists()


def test_keep_onsets_on_the_command_line(tmp_path: Path) -> None:
    """Onsets are kept by default; --round-onsets gives what ``keep_onsets=False`` gives, says
    so in the header line and the provenance, and differs from the default."""
    from fluorodn import Denoiser, DenoiserOptions

    x = _spectral_tif(tmp_path / "rec.tif", 7, events=True)
    result = cli("denoise", tmp_path / "rec.tif", "--threads", 1, "--round-onsets", "--suffix", "_full")
    assert result.exit_code == 0, result.output
    assert "model spectral (fp32, onsets rounded) on" in result.stderr
    full = tifffile.imread(tmp_path / "rec_full.tif")
    assert read_provenance(tmp_path / "rec_full.tif")["settings"]["keep_onsets"] is False
    api = Denoiser(device="cpu", options=DenoiserOptions(threads=1, keep_onsets=False)).run(x)
    np.testing.assert_allclose(full, api, rtol=1e-6, atol=1e-3)
    kept = cli("denoise", tmp_path / "rec.tif", "--threads", 1)
    assert kept.exit_code == 0 and "model spectral (fp32) on" in kept.stderr
    assert read_provenance(tmp_path / "rec_denoised.tif")["settings"]["keep_onsets"] is True
    assert np.abs(full - tifffile.imread(tmp_path / "rec_denoised.tif")).max() > 1.0


def test_strength_on_the_command_line(tmp_path: Path) -> None:
    """--strength gives what ``DenoiserOptions(strength=...)`` gives and says so in the
    provenance; out of 0-1 it is refused in one line with exit code 2, and nothing is written."""
    from fluorodn import Denoiser, DenoiserOptions

    x = _spectral_tif(tmp_path / "rec.tif", 7)
    result = cli("denoise", tmp_path / "rec.tif", "--threads", 1, "--strength", 0.5, "--suffix", "_half")
    assert result.exit_code == 0, result.output
    assert "model spectral (fp32, strength 0.5) on" in result.stderr
    half = tifffile.imread(tmp_path / "rec_half.tif")
    assert read_provenance(tmp_path / "rec_half.tif")["settings"]["strength"] == 0.5
    api = Denoiser(device="cpu", options=DenoiserOptions(threads=1, strength=0.5)).run(x)
    np.testing.assert_allclose(half, api, rtol=1e-6, atol=1e-3)
    assert cli("denoise", tmp_path / "rec.tif", "--threads", 1).exit_code == 0
    assert read_provenance(tmp_path / "rec_denoised.tif")["settings"]["strength"] == 1.0
    assert np.abs(half - tifffile.imread(tmp_path / "rec_denoised.tif")).max() > 1.0
    for value in ("1.5", "-0.1", "nan"):
        bad = cli("denoise", tmp_path / "rec.tif", "--strength", value, "--suffix", "_bad")
        assert bad.exit_code == 2 and "Traceback" not in bad.output
        assert f"'--strength': must be a number from 0 to 1, not {value}" in bad.output
    assert not (tmp_path / "rec_bad.tif").exists()


def test_self_ensemble_on_frames(tmp_path: Path) -> None:
    """--self-ensemble gives what ``DenoiserOptions(self_ensemble=True)`` gives on a frame, says so
    in the provenance, and differs from the plain image path."""
    from fluorodn import Denoiser, DenoiserOptions

    rng = np.random.default_rng(7)
    x = (rng.standard_normal((64, 80)) * 20 + 1000).astype(np.float32)
    tifffile.imwrite(tmp_path / "frame.tif", x)
    result = cli("denoise", tmp_path / "frame.tif", "--threads", 1, "--self-ensemble", "--suffix", "_ens")
    assert result.exit_code == 0, result.output
    assert cli("denoise", tmp_path / "frame.tif", "--threads", 1).exit_code == 0
    ens, plain = tifffile.imread(tmp_path / "frame_ens.tif"), tifffile.imread(tmp_path / "frame_denoised.tif")
    assert read_provenance(tmp_path / "frame_ens.tif")["settings"]["self_ensemble"] is True
    assert "self_ensemble" not in read_provenance(tmp_path / "frame_denoised.tif")["settings"]
    api = Denoiser(device="cpu", options=DenoiserOptions(threads=1, self_ensemble=True)).run(x)
    np.testing.assert_allclose(ens, api, rtol=1e-6, atol=1e-3)
    assert np.abs(ens - plain).max() > 0.1


def test_flatten_spots_leaves_the_network_s_output(tmp_path: Path) -> None:
    """On a frame of point-like spots, the default puts back what the image model removed from them
    and its warning says so; --flatten-spots gives what ``DenoiserOptions(keep_spots=False)`` gives,
    says so in the provenance and in the warning's own words, and is refused with --kind spectral."""
    from scipy.ndimage import gaussian_filter

    from fluorodn import Denoiser, DenoiserOptions

    rng = np.random.default_rng(9)
    points = np.zeros((128, 128))
    ii, jj = 8 + 28 * (np.arange(16) // 4), 8 + 28 * (np.arange(16) % 4)
    points[ii, jj] = 1.0
    clean = 400.0 + 160.0 * 2 * np.pi * 1.3**2 * gaussian_filter(points, 1.3)  # peaks 8x the noise
    x = rng.poisson(clean).astype(np.float32)
    tifffile.imwrite(tmp_path / "spots.tif", x)
    kept = cli("denoise", tmp_path / "spots.tif", "--threads", 1)
    assert kept.exit_code == 0 and "was put back" in kept.stderr and "--flatten-spots leaves" in kept.stderr
    flat = cli("denoise", tmp_path / "spots.tif", "--threads", 1, "--flatten-spots", "--suffix", "_flat")
    assert flat.exit_code == 0 and "measure spots on the input" in flat.stderr
    out, plain = tifffile.imread(tmp_path / "spots_flat.tif"), tifffile.imread(tmp_path / "spots_denoised.tif")
    assert read_provenance(tmp_path / "spots_flat.tif")["settings"]["keep_spots"] is False
    assert "keep_spots" not in read_provenance(tmp_path / "spots_denoised.tif")["settings"]
    api = Denoiser(device="cpu", options=DenoiserOptions(threads=1, keep_spots=False)).run(x)
    np.testing.assert_allclose(out, api, rtol=1e-6, atol=1e-3)
    assert np.mean(plain[ii, jj]) - 400.0 > 0.8 * 160.0 > 2 * (np.mean(out[ii, jj]) - 400.0)
    refused = cli("denoise", tmp_path / "spots.tif", "--kind", "spectral", "--flatten-spots", "--suffix", "_x")
    assert refused.exit_code != 0 and "--flatten-spots applies to the image path only" in refused.output
    assert "Traceback" not in refused.output and not (tmp_path / "spots_x.tif").exists()


def test_keep_fixed_pattern_changes_only_each_bins_time_mean(tmp_path: Path) -> None:
    """The default model on a spectral recording: --keep-fixed-pattern keeps each bin's time
    mean; the rest of the output is the same."""
    rng = np.random.default_rng(5)
    t, w = 1500, 80
    wl = np.linspace(0, 1, w)
    spectrum = 3000.0 * np.exp(-0.5 * ((wl - 0.4) / 0.2) ** 2) + 300.0
    course = np.convolve(rng.standard_normal(t + 50), np.ones(50) / 7, "same")[25:-25]
    x = spectrum[None, :] * (1.0 + 0.02 * course[:, None]) + 20.0 * rng.standard_normal(w)  # fixed pattern
    x += np.sqrt(spectrum)[None, :] * rng.standard_normal((t, w))
    tifffile.imwrite(tmp_path / "rec.tif", x.astype(np.float32))
    assert cli("denoise", tmp_path / "rec.tif", "--threads", 1).exit_code == 0
    result = cli("denoise", tmp_path / "rec.tif", "--threads", 1, "--keep-fixed-pattern", "--suffix", "_kept")
    assert result.exit_code == 0, result.output
    removed, kept = tifffile.imread(tmp_path / "rec_denoised.tif"), tifffile.imread(tmp_path / "rec_kept.tif")
    assert read_provenance(tmp_path / "rec_denoised.tif")["settings"]["keep_fixed_pattern"] is False
    assert read_provenance(tmp_path / "rec_kept.tif")["settings"]["keep_fixed_pattern"] is True
    diff = (kept - removed).astype(np.float64)
    np.testing.assert_allclose(diff, np.broadcast_to(diff.mean(axis=0), diff.shape), atol=0.01)
    assert np.std(diff.mean(axis=0)) > 10.0  # most of the 20-count pattern


def test_errors_name_the_precision_and_device_as_options(tmp_path: Path) -> None:
    """A model without the asked precision is refused naming the command's options, not the
    library's keyword values."""
    np.save(tmp_path / "f.npy", np.random.default_rng(0).normal(100.0, 5.0, (64, 64)).astype(np.float32))
    result = cli("denoise", tmp_path / "f.npy", "--model", "high", "--precision", "int8")
    assert result.exit_code != 0 and "--precision fp32 or auto" in result.stderr, result.output
    assert "precision '" not in result.stderr


def test_a_stack_with_its_channels_last_is_named(tmp_path: Path, helpers: Any) -> None:
    """A .npy of two recordings stacked along the last axis (64, 32, 2) is read as 64 frames of
    32 x 2: one warning line says so and how to pass it; stacked first, none; exit 0 both ways."""
    x = helpers.spectra(64, 32, dtype=np.float32) * 20.0 + 1000.0
    np.save(tmp_path / "last.npy", np.stack([x, 0.5 * x], axis=-1))
    np.save(tmp_path / "first.npy", np.stack([x, 0.5 * x]))
    for name, expected in (("last.npy", 1), ("first.npy", 0)):
        result = cli("denoise", tmp_path / name, "--threads", 1)
        assert result.exit_code == 0, result.output
        lines = [ln for ln in result.stderr.splitlines() if "channels last" in ln]
        assert len(lines) == expected, result.stderr
        assert all("pass it as (channel, time, wavelength)" in ln for ln in lines)


def test_samples_taken_with_the_light_off_are_named_once(tmp_path: Path, helpers: Any) -> None:
    """A recording whose light was off for its first samples: the default model returns them as
    recorded and says so on one line for the file, in the JSON report too; exit 0."""
    x = helpers.spectra(600, 152, dtype=np.float32) * 20.0 + 1000.0  # lit: the spectrum above the dark level
    x[:4] = 1000.0 + np.random.default_rng(3).normal(0.0, 5.0, (4, 152))  # the detector's level, no light
    tifffile.imwrite(tmp_path / "rec.tif", x)
    result = cli("denoise", tmp_path / "rec.tif", "--threads", 1, "--json")
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.stderr.splitlines() if "light off" in ln]
    assert line.startswith(
        f"fluorodn: warning: {tmp_path / 'rec.tif'}: 4 of 600 samples read as taken with the light off"
    )
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["status"] == "denoised" and any("4 of 600 samples" in w for w in entry["warnings"])
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "rec_denoised.tif")[:4], x[:4])


def test_an_image_model_on_a_spectral_recording_says_what_to_run(
    tiny_model: Path, tmp_path: Path, helpers: Any, monkeypatch: Any
):
    """--model with an image model on a file that looks spectral: one warning line naming the
    options that avoid it; the file is still denoised, and --kind image silences the warning."""
    import fluorodn.denoiser

    # the tiny model's random weights remove more than the noise, which the removal check says
    monkeypatch.setattr(fluorodn.denoiser, "removal_warning", lambda pages, outs, first=0, keep=False: None)
    monkeypatch.setattr(fluorodn.denoiser, "removal_check", lambda pages, outs, first=0, keep=False: (None, 0, None))
    tifffile.imwrite(tmp_path / "rec.tif", helpers.spectra(400, 152))
    result = denoise(tiny_model, tmp_path / "rec.tif")
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.stderr.splitlines() if "warning" in ln.lower()]
    assert line.startswith(f"fluorodn: warning: {tmp_path / 'rec.tif'}: model 'tiny' is an image model")
    assert "below the raw recording's" in line and line.endswith(
        "leave --model out, or pass --kind image if these are frames"
    )
    assert (tmp_path / "rec_denoised.tif").exists()
    declared = denoise(tiny_model, tmp_path / "rec.tif", "--kind", "image", "--overwrite")
    assert declared.exit_code == 0, declared.output
    assert "warning" not in declared.stderr.lower()


def test_provenance_names_the_model_that_ran(tmp_path: Path, helpers: Any) -> None:
    """The default model hands frames to the image model: a frame's output names that model, its
    sha256 and precision, and the model asked for; a spectral recording's names the spectral model."""
    frame = np.random.default_rng(3).normal(1000, 20, (64, 64)).astype(np.float32)
    tifffile.imwrite(tmp_path / "frame.tif", frame)
    tifffile.imwrite(tmp_path / "rec.tif", helpers.spectra(400, 152))
    result = cli("denoise", tmp_path / "frame.tif", tmp_path / "rec.tif", "--threads", 1)
    assert result.exit_code == 0, result.output
    planner = Denoiser(device="cpu")
    image = planner._image()
    prov = read_provenance(tmp_path / "frame_denoised.tif")
    assert (prov["model"], prov["model_sha256"], prov["planned_by"]) == (image.name, image.sha256, "spectral")
    assert prov["settings"]["precision"] == image.precision and prov["normalization"] == "median-mad-dt-v1"
    assert "keep_fixed_pattern" not in prov["settings"]
    prov = read_provenance(tmp_path / "rec_denoised.tif")
    assert (prov["model"], prov["model_sha256"]) == ("spectral", planner.sha256) and "planned_by" not in prov
    # the summary line and the JSON report name them too
    assert f"with models {image.name}, spectral on" in result.output.splitlines()[-1], result.output
    for name, model in (("frame.tif", image.name), ("rec.tif", "spectral")):
        result = cli("denoise", tmp_path / name, "--threads", 1, "--overwrite", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["files"][0]["model"] == model
        result = cli("denoise", tmp_path / name, "--threads", 1, "--overwrite")
        assert f"with model {model} on" in result.output.splitlines()[-1], result.output


def test_summary_counts_recordings_and_frames(tmp_path: Path) -> None:
    """The summary and --json say what each file's pages were denoised as: a spectral recording is
    one recording of values, not one frame; a stack's pages are frames."""
    _spectral_tif(tmp_path / "rec.tif", 7)
    np.save(tmp_path / "stack.npy", np.random.default_rng(0).normal(100, 5, (3, 40, 40)).astype(np.float32))
    result = cli("denoise", tmp_path / "rec.tif", "--threads", 1, "-o", tmp_path / "one")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("Denoised 1 file (1 recording, ")
    assert " M values) in " in result.stdout and "frame" not in result.stdout
    both = cli("denoise", tmp_path / "rec.tif", tmp_path / "stack.npy", "--threads", 1, "-o", tmp_path / "two")
    assert both.exit_code == 0, both.output
    assert both.stdout.splitlines()[-1].startswith("Denoised 2 files (1 recording, 3 frames, ")
    doc = json.loads(cli("denoise", tmp_path / "rec.tif", tmp_path / "stack.npy", "--threads", 1, "--json",
                         "-o", tmp_path / "three").stdout)  # fmt: skip
    paths = {Path(f["input"]).name: (f["path"], f["frames"]) for f in doc["files"]}
    assert paths == {"rec.tif": ("spectral", 1), "stack.npy": ("image", 3)}
