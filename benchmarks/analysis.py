"""The downstream analysis the benchmarks judge quality by: :mod:`fluorodn_train.evaluation.analysis`."""

from __future__ import annotations

from fluorodn_train.evaluation.analysis import (
    SEED_G,
    EventScore,
    SpectralFit,
    band_values,
    coherence,
    deconvolve,
    events,
    fit_spectra,
    image_scores,
    match_events,
    subtract_baseline,
)

__all__ = [
    "SEED_G",
    "EventScore",
    "SpectralFit",
    "band_values",
    "coherence",
    "deconvolve",
    "events",
    "fit_spectra",
    "image_scores",
    "match_events",
    "subtract_baseline",
]
