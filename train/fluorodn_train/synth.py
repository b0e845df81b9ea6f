"""Synthetic clean recordings: dynamics x spectra, multiplicative model.

    F(t, l) = I0 * E(l) * exp(a(t) S(l) - h1(t) e_HbO2(l) - h2(t) e_Hb(l))
              * bleach(t) * (1 + motion(t)) + offset(t) + dark(l)

All components are drawn independently of each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import lfilter

from . import spectra

#: Sampling rate of the spectrometer recordings (samples per second).
FS = 5.0


@dataclass
class SignalConfig:
    """Ranges the generator draws from (one line each)."""

    fs: float = FS  #: samples per second
    intensity: tuple[float, float] = (1e3, 5e4)  #: peak counts per bin, log-uniform
    event_rate: tuple[float, float] = (0.02, 0.5)  #: release events per second, log-uniform
    decay_g: tuple[float, float] = (0.965, 0.99)  #: AR(1) decay per sample (0.979 at 5 Hz)
    event_size: tuple[float, float] = (0.3, 2.5)  #: median event amplitude (a.u. of a)
    hemo_dff: tuple[float, float] = (0.002, 0.015)  #: hemodynamic change of fluorescence
    hemo_sigma_s: tuple[float, float] = (0.5, 4.0)  #: smoothing of h1, h2 in seconds
    motion_rate_per_min: tuple[float, float] = (0.0, 2.0)  #: movement steps per minute
    bleach_tau_s: tuple[float, float] = (600.0, 2e4)  #: bleaching time constant
    dark_offset: tuple[float, float] = (50.0, 1000.0)  #: detector offset in counts
    hemo_fast: tuple[float, float] = (0.0, 0.0)  #: share of hemodynamic variance in fast components
    hemo_fast_prob: float = 0.0  #: probability that a recording has fast hemodynamics
    sensors: tuple[str, ...] = ("ach",)  #: sensor families drawn (``spectra.SENSORS``)
    rise_samples: tuple[int, int] = (0, 0)  #: event rise time in samples (0: instant)
    rise_prob: float = 1.0  #: probability that a recording's events rise over ``rise_samples``


#: The widened generator of the spectral model: fast hemodynamics in half of the recordings,
#: three sensor families, faster and slower event kinetics (rises over 0-3 samples, equally
#: likely), stronger hemodynamics.
WIDE = SignalConfig(
    decay_g=(0.9, 0.995),
    hemo_dff=(0.002, 0.02),
    hemo_fast=(0.2, 0.5),
    hemo_fast_prob=0.5,
    sensors=spectra.SENSORS,
    rise_samples=(0, 3),
)


@dataclass
class CleanRecording:
    """A clean synthetic recording and the ground truth that made it."""

    clean: np.ndarray  #: (T, W) float64 counts, including dark offset
    photons: np.ndarray  #: (T, W) float64 signal counts (no offsets); sets shot noise
    a: np.ndarray  #: (T,) neuromodulator level
    spikes: np.ndarray  #: (T,) release events (input of the AR(1) kinetics)
    g: float  #: AR(1) decay used
    wl: np.ndarray  #: (W,) wavelengths in nm
    emission: np.ndarray  #: (W,) E(l), peak 1
    response: np.ndarray  #: (W,) S(l)
    intensity: float  #: I0


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def rise_time(rng: np.random.Generator, cfg: SignalConfig) -> int:
    """A recording's event rise time in samples: from ``cfg.rise_samples`` with probability
    ``cfg.rise_prob``, else 0 (instant). Draws nothing when rises are off or certain."""
    if cfg.rise_samples[1] <= 0 or (cfg.rise_prob < 1.0 and rng.random() >= cfg.rise_prob):
        return 0
    return int(rng.integers(cfg.rise_samples[0], cfg.rise_samples[1] + 1))


def neuromodulator(rng: np.random.Generator, n: int, cfg: SignalConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """Sparse release events with AR(1) decay (rising over ``cfg.rise_samples`` with probability
    ``cfg.rise_prob``, else instantly) on slow state levels.

    Returns (a, spikes, g), each of length ``n``.
    """
    rate = _loguniform(rng, *cfg.event_rate) / cfg.fs
    size = rng.uniform(*cfg.event_size)
    spikes = (rng.random(n) < rate) * rng.lognormal(np.log(size), 0.5, n)
    g = rng.uniform(*cfg.decay_g)
    fast = lfilter([1.0], [1.0, -g], spikes)
    rise = rise_time(rng, cfg)
    if rise > 0:
        fast = np.convolve(fast, np.ones(rise + 1) / (rise + 1))[:n]
    # slow state-dependent level: piecewise constant states, smoothed over ~5-20 s
    n_states = max(1, int(n / (cfg.fs * rng.uniform(20, 120))) + 1)
    edges = np.sort(rng.integers(0, n, n_states - 1))
    levels = rng.uniform(0.0, 1.5 * size, n_states)
    slow = levels[np.searchsorted(edges, np.arange(n), side="right")]
    slow = gaussian_filter1d(slow, rng.uniform(5, 20) * cfg.fs, mode="nearest")
    return fast + slow, spikes, g


def smooth_process(rng: np.random.Generator, n: int, sigma_samples: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian process with no energy faster than ``sigma``."""
    pad = int(4 * sigma_samples) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma_samples)[pad:-pad]
    return (x - x.mean()) / (x.std() + 1e-12)


