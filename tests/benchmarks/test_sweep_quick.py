"""The combined-stress sweep's --quick mode runs end to end and its verdicts follow its metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("oasis")
pytest.importorskip("spectral_connectivity")

from benchmarks import sweep


def test_draws_cover_the_ranges() -> None:
    draws = [sweep.draw(np.random.default_rng(k)) for k in range(200)]
    bins = [d["bins"] for d in draws]
    noise = [d["noise"] for d in draws]
    assert sweep.BINS[0] <= min(bins) and max(bins) <= sweep.BINS[1]
    assert min(bins) < 76 and max(bins) > 304  # beyond training's bins at both ends
    assert min(noise) < 0.1 and max(noise) > 1.2  # ... and its noise scales
    fast = [d["fast_share"] for d in draws]
    assert 0.3 < np.mean([f > 0 for f in fast]) < 0.7
    assert {d["sensor"] for d in draws} == set(sweep.spectra.SENSORS)


def test_quick_sweep(tmp_path) -> None:
    assert sweep.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "sweep.json").read_text())
    rows = res["rows"]
    assert len(rows) == res["summary"]["recordings"] == 3
    for r in rows:
        d, raw = r["metrics"]["fluorodn:default"], r["metrics"]["raw"]
        assert d["psnr"] > raw["psnr"] + 3.0  # the default denoises every one of them
        assert r["resolved"] == (r["clean"]["coh_mean_0_2.5hz"] >= sweep.RESOLVED_COH)
        judged = sweep.METRICS if r["resolved"] else sweep.METRICS[:1]
        assert r["below_raw"] == [label for key, label in judged if d[key] < raw[key]]
        assert r["recording"].startswith(r["factors"]["sensor"])
    f1 = res["summary"]["F1"]
    assert f1["recordings"] == res["summary"]["resolved"]
    assert f1["below_raw"] == sum("F1" in r["below_raw"] for r in rows)
    md = (tmp_path / "sweep.md").read_text()
    assert "below raw, no warning" in md and md.count("\n| ") >= 3 + 3
