"""Outputs written atomically: a file or a folder appears under its name only when complete.

A file is written to a temporary file in the destination folder (:func:`temp_name`), flushed
to disk and given its final name at the end (a hard link, or ``os.replace`` with
``overwrite``); a folder is built under a temporary name and renamed at the end (onto an empty
folder made under the final name, which claims it: a name taken by anything else is refused;
that empty folder is removed again where the rename does not happen). The temporary file or
folder is removed on any error or interruption. An output never replaces
its input, nor an existing file or folder unless asked, not even one another process wrote in
the meantime. :func:`remove_stale_temps` clears what a killed writer left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from fluorodn.errors import FluorodnError, OutputError, OutputExistsError
from fluorodn.files import check_name_length, inside, name_bytes, name_max, same_file, sha256

__all__ = ["atomic_folder", "atomic_output", "remove_stale_temps", "temp_name", "write_error"]

#: Name of a temporary output: ``.<final name>.<host tag>-<pid>-<random>.tmp`` (the final name
#: shortened where the whole would be too long for the file system); ``.old`` instead of ``.tmp``
#: for a folder an overwrite moved aside. The host tag and process id let a later run tell a
#: temporary file or folder whose writer is gone (killed) from one another process is still writing.
_TEMP_NAME = re.compile(
    r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[0-9a-f]{8}\.(?P<ext>tmp|old)$", re.DOTALL
)
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
#: What numpy's ``tofile`` raises, without an errno, when the disk takes only part of a write.
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def _disk_full(err: OSError) -> bool:
    return err.errno in _DISK_FULL or (err.errno is None and bool(_SHORT_WRITE.search(str(err))))


def _host_tag() -> str:
    return sha256(socket.gethostname().encode("utf-8", "replace"))[:8]


def temp_name(dest: Path, ext: str = "tmp") -> Path:
    """A new temporary path beside ``dest``, named after it, this host and this process; the part
    named after ``dest`` is shortened where the name would be longer than its folder's file
    system takes, so a temporary name never fails where ``dest``'s own name fits."""
    tail = f".{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.{ext}"
    name = dest.name
    room = name_max(dest.parent) - name_bytes(f".{tail}")
    while name and name_bytes(name) > room:
        name = name[:-1]
    return dest.with_name(f".{name or '_'}{tail}")


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

    Only files and folders named like :func:`temp_name` names them, written on this host by a
    process that no longer runs (e.g. one killed with SIGKILL or by a power cut), are removed; a
    temporary output of a live process, of another host (a shared drive) or of another program is
    left alone. A folder an overwrite moved aside (``.old``) is removed only once its final name
    exists again: where the writer was killed between the two renames, it is the only copy of
    the previous output. Returns the paths removed.
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
        if match["ext"] == "old" and not _final_exists(entries, match["name"], name_bytes(entry.name)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                continue
            removed.append(Path(entry.path))
    return removed


def _final_exists(entries: list[os.DirEntry[str]], name: str, temp_bytes: int) -> bool:
    """Whether the output a ``.old`` temporary name was made for exists among ``entries``: one named
    ``name``, or, where :func:`temp_name` shortened it (the temporary name is as long as a name may
    be), one whose name starts with it."""
    names = [e.name for e in entries if _TEMP_NAME.match(e.name) is None]
    if name in names:
        return True
    shortened = temp_bytes >= name_max(os.path.dirname(entries[0].path)) if entries else False
    return shortened and any(n.startswith(name) for n in names)


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
    dest = check_name_length(dest)
    if source is not None and same_file(dest, source):
        raise OutputExistsError(f"output {dest} would overwrite its input; choose another output=... or suffix=...")
    if dest.is_dir():
        raise OutputExistsError(f"output {dest} is a folder; give a file name")
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest} exists already; pass overwrite=True to replace it or skip this input")
    tmp = temp_name(dest)
    try:  # create it now: an unwritable folder is reported before any work is done
        with open(tmp, "xb"):
            pass
    except OSError as err:
        raise write_error(dest, err) from err
    try:
        yield tmp
        try:
            with open(tmp, "rb+") as fh:  # on disk before it gets its final name
                os.fsync(fh.fileno())
        except OSError as err:
            raise write_error(dest, err) from err
        if before_publish is not None:
            before_publish()
        try:
            _publish(tmp, dest, overwrite)
        except OutputExistsError:
            raise
        except OSError as err:  # the output's failure, whatever its errno (read-only, out of reach)
            raise write_error(dest, err) from err
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError) and _disk_full(err):
            raise write_error(dest, err) from err
        raise


