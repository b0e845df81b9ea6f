"""What the output keeps of a signal that stands far above the noise (spectral.kept_share), and the
warning where the default damps a steady oscillation, which none of its training recordings held."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from fluorodn import Denoiser, spectral
from fluorodn.denoiser import DETECTED_PATH
from fluorodn.errors import OutOfDomainWarning


@pytest.fixture(scope="module")
def den() -> Denoiser:
    return Denoiser(device="cpu")


def _blocks(a: np.ndarray) -> list[np.ndarray]:
    return [a[b] for b in spectral.check_blocks(len(a))]


def _sine_in_noise(seed: int, n: int, period: float, size: float, trace: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(noise, sine): 16 traces of white noise of unit variance, and a sine of ``size`` and
    ``period`` samples in trace ``trace`` (zero elsewhere), ``n`` rows each."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, 16))
    sine = np.zeros((n, 16))
    sine[:, trace] = size * np.sin(2 * np.pi * np.arange(n) / period + rng.uniform(0, 6.28))
    return noise, sine


def test_kept_share_is_the_gain_on_a_signal_far_above_the_noise() -> None:
    """Traces in noise units: a sine 4 x the noise in one trace. An output that keeps the input, or
    its signal alone (the noise removed), keeps all of it; one that halves it keeps 0.5, at its
    period; the share is the same where the traces split the sine (any rotation among them). Noise
    alone, or blocks shorter than a segment, judge nothing."""
    noise, signal = _sine_in_noise(3, 4096, 25.0, 4.0, trace=2)
    x = signal + noise
    rng = np.random.default_rng(30)
    share, period = spectral.kept_share(_blocks(x), _blocks(x))
    assert share == pytest.approx(1.0, abs=1e-9) and period == pytest.approx(25.6)  # the segment's bin nearest 25
    assert spectral.kept_share(_blocks(x), _blocks(signal))[0] == pytest.approx(1.0, abs=0.03)
    half = 0.5 * signal + 0.1 * noise
    assert spectral.kept_share(_blocks(x), _blocks(half))[0] == pytest.approx(0.5 + 0.1 * 0.004, abs=0.03)
    rot, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    assert spectral.kept_share(_blocks(x @ rot), _blocks(half @ rot))[0] == pytest.approx(
        spectral.kept_share(_blocks(x), _blocks(half))[0], abs=1e-9
    )
    assert spectral.kept_share(_blocks(noise), _blocks(np.zeros_like(noise))) == (1.0, 0.0)
    short = x[: spectral.KEPT_SEGMENT - 1]
    assert spectral.kept_share([short], [np.zeros_like(short)]) == (1.0, 0.0)


def test_a_broad_signal_far_above_the_noise_is_judged_and_a_weak_one_is_not() -> None:
    """A smooth random signal (power far above the noise at its lowest frequencies) damped to 0.6 reads
    0.6; at a tenth of its size it no longer stands far enough above the noise to be judged."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(4)
    n, k = 4096, 16
    smooth = np.zeros((n, k))
    smooth[:, 0] = gaussian_filter1d(rng.standard_normal(n), 10.0) * 60.0
    noise = rng.standard_normal((n, k))
    share, period = spectral.kept_share(_blocks(smooth + noise), _blocks(0.6 * smooth))
    assert share == pytest.approx(0.6, abs=0.03) and period > 20
    weak = 0.05 * smooth
    assert spectral.kept_share(_blocks(weak + noise), _blocks(0.6 * weak)) == (1.0, 0.0)


def test_a_narrow_peak_is_judged_from_a_lower_power_than_a_broad_signal() -> None:
    """On 3000 rows (four blocks of 750: 16 segments), a sine 2 x the noise stands too low for a
    broad signal's floor but is a narrow peak: damped to 0.3, it reads 0.3. A broad signal of about
    the same power at its frequencies, damped alike, is not judged."""
    from scipy.ndimage import gaussian_filter1d

    noise, sine = _sine_in_noise(6, 3000, 10.0, 2.0)
    x = sine + noise
    rng = np.random.default_rng(60)
    share, period = spectral.kept_share(_blocks(x), _blocks(0.3 * sine))
    assert share == pytest.approx(0.3, abs=0.05) and period == pytest.approx(10.0, rel=0.05)
    broad = np.zeros_like(sine)
    broad[:, 1] = gaussian_filter1d(rng.standard_normal(len(sine)), 3.0) * 10.0
    assert spectral.kept_share(_blocks(broad + noise), _blocks(0.3 * broad)) == (1.0, 0.0)


