"""Stress recordings of the quality benchmark, and the error at the edges."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from fluorodn_train import data, noise, synth
from fluorodn_train.evaluation.recordings import BINS, SEED, Recording, signal_config

__all__ = [
    "edge_errors",
    "frame_border",
    "frame_regions",
    "make_frame",
    "make_small_events",
    "make_stress",
    "synth_recording",
]

STRESS_NOISE = (0.1, 1.2)
#: Fast hemodynamics: share of the hemodynamic variance in fast components (in vivo: 35-40 %).
FAST_HEMO_SHARE = (0.35, 0.4)
FAST_HEMO_NOISE = (0.2, 0.4, 0.8)
STRESS_SENSORS = ("da", "red")
STRESS_SENSOR_NOISE = 0.4
#: Slow release: events rising over this many samples (most sensors rise within one at 5 Hz).
SLOW_RISE, SLOW_RISE_NOISE = 3, 0.4
#: Small events: the median release at this amplitude of a(t) (the main recordings': 1.4, the middle
#: of training's 0.3-2.5) at noise 0.8, and as often as training's most (0.5 per second, the main
#: recordings': 0.1) at noise 0.4.
SMALL_EVENT_SIZE, SMALL_EVENT_NOISE = 0.5, 0.8
FREQUENT_EVENT_RATE, FREQUENT_EVENT_NOISE = 0.5, 0.4
SMALL_EVENTS = f"small events ({SMALL_EVENT_SIZE:g}), noise {SMALL_EVENT_NOISE:g}"
FREQUENT_EVENTS = f"small, frequent events ({FREQUENT_EVENT_RATE:g} per s), noise {FREQUENT_EVENT_NOISE:g}"
#: Edge regions of the edge table: wavelength bins and time samples at each end.
EDGE_BINS, EDGE_SAMPLES = 3, 5
#: The frame of the frame-border table: side (pixels), border width, interior margin.
FRAME_SIDE, FRAME_BORDER, FRAME_MARGIN = 512, 2, 10
#: Noise scales of the frame: the training noise of ``low`` and of ``high``.
FRAME_NOISE = (0.3, 0.8)


def synth_recording(
    name: str, kind: str, rng: np.random.Generator, n_time: int, bins: int, cfg: Any, noise_scale: float
) -> Recording:
    """A clean recording of ``cfg`` with parametric noise at ``noise_scale``, both drawn from ``rng``."""
    r = synth.clean_recording(rng, n_time, bins, cfg)
    eps = noise.parametric_noise(rng, r.photons, noise_scale)
    return Recording(name, kind, noise_scale, r.clean + eps, r.clean, r, np.median(r.clean - r.photons, axis=0))


def _stress_recording(name: str, cfg: Any, noise_scale: float, branch: int, n_time: int, seed: int) -> Recording:
    """The stress recording of ``branch``: drawn from its own stream of clean recording ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(data.TEST_STREAM, 100 + branch)))
    return synth_recording(name, "stress", rng, n_time, BINS, cfg, noise_scale)


def make_stress(n_time: int, quick: bool, seed: int = SEED) -> list[Recording]:
    """Stress recordings: fast hemodynamics, noise outside 0.2-0.8, other sensors, slow rises."""
    base = signal_config()

    def rec(name: str, cfg: Any, ns: float, branch: int) -> Recording:
        return _stress_recording(name, cfg, ns, branch, n_time, seed)

    fast = replace(base, hemo_fast=FAST_HEMO_SHARE, hemo_fast_prob=1.0, hemo_dff=(0.01, 0.01))
    out = [rec(f"fast hemodynamics, noise {ns:g}", fast, ns, 0) for ns in FAST_HEMO_NOISE]
    if quick:
        return out[:1]
    out += [rec(f"noise {ns:g}", base, ns, 1) for ns in STRESS_NOISE]
    out += [
        rec(f"sensor {s}, noise {STRESS_SENSOR_NOISE:g}", replace(base, sensors=(s,)), STRESS_SENSOR_NOISE, 2)
        for s in STRESS_SENSORS
    ]
    slow = replace(base, rise_samples=(SLOW_RISE, SLOW_RISE), rise_prob=1.0)
    out.append(rec(f"slow rise ({SLOW_RISE} samples), noise {SLOW_RISE_NOISE:g}", slow, SLOW_RISE_NOISE, 3))
    return out


def make_small_events(n_time: int, seed: int = SEED) -> list[Recording]:
    """Stress recordings of small events: releases of :data:`SMALL_EVENT_SIZE` at
    :data:`SMALL_EVENT_NOISE`, and as many as :data:`FREQUENT_EVENT_RATE` per second at
    :data:`FREQUENT_EVENT_NOISE` (each its own stream, apart from :func:`make_stress`'s)."""
    small = replace(signal_config(), event_size=(SMALL_EVENT_SIZE,) * 2)
    frequent = replace(small, event_rate=(FREQUENT_EVENT_RATE,) * 2)
    return [
        _stress_recording(SMALL_EVENTS, small, SMALL_EVENT_NOISE, 4, n_time, seed),
        _stress_recording(FREQUENT_EVENTS, frequent, FREQUENT_EVENT_NOISE, 5, n_time, seed),
    ]


