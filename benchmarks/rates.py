"""The default at other sampling rates than its training's 5 Hz.

Spectrometers in photometry rigs run from about 1 to 50 spectra a second; the default was trained
on recordings at 5 Hz, and everything in it counts in samples (its 35-sample context, the traces'
1001-sample baseline). Here the same signal, in seconds, is sampled at each of :data:`RATES`: the
quality benchmark's signal (:func:`fluorodn_train.evaluation.recordings.signal_config`) with the
sensor's decay and the hemodynamics, motion and slow states at their rates in seconds, and the
same photon counts per sample. Each recording runs through raw, the default (``Denoiser()`` as a
user gets it, told the recording's rate: ``run(x, rate=fs)``, which warns under 4 Hz) and the
classical baselines :data:`BASELINES`, and is analysed like the quality
benchmark's (:func:`~fluorodn_train.evaluation.recordings.analyse` with the recording's rate:
OASIS with the sensor's time constant, events matched within 0.6 s, coherence over 0-2.5 Hz).

Conditions (:data:`CONDITIONS`): events rising within a sample at noise 0.2, 0.4 and 0.8; events
rising over 0.6 s (3 samples at 5 Hz, the quality benchmark's slow rise) at noise 0.4; fast
hemodynamics (the quality benchmark's) at noise 0.8. Each is drawn for every seed of
:data:`SEEDS` (its own clean recording and noise), and the default is compared with raw and with
the baseline of the best mean by the mean paired difference with its 95 % interval; *measurably
below* where the interval's upper end is below zero. Run::

    python -m benchmarks rates [--quick] [--out DIR]
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
from fluorodn_train.evaluation.recordings import FS, Recording, analyse, oasis_g, signal_config

from benchmarks.measure import write_results
from benchmarks.pipelines import denoiser_fn, gaussian, mppca, svd_mp, svd_rank
from benchmarks.repeats import interval
from benchmarks.stress import FAST_HEMO_SHARE, SLOW_RISE, synth_recording

RESULTS = Path(__file__).resolve().parent / "results"
#: Samples per second of the recordings (the default was trained at 5).
RATES = (2.0, 5.0, 10.0, 20.0, 40.0)
#: Length of every recording, so that each holds the same events at every rate.
MINUTES = 15.0
SEEDS = (0, 1, 2, 3, 4)
BINS = 152
#: The slow rise in seconds: the quality benchmark's rise over ``SLOW_RISE`` samples at 5 Hz.
RISE_S = SLOW_RISE / FS
#: Condition -> noise scales it is drawn at.
CONDITIONS: dict[str, tuple[float, ...]] = {
    "events": (0.2, 0.4, 0.8),
    f"rises over {RISE_S:g} s": (0.4,),
    "fast hemodynamics": (0.8,),
}
BASELINES = ("gauss-0.5", "svd-8", "svd-mp", "mppca")
METRICS = (("psnr", "PSNR"), ("coh_mean_0_2.5hz", "coherence"), ("ev_f1", "F1"))
QUICK = {"rates": (2.0, 20.0), "minutes": 4.0, "seeds": (0, 1), "conditions": {"events": (0.4,)}}


def pipelines(den: Any, fs: float) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Raw, the default ``den`` told the recording's rate ``fs`` as a user who knows it would
    (``run(x, rate=fs)``; its warnings kept, :func:`benchmarks.pipelines.denoiser_fn`) and
    :data:`BASELINES`."""
    return {
        "raw": lambda x: x,
        "fluorodn:default": denoiser_fn(den, rate=fs),
        "gauss-0.5": gaussian(0.5),
        "svd-8": svd_rank(8),
        "svd-mp": svd_mp,
        "mppca": mppca,
    }


def rise_samples(fs: float) -> int:
    """Samples an event rising over :data:`RISE_S` takes at ``fs``."""
    return round(RISE_S * fs)


def make_recording(condition: str, fs: float, noise_scale: float, minutes: float, seed: int) -> Recording:
    """One recording of ``condition`` at ``fs``: the quality benchmark's signal with its time
    constants in seconds, sampled at ``fs``."""
    g = oasis_g(fs)
    cfg = replace(signal_config(), fs=fs, decay_g=(g, g))
    if condition.startswith("rises"):
        cfg = replace(cfg, rise_samples=(rise_samples(fs),) * 2, rise_prob=1.0)
    elif condition == "fast hemodynamics":
        cfg = replace(cfg, hemo_fast=FAST_HEMO_SHARE, hemo_fast_prob=1.0, hemo_dff=(0.01, 0.01))
    branch = 200 + list(CONDITIONS).index(condition)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(data.TEST_STREAM, branch, int(fs * 10))))
    name = f"{condition}, noise {noise_scale:g}, {fs:g} Hz"
    rec = synth_recording(name, "rates", rng, round(minutes * 60 * fs), BINS, cfg, noise_scale)
    return replace(rec, fs=fs)


