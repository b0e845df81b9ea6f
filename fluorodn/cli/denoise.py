"""``fluorodn denoise``: recording files in, denoised files out (a .zarr store through fluorodn.dask)."""

from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from fluorodn._atomic import write_error
from fluorodn.cli import app
from fluorodn.cli._common import (
    as_flags,
    as_given,
    cannot_write,
    check_count,
    check_user_model,
    collected_warnings,
    denoise_one,
    errors_as_json,
    fail,
    format_traceback,
    given_path,
    interrupted,
    model_record,
    names_a_folder,
    run_denoiser,
    setup_logging,
    sigterm_interrupts,
    tell_unread,
)
from fluorodn.cli._options import (
    ConvertTo,
    DebugOption,
    Kind,
    NanOption,
    NanPolicy,
    OutDtype,
    Precision,
    QuietOption,
    RunOptions,
    SpikePolicy,
    SpikesOption,
    ThreadsOption,
    number,
    whole_number,
    with_run_options,
)
from fluorodn.cli._report import Report, page_path
from fluorodn.errors import FluorodnError, OutputExistsError
from fluorodn.files import check_name_length

_DENOISE_EXAMPLES = (
    "\b\n"
    "Examples:\n"
    "  fluorodn denoise recording.tif                  -> recording_denoised.tif\n"
    "  fluorodn denoise raw/ -o denoised/ --model high  -> every recording in raw/\n"
    "  fluorodn denoise 'data/**/*.tif' -o out/ --keep-tree --skip-existing\n"
    "  fluorodn denoise 'raw/*.mat' --key spectra --dry-run\n"
    "  fluorodn denoise raw/ -o out/ --quiet --json > report.json"
)