def edge_errors(clean: np.ndarray, y: np.ndarray, noisy: np.ndarray) -> dict[str, float]:
    """RMS error over RMS raw error in each edge region and in the interior."""
    regions = {
        "first_bin": np.s_[:, :1],
        "last_bin": np.s_[:, -1:],
        f"first_{EDGE_BINS}_bins": np.s_[:, :EDGE_BINS],
        f"last_{EDGE_BINS}_bins": np.s_[:, -EDGE_BINS:],
        f"first_{EDGE_SAMPLES}_samples": np.s_[:EDGE_SAMPLES],
        f"last_{EDGE_SAMPLES}_samples": np.s_[-EDGE_SAMPLES:],
        "interior": np.s_[EDGE_SAMPLES:-EDGE_SAMPLES, EDGE_BINS:-EDGE_BINS],
    }
    out = {}
    for name, sl in regions.items():
        err = float(np.sqrt(np.mean((y[sl] - clean[sl]) ** 2)))
        raw = float(np.sqrt(np.mean((noisy[sl] - clean[sl]) ** 2)))
        out[f"edge_{name}"] = err / max(raw, 1e-300)
    return out


#: Gaussian widths (pixels) of the frame-border table's reference rows.
FRAME_GAUSS = (1.0, 2.0, 3.0)


def make_frame(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(clean, unit noise) of the ``FRAME_SIDE``-square test frame: smooth structure on a ramp,
    in counts, and shot noise of unit scale (``clean + s * unit`` is the frame at noise scale ``s``)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    n = FRAME_SIDE
    clean = gaussian_filter(rng.standard_normal((n, n)), 8) * 400 + 1000 + np.linspace(0, 300, n)[None, :]
    return clean, rng.standard_normal(clean.shape) * np.sqrt(clean)


def frame_regions(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(border, interior) boolean masks of a frame: the outer ``FRAME_BORDER`` pixels, and the
    pixels at least ``FRAME_MARGIN`` in from every edge."""
    border = np.ones(shape, bool)
    border[FRAME_BORDER:-FRAME_BORDER, FRAME_BORDER:-FRAME_BORDER] = False
    interior = np.zeros(shape, bool)
    interior[FRAME_MARGIN:-FRAME_MARGIN, FRAME_MARGIN:-FRAME_MARGIN] = True
    return border, interior


def frame_border(threads: int | None = None, seed: int = SEED, bm3d: bool = True) -> list[dict[str, Any]]:
    """Error / raw error on the ``FRAME_BORDER``-pixel border and in the interior of a
    ``FRAME_SIDE``-square frame (smooth structure, shot noise at each of ``FRAME_NOISE``), for
    every shipped image model and precision, with the page's border mirrored (the default for
    frames) and zero-padded; and, for reference, for Gaussians of ``FRAME_GAUSS`` pixels and
    BM3D (with ``bm3d``; :func:`benchmarks.pipelines.bm3d_denoise`, each column whitened by
    its noise level), both of which mirror the border themselves."""
    from scipy.ndimage import gaussian_filter

    import fluorodn
    from benchmarks.pipelines import bm3d_denoise
    from fluorodn import DenoiserOptions
    from fluorodn.errors import ModelError

    clean, unit = make_frame(seed)
    border, interior = frame_regions(clean.shape)
    rows = []
    for card in fluorodn.available_models():
        if card.get("kind", "image") != "image":
            continue
        for precision in ("fp32", *card.get("variants", {})):
            try:
                den = fluorodn.Denoiser(
                    card["name"], device="cpu", precision=precision, options=DenoiserOptions(threads=threads)
                )
            except ModelError:
                continue
            for ns in FRAME_NOISE:
                noisy = clean + ns * unit
                raw = (noisy - clean) ** 2
                for mode in ("mirror", "zero"):
                    err = (den.run(noisy, border=mode) - clean) ** 2
                    b = float(np.sqrt(err[border].mean() / raw[border].mean()))
                    i = float(np.sqrt(err[interior].mean() / raw[interior].mean()))
                    rows.append(
                        {
                            "model": card["name"],
                            "precision": precision,
                            "noise": ns,
                            "border_mode": mode,
                            "border": b,
                            "interior": i,
                        }
                    )
    for ns in FRAME_NOISE:
        noisy = clean + ns * unit
        raw = (noisy - clean) ** 2
        refs = {f"gauss-{g:g}": lambda x, g=g: gaussian_filter(x, g) for g in FRAME_GAUSS}
        if bm3d:
            refs["bm3d"] = bm3d_denoise
        for name, fn in refs.items():
            err = (fn(noisy) - clean) ** 2
            b = float(np.sqrt(err[border].mean() / raw[border].mean()))
            i = float(np.sqrt(err[interior].mean() / raw[interior].mean()))
            rows.append(
                {"model": name, "precision": "-", "noise": ns, "border_mode": "mirror", "border": b, "interior": i}
            )
    return rows
