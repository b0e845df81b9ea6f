"""Brief changes the spectral model never saw (a one-sample flash of light across the spectrum):
found from what the denoising removed (spectral.brief_scores), kept as recorded over a denoising
of the recording without them (spectral.keep_brief), and told by a warning naming their samples."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from fluorodn import Denoiser, spectral
from fluorodn.errors import OutOfDomainWarning

FLASHES = (700, 1500, 2300)


@pytest.fixture(scope="module")
def den() -> Denoiser:
    return Denoiser(device="cpu")


def test_scores_of_removed_noise_follow_the_chi_square_law_and_a_large_removal_stands_out() -> None:
    """Removed parts that are noise (each trace its own spread) score about the number of traces,
    none near the limit; a removal of 12 x the noise in every trace of three samples passes it there
    alone (12 x: the limit stands 15 x over the chi-square level of a false alarm in 1e6 samples).
    Traces the network left as they are (nothing removed) are not counted."""
    rng = np.random.default_rng(0)
    coef = rng.standard_normal((5000, 8)).astype(np.float32) * 40
    removed = rng.standard_normal((5000, 8)) * np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0, 1.0])
    out = coef - removed
    scores, limit = spectral.brief_scores(coef, out)
    assert np.mean(scores) == pytest.approx(8.0, rel=0.06)
    assert scores.max() < 0.2 * limit and not spectral.brief_changes(coef, out).any()
    removed[[10, 2000, 4999]] = 12.0 * np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0, 1.0])
    marked = spectral.brief_changes(coef, coef - removed)
    assert np.flatnonzero(marked).tolist() == [10, 2000, 4999]
    # two traces untouched: the limit is that of six
    same = (coef - removed).copy()
    same[:, :2] = coef[:, :2]
    _, six = spectral.brief_scores(coef, same)
    assert six < limit and spectral.brief_changes(coef, same, np.ones(8, bool)).sum() == 3
    # too few samples, or nothing removed: nothing judged
    assert spectral.brief_scores(coef[:10], out[:10])[1] == np.inf
    assert spectral.brief_scores(coef, coef)[1] == np.inf
    with pytest.raises(ValueError, match="one \\(T, K\\) shape"):
        spectral.brief_scores(coef, out[:, :3])


def test_bridged_samples_lie_on_the_line_between_their_neighbours() -> None:
    coef = np.array([[0.0, 10.0], [5.0, 0.0], [9.0, 0.0], [3.0, 40.0], [7.0, 0.0]], np.float32)
    rows = np.array([True, False, True, False, True])
    got = spectral.bridged(coef, rows)
    np.testing.assert_allclose(got, [[5.0, 0.0], [5.0, 0.0], [4.0, 20.0], [3.0, 40.0], [3.0, 40.0]])
    np.testing.assert_array_equal(spectral.bridged(coef, np.zeros(5, bool)), coef)


def test_a_brief_change_is_kept_whole_and_its_neighbours_denoised_without_it() -> None:
    """A smoothing 'network' (a 9-sample moving mean) spreads a one-sample change of 12 traces over its
    neighbours, which brief_changes marks with it. keep_brief keeps the change's sample alone (it
    departs from the denoising of the bridged stretch, its neighbours do not), returned as recorded
    over the denoising of the recording with it bridged; every other sample as that denoising gives
    it. A change in one trace of the twelve is not one across them (``across``: across_spectrum,
    the traces taken as bins): nothing kept."""
    rng = np.random.default_rng(1)
    t = np.arange(3000)
    signal = np.stack([20 * np.sin(t / (200.0 + 10 * k)) for k in range(12)], axis=1)
    coef = (signal + rng.standard_normal(signal.shape)).astype(np.float32)
    coef[1200] += 80.0

    def run(c: np.ndarray) -> np.ndarray:
        return uniform_filter1d(c, 9, axis=0, mode="nearest").astype(np.float32)

    def across(rows: np.ndarray) -> np.ndarray:
        return spectral.across_spectrum(coef, np.ones(12), rows)

    first = run(coef)
    assert spectral.brief_changes(coef, first).sum() > 1  # spread over its neighbours
    out, kept = spectral.keep_brief(coef, first, run, None, across)
    assert np.flatnonzero(kept).tolist() == [1200]
    bridge = spectral.bridged(coef, kept)
    again = run(bridge)
    np.testing.assert_allclose(np.delete(out, 1200, axis=0), np.delete(again, 1200, axis=0), atol=1e-5)
    np.testing.assert_allclose(out[1200], again[1200] + coef[1200] - bridge[1200], atol=1e-4)
    # its neighbours lie as near the signal as the samples far from it
    around = [*range(1195, 1200), *range(1201, 1206)]
    far = np.delete(out - signal, range(1190, 1211), axis=0)
    assert np.abs(out[around] - signal[around]).max() < 4 * far.std()
    np.testing.assert_array_equal(spectral.keep_brief(coef, first, run)[1], kept)
    # in one trace alone
    one = (signal + rng.standard_normal(signal.shape)).astype(np.float32)
    one[1200, 3] += 300.0
    first = run(one)
    assert spectral.brief_changes(one, first).any()
    out, kept = spectral.keep_brief(
        one, first, run, None, lambda rows: spectral.across_spectrum(one, np.ones(12), rows)
    )
    assert out is first and not kept.any()
    # nothing removed far above the noise: the first denoising stands, nothing kept
    calm = (signal + rng.standard_normal(signal.shape)).astype(np.float32)
    first = run(calm)
    out, kept = spectral.keep_brief(calm, first, run, None, across)
    assert out is first and not kept.any()


def test_a_departure_across_the_spectrum_is_told_from_a_spike_in_two_bins() -> None:
    """Departures from the line between the samples either side: a one-sample change across the
    bins, each sample of a three-sample burst, and noise are spread over the spectrum; a spike in two
    bins of one sample is concentrated."""
    rng = np.random.default_rng(2)
    x = 100.0 + rng.standard_normal((400, 152))
    x[100] += 10.0
    x[200:203] += 8.0
    x[300, 60:62] += 500.0
    rows = np.zeros(400, bool)
    rows[[50, 100, 200, 201, 202, 300]] = True
    got = spectral.across_spectrum(x, np.ones(152), rows)
    assert np.flatnonzero(got).tolist() == [50, 100, 200, 201, 202]
    assert not spectral.across_spectrum(x, np.ones(152), np.zeros(400, bool)).any()
    assert not spectral.across_spectrum(x, np.ones(152), np.ones(400, bool)).any()


def test_the_message_names_each_change_by_its_samples() -> None:
    rows = np.zeros(40, bool)
    rows[[3, 10, 11, 12, 30]] = True
    said = spectral.brief_message(rows)
    assert said is not None
    assert said.startswith(
        "3 sudden changes across the spectrum far above the noise (at samples 3, 10-12, 30, counting"
    )
    assert "are kept as recorded" in said
    one = spectral.brief_message(rows[:5], index=np.arange(100, 105))
    assert one is not None and one.startswith("a sudden change across the spectrum far above the noise (at sample 103,")
    assert "is kept as recorded, with the noise of its sample; the samples around denoised without it" in one
    assert spectral.brief_message(np.zeros(5, bool)) is None
    # grouped in the recording: samples next to each other among the lit rows, apart in the recording
    # (light-off samples between them), are two changes
    lit = np.r_[np.arange(0, 2000), np.arange(2100, 3000)]
    rows = np.zeros(len(lit), bool)
    rows[[1999, 2000]] = True
    assert "2 sudden changes across the spectrum far above the noise (at samples 1999, 2100, counting" in str(
        spectral.brief_message(rows, index=lit)
    )
    many = np.zeros(40, bool)
    many[::4] = True
    assert "at samples 0, 4, 8, 12, 16, ..., counting" in str(spectral.brief_message(many))


def flashing(factor: float, seed: int = 0, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean): a 10-minute recording (``n`` x 152 at 5 Hz) of the example sensor's sparse
    releases under slow hemodynamic swings, shot noise, with its light ``factor`` times as bright in
    the samples :data:`FLASHES`."""
    from fluorodn import hemoglobin
    from fluorodn.unmixing import LN10_PER_UM, load_sensor

    rng = np.random.default_rng(seed)
    wl = np.linspace(477.0, 595.0, 152)
    s = np.interp(wl, *load_sensor("example"))
    k1, k2 = (LN10_PER_UM * v for v in hemoglobin.extinction(wl))
    a = np.zeros(n)
    for on in rng.choice(n - 50, size=n // 150, replace=False):
        m = np.arange(n - on)
        a[on:] += rng.uniform(0.3, 1.0) * (1.0 - np.exp(-m / 2.0)) * np.exp(-m / 15.0)
    sec = np.arange(n) / 5.0
    h1, h2 = 3.0 * np.sin(2 * np.pi * sec / 20 + 1), 1.5 * np.sin(2 * np.pi * sec / 25)
    e = 8000.0 * np.exp(-0.5 * ((wl - 515.0) / 25.0) ** 2) + 800.0
    light = e * np.exp(np.outer(a, s) - np.outer(h1, k1) - np.outer(h2, k2))
    light[list(FLASHES)] *= factor
    clean = 500.0 + light
    return (clean + rng.standard_normal(clean.shape) * np.sqrt(clean)).astype(np.float32), clean


def _said(run, *args) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = run(*args)
    return got, [str(w.message) for w in caught if issubclass(w.category, OutOfDomainWarning)]


def _over_raw(y: np.ndarray, x: np.ndarray, clean: np.ndarray, rows: object) -> float:
    return float(np.mean((y[rows] - clean[rows]) ** 2) / np.mean((x[rows] - clean[rows]) ** 2))


def test_flashes_are_kept_as_recorded_and_named(den: Denoiser, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three one-sample flashes of 1.5 x the light: the default keeps each as recorded (its samples'
    error under raw's, where its first denoising alone left them many times raw's), the samples
    around them denoised, and one warning names them; the same recording without flashes passes
    quietly."""
    x, clean = flashing(1.5)
    y, said = _said(den.run, x)
    assert len(said) == 1 and said[0].startswith("3 sudden changes across the spectrum far above the noise (at "
                                                 "samples 700, 1500, 2300, counting from 0)"), said  # fmt: skip
    flashes = list(FLASHES)
    near = sorted({r + d for r in FLASHES for d in (-4, -3, -2, -1, 1, 2, 3, 4)})
    assert _over_raw(y, x, clean, flashes) < 1.0
    assert _over_raw(y, x, clean, near) < 0.3
    # the first denoising alone: the flashes' samples far worse than raw, and spread around
    monkeypatch.setattr(spectral, "keep_brief", lambda coef, first, *_: (first, np.zeros(len(first), bool)))
    unkept, _ = _said(den.run, x)
    assert _over_raw(unkept, x, clean, flashes) > 5.0
    monkeypatch.undo()
    calm, _ = flashing(1.0)
    assert _said(den.run, calm)[1] == []


def test_dask_keeps_and_tells_flashes_as_one_call_does(den: Denoiser) -> None:
    """fluorodn.dask: the same warning, on the client, and the same output within float rounding
    of the projection (each chunk denoised with its halo keeps the flashes it holds)."""
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    x, _ = flashing(1.5, seed=2)
    lazy, built = _said(fdask.denoise, da.from_array(x, chunks=(1000, 152)))
    got, later = _said(lazy.compute)
    y, said = _said(den.run, x)
    assert later == [] and built == said and len(said) == 1 and "at samples 700, 1500, 2300," in said[0]
    assert np.abs(got - y).max() < 0.05 * float(np.sqrt(x.mean()))


def test_a_burst_is_kept_whole_and_a_spike_in_one_bin_is_left_to_the_spike_check(den: Denoiser) -> None:
    """A burst of three samples at 3 x the light: each of its samples kept as recorded (none damped
    between two kept ones), the samples around no worse than the first denoising left them; one of
    four samples is left to the first denoising, which does better there than the samples kept. A
    cosmic ray in two bins of one sample: not a change across the spectrum, nothing kept, the output
    as the first denoising gives it."""
    x, clean = flashing(1.0, seed=31)
    light = x - 500.0
    burst = x.copy()
    burst[1500:1503] = 500.0 + 3.0 * light[1500:1503]
    truth = clean.copy()
    truth[1500:1503] = 500.0 + 3.0 * (clean[1500:1503] - 500.0)
    y, said = _said(den.run, burst)
    assert len(said) == 1 and "(at samples 1500-1502, counting from 0)" in said[0], said
    assert "is kept as recorded, with the noise of their samples" in said[0]
    assert _over_raw(y, burst, truth, slice(1500, 1503)) < 1.0
    around = [*range(1490, 1500), *range(1503, 1513)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spectral, "keep_brief", lambda coef, first, *_: (first, np.zeros(len(first), bool)))
        first, _ = _said(den.run, burst)
    assert _over_raw(y, burst, truth, around) < 0.3
    assert _over_raw(y, burst, truth, slice(1490, 1513)) < _over_raw(first, burst, truth, slice(1490, 1513))
    # four samples: a change the network saw in training (a movement's transient), left to it
    longer = x.copy()
    longer[1500:1504] = 500.0 + 3.0 * light[1500:1504]
    y, said = _said(den.run, longer)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spectral, "keep_brief", lambda coef, first, *_: (first, np.zeros(len(first), bool)))
        first, _ = _said(den.run, longer)
    np.testing.assert_array_equal(y, first)
    assert not any("sudden change" in m for m in said), said
    spiked = x.copy()
    spiked[1200, 60:62] += 5000.0
    y, said = _said(den.run, spiked)
    assert not any("sudden change" in m for m in said), said
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spectral, "keep_brief", lambda coef, first, *_: (first, np.zeros(len(first), bool)))
        first, _ = _said(den.run, spiked)
    np.testing.assert_array_equal(y, first)


def test_each_page_of_a_stack_is_checked_after_a_page_with_kept_changes(den: Denoiser) -> None:
    """Samples kept as recorded on page 0 are named, and stop no checks: page 1, too dim for the
    model, is still told; and a page's kept samples are named after another page's warning stopped
    the checks, as samples set aside are."""
    flashy, _ = flashing(1.5)
    dim, _ = flashing(1.0, seed=3)
    dim = 500.0 + (dim - 500.0) / 400.0 + np.random.default_rng(4).standard_normal(dim.shape).astype(np.float32) * 3
    _, said = _said(den.run, np.stack([flashy, dim.astype(np.float32)]))
    assert said[0].startswith("3 sudden changes across the spectrum") and len(said) >= 2, said
    assert any(m.startswith("page index 1: the recording is noisier than any") for m in said), said
    _, said = _said(den.run, np.stack([dim.astype(np.float32), flashy]))
    assert said[0].startswith("the recording is noisier than any"), said
    assert any(m.startswith("page index 1: 3 sudden changes across the spectrum") for m in said), said


def test_dask_names_kept_samples_by_their_index_in_the_recording(den: Denoiser) -> None:
    """Light-off samples at the start and in the middle: fluorodn.dask names the flashes by their
    index in the whole recording, as one call does; on a recording longer than the rows the checks
    read, it says it looked at those alone."""
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    x, _ = flashing(1.5, seed=5)
    dark = np.full((100, 152), 500.0, np.float32) + np.random.default_rng(6).standard_normal((100, 152)).astype(
        np.float32
    )
    whole = np.concatenate([dark, x[:1000], dark[:50], x[1000:]])
    _, said = _said(den.run, whole)
    _, built = _said(fdask.denoise, da.from_array(whole, chunks=(800, 152)))
    kept = [m for m in said if "sudden change" in m]
    assert len(kept) == 1 and "at samples 800, 1650, 2450," in kept[0], said
    assert [m for m in built if "sudden change" in m] == kept
    long = np.concatenate([x, flashing(1.5, seed=7)[0]])
    _, built = _said(fdask.denoise, da.from_array(long, chunks=(1500, 152)))
    (told,) = [m for m in built if "sudden change" in m]
    assert "far above the noise among the 4096 samples the checks read (at samples" in told


def test_flashes_a_few_samples_apart_are_each_kept(den: Denoiser) -> None:
    """Two flashes three samples apart (a stimulation train's pulses), in one stretch the network
    spread them over: each kept as recorded and named, the samples between them denoised."""
    x, clean = flashing(1.0, seed=8)
    light, truth = x - 500.0, clean.copy()
    pair = x.copy()
    for r in (700, 703):
        pair[r] = 500.0 + 3.0 * light[r]
        truth[r] = 500.0 + 3.0 * (clean[r] - 500.0)
    y, said = _said(den.run, pair)
    assert (
        len(said) == 1 and "2 sudden changes across the spectrum far above the noise (at samples 700, 703," in said[0]
    )
    assert _over_raw(y, pair, truth, [700, 703]) < 1.0
    assert _over_raw(y, pair, truth, [701, 702]) < 0.3
