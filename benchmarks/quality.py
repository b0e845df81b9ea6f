"""Denoising quality: fluorodn's models next to classical smoothing, judged by the seed
project's downstream analysis (issue 4, quality half).

One run generates continuous test recordings (seeds from the generator's TEST_STREAM,
never used in training), denoises each with every pipeline, runs the analysis of
:mod:`benchmarks.analysis` on every output, and writes, into one folder:

* ``quality.json``: configuration, versions, every metric, coherence curves;
* ``quality.csv``: one row per (recording, pipeline);
* ``quality.md``: the tables in short;
* ``coherence.png``: coherence with ground truth vs frequency at the seed's noise scale,
  with the seed's published values drawn beside ours;
* ``before_after.png``: a two-minute segment, noisy / denoised / clean, and a(t).

Every number in these files is computed in the same run; the only constants typed in are
the seed's published coherence values, drawn as reference markers. Run::

    python -m benchmarks quality            # full: 30-minute recordings, ~15 min on 2 cores
    python -m benchmarks quality --quick    # 2-minute recordings, few pipelines, < 1 min
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import analysis
from benchmarks.pipelines import (
    SAVGOL,
    Pipeline,
    bm3d_denoise,
    fluorodn_pipelines,
    gaussian,
    savgol,
    svd_mp,
    svd_rank,
)

__all__ = ["main", "run"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

#: Noise scales of the main recordings (the models were trained at 0.3 and 0.8).
NOISE_SCALES = (0.2, 0.4, 0.8)
#: Noise scale of the seed's test set: the coherence figure and the robustness rows use it.
FIGURE_NOISE = 0.8
#: Test seed; recordings come from SeedSequence(SEED, spawn_key=(TEST_STREAM, ...)).
SEED = 0
FS = 5.0
#: Wavelength bins of the main recordings and of the robustness rows.
BINS = 152
ROBUST_BINS = (76, 304)
#: Unit changes and offset of the robustness rows: input = noisy * factor + offset.
ROBUST_AFFINE = {"units x1e-3": (1e-3, 0.0), "units x1e3": (1e3, 0.0), "offset +1e4": (1.0, 1e4)}
#: Noise outside the training distribution (training draws bin_corr <= 0.5, time_corr <= 0.3).
STRONG_CORR = {"bin_corr": 1.0, "time_corr": 0.8}

GAUSS_SIGMAS = (0.5, 0.6, 1.0)
SVD_RANKS = (4, 8, 16)
#: BM3D runs only on as many recordings as fit this budget (projected from a timed slice).
BM3D_BUDGET_S = 420.0
#: Events: matching tolerance (samples), grouping gap, size threshold (x median true size).
EVENT_TOL = 3
EVENT_MERGE = 1
EVENT_MIN_FRAC = 0.3
#: Deconvolved samples below this fraction of the size threshold are not part of any event.
EVENT_FLOOR_FRAC = 0.1

#: The seed project's coherence with ground truth at 0 / 1 / 2.5 Hz, read off its figure
#: (DOMAIN.md); drawn as reference markers, never mixed with our numbers.
PUBLISHED = {
    "raw": (0.52, 0.27, 0.11),
    "gauss-1.0": (0.69, 0.37, 0.02),
    "fluorodn:low": (0.69, 0.45, 0.28),
    "fluorodn:high": (0.73, 0.48, 0.23),
}
PUBLISHED_LABEL = {"raw": "raw", "gauss-1.0": "Gaussian s=1", "fluorodn:low": "CNN-low",
                   "fluorodn:high": "CNN-high"}
PUBLISHED_FREQS = (0.0, 1.0, 2.5)


def _log(msg: str) -> None:
    print(f"[quality] {msg}", file=sys.stderr, flush=True)


def _generator():
    """The synthetic-data generator (``fluorodn_train``)."""
    from fluorodn_train import data, noise, spectra, synth

    return data, noise, spectra, synth


# --------------------------------------------------------------------------------------
# recordings
# --------------------------------------------------------------------------------------


@dataclass
class Recording:
    """A test recording with what the analysis needs to know about it."""

    name: str  #: e.g. "noise 0.8" or "bins 76"
    kind: str  #: "main", "robustness" or "stress"
    noise_scale: float
    noisy: np.ndarray  #: (T, W) float64, in the units the pipelines see
    clean: np.ndarray  #: (T, W) float64 counts
    truth: Any  #: fluorodn_train CleanRecording
    dark: np.ndarray  #: (W,) detector offset in counts
    affine: tuple[float, float] = (1.0, 0.0)  #: noisy = counts * factor + offset
    base: str | None = None  #: recording whose outputs these should equal (affine rows)
    note: str = ""

    def to_counts(self, y: np.ndarray) -> np.ndarray:
        f, o = self.affine
        return (np.asarray(y, np.float64) - o) / f


def signal_config(synth: Any) -> Any:
    """The generator's configuration with the draws that set difficulty pinned to the middle
    of their training ranges (log scale for intensity and rate), and the decay at the seed's
    g, so that OASIS deconvolves with the true kinetics. Everything else is drawn."""
    cfg = synth.SignalConfig()
    gm = lambda r: (math.sqrt(r[0] * r[1]),) * 2  # noqa: E731
    mid = lambda r: ((r[0] + r[1]) / 2,) * 2  # noqa: E731
    return replace(cfg, intensity=gm(cfg.intensity), event_rate=gm(cfg.event_rate),
                   event_size=mid(cfg.event_size), decay_g=(analysis.SEED_G,) * 2)


def make_recordings(n_time: int, noise_scales: tuple[float, ...], robust: bool,
                    seed: int = SEED) -> list[Recording]:
    """The main recordings (one clean recording, one noise draw scaled per noise scale)
    and, if ``robust``, the robustness variants of the ``FIGURE_NOISE`` recording."""
    data, noise, _, synth = _generator()
    cfg = signal_config(synth)

    def clean(n_bins: int) -> Any:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(data.TEST_STREAM,)))
        return synth.clean_recording(rng, n_time, n_bins, cfg)

    def noise_rng(branch: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(data.TEST_STREAM, branch)))

    def dark_of(rec: Any) -> np.ndarray:
        return np.median(rec.clean - rec.photons, axis=0)

    rec = clean(BINS)
    out = []
    for ns in noise_scales:
        eps = noise.parametric_noise(noise_rng(1), rec.photons, ns)
        out.append(Recording(f"noise {ns:g}", "main", ns, rec.clean + eps, rec.clean, rec, dark_of(rec)))
    if not robust:
        return out
    base = next(r for r in out if r.noise_scale == FIGURE_NOISE)
    for name, (f, o) in ROBUST_AFFINE.items():
        out.append(Recording(name, "robustness", FIGURE_NOISE, base.noisy * f + o, rec.clean, rec,
                             base.dark, affine=(f, o), base=base.name))
    for n_bins in ROBUST_BINS:
        r = clean(n_bins)
        eps = noise.parametric_noise(noise_rng(1), r.photons, FIGURE_NOISE)
        out.append(Recording(f"bins {n_bins}", "robustness", FIGURE_NOISE, r.clean + eps, r.clean, r,
                             dark_of(r)))
    level = float(np.std(base.noisy - base.clean))
    white = level * noise_rng(2).standard_normal(rec.clean.shape)
    out.append(Recording("white noise", "robustness", FIGURE_NOISE, rec.clean + white, rec.clean, rec,
                         base.dark, note=f"i.i.d. Gaussian, std {level:.4g} counts (that of 'noise "
                         f"{FIGURE_NOISE:g}'), no shot noise"))
    ncfg = noise.NoiseConfig(bin_corr=(STRONG_CORR["bin_corr"],) * 2,
                             time_corr=(STRONG_CORR["time_corr"],) * 2)
    eps = noise.parametric_noise(noise_rng(1), rec.photons, FIGURE_NOISE, ncfg)
    out.append(Recording("correlated noise", "robustness", FIGURE_NOISE, rec.clean + eps, rec.clean, rec,
                         base.dark, note=f"parametric noise with bin_corr {STRONG_CORR['bin_corr']:g}, "
                         f"time_corr {STRONG_CORR['time_corr']:g} (training: <= 0.5, <= 0.3)"))
    return out


# --------------------------------------------------------------------------------------
# pipelines
# --------------------------------------------------------------------------------------



STRESS_NOISE = (0.1, 1.2)
#: Fast hemodynamics: share of the hemodynamic variance in fast components (in vivo: 35-40 %).
FAST_HEMO_SHARE = (0.35, 0.4)
FAST_HEMO_NOISE = (0.2, 0.4, 0.8)
STRESS_SENSORS = ("da", "red")
STRESS_SENSOR_NOISE = 0.4
#: Edge regions of the edge table: wavelength bins and time samples at each end.
EDGE_BINS, EDGE_SAMPLES = 3, 5


def make_stress(n_time: int, quick: bool, seed: int = SEED) -> list[Recording]:
    """Stress recordings: fast hemodynamics, noise outside 0.2-0.8, other sensors."""
    data, noise, _, synth = _generator()
    base = signal_config(synth)

    def rec(name: str, cfg: Any, ns: float, branch: int) -> Recording:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(data.TEST_STREAM, 100 + branch)))
        r = synth.clean_recording(rng, n_time, BINS, cfg)
        eps = noise.parametric_noise(rng, r.photons, ns)
        return Recording(name, "stress", ns, r.clean + eps, r.clean, r, np.median(r.clean - r.photons, axis=0))

    fast = replace(base, hemo_fast=FAST_HEMO_SHARE, hemo_fast_prob=1.0, hemo_dff=(0.01, 0.01))
    out = [rec(f"fast hemodynamics, noise {ns:g}", fast, ns, 0) for ns in FAST_HEMO_NOISE]
    if quick:
        return out[:1]
    out += [rec(f"noise {ns:g}", base, ns, 1) for ns in STRESS_NOISE]
    out += [rec(f"sensor {s}, noise {STRESS_SENSOR_NOISE:g}", replace(base, sensors=(s,)), STRESS_SENSOR_NOISE, 2)
            for s in STRESS_SENSORS]
    return out


def edge_errors(clean: np.ndarray, y: np.ndarray, noisy: np.ndarray) -> dict[str, float]:
    """RMS error over RMS raw error in each edge region and in the interior."""
    regions = {
        "first_bin": np.s_[:, :1], "last_bin": np.s_[:, -1:],
        f"first_{EDGE_BINS}_bins": np.s_[:, :EDGE_BINS], f"last_{EDGE_BINS}_bins": np.s_[:, -EDGE_BINS:],
        f"first_{EDGE_SAMPLES}_samples": np.s_[:EDGE_SAMPLES], f"last_{EDGE_SAMPLES}_samples": np.s_[-EDGE_SAMPLES:],
        "interior": np.s_[EDGE_SAMPLES:-EDGE_SAMPLES, EDGE_BINS:-EDGE_BINS],
    }
    out = {}
    for name, sl in regions.items():
        err = float(np.sqrt(np.mean((y[sl] - clean[sl]) ** 2)))
        raw = float(np.sqrt(np.mean((noisy[sl] - clean[sl]) ** 2)))
        out[f"edge_{name}"] = err / max(raw, 1e-300)
    return out


# --------------------------------------------------------------------------------------
# analysis of one output
# --------------------------------------------------------------------------------------


def analyse(rec: Recording, y_counts: np.ndarray) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """All metrics of one output (counts). Returns (metrics, fitted a(t), coherence)."""
    _, _, spectra, _ = _generator()
    tr = rec.truth
    out: dict[str, Any] = analysis.image_scores(rec.clean, y_counts)
    fit = analysis.fit_spectra(y_counts, tr.emission, tr.response, spectra.hemoglobin(tr.wl), rec.dark,
                               weights=1.0 / tr.emission)
    out["rmse_a"] = float(np.sqrt(np.mean((fit.a - tr.a) ** 2)))
    freqs, coh = analysis.coherence(fit.a, tr.a, FS)
    out |= analysis.band_values(freqs, coh)
    _, s = analysis.deconvolve(analysis.subtract_baseline(fit.a, FS), analysis.SEED_G, FS)
    ti, ta = analysis.events(tr.spikes, EVENT_MERGE)
    min_size = EVENT_MIN_FRAC * float(np.median(ta))
    di, da = analysis.events(s, EVENT_MERGE, floor=EVENT_FLOOR_FRAC * min_size)
    score = analysis.match_events(ti, ta, di, da, tol=EVENT_TOL, min_size=min_size)
    out |= {f"ev_{k}": v for k, v in score.as_dict().items()}
    return out, fit.a, coh


# --------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("numpy", "scipy", "scikit-image", "oasis-deconv", "spectral_connectivity", "bm3d",
                 "fluorodn", "onnxruntime", "matplotlib"):
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


def run(quick: bool = False, out_dir: Path | None = None, bm3d_mode: str = "auto",
        models: list[str] | None = None, model_paths: list[Path] = (),
        threads: int | None = None) -> dict[str, Any]:
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

    pipes = [Pipeline("clean", lambda x: x, robust=True, info={"reference": "the clean recording"}),
             Pipeline("raw", lambda x: x, robust=True)]
    sigmas = (1.0,) if quick else GAUSS_SIGMAS
    pipes += [Pipeline(f"gauss-{s:.1f}", gaussian(s), robust=s == 1.0,
                       info={"sigma": s}) for s in sigmas]
    pipes.append(Pipeline("savgol", savgol, info=dict(SAVGOL)))
    pipes += [Pipeline(f"svd-{k}", svd_rank(k), robust=True, info={"rank": k}) for k in SVD_RANKS]
    pipes.append(Pipeline("svd-mp", svd_mp, robust=True, info={"rank": "Marchenko-Pastur edge, whitened"}))
    model_pipes, model_info = fluorodn_pipelines(skipped, models, tuple(model_paths), threads)
    pipes += model_pipes

    # BM3D: time a slice, run it on as many main recordings as fit the budget (highest noise first)
    bm3d_recs: set[str] = set()
    mains = sorted((r for r in recs if r.kind in ("main", "stress")), key=lambda r: (r.kind, -r.noise_scale))
    if bm3d_mode == "off" or quick:
        skipped.append({"pipeline": "bm3d", "recording": "all",
                        "reason": "quick mode" if quick else "--bm3d off"})
    else:
        try:
            n_probe = min(600, n_time)
            t0 = time.perf_counter()
            bm3d_denoise(mains[0].noisy[:n_probe])
            per_rec = (time.perf_counter() - t0) * n_time / n_probe
            n_fit = len(mains) if bm3d_mode == "all" else int(BM3D_BUDGET_S // per_rec)
            bm3d_recs = {r.name for r in mains[:n_fit]}
            for r in mains[n_fit:]:
                skipped.append({"pipeline": "bm3d", "recording": r.name, "reason":
                                f"projected {per_rec:.0f} s per recording (timed on {n_probe} rows): "
                                f"{n_fit} recording(s) fit the {BM3D_BUDGET_S:.0f} s BM3D budget"})
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
                skipped.append({"pipeline": p.name, "recording": rec.name,
                                "reason": f"{type(exc).__name__}: {exc}"})
                continue
            secs = time.perf_counter() - t0
            y = rec.to_counts(y)
            metrics, a_fit, coh = analyse(rec, y)
            if rec.kind in ("main", "stress"):
                metrics |= edge_errors(rec.clean, y, rec.to_counts(rec.noisy))
            metrics["warnings"] = "; ".join(getattr(p.fn, "warnings", []))
            if freqs is None:
                freqs = analysis.coherence(a_fit, rec.truth.a, FS)[0]
            row = {"recording": rec.name, "kind": rec.kind, "noise_scale": rec.noise_scale,
                   "n_bins": rec.clean.shape[1], "pipeline": p.name, "seconds": secs} | metrics
            if rec.base is not None:  # same recording in other units: outputs should agree
                ref = outputs.get((rec.base, p.name))
                row["max_dev_vs_base"] = (float(np.max(np.abs(y - ref)) / noise_sd[rec.base])
                                          if ref is not None else None)
            rows.append(row)
            curves[rec.name][p.name] = coh.tolist()
            if rec.name == f"noise {FIGURE_NOISE:g}":
                outputs[(rec.name, p.name)] = y
                traces[p.name] = a_fit
            _log(f"{rec.name:>17} {p.name:>16}: {secs:6.2f} s  PSNR {metrics['psnr']:6.2f}  "
                 f"coh {metrics['coh_mean_0_2.5hz']:.3f}  F1 {metrics['ev_f1']:.3f}")

    result = {
        "benchmark": "quality", "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "versions": _versions(),
        "config": {
            "seed": SEED, "seed_stream": "fluorodn_train.data.TEST_STREAM", "fs_hz": FS,
            "n_time": n_time, "duration_s": n_time / FS, "n_bins": BINS, "noise_scales": list(noise_scales),
            "robustness_noise_scale": FIGURE_NOISE, "robust_affine": ROBUST_AFFINE,
            "robust_bins": list(ROBUST_BINS), "strong_correlation": STRONG_CORR,
            "signal": signal_config(_generator()[3]).__dict__,
            "savgol": SAVGOL, "gauss_sigmas": list(sigmas), "bm3d_budget_s": BM3D_BUDGET_S,
            "analysis": {"fit": "per-sample LM, F = k E exp(a S - h1 e_HbO2 - h2 e_Hb) + c + d, "
                                "weights 1/E (shot-noise limited), E/S/d from ground truth",
                         "baseline": "60 s running 10th percentile, smoothed 5 s",
                         "oasis_g": analysis.SEED_G, "coherence": "multitaper NW 5, 32 s windows, 16 s step, "
                         "magnitude squared, averaged over windows and tapers, fitted a(t) vs true a(t)",
                         "event_tol_samples": EVENT_TOL, "event_merge_gap": EVENT_MERGE,
                         "event_min_size": f"{EVENT_MIN_FRAC} x median true event size",
                         "event_floor": f"{EVENT_FLOOR_FRAC} x event_min_size",
                         "psnr_ssim": "scikit-image, data_range = clean max - min, counts"},
        },
        "recordings": [{"name": r.name, "kind": r.kind, "noise_scale": r.noise_scale,
                        "shape": list(r.noisy.shape), "affine": list(r.affine), "note": r.note,
                        "intensity": r.truth.intensity, "g": r.truth.g,
                        "n_true_events": int(np.count_nonzero(r.truth.spikes)),
                        "median_event_size": float(np.median(r.truth.spikes[r.truth.spikes > 0]))
                        if np.any(r.truth.spikes > 0) else None,
                        "noise_std_counts": float(np.std(r.to_counts(r.noisy) - r.clean))} for r in recs],
        "models": model_info,
        "skipped": skipped,
        "freqs_hz": freqs.tolist() if freqs is not None else [],
        "published_seed_coherence": {"freqs_hz": list(PUBLISHED_FREQS),
                                     "values": {PUBLISHED_LABEL[k]: v for k, v in PUBLISHED.items()},
                                     "source": "seed model card figure, noise scale 0.8 (DOMAIN.md)"},
        "rows": rows,
        "coherence_curves": curves,
    }
    fig_rec = next(r for r in recs if r.name == f"noise {FIGURE_NOISE:g}")
    _plot_coherence(out_dir / "coherence.png", result, fig_rec.name)
    _plot_before_after(out_dir / "before_after.png", fig_rec, outputs, traces, model_info.get("default"))
    result["elapsed_s"] = time.perf_counter() - t_start
    result = _clean_json(result)
    (out_dir / "quality.json").write_text(json.dumps(result, indent=1) + "\n")
    _write_csv(out_dir / "quality.csv", rows)
    (out_dir / "quality.md").write_text(_markdown(result))
    _log(f"done in {result['elapsed_s']:.0f} s -> {out_dir}")
    return result


# --------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else f"{v:.6g}" if isinstance(v, float) else v)
                        for k, v in r.items()})


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _markdown(res: dict[str, Any]) -> str:
    cfg = res["config"]
    lines = [f"# Denoising quality ({res['mode']} run)", "",
             f"Generated by `python -m benchmarks quality{' --quick' if res['mode'] == 'quick' else ''}` "
             f"on {res['created']} in {res['elapsed_s']:.0f} s. Test recordings: {cfg['n_time']} x "
             f"{cfg['n_bins']} ({cfg['duration_s'] / 60:.0f} min at {cfg['fs_hz']:g} Hz), generator seed "
             f"{cfg['seed']} on the test stream. `clean` is the clean recording through the same analysis "
             "(the analysis' own ceiling). Coherence: fitted a(t) vs true a(t); events: OASIS on the "
             "baseline-subtracted a(t) vs true release events.", ""]
    head = ("| pipeline | PSNR dB | SSIM | a RMSE | coh 0 Hz | coh 1 Hz | coh 2.5 Hz | coh 0-2.5 | "
            "precision | recall | F1 | amp ratio | s |")
    sep = "|" + "---|" * 13
    for rec in [r for r in res["recordings"] if r["kind"] in ("main", "stress")]:
        title = rec["name"] if rec["kind"] == "main" else f"Stress: {rec['name']} ({rec['shape'][0]} x {rec['shape'][1]})"
        lines += [f"## {title}", "", head, sep]
        for r in (r for r in res["rows"] if r["recording"] == rec["name"]):
            cells = [r["pipeline"], _fmt(r["psnr"], 2), _fmt(r["ssim"]), _fmt(r["rmse_a"]),
                     _fmt(r["coh_0hz"]), _fmt(r["coh_1hz"]), _fmt(r["coh_2.5hz"]),
                     _fmt(r["coh_mean_0_2.5hz"]), _fmt(r["ev_precision"]), _fmt(r["ev_recall"]),
                     _fmt(r["ev_f1"]), _fmt(r["ev_amplitude_ratio"]), _fmt(r["seconds"], 1)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += _never_worse(res) + _edges(res)
    pub = res["published_seed_coherence"]["values"]
    fig = f"noise {FIGURE_NOISE:g}"
    ours = {r["pipeline"]: r for r in res["rows"] if r["recording"] == fig}
    lines += [f"## Coherence at noise {FIGURE_NOISE:g}: the seed's published values beside ours", "",
              "| pipeline | seed 0 / 1 / 2.5 Hz | ours 0 / 1 / 2.5 Hz |", "|---|---|---|"]
    for key, label in PUBLISHED_LABEL.items():
        r = ours.get(key)
        mine = " / ".join(_fmt(r[k], 2) for k in ("coh_0hz", "coh_1hz", "coh_2.5hz")) if r else "not run"
        lines.append(f"| {label} (`{key}`) | {' / '.join(f'{v:.2f}' for v in pub[label])} | {mine} |")
    lines += ["", "The seed's test data (in-vivo dynamics, recorded noise) differ from ours (generator, "
              "parametric noise): compare the ordering of pipelines, not the absolute values.", ""]
    rob = [r for r in res["rows"] if r["kind"] == "robustness"]
    if rob:
        lines += [f"## Robustness (noise {FIGURE_NOISE:g} recording, changed)", "",
                  "| recording | pipeline | PSNR dB | coh 0-2.5 | F1 | amp ratio "
                  "| max dev vs base / noise sd |",
                  "|---|---|---|---|---|---|---|"]
        for r in rob:
            lines.append(f"| {r['recording']} | {r['pipeline']} | {_fmt(r['psnr'], 2)} | "
                         f"{_fmt(r['coh_mean_0_2.5hz'])} | {_fmt(r['ev_f1'])} | "
                         f"{_fmt(r['ev_amplitude_ratio'])} | "
                         f"{_fmt(r.get('max_dev_vs_base'), 6) if 'max_dev_vs_base' in r else ''} |")
        notes = [f"- {r['name']}: {r['note']}" for r in res["recordings"] if r["note"]]
        lines += ["", *notes, ""]
    if res["skipped"]:
        lines += ["## Skipped", ""] + [f"- {s['pipeline']} on {s['recording']}: {s['reason']}"
                                       for s in res["skipped"]] + [""]
    return "\n".join(lines)


def _never_worse(res: dict[str, Any]) -> list[str]:
    """Per recording: is fluorodn's default below raw on PSNR, coherence or F1, and did it warn."""
    lines = ["## Never worse than raw? (`fluorodn:default` against `raw`, every recording)", "",
             "| recording | PSNR dB default / raw | coh 0-2.5 default / raw | F1 default / raw | below raw on "
             "| warned | best pipeline by coh (its coh) |", "|---|---|---|---|---|---|---|"]
    by = {}
    for r in res["rows"]:
        by.setdefault(r["recording"], {})[r["pipeline"]] = r
    for name, rows in by.items():
        d, raw = rows.get("fluorodn:default"), rows.get("raw")
        if d is None or raw is None:
            continue
        worse = [label for key, label in (("psnr", "PSNR"), ("coh_mean_0_2.5hz", "coherence"), ("ev_f1", "F1"))
                 if d[key] is not None and raw[key] is not None and d[key] < raw[key]]
        cands = {k: v for k, v in rows.items() if k != "clean" and v.get("coh_mean_0_2.5hz") is not None}
        best = max(cands, key=lambda k: cands[k]["coh_mean_0_2.5hz"])
        lines.append(f"| {name} | {_fmt(d['psnr'], 2)} / {_fmt(raw['psnr'], 2)} | {_fmt(d['coh_mean_0_2.5hz'])} / "
                     f"{_fmt(raw['coh_mean_0_2.5hz'])} | {_fmt(d['ev_f1'])} / {_fmt(raw['ev_f1'])} | "
                     f"{', '.join(worse) or 'nothing'} | {'yes: ' + d['warnings'] if d.get('warnings') else 'no'} | "
                     f"{best} ({_fmt(cands[best]['coh_mean_0_2.5hz'])}) |")
    return [*lines, ""]


