"""What denoising removed: a self-contained HTML report and a JSON summary.

:func:`build_report` compares a noisy (T, W) recording (time x wavelength), or a stack of
them (N, T, W), with its denoised version and returns the HTML text and a summary dict;
:func:`write_report` writes both beside an output (``<stem>_report.html`` and
``<stem>_report.json``), each atomically.

Per page the summary holds:

* ``noise_before`` (W,): the per-bin noise level of the noisy recording
  (:func:`fluorodn.spectral.noise_levels`, units of the data); ``noise_after`` (W,): that level
  scaled per bin by how much the denoised recording's second time differences shrank against
  the noisy one's (their MAD): the fluctuation left at high frequencies, where noise outweighs
  signal. Output alone cannot show the noise left at low frequencies inside the signal's
  spectral components (an estimate from the output's spectral structure, as ``noise_levels``
  makes for a recording, finds none in an output that lies in a few components);
* ``autocorr`` (``LAGS``,): the autocorrelation over time of the removed component
  ``noisy - denoised`` at lags 1..``LAGS``, each bin centred, averaged over bins
  (``whiteness`` is its mean: near 0 for white noise, near 1 when smooth signal was removed);
* ``leading_share``: the share of the removed component's energy, in whitened units
  (divided by the noisy recording's per-bin noise level), that lies in the noisy recording's
  leading spectral components (:func:`fluorodn.spectral.fit` on the other half
  of the samples), next to
  ``leading_share_noise`` = K / W, the share that noise spread evenly over the bins has;
* ``removed_mean`` (W,) and ``removed_mean_rms``: the part of the removed component that is
  constant in time, per bin, and its RMS over bins: the detector's fixed pattern where the
  spectral path removed it (white across bins), plus any shift of each bin's time mean by the
  network (smooth across bins); near 0 where only noise was removed;
* ``removed_level`` and ``removed_peak``: that time mean smoothed across the bins (a Gaussian of
  :data:`LEVEL_BINS` bins), its RMS over the bins and its largest value, in units of each bin's
  noise level, each the lesser of that and the same with the detector's fixed pattern (as the
  spectral path estimates it) taken out: what changed the spectrum's level or shape, not the
  pattern that the default removes;
* ``removed_noise_units``: the removed component's RMS in units of the noisy recording's noise
  level (each bin's value divided by that bin's ``noise_before``): near 1 where the noise was
  removed, near 0 where nothing was;
* ``nearly_constant``: all but a few of the noisy recording's values (under 0.2 %) are equal, or
  all are (as :func:`fluorodn.spectral.noise_levels` reads them): it has no noise to measure,
  and its ``noise_before`` is a floor, not a noise level;
* ``verdict``: ``"nothing removed"`` where ``removed_noise_units`` is below
  :data:`NOTHING_REMOVED`; else ``"nearly constant: nothing to judge"`` where the noisy recording
  is (``nearly_constant``): what was removed cannot be measured against its noise; else
  ``"spectrum changed: its level or shape differs"`` where the recording is as noisy as before
  (``noise_ratio_median`` from :data:`NOT_DENOISED` to :data:`GAIN_RATIO`) and ``removed_level``
  is :data:`CHANGED_LEVEL` or more or ``removed_peak`` :data:`CHANGED_PEAK` or more (a gain or an
  offset alone); else
  ``"structured: signal may have been removed"`` unless the removed component is white
  (``|whiteness| < 0.1``, its lag-1 autocorrelation above :data:`LAG1_FLOOR`: not a filter over
  time) and spread over the spectral components as noise is (``leading_share``
  below ``2 * leading_share_noise + 0.05``); else ``"not denoised: as noisy as before, or more"``
  where ``noise_ratio_median`` is :data:`NOT_DENOISED` or more (the files given in the wrong
  order, noise added); else ``"spectrum changed: its level or shape differs"`` where
  ``removed_level`` is :data:`CHANGED_LEVEL` or more, or ``removed_peak`` :data:`CHANGED_PEAK` or
  more (a gain, a dip, a blur across wavelength);
  else ``"looks like noise"``;
* ``light_off``: the samples read as taken with the light off
  (:func:`fluorodn.spectral.lit_mask`: also the longer stretches, at the dark level where one is
  given, else where they hold no spectrum; 0 for image frames), shaded in the figures and left
  out of the numbers above (where 4 or more samples are lit);
* with a sensor spectrum, the sensor trace unmixed from both (:func:`fluorodn.unmix`,
  ``denoise=False``): its standard deviation and the ratio of their power spectra, and
  ``sensor_notes``: the warnings unmixing gave (each kind once, the noisy recording's where both
  give it; its light-off notice aside, which ``light_off`` counts), shown beside the traces rather
  than raised; and ``sensor_kept``, the share of the noisy trace's slow changes the denoised one
  keeps (:func:`fluorodn.unmixing.fit.sensor_kept`, None where it cannot be judged): under
  :data:`fluorodn.unmixing.fit.SENSOR_KEPT` a verdict of ``"looks like noise"`` becomes
  ``"structured: signal may have been removed"`` (the others are verdicts of harm or of nothing
  done already), and a note says why;
* ``nonfinite``: how many values are not finite (NaN or infinite) in the noisy or the denoised
  page. The numbers and figures are made over the finite values: the others are bridged over
  time in both recordings (as ``--nan fill`` bridges them for a run) and left blank in the
  images; a bin without any finite value is left out (``null`` in the per-bin lists).

The summary's ``kind`` says whether the pages were read as recordings (``"recording"``: time x
wavelength) or as image frames (``"image"``: rows x columns, of a stack of frames an image model
denoises); the numbers are the same, the report's words and figures follow it.

Figures are drawn with matplotlib (Agg backend, :mod:`fluorodn._report_figures`) and embedded as
base64 PNG data URIs, so the file needs no network and no other file.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import warnings as warnings_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fluorodn._report_figures import IMAGE, RECORDING, UNIT, Terms, noise_figures, png, segment_figures, sensor_figures
from fluorodn.errors import InputError, LightOffNotice
from fluorodn.unmixing.fit import SENSOR_KEPT, SLOW_BAND
from fluorodn.unmixing.inputs import UnmixError

__all__ = [
    "LAGS",
    "MAX_SECTIONS",
    "NOTHING_REMOVED",
    "VERDICTS",
    "build_report",
    "event_cautions",
    "load_pages",
    "report_files",
    "report_paths",
    "verdict",
    "write_report",
]

#: Lags (in samples) of the removed component's autocorrelation.
LAGS = 20
#: Pages of a stack that get a section of their own (all pages get a row in the summary table).
MAX_SECTIONS = 8
#: Rows used by the statistics of long recordings (a contiguous block from the middle).
STAT_ROWS = 100_000
#: Below this ``removed_noise_units`` (the removed component's RMS over the noisy recording's noise
#: level) the verdict is "nothing removed": under 5 % of the noise level is under 0.25 % of the
#: noise's power, far less than any denoising removes, and more than the rounding of a file
#: written back in its own or a narrower float type.
NOTHING_REMOVED = 0.05
#: From this ``noise_ratio_median`` (the noise left over the noise before) up the verdict is "not
#: denoised": the second recording is as noisy as the first, or noisier (the two given in the
#: wrong order, noise added; a gain or an offset alone reads "spectrum changed": :data:`GAIN_RATIO`).
#: fluorodn's outputs keep 0.03-0.55 of it (the
#: default, ``strength`` 0.1-0.3, ``spectral_only`` on the example recording; ``low`` and ``high``
#: on frames at three noise levels); a denoising that removed a tenth of the noise keeps 0.9.
NOT_DENOISED = 0.98
#: From this ``removed_level`` (the removed part's time mean, smooth across the bins, in noise units)
#: up the verdict is "spectrum changed": a gain, an offset, a dip or a blur across wavelength, which
#: the whiteness and the leading share (each bin's time mean taken out) cannot see. fluorodn's
#: outputs reach 0.03 (12 generator recordings of 76-304 bins at noise 0.1-1.2, the example, frames
#: by ``low`` and ``high``); a gain of 0.5 % on the example 0.75.
CHANGED_LEVEL = 0.5
#: ... or from this ``removed_peak`` (the same at its largest bin): a narrow dip, which the RMS over
#: the bins dilutes. fluorodn's outputs reach 0.09 (the default, ``strength`` 0.1 and
#: ``keep_fixed_pattern`` on the example, its first 100 samples and 9 benchmark recordings at noise
#: 0.1-1.2, ad hoc); a dip of 1 % over 5 nm at 530 nm on the example's output 1.56 (0.39 as RMS).
CHANGED_PEAK = 1.0
#: Bins of the Gaussian that :func:`_removed_level` smooths the removed time mean with.
LEVEL_BINS = 3.0
#: Below this ``noise_ratio_median`` (and from :data:`NOT_DENOISED` up), with ``removed_level`` from
#: :data:`CHANGED_LEVEL` up, the verdict is "spectrum changed" before the removed part's structure
#: is judged: a gain (up to half again) or an offset alone leaves the noise as it was and removes a
#: copy of the recording, which is structured but no lost signal. Files given in the wrong order read
#: more: fluorodn's outputs keep at most 0.55 of the noise (1 / 0.55 = 1.8).
GAIN_RATIO = 1.5
#: Below this lag-1 autocorrelation of the removed component the verdict is "structured": a filter
#: over time (a moving average, a Gaussian) removes the fast part of the noise alone, and any fast
#: signal with it, leaving a removed part that alternates (-0.46 to -0.65 for a 3-sample mean and a
#: Gaussian of 0.8 samples; its mean over 20 lags stays near -0.025, which the whiteness cannot
#: tell from noise). What fluorodn removes keeps the noise's own correlation: +0.01 to +0.23 (the
#: default, ``strength`` 0.1 and 0.3 and ``spectral_only`` on the example and 9 benchmark recordings
#: at noise 0.1-1.2, fast hemodynamics, other sensors).
LAG1_FLOOR = -0.3


def report_paths(output: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(<stem>_report.html, <stem>_report.json)`` beside ``output`` (its last suffix dropped)."""
    out = Path(output)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(f"{stem}_report.html"), out.with_name(f"{stem}_report.json")


