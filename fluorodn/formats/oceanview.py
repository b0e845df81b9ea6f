"""Ocean Insight OceanView exports: a time-series text file, or a folder of one-spectrum files.

A **time-series export** (``.txt``) is a header of ``Key: value`` lines (``Data from ... Node``,
``Date: Fri Jan 20 10:37:06 CET 2017``, ``Spectrometer:``, ``Integration Time (sec):``,
``Number of Pixels in Spectrum:``, ...), the line ``>>>>>Begin Spectral Data<<<<<``, one row of
wavelengths (nm), then one row per spectrum: a timestamp and one value per wavelength.
Timestamps are clock times (``10:37:06.469``), dated times (``1970-01-01 00:00:00.200000``,
the placeholder date OceanView writes when it has none) or seconds; fields are separated by
tabs or spaces; numbers use a decimal point or a decimal comma. Blank lines and an end
marker (``>>>>>End Spectral Data<<<<<``) may follow the last spectrum.

A **one-spectrum export** holds the same header and marker, then one row per wavelength:
wavelength and value. A folder of them is one recording, its spectra ordered by the index
(``__12__``) or clock time (``10-37-06-469``) OceanView puts in each file name.

Writing gives the input's bytes back with new values: the same header plus one line
saying how the values were made, the same wavelength row, timestamps and separators, and
values with as many decimals as the input's most precise number. Anything else is refused
with a sentence saying what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError
from fluorodn.formats._text import NumberStyle, RowLengthError, format_rows, parse_rows
from fluorodn.formats.timing import TIME_FORMATS, parse_times

__all__ = ["MARKER", "OceanViewFolder", "OceanViewText", "is_export", "is_one_spectrum", "parse_date", "start_time"]

MARKER = b">>>>>Begin Spectral Data<<<<<"
_END = b">>>>>"
_EXPECTED = (
    "expected an OceanView time-series export: header lines, the line '>>>>>Begin Spectral Data<<<<<', "
    "a row of wavelengths, then one row per spectrum (a timestamp, then one value per wavelength), "
    "separated by tabs or spaces"
)
#: A dated timestamp holds a space: with space-separated fields it is two of them.
_DATED = re.compile(rb"^\s*(\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?)([ \t]+)")
_FIRST = re.compile(rb"^\s*(\S+)([ \t]+)")
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


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


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
    first: bytes | None
    """The wavelength row of a time series; None where every row is data (one spectrum)."""
    prefixes: list[bytes]
    values: np.ndarray
    style: NumberStyle
    sep: str
    row_end: bytes
    footer: list[bytes]
    fields: dict[str, str] = field(default_factory=dict)

    def text(self, values: np.ndarray, note: str | None) -> bytes:
        """The table's bytes with ``values`` (rows x values) in place of its own, ``note`` above the marker."""
        rows = format_rows(values, self.style, self.sep)
        nl = self.newline
        out = [self.header]
        if note is not None:
            out.append(note.encode("utf-8") + nl)
        body = [p + r.encode("ascii") + self.row_end for p, r in zip(self.prefixes, rows, strict=True)]
        if self.first is not None:
            body.insert(0, self.first)
        body.extend(self.footer)
        out.append(self.marker + nl + nl.join(body))
        return b"".join(out)


