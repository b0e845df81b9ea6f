"""Noise that changes over a recording: does the default denoise each part at its own level?

The spectral model trained on recordings whose noise is steady or follows their light. Where the
noise changes without the light (sessions joined, a spectrometer's gain or averaging changed,
bleaching divided out before denoising), one noise level for the whole recording tells the network
the quiet part is as noisy as the whole, and it removes changes that stand above that part's own
noise. :mod:`fluorodn.noise_change` tells such recordings (:func:`~fluorodn.noise_change.change`
over :data:`~fluorodn.noise_change.CHANGE`), steadies their noise before denoising and says so
(``NoiseChangeNotice``). This measures

1. 10-minute recordings (3000 x 152 at 5 Hz, the evaluation's signal model: the example sensor,
   hemodynamics, one detector's dark noise) whose shot noise changes halfway (0.1 to 1.2 and back,
   0.2 to 0.8, 0.3 to 0.6, 0.3 to 0.45), rises steadily (0.2 to 0.8), or grows as bleaching is
   divided out (the recording bleached with a time constant of 1000 or 2000 samples, noise 0.4,
   then divided by the bleaching), against a steady recording and a physically bleached one (noise
   following the light, as in training): each output's error over raw on the values and on the
   sensor's trace (least squares on the recording's true spectra), on the quietest and the noisiest
   quarter of the recording; the default, the default with one noise level for the whole recording
   (``CHANGE`` infinite), a truncated SVD and a Gaussian over time;
   what :func:`~fluorodn.noise_change.change` read and what the default said;
2. :func:`~fluorodn.noise_change.change` on recordings of the training domain and of the other
   benchmarks (the oscillations benchmark's in-domain set): it must stay under ``CHANGE`` there,
   where the default's output is then the same as with the check off;
3. what reading it costs beside the whole run, on a 2.5-hour recording.

Run::

    python -m benchmarks noise-changes [--quick] [--out DIR]
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import check_cost_line, fastest, quick_out_main, write_results

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLES, BINS = 3000, 152
SEEDS = 3
SVD_RANK, GAUSS_SD = 8, 2.0
#: (name, kind, arguments): "step" (shot noise from a to b halfway), "ramp" (a to b steadily),
#: "divided" (bleached with time constant tau samples at noise 0.4, then divided by the bleaching),
#: "bleached" (the same, not divided: noise follows the light).
CONDITIONS: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    ("steady, noise 0.4", "step", (0.4, 0.4)),
    ("noise 0.1 to 1.2 halfway", "step", (0.1, 1.2)),
    ("noise 1.2 to 0.1 halfway", "step", (1.2, 0.1)),
    ("noise 0.2 to 0.8 halfway", "step", (0.2, 0.8)),
    ("noise 0.3 to 0.6 halfway", "step", (0.3, 0.6)),
    ("noise 0.3 to 0.45 halfway", "step", (0.3, 0.45)),
    ("noise rising 0.2 to 0.8", "ramp", (0.2, 0.8)),
    ("bleaching divided out, 1000 samples", "divided", (1000.0,)),
    ("bleaching divided out, 2000 samples", "divided", (2000.0,)),
    ("bleached, 1000 samples", "bleached", (1000.0,)),
)


def _parts(seed: int, photons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dark noise, shot noise at scale 1) of one detector for ``photons`` (the training generator's
    noise, drawn twice from the same seed: with the photons and without)."""
    from fluorodn_train import noise

    dark = noise.parametric_noise(np.random.default_rng(seed), np.zeros_like(photons), 0.0)
    with_light = noise.parametric_noise(np.random.default_rng(seed), photons, 1.0)
    return dark, with_light - noise.parametric_noise(np.random.default_rng(seed), np.zeros_like(photons), 1.0)


def recording(kind: str, args: tuple[float, ...], seed: int, n_time: int = SAMPLES) -> dict[str, Any]:
    """The noisy recording ``x`` (float64), its clean ``truth``, the shot noise's scale ``level``
    at each sample, the dark level ``dark`` (W,) and the true spectra ``design`` (W, 5) of one
    condition."""
    from fluorodn_train import spectra, synth
    from fluorodn_train.evaluation.recordings import signal_config

    r = synth.clean_recording(np.random.default_rng(seed), n_time, BINS, signal_config())
    offset = r.clean - r.photons
    dark = np.median(offset, axis=0)
    t = np.arange(n_time)
    if kind in ("step", "ramp"):
        a, b = args
        level = np.where(t < n_time // 2, a, b) if kind == "step" else a + (b - a) * t / (n_time - 1)
        dark_noise, shot = _parts(seed + 1000, r.photons)
        truth = r.clean
        x = truth + dark_noise + level[:, None] * shot
    else:
        fade = np.exp(-t / args[0])[:, None]
        photons = r.photons * fade
        dark_noise, shot = _parts(seed + 1000, photons)
        bleached = offset + photons
        noisy = bleached + dark_noise + 0.4 * shot
        if kind == "divided":
            truth, x = dark + (bleached - dark) / fade, dark + (noisy - dark) / fade
            level = 0.4 / np.sqrt(fade[:, 0])  # relative to the signal, the noise grows as the light fades
        else:
            truth, x = bleached, noisy
            level = 0.4 * np.sqrt(fade[:, 0])
    hbo2, hb = spectra.hemoglobin(r.wl)
    e = r.emission
    design = np.stack([e, e * r.response, e * hbo2 / hbo2.max(), e * hb / hb.max(), np.ones_like(e)], axis=1)
    return {"x": x, "truth": truth, "level": np.asarray(level, np.float64), "dark": dark, "design": design}


def sensor_trace(z: np.ndarray, dark: np.ndarray, design: np.ndarray) -> np.ndarray:
    """The sensor's trace of a recording: its response over its emission, by least squares of
    each sample's spectrum (less ``dark``) on the true spectra ``design``."""
    coef = np.linalg.lstsq(design, (np.asarray(z, np.float64) - dark).T, rcond=None)[0]
    return np.asarray(coef[1] / coef[0])


def _svd(x: np.ndarray, rank: int) -> np.ndarray:
    m = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - m, full_matrices=False)
    return np.asarray(m + (u[:, :rank] * s[:rank]) @ vt[:rank])


