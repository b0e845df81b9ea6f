"""fluorodn.unmix: recovery of known traces, scipy parity of the refinement, speed, refusals, outputs."""

from __future__ import annotations

import importlib.util
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fluorodn
from benchmarks.sensor_check import weak_sensor
from fluorodn import hemoglobin
from fluorodn.cli._common import as_flags
from fluorodn.errors import OutputExistsError
from fluorodn.unmixing import (
    COLUMNS,
    LN10_PER_UM,
    REFINE_TOL,
    UnmixError,
    UnmixResult,
    read_sensor,
    recording_metadata,
    unmix,
    wavelength_grid,
)
from fluorodn.unmixing.fit import sensor_kept
from fluorodn.unmixing.inputs import UnmixWarning, sensor_on

spectra = pytest.importorskip("fluorodn_train.spectra")
synth = pytest.importorskip("fluorodn_train.synth")
tnoise = pytest.importorskip("fluorodn_train.noise")

FS = 5.0


def forward(n: int = 3000, seed: int = 0, noise_scale: float = 0.0, dark: float = 0.0) -> tuple[np.ndarray, dict]:
    """A recording made with the unmixing model itself (Prahl's hemoglobin), and its truth.

    Dynamics and spectra from fluorodn_train's generator; hemoglobin terms in µM·cm; gain with
    bleaching and movement steps; additive offsets that come and go (median 0).
    """
    rng = np.random.default_rng(seed)
    cfg = synth.SignalConfig()
    wl = spectra.wavelengths(152)
    e, s = spectra.emission(wl, rng), spectra.ligand_response(wl, rng)
    a, _, _ = synth.neuromodulator(rng, n, cfg)
    h1, h2 = (0.08 * synth.hemodynamics(rng, n, cfg) for _ in range(2))
    k_hbo2, k_hb = (LN10_PER_UM * v for v in hemoglobin.extinction(wl))
    steps = synth.SignalConfig(motion_rate_per_min=(1.0, 1.0))
    gain = np.exp(-np.arange(n) / FS / 3000.0) * (1.0 + synth.motion(rng, n, steps))
    i0 = 5000.0
    offset = np.zeros(n)
    for start in rng.integers(0, n - 30, 10):
        offset[start : start + rng.integers(3, 25)] += rng.normal(0.0, 0.03) * i0 * e.mean()
    photons = i0 * e * np.exp(np.outer(a, s) - np.outer(h1, k_hbo2) - np.outer(h2, k_hb)) * gain[:, None]
    x = photons + offset[:, None] + dark
    if noise_scale:
        x = x + tnoise.parametric_noise(rng, photons, noise_scale)
    return x, {"a": a, "hbo2": h1, "hb": h2, "gain": gain, "offset": offset, "wl": wl, "response": s}


def corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def nrmse(est: np.ndarray, true: np.ndarray) -> float:
    """RMS error after removing each trace's mean (the traces are relative to the typical state), / std(true)."""
    return float(np.sqrt(np.mean(((est - est.mean()) - (true - true.mean())) ** 2)) / true.std())


@pytest.fixture(scope="module")
def clean() -> tuple[np.ndarray, dict]:
    return forward()


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, dict]:
    return forward(noise_scale=0.3, seed=5)


# -- recovery ---------------------------------------------------------------------------


def test_linear_recovers_every_term_without_noise(clean: tuple[np.ndarray, dict]) -> None:
    x, tr = clean
    res = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False)
    assert nrmse(res.sensor, tr["a"]) < 0.03
    assert nrmse(res.hbo2, tr["hbo2"]) < 0.08 and nrmse(res.hb, tr["hb"]) < 0.05
    assert nrmse(res.offset, tr["offset"]) < 0.05
    ratio = res.gain / tr["gain"]  # gain is relative to the typical state: a constant factor
    assert ratio.std() / ratio.mean() < 1e-3
    assert np.median(res.residual_rms) < 1e-4
    assert res.time_s is None and not res.refined and res.denoised_with is None


def test_refine_recovers_every_term_without_noise(clean: tuple[np.ndarray, dict]) -> None:
    x, tr = clean
    res = unmix(x[:400], tr["wl"], (tr["wl"], tr["response"]), denoise=False, refine=True)
    for name in ("a", "hbo2", "hb", "offset"):
        est = res.sensor if name == "a" else getattr(res, name)
        assert nrmse(est, tr[name][:400]) < 2e-3, name
    assert res.refined


def test_recovers_sensor_and_hemoglobin_with_noise(noisy: tuple[np.ndarray, dict]) -> None:
    x, tr = noisy
    res = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False)
    assert corr(res.sensor, tr["a"]) > 0.995 and nrmse(res.sensor, tr["a"]) < 0.1
    assert abs(np.polyfit(tr["a"], res.sensor, 1)[0] - 1.0) < 0.02  # no dilution of a(t)
    assert corr(res.hbo2, tr["hbo2"]) > 0.75 and corr(res.hb, tr["hb"]) > 0.7
    assert corr(res.offset, tr["offset"]) > 0.93
    assert 0.003 < np.median(res.residual_rms) < 0.03


def test_recovers_sensor_from_the_training_generator() -> None:
    """clean_recording: fluorodn_train's own hemoglobin table and offsets; the dark level known."""
    rng = np.random.default_rng(3)
    rec = synth.clean_recording(rng, 3000, cfg=synth.SignalConfig(intensity=(1e4, 1e4)))
    dark = np.median(rec.clean - rec.photons, axis=0)
    sensor = (rec.wl, rec.response)
    res = unmix(rec.clean, rec.wl, sensor, denoise=False, dark=dark)
    assert corr(res.sensor, rec.a) > 0.995
    noisy = rec.clean + tnoise.parametric_noise(rng, rec.photons, 0.5)
    res = unmix(noisy, rec.wl, sensor, denoise=False, dark=dark, rate=FS)
    assert corr(res.sensor, rec.a) > 0.95
    np.testing.assert_allclose(res.time_s, np.arange(3000) / FS)


def test_dark_level_is_subtracted(clean: tuple[np.ndarray, dict]) -> None:
    x, tr = clean
    sensor = (tr["wl"], tr["response"])
    base = unmix(x, tr["wl"], sensor, denoise=False)
    shifted = unmix(x + 400.0, tr["wl"], sensor, denoise=False, dark=400.0)
    np.testing.assert_allclose(shifted.sensor, base.sensor, atol=1e-4)
    undone = unmix(x + 400.0, tr["wl"], sensor, denoise=False)  # dilutes the fractional changes
    assert np.std(undone.sensor) < 0.9 * np.std(base.sensor)


def test_a_dark_level_that_cannot_be_is_refused_and_one_above_some_bins_is_told(clean: tuple[np.ndarray, dict]) -> None:
    """A negative dark level (counts the detector reports with the light off) and one written with a
    decimal comma are refused in one sentence; one that reaches the median of some bins (which the
    fit then leaves out, as holding no signal above it) is warned of, naming them."""
    x, tr = clean
    sensor = (tr["wl"], tr["response"])
    with pytest.raises(UnmixError, match=r"light off, 0 or more, not -400$"):
        unmix(x, tr["wl"], sensor, denoise=False, dark=-400.0)
    with pytest.raises(UnmixError, match=r"1 of the 152 are negative \(the first: -1 at bin 3\)"):
        unmix(x, tr["wl"], sensor, denoise=False, dark=np.where(np.arange(152) == 3, -1.0, 0.0))
    with pytest.raises(
        UnmixError, match=r"the dark level 412,5 reads as no number: write it with a decimal point: 412.5$"
    ):
        unmix(x, tr["wl"], sensor, denoise=False, dark="412,5")
    with pytest.raises(
        UnmixError, match=r"write it 1000 where the comma separates thousands, 1.000 where it is decimal"
    ):
        unmix(x, tr["wl"], sensor, denoise=False, dark="1,000")
    from fluorodn.unmixing.inputs import stated_dark

    with pytest.raises(UnmixError, match=r"rec.tif states a dark level \(dark_counts\) that cannot be one: .* not -5$"):
        stated_dark({"dark_counts": -5.0}, 152, "rec.tif")
    median = np.median(x, axis=0)
    level = float(np.sort(median)[10])  # above the 10 dimmest bins' medians
    with pytest.warns(
        UnmixWarning, match=r"reaches the median of 1[01] of the recording's 152 bins .* left out of the fit"
    ):
        unmix(x, tr["wl"], sensor, denoise=False, dark=level)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unmix(x + 400.0, tr["wl"], sensor, denoise=False, dark=400.0)


