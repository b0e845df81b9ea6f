"""Other settings of the weaker run at the events' onsets, on recordings apart from the benchmarks'.

``python -m benchmarks onsets [--quick] [--out DIR]`` writes ``onsets.md`` and ``onsets.json``. The
default takes a weaker run's output around the large changes of the traces that change sparsely
(``DenoiserOptions.keep_onsets``; :data:`fluorodn.spectral.ONSET_STRENGTH`, ``ONSET_WIDTH`` and
``ONSET_SDS`` set where and how much). On the main recordings at noise 0.2 and 0.4 of
:data:`SEEDS` clean recordings of the test stream that no other benchmark reads, each setting of
:data:`SETTINGS` runs beside the shipped one and raw: event F1 (mean paired difference to the
shipped setting and to raw, with its 95 % interval, Student's t over recordings), PSNR and
coherence 0-2.5 Hz. Settings of the spectral module's constants are restored after each run.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train.evaluation import recordings as R

from benchmarks.events import verdict
from benchmarks.measure import run_record, write_results
from benchmarks.repeats import interval

RESULTS = Path(__file__).resolve().parent / "results"
#: Clean recordings of the test stream read by no other benchmark (the events benchmark reads 0-71).
SEEDS = tuple(range(100, 116))
N_TIME = 9000
NOISE_SCALES = (0.2, 0.4)
RAW = "raw"
SHIPPED = "shipped"
#: Each setting: the spectral module's onset constants it changes, and ``DenoiserOptions`` it gives.
SETTINGS: dict[str, dict[str, Any]] = {
    SHIPPED: {},
    "ONSET_STRENGTH 0.3": {"ONSET_STRENGTH": 0.3},
    "ONSET_STRENGTH 0.05": {"ONSET_STRENGTH": 0.05},
    "ONSET_WIDTH 5": {"ONSET_WIDTH": 5},
    "ONSET_SDS 2.5": {"ONSET_SDS": 2.5},
    "--strength 0.8": {"strength": 0.8},
}
CONSTANTS = ("ONSET_STRENGTH", "ONSET_WIDTH", "ONSET_SDS")


@contextlib.contextmanager
def onset_constants(**given: Any) -> Iterator[None]:
    """The spectral module's onset constants set to ``given`` for the block, restored after it."""
    from fluorodn import spectral

    before = {k: getattr(spectral, k) for k in CONSTANTS}
    try:
        for k, v in given.items():
            setattr(spectral, k, v)
        yield
    finally:
        for k, v in before.items():
            setattr(spectral, k, v)


def denoisers(settings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One ``fluorodn.Denoiser`` per setting, with the setting's ``DenoiserOptions`` (its onset
    constants are set around each run, :func:`outputs`)."""
    import fluorodn

    return {
        name: fluorodn.Denoiser(
            options=fluorodn.DenoiserOptions(**{k: v for k, v in setting.items() if k not in CONSTANTS})
        )
        for name, setting in settings.items()
    }


def outputs(rec: R.Recording, settings: dict[str, dict[str, Any]], dens: dict[str, Any]) -> dict[str, np.ndarray]:
    """Raw and every setting's output on ``rec`` (its denoiser ``dens[name]``), in counts."""
    out = {RAW: rec.to_counts(rec.noisy)}
    for name, setting in settings.items():
        with onset_constants(**{k: v for k, v in setting.items() if k in CONSTANTS}), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[name] = rec.to_counts(dens[name].run(rec.noisy))
    return out


