"""fluorodn denoise --report and fluorodn report: files written for TIFF, NPY, MAT and stacks,
refusals, and the report rendered in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import shutil
import subprocess
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
ROWS, COLS = 240, 32


def cli(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def denoise(model: Path, *args: Any) -> Any:
    return cli("denoise", *args, "--model", model, "--threads", 1, "--report")


def read_summary(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def check_report(html_path: Path, pages: int = 1) -> dict[str, Any]:
    assert html_path.is_file()
    text = html_path.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text and "<script" not in text
    summary = read_summary(html_path.with_suffix(".json"))
    assert len(summary["pages"]) == pages
    for page in summary["pages"]:
        assert len(page["noise_before"]) == len(page["noise_after"]) == COLS
    return summary


def test_denoise_report_for_tiff_npy_and_mat(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    x = helpers.spectra(ROWS, COLS, dtype=np.float32)
    tifffile.imwrite(tmp_path / "a.tif", x)
    np.save(tmp_path / "b.npy", x)
    scipy.io.savemat(tmp_path / "c.mat", {"raw": x, "dark": x[:10]})
    result = denoise(tiny_model, tmp_path / "a.tif", tmp_path / "b.npy", tmp_path / "c.mat", "--key", "raw")
    assert result.exit_code == 0, result.output
    for stem in ("a", "b", "c"):
        summary = check_report(tmp_path / f"{stem}_denoised_report.html")
        assert summary["shape"] == [1, ROWS, COLS]
    tif = read_summary(tmp_path / "a_denoised_report.json")
    assert tif["provenance"]["model_sha256"] and tif["provenance"]["fluorodn"]
    assert tif["provenance"]["settings"]["precision"]
    mat = read_summary(tmp_path / "c_denoised_report.json")
    assert mat["provenance"]["settings"]["key"] == "raw"


def test_denoise_report_for_a_stack(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    stack = np.stack([helpers.spectra(ROWS, COLS, seed=s, dtype=np.float32) for s in range(3)])
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    result = denoise(tiny_model, tmp_path / "stack.tif", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["files"][0]["report"].endswith("stack_denoised_report.html")
    check_report(tmp_path / "stack_denoised_report.html", pages=3)
    text = (tmp_path / "stack_denoised_report.html").read_text(encoding="utf-8")
    assert all(f"<h2>Page {k}</h2>" in text for k in range(3))


def test_report_command(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    x = helpers.spectra(ROWS, COLS, dtype=np.float32)
    np.save(tmp_path / "n.npy", x)
    np.save(tmp_path / "d.npy", x * 0.5 + 0.5 * np.median(x, axis=0))
    result = cli("report", tmp_path / "n.npy", tmp_path / "d.npy", "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    summary = check_report(tmp_path / "r.html")
    assert summary["pages"][0]["noise_ratio_median"] == pytest.approx(0.5, rel=0.2)
    again = cli("report", tmp_path / "n.npy", tmp_path / "d.npy", "-o", tmp_path / "r.html")
    assert again.exit_code == 1 and "exists" in again.stderr and "Traceback" not in again.output
    assert "--overwrite" in again.stderr and "--skip-existing" not in again.stderr  # options report has
    deeper = cli("report", tmp_path / "n.npy", tmp_path / "d.npy", "-o", tmp_path / "new" / "r.html")
    assert deeper.exit_code == 0, deeper.output  # its folder made, as denoise -o makes one
    assert (tmp_path / "new" / "r.html").is_file() and (tmp_path / "new" / "r.json").is_file()


def test_denoise_report_checks_its_own_files_before_denoising(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    """--report's files are outputs too: one that exists fails the input before anything is
    written (the denoised output included), as an existing output does; --overwrite replaces both."""
    tifffile.imwrite(tmp_path / "rec.tif", helpers.spectra(ROWS, COLS, dtype=np.float32))
    (tmp_path / "rec_denoised_report.html").write_text("an older report")
    result = denoise(tiny_model, tmp_path / "rec.tif")
    assert result.exit_code == 1 and "rec_denoised_report.html exists already" in result.stderr
    assert not (tmp_path / "rec_denoised.tif").exists()
    assert (tmp_path / "rec_denoised_report.html").read_text() == "an older report"
    again = denoise(tiny_model, tmp_path / "rec.tif", "--overwrite")
    assert again.exit_code == 0, again.output
    check_report(tmp_path / "rec_denoised_report.html")


def test_denoise_report_refuses_a_recording_too_short_to_report_on_before_denoising(
    tiny_model: Path, tmp_path: Path, helpers: Any
) -> None:
    """3 samples leave each bin no spread of time differences for its noise level: with --report
    the file fails before it is denoised, in one sentence naming its samples (not an internal
    shape); the other inputs of the run are denoised and reported on."""
    np.save(tmp_path / "short.npy", helpers.spectra(ROWS, COLS, dtype=np.float32)[:3])
    np.save(tmp_path / "long.npy", helpers.spectra(ROWS, COLS, dtype=np.float32))
    result = denoise(tiny_model, tmp_path / "short.npy")
    assert_user_error(result, "short.npy", "3 time samples of", "at least 4 samples")
    assert "(1, 3" not in result.stderr and not (tmp_path / "short_denoised.npy").exists()
    both = denoise(tiny_model, tmp_path / "short.npy", tmp_path / "long.npy")
    errors = [line for line in both.stderr.splitlines() if line.startswith("fluorodn: error:")]
    assert both.exit_code == 1 and len(errors) == 1 and "short.npy: --report: it has 3" in errors[0]
    assert not (tmp_path / "short_denoised.npy").exists()
    check_report(tmp_path / "long_denoised_report.html")


def test_denoise_report_reads_a_mat_stacks_pages_for_their_length(
    tiny_model: Path, tmp_path: Path, helpers: Any
) -> None:
    """A .mat stack is (rows, columns, pages) in MATLAB's order: --report checks its pages' samples,
    not the file's first two axes."""
    short = np.stack([helpers.spectra(ROWS, COLS, dtype=np.float32, seed=s)[:3] for s in range(2)], axis=-1)
    scipy.io.savemat(tmp_path / "short.mat", {"x": short})
    assert_user_error(denoise(tiny_model, tmp_path / "short.mat"), "short.mat: --report: it has 3 time samples of")
    assert not (tmp_path / "short_denoised.mat").exists()
    narrow = np.stack([helpers.spectra(ROWS, COLS, dtype=np.float32, seed=s)[:, :3] for s in range(4)], axis=-1)
    scipy.io.savemat(tmp_path / "narrow.mat", {"x": narrow})
    result = denoise(tiny_model, tmp_path / "narrow.mat")
    assert "--report: it has" not in result.stderr and (tmp_path / "narrow_denoised.mat").exists()


