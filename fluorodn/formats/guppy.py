"""Unmixed traces in GuPPy's CSV convention: a folder with one CSV per trace.

GuPPy (the fiber photometry analysis pipeline) imports a folder of CSV files, one per
store: a signal file has the three columns ``timestamps`` (seconds), ``data`` and
``sampling_rate`` (Hz; GuPPy reads the column's first value, so it is written on the
first row only). :func:`write_guppy` writes each trace so; the file names are the trace
names, which are then chosen as stores in GuPPy.

GuPPy reads each column apart and drops its empty values, so a trace's missing value (NaN)
would shift its data against the timestamps: traces must be finite, and the samples of an
unmixing taken with the light off are left out of the files, timestamps included.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError

__all__ = ["COLUMNS", "write_guppy", "write_unmixed"]

COLUMNS = ("timestamps", "data", "sampling_rate")


def write_guppy(
    folder: str | os.PathLike[str],
    traces: Mapping[str, np.ndarray],
    times: np.ndarray,
    *,
    rate: float | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``traces`` ({name: (T,)}) with ``times`` ((T,) seconds) as ``folder/<name>.csv``; returns the files.

    ``rate`` defaults to 1 / the median interval of ``times``. Each file is written
    atomically; an existing file is refused unless ``overwrite``. A trace that holds NaN or
    infinite values is refused (GuPPy would drop them and shift the data against the times).
    """
    from fluorodn.files import check_name_part
    from fluorodn.io import atomic_output

    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 2:
        raise FileFormatError(f"GuPPy files need timestamps for 2 or more samples, got shape {times.shape}")
    if rate is None:
        rate = 1.0 / float(np.median(np.diff(times)))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
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
        dest = folder / f"{name}.csv"
        with atomic_output(dest, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(",".join(COLUMNS) + "\n")
            for k, (t, v) in enumerate(zip(times.tolist(), data.tolist(), strict=True)):
                fh.write(f"{t:.9g},{v:.9g},{f'{rate:.9g}' if k == 0 else ''}\n")
        written.append(dest)
    return written


def write_unmixed(result: Any, folder: str | os.PathLike[str], *, overwrite: bool = False) -> list[Path]:
    """The traces of an unmixing ``result`` (:class:`fluorodn.unmixing.UnmixResult`) as GuPPy CSV files in
    ``folder``: ``sensor.csv`` (the signal), ``hbo2.csv``, ``hb.csv``, ``offset.csv``, ``gain.csv``.

    Samples taken with the light off (NaN in the result) are left out of every file; the
    timestamps of the samples kept show the gap, and ``sampling_rate`` is that of the whole
    recording."""
    if result.time_s is None:
        raise FileFormatError(
            "the unmixed traces have no times; give the sampling rate (rate=...) or use a file with timestamps"
        )
    cols = result.columns()
    names = ("sensor", "hbo2", "hb", "offset", "gain")
    times = np.asarray(result.time_s, dtype=np.float64)
    rate = 1.0 / float(np.median(np.diff(times))) if times.size > 1 else None
    kept = np.isfinite(cols["sensor"])  # every trace is NaN on the same samples, those taken with the light off
    traces = {n: np.asarray(cols[n])[kept] for n in names}
    return write_guppy(folder, traces, times[kept], rate=rate, overwrite=overwrite)