def too_short(shape: tuple[int, ...]) -> str | None:
    """Why pages of ``shape`` ((T, W) or (N, T, W)) cannot be reported on, in words a user knows,
    or None: each bin's noise level is the spread of T - 2 of its time differences
    (:func:`fluorodn.spectral.noise_levels`), which 3 samples leave without one, so a report needs
    ``T >= 4`` samples and ``W >= 2`` bins per page."""
    if len(shape) not in (2, 3) or (shape[-2] >= 4 and shape[-1] >= 2):
        return None
    rows, cols = shape[-2:]
    per = " per page" if len(shape) == 3 and shape[0] > 1 else ""
    return (
        f"it has {rows} time sample{'s' if rows != 1 else ''} of {cols} value{'s' if cols != 1 else ''}{per}, "
        "and a report needs at least 4 samples of 2 or more values (each bin's noise level is measured from "
        "its time differences)"
    )


def _pages(x: Any, what: str) -> np.ndarray:
    """``x`` as (N, T, W) pages; InputError unless it is real numbers, (T, W) or (N, T, W) with ``T >= 4`` and
    ``W >= 2`` (:func:`too_short`). A masked array's masked values are NaN: no measurement, left out
    and counted as values that are not finite are."""
    try:
        arr = np.asarray(x)
    except ValueError:  # nested lists of unequal lengths
        raise InputError(f"the {what} recording is not an array (rows of unequal lengths?)") from None
    if isinstance(x, np.ma.MaskedArray) and np.ma.count_masked(x) and arr.dtype.kind in "iuf":
        arr = np.ma.filled(x.astype(np.float64), np.nan)
    if arr.dtype.kind not in "iuf":
        raise InputError(f"the {what} recording must hold real numbers (ints or floats), got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise InputError(f"the {what} recording must be (T, W) or (N, T, W) (time x wavelength); got shape {arr.shape}")
    if (why := too_short(arr.shape)) is not None:
        raise InputError(f"the {what} recording cannot be reported on: {why}")
    return arr if arr.ndim == 3 else arr[None]


def _checked_rate(rate: Any) -> float | None:
    """``rate`` (samples per second) as a float, None for None; InputError unless it is a positive number."""
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise InputError(f"rate=... must be a number of samples per second, not {rate!r}")
    from fluorodn.spectral import rate_refusal

    if refused := rate_refusal(float(rate), "rate=..."):
        raise InputError(refused)
    return float(rate)


def _finite_page(
    x: np.ndarray, y: np.ndarray, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """One page of both recordings ((T, W) float64 each; ``where``: what a message starts with) over
    its finite values: ``(x, y, live, gaps)`` with the values not finite in either bridged over
    time in both (:func:`fill_nonfinite`, as ``--nan fill`` bridges them), ``live`` (W,) the bins
    that keep a finite value, ``gaps`` (T, W) where the values were not finite (None where all
    are). InputError where fewer than 2 bins keep one."""
    gaps = ~(np.isfinite(x) & np.isfinite(y))
    if not gaps.any():
        return x, y, np.ones(x.shape[1], dtype=bool), None
    from fluorodn._file_pipeline import fill_nonfinite

    live = ~gaps.all(axis=0)
    both = "finite (neither NaN nor infinite) in both the noisy and the denoised recording"
    if not live.any():
        raise InputError(f"{where}no value is {both}; there is nothing to report on")
    if live.sum() < 2:
        raise InputError(
            f"{where}one of the {x.shape[1]} wavelength bins only holds values {both}; a report needs 2 or more"
        )
    x, y = np.where(gaps, np.nan, x), np.where(gaps, np.nan, y)
    x[:, live] = fill_nonfinite(x[:, live])[0]
    y[:, live] = fill_nonfinite(y[:, live])[0]
    x[:, ~live] = y[:, ~live] = 0.0  # no value: left out of the numbers, blank in the images
    return x, y, live, gaps


def _per_bin(values: list[float], live: np.ndarray) -> list[float | None]:
    """(W,) values of the ``live`` bins spread over all bins, None for the others."""
    out: list[float | None] = [None] * live.size
    for j, v in zip(np.flatnonzero(live), values, strict=True):
        out[j] = v
    return out


def _block(x: np.ndarray) -> np.ndarray:
    t = x.shape[0]
    if t <= STAT_ROWS:
        return x
    start = (t - STAT_ROWS) // 2
    return x[start : start + STAT_ROWS]


def autocorrelation(removed: np.ndarray, lags: int = LAGS) -> np.ndarray:
    """(lags,) autocorrelation at lags 1..``lags`` of a (T, W) array, bins centred, averaged over bins."""
    r = np.asarray(removed, dtype=np.float64)
    r = r - r.mean(axis=0)
    energy = np.sum(r * r, axis=0)
    live = energy > 1e-300 * r.shape[0]
    if not live.any():
        return np.zeros(lags)
    r, energy = r[:, live], energy[live]
    lags = min(lags, r.shape[0] - 1)
    return np.array([float(np.mean(np.sum(r[k:] * r[:-k], axis=0) / energy)) for k in range(1, lags + 1)])


def leading_share(noisy: np.ndarray, removed: np.ndarray) -> tuple[float, float]:
    """(share of the whitened removed energy in ``noisy``'s leading components, K / W).

    The components are fitted on the even samples and the share measured on the odd ones,
    and the other way round (the mean of both): components fitted on the same samples
    would lean towards that noise's largest directions and inflate the share above K / W.
    A nearly constant half's noise levels are a floor: the removed part is whitened by them
    relative to the largest, which gives the same share without dividing by the floor.
    """
    from fluorodn.spectral import fit

    x, r = np.asarray(noisy, dtype=np.float64), np.asarray(removed, dtype=np.float64)
    shares, expected = [], 0.0
    for fit_rows, test_rows in ((slice(0, None, 2), slice(1, None, 2)), (slice(1, None, 2), slice(0, None, 2))):
        p = fit(x[fit_rows], fixed_pattern=False)  # its basis and noise levels
        z = r[test_rows] / (p.sigma / p.sigma.max() if p.nearly_constant else p.sigma)
        z -= z.mean(axis=0)
        total = float(np.sum(z * z))
        shares.append(float(np.sum((z @ p.basis) ** 2)) / total if total > 0 else 0.0)
        expected = p.basis.shape[1] / p.basis.shape[0]
    return float(np.mean(shares)), expected


def _second_difference_scale(a: np.ndarray) -> np.ndarray:
    """(W,) robust spread of the second time differences of a (T, W) recording, per bin (slow
    signal cancels in them; white noise of level s gives about ``sqrt(6) * s``)."""
    from fluorodn.spectral import _mad

    d = a[2:] - 2.0 * a[1:-1] + a[:-2] if len(a) >= 3 else np.zeros((1, a.shape[1]))
    return _mad(d)


def _removed_level(mean: np.ndarray, noise: np.ndarray, pattern: np.ndarray | None = None) -> tuple[float, float]:
    """(RMS, largest) over the bins of the removed part's time mean (W,) smoothed across them (a
    Gaussian of :data:`LEVEL_BINS` bins), each bin in units of its noise level ``noise``: what
    changed the spectrum's level or shape, over the whole spectrum and at its worst bin (a narrow
    dip). Where the detector's fixed ``pattern`` (W,), as the spectral path estimates it, is given,
    each the lesser of that and the same with the pattern taken out: a pattern removed (the default
    does) counts no more than one kept (``keep_fixed_pattern``)."""
    from scipy.ndimage import gaussian_filter1d

    if mean.size < 2:
        return 0.0, 0.0

    def level(part: np.ndarray) -> tuple[float, float]:
        smooth = gaussian_filter1d(np.nan_to_num(part), LEVEL_BINS, mode="nearest")
        units = np.where(noise > 0, smooth / np.where(noise > 0, noise, 1.0), 0.0)
        return float(np.sqrt(np.mean(units**2))), float(np.max(np.abs(units)))

    whole = level(mean)
    if pattern is None:
        return whole
    without = level(mean - pattern)
    return min(whole[0], without[0]), min(whole[1], without[1])


def _fixed_pattern(x: np.ndarray) -> np.ndarray | None:
    """The detector's fixed pattern (W,) that the spectral path removes from the (T, W) page ``x``
    (:func:`fluorodn.spectral.fit`), or None where it estimates none."""
    from fluorodn.spectral import fit

    try:
        pattern = fit(x).pattern
    except (InputError, ValueError, np.linalg.LinAlgError):
        return None
    return None if pattern is None else np.asarray(pattern, dtype=np.float64)


def page_summary(noisy: np.ndarray, denoised: np.ndarray) -> dict[str, Any]:
    """The numbers of one (T, W) page (see the module docstring)."""
    from fluorodn.spectral import _noise_levels

    x, y = _block(np.asarray(noisy, dtype=np.float64)), _block(np.asarray(denoised, dtype=np.float64))
    before, _, _, constant = _noise_levels(x)
    sx, sy = _second_difference_scale(x), _second_difference_scale(y)
    after = before * np.where(sx > 0, sy / np.where(sx > 0, sx, 1.0), 1.0)  # a constant bin keeps its level
    removed = x - y
    ac = autocorrelation(removed)
    share, expected = leading_share(x, removed)
    ratio = after / np.maximum(before, 1e-300)
    in_noise_units = removed / np.where(before > 0, before, np.inf)  # a bin without noise counts 0
    level, peak = _removed_level(removed.mean(axis=0), before, _fixed_pattern(x))
    return {
        "noise_before": before.tolist(),
        "noise_after": after.tolist(),
        "noise_ratio_median": float(np.median(ratio)),
        "autocorr": ac.tolist(),
        "whiteness": float(np.mean(ac)) if ac.size else 0.0,
        "leading_share": share,
        "leading_share_noise": expected,
        "removed_rms": float(np.sqrt(np.mean(removed**2))),
        "removed_mean": removed.mean(axis=0).tolist(),
        "removed_mean_rms": float(np.sqrt(np.mean(removed.mean(axis=0) ** 2))),
        "removed_level": level,
        "removed_peak": peak,
        "removed_noise_units": float(np.sqrt(np.mean(in_noise_units**2))),
        "nearly_constant": constant,
    }


# -- the document ----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.6em;margin-bottom:0.2em;overflow-wrap:anywhere}
h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:1.6em}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#f0f3f7} img{max-width:100%;height:auto;display:block}
.scroll{max-width:100%;overflow-x:auto}
table.prov td{overflow-wrap:anywhere;word-break:break-word}
.figs{display:flex;flex-wrap:wrap;gap:10px 14px;align-items:flex-start;margin:8px 0}
.warn{background:#fff4e0;border-left:4px solid #e89a00;padding:6px 10px;margin:6px 0}
.ok{color:#1a7f37} .bad{color:#b42318} .none{color:#8a5a00;font-weight:600} .small{color:#666;font-size:0.9em}
@media (max-width:760px){body{margin:12px} td,th{padding:3px 5px} table{font-size:0.92em}}
"""

#: The verdicts (the summary's ``verdict``) and the class of their text in the HTML.
VERDICTS = {
    "nothing removed": "none",
    "nearly constant: nothing to judge": "none",
    "not denoised: as noisy as before, or more": "bad",
    "spectrum changed: its level or shape differs": "bad",
    "looks like noise": "ok",
    "structured: signal may have been removed": "bad",
}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "<br>".join(f"{html.escape(str(k))}: {_fmt(x)}" for k, x in v.items())
    return html.escape(str(v))


def verdict(s: dict[str, Any]) -> str:
    """The verdict on one page's summary ``s`` (a key of :data:`VERDICTS`; see the module docstring)."""
    if s["removed_noise_units"] < NOTHING_REMOVED:
        return "nothing removed"
    if s.get("nearly_constant"):
        return "nearly constant: nothing to judge"
    ratio = s["noise_ratio_median"]
    changed = s.get("removed_level", 0.0) >= CHANGED_LEVEL or s.get("removed_peak", 0.0) >= CHANGED_PEAK
    if NOT_DENOISED <= ratio < GAIN_RATIO and changed:
        return "spectrum changed: its level or shape differs"  # a gain or an offset alone, not lost signal
    lag1 = s["autocorr"][0] if s.get("autocorr") else 0.0
    white = abs(s["whiteness"]) < 0.1 and lag1 > LAG1_FLOOR
    even = s["leading_share"] < 2.0 * s["leading_share_noise"] + 0.05
    if not (white and even):
        return "structured: signal may have been removed"
    if s["noise_ratio_median"] >= NOT_DENOISED:
        return "not denoised: as noisy as before, or more"
    if changed:
        return "spectrum changed: its level or shape differs"
    return "looks like noise"


def _are_images(
    shape: tuple[int, ...], wavelengths: Any, rate: float | None, provenance: dict[str, Any] | None
) -> bool:
    """Whether pages of (T, W) ``shape`` are image frames (rows x columns), not recordings: not where
    their wavelengths or rate are known or the provenance names the spectral model; yes where it
    names a shipped image model; else where a page does not look like a recording
    (:func:`fluorodn.spectral.looks_spectral`, the test a run's plan makes)."""
    from fluorodn.spectral import looks_spectral

    if wavelengths is not None or rate is not None:
        return False
    model = (provenance or {}).get("model")
    kind = _model_kind(model) if isinstance(model, str) else None
    if kind is not None:
        return kind == "image"
    return not looks_spectral(shape)


def build_report(
    noisy: Any,
    denoised: Any,
    *,
    wavelengths: Any = None,
    sensor: Any = None,
    rate: float | None = None,
    provenance: dict[str, Any] | None = None,
    warnings: Sequence[str] = (),
    title: str = "fluorodn report",
    images: bool | None = None,
    dark: Any = None,
    reword: Callable[[str], str] = str,
) -> tuple[str, dict[str, Any]]:
    """The HTML report and its summary for a noisy recording and its denoised version.

    Parameters
    ----------
    noisy, denoised : (T, W) or (N, T, W) real arrays (time x wavelength per page, T >= 4), same shape.
    wavelengths : the W bins' wavelengths (as :func:`fluorodn.unmix` takes them), or None.
    sensor : a sensor spectrum as :func:`fluorodn.unmix` takes it; needs ``wavelengths``.
        Adds the unmixed sensor traces before and after denoising.
    dark : the detector's dark level for that unmixing, as :func:`fluorodn.unmix` takes it (a
        number, one per bin, or a one-column CSV); None: the recordings are taken as
        dark-subtracted (a note says so where they never come near 0).
    rate : samples per second (time axes, power spectra in Hz), or None.
    provenance : the record written into the denoised output (model, precision, sha256, ...).
    warnings : messages raised while denoising (e.g. ``OutOfDomainWarning``), shown as given.
    images : whether the pages are image frames (rows x columns: the report speaks of frames, rows
        and columns, and shows the frames as they are) rather than recordings; None decides
        (:func:`_are_images`: not with wavelengths or a rate, yes for an image model's output, else
        by the pages' shape). A recording's light-off samples are found and shaded only.

    Values that are not finite (NaN, infinite) in either recording are left out of the numbers
    and figures, and counted (see the module docstring).

    Returns
    -------
    (html text, summary dict with ``shape``, ``kind``, ``pages`` (one dict per page),
    ``nonfinite``, ``provenance``, ``warnings``, ``rate``, ``wavelengths``). InputError if a page
    has fewer than 4 samples, the shapes differ, ``rate`` is not a positive number or a page keeps
    finite values in fewer than 2 bins; UnmixError (from :func:`fluorodn.unmix`) if the sensor
    spectrum or wavelengths do not fit the recording.
    """
    from fluorodn.spectral import lit_mask

    x, y = _pages(noisy, "noisy"), _pages(denoised, "denoised")
    if x.shape != y.shape:
        raise InputError(f"the noisy recording is {x.shape} but the denoised one is {y.shape}; give matching files")
    rate = _checked_rate(rate)
    if provenance is not None and not isinstance(provenance, dict):
        raise InputError(
            f"provenance is the record a denoised output keeps (a dict, as fluorodn.io.read_provenance gives it) "
            f"or None, not a {type(provenance).__name__}"
        )
    if isinstance(warnings, str) or not all(isinstance(m, str) for m in warnings):
        raise InputError("warnings is a list of messages (strings), as the denoising gave them")
    if sensor is not None and wavelengths is None:
        raise InputError(
            "a sensor spectrum needs the bins' wavelengths, which were neither given nor stated; give "
            "wavelengths='FIRST:LAST' (evenly spaced) or one per bin"
        )
    wl = None
    if wavelengths is not None:
        from fluorodn.unmixing import wavelength_grid

        wl = wavelength_grid(wavelengths, x.shape[2])
    if images is None:
        images = _are_images(x.shape[1:], wl, rate, provenance)
    terms = IMAGE if images else RECORDING
    pages, sections = [], []
    for k in range(x.shape[0]):
        where = f"on {terms.page} {k}, " if x.shape[0] > 1 else ""
        xk, yk, live, gaps = _finite_page(x[k].astype(np.float64), y[k].astype(np.float64), where)
        wl_live = None if wl is None else wl[live]
        dark_live = None if dark is None else _dark_levels(dark, xk.shape[1])[live]
        dark_level = None if dark_live is None else float(np.mean(dark_live))
        off = None if images else ~lit_mask(xk[:, live], dark=dark_level)  # samples taken with the light off
        lit = slice(None) if off is None or (~off).sum() < 4 else ~off  # the statistics are of the lit samples
        s = page_summary(xk[lit][:, live], yk[lit][:, live])
        for name in ("noise_before", "noise_after", "removed_mean"):
            s[name] = _per_bin(s[name], live)
        s["nonfinite"] = 0 if gaps is None else int(gaps.sum())
        s["verdict"] = verdict(s)
        s["light_off"] = 0 if off is None else int(off.sum())
        figures: list[tuple[str, Any]] = []
        if k < MAX_SECTIONS:
            figures += zip(
                (terms.per_bin, "autocorrelation of the removed part", terms.per_mean),
                noise_figures(s, wl, terms),
                strict=True,
            )
            figures += zip(
                ("noisy, denoised and removed values", f"brightest {terms.bin} over the {terms.sample}s"),
                segment_figures(xk, yk, wl, gaps, dark=off, terms=terms),
                strict=True,
            )
        if sensor is not None:
            from fluorodn.unmixing import unmix

            try:
                with warnings_module.catch_warnings(record=True) as told:  # shown once, beside the traces
                    warnings_module.simplefilter("always", UserWarning)
                    warnings_module.simplefilter("ignore", LightOffNotice)  # NaN in both traces, gaps in the figure
                    a_before = unmix(xk[:, live], wl_live, sensor, denoise=False, rate=rate, dark=dark_live).sensor
                    try:
                        a_after = unmix(yk[:, live], wl_live, sensor, denoise=False, rate=rate, dark=dark_live).sensor
                    except UnmixError as err:  # the noisy one unmixed: what fails is the denoised recording's
                        named = f"the denoised recording {where.rstrip(', ')}".rstrip()
                        raise UnmixError(f"{named}: {err}") from err
            except BaseException:  # the figures drawn so far are pyplot's until closed
                _close([fig for _, fig in figures])
                raise
            notes: dict[tuple[type, str], str] = {}
            for w in told:  # each once: the noisy recording's where both give it (their figures differ)
                text = " ".join(str(w.message).split())
                kind = (w.category, re.sub(r"[-+\d.]+", "#", text)[:40])
                if kind not in notes:
                    notes[kind] = reword(where + text)
            s["sensor_notes"] = list(notes.values())
            drawn, stats = sensor_figures(a_before, a_after, rate)
            s.update(stats)
            s["sensor_kept"] = _sensor_kept(a_before, a_after)
            if s["sensor_kept"] is not None and s["sensor_kept"] < SENSOR_KEPT and s["verdict"] == "looks like noise":
                s["verdict"] = "structured: signal may have been removed"
                s["sensor_notes"].append(
                    f"the sensor's trace from the denoised recording keeps {max(s['sensor_kept'], 0.0):.0%} of the "
                    f"slow changes (below {SLOW_BAND:g} of the sampling rate) that the noisy one's holds above its "
                    "noise: denoising removed most of the sensor's changes, so the verdict is not that only noise was "
                    "removed"
                )
            if k < MAX_SECTIONS:
                figures += zip(("unmixed sensor traces", "their power spectra"), drawn, strict=True)
            else:
                _close(drawn)
        pages.append(s)
        if k < MAX_SECTIONS:
            sections.append((k, s, [f'<img alt="{html.escape(alt)}" src="{png(fig)}">' for alt, fig in figures]))

    summary: dict[str, Any] = {
        "shape": list(np.asarray(noisy).shape),
        "kind": "image" if images else "recording",
        "pages": pages,
        "nonfinite": sum(s["nonfinite"] for s in pages),
        "provenance": provenance or {},
        "warnings": list(warnings),
        "rate": rate,
        "wavelengths": None if wl is None else wl.tolist(),
    }
    return _html(title, summary, sections, terms), summary


def _dark_levels(dark: Any, n_bins: int) -> np.ndarray:
    """The dark level given as (W,) counts per bin (:func:`fluorodn.unmixing.inputs.dark_levels`)."""
    from fluorodn.unmixing.inputs import dark_levels

    return dark_levels(dark, n_bins)


def _sensor_kept(before: np.ndarray, after: np.ndarray) -> float | None:
    """:func:`fluorodn.unmixing.fit.sensor_kept` of two sensor traces over the samples where both
    are finite (the lit ones), or None."""
    from fluorodn.unmixing.fit import sensor_kept

    both = np.isfinite(before) & np.isfinite(after)
    return sensor_kept(before[both], after[both]) if both.any() else None


def _close(figures: Sequence[Any]) -> None:
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


def _html(
    title: str, summary: dict[str, Any], sections: list[tuple[int, dict[str, Any], list[str]]], terms: Terms
) -> str:
    pages = summary["pages"]
    many = len(pages) > 1
    shape = summary["shape"] if many else summary["shape"][-2:]
    axes = ""
    if summary["wavelengths"] is not None:
        axes += f", {summary['wavelengths'][0]:.2f}-{summary['wavelengths'][-1]:.2f} nm"
    if summary["rate"] is not None:
        axes += f", {summary['rate']:.6g} samples per second"
    what = "image" if terms is IMAGE else "recording"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="small">{what} shape {" x ".join(map(str, shape))}'
        f" ({f'{terms.page}s x ' if many else ''}{terms.axes}){axes}</p>",
    ]
    if summary["warnings"]:
        out.append("<h2>Warnings</h2>")
        out += [f'<div class="warn">{html.escape(w)}</div>' for w in summary["warnings"]]
    if summary["nonfinite"]:
        out.append(f'<div class="warn">{html.escape(_nonfinite_note(summary, terms))}</div>')
    out.append(f'<h2>Summary</h2><div class="scroll"><table><tr><th>{terms.page}</th>'
               f"<th>noise after / before at high frequencies (median over {terms.bins})</th>"
               f"<th>whiteness of removed (mean autocorr., lags 1-{LAGS} {terms.sample}s)</th>"
               "<th>removed energy in leading components (noise: K/W)</th>"
               f"<th>removed {terms.mean}, RMS over {terms.bins} ({UNIT})</th>"
               "<th>removed RMS / noise level</th><th>removed level, smooth across "
               f"{terms.bins} (noise levels)</th><th>verdict</th></tr>")  # fmt: skip
    for k, s in enumerate(pages):
        out.append(
            f"<tr><td>{k}</td><td>{s['noise_ratio_median']:.3g}</td><td>{s['whiteness']:.3f}</td>"
            f"<td>{s['leading_share']:.3f} ({s['leading_share_noise']:.3f})</td>"
            f"<td>{s['removed_mean_rms']:.3g}</td><td>{s['removed_noise_units']:.3g}</td>"
            f"<td>{s.get('removed_level', 0.0):.3g}</td>"
            f'<td class="{VERDICTS[s["verdict"]]}">{html.escape(s["verdict"])}</td></tr>'
        )
    out.append("</table></div>")
    out.append(
        f'<p class="small">Verdict: <i>nothing removed</i> where the removed part (noisy - denoised) is under '
        f"{NOTHING_REMOVED:g} of the noisy {what}'s noise level (RMS, each {terms.bin} in units of its own); "
        f"<i>nearly constant</i> where all but a few of the noisy {what}'s values (under 0.2 %) are equal: it has "
        f"no noise to measure what was removed against; <i>spectrum changed</i> where a gain or an offset alone "
        f"explains it; <i>structured</i> unless it is white (whiteness under 0.1, and its lag-1 autocorrelation above "
        f"{LAG1_FLOOR:g}: not a filter over time, which removes the fast part of the noise and fast signal with it) "
        "and no more in the leading components than noise is (under twice K/W + 0.05, K/W the share noise spread "
        "evenly over the bins has); then <i>not denoised</i> "
        f"where the denoised {what}'s noise level is {NOT_DENOISED:g} of the noisy one's or more (the files in the "
        f"wrong order?); then <i>spectrum changed</i> where its {terms.mean}, smooth across the {terms.bins}, "
        f"stands {CHANGED_LEVEL:g} of the noise level or more (RMS over the {terms.bins}; a gain, a blur), or "
        f"{CHANGED_PEAK:g} at its worst {terms.bin} (a narrow dip); else <i>looks like "
        "noise</i>.</p>"
    )
    if len(pages) > MAX_SECTIONS:
        out.append(f'<p class="small">Figures for the first {MAX_SECTIONS} of {len(pages)} {terms.page}s.</p>')
    for k, s, parts in sections:
        out.append(f"<h2>{terms.page.capitalize()} {k}</h2>" if many else "<h2>What denoising removed</h2>")
        if s["light_off"]:
            out.append(
                f"<p>{s['light_off']} of {summary['shape'][-2]} samples read as taken with the light off (the "
                "detector's dark level): grey in the images and shaded in the trace, left out of their scales and "
                "of the numbers in the summary.</p>"
            )
        if "sensor_std_before" in s:
            out.append(
                f"<p>sensor trace (a.u.): std {s['sensor_std_before']:.4g} from the noisy recording, "
                f"{s['sensor_std_after']:.4g} from the denoised one; power in the upper half of the band "
                f"after / before: {s['sensor_highband_power_ratio']:.3g}</p>"
            )
            out += [f'<div class="warn">unmixing: {html.escape(note)}</div>' for note in s["sensor_notes"]]
        out += ['<div class="figs">', *parts, "</div>"]
    prov = summary["provenance"]
    if prov:
        out.append('<h2>Provenance</h2><div class="scroll"><table class="prov">')
        out += [f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in prov.items()]
        out.append("</table></div>")
    out.append("</body></html>")
    return "\n".join(out)


def _nonfinite_note(summary: dict[str, Any], terms: Terms = RECORDING) -> str:
    """What the report says of the values that are not finite."""
    n, total = summary["nonfinite"], math.prod(summary["shape"])
    hit = [k for k, s in enumerate(summary["pages"]) if s["nonfinite"]]
    where = ""
    if len(summary["pages"]) > 1:
        where = f" (on {terms.page}{'s' if len(hit) > 1 else ''} {', '.join(map(str, hit))})"
    dead = sum(v is None for s in summary["pages"] for v in s["noise_before"])
    what = "image" if terms is IMAGE else "recording"
    along = "down each column" if terms is IMAGE else "over time"
    text = (
        f"{n} of {total} values ({100 * n / total:.3g} %) are not finite (NaN or infinite) in the noisy or the "
        f"denoised {what}{where}: the numbers and figures are made over the finite values, the others bridged "
        f"{along} in both (as --nan fill bridges them) and left blank in the images"
    )
    if dead:
        one = "wavelength bin" if terms is RECORDING else terms.bin
        text += f"; {dead} {one}{'s' if dead > 1 else ''} without any finite value left out"
    return text + "."


def write_report(
    path_html: str | os.PathLike[str],
    noisy: Any,
    denoised: Any,
    *,
    overwrite: bool = False,
    **kwargs: Any,
) -> tuple[Path, Path]:
    """Write :func:`build_report`'s HTML to ``path_html`` and its summary beside it (``.json``).

    Both are written atomically (:func:`fluorodn.io.atomic_output`), and neither where the other
    exists already (without ``overwrite``); ``kwargs`` go to :func:`build_report`. Returns (html
    path, json path).
    """
    from fluorodn.io import atomic_output

    dest = Path(path_html)
    dest_json = dest.with_suffix(".json")
    if dest_json == dest:
        raise InputError(f"the report's HTML would be written to {dest}, the name of its summary; give a .html name")
    text, summary = build_report(noisy, denoised, **kwargs)
    # both refused before either is written where one exists already
    with atomic_output(dest, overwrite=overwrite) as tmp, atomic_output(dest_json, overwrite=overwrite) as tmp_json:
        tmp.write_text(text, encoding="utf-8")
        tmp_json.write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    return dest, dest_json


def load_pages(path: str | os.PathLike[str], key: str | None = None) -> tuple[np.ndarray, str | None]:
    """All pages of a recording file as (N, H, W), and the .mat/HDF5 variable read (or None)."""
    read = _read_file(path, key)
    return read.pages, read.key


@dataclass
class _FileRead:
    """A recording file read for a report: its pages and what the file states of their axes."""

    path: Path
    pages: np.ndarray
    """(N, T, W): all pages (channels of a spectrometer file) in file order."""
    key: str | None
    """The .mat/HDF5 variable read, or None."""
    wavelengths: np.ndarray | None
    """(W,) nm the file states (a spectrometer file's axis, a TIFF's metadata), or None."""
    rate: float | None
    """Samples per second of each page the file states (a spectrometer file's timestamps, a TIFF's
    metadata), or None."""
    rates: tuple[float, ...] = ()
    """The rates a rate given may name: ``rate``, and the rows' rate of interleaved excitations."""
    says: str = ""
    """Where ``rate`` comes from, for a message."""
    axes_known: bool = False
    """Whether the file says each page is time x wavelength."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What a TIFF's description states (:func:`fluorodn.unmixing.recording_metadata`)."""


def _positive(value: Any) -> float | None:
    """``value`` as a float where it is a sampling rate (:data:`fluorodn.spectral.RATE_LIMITS_HZ`), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    from fluorodn.spectral import rate_refusal

    return float(value) if rate_refusal(float(value)) is None else None


def _read_file(path: str | os.PathLike[str], key: str | None = None, excitations: int | None = None) -> _FileRead:
    """Read a recording file with the reader every command uses (:func:`fluorodn.io.open_recording`),
    and the wavelengths and rate it states; ``excitations`` applies to a spectrometer file only."""
    import contextlib

    from fluorodn import io as fio
    from fluorodn.unmixing import recording_metadata
    from fluorodn.unmixing.inputs import stated_grid

    path = Path(path)
    spectral = path.exists() and fio.format_of(path) in fio.SPECTRAL_FORMATS
    with contextlib.closing(fio.open_recording(path, key=key, excitations=excitations if spectral else None)) as rec:
        pages = np.stack([np.array(p) for p in rec.pages()])
        used_key = getattr(rec, "key", None)
        if isinstance(rec, fio.SpectralRecording):
            f = rec.file
            page = f.channels[0].timing
            rate = None if page is None else _positive(page.rate_hz)
            rows = None if f.timing is None else _positive(f.timing.rate_hz)
            rates = tuple(r for r in (rate, rows) if r is not None)
            return _FileRead(path, pages, used_key, f.wavelengths, rate, rates, f"the timestamps of {path} show",
                             axes_known=rec.axes_known)  # fmt: skip
    meta = recording_metadata(path)
    wl = stated_grid(meta.get("wavelength_nm"), pages.shape[2])  # metadata that do not fit the bins state none
    rate = _positive(meta.get("sampling_hz"))
    return _FileRead(path, pages, used_key, wl, rate, () if rate is None else (rate,), f"{path} states",
                     axes_known=bool(getattr(rec, "axes_known", False)), meta=meta)  # fmt: skip


def _read_denoised(
    path: str | os.PathLike[str], noisy: _FileRead, key: str | None, excitations: int | None
) -> _FileRead:
    """The denoised file of ``noisy``: ``key``, else the variable its denoising wrote (a .mat
    output's ``<key>_denoised``, an HDF5 output of an HDF5 input's dataset of the same name), else
    its only one (a .mat recording written as HDF5 with ``--to h5`` names its dataset anew)."""
    from fluorodn import io as fio
    from fluorodn._mat import matlab_name
    from fluorodn.errors import FluorodnError

    if key is not None or noisy.key is None:
        return _read_file(path, key, excitations)
    path = Path(path)
    same = path.exists() and fio.format_of(path) == "hdf5" and fio.format_of(noisy.path) == "hdf5"
    try:
        return _read_file(path, noisy.key if same else matlab_name(f"{noisy.key}_denoised"), excitations)
    except FluorodnError:
        if same:
            raise
        return _read_file(path, None, excitations)


def _stated(noisy: _FileRead, denoised: _FileRead) -> tuple[_FileRead | None, _FileRead | None]:
    """The files whose wavelengths and whose rate the report takes (the noisy one's, else the
    denoised one's); InputError where both state them and they differ."""
    from fluorodn.unmixing.inputs import wavelength_gap

    wl_file = rate_file = None
    for f in (noisy, denoised):
        if f.wavelengths is not None:
            if wl_file is None:
                wl_file = f
            elif wl_file.wavelengths is not None and wavelength_gap(f.wavelengths, wl_file.wavelengths) > 0:
                raise InputError(
                    f"{noisy.path} and {denoised.path} state different wavelengths "
                    f"({_nm(noisy.wavelengths)} and {_nm(denoised.wavelengths)}); give matching files"
                )
        if f.rate is not None:
            if rate_file is None:
                rate_file = f
            elif not _same_rate(f.rates, rate_file.rates):
                raise InputError(
                    f"{noisy.path} is sampled at {noisy.rate:.6g} Hz but {denoised.path} at {denoised.rate:.6g} Hz; "
                    "give matching files"
                )
    return wl_file, rate_file


def _same_rate(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether one of the rates ``a`` is one of ``b`` (a file's rates: each page's, and the rows' of
    interleaved excitations) within :data:`fluorodn.formats.timing.RATE_TOLERANCE` (1 %)."""
    from fluorodn.formats.timing import RATE_TOLERANCE

    return any(abs(r - q) <= RATE_TOLERANCE * q for r in a for q in b)


def _nm(wl: np.ndarray | None) -> str:
    return "none" if wl is None else f"{float(wl[0]):g}-{float(wl[-1]):g} nm"


def _file_axes(noisy: _FileRead, denoised: _FileRead, wavelengths: Any, rate: float | None) -> tuple[Any, float | None]:
    """The wavelengths and rate of the report: those given, else those the files state; InputError
    where one given contradicts the file's (a wavelength in another bin, a rate more than 1 % off)."""
    from fluorodn.unmixing.inputs import contradiction, wavelength_grid

    wl_file, rate_file = _stated(noisy, denoised)
    if wl_file is not None and wl_file.wavelengths is not None:
        given = None if wavelengths is None else wavelength_grid(wavelengths, noisy.pages.shape[2])
        if given is not None and (said := contradiction(given, wl_file.wavelengths, wl_file.path)):
            raise InputError(said)
        wavelengths = wl_file.wavelengths
    if rate_file is not None and rate_file.rate is not None:
        if rate is not None and not _same_rate((rate,), rate_file.rates):
            off = abs(rate - rate_file.rate) / rate_file.rate
            raise InputError(
                f"the rate given ({rate:g} Hz) differs from the {rate_file.rate:.6g} Hz {rate_file.says} by {off:.1%}; "
                "leave it out to use the file's"
            )
        rate = rate_file.rate
    return wavelengths, rate


def event_cautions(noisy: Any, provenance: dict[str, Any] | None, *, recordings: bool = False) -> list[str]:
    """The cautions about events counted on a denoised recording (the messages of
    :class:`fluorodn.EventDetectionWarning`), found again on its noisy (T, W) or (N, T, W) pages for
    a report given no messages of the run: on each page the spectral path took, with the settings
    and the number of spectral components ``provenance`` (the record in the denoised file) names. An
    output of the spectral model records its spectral settings, and each of its pages that holds a
    recording is read; a record that names the model but no settings (the header line of a text
    export) is read with the default settings, and gets none where it names a shipped image model; a
    file that records nothing is read as the default denoises it (the pages that look like
    recordings, or all that hold one with ``recordings``: pages known to be time x wavelength, as a
    spectrometer file's are; default settings); an image model's output gets none. Values that are
    not finite are bridged over time first, as ``--nan fill`` bridges them for a run. Each distinct
    message once."""
    from fluorodn import spectral
    from fluorodn._file_pipeline import fill_nonfinite
    from fluorodn.denoiser import SPECTRAL_DEFAULTS, DenoiserOptions

    settings = dict((provenance or {}).get("settings") or {})
    if provenance and "settings" not in provenance:
        if _image_model(provenance.get("model")):
            return []
    elif provenance and not any(name in settings for name in SPECTRAL_DEFAULTS):
        return []
    recorded = {name: type(default)(settings[name]) for name, default in SPECTRAL_DEFAULTS.items() if name in settings}
    try:
        options = DenoiserOptions(**recorded)
    except (TypeError, ValueError):  # a record no run writes: read as the default's
        options = DenoiserOptions()
    components = (provenance or {}).get("components", spectral.COMPONENTS)
    if not isinstance(components, int) or isinstance(components, bool) or components < 1:
        components = spectral.COMPONENTS  # a record no run writes: read as the default's
    takes = spectral.takes_recording if provenance or recordings else spectral.looks_spectral
    found: list[str] = []
    for page in _pages(noisy, "noisy"):
        if takes(page.shape) and np.isfinite(page).any():
            filled, _ = fill_nonfinite(page)  # as a run with --nan fill read it
            found += spectral.recording_cautions(
                filled,
                components,
                fixed_pattern=not options.keep_fixed_pattern,
                filters_over_time=options.filters_over_time,
            )
    return list(dict.fromkeys(found))


def _image_model(name: Any) -> bool:
    """Whether ``name`` is a shipped image model's."""
    return _model_kind(name) == "image"


def _model_kind(name: Any) -> str | None:
    """The kind of the shipped model ``name`` (``"image"``, ``"spectral"``), None for another name."""
    from fluorodn.errors import FluorodnError
    from fluorodn.registry import available_models

    try:
        kinds = {card.get("name"): card.get("kind") or "image" for card in available_models()}
    except FluorodnError:  # an unreadable card: the model is not known
        return None
    return kinds.get(name)


def report_files(
    noisy_path: str | os.PathLike[str],
    denoised_path: str | os.PathLike[str],
    dest: str | os.PathLike[str] | None = None,
    *,
    key: str | None = None,
    denoised_key: str | None = None,
    wavelengths: Any = None,
    sensor: Any = None,
    rate: float | None = None,
    provenance: dict[str, Any] | None = None,
    warnings: Sequence[str] | None = None,
    reword: Callable[[str], str] = str,
    overwrite: bool = False,
    dark: Any = None,
) -> tuple[Path, Path]:
    """Report on two recording files: :func:`write_report` to ``dest`` (default
    ``<denoised stem>_report.html``).

    Each file is read as every command reads it (:func:`fluorodn.io.open_recording`; a
    spectrometer file's channels are its pages, split into as many excitations as the denoised
    file records). A .mat/HDF5 denoised file holds the input's variables too: unless
    ``denoised_key`` is given, the variable its denoising wrote is read (a .mat file's
    ``<key>_denoised``, an HDF5 file's dataset ``key``) where it exists. ``wavelengths`` and
    ``rate`` (and, with a ``sensor``, ``dark``) default to what the files state (a spectrometer
    file's wavelength axis and timestamps, a TIFF's metadata:
    :func:`fluorodn.unmixing.recording_metadata`); one given that
    contradicts them (a wavelength in another bin, a rate more than 1 % off) is refused
    (InputError). ``provenance`` defaults to the record in the denoised file
    (:func:`stored_provenance`). ``warnings``: the messages of the run that wrote the denoised
    file; None (not known) shows the cautions about events found again on the noisy file
    (:func:`event_cautions`), each through ``reword`` (as are the notes of the sensor's
    unmixing); ``dark``: the dark level of that unmixing (:func:`build_report`). Returns (html
    path, json path).
    """
    rate = _checked_rate(rate)
    recorded = stored_provenance(denoised_path)
    excitations = _recorded_excitations(recorded)
    noisy = _read_file(noisy_path, key, excitations)
    denoised = _read_denoised(denoised_path, noisy, denoised_key, excitations)
    wavelengths, rate = _file_axes(noisy, denoised, wavelengths, rate)
    if dark is None and sensor is not None:  # the dark level the noisy file states, where it states one
        from fluorodn.unmixing.inputs import stated_dark

        dark = stated_dark(noisy.meta, noisy.pages.shape[2], noisy.path)
    if provenance is None:
        provenance = recorded
    if warnings is None:
        warnings = [reword(m) for m in event_cautions(noisy.pages, provenance, recordings=noisy.axes_known)]
    html_path = Path(dest) if dest is not None else report_paths(denoised_path)[0]
    return write_report(
        html_path,
        noisy.pages,
        denoised.pages,
        wavelengths=wavelengths,
        sensor=sensor,
        rate=rate,
        provenance=provenance,
        warnings=warnings,
        overwrite=overwrite,
        dark=dark,
        reword=reword,
        title=f"fluorodn report: {Path(noisy_path).name} -> {Path(denoised_path).name}",
        images=False if noisy.axes_known else None,
    )


def _recorded_excitations(record: dict[str, Any] | None) -> int | None:
    """The interleaved excitations a denoised file records (1 where it records none), None
    without a record."""
    if record is None:
        return None
    n = (record.get("settings") or {}).get("excitations", record.get("excitations", 1))
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else None


def stored_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The provenance fluorodn wrote into a denoised file, or None (NPY holds none).

    TIFF, .mat and HDF5 files hold the whole record; an OceanView text export (or a folder of
    them) holds its ``Denoised by:`` header line, read back as the fluorodn version, the model,
    the first 12 hex digits of its sha256 (``model_sha256``), the excitations denoised separately
    and the time.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            from fluorodn._tiff import read_provenance

            return read_provenance(path)
        if suffix == ".mat":
            import scipy.io

            from fluorodn._mat import PROVENANCE_VAR

            try:
                value = scipy.io.loadmat(path, variable_names=[PROVENANCE_VAR]).get(PROVENANCE_VAR)
            except NotImplementedError:  # MATLAB v7.3, an HDF5 file: the record is UTF-16 characters
                import h5py

                with h5py.File(path, "r") as f:
                    chars = f.get(PROVENANCE_VAR)
                    if chars is None:
                        return None
                    text = np.asarray(chars[()], dtype="<u2").ravel().tobytes().decode("utf-16-le")
                return dict(json.loads(text))
            return None if value is None else dict(json.loads(str(np.asarray(value).ravel()[0])))
        if suffix in (".h5", ".hdf5"):
            import h5py

            from fluorodn.formats.hdf5_axes import PROVENANCE_ATTR

            with h5py.File(path, "r") as f:
                value = f.attrs.get(PROVENANCE_ATTR)
            if value is None:
                return None
            return dict(json.loads(value.decode("utf-8") if isinstance(value, bytes) else str(value)))
        if path.is_dir():
            path = min(p for p in path.iterdir() if p.suffix.lower() == ".txt" and not p.name.startswith("."))
            suffix = ".txt"
        if suffix == ".txt":
            return _text_provenance(path)
    except Exception:  # unreadable provenance is no provenance: the report shows none
        return None
    return None


_TEXT_MODEL = re.compile(r"model (.+?)(?: \(sha256 ([0-9a-fA-F]+)\))?")
_TEXT_EXCITATIONS = re.compile(r"(\d+) excitations denoised separately")


def _text_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record of the ``Denoised by:`` line (:func:`fluorodn.formats.provenance_line`) in the
    header of an OceanView text export, None where it has none (or another program's): ``fluorodn`` (version),
    ``model``, ``model_sha256`` (its first 12 hex digits), ``excitations`` and ``created``."""
    from fluorodn.formats.oceanview import header

    text = header(Path(path))  # UTF-8, ANSI or UTF-16, as the export was written
    line = next((v for k, _, v in (ln.partition(":") for ln in text.splitlines()) if k.strip() == "Denoised by"), None)
    if line is None or not line.strip().startswith("fluorodn"):
        return None
    record: dict[str, Any] = {}
    for part in (p.strip() for p in line.split(", ")):
        if part.startswith("fluorodn") and "fluorodn" not in record:
            record["fluorodn"] = part[len("fluorodn") :].strip()
        elif (m := _TEXT_MODEL.fullmatch(part)) and "model" not in record:
            record["model"] = m.group(1)
            if m.group(2):
                record["model_sha256"] = m.group(2)
        elif m := _TEXT_EXCITATIONS.fullmatch(part):
            record["excitations"] = int(m.group(1))
        elif part:
            record["created"] = part
    return record
