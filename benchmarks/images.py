"""The image path on frames unlike its training: never worse than the input, or it warns.

``python -m benchmarks images [--quick] [--out DIR]`` writes ``images.md`` and ``images.json``.

The image models were trained on time x wavelength recordings (smooth spectra times smooth time
courses). Frames run through the same path (``Denoiser()`` on anything that does not look
spectral runs ``low``), so here they meet what they never saw: the photographs, textures and
microscopy of scikit-image's bundled data (``skimage.data``, no download), as counts on an
offset (1000 + 4 x the 8-bit value) with shot noise at noise scales 0.3, 0.8 and 2, and with
Poisson counts on a dark background (20 + 8 x the value); beside them, the in-domain references:
the quality benchmark's smooth test frames (:func:`benchmarks.stress.make_frame`, white shot
noise and noise correlated along rows as a scanning microscope makes it) and bright blobs on a
dark background (Poisson counts, the noise 10x larger on the blobs than around them); and
bright blobs packed on a frame, cells or nuclei peaking at 500-2000x the background's noise
(:func:`blob_frame`), whose peaks the network lowers and whose sides it raises. Then point-like
spots, a microscope's puncta (:func:`spot_frame`): how much of their intensity and peak height the
default keeps (it puts back what the network removed from spots it flattened), the network's
output alone, a 1-pixel Gaussian and BM3D, and whether the default warned.

Per frame: the output's RMS error over the input's (1.0 = as noisy as the input; above 1 the
denoiser made it worse), :func:`fluorodn._engine.removal_excess` (what was removed over the
input's noise level) and whether ``Denoiser().run`` warned (``OutOfDomainWarning``).
"""

from __future__ import annotations

import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import write_results

RESULTS = Path(__file__).resolve().parent / "results"
#: scikit-image's bundled 2D images (no download).
SKIMAGE = (
    "camera",
    "grass",
    "gravel",
    "brick",
    "coins",
    "page",
    "text",
    "moon",
    "checkerboard",
    "cell",
    "clock",
    "horse",
)
NOISE = (0.3, 0.8, 2.0)
SEED = 0
#: Patterns that repeat at the finest scale (128 x 128, counts 1000 +- 200 before noise): a pixel
#: checkerboard, and stripes across the columns 2.5 pixels apart (every row the same, so that the
#: frame reads as one spectrum over time unless declared an image).
PERIODIC = {
    "checkerboard of pixels": lambda i, j: np.where((i + j) % 2 == 0, 1.0, -1.0),
    "stripes 2.5 pixels apart": lambda i, j: np.sin(2 * np.pi * j / 2.5 + 0.3) + 0.0 * i,
}
PERIODIC_SIDE = 128
#: Point-like spots (a microscope's puncta): Gaussian widths in pixels, peak heights over the noise,
#: how many on a frame of ``SPOT_SIDE`` pixels a side, and their background (Poisson counts).
SPOT_SIGMAS = (1.0, 1.3, 2.0)
SPOT_PEAKS = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
SPOT_COUNT, SPOT_SIDE, SPOT_BACKGROUND = 40, 256, 400.0
#: Packed bright blobs (:func:`blob_frame`, cells or nuclei far above the noise): Gaussian widths in
#: pixels, peaks over a smooth background of ``BLOB_BACKGROUND`` counts, how many on a frame of
#: ``BLOB_SIDE`` pixels a side (Poisson counts).
BLOB_SIGMAS = (3.0, 5.0, 8.0)
BLOB_PEAKS = (5000.0, 20000.0)
BLOB_COUNT, BLOB_SIDE, BLOB_BACKGROUND = 240, 256, 100.0
#: Sides of the square frames the check's cost is measured on.
COST_SIDES = (64, 256, 512, 2048)
#: How the removal checks' warnings begin (:func:`fluorodn._engine.removal_warning`): removed too
#: much or a pattern, and flattened spots.
REMOVED = ("the image model removed", "the image model flattened")
SPOTS_WARNING = REMOVED[1]
#: What the flattened spots' warning says where the spots were put back (``keep_spots``).
SPOTS_PUT_BACK = "was put back"