def _split_table(raw: bytes, where: str, time_series: bool) -> _Table:
    """Header, marker and rows of an OceanView text file: a time series (a wavelength row, then rows
    led by a timestamp) or one spectrum (rows led by a wavelength)."""
    at = raw.find(MARKER)
    if at < 0:
        raise FileFormatError(f"{where} has no line '>>>>>Begin Spectral Data<<<<<'; {_EXPECTED}")
    newline = b"\r\n" if b"\r\n" in raw[: at + len(MARKER) + 2] else b"\n"
    line_start = raw.rfind(b"\n", 0, at) + 1
    header = raw[:line_start]
    end = raw.find(b"\n", at)
    if end < 0:
        raise FileFormatError(f"{where} ends at the '>>>>>Begin Spectral Data<<<<<' line; {_EXPECTED}")
    marker = raw[line_start : end + 1 - len(newline)]
    lines = raw[end + 1 :].split(newline)
    if newline == b"\n" and any(ln.endswith(b"\r") for ln in lines[:2]):
        raise FileFormatError(f"{where} mixes line endings (\\r\\n and \\n); save it again with one kind")
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
        raise FileFormatError(f"{where} holds no spectra after the marker line; {_EXPECTED}")
    sep = "\t" if b"\t" in rows[0] else " "
    prefixes: list[bytes] = []
    parts: list[bytes] = []
    for k, ln in enumerate(rows):
        if sep == "\t":  # the first field ends at the first tab (a dated timestamp holds a space)
            cut = ln.find(b"\t") + 1
            while ln[cut : cut + 1] == b"\t":
                cut += 1
        else:
            m = (_DATED.match(ln) or _FIRST.match(ln)) if time_series else _FIRST.match(ln)
            cut = 0 if m is None else m.end()
        if cut <= 0:
            raise FileFormatError(
                f"{where}: row {k + 1} after the marker ({ln[:40]!r}) holds a single field; {_EXPECTED}"
            )
        prefixes.append(ln[:cut])
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
    except ValueError as err:
        detail = " ".join(str(err).split())[:160]
        raise FileFormatError(f"{where}: a value is not a number ({detail}); {_EXPECTED}") from None
    return _Table(newline, header, marker, first, prefixes, values, style, sep, row_end, footer, _header_fields(header))


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
    if wl.size < 2 or not (np.all(np.diff(wl) > 0) or np.all(np.diff(wl) < 0)):
        raise FileFormatError(
            f"{where}: the row after '>>>>>Begin Spectral Data<<<<<' is not a row of increasing wavelengths; "
            f"{_EXPECTED}"
        )
    return wl


