"""Unmixed traces in GuPPy's CSV convention: a folder with one CSV per trace.

GuPPy (the fiber photometry analysis pipeline) imports a folder of CSV files, one per
store: a signal file has the three columns ``timestamps`` (seconds), ``data`` and
``sampling_rate`` (Hz; GuPPy reads the column's first value, so it is written on the
first row only). :func:`write_guppy` writes each trace so; the file names are the trace
names, which are then chosen as stores in GuPPy.

GuPPy reads each column apart and drops its empty values, so a trace's missing value (NaN)
would shift its data against the timestamps: traces must be finite. GuPPy also places an
event by counting samples from its first row (``int(round((t - t0) * sampling_rate))``), not
by the timestamps, so a row left out of the middle of a file moves every later event by one
sample. :func:`write_unmixed` therefore writes one row per sample from the first sample taken
with the light on to the last: samples taken with the light off in between, and frames the
recording dropped, are bridged with values interpolated linearly between their lit
neighbours (a warning names them); samples taken with the light off before the first lit one
or after the last are left out.

GuPPy computes dF/F itself, as (signal - fitted control) / fitted control, and an unmixing
has no isosbestic control: GuPPy's signal is ``sensor_ff0.csv``, F/F0 = 1 + s * sensor with s
the largest magnitude of the sensor's response S(l) over the recording's wavelengths. It is
positive and fluorescence-like, and GuPPy's dF/F of it follows the sensor's trace (rising with
it), the size of the sensor's largest dF/F; ``sensor.csv`` and the other traces sit near 0,
where that division flips their sign or blows up.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError, OutputError, OutputExistsError
from fluorodn.formats.timing import DROP_FACTOR

__all__ = ["COLUMNS", "SIGNAL", "TRACES", "check_folder", "write_guppy", "write_unmixed"]

COLUMNS = ("timestamps", "data", "sampling_rate")
#: The file GuPPy takes as its signal: F/F0 = 1 + max|S| * sensor.
SIGNAL = "sensor_ff0"
#: The files :func:`write_unmixed` writes (``<name>.csv``), GuPPy's signal first.
TRACES = (SIGNAL, "sensor", "hbo2", "hb", "offset", "gain")


def check_folder(folder: str | os.PathLike[str], names: Iterable[str] = TRACES, *, overwrite: bool = False) -> None:
    """Refuse, before any work, a GuPPy ``folder`` that :func:`write_guppy` could not write the files
    ``<name>.csv`` of ``names`` into: a path that is not a folder, a folder that cannot be made, or
    files that exist already (unless ``overwrite``). Makes nothing.

    Raises OutputError or OutputExistsError, each with one sentence.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"the GuPPy folder {folder} is a file; give a folder (one that does not exist is made)")
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), Path("."))
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            why = "is not a folder" if not parent.is_dir() else "is not writable"
            raise OutputError(f"cannot make the GuPPy folder {folder}: {parent} {why}; choose another folder")
        return
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into the GuPPy folder {folder} (not writable); choose another folder")
    there = [folder / f"{n}.csv" for n in names if (folder / f"{n}.csv").exists()]
    if there and not overwrite:
        more = f" and {len(there) - 1} more of its files" if len(there) > 1 else ""
        raise OutputExistsError(f"{there[0]}{more} exist already; pass overwrite=True to replace them")


