"""The acceptance benchmark's --quick mode runs end to end, and the spectral model's windows take
the spectral path."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fluorodn_train")
pytest.importorskip("oasis")

from benchmarks import acceptance


def test_the_spectral_windows_take_the_spectral_path() -> None:
    """A 101 x 152 window is shorter than twice its bins: declared a recording, it is denoised by
    the spectral model, not handed to the image model."""
    from fluorodn_train import data

    import fluorodn

    inst = data.make_instance(np.random.default_rng(3), 101, acceptance.BINS, 0.65)
    den = fluorodn.Denoiser("spectral")
    got = acceptance._pipelines(den)["fluorodn:spectral"](inst.noisy)
    np.testing.assert_allclose(got, fluorodn.Denoiser("spectral", kind="spectral").run(inst.noisy), rtol=1e-6)
    assert np.abs(got - fluorodn.Denoiser("low").run(inst.noisy)).max() > 1e-3 * np.abs(inst.noisy).max()
    assert np.std(got - inst.clean) < 0.6 * np.std(inst.noisy - inst.clean)


def test_quick_acceptance(tmp_path) -> None:
    res = acceptance.run(quick=True, out_dir=tmp_path)
    saved = json.loads((tmp_path / "acceptance.json").read_text())
    assert set(saved["models"]) == set(res["models"]) >= {"low", "high", "spectral"}
    for name, m in saved["models"].items():
        win = m["windows_psnr"]
        assert m["margin_db"] == pytest.approx(win[f"fluorodn:{name}"] - win[m["best_gaussian"]])
        assert win[f"fluorodn:{name}"] > win["raw"]
        assert m["pass_psnr"] == (m["margin_db"] >= acceptance.MARGIN_DB)
    assert "| spectral |" in (tmp_path / "acceptance.md").read_text()
