"""Denoising quality: fluorodn's models next to smoothing, spectral projections and BM3D,
judged by the downstream analysis of ``fluorodn_train.evaluation``.

One run generates continuous test recordings (seeds from the generator's TEST_STREAM,
never used in training), denoises each with every pipeline, runs the analysis of
:mod:`fluorodn_train.evaluation.analysis` on every output, and writes, into one folder:

* ``quality.json``: configuration, versions, every metric, coherence curves;
* ``quality.csv``: one row per (recording, pipeline);
* ``quality.md``: the tables in short: main recordings, stress recordings (fast
  hemodynamics, noise 0.1 and 1.2, other sensors, slow rises, small and small frequent events),
  robustness rows, a "never worse than raw" summary of the default and the error at the edges;
* ``coherence.png``: coherence with ground truth vs frequency at the seed's noise scale,
  with the seed's published values drawn beside ours;
* ``before_after.png``: a two-minute segment, noisy / denoised / clean, and a(t).

Every number in these files is computed in the same run; the only constants typed in are
the seed's published coherence values, drawn as reference markers. Run::

    python -m benchmarks quality            # full: 30-minute recordings, ~10 min on 2 cores
    python -m benchmarks quality --quick    # 2-minute recordings, few pipelines, < 1 min
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train.evaluation import analysis
from fluorodn_train.evaluation.recordings import (
    BINS,
    FIGURE_NOISE,
    FS,
    ROBUST_AFFINE,
    ROBUST_BINS,
    SEED,
    STRONG_CORR,
    analyse,
    make_recordings,
    signal_config,
)

from benchmarks.pipelines import (
    MPPCA_PATCH,
    SAVGOL,
    Pipeline,
    bm3d_denoise,
    fluorodn_pipelines,
    gaussian,
    mppca,
    savgol,
    svd_mp,
    svd_rank,
)
from benchmarks.quality_report import PUBLISHED, PUBLISHED_FREQS, PUBLISHED_LABEL, write_outputs
from benchmarks.repeats import (
    REPEAT_IMAGE_MODELS,
    REPEAT_PIPELINES,
    REPEAT_SEEDS,
    REPEAT_STRESS,
    REPEAT_VARIANTS,
    paired,
    repeat_rows,
)
from benchmarks.stress import edge_errors, frame_border, make_small_events, make_stress

__all__ = ["main", "run"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

#: Noise scales of the main recordings.
NOISE_SCALES = (0.2, 0.4, 0.8)
GAUSS_SIGMAS = (0.5, 0.6, 1.0)
SVD_RANKS = (4, 8, 16)
#: BM3D runs only on as many recordings as fit this budget (projected from a timed slice).
BM3D_BUDGET_S = 420.0


def _log(msg: str) -> None:
    print(f"[quality] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in (
        "numpy",
        "scipy",
        "scikit-image",
        "oasis-deconv",
        "spectral_connectivity",
        "bm3d",
        "fluorodn",
        "onnxruntime",
        "matplotlib",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    out["python"] = platform.python_version()
    return out


def _clean_json(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_json(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean_json(obj.item())
    return obj


def classical_pipelines(sigmas: tuple[float, ...] = GAUSS_SIGMAS) -> list[Pipeline]:
    """The classical baselines but BM3D: a Gaussian of each of ``sigmas``, Savitzky-Golay, the
    truncated SVD at each of :data:`SVD_RANKS`, its Marchenko-Pastur rank, and local MP-PCA."""
    pipes = [Pipeline(f"gauss-{s:.1f}", gaussian(s), robust=s == 1.0, info={"sigma": s}) for s in sigmas]
    pipes.append(Pipeline("savgol", savgol, info=dict(SAVGOL)))
    pipes += [Pipeline(f"svd-{k}", svd_rank(k), robust=True, info={"rank": k}) for k in SVD_RANKS]
    pipes.append(Pipeline("svd-mp", svd_mp, robust=True, info={"rank": "Marchenko-Pastur edge, whitened"}))
    pipes.append(Pipeline("mppca", mppca, robust=True, info={"package": "patch-denoise", "patch": MPPCA_PATCH}))
    return pipes


def run(
    quick: bool = False,
    out_dir: Path | None = None,
    bm3d_mode: str = "auto",
    models: list[str] | None = None,
    model_paths: list[Path] = (),
    threads: int | None = None,
) -> dict[str, Any]:
    """Run the benchmark and write its files into ``out_dir``. Returns the JSON object."""
    t_start = time.perf_counter()
    out_dir = Path(out_dir) if out_dir is not None else (RESULTS / "quality_quick" if quick else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_time = 600 if quick else 9000
    noise_scales = (FIGURE_NOISE,) if quick else NOISE_SCALES
    skipped: list[dict[str, str]] = []

    _log(f"generating recordings ({n_time} x {BINS}, noise {noise_scales})")
    recs = make_recordings(n_time, noise_scales, robust=True)
    if quick:  # a few robustness rows keep those code paths alive
        recs = [r for r in recs if r.kind == "main" or r.name in ("units x1e3", "bins 76")]
    recs += make_stress(n_time if quick else n_time // 3, quick)
    if not quick:
        recs += make_small_events(n_time // 3)

    pipes = [
        Pipeline("clean", lambda x: x, robust=True, info={"reference": "the clean recording"}),
        Pipeline("raw", lambda x: x, robust=True),
    ]
    sigmas = (1.0,) if quick else GAUSS_SIGMAS
    pipes += classical_pipelines(sigmas)
    model_pipes, model_info = fluorodn_pipelines(skipped, models, tuple(model_paths), threads)
    pipes += model_pipes

    # BM3D: time a slice, run it on as many main recordings as fit the budget (highest noise first)
    bm3d_recs: set[str] = set()
    mains = sorted((r for r in recs if r.kind in ("main", "stress")), key=lambda r: (r.kind, -r.noise_scale))
    if bm3d_mode == "off" or quick:
        skipped.append({"pipeline": "bm3d", "recording": "all", "reason": "quick mode" if quick else "--bm3d off"})
    else:
        try:
            n_probe = min(600, n_time)
            t0 = time.perf_counter()
            bm3d_denoise(mains[0].noisy[:n_probe])
            per_rec = (time.perf_counter() - t0) * n_time / n_probe
            n_fit = len(mains) if bm3d_mode == "all" else int(BM3D_BUDGET_S // per_rec)
            bm3d_recs = {r.name for r in mains[:n_fit]}
            for r in mains[n_fit:]:
                skipped.append(
                    {
                        "pipeline": "bm3d",
                        "recording": r.name,
                        "reason": f"projected {per_rec:.0f} s per recording (timed on {n_probe} rows): "
                        f"{n_fit} recording(s) fit the {BM3D_BUDGET_S:.0f} s BM3D budget",
                    }
                )
            pipes.append(Pipeline("bm3d", bm3d_denoise, robust=True, info={"projected_s_per_recording": per_rec}))
        except Exception as exc:
            skipped.append({"pipeline": "bm3d", "recording": "all", "reason": f"{type(exc).__name__}: {exc}"})

    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list[float]]] = {}
    traces: dict[str, np.ndarray] = {}
    outputs: dict[tuple[str, str], np.ndarray] = {}
    freqs = None
    noise_sd = {r.name: float(np.std(r.noisy - r.clean)) for r in recs if r.kind == "main"}
    for rec in recs:
        curves[rec.name] = {}
        for p in pipes:
            if rec.kind == "robustness" and not p.robust:
                continue
            if p.name == "bm3d" and rec.name not in bm3d_recs:
                continue
            t0 = time.perf_counter()
            try:
                y = p.fn(rec.clean * rec.affine[0] + rec.affine[1] if p.name == "clean" else rec.noisy)
            except Exception as exc:
                skipped.append({"pipeline": p.name, "recording": rec.name, "reason": f"{type(exc).__name__}: {exc}"})
                continue
            secs = time.perf_counter() - t0
            y = rec.to_counts(y)
            metrics, a_fit, coh = analyse(rec, y)
            if rec.kind in ("main", "stress"):
                metrics |= edge_errors(rec.clean, y, rec.to_counts(rec.noisy))
            metrics["warnings"] = "; ".join(getattr(p.fn, "warnings", []))
            if freqs is None:
                freqs = analysis.coherence(a_fit, rec.truth.a, FS)[0]
            row = {
                "recording": rec.name,
                "kind": rec.kind,
                "noise_scale": rec.noise_scale,
                "n_bins": rec.clean.shape[1],
                "pipeline": p.name,
                "seconds": secs,
            } | metrics
            if rec.base is not None:  # same recording in other units: outputs should agree
                ref = outputs.get((rec.base, p.name))
                row["max_dev_vs_base"] = (
                    float(np.max(np.abs(y - ref)) / noise_sd[rec.base]) if ref is not None else None
                )
            rows.append(row)
            curves[rec.name][p.name] = coh.tolist()
            if rec.name == f"noise {FIGURE_NOISE:g}":
                outputs[(rec.name, p.name)] = y
                traces[p.name] = a_fit
            _log(
                f"{rec.name:>17} {p.name:>16}: {secs:6.2f} s  PSNR {metrics['psnr']:6.2f}  "
                f"coh {metrics['coh_mean_0_2.5hz']:.3f}  F1 {metrics['ev_f1']:.3f}"
            )

    # the same comparison on further recordings: is a gap to raw more than one recording's luck?
    repeat_pipes = {p.name: p.fn for p in pipes if p.name in REPEAT_PIPELINES + REPEAT_IMAGE_MODELS}
    seeds = REPEAT_SEEDS[:1] if quick else REPEAT_SEEDS
    reps = [
        {k: r[k] for k in ("recording", "pipeline")}
        | {"seed": SEED, "f1": r["ev_f1"], "coh": r["coh_mean_0_2.5hz"], "psnr": r["psnr"]}
        for r in rows
        if r["pipeline"] in repeat_pipes and (r["kind"] == "main" or r["recording"] in REPEAT_VARIANTS + REPEAT_STRESS)
    ]
    reps += repeat_rows(repeat_pipes, n_time, noise_scales, seeds, log=_log, names={r["recording"] for r in reps})

    result = {
        "benchmark": "quality",
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "versions": _versions(),
        "config": {
            "seed": SEED,
            "seed_stream": "fluorodn_train.data.TEST_STREAM",
            "fs_hz": FS,
            "n_time": n_time,
            "duration_s": n_time / FS,
            "n_bins": BINS,
            "noise_scales": list(noise_scales),
            "robustness_noise_scale": FIGURE_NOISE,
            "robust_affine": ROBUST_AFFINE,
            "robust_bins": list(ROBUST_BINS),
            "strong_correlation": STRONG_CORR,
            "signal": signal_config().__dict__,
            "savgol": SAVGOL,
            "gauss_sigmas": list(sigmas),
            "bm3d_budget_s": BM3D_BUDGET_S,
            "bm3d": bm3d_mode,
            "analysis": {
                "fit": "per-sample LM, F = k E exp(a S - h1 e_HbO2 - h2 e_Hb) + c + d, "
                "weights 1/E (shot-noise limited), E/S/d from ground truth",
                "baseline": "60 s running 10th percentile, smoothed 5 s",
                "oasis_g": analysis.SEED_G,
                "coherence": "multitaper NW 5, 32 s windows, 16 s step, "
                "magnitude squared, averaged over windows and tapers, fitted a(t) vs true a(t)",
                "events": "fluorodn_train.evaluation.recordings (EVENT_* constants)",
                "psnr_ssim": "scikit-image, data_range = clean max - min, counts",
            },
        },
        "recordings": [
            {
                "name": r.name,
                "kind": r.kind,
                "noise_scale": r.noise_scale,
                "shape": list(r.noisy.shape),
                "affine": list(r.affine),
                "note": r.note,
                "intensity": r.truth.intensity,
                "g": r.truth.g,
                "n_true_events": int(np.count_nonzero(r.truth.spikes)),
                "median_event_size": float(np.median(r.truth.spikes[r.truth.spikes > 0]))
                if np.any(r.truth.spikes > 0)
                else None,
                "noise_std_counts": float(np.std(r.to_counts(r.noisy) - r.clean)),
            }
            for r in recs
        ],
        "models": model_info,
        "skipped": skipped,
        "freqs_hz": freqs.tolist() if freqs is not None else [],
        "published_seed_coherence": {
            "freqs_hz": list(PUBLISHED_FREQS),
            "values": {PUBLISHED_LABEL[k]: v for k, v in PUBLISHED.items()},
            "source": "seed model card figure, noise scale 0.8",
        },
        "rows": rows,
        "repeats": {
            "rows": reps,
            "summary": paired([r for r in reps if r["pipeline"] not in REPEAT_IMAGE_MODELS]),
            "image_models": {
                m: paired([r for r in reps if r["pipeline"] in ("raw", m)], test=m)
                for m in REPEAT_IMAGE_MODELS
                if any(r["pipeline"] == m for r in reps)
            },
        },
        "frame_border": frame_border(threads, bm3d=any(p.name == "bm3d" for p in pipes)),
        "coherence_curves": curves,
    }
    fig_rec = next(r for r in recs if r.name == f"noise {FIGURE_NOISE:g}")
    result["elapsed_s"] = time.perf_counter() - t_start
    result = _clean_json(result)
    write_outputs(out_dir, result, fig_rec, outputs, traces)
    _log(f"done in {result['elapsed_s']:.0f} s -> {out_dir}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m benchmarks quality [--quick] [--out DIR] [--bm3d MODE]``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks quality", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2-minute recordings and few pipelines (< 1 min)")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default benchmarks/results, or benchmarks/results/quality_quick)",
    )
    ap.add_argument(
        "--bm3d",
        choices=("auto", "all", "off"),
        default="auto",
        help=f"auto: run BM3D on as many recordings as fit {BM3D_BUDGET_S:.0f} s",
    )
    ap.add_argument("--models", nargs="*", default=None, help="shipped models to include (default all)")
    ap.add_argument(
        "--model-path",
        type=Path,
        action="append",
        default=[],
        help="also run this .onnx model file (repeatable), e.g. a candidate before shipping",
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="onnxruntime threads per model (default: fluorodn's choice)"
    )
    args = ap.parse_args(argv)
    run(
        quick=args.quick,
        out_dir=args.out,
        bm3d_mode=args.bm3d,
        models=args.models,
        model_paths=args.model_path,
        threads=args.threads,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
