"""int8 variants: building, the quality guard, and the shipped variants' tolerance."""

import hashlib
import importlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from fluorodn import Denoiser
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from fluorodn_train import quantize as q
from fluorodn_train.cli import app

REPO = Path(__file__).resolve().parents[2]
#: Short guard settings for the tiny test models (one 1-minute recording).
QUICK = {"guard_seeds": (0,), "guard_minutes": 1.0, "threads": 1, "calib_windows": 4}


def tiny_dncnn(path: Path, depth: int = 5, width: int = 8, out_scale: float = 0.05, out_bias: float = 0.0) -> Path:
    """A small DnCNN-shaped float model with fluorodn metadata and a card, like ``export`` writes.

    Its last layer is scaled by ``out_scale`` so that it predicts little noise (its output
    is then close to its input: a model the int8 variant can match); ``out_bias`` shifts
    the predicted noise (a deliberately wrong model)."""
    rng = np.random.default_rng(0)
    chans = [1] + [width] * (depth - 1) + [1]
    nodes, inits, prev = [], [], "input"
    for i in range(depth):
        w = rng.standard_normal((chans[i + 1], chans[i], 3, 3)) * np.sqrt(2.0 / (9 * chans[i]))
        b = rng.standard_normal(chans[i + 1]) * 0.05
        if i == depth - 1:
            w, b = w * out_scale, b * 0 + out_bias
        inits += [
            numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
            numpy_helper.from_array(b.astype(np.float32), f"b{i}"),
        ]
        out = "noise" if i == depth - 1 else f"c{i}"
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [out], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        if i < depth - 1:
            nodes.append(helper.make_node("Relu", [out], [f"r{i}"]))
            prev = f"r{i}"
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
    meta = {
        "format": 1,
        "name": path.stem,
        "version": "0-test",
        "architecture": "DnCNN",
        "depth": depth,
        "width": width,
        "halo": depth,
        "normalization": "median-mad-dt-v1",
        "domain": "spectral-fiber-photometry",
        "noise_scale": 0.8,
        "instances_seen": 0,
        "steps": 0,
        "training_command": "test",
        "opset": 17,
        "input": "input",
        "output": "noise",
        "flop_per_pixel": 0,
        "created": "2026-01-01",
    }
    helper.set_model_props(model, {"fluorodn": json.dumps(meta)})
    onnx.save(model, str(path))
    card = dict(meta, file=path.name, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    path.with_suffix(".json").write_text(json.dumps(card, indent=2))
    return path


def test_quantize_writes_the_variant_and_its_card_entry(tmp_path: Path) -> None:
    src = tiny_dncnn(tmp_path / "tiny.onnx", out_scale=0.002)  # int8 errors far below the guard's tolerance
    path, entry = q.quantize(src, **QUICK)
    assert path == tmp_path / "tiny.int8.onnx" and path.is_file()
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["variants"]["int8"] == entry
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["float_sha256"] == card["sha256"]
    assert abs(entry["psnr_delta_db"]) <= q.PSNR_TOL_DB and abs(entry["coherence_delta"]) <= q.COHERENCE_TOL
    assert entry["speedup_measured"] > 0 and entry["guard"]["recordings"] == 1
    model = onnx.load(str(path))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    meta = json.loads({p.key: p.value for p in model.metadata_props}["fluorodn"])
    assert meta["precision"] == "int8" and meta["halo"] == 5 and meta["float_sha256"] == card["sha256"]
    dn = Denoiser(path, device="cpu")
    assert dn.precision == "int8" and dn.halo == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.int8.onnx", "tiny.json", "tiny.onnx"]


def test_the_guard_refuses_a_bad_model(tmp_path: Path) -> None:
    good = tiny_dncnn(tmp_path / "good.onnx")
    bad = tiny_dncnn(tmp_path / "bad.onnx", out_bias=1.0)  # predicts one noise unit everywhere
    with pytest.raises(q.QualityGuardError, match=r"bad\.onnx is not shipped: .*PSNR differs by"):
        q.guard(good, bad, 0.8, seeds=(0,), minutes=1.0, threads=1)


def test_a_blind_model_is_guarded_across_its_noise_range(tmp_path: Path) -> None:
    assert q.guard_scales((0.1, 1.2), 3) == (0.21, 0.65, 1.09)
    assert q.guard_scales((0.1, 1.2), 1) == (0.65,)
    good = tiny_dncnn(tmp_path / "good.onnx")
    same = tiny_dncnn(tmp_path / "same.onnx")
    result = q.guard(good, same, (0.3, 0.9), seeds=(0, 0), minutes=1.0, threads=1)
    rows = result["guard"]["per_recording"]
    assert [r["noise_scale"] for r in rows] == [0.3, 0.9] and result["guard"]["noise_scale"] == [0.3, 0.9]
    assert result["psnr_delta_db"] == 0.0 and result["coherence_delta"] == 0.0
    # the same recording, noisier: the float model's own PSNR falls
    assert rows[1]["psnr_float_db"] < rows[0]["psnr_float_db"] - 0.1
    one = q.guard(good, same, np.float32(0.5), seeds=(0,), minutes=1.0, threads=1)  # a numpy scalar: one scale
    assert one["guard"]["noise_scale"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="2 noise scales for 3 guard seeds"):
        q.guard(good, same, (0.3, 0.9), seeds=(0, 1, 2), minutes=0.5)


def test_the_guard_times_the_fastest_of_several_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guard_module = importlib.import_module("fluorodn_train.evaluation.guard")  # the package exports guard()
    good = tiny_dncnn(tmp_path / "good.onnx")
    same = tiny_dncnn(tmp_path / "same.onnx")
    calls: list[int] = []
    run = guard_module.Denoiser.run

    def counted(self, x, *args, **kwargs):
        calls.append(len(x))
        return run(self, x, *args, **kwargs)

    monkeypatch.setattr(guard_module.Denoiser, "run", counted)
    result = q.guard(good, same, 0.8, seeds=(0, 1), minutes=1.0, threads=1, timing_runs=3)
    full = [n for n in calls if n > 256]
    assert len(full) == 2 * 2 * 3 and calls.count(256) == 2  # 2 recordings x 2 models x 3 runs, one warm-up each
    assert result["guard"]["timing_runs"] == 3 and result["speedup_measured"] > 0
    assert result["guard"]["seconds_float"] > 0 and result["guard"]["seconds_candidate"] > 0


def test_the_command_refuses_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tiny_dncnn(tmp_path / "tiny.onnx")
    card_before = (tmp_path / "tiny.json").read_text()
    other = tmp_path.parent / f"{tmp_path.name}-bad"
    other.mkdir()
    bad = tiny_dncnn(other / "bad.onnx", out_bias=1.0)

    def bad_quantizer(float_path, out_path, windows, **kw):  # "quantizes" into a wrong model
        Path(out_path).write_bytes(bad.read_bytes())
        return {"calibration": {}}

    monkeypatch.setattr(q, "quantize_int8", bad_quantizer)
    res = CliRunner().invoke(
        app,
        [
            "quantize",
            str(src),
            "--guard-recordings",
            "1",
            "--guard-minutes",
            "1",
            "--threads",
            "1",
            "--calib-windows",
            "2",
        ],
    )
    assert res.exit_code == 1, res.output
    assert "refused: tiny.int8.onnx is not shipped" in res.output and "PSNR differs" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json", "tiny.onnx"]
    assert (tmp_path / "tiny.json").read_text() == card_before


def test_bf16_is_not_built(tmp_path: Path) -> None:
    src = tiny_dncnn(tmp_path / "tiny.onnx")
    with pytest.raises(ValueError, match="bf16 has no arithmetic in onnxruntime's CPU provider"):
        q.quantize(src, "bf16")


SHIPPED = [
    (card_path, name)
    for card_path in sorted((REPO / "models").glob("*.json"))
    for name in json.loads(card_path.read_text()).get("variants", {})
]


@pytest.mark.skipif(not SHIPPED, reason="no reduced-precision model is shipped in models/")
@pytest.mark.parametrize(("card_path", "variant"), SHIPPED, ids=lambda v: getattr(v, "stem", v))
def test_shipped_variants_meet_the_tolerance(card_path: Path, variant: str) -> None:
    """Each shipped variant against its float model on fixed 3-minute guard recordings: one at
    the model's noise scale, or three across a blind model's range."""
    card = json.loads(card_path.read_text())
    entry = card["variants"][variant]
    float_path, variant_path = card_path.with_name(card["file"]), card_path.with_name(entry["file"])
    assert entry["sha256"] == hashlib.sha256(variant_path.read_bytes()).hexdigest()
    assert entry["float_sha256"] == card["sha256"]
    if card.get("kind") == "spectral":  # blind over its noise range: guarded across it
        result = q.guard(float_path, variant_path, q.guard_scales(card["noise_scale_range"], 3), minutes=3.0)
    else:
        result = q.guard(float_path, variant_path, card["noise_scale"], seeds=(0,), minutes=3.0)
    assert abs(result["psnr_delta_db"]) <= q.PSNR_TOL_DB
    assert abs(result["coherence_delta"]) <= q.COHERENCE_TOL


def test_the_command_keeps_a_refused_variant_only_where_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models, kept = tmp_path / "models", tmp_path / "refused"
    models.mkdir()
    src = tiny_dncnn(models / "tiny.onnx")
    bad = tiny_dncnn(tmp_path / "bad.onnx", out_bias=1.0)
    monkeypatch.setattr(
        q, "quantize_int8", lambda f, out, w, **kw: Path(out).write_bytes(bad.read_bytes()) and {"calibration": {}}
    )
    res = CliRunner().invoke(
        app,
        [
            "quantize",
            str(src),
            "--guard-recordings",
            "1",
            "--guard-minutes",
            "1",
            "--threads",
            "1",
            "--calib-windows",
            "2",
            "--keep-refused",
            str(kept),
        ],
    )
    assert res.exit_code == 1, res.output
    assert sorted(p.name for p in models.iterdir()) == ["tiny.json", "tiny.onnx"]
    assert (kept / "tiny.int8.onnx").read_bytes() == bad.read_bytes()
    why = json.loads((kept / "tiny.int8.onnx.refused.json").read_text())
    assert "PSNR differs" in why["refused"] and why["float_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    (row,) = why["guard_rows"]  # the measurement behind the refusal
    assert row["seed"] == 0 and abs(row["psnr_delta_db"]) > 0.1