def measure(
    rates: tuple[float, ...],
    conditions: dict[str, tuple[float, ...]],
    seeds: tuple[int, ...],
    minutes: float,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """One row per recording and pipeline: its metrics, and the default's warnings."""
    import fluorodn

    den = fluorodn.Denoiser()
    rows = []
    for condition, scales in conditions.items():
        for ns in scales:
            for fs in rates:
                for seed in seeds:
                    rec = make_recording(condition, fs, ns, minutes, seed)
                    for name, fn in pipelines(den, fs).items():
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            y = fn(rec.noisy)
                            m, _, _ = analyse(rec, y)
                        rows.append(
                            {
                                "condition": condition,
                                "noise": ns,
                                "fs": fs,
                                "seed": seed,
                                "pipeline": name,
                                "samples": len(rec.noisy),
                                **{k: float(m[k]) for k, _ in METRICS},
                                "warnings": list(getattr(fn, "warnings", [])) if name == "fluorodn:default" else [],
                            }
                        )
                    log(f"{rec.name}, seed {seed}: done")
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per condition, noise and rate: each pipeline's mean of every metric; the default's mean
    paired difference (95 % half-width) to raw and to the baseline of the best mean; below raw
    (mean below) and measurably below raw (whole interval below); the seeds it warned on."""
    out = []
    keys = dict.fromkeys((r["condition"], r["noise"], r["fs"]) for r in rows)
    for condition, ns, fs in keys:
        sel = [r for r in rows if (r["condition"], r["noise"], r["fs"]) == (condition, ns, fs)]
        by = {(r["seed"], r["pipeline"]): r for r in sel}
        seeds = sorted({r["seed"] for r in sel})
        names = list(dict.fromkeys(r["pipeline"] for r in sel))
        entry: dict[str, Any] = {"condition": condition, "noise": ns, "fs": fs, "n": len(seeds), "mean": {}}
        for key, label in METRICS:
            entry["mean"][label] = {p: float(np.mean([by[(s, p)][key] for s in seeds])) for p in names}
            d = np.array([by[(s, "fluorodn:default")][key] - by[(s, "raw")][key] for s in seeds])
            mean, hw = interval(d)
            others = [p for p in names if p != "fluorodn:default"]
            best = max(others, key=lambda p: entry["mean"][label][p])
            db = np.array([by[(s, "fluorodn:default")][key] - by[(s, best)][key] for s in seeds])
            bmean, bhw = interval(db)
            entry[label] = {
                "vs_raw": mean,
                "vs_raw_half_width": hw,
                "best": best,
                "vs_best": bmean,
                "vs_best_half_width": bhw,
                "below_raw": mean < 0,
                "measurably_below_raw": bool(mean + hw < 0),
            }
        entry["warned_seeds"] = [s for s in seeds if by[(s, "fluorodn:default")]["warnings"]]
        entry["warnings"] = sorted({w for s in seeds for w in by[(s, "fluorodn:default")]["warnings"]})
        out.append(entry)
    return out


def _diff(e: dict[str, Any], label: str, which: str, digits: int) -> str:
    m, hw = e[label][which], e[label][f"{which}_half_width"]
    return f"{m:+.{digits}f} ± {hw:.{digits}f}"


def group_cells(e: dict[str, Any]) -> str:
    """The cells of a group's row after its own columns (:func:`summarize`'s entry ``e``): PSNR,
    coherence and F1 of the default against raw and the best baseline, below raw on, warned."""
    mp, mc, mf = e["mean"]["PSNR"], e["mean"]["coherence"], e["mean"]["F1"]
    bc, bf = e["coherence"]["best"], e["F1"]["best"]
    below = [
        label + (" (measurably)" if e[label]["measurably_below_raw"] else "")
        for _, label in METRICS
        if e[label]["below_raw"]
    ]
    return (
        f"{mp['fluorodn:default']:.2f} / {mp['raw']:.2f} | {_diff(e, 'PSNR', 'vs_raw', 2)} dB | "
        f"{mc['fluorodn:default']:.3f} / {mc['raw']:.3f} / {bc} {mc[bc]:.3f} | "
        f"{_diff(e, 'coherence', 'vs_raw', 3)} | {_diff(e, 'coherence', 'vs_best', 3)} | "
        f"{mf['fluorodn:default']:.3f} / {mf['raw']:.3f} / {bf} {mf[bf]:.3f} | "
        f"{_diff(e, 'F1', 'vs_raw', 3)} | {_diff(e, 'F1', 'vs_best', 3)} | "
        f"{', '.join(below) or 'nothing'} | {len(e['warned_seeds'])} of {e['n']} |"
    )


def render(res: dict[str, Any]) -> str:
    """The markdown of ``rates.md``."""
    s = res["summary"]
    lines = [
        "# The default at other sampling rates",
        "",
        f"`python -m benchmarks rates{' --quick' if res['quick'] else ''}` on {res['date']} in "
        f"{res['seconds']:.0f} s: the same signal in seconds sampled at {', '.join(f'{r:g}' for r in res['rates'])} Hz "
        f"(training: 5 Hz), {res['minutes']:g} min x {BINS} bins, seeds {', '.join(map(str, res['seeds']))} "
        "(each its own clean recording and noise). OASIS deconvolves with the sensor's time constant at each "
        "rate, events match within 0.6 s (3 samples at 5 Hz; 1 at 2 Hz), coherence over 0-2.5 Hz.",
        "",
        "Per condition and rate: the mean over the seeds, and the default's mean paired difference to raw "
        "and to the baseline with the best mean, with its 95 % interval. `below raw on`: the metrics whose "
        "mean difference to raw is negative, `measurably` where the whole interval is.",
        "",
        f"The default is below raw on {s['below_raw']} of {s['groups']} (condition, rate) groups on some "
        f"metric, measurably on {s['measurably_below_raw']} "
        f"({', '.join(s['measurably_below_raw_groups']) or 'none'}); it warned on "
        f"{s['warned_groups']} of those measurably below raw and on {s['warned_any']} of {s['groups']} groups in all.",
        "",
    ]
    for condition in dict.fromkeys(e["condition"] for e in res["groups"]):
        lines += [
            f"## {condition}",
            "",
            "| noise | rate | PSNR default / raw | PSNR default - raw | coh default / raw / best baseline "
            "| coh default - raw | coh default - best | F1 default / raw / best baseline | F1 default - raw "
            "| F1 default - best | below raw on | warned |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for e in (g for g in res["groups"] if g["condition"] == condition):
            lines.append(f"| {e['noise']:g} | {e['fs']:g} Hz | {group_cells(e)}")
        lines.append("")
    warned = sorted({w for e in res["groups"] for w in e["warnings"]})
    if warned:
        lines += ["The default's warnings:", "", *(f"- {w}" for w in warned), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks rates", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two rates, one condition, two short recordings each")
    ap.add_argument("--out", default=None, help="folder for rates.md/.json (default benchmarks/results)")
    args = ap.parse_args(argv)
    rates, minutes, seeds, conditions = RATES, MINUTES, SEEDS, CONDITIONS
    if args.quick:
        rates, minutes, seeds, conditions = QUICK["rates"], QUICK["minutes"], QUICK["seeds"], QUICK["conditions"]
    t0 = time.perf_counter()
    rows = measure(rates, conditions, seeds, minutes)
    groups = summarize(rows)
    measurably = [g for g in groups if any(g[label]["measurably_below_raw"] for _, label in METRICS)]
    res = {
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": time.perf_counter() - t0,
        "machine": platform.platform(),
        "rates": list(rates),
        "minutes": minutes,
        "seeds": list(seeds),
        "conditions": {k: list(v) for k, v in conditions.items()},
        "summary": {
            "groups": len(groups),
            "below_raw": sum(1 for g in groups if any(g[label]["below_raw"] for _, label in METRICS)),
            "measurably_below_raw": len(measurably),
            "measurably_below_raw_groups": [
                f"{g['condition']}, noise {g['noise']:g}, {g['fs']:g} Hz: "
                + ", ".join(label for _, label in METRICS if g[label]["measurably_below_raw"])
                for g in measurably
            ],
            "warned_groups": sum(1 for g in measurably if g["warned_seeds"]),
            "warned_any": sum(1 for g in groups if g["warned_seeds"]),
        },
        "groups": groups,
        "rows": rows,
    }
    print(write_results(res, args.out, RESULTS, "rates_quick" if args.quick else "rates", render))
    return 0
