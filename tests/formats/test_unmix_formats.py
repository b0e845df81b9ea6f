"""``fluorodn unmix`` on spectrometer files: wavelengths and time_s from the file itself."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from fluorodn.cli import app

from .conftest import spectra, stamps

runner = CliRunner()


def test_unmix_takes_wavelengths_and_times_from_an_oceanview_export(export):
    ts = stamps(60, "clock")
    ts[30:] = stamps(30, "clock", start=36000.0 + 0.2 * 31)  # one dropped frame: times say so
    src = export(np.round(spectra(60, 152, seed=8), 2), times=ts)
    result = runner.invoke(app, ["unmix", str(src), "--sensor", "example", "--no-denoise"])
    assert result.exit_code == 0, result.output
    with open(src.with_name("rec_unmixed.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    times = np.array([float(r["time_s"]) for r in rows])
    np.testing.assert_allclose(times[:3], [0.0, 0.2, 0.4], atol=1e-9)
    np.testing.assert_allclose(times[30] - times[29], 0.4, atol=1e-9)
    result = runner.invoke(app, ["unmix", str(src), "--sensor", "example", "--no-denoise", "--rate", "10",
                                 "--overwrite"])  # fmt: skip
    assert result.exit_code == 1 and "declared sampling rate 10 Hz" in result.stderr


def test_unmix_refuses_an_interleaved_export_naming_its_channels(export):
    src = export(np.round(spectra(61, 152, levels=(1000.0, 300.0)), 2))
    result = runner.invoke(app, ["unmix", str(src), "--sensor", "example", "--no-denoise"])
    assert result.exit_code == 1 and "2 channels (0: excitation 1, 1: excitation 2)" in result.stderr


def test_unmix_hands_off_to_nwb_and_guppy(export, tmp_path):
    pytest.importorskip("pynwb")
    pytest.importorskip("ndx_fiber_photometry")
    from pynwb import NWBHDF5IO

    src = export(np.round(spectra(60, 152, seed=9), 2))
    result = runner.invoke(app, ["unmix", str(src), "--sensor", "example", "--no-denoise", "-o",
                                 str(tmp_path / "rec.nwb"), "--guppy", str(tmp_path / "guppy")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "warning" not in result.stderr
    with NWBHDF5IO(str(tmp_path / "rec.nwb"), "r") as io:
        nwb = io.read()
        traces = nwb.processing["ophys"]
        assert {"sensor", "hbo2", "hb", "offset", "gain"} <= set(traces.data_interfaces)
        np.testing.assert_allclose(traces["sensor"].get_timestamps()[:3], [0.0, 0.2, 0.4])
        # the first row's clock time (10:00:00) on the header's CET day, not the header's own time
        assert nwb.session_start_time.isoformat() == "2017-01-20T10:00:00+01:00"
    with open(tmp_path / "guppy" / "sensor.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 60 and float(rows[0]["sampling_rate"]) == 5.0
