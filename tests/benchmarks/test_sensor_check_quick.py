"""The sensor-check benchmark's --quick mode runs end to end, and unmix warns where denoising
removed a weak sensor's changes and nowhere else."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import sensor_check


def test_quick_sensor_check(tmp_path) -> None:
    assert sensor_check.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "sensor_check_quick.json").read_text())
    rows = {r["recording"]: r for r in res["rows"]}
    assert len(res["rows"]) == len(rows) == 10
    crushed = rows["weak sensor, 3.5 x shot noise"]
    assert crushed["warned"] and crushed["kept"] < 0.2 and crushed["slope_denoised"] < 0.2 < crushed["slope_raw"]
    kept = [r for name, r in rows.items() if name != "weak sensor, 3.5 x shot noise"]
    assert not any(r["warned"] for r in kept) and all(r["kept"] > 0.5 for r in kept)
    assert "| weak sensor | weak sensor, 3.5 x shot noise | 1 |" in (tmp_path / "sensor_check_quick.md").read_text()
