"""Ocean Insight OceanView exports: a time-series text file, or a folder of one-spectrum files.

A **time-series export** (``.txt``) is a header of ``Key: value`` lines (``Data from ... Node``,
``Date: Fri Jan 20 10:37:06 CET 2017``, ``Spectrometer:``, ``Integration Time (sec):``,
``Number of Pixels in Spectrum:``, ...), the line ``>>>>>Begin Spectral Data<<<<<``, one row of
wavelengths (nm), then one row per spectrum: a timestamp and one value per wavelength. A header
whose ``XAxis mode:`` is not wavelengths (``Pixels``, ``Raman Shifts``) has that axis in the row
instead: its spectra are read without wavelengths (None), as no wavelength in nm is known.
Timestamps are clock times (``10:37:06.469``), dated times (``1970-01-01 00:00:00.200000``,
the placeholder date OceanView writes when it has none), seconds, or milliseconds since 1970
(a number of 1e11 or more, which no count of seconds reaches); a date-time may be followed by
the same time in milliseconds since 1970, as a second leading field that must agree with it.
Fields are separated by tabs or spaces; numbers use a decimal point or a decimal comma; the
text is UTF-8, ANSI or UTF-16 (by its byte-order mark, else by the byte order its marker line
shows). Lines end in ``\r\n`` or ``\n``, the rows' as the line after the marker line (the
header's may differ; a last line ending in ``\n`` alone among ``\r\n`` rows is complete).
Blank lines and an end marker (``>>>>>End Spectral Data<<<<<``) may follow the last spectrum; a
last row without the line ending of the others is a file still being written, and is refused.

A **one-spectrum export** holds the same header and marker, then one row per wavelength:
wavelength and value. SpectraSuite's processed-spectrum exports are laid out the same, with the
marker ``>>>>>Begin Processed Spectral Data<<<<<``, and are read as such. A folder of them is one
recording (see :class:`OceanViewFolder`), its spectra ordered by the index (``__12__``) or clock
time (``10-37-06-469``) OceanView puts in each file name.

Writing gives the input's bytes back with new values: the same header plus one line
saying how the values were made, the same wavelength row, timestamps, separators and text
encoding, and values as the input's numbers are written (:mod:`fluorodn.formats._text`): with
as many decimals as its most precise number, a number in the other notation (``1.2E-4`` among
fixed numbers) to the same last digit, non-finite values spelled as the input spells them
(``NaN``, ``Infinity``). Anything else is refused with a sentence saying what was expected.
"""

from __future__ import annotations

import itertools
import os
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError
from fluorodn.formats._text import NotANumberError, NumberStyle, RowLengthError, format_rows, parse_rows
from fluorodn.formats.timing import TIME_FORMATS, check_wavelengths, parse_times

__all__ = [
    "MARKER",
    "OceanViewFolder",
    "OceanViewText",
    "header",
    "is_export",
    "is_one_spectrum",
    "is_one_spectrum_folder",
    "parse_date",
    "start_time",
]

MARKER = b">>>>>Begin Spectral Data<<<<<"
#: The marker line of OceanView's exports, or of SpectraSuite's processed-spectrum exports (one spectrum
#: each, laid out as OceanView's one-spectrum exports).
_MARKER = re.compile(rb">>>>>Begin (?:Processed )?Spectral Data<<<<<")
#: The marker lines as UTF-16 text (Windows "Unicode" saves), in either byte order.
_MARKERS_16 = tuple(
    text.encode(codec)
    for text in (">>>>>Begin Spectral Data<<<<<", ">>>>>Begin Processed Spectral Data<<<<<")
    for codec in ("utf-16-le", "utf-16-be")
)
_END = b">>>>>"
_EXPECTED = (
    "expected an OceanView time-series export: header lines, the line '>>>>>Begin Spectral Data<<<<<', "
    "a row of wavelengths, then one row per spectrum (a timestamp, then one value per wavelength), "
    "separated by tabs or spaces"
)
#: A dated timestamp holds a space: with space-separated fields it is two of them.
_DATED = re.compile(rb"^\s*(\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?)([ \t]+)")
_FIRST = re.compile(rb"^\s*(\S+)([ \t]+)")
#: A 12-hour clock time: its AM/PM is a field of its own where fields are separated by spaces.
_AM_PM = re.compile(
    rb"^\s*((?:\d{4}-\d{2}-\d{2}[ T])?\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?[ \t]+[AaPp]\.?[Mm]\.?)(?=[ \t]|$)"
)
#: Milliseconds since 1970 from 1973 to the year 5138: a timestamp this large is no count of seconds.
_EPOCH_MS = (1e11, 1e14)
_EPOCH_MS_FIELD = re.compile(rb"^\d{12,14}(?:[.,]\d*)?$")
_SECONDS = re.compile(r"^[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?$")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_JAVA_DATE = re.compile(r"^\w{3} (\w{3}) +(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2}) (\S+) (\d{4})$")
_GMT_OFFSET = re.compile(r"^(?:GMT|UTC)([+-])(\d{1,2}):?(\d{2})$")
#: Zone names Java writes that stand for one offset (hours from UTC); CST, IST, BST and the like
#: name several zones and stay unresolved.
_ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "CET": 1, "CEST": 2, "MET": 1, "MEST": 2, "EET": 2,
          "EEST": 3, "MSK": 3, "EST": -5, "EDT": -4, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9,
          "AKDT": -8, "HST": -10, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13}  # fmt: skip


