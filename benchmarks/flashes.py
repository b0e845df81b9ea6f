"""Brief flashes: does the default keep a sudden change it takes in part for noise, and say so?

A flash of light reaching the fiber for one exposure (a stimulation artifact, room light, a
light source's glitch) raises every bin of one sample by a share of the recording's light. The
spectral network, trained on sparse releases, hemodynamics and movement steps, takes part of a
one-sample change across the spectrum for noise and removes it, spreading the rest over the
samples around. :func:`fluorodn.spectral.brief_changes` marks the samples where what was removed
stands far above its own spread; :func:`fluorodn.spectral.keep_brief` keeps them as recorded over
a denoising of the recording without them, and :meth:`fluorodn.Denoiser.run` warns
(``OutOfDomainWarning``), naming them. This measures

1. the events benchmark's main recordings (noise 0.2, 0.4 and 0.8, 10 minutes at 5 Hz, 152 bins)
   with :data:`FLASHES` one-sample flashes of :data:`FACTORS` times the light: the flash samples'
   error over raw (squared error against the clean recording with its flashes), the samples
   around them, the whole recording's, each with and without keeping (the first denoising
   alone), and whether the default warned of the flashes (and named them);
2. recordings of the training domain and of every other benchmark (those of the oscillations
   benchmark: the events benchmark's main, stress and small-event recordings, the quality
   benchmark's stress recordings, draws of the widened generator): how often the check fires
   there, the largest score over its limit, and where it fires what keeping does;
3. what the check costs beside the whole run, on a 2.5-hour recording.

Run::

    python -m benchmarks flashes [--quick] [--out DIR]
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import check_cost_line, quick_out_main, write_results

RESULTS = Path(__file__).resolve().parent / "results"
#: Flash sizes: the flash sample's light is this many times the recording's there.
FACTORS = (1.05, 1.1, 1.2, 1.3, 1.5, 2.0)
#: Flashes per recording, spread over it (none within the network's reach of an end).
FLASHES = 5
SEEDS = 2
SAMPLES = 3000
#: A flash sample within this many samples of one the warning names counts as named.
NAMED_WITHIN = 2
#: Samples on either side of a flash whose error is measured apart ("near").
NEAR = 4


def _flash_rows(t: int) -> np.ndarray:
    return np.linspace(0, t, FLASHES + 2).astype(int)[1:-1]


def with_flashes(noisy: np.ndarray, clean: np.ndarray, dark: np.ndarray, factor: float) -> tuple[np.ndarray, ...]:
    """(noisy, clean, rows): the recording with its light (``clean`` less the detector's ``dark``
    level) ``factor`` times as bright at :data:`FLASHES` samples, ``rows``."""
    rows = _flash_rows(len(clean))
    extra = np.zeros_like(clean)
    extra[rows] = (factor - 1.0) * (clean[rows] - dark)
    return noisy + extra, clean + extra, rows


def _warned_rows(messages: list[str]) -> list[int]:
    """The sample indices the sudden-change warning names (none if it did not warn)."""
    import re

    for m in messages:
        if "sudden change" in m and (found := re.search(r"at samples? ([\d, .-]+)", m)):
            return [int(v) for v in re.findall(r"\d+", found.group(1))]
    return []


def over_raw(out: np.ndarray, noisy: np.ndarray, clean: np.ndarray, where: Any) -> float:
    """Squared error of ``out`` against ``clean`` over ``noisy``'s, on the samples ``where``."""
    return float(((out - clean) ** 2)[where].mean() / ((noisy - clean) ** 2)[where].mean())


