"""Denoised recordings written in another format than their input's (``to="npy"``, ``"tif"`` or ``"h5"``).

The data are written as time x wavelength arrays: one recording as (T, W), several
channels of equal length as (C, T, W). What each format keeps of the axes:

* ``npy``: the array only (a .npy file has no room for metadata).
* ``tif``: the array (one page per channel), with tifffile's JSON description holding
  ``fluorodn`` (provenance), ``wavelength_nm`` (all bins), ``sampling_hz`` and ``time_s``, and
  where the source states them, ``start`` (when it started, ISO 8601, with its UTC offset where
  known), ``time_zone`` (the zone's name as the source gives it) and ``time_origin_s`` (the first
  sample's time on the source's own clock, which ``time_s`` counts from).
* ``h5``: the axes layout of :mod:`fluorodn.formats.hdf5_axes` (``Channel1..C``, ``Time``,
  ``Wavelength``), which fluorodn reads back as it was; the start, where its UTC offset is known,
  in the ``Time`` unit (CF's ``seconds since <date>``).

Inputs read by :mod:`fluorodn.io` (TIFF, NPY, MAT) convert through :func:`write_pages`, page
by page, without axes: ``npy`` and ``tif`` keep the input's shape, ``h5`` holds time x wavelength
pages as ``Channel1..N`` (the layout has no place for frames, which fluorodn would read back as
spectra, so :mod:`fluorodn.io` refuses to convert frames to it). A one-page TIFF recording whose
description states its axes converts to ``h5`` through :func:`write_array`, with them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError

__all__ = ["FORMATS", "check_target", "write_array", "write_pages"]

#: Conversion targets and their file extension.
FORMATS = {"npy": ".npy", "tif": ".tif", "h5": ".h5"}


def check_target(fmt: str) -> None:
    """FileFormatError unless ``fmt`` is one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise FileFormatError(f"to={fmt!r} is not a format fluorodn writes; choose one of {', '.join(FORMATS)}")


def write_array(
    fmt: str,
    dest: Path,
    streams: Sequence[np.ndarray],
    provenance: dict[str, Any],
    *,
    wavelengths: np.ndarray | None = None,
    times: np.ndarray | None = None,
    excitations: int = 1,
    rate: float | None = None,
    start: datetime | None = None,
    time_zone: str = "",
    time_origin_s: float | None = None,
    dark: np.ndarray | None = None,
) -> None:
    """Write (T, W) ``streams`` (rows in file order) to ``dest`` as ``fmt`` with the axes it can hold.

    ``start`` (when the recording started; naive where its zone is not known), ``time_zone``
    (the zone's name) and ``time_origin_s`` (the first sample's time on the source's own clock)
    are kept by ``tif``, where given; ``h5`` keeps the origin in its ``Time`` axis (the times on
    the source's own clock, as an HDF5 source held them) and a start whose UTC offset is known in
    the axis's unit, CF's ``seconds since <the clock's 0>`` (a start in an unknown zone has no
    place there: CF reads a date without an offset as UTC); ``dark``, the detector's dark level
    where known, is kept by ``h5``."""
    check_target(fmt)
    if fmt == "h5":
        from fluorodn.formats.hdf5_axes import write_axes_file

        origin = float(time_origin_s or 0.0)
        if times is not None and origin:
            times = np.asarray(times, dtype=np.float64) + origin
        epoch = None
        if times is not None and start is not None and start.utcoffset() is not None:
            epoch = start - timedelta(seconds=origin)
        write_axes_file(dest, streams, wavelengths, times, provenance, excitations, epoch=epoch, dark=dark)
        return
    shapes = {s.shape for s in streams}
    if len(shapes) != 1:
        raise FileFormatError(f"channels of shapes {sorted(shapes)} do not stack into one array; convert with to='h5'")
    arr = streams[0] if len(streams) == 1 else np.stack(streams)
    if fmt == "npy":
        with open(dest, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr))
        return
    import tifffile

    meta: dict[str, Any] = {"fluorodn": provenance}
    if wavelengths is not None:
        meta["wavelength_nm"] = [float(w) for w in wavelengths]
    if rate is not None:
        meta["sampling_hz"] = float(rate)
    if times is not None:
        meta["time_s"] = [round(float(t), 9) for t in times]
    if excitations > 1:
        meta["excitations"] = int(excitations)
    if start is not None:
        meta["start"] = start.isoformat()
        if time_zone:
            meta["time_zone"] = str(time_zone)
    if time_origin_s is not None:
        meta["time_origin_s"] = float(time_origin_s)
    tifffile.imwrite(dest, arr, photometric="minisblack", metadata=meta, bigtiff=arr.nbytes > 2**31)


def write_pages(
    fmt: str,
    dest: Path,
    pages: Iterable[np.ndarray],
    shape: tuple[int, ...],
    dtype: np.dtype,
    provenance: dict[str, Any],
) -> None:
    """Write the (H, W) ``pages`` of an array of ``shape`` (..., H, W) as ``fmt``, page by page.

    npy and tif hold the array in ``shape`` (memory stays at one page); h5 writes each page,
    a time x wavelength recording, as its own dataset ``Channel1..N`` without axes. ValueError
    if ``pages`` holds another number of pages than ``shape`` says.
    """
    check_target(fmt)
    shape = tuple(int(n) for n in shape)
    n = math.prod(shape[:-2])
    dtype = np.dtype(dtype)
    if fmt == "npy":
        from fluorodn._npy import write_npy

        write_npy(dest, pages, dtype, shape, n, version=(2, 0))
        return
    if fmt == "tif":
        import tifffile

        big = math.prod(shape) * dtype.itemsize > 2**31
        tifffile.imwrite(
            dest,
            data=(np.asarray(p, dtype=dtype) for p in pages),
            shape=shape,
            dtype=dtype,
            photometric="minisblack",
            metadata={"fluorodn": provenance},
            bigtiff=big,
        )
        return
    from fluorodn.formats.hdf5_axes import write_axes_file

    write_axes_file(dest, pages, None, None, provenance, dtype=dtype, count=n)
