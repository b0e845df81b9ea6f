"""DnCNN shapes, receptive field, BN folding and ONNX export parity + metadata."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from fluorodn.normalize import CONVENTION

from fluorodn_train.export import PARITY_SHAPES, export, flop_per_pixel, sha256
from fluorodn_train.model import DnCNN, fold_batchnorm


def _randomized(depth=6, width=8, seed=0) -> DnCNN:
    torch.manual_seed(seed)
    m = DnCNN(depth, width)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
        m.net[-1].weight.normal_(0, 0.1)
    return m.eval()


def test_architecture_matches_model_card():
    m = DnCNN(20, 64)
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    bns = [x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)]
    assert len(convs) == 20 and len(bns) == 18
    assert all(c.bias is None and c.kernel_size == (3, 3) for c in convs)
    assert convs[1].out_channels == 64 and m.halo == 20
    assert flop_per_pixel(20, 64) == pytest.approx(1.33e6, rel=0.01)


def test_starts_as_identity_denoiser_and_keeps_shape():
    m = DnCNN(5, 8).eval()
    x = torch.randn(2, 1, 13, 7)
    y = m(x)
    assert y.shape == x.shape and float(y.abs().max()) == 0.0


def test_receptive_field_is_halo():
    m = _randomized(depth=6)
    x = torch.randn(1, 1, 41, 41)
    x2 = x.clone()
    x2[0, 0, 20, 20] += 10.0
    with torch.no_grad():
        d = (m(x2) - m(x)).abs()[0, 0]
    rows, cols = torch.nonzero(d > 0, as_tuple=True)
    assert int(rows.min()) >= 20 - m.halo and int(rows.max()) <= 20 + m.halo
    assert int(cols.min()) == 20 - m.halo and int(cols.max()) == 20 + m.halo


def test_batchnorm_folding_is_exact():
    m = _randomized()
    f = fold_batchnorm(m)
    x = torch.randn(3, 1, 31, 17)
    with torch.no_grad():
        torch.testing.assert_close(f(x), m(x), rtol=1e-5, atol=1e-5)
    assert not any(isinstance(x, torch.nn.BatchNorm2d) for x in f.modules())


def test_export_parity_metadata_and_dynamic_axes(tmp_path):
    m = _randomized(depth=7, width=8)
    info = {"noise_scale": 0.3, "instances_seen": 1234, "steps": 77, "training_command": "fit --x"}
    path, _ = export(m, tmp_path, "unit", info)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version >= 17
    assert not any(n.op_type == "BatchNormalization" for n in proto.graph.node)
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["fluorodn"])
    on_disk = json.loads((tmp_path / "unit.json").read_text())
    assert on_disk["sha256"] == sha256(path)
    for k, v in meta.items():
        assert on_disk[k] == v
    assert meta["halo"] == 7 and meta["normalization"] == CONVENTION
    assert meta["instances_seen"] == 1234 and meta["noise_scale"] == 0.3
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "height", "width"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    f = fold_batchnorm(m)
    rng = np.random.default_rng(0)
    for h, w in (*PARITY_SHAPES, (1, 1), (2, 300)):
        x = rng.normal(0, 5, (2, 1, h, w)).astype(np.float32)
        with torch.no_grad():
            ref = f(torch.from_numpy(x)).numpy()
        got = sess.run(["noise"], {"input": x})[0]
        assert np.abs(got - ref).max() <= 1e-4


def test_export_refuses_and_leaves_nothing_on_parity_failure(tmp_path, monkeypatch):
    import fluorodn_train.export as ex

    monkeypatch.setattr(ex, "PARITY_TOL", -1.0)
    with pytest.raises(RuntimeError, match="parity"):
        ex.export(_randomized(depth=4), tmp_path, "bad", {"noise_scale": 0.3})
    assert list(tmp_path.iterdir()) == []
