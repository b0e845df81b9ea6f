"""The sampling-rate benchmark: its recordings keep their time constants in seconds, the analysis
follows the rate, and --quick runs end to end with verdicts that follow its metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("oasis")
pytest.importorskip("spectral_connectivity")

from fluorodn_train.evaluation import analysis
from fluorodn_train.evaluation.recordings import FS, analyse, event_tolerance, oasis_g

from benchmarks import rates


def test_the_analysis_follows_the_rate() -> None:
    assert oasis_g(FS) == analysis.SEED_G  # the 5 Hz analysis is unchanged
    assert [event_tolerance(fs) for fs in (2.0, 5.0, 10.0, 40.0)] == [1, 3, 6, 24]
    for fs in (2.0, 20.0):
        # the same time constant: g per sample to the power of samples per second
        assert oasis_g(fs) ** fs == pytest.approx(analysis.SEED_G**FS, rel=1e-12)


@pytest.mark.parametrize("fs", [2.0, 20.0])
def test_recordings_keep_their_time_in_seconds(fs: float) -> None:
    rec = rates.make_recording("events", fs, 0.4, 3.0, seed=0)
    assert rec.fs == fs and rec.noisy.shape == (round(3.0 * 60 * fs), rates.BINS)
    assert rec.truth.g == pytest.approx(oasis_g(fs))
    slow = rates.make_recording(f"rises over {rates.RISE_S:g} s", fs, 0.4, 3.0, seed=0)
    # an isolated release rises over RISE_S: the kernel's peak lies rise_samples after the release
    k = rates.rise_samples(fs)
    assert k == round(0.6 * fs)
    i = int(np.flatnonzero(slow.truth.spikes)[0])
    a = slow.truth.a - slow.truth.a[max(0, i - 1)]
    assert int(np.argmax(np.diff(a[i : i + k + 3]) <= 0)) >= k  # still rising k samples in
    # the clean recording scores as ground truth at its own rate (OASIS, tolerance and coherence follow fs)
    m, _, _ = analyse(rec, rec.clean)
    assert m["ev_f1"] > 0.9 and m["coh_mean_0_2.5hz"] > 0.95


def test_quick_rates(tmp_path) -> None:
    assert rates.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "rates_quick.json").read_text())
    groups, rows = res["groups"], res["rows"]
    assert [(g["condition"], g["noise"], g["fs"]) for g in groups] == [("events", 0.4, 2.0), ("events", 0.4, 20.0)]
    assert len(rows) == 2 * 2 * 6  # rates x seeds x pipelines
    for g in groups:
        mean = g["mean"]
        assert mean["PSNR"]["fluorodn:default"] > mean["PSNR"]["raw"] + 5.0  # denoised at both rates
        for _, label in rates.METRICS:
            e = g[label]
            assert e["below_raw"] == (e["vs_raw"] < 0)
            assert e["measurably_below_raw"] == (e["vs_raw"] + e["vs_raw_half_width"] < 0)
            assert e["vs_raw"] == pytest.approx(mean[label]["fluorodn:default"] - mean[label]["raw"], abs=1e-12)
            assert mean[label][e["best"]] == max(v for p, v in mean[label].items() if p != "fluorodn:default")
    s = res["summary"]
    assert s["groups"] == 2 and s["below_raw"] == sum(
        1 for g in groups if any(g[label]["below_raw"] for _, label in rates.METRICS)
    )
    # told the rate, the default says so at 2 Hz (under LOW_RATE_HZ), on every seed, and not at 20 Hz
    by_rate = {g["fs"]: g for g in groups}
    assert by_rate[2.0]["warned_seeds"] == list(rates.QUICK["seeds"])
    assert any("sampled at 2 Hz" in w for w in by_rate[2.0]["warnings"])
    assert not any("sampled at" in w for w in by_rate[20.0]["warnings"])
    md = (tmp_path / "rates_quick.md").read_text()
    assert "| 0.4 | 2 Hz |" in md and "| 0.4 | 20 Hz |" in md
