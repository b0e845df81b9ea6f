"""The diagnosis benchmark runs in its quick mode and writes its result files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.__main__ import main
from benchmarks.diagnose import (
    CROP_BINS,
    CROP_SAMPLES,
    FRAME_CROPS,
    FRAME_ORACLE,
    MIRRORED,
    SPECTRAL_ORACLE,
    TIME_ORACLE,
    bin_leverage,
    edge_penalty,
    error_split,
    frame_edge_cost,
)


def test_diagnose_quick(tmp_path: Path) -> None:
    assert main(["diagnose", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "diagnosis_quick.json").read_text())
    rows = {r["pipeline"]: r for r in result["rows"]}
    assert set(rows) == {"raw", "fluorodn:default", "svd-16+low", "fluorodn:low border=mirror"}
    assert rows["fluorodn:default"]["mse"] < rows["raw"]["mse"]
    for r in rows.values():
        assert 0 <= r["mse_constant"] <= r["mse"]
        parts = [r[f"ev_{k}"] for k in ("small", "merged", "shifted", "absent", "taken")]
        assert min(parts) >= 0 and sum(parts) == r["ev_missed"]
    assert "| noise 0.2 | fluorodn:default |" in (tmp_path / "diagnosis_quick.md").read_text()
    (b,) = result["bins"]
    assert b["leverage_first"] > 0 and b["ratio_first_varying"] > 0
    edges = {e["pipeline"]: e for e in result["edges"]}
    assert set(edges) == {
        "fluorodn:default", MIRRORED, "svd-8", "gauss-0.5", "svd-8+time-gauss-2", SPECTRAL_ORACLE, TIME_ORACLE
    }  # fmt: skip
    # the two borders' mean changes the ends only (whether for the better, the full run's many crops say)
    default, mirrored = edges["fluorodn:default"], edges[MIRRORED]
    assert default["interior_samples_vs_raw"] == pytest.approx(mirrored["interior_samples_vs_raw"], rel=1e-3)
    assert abs(default["first_5_samples_vs_raw"] - mirrored["first_5_samples_vs_raw"]) > 1e-3
    assert "### The recording's ends against its interior" in (tmp_path / "diagnosis_quick.md").read_text()
    # knowing the traces' statistics exactly, a filter over time denoises and pays little at the time ends
    timed = edges[TIME_ORACLE]
    assert timed["whole_error_vs_raw"] < 0.6 and not any("_bin" in k for k in timed)
    assert max(timed["first_5_samples_varying"], timed["last_5_samples_varying"]) < 1.15
    assert timed["last_5_samples_vs_raw"] < 0.7
    md = (tmp_path / "diagnosis_quick.md").read_text()
    assert "`wiener over time (oracle)`" in md and "| last 5 samples | whole error vs raw |" in md
    # knowing the spectra exactly, a filter across wavelength still pays at the spectrum's ends,
    # and nothing at the time ends (it filters nothing over time)
    oracle = edges[SPECTRAL_ORACLE]
    ends = (oracle["first_bin_varying"], oracle["last_bin_varying"])
    assert min(ends) > 1.0 and max(ends) > 1.2
    assert abs(oracle["first_5_samples"] - 1.0) < 0.02 and abs(oracle["last_5_samples"] - 1.0) < 0.02
    (lev,) = result["crop_leverage"]
    # the crops find the whole recording's spectra, and their end bins weigh more in them
    assert lev["angle_cos"] > 0.9 and lev["leverage_first"] > 1.0 and lev["leverage_last"] > 1.0
    assert "## What being at an edge costs" in (tmp_path / "diagnosis_quick.md").read_text()
    frames = {f["pipeline"]: f for f in result["frame_edges"]}
    assert set(frames) == {"low fp32", "gauss-2", FRAME_ORACLE}
    for f in frames.values():  # all denoise, and all lose some of it at the border
        assert 0 < f["interior"] < 0.5 and f["edge_cost"] > 1.0 and f["seconds"] > 0
    # the best linear estimator denoises the Gaussian test frame most, and pays at its border too
    assert frames[FRAME_ORACLE]["interior"] < min(
        f["interior"] for f in frames.values() if f is not frames[FRAME_ORACLE]
    )
    assert frames[FRAME_ORACLE]["edge_cost"] > 1.3
    assert "## What being at a frame's border costs" in (tmp_path / "diagnosis_quick.md").read_text()


def test_frame_edge_cost_sees_only_what_the_border_changes() -> None:
    """A pixel-wise pipeline costs nothing at a frame's border (1.0); one that leaves the outer 2
    pixels of whatever it is given as they are and halves the noise elsewhere costs 2x there."""
    rng = np.random.default_rng(0)
    clean = rng.uniform(500, 1500, (160, 160))
    noisy = clean + rng.standard_normal(clean.shape) * 10

    def clean_of(x: np.ndarray) -> np.ndarray:
        c = (len(clean) - len(x)) // 2
        assert c in (0, *FRAME_CROPS)
        return clean[c : len(clean) - c, c : len(clean) - c]

    def shrink(x: np.ndarray) -> np.ndarray:
        return (x + clean_of(x)) / 2

    def raw_border(x: np.ndarray) -> np.ndarray:
        y = shrink(x)
        y[:2], y[-2:], y[:, :2], y[:, -2:] = x[:2], x[-2:], x[:, :2], x[:, -2:]
        return y

    flat = frame_edge_cost(shrink, clean, noisy)
    np.testing.assert_allclose([flat["edge_cost"], flat["border"], flat["interior"]], [1.0, 0.5, 0.5])
    edgy = frame_edge_cost(raw_border, clean, noisy)
    np.testing.assert_allclose([edgy["edge_cost"], edgy["border"], edgy["interior"]], [2.0, 1.0, 0.5])


def test_edge_penalty_sees_only_what_the_edge_changes() -> None:
    """A cell-wise pipeline costs nothing at an edge (1.0); one that doubles the error of its
    output's first bin and last samples, wherever they lie, costs 2x there and nothing elsewhere;
    a constant error on the last bin leaves its time-varying ratio at 1."""
    from fluorodn_train.evaluation import recordings as R

    (rec,) = R.make_recordings(600, (0.4,))
    t, w = rec.noisy.shape

    def clean_of(x: np.ndarray) -> np.ndarray:  # the clean cells of the whole or of a crop
        mb, ms = (w - x.shape[1]) // 2, (t - len(x)) // 2
        assert mb in (0, *CROP_BINS) and ms in (0, *CROP_SAMPLES)
        return rec.clean[ms : t - ms, mb : w - mb]

    def shrink(x: np.ndarray) -> np.ndarray:  # halves the noise of every cell
        return (x + clean_of(x)) / 2

    def edgy_bins(x: np.ndarray) -> np.ndarray:  # ... but not on the first bin, wherever it lies
        y = shrink(x)
        y[:, 0] = x[:, 0]
        y[:, -1] += 50.0
        return y

    def edgy_samples(x: np.ndarray) -> np.ndarray:  # ... but not on the last 5 samples
        y = shrink(x)
        y[-5:] = x[-5:]
        return y

    flat = edge_penalty(rec, shrink)
    assert abs(flat.pop("whole_error_vs_raw") - 0.5) < 1e-9
    kept = {k: flat.pop(k) for k in list(flat) if k.endswith("_vs_raw")}  # the ends' own error over raw
    assert set(kept) == {"first_5_samples_vs_raw", "last_5_samples_vs_raw", "interior_samples_vs_raw"}
    assert all(abs(v - 0.5) < 1e-9 for v in kept.values())
    assert all(abs(v - 1.0) < 1e-9 for v in flat.values())
    assert not any("_bin" in k for k in edge_penalty(rec, shrink, bins=False))
    e = edge_penalty(rec, edgy_bins)
    assert abs(e["first_bin"] - 2.0) < 1e-9 and abs(e["first_bin_varying"] - 2.0) < 1e-9
    assert e["last_bin"] > 3.0 and abs(e["last_bin_varying"] - 1.0) < 1e-9
    e = edge_penalty(rec, edgy_samples)
    assert abs(e["last_5_samples"] - 2.0) < 1e-9 and abs(e["first_5_samples"] - 1.0) < 1e-9
    assert abs(e["first_5_samples_varying"] - 1.0) < 0.05 and e["last_5_samples_varying"] > 1.8
    assert abs(e["last_5_samples_vs_raw"] - 1.0) < 0.05 and abs(e["first_5_samples_vs_raw"] - 0.5) < 0.05
    assert abs(e["interior_samples_vs_raw"] - 0.5) < 0.02  # the ends leave the interior as it was
    assert abs(e["first_bin"] - 1.0) < 0.05


def test_bin_leverage_follows_where_the_signal_spectrum_lies() -> None:
    """A signal spectrum concentrated in the first bins gives them the most leverage; an output
    keeping all noise of bin 0 and half of it elsewhere has twice the median bin's ratio there."""
    rng = np.random.default_rng(1)
    t, w = 3000, 152
    spectrum = np.exp(-np.arange(w) / 3.0)
    clean = 1000.0 + np.outer(50 * np.sin(np.arange(t) / 30.0), spectrum)
    noisy = clean + rng.standard_normal((t, w))
    b = bin_leverage(noisy, clean, noisy)
    assert b["leverage_first"] > 3 and b["leverage_last"] < 2
    np.testing.assert_allclose([b["ratio_first"], b["ratio_first_varying"]], 1.0)
    half = clean + 0.5 * (noisy - clean)
    half[:, 0] = noisy[:, 0]
    np.testing.assert_allclose(bin_leverage(noisy, clean, half)["ratio_first"], 2.0)


