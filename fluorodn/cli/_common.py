"""What the commands share: one-sentence errors, logging, the Denoiser they build, one file denoised, SIGTERM."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from fluorodn.cli._options import Device, Kind, Precision, RunOptions
from fluorodn.errors import DeviceError, FluorodnError

if TYPE_CHECKING:
    from fluorodn.cli._report import Report


def names_a_folder(text: str) -> bool:
    """Whether a path as typed ends in a separator of this system (``/``; on Windows ``\\`` too),
    which says it is a folder."""
    return text.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep))


def as_given(text: str) -> Any:
    """A path option's text as typed, for ``typer``'s ``parser=``: ``Path()`` would drop a trailing
    ``/``, which says the name is a folder; the command makes the ``Path`` itself."""
    return text


def given_path(text: str | Path | None, option: str) -> Path | None:
    """A path option's text as a ``Path``; fail where it is an empty name, which ``Path`` would take
    for the current folder (an unset variable in a script, never what was meant)."""
    if text is None:
        return None
    if not str(text).strip():
        fail(f"{option} is an empty name (an unset variable in a script?); give a file or folder, or leave it out")
    return Path(text)


def make_folder(folder: Path) -> None:
    """Make an output's folder (and its parents) before any work, as ``denoise -o`` does; fail in one
    sentence where it cannot be made."""
    from fluorodn._file_pipeline import make_folder as make

    try:
        make(folder)
    except FluorodnError as err:
        fail(err)


def cannot_write(folder: Path) -> OSError | None:
    """Why a file cannot be made in ``folder`` (or in the nearest folder above it that exists,
    where it would be made), tried with a temporary file that is removed at once; None if it can."""
    import tempfile

    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as err:
        return err


#: The report of a command printing one JSON document (``denoise --json``): an error that ends
#: the command (a missing input, an unknown model) is then written into that document, beside what
#: it already holds of the files, and the document printed on stdout.
_JSON_REPORT: dict[str, Any] = {"report": None}


def errors_as_json(report: Any) -> None:
    """Set, at the start of each command, the report whose JSON document :func:`fail` prints
    (None: no document)."""
    _JSON_REPORT["report"] = report


def system_refusal(err: OSError) -> str:
    """The one sentence for a file or folder the system refuses (``err``): what it refused, which
    path, and what to check."""
    import errno

    where = " -> ".join(str(name) for name in (err.filename, err.filename2) if name is not None)
    reason = err.strerror or " ".join(str(err).split()) or type(err).__name__
    if err.errno in (errno.EACCES, errno.EPERM):
        what = where or "a file or folder"
        return f"{what}: permission denied; check that the input can be read and the output folder written"
    return f"{where + ': ' if where else ''}{reason[:1].lower()}{reason[1:]}"


def fail(message: object, code: int = 1) -> NoReturn:
    """Print the one-line error (keyword arguments a library error names given as options) and exit;
    under ``--json`` also the command's document, with the error, on stdout, for scripts that parse it."""
    text = as_flags(str(message))
    typer.echo(f"fluorodn: error: {text}", err=True)
    report = _JSON_REPORT["report"]
    if report is not None:
        _JSON_REPORT["report"] = None  # one document per command
        report.error = text
        report.finish()
    raise typer.Exit(code)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (it may be replaced, e.g. in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging() -> None:
    logger = logging.getLogger("fluorodn")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("fluorodn: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def check_count(option: str, value: int | None) -> None:
    """Refuse a thread or worker count below 1 or above 4 x the CPUs (it would only exhaust the machine)."""
    if value is None:
        return
    from fluorodn.session import thread_limit

    limit = thread_limit()
    if not 1 <= value <= limit:
        fail(f"{option} {value} is out of range: give 1 to {limit} (4 x the {limit // 4} CPUs here)")


def check_user_model(model: str, device: Device, dn: Any, report: Report) -> None:
    """For a model given by path: say that its hash is not checked, and probe it once on a small input."""
    from fluorodn.registry import _looks_like_path

    if not _looks_like_path(model):
        return
    from fluorodn.files import probe_model

    if dn is None:
        dn = make_denoiser(model, Device.cpu, 1, Precision.auto)
    report.note(
        f"note: {model} is not a shipped model, so its sha256 ({dn.sha256[:12]}...) is not checked "
        "against a card; onnxruntime runs it (no Python code), after a check on a small probe"
    )
    probe_model(dn)


def run_denoiser(run: RunOptions, threads: int | None, debug: bool = False) -> Any:
    """:func:`make_denoiser` for a command's :class:`RunOptions`."""
    return make_denoiser(
        run.model,
        run.device,
        threads,
        run.precision,
        run.kind,
        debug=debug,
        fields=run.option_fields(),
    )


def make_denoiser(
    model: str,
    device: Device,
    threads: int | None,
    precision: Precision = Precision.auto,
    kind: Kind = Kind.auto,
    debug: bool = False,
    fields: dict[str, Any] | None = None,
) -> Any:
    """A Denoiser (``fields``: its other :class:`fluorodn.DenoiserOptions`,
    :meth:`RunOptions.option_fields`); onnxruntime's own log lines (CUDA libraries it cannot
    load) are kept off the terminal, and where CUDA was asked for and fails, its reason joins the
    one-sentence error."""
    from fluorodn.denoiser import Denoiser, DenoiserOptions

    try:
        options = DenoiserOptions(threads=threads, precision=precision.value, **(fields or {}))
    except ValueError as err:  # options that contradict each other
        fail(err)
    if device is not Device.cuda or debug:
        return Denoiser(model, device=device.value, options=options, kind=kind.value)
    try:
        with _native_stderr() as captured:
            return Denoiser(model, device=device.value, options=options, kind=kind.value)
    except DeviceError as err:
        reason = _onnxruntime_reason(captured)
        raise DeviceError(f"{err} (onnxruntime: {reason})" if reason else str(err)) from err


@contextlib.contextmanager
def _native_stderr() -> Iterator[list[str]]:
    """Collect what native code writes to file descriptor 2 in the block (onnxruntime logs there);
    lines that are not onnxruntime's are written to stderr again afterwards."""
    import tempfile

    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2: nothing to keep off it
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = re.sub(r"\x1b\[[0-9;]*m", "", sink.read().decode("utf-8", "replace"))
            lines.extend(ln for ln in text.splitlines() if ln.strip())
            other = [ln for ln in lines if ":onnxruntime:" not in ln]
            if other:
                sys.stderr.write("\n".join(other) + "\n")


def _onnxruntime_reason(lines: list[str]) -> str:
    """The first error onnxruntime logged, shortened: e.g. which CUDA library it could not load."""
    for line in lines:
        if "[E:onnxruntime" not in line:
            continue
        found = re.search(r"Failed to load library (\S+) with error: (.*)", line)
        if found:
            return f"cannot load {Path(found[1]).name}: {found[2].strip()}"[:300]
        return line.rsplit("] ", 1)[-1].strip()[:300]
    return ""


def model_record(dn: Any) -> dict[str, Any]:
    return {
        "name": dn.name,
        "sha256": dn.sha256,
        "precision": dn.precision,
        "provider": dn.provider,
        "threads": dn.threads,
        "kind": dn.declared_kind,
    }


def denoise_one(dn: Any, src: Path, dest: Path, settings: Any, progress: Any = None,
                 label: str | None = None) -> tuple[Any, list[str], Exception | None]:  # fmt: skip
    """Denoise one file: (result or None, the warnings it raised, the error or None).

    Warnings (e.g. OutOfDomainWarning) are collected, not shown, so that the caller prints
    them as one line for the file; they come from this thread and the pipeline's threads.
    """
    from fluorodn.files import denoise_file

    result, error = None, None
    with collected_warnings() as messages:
        try:
            result = denoise_file(dn, src, dest, settings, progress=progress, label=label)
        except Exception as err:  # this file's failure, whatever it is; the caller reports it
            if interrupted(err):
                raise KeyboardInterrupt from err
            error = err
    return result, messages, error


def tell_unread(report: Any, options: Any, path: str, source: Any) -> list[str]:
    """The options given (as the command's flags) that an input ``source`` whose pages took
    ``path`` ("spectral" or "image") does not read (the default model runs the spectral path on
    recordings and hands frames to the image path), told in one note on ``report``; empty where
    every option applied."""
    unread = [as_flags(o) for o in options.unread_by(path)] if options is not None else []
    if unread:
        pages = "spectral recordings, which the spectral path" if path == "spectral" else "frames, which the image path"
        report.note(f"note: {source}: its pages are {pages} denoises without {' and '.join(unread)}")
    return unread


def caused_by(err: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether ``err``, or an exception in its chain of causes and contexts, is a ``kind``."""
    seen: set[int] = set()
    cause = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, kind):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def interrupted(err: BaseException) -> bool:
    """Whether ``err`` was raised while a KeyboardInterrupt (Ctrl-C, or SIGTERM in
    :func:`sigterm_interrupts`) unwound: a library's clean-up that fails halfway (e.g. closing a
    writer the interrupt left inconsistent) replaces the interrupt by its own error."""
    return caused_by(err, KeyboardInterrupt)


@contextlib.contextmanager
def collected_warnings() -> Iterator[list[str]]:
    """In the block, warnings (e.g. OutOfDomainWarning) are recorded, not shown; on leaving it the
    list holds each distinct message once, on one line, with the keyword arguments it names given
    as the command's options, for the caller to print as one line for its file."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        try:
            yield messages
        finally:
            messages.extend(dict.fromkeys(as_flags(" ".join(str(w.message).split())) for w in caught))


def file_error(src: Path, err: BaseException, page_shape: tuple[int, int] | None, fill_hint: bool = True) -> str:
    """One line naming ``src`` and the fix, for an error raised while denoising it (``fill_hint``:
    whether the command has ``--nan fill`` to suggest)."""
    if isinstance(err, MemoryError) or (isinstance(err, OSError) and err.errno == errno.ENOMEM):
        what = f"pages of {page_shape[0]} x {page_shape[1]} values" if page_shape else "it"
        msg = f"not enough memory to denoise {what}; close other programs or split the pages into smaller images"
    elif isinstance(err, OSError) and not isinstance(err, FluorodnError):
        where = f" ({err.filename})" if err.filename and str(err.filename) != str(src) else ""
        msg = f"{err.strerror or err}{where}; check that the input can be read and the output folder written"
    elif isinstance(err, (FluorodnError, ValueError)):
        msg = " ".join(str(err).split())
        if "NaN or infinite values" in msg and "--nan" not in msg:  # the command's own way, not the library's call
            from fluorodn._engine import FILL_ADVICE

            msg = msg.replace(f"; {FILL_ADVICE}", "")
            msg += "; pass --nan fill to interpolate over them" if fill_hint else "; fill them in the store first"
        msg = msg.replace(" (run(k * x) equals k * run(x))", "")  # the library's reason, for a call
    else:  # not an error fluorodn foresaw: name it, keep the traceback for --debug
        text = " ".join(str(err).split())[:200]
        msg = f"could not be denoised ({type(err).__name__}: {text}); run with --debug for the traceback"
    msg = as_flags(msg)
    return msg if str(src) in msg else f"{src}: {msg}"


#: Keyword arguments that library errors name, as the command line spells them: regular
#: expressions and their replacements, tried in this order; each matches only where a word starts.
_FLAGS = {
    r"overwrite=True to replace it or skip this input": "--overwrite to replace it or --skip-existing",
    r"overwrite=True": "--overwrite",
    r"keep_tree=True": "--keep-tree",
    r"output=\.\.\.": "-o",
    r"suffix=\.\.\.": "--suffix",
    r"suffix=(?=['\"])": "--suffix ",
    r"leave key=None": "leave --key out",
    r"key=(['\"])(.*?)\1 is not a 2D or 3D": r"--key \2 is not a 2D or 3D",
    r"key=\.\.\.": "--key",
    r"key=([\w.]+\.FIELD)\b": r"--key \1",
    r"leave excitations=None": "leave --excitations out",
    r"excitations=N\b": "--excitations N",
    r"excitations=\.\.\.": "--excitations",
    r"excitations=(\d+)\b": r"--excitations \1",
    r"to='(\w+)' writes": r"--to \1 writes",
    r"to='h5'": "--to h5",
    r"to='(npy|tif|h5)'": r"--to \1",
    r"to=(?=['\"])": "--to ",
    r"rate=HZ\b": "--rate HZ",
    r"dark=\.\.\.": "--dark",
    r"rate=\.\.\.": "--rate",
    r"wavelengths='FIRST:LAST'": "--wavelengths FIRST:LAST",
    r"leave wavelengths=None": "leave --wavelengths out",
    r"wavelengths=\.\.\.": "--wavelengths",
    r"kind '(auto|spectral|image)'": r"--kind \1",
    r"kind='(auto|spectral|image)'": r"--kind \1",
    r"precision '(\w+)' or '(\w+)'": r"--precision \1 or \2",
    r"precision '(\w+)'": r"--precision \1",
    r"device '(\w+)'": r"--device \1",
    r"run the default model": "leave --model out",
    r"DenoiserOptions\(spectral_only=True\)": "--spectral-only",
    r"spectral_only=True": "--spectral-only",
    r"strength=\.\.\.": "--strength",
    r"strength=(\d+(?:\.\d+)?)\b": r"--strength \1",
    r"keep_onsets=False": "--round-onsets",
    r"DenoiserOptions\(keep_fixed_pattern=True\)": "--keep-fixed-pattern",
    r"keep_fixed_pattern=True": "--keep-fixed-pattern",
    r"self_ensemble=True": "--self-ensemble",
    r"keep_spots=False": "--flatten-spots",
    r"denoise=False": "--no-denoise",
    r"nan='fill'": "--nan fill",
    r"channel=k\b": "--channel K",
    r"rate must be a": "--rate must be a",
    r"channel=\.\.\.": "--channel",
    r"channel=(\d+)": r"--channel \1",
}
_FLAG_PATTERNS = [(re.compile(r"(?<![\w.-])" + pattern), flag) for pattern, flag in _FLAGS.items()]


def as_flags(message: str) -> str:
    """A library error's message with the keyword arguments it names given as the command's options."""
    for pattern, flag in _FLAG_PATTERNS:
        message = pattern.sub(flag, message)
    return message


def format_traceback(err: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(err)).rstrip()


#: The signals that stop a command like Ctrl-C.
_STOP_SIGNALS = ("SIGINT", "SIGTERM")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """In the block, SIGTERM (a job scheduler, ``kill PID``, a service manager) stops like Ctrl-C,
    and the first of them is the only one: from then on both are ignored until the process ends,
    so that the clean-up the KeyboardInterrupt starts (the temporary output removed, the worker
    threads joined, the summary printed) runs to its end and the command exits with 130, however
    often Ctrl-C is pressed. Without an interrupt the previous handlers are restored after the
    block. A SIGINT ignored when the block starts (a background job) stays ignored."""
    stopped = False

    def interrupt(signum: int, frame: Any) -> None:
        nonlocal stopped
        if stopped:  # delivered before the handlers below took effect
            return
        stopped = True
        for name in _STOP_SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    for name in _STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None or (sig == signal.SIGINT and signal.getsignal(sig) == signal.SIG_IGN):
            continue
        try:
            previous[sig] = signal.signal(sig, interrupt)
        except (ValueError, OSError):  # not the main thread of the main interpreter
            continue
    try:
        yield
    finally:
        if not stopped:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
