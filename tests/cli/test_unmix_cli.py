"""fluorodn unmix on real files: the example end to end, NPY/TIFF/MAT inputs, outputs, refusals."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from fluorodn.cli import app
from fluorodn.unmixing import COLUMNS
from tests.formats import conftest as acquisition
from tests.support import assert_user_error

runner = CliRunner()
spectra = pytest.importorskip("fluorodn_train.spectra")
synth = pytest.importorskip("fluorodn_train.synth")


def cli(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def read_table(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    return header, np.genfromtxt(path, delimiter=",", skip_header=1)


@pytest.fixture(scope="module")
def rec() -> tuple[np.ndarray, Any]:
    """A short noisy generator recording (600 samples x 152 bins, counts) and its truth."""
    from fluorodn_train import noise

    rng = np.random.default_rng(11)
    truth = synth.clean_recording(rng, 600, cfg=synth.SignalConfig(intensity=(1e4, 1e4)))
    noisy = truth.clean + noise.parametric_noise(rng, truth.photons, 0.3)
    return noisy.astype(np.float32), truth


@pytest.fixture
def files(tmp_path: Path, rec: tuple[np.ndarray, Any]) -> SimpleFiles:
    x, truth = rec
    np.save(tmp_path / "rec.npy", x)
    lines = ["wavelength_nm,dff", *(f"{w:.6f},{s:.8g}" for w, s in zip(truth.wl, truth.response, strict=True))]
    (tmp_path / "sensor.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "wl.csv").write_text("\n".join(f"{w:.6f}" for w in truth.wl) + "\n", encoding="utf-8")
    return SimpleFiles(tmp_path, truth)


class SimpleFiles:
    def __init__(self, folder: Path, truth: Any) -> None:
        self.folder, self.truth = folder, truth
        self.npy, self.sensor, self.wl = folder / "rec.npy", folder / "sensor.csv", folder / "wl.csv"
        self.range = f"{float(truth.wl[0])!r}:{float(truth.wl[-1])!r}"


def test_example_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("example")
    assert result.exit_code == 0, result.output
    assert "fluorodn unmix example.tif --sensor example" in result.stdout
    before = (tmp_path / "example.tif").read_bytes()
    result = cli("unmix", "example.tif", "--sensor", "example", "--no-denoise")
    assert result.exit_code == 0, result.output
    assert "Unmixed example.tif -> example_unmixed.csv (3000 samples, not denoised, linear fit" in result.stdout
    assert "the dark level the file states" in result.stdout and "dark level" not in result.stderr
    header, table = read_table(tmp_path / "example_unmixed.csv")
    assert header == list(COLUMNS) and table.shape == (3000, len(COLUMNS))
    np.testing.assert_allclose(table[:, 1], np.arange(3000) / 5.0)  # rate and wavelengths from the TIFF
    assert (tmp_path / "example.tif").read_bytes() == before
    data = pytest.importorskip("fluorodn_train.data")
    rng = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(data.TEST_STREAM,)))
    truth = data.make_instance(rng, 3000, 152, 0.5).truth
    assert np.corrcoef(table[:, 2], truth.a)[0, 1] > 0.9
    # the example's stated dark level: the trace's scale is the truth's (0.67 with no dark level)
    assert np.polyfit(truth.a, table[:, 2], 1)[0] == pytest.approx(1.0, abs=0.05)


def test_an_output_of_fluorodn_is_said_to_be_denoised_already(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fluorodn's own output given again: denoise and unmix (which denoises by default) say that
    the file was denoised already and what to do instead; the new output keeps the earlier run's
    record; unmixing it as it is says nothing of it, nor does the raw recording."""
    from fluorodn._tiff import read_provenance

    monkeypatch.chdir(tmp_path)
    assert cli("example").exit_code == 0 and cli("denoise", "example.tif", "--threads", 1).exit_code == 0
    said = "example_denoised.tif: the file was denoised by fluorodn already (model spectral, "
    result = cli("denoise", "example_denoised.tif", "-o", "again.tif", "--threads", 1)
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.stderr.splitlines() if said in ln]
    assert "denoising it again removes more than noise; denoise the raw recording instead" in line
    record = read_provenance(tmp_path / "again.tif")
    assert record is not None and record["source"] == "example_denoised.tif"
    assert record["source_provenance"]["source"] == "example.tif"
    result = cli("unmix", "example_denoised.tif", "--sensor", "example", "-o", "u.csv")
    assert result.exit_code == 0, result.output
    assert said in result.stderr and "unmix it as it is with --no-denoise" in result.stderr
    for args in (("example_denoised.tif", "--no-denoise"), ("example.tif",)):
        result = cli("unmix", *args, "--sensor", "example", "-o", "v.csv", "--overwrite")
        assert result.exit_code == 0 and "denoised by fluorodn already" not in result.output, result.output
    # unmixed as it is, the file's own denoising goes on into the output's record and the summary
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    result = cli("unmix", "example_denoised.tif", "--no-denoise", "--sensor", "example", "-o", "v.parquet")
    assert "not denoised again: the file was denoised by fluorodn with spectral" in result.stdout, result.output
    kept = json.loads(pq.read_schema(tmp_path / "v.parquet").metadata[b"fluorodn"])
    assert kept["denoised_with"] is None and kept["input_denoising"]["model"] == "spectral"
    assert kept["input_denoising"]["source"] == "example.tif"


def test_a_dark_level_the_tiff_states_is_used_unless_one_is_given(files: SimpleFiles) -> None:
    """``dark_counts`` in a TIFF's description is the dark level: the same table as --dark with that
    level and no note; --dark given wins; a stated level of the wrong length is one sentence."""
    dark = float(np.median(files.truth.clean - files.truth.photons))
    x = np.load(files.npy)
    common = ["-s", files.sensor, "--wavelengths", files.range, "--rate", 5, "--no-denoise"]
    tifffile.imwrite(files.folder / "st.tif", x, description=json.dumps({"rig": {"dark_counts": dark}}), metadata=None)
    result = cli("unmix", files.folder / "st.tif", *common)
    assert result.exit_code == 0, result.output
    assert "dark level" not in result.stderr and "the dark level the file states" in result.stdout
    assert cli("unmix", files.npy, *common, "--dark", dark, "-o", files.folder / "given.csv").exit_code == 0
    _, stated = read_table(files.folder / "st_unmixed.csv")
    _, given = read_table(files.folder / "given.csv")
    np.testing.assert_allclose(stated, given, rtol=1e-6, atol=1e-9)
    result = cli("unmix", files.folder / "st.tif", *common, "--dark", 0, "-o", files.folder / "zero.csv")
    assert result.exit_code == 0 and "the dark level the file states" not in result.stdout, result.output
    _, zero = read_table(files.folder / "zero.csv")
    assert np.polyfit(files.truth.a, zero[:, 2], 1)[0] < 0.9 * np.polyfit(files.truth.a, given[:, 2], 1)[0]
    tifffile.imwrite(files.folder / "bad.tif", x, description=json.dumps({"dark_counts": [1.0, 2.0]}), metadata=None)
    result = cli("unmix", files.folder / "bad.tif", *common)
    assert_user_error(result, "bad.tif states a dark level (dark_counts)", "152 (one per bin)", "--dark")
    assert not (files.folder / "bad_unmixed.csv").exists()