def _edges(res: dict[str, Any]) -> list[str]:
    """Error over raw error at the edges and in the interior (main and stress recordings)."""
    rows = [r for r in res["rows"] if "edge_interior" in r and r["pipeline"] not in ("clean", "raw")]
    if not rows:
        return []
    keys = [k for k in rows[0] if k.startswith("edge_")]
    lines = ["## Edges: RMS error / RMS raw error per region (1.0 = not denoised)", "",
             "| recording | pipeline | " + " | ".join(k[5:].replace("_", " ") for k in keys)
             + " | worst edge / interior |", "|---|---|" + "---|" * (len(keys) + 1)]
    for r in rows:
        if r["pipeline"] not in ("fluorodn:default", "fluorodn:low", "svd-8", "bm3d"):
            continue
        worst = max(r[k] for k in keys if k != "edge_interior") / max(r["edge_interior"], 1e-300)
        lines.append(f"| {r['recording']} | {r['pipeline']} | " + " | ".join(_fmt(r[k]) for k in keys)
                     + f" | {_fmt(worst, 2)} |")
    return [*lines, ""]


def _colors(names: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    fixed = {"raw": 7, "gauss-1.0": 1, "fluorodn:low": 2, "fluorodn:high": 3, "clean": 0}
    free = [i for i in range(10) if i not in fixed.values()]
    out, k = {}, 0
    for n in names:
        if n in fixed:
            out[n] = cmap(fixed[n])
        else:
            out[n] = cmap(free[k % len(free)])
            k += 1
    return out


def _plot_coherence(path: Path, res: dict[str, Any], rec_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    freqs = np.asarray(res["freqs_hz"])
    curves = res["coherence_curves"][rec_name]
    colors = _colors(list(curves) + [k for k in PUBLISHED if k not in curves])
    fig, ax = plt.subplots(figsize=(10, 4.8))
    for name, coh in curves.items():
        ax.plot(freqs, coh, color=colors[name], lw=1.2 if name != "clean" else 1.0,
                ls="--" if name == "clean" else "-", label=name)
    for key, vals in PUBLISHED.items():
        ax.plot(PUBLISHED_FREQS, vals, ls="none", marker="s", mfc="none", ms=8, mew=1.5,
                color=colors[key], label=f"seed, {PUBLISHED_LABEL[key]} (published)")
    ax.set(xlabel="frequency (Hz)", ylabel="coherence with ground truth (magnitude squared)",
           xlim=(-0.05, (freqs.max() if freqs.size else 2.5) + 0.05), ylim=(0, 1.02),
           title=f"Extracted a(t) vs ground truth, {rec_name} ({res['mode']} run)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_before_after(path: Path, rec: Recording, outputs: dict[tuple[str, str], np.ndarray],
                       traces: dict[str, np.ndarray], default: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(600, rec.clean.shape[0])  # two minutes at 5 Hz
    ev = (rec.truth.spikes > 0).astype(float)
    start = int(np.argmax(np.convolve(ev, np.ones(n), "valid"))) if len(ev) > n else 0
    seg = slice(start, start + n)
    den_name = f"fluorodn:{default}" if (rec.name, f"fluorodn:{default}") in outputs else "gauss-1.0"
    ref = rec.clean[seg].mean(axis=0) - rec.dark  # the segment's mean clean spectrum, above dark

    def dff(y: np.ndarray) -> np.ndarray:
        return ((y[seg] - rec.dark) / ref - 1.0).T

    panels = [("noisy", outputs[(rec.name, "raw")]), (f"denoised: {den_name}", outputs[(rec.name, den_name)]),
              ("clean", rec.clean)]
    lim = float(np.percentile(np.abs(dff(rec.clean)), 99.5)) * 1.5
    t = np.arange(n) / FS + start / FS
    wl = rec.truth.wl
    fig, axes = plt.subplots(4, 1, figsize=(9, 9.5), sharex=True,
                             gridspec_kw={"height_ratios": [1, 1, 1, 1.2]})
    for ax, (title, y) in zip(axes, panels, strict=False):
        im = ax.imshow(dff(y), aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim,
                       extent=(t[0], t[-1], wl[0], wl[-1]), interpolation="nearest")
        ax.set_ylabel("wavelength (nm)")
        ax.set_title(f"{title}  (dF/F against the mean clean spectrum)", fontsize=9)
    fig.colorbar(im, ax=axes[:3], fraction=0.02, pad=0.01)
    ax = axes[3]
    ax.plot(t, rec.truth.a[seg], color="k", lw=1.6, label="true a(t)")
    colors = _colors(list(traces))
    for name in dict.fromkeys(("raw", "gauss-1.0", den_name)):
        if name in traces:
            ax.plot(t, traces[name][seg], color=colors[name], lw=0.9, label=f"fitted, {name}")
    ax.set(xlabel="time (s)", ylabel="a(t)")
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    fig.suptitle(f"{rec.name}: a two-minute segment (the one with most release events)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m benchmarks quality [--quick] [--out DIR] [--bm3d MODE]``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks quality", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2-minute recordings and few pipelines (< 1 min)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default benchmarks/results, or benchmarks/results/quality_quick)")
    ap.add_argument("--bm3d", choices=("auto", "all", "off"), default="auto",
                    help=f"auto: run BM3D on as many recordings as fit {BM3D_BUDGET_S:.0f} s")
    ap.add_argument("--models", nargs="*", default=None, help="shipped models to include (default all)")
    ap.add_argument("--model-path", type=Path, action="append", default=[],
                    help="also run this .onnx model file (repeatable), e.g. a candidate before shipping")
    ap.add_argument("--threads", type=int, default=None,
                    help="onnxruntime threads per model (default: fluorodn's choice)")
    args = ap.parse_args(argv)
    run(quick=args.quick, out_dir=args.out, bm3d_mode=args.bm3d, models=args.models,
        model_paths=args.model_path, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
