"""Quantization-aware fine-tuning (QAT) of a trained DnCNN for onnxruntime's int8 kernels.

Post-training int8 quantization of the float models loses 12-18 dB PSNR (docs/precision.md):
the normalized input spans hundreds of noise units and so do the activations, and 8-bit
activations calibrated on their full range cannot also resolve the noise. QAT lets the
network adapt to exactly the arithmetic onnxruntime runs:

* the first convolution (1 -> width, 0.2% of the work; a spectral model's trace and level ->
  width) stays float32, so the input is never quantized; the last convolution (width -> 1)
  runs in float32 on dequantized input;
* every other convolution has int8 weights, symmetric per output channel with onnxruntime's
  7-bit range (``reduce_range``: scale = max|w| / 64), BatchNorm folded in first;
* every ReLU output is quantized to uint8 on ``[0, r]`` (zero point 0), with ``r`` learned
  (LSQ gradient through a straight-through rounding), so the network chooses where to clip.

The fine-tuned network is exported to float ONNX, and :func:`fluorodn_train.quantize.quantize_int8`
quantizes it with onnxruntime's ``quantize_static``, overriding the calibrated activation
ranges with the learned ones (``TensorQuantOverrides``), so the int8 model computes what
was trained. The quality guard then compares it with the shipped float model.

The fine-tuning runs in the training loop of :func:`fluorodn_train.train.run_loop`: a 2D
network on the float run's windows, a spectral network (:class:`~fluorodn_train.model.DnCNN1d`,
its 1D chain) on the float run's recordings with its loss, and exported in the float model's
form (1 x k convolutions, odd in the traces).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import TRAIN_STREAM, VAL_STREAM, Sampler
from .model import Rescaled, _conv, fold_batchnorm, run_1d
from .train import (
    LOSS_POWERS,
    FitConfig,
    Loop,
    build_model,
    build_sampler,
    diff_loss,
    evaluate,
    load_checkpoint,
    run_loop,
    validation_set,
)

#: Weight quantization: onnxruntime's int8 symmetric range with reduce_range (7 bits).
W_QMAX = 64
#: Activation quantization: uint8.
A_QMAX = 255


def fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel symmetric rounding to ``[-W_QMAX, W_QMAX]`` steps (straight-through)."""
    dims = tuple(range(1, w.dim()))
    s = (w.detach().abs().amax(dim=dims, keepdim=True) / W_QMAX).clamp_min(1e-12)
    return w + (torch.round(w / s) * s - w).detach()


def fake_quant_act(h: torch.Tensor, log_r: torch.Tensor) -> torch.Tensor:
    """uint8 rounding of a non-negative tensor on ``[0, exp(log_r)]`` with LSQ gradients."""
    s = torch.exp(log_r) / A_QMAX
    q = torch.clamp(h / s, 0, A_QMAX)
    q = q + (torch.round(q) - q).detach()
    return q * s


def _pad(padding: tuple[int, ...] | str) -> tuple[int, ...]:
    assert not isinstance(padding, str)  # DnCNN's convolutions pad by a number of samples
    return padding