def test_npy_with_range_and_rate(files: SimpleFiles) -> None:
    result = cli("unmix", files.npy, "--sensor", files.sensor, "--wavelengths", files.range, "--rate", 5,
                 "--no-denoise")  # fmt: skip
    assert result.exit_code == 0, result.output
    header, table = read_table(files.folder / "rec_unmixed.csv")
    assert header == list(COLUMNS) and table.shape == (600, 8)
    np.testing.assert_array_equal(table[:, 0], np.arange(600))
    np.testing.assert_allclose(table[:, 1], np.arange(600) / 5.0)
    assert "samples over" not in result.stderr  # times from --rate: no timestamps to describe
    assert np.corrcoef(table[:, 2], files.truth.a)[0, 1] > 0.9
    assert np.all(table[:, 6] > 0) and np.all(table[:, 7] > 0)


def test_wavelength_file_dark_refine_and_empty_time(files: SimpleFiles) -> None:
    dark = np.median(files.truth.clean - files.truth.photons, axis=0)
    (files.folder / "dark.csv").write_text("\n".join(f"{d:.6f}" for d in dark) + "\n", encoding="utf-8")
    out = files.folder / "out.csv"
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.wl, "--no-denoise", "--refine",
                 "--dark", files.folder / "dark.csv", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "refined fit" in result.stdout and "time_s is empty" in result.stderr
    _, table = read_table(out)
    assert np.isnan(table[:, 1]).all()
    assert np.corrcoef(table[:, 2], files.truth.a)[0, 1] > 0.95
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.wl, "--no-denoise", "--dark", "250",
                 "-o", files.folder / "scalar.csv")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_denoise_first_with_a_model(files: SimpleFiles, tiny_model: Path) -> None:
    tif = files.folder / "rec.tif"
    tifffile.imwrite(tif, np.load(files.npy))
    result = cli("unmix", tif, "--sensor", files.sensor, "--wavelengths", files.range, "--model", tiny_model)
    assert result.exit_code == 0, result.output
    assert "denoised with tiny" in result.stdout
    header, table = read_table(files.folder / "rec_unmixed.csv")
    assert header == list(COLUMNS) and table.shape == (600, 8) and np.isfinite(table[:, 2:]).all()


def test_denoise_with_the_default_model(files: SimpleFiles) -> None:
    from fluorodn import Denoiser

    result = cli("unmix", files.npy, "--sensor", files.sensor, "--wavelengths", files.range)
    assert result.exit_code == 0, result.output
    assert f"denoised with {Denoiser().name}" in result.stdout
    _, table = read_table(files.folder / "rec_unmixed.csv")
    assert np.corrcoef(table[:, 2], files.truth.a)[0, 1] > 0.9


def test_denoise_at_a_lower_strength(files: SimpleFiles) -> None:
    """--strength runs the default model at that strength, as ``unmix`` with such a Denoiser
    does, names it in the summary, and gives a sensor trace between the full denoising's and
    the raw recording's."""
    from fluorodn import Denoiser, DenoiserOptions, unmix

    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--strength", 0.5)
    assert result.exit_code == 0, result.output
    assert "denoised with spectral (strength 0.5)" in result.stdout
    half = read_table(files.folder / "rec_unmixed.csv")[1][:, 2]
    x = np.load(files.npy)
    wl, resp = files.truth.wl, (files.truth.wl, files.truth.response)
    api = unmix(x, wl, resp, denoise=Denoiser(options=DenoiserOptions(strength=0.5)))
    assert api.denoised_with == "spectral (strength 0.5)"
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--strength", 0.5,
                 "--round-onsets", "-o", files.folder / "rounded.csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "denoised with spectral (strength 0.5, onsets rounded)" in result.stdout
    rounded = unmix(x, wl, resp, denoise=Denoiser(options=DenoiserOptions(strength=0.5, keep_onsets=False)))
    assert rounded.denoised_with == "spectral (strength 0.5, onsets rounded)"
    on_cli = read_table(files.folder / "rounded.csv")[1][:, 2]
    np.testing.assert_allclose(on_cli, rounded.sensor, rtol=1e-6, atol=1e-6 * np.abs(rounded.sensor).max())
    np.testing.assert_allclose(half, api.sensor, rtol=1e-6, atol=1e-6 * np.abs(api.sensor).max())
    full, raw = unmix(x, wl, resp).sensor, unmix(x, wl, resp, denoise=False).sensor

    def step(a: np.ndarray) -> float:  # sample-to-sample variation: the noise left over time
        return float(np.std(np.diff(a)))

    assert step(full) < step(half) < step(raw)


def test_spectral_only_unmixes_the_projection_alone(files: SimpleFiles) -> None:
    """--spectral-only denoises as ``DenoiserOptions(spectral_only=True)`` does (the projection, nothing
    over time), says so in the summary, gives a sensor trace unlike the default denoising's and the raw
    recording's, and refuses the options that filter over time."""
    from fluorodn import Denoiser, DenoiserOptions, unmix

    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--spectral-only")
    assert result.exit_code == 0, result.output
    assert "denoised with spectral (spectral only)" in result.stdout
    on_cli = read_table(files.folder / "rec_unmixed.csv")[1][:, 2]
    x = np.load(files.npy)
    wl, resp = files.truth.wl, (files.truth.wl, files.truth.response)
    api = unmix(x, wl, resp, denoise=Denoiser(options=DenoiserOptions(spectral_only=True)))
    assert api.denoised_with == "spectral (spectral only)"
    np.testing.assert_allclose(on_cli, api.sensor, rtol=1e-6, atol=1e-6 * np.abs(api.sensor).max())
    full, raw = unmix(x, wl, resp).sensor, unmix(x, wl, resp, denoise=False).sensor
    assert np.abs(api.sensor - full).max() > 1e-3 * np.abs(full).max()  # not the default's denoising
    assert np.abs(api.sensor - raw).max() > 1e-3 * np.abs(raw).max()  # nor none
    for extra in (["--strength", 0.5], ["--round-onsets"]):
        result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--spectral-only", *extra,
                     "-o", files.folder / "refused.csv")  # fmt: skip
        assert_user_error(result, "--spectral-only", "do not apply")
        assert not (files.folder / "refused.csv").exists()


