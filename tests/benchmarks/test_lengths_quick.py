"""The short-recordings benchmark's --quick mode runs end to end, and its groups follow the rule
the runtime applies to recordings whose axes are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import lengths
from fluorodn.spectral import takes_recording


def test_quick_lengths(tmp_path) -> None:
    assert lengths.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "lengths_quick.json").read_text())
    assert list(res["groups"]) == ["W to 2W", "152 bins, 100 samples"]
    for name, rows in res["rows"].items():
        g = res["groups"][name]
        assert g["recordings"] == len(rows) and g["spectral_better"] == sum(r["ratio"] < 1 for r in rows)
        assert g["median_ratio"] == pytest.approx(np.median([r["spectral"] / r["image"] for r in rows]))
        taken = {takes_recording((r["samples"], r["bins"])) for r in rows}
        assert g["path"] == {frozenset({True}): "spectral", frozenset({False}): "image"}[frozenset(taken)]
    for r in res["rows"]["W to 2W"]:
        assert r["bins"] <= r["samples"] < 2 * r["bins"] and 0.1 <= r["noise"] <= 1.2
        assert 0 < r["spectral"] < 1  # the spectral path denoises every one of them
    md = (tmp_path / "lengths_quick.md").read_text()
    assert "| W to 2W | W-2W, W 76-304 | 4 | spectral |" in md and "| 152 bins, 100 samples |" in md
