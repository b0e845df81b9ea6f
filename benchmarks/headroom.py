"""How much event F1 is left above raw, and what keeps the default from it.

``python -m benchmarks headroom [--quick] [--seeds N] [--model M] [--stem S] [--out DIR]`` writes
``headroom.md`` and ``headroom.json`` (``S.md`` and ``S.json``). On the main recordings at noise
0.2, 0.4 and 0.8 of :data:`SEEDS` clean recordings of the test stream (the first of the events benchmark's), it
runs raw, the default and unbiased oracles that leave a known share of the recording's own noise
and nothing else (the clean recording plus ``k`` times its noise, :data:`SHARES`: an estimator with
no bias whose error is as white as the noise), and the analysis on the clean recording
(``--model``: a candidate's ``.onnx`` runs as the default). Per output:

* event F1, its mean paired difference to raw with the 95 % interval (Student's t over
  recordings), and PSNR: does an estimator with the default's PSNR or less, but no bias, score
  measurably above raw on events?
* the missed true events, classified as :func:`benchmarks.diagnose.event_misses` does
  (``small``, ``merged``, ``shifted``, ``absent``, ``taken``), and the false detections, summed;
* the error of the sensor's fitted trace (:func:`fluorodn_train.evaluation.recordings.fitted_trace`)
  that the deconvolution sees: the standard deviation of its first difference over the median true
  event, on the samples from 3 before to 8 after each true event (``near``) and on the others
  (``far``), and its root mean square at the steps of the true events that count (the difference
  into each event's sample). The analysis drops deconvolved samples below a floor of 0.03 of the median event
  (:data:`FLOOR_SHARE`) and counts samples with at most one zero between them as one event, so an
  error whose differences exceed the floor between two close events chains them into one.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train.evaluation import analysis
from fluorodn_train.evaluation import recordings as R

from benchmarks.diagnose import MISS_KINDS, event_misses
from benchmarks.events import verdict
from benchmarks.measure import run_record, write_results
from benchmarks.repeats import interval

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = 24
N_TIME = 9000
NOISE_SCALES = (0.2, 0.4, 0.8)
#: Share of the recording's noise each unbiased oracle leaves.
SHARES = (0.5, 0.25, 0.1)
RAW = "raw"
DEFAULT = "fluorodn:default"
CLEAN = "clean"
#: Samples before and after a true event whose error counts as ``near`` it.
NEAR = (3, 8)
#: The analysis' floor on the deconvolved train over the median true event.
FLOOR_SHARE = R.EVENT_FLOOR_FRAC * R.EVENT_MIN_FRAC


def oracle_name(share: float) -> str:
    return f"clean + {share:g} x noise (oracle)"


def outputs(rec: R.Recording, den: Any) -> dict[str, np.ndarray]:
    """Every output on ``rec``, in counts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        den_out = den.run(rec.noisy)
    noise = rec.to_counts(rec.noisy) - rec.clean
    return {
        RAW: rec.to_counts(rec.noisy),
        DEFAULT: rec.to_counts(den_out),
        **{oracle_name(k): rec.clean + k * noise for k in SHARES},
        CLEAN: rec.clean,
    }


def trace_error(
    rec: R.Recording, y: np.ndarray, clean_trace: np.ndarray, near: np.ndarray, truth: R.EventAnalysis
) -> tuple[float, float, float]:
    """Standard deviation of the first difference of the fitted trace's error over the median
    true event, near the true events and away from them, and its root mean square at the steps
    of the true events that count (the difference into each event's sample)."""
    d = np.diff(R.fitted_trace(rec, y) - clean_trace) / float(np.median(truth.true_amp))
    steps = truth.true_idx[(truth.true_amp >= truth.min_size) & (truth.true_idx > 0)] - 1
    return float(np.std(d[near[1:]])), float(np.std(d[~near[1:]])), float(np.sqrt(np.mean(d[steps] ** 2)))


def oasis_noise(rec: R.Recording, y: np.ndarray, truth: R.EventAnalysis) -> float:
    """The noise level OASIS fits the output's baseline-subtracted sensor trace within
    (:func:`fluorodn_train.evaluation.analysis.noise_level`), over the median true event."""
    trace = analysis.subtract_baseline(R.fitted_trace(rec, y), rec.fs)
    return analysis.noise_level(trace) / float(np.median(truth.true_amp))


def near_events(true_idx: np.ndarray, n: int) -> np.ndarray:
    """(n,) mask of the samples from ``NEAR[0]`` before to ``NEAR[1]`` after each true event."""
    mask = np.zeros(n, bool)
    for t in true_idx:
        mask[max(0, t - NEAR[0]) : t + NEAR[1] + 1] = True
    return mask


