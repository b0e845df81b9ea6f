"""Interleaved excitations: detected only when unambiguous, split and merged back in row order."""

from __future__ import annotations

import numpy as np
import pytest

from fluorodn import formats
from fluorodn.errors import FileFormatError
from fluorodn.formats import interleave

from .conftest import spectra


@pytest.mark.parametrize("levels", [(1000.0, 400.0), (1000.0, 400.0, 700.0)])
def test_detects_the_number_of_excitations(levels):
    data = spectra(600, 16, levels=levels)
    assert interleave.detect(data, "rec") == len(levels)


def test_a_plain_recording_is_not_interleaved():
    for seed in range(5):
        assert interleave.detect(spectra(600, 16, seed=seed), "rec") == 1


def test_ambiguous_alternation_asks_for_the_option():
    data = spectra(600, 16)
    data[::2] += 5.0  # every other row a little brighter: a few times the noise, not clearly two light sources
    with pytest.raises(FileFormatError, match="excitations=N"):
        interleave.detect(data, "rec")


def test_split_and_merge_restore_row_order_for_odd_lengths():
    data = np.arange(7 * 3, dtype=float).reshape(7, 3)
    parts = interleave.split(data, 2)
    assert [p.shape[0] for p in parts] == [4, 3]
    np.testing.assert_array_equal(interleave.merge(parts), data)


def test_a_declared_count_whose_alternation_breaks_is_refused():
    data = spectra(400, 8, levels=(1000.0, 400.0))
    broken = np.concatenate([data[:201], data[202:]])  # one dropped frame swaps the phases
    with pytest.raises(FileFormatError, match="breaks off"):
        interleave.check_declared(broken, 2, "rec")
    interleave.check_declared(data, 2, "rec")


def test_a_declared_count_that_the_alternation_does_not_fit_is_refused():
    """Rows alternating cleanly between two light sources, declared as 3: each of the 3 channels
    would hold rows of both sources (their gains jumping 1.46 / 0.59 from sample to sample), so it
    is refused, naming the count that fits. 4 (twice 2: two pairs of equal sources) and 2 stand, as
    does any count on sources of equal brightness."""
    data = spectra(600, 16, levels=(1000.0, 400.0))
    with pytest.raises(FileFormatError, match=r"levels of 2 interleaved excitations, not 3.*excitations=2"):
        interleave.check_declared(data, 3, "rec")
    for n in (2, 4):
        interleave.check_declared(data, n, "rec")
    for n in (2, 3):
        interleave.check_declared(spectra(600, 16), n, "rec")


def test_read_splits_an_interleaved_export_into_channels_with_their_own_times(export):
    values = np.round(spectra(401, 16, levels=(1000.0, 400.0)), 2)
    path = export(values)
    rec = formats.read(path)
    assert rec.excitations == 2 and [c.name for c in rec.channels] == ["excitation 1", "excitation 2"]
    np.testing.assert_array_equal(rec.channels[0].data, values[0::2])
    np.testing.assert_allclose(rec.channels[1].times, np.arange(1, 401, 2) * 0.2, atol=1e-9)
    assert abs(rec.channels[0].timing.rate_hz - 2.5) < 1e-6 and abs(rec.timing.rate_hz - 5.0) < 1e-6
    np.testing.assert_array_equal(rec.arrange([c.data for c in rec.channels])[0], values)
    assert formats.read(path, excitations=1).excitations == 1
    with pytest.raises(FileFormatError, match=r"excitations=\.\.\. must be"):
        formats.read(path, excitations=0)


def test_an_undeclared_alternation_that_breaks_off_is_not_taken_for_a_plain_recording():
    data = spectra(400, 8, levels=(1000.0, 400.0))
    broken = np.concatenate([data[:201], data[202:]])
    with pytest.raises(FileFormatError, match=r"alternates like 2 interleaved excitations until spectrum 20[12],"):
        interleave.detect(broken, "rec")