@app.command(epilog=_DENOISE_EXAMPLES, short_help="Denoise recording files (TIFF, NPY, MAT, OceanView, HDF5, zarr).")
@with_run_options
def denoise(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Recordings to denoise: .tif/.tiff/.npy/.mat files, OceanView exports (.txt, or a folder of "
            "one-spectrum exports), HDF5 with Time/Wavelength axes (.h5), folders, quoted glob patterns "
            "('data/**/*.tif'), or one .zarr store. Folders and patterns skip files that already end in the suffix, "
            "and .txt files that are not spectrometer exports (notes, logs).",
            show_default=False,
            metavar="INPUT",
        ),
    ],
    output_arg: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file (one input) or folder (a name ending in / or with no recording's extension, an "
            "existing folder, or several inputs); missing folders are created. Default: beside each input.",
            parser=as_given,  # the text as typed: a trailing / says folder
            metavar="<path>",
        ),
    ] = None,
    keep_tree: Annotated[
        bool,
        typer.Option(
            "--keep-tree",
            help="Under the -o folder, keep the inputs' folders below their common folder "
            "(data/a/rec.tif and data/b/rec.tif -> out/a/..., out/b/...).",
        ),
    ] = False,
    *,
    run: RunOptions,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Skip inputs whose output exists.")] = False,
    key: Annotated[
        str | None,
        typer.Option(
            help="Variable of a .mat file (a struct's field as rec.spectra), dataset of an HDF5 file, or array of a "
            "zarr group, to denoise."
        ),
    ] = None,
    excitations: Annotated[
        int | None,
        typer.Option(
            help="Excitation lights interleaved row by row in a spectrometer file (.txt, .h5); each is denoised "
            "alone. Default: declared by the file, else detected from the intensity (1: not interleaved).",
            parser=whole_number(1),
            metavar="INTEGER",
        ),
    ] = None,
    to: Annotated[
        ConvertTo | None, typer.Option(help="Write the outputs as npy, tif or h5 instead of the input's format.")
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            help="Samples per second of recordings whose files state none (a file's timestamps or stated rate "
            "stand, and a --rate they contradict fails the file); a recording sampled under 4 Hz warns, as the "
            "spectral model was trained at 5 Hz.",
            parser=number,
            metavar="FLOAT",
        ),
    ] = None,
    nan: NanOption = NanPolicy.refuse,
    spikes: SpikesOption = SpikePolicy.keep,
    threads: ThreadsOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Read and check every input as the run would, and show what would be written, without loading "
            "the model.",
        ),
    ] = False,
    quiet: QuietOption = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout: settings, and per file its outcome.")
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="zarr inputs: threads (default), processes, or a Dask scheduler address (tcp://host:8786).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="zarr inputs: local workers (threads or processes; 1 to 4 x the CPUs).",
            parser=whole_number(),
            metavar="INTEGER",
        ),
    ] = None,
    debug: DebugOption = False,
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

    Every input is opened (format, shape, type) before the model loads, so a bad file is
    reported at once; its values (NaN, infinities) are read as it is denoised, or by --dry-run.
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

    report = Report(quiet=quiet, as_json=json_out, dry_run=dry_run)
    errors_as_json(report if json_out else None)
    setup_logging()
    if overwrite and skip_existing:
        fail("--overwrite and --skip-existing exclude each other; choose one")
    from fluorodn.spectral import rate_refusal

    if rate is not None and (refused := rate_refusal(rate, "--rate")):
        fail(refused)
    check_count("--threads", threads)
    check_count("--workers", workers)
    output = given_path(output_arg, "-o")
    as_folder = output_arg is not None and names_a_folder(str(output_arg))  # Path() drops the trailing /
    if any(p.rstrip("/\\").endswith(".zarr") for p in inputs):
        _refuse_for_zarr(keep_tree=keep_tree, kind=run.kind, dtype=run.dtype, skip_existing=skip_existing,
                         nan=nan, spikes=spikes, dry_run=dry_run, excitations=excitations, to=to,
                         report=make_report)  # fmt: skip
        if output is not None and as_folder and output.suffix != ".zarr":  # into that folder, named by default
            output = output / (Path(inputs[0].rstrip("/\\")).stem + run.suffix + ".zarr")
        _check_model(run.model)
        _denoise_zarr(inputs, output, run, threads, overwrite, scheduler or "threads", workers, debug, report, rate,
                      key)  # fmt: skip
        return
    if scheduler is not None or workers is not None:
        fail("--scheduler and --workers apply to .zarr inputs only; leave them out for other files")
    if keep_tree and output is None:
        fail("--keep-tree keeps the inputs' folders under the -o folder; give -o FOLDER")
    try:
        sources = fio.find_inputs(inputs, run.suffix)
        if key is not None and not any(fio.format_of(s) in ("mat", "hdf5") for s in sources):
            fail("--key picks a variable of a .mat file, a dataset of an HDF5 file or an array of a zarr group, but "
                 "no input is one; leave --key out")  # fmt: skip
        if excitations is not None and not any(fio.format_of(s) in fio.SPECTRAL_FORMATS for s in sources):
            fail("--excitations applies to spectrometer files (.txt, folders of one-spectrum exports, .h5), "
                  "but no input is one; leave --excitations out")  # fmt: skip
        several = len(sources) > 1 or any(
            (Path(p).is_dir() and not is_spectrum_folder(p)) or set(p) & set("*?[") for p in inputs
        )
        to_fmt = None if to is None else to.value
        plans = fio.plan_outputs(sources, output, run.suffix, several=several, keep_tree=keep_tree, to=to_fmt,
                                 folder=as_folder)  # fmt: skip
        _check_plans(plans, with_report=make_report)
        settings = FileSettings(dtype=run.dtype.value, key=key, suffix=run.suffix, overwrite=overwrite, nan=nan.value,
                                spikes=spikes.value, device=run.device.value, excitations=excitations, to=to_fmt,
                                rate=rate)  # fmt: skip
    except FluorodnError as err:
        fail(err)
    # the options every input would run with are checked before the inputs: a refusal of the
    # command comes alone, not after one error per file
    _check_planned_options(run, threads)
    planned = (_planned_kind(run), run.kind.value) if dry_run and to_fmt == "h5" else None
    todo = _check_inputs(plans, settings, skip_existing, report, debug, read_all=dry_run, with_report=make_report,
                         planned=planned)  # fmt: skip
    if dry_run:
        report.model = _planned_model(run)
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
        dn = run_denoiser(run, threads, debug=debug)
        check_user_model(run.model, run.device, dn, report)
    except FluorodnError as err:
        fail(err)
    report.model = model_record(dn)
    how = dn.options.spectral_label() if dn.kind == "spectral" else ""
    weaker = f", {how}" if how else ""
    threads_used = f"{dn.threads} thread{'s' if dn.threads != 1 else ''}"
    from fluorodn.registry import IMAGE_MODEL
    from fluorodn.spectral import looks_spectral, takes_recording

    # image frames go to the image model, loaded when the first comes: said where an input looks like frames
    # (a file that says which axis is time holds recordings, however short)
    framed = any(
        len(h["shape"]) >= 2
        and not (takes_recording if h.get("axes_known") else looks_spectral)(tuple(h["shape"][-2:]))
        for _, _, h in todo
    )
    frames = f"; frames: {IMAGE_MODEL}" if dn.kind == "spectral" and dn.declared_kind == "auto" and framed else ""
    report.note(
        f"model {dn.name} ({dn.precision}{weaker}{frames}) on {dn.provider}, {threads_used}, "
        f"{len(todo)} file{'s' if len(todo) != 1 else ''}"
    )
    with sigterm_interrupts():
        _run_denoise(dn, todo, settings, report, debug, skip_existing, make_report=make_report)
    raise typer.Exit(report.finish())