def rows_of(seed: int, rec: R.Recording, den: Any) -> list[dict[str, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean_trace = R.fitted_trace(rec, rec.clean)
        truth = R.event_analysis(rec, clean_trace)
        near = near_events(truth.true_idx, len(clean_trace))
        rows = []
        for name, y in outputs(rec, den).items():
            m, _, _ = R.analyse(rec, y)
            kinds = event_misses(rec, y)
            err_near, err_far, err_step = trace_error(rec, y, clean_trace, near, truth)
            rows.append({
                "seed": seed, "recording": rec.name, "pipeline": name, "f1": m["ev_f1"], "psnr": m["psnr"],
                "missed": int(m["ev_fn"]), "false": int(m["ev_fp"]), **{k: kinds[k] for k in MISS_KINDS},
                "err_near": err_near, "err_far": err_far, "err_step": err_step,
                "oasis_noise": oasis_noise(rec, y, truth),
            })  # fmt: skip
    return rows


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recording and pipeline: means, sums and the F1 difference to raw."""
    out = []
    for rec in dict.fromkeys(r["recording"] for r in rows):
        raw = {r["seed"]: r["f1"] for r in rows if r["recording"] == rec and r["pipeline"] == RAW}
        for name in dict.fromkeys(r["pipeline"] for r in rows):
            rs = [r for r in rows if r["recording"] == rec and r["pipeline"] == name]
            mean, half = interval(np.array([r["f1"] - raw[r["seed"]] for r in rs]))
            out.append({
                "recording": rec, "pipeline": name, "n": len(rs), "f1": float(np.mean([r["f1"] for r in rs])),
                "f1_raw_diff": mean, "f1_raw_half": half, "psnr": float(np.mean([r["psnr"] for r in rs])),
                **{k: int(sum(r[k] for r in rs)) for k in ("missed", "false", *MISS_KINDS)},
                "err_near": float(np.mean([r["err_near"] for r in rs])),
                "err_far": float(np.mean([r["err_far"] for r in rs])),
                "err_step": float(np.sqrt(np.mean([r["err_step"] ** 2 for r in rs]))),
                "oasis_noise": float(np.mean([r["oasis_noise"] for r in rs])),
            })  # fmt: skip
    return out


def run(
    seeds: int = SEEDS, noise_scales: tuple[float, ...] = NOISE_SCALES, n_time: int = N_TIME, model: str = "default"
) -> dict[str, Any]:
    import fluorodn

    t0 = time.perf_counter()
    den = fluorodn.Denoiser(model)
    rows = []
    for seed in range(seeds):
        for rec in R.make_recordings(n_time, noise_scales, seed=seed):
            rows += rows_of(seed, rec, den)
    return {
        **run_record(t0, den),
        "seeds": seeds,
        "n_time": n_time,
        "rows": rows,
        "summary": summary(rows),
    }


def _db(psnr: float) -> str:
    return f"{psnr:.2f}" if np.isfinite(psnr) else "-"


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Event F1: the headroom above raw, and what keeps the default from it",
        "",
        f"`{res.get('command', 'python -m benchmarks headroom')}` on {res['generated']} in {res['seconds']:.0f} s, "
        f"model `{res['model']}` "
        f"(sha256 {res['model_sha256'][:12]}): the main recordings "
        f"({res['n_time']} x 152) of {res['seeds']} clean recordings of the test stream (seeds 0-{res['seeds'] - 1}, "
        "the events benchmark's). `clean + k x noise (oracle)`: the clean recording plus k times its own noise, "
        "an estimator with no bias whose error is white, as raw's is (k = 1 is raw). F1 - raw: mean paired "
        "difference with its 95 % interval (Student's t), `ahead` / `behind` where the whole interval is above / "
        "below zero. Missed: the true events missed, summed, and how (`benchmarks.diagnose.event_misses`: `small` "
        "below the size that counts, `merged` into a neighbouring event, `shifted`, `absent`, `taken` by another "
        "true event in the one-to-one matching); false: false detections, summed. Trace error near / far: the "
        "standard deviation of the first difference of the sensor's fitted trace's error over the median true "
        f"event, from {NEAR[0]} samples before to {NEAR[1]} after each true event / elsewhere; at the steps: its "
        "root mean square on the difference into each true event that counts (the step itself); the analysis drops "
        f"deconvolved samples below {FLOOR_SHARE:.2f} of the median event and joins samples with at most one zero "
        "between them into one event. OASIS noise level: the noise standard deviation OASIS estimates from the "
        "baseline-subtracted trace's power at 1.25-2.5 Hz and fits the trace within "
        "(`fluorodn_train.evaluation.analysis.noise_level`), over the median true event; the clean recording's row "
        "is what the events' own steps give it.",
        "",
    ]
    for rec in dict.fromkeys(s["recording"] for s in res["summary"]):
        lines += [
            f"## {rec}",
            "",
            "| output | F1 | F1 - raw | PSNR (dB) | missed | small | merged | shifted | absent | taken | false "
            "| trace error near / far | at the steps | OASIS noise level |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in (s for s in res["summary"] if s["recording"] == rec):
            diff = (
                "-"
                if s["pipeline"] == RAW
                else f"{s['f1_raw_diff']:+.4f} ± {s['f1_raw_half']:.4f} ({verdict(s['f1_raw_diff'], s['f1_raw_half'])})"
            )
            kinds = " | ".join(str(s[k]) for k in MISS_KINDS)
            lines.append(
                f"| {s['pipeline']} | {s['f1']:.4f} | {diff} | {_db(s['psnr'])} | {s['missed']} | {kinds} | "
                f"{s['false']} | {s['err_near']:.4f} / {s['err_far']:.4f} | {s['err_step']:.4f} | "
                f"{s['oasis_noise']:.4f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks headroom", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, noise 0.4, 3000 samples")
    ap.add_argument("--seeds", type=int, default=SEEDS, help=f"clean recordings (default {SEEDS})")
    ap.add_argument("--out", default=None, help="folder for the result files (default benchmarks/results)")
    ap.add_argument("--model", default="default", help="the model run as the default (a candidate's .onnx)")
    ap.add_argument("--stem", default=None, help="result file names (default headroom, headroom_quick)")
    args = ap.parse_args(argv)
    res = run(2, (0.4,), 3000, args.model) if args.quick else run(args.seeds, model=args.model)
    res["command"] = " ".join(["python -m benchmarks headroom", *(argv if argv is not None else sys.argv[1:])])
    stem = args.stem or ("headroom_quick" if args.quick else "headroom")
    print(write_results(res, args.out, RESULTS, stem, markdown))
    return 0
