"""``fluorodn models``, ``fluorodn info`` and ``fluorodn example``: what is installed, and a recording to try."""

from __future__ import annotations

import platform
import re
import shlex
import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from fluorodn import __version__
from fluorodn.cli import app
from fluorodn.cli._common import as_given, check_count, fail, make_denoiser, names_a_folder, setup_logging
from fluorodn.cli._options import Device, Precision, PrecisionOption, whole_number
from fluorodn.errors import DeviceError, FluorodnError
from fluorodn.files import check_name_length


@app.command()
def models() -> None:
    """List the shipped models and their metadata."""
    from rich.console import Console
    from rich.table import Table

    from fluorodn.registry import IMAGE_MODEL, available_models, default_name, models_dir

    try:
        cards = available_models()
    except FluorodnError as err:
        fail(err)
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
            _noise_cell(card),
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


def _noise_cell(card: dict[str, object]) -> str:
    """The noise scales a model was trained on: their range (blind for a spectral model, which is
    told each trace's level), else its one scale."""
    span = card.get("noise_scale_range")
    if isinstance(span, list | tuple) and len(span) == 2:
        return f"{span[0]:g}-{span[1]:g}" + (" (blind)" if card.get("kind") == "spectral" else "")
    return str(card.get("noise_scale", ""))


def _default_mark(name: str, default: str, image_model: str) -> str:
    if name == default:
        return " (default)"
    return " (default for images)" if name == image_model else ""


@app.command()
def info(
    model: Annotated[str, typer.Option("--model", "-m", help="Model to load for the device check.")] = "default",
    device: Annotated[Device, typer.Option(help="Device to check.")] = Device.auto,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads (1 to 4 x the CPUs).", parser=whole_number(), metavar="INTEGER")
    ] = None,
    precision: PrecisionOption = Precision.auto,
) -> None:
    """Show versions, onnxruntime providers, and the device, precision and threads fluorodn would use."""
    from fluorodn.denoiser import physical_cores
    from fluorodn.registry import model_names, models_dir
    from fluorodn.session import _ort, ort_packages

    setup_logging()
    check_count("--threads", threads)
    try:
        onnxruntime = _ort()
    except FluorodnError as err:
        fail(err)
    packages = ort_packages()
    dist = " and ".join(packages) or "onnxruntime"
    typer.echo(f"fluorodn      {__version__} ({Path(__file__).parents[1]})")
    typer.echo(f"python        {platform.python_version()} ({platform.system()} {platform.machine()})")
    typer.echo(f"onnxruntime   {onnxruntime.__version__} (package {dist})")
    typer.echo(f"providers     {', '.join(onnxruntime.get_available_providers())}")
    if len(packages) > 1:
        typer.echo(
            "fluorodn: warning: onnxruntime and onnxruntime-gpu are both installed: they write the same files and "
            "the last installed wins, so the CUDA provider may be missing; pip uninstall -y onnxruntime "
            "onnxruntime-gpu, then pip install onnxruntime-gpu",
            err=True,
        )
    typer.echo(f"models        {', '.join(model_names()) or 'none'} ({models_dir() or 'no models folder'})")
    typer.echo(f"cpu cores     {physical_cores()} physical")
    try:
        dn = make_denoiser(model, device, threads, precision)
    except DeviceError as err:
        typer.echo(f"device        {device.value}: not usable")
        fail(err)
    except FluorodnError as err:
        fail(err)
    typer.echo(f"device        {device.value} -> {dn.provider} (model {dn.name})")
    if device is Device.auto and dn.cuda_available and dn.provider != "CUDAExecutionProvider":
        typer.echo("              CUDA is installed but not usable: 'fluorodn info --device cuda' says why")
    typer.echo(f"precision     {dn.precision} (asked: {precision.value})")
    typer.echo(f"threads       {dn.threads}")


@app.command()
def example(
    where: Annotated[
        Path,
        typer.Argument(
            help="Where to write the example recording: a .tif name, or a folder.",
            metavar="PATH",
            parser=as_given,  # the text as typed: a trailing / says folder
        ),
    ] = Path("example.tif"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Copy the example recording shipped with fluorodn (a TIFF) to PATH."""
    from fluorodn.io import atomic_output

    if not str(where).strip():  # Path("") is the current folder: never what an empty name meant
        fail("PATH is an empty name (an unset variable in a script?); give a .tif name or a folder, or leave it out")
    source = resources.files("fluorodn") / "data" / "example.tif"
    if not source.is_file():
        fail("this installation has no example recording (fluorodn/data/example.tif is missing); reinstall fluorodn")
    try:  # a name no file system holds: asking whether it is a folder would fail
        path = check_name_length(where, "give a shorter PATH")
    except FluorodnError as err:
        fail(err)
    if names_a_folder(str(where)) or path.is_dir():  # a folder, written as one or there already
        path = path / "example.tif"
    elif path.suffix.lower() not in (".tif", ".tiff"):
        fail(f"the example recording is a TIFF, so {where} needs a .tif name (e.g. {path.with_suffix('.tif')}), "
             "or give a folder ending in /")  # fmt: skip
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(f"cannot write {path}: making its folder failed ({err.strerror or err}); give a PATH in a writable folder")
    try:
        with resources.as_file(source) as src, atomic_output(path, overwrite=overwrite) as tmp:
            shutil.copyfile(src, tmp)
    except (FluorodnError, OSError) as err:
        fail(_as_example_options(str(err)))
    typer.echo(f"Wrote {path}; denoise it with: fluorodn denoise {shlex.quote(str(path))}")
    quoted = shlex.quote(str(path))
    typer.echo(f"Its sensor's trace, hemoglobin and brightness with: fluorodn unmix {quoted} --sensor example")


#: What the library's errors suggest, as ``fluorodn example`` offers it: it writes one file, to
#: PATH, and has --overwrite but no -o or --skip-existing.
_EXAMPLE_OPTIONS = {
    r"pass overwrite=True to replace it or skip this input": "pass --overwrite to replace it, or give another PATH",
    r"choose a writable output folder with free space \(output=\.\.\.\)": (
        "give a PATH in a writable folder with free space"
    ),
    r"output=\.\.\.": "PATH",
}


def _as_example_options(message: str) -> str:
    """A library error's message with its advice given as ``fluorodn example``'s own argument and options."""
    for pattern, advice in _EXAMPLE_OPTIONS.items():
        message = re.sub(pattern, advice, message)
    return message
