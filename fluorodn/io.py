"""Recording files: find them, read them page by page, write results atomically.

Formats (by extension): TIFF (``.tif``, ``.tiff``; see :mod:`fluorodn._tiff`), NumPy
``.npy`` (read a window at a time, never memory-mapped; see :mod:`fluorodn._npy`), MATLAB ``.mat``
v5 and v7.3 (see :mod:`fluorodn._mat`), and spectrometer files with their axes: OceanView exports
(``.txt``, or a folder of one-spectrum exports) and HDF5 with Time/Wavelength axes (``.h5``,
``.hdf5``), see :mod:`fluorodn.formats`.

Every reader follows :class:`RecordingReader`: ``path``, ``kind``, ``shape`` (as stored),
``dtype``, ``n_pages``, ``page_shape`` (H, W), ``pages()`` yielding (H, W) arrays in the
file's dtype, and ``close()``. Data flow one way: a reader yields pages,
:meth:`Denoiser.stream` turns them into float32 pages, :func:`write_denoised` writes them.

Outputs are written atomically (:mod:`fluorodn._atomic`): to a temporary file in the
destination folder, flushed to disk and given their final name at the end; the temporary
file is removed on any error or interruption. An output never replaces its input, nor an
existing file unless asked, not even one another process wrote in the meantime. Inputs are
found and outputs named by :mod:`fluorodn._paths`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Union

import numpy as np

from fluorodn._atomic import atomic_output, remove_stale_temps, temp_name
from fluorodn._mat import MatRecording
from fluorodn._npy import NpyRecording
from fluorodn._paths import (
    FORMATS,
    SPECTRAL_FORMATS,
    check_output_format,
    find_inputs,
    format_of,
    is_candidate,
    is_output,
    output_path,
    plan_outputs,
)
from fluorodn._tiff import TiffRecording, read_provenance
from fluorodn.errors import FileFormatError
from fluorodn.formats import SpectralRecording

__all__ = [
    "FORMATS",
    "SPECTRAL_FORMATS",
    "MatRecording",
    "NpyRecording",
    "Recording",
    "RecordingReader",
    "SpectralRecording",
    "TiffRecording",
    "atomic_output",
    "cast_pages",
    "check_output_format",
    "find_inputs",
    "format_of",
    "is_candidate",
    "is_output",
    "open_recording",
    "output_dtype",
    "output_path",
    "plan_outputs",
    "read_provenance",
    "refuse_empty",
    "remove_stale_temps",
    "temp_name",
    "write_denoised",
]


class RecordingReader(Protocol):
    """What every reader of a recording file offers (one class per format)."""

    @property
    def path(self) -> Path:
        """The file (or folder) read."""

    @property
    def kind(self) -> str:
        """Its format: ``"tiff"``, ``"npy"``, ``"mat"``, ``"oceanview"``, ``"oceanview folder"`` or ``"hdf5"``."""

    @property
    def shape(self) -> tuple[int, ...]:
        """The data's shape as stored."""

    @property
    def dtype(self) -> np.dtype:
        """The type of the values (pages come in it, in native byte order)."""

    @property
    def n_pages(self) -> int:
        """How many (H, W) pages :meth:`pages` yields."""

    @property
    def page_shape(self) -> tuple[int, ...]:
        """(H, W) of every page."""

    def pages(self) -> Iterator[np.ndarray]:
        """The (H, W) pages in file order."""

    def close(self) -> None:
        """Release the file."""


Recording = Union[TiffRecording, NpyRecording, MatRecording, SpectralRecording]  # noqa: UP007 (runtime alias on 3.10)

if TYPE_CHECKING:  # each reader follows the protocol
    _READERS: tuple[type[RecordingReader], ...] = (TiffRecording, NpyRecording, MatRecording, SpectralRecording)


def refuse_empty(path: Path) -> None:
    """FileFormatError for a file of 0 bytes (an acquisition or a copy that never wrote), named so
    rather than in a reader's words about its header."""
    if path.is_file() and path.stat().st_size == 0:
        raise FileFormatError(f"{path} is empty (0 bytes); check that the program writing or copying it finished")


def open_recording(path: str | os.PathLike[str], key: str | None = None, excitations: int | None = None) -> Recording:
    """Open a recording file for reading; ``key`` picks the variable of a .mat file or the dataset of an
    HDF5 file; ``excitations`` declares the interleaved excitations of a spectrometer file."""
    path = Path(path)
    fmt = format_of(path)
    if not path.is_file() and fmt != "oceanview folder":
        raise FileFormatError(f"{path} does not exist or is not a file")
    refuse_empty(path)
    if key is not None and fmt not in ("mat", "hdf5"):
        raise FileFormatError(f"key=... only applies to .mat and HDF5 files, not to {path}")
    if excitations is not None and fmt not in SPECTRAL_FORMATS:
        raise FileFormatError(
            f"excitations=... applies to spectrometer files (.txt, folders of one-spectrum exports, .h5), not to {path}"
        )
    if fmt in SPECTRAL_FORMATS:
        return SpectralRecording(path, key=key, excitations=excitations)
    if fmt == "tiff":
        return TiffRecording(path)
    if fmt == "npy":
        return NpyRecording(path)
    return MatRecording(path, key)


