"""HDF5 recordings with explicit axes: ``Channel1``, ``Channel2``, ... beside ``Time`` and ``Wavelength``.

Hyperspectral photometry rigs keep one dataset per excitation laser (``Channel1..3``, each
time x wavelength) and the two axes as 1D datasets in the same group: ``Time`` (seconds,
or the unit its ``units`` attribute names) and ``Wavelength`` (nm). A dataset can also be
named (``key``): a 2D (time x wavelength) or a 3D (time x excitation x wavelength) array.

A dataset's axes are taken, for each of time and wavelength, from the first of:

* a dimension scale attached to it (as h5py, netCDF4 and xarray write them), whatever its
  name: the dimension it is attached to is that axis, and its role is what the scale's
  dataset name, its scale name or the dimension's label says (``time``/``stamp``;
  ``wavelength``/``lambda``/``wl``/``nm``); of a 2D dataset whose one scale says its role,
  the scale on the other dimension is the other axis;
* a 1D dataset ``Time``/``Wavelength`` in its group;
* a 1D numeric attribute ``Time``/``Wavelength`` (or ``Timestamps``, ``Wavelengths``) of the
  dataset itself;
* 1D datasets ``Time`` and ``Wavelength`` in the nearest group above that holds both, each as long
  as another of its dimensions (a dataset named with ``key`` in a subgroup, its axes at the root;
  one alone, or lengths that do not fit it together, belong to other data).

Axes not fixed to a dimension orient each 2D array by their lengths (a stored wavelength x
time array is read transposed and written back as stored); an array the axes do not fit, or
fit two ways, is refused. So are axes found in a form not read (a 1D dataset beside the data
whose name says time or wavelength but that is neither named so nor attached as a scale;
scales whose references point nowhere), rather than the array read without its axes.

A time axis's unit is its attribute ``units`` or ``unit`` (any case; text, or an array of one
text; for an attribute axis ``<name>_units``): ``s``, ``ms``, ``us``, ``ns`` or spelled out,
or such a unit "since" a date as CF and xarray write it (``seconds since 2017-01-20 10:37:06``:
the date, UTC unless it names its zone, is where the times count from, and the first sample's
time after it is kept as the start); without one it is seconds, unless another attribute names a
unit (e.g. ``time_unit``), which is refused rather than taken for seconds. A wavelength axis's
unit is found the same way: a length (``nm``, ``um``/``µm``, ``mm``, ``m``, ``pm``, ``Å``, or
spelled out), converted to nm; without one it is nm; any other unit is refused.

A wavelength axis must hold finite values that increase or decrease bin by bin (a descending
axis is read as stored), and at least 5 of them: fewer are no spectrum's (the wavelengths of the
excitation lasers, say), and are not taken for the spectral axis; where the time axis does not
then tell the layout (a 3D dataset, or a 2D one without time), the file is refused.

Only hard-linked datasets stored in the file are read: soft and external links, virtual
datasets and datasets kept in external files are refused (a file from elsewhere must not
make fluorodn read other files).

Writing copies every object of the input into a new file and puts each denoised dataset
in place of its input (same name, shape, orientation, attributes, chunks and compression;
float32, or the input's type), with provenance as the root attribute ``fluorodn_provenance``.
References are re-made in the new file: dimension scales are attached as in the input, and
attributes holding object references point to the new file's objects; references that cannot
be (region references, references that point nowhere) are left out with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError
from fluorodn.files import read_errors
from fluorodn.formats._h5copy import attribute_text as _text
from fluorodn.formats._h5copy import copy_file
from fluorodn.formats._h5filters import require_filters
from fluorodn.formats.timing import check_finite, check_wavelengths

__all__ = ["DARK_ATTR", "PROVENANCE_ATTR", "RATE_ATTRS", "HDF5Axes", "write_axes_file"]

PROVENANCE_ATTR = "fluorodn_provenance"
#: Root attribute holding the detector's dark level (one value, or one per bin) where it is known.
DARK_ATTR = "dark_counts"
#: Attributes (on the root, the data's group or the dataset) read as a declared sampling rate in Hz.
RATE_ATTRS = ("sampling_rate", "SamplingRate", "sample_rate", "sampling_rate_hz", "fs", "frame_rate")
_TIME_NAMES = ("Time", "time")
_WL_NAMES = ("Wavelength", "wavelength")
#: Attributes of a dataset read as its axes (names compared in lower case).
_ATTR_AXES = {
    "time": "time",
    "times": "time",
    "timestamp": "time",
    "timestamps": "time",
    "wavelength": "wavelength",
    "wavelengths": "wavelength",
}
_CHANNEL = re.compile(r"^Channel(\d+)$")
#: Seconds per unit of a time axis, by the unit's name in lower case.
_TIME_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("ms", "msec", "msecs", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("us", "\u00b5s", "\u03bcs", "usec", "usecs", "microsecond", "microseconds"), 1e-6),
    **dict.fromkeys(("ns", "nsec", "nsecs", "nanosecond", "nanoseconds"), 1e-9),
}
_UNITS_EXPECTED = "expected seconds (s), milliseconds (ms), microseconds (us) or nanoseconds (ns)"
#: Nanometers per unit of a wavelength axis, by the unit's name in lower case.
_WL_UNITS = {
    **dict.fromkeys(("nm", "nanometer", "nanometers", "nanometre", "nanometres"), 1.0),
    **dict.fromkeys(
        ("um", "\u00b5m", "\u03bcm", "micrometer", "micrometers", "micrometre", "micrometres", "micron", "microns"), 1e3
    ),
    **dict.fromkeys(("mm", "millimeter", "millimeters", "millimetre", "millimetres"), 1e6),
    **dict.fromkeys(("cm", "centimeter", "centimeters", "centimetre", "centimetres"), 1e7),
    **dict.fromkeys(("m", "meter", "meters", "metre", "metres"), 1e9),
    **dict.fromkeys(("pm", "picometer", "picometers", "picometre", "picometres"), 1e-3),
    **dict.fromkeys(("\u00e5", "angstrom", "angstroms", "\u00e5ngstr\u00f6m", "\u00e5ngstr\u00f6ms"), 0.1),
}
_WL_UNITS_EXPECTED = "expected a length: nanometers (nm), micrometers (um), meters (m) or angstroms (\u00c5)"
#: Per role: the units by name, what the refusal expects, the units in short, and what is taken without one.
_UNITS = {
    "time": (_TIME_UNITS, _UNITS_EXPECTED, "s, ms, us or ns", "seconds"),
    "wavelength": (_WL_UNITS, _WL_UNITS_EXPECTED, "nm, um, m or \u00c5", "nanometers"),
}
#: A CF time unit: a unit, "since", and the date the times count from.
_SINCE = re.compile(r"^(\S+)\s+since\s+(.*?)$")
_CF_DATE = re.compile(
    r"^(\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ t](\d{1,2}):(\d{1,2})(?::(\d{1,2}(?:\.\d*)?))?)?"
    r"\s*(z|utc|gmt|[+-]\d{1,2}(?::?\d{2})?)?$"
)
#: Fewest values of a wavelength axis taken for a spectrum's: fewer are the wavelengths of an
#: excitation's lasers or a few filters' bands, not the bins of a spectrum.
_FEWEST_BINS = 5
#: The scale name netCDF4 gives a dimension that has no coordinate variable (its values are not an axis).
_NETCDF_DIMENSION = "This is a netCDF dimension but not a netCDF variable"
_EXPECTED = (
    "expected datasets Channel1, Channel2, ... (time x wavelength) with 1D datasets Time and Wavelength beside "
    "them, or name the dataset with key=..."
)


def _candidates(f: Any) -> list[str]:
    """Paths of the 2D or 3D numeric datasets anywhere in the file ``f`` (groups walked by their hard
    links), other than time and wavelength axes."""
    import h5py

    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        axis = name.rpartition("/")[2] in (*_TIME_NAMES, *_WL_NAMES)
        if isinstance(obj, h5py.Dataset) and not axis and _numeric(obj) and obj.ndim in (2, 3):
            found.append(name)

    f.visititems(visit)
    return found


def _hard_dataset(group: Any, name: str, where: str) -> Any:
    """The dataset ``name`` of ``group``, refusing links and data outside the file; None if absent."""
    import h5py

    link = group.get(name, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
        raise FileFormatError(f"{where}: {name} is {kind}; fluorodn reads only datasets stored in the file itself")
    obj = group[name]
    if not isinstance(obj, h5py.Dataset):
        return obj
    _refuse_outside(obj, name, where)
    return obj


def _refuse_outside(ds: Any, name: str, where: str) -> None:
    """Refuse a dataset whose data lie in other files, or that needs a filter HDF5 lacks here."""
    if ds.is_virtual or ds.external:
        raise FileFormatError(
            f"{where}: {name} keeps its data in other files (virtual or external storage); "
            "fluorodn reads only datasets stored in the file itself"
        )
    require_filters(ds, name, where)


def _numeric(ds: Any) -> bool:
    import h5py

    return isinstance(ds, h5py.Dataset) and ds.dtype.kind in "iuf" and ds.dtype.fields is None and ds.size > 0


def _one_d(ds: Any) -> bool:
    """Whether ``ds`` is a numeric axis: 1D, or (1, N) / (N, 1)."""
    return _numeric(ds) and sum(int(n) > 1 for n in ds.shape) <= 1


def _rate(*objs: Any) -> float | None:
    """The sampling rate (Hz) the first of ``objs`` to hold one of :data:`RATE_ATTRS` states: a
    number, or text of one in Hz or kHz (``"10 Hz"``); None where none does, or not readably."""
    for obj in objs:
        for name in RATE_ATTRS:
            if obj is not None and name in obj.attrs:
                value = np.asarray(obj.attrs[name]).ravel()
                if value.size != 1:
                    continue
                if value.dtype.kind in "iuf":
                    return float(value[0])
                if value.dtype.kind in "SUO":
                    text = value[0].decode("utf-8", "replace") if isinstance(value[0], bytes) else str(value[0])
                    found = _RATE_TEXT.fullmatch(text.strip())
                    if found:
                        return float(found[1]) * (1000.0 if found[2] and found[2].lower() == "khz" else 1.0)
    return None


#: A rate stated as text: a number, optionally in Hz or kHz.
_RATE_TEXT = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(hz|khz)?", re.IGNORECASE)


def _role(*names: str | None) -> str | None:
    """The role ``names`` say, "time" or "wavelength" (where none says the other); None if neither, and
    for an excitation's axis (its lasers' wavelengths are not the spectrum's)."""
    roles = set()
    for name in names:
        text = (name or "").lower()
        if "excitation" in text or "laser" in text:
            return None
        if "time" in text or "stamp" in text:
            roles.add("time")
        if "wavelength" in text or "lambda" in text or re.search(r"(?<![a-z])(wl|nm)(?![a-z])", text):
            roles.add("wavelength")
    return roles.pop() if len(roles) == 1 else None


