"""The fit: the linearised weighted least-squares of all samples at once, and the per-sample refinement.

The model and its linearisation are described in :mod:`fluorodn.unmixing`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from fluorodn import hemoglobin, spectral
from fluorodn._engine import clipping_warning
from fluorodn.errors import FluorodnError, InputError, LightOffNotice
from fluorodn.unmixing.inputs import (
    MIN_SAMPLES,
    DarkLevelNotice,
    UnmixError,
    UnmixWarning,
    check_recording,
    dark_levels,
    sensor_on,
    wavelengths_for,
)
from fluorodn.unmixing.result import UnmixResult

__all__ = ["LN10_PER_UM", "PEAK_KEPT", "REFINE_TOL", "SENSOR_KEPT", "Progress", "peak_kept", "sensor_kept", "unmix"]

#: Natural-log absorbance per µM·cm of a decadic molar extinction of 1 cm^-1/(mol/L).
LN10_PER_UM = math.log(10.0) * 1e-6
#: ftol, xtol and gtol of the per-sample refinement (scipy's defaults, stated so that tests can use the same).
REFINE_TOL = 1e-8

_STAT_ROWS = 8192  # samples the per-bin medians (noise, emission) are taken over, at most about
_LOG_FLOOR = 0.1  # log((F - dark) / E) is taken of max(F - dark, 0.1 E)
#: Without a dark level, a recording whose dimmest bin stays above this share of its brightest
#: bin's median gets a DarkLevelNotice (its floor may be the detector's dark level).
DARK_FLOOR_SHARE = 0.05
#: The slow band of the sensor check (:func:`sensor_kept`): up to this fraction of the sampling
#: rate (0-0.625 Hz at 5 Hz), and its noise floor's band: from this fraction to half of it.
SLOW_BAND, FLOOR_BAND = 0.125, 0.25
#: Least share of the raw trace's slow changes that the denoised recording's sensor trace keeps
#: without an UnmixWarning (:func:`sensor_kept`). ``python -m benchmarks sensor-check``: 0.35-1.05
#: on the benchmark's recordings (main, fast hemodynamics, slow rises, small and frequent events,
#: noise 0.1-1.2, other sensors), 0.00-0.07 on weak-sensor recordings whose denoised sensor trace
#: came out crushed (its slope on the truth 0.04-0.08).
SENSOR_KEPT = 0.2
#: Least slow power of the raw trace above its noise floor, as a share of that floor, that the
#: check judges: below it the raw trace holds no slow change to compare with.
SLOW_EXCESS = 0.15
#: The local sensor check (:func:`peak_kept`): the sensor trace's moving average over
#: :data:`PEAK_WINDOW` samples beside that average's moving median over :data:`PEAK_BASE` samples
#: (its baseline), judged at the raw trace's largest departure where that stands :data:`PEAK_ABOVE`
#: times further out than the farthest its noise alone reaches (``sqrt(2 ln(2 N / PEAK_WINDOW))``
#: of the departures' robust spread over N samples) ...
PEAK_WINDOW, PEAK_BASE, PEAK_ABOVE = 25, 251, 2.0
#: ... and warned of where the denoised trace keeps less than this share of it there. A lone event,
#: or a few, in a quiet recording is the case: the spectral path can take the sensor's spectrum for
#: noise there. ``python -m benchmarks sensor-check``: 0.77-1.04 where judged on the benchmark's
#: recordings (0.60 on small events beyond their noise); on 24 lone events, of the 14 that
#: denoising kept under 0.6 of, 10 were warned of by this check and 3 by the slow one (which it then
#: leaves alone; the other stood out of no noise in the raw trace), none of the 10 kept 0.7-1.0.
PEAK_KEPT = 0.6

Progress = Callable[[int, int], None]


def unmix(
    arr: Any,
    wavelengths: Any,
    sensor: Any,
    denoise: Any = True,
    rate: float | None = None,
    refine: bool = False,
    *,
    dark: Any = None,
    progress: Progress | None = None,
    nan: str = "refuse",
) -> UnmixResult:
    """Unmix a spectral recording into the sensor's trace, hemoglobin and brightness terms.

    Parameters
    ----------
    arr : (T, W) array, time x wavelength, any real dtype, in counts (or any units
        proportional to photons above ``dark``). Not modified.
    wavelengths : the W bins' wavelengths in nm: a sequence of W numbers, ``"FIRST:LAST"``
        (evenly spaced), or a one-column CSV file.
    sensor : the sensor's ligand response S(l) as dF/F per unit: a CSV file
        ``wavelength_nm,dff``, a shipped name (``"example"``), or a pair of arrays
        ``(wavelength_nm, dff)``; interpolated linearly onto ``wavelengths``, which it must cover.
    denoise : True (denoise with ``fluorodn.Denoiser()`` first), False, a model name or
        ``.onnx`` path, or a :class:`~fluorodn.Denoiser` to use. The bins' noise that weights
        the fit is always measured on ``arr`` as given. Only the lit samples are denoised.
    rate : samples per second, for ``time_s``; None leaves ``time_s`` None.
    refine : also fit the full nonlinear model per sample (``scipy.optimize.least_squares``,
        Levenberg-Marquardt), starting at the linearised solution. About 1 ms per sample.
    dark : detector dark level subtracted first: a number or (W,) per bin, in ``arr``'s
        units. None: ``arr`` is taken as dark-subtracted (an unsubtracted dark level scales
        the fitted changes down by E / (E + dark) in each bin); a
        :class:`~fluorodn.unmixing.DarkLevelNotice` says so where the recording's dimmest
        bin stays above 5 % of its brightest bin's median (its 1st percentile over time).
    progress : called as ``progress(done, total)`` with the number of samples refined so far,
        every few hundred samples (refine only).
    nan : ``"refuse"`` (NaN or infinite values are an UnmixError) or ``"fill"``: they are
        filled by linear interpolation over time, bin by bin (:func:`fluorodn.files.fill_nonfinite`),
        an UnmixWarning says how many and where, and ``filled_values`` counts them.

    Returns
    -------
    UnmixResult with (T,) float64 traces ``sensor``, ``hbo2``, ``hb``, ``offset``, ``gain``,
    ``residual_rms`` (relative to the recording's typical state; see :mod:`fluorodn.unmixing`).
    Samples taken with the light off (:func:`fluorodn.spectral.lit_mask`, as the Denoiser
    finds them, and also stretches longer than it sets aside: with ``dark`` given where they lie
    at the dark level, without it where they hold no spectrum beside the lit samples') carry no
    measurement: they are NaN in every trace, ``dark_samples`` counts
    them, and a :class:`~fluorodn.LightOffNotice` says where they are. The lit samples are
    denoised and fitted as one recording, as if the dark ones were not there.

    Raises
    ------
    UnmixError : not a finite 2D real array, fewer than 3 samples or 5 bins with signal, a
        wavelength count that differs from the columns, a (W, T) array (transposed), or a
        sensor spectrum that does not cover the wavelengths, or values the denoiser refuses.
    InputError : ``denoise`` is none of the above.

    Examples
    --------
    >>> import fluorodn, tifffile                                      # doctest: +SKIP
    >>> rec = tifffile.imread("example.tif")                           # (3000, 152) float32
    >>> res = fluorodn.unmix(rec, "477:595", "example", rate=5.0)      # doctest: +SKIP
    >>> res.sensor.shape, res.to_csv("example_unmixed.csv")            # doctest: +SKIP
    """
    return _unmix(arr, wavelengths, sensor, denoise, rate, refine, dark, progress, 2, nan)


def _checked_denoise(denoise: Any) -> Any:
    """``denoise`` as :func:`unmix` takes it (a numpy bool as a bool); InputError for anything that is
    not True, False, None, a model name or path, or an object with a ``run`` method (a Denoiser)."""
    if isinstance(denoise, np.bool_):
        return bool(denoise)
    if denoise is None or isinstance(denoise, bool | str | os.PathLike) or callable(getattr(denoise, "run", None)):
        return denoise
    raise InputError(
        f"denoise must be True, False, a model name, the path to an .onnx file or a fluorodn.Denoiser, not {denoise!r}"
    )


#: Fewest bins inside the hemoglobin table's range that a fit takes (it has 5 parameters per sample).
MIN_FIT_BINS = 8


def _hemoglobin_bins(wl: np.ndarray) -> np.ndarray:
    """Which bins at ``wl`` (nm) the hemoglobin table covers; UnmixError where fewer than
    :data:`MIN_FIT_BINS` do, naming the two ranges."""
    lo, hi = hemoglobin.RANGE_NM
    inside = np.isfinite(wl) & (wl >= lo) & (wl <= hi)
    if int(inside.sum()) < MIN_FIT_BINS:
        raise UnmixError(
            f"the hemoglobin table covers {lo:g}-{hi:g} nm, and {int(inside.sum())} of the recording's bins "
            f"({np.nanmin(wl):g}-{np.nanmax(wl):g} nm) lie there; unmixing needs at least {MIN_FIT_BINS} (check "
            "the wavelengths)"
        )
    return inside


def _bins_left_out(wl: np.ndarray, inside: np.ndarray) -> str:
    """The warning that the bins of ``wl`` outside the hemoglobin table's range are left out of the fit."""
    lo, hi = hemoglobin.RANGE_NM
    below, above = wl[~inside & (wl < lo)], wl[~inside & (wl > hi)]
    parts = [f"{below.min():g}-{below.max():g} nm" for _ in [0] if below.size] + [
        f"{above.min():g}-{above.max():g} nm" for _ in [0] if above.size
    ]
    return (
        f"{int((~inside).sum())} of the recording's {wl.size} bins ({' and '.join(parts)}) lie outside the "
        f"hemoglobin table's {lo:g}-{hi:g} nm and are left out of the fit; the traces come from the "
        f"{int(inside.sum())} bins inside it"
    )


def _unmix(
    arr: Any,
    wavelengths: Any,
    sensor: Any,
    denoise: Any,
    rate: float | None,
    refine: bool,
    dark: Any,
    progress: Progress | None,
    depth: int,
    nan: str = "refuse",
    one_excitation: bool = False,
) -> UnmixResult:
    """:func:`unmix`, its warnings (and those of the Denoiser it runs) pointing ``depth`` frames
    above this function, at the user's line; ``one_excitation``: the rows are known to hold one
    excitation (a spectrometer file's channel, split or declared as the reader was told), so they
    are not checked for interleaving."""
    denoise = _checked_denoise(denoise)
    from fluorodn.denoiser import checked_bool, checked_rate

    refine = checked_bool("refine", refine)  # a string such as "False" would be taken as true
    try:
        checked_rate(rate)  # a positive number, not a string or a bool
    except InputError as err:
        raise UnmixError(str(err)) from None
    if nan not in ("refuse", "fill"):
        raise UnmixError(f"nan is 'refuse' or 'fill', not {nan!r}")
    filled = 0
    if nan == "fill":
        arr, filled, told = _filled(arr)
        if told:
            warnings.warn(told, UnmixWarning, stacklevel=1 + depth)
    x = check_recording(arr)
    shape = x.shape
    dark_w = dark_levels(dark, shape[1])
    # a row at the detector's dark level has nothing to unmix
    lit = spectral.lit_mask(x, dark=None if dark is None else float(np.mean(dark_w)))
    if lit.sum() < MIN_SAMPLES:
        raise UnmixError(
            f"{int(lit.sum())} of the recording's {shape[0]} samples were taken with the light on; unmixing needs at "
            f"least {MIN_SAMPLES}"
        )
    if not lit.all():
        x = x[lit]  # the Denoiser then finds no dark rows in it, so they are set aside here only
    if not one_excitation:
        _refuse_interleaved_rows(x)
    wl = wavelengths_for(wavelengths, shape)
    inside = _hemoglobin_bins(wl)
    if not inside.all():  # a spectrometer's whole range: the fit takes the bins the table covers
        warnings.warn(_bins_left_out(wl, inside), UnmixWarning, stacklevel=1 + depth)
        x, wl, dark_w = x[:, inside], wl[inside], dark_w[inside]
    still = _still_bins(x)
    if still.any():  # a dead or stuck pixel: no noise, so it would outweigh every other bin in the fit
        if int((~still).sum()) < MIN_FIT_BINS:
            raise UnmixError(
                f"{int(still.sum())} of the recording's {wl.size} bins hold one value in nearly every sample and "
                f"{int((~still).sum())} change; unmixing needs at least {MIN_FIT_BINS} that change"
            )
        warnings.warn(_still_message(wl, still, filled > 0), UnmixWarning, stacklevel=1 + depth)
        x, wl, dark_w = x[:, ~still], wl[~still], dark_w[~still]
    clipped = clipping_warning(x, "so the fit there follows the clipping, not the sensor and hemoglobin")
    if clipped:
        warnings.warn(clipped, UnmixWarning, stacklevel=1 + depth)
    response = sensor_on(sensor, wl)
    e_hbo2, e_hb = hemoglobin.extinction(wl)
    k_hbo2, k_hb = LN10_PER_UM * e_hbo2, LN10_PER_UM * e_hb
    if dark is None and (floor := _dark_floor_note(x)):
        warnings.warn(DarkLevelNotice(floor), stacklevel=1 + depth)
    elif dark is not None and (below := _below_dark(x, dark_w, wl)):
        warnings.warn(below, UnmixWarning, stacklevel=1 + depth)
    if not lit.all():
        denoising = denoise is not False and denoise is not None
        warnings.warn(LightOffNotice(_light_off_message(lit, denoising)), stacklevel=1 + depth)

    noise = _noise_sigma(x - dark_w)
    raw = x  # the lit samples as recorded, for the sensor check of a denoised recording
    model_name = None
    record = None
    if denoise is not False and denoise is not None:
        from fluorodn.denoiser import Denoiser, DenoiserOptions

        if denoise is True or isinstance(denoise, (str, os.PathLike)):
            denoise = Denoiser() if denoise is True else Denoiser(denoise)
        # a Denoiser's warnings point at the user's line, and it knows x is time x wavelength (a
        # recording takes the spectral path however short); anything else with a run method runs as is
        try:
            denoised = (
                denoise._run(x, None, None, None, 1 + depth, recording=True, rate=rate)
                if isinstance(denoise, Denoiser)
                else denoise.run(x)
            )
        except InputError as err:  # values the model cannot take (beyond float32's range, ...)
            raise UnmixError(f"the recording cannot be denoised before unmixing: {err}") from None
        x = np.asarray(denoised, dtype=np.float64)
        # the model that ran (an image model where the bins are out of the spectral model's range)
        ran = denoise._runs(x.shape, recording=True) if isinstance(denoise, Denoiser) else denoise
        model_name = str(ran.name)
        opts = getattr(ran, "options", None)
        how = opts.spectral_label() if isinstance(opts, DenoiserOptions) else ""
        if getattr(ran, "kind", None) == "spectral" and how:
            model_name += f" ({how})"
        record = _denoising_record(ran)
    # the fits run in units of the recording's typical level, so that neither their conditioning (a
    # column of ones beside one of 1 / E in the design) nor their float32 work depends on the units
    # the values come in; the emission and the offset are given back in those units
    z = x - dark_w
    unit = _typical_level(z)
    z /= unit
    scaled_noise = noise / unit
    basis = np.stack([response, -k_hbo2, -k_hb])  # exponent per unit of (sensor, hbo2, hb)
    coef, emission, rms, mixed = _linear_fit(z, basis, scaled_noise)
    if mixed:
        warnings.warn(mixed, UnmixWarning, stacklevel=1 + depth)
    raw_z = None if raw is x else (raw - dark_w) / unit  # the raw recording, in the fits' units
    kept = None if raw_z is None else _raw_sensor_kept(raw_z, coef[:, 1], basis, scaled_noise)
    if kept is not None and kept < SENSOR_KEPT:
        warnings.warn(_crushed_sensor(kept), UnmixWarning, stacklevel=1 + depth)
    elif raw_z is not None and (damped := _raw_peak_kept(raw_z, coef[:, 1], basis, scaled_noise)):
        share, row, size = damped
        where = int(np.flatnonzero(lit)[row])
        warnings.warn(_damped_peak(share, where, size, rate), UnmixWarning, stacklevel=1 + depth)
    del raw_z  # a full-size array, freed before the refinement
    gain = np.exp(coef[:, 0])
    params = np.column_stack([coef[:, 0], coef[:, 1:4], coef[:, 4] * gain])  # log gain, a, h1, h2, offset
    if refine:
        params, rms = _refine(z, emission, basis, scaled_noise, params, progress)
        gain = np.exp(params[:, 0])
    params[:, 4] *= unit
    emission = emission * unit
    return UnmixResult(
        sensor=_on_rows(params[:, 1], lit),
        hbo2=_on_rows(params[:, 2], lit),
        hb=_on_rows(params[:, 3], lit),
        offset=_on_rows(params[:, 4], lit),
        gain=_on_rows(gain, lit),
        residual_rms=_on_rows(rms, lit),
        time_s=None if rate is None else np.arange(shape[0]) / float(rate),
        wavelengths=wl,
        emission=emission,
        noise=noise,
        response=response,
        hbo2_spectrum=k_hbo2,
        hb_spectrum=k_hb,
        denoised_with=model_name,
        refined=bool(refine),
        dark_samples=int(shape[0] - lit.sum()),
        filled_values=filled,
        dark=None if dark is None else dark_w,
        denoising=record,
        sensor_kept=kept,
    )


def sensor_kept(before: np.ndarray, after: np.ndarray, sizes: list[int] | None = None) -> float | None:
    """How much of the sensor's slow changes a denoised recording keeps: the power its sensor trace
    ``after`` shares with the raw recording's trace ``before`` below :data:`SLOW_BAND` of the
    sampling rate (their cross-spectrum's real part), over the power ``before`` holds there above
    its noise floor (its mean power from :data:`FLOOR_BAND` of the rate to half of it, taken as
    white). About 1 where denoising removed noise alone, the share left where it shrank the
    sensor's changes, about 0 where it removed them; what the denoised trace holds that the raw one
    does not (left-over noise of its own) does not count. Both traces hold the same samples, in
    blocks of ``sizes`` (one block if None), each mean removed; Welch's method per block.

    None where it cannot be judged: fewer than 64 samples in a block, values that are not finite, or
    slow power in ``before`` under :data:`SLOW_EXCESS` of its floor above it (no slow change to
    compare with)."""
    from scipy.signal import csd, welch

    before, after = np.asarray(before, np.float64), np.asarray(after, np.float64)
    sizes = [len(before)] if sizes is None else sizes
    if sum(sizes) != len(before) or len(after) != len(before):
        raise ValueError(f"the blocks hold {sum(sizes)} samples, the traces {len(before)} and {len(after)}")
    if min(sizes) < 64 or not (np.isfinite(before).all() and np.isfinite(after).all()):
        return None
    ends = np.cumsum(sizes)[:-1]
    n = min(256, *sizes)  # one segment length, so that the blocks' spectra share their frequencies
    own, shared = [], []
    for b, a in zip(np.split(before, ends), np.split(after, ends), strict=True):
        freq, p = welch(b - b.mean(), fs=1.0, nperseg=n)
        own.append(p)
        shared.append(csd(b - b.mean(), a - a.mean(), fs=1.0, nperseg=n)[1].real)
    p_raw, p_shared = np.mean(own, axis=0), np.mean(shared, axis=0)
    slow, floor = (freq > 0) & (freq <= SLOW_BAND), freq >= FLOOR_BAND
    excess = float(p_raw[slow].mean() - p_raw[floor].mean())
    if not excess > SLOW_EXCESS * float(p_raw[floor].mean()):
        return None
    return float(p_shared[slow].mean()) / excess


def _raw_sensor_kept(z: np.ndarray, after: np.ndarray, basis: np.ndarray, noise: np.ndarray) -> float | None:
    """:func:`sensor_kept` of a denoised recording's sensor trace ``after`` (one value per row of
    ``z``) against the raw recording ``z`` (dark level subtracted) fitted alone, on the rows of
    :func:`fluorodn.spectral.check_blocks`; None where it cannot be judged."""
    blocks = spectral.check_blocks(z.shape[0])
    rows = np.concatenate([np.arange(b.start, b.stop) for b in blocks])
    try:
        before = _linear_fit(z[rows], basis, noise)[0][:, 1]
    except UnmixError:  # the raw rows alone do not fit (too few bins with signal): nothing to compare
        return None
    return sensor_kept(before, after[rows], [b.stop - b.start for b in blocks])


def peak_kept(before: np.ndarray, after: np.ndarray) -> tuple[float, int, float] | None:
    """(share, row, size) at the raw sensor trace ``before``'s largest local departure, where it
    stands far out of its noise (:data:`PEAK_ABOVE`): the share of it that the denoised trace
    ``after`` keeps there, the row (the middle of the :data:`PEAK_WINDOW` samples) and its size in
    units of the departures' robust spread. A departure: a trace's moving average over
    :data:`PEAK_WINDOW` samples less that average's moving median over :data:`PEAK_BASE` (the
    median of the average, whose noise is small, is hardly pulled by the event's samples; slow drifts and
    bleaching are no departure; the spread, taken over the whole trace, counts the noise's own
    correlation in time). None where the trace is shorter than :data:`PEAK_BASE`, holds values that
    are not finite, or no departure stands out."""
    from scipy.ndimage import median_filter, uniform_filter1d

    before, after = np.asarray(before, np.float64), np.asarray(after, np.float64)
    n = len(before)
    if n < PEAK_BASE or not (np.isfinite(before).all() and np.isfinite(after).all()):
        return None

    def departures(trace: np.ndarray) -> np.ndarray:
        moving = uniform_filter1d(trace, PEAK_WINDOW, mode="nearest")
        return np.asarray(moving - median_filter(moving, PEAK_BASE, mode="nearest"))

    d = departures(before)
    spread = 1.4826 * float(np.median(np.abs(d - np.median(d))))
    row = int(np.argmax(np.abs(d)))
    size = abs(float(d[row])) / spread if spread > 0 else 0.0
    if not size > PEAK_ABOVE * math.sqrt(2.0 * math.log(2.0 * n / PEAK_WINDOW)):
        return None
    return float(departures(after)[row] / d[row]), row, size


def _raw_peak_kept(
    z: np.ndarray, after: np.ndarray, basis: np.ndarray, noise: np.ndarray
) -> tuple[float, int, float] | None:
    """:func:`peak_kept` of a denoised recording's sensor trace ``after`` against the raw recording
    ``z`` (dark level subtracted) fitted alone, where it keeps less than :data:`PEAK_KEPT`; None
    otherwise."""
    try:
        before = _linear_fit(z, basis, noise)[0][:, 1]
    except UnmixError:  # the raw recording alone does not fit (too few bins with signal)
        return None
    found = peak_kept(before, after)
    return found if found is not None and found[0] < PEAK_KEPT else None


def _damped_peak(share: float, sample: int, size: float, rate: float | None) -> str:
    """The UnmixWarning of a denoised recording whose sensor trace keeps the share ``share`` of the
    raw one's largest departure, at ``sample``, ``size`` times its noise."""
    when = f" ({sample / rate:.6g} s)" if rate else ""
    return (
        f"denoising damped the sensor's largest change: around sample {sample}{when}, where the raw recording's "
        f"sensor trace departs {size:.0f} times its noise from its baseline, the denoised recording's keeps "
        f"{max(share, 0.0):.0%} of that change (a lone event, or a few, in a quiet recording can be taken for "
        "noise); unmix without denoising too (denoise=False) and compare"
    )


def _crushed_sensor(kept: float) -> str:
    """The UnmixWarning of a denoised recording whose sensor trace keeps the share ``kept`` (under
    :data:`SENSOR_KEPT`) of the raw one's slow changes."""
    return (
        f"denoising removed most of the sensor's slow changes: the sensor's trace from the denoised recording keeps "
        f"{max(kept, 0.0):.0%} of the changes below {SLOW_BAND:g} of the sampling rate that the raw recording's "
        "trace holds above its noise, so the sensor's changes come out smaller or are lost (its response is weak "
        "against the noise here); unmix without denoising too (denoise=False) and compare"
    )


def _denoising_record(ran: Any) -> dict[str, Any]:
    """What denoised the recording, for the outputs' provenance: fluorodn's record of a
    :class:`~fluorodn.Denoiser` (version, model, sha256, settings; without source and time), or the
    name of any other object with a ``run`` method."""
    from fluorodn._file_pipeline import provenance_record
    from fluorodn.denoiser import Denoiser

    if not isinstance(ran, Denoiser):
        return {"model": str(getattr(ran, "name", type(ran).__name__))}
    record = provenance_record(ran, "", {})
    return {k: v for k, v in record.items() if k not in ("source", "created")}


def _dark_floor_note(x: np.ndarray) -> str | None:
    """The :class:`DarkLevelNotice` of a (T, W) recording given without a dark level whose dimmest
    bin (its 1st percentile over time) stays above :data:`DARK_FLOOR_SHARE` of its brightest bin's
    median, or None."""
    sub = x[_rows(x.shape[0])]
    floor = float(np.percentile(sub, 1, axis=0).min())
    top = float(np.median(sub, axis=0).max())
    if not (top > 0 and floor > DARK_FLOOR_SHARE * top):
        return None
    return (
        f"no dark level was given, but the recording never comes near 0: its dimmest bin stays above {floor:.4g} "
        f"({floor / top:.0%} of its brightest bin's median); if that floor is the detector's dark level, it scales "
        "the sensor's trace and the other fitted changes down (by E / (E + dark) in each bin): give it with dark=..."
    )


def _filled(arr: Any) -> tuple[Any, int, str | None]:
    """``arr`` with its values that are not finite filled by interpolation over time
    (:func:`fluorodn.files.fill_nonfinite`), how many, and the UnmixWarning that says so (None
    where all are finite); what is not a 2D real array is given back for :func:`check_recording`
    to name."""
    from fluorodn._engine import masked_refusal
    from fluorodn._file_pipeline import fill_nonfinite

    if masked_refusal(arr) is not None:
        return arr, 0, None
    x = np.asarray(arr)
    if x.ndim != 2 or x.dtype.kind != "f" or x.size == 0:
        return arr, 0, None
    try:
        out, where = fill_nonfinite(x)
    except FluorodnError as err:
        raise UnmixError(str(err)) from None
    if where is None:
        return arr, 0, None
    rows = np.unique(where[0] // x.shape[1])
    n = len(where[0])
    first = ", ".join(str(int(r)) for r in rows[:3]) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
    return (
        out,
        n,
        (
            f"{n} value{'s' if n != 1 else ''} in {len(rows)} sample{'s' if len(rows) != 1 else ''} (at {first}, "
            "counting from 0) were NaN or infinite and were filled by interpolation over time before unmixing; the "
            "traces of those samples rest on the interpolated values"
        ),
    )


def _refuse_interleaved_rows(x: np.ndarray) -> None:
    """UnmixError where the rows of the (T, W) recording ``x`` alternate between light sources
    (:func:`fluorodn.formats.interleave.detect`): fitted as one recording, each sample's gain and
    traces would jump between the excitations. Detection that cannot tell refuses nothing."""
    from fluorodn.formats import interleave

    n = interleave.clear_count(x)
    if n > 1:
        raise UnmixError(
            f"the recording's rows alternate like {n} interleaved excitations (by their intensities or their "
            f"spectra); unmixing takes one at a time: from Python, unmix the rows of one (x[k::{n}], k from 0 to "
            f"{n - 1}); a spectrometer file's, with channel=k"
        )


def _still_bins(x: np.ndarray) -> np.ndarray:
    """(W,) bool: the bins of the (T, W) recording ``x`` that hold one value in all but at most 1 %
    of its samples (their 1st and 99th percentiles over evenly spaced rows agree, and the bin's
    values equal there): a dead or stuck pixel, or a bin that was NaN throughout and filled. Their
    noise reads 0, which would weigh them above every other bin of the fit together."""
    sub = x[_rows(x.shape[0])]
    lo, hi = np.percentile(sub, [1.0, 99.0], axis=0)
    return np.asarray(lo == hi)


def _still_message(wl: np.ndarray, still: np.ndarray, filled: bool) -> str:
    """The warning that the bins ``still`` of ``wl`` are left out of the fit."""
    at = ", ".join(f"{w:g}" for w in wl[still][:5]) + (f" and {int(still.sum()) - 5} more" if still.sum() > 5 else "")
    why = "a dead or stuck pixel" + (", or a bin that was NaN throughout and filled" if filled else "")
    n = int(still.sum())
    holds, are = ("holds", "is") if n == 1 else ("hold", "are")
    return (
        f"{n} of the recording's {wl.size} bins (at {at} nm) {holds} one value in nearly every sample ({why}) and "
        f"{are} left out of the fit; the traces come from the {int((~still).sum())} others"
    )


def _below_dark(x: np.ndarray, dark: np.ndarray, wl: np.ndarray) -> str | None:
    """The warning that the dark level given reaches the median of some of the recording's bins
    ``x`` (as recorded, before the dark level is subtracted) but not of all (then the fit refuses):
    they hold no signal above it, and the fit leaves them out; None where none does."""
    median = np.median(x[_rows(x.shape[0])], axis=0)
    under = median <= dark
    n = int(under.sum())
    if n == 0 or n == under.size:
        return None
    at = ", ".join(f"{w:g}" for w in wl[under][:5]) + (f" and {n - 5} more" if n > 5 else "")
    low = int(np.argmin(np.where(under, median - dark, np.inf)))  # the bin furthest below it
    return (
        f"the dark level given reaches the median of {n} of the recording's {wl.size} bins (at {at} nm; at "
        f"{wl[low]:g} nm the median is {float(median[low]):.6g} and the dark level {float(dark[low]):.6g}): they hold "
        "no signal above it and are left out of the fit; check the dark level (the counts the detector reports with "
        "the light off)"
    )


def _on_rows(values: np.ndarray, lit: np.ndarray) -> np.ndarray:
    """(T,) float64: ``values`` (one per lit sample) on the ``lit`` rows, NaN on the others."""
    out = np.full(len(lit), np.nan)
    out[lit] = values
    return out


def _light_off_message(lit: np.ndarray, denoising: bool) -> str:
    """The :class:`~fluorodn.LightOffNotice` of a recording whose rows ``lit`` reads as lit (False:
    taken with the light off): how many samples, where (0-based, the first three stretches), and
    that their rows of the result are NaN."""
    dark = [(a, b) for a, b, on in spectral.runs(lit) if not on]
    where = ", ".join(f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in dark[:3])
    more = f" and {len(dark) - 3} more stretches" if len(dark) > 3 else ""
    how = "denoised and unmixed" if denoising else "unmixed"
    return (
        f"{len(lit) - int(lit.sum())} of {len(lit)} samples read as taken with the light off (the detector's dark "
        f"level, at sample {where}{more}, counting from 0) carry no measurement: their sensor, hbo2, hb, offset, "
        f"gain and residual_rms are NaN (empty in a CSV table); the lit samples were {how} as one recording"
    )


def _rows(n: int) -> slice:
    """Evenly spaced rows (at most about :data:`_STAT_ROWS`) for the per-bin medians."""
    return slice(None, None, max(1, -(-n // _STAT_ROWS)))


def _typical_level(z: np.ndarray) -> float:
    """The median magnitude of the (T, W) recording ``z`` (dark level subtracted) over evenly spaced
    rows: the unit the fits work in; 1 where that is 0 or not finite."""
    level = float(np.median(np.abs(z[_rows(z.shape[0])])))
    return level if math.isfinite(level) and level > 0 else 1.0


def _noise_sigma(z: np.ndarray) -> np.ndarray:
    """(W,) robust noise std per bin: MAD of the sample-to-sample differences / sqrt(2)."""
    rows = _rows(z.shape[0] - 1)
    d = z[1:][rows] - z[:-1][rows]
    mad = np.median(np.abs(d - np.median(d, axis=0)), axis=0)
    sigma = 1.4826 * mad / math.sqrt(2.0)
    positive = sigma[sigma > 0]
    floor = 1e-6 * float(np.median(positive)) if positive.size else 1.0
    return np.maximum(sigma, floor)


def _linear_fit(
    z: np.ndarray, basis: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """Weighted log-linear fit of all samples at once.

    E is the median spectrum, corrected by the median residual of a first fit; both medians
    are taken over evenly spaced samples (at most about 8192). The offset enters the log only
    to first order, so the fit runs twice: the second time on the data minus the first fit's
    offset. Returns (coef (T, 5): log gain, sensor, hbo2, hb, offset / gain; emission (W,),
    0 in bins without signal; residual_rms (T,); the warning of :func:`_mixed_sensor` or None).
    """
    z = z.astype(np.float32)  # the full-size work in float32: log residuals are far above its rounding
    sub = z[_rows(z.shape[0])]
    emission = np.median(sub, axis=0).astype(np.float64)
    good = emission > 0
    if good.sum() < 5:
        raise UnmixError(
            f"only {int(good.sum())} wavelength bins hold signal above the dark level; unmixing needs at least 5 "
            "(check the dark level and that the recording is fluorescence)"
        )
    mixed = _mixed_sensor(*_weighted_design(emission, good, basis, noise)[1:])
    _, resid, _ = _solve(sub, emission, good, basis, noise)
    emission = np.where(good, emission * np.exp(np.median(resid, axis=0)), 0.0)
    coef, _, _ = _solve(z, emission, good, basis, noise, residuals=False)
    offset = coef[:, 4] * np.exp(coef[:, 0])
    z -= offset[:, None].astype(np.float32)
    coef, resid, sw = _solve(z, emission, good, basis, noise)
    coef[:, 4] += offset * np.exp(-coef[:, 0])
    w = (sw**2 / (sw**2).sum()).astype(np.float32)
    np.expm1(resid, out=resid)  # log residual -> (F - model) / model
    rms = np.sqrt(np.square(resid, out=resid) @ w).astype(np.float64)
    return coef, emission, rms, mixed


def _solve(
    z: np.ndarray,
    emission: np.ndarray,
    good: np.ndarray,
    basis: np.ndarray,
    noise: np.ndarray,
    *,
    residuals: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coef (T, 5), log residuals (T, W) or an empty array, sqrt of the bin weights (W,)) for a fixed E."""
    e, sw, design = _weighted_design(emission, good, basis, noise)
    pinv = np.linalg.pinv(design * sw[:, None])  # (5, W)
    e32 = e.astype(z.dtype)
    y = np.maximum(z, _LOG_FLOOR * e32)
    y /= e32
    np.log(y, out=y)
    coef = (y @ (pinv * sw).T.astype(z.dtype)).astype(np.float64)
    if not residuals:
        return coef, np.empty(0), sw
    y -= coef.astype(z.dtype) @ design.T.astype(z.dtype)
    y[:, ~good] = 0.0
    return coef, y, sw


def _weighted_design(
    emission: np.ndarray, good: np.ndarray, basis: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E with 1 in bins without signal, sqrt of the bin weights, the (W, 5) design) of the log fit."""
    e = np.where(good, emission, 1.0)
    sw = np.where(good, e / noise, 0.0)  # sqrt of the weights E^2 / sigma^2 (inverse variance of log F)
    return e, sw, np.column_stack([np.ones(len(e)), basis.T, 1.0 / e])


def _mixed_sensor(sw: np.ndarray, design: np.ndarray) -> str | None:
    """The warning for a sensor spectrum that is (nearly) a mix of the other terms' spectra, or None."""
    d = design * sw[:, None]
    others = np.delete(d, 1, axis=1)
    fit, *_ = np.linalg.lstsq(others, d[:, 1], rcond=None)
    left = d[:, 1] - others @ fit
    share = float(left @ left / max(d[:, 1] @ d[:, 1], 1e-300))
    if share >= 1e-3:
        return None
    return (
        "the sensor spectrum is almost a mix of the brightness, offset and hemoglobin spectra over these "
        f"wavelengths ({share:.1e} of it is distinct): its trace may be confounded with brightness, offset and "
        "hemoglobin changes, and its scale may be off; check it where those change (bleaching, movement, blood flow)"
    )


def _refine(
    z: np.ndarray,
    emission: np.ndarray,
    basis: np.ndarray,
    noise: np.ndarray,
    start: np.ndarray,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample Levenberg-Marquardt on the full model; returns (params (T, 5), residual_rms (T,))."""
    from scipy.optimize import least_squares

    good = emission > 0
    e = emission[good]
    inv = 1.0 / noise[good]
    expo = np.column_stack([np.ones(int(good.sum())), basis[:, good].T])  # (W', 4)
    zg = z[:, good]
    w = (e * inv) ** 2

    def residuals(p: np.ndarray, zt: np.ndarray) -> np.ndarray:
        return (zt - e * np.exp(expo @ p[:4]) - p[4]) * inv

    def jacobian(p: np.ndarray, zt: np.ndarray) -> np.ndarray:
        g = e * np.exp(expo @ p[:4])
        jac = np.empty((len(e), 5))
        jac[:, :4] = expo * (-g * inv)[:, None]
        jac[:, 4] = -inv
        return jac

    params = np.array(start, dtype=np.float64, copy=True)
    rms = np.empty(len(zg))
    block = 500
    for k, zt in enumerate(zg):
        sol = least_squares(
            residuals, params[k], jac=jacobian, args=(zt,), method="lm", x_scale="jac",
            ftol=REFINE_TOL, xtol=REFINE_TOL, gtol=REFINE_TOL,
        )  # fmt: skip
        params[k] = sol.x
        model = e * np.exp(expo @ sol.x[:4]) + sol.x[4]
        rel = (zt - model) / model
        rms[k] = math.sqrt(float(rel * rel @ w / w.sum()))
        if progress is not None and ((k + 1) % block == 0 or k + 1 == len(zg)):
            progress(k + 1, len(zg))
    return params, rms
