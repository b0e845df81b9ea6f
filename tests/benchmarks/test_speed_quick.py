"""The throughput benchmark's --quick mode runs end to end (via the dispatcher) and writes sane results."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("tifffile")

ROOT = Path(__file__).resolve().parents[2]


def _tiny_dncnn(path: Path, depth: int = 20, width: int = 8) -> Path:
    """A random DnCNN-shaped model (halo 20) with fluorodn metadata, without flop_per_pixel."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    chans = [1] + [width] * (depth - 1) + [1]
    nodes, inits, cur = [], [], "input"
    for i in range(depth):
        w = rng.normal(0, np.sqrt(2 / (9 * chans[i])), (chans[i + 1], chans[i], 3, 3)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        out = "noise" if i == depth - 1 else f"c{i}"
        nodes.append(helper.make_node("Conv", [cur, f"w{i}"], [out], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        if i < depth - 1:
            nodes.append(helper.make_node("Relu", [out], [f"r{i}"]))
            cur = f"r{i}"
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
    meta = {"format": 1, "name": "speedtest", "version": "0", "architecture": "DnCNN", "depth": depth,
            "width": width, "halo": depth, "normalization": "median-mad-dt-v1", "opset": 17,
            "input": "input", "output": "noise"}  # fmt: skip
    helper.set_model_props(model, {"fluorodn": json.dumps(meta)})
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("speed")
    model = _tiny_dncnn(tmp / "speedtest.onnx")
    out = tmp / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "speed", "--quick", "--out", str(out), "--models", str(model)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, json.loads((out / "speed.json").read_text()), proc.stdout


def test_files_written_to_out_only(results):
    out, res, _ = results
    for name in ("speed.json", "speed.csv", "speed.md"):
        assert (out / name).stat().st_size > 0
    with (out / "speed.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(res["rows"])
    md = (out / "speed.md").read_text()
    assert "| model | device |" in md
    assert "threads" in md


def test_rows_are_sane(results):
    _, res, _ = results
    assert res["quick"] is True
    assert res["seconds"] < 60  # the quick mode takes < 30 s on 2 idle cores; slack for busy ones
    threads = res["machine"]["threads"]
    assert threads >= 1
    cpu = [r for r in res["rows"] if r["device"] == "cpu"]
    assert {r["shape"] for r in cpu} == {"101x152", "256x152"}
    # flop_per_pixel is absent from the metadata: computed from the conv weights
    assert all(r["flop_per_pixel"] == 2 * 9 * (8 + 18 * 64 + 8) for r in cpu)
    for r in cpu:
        assert r["fluorodn_mpx_s"] > 0
        assert r["threads"] == threads
        assert r["limit_mpx_s"] > 0
        assert r["ratio_limit"] == pytest.approx(r["fluorodn_mpx_s"] / r["limit_mpx_s"])
    assert res["gemm"]["numpy_cpu_start"]["gflops"] > 0
    assert res["limit_gflops"]["cpu"] == max(v["gflops_best"] for v in res["gemm"].values())


def test_torch_column_runs_the_same_weights(results):
    _, res, _ = results
    if importlib.util.find_spec("torch") is None:
        assert any("PyTorch" in n for n in res["notes"])
        return
    for r in res["rows"]:
        if r["device"] == "cpu":
            assert r["torch_mpx_s"] > 0
            assert r["ratio_torch"] == pytest.approx(r["fluorodn_mpx_s"] / r["torch_mpx_s"])
    parity = [r["torch_parity_rel"] for r in res["rows"] if r["torch_parity_rel"] is not None]
    assert parity
    assert max(parity) < 1e-3


def test_cli_end_to_end(results):
    _, res, _ = results
    cli = res["cli"]
    assert cli["ok"], cli["output_tail"]
    assert cli["pages"] >= 2
    assert cli["seconds"] > 0
    assert cli["peak_rss_mib"] > 10
