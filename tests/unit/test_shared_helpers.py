"""The helpers the readers and writers share: sha256, reader errors, atomic folders, .npy page writing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from fluorodn._atomic import atomic_folder
from fluorodn._npy import NpyRecording, write_npy
from fluorodn.errors import FileFormatError, OutputExistsError
from fluorodn.files import read_errors, sha256


def test_sha256_is_the_hex_digest() -> None:
    assert sha256(b"fluorodn") == hashlib.sha256(b"fluorodn").hexdigest()


def test_read_errors_one_sentence_and_passthrough(tmp_path: Path) -> None:
    one = r"^cannot read x\.h5 as an HDF5 file \(bad block\); fix it$"
    with pytest.raises(FileFormatError, match=one), read_errors("x.h5", "an HDF5 file", "fix it"):
        raise ValueError("bad\n  block")
    with pytest.raises(FileFormatError, match=r"\(OSError\)"), read_errors("x.h5", "an HDF5 file", "fix it"):
        raise OSError()  # no message: the type's name
    mine = FileFormatError("already one sentence")
    with pytest.raises(FileFormatError) as info, read_errors("x.h5", "an HDF5 file", "fix it"):
        raise mine
    assert info.value is mine


def test_atomic_folder_without_source(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with atomic_folder(dest, overwrite=False) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not dest.exists()
    assert (dest / "a.txt").read_text() == "1"
    with pytest.raises(OutputExistsError), atomic_folder(dest, overwrite=False):
        pass

    def interrupted(folder: Path) -> None:
        (folder / "b.txt").write_text("2")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError), atomic_folder(dest, overwrite=True) as tmp:
        interrupted(tmp)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt"]


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_write_npy_pages(tmp_path: Path, version: tuple[int, int]) -> None:
    pages = [np.full((3, 4), k, dtype=np.float32) for k in range(5)]
    dest = tmp_path / "a.npy"
    write_npy(dest, pages, np.dtype(np.int16), (5, 3, 4), 5, version=version)
    with open(dest, "rb") as fh:
        assert np.lib.format.read_magic(fh) == version
    np.testing.assert_array_equal(np.load(dest), np.stack(pages).astype(np.int16))
    rec = NpyRecording(dest)
    assert [int(p[0, 0]) for p in rec.pages()] == list(range(5))
    with pytest.raises(ValueError, match="expected 6 pages"):
        write_npy(tmp_path / "b.npy", pages, np.dtype(np.float32), (6, 3, 4), 6)