def parse_date(text: str) -> tuple[datetime | None, str]:
    """The ``Date:`` of an OceanView header (Java's ``EEE MMM dd HH:mm:ss zzz yyyy``) and its zone name.

    The datetime carries its offset where the zone says it: ``GMT+01:00``, or a name that
    stands for one offset (``UTC``, ``CET``, ``CEST``, ``EST``, ``PDT``, ...); a name of several
    zones (``CST``, ``IST``) leaves it naive. None when the text is not such a date.
    """
    m = _JAVA_DATE.match(text.strip())
    if m is None or m.group(1) not in _MONTHS:
        return None, ""
    mon, day, hh, mm, ss, zone, year = m.groups()
    try:
        when = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss))
    except ValueError:
        return None, ""
    if zone in _ZONES:
        return when.replace(tzinfo=timezone(timedelta(hours=_ZONES[zone]))), zone
    off = _GMT_OFFSET.match(zone)
    if off:
        sign = 1 if off.group(1) == "+" else -1
        delta = timedelta(hours=int(off.group(2)), minutes=int(off.group(3)))
        return when.replace(tzinfo=timezone(sign * delta)), zone
    return when, zone


def first_sample_time(header_date: datetime | None, stamp: str) -> datetime | None:
    """When the first spectrum was taken: its row's date and time where the row carries a real
    date (not OceanView's 1970-01-01 placeholder), or its clock time on the header's ``Date:``
    day (the day within half a day of that date's time), in the header's zone; milliseconds since
    1970 as the instant they name (in the header's zone where it has one, else UTC); the header's
    ``Date:`` itself for stamps in seconds or without a header date; None where neither says.

    A 1970-01-01 placeholder is the time since the start (``1970-01-01 00:00:00.200000``), which
    gives the header's ``Date:`` as for stamps in seconds, where it lies nearer to 0 than its time
    of day on the header's day lies to the header's time; else it is that time of day
    (``1970-01-01 10:00:00.000000``)."""
    text = stamp.strip().replace(",", ".")
    if re.match(r"^\d+(?:\.\d*)?$", text) and _EPOCH_MS[0] <= float(text) < _EPOCH_MS[1]:  # ms since 1970
        when = datetime.fromtimestamp(float(text) / 1000.0, tz=timezone.utc)
        if header_date is None or header_date.tzinfo is None:
            return when
        return when.astimezone(header_date.tzinfo)
    dated = re.match(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$", text)
    clock = re.match(r"^(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$", text)
    if dated is not None and dated.group(1) != "1970":
        y, mo, d, hh, mm, ss = dated.groups()
        try:
            when = datetime(int(y), int(mo), int(d)) + timedelta(hours=int(hh), minutes=int(mm), seconds=float(ss))
        except ValueError:
            return header_date
        return when if header_date is None else when.replace(tzinfo=header_date.tzinfo)
    if dated is not None:
        clock = re.match(r"^(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$", text.split()[-1].split("T")[-1])
    if clock is None or header_date is None:
        return header_date
    hh, mm, ss = clock.groups()
    clock_s = int(hh) * 3600 + int(mm) * 60 + float(ss)
    on_the_day = _on_the_day(header_date, clock_s)
    if dated is not None and on_the_day is not None:  # the placeholder day: a time of day, or since the start
        try:
            days = (datetime(1970, int(dated.group(2)), int(dated.group(3))) - datetime(1970, 1, 1)).days
        except ValueError:
            return header_date
        if days * 86400.0 + clock_s < abs((on_the_day - header_date).total_seconds()):
            return header_date
    return on_the_day


def _on_the_day(header_date: datetime | None, clock_s: float) -> datetime | None:
    """The time ``clock_s`` seconds after a midnight, on the day that puts it within half a day of
    ``header_date`` (None where there is no header date)."""
    if header_date is None:
        return None
    midnight = header_date.replace(hour=0, minute=0, second=0, microsecond=0)
    options = [midnight + timedelta(days=d, seconds=clock_s % 86400.0) for d in (-1, 0, 1)]
    return min(options, key=lambda when: abs(when - header_date))


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _marker_at(text: bytes) -> int:
    """Where the marker line's marker starts in ``text`` (OceanView's or SpectraSuite's), or -1."""
    found = _MARKER.search(text)
    return -1 if found is None else found.start()


def _utf16_codec(head: bytes) -> str | None:
    """The UTF-16 codec of text starting with ``head``: by its byte-order mark, else, where a marker line
    is found in it as UTF-16, by where its zero bytes fall (first of each pair of bytes in big-endian
    ASCII text, second in little-endian: the marker in one byte order is found in the other too, shifted
    by a byte); None for any other text."""
    if head.startswith(b"\xff\xfe") and head[2:4] != b"\x00\x00":  # not UTF-32's mark
        return "utf-16-le"
    if head.startswith(b"\xfe\xff"):
        return "utf-16-be"
    if not any(marker in head for marker in _MARKERS_16):
        return None
    return "utf-16-be" if head[0::2].count(0) > head[1::2].count(0) else "utf-16-le"


def _as_utf8(raw: bytes, where: str) -> tuple[bytes, str | None]:
    """``raw`` as UTF-8 and the UTF-16 codec it was written in (to write it back so), or ``raw`` and None
    where it is not UTF-16 (UTF-8, ANSI)."""
    if _marker_at(raw[: 1 << 16]) >= 0:
        return raw, None
    codec = _utf16_codec(raw[: 1 << 16])
    if codec is None:
        return raw, None
    if len(raw) % 2:
        raise FileFormatError(
            f"{where} is UTF-16 text that ends inside a character: it is incomplete (the file may still be "
            "being written)"
        )
    try:
        return raw.decode(codec).encode("utf-8"), codec
    except UnicodeDecodeError:
        raise FileFormatError(
            f"{where} starts as UTF-16 text but holds bytes that are not UTF-16; save it again as UTF-8 or ANSI text"
        ) from None


def _head(path: Path) -> bytes:
    """The first 64 KiB of ``path`` as UTF-8 text (UTF-16 decoded), or b"" where it cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return b""
    if _marker_at(head) < 0 and (codec := _utf16_codec(head)) is not None:
        return head[: len(head) // 2 * 2].decode(codec, errors="ignore").encode("utf-8")
    return head


def _header_fields(header: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in _decode(header).splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


@dataclass
class _Table:
    """Rows after the marker: the first row, then rows split into a verbatim prefix and their values."""

    newline: bytes
    header: bytes
    marker: bytes
    """The marker line with its line ending (which may differ from the rows' where the header's does)."""
    first: bytes | None
    """The wavelength row of a time series; None where every row is data (one spectrum)."""
    prefixes: list[bytes]
    """Each row's leading fields with the separators after them, as written."""
    stamps: list[bytes]
    """Each row's first field: its timestamp (time series) or wavelength (one spectrum)."""
    extra: list[bytes] | None
    """Each row's second leading field where a time series has two (date-time, then epoch milliseconds)."""
    values: np.ndarray
    style: NumberStyle
    sep: str
    row_end: bytes
    footer: list[bytes]
    fields: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    """The UTF-16 codec the file was written in (and is written back in); None for UTF-8 or ANSI."""

    def text(self, values: np.ndarray, note: str | None) -> bytes:
        """The table's bytes with ``values`` (rows x values) in place of its own, ``note`` above the marker."""
        rows = format_rows(values, self.style, self.sep)
        nl = self.newline
        out = [self.header]
        if note is not None:
            out.append(note.encode("utf-8") + self.marker[len(self.marker.rstrip(b"\r\n")) :])
        body = [p + r.encode("ascii") + self.row_end for p, r in zip(self.prefixes, rows, strict=True)]
        if self.first is not None:
            body.insert(0, self.first)
        body.extend(self.footer)
        out.append(self.marker + nl.join(body))
        text = b"".join(out)
        return text if self.encoding is None else text.decode("utf-8").encode(self.encoding)


def _leading_fields(first: bytes, row: bytes, sep: str) -> int:
    """How many fields lead each row of a time series before its values: 2 where the row holds one
    field more than the wavelength row has wavelengths and the second is milliseconds since 1970
    (a date-time, then the same time as epoch milliseconds), else 1."""
    wavelengths = 0
    for t in first.split():
        try:
            float(t.replace(b",", b"."))
        except ValueError:
            continue
        wavelengths += 1
    if sep == "\t":
        fields = [f for f in row.rstrip(b" \t").split(b"\t") if f]
    else:
        m = _DATED.match(row)
        fields = [row[: m.end()], *row[m.end() :].split()] if m else row.split()
    if len(fields) == wavelengths + 2 and _EPOCH_MS_FIELD.match(fields[1].strip()):
        return 2
    return 1


def _cut(ln: bytes, sep: str, time_series: bool, lead: int) -> tuple[int, int]:
    """Where the first field of row ``ln`` ends and where its leading fields (with their separators)
    end; 0 where the row holds no field after them."""
    if sep == "\t":  # the first field ends at the first tab (a dated timestamp holds a space)
        ends = []
        cut = 0
        for _ in range(lead):
            tab = ln.find(b"\t", cut)
            if tab < 0:
                return 0, 0
            ends.append(tab)
            cut = tab + 1
            while ln[cut : cut + 1] == b"\t":
                cut += 1
        return ends[0], cut
    m = (_DATED.match(ln) or _FIRST.match(ln)) if time_series else _FIRST.match(ln)
    if m is None:
        return 0, 0
    end, cut = m.end(1), m.end()
    if lead == 2:
        m = _FIRST.match(ln[cut:])
        if m is None:
            return 0, 0
        cut += m.end()
    return end, cut


def _split_table(raw: bytes, where: str, time_series: bool) -> _Table:
    """Header, marker and rows of an OceanView text file: a time series (a wavelength row, then rows
    led by a timestamp) or one spectrum (rows led by a wavelength)."""
    raw, encoding = _as_utf8(raw, where)
    at = _marker_at(raw)
    if at < 0:
        raise FileFormatError(f"{where} has no line '>>>>>Begin Spectral Data<<<<<'; {_EXPECTED}")
    line_start = raw.rfind(b"\n", 0, at) + 1
    header = raw[:line_start]
    end = raw.find(b"\n", at)
    if end < 0 and b"\n" not in raw and b"\r" in raw[at:]:
        raise FileFormatError(
            f"{where} ends its lines with \\r alone (classic Mac OS line endings), which fluorodn does not read; "
            "save it again with \\r\\n or \\n line endings"
        )
    if end < 0:
        if not time_series:
            raise FileFormatError(
                f"{where} ends at its marker line: it is incomplete (the file may still be being written)"
            )
        raise FileFormatError(f"{where} ends at the '>>>>>Begin Spectral Data<<<<<' line; {_EXPECTED}")
    marker = raw[line_start : end + 1]
    after = raw.find(b"\n", end + 1)  # the rows' line ending is that of the line after the marker line
    ending = raw[after - 1 : after + 1] if after > end + 1 else raw[end - 1 : end + 1]
    newline = b"\r\n" if ending == b"\r\n" else b"\n"
    lines = raw[end + 1 :].split(newline)
    if newline == b"\r\n" and lines[-1].endswith(b"\n"):  # a last line ending in \n alone is complete all the same
        lines[-1:] = [lines[-1][:-1], b""]
    if any(b"\n" in ln for ln in lines) if newline == b"\r\n" else any(ln.endswith(b"\r") for ln in lines[:2]):
        raise FileFormatError(f"{where} mixes line endings (\\r\\n and \\n) in its rows; save it again with one kind")
    skip = 1 if time_series else 0
    stop = next((k for k in range(skip, len(lines)) if not lines[k].strip() or lines[k].startswith(_END)), len(lines))
    footer = lines[stop:]
    for k, ln in enumerate(footer):
        if ln.strip() and not ln.startswith(_END):
            line_no = raw.count(b"\n", 0, end + 1) + stop + k + 1
            raise FileFormatError(
                f"{where}: line {line_no} follows a blank line or an end marker but holds "
                "data; expected the spectra in one block of rows, without blank lines between them"
            )
    first, rows = (lines[0], lines[1:stop]) if time_series else (None, lines[:stop])
    if not rows:
        if not time_series:
            raise FileFormatError(
                f"{where} holds no rows after its marker line: it is incomplete (the file may still be being written)"
            )
        raise FileFormatError(f"{where} holds no spectra after the marker line; {_EXPECTED}")
    if stop == len(lines):  # every row ends in a line ending; the last one lacks it: the file stops inside it
        what = "its last spectrum is incomplete" if time_series else "its last row is incomplete"
        raise FileFormatError(
            f"{where}: {what} (the file ends inside it, without the line ending of the rows before); "
            "the file may still be being written"
        )
    sep = "\t" if b"\t" in rows[0] else " "
    if time_series and (ampm := _AM_PM.match(rows[0])):
        raise FileFormatError(
            f"{where}: the first timestamp {_decode(ampm.group(1)).strip()!r} is a 12-hour time with AM/PM, which "
            f"fluorodn does not read; expected 24-hour timestamps ({TIME_FORMATS})"
        )
    lead = _leading_fields(first, rows[0], sep) if first is not None else 1
    prefixes: list[bytes] = []
    stamps: list[bytes] = []
    extra: list[bytes] | None = [] if lead == 2 else None
    parts: list[bytes] = []
    for k, ln in enumerate(rows):
        stamp_end, cut = _cut(ln, sep, time_series, lead)
        if cut <= 0:
            what = "the two leading fields of the first row and values" if lead == 2 else "a single field"
            raise FileFormatError(f"{where}: row {k + 1} after the marker ({ln[:40]!r}) holds {what}; {_EXPECTED}")
        prefixes.append(ln[:cut])
        stamps.append(ln[:stamp_end])
        if extra is not None:
            extra.append(ln[stamp_end:cut].strip())
        parts.append(ln[cut:])
    row_end = parts[0][len(parts[0].rstrip(b" \t")) :]
    parts = [p.rstrip(b" \t") for p in parts]
    sample = b" ".join([first or b"", *parts[:100]])
    decimal = "," if b"," in sample else "."
    if decimal == "," and b"." in sample:
        raise FileFormatError(
            f"{where}: its values hold both '.' and ',' (comma-separated values?); {_EXPECTED}, with a decimal "
            "point or a decimal comma"
        )
    try:
        values, style = parse_rows(parts, decimal, sep)
    except RowLengthError as err:
        raise FileFormatError(
            f"{where}: spectrum {err.row} holds {err.count} values after its first field, spectrum 0 holds "
            f"{err.expected}; {_EXPECTED}"
        ) from None
    except NotANumberError as err:
        line_no = raw.count(b"\n", 0, end + 1) + skip + err.row + 1
        row = f"spectrum {err.row}" if time_series else f"bin {err.row}"  # a one-spectrum export's rows are bins
        raise FileFormatError(
            f"{where}: line {line_no} ({row}) holds {err.text[:40]!r}, which is not a number; {_EXPECTED}"
        ) from None
    except ValueError as err:
        detail = " ".join(str(err).split())[:160]
        raise FileFormatError(f"{where}: a value is not a number ({detail}); {_EXPECTED}") from None
    return _Table(
        newline, header, marker, first, prefixes, stamps, extra, values, style, sep, row_end, footer,
        _header_fields(header), encoding,
    )  # fmt: skip


def _wavelengths(first: bytes, decimal: str, where: str) -> np.ndarray:
    """The numbers of the wavelength row (leading labels and empty fields skipped), increasing."""
    tokens = first.split()
    numbers: list[float] = []
    for t in tokens:
        try:
            numbers.append(float(t.replace(b",", b".") if decimal == "," else t))
        except ValueError:
            if numbers:  # a label after the wavelengths
                raise FileFormatError(
                    f"{where}: the wavelength row holds {t[:20]!r} among its numbers; "
                    "expected one wavelength (nm) per column"
                ) from None
    wl = np.array(numbers)
    check_wavelengths(wl, where, "the row after '>>>>>Begin Spectral Data<<<<<'", _EXPECTED)
    return wl


def _in_nm(fields: dict[str, str], x: np.ndarray) -> np.ndarray | None:
    """The x axis ``x`` of an export as wavelengths (nm), or None where its header's ``XAxis mode``
    names another axis (``Pixels``, ``Raman Shifts``, ...): no wavelength in nm is known then."""
    mode = fields.get("XAxis mode")
    return x if mode is None or mode.strip().lower().startswith("wavelength") else None


def start_time(path: str | Path) -> tuple[datetime | None, str]:
    """When the first spectrum of an OceanView export (or of a one-spectrum folder) was taken
    (:func:`first_sample_time`: its row's time on the header's ``Date:``), and the zone's name;
    reads the file's head only."""
    p = Path(path)
    if p.is_dir():
        try:
            plan = _plan(p)
        except (FileFormatError, OSError):
            return None, ""
        date, zone = parse_date(_header_fields(header(plan.files[0]).encode("utf-8")).get("Date", ""))
        return _on_the_day(date, float(plan.clock_s[0])), zone
    date, zone = parse_date(_header_fields(header(p).encode("utf-8")).get("Date", ""))
    head = _head(p)
    at = _marker_at(head)
    rows = [r for r in _decode(head[at:]).splitlines()[1:4] if r.strip()] if at >= 0 else []
    if len(rows) < 2:  # no spectrum yet: the header's date
        return date, zone
    fields = rows[1].replace(",", ".").split()
    stamp = " ".join(fields[:2]) if fields and re.match(r"^\d{4}-\d{2}-\d{2}$", fields[0]) else fields[0]
    return first_sample_time(date, stamp), zone


def header(path: str | Path) -> str:
    """The header lines above the marker line of the OceanView export ``path``, as text (UTF-8, ANSI or
    UTF-16 decoded); "" where it has no marker line in its first 64 KiB or cannot be read."""
    head = _head(Path(path))
    at = _marker_at(head)
    return _decode(head[: head.rfind(b"\n", 0, at) + 1]) if at >= 0 else ""


def is_export(path: Path) -> bool:
    """Whether the text file ``path`` holds the '>>>>>Begin Spectral Data<<<<<' line of an OceanView export,
    or the '>>>>>Begin Processed Spectral Data<<<<<' line of a SpectraSuite one (in UTF-8, ANSI or UTF-16 text)."""
    return _marker_at(_head(path)) >= 0


def _export_kind(path: Path, rows_needed: int = 0) -> str | None:
    """The kind of OceanView export ``path`` is: "one" for one spectrum (marker, then two numbers a row,
    at least ``rows_needed`` complete rows), "series" for a time series; None for a file that is no
    OceanView export, or holds fewer complete rows."""
    head = _head(path)
    at = _marker_at(head)
    if at < 0:
        return None
    lines = head[at:].split(b"\n")[1:-1]  # complete lines: the last one is cut (64 KiB, or being written)
    rows = [r for r in lines if r.strip() and not r.startswith(_END)][:3]
    if len(rows) < rows_needed:
        return None
    for r in rows:
        tokens = r.replace(b",", b".").split()
        if len(tokens) != 2:
            return "series"
        try:
            [float(t) for t in tokens]
        except ValueError:
            return "series"
    return "one"


def is_one_spectrum(path: Path) -> bool:
    """Whether ``path`` looks like a one-spectrum OceanView export (marker, then two numbers a row)."""
    return _export_kind(path, rows_needed=2) == "one"


def _txt_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".txt" and not p.name.startswith("."))