def _refuse_for_zarr(**given: Any) -> None:
    """Refuse, with a sentence, options given for a .zarr input that its Dask path does not apply."""
    defaults = {"keep_tree": False, "kind": Kind.auto, "dtype": OutDtype.float32, "skip_existing": False,
                "nan": NanPolicy.refuse, "spikes": SpikePolicy.keep, "dry_run": False,
                "excitations": None, "to": None,
                "report": False}  # fmt: skip
    used = [f"--{name.replace('_', '-')}" for name, value in given.items() if value != defaults[name]]
    if used:
        fail(
            f"{', '.join(used)} {'does' if len(used) == 1 else 'do'} not apply to .zarr inputs (denoised with Dask "
            "into a float32 store with the model's default path); leave "
            f"{'it' if len(used) == 1 else 'them'} out"
        )


def _denoise_zarr(inputs: list[str], output: Path | None, run: RunOptions, threads: int | None, overwrite: bool,
                  scheduler: str, workers: int | None, debug: bool, report: Report,
                  rate: float | None = None, key: str | None = None) -> None:  # fmt: skip
    """One zarr array in, one zarr array out, through fluorodn.dask (``rate``: --rate, the
    recording's samples per second, which a zarr store does not state; ``key``: --key, the array's
    path in a zarr group)."""
    from fluorodn.files import check_name_part, inside

    if len(inputs) != 1:
        fail("give one .zarr input at a time (it may be as large as the cluster can hold)")
    src = Path(inputs[0].rstrip("/\\"))
    try:  # a name no file system holds: asking whether it exists would fail
        check_name_length(src, "no input can have that name, so check the path")
        check_name_part(run.suffix, "--suffix")
        dst = output or src.with_name(src.stem + run.suffix + ".zarr")
        check_name_length(dst, "choose a shorter --suffix or -o")
    except FluorodnError as err:
        fail(err)
    if not src.exists():
        fail(f"{src} does not exist; check the path")
    from fluorodn.dask import denoise_zarr
    from fluorodn.denoiser import DenoiserOptions

    options = None
    fields = run.option_fields()
    if threads is not None or run.precision is not Precision.auto or fields != RunOptions().option_fields():
        try:
            options = DenoiserOptions(threads=threads, precision=run.precision.value, **fields)
        except FluorodnError as err:  # options that contradict each other
            fail(err)
    from fluorodn.io import remove_stale_temps

    # what a killed run left beside the output, told here (denoise_zarr's own clearing then finds
    # nothing); never inside the input store, an output there being refused
    removed = [] if inside(dst.parent, src) else remove_stale_temps(dst.parent)
    if removed:
        report.note(f"removed {len(removed)} temporary output{'s' if len(removed) != 1 else ''} left in "
                    f"{dst.parent} by an interrupted run")  # fmt: skip
    messages: list[str] = []
    try:
        check_user_model(run.model, run.device, None, report)
        with collected_warnings() as messages, sigterm_interrupts():
            info = denoise_zarr(src, dst, run.model, run.device.value, scheduler, workers, overwrite,
                                options=options, progress=_bar_shown(report), rate=rate, component=key)  # fmt: skip
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: the store being written was removed
        _zarr_interrupted(report)
    except ImportError as err:
        fail(f"zarr inputs need the dask extra ({err.name} is missing); pip install 'fluorodn[dask]'")
    except Exception as err:  # one line, whatever failed (the JSON document says it too); the traceback with --debug
        if interrupted(err):  # a clean-up the interrupt broke, raising its own error
            _zarr_interrupted(report)
        report.failed(src, dst, err, warnings=messages, debug=debug, fill_hint=False)  # no --nan for stores
        raise typer.Exit(report.finish()) from None
    report.model = {"name": info["model"]}
    report.files.append({"input": str(src), "output": str(dst), "status": "denoised", "seconds": info["seconds"],
                         "shape": list(info["shape"]), "warnings": messages})  # fmt: skip
    report.warn(src, messages)
    if unread := tell_unread(report, options, info["path"], src):
        report.files[-1]["unread_options"] = unread
    report.out(f"{src} -> {dst}")
    ran = f"with model {info['model']} ({scheduler})"
    report.summary_text = f"Denoised {src} -> {dst} in {info['seconds']:.1f} s {ran}."
    raise typer.Exit(report.finish())


