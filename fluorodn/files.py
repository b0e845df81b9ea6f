"""Files from elsewhere: which paths are the same file, names that stay in their folder,
globs that end, a model file probed before it runs on data, and the per-file pipeline
(:func:`denoise_file`: read -> denoise -> write, overlapped, with NaN filling).

An input must never be replaced by an output, whatever the spelling of either path: the
same string, a symbolic link, a ``..`` detour, or a hard link to the same inode. Two paths
name the same file when :func:`os.path.samefile` says so (same device and inode), or,
where one does not exist yet, when their real paths are equal. A folder (a zarr store)
also overlaps every path inside it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fluorodn.errors import FileFormatError, ModelError

__all__ = [
    "NAN_POLICIES",
    "FileResult",
    "FileSettings",
    "check_name_part",
    "denoise_file",
    "fill_nonfinite",
    "glob_files",
    "identity",
    "inside",
    "probe_model",
    "same_file",
]


def identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file ``path`` names (links followed), or None if it does not exist."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file: same inode, or the same real path."""
    ida, idb = identity(a), identity(b)
    if ida is not None and ida == idb:
        return True
    return os.path.realpath(a) == os.path.realpath(b)


def inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (real paths, and the folder's inode on the way)."""
    if same_file(path, folder):
        return True
    real, top = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    if top in real.parents:
        return True
    top_id = identity(folder)
    return top_id is not None and any(identity(parent) == top_id for parent in real.parents)


#: Characters an output name part (a suffix, a variable name) must not hold.
_NOT_IN_NAMES = re.compile(r"[/\\\x00-\x1f\x7f]")


def check_name_part(value: str, what: str) -> str:
    """Refuse a piece of a file name that would lead out of its folder or hold control characters."""
    if _NOT_IN_NAMES.search(value) or (os.altsep and os.altsep in value) or value in (".", ".."):
        raise FileFormatError(
            f"{what} {value!r} holds a path separator or a control character; an output name stays in its "
            "folder: use letters, digits, '_', '-' or '.'"
        )
    return value


def glob_files(pattern: str) -> list[Path]:
    """Files matching a glob ``pattern`` (``**`` matches any number of folders), sorted.

    Folders reached through symbolic links are walked once each: a link loop (a folder
    linking to itself or to a parent) ends the walk there instead of repeating it until
    paths grow too long. Like :mod:`glob`, ``*`` does not match a leading dot.
    """
    parts = Path(pattern).parts
    fixed = 0
    while fixed < len(parts) - 1 and not set(parts[fixed]) & set("*?["):
        fixed += 1
    root = Path(*parts[:fixed]) if fixed else Path()
    segments = list(parts[fixed:])
    found: list[Path] = []
    for path in _walk(root, recursive="**" in segments, depth=len(segments)):
        rel = path.relative_to(root).parts if root != Path() else path.parts
        if _match(list(rel), segments) and path.is_file():
            found.append(path)
    return sorted(found)


def _walk(root: Path, recursive: bool, depth: int) -> Iterator[Path]:
    """Everything below ``root`` (down to ``depth`` levels unless ``recursive``), each real folder once."""
    if not root.is_dir():
        return
    seen: set[tuple[int, int] | None] = {identity(root)}
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, level = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            path = folder / entry.name if folder != Path() else Path(entry.name)
            yield path
            if level + 1 >= depth and not recursive:
                continue
            try:
                is_dir = entry.is_dir()  # follows a link to a folder
            except OSError:
                continue
            if is_dir:
                key = identity(path)
                if key not in seen:
                    seen.add(key)
                    stack.append((path, level + 1))


def _match(parts: list[str], segments: list[str]) -> bool:
    if not segments:
        return not parts
    head, rest = segments[0], segments[1:]
    if head == "**":
        for i in range(len(parts) + 1):
            if i and parts[i - 1].startswith("."):
                break
            if _match(parts[i:], rest):
                return True
        return False
    if not parts or (parts[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(parts[0], head) and _match(parts[1:], rest)


#: Size of the probe a model file from elsewhere is run on once: (rows, cols) of an image
#: model, samples of a spectral one (small, odd sizes: a model must take any size).
_PROBE_IMAGE, _PROBE_SAMPLES, _PROBE_CHANNELS_MAX = (23, 29), 41, 4096


def probe_model(denoiser: Any) -> None:
    """Run the model of ``denoiser`` once on a small random probe, as it was loaded; ModelError if unfit.

    A model file from elsewhere must take one float32 input and give one float32 output
    of the input's shape, with finite values. ``Denoiser`` checks the ranks when it loads
    a model; this also runs it, so that a model failing at its first call, giving another
    shape (which tiling could broadcast silently) or NaN is refused before any file is
    read. It runs the Denoiser's own session, i.e. exactly the bytes that will run.
    """
    import numpy as np

    session, path = denoiser._session, denoiser.path
    fix = "export the model with fluorodn_train, or use a shipped model"
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1 or {inputs[0].type, outputs[0].type} != {"tensor(float)"}:
        found = ", ".join(f"{x.name}: {x.type}" for x in (*inputs, *outputs))
        raise ModelError(f"{path}: expected one float32 input and one float32 output, found {found}; {fix}")
    shape = inputs[0].shape
    if len(shape) == 4:
        probe_shape: tuple[int, ...] = (1, 1, *_PROBE_IMAGE)
    else:
        channels = shape[1] if len(shape) == 3 and isinstance(shape[1], int) else getattr(denoiser, "channels", 1)
        if not 1 <= int(channels) <= _PROBE_CHANNELS_MAX:
            raise ModelError(f"{path}: its input has {channels} channels, more than fluorodn runs; {fix}")
        probe_shape = (1, int(channels), _PROBE_SAMPLES)
    probe = np.random.default_rng(0).standard_normal(probe_shape).astype(np.float32)
    try:
        (out,) = session.run([outputs[0].name], {inputs[0].name: probe})
    except Exception as err:  # onnxruntime raises its own types
        text = " ".join(str(err).split())[:200]
        raise ModelError(f"{path} fails on a small probe of shape {probe_shape} ({text}); {fix}") from err
    out = np.asarray(out)
    if out.shape != probe.shape:
        raise ModelError(
            f"{path} turns a probe of shape {probe_shape} into shape {out.shape}; a denoiser must keep the "
            f"shape of its input: {fix}"
        )
    if not np.isfinite(out).all():
        raise ModelError(f"{path} gives NaN or infinite values on a small probe; {fix}")


# -- the per-file pipeline ------------------------------------------------------------------

#: What :func:`denoise_file` does with NaN and infinite values: refuse the file (the
#: Denoiser's error), or fill them for the network and put them back in the output.
NAN_POLICIES = ("refuse", "fill")


@dataclass(frozen=True)
class FileSettings:
    """How :func:`denoise_file` reads and writes a file."""

    dtype: str = "float32"
    """Output type: ``"float32"``, or ``"same"`` as the input (integers rounded and clipped)."""
    key: str | None = None
    """Variable of a .mat file to denoise; None: its only 2D/3D numeric variable."""
    suffix: str = "_denoised"
    """Added to the variable name of a .mat output."""
    overwrite: bool = False
    """Replace an existing output file."""
    nan: str = "refuse"
    """``"refuse"`` NaN/inf values, or ``"fill"`` them (:func:`fill_nonfinite`) and restore them after."""
    device: str = "auto"
    """The device asked for, recorded in the output's provenance."""
    excitations: int | None = None
    """Interleaved excitations of a spectrometer file (each denoised alone); None: declared by the file or detected."""
    to: str | None = None
    """Write the output as ``"npy"``, ``"tif"`` or ``"h5"`` instead of the input's format."""

    def __post_init__(self) -> None:
        if self.nan not in NAN_POLICIES:
            raise ValueError(f"nan must be one of {', '.join(NAN_POLICIES)}; got {self.nan!r}")
        if self.dtype not in ("float32", "same"):
            raise ValueError(f"dtype must be 'float32' or 'same'; got {self.dtype!r}")


@dataclass
class FileResult:
    """What :func:`denoise_file` did with one file."""

    source: Path
    output: Path
    frames: int
    """2D pages denoised."""
    pixels: int
    seconds: float
    filled: int = 0
    """NaN/inf values filled for the network and restored in the output (``nan="fill"``)."""
    shape: tuple[int, ...] = field(default_factory=tuple)


def fill_nonfinite(page: Any) -> tuple[Any, tuple[Any, Any] | None]:
    """``page`` (H, W) with NaN/inf replaced by linear interpolation along axis 0, and where they were.

    Axis 0 is time for a (time, wavelength) recording: a missing sample is bridged from
    its neighbours in time, bin by bin; at either end the nearest finite value is
    repeated. A column without any finite value takes the median of the page's finite
    values. Returns ``(filled, None)`` for a page without NaN/inf (``filled`` is
    ``page`` itself), else ``(filled, (flat indices, original values))``. FileFormatError
    if no value of the page is finite.
    """
    import numpy as np

    arr = np.asarray(page)
    if arr.dtype.kind != "f":
        return arr, None
    bad = ~np.isfinite(arr)
    if not bad.any():
        return arr, None
    if bad.all():
        raise FileFormatError("a page holds no finite value (all NaN or infinite); nothing can be filled from it")
    out = arr.astype(np.float64)
    rows = np.arange(arr.shape[0])
    fallback = float(np.median(arr[~bad]))
    for j in np.flatnonzero(bad.any(axis=0)):
        good = ~bad[:, j]
        col = out[:, j]
        col[~good] = np.interp(rows[~good], rows[good], col[good]) if good.any() else fallback
    where = np.flatnonzero(bad.ravel())
    return out.astype(arr.dtype), (where, arr.ravel()[where].copy())


def _signature(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def denoise_file(
    denoiser: Any,
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    settings: FileSettings | None = None,
    *,
    progress: Any = None,
    label: str | None = None,
) -> FileResult:
    """Denoise one recording file into ``dest`` (same format, shape and metadata), atomically.

    Pages are read ahead of the network and written behind it (background threads), so
    memory stays bounded by a few pages whatever the file's length. The output appears
    under its name only when complete; on any error or interruption nothing is left. If
    ``source`` changes while it is read (a writer still at work), the output is discarded
    and FileFormatError raised.

    Parameters
    ----------
    denoiser : a :class:`fluorodn.Denoiser`.
    settings : :class:`FileSettings` (output dtype, .mat key, NaN policy, ...).
    progress : a ``fluorodn._progress.LazyProgress`` to show a bar in, or None.
    label : the bar's text (default: the file name).
    """
    import numpy as np

    from fluorodn import io as fio
    from fluorodn._pipeline import prefetch

    settings = settings or FileSettings()
    source, dest = Path(source), Path(dest)
    t0 = time.perf_counter()
    before = _signature(source)
    fmt = fio.format_of(source)
    key = settings.key if fmt in ("mat", "hdf5") else None
    excitations = settings.excitations if fmt in fio.SPECTRAL_FORMATS else None
    holes: deque[tuple[Any, Any] | None] = deque()
    filled = 0

    def fill(pages: Iterable[Any]) -> Iterator[Any]:
        nonlocal filled
        for k, page in enumerate(pages):
            try:
                page, where = fill_nonfinite(page)
            except FileFormatError as err:
                raise FileFormatError(f"{source}: page index {k}: {err}") from None
            holes.append(where)
            filled += 0 if where is None else len(where[0])
            yield page

    def restore(pages: Iterable[Any]) -> Iterator[Any]:
        for page in pages:
            where = holes.popleft()
            if where is not None:
                page.ravel()[where[0]] = where[1]
            yield page

    def unchanged() -> None:
        if _signature(source) != before:
            raise FileFormatError(
                f"{source} changed while it was read (is it still being written?); its output was discarded: "
                "denoise it again once it is complete"
            )

    with contextlib.closing(fio.open_recording(source, key=key, excitations=excitations)) as rec:
        out_dtype = fio.output_dtype(rec.dtype, settings.dtype)
        n_px = rec.n_pages * rec.page_shape[0] * rec.page_shape[1]
        task = progress.add(label or source.name, n_px, rec.n_pages) if progress is not None else None
        raw: Iterable[Any] = (np.array(p) for p in rec.pages())  # a copy: pages may be views of a read buffer
        if settings.nan == "fill":
            raw = fill(raw)
        read = prefetch(raw)
        advance = None if task is None else (lambda n, t=task: progress.advance(t, n))
        pages: Iterable[Any] = denoiser.stream(read, progress=advance)
        if settings.nan == "fill":
            pages = restore(pages)
        counted = prefetch(_count_frames(fio.cast_pages(pages, out_dtype), progress, task))
        if dest.parent != source.parent:
            make_folder(dest.parent)
        prov = provenance(denoiser, source, out_dtype, getattr(rec, "key", None), settings)
        var = f"{rec.key}{settings.suffix}" if isinstance(rec, fio.MatRecording) else None
        fio.write_denoised(
            rec,
            dest,
            counted,
            dtype=out_dtype,
            provenance=prov,
            overwrite=settings.overwrite,
            var_name=var,
            before_publish=unchanged,
            to=settings.to,
        )
        return FileResult(source, dest, rec.n_pages, n_px, time.perf_counter() - t0, filled, tuple(rec.shape))


def _count_frames(pages: Iterable[Any], progress: Any, task: Any) -> Iterator[Any]:
    for k, page in enumerate(pages, 1):
        if task is not None:
            progress.frames(task, k)
        yield page


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents); OutputError with a sentence if that fails."""
    from fluorodn.errors import OutputError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create the output folder {folder} ({err.strerror or err}); choose another folder with -o"
        ) from err


def provenance(denoiser: Any, source: Path, out_dtype: Any, key: str | None, settings: FileSettings) -> dict[str, Any]:
    """The record written into an output: fluorodn version, model, settings, source name, time."""
    from fluorodn import __version__

    recorded: dict[str, Any] = {
        "device": settings.device,
        "provider": denoiser.provider,
        "precision": getattr(denoiser, "precision", "fp32"),
        "dtype": str(out_dtype),
    }
    if key is not None:
        recorded["key"] = key
    if getattr(denoiser, "declared_kind", "auto") != "auto":
        recorded["kind"] = denoiser.declared_kind
    if settings.nan != "refuse":
        recorded["nan"] = settings.nan
    return {
        "fluorodn": __version__,
        "model": denoiser.name,
        "model_sha256": denoiser.sha256,
        "model_version": denoiser.metadata.get("version"),
        "noise_scale": denoiser.metadata.get("noise_scale"),
        "normalization": denoiser.metadata.get("normalization"),
        "source": source.name,
        "settings": recorded,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