def test_samples_taken_with_the_light_off_are_left_empty(files: SimpleFiles) -> None:
    """A recording whose first 25 samples were taken with the light off: one line names them, the
    table leaves their traces empty (their times kept), GuPPy's files leave them out, and the lit
    samples are unmixed as the lit part alone is."""
    x = np.load(files.npy)
    dark = np.median(files.truth.clean - files.truth.photons, axis=0)
    off = x.copy()
    off[:25] = dark + np.random.default_rng(3).normal(0.0, 3.0, (25, x.shape[1]))
    np.save(files.folder / "off.npy", off)
    np.save(files.folder / "lit.npy", off[25:])
    common = ["--sensor", files.sensor, "--wavelengths", files.range, "--rate", 5, "--no-denoise"]
    result = cli("unmix", files.folder / "off.npy", *common, "--guppy", files.folder / "guppy")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "light off" in line]
    assert len(lines) == 1 and "off.npy: 25 of 600 samples read as taken with the light off" in lines[0]
    assert "at sample 0-24," in lines[0]
    header, table = read_table(files.folder / "off_unmixed.csv")
    assert header == list(COLUMNS) and table.shape == (600, 8)
    np.testing.assert_allclose(table[:, 1], np.arange(600) / 5.0)
    assert np.isnan(table[:25, 2:]).all() and np.isfinite(table[25:, 2:]).all()
    assert cli("unmix", files.folder / "lit.npy", *common).exit_code == 0
    _, alone = read_table(files.folder / "lit_unmixed.csv")
    np.testing.assert_allclose(table[25:, 2:], alone[:, 2:], rtol=1e-8, atol=1e-12)  # as written: 9 digits
    guppy = np.genfromtxt(files.folder / "guppy" / "sensor.csv", delimiter=",", skip_header=1)
    assert guppy.shape == (575, 3) and guppy[0, 2] == 5.0
    np.testing.assert_allclose(guppy[:, :2], table[25:, 1:3], rtol=1e-8)


def test_a_recording_without_dark_samples_names_none(files: SimpleFiles) -> None:
    result = cli("unmix", files.npy, "--sensor", files.sensor, "--wavelengths", files.range, "--no-denoise")
    assert result.exit_code == 0, result.output
    assert "light off" not in result.stderr
    _, table = read_table(files.folder / "rec_unmixed.csv")
    assert np.isfinite(table[:, [0, *range(2, 8)]]).all()


def test_mat_input_with_key(files: SimpleFiles) -> None:
    from scipy.io import savemat

    mat = files.folder / "rec.mat"
    savemat(mat, {"spectra": np.load(files.npy), "other": np.ones((3, 3))})
    result = cli("unmix", mat, "--key", "spectra", "-s", files.sensor, "--wavelengths", files.range, "--no-denoise")
    assert result.exit_code == 0, result.output
    assert read_table(files.folder / "rec_unmixed.csv")[1].shape == (600, 8)


def test_parquet_output(files: SimpleFiles) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = files.folder / "rec.parquet"
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--no-denoise", "-o", out)
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).column_names == list(COLUMNS)


def test_parquet_without_pyarrow(files: SimpleFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    out = files.folder / "rec.parquet"
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--no-denoise", "-o", out)
    assert_user_error(result, "needs pyarrow, which is not installed")
    assert not out.exists()


# -- refusals: one sentence each, nothing written ------------------------------------------


def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".csv", ".parquet", ".tmp") or "unmixed" in p.name)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--wavelengths", "477:595", "--sensor", "SENSOR"], ["looks transposed"]),
        (["--wavelengths", "WL_SHORT", "--sensor", "SENSOR"], ["lists 151 wavelengths", "152 bins"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR_SHORT"], ["covers 480-560 nm but the recording"]),
        (["--wavelengths", "RANGE", "--sensor", "nothing"], ["neither a file nor a shipped spectrum"]),
        (["--sensor", "SENSOR"], ["does not store its wavelengths", "--wavelengths"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR", "-o", "OUT_TXT"], ["must end in .csv or .parquet"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR", "--rate", "-5"], ["positive number"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR", "--dark", "DARK_SHORT"], ["one number or 152"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR", "--dark", "nan"], ["a finite number of counts, not nan"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR", "--dark", "DARK_NAN"], ["2 of the 152 are not", "bin 3"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR", "--model", "low"], ["--no-denoise skips denoising"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR", "--strength", "0.5"], ["--strength", "--no-denoise"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR", "--round-onsets"], ["--round-onsets", "--no-denoise"]),
        (["--wavelengths", "RANGE", "--sensor", "SENSOR", "--spectral-only"], ["--spectral-only", "--no-denoise"]),
    ],
)
def test_refusals(files: SimpleFiles, args: list[str], fragments: list[str]) -> None:
    folder = files.folder
    transposed = "looks transposed" in fragments[0]
    if transposed:
        np.save(folder / "rec.npy", np.load(files.npy).T)
    (folder / "wl_short.csv").write_text("\n".join(str(w) for w in files.truth.wl[:151]), encoding="utf-8")
    (folder / "sensor_short.csv").write_text("wavelength_nm,dff\n480,-0.05\n560,0.01\n", encoding="utf-8")
    (folder / "dark_short.csv").write_text("1\n2\n3\n", encoding="utf-8")
    (folder / "dark_nan.csv").write_text("\n".join(["1"] * 3 + ["nan", "inf"] + ["1"] * 147), encoding="utf-8")
    names = {"SENSOR": files.sensor, "WL_SHORT": folder / "wl_short.csv", "RANGE": files.range,
             "SENSOR_SHORT": folder / "sensor_short.csv", "OUT_TXT": folder / "out.txt",
             "DARK_SHORT": folder / "dark_short.csv", "DARK_NAN": folder / "dark_nan.csv"}  # fmt: skip
    before = _outputs(folder)
    result = cli("unmix", files.npy, *[names.get(a, a) for a in args], "--no-denoise")
    assert_user_error(result, *fragments)
    assert _outputs(folder) == before


def test_refuses_an_existing_output_before_any_work(files: SimpleFiles) -> None:
    out = files.folder / "rec_unmixed.csv"
    out.write_text("keep", encoding="utf-8")
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--no-denoise")
    assert_user_error(result, "exists already", "--overwrite")
    assert out.read_text(encoding="utf-8") == "keep"
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--no-denoise", "--overwrite")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("sample,time_s,sensor")


