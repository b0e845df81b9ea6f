"""What unmixing takes: the bins' wavelengths, the sensor spectrum, the dark level, a recording's metadata.

Readers of the small text files the user gives (one-column wavelengths or dark levels, the
two-column sensor spectrum ``wavelength_nm,dff``) and the checks :func:`fluorodn.unmix` makes of
its arguments before fitting; every refusal is an :class:`UnmixError` with one sentence.
"""

from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Union

import numpy as np

from fluorodn.errors import FluorodnError

__all__ = [
    "MIN_SAMPLES",
    "SENSORS",
    "DarkLevelNotice",
    "PathLike",
    "UnmixError",
    "UnmixWarning",
    "check_recording",
    "check_sensor",
    "contradiction",
    "dark_levels",
    "load_sensor",
    "read_sensor",
    "read_values",
    "recording_metadata",
    "sensor_on",
    "stated_dark",
    "stated_grid",
    "wavelength_gap",
    "wavelength_grid",
    "wavelengths_for",
]

#: Sensor spectra shipped in ``fluorodn/data``, by name.
SENSORS = {"example": "example_sensor.csv"}

_RANGE = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*:\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*$")
#: Fewest time samples (lit ones, where the light was off for some) that unmixing takes.
MIN_SAMPLES = 3

PathLike = Union[str, "os.PathLike[str]"]


class UnmixError(FluorodnError, ValueError):
    """The recording, its wavelengths, the sensor spectrum or the dark level cannot be used for unmixing."""


class UnmixWarning(UserWarning):
    """The unmixing's fit may be off for a reason the message names: the recording is clipped
    (the fit follows the clipping there), or the sensor spectrum is almost a mix of the other
    terms' spectra over the recording's wavelengths (its trace may be confounded with them)."""


class DarkLevelNotice(UserWarning):
    """No dark level was given, and the recording never comes near 0 counts: if that floor is the
    detector's dark level, it scales the fitted changes down (by E / (E + dark) in each bin). The
    message gives the floor; nothing was damaged, and a dark level given (``dark=``) silences it."""


def read_values(path: PathLike, what: str) -> np.ndarray:
    """The numbers of a one-column text/CSV file (a header line and ``#`` comments allowed), (N,) float64."""
    rows = _read_rows(path, what)
    if any(len(r) != 1 for r in rows):
        hint = ""
        if all(len(r) == 2 for r in rows) and _decimal_commas(path):
            hint = " (if its commas are decimal commas, as in 477,5, write decimal points or end each line with ';')"
        raise UnmixError(f"{path} must hold one column of {what}, one value per line; it has several columns{hint}")
    return np.array([r[0] for r in rows], dtype=np.float64)


def _decimal_commas(path: PathLike) -> bool:
    """Whether every line of numbers in ``path`` reads as one number with a decimal comma
    (``477,5``): one comma between digits, no point, no space."""
    lines = [ln.split("#", 1)[0].strip() for ln in Path(path).read_text(encoding="utf-8-sig").splitlines()]
    numbers = [ln for ln in lines if ln and any(c.isdigit() for c in ln)]
    return bool(numbers) and all(re.fullmatch(r"[-+]?\d+,\d+", ln) for ln in numbers)


