"""Folder outputs (an OceanView export folder, a zarr store) published all or nothing: whatever step of
the publish an interrupt (Ctrl-C, SIGTERM) or an error stops, the final name holds either the complete
new folder or what it held before (nothing, or the previous output when overwriting), no temporary
folder is left, and the next publish goes ahead without being told the output exists.

Each step is stopped by making the system call behind it raise, exactly there, through
``os.mkdir`` and ``os.rename`` as :mod:`fluorodn._atomic` calls them; "on its return" means the call
did its work and the interrupt was raised after it, as Python raises one on a call's return."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fluorodn import _atomic
from fluorodn import io as fio
from fluorodn._atomic import atomic_folder
from fluorodn.errors import OutputError, OutputExistsError

posix = pytest.mark.skipif(os.name == "nt", reason="the empty folder that claims the name is made on POSIX only")

#: What stops a step: Ctrl-C (SIGTERM raises the same), or the system refusing it.
STOPS: dict[str, Callable[[], BaseException]] = {
    "interrupt": KeyboardInterrupt,
    "other device": lambda: OSError(errno.EXDEV, os.strerror(errno.EXDEV)),
    "no permission": lambda: PermissionError(errno.EACCES, os.strerror(errno.EACCES)),
    "disk full": lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
}
RAISES: dict[str, tuple[type[BaseException], str | None]] = {
    "interrupt": (KeyboardInterrupt, None),
    "other device": (OutputError, os.strerror(errno.EXDEV)),  # the publish's failure is the output's
    "no permission": (OutputError, os.strerror(errno.EACCES)),
    "disk full": (OutputError, "the disk is full"),
}


def names(folder: Path) -> list[str]:
    """What ``folder`` holds, hidden names (temporary folders) included."""
    return sorted(p.name for p in folder.iterdir())


def publish(dest: Path, text: str, *, overwrite: bool = False, meanwhile: Callable[[], None] | None = None) -> None:
    """A folder output ``dest`` holding ``result.txt`` (``text``); ``meanwhile`` runs as it is written."""
    with atomic_folder(dest, overwrite=overwrite) as tmp:
        (tmp / "result.txt").write_text(text)
        if meanwhile is not None:
            meanwhile()


def previous_output(dest: Path) -> None:
    dest.mkdir()
    (dest / "result.txt").write_text("previous")


def contents(dest: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in dest.iterdir()}


def is_temp(src: Any, ext: str) -> bool:
    return Path(src).name.startswith(".") and Path(src).name.endswith(f".{ext}")


def stop_rename(
    monkeypatch: pytest.MonkeyPatch, which: Callable[[Any, Any], bool], stop: BaseException, *, done: bool = False
) -> list[tuple[str, str]]:
    """The rename ``which`` picks out (by its source and target) raises ``stop``: before it renames,
    or on its return (``done``). Returns the renames asked for, in order."""
    real = os.rename
    asked: list[tuple[str, str]] = []

    def rename(src: Any, dst: Any) -> None:
        asked.append((os.fspath(src), os.fspath(dst)))
        if not which(src, dst):
            real(src, dst)
            return
        if done:
            real(src, dst)
        raise stop

    monkeypatch.setattr(_atomic.os, "rename", rename)
    return asked


def into(dest: Path) -> Callable[[Any, Any], bool]:
    """The rename of the finished temporary folder to ``dest``."""
    return lambda src, dst: is_temp(src, "tmp") and Path(dst) == dest


# -- a new output: the empty folder that claims the name ------------------------------------


@posix
@pytest.mark.parametrize("stop", list(STOPS))
def test_a_publish_stopped_at_its_rename_leaves_no_folder_under_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    dest = tmp_path / "out"
    with monkeypatch.context() as m:
        stop_rename(m, into(dest), STOPS[stop]())
        kind, text = RAISES[stop]
        with pytest.raises(kind, match=text):
            publish(dest, "new")
    assert names(tmp_path) == []  # neither the output's name nor a temporary folder
    publish(dest, "again")  # not refused: nothing holds the name
    assert contents(dest) == {"result.txt": "again"}
    assert names(tmp_path) == ["out"]


@posix
def test_an_interrupt_on_the_return_of_mkdir_leaves_no_folder_under_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The empty folder is made, and the interrupt is raised before anything noted it."""
    dest = tmp_path / "out"
    real = os.mkdir

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        real(path, *args, **kwargs)
        if Path(path) == dest:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(_atomic.os, "mkdir", mkdir)
        with pytest.raises(KeyboardInterrupt):
            publish(dest, "new")
    assert names(tmp_path) == []
    publish(dest, "again")
    assert contents(dest) == {"result.txt": "again"}


