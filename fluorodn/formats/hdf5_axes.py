"""HDF5 recordings with explicit axes: ``Channel1``, ``Channel2``, ... beside ``Time`` and ``Wavelength``.

Hyperspectral photometry rigs keep one dataset per excitation laser (``Channel1..3``, each
time x wavelength) and the two axes as 1D datasets in the same group: ``Time`` (seconds,
or the unit its ``units`` attribute names: ``s``, ``ms``, ``us``) and ``Wavelength`` (nm).
A dataset can also be named (``key``): a 2D (time x wavelength) or a 3D (time x excitation
x wavelength) array, with the axes from its group when they are there. Each 2D array is
oriented by the axes' lengths (a stored wavelength x time array is read transposed and
written back as stored); an array the axes do not fit, or fit two ways, is refused.

Only hard-linked datasets stored in the file are read: soft and external links, virtual
datasets and datasets kept in external files are refused (a file from elsewhere must not
make fluorodn read other files).

Writing copies every object of the input into a new file and puts each denoised dataset
in place of its input (same name, shape, orientation, attributes, chunks and compression;
float32, or the input's type), with provenance as the root attribute ``fluorodn_provenance``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError
from fluorodn.files import read_errors

__all__ = ["PROVENANCE_ATTR", "RATE_ATTRS", "HDF5Axes", "write_axes_file"]

PROVENANCE_ATTR = "fluorodn_provenance"
#: Attributes (on the root, the data's group or the dataset) read as a declared sampling rate in Hz.
RATE_ATTRS = ("sampling_rate", "SamplingRate", "sample_rate", "sampling_rate_hz", "fs", "frame_rate")
_TIME_NAMES = ("Time", "time")
_WL_NAMES = ("Wavelength", "wavelength")
_CHANNEL = re.compile(r"^Channel(\d+)$")
_TIME_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 1e-3,
    "milliseconds": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "microseconds": 1e-6,
}
_EXPECTED = (
    "expected datasets Channel1, Channel2, ... (time x wavelength) with 1D datasets Time and Wavelength beside "
    "them, or name the dataset with key=..."
)


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
    if obj.is_virtual or obj.external:
        raise FileFormatError(
            f"{where}: {name} keeps its data in other files (virtual or external storage); "
            "fluorodn reads only datasets stored in the file itself"
        )
    return obj


def _numeric(ds: Any) -> bool:
    import h5py

    return isinstance(ds, h5py.Dataset) and ds.dtype.kind in "iuf" and ds.dtype.fields is None and ds.size > 0


def _axis(group: Any, names: Sequence[str], where: str) -> tuple[np.ndarray | None, Any]:
    """The first of ``names`` in ``group`` as a 1D float64 axis (a (1, N) or (N, 1) array counts as 1D)."""
    for name in names:
        ds = _hard_dataset(group, name, where)
        if ds is None:
            continue
        if not _numeric(ds) or sum(int(n) > 1 for n in ds.shape) > 1:
            raise FileFormatError(f"{where}: {name} is not a 1D numeric axis; {_EXPECTED}")
        return np.asarray(ds[()], dtype=np.float64).ravel(), ds
    return None, None


def _rate(*objs: Any) -> float | None:
    for obj in objs:
        for name in RATE_ATTRS:
            if obj is not None and name in obj.attrs:
                value = np.asarray(obj.attrs[name]).ravel()
                if value.size == 1 and value.dtype.kind in "iuf":
                    return float(value[0])
    return None


@dataclass
class _Source:
    """One input dataset: its path, stored shape, and where time, wavelength and excitation are."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    time_axis: int
    wl_axis: int
    exc_axis: int | None


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
    """(T,) seconds since the first sample, or None without a Time dataset."""
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
            with h5py.File(path, "r") as f:
                return cls._read(f, path, where, key)

    @classmethod
    def _read(cls, f: Any, path: Path, where: str, key: str | None) -> HDF5Axes:
        import h5py

        if key is not None:
            parent_name, _, leaf = key.strip("/").rpartition("/")
            group = f[parent_name] if parent_name else f
            ds = _hard_dataset(group, leaf, where) if leaf else None
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
                if len(others) != 1:
                    raise FileFormatError(f"{where} holds {_listing(f)}; {_EXPECTED}")
                datasets = others
        times, time_ds = _axis(group, _TIME_NAMES, where)
        wavelengths, _ = _axis(group, _WL_NAMES, where)
        if times is not None:
            unit = time_ds.attrs.get("units", time_ds.attrs.get("unit", "s"))
            unit = unit.decode("utf-8", "replace") if isinstance(unit, bytes) else str(unit)
            if unit.strip().lower() not in _TIME_UNITS:
                raise FileFormatError(
                    f"{where}: Time has units {unit!r}; expected seconds (s), milliseconds (ms) or microseconds (us)"
                )
            seconds = _TIME_UNITS[unit.strip().lower()]
            origin = float(times[0]) * seconds  # where the file's clock stood at its first sample
            times = (times - times[0]) * seconds
        sources: list[_Source] = []
        channels: list[np.ndarray] = []
        names_out: list[str] = []
        for name, ds in datasets:
            if not _numeric(ds) or ds.ndim not in (2, 3):
                raise FileFormatError(f"{where}: {name} is not a 2D numeric dataset (time x wavelength); {_EXPECTED}")
            src = _orient(name, ds, times, wavelengths, where)
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
        shapes = {c.shape for c in channels}
        if len(shapes) > 1:
            raise FileFormatError(f"{where}: its channels have different shapes {sorted(shapes)}; {_EXPECTED}")
        rate = _rate(datasets[0][1], group, f)
        meta: dict[str, Any] = {"key": key, "datasets": [s.name for s in sources]}
        if times is not None:
            meta["time_origin_s"] = origin  # its first sample's time on its own clock, which times count from
        exc = np.asarray(f.attrs.get("excitations", 1)).ravel()
        if exc.size == 1 and exc.dtype.kind in "iu" and int(exc[0]) > 1:
            meta["excitations"] = int(exc[0])
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
            _copy_attrs(fin, fout)
            _copy_tree(fin, fout, "", {n: a.astype(dtype, copy=False) for n, a in new.items()})
            fout.attrs[PROVENANCE_ATTR] = json.dumps(provenance)


