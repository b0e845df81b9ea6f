"""fluorodn._report_figures: what the report's figures draw, read back from the figures."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from fluorodn._report_figures import COLUMNS, LONG, SEGMENT, noise_figures, segment_figures, sensor_figures
from fluorodn.report import page_summary

RATE = 5.0


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def sensor_traces(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, denoised) sensor traces of ``n`` samples: events that rise at once and decay, with
    white noise on the noisy one."""
    rng = np.random.default_rng(seed)
    kicks = np.where(rng.random(n) < 0.04, rng.exponential(1.0, n), 0.0)
    clean = np.zeros(n)
    for i in range(1, n):
        clean[i] = 0.97 * clean[i - 1] + kicks[i]
    return clean + rng.normal(0.0, 0.3, n), clean


def recording(rows: int = 800, bins: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, denoised) (rows, bins): one spectrum whose brightness changes slowly, plus noise."""
    rng = np.random.default_rng(seed)
    spectrum = 1000.0 * np.exp(-(np.linspace(-2.0, 2.0, bins) ** 2)) + 100.0
    clean = spectrum[None, :] * (1.0 + 0.1 * np.sin(np.arange(rows) / 50.0))[:, None]
    return clean + rng.normal(0.0, 10.0, clean.shape), clean


def envelopes(ax: Any) -> list[np.ndarray]:
    """The vertices (x, y) of each filled area on ``ax``, one array of them per area."""
    return [np.concatenate([p.vertices for p in c.get_paths()]) for c in ax.collections if c.get_paths()]


def points(ax: Any) -> int:
    """How many points the lines and filled areas of ``ax`` draw."""
    return sum(len(line.get_xdata()) for line in ax.get_lines()) + sum(len(v) for v in envelopes(ax))


def x_span(patch: Any) -> tuple[float, float]:
    """The x range (data) a span drawn by ``axvspan`` covers."""
    x = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
    return float(x.min()), float(x.max())


def data_axes(fig: Any) -> list[Any]:
    return [ax for ax in fig.axes if ax.get_lines() or ax.collections]


def assert_legends_outside(fig: Any) -> None:
    """Every legend of ``fig`` lies outside the data area of every axes and off their x axis's
    ticks and label."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            area = ax.get_window_extent(renderer)
            assert not box.overlaps(area), (box, area, ax.get_title())
            assert not box.overlaps(ax.xaxis.get_tightbbox(renderer)), ax.get_title()


def test_a_long_sensor_trace_is_drawn_whole_as_an_envelope_and_zoomed_on_the_images_samples() -> None:
    """A trace of hours is drawn as the range of each of a bounded number of stretches (the noisy
    one's and the denoised one's, which hold each trace's least and greatest value), the stretch
    the images show marked on it and drawn sample by sample in a panel of its own."""
    n = 20000
    before, after = sensor_traces(n)
    (traces, _), _ = sensor_figures(before, after, RATE)
    overview, zoom = data_axes(traces)
    assert points(overview) <= 2 * (4 * COLUMNS + 8) and not overview.get_lines()  # two areas, whatever n is
    noisy, denoised = envelopes(overview)
    for vertices, trace in ((noisy, before), (denoised, after)):
        assert vertices[:, 1].min() == trace.min() and vertices[:, 1].max() == trace.max()
    low, high = overview.get_ylim()
    assert low < before.min() and high > before.max()
    start = (n - SEGMENT) // 2
    expected = ((start - 0.5) / RATE, (start + SEGMENT - 0.5) / RATE)
    np.testing.assert_allclose(zoom.get_xlim(), expected)
    marks = [p for p in overview.patches if p.get_label() == "zoomed in below"]
    assert len(marks) == 1
    np.testing.assert_allclose(x_span(marks[0]), expected)
    (from_noisy, from_denoised) = zoom.get_lines()
    np.testing.assert_array_equal(from_noisy.get_xdata(), np.arange(start, start + SEGMENT) / RATE)
    np.testing.assert_array_equal(from_noisy.get_ydata(), before[start : start + SEGMENT])
    np.testing.assert_array_equal(from_denoised.get_ydata(), after[start : start + SEGMENT])
    assert_legends_outside(traces)


