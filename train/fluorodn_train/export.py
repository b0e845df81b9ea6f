"""ONNX export: BatchNorm folded, dynamic (batch, height, width), metadata, parity check."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import onnx
import torch
from fluorodn.io import atomic_output
from fluorodn.normalize import CONVENTION
from fluorodn.registry import METADATA_KEY
from fluorodn.spectral import CONVENTION as SPECTRAL_CONVENTION

from .model import DnCNN, DnCNN1d, Rescaled, Rows2d, SignSymmetric, fold_batchnorm
from .train import load_checkpoint

#: ONNX opset of every exported model.
OPSET = 17
#: Odd shapes the exported model must reproduce PyTorch on.
PARITY_SHAPES = ((37, 152), (101, 152), (513, 77), (1000, 33))
#: Odd lengths (time samples) the exported 1D model must reproduce PyTorch on.
PARITY_LENGTHS = (37, 101, 1000, 3001)
#: Largest tolerated |onnxruntime - torch| in normalized units.
PARITY_TOL = 1e-4


def _is_1d(net: torch.nn.Module) -> bool:
    """A network over time on coefficient traces (:class:`Rescaled`, :class:`SignSymmetric`:
    they know their traces; their convolutions may run as :class:`Rows2d`)."""
    return isinstance(getattr(net, "channels", None), int)


def _in_channels(net: torch.nn.Module) -> int:
    traces = getattr(net, "channels", None)  # a 1D network: each trace and its level
    if isinstance(traces, int):
        return 2 * traces
    return next(m for m in net.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))).in_channels


def flop_per_pixel(depth: int, width: int) -> int:
    """Multiply-adds x 2 of one output pixel (3x3 convolutions, no biases counted)."""
    chans = [1] + [width] * (depth - 1) + [1]
    return int(sum(2 * 9 * a * b for a, b in pairwise(chans)))


def flop_per_sample_1d(depth: int, width: int, channels: int, shared: bool = False) -> int:
    """Multiply-adds x 2 of one time sample of the 1D network (kernel 3, all channels; a
    ``shared`` network runs once per trace on the trace and its level)."""
    if shared:
        chans = [2] + [width] * (depth - 1) + [1]
        return channels * int(sum(2 * 3 * a * b for a, b in pairwise(chans)))
    chans = [2 * channels] + [width] * (depth - 1) + [channels]
    return int(sum(2 * 3 * a * b for a, b in pairwise(chans)))


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file (what model cards record)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_metadata(proto: onnx.ModelProto) -> dict:
    """The fluorodn metadata of a model: its :data:`~fluorodn.registry.METADATA_KEY` property."""
    return json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])


def set_metadata(proto: onnx.ModelProto, meta: dict) -> None:
    """Make ``meta`` the model's only metadata property (:data:`~fluorodn.registry.METADATA_KEY`)."""
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta, sort_keys=True)


