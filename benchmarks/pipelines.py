"""The pipelines the quality benchmark compares: raw, smoothing, spectral projections, BM3D
and fluorodn's models. Each maps a (T, W) float64 recording to one of the same shape and units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Pipeline",
    "bm3d_denoise",
    "fluorodn_pipelines",
    "gaussian",
    "mp_rank",
    "mppca",
    "savgol",
    "svd_mp",
    "svd_rank",
    "svd_then",
]

SAVGOL = {"window_length": 11, "polyorder": 3}  # along time: 2.2 s, cubic
#: Samples per patch of :func:`mppca` (each patch holds every bin; patches overlap by half).
MPPCA_PATCH = 100
#: The strength the README suggests for event detection (``DenoiserOptions(strength=...)``): the
#: highest at which ``python -m benchmarks strength`` found no condition measurably below raw on F1.
EVENT_STRENGTH = 0.6
_MAD = 1.482602218505602


@dataclass
class Pipeline:
    name: str
    fn: Callable[[np.ndarray], np.ndarray]  #: (T, W) float64 -> (T, W) same units
    robust: bool = False  #: also run on the robustness and stress recordings
    info: dict[str, Any] = field(default_factory=dict)


def gaussian(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    from scipy.ndimage import gaussian_filter

    return lambda x: gaussian_filter(x, sigma, mode="nearest")


def time_gaussian(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    """A Gaussian of ``sigma`` samples over time alone, each bin on its own, the recording
    mirrored at its ends."""
    from scipy.ndimage import gaussian_filter1d

    return lambda x: gaussian_filter1d(x, sigma, axis=0, mode="mirror")


def savgol(x: np.ndarray) -> np.ndarray:
    from scipy.signal import savgol_filter

    return savgol_filter(x, axis=0, mode="interp", **SAVGOL)


def _bin_noise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre, noise level) per wavelength bin: median, and MAD of the time differences."""
    centre = np.median(x, axis=0)
    d = np.diff(x, axis=0)
    sig = _MAD * np.median(np.abs(d - np.median(d, axis=0)), axis=0) / math.sqrt(2.0)
    return centre, np.maximum(sig, 1e-12 * max(float(np.ptp(x)), 1e-30))


def bm3d_denoise(x: np.ndarray) -> np.ndarray:
    """BM3D on the recording whitened per wavelength bin (shot noise differs between bins):
    each bin is centred on its median and divided by its robust noise level (MAD of the
    differences along time), denoised with sigma 1, and mapped back."""
    import bm3d

    centre, sig = _bin_noise(x)
    z = ((x - centre) / sig).astype(np.float32)
    return np.asarray(bm3d.bm3d(z, sigma_psd=1.0), np.float64) * sig + centre


def svd_rank(rank: int) -> Callable[[np.ndarray], np.ndarray]:
    """Truncated SVD along wavelength: keep the ``rank`` leading components of the
    recording centred on its mean spectrum (what an analyst tries first)."""

    def run(x: np.ndarray) -> np.ndarray:
        mu = x.mean(axis=0)
        u, s, vt = np.linalg.svd(x - mu, full_matrices=False)
        return (u[:, :rank] * s[:rank]) @ vt[:rank] + mu

    return run


def mp_rank(z: np.ndarray) -> int:
    """Components of a whitened (T, W) matrix above the Marchenko-Pastur edge of unit noise."""
    t, w = z.shape
    s = np.linalg.svd(z, compute_uv=False)
    edge = math.sqrt(t) + math.sqrt(w)
    return max(1, int(np.count_nonzero(s > edge)))


def svd_mp(x: np.ndarray) -> np.ndarray:
    """MP-PCA: the recording whitened per bin (as BM3D), truncated at the Marchenko-Pastur
    edge (the automatic rank choice of MP-PCA applied to the whole recording), mapped back."""
    centre, sig = _bin_noise(x)
    z = (x - centre) / sig
    mu = z.mean(axis=0)
    u, s, vt = np.linalg.svd(z - mu, full_matrices=False)
    k = mp_rank(z - mu)
    return ((u[:, :k] * s[:k]) @ vt[:k] + mu) * sig + centre


