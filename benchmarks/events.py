"""Event detection over many recordings: is the default ahead of the best classical baseline?

``python -m benchmarks events [--quick] [--seeds N] [--first-seed S] [--bm3d] [--out DIR]`` writes
``events.md`` and ``events.json``; ``--merge RUN.json ...`` joins runs on different seeds (parts run
side by side, each from its ``--first-seed``) into the one result a single run would give.
``--main-only`` runs the main recordings alone with the baselines the target names but BM3D
(``events_main.md``): about a fifth of the time a seed, for the hundreds of recordings a gap of a
thousandth needs.

One 30-minute recording holds about 170 counted events, so one event moves its F1 by about 0.003,
and the quality benchmark's six recordings per condition leave 95 % intervals of about ± 0.006
around gaps smaller than that. This benchmark runs raw, the default and every classical baseline of
the quality benchmark (``benchmarks.repeats.REPEAT_PIPELINES``; BM3D, which takes half a minute a
recording, only with ``--bm3d`` and on the main recordings) on the main recordings at noise 0.2, 0.4
and 0.8, the stress recordings with fast hemodynamics and slow rises (:data:`STRESS`) and those with
small events (:func:`benchmarks.stress.make_small_events`) of :data:`SEEDS` clean recordings of the
test stream (seed 0: the quality benchmark's recordings), and the analysis on each clean recording
(its own ceiling).

Per condition: the mean F1 of every pipeline, and the mean paired difference of the default to raw
and to the baseline with the best mean, with its 95 % interval (Student's t over recordings); the
same for coherence 0-2.5 Hz. ``ahead`` / ``behind`` only where the whole interval is above / below
zero. Then F1 against the best of only the baselines the target names (:func:`in_target_set`), and
where F1 is lost: the true events each of the ceiling, raw, the default and the best baseline missed
and its false detections (:func:`lost_events`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train.evaluation.recordings import make_recordings

from benchmarks.repeats import REPEAT_PIPELINES, REPEAT_STRESS, interval, paired, pipeline_rows

RESULTS = Path(__file__).resolve().parent / "results"
#: Clean recordings of the test stream (seed 0: the quality benchmark's main recordings).
SEEDS = 72
#: Samples of the main recordings (30 min at 5 Hz); the stress recordings have a third of them.
N_TIME = 9000
NOISE_SCALES = (0.2, 0.4, 0.8)
#: The stress recordings whose F1 the default leaves below raw's on average over six recordings
#: (the quality benchmark's "Over 6 recordings").
STRESS = REPEAT_STRESS
DEFAULT = "fluorodn:default"
#: The analysis on the clean recording: not a pipeline, left out of the best baseline.
CEILING = "clean"
#: BM3D (``--bm3d``): on the main recordings only, about half a minute each.
BM3D = "bm3d"
QUICK_PIPELINES = ("raw", DEFAULT, "gauss-0.5", "svd-8", "svd-mp")


def pipelines(names: tuple[str, ...], den: Any) -> dict[str, Any]:
    """The named pipelines: raw, the default (``den``, ``fluorodn.Denoiser()``) and the quality
    benchmark's classical baselines (:func:`benchmarks.quality.classical_pipelines`)."""
    from benchmarks.pipelines import denoiser_fn
    from benchmarks.quality import classical_pipelines

    known: dict[str, Any] = {"raw": lambda x: x, DEFAULT: denoiser_fn(den)}
    known |= {p.name: p.fn for p in classical_pipelines()}
    return {name: known[name] for name in names}