def _run(den: Any, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = den.run(x.astype(np.float32))
    return np.asarray(y, np.float64), [f"{w.category.__name__}: {w.message}" for w in caught]


def _one_level(den: Any, x: np.ndarray) -> np.ndarray:
    """The default with one noise level for the whole recording."""
    from fluorodn import noise_change

    saved = noise_change.CHANGE
    noise_change.CHANGE = float("inf")
    try:
        return _run(den, x)[0]
    finally:
        noise_change.CHANGE = saved


def condition_rows(quick: bool) -> list[dict[str, Any]]:
    """Part 1: every condition and seed, each output's error over raw on its quietest and noisiest quarters."""
    from scipy.ndimage import gaussian_filter1d

    from fluorodn import Denoiser, noise_change

    den = Denoiser()
    rows = []
    n_time = 1200 if quick else SAMPLES
    conditions = CONDITIONS[:2] + CONDITIONS[-3:-2] if quick else CONDITIONS
    for name, kind, args in conditions:
        for seed in range(1 if quick else SEEDS):
            rec = recording(kind, args, seed, n_time)
            x, truth = rec["x"], rec["truth"]
            y, said = _run(den, x)
            outs = {"default": y, "one noise level": _one_level(den, x), f"svd-{SVD_RANK}": _svd(x, SVD_RANK),
                    f"gauss-{GAUSS_SD:g}": gaussian_filter1d(x, GAUSS_SD, axis=0)}  # fmt: skip
            quarters = np.array_split(np.arange(n_time), 4)
            means = [float(rec["level"][q].mean()) for q in quarters]
            parts = {"quietest": quarters[int(np.argmin(means))], "noisiest": quarters[int(np.argmax(means))]}
            every = {"raw": x, "truth": truth, **outs}
            trace = {k: sensor_trace(v, rec["dark"], rec["design"]) for k, v in every.items()}

            def ratio(out: np.ndarray, raw: np.ndarray, ref: np.ndarray, at: np.ndarray) -> float:
                return float(np.sqrt(np.mean((out[at] - ref[at]) ** 2) / np.mean((raw[at] - ref[at]) ** 2)))

            rows.append(
                {
                    "condition": name,
                    "seed": seed,
                    "change": noise_change.change(x),
                    "noticed": any(m.startswith("NoiseChangeNotice") for m in said),
                    "other_warnings": [m for m in said if not m.startswith("NoiseChangeNotice")],
                    "values": {k: {p: ratio(v, x, truth, at) for p, at in parts.items()} for k, v in outs.items()},
                    "sensor": {
                        k: {p: ratio(trace[k], trace["raw"], trace["truth"], at) for p, at in parts.items()}
                        for k in outs
                    },
                }
            )
            print(f"noise-changes: {name} seed {seed}: change {rows[-1]['change']:.2f}, sensor quietest "
                  f"{rows[-1]['sensor']['default']['quietest']:.2f} (one level "
                  f"{rows[-1]['sensor']['one noise level']['quietest']:.2f})", flush=True)  # fmt: skip
    return rows


def in_domain_rows(quick: bool) -> list[dict[str, Any]]:
    """Part 2: :func:`fluorodn.noise_change.change` on the oscillations benchmark's in-domain recordings."""
    from benchmarks.oscillations import in_domain_recordings
    from fluorodn import noise_change

    return [
        {"recording": name, "samples": len(x), "change": noise_change.change(np.asarray(x, np.float32))}
        for name, x, _ in in_domain_recordings(quick)
    ]


def cost(quick: bool) -> dict[str, float]:
    """Part 3: reading the change, fastest of 5, beside the default's whole run on a 2.5-hour recording."""
    from fluorodn import Denoiser, noise_change

    n = 4000 if quick else 44156
    x = recording("step", (0.4, 0.4), 0, n)["x"].astype(np.float32)
    den = Denoiser()

    return {"check_s": fastest(lambda: noise_change.change(x), 5), "run_s": fastest(lambda: den.run(x), 3),
            "samples": n}  # fmt: skip


def run(quick: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    from fluorodn import noise_change

    t0 = time.perf_counter()
    result = {
        "benchmark": "noise-changes",
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "threshold": noise_change.CHANGE,
        "conditions": condition_rows(quick),
        "in_domain": in_domain_rows(quick),
        "cost": cost(quick),
    }
    result["elapsed_s"] = time.perf_counter() - t0
    write_results(result, out_dir, RESULTS, "noise_changes_quick" if quick else "noise_changes", markdown)
    return result


def markdown(res: dict[str, Any]) -> str:
    rows = res["conditions"]
    outputs = list(rows[0]["values"])
    lines = [
        "# Noise that changes over a recording",
        "",
        f"`python -m benchmarks noise-changes{' --quick' if res['mode'] == 'quick' else ''}` on {res['created']} in "
        f"{res['elapsed_s']:.0f} s. Recordings of {SAMPLES if res['mode'] == 'full' else 1200} x {BINS} at 5 Hz (the "
        "evaluation's signal model, one detector's dark noise) whose shot noise changes as named; `bleaching divided "
        "out`: bleached with that time constant at noise 0.4, then divided by the bleaching (its noise grows as the "
        "light fades); `bleached`: not divided (its noise follows the light, as in training). Error over raw (RMS) on "
        "the quarter of the recording where the noise is least / most, on the values and on the sensor's trace "
        "(its response over its emission, least squares on the recording's true spectra); mean over the seeds. "
        "`one noise level`: the default with `fluorodn.noise_change.CHANGE` infinite (one noise level for the whole "
        f"recording). Change: what `fluorodn.noise_change.change` read (the noise is steadied above "
        f"{res['threshold']:g}); noticed: on how many seeds the default said so (`NoiseChangeNotice`).",
        "",
        "| condition | change | noticed | " + " | ".join(f"sensor: {o}" for o in outputs) + " | "
        + " | ".join(f"values: {o}" for o in outputs) + " |",
        "|---|---|---|" + "---|" * (2 * len(outputs)),
    ]  # fmt: skip
    for name in dict.fromkeys(r["condition"] for r in rows):
        rs = [r for r in rows if r["condition"] == name]

        def cell(kind: str, out: str, rs: list[dict[str, Any]] = rs) -> str:
            q = np.mean([r[kind][out]["quietest"] for r in rs])
            n = np.mean([r[kind][out]["noisiest"] for r in rs])
            return f"{q:.2f} / {n:.2f}"

        change = f"{min(r['change'] for r in rs):.2f}-{max(r['change'] for r in rs):.2f}"
        noticed = f"{sum(r['noticed'] for r in rs)} / {len(rs)}"
        sensor = " | ".join(cell("sensor", o) for o in outputs)
        values = " | ".join(cell("values", o) for o in outputs)
        lines.append(f"| {name} | {change} | {noticed} | {sensor} | {values} |")
    worse = [
        (r["condition"], r["seed"], kind, part, r[kind]["default"][part])
        for r in rows
        for kind in ("sensor", "values")
        for part in ("quietest", "noisiest")
        if r[kind]["default"][part] > 1.0
    ]
    readings = [(k, p) for k in ("sensor", "values") for p in ("quietest", "noisiest")]
    before = [r for r in rows if any(r[k]["one noise level"][p] > 1.0 for k, p in readings)]
    lines += [
        "",
        f"The default above raw on a quarter (any seed, values or sensor): {len(worse)} of {4 * len(rows)} readings"
        + (": " + "; ".join(f"{c} seed {s} {k} {p} {v:.2f}" for c, s, k, p, v in worse) if worse else "")
        + f". With one noise level: on {len(before)} of {len(rows)} recordings.",
    ]
    others = sorted({m.split(":")[0] + ": " + m.split(": ", 1)[1][:80] for r in rows for m in r["other_warnings"]})
    if others:
        lines += ["", "Other warnings the default gave on these recordings:", ""] + [f"- {m}..." for m in others]
    dom = res["in_domain"]
    lines += ["", f"**In-domain recordings** (the change must stay under {res['threshold']:g}):", "",
              "| recordings | n | samples | highest change | above |", "|---|---|---|---|---|"]  # fmt: skip
    for group in dict.fromkeys(r["recording"].split(":")[0] for r in dom):
        rs = [r for r in dom if r["recording"].split(":")[0] == group]
        lines.append(
            f"| {group} | {len(rs)} | {min(r['samples'] for r in rs)}-{max(r['samples'] for r in rs)} | "
            f"{max(r['change'] for r in rs):.2f} | {sum(r['change'] > res['threshold'] for r in rs)} |"
        )
    lines += ["", check_cost_line(res["cost"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return quick_out_main(
        argv, "noise-changes", __doc__.splitlines()[0], lambda quick, out: print(markdown(run(quick, out))),
        "three short recordings (< 1 min)",
    )  # fmt: skip
