"""The image-path benchmark's --quick mode runs end to end and its counts follow its rows."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("skimage")

from benchmarks import images


def test_quick_images(tmp_path) -> None:
    assert images.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "images_quick.json").read_text())
    rows, s = res["rows"], res["summary"]
    # two images x (noise 0.3, dark), a pattern, one frame x 3, packed blobs
    assert s["frames"] == len(rows) == 2 * 2 + 1 + 3 + 1
    by_name = {r["frame"]: r for r in rows}
    grass = by_name["grass, noise 0.3"]  # fine texture: made worse than the input, and said so
    assert grass["error_over_input"] > 2.0 and grass["removal_warned"] and grass["removal_excess"] > 1.2
    # a checkerboard of pixels raises the noise estimates as much as what is removed: the correlation
    # of what was removed gives it away
    checker = by_name["checkerboard of pixels, noise 0.3"]
    assert checker["error_over_input"] > 2.0 and checker["removal_excess"] < res["removal_limit"]
    assert checker["removal_structure"] > 0.95 and checker["removal_warned"]
    # bright blobs packed on a frame: smoothed, worse than the input; what was removed is smooth and
    # follows the output's curvature beyond both limits, so the curvature reading warns on its own
    (blobs,) = [r for r in rows if r["group"] == "blobs"]
    assert blobs["error_over_input"] > 1.1 and blobs["removal_warned"], blobs
    assert blobs["removal_smooth"] > res["smooth_limit"] and blobs["removal_curvature"] > res["curvature_limit"]
    for r in rows:
        beyond = r["removal_excess"] > res["removal_limit"] or r["removal_structure"] > res["removal_correlation"]
        beyond |= r["removal_smooth"] > res["smooth_limit"] and r["removal_curvature"] > res["curvature_limit"]
        spots, share, core, over, lit = r["spot_removal"]  # nan (too few spots): not beyond
        beyond |= r["bright_tail"] and share > res["spot_removed"]
        beyond |= (r["bright_tail"] or lit > res["spot_lit"]) and core > res["spot_core"] and over > res["spot_bright"]
        assert r["removal_warned"] == beyond
        if r["group"] == "reference":  # the frame benchmark's frames: denoised, silent
            assert r["error_over_input"] < 0.7 and r["warned"] == [] and r["removal_curvature"] < 0.2
    assert s["one_spectrum_reached"] == 0 and s["one_spectrum_max"] == max(r["one_spectrum"] for r in rows)
    assert s["spectral_path"] == 0 and {r["model"] for r in rows} == {"low"}  # no frame is taken for a recording
    assert s["worse_than_input_unwarned"] == sum(
        1 for r in rows if r["error_over_input"] > 1.0 and not r["removal_warned"]
    )
    sample = s["sample_over_all"]  # the noise from a sample of the differences against all of them
    every = [r["removal_excess"] / r["removal_excess_all"] for r in rows if r["removal_excess_all"] > 0]
    assert sample["frames"] == [min(every), max(every)] and 0.9 < min(every) <= max(every) < 1.1
    assert sample["across_limit"] == [
        r["frame"] for r in rows if (r["removal_excess"] > 1.2) != (r["removal_excess_all"] > 1.2)
    ]
    assert "removed / noise with it over removed / noise from all of them" in (tmp_path / "images_quick.md").read_text()
    sides = [c["side"] for c in res["check_cost"]]
    assert sides == list(images.COST_SIDES[:2])
    for c in res["check_cost"]:  # each timing spans COST_BATCH pixels of calls at least
        assert (
            c["calls"] == max(1, images.COST_BATCH // c["side"] ** 2)
            and c["calls"] * c["side"] ** 2 >= images.COST_BATCH
        )
        assert 0 < c["check_s"] < c["run_s"] and c["share"] == c["check_s"] / c["run_s"]
        assert c["spots_s"] > 0 and c["curvature_s"] > 0 and 0 < c["whole_s"] < c["run_s"]
    (put_back,) = res["spot_cost"]
    assert put_back["side"] == images.SPOT_COST_SIDES[0] and put_back["spots"] >= 30
    assert 0 < put_back["keep_s"] < put_back["run_s"]
    costs = res["dask_check_cost"]
    assert [(c["pages"], c["side"]) for c in costs] == list(images.DASK_ARRAYS_QUICK)
    for c in costs:
        assert 0 < c["check_s"] < c["build_s"] + c["compute_s"] and c["share"] < 1
    spots, bright = res["spots"]  # the faintest, smallest spots: flattened, too faint to judge
    assert (spots["sigma"], spots["peak"]) == (images.SPOT_SIGMAS[0], images.SPOT_PEAKS[0])
    assert spots["default"]["peak"] < 0.5 and spots["gauss-1"]["intensity"] == pytest.approx(1.0, abs=0.15)
    assert spots["default"] == spots["network"]  # not judged: nothing put back
    assert spots["raw"][0] == pytest.approx(1.0, abs=0.15) and spots["warned"] == []
    assert spots["spot_removal"][0] < 5 and spots["spot_removal"][1] != spots["spot_removal"][1]  # not judged
    # the brightest: a small share of their excess removed, but several noise levels from their cores,
    # which the network leaves far worse than the input's: told, put back, the cores as the input's
    assert (bright["sigma"], bright["peak"]) == (images.SPOT_SIGMAS[0], images.SPOT_PEAKS[-1])
    _, share, core, over, _ = bright["spot_removal"]
    assert share < res["spot_removed"] and core > res["spot_core"] and over > res["spot_bright"]
    assert bright["network"]["cores_error"] > 2.0 and bright["default"]["cores_error"] < 1.1
    assert bright["default"]["error_over_input"] < bright["network"]["error_over_input"]
    assert any(m.startswith(images.SPOTS_WARNING) and images.SPOTS_PUT_BACK in m for m in bright["warned"])
    md = (tmp_path / "images_quick.md").read_text()
    assert "| skimage | grass, noise 0.3 |" in md and "removed too much" in md and "correlated removal" in md
    assert "smoothed bright objects" in md  # the packed blobs
    assert "## Point-like spots" in md and "| 1 | 2 | " in md
    assert "Where they run too (a bright tail or many bright values: the spots' reading; a smooth removed part: " in md
