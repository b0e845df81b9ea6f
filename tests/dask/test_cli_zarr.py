"""`fluorodn denoise in.zarr` goes through fluorodn.dask and equals the single-machine result."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("dask")
zarr = pytest.importorskip("zarr")

from fluorodn import Denoiser  # noqa: E402
from fluorodn.cli import app  # noqa: E402


def test_cli_zarr_round_trip(tmp_path):
    src = tmp_path / "rec.zarr"
    z = zarr.open_array(str(src), mode="w", shape=(300, 152), chunks=(64, 152), dtype="f4")
    x = np.random.default_rng(0).normal(100, 5, (300, 152)).astype("f4")
    z[:] = x
    z.attrs["lab"] = "bench 3"
    runner = CliRunner()
    r = runner.invoke(app, ["denoise", str(src), "--scheduler", "threads", "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1].endswith("with model low (threads)."), r.output  # too short to be spectral
    assert "Completed" not in r.stdout  # dask's progress bar only on a terminal, not in a piped stdout
    out = zarr.open_array(str(tmp_path / "rec_denoised.zarr"), mode="r")
    assert out.attrs["lab"] == "bench 3" and "fluorodn" in out.attrs
    ref = Denoiser().run(x)
    np.testing.assert_allclose(out[:], ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    np.testing.assert_array_equal(z[:], x)  # input untouched
    r = runner.invoke(app, ["denoise", str(src)])
    assert r.exit_code == 1 and "exists" in r.output


def test_cli_zarr_group_takes_its_array_by_key(tmp_path):
    """A group of several arrays (as xarray writes one): the error names them and --key; --key
    picks one, denoised as that array alone would be."""
    src = tmp_path / "rec.zarr"
    group = zarr.open_group(str(src), mode="w")
    x = np.random.default_rng(0).normal(100, 5, (300, 152)).astype("f4")
    group.create_array("spectra", shape=x.shape, chunks=(100, 152), dtype="f4")[:] = x
    group.create_array("time", shape=(300,), dtype="f8")[:] = np.arange(300) / 5.0
    runner = CliRunner()
    r = runner.invoke(app, ["denoise", str(src)])
    assert r.exit_code == 1 and "a zarr group with 2 arrays (spectra, time)" in r.output and "--key" in r.output
    r = runner.invoke(app, ["denoise", str(src), "--key", "spectra", "-o", str(tmp_path / "out.zarr")])
    assert r.exit_code == 0, r.output
    ref = Denoiser().run(x)
    out = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    np.testing.assert_allclose(out[:], ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))


def test_cli_zarr_missing_input(tmp_path):
    r = CliRunner().invoke(app, ["denoise", str(tmp_path / "nope.zarr")])
    assert r.exit_code == 1 and "does not exist" in r.output


def test_cli_zarr_failure_is_in_the_json_document(tmp_path):
    """A store that fails is reported as a failed file in --json's document, as other inputs are,
    and its error suggests no --nan fill, which stores do not take."""
    src = tmp_path / "nan.zarr"
    z = zarr.open_array(str(src), mode="w", shape=(40, 20), chunks=(20, 20), dtype="f4")
    z[:] = np.ones((40, 20), "f4")
    z[3, 4] = np.nan
    r = CliRunner().invoke(app, ["denoise", str(src), "--json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["failed"] == 1 and doc["denoised"] == 0
    (entry,) = doc["files"]
    assert entry["status"] == "failed" and entry["input"] == str(src) and "NaN" in entry["error"]
    assert "--nan" not in entry["error"] and "--nan" not in r.stderr
    assert r.stderr.count("error:") == 1 and not (tmp_path / "nan_denoised.zarr").exists()


def test_cli_zarr_output_named_with_a_trailing_slash(tmp_path):
    """-o out.zarr/ (as tab completion writes an existing store) is the store itself; -o folder/ a
    folder that the store goes into under its default name."""
    src = tmp_path / "rec.zarr"
    z = zarr.open_array(str(src), mode="w", shape=(300, 152), chunks=(100, 152), dtype="f4")
    z[:] = np.random.default_rng(0).normal(100, 5, (300, 152)).astype("f4")
    runner = CliRunner()
    assert runner.invoke(app, ["denoise", f"{src}/", "-o", f"{tmp_path / 'out.zarr'}/", "-q"]).exit_code == 0
    assert zarr.open_array(str(tmp_path / "out.zarr"), mode="r").shape == (300, 152)
    assert runner.invoke(app, ["denoise", str(src), "-o", f"{tmp_path / 'into'}/", "-q"]).exit_code == 0
    assert zarr.open_array(str(tmp_path / "into" / "rec_denoised.zarr"), mode="r").shape == (300, 152)


def test_cli_zarr_contradicting_options_are_one_sentence(tmp_path):
    """Options that contradict each other are refused for a store as for other inputs: one line, and
    under --json the document with the error."""
    src = tmp_path / "rec.zarr"
    z = zarr.open_array(str(src), mode="w", shape=(300, 152), chunks=(100, 152), dtype="f4")
    z[:] = np.ones((300, 152), "f4")
    r = CliRunner().invoke(app, ["denoise", str(src), "--spectral-only", "--strength", "0.5", "--json"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "--spectral-only filters nothing over time" in json.loads(r.stdout)["error"]
    assert not (tmp_path / "rec_denoised.zarr").exists()


def test_cli_zarr_warns_on_one_line(tmp_path):
    """A saturated recording through fluorodn.dask gets the single-machine run's warning, as the
    file's one warning line."""
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    inst = make_instance(np.random.default_rng(11), 2000, 152, 0.4, signal=WIDE)
    counts = np.round(inst.noisy)
    src = tmp_path / "rec.zarr"
    z = zarr.open_array(str(src), mode="w", shape=counts.shape, chunks=(500, 152), dtype="f4")
    z[:] = np.minimum(counts, np.quantile(counts, 0.98))
    r = CliRunner().invoke(app, ["denoise", str(src), "--scheduler", "synchronous"])
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith(f"fluorodn: warning: {src}: 2 % of the values"), r.output
    assert "saturated" in lines[0] and "Warning:" not in r.output
    assert r.output.splitlines()[-1].endswith("with model spectral (synchronous)."), r.output
    frames = tmp_path / "frames.zarr"  # frames go to the image model, which the summary names
    z = zarr.open_array(str(frames), mode="w", shape=(2, 96, 96), chunks=(1, 96, 96), dtype="f4")
    z[:] = np.random.default_rng(2).normal(500, 10, (2, 96, 96))
    r = CliRunner().invoke(app, ["denoise", str(frames), "--scheduler", "synchronous"])
    assert r.exit_code == 0 and r.output.splitlines()[-1].endswith("with model low (synchronous)."), r.output