def write_json(path: Path, obj: dict) -> None:
    """Write ``obj`` as indented JSON (keys sorted) to ``path`` atomically (model cards)."""
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _parity(path: Path, folded: torch.nn.Module, seed: int = 0) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    one_d, chans = _is_1d(folded), _in_channels(folded)
    shapes = [(1, chans, t) for t in PARITY_LENGTHS] if one_d else [(1, 1, h, w) for h, w in PARITY_SHAPES]
    for shape in shapes:
        if one_d:  # fluorodn.spectral.network_input: traces of unit spread, then their levels
            x = rng.standard_normal(shape).astype(np.float32)
            x[:, chans // 2 :] = rng.uniform(0.05, 1.0, (1, chans // 2, 1))
        else:
            x = (rng.standard_normal(shape) * 3 + rng.standard_normal() * 50).astype(np.float32)
        with torch.inference_mode():
            ref = folded(torch.from_numpy(x)).numpy()
        got = sess.run(["noise"], {"input": x})[0]
        if got.shape != ref.shape:
            raise RuntimeError(f"ONNX output shape {got.shape} != torch {ref.shape} for {shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def write_onnx(net: torch.nn.Module, path: Path, meta: dict) -> float:
    """Export an eval-mode Conv/ReLU chain to ``path`` with ``meta`` as its metadata.

    Dynamic (batch, height, width) for a 2D network, (batch, time) for a 1D one; fails
    (RuntimeError) if onnx.checker or the parity check against PyTorch fails. Returns the
    parity error (normalized units).
    """
    if _is_1d(net):
        dyn, dummy = {0: "batch", 2: "time"}, torch.ones(1, _in_channels(net), 64)
    else:
        dyn, dummy = {0: "batch", 2: "height", 3: "width"}, torch.zeros(1, 1, 41, 41)
    torch.onnx.export(
        net,
        (dummy,),
        str(path),
        input_names=["input"],
        output_names=["noise"],
        opset_version=OPSET,
        dynamic_axes={"input": dyn, "noise": dyn},
        dynamo=False,
    )
    proto = onnx.load(str(path))
    set_metadata(proto, meta)
    proto.producer_name, proto.model_version = "fluorodn_train", int(meta["version"])
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    err = _parity(path, net)
    if err > PARITY_TOL:
        raise RuntimeError(f"ONNX/PyTorch parity error {err:.2e} exceeds {PARITY_TOL:.0e}")
    return err


def runtime_network(folded: torch.nn.Module, odd: bool = False, rows2d: bool = True) -> torch.nn.Module:
    """The network as exported, from a folded one (:func:`~fluorodn_train.model.fold_batchnorm`):
    a 1D network's convolutions as 1 x k 2D ones (``rows2d``), made odd in the traces (``odd``,
    :class:`~fluorodn_train.model.SignSymmetric`); a 2D network as it is."""
    if not isinstance(folded, Rescaled):
        return folded
    if rows2d:
        folded = Rescaled(Rows2d(folded.net), folded.channels, folded.shared).eval()
    return SignSymmetric(folded, folded.channels).eval() if odd else folded


def export(
    model: DnCNN | DnCNN1d, out_dir: str | Path, name: str, info: dict, rows2d: bool = True
) -> tuple[Path, dict]:
    """Write ``<out_dir>/<name>.onnx`` and ``<name>.json``; returns the path and the card.

    ``info`` supplies the training facts (noise_scale, instances_seen, steps,
    training_command, domain, version). A 1D network's convolutions are written as 1 x k
    2D convolutions (:class:`~fluorodn_train.model.Rows2d`) unless ``rows2d`` is False. The
    export fails, writing nothing, if onnx.checker or the parity check against PyTorch fails.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    odd = isinstance(model, DnCNN1d) and bool(info.get("odd", False))
    folded = runtime_network(fold_batchnorm(model.eval()), odd=odd, rows2d=rows2d)
    meta = {
        "format": 1,
        "name": name,
        "version": str(info.get("version", "1")),
        "architecture": "DnCNN",
        "depth": model.depth,
        "width": model.width,
        "halo": model.halo,
        "normalization": CONVENTION,
        "domain": info.get("domain", "spectral-fiber-photometry"),
        "noise_scale": float(info["noise_scale"]),
        "noise_scale_range": list(info.get("noise_scale_range", [])),
        "instances_seen": int(info.get("instances_seen", 0)),
        "steps": int(info.get("steps", 0)),
        "training_command": info.get("training_command", ""),
        "opset": OPSET,
        "input": "input",
        "output": "noise",
        "flop_per_pixel": flop_per_pixel(model.depth, model.width),
        "created": info.get("created", _dt.date.today().isoformat()),
    }
    if isinstance(model, DnCNN1d):
        meta.update(
            kind="spectral",
            architecture="DnCNN1d",
            channels=model.channels,
            shared=model.shared,
            dilations=list(model.dilations),
            odd=odd,
            normalization=SPECTRAL_CONVENTION,
            domain=info.get("domain", "spectral-fiber-photometry"),
            flop_per_pixel=(1 + odd) * flop_per_sample_1d(model.depth, model.width, model.channels, model.shared),
        )
        for key in ("domain_checks", "generator", "max_spread"):
            if key in info:
                meta[key] = info[key]
    else:
        meta["kind"] = "image"
    final = out_dir / f"{name}.onnx"
    with atomic_output(final, overwrite=True) as tmp:
        err = write_onnx(folded, tmp, meta)
    card = dict(meta, file=final.name, sha256=sha256(final), parity_max_abs_error=err)
    write_json(out_dir / f"{name}.json", card)
    return final, card


def export_checkpoint(ckpt: str | Path, out_dir: str | Path, name: str, **overrides) -> tuple[Path, dict]:
    """Export a training checkpoint with the facts it recorded."""
    model, ck = load_checkpoint(ckpt)
    if not isinstance(model, (DnCNN, DnCNN1d)):
        raise TypeError(f"{ckpt} holds a {type(model).__name__}, not a DnCNN")
    cfg = ck["config"]
    lo, hi = cfg["noise_scale"]
    info = {
        "noise_scale": round((lo + hi) / 2, 4),
        "noise_scale_range": [lo, hi],
        "instances_seen": ck["seen"],
        "steps": ck["step"],
        "training_command": cfg.get("command", ""),
    }
    info.update(overrides)
    return export(model, out_dir, name, info)