def frames(quick: bool = False) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(group, name, clean, noisy) of every frame, in counts."""
    import skimage.data
    from scipy.ndimage import gaussian_filter
    from scipy.signal import lfilter

    from benchmarks.stress import make_frame

    rng = np.random.default_rng(SEED)
    out = []
    for name in SKIMAGE[:2] if quick else SKIMAGE:
        image = np.asarray(getattr(skimage.data, name)(), np.float64)
        clean = 1000.0 + 4.0 * image
        for ns in NOISE[:1] if quick else NOISE:
            out.append(
                (
                    "skimage",
                    f"{name}, noise {ns:g}",
                    clean,
                    clean + ns * np.sqrt(clean) * rng.standard_normal(clean.shape),
                )
            )
        dark = 20.0 + 8.0 * image
        out.append(("skimage", f"{name}, Poisson on a dark background", dark, rng.poisson(dark).astype(np.float64)))
    i, j = np.mgrid[:PERIODIC_SIDE, :PERIODIC_SIDE]
    for name, pattern in list(PERIODIC.items())[: 1 if quick else None]:
        clean = 1000.0 + 200.0 * pattern(i, j)
        for ns in NOISE[:1] if quick else NOISE:
            noisy = clean + ns * np.sqrt(clean) * rng.standard_normal(clean.shape)
            out.append(("periodic", f"{name}, noise {ns:g}", clean, noisy))
    for seed in range(1 if quick else 3):
        clean, unit = make_frame(seed)
        along = lfilter([np.sqrt(0.75)], [1.0, -0.5], rng.standard_normal(clean.shape), axis=1) * np.sqrt(clean)
        for ns in NOISE[:1] if quick else NOISE:
            out.append(("reference", f"test frame {seed}, noise {ns:g}", clean, clean + ns * unit))
            out.append(
                (
                    "reference",
                    f"test frame {seed}, noise {ns:g}, correlated along rows (0.5)",
                    clean,
                    clean + ns * along,
                )
            )
        spots = np.zeros(clean.shape)
        idx = rng.integers(0, clean.shape[0], (60, 2))
        spots[idx[:, 0], idx[:, 1]] = 1.0
        blobs = gaussian_filter(spots, 6)
        blobs = 30.0 + 3000.0 * blobs / blobs.max()
        out.append(
            ("reference", f"blobs {seed}, Poisson on a dark background", blobs, rng.poisson(blobs).astype(np.float64))
        )
    for sigma in BLOB_SIGMAS[1:2] if quick else BLOB_SIGMAS:
        for peak in BLOB_PEAKS[:1] if quick else BLOB_PEAKS:
            clean = blob_frame(sigma, peak, rng)
            out.append(("blobs", f"sigma {sigma:g}, peak {peak:g}", clean, rng.poisson(clean).astype(np.float64)))
    return out


def blob_frame(sigma: float, peak: float, rng: np.random.Generator) -> np.ndarray:
    """``BLOB_COUNT`` Gaussian blobs of width ``sigma`` at random places, scaled to ``peak`` at the
    highest, over a background of ``BLOB_BACKGROUND`` that varies by 30 % over the frame: the expected
    counts of a ``BLOB_SIDE`` square frame."""
    from scipy.ndimage import gaussian_filter

    points = np.zeros((BLOB_SIDE, BLOB_SIDE))
    at = rng.integers(20, BLOB_SIDE - 20, (BLOB_COUNT, 2))
    points[at[:, 0], at[:, 1]] = 1.0
    blobs = gaussian_filter(points, sigma)
    i, j = np.mgrid[:BLOB_SIDE, :BLOB_SIDE]
    return BLOB_BACKGROUND * (1.0 + 0.3 * np.sin(i / 60.0) * np.cos(j / 45.0)) + peak * blobs / blobs.max()


def spot_frame(sigma: float, peak: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean, noisy, centres): :data:`SPOT_COUNT` Gaussian spots of width ``sigma`` whose peaks rise
    ``peak`` times the background's noise above :data:`SPOT_BACKGROUND` (Poisson counts), at least 8
    pixels from the border and from each other's centres."""
    from scipy.ndimage import gaussian_filter

    centres: list[tuple[int, int]] = []
    while len(centres) < SPOT_COUNT:
        c = tuple(int(v) for v in rng.integers(8, SPOT_SIDE - 8, 2))
        if all(max(abs(c[0] - a), abs(c[1] - b)) >= 8 for a, b in centres):
            centres.append(c)
    points = np.zeros((SPOT_SIDE, SPOT_SIDE))
    points[tuple(np.array(centres).T)] = 1.0
    unit = gaussian_filter(points, sigma, truncate=6.0) * 2 * np.pi * sigma**2  # peak 1 (sampled)
    clean = SPOT_BACKGROUND + peak * np.sqrt(SPOT_BACKGROUND) * unit
    return clean, rng.poisson(clean).astype(np.float64), np.array(centres)


def spot_kept(y: np.ndarray, clean: np.ndarray, centres: np.ndarray, sigma: float) -> tuple[float, float]:
    """The spots' integrated intensity (over 3 widths around each centre, the background taken off)
    and their peak height in ``y``, each over the clean frame's, averaged over the spots."""
    r = int(np.ceil(3 * sigma))

    def sums(a: np.ndarray) -> tuple[float, float]:
        boxes = [a[i - r : i + r + 1, j - r : j + r + 1] - SPOT_BACKGROUND for i, j in centres]
        return float(np.mean([b.sum() for b in boxes])), float(np.mean([b[r, r] for b in boxes]))

    (got, got_peak), (true, true_peak) = sums(y), sums(clean)
    return got / true, got_peak / true_peak