def _zarr_interrupted(report: Report) -> NoReturn:
    """End the command on an interrupted .zarr run: one sentence, and the exit code 130."""
    report.to_stderr("fluorodn: interrupted; no partial output is left")
    report.interrupted = True
    raise typer.Exit(report.finish())


def _check_plans(plans: list[tuple[Path, Path]], with_report: bool = False) -> None:
    """Refuse, before any work, an output that is an input (any spelling) or is planned twice, and
    ``with_report`` a report planned twice (``rec.npy`` and ``rec.tif`` write different outputs,
    whose reports share their names)."""
    from fluorodn.errors import OutputExistsError
    from fluorodn.files import identity, same_file
    from fluorodn.report import report_paths

    inputs = {identity(src): src for src, _ in plans}
    seen: dict[str, Path] = {}
    for src, dest in plans:
        for path in (dest, *(report_paths(dest) if with_report else ())):
            real = str(Path(path).resolve())
            if real in seen and path == dest:
                raise OutputExistsError(
                    f"{src} and {seen[real]} would both be written to {path}; give them different -o folders or "
                    "names, or keep their folders with --keep-tree"
                )
            if real in seen:
                raise OutputExistsError(
                    f"the reports of {src} and {seen[real]} would both be written to {path} (their names differ "
                    "only in the extension); report on them in separate runs, into different -o folders"
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
    plans: list[tuple[Path, Path]],
    settings: Any,
    skip_existing: bool,
    report: Report,
    debug: bool,
    read_all: bool = False,
    with_report: bool = False,
    planned: tuple[str | None, str] | None = None,
) -> list[tuple[Path, Path, dict[str, Any]]]:
    """Open every input (headers only, where the format allows) before the model loads.

    Inputs whose output exists are skipped (``--skip-existing``) or fail (without
    ``--overwrite``); inputs that cannot be read fail with their one sentence. ``read_all``
    (``--dry-run``): every page is read and checked as the run reads it (:func:`_read_pages`), so
    that a page that cannot be decoded or holds values the run refuses fails here. ``planned``
    (a dry run with ``--to h5``): the kind of the model the run would load (None: unknown) and the
    kind declared; an input whose pages the run would refuse to write as HDF5 (frames:
    :func:`fluorodn.io.h5_takes`) fails here too. Returns the plans left, each with what its
    header says.
    """
    import numpy as np

    from fluorodn import io as fio
    from fluorodn._engine import colour_layout
    from fluorodn._file_pipeline import file_rate, fill_nonfinite, folder_error
    from fluorodn.errors import InputError

    todo = []
    unwritable: dict[Path, Exception | None] = {}
    for src, dest in plans:
        outputs = [dest, *(_report_outputs(dest) if with_report else ())]
        try:  # a report's name, longer than its output's, may be too long where the output's fits
            for path in outputs[1:]:
                check_name_length(path, "choose a shorter --suffix or -o")
        except FluorodnError as too_long:
            report.failed(src, dest, too_long)
            continue
        there = next((p for p in outputs if p.exists()), None)
        if there is not None and not settings.overwrite:
            if skip_existing and dest.exists():
                report.skipped(src, dest, "output exists")
            elif there != dest:  # an earlier run's report whose output is gone: skipping would lose the file
                report.failed(src, dest, OutputExistsError(
                    f"{there} exists already, but {dest.name} does not; pass --overwrite to replace the report"
                ))  # fmt: skip
            else:
                report.failed(src, dest, OutputExistsError(
                    f"{there} exists already; pass --overwrite to replace it or --skip-existing"))  # fmt: skip
            continue
        # a folder the output cannot be made in fails its files here, before the model loads (once a folder)
        if dest.parent not in unwritable:
            blocked = folder_error(dest.parent)  # a file where the folder would be
            unwritable[dest.parent] = blocked or (
                None if (denied := cannot_write(dest.parent)) is None else write_error(dest, denied)
            )
        if (problem := unwritable[dest.parent]) is not None:
            report.failed(src, dest, problem)
            continue
        try:
            fmt = fio.format_of(src)
            key = settings.key if fmt in ("mat", "hdf5") else None
            excitations = settings.excitations if fmt in fio.SPECTRAL_FORMATS else None
            # what the reader warns of (files it left out of a folder) is told once: by the run, or here by a dry run
            with (
                collected_warnings() as messages,
                contextlib.closing(fio.open_recording(src, key=key, excitations=excitations)) as rec,
            ):
                header = {"shape": list(rec.shape), "dtype": str(rec.dtype), "pages": rec.n_pages,
                          "axes_known": bool(getattr(rec, "axes_known", False))}  # fmt: skip
                if (colour := colour_layout(tuple(rec.shape))) is not None:
                    raise InputError(colour)
                if with_report:
                    from fluorodn.report import too_short

                    if (why := too_short((rec.n_pages, *rec.page_shape))) is not None:
                        raise InputError(f"--report: {why}; leave --report out for this file")
                file_rate(rec, settings.rate, src)  # a --rate the file contradicts fails the file now
                if isinstance(rec, fio.MatRecording) and settings.to is None:  # a variable the output would lose
                    rec.check_output_name(f"{rec.key}{settings.suffix}")
                if isinstance(rec, fio.SpectralRecording):  # what its timestamps say: rate, jitter, dropped frames
                    report.note(rec.file.describe())
                if read_all:
                    _read_pages(rec, settings.nan)
                if planned is not None and planned[0] is not None:  # --to h5 in a dry run: what the run will refuse
                    first = next(iter(rec.pages()), None)
                    if first is not None and settings.nan == "fill":  # the page as the run gives it
                        first = fill_nonfinite(np.asarray(first))[0]
                    if not fio.h5_takes(rec, planned[0], planned[1], None if first is None else np.asarray(first)):
                        raise fio.h5_frames_error(rec)
            if read_all:
                report.warn(src, messages)
        except Exception as err:  # any failure to read is this input's one line
            report.failed(src, dest, err, debug=debug)
            continue
        todo.append((src, dest, header))
    return todo


