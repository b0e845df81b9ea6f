"""Command line of the training side: ``python -m fluorodn_train fit|qat|export|quantize|example``."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

T = TypeVar("T")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Train DnCNN denoisers on synthetic recordings and export them to ONNX.",
)


@app.callback()
def main() -> None:
    """Train DnCNN denoisers on synthetic recordings and export them to ONNX."""


def _command(ctx: typer.Context, skip: tuple[str, ...] = ()) -> str:
    """The full command of the running subcommand, every option spelled out (reproducible), but
    those named in ``skip``."""
    words = ["python", "-m", "fluorodn_train", ctx.info_name or ""]
    for key, value in ctx.params.items():
        name = key.replace("_", "-")
        if value is None or key in skip:
            continue
        if isinstance(value, bool):  # typer's flags: --name / --no-name
            words.append(f"--{name}" if value else f"--no-{name}")
            continue
        words.append(f"--{name}")
        words += [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
    return " ".join(shlex.quote(w) for w in words)


def _variant_command(ctx: typer.Context, model: Path, qat: Path | None) -> str:
    """The quantize command that rebuilds one model's variant: that model (and its QAT
    checkpoint), with every other option spelled out, whatever order they were given in."""
    options = _command(ctx, skip=("models", "qat", "keep_refused")).split(" ", 4)[4:]
    cmd = " ".join(["python -m fluorodn_train quantize", shlex.quote(str(model)), *options])
    return cmd + (f" --qat {shlex.quote(str(qat))}" if qat is not None else "")


def _train(run: Callable[..., Path], cfg: Any, minutes: float | None) -> None:
    """Run ``run`` (fit or fit_qat) on ``cfg``, logging to stdout; report the checkpoint."""
    last = run(cfg, minutes=minutes, log=lambda m: print(m, flush=True))
    typer.echo(f"checkpoint: {last}")


def _config(config_type: Callable[..., T], ctx: typer.Context, **extra: Any) -> T:
    """``config_type`` filled from the command's options (named like its fields; paths as
    strings; ``minutes`` is not part of it), ``extra`` and the command itself."""
    params = {k: str(v) if isinstance(v, Path) else v for k, v in ctx.params.items() if k != "minutes"}
    return config_type(**params, **extra, command=_command(ctx))


@app.command()
def fit(
    ctx: typer.Context,
    out: Path = typer.Option(..., help="Run folder for checkpoints (last.pt) and log.jsonl."),
    kind: str = typer.Option("image", help="image: 2D DnCNN on windows; spectral: 1D DnCNN on coefficient traces."),
    noise_scale: tuple[float, float] = typer.Option((0.25, 0.35), help="Shot-noise scale range (lo hi)."),
    depth: int = typer.Option(20, help="Convolution layers."),
    width: int = typer.Option(64, help="Filters per layer."),
    shared: bool = typer.Option(False, help="Spectral: one network per coefficient trace (traces as batch items)."),
    dilations: str = typer.Option("", help="Spectral: dilation of each convolution, comma-separated (default all 1)."),
    diff_weight: float = typer.Option(0.0, help="Spectral: weight of the error's first differences in the loss."),
    loss: str = typer.Option(
        "mse",
        help="Spectral: squared (mse) or absolute (l1: each output the median, sharper rises) errors.",
    ),
    signal_only: bool = typer.Option(
        False, help="Spectral: train on the coefficient traces that hold signal only (the runtime denoises only those)."
    ),
    event_weight: float = typer.Option(
        0.0, help="Spectral: weigh the loss around each true release 1 + this much more (0: plain MSE)."
    ),
    event_diffs: bool = typer.Option(
        False, help="Spectral: the --event-weight weights weigh the error's first differences too."
    ),
    mark_pad: bool = typer.Option(
        False, help="Spectral: level channels negated on the mirrored end samples (the network sees where they are)."
    ),
    edge_weight: float = typer.Option(
        0.0, help="Spectral: weigh the loss on each recording's first and last halo samples 1 + this much more."
    ),
    samples: int = typer.Option(9600, help="Spectral: time samples per step (recordings x their length)."),
    batch: int = typer.Option(16, help="Instances per step."),
    window: tuple[int, int] = typer.Option(
        (101, 152),
        help="Instance size: time samples, bins (spectral: shortest recording; lengths run to 6x, bins 76-304).",
    ),
    steps: int = typer.Option(1000, help="Total steps (a resumed run continues to this)."),
    minutes: float | None = typer.Option(None, help="Stop after this many minutes (resumable)."),
    lr: float = typer.Option(1e-3, help="Adam learning rate."),
    lr_final: float = typer.Option(1e-4, help="Adam learning rate after --decay-at of the steps."),
    decay_at: float = typer.Option(0.8, help="Fraction of the steps after which --lr-final applies."),
    seed: int = typer.Option(0, help="Seed of data and initialization."),
    threads: int = typer.Option(0, help="Torch threads (0: default)."),
    val_every: int = typer.Option(50, help="Steps between validation passes."),
    dark: Path | None = typer.Option(None, exists=True, dir_okay=False, help="Recorded dark frames."),
    light: Path | None = typer.Option(None, exists=True, dir_okay=False, help="Recorded steady-light frames."),
    init: Path | None = typer.Option(None, exists=True, dir_okay=False, help="Checkpoint to fine-tune."),
) -> None:
    """Train (or resume) a DnCNN; recorded --dark/--light frames replace the parametric noise."""
    from .train import FitConfig
    from .train import fit as run_fit

    _train(run_fit, _config(FitConfig, ctx, ckpt_every=val_every), minutes)


@app.command()
def qat(
    ctx: typer.Context,
    init: Path = typer.Option(..., exists=True, dir_okay=False, help="Float checkpoint to fine-tune (last.pt)."),
    out: Path = typer.Option(..., help="Run folder for checkpoints (last.pt) and log.jsonl."),
    steps: int = typer.Option(1000, help="Total steps (a resumed run continues to this)."),
    minutes: float | None = typer.Option(None, help="Stop after this many minutes (resumable)."),
    lr: float = typer.Option(1e-4, help="Adam learning rate of the weights."),
    lr_ranges: float = typer.Option(3e-3, help="Adam learning rate of the log activation ranges."),
    batch: int = typer.Option(16, help="Instances per step."),
    seed: int = typer.Option(1, help="Seed of the training stream (fit's default is 0)."),
    threads: int = typer.Option(0, help="Torch threads (0: default)."),
    val_every: int = typer.Option(25, help="Steps between validation passes and checkpoints."),
    distill: bool = typer.Option(False, help="Match the float network's output instead of the true noise."),
    start: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="QAT checkpoint to start from (weights and ranges)."
    ),
    float_first: int = typer.Option(1, min=1, max=2, help="Leading convolutions kept in float32 (1 or 2)."),
    init_percentile: float = typer.Option(99.99, help="Initial activation ranges: this percentile."),
) -> None:
    """Quantization-aware fine-tuning of a float checkpoint for onnxruntime's int8 kernels."""
    from .qat import QATConfig, fit_qat

    _train(fit_qat, _config(QATConfig, ctx, ckpt_every=val_every), minutes)


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training checkpoint (last.pt)."),
    name: str = typer.Option(..., help="Model name, e.g. low or high."),
    out: Path = typer.Option(Path("models"), help="Folder for <name>.onnx and <name>.json."),
    version: str = typer.Option("1", help="Model version."),
    domain: str = typer.Option("spectral-fiber-photometry", help="Data the model was trained for."),
    calibration: int = typer.Option(48, help="Spectral models: in-domain recordings that set the domain checks."),
    odd: bool = typer.Option(
        True, help="Spectral models: the network made odd in the traces, (f(x) - f(-x)) / 2 (twice the work)."
    ),
) -> None:
    """Export a checkpoint to ONNX (BN folded, dynamic axes, metadata) after a parity check.

    A spectral checkpoint is also measured on in-domain recordings, and the ranges of its
    out-of-domain checks go into its metadata (``fluorodn_train.calibrate``).
    """
    from .export import export_checkpoint
    from .train import load_checkpoint

    if load_checkpoint(checkpoint)[1]["config"].get("kind") == "spectral":
        from .calibrate import export_spectral

        path, card = export_spectral(checkpoint, out, name, recordings=calibration, odd=odd)
    else:
        path, card = export_checkpoint(checkpoint, out, name, version=version, domain=domain)
    typer.echo(
        f"{path}: sha256 {card['sha256'][:12]}, parity {card['parity_max_abs_error']:.1e}, "
        f"{card['instances_seen']} instances seen"
    )


