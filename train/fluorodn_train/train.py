"""Resumable, seeded DnCNN training on freshly generated instances."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from fluorodn.io import atomic_output
from fluorodn.spectral import COMPONENTS

from .data import TRAIN_STREAM, VAL_STREAM, Sampler, SpectralSampler
from .model import DnCNN, DnCNN1d, deepen
from .noise import RecordedNoise


@dataclass
class FitConfig:
    """Everything that defines a training run (stored in every checkpoint)."""

    out: str  #: run folder: checkpoints and log
    kind: str = "image"  #: "image": 2D DnCNN on windows; "spectral": 1D DnCNN on coefficient traces
    samples: int = 9600  #: spectral: time samples per step (recordings x their length)
    noise_scale: tuple[float, float] = (0.25, 0.35)  #: shot-noise scale range per instance
    depth: int = 20  #: convolution layers
    width: int = 64  #: filters per layer
    shared: bool = False  #: spectral: one network per trace (traces as batch items), not all at once
    dilations: str = ""  #: spectral: comma-separated dilation per convolution ("": all 1)
    #: spectral: weight of the MSE of the error's first differences over time, added to the MSE
    #: (weights the error spectrum by 1 + w (2 - 2 cos f): high frequencies count up to 1 + 4 w)
    diff_weight: float = 0.0
    #: spectral: "mse" (squared errors: each output the mean of what the input allows) or "l1"
    #: (absolute errors: each output sample the median, which keeps a rise whose onset is
    #: uncertain a step at its likeliest time instead of a ramp spread over the uncertainty)
    loss: str = "mse"
    #: spectral: train on the traces that hold signal (``fluorodn.spectral.holds_signal``), which
    #: are all the runtime denoises; the others enter as zero traces with zero targets
    signal_only: bool = False
    #: spectral: the loss weighs the samples around each true release (one before to
    #: ``data.EVENT_AFTER`` after) 1 + this much more than the others
    event_weight: float = 0.0
    #: spectral: the same weights also weigh the error's first differences (the ``diff_weight``
    #: term), the step at each release included: what deconvolution reads off the output
    event_diffs: bool = False
    #: spectral: the level channels are negated on the mirrored samples at each end (``data.spectral_pair``)
    mark_pad: bool = False
    #: spectral: the loss weighs the first and last ``halo`` samples of each recording (whose
    #: outputs see the mirrored ends) 1 + this much more than the others
    edge_weight: float = 0.0
    window: tuple[int, int] = (101, 152)  #: (time, bins) of one instance (20 s at 5 Hz)
    batch: int = 16  #: instances per step
    steps: int = 1000  #: stop after this many steps in total
    lr: float = 1e-3  #: Adam learning rate
    lr_final: float = 1e-4  #: learning rate after ``decay_at``
    decay_at: float = 0.8  #: fraction of ``steps`` after which ``lr_final`` applies
    beta1: float = 0.95  #: Adam beta1 (as the seed)
    clip: float = 1.0  #: gradient-norm clip
    seed: int = 0  #: seed of all data and initialization
    val_instances: int = 64  #: fixed validation windows (disjoint seed stream)
    val_every: int = 50  #: steps between validation passes
    ckpt_every: int = 50  #: steps between checkpoints
    threads: int = 0  #: torch intra-op threads (0: torch default)
    dark: str | None = None  #: recorded dark frames (.npy/.tif): use recorded noise
    light: str | None = None  #: recorded steady-light frames (.npy/.tif)
    init: str | None = None  #: checkpoint to fine-tune from (weights only)
    command: str = ""  #: the command line that started the run
    extra: dict = field(default_factory=dict)


def save_checkpoint(obj: dict, path: Path) -> None:
    """``torch.save`` to ``path`` atomically: an interrupted save leaves the previous file."""
    with atomic_output(path, overwrite=True) as tmp:
        torch.save(obj, tmp)


def _recorded(cfg: FitConfig) -> tuple[RecordedNoise | None, RecordedNoise | None]:
    if cfg.dark is None and cfg.light is None:
        return None, None
    if cfg.dark is None or cfg.light is None:
        raise ValueError("recorded noise needs both --dark and --light frames")
    return RecordedNoise.from_files(cfg.dark, cfg.light).split(0.8)


def _dilations(text: str) -> list[int]:
    return [int(d) for d in str(text).split(",") if d.strip()]


def build_model(cfg: FitConfig | dict) -> torch.nn.Module:
    """The network a config describes (a FitConfig or its dict in a checkpoint)."""
    c = cfg if isinstance(cfg, dict) else asdict(cfg)
    if c.get("kind", "image") == "spectral":
        dil = _dilations(c.get("dilations", ""))
        return DnCNN1d(COMPONENTS, c["depth"], c["width"], c.get("shared", False), dil or None)
    return DnCNN(c["depth"], c["width"])


def build_sampler(cfg: FitConfig, stream: int, recorded: RecordedNoise | None) -> Sampler:
    if cfg.kind == "spectral":
        if recorded is not None:
            raise ValueError("the spectral model trains on parametric noise only")
        net = build_model(cfg)
        assert isinstance(net, DnCNN1d)
        return SpectralSampler(
            cfg.seed,
            stream,
            cfg.noise_scale,
            lengths=(cfg.window[0], cfg.window[0] * 6),
            samples_per_batch=cfg.samples,
            pad=net.halo,  # the runtime extends a recording by the network's halo
            signal_only=cfg.signal_only,
            event_weight=cfg.event_weight,
            mark_pad=cfg.mark_pad,
            edge_weight=cfg.edge_weight,
        )
    return Sampler(cfg.seed, stream, cfg.window, cfg.noise_scale, recorded)


def validation_set(cfg: FitConfig, recorded: RecordedNoise | None) -> tuple[torch.Tensor, torch.Tensor]:
    s = build_sampler(cfg, VAL_STREAM, recorded)
    if isinstance(s, SpectralSampler):
        n = min(3000, cfg.samples)  # continuous validation recordings (10 min at 5 Hz)
        s.lengths = (n, n)
    x, y = s.batch(cfg.val_instances)
    if isinstance(s, SpectralSampler) and s.weighted:
        y = y[:, :-1]  # validation stays the plain MSE of the noise
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 16) -> float:
    model.eval()
    tot = 0.0
    for i in range(0, len(x), chunk):
        tot += float(torch.nn.functional.mse_loss(model(x[i : i + chunk]), y[i : i + chunk], reduction="sum"))
    model.train()
    return tot / y.numel()


@dataclass
class Loop:
    """One resumable training run, as :func:`run_loop` drives it (float and QAT training).

    A checkpoint (``<out>/last.pt``) holds the model, optimizer and sampler states, the step,
    the instances seen, the training seconds and ``saved``; ``<out>/log.jsonl`` gets one
    record per step, with the validation entries every ``val_every`` steps.
    """

    out: Path  #: run folder: last.pt and log.jsonl
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sampler: Sampler
    steps: int  #: stop after this many steps in total
    batch: int  #: instances per step (0: the sampler decides)
    val_every: int  #: steps between validation passes (and log lines)
    ckpt_every: int  #: steps between checkpoints
    lrs: Callable[[int], Sequence[float]]  #: learning rate of each parameter group at a step
    validate: Callable[[], dict]  #: validation entries of a log record (the loop sets train mode after)
    start: Callable[[], tuple[int, dict | None]]  #: a new run: (instances seen before, first log record)
    saved: dict = field(default_factory=dict)  #: further entries of every checkpoint (the config)
    clip: float = 1.0  #: gradient-norm clip of ``clipped``
    clipped: Iterable[torch.nn.Parameter] | None = None  #: parameters clipped (None: all of the model's)
    target: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  #: (input, truth) -> target
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  #: (output, target) -> loss; None: MSE


def run_loop(loop: Loop, minutes: float | None = None, log: Callable[[str], None] = print) -> Path:
    """Train (or resume) until ``loop.steps`` or the time budget; returns the last checkpoint."""
    loop.out.mkdir(parents=True, exist_ok=True)
    last = loop.out / "last.pt"
    model, opt, sampler = loop.model, loop.opt, loop.sampler
    clipped = list(model.parameters() if loop.clipped is None else loop.clipped)
    with open(loop.out / "log.jsonl", "a") as logf:
        if last.exists():
            ck = torch.load(last, weights_only=False)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            sampler.set_state(ck["sampler"])
            step, seen, elapsed = ck["step"], ck["seen"], ck["elapsed"]
            log(f"resumed {last} at step {step} ({seen} instances seen)")
        else:
            step, elapsed = 0, 0.0
            seen, first = loop.start()
            if first is not None:
                log(json.dumps(first))
                logf.write(json.dumps(first) + "\n")
        model.train()
        t0 = time.perf_counter()

        def checkpoint() -> None:
            save_checkpoint(
                {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sampler": sampler.state(),
                    "step": step,
                    "seen": seen,
                    "elapsed": elapsed + time.perf_counter() - t0,
                    **loop.saved,
                },
                last,
            )

        while step < loop.steps:
            lrs = loop.lrs(step)
            for group, lr in zip(opt.param_groups, lrs, strict=True):
                group["lr"] = lr
            x, y = (torch.from_numpy(a) for a in sampler.batch(loop.batch))
            if loop.target is not None:
                y = loop.target(x, y)
            out = model(x)
            loss = torch.nn.functional.mse_loss(out, y) if loop.loss is None else loop.loss(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(clipped, loop.clip)
            opt.step()
            step += 1
            seen += len(x)
            rec = {
                "step": step,
                "seen": seen,
                "loss": float(loss.detach()),
                "lr": lrs[0],
                "elapsed": round(elapsed + time.perf_counter() - t0, 1),
            }
            if step % loop.val_every == 0 or step == loop.steps:
                rec |= loop.validate()
                model.train()
                log(json.dumps(rec))
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            if step % loop.ckpt_every == 0 or step == loop.steps:
                checkpoint()
            if minutes is not None and time.perf_counter() - t0 > minutes * 60.0:
                log(f"time budget reached at step {step}")
                break
        checkpoint()
    return last


def fit(cfg: FitConfig, minutes: float | None = None, log: Callable[[str], None] = print) -> Path:
    """Train (or resume) until ``cfg.steps`` or the time budget; returns the last checkpoint."""
    if cfg.loss not in LOSS_POWERS:
        raise ValueError(f"loss must be one of {', '.join(LOSS_POWERS)}, got {cfg.loss!r}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    rec_train, rec_val = _recorded(cfg)
    xv, yv = validation_set(cfg, rec_val)

    weighted = cfg.event_weight > 0 or cfg.edge_weight > 0  # the targets carry loss weights

    def start() -> tuple[int, None]:
        if not cfg.init:
            return 0, None
        ck = torch.load(cfg.init, weights_only=False)
        source = build_model(ck["config"])
        source.load_state_dict(ck["model"])
        if isinstance(model, DnCNN1d) and isinstance(source, DnCNN1d) and model.dilations != source.dilations:
            deepen(model, source, xv[: min(8, len(xv))])
            log(f"deepened {cfg.init}'s {source.depth} layers to {model.depth} (dilations {list(model.dilations)})")
        else:
            model.load_state_dict(ck["model"])
        log(f"fine-tuning from {cfg.init} ({ck.get('seen', 0)} instances seen before)")
        return ck.get("seen", 0), None

    loop = Loop(
        out=Path(cfg.out),
        model=model,
        opt=opt,
        sampler=build_sampler(cfg, TRAIN_STREAM, rec_train),
        steps=cfg.steps,
        batch=0 if cfg.kind == "spectral" else cfg.batch,
        val_every=cfg.val_every,
        ckpt_every=cfg.ckpt_every,
        clip=cfg.clip,
        start=start,
        saved={"config": asdict(cfg)},
        lrs=lambda step: [cfg.lr if step < cfg.decay_at * cfg.steps else cfg.lr_final],
        validate=lambda: {"val_loss": evaluate(model, xv, yv)},
        loss=(
            diff_loss(cfg.diff_weight, weighted=weighted, power=LOSS_POWERS[cfg.loss], weigh_diffs=cfg.event_diffs)
            if cfg.diff_weight or weighted or cfg.loss != "mse"
            else None
        ),
    )
    return run_loop(loop, minutes, log)


#: Exponent of the errors in the loss of each ``FitConfig.loss``.
LOSS_POWERS = {"mse": 2, "l1": 1}


def diff_loss(
    weight: float, weighted: bool = False, power: int = 2, weigh_diffs: bool = False
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean error to the ``power`` (2: MSE, 1: mean absolute error) plus ``weight`` times the same
    of the error's first differences along the last axis.

    ``weighted``: the target's last channel holds per-sample weights (``SpectralSampler``'s
    ``event_weight`` and ``edge_weight``); the first term is then weighted by them (normalized by
    their mean), and with ``weigh_diffs`` the second too, each difference ``e[t + 1] - e[t]`` by
    the weight of sample ``t``."""
    if power not in (1, 2):
        raise ValueError(f"power must be 1 or 2, got {power!r}")

    def norm(e: torch.Tensor) -> torch.Tensor:
        return e.pow(2) if power == 2 else e.abs()

    def weighed(e: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        return norm(e).mean() if w is None else (w * norm(e)).mean() / w.mean()

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w = None
        if weighted:
            y, w = y[:, :-1], y[:, -1:]
        err = out - y
        dw = w[..., :-1] if (w is not None and weigh_diffs) else None
        return weighed(err, w) + weight * weighed(torch.diff(err, dim=-1), dw)

    return loss


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """The model of a checkpoint (eval mode) and the checkpoint dict."""
    ck = torch.load(path, weights_only=False, map_location="cpu")
    model = build_model(ck["config"])
    model.load_state_dict(ck["model"])
    return model.eval(), ck
