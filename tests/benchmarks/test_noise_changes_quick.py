"""The noise-changes benchmark's --quick mode runs end to end: a steady recording is left as with one
noise level and not told, a recording whose noise steps from 0.1 to 1.2 is told and its quiet half's
sensor trace ends under raw (over raw with one noise level), and in-domain recordings stay under
the limit."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import noise_changes


def test_quick_noise_changes(tmp_path) -> None:
    from fluorodn import noise_change

    assert noise_changes.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "noise_changes_quick.json").read_text())
    rows = {r["condition"]: r for r in res["conditions"]}
    assert res["threshold"] == noise_change.CHANGE and len(rows) == 3
    steady, step = rows["steady, noise 0.4"], rows["noise 0.1 to 1.2 halfway"]
    assert not steady["noticed"] and steady["change"] < noise_change.CHANGE
    assert steady["sensor"]["default"] == steady["sensor"]["one noise level"]
    assert step["noticed"] and step["change"] > 4
    assert step["sensor"]["default"]["quietest"] < 0.8 < 1.0 < step["sensor"]["one noise level"]["quietest"]
    assert all(v < 1.0 for r in rows.values() for kind in ("sensor", "values") for v in r[kind]["default"].values())
    assert all(r["change"] < noise_change.CHANGE for r in res["in_domain"]) and len(res["in_domain"]) >= 15
    cost = res["cost"]  # the committed full run measures it; here only that it is timed, on a loaded machine
    assert 0 < cost["check_s"] < 0.5 * cost["run_s"]
    text = (tmp_path / "noise_changes_quick.md").read_text()
    assert "| noise 0.1 to 1.2 halfway |" in text and "**In-domain recordings**" in text
