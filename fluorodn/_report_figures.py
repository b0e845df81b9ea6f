"""The figures of a report: matplotlib (Agg backend) drawings, one panel or one group of panels
each, returned as figures by the ``*_figures`` functions and as base64 PNG data URIs by :func:`png`.

Each figure is drawn at its own size (a few hundred pixels wide), so that the HTML can lay them
out side by side where the page is wide and one under the other where it is narrow, without
scaling their text down. Values are in the units of the data (``counts``: the values as the file
stores them); a sensor trace is in arbitrary units (``a.u.``).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "IMAGE",
    "RECORDING",
    "SEGMENT",
    "UNIT",
    "Terms",
    "noise_figures",
    "png",
    "segment_figures",
    "sensor_figures",
]

#: Samples (rows) shown in the before/after images.
SEGMENT = 600
#: Resolution of the PNG files: the figures' sizes in inches times this are their widths in pixels.
DPI = 90
#: The unit of the data's values.
UNIT = "counts"
#: A sensor trace longer than this (samples) is drawn whole as an envelope, with a zoomed panel.
LONG = 2 * SEGMENT
#: The stretches a long sensor trace's envelope is drawn over (about one per pixel column).
COLUMNS = 500
#: Gaps in a trace (samples taken with the light off, values not finite) of up to this many samples
#: are bridged by its line and ticked under it (light off every other sample would otherwise leave
#: no two neighbours to join, and shading each would grey the whole panel); longer ones break the
#: line and are shaded.
BRIDGE = 3


@dataclass(frozen=True)
class Terms:
    """The words a report uses for its pages and their axes."""

    page: str
    """One page of a stack: ``page`` (a recording) or ``frame`` (an image)."""
    axes: str
    """One page's axes, first x second."""
    sample: str
    """One step along a page's first axis."""
    bin: str
    """One step along a page's second axis, as a figure's axis reads it."""
    bins: str
    """Those steps, plural."""
    per_bin: str
    """The title of the noise levels' figure."""
    mean: str
    """The mean of each bin over the first axis, as the removed part's is named."""
    per_mean: str
    """The title of the removed part's means' figure."""


RECORDING = Terms(
    page="page",
    axes="time x wavelength",
    sample="sample",
    bin="bin",
    bins="bins",
    per_bin="noise per wavelength bin",
    mean="time mean",
    per_mean="time mean removed per bin",
)
IMAGE = Terms(
    page="frame",
    axes="rows x columns",
    sample="row",
    bin="column",
    bins="columns",
    per_bin="noise per column",
    mean="column mean",
    per_mean="mean removed from each column",
)


def png(fig: Any) -> str:
    """``fig`` as a base64 PNG data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _values(values: list[float | None]) -> np.ndarray:
    """Per-bin values as float64, NaN (a gap in a line) for a bin without one (None)."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _bin_axis(wl: np.ndarray | None, terms: Terms) -> str:
    return "wavelength (nm)" if wl is not None else terms.bin