def test_a_frame_dropped_near_the_end_is_refused_whether_declared_or_detected():
    # one frame dropped in the last 1 % of the cycles: too few cycles for the share of cycles out of
    # order, three running clearly swapped are a dropped frame
    data = spectra(2000, 8, levels=(1000.0, 400.0))
    broken = np.concatenate([data[:1990], data[1991:]])
    with pytest.raises(FileFormatError, match="until spectrum 1990, where the phases swap"):
        interleave.detect(broken, "rec")
    with pytest.raises(FileFormatError, match="breaks off from spectrum 1990 on"):
        interleave.check_declared(broken, 2, "rec")
    # a few cycles of the light off (both phases dark) are no swap
    dark = data.copy()
    dark[1000:1010] = np.random.default_rng(1).normal(0, 3, (10, 8))
    assert interleave.detect(dark, "rec") == 2
    interleave.check_declared(dark, 2, "rec")


def test_timestamps_that_show_a_dropped_frame_refuse_interleaved_rows_of_equal_level(export):
    # sources of equal brightness: the intensities cannot tell, the timestamps can
    values = np.round(spectra(400, 16, levels=(700.0, 700.0)), 2)
    times = [f"{i * 0.2:.3f}" for i in range(401) if i != 301]  # frame 301 dropped
    path = export(values, times=times, stamp_kind="seconds")
    assert formats.read(path).excitations == 1  # not detected: nothing to refuse
    with pytest.raises(FileFormatError, match="1 frame dropped before spectrum 301, which shifts the 2 interleaved"):
        formats.read(path, excitations=2)
    # a whole cycle dropped keeps the phases
    times = [f"{i * 0.2:.3f}" for i in range(402) if i not in (300, 301)]
    assert formats.read(export(values, "whole.txt", times=times, stamp_kind="seconds"), excitations=2).excitations == 2


def test_sources_of_equal_brightness_are_told_apart_by_their_spectra():
    # two emission shapes whose summed intensities are equal: the rows' spectral centroids alternate
    rng = np.random.default_rng(5)
    wl = np.linspace(480, 590, 100)
    a, b = np.exp(-0.5 * ((wl - 515) / 12) ** 2), np.exp(-0.5 * ((wl - 560) / 20) ** 2)
    b *= a.sum() / b.sum()
    rows = np.where((np.arange(2000) % 2 == 0)[:, None], 300 + 800 * a, 300 + 800 * b)
    data = rows + 15 * rng.standard_normal(rows.shape)
    assert interleave._detect_on(data.sum(axis=1), "rec") == 1  # the intensities cannot tell
    assert interleave.detect(data, "rec") == 2
    # one shape throughout, its level changing slowly: one source
    assert interleave.detect(300 + 800 * a * (1 + 0.1 * np.sin(np.arange(2000) / 50))[:, None], "rec") == 1


def test_a_brief_crossing_of_the_levels_is_no_dropped_frame():
    # an event on the dimmer excitation lifts it above the other for 10 cycles, then the order comes
    # back: a dropped frame swaps the phases for the rest of the recording
    rng = np.random.default_rng(1)
    level = np.where(np.arange(4000) % 2 == 0, 1000.0, 900.0)
    event = np.zeros(4000)
    event[2001:2021:2] = 0.2
    data = (level * (1 + event))[:, None] / 16 + rng.normal(0, 5 / 4, (4000, 16))
    assert interleave.detect(data, "rec") == 2
    interleave.check_declared(data, 2, "rec")


def test_sources_fired_unevenly_in_each_cycle_are_not_taken_for_dropped_frames():
    # two sources 10 ms apart every 50 ms: the rows' steps alternate 10 and 40 ms, each excitation at 20 Hz
    times = np.cumsum(np.tile([0.01, 0.04], 200))
    interleave.check_dropped(times, 2, "rec")
    with pytest.raises(FileFormatError, match="1 frame dropped before spectrum 301"):
        interleave.check_dropped(np.delete(np.arange(401) * 0.2, 301), 2, "rec")
