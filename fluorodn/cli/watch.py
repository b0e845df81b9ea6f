"""``fluorodn watch``: denoise each recording written into a folder, once it is complete."""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import math
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from fluorodn.cli import app
from fluorodn.cli._common import (
    as_given,
    cannot_write,
    check_count,
    check_user_model,
    denoise_one,
    fail,
    format_traceback,
    given_path,
    run_denoiser,
    setup_logging,
    sigterm_interrupts,
    tell_unread,
)
from fluorodn.cli._options import (
    DebugOption,
    NanOption,
    NanPolicy,
    QuietOption,
    RunOptions,
    SpikePolicy,
    SpikesOption,
    ThreadsOption,
    number,
    with_run_options,
)
from fluorodn.cli._report import Report, count_pages, page_path
from fluorodn.errors import FluorodnError, OutputError, OutputExistsError
from fluorodn.watch import Retry, missing

_WATCH_EXAMPLES = (
    "\b\n"
    "Examples:\n"
    "  fluorodn watch incoming/ -o denoised/\n"
    "  fluorodn watch incoming/ -o denoised/ --pattern '*.tif' --report denoised/log.jsonl\n"
    "  fluorodn watch //rig-pc/share/data -o out/ --recursive --poll --settle 10"
)

#: Seconds before a file that failed for a reason that passes (its output's disk full, its output
#: folder refusing writes, a share out of reach: :func:`_passing`) is tried again, the first time;
#: each try that fails so again doubles it, up to :data:`_RETRY_MAX_S`. A file whose output's disk
#: has meanwhile gained at least the input's size of free space is tried again at once.
_RETRY_FIRST_S = 15.0
_RETRY_MAX_S = 600.0
#: errno values of a file out of reach for a while (a network share reconnecting), input or output.
_UNREACHABLE_NAMES = ("ESTALE", "ETIMEDOUT", "EHOSTDOWN", "EHOSTUNREACH", "ENETDOWN", "ENETUNREACH", "ENETRESET",
                      "ECONNABORTED", "ECONNRESET", "ENOTCONN")  # fmt: skip
_UNREACHABLE = {getattr(errno, name) for name in _UNREACHABLE_NAMES if hasattr(errno, name)}
#: errno values of an output folder refusing writes until someone acts (its permissions, a share
#: remounted read-only): watch keeps the file and tries it again rather than losing it.
_REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS}


