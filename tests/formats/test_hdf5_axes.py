"""HDF5 with Time/Wavelength axes: channels found by convention or --key, oriented by the axes, written back."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest

from fluorodn import formats
from fluorodn.errors import FileFormatError
from fluorodn.formats.hdf5_axes import PROVENANCE_ATTR, HDF5Axes

from .conftest import spectra

T, W = 240, 20


def _axes_file(path: Path, channels: int = 3, transpose: bool = False, dtype: str = "uint16", **attrs) -> Path:
    with h5py.File(path, "w") as f:
        for k in range(channels):
            data = np.round(spectra(T, W, seed=k)).astype(dtype)
            f.create_dataset(f"Channel{k + 1}", data=data.T if transpose else data, chunks=True, compression="gzip")
            f[f"Channel{k + 1}"].attrs["laser_nm"] = [405, 488, 560][k]
        f.create_dataset("Time", data=np.arange(T) * 200.0).attrs["units"] = "ms"
        f.create_dataset("Wavelength", data=np.linspace(477, 595, W))
        f.create_group("meta").attrs["mouse"] = "m1"
        f["meta"].create_dataset("notes", data=np.arange(3))
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


def test_channels_by_convention_with_axes_and_time_units(tmp_path):
    rec = formats.read(_axes_file(tmp_path / "rec.h5"))
    assert rec.format == "hdf5" and [c.name for c in rec.channels] == ["Channel1", "Channel2", "Channel3"]
    assert rec.channels[0].data.shape == (T, W) and rec.channels[0].data.dtype == np.uint16
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.2)
    assert abs(rec.timing.rate_hz - 5.0) < 1e-9
    np.testing.assert_allclose(rec.wavelengths, np.linspace(477, 595, W))


def test_a_stored_wavelength_x_time_dataset_is_read_transposed_and_written_back_as_stored(tmp_path):
    path = _axes_file(tmp_path / "t.h5", channels=1, transpose=True)
    rec = formats.read(path)
    assert rec.channels[0].data.shape == (T, W)
    out = rec.write(tmp_path / "o.h5", [c.data * 2.0 for c in rec.channels])
    with h5py.File(path) as fin, h5py.File(out) as fout:
        assert fout["Channel1"].shape == (W, T) and fout["Channel1"].dtype == np.float32
        np.testing.assert_array_equal(fout["Channel1"][()], fin["Channel1"][()] * 2.0)


def test_write_back_keeps_every_object_attribute_and_adds_provenance(tmp_path):
    path = _axes_file(tmp_path / "rec.h5", sampling_rate=5.0)
    rec = formats.read(path)
    outs = [c.data.astype(np.float32) + 1 for c in rec.channels]
    out = rec.write(tmp_path / "out.h5", outs, dtype=np.uint16, provenance={"model": "test"})
    with h5py.File(path) as fin, h5py.File(out) as fout:
        assert sorted(fout) == sorted(fin)
        assert fout["Channel2"].dtype == np.uint16 and fout["Channel2"].attrs["laser_nm"] == 488
        assert fout["Channel2"].compression == "gzip"
        np.testing.assert_array_equal(fout["Channel2"][()], fin["Channel2"][()] + 1)
        np.testing.assert_array_equal(fout["Time"][()], fin["Time"][()])
        assert fout["meta"].attrs["mouse"] == "m1" and fout.attrs["sampling_rate"] == 5.0
        assert json.loads(fout.attrs[PROVENANCE_ATTR])["model"] == "test"


def test_3d_dataset_by_key_is_handled_per_excitation(tmp_path):
    data = np.stack([spectra(T, W, seed=s, levels=(lv,)) for s, lv in ((0, 900.0), (1, 300.0))], axis=1)
    with h5py.File(tmp_path / "r.h5", "w") as f:
        grp = f.create_group("acq")
        grp.create_dataset("spectra", data=data)
        grp.create_dataset("Time", data=np.arange(T) * 0.2)
        grp.create_dataset("Wavelength", data=np.linspace(477, 595, W))
    rec = formats.read(tmp_path / "r.h5", key="acq/spectra")
    assert [c.name for c in rec.channels] == ["acq/spectra[0]", "acq/spectra[1]"]
    np.testing.assert_array_equal(rec.channels[1].data, data[:, 1, :])
    out = rec.write(tmp_path / "o.h5", [c.data for c in rec.channels], dtype=np.float64)
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["acq/spectra"][()], data)
    with pytest.raises(FileFormatError, match="excitation axis already"):
        formats.read(tmp_path / "r.h5", key="acq/spectra", excitations=2)


def test_a_dataset_by_key_in_a_subgroup_takes_the_axes_of_the_group_above(tmp_path):
    # stored wavelength x time, its axes at the root: read transposed, as the axes say
    data = np.round(spectra(T, W, seed=3)).astype(np.float32)
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["acq/run1/spectra"] = data.T
        f["acq/run1/spectra"].attrs["Wavelength"] = np.linspace(480, 600, W)  # its own axis comes first
        f.create_dataset("Time", data=np.arange(T) * 200.0).attrs["units"] = "ms"
        f["Wavelength"] = np.linspace(477, 595, W)
        f["other/Time"] = np.arange(7.0)  # another group's axis is no ancestor's
    rec = formats.read(tmp_path / "r.h5", key="acq/run1/spectra")
    np.testing.assert_array_equal(rec.channels[0].data, data)
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.2)
    np.testing.assert_allclose(rec.wavelengths, np.linspace(480, 600, W))
    out = rec.write(tmp_path / "o.h5", [c.data + 1 for c in rec.channels])
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["acq/run1/spectra"][()], data.T + 1)
    # axes above that do not fit it together belong to other data: not taken (one alone; lengths that
    # match one dimension each by chance only with the other's), and nothing is refused for them
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["acq/spectra"] = data
        f["Time"] = np.arange(T) * 0.2  # no Wavelength beside it
        f["raw/x"] = np.zeros((W, 7))
        f["timestamps"] = np.arange(T) * 0.2
    assert formats.read(tmp_path / "s.h5", key="acq/spectra").times is None
    with h5py.File(tmp_path / "u.h5", "w") as f:
        f["sub/other"] = np.ones((1000, 512), np.float32)
        f["Time"] = np.arange(512) * 0.2  # the axes of /raw (512 x 256): Time fits, Wavelength does not
        f["Wavelength"] = np.linspace(400, 700, 256)
    rec = formats.read(tmp_path / "u.h5", key="sub/other")
    assert rec.channels[0].data.shape == (1000, 512) and rec.times is None


def test_declared_rate_that_disagrees_is_refused(tmp_path):
    with pytest.raises(FileFormatError, match="declared sampling rate 1000 Hz"):
        formats.read(_axes_file(tmp_path / "r.h5", sampling_rate=1000.0))
    with pytest.raises(FileFormatError, match="declared sampling rate 20 Hz"):
        formats.read(_axes_file(tmp_path / "s.h5"), rate=20.0)
    assert formats.read(_axes_file(tmp_path / "u.h5"), rate=5.02).channels


def test_a_rate_stated_without_timestamps_is_the_recordings_and_checks_a_rate_given(tmp_path):
    """A file with no Time axis that states its rate (a number, or text in Hz) has that rate: the
    denoiser's and unmix's times come from it, and a rate given that differs is refused, as against
    timestamps. Text stating a rate that the timestamps contradict is refused too."""
    from fluorodn.unmixing import unmix_file

    for stated in (10.0, "10 Hz", b"0.01 kHz"):
        path = tmp_path / f"r{len(str(stated))}.h5"
        with h5py.File(path, "w") as f:
            f["Channel1"] = spectra(T, 152, seed=1)
            f["Wavelength"] = np.linspace(477, 595, 152)
            f["Channel1"].attrs["sampling_rate"] = stated
        assert formats.SpectralRecording(path).rate_hz == pytest.approx(10.0)
        assert "no timestamps, 10 Hz as the file states" in formats.read(path).describe()
        with pytest.raises(FileFormatError, match=r"rate given \(5 Hz\) differs from the 10 Hz the file states"):
            formats.read(path, rate=5.0)
        assert formats.read(path, rate=10.05).channels
        res, _ = unmix_file(path, "example", output=tmp_path / f"{path.stem}.csv", denoise=False)
        np.testing.assert_allclose(res.time_s[:3], [0.0, 0.1, 0.2])
    with pytest.raises(FileFormatError, match="declared sampling rate 10 Hz"):
        formats.read(_axes_file(tmp_path / "t.h5", sampling_rate="10 Hz"))  # its Time steps 200 ms: 5 Hz


def test_layouts_that_do_not_fit_are_refused_with_what_was_expected(tmp_path):
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"] = np.zeros((10, 5))
        f["b"] = np.zeros((10, 5))
    with pytest.raises(FileFormatError, match=r"holds datasets a \(10, 5\), b \(10, 5\); expected datasets Channel1"):
        formats.read(tmp_path / "two.h5")
    with h5py.File(tmp_path / "square.h5", "w") as f:
        f["Channel1"] = np.ones((20, 20))
        f["Time"] = np.arange(20) * 0.2
        f["Wavelength"] = np.linspace(477, 595, 20)
    with pytest.raises(FileFormatError, match="more than one way"):
        formats.read(tmp_path / "square.h5")
    with h5py.File(tmp_path / "misfit.h5", "w") as f:
        f["Channel1"] = np.ones((30, 7))
        f["Time"] = np.arange(20) * 0.2
        f["Wavelength"] = np.linspace(477, 595, 7)
    with pytest.raises(FileFormatError, match="no way"):
        formats.read(tmp_path / "misfit.h5")
    for key in ("nope", "Channel1/x", "nogroup/x"):  # below a dataset, or in no group: named, not a traceback's words
        with pytest.raises(FileFormatError, match=f"key='{key}' is not a 2D or 3D numeric dataset"):
            formats.read(tmp_path / "misfit.h5", key=key)
    with h5py.File(tmp_path / "bare3d.h5", "w") as f:  # three axes, none named: which is which is not guessed
        f["acq/spectra"] = np.ones((300, 2, 152))
    with pytest.raises(FileFormatError, match=r"acq/spectra of shape \(300, 2, 152\) has three axes and no Time or "
                       "Wavelength dataset beside it"):  # fmt: skip
        formats.read(tmp_path / "bare3d.h5", key="acq/spectra")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FileFormatError, match="not an HDF5 file"):
        formats.read(tmp_path / "text.h5")


def test_links_and_external_storage_are_refused(tmp_path):
    _axes_file(tmp_path / "other.h5", channels=1)
    with h5py.File(tmp_path / "links.h5", "w") as f:
        f["Channel1"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "Channel1")
    with pytest.raises(FileFormatError, match="external link"):
        HDF5Axes.read(tmp_path / "links.h5")
    with h5py.File(tmp_path / "soft.h5", "w") as f:
        f["data"] = np.ones((10, 4))
        f["Channel1"] = h5py.SoftLink("/data")
    with pytest.raises(FileFormatError, match="soft link"):
        HDF5Axes.read(tmp_path / "soft.h5")
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones((10, 4)).tobytes())
    with h5py.File(tmp_path / "ext.h5", "w") as f:
        f.create_dataset("Channel1", shape=(10, 4), dtype="f8", external=[(str(raw), 0, 320)])
    with pytest.raises(FileFormatError, match="other files"):
        HDF5Axes.read(tmp_path / "ext.h5")


def _scales_file(path: Path, time_name: str = "Time", wl_name: str = "Wavelength", transpose: bool = False) -> Path:
    """One channel whose time and wavelength axes are attached as dimension scales."""
    with h5py.File(path, "w") as f:
        data = spectra(T, W)
        d = f.create_dataset("Channel1" if time_name == "Time" else "data", data=data.T if transpose else data)
        f[time_name] = np.arange(T) * 0.2 + 100.0
        f[wl_name] = np.linspace(477, 595, W)
        f[time_name].make_scale("time")
        f[wl_name].make_scale("wavelength")
        d.dims[1 if transpose else 0].attach_scale(f[time_name])
        d.dims[0 if transpose else 1].attach_scale(f[wl_name])
    return path


def test_written_dimension_scales_and_references_point_to_the_outputs_own_objects(tmp_path):
    path = _scales_file(tmp_path / "s.h5")
    with h5py.File(path, "a") as f:
        f.attrs["axis"] = f["Time"].ref
        f["Channel1"].attrs.create("axes", np.array([f["Wavelength"].ref, None], dtype=object), dtype=h5py.ref_dtype)
        f["Channel1"].attrs.create("corner", f["Channel1"].regionref[0:2, 0:3], dtype=h5py.regionref_dtype)
        refs = f.create_dataset("meta/refs", (3,), dtype=h5py.ref_dtype)  # a dataset of references, e.g. NWB's
        refs[0], refs[2] = f["Time"].ref, f["Channel1"].ref
        f.create_dataset("regions", data=[f["Channel1"].regionref[0:2, 0:3]], dtype=h5py.regionref_dtype)
        f.create_dataset("no_refs", data=h5py.Empty(h5py.ref_dtype))  # an empty dataspace: copied as it is
    rec = formats.read(path)
    with (
        pytest.warns(UserWarning, match="attribute 'corner' of /Channel1 holds references"),
        pytest.warns(UserWarning, match="dataset /regions holds references that cannot be pointed"),
    ):
        out = rec.write(tmp_path / "o.h5", [c.data + 1.0 for c in rec.channels])
    with h5py.File(out) as fout:
        refs = fout["meta/refs"]
        assert fout[refs[0]].id == fout["Time"].id and fout[refs[2]].id == fout["Channel1"].id and not refs[1]
        assert fout["no_refs"].shape is None
    with h5py.File(path) as fin, h5py.File(out) as fout:
        d = fout["Channel1"]
        assert [[s.name for s in d.dims[i].values()] for i in range(2)] == [["/Time"], ["/Wavelength"]]
        for i, axis in enumerate(("Time", "Wavelength")):
            scale = d.dims[i][0]
            assert scale.file.filename == fout.filename and scale.id == fout[axis].id
            np.testing.assert_array_equal(scale[()], fin[axis][()])
            back = fout[axis].attrs["REFERENCE_LIST"][0]
            assert fout[back["dataset"]].id == d.id and int(back["dimension"]) == i
        assert fout[fout.attrs["axis"]].id == fout["Time"].id
        assert fout[d.attrs["axes"][0]].id == fout["Wavelength"].id and not d.attrs["axes"][1]
        assert "corner" not in d.attrs
        np.testing.assert_allclose(d[()], fin["Channel1"][()] + 1.0, rtol=1e-6)
    assert formats.read(out).times is not None  # read back through its scales


def test_scales_whose_references_point_nowhere_are_left_out_with_a_warning(tmp_path):
    src = _scales_file(tmp_path / "s.h5")
    with h5py.File(src) as fin, h5py.File(tmp_path / "dangling.h5", "w") as fout:
        for name in ("Time", "Wavelength"):
            fin.copy(fin[name], fout, name=name)
        d = fout.create_dataset("Channel1", data=fin["Channel1"][()])
        listed = fin["Channel1"].attrs  # DIMENSION_LIST copied byte for byte: references into s.h5
        d.attrs.create("DIMENSION_LIST", listed["DIMENSION_LIST"], dtype=listed.get_id("DIMENSION_LIST").dtype)
    rec = formats.read(tmp_path / "dangling.h5")  # its Time and Wavelength datasets give the axes
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.2)
    with pytest.warns(UserWarning, match="2 dimension scales attached to /Channel1 cannot be followed"):
        out = rec.write(tmp_path / "o.h5", [c.data for c in rec.channels])
    with h5py.File(out) as f:
        assert "DIMENSION_LIST" not in f["Channel1"].attrs and "REFERENCE_LIST" not in f["Time"].attrs
        np.testing.assert_array_equal(f["Time"][()], np.arange(T) * 0.2 + 100.0)
    with h5py.File(tmp_path / "dangling.h5", "a") as f:
        del f["Time"], f["Wavelength"]
    with pytest.raises(FileFormatError, match="dimension scales attached to Channel1 cannot be followed"):
        formats.read(tmp_path / "dangling.h5")


@pytest.mark.parametrize(("where", "bad", "message"), [
    (150, np.nan, r"timestamp of sample 150 is not a number \(NaN\)"),
    (T - 1, np.inf, rf"timestamp of sample {T - 1} is infinite \(inf\)"),
    (0, np.inf, r"timestamp of sample 0 is infinite \(inf\)"),
])  # fmt: skip
def test_a_time_axis_that_is_not_finite_is_refused_naming_the_sample(tmp_path, where, bad, message):
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        f["Time"][where] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the sentence, not numpy's warning
        with pytest.raises(FileFormatError, match=message):
            formats.read(path)


@pytest.mark.parametrize(("name", "value", "scale"), [
    ("Units", "ms", 1e3),
    ("UNITS", np.array([b"ms"]), 1e3),
    ("unit", np.array(["msec"], dtype=h5py.string_dtype()), 1e3),
    ("units", "us", 1e6),
    ("Units", np.bytes_(b"ns"), 1e9),
])  # fmt: skip
def test_time_units_are_found_in_any_case_and_as_an_array_of_one_text(tmp_path, name, value, scale):
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        del f["Time"]
        f["Time"] = np.arange(T) * 0.2 * scale + 5 * scale
        f["Time"].attrs[name] = value
    rec = formats.read(path)
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.2, rtol=1e-9)
    assert rec.meta["time_origin_s"] == pytest.approx(5.0)


def test_integer_nanosecond_times_keep_their_precision(tmp_path):
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        del f["Time"]
        f["Time"] = 1_700_000_000_000_000_000 + np.arange(T, dtype=np.int64) * 200_000_123
        f["Time"].attrs["units"] = "ns"
    rec = formats.read(path)
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.200000123, rtol=0, atol=1e-12)
    assert rec.meta["time_origin_s"] == pytest.approx(1.7e9)


@pytest.mark.parametrize(("attrs", "message"), [
    ({"time_unit": "ms"}, r'Time has no attribute units but an attribute time_unit \("ms"\); .* rename time_unit'),
    ({"units": np.array([b"ms", b"s"])}, "Time's attribute units is not one text"),
    ({"units": np.array([b"min"])}, r'Time has units "min"; expected seconds \(s\)'),
    ({"units": "ms", "Unit": "s"}, r'Time has attributes .*, which disagree'),
])  # fmt: skip
def test_time_units_that_cannot_be_told_are_refused(tmp_path, attrs, message):
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        del f["Time"].attrs["units"]
        for k, v in attrs.items():
            f["Time"].attrs[k] = v
    with pytest.raises(FileFormatError, match=message) as err:
        formats.read(path)
    assert "[b'" not in str(err.value)


def test_dimension_scales_of_any_name_orient_the_data_and_give_its_axes(tmp_path):
    data = spectra(T, W)
    rec = formats.read(_scales_file(tmp_path / "s.h5", "timestamps", "wavelengths_nm", transpose=True))
    np.testing.assert_array_equal(rec.channels[0].data, data)
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.2)
    np.testing.assert_allclose(rec.wavelengths, np.linspace(477, 595, W))
    out = rec.write(tmp_path / "o.h5", [c.data for c in rec.channels], dtype=np.float64)
    with h5py.File(out) as f:  # written back as stored, its scales attached again
        np.testing.assert_array_equal(f["data"][()], data.T)
        assert [s.name for s in f["data"].dims[1].values()] == ["/timestamps"]
    square = spectra(W, W)  # as many samples as bins: the scales say which axis is which
    with h5py.File(tmp_path / "sq.h5", "w") as f:
        d = f.create_dataset("data", data=square.T)
        f["t"] = np.arange(W) * 0.2
        f["lambda"] = np.linspace(477, 595, W)
        f["t"].make_scale("")  # a name that says nothing: the other dimension's scale says it is time
        f["lambda"].make_scale("")
        d.dims[1].attach_scale(f["t"])
        d.dims[0].attach_scale(f["lambda"])
    rec = formats.read(tmp_path / "sq.h5")
    np.testing.assert_array_equal(rec.channels[0].data, square)
    np.testing.assert_allclose(rec.times, np.arange(W) * 0.2)
    with h5py.File(tmp_path / "nc.h5", "w") as f:  # netCDF4: a dimension without coordinates, and labels
        d = f.create_dataset("spectra", data=data.T)
        f["time"] = np.zeros(T)
        f["time"].make_scale("This is a netCDF dimension but not a netCDF variable.         240")
        d.dims[1].attach_scale(f["time"])
        f["Wavelength"] = np.linspace(477, 595, W)
    rec = formats.read(tmp_path / "nc.h5")
    assert rec.times is None
    np.testing.assert_array_equal(rec.channels[0].data, data)
    stack = np.stack([data, data * 0.5], axis=0)  # excitation x time x wavelength
    with h5py.File(tmp_path / "exc.h5", "w") as f:
        d = f.create_dataset("spectra", data=stack)
        for i, (n, values) in enumerate((("excitation_wavelength", [405, 470]), ("time_s", np.arange(T) * 0.2),
                                         ("wl", np.linspace(477, 595, W)))):  # fmt: skip
            f[n] = np.asarray(values, dtype=np.float64)
            f[n].make_scale(n)
            d.dims[i].attach_scale(f[n])
    rec = formats.read(tmp_path / "exc.h5")
    assert [c.name for c in rec.channels] == ["spectra[0]", "spectra[1]"]
    np.testing.assert_array_equal(rec.channels[1].data, data * 0.5)
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.2)


def test_axes_stored_as_attributes_of_the_dataset_are_read(tmp_path):
    data = spectra(T, W)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        d = f.create_dataset("spectra", data=data.T)
        d.attrs["Wavelength"] = np.linspace(477, 595, W)
        d.attrs["Time"] = np.arange(T) * 200.0
        d.attrs["Time_units"] = "ms"
        d.attrs["time"] = np.array([2024, 1, 5, 10, 30, 0])  # a date vector, not an axis: ignored
    rec = formats.read(tmp_path / "a.h5")
    np.testing.assert_array_equal(rec.channels[0].data, data)
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.2)
    np.testing.assert_allclose(rec.wavelengths, np.linspace(477, 595, W))
    out = rec.write(tmp_path / "o.h5", [c.data for c in rec.channels], dtype=np.float64)
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["spectra"][()], data.T)
        np.testing.assert_array_equal(f["spectra"].attrs["Time"], np.arange(T) * 200.0)


def test_axes_in_a_form_not_read_are_refused_and_neutral_scales_left_alone(tmp_path):
    with h5py.File(tmp_path / "beside.h5", "w") as f:
        f["data"] = spectra(T, W)
        f["timestamps"] = np.arange(T) * 0.2
    with pytest.raises(FileFormatError, match=r"beside data is timestamps .* rename timestamps to Time, or attach it"):
        formats.read(tmp_path / "beside.h5")
    with h5py.File(tmp_path / "short.h5", "w") as f:
        f["data"] = spectra(T, W)
        f["data"].attrs["Time"] = np.arange(T - 1) * 0.2
    with pytest.raises(FileFormatError, match=r"fits its axes, attribute Time of data \(239 values\), in no way"):
        formats.read(tmp_path / "short.h5")
    image = np.arange(30 * 40, dtype=np.float32).reshape(30, 40)
    with h5py.File(tmp_path / "image.h5", "w") as f:  # pixel coordinates: no time or wavelength here
        d = f.create_dataset("frame", data=image)
        for i, (n, size) in enumerate((("y", 30), ("x", 40))):
            f[n] = np.arange(size)
            f[n].make_scale(n)
            d.dims[i].attach_scale(f[n])
    rec = formats.read(tmp_path / "image.h5")
    assert rec.times is None and rec.wavelengths is None
    np.testing.assert_array_equal(rec.channels[0].data, image)


def test_a_wavelength_axis_too_short_for_a_spectrum_is_not_taken_for_the_spectral_axis(tmp_path):
    data = spectra(T, W)
    with h5py.File(tmp_path / "exc.h5", "w") as f:  # time x excitation x wavelength, the lasers as "wavelengths"
        d = f.create_dataset("spectra", data=np.stack([data, 2 * data], axis=1))
        d.attrs["wavelengths"] = np.array([405.0, 488.0])
        f["Time"] = np.arange(T) * 0.2
    with pytest.raises(FileFormatError) as err:
        formats.read(tmp_path / "exc.h5")
    text = str(err.value)
    assert "attribute wavelengths of spectra holds 2 values (405, 488), too few for the wavelengths of a" in text
    assert f"spectra of shape ({T}, 2, {W})" in text and "1D dataset Wavelength" in text
    assert "excitation_wavelength" in text and "\n" not in text
    with h5py.File(tmp_path / "two.h5", "w") as f:  # 2D with its time axis: the other axis is the spectrum's
        d = f.create_dataset("spectra", data=data)
        d.attrs["wavelengths"] = np.array([405.0, 488.0])
        f["Time"] = np.arange(T) * 0.2
    rec = formats.read(tmp_path / "two.h5")
    assert rec.wavelengths is None and rec.streams[0].shape == (T, W)
    np.testing.assert_array_equal(rec.channels[0].data, data)


@pytest.mark.parametrize(("units", "stored"), [
    ("um", np.linspace(0.477, 0.595, W)),
    (np.array([b"\xc2\xb5m"]), np.linspace(0.477, 0.595, W)),
    ("micrometers", np.linspace(0.477, 0.595, W)),
    ("m", np.linspace(477e-9, 595e-9, W)),
    ("Angstrom", np.linspace(4770.0, 5950.0, W)),
    ("nm", np.linspace(477.0, 595.0, W)),
])  # fmt: skip
def test_wavelength_units_are_converted_to_nm(tmp_path, units, stored):
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        del f["Wavelength"]
        f["Wavelength"] = stored
        f["Wavelength"].attrs["units"] = units
    np.testing.assert_allclose(formats.read(path).wavelengths, np.linspace(477, 595, W), rtol=1e-9)


def test_a_wavelength_unit_that_is_no_length_is_refused(tmp_path):
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        f["Wavelength"].attrs["units"] = "cm-1"  # Raman shifts
    with pytest.raises(FileFormatError, match=r'Wavelength has units "cm-1"; expected a length: nanometers \(nm\)'):
        formats.read(path)
    with h5py.File(tmp_path / "a.h5", "w") as f:  # an attribute axis: its unit is <name>_units
        d = f.create_dataset("spectra", data=spectra(T, W))
        d.attrs["Wavelength"] = np.linspace(0.477, 0.595, W)
        d.attrs["Wavelength_units"] = "um"
        d.attrs["Time"] = np.arange(T) * 0.2
    np.testing.assert_allclose(formats.read(tmp_path / "a.h5").wavelengths, np.linspace(477, 595, W), rtol=1e-9)


@pytest.mark.parametrize("units", ["nm (vacuum)", "Wavelength [nm]", "nanometers (air)"])
def test_a_wavelength_unit_labelled_around_is_read(tmp_path, units):
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        f["Wavelength"].attrs["units"] = units
    np.testing.assert_allclose(formats.read(path).wavelengths, np.linspace(477, 595, W), rtol=1e-9)


@pytest.mark.parametrize("units", ["1/cm", "cm^-1", "per cm", "nm or um", "A"])
def test_a_wavelength_unit_that_is_a_power_or_ambiguous_is_refused(tmp_path, units):
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        f["Wavelength"].attrs["units"] = units
    with pytest.raises(FileFormatError, match=r"expected a length: .* or angstroms \(\u00c5\)$"):
        formats.read(path)


@pytest.mark.parametrize(("bins", "new", "message"), [
    ([10], [np.nan], "Wavelength holds nan at bin 10, not a wavelength"),
    ([10], [532.895], r"Wavelength does not hold increasing .*: bin 10 holds 532\.89\d* after 532\.89"),
    ([10, 11], [545.316, 539.105], r"does not hold increasing .*: bin 11 holds 539\.1\d* after 545\.3"),
])  # fmt: skip
def test_a_wavelength_axis_that_is_not_finite_or_not_in_order_is_refused(tmp_path, export, bins, new, message):
    wl = np.round(np.linspace(477, 595, W), 3)  # bins 9, 10, 11: 532.895, 539.105, 545.316
    wl[bins] = new
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        f["Wavelength"][...] = wl
    with pytest.raises(FileFormatError, match=message):
        formats.read(path)
    text = export(np.round(spectra(20, W), 2), wavelengths=wl)  # the text reader's sentence, for the same axis
    with pytest.raises(FileFormatError, match=message.replace("Wavelength ", "'>>>>>Begin Spectral Data<<<<<' ")):
        formats.read(text)
    with h5py.File(path, "a") as f:  # descending: read as stored
        f["Wavelength"][...] = np.linspace(595, 477, W)
    np.testing.assert_allclose(formats.read(path).wavelengths, np.linspace(595, 477, W))


@pytest.mark.parametrize(("units", "values", "start"), [
    ("seconds since 2017-01-20 10:37:06", np.arange(T) * 0.2 + 3.0, datetime(2017, 1, 20, 10, 37, 9, tzinfo=UTC)),
    ("milliseconds since 2017-01-20T10:37:06+01:00", np.arange(T, dtype=np.int64) * 200,
     datetime(2017, 1, 20, 10, 37, 6, tzinfo=timezone(timedelta(hours=1)))),
    ("ns since 1970-01-01", 1_484_905_026_000_000_000 + np.arange(T, dtype=np.int64) * 200_000_000,
     datetime(2017, 1, 20, 9, 37, 6, tzinfo=UTC)),
])  # fmt: skip
def test_cf_time_units_since_a_date_give_the_unit_and_the_start(tmp_path, units, values, start):
    path = _axes_file(tmp_path / "r.h5", channels=1)
    with h5py.File(path, "a") as f:
        del f["Time"]
        f["Time"] = values
        f["Time"].attrs["units"] = units
    rec = formats.read(path)
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.2, atol=1e-9)
    assert rec.meta["start"] == start
    with h5py.File(path, "a") as f:
        f["Time"].attrs["units"] = "seconds since the start"
    with pytest.raises(FileFormatError, match='whose date after "since" fluorodn does not read'):
        formats.read(path)


def test_a_file_locked_by_its_writer_is_said_to_be_in_use(tmp_path, monkeypatch):
    fcntl = pytest.importorskip("fcntl")
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)
    path = _axes_file(tmp_path / "rec.h5")
    with open(path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as HDF5 holds a file open for writing
        with pytest.raises(FileFormatError) as info:
            formats.read(path)
    text = str(info.value)
    assert str(path) in text and "open in another program" in text and "closed" in text
    assert "expected datasets" not in text
    assert formats.read(path).streams[0].shape == (T, W)


def test_write_back_keeps_creation_settings_and_hard_links(tmp_path):
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as f:
        data = np.round(spectra(T, W)).astype("uint16")
        d = f.create_dataset("Channel1", data=data, chunks=(60, W), maxshape=(None, W), fletcher32=True,
                             fillvalue=3, compression="gzip", shuffle=True)  # fmt: skip
        f.create_dataset("Time", data=np.arange(T) * 0.2)
        f.create_dataset("Wavelength", data=np.linspace(477, 595, W))
        f.create_group("raw")["ch1"] = d  # a second hard link to the recording
        f.create_group("Archive")["ch1"] = d  # a third, met before the recording's own
        shared = f.create_dataset("a/notes", data=np.arange(4.0), fillvalue=np.nan)
        f.create_group("b", track_order=True)["notes"] = shared
        f["b"].create_dataset("z", data=[1])
        f["b"].create_dataset("y", data=[2])
    rec = formats.read(path)
    for dtype, fill in ((np.uint16, 3), (np.float32, 3.0)):
        out = rec.write(tmp_path / f"out_{np.dtype(dtype).name}.h5", [rec.channels[0].data + 1.0], dtype=dtype)
        with h5py.File(out) as fout:
            ch = fout["Channel1"]
            assert ch.dtype == dtype and ch.chunks == (60, W) and ch.maxshape == (None, W)
            assert ch.fletcher32 and ch.compression == "gzip" and ch.shuffle and ch.fillvalue == fill
            # the other link shows the denoised values: one object, not a copy holding the input's
            assert fout["raw/ch1"].id == ch.id == fout["Archive/ch1"].id
            np.testing.assert_array_equal(ch[()], data + 1)
            assert fout["a/notes"].id == fout["b/notes"].id and np.isnan(fout["a/notes"].fillvalue)
            assert list(fout["b"]) == ["notes", "z", "y"]  # creation order kept
    with h5py.File(path, "a") as f:  # a fill value the output's type cannot hold is left out
        f.create_dataset("Channel2", data=data.astype("f4"), chunks=True, fillvalue=np.nan)
    rec = formats.read(path)
    out = rec.write(tmp_path / "nan_fill.h5", [c.data for c in rec.channels], dtype=np.uint16)
    with h5py.File(out) as fout:
        assert fout["Channel2"].fillvalue == 0


def _plugin_file(path: Path) -> tuple[Path, np.ndarray]:
    """A recording compressed with Blosc (zstd, bit shuffle), its Time axis with Zstandard."""
    hdf5plugin = pytest.importorskip("hdf5plugin")
    data = np.round(spectra(T, W)).astype("uint16")
    with h5py.File(path, "w") as f:
        f.create_dataset("Channel1", data=data, chunks=(60, W), maxshape=(None, W),
                         **hdf5plugin.Blosc(cname="zstd", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE))  # fmt: skip
        f.create_dataset("Time", data=np.arange(T) * 0.2, chunks=(T,), **hdf5plugin.Zstd())
        f.create_dataset("Wavelength", data=np.linspace(477, 595, W))
    return path, data


def _pipeline(ds) -> list[tuple[int, tuple[int, ...]]]:
    plist = ds.id.get_create_plist()
    return [plist.get_filter(i)[0:3:2] for i in range(plist.get_nfilters())]


def test_plugin_compressed_recordings_are_read_and_written_back_with_their_filters(tmp_path):
    """Blosc and Zstandard (hdf5plugin's filters, registered on demand): read as stored, and the
    written-back recording keeps its filter pipeline, its type-dependent settings made anew."""
    path, data = _plugin_file(tmp_path / "rec.h5")
    rec = formats.read(path)
    np.testing.assert_array_equal(rec.channels[0].data, data)
    np.testing.assert_allclose(rec.times, np.arange(T) * 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped
        out = rec.write(tmp_path / "out.h5", [rec.channels[0].data + 0.5], dtype=np.float32)
    with h5py.File(path) as fin, h5py.File(out) as fout:
        src, ch = _pipeline(fin["Channel1"]), _pipeline(fout["Channel1"])
        assert [code for code, _ in ch] == [code for code, _ in src] == [32001]
        assert ch[0][1][2] == 4 and src[0][1][2] == 2  # Blosc's type size: float32 now, uint16 before
        assert ch[0][1][4:] == src[0][1][4:]  # level, shuffle, compressor kept
        np.testing.assert_array_equal(fout["Channel1"][()], data + np.float32(0.5))
        assert fout["Channel1"].maxshape == (None, W)
        assert _pipeline(fout["Time"]) == _pipeline(fin["Time"])  # copied as it is


def test_a_filter_this_installation_lacks_is_named_with_the_fix(tmp_path):
    """Without hdf5plugin, a Blosc-compressed recording is refused in one sentence naming the
    filter and the extra that adds it (not HDF5's message about its plugin folder)."""
    import subprocess
    import sys

    path, _ = _plugin_file(tmp_path / "rec.h5")
    blocked = "import sys; sys.modules['hdf5plugin'] = None; from fluorodn.cli import main; main()"
    proc = subprocess.run([sys.executable, "-c", blocked, "denoise", str(path), "-o", str(tmp_path / "o.h5")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    told = (f"fluorodn: error: {path}: Channel1 is compressed with the HDF5 filter blosc (id 32001), which "
            'this installation cannot decode; pip install "fluorodn[hdf5-plugins]" (hdf5plugin) adds the common '
            "ones")  # fmt: skip
    assert proc.stderr.splitlines()[0] == told, proc.stderr
    assert not (tmp_path / "o.h5").exists()


def test_an_optional_filter_never_applied_and_type_bound_filters(tmp_path):
    """A dataset declaring an optional filter HDF5 lacks, applied to none of its chunks, reads as
    stored and is written back with it declared; N-bit or scale-offset packing, bound to the
    input's type, is left off the float output with a warning, the values as given."""
    path = tmp_path / "rec.h5"
    data = np.round(spectra(T, W)).astype("uint16")
    with h5py.File(path, "w") as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_filter(40123, 1, ())  # an unregistered filter, optional: HDF5 skips it chunk by chunk
        f.create_dataset("Channel1", data=data, chunks=(60, W), dcpl=dcpl)
        f.create_dataset("Channel2", data=data, chunks=(60, W), scaleoffset=0)  # lossless for integers
        f.create_dataset("Time", data=np.arange(T) * 0.2)
        f.create_dataset("Wavelength", data=np.linspace(477, 595, W))
    rec = formats.read(path)
    np.testing.assert_array_equal(rec.channels[0].data, data)
    with pytest.warns(UserWarning, match="HDF5 filter") as told:
        out = rec.write(tmp_path / "out.h5", [c.data + 0.25 for c in rec.channels], dtype=np.float32)
    messages = [str(w.message) for w in told]
    assert messages == ["the output's /Channel2 is written without the input's HDF5 filter scaleoffset (it is bound "
                        "to the input's stored type), so it may take more space; its values are the same"]  # fmt: skip
    with h5py.File(out) as fout:
        assert [code for code, _ in _pipeline(fout["Channel1"])] == [40123]
        assert _pipeline(fout["Channel2"]) == []
        for name in ("Channel1", "Channel2"):
            np.testing.assert_array_equal(fout[name][()], data + np.float32(0.25))
