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

from .conftest import HEADER, spectra


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


def test_conversions_keep_the_start_time_and_the_clocks_origin(export, tmp_path):
    """--to tif keeps an OceanView export's start time, --to h5 too where its UTC offset is known
    (CF's "seconds since" in the Time unit; a date in an unknown zone has no place there), --to h5
    and --to tif an HDF5 Time axis's origin on its own clock and its date: read back, each says the
    same as its source."""
    import h5py

    rec = formats.read(export(np.round(spectra(60, 24, seed=4), 2)))
    outs = [c.data for c in rec.channels]
    tif = rec.write_as("tif", tmp_path / "o.tif", outs)
    with tifffile.TiffFile(tif) as t:
        meta = json.loads(t.pages[0].description)
    assert meta["start"] == rec.meta["start"].isoformat() and meta["time_zone"] == rec.meta["time_zone"]
    assert rec.meta["start"].utcoffset() is not None  # CET: one offset
    h5 = formats.read(rec.write_as("h5", tmp_path / "o.h5", outs))
    assert h5.meta["start"] == rec.meta["start"] and h5.meta.get("time_origin_s", 0.0) == 0.0
    np.testing.assert_allclose(h5.times, rec.times)
    naive = formats.read(export(np.round(spectra(60, 24, seed=4), 2), name="naive.txt",
                                header=HEADER.replace("CET", "XYZ")))  # fmt: skip
    assert naive.meta["start"].utcoffset() is None
    assert "start" not in formats.read(naive.write_as("h5", tmp_path / "naive.h5", outs)).meta
    dated = tmp_path / "dated.h5"
    with h5py.File(dated, "w") as f:
        f["Channel1"] = np.round(spectra(60, 24, seed=5), 2)
        f.create_dataset("Time", data=12.5 + 0.2 * np.arange(60)).attrs["units"] = (
            "seconds since 2017-01-20 10:00:00+01:00"
        )
        f["Wavelength"] = np.linspace(477.0, 595.0, 24)
    src = formats.read(dated)
    again = formats.read(src.write_as("h5", tmp_path / "dated_back.h5", [c.data for c in src.channels]))
    assert again.meta["start"] == src.meta["start"] and again.meta["time_origin_s"] == 12.5
    late = tmp_path / "late.h5"
    with h5py.File(late, "w") as f:
        f["Channel1"] = np.round(spectra(60, 24, seed=5), 2)
        f["Time"] = 100.0 + 0.2 * np.arange(60)
        f["Wavelength"] = np.linspace(477.0, 595.0, 24)
    src = formats.read(late)
    assert src.meta["time_origin_s"] == 100.0
    back = formats.read(src.write_as("h5", tmp_path / "back.h5", [c.data for c in src.channels]))
    assert back.meta["time_origin_s"] == 100.0
    np.testing.assert_allclose(back.times, src.times)
    with tifffile.TiffFile(src.write_as("tif", tmp_path / "late.tif", [c.data for c in src.channels])) as t:
        assert json.loads(t.pages[0].description)["time_origin_s"] == 100.0


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