def noise_figures(s: dict[str, Any], wl: np.ndarray | None, terms: Terms = RECORDING) -> list[Any]:
    """Three figures of a page's summary ``s``: the noise per bin before and after denoising, the
    removed component's autocorrelation, and its mean per bin over the first axis (a bin whose
    values are None is left blank).

    The noise levels are on a log axis; a level of 0 (a constant bin, or one whose noise was all
    removed) is drawn at a floor below the others, marked and named in the legend, and where no
    level is above 0 the axis is linear."""
    plt = _pyplot()
    xs = wl if wl is not None else np.arange(len(s["noise_before"]))
    before, after = _values(s["noise_before"]), _values(s["noise_after"])
    levels = np.r_[before, after]
    levels = levels[np.isfinite(levels)]
    positive = levels[levels > 0]
    noise, a = plt.subplots(figsize=(4.1, 3.5), layout="constrained")
    floor = None
    if positive.size:
        a.set_yscale("log")
    if 0 < positive.size < levels.size:  # some level is 0: drawn at a floor a decade or more below the rest
        floor = float(10.0 ** (np.floor(np.log10(positive.min())) - 1))
        before, after = (np.where(v > 0, v, np.where(np.isfinite(v), floor, np.nan)) for v in (before, after))
    a.plot(xs, before, label="noisy", color="tab:red")
    a.plot(xs, after, label="denoised (high frequencies)", color="tab:blue")
    if floor is not None:
        a.axhline(floor, color="0.45", ls=":", lw=0.9, label=f"level 0, drawn at {floor:.3g}")
        a.set_ylim(bottom=floor / 2)
    a.set_xlabel(_bin_axis(wl, terms))
    a.set_ylabel(f"noise level ({UNIT})")
    a.set_title(terms.per_bin)
    _legend_below(noise, [a], ncol=2, title=None if positive.size else "every level is 0 (linear axis)")

    corr, b = plt.subplots(figsize=(4.1, 3.1))
    lags = np.arange(1, len(s["autocorr"]) + 1)
    b.bar(lags, s["autocorr"], color="tab:gray")
    b.axhline(0, color="black", lw=0.8)
    b.set_ylim(min(-0.2, min(s["autocorr"], default=0)), 1.0)
    b.set_xlabel(f"lag ({terms.sample}s)")
    b.set_ylabel("autocorrelation")
    b.set_title("autocorrelation of the removed part")

    mean, c = plt.subplots(figsize=(4.1, 3.1))
    c.plot(xs, _values(s["removed_mean"]), color="tab:purple", lw=0.9)
    c.axhline(0, color="black", lw=0.8)
    c.set_xlabel(_bin_axis(wl, terms))
    c.set_ylabel(f"removed {terms.mean} ({UNIT})")
    c.set_title(terms.per_mean)
    return [noise, corr, mean]


def _legend_below(fig: Any, axes: list[Any], *, ncol: int = 3, title: str | None = None) -> Any:
    """One legend of the labelled artists of ``axes`` (each label once, in order) below all the
    axes of ``fig``, outside them (``fig`` is laid out constrained); None where nothing is
    labelled."""
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if not handles:
        return None
    return fig.legend(handles, labels, loc="outside lower center", ncol=min(ncol, len(handles)), frameon=False,
                      fontsize="small", title=title, title_fontsize="small")  # fmt: skip


def _trace_limits(noisy: np.ndarray, denoised: np.ndarray) -> tuple[float, float]:
    """y limits, with a margin, that hold the whole ``denoised`` trace and 0.5-99.5 % of the
    ``noisy`` one (a few of its outliers may leave them)."""
    lo, hi = (float(v) for v in np.percentile(noisy, [0.5, 99.5]))
    lo, hi = min(lo, float(np.min(denoised))), max(hi, float(np.max(denoised)))
    pad = 0.08 * (hi - lo) or 0.5 * max(abs(lo), 1.0)
    return lo - pad, hi + pad


def _beyond(ax: Any, rows: np.ndarray, values: np.ndarray, limits: tuple[float, float], **kwargs: Any) -> int:
    """Markers on the edges of ``ax`` at the ``rows`` whose ``values`` lie beyond ``limits`` (the
    y limits): up at the top, down at the bottom, labelled with their count; the count."""
    high, low = values > limits[1], values < limits[0]
    count = int(high.sum() + low.sum())
    label = f"noisy beyond the axes ({count})"
    for where, edge, marker in ((high, limits[1], "^"), (low, limits[0], "v")):
        if where.any():
            ax.plot(rows[where], np.full(int(where.sum()), edge), ls="none", marker=marker, ms=4, clip_on=False,
                    label=label, **kwargs)  # fmt: skip
            label = "_" + label
    return count


def _shade(
    ax: Any,
    rows: np.ndarray,
    dark: np.ndarray,
    half: float = 0.5,
    last: np.ndarray | None = None,
    bridge: int = BRIDGE,
    **kwargs: Any,
) -> None:
    """Grey spans over the stretches of ``rows`` where ``dark`` holds for more than ``bridge``
    samples, each ``half`` (half a sample in the units of ``rows``) wider on either side (the first
    one labelled), and a tick under the axes at each sample of the shorter ones (which the lines
    bridge: :func:`_gapped_line`). Where each of ``rows`` stands for several samples, ``last`` gives
    where each ends (``rows`` where each begins)."""
    from fluorodn.spectral import runs

    ends = rows if last is None else last
    first = True
    short: list[np.ndarray] = []
    for a, b, on in runs(dark):
        if on and b - a > bridge:
            ax.axvspan(rows[a] - half, ends[b - 1] + half, color="0.75", alpha=0.6, lw=0,
                       label="light off" if first else None, **kwargs)  # fmt: skip
            first = False
        elif on:
            short.append(rows[a:b])
    if short:
        ticks = np.concatenate(short)
        label = f"light off ({bridge} samples or fewer, bridged)"
        ax.plot(ticks, np.zeros(len(ticks)), "|", color="0.45", ms=5, mew=0.6, clip_on=False,
                transform=ax.get_xaxis_transform(), label=label)  # fmt: skip


