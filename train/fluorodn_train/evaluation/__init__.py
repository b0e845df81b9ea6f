"""Evaluation of denoisers on synthetic recordings with ground truth (the ``[eval]`` extra).

* :mod:`.analysis`: the downstream analysis (spectral fit, OASIS events, coherence, PSNR/SSIM);
* :mod:`.recordings`: continuous test recordings from the generator's ``TEST_STREAM`` and
  :func:`analyse`, every metric of one denoised output;
* :mod:`.guard`: the quality guard a reduced-precision model must pass to ship.

The benchmarks (``benchmarks/``) build on these; the training side uses the guard.
"""

from __future__ import annotations

from .guard import COHERENCE_TOL, PSNR_TOL_DB, QualityGuardError, guard
from .recordings import FS, Recording, analyse, make_recordings, signal_config

__all__ = [
    "COHERENCE_TOL",
    "FS",
    "PSNR_TOL_DB",
    "QualityGuardError",
    "Recording",
    "analyse",
    "guard",
    "make_recordings",
    "signal_config",
]