@dataclass
class _Axis:
    """A time or wavelength axis found for a dataset."""

    role: str
    """Which axis: "time" or "wavelength"."""
    label: str
    """How messages name it: ``Time``, ``dimension scale /timestamps``, ``attribute Time of spectra``."""
    values: np.ndarray | None
    """(N,) as stored; None where the dimension is known but holds no values (a netCDF dimension)."""
    dim: int | None
    """The dimension of the dataset it labels; None: found by its length."""
    seconds: float = 1.0
    """Seconds per stored unit (a time axis)."""
    epoch: datetime | None = None
    """The date a time axis counts from, where its unit names one (``seconds since ...``)."""
    nm: float = 1.0
    """Nanometers per stored unit (a wavelength axis)."""

    def describe(self) -> str:
        if self.values is None:
            return f"{self.label} (dimension {self.dim})"
        return f"{self.label} ({self.values.size} values)"


def _unit(
    attrs: Any, unit_names: Sequence[str], lookalike: str, label: str, where: str, role: str = "time"
) -> tuple[float, datetime | None]:
    """Seconds (time) or nanometers (wavelength) per unit of the ``role`` axis ``label`` from the attribute
    of ``attrs`` that one of ``unit_names`` names (any case), and the date a time axis counts from where
    its unit is "<unit> since <date>" (else None); 1 without one, unless another attribute whose name
    holds ``lookalike`` and "unit" is there (FileFormatError: its unit is not taken for the default)."""
    table, expected, short, default = _UNITS[role]
    names = list(attrs)
    found = [n for n in names if n.strip().lower() in unit_names]
    if not found:
        others = [n for n in names if "unit" in n.lower() and lookalike in n.lower()]
        if others:
            text = _text(attrs[others[0]])
            shown = f' ("{text}")' if text is not None else ""
            raise FileFormatError(
                f"{where}: {label} has no attribute {unit_names[0]} but an attribute {others[0]}{shown}; fluorodn "
                f"takes a {role} unit only from an attribute {unit_names[0]} ({short}): rename {others[0]} to "
                f"{unit_names[0]}, so that the {role}s are not taken for {default}"
            )
        return 1.0, None
    texts = [_text(attrs[n]) for n in found]
    if any(t is None for t in texts):
        bad = found[texts.index(None)]
        raise FileFormatError(
            f"{where}: {label}'s attribute {bad} is not one text (a string, or an array of one string); {expected}"
        )
    units = {t.strip().lower() for t in texts if t is not None}
    if len(units) > 1:
        shown = ", ".join(f'{n} "{t}"' for n, t in zip(found, texts, strict=True))
        raise FileFormatError(f"{where}: {label} has attributes {shown}, which disagree; keep one of them")
    unit = units.pop()
    epoch = None
    since = _SINCE.match(unit) if role == "time" else None
    if since is not None:
        unit = since.group(1)
        epoch = _cf_date(since.group(2))
        if epoch is None:
            raise FileFormatError(
                f'{where}: {label} has units "{texts[0]}", whose date after "since" fluorodn does not read; expected '
                'a date as CF writes it after "since" (YYYY-MM-DD hh:mm:ss, and its zone where not UTC)'
            )
    # a label around a length: "nm (vacuum)", "Wavelength [nm]"; never a power of one ("cm-1", "1/cm")
    if unit not in table and role == "wavelength" and not re.search(r"[\d/^]|\bper\b|inverse|recip", unit):
        named = {w for w in re.split(r"[^\w\u00b5\u03bc\u00e5]+", unit) if w in table}
        unit = named.pop() if len(named) == 1 else unit
    if unit not in table:
        raise FileFormatError(f'{where}: {label} has units "{texts[0]}"; {expected}')
    return table[unit], epoch