def test_refuses_a_stack_and_a_missing_file(files: SimpleFiles) -> None:
    stack = files.folder / "stack.tif"
    tifffile.imwrite(stack, np.ones((3, 200, 152), np.uint16), photometric="minisblack")
    assert_user_error(cli("unmix", stack, "-s", files.sensor, "--wavelengths", files.range, "--no-denoise"),
                      "holds 3 pages", "one (time, wavelength) recording per file")  # fmt: skip
    for name in ("missing.npy", "missing.txt", "missing.h5"):  # named missing, not taken for another problem
        assert_user_error(cli("unmix", files.folder / name, "-s", files.sensor), f"input {files.folder / name} does "
                          "not exist")  # fmt: skip


def test_a_format_it_does_not_read_is_named_before_its_wavelengths(files: SimpleFiles) -> None:
    """A table unmix cannot read is told so first, not asked for the wavelengths it may well store."""
    table = files.folder / "rec.csv"
    table.write_text("477,500\n1,2\n3,4\n", encoding="utf-8")
    for extra in ([], ["--wavelengths", files.range]):
        assert_user_error(cli("unmix", table, "-s", files.sensor, *extra), "not .csv", "numpy.loadtxt")
    assert_user_error(cli("unmix", files.folder, "-s", files.sensor), "it is a folder")


def test_an_output_name_too_long_is_one_sentence(files: SimpleFiles) -> None:
    out = files.folder / ("u" * 300 + ".csv")
    assert_user_error(cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--no-denoise",
                          "-o", out), "bytes", "file name")  # fmt: skip


def test_outputs_go_into_folders_made_for_them(files: SimpleFiles) -> None:
    """-o in a folder that does not exist yet: made, as denoise -o makes its folder."""
    out = files.folder / "new" / "deeper" / "u.csv"
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--rate", 5, "--no-denoise",
                 "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_table(out)[1].shape == (600, 8)
    (files.folder / "a_file").write_bytes(b"")
    blocked = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--no-denoise",
                  "-o", files.folder / "a_file" / "u.csv")  # fmt: skip
    assert_user_error(blocked, "cannot create the output folder", "choose another folder with -o")


def test_wavelengths_and_rate_from_tiff_metadata(files: SimpleFiles) -> None:
    tif = files.folder / "meta.tif"
    desc = {"rig": {"wavelength_nm": [float(w) for w in files.truth.wl], "sampling_hz": 10.0}}
    tifffile.imwrite(tif, np.load(files.npy), description=json.dumps(desc), metadata=None)
    result = cli("unmix", tif, "-s", files.sensor, "--no-denoise")
    assert result.exit_code == 0, result.output
    _, table = read_table(files.folder / "meta_unmixed.csv")
    np.testing.assert_allclose(table[:, 1], np.arange(600) / 10.0)
    assert np.corrcoef(table[:, 2], files.truth.a)[0, 1] > 0.9
    # a --rate the file contradicts is refused before any output, as denoise refuses it; one within
    # the tolerance gives the file's
    wrong = cli("unmix", tif, "-s", files.sensor, "--no-denoise", "--rate", 7, "-o", files.folder / "w.csv")
    assert wrong.exit_code == 1 and "the rate given (7 Hz) differs from the 10 Hz the file states" in wrong.stderr
    assert not (files.folder / "w.csv").exists()
    near = cli("unmix", tif, "-s", files.sensor, "--no-denoise", "--rate", 10.01, "-o", files.folder / "n.csv")
    assert near.exit_code == 0, near.output
    np.testing.assert_allclose(read_table(files.folder / "n.csv")[1][:, 1], np.arange(600) / 10.0)


def test_wavelengths_given_that_contradict_the_tiffs_are_refused(files: SimpleFiles) -> None:
    # the same check as the report's: a wavelength in another bin is refused, one within half a bin
    # is taken; a file stating wavelengths that do not fit its bins is named, not the user
    wl = [float(w) for w in files.truth.wl]
    tif = files.folder / "meta.tif"
    tifffile.imwrite(tif, np.load(files.npy), description=json.dumps({"wavelength_nm": wl}), metadata=None)
    wrong = cli(
        "unmix", tif, "-s", files.sensor, "--no-denoise", "--wavelengths", "400:700", "-o", files.folder / "w.csv"
    )
    assert_user_error(wrong, f"the wavelengths given (400-700 nm) differ from those {tif} states")
    assert not (files.folder / "w.csv").exists()
    near = cli(
        "unmix", tif, "-s", files.sensor, "--no-denoise", "--wavelengths", files.wl, "-o", files.folder / "n.csv"
    )
    assert near.exit_code == 0, near.output
    bad = files.folder / "bad.tif"
    tifffile.imwrite(bad, np.load(files.npy), description=json.dumps({"wavelength_nm": wl[:90]}), metadata=None)
    told = cli("unmix", bad, "-s", files.sensor, "--no-denoise", "-o", files.folder / "b.csv")
    assert_user_error(told, f"{bad} states 90 wavelengths (wavelength_nm) that do not fit its 152 bins")
    given = cli(
        "unmix", bad, "-s", files.sensor, "--no-denoise", "--wavelengths", files.wl, "-o", files.folder / "b.csv"
    )
    assert given.exit_code == 0, given.output
    # a range stated as text, as --wavelengths takes it
    span = files.folder / "span.tif"
    text = json.dumps({"wavelength_nm": f"{wl[0]}:{wl[-1]}"})
    tifffile.imwrite(span, np.load(files.npy), description=text, metadata=None)
    assert cli("unmix", span, "-s", files.sensor, "--no-denoise", "-o", files.folder / "s.csv").exit_code == 0


# -- files that carry their own axes: spectrometer files and the TIFFs converted from them ---


def _export_with_a_gap(folder: Path) -> Path:
    """An OceanView export of 60 spectra x 152 bins at 5 Hz with 5 frames dropped before sample 30."""
    stamps = acquisition.stamps(60, "clock")
    stamps[30:] = acquisition.stamps(30, "clock", start=36000.0 + 0.2 * 35)
    values = np.round(acquisition.spectra(60, 152, seed=8), 2)
    return acquisition.write_export(folder / "rec.txt", values, times=stamps)


def _converted_tiff(folder: Path, **description: Any) -> Path:
    """A TIFF in the layout of ``to="tif"`` (time x wavelength, the axes in its description), of
    an export's 60 x 152 values, its description's entries replaced by ``description``."""
    meta: dict[str, Any] = {"fluorodn": {"fluorodn": "test"}, "wavelength_nm": np.linspace(477, 595, 152).tolist(),
                            "sampling_hz": 5.0, "time_s": (np.arange(60) * 0.2).tolist(), **description}  # fmt: skip
    tif = folder / "rec.tif"
    tifffile.imwrite(tif, acquisition.spectra(60, 152, seed=8).astype(np.float32), photometric="minisblack",
                     metadata=meta)  # fmt: skip
    return tif


