"""fluorodn.report: the numbers of the summary on synthetic recordings, and the files written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

from fluorodn._report_figures import IMAGE, SEGMENT, noise_figures, segment_figures, sensor_figures
from fluorodn.report import (
    CHANGED_LEVEL,
    LAG1_FLOOR,
    NOTHING_REMOVED,
    VERDICTS,
    autocorrelation,
    build_report,
    page_summary,
    report_paths,
    verdict,
    write_report,
)

T, W = 800, 64


def synthetic(seed: int = 0, sigma: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) (T, W) float64: two smooth spectra with slow traces, plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None]
    w = np.linspace(-2, 2, W)[None, :]
    clean = (
        1000 * np.exp(-(w**2)) * (1 + 0.2 * np.sin(t / 40))
        + 300 * np.exp(-((w - 1) ** 2)) * (1 + 0.3 * np.cos(t / 70))
        + 100
    )
    return clean, clean + rng.normal(0.0, sigma, (T, W))


@pytest.fixture(scope="module")
def noise_removed() -> dict:
    clean, noisy = synthetic()
    return page_summary(noisy, clean)


@pytest.fixture(scope="module")
def signal_removed() -> dict:
    _, noisy = synthetic()
    flat = np.broadcast_to(np.median(noisy, axis=0), noisy.shape)  # the slow signal is removed too
    return page_summary(noisy, flat)


def test_noise_per_bin_is_lower_after(noise_removed: dict) -> None:
    before, after = np.array(noise_removed["noise_before"]), np.array(noise_removed["noise_after"])
    assert before.shape == after.shape == (W,)
    np.testing.assert_allclose(np.median(before), 5.0, rtol=0.15)
    assert np.all(after < 0.5 * before)
    assert noise_removed["noise_ratio_median"] < 0.5


def test_partial_denoising_lowers_noise_in_proportion() -> None:
    clean, noisy = synthetic()
    half = clean + 0.5 * (noisy - clean)
    s = page_summary(noisy, half)
    assert s["noise_ratio_median"] == pytest.approx(0.5, rel=0.15)


def test_noise_left_in_few_components_is_seen() -> None:
    """An output whose leftover noise lies in one spectral component (as a projection's does)
    still shows it: half the noise level in every bin, not a numerical floor."""
    clean, noisy = synthetic()
    left = 2.5 * np.random.default_rng(7).standard_normal(T)[:, None] * np.ones(W)[None, :]
    s = page_summary(noisy, clean + left)
    assert s["noise_ratio_median"] == pytest.approx(0.5, rel=0.15)
    dead = noisy.copy()
    dead[:, 3] = 100.0  # a bin that never changes keeps its level, not a division by zero
    after = np.array(page_summary(dead, dead)["noise_after"])
    assert np.isfinite(after).all() and after[3] == pytest.approx(page_summary(dead, dead)["noise_before"][3])


def test_whiteness_near_zero_for_removed_noise(noise_removed: dict) -> None:
    assert len(noise_removed["autocorr"]) == 20
    assert abs(noise_removed["whiteness"]) < 0.05
    assert np.max(np.abs(noise_removed["autocorr"])) < 0.1


def test_whiteness_high_when_smooth_signal_removed(signal_removed: dict) -> None:
    assert signal_removed["whiteness"] > 0.7
    assert signal_removed["autocorr"][0] > 0.9


def test_leading_share_is_k_over_w_for_noise(noise_removed: dict) -> None:
    expected = noise_removed["leading_share_noise"]
    assert expected == pytest.approx(16 / W)
    assert noise_removed["leading_share"] == pytest.approx(expected, abs=0.08)


def test_leading_share_high_when_signal_removed(signal_removed: dict) -> None:
    assert signal_removed["leading_share"] > 0.9


def test_removed_time_mean_is_the_fixed_pattern() -> None:
    """A per-bin offset constant in time that denoising removed shows as the removed time mean;
    with noise alone removed that mean is the noise's mean, 5 / sqrt(800) = 0.18 per bin."""
    clean, noisy = synthetic()
    pattern = 8.0 * np.random.default_rng(3).standard_normal(W)
    s = page_summary(noisy + pattern, clean)
    assert np.corrcoef(s["removed_mean"], pattern)[0, 1] > 0.99
    assert s["removed_mean_rms"] == pytest.approx(np.sqrt(np.mean(pattern**2)), rel=0.05)
    assert page_summary(noisy, clean)["removed_mean_rms"] < 0.3


def test_autocorrelation_of_a_constant_is_zero() -> None:
    np.testing.assert_array_equal(autocorrelation(np.ones((50, 4))), np.zeros(20))


def test_report_html_is_self_contained_and_lists_everything() -> None:
    clean, noisy = synthetic()
    prov = {"model": "spectral", "precision": "fp32", "model_sha256": "ab" * 32, "fluorodn": "0.1.0",
            "settings": {"dtype": "float32"}}  # fmt: skip
    text, summary = build_report(noisy, clean, provenance=prov, warnings=["the recording is noisier than any"])
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("data:image/png;base64,") == 5
    assert "http://" not in text and "https://" not in text and "<script" not in text
    for fragment in ("ab" * 32, "fp32", "noisier than any", "spectral"):
        assert fragment in text
    assert summary["warnings"] == ["the recording is noisier than any"]
    assert summary["provenance"] == prov
    assert len(summary["pages"]) == 1


def test_stack_has_a_section_per_page_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from fluorodn import report

    monkeypatch.setattr(report, "MAX_SECTIONS", 2)
    clean, noisy = synthetic()
    stack_noisy = np.stack([noisy[:200], noisy[200:400], noisy[400:600]])
    stack_clean = np.stack([clean[:200], clean[200:400], clean[400:600]])
    text, summary = build_report(stack_noisy, stack_clean)
    assert len(summary["pages"]) == 3
    assert "<h2>Page 0</h2>" in text and "<h2>Page 1</h2>" in text and "<h2>Page 2</h2>" not in text
    assert text.count("<tr><td>") == 3  # every page in the summary table
    assert "first 2 of 3 pages" in text


def test_sensor_traces_before_and_after() -> None:
    from fluorodn.unmixing import load_sensor

    wl_s, _ = load_sensor("example")
    wl = np.linspace(max(wl_s.min(), 480.0), min(wl_s.max(), 590.0), W)
    clean, noisy = synthetic()
    text, summary = build_report(noisy[:300], clean[:300], wavelengths=wl, sensor="example", rate=5.0)
    page = summary["pages"][0]
    assert page["sensor_std_after"] < page["sensor_std_before"]
    assert page["sensor_highband_power_ratio"] < 0.5
    assert text.count("data:image/png;base64,") == 7


def test_sensor_traces_leave_out_samples_taken_with_the_light_off() -> None:
    """Unmixing gives no sensor value where the light was off: the report's sensor statistics are
    taken over the lit samples, finite and as without them, and it raises no notice of its own."""
    import warnings

    from fluorodn.unmixing import load_sensor

    wl_s, _ = load_sensor("example")
    wl = np.linspace(max(wl_s.min(), 480.0), min(wl_s.max(), 590.0), W)
    clean, noisy = synthetic()
    clean, noisy = clean[:300].copy(), noisy[:300].copy()
    dark = 100.0 + np.random.default_rng(2).normal(0.0, 5.0, (20, W))
    clean[:20], noisy[:20] = dark, dark
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, summary = build_report(noisy, clean, wavelengths=wl, sensor="example", rate=5.0)
    page = summary["pages"][0]
    stats = [page["sensor_std_before"], page["sensor_std_after"], page["sensor_highband_power_ratio"]]
    assert np.isfinite(stats).all() and page["sensor_std_after"] < page["sensor_std_before"]
    json.dumps(summary, allow_nan=False)


def test_the_summary_is_of_the_lit_samples() -> None:
    """Samples taken with the light off (here exactly half of them, 400 of 800) are counted, and the
    summary's numbers are those of the lit samples alone: the dark level's low noise does not pull
    the noise level down."""
    clean, noisy = synthetic()
    lit_only = build_report(noisy[400:], clean[400:])[1]["pages"][0]
    dark = 100.0 + np.random.default_rng(2).normal(0.0, 1.0, (400, W))
    noisy[:400], clean[:400] = dark, dark
    page = build_report(noisy, clean)[1]["pages"][0]
    assert page["light_off"] == 400
    for name in ("noise_before", "noise_after"):
        np.testing.assert_allclose(page[name], lit_only[name], rtol=1e-9)
    assert page["removed_noise_units"] == pytest.approx(lit_only["removed_noise_units"], rel=1e-9)


def test_a_denoising_that_removes_the_sensors_changes_is_not_called_noise() -> None:
    """Where the default denoising removes most of a weak sensor's changes, the removed part is
    white and even across the spectrum, but with the sensor's spectrum the report measures what the
    sensor's trace kept, gives the verdict that signal may have been removed and says why; where
    the sensor's changes are kept, the verdict stays "looks like noise"."""
    import warnings

    import fluorodn
    from benchmarks.sensor_check import weak_sensor

    for noise, verdict_given, few in (
        (3.5, "structured: signal may have been removed", True),
        (1.0, "looks like noise", False),
    ):
        x, wl, _ = weak_sensor(noise, 11)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = fluorodn.Denoiser().run(x.astype(np.float32))
        page = build_report(x, y, wavelengths=wl, sensor="example", rate=5.0, dark=500.0)[1]["pages"][0]
        assert page["verdict"] == verdict_given
        assert (page["sensor_kept"] < 0.3) is few and (page["sensor_kept"] > 0.8) is not few
        notes = [n for n in page["sensor_notes"] if "removed most of the sensor's changes" in n]
        assert len(notes) == int(few)


def test_shapes_must_match() -> None:
    from fluorodn.errors import InputError

    with pytest.raises(InputError, match="matching"):
        build_report(np.zeros((10, 5)), np.zeros((10, 6)))
    x = np.random.default_rng(0).normal(100.0, 5.0, (40, 8))
    for wrong, said in ((x.astype(np.complex64), "real numbers"), (x[0], r"\(T, W\)"), (x[:3], "at least 4 samples")):
        with pytest.raises(InputError, match=said):
            build_report(wrong, x[: len(wrong)] if wrong.ndim == 2 else x)
    with pytest.raises(InputError, match="rate"):
        build_report(x, x, rate=-1.0)


def test_write_report_writes_html_and_json(tmp_path: Path) -> None:
    clean, noisy = synthetic()
    html_path, json_path = report_paths(tmp_path / "rec_denoised.tif")
    assert html_path.name == "rec_denoised_report.html" and json_path.name == "rec_denoised_report.json"
    written = write_report(html_path, noisy[:300], clean[:300])
    assert written == (html_path, json_path)
    summary = json.loads(json_path.read_text())
    assert summary["pages"][0]["noise_ratio_median"] < 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == [html_path.name, json_path.name]
    with pytest.raises(FileExistsError):
        write_report(html_path, noisy[:300], clean[:300])


def test_a_recording_against_itself_is_nothing_removed() -> None:
    """Denoising that removed nothing (the same file twice, or one written back in float32) gets
    its own verdict, not a pass: white and evenly spread hold trivially for nothing. A removed
    part of a tenth of the noise is something removed; the verdicts of noise and of signal removed
    stay as they were. A "denoised" recording as noisy as the noisy one or noisier (the two
    swapped, noise added) is not denoised, not noise removed; one whose spectrum's level or shape
    changed (an offset, a gain, a dip, a blur across wavelength) is said to be."""
    clean, noisy = synthetic()
    for denoised in (noisy, noisy.astype(np.float32)):
        text, summary = build_report(noisy[:300], denoised[:300])
        (page,) = summary["pages"]
        assert page["verdict"] == "nothing removed" and page["removed_noise_units"] < 1e-4
        assert '<td class="none">nothing removed</td>' in text and 'class="ok"' not in text
    lightly = page_summary(noisy, noisy - 0.1 * (noisy - clean))
    assert lightly["removed_noise_units"] == pytest.approx(0.1, rel=0.2)
    assert verdict(lightly) == "looks like noise"
    assert verdict(page_summary(noisy, clean)) == "looks like noise"
    flat = np.broadcast_to(np.median(noisy, axis=0), noisy.shape)
    assert verdict(page_summary(noisy, flat)) == "structured: signal may have been removed"
    assert page_summary(noisy, clean)["removed_noise_units"] == pytest.approx(1.0, rel=0.15)
    near = np.full((300, W), 100.0)
    near[3, 5] = 101.0  # all values equal but one
    assert verdict(page_summary(near, np.full_like(near, 100.0))) == "nearly constant: nothing to judge"
    # the files in the wrong order, or noise added: the removed part looks like noise, but nothing was denoised
    swapped = page_summary(clean, noisy)
    noisier = page_summary(noisy, noisy + np.random.default_rng(5).normal(0.0, 5.0, noisy.shape))
    assert swapped["noise_ratio_median"] > 10 and noisier["noise_ratio_median"] > 1.2
    assert verdict(swapped) == verdict(noisier) == "not denoised: as noisy as before, or more"
    text, _ = build_report(clean[:300], noisy[:300])
    assert '<td class="bad">not denoised: as noisy as before, or more</td>' in text
    # an offset, a gain, a dip or a blur across wavelength: each bin's time mean changed, which the whiteness
    # and the leading share (each bin's time mean taken out) do not see; the denoising's own shift does not count
    w = np.arange(W)
    changed = {
        "offset": clean + 20.0,
        "gain": clean * 1.01,
        "dip": clean - 20.0 * np.exp(-0.5 * ((w - 20) / 4.0) ** 2),
        "blur": gaussian_filter1d(noisy, 4, axis=1),
    }
    for name, out in changed.items():
        summary = page_summary(noisy, out)
        assert summary["removed_level"] >= CHANGED_LEVEL, name
        said = verdict(summary)  # a blur across wavelength also removes structure, which comes first
        assert said == "spectrum changed: its level or shape differs" or (name == "blur" and VERDICTS[said] == "bad")
    assert page_summary(noisy, clean)["removed_level"] < 0.1 * CHANGED_LEVEL
    # a narrow dip (a few bins, 2.4 x the noise at its deepest): diluted in the RMS over the bins, seen at
    # its worst bin
    summary = page_summary(noisy, clean - 12.0 * np.exp(-0.5 * ((w - 30) / 1.5) ** 2))
    assert summary["removed_level"] < CHANGED_LEVEL <= summary["removed_peak"]
    assert verdict(summary) == "spectrum changed: its level or shape differs"
    assert page_summary(noisy, clean)["removed_peak"] < 0.1 * CHANGED_LEVEL
    # a gain or an offset alone applied to the noisy recording: its noise stays, a copy of it is removed;
    # a change of level, not lost signal (the structure of that copy is not judged first)
    for out in (noisy * 1.005, noisy + 20.0):
        assert verdict(page_summary(noisy, out)) == "spectrum changed: its level or shape differs"
    # a filter over time removes the fast part of the noise, and fast signal with it: its removed part
    # alternates (lag-1 autocorrelation near -0.6), though its mean over 20 lags is near 0
    for smoothed in (uniform_filter1d(noisy, 3, axis=0), gaussian_filter1d(noisy, 0.8, axis=0)):
        summary = page_summary(noisy, smoothed)
        assert summary["autocorr"][0] < LAG1_FLOOR and abs(summary["whiteness"]) < 0.1
        assert verdict(summary) == "structured: signal may have been removed"
    assert page_summary(noisy, clean)["autocorr"][0] > LAG1_FLOOR
    assert 0 < NOTHING_REMOVED < 0.1 and set(VERDICTS) == {
        verdict(s)
        for s in (page, lightly, page_summary(noisy, flat), page_summary(near, np.full_like(near, 100.0)), swapped,
                  page_summary(noisy, changed["gain"]))
    }  # fmt: skip


def test_a_denoised_recording_denoised_again_is_structured_not_not_denoised() -> None:
    """Denoising a denoised recording again: its second differences hold what it kept, and keep it,
    so the noise left reads about 1; but what was removed is slow and structured, which the verdict
    says (were "not denoised" judged first, it would say that)."""
    _, noisy = synthetic()
    t = np.arange(T)[:, None]
    drift = 20.0 * np.sin(t / 150.0) * np.exp(-(np.linspace(-2, 2, W)[None, :] ** 2))
    again = page_summary(noisy, noisy - drift)
    assert again["noise_ratio_median"] == pytest.approx(1.0, abs=0.02)
    assert verdict(again) == "structured: signal may have been removed"


def test_a_detectors_fixed_pattern_removed_or_kept_is_no_changed_spectrum() -> None:
    """A white fixed pattern of 5 noise levels, removed as the default removes it (its estimate) or
    kept: not a changed spectrum (the pattern the spectral path estimates is taken out first); a
    dip of 30 counts on top of its removal still is."""
    from fluorodn.spectral import fit

    clean, noisy = synthetic()
    pattern = 25.0 * np.random.default_rng(9).standard_normal(W)  # 5 noise levels (noise 5)
    x = noisy + pattern
    estimate = fit(x).pattern
    assert estimate is not None and np.corrcoef(estimate, pattern)[0, 1] > 0.8
    less_noise = 0.8 * (noisy - clean)
    for out in (x - estimate - less_noise, x - less_noise):  # removed as the spectral path estimates it, or kept
        summary = page_summary(x, out)
        assert summary["removed_level"] < 0.3 * CHANGED_LEVEL
        assert verdict(summary) == "looks like noise"
    dip = 30.0 * np.exp(-0.5 * ((np.arange(W) - 20) / 4.0) ** 2)
    dipped = page_summary(x, x - estimate - less_noise - dip)
    assert verdict(dipped) == "spectrum changed: its level or shape differs"


def labels(ax: Any) -> tuple[str, str, str]:
    return ax.get_title(), ax.get_xlabel(), ax.get_ylabel()


def close(figures: list[Any]) -> None:
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


def test_the_figures_label_their_axes_with_units() -> None:
    """Every value axis names its unit (counts, a.u., Hz or 1/sample); the removed part's image
    has a colour bar in counts; the noisy and denoised images are shown relative to the noisy
    recording's mean spectrum over the samples shown, on the removed part's colour scale."""
    clean, noisy = synthetic()
    wl = np.linspace(480.0, 590.0, W)
    noise, corr, mean = noise_figures(page_summary(noisy, clean), wl)
    assert labels(noise.axes[0])[1:] == ("wavelength (nm)", "noise level (counts)")
    assert labels(corr.axes[0])[1:] == ("lag (samples)", "autocorrelation")
    assert labels(mean.axes[0]) == ("time mean removed per bin", "wavelength (nm)", "removed time mean (counts)")
    heat, trace = segment_figures(noisy, clean, wl)
    images = [ax for ax in heat.axes if ax.get_images()]
    bars = [ax for ax in heat.axes if not ax.get_images()]
    assert [ax.get_title() for ax in images] == ["noisy\n− mean spectrum", "denoised\n− mean spectrum",
                                                  "removed\n(noisy − denoised)"]  # fmt: skip
    assert len(bars) == 1 and "counts" in bars[0].get_ylabel()
    (noisy_image,), (_,), (removed_image,) = (ax.get_images() for ax in images)
    assert noisy_image.get_clim() == removed_image.get_clim()  # one colour scale
    shown = noisy_image.get_array()
    segment = noisy[(T - SEGMENT) // 2 :][:SEGMENT]
    np.testing.assert_allclose(shown, segment - segment.mean(axis=0))
    assert labels(trace.axes[0])[1:] == ("sample", "counts")
    assert labels(images[0])[1:] == ("wavelength (nm)", "sample")
    (traces, spectra), _ = sensor_figures(noisy[:, 0] / 100, clean[:, 0] / 100, 5.0)
    assert labels(traces.axes[0])[1:] == ("time (s)", "sensor a(t) (a.u.)")
    assert labels(spectra.axes[0])[1:] == ("frequency (Hz)", "power (a.u.²/Hz)")
    (_, per_sample), _ = sensor_figures(noisy[:, 0] / 100, clean[:, 0] / 100, None)
    assert labels(per_sample.axes[0])[1:] == ("frequency (1/sample)", "power (a.u.²·sample)")
    close([noise, corr, mean, heat, trace, traces, spectra, per_sample])


def test_light_off_rows_are_grey_shaded_and_out_of_the_trace_range() -> None:
    """Samples taken with the light off sit far below the lit ones: they are found, counted, grey
    in the images and shaded in the trace, whose y range holds the lit samples; the legend lies
    outside the plotted area."""
    clean, noisy = synthetic()
    clean, noisy = clean.copy(), noisy.copy()
    dark = np.zeros(T, dtype=bool)
    dark[380:410] = True
    clean[dark] = noisy[dark] = 2.0 + np.random.default_rng(4).normal(0.0, 1.0, (int(dark.sum()), W))
    text, summary = build_report(noisy, clean)
    assert summary["pages"][0]["light_off"] == 30 and "30 of 800 samples read as taken with the light off" in text
    heat, trace = segment_figures(noisy, clean, None, dark=dark)
    ax = trace.axes[0]
    lit = ~dark[(T - SEGMENT) // 2 :][:SEGMENT]
    low, high = ax.get_ylim()
    assert low > 0.5 * float(np.min(clean[~dark])) and high < 1.5 * float(np.max(noisy))
    assert [p.get_label() for p in ax.patches] == ["light off"]
    trace.canvas.draw()
    legend, area = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.y1 < area.y0 or legend.x0 > area.x1  # outside the axes
    removed = heat.axes[2].get_images()[0].get_array()
    assert np.ma.getmaskarray(removed)[~lit].all() and not np.ma.getmaskarray(removed)[lit].any()
    close([heat, trace])


def test_an_image_stack_is_reported_in_frames_rows_and_columns() -> None:
    """Frames (an image model's pages, or pages that do not look like recordings) are reported as
    frames of rows and columns; wavelengths or a rate make pages recordings."""
    rng = np.random.default_rng(5)
    frames = 100.0 + rng.normal(0.0, 5.0, (2, 64, 64))
    text, summary = build_report(frames, frames * 0.5 + 50.0)
    assert summary["kind"] == "image"
    for said in ("image shape 2 x 64 x 64 (frames x rows x columns)", "<h2>Frame 0</h2>", "<th>frame</th>",
                 "median over columns", "removed column mean, RMS over columns (counts)"):  # fmt: skip
        assert said in text
    for spectral_word in ("wavelength", "time mean", "brightest bin", "sample", "<h2>Page"):
        assert spectral_word not in text
    s = page_summary(frames[0], frames[0] * 0.5 + 50.0)
    noise, corr, mean = noise_figures(s, None, IMAGE)
    assert noise.axes[0].get_title() == "noise per column" and noise.axes[0].get_xlabel() == "column"
    assert corr.axes[0].get_xlabel() == "lag (rows)"
    assert labels(mean.axes[0]) == ("mean removed from each column", "column", "removed column mean (counts)")
    heat, trace = segment_figures(frames[0], frames[0] * 0.5 + 50.0, None, terms=IMAGE)
    assert heat.axes[0].get_ylabel() == "row" and heat.axes[0].get_xlabel() == "column"
    assert labels(trace.axes[0]) == (f"brightest column (column {trace.axes[0].get_title().split()[-1][:-1]})",
                                     "row", "counts")  # fmt: skip
    close([noise, corr, mean, heat, trace])
    _, recording = build_report(synthetic()[1][:300], synthetic()[0][:300])
    assert recording["kind"] == "recording"
    square = frames[0][:, :40]  # 64 x 40: a recording only where it is known to be one
    assert build_report(square, square + 1.0)[1]["kind"] == "image"
    assert build_report(square, square + 1.0, rate=5.0)[1]["kind"] == "recording"
    assert build_report(synthetic()[1][:300], synthetic()[0][:300], provenance={"model": "low"})[1]["kind"] == "image"


def test_the_layout_holds_at_narrow_widths() -> None:
    """The provenance table breaks its long values (a sha256) inside its box and scrolls where
    it must; the figures sit in a wrapping row, each at most 720 px wide, so that at 700 px a
    figure is scaled by 0.9 or more and its 12.5 px text stays above 11 px."""
    import base64
    import re
    import struct

    clean, noisy = synthetic()
    text, _ = build_report(noisy[:300], clean[:300], provenance={"model_sha256": "ab" * 32})
    assert "table.prov td{overflow-wrap:anywhere" in text and ".scroll{max-width:100%;overflow-x:auto}" in text
    assert '<h2>Provenance</h2><div class="scroll"><table class="prov">' in text
    assert ".figs{display:flex;flex-wrap:wrap" in text and 'name="viewport"' in text
    widths = [struct.unpack(">I", base64.b64decode(data)[16:20])[0]
              for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)]  # fmt: skip
    assert len(widths) == 5 and max(widths) <= 720
    assert text.count('<div class="figs">') == 1


def test_warnings_of_the_sensor_unmixing_are_shown_once_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    """A warning the report's two unmixings give (noisy and denoised) is one note beside the
    traces, the noisy recording's, in the HTML and the JSON; none escapes as a Python warning."""
    import warnings

    from fluorodn import unmixing
    from fluorodn.unmixing import load_sensor

    real = unmixing.unmix
    calls: list[int] = []

    def unmix(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        warnings.warn(f"a note of unmixing number {len(calls)}", UserWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(unmixing, "unmix", unmix)
    wl_s, _ = load_sensor("example")
    wl = np.linspace(max(wl_s.min(), 480.0), min(wl_s.max(), 590.0), W)
    clean, noisy = synthetic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text, summary = build_report(noisy[:300], clean[:300], wavelengths=wl, sensor="example", rate=5.0)
    notes = [note for note in summary["pages"][0]["sensor_notes"] if note.startswith("a note of unmixing")]
    assert notes == ["a note of unmixing number 1"] and len(calls) == 2
    assert '<div class="warn">unmixing: a note of unmixing number 1</div>' in text and "number 2" not in text


def test_a_dark_level_given_reaches_the_sensor_unmixing() -> None:
    """A recording on a floor of counts gets the dark-level note beside its sensor traces, worded
    through ``reword``; the dark level given silences it and reaches both unmixings (the traces
    are the ones :func:`fluorodn.unmix` gives with it)."""
    from fluorodn import unmix
    from fluorodn.unmixing import load_sensor

    wl_s, _ = load_sensor("example")
    wl = np.linspace(max(wl_s.min(), 480.0), min(wl_s.max(), 590.0), W)
    clean, noisy = synthetic()
    floor, rows = noisy[:300] + 500.0, clean[:300] + 500.0
    _, without = build_report(floor, rows, wavelengths=wl, sensor="example", rate=5.0,
                              reword=lambda m: m.replace("dark=...", "--dark"))  # fmt: skip
    assert any("--dark" in note for note in without["pages"][0]["sensor_notes"]), without["pages"][0]["sensor_notes"]
    _, given = build_report(floor, rows, wavelengths=wl, sensor="example", rate=5.0, dark=500.0)
    assert not any("dark" in note for note in given["pages"][0]["sensor_notes"])
    # of several pages (an interleaved file's excitations), each note names its page
    _, two = build_report(np.stack([floor, floor]), np.stack([rows, rows]), wavelengths=wl, sensor="example", rate=5.0)
    for k in (0, 1):
        assert any(note.startswith(f"on page {k}, no dark level") for note in two["pages"][k]["sensor_notes"])
    expected = unmix(floor, wl, "example", denoise=False, rate=5.0, dark=500.0).sensor
    assert given["pages"][0]["sensor_std_before"] == pytest.approx(float(np.nanstd(expected)), rel=1e-6)
