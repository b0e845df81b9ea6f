"""The model comparison's --quick mode runs end to end and measures what differs."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import compare
from fluorodn.registry import load_model


def test_a_model_against_itself_differs_by_nothing(tmp_path) -> None:
    shipped = load_model("spectral").path
    assert compare.main([str(shipped), "--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "compare_quick.json").read_text())
    groups = [e["group"] for e in res["summary"]]
    assert groups[:3] == ["main, noise 0.2", "main, noise 0.4", "main, noise 0.8"]
    assert "fast hemodynamics, noise 0.8" in groups
    for e in res["summary"]:
        for key in compare.METRICS:
            assert e[key]["diff"] == pytest.approx(0.0, abs=1e-9)
            assert e[key]["shipped"] == pytest.approx(e[key]["candidate"], abs=1e-9)
        assert e["warned"]["shipped"] == e["warned"]["candidate"]
    # the denoiser beats raw on the main recordings, so the metrics are the real ones
    main = res["summary"][1]
    assert main["PSNR"]["shipped"] > main["PSNR"]["raw"] + 5
    assert res["sha256"]["shipped"] == res["sha256"]["candidate"]
    assert "| main, noise 0.4 | 1 |" in (tmp_path / "compare_quick.md").read_text()


def test_the_summary_pairs_the_recordings() -> None:
    """Each group's difference is the mean of the per-recording differences, with Student's t."""
    rows = [
        {
            "group": "g",
            "metrics": {
                k: dict.fromkeys(compare.METRICS, v) for k, v in (("raw", 1.0), ("shipped", 2.0), ("candidate", c))
            },
            "warned": {"shipped": False, "candidate": c > 2.5},
        }
        for c in (2.5, 3.0, 3.5)
    ]
    (e,) = compare.summarise(rows)
    assert e["n"] == 3 and e["warned"] == {"shipped": 0, "candidate": 2}
    assert e["F1"]["diff"] == pytest.approx(1.0)
    # Student's t with 2 degrees of freedom: 4.303 * 0.5 / sqrt(3)
    assert e["F1"]["half_width"] == pytest.approx(4.303 * 0.5 / np.sqrt(3), rel=1e-3)


def test_the_sweep_conditions_below_raw_are_drawn_again() -> None:
    """Every sweep condition below raw on average when drawn again in the committed sweep.json,
    drawn as the sweep draws it, the draws the analysis resolves, named by the condition."""
    sweep = json.loads((compare.RESULTS / "sweep.json").read_text())["rows"]
    below = {
        row["index"] for row in sweep if any(r.get("mean_diff", 0.0) < 0.0 for r in row.get("repeats", {}).values())
    }
    assert below  # the committed sweep has such conditions
    pairs = compare.recordings(0, False, draws=1)
    assert pairs and {int(g.split("#")[1].split(":")[0]) for g, _ in pairs} <= below
    for group, rec in pairs:
        row = sweep[int(group.split("#")[1].split(":")[0])]
        assert group.endswith(row["recording"]) and rec.noisy.shape == (
            row["factors"]["samples"],
            row["factors"]["bins"],
        )


def test_a_missing_candidate_is_refused(tmp_path, capsys) -> None:
    assert compare.main([str(tmp_path / "none.onnx"), "--quick", "--out", str(tmp_path)]) == 2
    assert "no model at" in capsys.readouterr().out