class QATDnCNN(nn.Module):
    """A BN-folded DnCNN with int8 fake quantization where onnxruntime will quantize.

    ``folded``: :func:`~fluorodn_train.model.fold_batchnorm` of a 2D DnCNN (its Conv/ReLU
    chain) or of a :class:`~fluorodn_train.model.DnCNN1d` (a
    :class:`~fluorodn_train.model.Rescaled` chain over time, run as the spectral model runs:
    each trace beside its level, the output divided by the level).
    """

    def __init__(self, folded: nn.Module):
        super().__init__()
        chain = folded.net if isinstance(folded, Rescaled) else folded
        self.convs = nn.ModuleList(m for m in chain.children() if isinstance(m, (nn.Conv1d, nn.Conv2d)))
        #: a spectral network's (traces, shared), None for a 2D one
        self.traces = (folded.channels, folded.shared) if isinstance(folded, Rescaled) else None
        # one range per ReLU output (the inputs of convs[1:])
        self.log_r = nn.Parameter(torch.zeros(len(self.convs) - 1))
        self.quantize = True
        #: leading convolutions kept in float32 (their inputs, and their weights, unquantized)
        self.float_first = 1

    @property
    def depth(self) -> int:
        return len(self.convs)

    @torch.no_grad()
    def init_ranges(self, x: torch.Tensor, percentile: float = 99.99) -> list[float]:
        """Set each range to the ``percentile`` of its activation on ``x`` (float network)."""
        q, self.quantize = self.quantize, False
        acts: list[torch.Tensor] = []
        self._run(x, acts)
        self.quantize = q
        # torch.quantile takes at most 2**24 values: every k-th, k rounded up
        r = [float(torch.quantile(a.flatten()[:: -(-a.numel() // 2**24)], percentile / 100)) for a in acts]
        self.log_r.copy_(torch.log(torch.tensor(r).clamp_min(1e-3)))
        return r

    def _chain(self, x: torch.Tensor, acts: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The Conv/ReLU chain with fake quantization; the ReLU outputs go to ``acts``."""
        first = self.convs[0]
        h = torch.relu(first(x))
        last = len(self.convs) - 2
        for i, m in enumerate(self.convs[1:]):
            conv = _conv(m)
            quantized = self.quantize and i + 1 >= self.float_first  # conv i + 1 runs in int8
            if quantized:
                h = fake_quant_act(h, self.log_r[i])
            if acts is not None:
                acts.append(h)
            w = fake_quant_weight(conv.weight) if quantized and i < last else conv.weight
            if isinstance(conv, nn.Conv2d):
                h = nn.functional.conv2d(h, w, conv.bias, padding=_pad(conv.padding), dilation=conv.dilation)
            else:
                h = nn.functional.conv1d(h, w, conv.bias, padding=_pad(conv.padding), dilation=conv.dilation)
            if i < last:
                h = torch.relu(h)
        return h

    def _run(self, x: torch.Tensor, acts: list[torch.Tensor] | None = None) -> torch.Tensor:
        if self.traces is None:
            return self._chain(x, acts)
        channels, shared = self.traces
        return run_1d(lambda h: self._chain(h, acts), x, channels, shared)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)

    def ranges(self) -> list[float]:
        return [float(v) for v in torch.exp(self.log_r.detach())]

    def float_model(self) -> nn.Module:
        """The fine-tuned float network for ONNX export: the Conv/ReLU chain (2D), or the chain
        in :class:`~fluorodn_train.model.Rescaled` (spectral)."""
        layers: list[nn.Module] = []
        for i, conv in enumerate(self.convs):
            layers.append(conv)
            if i < len(self.convs) - 1:
                layers.append(nn.ReLU())
        chain = nn.Sequential(*layers).eval()
        if self.traces is None:
            return chain
        return Rescaled(chain, *self.traces).eval()


@dataclass
class QATConfig:
    """Everything that defines a QAT run (stored in every checkpoint)."""

    out: str  #: run folder: checkpoints and log
    init: str  #: float checkpoint (train/runs/<name>/last.pt)
    steps: int = 1000  #: stop after this many steps in total
    batch: int = 16  #: instances per step
    lr: float = 1e-4  #: Adam learning rate of the weights
    lr_ranges: float = 3e-3  #: Adam learning rate of the log activation ranges
    decay_at: float = 0.8  #: fraction of ``steps`` after which both rates are multiplied by ``lr_decay``
    lr_decay: float = 0.1  #: learning-rate factor after ``decay_at``
    seed: int = 1  #: training stream seed (FitConfig's default is 0: a different stream)
    val_instances: int = 64  #: the float run's validation windows used
    val_every: int = 25  #: steps between validation passes
    ckpt_every: int = 25  #: steps between checkpoints
    threads: int = 0  #: torch intra-op threads (0: torch default)
    #: targets: the float network's output (distillation: the int8 model should match the float
    #: model, which is what the quality guard checks) instead of the true noise
    distill: bool = False
    #: a QAT checkpoint whose weights and ranges to start from (else the float ``init``)
    start: str | None = None
    #: leading convolutions kept in float32 (1: the first; 2: also the second, so the first
    #: ReLU output, which spans hundreds of noise units, is never quantized)
    float_first: int = 1
    #: each activation range starts at this percentile of its float activations
    init_percentile: float = 99.99
    command: str = ""  #: the command line that started the run
    extra: dict = field(default_factory=dict)


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    return torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def _folded(model: nn.Module) -> nn.Module:
    """The folded network QAT fine-tunes: a 2D DnCNN's Conv/ReLU chain, a DnCNN1d's chain in
    :class:`~fluorodn_train.model.Rescaled`."""
    folded = fold_batchnorm(model)
    if not isinstance(folded, (nn.Sequential, Rescaled)):
        raise TypeError(f"quantization-aware training takes a DnCNN or a DnCNN1d, not a {type(model).__name__}")
    return folded


def build(init: str) -> tuple[QATDnCNN, dict]:
    base, ck = load_checkpoint(init)
    return QATDnCNN(_folded(base)), ck


def _float_run(fcfg: dict, seed: int) -> FitConfig:
    """The float run's config (from its checkpoint) with the training stream's ``seed``."""
    names = {f.name for f in fields(FitConfig)}
    known: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fcfg.items() if k in names}
    return FitConfig(**{**known, "seed": seed})


def fit_qat(cfg: QATConfig, minutes: float | None = None, log: Callable[[str], None] = print) -> Path:
    """Fine-tune (or resume) until ``cfg.steps`` or the time budget; returns the last checkpoint.

    A 2D network trains on the float run's windows with the MSE; a spectral one on its
    recordings (``batch`` is then the float run's ``samples`` per step) with its loss (the
    first-difference weight included), validated on its continuous validation recordings.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model, ck0 = build(cfg.init)
    model.float_first = cfg.float_first
    # the float network itself, before any QAT weights are loaded into the model
    teacher = copy.deepcopy(model).eval() if cfg.distill else None
    if teacher is not None:
        teacher.quantize = False
        for p in teacher.parameters():
            p.requires_grad_(False)
    fcfg = ck0["config"]
    spectral = model.traces is not None
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    if spectral:
        # the float run's recordings and loss, without its loss weights around events and ends:
        # the int8 network is to compute what the float one does everywhere
        run = dataclasses.replace(_float_run(fcfg, cfg.seed), event_weight=0.0, edge_weight=0.0)
        sampler: Sampler = build_sampler(run, TRAIN_STREAM, None)
        xv, yv = validation_set(dataclasses.replace(run, seed=fcfg["seed"], val_instances=cfg.val_instances), None)
        if run.diff_weight or run.loss != "mse":
            loss = diff_loss(run.diff_weight, power=LOSS_POWERS[run.loss])
    else:
        noise = tuple(fcfg["noise_scale"])
        window = tuple(fcfg["window"])
        sampler = Sampler(cfg.seed, TRAIN_STREAM, window, noise)
        vs = Sampler(fcfg["seed"], VAL_STREAM, window, noise)  # the float run's validation windows
        xv, yv = (torch.from_numpy(a) for a in vs.batch(cfg.val_instances))
    teacher_v = _predict(teacher, xv) if teacher is not None else None
    opt = torch.optim.Adam(
        [{"params": model.convs.parameters(), "lr": cfg.lr}, {"params": [model.log_r], "lr": cfg.lr_ranges}]
    )

    def validate() -> dict:
        rec = {"val_loss": evaluate(model, xv, yv)}
        if teacher_v is not None:
            rec["val_distill"] = evaluate(model, xv, teacher_v)
        return rec

    def start() -> tuple[int, dict]:
        """Step 0: the float network's validation loss, then the initial ranges and their loss."""
        model.quantize = False
        float_val = evaluate(model, xv, yv)
        model.quantize = True
        if cfg.start:
            model.load_state_dict(torch.load(cfg.start, weights_only=False, map_location="cpu")["model"])
            r = model.ranges()
        else:
            r = model.init_ranges(xv[:16], cfg.init_percentile)
        rec = {
            "step": 0,
            "float_val_loss": float_val,
            **validate(),
            "ranges": r,
            "float_seen": ck0.get("seen", 0),
            "config": asdict(cfg),
        }
        return 0, rec

    def lrs(step: int) -> list[float]:
        f = 1.0 if step < cfg.decay_at * cfg.steps else cfg.lr_decay
        return [cfg.lr * f, cfg.lr_ranges * f]

    def target(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if teacher is None:
            return y
        with torch.no_grad():
            return teacher(x)

    loop = Loop(
        out=Path(cfg.out),
        model=model,
        opt=opt,
        sampler=sampler,
        steps=cfg.steps,
        batch=0 if spectral else cfg.batch,
        val_every=cfg.val_every,
        ckpt_every=cfg.ckpt_every,
        lrs=lrs,
        validate=lambda: {**validate(), "ranges": [round(v, 3) for v in model.ranges()]},
        start=start,
        saved={"config": asdict(cfg), "float_config": fcfg},
        clipped=model.convs.parameters(),
        target=target,
        loss=loss,
    )
    return run_loop(loop, minutes, log)


def load_qat(path: str | Path) -> tuple[QATDnCNN, dict]:
    """A QAT checkpoint's network (eval mode) and the checkpoint; its architecture comes from
    the float run's config it stores, so the float checkpoint need not be at hand."""
    ck = torch.load(path, weights_only=False, map_location="cpu")
    model = QATDnCNN(_folded(build_model(ck["float_config"]).eval()))
    model.load_state_dict(ck["model"])
    model.float_first = ck["config"].get("float_first", 1)
    return model.eval(), ck