def is_one_spectrum_folder(path: str | Path) -> bool:
    """Whether the folder ``path`` is one recording of one-spectrum OceanView exports: it holds such
    exports and no time-series export (its other .txt files, notes or logs, are left out)."""
    folder = Path(path)
    try:
        if not folder.is_dir():
            return False
        seen = (os.path.abspath(folder), folder.stat().st_mtime_ns)  # a file added or removed changes it
        found = _FOLDER_KINDS.get(seen)
        if found is not None and time.monotonic() - found[1] < _FOLDER_KINDS_S:
            return found[0]
        one = False
        for p in _txt_files(folder):
            kind = _export_kind(p)
            if kind == "series":  # one is enough to say no
                one = False
                break
            one = one or kind == "one"
    except OSError:
        return False
    if len(_FOLDER_KINDS) > 64:
        _FOLDER_KINDS.clear()
    _FOLDER_KINDS[seen] = (one, time.monotonic())
    return one


#: What :func:`is_one_spectrum_folder` found, by folder and its modification time, and when: a
#: command asks it several times within a moment of a folder that may hold thousands of exports
#: (a file written to in place changes no folder time, so an answer is kept for seconds only).
_FOLDER_KINDS: dict[tuple[str, int], tuple[bool, float]] = {}
_FOLDER_KINDS_S = 5.0


