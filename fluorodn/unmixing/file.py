"""Unmixing a recording file: read it with its axes, fit, write the table (and GuPPy's files)."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import OutputExistsError
from fluorodn.unmixing.fit import Progress, _unmix
from fluorodn.unmixing.inputs import PathLike, UnmixError, recording_metadata
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
) -> tuple[UnmixResult, Path]:
    """Unmix one recording file and write its table; returns (result, output path).

    ``wavelengths`` and ``rate`` default to the file's metadata (:func:`recording_metadata`);
    a spectrometer file (:mod:`fluorodn.formats`: OceanView export, HDF5 with axes) gives its
    wavelengths and its timestamps, which become ``time_s`` (a ``rate`` given is checked
    against them). ``output`` defaults to ``<stem>_unmixed.csv`` beside the input (``.parquet``: Parquet).
    Everything is checked before the output is written, and an existing output is refused
    before any work unless ``overwrite``. ``guppy``: a folder to also write the traces into in
    GuPPy's CSV convention (:func:`fluorodn.formats.guppy.write_unmixed`).
    """
    from fluorodn import formats
    from fluorodn import io as fio

    src = Path(path)
    dest = Path(output) if output is not None else src.with_name(src.stem + "_unmixed.csv")
    if dest.suffix.lower() not in OUTPUT_FORMATS:
        raise UnmixError(f"output {dest} must end in .csv or .parquet (or .nwb for NWB)")
    if dest.suffix.lower() == ".parquet":
        need_pyarrow(dest)
    if dest.suffix.lower() == ".nwb":
        from importlib.util import find_spec

        from fluorodn.formats.nwb import MISSING

        if find_spec("pynwb") is None or find_spec("ndx_fiber_photometry") is None:
            raise UnmixError(MISSING)
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest} exists already; pass overwrite=True to replace it")
    arr = times = None
    meta = recording_metadata(src)
    if formats.handles(src):  # spectrometer files carry their wavelengths and timestamps
        arr, file_wl, times = formats.load(src, key=key, rate=rate)
        meta = {} if file_wl is None else {"wavelength_nm": file_wl}
    if wavelengths is None:
        wavelengths = meta.get("wavelength_nm")
        if wavelengths is None:
            raise UnmixError(
                f"{src} does not store its wavelengths; give them with wavelengths='FIRST:LAST' or a one-column CSV"
            )
        if isinstance(wavelengths, list) and len(wavelengths) == 2:
            wavelengths = f"{float(wavelengths[0])!r}:{float(wavelengths[1])!r}"
    if rate is None and isinstance(meta.get("sampling_hz"), (int, float)):
        rate = float(meta["sampling_hz"])
    if arr is None:
        with contextlib.closing(fio.open_recording(src, key=key)) as rec:
            if rec.n_pages != 1:
                raise UnmixError(
                    f"{src} holds {rec.n_pages} pages of {rec.page_shape[0]} x {rec.page_shape[1]}; "
                    "unmixing takes one (time, wavelength) recording per file"
                )
            arr = np.array(next(iter(rec.pages())))
    result = _unmix(arr, wavelengths, sensor, denoise, rate, refine, dark, progress, 2)  # warnings: at the caller
    if times is not None:
        result = dataclasses.replace(result, time_s=times)
    if guppy is not None and result.time_s is None:
        raise UnmixError(f"GuPPy files need times: {src} stores no rate or timestamps; give rate=HZ")
    saved = result.save(dest, overwrite=overwrite, source=src)
    if guppy is not None:
        from fluorodn.formats.guppy import write_unmixed

        write_unmixed(result, guppy, overwrite=overwrite)
    return result, saved
