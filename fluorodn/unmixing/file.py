"""Unmixing a recording file: read it with its axes, fit, write the table (and GuPPy's files)."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import OutputExistsError
from fluorodn.spectral import rate_refusal
from fluorodn.unmixing.fit import Progress, _unmix
from fluorodn.unmixing.inputs import (
    PathLike,
    UnmixError,
    UnmixWarning,
    check_sensor,
    contradiction,
    recording_metadata,
    stated_dark,
    stated_grid,
    stated_start,
    wavelength_grid,
)
from fluorodn.unmixing.result import OUTPUT_FORMATS, UnmixResult, need_pyarrow

__all__ = ["unmix_file"]


def unmix_file(
    path: PathLike,
    sensor: Any,
    wavelengths: Any = None,
    *,
    output: PathLike | None = None,
    denoise: Any = True,
    rate: float | None = None,
    refine: bool = False,
    dark: Any = None,
    key: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    guppy: PathLike | None = None,
    nan: str = "refuse",
    excitations: int | None = None,
    channel: int | None = None,
) -> tuple[UnmixResult, Path]:
    """Unmix one recording file and write its table; returns (result, output path).

    ``wavelengths``, ``rate`` and ``dark`` default to the file's metadata (:func:`recording_metadata`);
    a spectrometer file (:mod:`fluorodn.formats`: OceanView export, HDF5 with axes), and a TIFF
    fluorodn converted from one, gives its wavelengths and its timestamps, which become
    ``time_s`` (gaps included; a ``rate`` given is checked against them). Such a file takes no
    ``wavelengths``, and one that holds several channels (HDF5 datasets, interleaved
    excitations) is refused with a sentence saying how to pick one (``key`` for a dataset,
    ``channel`` for an excitation or a channel by its index, from 0; ``excitations``: their number,
    where detection cannot tell it, as :func:`fluorodn.formats.read` takes it).
    ``output`` defaults to ``<stem>_unmixed.csv`` beside the input, ``<stem>_channelK_unmixed.csv``
    for its ``channel`` K (``.parquet``: Parquet).
    Everything is checked before the output is written, and an existing output is refused
    before any work unless ``overwrite``; an output (the table, or a GuPPy file) that is one of
    the files read (the recording, the sensor spectrum, the wavelengths or dark level CSV) under
    any spelling (a symbolic or hard link too) is refused before any work, ``overwrite`` or
    not. ``guppy``: a folder to also write the traces into in
    GuPPy's CSV convention (:func:`fluorodn.formats.guppy.write_unmixed`), checked before any
    work too (a folder, or one that can be made; its files refused where they exist, unless
    ``overwrite``; times to give them). The GuPPy files are written once the table is complete
    and before it gets its name, all or nothing: where they cannot be written, neither the table
    nor the folder changes (a table or GuPPy file replaced with ``overwrite`` is kept). ``nan``:
    as :func:`fluorodn.unmix` takes it.
    """
    from fluorodn import formats
    from fluorodn import io as fio
    from fluorodn.files import check_name_length, named

    if rate is not None and (refused := rate_refusal(rate)):  # before it is compared with a file's
        raise UnmixError(refused)
    src = Path(path)
    beside = named(src)  # "." given: the table is named after the folder, beside it
    # one channel of a file of several: named after it, so that each channel's table has its own name
    which = "" if channel is None or isinstance(channel, bool) or not isinstance(channel, int) else f"_channel{channel}"
    dest = check_name_length(
        Path(output) if output is not None else beside.with_name(beside.stem + which + "_unmixed.csv")
    )
    if dest.suffix.lower() not in OUTPUT_FORMATS:
        raise UnmixError(f"output {dest} must end in .csv or .parquet (or .nwb for NWB)")
    if dest.suffix.lower() == ".parquet":
        need_pyarrow(dest)
    if dest.suffix.lower() == ".nwb":
        from importlib.util import find_spec

        from fluorodn.formats.nwb import MISSING

        if find_spec("pynwb") is None or find_spec("ndx_fiber_photometry") is None:
            raise UnmixError(MISSING)
    _refuse_inputs_as_outputs(dest, guppy, _input_files(src, sensor, wavelengths, dark))
    if isinstance(sensor, (str, os.PathLike)):
        check_sensor(sensor)  # a sensor that no file or name gives is told before an output that exists
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest} exists already; pass overwrite=True to replace it")
    if guppy is not None:
        _check_guppy(Path(guppy), dest, overwrite)
    if src.exists():  # a format fluorodn does not read is named before what the file would have to state
        fio.format_of(src)
        fio.refuse_empty(src)
    arr = times = origin = None
    pick: str | None = None  # channel=k of a file that is not a spectrometer's: "page" or "rows" of an excitation
    meta = recording_metadata(src)
    start = stated_start(meta)
    spectrometer = formats.handles(src)
    if spectrometer:  # spectrometer files carry their wavelengths and timestamps
        arr, file_wl, times, origin, start, file_meta = _one_channel(src, key, rate, excitations, channel)
        meta = {} if file_wl is None else {"wavelength_nm": file_wl, "own_axes": True}
        if file_meta.get("dark_counts") is not None:  # an HDF5 file fluorodn wrote from a recording that stated it
            meta["dark_counts"] = file_meta["dark_counts"]
        if times is None and file_meta.get("sampling_hz") is not None:  # no timestamps, a rate stated
            meta["sampling_hz"] = file_meta["sampling_hz"]
    elif excitations is not None:
        raise UnmixError(
            f"excitations=... declares the interleaved excitations of a spectrometer file (an OceanView export, HDF5 "
            f"with axes); {src} is none: pick one with channel=k where its description states them, or unmix the "
            "rows of one excitation (arr[k::N]) with fluorodn.unmix"
        )
    elif channel is not None:  # a page of a stack, or the rows of one excitation of a converted file
        if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
            raise UnmixError(f"channel=... is the index of a channel, from 0, not {channel!r}")
        meta, pick = _picked_channel(meta, channel, src)
    if wavelengths is not None and meta.get("own_axes"):
        wl = np.asarray(meta["wavelength_nm"], dtype=np.float64)
        raise UnmixError(
            f"{src} stores its bins' wavelengths ({wl.min():g}-{wl.max():g} nm), which unmixing takes from it; "
            "leave wavelengths=None"
        )
    _refuse_interleaved(src, meta.get("excitations"))
    stated = meta.get("sampling_hz")
    if isinstance(stated, (int, float)) and not isinstance(stated, bool) and rate_refusal(float(stated)) is None:
        from fluorodn.formats.timing import given_rate_refusal

        # a rate given is checked against the file's timestamps where it stores them (below), else
        # against the rate it states, as denoise checks it
        if "time_s" not in meta and (refused := given_rate_refusal(rate, float(stated), str(src))):
            raise UnmixError(refused)
        if rate is None or "time_s" not in meta:
            rate = float(stated)
    if arr is None:  # a stack is refused before its wavelengths are asked for
        with contextlib.closing(fio.open_recording(src, key=key)) as rec:
            page = channel if pick == "page" and channel is not None else 0
            if pick == "page" and rec.n_pages == 1:
                raise UnmixError(
                    f"channel={channel}: {src} holds one recording, neither pages nor interleaved excitations; "
                    "leave channel=... out"
                )
            if pick == "page" and page >= rec.n_pages:
                raise UnmixError(f"channel={channel} is not one of the {rec.n_pages} pages of {src} (0 to "
                                 f"{rec.n_pages - 1})")  # fmt: skip
            if rec.n_pages != 1 and pick != "page":
                raise UnmixError(
                    f"{src} holds {rec.n_pages} pages of {rec.page_shape[0]} x {rec.page_shape[1]}; "
                    "unmixing takes one (time, wavelength) recording per file: pick one with channel=k"
                )
            arr = np.array(next(itertools.islice(rec.pages(), page, None)))
        if pick == "rows" and channel is not None:  # the rows of one excitation
            arr = arr[channel :: int(meta["picked_of"])]
        if "time_s" in meta:
            times = _stored_times(src, meta["time_s"], arr.shape[0], rate, meta.get("first_row_s"))
        if isinstance(meta.get("time_origin_s"), (int, float)) and times is not None:
            origin = float(meta["time_origin_s"])
    stated = None if meta.get("own_axes") else meta.get("wavelength_nm")
    stated_wl = stated_grid(stated, arr.shape[1])
    if stated is not None and stated_wl is None and wavelengths is None:
        what = f"{len(stated)} wavelengths" if isinstance(stated, list) else f"wavelengths {stated!r}"
        raise UnmixError(
            f"{src} states {what} (wavelength_nm) that do not fit its {arr.shape[1]} bins; give the bins' "
            "wavelengths with wavelengths=..."
        )
    if wavelengths is not None and stated_wl is not None:  # where the file's do not fit, the given stand
        said = contradiction(wavelength_grid(wavelengths, arr.shape[1]), stated_wl, src)
        if said:
            raise UnmixError(said)
    if wavelengths is None:
        wavelengths = stated_wl if stated_wl is not None else meta.get("wavelength_nm")  # a spectrometer's own
        if wavelengths is None:
            raise UnmixError(
                f"{src} does not store its wavelengths; give them with wavelengths='FIRST:LAST' or a one-column CSV"
            )
    if dark is None:  # the dark level the file states, where it states one
        dark = stated_dark(meta, arr.shape[1], src)
    if guppy is not None and times is None and rate is None:
        raise UnmixError(f"GuPPy files need times: {src} stores no rate or timestamps; give rate=HZ")
    if denoise is not False and denoise is not None and src.exists():
        from fluorodn._file_pipeline import denoised_already, denoised_already_message

        if (record := denoised_already(src, key)) is not None:
            then = "unmixing denoises it again, which removes more than noise; unmix it as it is with denoise=False"
            warnings.warn(UnmixWarning(denoised_already_message(record, then)), stacklevel=2)
    # a spectrometer file's channel holds one excitation: the reader split them as it was told
    result = _unmix(arr, wavelengths, sensor, denoise, rate, refine, dark, progress, 2, nan, spectrometer)
    if (denoise is False or denoise is None) and src.exists():  # a file fluorodn denoised: its record goes on
        from fluorodn._file_pipeline import denoised_already

        if (record := denoised_already(src, key)) is not None:
            result = dataclasses.replace(result, input_denoising=record)
    if times is not None:
        from fluorodn.formats.timing import check

        result = dataclasses.replace(result, time_s=times, timing=check(times, str(src)), time_origin_s=origin)
    if start is not None:
        result = dataclasses.replace(result, start=start)
    if guppy is None:
        return result, result.save(dest, overwrite=overwrite, source=src)
    from fluorodn.formats.guppy import write_unmixed

    told: list[warnings.WarningMessage] = []

    def write_guppy() -> None:  # once the table is complete, before it gets its name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            write_unmixed(result, guppy, overwrite=overwrite)
        told.extend(caught)

    # the GuPPy files are written all or nothing, and where they fail the table keeps what it held
    saved = result.save(dest, overwrite=overwrite, source=src, before_publish=write_guppy)
    for w in told:  # at the caller
        warnings.warn(w.message, w.category, stacklevel=2)
    return result, saved


def _input_files(src: Path, sensor: Any, wavelengths: Any, dark: Any) -> dict[str, Path]:
    """The files an unmixing reads, by what they are: the recording, and the sensor spectrum,
    wavelengths and dark level where they are given as files that exist (not a shipped spectrum's
    name, a FIRST:LAST range or a number)."""
    files = {"the recording": src}
    given = {"the sensor spectrum": sensor, "the wavelengths": wavelengths, "the dark level": dark}
    for what, value in given.items():
        if isinstance(value, (str, os.PathLike)) and os.path.isfile(value):
            files[what] = Path(value)
    return files


def _refuse_inputs_as_outputs(dest: Path, guppy: PathLike | None, inputs: dict[str, Path]) -> None:
    """Refuse an output ``dest``, or a GuPPy file of the folder ``guppy``, that is one of ``inputs``
    ({what: path}) under any spelling: :func:`fluorodn.files.same_file`."""
    from fluorodn.files import same_file
    from fluorodn.formats.guppy import TRACES

    outputs = [dest, *(Path(guppy) / f"{name}.csv" for name in TRACES)] if guppy is not None else [dest]
    for what, path in inputs.items():
        for out in outputs:
            if not same_file(out, path):
                continue
            named = "" if str(out) == str(path) else f" ({path})"
            if out is dest:
                raise OutputExistsError(f"output {dest} is {what} this unmixing reads{named}; choose another "
                                        "output=...")  # fmt: skip
            raise OutputExistsError(f"the GuPPy file {out} is {what} this unmixing reads{named}; choose another GuPPy "
                                    "folder")  # fmt: skip


def _check_guppy(folder: Path, dest: Path, overwrite: bool) -> None:
    """Refuse, before any work, a GuPPy folder its files cannot be written into, files of it that
    exist (unless ``overwrite``), and an output ``dest`` that is one of them."""
    from fluorodn.formats.guppy import TRACES, check_folder

    inside = dest.parent.resolve() == folder.resolve()
    if inside and dest.stem in TRACES and dest.suffix.lower() == ".csv":
        raise UnmixError(f"output {dest} is one of the GuPPy files written into {folder}; choose another output=...")
    if inside and dest.suffix.lower() in (".csv", ".nwb"):
        # GuPPy reads every CSV of a session folder: one of more than 3 columns it takes for an NPM
        # file, and then reads none of the folder's CSVs as traces (an NWB file it takes as NWB data)
        raise UnmixError(
            f"output {dest} would be written into the GuPPy folder {folder}, where GuPPy would take it for a "
            "recording of another format and not read the trace files; write it elsewhere with output=..."
        )
    check_folder(folder, overwrite=overwrite)


def _one_channel(
    src: Path, key: str | None, rate: float | None, excitations: int | None = None, channel: int | None = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, float | None, datetime | None, dict[str, Any]]:
    """(array (T, W) float64, wavelengths (W,) nm or None, times (T,) s or None, the first
    timestamp on the file's own clock or None, the recording's start (its first sample's date and
    time) where the file states it or None, what else the file states: ``dark_counts`` (a dark
    level) and ``sampling_hz`` (a rate, where it stores no timestamps), each where it does) of a
    spectrometer file's one channel, or of its channel ``channel`` (an index from 0); a file of
    several without one is refused, saying how to pick one."""
    from fluorodn import formats

    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or channel < 0):
        raise UnmixError(f"channel=... is the index of a channel, from 0, not {channel!r}")
    rec = formats.read(src, key=key, rate=rate, excitations=excitations)
    names = ", ".join(f"{k}: {c.name}" for k, c in enumerate(rec.channels))
    if channel is None and len(rec.channels) > 1:
        datasets = rec.meta.get("datasets") or []
        how = (
            f"give its dataset with key=..., one of {', '.join(datasets)}"
            if len(datasets) > 1
            else "pick one with channel=k"
        )
        raise UnmixError(f"{src} holds {len(rec.channels)} channels ({names}); unmixing takes one at a time: {how}")
    if channel is not None and channel >= len(rec.channels):
        raise UnmixError(f"channel={channel} is not one of the {len(rec.channels)} channels of {src} ({names})")
    ch = rec.channels[channel or 0]
    origin = rec.meta.get("time_origin_s")
    start = rec.meta.get("start")
    when = start if isinstance(start, datetime) else None
    stated = {k: rec.meta[k] for k in ("dark_counts", "sampling_hz") if rec.meta.get(k) is not None}
    return np.asarray(ch.data, dtype=np.float64), rec.wavelengths, ch.times, origin, when, stated


def _picked_channel(meta: dict[str, Any], channel: int, src: Path) -> tuple[dict[str, Any], str]:
    """The metadata of channel ``channel`` of a file that is not a spectrometer's, and what the
    channels are: ``"page"``, its pages, or ``"rows"``, the rows of the interleaved excitations its
    description states (``excitations`` N), whose times (every N-th of ``time_s``, counting from the file's first
    row: ``first_row_s``) and rate (``sampling_hz`` / N) the metadata given back holds for that
    channel's rows, as ``picked_of`` N."""
    n = meta.get("excitations")
    if not (isinstance(n, int) and not isinstance(n, bool) and n > 1):
        return meta, "page"
    if channel >= n:
        raise UnmixError(f"channel={channel} is not one of the {n} interleaved excitations of {src} (0 to {n - 1})")
    one = {k: v for k, v in meta.items() if k != "excitations"}
    one["picked_of"] = n
    if isinstance(meta.get("time_s"), list) and meta["time_s"]:
        one["time_s"] = meta["time_s"][channel::n]
        one["first_row_s"] = meta["time_s"][0]  # the channel's times count from the file's first row
    hz = meta.get("sampling_hz")
    if isinstance(hz, (int, float)) and not isinstance(hz, bool):
        one["sampling_hz"] = float(hz) / n
    return one, "rows"