def test_report_command_refusals(tmp_path: Path, helpers: Any) -> None:
    x = helpers.spectra(ROWS, COLS, dtype=np.float32)
    np.save(tmp_path / "n.npy", x)
    np.save(tmp_path / "d.npy", x[:, :-1])
    result = cli("report", tmp_path / "n.npy", tmp_path / "d.npy")
    assert result.exit_code == 1 and "matching" in result.stderr and "Traceback" not in result.output
    result = cli("report", tmp_path / "n.npy", tmp_path / "n.npy", "-o", tmp_path / "r.pdf")
    assert result.exit_code == 1 and ".html" in result.stderr
    result = cli("report", tmp_path / "n.npy", tmp_path / "n.npy", "--sensor", "example")
    assert result.exit_code == 1 and "give --wavelengths FIRST:LAST" in result.stderr
    assert not list(tmp_path.glob("*report*")) and not list(tmp_path.glob("r.*"))


def screenshot(html_path: Path, png: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the browser check needs it")
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={png}",
         "--window-size=1200,2000", html_path.resolve().as_uri()],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip


def test_report_renders_in_chromium(tmp_path: Path, helpers: Any) -> None:
    from PIL import Image

    x = helpers.spectra(ROWS, COLS, dtype=np.float32)
    np.save(tmp_path / "n.npy", x)
    np.save(tmp_path / "d.npy", x * 0.3 + 0.7 * np.median(x, axis=0))
    assert cli("report", tmp_path / "n.npy", tmp_path / "d.npy").exit_code == 0
    png = tmp_path / "shot.png"
    screenshot(tmp_path / "d_report.html", png)
    img = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    assert img.shape[:2] == (2000, 1200)
    assert img.var() > 500  # not a blank page
    colours = np.unique((img // 32).reshape(-1, 3), axis=0)
    assert len(colours) > 20  # the figures' colour maps, not text alone


def test_the_two_file_report_cautions_about_events(tmp_path: Path) -> None:
    """Given two files, the report finds the cautions about events again on the noisy one, for the
    settings the denoised file records: small, frequent events caution about the default's output,
    in the report and on one warning line naming the option as a flag; not about the output of
    --spectral-only, which keeps their count, nor about an image model's; a file that records
    nothing (NPY) is read as the default's output; the main recordings' events caution nothing."""
    pytest.importorskip("fluorodn_train")
    from fluorodn.report import event_cautions
    from tests.support import small_events_draws

    small = small_events_draws(0.5, 0.5)(np.random.default_rng(0), 3000, 152, 0.8).noisy.astype(np.float32)
    main = small_events_draws(0.1, 1.4)(np.random.default_rng(0), 3000, 152, 0.8).noisy.astype(np.float32)
    tifffile.imwrite(tmp_path / "small.tif", small)
    for stem, flags in (("default", ()), ("only", ("--spectral-only",))):
        result = cli("denoise", tmp_path / "small.tif", "-o", tmp_path / f"{stem}.tif", "--threads", 1, *flags)
        assert result.exit_code == 0, result.output

    def report(noisy: Path, denoised: Path) -> tuple[list[str], dict[str, Any], str]:
        out = tmp_path / f"{denoised.stem}_r.html"
        result = cli("report", noisy, denoised, "-o", out)
        assert result.exit_code == 0, result.output
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("fluorodn: warning:")]
        return lines, read_summary(out.with_suffix(".json")), out.read_text(encoding="utf-8")

    lines, summary, text = report(tmp_path / "small.tif", tmp_path / "default.tif")
    assert len(lines) == 1 and lines[0].startswith(f"fluorodn: warning: {tmp_path / 'small.tif'}: ")
    (said,) = summary["warnings"]
    assert lines[0].endswith(said) and said.startswith("the recording's events rise often and in small steps")
    assert "--spectral-only" in said and "DenoiserOptions" not in said and "rise often" in text
    lines, summary, _ = report(tmp_path / "small.tif", tmp_path / "only.tif")
    assert lines == [] and summary["warnings"] == []
    np.save(tmp_path / "small.npy", small)
    np.save(tmp_path / "small_d.npy", tifffile.imread(tmp_path / "default.tif"))
    lines, summary, _ = report(tmp_path / "small.npy", tmp_path / "small_d.npy")
    assert len(lines) == 1 and summary["warnings"][0].startswith("the recording's events rise often")
    np.save(tmp_path / "main.npy", main)
    np.save(tmp_path / "main_d.npy", main)
    lines, summary, _ = report(tmp_path / "main.npy", tmp_path / "main_d.npy")
    assert lines == [] and summary["warnings"] == []
    image_model = {"model": "low", "settings": {"provider": "CPUExecutionProvider", "precision": "fp32"}}
    assert event_cautions(small, image_model) == []
    assert len(event_cautions(small, {"model": "spectral", "settings": {"strength": 0.6}})) == 1
    assert event_cautions(small, {"model": "spectral", "settings": {"strength": 0.0}}) == []
    gaps = small.copy()
    gaps[100:103, :] = np.nan  # read as a run with --nan fill read it: bridged over time
    assert event_cautions(gaps, None) == event_cautions(small, None) != []


def test_the_report_reads_a_recording_with_the_components_its_denoising_projected_onto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spectral run records how many components its model denoises; the two-file report's
    cautions read the noisy recording with that many (the default's where none is recorded)."""
    from fluorodn import spectral
    from fluorodn._tiff import read_provenance
    from fluorodn.report import event_cautions

    x = np.random.default_rng(0).normal(100.0, 1.0, (400, 40)).astype(np.float32)
    tifffile.imwrite(tmp_path / "x.tif", x)
    assert cli("denoise", tmp_path / "x.tif", "-o", tmp_path / "d.tif", "--threads", 1).exit_code == 0
    record = read_provenance(tmp_path / "d.tif")
    assert record is not None and record["components"] == spectral.COMPONENTS == 16
    asked: list[int] = []
    real = spectral.recording_cautions
    monkeypatch.setattr(spectral, "recording_cautions", lambda x, k, **kw: asked.append(k) or real(x, k, **kw))
    for given, read in ((8, 8), (None, 16), ("8", 16), (0, 16)):
        event_cautions(
            x, {"model": "m", "settings": {"strength": 1.0}, **({} if given is None else {"components": given})}
        )
        assert asked.pop() == read


def oceanview(path: Path, x: np.ndarray, wl: np.ndarray, period: float = 0.2) -> None:
    """An OceanView time-series export of (T, W) ``x``: header, wavelength row, timestamped rows."""
    lines = ["Data from rec.txt Node", "", "Date: Fri Jan 20 10:37:06 CET 2017", "Spectrometer: FLMS12345",
             f"Number of Pixels in Spectrum: {len(wl)}", ">>>>>Begin Spectral Data<<<<<",
             "\t" + "\t".join(f"{w:.2f}" for w in wl)]  # fmt: skip
    for i, row in enumerate(x):
        ms = round(i * period * 1000)
        stamp = f"10:{37 + ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
        lines.append(stamp + "\t" + "\t".join(f"{v:.2f}" for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def sensor_csv(path: Path, wl: np.ndarray) -> Path:
    np.savetxt(path, np.c_[wl, np.exp(-0.5 * ((wl - 515) / 20) ** 2)], delimiter=",", header="wavelength_nm,dff",
               comments="")  # fmt: skip
    return path


RECORD = {"fluorodn": "0.1.0", "model": "spectral", "model_sha256": "ab" * 32,
          "created": "2026-01-02T03:04:05+00:00", "components": 16,
          "settings": {"precision": "fp32", "strength": 1.0, "keep_fixed_pattern": False}}  # fmt: skip


def test_the_report_takes_the_axes_and_provenance_an_oceanview_export_states(tmp_path: Path, helpers: Any) -> None:
    """A text export's wavelengths, the rate its timestamps show and the ``Denoised by:`` line of
    its denoised version make the report's: --sensor needs no --wavelengths; a --rate or
    --wavelengths that contradicts the file is refused in one line."""
    from fluorodn import formats

    x = helpers.spectra(ROWS, COLS, dtype=np.float64)
    wl = np.linspace(477.0, 595.0, COLS)
    oceanview(tmp_path / "rec.txt", x, wl)
    formats.read(tmp_path / "rec.txt").write(tmp_path / "rec_d.txt", [x * 0.5 + 0.5 * np.median(x, axis=0)],
                                              provenance=RECORD)  # fmt: skip
    sensor = sensor_csv(tmp_path / "s.csv", np.linspace(470.0, 600.0, 60))
    result = cli("report", tmp_path / "rec.txt", tmp_path / "rec_d.txt", "--sensor", sensor)
    assert result.exit_code == 0, result.output
    summary = check_report(tmp_path / "rec_d_report.html")
    assert summary["rate"] == pytest.approx(5.0, rel=1e-6)
    np.testing.assert_allclose(summary["wavelengths"], np.round(wl, 2))
    assert summary["provenance"] == {"fluorodn": "0.1.0", "model": "spectral", "model_sha256": "ab" * 6,
                                     "created": "2026-01-02T03:04:05+00:00"}  # fmt: skip
    assert summary["pages"][0]["sensor_std_after"] < summary["pages"][0]["sensor_std_before"]
    for option, value, said in (("--rate", 4, "the rate given (4 Hz) differs from the 5 Hz"),
                                ("--wavelengths", "400:500", "the wavelengths given (400-500 nm) differ")):  # fmt: skip
        result = cli("report", tmp_path / "rec.txt", tmp_path / "rec_d.txt", option, value, "-o", tmp_path / "r.html")
        assert result.exit_code == 1 and said in result.stderr and len(result.stderr.splitlines()) == 1
        assert "Traceback" not in result.output and not (tmp_path / "r.html").exists()
    for name in ("rec", "rec_d"):  # the same exports as Windows "Unicode" (UTF-16) writes them
        text = (tmp_path / f"{name}.txt").read_text(encoding="utf-8")
        (tmp_path / f"{name}16.txt").write_bytes(text.encode("utf-16"))
    result = cli("report", tmp_path / "rec16.txt", tmp_path / "rec_d16.txt", "-o", tmp_path / "r16.html")
    assert result.exit_code == 0, result.output
    assert check_report(tmp_path / "r16.html")["provenance"]["model"] == "spectral"


def test_the_report_takes_the_axes_and_provenance_an_hdf5_file_states(tmp_path: Path, helpers: Any) -> None:
    """An HDF5 file's Wavelength and Time axes and the record its denoised version holds make the
    report's, also for a dataset named with --key (read under the same name in the output)."""
    import h5py

    from fluorodn import formats

    x = helpers.spectra(ROWS, COLS, dtype=np.float32)
    wl = np.linspace(480.0, 590.0, COLS)
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["acq/spectra"] = x
        f["acq/Time"] = np.arange(ROWS) * 0.25
        f["acq/Wavelength"] = wl
        f["other"] = x[:5]
    y = x * 0.5 + 0.5 * np.median(x, axis=0)
    formats.read(tmp_path / "s.h5", key="acq/spectra").write(tmp_path / "s_d.h5", [y], provenance=RECORD)
    result = cli("report", tmp_path / "s.h5", tmp_path / "s_d.h5", "--key", "acq/spectra", "--sensor",
                 sensor_csv(tmp_path / "s.csv", wl))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = check_report(tmp_path / "s_d_report.html")
    assert summary["rate"] == pytest.approx(4.0, rel=1e-9)
    np.testing.assert_allclose(summary["wavelengths"], wl)
    assert summary["provenance"] == RECORD and "sensor_std_before" in summary["pages"][0]


def test_a_text_record_reads_the_cautions_with_the_default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record naming its model but no settings (a text export's header line) is read as the
    default's output, and as an image model's (no cautions) where it names a shipped image model."""
    from fluorodn import registry, spectral
    from fluorodn.report import event_cautions

    monkeypatch.setattr(registry, "available_models", lambda: [{"name": "img"}, {"name": "spec", "kind": "spectral"}])
    asked: list[int] = []
    monkeypatch.setattr(spectral, "recording_cautions", lambda x, k, **kw: asked.append(k) or [])
    x = np.random.default_rng(0).normal(100.0, 1.0, (20, 40))
    event_cautions(x, {"model": "spec"}, recordings=True)
    assert asked == [spectral.COMPONENTS]
    event_cautions(x, {"model": "img"}, recordings=True)
    event_cautions(x, None)  # 20 samples of 40 bins do not look like a recording
    assert asked == [spectral.COMPONENTS]


def strict_json(path: Path) -> dict[str, Any]:
    def refuse(token: str) -> None:
        raise AssertionError(f"{path} holds {token}")

    return dict(json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse))


def test_the_report_is_made_over_the_finite_values(tmp_path: Path, helpers: Any) -> None:
    """Values that are not finite are left out of the numbers and figures, counted in the report,
    without numpy warnings; a bin without any is null in the per-bin lists; a recording without
    any finite value is refused in one line."""
    import warnings

    x = helpers.spectra(ROWS, COLS, dtype=np.float32)
    y = x * 0.5 + 0.5 * np.median(x, axis=0)
    x[10, 5], x[20, 7], y[30, 9] = np.nan, np.inf, np.nan
    x[:, 3] = np.nan
    np.save(tmp_path / "n.npy", x)
    np.save(tmp_path / "d.npy", y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli("report", tmp_path / "n.npy", tmp_path / "d.npy", "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)] and "Warning" not in result.stderr
    check_report(tmp_path / "r.html")
    summary = strict_json(tmp_path / "r.json")
    page = summary["pages"][0]
    assert summary["nonfinite"] == page["nonfinite"] == ROWS + 3
    assert page["noise_before"][3] is None and page["noise_after"][3] is None and page["removed_mean"][3] is None
    assert page["noise_ratio_median"] == pytest.approx(0.5, rel=0.2)
    assert page["removed_rms"] > 0 and np.isfinite(page["removed_rms"])
    assert f"{ROWS + 3} of {ROWS * COLS} values" in (tmp_path / "r.html").read_text(encoding="utf-8")
    np.save(tmp_path / "gone.npy", np.full((ROWS, COLS), np.nan, dtype=np.float32))
    result = cli("report", tmp_path / "gone.npy", tmp_path / "gone.npy")
    assert result.exit_code == 1 and "no value is finite" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not list(tmp_path.glob("gone_report*"))


def test_denoise_report_on_a_recording_with_nan(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    """``denoise --nan fill --report``: the report over the finite values, no NaN in its JSON."""
    x = helpers.spectra(ROWS, COLS, dtype=np.float32)
    x[10, 5], x[20, 7] = np.nan, np.inf
    np.save(tmp_path / "n.npy", x)
    result = denoise(tiny_model, tmp_path / "n.npy", "--nan", "fill")
    assert result.exit_code == 0, result.output
    assert "RuntimeWarning" not in result.stderr
    summary = strict_json(tmp_path / "n_denoised_report.json")
    assert summary["nonfinite"] == 2 and np.isfinite(summary["pages"][0]["noise_ratio_median"])


@pytest.mark.parametrize("rate", ["-2", "0", "nan"])
def test_the_report_refuses_a_rate_that_is_not_positive(tmp_path: Path, helpers: Any, rate: str) -> None:
    x = helpers.spectra(ROWS, COLS, dtype=np.float32)
    np.save(tmp_path / "n.npy", x)
    result = cli("report", tmp_path / "n.npy", tmp_path / "n.npy", "--rate", rate)
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = f"fluorodn: error: --rate must be a positive number of samples per second, not {rate}"
    assert result.stderr.strip() == said
    assert not list(tmp_path.glob("*report*"))


def test_a_file_reported_against_itself_is_nothing_removed(tmp_path: Path, helpers: Any) -> None:
    """The same file as noisy and denoised: the verdict says nothing was removed, in the HTML and
    the JSON, rather than passing it as noise, and a warning line says the file was given twice."""
    np.save(tmp_path / "n.npy", helpers.spectra(ROWS, COLS, dtype=np.float32))
    result = cli("report", tmp_path / "n.npy", tmp_path / "n.npy", "-o", tmp_path / "same.html")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "n.npy is given twice, as the recording and as its denoised version: the report says nothing" in said
    (page,) = check_report(tmp_path / "same.html")["pages"]
    assert page["verdict"] == "nothing removed" and page["removed_noise_units"] == 0.0
    text = (tmp_path / "same.html").read_text(encoding="utf-8")
    assert '<td class="none">nothing removed</td>' in text and "looks like noise</td>" not in text


def test_a_report_on_image_frames_speaks_of_frames_rows_and_columns(
    tiny_model: Path, tmp_path: Path, helpers: Any
) -> None:
    """``denoise --report`` on a stack of frames (pages that do not look like recordings) writes a
    report of frames, rows and columns; ``kind`` in the JSON says which."""
    frames = np.stack([helpers.spectra(48, COLS, seed=s, dtype=np.float32) for s in range(3)])
    tifffile.imwrite(tmp_path / "frames.tif", frames, photometric="minisblack")
    result = denoise(tiny_model, tmp_path / "frames.tif")
    assert result.exit_code == 0, result.output
    summary = check_report(tmp_path / "frames_denoised_report.html", pages=3)
    assert summary["kind"] == "image"
    text = (tmp_path / "frames_denoised_report.html").read_text(encoding="utf-8")
    assert "(frames x rows x columns)" in text and "<h2>Frame 2</h2>" in text
    own = text.split("<h2>Summary</h2>")[1]  # the run's warnings above it speak of the model
    assert "wavelength" not in own and "brightest bin" not in own
    tifffile.imwrite(tmp_path / "rec.tif", helpers.spectra(ROWS, COLS, dtype=np.float32))
    assert denoise(tiny_model, tmp_path / "rec.tif").exit_code == 0
    assert check_report(tmp_path / "rec_denoised_report.html")["kind"] == "recording"


def test_a_note_of_the_sensor_unmixing_is_told_once_a_page(tmp_path: Path, helpers: Any) -> None:
    """Two pages on a floor of counts, --sensor without --dark: the dark-level note is one line per
    page on stderr (its own floor, worded with --dark), not one per page and recording (noisy and
    denoised); --dark silences it."""
    pages = np.stack([helpers.spectra(ROWS, COLS, seed=s, dtype=np.float32) + 500.0 for s in (1, 2)])
    np.save(tmp_path / "n.npy", pages)
    np.save(tmp_path / "d.npy", pages * 0.999 + 0.5)
    sensor = sensor_csv(tmp_path / "s.csv", np.linspace(470.0, 600.0, 60))
    args = ("report", tmp_path / "n.npy", tmp_path / "d.npy", "--sensor", sensor, "--wavelengths", "480:590")
    result = cli(*args, "-o", tmp_path / "a.html")
    assert result.exit_code == 0, result.output
    told = [ln for ln in result.stderr.splitlines() if "no dark level was given" in ln]
    assert len(told) == 2 and all(ln.rstrip().endswith("--dark") for ln in told), result.stderr
    result = cli(*args, "--dark", "480", "-o", tmp_path / "b.html")
    assert result.exit_code == 0 and "dark level" not in result.stderr, result.output


def test_the_dark_level_a_tiff_states_serves_the_sensors_unmixing(tmp_path: Path) -> None:
    """The shipped example states its dark level: ``report --sensor`` unmixes with it (no note);
    a stated level of the wrong length is one sentence and no report."""
    assert cli("example", tmp_path / "ex.tif").exit_code == 0
    x = tifffile.imread(tmp_path / "ex.tif")[:600]
    desc = json.loads(tifffile.TiffFile(tmp_path / "ex.tif").pages[0].description)
    tifffile.imwrite(tmp_path / "n.tif", x, description=json.dumps(desc), metadata=None)
    tifffile.imwrite(tmp_path / "d.tif", x * 0.999, description=json.dumps(desc), metadata=None)
    result = cli("report", tmp_path / "n.tif", tmp_path / "d.tif", "--sensor", "example", "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert "dark level" not in result.stderr
    desc["fluorodn_example"]["dark_counts"] = [500.0, 510.0]
    tifffile.imwrite(tmp_path / "n.tif", x, description=json.dumps(desc), metadata=None)
    result = cli("report", tmp_path / "n.tif", tmp_path / "d.tif", "--sensor", "example", "-o", tmp_path / "b.html")
    assert_user_error(result, "n.tif states a dark level (dark_counts)", "--dark")
    assert not (tmp_path / "b.html").exists()
    desc["fluorodn_example"].pop("dark_counts")
    tifffile.imwrite(tmp_path / "n.tif", x, description=json.dumps(desc), metadata=None)
    result = cli("report", tmp_path / "n.tif", tmp_path / "d.tif", "--sensor", "example", "-o", tmp_path / "c.html")
    assert result.exit_code == 0 and "no dark level was given" in result.stderr, result.output


def test_a_recording_that_cannot_be_unmixed_is_named(tmp_path: Path, helpers: Any) -> None:
    """--sensor on a denoised recording whose bins are all constant: the error says it is the
    denoised recording that cannot be unmixed, not the noisy one."""
    noisy = helpers.spectra(ROWS, COLS, seed=3, dtype=np.float32) + 500.0
    np.save(tmp_path / "n.npy", noisy)
    np.save(tmp_path / "d.npy", np.full_like(noisy, 700.0))
    sensor = sensor_csv(tmp_path / "s.csv", np.linspace(470.0, 600.0, 60))
    result = cli("report", tmp_path / "n.npy", tmp_path / "d.npy", "--sensor", sensor, "--wavelengths", "480:590",
                 "-o", tmp_path / "r.html")  # fmt: skip
    assert_user_error(result, "the denoised recording: ", "bins hold one value")
    assert not (tmp_path / "r.html").exists()
