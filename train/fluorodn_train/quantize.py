"""Reduced-precision variants of an exported model, shipped only if the quality guard passes.

``python -m fluorodn_train quantize models/low.onnx models/high.onnx`` writes, for each
float model ``<name>.onnx`` (with its card ``<name>.json`` beside it):

* ``<name>.int8.onnx``: static int8 quantization with onnxruntime's tools (QDQ format,
  weights int8 per output channel, activations uint8 per tensor, ranges calibrated on
  the training generator's normalized windows from the validation stream, or learned by
  quantization-aware training, :mod:`fluorodn_train.qat`); onnxruntime's CPU provider fuses
  each DequantizeLinear -> Conv -> QuantizeLinear into one QLinearConv with the ReLU folded
  in, which runs on MLAS's u8s8 (AVX512-VNNI where present) kernels;
* ``card["variants"]["int8"]`` in ``<name>.json``: file, sha256, the float model's sha256,
  the measured quality deltas and speed-up, and how it was built.

The variant is written only if :func:`fluorodn_train.evaluation.guard` accepts it against
the float model. bf16 is not built (:data:`BF16_REFUSED`). docs/precision.md records the
measurements behind these choices and the commands that reproduce them.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from fluorodn.io import atomic_output
from fluorodn.precision import RUNNABLE

from .data import VAL_STREAM, Sampler, SpectralSampler
from .evaluation.guard import (
    COHERENCE_TOL,
    GUARD_MINUTES,
    GUARD_SEEDS,
    PSNR_TOL_DB,
    QualityGuardError,
    guard,
    guard_scales,
)
from .export import read_metadata, set_metadata, sha256, write_json

__all__ = [
    "COHERENCE_TOL",
    "PRECISIONS",
    "PSNR_TOL_DB",
    "QualityGuardError",
    "calibration_windows",
    "guard",
    "guard_scales",
    "quantize",
    "quantize_int8",
    "spectral_calibration_inputs",
]

#: Variants this module builds: the reduced precisions the runtime runs.
PRECISIONS = tuple(RUNNABLE)
#: Why bf16 is not built (docs/precision.md has the measurements).
BF16_REFUSED = (
    "bf16 has no arithmetic in onnxruntime's CPU provider, and OpenVINO's bf16 was measured "
    "slower than int8 and 1-3.4 dB worse than fp32 (docs/precision.md)"
)
#: Calibration: seed (validation stream), number and size of the normalized windows.
CALIB_SEED = 5
CALIB_WINDOWS = 32
CALIB_WINDOW = (101, 152)
#: Calibration noise scales: the model's noise scale times this range.
CALIB_SPREAD = (0.8, 1.2)
#: Calibration recordings of a spectral model: time samples each.
CALIB_LENGTH = 1200
#: Convolutions kept in float32: "first" and/or "last" (by position in the chain).
FLOAT_LAYERS: tuple[str, ...] = ()
#: 7-bit weights (see :func:`quantize_int8`).
REDUCE_RANGE = True

Log = Callable[[str], None]


# ------------------------------------------------------------------------------ building


def calibration_windows(
    noise_scale: float, n: int = CALIB_WINDOWS, seed: int = CALIB_SEED, window: tuple[int, int] = CALIB_WINDOW
) -> np.ndarray:
    """(n, 1, T, W) float32 network inputs, normalized like the runtime, from the generator's
    validation stream at noise scales ``noise_scale * CALIB_SPREAD``."""
    lo, hi = CALIB_SPREAD
    sampler = Sampler(seed, VAL_STREAM, window, (noise_scale * lo, noise_scale * hi))
    return sampler.batch(n)[0]


def spectral_calibration_inputs(
    noise_scale: tuple[float, float], n: int = CALIB_WINDOWS, seed: int = CALIB_SEED, length: int = CALIB_LENGTH
) -> np.ndarray:
    """(n, 2K, length) float32 inputs of a spectral model (``fluorodn.spectral.network_input``
    of whole recordings from the validation stream, noise scales across ``noise_scale``)."""
    sampler = SpectralSampler(seed, VAL_STREAM, noise_scale, lengths=(length, length))
    return sampler.batch(n)[0]


def _conv_names(model: Any) -> list[str]:
    """Names of the Conv nodes in graph order (names are given to unnamed nodes)."""
    names = []
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"
        if node.op_type == "Conv":
            names.append(node.name)
    return names


def quantize_int8(
    float_path: str | Path,
    out_path: str | Path,
    windows: np.ndarray,
    *,
    float_layers: Sequence[str] = FLOAT_LAYERS,
    quant_format: str = "QDQ",
    reduce_range: bool = REDUCE_RANGE,
    batch: int = 8,
    activation_ranges: Sequence[float] | None = None,
    op_types: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write the static int8 quantization of ``float_path`` to ``out_path``.

    Parameters
    ----------
    windows : (N, 1, T, W) float32 calibration inputs (normalized units).
    float_layers : convolutions to keep in float32: "first", "last", and "second" (the
        second also keeps the first).
    quant_format : "QDQ" (QuantizeLinear/DequantizeLinear pairs, fused by onnxruntime)
        or "QOperator" (QLinearConv nodes written out).
    reduce_range : 7-bit weights, so that x86 CPUs without VNNI (whose u8 x s8 kernels sum
        pairs of products in 16 bits) cannot saturate and compute what the guard checked.
    activation_ranges : the ranges ``r`` of the ReLU outputs in graph order, as learned by
        quantization-aware training (:mod:`fluorodn_train.qat`): each is quantized to uint8
        on ``[0, r]`` (scale ``r / 255``, zero point 0) instead of its calibrated range.
    op_types : the operator types quantized (None: every type onnxruntime quantizes); a
        spectral model quantizes its convolutions only, keeping the division by the traces'
        levels and the reshapes around the network in float32.

    Returns what was done (recorded in the card). The fluorodn metadata property is
    copied with ``"precision": "int8"`` and the float model's sha256 added.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    float_path, out_path = Path(float_path), Path(out_path)
    model = onnx.load(str(float_path))
    convs = _conv_names(model)
    unknown = set(float_layers) - {"first", "second", "last"}
    if unknown:
        raise ValueError(f"float_layers must be 'first', 'second' and/or 'last', got {sorted(unknown)}")
    lead = 2 if "second" in float_layers else int("first" in float_layers)
    exclude = convs[:lead] + [convs[-1]] * ("last" in float_layers)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": windows[i : i + batch]} for i in range(0, len(windows), batch)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    overrides: dict[str, list[dict[str, Any]]] = {}
    if activation_ranges is not None:
        relus = [n for n in model.graph.node if n.op_type == "Relu"]
        if len(relus) != len(activation_ranges):
            raise ValueError(f"{len(activation_ranges)} activation ranges for {len(relus)} ReLU outputs")
        for k, (node, r) in enumerate(zip(relus, activation_ranges, strict=True)):
            if k + 1 < lead:  # the input of a float convolution: not quantized
                continue
            q = {"scale": np.array(r / 255.0, dtype=np.float32), "zero_point": np.array(0, dtype=np.uint8)}
            overrides[node.output[0]] = [dict(q)]
            overrides[node.input[0]] = [dict(q)]  # the Conv output the ReLU is folded into

    work = onnx.ModelProto()
    work.CopyFrom(model)  # quantize_static moves the weights of the proto it is given into a temporary folder
    quantize_static(
        work,
        str(out_path),
        Reader(),
        quant_format=QuantFormat[quant_format],
        per_channel=True,
        reduce_range=reduce_range,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=exclude,
        op_types_to_quantize=list(op_types) if op_types is not None else None,
        calibrate_method=CalibrationMethod.MinMax,
        calibration_providers=["CPUExecutionProvider"],
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True, "TensorQuantOverrides": overrides},
    )
    q = onnx.load(str(out_path))
    set_metadata(q, dict(read_metadata(model), precision="int8", float_sha256=sha256(float_path)))
    q.producer_name = "fluorodn_train.quantize"
    onnx.checker.check_model(q)
    onnx.save(q, str(out_path))
    return {
        "format": quant_format,
        "weights": f"int8, symmetric, per output channel{', 7-bit range' if reduce_range else ''}",
        "activations": (
            "uint8, per tensor, ranges learned by quantization-aware training"
            if activation_ranges is not None
            else "uint8, asymmetric, per tensor (MinMax calibration)"
        ),
        "float_layers": list(float_layers),
        "calibration": {"windows": len(windows), "window": list(windows.shape[2:]), "stream": "VAL_STREAM"},
    }


def _quantize_qat(
    ckpt: Path, float_path: Path, out_path: Path, windows: np.ndarray, quant_format: str, float_first: int | None = None
) -> dict[str, Any]:
    """quantize_int8 of a QAT checkpoint's network with its learned ranges.

    ``float_first``: leading convolutions kept in float32 (1 or 2; default: as trained).
    """
    import onnx

    from .export import runtime_network, write_onnx
    from .qat import load_qat

    model, ck = load_qat(ckpt)
    if float_first is not None:
        model.float_first = float_first
    meta = read_metadata(onnx.load(str(float_path)))
    spectral = model.traces is not None
    if spectral != (meta.get("kind") == "spectral"):
        raise ValueError(
            f"{ckpt} was fine-tuned from a {'spectral' if spectral else 'image'} model, not from {float_path}'s"
        )
    tmp_float = out_path.with_name(out_path.name + ".qat-float.onnx")
    try:
        write_onnx(runtime_network(model.float_model(), odd=bool(meta.get("odd", False))), tmp_float, meta)
        lead = ("first", "second")[: model.float_first]
        how = quantize_int8(
            tmp_float,
            out_path,
            windows,
            float_layers=(*lead, "last"),
            quant_format=quant_format,
            activation_ranges=model.ranges(),
            op_types=("Conv",) if spectral else None,
        )
    finally:
        tmp_float.unlink(missing_ok=True)
    # the metadata names the shipped float model, not the temporary QAT export
    q = onnx.load(str(out_path))
    set_metadata(q, dict(read_metadata(q), float_sha256=sha256(float_path)))
    onnx.save(q, str(out_path))
    how["qat"] = {
        "checkpoint": str(ckpt),
        "steps": int(ck["step"]),
        "instances_seen": int(ck["seen"]),
        "command": ck["config"].get("command", ""),
        "activation_ranges": [round(r, 4) for r in model.ranges()],
    }
    return how


# ------------------------------------------------------------------------------ the command


def _card_path(float_path: Path) -> Path:
    return float_path.with_suffix(".json")


def quantize(
    float_path: str | Path,
    precision: str = "int8",
    *,
    calib_windows: int = CALIB_WINDOWS,
    calib_seed: int = CALIB_SEED,
    float_layers: Sequence[str] = FLOAT_LAYERS,
    quant_format: str = "QDQ",
    guard_seeds: Sequence[int] = GUARD_SEEDS,
    guard_minutes: float = GUARD_MINUTES,
    threads: int | None = None,
    command: str = "",
    qat: str | Path | None = None,
    keep_refused: str | Path | None = None,
    log: Log = lambda _: None,
) -> tuple[Path, dict[str, Any]]:
    """Build ``<name>.<precision>.onnx`` beside ``float_path`` and record it in the card.

    ``qat``: a checkpoint of :mod:`fluorodn_train.qat` fine-tuned from the float model's
    training checkpoint; its network is quantized with its learned activation ranges, the
    first and last convolutions kept in float32 as it was trained (of ``float_layers`` only
    "second" counts: the second convolution too). The guard compares the result with the
    float model at ``float_path``: on recordings at the card's noise scale, or, for a spectral
    model (blind over ``noise_scale_range``), one recording per seed across that range
    (:func:`~fluorodn_train.evaluation.guard.guard_scales`).

    ``keep_refused``: a folder where a refused variant is kept (never beside the shipped
    models), with ``<file>.refused.json`` saying why, for benchmarks and inspection.

    Raises :class:`QualityGuardError` (writing nothing) if the guard refuses the variant,
    ValueError for a precision that is not built (bf16) or a model without a card.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not built: only {', '.join(PRECISIONS)}. {BF16_REFUSED}")
    float_path = Path(float_path)
    card_path = _card_path(float_path)
    if not card_path.is_file():
        raise ValueError(
            f"{float_path} has no model card {card_path.name} beside it; export it with "
            "python -m fluorodn_train export first"
        )
    card = json.loads(card_path.read_text(encoding="utf-8"))
    digest = sha256(float_path)
    if card.get("sha256") != digest:
        raise ValueError(f"{card_path.name} does not describe {float_path.name} (sha256 differs); re-export it")
    noise_scale = float(card["noise_scale"])
    final = float_path.with_name(f"{float_path.stem}.{precision}.onnx")
    t0 = time.perf_counter()
    with atomic_output(final, overwrite=True) as tmp:
        spectral = card.get("kind") == "spectral"
        scales = tuple(card.get("noise_scale_range") or (noise_scale, noise_scale))
        if spectral:
            windows = spectral_calibration_inputs((float(scales[0]), float(scales[1])), calib_windows, calib_seed)
        else:
            windows = calibration_windows(noise_scale, calib_windows, calib_seed)
        if qat is None:
            how = quantize_int8(
                float_path,
                tmp,
                windows,
                float_layers=float_layers,
                quant_format=quant_format,
                op_types=("Conv",) if spectral else None,
            )
        else:
            how = _quantize_qat(
                Path(qat), float_path, tmp, windows, quant_format, float_first=2 if "second" in float_layers else None
            )
            float_layers = tuple(how["float_layers"])
        calib_scales = list(scales) if spectral else [noise_scale * s for s in CALIB_SPREAD]
        # a spectral model is blind over its noise range: guarded across it, one recording per seed
        guarded = guard_scales(scales, len(guard_seeds)) if spectral else (noise_scale,) * len(guard_seeds)
        how["calibration"].update(seed=calib_seed, noise_scale=calib_scales)
        log(
            f"{float_path.name}: quantized ({quant_format}, float layers: {','.join(float_layers) or 'none'}) "
            f"in {time.perf_counter() - t0:.1f} s; guard on {len(guard_seeds)} x {guard_minutes:g} min "
            f"at noise scale {'/'.join(f'{v:g}' for v in guarded)}"
        )
        try:
            checked = guard(
                float_path,
                tmp,
                guarded,
                seeds=guard_seeds,
                minutes=guard_minutes,
                threads=threads,
                name=final.name,
                log=log,
            )
        except QualityGuardError as err:
            if keep_refused is not None:
                kept = Path(keep_refused) / final.name
                kept.parent.mkdir(parents=True, exist_ok=True)
                with atomic_output(kept, overwrite=True) as copy:
                    shutil.copyfile(tmp, copy)
                why = {
                    "refused": str(err),
                    "guard_rows": err.rows,
                    "float_sha256": digest,
                    "quantization": how,
                    "command": command,
                }
                write_json(kept.with_name(f"{final.name}.refused.json"), why)
                log(f"refused variant kept as {kept}")
            raise
        entry = {
            "file": final.name,
            "sha256": sha256(tmp),
            "float_sha256": digest,
            "psnr_delta_db": checked["psnr_delta_db"],
            "coherence_delta": checked["coherence_delta"],
            "speedup_measured": checked["speedup_measured"],
            "providers": ["CPUExecutionProvider"],
            "quantization": how,
            "guard": checked["guard"],
            "onnxruntime": onnxruntime.__version__,
            "command": command,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
    card.setdefault("variants", {})[precision] = entry
    write_json(card_path, card)
    return final, entry
