"""The headroom benchmark's --quick mode runs end to end, and its oracles are what they claim: an
error that is the recording's own noise scaled by k, with no bias."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("oasis")
pytest.importorskip("fluorodn_train")

from benchmarks import headroom


def test_quick_headroom(tmp_path) -> None:
    assert headroom.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "headroom_quick.json").read_text())
    by = {s["pipeline"]: s for s in res["summary"]}
    oracles = [headroom.oracle_name(k) for k in headroom.SHARES]
    assert list(by) == [headroom.RAW, headroom.DEFAULT, *oracles, headroom.CLEAN]
    assert all(s["n"] == 2 and s["recording"] == "noise 0.4" for s in by.values())
    raw = by[headroom.RAW]
    for k, name in zip(headroom.SHARES, oracles, strict=True):
        # clean + k x noise: k times raw's trace error (up to the emission the unmixing estimates)
        assert by[name]["err_near"] == pytest.approx(k * raw["err_near"], rel=0.05)
        assert by[name]["err_far"] == pytest.approx(k * raw["err_far"], rel=0.05)
        assert by[name]["err_step"] == pytest.approx(k * raw["err_step"], rel=0.1)
    assert by[headroom.CLEAN]["err_near"] == by[headroom.CLEAN]["err_far"] == by[headroom.CLEAN]["err_step"] == 0.0
    default = by[headroom.DEFAULT]
    assert default["err_far"] < 0.5 * raw["err_far"] and default["err_near"] < raw["err_near"]
    assert default["err_near"] > 1.3 * default["err_far"]  # the default keeps more error near events
    assert default["err_step"] > default["err_near"]  # and most at the steps themselves
    # OASIS reads its noise level from the trace's fast content, which the events' steps dominate:
    # the clean recording gives most of raw's, and less noise lowers it only down to that
    noise_level = {name: s["oasis_noise"] for name, s in by.items()}
    assert noise_level[headroom.CLEAN] > 0.7 * noise_level[headroom.RAW]
    assert noise_level[headroom.RAW] > noise_level[oracles[0]] > 0.99 * noise_level[headroom.CLEAN]
    assert 0.95 * noise_level[headroom.CLEAN] < noise_level[headroom.DEFAULT] < noise_level[headroom.RAW]
    for s in by.values():
        assert s["missed"] == sum(s[k] for k in ("small", "merged", "shifted", "absent", "taken"))
    md = (tmp_path / "headroom_quick.md").read_text()
    assert "## noise 0.4" in md and f"| {oracles[0]} |" in md
