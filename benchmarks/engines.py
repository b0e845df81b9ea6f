"""What fluorodn runs in the speed benchmark: a Denoiser per precision a model ships, candidates, bf16 on OpenVINO."""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OpenVINOSession", "engines", "precisions"]


def precisions(model: str) -> list[str]:
    """Precisions to measure for ``model``: fp32, plus the reduced-precision variants the
    runtime knows (its ``PRECISIONS``) that this model ships (its card's ``variants``)."""
    import fluorodn.denoiser as fd

    known = list(getattr(fd, "PRECISIONS", ["fp32"]))
    try:
        from fluorodn.registry import model_variants

        shipped = set(model_variants(model))
    except (ImportError, ValueError):
        shipped = set()
    return ["fp32", *(p for p in known if p != "fp32" and p in shipped)]


class OpenVINOSession:
    """The ``run`` interface of an onnxruntime session, on OpenVINO's CPU plugin in bf16.

    Swapped into an fp32 :class:`fluorodn.Denoiser` so that normalization, tiling and
    stitching are exactly fluorodn's; only the network runs elsewhere.
    """

    def __init__(self, path: Path, threads: int):
        import openvino as ov

        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "bf16", "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                  "PERFORMANCE_HINT": "LATENCY"}  # fmt: skip
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.precision = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.request = self.compiled.create_infer_request()
        self.version = ov.__version__

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        (x,) = feeds.values()
        return [np.asarray(self.request.infer({0: np.ascontiguousarray(x)})[0])]


def engines(
    model: str, device: str, threads: int, candidates: Sequence[Path], notes: list[str]
) -> list[tuple[str, Any]]:
    """(precision label, Denoiser-like) pairs to measure for ``model`` on ``device``.

    fp32 and every shipped variant; on the CPU also each ``candidates`` file whose metadata
    names this model (a reduced-precision build the quality guard refused: "not shipped"),
    and bf16 on OpenVINO where ``openvino`` is installed.
    """
    from fluorodn import Denoiser, DeviceError, ModelError

    out: list[tuple[str, Any]] = []
    for precision in precisions(model):
        try:
            out.append((precision, Denoiser(model, device=device, options=_options(threads, precision))))
        except (DeviceError, ModelError) as err:
            notes.append(f"{model} {precision} on {device} not measured: {err}")
    if device != "cpu" or not out or out[0][0] != "fp32":
        return out
    base = out[0][1]
    for path in candidates:
        try:
            den = Denoiser(path, device="cpu", options=_options(threads, "auto"))
        except (DeviceError, ModelError) as err:
            notes.append(f"candidate {path} not measured: {err}")
            continue
        if den.metadata.get("name") == base.metadata.get("name") and den.precision != "fp32":
            den.name = base.name
            out.append((f"{den.precision} (not shipped)", den))
    if importlib.util.find_spec("openvino") is None:
        note = (
            "bf16 not measured: OpenVINO is not installed (pip install openvino); onnxruntime's CPU "
            "provider has no bf16 arithmetic."
        )
        if note not in notes:
            notes.append(note)
    else:
        den = Denoiser(model, device="cpu", options=_options(threads, "fp32"))
        session = OpenVINOSession(Path(den.path), den.threads)
        den._session = session
        den.provider = f"OpenVINO {session.version} CPU ({session.precision})"
        out.append(("bf16 (OpenVINO)", den))
    return out


def _options(threads: int, precision: str) -> Any:
    """DenoiserOptions with ``threads`` and an explicit precision (never "auto")."""
    from fluorodn import DenoiserOptions

    names = {f.name for f in dataclasses.fields(DenoiserOptions)}
    kw: dict[str, Any] = {"threads": threads}
    if "precision" in names:
        kw["precision"] = precision
    return DenoiserOptions(**kw)
