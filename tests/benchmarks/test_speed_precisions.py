"""The speed benchmark measures every precision side by side, with quality deltas against fp32."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

quant = pytest.importorskip("onnxruntime.quantization")

ROOT = Path(__file__).resolve().parents[2]


def _int8(src: Path, dst: Path, z: np.ndarray) -> Path:
    class Reader(quant.CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": z}])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    quant.quantize_static(
        str(src),
        str(dst),
        Reader(),
        quant_format=quant.QuantFormat.QDQ,
        per_channel=True,
        activation_type=quant.QuantType.QUInt8,
        weight_type=quant.QuantType.QInt8,
    )
    return dst


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, helpers: Any) -> dict:
    tmp = tmp_path_factory.mktemp("precisions")
    meta = helpers.tiny_metadata("tiny", depth=6, width=8, noise_scale=0.8)
    src = helpers.build_model(tmp / "tiny.onnx", depth=6, width=8, metadata=meta)
    int8_meta = helpers.tiny_metadata("tiny", depth=6, width=8, noise_scale=0.8, precision="int8")
    cand = helpers.build_model(tmp / "tiny.int8.src.onnx", depth=6, width=8, metadata=int8_meta)
    z = np.random.default_rng(0).normal(size=(1, 1, 64, 64)).astype(np.float32) * 3
    cand = _int8(cand, tmp / "tiny.int8.onnx", z)
    other = helpers.build_model(
        tmp / "other.onnx",
        depth=6,
        width=8,
        name="other",
        metadata=helpers.tiny_metadata("other", depth=6, width=8, precision="int8"),
    )
    out = tmp / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "speed", "--quick", "--out", str(out), "--models", str(src),
         "--candidates", str(cand), str(other), "--no-cli", "--no-torch"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / "speed.json").read_text()) | {"md": (out / "speed.md").read_text()}


def test_candidate_rows_beside_fp32_per_shape(results: dict) -> None:
    rows = results["rows"]
    shapes = {r["shape"] for r in rows}
    for label in ("fp32", "int8 (not shipped)"):
        got = [r for r in rows if r["precision"] == label]
        assert {r["shape"] for r in got} == shapes, label
        assert all(r["fluorodn_mpx_s"] > 0 and r["model"] == "tiny" for r in got)
    # a candidate of another model is not measured as this one's
    assert len([r for r in rows if r["precision"] == "int8 (not shipped)"]) == len(shapes)
    assert "| int8 (not shipped) |" in results["md"]


def test_quality_deltas_against_fp32(results: dict) -> None:
    q = {r["precision"]: r for r in results["precision_quality"]}
    assert q["fp32"]["psnr_delta_db"] == 0 and q["fp32"]["coherence_delta"] == 0
    assert q["fp32"]["speedup"] == 1
    cand = q["int8 (not shipped)"]
    # quantized with a calibration on random input, it differs from the float model, and the delta says so
    assert cand["psnr_delta_db"] == pytest.approx(q["fp32"]["psnr_db"] - cand["psnr_db"])
    assert abs(cand["psnr_delta_db"]) > 0.01 and np.isfinite(cand["coherence_delta"])
    assert "PSNR delta dB" in results["md"]


def test_bf16_measured_or_explained(results: dict) -> None:
    labels = {r["precision"] for r in results["rows"]}
    if "bf16 (OpenVINO)" in labels:
        assert any(r["precision"] == "bf16 (OpenVINO)" for r in results["precision_quality"])
    else:
        assert any("OpenVINO is not installed" in n for n in results["notes"])
