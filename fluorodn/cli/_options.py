"""The commands' choices and the options several commands declare alike.

:class:`RunOptions` groups the options that pick the model, where it runs and how its
outputs are written; :func:`with_run_options` declares them, once, on ``denoise`` and
``watch``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

import typer

from fluorodn.precision import Precision

__all__ = [
    "ConvertTo",
    "DebugOption",
    "Device",
    "Kind",
    "NanOption",
    "NanPolicy",
    "OutDtype",
    "Precision",
    "PrecisionOption",
    "QuietOption",
    "RunOptions",
    "SpikePolicy",
    "SpikesOption",
    "ThreadsOption",
    "number",
    "whole_number",
    "with_run_options",
]


def whole_number(least: int | None = None) -> Callable[[str], int]:
    """A ``typer`` ``parser=`` for a whole-number option (of ``least`` or more), whose refusal is
    one sentence in the option's terms (not the type converter's)."""

    def parse(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise typer.BadParameter(f"must be a whole number, not {text!r}") from None
        if least is not None and value < least:
            raise typer.BadParameter(f"must be {least} or more, not {value}")
        return value

    return parse


def number(text: str) -> float:
    """A ``typer`` ``parser=`` for a number option, refused in one sentence where it is none."""
    try:
        return float(str(text).strip())
    except ValueError:
        raise typer.BadParameter(f"must be a number, not {text!r}") from None


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


_PRECISION_HELP = (
    "auto: the model's int8 variant on the CPU where shipped and measured at least 1.5x faster, else fp32; "
    "fp32; int8 (CPU only)."
)


class Kind(str, Enum):
    auto = "auto"
    spectral = "spectral"
    image = "image"


_KIND_HELP = (
    "What the inputs are. auto: a 2D recording with 24-1024 columns and at least twice as many rows, or "
    "fewer whose rows are all one spectrum, is a time x wavelength recording (spectral model), anything else "
    "frames (image model); spectral or image: declare it."
)


class NanPolicy(str, Enum):
    refuse = "refuse"
    fill = "fill"


_NAN_HELP = (
    "NaN/inf values. refuse: the file fails; fill: interpolate over them along time (the first axis of each "
    "page) for the network, and put them back in the output."
)


class SpikePolicy(str, Enum):
    keep = "keep"
    fill = "fill"


_SPIKES_HELP = (
    "Isolated spikes in spectral recordings (one or two values far beyond their neighbours in time and "
    "wavelength: cosmic rays, detector glitches). keep: denoise as recorded (the spectral path names them); "
    "fill: replace each by the mean of its neighbours in time first (frames are left as they are)."
)


class OutDtype(str, Enum):
    float32 = "float32"
    same = "same"


#: The options of :class:`RunOptions` as the command line declares them (``--precision`` also by ``info``).
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
#: Options that several commands declare alike.
NanOption = Annotated[NanPolicy, typer.Option(help=_NAN_HELP)]
SpikesOption = Annotated[SpikePolicy, typer.Option(help=_SPIKES_HELP)]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        help="CPU threads (1 to 4 x the CPUs). Default: the physical cores.", parser=whole_number(), metavar="INTEGER"
    ),
]
KeepPatternOption = Annotated[
    bool,
    typer.Option(
        "--keep-fixed-pattern",
        help="Spectral recordings: keep each bin's time mean as it is (by default the detector's per-bin fixed "
        "pattern, constant in time and not smooth across bins, is removed).",
    ),
]
SpectralOnlyOption = Annotated[
    bool,
    typer.Option(
        "--spectral-only",
        help="Spectral recordings: denoise across wavelength only (the projection onto the recording's "
        "spectra), nothing over time, so every event keeps its recorded time course. For event counts "
        "at high noise with slow rises, where the default can merge close events.",
    ),
]


def share(value: float) -> float:
    """A 0-1 option (``--strength``), refused with the range it takes, NaN included."""
    if not 0.0 <= value <= 1.0:  # False for NaN
        raise typer.BadParameter(f"must be a number from 0 to 1, not {value:g}")
    return value


StrengthOption = Annotated[
    float,
    typer.Option(
        "--strength",
        parser=number,
        metavar="FLOAT",
        callback=share,
        help="Spectral recordings: how much noise the network removes over time, 0-1 (default 1). Lower "
        "values smooth less: events keep sharper rises and close events stay apart, at the price of "
        "coherence; 0 is --spectral-only. Frames are denoised without it (noted); refused with an image "
        "model or --kind image.",
    ),
]
RoundOnsetsOption = Annotated[
    bool,
    typer.Option(
        "--round-onsets",
        help="Spectral recordings: the full network everywhere, the events' rises included. By default a "
        "weaker denoising is taken around them, so that events keep sharper onsets and close events stay "
        "apart at high noise with slow rises; this gives a little more coherence instead. Frames are "
        "denoised without it (noted); refused with an image model or --kind image.",
    ),
]
SelfEnsembleOption = Annotated[
    bool,
    typer.Option(
        "--self-ensemble",
        help="Images: average the network over each page's 8 rotations and mirror images, 0.8-0.9x the "
        "error at 8x the run time. Spectral recordings are denoised without it (noted); refused with "
        "--kind spectral.",
    ),
]
FlattenSpotsOption = Annotated[
    bool,
    typer.Option(
        "--flatten-spots",
        help="Images: leave the network's output where it flattened small bright spots (point-like "
        "puncta, which the image models never saw). By default what it removed from them is put back, "
        "so spots keep their intensity (with the input's noise on them), and a warning says so (not on "
        "a single frame of a .zarr store, denoised in chunks). Spectral recordings are denoised without it "
        "(noted); refused with --kind spectral.",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings and errors.")]
DebugOption = Annotated[
    bool, typer.Option("--debug", help="Show the traceback of an unexpected error after its one-line message.")
]


class ConvertTo(str, Enum):
    npy = "npy"
    tif = "tif"
    h5 = "h5"


@dataclass(frozen=True)
class RunOptions:
    """The model (name or path), what the inputs are, the device and precision it runs on,
    and the outputs' type and file-name suffix."""

    model: str = "default"
    kind: Kind = Kind.auto
    device: Device = Device.auto
    precision: Precision = Precision.auto
    dtype: OutDtype = OutDtype.float32
    suffix: str = "_denoised"
    keep_fixed_pattern: bool = False
    spectral_only: bool = False
    strength: float = 1.0
    round_onsets: bool = False
    self_ensemble: bool = False
    flatten_spots: bool = False

    def option_fields(self) -> dict[str, Any]:
        """The :class:`fluorodn.DenoiserOptions` fields these options set, besides threads and precision."""
        return {
            "keep_fixed_pattern": self.keep_fixed_pattern,
            "spectral_only": self.spectral_only,
            "strength": self.strength,
            "keep_onsets": not self.round_onsets,
            "self_ensemble": self.self_ensemble,
            "keep_spots": not self.flatten_spots,
        }


#: How each field of :class:`RunOptions` is declared on the command line.
_RUN_OPTIONS = {
    "model": ModelOption,
    "kind": KindOption,
    "device": DeviceOption,
    "precision": PrecisionOption,
    "dtype": DtypeOption,
    "suffix": SuffixOption,
    "keep_fixed_pattern": KeepPatternOption,
    "spectral_only": SpectralOnlyOption,
    "strength": StrengthOption,
    "round_onsets": RoundOnsetsOption,
    "self_ensemble": SelfEnsembleOption,
    "flatten_spots": FlattenSpotsOption,
}


def with_run_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with the options of :class:`RunOptions` in place of its keyword-only
    parameter ``run``: the command line lists them there, in their order, with their
    defaults, and ``command`` receives their values as one ``run``."""
    signature = inspect.signature(command, eval_str=True)
    group = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=_RUN_OPTIONS[f.name])
        for f in dataclasses.fields(RunOptions)
    ]
    parameters = [q for p in signature.parameters.values() for q in (group if p.name == "run" else [p])]

    @functools.wraps(command)
    def run_command(**given: Any) -> None:
        run = RunOptions(**{p.name: given.pop(p.name) for p in group})
        command(run=run, **given)

    run_command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return run_command
