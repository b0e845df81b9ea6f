"""Timestamps: the real rate, jitter and dropped frames; declared rates checked to 1 %."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fluorodn.errors import FileFormatError
from fluorodn.formats.timing import check, check_declared, check_finite, parse_times


def test_rate_jitter_and_dropped_frames():
    rng = np.random.default_rng(0)
    t = np.arange(1000) * 0.2 + rng.normal(0, 0.002, 1000)
    t = np.delete(t, [100, 500, 501])  # one frame lost, then two
    timing = check(t, "rec")
    assert abs(timing.rate_hz - 5.0) < 0.01
    assert 0.001 < timing.jitter_s < 0.004
    assert timing.dropped == 3 and timing.gaps == (100, 499)
    assert "3 dropped frames before samples 100, 499" in timing.describe()


@pytest.mark.parametrize(
    ("rate", "tick", "written"),
    [
        (30.0, 1e-3, None),
        (15.0, 1e-3, None),
        (10.0, 0.015625, None),
        (20.0, 0.015625, None),
        (30.0, 0.015625, 3),
        (30.0, 0.0156, None),
    ],
    ids=[
        "30 Hz, ms",
        "15 Hz, ms",
        "10 Hz, 15.6 ms tick",
        "20 Hz, 15.6 ms tick",
        "30 Hz, 15.6 ms tick in ms",
        "30 Hz, 0.0156 s tick",
    ],
)
def test_a_clock_coarser_than_the_samples_gives_the_true_rate(rate, tick, written):
    """Timestamps rounded down to a clock's tick (milliseconds; a PC's 15.6 ms, written to ``written``
    decimals) take two interval lengths: the rate is their mean's (the median's is one of them, 30
    Hz read as 30.3 Hz; at 30 Hz on 15.6 ms ticks the longer is 1.5 times the shorter, and no frame
    is taken for dropped), a true declared rate passes, and a dropped frame is still counted once."""
    true = np.arange(3000) / rate + 37.0033
    t = np.floor(true / tick) * tick
    if written is not None:
        t = np.round(t, written)
    assert abs(1.0 / np.median(np.diff(t)) - rate) / rate > 0.004  # what the median would say
    timing = check(t, "rec", declared_hz=rate)
    assert timing.rate_hz == pytest.approx(rate, rel=2e-4) and timing.dropped == 0
    timing = check(np.delete(t, [1000, 2000, 2001]), "rec")
    assert timing.rate_hz == pytest.approx(rate, rel=2e-4)
    assert timing.dropped == 3 and timing.gaps == (1000, 1999)


def test_declared_rate_within_one_percent_passes_and_beyond_is_refused():
    timing = check(np.arange(200) / 12000.0, "rec")
    check_declared(timing, 12000 * 1.009, "rec")
    with pytest.raises(FileFormatError, match=r"declared sampling rate 1000 Hz differs from the 12000 Hz"):
        check_declared(timing, 1000.0, "rec")
    with pytest.raises(FileFormatError, match="positive"):
        check_declared(timing, -5.0, "rec")


def test_times_going_back_or_standing_still_are_refused():
    with pytest.raises(FileFormatError, match="spectrum 3"):
        check(np.array([0.0, 0.2, 0.4, 0.4, 0.8]), "rec")
    with pytest.raises(FileFormatError, match="at least 2"):
        check(np.array([0.0]), "rec")


def test_parse_each_kind_and_refuse_a_mixture():
    np.testing.assert_allclose(parse_times(["23:59:59.900", "00:00:00.100"], "rec"), [0.0, 0.2], atol=1e-9)
    np.testing.assert_allclose(
        parse_times(["1970-01-01 23:59:59.900000", "1970-01-02 00:00:00.100000"], "rec"), [0.0, 0.2], atol=1e-9
    )
    np.testing.assert_allclose(parse_times(["12,5", "12,7"], "rec"), [0.0, 0.2], atol=1e-9)
    with pytest.raises(FileFormatError, match=r"spectrum 1 is not HH:MM:SS\.fff"):
        parse_times(["10:00:00.000", "1.5"], "rec")
    with pytest.raises(FileFormatError, match=r"expected HH:MM:SS\.fff"):
        parse_times(["yesterday"], "rec")


def test_fixed_width_stamps_parse_like_the_general_reader():
    from .conftest import stamps

    for kind in ("clock", "dated"):
        fixed = stamps(500, kind, start=86400 - 50.0)  # over midnight
        assert len({len(s) for s in fixed}) == 1
        padded = [" " + s for s in fixed]  # another width: the general reader
        np.testing.assert_allclose(parse_times(fixed, "rec"), parse_times(padded, "rec"), atol=1e-9)
    comma = [s.replace(".", ",") for s in stamps(10, "clock")]
    np.testing.assert_allclose(parse_times(comma, "rec"), np.arange(10) * 0.2, atol=1e-9)


def test_times_that_are_not_finite_are_refused_naming_the_sample():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning on the way to the sentence
        with pytest.raises(FileFormatError, match=r"timestamp of sample 2 is not a number \(NaN\) \(and 1 more\)"):
            check(np.array([0.0, 0.2, np.nan, 0.6, np.nan]), "rec")
        with pytest.raises(FileFormatError, match=r"timestamp of sample 0 is infinite \(-inf\)"):
            check(np.array([-np.inf, 0.2, 0.4]), "rec")
        with pytest.raises(FileFormatError, match=r"timestamp of sample 1 is infinite \(inf\)"):
            parse_times(["0.0", "1e999", "0.4"], "rec")  # too large for float64
        with pytest.raises(FileFormatError, match="span more than a float64 can hold"):
            check(np.array([-1e308, 1e308]), "rec")
    check_finite(np.arange(5), "rec")  # integers are always finite
    assert check(np.array([0.0, 0.2, 0.4]), "rec").rate_hz == pytest.approx(5.0)
