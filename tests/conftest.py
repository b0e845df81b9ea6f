"""Shared fixtures: tiny DnCNN-like ONNX models built with onnx.helper, and test data.

The tiny model has the real model's structure (3x3 convolutions with zero padding, bias
after batch-norm folding, ReLU, a residual noise output, the ``fluorodn`` metadata
property) but depth 5 and width 4, so its halo is 5 and it runs in microseconds.
Real shipped models are only used by tests that are about them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

TINY_DEPTH, TINY_WIDTH = 5, 4


def tiny_metadata(name: str = "tiny", depth: int = TINY_DEPTH, width: int = TINY_WIDTH, **extra: Any) -> dict:
    meta = {
        "format": 1,
        "name": name,
        "version": "0.0-test",
        "architecture": "DnCNN",
        "depth": depth,
        "width": width,
        "halo": depth,
        "normalization": "median-mad-dt-v1",
        "domain": "spectral-fiber-photometry",
        "noise_scale": 0.3,
        "instances_seen": 0,
        "steps": 0,
        "training_command": "tests/conftest.py",
        "opset": 17,
        "input": "input",
        "output": "noise",
        "flop_per_pixel": 2 * 9 * (2 * width + (depth - 2) * width * width),
        "created": "2026-01-01T00:00:00+00:00",
    }
    meta.update(extra)
    return meta


def build_model(
    path: Path,
    depth: int = TINY_DEPTH,
    width: int = TINY_WIDTH,
    seed: int = 0,
    metadata: dict | str | bool | None = True,
    name: str = "tiny",
) -> Path:
    """Write a DnCNN-like ONNX model with random but fixed weights to ``path``.

    ``metadata``: True for valid fluorodn metadata, a dict or raw string to store
    instead, False for no ``fluorodn`` property at all.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    chans = [1] + [width] * (depth - 1) + [1]
    nodes, inits, prev = [], [], "input"
    for i in range(depth):
        cin, cout = chans[i], chans[i + 1]
        w = rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))
        b = rng.standard_normal(cout) * 0.1
        inits += [
            numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
            numpy_helper.from_array(b.astype(np.float32), f"b{i}"),
        ]
        out = "noise" if i == depth - 1 else f"conv{i}"
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [out], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        if i < depth - 1:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"]))
            prev = f"relu{i}"
    dims = ["N", 1, "H", "W"]
    graph = helper.make_graph(
        nodes,
        "dncnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("noise", TensorProto.FLOAT, dims)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata is True:
        metadata = tiny_metadata(name, depth, width)
    if metadata is not False and metadata is not None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        helper.set_model_props(model, {"fluorodn": text})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_card(onnx_path: Path, meta: dict | None = None) -> Path:
    """Write ``<name>.json`` beside a model: its metadata plus file name and sha256."""
    card = dict(meta or tiny_metadata(onnx_path.stem))
    card["file"] = onnx_path.name
    card["sha256"] = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    path = onnx_path.with_suffix(".json")
    path.write_text(json.dumps(card, indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def make_model() -> Callable[..., Path]:
    """``make_model(path, depth=5, width=4, seed=0, metadata=True, name="tiny")``."""
    return build_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture(scope="session")
def denoiser(tiny_model: Path) -> Any:
    from fluorodn import Denoiser, DenoiserOptions

    return Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1))


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder with tiny ``low`` and ``high`` models, used as the shipped models."""
    from fluorodn import registry

    folder = tmp_path / "shipped"
    for seed, name in enumerate(("low", "high")):
        path = build_model(folder / f"{name}.onnx", seed=seed, name=name)
        write_card(path, tiny_metadata(name, noise_scale=0.3 if name == "low" else 0.8))
    monkeypatch.setattr(registry, "models_dir", lambda: folder)
    return folder


def spectra(rows: int = 120, cols: int = 40, seed: int = 1, dtype: Any = np.uint16) -> np.ndarray:
    """Poisson counts with smooth structure: a stand-in for a (T, W) recording."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 6, rows)[:, None]
    w = np.linspace(-2, 2, cols)[None, :]
    rate = 200 * np.exp(-(w**2)) * (1 + 0.3 * np.sin(t)) + 20
    return rng.poisson(rate).astype(dtype)


@pytest.fixture
def recording() -> np.ndarray:
    return spectra()


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helper functions of this file (test modules cannot import conftest)."""
    return SimpleNamespace(build_model=build_model, write_card=write_card, tiny_metadata=tiny_metadata, spectra=spectra)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``reliability`` are long; they run only when selected with ``-m reliability``."""
    if "reliability" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long reliability check; run with -m reliability")
    for item in items:
        if item.get_closest_marker("reliability"):
            item.add_marker(skip)