@app.command()
def quantize(
    ctx: typer.Context,
    models: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, help="Float models (<name>.onnx with <name>.json beside it)."
    ),
    precision: str = typer.Option("int8", help="Variant to build (int8; bf16 is refused, see the docs)."),
    calib_windows: int = typer.Option(32, help="Calibration windows (101x152, validation stream)."),
    seed: int = typer.Option(5, help="Calibration seed."),
    float_layers: str = typer.Option("", help="Convolutions kept in float32: first, second, last (comma-separated)."),
    guard_minutes: float = typer.Option(10.0, help="Length of each guard recording (minutes)."),
    guard_recordings: int = typer.Option(
        3, help="Guard recordings (TEST_STREAM seeds 0..N-1; a spectral model's spread across its noise range)."
    ),
    threads: int | None = typer.Option(None, help="CPU threads of the guard's timing (default: physical cores)."),
    qat: list[Path] = typer.Option(
        [], exists=True, dir_okay=False, help="QAT checkpoint per model (python -m fluorodn_train qat), in model order."
    ),
    keep_refused: Path | None = typer.Option(
        None, file_okay=False, help="Folder to keep refused variants in (for benchmarks)."
    ),
) -> None:
    """Build <name>.<precision>.onnx beside each model if it passes the quality guard (else exit 1)."""
    from .quantize import QualityGuardError
    from .quantize import quantize as run_quantize

    layers = tuple(x for x in float_layers.split(",") if x)
    if qat and len(qat) != len(models):
        typer.echo(f"give one --qat checkpoint per model ({len(models)}), got {len(qat)}", err=True)
        raise typer.Exit(2)
    refused = 0
    for i, model in enumerate(models):
        cmd = _variant_command(ctx, model, qat[i] if qat else None)
        try:
            path, entry = run_quantize(
                model,
                precision,
                calib_windows=calib_windows,
                calib_seed=seed,
                float_layers=layers,
                guard_seeds=tuple(range(guard_recordings)),
                guard_minutes=guard_minutes,
                threads=threads,
                command=cmd,
                qat=qat[i] if qat else None,
                keep_refused=keep_refused,
                log=lambda m: print(m, flush=True),
            )
        except (QualityGuardError, ValueError) as err:
            typer.echo(f"{model}: refused: {err}", err=True)
            refused += 1
            continue
        typer.echo(
            f"{path}: sha256 {entry['sha256'][:12]}, PSNR delta {entry['psnr_delta_db']:+.4f} dB, "
            f"coherence delta {entry['coherence_delta']:+.5f}, {entry['speedup_measured']:.2f}x "
            f"the float model's speed ({entry['guard']['threads']} threads)"
        )
    if refused:
        raise typer.Exit(1)