def write_guppy(
    folder: str | os.PathLike[str],
    traces: Mapping[str, np.ndarray],
    times: np.ndarray,
    *,
    rate: float | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``traces`` ({name: (T,)}) with ``times`` ((T,) seconds) as ``folder/<name>.csv``; returns the files.

    ``rate`` defaults to 1 / the median interval of ``times``; times are written to the
    microsecond, on any clock (an acquisition clock's large values keep that precision).
    Everything is checked before a
    file is written (:func:`check_folder`; a trace that holds NaN or infinite values is refused,
    since GuPPy would drop them and shift the data against the times). Each file is written
    atomically; where one cannot be, the files this call wrote are removed again.
    """
    from fluorodn.files import check_name_part
    from fluorodn.io import atomic_output

    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 2:
        raise FileFormatError(f"GuPPy files need timestamps for 2 or more samples, got shape {times.shape}")
    if rate is None:
        rate = 1.0 / float(np.median(np.diff(times)))
    columns = {}
    for name, values in traces.items():
        check_name_part(name, "trace name")
        data = np.asarray(values, dtype=np.float64)
        if data.shape != times.shape:
            raise FileFormatError(
                f"trace {name!r} has shape {data.shape}, the timestamps {times.shape}; expected equal"
            )
        if not np.isfinite(data).all():
            raise FileFormatError(
                f"trace {name!r} holds {int((~np.isfinite(data)).sum())} NaN or infinite values, which GuPPy drops, "
                "shifting the data against the timestamps; leave those samples (and their times) out"
            )
        columns[name] = data
    folder = Path(folder)
    check_folder(folder, list(columns), overwrite=overwrite)
    new = not folder.exists()
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in columns.items():
            dest = folder / f"{name}.csv"
            with atomic_output(dest, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(",".join(COLUMNS) + "\n")
                for k, (t, v) in enumerate(zip(times.tolist(), data.tolist(), strict=True)):
                    fh.write(f"{round(t, 6):.16g},{v:.9g},{f'{rate:.9g}' if k == 0 else ''}\n")
            written.append(dest)
    except BaseException:
        for dest in written:
            with contextlib.suppress(OSError):
                dest.unlink()
        if new:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return written


def write_unmixed(
    result: Any, folder: str | os.PathLike[str], *, overwrite: bool = False, stacklevel: int = 1
) -> list[Path]:
    """The traces of an unmixing ``result`` (:class:`fluorodn.unmixing.UnmixResult`) as GuPPy CSV files
    in ``folder`` (:data:`TRACES`): ``sensor_ff0.csv`` (GuPPy's signal, F/F0 = 1 + s * sensor, s the
    largest ``abs(result.response)``), ``sensor.csv``, ``hbo2.csv``, ``hb.csv``, ``offset.csv``,
    ``gain.csv``.

    The timestamps are on the file's own clock (``time_s + time_origin_s``, as GuPPy expects of
    CSV files, events included), and ``sampling_rate`` is the recording's (1 / its median
    interval). There is one row per sample from the first lit sample to the last, so that GuPPy,
    which counts samples to place events, places them at their times: samples taken with the
    light off in between, and dropped frames (an interval over 1.5 median intervals holds
    round(interval / median) - 1 of them), get values interpolated linearly between their lit
    neighbours, and a UserWarning names them; light-off samples before the first lit sample or
    after the last are left out. A UserWarning also says where ``sensor_ff0`` drops to 0 or below
    (a dF/F below -100 %), where GuPPy's dF/F of it is meaningless. ``stacklevel``: as for
    :func:`warnings.warn`, counted from the caller of this function (1: that caller).
    """
    return _write_unmixed(result, folder, overwrite, 1 + stacklevel)


def _write_unmixed(result: Any, folder: str | os.PathLike[str], overwrite: bool, depth: int) -> list[Path]:
    """:func:`write_unmixed`, its warning pointing ``depth`` frames above this function."""
    if result.time_s is None:
        raise FileFormatError(
            "the unmixed traces have no times; give the sampling rate (rate=...) or use a file with timestamps"
        )
    cols = result.columns()
    times = np.asarray(result.time_s, dtype=np.float64) + float(result.time_origin_s or 0.0)
    lit = np.isfinite(cols["sensor"])  # every trace is NaN on the same samples, those taken with the light off
    grid, note = _rows(times, lit)
    if note:
        warnings.warn(note, UserWarning, stacklevel=1 + depth)
    rate = 1.0 / float(np.median(np.diff(times)))
    values = {"sensor": np.asarray(cols["sensor"]), **{n: np.asarray(cols[n]) for n in TRACES[2:]}}
    traces = {n: np.interp(grid, times[lit], v[lit]) for n, v in values.items()}
    scale = float(np.abs(result.response).max())  # the sensor's largest dF/F per unit of its trace
    traces = {SIGNAL: 1.0 + scale * traces["sensor"], **traces}
    low = float(traces[SIGNAL].min())
    if low <= 0:
        warnings.warn(
            f"{SIGNAL}.csv (1 + {scale:.3g} x sensor) drops to {low:.3g}, where no fluorescence is: GuPPy's dF/F of "
            "it is meaningless there (check the sensor spectrum: its dF/F per unit of the sensor's trace)",
            UserWarning,
            stacklevel=1 + depth,
        )
    return write_guppy(folder, traces, grid, rate=rate, overwrite=overwrite)


def _rows(times: np.ndarray, lit: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The times of GuPPy's rows for samples at ``times`` ((T,) s) of which ``lit`` were taken with the
    light on: one per sample from the first lit one to the last, and one per dropped frame; and the
    warning that names the rows bridged (None where none are)."""
    from fluorodn.spectral import runs

    on = np.flatnonzero(lit)
    first, last = int(on[0]), int(on[-1])
    grid = times[first : last + 1]
    period = float(np.median(np.diff(times)))
    steps = np.diff(grid)
    long = np.flatnonzero(steps > DROP_FACTOR * period)
    missing = np.maximum(np.rint(steps[long] / period).astype(np.int64) - 1, 1)
    added = [grid[k] + steps[k] * np.arange(1, m + 1) / (m + 1) for k, m in zip(long, missing, strict=True)]
    if added:
        grid = np.sort(np.concatenate([grid, *added]))
    dark = [(a, b) for a, b, on_ in runs(lit) if not on_ and first < a and b <= last]
    parts = []
    if dark:
        where = ", ".join(f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in dark[:3])
        more = f" and {len(dark) - 3} more stretches" if len(dark) > 3 else ""
        count = sum(b - a for a, b in dark)
        parts.append(f"the {count} samples taken with the light off at sample {where}{more} (counting from 0)")
    if added:
        where = ", ".join(str(int(k) + first + 1) for k in long[:3]) + (", ..." if len(long) > 3 else "")
        parts.append(f"{int(missing.sum())} rows for the frames dropped before sample {where}")
    if not parts:
        return grid, None
    left = int(lit.size - (last + 1 - first))
    tail = f"; the {left} light-off samples before the first lit one or after the last are left out" if left else ""
    return grid, (
        "GuPPy places events by counting rows, so its files keep one row per sample: they hold "
        f"{' and '.join(parts)}, with values interpolated linearly between their lit neighbours{tail}"
    )
