"""Precision selection: fp32, the shipped int8 variant, auto, and the refused bf16."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from fluorodn import Denoiser, DenoiserOptions, DeviceError, InputError, ModelError
from fluorodn.cli import app
from fluorodn.denoiser import PRECISIONS
from fluorodn.registry import AUTO_MIN_SPEEDUP, load_model, model_variants
from tests.support import add_variant


def test_unknown_precision_is_a_value_error(tiny_model: Path) -> None:
    assert PRECISIONS == ("fp32", "int8", "bf16")
    with pytest.raises(InputError, match=r"precision must be one of auto, fp32, int8; got 'fp16'"):
        DenoiserOptions(precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        Denoiser(tiny_model, device="cpu", precision="int4")


def test_without_variants_auto_and_fp32_run_the_float_model(shipped: Path) -> None:
    card = json.loads((shipped / "low.json").read_text())
    for precision in ("auto", "fp32"):
        dn = Denoiser("low", device="cpu", precision=precision)
        assert dn.precision == "fp32" and dn.sha256 == card["sha256"] and dn.path == shipped / "low.onnx"
    assert model_variants("low") == {}


def test_int8_without_a_variant_is_a_clear_error(shipped: Path) -> None:
    with pytest.raises(ModelError, match=r"model 'low' has no int8 variant \(it ships fp32\); use precision"):
        Denoiser("low", device="cpu", precision="int8")


def test_auto_picks_the_int8_variant_on_the_cpu(shipped: Path, helpers: Any) -> None:
    variant = add_variant(shipped, "low", helpers)
    card = json.loads((shipped / "low.json").read_text())
    x = helpers.spectra(64, 40)
    auto = Denoiser("default", device="cpu", kind="image", options=DenoiserOptions(threads=1))
    assert auto.precision == "int8" and auto.path == variant and auto.name == "low"
    assert auto.sha256 == card["variants"]["int8"]["sha256"] and auto.metadata["precision"] == "int8"
    assert "precision='int8'" in repr(auto)
    fp32 = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1, precision="fp32"))
    assert fp32.precision == "fp32" and fp32.sha256 == card["sha256"]
    int8 = Denoiser("low", device="auto", precision="int8", options=DenoiserOptions(threads=1))  # on the CPU
    assert int8.provider == "CPUExecutionProvider" and int8.sha256 == auto.sha256
    np.testing.assert_array_equal(auto.run(x), int8.run(x))
    assert not np.array_equal(auto.run(x), fp32.run(x))  # a different file ran
    assert Denoiser("high", device="cpu").precision == "fp32"  # high has no variant


@pytest.mark.parametrize("speedup", [0.9, 1.02, AUTO_MIN_SPEEDUP - 0.01])
def test_auto_keeps_fp32_where_the_variant_was_not_faster(shipped: Path, helpers: Any, speedup: float) -> None:
    add_variant(shipped, "low", helpers, speedup=speedup)
    assert Denoiser("low", device="cpu").precision == "fp32"
    assert Denoiser("low", device="cpu", precision="int8").precision == "int8"


def test_auto_runs_a_variant_measured_faster_enough(shipped: Path, helpers: Any) -> None:
    add_variant(shipped, "low", helpers, speedup=AUTO_MIN_SPEEDUP)
    assert Denoiser("low", device="cpu").precision == "int8"


def test_int8_on_cuda_and_bf16_are_refused(shipped: Path, helpers: Any) -> None:
    add_variant(shipped, "low", helpers)
    with pytest.raises(DeviceError, match="'int8' runs on the CPU only"):
        Denoiser("low", device="cuda", precision="int8")
    with pytest.raises(InputError, match=r"'bf16' is not available: onnxruntime's CPU provider has no bf16"):
        Denoiser("low", device="cpu", precision="bf16")


def test_variant_integrity_is_checked(shipped: Path, helpers: Any) -> None:
    variant = add_variant(shipped, "low", helpers)
    with variant.open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match=r"'low' is corrupt.*low\.int8\.onnx"):
        Denoiser("low", device="cpu", precision="int8")
    add_variant(shipped, "low", helpers, float_sha256="0" * 64)  # built from an older float model
    with pytest.raises(ModelError, match="built from another float model"):
        load_model("low", variant="int8")


def test_a_variant_file_given_by_path(shipped: Path, helpers: Any) -> None:
    variant = add_variant(shipped, "low", helpers)
    dn = Denoiser(variant, device="cpu")
    assert dn.precision == "int8" and dn.name == "low"
    with pytest.raises(ModelError, match=r"is a model in int8, so it cannot run in fp32"):
        Denoiser(variant, device="cpu", precision="fp32")
    with pytest.raises(ModelError, match="has no int8 variant"):
        load_model(variant, variant="int8")


def test_cli_precision(shipped: Path, helpers: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    np.save(tmp_path / "rec.npy", helpers.spectra(64, 40))
    res = runner.invoke(app, ["denoise", str(tmp_path / "rec.npy"), "--precision", "int8", "--device", "cpu"])
    assert res.exit_code == 1 and "has no int8 variant" in res.output and "Traceback" not in res.output
    add_variant(shipped, "low", helpers)
    res = runner.invoke(app, ["denoise", str(tmp_path / "rec.npy"), "--device", "cpu", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "model low (int8)" in res.output
    res = runner.invoke(app, ["info", "--precision", "bf16", "--device", "cpu"])  # not offered by the CLI
    assert res.exit_code == 2 and "bf16" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0 and "fp32, int8" in res.output


def test_a_quantized_model_runs_close_to_its_float_model(tmp_path: Path, helpers: Any) -> None:
    """onnxruntime's static quantization of a tiny model (QDQ, as fluorodn_train builds it) runs
    through the runtime and stays close to the float model."""
    quant = pytest.importorskip("onnxruntime.quantization")
    from fluorodn.normalize import global_scale

    src = helpers.build_model(tmp_path / "tiny.onnx", depth=5, width=8)
    x = helpers.spectra(80, 40)
    m, s = global_scale(x)
    z = ((x - m) / s).astype(np.float32)[None, None]  # calibrated on the input itself: no clipping

    class Reader(quant.CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": z}])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    dst = tmp_path / "tiny.int8.onnx"
    quant.quantize_static(
        str(src),
        str(dst),
        Reader(),
        quant_format=quant.QuantFormat.QDQ,
        per_channel=True,
        activation_type=quant.QuantType.QUInt8,
        weight_type=quant.QuantType.QInt8,
        reduce_range=True,  # 7-bit weights, as fluorodn_train builds them: no u8s8 saturation on AVX2/VNNI
    )
    ref = Denoiser(src, device="cpu", precision="fp32", options=DenoiserOptions(threads=1)).run(x)
    got = Denoiser(dst, device="cpu", options=DenoiserOptions(threads=1)).run(x)
    err, correction = np.abs(got - ref).mean(), np.abs(x - ref).mean()
    print(f"int8 mean error {err:.4g}, mean correction {correction:.4g}")
    assert err < 0.08 * correction  # 5.2 % measured on AVX512-VNNI (per-tensor uint8 activations of a random tiny net)
