"""Continuous test recordings with ground truth, and the analysis of one denoised output.

The recordings come from the generator's ``TEST_STREAM`` (never used in training or
validation): one clean recording per seed, with noise drawn at each requested noise scale
and, for robustness checks, unit changes, other bin counts, white and strongly correlated
noise. :func:`analyse` runs the downstream analysis of :mod:`.analysis` on one output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import fluorodn
import numpy as np

from .. import noise, synth
from ..data import TEST_STREAM
from . import analysis

__all__ = [
    "BINS",
    "EVENT_FLOOR_FRAC",
    "EVENT_MERGE",
    "EVENT_MIN_FRAC",
    "EVENT_TOL",
    "FIGURE_NOISE",
    "FS",
    "ROBUST_AFFINE",
    "ROBUST_BINS",
    "SEED",
    "STRONG_CORR",
    "EventAnalysis",
    "Recording",
    "analyse",
    "event_analysis",
    "event_tolerance",
    "fitted_trace",
    "make_recordings",
    "oasis_g",
    "signal_config",
]

#: Samples per second of the synthetic recordings.
FS = synth.FS
#: Test seed; recordings come from SeedSequence(seed, spawn_key=(TEST_STREAM, ...)).
SEED = 0
#: Noise scale of the robustness variants (that of the ``high`` model's training data).
FIGURE_NOISE = 0.8
#: Wavelength bins of the main recordings and of the robustness variants.
BINS = 152
ROBUST_BINS = (76, 304)
#: Unit changes and offset of the robustness variants: input = noisy * factor + offset.
ROBUST_AFFINE = {"units x1e-3": (1e-3, 0.0), "units x1e3": (1e3, 0.0), "offset +1e4": (1.0, 1e4)}
#: Noise outside the training distribution (training draws bin_corr <= 0.5, time_corr <= 0.3).
STRONG_CORR = {"bin_corr": 1.0, "time_corr": 0.8}
#: Events: matching tolerance (samples), grouping gap, size threshold (x median true size).
EVENT_TOL = 3
EVENT_MERGE = 1
EVENT_MIN_FRAC = 0.3
#: Deconvolved samples below this fraction of the size threshold are not part of any event.
EVENT_FLOOR_FRAC = 0.1


@dataclass
class Recording:
    """A test recording with what the analysis needs to know about it."""

    name: str  #: e.g. "noise 0.8" or "bins 76"
    kind: str  #: "main", "robustness", or a kind of the caller's own
    noise_scale: float
    noisy: np.ndarray  #: (T, W) float64, in the units the pipelines see
    clean: np.ndarray  #: (T, W) float64 counts
    truth: synth.CleanRecording  #: the generator's clean recording and its parameters
    dark: np.ndarray  #: (W,) detector offset in counts
    affine: tuple[float, float] = (1.0, 0.0)  #: noisy = counts * factor + offset
    base: str | None = None  #: recording whose outputs these should equal (affine variants)
    note: str = ""
    fs: float = FS  #: samples per second (the truth's kinetics are those of :func:`signal_config` in seconds)

    def to_counts(self, y: np.ndarray) -> np.ndarray:
        """(T, W) output in the pipeline's units -> (T, W) float64 counts."""
        f, o = self.affine
        return (np.asarray(y, np.float64) - o) / f


def signal_config() -> synth.SignalConfig:
    """The generator's configuration with the draws that set difficulty pinned to the middle
    of their training ranges (log scale for intensity and rate), and the decay at
    :data:`.analysis.SEED_G`, so that OASIS deconvolves with the true kinetics. Everything
    else is drawn."""
    cfg = synth.SignalConfig()

    def geometric(r: tuple[float, float]) -> tuple[float, float]:
        return (math.sqrt(r[0] * r[1]),) * 2

    def middle(r: tuple[float, float]) -> tuple[float, float]:
        return ((r[0] + r[1]) / 2,) * 2

    return replace(
        cfg,
        intensity=geometric(cfg.intensity),
        event_rate=geometric(cfg.event_rate),
        event_size=middle(cfg.event_size),
        decay_g=(analysis.SEED_G,) * 2,
    )


def _dark(rec: synth.CleanRecording) -> np.ndarray:
    return np.median(rec.clean - rec.photons, axis=0)


