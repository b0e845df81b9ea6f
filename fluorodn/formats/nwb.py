"""Unmixed traces as NWB: one ``FiberPhotometryResponseSeries`` per trace (``ndx-fiber-photometry``).

The photometry field shares data as NWB files (pynwb with the ``ndx-fiber-photometry``
extension; GuPPy and neuroconv read and write them). :func:`write_nwb` writes the traces
of an unmixed recording (the sensor's a(t), the hemoglobin changes, ...) into the
processing module ``ophys``, sharing one timing: ``starting_time`` and ``rate`` where the
times are regular (no jitter, no gap), else one set of timestamps (the recording's own). Times
count from the first sample, or on the file's own clock where the file states one that starts
later than 0 (an HDF5 ``Time`` axis). The file's session start is the recording's start time
where the input records one (an OceanView ``Date:``, a TIFF converted from such a file), else
the input file's modification time, and the session description says which. The notes hold
fluorodn's record as JSON: its version, the model that denoised the recording (sha256,
settings), the dark level, the sensor's response spectrum that ``sensor`` is in units of, and
the first sample's time on the file's own clock.

Samples taken with the light off carry no measurement and are NaN in every trace (the session
description says how many). GuPPy reads such a file but its dF/F step fails on the NaN: for
GuPPy, use the CSV files of :mod:`fluorodn.formats.guppy`, which bridge those samples.

The fiber, light sources, detector and indicator (the extension's ``FiberPhotometry``
metadata table) are not known from a recording file and are not invented here; add them
with pynwb or neuroconv where an archive asks for them.

Needs the ``nwb`` extra: ``pip install 'fluorodn[nwb]'`` (pynwb, ndx-fiber-photometry).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError

__all__ = ["MISSING", "UNITS", "Trace", "write_nwb", "write_unmixed"]

#: Units of the traces of an unmixing result (:class:`fluorodn.unmixing.UnmixResult`).
UNITS = {
    "sensor": (
        "a.u.",
        "a(t): the sensor's trace; dF/F = sensor x the sensor's response spectrum (sensor_response in the notes)",
    ),
    "hbo2": ("uM*cm", "oxy-hemoglobin change times effective path length"),
    "hb": ("uM*cm", "deoxy-hemoglobin change times effective path length"),
    "offset": ("counts", "wavelength-independent additive offset"),
    "gain": ("1", "wavelength-independent brightness relative to the typical state"),
    "residual_rms": ("1", "RMS over bins of the relative residual of the fit"),
}

MISSING = "writing NWB files needs pynwb and ndx-fiber-photometry; install them with pip install 'fluorodn[nwb]'"
#: Times that stay within this share of an interval of ``t0 + k / rate`` are written as
#: ``starting_time`` and ``rate``.
REGULAR_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Trace:
    """One unmixed trace: values over time, their unit and what they are."""

    data: np.ndarray
    """(T,) values."""
    unit: str
    """Unit of the values ("a.u.", "uM*cm", "counts")."""
    description: str = ""


def _modules() -> tuple[Any, Any, Any]:
    try:
        import ndx_fiber_photometry
        import pynwb
    except ImportError as err:
        raise ImportError(MISSING) from err
    return pynwb, ndx_fiber_photometry, pynwb.NWBHDF5IO


def write_nwb(
    dest: str | os.PathLike[str],
    traces: Mapping[str, Trace],
    *,
    times: np.ndarray | None = None,
    rate: float | None = None,
    session_start: datetime | None = None,
    source: str | os.PathLike[str] | None = None,
    description: str = "",
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``traces`` ({name: Trace}, each (T,)) to the new NWB file ``dest``.

    Parameters
    ----------
    times : (T,) seconds from the session start (the recording's timestamps); or give ``rate``.
        Written as ``starting_time`` (``times[0]``) and ``rate`` where they are regular: every
        time within 1e-4 of an interval (:data:`REGULAR_TOLERANCE`) of ``times[0] + k / rate``;
        else as timestamps.
    rate : samples per second, used when ``times`` is None (the times then start at 0).
    session_start : when the recording started (a naive datetime is taken as local time);
        None: the modification time of ``source``.
    source : the recording the traces come from (named in the file).
    description : the session description; a default names the source and fluorodn.
    provenance : fluorodn's record (version, model, settings), stored as the file's notes (JSON).

    The file is built in memory and written to ``dest`` at the end, in one go: a write that
    fails (a full disk) raises OSError, and leaves no HDF5 file open.

    Raises ImportError (:data:`MISSING`) without the ``nwb`` extra, FileFormatError if the
    traces, times and rate do not fit together.
    """
    import json
    import uuid

    pynwb, fp, NWBHDF5IO = _modules()
    dest = Path(dest)
    if not traces:
        raise FileFormatError("no traces to write; an NWB output needs at least one")
    lengths = {np.asarray(t.data).shape for t in traces.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise FileFormatError(f"the traces have shapes {sorted(lengths)}; expected one (T,) shape for all")
    (n,) = next(iter(lengths))
    if times is not None and np.asarray(times).shape != (n,):
        raise FileFormatError(f"{np.asarray(times).size} timestamps for {n} samples; expected one per sample")
    if times is None and (rate is None or not rate > 0):
        raise FileFormatError("the traces have no timestamps and no sampling rate; give one of them")
    start_note = "the recording's start time"
    if session_start is None:
        if source is None:
            raise FileFormatError("no session start time and no source file to take it from; give session_start")
        session_start = datetime.fromtimestamp(os.stat(source).st_mtime, tz=timezone.utc)
        start_note = f"the modification time of {Path(source).name} (the file records no start time)"
    elif session_start.tzinfo is None:
        session_start = session_start.astimezone()
    text = description or (
        f"Unmixed traces of {Path(source).name if source else 'a spectral recording'}, written by fluorodn."
    )
    from fluorodn import __version__

    nwb = pynwb.NWBFile(
        session_description=f"{text} Session start: {start_note}.",
        identifier=str(uuid.uuid4()),
        session_start_time=session_start,
        notes=json.dumps(dict(provenance), default=_plain) if provenance else None,
        source_script=f"fluorodn {__version__}",
        source_script_file_name="fluorodn",
    )
    module = nwb.create_processing_module(name="ophys", description="traces unmixed from spectral fiber photometry")
    timing = _timing(times) if times is not None else {"starting_time": 0.0, "rate": float(rate or 0.0)}
    for name, trace in traces.items():
        series = fp.FiberPhotometryResponseSeries(
            name=name, data=np.asarray(trace.data), unit=trace.unit, description=trace.description or name, **timing
        )
        module.add(series)
        if isinstance(timing.get("timestamps"), np.ndarray):
            timing = {"timestamps": series}  # the others link to the first one's timestamps
    _write_image(_file_image(nwb, NWBHDF5IO), dest)
    return dest


def _file_image(nwb: Any, io_class: Any) -> io.BytesIO:
    """The NWB file of ``nwb`` (a pynwb NWBFile), built in memory: HDF5 (h5py) never writes to
    disk, so a write that fails (a full disk) leaves no HDF5 file half-closed, whose objects h5py
    would flush, with tracebacks, or crash on, when it frees them later."""
    import h5py

    image = io.BytesIO()
    with h5py.File(image, "w") as h5, io_class(file=h5, mode="w") as nwb_io:
        nwb_io.write(nwb)
    return image


def _write_image(image: io.BytesIO, dest: Path) -> None:
    """Write the bytes of ``image`` to the file ``dest`` (OSError where the disk takes them not)."""
    with open(dest, "wb") as fh:
        fh.write(image.getbuffer())


def _timing(times: np.ndarray) -> dict[str, Any]:
    """The timing keywords of a TimeSeries at ``times`` ((T,) s): ``starting_time`` and ``rate``
    where the times are regular (:data:`REGULAR_TOLERANCE`), else ``timestamps``. The rate is
    rounded to the fewest significant digits, 6 to 9, that still fit the times (a clock's rounding,
    5.00000000007 Hz, or 5.00000002 Hz from times in Unix seconds, gives 5 Hz)."""
    times = np.asarray(times, dtype=np.float64)
    n = times.size
    if n > 1:
        exact = (n - 1) / float(times[-1] - times[0])
        for rate in [float(f"{exact:.{digits}g}") for digits in range(6, 10)] + [exact]:
            off = times - (times[0] + np.arange(n) / rate)
            if float(np.abs(off).max()) <= REGULAR_TOLERANCE / rate:
                return {"starting_time": float(times[0]), "rate": rate}
    return {"timestamps": times}


def _plain(value: Any) -> Any:
    """A numpy value (or anything else json cannot write) as JSON takes it."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _recording_start(src: Path) -> tuple[datetime | None, str]:
    """When the recording ``src`` started and its zone name, where the file records it: an OceanView
    export's ``Date:`` (:func:`fluorodn.formats.oceanview.start_time`), or the ``start`` a TIFF
    converted from such a file keeps in its description (:mod:`fluorodn.formats.convert`);
    (None, "") otherwise (an HDF5 file's start comes with the unmixing result, read with its key)."""
    if src.suffix.lower() == ".txt" or src.is_dir():
        from fluorodn.formats.oceanview import start_time

        return start_time(src)
    if src.suffix.lower() in (".tif", ".tiff"):
        from fluorodn.unmixing.inputs import recording_metadata, stated_start

        meta = recording_metadata(src)
        zone = meta.get("time_zone")
        return stated_start(meta), zone if isinstance(zone, str) else ""
    return None, ""


#: Longest a file's clock may have run before its first sample (s) for the NWB session to start at
#: the clock's 0: an acquisition program's clock. A clock that started longer ago (Unix time, a
#: computer's uptime, CF's "seconds since 1970-01-01") marks no session's start; the session then
#: starts at the first sample, and the description gives where that sample stands on the clock.
CLOCK_LEAD_S = 86400.0


def write_unmixed(
    result: Any,
    dest: str | os.PathLike[str],
    source: str | os.PathLike[str],
    *,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write the traces of an unmixing ``result`` (:class:`fluorodn.unmixing.UnmixResult`) of the
    recording ``source`` as NWB: its ``time_s`` as the times, the start time from the file where it
    records one (an OceanView ``Date:``, a TIFF converted from such a file, an HDF5 time axis in
    CF's units since a date), else the file's modification time. Where the file's own clock starts
    later than 0 but at most :data:`CLOCK_LEAD_S` (``result.time_origin_s``, an HDF5 ``Time`` axis),
    the times are on that clock, the session starting at its 0 where the file gives its start;
    otherwise they count from the first sample, the session starting there where the file gives
    its start. The description says which. Samples taken with the light off are NaN in every trace,
    as in the result, and the session description says how many, and that GuPPy cannot analyse
    them."""
    cols = result.columns()
    times = None if result.time_s is None else np.asarray(result.time_s, dtype=np.float64)
    if times is None:
        raise FileFormatError(
            f"the unmixed traces of {source} have no times; give the sampling rate (rate=...) or use a file with "
            "timestamps"
        )
    traces = {name: Trace(np.asarray(cols[name]), unit, text) for name, (unit, text) in UNITS.items()}
    src = Path(source)
    start, zone = _recording_start(src)
    if start is None and isinstance(getattr(result, "start", None), datetime):  # read with the recording
        start, zone = result.start, result.start.tzname() or ""
    note = ""
    if start is not None and start.tzinfo is None:
        said = f"The file's time zone {zone} names several zones" if zone else "The file names no time zone"
        note = f" {said}; its time was taken as this computer's local time."
    origin = getattr(result, "time_origin_s", None)
    times = times - times[0]
    if origin and 0 < origin <= CLOCK_LEAD_S:
        times = times + float(origin)
        note += f" Times are on the file's own clock, on which its first sample stands at {origin:.15g} s."
        if start is not None:  # the file's start is its first sample's time: the session starts at the clock's 0
            start = start - timedelta(seconds=float(origin))
            note += " The session starts at that clock's 0."
    elif origin:
        note += (
            f" Times count from the first sample, which stands at {origin:.15g} s on the file's own clock: add that "
            "to them to align events timed on it."
        )
    dark = int(getattr(result, "dark_samples", 0))
    if dark:
        note += (
            f" {dark} samples were taken with the light off: they carry no measurement, and are NaN in every trace "
            "(GuPPy cannot analyse NaN: give GuPPy the CSV files of fluorodn unmix --guppy instead)."
        )
    text = f"Unmixed traces of {src.name}, written by fluorodn.{note}"
    return write_nwb(dest, traces, times=times, session_start=start, source=source, description=text,
                     provenance=provenance)  # fmt: skip
