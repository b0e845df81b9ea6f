"""The flashes benchmark's --quick mode runs end to end: flashes of 1.2-1.3 x the light are kept as
recorded (their samples under raw's error, where the first denoising alone left them many times
raw's) and named, and the check does not fire on the in-domain recordings."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import flashes


def test_quick_flashes(tmp_path) -> None:
    assert flashes.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "flashes_quick.json").read_text())
    rows = res["flashes"]
    assert [r["factor"] for r in rows] == [1.2, 1.3]
    for r in rows:
        assert r["warned"] and r["named"] == flashes.FLASHES, r
        assert r["flash_error_over_raw"] < 0.6 and r["unkept_flash_error_over_raw"] > 20, r
        assert r["near_error_over_raw"] < r["unkept_near_error_over_raw"], r
        assert r["other_warnings"] == 0, r
    assert not any(r["warned"] for r in res["in_domain"]) and len(res["in_domain"]) >= 15
    assert max(r["score"] / r["limit"] for r in res["in_domain"]) < 0.8
    cost = res["cost"]
    assert 0 < cost["check_s"] < 0.05 * cost["run_s"]
    text = (tmp_path / "flashes_quick.md").read_text()
    assert "| noise 0.2 | 1.3 |" in text and "**In-domain recordings**" in text
