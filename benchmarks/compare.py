"""A candidate spectral model against the shipped default, paired, recording by recording.

Before a newly trained spectral model replaces ``models/spectral.onnx``, this says where it gains
and where it loses, on the same recordings in one run:

- the main recordings at noise 0.2 / 0.4 / 0.8 (10 minutes, 152 bins);
- three stress recordings: fast hemodynamics at noise 0.8, noise 1.2, events rising over 3 samples;
- every condition of the combined-stress sweep (``benchmarks/results/sweep.json``) measurably
  below raw on a metric, drawn again as the sweep draws them, those the analysis resolves.

Each recording is denoised by both models (``Denoiser(path, device="cpu")``); the table gives
raw's mean, each model's mean and the paired difference (candidate - shipped) of event F1,
coherence 0-2.5 Hz and PSNR with its 95 % interval, how often each warned, and the candidate's
run time over the shipped model's, summed over all recordings of the run.

Run::

    python -m benchmarks compare CANDIDATE.onnx [--against OTHER.onnx] [--seeds 3] [--draws 4]
        [--quick] [--out DIR] [--stem NAME]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import write_results
from benchmarks.repeats import interval

RESULTS = Path(__file__).resolve().parent / "results"
#: Samples of the main and stress recordings (``--quick``: :data:`QUICK_SAMPLES`).
SAMPLES = 3000
QUICK_SAMPLES = 600
#: Main recordings' noise scales.
MAIN_NOISE = (0.2, 0.4, 0.8)
#: Stress recordings kept (names of :func:`benchmarks.stress.make_stress`, by prefix).
STRESS = ("fast hemodynamics, noise 0.8", "noise 1.2", "slow rise")
#: Draws of each sweep condition (the resolved ones are kept).
SWEEP_DRAWS = 4
METRICS = {"F1": "ev_f1", "coherence": "coh_mean_0_2.5hz", "PSNR": "psnr"}


def recordings(seeds: int, quick: bool, draws: int = SWEEP_DRAWS) -> list[tuple[str, Any]]:
    """(group, recording) pairs: main, stress and the sweep's conditions below raw on average when
    drawn again (:func:`benchmarks.sweep.below_raw_again`)."""
    from fluorodn_train.evaluation.recordings import make_recordings

    from benchmarks.stress import make_stress
    from benchmarks.sweep import below_raw_again, redraw, resolves

    n = QUICK_SAMPLES if quick else SAMPLES
    out: list[tuple[str, Any]] = []
    for s in range(seeds):
        out += [(f"main, noise {r.noise_scale:g}", r) for r in make_recordings(n, MAIN_NOISE, seed=s)]
        out += [(r.name, r) for r in make_stress(n, False, seed=s) if r.name.startswith(STRESS)]
    sweep = RESULTS / "sweep.json"
    rows = json.loads(sweep.read_text())["rows"] if sweep.exists() else []
    below = below_raw_again(rows)
    for row in below[:1] if quick else below:
        factors = dict(row["factors"], samples=QUICK_SAMPLES) if quick else row["factors"]
        for r in range(1 if quick else draws):
            rec = redraw(factors, row["index"], r)
            if resolves(rec):
                out.append((f"sweep #{row['index']}: {row['recording']}", rec))
    return out


def measure(pairs: list[tuple[str, Any]], models: dict[str, str | None]) -> dict[str, Any]:
    """Metrics of raw and of each model on every recording, its warnings and the run times
    (summed; the models take turns going first)."""
    from benchmarks.sweep import _analyse
    from fluorodn import Denoiser, OutOfDomainWarning

    dens = {k: Denoiser(p, device="cpu") if p else Denoiser(device="cpu", kind="spectral") for k, p in models.items()}
    seconds = dict.fromkeys(dens, 0.0)
    rows = []
    for i, (group, rec) in enumerate(pairs):
        row: dict[str, Any] = {"group": group, "metrics": {}, "warned": {}}
        m = _analyse(rec, rec.to_counts(rec.noisy))[0]
        row["metrics"]["raw"] = {k: float(m[v]) for k, v in METRICS.items()}
        x = rec.noisy.astype(np.float32)
        # the models take turns going first, so that neither always finds the caches warm
        for name, den in list(dens.items())[:: 1 if i % 2 == 0 else -1]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", OutOfDomainWarning)
                t0 = time.perf_counter()
                y = den.run(x)
                seconds[name] += time.perf_counter() - t0
            m = _analyse(rec, rec.to_counts(y.astype(np.float64)))[0]
            row["metrics"][name] = {k: float(m[v]) for k, v in METRICS.items()}
            row["warned"][name] = any(issubclass(w.category, OutOfDomainWarning) for w in caught)
        rows.append(row)
    return {"rows": rows, "seconds": seconds}


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per group: the recordings, raw's and each model's means, the paired difference
    (candidate - shipped) of every metric with its 95 % half-width, and the warnings."""
    out = []
    for group in dict.fromkeys(r["group"] for r in rows):
        rs = [r for r in rows if r["group"] == group]
        entry: dict[str, Any] = {"group": group, "n": len(rs)}
        for key in METRICS:
            vals = {k: np.array([r["metrics"][k][key] for r in rs]) for k in ("raw", "shipped", "candidate")}
            diff, half = interval(vals["candidate"] - vals["shipped"])
            entry[key] = {k: float(v.mean()) for k, v in vals.items()} | {"diff": diff, "half_width": half}
        entry["warned"] = {k: sum(r["warned"][k] for r in rs) for k in ("shipped", "candidate")}
        out.append(entry)
    return out


