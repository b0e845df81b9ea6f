"""Samples taken with the light off: at a recording's start or end, or in between.

Acquisition software often records a few samples before the light source is on (or after it is
off), and the light may be off for a while during a recording. Those rows are the detector's dark
level and noise, not the spectrum. The spectral path sets them aside
(:func:`fluorodn.spectral.lit_mask`): they are returned as recorded and the lit samples are
denoised as one recording, in order. This measures

1. how :func:`~fluorodn.spectral.lit_mask` reads recordings of the widened generator (8-6000
   samples, 40-600 bins, noise 0.1-1.5): lit recordings with samples taken for dark, recordings
   with 1-20 dark samples first and 0-5 last, and recordings with 1-20 dark samples in between,
   whose dark samples it does not find exactly; and lit recordings whose excitation was turned
   down for their last third, which read as light off where the drop is deep enough and the
   stretch no longer than :data:`~fluorodn.spectral.DARK_LONGEST`, were their mean spectrum flat;
2. 10-minute recordings (3000 x 152) with 1, 2, 5 or 20 dark samples first, or 1, 5, 20, 100 or
   600 in the middle: the error over raw of the dark samples, of the 20 lit samples on each side
   of them and of the rest, with the dark samples set aside (the default; 600 is longer than
   :data:`~fluorodn.spectral.DARK_LONGEST`, so the default projects it too) and projected with the
   rest (what the path does without :func:`~fluorodn.spectral.lit_mask`), whether it warned
   (``OutOfDomainWarning``) and whether it named them (``LightOffNotice``);
3. what finding them costs beside the whole run, on a 2.5-hour recording;
4. more than half of the rows dark (light off two samples of three, or every other sample and for
   300 samples at the start or 200 at the end): how often those rows are found exactly, how often the same
   rows read as light off where they keep the spectrum instead (dimmed to 30 %, the others 1.6 x
   brighter, or a narrow line of leaking light added to the others), and on 10-minute recordings
   the lit samples' error over raw with the dark ones set aside and projected with the rest.

Run::

    python -m benchmarks dark [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from benchmarks.measure import fastest, write_results

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 13
#: Recordings of each kind read by :func:`~fluorodn.spectral.lit_mask` (``--quick``: 20).
READS = 300
#: Dark samples first of the 10-minute recordings, and in their middle (from sample
#: :data:`MIDDLE`), each drawn ``DRAWS`` times (``--quick``: 1).
DARK = (1, 2, 5, 20)
INSIDE = (1, 5, 20, 100, 600)
MIDDLE = 1500
DRAWS = 4
#: Read noise of the dark rows, counts (drawn per recording).
READ_NOISE = (1.0, 15.0)
#: Lit samples on each side of the dark ones reported on their own.
NEAR = 20


def _draw(rng: np.random.Generator, t: int, w: int, noise: float) -> Any:
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    return make_instance(rng, t, w, noise, signal=WIDE)


#: Noise scales of the recordings read for dark rows (drawn log-uniformly).
WIDE_NOISE = (0.1, 1.5)


def _noise(rng: np.random.Generator) -> float:
    """A noise scale drawn log-uniformly from :data:`WIDE_NOISE`."""
    return float(np.exp(rng.uniform(*np.log(WIDE_NOISE))))


def darken(
    rng: np.random.Generator,
    inst: Any,
    first: int,
    last: int,
    read: float | None = None,
    gap: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, np.ndarray]:
    """(noisy float32, clean) of a generator instance with its first ``first`` and last ``last``
    samples taken without light, and the ``gap[1]`` samples from ``gap[0]``: the detector's level
    (their truth) plus ``read`` counts of read noise (drawn from :data:`READ_NOISE` if None)."""
    x, clean = inst.noisy.astype(np.float32), inst.clean.copy()
    t, w = x.shape
    rows = np.r_[0:first, gap[0] : gap[0] + gap[1], t - last : t]
    clean[rows] = (inst.truth.clean - inst.truth.photons)[rows]
    sd = rng.uniform(*READ_NOISE) if read is None else read
    x[rows] = clean[rows] + rng.normal(0.0, sd, (len(rows), w))
    return x, clean


def reads(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """Part 1: lit recordings with samples taken for dark, and dark samples (at the ends, or in
    between) not found exactly."""
    from fluorodn import spectral

    def expected(t: int, rows: Any) -> np.ndarray:
        dark = np.zeros(t, bool)
        dark[rows] = True
        return dark

    false, missed, inside = [], [], []
    for _ in range(n):
        t, w = int(rng.integers(8, 6001)), int(rng.integers(40, 601))
        inst = _draw(rng, t, w, _noise(rng))
        if (dark := ~spectral.lit_mask(inst.noisy)).any():
            false.append({"samples": t, "bins": w, "dark": np.flatnonzero(dark)[:20].tolist()})
    for _ in range(n):
        t, w = int(rng.integers(40, 6001)), int(rng.integers(40, 601))
        first, last = int(rng.integers(1, min(20, t // 4) + 1)), int(rng.integers(0, 6))
        x, _ = darken(rng, _draw(rng, t, w, _noise(rng)), first, last)
        if not np.array_equal(~spectral.lit_mask(x), expected(t, np.r_[0:first, t - last : t])):
            missed.append({"samples": t, "bins": w, "first": first, "last": last})
    for _ in range(n):
        t, w = int(rng.integers(40, 6001)), int(rng.integers(40, 601))
        length = int(rng.integers(1, min(20, t // 4) + 1))
        start = int(rng.integers(t // 8, 7 * t // 8 - length + 1))
        x, _ = darken(rng, _draw(rng, t, w, _noise(rng)), 0, 0, gap=(start, length))
        if not np.array_equal(~spectral.lit_mask(x), expected(t, np.s_[start : start + length])):
            inside.append({"samples": t, "bins": w, "start": start, "length": length})
    return {"recordings": n, "lit_taken_for_dark": false, "dark_not_found": missed, "inside_not_found": inside}


#: Excitation turned down for the last third of a lit recording: the share of its brightness kept.
TURNED_DOWN = (0.9, 0.8, 0.7, 0.6, 0.5)


def turned_down(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """Part 1b: lit recordings of the widened generator (600-6000 samples, 40-600 bins) whose
    excitation was turned down for their last third (the fluorescence above the detector's level
    scaled by each of :data:`TURNED_DOWN`): how many read as partly taken with the light off, of
    those whose last third is at most :data:`~fluorodn.spectral.DARK_LONGEST` samples and of the
    others. Brightness alone would take a deep enough drop over a short enough stretch for dark;
    the rows keep the spectrum's shape, which the rule also reads."""
    from fluorodn import spectral

    out = []
    for keep in TURNED_DOWN:
        counts = {"short": [0, 0], "long": [0, 0]}  # [read as off, recordings]
        for _ in range(n):
            t, w = int(rng.integers(600, 6001)), int(rng.integers(40, 601))
            inst = _draw(rng, t, w, _noise(rng))
            level = inst.truth.clean - inst.truth.photons  # the detector's level without light
            x = inst.noisy.astype(np.float64)
            start = 2 * t // 3
            x[start:] = level[start:] + keep * (x[start:] - level[start:])
            kind = counts["short" if t - start <= spectral.DARK_LONGEST else "long"]
            kind[0] += bool((~spectral.lit_mask(x)).any())
            kind[1] += 1
        out.append({"kept": keep} | {f"{k}_read_as_off": v[0] for k, v in counts.items()}
                   | {f"{k}_recordings": v[1] for k, v in counts.items()})  # fmt: skip
    return out


