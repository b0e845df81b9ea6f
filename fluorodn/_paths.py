"""Which files: formats by extension, inputs found by name, folder or glob, outputs named.

Inputs come from files, folders (their supported files) and glob patterns; outputs go next
to their input as ``<stem><suffix><ext>``, into a folder (``output``, optionally recreating the
inputs' folder tree), or to a file name of the same format (or the format ``to`` converts to).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fluorodn.errors import FileFormatError, OutputError
from fluorodn.files import check_name_length, check_name_part, glob_files, named
from fluorodn.formats import CONVERSIONS, is_spectrum_folder
from fluorodn.formats.convert import check_target
from fluorodn.formats.oceanview import is_export

__all__ = [
    "FORMATS",
    "SPECTRAL_FORMATS",
    "check_output_format",
    "find_inputs",
    "format_of",
    "is_candidate",
    "is_output",
    "output_path",
    "plan_outputs",
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


def format_of(path: Path) -> str:
    """``"tiff"``, ``"npy"`` or ``"mat"`` from the extension; FileFormatError otherwise."""
    if path.is_dir() and is_spectrum_folder(path):
        return "oceanview folder"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None and path.is_dir():
        raise FileFormatError(f"cannot read {path}: it is a folder, and not one of one-spectrum OceanView exports")
    if fmt is None:
        table = path.suffix.lower() in (".csv", ".tsv")
        raise FileFormatError(
            f"cannot read {path}: fluorodn reads {', '.join(FORMATS)} files, "
            f"not {path.suffix or 'files without extension'}"
            + ("; load a table of numbers with numpy.loadtxt and save it as .npy with numpy.save" if table else "")
        )
    return fmt


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
    outputs); files named explicitly are always taken. Order is kept, duplicates dropped (a file
    listed both under its own name and as a symbolic link to it, in a folder, keeps its own name).
    """
    found: list[Path] = []
    for pattern in patterns:
        if not str(pattern).strip():  # Path("") is the current folder: never what an empty name meant
            raise FileFormatError(
                "an input is an empty name (an unset variable in a script?); give a file, folder or pattern"
            )
        path = Path(pattern)
        if not _GLOB_CHARS & set(pattern):
            try:  # a name no file system holds: asking whether it exists would fail
                check_name_length(path, "no input can have that name, so check the path")
            except OutputError as err:
                raise FileFormatError(str(err)) from None
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
                f"give a folder or pattern that holds recordings{_subfolder_hint(path) if path.is_dir() else ''}"
            )
        found.extend(chosen)
    unique: dict[Path, Path] = {}
    for p in found:
        kept = unique.get(real := p.resolve())
        # a file reached under its own name and through a link (a folder's "latest" link to it) is
        # one input, at its first place, under its own name: its output is named after it
        if kept is None or (kept.is_symlink() and not p.is_symlink()):
            unique[real] = p
    return list(unique.values())


