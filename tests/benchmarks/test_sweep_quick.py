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


def test_the_weakest_conditions_are_those_below_raw_on_average_when_drawn_again() -> None:
    rows = [
        {"index": 0, "repeats": {"F1": {"mean_diff": -0.004, "measurably_below": False}}},
        {"index": 1, "repeats": {"F1": {"mean_diff": 0.003}, "coherence": {"mean_diff": -0.001}}},
        {"index": 2, "repeats": {"F1": {"mean_diff": 0.0}}},
        {"index": 3},
    ]
    assert [r["index"] for r in sweep.below_raw_again(rows)] == [0, 1]
    assert [r["index"] for r in sweep.below_raw_again(rows, ("F1",))] == [0]
    assert [r["index"] for r in sweep.below_raw_again(rows, ("coherence",))] == [1]


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
    for r in rows:  # each metric below raw is drawn again, and only those
        assert sorted(r["repeats"]) == sorted(r["below_raw"])
        for e in r["repeats"].values():
            assert e["draws"] <= 2 and e["measurably_below"] == (
                e["draws"] >= 2 and e["mean_diff"] + e["half_width"] < 0
            )
    assert f1["measurably_below_raw"] <= f1["below_raw"]
    only = res["summary"][sweep.SPECTRAL_ONLY]
    for r in rows:  # the projection alone: its own verdicts and further draws
        o, raw = r["metrics"][sweep.SPECTRAL_ONLY], r["metrics"]["raw"]
        assert raw["psnr"] < o["psnr"] < r["metrics"]["fluorodn:default"]["psnr"]
        judged = sweep.METRICS if r["resolved"] else sweep.METRICS[:1]
        assert r["spectral_only"]["below_raw"] == [label for key, label in judged if o[key] < raw[key]]
        assert sorted(r["spectral_only"]["repeats"]) == sorted(r["spectral_only"]["below_raw"])
    assert only["F1"]["below_raw"] == sum("F1" in r["spectral_only"]["below_raw"] for r in rows)
    (beyond,) = res["beyond_bins"]  # one condition beyond training's bins, drawn twice
    assert beyond["factors"]["bins"] == sweep.BEYOND_BINS[0] > 304
    assert sorted(beyond["repeats"]) == sorted(label for _, label in sweep.METRICS)
    psnr = beyond["repeats"]["PSNR"]
    assert psnr["draws"] == 2 and min(psnr["diffs"]) > 3.0
    md = (tmp_path / "sweep.md").read_text()
    assert "## More bins than training had" in md and f"| {sweep.BEYOND_BINS[0]} | 0.4 |" in md
    assert "## The projection alone (`--spectral-only`)" in md
    assert "below raw, no warning" in md and "measurably below raw" in md and md.count("\n| ") >= 3 + 3


FACTORS = {"sensor": "ach", "bins": 96, "noise": 0.4, "fast_share": 0.0, "hemo_dff": 0.005, "rise": 1, "samples": 1500}


def test_repeat_condition_pairs_each_draw_with_raw() -> None:
    same = sweep.repeat_condition(FACTORS, 0, ["PSNR", "F1"], lambda x: x, repeats=3)
    for e in same.values():
        assert e["diffs"] == [0.0] * e["draws"] and not e["measurably_below"] and e["below_raw"] == 0
    assert same["PSNR"]["draws"] == 3  # PSNR is judged on every draw

    rng = np.random.default_rng(0)

    def noisier(x: np.ndarray) -> np.ndarray:
        return x + rng.normal(0.0, 2.0 * float(np.std(np.diff(x, axis=0))), x.shape)

    worse = sweep.repeat_condition(FACTORS, 0, ["PSNR"], noisier, repeats=3)["PSNR"]
    assert worse["below_raw"] == 3 and worse["measurably_below"]
    assert worse["mean_diff"] == pytest.approx(np.mean(worse["diffs"])) and worse["mean_diff"] < -3.0
