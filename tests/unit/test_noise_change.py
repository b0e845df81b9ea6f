"""Recordings whose noise level changes over time (fluorodn.noise_change): told apart from steady
noise and from noise that follows the light, steadied before denoising, and said."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from fluorodn import Denoiser, NoiseChangeNotice, OutOfDomainWarning, noise_change


@pytest.fixture(scope="module")
def den() -> Denoiser:
    return Denoiser(device="cpu")


def _recording(seed: int, n: int, shot: np.ndarray | None = None, fade: np.ndarray | None = None) -> dict[str, Any]:
    """A recording of the evaluation's signal model (152 bins) and one detector's noise: its shot
    noise scaled by ``shot`` (T,) at each sample, or bleached by ``fade`` (T,) at noise 0.4 (the
    noise following the light); the clean recording and the true spectra of its sensor's trace."""
    from fluorodn_train import noise, spectra, synth
    from fluorodn_train.evaluation.recordings import signal_config

    r = synth.clean_recording(np.random.default_rng(seed), n, 152, signal_config())
    photons = r.photons if fade is None else r.photons * fade[:, None]
    clean = r.clean - r.photons + photons
    zero = np.zeros_like(photons)
    dark = noise.parametric_noise(np.random.default_rng(seed + 50), zero, 0.0)
    unit = noise.parametric_noise(np.random.default_rng(seed + 50), photons, 1.0)
    unit -= noise.parametric_noise(np.random.default_rng(seed + 50), zero, 1.0)
    scale = np.full(n, 0.4) if shot is None else shot
    hbo2, hb = spectra.hemoglobin(r.wl)
    e = r.emission
    design = np.stack([e, e * r.response, e * hbo2 / hbo2.max(), e * hb / hb.max(), np.ones_like(e)], axis=1)
    return {"x": clean + dark + scale[:, None] * unit, "clean": clean, "dark": np.median(r.clean - r.photons, 0),
            "design": design}  # fmt: skip


def _trace(z: np.ndarray, rec: dict[str, Any]) -> np.ndarray:
    """The sensor's trace (its response over its emission), by least squares on the true spectra."""
    coef = np.linalg.lstsq(rec["design"], (np.asarray(z, np.float64) - rec["dark"]).T, rcond=None)[0]
    return np.asarray(coef[1] / coef[0])


def _trace_error(y: np.ndarray, rec: dict[str, Any], rows: slice | np.ndarray) -> float:
    """RMS error of the output's sensor trace over raw's, on ``rows``."""
    truth = _trace(rec["clean"], rec)
    out, raw = _trace(y, rec)[rows] - truth[rows], _trace(rec["x"], rec)[rows] - truth[rows]
    return float(np.sqrt(np.mean(out**2) / np.mean(raw**2)))


