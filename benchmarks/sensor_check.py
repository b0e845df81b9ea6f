"""Does ``unmix`` tell when denoising removed the sensor's changes?

Where a sensor's response is weak against the noise, the spectral path can take the sensor's
spectral component for noise and remove most of it: the unmixed sensor trace then comes out a
fraction of its size, or flat, though the removed part looks like noise across the spectrum. With
the sensor's spectrum known, ``unmix`` compares the slow changes of the sensor's trace from the
denoised recording with those of the raw recording's (:func:`fluorodn.unmixing.fit.sensor_kept`)
and warns (``UnmixWarning``) under :data:`fluorodn.unmixing.fit.SENSOR_KEPT`. This measures that
share, whether it warned, and the slope of the sensor's trace on the truth (denoised and raw), on

1. the events benchmark's recordings (:func:`benchmarks.events.recordings`: main at noise 0.2, 0.4
   and 0.8, fast hemodynamics, slow rises, small and frequent events) and the quality benchmark's
   stress recordings of noise 0.1 and 1.2 and of the dopamine and red sensors;
2. small events (:data:`benchmarks.stress.SMALL_EVENT_SIZE`) at noise 1.2, 1.6 and 2.4, beyond
   the benchmark's 0.8;
3. a weak sensor (:func:`weak_sensor`: the example sensor's response to sparse releases, noise
   1-5 x shot noise);
4. a lone event (:func:`lone_event`: one release of the example sensor in a quiet 10-minute
   recording), where the spectral path can take the sensor's spectrum for noise; there the local
   check (:func:`fluorodn.unmixing.fit.peak_kept`) warns where the denoised trace keeps under
   :data:`fluorodn.unmixing.fit.PEAK_KEPT` of the raw trace's largest change.

Run::

    python -m benchmarks sensor-check [--quick] [--seeds N] [--out DIR]
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import write_results

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = 6
#: Noise of the weak-sensor recordings, x shot noise, and how many draws of each.
WEAK_NOISE, WEAK_DRAWS = (1.0, 2.0, 2.5, 3.0, 3.5, 5.0), 3
#: Noise of the small-event recordings beyond the benchmark's.
SMALL_NOISE = (1.2, 1.6, 2.4)
#: The lone events: sizes (a(t) at the peak), decays (samples) and draws of each.
LONE_SIZES, LONE_DECAYS, LONE_DRAWS = (0.3, 0.6, 1.0, 2.0), (15.0, 47.0), 3
#: Where the lone event starts, and how many samples after it the event's window spans (x decay).
LONE_ONSET, LONE_SPAN = 1500, 2


def example_releases(rng: np.random.Generator, n_time: int, size: float) -> dict[str, np.ndarray]:
    """The parts of a recording of the example sensor (152 bins, 477-595 nm): ``wl``, the sensor's
    response ``s``, the hemoglobins' absorption ``k_hbo2`` and ``k_hb`` (per uM), the emission ``e``
    (counts, peak 8800 at 515 nm) and ``a``, the sensor's response to sparse releases over
    ``n_time`` samples (one per 150, each up to ``size``, rising over 2 samples and decaying over
    15), drawn from ``rng``."""
    from fluorodn import hemoglobin
    from fluorodn.unmixing import LN10_PER_UM, load_sensor

    wl = np.linspace(477.0, 595.0, 152)
    k_hbo2, k_hb = (LN10_PER_UM * v for v in hemoglobin.extinction(wl))
    a = np.zeros(n_time)
    for on in rng.choice(n_time - 50, size=n_time // 150, replace=False):
        n = np.arange(n_time - on)
        a[on:] += size * rng.uniform(0.3, 1.0) * (1.0 - np.exp(-n / 2.0)) * np.exp(-n / 15.0)
    return {
        "wl": wl,
        "s": np.interp(wl, *load_sensor("example")),
        "k_hbo2": k_hbo2,
        "k_hb": k_hb,
        "e": 8000.0 * np.exp(-0.5 * ((wl - 515.0) / 25.0) ** 2) + 800.0,
        "a": a,
    }


def weak_sensor(noise: float, seed: int, n_time: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recording, wavelengths, a), float64: ``n_time`` x 152 samples at 5 Hz of the example
    sensor's response to sparse releases (a(t) up to 0.8, decaying over 15 samples) under slow
    hemodynamic swings, above a dark level of 500 counts, with noise ``noise`` x sqrt(F): at 3.5
    the sensor's response is weak against it."""
    rng = np.random.default_rng(seed)
    parts = example_releases(rng, n_time, 0.8)
    wl, s, k_hbo2, k_hb, e, a = (parts[k] for k in ("wl", "s", "k_hbo2", "k_hb", "e", "a"))
    sec = np.arange(n_time) / 5.0
    h1, h2 = 3.0 * np.sin(2 * np.pi * sec / 20.0 + 1.0), 1.5 * np.sin(2 * np.pi * sec / 25.0)
    clean = 500.0 + e * np.exp(np.outer(a, s) - np.outer(h1, k_hbo2) - np.outer(h2, k_hb))
    return clean + noise * rng.normal(size=clean.shape) * np.sqrt(clean), wl, a


