"""OceanView time-series exports and folders of one-spectrum exports: every dialect read, written back exactly."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from fluorodn import formats
from fluorodn.errors import FileFormatError
from fluorodn.formats.oceanview import OceanViewFolder, OceanViewText, parse_date

from .conftest import HEADER, spectra, stamps


@pytest.mark.parametrize("sep", ["\t", " "])
@pytest.mark.parametrize("decimal", [".", ","])
@pytest.mark.parametrize("stamp_kind", ["clock", "dated", "seconds"])
def test_dialects_read_and_round_trip_exactly(export, sep, decimal, stamp_kind):
    values = np.round(spectra(120, 16), 2)
    path = export(values, sep=sep, decimal=decimal, stamp_kind=stamp_kind)
    rec = OceanViewText.read(path)
    np.testing.assert_array_equal(rec.values, values)
    np.testing.assert_allclose(rec.times, np.arange(120) * 0.2, atol=1e-6)
    np.testing.assert_allclose(rec.wavelengths, np.round(np.linspace(477, 595, 16), 2))
    assert rec.style.decimal == decimal and rec.style.decimals == 2
    assert rec.text(rec.values) == path.read_bytes()


@pytest.mark.parametrize("decimals", [0, 1, 4])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("footer", ["", ">>>>>End Spectral Data<<<<<\n", "\n\n"])
def test_precision_line_endings_and_footers_round_trip(export, decimals, newline, footer):
    values = np.round(spectra(50, 8, seed=3), decimals)
    path = export(values, decimals=decimals, newline=newline, footer=footer)
    rec = OceanViewText.read(path)
    assert rec.style.decimals == decimals
    np.testing.assert_array_equal(rec.values, values)
    assert rec.text(rec.values) == path.read_bytes()


def test_written_values_are_at_the_input_precision_with_one_header_line_more(export, tmp_path):
    values = np.round(spectra(60, 10), 3)
    path = export(values, decimals=3)
    rec = OceanViewText.read(path)
    new = values * 0.5 + 1e-4 * np.pi  # more digits than the file holds
    out = tmp_path / "out.txt"
    rec.write(out, new, "Denoised by: fluorodn test")
    lines_in, lines_out = path.read_text().splitlines(), out.read_text().splitlines()
    marker = lines_in.index(">>>>>Begin Spectral Data<<<<<")
    assert lines_out[:marker] == lines_in[:marker]
    assert lines_out[marker] == "Denoised by: fluorodn test"
    assert lines_out[marker + 1 : marker + 3] == lines_in[marker : marker + 2]  # marker and wavelength row
    assert [ln.split("\t")[0] for ln in lines_out[marker + 3 :]] == [ln.split("\t")[0] for ln in lines_in[marker + 2 :]]
    back = OceanViewText.read(out)
    np.testing.assert_array_equal(back.values, np.round(new, 3))
    np.testing.assert_array_equal(back.times, rec.times)


def test_header_fields_and_java_dates(export):
    rec = OceanViewText.read(export(np.round(spectra(20, 6), 2)))
    assert rec.meta["Spectrometer"] == "FLMS12345"
    assert rec.meta["Integration Time (sec)"] == "1.000000E-1"
    assert rec.meta["time_zone"] == "CET" and rec.meta["start"].utcoffset().total_seconds() == 3600
    assert parse_date("Fri Jan 20 10:37:06 CST 2017")[0].tzinfo is None  # US Central or China: not resolved
    when, zone = parse_date("Mon Mar 04 09:05:01 GMT+01:00 2024")
    assert zone == "GMT+01:00" and when.utcoffset().total_seconds() == 3600 and when.hour == 9
    assert parse_date("Tue Apr 02 23:59:59 UTC 2024")[0].utcoffset().total_seconds() == 0
    assert parse_date("2024-04-02")[0] is None


def test_midnight_in_clock_times_adds_a_day(export):
    ts = stamps(30, "clock", start=86400 - 3.0)
    rec = OceanViewText.read(export(np.round(spectra(30, 6), 2), times=ts))
    np.testing.assert_allclose(rec.times, np.arange(30) * 0.2, atol=1e-9)


def test_wavelength_row_may_start_with_a_label_or_an_empty_field(export, tmp_path):
    values = np.round(spectra(20, 6), 2)
    path = export(values)
    raw = path.read_text().replace(">>>>>\n477.00", ">>>>>\nTime\t477.00")
    (tmp_path / "label.txt").write_text(raw)
    assert OceanViewText.read(tmp_path / "label.txt").wavelengths.size == 6
    (tmp_path / "empty.txt").write_text(path.read_text().replace(">>>>>\n477.00", ">>>>>\n\t477.00"))
    rec = OceanViewText.read(tmp_path / "empty.txt")
    assert rec.text(rec.values) == (tmp_path / "empty.txt").read_bytes()


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(FileFormatError) as info:
        formats.read(path)
    text = str(info.value)
    assert str(path) in text
    for w in words:
        assert w in text, text
    assert "\n" not in text
    return text


def test_unknown_layouts_are_refused_with_what_was_expected(export, tmp_path):
    values = np.round(spectra(20, 6), 2)
    good = export(values).read_text()
    cases = {
        "nomarker.txt": (good.replace(">>>>>Begin Spectral Data<<<<<\n", ""), ["Begin Spectral Data", "expected"]),
        "nowl.txt": (good.replace(good.splitlines()[14] + "\n", ""), ["wavelengths", "expected"]),
        "extra.txt": (
            good.replace("10:00:00.200\t", "10:00:00.200\t1.00\t"),
            ["spectrum 1 holds 7 values", "expected"],
        ),
        "gap.txt": (good.replace("10:00:00.400", "\n10:00:00.400"), ["blank line", "expected"]),
        "csv.txt": (good.replace("10:00:00.200\t", "10:00:00.200\t1.5,2.5 "), ["both '.' and ','"]),
        "stamp.txt": (good.replace("10:00:00.000", "ten o'clock"), ["ten o'clock", "expected"]),
        "back.txt": (good.replace("10:00:00.400", "09:00:00.400"), ["spectrum 2", "increase"]),
        "pixels.txt": (
            good.replace("Number of Pixels in Spectrum: 6", "Number of Pixels in Spectrum: 2048"),
            ["2048 pixels"],
        ),
        "text.txt": (good.replace("10:00:00.200\t", "10:00:00.200\tabc", 1), ["not a number"]),
    }
    for name, (text, words) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        _refused(path, *words)


def test_one_spectrum_file_given_alone_is_refused_pointing_at_its_folder(tmp_path):
    path = _one_spectrum(tmp_path, 0, np.linspace(477, 595, 8), np.arange(8.0))
    _refused(path, "one spectrum", "folder")


def _one_spectrum(
    folder: Path, k: int, wl: np.ndarray, values: np.ndarray, clock: float = 36000.0,
    pattern: str = "FLMS12345__{k}__{clock}",
) -> Path:  # fmt: skip
    s, ms = divmod(round(clock * 1000) % 86_400_000, 1000)  # the time of day: past midnight from 00-00-00-000
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    name = pattern.format(k=k, clock=f"{h:02d}-{m:02d}-{s:02d}-{ms:03d}") + ".txt"
    head = HEADER.format(name=name, pixels=wl.size)
    rows = "\n".join(f"{a:.2f}\t{b:.2f}" for a, b in zip(wl, values, strict=True))
    path = folder / name
    path.write_text(head + rows + "\n")
    return path


def test_folder_of_one_spectrum_files_is_one_recording_in_time_order(tmp_path):
    folder = tmp_path / "spectra"
    folder.mkdir()
    values = np.round(spectra(25, 8), 2)
    wl = np.linspace(477, 595, 8)
    order = list(range(25))
    random.Random(0).shuffle(order)  # files written in any order; the index in the names decides
    for k in order:
        _one_spectrum(folder, k, wl, values[k], clock=86400 - 2.0 + 0.2 * k)  # over midnight
    assert formats.is_spectrum_folder(folder)
    rec = OceanViewFolder.read(folder)
    np.testing.assert_array_equal(rec.values, values)
    np.testing.assert_allclose(rec.times, np.arange(25) * 0.2, atol=1e-9)
    out = tmp_path / "out"
    out.mkdir()
    rec.write(out, rec.values)
    for p in folder.iterdir():
        assert (out / p.name).read_bytes() == p.read_bytes()


@pytest.mark.parametrize(
    "pattern",
    [
        "USB4F012345_{clock}",
        "rec_FLMS12345_{clock}__{k}__",
        "Spectrum_HR4C1234_{clock}_{k:04d}",
        "Absorbance_USB4F03720__{k}__{clock}",
        "2017-01-20_USB4F012345_{clock}",
        "run_09-00-00-000_FLMS12345__{k}__{clock}",
        "2017-01-20-{clock}",
    ],
)
def test_folder_reads_the_clock_time_wherever_the_name_holds_it(tmp_path, pattern):
    folder = tmp_path / "spectra"
    folder.mkdir()
    values = np.round(spectra(12, 8), 2)
    wl = np.linspace(477, 595, 8)
    for k in (5, 0, 11, 3, 8, 1, 10, 2, 7, 4, 9, 6):
        _one_spectrum(folder, k, wl, values[k], clock=37026.469 + 0.25 * k, pattern=pattern)
    assert formats.is_spectrum_folder(folder)
    rec = OceanViewFolder.read(folder)
    np.testing.assert_array_equal(rec.values, values)
    np.testing.assert_allclose(rec.times, np.arange(12) * 0.25, atol=1e-9)


def test_folder_refuses_mixed_wavelengths_and_names_without_times(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    wl = np.linspace(477, 595, 8)
    _one_spectrum(folder, 0, wl, np.arange(8.0))
    _one_spectrum(folder, 1, wl + 1, np.arange(8.0), clock=36000.2)
    with pytest.raises(FileFormatError, match="wavelengths differ"):
        OceanViewFolder.read(folder)
    other = tmp_path / "names"
    other.mkdir()
    for k in range(2):
        _one_spectrum(other, k, wl, np.arange(8.0)).rename(other / f"spectrum{k}.txt")
    with pytest.raises(FileFormatError, match="clock time"):
        OceanViewFolder.read(other)