def test_a_narrow_peak_over_a_broad_signal_is_told_by_its_excess(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sine 1 x the noise in a trace that also carries a broad signal (white, 4 x the noise's power):
    two frequencies away the broad signal and the noise together stand over an eighth of the peak,
    so the plain ratio does not take it for a narrow peak; its excess over the noise stands far above
    theirs (16 segments: 3000 rows). Damped to 0.3 with the broad signal kept, it reads under 0.45;
    with fewer segments than :data:`fluorodn.spectral.KEPT_EXCESS_SEGMENTS` the plain ratio decides,
    and judges nothing here."""
    noise, sine = _sine_in_noise(8, 3000, 10.0, 1.0)
    broad = np.zeros_like(sine)
    broad[:, 1] = 2.0 * np.random.default_rng(80).standard_normal(len(sine))
    x = sine + broad + noise
    share, period = spectral.kept_share(_blocks(x), _blocks(0.3 * sine + broad))
    assert share < 0.45 and period == pytest.approx(10.0, rel=0.05)
    monkeypatch.setattr(spectral, "KEPT_EXCESS_SEGMENTS", 17)
    assert spectral.kept_share(_blocks(x), _blocks(0.3 * sine + broad)) == (1.0, 0.0)


def oscillating(freq_hz: float, size: float, seed: int = 0, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) 10-minute recording (``n`` x 152 at 5 Hz) of the example sensor's response
    oscillating at ``freq_hz``, ``size`` times the noise along the sensor's spectrum, shot noise."""
    from fluorodn.unmixing import load_sensor

    rng = np.random.default_rng(seed)
    wl = np.linspace(477.0, 595.0, 152)
    s = np.interp(wl, *load_sensor("example"))
    e = 8000.0 * np.exp(-0.5 * ((wl - 515.0) / 25.0) ** 2) + 800.0
    amp = size / float(np.linalg.norm(e * s / np.sqrt(e + 500.0)))
    a = amp * np.sin(2 * np.pi * freq_hz * np.arange(n) / 5.0)
    clean = 500.0 + e * np.exp(np.outer(a, s))
    return (clean + rng.standard_normal(clean.shape) * np.sqrt(clean)).astype(np.float32), clean


def _said(run, *args) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = run(*args)
    return got, [f"{Path(w.filename).name}: {w.message}" for w in caught if issubclass(w.category, OutOfDomainWarning)]


def test_a_damped_steady_oscillation_warns_naming_its_period(den: Denoiser) -> None:
    """A 1 Hz oscillation of the sensor, 3 x its noise: the default keeps under half of it and says
    so, once, naming its period (5 samples) and about the share it keeps; a 0.05 Hz one, which it
    keeps, passes quietly."""
    x, clean = oscillating(1.0, 3.0)
    y, said = _said(den.run, x)
    wave = clean - clean.mean(axis=0)
    kept = float(np.sum((y - y.mean(axis=0)) * wave) / np.sum(wave * wave))
    assert kept < 0.45
    assert len(said) == 1 and said[0].startswith("test_kept_share.py: the output keeps only"), said
    assert "a period of about 5 samples" in said[0] and "steady oscillation" in said[0]
    assert int(said[0].split("keeps only ")[1].split("%")[0]) / 100 == pytest.approx(kept, abs=0.06)
    # a bare array, which its shape sent down the spectral path: the warning says so last
    assert said[0].endswith(spectral.DAMPED_ADVICE + DETECTED_PATH) and "strength=0.3 kept" in said[0]
    slow, clean = oscillating(0.05, 4.0, seed=1)
    y, said = _said(den.run, slow)
    assert said == []
    assert float(np.sum((y - y.mean(axis=0)) * (clean - clean.mean(axis=0)))) > 0.9 * float(
        np.sum((clean - clean.mean(axis=0)) ** 2)
    )


def test_an_oscillation_about_the_size_of_its_noise_is_told(den: Denoiser) -> None:
    """A 1 Hz oscillation of the sensor 1.25 x its noise, and 0.5 Hz and 1 Hz ones 1 x it, which the
    default removes whole: each warns, naming its period (at 1 x, told by the peak's excess over the
    noise: the plain ratio to the power two frequencies away told 1 and 3 of these six draws each)."""
    for freq, size, seeds in ((1.0, 1.25, range(3)), (0.5, 1.0, range(6)), (1.0, 1.0, range(6))):
        for seed in seeds:
            x, clean = oscillating(freq, size, seed=seed)
            y, said = _said(den.run, x)
            wave = clean - clean.mean(axis=0)
            assert float(np.sum((y - y.mean(axis=0)) * wave) / np.sum(wave * wave)) < 0.1
            assert len(said) == 1 and f"a period of about {5 / freq:.0f} samples" in said[0], (freq, size, seed, said)


def test_from_twelve_segments_an_oscillation_about_the_size_of_its_noise_is_mostly_told(den: Denoiser) -> None:
    """On 2500 samples (four blocks of 625: 12 segments, the fewest the excess ratio is taken from)
    the default removes 1 x oscillations at 0.5 and 1 Hz whole; of 8 draws 7 warn (the plain ratio
    told 1; the eighth's peak stands 5.8 x what noise gives, under the 7 x floor: with fewer segments
    the noise's edge is higher)."""
    told = 0
    for freq in (0.5, 1.0):
        for seed in range(4):
            x, clean = oscillating(freq, 1.0, seed=seed, n=2500)
            y, said = _said(den.run, x)
            wave = clean - clean.mean(axis=0)
            assert float(np.sum((y - y.mean(axis=0)) * wave) / np.sum(wave * wave)) < 0.1
            told += len(said) == 1 and f"a period of about {5 / freq:.0f} samples" in said[0]
    assert told >= 7


def test_noise_correlated_in_time_alone_is_never_judged() -> None:
    """16 traces of noise correlated in time as training's most (0.67 between neighbours), on 20
    draws: no frequency is judged (its strongest direction stays under 5 x what noise gives, and
    under 1.5 x the power two frequencies away: the floors of both tests keep it out)."""
    from scipy.signal import lfilter

    for seed in range(20):
        white = np.random.default_rng(seed).standard_normal((3000, 16))
        noise = lfilter([np.sqrt(1 - 0.67**2)], [1.0, -0.67], white, axis=0)
        assert spectral.kept_share(_blocks(noise), _blocks(0.5 * noise)) == (1.0, 0.0), seed


def test_a_metadata_limit_replaces_the_default_one() -> None:
    """The least share comes from the model's ``domain_checks["kept"]`` where it states one, else
    :data:`fluorodn.spectral.KEPT_LEAST`."""
    stats = {"snr": 100.0, "time_corr": 0.0, "structure": 1.0, "still": 0.0, "kept": 0.65, "kept_period": 25.0}
    (said,) = spectral.domain_warnings(stats, {})
    assert said.startswith("the output keeps only 65% of a change that stands far above the noise (a period of "
                           "about 25 samples; the model is trusted to keep 70% or more of such a change)")  # fmt: skip
    assert spectral.domain_warnings(stats, {"kept": [0.6, 1.0]}) == []
    assert spectral.domain_warnings({**stats, "kept": 0.75}, {}) == []
    # just under the limit it reads under it, and a share below 0 (a trace dropped) reads 0
    assert spectral.domain_warnings({**stats, "kept": 0.6999}, {})[0].startswith("the output keeps only 69% ")
    assert spectral.domain_warnings({**stats, "kept": -0.004}, {})[0].startswith("the output keeps only 0% ")


def test_dask_warns_of_a_damped_oscillation_as_one_call_does(den: Denoiser) -> None:
    """fluorodn.dask reads the same rows and gives the same warning, once, on the client."""
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    x, _ = oscillating(0.5, 4.0, seed=2, n=5000)
    lazy, built = _said(fdask.denoise, da.from_array(x, chunks=(700, 152)))
    assert _said(lazy.compute)[1] == []
    assert built == _said(den.run, x)[1]
    assert len(built) == 1 and "the output keeps only" in built[0]