def _read_pages(rec: Any, nan: str) -> None:
    """Read every page of an open recording as a run does, decoding each, and check it as the
    denoiser will: real numbers, and finite unless ``nan`` is ``"fill"``, where the values that
    are not finite must be bridgeable (:func:`fluorodn._file_pipeline.fill_nonfinite`). Raises the
    error the run would, naming the page of a stack."""
    import numpy as np

    from fluorodn._engine import check_input
    from fluorodn._file_pipeline import fill_nonfinite
    from fluorodn.errors import FileFormatError

    for k, page in enumerate(rec.pages()):
        arr = np.asarray(page)
        where = f"page index {k}: "  # as the run's stream names a page
        try:
            if nan == "fill":
                arr, _ = fill_nonfinite(arr)
            check_input(arr, ndims=(2,))
        except FluorodnError as err:
            raise FileFormatError(f"{where}{err}") from None
        except ValueError as err:
            raise ValueError(f"{where}{err}") from None


def _report_outputs(dest: Path) -> tuple[Path, Path]:
    """--report's two files beside ``dest``: outputs too, checked before anything is written."""
    from fluorodn.report import report_paths

    return report_paths(dest)


def _bar_shown(report: Report) -> bool:
    """Whether a progress bar that writes to stdout (dask's, for .zarr stores) is shown: on a
    terminal, and not with --quiet or --json."""
    import sys

    return not (report.quiet or report.as_json) and sys.stdout.isatty()