def _orient(name: str, ds: Any, times: np.ndarray | None, wl: np.ndarray | None, where: str) -> _Source:
    """Which axis of ``ds`` is time, wavelength (and excitation), from the axes' lengths."""
    shape = tuple(int(n) for n in ds.shape)
    if ds.ndim == 2 and times is None and wl is None:
        return _Source(name, shape, ds.dtype, 0, 1, None)
    if times is None and wl is None:  # 3D: which axis is the excitation's cannot be told
        raise FileFormatError(
            f"{where}: {name} of shape {shape} has three axes and no Time or Wavelength dataset beside it to "
            "tell which is which; store its Time and Wavelength axes beside it (a time x excitation x wavelength "
            "dataset), or save each excitation's time x wavelength array as its own dataset"
        )
    t_len = None if times is None else times.size
    w_len = None if wl is None else wl.size
    t_axes = [i for i, n in enumerate(shape) if n == t_len] if t_len is not None else []
    w_axes = [i for i, n in enumerate(shape) if n == w_len] if w_len is not None else []
    if t_len is None:  # only wavelengths: time is the other (first remaining) axis of a 2D array
        t_axes = [i for i in range(ds.ndim) if i not in w_axes] if ds.ndim == 2 else []
    if w_len is None:
        w_axes = [i for i in range(ds.ndim) if i not in t_axes] if ds.ndim == 2 else []
    pairs = [(t, w) for t in t_axes for w in w_axes if t != w]
    if len(pairs) != 1:
        axes = ", ".join(f"{n} {v.size}" for n, v in (("Time", times), ("Wavelength", wl)) if v is not None)
        how = "no way" if not pairs else "more than one way"
        raise FileFormatError(
            f"{where}: {name} of shape {shape} fits the axes ({axes}) {how}; expected a time x wavelength "
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


def _copy_attrs(src: Any, dst: Any) -> None:
    for name in src.attrs:
        with contextlib.suppress(Exception):  # attributes h5py cannot re-create (references) are left out
            dst.attrs.create(name, src.attrs[name], dtype=src.attrs.get_id(name).dtype)


def _copy_tree(src: Any, dst: Any, prefix: str, new: dict[str, np.ndarray]) -> None:
    """Copy ``src`` into ``dst``; datasets named in ``new`` (paths from the root) get new data."""
    import h5py

    for name in src:
        path = f"{prefix}{name}"
        link = src.get(name, getlink=True)
        if isinstance(link, h5py.SoftLink):
            dst[name] = h5py.SoftLink(link.path)
            continue
        if isinstance(link, h5py.ExternalLink):
            dst[name] = h5py.ExternalLink(link.filename, link.path)
            continue
        obj = src[name]
        if path in new:
            kwargs: dict[str, Any] = {}
            if obj.chunks is not None:
                kwargs["chunks"] = obj.chunks
                if obj.compression in ("gzip", "lzf"):
                    kwargs["compression"] = obj.compression
                    kwargs["compression_opts"] = obj.compression_opts
                    kwargs["shuffle"] = obj.shuffle
            out = dst.create_dataset(name, data=new[path], **kwargs)
            _copy_attrs(obj, out)
        elif isinstance(obj, h5py.Group) and any(p.startswith(path + "/") for p in new):
            group = dst.create_group(name)
            _copy_attrs(obj, group)
            _copy_tree(obj, group, path + "/", new)
        else:
            src.copy(obj, dst, name=name)


def write_axes_file(
    dest: Path,
    channels: Sequence[np.ndarray],
    wavelengths: np.ndarray | None,
    times: np.ndarray | None,
    provenance: dict[str, Any],
    excitations: int = 1,
) -> None:
    """A new HDF5 file in the axes layout: ``Channel1..C`` (T, W), ``Time`` (s), ``Wavelength`` (nm).

    ``excitations`` > 1 says that the rows of each channel interleave that many excitations
    (stored as the root attribute ``excitations``, which the reader takes as declared).
    """
    import h5py

    with h5py.File(dest, "w") as f:
        for k, ch in enumerate(channels, 1):
            f.create_dataset(f"Channel{k}", data=np.asarray(ch))
        if times is not None:
            f.create_dataset("Time", data=np.asarray(times, dtype=np.float64)).attrs["units"] = "s"
        if wavelengths is not None:
            f.create_dataset("Wavelength", data=np.asarray(wavelengths, dtype=np.float64)).attrs["units"] = "nm"
        if excitations > 1:
            f.attrs["excitations"] = int(excitations)
        f.attrs[PROVENANCE_ATTR] = json.dumps(provenance)
