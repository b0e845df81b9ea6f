"""Steady oscillations: does the default keep them, and does it say so where it does not?

The spectral model trained on sparse releases over hemodynamics that change slowly or pulse with
heartbeat and breathing; none of its training recordings held a steady oscillation (vasomotion
near 0.1 Hz, a sensor following a slow rhythm). Where one stands a few times above the noise, the
network damps it as if it were noise. :func:`fluorodn.spectral.kept_share` measures, at the
frequencies where the input stands far above its noise, the share of it that the output keeps,
and :meth:`fluorodn.Denoiser.run` warns (``OutOfDomainWarning``) under
:data:`fluorodn.spectral.KEPT_LEAST`. This measures

1. 10-minute recordings (3000 x 152 at 5 Hz: the example sensor's response to sparse releases
   under slow hemodynamic swings, shot noise) with a steady oscillation added to the sensor's
   response or to the oxygenated hemoglobin's absorption, at 0.05-1 Hz and 1-8 times its noise
   along its spectrum: the share of the oscillation that each output keeps (the default, the
   default at lower strengths, the projection alone, a truncated SVD, Gaussians), each output's
   error over raw, the default's :func:`~fluorodn.spectral.kept_share` and whether it warned;
2. recordings of the training domain and of every other benchmark: the events benchmark's
   (main at noise 0.2, 0.4 and 0.8, fast hemodynamics, slow rises, small and frequent events),
   the quality benchmark's stress recordings and draws of the widened generator (noise 0.1-1.2,
   76-304 bins, 600-12000 samples): the least :func:`~fluorodn.spectral.kept_share` and how often
   the check warns there (it must not);
3. what the check costs beside the whole run, on a 2.5-hour recording.

Run::

    python -m benchmarks oscillations [--quick] [--out DIR]
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import check_cost_line, fastest, quick_out_main, write_results

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLES, RATE_HZ = 3000, 5.0
FREQUENCIES_HZ = (0.05, 0.1, 0.2, 0.5, 1.0)
#: The oscillation's amplitude along its own spectrum, in units of the noise there.
SIZES = (1.0, 2.0, 4.0, 8.0)
WHERE = ("sensor", "hemoglobin")
DRAWS = 2
#: Strengths of the default measured beside it.
STRENGTHS = (0.6, 0.3)
SVD_RANK, GAUSS_SD = 8, 2.0
#: Seeds of the events benchmark's recordings, and draws of the widened generator.
SEEDS, WIDE_DRAWS = 4, 150
WIDE_LENGTHS = (600, 12000)


def _base(seed: int, n_time: int) -> dict[str, Any]:
    """The recording without its oscillation: the example sensor's response ``a`` to sparse
    releases (:func:`benchmarks.sensor_check.example_releases`, up to 0.4) under slow hemodynamic
    swings ``h1`` (oxygenated) and ``h2``, above a dark level of 500 counts."""
    from benchmarks.sensor_check import example_releases

    rng = np.random.default_rng(seed)
    parts = example_releases(rng, n_time, 0.4)
    sec = np.arange(n_time) / RATE_HZ
    h1 = 1.5 * np.sin(2 * np.pi * sec / 80.0 + rng.uniform(0, 6.28))
    h2 = 0.8 * np.sin(2 * np.pi * sec / 110.0 + rng.uniform(0, 6.28))
    return {"rng": rng, "s": parts["s"], "k": parts["k_hbo2"], "k_hb": parts["k_hb"], "e": parts["e"],
            "a": parts["a"], "h1": h1, "h2": h2, "sec": sec}  # fmt: skip


def oscillating(where: str, freq: float, size: float, seed: int, n_time: int = SAMPLES) -> tuple[np.ndarray, ...]:
    """(noisy, clean, clean without the oscillation), float64 (T, 152): :func:`_base` with a steady
    oscillation at ``freq`` Hz added to the sensor's response (``where="sensor"``) or to the
    oxygenated hemoglobin's absorption, of ``size`` times the noise along its spectrum."""
    b = _base(seed, n_time)

    def clean(osc_a: np.ndarray, osc_h: np.ndarray) -> np.ndarray:
        log = np.outer(b["a"] + osc_a, b["s"]) - np.outer(b["h1"] + osc_h, b["k"]) - np.outer(b["h2"], b["k_hb"])
        return 500.0 + b["e"] * np.exp(log)

    still = clean(np.zeros(n_time), np.zeros(n_time))
    sigma = np.sqrt(still.mean(axis=0))
    # the oscillation's spectrum per unit, linearized: e * s or -e * k
    unit = b["e"] * (b["s"] if where == "sensor" else -b["k"])
    amp = size / float(np.linalg.norm(unit / sigma))
    wave = amp * np.sin(2 * np.pi * freq * b["sec"] + b["rng"].uniform(0, 6.28))
    zero = np.zeros(n_time)
    truth = clean(wave, zero) if where == "sensor" else clean(zero, wave)
    noisy = truth + b["rng"].normal(size=truth.shape) * np.sqrt(truth)
    return noisy, truth, still


