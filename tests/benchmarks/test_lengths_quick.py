"""The short-recordings benchmark's --quick mode runs end to end, and its counts follow its rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fluorodn_train")

from benchmarks import lengths
from fluorodn.spectral import ONE_SPECTRUM, looks_spectral


def test_quick_lengths(tmp_path) -> None:
    assert lengths.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "lengths_quick.json").read_text())
    assert list(res["groups"]) == ["32", lengths.BETWEEN, lengths.DARK]
    for name, rows in res["rows"].items():
        g = res["groups"][name]
        assert g["recordings"] == len(rows) == lengths.QUICK["draws"]
        assert g["spectral_better"] == sum(r["spectral"] < r["image"] for r in rows)
        assert g["shape_image"] == sum(not looks_spectral((r["samples"], r["bins"])) for r in rows)
        assert g["bare_image"] == 0  # every one of them a recording by its rows
        for path in ("spectral", "bare", "image"):
            e = [r[path] for r in rows]
            assert g[path]["geometric_mean"] == pytest.approx(np.exp(np.mean(np.log(e))))
            assert g[path]["worse_than_raw"] == sum(v > 1 for v in e)
            assert g[path]["told_to_transpose"] == sum(r[f"{path}_told_to_transpose"] for r in rows)
        for r in rows:
            assert 0 < r["spectral"] < 1  # the spectral path denoises every one of them
            # a bare array takes the spectral path by its rows: what the declared spectral path gives it
            assert r["bare_path"] == "spectral" and r["bare"] == pytest.approx(r["spectral"], rel=1e-6)
            assert not r["bare_told_to_transpose"]  # whose advice would swap a recording's axes
            assert r["one_spectrum"] >= ONE_SPECTRUM  # a recording's rows are one spectrum
    for r in res["rows"][lengths.BETWEEN] + res["rows"][lengths.DARK]:
        assert r["bins"] <= r["samples"] < 2 * r["bins"] and r["shape_path"] == "image"
    for r in res["rows"][lengths.DARK]:  # the light off for the first samples, and maybe the last
        assert 1 <= r["dark_first"] <= lengths.DARK_FIRST and 0 <= r["dark_last"] <= lengths.DARK_LAST
    assert "| W to 2W | 3 |" in (tmp_path / "lengths_quick.md").read_text()