def render(res: dict[str, Any]) -> str:
    fmt = {"F1": ".3f", "coherence": ".3f", "PSNR": ".2f"}
    lines = [
        "# A candidate spectral model against the shipped one",
        "",
        f"`{res['command']}` on {res['date']} in {res['seconds_total']:.0f} s. "
        f"Candidate `{res['models']['candidate']}` (sha256 {res['sha256']['candidate']}), shipped "
        f"`{res['models']['shipped']}` (sha256 {res['sha256']['shipped']}); "
        f"{res['seeds']} draws of the main and stress recordings, up to {res['draws']} of each sweep condition.",
        "",
        "Per group: raw / shipped / candidate (means), and the paired difference candidate - shipped with its "
        "95 % interval (Student's t). Warned: recordings on which each model issued `OutOfDomainWarning`.",
        "",
        "| recordings | n | F1 raw / shipped / candidate | F1 difference | coherence raw / shipped / candidate "
        "| coherence difference | PSNR raw / shipped / candidate (dB) | PSNR difference "
        "| warned: shipped / candidate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in res["summary"]:
        cells = []
        for key, f in fmt.items():
            m = e[key]
            cells.append(f"{m['raw']:{f}} / {m['shipped']:{f}} / {m['candidate']:{f}}")
            half = "" if np.isnan(m["half_width"]) else f" ± {m['half_width']:.4f}"
            cells.append(f"{m['diff']:+.4f}{half}")
        w = e["warned"]
        lines.append(f"| {e['group']} | {e['n']} | {' | '.join(cells)} | {w['shipped']} / {w['candidate']} |")
    s = res["run_seconds"]
    lines += [
        "",
        f"Run time over all recordings, in the same process: candidate {s['candidate']:.1f} s, shipped "
        f"{s['shipped']:.1f} s ({s['candidate'] / s['shipped']:.2f}x).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("candidate", help="the candidate spectral model (.onnx, as export writes it)")
    ap.add_argument("--against", default=None, help="the model it is compared with (default: the shipped one)")
    ap.add_argument("--seeds", type=int, default=3, help="draws of the main and stress recordings (default 3)")
    ap.add_argument(
        "--draws", type=int, default=SWEEP_DRAWS, help=f"draws of each sweep condition (default {SWEEP_DRAWS})"
    )
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES}-sample recordings, one sweep draw")
    ap.add_argument("--out", default=None, help="folder for the results (default benchmarks/results)")
    ap.add_argument("--stem", default="compare", help="name of the result files, STEM.md/.json (default compare)")
    args = ap.parse_args(argv)
    from fluorodn.registry import load_model

    cand = Path(args.candidate)
    if not cand.is_file():
        print(f"error: no model at {cand}")
        return 2
    t0 = time.perf_counter()
    seeds = 1 if args.quick else args.seeds
    models = {"shipped": args.against, "candidate": str(cand)}
    shipped, candidate = load_model(args.against or "spectral"), load_model(cand)
    res: dict[str, Any] = {
        "command": "python -m benchmarks compare " + " ".join(argv if argv is not None else []),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "seeds": seeds,
        "draws": args.draws,
        "models": {"shipped": str(shipped.path), "candidate": str(cand)},
        "sha256": {"shipped": shipped.sha256[:12], "candidate": candidate.sha256[:12]},
    }
    measured = measure(recordings(seeds, args.quick, args.draws), models)
    res["rows"] = measured["rows"]
    res["run_seconds"] = measured["seconds"]
    res["summary"] = summarise(measured["rows"])
    res["seconds_total"] = time.perf_counter() - t0
    print(write_results(res, args.out, RESULTS, f"{args.stem}_quick" if args.quick else args.stem, render))
    return 0