def run(
    seeds: tuple[int, ...] = SEEDS,
    noise_scales: tuple[float, ...] = NOISE_SCALES,
    n_time: int = N_TIME,
    settings: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    settings = SETTINGS if settings is None else settings
    t0 = time.perf_counter()
    dens = denoisers(settings)
    rows = []
    for seed in seeds:
        for rec in R.make_recordings(n_time, noise_scales, seed=seed):
            for name, y in outputs(rec, settings, dens).items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m, _, _ = R.analyse(rec, y)
                rows.append({"seed": seed, "recording": rec.name, "setting": name, "f1": m["ev_f1"],
                             "psnr": m["psnr"], "coh": m["coh_mean_0_2.5hz"]})  # fmt: skip
    den = dens[SHIPPED]
    return {
        **run_record(t0, den),
        "seeds": list(seeds),
        "n_time": n_time,
        "settings": settings,
        "rows": rows,
        "summary": summary(rows),
    }


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recording and setting: mean F1, PSNR and coherence, and the F1 difference to the shipped
    setting and to raw with its 95 % half-width."""
    out = []
    for rec in dict.fromkeys(r["recording"] for r in rows):
        mine = [r for r in rows if r["recording"] == rec]
        by = {(r["setting"], r["seed"]): r for r in mine}
        seeds = sorted({r["seed"] for r in mine})
        for name in dict.fromkeys(r["setting"] for r in mine):
            f1 = np.array([by[name, s]["f1"] for s in seeds])
            d_shipped = interval(f1 - np.array([by[SHIPPED, s]["f1"] for s in seeds]))
            d_raw = interval(f1 - np.array([by[RAW, s]["f1"] for s in seeds]))
            out.append({
                "recording": rec, "setting": name, "n": len(seeds), "f1": float(f1.mean()),
                "f1_shipped_diff": d_shipped[0], "f1_shipped_half": d_shipped[1],
                "f1_raw_diff": d_raw[0], "f1_raw_half": d_raw[1],
                "psnr": float(np.mean([by[name, s]["psnr"] for s in seeds])),
                "coh": float(np.mean([by[name, s]["coh"] for s in seeds])),
            })  # fmt: skip
    return out


def _diff(s: dict[str, Any], against: str) -> str:
    """The F1 difference of summary row ``s`` to ``against``'s, or ``-`` on ``against``'s own row."""
    if s["setting"] == against:
        return "-"
    mean, half = s[f"f1_{against}_diff"], s[f"f1_{against}_half"]
    return f"{mean:+.4f} ± {half:.4f} ({verdict(mean, half)})"


def markdown(res: dict[str, Any]) -> str:
    seeds = res["seeds"]
    lines = [
        "# The weaker run at the events' onsets: other settings",
        "",
        f"`{res.get('command', 'python -m benchmarks onsets')}` on {res['generated']} in {res['seconds']:.0f} s, "
        f"model `{res['model']}` (sha256 {res['model_sha256'][:12]}): the main recordings ({res['n_time']} x 152) of "
        f"{len(seeds)} clean recordings of the test stream that no other benchmark reads "
        f"(seeds {seeds[0]}-{seeds[-1]}). "
        "Each setting changes the spectral module's onset constants (`ONSET_STRENGTH`: the weaker run's strength "
        "relative to the run's own; `ONSET_WIDTH`: samples on each side of a large change; `ONSET_SDS`: how many "
        "robust standard deviations make a change large) or the run's `DenoiserOptions`; `shipped` is the default. "
        "F1 differences: mean paired difference with its 95 % interval (Student's t), `ahead` / `behind` where the "
        "whole interval is above / below zero.",
        "",
    ]
    for rec in dict.fromkeys(s["recording"] for s in res["summary"]):
        lines += [f"## {rec}", "", "| setting | F1 | F1 - shipped | F1 - raw | PSNR (dB) | coherence 0-2.5 Hz |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for s in (s for s in res["summary"] if s["recording"] == rec):
            lines.append(
                f"| {s['setting']} | {s['f1']:.4f} | {_diff(s, SHIPPED)} | {_diff(s, RAW)} "
                f"| {s['psnr']:.2f} | {s['coh']:.4f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks onsets", description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, noise 0.4, 1200 samples, two settings")
    ap.add_argument("--out", default=None, help="folder for the result files (default benchmarks/results)")
    args = ap.parse_args(argv)
    if args.quick:
        quick = {k: SETTINGS[k] for k in (SHIPPED, "ONSET_STRENGTH 0.3")}
        res = run(SEEDS[:2], (0.4,), 1200, quick)
    else:
        res = run()
    res["command"] = " ".join(["python -m benchmarks onsets", *(argv if argv is not None else sys.argv[1:])])
    print(write_results(res, args.out, RESULTS, "onsets_quick" if args.quick else "onsets", markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