def test_a_converted_tiff_gives_its_own_times_with_the_gaps(tmp_path: Path) -> None:
    """A TIFF converted from an export with dropped frames gives time_s the export's own times, gaps
    included, as unmixing the export itself does; GuPPy's files, whose events GuPPy places by
    counting rows, get a row for each dropped frame (interpolated, and named in a warning), so that
    the row GuPPy finds for an event after the gap is the row of its time."""
    from fluorodn import formats

    src = _export_with_a_gap(tmp_path)
    read = formats.read(src)
    tif = read.write_as("tif", tmp_path / "rec.tif", [read.channels[0].data])
    for path, name in ((src, "txt"), (tif, "tif")):
        result = cli("unmix", path, "-s", "example", "--no-denoise", "-o", tmp_path / f"{name}.csv",
                     "--guppy", tmp_path / f"guppy_{name}")  # fmt: skip
        assert result.exit_code == 0, result.output
        # the timestamps are described as denoise notes them: rate, jitter, the dropped frames
        assert f"fluorodn: {path}: 60 samples over " in result.stderr, result.stderr
        assert "at 5 Hz" in result.stderr and "5 dropped frames before sample 30)" in result.stderr
        assert "GuPPy places events by counting rows" in result.stderr
        assert "5 rows for the frames dropped before sample 30" in result.stderr
    from_txt, from_tif = (read_table(tmp_path / f"{name}.csv")[1][:, 1] for name in ("txt", "tif"))
    np.testing.assert_allclose(from_tif[28:32], [5.6, 5.8, 7.0, 7.2], atol=1e-9)
    np.testing.assert_allclose(from_tif, from_txt, atol=1e-9)
    guppy = np.genfromtxt(tmp_path / "guppy_tif" / "sensor.csv", delimiter=",", skip_header=1)
    np.testing.assert_allclose(guppy[:, 0], np.arange(65) * 0.2, atol=1e-9)
    for t in (3.0, 7.0, 11.8):  # GuPPy's row for an event at t: int(round((t - t0) * rate))
        assert guppy[round((t - guppy[0, 0]) * guppy[0, 2]), 0] == pytest.approx(t)
    kept = np.r_[0:30, 35:65]
    np.testing.assert_allclose(guppy[kept, 1], read_table(tmp_path / "tif.csv")[1][:, 2], rtol=1e-8)
    txt = np.genfromtxt(tmp_path / "guppy_txt" / "sensor.csv", delimiter=",", skip_header=1)
    np.testing.assert_allclose(txt[:, 0], guppy[:, 0], atol=1e-9)
    result = cli("unmix", tif, "-s", "example", "--no-denoise", "--rate", 4, "-o", tmp_path / "at4.csv")
    assert_user_error(result, "declared sampling rate 4 Hz", "5 Hz its timestamps show")


def test_a_converted_tiff_gives_its_times_to_nwb(tmp_path: Path) -> None:
    pytest.importorskip("pynwb")
    pytest.importorskip("ndx_fiber_photometry")
    from pynwb import NWBHDF5IO

    from fluorodn import formats

    read = formats.read(_export_with_a_gap(tmp_path))
    tif = read.write_as("tif", tmp_path / "rec.tif", [read.channels[0].data])
    result = cli("unmix", tif, "-s", "example", "--no-denoise", "-o", tmp_path / "rec.nwb")
    assert result.exit_code == 0, result.output
    with NWBHDF5IO(str(tmp_path / "rec.nwb"), "r") as io:
        stamps = io.read().processing["ophys"]["sensor"].timestamps[:]
    np.testing.assert_allclose(stamps[28:32], [5.6, 5.8, 7.0, 7.2], atol=1e-9)


@pytest.mark.parametrize(
    ("time_s", "fragment"),
    [
        ((np.arange(59) * 0.2).tolist(), "holds 59 times for 60 samples"),
        ([0.0, float("nan"), *(np.arange(2, 60) * 0.2).tolist()], "holds NaN or infinite values"),
        ([*(np.arange(10) * 0.2).tolist(), 1.0, *(np.arange(11, 60) * 0.2).tolist()], "does not increase at sample 10"),
        ("soon", "is not a list of numbers"),
    ],
)
def test_refuses_a_converted_tiff_whose_times_do_not_fit(tmp_path: Path, time_s: Any, fragment: str) -> None:
    tif = _converted_tiff(tmp_path, time_s=time_s)
    result = cli("unmix", tif, "-s", "example", "--no-denoise")
    assert_user_error(result, "time_s its description stores", fragment)
    assert not (tmp_path / "rec_unmixed.csv").exists()


def test_refuses_a_converted_tiff_of_interleaved_excitations(tmp_path: Path) -> None:
    tif = _converted_tiff(tmp_path, excitations=2)
    assert_user_error(
        cli("unmix", tif, "-s", "example", "--no-denoise"),
        "holds 2 interleaved excitations",
        "--channel K, from 0 to 1",
    )
    assert not (tmp_path / "rec_unmixed.csv").exists()


@pytest.mark.parametrize("kind", ["txt", "h5", "tif"])
def test_refuses_wavelengths_for_a_file_that_stores_them(tmp_path: Path, kind: str) -> None:
    """An export, an HDF5 file with a Wavelength axis and a TIFF converted from either take their
    bins' wavelengths from the file: --wavelengths is refused (nothing written), in Python too."""
    from fluorodn.formats.hdf5_axes import write_axes_file
    from fluorodn.unmixing import UnmixError, unmix_file

    values = acquisition.spectra(60, 152, seed=8)
    if kind == "txt":
        path = acquisition.write_export(tmp_path / "rec.txt", np.round(values, 2))
    elif kind == "h5":
        path = tmp_path / "rec.h5"
        write_axes_file(path, [values], np.linspace(477, 595, 152), np.arange(60) * 0.2, {})
    else:
        path = _converted_tiff(tmp_path)
    result = cli("unmix", path, "-s", "example", "--wavelengths", "480:590", "--no-denoise")
    assert_user_error(result, "stores its bins' wavelengths (477-595 nm)", "leave --wavelengths out")
    assert not (tmp_path / "rec_unmixed.csv").exists()
    with pytest.raises(UnmixError, match="leave wavelengths=None"):
        unmix_file(path, "example", "480:590", denoise=False)


