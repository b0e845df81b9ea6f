"""Local detail that a recording's spectral components leave out: told, and frames sent to the image path.

The spectral path keeps what a recording's leading spectral components hold and removes the rest
with the noise. A frame whose rows read as one spectrum (an illumination ramp across it) looks to
the default like a short recording; its cells, confined to a few rows and columns, lie largely
outside those components. ``fluorodn.spectral.local_structure`` reads what the components leave
out in patches of 5 x 5; beyond ``LOCAL_LIMIT`` a page that does not look spectral by its shape
goes to the image model, and a recording (or a frame that looks like one by its shape) is told.

Frames: a ramp from 1 to 11 across the columns, Gaussian cells (1.5-4 px wide, peak 1 or 2 over the
ramp) at 2, 5 or 20 per 128 x 128, Gaussian noise 0.3. Cells: the pixels where a cell adds more than half
its peak. Error / raw: RMS error over the input's, on the cells and on the frame, for the default
and for the spectral path declared (``kind="spectral"``: what the default gave such frames before
it read the local detail). In-domain: the score on the quality benchmark's main, robustness and
stress recordings (``SEEDS``), whole (4096 samples) and cut to 256 and 512 samples at two places,
which the check must not take for detail.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import quick_out_main, write_results

__all__ = ["frame", "frame_rows", "in_domain_rows", "markdown", "run"]

RESULTS = Path(__file__).resolve().parent / "results"
#: Frames (rows, columns): square ones take their path by content, tall ones look spectral by shape.
SHAPES = ((128, 128), (256, 256), (512, 512), (1024, 256), (2048, 512))
QUICK_SHAPES = ((256, 256), (1024, 256))
#: Cells per 128 x 128 of the quick mode's frames, and its in-domain recordings' samples.
QUICK_CELLS = (5,)
QUICK_SAMPLES = 1024
QUICK_TEXT = (
    "Quick mode: 5 cells per 128², frames of 256 x 256 and 1024 x 256, one seed of 1024 samples; of the other "
    "benchmarks' recordings, two noise steps and one recording with flashes. "
)
#: Cells per 128 x 128 pixels, and their peak over the ramp.
CELLS = (2, 5, 20)
AMPLITUDES = (1.0, 2.0)
NOISE = 0.3
RAMP = 10.0
#: Clean recordings of the in-domain reading (the test stream's seeds), their samples, and the cuts
#: (samples, and where they start: at the end where the recording is shorter).
SEEDS = (1, 2, 3, 4, 5, 6)
SAMPLES = 4096
CUTS = (256, 512)
CUT_STARTS = (0, 2000)
#: Samples of the noise-change and flash recordings of :func:`other_rows`.
OTHER_SAMPLES = 3000


def frame(shape: tuple[int, int], cells: int, amplitude: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noisy, clean, cell mask) of a ramp frame of ``shape`` with ``cells`` per 128 x 128."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[:h, :w]
    clean = 1.0 + RAMP * x / w
    ramp = clean.copy()
    for _ in range(cells * h * w // (128 * 128)):
        cy, cx, s = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1.5, 4.0)
        clean = clean + amplitude * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
    noisy = clean + rng.normal(0.0, NOISE, clean.shape)
    return noisy.astype(np.float32), clean, (clean - ramp) > 0.5 * amplitude


def _error(y: np.ndarray, clean: np.ndarray, noisy: np.ndarray, where: Any = slice(None)) -> float:
    return float(np.sqrt(np.mean((y[where] - clean[where]) ** 2) / np.mean((noisy[where] - clean[where]) ** 2)))


def frame_rows(shapes: tuple[tuple[int, int], ...], cell_counts: tuple[int, ...] = CELLS) -> list[dict[str, Any]]:
    """One row per frame: its score, the path the default takes, errors over raw, what it said."""
    from fluorodn import Denoiser, OutOfDomainWarning, spectral

    den, declared = Denoiser(device="cpu"), Denoiser(device="cpu", kind="spectral")
    rows = []
    for shape in shapes:
        for cells in cell_counts:
            for amplitude in AMPLITUDES:
                noisy, clean, mask = frame(shape, cells, amplitude, seed=sum(shape) + cells)
                lit = noisy.astype(np.float64)
                score = spectral.local_structure([lit], spectral.project(lit))
                with warnings.catch_warnings(record=True) as said:
                    warnings.simplefilter("always")
                    y = den.run(noisy)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    before = declared.run(noisy)
                told = [str(w.message) for w in said if issubclass(w.category, OutOfDomainWarning)]
                rows.append({
                    "shape": list(shape), "cells": cells, "amplitude": amplitude, "score": score,
                    "rows_one_spectrum": bool(spectral.rows_are_spectra(noisy)),
                    "path": "spectral" if den._runs(noisy.shape, first=noisy) is den else "image",
                    "cells_error": _error(y, clean, noisy, mask), "frame_error": _error(y, clean, noisy),
                    "before_cells_error": _error(before, clean, noisy, mask),
                    "before_frame_error": _error(before, clean, noisy),
                    "local_told": any("local detail" in m for m in told), "warnings": told,
                })  # fmt: skip
    return rows


def in_domain_rows(seeds: tuple[int, ...], samples: int = SAMPLES) -> list[dict[str, Any]]:
    """The score of every main, robustness and stress recording of ``seeds`` (``samples`` long), whole
    and cut."""
    from fluorodn_train.evaluation.recordings import make_recordings

    from benchmarks.stress import make_stress
    from fluorodn import spectral

    rows = []
    for seed in seeds:
        recs = make_stress(samples, False, seed=seed)
        recs += make_recordings(samples, (0.2, 0.4, 0.8), robust=True, seed=seed)
        for rec in recs:
            x = np.asarray(rec.noisy, np.float64)
            p = spectral.project(x)
            whole = spectral.local_structure([x], p, [spectral.isolated_spikes(x, p.sigma)])
            cuts = [
                spectral.local_structure([x[a : a + n]], spectral.project(x[a : a + n]))
                for n in CUTS
                for a in (min(start, samples - n) for start in CUT_STARTS)
            ]
            rows.append({"seed": seed, "recording": rec.name, "bins": x.shape[1], "whole": whole, "cuts": max(cuts)})
    return rows


def _score(x: np.ndarray) -> float:
    """The score as the checks read it: on the rows of ``check_blocks``, spikes left out."""
    from fluorodn import spectral

    x = np.asarray(x, np.float32)
    p = spectral.project(x)
    rows = [x[b] for b in spectral.check_blocks(len(x))]
    return spectral.local_structure(rows, p, [spectral.isolated_spikes(r, p.sigma) for r in rows])


def other_rows(quick: bool) -> list[dict[str, Any]]:
    """The score, as the checks read it, of the recordings that the oscillations and flashes
    benchmarks read as in-domain (the events benchmark's, the stress recordings, draws of the
    widened generator), of the noise-changes benchmark's recordings as given (a noise step that
    ``fluorodn.dask`` does not steady), and of the quality benchmark's main recordings with flashes."""
    from fluorodn_train.evaluation.recordings import make_recordings

    from benchmarks import noise_changes
    from benchmarks.flashes import with_flashes
    from benchmarks.oscillations import in_domain_recordings

    recs = [] if quick else in_domain_recordings(False)
    rows = [{"group": "in-domain", "recording": name, "score": _score(x)} for name, x, _ in recs]
    for name, kind, args in noise_changes.CONDITIONS[1:3] if quick else noise_changes.CONDITIONS:
        for seed in range(1 if quick else noise_changes.SEEDS):
            x = noise_changes.recording(kind, args, seed, OTHER_SAMPLES)["x"]
            rows.append({"group": "noise changes", "recording": name, "score": _score(x)})
    for rec in make_recordings(OTHER_SAMPLES, (0.8,) if quick else (0.2, 0.8)):
        for factor in (2.0,) if quick else (1.1, 1.5, 2.0):
            x = with_flashes(rec.noisy, rec.clean, rec.dark, factor)[0]
            rows.append({"group": "flashes", "recording": f"{rec.name}, flashes {factor:g}x", "score": _score(x)})
    return rows


