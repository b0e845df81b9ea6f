"""How much to denoise over time: the default at each ``strength``, and without
``keep_onsets``, paired with raw.

``python -m benchmarks strength [--quick] [--out DIR]`` writes ``strength.md`` and
``strength.json``. ``DenoiserOptions(strength=s)`` (``--strength``) tells the spectral network
that each trace's noise is ``s`` times what was measured: 1 is the default, 0 the projection alone
(``--spectral-only``). ``keep_onsets`` (the default; ``--round-onsets`` turns it off) takes a
weaker run around the rises of the traces that change sparsely. Each setting of :data:`SETTINGS`
runs on

* the quality benchmark's main recordings (noise 0.2, 0.4, 0.8) and its stress recordings
  (``benchmarks.stress``), for each seed of :data:`SEEDS`;
* slow rises at high noise (:data:`SLOW_HIGH`), drawn :data:`DRAWS` times;
* the conditions ``python -m benchmarks sweep`` found measurably below raw on event F1
  (``benchmarks/results/sweep.json``), drawn again as the sweep draws them, and the groups
  ``python -m benchmarks rates`` found so (``benchmarks/results/rates.json``), each seed's
  recording as that benchmark makes it, the default told its rate.

Per condition and setting: the mean paired difference to raw of PSNR, coherence 0-2.5 Hz and
event F1 with its 95 % interval (coherence and F1 over the recordings the analysis resolves), and
the event step: the fitted sensor trace averaged around every true event's onset
(:func:`event_step`), as a share of the clean recording's, at the onset's last rising sample
(``reached``) and, less the clean recording's, on the two samples before the onset (``ahead``:
how far the output rises before the event began, which joins close events into one).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train.evaluation.recordings import FS, Recording, analyse, fitted_trace, make_recordings

from benchmarks.repeats import interval

RESULTS = Path(__file__).resolve().parent / "results"
#: Strengths compared; 0 is the projection alone (the denoiser's ``spectral_only`` path).
STRENGTHS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)
#: The full network everywhere: the default without ``keep_onsets``.
NOT_KEPT = "1, --round-onsets"
#: Each setting's label and its :class:`fluorodn.DenoiserOptions` fields.
SETTINGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("1", {"strength": 1.0}),
    (NOT_KEPT, {"strength": 1.0, "keep_onsets": False}),
    *((f"{s:g}", {"strength": s}) for s in STRENGTHS[1:]),
)
QUICK_SETTINGS = ("1", NOT_KEPT, "0.5", "0")
#: Seeds of the main and stress recordings, and their length in samples (20 min at 5 Hz).
SEEDS = (0, 1, 2)
N_TIME = 6000
#: Slow rises at high noise: the sweep's factors for one recording (see ``benchmarks.sweep.make``).
SLOW_HIGH = {
    "sensor": "ach",
    "bins": 152,
    "noise": 1.0,
    "fast_share": 0.0,
    "hemo_dff": 0.005,
    "rise": 3,
    "samples": N_TIME,
}
SLOW_HIGH_NAME = "slow rise (3 samples), noise 1.0"
DRAWS = 6
METRICS = (("psnr", "PSNR"), ("coh_mean_0_2.5hz", "coherence"), ("ev_f1", "F1"))
#: Samples around each true onset that :func:`event_step` averages.
BEFORE, AFTER = 4, 8


def event_step(rec: Recording, a: np.ndarray) -> np.ndarray:
    """(BEFORE + AFTER,) mean of the fitted trace ``a`` around each true event onset, less its
    mean over the 2 samples before the window (onsets at least that far from the ends)."""
    onsets = np.flatnonzero(rec.truth.spikes > 0)
    onsets = onsets[(onsets >= BEFORE + 2) & (onsets < len(a) - AFTER)]
    if len(onsets) == 0:
        return np.full(BEFORE + AFTER, np.nan)
    rows = [a[s - BEFORE : s + AFTER] - a[s - BEFORE - 2 : s - BEFORE].mean() for s in onsets]
    return np.mean(rows, axis=0)


def step_shares(step: np.ndarray, clean: np.ndarray, rise: int) -> dict[str, float]:
    """``reached``: ``step`` over ``clean`` at the onset's last rising sample (``rise`` samples
    after the onset, at most the window's last); ``ahead``: ``step`` less ``clean`` on the two
    samples before the onset, over the same (the rise the output shows before the event began)."""
    end = min(BEFORE + rise, BEFORE + AFTER - 1)
    top = float(clean[end])
    ahead = float((step - clean)[BEFORE - 2 : BEFORE].mean()) / top
    return {"reached": float(step[end]) / top, "ahead": ahead}


def conditions(quick: bool, seed_list: tuple[int, ...] = SEEDS) -> list[tuple[str, Recording, int]]:
    """(condition, recording, rise in samples) of every recording the benchmark runs; a
    recording's ``fs`` is its rate (the default is told it where it is not 5 Hz)."""
    from benchmarks import rates, sweep
    from benchmarks.diagnose import sweep_below
    from benchmarks.stress import SLOW_RISE, make_stress

    n_time = 600 if quick else N_TIME
    out: list[tuple[str, Recording, int]] = []
    for seed in seed_list[:1] if quick else seed_list:
        for rec in make_recordings(n_time, (0.2,) if quick else (0.2, 0.4, 0.8), seed=seed):
            out.append((rec.name, rec, 0))
        for rec in [] if quick else make_stress(n_time, False, seed=seed):
            out.append((rec.name, rec, SLOW_RISE if rec.name.startswith("slow rise") else 0))
    factors = SLOW_HIGH | {"samples": n_time}
    for r in range(1 if quick else DRAWS):
        rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(sweep.data.TEST_STREAM, 401, r)))
        out.append((SLOW_HIGH_NAME, sweep.make(factors, rng), SLOW_HIGH["rise"]))
    for row in [] if quick else sweep_below():
        name = f"sweep #{row['index']}: {row['recording']}"
        for r in range(sweep.REPEATS):
            rec = sweep.redraw(row["factors"], row["index"], r)
            out.append((name, rec, int(row["factors"]["rise"])))
    for g in [] if quick else rates_below():
        rise = rates.rise_samples(g["fs"]) if g["condition"].startswith("rises") else 0
        name = f"rates: {g['condition']}, noise {g['noise']:g}, {g['fs']:g} Hz"
        for seed in rates.SEEDS:
            out.append((name, rates.make_recording(g["condition"], g["fs"], g["noise"], rates.MINUTES, seed), rise))
    return out