@functools.lru_cache(maxsize=1)
def _planned(model: str, kind: str, precision: str, device: str) -> Any:
    """For --dry-run: the resolution of the model file the run would load (read and hash-checked,
    not loaded into a session): ``--kind image`` with the default model loads the image model, as
    :class:`fluorodn.Denoiser` does. Read once for both :func:`_planned_kind` and
    :func:`_planned_model`; FluorodnError as the run would refuse it."""
    from fluorodn.denoiser import IMAGE_MODEL
    from fluorodn.registry import resolve
    from fluorodn.session import _ort

    model = IMAGE_MODEL if kind == "image" and model == "default" else model
    return resolve(model, precision, device, _ort().get_available_providers())


def _planned_kind(run: RunOptions) -> str | None:
    """For --dry-run: the kind (``"image"`` or ``"spectral"``) of the model the run would load, as
    its card states it; None for a user's model file (its metadata is read when it loads) or one
    that cannot be resolved (:func:`_planned_model` says why)."""
    try:
        meta = _planned(run.model, run.kind.value, run.precision.value, run.device.value).source.metadata
    except FluorodnError:
        return None
    return None if meta is None else str(meta.get("kind", "image"))


def _check_model(model: str) -> None:
    """Refuse a model that no name or path finds (:func:`fluorodn.registry.check_model`), before an
    output that exists is named: the mistake to fix first."""
    from fluorodn.registry import check_model

    try:
        check_model(model)
    except FluorodnError as err:
        fail(err)


def _check_planned_options(run: RunOptions, threads: int | None) -> None:
    """Before any input is read: refuse the options the run would refuse (contradicting each other, a model
    that no name or path finds, or unread by the one path every input takes on the planned model,
    :func:`fluorodn.denoiser.unread_refusal`; the model is resolved for that only where an option one path
    does not read was given)."""
    from fluorodn.denoiser import DenoiserOptions, unread_refusal

    try:
        options = DenoiserOptions(threads=threads, precision=run.precision.value, **run.option_fields())
    except ValueError as err:  # InputError: options that contradict each other
        fail(err)
    _check_model(run.model)
    if not (options.unread_by("spectral") or options.unread_by("image")):
        return
    try:
        name = _planned_record(run)["name"]
    except FluorodnError:
        return
    # a user's model file is read when it loads: its kind unknown here, --kind spectral refuses alike
    kind = _planned_kind(run) or ("spectral" if run.kind.value == "spectral" else None)
    if kind is not None and (refusal := unread_refusal(options, name, kind, run.kind.value)):
        fail(refusal)


