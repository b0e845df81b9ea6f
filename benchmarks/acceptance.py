"""Acceptance of the shipped models: each model at its own training noise scale.

On the validation stream of the generator (``VAL_STREAM``: disjoint from the training
draws, and from the quality benchmark's test stream), for every shipped model:

* 20 s windows (101 x 152) as in training: mean PSNR of the model, raw, and 2D Gaussian
  smoothing with sigma 0.5, 0.6 and 1.0; the model must beat the best Gaussian by >= 4 dB;
* one continuous recording (10 minutes): PSNR and the downstream analysis (spectral fit ->
  OASIS -> coherence with ground truth, 0-2.5 Hz) of the same pipelines; the model must beat
  raw and every Gaussian on the mean coherence.

Writes ``acceptance.json`` and ``acceptance.md``. Run::

    python -m benchmarks acceptance [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train import data, noise, synth
from fluorodn_train.evaluation import analysis
from fluorodn_train.evaluation.recordings import BINS, Recording, analyse, signal_config

from benchmarks.quality import GAUSS_SIGMAS, RESULTS, _clean_json, _log, gaussian

__all__ = ["main", "run"]

#: Seed of the validation draws (the VAL stream of the generator).
SEED = 0
MARGIN_DB = 4.0


def _pipelines(den: Any) -> dict[str, Any]:
    pipes = {"raw": lambda x: x}
    pipes |= {f"gauss-{s:.1f}": gaussian(s) for s in GAUSS_SIGMAS}
    # a window is a recording however short: the spectral model's windows take its path
    recording = den.kind == "spectral"
    pipes[f"fluorodn:{den.name}"] = lambda x: np.asarray(den.run(x, recording=recording), np.float64)
    return pipes


def windows_psnr(den: Any, noise_scale: float, n: int) -> dict[str, float]:
    """Mean PSNR over ``n`` validation windows (101 x 152) per pipeline."""
    rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(data.VAL_STREAM, 7)))
    pipes = _pipelines(den)
    acc: dict[str, list[float]] = {k: [] for k in pipes}
    for _ in range(n):
        inst = data.make_instance(rng, 101, BINS, noise_scale)
        for k, fn in pipes.items():
            acc[k].append(analysis.image_scores(inst.clean, fn(inst.noisy))["psnr"])
    return {k: float(np.mean(v)) for k, v in acc.items()}


def continuous(den: Any, noise_scale: float, n_time: int) -> dict[str, dict[str, Any]]:
    """Metrics of every pipeline on one continuous validation recording."""
    rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(data.VAL_STREAM, 8)))
    truth = synth.clean_recording(rng, n_time, BINS, signal_config())
    eps = noise.parametric_noise(rng, truth.photons, noise_scale)
    rec = Recording(
        f"val noise {noise_scale:g}",
        "main",
        noise_scale,
        truth.clean + eps,
        truth.clean,
        truth,
        np.median(truth.clean - truth.photons, axis=0),
    )
    out = {}
    for k, fn in _pipelines(den).items():
        metrics, _, _ = analyse(rec, fn(rec.noisy))
        out[k] = metrics
    return out


def run(quick: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    import fluorodn

    t0 = time.perf_counter()
    out_dir = Path(out_dir) if out_dir else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    n_win, n_time = (4, 600) if quick else (64, 3000)
    res: dict[str, Any] = {
        "config": {
            "windows": n_win,
            "continuous_samples": n_time,
            "seed": SEED,
            "stream": "VAL_STREAM",
            "margin_db": MARGIN_DB,
        },
        "models": {},
    }
    for card in fluorodn.available_models():
        den = fluorodn.Denoiser(card["name"])
        ns = float(card["noise_scale"])
        _log(f"acceptance: {den.name} at noise {ns:g}")
        win = windows_psnr(den, ns, n_win)
        cont = continuous(den, ns, n_time)
        me = f"fluorodn:{den.name}"
        gauss = [k for k in win if k.startswith("gauss")]
        best = max(gauss, key=lambda k: win[k])
        coh = "coh_mean_0_2.5hz"
        res["models"][den.name] = {
            "noise_scale": ns,
            "instances_seen": card.get("instances_seen"),
            "sha256": card.get("sha256"),
            "windows_psnr": win,
            "best_gaussian": best,
            "margin_db": win[me] - win[best],
            "continuous": cont,
            "pass_psnr": win[me] - win[best] >= MARGIN_DB,
            "pass_coherence": all(cont[me][coh] > cont[k][coh] for k in ["raw", *gauss]),
        }
    res["seconds"] = round(time.perf_counter() - t0, 1)
    (out_dir / "acceptance.json").write_text(json.dumps(_clean_json(res), indent=1) + "\n")
    (out_dir / "acceptance.md").write_text(_markdown(res))
    return res


def _markdown(res: dict[str, Any]) -> str:
    c = res["config"]
    lines = [
        "# Acceptance of the shipped models\n",
        f"Validation stream (never used in training), each model at its own training noise scale: "
        f"{c['windows']} windows of 101 x 152 and one continuous recording of {c['continuous_samples']} "
        f"samples ({c['continuous_samples'] / 300:g} min at 5 Hz). `python -m benchmarks acceptance`.\n",
        "| model | noise | instances seen | PSNR model | PSNR best Gaussian | margin dB | "
        "coherence 0-2.5 Hz: model / raw / best Gaussian | PSNR >= 4 dB | coherence beats all |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in res["models"].items():
        me = f"fluorodn:{name}"
        cont = m["continuous"]
        coh = {k: v["coh_mean_0_2.5hz"] for k, v in cont.items()}
        bg = max((k for k in coh if k.startswith("gauss")), key=coh.get)
        lines.append(
            f"| {name} | {m['noise_scale']:g} | {m['instances_seen']} | {m['windows_psnr'][me]:.2f} | "
            f"{m['windows_psnr'][m['best_gaussian']]:.2f} ({m['best_gaussian']}) | {m['margin_db']:.2f} | "
            f"{coh[me]:.3f} / {coh['raw']:.3f} / {coh[bg]:.3f} ({bg}) | "
            f"{'yes' if m['pass_psnr'] else 'NO'} | {'yes' if m['pass_coherence'] else 'NO'} |"
        )
    lines.append("\nContinuous recording, every pipeline:\n")
    lines.append("| model run | pipeline | PSNR | SSIM | coh 0 Hz | coh 1 Hz | coh 2.5 Hz | coh mean | event F1 |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name, m in res["models"].items():
        for k, v in m["continuous"].items():
            lines.append(
                f"| {name} | {k} | {v['psnr']:.2f} | {v['ssim']:.4f} | {v['coh_0hz']:.3f} | "
                f"{v['coh_1hz']:.3f} | {v['coh_2.5hz']:.3f} | {v['coh_mean_0_2.5hz']:.3f} | "
                f"{v.get('ev_f1', float('nan')):.3f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks acceptance", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 windows and a 2-minute recording")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default benchmarks/results)")
    args = ap.parse_args(argv)
    res = run(args.quick, args.out)
    ok = all(m["pass_psnr"] and m["pass_coherence"] for m in res["models"].values())
    print((out := (args.out or RESULTS) / "acceptance.md").read_text())
    print(f"acceptance: {'pass' if ok else 'FAIL'} ({out})")
    return 0 if ok else 1
