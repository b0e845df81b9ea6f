"""The ``fluorodn`` command: denoise, models, info, example.

Each command is a thin layer over the library. User mistakes (a missing file, an
unknown model, an existing output) end in one sentence on stderr and exit code 1,
without a traceback; ``--version`` answers without importing numpy or onnxruntime.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import platform
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from fluorodn import __version__
from fluorodn.errors import DeviceError, FluorodnError, OutputError, OutputExistsError

app = typer.Typer(
    name="fluorodn",
    help=(
        "Denoise fluorescence recordings (time x wavelength spectra, microscopy stacks) with a DnCNN "
        "run by ONNX Runtime.\n\nExample: fluorodn example && fluorodn denoise example.tif"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    int8 = "int8"
    bf16 = "bf16"


_PRECISION_HELP = "auto: the model's int8 variant on the CPU where shipped, else fp32; fp32; int8 (CPU); bf16."


class OutDtype(str, Enum):
    float32 = "float32"
    same = "same"


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
    "Examples:\n\n"
    "fluorodn denoise recording.tif                      -> recording_denoised.tif\n\n"
    "fluorodn denoise raw/ -o denoised/ --model high     every recording in raw/\n\n"
    "fluorodn denoise 'raw/**/*.mat' --key spectra --dtype same --skip-existing"
)


def _denoise_zarr(inputs: list[str], output: Path | None, model: str, device: str, suffix: str,
                  overwrite: bool, scheduler: str, workers: int | None, debug: bool) -> None:
    """One zarr array in, one zarr array out, through fluorodn.dask."""
    from fluorodn.files import check_name_part

    if len(inputs) != 1:
        _fail("give one .zarr input at a time (it may be as large as the cluster can hold)")
    src = Path(inputs[0].rstrip("/\\"))
    if not src.exists():
        _fail(f"{src} does not exist; check the path")
    try:
        check_name_part(suffix, "--suffix")
    except FluorodnError as exc:
        _fail(exc)
    dst = output or src.with_name(src.stem + suffix + ".zarr")
    from fluorodn.dask import denoise_zarr

    t0 = time.perf_counter()
    try:
        _check_user_model(model, device)
        info = denoise_zarr(src, dst, model, device, scheduler, workers, overwrite, progress=True)
    except ImportError as exc:
        _fail(f"zarr inputs need the dask extra ({exc.name} is missing); pip install 'fluorodn[dask]'")
    except Exception as exc:  # one line, whatever failed; the traceback with --debug
        if debug:
            typer.echo(_traceback(exc), err=True)
        _fail(_file_error(src, exc, None))
    typer.echo(f"Denoised {src} -> {dst} in {time.perf_counter() - t0:.1f} s ({scheduler}).", err=True)
    del info


@app.command(epilog=_DENOISE_EXAMPLES)
def denoise(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Recordings to denoise: .tif/.tiff/.npy/.mat files, folders, or quoted glob patterns "
            "('data/**/*.tif'). Folders and patterns skip files that already end in the suffix.",
            show_default=False,
            metavar="INPUT",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output file (one input) or folder. Default: beside each input."),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Shipped model name (see 'fluorodn models') or a .onnx path.")
    ] = "default",
    device: Annotated[
        Device, typer.Option(help="auto: CUDA if usable, else CPU; cuda: fail if CUDA is not usable.")
    ] = Device.auto,
    dtype: Annotated[
        OutDtype, typer.Option(help="Output type: float32, or the input's (same; rounded and clipped).")
    ] = OutDtype.float32,
    suffix: Annotated[str, typer.Option(help="Added to each output file name (and .mat variable name).")] = "_denoised",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Skip inputs whose output exists.")] = False,
    key: Annotated[str | None, typer.Option(help="Variable of a .mat file to denoise (if it holds several).")] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads (1 to 4 x the CPUs). Default: the physical cores.")
    ] = None,
    precision: Annotated[Precision, typer.Option(help=_PRECISION_HELP)] = Precision.auto,
    scheduler: Annotated[
        str, typer.Option(help="zarr inputs (fluorodn[dask]): threads, processes, or a Dask scheduler ADDRESS.")
    ] = "threads",
    workers: Annotated[
        int | None, typer.Option(help="zarr inputs: local workers (threads or processes; 1 to 4 x the CPUs).")
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error after its one-line message.")
    ] = False,
) -> None:
    """Denoise recordings; each output keeps its input's format, shape and metadata.

    A .zarr input is denoised with Dask (pip install 'fluorodn[dask]'), chunk by chunk, on
    local threads or processes or on an existing cluster (--scheduler tcp://host:8786).

    TIFF pages are streamed, so memory stays flat for long stacks; outputs are written to
    a temporary file and renamed when complete, and never replace an input or (without
    --overwrite) an existing file.
    """
    from fluorodn import io as fio

    _setup_logging()
    if overwrite and skip_existing:
        _fail("--overwrite and --skip-existing exclude each other; choose one")
    _check_count("--threads", threads)
    _check_count("--workers", workers)
    if any(p.rstrip("/\\").endswith(".zarr") for p in inputs):
        _denoise_zarr(inputs, output, model, device.value, suffix, overwrite, scheduler, workers, debug)
        return
    try:
        sources = fio.find_inputs(inputs, suffix)
        if key is not None and not any(fio.format_of(s) == "mat" for s in sources):
            _fail("--key picks a variable of a .mat file, but no input is a .mat file; leave --key out")
        several = len(sources) > 1 or any(Path(p).is_dir() or set(p) & set("*?[") for p in inputs)
        plans = [(src, fio.output_path(src, output, suffix, several)) for src in sources]
        _check_plans(plans)
        dn = _make_denoiser(model, device, threads, precision)
        _check_user_model(model, device.value, dn)
    except FluorodnError as err:
        _fail(err)
    note = ""
    if device is Device.auto and dn.cuda_available and dn.provider != "CUDAExecutionProvider":
        note = " (CUDA is installed but not usable: 'fluorodn info --device cuda' says why)"
    typer.echo(
        f"fluorodn: model {dn.name} ({dn.precision}) on {dn.provider}{note}, "
        f"{dn.threads} thread{'s' if dn.threads != 1 else ''}, "
        f"{len(plans)} file{'s' if len(plans) != 1 else ''}",
        err=True,
    )
    previous = _interrupt_on_sigterm()
    try:
        _run_denoise(dn, plans, dtype.value, key, suffix, overwrite, skip_existing, device.value, debug)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _check_count(option: str, value: int | None) -> None:
    """Refuse a thread or worker count below 1 or above 4 x the CPUs (it would only exhaust the machine)."""
    if value is None:
        return
    import os

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
                f"{src} and {seen[real]} would both be written to {dest}; give them different -o folders or names"
            )
        seen[real] = src
        if same_file(dest, src):
            raise OutputExistsError(f"the output of {src} would overwrite its input; choose another -o or --suffix")
        other = inputs.get(identity(dest)) if dest.exists() else None
        if other is not None:
            raise OutputExistsError(
                f"the output of {src} would be {dest}, another input; choose another -o or --suffix"
            )


def _check_user_model(model: str, device: str, dn: Any = None) -> None:
    """For a model given by path: say that its hash is not checked, and probe it once on a small input."""
    from fluorodn.registry import _looks_like_path

    if not _looks_like_path(model):
        return
    from fluorodn.files import probe_model

    if dn is None:
        dn = _make_denoiser(model, Device.cpu, 1, Precision.auto)
    typer.echo(
        f"fluorodn: note: {model} is not a shipped model, so its sha256 ({dn.sha256[:12]}...) is not checked "
        "against a card; onnxruntime runs it (no Python code), after a check on a small probe",
        err=True,
    )
    probe_model(dn)


def _make_denoiser(model: str, device: Device, threads: int | None, precision: Precision = Precision.auto) -> Any:
    from fluorodn.denoiser import Denoiser, DenoiserOptions

    return Denoiser(model, device=device.value, options=DenoiserOptions(threads=threads, precision=precision.value))


def _run_denoise(
    dn: Any,
    plans: list[tuple[Path, Path]],
    dtype: str,
    key: str | None,
    suffix: str,
    overwrite: bool,
    skip_existing: bool,
    device: str,
    debug: bool = False,
) -> None:
    import numpy as np

    from fluorodn import io as fio
    from fluorodn._pipeline import prefetch
    from fluorodn._progress import LazyProgress

    done = skipped = failed = frames = pixels = 0
    t0 = time.perf_counter()
    progress = LazyProgress()
    try:
        with progress:
            for i, (src, dest) in enumerate(plans, 1):
                if skip_existing and dest.exists():
                    skipped += 1
                    continue
                shape = None
                try:
                    mat_key = key if fio.format_of(src) == "mat" else None
                    with contextlib.closing(fio.open_recording(src, key=mat_key)) as rec:
                        shape = rec.page_shape
                        out_dtype = fio.output_dtype(rec.dtype, dtype)
                        n_px = rec.n_pages * rec.page_shape[0] * rec.page_shape[1]
                        task = progress.add(f"[{i}/{len(plans)}] {src.name}", n_px, rec.n_pages)
                        # reading runs ahead of the network, and the network ahead of writing
                        read = prefetch(np.array(p) for p in rec.pages())  # a copy reads memory-mapped data
                        pages = dn.stream(read, progress=lambda n, t=task: progress.advance(t, n))
                        counted = prefetch(_count_frames(fio.cast_pages(pages, out_dtype), progress, task))
                        if dest.parent != src.parent:
                            _make_folder(dest.parent)
                        prov = _provenance(dn, src, out_dtype, getattr(rec, "key", None), device)
                        var = f"{rec.key}{suffix}" if isinstance(rec, fio.MatRecording) else None
                        fio.write_denoised(
                            rec,
                            dest,
                            counted,
                            dtype=out_dtype,
                            provenance=prov,
                            overwrite=overwrite,
                            var_name=var,
                        )
                    done += 1
                    frames += rec.n_pages
                    pixels += n_px
                except Exception as err:  # one input's failure, whatever it is, is one line; the batch goes on
                    if isinstance(err, OutputExistsError) and skip_existing and dest.exists():
                        skipped += 1  # another process wrote it in the meantime
                        continue
                    failed += 1
                    progress.print_error(f"fluorodn: error: {_file_error(src, err, shape)}")
                    if debug:
                        progress.print_error(_traceback(err))
    except KeyboardInterrupt:
        typer.echo("fluorodn: interrupted; the output being written was removed", err=True)
        raise typer.Exit(130) from None
    seconds = time.perf_counter() - t0
    rate = pixels / 1e6 / seconds if seconds > 0 else 0.0
    parts = [
        f"Denoised {done} file{'s' if done != 1 else ''} ({frames} frame{'s' if frames != 1 else ''}, "
        f"{pixels / 1e6:.2f} Mpx) in {seconds:.1f} s ({rate:.2f} Mpx/s) with model {dn.name} on {dn.provider}"
    ]
    if skipped:
        parts.append(f"{skipped} skipped (output exists)")
    if failed:
        parts.append(f"{failed} failed")
    typer.echo("; ".join(parts) + ".")
    if failed:
        raise typer.Exit(1)


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
    else:  # not an error fluorodn foresaw: name it, keep the traceback for --debug
        text = " ".join(str(err).split())[:200]
        msg = f"could not be denoised ({type(err).__name__}: {text}); run with --debug for the traceback"
    return msg if str(src) in msg else f"{src}: {msg}"


def _traceback(err: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(err)).rstrip()


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create the output folder {folder} ({err.strerror or err}); choose another folder with -o"
        ) from err


def _interrupt_on_sigterm() -> Any:
    """Let SIGTERM (a job scheduler, ``kill PID``) clean up like Ctrl-C; return the old handler."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except (ValueError, OSError):  # not the main thread of the main interpreter
        return None


def _count_frames(pages: Iterable[Any], progress: Any, task: Any) -> Iterator[Any]:
    for k, page in enumerate(pages, 1):
        progress.frames(task, k)
        yield page


def _provenance(dn: Any, src: Path, out_dtype: Any, key: str | None, device: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "device": device,
        "provider": dn.provider,
        "precision": getattr(dn, "precision", "fp32"),
        "dtype": str(out_dtype),
    }
    if key is not None:
        settings["key"] = key
    return {
        "fluorodn": __version__,
        "model": dn.name,
        "model_sha256": dn.sha256,
        "model_version": dn.metadata.get("version"),
        "noise_scale": dn.metadata.get("noise_scale"),
        "normalization": dn.metadata.get("normalization"),
        "source": src.name,
        "settings": settings,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


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
    precision: Annotated[Precision, typer.Option(help=_PRECISION_HELP)] = Precision.auto,
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
        typer.echo(f"device        {device.value} ({precision.value}): not usable")
        _fail(err)
    except FluorodnError as err:
        _fail(err)
    typer.echo(f"device        {device.value} -> {dn.provider} (model {dn.name})")
    typer.echo(f"precision     {dn.precision}")
    typer.echo(f"threads       {dn.threads}")


@app.command()
def example(
    path: Annotated[Path, typer.Argument(help="Where to write the example recording.")] = Path("example.tif"),
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


def main() -> None:
    """Entry point of the ``fluorodn`` script."""
    app(prog_name="fluorodn")
