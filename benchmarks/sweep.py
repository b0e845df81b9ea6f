"""Never worse than raw, never silent: the default on recordings whose stress factors combine.

The quality benchmark's stress groups change one factor at a time. Here every recording draws
all of them at once, across and beyond the ranges the default was trained for: the sensor
(``spectra.SENSORS``), the number of bins (64-320), the noise scale (log-uniform 0.07-1.5),
fast hemodynamics (half of the recordings, 20-50 % of the hemodynamic variance above 1 Hz, the
hemodynamic change 0.2-2 %), the event rise (0-3 samples) and the length (5-40 min at 5 Hz).
The rest of the signal is the quality benchmark's (intensity, event rate and size pinned to the
middle of training's ranges, the decay at the analysis' own, so OASIS deconvolves with the true
kinetics).

Each recording runs through raw, ``fluorodn:default`` (``Denoiser()`` as a user gets it), the
rank-8 SVD and the Gaussian of sigma 0.5 and is analysed like the quality benchmark's
(:func:`fluorodn_train.evaluation.recordings.analyse`). Per recording: is the default below
raw on PSNR, coherence 0-2.5 Hz or event F1, and did it warn (``OutOfDomainWarning`` or
``EventDetectionWarning``); over all of them, the mean paired difference with its 95 % interval.

One draw below raw may be the luck of that draw's noise and events: a recording of 50 events
moves its F1 by 0.02 with one event. Each recording below raw on a metric is therefore drawn
again ``--repeats`` times with the same factors (new signal and noise); the condition is
*measurably* below raw when the upper end of the 95 % interval of its paired differences is
below zero. Coherence and F1 count only the draws the analysis resolves.

The runtime takes spectral recordings of up to 1024 bins; training had 76-304. Each sensor at
``BEYOND_BINS`` bins and ``BEYOND_NOISE`` noise scales, the other factors fixed in the middle of
their ranges, is drawn ``BEYOND_DRAWS`` times and compared with raw the same way. Run::

    python -m benchmarks sweep [--recordings 40] [--repeats 6] [--seed 0] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train import data, spectra
from fluorodn_train.evaluation.recordings import FS, Recording, analyse, signal_config

from benchmarks.measure import warning_lead, warnings_in_full
from benchmarks.pipelines import denoiser_fn, gaussian, svd_rank
from benchmarks.repeats import interval
from benchmarks.stress import synth_recording

RESULTS = Path(__file__).resolve().parent / "results"
#: Ranges drawn per recording (the default was trained on 76-304 bins and noise 0.1-1.2).
BINS = (64, 320)
NOISE = (0.07, 1.5)
MINUTES = (5.0, 40.0)
FAST_HEMO_PROB, FAST_HEMO_SHARE, HEMO_DFF = 0.5, (0.2, 0.5), (0.002, 0.02)
RISE = (0, 3)
METRICS = (("psnr", "PSNR"), ("coh_mean_0_2.5hz", "coherence"), ("ev_f1", "F1"))
#: Further draws of each condition below raw (the ``--repeats`` default).
REPEATS = 6
#: The analysis resolves a recording's sensor trace when the clean recording's own coherence
#: reaches this; below it (a sensor spectrum nearly a mix of the hemoglobin and brightness
#: spectra over the bins, strong fast hemodynamics) coherence and F1 judge the analysis, not
#: the denoiser, and only PSNR is compared.
RESOLVED_COH = 0.9
#: The default's projection alone (``DenoiserOptions(spectral_only=True)``), compared beside it.
SPECTRAL_ONLY = "fluorodn:spectral-only"
#: Bin counts beyond training's 76-304 that the runtime takes (up to ``fluorodn.spectral.MAX_BINS``),
#: each with every sensor at two noise scales, the other factors in the middle of their ranges:
#: drawn ``BEYOND_DRAWS`` times each and compared with raw as the conditions drawn again are.
BEYOND_BINS = (512, 1024)
BEYOND_NOISE = (0.4, 0.9)
BEYOND_DRAWS = 4
#: Condition indices of those draws (their own seeds, after the combined recordings').
BEYOND_INDEX = 1000


def draw(rng: np.random.Generator) -> dict[str, Any]:
    """One recording's stress factors."""
    fast = bool(rng.random() < FAST_HEMO_PROB)
    return {
        "sensor": str(rng.choice(spectra.SENSORS)),
        "bins": int(rng.integers(BINS[0], BINS[1] + 1)),
        "noise": float(np.exp(rng.uniform(np.log(NOISE[0]), np.log(NOISE[1])))),
        "fast_share": float(rng.uniform(*FAST_HEMO_SHARE)) if fast else 0.0,
        "hemo_dff": float(np.exp(rng.uniform(np.log(HEMO_DFF[0]), np.log(HEMO_DFF[1])))),
        "rise": int(rng.integers(RISE[0], RISE[1] + 1)),
        "samples": int(rng.uniform(*MINUTES) * 60 * FS),
    }


