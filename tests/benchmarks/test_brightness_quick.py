"""The brightness benchmark: one clean recording per seed at every noise scale, the brightness
the check reads falling as the noise grows, and --quick end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("oasis")
pytest.importorskip("spectral_connectivity")

from benchmarks import brightness


def test_one_clean_recording_per_seed_at_every_noise_scale() -> None:
    a, b = (brightness.make_recording(ns, 2.0, seed=0) for ns in (1.2, 6.0))
    np.testing.assert_array_equal(a.clean, b.clean)
    noise_a, noise_b = a.noisy - a.clean, b.noisy - b.clean
    assert np.std(noise_b) / np.std(noise_a) == pytest.approx(5.0, rel=0.1)
    ratio = brightness.brightness_over_noise(a.noisy) / brightness.brightness_over_noise(b.noisy)
    assert ratio == pytest.approx(5.0, rel=0.15)


def test_quick_run(tmp_path: Path) -> None:
    assert brightness.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "brightness_quick.json").read_text())
    assert [g["noise"] for g in res["groups"]] == list(brightness.QUICK["noise"])
    dim = res["groups"][-1]
    assert dim["snr_max"] < res["trained_snr"][0] and len(dim["warned_seeds"]) == dim["n"]  # warned below training
    bright = res["groups"][0]
    assert bright["snr_min"] > res["trained_snr"][0]
    assert bright["PSNR"]["vs_raw"] > 10.0  # dB: far ahead of raw inside training
    md = (tmp_path / "brightness_quick.md").read_text()
    assert "| 1.2 |" in md and "noisier than any the model was trained on" in md