def _planned_model(run: RunOptions) -> dict[str, Any]:
    """For --dry-run: :func:`_planned_record`, refused as the run would refuse it (an unknown name, a
    precision the device lacks)."""
    try:
        return _planned_record(run)
    except FluorodnError as err:
        fail(err)


def _planned_record(run: RunOptions) -> dict[str, Any]:
    """The model file the run would load (:func:`_planned`); FluorodnError where it would refuse it."""
    res = _planned(run.model, run.kind.value, run.precision.value, run.device.value)
    return {"name": res.source.name, "file": res.source.path.name, "sha256": res.source.sha256,
            "precision": run.precision.value, "device": run.device.value, "kind": run.kind.value}  # fmt: skip


def _run_denoise(dn: Any, todo: list[tuple[Path, Path, dict[str, Any]]], settings: Any, report: Report,
                 debug: bool, skip_existing: bool, make_report: bool = False) -> None:  # fmt: skip
    from fluorodn._progress import LazyProgress

    progress = LazyProgress(enabled=not (report.quiet or report.as_json))
    report.to_stderr = progress.print_error
    try:
        with progress:
            for i, (src, dest, header) in enumerate(todo, 1):
                result, messages, err = denoise_one(dn, src, dest, settings, progress, f"[{i}/{len(todo)}] {src.name}")
                if err is None:
                    report.done(result, messages)
                    if unread := tell_unread(report, dn.options, page_path(result), result.source):
                        report.files[-1]["unread_options"] = unread
                    if make_report:
                        started = time.perf_counter()
                        _write_file_report(result, settings, messages, report, debug)
                        report.reports_s += time.perf_counter() - started
                elif isinstance(err, OutputExistsError) and skip_existing and dest.exists():
                    report.skipped(src, dest, "output exists")  # another process wrote it in the meantime
                else:
                    rows, cols = header["shape"][-2:]
                    report.failed(src, dest, err, warnings=messages, shape=(rows, cols), debug=debug)
    except KeyboardInterrupt:
        report.to_stderr("fluorodn: interrupted; no partial output is left")
        report.interrupted = True
    finally:
        report.to_stderr = lambda text: typer.echo(text, err=True)


def _write_file_report(result: Any, settings: Any, messages: list[str], report: Report,
                       debug: bool) -> None:  # fmt: skip
    """Write the report beside one output, with the provenance its file records; its failure is an
    error of that file."""
    from fluorodn import io as fio
    from fluorodn.report import report_files, report_paths

    src, dest = result.source, result.output
    try:
        fmt = fio.format_of(src)
        key = settings.key if fmt in ("mat", "hdf5") else None
        denoised_key = None
        if settings.to is None and fmt == "mat":
            with contextlib.closing(fio.MatRecording(src, key=settings.key)) as mat:  # its header, not its pages
                key = mat.key  # the variable denoised, for the output's <key><suffix>
            denoised_key = f"{key}{settings.suffix}"
        html_path, _ = report_files(src, dest, report_paths(dest)[0], key=key, denoised_key=denoised_key,
                                    provenance=result.provenance, warnings=messages,
                                    overwrite=settings.overwrite)  # fmt: skip
    except Exception as err:  # the output is written; the report's failure is told, and makes the run fail
        report.files[-1].update(status="failed", error=f"{src}: report not written ({as_flags(str(err))})")
        report.to_stderr(f"fluorodn: error: {src}: the report was not written ({as_flags(' '.join(str(err).split()))})")
        if debug:
            report.to_stderr(format_traceback(err))
        return
    report.files[-1]["report"] = str(html_path)
    report.out(f"{src} -> {html_path}")