def read_sensor(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength_nm, dff) of a sensor spectrum CSV, sorted by wavelength, each (N,) float64.

    Two columns, ``wavelength_nm,dff``; a header line and ``#`` comments are allowed.
    """
    rows = _read_rows(path, "the sensor spectrum (wavelength_nm,dff)")
    if any(len(r) != 2 for r in rows):
        raise UnmixError(f"{path} must have two columns, wavelength_nm,dff; some lines have another number")
    data = np.array(rows, dtype=np.float64)
    order = np.argsort(data[:, 0], kind="stable")
    wl, dff = data[order, 0], data[order, 1]
    if len(wl) < 2 or np.any(np.diff(wl) <= 0):
        raise UnmixError(f"{path} must list at least two different wavelengths, each once")
    return wl, dff


def check_sensor(sensor: PathLike) -> None:
    """Refuse (UnmixError) a ``sensor`` that is neither a file nor a shipped spectrum's name
    (:data:`SENSORS`), as :func:`load_sensor` would, without reading it."""
    if not Path(sensor).is_file() and str(sensor) not in SENSORS:
        raise UnmixError(
            f"sensor spectrum {sensor} is neither a file nor a shipped spectrum ({', '.join(SENSORS)}); "
            "give a CSV with columns wavelength_nm,dff"
        )


def load_sensor(sensor: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength_nm, dff) of ``sensor``: a CSV file, or a shipped spectrum's name (:data:`SENSORS`)."""
    check_sensor(sensor)
    if Path(sensor).is_file():
        return read_sensor(sensor)
    with resources.as_file(resources.files("fluorodn") / "data" / SENSORS[str(sensor)]) as shipped:
        return read_sensor(shipped)


