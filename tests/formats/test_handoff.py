"""Conversions (--to npy|tif|h5) and hand-off writers (NWB with ndx-fiber-photometry, GuPPy CSV)."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import numpy as np
import pytest
import tifffile

from fluorodn import formats
from fluorodn.formats.guppy import write_guppy

from .conftest import spectra


@pytest.mark.parametrize("interleaved", [False, True])
def test_conversions_keep_what_each_format_can_hold(export, tmp_path, interleaved):
    values = np.round(spectra(201, 12, levels=(1000.0, 400.0) if interleaved else (1000.0,)), 2)
    rec = formats.read(export(values))
    outs = [c.data for c in rec.channels]
    npy = rec.write_as("npy", tmp_path / "o.npy", outs, dtype=np.float64)
    np.testing.assert_array_equal(np.load(npy), values)
    tif = rec.write_as("tif", tmp_path / "o.tif", outs, provenance={"model": "m"})
    with tifffile.TiffFile(tif) as t:
        meta = json.loads(t.pages[0].description)
        np.testing.assert_array_equal(t.asarray(), values.astype(np.float32))
    assert meta["fluorodn"]["model"] == "m" and len(meta["wavelength_nm"]) == 12
    assert abs(meta["sampling_hz"] - 5.0) < 1e-9 and len(meta["time_s"]) == 201
    h5 = rec.write_as("h5", tmp_path / "o.h5", outs, dtype=np.float64)
    back = formats.read(h5)
    assert back.excitations == rec.excitations
    np.testing.assert_array_equal(back.streams[0], values)
    np.testing.assert_allclose(back.times, rec.times)
    np.testing.assert_array_equal(back.wavelengths, rec.wavelengths)


def test_nwb_holds_each_trace_with_the_recordings_timestamps(tmp_path):
    pytest.importorskip("pynwb")
    pytest.importorskip("ndx_fiber_photometry")
    from pynwb import NWBHDF5IO

    from fluorodn.formats.nwb import Trace, write_nwb

    times = np.arange(50) * 0.2 + np.r_[0, np.full(49, 0.001)]
    traces = {"sensor": Trace(np.sin(times), "a.u.", "a(t)"), "hbo2": Trace(np.cos(times), "uM*cm")}
    start = datetime(2017, 1, 20, 10, 37, 6, tzinfo=timezone.utc)
    write_nwb(tmp_path / "r.nwb", traces, times=times, session_start=start, provenance={"model": "m"})
    with NWBHDF5IO(str(tmp_path / "r.nwb"), "r") as io:
        nwb = io.read()
        series = nwb.processing["ophys"]["sensor"]
        assert type(series).__name__ == "FiberPhotometryResponseSeries" and series.unit == "a.u."
        np.testing.assert_array_equal(series.data[:], np.sin(times))
        np.testing.assert_array_equal(nwb.processing["ophys"]["hbo2"].timestamps[:], times)
        assert nwb.session_start_time == start and json.loads(nwb.notes)["model"] == "m"


def test_nwb_without_the_extra_says_how_to_install_it(tmp_path, monkeypatch):
    import builtins

    from fluorodn.formats import nwb

    real = builtins.__import__

    def no_pynwb(name, *args, **kwargs):
        if name.startswith(("pynwb", "ndx_fiber_photometry")):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynwb)
    with pytest.raises(ImportError, match=r"pip install 'fluorodn\[nwb\]'"):
        nwb.write_nwb(tmp_path / "r.nwb", {"a": nwb.Trace(np.zeros(3), "a.u.")}, rate=5.0)


def test_guppy_csv_convention(tmp_path):
    times = np.arange(10) * 0.2
    files = write_guppy(tmp_path / "guppy", {"sensor": np.arange(10.0), "hbo2": -np.arange(10.0)}, times)
    assert [f.name for f in files] == ["sensor.csv", "hbo2.csv"]
    with open(files[0], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["timestamps", "data", "sampling_rate"]
    assert float(rows[0]["sampling_rate"]) == 5.0 and rows[1]["sampling_rate"] == ""
    np.testing.assert_allclose([float(r["timestamps"]) for r in rows], times)
    np.testing.assert_allclose([float(r["data"]) for r in rows], np.arange(10.0))