def test_cli_zarr_takes_the_rate(tmp_path):
    """--rate applies to a zarr recording as to a file that states none: under 4 Hz the file gets
    the one warning line naming the rate, at 5 Hz none; the output is the same either way (a
    recording without fast hemodynamics, which would add their own warning)."""
    from dataclasses import replace

    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    inst = make_instance(np.random.default_rng(4), 1200, 152, 0.4, signal=replace(WIDE, hemo_fast_prob=0.0))
    src = tmp_path / "rec.zarr"
    z = zarr.open_array(str(src), mode="w", shape=inst.noisy.shape, chunks=(400, 152), dtype="f4")
    z[:] = inst.noisy
    outs = []
    for rate, warned in (("2", True), ("5", False)):
        dst = tmp_path / f"out{rate}.zarr"
        r = CliRunner().invoke(app, ["denoise", str(src), "-o", str(dst), "--scheduler", "synchronous", "--rate", rate])
        assert r.exit_code == 0, r.output
        lines = [line for line in r.output.splitlines() if "warning" in line]
        assert len(lines) == int(warned) and all("2 Hz" in line for line in lines), r.output
        outs.append(zarr.open_array(str(dst), mode="r")[:])
    np.testing.assert_array_equal(outs[0], outs[1])
    r = CliRunner().invoke(app, ["denoise", str(src), "-o", str(tmp_path / "bad.zarr"), "--rate", "0"])
    assert r.exit_code == 1 and "--rate must be a positive number" in r.output