def start_time(path: str | Path) -> tuple[datetime | None, str]:
    """The ``Date:`` in the header of an OceanView export (or of the first file of a one-spectrum folder),
    and its zone name, as :func:`parse_date` gives them; reads the header only."""
    p = Path(path)
    if p.is_dir():
        p = min((q for q in p.iterdir() if q.suffix.lower() == ".txt" and not q.name.startswith(".")), default=p)
    try:
        with open(p, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None, ""
    at = head.find(MARKER)
    fields = _header_fields(head[: at if at >= 0 else len(head)])
    return parse_date(fields.get("Date", ""))


def is_export(path: Path) -> bool:
    """Whether the text file ``path`` holds the '>>>>>Begin Spectral Data<<<<<' line of an OceanView export."""
    try:
        with open(path, "rb") as fh:
            return MARKER in fh.read(1 << 16)
    except OSError:
        return False


def is_one_spectrum(path: Path) -> bool:
    """Whether ``path`` looks like a one-spectrum OceanView export (marker, then two numbers a row)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    at = head.find(MARKER)
    if at < 0:
        return False
    rows = [r for r in head[at:].splitlines()[1:4] if r.strip()]
    if len(rows) < 2:
        return False
    for r in rows:
        tokens = r.replace(b",", b".").split()
        if len(tokens) != 2:
            return False
        try:
            [float(t) for t in tokens]
        except ValueError:
            return False
    return True


@dataclass
class OceanViewText:
    """An OceanView time-series export, read: values, axes and the layout to write it back."""

    path: Path
    values: np.ndarray
    """(T, W) float64, rows in file order."""
    wavelengths: np.ndarray
    """(W,) nm."""
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
            raise FileFormatError(
                f"{where} holds one spectrum (a wavelength and a value per row); give the folder of such files to read "
                "them as one recording, or export a time series from OceanView"
            )
        wl = _wavelengths(table.first or b"", table.style.decimal, where)
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
        stamps = [_decode(p).strip() for p in table.prefixes]
        try:
            times = parse_times(stamps, where)
        except FileFormatError as err:
            raise FileFormatError(f"{err}; each spectrum's row starts with a timestamp ({TIME_FORMATS})") from None
        meta: dict[str, Any] = dict(table.fields)
        meta["start"], meta["time_zone"] = parse_date(table.fields.get("Date", ""))
        return cls(path, table.values, wl, times, meta, table)

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


@dataclass
class OceanViewFolder:
    """A folder of one-spectrum OceanView exports, read as one recording in time order."""

    path: Path
    values: np.ndarray
    """(T, W) float64, one row per file in time order."""
    wavelengths: np.ndarray
    """(W,) nm."""
    times: np.ndarray
    """(T,) seconds since the first spectrum, from the clock time in the file names."""
    meta: dict[str, Any]
    files: list[Path]
    """The files, in time order."""
    _tables: list[_Table]

    @classmethod
    def read(cls, path: str | Path) -> OceanViewFolder:
        folder = Path(path)
        where = str(folder)
        names = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".txt" and not p.name.startswith("."))
        if len(names) < 2:
            raise FileFormatError(
                f"{where} holds {len(names)} .txt file{'s' if len(names) != 1 else ''}; a folder of one-spectrum "
                "OceanView exports needs one file per spectrum, at least 2"
            )
        keyed = []
        for p in names:
            clock = _name_clock(p.stem)
            if clock is None:
                raise FileFormatError(
                    f"{p}: its name holds no clock time HH-MM-SS-mmm; expected one-spectrum OceanView exports named "
                    "with the time they were taken (e.g. Spectrometer__12__10-37-06-469.txt)"
                )
            index = _NAME_INDEX.search(p.stem)
            hh, mm, ss, ms = clock
            keyed.append((int(index.group(1)) if index else None, hh * 3600 + mm * 60 + ss + ms / 1000, p))
        if all(k[0] is not None for k in keyed):
            keyed.sort(key=lambda k: k[0] or 0)
            if len({k[0] for k in keyed}) != len(keyed):
                raise FileFormatError(f"{where}: two files carry the same index __N__; expected one file per spectrum")
        else:
            keyed.sort(key=lambda k: k[1])
        files = [k[2] for k in keyed]
        clock_s = np.array([k[1] for k in keyed])
        tables: list[_Table] = []
        wl: np.ndarray | None = None
        for p in files:
            table = _split_table(p.read_bytes(), str(p), time_series=False)
            if table.values.shape[1] != 1:
                raise FileFormatError(
                    f"{p}: its rows hold {table.values.shape[1] + 1} numbers; expected a one-spectrum OceanView export "
                    "(a wavelength and a value per row)"
                )
            this = np.array([float(_decode(x).strip().replace(",", ".")) for x in table.prefixes])
            if wl is None:
                wl = this
            elif this.shape != wl.shape or not np.array_equal(this, wl):
                raise FileFormatError(
                    f"{p}: its wavelengths differ from those of {files[0].name}; expected spectra of one spectrometer "
                    "setting in one folder"
                )
            tables.append(table)
        assert wl is not None
        if not (np.all(np.diff(wl) > 0) or np.all(np.diff(wl) < 0)):
            raise FileFormatError(f"{files[0]}: its wavelengths do not increase row by row; expected one spectrum")
        values = np.stack([t.values[:, 0] for t in tables])
        steps = np.diff(clock_s)
        clock_s[1:] += 86400.0 * np.cumsum(steps < -43200)  # past midnight
        meta: dict[str, Any] = dict(tables[0].fields)
        meta["start"], meta["time_zone"] = parse_date(tables[0].fields.get("Date", ""))
        return cls(folder, values, wl, clock_s - clock_s[0], meta, files, tables)

    def write(self, dest: Path, values: np.ndarray, note: str | None = None) -> None:
        """Write the files again into the folder ``dest`` (which must exist), with (T, W) ``values``."""
        values = np.asarray(values)
        if values.shape != self.values.shape:
            raise ValueError(f"values of shape {values.shape} do not fit {self.path} ({self.values.shape})")
        for table, p, row in zip(self._tables, self.files, values, strict=True):
            (Path(dest) / p.name).write_bytes(_one_spectrum_text(table, row, note))


def _one_spectrum_text(table: _Table, row: np.ndarray, note: str | None) -> bytes:
    """A one-spectrum file with its values replaced by ``row`` (W,)."""
    return table.text(np.asarray(row, dtype=np.float64)[:, None], note)


def channel_names(n: int) -> Sequence[str]:
    """Names of ``n`` interleaved excitation channels."""
    return [f"excitation {k + 1}" for k in range(n)]
