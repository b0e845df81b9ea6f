"""``fluorodn denoise`` on acquisition software's files: same layout back, channels alone, conversions."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from fluorodn import Denoiser, DenoiserOptions, formats
from fluorodn.cli import app

from .conftest import HEADER, spectra

runner = CliRunner()


def denoise(model: Path, *args: Any) -> Any:
    return runner.invoke(app, ["denoise", *(str(a) for a in args), "--model", str(model), "--threads", "1"])


def at_precision(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.array([[float(f"{v:.{decimals}f}") for v in row] for row in np.asarray(values).tolist()])


@pytest.fixture(scope="module")
def dn(tiny_model: Path) -> Denoiser:
    return Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1))


def test_text_export_comes_back_in_its_layout_equal_to_run(export, tiny_model, dn):
    values = np.round(spectra(300, 40, seed=1), 2)
    src = export(values, stamp_kind="dated")
    result = denoise(tiny_model, src)
    assert result.exit_code == 0, result.output
    assert "300 samples over 59.800 s at 5 Hz" in result.stderr
    out = src.with_name("rec_denoised.txt")
    lines_in, lines_out = src.read_text().splitlines(), out.read_text().splitlines()
    assert lines_out[:13] == lines_in[:13] and lines_out[13].startswith("Denoised by: fluorodn")
    assert lines_out[14:16] == lines_in[13:15]
    back = formats.read(out)
    np.testing.assert_array_equal(back.streams[0], at_precision(dn.run(values), 2))
    np.testing.assert_array_equal(back.times, formats.read(src).times)


def test_interleaved_export_each_channel_as_if_alone(export, tiny_model, dn):
    values = np.round(spectra(301, 40, seed=2, levels=(1000.0, 300.0)), 2)
    src = export(values)
    result = denoise(tiny_model, src)
    assert result.exit_code == 0, result.output
    assert "2 interleaved excitations, 2.5 Hz each" in result.stderr
    back = formats.read(src.with_name("rec_denoised.txt"), excitations=2)
    for k in range(2):
        np.testing.assert_array_equal(back.channels[k].data, at_precision(dn.run(values[k::2]), 2))
    assert "2 excitations denoised separately" in src.with_name("rec_denoised.txt").read_text()
    result = denoise(tiny_model, src, "--excitations", 1, "--suffix", "_whole")
    assert result.exit_code == 0, result.output
    whole = formats.read(src.with_name("rec_whole.txt"), excitations=1)
    np.testing.assert_array_equal(whole.streams[0], at_precision(dn.run(values), 2))


def test_unclear_alternation_fails_naming_the_option(export, tiny_model):
    values = spectra(300, 40)
    values[::2] += 6.0  # a few times the noise: not clearly two light sources
    result = denoise(tiny_model, export(np.round(values, 2)))
    assert result.exit_code == 1
    assert "--excitations N" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("to", ["npy", "tif", "h5"])
def test_conversions(export, tiny_model, dn, to):
    values = np.round(spectra(200, 40, seed=3), 2)
    src = export(values)
    result = denoise(tiny_model, src, "--to", to)
    assert result.exit_code == 0, result.output
    out = src.with_name(f"rec_denoised.{to}")
    expected = dn.run(values)
    if to == "npy":
        np.testing.assert_array_equal(np.load(out), expected)
    elif to == "tif":
        import tifffile

        np.testing.assert_array_equal(tifffile.imread(out), expected)
    else:
        back = formats.read(out)
        np.testing.assert_array_equal(back.streams[0], expected)
        np.testing.assert_array_equal(back.wavelengths, formats.read(src).wavelengths)


def test_tiff_converts_too_and_a_wrong_output_name_is_refused(tmp_path, tiny_model, recording):
    import tifffile

    tifffile.imwrite(tmp_path / "r.tif", recording)
    assert denoise(tiny_model, tmp_path / "r.tif", "--to", "npy").exit_code == 0
    assert np.load(tmp_path / "r_denoised.npy").shape == recording.shape
    result = denoise(tiny_model, tmp_path / "r.tif", "--to", "npy", "-o", tmp_path / "x.tif")
    assert result.exit_code == 1 and "must have the format" in result.stderr


def test_hdf5_channels_and_key(tmp_path, tiny_model, dn):
    data = np.stack([spectra(200, 40, seed=s) for s in (4, 5)], axis=1)  # time x excitation x wavelength
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["acq/data"] = data
        f["acq/Time"] = np.arange(200) * 0.2
        f["acq/Wavelength"] = np.linspace(477, 595, 40)
    result = denoise(tiny_model, tmp_path / "r.h5", "--key", "acq/data")
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "r_denoised.h5") as f:
        out = f["acq/data"][()]
        assert out.shape == data.shape and "fluorodn_provenance" in f.attrs
    for e in range(2):
        np.testing.assert_array_equal(out[:, e, :], dn.run(data[:, e, :]))
    # the file's one recording is found in its group without --key, and written back the same
    result = denoise(tiny_model, tmp_path / "r.h5", "--overwrite", "-o", tmp_path / "found")
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "found" / "r_denoised.h5") as f:
        np.testing.assert_array_equal(f["acq/data"][()], out)
    with h5py.File(tmp_path / "r.h5", "a") as f:
        f["acq/other"] = data[:, 0, :]
    result = denoise(tiny_model, tmp_path / "r.h5", "--overwrite")
    assert result.exit_code == 1 and "--key" in result.stderr


def test_folder_of_one_spectrum_exports_is_one_recording(tmp_path, tiny_model, dn):
    folder = tmp_path / "spectra"
    folder.mkdir()
    values = np.round(spectra(120, 40, seed=6), 2)
    wl = np.linspace(477, 595, 40)
    for k, row in enumerate(values):
        s = 36000 + 0.2 * k
        name = f"FLMS__{k}__{int(s // 3600):02d}-{int(s % 3600 // 60):02d}-{int(s % 60):02d}-{round(s % 1 * 1000):03d}"
        body = "\n".join(f"{a:.2f}\t{b:.2f}" for a, b in zip(wl, row, strict=True))
        (folder / f"{name}.txt").write_text(HEADER.format(name=name, pixels=40) + body + "\n")
    result = denoise(tiny_model, folder)
    assert result.exit_code == 0, result.output
    back = formats.read(tmp_path / "spectra_denoised")
    np.testing.assert_array_equal(back.streams[0], at_precision(dn.run(values), 2))
    assert sorted(p.name for p in (tmp_path / "spectra_denoised").iterdir()) == sorted(p.name for p in folder.iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_notes_file_sorted_first_leaves_the_folder_one_recording(tmp_path, tiny_model):
    """A log named to sort before the exports leaves the folder one recording: left out with one
    warning line, in a run and in a dry run alike, never as a raw Python warning."""
    folder = tmp_path / "spectra"
    folder.mkdir()
    wl = np.linspace(477, 595, 40)
    for k, row in enumerate(np.round(spectra(60, 40, seed=7), 2)):
        s = 36000 + 0.2 * k
        name = f"FLMS__{k}__{int(s // 3600):02d}-{int(s % 3600 // 60):02d}-{int(s % 60):02d}-{round(s % 1 * 1000):03d}"
        body = "\n".join(f"{a:.2f}\t{b:.2f}" for a, b in zip(wl, row, strict=True))
        (folder / f"{name}.txt").write_text(HEADER.format(name=name, pixels=40) + body + "\n")
    (folder / "0 experiment log.txt").write_text("mouse 3, good signal\n")
    for extra in (["--dry-run"], []):
        result = denoise(tiny_model, folder, *extra)
        assert result.exit_code == 0, result.output
        lines = [ln for ln in result.stderr.splitlines() if "warning" in ln.lower()]
        assert len(lines) == 1 and lines[0].startswith(f"fluorodn: warning: {folder}: "), result.stderr
        assert "0 experiment log.txt" in lines[0] and "UserWarning" not in result.stderr
    assert formats.read(tmp_path / "spectra_denoised").streams[0].shape == (60, 40)


def test_folders_take_exports_not_notes_and_options_that_do_not_apply_are_refused(tmp_path, tiny_model, export,
                                                                                  recording):  # fmt: skip
    import tifffile

    export(np.round(spectra(200, 40), 2), name="a.txt")
    (tmp_path / "notes.txt").write_text("mouse 3, good signal\n")
    result = runner.invoke(app, ["denoise", str(tmp_path), "--model", str(tiny_model), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "a.txt" in result.output and "notes" not in result.output
    tifffile.imwrite(tmp_path / "r.tif", recording)
    result = denoise(tiny_model, tmp_path / "r.tif", "--excitations", 2)
    assert result.exit_code == 1 and "--excitations applies to spectrometer files" in result.stderr
    result = denoise(tiny_model, tmp_path / "notes.txt")
    assert result.exit_code == 1 and "Begin Spectral Data" in result.stderr


def test_a_short_export_is_a_recording_whatever_its_look(export, tmp_path):
    """A spectrometer's file with its axes is time x wavelength: exports of 200 and 60 spectra x 152
    bins (40 and 12 s), which as bare arrays would go to the image model (they are not twice as long
    as wide), are denoised by the default's spectral path; an HDF5 dataset without axes goes by its
    look, and its rows, one spectrum, give it the spectral path too, without a warning line."""
    import json

    planner = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    declared = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    for t in (200, 60):
        values = np.round(spectra(t, 152, seed=t), 2)
        src = export(values, name=f"rec{t}.txt")
        result = runner.invoke(app, ["denoise", str(src), "--threads", "1", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["files"][0]["model"] == "spectral"
        assert "one spectrum" not in result.stderr and "transposed" not in result.stderr
        # the opening line names no image model for frames the file does not hold; a dry run says why
        said = runner.invoke(app, ["denoise", str(src), "--threads", "1", "--overwrite"])
        assert said.exit_code == 0 and "frames:" not in said.stderr.splitlines()[0], said.stderr
        plan = runner.invoke(app, ["denoise", str(src), "--dry-run", "--json", "--overwrite"])
        assert json.loads(plan.stdout)["files"][0]["axes_known"] is True
        back = formats.read(src.with_name(f"rec{t}_denoised.txt"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = declared.run(values)
        np.testing.assert_array_equal(back.streams[0], at_precision(expected, 2))
    values = spectra(200, 152, seed=3).astype(np.float32)
    for name, axes in (("axes.h5", True), ("bare.h5", False)):
        src = tmp_path / name
        with h5py.File(src, "w") as f:
            f["acq/data"] = values
            if axes:
                f["acq/Time"] = np.arange(200) * 0.2
                f["acq/Wavelength"] = np.linspace(477, 595, 152)
        result = runner.invoke(app, ["denoise", str(src), "--key", "acq/data", "--threads", "1", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["files"][0]["model"] == "spectral"
        assert "one spectrum" not in result.stderr and "transposed" not in result.stderr, result.stderr
        with h5py.File(src.with_name(name.replace(".h5", "_denoised.h5"))) as f:
            np.testing.assert_array_equal(f["acq/data"][()], declared.run(values))
    assert planner._runs(values.shape).name != "spectral"  # by its shape alone, an image


def test_a_tiff_naming_its_wavelengths_is_a_recording(tmp_path):
    """A TIFF whose description names its columns' wavelengths (as fluorodn's conversions write it)
    is a recording whatever its look: 200 x 152 takes the spectral path; without the description
    the same values take it too, by their rows (one spectrum), and the reader says which knows its
    axes."""
    import json

    import tifffile

    from fluorodn._tiff import read_provenance

    values = spectra(200, 152, seed=9).astype(np.float32)
    wl = np.linspace(477.0, 595.0, 152).tolist()
    tifffile.imwrite(tmp_path / "named.tif", values, description=json.dumps({"wavelength_nm": wl}))
    tifffile.imwrite(tmp_path / "bare.tif", values)
    planner = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    outputs = []
    for name in ("named", "bare"):
        result = runner.invoke(app, ["denoise", str(tmp_path / f"{name}.tif"), "--threads", "1", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["files"][0]["model"] == "spectral"
        assert "one spectrum" not in result.stderr, result.stderr
        outputs.append(tifffile.imread(tmp_path / f"{name}_denoised.tif"))
        assert read_provenance(tmp_path / f"{name}_denoised.tif")["model"] == "spectral"  # what ran, in the file
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[1], planner.run(values))
    # the reader says so: one wavelength per column or the first and last; another count names other columns
    import contextlib

    from fluorodn import io as fio

    for name, names in (("pair", [477.0, 595.0]), ("other", wl[:40]), ("text", "ImageJ=1.53")):
        desc = names if isinstance(names, str) else json.dumps({"acquisition": {"wavelength_nm": names}})
        tifffile.imwrite(tmp_path / f"{name}.tif", values, description=desc)
        with contextlib.closing(fio.open_recording(tmp_path / f"{name}.tif")) as rec:
            assert rec.axes_known == (name == "pair"), name


def test_a_recording_sampled_slower_than_training_is_said_to_be(tmp_path):
    """Timestamps at 2 Hz (HDF5 with its axes) give one warning line naming the rate, for the
    spectral path; at 5 Hz, without timestamps, or through an image model, none. The output is the
    same as without the warning."""
    values = spectra(600, 152, seed=5).astype(np.float32)
    lines = {}
    for name, step in (("slow.h5", 0.5), ("trained.h5", 0.2), ("bare.h5", None)):
        src = tmp_path / name
        with h5py.File(src, "w") as f:
            f["acq/data"] = values
            if step is not None:
                f["acq/Time"] = np.arange(600) * step
                f["acq/Wavelength"] = np.linspace(477, 595, 152)
        result = runner.invoke(app, ["denoise", str(src), "--key", "acq/data", "--threads", "1"])
        assert result.exit_code == 0, result.output
        lines[name] = [line for line in result.stderr.splitlines() if "sampled at" in line]
        with h5py.File(src.with_name(name.replace(".h5", "_denoised.h5"))) as f:
            lines[name + " out"] = f["acq/data"][()]
    assert len(lines["slow.h5"]) == 1 and "sampled at 2 Hz" in lines["slow.h5"][0], lines
    assert "slow.h5" in lines["slow.h5"][0]
    assert lines["trained.h5"] == [] and lines["bare.h5"] == []
    np.testing.assert_array_equal(lines["slow.h5 out"], lines["trained.h5 out"])
    low = ["--model", "low", "--threads", "1", "-o", str(tmp_path / "low")]
    result = runner.invoke(app, ["denoise", str(tmp_path / "slow.h5"), "--key", "acq/data", *low])
    assert result.exit_code == 0, result.output
    assert "sampled at" not in result.stderr


def test_interleaved_excitations_are_said_to_be_sampled_at_their_own_rate(export, tmp_path):
    """Rows at 5 Hz alternating between two excitations sample each channel at 2.5 Hz, below the
    spectral model's training: one warning line names that rate; the same rows as one excitation
    (or a file of one) get none."""
    values = np.round(spectra(600, 152, seed=3, levels=(1000.0, 300.0)), 2)
    src = export(values)

    def said(*args: object) -> list[str]:
        out = ["-o", str(tmp_path / f"out{len(args)}"), "--threads", "1"]
        result = runner.invoke(app, ["denoise", str(src), *map(str, args), *out])
        assert result.exit_code == 0, result.output
        return [line for line in result.stderr.splitlines() if "sampled at" in line]

    assert len(lines := said()) == 1 and "sampled at 2.5 Hz" in lines[0], lines
    assert said("--excitations", 1) == []


def test_rate_fills_in_for_files_without_timestamps(tmp_path):
    """--rate gives the rate of files that state none: 2 Hz on a .npy recording gives the warning
    line, 5 Hz none; a file's timestamps, or a TIFF's stated sampling_hz, give the rate themselves,
    and a --rate they contradict fails the file in one sentence (one within 1 % is taken); a rate
    that is not positive is refused in one sentence, before anything is read."""
    values = spectra(600, 152, seed=6).astype(np.float32)
    npy = tmp_path / "rec.npy"
    np.save(npy, values)
    h5 = tmp_path / "timed.h5"
    with h5py.File(h5, "w") as f:
        f["acq/data"] = values
        f["acq/Time"] = np.arange(600) * 0.2
        f["acq/Wavelength"] = np.linspace(477, 595, 152)

    def said(*args: str) -> list[str]:
        result = runner.invoke(app, ["denoise", *args, "--threads", "1", "--overwrite"])
        assert result.exit_code == 0, result.output
        return [line for line in result.stderr.splitlines() if "sampled at" in line]

    assert len(said(str(npy), "--rate", "2")) == 1
    assert said(str(npy), "--rate", "5") == [] and said(str(npy)) == []
    assert said(str(h5), "--key", "acq/data", "--rate", "5.02") == []  # its timestamps say 5 Hz
    slow = tmp_path / "slow.tif"  # as fluorodn example and --to tif state their axes
    tifffile.imwrite(slow, values, description=json.dumps({"wavelength_nm": [477.0, 595.0], "sampling_hz": 2.0}))
    assert len(lines := said(str(slow))) == 1 and "sampled at 2 Hz" in lines[0], lines
    for args, stated in (([str(h5), "--key", "acq/data"], "5"), ([str(slow)], "2")):
        result = runner.invoke(app, ["denoise", *args, "--rate", "3", "--overwrite"])
        assert result.exit_code == 1, result.output
        assert f"the rate given (3 Hz) differs from the {stated} Hz the file states" in result.stderr
        assert "leave --rate out" in result.stderr and "Traceback" not in result.output
    for bad in ("0", "-1", "nan"):
        result = runner.invoke(app, ["denoise", str(npy), "--rate", bad])
        assert result.exit_code != 0 and "--rate must be a positive number" in result.stderr, result.output
        assert "Traceback" not in result.output
    # a rate no recording has (a unit mistaken): its times would overflow or lose every digit
    for bad, shown in (("1e-9", "1e-09"), ("1e-320", "9.99989e-321"), ("5e9", "5e+09")):
        result = runner.invoke(app, ["denoise", str(npy), "--rate", bad])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"--rate must be a sampling rate of 1e-06 to 1e+09 samples per second, not {shown}" in result.stderr
    # one a file states out of those limits is none: the rate given is taken
    odd = tmp_path / "odd.tif"
    tifffile.imwrite(odd, values, description=json.dumps({"wavelength_nm": [477.0, 595.0], "sampling_hz": 1e-12}))
    assert said(str(odd), "--rate", "5") == []


@pytest.mark.filterwarnings("ignore")  # frames given to the spectral model, a short recording to the image model
@pytest.mark.parametrize(
    ("name", "flags", "written"),
    [
        ("frames.tif", [], False),
        ("frames.tif", ["--kind", "spectral"], True),
        ("short.npy", [], True),  # too short to look spectral, but its rows are one spectrum
        ("short.npy", ["--model", "low"], False),
        ("short_nan.npy", ["--nan", "fill"], True),  # judged on the page as the run fills it
    ],
)
def test_a_dry_run_to_h5_tells_what_the_run_refuses(tmp_path, name, flags, written):
    rng = np.random.default_rng(3)
    frames = rng.poisson(100, (2, 96, 96)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "frames.tif", frames)
    short = spectra(40, 152, seed=2).astype(np.float32)
    np.save(tmp_path / "short.npy", short)
    short[5, 7] = np.nan
    np.save(tmp_path / "short_nan.npy", short)
    args = ["denoise", str(tmp_path / name), "--to", "h5", "--threads", "1", *flags]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert (dry.exit_code == 0) is written, dry.output
    assert ("holds frames" in dry.output) is not written
    assert not list(tmp_path.glob("*.h5"))
    run = runner.invoke(app, args)
    assert (run.exit_code == 0) is written, run.output
    assert (tmp_path / f"{Path(name).stem}_denoised.h5").exists() is written


def test_a_dry_run_names_the_model_the_run_loads(tmp_path):
    """--kind image with the default model runs the image model: the dry run names it, as the run does."""
    tifffile.imwrite(tmp_path / "frames.tif", np.random.default_rng(3).poisson(100, (2, 64, 64)).astype(np.uint16))
    for flags, name in ((["--kind", "image"], "low"), ([], "spectral")):
        result = runner.invoke(app, ["denoise", str(tmp_path / "frames.tif"), "--dry-run", "--json", *flags])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["model"]["name"] == name


def test_the_current_folder_given_as_a_recording_names_its_outputs_after_it(tiny_model, tmp_path, monkeypatch):
    """A folder of one-spectrum exports given as "." (from inside it): the outputs are named after
    the folder and written beside it, as for its name, by denoise and by unmix."""
    from .test_oceanview import _one_spectrum

    folder = tmp_path / "spectra"
    folder.mkdir()
    values = np.round(spectra(30, 40), 2)
    wl = np.linspace(477, 595, 40)
    for k in range(30):
        _one_spectrum(folder, k, wl, values[k], clock=36000.0 + 0.2 * k)
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.chdir(folder)
    result = denoise(tiny_model, ".")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert (tmp_path / "spectra_denoised").is_dir()
    assert sorted(p.name for p in (tmp_path / "spectra_denoised").iterdir()) == before
    result = runner.invoke(app, ["unmix", ".", "--sensor", "example", "--no-denoise"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "spectra_unmixed.csv").is_file()
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written into the input