def _cf_date(text: str) -> datetime | None:
    """The date of a CF time unit after "since" (lower case: ``2017-01-20 10:37:06``, ``2017-01-20t10:37:06z``,
    ``1970-01-01 00:00:00 +01:00``), in UTC unless it names another offset, as CF reads it; None where it
    is no such date."""
    m = _CF_DATE.match(text.strip())
    if m is None:
        return None
    y, mo, d, hh, mi, ss, zone = m.groups()
    offset = timedelta(0)
    if zone is not None and zone[0] in "+-":
        h, _, rest = zone[1:].partition(":")
        if not rest and len(h) > 2:  # +0100
            h, rest = h[:-2], h[-2:]
        offset = (1 if zone[0] == "+" else -1) * timedelta(hours=int(h), minutes=int(rest or 0))
    try:
        when = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), tzinfo=timezone(offset))
    except ValueError:
        return None
    return when + timedelta(seconds=float(ss or 0))


def _values(ds: Any, label: str, where: str) -> np.ndarray:
    """The values of the axis dataset ``ds`` as stored, (N,)."""
    _refuse_outside(ds, label, where)
    if not _one_d(ds):
        raise FileFormatError(f"{where}: {label} is not a 1D numeric axis; {_EXPECTED}")
    return np.asarray(ds[()]).ravel()


