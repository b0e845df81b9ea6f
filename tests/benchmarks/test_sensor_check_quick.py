"""The sensor-check benchmark's --quick mode runs end to end, and unmix warns where denoising
removed a weak sensor's changes, or damped a lone event, and nowhere else."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import sensor_check


def test_quick_sensor_check(tmp_path) -> None:
    assert sensor_check.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "sensor_check_quick.json").read_text())
    rows = {r["recording"]: r for r in res["rows"]}
    assert len(res["rows"]) == len(rows) == 14
    crushed = rows["weak sensor, 3.5 x shot noise"]
    assert crushed["warned"] and crushed["kept"] < 0.2 and crushed["slope_denoised"] < 0.2 < crushed["slope_raw"]
    lone = {name: r for name, r in rows.items() if r["group"] == "lone event"}
    kept = [r for name, r in rows.items() if name != "weak sensor, 3.5 x shot noise" and name not in lone]
    assert not any(r["warned"] or r["damped_warned"] for r in kept) and all(r["kept"] > 0.5 for r in kept)
    assert len(lone) == 4
    for r in lone.values():  # told where the event kept is under 0.6, not where it is kept
        assert r["damped_warned"] == (r["event_denoised"] < 0.6) and r["event_raw"] > 0.9, r
    assert "| weak sensor | weak sensor, 3.5 x shot noise | 1 |" in (tmp_path / "sensor_check_quick.md").read_text()