@pytest.mark.parametrize("factor", [1e-18, 1e-15, 1e13, 1e20])
def test_the_units_of_the_values_change_nothing_but_the_emission_and_offset(
    noisy: tuple[np.ndarray, dict], factor: float
) -> None:
    """Counts times 1e-18 or 1e20 (a camera's or a spectrometer's own units) give the same traces,
    linear and refined, and the emission and offset in those units: the fits' conditioning does
    not follow the units."""
    x, tr = noisy
    sensor = (tr["wl"], tr["response"])
    for refine in (False, True):
        base = unmix(x[:300], tr["wl"], sensor, denoise=False, refine=refine)
        res = unmix(x[:300] * factor, tr["wl"], sensor, denoise=False, refine=refine)
        for name in ("sensor", "hbo2", "hb", "gain", "residual_rms"):
            ref = getattr(base, name)
            np.testing.assert_allclose(getattr(res, name), ref, rtol=0, atol=1e-6 * np.abs(ref).max(), err_msg=name)
        np.testing.assert_allclose(res.offset / factor, base.offset, rtol=0, atol=1e-6 * np.abs(base.offset).max())
        np.testing.assert_allclose(res.emission / factor, base.emission, rtol=1e-6)
    if factor > 1e18:  # beyond float32's range: the denoiser refuses it, said as the unmixing's error
        with pytest.raises(UnmixError, match=r"cannot be denoised before unmixing: input holds .* beyond the largest"):
            unmix(x[:300] * 1e36, tr["wl"], sensor, denoise=True)


def test_refine_equals_scipy_least_squares_on_the_full_model(noisy: tuple[np.ndarray, dict]) -> None:
    from scipy.optimize import least_squares

    x, tr = noisy
    x = x[:40]
    sensor = (tr["wl"], tr["response"])
    start = unmix(x, tr["wl"], sensor, denoise=False)
    res = unmix(x, tr["wl"], sensor, denoise=False, refine=True)
    np.testing.assert_array_equal(res.emission, start.emission)
    e, sigma = res.emission, res.noise

    def model(p: np.ndarray) -> np.ndarray:
        expo = p[0] + p[1] * res.response - p[2] * res.hbo2_spectrum - p[3] * res.hb_spectrum
        return e * np.exp(expo) + p[4]

    def cost(p: np.ndarray, t: int) -> float:
        return float(np.sum(((x[t] - model(p)) / sigma) ** 2))

    tol = {"ftol": REFINE_TOL, "xtol": REFINE_TOL, "gtol": REFINE_TOL}
    for t in range(len(x)):
        p0 = [np.log(start.gain[t]), start.sensor[t], start.hbo2[t], start.hb[t], start.offset[t]]
        # scipy with its own finite-difference Jacobian: the same minimum, reached by another path
        ref = least_squares(lambda p, t=t: (x[t] - model(p)) / sigma, p0, method="lm", **tol).x
        got = np.array([np.log(res.gain[t]), res.sensor[t], res.hbo2[t], res.hb[t], res.offset[t]])
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)  # offset: the flattest direction
        np.testing.assert_allclose(got[1:4], ref[1:4], rtol=1e-6, atol=1e-6)  # sensor and hemoglobin
        assert cost(got, t) <= cost(ref, t) * (1 + 1e-9)
        assert cost(got, t) < cost(np.asarray(p0), t)
        fitted = model(ref)
        rel = (x[t] - fitted) / fitted
        w = (e / sigma) ** 2
        assert res.residual_rms[t] == pytest.approx(np.sqrt(rel**2 @ w / w.sum()), rel=1e-6)


def test_refine_reports_progress(noisy: tuple[np.ndarray, dict]) -> None:
    x, tr = noisy
    calls: list[tuple[int, int]] = []
    unmix(x[:600], tr["wl"], (tr["wl"], tr["response"]), denoise=False, refine=True,
          progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert calls[-1] == (600, 600) and all(t == 600 for _, t in calls)


def test_linear_unmix_of_a_long_recording_is_fast() -> None:
    """44156 x 152 (a 2.5 h session at 5 Hz): well under a second on an idle machine.

    Measured as CPU time (this process, all its threads), which other jobs on a shared machine
    do not inflate the way they inflate wall time; 3 s is a loose bound.
    """
    x, tr = forward(n=44156, seed=2, noise_scale=0.3)
    x = x.astype(np.float32)
    sensor = (tr["wl"], tr["response"])
    unmix(x[:500], tr["wl"], sensor, denoise=False)  # imports and first-call costs
    best = min(_timed(lambda: unmix(x, tr["wl"], sensor, denoise=False)) for _ in range(2))
    assert best < 3.0, f"{best:.2f} s"


def _timed(fn: Any) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def test_denoise_first_with_a_given_denoiser(noisy: tuple[np.ndarray, dict], denoiser: Any) -> None:
    x, tr = noisy
    x = x[:500]
    raw = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False)
    res = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=denoiser)
    assert res.denoised_with == "tiny"
    np.testing.assert_array_equal(res.noise, raw.noise)  # weights from the input as given
    assert not np.allclose(res.sensor, raw.sensor)


def test_the_provenance_names_the_model_the_dark_level_and_the_sensor_spectrum(noisy: tuple[np.ndarray, dict]) -> None:
    """What an NWB file's notes hold: fluorodn's version, the model that denoised (sha256, settings),
    the dark level subtracted, and the sensor's response on the recording's wavelengths."""
    import json

    from fluorodn import Denoiser, DenoiserOptions

    x, tr = noisy
    dn = Denoiser(options=DenoiserOptions(strength=0.6))
    res = unmix(x[:300], tr["wl"], (tr["wl"], tr["response"]), denoise=dn, dark=np.linspace(10.0, 20.0, 152))
    record = res.provenance()
    json.dumps(record, allow_nan=False)
    assert record["fluorodn"] == fluorodn.__version__ and record["refined"] is False
    assert record["denoising"]["model"] == dn.name and record["denoising"]["model_sha256"] == dn.sha256
    assert record["denoising"]["settings"]["strength"] == 0.6
    np.testing.assert_allclose(record["dark_level_counts"], np.linspace(10.0, 20.0, 152))
    np.testing.assert_allclose(record["sensor_response"]["wavelength_nm"], tr["wl"])
    np.testing.assert_allclose(record["sensor_response"]["dff"], tr["response"])
    plain = unmix(x[:300], tr["wl"], (tr["wl"], tr["response"]), denoise=False, dark=400.0).provenance()
    assert plain["denoising"] is None and plain["dark_level_counts"] == 400.0


def test_denoise_true_uses_the_default_model(noisy: tuple[np.ndarray, dict]) -> None:
    x, tr = noisy
    x, a = x[:1500], tr["a"][:1500]
    res = unmix(x, tr["wl"], (tr["wl"], tr["response"]))
    assert res.denoised_with == fluorodn.Denoiser().name
    assert corr(res.sensor, a) > 0.97


def test_a_short_recording_is_denoised_as_a_recording(noisy: tuple[np.ndarray, dict]) -> None:
    """What unmix denoises is a recording: one of 200 or 60 samples x 152 bins (not twice as long as
    wide) takes the default's spectral path, as ``Denoiser().run(x, recording=True)`` (and the bare
    array, whose rows are one spectrum), not the image model its shape alone would give it, and the
    result names the model that ran."""
    x, tr = noisy
    assert x.shape[1] == 152
    den = fluorodn.Denoiser()

    class Given:  # any object with a run method denoises as given
        def __init__(self, recording: bool) -> None:
            self.name, self.recording = "given", recording

        def run(self, arr: np.ndarray) -> np.ndarray:
            return den.run(arr, recording=self.recording)

    for t, name in ((200, "spectral"), (60, "spectral")):
        res = unmix(x[:t], tr["wl"], (tr["wl"], tr["response"]))
        assert res.denoised_with == name
        np.testing.assert_array_equal(
            res.sensor, unmix(x[:t], tr["wl"], (tr["wl"], tr["response"]), denoise=Given(True)).sensor
        )
    looked = unmix(x[:200], tr["wl"], (tr["wl"], tr["response"]), denoise=Given(False))
    known = unmix(x[:200], tr["wl"], (tr["wl"], tr["response"]), denoise=Given(True))
    np.testing.assert_array_equal(looked.sensor, known.sensor)
    image = fluorodn.Denoiser("low")
    by_shape = unmix(x[:200], tr["wl"], (tr["wl"], tr["response"]), denoise=image)
    assert by_shape.denoised_with == "low" and not np.allclose(by_shape.sensor, known.sensor)