def _dataset_axis(ds: Any, role: str, label: str, dim: int | None, where: str) -> _Axis:
    values = _values(ds, label, where)
    scale, epoch = _unit(ds.attrs, ("units", "unit"), "", label, where, role)
    if role == "time":
        return _Axis(role, label, values, dim, scale, epoch)
    return _Axis(role, label, values, dim, nm=scale)


def _scale_axes(ds: Any, name: str, where: str) -> tuple[dict[str, _Axis], bool]:
    """The axes of ``ds`` its dimension scales and dimension labels give, by role, and whether the
    scales attached to it could not be followed (references that point nowhere)."""
    try:
        labels = [str(d.label or "") for d in ds.dims]
    except (RuntimeError, KeyError, ValueError, OSError):
        labels = [""] * ds.ndim
    try:
        scales = [list(d.values()) for d in ds.dims] if "DIMENSION_LIST" in ds.attrs else [[] for _ in labels]
    except (RuntimeError, KeyError, ValueError, OSError):
        return {}, True
    found: dict[str, _Axis] = {}
    neutral: list[tuple[int, Any]] = []
    for i, attached in enumerate(scales):
        roles: dict[str, Any] = {}
        for scale in attached:
            base = (scale.name or "").rsplit("/", 1)[-1]
            own = None if _is_netcdf_dimension(scale) else _text(scale.attrs.get("NAME", b""))
            role = _role(base, own, labels[i])
            if role is not None:
                roles.setdefault(role, scale)
        if len(roles) > 1:
            raise FileFormatError(
                f"{where}: dimension {i} of {name} has both a time and a wavelength scale attached; expected one "
                "axis per dimension"
            )
        axis: _Axis | None = None
        if roles:
            role, scale = roles.popitem()
            axis = _scale_axis(scale, role, i, where)
        elif attached:
            neutral.append((i, attached[0]))
        elif _role(labels[i]) is not None:  # a dimension labelled (time, wavelength) without values
            axis = _Axis(str(_role(labels[i])), f"dimension label {labels[i]!r}", None, i)
        if axis is not None:
            if axis.role in found:
                raise FileFormatError(
                    f"{where}: {name} has a {axis.role} axis on dimensions {found[axis.role].dim} and {i}; expected "
                    "one time and one wavelength axis"
                )
            found[axis.role] = axis
    if ds.ndim == 2 and len(found) == 1 and len(neutral) == 1:
        (known,) = found.values()
        i, scale = neutral[0]
        if known.dim != i:  # a 2D dataset's other dimension is the other axis
            role = "wavelength" if known.role == "time" else "time"
            found[role] = _scale_axis(scale, role, i, where)
    return found, False


def _scale_axis(scale: Any, role: str, dim: int, where: str) -> _Axis:
    import h5py

    label = f"dimension scale {scale.name}"
    if not isinstance(scale, h5py.Dataset):
        raise FileFormatError(f"{where}: {label} is not a dataset; {_EXPECTED}")
    if _is_netcdf_dimension(scale):
        return _Axis(role, label, None, dim)
    return _dataset_axis(scale, role, label, dim, where)


def _attribute_axes(ds: Any, name: str, roles: Sequence[str], where: str) -> dict[str, _Axis]:
    """The axes of ``roles`` that numeric array attributes of ``ds`` named like them give (see _ATTR_AXES):
    read where they fit one of its dimensions or increase or decrease throughout (not a date vector)."""
    found: dict[str, _Axis] = {}
    for attr in ds.attrs:
        role = _ATTR_AXES.get(attr.strip().lower())
        if role is None or role not in roles or role in found:
            continue
        try:
            value = np.asarray(ds.attrs[attr])
        except (OSError, TypeError, ValueError):
            continue
        if value.dtype.kind not in "iuf" or value.size < 2 or sum(n > 1 for n in value.shape) > 1:
            continue
        values = value.ravel()
        if values.size not in ds.shape and not _monotonic(values):
            continue
        label = f"attribute {attr} of {name}"
        key = attr.strip().lower()
        units = tuple(f"{key}{sep}{u}" for sep in ("_", "", " ") for u in ("units", "unit"))
        scale, epoch = _unit(ds.attrs, units, role, label, where, role)
        if role == "time":
            found[role] = _Axis(role, label, values, None, scale, epoch)
        else:
            found[role] = _Axis(role, label, values, None, nm=scale)
    return found


