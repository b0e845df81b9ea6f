"""The downstream analysis of the quality benchmark on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("oasis")
pytest.importorskip("spectral_connectivity")
pytest.importorskip("skimage")

from benchmarks import analysis

FS = 5.0


def test_fitted_trace_is_the_runtime_unmixing_of_the_output():
    """The benchmark judges a(t) from ``fluorodn.unmix``: on the clean recording it is the
    true trace (up to the constant the emission estimate absorbs), and noise lowers its
    coherence with the truth the way the noise level says."""
    recordings = pytest.importorskip("fluorodn_train.evaluation.recordings")
    rec, noisier = recordings.make_recordings(1200, (0.2, 0.8))
    clean_a = recordings.fitted_trace(rec, rec.clean)
    assert abs(clean_a.mean() - rec.truth.a.mean()) < 1e-9
    assert np.corrcoef(clean_a, rec.truth.a)[0, 1] > 0.999
    np.testing.assert_allclose(np.std(clean_a), np.std(rec.truth.a), rtol=0.05)
    coh = []
    for r in (rec, noisier):
        f, c = analysis.coherence(recordings.fitted_trace(r, r.noisy), r.truth.a, FS)
        coh.append(analysis.band_values(f, c)["coh_mean_0_2.5hz"])
    assert 0.3 < coh[1] < coh[0] - 0.1 < 0.9


def test_coherence_self_noise_and_half():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3000)
    f, c = analysis.coherence(x, x, FS)
    assert f[0] == 0
    assert f[-1] == pytest.approx(FS / 2)
    np.testing.assert_allclose(c, 1.0, atol=1e-9)
    _, c = analysis.coherence(x, rng.standard_normal(3000), FS)
    assert c.mean() < 0.06
    # equal signal and independent noise power: magnitude-squared coherence 1/2
    _, c = analysis.coherence(x, x + rng.standard_normal(3000), FS)
    assert c.mean() == pytest.approx(0.5, abs=0.05)


def test_coherence_needs_a_window():
    with pytest.raises(ValueError, match="shorter"):
        analysis.coherence(np.zeros(100), np.zeros(100), FS)


def test_band_values():
    f = np.linspace(0, 2.5, 81)
    vals = analysis.band_values(f, f / 2.5)
    assert vals["coh_0hz"] == 0.0
    assert vals["coh_1hz"] == pytest.approx(0.4)
    assert vals["coh_2.5hz"] == 1.0
    assert vals["coh_mean_0_2.5hz"] == pytest.approx(0.5)


def test_events_grouping_and_floor():
    s = np.zeros(30)
    s[[3, 4]] = [0.2, 1.0]  # one release split over two samples
    s[10] = 0.5
    s[12] = 0.3  # one zero apart: same event with merge=1
    s[20:29] = 0.01  # a trickle that must not chain events
    s[25] = 2.0
    idx, amp = analysis.events(s, merge=1, floor=0.05)
    np.testing.assert_array_equal(idx, [4, 10, 25])
    np.testing.assert_allclose(amp, [1.2, 0.8, 2.0])
    idx, _ = analysis.events(s, merge=0, floor=0.05)
    np.testing.assert_array_equal(idx, [4, 10, 12, 25])
    assert analysis.events(np.zeros(5))[0].size == 0


def test_match_events_counts():
    true_idx = np.array([10, 50, 100, 200, 300])
    true_amp = np.array([1.0, 2.0, 1.0, 0.1, 1.0])  # 200 is below the size threshold
    det_idx = np.array([12, 49, 201, 400, 304, 51])
    det_amp = np.array([0.5, 2.2, 0.6, 1.0, 1.0, 0.05])  # 51 is too small to count
    sc = analysis.match_events(true_idx, true_amp, det_idx, det_amp, tol=3, min_size=0.3)
    # 12->10 and 49->50 hit; 201 sits on a small true event (ignored); 400 and 304 (4 away) miss
    assert (sc.n_true, sc.n_detected, sc.tp, sc.fp, sc.fn) == (4, 5, 2, 2, 2)
    assert sc.precision == pytest.approx(0.5)
    assert sc.recall == pytest.approx(0.5)
    assert sc.f1 == pytest.approx(0.5)
    assert sc.amplitude_ratio == pytest.approx(np.median([0.5, 1.1]))
    empty = analysis.match_events(true_idx, true_amp, np.zeros(0, int), np.zeros(0), min_size=0.3)
    assert empty.tp == 0
    assert empty.recall == 0
    assert np.isnan(empty.precision)


def test_match_is_one_to_one():
    sc = analysis.match_events(np.array([10]), np.array([1.0]), np.array([9, 11]), np.array([1.0, 1.0]))
    assert (sc.tp, sc.fp, sc.fn) == (1, 1, 0)


def test_deconvolve_recovers_events():
    from scipy.signal import lfilter

    rng = np.random.default_rng(3)
    spikes = np.zeros(3000)
    pos = np.sort(rng.choice(np.arange(50, 2950), 40, replace=False))
    spikes[pos] = rng.uniform(1.0, 3.0, pos.size)
    trace = lfilter([1.0], [1.0, -analysis.SEED_G], spikes) + 0.02 * rng.standard_normal(3000)
    _, s, lam = analysis.deconvolve(trace, analysis.SEED_G, FS)
    assert lam >= 0
    ti, ta = analysis.events(spikes)
    di, da = analysis.events(s, floor=0.1)
    sc = analysis.match_events(ti, ta, di, da, tol=2, min_size=0.5)
    assert sc.recall > 0.9
    assert sc.precision > 0.9
    assert 0.7 < sc.amplitude_ratio < 1.1


def test_noise_level_reads_white_noise_and_the_steps_of_events_alike():
    """OASIS's noise level is white noise's standard deviation, and on a noise-free trace of
    releases at the benchmark's rate and size it is far from zero: the steps count as noise."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(4)
    assert analysis.noise_level(0.3 * rng.standard_normal(9000)) == pytest.approx(0.3, rel=0.05)
    spikes = (rng.random(9000) < 0.02) * rng.lognormal(np.log(1.4), 0.5, 9000)
    trace = lfilter([1.0], [1.0, -analysis.SEED_G], spikes)
    assert 0.08 < analysis.noise_level(trace) < 0.2
    assert analysis.noise_level(trace + 0.05 * rng.standard_normal(9000)) < 1.1 * analysis.noise_level(trace)


def test_subtract_baseline_removes_slow_drift_keeps_events():
    from scipy.signal import lfilter

    t = np.arange(9000) / FS
    slow = 2.0 + 0.5 * np.sin(2 * np.pi * t / 1800.0)
    spikes = np.zeros(t.size)
    spikes[::450] = 1.0  # one release every 90 s
    fast = lfilter([1.0], [1.0, -analysis.SEED_G], spikes)
    out = analysis.subtract_baseline(slow + fast, FS)
    inner = slice(300, -300)
    assert np.max(np.abs(out[inner] - fast[inner])) < 0.1
    assert np.min(out[450:-450:450]) > 0.9  # the releases survive


def test_image_scores():
    clean = np.outer(np.linspace(0, 1, 64), np.ones(32))
    same = analysis.image_scores(clean, clean)
    assert same["psnr"] == np.inf
    assert same["ssim"] == pytest.approx(1.0)
    noisy = clean + 0.01  # MSE 1e-4, data range 1 -> 40 dB
    assert analysis.image_scores(clean, noisy)["psnr"] == pytest.approx(40.0)
