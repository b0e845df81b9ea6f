"""Interleaved excitation: one stream of spectra whose rows alternate between light sources.

Rig software that pulses, e.g., a 405 nm and a 488 nm LED in turn writes one row per pulse:
rows 0, 2, 4, ... under one excitation and rows 1, 3, 5, ... under the other. Each
excitation is a recording of its own (its own spectrum, noise and rate), so it is denoised
alone and the rows are put back in their original order afterwards.

The number of excitations is declared (``excitations=N``) or detected from the summed
intensity of each row (or, where the sources are equally bright, its spectral centroid): with N
sources, the rows of one phase (k, k + N, ...) change by their noise from cycle to cycle, while
rows of different phases differ by far more, in the same order in (almost) every cycle. Detection answers only when
exactly one N fits and every other is clearly wrong; otherwise it asks for the option.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fluorodn.errors import FileFormatError
from fluorodn.formats.timing import frames_missing

__all__ = ["MAX_EXCITATIONS", "check_dropped", "clear_count", "detect", "merge", "rows_of", "split"]

#: Largest number of interleaved excitations considered by detection.
MAX_EXCITATIONS = 4
#: Two phases are told apart when they differ by this many times their own noise (median over cycles) ...
_DISTINCT = 8.0
#: ... and taken for one level when they differ by less than this many times.
_SAME = 3.0
#: Share of cycles whose intensity order must agree with the phase order ...
_CONSISTENT = 0.99
#: ... and fewest cycles running, clearly in another order, that read as the phases swapped (a
#: dropped frame) wherever they lie; noise that flips the order of two phases 8 x their noise apart
#: does so in one cycle, not in three running.
_SWAPPED_RUN = 3
#: ... from which on at least this share of the cycles stay in that other order.
_SWAP_LASTS = 0.8
_OPTION = "excitations=N (1 when the rows are not interleaved)"


def rows_of(n_rows: int, n: int) -> list[np.ndarray]:
    """Row indices of each of ``n`` interleaved channels of ``n_rows`` rows: channel k holds rows k, k+n, ..."""
    if n < 1:
        raise ValueError(f"the number of excitations must be at least 1, got {n}")
    return [np.arange(k, n_rows, n) for k in range(n)]


def split(data: np.ndarray, n: int) -> list[np.ndarray]:
    """The ``n`` channels of (T, W) ``data``, each (T_k, W), channel k from rows k, k+n, ..."""
    if n > data.shape[0]:
        raise FileFormatError(f"{n} excitations need at least {n} spectra, the recording holds {data.shape[0]}")
    return [data[r] for r in rows_of(data.shape[0], n)]


def merge(channels: Sequence[np.ndarray]) -> np.ndarray:
    """Rows of ``channels`` (as from :func:`split`) back in their original order: (T, W)."""
    n = len(channels)
    total = sum(c.shape[0] for c in channels)
    out = np.empty((total, *channels[0].shape[1:]), dtype=np.result_type(*channels))
    for k, (rows, ch) in enumerate(zip(rows_of(total, n), channels, strict=True)):
        if rows.size != ch.shape[0]:
            raise ValueError(f"channel {k} has {ch.shape[0]} rows, its place in {total} rows holds {rows.size}")
        out[rows] = ch
    return out


def _separation(total: np.ndarray, n: int) -> tuple[np.ndarray, float, int | None]:
    """For ``n`` phases of the summed intensity ``total``: per pair of phases, the median size of
    their difference in units of the phases' own noise; the least share of cycles whose order
    agrees with the median order; and the first row of the first :data:`_SWAPPED_RUN` cycles
    running whose phases stand clearly apart (:data:`_SAME` x their noise) in another order (a
    dropped frame shifts the phases from there on, however near the end), None where none do."""
    cycles = total.size // n
    levels = total[: cycles * n].reshape(cycles, n)
    # each phase's noise, from the steps between its consecutive cycles (slow changes cancel)
    noise = 1.4826 * np.median(np.abs(np.diff(levels, axis=0)), axis=0) / np.sqrt(2)
    size = np.zeros((n, n))
    agree = 1.0
    swapped = np.zeros(cycles, bool)
    for a in range(n):
        for b in range(a + 1, n):
            d = levels[:, a] - levels[:, b]
            typical = float(np.median(np.abs(d)))
            floor = max(float(noise[a]), float(noise[b]), 1e-12 * typical, np.finfo(float).tiny)
            size[a, b] = size[b, a] = typical / floor
            med = float(np.median(d))
            agree = min(agree, float(np.mean(np.sign(d) == np.sign(med))) if med != 0 else 0.0)
            swapped |= (np.sign(d) == -np.sign(med)) & (np.abs(d) > _SAME * floor)
    # a dropped frame swaps the phases from there on: the first run of _SWAPPED_RUN swapped cycles
    # after which most cycles stay swapped (a brief crossing of the levels, an event on the dimmer
    # excitation, comes back)
    runs = np.flatnonzero(np.convolve(swapped, np.ones(_SWAPPED_RUN, int), mode="valid") == _SWAPPED_RUN)
    lasting = [int(r) for r in runs if swapped[r:].mean() >= _SWAP_LASTS]
    return size, agree, lasting[0] * n if lasting else None


def detect(data: np.ndarray, where: str) -> int:
    """Number of interleaved excitations in (T, W) ``data``, from each row's summed intensity.

    Returns 1 when no number of phases from 2 to 4 splits the rows into distinct levels,
    N when exactly N phases do (every pair of phases distinct, consistently over the
    cycles) and no other number fits; FileFormatError naming ``excitations=N`` otherwise.
    Where the summed intensities show no pattern (light sources of equal brightness), each row's
    spectral centroid (the mean bin, weighted by its values) is read the same way, and N taken
    only where it fits cleanly.
    """
    x = np.asarray(data, dtype=np.float64)
    total = x.sum(axis=1)
    found = _detect_on(total, where)
    if found > 1:
        return found
    # sources of equal brightness: each row's spectral centroid tells their emission shapes apart
    # (only a clean fit counts there, so that a plain recording's changing shape asks for nothing)
    with np.errstate(invalid="ignore", over="ignore"):  # a row holding an infinity has no centroid (NaN)
        centroid = x @ np.arange(x.shape[1], dtype=np.float64) / np.where(total != 0, total, np.nan)
    if x.shape[1] >= 3 and np.isfinite(centroid).all():
        try:
            return _detect_on(centroid, where)
        except FileFormatError:
            return 1
    return 1


def clear_count(data: np.ndarray) -> int:
    """:func:`detect` on a (T, W) array that no file declares anything of: N where its rows clearly
    alternate between N light sources, 1 where they do not or detection cannot tell."""
    try:
        return detect(data, "the recording")
    except FileFormatError:  # a pattern, but not clean enough to tell excitations
        return 1


def _detect_on(total: np.ndarray, where: str) -> int:
    """:func:`detect` on one value per row (``total``: the summed intensity, or another that tells
    the phases apart)."""
    fits, unclear = [], []
    broken: tuple[int, int] | None = None  # (N, the row where its phases swap)
    for n in range(2, MAX_EXCITATIONS + 1):
        if total.size < 8 * n:
            break
        size, agree, swapped = _separation(total, n)
        upper = np.triu_indices(n, 1)
        if size[upper].min() >= _DISTINCT and agree >= _CONSISTENT and swapped is None:
            fits.append(n)
        elif size[upper].max() >= _SAME:
            unclear.append(n)
            if size[upper].min() >= _DISTINCT and swapped is not None and broken is None:
                broken = (n, swapped)
    if len(fits) == 1 and all(n % fits[0] == 0 for n in unclear):
        return fits[0]
    if not fits and broken is not None:
        raise FileFormatError(
            f"{where}: the summed intensity of its spectra alternates like {broken[0]} interleaved excitations "
            f"until spectrum {broken[1]}, where the phases swap (a dropped frame): cut the recording there"
        )
    if not fits and not unclear:
        return 1
    if len(fits) > 1:
        what = f"alternates like {' or '.join(str(n) for n in fits)} interleaved excitations"
    elif fits:
        what = f"alternates like {fits[0]} interleaved excitations, but not cleanly"
    else:
        what = (
            f"changes from row to row in a pattern of {' or '.join(str(n) for n in unclear)} rows, "
            "but not clearly enough to tell interleaved excitations"
        )
    raise FileFormatError(f"{where}: the summed intensity of its spectra {what}; declare the number with {_OPTION}")


def check_declared(data: np.ndarray, n: int, where: str) -> None:
    """Refuse ``n`` declared excitations whose alternation breaks off (a dropped frame swaps the phases).

    When the phases have distinct levels, every cycle must keep their order; when they do
    not (light sources of equal brightness), the declaration is taken as it is, unless the rows
    alternate cleanly between the levels of another number of excitations that ``n`` is no
    multiple of (each of the ``n`` channels would then hold rows of several light sources).
    """
    if n == 1 or data.shape[0] < 4 * n:
        return
    total = np.asarray(data, dtype=np.float64).sum(axis=1)
    size, agree, swapped = _separation(total, n)
    if size[np.triu_indices(n, 1)].min() < _DISTINCT:
        try:
            other = _detect_on(total, where)
        except FileFormatError:  # no clean alternation of another number: the declaration stands
            return
        if other > 1 and n % other:
            raise FileFormatError(
                f"{where}: its rows alternate between the levels of {other} interleaved excitations, not {n}: each "
                f"of {n} channels would hold rows of several light sources; declare excitations={other}"
            )
        return
    if agree >= _CONSISTENT and swapped is None:
        return
    if swapped is None:
        cycles = total.size // n
        levels = total[: cycles * n].reshape(cycles, n)
        order = np.argsort(np.median(levels, axis=0))
        bad = np.flatnonzero(np.any(np.diff(levels[:, order], axis=1) < 0, axis=1))
        swapped = int(bad[0]) * n if bad.size else 0
    raise FileFormatError(
        f"{where}: with {n} excitations, the intensity order of the phases breaks off from spectrum {swapped} on "
        f"({1 - agree:.1%} of the cycles); a dropped frame swaps the phases: cut the recording there, or check "
        "excitations=..."
    )


#: The steps from each excitation's row to the next one's (their medians) are even when none is more
#: than this many times another: the light sources fire evenly spaced, one sampling period apart.
_EVEN = 1.25


def check_dropped(times: np.ndarray, n: int, where: str) -> None:
    """Refuse ``n`` interleaved excitations (declared or detected) where the rows' timestamps
    ``times`` ((T,) s) show frames dropped in a number that is not a multiple of ``n``: the rows
    after the gap hold each excitation's spectra in another's place. Whole cycles dropped keep
    the phases. Sources fired unevenly within the cycle (:data:`_EVEN`) are left to the intensities
    (:func:`check_declared`)."""
    if n == 1:
        return
    d = np.diff(np.asarray(times, dtype=np.float64))
    if d.size < 2 * n:
        return
    # sources fired unevenly within each cycle (two LEDs 10 ms apart every 50 ms): the rows' steps
    # are no one period, and only the intensities can tell a dropped frame
    steps = [float(np.median(d[k::n])) for k in range(n)]  # from each excitation's row to the next's
    if not min(steps) > 0 or max(steps) > _EVEN * min(steps):
        return
    missing = frames_missing(d)
    bad = np.flatnonzero(missing % n != 0)
    if bad.size:
        k, m = int(bad[0]), int(missing[bad[0]])
        raise FileFormatError(
            f"{where}: its timestamps show {m} frame{'s' if m != 1 else ''} dropped before spectrum {k + 1}, which "
            f"shifts the {n} interleaved excitations' rows from there on (each would take another's spectra): "
            "cut the recording there"
        )