def _axes_of(ds: Any, group: Any, name: str, where: str) -> tuple[_Axis | None, _Axis | None]:
    """The time and wavelength axes of the dataset ``ds`` (at ``name`` in ``group``), each None if absent.

    A dimension known from a scale or label without values takes its values from the group's
    Time or Wavelength dataset, else from the dataset's attribute, else from the nearest group
    above that holds both, each as long as another of its dimensions, where there is one.
    """
    import h5py

    found, broken = _scale_axes(ds, name, where)

    def place(axis: _Axis) -> None:
        known = found.get(axis.role)
        if known is not None:
            axis.dim = known.dim
        found[axis.role] = axis

    for role, names in (("time", _TIME_NAMES), ("wavelength", _WL_NAMES)):
        if role in found and found[role].values is not None:
            continue
        for n in names:
            axis_ds = _hard_dataset(group, n, where)
            if axis_ds is None or _is_netcdf_dimension(axis_ds):
                continue
            if not isinstance(axis_ds, h5py.Dataset):
                raise FileFormatError(f"{where}: {n} is not a 1D numeric axis; {_EXPECTED}")
            place(_dataset_axis(axis_ds, role, n, None, where))
            break
    without = [r for r in ("time", "wavelength") if r not in found or found[r].values is None]
    for axis in _attribute_axes(ds, name, without, where).values():
        place(axis)
    without = [r for r in ("time", "wavelength") if r not in found or found[r].values is None]
    # else the nearest group above that holds both, each as long as another of its dimensions (a
    # dataset named with key=... in a subgroup, its axes at the root): one alone, or lengths that do
    # not fit the dataset together, belong to other data
    if without:
        shape = tuple(int(n) for n in ds.shape)
        for parent in _ancestors(group):
            t_ds, w_ds = (
                next((d for n in names if _fits(d := _hard_dataset(parent, n, where), shape)), None)
                for names in (_TIME_NAMES, _WL_NAMES)
            )
            if t_ds is None or w_ds is None or _is_netcdf_dimension(t_ds) or _is_netcdf_dimension(w_ds):
                continue
            dims = range(len(shape))
            if not any(a != b and shape[a] == t_ds.size and shape[b] == w_ds.size for a in dims for b in dims):
                continue
            for role, axis_ds in (("time", t_ds), ("wavelength", w_ds)):
                if role in without:
                    place(_dataset_axis(axis_ds, role, axis_ds.name, None, where))
            break
    without = [r for r in ("time", "wavelength") if r not in found or found[r].values is None]
    if broken and without:
        raise FileFormatError(
            f"{where}: the dimension scales attached to {name} cannot be followed (their references point to "
            "nothing in the file); store its axes as 1D datasets Time and Wavelength beside it, or attach them again"
        )
    for role in without:
        _refuse_unread(group, ds, name, role, where)
    return found.get("time"), found.get("wavelength")


def _ancestors(group: Any) -> list[Any]:
    """The groups above ``group``, nearest first, up to the file's root."""
    out = []
    while group.name != "/":
        group = group.parent
        out.append(group)
    return out


def _fits(obj: Any, shape: tuple[int, ...]) -> bool:
    """Whether ``obj`` is a 1D numeric dataset as long as one of the dimensions ``shape``."""
    return _one_d(obj) and _numeric(obj) and int(obj.size) in shape


def _refuse_unread(group: Any, ds: Any, name: str, role: str, where: str) -> None:
    """FileFormatError where a 1D dataset beside ``ds`` whose name says ``role`` fits one of its dimensions
    and increases or decreases throughout: an axis fluorodn does not read as one."""
    import h5py

    shape = tuple(int(n) for n in ds.shape)
    for n in group:
        link = group.get(n, getlink=True)
        if not isinstance(link, h5py.HardLink) or n in (*_TIME_NAMES, *_WL_NAMES) or _role(n) != role:
            continue
        other = group[n]
        if not (_one_d(other) and other.size in shape and _monotonic(np.asarray(other[()]).ravel())):
            continue
        axis = "Time" if role == "time" else "Wavelength"
        raise FileFormatError(
            f"{where}: beside {name} is {n} ({other.size} values), whose name says {role}, but fluorodn reads "
            f"the {role} axis only from a 1D dataset {axis} beside the data (or with the other axis in a group "
            f"above it), a dimension scale attached to it, or its attribute {axis}: rename {n} to {axis}, or "
            f"attach it to {name} as a dimension scale"
        )


def _monotonic(values: np.ndarray) -> bool:
    """Whether ``values`` (2 or more) increase or decrease throughout, as an axis does."""
    steps = np.diff(values.astype(np.float64))
    return values.size > 1 and bool(np.all(steps > 0) or np.all(steps < 0))


def _is_netcdf_dimension(ds: Any) -> bool:
    """Whether ``ds`` is netCDF4's stand-in for a dimension without coordinates (its values are not an axis)."""
    return (_text(ds.attrs.get("NAME", b"")) or "").startswith(_NETCDF_DIMENSION)


def _seconds(axis: _Axis, where: str) -> tuple[np.ndarray, float]:
    """(seconds since the first sample (T,), the first sample's time on the file's clock) of a time axis."""
    raw = axis.values
    assert raw is not None
    if raw.dtype.kind == "f":
        values = raw.astype(np.float64)
        check_finite(values, where)
        return (values - values[0]) * axis.seconds, float(values[0]) * axis.seconds
    ints = raw.astype(np.int64)  # differences of integer clocks (e.g. ns since 1970) stay exact
    return (ints - ints[0]).astype(np.float64) * axis.seconds, float(raw[0]) * axis.seconds


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