def output_dtype(input_dtype: np.dtype, choice: str) -> np.dtype:
    """``"float32"``: float32; ``"same"``: the input's dtype (integers are rounded and clipped)."""
    if choice == "float32":
        return np.dtype(np.float32)
    if choice == "same":
        return np.dtype(input_dtype).newbyteorder("=")
    raise ValueError(f"output dtype must be 'float32' or 'same', got {choice!r}")


def cast_pages(pages: Iterable[np.ndarray], dtype: np.dtype) -> Iterator[np.ndarray]:
    """Convert float32 pages to ``dtype``, saturating at its limits.

    Integers are rounded and clipped to their range: a value above ``iinfo.max`` becomes
    ``iinfo.max`` exactly, also for 32- and 64-bit types whose limits float32 cannot
    represent (2**31 - 1 rounds up to 2**31 in float32 and would wrap to -2**31). Floats
    narrower than the pages (float16) have their finite values clipped to their largest
    finite values instead of becoming infinite; NaN and infinite values stay as they are
    (where the input had them, :func:`fluorodn._file_pipeline.denoise_file` puts them back).
    """
    dtype = np.dtype(dtype)
    for page in pages:
        if page.dtype == dtype:
            yield page
        elif dtype.kind in "iu":
            yield _saturate_int(page, dtype)
        elif dtype.kind == "f" and dtype.itemsize < page.dtype.itemsize:
            info = np.finfo(dtype)
            out = np.clip(page, info.min, info.max).astype(dtype)
            infinite = np.isinf(page)
            if infinite.any():
                out[infinite] = page[infinite]
            yield out
        else:
            yield page.astype(dtype)