def _run(den: Denoiser, x: np.ndarray) -> tuple[np.ndarray, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = den.run(x.astype(np.float32))
    return np.asarray(y, np.float64), caught


def _step(n: int, a: float, b: float) -> np.ndarray:
    return np.where(np.arange(n) < n // 2, a, b)


def test_change_reads_noise_that_changes_and_not_noise_that_is_steady_or_follows_the_light() -> None:
    """Shot noise from 0.2 to 0.8 halfway reads about the change of the whole noise (dark noise
    included), a steady recording about 1, and one bleached to a twentieth of its light (its shot
    noise falling with it, as in training) under the limit too; a recording too short to tell, 1."""
    n = 3000
    steady = noise_change.change(_recording(1, n)["x"])
    stepped = noise_change.change(_recording(1, n, shot=_step(n, 0.2, 0.8))["x"])
    bleached = noise_change.change(_recording(1, n, fade=np.exp(-np.arange(n) / 1000.0))["x"])
    assert steady < 1.15
    assert 2.5 < stepped < 4.5
    assert bleached < noise_change.CHANGE
    assert noise_change.change(np.random.default_rng(0).normal(size=(16, 152))) == 1.0


def test_profile_finds_where_the_noise_changes() -> None:
    """The noise profile of a recording whose shot noise steps from 0.2 to 0.8: about 1 over its
    median, the step within a few samples of where it lies, the two halves' levels as far apart as
    :func:`change` reads."""
    n = 2000
    x = _recording(2, n, shot=_step(n, 0.2, 0.8))["x"]
    level = noise_change.profile(x)
    assert level.shape == (n,) and np.median(level) == pytest.approx(1.0)
    quiet, noisy = np.median(level[: n // 2 - 40]), np.median(level[n // 2 + 40 :])
    crossing = int(np.argmax(level > np.sqrt(quiet * noisy)))
    assert abs(crossing - n // 2) <= 8
    assert noisy / quiet == pytest.approx(noise_change.change(x), rel=0.15)


def test_unsteadied_puts_back_what_was_removed_at_each_rows_level() -> None:
    """Nothing removed from the steadied recording gives the recording back; a constant per bin
    removed (a fixed pattern) is removed as it is at every level; changes removed from a few rows are
    removed at those rows' levels, and leave the pattern as it is."""
    rng = np.random.default_rng(3)
    x = 100.0 + rng.normal(size=(300, 40)) * np.linspace(1, 5, 300)[:, None]
    level = np.linspace(0.5, 2.5, 300)
    steady = noise_change.steadied(x, level)
    assert np.allclose(noise_change.unsteadied(x, steady, steady, level), x, atol=1e-4)
    pattern = rng.normal(size=40)
    assert np.allclose(noise_change.unsteadied(x, steady, steady - pattern, level), x - pattern, atol=1e-4)
    bump = np.zeros_like(x)
    bump[100:110] = rng.normal(size=(10, 40)) * 50
    y = noise_change.unsteadied(x, steady, steady - bump, level)
    assert np.allclose(y - x, -bump * level[:, None], atol=1e-4)
    # the pattern is the time median of what was removed: a stretch removed in large part does not move it
    y = noise_change.unsteadied(x, steady, steady - bump - pattern, level)
    assert np.allclose(y - x, -bump * level[:, None] - pattern, atol=1e-4)


def test_the_quiet_part_is_denoised_at_its_own_level_and_told(den: Denoiser, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shot noise from 0.1 to 1.2 halfway (sessions joined, a gain changed): with one noise level
    for the whole recording the sensor's trace in the quiet half ends worse than raw, and nothing
    is said; with the noise steadied it ends well under raw in both halves, and a NoiseChangeNotice
    says how much the noise changes and where."""
    n = 2000
    rec = _recording(1, n, shot=_step(n, 0.1, 1.2))
    quiet, noisy = slice(0, n // 2), slice(n // 2, n)
    y, caught = _run(den, rec["x"])
    told = [w for w in caught if issubclass(w.category, NoiseChangeNotice)]
    assert len(told) == 1 and not issubclass(NoiseChangeNotice, OutOfDomainWarning)
    text = str(told[0].message)
    assert "changes" in text and "quietest near sample" in text and "noisiest near sample" in text
    quietest = int(text.split("quietest near sample ")[1].split(",")[0])
    noisiest = int(text.split("noisiest near sample ")[1].split(")")[0])
    assert quietest < n // 2 <= noisiest
    assert _trace_error(y, rec, quiet) < 0.8 and _trace_error(y, rec, noisy) < 0.8
    monkeypatch.setattr(noise_change, "CHANGE", float("inf"))
    before, caught = _run(den, rec["x"])
    assert _trace_error(before, rec, quiet) > 1.0
    assert not [w for w in caught if issubclass(w.category, NoiseChangeNotice)]


def test_steady_recordings_come_out_as_without_the_change_check(den: Denoiser, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recording whose noise is steady, and one bleached with noise following its light, are
    not steadied: their outputs are those with the check off, value for value, and nothing is said."""
    n = 1500
    for rec in (_recording(4, n), _recording(4, n, fade=np.exp(-np.arange(n) / 800.0))):
        y, caught = _run(den, rec["x"])
        assert not [w for w in caught if issubclass(w.category, NoiseChangeNotice)]
        with monkeypatch.context() as m:
            m.setattr(noise_change, "CHANGE", float("inf"))
            off, _ = _run(den, rec["x"])
        assert np.array_equal(y, off)


def test_brightness_is_judged_at_the_noisiest_and_the_quietest_samples() -> None:
    """A steadied recording's brightness over noise at its median level, judged where it leaves the
    trained range: at its noisiest samples under it, at its quietest over it, else as it is."""
    level = np.concatenate([np.full(50, 0.25), np.ones(100), np.full(50, 4.0)])
    assert noise_change.extremes(100.0, level, [50.0, 1e4]) == pytest.approx(25.0)
    assert noise_change.extremes(100.0, level, [20.0, 200.0]) == pytest.approx(400.0)
    assert noise_change.extremes(100.0, level, [10.0, 1e4]) == 100.0
    assert noise_change.extremes(100.0, level, None) == 100.0


def test_rows_that_hold_no_noise_neither_hide_nor_fake_a_change(den: Denoiser) -> None:
    """Frames repeated and gaps filled by a straight line (as --nan fill does) hold no noise: the
    change is read without them. A steady recording with a filled gap of 45 rows reads as steady;
    one whose noise steps from 0.1 to 1.2, with its first 40 frames repeated or 150 frames repeated
    in its noisy half, reads the step, is told, and its quiet half ends under raw, the profile there
    never near 0."""
    n = 3000
    steady = _recording(5, n)["x"]
    filled = steady.copy()
    a, b = 1200, 1246
    filled[a + 1 : b] = filled[a] + (filled[b] - filled[a]) * (np.arange(1, b - a) / (b - a))[:, None]
    assert noise_change.change(filled) < 1.2
    rec = _recording(1, n, shot=_step(n, 0.1, 1.2))
    for rows in (slice(0, 40), slice(2200, 2350)):
        x = rec["x"].copy()
        x[rows] = x[rows.start]
        assert noise_change.change(x) > 3
        assert noise_change.profile(x).min() > 0.1
        y, caught = _run(den, x)
        assert [w for w in caught if issubclass(w.category, NoiseChangeNotice)]
        kept = np.ones(n, bool)
        kept[rows] = False
        quiet = np.flatnonzero(kept[: n // 2])
        assert _trace_error(y, rec | {"x": x}, quiet) < 1.0


def test_a_steadied_recording_is_checked_for_clipping_as_given(den: Denoiser) -> None:
    """Clipped values are read on the recording as given: steadying divides the clipped plateau by
    each row's level, which would scatter it. A recording whose noise steps from 0.2 to 0.8, clipped
    at its 97th percentile, is told both that its noise changes and that its values are clipped."""
    n = 3000
    x = _recording(2, n, shot=_step(n, 0.2, 0.8))["x"]
    x = np.minimum(x, np.percentile(x, 97))
    _, caught = _run(den, x)
    said = [str(w.message) for w in caught]
    assert any(issubclass(w.category, NoiseChangeNotice) for w in caught)
    assert any("equal the input's maximum" in m for m in said), said


def test_blocks_of_too_few_values_are_not_read() -> None:
    """A steady spectrum in white noise on 24 bins: 150 samples make blocks of under 2048 values, whose
    spread alone can pass the limit, so the change is not read (1.0); 1500 samples are read, under the
    limit; the noise stepping to 4x there is read."""
    rng = np.random.default_rng(1)
    spectrum = 500.0 + 300.0 * np.hanning(24)
    assert noise_change.change(spectrum + rng.normal(size=(150, 24))) == 1.0
    noise = rng.normal(size=(1500, 24))
    assert 1.0 < noise_change.change(spectrum + noise) < noise_change.CHANGE
    noise[750:] *= 4.0
    assert noise_change.change(spectrum + noise) > 3.0
