"""NumPy ``.npy`` recordings: read a window at a time (never memory-mapped), written page by page."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn._tiff import file_pages
from fluorodn.errors import FileFormatError
from fluorodn.files import read_errors

__all__ = ["NpyRecording", "write_npy"]


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
        with read_errors(path, "a .npy array", fix), open(path, "rb") as fh:  # a malformed header raises many types
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
                f"{max(0, size - offset)}: it is truncated, or still being written); wait until its writer has "
                f"finished, or {fix}"
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
        """Write pages into a new .npy of this shape (a .npy file has no room for provenance)."""
        write_npy(dest, pages, dtype, self.shape, self.n_pages)


def write_npy(
    dest: Path,
    pages: Iterable[np.ndarray],
    dtype: np.dtype,
    shape: tuple[int, ...],
    n_pages: int,
    version: tuple[int, int] = (1, 0),
) -> None:
    """Write ``n_pages`` (H, W) ``pages`` into a new C-order .npy file ``dest`` of ``shape`` and ``dtype``.

    Pages are appended with plain writes, not through a writable memory map (whose
    written pages would stay in this process's memory), so memory stays flat. ``version``
    is the .npy format version of the header, (1, 0) or (2, 0). ValueError if ``pages``
    holds another number of pages.
    """
    dtype = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    write_header = np.lib.format.write_array_header_2_0 if version == (2, 0) else np.lib.format.write_array_header_1_0
    written = 0
    with open(dest, "wb") as fh:
        write_header(fh, header)
        for page in pages:
            fh.write(np.ascontiguousarray(page, dtype=dtype).tobytes())
            written += 1
    if written != n_pages:
        raise ValueError(f"expected {n_pages} pages for {dest}, got {written}")