def test_the_spectral_oracle_pays_where_the_signal_spectrum_lies() -> None:
    """The best linear estimator across wavelength keeps more of its noise in the bins that
    hold the signal's spectrum (here the first few): the bins' unevenness is the spectra's."""
    from benchmarks.oracle import oracle_spectral_wiener

    rng = np.random.default_rng(2)
    t, w = 3000, 152
    spectrum = np.exp(-np.arange(w) / 3.0)
    clean = 1000.0 + np.outer(50 * np.sin(np.arange(t) / 30.0), spectrum)
    noisy = clean + rng.standard_normal((t, w))
    oracle = oracle_spectral_wiener(clean, noisy)(noisy)
    b = bin_leverage(noisy, clean, noisy, oracle)
    assert b["ratio_first"] == 1.0 and b["oracle_ratio_first"] > 5 and b["oracle_ratio_first_varying"] > 5
    assert b["oracle_ratio_last"] < 1.25


def test_error_split_separates_the_constant_part() -> None:
    clean = np.zeros((400, 5))
    pattern = np.array([1.0, -2.0, 0.0, 3.0, 0.5])
    noise = np.random.default_rng(0).standard_normal((400, 5))
    split = error_split(clean, clean + pattern + noise, clean + 2 * noise)
    np.testing.assert_allclose(split["mse_constant"], np.mean((pattern + noise.mean(axis=0)) ** 2))
    np.testing.assert_allclose(split["mse"], np.mean((pattern + noise) ** 2))