def _refuse_interleaved(src: Path, excitations: Any) -> None:
    """Refuse a TIFF whose description says its rows interleave several excitations."""
    if isinstance(excitations, int) and not isinstance(excitations, bool) and excitations > 1:
        raise UnmixError(
            f"{src} holds {excitations} interleaved excitations (its rows alternate between them, as its "
            f"description says); unmixing takes one at a time: pick one with channel=k, from 0 to {excitations - 1}"
        )


def _stored_times(src: Path, stored: Any, n: int, rate: float | None, first: Any = None) -> np.ndarray:
    """The (n,) times in seconds since the first sample that a TIFF's description stores as
    ``time_s``, checked: one per sample, finite, increasing, and at ``rate`` (the rate given or
    stored) where one is known; ``first``: the time of the file's first row, where ``stored`` are
    one excitation's rows of an interleaved file (their times count from it, as a spectrometer
    file's channels' do)."""
    from fluorodn.formats.timing import check, check_declared

    try:
        times = np.asarray(stored, dtype=np.float64)
    except (TypeError, ValueError):
        times = np.empty((0, 0))
    if times.ndim != 1:
        why = "is not a list of numbers"
    elif times.size != n:
        why = f"holds {times.size} times for {n} samples"
    elif not np.isfinite(times).all():
        why = "holds NaN or infinite values"
    elif n > 1 and not np.all(np.diff(times) > 0):
        k = int(np.flatnonzero(np.diff(times) <= 0)[0]) + 1
        why = f"does not increase at sample {k} ({times[k]:g} s after {times[k - 1]:g} s)"
    else:
        times = times - (times[0] if not isinstance(first, (int, float)) or isinstance(first, bool) else first)
        if rate is not None and n > 1:
            check_declared(check(times, str(src)), rate, str(src))
        return times
    raise UnmixError(
        f"{src}: the time_s its description stores {why}; expected one time in seconds per sample, finite and "
        "increasing (repair the description, or remove time_s from it)"
    )
