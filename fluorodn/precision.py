"""Numeric precisions: the ones a model can be in, and the ones this runtime runs.

Imports nothing heavy (no numpy, no onnxruntime), so that the command line can offer
:class:`Precision` as its choices without loading the runtime.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from fluorodn.errors import InputError

__all__ = ["BF16_UNAVAILABLE", "PRECISIONS", "REFUSED", "RUNNABLE", "VARIANTS", "Precision", "check_precision"]


class Precision(str, Enum):
    """A precision to run a model in.

    ``auto``: the fastest variant shipped for the provider in use (int8 on the CPU where
    the model ships one measured at least ``fluorodn.registry.AUTO_MIN_SPEEDUP`` times
    faster, fp32 on CUDA); ``fp32``; ``int8``: the model's shipped quantized variant, run
    on the CPU.
    """

    auto = "auto"
    fp32 = "fp32"
    int8 = "int8"


#: Reduced-precision variants a shipped model may have beside its float32 file: entries of
#: its card's ``"variants"`` object, each with ``file``, ``sha256`` and the quality deltas
#: measured when it was built (``python -m fluorodn_train quantize``).
VARIANTS = ("int8", "bf16")
#: Numeric precisions a model can be in; ``precision`` also accepts ``"auto"``.
PRECISIONS = (Precision.fp32.value, *VARIANTS)
#: Reduced-precision variants this runtime runs, with the providers that run them.
RUNNABLE = {Precision.int8.value: ("CPUExecutionProvider",)}
#: Why ``precision="bf16"`` is refused (measured; docs/precision.md).
BF16_UNAVAILABLE = (
    "precision 'bf16' is not available: onnxruntime's CPU provider has no bf16 arithmetic, "
    "and OpenVINO's bf16, about 2x faster on CPUs with AVX512-BF16 but slower "
    "than int8, lowered PSNR by 1-3.4 dB (the quality guard allows 0.1 dB); use 'fp32', or 'int8' where shipped"
)
#: Precisions a model can be in that this runtime does not run, with the reason.
REFUSED = {"bf16": BF16_UNAVAILABLE}


def check_precision(precision: Any) -> str:
    """``precision`` (a :class:`Precision` or its value, or another of :data:`PRECISIONS`) as a
    plain string; :class:`~fluorodn.errors.InputError` (a ValueError) for a name that is none of them."""
    value = precision.value if isinstance(precision, Enum) else precision
    if value not in (Precision.auto.value, *PRECISIONS):
        offered = [p for p in PRECISIONS if p not in REFUSED]  # those a run can take
        raise InputError(f"precision must be one of auto, {', '.join(offered)}; got {precision!r}")
    return str(value)