@dataclass
class OceanViewText:
    """An OceanView time-series export, read: values, axes and the layout to write it back."""

    path: Path
    values: np.ndarray
    """(T, W) float64, rows in file order."""
    wavelengths: np.ndarray | None
    """(W,) nm, or None where the header's ``XAxis mode`` is not wavelengths (pixels, Raman shifts)."""
    times: np.ndarray
    """(T,) seconds since the first spectrum."""
    meta: dict[str, Any]
    """Header fields, ``start`` (datetime of ``Date:``, or None) and ``time_zone``."""
    _table: _Table

    @classmethod
    def read(cls, path: str | Path) -> OceanViewText:
        path = Path(path)
        raw = path.read_bytes()
        where = str(path)
        table = _split_table(raw, where, time_series=True)
        if _looks_one_spectrum(table):
            raise FileFormatError(_one_spectrum_alone(path))
        wl = _wavelengths(table.first or b"", table.style.decimal, where)
        if table.values.shape[1] == wl.size + 1:
            raise FileFormatError(
                f"{where}: its rows hold one value more than its wavelength row has wavelengths ({wl.size}): a second "
                f"leading column ({table.values[0, 0]:g} in the first row), which fluorodn reads only as milliseconds "
                f"since 1970 after a date-time; {_EXPECTED}"
            )
        if table.values.shape[1] != wl.size:
            raise FileFormatError(
                f"{where}: its spectra hold {table.values.shape[1]} values after the timestamp, its wavelength row "
                f"{wl.size} wavelengths; {_EXPECTED}"
            )
        declared = table.fields.get("Number of Pixels in Spectrum")
        if declared is not None and declared.isdigit() and int(declared) != wl.size:
            raise FileFormatError(
                f"{where}: its header declares {declared} pixels per spectrum, its wavelength row holds {wl.size}; "
                "expected the export as OceanView wrote it"
            )
        stamps = [_decode(p).strip() for p in table.stamps]
        first = stamps[0].replace(",", ".")
        epoch_ms = _SECONDS.match(first) is not None and abs(float(first)) >= _EPOCH_MS[0]
        if epoch_ms and abs(float(first)) >= _EPOCH_MS[1]:
            raise FileFormatError(
                f"{where}: its first timestamp {stamps[0]!r} is too large for seconds or milliseconds since 1970 "
                f"(microseconds?); expected {TIME_FORMATS}"
            )
        try:
            times = parse_times(stamps, where)
        except FileFormatError as err:
            if TIME_FORMATS in str(err):  # it lists the formats read already
                raise
            raise FileFormatError(f"{err}; each spectrum's row starts with a timestamp ({TIME_FORMATS})") from None
        if epoch_ms:  # no count of seconds is this large: milliseconds since 1970
            times = times / 1000.0
        if table.extra is not None:
            _check_epoch_column(table.extra, times, where)
        meta: dict[str, Any] = dict(table.fields)
        header_date, meta["time_zone"] = parse_date(table.fields.get("Date", ""))
        meta["header_date"] = header_date
        meta["start"] = first_sample_time(header_date, stamps[0])
        return cls(path, table.values, _in_nm(table.fields, wl), times, meta, table)

    @property
    def style(self) -> NumberStyle:
        return self._table.style

    def text(self, values: np.ndarray, note: str | None = None) -> bytes:
        """This file's text with (T, W) ``values`` instead of its own and ``note`` as one more header line."""
        values = np.asarray(values)
        if values.shape != self.values.shape:
            raise ValueError(f"values of shape {values.shape} do not fit {self.path} ({self.values.shape})")
        return self._table.text(values, note)

    def write(self, dest: Path, values: np.ndarray, note: str | None = None) -> None:
        """Write :meth:`text` to ``dest``."""
        Path(dest).write_bytes(self.text(values, note))