def spot_reading(noisy: np.ndarray, net: np.ndarray) -> list[float]:
    """What the runtime's spot check reads of the network's output ``net`` (:func:`fluorodn._engine.spot_readings`):
    [spots judged, share of their excess removed, mean removed from their 5 x 5 cores and their excess over
    the ring around them, both in the input's noise levels, bright values removed over what Gaussian noise
    leaves (``lit``)]."""
    from fluorodn._engine import _removal_readings, spot_readings

    level, lit = _removal_readings(noisy, net)[4:]
    spots, share, core, over = spot_readings(noisy, net)
    scale = 1.0 / level if level > 0 else float("nan")
    return [spots, share, core * scale, over * scale, lit]


def cores_error(y: np.ndarray, clean: np.ndarray, noisy: np.ndarray, centres: np.ndarray) -> float:
    """RMS error of ``y`` over the input's on the 5 x 5 pixels around each spot's centre."""
    mask = np.zeros(clean.shape, bool)
    for i, j in centres:
        mask[i - 2 : i + 3, j - 2 : j + 3] = True
    return float(np.sqrt(np.mean((y - clean)[mask] ** 2) / np.mean((noisy - clean)[mask] ** 2)))


def spot_rows(den: Any, flat: Any, quick: bool = False) -> list[dict[str, Any]]:
    """What the default (``den``) keeps of point-like spots (:func:`spot_frame`), beside the network's
    output alone (``flat``: ``keep_spots=False``), a 1-pixel Gaussian and BM3D told the background's
    noise: per width and peak height, the integrated intensity and the peak each keeps
    (:func:`spot_kept`), its error over the input's, what the check reads of the network's output, and
    what the default warned."""
    import bm3d
    from scipy.ndimage import gaussian_filter

    import fluorodn
    from fluorodn._engine import removal_stats

    rng = np.random.default_rng(SEED + 1)
    methods = {
        "default": lambda x: np.asarray(den.run(x), np.float64),
        "network": lambda x: np.asarray(flat.run(x), np.float64),
        "gauss-1": lambda x: gaussian_filter(x, 1.0, mode="mirror"),
        "bm3d": lambda x: np.asarray(bm3d.bm3d(x, sigma_psd=float(np.sqrt(SPOT_BACKGROUND))), np.float64),
    }
    rows = []
    for sigma in SPOT_SIGMAS[:1] if quick else SPOT_SIGMAS:
        for peak in (SPOT_PEAKS[0], SPOT_PEAKS[-1]) if quick else SPOT_PEAKS:
            clean, noisy, centres = spot_frame(sigma, peak, rng)
            row: dict[str, Any] = {"sigma": sigma, "peak": peak, "raw": spot_kept(noisy, clean, centres, sigma)}
            for name, fn in methods.items():
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    y = fn(noisy)
                kept, peak_kept = spot_kept(y, clean, centres, sigma)
                error = float(np.sqrt(np.mean((y - clean) ** 2) / np.mean((noisy - clean) ** 2)))
                row[name] = {"intensity": kept, "peak": peak_kept, "error_over_input": error,
                             "cores_error": cores_error(y, clean, noisy, centres)}  # fmt: skip
                if name == "default":
                    row["warned"] = [
                        str(w.message) for w in caught if issubclass(w.category, fluorodn.OutOfDomainWarning)
                    ]
                if name == "network":  # what the check reads: the network's output, before spots are put back
                    row["spot_removal"] = spot_reading(noisy, y)
                    row["bright_tail"] = removal_stats(noisy, y)[2]
            rows.append(row)
    return rows


#: Runs of each (the whole run and the checks alone) whose fastest is kept, on frames of up to
#: ``COST_REPEATS_UP_TO`` pixels a side (a fraction of a millisecond of checks is noisy); 3 above.
COST_REPEATS, COST_REPEATS_UP_TO = 20, 512
#: Pixels each timing spans at least on small frames: it times that many pixels' worth of calls
#: back to back and divides (64 calls at 64 x 64, 4 at 256 x 256), so that the timer's and the
#: machine's jitter is a small part of a fraction of a millisecond.
COST_BATCH = 1 << 18