def test_fixed_pattern_quick(tmp_path: Path) -> None:
    """The fixed-pattern benchmark runs (its own check: ``order 3`` equals the shipped pattern)
    and the shipped rule lowers the time-mean error of every recording."""
    assert main(["fixed-pattern", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "fixed_pattern_quick.json").read_text())
    for r in result["rows"]:
        assert r["order 3"]["mse"] < r["kept"]["mse"]
    wide = result["wide"]["mean"]
    assert wide["order 3"]["bin_first"] == wide["kept"]["bin_first"]  # end bins keep their pattern
    assert "| order 3 |" in (tmp_path / "fixed_pattern_quick.md").read_text()


def test_sweep_misses_classify_each_draw_of_a_condition(tmp_path: Path) -> None:
    """The sweep's rows below raw on F1 on average over their repeated draws are found in its
    results, and their draws' misses are classified and summed per pipeline."""
    from benchmarks.diagnose import MISS_KINDS, sweep_below, sweep_misses

    factors = {
        "sensor": "ach",
        "bins": 96,
        "noise": 0.8,
        "fast_share": 0.0,
        "hemo_dff": 0.005,
        "rise": 3,
        "samples": 1500,
    }
    row = {"index": 7, "recording": "ach, 96 bins", "factors": factors, "repeats": {"F1": {"mean_diff": -0.004}}}
    above = {"index": 8, "recording": "x", "factors": factors, "repeats": {"F1": {"mean_diff": 0.002}}}
    level = {"index": 9, "recording": "y", "factors": factors, "repeats": {"F1": {"mean_diff": 0.0}}}
    undrawn = {"index": 10, "recording": "z", "factors": factors}
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"rows": [row, above, level, undrawn]}))
    assert [r["index"] for r in sweep_below(path)] == [7]
    assert sweep_below(tmp_path / "missing.json") == []

    res = sweep_misses(row, {"raw": lambda x: x, "same": lambda x: x.copy()}, draws=2)
    assert 1 <= res["draws"] <= 2
    raw, same = res["pipelines"]["raw"], res["pipelines"]["same"]
    assert raw == same and len(raw["f1"]) == res["draws"]
    assert sum(raw[k] for k in MISS_KINDS) == raw["missed"] > 0


