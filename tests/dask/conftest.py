"""Fixtures for the Dask tests: a tiny DnCNN-like ONNX model built with onnx.helper."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def build_dncnn_onnx(path: Path, *, depth: int = 6, width: int = 4, seed: int = 0) -> Path:
    """Write a random DnCNN-like model (zero-padded 3x3 convs + ReLU, halo = depth).

    The weights are random (not a denoiser): what matters for these tests is that
    every output depends on its whole receptive field, including the zero padding
    at the image border, so that any stitching mistake shows.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    chans = [1] + [width] * (depth - 1) + [1]
    nodes, inits = [], []
    cur = "input"
    flop = 0
    for i in range(depth):
        cin, cout = chans[i], chans[i + 1]
        w = rng.normal(0.0, np.sqrt(2.0 / (9 * cin)), (cout, cin, 3, 3)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        inputs = [cur, f"w{i}"]
        if 0 < i < depth - 1:
            inits.append(numpy_helper.from_array(rng.normal(0, 0.1, cout).astype(np.float32), f"b{i}"))
            inputs.append(f"b{i}")
        out = "noise" if i == depth - 1 else f"c{i}"
        nodes.append(helper.make_node("Conv", inputs, [out], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        flop += 2 * 9 * cin * cout
        if i < depth - 1:
            nodes.append(helper.make_node("Relu", [out], [f"r{i}"]))
            cur = f"r{i}"
    dims = ["N", 1, "H", "W"]
    graph = helper.make_graph(
        nodes,
        "tiny_dncnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("noise", TensorProto.FLOAT, dims)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "format": 1,
        "name": f"tiny-d{depth}w{width}",
        "version": "0.0.0-test",
        "architecture": "DnCNN",
        "depth": depth,
        "width": width,
        "halo": depth,
        "normalization": "median-mad-dt-v1",
        "domain": "spectral-fiber-photometry",
        "noise_scale": 0.3,
        "instances_seen": 0,
        "steps": 0,
        "training_command": "tests",
        "opset": 17,
        "input": "input",
        "output": "noise",
        "flop_per_pixel": flop,
        "created": "2025-01-01T00:00:00Z",
    }
    helper.set_model_props(model, {"fluorodn": json.dumps(meta)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def dask_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with halo 6 (depth 6, width 4)."""
    return build_dncnn_onnx(tmp_path_factory.mktemp("dask_model") / "tiny.onnx", depth=6, width=4)


@pytest.fixture(scope="session")
def recording() -> np.ndarray:
    """A (97, 61) float64 recording with structure, offset and noise."""
    rng = np.random.default_rng(1)
    t = np.arange(97)[:, None]
    w = np.arange(61)[None, :]
    clean = 300.0 + 80.0 * np.exp(-(((w - 25) / 12.0) ** 2)) * (1 + 0.3 * np.sin(t / 7.0))
    return clean + rng.normal(0, 6.0, clean.shape)
