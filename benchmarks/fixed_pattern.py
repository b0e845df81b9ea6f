"""How the spectral path estimates the detector's fixed pattern, against the alternatives.

``python -m benchmarks fixed-pattern [--quick] [--out DIR]`` writes ``fixed_pattern.md`` and
``fixed_pattern.json``. Each recording runs once through the default with each bin's time mean
kept; every variant then subtracts its own pattern estimate from that output, so only the
estimate differs. Reported: the time-mean squared error of the output (counts^2: each bin's
time-mean error, which is where the pattern lives; the time-varying error is the same for all).

Variants (``W`` bins, ``m`` the time-mean spectrum that :func:`fluorodn.spectral.fit` uses: the
per-bin median plus the components' share of the mean):

* ``kept``: no estimate;
* ``order 2``, ``order 3``, ``order 4``: ``m`` minus its Whittaker smooth with that order of
  differences (:func:`fluorodn.spectral.smooth_spectrum`, GCV), end bins kept; ``order 3`` is
  the shipped rule, checked here to equal ``fit``'s own ``pattern`` (whose bins departing further
  than a detector's pattern, :func:`fluorodn.spectral.fixed_pattern_estimate`, none of these
  recordings holds);
* ``order 3, ends too``: the same, the end bins corrected as well;
* ``order 3, ends halved``: the end bins corrected by half their estimate (a shrunk estimate, for
  an end bin whose estimate is only partly right);
* ``median only``: order 3 on the per-bin median instead of ``m``;
* ``cubic spline``: scipy's ``make_smoothing_spline`` (natural ends, GCV) on ``m``, end bins kept.

Recordings: the quality benchmark's main recordings, its stress recordings with fast
hemodynamics, other sensors and slow rises, and
``WIDE_RECORDINGS`` recordings of the widened training generator (76-304 bins, noise 0.1-1.2;
per-bin rows for the first, second and last bin, where the end-bin rule is decided).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train.evaluation import recordings as R

RESULTS = Path(__file__).resolve().parent / "results"
NOISE_SCALES = (0.2, 0.4, 0.8)
WIDE_RECORDINGS = 60
WIDE_SEED = 1234


def time_mean(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(``m``, per-bin median) of a (T, W) recording, as :func:`fluorodn.spectral.fit` has them."""
    from fluorodn import spectral

    p = spectral.fit(x, fixed_pattern=False)
    rows = x[:: max(1, -(-len(x) // spectral.STAT_ROWS))]
    back = spectral._back(p)  # (K, W)
    return p.mu + spectral.coefficients(p, rows).astype(np.float64).mean(axis=0) @ back, p.mu


def _ends_kept(pattern: np.ndarray) -> np.ndarray:
    pattern = pattern.copy()
    pattern[[0, -1]] = 0.0
    return pattern


def variants(m: np.ndarray, median: np.ndarray) -> dict[str, np.ndarray]:
    """Pattern estimate of every variant (units of the recording)."""
    from scipy.interpolate import make_smoothing_spline

    from fluorodn.spectral import smooth_spectrum

    u = np.arange(len(m), dtype=np.float64)
    out = {"kept": np.zeros_like(m)}
    for order in (2, 3, 4):
        out[f"order {order}"] = _ends_kept(m - smooth_spectrum(m, order))
    out["order 3, ends too"] = m - smooth_spectrum(m, 3)
    out["order 3, ends halved"] = np.where(np.isin(u, [0, len(m) - 1]), 0.5, 1.0) * out["order 3, ends too"]
    out["median only"] = _ends_kept(median - smooth_spectrum(median, 3))
    out["cubic spline"] = _ends_kept(m - make_smoothing_spline(u, m)(u))
    return out


def measure(
    run: Callable[[np.ndarray], np.ndarray], noisy: np.ndarray, clean: np.ndarray, affine: tuple[float, float]
) -> dict[str, Any]:
    """Per variant: the time-mean MSE of the output (counts^2) and the per-bin squared error of
    the first, second and last bin."""
    from fluorodn import spectral

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = np.asarray(run(noisy), np.float64)
    m, median = time_mean(noisy)
    shipped = spectral.fit(noisy).pattern
    pats = variants(m, median)
    np.testing.assert_allclose(pats["order 3"], shipped, atol=1e-9 * float(np.abs(m).max()))
    f, o = affine
    target = clean.mean(axis=0)
    out = {}
    for name, pat in pats.items():
        err = ((y.mean(axis=0) - pat - o) / f - target) ** 2
        out[name] = {"mse": float(err.mean()), "bin_first": float(err[0]), "bin_second": float(err[1]),
                     "bin_last": float(err[-1]), "interior_median": float(np.median(err[2:-2]))}  # fmt: skip
    return out


def run(quick: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    import fluorodn
    from benchmarks.stress import make_stress

    t0 = time.perf_counter()
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = fluorodn.Denoiser(options=fluorodn.DenoiserOptions(threads=2, keep_fixed_pattern=True))
    n_time = 600 if quick else 9000
    recs = R.make_recordings(n_time, NOISE_SCALES[:1] if quick else NOISE_SCALES)
    if not quick:
        recs += [r for r in make_stress(n_time // 3, False) if r.name.startswith(("slow rise", "fast", "sensor"))]
    rows = [{"recording": r.name, **measure(kept.run, r.noisy, r.clean, r.affine)} for r in recs]
    rng = np.random.default_rng(WIDE_SEED)
    wide = []
    for _ in range(3 if quick else WIDE_RECORDINGS):
        w = int(rng.choice([76, 152, 304]))
        scale = float(np.exp(rng.uniform(np.log(0.1), np.log(1.2))))
        inst = make_instance(rng, 3000, w, scale, signal=WIDE)
        wide.append(measure(kept.run, inst.noisy, inst.clean, (1.0, 0.0)))
    names = list(wide[0])
    wide_mean = {n: {k: float(np.mean([r[n][k] for r in wide])) for k in wide[0][n]} for n in names}
    worse_first = {n: int(sum(r[n]["bin_first"] > r["kept"]["bin_first"] for r in wide)) for n in names}
    result = {
        "benchmark": "fixed-pattern",
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.perf_counter() - t0, 1),
        "model_sha256": kept.sha256,
        "rows": rows,
        "wide": {
            "recordings": len(wide),
            "seed": WIDE_SEED,
            "mean": wide_mean,
            "first_bin_worse_than_kept": worse_first,
        },
    }
    stem = "fixed_pattern_quick" if quick else "fixed_pattern"
    (out_dir / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out_dir / f"{stem}.md").write_text(report(result))
    return result


def report(res: dict[str, Any]) -> str:
    names = list(res["rows"][0])[1:]
    lines = [
        "# The fixed-pattern estimate against its alternatives",
        "",
        f"Generated by `python -m benchmarks fixed-pattern` on {res['created']} in {res['seconds']:.0f} s "
        f"(model sha256 {res['model_sha256'][:12]}). Time-mean squared error of the output in counts^2 "
        "(each bin's time-mean error; the time-varying error is the same for every variant). "
        "`order 3` is the shipped rule (checked equal to `fluorodn.spectral.fit`'s pattern).",
        "",
        "| recording | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for r in res["rows"]:
        lines.append(f"| {r['recording']} | " + " | ".join(f"{r[n]['mse']:.2f}" for n in names) + " |")
    w = res["wide"]
    lines += [
        "",
        f"## {w['recordings']} recordings of the widened generator (76-304 bins, noise 0.1-1.2)",
        "",
        "Mean over the recordings; `first bin worse`: recordings whose first bin has a larger "
        "time-mean error than with the pattern kept.",
        "",
        "| variant | time-mean MSE | first bin | second bin | last bin | interior median | first bin worse |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in names:
        v = w["mean"][n]
        lines.append(
            f"| {n} | {v['mse']:.2f} | {v['bin_first']:.2f} | {v['bin_second']:.2f} | {v['bin_last']:.2f} | "
            f"{v['interior_median']:.2f} | {w['first_bin_worse_than_kept'][n]} |"
        )
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    from benchmarks.measure import quick_out_main

    quick = "one 2-minute recording and 3 generator recordings"
    return quick_out_main(argv, "fixed-pattern", __doc__ or "", run, quick)


if __name__ == "__main__":
    raise SystemExit(main())
