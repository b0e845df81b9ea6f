"""The spectral projection shared by training and inference (numpy only).

A spectral recording ``x`` of shape (T, W) (time x wavelength) is a mix of a handful of
spectra spanning every bin, plus noise in every bin. :func:`project` turns it into a few
coefficient traces in noise units:

1. ``mu`` (W,): per-bin median over time.
2. ``sigma`` (W,): per-bin noise level, from the time differences of ``x`` *outside* their
   leading spectral components (:func:`noise_levels`), so that fast but spectrally structured
   signal (hemodynamics pulsing with heartbeat and breathing) is not counted as noise.
3. ``z = (x - mu) / sigma``: noise of roughly unit variance in every bin.
4. ``basis`` (W, K): the leading right singular vectors of ``z`` (``K = COMPONENTS``), signs
   fixed so that each column sums to a non-negative number.
5. ``coef = z @ basis / comp_noise`` (T, K): the coefficient traces, each divided by its own
   noise level ``comp_noise``, which accounts for noise correlated across neighbouring bins.
6. ``scale`` (K,): each trace's standard deviation, at least 1. The network sees every trace
   divided by its scale next to a constant trace ``1 / scale`` (the trace's noise level after
   that division, as in FFDNet's noise-level map), so that traces carrying bright signal (tens
   to hundreds of noise units) and traces of pure noise enter it on the same footing.
7. ``pattern`` (W,): the detector's per-bin fixed pattern, which is constant in time, so no
   temporal denoiser can tell it from signal. Emission and absorption spectra are smooth across
   bins and the pattern is not: the recording's time-mean spectrum minus its smoothed self
   (:func:`smooth_spectrum`, a penalized least-squares smoother whose strength is chosen by
   generalized cross-validation, which keeps narrow lines as they are) estimates it, and
   :func:`reconstruct` subtracts it (except at the first and last bin, where it cannot be told
   from the spectrum's slope, and at neighbouring bins whose noise is one, which read one pixel).
8. ``signal`` (K,): which traces hold signal (:func:`holds_signal`). Past the recording's few
   spectra, the leading components of its noise fill the K; their traces are noise around a
   constant, their time mean ``coef_mean`` (the median centre leaves each bin's mean minus
   median in the traces).
9. ``rotation`` (K, K): an orthogonal mix of the signal traces among themselves
   (:func:`sparse_rotation`) that gathers each sparse, sudden change (a transient's rise) into
   one trace instead of spreading it over several. The noise stays white with unit variance in
   every trace, and the network, which denoises each trace on its own, sees a rise at its full
   size against that noise, so it keeps it sharper.
10. ``sparse`` (K,): which signal traces change sparsely (:func:`changes_sparsely`): the traces
   that carry the transients' rises, where :func:`keep_onsets` can keep a weaker denoising.

The network denoises the signal traces over time (every output value thus depends on the
whole spectrum of its samples); each noise-only trace is replaced by its time mean, and what
lies outside the K components is dropped (but for its time mean, ``mean``, where the pattern is
kept); :func:`reconstruct` maps denoised coefficients back to counts.

Every statistic is equivariant to the data's units and offset (``project(k x + c)`` gives
the same ``coef``), and statistics over long recordings use an evenly strided subset of at
most ``STAT_ROWS`` rows, so their cost does not grow with the recording.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fluorodn.errors import InputError
from fluorodn.normalize import difference_noise

__all__ = [
    "BRIEF_FALSE_ALARM",
    "BRIEF_GAP",
    "BRIEF_LONGEST",
    "BRIEF_SHARE",
    "BRIEF_TIMES",
    "COMPONENTS",
    "CONVENTION",
    "DARK_DROP",
    "DARK_FLAT",
    "DARK_LACK",
    "DARK_LONGEST",
    "DARK_NEAR",
    "DARK_SPLIT",
    "DARK_UPPER",
    "FAST_DIFF_CORR",
    "FAST_KURTOSIS",
    "FEW_SAMPLES",
    "FREQUENT_RISE_SAMPLES",
    "KEPT_ABOVE",
    "KEPT_EXCESS_SEGMENTS",
    "KEPT_LEAST",
    "KEPT_PEAK_ABOVE",
    "KEPT_PEAK_RATIO",
    "KEPT_SEGMENT",
    "KEPT_SIDE_FLOOR",
    "LEAST_STRENGTH",
    "LOW_RATE_HZ",
    "MAX_BINS",
    "MIN_BINS",
    "ONE_SPECTRUM",
    "ONSET_REACH",
    "ONSET_SDS",
    "ONSET_SPAN",
    "ONSET_STRENGTH",
    "ONSET_WIDTH",
    "ONSET_WINDOW",
    "RATE_LIMITS_HZ",
    "RISE_SDS",
    "SPARSE_KURTOSIS",
    "SPIKE_ABOVE",
    "STRONG_RISE_SDS",
    "SUDDEN_BINS",
    "SUDDEN_CONCENTRATED",
    "TRAINED_RATE_HZ",
    "WEAK_RISE_SHARE",
    "EventCaution",
    "Kept",
    "Notice",
    "Projection",
    "Saturated",
    "across_spectrum",
    "bridged",
    "brief_changes",
    "brief_message",
    "brief_scores",
    "changes_sparsely",
    "check_blocks",
    "coefficient_map",
    "coefficients",
    "continue_ends",
    "dark_mask",
    "dark_rows",
    "diff_variance",
    "domain_warnings",
    "fast_hemodynamics",
    "fast_hemodynamics_message",
    "fit",
    "fixed_pattern_estimate",
    "holds_signal",
    "interleaved_message",
    "isolated_spikes",
    "keep_brief",
    "keep_onsets",
    "kept_share",
    "light_off_message",
    "lit_mask",
    "local_structure",
    "looks_spectral",
    "network_input",
    "noise_levels",
    "one_spectrum",
    "onset_rows",
    "pad_ends",
    "pattern_message",
    "pattern_size",
    "project",
    "rate_refusal",
    "rate_warning",
    "reads_as_given",
    "reconstruct",
    "removed_stats",
    "rises",
    "rows_are_spectra",
    "run_traces",
    "runs",
    "saturated_rows",
    "set_aside",
    "set_aside_messages",
    "short_recording",
    "small_events_message",
    "smooth_spectrum",
    "snr",
    "sparse_rotation",
    "split_rows",
    "takes_recording",
    "weakened",
]

#: Name of this convention, as stored in the metadata of spectral models.
CONVENTION = "spectral-pca-v3"
#: Coefficient traces the network sees (channels of the 1D network).
COMPONENTS = 16
#: Fewest wavelength bins a spectral recording may have.
MIN_BINS = 24
#: Leading components of the time differences treated as signal by :func:`noise_levels`.
DIFF_COMPONENTS = 8
#: Rows used by the statistics of long recordings (evenly strided).
STAT_ROWS = 20_000
#: Lags (in bins) of the across-bin noise correlation that :func:`noise_levels` estimates.
CORR_LAGS = 3
#: Order of the differences across bins that :func:`smooth_spectrum` penalizes.
SMOOTH_ORDER = 3
#: A bin of a spectrum is the peak of a narrow line (:func:`smooth_spectrum`) where its residual from
#: the smooth lies beyond this many robust standard deviations of the residuals of the
#: :data:`LINE_WINDOW` bins around it (or of all the bins, where that is more); the line is the
#: peak and its two neighbours. A detector's pattern does not reach that far: a Gaussian one passes
#: 6 sds in one bin in 500 million, and a gain pattern's size follows the spectrum's level, as the
#: window's scale does. With a white pattern, or a 1.5 % gain pattern, on smooth spectra of 76-1024
#: bins, 2.5e-4 of the bins were taken for lines (9e-4 at 5 sds). Of the 60 widened-generator
#: recordings of ``benchmarks/results/fixed_pattern.md``, 3 had lines (7-12 bins of a steep stretch
#: of a 76-bin spectrum), and the estimate's time-mean MSE was 6.69 counts^2 against 6.76 without.
LINE_SDS = 6.0
LINE_WINDOW = 21
#: Most rounds of finding the lines and smoothing without them (:func:`smooth_spectrum`).
LINE_ROUNDS = 5
#: Neighbouring bins whose noise correlates beyond this read one pixel (:func:`fit`): each bin's
#: fixed pattern cannot be told apart there, and they keep it. Bins repeating each other's values
#: give 1; the training generator's noise correlates up to 0.67 between neighbours, measured up to
#: 0.65 on 40 draws of 3000 samples, 0.74 of 200 and 0.88 of 40 (an estimate from few samples
#: spreads wider).
TWIN_CORR = 0.9
#: Samples of the moving average by which :func:`holds_signal` finds slow signal in a trace.
SLOW_WINDOW = 25
#: A trace holds signal when its moving average varies this many times more than noise alone
#: makes it vary (white noise: 1; noise correlated in time as in training, AR(1) up to 0.3: 2.7).
SLOW_RATIO = 3.0
#: ... or when its standard deviation exceeds this many times the largest a trace of noise
#: alone reaches (the Marchenko-Pastur edge ``1 + sqrt(W / T)`` in noise units).
LOUD_RATIO = 1.25
#: Fewest rows for telling noise-only traces apart (:func:`holds_signal`); shorter recordings
#: denoise every trace.
SIGNAL_TEST_ROWS = 20 * SLOW_WINDOW
#: A signal trace whose time differences spread (robustly) more than this many times the
#: variance that white noise alone gives them changes densely, faster than its noise (fast
#: hemodynamics), and stays out of :func:`sparse_rotation`'s mix.
DENSE_RATIO = 4.0
#: Most fixed-point iterations of :func:`sparse_rotation` (it stops once the sum gains < 1e-7).
ROTATION_ITERS = 100
#: Samples of the moving mean that :func:`baseline` takes as each trace's slow baseline, on
#: recordings longer than that: about the length of the recordings the network was trained on
#: (1200 samples), so that a long recording's slow drift (bleaching, over tens of minutes) neither
#: enters the network nor sets the scale it sees a trace at.
BASELINE_SAMPLES = 1001

#: A signal trace changes sparsely when the kurtosis of its time differences exceeds this
#: (white noise, and dense changes such as hemodynamics: 3, within 0.06 over 6000 samples; a trace
#: holding transients' rises: tens at low noise, 4-5 at the top of the training range).
SPARSE_KURTOSIS = 3.3
#: A dense signal trace (see :data:`DENSE_RATIO`) whose time differences have a kurtosis below
#: this is fast hemodynamics: dense, near-gaussian changes. On 24 test recordings of each stress
#: condition with fast hemodynamics (noise 0.2, 0.4, 0.8) the lowest such kurtosis of a recording
#: was 2.7-4.1 on all but 3 (5.4-7.1, at noise 0.4 and 0.8). A trace of many large transients
#: can pass the dense test too, but its differences are heavier-tailed: without fast
#: hemodynamics the dense traces' kurtosis was 17 or more on the main recordings and 4.6 or more
#: with events rising over 3 samples. (Measured ad hoc on the events benchmark's recordings; how
#: often the check fires there is in ``benchmarks/results/events.md``.)
FAST_KURTOSIS = 4.4
#: ... and whose successive time differences are anticorrelated (lag-1 autocorrelation below
#: this): its changes are faster than a few samples, as white noise's (-0.5) and fast
#: hemodynamics' (-0.38 to -0.70 on those recordings) are, and a slow, large signal's at low noise
#: (a slow oscillation: +0.76, with a kurtosis of 1.9) is not.
FAST_DIFF_CORR = 0.0
#: A rise of a sparse trace: a stretch of time differences beyond this many robust standard
#: deviations of the trace's differences, in the direction the trace's transients rise; a strong
#: rise reaches :data:`STRONG_RISE_SDS`. Noise, movement steps and hemodynamics change both ways
#: alike, so the excess of rises over falls counts the transients that reach the threshold
#: (:func:`rises`).
RISE_SDS = 2.5
STRONG_RISE_SDS = 5.0
#: Small, frequent events (:func:`small_events_message`): more of the rises than this share are
#: not strong, and they come more often than one in :data:`FREQUENT_RISE_SAMPLES` samples. There
#: the network smooths part of the events away: with events at a third of the main recordings'
#: size and five times as frequent at noise 0.4, its event F1 fell below raw's
#: (``benchmarks/results/events.md``), while with small events alone, or frequent events of the
#: main recordings' size, it did not. (Chosen ad hoc on 3000-sample recordings of every
#: combination of 0.1, 0.2 and 0.5 events per second, median sizes 0.5, 1.0 and 1.4 and noise 0.4
#: and 0.8, seeds 0-11 of the test stream: it fired on 12 of 12 with events of 0.5 at 0.2 and at
#: 0.5 per second at noise 0.8, where the default lost 0.03-0.05 of event F1 to raw, on 4-8 of 12
#: in the four other combinations of events of 0.5 or 1.0 at 0.2-0.5 per second, where its mean F1
#: fell below raw's on one set of 6 seeds or both, on 0-2 of 12 in the others, and on none of 12
#: each of the quality benchmark's stress recordings; on 30 draws of the training generator
#: without fast hemodynamics, on the two where the default lost more than 0.1 of F1 and on no
#: other. How often it fires on the events benchmark's recordings is in ``events.md``.)
WEAK_RISE_SHARE = 0.25
FREQUENT_RISE_SAMPLES = 50

_MAD_TO_SIGMA = 1.482602218505602
#: Reads rows of a recording: ``take(index)`` with a slice or an integer array -> ndarray.
Take = Callable[[Any], np.ndarray]
_BLOCK = 1 << 16  # rows per block of the projection's float64 arithmetic


@dataclass(frozen=True)
class Projection:
    """A recording's projection onto its leading spectral components."""

    mu: np.ndarray  #: (W,) float64 per-bin centre
    sigma: np.ndarray  #: (W,) float64 per-bin noise level (units of x)
    basis: np.ndarray  #: (W, K) float64 orthonormal spectral components of z
    comp_noise: np.ndarray  #: (K,) float64 noise level of each coefficient trace (units of z)
    corr: np.ndarray  #: (CORR_LAGS + 1,) float64 across-bin noise correlation at lags 0..
    scale: np.ndarray  #: (K,) float64 standard deviation of each coefficient trace, at least 1
    coef: np.ndarray  #: (T, K) float32 coefficient traces in noise units
    pattern: np.ndarray | None = None  #: (W,) float64 per-bin fixed pattern (units of x), or None: kept
    signal: np.ndarray | None = None  #: (K,) bool traces holding signal, or None: every trace
    coef_mean: np.ndarray | None = None  #: (K,) float64 time mean of each trace (statistics rows)
    rotation: np.ndarray | None = None  #: (K, K) float64 orthogonal mix of the traces, or None: identity
    #: samples of the moving mean that is each trace's slow baseline (:func:`baseline`), 0: none
    baseline_samples: int = 0
    #: (K,) float64 standard deviation of each trace around its baseline, at least 1, or None
    spread: np.ndarray | None = None
    #: (K,) bool signal traces that change sparsely (:func:`changes_sparsely`), or None: none known
    sparse: np.ndarray | None = None
    #: (K,) bool signal traces of fast hemodynamics (:func:`fast_hemodynamics`), or None: none known
    fast: np.ndarray | None = None
    #: (rises per sample, weak share) of the trace with the most rises (:func:`rises`), or None: not known
    rises: tuple[float, float] | None = None
    #: (share, over noise) of the removed ``pattern`` (:func:`pattern_size`), or None: none removed
    pattern_size: tuple[float, float] | None = None
    #: all but a few of the recording's values are equal (:func:`noise_levels`): it has no noise to
    #: measure, its noise levels are a floor
    nearly_constant: bool = False
    #: (W,) float64 each bin's time mean as recorded, or None: where the pattern is kept, the time
    #: mean that :func:`reconstruct` gives each bin (:func:`fit`: of the statistics rows; :func:`project`:
    #: of all the rows, ``whole``)
    mean: np.ndarray | None = None
    #: ``mean`` is of all the rows of the recording, which :func:`reconstruct` is given together
    whole: bool = False

    @property
    def components(self) -> int:
        return self.basis.shape[1]


