"""The onsets benchmark's --quick mode runs end to end: each setting takes effect in its own run
only, and the table compares it with the shipped setting and raw."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("oasis")
pytest.importorskip("spectral_connectivity")

from benchmarks import onsets


def test_quick_onsets(tmp_path) -> None:
    from fluorodn import spectral

    before = {k: getattr(spectral, k) for k in onsets.CONSTANTS}
    assert onsets.main(["--quick", "--out", str(tmp_path)]) == 0
    assert {k: getattr(spectral, k) for k in onsets.CONSTANTS} == before  # restored
    res = json.loads((tmp_path / "onsets_quick.json").read_text())
    assert res["seeds"] == [100, 101] and len(res["rows"]) == 2 * 3
    shipped, weaker, raw = (next(s for s in res["summary"] if s["setting"] == n)
                            for n in (onsets.SHIPPED, "ONSET_STRENGTH 0.3", onsets.RAW))  # fmt: skip
    assert shipped["f1_shipped_diff"] == 0.0 and raw["f1_raw_diff"] == 0.0
    assert shipped["psnr"] > raw["psnr"] + 5.0  # the shipped default denoises
    assert weaker["psnr"] != shipped["psnr"] and abs(weaker["psnr"] - shipped["psnr"]) < 1.0
    md = (tmp_path / "onsets_quick.md").read_text()
    assert "| ONSET_STRENGTH 0.3 | " in md and "python -m benchmarks onsets --quick" in md
    assert "| shipped | " in md and md.count(" | - | ") == 2  # each reference row against itself


def test_onset_constants_are_restored_after_an_error() -> None:
    from fluorodn import spectral

    seen = []

    def fail() -> None:
        with onsets.onset_constants(ONSET_STRENGTH=0.1, ONSET_WIDTH=9):
            seen.append((spectral.ONSET_STRENGTH, spectral.ONSET_WIDTH))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert seen == [(0.1, 9)]
    assert spectral.ONSET_STRENGTH == 0.6 and spectral.ONSET_WIDTH == 3
    assert np.isclose(spectral.ONSET_SDS, 3.0)
