"""Resumable, seeded DnCNN training on freshly generated instances."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from fluorodn.spectral import COMPONENTS

from .data import TRAIN_STREAM, VAL_STREAM, Sampler, SpectralSampler
from .model import DnCNN, DnCNN1d
from .noise import RecordedNoise


@dataclass
class FitConfig:
    """Everything that defines a training run (stored in every checkpoint)."""

    out: str  #: run folder: checkpoints and log
    kind: str = "image"  #: "image": 2D DnCNN on windows; "spectral": 1D DnCNN on coefficient traces
    noise_scale: tuple[float, float] = (0.25, 0.35)  #: shot-noise scale range per instance
    depth: int = 20  #: convolution layers
    width: int = 64  #: filters per layer
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


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _recorded(cfg: FitConfig) -> tuple[RecordedNoise | None, RecordedNoise | None]:
    if cfg.dark is None and cfg.light is None:
        return None, None
    if cfg.dark is None or cfg.light is None:
        raise ValueError("recorded noise needs both --dark and --light frames")
    return RecordedNoise.from_files(cfg.dark, cfg.light).split(0.8)


def build_model(cfg: FitConfig | dict) -> torch.nn.Module:
    """The network a config describes (a FitConfig or its dict in a checkpoint)."""
    c = cfg if isinstance(cfg, dict) else asdict(cfg)
    if c.get("kind", "image") == "spectral":
        return DnCNN1d(COMPONENTS, c["depth"], c["width"])
    return DnCNN(c["depth"], c["width"])


def build_sampler(cfg: FitConfig, stream: int, recorded: RecordedNoise | None) -> Sampler:
    if cfg.kind == "spectral":
        if recorded is not None:
            raise ValueError("the spectral model trains on parametric noise only")
        return SpectralSampler(cfg.seed, stream, cfg.noise_scale, lengths=(cfg.window[0], cfg.window[0] * 6))
    return Sampler(cfg.seed, stream, cfg.window, cfg.noise_scale, recorded)


def validation_set(cfg: FitConfig, recorded: RecordedNoise | None) -> tuple[torch.Tensor, torch.Tensor]:
    s = build_sampler(cfg, VAL_STREAM, recorded)
    if cfg.kind == "spectral":
        s.lengths = (3000, 3000)  # continuous validation recordings (10 min at 5 Hz)
    x, y = s.batch(cfg.val_instances)
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 16) -> float:
    model.eval()
    tot = 0.0
    for i in range(0, len(x), chunk):
        tot += float(torch.nn.functional.mse_loss(model(x[i:i + chunk]), y[i:i + chunk], reduction="sum"))
    model.train()
    return tot / y.numel()


def fit(cfg: FitConfig, minutes: float | None = None, log=print) -> Path:
    """Train (or resume) until ``cfg.steps`` or the time budget; returns the last checkpoint."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.pt"
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    rec_train, rec_val = _recorded(cfg)
    sampler = build_sampler(cfg, TRAIN_STREAM, rec_train)
    step, seen, elapsed = 0, 0, 0.0
    if last.exists():
        ck = torch.load(last, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sampler.set_state(ck["sampler"])
        step, seen, elapsed = ck["step"], ck["seen"], ck["elapsed"]
        log(f"resumed {last} at step {step} ({seen} instances seen)")
    elif cfg.init:
        ck = torch.load(cfg.init, weights_only=False)
        model.load_state_dict(ck["model"])
        seen = ck.get("seen", 0)
        log(f"fine-tuning from {cfg.init} ({seen} instances seen before)")
    xv, yv = validation_set(cfg, rec_val)
    model.train()
    logf = open(out / "log.jsonl", "a")
    t0 = time.perf_counter()
    budget = None if minutes is None else minutes * 60.0

    def checkpoint() -> None:
        _save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "sampler": sampler.state(),
                      "step": step, "seen": seen, "elapsed": elapsed + time.perf_counter() - t0,
                      "config": asdict(cfg)}, last)

    while step < cfg.steps:
        lr = cfg.lr if step < cfg.decay_at * cfg.steps else cfg.lr_final
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = sampler.batch(0 if cfg.kind == "spectral" else cfg.batch)
        loss = torch.nn.functional.mse_loss(model(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        step += 1
        seen += len(x)
        rec = {"step": step, "seen": seen, "loss": float(loss.detach()), "lr": lr,
               "elapsed": round(elapsed + time.perf_counter() - t0, 1)}
        if step % cfg.val_every == 0 or step == cfg.steps:
            rec["val_loss"] = evaluate(model, xv, yv)
            log(json.dumps(rec))
        logf.write(json.dumps(rec) + "\n")
        logf.flush()
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            checkpoint()
        if budget is not None and time.perf_counter() - t0 > budget:
            log(f"time budget reached at step {step}")
            break
    checkpoint()
    logf.close()
    return last


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """The model of a checkpoint (eval mode) and the checkpoint dict."""
    ck = torch.load(path, weights_only=False, map_location="cpu")
    model = build_model(ck["config"])
    model.load_state_dict(ck["model"])
    return model.eval(), ck