def run(quick: bool, out_dir: Path | None = None) -> dict[str, Any]:
    from fluorodn import spectral

    t0 = time.perf_counter()
    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "mode": "quick" if quick else "full",
        "limit": spectral.LOCAL_LIMIT,
        "frames": frame_rows(QUICK_SHAPES, QUICK_CELLS) if quick else frame_rows(SHAPES),
        "in_domain": in_domain_rows(SEEDS[:1], QUICK_SAMPLES) if quick else in_domain_rows(SEEDS),
        "others": other_rows(quick),
    }
    result["elapsed_s"] = time.perf_counter() - t0
    write_results(result, out_dir, RESULTS, "local_detail_quick" if quick else "local_detail", markdown)
    return result


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Local detail the spectral components leave out",
        "",
        f"`python -m benchmarks local-detail{' --quick' if res['mode'] == 'quick' else ''}` on {res['created']} in "
        f"{res['elapsed_s']:.0f} s; the limit on the score is {res['limit']:g}. "
        + (QUICK_TEXT if res["mode"] == "quick" else "")
        + " ".join(__doc__.split("\n\n")[2].split()),
        "",
        "| frame | cells per 128² | peak | rows one spectrum | score | path | cells / raw | frame / raw | "
        "before: cells / raw | before: frame / raw | told |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["frames"]:
        h, w = r["shape"]
        told = "local detail" if r["local_told"] else ("other" if r["warnings"] else "")
        lines.append(
            f"| {h} x {w} | {r['cells']} | {r['amplitude']:g} | {'yes' if r['rows_one_spectrum'] else 'no'} | "
            f"{r['score']:.2f} | {r['path']} | {r['cells_error']:.2f} | {r['frame_error']:.2f} | "
            f"{r['before_cells_error']:.2f} | {r['before_frame_error']:.2f} | {told} |"
        )
    worse = [r for r in res["frames"] if r["cells_error"] > 1.0]
    quiet = [r for r in worse if not r["warnings"]]
    lines += [
        "",
        f"Cells left further from the truth than the input: {len(worse)} of {len(res['frames'])} frames, "
        f"{len(quiet)} of them with no warning"
        + (
            f" (all on the image path, cells {min(r['cells_error'] for r in quiet):.2f}-"
            f"{max(r['cells_error'] for r in quiet):.2f} x raw)."
            if quiet and all(r["path"] == "image" for r in quiet)
            else "."
        ),
        "",
        "**In-domain recordings** (the score must stay under the limit):",
        "",
        "| recording | n | largest score, whole | largest score, cuts | over the limit |",
        "|---|---|---|---|---|",
    ]
    dom = res["in_domain"]
    for name in dict.fromkeys(r["recording"] for r in dom):
        rs = [r for r in dom if r["recording"] == name]
        over = sum((r["whole"] > res["limit"]) + (r["cuts"] > res["limit"]) for r in rs)
        lines.append(
            f"| {name} | {len(rs)} | {max(r['whole'] for r in rs):.2f} | {max(r['cuts'] for r in rs):.2f} | {over} |"
        )
    lines += [
        "",
        f"Largest over all {len(dom)} recordings: {max(r['whole'] for r in dom):.2f} whole, "
        f"{max(r['cuts'] for r in dom):.2f} cut.",
        "",
        "**Other benchmarks' recordings**, the score as the checks read it (up to 4096 rows in 4 blocks): the "
        "oscillations and flashes benchmarks' in-domain recordings (the events benchmark's, the stress recordings, "
        "draws of the widened generator), the noise-changes benchmark's recordings as given (unsteadied, as "
        "`fluorodn.dask` denoises them), the main recordings with 5 flashes:",
        "",
        "| group | n | largest score | over the limit |",
        "|---|---|---|---|",
    ]
    others = res.get("others", [])
    for group in dict.fromkeys(r["group"] for r in others):
        rs = [r for r in others if r["group"] == group]
        top = max(rs, key=lambda r: r["score"])
        lines.append(
            f"| {group} | {len(rs)} | {top['score']:.2f} ({top['recording']}) | "
            f"{sum(r['score'] > res['limit'] for r in rs)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return quick_out_main(
        argv, "local-detail", __doc__.splitlines()[0], lambda quick, out: print(markdown(run(quick, out))),
        "four frames and one seed's shorter recordings (about 15 s)",
    )  # fmt: skip