def rates_below(path: Path = RESULTS / "rates.json") -> list[dict[str, Any]]:
    """The groups of the sampling-rate benchmark's results measurably below raw on F1."""
    if not path.exists():
        return []
    return [g for g in json.loads(path.read_text())["groups"] if g["F1"].get("measurably_below_raw")]


def run(quick: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    import fluorodn
    from benchmarks.measure import write_results
    from benchmarks.sweep import resolves
    from fluorodn.denoiser import DenoiserOptions

    t0 = time.perf_counter()
    settings = dict(SETTINGS) | {"0.5": {"strength": 0.5}}
    labels = QUICK_SETTINGS if quick else tuple(label for label, _ in SETTINGS)
    dens = {label: fluorodn.Denoiser(options=DenoiserOptions(threads=2, **settings[label])) for label in labels}
    acc: dict[str, dict[str, Any]] = {}
    for name, rec, rise in conditions(quick):
        c = acc.setdefault(name, {"recordings": 0, "resolved": 0, "rise": rise, "settings": {}})
        c["recordings"] += 1
        resolved = resolves(rec)
        c["resolved"] += resolved
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw, a_raw, _ = analyse(rec, rec.to_counts(rec.noisy))
            clean_step = event_step(rec, fitted_trace(rec, rec.clean))
            raw_step = step_shares(event_step(rec, a_raw), clean_step, rise)
            rate = None if rec.fs == FS else rec.fs
            for setting, den in dens.items():
                m, a, _ = analyse(rec, rec.to_counts(np.asarray(den.run(rec.noisy, rate=rate), np.float64)))
                empty = {label: [] for _, label in METRICS} | {"steps": [], "raw_steps": []}
                d = c["settings"].setdefault(setting, empty)
                for key, label in METRICS:
                    if resolved or label == "PSNR":
                        d[label].append(float(m[key] - raw[key]))
                d["steps"].append(step_shares(event_step(rec, a), clean_step, rise))
                d["raw_steps"].append(raw_step)
    rows = []
    for name, c in acc.items():
        for setting, d in c["settings"].items():
            opts = dens[setting].options
            row: dict[str, Any] = {"condition": name, "setting": setting, "strength": opts.strength,
                                   "keep_onsets": opts.keep_onsets, "recordings": c["recordings"]}  # fmt: skip
            row["resolved"], row["rise"] = c["resolved"], c["rise"]
            for _, label in METRICS:
                mean, half = interval(np.array(d[label]))
                row[label] = {"diffs": d[label], "mean": mean, "half_width": half}
                row[label]["measurably_below"] = bool(len(d[label]) >= 2 and mean + half < 0)
            for k in ("reached", "ahead"):
                row[k] = float(np.mean([x[k] for x in d["steps"]]))
                row[f"raw_{k}"] = float(np.mean([x[k] for x in d["raw_steps"]]))
            rows.append(row)
    result = {
        "benchmark": "strength",
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": list(labels),
        "model": dens["1"].name,
        "model_sha256": dens["1"].sha256,
        "rows": rows,
        "elapsed_s": time.perf_counter() - t0,
    }
    write_results(result, out_dir, RESULTS, "strength_quick" if quick else "strength", markdown)
    return result


def _cell(v: dict[str, Any], digits: int, unit: str = "") -> str:
    if not v["diffs"]:
        return "-"
    text = f"{v['mean']:+.{digits}f}{unit}"
    if np.isfinite(v["half_width"]):
        text += f" ± {v['half_width']:.{digits}f}"
    return f"**{text}**" if v["measurably_below"] else text


def markdown(res: dict[str, Any]) -> str:
    rows = res["rows"]
    lines = [
        "# How much to denoise over time: `--strength` and `--round-onsets`",
        "",
        f"`python -m benchmarks strength` on {res['created']} in {res['elapsed_s']:.0f} s, model `{res['model']}` "
        f"(sha256 {res['model_sha256'][:12]}). `DenoiserOptions(strength=s)` tells the spectral network that each "
        "trace's noise is s times what was measured: 1 is the default, 0 the projection alone "
        "(`--spectral-only`). Every setting keeps the events' onsets (`keep_onsets`, the default: around the "
        "large changes of the traces that change sparsely, the output of a run at 0.6 times the strength) but "
        f"`{NOT_KEPT}`, the full network everywhere (`--round-onsets`). "
        "Per condition and setting: the mean paired difference to raw with its 95 % "
        "interval (coherence 0-2.5 Hz and event F1 over the recordings the analysis resolves), **bold** where the "
        "whole interval is below zero. Event step: the fitted sensor trace averaged around every true event's "
        "onset, as a share of the clean recording's at the onset's last rising sample (`reached`) and on the two "
        "samples before the onset, less the clean recording's, over the same (`ahead`: how far the output rises "
        "before the event began); raw's in the condition's heading.",
    ]
    below: dict[str, list[str]] = {s: [] for s in res["settings"]}
    for r in rows:
        if r["F1"]["measurably_below"]:
            below[r["setting"]].append(r["condition"])
    lines += ["", "Conditions measurably below raw on F1, per setting:", ""]
    for s, names in below.items():
        lines.append(f"- {s}: {len(names)}" + (f" ({'; '.join(names)})" if names else ""))
    for name in dict.fromkeys(r["condition"] for r in rows):
        group = [r for r in rows if r["condition"] == name]
        g0 = group[0]
        lines += [
            "",
            f"## {name}",
            "",
            f"{g0['recordings']} recordings ({g0['resolved']} resolved), events rising over {g0['rise']} samples; "
            f"raw's event step: reached {g0['raw_reached']:.2f}, ahead {g0['raw_ahead']:+.3f}.",
            "",
            "| setting | PSNR - raw | coherence - raw | F1 - raw | step reached | step ahead |",
            "|---|---|---|---|---|---|",
        ]
        for r in group:
            lines.append(
                f"| {r['setting']} | {_cell(r['PSNR'], 2, ' dB')} | {_cell(r['coherence'], 3)} | "
                f"{_cell(r['F1'], 4)} | {r['reached']:.2f} | {r['ahead']:+.3f} |"
            )
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    from benchmarks.measure import quick_out_main

    quick = "one 2-minute recording at noise 0.2, strengths 1 (with and without keep_onsets), 0.5, 0"
    return quick_out_main(argv, "strength", __doc__ or "", run, quick)


if __name__ == "__main__":
    raise SystemExit(main())
