"""The ``fluorodn`` command: denoise, watch, unmix, models, info, example.

Each command is a thin layer over the library. User mistakes (a missing file, an
unknown model, an existing output) end in one sentence on stderr and exit code 1,
without a traceback; ``--version`` answers without importing numpy or onnxruntime.
Results go to stdout (one line per output and a summary, or one JSON document with
``--json``); progress, notes, warnings and errors go to stderr.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import logging
import os
import platform
import re
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from fluorodn import __version__
from fluorodn.errors import DeviceError, FluorodnError, OutputExistsError

app = typer.Typer(
    name="fluorodn",
    help=(
        "Denoise fluorescence recordings (time x wavelength spectra, microscopy stacks) with a DnCNN "
        "run by ONNX Runtime.\n\nExample: fluorodn example && fluorodn denoise example.tif"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # click's plain help: brackets stay as typed ('fluorodn[dask]'), flags show without a
    # value, and each paragraph is wrapped to the terminal as a whole
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    int8 = "int8"


_PRECISION_HELP = "auto: the model's int8 variant on the CPU where shipped, else fp32; fp32; int8 (CPU only)."


class Kind(str, Enum):
    auto = "auto"
    spectral = "spectral"
    image = "image"


_KIND_HELP = (
    "What the inputs are. auto: a 2D recording with 24-1024 columns and at least twice as many rows is a "
    "time x wavelength recording (spectral model), anything else frames (image model); spectral or image: "
    "declare it."
)


class NanPolicy(str, Enum):
    refuse = "refuse"
    fill = "fill"


_NAN_HELP = (
    "NaN/inf values. refuse: the file fails; fill: interpolate over them along time (the first axis of each "
    "page) for the network, and put them back in the output."
)


class OutDtype(str, Enum):
    float32 = "float32"
    same = "same"


#: Options that ``denoise`` and ``watch`` share, declared once.
ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="Shipped model name (see 'fluorodn models') or a .onnx path.")
]
KindOption = Annotated[Kind, typer.Option(help=_KIND_HELP)]
DeviceOption = Annotated[Device, typer.Option(help="auto: CUDA if usable, else CPU; cuda: fail if CUDA is not usable.")]
PrecisionOption = Annotated[Precision, typer.Option(help=_PRECISION_HELP)]
DtypeOption = Annotated[
    OutDtype, typer.Option(help="Output type: float32, or the input's (same; rounded and clipped).")
]
SuffixOption = Annotated[str, typer.Option(help="Added to each output file name (and .mat variable name).")]


class ConvertTo(str, Enum):
    npy = "npy"
    tif = "tif"
    h5 = "h5"


def _fail(message: object, code: int = 1) -> NoReturn:
    typer.echo(f"fluorodn: error: {message}", err=True)
    raise typer.Exit(code)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (it may be replaced, e.g. in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def _setup_logging() -> None:
    logger = logging.getLogger("fluorodn")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("fluorodn: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"fluorodn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version_callback, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Denoise fluorescence recordings with a DnCNN run by ONNX Runtime."""


_DENOISE_EXAMPLES = (
    "\b\n"
    "Examples:\n"
    "  fluorodn denoise recording.tif                  -> recording_denoised.tif\n"
    "  fluorodn denoise raw/ -o denoised/ --model high every recording in raw/\n"
    "  fluorodn denoise 'data/**/*.tif' -o out/ --keep-tree --skip-existing\n"
    "  fluorodn denoise 'raw/*.mat' --key spectra --dry-run\n"
    "  fluorodn denoise raw/ -o out/ --quiet --json > report.json"
)


