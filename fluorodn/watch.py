"""Watch a folder and hand over each recording once it is complete.

An acquisition program writes a recording over seconds to hours; reading it half-done
would give a truncated or silently shorter output. :class:`Watcher` learns of new and
changed files from the operating system through ``watchdog`` (inotify, FSEvents,
ReadDirectoryChangesW; or polling, for network drives that send no notifications) and
calls ``handle(path)`` for a file only once it is complete:

* its size and modification time have not changed for ``settle`` seconds (or, where the caller
  asks for it, ``closed_settle`` seconds after its writer closed it, which Linux reports: an
  acquisition program that closes the file between two parts of a recording would then have it
  read half-written, so by default a close shortens nothing);

and it is not empty. A file handled once is handed over again only if it changes later
(a writer that appends after a long pause), or where ``handle`` returns :class:`Retry` (a
reason that passes kept it from being handled: the output's disk full): it then stays pending
and is handed over again later. Files are handled one at a time, in the
thread that called :meth:`Watcher.run`; Ctrl-C (KeyboardInterrupt) stops the run after
stopping the observer. State is one entry per file of the folder, so memory stays flat
however long the watch runs.

The folder itself is looked at every :data:`_FOLLOW_S` seconds: where it is gone (deleted,
renamed, a share unmounted), the run says so once and waits; where a folder of that name is
there again (the same one remounted, or a new one), it is watched again and its files are
taken as if they had just appeared (those handed over before and unchanged since excepted).

Needs the ``watch`` extra (``pip install 'fluorodn[watch]'``).
"""

from __future__ import annotations

import errno
import math
import os
import queue
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluorodn.errors import InputError

__all__ = ["Retry", "Watcher"]

#: watchdog event types that mean a file's content or name changed (not "opened" or
#: "closed_no_write", which reading a file causes, fluorodn's own reads included).
_CHANGES = {"created", "modified", "moved", "closed"}
#: Seconds between forgetting files that disappeared without an event (missed events).
_PRUNE_S = 600.0
#: Seconds the run waits for the observer to stop before it returns without it.
_STOP_S = 5.0
#: Seconds between two looks at whether the watched folder is still there (and the same folder).
_FOLLOW_S = 1.0
#: Seconds between two calls of a :class:`Retry`'s ``sooner`` for one file.
_SOONER_S = 1.0


def _stop(observer: Any) -> None:
    """Stop ``observer``, waiting at most :data:`_STOP_S` seconds. watchdog's ``stop`` joins its
    emitter threads without a time limit, and one blocked in the operating system would keep the
    run (and Ctrl-C) waiting for ever; its threads are daemons, so the process exits without them."""
    stopper = threading.Thread(target=observer.stop, name="fluorodn-watch-stop", daemon=True)
    stopper.start()
    stopper.join(_STOP_S)
    if not stopper.is_alive():
        observer.join(timeout=_STOP_S)


@dataclass(frozen=True)
class Retry:
    """What ``handle`` returns for a file it could not handle for a reason that passes (the disk
    of its output full): the file stays pending and is handed over again once it is complete and
    ``after`` seconds have passed, or before that, at a look where ``sooner()`` is true (asked at
    most once every :data:`_SOONER_S` seconds, in the thread of the run; it should be quick)."""

    after: float
    sooner: Callable[[], bool] | None = None


@dataclass
class _Pending:
    signature: tuple[int, int]
    since: float
    closed: bool = False
    #: (a file to retry) not handed over before this time, unless ``sooner()`` says so
    not_before: float = 0.0
    sooner: Callable[[], bool] | None = None
    next_look: float = 0.0


