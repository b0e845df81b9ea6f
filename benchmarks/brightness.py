"""The default beyond the noise of its training: dim recordings.

The default was trained on noise scales 0.1-1.2 (:data:`TRAINED`), and its card keeps the
brightness over noise (:func:`fluorodn.spectral.snr`) its training saw; below that it warns
that the recording is "noisier than any the model was trained on". Here the quality benchmark's
recordings are drawn at noise scales beyond training (:data:`NOISE`; a noise scale k is the
noise of 1 / k**2 of the photons), each through raw, the default (``Denoiser()`` as a user gets
it, its warnings kept) and the classical baselines of :mod:`benchmarks.rates`, and analysed like
the quality benchmark's (OASIS, events within 0.6 s, coherence over 0-2.5 Hz). Per noise scale:
the brightness over noise the check reads, whether the default is below raw on PSNR, coherence or
event F1 (mean paired difference with its 95 % interval over :data:`SEEDS`), and on how many
recordings it warned. Run::

    python -m benchmarks brightness [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train import data
from fluorodn_train.evaluation.recordings import FS, Recording, analyse, signal_config

from benchmarks.measure import write_results
from benchmarks.rates import METRICS, group_cells, pipelines, summarize
from benchmarks.stress import synth_recording

RESULTS = Path(__file__).resolve().parent / "results"
#: Noise scales of the default's training.
TRAINED = (0.1, 1.2)
#: Noise scales drawn: the top of training, then beyond it, past where the check warns (the
#: training generator's dimmest recordings reach a lower brightness than this signal's).
NOISE = (1.2, 2.4, 4.0, 6.0, 9.0, 14.0)
SEEDS = tuple(range(12))
MINUTES = 15.0
BINS = 152
QUICK = {"noise": (1.2, 9.0), "minutes": 4.0, "seeds": (0, 1)}


def make_recording(noise_scale: float, minutes: float, seed: int) -> Recording:
    """The quality benchmark's signal at 5 Hz with noise at ``noise_scale``; the same clean
    recording for every noise scale of a seed."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(data.TEST_STREAM, 300)))
    rec = synth_recording(f"noise {noise_scale:g}", "brightness", rng, round(minutes * 60 * FS), BINS,
                          replace(signal_config(), fs=FS), noise_scale)  # fmt: skip
    return rec


def brightness_over_noise(x: np.ndarray) -> float:
    """What the default's check reads of ``x``: :func:`fluorodn.spectral.snr` of its projection."""
    from fluorodn import spectral

    return spectral.snr(spectral.fit(x))


def measure(
    noise: tuple[float, ...], seeds: tuple[int, ...], minutes: float, log: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """One row per recording and pipeline: its metrics, the recording's brightness over noise,
    and the default's warnings."""
    import fluorodn

    den = fluorodn.Denoiser()
    rows = []
    for ns in noise:
        for seed in seeds:
            rec = make_recording(ns, minutes, seed)
            bright = brightness_over_noise(rec.noisy)
            for name, fn in pipelines(den, FS).items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    y = fn(rec.noisy)
                    m, _, _ = analyse(rec, y)
                rows.append({
                    "condition": "events", "noise": ns, "fs": FS, "seed": seed, "pipeline": name,
                    "snr": bright, **{k: float(m[k]) for k, _ in METRICS},
                    "warnings": list(getattr(fn, "warnings", [])) if name == "fluorodn:default" else [],
                })  # fmt: skip
            log(f"noise {ns:g}, seed {seed}: brightness/noise {bright:.3g}")
    return rows


def render(res: dict[str, Any]) -> str:
    """The markdown of ``brightness.md``."""
    lo = res["trained_snr"][0]
    lines = [
        "# The default on recordings noisier than its training's",
        "",
        f"`python -m benchmarks brightness{' --quick' if res['quick'] else ''}` on {res['date']} in "
        f"{res['seconds']:.0f} s, model `{res['model']}` (sha256 {res['model_sha256'][:12]}): the quality "
        f"benchmark's signal at 5 Hz, {res['minutes']:g} min x {BINS} bins, seeds {res['seeds'][0]}-"
        f"{res['seeds'][-1]} (one clean recording per seed, drawn at every noise scale). Training: noise "
        f"scales {TRAINED[0]:g}-{TRAINED[1]:g}; the model's check warns below a brightness over noise of "
        f"{lo:.3g} (its card's `domain_checks.snr`). "
        "A noise scale k has the noise of 1 / k^2 of the photons.",
        "",
        "Per noise scale: the mean over the seeds, the default's mean paired difference to raw and to the "
        "baseline with the best mean (95 % interval); `below raw on`: the metrics whose mean difference to raw "
        "is negative, `measurably` where the whole interval is.",
        "",
        "| noise | brightness/noise | PSNR default / raw | PSNR default - raw | coh default / raw / best "
        "| coh default - raw | coh default - best | F1 default / raw / best | F1 default - raw | F1 default - best "
        "| below raw on | warned |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in res["groups"]:
        lines.append(f"| {e['noise']:g} | {e['snr_min']:.3g}-{e['snr_max']:.3g} | {group_cells(e)}")
    kinds: dict[str, list[str]] = {}  # a warning's sentence before its figures -> each recording's
    for r in res["rows"]:
        for w in r["warnings"]:
            kinds.setdefault(w.split(" (")[0], []).append(w)
    if kinds:
        lines += ["", "The default's warnings (how many recordings got each, and one in full):", ""]
        lines += [f"- {len(ws)} recording{'s' if len(ws) != 1 else ''}: {ws[0]}" for ws in kinds.values()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from fluorodn.registry import load_model

    ap = argparse.ArgumentParser(prog="python -m benchmarks brightness", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two noise scales, two short recordings each")
    ap.add_argument("--out", default=None, help="folder for brightness.md/.json (default benchmarks/results)")
    args = ap.parse_args(argv)
    noise, minutes, seeds = NOISE, MINUTES, SEEDS
    if args.quick:
        noise, minutes, seeds = QUICK["noise"], QUICK["minutes"], QUICK["seeds"]
    t0 = time.perf_counter()
    rows = measure(noise, seeds, minutes)
    groups = summarize(rows)
    for g in groups:
        snrs = [r["snr"] for r in rows if r["noise"] == g["noise"] and r["pipeline"] == "raw"]
        g["snr_min"], g["snr_max"] = float(min(snrs)), float(max(snrs))
    model = load_model("default")
    res = {
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": time.perf_counter() - t0,
        "machine": platform.platform(),
        "model": model.name,
        "model_sha256": model.sha256,
        "trained_snr": list((model.metadata or {})["domain_checks"]["snr"]),
        "noise": list(noise),
        "minutes": minutes,
        "seeds": list(seeds),
        "groups": groups,
        "rows": rows,
    }
    print(write_results(res, args.out, RESULTS, "brightness_quick" if args.quick else "brightness", render))
    return 0