def test_decorrelated_projection_keeps_its_span() -> None:
    """On every component the projection gives the recording back; on one it keeps a rank-one
    signal and removes most of the noise."""
    from benchmarks.diagnose import decorrelated_projection

    rng = np.random.default_rng(2)
    t, w = 2000, 40
    signal = np.outer(20 * np.sin(np.arange(t) / 25.0), np.exp(-np.arange(w) / 10.0))
    noise = rng.standard_normal((t, w))
    noise[:, 1:] += 0.4 * noise[:, :-1]  # correlated between neighbouring bins
    x = 100.0 + signal + noise
    np.testing.assert_allclose(decorrelated_projection(x, w), x, atol=1e-8)
    one = decorrelated_projection(x, 1)
    err, raw = one - 100.0 - signal, x - 100.0 - signal
    assert np.sqrt(np.mean((err - err.mean(axis=0)) ** 2)) < 0.3 * np.sqrt(np.mean(raw**2))


def test_fast_hemo_summary_pairs_each_pipeline_with_raw() -> None:
    """Means over the seeds and the paired F1 difference to raw, with Student's t half-width."""
    from benchmarks.diagnose import fast_hemo_summary

    rows = [
        {"seed": s, "recording": "fast", "pipeline": p, "f1": f, "coh": c}
        for s, (raw, den) in enumerate([(0.90, 0.91), (0.92, 0.91), (0.94, 0.96)])
        for p, f, c in (("raw", raw, 0.5), ("den", den, 0.8))
    ]
    raw, den = fast_hemo_summary(rows)
    assert raw["pipeline"] == "raw" and raw["f1_diff"] == pytest.approx(0.0)
    assert den["n"] == 3 and den["f1"] == pytest.approx(0.9266667) and den["coh"] == pytest.approx(0.8)
    d = np.array([0.01, -0.01, 0.02])
    assert den["f1_diff"] == pytest.approx(d.mean())
    assert den["f1_half_width"] == pytest.approx(4.303 * d.std(ddof=1) / np.sqrt(3), rel=1e-3)


def test_clean_ceiling_scores_the_clean_recording() -> None:
    """The analysis on a clean recording scores at least what it scores on the noisy one."""
    from fluorodn_train.evaluation import recordings as R

    from benchmarks.diagnose import NOISE_SCALES, clean_ceiling

    (row,) = clean_ceiling(600, (0,))
    rec = R.make_recordings(600, NOISE_SCALES[:1], seed=0)[0]
    raw = R.analyse(rec, rec.to_counts(rec.noisy))[0]["ev_f1"]
    assert row["seed"] == 0 and raw <= row["f1"] <= 1.0


def test_ends_over_seeds_average_each_end_and_count_the_seeds_above() -> None:
    from benchmarks import diagnose
    from benchmarks.stress import EDGE_SAMPLES

    first, last = f"first_{EDGE_SAMPLES}_samples_vs_raw", f"last_{EDGE_SAMPLES}_samples_vs_raw"
    rows = [
        {"recording": "a", "seed": 0, first: 0.12, last: 0.10, "interior_samples_vs_raw": 0.10},
        {"recording": "a", "seed": 1, first: 0.10, last: 0.13, "interior_samples_vs_raw": 0.10},
        {"recording": "b", "seed": 0, first: 0.20, last: 0.20, "interior_samples_vs_raw": 0.20},
    ]
    rows = [dict(r, pipeline="fluorodn:default") for r in rows]
    oracle = {"recording": "a", "pipeline": diagnose.TIME_ORACLE, "seed": 0, first: 0.3, last: 0.1,
              "interior_samples_vs_raw": 0.2}  # fmt: skip
    a, b, o = diagnose.ends_over_seeds([*rows, oracle])
    assert [e["pipeline"] for e in (a, b, o)] == ["fluorodn:default", "fluorodn:default", diagnose.TIME_ORACLE]
    assert o["seeds"] == 1 and o["first"] == pytest.approx(1.5) and o["above"] == 1
    assert (a["first_vs_raw"], a["last_vs_raw"], a["interior_vs_raw"]) == pytest.approx((0.11, 0.115, 0.10))
    assert a["seeds"] == 2 and a["first"] == pytest.approx(1.1) and a["last"] == pytest.approx(1.15)
    assert (a["worst_min"], a["worst_max"]) == pytest.approx((1.2, 1.3)) and a["above"] == 2
    assert b["above"] == 0 and b["worst_max"] == pytest.approx(1.0)
    edges = [*rows, dict(rows[0], pipeline="raw", recording="c")]
    assert diagnose.ends_outside(edges) == ["a"]