def write_error(dest: Path, err: OSError) -> OutputError:
    """The one-sentence error for an output ``dest`` that ``err`` kept from being written."""
    why = "the disk is full" if _disk_full(err) else (err.strerror or str(err))
    return OutputError(f"cannot write {dest} ({why}); choose a writable output folder with free space (output=...)")


def _publish(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Give the finished ``tmp`` the name ``dest``; without ``overwrite``, never replace a file."""
    if overwrite:
        os.replace(tmp, dest)
        return
    appeared = OutputExistsError(f"{dest} appeared while it was written; pass overwrite=True to replace it")
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


@contextlib.contextmanager
def atomic_folder(dest: Path, *, overwrite: bool, source: Path | None = None) -> Iterator[Path]:
    """Yield a new temporary folder beside ``dest``; give it the name ``dest`` if the block succeeds.

    Raises OutputExistsError before any work if ``dest`` and ``source`` (a local input, if
    given) overlap (one is, or lies inside, the other) or ``dest`` exists (and ``overwrite``
    is False), and at the end if anything took the name ``dest`` in the meantime (without
    ``overwrite``: it is left as it is). With ``overwrite`` an existing ``dest`` is moved
    aside, replaced, then removed. On any exception the temporary folder is removed and
    ``dest`` is left as it was (the empty folder made to claim the name removed, what an
    overwrite moved aside put back), unless the exception came once the new folder had the
    name ``dest``: then it holds the new folder, complete.
    """
    dest = check_name_length(dest)
    if source is not None and (same_file(dest, source) or inside(dest, source) or inside(source, dest)):
        raise OutputExistsError(
            f"output {dest} would overlap its input {source}; choose another output=... or suffix=..."
        )
    if os.path.lexists(dest) and not overwrite:
        raise OutputExistsError(f"{dest} exists already; pass overwrite=True to replace it or skip this input")
    tmp = temp_name(dest)
    try:
        tmp.mkdir()
    except OSError as err:
        raise write_error(dest, err) from err
    try:
        yield tmp
        try:
            if overwrite:
                _replace_folder(tmp, dest)
            else:
                _publish_folder(tmp, dest)
        except FluorodnError:
            raise
        except OSError as err:  # the output's failure, whatever its errno (read-only, out of reach)
            raise write_error(dest, err) from err
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and _disk_full(err):
            raise write_error(dest, err) from err
        raise


def _publish_folder(tmp: Path, dest: Path) -> None:
    """Give the finished folder ``tmp`` the name ``dest``, which nothing may hold: whatever holds
    it (a file, a folder, empty or not, a link) is left as it is and OutputExistsError raised.
    Where the rename does not happen (an error, an interrupt), ``dest`` is left as it was before."""
    appeared = OutputExistsError(f"{dest} appeared while it was written; pass overwrite=True to replace it")
    if os.name == "nt":  # a rename there never replaces what exists
        try:
            os.rename(tmp, dest)
        except FileExistsError:
            raise appeared from None
        return
    # POSIX renames a folder over an empty folder: make that empty folder first, which fails if
    # the name is taken, then rename onto it; a rename that finds it no longer empty (another
    # process wrote into it in the meantime) fails, and what it holds is left there. Where the
    # rename does not happen, the empty folder made here is removed again (_unreserve).
    name = os.fspath(dest)  # a str: os.mkdir runs no Python code before its system call, so an
    # interrupt raised by the call comes on its return, once the folder is made
    try:
        os.mkdir(name)
    except FileExistsError:
        raise appeared from None
    except OSError:
        raise
    except BaseException:  # an interrupt raised on the return of a mkdir that made the folder
        _unreserve(name, None)
        raise
    made: os.stat_result | None = None
    try:
        made = os.lstat(name)
        os.rename(tmp, dest)
    except BaseException as err:
        _unreserve(name, made)
        if isinstance(err, OSError) and err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise appeared from None
        raise


def _unreserve(name: str, made: os.stat_result | None) -> None:
    """Remove the empty folder :func:`_publish_folder` made under ``name`` (``made``: its lstat, or
    None where the interrupt came before it was taken, a moment after the folder was made), where
    ``name`` still is that folder and it is still empty: a folder another process put there (another
    device, inode or change time) or wrote into is left."""
    try:
        now = os.lstat(name)
        if not stat.S_ISDIR(now.st_mode):
            return
        if made is not None and _stamp(now) != _stamp(made):
            return
        os.rmdir(name)  # fails where the folder is no longer empty
    except OSError:
        pass


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    """What tells one folder from another made under the same name: device, inode, change time."""
    return st.st_dev, st.st_ino, st.st_ctime_ns


def _replace_folder(tmp: Path, dest: Path) -> None:
    """Give the finished folder ``tmp`` the name ``dest``, replacing whatever holds it: that is
    renamed aside first, then removed once ``tmp`` has the name. Where that rename does not happen
    (an error, an interrupt at any point), what was renamed aside is put back under ``dest``; if it
    cannot be (another process took the name meanwhile), OutputError says where it is kept."""
    if not os.path.lexists(dest):
        try:
            os.rename(tmp, dest)
            return
        except OSError:
            if not os.path.lexists(dest):  # not a name taken in the meantime: a real failure
                raise
    aside = temp_name(dest, "old")
    new = os.lstat(tmp)
    try:
        os.rename(dest, aside)
        os.rename(tmp, dest)
    except BaseException as err:
        # the state is read from the names, not from how far the block got: an interrupt can come
        # on the return of either rename, once it is done
        kept = _put_back(aside, dest, new)
        if kept is not None and isinstance(err, OSError):
            why = "the disk is full" if _disk_full(err) else (err.strerror or str(err))
            raise OutputError(
                f"cannot write {dest} ({why}), and what it held could not be put back: it is kept as {kept}; "
                f"rename it to {dest.name} to have it back"
            ) from err
        raise
    _remove(aside)


def _put_back(aside: Path, dest: Path, new: os.stat_result) -> Path | None:
    """After :func:`_replace_folder`'s renames were cut short: put what was renamed to ``aside``
    back under ``dest``, unless ``dest`` already holds the new folder (``new``, its stat), when
    what is aside is removed. Where it cannot be put back (another process took the name), it is
    renamed to ``<dest>.previous-<random>``, a name :func:`remove_stale_temps` never removes (an
    ``.old`` folder whose final name exists is taken for a leftover), and that path is returned
    (``aside`` where even that rename fails); None where nothing is left aside."""
    if not os.path.lexists(aside):  # never moved
        return None
    try:
        now = os.lstat(dest)
    except OSError:
        now = None
    if now is not None and (now.st_dev, now.st_ino) == (new.st_dev, new.st_ino):
        _remove(aside)
        return None
    try:
        os.rename(aside, dest)
        return None
    except OSError:
        pass
    tail = f".previous-{uuid.uuid4().hex[:8]}"
    name = dest.name
    while name and name_bytes(name) > name_max(dest.parent) - name_bytes(tail):  # as temp_name shortens
        name = name[:-1]
    kept = dest.with_name(f"{name or '_'}{tail}")
    try:
        os.rename(aside, kept)
    except OSError:
        return aside
    return kept


def _remove(path: Path) -> None:
    """Remove ``path``, a folder (not followed where it is a link) or a file, as far as it can be."""
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