def _first_pass(den: Any, x: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(scores, limit, output): :func:`fluorodn.spectral.brief_scores` of the default's first
    denoising of ``x``, and its output with nothing kept (:func:`fluorodn.spectral.keep_brief`
    left out)."""
    from unittest import mock

    from fluorodn import spectral

    seen: list[tuple[np.ndarray, float]] = []

    def first_only(
        coef: np.ndarray, first: np.ndarray, run: Any, traces: Any = None, *_: Any
    ) -> tuple[np.ndarray, ...]:
        seen.append(spectral.brief_scores(coef, first, traces))
        return first, np.zeros(len(first), bool)

    with mock.patch.object(spectral, "keep_brief", first_only), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = np.asarray(den.run(x), np.float64)
    (scores, limit), *_ = seen
    return scores, limit, y


def flash_rows(quick: bool) -> list[dict[str, Any]]:
    """Part 1: flashes in the events benchmark's main recordings."""
    from benchmarks import events
    from benchmarks.oscillations import _run
    from fluorodn import Denoiser

    den = Denoiser()
    rows = []
    for seed in range(1 if quick else SEEDS):
        for rec in events.recordings(seed, 1200 if quick else SAMPLES, quick, main_only=True):
            for factor in FACTORS[2:4] if quick else FACTORS:
                noisy, clean, at = with_flashes(rec.noisy, rec.clean, rec.dark, factor)
                x = noisy.astype(np.float32)
                y, messages = _run(den, x)
                _, _, y0 = _first_pass(den, x)
                named = _warned_rows(messages)
                near = np.zeros(len(x), bool)
                for a in at:
                    near[max(0, a - NEAR) : a + NEAR + 1] = True
                near[at] = False
                rows.append({
                    "seed": seed, "recording": rec.name, "factor": factor,
                    "flash_error_over_raw": over_raw(y, noisy, clean, at),
                    "near_error_over_raw": over_raw(y, noisy, clean, near),
                    "error_over_raw": over_raw(y, noisy, clean, slice(None)),
                    "unkept_flash_error_over_raw": over_raw(y0, noisy, clean, at),
                    "unkept_near_error_over_raw": over_raw(y0, noisy, clean, near),
                    "warned": bool(named),
                    "named": int(sum(any(abs(a - n) <= NAMED_WITHIN for n in named) for a in at)),
                    "other_warnings": sum("sudden change" not in m for m in messages),
                })  # fmt: skip
                print(f"flashes: seed {seed} {rec.name} x{factor:g}: flash rows {rows[-1]['flash_error_over_raw']:.2f} "
                      f"x raw ({rows[-1]['unkept_flash_error_over_raw']:.2f} unkept), warned {rows[-1]['warned']}",
                      flush=True)  # fmt: skip
    return rows


def in_domain_rows(quick: bool) -> list[dict[str, Any]]:
    """Part 2: the check on recordings of the training domain and of the other benchmarks; where it
    keeps samples as recorded, their error over raw with and without keeping them."""
    from benchmarks.oscillations import _run, in_domain_recordings
    from fluorodn import Denoiser

    den = Denoiser()
    rows = []
    for name, x, clean in in_domain_recordings(quick):
        x = np.asarray(x, np.float32)
        y, messages = _run(den, x)
        scores, limit, y0 = _first_pass(den, x)
        named = _warned_rows(messages)
        row = {"recording": name, "samples": len(x), "bins": x.shape[1], "score": float(scores.max()),
               "limit": limit, "warned": bool(named)}  # fmt: skip
        if named:
            kept = np.flatnonzero(scores > limit)
            row |= {"kept_error_over_raw": over_raw(y, x, clean, kept),
                    "unkept_error_over_raw": over_raw(y0, x, clean, kept),
                    "error_over_raw": over_raw(y, x, clean, slice(None)),
                    "unkept_recording_error_over_raw": over_raw(y0, x, clean, slice(None))}  # fmt: skip
        rows.append(row)
    return rows


def cost(quick: bool) -> dict[str, float]:
    """Part 3: the check (:func:`fluorodn.spectral.brief_changes` on the whole recording's traces)
    beside a whole run of the default, fastest of 3, on a 2.5-hour recording (44156 x 152;
    ``quick``: 16000)."""
    from benchmarks import events
    from fluorodn import Denoiser, spectral

    den = Denoiser()
    rec = events.recordings(0, 16000 if quick else 44156, True, main_only=True)[0]
    x = rec.noisy.astype(np.float32)
    proj = spectral.project(x, den.channels)
    traces = den._denoised_traces(proj)
    signal = np.ones(proj.components, bool) if proj.signal is None else proj.signal
    run_s, check_s = np.inf, np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        den.run(x)
        run_s = min(run_s, time.perf_counter() - t0)
        t0 = time.perf_counter()
        spectral.brief_changes(proj.coef, traces, signal)
        check_s = min(check_s, time.perf_counter() - t0)
    return {"samples": len(x), "run_s": run_s, "check_s": check_s}


def run(quick: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    from fluorodn import spectral

    t0 = time.perf_counter()
    result = {
        "benchmark": "flashes",
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "times": spectral.BRIEF_TIMES,
        "false_alarm": spectral.BRIEF_FALSE_ALARM,
        "flashes": flash_rows(quick),
        "in_domain": in_domain_rows(quick),
        "cost": cost(quick),
    }
    result["elapsed_s"] = time.perf_counter() - t0
    write_results(result, out_dir, RESULTS, "flashes_quick" if quick else "flashes", markdown)
    return result


def markdown(res: dict[str, Any]) -> str:
    rows = res["flashes"]
    lines = [
        "# Brief flashes: kept as recorded, and told",
        "",
        f"`python -m benchmarks flashes{' --quick' if res['mode'] == 'quick' else ''}` on {res['created']} in "
        f"{res['elapsed_s']:.0f} s. The events benchmark's main recordings ({rows[0]['recording']} and the others, "
        f"{SAMPLES} samples x 152 bins at 5 Hz, seeds 0-{SEEDS - 1}), with {FLASHES} one-sample flashes raising the "
        "light (the recording less the detector's dark level) of every bin by a factor. Flash rows: the flash samples' "
        "squared error against the clean recording with its flashes, over raw's; recording: the same over all samples. "
        f"Near: the same on the {NEAR} samples either side of each flash. Unkept: the default with nothing kept as "
        "recorded (its first denoising alone). Warned: on how many recordings the default's sudden-change warning "
        "fired (and kept samples as recorded); named: the share of flash samples it named. The check marks a sample "
        "whose removed coefficients' sum of squares (each trace over its robust "
        f"spread) passes {res['times']:g} x the chi-square level of a false alarm rate {res['false_alarm']:g} per "
        "sample.",
        "",
        "| noise | factor | flash rows / raw | near / raw | unkept: flash rows / raw | unkept: near / raw | "
        "recording / raw | warned | named |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def span(rs: list[dict[str, Any]], key: str) -> str:
        return f"{min(r[key] for r in rs):.2f}-{max(r[key] for r in rs):.2f}"

    for name, factor in dict.fromkeys((r["recording"], r["factor"]) for r in rows):
        rs = [r for r in rows if (r["recording"], r["factor"]) == (name, factor)]
        named = sum(r["named"] for r in rs) / (FLASHES * len(rs))
        lines.append(
            f"| {name} | {factor:g} | {span(rs, 'flash_error_over_raw')} | {span(rs, 'near_error_over_raw')} | "
            f"{span(rs, 'unkept_flash_error_over_raw')} | {span(rs, 'unkept_near_error_over_raw')} | "
            f"{np.mean([r['error_over_raw'] for r in rs]):.4f} | {sum(r['warned'] for r in rs)} / {len(rs)} | "
            f"{named:.0%} |"
        )
    quiet = [r for r in rows if not r["warned"]]
    if quiet:
        worst = max(quiet, key=lambda r: r["flash_error_over_raw"])
        lines += [
            "",
            f"Not warned (nothing kept): {len(quiet)} of {len(rows)}; the worst flash rows there "
            f"{worst['flash_error_over_raw']:.2f} x raw ({worst['recording']}, factor {worst['factor']:g}).",
        ]
    dom = res["in_domain"]
    lines += ["", "**In-domain recordings** (the check should not fire; where it does, what keeping does there):", "",
              "| recordings | n | largest score / limit | warned |", "|---|---|---|---|"]  # fmt: skip
    for group in dict.fromkeys(r["recording"].split(":")[0] for r in dom):
        rs = [r for r in dom if r["recording"].split(":")[0] == group]
        top = max(r["score"] / r["limit"] for r in rs)
        lines.append(f"| {group} | {len(rs)} | {top:.2f} | {sum(r['warned'] for r in rs)} |")
    for r in (r for r in dom if r["warned"]):
        lines.append(
            f"\nWarned on a {r['recording']} recording ({r['samples']} x {r['bins']}): the samples it marked "
            f"{r['kept_error_over_raw']:.2f} x raw's error kept as recorded, {r['unkept_error_over_raw']:.2f} x "
            f"without keeping; the recording {r['error_over_raw']:.4f} x and "
            f"{r['unkept_recording_error_over_raw']:.4f} x."
        )
    lines += ["", check_cost_line(res["cost"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return quick_out_main(
        argv, "flashes", __doc__.splitlines()[0], lambda quick, out: print(markdown(run(quick, out))),
        "a few short recordings (< 1 min)",
    )  # fmt: skip
