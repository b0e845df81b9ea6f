"""Quantization-aware fine-tuning: resumable, and the int8 model computes what was trained."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from fluorodn_train import quantize as q
from fluorodn_train.calibrate import export_spectral
from fluorodn_train.export import export_checkpoint, sha256
from fluorodn_train.qat import A_QMAX, W_QMAX, QATConfig, fake_quant_act, fake_quant_weight, fit_qat, load_qat
from fluorodn_train.train import FitConfig, fit

TINY = {
    "depth": 5,
    "width": 8,
    "window": (24, 32),
    "batch": 2,
    "val_instances": 4,
    "val_every": 2,
    "ckpt_every": 2,
    "threads": 1,
    "noise_scale": (0.7, 0.9),
}
QTINY = {"batch": 2, "val_instances": 4, "val_every": 2, "ckpt_every": 2, "threads": 1}


@pytest.fixture(scope="module")
def float_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("float")
    return fit(FitConfig(out=str(out), steps=4, **TINY), log=lambda m: None)


def test_fake_quant_grids() -> None:
    w = torch.randn(4, 3, 3, 3)
    fq = fake_quant_weight(w)
    step = w.abs().amax(dim=(1, 2, 3), keepdim=True) / W_QMAX
    k = fq / step
    assert torch.allclose(k, k.round(), atol=1e-4) and k.abs().max() <= W_QMAX + 1e-4
    h = torch.rand(1000) * 10
    a = fake_quant_act(h, torch.log(torch.tensor(5.0)))
    assert a.max() == pytest.approx(5.0) and a.min() >= 0
    assert torch.allclose(a / (5.0 / A_QMAX), (a / (5.0 / A_QMAX)).round(), atol=1e-3)
    # the range gets a gradient (LSQ): clipped values push it up
    log_r = torch.log(torch.tensor(5.0)).requires_grad_()
    fake_quant_act(h, log_r).sum().backward()
    assert log_r.grad is not None and log_r.grad > 0


def test_qat_resumes_exactly(float_ckpt: Path, tmp_path: Path) -> None:
    fit_qat(QATConfig(out=str(tmp_path / "a"), init=str(float_ckpt), steps=4, **QTINY), log=lambda m: None)
    fit_qat(QATConfig(out=str(tmp_path / "b"), init=str(float_ckpt), steps=2, **QTINY), log=lambda m: None)
    fit_qat(QATConfig(out=str(tmp_path / "b"), init=str(float_ckpt), steps=4, **QTINY), log=lambda m: None)
    a, ca = load_qat(tmp_path / "a" / "last.pt")
    b, cb = load_qat(tmp_path / "b" / "last.pt")
    assert ca["step"] == cb["step"] == 4 and ca["seen"] == 8
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6)
    assert all(r > 0 for r in a.ranges())


def test_int8_export_computes_what_was_trained(float_ckpt: Path, tmp_path: Path) -> None:
    ckpt = fit_qat(QATConfig(out=str(tmp_path / "qat"), init=str(float_ckpt), steps=2, **QTINY), log=lambda m: None)
    float_path, _ = export_checkpoint(float_ckpt, tmp_path / "models", "tiny")
    windows = q.calibration_windows(0.8, 2, window=(24, 32))
    out = tmp_path / "tiny.int8.onnx"
    how = q._quantize_qat(ckpt, float_path, out, windows, "QDQ")
    assert how["qat"]["steps"] == 2 and how["float_layers"] == ["first", "last"]
    # onnxruntime runs every middle convolution as an int8 QLinearConv; the first and last stay float
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    assert ops["QLinearConv"] == 3 and ops["Conv"] == 2
    model, _ = load_qat(ckpt)
    x = windows
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
        model.quantize = False
        flt = model(torch.from_numpy(x)).numpy()
    got = sess.run(None, {"input": x})[0]
    err = np.sqrt(np.mean((got - ref) ** 2))
    print(f"int8 vs fake-quant rms {err:.3g}, vs float {np.sqrt(np.mean((got - flt) ** 2)):.3g}")
    # the same grids and ranges: only rare one-step rounding differences (summation order)
    assert err < 0.02 * np.sqrt(np.mean(ref**2))
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    meta = json.loads(props["fluorodn"])
    assert meta["precision"] == "int8" and meta["float_sha256"] == sha256(float_path) and meta["halo"] == 5


def test_second_convolution_can_stay_float(float_ckpt: Path, tmp_path: Path) -> None:
    ckpt = fit_qat(QATConfig(out=str(tmp_path / "qat"), init=str(float_ckpt), steps=2, **QTINY), log=lambda m: None)
    float_path, _ = export_checkpoint(float_ckpt, tmp_path / "models", "tiny")
    out = tmp_path / "tiny.int8.onnx"
    how = q._quantize_qat(ckpt, float_path, out, q.calibration_windows(0.8, 2, window=(24, 32)), "QDQ", float_first=2)
    assert how["float_layers"] == ["first", "second", "last"]
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    assert ops["QLinearConv"] == 2 and ops["Conv"] == 3


SPECTRAL_TINY = {
    "kind": "spectral",
    "noise_scale": (0.1, 1.2),
    "depth": 4,
    "width": 6,
    "shared": True,
    "dilations": "1,2,1,1",
    "window": (40, 0),
    "samples": 200,
    "diff_weight": 1.0,
    "val_instances": 2,
    "val_every": 2,
    "ckpt_every": 2,
    "threads": 1,
}


@pytest.fixture(scope="module")
def spectral_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spectral")
    return fit(FitConfig(out=str(out), steps=2, **SPECTRAL_TINY), log=lambda m: None)


def test_spectral_int8_computes_what_was_trained(spectral_ckpt: Path, float_ckpt: Path, tmp_path: Path) -> None:
    """A spectral model fine-tuned for int8: on its recordings, with its loss; the int8 export
    keeps its form (traces beside levels, odd in the traces) and computes the fake-quantized network."""
    said: list[str] = []
    ckpt = fit_qat(QATConfig(out=str(tmp_path / "qat"), init=str(spectral_ckpt), steps=2, **QTINY), log=said.append)
    first = json.loads(said[0])
    assert first["float_val_loss"] > 0 and first["val_loss"] > 0 and len(first["ranges"]) == 3
    model, ck = load_qat(ckpt)
    assert model.traces == (16, True) and ck["step"] == 2 and ck["seen"] > 2  # recordings of 40-240 samples
    path, _ = export_spectral(
        spectral_ckpt, tmp_path / "models", "tiny", recordings=2, lengths=(200, 300), spread_recordings=4
    )
    calib = q.spectral_calibration_inputs((0.1, 1.2), n=2, length=120)
    out = tmp_path / "tiny.int8.onnx"
    how = q._quantize_qat(ckpt, path, out, calib, "QDQ")
    assert how["float_layers"] == ["first", "last"] and how["qat"]["steps"] == 2
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    sess = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    assert ops["QLinearConv"] == 2 and ops["Conv"] == 2 and ops["Div"] >= 1
    x = calib[:1, :, :90]
    flipped = x.copy()
    flipped[:, :16] *= -1
    with torch.no_grad():  # the exported network is odd in the traces: (f(x) - f(x')) / 2
        ref = 0.5 * (model(torch.from_numpy(x)) - model(torch.from_numpy(flipped))).numpy()
    got = sess.run(None, {"input": x})[0]
    assert np.sqrt(np.mean((got - ref) ** 2)) < 0.02 * np.sqrt(np.mean(ref**2))
    np.testing.assert_allclose(sess.run(None, {"input": flipped})[0], -got, atol=1e-5)
    meta = json.loads(onnx.load(str(out)).metadata_props[0].value)
    assert meta["kind"] == "spectral" and meta["odd"] is True and meta["float_sha256"] == sha256(path)
    # a QAT checkpoint quantizes only a model of its own kind
    image_path, _ = export_checkpoint(float_ckpt, tmp_path / "image", "tiny")
    with pytest.raises(ValueError, match="spectral model"):
        q._quantize_qat(ckpt, image_path, tmp_path / "x.int8.onnx", calib, "QDQ")


def test_spectral_qat_trains_from_a_run_with_weighted_losses(tmp_path: Path) -> None:
    """A float run that weighed its loss around events and ends (targets carrying weights) and used
    absolute errors: QAT draws the same recordings without the weights and keeps the L1 loss."""
    cfg = dict(SPECTRAL_TINY, event_weight=3.0, edge_weight=2.0, loss="l1")
    ckpt = fit(FitConfig(out=str(tmp_path / "float"), steps=1, **cfg), log=lambda m: None)
    said: list[str] = []
    last = fit_qat(QATConfig(out=str(tmp_path / "qat"), init=str(ckpt), steps=2, **QTINY), log=said.append)
    _, ck = load_qat(last)
    assert ck["step"] == 2 and ck["seen"] > 2
    losses = [json.loads(m)["loss"] for m in said if m.startswith("{") and "loss" in json.loads(m)]
    assert losses and all(np.isfinite(v) and v > 0 for v in losses)


def test_distillation_targets_the_float_network(float_ckpt: Path, tmp_path: Path) -> None:
    """With ``distill`` the targets are the float network's output: at step 0 the fake-quantized
    network is far nearer them than the true noise, and training keeps them fixed."""
    said: list[str] = []
    cfg = QATConfig(out=str(tmp_path / "kd"), init=str(float_ckpt), steps=2, distill=True, **QTINY)
    fit_qat(cfg, log=said.append)
    records = [json.loads(m) for m in said if m.startswith("{")]
    first, last = records[0], records[-1]
    # the targets are the float network's, not the fake-quantized one's (which would give exactly 0)
    assert 0 < first["val_distill"] < 0.1 * first["val_loss"]
    assert 0 < last["val_distill"] < 0.1 * last["val_loss"]