@app.command(epilog=_DENOISE_EXAMPLES, short_help="Denoise recording files (TIFF, NPY, MAT, OceanView, HDF5, zarr).")
def denoise(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Recordings to denoise: .tif/.tiff/.npy/.mat files, OceanView exports (.txt, or a folder of "
            "one-spectrum exports), HDF5 with Time/Wavelength axes (.h5), folders, quoted glob patterns "
            "('data/**/*.tif'), or one .zarr store. Folders and patterns skip files that already end in the suffix.",
            show_default=False,
            metavar="INPUT",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output file (one input) or folder. Default: beside each input."),
    ] = None,
    keep_tree: Annotated[
        bool,
        typer.Option(
            "--keep-tree",
            help="Under the -o folder, keep the inputs' folders below their common folder "
            "(data/a/rec.tif and data/b/rec.tif -> out/a/..., out/b/...).",
        ),
    ] = False,
    model: ModelOption = "default",
    kind: KindOption = Kind.auto,
    device: DeviceOption = Device.auto,
    precision: PrecisionOption = Precision.auto,
    dtype: DtypeOption = OutDtype.float32,
    suffix: SuffixOption = "_denoised",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Skip inputs whose output exists.")] = False,
    key: Annotated[
        str | None, typer.Option(help="Variable of a .mat file, or dataset of an HDF5 file, to denoise.")
    ] = None,
    excitations: Annotated[
        int | None,
        typer.Option(
            help="Excitation lights interleaved row by row in a spectrometer file (.txt, .h5); each is denoised "
            "alone. Default: declared by the file, else detected from the intensity (1: not interleaved).",
            min=1,
        ),
    ] = None,
    to: Annotated[
        ConvertTo | None, typer.Option(help="Write the outputs as npy, tif or h5 instead of the input's format.")
    ] = None,
    nan: Annotated[NanPolicy, typer.Option(help=_NAN_HELP)] = NanPolicy.refuse,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads (1 to 4 x the CPUs). Default: the physical cores.")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check the inputs and show what would be written, without loading the model."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings and errors.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout: settings, and per file its outcome.")
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(help="zarr inputs: threads (default), processes, or a Dask scheduler address (tcp://host:8786)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="zarr inputs: local workers (threads or processes; 1 to 4 x the CPUs).")
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error after its one-line message.")
    ] = False,
    make_report: Annotated[
        bool,
        typer.Option(
            "--report",
            help="Also write <output>_report.html (self-contained) and <output>_report.json: "
            "noise per bin before/after and what was removed.",
        ),
    ] = False,
) -> None:
    """Denoise recordings; each output keeps its input's format, shape and metadata.

    Every input is opened before the model loads, so a bad file is reported at once.
    Outputs are written to a temporary file and renamed when complete; they never
    replace an input or (without --overwrite) an existing file, and temporary files
    left by a killed run are removed by the next run on that folder. TIFF pages are
    streamed, so memory stays flat for long stacks.

    A .zarr input is denoised with Dask (pip install 'fluorodn[dask]'), chunk by chunk,
    on local threads or processes or on an existing cluster.
    """
    from fluorodn import io as fio
    from fluorodn.files import FileSettings
    from fluorodn.formats import is_spectrum_folder

    _setup_logging()
    if overwrite and skip_existing:
        _fail("--overwrite and --skip-existing exclude each other; choose one")
    _check_count("--threads", threads)
    _check_count("--workers", workers)
    report = _Report(quiet=quiet, as_json=json_out, dry_run=dry_run)
    if any(p.rstrip("/\\").endswith(".zarr") for p in inputs):
        _refuse_for_zarr(keep_tree=keep_tree, kind=kind, dtype=dtype, skip_existing=skip_existing, key=key, nan=nan,
                         dry_run=dry_run, excitations=excitations, to=to, report=make_report)  # fmt: skip
        _denoise_zarr(inputs, output, model, device, threads, precision, suffix, overwrite,
                      scheduler or "threads", workers, debug, report)  # fmt: skip
        return
    if scheduler is not None or workers is not None:
        _fail("--scheduler and --workers apply to .zarr inputs only; leave them out for other files")
    if keep_tree and output is None:
        _fail("--keep-tree keeps the inputs' folders under the -o folder; give -o FOLDER")
    try:
        sources = fio.find_inputs(inputs, suffix)
        if key is not None and not any(fio.format_of(s) in ("mat", "hdf5") for s in sources):
            _fail("--key picks a variable of a .mat file or a dataset of an HDF5 file, but no input is one; "
                  "leave --key out")  # fmt: skip
        if excitations is not None and not any(fio.format_of(s) in fio.SPECTRAL_FORMATS for s in sources):
            _fail("--excitations applies to spectrometer files (.txt, folders of one-spectrum exports, .h5), "
                  "but no input is one; leave --excitations out")  # fmt: skip
        several = len(sources) > 1 or any(
            (Path(p).is_dir() and not is_spectrum_folder(p)) or set(p) & set("*?[") for p in inputs
        )
        to_fmt = None if to is None else to.value
        plans = fio.plan_outputs(sources, output, suffix, several=several, keep_tree=keep_tree, to=to_fmt)
        _check_plans(plans)
        settings = FileSettings(dtype=dtype.value, key=key, suffix=suffix, overwrite=overwrite, nan=nan.value,
                                device=device.value, excitations=excitations, to=to_fmt)  # fmt: skip
    except FluorodnError as err:
        _fail(err)
    todo = _check_inputs(plans, settings, skip_existing, report, debug)
    if dry_run:
        _check_model_exists(model)
        for src, dest, header in todo:
            report.planned(src, dest, header)
        raise typer.Exit(report.finish())
    if not todo:  # nothing left to do: the model is not loaded
        raise typer.Exit(report.finish())
    for folder in sorted({dest.parent for _, dest, _ in todo}):
        removed = fio.remove_stale_temps(folder)
        if removed:
            report.note(f"removed {len(removed)} temporary file{'s' if len(removed) != 1 else ''} left in {folder} "
                        "by an interrupted run")  # fmt: skip
    try:
        dn = _make_denoiser(model, device, threads, precision, kind, debug=debug)
        _check_user_model(model, device, dn, report)
    except FluorodnError as err:
        _fail(err)
    report.model = _model_record(dn)
    report.note(
        f"model {dn.name} ({dn.precision}) on {dn.provider}, {dn.threads} thread{'s' if dn.threads != 1 else ''}, "
        f"{len(todo)} file{'s' if len(todo) != 1 else ''}"
    )
    previous = _interrupt_on_sigterm()
    try:
        _run_denoise(dn, todo, settings, report, debug, skip_existing, make_report=make_report)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    raise typer.Exit(report.finish())


def _refuse_for_zarr(**given: Any) -> None:
    """Refuse, with a sentence, options given for a .zarr input that its Dask path does not apply."""
    defaults = {"keep_tree": False, "kind": Kind.auto, "dtype": OutDtype.float32, "skip_existing": False,
                "key": None, "nan": NanPolicy.refuse, "dry_run": False, "excitations": None, "to": None,
                "report": False}  # fmt: skip
    used = [f"--{name.replace('_', '-')}" for name, value in given.items() if value != defaults[name]]
    if used:
        _fail(
            f"{', '.join(used)} {'does' if len(used) == 1 else 'do'} not apply to .zarr inputs (denoised with Dask "
            "into a float32 store with the model's default path); leave "
            f"{'it' if len(used) == 1 else 'them'} out"
        )