@dataclass
class _Source:
    """One input dataset: its path, stored shape, and where time, wavelength and excitation are."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    time_axis: int
    wl_axis: int
    exc_axis: int | None


class LockedError(FileFormatError):
    """An HDF5 file another program holds open with its lock (a writer): readable once it closes it."""


def _eofs(message: str) -> str:
    """How much of a truncated HDF5 file is there, from h5py's message (``eof = N``, ``stored_eof =
    M``): "N of M bytes", or "shorter than it says" where the message does not say."""
    import re

    have, want = re.search(r"\beof = (\d+)", message), re.search(r"stored_eof = (\d+)", message)
    return f"{have.group(1)} of {want.group(1)} bytes" if have and want else "shorter than it says"


def _locked(err: OSError) -> bool:
    """Whether HDF5 could not open a file because another program holds its lock (a writer), not because
    the file system takes no locks."""
    return err.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES) and "lock" in str(err).lower()


@dataclass
class HDF5Axes:
    """An HDF5 recording with axes, read: one (T, W) array per channel and what is needed to write it back."""

    path: Path
    channels: list[np.ndarray]
    """(T, W) arrays in the dataset's type, one per channel (dataset, or excitation of a 3D dataset)."""
    names: list[str]
    """Channel names: the dataset's, plus ``[e]`` for excitation e of a 3D dataset."""
    wavelengths: np.ndarray | None
    times: np.ndarray | None
    """(T,) seconds since the first sample, or None without a time axis."""
    declared_rate: float | None
    """A sampling rate (Hz) the file states in an attribute (see RATE_ATTRS), or None."""
    meta: dict[str, Any]
    _sources: list[_Source]

    @property
    def dtype(self) -> np.dtype:
        return self._sources[0].dtype

    @property
    def has_excitation_axis(self) -> bool:
        """Whether a dataset read is 3D (time x excitation x wavelength): its excitations are the channels."""
        return any(src.exc_axis is not None for src in self._sources)

    @classmethod
    def read(cls, path: str | Path, key: str | None = None) -> HDF5Axes:
        import h5py

        path = Path(path)
        where = str(path)
        with read_errors(path, "an HDF5 recording", _EXPECTED):
            if not h5py.is_hdf5(path):
                raise FileFormatError(f"{where} is not an HDF5 file; {_EXPECTED}")
            try:
                f = h5py.File(path, "r")
            except OSError as err:
                if _locked(err):
                    raise LockedError(
                        f"cannot read {where}: it is open in another program, which locks it (being written?); "
                        "read it again once that program has closed it"
                    ) from None
                if "truncated file" in str(err):
                    raise FileFormatError(
                        f"{where} is truncated ({_eofs(str(err))}): its end is missing; copy or write it again"
                    ) from None
                raise
            with f:
                return cls._read(f, path, where, key)

    @classmethod
    def _read(cls, f: Any, path: Path, where: str, key: str | None) -> HDF5Axes:
        import h5py

        if key is not None:
            parent_name, _, leaf = key.strip("/").rpartition("/")
            group = f.get(parent_name) if parent_name else f  # None, or a dataset, where no such group is
            ds = _hard_dataset(group, leaf, where) if leaf and isinstance(group, h5py.Group) else None
            if not isinstance(ds, h5py.Dataset) or not _numeric(ds) or ds.ndim not in (2, 3):
                raise FileFormatError(
                    f"{where}: key={key!r} is not a 2D or 3D numeric dataset; give the path of the time x wavelength "
                    f"(or time x excitation x wavelength) dataset; the file holds {_listing(f)}"
                )
            datasets = [(key.strip("/"), ds)]
        else:
            group = f
            names = sorted((n for n in f if _CHANNEL.match(n)), key=lambda n: int(_CHANNEL.match(n).group(1)))  # type: ignore[union-attr]
            datasets = [(n, _hard_dataset(f, n, where)) for n in names]
            if not datasets:
                others = [(n, _hard_dataset(f, n, where)) for n in f if n not in (*_TIME_NAMES, *_WL_NAMES)]
                others = [(n, d) for n, d in others if _numeric(d) and d.ndim in (2, 3)]
                if not others and len(inside := _candidates(f)) == 1:
                    # the file's one recording lies in a group: read as if named with key=...
                    return cls._read(f, path, where, inside[0])
                if len(others) != 1:
                    raise FileFormatError(f"{where} holds {_listing(f)}; {_EXPECTED}")
                datasets = others
        sources: list[_Source] = []
        channels: list[np.ndarray] = []
        names_out: list[str] = []
        first: tuple[str, np.ndarray | None, float | None, np.ndarray | None, datetime | None] | None = None
        for name, ds in datasets:
            if isinstance(ds, h5py.Dataset) and ds.size == 0 and ds.ndim in (2, 3) and ds.dtype.kind in "iuf":
                shape = " x ".join(str(int(n)) for n in ds.shape)
                raise FileFormatError(f"{where}: {name} holds no values ({shape}); nothing to denoise")
            if not _numeric(ds) or ds.ndim not in (2, 3):
                raise FileFormatError(f"{where}: {name} is not a 2D numeric dataset (time x wavelength); {_EXPECTED}")
            time, wl = _axes_of(ds, group, name, where)
            wl = _spectral(name, ds, time, wl, where)
            src = _orient(name, ds, time, wl, where)
            times, origin = _seconds(time, where) if time is not None and time.values is not None else (None, None)
            start = None
            if time is not None and time.epoch is not None and origin is not None:
                start = time.epoch + timedelta(seconds=origin)
            wavelengths = None
            if wl is not None and wl.values is not None:
                wavelengths = wl.values.astype(np.float64) * wl.nm
                check_wavelengths(wavelengths, where, wl.label, "expected one wavelength per bin, in order")
            if first is None:
                first = (name, times, origin, wavelengths, start)
            elif not (
                _same(first[1], times) and first[2] == origin and _same(first[3], wavelengths) and first[4] == start
            ):
                raise FileFormatError(
                    f"{where}: {name} has other time or wavelength axes than {first[0]}; expected one time and one "
                    "wavelength axis for all the channels read together (pick one with key=...)"
                )
            data = np.asarray(ds[()])
            sources.append(src)
            if src.exc_axis is None:
                channels.append(np.moveaxis(data, (src.time_axis, src.wl_axis), (0, 1)))
                names_out.append(name)
            else:
                arr = np.moveaxis(data, (src.time_axis, src.exc_axis, src.wl_axis), (0, 1, 2))
                for e in range(arr.shape[1]):
                    channels.append(arr[:, e, :])
                    names_out.append(f"{name}[{e}]")
        assert first is not None
        _, times, origin, wavelengths, start = first
        shapes = {c.shape for c in channels}
        if len(shapes) > 1:
            raise FileFormatError(f"{where}: its channels have different shapes {sorted(shapes)}; {_EXPECTED}")
        rate = _rate(datasets[0][1], group, f)
        meta: dict[str, Any] = {"key": key, "datasets": [s.name for s in sources]}
        if times is not None:
            meta["time_origin_s"] = origin  # its first sample's time on its own clock, which times count from
        if start is not None:  # the date its clock counts from, plus its first sample's time on it
            meta["start"], meta["time_zone"] = start, start.tzname() or ""
        exc = np.asarray(f.attrs.get("excitations", 1)).ravel()
        if exc.size == 1 and exc.dtype.kind in "iu" and int(exc[0]) > 1:
            meta["excitations"] = int(exc[0])
        dark = np.asarray(f.attrs.get(DARK_ATTR, [])).ravel()
        if dark.size and dark.dtype.kind in "iuf":
            meta["dark_counts"] = [float(v) for v in dark]
        return cls(path, channels, names_out, wavelengths, times, rate, meta, sources)

    def write(self, dest: Path, outputs: Sequence[np.ndarray], dtype: np.dtype, provenance: dict[str, Any]) -> None:
        """Copy the input to ``dest`` with each channel's dataset replaced by ``outputs`` ((T, W) each)."""
        import h5py

        if len(outputs) != len(self.channels):
            raise ValueError(f"expected {len(self.channels)} channels for {dest}, got {len(outputs)}")
        new: dict[str, np.ndarray] = {}
        k = 0
        for src in self._sources:
            if src.exc_axis is None:
                new[src.name] = np.moveaxis(np.asarray(outputs[k]), (0, 1), (src.time_axis, src.wl_axis))
                k += 1
            else:
                n_exc = src.shape[src.exc_axis]
                stack = np.stack([np.asarray(o) for o in outputs[k : k + n_exc]], axis=1)
                new[src.name] = np.moveaxis(stack, (0, 1, 2), (src.time_axis, src.exc_axis, src.wl_axis))
                k += n_exc
        with h5py.File(self.path, "r") as fin, h5py.File(dest, "w") as fout:
            copy_file(fin, fout, {n: a.astype(dtype, copy=False) for n, a in new.items()})
            fout.attrs[PROVENANCE_ATTR] = json.dumps(provenance)