@app.command()
def example(
    ctx: typer.Context,
    out: Path = typer.Option(Path("fluorodn/data/example.tif"), help="TIFF to write."),
    minutes: float = typer.Option(10.0, help="Length of the recording."),
    noise_scale: float = typer.Option(0.5, help="Shot-noise scale."),
    seed: int = typer.Option(7, help="Seed (test stream: never used in training)."),
) -> None:
    """Write the shipped example recording: a synthetic spectral photometry session (time x bins)."""
    import json

    import numpy as np
    import tifffile
    from fluorodn.io import atomic_output

    from .data import TEST_STREAM, make_instance
    from .synth import FS

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TEST_STREAM,)))
    inst = make_instance(rng, int(minutes * 60 * FS), 152, noise_scale)
    desc = {
        "fluorodn_example": {
            "kind": "synthetic spectral fiber photometry",
            "axes": "time x wavelength",
            "sampling_hz": FS,
            "wavelength_nm": [float(inst.truth.wl[0]), float(inst.truth.wl[-1])],
            # the detector's dark level per bin (the counts with no photons), as the benchmarks take it
            "dark_counts": [round(float(v), 1) for v in np.median(inst.truth.clean - inst.truth.photons, axis=0)],
            "noise_scale": noise_scale,
            "seed": seed,
            "command": _command(ctx),
        }
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out, overwrite=True) as tmp:
        tifffile.imwrite(tmp, inst.noisy.astype(np.float32), description=json.dumps(desc), metadata=None)
    typer.echo(f"{out}: {inst.noisy.shape[0]} samples x {inst.noisy.shape[1]} bins")