def _denoise_zarr(inputs: list[str], output: Path | None, model: str, device: Device, threads: int | None,
                  precision: Precision, suffix: str, overwrite: bool, scheduler: str, workers: int | None,
                  debug: bool, report: _Report) -> None:  # fmt: skip
    """One zarr array in, one zarr array out, through fluorodn.dask."""
    from fluorodn.files import check_name_part

    if len(inputs) != 1:
        _fail("give one .zarr input at a time (it may be as large as the cluster can hold)")
    src = Path(inputs[0].rstrip("/\\"))
    if not src.exists():
        _fail(f"{src} does not exist; check the path")
    try:
        check_name_part(suffix, "--suffix")
    except FluorodnError as err:
        _fail(err)
    dst = output or src.with_name(src.stem + suffix + ".zarr")
    from fluorodn.dask import denoise_zarr
    from fluorodn.denoiser import DenoiserOptions

    options = None
    if threads is not None or precision is not Precision.auto:
        options = DenoiserOptions(threads=threads, precision=precision.value)
    try:
        _check_user_model(model, device, None, report)
        info = denoise_zarr(src, dst, model, device.value, scheduler, workers, overwrite, options=options,
                            progress=not (report.quiet or report.as_json))  # fmt: skip
    except ImportError as err:
        _fail(f"zarr inputs need the dask extra ({err.name} is missing); pip install 'fluorodn[dask]'")
    except Exception as err:  # one line, whatever failed; the traceback with --debug
        if debug:
            typer.echo(_traceback(err), err=True)
        _fail(_file_error(src, err, None))
    report.model = {"name": info["model"]}
    report.files.append({"input": str(src), "output": str(dst), "status": "denoised", "seconds": info["seconds"],
                         "shape": list(info["shape"]), "warnings": []})  # fmt: skip
    report.out(f"{src} -> {dst}")
    report.summary_text = f"Denoised {src} -> {dst} in {info['seconds']:.1f} s ({scheduler})."
    raise typer.Exit(report.finish())


def _check_count(option: str, value: int | None) -> None:
    """Refuse a thread or worker count below 1 or above 4 x the CPUs (it would only exhaust the machine)."""
    if value is None:
        return
    limit = 4 * (os.cpu_count() or 1)
    if not 1 <= value <= limit:
        _fail(f"{option} {value} is out of range: give 1 to {limit} (4 x the {limit // 4} CPUs here)")


def _check_plans(plans: list[tuple[Path, Path]]) -> None:
    """Refuse, before any work, an output that is an input (any spelling) or is planned twice."""
    from fluorodn.errors import OutputExistsError
    from fluorodn.files import identity, same_file

    inputs = {identity(src): src for src, _ in plans}
    seen: dict[str, Path] = {}
    for src, dest in plans:
        real = str(Path(dest).resolve())
        if real in seen:
            raise OutputExistsError(
                f"{src} and {seen[real]} would both be written to {dest}; give them different -o folders or "
                "names, or keep their folders with --keep-tree"
            )
        seen[real] = src
        if same_file(dest, src):
            raise OutputExistsError(f"the output of {src} would overwrite its input; choose another -o or --suffix")
        other = inputs.get(identity(dest)) if dest.exists() else None
        if other is not None:
            raise OutputExistsError(
                f"the output of {src} would be {dest}, another input; choose another -o or --suffix"
            )


def _check_inputs(
    plans: list[tuple[Path, Path]], settings: Any, skip_existing: bool, report: _Report, debug: bool
) -> list[tuple[Path, Path, dict[str, Any]]]:
    """Open every input (headers only, where the format allows) before the model loads.

    Inputs whose output exists are skipped (``--skip-existing``) or fail (without
    ``--overwrite``); inputs that cannot be read fail with their one sentence. Returns
    the plans left, each with what its header says.
    """
    from fluorodn import io as fio

    todo = []
    for src, dest in plans:
        if dest.exists() and not settings.overwrite:
            if skip_existing:
                report.skipped(src, dest, "output exists")
            else:
                report.failed(src, dest, OutputExistsError(
                    f"{dest} exists already; pass --overwrite to replace it or --skip-existing"))  # fmt: skip
            continue
        try:
            fmt = fio.format_of(src)
            key = settings.key if fmt in ("mat", "hdf5") else None
            excitations = settings.excitations if fmt in fio.SPECTRAL_FORMATS else None
            with contextlib.closing(fio.open_recording(src, key=key, excitations=excitations)) as rec:
                header = {"shape": list(rec.shape), "dtype": str(rec.dtype), "pages": rec.n_pages}
                if isinstance(rec, fio.SpectralRecording):  # what its timestamps say: rate, jitter, dropped frames
                    report.note(rec.file.describe())
        except Exception as err:  # any failure to read is this input's one line
            report.failed(src, dest, err, debug=debug)
            continue
        todo.append((src, dest, header))
    return todo


def _check_model_exists(model: str) -> None:
    """For --dry-run: the model name or file is valid (read and hash-checked, not loaded)."""
    from fluorodn.registry import load_model

    try:
        load_model(model)
    except FluorodnError as err:
        _fail(err)


def _check_user_model(model: str, device: Device, dn: Any, report: _Report) -> None:
    """For a model given by path: say that its hash is not checked, and probe it once on a small input."""
    from fluorodn.registry import _looks_like_path

    if not _looks_like_path(model):
        return
    from fluorodn.files import probe_model

    if dn is None:
        dn = _make_denoiser(model, Device.cpu, 1, Precision.auto)
    report.note(
        f"note: {model} is not a shipped model, so its sha256 ({dn.sha256[:12]}...) is not checked "
        "against a card; onnxruntime runs it (no Python code), after a check on a small probe"
    )
    probe_model(dn)


def _make_denoiser(
    model: str,
    device: Device,
    threads: int | None,
    precision: Precision = Precision.auto,
    kind: Kind = Kind.auto,
    debug: bool = False,
) -> Any:
    """A Denoiser; onnxruntime's own log lines (CUDA libraries it cannot load) are kept off the
    terminal, and where CUDA was asked for and fails, its reason joins the one-sentence error."""
    from fluorodn.denoiser import Denoiser, DenoiserOptions

    options = DenoiserOptions(threads=threads, precision=precision.value)
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