def _spectral(name: str, ds: Any, time: _Axis | None, wl: _Axis | None, where: str) -> _Axis | None:
    """``wl``, or None where it holds fewer than _FEWEST_BINS values (no spectrum's: the wavelengths of the
    excitation lasers, say) and the time axis still tells the layout (of a 2D dataset, the other axis is
    the spectrum's); FileFormatError where it does not (a 3D dataset, or a 2D one without a time axis)."""
    if wl is None or wl.values is None or wl.values.size >= _FEWEST_BINS:
        return wl
    if ds.ndim == 2 and time is not None:
        return None
    shape = tuple(int(n) for n in ds.shape)
    values = ", ".join(f"{v:g}" for v in wl.values.tolist())
    raise FileFormatError(
        f"{where}: {wl.label} holds {wl.values.size} values ({values}), too few for the wavelengths of a spectrum "
        f"(those of the excitation lasers?), so which axis of {name} of shape {shape} is the spectrum's cannot be "
        "told; store the spectrum's wavelengths (one per bin) as a 1D dataset Wavelength beside it or attach them "
        "to it as a dimension scale, and keep the lasers' wavelengths under a name that says excitation (e.g. "
        "excitation_wavelength)"
    )


def _orient(name: str, ds: Any, time: _Axis | None, wl: _Axis | None, where: str) -> _Source:
    """Which axis of ``ds`` is time, wavelength (and excitation): from the dimensions the axes are
    attached to, else from their lengths."""
    shape = tuple(int(n) for n in ds.shape)
    if ds.ndim == 2 and time is None and wl is None:
        return _Source(name, shape, ds.dtype, 0, 1, None)
    if time is None and wl is None:  # 3D: which axis is the excitation's cannot be told
        raise FileFormatError(
            f"{where}: {name} of shape {shape} has three axes and no Time or Wavelength dataset beside it to "
            "tell which is which; store its Time and Wavelength axes beside it (a time x excitation x wavelength "
            "dataset), or save each excitation's time x wavelength array as its own dataset"
        )
    for axis in (time, wl):
        if axis is None or axis.dim is None or axis.values is None:
            continue
        if axis.values.size != shape[axis.dim]:
            raise FileFormatError(
                f"{where}: {axis.label} holds {axis.values.size} values for dimension {axis.dim} of {name}, which "
                f"has {shape[axis.dim]}; expected one value per sample (time) or per bin (wavelength)"
            )

    def candidates(axis: _Axis | None) -> list[int] | None:
        if axis is None:
            return None
        if axis.dim is not None:
            return [axis.dim]
        assert axis.values is not None
        return [i for i, n in enumerate(shape) if n == axis.values.size]

    t_axes = candidates(time)
    w_axes = candidates(wl)
    if t_axes is None:  # only wavelengths: time is the other axis of a 2D array
        t_axes = [i for i in range(ds.ndim) if i not in (w_axes or [])] if ds.ndim == 2 else []
    if w_axes is None:
        w_axes = [i for i in range(ds.ndim) if i not in t_axes] if ds.ndim == 2 else []
    pairs = [(t, w) for t in t_axes for w in w_axes if t != w]
    if len(pairs) != 1:
        axes = " and ".join(a.describe() for a in (time, wl) if a is not None)
        how = "in no way" if not pairs else "in more than one way"
        raise FileFormatError(
            f"{where}: {name} of shape {shape} fits its axes, {axes}, {how}; expected a time x wavelength "
            "(or time x excitation x wavelength) dataset with one axis of each length"
        )
    t, w = pairs[0]
    exc = None
    if ds.ndim == 3:
        exc = next(i for i in range(3) if i not in (t, w))
    return _Source(name, shape, ds.dtype, t, w, exc)


