"""The strength benchmark's --quick mode runs end to end, and a lower strength keeps the events'
rises that the full one smooths (slow rises at high noise)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("oasis")
pytest.importorskip("spectral_connectivity")

from benchmarks import strength, sweep


def test_quick_strength(tmp_path) -> None:
    assert strength.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "strength_quick.json").read_text())
    assert res["settings"] == ["1", strength.NOT_KEPT, "0.5", "0"]
    by = {(r["condition"], r["setting"]): r for r in res["rows"]}
    assert set(by) == {(c, s) for c in ("noise 0.2", strength.SLOW_HIGH_NAME) for s in res["settings"]}
    assert not by["noise 0.2", strength.NOT_KEPT]["keep_onsets"] and by["noise 0.2", "1"]["keep_onsets"]
    for c in ("noise 0.2", strength.SLOW_HIGH_NAME):
        psnr = [by[c, s]["PSNR"]["mean"] for s in ("1", "0.5", "0")]
        assert psnr[0] > psnr[1] > psnr[2] > 5.0  # every strength denoises; the full one most
        assert abs(by[c, strength.NOT_KEPT]["PSNR"]["mean"] - psnr[0]) < 0.5  # the onsets cost little
    md = (tmp_path / "strength_quick.md").read_text()
    assert f"## {strength.SLOW_HIGH_NAME}" in md and "| 0.5 |" in md and f"| {strength.NOT_KEPT} |" in md


def test_event_step_of_the_clean_trace_is_its_own() -> None:
    rec = sweep.make(strength.SLOW_HIGH | {"samples": 1500}, np.random.default_rng(3))
    from fluorodn_train.evaluation.recordings import fitted_trace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = strength.event_step(rec, fitted_trace(rec, rec.clean))
    shares = strength.step_shares(clean, clean, 3)
    assert shares == {"reached": 1.0, "ahead": 0.0}
    assert strength.step_shares(clean, clean, 24) == shares  # a rise past the window: its last sample
    assert clean[strength.BEFORE + 3] > 3 * abs(clean[: strength.BEFORE]).max()  # a step at the onset


def test_lower_strength_keeps_slow_rises_at_high_noise() -> None:
    """Events rising over 3 samples at noise 1.0: the full strength reaches less of the clean step
    at the end of the rise and rises ahead of the onset; strength 0.4 keeps both near the clean
    recording's."""
    from fluorodn_train.evaluation.recordings import fitted_trace

    import fluorodn
    from fluorodn.denoiser import DenoiserOptions

    rec = sweep.make(strength.SLOW_HIGH | {"samples": 3000}, np.random.default_rng(5))
    shares = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = strength.event_step(rec, fitted_trace(rec, rec.clean))
        for s in (1.0, 0.4):
            den = fluorodn.Denoiser(options=DenoiserOptions(threads=1, strength=s, keep_onsets=False))
            a = fitted_trace(rec, rec.to_counts(np.asarray(den.run(rec.noisy), np.float64)))
            shares[s] = strength.step_shares(strength.event_step(rec, a), clean, 3)
    assert shares[1.0]["reached"] < 0.95 and shares[1.0]["ahead"] > 0.02, shares
    assert shares[0.4]["reached"] > shares[1.0]["reached"] + 0.05, shares
    assert abs(shares[0.4]["ahead"]) < 0.6 * shares[1.0]["ahead"], shares


def test_keeping_onsets_keeps_slow_rises_at_high_noise_and_most_of_the_denoising() -> None:
    """The same recording: the default (``keep_onsets``) reaches more of the clean step and rises
    less ahead of the onset than the full network everywhere, with an error within 0.5 dB of its
    and below strength 0.6's."""
    from fluorodn_train.evaluation.recordings import fitted_trace

    import fluorodn
    from fluorodn.denoiser import DenoiserOptions

    rec = sweep.make(strength.SLOW_HIGH | {"samples": 3000}, np.random.default_rng(5))
    shares, error = {}, {}
    settings = {"kept": {}, "full": {"keep_onsets": False}, "0.6": {"strength": 0.6, "keep_onsets": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = strength.event_step(rec, fitted_trace(rec, rec.clean))
        for name, opts in settings.items():
            y = np.asarray(fluorodn.Denoiser(options=DenoiserOptions(threads=1, **opts)).run(rec.noisy), np.float64)
            a = fitted_trace(rec, rec.to_counts(y))
            shares[name] = strength.step_shares(strength.event_step(rec, a), clean, 3)
            error[name] = float(np.sqrt(np.mean((rec.to_counts(y) - rec.clean) ** 2)))
    assert shares["kept"]["reached"] > shares["full"]["reached"] + 0.02, shares
    assert shares["kept"]["ahead"] < 0.8 * shares["full"]["ahead"], shares
    assert error["kept"] < error["full"] * 10 ** (0.5 / 20), error
    assert error["kept"] < error["0.6"], error