def test_a_rate_below_training_is_said_to_be(noisy: tuple[np.ndarray, dict]) -> None:
    """Denoised by the spectral model at a stated rate under LOW_RATE_HZ, unmix warns once, naming
    the rate; at 5 Hz, without a rate, or without denoising it does not; the traces are the same."""
    import warnings

    from fluorodn.errors import OutOfDomainWarning

    x, tr = noisy
    said = {}
    for rate, denoise in ((2.0, True), (5.0, True), (None, True), (2.0, False)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = unmix(x[:300], tr["wl"], (tr["wl"], tr["response"]), denoise=denoise, rate=rate)
        said[rate, denoise] = [str(c.message) for c in caught if "sampled at" in str(c.message)]
        assert all(issubclass(c.category, OutOfDomainWarning) for c in caught if "sampled at" in str(c.message))
        if (rate, denoise) == (2.0, True):
            slow = res
        if (rate, denoise) == (5.0, True):
            np.testing.assert_array_equal(res.sensor, slow.sensor)
    assert len(said[2.0, True]) == 1 and "sampled at 2 Hz" in said[2.0, True][0]
    assert said[5.0, True] == said[None, True] == said[2.0, False] == []


def test_input_is_not_modified(noisy: tuple[np.ndarray, dict]) -> None:
    x, tr = noisy
    x = x[:200].copy()
    before = x.copy()
    unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False, dark=10.0, refine=True)
    np.testing.assert_array_equal(x, before)


def test_integer_counts_and_descending_wavelengths(noisy: tuple[np.ndarray, dict]) -> None:
    x, tr = noisy
    counts = np.clip(np.rint(x[:800]), 0, 65535).astype(np.uint16)
    up = unmix(counts, tr["wl"], (tr["wl"], tr["response"]), denoise=False)
    down = unmix(counts[:, ::-1], tr["wl"][::-1], (tr["wl"], tr["response"]), denoise=False)
    np.testing.assert_allclose(down.sensor, up.sensor, rtol=1e-4, atol=1e-5)


def test_flat_sensor_spectrum_warns() -> None:
    """The warning says the trace may be confounded with the other terms, not that it is lost: such
    sensors are often recovered well (0.97-0.99 correlation in three of four generator draws)."""
    x, tr = forward(n=300)
    with pytest.warns(UserWarning, match="may be confounded with brightness, offset and hemoglobin changes") as got:
        unmix(x, tr["wl"], (tr["wl"], np.full(152, 0.02)), denoise=False)
    assert "cannot be told apart" not in str(got[0].message) and "its scale may be off" in str(got[0].message)


# -- no dark level given ------------------------------------------------------------------