def _errors(x: np.ndarray, y: np.ndarray, clean: np.ndarray, start: int, length: int) -> dict[str, float]:
    def ratio(rows: Any) -> float:
        return float(np.sqrt(np.mean((y[rows] - clean[rows]) ** 2) / np.mean((x[rows] - clean[rows]) ** 2)))

    stop = start + length
    near = np.r_[max(start - NEAR, 0) : start, stop : stop + NEAR]
    rest = np.ones(len(x), bool)
    rest[max(start - NEAR, 0) : stop + NEAR] = False
    return {"dark": ratio(np.s_[start:stop]), "near": ratio(near), "rest": ratio(rest)}


def recordings(rng: np.random.Generator, draws: int) -> list[dict[str, Any]]:
    """Part 2: 10-minute recordings with dark samples first or in the middle, set aside and
    projected with the rest."""
    import fluorodn
    from fluorodn import spectral
    from fluorodn.errors import LightOffNotice, OutOfDomainWarning

    den = fluorodn.Denoiser(device="cpu")
    rows = []
    for where, lengths in (("first", DARK), ("inside", INSIDE)):
        for length in lengths:
            for _ in range(draws):
                inst = _draw(rng, 3000, 152, float(rng.uniform(0.2, 0.8)))
                start = 0 if where == "first" else MIDDLE
                if where == "first":
                    x, clean = darken(rng, inst, length, 0)
                else:
                    x, clean = darken(rng, inst, 0, 0, gap=(start, length))
                row: dict[str, Any] = {"where": where, "samples": length}
                for name, mask in (("set aside", spectral.set_aside), ("projected", _all_lit)):
                    with mock.patch.object(spectral, "set_aside", mask), warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        y = den.run(x)
                    row[name] = _errors(x, y, clean, start, length) | {
                        "warned": any(issubclass(c.category, OutOfDomainWarning) for c in caught),
                        "noticed": any(issubclass(c.category, LightOffNotice) for c in caught),
                    }
                rows.append(row)
    return rows


