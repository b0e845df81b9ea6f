"""The steady-oscillations benchmark's --quick mode runs end to end: the check reads what the default
keeps where it judges, warns under its limit there, and never on the in-domain recordings."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import oscillations


def test_quick_oscillations(tmp_path) -> None:
    from fluorodn import spectral

    assert oscillations.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "oscillations_quick.json").read_text())
    rows = res["oscillations"]
    assert len(rows) == 8 and res["threshold"] == spectral.KEPT_LEAST
    for r in rows:
        assert r["kept"]["svd-8"] > 0.7  # a truncated SVD keeps every one of them
        # the check never reads more damage than there is; where it warns it reads the share kept
        assert r["kept_share"] > r["kept"]["default"] - 0.08, r
        assert r["warned"] == (r["kept_share"] < spectral.KEPT_LEAST)
        if r["warned"]:
            assert r["kept_share"] == pytest.approx(r["kept"]["default"], abs=0.08), r
    # every oscillation the default keeps under 70 % of is named (from 2x its noise, a narrow peak)
    assert all(r["warned"] for r in rows if r["kept"]["default"] < 0.65)
    assert not any(r["warned"] for r in rows if r["kept"]["default"] > 0.75)
    assert all(not r["warned"] for r in res["in_domain"]) and len(res["in_domain"]) >= 15
    assert min(r["kept_share"] for r in res["in_domain"]) > spectral.KEPT_LEAST
    cost = res["cost"]
    assert 0 < cost["check_s"] < 0.05 * cost["run_s"]
    text = (tmp_path / "oscillations_quick.md").read_text()
    assert "| sensor | 1 | 4 |" in text and "**In-domain recordings**" in text