def test_an_interrupt_on_the_return_of_the_rename_keeps_the_complete_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "out"
    with monkeypatch.context() as m:
        stop_rename(m, into(dest), KeyboardInterrupt(), done=True)
        with pytest.raises(KeyboardInterrupt):
            publish(dest, "new")
    assert names(tmp_path) == ["out"]
    assert contents(dest) == {"result.txt": "new"}
    with pytest.raises(OutputExistsError, match="exists already"):
        publish(dest, "again")


@posix
@pytest.mark.parametrize("stop", ["interrupt", "other device"])
def test_a_folder_another_process_put_under_the_name_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    """Another process renames its own empty folder onto the name (replacing the empty folder that
    claimed it) just before the publish's rename, which then fails or is interrupted: that folder,
    not the one the publish made, is under the name, and stays."""
    dest = tmp_path / "out"
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    inode = theirs.stat().st_ino
    real = os.rename

    def rename(src: Any, dst: Any) -> None:
        if into(dest)(src, dst):
            real(theirs, dest)
            raise STOPS[stop]()
        real(src, dst)

    with monkeypatch.context() as m:
        m.setattr(_atomic.os, "rename", rename)
        with pytest.raises(RAISES[stop][0]):
            publish(dest, "new")
    assert names(tmp_path) == ["out"]
    assert dest.is_dir() and dest.stat().st_ino == inode and names(dest) == []


@posix
def test_a_folder_another_process_wrote_into_is_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process writes into the empty folder that claims the name, and the publish is
    interrupted before its rename: what that process wrote stays."""
    dest = tmp_path / "out"
    real = os.rename

    def rename(src: Any, dst: Any) -> None:
        if into(dest)(src, dst):
            (dest / "theirs.txt").write_text("another program's file")
            raise KeyboardInterrupt
        real(src, dst)

    with monkeypatch.context() as m:
        m.setattr(_atomic.os, "rename", rename)
        with pytest.raises(KeyboardInterrupt):
            publish(dest, "new")
    assert names(tmp_path) == ["out"]
    assert contents(dest) == {"theirs.txt": "another program's file"}


# -- overwrite: the previous output renamed aside, then removed ----------------------------------


@pytest.mark.parametrize("stop", list(STOPS))
def test_an_overwrite_stopped_at_its_rename_keeps_the_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    dest = tmp_path / "out"
    previous_output(dest)
    with monkeypatch.context() as m:
        asked = stop_rename(m, into(dest), STOPS[stop]())
        kind, text = RAISES[stop]
        with pytest.raises(kind, match=text):
            publish(dest, "new", overwrite=True)
    aside = [dst for src, dst in asked if Path(src) == dest]  # renamed aside, then back
    assert len(aside) == 1 and (aside[0], os.fspath(dest)) in asked
    assert names(tmp_path) == ["out"]
    assert contents(dest) == {"result.txt": "previous"}
    publish(dest, "again", overwrite=True)
    assert contents(dest) == {"result.txt": "again"}
    assert names(tmp_path) == ["out"]


def test_an_interrupt_on_the_return_of_the_move_aside_puts_the_previous_output_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "out"
    previous_output(dest)
    with monkeypatch.context() as m:
        stop_rename(m, lambda src, dst: Path(src) == dest and is_temp(dst, "old"), KeyboardInterrupt(), done=True)
        with pytest.raises(KeyboardInterrupt):
            publish(dest, "new", overwrite=True)
    assert names(tmp_path) == ["out"]
    assert contents(dest) == {"result.txt": "previous"}
    publish(dest, "again", overwrite=True)
    assert contents(dest) == {"result.txt": "again"}


def test_an_interrupt_on_the_return_of_the_overwrite_keeps_the_new_output_and_nothing_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "out"
    previous_output(dest)
    with monkeypatch.context() as m:
        stop_rename(m, into(dest), KeyboardInterrupt(), done=True)
        with pytest.raises(KeyboardInterrupt):
            publish(dest, "new", overwrite=True)
    assert names(tmp_path) == ["out"]  # the previous output, renamed aside, is removed
    assert contents(dest) == {"result.txt": "new"}


def test_an_overwrite_whose_previous_output_cannot_be_put_back_says_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename of the new folder fails, and so does the one putting the previous output back:
    that is kept under its temporary name, which the error names, and no later clean-up removes."""
    dest = tmp_path / "out"
    previous_output(dest)
    with monkeypatch.context() as m:
        stop_rename(
            m,
            lambda src, dst: into(dest)(src, dst) or is_temp(src, "old"),
            OSError(errno.EIO, os.strerror(errno.EIO)),
        )
        with pytest.raises(OutputError, match=r"cannot write .*out \(Input/output error\).* kept as .*\.old") as info:
            publish(dest, "new", overwrite=True)
    (kept,) = (p for p in tmp_path.iterdir() if is_temp(p, "old"))
    assert str(kept) in str(info.value)
    assert names(tmp_path) == [kept.name]
    assert contents(kept) == {"result.txt": "previous"}
    assert fio.remove_stale_temps(tmp_path) == []  # the only copy of the previous output


