"""The figures of a report: matplotlib (Agg backend) drawings returned as base64 PNG data URIs."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

__all__ = ["SEGMENT", "fig_noise", "fig_segment", "fig_sensor"]

#: Samples shown in the before/after images.
SEGMENT = 600


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
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


def fig_noise(s: dict[str, Any], wl: np.ndarray | None) -> str:
    """Noise per bin before and after denoising, the removed component's autocorrelation, and its
    time mean per bin (summary ``s``; a bin whose values are None is left blank)."""
    plt = _pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 3.2))
    xs = wl if wl is not None else np.arange(len(s["noise_before"]))
    a.plot(xs, _values(s["noise_before"]), label="noisy", color="tab:red")
    a.plot(xs, _values(s["noise_after"]), label="denoised (high frequencies)", color="tab:blue")
    a.set_xlabel("wavelength (nm)" if wl is not None else "bin")
    a.set_ylabel("noise level")
    a.set_yscale("log")
    a.set_title("noise per wavelength bin")
    a.legend(loc="best")
    lags = np.arange(1, len(s["autocorr"]) + 1)
    b.bar(lags, s["autocorr"], color="tab:gray")
    b.axhline(0, color="black", lw=0.8)
    b.set_ylim(min(-0.2, min(s["autocorr"], default=0)), 1.0)
    b.set_xlabel("lag (samples)")
    b.set_title("autocorrelation of the removed component")
    c.plot(xs, _values(s["removed_mean"]), color="tab:purple", lw=0.9)
    c.axhline(0, color="black", lw=0.8)
    c.set_xlabel("wavelength (nm)" if wl is not None else "bin")
    c.set_title("time mean removed per bin")
    return _png(fig)


def fig_segment(noisy: np.ndarray, denoised: np.ndarray, wl: np.ndarray | None, gaps: np.ndarray | None = None) -> str:
    """The middle :data:`SEGMENT` samples: noisy, denoised, removed, and the brightest bin over time.

    ``noisy`` and ``denoised`` are finite; ``gaps`` (same shape, or None) marks values that were
    not finite: left out of the colour scales and left blank in the images and the trace.
    """
    plt = _pyplot()
    t = noisy.shape[0]
    start = max(0, (t - SEGMENT) // 2)
    x, y = noisy[start : start + SEGMENT], denoised[start : start + SEGMENT]
    removed = x - y
    shown = np.ones(x.shape, dtype=bool) if gaps is None else ~gaps[start : start + SEGMENT]
    if not shown.any():  # the segment holds no finite value: scales from the bridged values
        shown = np.ones(x.shape, dtype=bool)

    def blank(a: np.ndarray) -> np.ndarray:
        return a if shown.all() else np.where(shown, a, np.nan)

    lo, hi = np.percentile(x[shown], [1, 99])
    extent = None if wl is None else [float(wl[0]), float(wl[-1]), start + len(x), start]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), gridspec_kw={"width_ratios": [1, 1, 1, 1.4]})
    for ax, data, title in ((axes[0], x, "noisy"), (axes[1], y, "denoised")):
        ax.imshow(blank(data), aspect="auto", cmap="viridis", vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("wavelength (nm)" if wl is not None else "bin")
    axes[0].set_ylabel("sample")
    lim = float(np.percentile(np.abs(removed[shown]), 99)) or 1.0
    axes[2].imshow(
        blank(removed), aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, extent=extent, interpolation="nearest"
    )
    axes[2].set_title("removed (noisy - denoised)")
    bright = int(np.argmax(np.where(shown.any(axis=0), np.median(x, axis=0), -np.inf)))
    samples = np.arange(start, start + len(x))
    axes[3].plot(samples, blank(x)[:, bright], color="tab:red", lw=0.7, label="noisy")
    axes[3].plot(samples, blank(y)[:, bright], color="tab:blue", lw=1.2, label="denoised")
    name = f"{wl[bright]:.1f} nm" if wl is not None else f"bin {bright}"
    axes[3].set_title(f"brightest bin ({name})")
    axes[3].set_xlabel("sample")
    axes[3].legend(loc="upper right")
    return _png(fig)


def fig_sensor(before: np.ndarray, after: np.ndarray, rate: float | None) -> tuple[str, dict[str, Any]]:
    """The sensor traces unmixed before and after denoising and their power spectra; (figure, their
    statistics). Samples where either trace is not finite (taken with the light off) are gaps in
    the traces and left out of the spectra and statistics."""
    from scipy.signal import welch

    plt = _pyplot()
    fs = rate or 1.0
    n = len(before)
    both = np.isfinite(before) & np.isfinite(after)
    m = max(int(both.sum()), 1)
    f, p_before = welch(before[both], fs=fs, nperseg=min(256, m))
    _, p_after = welch(after[both], fs=fs, nperseg=min(256, m))
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
    t = np.arange(n) / fs
    a.plot(t, before, color="tab:red", lw=0.7, label="from noisy")
    a.plot(t, after, color="tab:blue", lw=1.0, label="from denoised")
    a.set_xlabel("time (s)" if rate else "sample")
    a.set_ylabel("sensor a(t)")
    a.set_title("unmixed sensor trace")
    a.legend(loc="best")
    b.semilogy(f, p_before, color="tab:red", label="from noisy")
    b.semilogy(f, p_after, color="tab:blue", label="from denoised")
    b.set_xlabel("frequency (Hz)" if rate else "frequency (1/sample)")
    b.set_title("power spectrum (Welch)")
    b.legend(loc="upper right")
    top = f >= f[-1] / 2  # the upper half of the band: mostly noise in a photometry trace
    stats = {
        "sensor_std_before": float(np.std(before[both])),
        "sensor_std_after": float(np.std(after[both])),
        "sensor_highband_power_ratio": float(np.sum(p_after[top]) / max(float(np.sum(p_before[top])), 1e-300)),
    }
    return _png(fig), stats