def _model_record(dn: Any) -> dict[str, Any]:
    return {
        "name": dn.name,
        "sha256": dn.sha256,
        "precision": dn.precision,
        "provider": dn.provider,
        "threads": dn.threads,
        "kind": dn.declared_kind,
    }


class _Report:
    """What a run tells: a line per output and a summary on stdout, or one JSON document (--json);
    notes, warnings and errors on stderr (notes not with --quiet or --json)."""

    def __init__(self, quiet: bool = False, as_json: bool = False, dry_run: bool = False) -> None:
        self.quiet, self.as_json, self.dry_run = quiet, as_json, dry_run
        self.files: list[dict[str, Any]] = []
        self.model: dict[str, Any] | None = None
        self.summary_text: str | None = None
        self.interrupted = False
        self.t0 = time.perf_counter()
        self.to_stderr: Callable[[str], None] = lambda text: typer.echo(text, err=True)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f["status"] == status)

    def note(self, text: str) -> None:
        if not (self.quiet or self.as_json):
            self.to_stderr(f"fluorodn: {text}")

    def out(self, text: str) -> None:
        if not (self.quiet or self.as_json):
            typer.echo(text)

    def failed(self, src: Path, dest: Path | None, err: BaseException, *, warnings: list[str] | None = None,
               shape: tuple[int, int] | None = None, debug: bool = False) -> None:  # fmt: skip
        message = _file_error(src, err, shape)
        self.files.append({"input": str(src), "output": None if dest is None else str(dest), "status": "failed",
                           "error": message, "warnings": warnings or []})  # fmt: skip
        self.warn(src, warnings or [])
        self.to_stderr(f"fluorodn: error: {message}")
        if debug:
            self.to_stderr(_traceback(err))

    def warn(self, src: Path, messages: list[str]) -> None:
        """One line for all the warnings one file raised."""
        if messages:
            self.to_stderr(f"fluorodn: warning: {src}: {'; '.join(messages)}")

    def skipped(self, src: Path, dest: Path, reason: str) -> None:
        self.files.append({"input": str(src), "output": str(dest), "status": "skipped", "reason": reason})

    def planned(self, src: Path, dest: Path, header: dict[str, Any]) -> None:
        self.files.append({"input": str(src), "output": str(dest), "status": "planned", **header})
        pages = header["pages"]
        shape = " x ".join(str(n) for n in header["shape"])
        self.out(f"{src} -> {dest} ({shape} {header['dtype']}, {pages} page{'s' if pages != 1 else ''})")

    def done(self, result: Any, messages: list[str]) -> None:
        self.files.append({
            "input": str(result.source), "output": str(result.output), "status": "denoised",
            "frames": result.frames, "pixels": result.pixels, "seconds": round(result.seconds, 3),
            "filled": result.filled, "warnings": messages,
        })  # fmt: skip
        self.warn(result.source, messages)
        self.out(f"{result.source} -> {result.output}")

    def finish(self) -> int:
        """Print the summary (or the JSON document); the exit code: 1 if a file failed."""
        failed = self.count("failed")
        code = 130 if self.interrupted else (1 if failed else 0)
        if self.as_json:
            doc = {
                "fluorodn": __version__,
                "dry_run": self.dry_run,
                "interrupted": self.interrupted,
                "model": self.model,
                "files": self.files,
                **{k: self.count(s) for k, s in (("denoised", "denoised"), ("planned", "planned"),
                                                 ("skipped", "skipped"), ("failed", "failed"))},
                "seconds": round(time.perf_counter() - self.t0, 3),
            }  # fmt: skip
            typer.echo(json.dumps(doc, indent=2))
        elif not self.quiet:
            typer.echo(self.summary_text or self._summary())
        return code

    def _summary(self) -> str:
        skipped, failed = self.count("skipped"), self.count("failed")
        tail = []
        if skipped:
            tail.append(f"{skipped} skipped (output exists)")
        if failed:
            tail.append(f"{failed} {'would fail' if self.dry_run else 'failed'}")
        if self.dry_run:
            n = self.count("planned")
            head = f"Dry run: would denoise {n} file{'s' if n != 1 else ''}"
            if self.files and n:
                head += _where(self.files, "planned")
            return "; ".join([head, *tail]) + "."
        done = [f for f in self.files if f["status"] == "denoised"]
        if not done:
            return "; ".join(["No file denoised", *tail]) + "."
        frames, pixels = sum(f["frames"] for f in done), sum(f["pixels"] for f in done)
        seconds = time.perf_counter() - self.t0
        rate = pixels / 1e6 / seconds if seconds > 0 else 0.0
        model = self.model or {}
        head = (
            f"Denoised {len(done)} file{'s' if len(done) != 1 else ''} ({frames} frame{'s' if frames != 1 else ''}, "
            f"{pixels / 1e6:.2f} Mpx) in {seconds:.1f} s ({rate:.2f} Mpx/s) with model {model.get('name')} on "
            f"{model.get('provider')}{_where(self.files, 'denoised')}"
        )
        return "; ".join([head, *tail]) + "."


def _where(files: list[dict[str, Any]], status: str) -> str:
    """Where the outputs of ``status`` went, for the summary: one file, one folder, or beside the inputs."""
    outs = [Path(f["output"]) for f in files if f["status"] == status]
    if len(outs) == 1:
        return f" -> {outs[0]}"
    folders = {p.parent for p in outs}
    if len(folders) == 1:
        return f" into {next(iter(folders))}"
    ins = [Path(f["input"]).parent for f in files if f["status"] == status]
    if all(o.parent == i for o, i in zip(outs, ins, strict=True)):
        return ", each beside its input"
    common = Path(os.path.commonpath([os.path.abspath(p) for p in folders]))
    return f" under {common}"


