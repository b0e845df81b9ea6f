"""The quality benchmark's --quick mode runs end to end and writes sane results."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("oasis")
pytest.importorskip("spectral_connectivity")
pytest.importorskip("skimage")
pytest.importorskip("matplotlib")

from benchmarks import quality


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("quality")
    assert quality.main(["--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "quality.json").read_text())


def _row(res, recording, pipeline):
    rows = [r for r in res["rows"] if r["recording"] == recording and r["pipeline"] == pipeline]
    assert len(rows) == 1, (recording, pipeline)
    return rows[0]


def test_files_exist(results):
    out, res = results
    for name in ("quality.json", "quality.csv", "quality.md", "coherence.png", "before_after.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "coherence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / "quality.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(res["rows"])
    md = (out / "quality.md").read_text()
    assert "| raw |" in md
    assert "published" in md


def test_metrics_are_sane(results):
    _, res = results
    assert res["mode"] == "quick"
    for r in res["rows"]:
        for key in ("coh_0hz", "coh_1hz", "coh_2.5hz", "coh_mean_0_2.5hz", "ssim"):
            assert 0.0 <= r[key] <= 1.0 + 1e-9, (r["pipeline"], key)
        assert r["ev_tp"] + r["ev_fn"] == r["ev_n_true"]
    fig = f"noise {quality.FIGURE_NOISE:g}"
    raw, gauss, clean = (_row(res, fig, p) for p in ("raw", "gauss-1.0", "clean"))
    assert gauss["psnr"] > raw["psnr"] + 3.0  # smoothing removes noise
    assert clean["psnr"] is None  # infinite: written as null
    assert clean["coh_mean_0_2.5hz"] > 0.999  # the analysis itself is exact on clean data
    assert raw["coh_mean_0_2.5hz"] < clean["coh_mean_0_2.5hz"]
    assert len(res["freqs_hz"]) == len(res["coherence_curves"][fig]["raw"])


def test_robustness_rows(results):
    _, res = results
    # the same recording in other units gives the same result, to rounding
    for p in ("raw", "gauss-1.0"):
        assert _row(res, "units x1e3", p)["max_dev_vs_base"] < 1e-9
    for r in res["rows"]:
        if r["recording"] == "units x1e3" and r["pipeline"].startswith("fluorodn:"):
            assert r["max_dev_vs_base"] < 1e-2  # float32 models: rounding only
    assert _row(res, "bins 76", "raw")["n_bins"] == 76


def test_repeats_pair_the_default_with_raw_over_recordings(results):
    """Seed 0 (the main rows) and a further seed, for the main recording, the 76-bin one and the
    quick mode's fast-hemodynamics recording."""
    out, res = results
    rows = res["repeats"]["rows"]
    assert {r["seed"] for r in rows} == {0, 1}
    main0 = {r["pipeline"]: r for r in rows if r["seed"] == 0 and r["recording"] == f"noise {quality.FIGURE_NOISE:g}"}
    assert main0["raw"]["f1"] == _row(res, f"noise {quality.FIGURE_NOISE:g}", "raw")["ev_f1"]
    summary = {e["recording"]: e for e in res["repeats"]["summary"]}
    assert set(summary) == {f"noise {quality.FIGURE_NOISE:g}", "bins 76", "fast hemodynamics, noise 0.2"}
    for e in summary.values():
        assert e["n"] == 2 and np.isfinite(e["f1_half_width"])
        pairs = {(r["seed"], r["pipeline"]): r for r in rows if r["recording"] == e["recording"]}
        expected = np.mean([pairs[(s, "fluorodn:default")]["coh"] - pairs[(s, "raw")]["coh"] for s in (0, 1)])
        np.testing.assert_allclose(e["coh_diff"], expected)
        # every baseline but BM3D is repeated (quick mode runs one Gaussian), the best one named
        assert {"raw", "gauss-1.0", "svd-4", "svd-16", "svd-mp"} <= set(e["f1"])
        assert e["f1"][e["best_f1"]] == max(v for p, v in e["f1"].items() if p != "fluorodn:default")
    assert "is the default below raw, or below the best baseline?" in (out / "quality.md").read_text()


def test_paired_interval_is_students_t():
    from benchmarks.repeats import paired

    rows = [
        {"seed": s, "recording": "r", "pipeline": p, "f1": f, "coh": 0.5}
        for s, (a, b) in enumerate([(0.90, 0.95), (0.92, 0.93), (0.91, 0.97)])
        for p, f in (("raw", a), ("fluorodn:default", b))
    ]
    (e,) = paired(rows)
    d = np.array([0.05, 0.01, 0.06])
    np.testing.assert_allclose(e["f1_diff"], d.mean())
    np.testing.assert_allclose(e["f1_half_width"], 4.302653 * d.std(ddof=1) / np.sqrt(3), rtol=1e-6)
    assert e["coh_diff"] == 0.0 and e["n"] == 3


def test_paired_names_the_best_baseline_and_pairs_the_default_with_it():
    from benchmarks.repeats import paired

    f1 = {"raw": (0.90, 0.92, 0.91), "svd-8": (0.95, 0.91, 0.96), "fluorodn:default": (0.94, 0.95, 0.97)}
    rows = [
        {"seed": s, "recording": "r", "pipeline": p, "f1": v[s], "coh": 0.5 + 0.1 * (p == "raw")}
        for p, v in f1.items()
        for s in range(3)
    ]
    (e,) = paired(rows)
    assert e["best_f1"] == "svd-8" and e["best_coh"] == "raw"
    d = np.array(f1["fluorodn:default"]) - np.array(f1["svd-8"])
    np.testing.assert_allclose(e["f1_best_diff"], d.mean())
    np.testing.assert_allclose(e["f1_best_half_width"], 4.302653 * d.std(ddof=1) / np.sqrt(3), rtol=1e-6)
    np.testing.assert_allclose(e["coh_best_diff"], -0.1)


def test_every_shipped_model_is_run_or_skipped(results):
    _, res = results
    names = {r["pipeline"] for r in res["rows"]}
    model_rows = {n for n in names if n.startswith("fluorodn:")}
    cards = res["models"]["cards"]
    assert model_rows == {c["pipeline"] for c in cards}
    if not cards:
        assert any(s["pipeline"] == "fluorodn:*" for s in res["skipped"])


def test_bm3d_wrapper_keeps_shape_and_scale():
    pytest.importorskip("bm3d")
    rng = np.random.default_rng(0)
    clean = 1e3 + 100 * np.outer(np.sin(np.arange(64) / 5.0), np.ones(32))
    noisy = clean + 10 * rng.standard_normal(clean.shape)
    out = quality.bm3d_denoise(noisy)
    assert out.shape == noisy.shape
    assert np.std(out - clean) < 0.7 * np.std(noisy - clean)


def test_frame_border_has_reference_smoothers(results):
    """Gaussians on the same frame: the wider one loses more at the border (half the neighbours)."""
    _, res = results
    refs = {(r["model"], r["noise"]): r for r in res["frame_border"] if r["model"].startswith("gauss-")}
    assert len(refs) == 3 * 2
    for ns in (0.3, 0.8):
        ratio = {g: refs[(f"gauss-{g}", ns)]["border"] / refs[(f"gauss-{g}", ns)]["interior"] for g in (1, 3)}
        assert 1.0 < ratio[1] < ratio[3]
        assert ratio[3] > 1.3