def _all_lit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~fluorodn.spectral.set_aside` with every row lit: the dark rows projected with the rest."""
    return np.ones(len(x), bool), np.zeros(len(x), bool)


#: The recording the cost of reading the dark rows is timed on (``--quick``: 4000 samples): 2.5 h at 5 Hz.
COST_SHAPE = (44156, 152)


def cost(rng: np.random.Generator, samples: int) -> dict[str, float]:
    """Part 3: seconds of :func:`~fluorodn.spectral.set_aside` (the light-off rows of
    :func:`~fluorodn.spectral.lit_mask`, and the saturated ones) and of the whole in-process
    ``Denoiser().run`` on one recording of ``samples`` x 152 (fastest of 20 and of 3, same process)."""
    import fluorodn
    from fluorodn import spectral

    x = _draw(rng, samples, COST_SHAPE[1], 0.4).noisy.astype(np.float32)
    den = fluorodn.Denoiser(device="cpu")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = fastest(lambda: den.run(x), 3)
    return {"samples": samples, "lit_mask_s": fastest(lambda: spectral.set_aside(x), 20), "run_s": run}


#: Patterns of more than half of the rows dark (part 4): a name and the dark mask of ``t`` rows.
MAJORITY = {
    "two of three": lambda t: np.arange(t) % 3 != 0,
    "every other, and the first 300": lambda t: (np.arange(t) % 2 == 1) | (np.arange(t) < 300),
    "every other, and the last 200": lambda t: (np.arange(t) % 2 == 1) | (np.arange(t) >= t - 200),
}


def majority(rng: np.random.Generator, n: int, draws: int) -> dict[str, Any]:
    """Part 4: more than half of the rows dark, read by :func:`~fluorodn.spectral.lit_mask` on ``n``
    recordings of the widened generator per pattern (600-6000 samples, 40-600 bins), the same rows
    keeping the spectrum instead, and ``draws`` 10-minute recordings per pattern denoised with the
    dark rows set aside and projected."""
    import fluorodn
    from fluorodn import spectral

    found: dict[str, list[int]] = {}
    kept: dict[str, list[int]] = {"dimmed to 30 %": [0, 0], "others 1.6 x brighter": [0, 0],
                                  "a line leaking into the others": [0, 0]}  # fmt: skip
    for name, pattern in MAJORITY.items():
        found[name] = [0, 0]
        for _ in range(n):
            t, w = int(rng.integers(600, 6001)), int(rng.integers(40, 601))
            inst = _draw(rng, t, w, _noise(rng))
            dark = pattern(t)
            level = inst.truth.clean - inst.truth.photons
            x = inst.noisy.astype(np.float64)
            found[name][0] += bool(np.array_equal(~spectral.lit_mask(darken_rows(rng, inst, dark)), dark))
            found[name][1] += 1
            dim, bright, leak = x.copy(), x.copy(), x.copy()
            dim[dark] = level[dark] + 0.3 * (x[dark] - level[dark])
            bright[~dark] = level[~dark] + 1.6 * (x[~dark] - level[~dark])
            leak[~dark] += 3.0 * x.mean() * np.exp(-0.5 * ((np.arange(w) - w // 7) / 2.0) ** 2)
            for key, y in zip(kept, (dim, bright, leak), strict=True):
                kept[key][0] += bool((~spectral.lit_mask(y)).any())
                kept[key][1] += 1
    den = fluorodn.Denoiser(device="cpu")
    errors: dict[str, dict[str, list[float]]] = {}
    for name, pattern in MAJORITY.items():
        errors[name] = {"set aside": [], "projected": []}
        for _ in range(draws):
            inst = _draw(rng, 3000, 152, float(rng.uniform(0.2, 0.8)))
            dark = pattern(3000)
            x = darken_rows(rng, inst, dark)
            lit = ~dark
            for key, mask in (("set aside", spectral.set_aside), ("projected", _all_lit)):
                with mock.patch.object(spectral, "set_aside", mask), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    y = den.run(x)
                errors[name][key].append(
                    float(np.sqrt(np.mean((y[lit] - inst.clean[lit]) ** 2) / np.mean((x[lit] - inst.clean[lit]) ** 2)))
                )
    return {"found": found, "kept": kept, "errors": errors}


def darken_rows(rng: np.random.Generator, inst: Any, dark: np.ndarray) -> np.ndarray:
    """The noisy recording of a generator instance with the ``dark`` rows taken without light (the
    detector's level and 1-15 counts of read noise), float32."""
    x = inst.noisy.astype(np.float32)
    level = inst.truth.clean - inst.truth.photons
    x[dark] = level[dark] + rng.normal(0.0, rng.uniform(*READ_NOISE), (int(dark.sum()), x.shape[1]))
    return x


def render(res: dict[str, Any]) -> str:
    from fluorodn import spectral

    r = res["reads"]
    lines = [
        "# Samples taken with the light off",
        "",
        f"`python -m benchmarks dark{' --quick' if res['quick'] else ''}` on {res['date']} in {res['seconds']:.0f} s. "
        "The spectral path returns the samples taken with the light off (at a recording's start or end, or in "
        "between) as recorded and denoises the lit samples as one recording, in order "
        "(`fluorodn.spectral.lit_mask`).",
        "",
        f"**Reading them.** Of {r['recordings']} lit recordings of the widened generator (8-6000 samples, 40-600 "
        f"bins, noise 0.1-1.5), {len(r['lit_taken_for_dark'])} had samples taken for dark. Dark samples (the "
        "detector's level and 1-15 counts of read noise) not found exactly: "
        f"{len(r['dark_not_found'])} of {r['recordings']} recordings with 1-20 dark samples first and 0-5 last; "
        f"{len(r['inside_not_found'])} of {r['recordings']} with 1-20 dark samples in between.",
        "",
        "**What else reads as light off.** Rows apart by their brightness are taken as dark only where their mean "
        "holds no spectrum (`fluorodn.spectral._no_spectrum`). Lit recordings (600-6000 samples) whose excitation "
        "was turned down for their last third, the fluorescence above the detector's level scaled to: "
        + ", ".join(
            f"{d['kept']:.0%}: {d['short_read_as_off']} of {d['short_recordings']} where that third is at most "
            f"{spectral.DARK_LONGEST} samples, {d['long_read_as_off']} of {d['long_recordings']} where it is longer"
            for d in res["turned_down"]
        )
        + " read as partly taken with the light off (that third returned as recorded, and named).",
        "",
        f"**What setting them aside does.** 10-minute recordings (3000 x 152, noise 0.2-0.8) with dark samples "
        f"first or from sample {MIDDLE} on, {res['draws']} draws each: RMS error over the raw recording's of the dark "
        f"samples, of the {NEAR} lit samples on each side of them and of the rest (mean over the draws; worst in "
        "brackets), and on how many draws the default warned (`OutOfDomainWarning`). `projected`: the dark "
        "samples denoised with the rest.",
        "",
        "| dark samples | dark: set aside / projected | next 20: set aside / projected | rest: set aside / projected "
        "| warned: set aside / projected |",
        "|---|---|---|---|---|",
    ]
    for where, lengths in (("first", DARK), ("inside", INSIDE)):
        for length in lengths:
            rs = [row for row in res["recordings"] if row["where"] == where and row["samples"] == length]
            cells = []
            for part in ("dark", "near", "rest"):
                a = [row["set aside"][part] for row in rs]
                b = [row["projected"][part] for row in rs]
                cells.append(f"{np.mean(a):.2f} ({max(a):.2f}) / {np.mean(b):.2f} ({max(b):.2f})")
            warned = [sum(row[k]["warned"] for row in rs) for k in ("set aside", "projected")]
            label = f"{length} first" if where == "first" else f"{length} in the middle"
            if length > spectral.DARK_LONGEST:
                label += " (longer than the longest set aside: projected by the default too)"
            lines.append(f"| {label} | {' | '.join(cells)} | {warned[0]} of {len(rs)} / {warned[1]} of {len(rs)} |")
    named = [row for row in res["recordings"] if row["samples"] <= spectral.DARK_LONGEST]
    noticed = sum(row["set aside"]["noticed"] for row in named)
    c = res["cost"]
    lines += [
        "",
        f"Set aside, the samples were named (`LightOffNotice`: how many, and where) on {noticed} of "
        f"{len(named)} draws.",
        "",
        f"**What reading them costs.** On a recording of {c['samples']} x {COST_SHAPE[1]}, `set_aside` (the light-off "
        "rows of `lit_mask`, and saturated ones) takes "
        f"{c['lit_mask_s'] * 1e3:.2f} ms of the in-process `Denoiser().run`'s {c['run_s']:.2f} s "
        f"({100 * c['lit_mask_s'] / c['run_s']:.3f} %; fastest of 20 and of 3, same process).",
        "",
    ]
    if "majority" in res:
        m = res["majority"]
        lines += [
            "**More than half of the rows dark.** Where fewer rows are lit than dark, the median lies among the "
            f"dark ones; `lit_mask` then also looks below the {spectral.DARK_UPPER:g} quantile of the row means, "
            "taking the rows it finds there, as any, only where their mean spectrum is flat beside the others' "
            f"(spread over bins under {spectral.DARK_FLAT:g} of theirs, beyond its own noise; their brightest "
            "tenth too) and what they lack is the others' spectrum (`fluorodn.spectral.dark_mask`). Found exactly: "
            + ", ".join(f"{name}: {k} of {n}" for name, (k, n) in m["found"].items())
            + " (600-6000 samples, 40-600 bins, noise 0.1-1.5). The same rows keeping the spectrum, read as light "
            "off: " + ", ".join(f"{name}: {k} of {n}" for name, (k, n) in m["kept"].items()) + ".",
            "",
            f"10-minute recordings (3000 x 152, noise 0.2-0.8), {res['draws']} draws each: RMS error of the lit "
            "samples over the raw recording's (mean; worst in brackets).",
            "",
            "| dark samples | set aside | projected with the rest |",
            "|---|---|---|",
        ]
        for name, errs in m["errors"].items():
            a, b = errs["set aside"], errs["projected"]
            lines.append(f"| {name} | {np.mean(a):.3f} ({max(a):.3f}) | {np.mean(b):.3f} ({max(b):.3f}) |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks dark", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help=f"20 reads of each kind and one draw per row (full: {READS}, {DRAWS})"
    )
    ap.add_argument("--out", default=None, help="folder for dark.md/.json (default benchmarks/results)")
    args = ap.parse_args(argv)
    n, draws = (20, 1) if args.quick else (READS, DRAWS)
    t0 = time.perf_counter()
    rng = np.random.default_rng(SEED)
    res = {
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": platform.platform(),
        "draws": draws,
        "reads": reads(rng, n),
        "turned_down": turned_down(rng, n // 5),
        "recordings": recordings(rng, draws),
        "cost": cost(rng, 4000 if args.quick else COST_SHAPE[0]),
    }
    res["majority"] = majority(rng, n // 5, draws)  # drawn after the parts above, which stay as they were
    res["seconds"] = time.perf_counter() - t0
    print(write_results(res, args.out, RESULTS, "dark_quick" if args.quick else "dark", render))
    return 0