def _check_epoch_column(extra: list[bytes], times: np.ndarray, where: str) -> None:
    """Milliseconds since 1970 in a second leading column must give the times of the first (to 1.5 ms: a
    millisecond of rounding in either)."""
    try:
        ms = np.array([float(x.replace(b",", b".")) for x in extra])
    except ValueError:
        bad = next((k for k, x in enumerate(extra) if not _EPOCH_MS_FIELD.match(x)), 0)
        raise FileFormatError(
            f"{where}: spectrum {bad} holds {_decode(extra[bad])!r} in its second leading column, where the first row "
            "holds milliseconds since 1970; expected a date-time and milliseconds since 1970 in every row"
        ) from None
    off = np.abs((ms - ms[0]) / 1000.0 - times)
    k = int(np.argmax(off))
    if off[k] > 1.5e-3:
        raise FileFormatError(
            f"{where}: its second leading column (milliseconds since 1970) differs from its timestamps by "
            f"{off[k]:.3f} s at spectrum {k}; expected a date-time and the same time in milliseconds since 1970"
        )


def _one_spectrum_alone(path: Path) -> str:
    """Why the one-spectrum export ``path`` is not read alone, and where its spectra are read."""
    where = str(path)
    text = f"{where} holds one spectrum (a wavelength and a value per row), not a recording"
    folder = path.parent
    try:
        kinds = [_export_kind(p) for p in _txt_files(folder)]
    except OSError:
        kinds = []
    if "series" in kinds:
        return (
            f"{text}; its folder holds time-series exports too, so it is not read as one recording of one-spectrum "
            "exports: keep the one-spectrum files of a recording in a folder of their own"
        )
    if kinds.count("one") >= 2:
        n = kinds.count("one")
        return f"{text}; its folder {folder} holds {n} such files, which fluorodn reads as one recording"
    return f"{text}; save one file per spectrum into a folder of their own, or export a time series from OceanView"