def test_a_recording_on_a_floor_without_a_dark_level_is_noted() -> None:
    """Without ``dark``, a recording that never comes near 0 gets one DarkLevelNotice giving its floor
    (the smallest 1st percentile over time of any bin) and that floor's share of the brightest bin's
    median: left in, a dark level scales the sensor's trace down. A dark level given (0 included),
    or a recording whose dimmest bin comes near 0, gets none."""
    from fluorodn.unmixing import DarkLevelNotice

    x, tr = forward(n=300, seed=2, noise_scale=0.3, dark=600.0)
    sensor = (tr["wl"], tr["response"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        left_in = unmix(x, tr["wl"], sensor, denoise=False)
    notes = [str(w.message) for w in caught if issubclass(w.category, DarkLevelNotice)]
    floor = np.percentile(x, 1, axis=0).min()
    share = floor / np.median(x, axis=0).max()
    assert len(notes) == 1 and f"its dimmest bin stays above {floor:.4g} ({share:.0%} of" in notes[0], notes
    assert "scales the sensor's trace" in notes[0] and notes[0].endswith("give it with dark=...")
    subtracted = unmix(x, tr["wl"], sensor, denoise=False, dark=600.0)
    slope = np.polyfit(subtracted.sensor, left_in.sensor, 1)[0]
    assert slope < 0.8  # what the notice is about: the trace comes out smaller
    for given in ({"dark": 600.0}, {"dark": 0.0}):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            unmix(x, tr["wl"], sensor, denoise=False, **given)
    near_zero, _ = forward(n=300, seed=2, noise_scale=0.3)  # its dimmest bin: 0.2 % of the brightest
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unmix(near_zero, tr["wl"], sensor, denoise=False)


# -- samples taken with the light off ----------------------------------------------------


@pytest.fixture(scope="module")
def light_off() -> tuple[np.ndarray, dict]:
    """300 samples above a dark level of 300 counts, the first 25 taken with the light off (the
    dark level and read noise)."""
    x, tr = forward(n=300, seed=6, noise_scale=0.3, dark=300.0)
    x[:25] = 300.0 + np.random.default_rng(6).normal(0.0, 3.0, (25, x.shape[1]))
    return x, tr


TRACES = ("sensor", "hbo2", "hb", "offset", "gain", "residual_rms")


@pytest.mark.parametrize(("denoise", "refine"), [(False, False), (True, False), (False, True)])
def test_samples_taken_with_the_light_off_carry_no_measurement(
    light_off: tuple[np.ndarray, dict], denoise: bool, refine: bool
) -> None:
    """The dark samples are NaN in every trace, counted, and named in one LightOffNotice (the
    Denoiser, given the lit samples only, adds none); the lit samples are fitted as the lit part
    of the recording alone is."""
    x, tr = light_off
    sensor = (tr["wl"], tr["response"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unmix(x, tr["wl"], sensor, denoise=denoise, refine=refine, dark=300.0, rate=FS)
    notices = [str(w.message) for w in caught if issubclass(w.category, fluorodn.LightOffNotice)]
    assert len(notices) == 1 and notices[0].startswith("25 of 300 samples read as taken with the light off")
    assert "at sample 0-24," in notices[0] and "are NaN" in notices[0]
    assert res.dark_samples == 25
    alone = unmix(x[25:], tr["wl"], sensor, denoise=denoise, refine=refine, dark=300.0, rate=FS)
    assert alone.dark_samples == 0
    for name in TRACES:
        values = getattr(res, name)
        assert values.shape == (300,) and np.isnan(values[:25]).all(), name
        np.testing.assert_allclose(values[25:], getattr(alone, name), rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(res.emission, alone.emission, rtol=1e-12)
    np.testing.assert_allclose(res.noise, alone.noise, rtol=1e-12)
    np.testing.assert_allclose(res.time_s, np.arange(300) / FS)  # the dark samples keep their times
    assert corr(res.sensor[25:], tr["a"][25:]) > 0.9


@pytest.mark.parametrize("dark", [300.0, None])
@pytest.mark.parametrize("dark_rows", [slice(100, 700), slice(0, 600)])
def test_a_long_stretch_with_the_light_off_carries_no_measurement_either(dark_rows: slice, dark: float | None) -> None:
    """A stretch with the light off longer than the Denoiser sets aside (600 samples, in the middle
    or the first half of the recording) is NaN and named as a short one is: no values made up at
    the fit's floor, and the lit samples' gain about 1 (their typical spectrum not taken over the
    dark ones). Without the dark level, by its spectrum: it holds none beside the lit samples'."""
    x, tr = forward(n=1200, seed=6, noise_scale=0.3, dark=300.0)
    n = dark_rows.stop - dark_rows.start
    x[dark_rows] = 300.0 + np.random.default_rng(6).normal(0.0, 3.0, (n, x.shape[1]))
    sensor = (tr["wl"], tr["response"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unmix(x, tr["wl"], sensor, denoise=False, dark=dark, rate=FS)
    notices = [str(w.message) for w in caught if issubclass(w.category, fluorodn.LightOffNotice)]
    assert len(notices) == 1 and notices[0].startswith(f"{n} of 1200 samples read as taken with the light off")
    assert res.dark_samples == n and np.isnan(res.sensor[dark_rows]).all() and np.isnan(res.gain[dark_rows]).all()
    lit = np.ones(1200, bool)
    lit[dark_rows] = False
    assert np.isfinite(res.sensor[lit]).all() and abs(np.median(res.gain[lit]) - 1.0) < 0.05
    assert corr(res.sensor[lit], tr["a"][lit]) > 0.9


def test_a_recording_dark_in_nearly_all_its_samples_is_fitted_on_its_lit_ones_or_refused() -> None:
    """The light on for 60 of 1200 samples (beyond the share the quantiles find): the other 1140 are
    NaN and named, the lit ones fitted as they are alone; on for 2: refused in one sentence, with no
    numpy warning on the way."""
    x, tr = forward(n=1200, seed=6, noise_scale=0.3, dark=300.0)
    x[60:] = 300.0 + np.random.default_rng(6).normal(0.0, 3.0, (1140, x.shape[1]))
    sensor = (tr["wl"], tr["response"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unmix(x, tr["wl"], sensor, denoise=False, dark=300.0, rate=FS)
    notices = [str(w.message) for w in caught if issubclass(w.category, fluorodn.LightOffNotice)]
    assert len(notices) == 1 and notices[0].startswith("1140 of 1200 samples read as taken with the light off")
    assert res.dark_samples == 1140 and np.isnan(res.sensor[60:]).all()
    alone = unmix(x[:60], tr["wl"], sensor, denoise=False, dark=300.0, rate=FS)
    np.testing.assert_allclose(res.sensor[:60], alone.sensor, rtol=1e-12, atol=1e-12)
    x[2:60] = x[60:118]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnmixError, match=r"^2 of the recording's 1200 samples were taken with the light on"):
            unmix(x, tr["wl"], sensor, dark=300.0, rate=FS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_dim_recording_lit_throughout_is_not_taken_for_dark_with_its_dark_level_given(seed: int) -> None:
    """A faint line (peak 4 x the noise) on a wide detector (2048 bins), lit throughout: its row
    means sit near the dark level given, and split by their noise alone; every row stays lit."""
    from fluorodn.spectral import lit_mask

    rng = np.random.default_rng(seed)
    t, w = 3000, 2048
    line = np.exp(-0.5 * ((np.arange(w) - 700) / 25.0) ** 2)
    x = 1000.0 + 40.0 * line * (1 + 0.05 * np.sin(np.arange(t) / 200.0))[:, None] + rng.normal(0.0, 10.0, (t, w))
    assert lit_mask(x, dark=1000.0).all()


def test_excitation_turned_down_for_long_is_fitted_not_taken_for_dark() -> None:
    """A stretch longer than the Denoiser sets aside, with the excitation at 40 % (far above the
    dark level given), is fitted by its gain, not taken with the light off; one at the dark level
    is."""
    from benchmarks.sensor_check import weak_sensor

    x, wl, a = weak_sensor(1.0, 3)
    dim = x.copy()
    dim[1000:2000] = 500.0 + 0.4 * (dim[1000:2000] - 500.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fluorodn.UnmixWarning)
        res = unmix(dim, wl, "example", denoise=False, dark=500.0)
        # without the dark level: its spectrum keeps its shape
        assert unmix(dim, wl, "example", denoise=False).dark_samples == 0
    assert res.dark_samples == 0 and np.isfinite(res.sensor).all()
    assert np.median(res.gain[1000:2000]) == pytest.approx(0.4 * np.median(res.gain[:1000]), rel=0.05)
    assert corr(res.sensor, a) > 0.6  # the raw trace's at this noise: about 0.7
    dark = x.copy()
    dark[1000:2000] = 500.0 + np.random.default_rng(0).normal(0.0, 3.0, (1000, x.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fluorodn.LightOffNotice)
        assert unmix(dark, wl, "example", denoise=False, dark=500.0).dark_samples == 1000


def test_sensor_kept_compares_the_slow_changes_of_two_traces() -> None:
    """About 1 where the second trace keeps the first's slow changes and drops its white noise, the
    share left where it shrinks them, about 0 where it holds slow changes of its own instead; None
    where the first holds no slow change above its noise or a block is too short."""
    rng = np.random.default_rng(0)

    def smooth(n: int) -> np.ndarray:
        return np.convolve(rng.normal(size=n), np.ones(20) / 20.0, mode="same") * 3.0

    slow = smooth(4096)
    before = slow + rng.normal(size=4096)
    assert sensor_kept(before, slow) == pytest.approx(1.0, abs=0.1)
    assert sensor_kept(before, 0.3 * slow) == pytest.approx(0.3, abs=0.05)
    assert sensor_kept(before, slow, [1024] * 4) == pytest.approx(1.0, abs=0.1)
    assert sensor_kept(before, 0.03 * slow + smooth(4096)) == pytest.approx(0.03, abs=0.1)
    assert sensor_kept(rng.normal(size=4096), slow) is None
    assert sensor_kept(before[:60], slow[:60]) is None
    assert sensor_kept(before[:400], slow[:400], [300, 100]) == pytest.approx(1.0, abs=0.25)  # blocks of two sizes
    with pytest.raises(ValueError, match="the blocks hold 300 samples"):
        sensor_kept(before[:400], slow[:400], [300])


@pytest.mark.parametrize("seed", [10, 11])
def test_denoising_that_removes_the_sensors_changes_is_told(seed: int) -> None:
    """Where the sensor's response is weak against the noise, the default denoising removes most
    of it (the denoised trace's slope on a(t) under 0.2, the raw one's about 1): one UnmixWarning
    says so; at a quarter of that noise, and without denoising, none."""
    x, wl, a = weak_sensor(3.5, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unmix(x, wl, "example", dark=500.0)
    told = [str(w.message) for w in caught if issubclass(w.category, fluorodn.UnmixWarning)]
    assert len(told) == 1 and told[0].startswith("denoising removed most of the sensor's slow changes")
    assert told[0].endswith("unmix without denoising too (denoise=False) and compare")
    assert as_flags(told[0]).endswith("unmix without denoising too (--no-denoise) and compare")
    assert np.polyfit(a, res.sensor, 1)[0] < 0.2 and res.sensor_kept is not None and res.sensor_kept < 0.3
    assert res.provenance()["sensor_kept"] == res.sensor_kept
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = unmix(x, wl, "example", dark=500.0, denoise=False)
    assert not [w for w in caught if issubclass(w.category, fluorodn.UnmixWarning)]
    assert abs(np.polyfit(a, raw.sensor, 1)[0] - 1.0) < 0.1 and raw.sensor_kept is None
    x, wl, a = weak_sensor(1.0, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = unmix(x, wl, "example", dark=500.0).sensor_kept
    assert not [w for w in caught if issubclass(w.category, fluorodn.UnmixWarning)]
    assert kept is not None and kept > 0.8


def test_nan_fill_interpolates_over_time_and_says_where() -> None:
    """nan='fill': the values that are not finite are filled by interpolation over time, one
    UnmixWarning names how many and the samples, ``filled_values`` and the provenance count them,
    and the traces match those of the recording with the same values interpolated by hand; the
    default refuses, saying how to fill."""
    from fluorodn.files import fill_nonfinite

    x, tr = forward(n=300, seed=3, noise_scale=0.3)
    x[100, 5:9] = np.nan
    x[200, 50] = np.inf
    sensor = (tr["wl"], tr["response"])
    with pytest.raises(UnmixError, match="holds NaN or infinite values; pass nan='fill'"):
        unmix(x, tr["wl"], sensor, denoise=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unmix(x, tr["wl"], sensor, denoise=False, nan="fill")
    told = [str(w.message) for w in caught if issubclass(w.category, fluorodn.UnmixWarning)]
    assert len(told) == 1 and told[0].startswith("5 values in 2 samples (at 100, 200, counting from 0) were NaN")
    assert res.filled_values == 5 and res.provenance()["filled_values"] == 5
    assert np.isfinite(res.sensor).all()
    by_hand = unmix(fill_nonfinite(x)[0], tr["wl"], sensor, denoise=False)
    np.testing.assert_allclose(res.sensor, by_hand.sensor, rtol=1e-12, atol=1e-12)
    with pytest.raises(UnmixError, match="nan is 'refuse' or 'fill', not 'zero'"):
        unmix(x, tr["wl"], sensor, denoise=False, nan="zero")


def test_peak_kept_judges_a_trace_s_largest_local_change() -> None:
    """The share of the raw trace's largest departure from its baseline that the second trace keeps
    there (about 1 kept, 0.2 where shrunk to a fifth), where it stands far out of the noise; None for
    noise alone, for a slow drift (bleaching) with noise, or a trace shorter than the baseline's
    window."""
    from fluorodn.unmixing.fit import PEAK_BASE, peak_kept

    rng = np.random.default_rng(0)
    n = np.arange(3000)
    event = np.where(n >= 1500, (1.0 - np.exp(-(n - 1500) / 2.0)) * np.exp(-(n - 1500) / 15.0), 0.0) * 6.0
    drift = 20.0 * np.exp(-n / 800.0)
    noise = rng.normal(size=3000)
    share, row, size = peak_kept(drift + event + noise, drift + event)
    assert share == pytest.approx(1.0, abs=0.15) and 1495 <= row <= 1530 and size > 10
    assert peak_kept(drift + event + noise, drift + 0.2 * event)[0] == pytest.approx(0.2, abs=0.1)
    assert peak_kept(drift + noise, drift) is None
    assert peak_kept(noise, np.zeros(3000)) is None
    assert peak_kept((event + noise)[1400 : 1400 + PEAK_BASE - 1], event[1400 : 1400 + PEAK_BASE - 1]) is None


def test_a_lone_event_denoising_damps_is_told_where_it_is() -> None:
    """One release in a quiet 10-minute recording: the spectral path takes the sensor's spectrum for
    noise and keeps a tenth of the event (the raw trace all of it); one UnmixWarning names the sample
    and time of the change; without denoising, and on a recording of many such events, none."""
    from benchmarks.sensor_check import LONE_ONSET, lone_event

    x, wl, a = lone_event(0.6, 15.0, 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unmix(x, wl, "example", dark=500.0, rate=5.0)
    told = [str(w.message) for w in caught if issubclass(w.category, fluorodn.UnmixWarning)]
    assert len(told) == 1 and told[0].startswith("denoising damped the sensor's largest change: around sample 15")
    sample, seconds = re.search(r"around sample (\d+) \(([\d.]+) s\)", told[0]).groups()  # type: ignore[union-attr]
    assert LONE_ONSET <= int(sample) <= LONE_ONSET + 30 and float(seconds) == pytest.approx(int(sample) / 5.0)
    assert as_flags(told[0]).endswith("(--no-denoise) and compare")
    window = slice(LONE_ONSET, LONE_ONSET + 30)
    base = np.median(res.sensor[LONE_ONSET - 100 : LONE_ONSET])
    assert (res.sensor[window] - base) @ a[window] / (a[window] @ a[window]) < 0.3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unmix(x, wl, "example", dark=500.0, denoise=False)
    assert not [w for w in caught if issubclass(w.category, fluorodn.UnmixWarning)]
    x, wl, a = weak_sensor(1.0, 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unmix(x, wl, "example", dark=500.0)
    assert not [w for w in caught if issubclass(w.category, fluorodn.UnmixWarning)]


def test_a_recording_without_dark_samples_has_no_nan(small: tuple[np.ndarray, dict]) -> None:
    x, tr = small
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False, rate=FS)
    assert not [w for w in caught if issubclass(w.category, fluorodn.LightOffNotice)]
    assert res.dark_samples == 0
    assert all(np.isfinite(getattr(res, name)).all() for name in TRACES)
    assert all(np.isfinite(v).all() for v in res.columns().values())


def test_dark_samples_at_a_floor_are_not_clipping(light_off: tuple[np.ndarray, dict]) -> None:
    """Dark samples that sit at one value (a detector that clips its dark level at 0) are not read
    as clipped: they are not fitted."""
    x, tr = light_off
    floor = x.copy()
    floor[:25] = 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unmix(floor, tr["wl"], (tr["wl"], tr["response"]), denoise=False, dark=300.0)
    assert [w.category for w in caught] == [fluorodn.LightOffNotice], [str(w.message)[:60] for w in caught]
    assert res.dark_samples == 25


def test_refuses_fewer_than_three_lit_samples(small: tuple[np.ndarray, dict]) -> None:
    x, tr = small
    off = np.random.default_rng(0).normal(0.0, 3.0, (1, x.shape[1]))  # the light off, no dark level
    three = np.vstack([off, x[:2]])
    with pytest.raises(UnmixError, match="2 of the recording's 3 samples were taken with the light on"):
        unmix(three, tr["wl"], (tr["wl"], tr["response"]), denoise=False)


def test_outputs_of_samples_taken_with_the_light_off(light_off: tuple[np.ndarray, dict], tmp_path: Path) -> None:
    """The table leaves the dark samples' traces empty (CSV) or null (Parquet), their times kept;
    GuPPy's files leave out the dark samples before the first lit one (GuPPy counts rows from its
    first), without a warning."""
    from fluorodn.formats.guppy import write_unmixed

    x, tr = light_off
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fluorodn.LightOffNotice)
        res = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False, dark=300.0, rate=FS)
    lines = res.to_csv(tmp_path / "u.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1] == "0,0,,,,,,"
    assert lines[25].startswith("24,4.8,,") and all(lines[26].split(","))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = write_unmixed(res, tmp_path / "guppy")
    assert [f.name for f in files] == ["sensor_ff0.csv", "sensor.csv", "hbo2.csv", "hb.csv", "offset.csv", "gain.csv"]
    for f in files:
        rows = f.read_text(encoding="utf-8").splitlines()
        assert rows[0] == "timestamps,data,sampling_rate" and len(rows) == 1 + 275
        assert rows[1].startswith("5,") and rows[1].endswith(",5") and rows[2].endswith(",")
        assert "nan" not in f.read_text(encoding="utf-8").lower()
    guppy = np.genfromtxt(tmp_path / "guppy" / "sensor.csv", delimiter=",", skip_header=1)
    np.testing.assert_allclose(guppy[:, 0], np.arange(25, 300) / FS)
    np.testing.assert_allclose(guppy[:, 1], res.sensor[25:], rtol=1e-8)
    signal = np.genfromtxt(tmp_path / "guppy" / "sensor_ff0.csv", delimiter=",", skip_header=1)
    scale = np.abs(tr["response"]).max()  # F/F0 = 1 + the sensor's largest dF/F per unit x its trace
    np.testing.assert_allclose(signal[:, :2], np.column_stack([guppy[:, 0], 1.0 + scale * guppy[:, 1]]), atol=1e-8)
    if importlib.util.find_spec("pyarrow") is not None:
        import pyarrow.parquet as pq

        table = pq.read_table(res.to_parquet(tmp_path / "u.parquet"))
        assert table.column("sensor").null_count == 25 and table.column("time_s").null_count == 0


def guppy_index(t: float, t0: float, rate: float) -> int:
    """The row GuPPy's PSTH takes for an event at ``t`` (compute_psth: ``int(round((t - t0) * rate))``)."""
    return round((t - t0) * rate)


def test_guppy_files_bridge_light_off_samples_inside_the_recording(
    light_off: tuple[np.ndarray, dict], tmp_path: Path
) -> None:
    """Samples taken with the light off between lit ones keep their rows in GuPPy's files, with values
    interpolated between the lit neighbours (a warning names them), so that GuPPy, which finds an
    event's row by counting, finds the row of the event's time after the stretch as before it."""
    from fluorodn.formats.guppy import write_unmixed

    x, tr = light_off
    x = x.copy()
    x[150:170] = x[:20]  # the light off again, inside the recording
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fluorodn.LightOffNotice)
        res = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False, dark=300.0, rate=FS)
    with pytest.warns(UserWarning, match="GuPPy places events by counting rows") as got:
        write_unmixed(res, tmp_path / "guppy")
    message = str(got[0].message)
    assert "the 20 samples taken with the light off at sample 150-169 (counting from 0)" in message
    assert "interpolated linearly between their lit neighbours" in message and "the 25 light-off samples" in message
    rows = np.genfromtxt(tmp_path / "guppy" / "sensor.csv", delimiter=",", skip_header=1)
    times, data, rate = rows[:, 0], rows[:, 1], rows[0, 2]
    np.testing.assert_allclose(times, np.arange(25, 300) / FS)
    for t in (40.0, 29.0, 34.0, 59.8):  # events before, inside and after the stretch
        assert times[guppy_index(t, times[0], rate)] == pytest.approx(t)
    np.testing.assert_allclose(data[np.r_[0:125, 145:275]], res.sensor[np.r_[25:150, 170:300]], rtol=1e-8)
    bridge = np.interp(np.arange(150, 170), [149, 170], res.sensor[[149, 170]])
    np.testing.assert_allclose(data[125:145], bridge, rtol=1e-8)
    assert np.isfinite(np.genfromtxt(tmp_path / "guppy" / "gain.csv", delimiter=",", skip_header=1)[:, 1]).all()


def test_guppy_timestamps_are_on_the_files_own_clock(small: tuple[np.ndarray, dict], tmp_path: Path) -> None:
    """GuPPy takes CSV timestamps on the acquisition clock (its events too): a result whose file's
    clock starts at 100 s gets timestamps from 100 s."""
    import dataclasses

    from fluorodn.formats.guppy import write_unmixed

    x, tr = small
    res = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False, dark=0.0, rate=FS)
    write_unmixed(dataclasses.replace(res, time_origin_s=100.0), tmp_path)
    rows = np.genfromtxt(tmp_path / "sensor_ff0.csv", delimiter=",", skip_header=1)
    np.testing.assert_allclose(rows[:, 0], 100.0 + np.arange(300) / FS, atol=1e-9)


def test_guppy_signal_at_or_below_zero_is_named(small: tuple[np.ndarray, dict], tmp_path: Path) -> None:
    """sensor_ff0 (1 + max|S| x sensor) is GuPPy's positive, fluorescence-like signal; where it drops
    to 0 or below (a dF/F below -100 %) it is not, and a warning says so."""
    import dataclasses

    from fluorodn.formats.guppy import write_unmixed

    x, tr = small
    res = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False, dark=0.0, rate=FS)
    scale = np.abs(tr["response"]).max()
    with pytest.warns(UserWarning, match=r"sensor_ff0\.csv \(1 \+ .* x sensor\) drops to -0\.5, where no fluor"):
        write_unmixed(dataclasses.replace(res, sensor=np.r_[-1.5 / scale, res.sensor[1:]]), tmp_path)
    assert np.genfromtxt(tmp_path / "sensor_ff0.csv", delimiter=",", skip_header=1)[0, 1] == pytest.approx(-0.5)


def test_guppy_refuses_a_trace_with_nan(tmp_path: Path) -> None:
    from fluorodn.errors import FileFormatError
    from fluorodn.formats.guppy import write_guppy

    with pytest.raises(FileFormatError, match="trace 'sensor' holds 1 NaN or infinite values, which GuPPy drops"):
        write_guppy(tmp_path, {"sensor": np.r_[np.nan, np.ones(4)]}, np.arange(5) / FS)
    assert not list(tmp_path.iterdir())


# -- inputs ------------------------------------------------------------------------------


def test_wavelength_specs(tmp_path: Path) -> None:
    np.testing.assert_allclose(wavelength_grid("477:595.4", 5), np.linspace(477, 595.4, 5))
    np.testing.assert_allclose(wavelength_grid(" 477 : 595 ", 3), [477, 536, 595])
    path = tmp_path / "wl.csv"
    path.write_text("wavelength_nm\n500\n501.5\n503\n", encoding="utf-8")
    np.testing.assert_allclose(wavelength_grid(path, 3), [500, 501.5, 503])
    np.testing.assert_allclose(wavelength_grid(str(path), 3), [500, 501.5, 503])


def test_sensor_csv_with_header_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("# iAChSnFR\nwavelength_nm,dff\n520,0.01\n470,-0.08\n\n500,0.0\n", encoding="utf-8")
    wl, dff = read_sensor(path)
    np.testing.assert_array_equal(wl, [470, 500, 520])
    np.testing.assert_array_equal(dff, [-0.08, 0.0, 0.01])


@pytest.mark.parametrize(
    "text",
    [
        "wavelength_nm;dff\n520;0,01\n470;-0,08\n500;0\n",  # a spreadsheet of a decimal-comma locale
        "wavelength_nm\tdff\n520\t0,01\n470\t-0,08\n500\t0\n",
        "wavelength_nm;dff\n520;0.01\n470;-0.08\n500;0\n",
        "520, 0.01\n470 ,-0.08\n500 0\n",
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "utf-16", "utf-16-be"])
def test_sensor_csv_in_spreadsheet_dialects(tmp_path: Path, text: str, encoding: str) -> None:
    """Each dialect, in UTF-8 with or without its byte-order mark, or UTF-16 (Excel's "Unicode
    text", marked in either byte order)."""
    path = tmp_path / "s.csv"
    raw = text.encode(encoding)
    path.write_bytes(b"\xfe\xff" + raw if encoding == "utf-16-be" else raw)
    wl, dff = read_sensor(path)
    np.testing.assert_array_equal(wl, [470, 500, 520])
    np.testing.assert_array_equal(dff, [-0.08, 0.0, 0.01])


def test_a_sensor_file_that_is_not_text_says_which_encodings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(b"wavelength_nm,dff\n520,0.01\n\xff\x00\x81\n")
    with pytest.raises(UnmixError, match=r"cannot read .*s\.csv \(not UTF-8 or UTF-16 text\); give a CSV file"):
        read_sensor(path)


def test_one_column_csvs_with_decimal_commas_or_points(tmp_path: Path) -> None:
    """A one-column file (wavelengths, dark levels) reads decimal commas where ';' ends each value;
    one whose every line is a decimal comma alone (477,5), which two integer columns would read the
    same, is refused saying how to write it, never read as a number of its own choosing."""
    from fluorodn.unmixing.inputs import read_values

    path = tmp_path / "wl.csv"
    for text in ("wavelength\n477;\n478,5;\n", "477.0\n478.5\n"):
        path.write_text(text, encoding="utf-8")
        np.testing.assert_array_equal(read_values(path, "wavelengths"), [477.0, 478.5])
    path.write_text("wavelength\n477,5\n478,25\n", encoding="utf-8")
    with pytest.raises(UnmixError, match=r"several columns \(if its commas are decimal commas.*each line with ';'\)"):
        read_values(path, "wavelengths")
    path.write_text("477.0,1\n478.5,2\n", encoding="utf-8")
    with pytest.raises(UnmixError, match=r"several columns$"):
        read_values(path, "wavelengths")


def test_sensor_arrays_in_any_order_as_a_csv_file(tmp_path: Path) -> None:
    """(wavelength_nm, dff) arrays are taken in any order, as a CSV file's rows are; wavelengths
    listed twice are refused."""
    wl = np.linspace(470.0, 600.0, 40)
    dff = np.sin(wl / 20.0) * 0.01
    given = np.linspace(480.0, 590.0, 30)
    np.testing.assert_allclose(sensor_on((wl[::-1], dff[::-1]), given), sensor_on((wl, dff), given), rtol=0, atol=0)
    with pytest.raises(UnmixError, match="each once"):
        sensor_on((np.r_[wl, wl[:1]], np.r_[dff, dff[:1]]), given)


def test_shipped_example_sensor_is_the_example_recordings_draw() -> None:
    """fluorodn/data/example_sensor.csv is S(l) of the draw behind fluorodn/data/example.tif."""
    import tifffile

    data = pytest.importorskip("fluorodn_train.data")
    example = Path(fluorodn.__file__).parent / "data" / "example.tif"
    meta = recording_metadata(example)
    assert sorted(meta) == ["dark_counts", "sampling_hz", "wavelength_nm"]
    assert meta["wavelength_nm"] == [477.0, 595.0] and meta["sampling_hz"] == 5.0
    rng = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(data.TEST_STREAM,)))
    inst = data.make_instance(rng, 3000, 152, 0.5)
    # the draw's pixels, and its dark level (the counts with no photons) to the 0.1 count stated
    np.testing.assert_allclose(tifffile.imread(example), inst.noisy.astype(np.float32))
    np.testing.assert_allclose(
        meta["dark_counts"], np.median(inst.truth.clean - inst.truth.photons, axis=0), atol=0.051
    )
    wl, dff = read_sensor(Path(fluorodn.__file__).parent / "data" / "example_sensor.csv")
    np.testing.assert_allclose(wl, inst.truth.wl, atol=1e-6)
    np.testing.assert_allclose(dff, inst.truth.response, rtol=1e-7, atol=1e-12)
    res = unmix(tifffile.imread(example), "477:595", "example", denoise=False, rate=5.0)
    assert corr(res.sensor, inst.truth.a) > 0.9


def test_hemoglobin_table() -> None:
    wl, *_ = hemoglobin.table()
    assert wl[0] == 400 and wl[-1] == 800 and np.all(np.diff(wl) == 2)
    e_hbo2, e_hb = hemoglobin.extinction(np.array([500.0, 542.0, 555.0, 576.0, 590.0]))
    np.testing.assert_allclose(e_hbo2, [20932.8, 53292.0, 35646.0, 55540.0, 14400.8])  # 555: between 554 and 556
    np.testing.assert_allclose(e_hb, [20862.0, 48148.0, 54530.0, 40092.0, 28324.4])
    with pytest.raises(ValueError, match="covers 400-800 nm"):
        hemoglobin.extinction(np.array([390.0, 500.0]))


# -- refusals ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, dict]:
    return forward(n=300, seed=4, noise_scale=0.3)


def test_a_saturated_recording_warns(small: tuple[np.ndarray, dict]) -> None:
    """Values clipped at the detector's ceiling are named (the fit there follows the clipping);
    the recording as made is not."""
    x, tr = small
    sensor = (tr["wl"], tr["response"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unmix(x, tr["wl"], sensor, denoise=False, dark=0.0)
    with pytest.warns(UserWarning, match=r"^3 % of the values equal the input's maximum .* follows the clipping"):
        unmix(np.minimum(x, np.quantile(x, 0.97)), tr["wl"], sensor, denoise=False, dark=0.0)


def test_warnings_point_at_the_caller(small: tuple[np.ndarray, dict], tmp_path: Path) -> None:
    """unmix's warnings, and those of the Denoiser it runs first, name the caller's line, by
    ``unmix`` and by ``unmix_file``, not the package's."""
    import tifffile

    from fluorodn.unmixing import unmix_file

    x, tr = small
    sensor = (tr["wl"], tr["response"])
    clipped = np.minimum(x, np.quantile(x, 0.97))
    tifffile.imwrite(tmp_path / "clipped.tif", clipped.astype(np.float32))
    runs = [
        lambda: unmix(clipped, tr["wl"], sensor, denoise=False),
        lambda: unmix(x, tr["wl"], (tr["wl"], np.full(152, 0.02)), denoise=False),
        lambda: unmix(clipped, tr["wl"], sensor),  # the default Denoiser first: its warning and unmix's
        lambda: unmix_file(tmp_path / "clipped.tif", sensor, tr["wl"], output=tmp_path / "out.csv", overwrite=True),
    ]
    for run in runs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
        where = [(w.filename, str(w.message)[:50]) for w in caught]
        assert caught and all(w.filename == __file__ for w in caught), where


def test_refuses_a_wavelength_count_that_differs_from_the_bins(small: tuple[np.ndarray, dict]) -> None:
    x, tr = small
    with pytest.raises(UnmixError, match="lists 150 wavelengths, but the recording has 152 bins"):
        unmix(x, tr["wl"][:150], (tr["wl"], tr["response"]), denoise=False)


def test_refuses_a_transposed_recording(small: tuple[np.ndarray, dict]) -> None:
    x, tr = small
    sensor = (tr["wl"], tr["response"])
    for arr in (x.T, x[:100].T):  # (152, 300) and (152, 100): the wavelengths match the rows
        with pytest.raises(UnmixError, match=r"the 152 wavelengths match its rows: it looks transposed"):
            unmix(arr, tr["wl"], sensor, denoise=False)
    with pytest.raises(UnmixError, match=r"more columns \(300\) than rows \(152\): it looks transposed"):
        unmix(x.T, "477:595", sensor, denoise=False)


def test_refuses_a_sensor_that_does_not_cover_the_range(small: tuple[np.ndarray, dict], tmp_path: Path) -> None:
    x, tr = small
    path = tmp_path / "short.csv"
    path.write_text("wavelength_nm,dff\n480,-0.05\n600,0.01\n", encoding="utf-8")
    with pytest.raises(UnmixError, match=r"covers 480-600 nm but the recording 477-595 nm; give"):
        unmix(x, tr["wl"], path, denoise=False)
    # one in micrometres covers it, 1000x smaller: named
    um = tmp_path / "um.csv"
    um.write_text("wavelength_um,dff\n0.45,-0.05\n0.65,0.01\n", encoding="utf-8")
    with pytest.raises(UnmixError, match=r"covers 0.45-0.65 nm .* \(its wavelengths look like micrometres: give"):
        unmix(x, tr["wl"], um, denoise=False)


def test_bins_outside_the_hemoglobin_table_are_left_out_of_the_fit(small: tuple[np.ndarray, dict]) -> None:
    """A spectrometer's whole range (here 340-1000 nm around the recording's bins): the bins the
    hemoglobin table does not cover are left out, with a warning naming them, and the traces are
    those of the bins inside, exactly; none inside is refused in one sentence."""
    x, tr = small
    rng = np.random.default_rng(3)
    below, above = np.linspace(340.0, 399.0, 20), np.linspace(801.0, 1000.0, 30)
    wide = np.c_[rng.normal(50.0, 3.0, (len(x), 20)), x, rng.normal(50.0, 3.0, (len(x), 30))]
    wl = np.r_[below, tr["wl"], above]
    sensor = (tr["wl"], tr["response"])
    with pytest.warns(fluorodn.UnmixWarning, match="hemoglobin table") as said:
        res = unmix(wide, wl, sensor, denoise=False)
    told = [str(w.message) for w in said if "hemoglobin table" in str(w.message)]
    assert told == [f"50 of the recording's {wl.size} bins (340-399 nm and 801-1000 nm) lie outside the "
                    "hemoglobin table's 400-800 nm and are left out of the fit; the traces come from the 152 bins "
                    "inside it"]  # fmt: skip
    alone = unmix(x, tr["wl"], sensor, denoise=False)
    np.testing.assert_array_equal(res.sensor, alone.sensor)
    np.testing.assert_array_equal(res.wavelengths, tr["wl"])
    with pytest.raises(UnmixError, match=r"covers 400-800 nm, and 0 of the recording's bins \(801-1000 nm\) lie there"):
        unmix(wide[:, -30:], above, ([800.0, 1000.0], [0.1, 0.2]), denoise=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arr": np.ones(10)}, "2D \\(time, wavelength\\) array"),
        ({"arr": np.ones((2, 152))}, "at least 3"),
        ({"arr": "nan"}, "NaN or infinite"),
        ({"wavelengths": "595:477"}, None),
        ({"wavelengths": "a:b"}, "neither FIRST:LAST"),
        ({"wavelengths": "300:400", "sensor": ([250.0, 450.0], [-0.1, 0.1])}, "table covers 400-800 nm"),
        ({"wavelengths": "400:500"}, "covers 477-595 nm but the recording 400-500 nm"),
        ({"wavelengths": np.r_[477.0, 477.0, np.linspace(478, 595, 150)]}, "strictly increasing or decreasing"),
        ({"sensor": "no-such-sensor"}, "neither a file nor a shipped spectrum \\(example\\)"),
        ({"sensor": ([477.0, 595.0], [0.0, 0.0])}, "is zero over"),
        ({"dark": [1.0, 2.0]}, "one number or 152 values \\(one per bin\\), got 2"),
        ({"dark": float("nan")}, "a finite number of counts, not nan"),
        ({"dark": 1e9}, "only 0 wavelength bins hold signal"),
        ({"rate": 0.0}, "positive number of samples per second"),
        ({"rate": "5"}, "rate must be a number of samples per second, not '5'"),
        ({"rate": True}, "rate must be a number of samples per second, not True"),
    ],
)
def test_refusals(small: tuple[np.ndarray, dict], change: dict, message: str | None) -> None:
    x, tr = small
    args: dict[str, Any] = {"arr": x, "wavelengths": tr["wl"], "sensor": (tr["wl"], tr["response"]), "denoise": False}
    if isinstance(change.get("arr"), str):
        bad = x.copy()
        bad[3, 7] = np.nan
        change = {"arr": bad}
    args.update(change)
    if message is None:  # a descending range is fine
        unmix(**args)
        return
    with pytest.raises(UnmixError, match=message):
        unmix(**args)


def test_refusals_are_fluorodn_errors_and_value_errors() -> None:
    assert issubclass(UnmixError, fluorodn.FluorodnError) and issubclass(UnmixError, ValueError)


# -- result and outputs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def result(small: tuple[np.ndarray, dict]) -> UnmixResult:
    x, tr = small
    return unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False, rate=FS)


def test_csv_columns_and_values(result: UnmixResult, tmp_path: Path) -> None:
    path = result.to_csv(tmp_path / "u.csv")
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header == "sample,time_s,sensor,hbo2,hb,offset,residual_rms,gain"
    assert tuple(header.split(",")) == COLUMNS
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    assert table.shape == (300, len(COLUMNS))
    np.testing.assert_array_equal(table[:, 0], np.arange(300))
    cols = result.columns()
    for k, name in enumerate(COLUMNS):
        np.testing.assert_allclose(table[:, k], cols[name], rtol=1e-8, atol=1e-12)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_csv_time_left_empty_without_rate(small: tuple[np.ndarray, dict], tmp_path: Path) -> None:
    x, tr = small
    res = unmix(x, tr["wl"], (tr["wl"], tr["response"]), denoise=False)
    lines = res.to_csv(tmp_path / "u.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1].split(",")[:2] == ["0", ""]
    assert np.isnan(res.columns()["time_s"]).all()


def test_outputs_refuse_existing_files_and_the_input(result: UnmixResult, tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("keep", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="exists already"):
        result.to_csv(path)
    assert path.read_text(encoding="utf-8") == "keep"
    result.to_csv(path, overwrite=True)
    assert path.read_text(encoding="utf-8").startswith("sample,")
    with pytest.raises(OutputExistsError, match="overwrite its input"):
        result.save(path, overwrite=True, source=path)


def test_unmix_file_never_writes_over_a_file_it_reads(small: tuple[np.ndarray, dict], tmp_path: Path) -> None:
    """The sensor spectrum CSV given as the output, or under a GuPPy file's name: refused before any
    work with overwrite=True too, and left as it was."""
    from fluorodn.unmixing import unmix_file

    x, tr = small
    np.save(tmp_path / "rec.npy", x)
    sensor = tmp_path / "sensor.csv"
    sensor.write_text("wavelength_nm,dff\n" + "".join(f"{w},{v}\n" for w, v in zip(tr["wl"], tr["response"],
                                                                                     strict=True)))  # fmt: skip
    text = sensor.read_text()
    with pytest.raises(OutputExistsError, match=r"output .*sensor\.csv is the sensor spectrum this unmixing reads"):
        unmix_file(tmp_path / "rec.npy", sensor, tr["wl"], output=sensor, denoise=False, overwrite=True)
    with pytest.raises(OutputExistsError, match=r"the GuPPy file .*sensor\.csv is the sensor spectrum"):
        unmix_file(tmp_path / "rec.npy", str(sensor), tr["wl"], output=tmp_path / "u.csv", denoise=False, rate=FS,
                   guppy=tmp_path, overwrite=True)  # fmt: skip
    assert sensor.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.npy", "sensor.csv"]


def test_an_output_that_cannot_be_written_is_one_sentence(
    result: UnmixResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error of the disk while the NWB file is written: OutputError in one sentence, no temporary file."""
    pytest.importorskip("pynwb")
    pytest.importorskip("ndx_fiber_photometry")
    import errno
    import os

    from fluorodn.errors import OutputError
    from fluorodn.formats import nwb

    def failing(image: Any, dest: Path) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(nwb, "_write_image", failing)
    source = tmp_path / "rec.npy"
    np.save(source, np.zeros((3, 3)))
    with pytest.raises(OutputError, match=r"cannot write .*u\.nwb \(Input/output error\); choose a writable"):
        result.save(tmp_path / "u.nwb", source=source)
    assert [p.name for p in tmp_path.iterdir()] == ["rec.npy"]


def test_to_frame(result: UnmixResult) -> None:
    pytest.importorskip("pandas")
    frame = result.to_frame()
    assert list(frame.columns) == list(COLUMNS[1:]) and frame.index.name == "sample"
    np.testing.assert_array_equal(frame["sensor"].to_numpy(), result.sensor)


def test_parquet(result: UnmixResult, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(result.save(tmp_path / "u.parquet"))
    assert table.column_names == list(COLUMNS)
    np.testing.assert_array_equal(table.column("sensor").to_numpy(), result.sensor)
    # each field states its unit, the file fluorodn's record of the unmixing
    import json

    from fluorodn.unmixing.result import UNITS

    assert {f.name: f.metadata[b"unit"].decode() for f in table.schema} == UNITS
    assert table.schema.field("offset").metadata[b"unit"] == b"counts"
    record = json.loads(table.schema.metadata[b"fluorodn"])
    assert record == json.loads(json.dumps(result.provenance())) and record["refined"] is False


def test_parquet_without_pyarrow_is_one_sentence(
    result: UnmixResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(UnmixError, match=r"needs pyarrow, which is not installed; pip install pyarrow, or write"):
        result.save(tmp_path / "u.parquet")
    assert not list(tmp_path.iterdir())


def test_public_api_name_is_the_function() -> None:
    import fluorodn.unmixing

    assert fluorodn.unmix is fluorodn.unmixing.unmix and callable(fluorodn.unmix)
    assert fluorodn.UnmixResult is UnmixResult
    assert "unmix" in fluorodn.__all__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fluorodn.unmix.__doc__ and "(T, W)" in fluorodn.unmix.__doc__


def test_unmixings_own_warnings_have_their_class(small: tuple[np.ndarray, dict]) -> None:
    """A clipped recording's warning from the fit is ``fluorodn.UnmixWarning`` (filterable by class),
    and the names the docs use are reached from ``import fluorodn``."""
    x, tr = small
    clipped = np.minimum(x, np.percentile(x, 90))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unmix(clipped, tr["wl"], (tr["wl"], tr["response"]), denoise=False, dark=300.0, rate=FS)
    fit = [w for w in caught if "the fit there follows the clipping" in str(w.message)]
    assert len(fit) == 1 and fit[0].category is fluorodn.UnmixWarning
    assert fluorodn.UnmixError is UnmixError and issubclass(fluorodn.DarkLevelNotice, UserWarning)


def test_a_bin_that_never_changes_is_left_out_of_the_fit_with_a_warning(noisy: tuple[np.ndarray, dict]) -> None:
    # a stuck pixel (or a bin NaN throughout, filled with one value) reads no noise: weighed at the
    # floor, it outweighed every other bin and wrecked the sensor trace
    x, tr = noisy
    sensor = (tr["wl"], tr["response"])
    base = unmix(x, tr["wl"], sensor, denoise=False)
    stuck = x.copy()
    stuck[:, 40] = 2000.0
    with pytest.warns(UnmixWarning, match=r"1 of the recording's 152 bins \(at 5\d\d(\.\d+)? nm\) holds one value"):
        res = unmix(stuck, tr["wl"], sensor, denoise=False)
    assert res.wavelengths.size == 151
    assert corr(res.sensor, tr["a"]) > corr(base.sensor, tr["a"]) - 0.01
    assert nrmse(res.sensor, tr["a"]) < 1.05 * nrmse(base.sensor, tr["a"])
    gone = x.copy()
    gone[:, 40] = np.nan
    with pytest.warns(UnmixWarning, match="or a bin that was NaN throughout and filled"):
        filled = unmix(gone, tr["wl"], sensor, denoise=False, nan="fill")
    np.testing.assert_allclose(filled.sensor, res.sensor, rtol=0, atol=1e-9)
    dead = np.full_like(x, 700.0)
    dead[:, :2] += np.random.default_rng(0).normal(0.0, 5.0, (x.shape[0], 2))
    with pytest.raises(UnmixError, match="150 of the recording's 152 bins hold one value in nearly every sample and 2"):
        unmix(dead, tr["wl"], sensor, denoise=False)


def test_rows_alternating_between_light_sources_are_refused(noisy: tuple[np.ndarray, dict]) -> None:
    # two excitations interleaved row by row in one array: fitted as one recording, the gain and the
    # traces jumped between them each sample
    x, tr = noisy
    sensor = (tr["wl"], tr["response"])
    mixed = x.copy()
    mixed[1::2] *= 0.4
    with pytest.raises(UnmixError, match=r"rows alternate like 2 interleaved excitations .*\(x\[k::2\]"):
        unmix(mixed, tr["wl"], sensor, denoise=False)
    assert np.isfinite(unmix(mixed[1::2], tr["wl"], sensor, denoise=False).sensor).all()
