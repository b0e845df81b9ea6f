"""Files from elsewhere: which paths are the same file, names that stay in their folder,
globs that end, what a reader raises on a damaged file (one sentence), the sha256 of bytes,
and a model file probed before it runs on data. The per-file pipeline (:func:`denoise_file`:
read -> denoise -> write, overlapped, with NaN filling) is :mod:`fluorodn._file_pipeline`.

An input must never be replaced by an output, whatever the spelling of either path: the
same string, a symbolic link, a ``..`` detour, or a hard link to the same inode. Two paths
name the same file when :func:`os.path.samefile` says so (same device and inode), or,
where one does not exist yet, when their real paths are equal. A folder (a zarr store)
also overlaps every path inside it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fluorodn._file_pipeline import (
    NAN_POLICIES,
    SPIKE_POLICIES,
    FileResult,
    FileSettings,
    denoise_file,
    despike,
    fill_nonfinite,
    make_folder,
    provenance,
)
from fluorodn.errors import FileFormatError, ModelError, OutputError

__all__ = [
    "NAN_POLICIES",
    "SPIKE_POLICIES",
    "FileResult",
    "FileSettings",
    "check_name_length",
    "check_name_part",
    "denoise_file",
    "despike",
    "fill_nonfinite",
    "glob_files",
    "identity",
    "inside",
    "make_folder",
    "name_bytes",
    "name_max",
    "named",
    "one_line",
    "probe_model",
    "provenance",
    "read_errors",
    "same_file",
    "sha256",
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


def sha256(data: bytes) -> str:
    """The sha256 digest of ``data`` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line, at most 200 characters; its type's name if it has none."""
    return " ".join(str(err).split())[:200] or type(err).__name__


@contextlib.contextmanager
def read_errors(path: str | os.PathLike[str], what: str, fix: str) -> Iterator[None]:
    """Turn what a reader library raises on a damaged or hostile file into one FileFormatError.

    The message is ``cannot read <path> as <what> (<the error>); <fix>``; a FileFormatError
    raised in the block passes unchanged.
    """
    try:
        yield
    except FileFormatError:
        raise
    except Exception as err:  # h5py, numpy and the like raise OSError, KeyError, ValueError, ... on damaged files
        raise FileFormatError(f"cannot read {path} as {what} ({one_line(err)}); {fix}") from err


#: Characters an output name part (a suffix, a variable name) must not hold.
_NOT_IN_NAMES = re.compile(r"[/\\\x00-\x1f\x7f]")


def check_name_part(value: str, what: str) -> str:
    """Refuse a piece of a file name that would lead out of its folder or hold control characters.

    ``what`` names the value in the message: ``"trace name"`` gives ``trace name 'a/b'``, a keyword
    argument ending in ``=`` gives ``suffix='a/b'``."""
    named = f"{what}{value!r}" if what.endswith("=") else f"{what} {value!r}"
    if value in (".", ".."):
        raise FileFormatError(
            f"{named} is not taken as a piece of a file name (alone, it names a folder); use letters, digits, '_', "
            "'-' or '.' with other characters"
        )
    if _NOT_IN_NAMES.search(value) or (os.altsep and os.altsep in value):
        raise FileFormatError(
            f"{named} holds a path separator or a control character; an output name stays in its "
            "folder: use letters, digits, '_', '-' or '.'"
        )
    return value


#: The longest file name most file systems take, in bytes (where the system does not say).
NAME_MAX = 255


def name_bytes(name: str) -> int:
    """The length of the file name ``name`` as the file system counts it: bytes of its encoded
    form (UTF-16 units on Windows, whose limit counts those)."""
    if os.name == "nt":
        return len(name.encode("utf-16-le")) // 2
    return len(os.fsencode(name))


