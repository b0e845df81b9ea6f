"""Statistics of the synthetic generator against the ranges it is configured to draw."""

import numpy as np
import pytest
from scipy.signal import welch

from fluorodn_train import spectra, synth
from fluorodn_train.data import Sampler, make_instance, normalized_pair
from fluorodn_train.noise import NoiseConfig, correlated_normal, parametric_noise


def test_emission_family_ranges():
    wl = spectra.wavelengths()
    assert wl[0] == pytest.approx(477) and wl[-1] == pytest.approx(595) and len(wl) == 152
    assert np.diff(wl).mean() == pytest.approx(0.78, abs=0.01)
    rng = np.random.default_rng(0)
    for _ in range(50):
        e = spectra.emission(wl, rng)
        assert e.max() == pytest.approx(1.0)
        core = wl > 490  # ignore the excitation leak at the blue edge
        assert 503 <= wl[core][np.argmax(e[core])] <= 517
        assert 0.005 < e[np.argmin(np.abs(wl - 590))] < 0.2


def test_ligand_response_shape():
    wl = spectra.wavelengths()
    rng = np.random.default_rng(1)
    for _ in range(50):
        s = spectra.ligand_response(wl, rng)
        assert -0.12 < s[0] < -0.03
        cross = wl[np.argmax(s > 0)]
        assert 493 <= cross <= 507
        assert 0.008 < s.max() < 0.03
        assert 515 - 12 <= wl[np.argmax(s)] <= 525 + 12
        assert 0.004 < s[-1] < 0.02 and s[-1] < s.max()


def test_hemoglobin_isosbestic_and_peaks():
    wl = np.array([542.0, 555.0, 577.0, 529.0])
    hbo2, hb = spectra.hemoglobin(wl)
    assert hbo2[0] > hb[0] and hbo2[2] > hb[2]  # HbO2 peaks at 542 and 577
    assert hb[1] > hbo2[1]  # Hb peak at 555
    assert hbo2[3] == pytest.approx(hb[3], rel=0.1)  # isosbestic near 529 nm


def test_event_kinetics_follow_ar1():
    rng = np.random.default_rng(2)
    cfg = synth.SignalConfig()
    a, spikes, g = synth.neuromodulator(rng, 20000, cfg)
    assert 0.965 <= g <= 0.99
    assert 0 < spikes.astype(bool).sum() < 0.2 * len(spikes)
    # between events the fast part decays by exactly g per sample; slow level is smooth
    from scipy.signal import lfilter

    c = lfilter([1.0], [1.0, -g], spikes)
    quiet = (spikes[1:] == 0) & (c[:-1] > 1e-3)
    np.testing.assert_allclose(c[1:][quiet] / c[:-1][quiet], g, rtol=1e-9)
    # sharp rise: the sample of an event jumps by the spike size
    on = np.flatnonzero(spikes > 0.5)
    assert np.all(a[on] - a[on - 1] > 0.4) if len(on) and on[0] > 0 else True


def test_rise_time_is_drawn_per_recording():
    """``rise_prob`` of the recordings rise over ``rise_samples``, the others instantly; the
    widened generator draws 0-3 samples, equally likely."""
    rng = np.random.default_rng(5)
    draws = np.array([synth.rise_time(rng, synth.WIDE) for _ in range(4000)])
    np.testing.assert_allclose(np.bincount(draws) / len(draws), 0.25, atol=0.03)
    some = synth.SignalConfig(rise_samples=(1, 3), rise_prob=0.3)
    draws = np.array([synth.rise_time(rng, some) for _ in range(4000)])
    assert abs(np.mean(draws == 0) - 0.7) < 0.03
    assert set(np.unique(draws)) == {0, 1, 2, 3}
    assert synth.rise_time(rng, synth.SignalConfig()) == 0
    assert synth.rise_time(rng, synth.SignalConfig(rise_samples=(3, 3))) == 3


