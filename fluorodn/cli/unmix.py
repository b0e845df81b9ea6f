"""``fluorodn unmix`` and ``fluorodn report``: the sensor's trace of a recording, and what denoising removed."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from fluorodn.cli import app
from fluorodn.cli._common import (
    as_flags,
    as_given,
    fail,
    format_traceback,
    given_path,
    make_folder,
    setup_logging,
    sigterm_interrupts,
)
from fluorodn.cli._options import DebugOption, NanPolicy, SpectralOnlyOption, number, share, whole_number
from fluorodn.errors import FluorodnError

_UNMIX_EXAMPLES = (
    "\b\n"
    "Examples:\n"
    "  fluorodn unmix example.tif --sensor example          -> example_unmixed.csv\n"
    "  fluorodn unmix rec.npy --sensor s.csv --wavelengths 477:595 --rate 5\n"
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
    strength: Annotated[
        float,
        typer.Option(
            "--strength",
            parser=number,
            metavar="FLOAT",
            callback=share,
            help="How much noise the denoising removes over time, 0-1 (as for denoise): lower values keep "
            "events' rises for event detection, at the price of coherence.",
        ),
    ] = 1.0,
    round_onsets: Annotated[
        bool,
        typer.Option(
            "--round-onsets",
            help="Denoise with the full network at the events' rises too (as for denoise): a little more "
            "coherence, events' onsets rounded.",
        ),
    ] = False,
    spectral_only: SpectralOnlyOption = False,
    rate: Annotated[
        float | None,
        typer.Option(
            help="Samples per second, for time_s. Default: from the file's metadata, else time_s is empty.",
            parser=number,
            metavar="FLOAT",
        ),
    ] = None,
    dark: Annotated[
        str | None,
        typer.Option(
            help="Dark level subtracted first: counts, or a one-column CSV (one per bin). Default: the level the "
            "file states (a TIFF's dark_counts), else none."
        ),
    ] = None,
    refine: Annotated[
        bool, typer.Option("--refine", help="Fit the full nonlinear model per sample too (scipy; ~1 ms/sample).")
    ] = False,
    nan: Annotated[
        NanPolicy,
        typer.Option(
            help="NaN/inf values. refuse: the file fails; fill: interpolate over them along time, bin by bin, "
            "before unmixing (a warning says how many and where)."
        ),
    ] = NanPolicy.refuse,
    key: Annotated[
        str | None,
        typer.Option(help="Variable of a .mat file (a struct's field as rec.spectra), or dataset of an HDF5 file."),
    ] = None,
    channel: Annotated[
        int | None,
        typer.Option(
            help="The channel of a file that holds several (a spectrometer file's interleaved excitations or "
            "HDF5 Channel1..N, a stack's pages, a converted TIFF's excitations), by its index from 0, as the error "
            "naming them lists them.",
            parser=whole_number(0),
            metavar="<int>",
        ),
    ] = None,
    excitations: Annotated[
        int | None,
        typer.Option(
            help="Interleaved excitations of a spectrometer file (rows alternating between light sources), "
            "where detection cannot tell. Default: detected.",
            parser=whole_number(1),
            metavar="<int>",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output .csv, .parquet or .nwb (fluorodn[nwb]). Default: <input>_unmixed.csv (with --channel K: "
            "<input>_channelK_unmixed.csv).",
            parser=as_given,  # an empty name is refused, not taken for the current folder
            metavar="<path>",
        ),
    ] = None,
    guppy: Annotated[
        Path | None,
        typer.Option(
            help="Also write the traces into this folder as GuPPy CSV files (timestamps,data,sampling_rate); "
            "GuPPy's signal is sensor_ff0.csv (F/F0 of the sensor), with no isosbestic control."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    debug: DebugOption = False,
) -> None:
    """Unmix a recording: per time sample, the sensor's trace, hemoglobin, offset and gain.

    Writes one row per sample: sample, time_s, sensor, hbo2, hb, offset, residual_rms,
    gain (README, "Unmixing"). Everything is checked before the output is written.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from fluorodn.denoiser import Denoiser, DenoiserOptions
    from fluorodn.spectral import rate_refusal
    from fluorodn.unmixing import DarkLevelNotice, unmix_file

    setup_logging()
    if rate is not None and (refused := rate_refusal(rate, "--rate")):  # before it is compared with a file's
        fail(refused)
    output = given_path(output, "-o")
    denoising = {"--model": model is not None, "--strength": strength != 1.0, "--round-onsets": round_onsets,
                 "--spectral-only": spectral_only}  # fmt: skip
    for flag in (flag for flag, given in denoising.items() if given and not denoise):
        fail(f"{flag} sets how unmix denoises, but --no-denoise skips denoising; leave one of them out")
    opts = None
    if denoise and (strength != 1.0 or round_onsets or spectral_only):
        try:
            opts = DenoiserOptions(strength=strength, keep_onsets=not round_onsets, spectral_only=spectral_only)
        except ValueError as err:  # options that contradict each other
            fail(err)
    if not recording.exists():  # before anything is read of it
        fail(f"input {recording} does not exist; check the path")
    if output is not None:
        make_folder(output.parent)
    t0 = time.perf_counter()
    console = Console(stderr=True)
    bar = Progress("refining", BarColumn(), MofNCompleteColumn(), "samples", TimeRemainingColumn(), console=console,
                   disable=not (refine and console.is_terminal), transient=True)  # fmt: skip
    task = bar.add_task("refine", total=None)
    try:
        with sigterm_interrupts(), bar, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            how: Any = (model or True) if denoise else False
            if opts is not None:
                how = Denoiser(model or "default", options=opts)
            res, dest = unmix_file(
                recording, sensor, wavelengths, output=output, denoise=how,
                rate=rate, refine=refine, dark=dark, key=key, overwrite=overwrite, guppy=guppy, nan=nan.value,
                excitations=excitations, channel=channel,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: what was being written is removed, what it replaced kept
        typer.echo("fluorodn: interrupted; no output was left half written", err=True)
        raise typer.Exit(130) from None
    except (FluorodnError, ValueError) as err:
        message = " ".join(str(err).split())
        fail(message if str(recording) in message else f"{recording}: {message}")
    except Exception as err:  # not foreseen: one line, the traceback with --debug
        if debug:
            typer.echo(format_traceback(err), err=True)
        fail(f"{recording}: could not be unmixed ({type(err).__name__}: {err}); run with --debug for the traceback")
    lines: dict[str, None] = {}  # a notice (no dark level given) as a note, the others as warnings
    for w in caught:
        text = as_flags(" ".join(str(w.message).split()))
        kind = "note" if issubclass(w.category, DarkLevelNotice) else "warning"
        lines[f"fluorodn: {kind}: {recording}: {text}"] = None
    for line in lines:
        typer.echo(line, err=True)
    if res.timing is not None:  # what the file's timestamps say, as denoise notes it
        typer.echo(f"fluorodn: {recording}: {res.timing.describe()}", err=True)
    from fluorodn.formats.nwb import CLOCK_LEAD_S

    origin, nwb = res.time_origin_s, dest.suffix.lower() == ".nwb"
    if origin and not (nwb and 0 < origin <= CLOCK_LEAD_S):  # times from the first sample: where it stands
        on_clock = " (the GuPPy files' timestamps are on that clock)" if guppy else ""
        typer.echo(f"fluorodn: note: {recording}: its Time axis starts at {origin:.15g} s, and the "
                   f"{'NWB file' if nwb else 'table'}'s times count from that first sample; add {origin:.15g} s to "
                   f"them to align events timed on the file's clock{on_clock}", err=True)  # fmt: skip
    if res.time_s is None:
        typer.echo("fluorodn: note: time_s is empty (the file stores no rate); give --rate HZ to fill it", err=True)
    how = f"denoised with {res.denoised_with}" if res.denoised_with else "not denoised"
    if res.input_denoising is not None:  # a file fluorodn denoised, unmixed as it is
        how = f"not denoised again: the file was denoised by fluorodn with {res.input_denoising.get('model')}"
    fit = "refined" if res.refined else "linear"
    stated = ", the dark level the file states" if dark is None and res.dark is not None else ""
    typer.echo(f"Unmixed {recording} -> {dest} ({len(res.sensor)} samples, {how}, {fit} fit{stated}, "
               f"{time.perf_counter() - t0:.1f} s).")  # fmt: skip


_REPORT_EXAMPLES = (
    "\b\n"
    "Examples:\n"
    "  fluorodn report rec.tif rec_denoised.tif                      -> rec_denoised_report.html, .json\n"
    "  fluorodn report rec.npy rec_denoised.npy --sensor s.csv --wavelengths 477:595 --rate 5 -o r.html"
)


@app.command(epilog=_REPORT_EXAMPLES)
def report(
    noisy: Annotated[
        Path,
        typer.Argument(
            help="The recording as acquired (a file, or a folder of one-spectrum OceanView exports).",
            readable=False,  # checked by the command, in one sentence
            show_default=False,
        ),
    ],
    denoised: Annotated[Path, typer.Argument(help="Its denoised version.", readable=False, show_default=False)],
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
    rate: Annotated[
        float | None,
        typer.Option(help="Samples per second. Default: from the file, if stated.", parser=number, metavar="FLOAT"),
    ] = None,
    dark: Annotated[
        str | None,
        typer.Option(
            help="With --sensor: the dark level subtracted before unmixing, counts or a one-column CSV (one per "
            "bin), as for unmix. Default: the level the recording states (a TIFF's dark_counts), else none."
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="Variable of a .mat file (a struct's field as rec.spectra), or dataset of an HDF5 file (if it "
            "holds several)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output .html. Default: <denoised>_report.html.",
            parser=as_given,  # an empty name is refused, not taken for the current folder
            metavar="<path>",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing report.")] = False,
) -> None:
    """Report what denoising removed: a self-contained HTML file and a JSON summary beside it.

    Noise per wavelength bin before and after, the whiteness and spectral structure of the
    removed component, images of a segment, and with --sensor the unmixed traces. Where the
    recording shows what costs events on the denoised output (fast hemodynamics; small, frequent
    events), the report and a warning line say so, for the settings the denoised file records.
    """
    from fluorodn.report import report_files

    setup_logging()
    for given in (noisy, denoised):
        if not given.exists():
            fail(f"{given} does not exist; check the path")
    output = given_path(output, "-o")
    if output is not None and output.suffix.lower() not in (".html", ".htm"):
        fail(f"the report is an HTML file; give -o a name ending in .html, not {output.name}")
    if dark is not None and sensor is None:
        fail("--dark is the dark level of the sensor's unmixing; give --sensor too, or leave --dark out")
    if output is not None:
        make_folder(output.parent)
    cautions: list[str] = []

    def told(message: str) -> str:  # each caution the report shows, also on the terminal
        cautions.append(as_flags(" ".join(message.split())))
        return cautions[-1]

    try:
        html_path, json_path = report_files(noisy, denoised, output, key=key, wavelengths=wavelengths, sensor=sensor,
                                            rate=rate, reword=told, overwrite=overwrite, dark=dark)  # fmt: skip
    except (FluorodnError, ValueError) as err:  # report has --overwrite and -o, no --skip-existing
        fail(as_flags(" ".join(str(err).split()).replace("or skip this input", "or give another -o")))
    for message in dict.fromkeys(cautions):  # a caution of several pages once
        typer.echo(f"fluorodn: warning: {noisy}: {message}", err=True)
    if os.path.samefile(noisy, denoised):  # a mistake more often than a check: said beside the verdict
        typer.echo(f"fluorodn: warning: {noisy} is given twice, as the recording and as its denoised version: "
                   "the report says nothing was removed", err=True)  # fmt: skip
    typer.echo(f"Report {html_path} (summary {json_path}).")