def test_guppy_places_events_at_their_times_on_a_coarse_clock(tmp_path):
    """Timestamps rounded to milliseconds at 30 Hz: sampling_rate is the true rate, so GuPPy's
    row for an event, int(round((t - t0) * rate)), is the sample taken at that time, to the end."""
    true = np.arange(18000) / 30.0
    times = np.floor(true * 1000.0) / 1000.0
    (file,) = write_guppy(tmp_path / "guppy", {"sensor": np.arange(18000.0)}, times)
    with open(file, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rate = float(rows[0]["sampling_rate"])
    assert rate == pytest.approx(30.0, rel=1e-4)
    for event in (300.0, 599.9):
        row = round(event * rate)
        assert abs(float(rows[row]["timestamps"]) - event) < 1.5 / 30.0


# -- NWB: timing, origin, provenance ---------------------------------------------------------


def _nwb_modules():
    pytest.importorskip("pynwb")
    pytest.importorskip("ndx_fiber_photometry")
    from pynwb import NWBHDF5IO

    return NWBHDF5IO


@pytest.mark.parametrize(
    ("times", "regular"),
    [
        ((36000.0 + np.arange(60) * 0.2) - 36000.0, True),  # a clock's times: rounding, no jitter
        (np.arange(60) * 0.05, True),
        (np.arange(60) * 0.2 + np.r_[0.0, np.full(59, 0.001)], False),  # jitter
        (np.r_[np.arange(30), np.arange(32, 62)] * 0.2, False),  # dropped frames
    ],
)
def test_nwb_writes_regular_times_as_starting_time_and_rate(tmp_path, times, regular):
    """Regular times (no jitter, no gap) are written as starting_time and rate, which NWB's best
    practice (nwbinspector's check_regular_timestamps) asks for; others as timestamps."""
    NWBHDF5IO = _nwb_modules()
    from fluorodn.formats.nwb import Trace, write_nwb

    start = datetime(2017, 1, 20, 10, 37, 6, tzinfo=timezone.utc)
    traces = {"sensor": Trace(np.sin(times), "a.u."), "gain": Trace(np.cos(times), "1")}
    write_nwb(tmp_path / "r.nwb", traces, times=times + 100.0, session_start=start)
    with NWBHDF5IO(str(tmp_path / "r.nwb"), "r") as io:
        for series in io.read().processing["ophys"].data_interfaces.values():
            if regular:
                assert series.timestamps is None and series.starting_time == 100.0
                assert series.rate in (5.0, 20.0)  # without the clock's rounding (5.00000000007 Hz)
            else:
                assert series.rate is None
                np.testing.assert_array_equal(series.timestamps[:], times + 100.0)
            np.testing.assert_allclose(series.get_timestamps()[:], times + 100.0, atol=1e-9)


def _unmixed_h5(tmp_path, start_s, values=None):
    from fluorodn.formats.hdf5_axes import write_axes_file

    values = spectra(60, 152, seed=8) if values is None else values
    path = tmp_path / "rec.h5"
    write_axes_file(path, [values], np.linspace(477, 595, 152), start_s + np.arange(len(values)) * 0.2, {})
    return path


def test_nwb_keeps_the_files_clock_and_fluorodns_record(tmp_path):
    """An HDF5 Time axis starting at 100 s: the NWB times are on that clock (starting_time 100 s) and
    the description says so; the notes hold fluorodn's record (version, model, dark level, the
    sensor's response spectrum, the origin), and the source script names fluorodn's version."""
    NWBHDF5IO = _nwb_modules()
    import fluorodn
    from fluorodn.unmixing import load_sensor, unmix_file

    res, dest = unmix_file(_unmixed_h5(tmp_path, 100.0), "example", denoise=False, dark=20.0,
                           output=tmp_path / "rec.nwb")  # fmt: skip
    with NWBHDF5IO(str(dest), "r") as io:
        nwb = io.read()
        sensor = nwb.processing["ophys"]["sensor"]
        assert sensor.starting_time == 100.0 and sensor.rate == 5.0
        origin = "Times are on the file's own clock, on which its first sample stands at 100 s."
        assert origin in nwb.session_description
        assert nwb.source_script == f"fluorodn {fluorodn.__version__}"
        notes = json.loads(nwb.notes)
    assert notes["fluorodn"] == fluorodn.__version__ and notes["time_origin_s"] == 100.0
    assert notes["dark_level_counts"] == 20.0 and notes["denoising"] is None and notes["dark_samples"] == 0
    wl, dff = load_sensor("example")
    np.testing.assert_allclose(notes["sensor_response"]["wavelength_nm"], np.linspace(477, 595, 152))
    np.testing.assert_allclose(notes["sensor_response"]["dff"], np.interp(np.linspace(477, 595, 152), wl, dff))
    np.testing.assert_allclose(notes["sensor_response"]["dff"], res.response)


def test_nwb_takes_the_start_of_an_hdf5_time_axis_since_a_date(tmp_path):
    """A Time axis in CF's "seconds since <date>" starting at 5 s: the session starts at that date
    (the clock's 0), the times on its clock from 5 s, so the first sample stands at date + 5 s, as
    the file says; not the file's modification time."""
    from datetime import datetime, timedelta, timezone

    import h5py

    NWBHDF5IO = _nwb_modules()
    from fluorodn.unmixing import unmix_file

    path = tmp_path / "cf.h5"
    with h5py.File(path, "w") as f:
        f["Channel1"] = spectra(60, 152, seed=8).astype("f4")
        f.create_dataset("Time", data=5.0 + 0.2 * np.arange(60)).attrs["units"] = (
            "seconds since 2017-01-20T10:00:00+01:00"
        )
        f["Wavelength"] = np.linspace(477, 595, 152)
    unmix_file(path, "example", denoise=False, dark=0.0, output=tmp_path / "cf.nwb")
    with NWBHDF5IO(str(tmp_path / "cf.nwb"), "r") as io:
        nwb = io.read()
        zero = datetime(2017, 1, 20, 10, 0, 0, tzinfo=timezone(timedelta(hours=1)))
        assert nwb.session_start_time == zero
        sensor = nwb.processing["ophys"]["sensor"]
        assert sensor.starting_time == 5.0 and sensor.rate == 5.0
        assert "modification time" not in nwb.session_description
    # a file of several recordings, one read by its key: the start its group's axis states
    with h5py.File(path, "a") as f:
        f["rec/green"] = f["Channel1"][()]
        f["rec/red"] = f["Channel1"][()]
        f["rec"].create_dataset("Time", data=f["Time"][()]).attrs["units"] = f["Time"].attrs["units"]
        f["rec/Wavelength"] = f["Wavelength"][()]
    res, _ = unmix_file(path, "example", denoise=False, dark=0.0, key="rec/green", output=tmp_path / "keyed.nwb")
    assert res.start == zero + timedelta(seconds=5.0)
    with NWBHDF5IO(str(tmp_path / "keyed.nwb"), "r") as io:
        assert io.read().session_start_time == zero


def test_nwb_times_before_the_clocks_zero_count_from_the_first_sample(tmp_path):
    """A Time axis that starts before 0 on its own clock: the NWB times count from the first sample
    (no negative times), and the description gives where that sample stands."""
    NWBHDF5IO = _nwb_modules()
    from fluorodn.unmixing import unmix_file

    unmix_file(_unmixed_h5(tmp_path, -2.5), "example", denoise=False, dark=0.0, output=tmp_path / "rec.nwb")
    with NWBHDF5IO(str(tmp_path / "rec.nwb"), "r") as io:
        nwb = io.read()
        assert nwb.processing["ophys"]["sensor"].starting_time == 0.0
        assert "the first sample, which stands at -2.5 s on the file's own clock" in nwb.session_description
        assert json.loads(nwb.notes)["time_origin_s"] == -2.5


def test_nwb_times_on_a_clock_started_long_before_count_from_the_first_sample(tmp_path):
    """A Time axis in Unix seconds (no unit) or CF's "seconds since 1970-01-01": no session starts
    at that clock's 0, so the NWB times count from the first sample, at its own rate (not one that
    the clock's rounding makes 5.00000001 Hz), the session starting at that sample where the file
    gives its date (1970 nowhere), and the description gives where the sample stands on the clock."""
    from datetime import datetime, timezone

    import h5py

    NWBHDF5IO = _nwb_modules()
    from fluorodn.formats.nwb import CLOCK_LEAD_S
    from fluorodn.unmixing import unmix_file

    first = 1484905026.469  # 2017-01-20 09:37:06.469 UTC
    for units in (None, "seconds since 1970-01-01 00:00:00"):
        path = tmp_path / f"epoch{units is None}.h5"
        with h5py.File(path, "w") as f:
            f["Channel1"] = spectra(60, 152, seed=8).astype("f4")
            time = f.create_dataset("Time", data=first + 0.2 * np.arange(60))
            if units:
                time.attrs["units"] = units
            f["Wavelength"] = np.linspace(477, 595, 152)
        unmix_file(path, "example", denoise=False, dark=0.0, output=path.with_suffix(".nwb"))
        with NWBHDF5IO(str(path.with_suffix(".nwb")), "r") as io:
            nwb = io.read()
            sensor = nwb.processing["ophys"]["sensor"]
            assert sensor.starting_time == 0.0 and sensor.rate == 5.0
            assert f"the first sample, which stands at {first:.15g} s on the file's own clock" in (
                nwb.session_description
            )
            if units:  # the session starts at the first sample's date
                start = nwb.session_start_time.astimezone(timezone.utc)
                assert (
                    abs((start - datetime(2017, 1, 20, 9, 37, 6, 469000, tzinfo=timezone.utc)).total_seconds()) < 1e-3
                )
            assert nwb.session_start_time.year > 1970
    # an acquisition program's clock, started an hour before the first sample, is kept
    unmix_file(_unmixed_h5(tmp_path, 3600.0), "example", denoise=False, dark=0.0, output=tmp_path / "hour.nwb")
    with NWBHDF5IO(str(tmp_path / "hour.nwb"), "r") as io:
        assert io.read().processing["ophys"]["sensor"].starting_time == 3600.0 < CLOCK_LEAD_S


def test_nwb_with_light_off_samples_says_guppy_cannot_use_it(tmp_path):
    """Light-off samples are NaN in NWB (no data are made up there); the description says GuPPy
    cannot analyse them and which files to give it instead."""
    NWBHDF5IO = _nwb_modules()
    import warnings

    from fluorodn.unmixing import unmix_file

    values = spectra(60, 152, seed=8)
    values[20:25] = np.random.default_rng(1).normal(3.0, 1.0, (5, 152))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unmix_file(_unmixed_h5(tmp_path, 0.0, values), "example", denoise=False, output=tmp_path / "rec.nwb")
    with NWBHDF5IO(str(tmp_path / "rec.nwb"), "r") as io:
        nwb = io.read()
        assert np.isnan(nwb.processing["ophys"]["sensor"].data[20:25]).all()
        assert "GuPPy cannot analyse NaN: give GuPPy the CSV files of fluorodn unmix --guppy" in nwb.session_description


def test_the_start_is_the_first_spectrum_s_time(tmp_path):
    """The session starts when the first spectrum was taken: its row's clock time on the header's
    Date: day (the day within half a day of the header's time), its row's own date where it carries
    one, the header's Date: for stamps in seconds; a folder's first file name's clock time."""
    from datetime import timedelta

    from fluorodn.formats.oceanview import start_time

    from .conftest import HEADER

    cet = timezone(timedelta(hours=1))
    wl = np.linspace(477.0, 595.0, 8)
    head = HEADER.format(name="rec", pixels=8) + "\t".join(f"{w:.2f}" for w in wl) + "\n"
    row = "\t".join(["1000.00"] * 8)
    cases = {
        "14:00:00.000": datetime(2017, 1, 20, 14, 0, tzinfo=cet),
        "23:59:00.000": datetime(2017, 1, 19, 23, 59, tzinfo=cet),  # started before the header's midnight
        "2017-01-21 14:00:00.000000": datetime(2017, 1, 21, 14, 0, tzinfo=cet),
        "1970-01-01 10:00:00.000000": datetime(2017, 1, 20, 10, 0, tzinfo=cet),  # OceanView's placeholder date
        "0.000": datetime(2017, 1, 20, 10, 37, 6, tzinfo=cet),
        # milliseconds since 1970 name their instant, shown in the header's zone
        f"{datetime(2017, 1, 20, 8, 0, tzinfo=cet).timestamp() * 1000:.0f}": datetime(2017, 1, 20, 8, 0, tzinfo=cet),
    }
    for k, (stamp, expected) in enumerate(cases.items()):
        second = "0.200" if stamp == "0.000" else stamp[:-3] + "200" if stamp.endswith("000") else stamp
        if stamp.isdigit():  # milliseconds: 200 ms later
            second = str(int(stamp) + 200)
        path = tmp_path / f"r{k}.txt"
        path.write_text(head + f"{stamp}\t{row}\n{second}\t{row}\n", encoding="utf-8")
        assert start_time(path) == (expected, "CET"), stamp
        assert formats.read(path).meta["start"] == expected, stamp
    folder = tmp_path / "spectra"
    folder.mkdir()
    for k in range(3):
        body = "".join(f"{w:.2f}\t{1000.0 + k:.2f}\n" for w in wl)
        (folder / f"rec_FLMS12345_13-59-5{k}-000__{k}__.txt").write_text(HEADER.format(name="rec", pixels=8) + body)
    assert start_time(folder) == (datetime(2017, 1, 20, 13, 59, 50, tzinfo=cet), "CET")
    assert formats.read(folder).meta["start"] == datetime(2017, 1, 20, 13, 59, 50, tzinfo=cet)


def test_a_tiff_keeps_the_start_time_for_nwb(export, tmp_path):
    """``to="tif"`` keeps where the source states them the start time, its zone's name and the time
    origin; an NWB file written from the TIFF places its first sample there (the session at the
    clock's 0, the times on that clock), not at the TIFF's mtime."""
    NWBHDF5IO = _nwb_modules()
    from datetime import timedelta

    from fluorodn.formats.convert import write_array
    from fluorodn.unmixing import recording_metadata, unmix_file

    rec = formats.read(export(np.round(spectra(60, 152, seed=9), 2)))
    start = rec.meta["start"]
    assert start == datetime(2017, 1, 20, 10, 0, 0, tzinfo=timezone(timedelta(hours=1)))  # the first row's time
    tif = tmp_path / "rec.tif"
    write_array("tif", tif, [rec.channels[0].data], {"fluorodn": "test"}, wavelengths=rec.wavelengths,
                times=rec.times, rate=5.0, start=start, time_zone="CET", time_origin_s=12.5)  # fmt: skip
    meta = recording_metadata(tif)
    assert meta["start"] == "2017-01-20T10:00:00+01:00" and meta["time_zone"] == "CET"
    assert meta["time_origin_s"] == 12.5
    res, dest = unmix_file(tif, "example", denoise=False, dark=0.0, output=tmp_path / "rec.nwb")
    assert res.time_origin_s == 12.5
    with NWBHDF5IO(str(dest), "r") as io:
        nwb = io.read()
        # times on the file's clock (from 12.5 s), the session at its 0: the first sample at its start time
        assert nwb.session_start_time == start - timedelta(seconds=12.5)
        assert nwb.session_start_time + timedelta(seconds=nwb.processing["ophys"]["sensor"].starting_time) == start
        assert "Session start: the recording's start time." in nwb.session_description


# -- GuPPy -----------------------------------------------------------------------------------


def test_guppy_folder_is_checked_before_anything_is_written(tmp_path):
    from fluorodn.errors import OutputError, OutputExistsError
    from fluorodn.formats.guppy import TRACES, check_folder

    (tmp_path / "notes.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(OutputError, match=r"the GuPPy folder .*notes\.txt is a file; give a folder"):
        check_folder(tmp_path / "notes.txt")
    with pytest.raises(OutputError, match=r"cannot make the GuPPy folder .*notes\.txt is not a folder"):
        check_folder(tmp_path / "notes.txt" / "guppy")
    check_folder(tmp_path / "new" / "guppy")  # made when written, not now
    assert not (tmp_path / "new").exists()
    (tmp_path / "guppy").mkdir()
    (tmp_path / "guppy" / "hb.csv").write_text("keep", encoding="utf-8")
    with pytest.raises(OutputExistsError, match=r"hb\.csv exist already; pass overwrite=True to replace them$"):
        check_folder(tmp_path / "guppy")
    check_folder(tmp_path / "guppy", overwrite=True)
    assert TRACES[0] == "sensor_ff0"


def test_nwb_is_built_and_closed_before_a_byte_reaches_the_disk(tmp_path, monkeypatch):
    """The HDF5 file is complete and closed when its bytes are written: a write that fails (a full
    disk) raises OSError and leaves h5py nothing to flush or free later."""
    import errno

    _nwb_modules()
    import h5py

    from fluorodn.formats import nwb

    open_files = []

    def full(image, dest):
        open_files.append(h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE))
        raise OSError(errno.ENOSPC, "No space left on device")

    before = h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)
    monkeypatch.setattr(nwb, "_write_image", full)
    with pytest.raises(OSError, match="No space left"):
        nwb.write_nwb(tmp_path / "r.nwb", {"a": nwb.Trace(np.zeros(30), "a.u.")}, rate=5.0, source=__file__)
    assert open_files == [before]
    assert h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE) == before
    assert not (tmp_path / "r.nwb").exists()