def _listing(f: Any) -> str:
    import h5py

    items: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and len(items) < 12:
            items.append(f"{name} {tuple(obj.shape)}")

    with contextlib.suppress(Exception):
        f.visititems(visit)
    return "datasets " + ", ".join(items) if items else "no datasets"


def write_axes_file(
    dest: Path,
    channels: Iterable[np.ndarray],
    wavelengths: np.ndarray | None,
    times: np.ndarray | None,
    provenance: dict[str, Any],
    excitations: int = 1,
    *,
    dtype: np.dtype | None = None,
    count: int | None = None,
    epoch: datetime | None = None,
    dark: np.ndarray | None = None,
) -> None:
    """A new HDF5 file in the axes layout: ``Channel1..C`` (T, W), ``Time`` (s), ``Wavelength`` (nm).

    ``epoch``: the date the times count from, with its UTC offset; the ``Time`` unit is then CF's
    ``seconds since <epoch>``, which the reader takes the recording's start from. ``dark``: the
    detector's dark level (one value, or one per bin), stored as the root attribute
    ``dark_counts``, which the reader gives as ``meta["dark_counts"]`` and ``fluorodn unmix`` takes.
    ``channels`` are written each as it comes (as ``dtype``, or their own type); ``count``: how many
    there must be (ValueError otherwise, after the file is closed). ``excitations`` > 1 says that
    the rows of each channel interleave that many excitations (stored as the root attribute
    ``excitations``, which the reader takes as declared).
    """
    import h5py

    written = 0
    with h5py.File(dest, "w") as f:
        for written, ch in enumerate(channels, 1):
            f.create_dataset(f"Channel{written}", data=np.asarray(ch, dtype=dtype))
        if times is not None:
            unit = "s" if epoch is None else f"seconds since {epoch.isoformat(sep=' ')}"
            f.create_dataset("Time", data=np.asarray(times, dtype=np.float64)).attrs["units"] = unit
        if wavelengths is not None:
            f.create_dataset("Wavelength", data=np.asarray(wavelengths, dtype=np.float64)).attrs["units"] = "nm"
        if excitations > 1:
            f.attrs["excitations"] = int(excitations)
        if dark is not None:
            f.attrs[DARK_ATTR] = np.asarray(dark, dtype=np.float64).reshape(-1)
        f.attrs[PROVENANCE_ATTR] = json.dumps(provenance)
    if count is not None and written != count:
        raise ValueError(f"expected {count} pages for {dest}, got {written}")
