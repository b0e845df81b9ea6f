"""Files that acquisition software writes: spectral recordings read with their axes, written back as they were.

Readers (one module each): OceanView time-series text exports and folders of one-spectrum
exports (:mod:`fluorodn.formats.oceanview`), HDF5 with ``Time``/``Wavelength`` axes
(:mod:`fluorodn.formats.hdf5_axes`). :func:`read` returns a :class:`SpectralFile`: the
recording split into channels (one per excitation light, see
:mod:`fluorodn.formats.interleave`), each (T, W) with its own timestamps, the wavelengths,
and what is needed to write denoised channels back in the input's layout
(:meth:`SpectralFile.write`) or convert them (:meth:`SpectralFile.write_as`: npy, tif, h5).
Timestamps are checked on reading (:mod:`fluorodn.formats.timing`): the real sampling rate,
jitter and dropped frames are measured, and a declared rate that disagrees is refused.

:func:`load` is the short way for analyses of one channel: ``(array, wavelengths, times)``.
:class:`SpectralRecording` puts a :class:`SpectralFile` behind the page interface of
:mod:`fluorodn.io` (channels are pages), so the file pipeline denoises each channel alone.
Hand-off writers for unmixed traces: :mod:`fluorodn.formats.nwb`, :mod:`fluorodn.formats.guppy`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn._atomic import atomic_folder, atomic_output
from fluorodn.errors import FileFormatError
from fluorodn.formats import interleave
from fluorodn.formats.convert import FORMATS as CONVERSIONS
from fluorodn.formats.timing import Timing, check, check_declared, given_rate_refusal

__all__ = [
    "CONVERSIONS",
    "EXTENSIONS",
    "Channel",
    "SpectralFile",
    "SpectralRecording",
    "handles",
    "is_spectrum_folder",
    "load",
    "provenance_line",
    "read",
]

#: File extensions read here, and their format.
EXTENSIONS = {".txt": "oceanview", ".h5": "hdf5", ".hdf5": "hdf5"}


def is_spectrum_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder of one-spectrum OceanView exports and no time-series export
    (:func:`fluorodn.formats.oceanview.is_one_spectrum_folder`): one recording."""
    from fluorodn.formats.oceanview import is_one_spectrum_folder

    return is_one_spectrum_folder(Path(path))