def check_cost(den: Any, quick: bool = False) -> list[dict[str, Any]]:
    """What the image path's checks cost: on square test frames (:func:`benchmarks.stress.make_frame`,
    cropped or tiled to each of ``COST_SIDES``, the first two if ``quick``; noise 0.3), the fastest
    of :data:`COST_REPEATS` ``run`` calls (the checks included; 3 above :data:`COST_REPEATS_UP_TO`
    pixels a side) and of as many runs of the checks on the frame and its output: clipping
    (:func:`fluorodn._engine.clipping_warning`), rows of one spectrum
    (:func:`fluorodn.spectral.short_recording`) and what was removed
    (:func:`fluorodn._engine.removal_warning`: its size, its correlation and the spots it flattened).
    Each timing spans :data:`COST_BATCH` pixels of calls at least. Also the readings that run only
    on some frames, timed on the same frame and output: the spots' (:func:`fluorodn._engine.spot_readings`,
    where what was removed has a bright tail or many bright values) and the curvature's
    (:func:`fluorodn._engine.curvature_removal`, where it is smooth)."""
    from benchmarks.stress import make_frame
    from fluorodn._engine import clipping_warning, curvature_removal, removal_warning, spot_readings
    from fluorodn.spectral import short_recording

    def checks(x: np.ndarray, y: np.ndarray) -> None:
        clipping_warning(x)
        short_recording(x)
        removal_warning([x], [y])

    clean, unit = make_frame(SEED)
    out = []
    for side in COST_SIDES[:2] if quick else COST_SIDES:
        reps = -(-side // clean.shape[0])
        x = np.tile(clean + 0.3 * unit, (reps, reps))[:side, :side]
        n = COST_REPEATS if side <= COST_REPEATS_UP_TO else 3
        calls = max(1, COST_BATCH // (side * side))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            den.run(x)
            run_s = min(_seconds(den.run, x, calls=calls) for _ in range(n))
            y = den.run(x)
        whole = np.rint(x)  # a camera's counts: the noise read from every difference
        check_s, whole_s, spots_s, curvature_s = (
            min(_seconds(fn, *args, calls=calls) for _ in range(n))
            for fn, args in (
                (checks, (x, y)),
                (checks, (whole, y)),
                (spot_readings, (x, y)),
                (curvature_removal, (x, y)),
            )
        )
        out.append(
            {
                "side": side,
                "run_s": run_s,
                "check_s": check_s,
                "share": check_s / run_s,
                "whole_s": whole_s,
                "spots_s": spots_s,
                "curvature_s": curvature_s,
                "repeats": n,
                "calls": calls,
            }
        )
    return out


#: Sides of the spot frames (:func:`spot_frame` tiled) that :func:`spot_cost` times putting spots back on.
SPOT_COST_SIDES = (256, 2048)


def spot_cost(flat: Any, quick: bool = False) -> list[dict[str, Any]]:
    """What putting flattened spots back costs where it runs (:func:`fluorodn._engine.keep_spots`):
    on a spot frame (width 1.3 px, peaks 8x the noise) tiled to each of ``SPOT_COST_SIDES`` (the
    first if ``quick``), the fastest of 3 runs of the network alone (``flat``: ``keep_spots=False``)
    and of 3 runs of putting the spots back into a copy of its output."""
    from fluorodn._engine import keep_spots

    _, noisy, _ = spot_frame(1.3, 8.0, np.random.default_rng(SEED + 2))
    out = []
    for side in SPOT_COST_SIDES[:1] if quick else SPOT_COST_SIDES:
        reps = -(-side // SPOT_SIDE)
        x = np.tile(noisy, (reps, reps))[:side, :side].astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flat.run(x)
            run_s = min(_seconds(flat.run, x) for _ in range(3))
            y = flat.run(x)
        spots = keep_spots(x, y.copy())
        keep_s = min(_seconds(keep_spots, x, y.copy()) for _ in range(3))
        out.append({"side": side, "run_s": run_s, "keep_s": keep_s, "share": keep_s / run_s, "spots": spots})
    return out


#: Arrays through ``fluorodn.dask`` for :func:`dask_check_cost`: (pages, side); pages 0 is one frame.
DASK_ARRAYS = ((0, 2048), (16, 512), (64, 512))
DASK_ARRAYS_QUICK = ((0, 256), (4, 128))


def dask_check_cost(quick: bool = False) -> list[dict[str, Any]]:
    """What ``fluorodn.dask``'s checks on the client cost: for a frame and stacks of frames
    (``DASK_ARRAYS``, tiled from the test frame at noise 0.3, chunks of a quarter frame or 4-8 pages),
    the fastest of three builds of the graph (the checks included) and of three computes (threads,
    two workers), and the fastest of three runs of the checks alone."""
    import dask.array as da

    from benchmarks.stress import make_frame

    clean, unit = make_frame(SEED)
    out = []
    for pages, side in DASK_ARRAYS_QUICK if quick else DASK_ARRAYS:
        reps = -(-side // clean.shape[0])
        frame = np.tile(clean + 0.3 * unit, (reps, reps))[:side, :side].astype(np.float32)
        if pages:
            arr = da.from_array(np.stack([frame] * pages), chunks=(max(1, pages // 8), side, side))
        else:
            arr = da.from_array(frame, chunks=(side // 2, side // 2))
        out.append({"pages": pages, "side": side} | _dask_seconds(arr))
    return out


def _dask_seconds(arr: Any) -> dict[str, float]:
    """:func:`dask_check_cost`'s timings of one dask array."""
    import fluorodn.dask as fdask
    from fluorodn import spectral

    _, _, planner, _ = fdask._effective("default", "auto", None, arr)

    # a frame's global scale (and the rows it reads) the graph needs whatever the checks: not counted
    scale, rows = fdask._image_scale(arr) if arr.ndim == 2 else (None, None)

    def check() -> None:  # the input's checks, and the read of the first page that tells a short recording
        first = fdask._first_page(arr)
        if first is not None:
            spectral.short_recording(first)
        if arr.ndim == 3:
            fdask._page_messages(planner, arr)
        else:
            assert scale is not None
            assert rows is not None
            fdask._image_messages(planner, arr, scale, rows, planner.border_mode(arr.shape))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_s = min(_seconds(fdask.denoise, arr) for _ in range(3))
        compute = partial(fdask.denoise(arr).compute, scheduler="threads", num_workers=2)
        compute_s = min(_seconds(compute) for _ in range(3))
        check_s = min(_seconds(check) for _ in range(3))
    return {"build_s": build_s, "compute_s": compute_s, "check_s": check_s, "share": check_s / (build_s + compute_s)}


def _seconds(fn: Any, *args: Any, calls: int = 1) -> float:
    """Seconds of one call of ``fn(*args)``: of ``calls`` calls back to back, over ``calls``."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn(*args)
    return (time.perf_counter() - t0) / calls


def run(quick: bool = False, out_dir: Path | None = None) -> dict[str, Any]:
    import fluorodn
    from fluorodn._engine import (
        CURVATURE_AFTER,
        CURVATURE_CORRELATION,
        NOISE_VALUES,
        REMOVAL_CORRELATION,
        REMOVAL_LIMIT,
        SPOT_BRIGHT,
        SPOT_CORE,
        SPOT_LIT,
        SPOT_REMOVED,
        curvature_removal,
        removal_readings,
    )
    from fluorodn.spectral import ONE_SPECTRUM, one_spectrum

    t0 = time.perf_counter()
    den = fluorodn.Denoiser(options=fluorodn.DenoiserOptions(threads=2))
    flat = fluorodn.Denoiser(options=fluorodn.DenoiserOptions(threads=2, keep_spots=False))
    # the stripes read as one spectrum over time: the periodic frames are declared images
    image_den = fluorodn.Denoiser(options=fluorodn.DenoiserOptions(threads=2), kind="image")
    rows = []
    for group, name, clean, noisy in frames(quick):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ran = image_den if group == "periodic" else den
            y = np.asarray(ran.run(noisy), np.float64)
        warned = [str(w.message) for w in caught if issubclass(w.category, fluorodn.OutOfDomainWarning)]
        net = y  # the network's output, which the checks read: the same where no spots were put back
        if any(SPOTS_PUT_BACK in m for m in warned):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = np.asarray(flat.run(noisy), np.float64)
        excess, structure, bright, smooth = removal_readings(noisy, net)
        whole = removal_readings(noisy, net, sample=False)[0]  # the noise from every difference the check reads
        rows.append(
            {
                "group": group,
                "frame": name,
                "shape": list(clean.shape),
                "error_over_input": float(np.sqrt(np.mean((y - clean) ** 2) / np.mean((noisy - clean) ** 2))),
                "removal_excess": excess,
                "removal_excess_all": whole,
                "removal_structure": structure,
                "removal_curvature": curvature_removal(noisy, net),
                "removal_smooth": smooth,
                "spot_removal": spot_reading(noisy, net),
                "bright_tail": bright,
                "spots_put_back": net is not y,
                "network_error_over_input": float(np.sqrt(np.mean((net - clean) ** 2) / np.mean((noisy - clean) ** 2))),
                "one_spectrum": one_spectrum(noisy),
                "model": ran._runs(noisy.shape, first=noisy).name,
                "warned": warned,
            }
        )
    spots = spot_rows(den, flat, quick)
    cost = check_cost(den, quick)
    put_back_cost = spot_cost(flat, quick)
    dask_cost = dask_check_cost(quick)
    for r in rows:  # the removal check's own warning, apart from the others (e.g. a frame that looks spectral)
        r["removal_warned"] = any(m.startswith(REMOVED) for m in r["warned"])
    worse = [r for r in rows if r["error_over_input"] > 1.0]
    result = {
        "benchmark": "images",
        "mode": "quick" if quick else "full",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.perf_counter() - t0, 1),
        "model": {"name": den._image().name, "precision": den._image().precision, "sha256": den._image().sha256},
        "removal_limit": REMOVAL_LIMIT,
        "removal_correlation": REMOVAL_CORRELATION,
        "curvature_limit": CURVATURE_CORRELATION,
        "smooth_limit": CURVATURE_AFTER,
        "spot_removed": SPOT_REMOVED,
        "spot_core": SPOT_CORE,
        "spot_bright": SPOT_BRIGHT,
        "spot_lit": SPOT_LIT,
        "check_cost": cost,
        "spot_cost": put_back_cost,
        "dask_check_cost": dask_cost,
        "rows": rows,
        "spots": spots,
        "summary": {
            "frames": len(rows),
            "worse_than_input": len(worse),
            "worse_than_input_unwarned": sum(1 for r in worse if not r["removal_warned"]),
            "warned": sum(1 for r in rows if r["removal_warned"]),
            "warned_not_worse": sum(1 for r in rows if r["removal_warned"] and r["error_over_input"] <= 1.0),
            "reference_warned": sum(1 for r in rows if r["warned"] and r["group"] == "reference"),
            "references": sum(1 for r in rows if r["group"] == "reference"),
            "one_spectrum_max": max(r["one_spectrum"] for r in rows),
            "one_spectrum_reached": sum(1 for r in rows if r["one_spectrum"] >= ONE_SPECTRUM),
            "one_spectrum_limit": ONE_SPECTRUM,
            "spectral_path": sum(1 for r in rows if r["model"] == den.name),
            "sample_over_all": {**_sample_over_all(rows, REMOVAL_LIMIT), "noise_values": NOISE_VALUES},
        },
    }
    write_results(result, out_dir, RESULTS, "images_quick" if quick else "images", report)
    return result


def report(res: dict[str, Any]) -> str:
    s = res["summary"]
    lines = [
        "# The image path on frames unlike its training",
        "",
        f"Generated by `python -m benchmarks images` on {res['created']} in {res['seconds']:.0f} s: "
        f"`Denoiser().run` on each frame (the image path, model `{res['model']['name']}` "
        f"{res['model']['precision']}, sha256 "
        f"{res['model']['sha256'][:12]}). Error over input: the output's RMS error over the input's (above 1: worse "
        "than the input). Removed / noise: the RMS of what was removed over the input's noise level "
        f"(`fluorodn._engine.removal_excess`); the runtime warns above {res['removal_limit']:g}. Removed "
        "correlation: how much what was removed correlates with itself between neighbouring pixels "
        f"(`fluorodn._engine.removal_structure`); the runtime warns above {res['removal_correlation']:g}. Removed "
        "curvature: how much what was removed correlates with the output's curvature (bright objects smoothed: "
        "their peaks lowered, their sides raised; `fluorodn._engine.curvature_removal`); the runtime warns above "
        f"{res.get('curvature_limit', float('nan')):g} where what was removed is smooth beyond "
        f"{res.get('smooth_limit', float('nan')):g} (its correlation one pixel away along the less correlated "
        "axis, `fluorodn._engine.removal_readings`, in brackets). Spots "
        "flattened: the share of the excess over the ring around them that was removed from the spots that stand "
        "out / the mean removed from their 5 x 5 cores in noise levels (`fluorodn._engine.spot_readings`, the "
        "medians; the spots judged in brackets, `-` under 5), looked for by the runtime only where what was "
        "removed has a bright tail (at least 5 values 3 noise levels above its mean, more than twice as many as "
        "below, or at least 5 of its means over 2 x 5 pixels 5 robust standard deviations above 0, more than "
        "twice as many as below; `fluorodn._engine.removal_stats`) or more than "
        f"{res.get('spot_lit', float('nan')):g}x as many values 3 noise levels above its mean as Gaussian noise "
        "leaves, the reading shown after `not looked for:` elsewhere; the runtime warns where the share passes "
        f"{res.get('spot_removed', float('nan')):g} (with a bright tail), or the cores' "
        f"{res.get('spot_core', float('nan')):g} while the spots' excess stands over "
        f"{res.get('spot_bright', float('nan')):g} noise levels. The periodic frames are declared images "
        "(`kind='image'`). Error over input in brackets: the network's alone, where the spots were put back. "
        "Warned: the removal check that warned (`removed too much`, `correlated removal`, "
        "`periodic pattern`, `flattened spots`, `smoothed bright objects`), or the other warning's first words.",
        "",
        f"Worse than the input: {s['worse_than_input']} of {s['frames']} frames, "
        f"{s['worse_than_input_unwarned']} of them without the removal warning. The removal warning: "
        f"{s['warned']} frames, {s['warned_not_worse']} of them not worse than the input. Any warning: "
        f"{s['reference_warned']} of the {s['references']} in-domain references. Rows of one spectrum "
        f"(`fluorodn.spectral.one_spectrum`; from {s['one_spectrum_limit']:g} an array too short to look like a "
        "recording takes the spectral path): "
        f"{s['one_spectrum_reached']} frames reach it, the highest {s['one_spectrum_max']:.3f}; "
        f"{s.get('spectral_path', '-')} took the spectral path.",
        "",
        _sample_line(s.get("sample_over_all")),
        "",
        "What the checks cost (clipping, rows of one spectrum, what was removed; on these frames, whose removed "
        "noise has no bright tail and is not smooth, neither the spots' nor the curvature's reading runs; "
        f"fastest of {COST_REPEATS} timings of each up to {COST_REPEATS_UP_TO} px a side, of 3 above, each of "
        f"calls back to back over at least {COST_BATCH} pixels, same process; the run includes them): "
        + ", ".join(
            f"{c['side']} x {c['side']}: {1e3 * c['check_s']:.2f} ms of {1e3 * c['run_s']:.1f} ms "
            f"({100 * c['share']:.1f} %)"
            for c in res["check_cost"]
        )
        + ". On the same frames in whole numbers (a camera's counts), whose noise the check reads from every "
        "difference (`fluorodn._engine.whole_numbers`): "
        + ", ".join(
            f"{c['side']} x {c['side']}: {1e3 * c['whole_s']:.2f} ms ({100 * c['whole_s'] / c['run_s']:.1f} %)"
            for c in res["check_cost"]
            if "whole_s" in c
        )
        + ". Where they run too (a bright tail or many bright values: the spots' reading; a smooth removed part: "
        "the curvature's), "
        "timed on the same frames: "
        + ", ".join(
            f"{c['side']} x {c['side']}: + {1e3 * c['spots_s']:.2f} ms and + {1e3 * c['curvature_s']:.2f} ms "
            f"({100 * (max(c['check_s'], c.get('whole_s', 0.0)) + c['spots_s'] + c['curvature_s']) / c['run_s']:.1f} "
            "% with both, the slower of the two above)"
            for c in res["check_cost"]
            if "spots_s" in c
        )
        + ".",
        "",
        "What putting flattened spots back costs where it runs (`fluorodn._engine.keep_spots`, on a spot frame "
        "tiled to the size; fastest of 3, against the network's run without it): "
        + ", ".join(
            f"{c['side']} x {c['side']} ({c['spots']} spots): {1e3 * c['keep_s']:.1f} ms of {1e3 * c['run_s']:.0f} ms "
            f"({100 * c['share']:.1f} %)"
            for c in res.get("spot_cost", [])
        )
        + ".",
        "",
        "Through `fluorodn.dask`, the client checks a frame on its centred square and a stack on a sample of its "
        "pages, denoising them itself (fastest of 3 of each, same process; building the graph includes the checks, "
        "computing it runs on two threads; a frame's global scale, which the graph needs whatever the checks, is "
        "not counted as checking, while a checked page of a stack counts its own): "
        + ", ".join(
            f"{_dask_name(c)}: {1e3 * c['check_s']:.0f} ms of {c['build_s'] + c['compute_s']:.2f} s "
            f"({100 * c['share']:.1f} %)"
            for c in res["dask_check_cost"]
        )
        + ".",
        "",
        "| group | frame | shape | error over input | removed / noise | removed correlation | removed curvature "
        "| spots flattened | warned |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        others = [m for m in r["warned"] if not m.startswith(REMOVED)]
        said = [name for m in r["warned"] for name in [_which_check(m)] if name]
        warned = ", ".join(said + [f"other: {m[:60]}..." for m in others]) or "no"
        lines.append(
            f"| {r['group']} | {r['frame']} | {r['shape'][0]} x {r['shape'][1]} | {r['error_over_input']:.2f}"
            + (f" ({r['network_error_over_input']:.2f})" if r.get("spots_put_back") else "")
            + " | "
            f"{r['removal_excess']:.2f} | {r['removal_structure']:.2f} | "
            f"{r.get('removal_curvature', float('nan')):.2f} ({r.get('removal_smooth', float('nan')):.2f}) | "
            f"{_spots(r)} | {warned} |"
        )
    if res.get("spots"):
        lines += [
            "",
            "## Point-like spots",
            "",
            f"{SPOT_COUNT} Gaussian spots on a {SPOT_SIDE} x {SPOT_SIDE} frame of Poisson counts on a background of "
            f"{SPOT_BACKGROUND:g} (`spot_frame`), at least 8 pixels apart; width: the Gaussian's sigma in pixels; "
            "peak: its height over the background's noise. Kept: the spots' integrated intensity (over 3 widths "
            "around each centre, the background taken off) / the peak height, over the truth's, averaged over the "
            "spots (1.00: kept whole). Default: `Denoiser().run`, which puts back what the network removed from "
            "the spots where the check finds them flattened (`keep_spots`); network: the network's output alone "
            "(`keep_spots=False`). Beside them: a 1-pixel Gaussian and BM3D told the background's noise. "
            "Error: the RMS error over the input's on the whole frame / on the 5 x 5 pixels around the spots' "
            "centres. Spots flattened: what the check (`fluorodn._engine.spot_readings`) reads of the network's "
            "output, the share of the spots' excess over the ring around them that was removed / the mean removed "
            "from their 5 x 5 cores in noise levels (the spots that stand out enough to judge; `-`: under 5; not "
            "looked for, and not warned on, as above), warning and putting the spots back as above; warned: "
            "whether the default warned so (`put back`: and put the spots back).",
            "",
            "| width | peak / noise | raw: kept | default: kept | error | network: kept | error | spots flattened "
            "| warned | 1-px Gaussian: kept | error | BM3D: kept | error |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in res["spots"]:
            cells = [f"{r['raw'][0]:.2f} / {r['raw'][1]:.2f}"]
            for name in ("default", "network", "gauss-1", "bm3d"):
                m = r[name]
                cells += [
                    f"{m['intensity']:.2f} / {m['peak']:.2f}",
                    f"{m['error_over_input']:.2f} / {m['cores_error']:.2f}",
                ]
                if name == "network":
                    cells.append(_spots(r))
                    said = [m for m in r["warned"] if m.startswith(SPOTS_WARNING)]
                    cells.append(("put back" if SPOTS_PUT_BACK in said[0] else "yes") if said else "no")
            lines.append(f"| {r['sigma']:g} | {r['peak']:g} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


#: The removal checks' messages (:func:`fluorodn._engine.removal_check`), by how they begin after "the image
#: model ", and the name the table gives each.
CHECKS = (
    ("removed the shape of bright objects", "smoothed bright objects"),
    ("removed a pattern that repeats", "periodic pattern"),
    ("removed a pattern, not noise", "correlated removal"),
    ("removed ", "removed too much"),
    ("flattened small bright spots", "flattened spots"),
)


def _sample_over_all(rows: list[dict[str, Any]], limit: float) -> dict[str, Any]:
    """How the removal reading with the noise from a sample of the differences
    (:func:`fluorodn._engine.sample_values`) compares with it from all of them: the range of their
    ratio over the references and over every frame, and the frames that the two put on either side
    of the limit."""

    def ratios(rs: list[dict[str, Any]]) -> list[float]:
        return [r["removal_excess"] / r["removal_excess_all"] for r in rs if r["removal_excess_all"] > 0]

    every, refs = ratios(rows), ratios([r for r in rows if r["group"] == "reference"])
    return {
        "references": [min(refs), max(refs)] if refs else [],
        "frames": [min(every), max(every)] if every else [],
        "across_limit": [
            r["frame"] for r in rows if (r["removal_excess"] > limit) != (r["removal_excess_all"] > limit)
        ],
    }


def _sample_line(sample: dict[str, Any] | None) -> str:
    """The report's line on the noise measured from a sample of the differences."""
    if not sample:
        return ""
    (r0, r1), (f0, f1), across = sample["references"] or [float("nan")] * 2, sample["frames"], sample["across_limit"]
    return (
        "The check measures the input's noise on a sample of the differences it reads "
        f"(`fluorodn._engine.sample_values`, at most {sample['noise_values']} each way); removed / noise with it "
        "over removed / noise "
        f"from all of them: {r0:.3f}-{r1:.3f} on the references, {f0:.3f}-{f1:.3f} over every frame; on opposite "
        f"sides of the limit: {', '.join(across) if across else 'no frame'}."
    )


def _which_check(message: str) -> str | None:
    """The table's name for the removal check a warning comes from (None: another warning)."""
    for begins, name in CHECKS:
        if message.split("the image model ", 1)[-1].startswith(begins) and message.startswith(REMOVED):
            return name
    return None


def _spots(row: dict[str, Any]) -> str:
    """A row's spot check cell (:func:`spot_reading`): the share of the spots' excess removed / what was
    removed from their cores in noise levels (the spots judged), ``-`` where too few spots stand out to
    judge; ``not looked for:`` before it where what was removed has neither a bright tail nor bright
    values beyond ``SPOT_LIT`` times noise's, where the runtime does not look and so does not warn."""
    from fluorodn._engine import SPOT_LIT

    if "spot_removal" not in row:
        return "-"
    spots, share, core, _, lit = row["spot_removal"]
    reading = f"{share:.2f} / {core:.1f} ({int(spots)})" if np.isfinite(share) else f"- ({int(spots)})"
    return reading if row.get("bright_tail", True) or lit > SPOT_LIT else f"not looked for: {reading}"


def _dask_name(c: dict[str, Any]) -> str:
    frame = f"{c['side']} x {c['side']}"
    return f"{c['pages']} frames of {frame}" if c["pages"] else f"one {frame} frame"


def main(argv: list[str] | None = None) -> int:
    from benchmarks.measure import quick_out_main

    return quick_out_main(argv, "images", __doc__ or "", run, "two images and one test frame at noise 0.3")


if __name__ == "__main__":
    raise SystemExit(main())