def _looks_one_spectrum(table: _Table) -> bool:
    """One-spectrum layout: every row is a number and one value, and the first row is two numbers."""
    if table.values.shape[1] != 1 or table.first is None:
        return False
    tokens = table.first.replace(b",", b".").split()
    try:
        return len(tokens) == 2 and all(np.isfinite(float(t)) for t in tokens)
    except ValueError:
        return False


_NAME_INDEX = re.compile(r"__(\d+)__")
#: A clock time ``HH-MM-SS-mmm`` in a file name, not part of a longer number on either side.
_NAME_CLOCK = re.compile(r"(?<!\d)(\d{1,2})-(\d{2})-(\d{2})-(\d{3})(?!\d)")


def _name_clock(stem: str) -> tuple[int, int, int, int] | None:
    """Hours, minutes, seconds and milliseconds of the clock time in a one-spectrum file's name.

    OceanView appends the time after the name it is given, with the spectrometer's serial
    number before it and possibly the index ``__N__`` after it; of several clock-like number
    groups the last that is a time of day is taken, so that a time or date in the given name
    is not read instead.
    """
    times = [(int(h), int(m), int(s), int(ms)) for h, m, s, ms in (c.groups() for c in _NAME_CLOCK.finditer(stem))]
    times = [t for t in times if t[0] < 24 and t[1] < 60 and t[2] < 60]
    return times[-1] if times else None