def _denoise_one(dn: Any, src: Path, dest: Path, settings: Any, progress: Any = None,
                 label: str | None = None) -> tuple[Any, list[str], Exception | None]:  # fmt: skip
    """Denoise one file: (result or None, the warnings it raised, the error or None).

    Warnings (e.g. OutOfDomainWarning) are collected, not shown, so that the caller prints
    them as one line for the file; they come from this thread and the pipeline's threads.
    """
    from fluorodn.files import denoise_file

    result, error = None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        try:
            result = denoise_file(dn, src, dest, settings, progress=progress, label=label)
        except Exception as err:  # this file's failure, whatever it is; the caller reports it
            error = err
    messages = list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))
    return result, messages, error


def _run_denoise(dn: Any, todo: list[tuple[Path, Path, dict[str, Any]]], settings: Any, report: _Report,
                 debug: bool, skip_existing: bool, make_report: bool = False) -> None:  # fmt: skip
    from fluorodn._progress import LazyProgress

    progress = LazyProgress(enabled=not (report.quiet or report.as_json))
    report.to_stderr = progress.print_error
    try:
        with progress:
            for i, (src, dest, header) in enumerate(todo, 1):
                result, messages, err = _denoise_one(dn, src, dest, settings, progress, f"[{i}/{len(todo)}] {src.name}")
                if err is None:
                    report.done(result, messages)
                    if make_report:
                        _write_file_report(dn, result, settings, messages, report, debug)
                elif isinstance(err, OutputExistsError) and skip_existing and dest.exists():
                    report.skipped(src, dest, "output exists")  # another process wrote it in the meantime
                else:
                    rows, cols = header["shape"][-2:]
                    report.failed(src, dest, err, warnings=messages, shape=(rows, cols), debug=debug)
    except KeyboardInterrupt:
        report.to_stderr("fluorodn: interrupted; the output being written was removed")
        report.interrupted = True
    finally:
        report.to_stderr = lambda text: typer.echo(text, err=True)


def _write_file_report(dn: Any, result: Any, settings: Any, messages: list[str], report: _Report,
                       debug: bool) -> None:  # fmt: skip
    """Write the report beside one output; its failure is an error of that file."""
    from fluorodn import io as fio
    from fluorodn.files import provenance
    from fluorodn.report import load_pages, report_files, report_paths

    src, dest = result.source, result.output
    try:
        fmt = fio.format_of(src)
        key = settings.key if fmt in ("mat", "hdf5") else None
        denoised_key = None
        if settings.to is None and fmt == "mat":
            key = load_pages(src, settings.key)[1]  # the variable denoised, for the output's <key><suffix>
            denoised_key = f"{key}{settings.suffix}"
        prov = provenance(dn, src, settings.dtype, key, settings)
        html_path, _ = report_files(src, dest, report_paths(dest)[0], key=key, denoised_key=denoised_key,
                                    provenance=prov, warnings=messages, overwrite=settings.overwrite)  # fmt: skip
    except Exception as err:  # the output is written; the report's failure is told, and makes the run fail
        report.files[-1].update(status="failed", error=f"{src}: report not written ({err})")
        report.to_stderr(f"fluorodn: error: {src}: the report was not written ({' '.join(str(err).split())})")
        if debug:
            report.to_stderr(_traceback(err))
        return
    report.files[-1]["report"] = str(html_path)
    report.out(f"{src} -> {html_path}")


def _file_error(src: Path, err: BaseException, page_shape: tuple[int, int] | None) -> str:
    """One line naming ``src`` and the fix, for an error raised while denoising it."""
    if isinstance(err, MemoryError) or (isinstance(err, OSError) and err.errno == errno.ENOMEM):
        what = f"pages of {page_shape[0]} x {page_shape[1]} values" if page_shape else "it"
        msg = f"not enough memory to denoise {what}; close other programs or split the pages into smaller images"
    elif isinstance(err, OSError) and not isinstance(err, FluorodnError):
        where = f" ({err.filename})" if err.filename and str(err.filename) != str(src) else ""
        msg = f"{err.strerror or err}{where}; check that the input can be read and the output folder written"
    elif isinstance(err, (FluorodnError, ValueError)):
        msg = " ".join(str(err).split())
        if "NaN or infinite" in msg and "--nan" not in msg:
            msg += "; or pass --nan fill to interpolate over them"
    else:  # not an error fluorodn foresaw: name it, keep the traceback for --debug
        text = " ".join(str(err).split())[:200]
        msg = f"could not be denoised ({type(err).__name__}: {text}); run with --debug for the traceback"
    return msg if str(src) in msg else f"{src}: {msg}"


def _traceback(err: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(err)).rstrip()


