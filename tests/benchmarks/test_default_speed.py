"""The default-speed benchmark's 1D-convolution copy of the shipped spectral model and its int8 row."""

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


def test_the_int8_row_runs_the_shipped_variant() -> None:
    """``--precision int8`` runs the default's shipped int8 file (its convolutions in int8 but the
    first and last), which differs from the float model by much less than the noise."""
    from fluorodn_train.data import VAL_STREAM, make_instance

    from benchmarks.default_speed import INT8, int8_facts
    from fluorodn import Denoiser

    facts = int8_facts()
    assert facts["float_layers"] == ["first", "last"] and facts["qat_steps"] > 0
    float_den, int8_den = Denoiser(device="cpu"), Denoiser(device="cpu", precision="int8")
    assert float_den.precision == "fp32" and int8_den.precision == "int8" and int8_den.sha256 == facts["sha256"]
    graph = onnx.load(str(int8_den.path)).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    assert sum(c.input[1] in dequantized for c in convs) == len(convs) - 2 > 0
    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(VAL_STREAM, 99)))
    x = make_instance(rng, 3000, 152, 0.4).noisy.astype(np.float32)
    yf, yq = float_den.run(x), int8_den.run(x)
    noise = float(np.median(np.abs(np.diff(x, axis=0)))) / 0.954
    err = float(np.sqrt(np.mean((yq - yf) ** 2)))
    assert 0 < err < 0.1 * noise, INT8