def test_slow_rise_spreads_the_jump():
    """With a rise of 3 samples an isolated event's jump is spread over 4 samples."""
    cfg = synth.SignalConfig(event_rate=(0.05, 0.05), rise_samples=(3, 3))
    a, spikes, _ = synth.neuromodulator(np.random.default_rng(4), 6000, cfg)
    on = [
        i for i in np.flatnonzero(spikes > 1.5) if 8 < i < len(a) - 8 and np.count_nonzero(spikes[i - 8 : i + 8]) == 1
    ]
    assert len(on) > 5
    for i in on:
        steps = np.diff(a[i - 1 : i + 4]) / spikes[i]
        assert np.all((steps > 0.1) & (steps < 0.45)), steps


def test_hemodynamics_have_no_fast_energy():
    rng = np.random.default_rng(3)
    h = synth.smooth_process(rng, 20000, 0.5 * synth.FS)
    f, p = welch(h, fs=synth.FS, nperseg=1024)
    assert p[f > 1.0].sum() / p.sum() < 1e-3


def test_components_independent():
    rng = np.random.default_rng(4)
    cors = []
    for _ in range(40):
        a, _, _ = synth.neuromodulator(rng, 3000, synth.SignalConfig())
        h = synth.smooth_process(rng, 3000, 5.0)
        cors.append(np.corrcoef(a, h)[0, 1])
    assert abs(np.mean(cors)) < 0.1


def test_intensity_range_and_dark_offset():
    rng = np.random.default_rng(5)
    peaks = [synth.clean_recording(rng, 50).intensity for _ in range(200)]
    assert min(peaks) >= 1e3 and max(peaks) <= 5e4
    assert min(peaks) < 3e3 and max(peaks) > 2e4
    rec = synth.clean_recording(rng, 50)
    assert np.all(rec.clean - rec.photons > 0)  # a dark offset is always present


@pytest.mark.parametrize("scale", [0.3, 0.8])
def test_shot_noise_std_grows_with_sqrt_intensity(scale):
    rng = np.random.default_rng(6)
    cfg = NoiseConfig(gain=(1.0, 1.0), read_sigma=(0.0, 0.0), fixed_pattern=(0.0, 0.0), drift=(0.0, 0.0))
    photons = np.tile(np.array([100.0, 1e3, 1e4, 4e4]), (20000, 1))
    n = parametric_noise(rng, photons, scale, cfg)
    np.testing.assert_allclose(n.std(axis=0), scale * np.sqrt(photons[0]), rtol=0.03)


def test_noise_correlated_across_bins_and_time():
    rng = np.random.default_rng(7)
    z = correlated_normal(rng, (20000, 64), bin_corr=0.5, time_corr=0.3)
    assert z.std() == pytest.approx(1.0, rel=0.02)
    rb = np.corrcoef(z[:, 10], z[:, 11])[0, 1]
    assert rb == pytest.approx(2 * 0.5 / (1 + 2 * 0.25), abs=0.03)
    rt = np.corrcoef(z[1:, 5], z[:-1, 5])[0, 1]
    assert rt == pytest.approx(0.3, abs=0.03)


def test_normalized_pair_has_noise_of_order_one():
    s = Sampler(0, 0, (101, 152), (0.25, 0.35))
    x, y = s.batch(8)
    assert x.shape == (8, 1, 101, 152) and x.dtype == np.float32
    assert 0.5 < y.std() < 3.0
    inst = make_instance(np.random.default_rng(8), 101, 152, 0.8)
    x1, y1 = normalized_pair(inst)
    assert np.isfinite(x1).all() and 0.5 < y1.std() < 3.0


def test_sampler_is_reproducible_and_resumable():
    a = Sampler(3, 0, (20, 16), (0.3, 0.3))
    b = Sampler(3, 0, (20, 16), (0.3, 0.3))
    np.testing.assert_array_equal(a.batch(2)[0], b.batch(2)[0])
    state = a.state()
    nxt = a.batch(2)[0]
    b.set_state(state)
    np.testing.assert_array_equal(b.batch(2)[0], nxt)
    v = Sampler(3, 1, (20, 16), (0.3, 0.3))  # the validation stream differs
    assert not np.allclose(v.batch(2)[0], Sampler(3, 0, (20, 16), (0.3, 0.3)).batch(2)[0])


def test_generation_is_fast():
    import time

    s = Sampler(0, 0, (101, 152), (0.3, 0.3))
    t = time.perf_counter()
    s.batch(16)
    assert time.perf_counter() - t < 3.0  # a training step takes seconds (loaded CI: generous)
