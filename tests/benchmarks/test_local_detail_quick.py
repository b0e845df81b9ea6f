"""The local-detail benchmark's --quick mode runs end to end: a square frame lit by a ramp, whose rows
read as one spectrum, goes to the image model, nearer the truth about its cells than the spectral
path; a tall one keeps the spectral path and is told; no in-domain recording reads near the limit, nor
one whose noise steps twelvefold, as given."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import local_detail


def test_quick_local_detail(tmp_path) -> None:
    assert local_detail.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "local_detail_quick.json").read_text())
    frames = res["frames"]
    assert len(frames) == 4 and all(r["rows_one_spectrum"] and r["score"] > res["limit"] for r in frames)
    for r in frames:
        if r["shape"] == [256, 256]:
            assert r["path"] == "image" and not r["local_told"], r
            assert r["cells_error"] < r["before_cells_error"] and r["before_cells_error"] > 1.2, r
        else:
            assert r["path"] == "spectral" and r["local_told"] and r["cells_error"] > 1.2, r
    dom = res["in_domain"]
    assert len(dom) == 18 and max(max(r["whole"], r["cuts"]) for r in dom) < 0.85 * res["limit"]
    others = res["others"]
    assert {r["group"] for r in others} == {"noise changes", "flashes"}
    assert max(r["score"] for r in others) < res["limit"]
    text = (tmp_path / "local_detail_quick.md").read_text()
    assert "| 1024 x 256 | 5 | 2 | yes |" in text and "**In-domain recordings**" in text