#: A word in a one-spectrum file's name that marks a spectrum saved beside the recording, not of it.
_NOT_OF_RECORDING = re.compile(r"(?i)(?<![a-z])(dark|background|reference)(?![a-z])")


@dataclass
class _Plan:
    """The one-spectrum exports of a folder in time order, their clock times, and the files left out."""

    files: list[Path]
    clock_s: np.ndarray
    """(T,) seconds of day of each file's name, a day added after each midnight."""
    notes: list[str]
    """What was left out, one sentence each, for a warning."""


def _plan(folder: Path) -> _Plan:
    """Which .txt files of ``folder`` make its recording, in what order (see :class:`OceanViewFolder`)."""
    where = str(folder)
    kinds = {p: _export_kind(p) for p in _txt_files(folder)}
    series = [p.name for p, k in kinds.items() if k == "series"]
    if series:
        raise FileFormatError(
            f"{where} holds time-series exports ({', '.join(series[:3])}{', ...' if len(series) > 3 else ''}) beside "
            "its one-spectrum exports; a folder read as one recording holds one-spectrum exports only"
        )
    notes: list[str] = []
    other = [p.name for p, k in kinds.items() if k is None]
    if other:
        listed = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
        notes.append(f"left out {len(other)} .txt file{'s' if len(other) != 1 else ''} that "
                     f"{'are' if len(other) != 1 else 'is'} no OceanView export ({listed})")  # fmt: skip
    recordings = _other_recordings(folder)
    if recordings:
        why = (
            "a recording file of another format, which a folder of one-spectrum exports does not read "
            "(give it as an input of its own)"
        )
        notes.append(_left_apart(recordings, why))
    names = [p for p, k in kinds.items() if k == "one"]
    index = {p: _NAME_INDEX.search(p.stem) for p in names}
    if any(index.values()) and not all(index.values()):  # a numbered series: a file without a number is not of it
        apart = [p for p in names if index[p] is None]
        names = [p for p in names if index[p] is not None]
        why = "not numbered __N__ like the folder's other spectra (a dark or reference spectrum saved beside them?)"
        notes.append(_left_apart(apart, why))
    elif not any(index.values()):
        apart = [p for p in names if _NOT_OF_RECORDING.search(p.stem)]
        if apart and len(apart) < len(names):
            names = [p for p in names if p not in apart]
            notes.append(_left_apart(apart, "named as a dark, background or reference spectrum saved beside them"))
    if len(names) < 2:
        raise FileFormatError(
            f"{where} holds {len(names)} one-spectrum OceanView export{'s' if len(names) != 1 else ''}; a folder of "
            "one-spectrum exports needs one file per spectrum, at least 2"
        )
    keyed = []
    for p in names:
        clock = _name_clock(p.stem)
        if clock is None:
            raise FileFormatError(
                f"{p}: its name holds no clock time HH-MM-SS-mmm; expected one-spectrum OceanView exports named "
                "with the time they were taken (e.g. Spectrometer__12__10-37-06-469.txt)"
            )
        hh, mm, ss, ms = clock
        found = index[p]
        keyed.append((int(found.group(1)) if found else -1, hh * 3600 + mm * 60 + ss + ms / 1000, p))
    if index[names[0]] is not None:
        keyed.sort(key=lambda k: k[0])
        same = next(((a, b) for a, b in itertools.pairwise(keyed) if a[0] == b[0]), None)
        if same is not None:
            raise FileFormatError(
                f"{where}: {same[0][2].name} and {same[1][2].name} carry the same index __{same[0][0]}__; expected one "
                "file per spectrum"
            )
        clock_s = np.array([k[1] for k in keyed])
    else:  # by time of day, the recording starting after its longest pause (a midnight it crosses is none)
        keyed.sort(key=lambda k: k[1])
        clock_s = np.array([k[1] for k in keyed])
        pauses = np.diff(np.r_[clock_s, clock_s[0] + 86400.0])
        start = 0 if pauses[-1] >= pauses.max() else int(np.argmax(pauses)) + 1
        keyed = keyed[start:] + keyed[:start]
        clock_s = np.array([k[1] for k in keyed])
    clock_s[1:] += 86400.0 * np.cumsum(np.diff(clock_s) < -43200)  # past midnight
    return _Plan([k[2] for k in keyed], clock_s, notes)


def _other_recordings(folder: Path) -> list[Path]:
    """The files of ``folder`` of a format fluorodn reads other than text (.h5, .tif, ...): recordings of their own."""
    from fluorodn._paths import FORMATS

    try:
        found = [p for p in folder.iterdir() if p.suffix.lower() in FORMATS and p.suffix.lower() != ".txt"]
    except OSError:
        return []
    return sorted(p for p in found if not p.name.startswith(".") and p.is_file())


#: Header settings that scale the counts of a spectrum (OceanView's keys, then SpectraSuite's): spectra
#: taken with different ones are not one recording.
_SETTINGS = (
    "Integration Time (sec)", "Integration Time (usec)", "Scans to average", "Boxcar width",
    "Electric dark correction enabled", "Nonlinearity correction enabled", "Spectra Averaged", "Boxcar Smoothing",
    "Correct for Electrical Dark", "Correct for Detector Non-linearity", "Correct for Stray Light",
)  # fmt: skip


def _setting(text: str) -> tuple[float | None, str]:
    """A header setting's value to compare: its leading number (``1.000000E-1`` and ``0.1`` alike) and
    the rest of the text, case ignored."""
    first, _, rest = text.strip().partition(" ")
    try:
        return float(first.replace(",", ".")), rest.strip().lower()
    except ValueError:
        return None, text.strip().lower()