def _stat_rows(n: int, limit: int = STAT_ROWS) -> slice:
    step = max(1, -(-n // limit))
    return slice(0, n, step)


def _column_median(a: np.ndarray) -> np.ndarray:
    """Median of each column of a (N, W) array: the same values as ``np.median(a, axis=0)``,
    from a transposed copy, so that each partition runs over contiguous memory (as in :func:`_mad`),
    and partitioned in place (the copy is ours)."""
    return np.median(np.array(np.asarray(a).T, order="C"), axis=1, overwrite_input=True)


def _mad(a: np.ndarray) -> np.ndarray:
    """Per-column median absolute deviation of a (N, W) array, scaled to a normal's sigma. Both
    medians partition copies of ours in place (a partition keeps each row's values, so the
    deviations from the median are the same)."""
    t = np.array(np.asarray(a).T, order="C")
    med = np.median(t, axis=1, keepdims=True, overwrite_input=True)
    return _MAD_TO_SIGMA * np.median(np.abs(t - med), axis=1, overwrite_input=True)


def _floor(sig: np.ndarray, x_range: float) -> np.ndarray:
    """Keep noise levels positive: never below 1e-6 of the data's range or of the median level."""
    med = float(np.median(sig)) if sig.size else 0.0
    floor = max(1e-6 * x_range, 1e-3 * med, float(np.finfo(np.float64).tiny))
    return np.maximum(np.nan_to_num(sig, nan=floor), floor)


def _taker(x: Any, take: Take | None) -> Take:
    return take if take is not None else (lambda index: np.asarray(x[index]))


def noise_levels(x: Any, take: Take | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin noise level and across-bin noise correlation of a (T, W) recording.

    The time differences ``d`` of ``x`` remove slow signal; what fast signal remains is
    spectrally structured, so the ``DIFF_COMPONENTS`` leading components of ``d`` (after a
    first whitening by the per-bin MAD) are projected out, and the per-bin MAD of the rest,
    divided by ``sqrt(1 - leverage)`` of each bin, is the noise level. The correlation of the
    same residual between neighbouring bins, corrected the same way, estimates how the noise
    is correlated across bins.

    Returns
    -------
    sigma : (W,) float64, same units as ``x``.
    corr : (CORR_LAGS + 1,) float64, ``corr[0] == 1``.
    """
    sigma, corr, _, _ = _noise_levels(x, take)
    return sigma, corr


def _noise_levels(x: Any, take: Take | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """:func:`noise_levels`, (W - 1,) float64 the noise correlation of each pair of neighbouring
    bins (``pair[i]``: bins ``i`` and ``i + 1``; 0 where it cannot be measured): the correlation
    of the residual that ``corr`` averages, 1 between bins that repeat each other's values; and
    whether the recording is nearly constant: the 0.1 and 99.9 percentiles of the statistics rows
    are equal (all but under 0.2 % of its values are: saturated but for a few, dark photon counts,
    or constant). Most time differences of every bin are 0 there, and the noise levels are the
    floor, a millionth of the range of the rows read, or of ``max(|common value|, 1)`` where the
    rows read are all equal."""
    get = _taker(x, take)
    t, w = x.shape
    idx = np.arange(max(t - 2, 1))[_stat_rows(max(t - 2, 1))]
    x0, x1 = get(idx).astype(np.float64), get(idx + 1).astype(np.float64)
    x2 = get(idx + 2).astype(np.float64) if t >= 3 else None
    d = (x1 - x0) / np.sqrt(2.0)
    d_next = (x2 - x1) / np.sqrt(2.0) if x2 is not None else None
    lo, hi = np.percentile(get(_stat_rows(t)), [0.1, 99.9])
    x_range = float(hi - lo)
    constant = x_range == 0.0
    if constant:
        # all but a few values equal: the floor follows the whole range of the rows read, which
        # keeps their few departures within 1e6 noise levels (their squares finite)
        read = [a for a in (x0, x1, x2) if a is not None]
        x_range = float(max(a.max() for a in read) - min(a.min() for a in read))
        if x_range == 0.0:
            # the rows read are all equal (the departures, if any, in rows not read): a floor of
            # a millionth of the common value's size (of 1 for 0), whatever the departures are
            x_range = max(abs(float(lo)), 1.0)
    sig0 = _floor(_mad(d), x_range)
    k = min(DIFF_COMPONENTS, max(0, w // 4), max(0, d.shape[0] // 4))
    corr = np.zeros(CORR_LAGS + 1)
    corr[0] = 1.0
    pair = np.zeros(max(w - 1, 0))
    if k == 0:
        return sig0, corr, pair, constant
    # two passes: the first whitening is inflated where fast signal is strong; the second
    # whitens by the first pass's estimate, so the projection mixes bins of equal noise
    for _ in range(2):
        dw = d / sig0
        v = _leading_vectors(dw.T @ dw, k)
        resid = dw - (dw @ v) @ v.T
        keep = 1.0 - np.einsum("wk,wk->w", v, v)
        scale = _mad(resid) / np.sqrt(np.clip(keep, 0.05, None))
        sig_prev, sig0 = sig0, _floor(sig0 * scale, x_range)
    sig0 = sig_prev
    # noise correlated in time (AR(1) coefficient rho) shrinks the differences by 1 - rho; the
    # lag-1 autocorrelation of the differences, -(1 - rho) / 2, measures it
    rho = 0.0
    if d_next is not None:
        r2 = d_next / sig0
        r2 = r2 - (r2 @ v) @ v.T
        a = float(np.median(np.sum(resid * r2, axis=1)) / max(np.median(np.sum(resid * resid, axis=1)), 1e-12))
        rho = float(np.clip(1.0 + 2.0 * a, 0.0, 0.9))
    sigma = _floor(sig0 * scale / np.sqrt(1.0 - rho), x_range)
    # across-bin correlation of the residual, robust to outliers through the scale above
    r = resid / np.sqrt(np.clip(keep, 0.05, None))[None, :] / np.maximum(scale, 1e-12)[None, :]
    r = np.clip(r, -6.0, 6.0)
    p = np.eye(w) - v @ v.T
    for lag in range(1, min(CORR_LAGS, w - 1) + 1):
        num = float(np.mean(r[:, :-lag] * r[:, lag:]))
        # expected product of two projected unit white noises at this lag
        bias = float(np.mean(np.diagonal(p, lag)))
        corr[lag] = np.clip(num - bias, -0.9, 0.95)
    a, b = r[:, :-1], r[:, 1:]
    norm = np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))
    pair = np.sum(a * b, axis=0) / np.maximum(norm, np.finfo(np.float64).tiny)
    return sigma, corr, pair, constant


def _noise_cov(corr: np.ndarray, w: int) -> np.ndarray:
    """(W, W) Toeplitz correlation matrix of the noise, made positive semi-definite."""
    col = np.zeros(w)
    n = min(len(corr), w)
    col[:n] = corr[:n]
    idx = np.abs(np.arange(w)[:, None] - np.arange(w)[None, :])
    c = col[idx]
    if _least_eigenvalue(c) < 0:
        vals, vecs = np.linalg.eigh(c)
        c = (vecs * np.clip(vals, 0.0, None)) @ vecs.T
    return c


def _leading_vectors(a: np.ndarray, k: int) -> np.ndarray:
    """The eigenvectors of the symmetric ``a`` (W, W) with its ``k`` largest eigenvalues, as the last
    ``k`` columns of ``np.linalg.eigh`` give them (ascending), computed alone: on 1024 bins about 3x
    faster than all of them (0.09 s against 0.29 s on one thread, ad hoc), as fast on 152."""
    from scipy.linalg import eigh

    w = a.shape[0]
    return np.asarray(eigh(a, subset_by_index=[w - k, w - 1], driver="evr", check_finite=False)[1])


def _least_eigenvalue(a: np.ndarray) -> float:
    """The least eigenvalue of the symmetric ``a``, computed alone."""
    from scipy.linalg import eigvalsh

    return float(eigvalsh(a, subset_by_index=[0, 0], driver="evr", check_finite=False)[0])


def project(x: np.ndarray, components: int = COMPONENTS, fixed_pattern: bool = True) -> Projection:
    """Project a (T, W) recording onto its leading spectral components.

    Parameters
    ----------
    x : (T, W) real array, finite, with ``W >= 2``.
    components : how many components to keep (fewer if T or W is smaller).
    fixed_pattern : estimate the per-bin fixed pattern (``pattern``), which
        :func:`reconstruct` then removes; False keeps each bin's time mean as it is (``mean``).

    Returns
    -------
    Projection whose ``coef`` (T, K) float32 are the coefficient traces in noise units.
    """
    x = np.asarray(x)
    p = fit(x, components, fixed_pattern=fixed_pattern)
    if fixed_pattern:
        return replace(p, coef=coefficients(p, x))
    return replace(p, coef=coefficients(p, x), mean=x.mean(axis=0, dtype=np.float64), whole=True)


def fit(x: Any, components: int = COMPONENTS, take: Take | None = None, fixed_pattern: bool = True) -> Projection:
    """The statistics of :func:`project` without the coefficient traces (``coef`` is empty).

    Reads only the rows the statistics use, through ``take(index)`` (default ``x[index]``),
    so that a chunked array (dask) can supply exactly the same rows. InputError unless ``x`` is
    2D with at least 2 samples and 2 bins.
    """
    if len(x.shape) != 2:
        raise InputError(f"a spectral recording is 2D (time x wavelength), got shape {tuple(x.shape)}")
    t, w = x.shape
    if t < 2 or w < 2:
        raise InputError(f"a spectral recording needs at least 2 samples and 2 bins, got {t} x {w}")
    get = _taker(x, take)
    sub = get(_stat_rows(t)).astype(np.float64)
    mu = _column_median(sub)
    sigma, corr, pair, constant = _noise_levels(x, get)
    zs = (sub - mu) / sigma
    k = max(1, min(components, w, t))
    energy = zs.T @ zs
    if constant:
        # the few departures from the one value: the bins that hold the most, each a component of
        # its own (the eigenvectors of bins of equal energy would mix their departures across bins)
        basis = np.eye(w)[:, np.argsort(-np.diagonal(energy), kind="stable")[:k]]
    else:
        basis = _leading_vectors(energy, k)[:, ::-1].copy()
        basis *= np.where(basis.sum(axis=0) < 0, -1.0, 1.0)[None, :]
    cov = _noise_cov(corr, w)
    comp_noise = np.sqrt(np.maximum(np.einsum("wk,wv,vk->k", basis, cov, basis), 1e-6))
    empty = np.empty((0, k), np.float32)
    p = Projection(mu=mu, sigma=sigma, basis=basis, comp_noise=comp_noise, corr=corr, scale=np.ones(k), coef=empty)
    sub_coef = coefficients(p, sub).astype(np.float64)
    diff_var = diff_variance(sub_coef)
    signal = holds_signal(sub_coef, w, diff_var)
    rotation = sparse_rotation(sub_coef, signal, diff_var)
    p = replace(p, rotation=rotation)
    sub_coef = sub_coef @ rotation
    sparse = changes_sparsely(sub_coef, signal & ~(diff_var > DENSE_RATIO))
    # the rotated traces' own spread: the mix can gather fast changes of several traces into one
    fast = fast_hemodynamics(sub_coef, signal & (diff_variance(sub_coef) > DENSE_RATIO))
    step = _stat_rows(t).step or 1
    per_row, weak = rises(sub_coef, sparse)
    scale = np.maximum(sub_coef.std(axis=0), 1.0)
    base, spread = 0, None
    if t > BASELINE_SAMPLES:
        # the statistics rows are strided on long recordings: the same span in their units
        base = BASELINE_SAMPLES
        size = max(1, (BASELINE_SAMPLES // step) | 1)
        spread = np.maximum((sub_coef - baseline(sub_coef, size)).std(axis=0), 1.0)
    pattern = None
    # a nearly constant recording's bins share one value: what departs from it is no pattern; one
    # that does not change over time (one spectrum repeated) has no noise to tell a pattern from its
    # spectrum's own detail: it keeps both, and comes back as it is
    still = not np.any(sub[1:] != sub[:1])
    if fixed_pattern and w > SMOOTH_ORDER + 2 and not constant and not still:
        # the time-mean spectrum: the median, plus the components' share of the mean's departure
        # from it (the median of a bin holding skewed signal differs from its mean by how noisy
        # the bin is, which is not smooth across bins)
        mean = mu + sub_coef.mean(axis=0) @ _back(p)
        pattern = fixed_pattern_estimate(mean, sigma)
        # an end bin has neighbours on one side only: there its pattern cannot be told from the
        # spectrum's slope and curvature (often steep at a filter edge), and removing the estimate
        # made it worse than keeping it on widened-generator recordings, so the end bins keep theirs
        pattern[[0, -1]] = 0.0
        # neighbouring bins whose noise is one (a pixel reported in two bins) hold one pixel's
        # pattern, and their mean spectrum is a staircase whose steps are no pattern: they keep theirs
        twin = pair > TWIN_CORR
        pattern[:-1][twin] = 0.0
        pattern[1:][twin] = 0.0
    return replace(
        p,
        scale=scale,
        pattern=pattern,
        pattern_size=None if pattern is None else pattern_size(pattern, mean, sigma),
        signal=signal,
        coef_mean=sub_coef.mean(axis=0),
        baseline_samples=base,
        spread=spread,
        sparse=sparse,
        fast=fast,
        rises=(per_row / step, weak),
        nearly_constant=constant,
        # with the pattern kept, the median centre and the traces' time means leave out the part of
        # each bin's mean outside the traces' span: reconstruct adds it back (mean)
        mean=None if fixed_pattern else sub.mean(axis=0),
    )


def baseline(coef: np.ndarray, size: int = BASELINE_SAMPLES) -> np.ndarray:
    """(T, K) float64 slow baseline of each (T, K) trace: at each row, the value there of the
    straight line fitted to the trace over the ``size`` rows centred on it (``size`` odd), the
    window cut at the recording's ends. Inside, that is the moving mean; at the ends the line
    follows the trace's trend instead of flattening it. Row ``i`` depends only on rows within
    ``size // 2`` of it."""
    c = np.asarray(coef, np.float64)
    t = len(c)
    half = size // 2
    if half == 0 or t == 0:
        return c.copy()
    row = np.arange(t, dtype=np.float64)
    lo = np.maximum(row - half, 0.0)  # each row's window: rows lo .. hi - 1
    hi = np.minimum(row + half + 1, float(t))
    zero = np.zeros((1, c.shape[1]))
    cum_x = np.concatenate([zero, np.cumsum(c, axis=0)])
    cum_jx = np.concatenate([zero, np.cumsum(c * row[:, None], axis=0)])
    # sums over each window of 1, u, u^2, x and u x, with u = j - i the offset from the row i
    n = hi - lo
    sum_j = (lo + hi - 1.0) * n / 2.0
    sum_jj = ((hi - 1.0) * hi * (2.0 * hi - 1.0) - (lo - 1.0) * lo * (2.0 * lo - 1.0)) / 6.0
    s1 = sum_j - row * n  # 0 for a whole window
    s2 = sum_jj - 2.0 * row * sum_j + row**2 * n
    sx = cum_x[hi.astype(int)] - cum_x[lo.astype(int)]
    sux = cum_jx[hi.astype(int)] - cum_jx[lo.astype(int)] - row[:, None] * sx
    det = n * s2 - s1**2  # > 0 for any window of 2 rows or more
    slope = (n[:, None] * sux - s1[:, None] * sx) / np.where(det > 0, det, np.inf)[:, None]
    return np.asarray((sx - slope * s1[:, None]) / n[:, None])


def diff_variance(coef: np.ndarray) -> np.ndarray:
    """(K,) robust variance of each (N, K) trace's time differences over two: the variance of
    the trace's noise, if white (MAD-based, so sparse transients barely move it)."""
    return np.asarray(_mad(np.diff(np.asarray(coef, np.float64), axis=0)) ** 2 / 2.0)


def holds_signal(coef: np.ndarray, bins: int, diff_var: np.ndarray | None = None) -> np.ndarray:
    """(K,) bool: which of the (N, K) coefficient traces (in noise units, rows of a recording of
    ``bins`` wavelength bins, evenly strided) hold signal rather than noise alone.

    A trace holds signal if its moving average over ``SLOW_WINDOW`` samples varies at least
    ``SLOW_RATIO`` times as much as its noise alone would make it (the noise's variance from
    the MAD of the trace's time differences), or if its standard deviation exceeds ``LOUD_RATIO``
    times the largest a trace of noise alone reaches (fast signal). Both tests err towards
    signal: noise correlated in time, or a noise level set too low, keep a trace. With fewer
    than ``SIGNAL_TEST_ROWS`` rows every trace holds signal. ``diff_var``: the traces'
    :func:`diff_variance`, if already computed.
    """
    n = coef.shape[0]
    if n < SIGNAL_TEST_ROWS:
        return np.ones(coef.shape[1], bool)
    c = coef - coef.mean(axis=0)
    noise_var = np.maximum(diff_variance(c) if diff_var is None else diff_var, 1e-12)
    cum = np.concatenate([np.zeros((1, c.shape[1])), np.cumsum(c, axis=0)])
    moving = (cum[SLOW_WINDOW:] - cum[:-SLOW_WINDOW]) / SLOW_WINDOW
    slow = moving.var(axis=0) * SLOW_WINDOW / noise_var
    loud = c.std(axis=0) > LOUD_RATIO * (1.0 + np.sqrt(bins / n))
    return np.asarray((slow >= SLOW_RATIO) | loud)


def sparse_rotation(coef: np.ndarray, signal: np.ndarray, diff_var: np.ndarray | None = None) -> np.ndarray:
    """(K, K) orthogonal matrix that mixes the ``signal`` traces of ``coef`` (N, K), in noise
    units, among themselves (the identity elsewhere) so that the sum over traces of the fourth
    moment of their time differences is largest.

    A transient's rise is a sparse, large time difference in the direction of its spectrum;
    hemodynamics and noise give dense, near-gaussian differences. White noise of unit variance in
    every trace adds the same to the sum under every rotation, so the maximum gathers each
    sparse direction into one trace. A trace whose differences are dense and larger than its
    noise's (their robust variance over ``DENSE_RATIO`` times white noise's: fast hemodynamics)
    is left out of the mix: mixed with the sensor's traces, it cost the sensor's coherence.
    Fixed-point iteration ``R <- polar(D^T (D R)^3)`` from the identity (the principal
    components), which never lowers the sum (it is convex in ``R``). ``diff_var``: the traces'
    :func:`diff_variance`, if already computed.
    """
    k = coef.shape[1]
    rot = np.eye(k)
    if coef.shape[0] < 3:
        return rot
    d = np.diff(np.asarray(coef, np.float64), axis=0)
    dense = (diff_variance(coef) if diff_var is None else diff_var) > DENSE_RATIO
    idx = np.flatnonzero(signal & ~dense)
    if idx.size < 2:
        return rot
    d = d[:, idx]
    spread = np.sqrt(np.mean(d * d))
    if not spread > 0:
        return rot
    d /= spread  # keeps the cubes in range; the maximum does not move
    r = np.eye(idx.size)
    last = -np.inf
    for _ in range(ROTATION_ITERS):
        y = d @ r
        cubes = y**3
        total = float(np.sum(cubes * y))
        if total - last <= 1e-7 * total:  # mixes among near-gaussian traces leave the sum flat
            break
        last = total
        u, _, vt = np.linalg.svd(d.T @ cubes)
        r = u @ vt
    rot[np.ix_(idx, idx)] = r
    return rot


def changes_sparsely(coef: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(K,) bool: which ``candidates`` among the (N, K) traces change sparsely: the kurtosis of
    their time differences exceeds :data:`SPARSE_KURTOSIS` (white noise and dense changes give
    about 3; a transient's rise is a rare, large difference). Needs at least
    :data:`SIGNAL_TEST_ROWS` rows (none otherwise)."""
    return _diff_kurtosis(coef, candidates) > SPARSE_KURTOSIS


def fast_hemodynamics(coef: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """(K,) bool: which ``dense`` signal traces among the (N, K) traces (their differences wider
    than their noise's, :data:`DENSE_RATIO`) change fast and near-gaussianly: the kurtosis of
    their time differences is below :data:`FAST_KURTOSIS` and the lag-1 autocorrelation of the
    differences below :data:`FAST_DIFF_CORR`, as fast hemodynamics' (heartbeat and breathing
    aliased into the band) are, and neither a trace of many large transients nor a slow, large
    signal's are. Needs at least :data:`SIGNAL_TEST_ROWS` rows (none otherwise)."""
    fast = _diff_kurtosis(coef, dense) < FAST_KURTOSIS
    if not fast.any():
        return fast
    d = np.diff(np.asarray(coef[:, fast], np.float64), axis=0)
    d -= d.mean(axis=0)
    corr = np.mean(d[1:] * d[:-1], axis=0) / np.maximum(np.mean(d * d, axis=0), 1e-300)
    fast[np.flatnonzero(fast)] = corr < FAST_DIFF_CORR
    return fast


def rises(coef: np.ndarray, sparse: np.ndarray) -> tuple[float, float]:
    """(rises per row, weak share) of the ``sparse`` trace among the (N, K) traces with the most
    rises. A rise is a stretch of consecutive time differences beyond :data:`RISE_SDS` robust
    standard deviations in the direction of the trace's transients (one rise however many samples
    it spans); the rises counted are their excess over the stretches beyond it in the other
    direction, and the weak share is the part of them without a difference beyond
    :data:`STRONG_RISE_SDS` (0 where the strong ones are as many). The direction is that of the
    strong stretches' excess, else the rises'. (0, 0) without a sparse trace or a rise."""
    best = (0.0, 0.0)
    n = coef.shape[0]
    for k in np.flatnonzero(sparse):
        d = np.diff(np.asarray(coef[:, k], np.float64))
        d -= np.median(d)
        sd = _MAD_TO_SIGMA * float(np.median(np.abs(d)))
        if not sd > 0:
            continue
        z = d / sd
        strong = _stretches(z > STRONG_RISE_SDS) - _stretches(z < -STRONG_RISE_SDS)
        excess = _stretches(z > RISE_SDS) - _stretches(z < -RISE_SDS)
        sign = int(np.sign(strong) or np.sign(excess))
        excess, strong = sign * excess, sign * strong
        if excess > 0 and excess / n > best[0]:
            best = (excess / n, min(1.0, max(0.0, 1.0 - strong / excess)))
    return best


def pattern_size(pattern: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    """(share, over noise) of a fixed-pattern estimate: its RMS over the standard deviation across
    bins of the time-mean spectrum ``mean``, and over the median per-bin noise level ``sigma``. A
    detector's pattern is a sliver of a spectrum's variation and about its noise level or less; a
    mean spectrum that is not smooth across bins at all (the rows of an image of stripes) gives a
    share near 1, removed as pattern."""
    rms = float(np.sqrt(np.mean(pattern * pattern)))
    spread = float(np.std(mean))
    noise = float(np.median(sigma))
    return (rms / spread if spread > 0 else 0.0), (rms / noise if noise > 0 else 0.0)


#: Smallest :func:`pattern_size` (share, over noise) for which :func:`pattern_message` warns: both
#: must be exceeded. Ad hoc, 60 draws of the spectral model's training generator (noise 0.1-1.2, 76-304
#: bins) reached a share of 0.011 and 1.3x the noise, the benchmarks' main and stress recordings
#: 0.003 and 0.5x; a detector's gain pattern of 1-2 % gives a share of 0.012-0.025 (1.2-2.4x the
#: noise of a bright recording), and a frame of stripes read as one spectrum over time 1
#: (``test_a_mean_spectrum_that_is_all_pattern_warns``).
PATTERN_SHARE = 0.2
PATTERN_NOISE = 3.0


def pattern_message(p: Projection) -> str | None:
    """The :class:`fluorodn.OutOfDomainWarning` message for a recording whose removed fixed pattern
    (``p.pattern``) is beyond both :data:`PATTERN_SHARE` and :data:`PATTERN_NOISE`: what was
    removed as the detector's pattern is structure of the time-mean spectrum; None otherwise (and
    where the pattern was kept)."""
    if p.pattern_size is None:
        return None
    share, over = p.pattern_size
    if share <= PATTERN_SHARE or over <= PATTERN_NOISE:
        return None
    return (
        f"the time-mean spectrum is not smooth across bins: the part removed as the detector's fixed pattern is "
        f"{over:.2g}x the noise level and {100 * share:.0f} % of the spectrum's variation across bins (a detector's "
        "pattern is a few per cent): if it is signal, keep it (DenoiserOptions(keep_fixed_pattern=True)), or pass "
        "kind 'image' if the array is an image, not a time x wavelength recording"
    )


def _stretches(mask: np.ndarray) -> int:
    """How many stretches of consecutive True values ``mask`` holds (:func:`runs`)."""
    return sum(value for _, _, value in runs(mask))


def small_events_message(p: Projection) -> EventCaution | None:
    """The :class:`fluorodn.EventDetectionWarning` message for a recording whose projection ``p``
    found small, frequent events (:attr:`Projection.rises`: more than :data:`WEAK_RISE_SHARE` of
    its rises weak, and more than one in :data:`FREQUENT_RISE_SAMPLES` samples); None otherwise."""
    if p.rises is None:
        return None
    per_sample, weak = p.rises
    if not (weak > WEAK_RISE_SHARE and per_sample * FREQUENT_RISE_SAMPLES > 1.0):
        return None
    return EventCaution(
        f"the recording's events rise often and in small steps next to its noise (a rise about every "
        f"{1.0 / per_sample:.0f} samples, {100 * weak:.0f} % of them within {STRONG_RISE_SDS:g} noise standard "
        "deviations): the denoised output smooths part of them away, so events counted on it may fall below the raw "
        "recording's count (by 0.022 of event F1 on the recordings of small, frequent events at noise 0.4 that got "
        "this warning in fluorodn's events benchmark); check an event analysis against the raw recording, or count "
        "events on a run with DenoiserOptions(spectral_only=True), which keeps their time course as recorded"
    )


def _diff_kurtosis(coef: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(K,) kurtosis of the time differences of the ``candidates`` among the (N, K) traces, NaN
    for the others and for every trace of a recording shorter than :data:`SIGNAL_TEST_ROWS`
    (NaN compares False)."""
    out = np.full(coef.shape[1], np.nan)
    if coef.shape[0] < SIGNAL_TEST_ROWS or not candidates.any():
        return out
    d = np.diff(np.asarray(coef[:, candidates], np.float64), axis=0)
    d -= d.mean(axis=0)
    var = np.mean(d * d, axis=0)
    out[np.flatnonzero(candidates)] = np.mean(d**4, axis=0) / np.maximum(var * var, 1e-300)
    return out


def fast_hemodynamics_message(p: Projection) -> EventCaution | None:
    """The :class:`fluorodn.EventDetectionWarning` message for a recording whose projection ``p``
    found fast hemodynamics (:attr:`Projection.fast`); None if it found none."""
    if p.fast is None or not p.fast.any():
        return None
    return EventCaution(
        "the recording carries fast hemodynamics (a spectral component changing densely and near-gaussianly, "
        "faster than its noise): events counted on the denoised output may fall below the raw recording's count "
        "(they did by 0.004-0.005 of event F1 at noise 0.4 and 0.8 in fluorodn's events benchmark), so check an "
        "event analysis against the raw recording"
    )


def interleaved_message(x: np.ndarray) -> str | None:
    """The :class:`fluorodn.OutOfDomainWarning` message for a (T, W) recording whose rows alternate
    cleanly between the levels of N interleaved excitations (light sources fired in turn, each
    row's summed intensity or spectral centroid read as a spectrometer file's are:
    :func:`fluorodn.formats.interleave.detect`), which the projection reads as fast hemodynamics;
    None where they do not."""
    from fluorodn.formats import interleave

    n = interleave.clear_count(np.asarray(x))
    if n < 2:
        return None
    return (
        f"its rows alternate between the levels of {n} interleaved excitations (light sources fired in turn), which "
        "the spectral path reads as fast hemodynamics and the model was not trained on; an event analysis needs "
        f"each excitation's rows apart: denoise them one excitation at a time (x[k::{n}] for k from 0 to {n - 1})"
    )


def event_cautions(p: Projection, filters_over_time: bool = True) -> list[EventCaution]:
    """The :class:`fluorodn.EventDetectionWarning` messages for a recording whose projection is
    ``p``: fast hemodynamics (the projection alone already costs events there), and small, frequent
    events where the network ``filters_over_time`` (the projection alone keeps their count)."""
    found = (fast_hemodynamics_message(p), small_events_message(p) if filters_over_time else None)
    return [m for m in found if m is not None]


def recording_cautions(
    x: np.ndarray, components: int = COMPONENTS, fixed_pattern: bool = True, filters_over_time: bool = True
) -> list[EventCaution]:
    """:func:`event_cautions` of a whole (T, W) recording, from the statistics the spectral path
    fits on it (:func:`fit`, without the coefficient traces): the samples it denoises
    (:func:`set_aside`) only. None of a recording with values that are not finite."""
    x = np.asarray(x)
    if not np.isfinite(x).all():
        return []
    mask = set_aside(x)[0]  # the rows the Denoiser fits on
    lit = x if mask.all() else x[mask]
    if lit.shape[0] < 2:
        return []
    return event_cautions(fit(lit, components, fixed_pattern=fixed_pattern), filters_over_time)


def smooth_spectrum(y: np.ndarray, order: int = SMOOTH_ORDER, keep: np.ndarray | None = None) -> np.ndarray:
    """``y`` (W,) smoothed across bins by penalized least squares (Whittaker):
    ``argmin_z |y - z|^2 + lam |D z|^2`` with ``D`` the ``order``-th differences and free ends,
    ``lam`` chosen by generalized cross-validation (Craven and Wahba). Polynomials of degree below
    ``order`` pass unchanged, so the result is equivariant to the data's units and offset.

    Narrow lines (excitation light leaking in, an emission line a bin or two wide) are kept as they
    are and do not pull the smooth: a bin whose residual lies beyond :data:`LINE_SDS` robust standard
    deviations of the residuals around it (:func:`_lines`) is a line's peak, the line is the peak
    and its two neighbours, and the smooth is fitted again without the lines' bins (weight 0 in the
    squares, ``lam`` chosen by cross-validation over the other bins), until the lines found stay
    the same, for at most :data:`LINE_ROUNDS` rounds. The result equals ``y`` at the lines' bins.
    ``keep``: (W,) bool bins kept as they are too, beside the lines found."""
    y = np.asarray(y, np.float64)
    n = len(y)
    eig, vecs = _penalty_eigen(n, order)
    kept = np.zeros(n, bool) if keep is None else np.asarray(keep, bool)
    if kept.shape != (n,):
        raise ValueError(f"keep holds {kept.size} values for a spectrum of {n} bins")
    if n - int(kept.sum()) <= order:
        return y.copy()
    line = kept.copy()
    z = _whittaker(y, line, eig, vecs)
    for _ in range(LINE_ROUNDS):
        peak = _lines(np.where(kept, 0.0, y - z), float(np.ptp(y)) if n else 0.0)
        found = peak.copy()
        found[1:] |= peak[:-1]
        found[:-1] |= peak[1:]
        found |= kept
        if np.array_equal(found, line) or n - int(found.sum()) <= order:
            break
        line = found
        z = _whittaker(y, line, eig, vecs)
    return np.where(line, y, z)


#: Departures of a time-mean spectrum from its smooth (:func:`smooth_spectrum`) that no detector's
#: fixed pattern makes (:func:`fixed_pattern_estimate`): beyond this many times the bin's noise
#: level, beyond this share of the smooth's level (all of it: a gain pattern scales a bright base,
#: autofluorescence, as it scales the emission), and beyond this share of the smooth's range. A
#: detector's offset pattern is about its noise level, a gain pattern a few per cent of the level
#: (the largest bin of a 2 % one over 150 bins, about 6 %); a band blocked by a notch filter, a
#: masked block of pixels or a dip with edges a bin wide departs by most of the level, and the
#: smooth rings around it into the bins beside it.
PATTERN_MOST_NOISE = 8.0
PATTERN_MOST_LEVEL = 0.07
PATTERN_MOST_RANGE = 0.05


def fixed_pattern_estimate(mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(W,) the detector's fixed pattern in the time-mean spectrum ``mean``, given each bin's noise
    level ``sigma``: ``mean`` less its smooth (:func:`smooth_spectrum`), where bins departing
    further than a detector's pattern does (:data:`PATTERN_MOST_NOISE`, :data:`PATTERN_MOST_LEVEL`,
    :data:`PATTERN_MOST_RANGE`), and the bin on either side, are kept as they are (the smooth
    fitted again without them, for at most :data:`LINE_ROUNDS` rounds): they are the spectrum's own
    structure, with sharper edges than the narrow lines :func:`smooth_spectrum` finds (a band of
    several bins blocked)."""
    mean = np.asarray(mean, np.float64)
    if mean.ndim != 1 or np.shape(sigma) not in ((), mean.shape):
        raise ValueError(f"mean is one spectrum (W,) and sigma one level per bin; got {mean.shape}, {np.shape(sigma)}")
    if mean.size <= SMOOTH_ORDER:  # too few bins to tell a pattern from the spectrum: none
        return np.zeros_like(mean)
    smooth = smooth_spectrum(mean)
    structure = np.zeros(len(mean), bool)
    for _ in range(LINE_ROUNDS):
        most = np.maximum(PATTERN_MOST_NOISE * sigma, PATTERN_MOST_LEVEL * np.abs(smooth))
        beyond = np.abs(mean - smooth) > np.maximum(most, PATTERN_MOST_RANGE * float(np.ptp(smooth)))
        beyond &= ~structure
        if not beyond.any():
            break
        structure |= beyond
        structure[1:] |= beyond[:-1]
        structure[:-1] |= beyond[1:]
        smooth = smooth_spectrum(mean, keep=structure)
    return mean - smooth


def _lines(r: np.ndarray, y_range: float) -> np.ndarray:
    """Which of the residuals ``r`` (W,) lie beyond :data:`LINE_SDS` robust standard deviations
    from the median of the :data:`LINE_WINDOW` residuals around each (windows cut at the ends are
    moved inwards): the larger of their MAD and all the residuals' MAD, scaled to a normal's sigma,
    and never below 1e-9 of the spectrum's range ``y_range``."""
    n = len(r)
    size = min(LINE_WINDOW, n)
    if size < 3:
        return np.zeros(n, bool)
    windows = np.lib.stride_tricks.sliding_window_view(r, size)
    pick = np.clip(np.arange(n) - size // 2, 0, n - size)
    med = np.median(windows, axis=1)
    mad = np.median(np.abs(windows - med[:, None]), axis=1)
    floor = max(
        float(np.median(np.abs(r - np.median(r)))), 1e-9 * y_range / _MAD_TO_SIGMA, float(np.finfo(np.float64).tiny)
    )
    return np.abs(r - med[pick]) > LINE_SDS * _MAD_TO_SIGMA * np.maximum(mad[pick], floor)


def _whittaker(y: np.ndarray, skip: np.ndarray, eig: np.ndarray, vecs: np.ndarray) -> np.ndarray:
    """The Whittaker smooth of :func:`smooth_spectrum` fitted to the bins of ``y`` outside ``skip``
    (weight 0 in the squares; the penalty carries the smooth across them), ``lam`` chosen by
    generalized cross-validation over those bins, from the penalty's eigenvalues ``eig`` and
    eigenvectors ``vecs``. With ``H`` the smoother of every bin, the fit is ``H`` applied to ``y``
    with the skipped values replaced by the fit's own there (its fixed point), solved on the
    skipped bins alone."""
    n = len(y)
    lams = 10.0 ** np.arange(-3.0, 10.01, 0.25)
    skipped = np.flatnonzero(skip)
    coef = vecs.T @ np.where(skip, 0.0, y)  # in the penalty's eigenbasis H is diagonal: 1 / (1 + lam * eig)
    if not len(skipped):
        best: tuple[float, np.ndarray] | None = None
        for lam in lams:
            keep = 1.0 / (1.0 + lam * eig)
            rss = float(np.sum(((1.0 - keep) * coef) ** 2))
            gcv = n * rss / max(n - float(keep.sum()), 1e-12) ** 2
            if best is None or gcv < best[0]:
                best = (gcv, keep)
        assert best is not None
        return vecs @ (best[1] * coef)
    used = n - len(skipped)
    at = vecs[skipped].T  # (n, S): the skipped bins' rows of the eigenbasis
    best_fit: tuple[float, np.ndarray] | None = None
    for lam in lams:
        keep = 1.0 / (1.0 + lam * eig)
        h = at.T @ (keep[:, None] * at)  # (S, S): H at the skipped bins
        a = np.eye(len(skipped)) - h
        try:
            fill = np.linalg.solve(a, at.T @ (keep * coef))  # the fit at the skipped bins
            # the fit's trace over the bins used (u): H's there, plus what reaches them through the
            # skipped bins (s), tr(H_us (I - H_ss)^-1 H_su) = tr((I - H_ss)^-1 ((H H)_ss - H_ss H_ss))
            through = at.T @ ((keep * keep)[:, None] * at) - h @ h
            trace = float(keep.sum() - np.trace(h) + np.trace(np.linalg.solve(a, through)))
        except np.linalg.LinAlgError:
            continue
        z = vecs @ (keep * (coef + at @ fill))
        rss = float(np.sum(np.delete(y - z, skipped) ** 2))
        gcv = used * rss / max(used - trace, 1e-12) ** 2
        if best_fit is None or gcv < best_fit[0]:
            best_fit = (gcv, z)
    assert best_fit is not None
    return best_fit[1]


@functools.lru_cache(maxsize=4)
def _penalty_eigen(n: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (clipped at 0) and eigenvectors of ``D.T @ D`` for the ``order``-th
    differences of ``n`` values, computed once per bin count."""
    d = np.diff(np.eye(n), order, axis=0)
    eig, vecs = np.linalg.eigh(d.T @ d)
    return np.clip(eig, 0.0, None), vecs


def coefficient_map(p: Projection) -> np.ndarray:
    """(W, K) map from rows of ``x`` minus ``mu`` to coefficient traces in noise units."""
    proj = (p.basis / p.sigma[:, None]) / p.comp_noise[None, :]
    return proj if p.rotation is None else proj @ p.rotation


def coefficients(p: Projection, x: np.ndarray) -> np.ndarray:
    """(T, K) float32 coefficient traces of rows ``x`` (T, W) in noise units."""
    proj = coefficient_map(p)
    coef = np.empty((x.shape[0], p.components), np.float32)
    for i in range(0, x.shape[0], _BLOCK):
        coef[i : i + _BLOCK] = (x[i : i + _BLOCK] - p.mu) @ proj
    return coef


def _back(p: Projection) -> np.ndarray:
    """(K, W) map from coefficient traces in noise units to the units of ``x``."""
    back = (p.basis * p.comp_noise[None, :]).T * p.sigma[None, :]
    return back if p.rotation is None else p.rotation.T @ back


def reconstruct(p: Projection, coef: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """(T, W) recording in the units of ``x`` from (T, K) coefficient traces in noise units,
    without the per-bin fixed pattern (``p.pattern``) where one was estimated. Where the pattern is
    kept (``p.mean``), each bin's time mean is ``p.mean`` wherever the traces keep their time means
    (``p.coef_mean``); with ``p.whole``, ``coef`` holds all the rows of the recording, and each
    bin's time mean over them is ``p.mean`` whatever the traces' means became. The arithmetic runs
    in ``dtype`` (float32 output: float32 arithmetic, whose rounding is that of the output)."""
    work = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    back = _back(p).astype(work)
    coef = np.asarray(coef)
    centre = (p.mu if p.pattern is None else p.mu - p.pattern).astype(work)
    # the traces' time means: over the rows given where they are the whole recording's
    means = coef.mean(axis=0, dtype=np.float64) if p.whole and len(coef) else p.coef_mean
    if p.mean is not None and means is not None:
        centre = (p.mean - means @ _back(p)).astype(work)
    out: np.ndarray = np.empty((coef.shape[0], back.shape[1]), dtype)
    for i in range(0, coef.shape[0], _BLOCK):
        block = out[i : i + _BLOCK]
        np.matmul(coef[i : i + _BLOCK].astype(work, copy=False), back, out=block, casting="unsafe")
        block += centre
    return out


# -- which inputs are spectral ---------------------------------------------------------------

#: Most wavelength bins a recording may have to be detected as spectral.
MAX_BINS = 1024


def looks_spectral(shape: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` is taken for a spectral recording (time x wavelength).

    A 2D array with ``MIN_BINS <= W <= MAX_BINS`` columns and at least twice as many rows as
    columns; everything else (square frames, stacks of pages) is an image.
    """
    return len(shape) == 2 and MIN_BINS <= shape[1] <= MAX_BINS and shape[0] >= 2 * shape[1]


#: Samples per second of the spectral models' training recordings: their kinetics (decay, rises,
#: how close events lie) are in samples at this rate.
TRAINED_RATE_HZ = 5.0
#: Slowest sampling rate of a recording with timestamps that the file pipeline denoises without a
#: warning: at 2 Hz the default's event F1 was below the best classical baseline's in all 5 groups
#: of ``python -m benchmarks rates`` and below raw's in 4 (the same events lie 2.5 times closer in
#: samples, and close events merge); at 5 Hz it was level with them.
LOW_RATE_HZ = 4.0


#: The sampling rates (Hz) taken: one sample in 11.6 days to a billion a second. A rate beyond them
#: is a unit mistaken (or a typo), and its times overflow (1 / 1e-320) or lose every digit.
RATE_LIMITS_HZ = (1e-6, 1e9)


def rate_refusal(rate: float, name: str = "rate") -> str | None:
    """The sentence refusing a sampling ``rate`` (samples per second) that is not a finite number
    within :data:`RATE_LIMITS_HZ`, None for one that is; ``name``: the argument's or option's."""
    lo, hi = RATE_LIMITS_HZ
    if not (np.isfinite(rate) and rate > 0):
        return f"{name} must be a positive number of samples per second, not {rate:g}"
    if not lo <= rate <= hi:
        return f"{name} must be a sampling rate of {lo:g} to {hi:g} samples per second, not {rate:g} (check its unit)"
    return None


def rate_warning(rate_hz: float) -> str | None:
    """The :class:`fluorodn.OutOfDomainWarning` message for a recording sampled at ``rate_hz``,
    below :data:`LOW_RATE_HZ`; None otherwise (and for a rate that is not a positive number)."""
    if not (np.isfinite(rate_hz) and 0 < rate_hz < LOW_RATE_HZ):
        return None
    return (
        f"the recording was sampled at {rate_hz:.3g} Hz, below the {TRAINED_RATE_HZ:g} Hz the spectral model was "
        "trained at: its events lie closer in samples than in training, and close events may merge (at 2 Hz, "
        "event detection fell below the raw recording's in the sampling-rate benchmark)"
    )


#: Fewest samples of a recording the spectral path denoises without a warning: of the recordings
#: of ``python -m benchmarks lengths``, 3 of 24 of 8 samples ended further from the truth than they
#: came in (by at most 2 %), none of 16 samples or more by as much as 1e-6.
FEW_SAMPLES = 16


def takes_recording(shape: tuple[int, ...]) -> bool:
    """Whether a (T, W) page known to be time x wavelength (read from a spectrometer's file with its
    axes, or given to :func:`fluorodn.unmix`) goes down the spectral path: ``MIN_BINS <= W <=
    MAX_BINS`` and at least 2 samples, however short. :func:`looks_spectral` asks twice as many
    samples as bins of an array whose axes are not known, so that frames are not taken for
    recordings; a short recording the image model gets may end further from the truth than it came
    in, which the spectral path's did not (``python -m benchmarks lengths``)."""
    return len(shape) == 2 and MIN_BINS <= shape[1] <= MAX_BINS and shape[0] >= 2


#: Smallest :func:`one_spectrum` of a page read as one spectrum over time: reached by all 168
#: recordings of ``python -m benchmarks lengths`` (the lowest 0.995), by none of the 69 frames of
#: ``python -m benchmarks images`` (the highest 0.978, a smooth structure on a ramp).
ONE_SPECTRUM = 0.985
#: Rows :func:`one_spectrum` reads at most, and the quantile of their
#: correlations it gives: nearly every row must follow the one spectrum, not most (the rows of a
#: checkerboard are two patterns, each the other's negative).
ONE_SPECTRUM_ROWS = 32
ONE_SPECTRUM_QUANTILE = 0.1
#: ... read in runs of this many consecutive rows.
ONE_SPECTRUM_RUN = 4


def one_spectrum(x: np.ndarray) -> float:
    """The :data:`ONE_SPECTRUM_QUANTILE` quantile over (up to :data:`ONE_SPECTRUM_ROWS`) rows of a 2D
    page of the correlation between the row and the rows' mean, each about its own mean: near 1 when
    every row is a multiple of one spectrum plus noise (a time x wavelength recording), lower for
    frames, whose rows differ."""
    x = np.asarray(x)
    t = x.shape[0]
    # runs of consecutive rows spread over the page: a stride alone could fall in step with a
    # periodic pattern and read one of its phases only
    run = min(ONE_SPECTRUM_RUN, t)
    starts = np.linspace(0, t - run, max(1, min(ONE_SPECTRUM_ROWS // run, t // run))).astype(np.int64)
    rows = np.asarray(x[(starts[:, None] + np.arange(run)[None, :]).ravel()], np.float64)
    if not np.isfinite(rows).all():  # read before the values are checked: no spectrum to tell
        return 0.0
    c = rows - rows.mean(axis=1, keepdims=True)
    m = c.mean(axis=0)
    norms = np.sqrt(np.einsum("ij,ij->i", c, c) * float(m @ m))
    if not np.all(norms > 0):
        return 0.0
    r = (c @ m) / norms
    k = int(ONE_SPECTRUM_QUANTILE * (len(r) - 1))
    return float(np.partition(r, k)[k])


def reads_as_given(x: np.ndarray) -> bool:
    """Whether a 2D page reads as time x wavelength the way it is given rather than transposed: its
    rows are one spectrum (:func:`rows_are_spectra`), or, too noisy for that (a short recording at
    low counts) and its columns not one either, its rows read more like one spectrum than its columns
    do (:func:`one_spectrum`), each read on the samples lit as that way round would have them
    (:func:`lit_mask`: light off for a stretch steps every bin's time course alike)."""
    x = np.asarray(x)
    if rows_are_spectra(x):
        return True
    rows, cols = (one_spectrum(_lit_rows(a)) for a in (x, x.T))
    return max(rows, cols) < ONE_SPECTRUM and rows > cols


def _lit_rows(x: np.ndarray) -> np.ndarray:
    """The rows of a 2D page that :func:`lit_mask` reads as lit (all of them where fewer than 2 are)."""
    lit = lit_mask(x)
    return x if lit.all() or lit.sum() < 2 else x[lit]


#: A recording has dark rows (:func:`dark_rows`) where its lowest row mean lies at least this
#: share of the median below the median...
DARK_DROP = 0.2
#: ... and the row means between the lowest and the median leave an empty interval at least this
#: share of that span wide, its lower end nearer the lowest than the median.
DARK_SPLIT = 0.25
#: Longest stretch of dark rows set aside (102 s at 5 Hz). A longer one is projected with the rest,
#: which costs nothing measurable (``python -m benchmarks dark``), while a lasting drop of the
#: excitation would read as dark by brightness alone and be left undenoised.
DARK_LONGEST = 512


def quantile(values: np.ndarray, q: float) -> float:
    """``float(np.quantile(values, q))`` (its default, linear method) of 1D finite float64
    ``values``, the same number without the general function's fixed cost, which on the few
    hundred row means of a frame is most of what telling its dark rows costs."""
    values = np.asarray(values, np.float64)
    n = len(values)
    at = q * (n - 1)
    lo = int(at)
    gamma = at - lo
    if lo + 1 >= n:
        return float(np.partition(values, lo)[lo])
    part = np.partition(values, (lo, lo + 1))
    below, above = float(part[lo]), float(part[lo + 1])
    step = above - below
    # as numpy interpolates: from the nearer end
    return above - step * (1.0 - gamma) if gamma >= 0.5 else below + step * gamma


def dark_rows(
    means: np.ndarray, longest: int | None = DARK_LONGEST, reference: float = 0.5, scale: float | None = None
) -> np.ndarray:
    """Which rows of a recording are dark, from its row means (one per row): samples taken with
    the light off, whose rows are the detector's dark level and noise, not the spectrum.

    Where the lowest row mean lies :data:`DARK_DROP` of the median below it, the row means from the
    lowest to the median are sorted, and the widest empty interval between neighbours whose lower
    end is nearer the lowest than the median is found; where it spans at least :data:`DARK_SPLIT`
    of the lowest-to-median span, the rows below it are dark, in stretches of at most ``longest``
    (:data:`DARK_LONGEST`; None: any length). A lit recording's brightness varies continuously,
    however it bleaches or dims, so its row means leave no such interval; the dark rows sit at the
    detector's level, apart from all of them. Returns a boolean mask; none where a mean is not
    finite. The rows at and above the median are never dark, so at least half of a recording's rows
    stay lit (exactly half where the other half is dark: the median then lies between the two).
    ``reference``: the quantile of the row means that takes the median's place (0.9: at least a
    tenth stay lit). ``scale``: what the drop is a share of (None: the median's distance from 0;
    0: any drop, :func:`lit_mask` judging the rows found by their spectrum instead)."""
    means = np.asarray(means, dtype=np.float64)
    none = np.zeros(len(means), bool)
    if len(means) < 3 or not np.isfinite(means).all():
        return none
    med, lo = quantile(means, reference), float(means.min())
    if not med - lo > DARK_DROP * (abs(med) if scale is None else scale):
        return none
    z = (means - lo) / (med - lo)
    low = np.sort(np.append(z[z < 1.0], 1.0))  # the median itself closes the interval above the lowest rows
    gaps = np.where(low[:-1] < 0.5, np.diff(low), -1.0)
    widest = int(np.argmax(gaps))
    if not gaps[widest] >= DARK_SPLIT:
        return none
    dark = z <= low[widest]
    for a, b, on in runs(dark):
        if on and longest is not None and b - a > longest:
            dark[a:b] = False
    return dark


#: Where the detector's dark level is known (:func:`lit_mask`'s ``dark``), a stretch of dark rows
#: longer than :data:`DARK_LONGEST` is taken with the light off only where its rows' means lie
#: within this share of the way from the dark level to the lit rows' median (the excitation turned
#: down lies further up, and is fitted by its gain).
DARK_NEAR = 0.1


#: The quantile of the row means :func:`lit_mask` also looks below for dark rows (more than half of
#: the rows dark: light off every other sample and at the start, or two samples of three).
DARK_UPPER = 0.9


def _spread(spectrum: np.ndarray) -> float:
    """How far a spectrum's values spread over its bins: the range of the middle 90 % of them, so
    that a line a few bins wide (light leaking in) does not count, while a peak does."""
    low, high = np.percentile(spectrum, [5.0, 95.0])
    return float(high - low)


#: The spread (:func:`_spread`) of white noise of standard deviation 1: 2 x 1.645.
_NOISE_SPREAD = 3.29
#: Rows whose mean spectrum spreads over bins less than this share of the other rows' (beyond its
#: noise) hold no spectrum (:func:`_no_spectrum`). On the widened generator the detector's level
#: spreads up to 0.12 of the lit rows' (its own pattern over the bins), rows of the light dimmed to
#: 30 % at least 0.23 (``python -m benchmarks dark``: what reads as light off, and what does not).
DARK_FLAT = 0.2


#: What a page's rows taken with the light off lack beside its lit rows is the lit rows' spectrum:
#: the least slope of that lack on the lit rows' mean spectrum (over the bins) that :func:`_no_spectrum`
#: takes for it. About 1 for dark rows; about 0 for a lit row that stands apart by its noise alone.
DARK_LACK = 0.5

#: The mean spectrum over given rows of a page (a boolean mask over its rows), float64.
MeansOf = Callable[[np.ndarray], np.ndarray]


def _no_spectrum(means_of: MeansOf, rows: np.ndarray, lit: np.ndarray) -> bool:
    """Whether the mean over ``rows`` of a page (``means_of``) holds no spectrum beside the mean
    over its ``lit`` rows: its spread over bins (:func:`_spread`) under :data:`DARK_FLAT` of theirs,
    beyond 1.5 times what its own bin-to-bin noise spreads (that noise estimated from its
    differences between neighbouring bins), and what it lacks beside them is their spectrum (the
    slope of the lack on their centred mean spectrum over :data:`DARK_LACK`: not a row apart by its
    noise). The detector's dark level is flat but for its fixed pattern and noise; rows of the
    light dimmed, a dip, a majority of dimmer rows between brighter ones or light leaking in keep
    the spectrum's shape. Neither an offset added to the page, its scale nor its sign changes the
    answer."""
    mean, others = means_of(rows), means_of(lit)
    spread = _spread(others)
    noise = difference_noise(np.diff(mean)) if mean.size > 2 else 0.0
    if not (spread > 0 and _spread(mean) < DARK_FLAT * spread + 1.5 * _NOISE_SPREAD * noise):
        return False
    centred = others - others.mean()
    lack = others - mean
    return float((lack - lack.mean()) @ centred) > DARK_LACK * float(centred @ centred)


def _dark_side(means: np.ndarray, means_of: MeansOf, longest: int | None = DARK_LONGEST) -> np.ndarray:
    """The dark rows :func:`dark_rows` finds below the median of ``means`` (or, where more than half
    are dark, below their :data:`DARK_UPPER` quantile) that hold no spectrum beside the others
    (:func:`_no_spectrum`): all of them, their brightest tenth (a stretch of dimmed light among
    them would stand there) and, where the quantile adds rows to the median's, those added; failing
    that, those of them below the widest gap among their means; none otherwise."""
    found = dark_rows(means, longest, scale=0.0)
    most = dark_rows(means, longest, reference=DARK_UPPER, scale=0.0)

    def dark(rows: np.ndarray, *within: np.ndarray) -> bool:
        parts = [rows, rows & (means >= quantile(means[rows], 0.9)), *within]
        return all(_no_spectrum(means_of, part, ~rows) for part in parts)

    for rows in (most, found) if (most & ~found).any() else (found,):
        if not rows.any():
            continue
        if dark(rows, *([most & ~found] if rows is most and found.any() else [])):
            return rows
        # dimmer lit rows among them (the light turned down next to a stretch with it off): the
        # rows below the widest gap among theirs
        lower = _lower_cluster(means, rows)
        if lower.any() and dark(lower):
            return lower
    return np.zeros(len(means), bool)


def _lower_cluster(means: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The ``rows`` whose means lie below the widest empty interval among theirs, where it spans at
    least :data:`DARK_SPLIT` of their range; none otherwise."""
    values = np.sort(means[rows])
    none = np.zeros(len(means), bool)
    if values.size < 2 or not values[-1] > values[0]:
        return none
    gaps = np.diff(values)
    k = int(np.argmax(gaps))
    if gaps[k] < DARK_SPLIT * (values[-1] - values[0]):
        return none
    return rows & (means <= values[k])


def _once(means_of: MeansOf) -> MeansOf:
    """``means_of`` asked once for each set of rows (a pass over those rows of the page)."""
    memo: dict[bytes, np.ndarray] = {}

    def once(rows: np.ndarray) -> np.ndarray:
        key = np.packbits(rows).tobytes()
        if key not in memo:
            memo[key] = means_of(rows)
        return memo[key]

    return once


def dark_mask(means: np.ndarray, means_of: MeansOf, longest: int | None = DARK_LONGEST) -> np.ndarray:
    """The rows of a page taken with the light off, from its row means ``means`` and ``means_of``
    (the mean spectrum over given rows, asked for only where rows stand apart, once per set): the
    rows :func:`dark_rows` finds apart from the others by their means (below the median; where more
    than half are dark, below the :data:`DARK_UPPER` quantile), in stretches of at most ``longest``
    (None: any length), taken only where they hold no spectrum (:func:`_dark_side`); so an offset
    added to the recording, its scale or its sign changes nothing (a recording multiplied by a
    negative number has its dark rows on top: they are looked for there too)."""
    once = _once(means_of)
    off = _dark_side(means, once, longest)
    return off if off.any() else _dark_side(-means, once, longest)


def set_aside(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lit, saturated) of a 2D page (:func:`split_rows`). Reads each row's mean once, and the page
    again only where rows stand apart."""
    x = np.asarray(x)
    return split_rows(x.mean(axis=1, dtype=np.float64), lambda rows: np.asarray(x[rows].mean(axis=0, dtype=np.float64)))


def split_rows(means: np.ndarray, means_of: MeansOf) -> tuple[np.ndarray, np.ndarray]:
    """(lit, saturated) of a page from its row means ``means`` and ``means_of`` (asked for each set
    of rows once): the rows to denoise, False on those taken with the light off
    (:func:`dark_mask`) and on the saturated ones (:func:`saturated_rows`), and the latter."""
    once = _once(means_of)
    saturated = saturated_rows(means, once)
    return ~dark_mask(means, once) & ~saturated, saturated


def lit_mask(x: np.ndarray, dark: float | None = None) -> np.ndarray:
    """Which rows of a 2D page are lit: not taken with the light off (at the start, the end or in
    between; :func:`dark_mask`), and longer stretches than :data:`DARK_LONGEST`, which the
    Denoiser projects with the rest: with the detector's dark level ``dark`` (one number: the mean
    over bins, on the recording's own scale), where their rows lie at that level
    (:data:`DARK_NEAR`); without it, where they hold no spectrum beside the others, as shorter
    ones (:func:`dark_mask` of any length). Reads each row's mean once, and the page again only where rows stand
    apart."""
    x = np.asarray(x)
    means = x.mean(axis=1, dtype=np.float64)
    return _lit(means, lambda rows: np.asarray(x[rows].mean(axis=0, dtype=np.float64)), dark)


def _lit(means: np.ndarray, means_of: MeansOf, dark: float | None) -> np.ndarray:
    """:func:`lit_mask` from the page's row means and :data:`MeansOf`."""
    if dark is None or not np.isfinite(dark):  # longer stretches too, by their spectrum
        return ~dark_mask(means, means_of, longest=None)
    means_of = _once(means_of)
    off = dark_mask(means, means_of)
    longer = dark_rows(means, longest=None) & ~off
    if longer.any() and (~off & ~longer).any():
        lit_level = float(np.median(means[~off & ~longer])) - dark
        off |= longer & (means - dark < DARK_NEAR * lit_level)
    return ~(off | _mostly_dark(means, dark, means_of))


#: Row means this many times their noise above the dark level stand apart from it
#: (:func:`_mostly_dark`).
DARK_APART = 8.0


def _mostly_dark(means: np.ndarray, dark: float, means_of: MeansOf) -> np.ndarray:
    """The rows at the dark level ``dark`` where most of a recording's rows lie there (the light on
    for under a tenth of it, which the quantiles of :func:`dark_rows` cannot find): with the middle
    row mean within :data:`DARK_APART` times the row means' noise (from their differences) of the
    dark level, every row not that far above it, or under :data:`DARK_NEAR` of the way up to the
    median of those that are; none otherwise. Those rows are taken only where the others stand
    clear of them (their median 3 x that far up) and they hold no spectrum beside the others
    (:func:`_no_spectrum`): a dim recording lit throughout, whose row means lie near the dark level
    too (a faint line on a wide detector), splits by its noise alone, both parts with its spectrum.
    None too where no row stands above the dark level (a dark level given too high: the bins' check
    names it)."""
    level = np.asarray(means, np.float64) - dark
    none = np.zeros(len(level), bool)
    if len(level) < 3 or not np.all(np.isfinite(level)):
        return none
    apart = DARK_APART * difference_noise(np.diff(level))
    if float(np.median(level)) > apart:
        return none
    above = level > apart
    if not above.any():
        return none
    flagged = level < max(apart, DARK_NEAR * float(np.median(level[above])))
    if flagged.all() or not float(np.median(level[~flagged])) > 3.0 * apart:
        return none
    return flagged if _no_spectrum(means_of, flagged, ~flagged) else none


class Notice(str):
    """A message of the spectral path that is a notice (:class:`fluorodn.LightOffNotice`), not an
    out-of-domain warning, among the messages of its checks."""


class Saturated(str):
    """A message of the spectral path naming saturated samples it set aside
    (:func:`saturated_rows`): an out-of-domain warning that, as the light-off notice, does not stop
    the checks of a stack's later pages."""


class Kept(str):
    """A message of the spectral path naming samples it kept as recorded (:func:`keep_brief`): an
    out-of-domain warning that, as the saturated samples', does not stop the checks of a stack's
    later pages."""


class EventCaution(str):
    """A message of the spectral path about the events of its output
    (:class:`fluorodn.EventDetectionWarning`), not an out-of-domain warning."""


def light_off_message(mask: np.ndarray) -> Notice:
    """The notice for a recording whose rows ``mask`` reads as lit (False: taken with the light
    off): how many samples, and where (0-based, the first three stretches)."""
    dark = [(a, b) for a, b, on in runs(mask) if not on]
    n, t = int(sum(b - a for a, b in dark)), len(mask)
    where = ", ".join(f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in dark[:3])
    more = f" and {len(dark) - 3} more stretches" if len(dark) > 3 else ""
    return Notice(
        f"{n} of {t} samples read as taken with the light off (the detector's dark level, at sample "
        f"{where}{more}, counting from 0) were returned as recorded; the lit samples were denoised as "
        "one recording"
    )


def saturated_rows(means: np.ndarray, means_of: MeansOf) -> np.ndarray:
    """The rows of a page that are saturated: apart above the others by their means ``means`` (the
    gap rule of :func:`dark_rows`, on the page turned over), with every bin at one value (their mean
    spectrum, ``means_of(rows)``, exactly flat, as a detector clipped at its maximum gives; rows taken
    with the light off hold its noise). They hold no measurement, and are set aside as the light-off
    rows are (:func:`lit_mask`): projected with the others, they spread into their neighbours (20
    lit samples around 10 such rows: error over raw 0.63, against 0.03 set aside). Rows are read as
    saturated on the bright side only: a recording multiplied by a negative number has its clipped
    rows at the bottom, where they read as light off (set aside all the same, named differently)."""
    # however many: a long stretch of dimmed light is what the light-off reading's limit guards
    # against, and a flat spectrum is none
    top = dark_rows(-np.asarray(means, np.float64), longest=None, scale=0.0)
    if not top.any() or top.all():
        return np.zeros(len(means), bool)
    return top if float(np.ptp(means_of(top))) == 0.0 else np.zeros(len(means), bool)


def set_aside_messages(lit: np.ndarray, saturated: np.ndarray) -> list[str]:
    """The messages for a recording whose rows ``lit`` are denoised, the others returned as recorded
    (:func:`set_aside`): the light-off notice (:func:`light_off_message`) for those that are not
    ``saturated``, and a warning naming the saturated ones."""
    out: list[str] = []
    if (~lit & ~saturated).any():
        out.append(light_off_message(lit | saturated))
    if saturated.any():
        stretches = [(a, b) for a, b, on in runs(saturated) if on]
        where = ", ".join(f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in stretches[:3])
        more = f" and {len(stretches) - 3} more stretches" if len(stretches) > 3 else ""
        out.append(
            Saturated(
                f"{int(saturated.sum())} of {len(lit)} samples are saturated (every bin at one value above the other "
                f"samples, at sample {where}{more}, counting from 0): they hold no measurement, were returned as "
                "recorded and left out of the denoising of the others"
            )
        )
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """``(start, stop, value)`` of each run of equal values of a boolean mask, in order."""
    mask = np.asarray(mask, bool)
    if not len(mask):
        return []
    edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    starts, stops = np.r_[0, edges], np.r_[edges, len(mask)]
    return [(int(a), int(b), bool(mask[a])) for a, b in zip(starts, stops, strict=True)]


def rows_are_spectra(x: np.ndarray) -> bool:
    """Whether the rows of a 2D page (or rows of one) read as one spectrum over time and its columns
    do not as much: :func:`one_spectrum` of the rows at least :data:`ONE_SPECTRUM` and above that of
    the columns, both with the dark rows (:func:`lit_mask`) set aside. A time x wavelength
    recording reads so however short, and whether or not its light was off for some of its
    samples; given as (wavelength, time), its rows are the bins' time courses, whose changes differ
    from bin to bin by the noise."""
    x = np.asarray(x)
    lit = lit_mask(x)
    if lit.sum() < 2:
        return False
    x = x if lit.all() else x[lit]
    rows = one_spectrum(x)
    return rows >= ONE_SPECTRUM and rows > one_spectrum(x.T)


def short_recording(x: np.ndarray, shape: tuple[int, ...] | None = None) -> bool:
    """Whether a 2D page that does not look spectral (:func:`looks_spectral`) is yet, by its content,
    a short time x wavelength recording: ``MIN_BINS <= W <= MAX_BINS`` columns, its rows one
    spectrum (:func:`rows_are_spectra`), however its shape looks transposed, and nothing local left
    out of its leading spectral components (:func:`local_structure` up to :data:`LOCAL_LIMIT`, read
    on its lit rows): a frame whose rows read as one spectrum by an illumination ramp across it, and
    whose cells the spectral path would remove, is a frame. ``x`` may be rows of a page of ``shape``
    (all of it by default)."""
    shape = tuple(x.shape if shape is None else shape)
    if len(shape) != 2 or shape[0] < 2 or not MIN_BINS <= shape[1] <= MAX_BINS:
        return False
    if looks_spectral(shape):
        return False
    return rows_are_spectra(x) and not _holds_local_detail(x)


def _holds_local_detail(x: np.ndarray) -> bool:
    """Whether the lit rows (:func:`lit_mask`) of a 2D page of finite values hold local detail that
    their leading spectral components leave out (:func:`local_structure` beyond :data:`LOCAL_LIMIT`)."""
    x = np.asarray(x)
    if not np.isfinite(x).all():  # read before the values are checked: nothing to tell
        return False
    rows = _lit_rows(x)
    if rows.shape[0] < LOCAL_LEAST + LOCAL_BOX - 1:
        return False
    return local_structure([rows], project(rows)) > LOCAL_LIMIT


# -- running the network on the coefficient traces -------------------------------------------

#: Default time samples per network call (halo included). A shared network's activations hold
#: traces x filters values per sample (16 x 32 float32, twice that for a network exported odd:
#: 4 KiB), so 2**16 samples take 256 MiB per layer; ``Denoiser`` sizes its windows from its
#: tile budget instead (``tile_pixels / 8`` samples).
WINDOW_SAMPLES = 1 << 16


def network_input(coef: np.ndarray, scale: np.ndarray, channels: int) -> np.ndarray:
    """(1, 2 * channels, T) float32 network input of (T, K) coefficient traces: the traces
    divided by their ``scale``, then the constant traces ``1 / scale``; missing channels
    (K < channels) are zero traces with a level of 1."""
    t, k = coef.shape
    x = np.zeros((1, 2 * channels, t), np.float32)
    x[0, :k] = (coef / scale[None, :].astype(np.float32)).T
    x[0, channels:] = 1.0
    x[0, channels : channels + k] = (1.0 / scale)[:, None]
    return x


#: The least strength :func:`weakened` applies; a smaller one above 0 acts as this.
LEAST_STRENGTH = 1e-30


def weakened(net: Callable[[np.ndarray], np.ndarray], strength: float) -> Callable[[np.ndarray], np.ndarray]:
    """``net`` told that each trace's noise is ``strength`` (0 < strength <= 1) times its level.

    The network maps a :func:`network_input` (traces over their scale, then the levels ``1 / scale``)
    to the noise divided by the levels; with the levels lowered to ``strength / scale`` it finds
    less noise, and its output, divided by the lowered levels, is multiplied by ``strength`` to
    come back in the traces' units. ``strength`` 1 is ``net`` itself; one below
    :data:`LEAST_STRENGTH` acts as that (float32 would round it to 0 or lose its precision, and the
    output stops changing long before: 1e-10 and 1e-30 give the same)."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength!r}")
    factor = np.float32(max(strength, LEAST_STRENGTH))

    def run(x: np.ndarray) -> np.ndarray:
        channels = x.shape[1] // 2
        y = x.copy()
        y[:, channels:] *= factor
        return net(y) * factor

    return run


# -- keeping the onsets of events ------------------------------------------------------------------

#: Strength (:func:`weakened`), relative to the run's own, of the second run that
#: :func:`keep_onsets` takes the traces from around their large changes.
ONSET_STRENGTH = 0.6
#: Samples over which :func:`onset_rows` measures a trace's change.
ONSET_SPAN = 4
#: A change counts as large above this many robust standard deviations of the changes nearby.
ONSET_SDS = 3.0
#: Samples on each side of a large change that :func:`onset_rows` marks with it.
ONSET_WIDTH = 3
#: Samples on each side over which :func:`onset_rows` takes the changes' robust spread.
ONSET_WINDOW = 250
#: Rows on each side of a row whose values :func:`onset_rows` reads for it.
ONSET_REACH = ONSET_WINDOW + ONSET_SPAN // 2 + ONSET_WIDTH


def onset_rows(y: np.ndarray) -> np.ndarray:
    """(T,) bool: the samples of trace ``y`` (T,) within :data:`ONSET_WIDTH` of a large change:
    ``y[t + 2] - y[t - 2]`` (over :data:`ONSET_SPAN` samples) above :data:`ONSET_SDS` times the
    changes' robust standard deviation over the :data:`ONSET_WINDOW` samples on each side (the
    median absolute change, so that sparse large changes barely move it; none on a trace of fewer
    than ``4 * ONSET_SPAN`` samples). Each sample depends only on the :data:`ONSET_REACH` samples on
    each side, so rows of a longer trace get the values they have in it."""
    from scipy.ndimage import binary_dilation, median_filter

    y = np.asarray(y, np.float64)
    t, h = len(y), ONSET_SPAN // 2
    if t < 4 * ONSET_SPAN:  # too few changes to measure their spread
        return np.zeros(t, bool)
    d = np.empty(t)
    d[h : t - h] = y[ONSET_SPAN:] - y[: t - ONSET_SPAN]
    d[:h], d[t - h :] = 0.0, 0.0
    a = np.abs(d)
    # mirrored at the ends, so that a window there holds as many changes as one inside
    sd = _MAD_TO_SIGMA * median_filter(a, size=2 * ONSET_WINDOW + 1, mode="mirror")
    big = a > ONSET_SDS * sd
    big[:h] = big[t - h :] = False
    return np.asarray(binary_dilation(big, iterations=ONSET_WIDTH) if big.any() else big)


def keep_onsets(full: np.ndarray, weak: np.ndarray, traces: np.ndarray) -> np.ndarray:
    """(T, K) denoised traces ``full``, with each of the ``traces`` (K,) bool taking the weaker
    denoising ``weak`` on its :func:`onset_rows` (found on ``weak``, whose changes the network has
    rounded less).

    A squared-error network returns, where an event's onset is uncertain (high noise, slow rises),
    the mean over the onsets the noise allows: a ramp that starts early, on a step shrunk toward
    the noise, which event detection (deconvolution) runs into a neighbouring event. A weaker run
    rounds less; taken only around the large changes of the traces that change sparsely (the
    events' rises), it keeps most of the full run's removal elsewhere
    (``python -m benchmarks strength``)."""
    out = np.array(full, dtype=np.float32, copy=True)
    for j in np.flatnonzero(traces):
        rows = onset_rows(weak[:, j])
        out[rows, j] = weak[rows, j]
    return out


def pad_ends(a: np.ndarray, pad: int, axis: int = 0) -> np.ndarray:
    """``a`` extended by ``pad`` mirrored samples at both ends of ``axis`` (the end samples
    repeated, as :func:`numpy.pad` ``"symmetric"``): the border the spectral network sees in
    training and at run time, so that its first and last outputs look like interior ones."""
    width = [(0, 0)] * a.ndim
    width[axis] = (pad, pad)
    return np.pad(a, width, mode="symmetric")


#: Samples at each end of a trace to which :func:`continue_ends` fits the straight line about
#: whose end value it reflects the trace.
END_FIT = 8


def continue_ends(a: np.ndarray, pad: int, axis: int = 0) -> np.ndarray:
    """``a`` extended by ``pad`` samples at both ends of ``axis``: the trace turned about its end
    value, sample ``k`` beyond an end ``2 e - a[k]`` (counting the end sample as 0), ``e`` the value
    at the end of the straight line fitted to the ``END_FIT`` end samples (fewer in a shorter trace).
    A straight line continues as itself, where :func:`pad_ends` turns the trace back. The network,
    trained on :func:`pad_ends`' border, errs differently on this one, so :func:`run_traces`
    averages the two at the ends."""
    a = np.moveaxis(np.asarray(a), axis, 0)
    t = len(a)
    if t < 2 or pad == 0:
        return np.moveaxis(pad_ends(a, pad), 0, axis)
    width = [(pad, pad)] + [(0, 0)] * (a.ndim - 1)
    e = np.pad(a, width, mode="reflect")
    m = min(END_FIT, t)
    u = np.arange(m) - (m - 1) / 2.0
    shape = (m,) + (1,) * (a.ndim - 1)
    for seg, at, side in ((a[:m], -u[-1], slice(0, pad)), (a[t - m :], u[-1], slice(t + pad, None))):
        seg = np.asarray(seg, np.float64)
        slope = (u.reshape(shape) * seg).sum(axis=0) / float(u @ u)
        end = seg.mean(axis=0) + slope * at
        e[side] = (2.0 * end - e[side]).astype(e.dtype)
    return np.moveaxis(e, 0, axis)


def run_traces(
    net: Callable[[np.ndarray], np.ndarray],
    coef: np.ndarray,
    scale: np.ndarray,
    channels: int,
    halo: int,
    window: int = WINDOW_SAMPLES,
    signal: np.ndarray | None = None,
    independent: bool = False,
    fill: np.ndarray | None = None,
    continued_ends: bool = True,
) -> np.ndarray:
    """Denoised (T, K) coefficient traces: ``coef - net(input)``, in windows with ``halo``.

    ``net`` maps a (1, 2 * channels, L) float32 :func:`network_input` to the predicted noise
    (1, channels, L) in the units of ``coef``. The recording is extended by ``halo`` mirrored
    samples at each end (:func:`pad_ends`) and cut into windows overlapping by ``halo`` samples
    on each side, so the result equals one call on the whole extended recording (up to float
    rounding), and rows of a longer recording passed with at least ``halo`` neighbours on
    each side get the values they have in the whole recording.

    The first and last ``halo`` rows, which see the extension, are the mean of that result and
    of the network's on the recording's end stretches extended by :func:`continue_ends` instead:
    two estimates from two borders, whose errors there differ (``python -m benchmarks diagnose``:
    the recording's ends against its interior). They depend only on the ``3 * halo`` rows at their
    end, so a longer recording's rows keep their values as above. ``continued_ends=False`` leaves
    them as the mirrored border alone gives them.

    ``signal`` (K,) bool marks the traces that hold signal (:attr:`Projection.signal`; None:
    all); the others come back constant, at their value in ``fill`` (K,) (default 0;
    :attr:`Projection.coef_mean` gives each its time mean). If the network denoises each trace
    on its own (``independent``: a shared network), the signal traces are laid end to end and
    cut into pieces that fill every channel of each call (:func:`_run_pieces`), so that its
    work grows with the signal traces, not with K.
    """
    args = (net, scale, channels, halo, window, signal, independent, fill)
    out = _run_traces(coef, *args)
    t = len(coef)
    h = min(halo, t)
    if h == 0 or not continued_ends:
        return out
    span = min(t, 3 * halo)
    first = _run_traces(coef[:span], *args, pad=continue_ends)
    last = first if span == t else _run_traces(coef[t - span :], *args, pad=continue_ends)
    ends = np.concatenate([(out[:h] + first[:h]) / 2, (out[t - h :] + last[span - h :]) / 2])
    out[:h], out[t - h :] = ends[:h], ends[h:]
    return out


def _run_traces(
    coef: np.ndarray,
    net: Callable[[np.ndarray], np.ndarray],
    scale: np.ndarray,
    channels: int,
    halo: int,
    window: int,
    signal: np.ndarray | None,
    independent: bool,
    fill: np.ndarray | None,
    pad: Callable[[np.ndarray, int], np.ndarray] = pad_ends,
) -> np.ndarray:
    """:func:`run_traces` with the border ``pad`` at both ends, without the mean at the ends."""
    t, k = coef.shape
    keep = np.arange(k) if signal is None else np.flatnonzero(signal)
    out = np.empty_like(coef, dtype=np.float32)
    out[:] = 0.0 if fill is None else np.asarray(fill, np.float32)
    if len(keep) == 0:
        return out
    if independent:
        _run_pieces(net, coef, scale, channels, halo, window, keep, out, pad)
        return out
    ext = pad(coef, halo)
    core = max(1, window - 2 * halo)
    for start in range(0, t, core):
        stop = min(t, start + core)
        lo, hi = start, stop + 2 * halo  # rows of ``ext``: ``start - halo`` .. ``stop + halo`` of coef
        noise = net(network_input(ext[lo:hi], scale, channels))
        out[start:stop, keep] = coef[start:stop, keep] - noise[0, keep, halo : halo + stop - start].T
    return out


def _run_pieces(
    net: Callable[[np.ndarray], np.ndarray],
    coef: np.ndarray,
    scale: np.ndarray,
    channels: int,
    halo: int,
    window: int,
    keep: np.ndarray,
    out: np.ndarray,
    pad: Callable[[np.ndarray, int], np.ndarray] = pad_ends,
) -> None:
    """:func:`run_traces` for a network that denoises each channel on its own, into the
    columns ``keep`` of ``out``.

    The traces ``keep``, each extended at its ends by ``pad`` (:func:`pad_ends`) and divided by
    its scale, are laid end to end, with a level channel that follows them (each trace's own
    ``1 / scale``). That sequence is cut into ``channels`` pieces per call, each with ``halo``
    samples of context on either side. An output sample of a trace's own span depends only on
    samples within ``halo`` of it, which lie in that trace's extension with its own level, so
    every trace gets the values the network gives it alone.
    """
    t = coef.shape[0]
    span = t + 2 * halo
    seq = (pad(coef[:, keep], halo) / scale[keep].astype(np.float32)).T.reshape(-1)
    lev = np.repeat((1.0 / scale[keep]).astype(np.float32), span)
    n = seq.size
    core = max(1, min(window - 2 * halo, -(-n // channels)))
    pieces = -(-n // core)
    tail = (halo, pieces * core - n + halo)
    seq = np.pad(seq, tail)
    lev = np.pad(lev, tail, constant_values=1.0)
    noise = np.empty(pieces * core, np.float32)
    for first in range(0, pieces, channels):
        m = min(channels, pieces - first)
        x = np.ones((1, 2 * channels, core + 2 * halo), np.float32)
        x[0, :channels] = 0.0
        for c in range(m):
            start = (first + c) * core
            x[0, c] = seq[start : start + core + 2 * halo]
            x[0, channels + c] = lev[start : start + core + 2 * halo]
        noise[first * core : (first + m) * core] = net(x)[0, :m, halo : halo + core].reshape(-1)
    out[:, keep] = coef[:, keep] - noise[:n].reshape(len(keep), span)[:, halo : halo + t].T


# -- checks that the input is one the model was trained for -----------------------------------

#: Rows of the removed component that the checks look at (contiguous blocks).
CHECK_ROWS = 4096
#: Samples of each segment over which :func:`kept_share` compares each coefficient trace's
#: spectrum before and after denoising (Welch's method: Hann window, segments overlapping by half,
#: within the blocks of :func:`check_blocks`). Longer segments raise a steady oscillation's peak
#: above a broad signal's power at the same frequency.
KEPT_SEGMENT = 256
#: The frequencies :func:`kept_share` judges: where the input's leading direction among the traces
#: stands this many times above the largest power noise alone gives one (white noise of unit
#: variance, its noise units: 1, times the Marchenko-Pastur edge ``(1 + sqrt(K / segments))^2`` for
#: the direction chosen among K traces from the segments at hand). There the input is all but pure
#: signal, which a denoiser has no reason to remove (noise correlated in time as in training reaches
#: 1.9 x white noise's power).
KEPT_ABOVE = 50.0
#: ... or, at a narrow peak, this many times (7: a steady oscillation 1 x its noise stands 7-12 x in
#: a 10-minute recording at 5 Hz), where the power two frequencies away on either side is under
#: 1 / :data:`KEPT_PEAK_RATIO` of it. No recording of the training domain or of the events and
#: quality benchmarks has such a peak that lowers its share (``python -m benchmarks oscillations``);
#: a ratio of 6 would judge fast hemodynamics near 2.5 Hz too (breathing, at 2-4 Hz, folds there at
#: 5 Hz), which read down to 0.705 (on recordings of 1100-2000 samples, whose powers come from 4-8
#: segments).
KEPT_PEAK_ABOVE = 7.0
KEPT_PEAK_RATIO = 8.0
#: From this many segments on (recordings of 2048 samples or more; the checks read up to 4096 rows),
#: a narrow peak is told by its excess over the noise instead: the peak's power less what noise alone
#: gives (the Marchenko-Pastur edge of :data:`KEPT_ABOVE`) stands :data:`KEPT_PEAK_RATIO` times above
#: the same excess two frequencies away (at least :data:`KEPT_SIDE_FLOOR` of that edge). The plain
#: ratio counts the noise on both sides, which caps what a peak 1 x its noise can reach: on the
#: oscillations benchmark's 10-minute recordings (16 segments) four such oscillations read 5.0-7.9 x
#: their neighbours and went untold while the default kept 0.08-0.51 of them; by their excess they
#: read 14-31 x. Near the 7 x floor the excess ratio is looser in signal terms than 8 x (a leading
#: power overstates its signal by the noise it picks up, about 2 sqrt(K / segments) noise units): it
#: tells signals about 6 x apart there. With fewer segments the noise's own spread at the sides makes
#: it unreliable: 5 of that benchmark's in-domain recordings of 1100-2000 samples (4-8 segments) read
#: 8.0-15 x at 1.7-2.5 Hz, one at a share of 0.705. From 12 segments on it judged no frequency the
#: plain ratio does not on that benchmark's 109 in-domain recordings of as many, nor on the 800 of the
#: events (seeds 0-71), sweep and brightness benchmarks, and one on the rates benchmark's 125
#: (heartbeat sampled at 20 Hz, read 0.74; ad hoc).
KEPT_EXCESS_SEGMENTS = 12
KEPT_SIDE_FLOOR = 0.05
#: The least :func:`kept_share` a spectral model keeps of its own training domain's signal, where
#: its metadata states none (``domain_checks["kept"]``): the shipped model kept at least 0.86 on
#: 150 widened-generator recordings (noise 0.1-1.2, 76-304 bins, 600-12000 samples), 36 of the
#: events benchmark and 8 stress recordings of the quality benchmark, and 0.07-0.67 of the steady
#: oscillations at 0.5-1 Hz, 1-4 x their noise, that it warned of (``python -m benchmarks oscillations``). About the
#: margin ``fluorodn_train.calibrate`` leaves (x0.8) below the least of its recordings.
KEPT_LEAST = 0.7


#: A value is an isolated spike (:func:`isolated_spikes`) where it stands this many times its bin's
#: noise beyond both its neighbours in time, and departs from them by as much more than all but one
#: of the four nearest bins depart from theirs (a cosmic ray or a detector glitch hits one or two
#: pixels of one exposure; a change of the signal, however fast, spans the bins of its spectrum).
#: Gaussian noise stands 12 x its level beyond both neighbours less than once in 1e15 values.
SPIKE_ABOVE = 12.0
#: ... and where the other bins of its sample do not depart together: the sum of their departures
#: from their neighbours in time, in noise units, stays under this many times what noise gives (a
#: change of the whole spectrum, however small per bin, or a sample taken with the light off).
SPIKE_ROW_ALONE = 5.0
#: The bin's noise a spike is measured against is at least this share of the spread of its middle
#: values over time (the 1-99 % quantiles, which a few spikes do not move; 4.65 noise levels for
#: Gaussian noise), so that a bin whose values are mostly equal (low photon counts, values clipped
#: at a floor, coarse rounding), whose time differences are mostly 0, does not read every lone count
#: as a spike.
SPIKE_SPREAD = 1.0 / 4.65
#: A bin whose values equal its highest (or lowest) in more than this share of the samples is held
#: there (clipped at the detector's maximum, or at a floor): its rare departures are not spikes.
SPIKE_HELD = 0.1


def isolated_spikes(x: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray:
    """Which values of a (T, W) recording are isolated spikes: beyond both neighbours in time by
    :data:`SPIKE_ABOVE` times the bin's noise, on one side; departing from the mean of those
    neighbours by as much more than the second nearest of the values two bins either side departs
    from theirs (fewer at the spectrum's ends); and in a sample whose other bins do not depart
    together (:data:`SPIKE_ROW_ALONE`). So a change of the signal, however fast, which departs
    across its spectrum, a steady narrow line, and a sample taken with the light off are not spikes.
    The first and last sample, with one neighbour in time, are never judged, nor three or more
    neighbouring bins hit at once, nor one bin in two samples running, nor a bin held at its
    highest or lowest value in more than :data:`SPIKE_HELD` of the samples.

    The bin's noise: the median absolute deviation of its time differences over ``x``, over
    sqrt(2) (or a projection's ``sigma`` (W,), where higher), at least the data's step (the least
    nonzero time difference) and :data:`SPIKE_SPREAD` of the spread of its values; given
    ``sigma``, only the bins where it finds candidates are measured. Returns a boolean mask of
    ``x``'s shape."""
    x = np.asarray(x)
    x = x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)  # no unsigned wrap-around
    t, w = x.shape
    mask = np.zeros((t, w), bool)
    if t < 3 or w < 3:
        return mask
    mid, before, after = x[1:-1], x[:-2], x[2:]

    def beyond(limit: np.ndarray) -> np.ndarray:
        return (mid - np.maximum(before, after) > limit) | (np.minimum(before, after) - mid > limit)

    x_range = float(np.ptp(x[:: max(1, t // 1000)]))
    noise = (
        _floor(_mad(np.diff(x, axis=0)) / np.sqrt(2.0), x_range)
        if sigma is None
        else np.asarray(sigma, np.float64).copy()
    )
    cols = np.flatnonzero(np.any(beyond(SPIKE_ABOVE * noise), axis=0))
    if not len(cols):
        return mask
    # the bins with candidates, measured again: their own noise (where a projection's reads low),
    # their data's step, and the spread of their values
    d = np.diff(x[:, cols], axis=0).astype(np.float64)
    step = np.array([np.min(np.abs(c[c != 0]), initial=np.inf) for c in d.T])
    lo, hi = np.quantile(x[:, cols], [0.01, 0.99], axis=0)
    noise[cols] = np.fmax.reduce(
        [noise[cols], _mad(d) / np.sqrt(2.0), np.where(np.isfinite(step), step, 0.0), SPIKE_SPREAD * (hi - lo)]
    )
    limit = SPIKE_ABOVE * noise
    candidates = np.argwhere(beyond(limit))
    if not len(candidates):
        return mask
    rows, cols = candidates[:, 0], candidates[:, 1]
    # ... standing out from its bin's own extremes too: half the limit beyond the fourth highest (or
    # lowest) value of the bin, so that the tail of a bin whose values are mostly one (clipped at a
    # floor) is not read as spikes, while up to three spikes in one bin are
    k = min(4, t)
    judged, where = np.unique(cols, return_inverse=True)
    part = np.sort(x[:, judged], axis=0)  # the candidates' bins, each in order
    high, low = part[t - k][where], part[k - 1][where]
    value = mid[rows, cols]
    up = value > np.maximum(before[rows, cols], after[rows, cols])
    apart = np.where(up, value - high, low - value) > limit[cols] / 2
    # a bin held at one extreme in many samples (clipped at the detector's maximum, or at a floor)
    # has its departures from that value, not spikes
    held = (np.mean(part == part[-1], axis=0) > SPIKE_HELD) | (np.mean(part == part[0], axis=0) > SPIKE_HELD)
    apart &= ~held[where]
    rows, cols = rows[apart], cols[apart]
    if not len(rows):
        return mask
    # each value's departure from the mean of its neighbours in time, in noise units, on the
    # candidates' rows
    bent = (mid[rows].astype(np.float64) - (before[rows].astype(np.float64) + after[rows]) / 2) / noise
    padded = np.pad(bent, ((0, 0), (2, 2)), constant_values=np.nan)
    at = np.arange(len(rows))
    near = np.stack([padded[at, cols + k] for k in (0, 1, 3, 4)], axis=1)  # bins w-2..w+2 but w
    value = bent[at, cols]
    sign = np.sign(value)
    # the second nearest of the neighbours in wavelength on the spike's side (a second pixel hit
    # beside it is the nearest); a neighbour missing at an end counts as one it stands beyond
    gaps = np.sort(np.nan_to_num(sign[:, None] * (value[:, None] - near), nan=np.inf), axis=1)
    isolated = gaps[:, 1] > SPIKE_ABOVE
    # the other bins of the sample (all but the two either side): their departures' sum, against
    # noise's (each departure's variance: 1.5, in noise units)
    others = np.ones(bent.shape, bool)
    for k in range(-2, 3):
        others[at, np.clip(cols + k, 0, w - 1)] = False
    count = np.maximum(others.sum(axis=1), 1)
    together = np.abs(np.where(others, bent, 0.0).sum(axis=1)) / np.sqrt(1.5 * count)
    isolated &= together < SPIKE_ROW_ALONE
    mask[rows[isolated] + 1, cols[isolated]] = True
    return mask


#: A sample's removed part, in its coefficient traces (:func:`brief_scores`), is judged far above the
#: noise where its sum of squares, each trace over the spread of what is removed from it, exceeds
#: :data:`BRIEF_TIMES` times the level that noise alone (chi-square with one degree per trace) passes
#: once in :data:`BRIEF_FALSE_ALARM` samples. On ``python -m benchmarks flashes``, one-sample flashes
#: of 1.2 x the light or more pass it at noise 0.2-0.8 (and are kept: their samples 0.28-1.04 x raw's
#: error, 5-3500 x without keeping), of 1.1 x some of them, of 1.05 x none (their samples under raw's
#: error anyway); the recordings of the training domain and of the other benchmarks stay under 0.16
#: of it, but for one of 150 widened-generator draws, whose movement step at noise 0.1 the network
#: rounded (3.7 x the limit), where :func:`keep_brief` finds no sample to keep.
BRIEF_TIMES = 15.0
BRIEF_FALSE_ALARM = 1e-6
#: Samples either side of those :func:`brief_changes` marks that :func:`keep_brief` looks at too.
BRIEF_GAP = 2
#: A sample of a marked stretch holds the change itself where its departure from the denoising
#: of the bridged stretch scores at least this share of the stretch's largest (ad hoc: a flash of
#: 1.3 x the light at noise 0.2 scores 5300-6500 x the limit, the samples around it, from the
#: signal's curvature over the stretch, up to 19 x; a burst's samples alike).
BRIEF_SHARE = 0.05
#: The longest change, in samples, that :func:`keep_brief` keeps as recorded (ad hoc, a burst of 3 at
#: 3-4 x the light came out nearer the truth kept, one of 4 further; ``tests/unit/test_brief_changes.py``
#: holds the first kept and the second left to the network).
BRIEF_LONGEST = 3
#: Samples named in the :func:`brief_message`.
BRIEF_NAMED = 5


def brief_scores(coef: np.ndarray, out: np.ndarray, traces: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(scores (T,), limit): how far what denoising removed from each sample of (T, K) coefficient
    traces ``coef`` stands above the noise, ``out`` the denoised traces (``traces`` (K,) bool:
    those the network denoised; None: all), and the score above which :func:`brief_changes` marks a
    sample (inf where none is judged).

    What is removed from a trace where the input is noise-like is noise, spread evenly over the
    samples; a change the model never saw (a one-sample flash of light across the spectrum, a
    stimulation artifact), which it takes for noise and removes part of, stands out of that spread
    in one or a few samples. Each trace's removed part is measured in units of its own robust
    spread (the median absolute deviation about its median); a sample's score is its sum of squares
    over the traces, and the limit :data:`BRIEF_TIMES` times the chi-square level that noise passes
    once in :data:`BRIEF_FALSE_ALARM` samples. None is judged in fewer than :data:`FEW_SAMPLES`
    samples, or where nothing is removed."""
    from scipy.special import (
        chdtri,
    )  # the chi-square level a share of samples passes (scipy.stats is far slower to load)

    coef, out = np.asarray(coef), np.asarray(out)
    if coef.shape != out.shape or coef.ndim != 2:
        raise ValueError(f"coef {coef.shape} and out {out.shape} must be one (T, K) shape")
    t, k = coef.shape
    which = np.ones(k, bool) if traces is None else np.asarray(traces, bool)
    r = (coef[:, which] - out[:, which]).astype(np.float64)
    if t < FEW_SAMPLES or r.shape[1] == 0:
        return np.zeros(t), np.inf
    spread = _mad(r)
    moving = spread > 0.0
    if not moving.any():
        return np.zeros(t), np.inf
    z = (r[:, moving] - np.median(r[:, moving], axis=0)) / spread[moving]
    return np.sum(z * z, axis=1), float(BRIEF_TIMES * chdtri(int(moving.sum()), BRIEF_FALSE_ALARM))


def brief_changes(coef: np.ndarray, out: np.ndarray, traces: np.ndarray | None = None) -> np.ndarray:
    """(T,) bool: the samples where denoising removed a change far above the noise from the
    coefficient traces ``coef`` (T, K), ``out`` the denoised traces: those whose
    :func:`brief_scores` pass its limit."""
    scores, limit = brief_scores(coef, out, traces)
    return np.asarray(scores > limit)


def bridged(coef: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(T, K) traces ``coef`` with the samples ``rows`` (T,) bool replaced by the straight line
    between the nearest samples on either side that are not (the nearest one's value at an end), in
    float32 or the traces' wider float type."""
    coef = np.asarray(coef)
    out = np.array(coef, dtype=np.result_type(coef.dtype, np.float32), copy=True)
    rows = np.asarray(rows, bool)
    if not rows.any() or rows.all():
        return out
    at, keep = np.flatnonzero(rows), np.flatnonzero(~rows)
    for j in range(out.shape[1]):
        out[at, j] = np.interp(at, keep, out[keep, j])
    return out


def keep_brief(
    coef: np.ndarray,
    first: np.ndarray,
    run: Callable[[np.ndarray], np.ndarray],
    traces: np.ndarray | None = None,
    across: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(denoised traces, kept (T,) bool): ``first``, the denoising ``run`` of (T, K) traces ``coef``,
    where it removed no :func:`brief_changes`; where it did, the samples holding them kept as
    recorded, over a denoising of the recording without them.

    :func:`brief_changes` marks the samples of ``first`` where what was removed stands far above the
    noise: a change's own samples, and those around over which the network spread it. Those, with
    the :data:`BRIEF_GAP` samples either side (a burst's samples the network kept more of) and gaps
    of up to twice that between them, are bridged (:func:`bridged`) and the recording denoised
    again; the samples among them whose input departs from that denoising far above the noise
    (:func:`brief_scores` again), and by at least :data:`BRIEF_SHARE` of the most in their stretch,
    hold the change itself: none in a stretch where they run over more than :data:`BRIEF_LONGEST`
    samples (a change the network saw in training, a movement's, which it denoises better than the
    samples as recorded), or lie apart while the stretch's ends depart too (a fast signal's). Of
    those, the ones ``across`` (samples (T,) bool -> (T,) bool) finds to change across the spectrum
    (all, without it) are kept: bridged alone, the recording denoised again, and given back their
    departure from the bridge, ``coef - bridge``, with its noise. So the change stays whole in its
    samples and no part of it is spread into their neighbours. ``traces``: as :func:`brief_changes`."""
    from scipy.ndimage import binary_dilation

    marked = brief_changes(coef, first, traces)
    if not marked.any():
        return first, marked
    look = np.asarray(binary_dilation(marked, iterations=BRIEF_GAP))
    for a, b, on in runs(look):  # one stretch across short gaps, so that no change lies between two
        if not on and a > 0 and b < len(look) and b - a <= 2 * BRIEF_GAP:
            look[a:b] = True
    second = run(bridged(coef, look))
    scores, limit = brief_scores(coef, second, traces)
    kept = look & (scores > limit)
    # the change's own samples stand far above the rest of their stretch, which departs from the
    # denoising of the bridge by the signal's own curvature there
    for a, b, on in runs(look):
        if on:
            kept[a:b] &= scores[a:b] >= BRIEF_SHARE * scores[a:b].max()
            # ... unless one of them is longer than a brief change (a change the network saw in
            # training, a movement's, whose stretch it denoises better than as recorded), or they lie
            # apart in a stretch whose ends depart as well (inside the recording): a fast signal's
            # (hemodynamics at high brightness), not changes it holds
            held = [(c, d) for c, d, on_ in runs(kept[a:b]) if on_]
            ends = (a > 0 and scores[a] > limit) or (b < len(look) and scores[b - 1] > limit)
            if any(d - c > BRIEF_LONGEST for c, d in held) or (len(held) > 1 and ends):
                kept[a:b] = False
    if across is not None and kept.any():
        kept &= np.asarray(across(kept), bool)
    if not kept.any():
        return first, kept
    bridge = bridged(coef, kept)
    out = np.array(second if np.array_equal(kept, look) else run(bridge), dtype=np.float32, copy=True)
    out[kept] += np.asarray(coef, np.float32)[kept] - bridge[kept]
    return out, kept


#: A sample's departure from the straight line between the unmarked samples either side is a change
#: across the spectrum (:func:`across_spectrum`) unless its :data:`SUDDEN_BINS` largest bins (over
#: their noise) hold this share of it or more: a cosmic ray or a detector glitch hits one or two
#: bins (``--spikes fill`` replaces them), a flash of light every one.
SUDDEN_CONCENTRATED = 0.75
SUDDEN_BINS = 2


def across_spectrum(x: np.ndarray, sigma: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(T,) bool: the samples ``rows`` (T,) bool of a (T, W) recording ``x`` whose departure from the
    straight line between the nearest samples either side that are not ``rows`` (:func:`bridged`),
    each bin over its noise ``sigma`` (W,), is spread across the spectrum, not concentrated in a few
    bins (:data:`SUDDEN_CONCENTRATED`)."""
    rows = np.asarray(rows, bool)
    out = np.zeros(len(rows), bool)
    at = np.flatnonzero(rows)
    if not len(at) or rows.all():
        return out
    d = (np.asarray(x[at], np.float64) - bridged(x, rows)[at]) / np.maximum(np.asarray(sigma, np.float64), 1e-300)
    d2 = d * d
    top = np.sort(d2, axis=1)[:, -SUDDEN_BINS:].sum(axis=1)
    out[at] = top < SUDDEN_CONCENTRATED * d2.sum(axis=1)
    return out


def brief_message(rows: np.ndarray, index: np.ndarray | None = None, read: int | None = None) -> Kept | None:
    """The warning for the samples :func:`keep_brief` kept as recorded, ``rows`` (T,) bool, told by
    their index in the recording (``index`` (T,): each row's, where the rows are part of it);
    neighbouring samples count as one change, named by their first and last; ``read``: the samples
    looked at, where they are not the whole recording (said). None where none is kept."""
    at = np.flatnonzero(np.asarray(rows, bool))
    if not len(at):
        return None
    if index is not None:
        at = np.asarray(index)[at]  # grouped in the recording: samples apart there are changes apart
    cuts = np.flatnonzero(np.diff(at) > 1) + 1
    spans = [(int(g[0]), int(g[-1])) for g in np.split(at, cuts)]
    n = len(spans)
    named = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans[:BRIEF_NAMED]) + (
        ", ..." if n > BRIEF_NAMED else ""
    )
    among = "" if read is None else f" among the {read} samples the checks read"
    return Kept(
        f"{'a sudden change' if n == 1 else f'{n} sudden changes'} across the spectrum far above the noise{among} (at "
        f"sample{'s' if len(at) > 1 else ''} {named}, counting from 0), which the model took in part for noise (a "
        f"flash of light, a stimulation artifact, a movement?), {'is' if n == 1 else 'are'} kept as recorded, with "
        f"the noise of {'its sample' if len(at) == 1 else 'their samples'}; the samples around denoised without "
        f"{'it' if n == 1 else 'them'}"
    )


def snr(p: Projection) -> float:
    """Brightness over noise: the range of the median spectrum divided by the noise of its
    brightest bin (units and offsets cancel)."""
    top = int(np.argmax(p.mu))
    return float((p.mu.max() - p.mu.min()) / p.sigma[top])


def check_blocks(t: int) -> list[slice]:
    """The row blocks of a recording of ``t`` samples that :func:`removed_stats` reads: at most
    ``CHECK_ROWS`` rows, in 4 contiguous blocks spread over the recording (1 if it is short)."""
    n = min(t, CHECK_ROWS)
    blocks = 4 if t >= 4 * 256 and n >= 4 * 256 else 1
    size = n // blocks
    return [slice(int(s), int(s) + size) for s in np.linspace(0, t - size, blocks).astype(int)]


#: Samples and bins of the squares over which :func:`local_structure` averages what a recording's
#: projection leaves out.
LOCAL_BOX = 5
#: Largest :func:`local_structure` of what a recording's projection leaves out before it is taken to
#: hold local detail (a patch a few samples long and a few bins wide) that the spectral components do
#: not carry, and that the spectral path removes: a frame whose rows read as one spectrum (an
#: illumination ramp), or detail the components miss in a recording (detail they take in, and the
#: network then removes over time, is not read here). Noise leaves at most 1.65 on 108 recordings of
#: the quality benchmark's main, robustness and stress conditions (4096 samples) and 2.53 on cuts of
#: them to 256 and 512 samples (fast hemodynamics), 1.07 on 194 more of the training domain and the
#: events benchmark, 2.51 where the noise steps twelvefold halfway (as ``fluorodn.dask`` reads it,
#: unsteadied); frames of cells on a ramp of 256-2048 px read 4.4-29 (the spectral path left their
#: cells 1.0-3.3x the input's error), but for one of 256 px with 8 cells, 2.29 (left 1.39x)
#: (``python -m benchmarks local-detail``).
LOCAL_LIMIT = 2.8
#: Fewest values of each stretch of rows over whose spread :func:`local_structure` measures what is
#: left out (a row of 128 bins or more, two of 76): noise that changes over time (a brightness or gain
#: that drifts, a step that the runtime does not steady) then reads the same on either side.
LOCAL_SPREAD_VALUES = 128
#: ... each stretch's spread taken as the median over this many stretches around it (odd).
LOCAL_SPREAD_RUN = 9
#: Fewest patches of each bin :func:`local_structure` reads (a spread read from fewer is too
#: uncertain for the largest patch to be judged by it: ad hoc, 4 of 593 in-domain recordings of
#: 68-100 samples and 24-40 bins read over the limit): recordings under 256 samples are not read.
LOCAL_LEAST = 252
#: Fewest bins a recording needs for :func:`local_structure` to read it: with fewer, a step in the
#: noise that :mod:`fluorodn.noise_change` cannot yet read (too few values) changes the bins' spreads
#: unevenly, which reads as detail (ad hoc, up to 9.7 at 24-40 bins where the noise steps 12-fold).
LOCAL_BINS = 48
#: Patches of each bin (about as many, or all where fewer) from which :func:`local_structure` reads
#: its centre and spread.
LOCAL_READ = 512
#: Most rows :func:`local_structure` reads, in equal parts from the start of each block: a quarter of
#: the :data:`CHECK_ROWS` the checks read (ad hoc, beside the default's run of about 2 s on the speed
#: benchmark's 2.5 h recording, these take about 11 ms).
LOCAL_ROWS = 1024


def _stretch_spreads(a: np.ndarray) -> np.ndarray:
    """(H,) float32: each row's robust spread: the MAD of its stretch of rows (as few as hold
    :data:`LOCAL_SPREAD_VALUES` values or more), scaled to a normal's sigma, and its median over the
    :data:`LOCAL_SPREAD_RUN` stretches around it (the rows past the last whole stretch take the last
    one's); 1 where that does not vary."""
    from scipy.ndimage import median_filter

    rows = max(1, -(-LOCAL_SPREAD_VALUES // a.shape[1]))
    n = max(1, len(a) // rows)
    size = len(a) // n
    whole = a[: n * size].reshape(n, -1)[:, ::2]  # every other value tells a stretch's spread
    centre = np.median(whole, axis=1, keepdims=True)
    spread = _MAD_TO_SIGMA * np.median(np.abs(whole - centre), axis=1)
    if len(spread) >= LOCAL_SPREAD_RUN:  # the median of the stretches around: steadier, and it still steps
        spread = median_filter(spread, LOCAL_SPREAD_RUN, mode="nearest")
    spread = np.where(spread > 0, spread, 1.0).astype(np.float32)
    each = np.repeat(spread, size)
    return np.concatenate([each, np.full(len(a) - len(each), spread[-1], np.float32)])


def _box_means(a: np.ndarray, n: int) -> np.ndarray:
    """The means of every ``n`` x ``n`` square (``n`` odd) lying within a 2D array ((H - n + 1, W - n + 1)
    float64)."""
    from scipy.ndimage import uniform_filter

    half = n // 2
    return np.asarray(uniform_filter(np.asarray(a, np.float64), n, mode="nearest")[half:-half, half:-half])


def local_structure(
    blocks: list[np.ndarray],
    p: Projection,
    spikes: list[np.ndarray] | None = None,
    coefs: list[np.ndarray] | None = None,
) -> float:
    """How far the most outstanding :data:`LOCAL_BOX`-square patch of what the projection ``p`` leaves
    out of rows of a recording stands out, beyond what noise gives the largest of as many: the
    patches' means of ``x - reconstruct(coefficients(x))`` in noise units (each bin about its time
    mean within each of ``blocks``, contiguous rows, of which up to :data:`LOCAL_ROWS` are read, and
    each row over its robust spread, :func:`_stretch_spreads`;
    ``spikes``: their :func:`isolated_spikes`, left out; ``coefs``: their :func:`coefficients`, where
    read already), each in robust standard deviations of its bin's patches (a bin whose noise is
    correlated otherwise reads against its own), the largest less ``sqrt(2 ln n)``, about the
    largest of ``n`` Gaussian values. Noise leaves about 0; a patch of detail the spectral components
    do not carry (which the spectral path removes with the noise) stands out from it. 0 where the
    blocks hold under :data:`LOCAL_LEAST` patches of each bin or under :data:`LOCAL_BINS` bins, or a
    bin's patches do not vary."""
    means = []
    if not blocks or blocks[0].shape[1] < LOCAL_BINS:
        return 0.0
    most = max(LOCAL_ROWS // len(blocks), 2 * LOCAL_BOX)  # rows read of each block
    for k, b in enumerate(blocks):
        if b.shape[0] < LOCAL_BOX:
            continue
        b = b[:most]
        coef = coefficients(p, b) if coefs is None else coefs[k][:most]
        left = (np.asarray(b, np.float32) - reconstruct(p, coef)) / p.sigma.astype(np.float32)
        if spikes is not None:
            left[spikes[k][:most]] = 0.0
        left -= left.mean(axis=0)
        left /= _stretch_spreads(left)[:, None]
        means.append(_box_means(left, LOCAL_BOX))
    if not means or sum(len(m) for m in means) < LOCAL_LEAST:
        return 0.0
    s = np.concatenate(means)
    # each bin's centre and spread from about LOCAL_READ patches (neighbours overlap: they add little)
    read = s[:: max(1, round(len(s) / LOCAL_READ))]
    centre = _column_median(read)
    spread = _MAD_TO_SIGMA * _column_median(np.abs(read - centre))  # read is a view of s: before s moves
    s -= centre
    if not np.all(spread > 0):
        return 0.0
    top = float(np.max(np.abs(s) / spread))
    return max(0.0, top - float(np.sqrt(2.0 * np.log(s.size))))


def kept_share(a: list[np.ndarray], b: list[np.ndarray], segment: int = KEPT_SEGMENT) -> tuple[float, float]:
    """(share, period): the least share of its input that the output keeps at any frequency where
    the input stands far above its noise, and that frequency's period in samples; (1.0, 0.0) where
    no frequency does, or the blocks are shorter than ``segment``.

    ``a`` and ``b``: the input's and the output's (n, K) coefficient traces in noise units, block
    after block (:func:`check_blocks`). At each frequency, the input's leading direction among the
    traces (the top eigenvector of its cross-spectral matrix, by Welch's method over
    ``segment``-sample Hann segments overlapping by half) holds its strongest signal there, however
    the traces split it. A frequency is judged where that direction's power stands
    :data:`KEPT_ABOVE` times above the most that noise alone gives such a direction, or
    :data:`KEPT_PEAK_ABOVE` times at a narrow peak (:data:`KEPT_PEAK_RATIO`, by the powers' excess
    over that noise from :data:`KEPT_EXCESS_SEGMENTS` segments on); the share kept
    there is the output's gain on the input along it (their cross-spectrum over the input's power),
    1 where the output keeps the input as it is. Noise a denoiser removes is uncorrelated with what
    it keeps; a signal it damps lowers the gain by the share it damps."""
    window = np.hanning(segment + 2)[1:-1]
    step = segment // 2
    pairs = [(ai, bi) for ai, bi in zip(a, b, strict=True) if len(ai) >= segment]
    if not pairs:
        return 1.0, 0.0

    def spectra(blocks: list[np.ndarray]) -> np.ndarray:
        """(n, K) blocks -> (frequencies, K, segments): the Fourier transform of each windowed
        segment, without its mean, so with no power at frequency 0, which is left out."""
        views = [
            np.lib.stride_tricks.sliding_window_view(np.ascontiguousarray(blk.T), segment, axis=1)[:, ::step]
            for blk in blocks
        ]
        seg = np.concatenate(views, axis=1)  # (K, segments, segment)
        seg -= seg.mean(axis=2, keepdims=True)
        seg *= window
        return np.fft.rfft(seg, axis=2)[:, :, 1:].transpose(2, 0, 1)

    fa = spectra([ai for ai, _ in pairs])
    fb = spectra([bi for _, bi in pairs])
    k, count = fa.shape[1], fa.shape[2]
    norm = count * float(np.sum(window * window))
    edge = (1.0 + np.sqrt(k / count)) ** 2
    # the leading direction's power is at most the total over the traces: only the frequencies whose
    # total passes the lower (a narrow peak's) floor, and those within two of them, are decomposed
    total = np.sum(fa.real**2 + fa.imag**2, axis=(1, 2)) / norm
    passing = total > KEPT_PEAK_ABOVE * edge
    if not passing.any():
        return 1.0, 0.0
    near = passing.copy()
    for shift in (1, 2):
        near[shift:] |= passing[:-shift]
        near[:-shift] |= passing[shift:]
    (candidates,) = np.nonzero(near)
    fa, fb = fa[candidates], fb[candidates]
    vals, vecs = np.linalg.eigh(fa @ fa.conj().transpose(0, 2, 1) / norm)
    lead = vecs[:, :, -1]
    power = np.zeros(len(total))
    power[candidates] = vals[:, -1]
    # the leading power two frequencies away on either side (none beyond the ends): a steady
    # oscillation's Hann-windowed peak falls to under 1/20 there, a broad signal's hardly
    padded = np.pad(power, 2)
    side = np.maximum(padded[:-4], padded[4:])
    broad = power > KEPT_ABOVE * edge
    if count >= KEPT_EXCESS_SEGMENTS:  # each power's excess over the noise
        apart = power - edge > KEPT_PEAK_RATIO * np.maximum(side - edge, KEPT_SIDE_FLOOR * edge)
    else:
        apart = power > KEPT_PEAK_RATIO * side
    narrow = (power > KEPT_PEAK_ABOVE * edge) & apart
    judged = (broad | narrow)[candidates]
    power = power[candidates]
    if not judged.any():
        return 1.0, 0.0
    # the cross-spectrum along the leading direction: sum over segments of (v^H fa) conj(v^H fb)
    along_a = np.einsum("fk,fks->fs", lead.conj(), fa)
    along_b = np.einsum("fk,fks->fs", lead.conj(), fb)
    cross = np.sum(along_a * along_b.conj(), axis=1).real / norm
    gain = np.where(judged, cross / np.where(judged, power, 1.0), np.inf)
    worst = int(np.argmin(gain))
    return float(gain[worst]), segment / (candidates[worst] + 1.0)


def removed_stats(x: np.ndarray, out: np.ndarray, p: Projection, blocks: list[slice] | None = None) -> dict[str, float]:
    """Statistics of the removed component ``(x - out) / sigma`` on the rows of
    :func:`check_blocks` (``x`` and ``out`` the whole recording and its output), or with
    ``blocks`` on ``x`` and ``out`` that hold those rows alone, block after block:

    * ``time_corr``: its lag-1 autocorrelation over time, within blocks (noise: near 0, at most
      the noise's own correlation; removed signal: close to 1);
    * ``structure``: the share of its energy in its leading spectral direction, divided by
      what that share would be for noise with the recording's across-bin correlation
      (``p.corr``) and the same number of rows (about 1 for noise; removed signal with one
      spectrum makes it large);
    * ``snr``: :func:`snr`;
    * ``still``: 1.0 if no value of ``x`` changes over time within the blocks (a recording with
      no noise to measure: constant, or one spectrum repeated), else 0.0;
    * ``nearly_constant``: 1.0 if the recording changes within the blocks, but all but a few of its
      values are equal (``p.nearly_constant``: no noise to measure either), else 0.0;
    * ``kept``, ``kept_period``: :func:`kept_share` of the coefficient traces of ``x`` and
      ``out`` (the least share of a signal standing far above the noise that the output keeps, and
      that signal's period in samples);
    * ``spikes``: how many values of ``x`` on those rows are :func:`isolated_spikes`, and ``rows``:
      how many rows were read;
    * ``local``: :func:`local_structure` of those rows (the spikes left out): detail confined to a
      few samples and bins that the projection leaves out, and the output with it.
    """
    w = x.shape[1]
    if blocks is None:
        blocks = check_blocks(x.shape[0])
        rows = [x[b] for b in blocks]
        outs = [out[b] for b in blocks]
    else:
        if len(x) != len(out):
            raise ValueError(f"x holds {len(x)} rows, out {len(out)}")
        cuts = np.cumsum([b.stop - b.start for b in blocks])[:-1]
        rows, outs = np.split(x, cuts), np.split(out, cuts)
    sizes = [b.stop - b.start for b in blocks]
    if sum(sizes) != sum(len(b) for b in rows):
        raise ValueError(f"the blocks hold {sum(sizes)} rows, x and out {sum(len(b) for b in rows)}")
    r = np.concatenate([(xb - ob) / p.sigma for xb, ob in zip(rows, outs, strict=True)]).astype(np.float64)
    coefs = [coefficients(p, xb) for xb in rows]
    kept, period = kept_share(
        [c.astype(np.float64) for c in coefs],
        [coefficients(p, ob).astype(np.float64) for ob in outs],
    )
    spiked = [isolated_spikes(block, p.sigma) for block in rows]
    spikes = sum(int(m.sum()) for m in spiked)
    still = all(np.array_equal(block[1:], np.broadcast_to(block[:1], block[1:].shape)) for block in rows)
    r -= r.mean(axis=0)
    ends = np.cumsum(sizes)
    pairs = np.concatenate([r[e - n : e - 1] * r[e - n + 1 : e] for n, e in zip(sizes, ends, strict=True)])
    energy = float(np.sum(r * r)) + 1e-300
    time_corr = float(pairs.sum() * len(r) / max(len(pairs), 1) / energy)
    vals = np.linalg.eigvalsh(r.T @ r)
    top_share = float(vals[-1] / max(vals.sum(), 1e-300))
    noise_vals = np.linalg.eigvalsh(_noise_cov(p.corr, w))
    noise_share = float(noise_vals[-1] / max(noise_vals.sum(), 1e-300)) * (1.0 + np.sqrt(w / max(len(r), 1))) ** 2
    return {
        "time_corr": time_corr,
        "structure": top_share / noise_share,
        "snr": snr(p),
        "still": float(still),
        "nearly_constant": float(p.nearly_constant and not still),
        "kept": kept,
        "kept_period": period,
        "spikes": float(spikes),
        "local": local_structure(rows, p, spiked, coefs),
        "rows": float(sum(sizes)),
    }


#: What the "noisier than trained" warning adds: what fluorodn's brightness benchmark
#: (``python -m benchmarks brightness``) measured of the shipped spectral model on recordings
#: dimmer than its training's.
DIM_ADVICE = (
    ": in fluorodn's brightness benchmark the shipped spectral model still improved PSNR and coherence "
    "there, but its event F1 fell below the raw recording's from a brightness/noise of about 10 (-0.04 at "
    "8.5-10.8, measurably -0.15 at 5.6-7.1); check an event analysis against the raw recording"
)


#: What the "keeps only" warning adds: what fluorodn's oscillations benchmark (``python -m benchmarks
#: oscillations``) measured of the shipped spectral model where it warned.
DAMPED_ADVICE = (
    "; a lower strength keeps more of it (strength=0.3 kept 67-98 % of the steady oscillations it warned of "
    "in fluorodn's oscillations benchmark, the default 7-67 %); compare with the raw recording"
)


#: How the spike warning says to replace them.
SPIKE_ADVICE = (
    " (x = fluorodn.files.despike(x)[0] after import fluorodn.files, or --spikes fill on the command line, "
    "replaces each by the mean of its neighbours in time) and denoise again"
)


def domain_warnings(stats: dict[str, float], checks: dict[str, list[float]]) -> list[str]:
    """Sentences naming each statistic of ``stats`` outside the range ``checks`` gives for it; of
    a recording that does not change over time (``stats["still"]``), or that is nearly constant
    (``stats["nearly_constant"]``), the one sentence saying so: without noise to measure, its
    brightness over noise and what was removed say nothing."""
    if stats.get("still"):
        if stats["snr"] == 0.0:
            return ["the recording is constant (all its values are equal): it holds no signal and no noise to "
                    "denoise, and is returned as it is"]  # fmt: skip
        return ["the recording does not change over time (one spectrum repeated): it holds no noise to "
                "measure or remove"]  # fmt: skip
    if stats.get("nearly_constant"):
        return ["the recording is nearly constant (all but a few of its values, under 0.2 %, are equal): it holds "
                "no noise to measure, so what was removed cannot be judged; compare the values that differ with the "
                "input"]  # fmt: skip
    out = []
    lo, hi = checks.get("snr", [0.0, np.inf])
    if not lo <= stats["snr"] <= hi:
        side = "noisier" if stats["snr"] < lo else "cleaner"
        text = (
            f"the recording is {side} than any the model was trained on (brightness/noise "
            f"{stats['snr']:.3g}, trained {lo:.3g}-{hi:.3g})"
        )
        if side == "noisier":
            text += DIM_ADVICE
        out.append(text)
    _, hi = checks.get("time_corr", [-1.0, np.inf])
    if stats["time_corr"] > hi:
        out.append(
            f"what was removed is correlated in time (lag-1 autocorrelation {stats['time_corr']:.2f}, "
            f"noise in training at most {hi:.2f}): signal may have been removed"
        )
    _, hi = checks.get("structure", [0.0, np.inf])
    if stats["structure"] > hi:
        out.append(
            f"what was removed has spectral structure ({stats['structure']:.1f}x the leading-spectrum "
            f"share of noise, training at most {hi:.1f}x): signal may have been removed"
        )
    if stats.get("spikes", 0.0) > 0:
        n = int(stats["spikes"])
        out.append(
            f"{n} value{'s' if n != 1 else ''} of the {int(stats['rows'])} samples checked read as isolated spikes "
            f"(over {SPIKE_ABOVE:g}x their noise beyond their neighbours in time, alone in their sample: cosmic rays "
            "or detector glitches, which the model never saw), which the denoising spreads over their samples' "
            "spectra and into the spectral basis; replace them first" + SPIKE_ADVICE
        )
    if stats.get("local", 0.0) > LOCAL_LIMIT:
        out.append(
            "what was removed holds local detail, not noise: a patch a few samples long and a few bins wide "
            f"stands {stats['local']:.1f} beyond the most noise gives (at most {LOCAL_LIMIT:g}) in what the spectral "
            "components leave out, so the output may lie further from the truth than the input there; detail "
            "confined to a few bins for a few samples is outside what the spectral model keeps, and if this is an "
            "image rather than a time x wavelength recording, denoise it as one (kind 'image', --kind image)"
        )
    lo, _ = checks.get("kept", [KEPT_LEAST, np.inf])
    if stats.get("kept", 1.0) < lo:
        # whole percents, rounded down: a share just under the limit does not read as the limit
        kept = int(np.floor(100 * max(stats["kept"], 0.0)))
        out.append(
            f"the output keeps only {kept}% of a change that stands far above the noise (a period of about "
            f"{stats['kept_period']:.0f} samples; the model is trusted to keep {lo:.0%} or more of such a change): a "
            "steady oscillation, or other signal unlike its training's, may have been damped" + DAMPED_ADVICE
        )
    return out