def _interrupt_on_sigterm() -> Any:
    """Let SIGTERM (a job scheduler, ``kill PID``, a service manager) stop like Ctrl-C; return the old handler."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except (ValueError, OSError):  # not the main thread of the main interpreter
        return None


_WATCH_EXAMPLES = (
    "\b\n"
    "Examples:\n"
    "  fluorodn watch incoming/ -o denoised/\n"
    "  fluorodn watch incoming/ -o denoised/ --pattern '*.tif' --report denoised/log.jsonl\n"
    "  fluorodn watch //rig-pc/share/data -o out/ --recursive --poll --settle 10"
)


@app.command(epilog=_WATCH_EXAMPLES, short_help="Denoise each recording written into a folder, as it completes.")
def watch(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder the acquisition program writes recordings into.",
            metavar="FOLDER",
            exists=True,
            file_okay=False,
            dir_okay=True,
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder for the outputs (created if missing). Default: beside each input."),
    ] = None,
    pattern: Annotated[
        str | None,
        typer.Option(help="Only files whose name matches this pattern ('*.tif'). Default: every format read."),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", help="Watch the subfolders too; their tree is kept under -o.")
    ] = False,
    settle: Annotated[
        float,
        typer.Option(help="Seconds a file's size and modification time must stay unchanged before it is read."),
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
        typer.Option("--report", help="Append one JSON line per file (input, output, status, warnings) to this file."),
    ] = None,
    model: ModelOption = "default",
    kind: KindOption = Kind.auto,
    device: DeviceOption = Device.auto,
    precision: PrecisionOption = Precision.auto,
    dtype: DtypeOption = OutDtype.float32,
    suffix: SuffixOption = "_denoised",
    key: Annotated[str | None, typer.Option(help="Variable of .mat files to denoise (if they hold several).")] = None,
    nan: Annotated[NanPolicy, typer.Option(help=_NAN_HELP)] = NanPolicy.refuse,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads (1 to 4 x the CPUs). Default: the physical cores.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings and errors.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error after its one-line message.")
    ] = False,
) -> None:
    """Denoise each recording written into FOLDER, once it is complete, until Ctrl-C.

    A file is read once its size and modification time have stayed unchanged for
    --settle seconds (or, on Linux, once its writer closed it), never half-written;
    files already in the folder are taken too. Files whose output exists are skipped,
    a file that fails is reported and the watch goes on, and a file written to again
    after it was denoised is reported, its output kept. Ctrl-C or SIGTERM stops the
    watch; an output being written is removed.
    """
    from fluorodn import io as fio
    from fluorodn.files import FileSettings, check_name_part, make_folder

    _setup_logging()
    _check_count("--threads", threads)
    try:
        import watchdog  # noqa: F401
    except ImportError:
        _fail("fluorodn watch needs the watchdog package; pip install 'fluorodn[watch]'")
    if settle <= 0:
        _fail(f"--settle {settle} must be a positive number of seconds")
    if pattern is not None and ("/" in pattern or "\\" in pattern):
        _fail(f"--pattern {pattern!r} matches file names, not paths; leave out the folders ('*.tif')")
    try:
        check_name_part(suffix, "--suffix")
        if output is not None:
            make_folder(output)
        settings = FileSettings(dtype=dtype.value, key=key, suffix=suffix, nan=nan.value, device=device.value)
        dn = _make_denoiser(model, device, threads, precision, kind, debug=debug)
        lines = _Report(quiet=quiet)
        _check_user_model(model, device, dn, lines)
    except FluorodnError as err:
        _fail(err)
    out_root = Path(os.path.abspath(output)) if output is not None else None
    removed = fio.remove_stale_temps(output if output is not None else folder)
    if removed:
        lines.note(f"removed {len(removed)} temporary file{'s' if len(removed) != 1 else ''} left by an "
                   "interrupted run")  # fmt: skip
    lines.note(
        f"watching {folder} for {pattern or ', '.join(fio.FORMATS)} files -> {output or 'beside each input'} "
        f"(model {dn.name} on {dn.provider}); Ctrl-C stops"
    )

    def accept(path: Path) -> bool:
        name = path.name
        if name.startswith(".") or not fio.is_candidate(path, suffix):
            return False
        if pattern is not None and not fnmatch.fnmatch(name, pattern):
            return False
        return out_root is None or out_root not in Path(os.path.abspath(path)).parents

    def dest_of(path: Path) -> Path:
        if output is None:
            return fio.output_path(path, None, suffix, several=True)
        below = Path(os.path.abspath(path.parent)).relative_to(os.path.abspath(folder))
        return fio.output_path(path, output / below, suffix, several=True)

    busy: list[Path] = []
    counts = {"denoised": 0, "failed": 0}

    def handle(path: Path) -> None:
        dest = dest_of(path)
        if dest.exists():
            done = path in handled
            if done:
                lines.to_stderr(f"fluorodn: warning: {path} changed after it was denoised; its output {dest} was kept "
                                "(remove the output to denoise it again)")  # fmt: skip
            handled.add(path)
            return
        busy.append(path)
        before = _stat_or_none(path)
        result, messages, err = _denoise_one(dn, path, dest, settings)
        busy.clear()
        handled.add(path)
        record: dict[str, Any] = {"time": _now(), "input": str(path), "output": str(dest)}
        if err is not None and _stat_or_none(path) != before:  # written to meanwhile: the Watcher hands it over again
            handled.discard(path)
            lines.note(f"{path} is still being written; it is denoised once complete")
            return
        if err is None:
            counts["denoised"] += 1
            lines.warn(path, messages)
            if not quiet:
                typer.echo(f"{path} -> {dest} ({result.frames} frame{'s' if result.frames != 1 else ''}, "
                           f"{result.seconds:.1f} s)")  # fmt: skip
            record.update(status="denoised", frames=result.frames, seconds=round(result.seconds, 3),
                          filled=result.filled, warnings=messages)  # fmt: skip
        else:
            counts["failed"] += 1
            lines.failed(path, dest, err, warnings=messages, debug=debug)
            record.update(status="failed", error=lines.files[-1]["error"], warnings=messages)
        lines.files.clear()  # memory stays flat: the report file keeps the record
        if report is not None:
            _append_json_line(report, record)

    handled: set[Path] = set()
    from fluorodn.watch import Watcher

    previous = _interrupt_on_sigterm()
    try:
        Watcher(folder, accept, settle=settle, recursive=recursive, poll=poll).run(handle)
    except KeyboardInterrupt:
        cut = " the output being written was removed;" if busy else ""
        typer.echo(f"fluorodn: stopped;{cut} {counts['denoised']} denoised, {counts['failed']} failed", err=True)
        raise typer.Exit(130 if busy else 0) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


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


@app.command()
def models() -> None:
    """List the shipped models and their metadata."""
    from rich.console import Console
    from rich.table import Table

    from fluorodn.registry import IMAGE_MODEL, available_models, default_name, models_dir

    try:
        cards = available_models()
    except FluorodnError as err:
        _fail(err)
    if not cards:
        typer.echo(f"No models are shipped with this installation (looked in {models_dir() or 'fluorodn/models'}).")
        return
    default = default_name()
    table = Table(title=f"fluorodn models ({models_dir()})")
    for col in ("name", "noise scale", "domain", "depth x width", "halo", "version", "sha256", "variants"):
        table.add_column(col)
    for card in cards:
        name = Path(str(card["file"])).stem
        table.add_row(
            name + _default_mark(name, default, IMAGE_MODEL),
            str(card.get("noise_scale", "")),
            str(card.get("domain", "")),
            f"{card.get('depth', '?')} x {card.get('width', '?')}",
            str(card.get("halo", "")),
            str(card.get("version", "")),
            str(card.get("sha256", ""))[:12],
            ", ".join(["fp32", *sorted(card.get("variants") or {})]),
        )
    console = Console()
    if not console.is_terminal:  # pipes and logs: do not squeeze the table into 80 columns
        console.width = 200
    console.print(table)


def _default_mark(name: str, default: str, image_model: str) -> str:
    if name == default:
        return " (default)"
    return " (default for images)" if name == image_model else ""


@app.command()
def info(
    model: Annotated[str, typer.Option("--model", "-m", help="Model to load for the device check.")] = "default",
    device: Annotated[Device, typer.Option(help="Device to check.")] = Device.auto,
    threads: Annotated[int | None, typer.Option(help="CPU threads (1 to 4 x the CPUs).")] = None,
    precision: PrecisionOption = Precision.auto,
) -> None:
    """Show versions, onnxruntime providers, and the device, precision and threads fluorodn would use."""
    from importlib.metadata import PackageNotFoundError, version

    import onnxruntime

    from fluorodn.denoiser import physical_cores
    from fluorodn.registry import model_names, models_dir

    _setup_logging()
    _check_count("--threads", threads)
    dist = "onnxruntime"
    for name in ("onnxruntime-gpu", "onnxruntime"):
        with contextlib.suppress(PackageNotFoundError):
            version(name)
            dist = name
            break
    typer.echo(f"fluorodn      {__version__} ({Path(__file__).parent})")
    typer.echo(f"python        {platform.python_version()} ({platform.system()} {platform.machine()})")
    typer.echo(f"onnxruntime   {onnxruntime.__version__} (package {dist})")
    typer.echo(f"providers     {', '.join(onnxruntime.get_available_providers())}")
    typer.echo(f"models        {', '.join(model_names()) or 'none'} ({models_dir() or 'no models folder'})")
    typer.echo(f"cpu cores     {physical_cores()} physical")
    try:
        dn = _make_denoiser(model, device, threads, precision)
    except DeviceError as err:
        typer.echo(f"device        {device.value}: not usable")
        _fail(err)
    except FluorodnError as err:
        _fail(err)
    typer.echo(f"device        {device.value} -> {dn.provider} (model {dn.name})")
    if device is Device.auto and dn.cuda_available and dn.provider != "CUDAExecutionProvider":
        typer.echo("              CUDA is installed but not usable: 'fluorodn info --device cuda' says why")
    typer.echo(f"precision     {dn.precision} (asked: {precision.value})")
    typer.echo(f"threads       {dn.threads}")


@app.command()
def example(
    path: Annotated[Path, typer.Argument(help="Where to write the example recording.", metavar="PATH")] = Path(
        "example.tif"
    ),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Copy the example recording shipped with fluorodn (a TIFF) to PATH."""
    from fluorodn.io import atomic_output

    source = resources.files("fluorodn") / "data" / "example.tif"
    if not source.is_file():
        _fail("this installation has no example recording (fluorodn/data/example.tif is missing); reinstall fluorodn")
    if path.is_dir():
        path = path / "example.tif"
    try:
        with resources.as_file(source) as src, atomic_output(path, overwrite=overwrite) as tmp:
            shutil.copyfile(src, tmp)
    except (FluorodnError, OSError) as err:
        _fail(err)
    typer.echo(f"Wrote {path}; denoise it with: fluorodn denoise {path}")
    typer.echo(f"Its sensor's trace, hemoglobin and brightness with: fluorodn unmix {path} --sensor example")


