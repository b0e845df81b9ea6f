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
import functools
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError, FluorodnError, OutputError, OutputExistsError
from fluorodn.formats.timing import DROP_FACTOR, sample_period

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

    ``rate`` defaults to 1 / the sampling period of ``times``
    (:func:`fluorodn.formats.timing.sample_period`); times are written to the microsecond, on any
    clock (an acquisition clock's large values keep that precision). Everything is checked before a
    file is written (:func:`check_folder`; a trace that holds NaN or infinite values is refused,
    since GuPPy would drop them and shift the data against the times). The files are written all
    or nothing: each to a temporary file, and only once all are complete do they get their names,
    the files they replace kept aside until every one is in place. On any error or interruption
    the folder is left as it was: the files replaced are put back byte for byte, the new files and
    the folders this call made removed; an OSError is raised as one OutputError sentence.
    """
    from fluorodn.files import check_name_part
    from fluorodn.io import atomic_output

    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 2:
        raise FileFormatError(f"GuPPy files need timestamps for 2 or more samples, got shape {times.shape}")
    if rate is None:
        rate = 1.0 / sample_period(times)
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
    files = [folder / f"{name}.csv" for name in columns]
    made: list[Path] = []  # the folders this call made, outermost first
    temps: dict[Path, Path] = {}  # a file -> the temporary file its new content is written to
    ours: dict[Path, tuple[int, int]] = {}  # a file -> (device, inode) of that temporary file
    kept: dict[Path, Path] = {}  # a file replaced -> its original, kept aside until every file is in place
    try:
        _make_folders(folder, made)
        with contextlib.ExitStack() as stack:  # every file complete before the first gets its name
            for dest, data in zip(files, columns.values(), strict=True):
                publish = functools.partial(_before_publish, dest, temps, ours, kept)
                tmp = temps[dest] = stack.enter_context(
                    atomic_output(dest, overwrite=overwrite, before_publish=publish)
                )
                with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                    fh.write(",".join(COLUMNS) + "\n")
                    for k, (t, v) in enumerate(zip(times.tolist(), data.tolist(), strict=True)):
                        fh.write(f"{round(t, 6):.16g},{v:.9g},{f'{rate:.9g}' if k == 0 else ''}\n")
    except BaseException as err:
        stuck = _roll_back(files, ours, kept, made)
        if stuck:
            held = ", ".join(f"{dest.name} as {aside.name}" for dest, aside in stuck)
            raise OutputError(
                f"cannot write the GuPPy files into {folder} ({_why(err)}), and of the files it held before, "
                f"{len(stuck)} could not be put back: they are kept in it ({held}); rename them back"
            ) from err
        if _system_error(err):
            why = _why(err)
            left = "nothing was made" if made else "it is left as it was, none of the new files kept"
            fix = "free some space or choose another folder" if why == _FULL else "choose a writable folder"
            raise OutputError(f"cannot write the GuPPy files into {folder} ({why}): {left}; {fix}") from err
        raise
    for aside in kept.values():  # every new file is in place: the originals are no longer needed
        with contextlib.suppress(OSError):
            os.unlink(aside)
    return files


def _make_folders(folder: Path, made: list[Path]) -> None:
    """Make ``folder`` and the folders above it that do not exist, adding to ``made`` (outermost
    first) each that this call made (one another process made in the meantime is not added)."""
    missing = []
    while not os.path.lexists(folder) and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            if not path.is_dir():
                raise
            continue
        made.append(path)


def _remove_folders(made: list[Path]) -> None:
    """Remove the folders ``made`` (outermost first), innermost first, each only where it is empty."""
    for path in reversed(made):
        with contextlib.suppress(OSError):
            path.rmdir()


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path`` itself (a link is not followed), or None where nothing has that name."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _before_publish(
    dest: Path, temps: dict[Path, Path], ours: dict[Path, tuple[int, int]], kept: dict[Path, Path]
) -> None:
    """Before the complete temporary file ``temps[dest]`` gets the name ``dest``: note it in ``ours``
    and keep a file ``dest`` names aside in ``kept`` (a second link to it, so that the name never
    goes missing; renamed where the file system has no hard links, and for a symbolic link)."""
    from fluorodn._atomic import temp_name

    mine = _identity(temps[dest])
    if mine is not None:
        ours[dest] = mine
    if not os.path.lexists(dest):
        return
    aside = temp_name(dest, "old")
    if os.path.islink(dest):
        os.rename(dest, aside)
    else:
        try:
            os.link(dest, aside)
        except OSError:
            os.rename(dest, aside)
    kept[dest] = aside


def _roll_back(
    files: list[Path], ours: dict[Path, tuple[int, int]], kept: dict[Path, Path], made: list[Path]
) -> list[tuple[Path, Path]]:
    """Undo a :func:`write_guppy` that failed: put the originals ``kept`` aside back under their names,
    remove the new files (a file another process wrote is left) and the folders ``made``. Returns
    (file, where its original is kept) for each original that could not be put back."""
    stuck = []
    for dest in files:
        now = _identity(dest)
        mine = now is not None and now == ours.get(dest)
        aside = kept.get(dest)
        try:
            if aside is not None and (mine or now is None):
                os.replace(aside, dest)
            elif aside is not None and now == _identity(aside):  # the original never left: drop its second link
                os.unlink(aside)
            elif aside is not None:  # another file took the name in the meantime
                stuck.append((dest, aside))
            elif mine:
                os.unlink(dest)
        except OSError:
            if aside is not None:
                stuck.append((dest, aside))
    _remove_folders(made)
    return stuck


_FULL = "the disk is full"


def _system_error(err: BaseException) -> bool:
    """Whether ``err`` is the system's refusal to write (disk full, no permission, ...), not a
    fluorodn sentence of its own: an OSError, or the OutputError :mod:`fluorodn._atomic` made of one."""
    if isinstance(err, OutputError):
        return isinstance(err.__cause__, OSError)
    return isinstance(err, OSError) and not isinstance(err, FluorodnError)


def _why(err: BaseException) -> str:
    """What kept the files from being written, in a few words."""
    from fluorodn._atomic import _disk_full

    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    if isinstance(err, OutputError) and isinstance(err.__cause__, OSError):
        err = err.__cause__  # the sentence of atomic_output: its cause, which this sentence names instead
    if isinstance(err, OSError):
        return _FULL if _disk_full(err) else (err.strerror or str(err) or type(err).__name__)
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def write_unmixed(
    result: Any, folder: str | os.PathLike[str], *, overwrite: bool = False, stacklevel: int = 1
) -> list[Path]:
    """The traces of an unmixing ``result`` (:class:`fluorodn.unmixing.UnmixResult`) as GuPPy CSV files
    in ``folder`` (:data:`TRACES`): ``sensor_ff0.csv`` (GuPPy's signal, F/F0 = 1 + s * sensor, s the
    largest ``abs(result.response)``), ``sensor.csv``, ``hbo2.csv``, ``hb.csv``, ``offset.csv``,
    ``gain.csv``.

    The timestamps are on the file's own clock (``time_s + time_origin_s``, as GuPPy expects of
    CSV files, events included), and ``sampling_rate`` is the recording's (1 / its sampling
    period, :func:`fluorodn.formats.timing.sample_period`). There is one row per sample from the
    first lit sample to the last, so that GuPPy, which counts samples to place events, places them
    at their times: samples taken with the
    light off in between, and dropped frames (an interval over 1.5 periods holds
    round(interval / period) - 1 of them), get values interpolated linearly between their lit
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
    period = sample_period(times)
    grid, note = _rows(times, lit, period)
    if note:
        warnings.warn(note, UserWarning, stacklevel=1 + depth)
    rate = 1.0 / period
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


def _rows(times: np.ndarray, lit: np.ndarray, period: float) -> tuple[np.ndarray, str | None]:
    """The times of GuPPy's rows for samples at ``times`` ((T,) s) of which ``lit`` were taken with the
    light on: one per sample from the first lit one to the last, and one per dropped frame (an
    interval over 1.5 ``period``, their sampling period); and the warning that names the rows
    bridged (None where none are)."""
    from fluorodn.spectral import runs

    on = np.flatnonzero(lit)
    first, last = int(on[0]), int(on[-1])
    grid = times[first : last + 1]
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