def _subfolder_hint(folder: Path) -> str:
    """For a folder that holds no recordings itself: how many subfolders it has (a folder is not
    searched into them), and the pattern that looks into them; empty if it has none."""
    try:
        subfolders = [e for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return ""
    if not subfolders:
        return ""
    n = len(subfolders)
    return (
        f" (it has {n} subfolder{'s' if n != 1 else ''}, which a folder input does not search; "
        f"pass '{folder / '**' / '*'}' to look into them)"
    )


#: What an output name too long for its file system can be made shorter with.
_SHORTER = "choose a shorter suffix=... or output=..."


def output_path(
    source: Path, output: Path | None, suffix: str, several: bool, to: str | None = None, folder: bool = False
) -> Path:
    """Where the result of ``source`` goes.

    ``output`` None: next to the input as ``<stem><suffix><ext>``. ``output`` a folder
    (an existing one, a name without a recording extension, one declared a ``folder``, e.g. written
    with a trailing /, or any name when there are ``several`` inputs): that name inside it.
    Otherwise ``output`` is the file, and must have the input's format, or the format ``to``
    converts to (npy, tif, h5; its extension replaces the input's). OutputError where a name of
    the output is longer than its file system takes.
    """
    if output is not None:
        check_name_length(output, _SHORTER)
    dest = _output_path(source, output, suffix, several, to, folder)
    try:
        return check_name_length(dest, _SHORTER)
    except OutputError as err:
        raise OutputError(f"{source}: {err}") from None


def check_output_format(source: Path, dest: Path, to: str | None = None) -> None:
    """Refuse (FileFormatError) an output name ``dest`` whose extension says another format than
    the one written: ``source``'s, or the one ``to`` converts to (npy, tif, h5). A folder of
    one-spectrum exports is written as a folder, under a name without a recording extension
    (or with the folder's own)."""
    fmt = FORMATS.get(dest.suffix.lower())
    if to is not None:
        check_target(to)
        ext = CONVERSIONS[to]
        if fmt != FORMATS[ext]:
            raise FileFormatError(f"output {dest} must have the format to={to!r} writes ({ext})")
        return
    src_fmt = format_of(source)
    if src_fmt == "oceanview folder":
        if fmt is not None and dest.suffix.lower() != source.suffix.lower():
            raise FileFormatError(
                f"output {dest} must be a folder like its input {source} (a folder of one-spectrum exports), "
                f"named without the {dest.suffix} extension"
            )
        return
    if fmt != src_fmt:
        # a format a conversion writes: named, so that the name can stand
        into = next((k for k, ext in CONVERSIONS.items() if fmt is not None and FORMATS[ext] == fmt), None)
        convert = f", or convert it: to='{into}'" if into is not None else ""
        raise FileFormatError(
            f"output {dest} must have the same format as its input {source} ({_stem_ext(source)[1]}){convert}"
        )


#: Extensions of files a denoising never writes (images, tables, documents): an output named with
#: one is a mistake, not a folder, unless a folder of that name exists or the name ends in /.
_NOT_WRITTEN = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".bmp",
        ".svg",
        ".pdf",
        ".csv",
        ".tsv",
        ".xls",
        ".xlsx",
        ".json",
        ".html",
        ".htm",
        ".parquet",
        ".nwb",
        ".zip",
        ".gz",
        ".py",
    }
)


def _output_path(source: Path, output: Path | None, suffix: str, several: bool, to: str | None,
                 folder: bool) -> Path:  # fmt: skip
    check_name_part(suffix, "suffix=")
    source = named(source)  # "." given: the output is named after the folder, beside it
    stem, ext = _stem_ext(source)
    if to is not None:
        ext = CONVERSIONS[to]
    name = f"{stem}{suffix}{ext}"
    if output is None:
        return source.with_name(name)
    if folder:
        return output / name
    if output.suffix.lower() in _NOT_WRITTEN and not output.is_dir():
        want = f"a name ending in {ext}" if ext else "a folder's name, as its input is a folder of exports,"
        raise FileFormatError(
            f"output {output} names a {output.suffix} file, which denoising does not write; give {want} or a folder "
            "(end it with /)"
        )
    if output.is_dir() or several or output.suffix.lower() not in FORMATS:
        if several and output.suffix.lower() in FORMATS and not output.is_dir():
            raise FileFormatError(f"with several inputs, output=... must be a folder, not the file name {output}")
        return output / name
    check_output_format(source, output, to)
    return output


def plan_outputs(
    sources: Sequence[Path],
    output: Path | None,
    suffix: str,
    *,
    several: bool,
    keep_tree: bool = False,
    to: str | None = None,
    folder: bool = False,
) -> list[tuple[Path, Path]]:
    """(input, output) for each of ``sources``: :func:`output_path` each, or with ``keep_tree``
    the input's folder below the inputs' common folder recreated under the ``output`` folder;
    ``to`` converts (npy, tif, h5); ``folder``: ``output`` is a folder whatever its name."""
    if to is not None:
        check_target(to)
    if not keep_tree or output is None:
        return [(src, output_path(src, output, suffix, several, to, folder)) for src in sources]
    check_name_length(output, _SHORTER)
    if output.suffix.lower() in FORMATS and not output.is_dir() and not folder:
        raise FileFormatError(f"keep_tree=True needs output=... to be a folder, not the file name {output}")
    parents = [Path(os.path.abspath(src.parent)) for src in sources]
    root = Path(os.path.commonpath(parents)) if parents else Path()
    return [
        (src, output_path(src, output / parent.relative_to(root), suffix, True, to, folder=True))
        for src, parent in zip(sources, parents, strict=True)
    ]