def _check_settings(files: list[Path], tables: list[_Table]) -> None:
    """Refuse one-spectrum exports whose header settings that scale the counts (:data:`_SETTINGS`) differ
    from the first file's: they are not one recording."""
    first = tables[0].fields
    for key in (k for k in _SETTINGS if k in first):
        want = _setting(first[key])
        for p, table in zip(files[1:], tables[1:], strict=True):
            value = table.fields.get(key)
            if value is not None and _setting(value) != want:
                raise FileFormatError(
                    f"{p.parent}: {p.name} was taken with {key}: {value}, {files[0].name} with {key}: {first[key]}; "
                    "spectra taken with different settings are not one recording: keep the files of each setting in "
                    "a folder of their own"
                )


def _left_apart(files: list[Path], why: str) -> str:
    listed = ", ".join(p.name for p in files[:3]) + (", ..." if len(files) > 3 else "")
    return f"left out {listed}: {why}"


@dataclass
class OceanViewFolder:
    """A folder of one-spectrum OceanView exports, read as one recording in time order.

    The recording is the folder's one-spectrum exports: its other .txt files (notes, logs) are left
    out with a warning, and so are files not numbered ``__N__`` in a numbered series, or, in a series
    without numbers, files named as a dark, background or reference spectrum, and recording files of
    other formats (.h5, .tif, ...). A folder that also holds time-series exports is refused, and so
    are files whose header settings that scale the counts (integration time, scans to average, boxcar
    width, dark or nonlinearity correction) differ from the first file's. Files are ordered by their
    number, else by the clock time in their names, the recording starting after the longest pause
    between them (so that one crossing midnight keeps its order); a step back by more than half a day
    is a midnight and adds a day.
    """

    path: Path
    values: np.ndarray
    """(T, W) float64, one row per file in time order."""
    wavelengths: np.ndarray | None
    """(W,) nm, or None where the header's ``XAxis mode`` is not wavelengths (pixels, Raman shifts)."""
    times: np.ndarray
    """(T,) seconds since the first spectrum, from the clock time in the file names."""
    meta: dict[str, Any]
    files: list[Path]
    """The files, in time order."""
    _tables: list[_Table]

    @classmethod
    def read(cls, path: str | Path) -> OceanViewFolder:
        folder = Path(path)
        plan = _plan(folder)
        files = plan.files
        tables = [_split_table(p.read_bytes(), str(p), time_series=False) for p in files]
        for p, table in zip(files, tables, strict=True):
            if table.values.shape[1] != 1:
                raise FileFormatError(
                    f"{p}: its rows hold {table.values.shape[1] + 1} numbers; expected a one-spectrum OceanView export "
                    "(a wavelength and a value per row)"
                )
        counts = np.array([t.values.shape[0] for t in tables])
        lengths, often = np.unique(counts, return_counts=True)
        ref = int(np.flatnonzero(counts == lengths[often == often.max()].max())[0])  # the most common length
        wl = _row_wavelengths(tables[ref], files[ref])
        for p, table in zip(files, tables, strict=True):
            this = _row_wavelengths(table, p)
            if this.size < wl.size and np.array_equal(this, wl[: this.size]):
                raise FileFormatError(
                    f"{p} holds {this.size} rows, the folder's other spectra {wl.size}: it is incomplete (the file "
                    "may still be being written)"
                )
            if this.shape != wl.shape or not np.array_equal(this, wl):
                raise FileFormatError(
                    f"{p}: its wavelengths differ from those of {files[ref].name}; expected spectra of one "
                    "spectrometer setting in one folder"
                )
        _check_settings(files, tables)
        check_wavelengths(wl, str(files[ref]), "the first column (wavelengths)", "expected one spectrum")
        values = np.stack([t.values[:, 0] for t in tables])
        meta: dict[str, Any] = dict(tables[0].fields)
        header_date, meta["time_zone"] = parse_date(tables[0].fields.get("Date", ""))
        meta["header_date"] = header_date
        meta["start"] = _on_the_day(header_date, float(plan.clock_s[0]))
        for note in plan.notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        wavelengths = _in_nm(tables[0].fields, wl)
        return cls(folder, values, wavelengths, plan.clock_s - plan.clock_s[0], meta, files, tables)

    def write(self, dest: Path, values: np.ndarray, note: str | None = None) -> None:
        """Write the files again into the folder ``dest`` (which must exist), with (T, W) ``values``."""
        values = np.asarray(values)
        if values.shape != self.values.shape:
            raise ValueError(f"values of shape {values.shape} do not fit {self.path} ({self.values.shape})")
        for table, p, row in zip(self._tables, self.files, values, strict=True):
            (Path(dest) / p.name).write_bytes(_one_spectrum_text(table, row, note))


def _row_wavelengths(table: _Table, path: Path) -> np.ndarray:
    """The wavelengths leading the rows of the one-spectrum export ``path``."""
    out = np.empty(len(table.stamps))
    for k, x in enumerate(table.stamps):
        try:
            out[k] = float(_decode(x).strip().replace(",", "."))
        except ValueError:
            raise FileFormatError(
                f"{path}: row {k + 1} after the marker starts with {_decode(x).strip()[:20]!r}, not a wavelength; "
                "expected a one-spectrum OceanView export (a wavelength and a value per row)"
            ) from None
    return out


def _one_spectrum_text(table: _Table, row: np.ndarray, note: str | None) -> bytes:
    """A one-spectrum file with its values replaced by ``row`` (W,)."""
    return table.text(np.asarray(row, dtype=np.float64)[:, None], note)


def channel_names(n: int) -> Sequence[str]:
    """Names of ``n`` interleaved excitation channels."""
    return [f"excitation {k + 1}" for k in range(n)]
