"""Downstream analysis of a spectral photometry recording: the numbers a scientist reads.

A recording is a (T, W) array, time x wavelength, in counts. The analysis turns it into:

1. ``fluorodn.unmix`` (the runtime's own unmixing, used by
   :func:`.recordings.fitted_trace`) fits every time sample with the spectral model and
   returns the neuromodulator level ``a(t)``;
2. :func:`subtract_baseline` and :func:`deconvolve` turn ``a(t)`` into release events
   (OASIS, AR(1));
3. :func:`coherence` compares a trace with ground truth (multitaper, magnitude squared);
4. :func:`events` and :func:`match_events` score detected events against true ones;
5. :func:`image_scores` gives PSNR and SSIM of a whole recording.

Every function is pure numpy in, numpy/dataclass out, and cheap enough to run on ten
pipelines x 30-minute recordings in seconds. OASIS (``oasis-deconv``), multitaper coherence
(``spectral_connectivity``) and SSIM (``scikit-image``) come with the ``[eval]`` extra.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, percentile_filter

__all__ = [
    "SEED_G",
    "EventScore",
    "band_values",
    "coherence",
    "deconvolve",
    "events",
    "image_scores",
    "match_events",
    "noise_level",
    "subtract_baseline",
]

#: AR(1) decay per sample (at 5 Hz) of the reference OASIS step: the sensor's kinetics.
SEED_G = 0.9791


# --------------------------------------------------------------------------------------
# 1. baseline and deconvolution
# --------------------------------------------------------------------------------------


def subtract_baseline(
    trace: np.ndarray, fs: float, window_s: float = 60.0, percentile: float = 10.0, smooth_s: float = 5.0
) -> np.ndarray:
    """Trace minus its slow baseline: a running low percentile, then Gaussian-smoothed.

    Parameters
    ----------
    trace : (T,) float.
    fs : samples per second.
    window_s : length of the running-percentile window in seconds.
    percentile : which percentile of each window is the baseline.
    smooth_s : standard deviation of the smoothing of the baseline, seconds.
    """
    trace = np.asarray(trace, dtype=np.float64)
    size = max(3, min(round(window_s * fs) | 1, (len(trace) // 2) * 2 - 1))
    base = percentile_filter(trace, percentile, size=size, mode="nearest")
    base = gaussian_filter1d(base, smooth_s * fs, mode="nearest")
    return trace - base


def deconvolve(trace: np.ndarray, g: float = SEED_G, fs: float = 5.0) -> tuple[np.ndarray, np.ndarray, float]:
    """OASIS (``oasis-deconv``) AR(1) deconvolution with a fixed decay.

    Parameters
    ----------
    trace : (T,) baseline-subtracted trace.
    g : AR(1) decay per sample.
    fs : samples per second (OASIS takes the decay as a time constant).

    Returns
    -------
    (c, s, lam) : (T,) denoised calcium-like trace, (T,) non-negative event train, and the
    sparsity penalty OASIS settled on (from its noise estimate).
    """
    from oasis.functions import ar1_to_tau
    from oasis.functions import deconvolve as oasis_deconvolve

    y = np.ascontiguousarray(trace, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c, s, _, _, lam = oasis_deconvolve(y, tau_d=ar1_to_tau(g, fs), framerate=fs, penalty=1, b_nonneg=False)
    return np.asarray(c), np.asarray(s), float(lam)


def noise_level(trace: np.ndarray) -> float:
    """The noise standard deviation :func:`deconvolve` gives OASIS to fit within: OASIS's own
    estimate (``GetSn``), from the trace's mean power between a quarter and half of the sampling
    rate (1.25-2.5 Hz at 5 Hz). OASIS keeps the fit's squared misfit at this level squared per
    sample, so whatever fast content a trace has, noise or steps of events, loosens the fit alike.
    """
    from oasis.functions import GetSn

    return float(GetSn(np.ascontiguousarray(trace, dtype=np.float64)))


# --------------------------------------------------------------------------------------
# 2. coherence
# --------------------------------------------------------------------------------------


def coherence(
    x: np.ndarray,
    y: np.ndarray,
    fs: float,
    *,
    time_halfbandwidth: float = 5.0,
    window_s: float = 32.0,
    step_s: float = 16.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Multitaper magnitude-squared coherence of two traces (``spectral_connectivity``).

    The cross-spectra are averaged over tapers and over all sliding windows, so the
    result is one coherence per frequency for the whole recording.

    Parameters
    ----------
    x, y : (T,) traces.
    fs : samples per second.
    time_halfbandwidth : NW of the DPSS tapers (2 NW - 1 tapers).
    window_s, step_s : window length and step in seconds.

    Returns
    -------
    (freqs, coh) : (F,) frequencies in Hz from 0 to fs / 2 and (F,) coherence in [0, 1].
    """
    from spectral_connectivity import Connectivity, Multitaper

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"expected two traces of equal length, got {x.shape} and {y.shape}")
    if len(x) < int(window_s * fs):
        raise ValueError(f"traces of {len(x)} samples are shorter than one {window_s} s window")
    series = np.stack([x, y], axis=-1)[:, None, :]  # (time, trials, signals)
    mt = Multitaper(
        series,
        sampling_frequency=fs,
        time_halfbandwidth_product=time_halfbandwidth,
        time_window_duration=window_s,
        time_window_step=step_s,
    )
    conn = Connectivity.from_multitaper(mt, expectation_type="time_trials_tapers")
    coh = np.asarray(conn.coherence_magnitude())[..., 0, 1].reshape(-1)
    freqs = np.asarray(conn.frequencies).reshape(-1)
    keep = freqs >= 0
    return freqs[keep], coh[keep]


