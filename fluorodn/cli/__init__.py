"""The ``fluorodn`` command: denoise, watch, unmix, models, info, example.

Each command is a thin layer over the library. User mistakes (a missing file, an
unknown model, an existing output) end in one sentence on stderr and exit code 1,
without a traceback; ``--version`` answers without importing numpy or onnxruntime.
Results go to stdout (one line per output and a summary, or one JSON document with
``--json``); progress, notes, warnings and errors go to stderr. Ctrl-C while the command
starts (its modules imported) ends it quietly with exit code 130, as it does once it runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Annotated, Any

try:
    import typer
    from typer.core import TyperGroup

    from fluorodn import __version__
except KeyboardInterrupt:  # Ctrl-C while the command starts
    raise SystemExit(130) from None

__all__ = ["app", "main"]


class _Commands(TyperGroup):
    """The commands, each of which ends in one sentence where the system refuses a file or folder
    (permission denied, a name too long, an input/output error) beyond the checks it makes."""

    def invoke(self, ctx: Any) -> Any:  # ctx: the click Context typer passes
        import errno
        import sys

        try:
            return super().invoke(ctx)
        except OSError as err:
            # a closed pipe (| head) ends quietly, as click ends it; --debug keeps the traceback
            if err.errno == errno.EPIPE or "--debug" in sys.argv[1:]:
                raise
            from fluorodn.cli._common import fail, system_refusal

            fail(system_refusal(err))


app = typer.Typer(
    name="fluorodn",
    cls=_Commands,
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
    from fluorodn.cli._common import errors_as_json

    errors_as_json(None)  # a command with --json sets its own report


def main() -> None:
    """Entry point of the ``fluorodn`` script."""
    try:
        app(prog_name="fluorodn")
    except KeyboardInterrupt:  # before the command runs (typer ends one interrupted while it runs with 130)
        raise SystemExit(130) from None


# each command registers itself on ``app`` when its module is imported, in the order help lists them
try:
    for _module in ("denoise", "watch", "models", "unmix"):
        import_module(f"{__name__}.{_module}")
except KeyboardInterrupt:  # Ctrl-C while the command starts
    raise SystemExit(130) from None
