"""Short recordings: where the spectral path beats the image model.

An array is taken for a recording when it is twice as long as wide
(:func:`fluorodn.spectral.looks_spectral`), so that frames are not; a recording whose axes are
known (a spectrometer's file, what ``fluorodn unmix`` denoises) takes the spectral path from as
many samples as bins or ``RECORDING_SAMPLES`` (:func:`fluorodn.spectral.takes_recording`). This measures that threshold:
recordings of the widened training generator (``synth.WIDE``: three sensors, fast hemodynamics in
half, noise 0.1-1.2) through the spectral path (``Denoiser(kind="spectral")``) and the image model
(``Denoiser(kind="image")``), RMS error of each over the raw recording's.

* ``W to 2W``: :data:`BETWEEN` recordings, bins uniform in 76-304, samples uniform in [W, 2W);
* ``below W``: for each of :data:`SHORT_BINS` bins, :data:`SHORT_DRAWS` recordings of each of
  :data:`SHORT_SAMPLES` samples below W.

Run::

    python -m benchmarks lengths [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 11
BETWEEN = 60
SHORT_BINS = (76, 152, 304, 512, 1024)
SHORT_SAMPLES = (40, 60, 100, 150, 300, 600)
SHORT_DRAWS = 6
NOISE = (0.1, 1.2)
QUICK = {"between": 4, "short_bins": (152,), "short_samples": (100,), "short_draws": 2}


def errors(rng: np.random.Generator, t: int, w: int, dens: tuple[Any, Any]) -> dict[str, Any]:
    """One recording of ``t`` x ``w`` of the widened generator: each path's RMS error over raw's."""
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    ns = float(np.exp(rng.uniform(np.log(NOISE[0]), np.log(NOISE[1]))))
    inst = make_instance(rng, t, w, ns, signal=WIDE)
    x = inst.noisy.astype(np.float32)
    raw = float(np.sqrt(np.mean((x - inst.clean) ** 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spectral, image = (float(np.sqrt(np.mean((d.run(x) - inst.clean) ** 2))) / raw for d in dens)
    return {"samples": t, "bins": w, "noise": ns, "spectral": spectral, "image": image, "ratio": spectral / image}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    r = np.array([row["ratio"] for row in rows])
    return {
        "recordings": len(rows),
        "spectral_better": int((r < 1).sum()),
        "median_ratio": float(np.median(r)),
        "geometric_mean_ratio": float(np.exp(np.mean(np.log(r)))),
        "worst_ratio": float(r.max()),
        "median_spectral_vs_raw": float(np.median([row["spectral"] for row in rows])),
        "median_image_vs_raw": float(np.median([row["image"] for row in rows])),
    }


def render(res: dict[str, Any]) -> str:
    lines = [
        "# Short recordings: the spectral path against the image model",
        "",
        f"`python -m benchmarks lengths{' --quick' if res['quick'] else ''}` on {res['date']} in "
        f"{res['seconds']:.0f} s: recordings of the widened training generator (noise 0.1-1.2, log-uniform), "
        "each through the spectral path and the image model; `ratio`: the spectral path's RMS error over "
        "the image model's (below 1: the spectral path is better); `vs raw`: RMS error over the raw recording's.",
        "",
        "| recordings | samples | n | path taken (known axes) | spectral better on | median ratio | geometric mean "
        "| worst ratio | median vs raw: spectral / image |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in res["groups"].items():
        lines.append(
            f"| {name} | {s['label']} | {s['recordings']} | {s['path']} | {s['spectral_better']} | "
            f"{s['median_ratio']:.2f} | {s['geometric_mean_ratio']:.2f} | {s['worst_ratio']:.2f} | "
            f"{s['median_spectral_vs_raw']:.2f} / {s['median_image_vs_raw']:.2f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks lengths", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few recordings of each group")
    ap.add_argument("--out", default=None, help="folder for lengths.md/.json (default benchmarks/results)")
    args = ap.parse_args(argv)
    import fluorodn
    from fluorodn.spectral import takes_recording

    between, short_bins, short_samples, draws = BETWEEN, SHORT_BINS, SHORT_SAMPLES, SHORT_DRAWS
    if args.quick:
        between, short_bins = QUICK["between"], QUICK["short_bins"]
        short_samples, draws = QUICK["short_samples"], QUICK["short_draws"]
    t0 = time.perf_counter()
    dens = (fluorodn.Denoiser(kind="spectral"), fluorodn.Denoiser(kind="image"))
    rng = np.random.default_rng(SEED)
    rows: dict[str, list[dict[str, Any]]] = {"W to 2W": []}
    for _ in range(between):
        w = int(rng.integers(76, 305))
        rows["W to 2W"].append(errors(rng, int(rng.integers(w, 2 * w)), w, dens))
    for w in short_bins:
        for t in (t for t in short_samples if t < w):
            rows[f"{w} bins, {t} samples"] = [errors(rng, t, w, dens) for _ in range(draws)]
    groups = {}
    for name, rs in rows.items():
        label = "W-2W, W 76-304" if name == "W to 2W" else f"{rs[0]['samples']} of {rs[0]['bins']} bins"
        taken = {takes_recording((r["samples"], r["bins"])) for r in rs}
        path = "spectral" if taken == {True} else "image" if taken == {False} else "both"
        groups[name] = {"label": label, "path": path, **summary(rs)}
    res = {
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": time.perf_counter() - t0,
        "machine": platform.platform(),
        "groups": groups,
        "rows": rows,
    }
    out = Path(args.out) if args.out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stem = "lengths_quick" if args.quick else "lengths"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    (out / f"{stem}.md").write_text(render(res))
    print(render(res))
    return 0
