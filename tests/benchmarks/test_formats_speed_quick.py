"""The reader benchmark runs in its quick mode and writes its result files."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.__main__ import main


def test_formats_speed_quick(tmp_path: Path) -> None:
    assert main(["formats-speed", "--quick", "--repeats", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "formats_speed_quick.json").read_text())
    assert result["round_trip_exact"] and result["shape"] == [3000, 152]
    assert all(v > 0 for v in result["median_s"].values())
    assert "| formats.read" in (tmp_path / "formats_speed_quick.md").read_text()
