"""OceanView time-series exports and folders of one-spectrum exports: every dialect read, written back exactly."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from fluorodn import formats
from fluorodn.errors import FileFormatError
from fluorodn.formats.oceanview import OceanViewFolder, OceanViewText, header, parse_date, start_time

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

    def line_of(start: str) -> int:
        return next(k for k, line in enumerate(good.splitlines(), 1) if line.startswith(start))

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
        "text.txt": (
            good.replace("10:00:00.200\t", "10:00:00.200\tabc", 1),
            [f"line {line_of('10:00:00.200')} (spectrum 1) holds 'abc", "not a number"],
        ),
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


def test_folder_with_two_files_of_one_index_names_them(tmp_path):
    folder = tmp_path / "spectra"
    folder.mkdir()
    wl = np.linspace(477, 595, 8)
    for k in range(4):
        _one_spectrum(folder, k, wl, np.arange(8.0) + k, clock=36000.0 + 0.2 * k)
    twin = _one_spectrum(folder, 2, wl, np.arange(8.0), clock=36000.9)
    twins = r"FLMS12345__2__10-00-00-[49]00.txt and FLMS12345__2__10-00-00-[49]00.txt"
    with pytest.raises(FileFormatError, match=twins + " carry the same index __2__"):
        OceanViewFolder.read(folder)
    assert twin.exists()


def test_a_value_that_is_not_a_number_in_a_one_spectrum_file_is_named_by_its_bin(tmp_path):
    folder = tmp_path / "spectra"
    folder.mkdir()
    wl = np.linspace(477, 595, 8)
    paths = [_one_spectrum(folder, k, wl, np.arange(8.0) + k, clock=36000.0 + 0.2 * k) for k in range(3)]
    lines = paths[2].read_text().splitlines()
    at = next(k for k, line in enumerate(lines) if line.startswith(f"{wl[3]:.2f}\t"))
    lines[at] = f"{wl[3]:.2f}\tabc"
    paths[2].write_text("\n".join(lines) + "\n")
    with pytest.raises(FileFormatError, match=rf"line {at + 1} \(bin 3\) holds 'abc', which is not a number"):
        OceanViewFolder.read(folder)


def test_folder_without_index_crossing_midnight_is_read_in_time_order(tmp_path):
    folder = tmp_path / "midnight"
    folder.mkdir()
    values = np.round(spectra(30, 8), 2)
    wl = np.linspace(477, 595, 8)
    for k in range(30):  # 23:59:57.000 to 00:00:02.800, named by their time only
        _one_spectrum(folder, k, wl, values[k], clock=86400 - 3.0 + 0.2 * k, pattern="rec_FLMS12345_{clock}")
    rec = OceanViewFolder.read(folder)
    np.testing.assert_array_equal(rec.values, values)
    np.testing.assert_allclose(rec.times, np.arange(30) * 0.2, atol=1e-9)
    assert rec.files[0].name == "rec_FLMS12345_23-59-57-000.txt"
    other = tmp_path / "day"  # within one day, a long pause: still in order of the clock
    other.mkdir()
    for k, clock in enumerate([36000.0, 36000.2, 36000.4, 72000.0, 72000.2]):
        _one_spectrum(other, k, wl, values[k], clock=clock, pattern="rec_{clock}")
    np.testing.assert_allclose(OceanViewFolder.read(other).times, [0, 0.2, 0.4, 36000, 36000.2], atol=1e-9)


def _with_field(path: Path, row: int, column: int, text: str) -> bytes:
    """The bytes of the export ``path`` with value ``column`` of spectrum ``row`` written as ``text``."""
    lines = path.read_text().split("\n")
    at = lines.index(">>>>>Begin Spectral Data<<<<<") + 2 + row
    fields = lines[at].split("\t")
    fields[1 + column] = text
    lines[at] = "\t".join(fields)
    return "\n".join(lines).encode()


def test_a_number_in_exponent_notation_leaves_the_others_at_their_precision(export, tmp_path):
    values = np.round(spectra(40, 8), 2)
    path = tmp_path / "exp.txt"
    path.write_bytes(_with_field(export(values), 3, 2, "1.2E-4"))  # as Java's Double.toString writes < 1e-3
    path.write_bytes(_with_field(path, 7, 5, "-3.25E-5"))
    rec = OceanViewText.read(path)
    assert not rec.style.exponent and rec.style.decimals == 2
    assert rec.values[3, 2] == 1.2e-4 and rec.values[7, 5] == -3.25e-5
    assert rec.text(rec.values) == path.read_bytes()
    new = rec.values * 1.5 + 0.123456
    back = OceanViewText.read(_written(rec, new, tmp_path / "out.txt"))
    odd = np.zeros(new.shape, dtype=bool)
    odd[3, 2] = odd[7, 5] = True
    np.testing.assert_array_equal(back.values[~odd], np.round(new, 2)[~odd])  # was 3 significant digits
    np.testing.assert_allclose(back.values[odd], new[odd], rtol=0, atol=0.5e-5)  # to 1e-5 as 1.2E-4 was written
    out = (tmp_path / "out.txt").read_text()
    assert "\t1.2364E-1\t" in out and "\t1.234072E-1\t" in out  # 1.2E-4 and -3.25E-5 * 1.5 + 0.123456


def _written(rec: OceanViewText, values: np.ndarray, dest: Path) -> Path:
    rec.write(dest, values)
    return dest


@pytest.mark.parametrize(
    ("spell", "mantissa"),
    [(lambda x: f"{x:.5E}", 5), (lambda x: f"{x:.4e}".replace("e+0", "e").replace("e-0", "e-"), 4)],
)
def test_exports_in_exponent_notation_round_trip(export, tmp_path, spell, mantissa):
    values = np.round(spectra(30, 6, seed=2), 2)
    path = export(values)
    lines = path.read_text().split("\n")
    at = lines.index(">>>>>Begin Spectral Data<<<<<") + 2
    for k in range(30):
        stamp = lines[at + k].split("\t")[0]
        lines[at + k] = "\t".join([stamp, *(spell(x) for x in values[k])])
    lines[at + 4] = lines[at + 4].rsplit("\t", 1)[0] + "\t0.0"  # a number in fixed notation among them
    path.write_text("\n".join(lines))
    rec = OceanViewText.read(path)
    assert rec.style.exponent and rec.style.decimals == mantissa
    assert rec.text(rec.values) == path.read_bytes()
    new = rec.values + 0.0123
    np.testing.assert_allclose(OceanViewText.read(_written(rec, new, tmp_path / "o.txt")).values, new, rtol=1e-4)


def test_an_export_cut_inside_its_last_row_is_refused_as_incomplete(export, tmp_path):
    full = export(np.round(spectra(20, 6), 2)).read_bytes()
    for cut in (6, 3, len(full.rsplit(b"\n", 2)[1]) - 2):  # inside the last number, in a value, in the timestamp
        path = tmp_path / f"cut{cut}.txt"
        path.write_bytes(full[:-cut])
        _refused(path, "last spectrum is incomplete", "may still be being written")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-16-le"])
def test_utf16_exports_are_read_and_written_back_in_utf16(export, tmp_path, codec):
    from fluorodn.io import find_inputs

    values = np.round(spectra(20, 6), 2)
    text = export(values).read_text()
    folder = tmp_path / "u16"
    folder.mkdir()
    path = folder / "rec.txt"
    raw = ("\ufeff" + text).encode(codec) if codec != "utf-16" else text.encode(codec)
    path.write_bytes(raw)
    rec = OceanViewText.read(path)
    np.testing.assert_array_equal(rec.values, values)
    np.testing.assert_allclose(rec.times, np.arange(20) * 0.2, atol=1e-9)
    assert rec.text(rec.values) == raw
    assert rec.text(rec.values, "Denoised by: x").decode(codec).lstrip("\ufeff").count("Denoised by: x") == 1
    assert find_inputs([str(folder)]) == [path]  # a folder input takes it
    assert "Date: Fri Jan 20 10:37:06 CET 2017" in header(path) and start_time(path)[1] == "CET"
    path.write_bytes(raw[:-1])
    _refused(path, "UTF-16", "incomplete")


def test_folder_leaves_out_notes_and_a_dark_spectrum_with_a_warning(tmp_path):
    from fluorodn.formats.oceanview import is_one_spectrum_folder

    values = np.round(spectra(6, 8), 2)
    wl = np.linspace(477, 595, 8)
    for name, pattern, dark in (("numbered", "FLMS12345__{k}__{clock}", "Dark_FLMS12345_{clock}"),
                                ("times", "FLMS12345_{clock}", "FLMS12345_dark_{clock}")):  # fmt: skip
        folder = tmp_path / name
        folder.mkdir()
        for k in range(6):
            _one_spectrum(folder, k, wl, values[k], clock=36000 + 0.2 * k, pattern=pattern)
        _one_spectrum(folder, 0, wl, np.full(8, 100.0), clock=35940, pattern=dark)  # a minute before
        (folder / "Experiment log.txt").write_text("mouse 3, 470 nm\n")  # sorts before the exports
        (folder / "notes.txt").write_text("good signal\n")
        assert is_one_spectrum_folder(folder)
        with pytest.warns(UserWarning, match="left out") as caught:
            rec = OceanViewFolder.read(folder)
        np.testing.assert_array_equal(rec.values, values)
        np.testing.assert_allclose(rec.times, np.arange(6) * 0.2, atol=1e-9)
        said = " ".join(str(w.message) for w in caught)
        assert "left out 2 .txt files" in said and "Experiment log.txt" in said and "notes.txt" in said
        assert "Dark_FLMS12345_09-59-00-000.txt" in said or "FLMS12345_dark_09-59-00-000.txt" in said
        assert start_time(folder)[1] == "CET"  # from the first spectrum's header, not the log's


def test_a_folder_of_one_spectrum_and_time_series_exports_is_no_recording(export, tmp_path):
    from fluorodn.formats.oceanview import is_one_spectrum_folder

    folder = tmp_path
    export(np.round(spectra(20, 8), 2), name="series.txt")
    wl = np.linspace(477, 595, 8)
    spectrum = _one_spectrum(folder, 0, wl, np.arange(8.0))
    _one_spectrum(folder, 1, wl, np.arange(8.0), clock=36000.2)
    assert not is_one_spectrum_folder(folder)
    with pytest.raises(FileFormatError, match="time-series exports"):
        OceanViewFolder.read(folder)
    text = _refused(spectrum, "one spectrum", "time-series exports too")
    assert "give the folder" not in text


def test_non_finite_values_are_written_as_the_input_spells_them(export, tmp_path):
    path = export(np.round(spectra(10, 6), 2))
    path.write_bytes(_with_field(path, 2, 1, "NaN"))
    path.write_bytes(_with_field(path, 2, 2, "Infinity"))
    path.write_bytes(_with_field(path, 5, 0, "-Infinity"))
    rec = OceanViewText.read(path)
    assert np.isnan(rec.values[2, 1]) and rec.values[2, 2] == np.inf and rec.values[5, 0] == -np.inf
    assert rec.text(rec.values) == path.read_bytes()
    new = rec.values.copy()
    new[8, 3] = np.nan
    rows = rec.text(new).decode().split("\n")[-11:-1]
    assert rows[8].split("\t")[4] == "NaN" and rows[2].split("\t")[2:4] == ["NaN", "Infinity"]
    assert rows[5].split("\t")[1] == "-Infinity"


@pytest.mark.parametrize("sep", ["\t", " "])
def test_am_pm_timestamps_are_refused_as_such(export, tmp_path, sep):
    values = np.round(spectra(10, 6), 2)
    stamps_12h = [f"10:00:{0.2 * k:06.3f} AM" for k in range(10)]
    path = export(values, times=stamps_12h, sep=sep)
    _refused(path, "'10:00:00.000 AM'", "AM/PM", "not read")


def test_a_partly_written_one_spectrum_file_is_said_incomplete(tmp_path):
    wl = np.linspace(477, 595, 8)
    for cut, n in (("line", 5), ("row", 5), ("line", 2)):
        folder = tmp_path / f"{cut}{n}"
        folder.mkdir()
        for k in range(n):
            last = _one_spectrum(folder, k, wl, np.arange(8.0) + k, clock=36000 + 0.2 * k)
        head, marker, body = last.read_text().partition(">>>>>Begin Spectral Data<<<<<\n")
        rows = body.split("\n")
        part = "\n".join(rows[:4]) + "\n" + (rows[4][:4] if cut == "row" else "")  # 4 of 8 rows, or 4 and a half
        last.write_text(head + marker + part)
        with pytest.raises(FileFormatError, match="incomplete") as info:
            OceanViewFolder.read(folder)
        assert str(last) in str(info.value) and "may still be being written" in str(info.value)


def test_epoch_milliseconds_are_read_as_milliseconds_not_seconds(export, tmp_path):
    values = np.round(spectra(30, 6), 2)
    rec = OceanViewText.read(export(values, times=[str(1484905200000 + 200 * k) for k in range(30)]))
    np.testing.assert_allclose(rec.times, np.arange(30) * 0.2, atol=1e-9)
    path = export(values, name="us.txt", times=[str(1484905200000000 + 200000 * k) for k in range(30)])
    _refused(path, "too large for seconds or milliseconds")


@pytest.mark.parametrize("sep", ["\t", " "])
def test_a_date_time_with_epoch_milliseconds_is_read_when_they_agree(export, tmp_path, sep):
    values = np.round(spectra(30, 6), 2)
    stamps_ms = [f"2017-01-20 10:00:{0.2 * k:09.6f}{sep}{1484902800000 + 200 * k}" for k in range(30)]
    path = export(values, times=stamps_ms, sep=sep)
    rec = OceanViewText.read(path)
    np.testing.assert_array_equal(rec.values, values)
    np.testing.assert_allclose(rec.times, np.arange(30) * 0.2, atol=1e-9)
    assert rec.text(rec.values) == path.read_bytes()
    stamps_ms[7] = stamps_ms[7][:-3] + "900"  # 700 ms off
    _refused(export(values, name="off.txt", times=stamps_ms, sep=sep), "second leading column", "spectrum 7")
    other = export(values, name="other.txt", times=[f"10:00:{0.2 * k:06.3f}{sep}{k}" for k in range(30)], sep=sep)
    _refused(other, "second leading column", "one value more")


def test_placeholder_timestamps_since_the_start_start_at_the_header_date(export, tmp_path):
    from datetime import datetime, timedelta, timezone

    values = np.round(spectra(30, 6), 2)
    since_start = [f"1970-01-01 00:00:{0.2 * (k + 1):09.6f}" for k in range(30)]  # 0.2 s, 0.4 s, ... after the start
    path = export(values, times=since_start)
    header_date = datetime(2017, 1, 20, 10, 37, 6, tzinfo=timezone(timedelta(hours=1)))
    rec = formats.read(path)
    assert rec.meta["start"] == header_date and start_time(path) == (header_date, "CET")
    np.testing.assert_allclose(rec.times, np.arange(30) * 0.2, atol=1e-9)
    undated = export(values, name="undated.txt", times=since_start, header=HEADER.replace("Date: ", "Saved: "))
    assert formats.read(undated).meta["start"] is None and start_time(undated) == (None, "")


@pytest.mark.parametrize("mode", ["Pixels", "Raman Shifts"])
def test_an_x_axis_other_than_wavelengths_is_read_without_wavelengths(export, tmp_path, mode):
    from fluorodn.unmixing import UnmixError, unmix_file

    values = np.round(spectra(60, 24), 2)
    head = HEADER.replace("XAxis mode: Wavelengths", f"XAxis mode: {mode}")
    path = export(values, wavelengths=np.arange(24.0) if mode == "Pixels" else np.linspace(400, 3000, 24), header=head)
    rec = formats.read(path)
    assert rec.wavelengths is None and "nm" not in rec.describe()
    np.testing.assert_array_equal(rec.channels[0].data, values)
    assert OceanViewText.read(path).text(values) == path.read_bytes()
    with pytest.raises(UnmixError, match="does not store its wavelengths; give them"):
        unmix_file(path, "example", denoise=False, output=tmp_path / "u.csv")
    folder = tmp_path / "spectra"
    folder.mkdir()
    for k in range(3):
        one = _one_spectrum(folder, k, np.arange(8.0), values[k, :8], clock=36000 + 0.2 * k)
        one.write_text(one.read_text().replace("XAxis mode: Wavelengths", f"XAxis mode: {mode}"))
    assert OceanViewFolder.read(folder).wavelengths is None


@pytest.mark.parametrize(
    ("line", "other"),
    [
        ("Integration Time (sec): 1.000000E-1", "Integration Time (sec): 2.000000E-1"),
        ("Scans to average: 1", "Scans to average: 4"),
        ("Boxcar width: 0", "Boxcar width: 2"),
        ("Electric dark correction enabled: true", "Electric dark correction enabled: false"),
        ("Nonlinearity correction enabled: false", "Nonlinearity correction enabled: true"),
    ],
)
def test_a_folder_of_spectra_taken_with_different_settings_is_refused_naming_the_setting(tmp_path, line, other):
    values = np.round(spectra(9, 8), 2)
    wl = np.linspace(477, 595, 8)
    paths = [_one_spectrum(tmp_path, k, wl, values[k], clock=36000 + 0.2 * k) for k in range(9)]
    for p in paths[6:]:
        p.write_text(p.read_text().replace(line, other))
    text = _refused(tmp_path, other, line, paths[6].name, paths[0].name, "not one recording")
    assert text.count(";") == 1
    same = line.split(": ")[0] + ": 0.1" if "Integration" in line else line  # the same value written otherwise
    for p in paths[6:]:
        p.write_text(p.read_text().replace(other, same))
    np.testing.assert_array_equal(OceanViewFolder.read(tmp_path).values, values)


def test_a_folder_leaves_out_recordings_of_other_formats_with_a_warning(tmp_path):
    values = np.round(spectra(6, 8), 2)
    wl = np.linspace(477, 595, 8)
    for k in range(6):
        _one_spectrum(tmp_path, k, wl, values[k], clock=36000 + 0.2 * k)
    (tmp_path / "session.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    (tmp_path / "notes.txt").write_text("mouse 3\n")
    with pytest.warns(UserWarning, match="left out") as caught:
        rec = OceanViewFolder.read(tmp_path)
    np.testing.assert_array_equal(rec.values, values)
    said = [str(w.message) for w in caught]
    assert any("session.h5" in s and "input of its own" in s for s in said), said
    assert any("notes.txt" in s for s in said), said


def _spectrasuite(folder: Path, k: int, wl: np.ndarray, values: np.ndarray) -> Path:
    head = (
        "SpectraSuite Data File\n++++++++++++++++++++++++++++++++++++\nDate: Fri Jan 20 10:37:06 CET 2017\n"
        "User: lab\nSpectrometers: USB2G12345\nIntegration Time (usec): 100000 (USB2G12345)\n"
        "Spectra Averaged: 1 (USB2G12345)\nBoxcar Smoothing: 0 (USB2G12345)\n"
        f"Number of Pixels in Processed Spectrum: {wl.size}\n>>>>>Begin Processed Spectral Data<<<<<\n"
    )
    rows = "".join(f"{a:.2f}\t{b:.2f}\n" for a, b in zip(wl, values, strict=True))
    path = folder / f"USB2G12345_10-37-{6 + k:02d}-469.txt"
    path.write_text(head + rows + ">>>>>End Processed Spectral Data<<<<<\n")
    return path


def test_a_folder_of_spectrasuite_processed_spectra_is_read_as_one_recording(tmp_path):
    from fluorodn.io import find_inputs

    folder = tmp_path / "f_ss"
    folder.mkdir()
    values = np.round(spectra(10, 8), 2)
    wl = np.linspace(477, 595, 8)
    paths = [_spectrasuite(folder, k, wl, values[k]) for k in range(10)]
    assert find_inputs([str(folder)]) == [folder]
    rec = formats.read(folder)
    assert rec.format == "oceanview folder"
    np.testing.assert_array_equal(rec.streams[0], values)
    np.testing.assert_allclose(rec.wavelengths, np.round(wl, 2))
    np.testing.assert_allclose(rec.times, np.arange(10.0), atol=1e-9)
    out = tmp_path / "out"
    out.mkdir()
    rec._source.write(out, values)
    assert all((out / p.name).read_bytes() == p.read_bytes() for p in paths)
    paths[4].write_text(paths[4].read_text().replace("100000 (USB2G12345)", "200000 (USB2G12345)"))
    _refused(folder, "Integration Time (usec): 200000", paths[4].name, "not one recording")


@pytest.mark.parametrize("bom", [False, True])
def test_utf16_big_endian_is_read_with_or_without_its_byte_order_mark(export, tmp_path, bom):
    values = np.round(spectra(20, 6), 2)
    text = export(values).read_text()
    path = tmp_path / "be.txt"
    raw = (("\ufeff" if bom else "") + text).encode("utf-16-be")
    path.write_bytes(raw)
    rec = OceanViewText.read(path)
    np.testing.assert_array_equal(rec.values, values)
    assert rec.text(rec.values) == raw
    assert "Date: Fri Jan 20 10:37:06 CET 2017" in header(path)
    path.write_bytes(text.encode("utf-16-le"))  # little-endian without its mark still
    np.testing.assert_array_equal(OceanViewText.read(path).values, values)