def test_cli_zarr_short_recording_takes_the_spectral_path_reading_its_page_once(tmp_path, monkeypatch):
    """A zarr recording too short to look like one (200 x 152) is told by its rows, as one call
    tells it: the spectral model denoises it, to one call's result, and the client reads its first
    page once to know."""
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    import fluorodn.dask as fdask

    x = make_instance(np.random.default_rng(6), 200, 152, 0.4, signal=WIDE).noisy.astype("f4")
    src = tmp_path / "short.zarr"
    z = zarr.open_array(str(src), mode="w", shape=x.shape, chunks=(100, 152), dtype="f4")
    z[:] = x
    reads = []
    monkeypatch.setattr(fdask, "_first_page", lambda arr, read=fdask._first_page: reads.append(1) or read(arr))
    r = CliRunner().invoke(app, ["denoise", str(src), "--scheduler", "synchronous"])
    assert r.exit_code == 0 and r.output.splitlines()[-1].endswith("with model spectral (synchronous)."), r.output
    assert len(reads) == 1
    out = zarr.open_array(str(tmp_path / "short_denoised.zarr"), mode="r")
    ref = Denoiser().run(x)
    np.testing.assert_allclose(out[:], ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    assert out.attrs["fluorodn"]["model"] == "spectral"


def test_cli_zarr_takes_the_strength(tmp_path):
    """--strength reaches the workers: a zarr recording denoised at 0.5 equals the single-machine
    result at 0.5, differs from the full strength's, and its provenance says 0.5."""
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    from fluorodn import DenoiserOptions

    inst = make_instance(np.random.default_rng(5), 1200, 152, 0.6, signal=WIDE)
    x = inst.noisy.astype("f4")
    src = tmp_path / "rec.zarr"
    z = zarr.open_array(str(src), mode="w", shape=x.shape, chunks=(400, 152), dtype="f4")
    z[:] = x
    dst = tmp_path / "half.zarr"
    args = ["denoise", str(src), "-o", str(dst), "--scheduler", "synchronous", "--strength", "0.5"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    out = zarr.open_array(str(dst), mode="r")
    assert out.attrs["fluorodn"]["settings"]["strength"] == 0.5
    half = Denoiser(options=DenoiserOptions(strength=0.5)).run(x)
    np.testing.assert_allclose(out[:], half, rtol=1e-5, atol=1e-5 * float(np.abs(half).max()))
    assert np.abs(out[:] - Denoiser().run(x)).max() > 1.0


def test_cli_zarr_takes_round_onsets(tmp_path):
    """--round-onsets reaches the workers: the zarr output equals ``keep_onsets=False`` on one
    machine, differs from the default's, and its provenance says so."""
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    from fluorodn import DenoiserOptions

    inst = make_instance(np.random.default_rng(11), 2400, 100, 1.0, signal=WIDE)  # with sparse traces
    x = inst.noisy.astype("f4")
    src = tmp_path / "rec.zarr"
    z = zarr.open_array(str(src), mode="w", shape=x.shape, chunks=(800, 100), dtype="f4")
    z[:] = x
    dst = tmp_path / "rounded.zarr"
    r = CliRunner().invoke(app, ["denoise", str(src), "-o", str(dst), "--scheduler", "synchronous", "--round-onsets"])
    assert r.exit_code == 0, r.output
    out = zarr.open_array(str(dst), mode="r")
    assert out.attrs["fluorodn"]["settings"]["keep_onsets"] is False
    rounded = Denoiser(options=DenoiserOptions(keep_onsets=False)).run(x)
    np.testing.assert_allclose(out[:], rounded, rtol=1e-5, atol=1e-5 * float(np.abs(rounded).max()))
    assert np.abs(out[:] - Denoiser().run(x)).max() > 1e-3 * float(np.abs(x - rounded).std())


def test_cli_zarr_notes_the_options_its_path_does_not_read(tmp_path):
    """As for files: a zarr recording given --self-ensemble, and a zarr stack of frames given
    --strength, each get one note naming the option their path does not read; a recording given
    --strength gets none."""
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    x = make_instance(np.random.default_rng(5), 1200, 152, 0.6, signal=WIDE).noisy.astype("f4")
    rec = tmp_path / "rec.zarr"
    zarr.open_array(str(rec), mode="w", shape=x.shape, chunks=(400, 152), dtype="f4")[:] = x
    frames = tmp_path / "frames.zarr"
    f = np.random.default_rng(1).normal(100.0, 5.0, (2, 96, 96)).astype("f4")
    zarr.open_array(str(frames), mode="w", shape=f.shape, chunks=(1, 96, 96), dtype="f4")[:] = f

    def notes(src, *flags):
        dst = tmp_path / f"out{len(list(tmp_path.glob('out*')))}.zarr"
        r = CliRunner().invoke(app, ["denoise", str(src), "-o", str(dst), "--scheduler", "synchronous", *flags])
        assert r.exit_code == 0, r.output
        return [ln for ln in r.stderr.splitlines() if ln.startswith("fluorodn: note:")]

    assert notes(rec, "--self-ensemble") == [
        f"fluorodn: note: {rec}: its pages are spectral recordings, which the spectral path denoises without "
        "--self-ensemble"
    ]
    (said,) = notes(frames, "--strength", "0.5")
    assert said.endswith("its pages are frames, which the image path denoises without --strength")
    assert notes(rec, "--strength", "0.5") == []
