"""Fixtures for the Dask tests (the tiny-model builder is ``make_model`` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def dask_model(tmp_path_factory: pytest.TempPathFactory, make_model: Callable[..., Path]) -> Path:
    """A tiny random DnCNN-like model with halo 6 (depth 6, width 4).

    Its weights are random (not a denoiser): what matters here is that every output
    depends on its whole receptive field, including the zero padding at the image
    border, so that any stitching mistake shows.
    """
    return make_model(tmp_path_factory.mktemp("dask_model") / "tiny.onnx", depth=6, width=4)


@pytest.fixture(scope="session")
def recording() -> np.ndarray:
    """A (97, 61) float64 recording with structure, offset and noise."""
    rng = np.random.default_rng(1)
    t = np.arange(97)[:, None]
    w = np.arange(61)[None, :]
    clean = 300.0 + 80.0 * np.exp(-(((w - 25) / 12.0) ** 2)) * (1 + 0.3 * np.sin(t / 7.0))
    return clean + rng.normal(0, 6.0, clean.shape)
