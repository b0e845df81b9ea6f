"""Timestamps of a recording: the real sampling rate, its jitter and dropped frames.

A reader turns each row's timestamp into seconds (:func:`parse_times`); :func:`check`
measures what the timestamps say (:class:`Timing`) and refuses timestamps that are not
finite numbers (:func:`check_finite`, which readers also call on the times they read), that go
back in time, and a declared rate that disagrees with the measured one by more than
:data:`RATE_TOLERANCE`. Nothing here guesses a rate: the rate is what the timestamps show.
Wavelength axes are checked here too (:func:`check_wavelengths`): finite, and increasing or
decreasing bin by bin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from fluorodn.errors import FileFormatError

__all__ = [
    "DROP_FACTOR",
    "RATE_TOLERANCE",
    "Timing",
    "check",
    "check_declared",
    "check_finite",
    "check_wavelengths",
    "frames_missing",
    "given_rate_refusal",
    "parse_times",
    "sample_period",
]

#: Largest relative difference between a declared sampling rate and the measured one.
RATE_TOLERANCE = 0.01
#: An interval longer than this many median intervals holds dropped frames.
DROP_FACTOR = 1.5

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}(?:[.,]\d+)?)$")
_DATE_CLOCK = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2}):(\d{2}(?:[.,]\d+)?)$")
_SECONDS = re.compile(r"^[+-]?\d+(?:[.,]\d*)?(?:[eE][+-]?\d+)?$")

#: What :func:`parse_times` accepts, for error messages.
TIME_FORMATS = "HH:MM:SS.fff, YYYY-MM-DD HH:MM:SS.ffffff, or seconds"


@dataclass(frozen=True)
class Timing:
    """What the timestamps of ``n`` samples say about their sampling."""

    n: int
    """Number of samples."""
    rate_hz: float
    """Sampling rate: 1 / the mean interval between consecutive samples, those holding dropped
    frames left out (a clock coarser than the samples rounds each interval; their mean is the period)."""
    jitter_s: float
    """Standard deviation of the intervals, dropped frames left out."""
    dropped: int
    """Frames missing: for each interval over 1.5 median intervals, its length in periods (rounded) minus one."""
    gaps: tuple[int, ...]
    """Sample indices that follow a gap (dropped frames before them), at most 20."""
    duration_s: float
    """Time from the first to the last sample."""

    def describe(self) -> str:
        """One line: samples, rate, jitter, dropped frames."""
        text = f"{self.n} samples over {self.duration_s:.3f} s at {self.rate_hz:.6g} Hz"
        text += f" (jitter {self.jitter_s * 1e3:.3f} ms"
        if self.dropped:
            where = ", ".join(str(g) for g in self.gaps[:5]) + (", ..." if len(self.gaps) > 5 else "")
            frames = "frame" if self.dropped == 1 else "frames"
            text += f", {self.dropped} dropped {frames} before sample{'s' if len(self.gaps) != 1 else ''} {where}"
        else:
            text += ", no dropped frames"
        return text + ")"

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "rate_hz": self.rate_hz,
            "jitter_s": self.jitter_s,
            "dropped": self.dropped,
            "gaps": list(self.gaps),
            "duration_s": self.duration_s,
        }


def _clock_seconds(h: str, m: str, s: str) -> float:
    return int(h) * 3600 + int(m) * 60 + float(s.replace(",", "."))


def parse_times(stamps: list[str], where: str) -> np.ndarray:
    """Seconds since the first sample, (T,) float64, from timestamp strings of one kind.

    Accepted: ``HH:MM:SS.fff`` (clock times; a step back by about a day is a midnight and
    adds 24 h), ``YYYY-MM-DD HH:MM:SS.ffffff`` (OceanView writes 1970-01-01 when it has no
    date: only differences are used, so such placeholders work like any date), or seconds
    (decimal point or comma). All stamps must be of the kind of the first; ``where`` names
    the file in error messages.
    """
    if not stamps:
        return np.zeros(0)
    fast = _fixed_width(stamps)
    if fast is not None:
        return fast
    first = stamps[0].strip()
    if _DATE_CLOCK.match(first):
        days = np.empty(len(stamps), dtype=np.int64)
        secs = np.empty(len(stamps))
        for i, s in enumerate(stamps):
            m = _DATE_CLOCK.match(s.strip())
            if m is None:
                raise _bad_stamp(where, i, s, "YYYY-MM-DD HH:MM:SS.ffffff like the first")
            y, mo, d, hh, mm, ss = m.groups()
            try:
                days[i] = date(int(y), int(mo), int(d)).toordinal()
            except ValueError:
                raise _bad_stamp(where, i, s, "a valid date") from None
            secs[i] = _clock_seconds(hh, mm, ss)
        return (days - days[0]) * 86400.0 + (secs - secs[0])
    if _CLOCK.match(first):
        out = np.empty(len(stamps))
        for i, s in enumerate(stamps):
            m = _CLOCK.match(s.strip())
            if m is None:
                raise _bad_stamp(where, i, s, "HH:MM:SS.fff like the first")
            out[i] = _clock_seconds(*m.groups())
        steps = np.diff(out)
        midnight = steps < -43200  # a clock going back by more than half a day passed midnight
        if midnight.any():
            out[1:] += 86400.0 * np.cumsum(midnight)
        return out - out[0]
    if _SECONDS.match(first):
        try:
            values = np.array([float(s.replace(",", ".")) for s in stamps])
        except ValueError:
            bad = next(i for i, s in enumerate(stamps) if not _SECONDS.match(s.strip()))
            raise _bad_stamp(where, bad, stamps[bad], "seconds like the first") from None
        check_finite(values, where)  # a number too large for float64 reads as infinite
        return values - values[0]
    raise FileFormatError(
        f"{where}: the first timestamp {first!r} is not a time fluorodn reads; expected {TIME_FORMATS}"
    )


#: Character classes of fixed-width timestamps: d a digit, anything else itself ("." stands for "." or ",").
_FIXED = {12: "dd:dd:dd.ddd", 15: "dd:dd:dd.dddddd", 23: "dddd-dd-dd dd:dd:dd.ddd", 26: "dddd-dd-dd dd:dd:dd.dddddd"}


def _fixed_width(stamps: list[str]) -> np.ndarray | None:
    """Seconds since the first stamp for clock or dated stamps of one fixed width, parsed with numpy
    (the common case of a long recording); None for anything else (the general parser decides)."""
    width = len(stamps[0])
    layout = _FIXED.get(width)
    if layout is None:
        return None
    try:
        raw = "".join(stamps).encode("ascii")
    except UnicodeEncodeError:
        return None
    if len(raw) != width * len(stamps):
        return None
    a = np.frombuffer(raw, dtype=np.uint8).reshape(len(stamps), width)
    spec = np.frombuffer(layout.encode("ascii"), dtype=np.uint8)
    digit = spec == ord("d")
    d = a.astype(np.int64) - 48
    if np.any((d[:, digit] < 0) | (d[:, digit] > 9)):
        return None
    point = spec == ord(".")
    if not np.all((a[:, point] == ord(".")) | (a[:, point] == ord(","))):
        return None
    others = ~digit & ~point
    if not np.all(a[:, others] == spec[others]):
        return None
    at = width - 12 if width in (12, 23) else width - 15  # where HH starts
    clock = (d[:, at] * 10 + d[:, at + 1]) * 3600 + (d[:, at + 3] * 10 + d[:, at + 4]) * 60
    clock = clock + d[:, at + 6] * 10 + d[:, at + 7]
    frac_digits = d[:, at + 9 :]
    frac = frac_digits @ (10 ** np.arange(frac_digits.shape[1] - 1, -1, -1))
    seconds = clock + frac / 10.0 ** frac_digits.shape[1]
    if at == 0:  # clock times: a step back by more than half a day passed midnight
        steps = np.diff(seconds)
        seconds = seconds.astype(np.float64)
        seconds[1:] += 86400.0 * np.cumsum(steps < -43200)
        return seconds - seconds[0]
    dates, inverse = np.unique(a[:, :10].view("S10").ravel(), return_inverse=True)
    try:
        ordinal = np.array([date(int(x[:4]), int(x[5:7]), int(x[8:10])).toordinal() for x in dates], dtype=np.int64)
    except ValueError:
        return None
    days = ordinal[inverse.ravel()]
    return (days - days[0]) * 86400.0 + (seconds - seconds[0])


def _bad_stamp(where: str, row: int, stamp: str, expected: str) -> FileFormatError:
    return FileFormatError(f"{where}: timestamp {stamp.strip()!r} of spectrum {row} is not {expected}")


def check_finite(times: np.ndarray, where: str) -> None:
    """FileFormatError naming the first sample whose time is NaN or infinite (``times``: (T,), any unit)."""
    times = np.asarray(times)
    if times.dtype.kind != "f":
        return
    bad = np.flatnonzero(~np.isfinite(times))
    if not bad.size:
        return
    k = int(bad[0])
    value = float(times[k])
    what = "not a number (NaN)" if np.isnan(value) else f"infinite ({value})"
    more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
    raise FileFormatError(
        f"{where}: the timestamp of sample {k} is {what}{more}; expected a finite time for every sample "
        "(fill in the missing times, or leave their samples out)"
    )


def check_wavelengths(wavelengths: np.ndarray, where: str, label: str, expected: str) -> None:
    """FileFormatError unless ``wavelengths`` (W,) are 2 or more finite values that increase, or decrease,
    bin by bin (a descending axis is read as stored); ``label`` names the axis in the sentence, which
    ends with ``expected`` (what the reader takes)."""
    wl = np.asarray(wavelengths, dtype=np.float64).ravel()
    bad = np.flatnonzero(~np.isfinite(wl))
    steps = np.diff(wl)
    if wl.size < 2:
        problem = f"holds {wl.size} number{'s' if wl.size != 1 else ''}, not the wavelengths of 2 or more bins"
    elif bad.size:
        problem = f"holds {wl[bad[0]]} at bin {bad[0]}, not a wavelength"
    elif np.all(steps > 0) or np.all(steps < 0):
        return
    else:
        k = int(np.flatnonzero(steps * (1.0 if steps[0] > 0 else -1.0) <= 0)[0]) + 1
        problem = f"does not hold increasing (or decreasing) wavelengths: bin {k} holds {wl[k]:g} after {wl[k - 1]:g}"
    raise FileFormatError(f"{where}: {label} {problem}; {expected}")


def check(times: np.ndarray, where: str, declared_hz: float | None = None) -> Timing:
    """Measure the sampling of ``times`` (seconds, (T,)); refuse times that are not finite, go back or repeat.

    ``declared_hz``: a rate the file or the user states; FileFormatError if it differs from
    the measured rate by more than 1 %.
    """
    times = np.asarray(times, dtype=np.float64)
    n = int(times.size)
    if n < 2:
        raise FileFormatError(f"{where}: {n} timestamp{'s' if n != 1 else ''}; a recording needs at least 2 samples")
    check_finite(times, where)
    with np.errstate(over="ignore"):
        steps = np.diff(times)
    if not np.isfinite(steps).all():
        raise FileFormatError(
            f"{where}: its timestamps span more than a float64 can hold ({times.min():g} to {times.max():g} s); "
            "expected times in seconds"
        )
    back = np.flatnonzero(steps <= 0)
    if back.size:
        k = int(back[0]) + 1
        raise FileFormatError(
            f"{where}: timestamp of spectrum {k} ({times[k]:.6f} s) is not after the one before "
            f"({times[k - 1]:.6f} s); expected timestamps that increase row by row (spectra in the order taken)"
        )
    period, long = _period(steps)
    missing = frames_missing(steps)[long]
    regular = steps[~long]
    timing = Timing(
        n=n,
        rate_hz=1.0 / period,
        jitter_s=float(np.std(regular)) if regular.size else 0.0,
        dropped=int(np.maximum(missing, 1).sum()),
        gaps=tuple(int(i) + 1 for i in np.flatnonzero(long)[:20]),
        duration_s=float(times[-1] - times[0]),
    )
    if declared_hz is not None:
        check_declared(timing, declared_hz, where)
    return timing


def _period(steps: np.ndarray) -> tuple[float, np.ndarray]:
    """The sampling period of consecutive intervals ``steps`` (seconds): their mean, leaving out
    those over :data:`DROP_FACTOR` periods (dropped frames), which it returns (a mask). Not the
    median: clocks that tick coarser than the samples (milliseconds, a PC's 15.6 ms) give intervals
    of two lengths, whose median is one of them (33 ms at 30 Hz, 93.75 ms at 10 Hz) while their mean
    is the period; and the longer of the two may be 1.5 times the shorter (31.25 and 46.875 ms at
    30 Hz), so the intervals left out are judged against the mean, found again until it settles
    (it starts from the mean of those under 2.5 median intervals)."""
    median = float(np.median(steps))
    long = steps > 2.5 * median
    for _ in range(5):
        regular = steps[~long]
        period = float(np.mean(regular)) if regular.size else median
        now = steps > DROP_FACTOR * period
        if np.array_equal(now, long):
            break
        long = now
    return period, long


def frames_missing(steps: np.ndarray) -> np.ndarray:
    """(N,) int64: the frames missing in each of the intervals ``steps`` (seconds) between
    consecutive samples: 0 for a regular one, else its length in periods (rounded) minus one, as
    :func:`check` counts them (at least 0)."""
    steps = np.asarray(steps, dtype=np.float64)
    if steps.size == 0:
        return np.zeros(0, np.int64)
    period, long = _period(steps)
    return np.where(long, np.rint(steps / period).astype(np.int64) - 1, 0)


def sample_period(times: np.ndarray) -> float:
    """The sampling period (seconds) of increasing ``times`` ((T,) s, T >= 2), as :func:`check` measures it."""
    return _period(np.diff(np.asarray(times, dtype=np.float64)))[0]


def given_rate_refusal(given: float | None, stated: float, where: str) -> str | None:
    """Why a rate ``given`` (Hz) cannot stand beside the rate ``stated`` (Hz) a file states without
    timestamps to measure it on: they differ by more than :data:`RATE_TOLERANCE`; None where they
    agree or none is given."""
    if given is None or abs(given - stated) <= RATE_TOLERANCE * stated:
        return None
    return (
        f"{where}: the rate given ({given:g} Hz) differs from the {stated:.6g} Hz the file states by "
        f"{abs(given - stated) / stated:.1%}; leave rate=... out to use the file's"
    )


def check_declared(timing: Timing, declared_hz: float, where: str) -> None:
    """FileFormatError if ``declared_hz`` differs from the measured rate by more than 1 %."""
    if not (declared_hz > 0 and np.isfinite(declared_hz)):
        raise FileFormatError(f"{where}: declared sampling rate {declared_hz!r} Hz is not a positive number")
    off = abs(declared_hz - timing.rate_hz) / timing.rate_hz
    if off > RATE_TOLERANCE:
        raise FileFormatError(
            f"{where}: declared sampling rate {declared_hz:g} Hz differs from the {timing.rate_hz:.6g} Hz its "
            f"timestamps show by {off:.1%} (more than {RATE_TOLERANCE:.0%}); correct the declared rate, or check "
            "the timestamps (interleaved excitations divide the rate of each channel)"
        )