def test_wavelengths_for_an_hdf5_file_without_a_wavelength_axis(tmp_path: Path) -> None:
    from fluorodn.formats.hdf5_axes import write_axes_file

    write_axes_file(tmp_path / "rec.h5", [acquisition.spectra(200, 152, seed=8)], None, np.arange(200) * 0.2, {})
    result = cli("unmix", tmp_path / "rec.h5", "-s", "example", "--wavelengths", "477:595", "--no-denoise")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(read_table(tmp_path / "rec_unmixed.csv")[1][:3, 1], [0.0, 0.2, 0.4], atol=1e-9)


def test_an_hdf5_file_of_two_channels_is_refused_naming_key(tmp_path: Path) -> None:
    """The refusal names the option that picks a channel (--key), and that option works."""
    from fluorodn.formats.hdf5_axes import write_axes_file

    path = tmp_path / "session.h5"
    channels = [acquisition.spectra(60, 152, seed=8), acquisition.spectra(60, 152, seed=9)]
    write_axes_file(path, channels, np.linspace(477, 595, 152), np.arange(60) * 0.2, {})
    result = cli("unmix", path, "-s", "example", "--no-denoise")
    assert_user_error(result, "holds 2 channels (0: Channel1, 1: Channel2)", "--key, one of Channel1, Channel2")
    assert "fluorodn.formats.load" not in result.stderr
    result = cli("unmix", path, "-s", "example", "--no-denoise", "--key", "Channel2")
    assert result.exit_code == 0, result.output
    assert read_table(tmp_path / "session_unmixed.csv")[1].shape == (60, len(COLUMNS))


def test_an_interleaved_export_is_unmixed_one_excitation_at_a_time_with_channel(tmp_path: Path) -> None:
    """An OceanView export whose rows alternate between two light sources: refused naming --channel,
    which picks one excitation (its rows and their times, as fluorodn.formats.load gives them),
    each written by default to a table of its own (il_channelK_unmixed.csv);
    --excitations declares their number; a channel that is not there, or --channel for a file that
    holds no channels, is one sentence."""
    import fluorodn
    from fluorodn import formats

    values = np.round(acquisition.spectra(401, 152, levels=(1000.0, 400.0)), 2)
    path = acquisition.write_export(tmp_path / "il.txt", values)
    result = cli("unmix", path, "-s", "example", "--no-denoise")
    assert_user_error(result, "holds 2 channels (0: excitation 1, 1: excitation 2)", "pick one with --channel K")
    result = cli("unmix", path, "-s", "example", "--no-denoise", "--channel", 1, "-o", tmp_path / "two.csv")
    assert result.exit_code == 0, result.output
    header, table = read_table(tmp_path / "two.csv")
    arr, wl, times = formats.load(path, channel=1)
    expected = fluorodn.unmix(arr, wl, "example", denoise=False)
    np.testing.assert_allclose(table[:, header.index("sensor")], expected.sensor, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(table[:, 1], times, atol=1e-6)  # on the file's clock: 0.2, 0.6, ...
    one = cli("unmix", path, "-s", "example", "--no-denoise", "--excitations", 1, "-o", tmp_path / "one.csv")
    assert one.exit_code == 0, one.output
    assert read_table(tmp_path / "one.csv")[1].shape[0] == 401
    assert_user_error(cli("unmix", path, "-s", "example", "--channel", 2), "--channel 2 is not one of the 2 channels")
    for k in (0, 1):  # each channel's table gets its own name by default
        assert cli("unmix", path, "-s", "example", "--no-denoise", "--channel", k).exit_code == 0
    assert [len(read_table(tmp_path / f"il_channel{k}_unmixed.csv")[1]) for k in (0, 1)] == [201, 200]
    np.save(tmp_path / "rec.npy", values)
    result = cli("unmix", tmp_path / "rec.npy", "-s", "example", "--wavelengths", "477:595", "--channel", 0)
    assert_user_error(result, "--channel 0: ", "holds one recording, neither pages nor interleaved excitations")
    result = cli("unmix", tmp_path / "rec.npy", "-s", "example", "--wavelengths", "477:595", "--excitations", 2)
    assert_user_error(result, "--excitations declares the interleaved excitations of a spectrometer file")
    # converted to TIFF (its description states the 2 excitations and every row's time): --channel
    # picks one excitation's rows there too, with the same times on the file's clock
    read = formats.read(path)
    tif = read.write_as("tif", tmp_path / "il.tif", [c.data for c in read.channels])
    for k in (0, 1):
        result = cli("unmix", tif, "-s", "example", "--no-denoise", "--channel", k, "-o", tmp_path / f"t{k}.csv")
        assert result.exit_code == 0, result.output
        got, want = read_table(tmp_path / f"t{k}.csv")[1], read_table(tmp_path / f"il_channel{k}_unmixed.csv")[1]
        np.testing.assert_array_equal(got[:, :2], want[:, :2])  # samples, times on the file's clock
        np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-4)  # the TIFF holds float32
    assert_user_error(cli("unmix", tif, "-s", "example", "--channel", 2), "--channel 2 is not one of the 2 interleaved")
    # a stack (an HDF5 file's time x excitation x wavelength, converted): --channel picks a page
    stack = tmp_path / "stack.tif"  # its wavelengths evenly spaced: the export's, rounded to 0.01 nm, differ a little
    meta = {"wavelength_nm": np.linspace(477, 595, 152).tolist(), "sampling_hz": 2.5}
    tifffile.imwrite(stack, np.stack([c.data for c in read.channels[:1]] * 2), photometric="minisblack", metadata=meta)
    assert_user_error(
        cli("unmix", stack, "-s", "example", "--no-denoise"), "holds 2 pages", "pick one with --channel K"
    )
    result = cli("unmix", stack, "-s", "example", "--no-denoise", "--channel", 1, "-o", tmp_path / "s1.csv")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(
        read_table(tmp_path / "s1.csv")[1][:, 2],
        read_table(tmp_path / "il_channel0_unmixed.csv")[1][:, 2],
        rtol=1e-2,
        atol=1e-4,
    )