def test_a_short_sensor_trace_stays_lines_of_every_sample() -> None:
    before, after = sensor_traces(300)
    (traces, spectra), _ = sensor_figures(before, after, None)
    (ax,) = data_axes(traces)
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [300, 300]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), before)
    assert_legends_outside(traces)
    assert_legends_outside(spectra)
    assert LONG >= 300  # short by the module's measure


def test_light_off_samples_are_gaps_in_the_overview_and_the_zoom() -> None:
    """Samples that are NaN are left out: a stretch of them is a shaded gap in the envelope, and
    NaN in the zoomed lines."""
    n = 20000
    before, after = sensor_traces(n, seed=1)
    off = np.zeros(n, dtype=bool)
    off[4000:6000] = True
    start = (n - SEGMENT) // 2
    off[start + 100 : start + 130] = True
    before[off] = after[off] = np.nan
    (traces, _), stats = sensor_figures(before, after, RATE)
    overview, zoom = data_axes(traces)
    per = n / COLUMNS
    for vertices in envelopes(overview):
        assert np.isfinite(vertices).all()
        x = vertices[:, 0] * RATE
        assert not ((x > 4000 + per) & (x < 6000 - per)).any()  # nothing drawn inside the gap
        assert ((x > 6000) & (x < 6000 + 2 * per)).any() and ((x < 4000) & (x > 4000 - 2 * per)).any()
    assert [p.get_label() for p in overview.patches if p.get_label() == "light off"] == ["light off"]
    shaded = [p for p in overview.patches if p.get_facecolor()[:3] == pytest.approx((0.75, 0.75, 0.75))]
    assert any(x_span(p)[0] <= 4000 / RATE and x_span(p)[1] >= 5999 / RATE for p in shaded)
    (line, _, *_) = zoom.get_lines()
    x, y = line.get_xdata() * RATE - start, line.get_ydata()
    assert np.isnan(y).sum() == 1 and np.isnan(x).sum() == 1  # the line broken once, across the gap
    np.testing.assert_array_equal(x[np.isfinite(x)], [*range(100), *range(130, SEGMENT)])
    assert np.isfinite(stats["sensor_std_before"])
    assert "lit ones" not in overview.get_title()  # every stretch holding dark samples is shaded


