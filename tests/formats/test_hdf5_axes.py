"""HDF5 with Time/Wavelength axes: channels found by convention or --key, oriented by the axes, written back."""

from __future__ import annotations

import json
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


def test_declared_rate_that_disagrees_is_refused(tmp_path):
    with pytest.raises(FileFormatError, match="declared sampling rate 1000 Hz"):
        formats.read(_axes_file(tmp_path / "r.h5", sampling_rate=1000.0))
    with pytest.raises(FileFormatError, match="declared sampling rate 20 Hz"):
        formats.read(_axes_file(tmp_path / "s.h5"), rate=20.0)
    assert formats.read(_axes_file(tmp_path / "u.h5"), rate=5.02).channels


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
    with pytest.raises(FileFormatError, match="key='nope' is not a 2D or 3D numeric dataset"):
        formats.read(tmp_path / "misfit.h5", key="nope")
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