def _signature(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def missing(path: Path) -> bool:
    """Whether nothing is at ``path``; False where that cannot be told now (a network share out of
    reach), so a file is not taken for deleted while its share reconnects (``Path.exists`` raises
    there)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError as err:  # a link loop is nothing to denoise, as for Path.exists
        return err.errno == errno.ELOOP
    return False


def _folder_identity(folder: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of ``folder``, or None where no folder is there (gone, or now a file)."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


class Watcher:
    """Hand over each complete file of ``folder`` that ``accept`` takes, once.

    Parameters
    ----------
    folder : the folder to watch (it must exist).
    accept : whether a path is one to handle (its format, name pattern, not an output).
    settle : seconds a file's size and modification time must stay unchanged.
    closed_settle : seconds after the writer closed the file (where the OS reports it) after which
        it counts as complete; None (default): ``settle``, as for any file.
    recursive : watch the subfolders too.
    poll : poll the folder (every ``poll_interval`` seconds) instead of OS notifications.
    existing : also hand over the files already in the folder when the watch starts.

    Raises FileNotFoundError if ``folder`` is not a folder, InputError (a ValueError) if a
    number of seconds is not finite and positive.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        accept: Callable[[Path], bool],
        *,
        settle: float = 2.0,
        closed_settle: float | None = None,
        recursive: bool = False,
        poll: bool = False,
        poll_interval: float = 1.0,
        existing: bool = True,
        tick: float = 0.1,
    ) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder} is not a folder")
        closed_settle = settle if closed_settle is None else closed_settle
        seconds = {"settle": settle, "tick": tick, "poll_interval": poll_interval}
        for name, value in seconds.items():
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name}={value} must be a finite number of seconds above 0")
        if not (math.isfinite(closed_settle) and closed_settle >= 0):
            raise InputError(f"closed_settle={closed_settle} must be a finite number of seconds, 0 or more")
        self.accept = accept
        self.settle, self.closed_settle = float(settle), float(min(closed_settle, settle))
        self.recursive, self.poll, self.poll_interval = recursive, poll, poll_interval
        self.existing, self.tick = existing, tick
        self._pending: dict[Path, _Pending] = {}
        self._handled: dict[Path, tuple[int, int]] = {}
        self._events: queue.SimpleQueue[tuple[str, Path]] = queue.SimpleQueue()
        self._gone: Callable[[Path], Any] | None = None
        self._forward: Any = None  # the watchdog event handler that feeds ``_events``
        self._stale = False  # the observer told of the watched folder's own deletion or move

    @property
    def waiting(self) -> list[Path]:
        """Files seen but not complete yet."""
        return sorted(self._pending)

    def run(
        self,
        handle: Callable[[Path], Any],
        stop: threading.Event | None = None,
        gone: Callable[[Path], Any] | None = None,
        lost: Callable[[Path], Any] | None = None,
        back: Callable[[Path], Any] | None = None,
    ) -> None:
        """Call ``handle(path)`` for each complete file until ``stop`` is set (or Ctrl-C), and
        ``gone(path)`` for a file seen while it was written that was deleted before it was complete
        (not for one renamed: its new name, if accepted, is handed over in its turn).

        ``lost(folder)`` is called once when the watched folder is gone (deleted, renamed,
        unmounted); the run then waits for it, and calls ``back(folder)`` once a folder of that
        name is there again and watched again. A folder replaced by another between two looks is
        told as both: ``lost``, then ``back``.

        ``handle`` should catch its own per-file errors; an exception it raises ends the run. Where
        it returns a :class:`Retry`, the file stays pending and is handed over again later (once
        more if it changes meanwhile); ``gone`` is called too where it is deleted meanwhile.
        """
        self._gone = gone
        from watchdog.events import FileSystemEvent, FileSystemEventHandler

        events, top = self._events, os.path.abspath(self.folder)

        class Forward(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.is_directory and event.event_type in ("deleted", "moved"):
                    if os.path.abspath(os.fsdecode(event.src_path)) == top:  # (a new folder may reuse its inode)
                        events.put(("folder gone", Path(top)))
                    return
                if event.is_directory or event.event_type not in (*_CHANGES, "deleted"):
                    return
                path = event.dest_path if event.event_type == "moved" else event.src_path
                events.put((event.event_type, Path(os.fsdecode(path))))
                if event.event_type == "moved":  # the old name is gone, the file lives on
                    events.put(("moved away", Path(os.fsdecode(event.src_path))))

        self._forward = Forward()
        identity = _folder_identity(self.folder)
        observer: Any = self._observe()
        stop = stop or threading.Event()
        try:
            if self.existing:  # after the observer starts, so that no file falls in between
                for path in self._scan():
                    self._see(path, time.monotonic())
            last_prune = last_look = time.monotonic()
            while not stop.is_set():
                self._drain()
                now = time.monotonic()
                if self._stale or now - last_look >= _FOLLOW_S:
                    last_look = now
                    observer, identity = self._follow(observer, identity, lost, back)
                for path in self._ready(now):
                    self._hand_over(path, handle)
                    if stop.is_set():
                        break
                if observer is not None and now - last_prune > _PRUNE_S:  # (a folder gone keeps what it held)
                    self._prune()
                    last_prune = now
        finally:
            if observer is not None:
                _stop(observer)

    # -- internals --------------------------------------------------------------------

    def _observe(self) -> Any:
        """A started watchdog observer of the folder, feeding ``_events``."""
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        observer: Any = PollingObserver(timeout=self.poll_interval) if self.poll else Observer()
        observer.schedule(self._forward, str(self.folder), recursive=self.recursive)
        observer.start()
        return observer

    def _follow(
        self,
        observer: Any,
        identity: tuple[int, int] | None,
        lost: Callable[[Path], Any] | None,
        back: Callable[[Path], Any] | None,
    ) -> tuple[Any, tuple[int, int] | None]:
        """Look whether the watched folder is still the one observed: where it is gone, stop
        observing it and call ``lost``; where a folder of its name is there again (or another
        replaced it), observe that one, take its files as new and call ``back``. Returns the
        observer (None while the folder is gone) and the identity of the folder it observes."""
        now = _folder_identity(self.folder)
        stale, self._stale = self._stale, False
        if now == identity and not stale:
            return observer, identity
        if identity is not None:  # gone, or replaced: what was seen of the old folder goes with it
            if observer is not None:
                _stop(observer)
            observer = None
            self._drain(wait=False)
            self._stale = False  # (the stopped observer's own word of it)
            self._pending.clear()
            if lost is not None:
                lost(self.folder)
        if now is None:
            return None, None
        try:
            observer = self._observe()
        except OSError:  # gone again at once: looked at in the next round
            return None, None
        for path in self._scan():
            self._see(path, time.monotonic())
        if back is not None:
            back(self.folder)
        return observer, now

    def _scan(self) -> list[Path]:
        found: list[Path] = []
        folders = [self.folder]
        while folders:
            folder = folders.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                path = Path(entry.path)
                try:
                    if entry.is_file():
                        found.append(path)
                    elif self.recursive and entry.is_dir(follow_symlinks=False):
                        folders.append(path)
                except OSError:
                    continue
        return found

    def _see(self, path: Path, now: float, closed: bool = False) -> None:
        """Note a file that may have changed."""
        if not self.accept(path):
            return
        try:
            sig = _signature(path)
        except OSError:  # gone: its own event (deleted, or moved away) follows in the queue
            return
        if self._handled.get(path) == sig:
            return  # handled in this state already
        entry = self._pending.get(path)
        if entry is None:
            self._pending[path] = _Pending(sig, now, closed)
        elif closed:
            entry.closed = True
            if entry.signature != sig:
                entry.signature, entry.since = sig, now
        else:
            entry.closed = False
            if entry.signature != sig:
                entry.signature, entry.since = sig, now

    def _drain(self, wait: bool = True) -> None:
        """Take the notifications that arrived (where ``wait``, waiting up to one tick for the first)."""
        try:
            kind, path = self._events.get(timeout=self.tick) if wait else self._events.get_nowait()
        except queue.Empty:
            return
        while True:
            now = time.monotonic()
            if kind == "folder gone":
                self._stale = True
            elif kind in ("deleted", "moved away"):
                if self._pending.pop(path, None) is not None and kind == "deleted" and missing(path):
                    self._tell_gone(path)  # (a file made again under the name comes round as new)
                self._handled.pop(path, None)
            else:
                self._see(path, now, closed=kind == "closed")
            try:
                kind, path = self._events.get_nowait()
            except queue.Empty:
                return

    def _ready(self, now: float) -> list[Path]:
        """Files whose size and modification time stayed unchanged long enough (checked now)."""
        ready = []
        for path, entry in list(self._pending.items()):
            try:
                sig = _signature(path)
            except OSError:  # gone, or unreadable for now: its own event, if any, follows
                continue
            if sig != entry.signature:
                entry.signature, entry.since = sig, now
                continue
            wait = self.closed_settle if entry.closed else self.settle
            if sig[0] > 0 and now - entry.since >= wait and self._due(entry, now):
                ready.append(path)
        return sorted(ready)

    @staticmethod
    def _due(entry: _Pending, now: float) -> bool:
        """Whether a file to retry has waited long enough (any other file has)."""
        if now >= entry.not_before:
            return True
        if entry.sooner is None or now < entry.next_look:
            return False
        entry.next_look = now + _SOONER_S
        if not entry.sooner():
            return False
        entry.not_before, entry.sooner = 0.0, None
        return True

    def _tell_gone(self, path: Path) -> None:
        if self._gone is not None:
            self._gone(path)

    def _hand_over(self, path: Path, handle: Callable[[Path], Any]) -> None:
        entry = self._pending.pop(path)
        self._handled[path] = entry.signature
        outcome = handle(path)
        now = time.monotonic()
        try:  # written to while it was handled: it comes round again when complete
            sig = _signature(path)
        except OSError as err:
            if isinstance(outcome, Retry):
                self._handled.pop(path, None)
                if not isinstance(err, FileNotFoundError | NotADirectoryError):  # out of reach: tried again
                    self._pending[path] = _Pending(entry.signature, entry.since, not_before=now + outcome.after,
                                                   sooner=outcome.sooner, next_look=now + _SOONER_S)  # fmt: skip
                # (gone meanwhile: its event, if any, finds nothing pending)
            return
        if isinstance(outcome, Retry):
            self._handled.pop(path, None)
            since = entry.since if sig == entry.signature else now
            self._pending[path] = _Pending(sig, since, not_before=now + outcome.after, sooner=outcome.sooner,
                                           next_look=now + _SOONER_S)  # fmt: skip
        elif sig != entry.signature:
            self._pending[path] = _Pending(sig, now)

    def _prune(self) -> None:
        for path in [p for p in self._handled if missing(p)]:
            del self._handled[path]
        for path in [p for p in self._pending if missing(p)]:  # gone without an event (missed)
            del self._pending[path]
