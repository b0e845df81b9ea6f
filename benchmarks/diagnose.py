"""Where the default's remaining error and lost events come from (main test recordings).

``python -m benchmarks diagnose [--quick] [--out DIR]`` writes ``diagnosis.md`` and
``diagnosis.json``. For the default, raw and ``svd-16+low`` on the quality benchmark's main
recordings:

* **error split**: the MSE in counts^2 and the part of it that is constant in time (each bin's
  time-mean error: the detector's fixed pattern and offsets, which coherence and events do not
  see);
* **bins**: RMS error of the first and last bins against the median bin, absolute and over raw
  (``fluorodn:low border=mirror``: why spectral-looking pages keep the network's zero padding);
* **edge bins**: why the first and last wavelength bins keep a larger share of their noise than
  the median bin (also on the red-sensor stress recording, where the gap is widest): each bin's
  leverage in the projection (``sum_k basis[w, k]^2``, the share of its noise that lies in the 16
  kept components) against the median bin's, and the default's error / raw error ratios against
  the median bin's, with and without each bin's time-mean error;
* **edge cost** (:func:`edge_penalty`): the error on the first and last bins and samples of a
  cropped recording over the error on the same cells inside the whole recording, for the default,
  ``svd-8`` and ``gauss-0.5``: what being at an edge costs, apart from how hard the cells are;
* **frame border** (:func:`frame_edge_cost`): the same for the image path on the quality
  benchmark's test frame, cropped by ``FRAME_CROPS`` pixels on every side, for ``low`` (fp32
  and int8), ``high``, Gaussians and BM3D, beside the frame table's border and interior error /
  raw error;
* **events**: the OASIS penalty ``lam`` it settles on, and each missed true event classified:
  ``small``, ``merged`` (the deconvolved train is non-zero within the match tolerance, but that
  sample was grouped into an event timed elsewhere), ``shifted`` (the nearest detected event lies
  1-2x the tolerance away), ``absent``, or ``taken`` (a detection lies within the tolerance but
  the one-to-one matching gave it to another true event); ``small`` comes first: a detection
  lies within the tolerance, but below the smallest size that counts;
* **sweep conditions**: the same classification of the misses, summed over the draws of each
  condition whose repeated draws in ``benchmarks/results/sweep.json`` (``python -m benchmarks
  sweep``) are below raw on F1 on average, raw against the default and against the default with
  the events' onsets rounded (:func:`benchmarks.sweep.redraw`, the sweep's own repeated draws,
  those the analysis resolves);
* **fast hemodynamics** (:func:`fast_hemo_summary`): event F1 of the default, its run-time
  variants and the global and local classical projections on the stress recordings with fast
  hemodynamics of the quality benchmark's six seeds, paired with raw: where the events the default
  loses there are lost.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn_train.evaluation import recordings as R

RESULTS = Path(__file__).resolve().parent / "results"
NOISE_SCALES = (0.2, 0.4, 0.8)


def error_split(clean: np.ndarray, y: np.ndarray, noisy: np.ndarray) -> dict[str, float]:
    """MSE, its constant-in-time part, and the first/last bins against the median bin."""
    err = np.asarray(y, np.float64) - clean
    const = err.mean(axis=0)
    per_bin = np.sqrt(np.mean(err**2, axis=0))
    raw_bin = np.sqrt(np.mean((np.asarray(noisy, np.float64) - clean) ** 2, axis=0))
    med = float(np.median(per_bin))
    ratio = per_bin / raw_bin
    return {
        "mse": float(np.mean(err**2)),
        "mse_constant": float(np.mean(const**2)),
        "first_bin_vs_median": float(per_bin[0] / med),
        "last_bin_vs_median": float(per_bin[-1] / med),
        "first_bin_ratio": float(ratio[0]),
        "last_bin_ratio": float(ratio[-1]),
        "median_bin_ratio": float(np.median(ratio)),
    }


def _bin_ratios(noisy: np.ndarray, clean: np.ndarray, y: np.ndarray, prefix: str = "") -> dict[str, float]:
    """Error / raw error of the first and last bins over the median bin's, all of it and its
    time-varying part (each bin's time-mean error removed)."""
    err = np.asarray(y, np.float64) - clean
    raw = np.asarray(noisy, np.float64) - clean
    out = {}
    for tag, e, r in (("", err, raw), ("_varying", err - err.mean(axis=0), raw - raw.mean(axis=0))):
        ratio = np.sqrt(np.mean(e**2, axis=0) / np.mean(r**2, axis=0))
        out[f"{prefix}ratio_first{tag}"] = float(ratio[0] / np.median(ratio))
        out[f"{prefix}ratio_last{tag}"] = float(ratio[-1] / np.median(ratio))
    return out


def bin_leverage(
    noisy: np.ndarray, clean: np.ndarray, y: np.ndarray, reference: np.ndarray | None = None
) -> dict[str, float]:
    """The first/last bins against the median bin: leverage in the recording's projection and
    error / raw error, all of it and its time-varying part (each bin's time-mean removed).
    ``reference``: another output of the same recording whose ratios come as ``oracle_ratio_...``
    (the spectral oracle's: how uneven the bins are for an estimator that knows the spectra)."""
    from fluorodn import spectral

    lev = (spectral.fit(noisy, fixed_pattern=False).basis ** 2).sum(axis=1)
    out = {"leverage_first": float(lev[0] / np.median(lev)), "leverage_last": float(lev[-1] / np.median(lev))}
    out |= _bin_ratios(noisy, clean, y)
    if reference is not None:
        out |= _bin_ratios(noisy, clean, reference, "oracle_")
    return out


def event_misses(rec: R.Recording, y: np.ndarray) -> dict[str, Any]:
    """The OASIS penalty and the missed true events of one output, classified."""
    ev = R.event_analysis(rec, R.fitted_trace(rec, y))
    det = ev.det_idx[ev.det_amp >= ev.min_size]
    tol = R.EVENT_TOL
    small = ev.det_idx[ev.det_amp < ev.min_size]
    kinds = {"small": 0, "merged": 0, "shifted": 0, "absent": 0}
    for t in ev.true_idx[ev.true_amp >= ev.min_size]:
        nearest = np.min(np.abs(det - t)) if det.size else np.inf
        if nearest <= tol:
            continue
        if small.size and np.min(np.abs(small - t)) <= tol:
            kinds["small"] += 1
        elif np.any(ev.train[max(0, t - tol) : t + tol + 1] > ev.floor):
            kinds["merged"] += 1
        elif nearest <= 2 * tol:
            kinds["shifted"] += 1
        else:
            kinds["absent"] += 1
    kinds["taken"] = int(ev.score.fn) - sum(kinds.values())
    return {"lam": ev.lam, "f1": ev.score.f1, "missed": int(ev.score.fn), **kinds}


MISS_KINDS = ("small", "merged", "shifted", "absent", "taken")


#: Bins and samples cut from each side for :func:`edge_penalty`, one crop per entry (each more
#: than the network's halo); a crop that would leave under a third of the recording is skipped.
CROP_BINS = (12, 15, 18, 21)
CROP_SAMPLES = tuple(range(200, 1400, 50))
#: Samples from a crop's ends beyond which its rows count as interior (``interior_samples_vs_raw``
#: of :func:`edge_penalty`): more than the spectral network's halo.
INTERIOR_MARGIN = 64
#: Samples of the Gaussian over time in the edge table's reference pipeline: a projection then
#: a smoother over time, as the default is, but linear and with the textbook mirrored border.
EDGE_TIME_SIGMA = 2.0
#: The edge table's references for what the spectrum's ends and the recording's ends have to cost
#: (:mod:`benchmarks.oracle`).
SPECTRAL_ORACLE = "wiener across wavelength (oracle)"
#: The default with each trace's ends as the mirrored border alone gives them (the border it was
#: trained on), without the mean with the continued border (:func:`fluorodn.spectral.run_traces`).
MIRRORED = "fluorodn:default, mirrored ends only"
TIME_ORACLE = "wiener over time (oracle)"
ROUNDED = "fluorodn:default, onsets rounded"


def edge_penalty(rec: R.Recording, fn: Any, bins: bool = True) -> dict[str, float]:
    """What being at an edge costs ``fn``: the error on the first and last bins (samples) of
    ``rec`` cropped by each of ``CROP_BINS`` bins (``CROP_SAMPLES`` samples) on each side, over
    the error on the same cells when ``fn`` runs on the whole recording, where they lie inside.
    Squared errors are summed over the crops, so that each ratio pools as many edges as there are
    crops. Unlike error / raw error against the interior, it does not mix in how hard the cells
    are to denoise (how much signal the first bins hold). ``varying``: the ratios after removing
    each bin's time-mean error of its run (the fixed pattern, which is constant in time).
    ``whole_error_vs_raw``: RMS error / raw error of the whole recording, for comparing pipelines
    that smooth more or less; ``..._samples_vs_raw``: the crops' end samples' error over their raw
    error, each bin's time-mean error over the crop taken out of both (``interior_samples_vs_raw``:
    the same for the rows more than ``INTERIOR_MARGIN`` samples from the crop's ends). ``bins=False`` leaves out the
    crops in wavelength (for a pipeline that only takes the whole spectrum)."""
    from benchmarks.stress import EDGE_BINS, EDGE_SAMPLES

    whole = output(fn, rec) - rec.clean
    t, w = whole.shape
    sums: dict[str, list[float]] = {}

    def add(name: str, e: np.ndarray, ref: np.ndarray) -> None:
        s = sums.setdefault(name, [0.0, 0.0])
        s[0] += float(np.sum(e**2))
        s[1] += float(np.sum(ref**2))

    regions = {
        "first_bin": lambda n: [0],
        "last_bin": lambda n: [n - 1],
        f"first_{EDGE_BINS}_bins": lambda n: list(range(EDGE_BINS)),
        f"last_{EDGE_BINS}_bins": lambda n: list(range(n - EDGE_BINS, n)),
    }
    for mb in (m for m in CROP_BINS if bins and w - 2 * m >= w // 3):
        cut = dataclasses.replace(rec, noisy=rec.noisy[:, mb:-mb], clean=rec.clean[:, mb:-mb])
        by_bin = output(fn, cut) - cut.clean
        for name, cols_of in regions.items():
            cols = cols_of(by_bin.shape[1])
            e, ref = by_bin[:, cols], whole[:, [mb + c for c in cols]]
            add(name, e, ref)
            add(f"{name}_varying", e - e.mean(axis=0), ref - ref.mean(axis=0))
    for ms in (m for m in CROP_SAMPLES if t - 2 * m >= t // 3):
        cut = dataclasses.replace(rec, noisy=rec.noisy[ms:-ms], clean=rec.clean[ms:-ms])
        by_time = output(fn, cut) - cut.clean
        n = len(by_time)
        ends = {
            f"first_{EDGE_SAMPLES}_samples": (slice(0, EDGE_SAMPLES), slice(ms, ms + EDGE_SAMPLES)),
            f"last_{EDGE_SAMPLES}_samples": (slice(n - EDGE_SAMPLES, n), slice(ms + n - EDGE_SAMPLES, ms + n)),
        }
        # each bin's time-mean error over the crop's rows taken out of both runs: the fixed pattern's share
        crop_mean, whole_mean = by_time.mean(axis=0), whole[ms : ms + n].mean(axis=0)
        raw = cut.noisy - cut.clean
        raw_mean = raw.mean(axis=0)
        for name, (crop_rows, whole_rows) in ends.items():
            e, ref = by_time[crop_rows], whole[whole_rows]
            add(name, e, ref)
            add(f"{name}_varying", e - crop_mean, ref - whole_mean)
            add(f"{name}_vs_raw", e - crop_mean, raw[crop_rows] - raw_mean)
        inside = slice(INTERIOR_MARGIN, n - INTERIOR_MARGIN)
        add("interior_samples_vs_raw", by_time[inside] - crop_mean, raw[inside] - raw_mean)
    out = {name: float(np.sqrt(a / max(b, 1e-300))) for name, (a, b) in sums.items()}
    raw = output(lambda x: x, rec) - rec.clean
    return out | {"whole_error_vs_raw": float(np.sqrt(np.mean(whole**2) / max(np.mean(raw**2), 1e-300)))}


#: Pixels cut from every side of the test frame for :func:`frame_edge_cost`, one crop per entry
#: (each more than the image models' halo of 20 pixels, so a crop's border sees no frame edge).
FRAME_CROPS = (24, 32, 40)
#: The ratio of end error to interior error the ends are held to.
END_TARGET = 1.15
#: The frame table's reference for what a border has to cost (:mod:`benchmarks.oracle`).
FRAME_ORACLE = "wiener (oracle)"
#: The frame pipeline the others' run times are given against.
FRAME_BASE = "low fp32"


def frame_edge_cost(fn: Any, clean: np.ndarray, noisy: np.ndarray) -> dict[str, float]:
    """What being at a frame's border costs ``fn``: the RMS error on the outer ``FRAME_BORDER``
    pixels of the frame cropped by each of ``FRAME_CROPS`` pixels on every side, over the RMS
    error on the same pixels when ``fn`` runs on the whole frame, where they lie inside (squared
    errors summed over the crops; 1.0: the border costs nothing). Also, as the quality
    benchmark's frame table has them, the whole frame's border and interior error / raw error, and
    ``seconds``: the fastest of three runs on the whole frame."""
    from benchmarks.stress import frame_regions

    seconds = []
    for _ in range(3):
        t0 = time.perf_counter()
        y = fn(noisy)
        seconds.append(time.perf_counter() - t0)
    whole = np.asarray(y, np.float64) - clean
    raw = noisy - clean
    border, interior = frame_regions(clean.shape)
    at_edge = inside = 0.0
    for c in FRAME_CROPS:
        cut = np.s_[c:-c, c:-c]
        err = np.asarray(fn(noisy[cut]), np.float64) - clean[cut]
        edge, _ = frame_regions(err.shape)
        at_edge += float(np.sum(err[edge] ** 2))
        inside += float(np.sum(whole[cut][edge] ** 2))

    def ratio(mask: np.ndarray) -> float:
        return float(np.sqrt(np.mean(whole[mask] ** 2) / np.mean(raw[mask] ** 2)))

    return {
        "edge_cost": float(np.sqrt(at_edge / inside)),
        "border": ratio(border),
        "interior": ratio(interior),
        "seconds": min(seconds),
    }


def frame_pipelines(quick: bool) -> dict[str, Any]:
    """The image path as users get it (``low``, fp32 and int8, and ``high``; mirrored border; in full
    mode also ``low`` with ``self_ensemble``), and the frame table's references: Gaussians and (full
    mode) BM3D, which mirror the border themselves."""
    from scipy.ndimage import gaussian_filter

    import fluorodn
    from benchmarks.pipelines import bm3d_denoise
    from benchmarks.stress import FRAME_GAUSS

    runs = [("low", "fp32")] if quick else [("low", "fp32"), ("low", "int8"), ("high", "fp32")]
    pipes: dict[str, Any] = {f"{m} {p}": fluorodn.Denoiser(m, device="cpu", precision=p).run for m, p in runs}
    if not quick:
        ens = fluorodn.DenoiserOptions(self_ensemble=True)
        pipes["low fp32 self-ensemble"] = fluorodn.Denoiser("low", device="cpu", precision="fp32", options=ens).run
    for g in FRAME_GAUSS[1:2] if quick else FRAME_GAUSS:
        pipes[f"gauss-{g:g}"] = lambda x, g=g: gaussian_filter(x, g)
    if not quick:
        pipes["bm3d"] = bm3d_denoise
    return pipes


def crop_leverage(rec: R.Recording) -> dict[str, float]:
    """The leverage of the crops' end bins in the spectral path's signal subspace (the
    components it keeps, :attr:`fluorodn.spectral.Projection.signal`) over the same bins' leverage
    in the whole recording's, summed over the crops of :func:`edge_penalty`. The noise a
    projection keeps in a bin grows with that bin's leverage; ``angle_cos``: the smallest cosine of
    the principal angles between a crop's subspace and the whole's restricted to the crop's bins
    (1: the same subspace)."""
    from fluorodn import spectral

    def subspace(x: np.ndarray) -> np.ndarray:
        p = spectral.fit(x, fixed_pattern=False)
        b = p.basis if p.rotation is None else p.basis @ p.rotation
        return np.asarray(b if p.signal is None else b[:, p.signal])

    whole = subspace(rec.noisy)
    w = whole.shape[0]
    lev_whole = np.sum(whole**2, axis=1)
    sums = np.zeros((2, 2))
    cos = 1.0
    for mb in (m for m in CROP_BINS if w - 2 * m >= w // 3):
        crop = subspace(rec.noisy[:, mb:-mb])
        lev = np.sum(crop**2, axis=1)
        sums += [[lev[0], lev_whole[mb]], [lev[-1], lev_whole[w - mb - 1]]]
        q, _ = np.linalg.qr(whole[mb:-mb])
        cos = min(cos, float(np.linalg.svd(q.T @ crop, compute_uv=False).min()))
    return {
        "leverage_first": float(sums[0, 0] / sums[0, 1]),
        "leverage_last": float(sums[1, 0] / sums[1, 1]),
        "angle_cos": cos,
    }


def output(fn: Any, rec: R.Recording) -> np.ndarray:
    """``fn``'s output of ``rec`` in counts (float64), its warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rec.to_counts(np.asarray(fn(rec.noisy), np.float64))


def as_recording(den: Any) -> Any:
    """``den.run`` on arrays known to be time x wavelength recordings, however short."""
    return lambda x: np.asarray(den.run(x, recording=True))


def mirrored_ends_only(den: Any) -> Any:
    """:func:`as_recording` with each trace's ends as the mirrored border alone gives them
    (:data:`MIRRORED`)."""
    import functools

    from fluorodn import spectral

    def run(x: np.ndarray) -> np.ndarray:
        both = spectral.run_traces
        spectral.run_traces = functools.partial(both, continued_ends=False)
        try:
            return np.asarray(den.run(x, recording=True))
        finally:
            spectral.run_traces = both

    return run


def _end_keys() -> tuple[str, str]:
    """The keys of :func:`edge_penalty` for the crops' first and last end samples' error / raw error."""
    from benchmarks.stress import EDGE_SAMPLES

    return f"first_{EDGE_SAMPLES}_samples_vs_raw", f"last_{EDGE_SAMPLES}_samples_vs_raw"


def end_ratios(e: dict[str, Any]) -> tuple[float, float]:
    """The first and last end samples' error / raw error of an :func:`edge_penalty` row, over its
    interior's (the time-varying parts, as the quality benchmark reads a recording)."""
    first, last = _end_keys()
    inner = max(e["interior_samples_vs_raw"], 1e-300)
    return e[first] / inner, e[last] / inner


def _ends_against_interior(edges: list[dict[str, Any]], title: str, intro: str) -> list[str]:
    """The edge crops read as the quality benchmark reads a recording: the end samples' error /
    raw error against the interior rows' (time-varying parts), pooled over the crops."""
    from benchmarks.stress import EDGE_SAMPLES

    first, last = _end_keys()
    rows = [e for e in edges if "interior_samples_vs_raw" in e and first in e]
    if not rows:
        return []
    lines = [
        "",
        f"### {title}",
        "",
        intro.format(samples=EDGE_SAMPLES, margin=INTERIOR_MARGIN, crops=len(CROP_SAMPLES), mirrored=MIRRORED),
        "",
        f"| recording | pipeline | first {EDGE_SAMPLES} samples | last {EDGE_SAMPLES} samples | interior "
        "| worst end / interior |",
        "|---|---|---|---|---|---|",
    ]
    for e in rows:
        lines.append(
            f"| {e['recording']} | {e['pipeline']} | {e[first]:.3f} | {e[last]:.3f} | "
            f"{e['interior_samples_vs_raw']:.3f} | {max(end_ratios(e)):.2f} |"
        )
    return lines


def _ends_beside_oracle(edges: list[dict[str, Any]]) -> list[str]:
    """A line per recording whose default ends keep more than :data:`END_TARGET` times its
    interior's error: the time oracle's ratio there, and whether the default's end samples keep less
    error than the oracle's."""
    from benchmarks.stress import EDGE_SAMPLES

    first, last = _end_keys()
    by = {(e["recording"], e["pipeline"]): e for e in edges if first in e and "interior_samples_vs_raw" in e}
    lines = []
    for (name, pipe), e in by.items():
        o = by.get((name, TIME_ORACLE))
        if pipe != "fluorodn:default" or o is None:
            continue
        worst = max(end_ratios(e))
        if worst <= END_TARGET:
            continue
        o_worst = max(end_ratios(o))
        keeps = "the default keeps less at both ends" if e[first] <= o[first] and e[last] <= o[last] else "not at both"
        lines.append(
            f"- {name}: the default's ends {worst:.2f}x its interior, the oracle's {o_worst:.2f}x; the default's "
            f"first / last {EDGE_SAMPLES} samples {e[first]:.3f} / {e[last]:.3f} of the raw error, the oracle's "
            f"{o[first]:.3f} / {o[last]:.3f} ({keeps})."
        )
    if lines:
        lines = ["", f"The recordings whose default ends keep more than {END_TARGET:g}x the interior:", "", *lines]
    return lines


#: Seeds of the stress recordings whose default ends keep more than :data:`END_TARGET` times the
#: interior on the stress table's seed (the first): drawn again, is that the recording or the condition?
END_SEEDS = tuple(range(R.SEED, R.SEED + 6))


def ends_outside(edges: list[dict[str, Any]]) -> list[str]:
    """The recordings whose default ends keep more than :data:`END_TARGET` times the interior's error."""
    first, _ = _end_keys()
    return list(
        dict.fromkeys(
            e["recording"]
            for e in edges
            if e["pipeline"] == "fluorodn:default" and first in e and max(end_ratios(e)) > END_TARGET
        )
    )


def ends_over_seeds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recording name and pipeline: :func:`end_ratios` on
    each seed's recording, their means over the seeds, and on how many seeds the worse end is above
    :data:`END_TARGET`; and the mean error / raw error of the first and last end samples and of the
    interior (``first_vs_raw``, ``last_vs_raw``, ``interior_vs_raw``)."""
    out = []
    for name, pipeline in dict.fromkeys((r["recording"], r["pipeline"]) for r in rows):
        mine = [r for r in rows if r["recording"] == name and r["pipeline"] == pipeline]
        ratios = np.array([end_ratios(r) for r in mine])
        worst = ratios.max(axis=1)
        keys = dict(zip(("first", "last", "interior"), (*_end_keys(), "interior_samples_vs_raw"), strict=True))
        errors = {f"{k}_vs_raw": float(np.mean([r[key] for r in mine])) for k, key in keys.items()}
        out.append(errors | {
            "recording": name, "pipeline": pipeline, "seeds": len(ratios), "first": float(ratios[:, 0].mean()),
            "last": float(ratios[:, 1].mean()), "worst_min": float(worst.min()), "worst_max": float(worst.max()),
            "above": int(np.sum(worst > END_TARGET)),
        })  # fmt: skip
    return out


def sweep_below(path: Path = RESULTS / "sweep.json") -> list[dict[str, Any]]:
    """The rows of the sweep's results whose condition's repeated draws are below raw on F1 on average."""
    if not path.exists():
        return []
    from benchmarks.sweep import below_raw_again

    return below_raw_again(json.loads(path.read_text())["rows"], ("F1",))


def sweep_misses(row: dict[str, Any], pipes: dict[str, Any], draws: int, seed: int = 0) -> dict[str, Any]:
    """The missed events of each pipeline of ``pipes``, classified and summed over the
    resolved ones of ``draws`` repeated draws of a sweep row's condition."""
    from benchmarks import sweep

    out: dict[str, Any] = {"recording": row["recording"], "index": row["index"], "draws": 0, "pipelines": {}}
    for r in range(draws):
        rec = sweep.redraw(row["factors"], row["index"], r, seed)
        if not sweep.resolves(rec):
            continue
        out["draws"] += 1
        for name, fn in pipes.items():
            m = event_misses(rec, output(fn, rec))
            acc = out["pipelines"].setdefault(name, {"f1": [], "missed": 0} | dict.fromkeys(MISS_KINDS, 0))
            acc["f1"].append(m["f1"])
            for k in ("missed", *MISS_KINDS):
                acc[k] += m[k]
    return out


#: Seeds of the stress recording "fast hemodynamics, noise 0.4" whose coherence the default
#: brings below raw's (the quality benchmark's "Over 6 recordings"), and the component counts
#: of the projection-only outputs measured on them.
PROJECTION_SEEDS = (4, 5)
PROJECTION_COMPONENTS = (16, 64, 120)


#: The stress recordings with fast hemodynamics whose event F1 the default leaves below raw's on
#: average (the quality benchmark's "Over 6 recordings"), and the seeds of that table.
FAST_HEMO_NAMES = ("fast hemodynamics, noise 0.4", "fast hemodynamics, noise 0.8")
FAST_HEMO_SEEDS = tuple(range(6))


def clean_ceiling(n_time: int, seeds: tuple[int, ...]) -> list[dict[str, Any]]:
    """Event F1 of the analysis on the clean main recording of each seed (the same clean recording
    at every noise scale): the most any pipeline's output can be expected to score there."""
    rows = []
    for seed in seeds:
        rec = R.make_recordings(n_time, NOISE_SCALES[:1], seed=seed)[0]
        rows.append({"seed": seed, "f1": float(R.analyse(rec, rec.to_counts(rec.clean))[0]["ev_f1"])})
    return rows


def fast_hemo_pipelines() -> dict[str, Any]:
    """Raw, the default, its run-time variants (the network weaker at the onsets or everywhere, or
    left out) and the global and local classical projections."""
    import fluorodn
    from benchmarks.pipelines import mppca, svd_mp

    opts = fluorodn.DenoiserOptions
    return {
        "raw": lambda x: x,
        "fluorodn:default": fluorodn.Denoiser().run,
        ROUNDED: fluorodn.Denoiser(options=opts(keep_onsets=False)).run,
        "fluorodn:default --strength 0.6": fluorodn.Denoiser(options=opts(strength=0.6)).run,
        "fluorodn:default --spectral-only": fluorodn.Denoiser(options=opts(spectral_only=True)).run,
        "svd-mp": svd_mp,
        "mppca": mppca,
    }


def fast_hemo_rows(recs: list[R.Recording], seeds: list[int], pipes: dict[str, Any]) -> list[dict[str, Any]]:
    """Event F1 and coherence 0-2.5 Hz of each of ``pipes`` on each recording (of the seed beside it)."""
    rows = []
    for seed, rec in zip(seeds, recs, strict=True):
        for name, fn in pipes.items():
            m = R.analyse(rec, output(fn, rec))[0]
            rows.append({"seed": seed, "recording": rec.name, "pipeline": name, "f1": m["ev_f1"],
                         "coh": m["coh_mean_0_2.5hz"]})  # fmt: skip
    return rows


def fast_hemo_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recording name and pipeline: the mean F1 and coherence over the seeds, and the mean
    paired difference of F1 to raw with its 95 % half-width."""
    from benchmarks.repeats import interval

    out = []
    for name in dict.fromkeys(r["recording"] for r in rows):
        by = {(r["seed"], r["pipeline"]): r for r in rows if r["recording"] == name}
        seeds = sorted({s for s, p in by if p == "raw"})
        for pipe in dict.fromkeys(p for _, p in by):
            d = np.array([by[(s, pipe)]["f1"] - by[(s, "raw")]["f1"] for s in seeds])
            mean, half = interval(d)
            out.append({
                "recording": name, "pipeline": pipe, "n": len(seeds),
                "f1": float(np.mean([by[(s, pipe)]["f1"] for s in seeds])),
                "coh": float(np.mean([by[(s, pipe)]["coh"] for s in seeds])),
                "f1_diff": mean, "f1_half_width": half,
            })  # fmt: skip
    return out


def decorrelated_projection(x: np.ndarray, components: int) -> np.ndarray:
    """``x`` (T, W) projected on its leading ``components`` after whitening each bin by its noise
    level and the bins by their noise correlation (``fluorodn.spectral.noise_levels``): the
    projection orthogonal in the noise's own metric, which the shipped one is only per bin."""
    from fluorodn import spectral

    sigma, corr = spectral.noise_levels(x)
    cov = spectral._noise_cov(corr, x.shape[1])  # the same Toeplitz matrix the shipped fit uses
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals, 1e-3, None)
    mu = np.median(x, axis=0)
    z = ((x - mu) / sigma) @ (vecs * vals**-0.5) @ vecs.T
    basis = np.linalg.svd(z, full_matrices=False)[2][:components].T
    return ((z @ basis) @ basis.T) @ (vecs * vals**0.5) @ vecs.T * sigma + mu


def projection_coherence(rec: R.Recording) -> dict[str, Any]:
    """What the projection alone (every kept trace as recorded, no network) does to the sensor's
    trace: coherence 0-2.5 Hz for raw, the shipped projection on each of
    :data:`PROJECTION_COMPONENTS` components and :func:`decorrelated_projection` on 16; and the
    spread of the trace's sample-to-sample error for raw and for the clean recording plus only
    the noise inside the shipped projection's 16 components."""
    from fluorodn import spectral

    def projected(k: int) -> Any:
        def fn(x: np.ndarray) -> np.ndarray:
            p = spectral.project(x, k)
            return spectral.reconstruct(p, p.coef.astype(np.float32))

        return fn

    pipes = {"raw": lambda x: x} | {f"projection {k}": projected(k) for k in PROJECTION_COMPONENTS}
    pipes["projection 16, decorrelated"] = lambda x: decorrelated_projection(x, 16)
    out: dict[str, Any] = {"recording": rec.name}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["coherence"] = {n: R.analyse(rec, output(fn, rec))[0]["coh_mean_0_2.5hz"] for n, fn in pipes.items()}
        p = spectral.project(rec.noisy, 16)
        inside = spectral.reconstruct(p, p.coef) - spectral.reconstruct(p, spectral.coefficients(p, rec.clean))
        spread = {}
        for name, y in (("raw", rec.noisy), ("clean + noise inside 16", rec.clean + inside)):
            err = R.fitted_trace(rec, rec.to_counts(np.asarray(y, np.float64))) - rec.truth.a
            spread[name] = float(np.diff(err).std())
    out["error_step_std"] = spread
    return out


def run(quick: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    import fluorodn
    from benchmarks.pipelines import svd_then

    t0 = time.perf_counter()
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    n_time = 600 if quick else 9000
    scales = NOISE_SCALES[:1] if quick else NOISE_SCALES
    recs = R.make_recordings(n_time, scales)
    default = fluorodn.Denoiser()
    low = fluorodn.Denoiser("low")
    pipes = {
        "raw": lambda x: x,
        "fluorodn:default": default.run,
        "svd-16+low": svd_then(16, low.run),
        # the image model with the border handling of frames, on a spectrum (not its default)
        "fluorodn:low border=mirror": lambda x: low.run(x, border="mirror"),
    }

    rows, defaults = [], {}
    for rec in recs:
        for name, fn in pipes.items():
            y = output(fn, rec)
            if name == "fluorodn:default":
                defaults[rec.name] = y
            rows.append({"recording": rec.name, "pipeline": name} | error_split(rec.clean, y, rec.noisy))
            rows[-1] |= {f"ev_{k}": v for k, v in event_misses(rec, y).items()}
    from benchmarks.stress import make_stress

    red = [] if quick else [r for r in make_stress(n_time, quick) if r.name.startswith("sensor red")]
    for rec in red:
        defaults[rec.name] = output(default.run, rec)
    from benchmarks.oracle import oracle_spectral_wiener

    bins = [
        {"recording": rec.name}
        | bin_leverage(
            rec.noisy, rec.clean, defaults[rec.name], output(oracle_spectral_wiener(rec.clean, rec.noisy), rec)
        )
        for rec in [*recs, *red]
    ]
    from benchmarks.sweep import REPEATS

    projection = [
        projection_coherence(r) | {"seed": seed}
        for seed in ([] if quick else PROJECTION_SEEDS)
        for r in make_stress(n_time // 3, False, seed=seed)
        if r.name == "fast hemodynamics, noise 0.4"
    ]
    from benchmarks.pipelines import gaussian, svd_rank, time_gaussian

    edge_pipes = {  # a crop is a recording, however short (the quick mode's are)
        "fluorodn:default": as_recording(default),
        MIRRORED: mirrored_ends_only(default),
        "svd-8": svd_rank(8),
        "gauss-0.5": gaussian(0.5),
        f"svd-8+time-gauss-{EDGE_TIME_SIGMA:g}": svd_then(8, time_gaussian(EDGE_TIME_SIGMA)),
    }
    from benchmarks.oracle import oracle_frame_wiener, oracle_spectral_wiener, oracle_temporal_wiener

    def oracles(r: R.Recording) -> dict[str, Any]:
        return {
            SPECTRAL_ORACLE: oracle_spectral_wiener(r.clean, r.noisy),
            TIME_ORACLE: oracle_temporal_wiener(r.clean, r.noisy),
        }

    edges = [
        {"recording": r.name, "pipeline": n} | edge_penalty(r, fn)
        for r in recs
        for n, fn in (edge_pipes | oracles(r)).items()
    ]
    for e in edges:  # the temporal oracle's basis, fitted on all bins, has no meaning on a crop in wavelength
        if e["pipeline"] == TIME_ORACLE:
            for k in [k for k in e if "_bin" in k]:
                del e[k]
    stress_edges = [
        {"recording": r.name, "pipeline": n} | edge_penalty(r, fn, bins=False)
        for r in ([] if quick else make_stress(n_time, False))
        for n, fn in {
            "fluorodn:default": as_recording(default),
            MIRRORED: mirrored_ends_only(default),
            TIME_ORACLE: oracle_temporal_wiener(r.clean, r.noisy),
        }.items()
    ]
    leverage = [{"recording": r.name} | crop_leverage(r) for r in recs]
    from benchmarks.stress import FRAME_NOISE, make_frame

    frame, unit = make_frame()
    frame_pipes = frame_pipelines(quick)  # each model loaded once for every noise scale
    frames = [
        {"pipeline": name, "noise": ns} | frame_edge_cost(fn, frame, frame + ns * unit)
        for ns in (FRAME_NOISE[:1] if quick else FRAME_NOISE)
        for name, fn in (frame_pipes | {FRAME_ORACLE: oracle_frame_wiener(frame, frame + ns * unit)}).items()
    ]
    # the recordings outside the target drawn again: seed 0's are the stress table's own rows
    outside = ends_outside(stress_edges)
    end_seeds = [
        e | {"seed": END_SEEDS[0]}
        for e in stress_edges
        if e["pipeline"] in ("fluorodn:default", TIME_ORACLE) and e["recording"] in outside
    ] + [
        {"recording": r.name, "pipeline": n, "seed": seed} | edge_penalty(r, fn, bins=False)
        for seed in (END_SEEDS[1:] if outside else ())
        for r in make_stress(n_time, False, seed=seed)
        if r.name in outside
        for n, fn in {
            "fluorodn:default": as_recording(default),
            TIME_ORACLE: oracle_temporal_wiener(r.clean, r.noisy),
        }.items()
    ]
    fast = [
        (seed, r)
        for seed in ([] if quick else FAST_HEMO_SEEDS)
        for r in make_stress(n_time // 3, False, seed=seed)
        if r.name in FAST_HEMO_NAMES
    ]
    fast_rows = fast_hemo_rows([r for _, r in fast], [s for s, _ in fast], fast_hemo_pipelines()) if fast else []
    swept = [] if quick else sweep_below()
    rounded = fluorodn.Denoiser(options=fluorodn.DenoiserOptions(keep_onsets=False))
    sweep_pipes = {"raw": pipes["raw"], "fluorodn:default": default.run, ROUNDED: rounded.run}
    sweep_rows = [sweep_misses(r, sweep_pipes, REPEATS) for r in swept]
    result = {
        "benchmark": "diagnose",
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "n_time": n_time,
        "rows": rows,
        "bins": bins,
        "edges": edges,
        "stress_edges": stress_edges,
        "stress_ends_over_seeds": ends_over_seeds(end_seeds) if end_seeds else [],
        "stress_end_seeds": end_seeds,
        "crop_leverage": leverage,
        "frame_edges": frames,
        "sweep": sweep_rows,
        "projection": projection,
        "fast_hemodynamics": fast_hemo_summary(fast_rows) if fast_rows else [],
        "clean_ceiling": [] if quick else clean_ceiling(n_time, FAST_HEMO_SEEDS),
        "elapsed_s": time.perf_counter() - t0,
    }
    stem = "diagnosis_quick" if quick else "diagnosis"
    (out_dir / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out_dir / f"{stem}.md").write_text(report(result))
    return result


def _listed(values: tuple[int, ...]) -> str:
    """``(1, 2, 3)`` as ``1, 2 or 3``; an evenly spaced run of more than four as ``a, b, ... or z (every d)``."""
    steps = set(np.diff(values).tolist())
    if len(values) > 4 and len(steps) == 1:
        return f"{values[0]}, {values[1]}, ... or {values[-1]} (every {steps.pop()})"
    head = ", ".join(str(v) for v in values[:-1])
    return f"{head} or {values[-1]}" if head else str(values[-1])


def report(res: dict[str, Any]) -> str:
    lines = [
        "# Where the remaining error and the lost events come from",
        "",
        f"Generated by `python -m benchmarks diagnose` on {res['created']} in {res['elapsed_s']:.0f} s: the quality "
        f"benchmark's main recordings ({res['n_time']} x 152). MSE in counts^2; `constant`: the part of the MSE that "
        "is each bin's time-mean error (fixed pattern and offsets, invisible to coherence and events). Bins: RMS "
        "error of the first/last bin over the median bin's, and error / raw error of the first, last and median "
        "bin. Events: OASIS's penalty `lam` and the missed true events: `small` (a detection lies within the "
        "match tolerance but below the smallest size that counts), `merged` (the deconvolved train is non-zero "
        "within the match tolerance but grouped into an event timed elsewhere), `shifted` (nearest detection "
        "1-2x the tolerance away), `absent`, `taken` (the detection within the tolerance was matched to "
        "another true event).",
        "",
        "| recording | pipeline | MSE | constant share | first / median bin | last / median bin | "
        "ratio first / last / median bin | F1 | lam | missed | small | merged | shifted | absent | taken |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['recording']} | {r['pipeline']} | {r['mse']:.1f} | {r['mse_constant'] / r['mse']:.2f} | "
            f"{r['first_bin_vs_median']:.2f} | {r['last_bin_vs_median']:.2f} | "
            f"{r['first_bin_ratio']:.2f} / {r['last_bin_ratio']:.2f} / {r['median_bin_ratio']:.2f} | "
            f"{r['ev_f1']:.3f} | {r['ev_lam']:.2g} | {r['ev_missed']} | {r['ev_small']} | {r['ev_merged']} | "
            f"{r['ev_shifted']} | "
            f"{r['ev_absent']} | {r['ev_taken']} |"
        )
    lines += [
        "",
        "## Edge bins: leverage in the projection",
        "",
        "Leverage: the share of a bin's noise that lies in the 16 kept components (`sum_k basis[w, k]^2` of "
        "`fluorodn.spectral.fit`), over the median bin's. Ratio: the default's error / raw error of the bin over "
        "the median bin's; `varying`: the same after removing each bin's time-mean error (the fixed pattern, "
        "which no temporal filter removes). `oracle`: the same ratios for the "
        f"`{SPECTRAL_ORACLE}` on the whole recording (the best linear estimator of each sample's spectrum, "
        "the signal's and the noise's covariance between bins taken from the clean and noisy recording): how "
        "much harder the end bins are for an estimator that knows the spectra exactly. Where the signal's "
        "spectra concentrate in a few end bins, fewer bins inform them and more of those bins' noise passes, "
        "whatever the estimator: a cost of the spectra, not of the edge (the crops below measure the edge).",
        "",
        "| recording | leverage first / last bin | ratio first / last bin | varying: ratio first / last bin "
        "| oracle: ratio first / last bin | oracle varying: ratio first / last bin |",
        "|---|---|---|---|---|---|",
    ]
    for b in res.get("bins", []):
        oracle = " - | - |"
        if "oracle_ratio_first" in b:
            oracle = (
                f" {b['oracle_ratio_first']:.2f} / {b['oracle_ratio_last']:.2f} | "
                f"{b['oracle_ratio_first_varying']:.2f} / {b['oracle_ratio_last_varying']:.2f} |"
            )
        lines.append(
            f"| {b['recording']} | {b['leverage_first']:.2f} / {b['leverage_last']:.2f} | "
            f"{b['ratio_first']:.2f} / {b['ratio_last']:.2f} | {b['ratio_first_varying']:.2f} / "
            f"{b['ratio_last_varying']:.2f} |{oracle}"
        )
    edges = res.get("edges", [])
    if edges:
        skip = ("_varying", "_samples_vs_raw")  # in brackets, and in the oracles' text
        regions = [k for k in edges[0] if k not in ("recording", "pipeline") and not k.endswith(skip)]
        lines += [
            "",
            "## What being at an edge costs",
            "",
            f"Each pipeline on the recording cropped on each side by {_listed(CROP_BINS)}"
            f" bins (for the bins) and by {_listed(CROP_SAMPLES)} samples "
            "(for the samples), one crop at a time: RMS error on the crops' first and last bins and samples over "
            "the RMS error on the same cells when the pipeline runs on the whole recording, where they lie "
            "inside, squared errors summed over the crops (1.00: the edge costs nothing); last column, the whole "
            "recording's RMS error / raw error, since a pipeline that smooths more has more to lose at an edge. "
            "In brackets, the ratio after removing each bin's time-mean error over the crop's cells from both "
            "runs (the detector's fixed "
            "pattern, which the default removes inside the spectrum but keeps on the end bins): for the samples, "
            "the part of the error that varies in time. Unlike the "
            "quality benchmark's error / raw error against the interior, this leaves out how hard the cells "
            "themselves are to denoise.",
            "",
            "| recording | pipeline | " + " | ".join(k.replace("_", " ") for k in regions) + " |",
            "|---|---|" + "---|" * len(regions),
        ]
        for e in edges:
            cells = [
                "-" if k not in e else f"{e[k]:.2f} ({e[k + '_varying']:.2f})" if k + "_varying" in e else f"{e[k]:.2f}"
                for k in regions
            ]
            lines.append(f"| {e['recording']} | {e['pipeline']} | " + " | ".join(cells) + " |")
        oracle = [e for e in edges if e["pipeline"] == SPECTRAL_ORACLE]
        if oracle:
            ends = ", ".join(
                f"{e['first_bin_varying']:.2f} / {e['last_bin_varying']:.2f} ({e['recording']})" for e in oracle
            )
            lines += [
                "",
                f"`{SPECTRAL_ORACLE}`: the best linear estimator of each sample's spectrum from that spectrum alone "
                "(`benchmarks/oracle.py`), with the signal's and the noise's covariance between bins taken from "
                "the clean and noisy recording and restricted to the bins a crop leaves. It filters nothing over "
                "time and keeps each bin's time mean, so only its bracketed ratios compare: what losing the bins "
                f"beyond an end costs an estimator that knows the spectra exactly, first / last bin {ends}.",
            ]
        timed = [e for e in edges if e["pipeline"] == TIME_ORACLE]
        if timed:
            from benchmarks.oracle import TIME_RADIUS, TIME_RANK
            from benchmarks.stress import EDGE_SAMPLES

            first, last = f"first_{EDGE_SAMPLES}_samples", f"last_{EDGE_SAMPLES}_samples"
            default = {e["recording"]: e for e in edges if e["pipeline"] == "fluorodn:default"}

            def kept(e: dict[str, Any]) -> str:
                return f"{e[first + '_vs_raw']:.2f} / {e[last + '_vs_raw']:.2f}"

            ends = ", ".join(
                f"{e[first + '_varying']:.2f} / {e[last + '_varying']:.2f} at {e['whole_error_vs_raw']:.2f} of the "
                f"raw error over the whole recording ({e['recording']})"
                for e in timed
            )
            at_ends = ", ".join(
                f"{kept(e)} against the default's {kept(default[e['recording']])} ({e['recording']})"
                for e in timed
                if e["recording"] in default
            )
            lines += [
                "",
                f"`{TIME_ORACLE}`: the best linear estimator of each of the clean recording's {TIME_RANK} leading "
                f"spectral components' traces from the samples within {TIME_RADIUS} of it that exist "
                "(`benchmarks/oracle.py`), with the signal's autocovariance taken from the clean trace and the "
                "noise's from the noise through the same components (its correlation in time included), its "
                "weights solved anew where an end cuts the window; its basis is fitted on every bin, so it has no "
                "bin columns. Like the other oracle it keeps each bin's time mean, so its bracketed ratios compare: "
                f"what losing the samples beyond an end costs a linear estimator that knows the traces' statistics "
                f"exactly, first / last {EDGE_SAMPLES} samples {ends} (the whole recording's error includes each "
                "bin's time-mean error, which it keeps). On the crops' end samples themselves, the part of the "
                f"error that varies in time over the raw error there, first / last {EDGE_SAMPLES}: the oracle "
                f"{at_ends}. So the default's end samples keep more than its interior, but less than this "
                "estimator keeps at them.",
            ]
        lines += _ends_against_interior(
            edges,
            "The recording's ends against its interior",
            "The same crops, each read as the quality benchmark reads a recording: RMS error / RMS raw error on "
            "the crop's first and last {samples} samples and on its rows more than {margin} samples from either "
            "end, each bin's time-mean error over the crop taken out of both (the part of the error that varies "
            "in time), squared errors summed over the crops. The last column is the quality benchmark's "
            "`worst edge / interior` for the samples, pooled over {crops} crops instead of one recording's two "
            "ends. `{mirrored}`: each trace's first and last samples as the network gives them on the mirrored "
            "border it was trained on, without the mean with its output on the trace continued past the end "
            "(`fluorodn.spectral.run_traces`).",
        )
    lines += _ends_against_interior(
        res.get("stress_edges", []),
        "The stress recordings' ends against their interior",
        "The quality benchmark's stress recordings (`benchmarks/stress.py`), each cropped in time as above, "
        "read the same way, for the default, `{mirrored}` and the best linear estimator over time "
        f"(`{TIME_ORACLE}`, as above). Where the oracle's ratio is as high as the default's, what the ends "
        "cost is the one-sided view an end sample has, not the network's border: an estimator that smooths "
        "its interior more pays more at the ends.",
    )
    lines += _ends_beside_oracle(res.get("stress_edges", []))
    over = res.get("stress_ends_over_seeds", [])
    if over:
        lines += [
            "",
            f"The same recordings drawn again (seeds {END_SEEDS[0]}-{END_SEEDS[-1]} of the test stream), each read "
            "as above, for the default and the time oracle: "
            "the first and last end's ratio to the interior averaged over the seeds, the range of the worse "
            f"end's ratio, and on how many seeds it is above {END_TARGET:g}; the last column, the mean error / raw "
            "error of the ends and of the interior. Where the default's ends keep less error than the oracle's "
            "while its ratio is higher, the ratio is higher because the default denoises its interior further.",
            "",
            "| recording | pipeline | seeds | first ends / interior | last ends / interior | worse end, range "
            "| above | error / raw error: first / last ends, interior |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {o['recording']} | {o['pipeline']} | {o['seeds']} | {o['first']:.2f} "
                f"| {o['last']:.2f} | {o['worst_min']:.2f}-{o['worst_max']:.2f} | {o['above']} of {o['seeds']} | "
                f"{o['first_vs_raw']:.3f} / {o['last_vs_raw']:.3f}, {o['interior_vs_raw']:.3f} |"
                for o in over
            ),
        ]
    leverage = res.get("crop_leverage", [])
    if leverage:
        lines += [
            "",
            "Why a projection pays at the spectrum's ends: the leverage of the crops' first and last bins in the "
            "signal subspace the spectral path keeps, over the same bins' leverage in the whole recording (summed "
            "over the crops), and the smallest cosine of the principal angles between each crop's subspace and the "
            "whole's restricted to the crop's bins. A cosine near 1 says the crop finds the same spectra; the "
            "leverage ratio says how much more of each trace's noise an end bin receives once the bins beyond it, "
            "which also told the components apart, are gone.",
            "",
            "| recording | leverage first bin | leverage last bin | smallest cosine |",
            "|---|---|---|---|",
        ]
        for v in leverage:
            lines.append(
                f"| {v['recording']} | {v['leverage_first']:.2f}x | {v['leverage_last']:.2f}x | {v['angle_cos']:.3f} |"
            )
    frames = res.get("frame_edges", [])
    if frames:
        lines += [
            "",
            "## What being at a frame's border costs",
            "",
            "The quality benchmark's 512 x 512 test frame (smooth structure, shot noise) through the image path "
            f"and the frame table's references, whole and cropped by {_listed(FRAME_CROPS)} pixels on every side, "
            "one crop at a time. Edge cost: the RMS error on the crops' outer 2 pixels over the RMS error on the "
            "same pixels when the pipeline runs on the whole frame (summed over the crops; 1.00: the border costs "
            "nothing). Border and interior: the whole frame's error / raw error on its outer 2 pixels and 10 "
            "pixels in, as in the quality benchmark. A border pixel has half the neighbours (a corner a quarter), "
            "so the more a pipeline smooths, the more it loses there. Time: the fastest of three runs on the whole "
            f"frame over `{FRAME_BASE}`'s at the same noise scale, in the same run (fluorodn on the machine's "
            "physical cores, the references as their libraries run).",
            "",
            "| pipeline | noise scale | edge cost | border | interior | border / interior | time |",
            "|---|---|---|---|---|---|---|",
        ]
        base = {f["noise"]: f["seconds"] for f in frames if f["pipeline"] == FRAME_BASE}
        for f in frames:
            rel = f"{f['seconds'] / base[f['noise']]:.2f}x" if f["noise"] in base and "seconds" in f else "-"
            lines.append(
                f"| {f['pipeline']} | {f['noise']:g} | {f['edge_cost']:.2f} | {f['border']:.3f} | "
                f"{f['interior']:.3f} | {f['border'] / f['interior']:.2f} | {rel} |"
            )
        oracle = [f for f in frames if f["pipeline"] == FRAME_ORACLE]
        if oracle:
            from benchmarks.oracle import FRAME_RADIUS

            side = 2 * FRAME_RADIUS + 1
            costs = " and ".join(f"{f['edge_cost']:.2f} at noise {f['noise']:g}" for f in oracle)
            lines += [
                "",
                f"`{FRAME_ORACLE}`: the best linear estimator of each pixel from the {side} x {side} window "
                "around it (`benchmarks/oracle.py`), with the signal's autocovariance taken from the clean frame "
                "about its plane and the noise's variance from the noise, its weights solved anew for each part "
                "of the window a border leaves (once, on its first run, and kept: its time is the filtering). "
                "The test frame's structure is Gaussian (white noise through a "
                "Gaussian filter), so no estimator of it does much better anywhere; what this one pays at a "
                f"border ({costs}) is what the border itself costs an estimator that denoises the interior as "
                "far as the frame allows. A pipeline pays less there only by denoising the interior less, as "
                "the 1-pixel Gaussian does.",
            ]
    sweep_rows = res.get("sweep", [])
    if sweep_rows:
        lines += [
            "",
            "## Sweep conditions below raw on F1",
            "",
            "The conditions whose repeated draws in `python -m benchmarks sweep` are below raw on event F1 on "
            "average (`benchmarks/results/sweep.json`), drawn again as the sweep draws them; the missed events "
            f"of the draws the analysis resolves, summed, classified as above. `{ROUNDED}`: the same network at "
            "full strength at the events' rises too (`DenoiserOptions(keep_onsets=False)`).",
            "",
            "| # | condition | draws | pipeline | mean F1 | missed | small | merged | shifted | absent | taken |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in sweep_rows:
            for name, p in c["pipelines"].items():
                lines.append(
                    f"| {c['index']} | {c['recording']} | {c['draws']} | {name} | {np.mean(p['f1']):.3f} | "
                    f"{p['missed']} | " + " | ".join(str(p[k]) for k in MISS_KINDS) + " |"
                )
    proj = res.get("projection", [])
    if proj:
        names = list(proj[0]["coherence"])
        lines += [
            "",
            "## Fast hemodynamics: what the projection alone does to the sensor's trace",
            "",
            "The stress recording `fast hemodynamics, noise 0.4` of the seeds where the default's coherence falls "
            "below raw's. Coherence 0-2.5 Hz of the sensor's trace for raw and for projection-only outputs (each "
            "kept trace as recorded, no network) on 16, 64 and 120 components; `decorrelated`: projected after "
            "whitening the bins by their estimated noise correlation too. Error step: the standard deviation of "
            "the trace's sample-to-sample error, for raw and for the clean recording plus only the noise inside "
            "the 16 components.",
            "",
            "| seed | " + " | ".join(names) + " | error step raw | error step clean + noise inside 16 |",
            "|---|" + "---|" * (len(names) + 2),
        ]
        for r in proj:
            e = r["error_step_std"]
            lines.append(
                f"| {r['seed']} | " + " | ".join(f"{r['coherence'][n]:.3f}" for n in names) + " | "
                f"{e['raw']:.4f} | {e['clean + noise inside 16']:.4f} |"
            )
    ceiling = res.get("clean_ceiling", [])
    if ceiling:
        f1 = [c["f1"] for c in ceiling]
        lines += [
            "",
            "## The analysis' ceiling on event F1",
            "",
            f"Event F1 of the analysis run on the clean main recording of each of the seeds of the quality "
            f'benchmark\'s "Over 6 recordings" (the same clean recording at every noise scale): the most any '
            f"pipeline can be expected to score there (no noise left at all). Mean {np.mean(f1):.4f} "
            f"(lowest {min(f1):.4f}, highest {max(f1):.4f}).",
            "",
            "| seed | " + " | ".join(str(c["seed"]) for c in ceiling) + " |",
            "|---|" + "---|" * len(ceiling),
            "| F1 clean | " + " | ".join(f"{c['f1']:.4f}" for c in ceiling) + " |",
        ]
    fast = res.get("fast_hemodynamics", [])
    if fast:
        lines += [
            "",
            "## Fast hemodynamics: event F1 by run-time variant",
            "",
            f"The stress recordings with fast hemodynamics at noise 0.4 and 0.8, {fast[0]['n']} seeds each (those "
            'of the quality benchmark\'s "Over 6 recordings"): mean event F1 and coherence 0-2.5 Hz, and the mean '
            "paired difference of F1 to raw with its 95 % interval, for the default, the same network at full "
            f"strength at the onsets too (`{ROUNDED}`), at strength 0.6 everywhere, the projection alone, and the "
            "global (`svd-mp`) and local (`mppca`) classical projections. Where the network's strength moves F1 "
            "little and the projection alone is below raw too, the events are lost in the projection, not to the "
            "network's rounding.",
            "",
            "| recording | pipeline | F1 | F1 - raw | coherence |",
            "|---|---|---|---|---|",
        ]
        for e in fast:
            lines.append(
                f"| {e['recording']} | {e['pipeline']} | {e['f1']:.3f} | {e['f1_diff']:+.4f} ± "
                f"{e['f1_half_width']:.4f} | {e['coh']:.3f} |"
            )
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    from benchmarks.measure import quick_out_main

    return quick_out_main(argv, "diagnose", __doc__ or "", run, "one 2-minute recording at noise 0.2")


if __name__ == "__main__":
    raise SystemExit(main())