def make(factors: dict[str, Any], rng: np.random.Generator) -> Recording:
    """The recording of ``factors``: the quality benchmark's signal with the factors set."""
    f = factors
    share = (f["fast_share"],) * 2
    cfg = replace(
        signal_config(),
        sensors=(f["sensor"],),
        hemo_fast=share,
        hemo_fast_prob=1.0 if f["fast_share"] > 0 else 0.0,
        hemo_dff=(f["hemo_dff"],) * 2,
        rise_samples=(f["rise"], f["rise"]),
        rise_prob=1.0,
    )
    name = (
        f"{f['sensor']}, {f['bins']} bins, noise {f['noise']:.2f}, "
        f"{'fast hemo ' + format(f['fast_share'], '.2f') if f['fast_share'] else 'slow hemo'}, "
        f"rise {f['rise']}, {f['samples'] / FS / 60:.0f} min"
    )
    return synth_recording(name, "sweep", rng, f["samples"], f["bins"], cfg, f["noise"])


def _analyse(rec: Recording, y: np.ndarray) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """:func:`analyse`, without the unmixing's warnings about spectra it can hardly tell apart
    (the clean recording's coherence says where the analysis fails)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return analyse(rec, y)


def resolves(rec: Recording) -> bool:
    """Whether the analysis resolves ``rec``'s sensor: its clean recording's coherence reaches
    :data:`RESOLVED_COH`."""
    return bool(_analyse(rec, rec.clean)[0]["coh_mean_0_2.5hz"] >= RESOLVED_COH)


def redraw(factors: dict[str, Any], index: int, r: int, seed: int = 0) -> Recording:
    """Draw ``r`` of recording ``index``'s condition again: ``factors`` with a signal and noise
    of their own (:func:`repeat_condition`'s recordings)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(data.TEST_STREAM, 301, index, r)))
    return make(factors, rng)


def below_raw_again(rows: list[dict[str, Any]], metrics: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The sweep's result rows whose condition, drawn again, is below raw on average on one of
    ``metrics`` (every metric drawn again when None): its weakest conditions, measurably below
    raw or not."""
    return [
        row
        for row in rows
        if any(
            rep.get("mean_diff", 0.0) < 0.0
            for metric, rep in row.get("repeats", {}).items()
            if metrics is None or metric in metrics
        )
    ]


def repeat_condition(
    factors: dict[str, Any],
    index: int,
    labels: list[str],
    test: Any,
    repeats: int = REPEATS,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """``repeats`` further recordings of ``factors`` (recording ``index``'s condition, each with
    its own signal and noise), each through raw and ``test`` (a ``(T, W) -> (T, W)`` pipeline).

    Per metric label of ``labels``: the draws judged (coherence and F1: those the analysis
    resolves), the paired differences ``test - raw``, their mean and 95 % half-width, on how many
    draws ``test`` was below raw, and whether the condition is measurably below raw (the
    interval's upper end below zero; needs two judged draws). ``warned_draws``: the draws on
    which ``test`` warned (its ``warnings`` attribute, as :func:`denoiser_fn` keeps them)."""
    keys = {label: key for key, label in METRICS}
    diffs: dict[str, list[float]] = {label: [] for label in labels}
    warned = 0
    for r in range(repeats):
        rec = redraw(factors, index, r, seed)
        resolved = resolves(rec)
        raw = _analyse(rec, rec.to_counts(rec.noisy))[0]
        out = _analyse(rec, rec.to_counts(test(rec.noisy)))[0]
        warned += bool(getattr(test, "warnings", None))
        for label in labels:
            if resolved or label == "PSNR":
                diffs[label].append(float(out[keys[label]] - raw[keys[label]]))
    res = {}
    for label, d in diffs.items():
        mean, half = interval(np.array(d))
        res[label] = {
            "draws": len(d),
            "diffs": d,
            "mean_diff": mean,
            "half_width": half,
            "below_raw": sum(x < 0 for x in d),
            "measurably_below": bool(len(d) >= 2 and mean + half < 0),
            "warned_draws": warned,
        }
    return res


def run(
    recordings: int = 40,
    seed: int = 0,
    threads: int | None = 2,
    log: Any = print,
    repeats: int = REPEATS,
    quick: bool = False,
) -> dict[str, Any]:
    import fluorodn

    den = fluorodn.Denoiser(options=fluorodn.DenoiserOptions(threads=threads))
    default = denoiser_fn(den)
    only = denoiser_fn(fluorodn.Denoiser(options=fluorodn.DenoiserOptions(threads=threads, spectral_only=True)))
    pipes = {
        "raw": lambda x: x,
        "fluorodn:default": default,
        SPECTRAL_ONLY: only,
        "svd-8": svd_rank(8),
        "gauss-0.5": gaussian(0.5),
    }
    rows = []
    t0 = time.perf_counter()
    for k in range(recordings):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(data.TEST_STREAM, 300, k)))
        factors = draw(rng)
        if quick:  # a smoke test: the drawn condition, at most 5 minutes of it
            factors["samples"] = min(factors["samples"], int(5 * 60 * FS))
        rec = make(factors, rng)
        row: dict[str, Any] = {"index": k, "recording": rec.name, "factors": factors, "metrics": {}}
        m, _, _ = _analyse(rec, rec.clean)
        row["clean"] = {key: m[key] for key, _ in METRICS[1:]}
        row["resolved"] = bool(m["coh_mean_0_2.5hz"] >= RESOLVED_COH)
        for name, fn in pipes.items():
            y = rec.to_counts(fn(rec.noisy))
            m, _, _ = _analyse(rec, y)
            row["metrics"][name] = {key: m[key] for key, _ in METRICS}
        row["warnings"] = list(default.warnings)  # each keeps its last call's: this recording's
        d, r = row["metrics"]["fluorodn:default"], row["metrics"]["raw"]
        judged = METRICS if row["resolved"] else METRICS[:1]
        row["below_raw"] = [label for key, label in judged if d[key] < r[key]]
        row["repeats"] = repeat_condition(factors, k, row["below_raw"], default, repeats, seed) if repeats else {}
        o = row["metrics"][SPECTRAL_ONLY]
        only_below = [label for key, label in judged if o[key] < r[key]]
        row["spectral_only"] = {
            "warnings": list(only.warnings),  # before its further draws replace them
            "below_raw": only_below,
            "repeats": repeat_condition(factors, k, only_below, only, repeats, seed) if repeats else {},
        }
        rows.append(row)
        log(
            f"{k:3d} {rec.name}: PSNR {d['psnr']:.2f}/{r['psnr']:.2f} coh {d['coh_mean_0_2.5hz']:.3f}/"
            f"{r['coh_mean_0_2.5hz']:.3f} F1 {d['ev_f1']:.3f}/{r['ev_f1']:.3f} "
            f"below raw on {','.join(row['below_raw']) or 'nothing'}{' (warned)' if row['warnings'] else ''}"
            f"{'' if row['resolved'] else ' (analysis unresolved)'}"
            + "".join(
                f"; {label} again: {e['mean_diff']:+.4f} ± {e['half_width']:.4f} over {e['draws']}"
                for label, e in row["repeats"].items()
            )
        )
    summary: dict[str, Any] = {"recordings": len(rows), "resolved": sum(r["resolved"] for r in rows)}
    summary |= _summary(rows, "fluorodn:default", lambda r: r)
    summary[SPECTRAL_ONLY] = _summary(rows, SPECTRAL_ONLY, lambda r: r["spectral_only"])
    summary["warned"] = sum(1 for r in rows if r["warnings"])
    beyond = beyond_bins(default, 2 if quick else BEYOND_DRAWS, seed, quick=quick)
    return {
        "benchmark": "sweep",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": time.perf_counter() - t0,
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "seed": seed,
        "repeats": repeats,
        "model": {"name": den.name, "sha256": den.sha256},
        "ranges": {
            "bins": BINS,
            "noise": NOISE,
            "minutes": MINUTES,
            "fast_hemo_prob": FAST_HEMO_PROB,
            "fast_hemo_share": FAST_HEMO_SHARE,
            "hemo_dff": HEMO_DFF,
            "rise": RISE,
            "sensors": list(spectra.SENSORS),
        },
        "rows": rows,
        "summary": summary,
        "beyond_bins": beyond,
    }


def beyond_bins(test: Any, draws: int = BEYOND_DRAWS, seed: int = 0, quick: bool = False) -> list[dict[str, Any]]:
    """The default (``test``) against raw on recordings with more bins than training had: per
    sensor, bin count of :data:`BEYOND_BINS` and noise scale of :data:`BEYOND_NOISE`, ``draws``
    recordings of 20 minutes (slow hemodynamics, events rising over 1 sample), as
    :func:`repeat_condition` compares them (``quick``: one such condition, 5 minutes)."""
    conditions = [(sensor, bins, noise) for sensor in spectra.SENSORS for bins in BEYOND_BINS for noise in BEYOND_NOISE]
    out = []
    for k, (sensor, bins, noise) in enumerate(conditions[:1] if quick else conditions):
        factors = {
            "sensor": str(sensor),
            "bins": bins,
            "noise": noise,
            "fast_share": 0.0,
            "hemo_dff": math.sqrt(HEMO_DFF[0] * HEMO_DFF[1]),
            "rise": 1,
            "samples": int((5 if quick else 20) * 60 * FS),
        }
        labels = [label for _, label in METRICS]
        out.append(
            {"factors": factors, "repeats": repeat_condition(factors, BEYOND_INDEX + k, labels, test, draws, seed)}
        )
    return out


def _summary(rows: list[dict[str, Any]], name: str, part: Any) -> dict[str, Any]:
    """Per metric label: pipeline ``name`` against raw over the recordings (coherence and F1: those
    the analysis resolves), and over the further draws of the conditions where it fell below raw;
    ``part(row)`` holds its ``below_raw`` labels, ``repeats`` and first-draw ``warnings``."""
    resolved = [r for r in rows if r["resolved"]]
    summary: dict[str, Any] = {}
    for key, label in METRICS:
        judged = rows if key == "psnr" else resolved
        diff = np.array([r["metrics"][name][key] - r["metrics"]["raw"][key] for r in judged])
        mean, half = interval(diff)
        below = [r for r in rows if label in part(r)["below_raw"]]
        measurably = [r for r in below if part(r)["repeats"].get(label, {}).get("measurably_below")]
        again = np.array([x for r in below for x in part(r)["repeats"].get(label, {}).get("diffs", [])])
        again_mean, again_half = interval(again)
        summary[label] = {
            "recordings": len(judged),
            "mean_diff": mean,
            "half_width": half,
            "below_raw": len(below),
            "below_raw_unwarned": sum(1 for r in below if not part(r)["warnings"]),
            "worst_diff": float(diff.min()) if len(diff) else math.nan,
            "repeated_draws": len(again),
            "repeated_mean_diff": again_mean,
            "repeated_half_width": again_half,
            "measurably_below_raw": len(measurably),
            # unwarned: no warning on the first draw nor on any repeated one
            "measurably_below_raw_unwarned": sum(
                1 for r in measurably if not part(r)["warnings"] and not part(r)["repeats"][label]["warned_draws"]
            ),
        }
    return summary


def markdown(res: dict[str, Any], command: str) -> str:
    s = res["summary"]
    lines = [
        "# Never worse than raw, never silent: stress factors combined",
        "",
        f"`{command}` on {res['created']} in {res['seconds']:.0f} s: {s['recordings']} recordings, each "
        "drawing every factor at once: sensor, bins "
        f"{res['ranges']['bins'][0]}-{res['ranges']['bins'][1]}, noise scale "
        f"{res['ranges']['noise'][0]:g}-{res['ranges']['noise'][1]:g} (log-uniform), fast hemodynamics in half "
        "of them, event rise 0-3 samples, "
        f"{res['ranges']['minutes'][0]:g}-{res['ranges']['minutes'][1]:g} min at 5 Hz "
        "(the default was trained on 76-304 bins and noise 0.1-1.2). Model: "
        f"`{res['model']['name']}` (sha256 {res['model']['sha256'][:12]}).",
        "",
        f"Coherence and F1 are compared on the {s['resolved']} recordings where the analysis resolves the "
        f"sensor (the clean recording's own coherence at least {RESOLVED_COH:g}); PSNR on all.",
        "",
        "| metric | default - raw (mean, 95 % interval) | worst recording | below raw | below raw, no warning | "
        f"below raw, drawn {res['repeats']} more times: default - raw | measurably below raw | "
        "measurably below raw, no warning |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += _summary_rows(s)
    lines += [
        "",
        "The default warned (`OutOfDomainWarning`, `EventDetectionWarning`) "
        f"on {s['warned']} of {s['recordings']} recordings.",
        "",
        "## The projection alone (`--spectral-only`)",
        "",
        "The default's projection without its network (`DenoiserOptions(spectral_only=True)`): nothing "
        "is filtered over time. The same comparison with raw; the conditions it falls below raw on are "
        "drawn again the same way.",
        "",
        "| metric | spectral-only - raw (mean, 95 % interval) | worst recording | below raw | below raw, no warning | "
        f"below raw, drawn {res['repeats']} more times: spectral-only - raw | measurably below raw | "
        "measurably below raw, no warning |",
        "|---|---|---|---|---|---|---|---|",
        *_summary_rows(s[SPECTRAL_ONLY]),
        "",
        *_beyond_lines(res.get("beyond_bins", [])),
        "A recording below raw on a metric is drawn again with the same factors; the last column gives "
        "the paired difference over those draws (coherence and F1: the draws the analysis resolves), "
        "with its 95 % interval, and whether the condition is measurably below raw (the interval's "
        "upper end below zero).",
        "",
        "| # | recording | PSNR default / raw | coh clean / default / spectral-only / raw / svd-8 / gauss-0.5 | "
        "F1 clean / default / spectral-only / raw / svd-8 / gauss-0.5 | below raw on | warned | "
        "drawn again: default - raw | spectral-only drawn again |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        m = r["metrics"]
        coh, f1 = (
            " / ".join(
                [f"{r['clean'][key]:.3f}"]
                + [f"{m[p][key]:.3f}" for p in ("fluorodn:default", SPECTRAL_ONLY, "raw", "svd-8", "gauss-0.5")]
            )
            for key in ("coh_mean_0_2.5hz", "ev_f1")
        )
        below = ", ".join(r["below_raw"]) or "nothing"
        if not r["resolved"]:
            below += " (PSNR only: analysis unresolved)"
        warned = "; ".join(warning_lead(w) for w in r["warnings"]) or "no"
        again, only_again = (_again(part["repeats"]) for part in (r, r["spectral_only"]))
        lines.append(
            f"| {r['index']} | {r['recording']} | {m['fluorodn:default']['psnr']:.2f} / {m['raw']['psnr']:.2f} | "
            f"{coh} | {f1} | {below} | {warned} | {again} | {only_again} |"
        )
    lines += warnings_in_full(w for r in res["rows"] for w in r["warnings"])
    return "\n".join(lines) + "\n"


def _beyond_lines(beyond: list[dict[str, Any]]) -> list[str]:
    """The section on bin counts beyond training: one row per condition."""
    if not beyond:
        return []
    draws = max(e["draws"] for c in beyond for e in c["repeats"].values())
    lines = [
        "## More bins than training had",
        "",
        f"Each sensor at {' and '.join(str(b) for b in BEYOND_BINS)} bins (training: 76-304; the runtime takes up "
        f"to 1024), noise scale {' and '.join(f'{n:g}' for n in BEYOND_NOISE)}, slow hemodynamics, events rising "
        f"over 1 sample, {beyond[0]['factors']['samples'] / FS / 60:g} min"
        f"{'' if len(beyond) == len(spectra.SENSORS) * len(BEYOND_BINS) * len(BEYOND_NOISE) else ' (the first only)'}"
        f": {draws} recordings each, the "
        "default's paired difference to raw with its 95 % interval (coherence and F1: the recordings the "
        "analysis resolves), how many were below raw, and on how many the default warned.",
        "",
        "| sensor | bins | noise | PSNR default - raw | coherence default - raw | F1 default - raw | "
        "measurably below raw on | warned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in beyond:
        f, reps = c["factors"], c["repeats"]
        cells = [
            f"{e['mean_diff']:+.{2 if label == 'PSNR' else 3}f} ± {e['half_width']:.{2 if label == 'PSNR' else 3}f}"
            f"{' dB' if label == 'PSNR' else ''} ({e['below_raw']} of {e['draws']} below)"
            if e["draws"]
            else "- (unresolved)"
            for label, e in reps.items()
        ]
        below = ", ".join(label for label, e in reps.items() if e["measurably_below"]) or "nothing"
        warned = max(e["warned_draws"] for e in reps.values())
        lines.append(
            f"| {f['sensor']} | {f['bins']} | {f['noise']:g} | {' | '.join(cells)} | {below} | {warned} of {draws} |"
        )
    return [*lines, ""]


def _again(repeats: dict[str, Any]) -> str:
    """A row's further draws: per metric, the paired difference to raw and how many were below."""
    text = "; ".join(
        f"{label} {e['mean_diff']:+.4f} ± {e['half_width']:.4f} ({e['below_raw']} of {e['draws']} below"
        f"{', measurably' if e['measurably_below'] else ''})"
        for label, e in repeats.items()
    )
    return text or "-"


def _summary_rows(s: dict[str, Any]) -> list[str]:
    """The summary table's rows, one per metric, of :func:`_summary`'s ``s``."""
    lines = []
    for _, label in METRICS:
        e = s[label]
        unit = " dB" if label == "PSNR" else ""
        again = (
            f"{e['repeated_mean_diff']:+.4f} ± {e['repeated_half_width']:.4f}{unit} ({e['repeated_draws']} draws)"
            if e["repeated_draws"]
            else "-"
        )
        lines.append(
            f"| {label} | {e['mean_diff']:+.3f} ± {e['half_width']:.3f}{unit} | {e['worst_diff']:+.3f}{unit} | "
            f"{e['below_raw']} of {e['recordings']} | {e['below_raw_unwarned']} | {again} | "
            f"{e['measurably_below_raw']} of {e['below_raw']} | {e['measurably_below_raw_unwarned']} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks sweep", description=__doc__.split("\n")[0])
    ap.add_argument("--recordings", type=int, default=40, help="recordings drawn (default 40)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the draws (test stream)")
    ap.add_argument(
        "--repeats", type=int, default=None, help=f"further draws of each condition below raw (default {REPEATS})"
    )
    ap.add_argument("--quick", action="store_true", help="3 recordings of at most 5 minutes, 2 repeats (a smoke test)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads of the default (default 2)")
    ap.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    args = ap.parse_args(argv)
    n = 3 if args.quick else args.recordings
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else REPEATS)
    res = run(n, args.seed, args.threads, repeats=repeats, quick=args.quick)
    out = Path(args.out) if args.out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    command = (
        "python -m benchmarks sweep"
        + (f" --recordings {n}" if n != 40 else "")
        + (f" --repeats {repeats}" if repeats != REPEATS else "")
        + (f" --seed {args.seed}" if args.seed else "")
    )
    (out / "sweep.json").write_text(json.dumps(res, indent=1, default=float) + "\n")
    (out / "sweep.md").write_text(markdown(res, command))
    print(f"wrote {out / 'sweep.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