_UNMIX_EXAMPLES = (
    "\b\n"
    "Examples:\n"
    "  fluorodn unmix example.tif --sensor example          -> example_unmixed.csv\n"
    "  fluorodn unmix rec.npy --sensor s.csv --wavelengths 477:595.4 --rate 5\n"
    "  fluorodn unmix rec.tif --sensor s.csv --wavelengths wl.csv --dark 420 --refine -o rec.parquet"
)


@app.command(epilog=_UNMIX_EXAMPLES)
def unmix(
    recording: Annotated[
        Path,
        typer.Argument(
            help="One time x wavelength recording: .tif/.tiff/.npy/.mat, an OceanView export (.txt; its wavelengths "
            "and timestamps are used) or HDF5 with Time/Wavelength axes (.h5).",
            show_default=False,
        ),
    ],
    sensor: Annotated[
        str,
        typer.Option(
            "--sensor",
            "-s",
            help="The sensor's dF/F spectrum: a CSV wavelength_nm,dff, or 'example' (the example's).",
            show_default=False,
        ),
    ],
    wavelengths: Annotated[
        str | None,
        typer.Option(
            help="The bins' wavelengths in nm: FIRST:LAST (evenly spaced) or a one-column CSV. "
            "Default: from the file's metadata."
        ),
    ] = None,
    denoise: Annotated[
        bool, typer.Option("--denoise/--no-denoise", help="Denoise first (the default model, or --model).")
    ] = True,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model that denoises: name or .onnx path.")] = None,
    rate: Annotated[
        float | None,
        typer.Option(help="Samples per second, for time_s. Default: from the file's metadata, else time_s is empty."),
    ] = None,
    dark: Annotated[
        str | None,
        typer.Option(help="Dark level subtracted first: counts, or a one-column CSV (one per bin). Default: none."),
    ] = None,
    refine: Annotated[
        bool, typer.Option("--refine", help="Fit the full nonlinear model per sample too (scipy; ~1 ms/sample).")
    ] = False,
    key: Annotated[str | None, typer.Option(help="Variable of a .mat file, or dataset of an HDF5 file.")] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Output .csv, .parquet or .nwb (fluorodn[nwb]). Default: <input>_unmixed.csv."
        ),
    ] = None,
    guppy: Annotated[
        Path | None,
        typer.Option(help="Also write the traces into this folder as GuPPy CSV files (timestamps,data,sampling_rate)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error after its one-line message.")
    ] = False,
) -> None:
    """Unmix a recording: per time sample, the sensor's trace, hemoglobin, offset and gain.

    Writes one row per sample: sample, time_s, sensor, hbo2, hb, offset, residual_rms,
    gain (README, "Unmixing"). Everything is checked before the output is written.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from fluorodn.unmixing import unmix_file

    _setup_logging()
    if model is not None and not denoise:
        _fail("--model picks the model that denoises, but --no-denoise skips denoising; leave one of them out")
    t0 = time.perf_counter()
    console = Console(stderr=True)
    bar = Progress("refining", BarColumn(), MofNCompleteColumn(), "samples", TimeRemainingColumn(), console=console,
                   disable=not (refine and console.is_terminal), transient=True)  # fmt: skip
    task = bar.add_task("refine", total=None)
    try:
        with bar, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res, dest = unmix_file(
                recording, sensor, wavelengths, output=output, denoise=(model or True) if denoise else False,
                rate=rate, refine=refine, dark=dark, key=key, overwrite=overwrite, guppy=guppy,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
    except (FluorodnError, ValueError) as err:
        message = " ".join(str(err).split())
        _fail(message if str(recording) in message else f"{recording}: {message}")
    except Exception as err:  # not foreseen: one line, the traceback with --debug
        if debug:
            typer.echo(_traceback(err), err=True)
        _fail(f"{recording}: could not be unmixed ({type(err).__name__}: {err}); run with --debug for the traceback")
    for message in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):
        typer.echo(f"fluorodn: warning: {recording}: {message}", err=True)
    if res.time_s is None:
        typer.echo("fluorodn: note: time_s is empty (the file stores no rate); give --rate HZ to fill it", err=True)
    how = f"denoised with {res.denoised_with}" if res.denoised_with else "not denoised"
    fit = "refined" if res.refined else "linear"
    typer.echo(f"Unmixed {recording} -> {dest} ({len(res.sensor)} samples, {how}, {fit} fit, "
               f"{time.perf_counter() - t0:.1f} s).")  # fmt: skip


_REPORT_EXAMPLES = (
    "Examples:\n\n"
    "  fluorodn report rec.tif rec_denoised.tif                      -> rec_denoised_report.html, .json\n"
    "  fluorodn report rec.npy rec_denoised.npy --sensor s.csv --wavelengths 477:595.4 --rate 5 -o r.html"
)


@app.command(epilog=_REPORT_EXAMPLES)
def report(
    noisy: Annotated[
        Path, typer.Argument(help="The recording as acquired.", exists=True, dir_okay=False, show_default=False)
    ],
    denoised: Annotated[
        Path, typer.Argument(help="Its denoised version.", exists=True, dir_okay=False, show_default=False)
    ],
    sensor: Annotated[
        str | None,
        typer.Option(
            "--sensor",
            "-s",
            help="A sensor dF/F spectrum (CSV wavelength_nm,dff, or 'example'): adds the "
            "unmixed sensor traces before and after denoising.",
        ),
    ] = None,
    wavelengths: Annotated[
        str | None,
        typer.Option(help="The bins' wavelengths in nm: FIRST:LAST or a one-column CSV. Default: from the file."),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Samples per second. Default: from the file, if stated.")] = None,
    key: Annotated[str | None, typer.Option(help="Variable of a .mat file (if it holds several).")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output .html. Default: <denoised>_report.html.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing report.")] = False,
) -> None:
    """Report what denoising removed: a self-contained HTML file and a JSON summary beside it.

    Noise per wavelength bin before and after, the whiteness and spectral structure of the
    removed component, images of a segment, and with --sensor the unmixed traces.
    """
    from fluorodn.report import report_files

    _setup_logging()
    if output is not None and output.suffix.lower() not in (".html", ".htm"):
        _fail(f"the report is an HTML file; give -o a name ending in .html, not {output.name}")
    try:
        html_path, json_path = report_files(noisy, denoised, output, key=key, wavelengths=wavelengths, sensor=sensor,
                                            rate=rate, overwrite=overwrite)  # fmt: skip
    except (FluorodnError, ValueError) as err:
        _fail(" ".join(str(err).split()))
    typer.echo(f"Report {html_path} (summary {json_path}).")


def main() -> None:
    """Entry point of the ``fluorodn`` script."""
    app(prog_name="fluorodn")
