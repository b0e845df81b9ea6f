"""The quality guard: a reduced-precision model ships only if it matches its float model.

Both models denoise continuous synthetic recordings at the model's noise scale, or across
the noise range a blind model was trained on (seeds of the generator's ``TEST_STREAM``,
never used in training) through the runtime
(:class:`fluorodn.Denoiser`); the analysis of :func:`.recordings.analyse` runs on both
outputs (PSNR against the clean recording; coherence of the fitted a(t) with ground truth).
The candidate is refused (:class:`QualityGuardError`) if on any recording the PSNR differs
by more than :data:`PSNR_TOL_DB` or the mean 0-2.5 Hz coherence by more than
:data:`COHERENCE_TOL`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from fluorodn import Denoiser, DenoiserOptions

from .recordings import FS, analyse, make_recordings

__all__ = [
    "COHERENCE_BAND",
    "COHERENCE_TOL",
    "GUARD_MINUTES",
    "GUARD_RANGE_MARGIN",
    "GUARD_SEEDS",
    "GUARD_TIMING_RUNS",
    "PSNR_TOL_DB",
    "QualityGuardError",
    "guard",
    "guard_scales",
]

#: Largest tolerated |PSNR(float) - PSNR(variant)| in dB, on every guard recording.
PSNR_TOL_DB = 0.1
#: Largest tolerated |coherence(float) - coherence(variant)|, mean over 0-2.5 Hz.
COHERENCE_TOL = 0.01
#: The coherence band of the guard (Hz).
COHERENCE_BAND = (0.0, 2.5)
#: Guard recordings: TEST_STREAM seeds and length in minutes (at 5 Hz, 152 bins).
GUARD_SEEDS = (0, 1, 2)
GUARD_MINUTES = 10.0
#: Runs of each model on each guard recording; the fastest is timed (timed once each, two
#: spectral int8 variants with the same graph read 1.02x and 1.21x the float model's speed,
#: ``benchmarks/results/spectral_int8_guard_runs.json``).
GUARD_TIMING_RUNS = 5
#: A model trained over a noise range is guarded from this fraction of it to one minus it.
GUARD_RANGE_MARGIN = 0.1


def guard_scales(noise_range: Sequence[float], n: int) -> tuple[float, ...]:
    """``n`` guard noise scales across ``noise_range`` (lo, hi), evenly from
    :data:`GUARD_RANGE_MARGIN` of it to one minus that (its middle for one): 0.21, 0.65 and
    1.09 for three across 0.1-1.2."""
    lo, hi = (float(v) for v in noise_range)
    points = np.linspace(GUARD_RANGE_MARGIN, 1 - GUARD_RANGE_MARGIN, n) if n > 1 else np.array([0.5])
    return tuple(round(lo + float(f) * (hi - lo), 4) for f in points)


class QualityGuardError(RuntimeError):
    """A reduced-precision model differs from its float model by more than the tolerance.

    ``rows``: the per-recording comparisons measured until the refusal (the last one failed).
    """

    def __init__(self, message: str, rows: Sequence[dict[str, Any]] = ()):
        super().__init__(message)
        self.rows = list(rows)


def guard(
    float_path: str | Path,
    candidate_path: str | Path,
    noise_scale: float | Sequence[float],
    *,
    seeds: Sequence[int] = GUARD_SEEDS,
    minutes: float = GUARD_MINUTES,
    threads: int | None = None,
    psnr_tol: float = PSNR_TOL_DB,
    coherence_tol: float = COHERENCE_TOL,
    timing_runs: int = GUARD_TIMING_RUNS,
    name: str | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Compare a reduced-precision model with its float model on the guard recordings.

    Both run through :class:`fluorodn.Denoiser` on the CPU with the same threads, one
    recording after the other (alternating which goes first), ``timing_runs`` times each,
    so the returned ``speedup_measured`` (float time / candidate time, each the sum over the
    recordings of its fastest run) is a same-run comparison.

    ``noise_scale``: of every recording, or one per seed (a blind model's range,
    :func:`guard_scales`).

    Returns the deltas (float minus candidate: positive means the candidate is worse)
    per recording and their worst absolute values. Raises :class:`QualityGuardError` at
    the first recording on which a delta exceeds its tolerance (``name``: the candidate's
    name in that message).
    """
    if isinstance(noise_scale, Sequence) or np.ndim(noise_scale) > 0:
        scales = [float(v) for v in np.ravel(noise_scale)]
    else:
        scales = [float(noise_scale)] * len(seeds)
    if len(scales) != len(seeds):
        raise ValueError(f"{len(scales)} noise scales for {len(seeds)} guard seeds")
    opts = DenoiserOptions(threads=threads, precision="auto")
    ref = Denoiser(float_path, device="cpu", options=opts)
    cand = Denoiser(candidate_path, device="cpu", options=opts)
    band = f"coh_mean_{COHERENCE_BAND[0]:g}_{COHERENCE_BAND[1]:g}hz"
    n_time = round(minutes * 60 * FS)
    rows: list[dict[str, Any]] = []
    times = {"float": 0.0, "candidate": 0.0}
    for k, (seed, scale) in enumerate(zip(seeds, scales, strict=True)):
        (rec,) = make_recordings(n_time, (scale,), robust=False, seed=seed)
        outs: dict[str, np.ndarray] = {}
        fastest = {"float": np.inf, "candidate": np.inf}
        order = [("float", ref), ("candidate", cand)]
        for r in range(timing_runs):
            for which, den in order if (k + r) % 2 == 0 else order[::-1]:
                if k == r == 0:
                    den.run(rec.noisy[:256])  # warm-up: first-run allocations are not timed
                t0 = time.perf_counter()
                out = den.run(rec.noisy)
                fastest[which] = min(fastest[which], time.perf_counter() - t0)
                outs.setdefault(which, np.asarray(out, np.float64))
        for which in times:
            times[which] += fastest[which]
        m_ref, _, _ = analyse(rec, outs["float"])
        m_cand, _, _ = analyse(rec, outs["candidate"])
        row = {
            "seed": int(seed),
            "noise_scale": scale,
            "psnr_float_db": m_ref["psnr"],
            "psnr_delta_db": m_ref["psnr"] - m_cand["psnr"],
            "coherence_float": m_ref[band],
            "coherence_delta": m_ref[band] - m_cand[band],
            "max_abs_diff_rel": float(
                np.abs(outs["float"] - outs["candidate"]).max()
                / max(float(np.abs(rec.noisy - outs["float"]).max()), 1e-30)
            ),
        }
        rows.append(row)
        log(
            f"  guard seed {seed}: PSNR {m_ref['psnr']:.3f} dB (delta {row['psnr_delta_db']:+.4f}), "
            f"coherence {m_ref[band]:.4f} (delta {row['coherence_delta']:+.5f})"
        )
        problems = []
        if abs(row["psnr_delta_db"]) > psnr_tol:
            problems.append(f"PSNR differs by {row['psnr_delta_db']:+.3f} dB (tolerance {psnr_tol} dB)")
        if abs(row["coherence_delta"]) > coherence_tol:
            problems.append(
                f"mean {COHERENCE_BAND[0]:g}-{COHERENCE_BAND[1]:g} Hz coherence differs by "
                f"{row['coherence_delta']:+.4f} (tolerance {coherence_tol})"
            )
        if problems:
            label = name or Path(candidate_path).name
            raise QualityGuardError(
                f"{label} is not shipped: against {Path(float_path).name} its "
                + " and ".join(problems)
                + f" on guard recording TEST_STREAM seed {seed} "
                f"({minutes:g} min at noise scale {scale:g})",
                rows,
            )
    worst_psnr = max(rows, key=lambda r: abs(r["psnr_delta_db"]))["psnr_delta_db"]
    worst_coh = max(rows, key=lambda r: abs(r["coherence_delta"]))["coherence_delta"]
    result = {
        "psnr_delta_db": float(worst_psnr),
        "coherence_delta": float(worst_coh),
        "speedup_measured": times["float"] / times["candidate"] if times["candidate"] > 0 else None,
        "guard": {
            "recordings": len(rows),
            "minutes": minutes,
            "noise_scale": scales[0] if len(set(scales)) == 1 else scales,
            "seeds": "TEST_STREAM " + ",".join(str(s) for s in seeds),
            "psnr_tol_db": psnr_tol,
            "coherence_tol": coherence_tol,
            "coherence_band_hz": list(COHERENCE_BAND),
            "threads": ref.threads,
            "timing_runs": timing_runs,
            "seconds_float": times["float"],
            "seconds_candidate": times["candidate"],
            "per_recording": rows,
        },
    }
    return result
