"""A Denoiser pickled (for a process pool) or copied is the same denoiser, made again from the same
model file; its repr names the settings that change the output; its tile plan is the one of the
model that denoises the page."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from fluorodn import Denoiser, DenoiserOptions, ModelError


def test_a_pickled_denoiser_runs_as_the_original(tiny_model: Path) -> None:
    den = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1, tile_pixels=2048))
    x = np.random.default_rng(0).normal(100.0, 5.0, (64, 48)).astype(np.float32)
    want = den.run(x)
    for other in (pickle.loads(pickle.dumps(den)), copy.deepcopy(den), copy.copy(den)):
        assert other is not den and other.options == den.options and other.sha256 == den.sha256
        np.testing.assert_array_equal(other.run(x), want)
    # a fresh interpreter, as on Windows and macOS: a child forked from this many-threaded process
    # (onnxruntime, dask, zarr) can inherit a lock another thread held and hang
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        np.testing.assert_array_equal(pool.submit(den.run, x).result(timeout=120), want)


def test_a_pickled_denoiser_whose_model_file_changed_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    path = tmp_path / "mine.onnx"
    shutil.copyfile(tiny_model, path)
    blob = pickle.dumps(Denoiser(path, device="cpu", options=DenoiserOptions(threads=1)))
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(path)
    proto.doc_string = "trained again"  # the same graph, other bytes
    onnx.save(proto, path)
    with pytest.raises(ModelError, match="is not the file the pickled Denoiser ran"):
        pickle.loads(blob)


def test_repr_names_the_settings_that_change_the_output() -> None:
    plain = repr(Denoiser(options=DenoiserOptions(threads=1)))
    assert "options=" not in plain and "kind=" not in plain
    told = repr(Denoiser(kind="spectral", options=DenoiserOptions(threads=1, strength=0.3, keep_fixed_pattern=True)))
    assert "kind='spectral'" in told and "strength=0.3" in told and "keep_fixed_pattern=True" in told
    assert "spectral_only=True" in repr(Denoiser(options=DenoiserOptions(threads=1, spectral_only=True)))


def test_the_plan_of_a_frame_is_the_image_models() -> None:
    """The default hands a 512 x 512 frame to the image model: its plan is that model's (halo 20),
    not the spectral model's."""
    den = Denoiser(options=DenoiserOptions(threads=1))
    image = Denoiser("low", options=DenoiserOptions(threads=1))
    assert den.plan((512, 512)).halo == image.halo == image.plan((512, 512)).halo != den.halo
    assert den.plan((512, 512)).window == image.plan((512, 512)).window