def test_light_off_every_other_sample_is_bridged_not_shaded() -> None:
    """Light off every other sample: the lines join the lit samples, which are all drawn, a tick
    under the axes marks each dark one, nothing is shaded grey, and the overview says its ranges
    are of the lit samples; the brightest-bin trace alike."""
    n = 20000
    before, after = sensor_traces(n, seed=2)
    before[1::2] = after[1::2] = np.nan
    (traces, _), _ = sensor_figures(before, after, RATE)
    overview, zoom = data_axes(traces)
    assert not [p for p in overview.patches if p.get_label() == "light off"]
    assert "range of the lit ones of every" in overview.get_title()
    noisy, denoised = envelopes(overview)
    assert np.nanmax(noisy[:, 1]) == np.nanmax(before) and np.nanmin(denoised[:, 1]) == np.nanmin(after)
    start = (n - SEGMENT) // 2
    from_noisy, from_denoised, ticks = zoom.get_lines()
    lit = np.arange(start, start + SEGMENT)[(np.arange(start, start + SEGMENT) % 2) == 0]
    np.testing.assert_array_equal(from_noisy.get_xdata() * RATE, lit)  # every lit sample, in one line
    np.testing.assert_array_equal(from_denoised.get_ydata(), after[lit])
    np.testing.assert_array_equal(np.asarray(ticks.get_xdata()) * RATE, lit + 1)
    assert ticks.get_label().startswith("light off") and not zoom.patches

    noisy_rec, denoised_rec = recording(rows=1200)
    dark = np.arange(1200) % 2 == 1
    _, trace = segment_figures(noisy_rec, denoised_rec, None, dark=dark)
    ax = trace.axes[0]
    lines = ax.get_lines()
    rows = np.arange((1200 - SEGMENT) // 2, (1200 + SEGMENT) // 2)
    assert [len(line.get_xdata()) for line in lines[:2]] == [SEGMENT // 2] * 2
    assert np.isfinite(lines[0].get_ydata()).all() and not ax.patches
    np.testing.assert_array_equal(lines[2].get_xdata(), rows[dark[rows]])


def test_the_brightest_bin_trace_holds_the_whole_denoised_trace_and_marks_noisy_outliers() -> None:
    """A brief event (2 samples) in the denoised trace lies inside the y range; a noisy spike
    that does not lies beyond it and is marked on the axes' edge."""
    noisy, denoised = recording()
    start = (len(noisy) - SEGMENT) // 2
    event, spike = start + 300, start + 450
    denoised[event : event + 2] *= 3.0
    noisy[event : event + 2] = denoised[event : event + 2] + 5.0
    noisy[spike] += 8000.0
    _, trace = segment_figures(noisy, denoised, None)
    ax = trace.axes[0]
    bright = int(np.argmax(np.median(noisy, axis=0)))
    shown = denoised[start : start + SEGMENT, bright]
    low, high = ax.get_ylim()
    assert low < shown.min() and high > shown.max()
    bulk = np.percentile(noisy[start : start + SEGMENT, bright], [1, 99])
    assert low < bulk[0] and high > bulk[1]
    assert high < noisy[spike, bright]
    (marker,) = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert marker.get_xdata().tolist() == [spike] and marker.get_ydata().tolist() == [high]
    assert "beyond the axes (1)" in marker.get_label()
    assert_legends_outside(trace)


def test_the_brightest_bin_trace_leaves_light_off_samples_out_of_its_range() -> None:
    noisy, denoised = recording(seed=2)
    dark = np.zeros(len(noisy), dtype=bool)
    start = (len(noisy) - SEGMENT) // 2
    dark[start + 200 : start + 240] = True
    noisy[dark] = denoised[dark] = 2.0
    _, trace = segment_figures(noisy, denoised, None, dark=dark)
    ax = trace.axes[0]
    low, high = ax.get_ylim()
    lit = ~dark[start : start + SEGMENT]
    bright = int(np.argmax(np.median(noisy[~dark], axis=0)))
    shown = denoised[start : start + SEGMENT, bright][lit]
    assert 100.0 < low < shown.min() and shown.max() < high < 2 * shown.max()
    assert not any(line.get_marker() in ("^", "v") for line in ax.get_lines())


def test_the_noise_per_bin_legend_is_outside_its_data() -> None:
    noisy, denoised = recording()
    noise, _, _ = noise_figures(page_summary(noisy, denoised), np.linspace(480.0, 590.0, noisy.shape[1]))
    assert_legends_outside(noise)


def test_a_bin_without_noise_after_denoising_is_drawn_on_a_floor_without_warning() -> None:
    """A level of 0 cannot stand on a log axis: it is drawn at a floor below every other level,
    named in the legend; where every level is 0 the axis is linear. No warning either way, and a
    finite y range."""
    noisy, denoised = recording()
    denoised[:, 3] = 500.0  # nothing left of the bin's changes
    s = page_summary(noisy, denoised)
    assert s["noise_after"][3] == 0.0
    s["noise_after"][5] = None  # a bin without a value stays a gap
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        noise, _, _ = noise_figures(s, None)
        noise.canvas.draw()
    ax = noise.axes[0]
    assert ax.get_yscale() == "log"
    _, after = (line.get_ydata() for line in ax.get_lines()[:2])
    positive = [v for v in s["noise_after"] if v]
    floor = after[3]
    assert 0 < floor < min(positive) and np.isnan(after[5])
    low, high = ax.get_ylim()
    assert np.isfinite([low, high]).all() and 0 < low < floor and high > max(s["noise_before"])
    assert any(str(floor)[:4] in text.get_text() for text in noise.legends[0].get_texts())

    nothing = {**s, "noise_before": [0.0] * len(s["noise_before"]), "noise_after": [0.0] * len(s["noise_after"])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat, _, _ = noise_figures(nothing, None)
        flat.canvas.draw()
    assert flat.axes[0].get_yscale() == "linear" and np.isfinite(flat.axes[0].get_ylim()).all()
    assert "0" in flat.legends[0].get_title().get_text()