def _gapped_line(rows: np.ndarray, values: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) that draw ``values`` at the ``keep`` samples of ``rows`` as one line: joined across
    gaps of up to :data:`BRIDGE` samples, broken (a NaN point) at longer ones."""
    idx = np.flatnonzero(keep)
    x, y = rows[idx].astype(np.float64), values[idx].astype(np.float64)
    breaks = np.flatnonzero(np.diff(idx) > BRIDGE + 1) + 1
    return np.insert(x, breaks, np.nan), np.insert(y, breaks, np.nan)


def segment_figures(
    noisy: np.ndarray,
    denoised: np.ndarray,
    wl: np.ndarray | None,
    gaps: np.ndarray | None = None,
    *,
    dark: np.ndarray | None = None,
    terms: Terms = RECORDING,
) -> list[Any]:
    """Two figures of the middle :data:`SEGMENT` samples of a (T, W) page: the noisy, denoised and
    removed values as images, and the brightest bin over time.

    A recording's noisy and denoised images show each value minus the bin's mean over the lit
    samples shown in the noisy recording (its mean spectrum there), so that they show what changes
    over time, which is what denoising may remove; they and the removed part share one colour
    scale (symmetric, the 99th percentile of the noisy image's absolute values), so that noisy =
    denoised + removed reads off the colours. An image's frames are shown as they are, and its removed part on a
    scale of its own. ``noisy`` and ``denoised`` are finite; ``gaps`` (same shape, or None) marks
    values that were not finite and ``dark`` (T,) the samples taken with the light off (or None):
    both are left out of the scales and shown grey in the images; the dark samples are shaded in
    the trace, whose y range holds the others (the whole denoised trace and all but the noisy
    one's outliers, which are marked on the axes' edge).
    """
    plt = _pyplot()
    t, w = noisy.shape
    start = max(0, (t - SEGMENT) // 2)
    x, y = noisy[start : start + SEGMENT], denoised[start : start + SEGMENT]
    rows = np.arange(start, start + len(x))
    removed = x - y
    finite = np.ones(x.shape, dtype=bool) if gaps is None else ~gaps[start : start + SEGMENT]
    off = np.zeros(len(x), dtype=bool) if dark is None else np.asarray(dark[start : start + SEGMENT], dtype=bool)
    shown = finite & ~off[:, None]
    if not shown.any():  # nothing finite and lit in the segment: scales from the bridged values
        shown = np.ones(x.shape, dtype=bool)

    def blank(a: np.ndarray) -> np.ndarray:
        return a if shown.all() else np.where(shown, a, np.nan)

    edges = (wl[0], wl[-1]) if wl is not None else (-0.5, w - 0.5)
    extent = (float(edges[0]), float(edges[1]), start + len(x) - 0.5, start - 0.5)
    square = terms is IMAGE and 0.25 <= len(x) / w <= 4  # frames keep their shape
    heat, axes = plt.subplots(1, 3, figsize=(7.8, 3.0 if square else 3.7), sharey=True, layout="constrained")
    if terms is IMAGE:
        lo, hi = (float(v) for v in np.percentile(x[shown], [1, 99]))
        panels = ((x, "noisy"), (y, "denoised"))
        cmap, norm = "viridis", {"vmin": lo, "vmax": hi}
        lim = float(np.percentile(np.abs(removed[shown]), 99)) or 1.0
    else:
        counts = np.where(shown, x, 0.0).sum(axis=0)
        n = shown.sum(axis=0)
        reference = np.where(n > 0, counts / np.maximum(n, 1), x.mean(axis=0))
        panels = ((x - reference, "noisy\n− mean spectrum"), (y - reference, "denoised\n− mean spectrum"))
        lim = float(np.percentile(np.abs(panels[0][0][shown]), 99)) or 1.0
        cmap, norm = "RdBu_r", {"vmin": -lim, "vmax": lim}
    aspect = "equal" if square else "auto"
    for ax, (data, title) in zip(axes[:2], panels, strict=True):
        im = ax.imshow(blank(data), aspect=aspect, cmap=_with_grey(cmap), extent=extent, interpolation="nearest",
                       **norm)  # fmt: skip
        ax.set_title(title, fontsize="medium")
    if terms is IMAGE:
        heat.colorbar(im, ax=list(axes[:2]), label=UNIT, fraction=0.05, pad=0.02, shrink=0.8 if square else 1.0)
    removed_image = axes[2].imshow(blank(removed), aspect=aspect, cmap=_with_grey("RdBu_r"), vmin=-lim, vmax=lim,
                                   extent=extent, interpolation="nearest")  # fmt: skip
    axes[2].set_title("removed\n(noisy − denoised)", fontsize="medium")
    heat.colorbar(removed_image, ax=axes[2], label=UNIT if terms is IMAGE else f"{UNIT} (all three panels)",
                  shrink=0.8 if square else 1.0)  # fmt: skip
    for ax in axes:
        ax.set_xlabel(_bin_axis(wl, terms))
    axes[0].set_ylabel(terms.sample)
    if terms is IMAGE:
        heat.suptitle(f"{terms.sample}s {rows[0]}-{rows[-1]}", fontsize="medium")
    else:
        lit, grey = ("lit ", "; grey: light off") if off.any() else ("", "")
        heat.suptitle(
            f"{terms.sample}s {rows[0]}-{rows[-1]}, one colour scale\nmean spectrum: the noisy recording's mean over "
            f"these {lit}{terms.sample}s{grey}",
            fontsize="medium",
        )

    trace, ax = plt.subplots(figsize=(4.6, 3.7))
    lit_rows = shown.any(axis=1)
    bright = int(np.argmax(np.where(shown.any(axis=0), np.median(x[lit_rows] if lit_rows.any() else x, axis=0),
                                    -np.inf)))  # fmt: skip
    keep = shown[:, bright]
    ax.plot(*_gapped_line(rows, x[:, bright], keep), color="tab:red", lw=0.7, label="noisy")
    ax.plot(*_gapped_line(rows, y[:, bright], keep), color="tab:blue", lw=1.2, label="denoised")
    if off.any():
        _shade(ax, rows, off)
    if keep.any():
        limits = _trace_limits(x[keep, bright], y[keep, bright])
        ax.set_ylim(*limits)
        _beyond(ax, rows[keep], x[keep, bright], limits, color="tab:red")
    name = f"{wl[bright]:.1f} nm" if wl is not None else f"{terms.bin} {bright}"
    ax.set_title(f"brightest {terms.bin} ({name})")
    ax.set_xlabel(terms.sample)
    ax.set_ylabel(UNIT)
    entries = len(ax.get_legend_handles_labels()[0])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=3 if entries <= 3 else 2, frameon=False,
              fontsize="small")  # fmt: skip
    return [heat, trace]


def _with_grey(name: str) -> Any:
    """The colour map ``name`` with NaN (a value left out) drawn light grey."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="0.8")


def _envelope(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least and greatest of ``values`` in each stretch that begins at one of ``starts`` and
    runs to the next (to the end for the last), leaving out NaN; NaN where a stretch is all NaN."""
    return np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)


def _overview(ax: Any, before: np.ndarray, after: np.ndarray, fs: float, gaps: np.ndarray) -> tuple[int, bool]:
    """Draw the traces ``before`` and ``after`` (sampled at ``fs``) on ``ax`` as their envelopes
    over :data:`COLUMNS` stretches of equal length: the least and greatest value of each, the noisy
    one light behind the denoised one; a stretch with no finite value is a gap, and the stretches
    whose samples are mostly ``gaps`` are shaded. Returns the samples a stretch holds (the most),
    and whether samples of ``gaps`` lie in stretches not shaded (left out of their ranges)."""
    n = len(before)
    edges = np.linspace(0, n, COLUMNS + 1).round().astype(int)
    starts, stops = edges[:-1], edges[1:]
    xs = np.c_[starts, stops - 1].ravel() / fs  # each stretch from its first sample to its last
    for values, colour, label in ((before, "#f19c99", "from noisy"), (after, "tab:blue", "from denoised")):
        lo, hi = (np.repeat(v, 2) for v in _envelope(values, starts))
        ax.fill_between(xs, lo, hi, color=colour, lw=0.4, label=label)
    # a stretch mostly dark is shaded; one whose dark samples lie among lit ones is drawn from those
    mostly = np.add.reduceat(gaps.astype(np.int64), starts) * 2 > stops - starts
    if mostly.any():
        _shade(ax, starts / fs, mostly, half=0.5 / fs, last=(stops - 1) / fs, bridge=0, zorder=0)
    among = bool(np.logical_or.reduceat(gaps, starts)[~mostly].any())
    return int((stops - starts).max()), among


def sensor_figures(before: np.ndarray, after: np.ndarray, rate: float | None) -> tuple[list[Any], dict[str, Any]]:
    """Two figures of the sensor traces unmixed before and after denoising (the traces, their power
    spectra) and their statistics. Samples where either trace is not finite (taken with the light
    off) are gaps in the traces, shaded, and left out of the spectra and statistics.

    A trace longer than :data:`LONG` samples is drawn whole as its envelope (:func:`_overview`),
    and its middle :data:`SEGMENT` samples (the ones the images show), marked on it, as lines in
    a second panel below."""
    from scipy.signal import welch

    plt = _pyplot()
    fs = rate or 1.0
    n = len(before)
    both = np.isfinite(before) & np.isfinite(after)
    m = max(int(both.sum()), 1)
    f, p_before = welch(before[both], fs=fs, nperseg=min(256, m))
    _, p_after = welch(after[both], fs=fs, nperseg=min(256, m))
    t = np.arange(n) / fs
    unit = "time (s)" if rate else "sample"
    if n > LONG:
        traces, (a, zoom) = plt.subplots(2, 1, figsize=(7.0, 5.8), layout="constrained")
        per, among = _overview(a, before, after, fs, ~both)
        start = (n - SEGMENT) // 2
        shown = slice(start, start + SEGMENT)
        a.axvspan(t[start] - 0.5 / fs, t[start + SEGMENT - 1] + 0.5 / fs, color="gold", alpha=0.35, lw=0,
                  zorder=0, label="zoomed in below")  # fmt: skip
        of = f"the lit ones of every {per} samples" if among else f"every {per} samples"
        a.set_title(f"unmixed sensor trace, whole: range of {of}")
        zoom.plot(*_gapped_line(t[shown], before[shown], both[shown]), color="tab:red", lw=0.7, label="from noisy")
        zoom.plot(*_gapped_line(t[shown], after[shown], both[shown]), color="tab:blue", lw=1.0, label="from denoised")
        zoom.set_xlim(t[start] - 0.5 / fs, t[start + SEGMENT - 1] + 0.5 / fs)
        zoom.set_title(f"samples {start}-{start + SEGMENT - 1}, as in the images", fontsize="medium")
        panels = [a, zoom]
    else:
        traces, a = plt.subplots(figsize=(7.0, 3.6), layout="constrained")
        a.plot(*_gapped_line(t, before, both), color="tab:red", lw=0.7, label="from noisy")
        a.plot(*_gapped_line(t, after, both), color="tab:blue", lw=1.0, label="from denoised")
        a.set_title("unmixed sensor trace")
        panels = [a]
        shown = slice(0, n)
    if not both[shown].all():
        _shade(panels[-1], t[shown], ~both[shown], half=0.5 / fs)
    for ax in panels:
        ax.set_xlabel(unit)
        ax.set_ylabel("sensor a(t) (a.u.)")
    _legend_below(traces, panels[::-1], ncol=4)
    spectra, b = plt.subplots(figsize=(4.6, 3.6), layout="constrained")
    b.semilogy(f, p_before, color="tab:red", label="from noisy")
    b.semilogy(f, p_after, color="tab:blue", label="from denoised")
    b.set_xlabel("frequency (Hz)" if rate else "frequency (1/sample)")
    b.set_ylabel("power (a.u.²/Hz)" if rate else "power (a.u.²·sample)")
    b.set_title("power spectrum (Welch)")
    _legend_below(spectra, [b])
    top = f >= f[-1] / 2  # the upper half of the band: mostly noise in a photometry trace
    stats = {
        "sensor_std_before": float(np.std(before[both])),
        "sensor_std_after": float(np.std(after[both])),
        "sensor_highband_power_ratio": float(np.sum(p_after[top]) / max(float(np.sum(p_before[top])), 1e-300)),
    }
    return [traces, spectra], stats