@app.command(epilog=_WATCH_EXAMPLES, short_help="Denoise each recording written into a folder, as it completes.")
@with_run_options
def watch(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder the acquisition program writes recordings into.",
            metavar="FOLDER",
            readable=False,  # checked by the command, in one sentence
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder for the outputs (created if missing). Default: beside each input.",
            parser=as_given,  # an empty name is refused, not taken for the current folder
            metavar="<path>",
        ),
    ] = None,
    pattern: Annotated[
        str | None,
        typer.Option(
            "--pattern", help="Only files whose name matches this pattern ('*.tif'). Default: every format read."
        ),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", help="Watch the subfolders too; their tree is kept under -o.")
    ] = False,
    settle: Annotated[
        float,
        typer.Option(
            help="Seconds a file's size and modification time must stay unchanged before it is read.",
            parser=number,
            metavar="FLOAT",
        ),
    ] = 2.0,
    poll: Annotated[
        bool,
        typer.Option(
            "--poll",
            help="Look at the folder every second instead of waiting for notifications (network drives send none).",
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Append one JSON line per file (input, output, status, warnings) to this file (a new file, or a "
            "log an earlier watch wrote; checked at the start).",
        ),
    ] = None,
    *,
    run: RunOptions,
    key: Annotated[
        str | None,
        typer.Option(
            help="Variable of .mat files (a struct's field as rec.spectra), or dataset of HDF5 files, to denoise "
            "(if they hold several)."
        ),
    ] = None,
    nan: NanOption = NanPolicy.refuse,
    spikes: SpikesOption = SpikePolicy.keep,
    threads: ThreadsOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Denoise each recording written into FOLDER, once it is complete, until Ctrl-C.

    A file is read once its size and modification time have stayed unchanged for
    --settle seconds (also after its writer closed it, since a program may close it
    between two parts of a recording), never half-written;
    files already in the folder are taken too. Files whose output exists are skipped,
    a file that fails is reported and the watch goes on (one whose output could not be
    written as its disk was full is tried again later), and a file written to again
    after it was denoised is reported, its output kept. If FOLDER disappears (deleted,
    renamed, a share unmounted), a warning says so once and the watch waits for it: once
    it is back, it is watched again. Ctrl-C or SIGTERM stops the watch: a file still being
    denoised is cut and its partial output removed; one whose last page is written is
    finished, counted and logged first.
    """
    from fluorodn import io as fio
    from fluorodn.files import FileSettings, check_name_part, inside, make_folder, same_file
    from fluorodn.formats.oceanview import is_one_spectrum

    setup_logging()
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        fail(f"{folder} {what}; watch a folder the acquisition program writes into")
    with os.scandir(folder) as listing:  # a folder that cannot be listed is refused now, not watched in vain
        next(listing, None)
    output = given_path(output, "-o")
    check_count("--threads", threads)
    try:
        import watchdog  # noqa: F401
    except ImportError:
        fail("fluorodn watch needs the watchdog package; pip install 'fluorodn[watch]'")
    if not (math.isfinite(settle) and settle > 0):
        fail(f"--settle {settle} must be a finite number of seconds above 0")
    if pattern is not None and ("/" in pattern or "\\" in pattern):
        fail(f"--pattern {pattern!r} matches file names, not paths; leave out the folders ('*.tif')")
    beside = output is None or same_file(output, folder)  # outputs in the folders of their inputs
    if beside and not run.suffix:
        fail("--suffix '' would give each output the name of its input, beside it, and watch must tell outputs from "
             "inputs; give a suffix (such as _denoised), or -o another folder")  # fmt: skip
    made: list[Path] = []  # the folders -o creates, removed again if the command then refuses its options
    try:
        check_name_part(run.suffix, "--suffix")
        if output is not None:
            made = [p for p in (output, *output.absolute().parents) if not p.exists()]
            make_folder(output)
            if (why := cannot_write(output)) is not None:  # else each file would fail, one by one
                raise OutputError(f"cannot write into -o {output} ({why.strerror or why}); give -o a folder that "
                                  "can be written")  # fmt: skip
        if report is not None:
            _check_report(report, run.suffix)
        settings = FileSettings(
            dtype=run.dtype.value,
            key=key,
            suffix=run.suffix,
            nan=nan.value,
            spikes=spikes.value,
            device=run.device.value,
        )
        dn = run_denoiser(run, threads, debug=debug)
        lines = Report(quiet=quiet)
        check_user_model(run.model, run.device, dn, lines)
    except FluorodnError as err:
        for empty in made:  # innermost first; a folder something was written into stays
            with contextlib.suppress(OSError):
                empty.rmdir()
        fail(err)
    # outputs in a folder inside the watched one are not taken as inputs (real paths: either may be given by a link)
    out_root = None if output is None or beside or not inside(output, folder) else Path(os.path.realpath(output))
    removed = [p for top in _output_folders(output or folder, recursive) for p in fio.remove_stale_temps(top)]
    if removed:
        lines.note(f"removed {len(removed)} temporary file{'s' if len(removed) != 1 else ''} left by an "
                   "interrupted run")  # fmt: skip
    lines.note(
        f"watching {folder} for {pattern or ', '.join(fio.FORMATS)} files -> {output or 'beside each input'} "
        f"(model {dn.name} on {dn.provider}); Ctrl-C stops"
    )

    spectrum_folders: set[Path] = set()  # folders of one-spectrum exports, told once each

    def accept(path: Path) -> bool:
        name = path.name
        if name.startswith(".") or not fio.is_candidate(path, run.suffix):
            return False
        if pattern is not None and not fnmatch.fnmatch(name, pattern):
            return False
        if out_root is not None:
            parent = Path(os.path.realpath(path.parent))
            if parent == out_root or out_root in parent.parents:
                return False
        if path.suffix.lower() == ".txt" and is_one_spectrum(path):  # one sample of a recording, not one
            if path.parent not in spectrum_folders:
                spectrum_folders.add(path.parent)
                lines.note(
                    f"{path.parent} receives one-spectrum OceanView exports, which watch does not take: the "
                    "recording is the whole folder; give it to fluorodn denoise once it is complete"
                )
            return False
        return True

    def dest_of(path: Path) -> Path:
        if output is None:
            return fio.output_path(path, None, run.suffix, several=True)
        below = Path(os.path.abspath(path.parent)).relative_to(os.path.abspath(folder))
        return fio.output_path(path, output / below, run.suffix, several=True)

    busy: list[Path] = []
    counts = {"denoised": 0, "failed": 0}
    # the files counted as failed: a file that fails again is not counted again, and one denoised in
    # the end is counted as denoised only (each file counts once, by its last outcome)
    failed: set[Path] = set()
    # files whose output this watch wrote (counted as denoised), files written to after their output
    # (counted so instead: their last outcome), and files whose output was there when first handled
    denoised: set[Path] = set()
    stale: set[Path] = set()
    skipped: set[Path] = set()

    def count_failed(path: Path) -> None:
        if path not in failed:
            failed.add(path)
            counts["failed"] += 1

    # the (size, modification time) each input had when this watch denoised it: one changed since
    # (replaced under its name, whatever its modification time says) is told, as one written after
    # its output
    denoised_from: dict[Path, tuple[int, int]] = {}
    # files told to have been written after their output, with that writing's (size, time) (told once each)
    told_stale: dict[Path, tuple[int, int]] = {}
    told_locked: set[Path] = set()  # HDF5 files told to be held open by their writer
    # the -o folder made at the start, gone since (deleted, or its share unmounted): outputs wait for it,
    # since making it again could put them on the disk under an unmounted share's mount point
    out_gone: dict[str, bool] = {"told": False}

    def _output_gone(path: Path) -> Retry | None:
        """A :class:`Retry` for ``path`` while the -o folder is gone (told once until it is back)."""
        if output is None or os.path.isdir(output):
            if out_gone["told"]:
                out_gone["told"] = False
                lines.note(f"the output folder {output} is back; writing outputs into it again")
            return None
        if not out_gone["told"]:
            out_gone["told"] = True
            lines.to_stderr(f"fluorodn: warning: the output folder {output} is gone (deleted, renamed or its share "
                            "unmounted); outputs wait until it is back: make it again, or mount the share (the "
                            "watch goes on)")  # fmt: skip
        retrying.setdefault(path, 0)
        return Retry(_RETRY_FIRST_S)

    # files whose output could not be written for a reason that passes, to be tried again: the tries so far
    # (counted as failed where the watch stops before one succeeds)
    retrying: dict[Path, int] = {}

    def handle(path: Path) -> Retry | None:
        try:
            dest = dest_of(path)
        except FluorodnError as refused:  # an output name this file system cannot hold: this file fails
            count_failed(path)
            handled.add(path)
            lines.failed(path, path, refused, debug=debug)
            failure = {"time": _now(), "input": str(path), "output": None, "status": "failed",
                       "error": lines.files[-1]["error"]}  # fmt: skip
            lines.files.clear()
            if report is not None:
                _append_json_line(report, failure)
            return None
        if os.path.exists(dest):  # (False where its share is out of reach: writing it fails, to be retried)
            if retrying.pop(path, None) is not None:  # written by another process while it waited
                why = f"another process wrote its output {dest} while it waited to be tried again"
                lines.to_stderr(f"fluorodn: warning: {path} was skipped: {why}")
                if report is not None:
                    _append_json_line(report, {"time": _now(), "input": str(path), "output": str(dest),
                                               "status": "skipped", "reason": why})  # fmt: skip
            elif (written := _changed_since(path, dest, denoised_from.get(path))) and told_stale.get(path) != written:
                told_stale[path] = written  # told once for each writing of the file
                if path not in stale:
                    stale.add(path)
                    skipped.discard(path)
                    if path in denoised:
                        denoised.discard(path)
                        counts["denoised"] -= 1
                why = (f"was written after its output {dest}, which was kept (it may be of an earlier recording of "
                       f"that name); to denoise this one, move that output away and restart the watch, or run "
                       f"fluorodn denoise {path} --overwrite")  # fmt: skip
                lines.to_stderr(f"fluorodn: warning: {path} {why}")
                if report is not None:
                    _append_json_line(report, {"time": _now(), "input": str(path), "output": str(dest),
                                               "status": "changed", "reason": why})  # fmt: skip
            elif path not in denoised and path not in stale:  # its output there already: passed over, counted
                skipped.add(path)
            handled.add(path)
            return None
        if (waiting := _output_gone(path)) is not None:
            return waiting
        busy.append(path)
        before = _stat_or_none(path)
        # once the writer has the last page, a stop waits until the output is published (or discarded)
        # and the file counted and logged: an output is never published without its count and record
        held = _HeldStop()
        try:
            result, messages, err = denoise_one(dn, path, dest, settings, progress=_OnLastPage(held.hold))
            held.hold()  # (a file that failed before its last page: its report is not cut either)
            busy.clear()
            return finish(path, dest, before, result, messages, err, stopping=held.stopping)
        finally:
            held.release()  # a stop asked meanwhile stops the watch now, with this file done

    def finish(path: Path, dest: Path, before: tuple[int, int] | None, result: Any, messages: list[str],
               err: Exception | None, *, stopping: bool) -> Retry | None:  # fmt: skip
        """Count and report a file ``denoise_one`` is done with, and append its record to the log; a
        :class:`Retry` where it failed for a reason that passes (:func:`_passing`):
        the file is then tried again later, and counted once it is denoised, or fails otherwise."""
        handled.add(path)
        record: dict[str, Any] = {"time": _now(), "input": str(path), "output": str(dest)}
        cause = None if err is None or stopping else _passing(err)
        if err is not None and missing(path):  # deleted while it was denoised: nothing to come back for
            gone(path, "or renamed before its output was written (while it was denoised, or waited its turn)")
            return None
        if err is not None and not stopping and (waiting := _output_gone(path)) is not None:
            return waiting  # its output folder went while it was written: tried again once it is back
        if _locked(err):  # its writer holds it open: handed over again when the writer closes it
            handled.discard(path)
            if path not in told_locked:  # once, however often it settles while held
                told_locked.add(path)
                lines.note(f"{path} is open in the program writing it (locked); it is denoised once that program "
                           "closes it")  # fmt: skip
            return None
        if cause is not None:  # the watch goes on: tried again later, counted once it is done with
            handled.discard(path)
            tries = retrying.get(path, 0) + 1
            if path not in retrying:  # told once, and logged once, however often it is tried
                when = "once there is free space" if _disk_full(cause) else "later"
                why = (
                    f"was not denoised: {_why_failed(err, cause, dest)}; it will be retried {when} (the watch goes on)"
                )
                lines.to_stderr(f"fluorodn: warning: {path} {why}")
                if debug and err is not None:
                    lines.to_stderr(format_traceback(err))
                record.update(status="failed", error=f"{path} {why}", warnings=messages, retry=True)
                if report is not None:
                    _append_json_line(report, record)
            retrying[path] = tries
            sooner = _space_grew(dest.parent, before[0] if before else 0) if _disk_full(cause) else None
            return Retry(min(_RETRY_FIRST_S * 2.0 ** (tries - 1), _RETRY_MAX_S), sooner)
        if err is not None and _stat_or_none(path) != before:  # written to meanwhile: the Watcher hands it over again
            handled.discard(path)
            if stopping:  # the watch stops: it is not handed over again
                lines.note(f"{path} is still being written; its output was discarded and it was not denoised, as "
                           "the watch stops (a later watch takes it once it is complete)")  # fmt: skip
            else:
                lines.note(f"{path} is still being written; it is denoised once complete")
            return None
        tries = retrying.pop(path, 0)  # done with: its outcome is counted now
        if isinstance(err, OutputExistsError) and os.path.exists(dest):  # written by another process meanwhile: kept
            why = f"another process wrote its output {dest} while it was denoised (another watch of {folder}?)"
            lines.to_stderr(f"fluorodn: warning: {path} was skipped: {why}")
            record.update(status="skipped", reason=why)
        elif err is None:
            counts["denoised"] += 1
            denoised.add(path)
            stale.discard(path)
            skipped.discard(path)
            if path in failed:  # failed before (written in pauses longer than --settle): counted as denoised now
                failed.discard(path)
                counts["failed"] -= 1
            if before is not None:
                denoised_from[path] = before
            if tries:
                lines.to_stderr(f"fluorodn: {path} was denoised when tried again ({tries + 1} tries), after its "
                                "output could not be written")  # fmt: skip
            if n := result.despiked:
                lines.note(f"{path}: replaced {n} isolated spike{'s' if n != 1 else ''} before denoising "
                           "(--spikes fill)")  # fmt: skip
            lines.warn(path, messages)
            if unread := tell_unread(lines, dn.options, page_path(result), result.source):
                record["unread_options"] = unread
            if not quiet:
                typer.echo(f"{path} -> {dest} ({count_pages(result.frames, page_path(result) == 'spectral')}, "
                           f"{result.seconds:.1f} s)")  # fmt: skip
            record.update(status="denoised", path=page_path(result), frames=result.frames,
                          seconds=round(result.seconds, 3), filled=result.filled, despiked=result.despiked,
                          warnings=messages)  # fmt: skip
        else:
            count_failed(path)
            lines.failed(path, dest, err, warnings=messages, debug=debug)
            record.update(status="failed", error=lines.files[-1]["error"], warnings=messages)
        lines.files.clear()  # memory stays flat: the report file keeps the record
        if report is not None:
            _append_json_line(report, record)
        return None

    def lost(path: Path) -> None:
        lines.to_stderr(f"fluorodn: warning: the watched folder {path} is gone (deleted, renamed or unmounted); "
                        "watch waits for it to be back (Ctrl-C stops)")  # fmt: skip

    def back(path: Path) -> None:
        lines.note(f"{path} is back; watching it again")

    def gone(path: Path, when: str | None = None) -> None:
        """Tell (and log) a file deleted before it was denoised (``when``: while it was denoised)."""
        if retrying.pop(path, None) is not None:  # it failed, and is not tried again
            count_failed(path)
            when = when or "before it was tried again; it was not denoised"
        when = when or "before it was complete; it was not denoised"
        lines.to_stderr(f"fluorodn: warning: {path} was deleted {when}")
        if report is not None:
            try:
                dest = str(dest_of(path))
            except FluorodnError:  # an output name it could not have had
                dest = None
            _append_json_line(report, {"time": _now(), "input": str(path), "output": dest,
                                       "status": "deleted", "error": f"deleted {when}"})  # fmt: skip

    handled: set[Path] = set()
    from fluorodn.watch import Watcher

    with sigterm_interrupts():
        try:
            Watcher(folder, accept, settle=settle, recursive=recursive, poll=poll).run(
                handle, gone=gone, lost=lost, back=back
            )
        except KeyboardInterrupt:
            # files still waiting to be tried again, never denoised: failed (one renamed or deleted
            # meanwhile is no longer there to fail: its new name was taken on its own)
            waiting = {path: tries for path, tries in retrying.items() if path not in busy and not missing(path)}
            if waiting:
                for path in waiting:
                    count_failed(path)
                one = len(waiting) == 1
                them = "it" if one else "them"
                unfinished = (f"not denoised: {'it' if one else 'they'} waited to be tried again (the output could "
                              f"not be written) when the watch stopped; a later watch takes {them}")  # fmt: skip
                lines.to_stderr(f"fluorodn: warning: {_some(waiting)} {unfinished}")
                if report is not None:
                    for path in waiting:
                        last = f"{path} was not denoised: it waited to be tried again when the watch stopped"
                        _append_json_line(report, {"time": _now(), "input": str(path), "output": str(dest_of(path)),
                                                   "status": "failed", "error": last})  # fmt: skip
            cut = f" {busy[0]} was not denoised (its partial output removed);" if busy else ""
            more = (f", {len(stale)} written to after their output (the output kept)" if stale else "") + (
                f", {len(skipped)} skipped (output exists)" if skipped else ""
            )
            typer.echo(f"fluorodn: stopped;{cut} {counts['denoised']} denoised, {counts['failed']} failed{more}",
                       err=True)  # fmt: skip
            raise typer.Exit(130 if busy else 0) from None


def _check_report(report: Path, suffix: str) -> None:
    """Refuse, before any work, a --report path the log cannot be appended to, or one whose
    appending would change a recording: a folder, a recording (or a name a recording or an output
    of watch would have), an existing file that is not a log of JSON lines, and a file that cannot
    be opened for appending (its folder missing or read-only). Leaves no file behind."""
    from fluorodn import io as fio

    ext = report.suffix.lower()
    if report.is_dir():
        raise OutputError(f"--report {report} is a folder; give a file name, such as watch.jsonl")
    if report.exists() and fio.is_candidate(report, ""):
        raise OutputError(f"--report {report} is a recording, which the log would be appended to; give the log a "
                          "file of its own, such as watch.jsonl")  # fmt: skip
    if ext in fio.FORMATS and (ext != ".txt" or fio.is_output(report, suffix)):
        raise OutputError(f"--report {report} is named like a recording ({ext}), which watch may take or write; "
                          f"name the log otherwise, such as {report.stem}.jsonl")  # fmt: skip
    existed = report.exists()
    try:
        if existed:
            with open(report, "rb") as fh:
                head = fh.read(256).lstrip()
        with open(report, "a", encoding="utf-8"):  # as each line will (writes nothing)
            pass
    except OSError as err:
        raise OutputError(f"cannot write the report {report} ({err.strerror or err}); give --report a file in a "
                          "folder that exists and can be written") from err  # fmt: skip
    if not existed:  # the first line makes it again: none is left if the watch does not start
        with contextlib.suppress(OSError):
            os.unlink(os.path.realpath(report))  # (the file made, where the path is a link to none)
    elif head and not head.startswith(b"{"):
        raise OutputError(f"--report {report} is not a log of JSON lines, and watch would append to it; give a new "
                          "file, or a log an earlier watch wrote")  # fmt: skip


class _HeldStop:
    """Ctrl-C and SIGTERM held back from :meth:`hold` to :meth:`release`, around work a stop must not
    cut: a signal that arrives meanwhile is noted (:attr:`stopping`), and :meth:`release` hands the
    first one noted to the handler it was held from, which raises KeyboardInterrupt there. A second
    signal is not held: it goes to its handler at once (Ctrl-C twice stops a publish that hangs,
    e.g. on a network share). Only signals a Python function handles are held (one ignored stays
    ignored). Off the main thread nothing is held: Python runs signal handlers in the main thread
    only, so no signal interrupts the work there."""

    def __init__(self) -> None:
        self._note_it = self._note  # (one object, told apart from the handlers it replaced)
        self._previous: dict[int, Any] = {}
        self._noted: int | None = None
        self._passed = False  # a second signal went to its handler at once
        self._held = False

    @property
    def stopping(self) -> bool:
        """Whether a stop arrived while held."""
        return self._noted is not None

    def _note(self, signum: int, frame: Any) -> None:
        if self._noted is None:
            self._noted = signum
            return
        self._passed = True
        self._previous.get(signum, signal.default_int_handler)(signum, frame)

    def hold(self) -> None:
        """Hold the stop signals from now (again: nothing more)."""
        if self._held:
            return
        self._held = True
        for name in ("SIGINT", "SIGTERM"):
            sig = getattr(signal, name, None)
            if sig is None or not callable(signal.getsignal(sig)):
                continue
            try:
                self._previous[sig] = signal.signal(sig, self._note_it)
            except (ValueError, OSError):  # not the main thread of the main interpreter
                continue

    def release(self) -> None:
        """Give each held signal its handler back; a stop noted meanwhile is raised now."""
        if not self._held:
            return
        self._held = False
        previous = self._previous
        for sig, handler in previous.items():
            if signal.getsignal(sig) is self._note_it:  # (else its handler changed it meanwhile)
                signal.signal(sig, handler)
        self._previous = {}  # (cleared once no signal can reach _note)
        if self._noted is not None and self._noted in previous and not self._passed:
            previous[self._noted](self._noted, None)


class _OnLastPage:
    """The ``progress`` given to :func:`denoise_one`: calls ``then`` as the last page of a file is
    handed to its writer (at once for a file of no pages), from where there is no denoising left to
    cut, only the output to finish and publish, or discard."""

    def __init__(self, then: Callable[[], None]) -> None:
        self._then = then

    def add(self, description: str, pixels: int, n_frames: int) -> int:
        if n_frames <= 0:
            self._then()
        return n_frames

    def advance(self, task: int, pixels: int) -> None:
        """Pixels denoised: not followed."""

    def frames(self, task: int, done: int) -> None:
        if done >= task:
            self._then()


def _output_folders(top: Path, recursive: bool) -> list[Path]:
    """``top`` and, where ``recursive``, the folders below it: where watch writes its outputs."""
    if not recursive:
        return [top]
    found = [top]
    for root, dirs, _ in os.walk(top):
        found.extend(Path(root) / d for d in dirs)
    return found


#: An input modified this much later than its output was written after it (a recording of the same
#: name): a copy of a folder, whose files take their copying times one after another, and file
#: systems that keep times in 2-second steps (FAT) stay under it.
_WRITTEN_AFTER_S = 2.0


def _changed_since(path: Path, dest: Path, denoised: tuple[int, int] | None) -> tuple[int, int] | None:
    """The (size, modification time) of ``path`` where it changed after its output ``dest`` was
    written: it differs from ``denoised``, what it was when this watch denoised it (a file replaced
    under its name, by a copy that keeps an older time too), or its time is :data:`_WRITTEN_AFTER_S`
    or more later than the output's (a recording of the same name, for a watch that did not write
    that output); None otherwise."""
    src, out = _stat_or_none(path), _stat_or_none(dest)
    if src is None:
        return None
    if denoised is not None:
        return src if src != denoised else None
    late = out is not None and src[1] - out[1] >= _WRITTEN_AFTER_S * 1e9
    return src if late else None


def _locked(err: BaseException | None) -> bool:
    """Whether ``err`` is an HDF5 file held open, and locked, by the program writing it."""
    from fluorodn.cli._common import caused_by
    from fluorodn.formats.hdf5_axes import LockedError

    return caused_by(err, LockedError)


def _passing(err: BaseException) -> OSError | None:
    """The OSError behind ``err``, a file's failure, where that failure passes with time: its output
    could not be written as the disk (or the quota) was full or as the output folder refused writing
    (permissions changed, a share remounted read-only), or the input or the output was out of reach
    while it was read or written (a network share reconnecting); None for any other failure (the
    input unreadable, a value refused), which trying again would repeat."""
    if not isinstance(err, OSError | FluorodnError):
        return None
    output = isinstance(err, OutputError) or not isinstance(err, FluorodnError)  # a plain OSError may be either's
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and (
            cause.errno in _UNREACHABLE
            or (output and _disk_full(cause))
            or (isinstance(err, OutputError) and cause.errno in _REFUSED)
        ):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _why_failed(err: BaseException | None, cause: OSError, dest: Path) -> str:
    """What kept a file :func:`_passing` lets be tried again from being denoised, in a few words."""
    if getattr(errno, "EDQUOT", None) is not None and cause.errno == errno.EDQUOT:
        return f"cannot write {dest} (the disk quota is full)"
    if _disk_full(cause):
        return f"cannot write {dest} (the disk is full)"
    why = cause.strerror or str(cause)
    if isinstance(err, OutputError):
        return f"cannot write {dest} ({why})"
    return f"its input or its output {dest} went out of reach while it was denoised ({why})"


def _disk_full(err: OSError) -> bool:
    from fluorodn._atomic import _disk_full as full

    return full(err)


def _free_space(folder: Path) -> int | None:
    """Bytes free for this user on the disk of ``folder`` (or of the nearest folder above it that
    exists); None where that cannot be told."""
    try:
        while not os.path.exists(folder) and folder.parent != folder:
            folder = folder.parent
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _space_grew(folder: Path, size: int) -> Callable[[], bool] | None:
    """A check of whether the free space on the disk of ``folder`` has grown, since now, by ``size``
    bytes (an input's: about what its output needs) or 1 MiB, whichever is more; None where the free
    space cannot be told."""
    base = _free_space(folder)
    if base is None:
        return None
    need = base + max(size, 1 << 20)

    def grew() -> bool:
        free = _free_space(folder)
        return free is not None and free >= need

    return grew


def _some(paths: dict[Path, int]) -> str:
    """The file, or the number of files and the first few, of ``paths``, and its verb: "a.tif was"."""
    names = sorted(map(str, paths))
    if len(names) == 1:
        return f"{names[0]} was"
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{len(names)} files ({shown}) were"


def _stat_or_none(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _append_json_line(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line of JSON; a report that cannot be written is said once per file."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    except OSError as err:
        typer.echo(f"fluorodn: warning: cannot write the report {path} ({err.strerror or err})", err=True)