def test_a_previous_output_that_another_process_kept_from_its_name_is_kept_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename of the new folder fails, and the previous output cannot go back under its name
    (another process took it): it is renamed to a ``.previous-`` name that the error names and that
    no clean-up removes, even once the final name exists (an ``.old`` folder would then be taken for
    a leftover of a writer that is gone)."""
    dest = tmp_path / "out"
    previous_output(dest)

    def taken(src: Any, dst: Any) -> bool:
        if is_temp(src, "old") and Path(dst) == dest:  # another process's folder holds the name by now
            dest.mkdir()
            (dest / "theirs.txt").write_text("other")
            return True
        return into(dest)(src, dst)

    with monkeypatch.context() as m:
        stop_rename(m, taken, OSError(errno.EIO, os.strerror(errno.EIO)))
        with pytest.raises(OutputError, match=r"kept as .*out\.previous-[0-9a-f]{8}; rename it to out") as info:
            publish(dest, "new", overwrite=True)
    (kept,) = tmp_path.glob("out.previous-*")
    assert str(kept) in str(info.value) and contents(kept) == {"result.txt": "previous"}
    assert contents(dest) == {"theirs.txt": "other"}
    assert fio.remove_stale_temps(tmp_path) == [] and kept.exists()


def test_a_previous_output_kept_for_good_fits_its_file_system_s_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A destination named as long as the file system allows: the name the previous output is kept
    under is shortened to fit, not left under its ``.old`` name."""
    dest = tmp_path / ("o" * (_atomic.name_max(tmp_path) - 4))
    previous_output(dest)

    def taken(src: Any, dst: Any) -> bool:
        if is_temp(src, "old") and Path(dst) == dest:
            dest.mkdir()
            return True
        return into(dest)(src, dst)

    with monkeypatch.context() as m:
        stop_rename(m, taken, OSError(errno.EIO, os.strerror(errno.EIO)))
        with pytest.raises(OutputError, match=r"\.previous-[0-9a-f]{8}; rename it"):
            publish(dest, "new", overwrite=True)
    (kept,) = tmp_path.glob("*.previous-*")
    assert contents(kept) == {"result.txt": "previous"} and not list(tmp_path.glob(".*"))