def recordings(seed: int, n_time: int, quick: bool, main_only: bool = False) -> list[Any]:
    """The main recordings of ``seed`` at :data:`NOISE_SCALES`, its :data:`STRESS` recordings and
    its recordings of small events (:func:`benchmarks.stress.make_small_events`); ``main_only``: the
    main recordings alone."""
    from benchmarks.stress import make_small_events, make_stress

    recs = make_recordings(n_time, NOISE_SCALES[:1] if quick else NOISE_SCALES, seed=seed)
    if main_only:
        return recs
    recs += [r for r in make_stress(n_time // 3, False, seed=seed) if r.name in STRESS]
    return recs + make_small_events(n_time // 3, seed=seed)


def verdict(mean: float, half: float) -> str:
    """``ahead`` / ``behind`` where the whole 95 % interval is above / below zero, else ``level``."""
    if not np.isfinite(half):
        return "-"
    return "ahead" if mean - half > 0 else "behind" if mean + half < 0 else "level"


def in_target_set(pipeline: str) -> bool:
    """Whether ``pipeline`` is one of the baselines the event-F1 target names: raw, a Gaussian, a
    truncated SVD of fixed rank or BM3D (run with ``--bm3d`` only; the automatic ranks, local MP-PCA
    and Savitzky-Golay are baselines beyond it)."""
    fixed_rank = pipeline.startswith("svd-") and pipeline[4:].isdigit()
    return pipeline in ("raw", BM3D) or pipeline.startswith("gauss-") or fixed_rank


#: ``--main-only``'s pipelines: the default and the baselines the target names (BM3D with ``--bm3d``).
MAIN_PIPELINES = tuple(p for p in REPEAT_PIPELINES if p == DEFAULT or in_target_set(p))


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recording name: :func:`benchmarks.repeats.paired` of the default against raw and the best
    baseline (the ceiling left out of both), the same against the best of the target's baselines
    (:func:`in_target_set`: ``best_target_f1``, ``f1_target_diff`` and its half-width), the ceiling's
    mean F1, each difference's verdict, and on how many of the recordings the default warned."""
    out = []
    in_target = [r for r in rows if r["pipeline"] == DEFAULT or in_target_set(r["pipeline"])]
    target = {e["recording"]: e for e in paired(in_target, DEFAULT, "raw")}
    for entry in paired([r for r in rows if r["pipeline"] != CEILING], DEFAULT, "raw"):
        seeds = set(entry["seeds"])
        t = target[entry["recording"]]
        entry["best_target_f1"] = t["best_f1"]
        entry["f1_target_diff"], entry["f1_target_half_width"] = t["f1_best_diff"], t["f1_best_half_width"]
        entry["f1_target_verdict"] = verdict(entry["f1_target_diff"], entry["f1_target_half_width"])
        clean = [r["f1"] for r in rows if r["pipeline"] == CEILING and r["recording"] == entry["recording"]
                 and r["seed"] in seeds]  # fmt: skip
        entry["ceiling_f1"] = float(np.mean(clean)) if clean else float("nan")
        entry |= headroom(rows, entry)
        warned = [r["warned"] for r in rows if r["pipeline"] == DEFAULT and r["recording"] == entry["recording"]
                  and r["seed"] in seeds]  # fmt: skip
        entry["default_warned"] = int(sum(warned))
        for key in ("f1", "coh"):
            entry[f"{key}_verdict"] = verdict(entry[f"{key}_diff"], entry[f"{key}_half_width"])
            entry[f"{key}_best_verdict"] = verdict(entry[f"{key}_best_diff"], entry[f"{key}_best_half_width"])
        out.append(entry)
    return out


def headroom(rows: list[dict[str, Any]], entry: dict[str, Any]) -> dict[str, Any]:
    """The F1 a denoiser can gain over raw on ``entry``'s recordings: the ceiling's F1 minus raw's
    (mean paired difference, 95 % half-width: ``headroom``, ``headroom_half_width``), and the share
    of it the default takes (its mean difference to raw over the headroom's; nan without a ceiling
    or headroom)."""
    f1 = {(r["seed"], r["pipeline"]): r["f1"] for r in rows if r["recording"] == entry["recording"]}
    seeds = [s for s in entry["seeds"] if (s, CEILING) in f1 and (s, "raw") in f1]
    mean, half = interval(np.array([f1[(s, CEILING)] - f1[(s, "raw")] for s in seeds]))
    share = entry["f1_diff"] / mean if seeds and len(seeds) == len(entry["seeds"]) and mean > 0 else float("nan")
    return {"headroom": mean, "headroom_half_width": half, "headroom_share": share}


def warned_split(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recording name where the default warned on some recordings and not on others: the
    default's F1 minus raw's on the recordings it warned about and on the others (``warned``,
    ``unwarned``: n, mean paired difference, 95 % half-width, verdict). Whether a warning picks out
    the recordings where the default loses events, or fires at random within its condition."""
    out = []
    for name in dict.fromkeys(r["recording"] for r in rows):
        mine = [r for r in rows if r["recording"] == name]
        raw = {r["seed"]: r["f1"] for r in mine if r["pipeline"] == "raw"}
        ours = [r for r in mine if r["pipeline"] == DEFAULT and r["seed"] in raw]
        entry: dict[str, Any] = {"recording": name}
        for key, flag in (("warned", True), ("unwarned", False)):
            d = np.array([r["f1"] - raw[r["seed"]] for r in ours if bool(r["warned"]) is flag])
            mean, half = interval(d)
            entry[key] = {"n": len(d), "f1_diff": mean, "f1_half_width": half, "f1_verdict": verdict(mean, half)}
        if entry["warned"]["n"] and entry["unwarned"]["n"]:
            out.append(entry)
    return out


def against_each(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recording name: the default's F1 minus each baseline's the target names
    (:func:`in_target_set`), paired over the recordings both ran on (BM3D on its own recordings):
    ``{"recording", "pipelines": {name: {n, f1_diff, f1_half_width, f1_verdict}}}``."""
    out = []
    for name in dict.fromkeys(r["recording"] for r in rows):
        mine = [r for r in rows if r["recording"] == name]
        ours = {r["seed"]: r["f1"] for r in mine if r["pipeline"] == DEFAULT}
        entry: dict[str, Any] = {"recording": name, "pipelines": {}}
        for pipe in dict.fromkeys(r["pipeline"] for r in mine if in_target_set(r["pipeline"])):
            d = np.array([ours[r["seed"]] - r["f1"] for r in mine if r["pipeline"] == pipe and r["seed"] in ours])
            mean, half = interval(d)
            entry["pipelines"][pipe] = {"n": len(d), "f1_diff": mean, "f1_half_width": half,
                                        "f1_verdict": verdict(mean, half)}  # fmt: skip
        out.append(entry)
    return out


def lost_events(rows: list[dict[str, Any]], summary_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recording name: the true events, and the missed true events and false detections of the
    ceiling, raw, the default and the best baseline on F1 (``summary_rows``: :func:`summary`), each
    summed over the recordings. Where F1 is lost: a denoiser that smooths over rises misses events,
    noise left in makes false ones."""
    out = []
    for e in summary_rows:
        mine = [r for r in rows if r["recording"] == e["recording"] and r["seed"] in set(e["seeds"])]
        true = sum(r["true"] for r in mine if r["pipeline"] == DEFAULT)
        entry: dict[str, Any] = {"recording": e["recording"], "true": true, "pipelines": {}}
        for name in dict.fromkeys((CEILING, "raw", DEFAULT, e["best_f1"])):
            got = [r for r in mine if r["pipeline"] == name]
            entry["pipelines"][name] = {"missed": sum(r["missed"] for r in got), "false": sum(r["false"] for r in got)}
        out.append(entry)
    return out


def run(
    quick: bool = False,
    out_dir: Path | None = None,
    seeds: int | None = None,
    bm3d: bool = False,
    first_seed: int = 0,
    main_only: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """The benchmark on ``seeds`` clean recordings from ``first_seed`` on; ``bm3d``: BM3D too, on the
    main recordings (:data:`BM3D`); ``main_only``: the main recordings alone, with the default and
    the baselines the target names (:data:`MAIN_PIPELINES`), written as ``events_main``; ``threads``:
    the default's CPU threads (runs side by side on one machine take one each)."""
    from benchmarks.measure import write_results
    from benchmarks.pipelines import bm3d_denoise

    t0 = time.perf_counter()
    n_seeds = seeds if seeds is not None else (2 if quick else SEEDS)
    n_time = 600 if quick else N_TIME
    names = QUICK_PIPELINES if quick else MAIN_PIPELINES if main_only else REPEAT_PIPELINES
    on_main = {BM3D: bm3d_denoise} if bm3d else {}
    import fluorodn

    den = fluorodn.Denoiser(options=fluorodn.DenoiserOptions(threads=threads))
    pipes = pipelines(names, den)
    rows: list[dict[str, Any]] = []
    seed_list = list(range(first_seed, first_seed + n_seeds))
    for seed in seed_list:
        for rec in recordings(seed, n_time, quick, main_only):
            rows += pipeline_rows(seed, rec, {CEILING: None, **pipes, **(on_main if rec.kind == "main" else {})})
        print(f"events: seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    result = {
        "benchmark": "events",
        "mode": mode(quick, main_only),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seeds": seed_list,
        "n_time": n_time,
        "pipelines": [*names, *on_main],
        "bm3d": bm3d,
        "model": den.name,
        "model_sha256": den.sha256,
        "rows": rows,
        **tables(rows),
        "elapsed_s": time.perf_counter() - t0,
    }
    write_results(result, out_dir, RESULTS, STEMS[result["mode"]], markdown)
    return result


#: The results' file names by the run's mode.
STEMS = {"quick": "events_quick", "main": "events_main", "full": "events"}


def mode(quick: bool, main_only: bool) -> str:
    """A run's mode: ``quick``, ``main`` (the main recordings alone) or ``full``."""
    return "quick" if quick else "main" if main_only else "full"


def tables(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The tables computed from the rows: ``summary`` (:func:`summary`), ``lost``
    (:func:`lost_events`), ``warned_split`` (:func:`warned_split`) and ``against_each``
    (:func:`against_each`)."""
    summary_rows = summary(rows)
    return {"summary": summary_rows, "lost": lost_events(rows, summary_rows), "warned_split": warned_split(rows),
            "against_each": against_each(rows)}  # fmt: skip


def render(out_dir: Path | None = None, main_only: bool = False) -> dict[str, Any]:
    """Rewrite ``events.json``'s tables (its summary, lost events and warned split) and ``events.md``
    (``main_only``: ``events_main``'s) from the rows it holds, without running anything: the same
    run's figures in the current tables."""
    from benchmarks.measure import write_results

    stem = STEMS["main" if main_only else "full"]
    path = (Path(out_dir) if out_dir is not None else RESULTS) / f"{stem}.json"
    result = json.loads(path.read_text())
    result |= tables(result["rows"])
    write_results(result, path.parent, RESULTS, stem, markdown)
    return result


#: What the runs that :func:`merge` joins must share.
SAME_IN_PARTS = ("benchmark", "mode", "n_time", "pipelines", "bm3d", "model_sha256")


def run_part(res: dict[str, Any]) -> dict[str, Any]:
    """One run's seeds, date and time: an entry of a merged result's ``parts``."""
    return {"seeds": res["seeds"], "created": res["created"], "elapsed_s": res["elapsed_s"]}


def merge(paths: list[Path], out_dir: Path | None = None) -> dict[str, Any]:
    """Join the rows of several runs of this benchmark on different seeds (``--first-seed``) into one
    result, its tables computed over all of them, written as ``events.json`` and ``events.md`` (the
    runs' mode's files: ``events_main`` for ``--main-only`` runs, :data:`STEMS`): the
    figures one run over all the seeds would give, run in parts side by side. The runs must share
    :data:`SAME_IN_PARTS` (the same model, pipelines and recordings) and no seed; ``ValueError``
    otherwise."""
    from benchmarks.measure import write_results

    runs = [json.loads(Path(p).read_text()) for p in paths]
    if len(runs) < 2:
        raise ValueError("merging needs at least two runs")
    for p, r in zip(paths[1:], runs[1:], strict=True):
        differ = [k for k in SAME_IN_PARTS if r.get(k) != runs[0].get(k)]
        if differ:
            raise ValueError(f"{p} differs from {paths[0]} in {', '.join(differ)}")
    seeds = [s for r in runs for s in r["seeds"]]
    if len(set(seeds)) < len(seeds):
        shared = sorted({s for s in seeds if seeds.count(s) > 1})
        raise ValueError("the runs share seeds: " + ", ".join(map(str, shared)))
    parts = sorted((q for r in runs for q in r.get("parts", [run_part(r)])), key=lambda q: q["seeds"][0])
    rows = sorted((row for r in runs for row in r["rows"]), key=lambda row: row["seed"])  # stable: run order kept
    result = {k: runs[0][k] for k in (*SAME_IN_PARTS, "model")}
    result |= {
        "created": max(q["created"] for q in parts),
        "seeds": sorted(seeds),
        "rows": rows,
        **tables(rows),
        "elapsed_s": sum(q["elapsed_s"] for q in parts),
        "parts": parts,
    }
    write_results(result, out_dir, RESULTS, STEMS[result["mode"]], markdown)
    return result


def seed_ranges(seeds: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``"0-2, 5"``."""
    out: list[str] = []
    for s in sorted(seeds):
        if out and s == int(out[-1].split("-")[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{s}"
        else:
            out.append(str(s))
    return ", ".join(out)


def _diff(e: dict[str, Any], key: str, best: bool, digits: int, against: str | None = None) -> str:
    k = f"{key}_{against}" if against else f"{key}_best" if best else key
    return f"{e[f'{k}_diff']:+.{digits}f} ± {e[f'{k}_half_width']:.{digits}f} ({e[f'{k}_verdict']})"


def markdown(res: dict[str, Any]) -> str:
    s = res["summary"]
    n = len(res["seeds"])
    bm3d_runs = "BM3D on the main recordings only" if res.get("bm3d") else "BM3D not run"
    flag = {"quick": " --quick", "main": " --main-only"}.get(res["mode"], "")
    options = flag + (" --bm3d" if res.get("bm3d") else "")
    command = f"python -m benchmarks events{options}"
    if len(res.get("parts", [])) > 1:
        ran = "; ".join(
            f"seeds {seed_ranges(q['seeds'])} on {q['created']} in {q['elapsed_s']:.0f} s" for q in res["parts"]
        )
        when = f"`{command}` in {len(res['parts'])} parts side by side (`--first-seed`), joined by `--merge` ({ran})"
    else:
        when = f"`{command}` on {res['created']} in {res['elapsed_s']:.0f} s"
    main_only = res["mode"] == "main"
    which = (
        f"the main recordings alone, {res['n_time']} x 152, at noise {', '.join(map(str, NOISE_SCALES))}"
        if main_only
        else f"the main recordings {res['n_time']} x 152 and the stress recordings {res['n_time'] // 3} x 152"
    )
    lines = [
        "# Event detection over many main recordings" if main_only else "# Event detection over many recordings",
        "",
        f"{when}, model `{res['model']}` (sha256 {res['model_sha256'][:12]}): {n} clean recordings "
        f"of the test stream (seeds {seed_ranges(res['seeds'])}), {which}. "
        f"Baselines: every pipeline but the default (raw included; {bm3d_runs}); "
        "`best`: the one with the highest mean over the recordings, per metric. Differences: mean paired difference "
        "over the recordings with its 95 % interval (Student's t); `ahead` / `behind` where the whole interval is "
        "above / below zero, else `level`. Ceiling: the analysis on the clean recording. Warned: on how many "
        "recordings the default warned about its input (`OutOfDomainWarning`, `EventDetectionWarning`).",
        "",
        "| recording | n | warned | F1 ceiling | F1 default / raw | F1 best baseline | F1 default - raw "
        "| F1 default - best | coh default | coh default - raw | coh best baseline | coh default - best |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in s:
        lines.append(
            f"| {e['recording']} | {e['n']} | {e['default_warned']} | {e['ceiling_f1']:.3f} "
            f"| {e['f1'][DEFAULT]:.4f} / {e['f1']['raw']:.4f} "
            f"| {e['best_f1']} {e['f1'][e['best_f1']]:.4f} | {_diff(e, 'f1', False, 4)} | {_diff(e, 'f1', True, 4)} "
            f"| {e['coh'][DEFAULT]:.3f} | {_diff(e, 'coh', False, 3)} "
            f"| {e['best_coh']} {e['coh'][e['best_coh']]:.3f} | {_diff(e, 'coh', True, 3)} |"
        )
    if s and "best_target_f1" in s[0]:
        lines += [
            "",
            f"F1 against the best of the baselines the target names (raw, every Gaussian, every fixed SVD rank, "
            f"BM3D; {bm3d_runs}):",
            "",
            "| recording | best of them | its F1 | F1 default - it |",
            "|---|---|---|---|",
            *(
                f"| {e['recording']} | {e['best_target_f1']} | {e['f1'][e['best_target_f1']]:.4f} "
                f"| {_diff(e, 'f1', False, 4, 'target')} |"
                for e in s
            ),
        ]
    if res.get("against_each"):
        names = list(dict.fromkeys(p for e in res["against_each"] for p in e["pipelines"]))
        lines += [
            "",
            "F1 of the default minus each of the baselines the target names, paired over the recordings both ran on "
            "(n: how many):",
            "",
            "| recording | n | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for e in res["against_each"]:
            got = e["pipelines"]
            cells = (_against_cell(got[p], _paired_n(got)) if p in got else "-" for p in names)
            lines.append(f"| {e['recording']} | {_paired_n(got)} | " + " | ".join(cells) + " |")
    if s and "headroom" in s[0]:
        lines += [
            "",
            "What F1 there is to gain over raw: the ceiling's F1 minus raw's (mean paired difference, 95 % "
            "interval), and the share of it the default takes (its F1 minus raw's over that):",
            "",
            "| recording | F1 ceiling - raw | F1 default - raw | default's share |",
            "|---|---|---|---|",
            *(
                f"| {e['recording']} | {e['headroom']:+.4f} ± {e['headroom_half_width']:.4f} "
                f"| {e['f1_diff']:+.4f} | {_share(e['headroom_share'])} |"
                for e in s
            ),
        ]
    pipes = list(res["pipelines"])
    lines += ["", "Mean F1 of every pipeline over the same recordings:", "",
              "| recording | " + " | ".join(pipes) + " |", "|---|" + "---|" * len(pipes)]  # fmt: skip
    for e in s:
        cells = (f"{e['f1'][p]:.4f}" if p in e["f1"] else "-" for p in pipes)
        lines.append(f"| {e['recording']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Where F1 is lost: true events missed / false detections, summed over the recordings (the ceiling "
        "misses events that lie too close to another or are too small to count on the clean recording too):",
        "",
        "| recording | true events | ceiling | raw | default | best baseline |",
        "|---|---|---|---|---|---|",
    ]
    for e in res.get("lost", []):
        got = e["pipelines"]
        best = next(iter(set(got) - {CEILING, "raw", DEFAULT}), None)
        cells = [f"{got[p]['missed']} / {got[p]['false']}" for p in (CEILING, "raw", DEFAULT)]
        best_cell = f"{best} {got[best]['missed']} / {got[best]['false']}" if best else "raw"
        lines.append(f"| {e['recording']} | {e['true']} | " + " | ".join(cells) + f" | {best_cell} |")
    if res.get("warned_split"):
        lines += [
            "",
            "Where the default warned on some recordings of a condition and not on others: its F1 minus raw's on "
            "each part (does the warning pick out the recordings where events are lost?):",
            "",
            "| recording | warned on | F1 default - raw, warned | not warned | F1 default - raw, not warned |",
            "|---|---|---|---|---|",
        ]
        for e in res["warned_split"]:
            w, u = e["warned"], e["unwarned"]
            lines.append(f"| {e['recording']} | {w['n']} | {_split_cell(w)} | {u['n']} | {_split_cell(u)} |")
    return "\n".join([*lines, ""])


def _against_cell(g: dict[str, Any], most: int) -> str:
    """One :func:`against_each` cell: the difference with its 95 % half-width (the difference alone
    under two recordings, ``-`` under one), and its n where it is not the row's."""
    if g["n"] == 0:
        return "-"
    cell = f"{g['f1_diff']:+.4f}" + (f" ± {g['f1_half_width']:.4f}" if np.isfinite(g["f1_half_width"]) else "")
    return cell + (f" (n {g['n']})" if g["n"] != most else "")


def _paired_n(got: dict[str, dict[str, Any]]) -> int:
    """The most recordings any baseline of an :func:`against_each` entry was paired over."""
    return max((g["n"] for g in got.values()), default=0)


def _share(share: float) -> str:
    return f"{100 * share:.0f} %" if np.isfinite(share) else "-"


def _split_cell(part: dict[str, Any]) -> str:
    if part["n"] < 2:
        return f"{part['f1_diff']:+.4f}"
    return f"{part['f1_diff']:+.4f} ± {part['f1_half_width']:.4f} ({part['f1_verdict']})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks events", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds of 2-minute recordings, 5 pipelines (< 1 min)")
    ap.add_argument("--seeds", type=int, default=None, help=f"clean recordings (default {SEEDS}; 2 with --quick)")
    ap.add_argument("--first-seed", type=int, default=0, help="the first clean recording's seed (default 0)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--bm3d", action="store_true", help="BM3D too, on the main recordings (about 30 s each)")
    ap.add_argument(
        "--main-only",
        action="store_true",
        help="the main recordings alone, with the default and the baselines the target names but BM3D "
        "(about 11 s a seed): many seeds for a small difference; writes events_main",
    )
    ap.add_argument("--threads", type=int, default=None, help="the default's CPU threads (runs side by side: 1)")
    ap.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="EVENTS_JSON",
        help="join the rows of runs on different seeds into one events.json and events.md (events_main for "
        "--main-only runs), running nothing",
    )
    ap.add_argument(
        "--render",
        action="store_true",
        help="rewrite the tables of the last run's events.json and events.md (with --main-only: events_main) "
        "from its rows, running nothing",
    )
    args = ap.parse_args(argv)
    if args.render:
        render(args.out, args.main_only)
        return 0
    if args.merge:
        if args.quick or args.bm3d or args.main_only or args.seeds is not None or args.first_seed or args.threads:
            ap.error("--merge runs nothing: it takes only the runs' files and --out")
        try:
            merge(args.merge, args.out)
        except (OSError, ValueError, KeyError) as e:
            ap.error(f"cannot merge: {e}")
        return 0
    if args.seeds is not None and args.seeds < 2:
        ap.error("--seeds must be at least 2 (a paired interval needs two recordings)")
    if args.quick and args.main_only:
        ap.error("--quick and --main-only are two different runs: give one")
    run(args.quick, args.out, args.seeds, args.bm3d, args.first_seed, args.main_only, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
