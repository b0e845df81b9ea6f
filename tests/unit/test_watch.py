"""The Watcher: complete files are handed over once, growing ones only when they stop growing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("watchdog")

from fluorodn.watch import Watcher


def run_watcher(
    watcher: Watcher, seen: list[tuple[Path, int]], gone: list[Path] | None = None
) -> tuple[threading.Thread, threading.Event]:
    """``watcher`` running in a thread, each file it hands over noted in ``seen`` with its size, and
    each it tells ``gone`` in ``gone``."""
    stop = threading.Event()

    def handle(path: Path) -> None:
        seen.append((path, path.stat().st_size))

    told = None if gone is None else gone.append
    thread = threading.Thread(target=watcher.run, args=(handle, stop), kwargs={"gone": told}, daemon=True)
    thread.start()
    return thread, stop


def wait_until(condition: object, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.parametrize("poll", [False, True])
def test_files_are_handed_over_once_complete(tmp_path: Path, poll: bool) -> None:
    (tmp_path / "old.npy").write_bytes(b"x" * 10)
    # pauses of the writer 20x shorter than settle: the test holds on a loaded machine too
    watcher = Watcher(tmp_path, lambda p: p.suffix == ".npy" and not p.name.startswith("."), settle=2.0, poll=poll,
                      poll_interval=0.1)  # fmt: skip
    seen: list[tuple[Path, int]] = []
    thread, stop = run_watcher(watcher, seen)
    try:
        wait_until(lambda: seen)
        assert seen == [(tmp_path / "old.npy", 10)]
        with open(tmp_path / "growing.npy", "wb") as fh:  # pauses shorter than settle
            for _ in range(6):
                fh.write(b"y" * 100)
                fh.flush()
                time.sleep(0.1)
        (tmp_path / ".hidden.npy").write_bytes(b"z")
        (tmp_path / "notes.txt").write_bytes(b"z")
        (tmp_path / "empty.npy").write_bytes(b"")  # never handed over while empty
        wait_until(lambda: len(seen) == 2)
        assert seen[1] == (tmp_path / "growing.npy", 600)
        time.sleep(2.5)
        assert len(seen) == 2 and watcher.waiting == [tmp_path / "empty.npy"]
        with open(tmp_path / "growing.npy", "ab") as fh:  # written to again later: handed over again
            fh.write(b"y" * 50)
        wait_until(lambda: len(seen) == 3)
        assert seen[2] == (tmp_path / "growing.npy", 650)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_writer_that_closes_between_two_parts_is_waited_for(tmp_path: Path) -> None:
    """An acquisition program that closes the file after each part of a recording, with pauses
    shorter than settle: the file is handed over once, whole, not at the first close."""
    watcher = Watcher(tmp_path, lambda p: p.suffix == ".npy", settle=2.0, existing=False)
    seen: list[tuple[Path, int]] = []
    thread, stop = run_watcher(watcher, seen)
    try:
        time.sleep(0.3)  # the observer is up
        for _ in range(3):
            with open(tmp_path / "parts.npy", "ab") as fh:  # opened, written, closed
                fh.write(b"y" * 100)
            time.sleep(0.8)
        wait_until(lambda: seen)
        time.sleep(0.5)
        assert seen == [(tmp_path / "parts.npy", 300)]
    finally:
        stop.set()
        thread.join(timeout=10)


def test_a_renamed_file_is_taken_under_its_new_name(tmp_path: Path) -> None:
    watcher = Watcher(tmp_path, lambda p: p.suffix == ".tif", settle=0.3, existing=False)
    seen: list[tuple[Path, int]] = []
    thread, stop = run_watcher(watcher, seen)
    try:
        time.sleep(0.3)
        (tmp_path / "rec.part").write_bytes(b"a" * 20)
        (tmp_path / "rec.part").rename(tmp_path / "rec.tif")
        wait_until(lambda: seen)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert seen == [(tmp_path / "rec.tif", 20)]


@pytest.mark.parametrize("poll", [False, True])
def test_a_file_deleted_before_it_is_complete_is_told_once(tmp_path: Path, poll: bool) -> None:
    """A file deleted while it is still being written is told to ``gone`` once, and never handed
    over; a file renamed to another accepted name is not told, only handed over under that name."""
    # files there before the observer starts are scanned; settle leaves 4 s to delete and rename them
    watcher = Watcher(tmp_path, lambda p: p.suffix == ".npy", settle=4.0, poll=poll, poll_interval=0.1)
    seen: list[tuple[Path, int]] = []
    gone: list[Path] = []
    (tmp_path / "cut.npy").write_bytes(b"a" * 30)
    (tmp_path / "moved.npy").write_bytes(b"b" * 40)
    thread, stop = run_watcher(watcher, seen, gone)
    try:
        wait_until(lambda: len(list(watcher._pending)) == 2)  # scanned once the observer is up
        (tmp_path / "cut.npy").unlink()
        (tmp_path / "moved.npy").rename(tmp_path / "kept.npy")
        wait_until(lambda: seen)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert gone == [tmp_path / "cut.npy"]
    assert seen == [(tmp_path / "kept.npy", 40)]


def test_arguments_are_checked(tmp_path: Path) -> None:
    from fluorodn.errors import InputError

    with pytest.raises(FileNotFoundError):
        Watcher(tmp_path / "missing", lambda p: True)
    with pytest.raises(ValueError, match="settle"):
        Watcher(tmp_path, lambda p: True, settle=0)
    for value in (float("nan"), float("inf")):  # a file would never be complete
        for name in ("settle", "closed_settle", "tick", "poll_interval"):
            with pytest.raises(InputError, match=f"{name}={value} must be a finite number of seconds"):
                Watcher(tmp_path, lambda p: True, **{name: value})


@pytest.mark.parametrize("poll", [False, True])
def test_a_folder_deleted_is_told_once_and_watched_again_when_back(tmp_path: Path, poll: bool) -> None:
    """The watched folder deleted: ``lost`` once; made again: ``back``, and its files are handed
    over, also after a deletion and re-creation quicker than a look at the folder (which may give
    the new folder the old one's inode)."""
    import shutil

    folder = tmp_path / "incoming"
    folder.mkdir()
    watcher = Watcher(folder, lambda p: p.suffix == ".npy", settle=0.3, poll=poll, poll_interval=0.1)
    seen: list[tuple[Path, int]] = []
    told: list[str] = []
    stop = threading.Event()

    def handle(path: Path) -> None:
        seen.append((path, path.stat().st_size))

    thread = threading.Thread(target=watcher.run, args=(handle, stop), daemon=True,
                              kwargs={"lost": lambda p: told.append(f"lost {p.name}"),
                                      "back": lambda p: told.append(f"back {p.name}")})  # fmt: skip
    thread.start()
    try:
        (folder / "a.npy").write_bytes(b"a" * 10)
        wait_until(lambda: seen)
        shutil.rmtree(folder)
        wait_until(lambda: told)
        time.sleep(1.5)  # looked at again, still gone: told once
        assert told == ["lost incoming"]
        folder.mkdir()
        (folder / "b.npy").write_bytes(b"b" * 20)
        wait_until(lambda: len(seen) == 2)
        assert told == ["lost incoming", "back incoming"]
        shutil.rmtree(folder)
        folder.mkdir()
        time.sleep(0.2)
        (folder / "c.npy").write_bytes(b"c" * 30)
        wait_until(lambda: len(seen) == 3)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert seen == [(folder / "a.npy", 10), (folder / "b.npy", 20), (folder / "c.npy", 30)]
    assert told[:2] == ["lost incoming", "back incoming"] and told[2:] in ([], ["lost incoming", "back incoming"])


def test_a_stuck_observer_does_not_keep_the_run_waiting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import watchdog.observers

    import fluorodn.watch

    release = threading.Event()

    class Stuck:  # an observer whose stop blocks, as a thread stuck in the operating system would make it
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.stopped = False

        def schedule(self, *args: object, **kwargs: object) -> None:
            pass

        def start(self) -> None:
            pass

        def stop(self) -> None:
            release.wait(60)

        def join(self, timeout: float | None = None) -> None:
            pass

    monkeypatch.setattr(watchdog.observers, "Observer", Stuck)
    monkeypatch.setattr(fluorodn.watch, "_STOP_S", 0.3)
    stop = threading.Event()
    stop.set()
    start = time.monotonic()
    try:
        Watcher(tmp_path, lambda p: True).run(lambda p: None, stop)
        assert time.monotonic() - start < 5.0
    finally:
        release.set()