def _saturate_int(page: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    wide = np.rint(page.astype(np.float64))
    lo, hi = float(info.min), float(info.max)
    if int(hi) > info.max:  # 2**63 - 1 and 2**64 - 1 round up in float64: the largest float below
        hi = float(np.nextafter(hi, -np.inf))
    out = np.clip(wide, lo, hi).astype(dtype)
    out[wide > hi] = info.max
    return out


def write_denoised(
    recording: Recording,
    dest: str | os.PathLike[str],
    pages: Iterable[np.ndarray],
    *,
    dtype: np.dtype,
    provenance: dict[str, Any],
    overwrite: bool = False,
    var_name: str | None = None,
    before_publish: Callable[[], None] | None = None,
    to: str | None = None,
) -> Path:
    """Write denoised (H, W) ``pages`` of ``recording`` to ``dest`` in the same format, or as ``to``.

    ``var_name`` names the new variable of a .mat output (default ``<key>_denoised``);
    ``before_publish`` as for :func:`atomic_output`; ``to`` converts (npy, tif, h5, see
    :mod:`fluorodn.formats.convert`). A folder of one-spectrum exports is written as a
    folder. Returns the path written.
    """
    dest = Path(dest)
    if to is None and isinstance(recording, SpectralRecording) and recording.writes_folder:
        return recording.write_folder(dest, pages, provenance=provenance, overwrite=overwrite,
                                      before_publish=before_publish)  # fmt: skip
    with atomic_output(dest, overwrite=overwrite, source=recording.path, before_publish=before_publish) as tmp:
        if to is not None:
            _write_converted(recording, to, tmp, pages, dtype, provenance)
        elif isinstance(recording, MatRecording):
            recording.write(tmp, pages, dtype, provenance, var_name or f"{recording.key}_denoised")
        else:
            recording.write(tmp, pages, dtype, provenance)
    return dest


def _write_converted(
    recording: Recording, to: str, tmp: Path, pages: Iterable[np.ndarray], dtype: np.dtype, provenance: dict[str, Any]
) -> None:
    """``pages`` converted to ``to``: with the axes a spectrometer file carries, a TIFF to tif as its
    own output is written, else page by page in the input's shape (a .mat's pages first). Frames
    are refused for h5, before a page is taken: its layout holds time x wavelength recordings only."""
    from fluorodn.formats.convert import check_target, write_pages

    check_target(to)
    if isinstance(recording, SpectralRecording):
        recording.write_as(to, tmp, pages, dtype, provenance)
        return
    if to == "h5" and not _holds_recordings(recording, provenance):
        raise h5_frames_error(recording)
    if to == "h5" and isinstance(recording, TiffRecording) and recording.n_pages == 1:
        axes = _stated_axes(recording)
        if axes:  # one recording whose description states its axes (fluorodn example, --to tif)
            from fluorodn.formats.convert import write_array

            write_array("h5", tmp, [np.asarray(p, dtype=dtype) for p in pages], provenance, **axes)
            return
    if to == "tif" and isinstance(recording, TiffRecording):
        recording.write(tmp, pages, dtype, provenance)
        return
    shape: tuple[int, ...]
    if isinstance(recording, MatRecording):  # (H, W, pages) in MATLAB's order: written as its pages
        shape = recording.page_shape if recording.n_pages == 1 else (recording.n_pages, *recording.page_shape)
    else:
        shape = recording.shape
    write_pages(to, tmp, pages, shape, dtype, provenance)


def _stated_axes(recording: TiffRecording) -> dict[str, Any]:
    """The axes a one-page TIFF recording's description states, as :func:`fluorodn.formats.convert.write_array`
    takes them for ``to="h5"``: its bins' wavelengths, its times (``time_s``, else from ``sampling_hz``), its
    start and clock origin, its dark level, how many excitations its rows interleave; {} where it states
    none, and without any it states in a form fluorodn does not take (as ``fluorodn unmix`` would refuse it)."""
    from fluorodn.unmixing.inputs import UnmixError, recording_metadata, stated_dark, stated_start, wavelength_grid

    meta = recording_metadata(recording.path)
    t, w = (int(n) for n in recording.page_shape)
    axes: dict[str, Any] = {}
    spec = meta.get("wavelength_nm")
    if isinstance(spec, list) and len(spec) == 2 and w != 2:
        spec = f"{float(spec[0])!r}:{float(spec[1])!r}"
    with contextlib.suppress(UnmixError, TypeError, ValueError):
        axes["wavelengths"] = None if spec is None else wavelength_grid(spec, w)
    with contextlib.suppress(UnmixError, TypeError, ValueError):
        axes["dark"] = stated_dark(meta, w, recording.path)
    stamps, rate = meta.get("time_s"), meta.get("sampling_hz")
    if isinstance(stamps, list) and len(stamps) == t:
        with contextlib.suppress(TypeError, ValueError):
            times = np.asarray(stamps, dtype=np.float64)
            if np.isfinite(times).all() and (t < 2 or np.all(np.diff(times) > 0)):
                axes["times"] = times
    elif isinstance(rate, (int, float)) and not isinstance(rate, bool) and math.isfinite(rate) and rate > 0:
        axes["times"], axes["rate"] = np.arange(t) / float(rate), float(rate)
    if axes.get("times") is not None:
        axes["start"] = stated_start(meta)
        origin = meta.get("time_origin_s")
        if isinstance(origin, (int, float)) and not isinstance(origin, bool) and math.isfinite(origin):
            axes["time_origin_s"] = float(origin)
    exc = meta.get("excitations")
    if isinstance(exc, int) and not isinstance(exc, bool) and exc > 1:
        axes["excitations"] = exc
    return {k: v for k, v in axes.items() if v is not None}


def h5_frames_error(recording: Recording) -> FileFormatError:
    """The error that refuses to write the frames of ``recording`` in the HDF5 layout of ``to='h5'``."""
    h, w = recording.page_shape
    return FileFormatError(
        f"{recording.path} holds frames ({h} x {w} pixels), and the HDF5 layout of to='h5' holds time x "
        "wavelength recordings only (fluorodn would read the frames back as spectra); convert it with "
        "to='npy' or to='tif', or declare its pages recordings with kind='spectral'"
    )


def h5_takes(recording: Recording, model_kind: str, declared: str, first: np.ndarray | None) -> bool:
    """Whether ``to='h5'`` will write what a model of ``model_kind`` (``"image"`` or ``"spectral"``)
    makes of ``recording`` with its kind ``declared`` (``"auto"``, ``"image"``, ``"spectral"``):
    :func:`_holds_recordings` on the provenance the run will record, predicted before the run from
    the pages' shape and the ``first`` page (None: by shape alone), as the spectral model chooses
    its path (a short recording whose rows are one spectrum takes the spectral path)."""
    from fluorodn.spectral import looks_spectral, short_recording

    if isinstance(recording, SpectralRecording):
        return True
    page = tuple(recording.page_shape)
    spectral_path = model_kind == "spectral" and (
        declared == "spectral"
        or (declared == "auto" and (looks_spectral(page) or (first is not None and short_recording(first, page))))
    )  # kind='image' runs the image model
    provenance: dict[str, Any] = {"settings": {"kind": declared}} | ({"components": 0} if spectral_path else {})
    return _holds_recordings(recording, provenance)


def _holds_recordings(recording: Recording, provenance: dict[str, Any]) -> bool:
    """Whether the pages of ``recording`` are time x wavelength recordings: declared so, denoised by
    the spectral model (whose provenance counts its ``components``), stated so by the file (a TIFF
    naming its bins' wavelengths), or looking like one and not declared frames."""
    from fluorodn.spectral import looks_spectral

    declared = (provenance.get("settings") or {}).get("kind")
    if declared == "spectral" or "components" in provenance or getattr(recording, "axes_known", False):
        return True
    return declared != "image" and looks_spectral(tuple(recording.page_shape))