def _svd(x: np.ndarray, rank: int) -> np.ndarray:
    m = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - m, full_matrices=False)
    return np.asarray(m + (u[:, :rank] * s[:rank]) @ vt[:rank])


def _run(den: Any, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    from fluorodn import OutOfDomainWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = den.run(x)
    from benchmarks.pipelines import domain_message

    said = [domain_message(w.message) for w in caught if issubclass(w.category, OutOfDomainWarning)]
    return np.asarray(y, np.float64), said


def _kept_warning(messages: list[str]) -> bool:
    return any("keeps only" in m for m in messages)


def oscillation_rows(quick: bool) -> list[dict[str, Any]]:
    """Part 1: every oscillation, each output's share of it and error over raw."""
    from scipy.ndimage import gaussian_filter1d

    from fluorodn import Denoiser, DenoiserOptions, spectral

    default = Denoiser()
    others = {f"strength {s:g}": Denoiser(options=DenoiserOptions(strength=s)) for s in STRENGTHS}
    others["projection alone"] = Denoiser(options=DenoiserOptions(spectral_only=True))
    rows = []
    freqs, sizes = ((0.2, 1.0), (2.0, 4.0)) if quick else (FREQUENCIES_HZ, SIZES)
    for where in WHERE:
        for freq in freqs:
            for size in sizes:
                for draw in range(1 if quick else DRAWS):
                    x, truth, still = oscillating(where, freq, size, 100 + draw, 1200 if quick else SAMPLES)
                    wave = truth - still
                    raw_err = float(np.mean((x - truth) ** 2))

                    def share(y: np.ndarray, wave: np.ndarray = wave, still: np.ndarray = still) -> float:
                        d = y - still
                        d -= d.mean(axis=0)
                        w = wave - wave.mean(axis=0)
                        return float(np.sum(d * w) / np.sum(w * w))

                    y, messages = _run(default, x.astype(np.float32))
                    stats = spectral.removed_stats(x, y, spectral.fit(x, default.channels))
                    outs = {"default": y}
                    outs |= {name: _run(den, x.astype(np.float32))[0] for name, den in others.items()}
                    outs[f"svd-{SVD_RANK}"] = _svd(x, SVD_RANK)
                    outs[f"gauss-{GAUSS_SD:g}"] = gaussian_filter1d(x, GAUSS_SD, axis=0)
                    rows.append(
                        {
                            "where": where,
                            "freq_hz": freq,
                            "size": size,
                            "draw": draw,
                            "kept_share": stats["kept"],
                            "period": stats["kept_period"],
                            "warned": _kept_warning(messages),
                            "warnings": messages,
                            "kept": {k: share(v) for k, v in outs.items()},
                            "error_over_raw": {k: float(np.mean((v - truth) ** 2)) / raw_err for k, v in outs.items()},
                        }
                    )
                    print(f"oscillations: {where} {freq:g} Hz x{size:g}: kept {rows[-1]['kept']['default']:.2f}, "
                          f"warned {rows[-1]['warned']}", flush=True)  # fmt: skip
    return rows


def in_domain_recordings(quick: bool) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, recording, clean recording) of the training domain and of the other benchmarks: the events
    benchmark's of :data:`SEEDS`, the quality benchmark's stress recordings and
    :data:`WIDE_DRAWS` draws of the widened generator (fewer and shorter with ``quick``)."""
    from fluorodn_train.data import VAL_STREAM, make_instance
    from fluorodn_train.synth import WIDE

    from benchmarks import events
    from benchmarks.stress import make_stress

    recs: list[tuple[str, np.ndarray, np.ndarray]] = []
    n_time = 1200 if quick else events.N_TIME // 3
    for seed in range(1 if quick else SEEDS):
        recs += [(f"events: {r.name}", r.noisy, r.clean) for r in events.recordings(seed, n_time, quick)]
    recs += [(f"stress: {r.name}", r.noisy, r.clean) for r in make_stress(n_time, quick)]
    rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(VAL_STREAM, 9)))
    for k in range(10 if quick else WIDE_DRAWS):
        noise = (0.1, 1.2, float(rng.uniform(0.1, 1.2)))[k % 3]
        n = int(np.exp(rng.uniform(*np.log(WIDE_LENGTHS))))
        inst = make_instance(rng, n, int(rng.integers(76, 305)), noise, signal=WIDE)
        recs.append(("widened generator", inst.noisy, inst.clean))
    return recs


def in_domain_rows(quick: bool) -> list[dict[str, Any]]:
    """Part 2: the check on recordings of the training domain and of the other benchmarks."""
    from fluorodn import Denoiser, spectral

    den = Denoiser()
    rows = []
    for name, x, _ in in_domain_recordings(quick):
        x = np.asarray(x, np.float32)
        y, messages = _run(den, x)
        stats = spectral.removed_stats(x, y, spectral.fit(x, den.channels))
        rows.append({"recording": name, "samples": len(x), "bins": x.shape[1], "kept_share": stats["kept"],
                     "warned": _kept_warning(messages)})  # fmt: skip
    return rows


def cost(quick: bool) -> dict[str, float]:
    """Part 3: the check (:func:`fluorodn.spectral.kept_share` on the check's rows) beside a whole
    run of the default, fastest of 3, on a 2.5-hour recording (44156 x 152; ``quick``: 16000, still
    four times the rows the check reads, which do not grow with the recording)."""
    from fluorodn import Denoiser, spectral

    samples = 16000 if quick else 44156
    x = oscillating("sensor", 0.2, 1.0, 7, samples)[0].astype(np.float32)
    den = Denoiser()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what it warns of is measured in parts 1 and 2
        y = den.run(x)
    p = spectral.fit(x, den.channels)
    blocks = spectral.check_blocks(samples)

    def check() -> None:  # as spectral.removed_stats reads it
        spectral.kept_share(
            [spectral.coefficients(p, x[b]).astype(np.float64) for b in blocks],
            [spectral.coefficients(p, y[b]).astype(np.float64) for b in blocks],
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_s = fastest(lambda: den.run(x))
    return {"samples": samples, "check_s": fastest(check), "run_s": run_s}


def run(quick: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    from fluorodn import spectral

    t0 = time.perf_counter()
    result = {
        "benchmark": "oscillations",
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "threshold": spectral.KEPT_LEAST,
        "above": spectral.KEPT_ABOVE,
        "peak_above": spectral.KEPT_PEAK_ABOVE,
        "peak_ratio": spectral.KEPT_PEAK_RATIO,
        "excess_segments": spectral.KEPT_EXCESS_SEGMENTS,
        "segment": spectral.KEPT_SEGMENT,
        "oscillations": oscillation_rows(quick),
        "in_domain": in_domain_rows(quick),
        "cost": cost(quick),
    }
    result["elapsed_s"] = time.perf_counter() - t0
    write_results(result, out_dir, RESULTS, "oscillations_quick" if quick else "oscillations", markdown)
    return result


def markdown(res: dict[str, Any]) -> str:
    rows = res["oscillations"]
    outputs = list(rows[0]["kept"])
    lines = [
        "# Steady oscillations: kept, or told",
        "",
        f"`python -m benchmarks oscillations{' --quick' if res['mode'] == 'quick' else ''}` on {res['created']} in "
        f"{res['elapsed_s']:.0f} s. A steady oscillation added to the example sensor's response or to the oxygenated "
        "hemoglobin's absorption of 10-minute recordings (152 bins at 5 Hz, sparse releases under slow hemodynamic "
        "swings, shot noise); size: its amplitude along its spectrum over the noise there. Kept: the share of the "
        "oscillation each output keeps (its change from the recording without the oscillation, regressed on the "
        "oscillation; raw: 1). Check: the default's `spectral.kept_share` (the least share of the input it keeps at "
        f"the frequencies standing over {res['above']:g} x the noise, or {res['peak_above']:g} x at a narrow peak "
        f"({res['peak_ratio']:g} x the power two frequencies away; from {res.get('excess_segments', '-')} segments on, "
        "the powers' excess over what noise gives), over "
        f"{res['segment']}-sample segments), which "
        f"warns under {res['threshold']:g}; warned: on how many of the draws.",
        "",
        "| where | Hz | size | " + " | ".join(f"kept: {o}" for o in outputs) + " | check | warned |",
        "|---|---|---|" + "---|" * len(outputs) + "---|---|",
    ]
    keys = dict.fromkeys((r["where"], r["freq_hz"], r["size"]) for r in rows)
    for where, freq, size in keys:
        rs = [r for r in rows if (r["where"], r["freq_hz"], r["size"]) == (where, freq, size)]
        kept = " | ".join(f"{np.mean([r['kept'][o] for r in rs]):.2f}" for o in outputs)
        check = np.mean([r["kept_share"] for r in rs])
        warned = f"{sum(r['warned'] for r in rs)} / {len(rs)}"
        lines.append(f"| {where} | {freq:g} | {size:g} | {kept} | {check:.2f} | {warned} |")
    lines += ["", "Error over raw (mean over the draws of every oscillation of a size):", "",
              "| size | " + " | ".join(outputs) + " |", "|---|" + "---|" * len(outputs)]  # fmt: skip
    for size in dict.fromkeys(r["size"] for r in rows):
        rs = [r for r in rows if r["size"] == size]
        errs = " | ".join(f"{np.mean([r['error_over_raw'][o] for r in rs]):.4f}" for o in outputs)
        lines.append(f"| {size:g} | {errs} |")
    told = [r for r in rows if r["warned"]]
    quiet = [r for r in rows if not r["warned"]]
    lines += ["", "Warned and not:", ""]
    for name, rs in (("warned", told), ("not warned", quiet)):
        if rs:
            kept = [r["kept"]["default"] for r in rs]
            share = f"{min(kept):.2f}-{max(kept):.2f}"
            lines.append(f"- {name}: {len(rs)} recordings, the default keeping {share} of the oscillation")
    weak = [r for r in quiet if r["kept"]["default"] < 0.7]
    if weak:
        lines.append(
            f"- not warned though the default kept under 0.7: {len(weak)}, sizes {sorted({r['size'] for r in weak})} "
            "(the check judges only frequencies standing far above the noise, or narrow peaks standing "
            f"{res['peak_ratio']:g} x above the power two frequencies away)"
        )
    for name in outputs[1:]:
        if rs := [r["kept"][name] for r in told]:
            lines.append(f"- where it warned, `{name}` kept {min(rs):.2f}-{max(rs):.2f}")
    dom = res["in_domain"]
    lines += ["", "**In-domain recordings** (the check must not fire):", "",
              "| recordings | n | least check | warned |", "|---|---|---|---|"]  # fmt: skip
    for group in dict.fromkeys(r["recording"].split(":")[0] for r in dom):
        rs = [r for r in dom if r["recording"].split(":")[0] == group]
        lines.append(
            f"| {group} | {len(rs)} | {min(r['kept_share'] for r in rs):.3f} | {sum(r['warned'] for r in rs)} |"
        )
    lines += ["", check_cost_line(res["cost"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return quick_out_main(
        argv, "oscillations", __doc__.splitlines()[0], lambda quick, out: print(markdown(run(quick, out))),
        "a few short recordings (< 1 min)",
    )  # fmt: skip