def make_recordings(
    n_time: int, noise_scales: tuple[float, ...], robust: bool = False, seed: int = SEED
) -> list[Recording]:
    """The main recordings (one clean recording of ``n_time`` samples x :data:`BINS`, one
    noise draw scaled per noise scale) and, if ``robust``, the robustness variants of the
    :data:`FIGURE_NOISE` recording (which must then be among ``noise_scales``)."""
    cfg = signal_config()

    def clean(n_bins: int) -> synth.CleanRecording:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TEST_STREAM,)))
        return synth.clean_recording(rng, n_time, n_bins, cfg)

    def noise_rng(branch: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TEST_STREAM, branch)))

    rec = clean(BINS)
    out = []
    for ns in noise_scales:
        eps = noise.parametric_noise(noise_rng(1), rec.photons, ns)
        out.append(Recording(f"noise {ns:g}", "main", ns, rec.clean + eps, rec.clean, rec, _dark(rec)))
    if not robust:
        return out
    base = next(r for r in out if r.noise_scale == FIGURE_NOISE)
    for name, (f, o) in ROBUST_AFFINE.items():
        out.append(
            Recording(
                name,
                "robustness",
                FIGURE_NOISE,
                base.noisy * f + o,
                rec.clean,
                rec,
                base.dark,
                affine=(f, o),
                base=base.name,
            )
        )
    for n_bins in ROBUST_BINS:
        r = clean(n_bins)
        eps = noise.parametric_noise(noise_rng(1), r.photons, FIGURE_NOISE)
        out.append(Recording(f"bins {n_bins}", "robustness", FIGURE_NOISE, r.clean + eps, r.clean, r, _dark(r)))
    level = float(np.std(base.noisy - base.clean))
    white = level * noise_rng(2).standard_normal(rec.clean.shape)
    out.append(
        Recording(
            "white noise",
            "robustness",
            FIGURE_NOISE,
            rec.clean + white,
            rec.clean,
            rec,
            base.dark,
            note=f"i.i.d. Gaussian, std {level:.4g} counts (that of 'noise {FIGURE_NOISE:g}'), no shot noise",
        )
    )
    ncfg = noise.NoiseConfig(bin_corr=(STRONG_CORR["bin_corr"],) * 2, time_corr=(STRONG_CORR["time_corr"],) * 2)
    eps = noise.parametric_noise(noise_rng(1), rec.photons, FIGURE_NOISE, ncfg)
    out.append(
        Recording(
            "correlated noise",
            "robustness",
            FIGURE_NOISE,
            rec.clean + eps,
            rec.clean,
            rec,
            base.dark,
            note=f"parametric noise with bin_corr {STRONG_CORR['bin_corr']:g}, "
            f"time_corr {STRONG_CORR['time_corr']:g} (training: <= 0.5, <= 0.3)",
        )
    )
    return out


def fitted_trace(rec: Recording, y_counts: np.ndarray) -> np.ndarray:
    """The sensor's trace a(t) of a (T, W) output in counts: ``fluorodn.unmix`` with the
    recording's own response spectrum and dark level, no denoising (the output is what is
    judged). The emission spectrum is estimated from the output, so a(t) is known up to a
    constant: it is returned with the true trace's mean."""
    tr = rec.truth
    res = fluorodn.unmix(y_counts, tr.wl, (tr.wl, tr.response), denoise=False, dark=rec.dark)
    return res.sensor - res.sensor.mean() + tr.a.mean()


@dataclass
class EventAnalysis:
    """The event analysis of one fitted a(t): OASIS on the baseline-subtracted trace, events
    grouped (:data:`EVENT_MERGE`) and scored against the true releases."""

    train: np.ndarray  #: (T,) OASIS event train
    lam: float  #: the sparsity penalty OASIS settled on
    true_idx: np.ndarray  #: true events (grouped releases): sample indices
    true_amp: np.ndarray  #: ... and amplitudes
    det_idx: np.ndarray  #: detected events (grouped, samples above ``floor``): sample indices
    det_amp: np.ndarray  #: ... and amplitudes
    min_size: float  #: smallest event that counts (:data:`EVENT_MIN_FRAC` of the median true event)
    floor: float  #: event-train samples at or below this are dropped before grouping
    score: analysis.EventScore


def oasis_g(fs: float) -> float:
    """OASIS's AR(1) decay per sample at ``fs`` samples per second: :data:`.analysis.SEED_G`'s
    time constant (its value at :data:`FS`)."""
    return float(analysis.SEED_G ** (FS / fs))


def event_tolerance(fs: float) -> int:
    """The matching tolerance in samples at ``fs``: :data:`EVENT_TOL` samples at :data:`FS`, the
    same time at any rate (at least one sample)."""
    return max(1, round(EVENT_TOL * fs / FS))


def event_analysis(rec: Recording, a: np.ndarray) -> EventAnalysis:
    """OASIS events of a fitted a(t) (:func:`fitted_trace`) scored against ``rec``'s truth, with the
    sensor's kinetics and the matching tolerance at ``rec.fs`` (:func:`oasis_g`, :func:`event_tolerance`)."""
    _, s, lam = analysis.deconvolve(analysis.subtract_baseline(a, rec.fs), oasis_g(rec.fs), rec.fs)
    ti, ta = analysis.events(rec.truth.spikes, EVENT_MERGE)
    min_size = EVENT_MIN_FRAC * float(np.median(ta))
    floor = EVENT_FLOOR_FRAC * min_size
    di, da = analysis.events(s, EVENT_MERGE, floor=floor)
    score = analysis.match_events(ti, ta, di, da, tol=event_tolerance(rec.fs), min_size=min_size)
    return EventAnalysis(s, lam, ti, ta, di, da, min_size, floor, score)


def analyse(rec: Recording, y_counts: np.ndarray) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """All metrics of one (T, W) output in counts against ``rec``'s ground truth.

    Returns (metrics, fitted a(t) (T,), coherence with the true a(t) (F,)). The metrics:
    PSNR and SSIM, RMSE of a(t) (:func:`fitted_trace`), coherence at 0 / 1 / 2.5 Hz and its
    0-2.5 Hz mean, and the event scores (``ev_*``) of OASIS on the baseline-subtracted a(t).
    """
    tr = rec.truth
    out: dict[str, Any] = analysis.image_scores(rec.clean, y_counts)
    a = fitted_trace(rec, y_counts)
    out["rmse_a"] = float(np.sqrt(np.mean((a - tr.a) ** 2)))
    freqs, coh = analysis.coherence(a, tr.a, rec.fs)
    out |= analysis.band_values(freqs, coh)
    score = event_analysis(rec, a).score
    out |= {f"ev_{k}": v for k, v in score.as_dict().items()}
    return out, a, coh
