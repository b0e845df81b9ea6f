"""registry.resolve decides the file, precision and providers; fluorodn.session builds one session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fluorodn import Denoiser, DenoiserOptions, DeviceError, InputError, ModelError
from fluorodn.precision import PRECISIONS, Precision, check_precision
from fluorodn.registry import CPU, CUDA, ModelCard, resolve
from tests.support import add_variant


def test_one_precision_vocabulary() -> None:
    from fluorodn.cli._options import Precision as CliPrecision

    assert CliPrecision is Precision
    assert [p.value for p in Precision] == ["auto", "fp32", "int8"]
    assert PRECISIONS == ("fp32", "int8", "bf16")
    assert check_precision(Precision.int8) == "int8" and type(check_precision(Precision.int8)) is str
    assert DenoiserOptions(precision=Precision.fp32).precision == "fp32"
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, int8;"):
        check_precision("fp16")


def test_resolve_decides_file_and_providers(shipped: Path, helpers: Any) -> None:
    variant = add_variant(shipped, "low", helpers, speedup=2.0)
    auto_cpu = resolve("low", "auto", "cpu")
    assert auto_cpu.source.path == variant and auto_cpu.providers == (CPU,) and not auto_cpu.strict
    auto_gpu = resolve("low", "auto", "auto", [CUDA, CPU])
    assert auto_gpu.source.variant is None and auto_gpu.providers == (CUDA, CPU) and not auto_gpu.strict
    assert auto_gpu.on_cpu().path == variant  # where CUDA turns out unusable, the CPU runs its faster file
    fp32 = resolve("low", "fp32", "auto", [CUDA, CPU])
    assert fp32.on_cpu() is fp32.source
    assert resolve("low", "int8", "auto", [CUDA, CPU]).providers == (CPU,)
    cuda = resolve("low", "fp32", "cuda", [CPU])
    assert cuda.strict and cuda.providers == (CUDA, CPU)
    with pytest.raises(DeviceError, match="'int8' runs on the CPU only"):
        resolve("low", "int8", "cuda")
    with pytest.raises(InputError, match="'bf16' is not available"):
        resolve("low", "bf16", "cpu")
    with pytest.raises(ModelError, match="unknown model"):
        resolve("nope", "bf16", "cpu")  # the model is checked first


def test_model_card(tiny_model: Path) -> None:
    dn = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1))
    card = dn.model_card
    assert isinstance(card, ModelCard)
    assert (card.name, card.kind, card.halo, card.channels, card.precision) == ("tiny", "image", 5, 1, "fp32")
    assert card.raw is dn.metadata and card.normalization == dn.metadata["normalization"]
    with pytest.raises(ModelError, match="metadata field 'halo'"):
        ModelCard.from_metadata({**dn.metadata, "halo": -1}, "x.onnx")


def count_sessions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import onnxruntime

    built: list[Any] = []
    real = onnxruntime.InferenceSession

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs.get("providers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", counting)
    return built


def test_the_cpu_session_is_built_once(shipped: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With device "auto" where CUDA cannot run, the CPU's file is loaded once, not after an fp32 session."""
    import onnxruntime

    import fluorodn.session

    variant = add_variant(shipped, "low", helpers, speedup=2.0)
    built = count_sessions(monkeypatch)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(fluorodn.session, "_cuda_driver", lambda: False)  # no NVIDIA driver
    dn = Denoiser("low", device="auto", options=DenoiserOptions(threads=1))
    assert dn.path == variant and dn.precision == "int8" and dn.provider == CPU
    assert built == [[CPU]]
    built.clear()
    Denoiser("low", device="cpu", precision="fp32", options=DenoiserOptions(threads=1))
    assert built == [[CPU]]