def test_an_hdf5_time_axis_that_starts_late_is_named(tmp_path: Path) -> None:
    """An HDF5 Time axis on the acquisition's own clock (starting at 99.998 s): the output's times
    count from the first sample, and a note gives where that sample stands on the file's clock;
    a Time axis that starts at 0 gets no note."""
    from fluorodn.formats.hdf5_axes import write_axes_file
    from fluorodn.unmixing import unmix_file

    values = acquisition.spectra(60, 152, seed=8)
    for name, start in (("late", 99.998), ("zero", 0.0)):
        write_axes_file(tmp_path / f"{name}.h5", [values], np.linspace(477, 595, 152), start + np.arange(60) * 0.2, {})
        result = cli("unmix", tmp_path / f"{name}.h5", "-s", "example", "--no-denoise", "--guppy",
                     tmp_path / f"guppy_{name}")  # fmt: skip
        assert result.exit_code == 0, result.output
        np.testing.assert_allclose(read_table(tmp_path / f"{name}_unmixed.csv")[1][:3, 1], [0.0, 0.2, 0.4], atol=1e-9)
        noted = "its Time axis starts at 99.998 s" in result.stderr and "add 99.998 s to them" in result.stderr
        noted = noted and "(the GuPPy files' timestamps are on that clock)" in result.stderr
        assert noted == (start > 0), result.stderr
        # GuPPy takes CSV timestamps on the acquisition clock, events included
        guppy = np.genfromtxt(tmp_path / f"guppy_{name}" / "sensor_ff0.csv", delimiter=",", skip_header=1)
        np.testing.assert_allclose(guppy[:3, 0], start + np.array([0.0, 0.2, 0.4]), atol=1e-9)
    res, _ = unmix_file(tmp_path / "late.h5", "example", denoise=False, output=tmp_path / "api.csv")
    assert res.time_origin_s == pytest.approx(99.998, abs=1e-9)


def test_help_lists_unmix() -> None:
    assert "unmix" in cli("--help").stdout
    text = cli("unmix", "--help").stdout
    for option in ("--sensor", "--wavelengths", "--no-denoise", "--rate", "--refine", "--dark", "--output"):
        assert option in text


# -- GuPPy hand-off, checks before any work ----------------------------------------------------


def _written(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_the_guppy_folder_is_checked_before_any_work(files: SimpleFiles) -> None:
    """A --guppy path that is a file, GuPPy files that exist, no times to give them, or the table
    written into the GuPPy folder (which GuPPy would read as another format's recording): refused in
    one sentence before anything is read or written (no output table left behind, no errno, no
    option unmix does not have)."""
    folder = files.folder
    (folder / "notes.txt").write_text("keep", encoding="utf-8")
    (folder / "guppy").mkdir()
    (folder / "guppy" / "sensor.csv").write_text("keep", encoding="utf-8")
    common = ["-s", files.sensor, "--wavelengths", files.range, "--no-denoise", "-o", folder / "out.csv"]
    before = _written(folder)
    for extra, fragments in (
        (["--rate", 5, "--guppy", folder / "notes.txt"], ["notes.txt is a file; give a folder"]),
        (["--rate", 5, "--guppy", folder / "notes.txt" / "sub"], ["cannot make the GuPPy folder", "not a folder"]),
        (["--rate", 5, "--guppy", folder / "guppy"], ["guppy/sensor.csv exist", "pass --overwrite to replace them"]),
        (["--guppy", folder / "new"], ["GuPPy files need times", "give --rate HZ"]),
        (["--rate", 5, "--guppy", folder / "guppy", "-o", folder / "guppy" / "gain.csv", "--overwrite"],
         ["is one of the GuPPy files"]),
        (["--rate", 5, "--guppy", folder / "guppy", "-o", folder / "guppy" / "table.csv", "--overwrite"],
         ["into the GuPPy folder", "GuPPy would take it for a recording of another format", "elsewhere with -o"]),
    ):  # fmt: skip
        result = cli("unmix", files.npy, *common, *extra)
        assert_user_error(result, *fragments)
        assert "Errno" not in result.stderr and "--skip-existing" not in result.stderr, result.stderr
        assert _written(folder) == before
    assert (folder / "guppy" / "sensor.csv").read_text(encoding="utf-8") == "keep"
    result = cli("unmix", files.npy, *common, "--rate", 5, "--guppy", folder / "guppy", "--overwrite")
    assert result.exit_code == 0, result.output
    assert (folder / "guppy" / "sensor.csv").read_text(encoding="utf-8").startswith("timestamps,data,sampling_rate")


def test_guppys_signal_gives_guppys_dff_the_sensors_sign(files: SimpleFiles) -> None:
    """GuPPy computes dF/F = (signal - fitted control) / fitted control; with no isosbestic control it
    fits the control to the signal. sensor_ff0.csv (F/F0 = 1 + max|S| x sensor) gives that dF/F the
    sign and shape of the sensor's trace, the size of its largest dF/F: here with the control fitted
    as a line over time."""
    dark = np.median(files.truth.clean - files.truth.photons, axis=0)
    (files.folder / "dark.csv").write_text("\n".join(f"{d:.6f}" for d in dark) + "\n", encoding="utf-8")
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--rate", 5,
                 "--dark", files.folder / "dark.csv", "--guppy", files.folder / "guppy")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = np.genfromtxt(files.folder / "guppy" / "sensor_ff0.csv", delimiter=",", skip_header=1)
    sensor = np.genfromtxt(files.folder / "guppy" / "sensor.csv", delimiter=",", skip_header=1)
    scale = np.abs(files.truth.response).max()
    np.testing.assert_allclose(rows[:, 1], 1.0 + scale * sensor[:, 1], atol=1e-8)
    t, signal = rows[:, 0], rows[:, 1]
    assert signal.min() > 0
    control = np.polyval(np.polyfit(t, signal, 1), t)
    dff = (signal - control) / control * 100.0
    assert np.corrcoef(dff, files.truth.a)[0, 1] > 0.9


def test_a_stack_is_refused_before_its_wavelengths_are_asked_for(files: SimpleFiles) -> None:
    stack = files.folder / "stack.tif"
    tifffile.imwrite(stack, np.ones((3, 200, 152), np.uint16), photometric="minisblack")
    result = cli("unmix", stack, "-s", files.sensor, "--no-denoise")
    assert_user_error(result, "holds 3 pages", "one (time, wavelength) recording per file")
    assert "--wavelengths" not in result.stderr


def test_no_dark_level_on_a_floor_is_noted_once(files: SimpleFiles) -> None:
    """The recording sits on the generator's dark level: without --dark one note (not a warning)
    says the trace is scaled down and names --dark; with --dark there is none."""
    common = ["-s", files.sensor, "--wavelengths", files.range, "--rate", 5, "--no-denoise"]
    result = cli("unmix", files.npy, *common)
    assert result.exit_code == 0, result.output
    notes = [ln for ln in result.stderr.splitlines() if "no dark level was given" in ln]
    assert len(notes) == 1 and notes[0].startswith(f"fluorodn: note: {files.npy}: no dark level was given"), notes
    assert notes[0].endswith("give it with --dark") and "scales the sensor's trace" in notes[0]
    assert "warning" not in result.stderr
    dark = float(np.median(files.truth.clean - files.truth.photons))
    result = cli("unmix", files.npy, *common, "--dark", dark, "-o", files.folder / "dark.csv")
    assert result.exit_code == 0, result.output
    assert "no dark level" not in result.stderr


