"""The light-off benchmark's --quick mode runs end to end, and setting dark samples aside helps."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import dark


def test_quick_dark(tmp_path) -> None:
    assert dark.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "dark_quick.json").read_text())
    assert res["reads"]["recordings"] == 20
    reads = res["reads"]
    assert reads["lit_taken_for_dark"] == [] and reads["dark_not_found"] == [] and reads["inside_not_found"] == []
    down = res["turned_down"]
    assert [d["kept"] for d in down] == list(dark.TURNED_DOWN)
    assert all(d["long_read_as_off"] == 0 for d in down)  # a stretch longer than DARK_LONGEST is projected
    assert all(d["short_read_as_off"] == 0 for d in down)  # the turned-down rows keep the spectrum
    rows = res["recordings"]
    assert [(r["where"], r["samples"]) for r in rows] == [
        *(("first", n) for n in dark.DARK),
        *(("inside", n) for n in dark.INSIDE),
    ]
    from fluorodn import spectral

    for r in rows:
        aside = r["set aside"]
        if r["samples"] > spectral.DARK_LONGEST:  # projected by the default too, and not named
            assert not aside["noticed"] and aside["near"] < 0.5
            continue
        assert aside["dark"] == pytest.approx(1.0)  # returned as recorded
        assert aside["near"] < 0.5 and aside["rest"] < 0.5  # the lit samples denoised
        assert aside["noticed"] and not r["projected"]["noticed"]  # named only where set aside
    # projected with the rest, the dark samples are not left as they were
    assert np.mean([r["projected"]["dark"] for r in rows]) > 2.0
    text = (tmp_path / "dark_quick.md").read_text()
    assert "| 1 first |" in text and "| 100 in the middle |" in text and "| 600 in the middle (longer" in text
    cost = res["cost"]
    assert cost["samples"] == 4000 and 0 < cost["lit_mask_s"] < 0.05 * cost["run_s"]
    # more than half of the rows dark: found, and not where the same rows keep the spectrum
    majority = res["majority"]
    assert list(majority["found"]) == list(dark.MAJORITY)
    assert all(k == n == 4 for k, n in majority["found"].values())
    assert all(k == 0 and n == 12 for k, n in majority["kept"].values())
    for errs in majority["errors"].values():  # set aside, the lit samples come out as well or better
        assert errs["set aside"][0] < 0.5 and errs["set aside"][0] <= errs["projected"][0] + 0.01
    assert "**More than half of the rows dark.**" in text