def wavelength_grid(spec: Any, n_bins: int) -> np.ndarray:
    """The (n_bins,) wavelengths in nm described by ``spec``.

    ``spec``: ``"FIRST:LAST"`` (evenly spaced over the bins), a one-column CSV file, or a
    sequence of ``n_bins`` numbers. Raises :class:`UnmixError` if the count differs from
    ``n_bins`` or the values are not finite and strictly monotonic.
    """
    if spec is None:
        raise UnmixError(
            "unmixing needs the bins' wavelengths: give them as 'FIRST:LAST' (e.g. '477:595'), one per bin, or a "
            "one-column CSV file"
        )
    if isinstance(spec, str) and (m := _RANGE.match(spec)):
        wl = np.linspace(float(m.group(1)), float(m.group(2)), n_bins)
        given = "the range " + spec.strip()
    elif isinstance(spec, (str, os.PathLike)):
        if not Path(spec).is_file():
            raise UnmixError(
                f"wavelengths {spec} is neither FIRST:LAST (e.g. 477:595) nor an existing one-column CSV file"
            )
        wl = read_values(spec, "wavelengths in nm")
        given = str(spec)
    else:
        try:
            wl = np.asarray(spec, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as err:
            raise UnmixError(f"wavelengths must be numbers in nm, FIRST:LAST or a CSV file, not {spec!r}") from err
        given = "the wavelengths given"
    if wl.size != n_bins:
        raise UnmixError(f"{given} lists {wl.size} wavelengths, but the recording has {n_bins} bins (columns)")
    if not np.isfinite(wl).all() or (n_bins > 1 and not (np.all(np.diff(wl) > 0) or np.all(np.diff(wl) < 0))):
        raise UnmixError(f"{given} must be finite wavelengths in nm, strictly increasing or decreasing")
    return wl


def wavelength_gap(given: np.ndarray, stated: np.ndarray) -> float:
    """How far (nm) ``given`` wavelengths lie from ``stated`` ones beyond half the narrowest bin of
    ``stated`` (a value in another bin); 0 where every one lies within it, inf for another count."""
    if given.shape != stated.shape:
        return math.inf
    half = 0.5 * float(np.min(np.abs(np.diff(stated)))) if stated.size > 1 else 0.0
    off = float(np.max(np.abs(given - stated)))
    return off if off > half else 0.0


def stated_grid(stated: Any, n_bins: int) -> np.ndarray | None:
    """The (n_bins,) wavelengths a file's ``wavelength_nm`` states: one per bin, the first and last
    (evenly spaced over the bins), or ``"FIRST:LAST"``; None where it states none, or none that fit
    its bins."""
    if stated is None or n_bins < 2:
        return None
    if isinstance(stated, list) and len(stated) == 2 and n_bins != 2:
        stated = f"{stated[0]}:{stated[1]}"
    try:
        return wavelength_grid(stated, n_bins)
    except (UnmixError, TypeError, ValueError):
        return None


def contradiction(given: np.ndarray, stated: np.ndarray, path: PathLike) -> str | None:
    """The sentence refusing wavelengths ``given`` that put a bin in another bin than those the file
    ``path`` states (:func:`wavelength_gap`); None where they agree."""
    off = wavelength_gap(given, stated)
    if not off > 0:
        return None
    return (
        f"the wavelengths given ({given[0]:g}-{given[-1]:g} nm) differ from those {path} states "
        f"({stated[0]:g}-{stated[-1]:g} nm) by up to {off:.3g} nm, more than half a bin; leave them out to use "
        "the file's"
    )


def recording_metadata(path: PathLike) -> dict[str, Any]:
    """Wavelengths, sampling rate and timestamps stored in a recording file, where it holds them.

    A TIFF whose image description is JSON with ``wavelength_nm`` (all the bins' wavelengths,
    or [first, last]), ``sampling_hz`` and ``dark_counts`` (the detector's dark level: one
    number, or one per bin; each at any depth), as ``fluorodn example`` writes, gives
    ``{"wavelength_nm": [...], "sampling_hz": 5.0, "dark_counts": [...]}``; other files give ``{}``.

    A TIFF that fluorodn converted from a spectrometer file (``to="tif"``, see
    :mod:`fluorodn.formats.convert`) also gives, from the top level of its description,
    ``time_s`` (one time per sample, as stored: :func:`fluorodn.unmixing.file.unmix_file`
    checks it), ``excitations`` where its rows interleave several, ``start``, ``time_zone`` and
    ``time_origin_s`` where the file it was converted from stated them, and ``"own_axes": True``
    where ``wavelength_nm`` sits beside fluorodn's provenance: the file carries its own axes,
    as the spectrometer file did.
    """
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        return {}
    import tifffile

    from fluorodn._tiff import _read_checked, description_metadata

    try:  # tifffile's logged complaints of a damaged file taken in, not printed
        with _read_checked(path), tifffile.TiffFile(path) as tif:
            text = tif.pages[0].description if tif.pages else ""
    except Exception:  # unreadable metadata is no metadata; the recording itself is read (and checked) elsewhere
        return {}
    meta = description_metadata(text)
    if meta and ('"time_s"' in text or '"excitations"' in text or '"fluorodn"' in text):
        doc = json.loads(text)  # description_metadata found keys in it: JSON
        if isinstance(doc, dict):
            stated = ("time_s", "excitations", "start", "time_zone", "time_origin_s")
            meta.update({k: doc[k] for k in stated if k in doc})
            if isinstance(doc.get("fluorodn"), dict) and "wavelength_nm" in doc:
                meta["own_axes"] = True
    return meta


def _read_rows(path: PathLike, what: str) -> list[list[float]]:
    try:
        raw = Path(path).read_bytes()
        # UTF-8 (with or without its byte-order mark), or UTF-16 by its mark (Excel's "Unicode text")
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else "not UTF-8 or UTF-16 text"
        raise UnmixError(f"cannot read {path} ({why}); give a CSV file of {what}") from err
    rows: list[list[float]] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if re.search(r"[;\t]", line):  # ';' or tab between the values: a comma in them is a decimal comma
            fields = [_decimal_point(f.strip()) for f in re.split(r"[;\t]+", line) if f.strip()]
        else:
            fields = [f.strip() for f in re.split(r"[, ]+", line) if f.strip()]
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            if rows or any(_is_number(f) for f in fields):  # only one header line, before the numbers
                raise UnmixError(f"{path}, line {n}: {line[:60]!r} is not numbers; give a CSV of {what}") from None
    if not rows:
        raise UnmixError(f"{path} holds no numbers; give a CSV file of {what}")
    return rows


def _decimal_point(field: str) -> str:
    """``field`` with a decimal comma (as spreadsheets of many locales write it) made a point."""
    return field.replace(",", ".") if field.count(",") == 1 and "." not in field else field


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- the arguments of unmix ----------------------------------------------------------------


def check_recording(arr: Any) -> np.ndarray:
    from fluorodn._engine import masked_refusal

    if (masked := masked_refusal(arr)) is not None:
        raise UnmixError(masked)
    x = np.asarray(arr)
    if x.dtype.kind not in "iuf" or x.ndim != 2 or x.size == 0:
        raise UnmixError(
            f"unmixing needs one 2D (time, wavelength) array of real numbers, got {x.dtype} data of shape {x.shape}"
        )
    if x.shape[0] < MIN_SAMPLES:
        n = x.shape[0]
        raise UnmixError(
            f"the recording has {n} time sample{'s' if n != 1 else ''}; unmixing needs at least {MIN_SAMPLES}"
        )
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        raise UnmixError(
            "the recording holds NaN or infinite values; pass nan='fill' to interpolate over them in time, or "
            "replace them first"
        )
    return x


def wavelengths_for(spec: Any, shape: tuple[int, int]) -> np.ndarray:
    """The wavelengths of the columns, refusing a recording stored as (wavelength, time)."""
    rows, cols = shape
    is_range = isinstance(spec, str) and _RANGE.match(spec) is not None
    if not is_range:
        try:
            n = _count(spec)
        except (UnmixError, TypeError, ValueError):
            n = cols  # wavelength_grid says what is wrong with spec
        if n != cols and n == rows:
            raise UnmixError(
                f"the recording is {rows} x {cols} and the {n} wavelengths match its rows: it looks "
                "transposed (wavelength x time); pass it as (time, wavelength), e.g. arr.T"
            )
    elif cols > rows:
        raise UnmixError(
            f"the recording has more columns ({cols}) than rows ({rows}): it looks transposed "
            "(wavelength x time); pass it as (time, wavelength), or list all the wavelengths to confirm the columns"
        )
    return wavelength_grid(spec, cols)


def _count(spec: Any) -> int:
    if isinstance(spec, (str, os.PathLike)):
        return len(read_values(spec, "wavelengths in nm"))
    return int(np.asarray(spec).size)


def sensor_on(sensor: Any, wl: np.ndarray) -> np.ndarray:
    if isinstance(sensor, (str, os.PathLike)):
        sw, dff = load_sensor(sensor)
        name = str(sensor)
    else:
        try:
            sw, dff = (np.asarray(v, dtype=np.float64).reshape(-1) for v in sensor)
        except (TypeError, ValueError) as err:
            raise UnmixError(
                "sensor must be a CSV file (wavelength_nm,dff), a shipped name, or (wavelength_nm, dff) arrays"
            ) from err
        if sw.shape == dff.shape:  # in any order, as a CSV file's rows
            order = np.argsort(sw, kind="stable")
            sw, dff = sw[order], dff[order]
        if sw.shape != dff.shape or sw.size < 2 or not np.isfinite(sw).all() or not np.all(np.diff(sw) > 0):
            raise UnmixError(
                "sensor (wavelength_nm, dff) must be two arrays of equal length, at least two different finite "
                "wavelengths, each once"
            )
        name = "the sensor spectrum"
    if not np.isfinite(dff).all():
        raise UnmixError(f"{name} holds NaN or infinite dF/F values")
    lo, hi = float(wl.min()), float(wl.max())
    tol = 1e-6 * max(1.0, hi)
    if sw[0] > lo + tol or sw[-1] < hi - tol:
        # wavelengths in micrometres (0.45-0.65) or angstroms (4500-6500) cover the recording's in nm
        unit = next(
            (u for u, k in (("micrometres", 1e3), ("angstroms", 0.1)) if k * sw[0] <= lo and k * sw[-1] >= hi), None
        )
        hint = f" (its wavelengths look like {unit}: give them in nm)" if unit else ""
        raise UnmixError(
            f"{name} covers {sw[0]:g}-{sw[-1]:g} nm but the recording {lo:g}-{hi:g} nm{hint}; "
            "give a sensor spectrum over the whole range (it is not extrapolated)"
        )
    response = np.interp(wl, sw, dff)
    if not np.any(response):
        raise UnmixError(f"{name} is zero over the recording's wavelengths, so the sensor cannot be seen")
    return response


def stated_start(meta: dict[str, Any]) -> datetime | None:
    """The start time a TIFF converted from a spectrometer file states (:func:`recording_metadata`'s
    ``start``, ISO 8601), naive where it names no offset; None where it states none."""
    stamp = meta.get("start")
    try:
        return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def stated_dark(meta: dict[str, Any], n_bins: int, src: PathLike) -> np.ndarray | None:
    """The dark level a file's metadata states (``dark_counts``, :func:`recording_metadata`) as
    :func:`dark_levels` gives it, or None where it states none; a stated level that is not one
    finite number or one per bin, or that is negative, is refused, naming the file."""
    if meta.get("dark_counts") is None:
        return None
    value = meta["dark_counts"]
    try:
        values = _dark_values(value if isinstance(value, list) else [value], n_bins)
    except (UnmixError, TypeError, ValueError):
        raise UnmixError(
            f"{src} states a dark level (dark_counts) that is neither one number nor {n_bins} (one per bin); "
            "give the dark level with --dark"
        ) from None
    if negative := _negative_dark(values, n_bins):
        raise UnmixError(f"{src} states a dark level (dark_counts) that cannot be one: {negative}")
    return values


def dark_levels(dark: Any, n_bins: int) -> np.ndarray:
    """(W,) the dark level ``dark`` (None: 0; a number; one per bin; a one-column CSV of them, or
    the text of one number) per bin, refused in one sentence where it is not one finite number
    or one per bin, or is negative."""
    values = _dark_values(dark, n_bins)
    if negative := _negative_dark(values, n_bins):
        raise UnmixError(negative)
    return values


def _dark_values(dark: Any, n_bins: int) -> np.ndarray:
    """:func:`dark_levels` but for the sign."""
    if dark is None:
        return np.zeros(n_bins)
    if isinstance(dark, (str, os.PathLike)):
        text = str(dark)
        if "," in text and not os.path.exists(text) and _is_number(_decimal_point(text.strip())):
            point, whole = _decimal_point(text.strip()), text.strip().replace(",", "")
            if re.fullmatch(r"\d{1,3},\d{3}", text.strip()):  # 1,000: a thousands separator or a decimal comma
                how = f"{whole} where the comma separates thousands, {point} where it is decimal"
            else:
                how = f"with a decimal point: {point}"
            raise UnmixError(f"the dark level {text} reads as no number: write it {how}")
        values = np.array([float(text)]) if _is_number(text) else read_values(dark, "dark levels per bin")
    else:
        values = np.asarray(dark, dtype=np.float64).reshape(-1)
    if values.size not in (1, n_bins):
        raise UnmixError(f"the dark level must be one number or {n_bins} values (one per bin), got {values.size}")
    if not np.isfinite(values).all():
        bad = ~np.isfinite(values)
        if values.size == 1:
            raise UnmixError(f"the dark level must be a finite number of counts, not {values[0]}")
        raise UnmixError(
            f"the dark levels per bin must be finite, and {int(bad.sum())} of the {n_bins} are not "
            f"(the first: {values[bad][0]} at bin {int(np.argmax(bad))})"
        )
    return np.full(n_bins, values[0]) if values.size == 1 else values


def _negative_dark(values: np.ndarray, n_bins: int) -> str | None:
    """Why the dark levels ``values`` (one per bin) cannot be a detector's: the counts it reports
    with the light off are 0 or more, and a negative level would add to the signal; None where none
    is negative."""
    bad = values < 0
    if not bad.any():
        return None
    if np.all(values == values[0]):
        return f"the dark level is the counts the detector reports with the light off, 0 or more, not {values[0]:g}"
    first = f"the first: {values[bad][0]:g} at bin {int(np.argmax(bad))}"
    return (
        f"the dark levels per bin are the counts the detector reports with the light off, 0 or more, and "
        f"{int(bad.sum())} of the {n_bins} are negative ({first})"
    )