# -- inputs never replaced, outputs that cannot be written ----------------------------------------


def _digests(*paths: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.mark.parametrize(
    ("output", "what"),
    [
        (["-o", "SENSOR"], "the sensor spectrum"),
        (["-o", "LINK"], "the sensor spectrum"),
        (["-o", "HARD"], "the sensor spectrum"),
        (["-o", "WL"], "the wavelengths"),
        (["-o", "DARK"], "the dark level"),
        (["-o", "REC_LINK"], "the recording"),
        (["--guppy", "FOLDER", "-o", "OTHER"], "the sensor spectrum"),
    ],
)
def test_an_output_that_is_an_input_is_refused_overwrite_or_not(files: SimpleFiles, output: list[str],
                                                                 what: str) -> None:  # fmt: skip
    """An output (-o, or a GuPPy file) that is the sensor spectrum, the wavelengths or dark level CSV
    or the recording, under any spelling, is refused before any work, with --overwrite too, and
    the message does not advise --overwrite."""
    folder = files.folder
    dark = folder / "dark.csv"
    dark.write_text("\n".join(["100"] * len(files.truth.wl)) + "\n", encoding="utf-8")
    (folder / "link.csv").symlink_to(files.sensor.name)
    os.link(files.sensor, folder / "hard.csv")
    (folder / "rec_link.csv").symlink_to(files.npy.name)
    names = {"SENSOR": files.sensor, "LINK": folder / "link.csv", "HARD": folder / "hard.csv", "WL": files.wl,
             "DARK": dark, "REC_LINK": folder / "rec_link.csv", "FOLDER": folder,
             "OTHER": folder / "u.csv"}  # fmt: skip
    before = _digests(files.npy, files.sensor, files.wl, dark)
    listing = _written(folder)
    for extra in ([], ["--overwrite"]):
        result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.wl, "--dark", dark, "--rate", 5,
                     "--no-denoise", *[names.get(a, a) for a in output], *extra)  # fmt: skip
        assert_user_error(result, what, "this unmixing reads")
        assert "--overwrite" not in result.stderr, result.stderr
        assert _digests(files.npy, files.sensor, files.wl, dark) == before
        assert _written(folder) == listing


@pytest.mark.skipif(sys.platform == "win32", reason="limits a process's file size with RLIMIT_FSIZE")
def test_an_nwb_file_that_cannot_be_written_is_one_sentence(files: SimpleFiles) -> None:
    """Writing the NWB file fails part-way (here at a file size limit, as on a full disk): one
    sentence and exit 1, no h5py traceback nor crash, nothing left in the output folder."""
    pytest.importorskip("pynwb")
    pytest.importorskip("ndx_fiber_photometry")
    import signal
    import subprocess

    out = files.folder / "out"
    out.mkdir()

    def small_files() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), not the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PYTHONDONTWRITEBYTECODE": "1",
           "COLUMNS": "200"}  # fmt: skip
    cmd = [sys.executable, "-m", "fluorodn", "unmix", str(files.npy), "-s", str(files.sensor), "--wavelengths",
           files.range, "--rate", "5", "--no-denoise", "-o", str(out / "u.nwb")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, preexec_fn=small_files, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"fluorodn: error: {files.npy}: cannot write {out / 'u.nwb'} (File too large); choose a writable output "
        "folder with free space (-o)"
    ]
    assert list(out.iterdir()) == []


def test_an_nwb_file_on_a_full_disk_says_the_disk_is_full(files: SimpleFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pynwb")
    pytest.importorskip("ndx_fiber_photometry")
    import errno

    from fluorodn.formats import nwb

    def full(image: Any, dest: Path) -> None:
        with open(dest, "wb") as fh:
            fh.write(image.getbuffer()[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(nwb, "_write_image", full)
    out = files.folder / "out"
    result = cli("unmix", files.npy, "-s", files.sensor, "--wavelengths", files.range, "--rate", 5, "--no-denoise",
                 "-o", out / "u.nwb")  # fmt: skip
    assert_user_error(result, f"cannot write {out / 'u.nwb'} (the disk is full)", "free space (-o)")
    assert list(out.iterdir()) == []


def test_unmix_nan_fill(tmp_path: Path) -> None:
    """A recording holding NaN: refused, pointing to --nan fill, which unmixes it with one warning."""
    import fluorodn

    x = np.asarray(tifffile.imread(Path(fluorodn.__file__).parent / "data" / "example.tif")[:600], np.float32)
    x[100, 5:9] = np.nan
    np.save(tmp_path / "rec.npy", x)
    common = ("--sensor", "example", "--wavelengths", "477:595", "--no-denoise")
    refused = cli("unmix", tmp_path / "rec.npy", *common)
    assert refused.exit_code == 1 and "pass --nan fill to interpolate over them" in refused.stderr
    result = cli("unmix", tmp_path / "rec.npy", *common, "--nan", "fill")
    assert result.exit_code == 0, result.output
    warned = [ln for ln in result.stderr.splitlines() if "were NaN or infinite and were filled" in ln]
    assert len(warned) == 1 and "4 values in 1 sample (at 100" in warned[0]
    table = np.genfromtxt(tmp_path / "rec_unmixed.csv", delimiter=",", names=True, comments="#")
    assert np.isfinite(table["sensor"]).all() and len(table) == 600


def test_a_truncated_tiff_is_one_sentence_without_tifffile_log_lines(tmp_path: Path) -> None:
    """A TIFF cut short inside its tags: the metadata read takes tifffile's complaints in, and the
    run says what is wrong in its one line."""
    full = tmp_path / "full.tif"
    description = json.dumps({"wavelength_nm": np.linspace(477.0, 595.0, 152).tolist(), "sampling_hz": 5.0})
    tifffile.imwrite(full, np.ones((3000, 152), np.float32), description=description, resolution=(1.0, 1.0))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(full.read_bytes()[:1000])
    import subprocess

    # a process of its own: pytest's log capture would take tifffile's lines in before they reached stderr
    args = ["unmix", str(cut), "--sensor", "example", "--wavelengths", "477:595", "-o", str(tmp_path / "out.csv")]
    run = subprocess.run([sys.executable, "-m", "fluorodn", *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stderr.startswith("fluorodn: error: ")
    assert "cut.tif is damaged or truncated" in run.stderr
    assert run.stderr.strip().count("\n") == 0, run.stderr
