"""Paired comparison over several recordings: is the default below raw, or only unlucky?

One 30-minute recording holds ~170 counted events, so one event moves its F1 by about 0.003.
The quality benchmark therefore also runs raw, the default and every classical baseline but BM3D
(``REPEAT_PIPELINES``; BM3D takes a minute a recording) on the main noise scales, the robustness
variants and the stress recordings where the default's F1 fell below raw's on the first recording
(``REPEAT_VARIANTS``, ``REPEAT_STRESS``) of further clean recordings (``REPEAT_SEEDS`` of the
generator's TEST_STREAM, each with its own events and noise), and reports per condition the mean
F1 and coherence of each, and the mean paired difference of the default against raw and against
the baseline with the best mean, with its 95 % confidence interval (Student's t over recordings).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from fluorodn_train.evaluation.recordings import analyse, make_recordings

from benchmarks.stress import FREQUENT_EVENTS, SMALL_EVENTS, make_small_events, make_stress

__all__ = [
    "REPEAT_IMAGE_MODELS",
    "REPEAT_PIPELINES",
    "REPEAT_SEEDS",
    "REPEAT_STRESS",
    "REPEAT_VARIANTS",
    "paired",
    "pipeline_rows",
    "repeat_rows",
]

#: Further clean recordings (seeds of the test stream; the main recordings use seed 0).
REPEAT_SEEDS = (1, 2, 3, 4, 5)
#: Pipelines compared over the recordings: raw, the default and the classical baselines but BM3D.
REPEAT_PIPELINES = (
    "raw",
    "fluorodn:default",
    "gauss-0.5",
    "gauss-0.6",
    "gauss-1.0",
    "savgol",
    "svd-4",
    "svd-8",
    "svd-16",
    "svd-mp",
    "mppca",
)
#: The image models, run on the same recordings and compared with raw alone (not baselines of the
#: default's comparison): what running an image model on a spectral recording costs.
REPEAT_IMAGE_MODELS = ("fluorodn:low", "fluorodn:high")
#: Robustness variants repeated besides the main noise scales (the default's F1 below raw's on seed 0).
REPEAT_VARIANTS = ("bins 76", "bins 304", "white noise")
#: Stress recordings repeated: slow rises (the same reason), fast hemodynamics (coherence or
#: F1 below raw's on single further recordings) and small events (F1 below raw's when frequent).
REPEAT_STRESS = (
    "slow rise (3 samples), noise 0.4",
    "fast hemodynamics, noise 0.2",
    "fast hemodynamics, noise 0.4",
    "fast hemodynamics, noise 0.8",
    SMALL_EVENTS,
    FREQUENT_EVENTS,
)
COHERENCE_KEY = "coh_mean_0_2.5hz"


def repeat_rows(
    pipelines: dict[str, Callable[[np.ndarray], np.ndarray]],
    n_time: int,
    noise_scales: Sequence[float],
    seeds: Sequence[int] = REPEAT_SEEDS,
    log: Callable[[str], None] = lambda _: None,
    names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """F1, coherence and PSNR of every pipeline on the main recordings (and
    :data:`REPEAT_VARIANTS`, :data:`REPEAT_STRESS`) of each seed; only those in ``names`` if given."""
    rows = []
    for seed in seeds:
        recs = make_recordings(n_time, tuple(noise_scales), robust=True, seed=seed)
        if names is None or set(names) & set(REPEAT_STRESS):
            stress = make_stress(n_time // 3, False, seed=seed) + make_small_events(n_time // 3, seed=seed)
            recs += [r for r in stress if r.name in REPEAT_STRESS]
        wanted = [r for r in recs if r.kind == "main" or r.name in REPEAT_VARIANTS + REPEAT_STRESS]
        for rec in (r for r in wanted if names is None or r.name in names):
            rows += pipeline_rows(seed, rec, pipelines)
            log(f"seed {seed} {rec.name}: done")
    return rows


def pipeline_rows(
    seed: int, rec: Any, pipelines: dict[str, Callable[[np.ndarray], np.ndarray] | None]
) -> list[dict[str, Any]]:
    """F1, coherence and PSNR of every pipeline on ``rec`` (of clean recording ``seed``), the true
    events it missed and its false detections (out of the recording's true events), and whether
    it warned about its input (the ``warnings`` that :func:`benchmarks.pipelines.denoiser_fn`
    keeps); a pipeline of None is the clean recording itself."""
    rows = []
    for name, fn in pipelines.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = rec.clean if fn is None else rec.to_counts(fn(rec.noisy))
            m, _, _ = analyse(rec, y)
        rows.append({
            "seed": seed, "recording": rec.name, "pipeline": name, "f1": m["ev_f1"], "coh": m[COHERENCE_KEY],
            "psnr": m["psnr"], "missed": int(m["ev_fn"]), "false": int(m["ev_fp"]), "true": int(m["ev_n_true"]),
            "warned": bool(getattr(fn, "warnings", None)),
        })  # fmt: skip
    return rows


def interval(d: np.ndarray) -> tuple[float, float]:
    """Mean and 95 % half-width (Student's t) of paired differences."""
    from scipy.stats import t

    n = len(d)
    if n < 2:
        return float(d.mean()) if n else math.nan, math.nan
    return float(d.mean()), float(t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n))


def paired(rows: list[dict[str, Any]], test: str = "fluorodn:default", base: str = "raw") -> list[dict[str, Any]]:
    """Per recording name: the recordings, the mean F1 and coherence of every pipeline run on all
    of them, and the mean paired difference ``test - base`` of F1 and coherence with its 95 %
    half-width; then the same against the baseline with the best mean (any pipeline but ``test``, ``base`` included):
    ``best_f1``/``best_coh`` name it, ``f1_best_diff``/``coh_best_diff`` and their half-widths."""
    out = []
    for name in dict.fromkeys(r["recording"] for r in rows):
        by = {(r["seed"], r["pipeline"]): r for r in rows if r["recording"] == name}
        seeds = sorted({s for s, p in by if p == test} & {s for s, p in by if p == base})
        entry: dict[str, Any] = {"recording": name, "n": len(seeds), "seeds": seeds, "f1": {}, "coh": {}}
        # pipelines run on every paired recording (a mean over fewer would not compare)
        complete = [p for p in dict.fromkeys(p for _, p in by) if seeds and all((s, p) in by for s in seeds)]
        for p in complete:
            for key in ("f1", "coh"):
                entry[key][p] = float(np.mean([by[(s, p)][key] for s in seeds]))
        for key in ("f1", "coh"):
            d = np.array([by[(s, test)][key] - by[(s, base)][key] for s in seeds])
            entry[f"{key}_diff"], entry[f"{key}_half_width"] = interval(d)
            others = [p for p in complete if p != test]
            best = max(others, key=lambda p: entry[key][p]) if others else base
            d = np.array([by[(s, test)][key] - by[(s, best)][key] for s in seeds])
            entry[f"best_{key}"] = best
            entry[f"{key}_best_diff"], entry[f"{key}_best_half_width"] = interval(d)
        out.append(entry)
    return out