def handles(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`read` is the reader for ``path`` (by extension, or a folder of one-spectrum exports)."""
    p = Path(path)
    return p.suffix.lower() in EXTENSIONS or is_spectrum_folder(p)


@dataclass
class Channel:
    """One excitation's recording: rows of one light source, in time order."""

    name: str
    data: np.ndarray
    """(T, W): time x wavelength, in the file's value type (float64 for text)."""
    times: np.ndarray | None
    """(T,) seconds since the file's first row, or None where the file has no timestamps."""
    timing: Timing | None
    """What the timestamps say (rate, jitter, dropped frames), or None without timestamps."""


@dataclass
class SpectralFile:
    """A spectral recording read from an acquisition file: channels, axes, and its layout."""

    path: Path
    format: str
    """"oceanview", "oceanview folder" or "hdf5"."""
    wavelengths: np.ndarray | None
    """(W,) nm, or None where the file does not give them."""
    channels: list[Channel]
    """Excitation channels of every stream, stream by stream."""
    excitations: int
    """Interleaved excitations per stream (1: not interleaved)."""
    streams: list[np.ndarray]
    """The arrays as stored, oriented (T, W): one for a text export, one per dataset channel of HDF5."""
    times: np.ndarray | None
    """(T,) seconds of the streams' rows, or None."""
    timing: Timing | None
    """Sampling of the streams' rows (all excitations), or None."""
    meta: dict[str, Any] = field(default_factory=dict)
    _source: Any = None

    def describe(self) -> str:
        """One line: what was read (spectra, bins, wavelengths), the sampling its timestamps show, excitations."""
        t, w = self.streams[0].shape
        what = f"{len(self.streams)} channels of " if len(self.streams) > 1 else ""
        text = f"{self.path}: {self.format}, {what}{t} spectra x {w} bins"
        if self.wavelengths is not None:
            text += f" ({self.wavelengths.min():.2f}-{self.wavelengths.max():.2f} nm)"
        if self.timing is not None:
            text += f"; {self.timing.describe()}"
        else:
            stated = self.meta.get("sampling_hz")
            text += "; no timestamps" + (f", {stated:.6g} Hz as the file states" if stated is not None else "")
        if self.excitations > 1:
            rates = sorted({f"{c.timing.rate_hz:.6g}" for c in self.channels if c.timing is not None})
            text += f"; {self.excitations} interleaved excitations" + (f", {'/'.join(rates)} Hz each" if rates else "")
        return text

    def arrange(self, outputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``outputs`` (one per channel) put back into the streams, rows in the original order."""
        if len(outputs) != len(self.channels):
            raise ValueError(f"expected {len(self.channels)} channels, got {len(outputs)}")
        n = self.excitations
        streams = [
            interleave.merge([np.asarray(o) for o in outputs[i : i + n]]) if n > 1 else np.asarray(outputs[i])
            for i in range(0, len(outputs), n)
        ]
        for got, want in zip(streams, self.streams, strict=True):
            if got.shape != want.shape:
                raise ValueError(f"a denoised stream of shape {got.shape} does not fit {self.path} ({want.shape})")
        return streams

    def write(
        self,
        dest: str | os.PathLike[str],
        outputs: Sequence[np.ndarray],
        *,
        dtype: Any = np.float32,
        provenance: dict[str, Any] | None = None,
        overwrite: bool = False,
        before_publish: Callable[[], None] | None = None,
    ) -> Path:
        """Write ``outputs`` (one (T, W) array per channel) to ``dest`` in this file's format and layout.

        Text keeps the input's header (plus one line from ``provenance``), wavelength row,
        timestamps and number precision (``dtype`` does not apply); HDF5 keeps every object
        and writes the channels as ``dtype``. Written atomically: a file through
        :func:`fluorodn.io.atomic_output`, a folder under a temporary name renamed at the end;
        ``before_publish`` is called when the output is complete, before it gets its name.
        """
        dest = Path(dest)
        streams = self.arrange(outputs)
        prov = provenance or {}
        if self.format == "oceanview folder":
            with atomic_folder(dest, overwrite=overwrite, source=self.path) as tmp:
                self._source.write(tmp, streams[0], provenance_line(prov))
                if before_publish is not None:
                    before_publish()
            return dest
        with atomic_output(dest, overwrite=overwrite, source=self.path, before_publish=before_publish) as tmp:
            self._write_to(tmp, streams, np.dtype(dtype), prov)
        return dest

    def _write_to(self, tmp: Path, streams: list[np.ndarray], dtype: np.dtype, prov: dict[str, Any]) -> None:
        if self.format == "oceanview":
            self._source.write(tmp, streams[0], provenance_line(prov))
        else:
            self._source.write(tmp, streams, dtype, prov)

    def write_as(
        self,
        fmt: str,
        dest: str | os.PathLike[str],
        outputs: Sequence[np.ndarray],
        *,
        dtype: Any = np.float32,
        provenance: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write ``outputs`` to ``dest`` as ``fmt`` (npy, tif, h5): see :func:`fluorodn.formats.convert.write_array`."""
        dest = Path(dest)
        streams = [s.astype(dtype, copy=False) for s in self.arrange(outputs)]
        with atomic_output(dest, overwrite=overwrite, source=self.path) as tmp:
            self._convert(fmt, tmp, streams, provenance or {})
        return dest

    def _convert(self, fmt: str, dest: Path, streams: list[np.ndarray], prov: dict[str, Any]) -> None:
        """Write ``streams`` (as :meth:`arrange` gives them) as ``fmt`` into the new file ``dest``, with the axes."""
        from fluorodn.formats.convert import write_array

        write_array(
            fmt,
            dest,
            streams,
            prov,
            wavelengths=self.wavelengths,
            times=self.times,
            excitations=self.excitations,
            rate=None if self.timing is None else self.timing.rate_hz,
            start=self.meta.get("start"),
            time_zone=self.meta.get("time_zone") or "",
            time_origin_s=self.meta.get("time_origin_s"),
        )


def provenance_line(prov: dict[str, Any]) -> str:
    """The header line a text output gets: what made its values."""
    parts = [f"Denoised by: fluorodn {prov.get('fluorodn', '')}".rstrip()]
    if prov.get("model"):
        sha = str(prov.get("model_sha256") or "")[:12]
        parts.append(f"model {prov['model']}" + (f" (sha256 {sha})" if sha else ""))
    settings = prov.get("settings") or {}
    if settings.get("excitations"):
        parts.append(f"{settings['excitations']} excitations denoised separately")
    if prov.get("created"):
        parts.append(str(prov["created"]))
    return ", ".join(parts)


def read(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    excitations: int | None = None,
    rate: float | None = None,
) -> SpectralFile:
    """Read a spectral recording with its axes.

    Parameters
    ----------
    path : an OceanView time-series export (``.txt``), a folder of one-spectrum OceanView
        exports, or an HDF5 file (``.h5``, ``.hdf5``) with ``Time``/``Wavelength`` axes.
    key : the dataset of an HDF5 file (default: ``Channel1..N``, or its only 2D/3D dataset).
    excitations : interleaved excitations per stream; None: declared by the file, else
        detected from the summed intensity (FileFormatError when that is ambiguous).
    rate : a declared sampling rate (Hz) to check against the timestamps (the rows' rate or,
        when interleaved, each channel's); a rate the file declares is checked too.

    Raises FileFormatError with one sentence saying what was expected for anything else.
    """
    from fluorodn.formats.hdf5_axes import HDF5Axes
    from fluorodn.formats.oceanview import OceanViewFolder, OceanViewText

    p = Path(path)
    where = str(p)
    if excitations is not None and (not isinstance(excitations, int) or excitations < 1):
        raise FileFormatError(f"excitations=... must be a whole number of 1 or more, got {excitations!r}")
    source: Any
    if p.is_dir():
        if key is not None:
            raise FileFormatError(f"key=... picks a dataset of an HDF5 file; {p} is a folder: leave key=None")
        source, fmt = OceanViewFolder.read(p), "oceanview folder"
        streams, times, declared = [source.values], source.times, None
    elif p.suffix.lower() == ".txt":
        if key is not None:
            raise FileFormatError(f"key=... picks a dataset of an HDF5 file; {p} is a text export: leave key=None")
        source, fmt = OceanViewText.read(p), "oceanview"
        streams, times, declared = [source.values], source.times, None
    elif p.suffix.lower() in (".h5", ".hdf5"):
        source, fmt = HDF5Axes.read(p, key), "hdf5"
        streams, times, declared = list(source.channels), source.times, source.declared_rate
        if source.has_excitation_axis and excitations not in (None, 1):
            raise FileFormatError(
                f"{where}: {key} has an excitation axis already (time x excitation x wavelength), each excitation "
                "denoised alone; leave excitations=None"
            )
        if excitations is None:
            excitations = 1 if source.has_excitation_axis else source.meta.get("excitations")
    else:
        raise FileFormatError(
            f"cannot read {p} as a spectral recording: expected an OceanView export (.txt), a folder of one-spectrum "
            "OceanView exports, or an HDF5 file (.h5, .hdf5)"
        )
    if times is not None and times.size != streams[0].shape[0]:
        raise FileFormatError(
            f"{where}: {times.size} timestamps for {streams[0].shape[0]} spectra; expected one timestamp per spectrum"
        )
    timing = check(times, where) if times is not None else None
    if excitations is None:
        found = {interleave.detect(s, where) for s in streams}
        if len(found) > 1:
            raise FileFormatError(
                f"{where}: its channels look interleaved in different ways ({sorted(found)}); declare excitations=N"
            )
        n = found.pop()
    else:
        n = excitations
        for s in streams:
            interleave.check_declared(s, n, where)
    if times is not None:
        interleave.check_dropped(times, n, where)
    names = list(getattr(source, "names", ["data"]))
    channels: list[Channel] = []
    for name, stream in zip(names, streams, strict=True):
        for k, rows in enumerate(interleave.rows_of(stream.shape[0], n)):
            if rows.size < 2:
                raise FileFormatError(
                    f"{where}: with {n} excitations a channel holds {rows.size} spectra; expected 2 or more"
                )
            t = None if times is None else times[rows]
            label = name if n == 1 else (f"excitation {k + 1}" if name == "data" else f"{name} excitation {k + 1}")
            channels.append(Channel(label, stream[rows], t, None if t is None else check(t, f"{where} ({label})")))
    for declared_rate in (declared, rate):
        if declared_rate is not None and timing is not None:
            _check_rate(declared_rate, timing, channels[0].timing, n, where)
    meta = dict(getattr(source, "meta", {}))
    from fluorodn.spectral import rate_refusal

    if timing is None and declared is not None and rate_refusal(declared) is None and n == 1:
        # no timestamps: the rate the file states is the rows' (with interleaved rows it could be
        # each channel's as well, so it is not taken there)
        if refused := given_rate_refusal(rate, declared, where):
            raise FileFormatError(refused)
        meta["sampling_hz"] = float(declared)
    return SpectralFile(p, fmt, getattr(source, "wavelengths", None), channels, n, streams, times, timing, meta, source)


def _check_rate(declared: float, rows: Timing, channel: Timing | None, n: int, where: str) -> None:
    """A declared rate must match the rows' rate or, with interleaved excitations, each channel's (1 %)."""
    try:
        check_declared(rows, declared, where)
    except FileFormatError:
        if n == 1 or channel is None:
            raise
        check_declared(channel, declared, where)


def load(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    excitations: int | None = None,
    channel: int | None = None,
    rate: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(array (T, W) float64, wavelengths (W,) nm or None, times (T,) s or None)`` of one channel.

    For analyses that take one (time, wavelength) recording with its axes (e.g.
    :func:`fluorodn.unmixing.unmix_file`). ``channel`` picks one of several (excitations,
    HDF5 channels); FileFormatError names them when the file holds several and none is
    picked. ``rate``: a declared sampling rate, checked against the timestamps (see :func:`read`).
    """
    rec = read(path, key=key, excitations=excitations, rate=rate)
    if channel is None:
        if len(rec.channels) > 1:
            names = ", ".join(f"{k}: {c.name}" for k, c in enumerate(rec.channels))
            raise FileFormatError(
                f"{path} holds {len(rec.channels)} channels ({names}); an analysis of one recording takes one "
                "channel at a time: pick it with fluorodn.formats.load(path, channel=k)"
            )
        channel = 0
    if not 0 <= channel < len(rec.channels):
        raise FileFormatError(f"{path} holds {len(rec.channels)} channels; channel {channel} does not exist")
    ch = rec.channels[channel]
    return np.asarray(ch.data, dtype=np.float64), rec.wavelengths, ch.times


class SpectralRecording:
    """A :class:`SpectralFile` behind the page interface of :mod:`fluorodn.io`: each channel is one page.

    ``pages()`` yields the channels ((T, W) each); ``write`` takes the denoised pages in the
    same order and writes them in the input's layout. A folder input is written as a
    folder (``writes_folder``; see :meth:`write_folder`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: str | None = None,
        excitations: int | None = None,
        rate: float | None = None,
    ) -> None:
        self.file = read(path, key=key, excitations=excitations, rate=rate)
        self.path = Path(path)
        self.kind = self.file.format
        self.key = key
        chans = self.file.channels
        self.n_pages = len(chans)
        self.page_shape = tuple(chans[0].data.shape)
        stream = self.file.streams[0].shape
        self.shape = stream if len(self.file.streams) == 1 else (len(self.file.streams), *stream)
        self.dtype = np.dtype(chans[0].data.dtype)
        self.writes_folder = self.file.format == "oceanview folder"
        #: whether the file says which axis is time (wavelengths or timestamps read with the data):
        #: each page is then a time x wavelength recording, whatever its look
        self.axes_known = self.file.wavelengths is not None or self.file.times is not None
        #: samples per second of each page (channel) its timestamps show, the slowest channel's where
        #: interleaved excitations share the rows; None without them, or where they do not advance
        rates = [float(c.timing.rate_hz) for c in chans if c.timing is not None]
        rate = min(rates) if rates else None if self.file.timing is None else float(self.file.timing.rate_hz)
        if rate is None:  # no timestamps: the rate the file states (an HDF5 attribute), if any
            rate = self.file.meta.get("sampling_hz")
        self.rate_hz = rate if rate is not None and np.isfinite(rate) and rate > 0 else None

    def pages(self) -> Iterator[np.ndarray]:
        for ch in self.file.channels:
            yield ch.data

    def close(self) -> None:
        """Nothing to release: the file was read whole and closed."""

    def write(self, dest: Path, pages: Iterable[np.ndarray], dtype: np.dtype, provenance: dict[str, Any]) -> None:
        """Write the denoised pages into ``dest`` (a new file) in the input's layout."""
        streams = self.file.arrange(list(pages))
        self.file._write_to(Path(dest), streams, np.dtype(dtype), _with_excitations(provenance, self.file))

    def write_folder(
        self,
        dest: Path,
        pages: Iterable[np.ndarray],
        *,
        provenance: dict[str, Any],
        overwrite: bool = False,
        before_publish: Callable[[], None] | None = None,
    ) -> Path:
        """Write the denoised pages of a folder input as a new folder ``dest``, atomically."""
        prov = _with_excitations(provenance, self.file)
        return self.file.write(dest, list(pages), provenance=prov, overwrite=overwrite, before_publish=before_publish)

    def write_as(
        self, fmt: str, dest: Path, pages: Iterable[np.ndarray], dtype: np.dtype, provenance: dict[str, Any]
    ) -> None:
        """Write the denoised pages into ``dest`` (a new file) converted to ``fmt`` (npy, tif, h5)."""
        f = self.file
        streams = [s.astype(dtype, copy=False) for s in f.arrange(list(pages))]
        f._convert(fmt, Path(dest), streams, _with_excitations(provenance, f))


def _with_excitations(provenance: dict[str, Any], f: SpectralFile) -> dict[str, Any]:
    if f.excitations == 1:
        return provenance
    prov = dict(provenance)
    prov["settings"] = {**(prov.get("settings") or {}), "excitations": f.excitations}
    return prov
