"""Atomic outputs: a full disk named as such, folders that never replace what took their name, temporary
files and folders a killed writer left, and names that fit the file system."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fluorodn import _atomic
from fluorodn import io as fio
from fluorodn._atomic import atomic_folder
from fluorodn.errors import OutputError, OutputExistsError
from fluorodn.files import name_max


@pytest.mark.parametrize(
    "err",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError("456000 requested and 261872 written"),  # numpy's tofile on a full disk: no errno
    ],
)
def test_a_full_disk_is_named_and_nothing_is_left(tmp_path: Path, err: OSError) -> None:
    def write() -> None:
        with fio.atomic_output(tmp_path / "out.tif") as tmp:
            tmp.write_bytes(b"part")
            raise err

    with pytest.raises(OutputError, match=r"cannot write .*out\.tif \(the disk is full\)"):
        write()
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_keep_their_own_text(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="something else"), fio.atomic_output(tmp_path / "out.tif"):
        raise OSError("something else")
    assert list(tmp_path.iterdir()) == []


# -- folders ---------------------------------------------------------------------------


def _taken_by_a_folder(dest: Path) -> None:
    dest.mkdir()
    (dest / "precious.txt").write_text("another program's file")


def _taken_by_an_empty_folder(dest: Path) -> None:
    dest.mkdir()


def _taken_by_a_file(dest: Path) -> None:
    dest.write_text("another program's file")


@pytest.mark.parametrize("take", [_taken_by_a_folder, _taken_by_an_empty_folder, _taken_by_a_file])
def test_a_folder_output_never_replaces_what_took_its_name_meanwhile(tmp_path: Path, take: Any) -> None:
    """Without overwrite, whatever holds the name when the folder is published stays as it was."""
    dest = tmp_path / "out"

    def write() -> None:
        with atomic_folder(dest, overwrite=False) as tmp:
            (tmp / "result.txt").write_text("denoised")
            take(dest)  # another process, between the check at the start and the publish

    with pytest.raises(OutputExistsError, match=r"out appeared while it was written; pass overwrite=True"):
        write()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the temporary folder removed
    if dest.is_dir():
        assert not (dest / "result.txt").exists()
        assert [p.name for p in dest.iterdir()] == (["precious.txt"] if take is _taken_by_a_folder else [])
    else:
        assert dest.read_text() == "another program's file"


def test_overwrite_replaces_a_folder_and_leaves_nothing_aside(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    _taken_by_a_folder(dest)
    with atomic_folder(dest, overwrite=True) as tmp:
        (tmp / "result.txt").write_text("denoised")
    assert [p.name for p in dest.iterdir()] == ["result.txt"]
    with atomic_folder(dest, overwrite=True) as tmp:  # a name taken by a file while it is written
        (tmp / "result.txt").write_text("again")
        shutil.rmtree(dest)
        _taken_by_a_file(dest)
    assert (dest / "result.txt").read_text() == "again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_overwrite_that_fails_puts_the_previous_folder_back(tmp_path: Path, monkeypatch: Any) -> None:
    dest = tmp_path / "out"
    _taken_by_a_folder(dest)
    real_rename = os.rename

    def rename(src: Any, dst: Any) -> None:
        if Path(src).name.endswith(".tmp"):
            raise OSError(errno.EIO, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(_atomic.os, "rename", rename)
    with pytest.raises(OSError, match="Input/output"), atomic_folder(dest, overwrite=True) as tmp:
        (tmp / "result.txt").write_text("denoised")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in dest.iterdir()] == ["precious.txt"]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_killed_writer_s_temporary_folder_is_removed(tmp_path: Path) -> None:
    """A folder output's temporary folder is named like a temporary file, so the next run on its
    folder removes it once its writer is gone; a live writer's is kept, and so is a folder an
    overwrite moved aside while its final name does not exist (it holds the only copy)."""
    dest = tmp_path / "big_denoised"
    with atomic_folder(dest, overwrite=False) as tmp:
        assert _atomic._TEMP_NAME.match(tmp.name)["pid"] == str(os.getpid())  # type: ignore[index]
        (tmp / "a.txt").write_text("1")
        assert fio.remove_stale_temps(tmp_path) == []  # its writer (this process) is alive
    dead = _dead_pid()

    def stale(ext: str) -> Path:
        name = fio.temp_name(dest, ext).name.replace(f"-{os.getpid()}-", f"-{dead}-")
        (tmp_path / name).mkdir()
        (tmp_path / name / "spectrum.txt").write_text("x")
        return tmp_path / name

    left = [stale("tmp"), stale("old")]  # big_denoised exists: what was moved aside is garbage
    assert sorted(fio.remove_stale_temps(tmp_path)) == sorted(left)
    shutil.rmtree(dest)
    kept = stale("old")  # killed between moving big_denoised aside and renaming the new one
    assert fio.remove_stale_temps(tmp_path) == [] and (kept / "spectrum.txt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]


def test_a_shortened_moved_aside_folder_is_removed_once_its_output_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder moved aside under a shortened name (its output's name near the file system's limit)
    is found to belong to its output, which exists again, and is removed like any other."""
    dest = tmp_path / ("d" * 250)
    dest.mkdir()
    dead = _dead_pid()
    with monkeypatch.context() as m:  # named as that writer named it, shortened for its pid's length
        m.setattr(_atomic.os, "getpid", lambda: dead)
        name = fio.temp_name(dest, "old").name
    assert f"-{dead}-" in name and not name.startswith("." + dest.name)  # shortened to fit
    assert len(os.fsencode(name)) <= name_max(tmp_path)
    (tmp_path / name).mkdir()
    assert fio.remove_stale_temps(tmp_path) == [tmp_path / name]


# -- names the file system takes --------------------------------------------------------


def test_temporary_names_fit_where_the_output_name_fits(tmp_path: Path) -> None:
    limit = name_max(tmp_path)
    for name in ("r" * (limit - 4) + ".tif", "é" * ((limit - 4) // 2) + ".tif"):  # one and two bytes a letter
        dest = tmp_path / name
        for ext in ("tmp", "old"):
            assert len(os.fsencode(fio.temp_name(dest, ext).name)) <= limit
        with fio.atomic_output(dest) as tmp:
            tmp.write_bytes(b"data")
        assert dest.read_bytes() == b"data"
        with atomic_folder(tmp_path / name[:-4], overwrite=False) as folder:
            (folder / "a.txt").write_text("1")
        assert (tmp_path / name[:-4] / "a.txt").is_file()
    assert len(list(tmp_path.iterdir())) == 4  # two files, two folders, and no temporary left


def test_a_name_too_long_is_one_sentence(tmp_path: Path) -> None:
    limit = name_max(tmp_path)
    dest = tmp_path / ("z" * (limit + 5) + ".html")
    sentence = rf"is {limit + 10} bytes, over the {limit} bytes .*; choose a shorter"
    with pytest.raises(OutputError, match=sentence), fio.atomic_output(dest):
        pass
    with pytest.raises(OutputError, match="bytes, over the"), atomic_folder(tmp_path / ("z" * 300), overwrite=False):
        pass
    assert list(tmp_path.iterdir()) == []
