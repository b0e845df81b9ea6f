"""The classical baselines of the quality benchmark: what each must do on a known recording."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.pipelines import MPPCA_PATCH, mppca


def _low_rank(t: int, w: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three smooth spectra with slow random traces, plus white noise of a level per bin."""
    rng = np.random.default_rng(seed)
    bins = np.linspace(0.0, 1.0, w)
    spectra = np.stack([np.exp(-((bins - c) ** 2) / 0.02) for c in (0.2, 0.5, 0.8)])
    traces = np.cumsum(rng.standard_normal((t, 3)), axis=0) * 0.5 + 50.0
    clean = traces @ spectra * 10.0 + 100.0
    noisy = clean + rng.standard_normal((t, w)) * np.linspace(2.0, 6.0, w)
    return clean, noisy


@pytest.mark.parametrize("t", [60, MPPCA_PATCH + 31, 1234])
def test_mppca_denoises_every_row_of_a_low_rank_recording(t: int) -> None:
    """Lengths shorter than a patch and past the last whole patch included: every row comes back
    finite, with well under the raw error, and the input is left as it was."""
    clean, noisy = _low_rank(t)
    before = noisy.copy()
    y = mppca(noisy)
    assert y.shape == noisy.shape and np.isfinite(y).all()
    np.testing.assert_array_equal(noisy, before)
    err = np.sqrt(np.mean((y - clean) ** 2) / np.mean((noisy - clean) ** 2))
    assert err < 0.7
    tail = np.sqrt(np.mean((y[-10:] - clean[-10:]) ** 2) / np.mean((noisy[-10:] - clean[-10:]) ** 2))
    assert tail < 0.8


def test_mppca_follows_the_units() -> None:
    """Scaling and offsetting the recording scales and offsets the output alike."""
    _, noisy = _low_rank(500, seed=1)
    y = mppca(noisy)
    np.testing.assert_allclose(mppca(noisy * 1e3 + 7.0), y * 1e3 + 7.0, rtol=1e-6, atol=1e-3)
