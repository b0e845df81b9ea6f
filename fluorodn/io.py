"""Recording files: find them, read them page by page, write results atomically.

Formats (by extension): TIFF (``.tif``, ``.tiff``; see :mod:`fluorodn._tiff`), NumPy
``.npy`` (read a window at a time, never memory-mapped), MATLAB ``.mat`` v5 and v7.3 (see :mod:`fluorodn._mat`),
and spectrometer files with their axes: OceanView exports (``.txt``, or a folder of one-spectrum
exports) and HDF5 with Time/Wavelength axes (``.h5``, ``.hdf5``), see :mod:`fluorodn.formats`.

Every reader has ``path``, ``kind``, ``shape`` (as stored), ``dtype``, ``n_pages``,
``page_shape`` (H, W), ``pages()`` yielding (H, W) arrays in the file's dtype, and
``close()``. Data flow one way: a reader yields pages, :meth:`Denoiser.stream` turns
them into float32 pages, :func:`write_denoised` writes them.

Outputs are written to a temporary file in the destination folder, flushed to disk and
given their final name at the end (a hard link, or ``os.replace`` with ``overwrite``); the
temporary file is removed on any error or interruption. An output never replaces its input,
nor an existing file unless asked, not even one another process wrote in the meantime.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from fluorodn._mat import MatRecording
from fluorodn._tiff import TiffRecording, file_pages, read_provenance
from fluorodn.errors import FileFormatError, OutputError, OutputExistsError
from fluorodn.files import check_name_part, glob_files, same_file
from fluorodn.formats import CONVERSIONS, SpectralRecording, is_spectrum_folder
from fluorodn.formats.oceanview import is_export

__all__ = [
    "FORMATS",
    "MatRecording",
    "NpyRecording",
    "Recording",
    "TiffRecording",
    "atomic_output",
    "cast_pages",
    "find_inputs",
    "is_candidate",
    "is_output",
    "open_recording",
    "output_dtype",
    "output_path",
    "plan_outputs",
    "read_provenance",
    "remove_stale_temps",
    "write_denoised",
]

#: File extensions fluorodn reads and writes, and their format.
FORMATS = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".npy": "npy",
    ".mat": "mat",
    ".txt": "oceanview",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
}
#: Formats read by :mod:`fluorodn.formats` (spectrometer files with their axes).
SPECTRAL_FORMATS = ("oceanview", "oceanview folder", "hdf5")
_GLOB_CHARS = set("*?[")


class NpyRecording:
    """A .npy array of 2 or more dimensions; pages are its last two axes.

    The header is parsed without pickle (only numeric dtypes are accepted) and checked
    against the file size; pages are read with plain reads (see :func:`file_pages`), so a
    truncated file, or one that shrinks while it is read, is an error and not a crash.
    """

    kind = "npy"

    def __init__(self, path: Path) -> None:
        self.path = path
        fix = "save the recording with numpy.save as a numeric array"
        try:
            with open(path, "rb") as fh:
                if fh.read(6) != b"\x93NUMPY":
                    raise ValueError("it does not start like a .npy file")
                fh.seek(0)
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"format version {version[0]}.{version[1]} is not one numeric arrays are saved in")
                offset = fh.tell()
                size = os.fstat(fh.fileno()).st_size
        except Exception as err:  # a malformed header raises many types (SyntaxError, KeyError, ...)
            detail = " ".join(str(err).split())[:200] or type(err).__name__
            raise FileFormatError(f"cannot read {path} as a .npy array ({detail}); {fix}") from err
        dtype = np.dtype(dtype)
        shape = tuple(int(n) for n in shape)
        if dtype.kind not in "iuf" or dtype.fields is not None or len(shape) < 2 or 0 in shape:
            raise FileFormatError(
                f"{path} holds {dtype} data of shape {shape}; "
                "fluorodn needs a non-empty array of real numbers with 2 or more dimensions: save such an array "
                "(a numeric array, with numpy.save)"
            )
        need = math.prod(shape) * dtype.itemsize
        if offset + need > size:
            raise FileFormatError(
                f"cannot read {path} as a .npy array (its header declares {need} bytes of data, the file holds "
                f"{max(0, size - offset)}: it is truncated); {fix}"
            )
        self._offset, self._fortran, self._stored = offset, bool(fortran), dtype
        self.shape = shape
        self.dtype = dtype
        self.page_shape = (self.shape[-2], self.shape[-1])
        self.n_pages = math.prod(self.shape[:-2])

    def pages(self) -> Iterator[np.ndarray]:
        """The (H, W) planes over the last two axes, in C order."""
        if not self._fortran:
            yield from file_pages(self.path, self._offset, self._stored, self.page_shape, self.n_pages)
            return
        # Fortran order: a page is scattered over the whole file, which is read at once
        flat = next(file_pages(self.path, self._offset, self._stored, (1, math.prod(self.shape)), 1))
        arr = flat.reshape(self.shape[::-1]).T
        for idx in np.ndindex(self.shape[:-2]):
            yield arr[idx]

    def close(self) -> None:
        """Nothing to release: every read opens and closes the file."""

    def write(self, dest: Path, pages: Iterable[np.ndarray], dtype: np.dtype, provenance: dict[str, Any]) -> None:
        """Write pages into a new .npy of this shape (a .npy file has no room for provenance).

        Pages are appended with plain writes, not through a writable memory map (whose
        written pages would stay in this process's memory), so memory stays flat.
        """
        dtype = np.dtype(dtype)
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": self.shape}
        written = 0
        with open(dest, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            for page in pages:
                fh.write(np.ascontiguousarray(page, dtype=dtype).tobytes())
                written += 1
        if written != self.n_pages:
            raise ValueError(f"expected {self.n_pages} pages for {dest}, got {written}")


Recording = Union[TiffRecording, NpyRecording, MatRecording, SpectralRecording]  # noqa: UP007 (runtime alias on 3.10)


def format_of(path: Path) -> str:
    """``"tiff"``, ``"npy"`` or ``"mat"`` from the extension; FileFormatError otherwise."""
    if path.is_dir() and is_spectrum_folder(path):
        return "oceanview folder"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FileFormatError(
            f"cannot read {path}: fluorodn reads {', '.join(FORMATS)} files, "
            f"not {path.suffix or 'files without extension'}"
        )
    return fmt


def open_recording(path: str | os.PathLike[str], key: str | None = None, excitations: int | None = None) -> Recording:
    """Open a recording file for reading; ``key`` picks the variable of a .mat file or the dataset of an
    HDF5 file; ``excitations`` declares the interleaved excitations of a spectrometer file."""
    path = Path(path)
    fmt = format_of(path)
    if not path.is_file() and fmt != "oceanview folder":
        raise FileFormatError(f"{path} does not exist or is not a file")
    if key is not None and fmt not in ("mat", "hdf5"):
        raise FileFormatError(f"--key only applies to .mat and HDF5 files, not to {path}")
    if excitations is not None and fmt not in SPECTRAL_FORMATS:
        raise FileFormatError(
            f"--excitations applies to spectrometer files (.txt, folders of one-spectrum exports, .h5), not to {path}"
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
    narrower than the pages (float16) are clipped to their largest finite values instead
    of becoming infinite.
    """
    dtype = np.dtype(dtype)
    for page in pages:
        if page.dtype == dtype:
            yield page
        elif dtype.kind in "iu":
            yield _saturate_int(page, dtype)
        elif dtype.kind == "f" and dtype.itemsize < page.dtype.itemsize:
            info = np.finfo(dtype)
            yield np.clip(page, info.min, info.max).astype(dtype)
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


def _stem_ext(path: Path) -> tuple[str, str]:
    name = path.name
    for ext in (".ome.tif", ".ome.tiff"):
        if name.lower().endswith(ext):
            return name[: -len(ext)], name[-len(ext) :]
    return path.stem, path.suffix


def is_output(path: Path, suffix: str) -> bool:
    """Whether ``path`` is named like an output (its stem ends with ``suffix``)."""
    return bool(suffix) and _stem_ext(path)[0].endswith(suffix)


def is_candidate(path: Path, suffix: str = "_denoised") -> bool:
    """Whether folders, globs and ``fluorodn watch`` take the file ``path``: a format fluorodn reads,
    not named like an output, and a ``.txt`` only if it is a spectrometer export (not notes or logs)."""
    if path.suffix.lower() not in FORMATS or is_output(path, suffix):
        return False
    return path.suffix.lower() != ".txt" or is_export(path)


def find_inputs(patterns: Sequence[str], suffix: str = "_denoised") -> list[Path]:
    """Files named by ``patterns``: files, folders (their supported files) and glob patterns.

    Folders and globs skip files whose name already ends with ``suffix`` (earlier
    outputs); files named explicitly are always taken. Order is kept, duplicates dropped.
    """
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_file() or is_spectrum_folder(path):
            format_of(path)
            found.append(path)
            continue
        if path.is_dir():
            candidates = sorted(p for p in path.iterdir() if p.is_file())
            what = f"folder {path}"
        elif _GLOB_CHARS & set(pattern):
            candidates = glob_files(pattern)
            what = f"pattern {pattern!r}"
        else:
            raise FileFormatError(f"input {pattern} does not exist (not a file, folder or matching pattern)")
        chosen = [p for p in candidates if is_candidate(p, suffix)]
        if not chosen:
            raise FileFormatError(
                f"{what} matches no {', '.join(FORMATS)} files to denoise; "
                "give a folder or pattern that holds recordings"
            )
        found.extend(chosen)
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def output_path(source: Path, output: Path | None, suffix: str, several: bool, to: str | None = None) -> Path:
    """Where the result of ``source`` goes.

    ``output`` None: next to the input as ``<stem><suffix><ext>``. ``output`` a folder
    (an existing one, a name without a recording extension, or any name when there are
    ``several`` inputs): that name inside it. Otherwise ``output`` is the file, and must
    have the input's format, or the format ``to`` converts to (npy, tif, h5; its extension
    replaces the input's).
    """
    check_name_part(suffix, "--suffix")
    stem, ext = _stem_ext(source)
    if to is not None:
        ext = CONVERSIONS[to]
    name = f"{stem}{suffix}{ext}"
    if output is None:
        return source.with_name(name)
    if output.is_dir() or several or output.suffix.lower() not in FORMATS:
        if several and output.suffix.lower() in FORMATS and not output.is_dir():
            raise FileFormatError(f"with several inputs, -o must be a folder, not the file name {output}")
        return output / name
    if to is not None and format_of(output) != FORMATS[ext]:
        raise FileFormatError(f"output {output} must have the format --to {to} writes ({ext})")
    if to is None and format_of(output) != format_of(source):
        raise FileFormatError(f"output {output} must have the same format as its input {source} ({ext})")
    return output


#: Name of a temporary output: ``.<final name>.<host tag>-<pid>-<random>.tmp``. The host tag
#: and process id let a later run tell a temporary file whose writer is gone (killed) from
#: one another process is still writing.
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[0-9a-f]{8}\.tmp$")


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def temp_name(dest: Path) -> Path:
    """A new temporary path beside ``dest``, named after it, this host and this process."""
    return dest.with_name(f".{dest.name}.{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (True where that cannot be told)."""
    if pid <= 0:
        return True
    if os.name == "nt":  # os.kill would terminate the process there
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return bool(ctypes.get_last_error() == 5)  # type: ignore[attr-defined]  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary outputs in ``folder`` left by fluorodn processes that are gone.

    Only files named like :func:`temp_name` names them, written on this host by a process
    that no longer runs (e.g. one killed with SIGKILL or by a power cut), are removed; a
    temporary file of a live process, of another host (a shared drive) or of another
    program is left alone. Returns the paths removed.
    """
    removed: list[Path] = []
    host = _host_tag()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or match["host"] != host or _pid_alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def plan_outputs(
    sources: Sequence[Path],
    output: Path | None,
    suffix: str,
    *,
    several: bool,
    keep_tree: bool = False,
    to: str | None = None,
) -> list[tuple[Path, Path]]:
    """(input, output) for each of ``sources``: :func:`output_path` each, or with ``keep_tree``
    the input's folder below the inputs' common folder recreated under the ``output`` folder;
    ``to`` converts (npy, tif, h5)."""
    if to is not None and to not in CONVERSIONS:
        raise FileFormatError(f"--to {to!r} is not a format fluorodn writes; choose one of {', '.join(CONVERSIONS)}")
    if not keep_tree or output is None:
        return [(src, output_path(src, output, suffix, several, to)) for src in sources]
    if output.suffix.lower() in FORMATS and not output.is_dir():
        raise FileFormatError(f"--keep-tree needs -o to be a folder, not the file name {output}")
    parents = [Path(os.path.abspath(src.parent)) for src in sources]
    root = Path(os.path.commonpath(parents)) if parents else Path()
    return [
        (src, output_path(src, output / parent.relative_to(root), suffix, True, to))
        for src, parent in zip(sources, parents, strict=True)
    ]


@contextlib.contextmanager
def atomic_output(
    dest: Path,
    *,
    overwrite: bool = False,
    source: Path | None = None,
    before_publish: Callable[[], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it to ``dest`` if the block succeeds.

    Raises OutputExistsError before any work if ``dest`` is ``source`` or exists (and
    ``overwrite`` is False), OutputError if its folder cannot be written to. On any
    exception, KeyboardInterrupt included, the temporary file is removed and ``dest`` is
    left as it was. ``before_publish`` is called once the temporary file is complete;
    an exception from it discards the file (e.g. the input changed while it was read).
    """
    dest = Path(dest)
    if source is not None and same_file(dest, source):
        raise OutputExistsError(f"output {dest} would overwrite its input; choose another -o or --suffix")
    if dest.is_dir():
        raise OutputExistsError(f"output {dest} is a folder; give a file name")
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest} exists already; pass --overwrite to replace it or --skip-existing")
    tmp = temp_name(dest)
    try:  # create it now: an unwritable folder is reported before any work is done
        with open(tmp, "xb"):
            pass
    except OSError as err:
        raise _write_error(dest, err) from err
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # on disk before it gets its final name
            os.fsync(fh.fileno())
        if before_publish is not None:
            before_publish()
        _publish(tmp, dest, overwrite)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError) and err.errno in _DISK_FULL:
            raise _write_error(dest, err) from err
        raise


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _write_error(dest: Path, err: OSError) -> OutputError:
    why = "the disk is full" if err.errno in _DISK_FULL else (err.strerror or str(err))
    return OutputError(f"cannot write {dest} ({why}); choose a writable output folder with free space (-o)")


def _publish(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Give the finished ``tmp`` the name ``dest``; without ``overwrite``, never replace a file."""
    if overwrite:
        os.replace(tmp, dest)
        return
    appeared = OutputExistsError(f"{dest} appeared while it was written; pass --overwrite to replace it")
    try:
        os.link(tmp, dest)  # fails if dest exists, even if another process created it a moment ago
    except FileExistsError:
        raise appeared from None
    except OSError:  # a file system without hard links: check, then rename
        if dest.exists():
            raise appeared from None
        os.replace(tmp, dest)
        return
    with contextlib.suppress(OSError):
        tmp.unlink()


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
    """``pages`` converted to ``to``: with the axes a spectrometer file carries, else page by page."""
    from fluorodn.formats.convert import write_pages

    if isinstance(recording, SpectralRecording):
        recording.write_as(to, tmp, pages, dtype, provenance)
    else:
        write_pages(to, tmp, pages, (recording.n_pages, *recording.page_shape), dtype, provenance)
