"""The throughput benchmark's --quick mode runs end to end (via the dispatcher) and writes sane results."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("tifffile")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results(tmp_path_factory, make_model):
    tmp = tmp_path_factory.mktemp("speed")
    # no "flop_per_pixel" in the metadata: the benchmark must count it from the weights
    meta = {"format": 1, "name": "speedtest", "halo": 20, "normalization": "median-mad-dt-v1"}
    model = make_model(tmp / "speedtest.onnx", depth=20, width=8, metadata=meta)
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
