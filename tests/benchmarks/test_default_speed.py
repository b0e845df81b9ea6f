"""The default-speed benchmark's 1D-convolution copy of the shipped spectral model."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from benchmarks.default_speed import conv1d_copy
from fluorodn.registry import load_model


def _weight_ranks(path: Path) -> set[int]:
    return {len(t.dims) for t in onnx.load(str(path)).graph.initializer if t.name.endswith("weight")}


def test_conv1d_copy_computes_the_shipped_model(tmp_path: Path) -> None:
    src = load_model("default").path
    dst = tmp_path / "spectral_conv1d.onnx"
    conv1d_copy(src, dst)
    assert _weight_ranks(src) == {4} and _weight_ranks(dst) == {3}
    ops = [n.op_type for n in onnx.load(str(dst)).graph.node]
    assert "Squeeze" not in ops
    x = np.random.default_rng(0).standard_normal((1, 32, 500)).astype(np.float32)
    x[:, 16:] = np.random.default_rng(1).uniform(0.02, 1.0, (1, 16, 1))
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (src, dst))
    ya, yb = a.run(None, {"input": x})[0], b.run(None, {"input": x})[0]
    assert ya.shape == yb.shape == (1, 16, 500)
    np.testing.assert_allclose(yb, ya, rtol=1e-5, atol=1e-5 * float(np.abs(ya).max()))