def lone_event(size: float, decay: float, seed: int, n_time: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recording, wavelengths, a), float64: ``n_time`` x 152 samples at 5 Hz of the example
    sensor's response to one release at :data:`LONE_ONSET`, ``a(t) = size (1 - exp(-n / 2))
    exp(-n / decay)`` (peaking at 0.66 x ``size`` for a decay of 15 samples, 0.84 x for 47), under
    slow hemodynamic swings (80 and 110 s periods), above a dark level of 500 counts, with shot
    noise."""
    rng = np.random.default_rng(400 + seed)
    parts = example_releases(rng, n_time, 0.0)
    wl, s, k_hbo2, k_hb, e = (parts[k] for k in ("wl", "s", "k_hbo2", "k_hb", "e"))
    n = np.arange(n_time - LONE_ONSET)
    a = np.zeros(n_time)
    a[LONE_ONSET:] = size * (1.0 - np.exp(-n / 2.0)) * np.exp(-n / decay)
    sec = np.arange(n_time) / 5.0
    h1 = 1.5 * np.sin(2 * np.pi * sec / 80.0 + rng.uniform(0.0, 2 * np.pi))
    h2 = 0.8 * np.sin(2 * np.pi * sec / 110.0 + rng.uniform(0.0, 2 * np.pi))
    clean = 500.0 + e * np.exp(np.outer(a, s) - np.outer(h1, k_hbo2) - np.outer(h2, k_hb))
    return clean + rng.normal(size=clean.shape) * np.sqrt(clean), wl, a


def measure(
    x: np.ndarray, wl: np.ndarray, sensor: Any, dark: Any, a: np.ndarray, window: slice | None = None
) -> dict[str, Any]:
    """``unmix`` of ``x`` denoised (the default) and raw: the share kept, whether it warned (the slow
    check, the local one), the local check's share, and each sensor trace's slope and correlation on
    the truth ``a``; with ``window`` (an event's samples) also each trace's slope on ``a`` there
    (the share of the event it keeps, its baseline before the event taken out)."""
    import fluorodn
    from fluorodn.unmixing.fit import peak_kept

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        den = fluorodn.unmix(x, wl, sensor, dark=dark)
        raw = fluorodn.unmix(x, wl, sensor, dark=dark, denoise=False)
    said = [str(w.message) for w in caught if issubclass(w.category, fluorodn.UnmixWarning)]
    lit = np.isfinite(den.sensor) & np.isfinite(raw.sensor)
    local = peak_kept(raw.sensor[lit], den.sensor[lit])
    out: dict[str, Any] = {
        "kept": den.sensor_kept,
        "warned": any("slow changes" in m for m in said),
        "peak_kept": None if local is None else local[0],
        "damped_warned": any("largest change" in m for m in said),
    }
    for name, res in (("denoised", den), ("raw", raw)):
        lit = np.isfinite(res.sensor)
        out[f"slope_{name}"] = float(np.polyfit(a[lit], res.sensor[lit], 1)[0])
        out[f"corr_{name}"] = float(np.corrcoef(a[lit], res.sensor[lit])[0, 1])
        if window is not None:
            before = float(np.median(res.sensor[window.start - 100 : window.start]))
            f = a[window]
            out[f"event_{name}"] = float((res.sensor[window] - before) @ f / (f @ f))
    return out


def recordings(seeds: int, quick: bool) -> list[tuple[str, str, int, Any]]:
    """(group, name, seed, make) for every recording measured; ``make()`` gives (x, wl, sensor, dark, a)."""
    from fluorodn_train.evaluation.recordings import signal_config

    from benchmarks import events
    from benchmarks.stress import SMALL_EVENT_SIZE, _stress_recording, make_stress

    def of(rec: Any) -> Any:
        t = rec.truth
        return lambda: (rec.noisy, t.wl, (t.wl, t.response), rec.dark, t.a)

    out: list[tuple[str, str, int, Any]] = []
    n_time = 600 if quick else events.N_TIME
    small = replace(signal_config(), event_size=(SMALL_EVENT_SIZE,) * 2)
    for seed in range(seeds):
        recs = events.recordings(seed, n_time, quick)
        if not quick:
            recs += [r for r in make_stress(n_time // 3, False, seed=seed) if r.name.startswith(("noise", "sensor"))]
        out += [("benchmark", r.name, seed, of(r)) for r in recs]
        for ns in SMALL_NOISE[:1] if quick else SMALL_NOISE:
            rec = _stress_recording(f"small events, noise {ns:g}", small, ns, 4, n_time // 3, seed)
            out.append(("small events beyond", rec.name, seed, of(rec)))
    for ns in (WEAK_NOISE[0], WEAK_NOISE[4]) if quick else WEAK_NOISE:
        for draw in range(1 if quick else WEAK_DRAWS):

            def make(ns: float = ns, draw: int = draw) -> Any:
                x, wl, a = weak_sensor(ns, 10 + draw, 1200 if quick else 3000)
                return x, wl, "example", 500.0, a

            out.append(("weak sensor", f"weak sensor, {ns:g} x shot noise", 10 + draw, make))
    for decay in LONE_DECAYS:
        for size in LONE_SIZES[1:3] if quick else LONE_SIZES:
            for draw in range(1 if quick else LONE_DRAWS):

                def lone(size: float = size, decay: float = decay, draw: int = draw) -> Any:
                    x, wl, a = lone_event(size, decay, draw)
                    window = slice(LONE_ONSET, LONE_ONSET + int(LONE_SPAN * decay))
                    return x, wl, "example", 500.0, a, window

                name = f"lone event, size {size:g}, decay {decay:g} samples"
                out.append(("lone event", name, draw, lone))
    return out


def run(quick: bool = False, seeds: int | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    from fluorodn.unmixing.fit import PEAK_KEPT, SENSOR_KEPT

    t0 = time.perf_counter()
    n_seeds = seeds if seeds is not None else (1 if quick else SEEDS)
    rows = []
    for group, name, seed, make in recordings(n_seeds, quick):
        rows.append({"group": group, "recording": name, "seed": seed, **measure(*make())})
        print(f"sensor-check: {name}, seed {seed}: kept {rows[-1]['kept']}", flush=True)
    result = {
        "benchmark": "sensor-check",
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seeds": n_seeds,
        "threshold": SENSOR_KEPT,
        "peak_threshold": PEAK_KEPT,
        "rows": rows,
        "elapsed_s": time.perf_counter() - t0,
    }
    write_results(result, out_dir, RESULTS, "sensor_check_quick" if quick else "sensor_check", markdown)
    return result


def _range(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


def markdown(res: dict[str, Any]) -> str:
    from fluorodn.unmixing.fit import SLOW_BAND

    lines = [
        "# Does unmix tell when denoising removed the sensor's changes?",
        "",
        f"`python -m benchmarks sensor-check{' --quick' if res['mode'] == 'quick' else ''}` on {res['created']} in "
        f"{res['elapsed_s']:.0f} s ({res['seeds']} draws of each benchmark recording). Kept: the share of the raw "
        f"recording's slow sensor changes (below {SLOW_BAND:g} of the sampling rate, above its noise) that the sensor "
        f"trace of the denoised recording keeps (`fluorodn.unmixing.fit.sensor_kept`; - where it cannot be judged); "
        f"warned (slow): an `UnmixWarning` under {res['threshold']:g}. Slope: the sensor trace's on the truth a(t), "
        "denoised / raw; corr: their correlation with it. Local: the share of the raw trace's largest change "
        "(its 25-sample moving average beside its 251-sample moving median, where that stands far out of its noise) "
        "that the denoised trace keeps there (`fluorodn.unmixing.fit.peak_kept`; - where none stands out); "
        f"damped: an `UnmixWarning` that it keeps under {res['peak_threshold']:g} of it, given where the slow "
        "check did not warn. Slope where warned: of the slow check's warnings.",
        "",
        "| group | recording | n | kept | warned (slow) | local | damped | slope denoised / raw | corr denoised / raw "
        "| slope where warned |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    names = dict.fromkeys((r["group"], r["recording"]) for r in res["rows"])
    for group, name in names:
        rs = [r for r in res["rows"] if r["group"] == group and r["recording"] == name]
        kept = [r["kept"] for r in rs if r["kept"] is not None]
        judged = f" ({len(kept)} judged)" if len(kept) < len(rs) else ""
        warned = [r["slope_denoised"] for r in rs if r["warned"]]
        local = [r["peak_kept"] for r in rs if r["peak_kept"] is not None]
        lines.append(
            f"| {group} | {name} | {len(rs)} | {_range(kept)}{judged} | {len(warned)} | "
            f"{_range(local)}{f' ({len(local)} judged)' if len(local) < len(rs) else ''} | "
            f"{sum(r['damped_warned'] for r in rs)} | "
            f"{np.mean([r['slope_denoised'] for r in rs]):.2f} / {np.mean([r['slope_raw'] for r in rs]):.2f} | "
            f"{np.mean([r['corr_denoised'] for r in rs]):.3f} / {np.mean([r['corr_raw'] for r in rs]):.3f} | "
            f"{_range(warned)} |"
        )
    lines += ["", "Per group:", ""]
    for group in dict.fromkeys(r["group"] for r in res["rows"]):
        rs = [r for r in res["rows"] if r["group"] == group]
        kept = [r["kept"] for r in rs if r["kept"] is not None]
        lines.append(
            f"- {group}: {len(rs)} recordings, kept {_range(kept)} ({len(kept)} judged), warned on "
            f"{sum(r['warned'] for r in rs)}, damped warned on {sum(r['damped_warned'] for r in rs)}"
        )
    lone = [r for r in res["rows"] if r["group"] == "lone event"]
    if lone:
        lines += [
            "",
            "Lone events: the share of the event each sensor trace keeps (its slope on a(t) over the event's "
            f"{LONE_SPAN} decays, its baseline over the 100 samples before taken out), denoised / raw, and whether "
            "either check warned:",
            "",
            "| recording | seed | event kept denoised / raw | local | warned |",
            "|---|---|---|---|---|",
        ]
        for r in lone:
            local = "-" if r["peak_kept"] is None else f"{r['peak_kept']:.2f}"
            told = "damped" if r["damped_warned"] else ("slow" if r["warned"] else "no")
            kept = f"{r['event_denoised']:.2f} / {r['event_raw']:.2f}"
            lines.append(f"| {r['recording']} | {r['seed']} | {kept} | {local} | {told} |")
    lines += ["", "Warned (by either check) and not, over all recordings:", ""]
    for warned in (True, False):
        rs = [
            r
            for r in res["rows"]
            if (r["warned"] or r["damped_warned"]) is warned and (warned or r["kept"] is not None)
        ]
        lines.append(
            f"- {'warned' if warned else 'judged, not warned'}: {len(rs)} recordings; the denoised sensor trace's "
            f"slope on the truth {_range([r['slope_denoised'] for r in rs])}, its correlation with it "
            f"{_range([r['corr_denoised'] for r in rs])} against the raw trace's {_range([r['corr_raw'] for r in rs])}"
        )
    unjudged = [r for r in res["rows"] if r["kept"] is None]
    names = ", ".join(sorted({r["recording"] for r in unjudged})) or "-"
    lines.append(f"- not judged by the slow check: {len(unjudged)} ({names})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks sensor-check", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 draw of short recordings (< 1 min)")
    ap.add_argument("--seeds", type=int, default=None, help=f"draws of each benchmark recording (default {SEEDS})")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    print(markdown(run(args.quick, args.seeds, args.out)))
    return 0