def band_values(
    freqs: np.ndarray, coh: np.ndarray, at: tuple[float, ...] = (0.0, 1.0, 2.5), band: tuple[float, float] = (0.0, 2.5)
) -> dict[str, float]:
    """Coherence at chosen frequencies (nearest bin) and its mean over a band."""
    out = {f"coh_{f:g}hz": float(coh[int(np.argmin(np.abs(freqs - f)))]) for f in at}
    sel = (freqs >= band[0]) & (freqs <= band[1])
    out[f"coh_mean_{band[0]:g}_{band[1]:g}hz"] = float(np.mean(coh[sel]))
    return out


# --------------------------------------------------------------------------------------
# 3. events
# --------------------------------------------------------------------------------------


def events(train: np.ndarray, merge: int = 1, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Group a non-negative event train into events.

    Non-zero samples separated by at most ``merge`` zero samples form one event: its
    time is the largest sample of the group and its amplitude the group's sum (noise
    splits one release over neighbouring samples). Samples not above ``floor`` are
    dropped first, so that a trickle of tiny values (a deconvolved slow rise) cannot
    chain separate releases into one event.

    Returns
    -------
    (idx, amp) : (N,) int sample indices and (N,) float amplitudes.
    """
    train = np.asarray(train, dtype=np.float64)
    nz = np.flatnonzero(train > max(floor, 0.0))
    if nz.size == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    group = np.concatenate([[0], np.cumsum(np.diff(nz) > merge + 1)])
    n = int(group[-1]) + 1
    amp = np.bincount(group, weights=train[nz], minlength=n)
    order = np.lexsort((-train[nz], group))  # by group, largest first
    first = np.concatenate([[True], group[order][1:] != group[order][:-1]])
    idx = nz[order][first]
    return idx.astype(np.int64), amp


@dataclass
class EventScore:
    """Detected events scored against true ones."""

    n_true: int  #: true events of at least ``min_size``
    n_detected: int  #: detected events of at least ``min_size``
    tp: int  #: detections matched to a true event of at least ``min_size``
    fp: int  #: detections matched to no true event
    fn: int  #: true events of at least ``min_size`` without a detection
    precision: float
    recall: float
    f1: float
    amplitude_ratio: float  #: median detected / true amplitude of the matched pairs (nan if none)

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def match_events(
    true_idx: np.ndarray,
    true_amp: np.ndarray,
    det_idx: np.ndarray,
    det_amp: np.ndarray,
    *,
    tol: int = 3,
    min_size: float = 0.0,
) -> EventScore:
    """One-to-one matching of detected and true events within ``tol`` samples.

    Detections smaller than ``min_size`` are dropped. Detections are matched greedily,
    closest pairs first, preferring true events of at least ``min_size``. A detection
    matched to a smaller true event counts neither as hit nor as false positive.
    """
    true_idx = np.asarray(true_idx, np.int64)
    true_amp = np.asarray(true_amp, np.float64)
    keep = np.asarray(det_amp) >= min_size
    det_idx = np.asarray(det_idx, np.int64)[keep]
    det_amp = np.asarray(det_amp, np.float64)[keep]
    big = true_amp >= min_size
    # candidate pairs within tol (true events sorted by time)
    order = np.argsort(true_idx, kind="stable")
    ts = true_idx[order]
    lo = np.searchsorted(ts, det_idx - tol, side="left")
    hi = np.searchsorted(ts, det_idx + tol, side="right")
    pairs = [
        (0 if big[order[k]] else 1, abs(int(ts[k]) - int(det_idx[j])), j, int(order[k]))
        for j in range(len(det_idx))
        for k in range(lo[j], hi[j])
    ]
    pairs.sort()
    used_t: set[int] = set()
    used_d: set[int] = set()
    tp_pairs: list[tuple[int, int]] = []
    n_small = 0
    for is_small, _, j, i in pairs:
        if j in used_d or i in used_t:
            continue
        used_d.add(j)
        used_t.add(i)
        if is_small:
            n_small += 1
        else:
            tp_pairs.append((j, i))
    tp = len(tp_pairs)
    n_true = int(big.sum())
    fp = len(det_idx) - len(used_d)
    fn = n_true - tp
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / n_true if n_true else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else float("nan")
    ratio = float(np.median([det_amp[j] / true_amp[i] for j, i in tp_pairs])) if tp_pairs else float("nan")
    return EventScore(
        n_true=n_true,
        n_detected=len(det_idx),
        tp=tp,
        fp=fp,
        fn=fn,
        precision=precision,
        recall=recall,
        f1=f1,
        amplitude_ratio=ratio,
    )


# --------------------------------------------------------------------------------------
# 4. image scores
# --------------------------------------------------------------------------------------


def image_scores(clean: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """PSNR (dB) and SSIM of ``test`` against ``clean`` (scikit-image).

    ``data_range`` is the clean recording's max - min, so the numbers do not depend on
    what the test image does at its extremes.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    clean = np.asarray(clean, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    rng = float(clean.max() - clean.min())
    with np.errstate(divide="ignore"):  # identical images: PSNR is +inf
        psnr = float(peak_signal_noise_ratio(clean, test, data_range=rng))
    return {"psnr": psnr, "ssim": float(structural_similarity(clean, test, data_range=rng))}
