"""Reader refusals that say what is wrong: line endings, timestamps, files in use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fluorodn import formats
from fluorodn.errors import FileFormatError
from fluorodn.formats.oceanview import OceanViewText
from fluorodn.formats.timing import TIME_FORMATS

from .conftest import spectra, stamps


def _refused(path: Path) -> str:
    with pytest.raises(FileFormatError) as info:
        formats.read(path)
    text = str(info.value)
    assert str(path) in text and "\n" not in text
    return text


def test_a_crlf_export_whose_last_line_ends_in_lf_alone_is_complete(export):
    values = np.round(spectra(20, 6), 2)
    path = export(values, newline="\r\n")
    path.write_bytes(path.read_bytes()[:-2] + b"\n")
    rec = OceanViewText.read(path)
    np.testing.assert_array_equal(rec.values, values)
    np.testing.assert_allclose(rec.times, np.arange(20) * 0.2, atol=1e-9)


def test_a_crlf_header_above_lf_rows_is_read_and_written_back_as_it_was(export):
    values = np.round(spectra(20, 6), 2)
    path = export(values)
    raw = path.read_bytes()
    end = raw.index(b"\n", raw.index(b">>>>>Begin"))
    raw = raw[:end].replace(b"\n", b"\r\n") + b"\r\n" + raw[end + 1 :]
    path.write_bytes(raw)
    rec = OceanViewText.read(path)
    np.testing.assert_array_equal(rec.values, values)
    assert rec.text(rec.values) == raw
    assert rec.text(rec.values, "Denoised by: x").count(b"Denoised by: x\r\n>>>>>Begin") == 1


def test_line_endings_that_cannot_be_read_are_named(export):
    values = np.round(spectra(20, 6), 2)
    path = export(values)
    good = path.read_bytes()
    path.write_bytes(good.replace(b"\n", b"\r"))
    text = _refused(path)
    assert "line endings" in text and "Begin Spectral Data" not in text
    rows = good.replace(b"\n", b"\r\n").split(b"\r\n")
    rows[20] += b"\n" + rows.pop(21)  # one row ends in \n alone among \r\n rows
    path.write_bytes(b"\r\n".join(rows))
    text = _refused(path)
    assert "mixes line endings" in text and "values" not in text


@pytest.mark.parametrize("stamp", ["2017-01-20T10:00:00.000Z", "01/20/2017 10:00:00.000"])
def test_an_unreadable_timestamp_lists_the_formats_read_once(export, stamp):
    path = export(np.round(spectra(20, 6), 2), times=[stamp, *stamps(20, "clock")[1:]])
    text = _refused(path)
    assert stamp in text and text.count(TIME_FORMATS) == 1


def test_an_export_holding_an_infinity_is_read_without_a_numpy_warning(export):
    """A value spelled "Infinity" leaves its row without a spectral centroid; reading the rows for
    interleaved light sources says nothing of it (the value itself is the run's to refuse or fill)."""
    import warnings

    values = np.round(spectra(40, 12), 2)
    values[7, 3] = np.inf
    path = export(values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (stream,) = formats.read(path).streams
    assert np.isinf(stream[7, 3]) and np.isfinite(np.delete(stream, 7, axis=0)).all()


def test_an_hdf5_dataset_without_samples_is_named_as_empty(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("Channel1", shape=(0, 152), dtype="f4")
        f["Wavelength"] = np.linspace(477.0, 595.0, 152)
    text = _refused(path)
    assert "Channel1 holds no values (0 x 152)" in text and "is not a 2D numeric dataset" not in text