def fast_process(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """Zero-mean, unit-variance fast hemodynamics: heartbeat (8-12 Hz) and breathing (2-4 Hz)
    sampled at ``fs`` (so they alias into 0-fs/2), plus band-limited noise above 1 Hz."""
    t = np.arange(n) / fs
    out = np.zeros(n)
    for lo, hi in ((8.0, 12.0), (2.0, 4.0)):
        f0 = rng.uniform(lo, hi)
        wander = np.cumsum(rng.normal(0.0, 0.02 * f0 / np.sqrt(fs), n)) / fs  # slow frequency drift
        phase = 2 * np.pi * (f0 * t + np.cumsum(wander) / fs) + rng.uniform(0, 2 * np.pi)
        out += rng.uniform(0.3, 1.0) * np.sin(phase) * (1.0 + 0.3 * smooth_process(rng, n, 10 * fs))
    white = rng.standard_normal(n)
    spec = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    spec[freqs < 1.0] = 0.0
    out += rng.uniform(0.2, 1.0) * np.fft.irfft(spec, n)
    return (out - out.mean()) / (out.std() + 1e-12)


def hemodynamics(rng: np.random.Generator, n: int, cfg: SignalConfig) -> np.ndarray:
    """Zero-mean, unit-variance hemoglobin time course: slow, plus fast components sometimes."""
    slow = smooth_process(rng, n, rng.uniform(*cfg.hemo_sigma_s) * cfg.fs)
    if cfg.hemo_fast_prob <= 0 or rng.random() >= cfg.hemo_fast_prob:
        return slow
    share = rng.uniform(*cfg.hemo_fast)
    return np.sqrt(1.0 - share) * slow + np.sqrt(share) * fast_process(rng, n, cfg.fs)


def motion(rng: np.random.Generator, n: int, cfg: SignalConfig) -> np.ndarray:
    """Wavelength-independent relative steps (movement artifacts), shape (n,)."""
    per_min = rng.uniform(*cfg.motion_rate_per_min)
    k = rng.poisson(per_min * n / cfg.fs / 60.0)
    m = np.zeros(n)
    for t0 in rng.integers(0, n, k):
        dur = int(rng.integers(1, 4))
        step = rng.normal(0.0, 0.02)
        ramp = np.clip((np.arange(n) - t0 + 1) / dur, 0.0, 1.0)
        if rng.random() < 0.5:  # transient offset that returns
            ramp = ramp - np.clip((np.arange(n) - t0 - rng.integers(2, 50)) / dur, 0.0, 1.0)
        m += step * ramp
    return m


def clean_recording(
    rng: np.random.Generator,
    n_time: int,
    n_bins: int = spectra.DEFAULT_BINS,
    cfg: SignalConfig | None = None,
    wl: np.ndarray | None = None,
) -> CleanRecording:
    """Draw one clean recording of shape (n_time, n_bins)."""
    cfg = cfg or SignalConfig()
    if cfg.sensors == ("ach",):
        wl = spectra.wavelengths(n_bins) if wl is None else wl
        e = spectra.emission(wl, rng)
        s = spectra.ligand_response(wl, rng)
    else:
        family = cfg.sensors[int(rng.integers(len(cfg.sensors)))]
        wl_drawn, e, s = spectra.sensor(n_bins, rng, family)
        wl = wl_drawn if wl is None else wl
    hbo2, hb = spectra.hemoglobin(wl)
    a, spikes, g = neuromodulator(rng, n_time, cfg)
    h = [rng.uniform(*cfg.hemo_dff) / ext.max() * hemodynamics(rng, n_time, cfg) for ext in (hbo2, hb)]
    expo = np.outer(a, s) - np.outer(h[0], hbo2) - np.outer(h[1], hb)
    i0 = _loguniform(rng, *cfg.intensity)
    t = np.arange(n_time) / cfg.fs + rng.uniform(0, 3600)
    bleach = np.exp(-t / rng.uniform(*cfg.bleach_tau_s))
    bleach /= bleach[0]
    scale = bleach * (1.0 + motion(rng, n_time, cfg))
    photons = i0 * e[None, :] * np.exp(expo) * scale[:, None]
    offset = (motion(rng, n_time, cfg) * 0.5 * i0 * e.mean())[:, None]
    dark = rng.uniform(*cfg.dark_offset) * (1.0 + rng.uniform(-0.1, 0.1) * np.linspace(-1, 1, n_bins))
    clean = photons + offset + dark[None, :]
    return CleanRecording(
        clean=clean,
        photons=np.maximum(photons, 0.0),
        a=a,
        spikes=spikes,
        g=g,
        wl=wl,
        emission=e,
        response=s,
        intensity=i0,
    )