def mppca(x: np.ndarray) -> np.ndarray:
    """Local MP-PCA of the ``patch-denoise`` package (Manjon et al. 2013): the recording whitened
    per bin (as BM3D), cut into windows of ``MPPCA_PATCH`` samples (the whole recording if
    shorter) overlapping by half, each window's (samples x bins) matrix truncated where the
    Marchenko-Pastur law fitted to its own eigenvalues puts the noise, the windows recombined
    with weights, mapped back. Unlike :func:`svd_mp`, rank and noise follow the recording."""
    import logging

    from patch_denoise.space_time.lowrank import MPPCADenoiser
    from tqdm import tqdm

    centre, sig = _bin_noise(x)
    z = (x - centre) / sig
    t = len(x)
    patch = min(MPPCA_PATCH, t)
    step = patch - patch // 2
    # the package leaves rows past the last whole patch empty (NaN): mirror the end to fill one
    z = np.pad(z, ((0, -(t - patch) % step), (0, 0)), mode="symmetric")
    den = MPPCADenoiser((patch,), (patch // 2,), recombination="weighted", threshold_scale=1.0)
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # it warns that every (samples x bins) patch is ill-conditioned
    try:
        y = den.denoise(z, mask=None, mask_threshold=-1, progbar=tqdm(disable=True))[0][:t]
    finally:
        logging.disable(previous)
    return np.asarray(y, np.float64) * sig + centre


def svd_then(rank: int, den: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Truncated SVD at ``rank``, then ``den`` (a DnCNN) on the projected recording."""
    proj = svd_rank(rank)
    return lambda x: den(proj(x))


def fluorodn_pipelines(
    skipped: list[dict[str, str]],
    names: list[str] | None = None,
    paths: tuple[Path, ...] = (),
    threads: int | None = None,
) -> tuple[list[Pipeline], dict[str, Any]]:
    """One pipeline per shipped model (``fluorodn.available_models()``, or those in ``names``) and
    precision it ships (``precision="auto"``'s pick named plainly, the others by their precision),
    per extra model file in ``paths`` (a candidate not shipped yet), ``fluorodn:default``
    (``Denoiser()`` as a user gets it), the same with each bin's fixed pattern kept, its
    projection alone (``spectral_only``), and at :data:`EVENT_STRENGTH`."""
    try:
        import fluorodn
        from fluorodn.registry import model_variants

        wanted: list[str | Path] = [
            c["name"] for c in fluorodn.available_models() if names is None or c["name"] in names
        ]
    except Exception as exc:  # the runtime is optional for this benchmark
        skipped.append(
            {
                "pipeline": "fluorodn:*",
                "recording": "all",
                "reason": f"fluorodn runtime unavailable: {type(exc).__name__}: {exc}",
            }
        )
        return [], {"default": None, "cards": []}
    if not wanted:
        skipped.append({"pipeline": "fluorodn:*", "recording": "all", "reason": "no shipped models"})
    pipes = []
    default = None
    runs: list[tuple[str | Path, str]] = [(m, "auto") for m in [*wanted, *paths]]
    for model, precision in runs:
        try:
            den = fluorodn.Denoiser(model, options=fluorodn.DenoiserOptions(threads=threads, precision=precision))
        except Exception as exc:
            skipped.append(
                {"pipeline": f"fluorodn:{model}", "recording": "all", "reason": f"{type(exc).__name__}: {exc}"}
            )
            continue
        if precision == "auto" and not isinstance(model, Path):
            # every precision the model ships beside the one "auto" picked
            others = {"fp32", *model_variants(model)} - {den.precision}
            runs += [(model, p) for p in sorted(others)]
        meta = den.metadata or {}
        info = {
            k: meta.get(k)
            for k in ("name", "kind", "version", "noise_scale", "depth", "width", "halo", "instances_seen", "steps")
        }
        info |= {
            "pipeline": f"fluorodn:{den.name}" + (f" {precision}" if precision != "auto" else ""),
            "sha256": den.sha256,
            "provider": den.provider,
            "precision": den.precision,
            "shipped": not isinstance(model, Path),
        }
        pipes.append(Pipeline(info["pipeline"], denoiser_fn(den), robust=True, info=info))
    try:
        variants: tuple[tuple[str, dict[str, Any]], ...] = (
            ("fluorodn:default", {}),
            ("fluorodn:default keep-pattern", {"keep_fixed_pattern": True}),
            ("fluorodn:default spectral-only", {"spectral_only": True}),
            ("fluorodn:default round-onsets", {"keep_onsets": False}),
            (f"fluorodn:default strength-{EVENT_STRENGTH:g}", {"strength": EVENT_STRENGTH}),
        )
        for name, settings in variants:
            den = fluorodn.Denoiser(options=fluorodn.DenoiserOptions(threads=threads, **settings))
            default = default or den.name
            info = {"pipeline": name, "name": den.name, "sha256": den.sha256, "precision": den.precision}
            if settings:
                info["options"] = ", ".join(f"{k}={v}" for k, v in settings.items())
            pipes.append(Pipeline(name, denoiser_fn(den), robust=True, info=info))
        image = fluorodn.Denoiser(options=fluorodn.DenoiserOptions(threads=threads), kind="image")
        pipes.append(
            Pipeline(
                f"svd-16+{image.name}",
                svd_then(16, denoiser_fn(image)),
                robust=True,
                info={"rank": 16, "model": image.name},
            )
        )
    except Exception as exc:
        skipped.append({"pipeline": "fluorodn:default", "recording": "all", "reason": f"{type(exc).__name__}: {exc}"})
    return pipes, {"default": default, "cards": [p.info for p in pipes if p.name.startswith("fluorodn:")]}


def domain_message(message: Warning | str) -> str:
    """A warning's text as the benchmarks record it: without the sentence that the input's shape chose
    the spectral path (:data:`fluorodn.denoiser.DETECTED_PATH`), which every benchmark recording, a
    bare time x wavelength array, would repeat."""
    from fluorodn.denoiser import DETECTED_PATH

    return str(message).removesuffix(DETECTED_PATH)


def denoiser_fn(den: Any, **given: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``den.run`` (with the keyword arguments ``given``, e.g. ``rate``) returning float64; its
    warnings about the input (``OutOfDomainWarning``, ``ModelChoiceWarning``,
    ``EventDetectionWarning``) are recorded in
    ``run.warnings``."""
    import warnings

    from fluorodn.errors import EventDetectionWarning, ModelChoiceWarning, OutOfDomainWarning

    def run(x: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = np.asarray(den.run(x, **given), np.float64)
        about_input = (OutOfDomainWarning, ModelChoiceWarning, EventDetectionWarning)
        run.warnings = [domain_message(w.message) for w in caught if issubclass(w.category, about_input)]
        return y

    run.warnings = []
    return run