def name_max(folder: str | os.PathLike[str]) -> int:
    """The longest file name, in bytes, allowed in ``folder``, or in the nearest folder above it
    that exists (where a new one would be made); :data:`NAME_MAX` where the system does not say."""
    path = Path(os.path.abspath(folder))
    while not os.path.isdir(path) and path.parent != path:
        path = path.parent
    try:
        limit = os.pathconf(path, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no such setting
        return NAME_MAX
    return limit if isinstance(limit, int) and limit > 0 else NAME_MAX


def named(path: str | os.PathLike[str]) -> Path:
    """``path`` ending in a name an output can be named after: ``.``, ``..`` or a path ending in
    them (the current folder given as an input) is spelled out as the absolute folder it names."""
    path = Path(path)
    return Path(os.path.abspath(path)) if path.name in ("", "..") else path


def check_name_length(path: str | os.PathLike[str], fix: str = "choose a shorter output=...") -> Path:
    """Refuse, with one sentence ending in ``fix``, a ``path`` with a file or folder name longer
    than its file system takes (which the system would refuse with ENAMETOOLONG, for any call on
    it, even asking whether it exists). Returns ``path`` as a Path."""
    path = Path(path)
    parts = path.parts
    for k, name in enumerate(parts):
        length = name_bytes(name)
        if length <= NAME_MAX // 2:  # far below any limit: no system call
            continue
        limit = name_max(Path(*parts[:k]) if k else Path.cwd())
        if length > limit:
            shown = name if len(name) <= 60 else f"{name[:28]}...{name[-20:]}"
            raise OutputError(
                f"the name {shown} is {length} bytes, over the {limit} bytes this file system takes "
                f"for a file name; {fix}"
            )
    return path


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

    A model file from elsewhere must take one float32 input and give one float32 output,
    with finite values: an image model's of the input's shape, a spectral model's the noise of
    its C traces, (N, C, T), for an input of the traces and their levels, (N, 2C, T)
    (:func:`fluorodn.spectral.network_input`). ``Denoiser`` checks the ranks when it loads
    a model; this also runs it, so that a model failing at its first call, giving another
    shape (which tiling could broadcast silently) or NaN is refused before any file is
    read. It runs the Denoiser's own session, i.e. exactly the bytes that will run.
    """
    import numpy as np

    from fluorodn.spectral import network_input

    session, path = denoiser._session, denoiser.path
    fix = "export the model with fluorodn_train, or use a shipped model"
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1 or {inputs[0].type, outputs[0].type} != {"tensor(float)"}:
        found = ", ".join(f"{x.name}: {x.type}" for x in (*inputs, *outputs))
        raise ModelError(f"{path}: expected one float32 input and one float32 output, found {found}; {fix}")
    rng = np.random.default_rng(0)
    if len(inputs[0].shape) == 4:
        probe = rng.standard_normal((1, 1, *_PROBE_IMAGE)).astype(np.float32)
        expected: tuple[int, ...] = probe.shape
    else:  # a spectral model (the Denoiser checked the rank and the 2C input channels)
        traces = int(denoiser.channels)
        if not 1 <= 2 * traces <= _PROBE_CHANNELS_MAX:
            raise ModelError(f"{path}: its input has {2 * traces} channels, more than fluorodn runs; {fix}")
        coef = rng.standard_normal((_PROBE_SAMPLES, traces))
        probe = network_input(coef, rng.uniform(1.0, 20.0, traces), traces)
        expected = (1, traces, _PROBE_SAMPLES)
    try:
        (out,) = session.run([outputs[0].name], {inputs[0].name: probe})
    except Exception as err:  # onnxruntime raises its own types
        text = " ".join(str(err).split())[:200]
        raise ModelError(f"{path} fails on a small probe of shape {probe.shape} ({text}); {fix}") from err
    out = np.asarray(out)
    if out.shape != expected:
        raise ModelError(f"{path} turns a probe of shape {probe.shape} into shape {out.shape}, not {expected}; {fix}")
    if not np.isfinite(out).all():
        raise ModelError(f"{path} gives NaN or infinite values on a small probe; {fix}")
