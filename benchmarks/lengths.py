"""Short recordings: the spectral path, the bare array's path, the image model and raw.

An array is taken for a recording by its shape when it has twice as many samples as bins
(:func:`fluorodn.spectral.looks_spectral`), so that frames are not. A recording whose axes are
known (a spectrometer's file with them, what ``fluorodn unmix`` denoises) takes the spectral path
however short (:func:`fluorodn.spectral.takes_recording`); so does a shorter bare array whose rows
are one spectrum (:func:`fluorodn.spectral.short_recording`), where by its shape alone it would go
to the image model. This measures the three on recordings of the widened training generator
(``synth.WIDE``: three sensors, fast hemodynamics in half, noise 0.1-1.2 log-uniform),
:data:`DRAWS` per group of samples :data:`SAMPLES` (and two of W to 2W samples, the second with
the light off for its first and last few, :data:`DARK`), bins drawn from
:data:`BINS`: each path's RMS error over the raw recording's, how often it ends further from the
truth than the input, and whether it warned (``OutOfDomainWarning``) there. Run::

    python -m benchmarks lengths [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.dark import darken
from benchmarks.measure import write_results

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 11
BINS = (40, 76, 152, 304, 512, 1024)
SAMPLES = (8, 16, 32, 64, 128, 256)
#: The last group: samples uniform in [W, 2W), W in 76-304 (not looking spectral as an array).
BETWEEN = "W to 2W"
DRAWS = 24
NOISE = (0.1, 1.2)
QUICK = {"samples": (32,), "draws": 3}
#: What the warning that an array looks transposed says.
TRANSPOSE_ADVICE = "given as (wavelength, time)"
#: The group of W to 2W samples whose light was off at the start (and at the end): most dark
#: samples first and last, and the read noise of their rows, counts.
DARK = "W to 2W, light off first"
DARK_FIRST = 20
DARK_LAST = 5
DARK_READ = 5.0


def measure(rng: np.random.Generator, t: int, w: int, dens: dict[str, Any], dark: bool = False) -> dict[str, Any]:
    """One recording of ``t`` x ``w`` of the widened generator through the spectral path (its axes
    known), the default on the bare array (``Denoiser().run``) and the image model the default hands
    frames to (what the shape alone would give an array that does not look spectral).

    ``dark``: the light was off for the first 1-``DARK_FIRST`` samples and the last 0-``DARK_LAST``
    (their rows: the detector's level without light, :data:`DARK_READ` counts of read noise; that
    level is their truth)."""
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    from fluorodn import spectral
    from fluorodn.errors import OutOfDomainWarning

    ns = float(np.exp(rng.uniform(np.log(NOISE[0]), np.log(NOISE[1]))))
    inst = make_instance(rng, t, w, ns, signal=WIDE)
    x, clean = inst.noisy.astype(np.float32), inst.clean
    out: dict[str, Any] = {"samples": t, "bins": w, "noise": ns}
    if dark:
        first, last = int(rng.integers(1, DARK_FIRST + 1)), int(rng.integers(0, DARK_LAST + 1))
        x, clean = darken(rng, inst, first, last, DARK_READ)
        out |= {"dark_first": first, "dark_last": last}
    raw = float(np.sqrt(np.mean((x - clean) ** 2)))
    out["bare_path"] = "spectral" if dens["default"]._runs(x.shape, first=x) is dens["default"] else "image"
    out["shape_path"] = "spectral" if spectral.looks_spectral(x.shape) else "image"
    out["one_spectrum"] = spectral.one_spectrum(x[spectral.lit_mask(x)])  # as the routing reads it
    for name, run in (("spectral", dens["spectral"].run), ("bare", dens["default"].run), ("image", dens["image"].run)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = run(x)
        out[name] = float(np.sqrt(np.mean((y - clean) ** 2))) / raw
        said = [str(c.message) for c in caught if issubclass(c.category, OutOfDomainWarning)]
        out[f"{name}_warned"] = bool(said)
        # the advice to transpose it, which would send the recording down the spectral path with swapped axes
        out[f"{name}_told_to_transpose"] = any(TRANSPOSE_ADVICE in m for m in said)
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"recordings": len(rows)}
    for name in ("spectral", "bare", "image"):
        e = np.array([r[name] for r in rows])
        worse = [r for r in rows if r[name] > 1.0]
        out[name] = {
            "geometric_mean": float(np.exp(np.mean(np.log(e)))),
            "worst": float(e.max()),
            "worse_than_raw": len(worse),
            "worse_than_raw_warned": sum(1 for r in worse if r[f"{name}_warned"]),
            "warned": sum(1 for r in rows if r[f"{name}_warned"]),
            "told_to_transpose": sum(1 for r in rows if r.get(f"{name}_told_to_transpose")),
        }
    out["bare_image"] = sum(1 for r in rows if r["bare_path"] == "image")
    out["shape_image"] = sum(1 for r in rows if r["shape_path"] == "image")
    out["one_spectrum_min"] = min(r["one_spectrum"] for r in rows)
    out["spectral_better"] = sum(1 for r in rows if r["spectral"] < r["image"])
    return out


def render(res: dict[str, Any]) -> str:
    lines = [
        "# Short recordings: the spectral path, the bare array's path, the image model and raw",
        "",
        f"`python -m benchmarks lengths{' --quick' if res['quick'] else ''}` on {res['date']} in "
        f"{res['seconds']:.0f} s: recordings of the widened training generator (noise 0.1-1.2, log-uniform; bins "
        f'from {", ".join(map(str, BINS))}), each through the spectral path (`Denoiser(kind="spectral")`, what a '
        "recording with known axes gets), `Denoiser().run` on the bare array (the spectral path where it has "
        "twice as many samples as bins or its rows are one spectrum, else the image model) and the image model "
        "alone (`image model`: what the array's shape alone would give it where it has fewer than twice as many "
        "samples as bins, `low`). Error: RMS error over the raw recording's (geometric mean, worst); "
        "`worse than raw`: recordings left further from the truth than the input, with how many of them warned "
        "(`OutOfDomainWarning`); `warned`: all recordings that warned; `told to transpose`: warnings that the "
        "array looks like a recording given as (wavelength, time), advice that would send a recording down the "
        f"spectral path with its axes swapped. `{DARK}`: recordings of W to 2W samples whose first 1-{DARK_FIRST} "
        f"samples (and last 0-{DARK_LAST}) were taken with the light off (their rows: the detector's level "
        f"without light, which is their truth, and {DARK_READ:g} counts of read noise).",
        "",
        "| samples | n | spectral: error | spectral: worse than raw (warned) | bare array: image path on "
        "| bare array: error | bare array: worse than raw (warned) | bare array: warned | bare array: told to "
        "transpose | image model: error | image model: worse than raw | spectral better than the image model on |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in res["groups"].items():
        sp, im, img = s["spectral"], s["bare"], s["image"]
        lines.append(
            f"| {name} | {s['recordings']} | {sp['geometric_mean']:.2f} (worst {sp['worst']:.2f}) | "
            f"{sp['worse_than_raw']} ({sp['worse_than_raw_warned']}) | {s['bare_image']} | "
            f"{im['geometric_mean']:.2f} (worst {im['worst']:.2f}) | "
            f"{im['worse_than_raw']} ({im['worse_than_raw_warned']}) | {im['warned']} | "
            f"{im.get('told_to_transpose', '-')} | {img['geometric_mean']:.2f} (worst {img['worst']:.2f}) | "
            f"{img['worse_than_raw']} | {s['spectral_better']} |"
        )
    from fluorodn.spectral import ONE_SPECTRUM

    every = [r for rs in res["rows"].values() for r in rs]
    below = sum(1 for r in every if r["one_spectrum"] < ONE_SPECTRUM)
    lines += [
        "",
        f"Rows of one spectrum (`fluorodn.spectral.one_spectrum` of the lit rows, `lit_mask`; the spectral "
        f"path from {ONE_SPECTRUM:g}): "
        f"{len(every) - below} of the {len(every)} recordings reach it, the lowest "
        f"{min(r['one_spectrum'] for r in every):.3f}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks lengths", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one group of a few recordings, and a few of W to 2W")
    ap.add_argument("--out", default=None, help="folder for lengths.md/.json (default benchmarks/results)")
    args = ap.parse_args(argv)
    import fluorodn
    from fluorodn.registry import IMAGE_MODEL

    samples, draws = (QUICK["samples"], QUICK["draws"]) if args.quick else (SAMPLES, DRAWS)
    t0 = time.perf_counter()
    dens = {
        "spectral": fluorodn.Denoiser(kind="spectral"),
        "default": fluorodn.Denoiser(),
        "image": fluorodn.Denoiser(IMAGE_MODEL),
    }
    rng = np.random.default_rng(SEED)
    rows: dict[str, list[dict[str, Any]]] = {}
    for t in samples:
        rows[str(t)] = [measure(rng, t, int(rng.choice(BINS)), dens) for _ in range(draws)]
    rows[BETWEEN] = []
    for _ in range(draws):
        w = int(rng.integers(76, 305))
        rows[BETWEEN].append(measure(rng, int(rng.integers(w, 2 * w)), w, dens))
    rows[DARK] = []
    for _ in range(draws):
        w = int(rng.integers(76, 305))
        rows[DARK].append(measure(rng, int(rng.integers(w, 2 * w)), w, dens, dark=True))
    res = {
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": time.perf_counter() - t0,
        "machine": platform.platform(),
        "groups": {name: summary(rs) for name, rs in rows.items()},
        "rows": rows,
    }
    print(write_results(res, args.out, RESULTS, "lengths_quick" if args.quick else "lengths", render))
    return 0
