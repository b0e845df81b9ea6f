"""The events benchmark's --quick mode runs end to end, and its summary compares the default with
raw and the best baseline the way its table says."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("oasis")
pytest.importorskip("spectral_connectivity")

from benchmarks import events, stress


def test_quick_events(tmp_path) -> None:
    assert events.main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "events_quick.json").read_text())
    assert res["seeds"] == [0, 1] and res["pipelines"] == list(events.QUICK_PIPELINES)
    names = {r["recording"] for r in res["rows"]}
    small = {r.name for r in stress.make_small_events(30)}
    assert names == {"noise 0.2", *events.STRESS, *small} and len(small) == 2
    # every pipeline and the ceiling once per seed and recording
    assert len(res["rows"]) == 2 * len(names) * (len(events.QUICK_PIPELINES) + 1)
    for e in res["summary"]:
        assert e["n"] == 2 and e["best_f1"] not in (events.DEFAULT, events.CEILING)
        assert 0.0 <= e["ceiling_f1"] <= 1.0
    md = (tmp_path / "events_quick.md").read_text()
    assert "| noise 0.2 | 2 | 0 |" in md and "F1 default - best" in md
    # the lost events add up to the rows' own counts
    assert [e["recording"] for e in res["lost"]] == [e["recording"] for e in res["summary"]]
    for e in res["lost"]:
        rows = [r for r in res["rows"] if r["recording"] == e["recording"] and r["pipeline"] == events.DEFAULT]
        assert e["true"] == sum(r["true"] for r in rows) > 0
        assert e["pipelines"][events.DEFAULT]["missed"] == sum(r["missed"] for r in rows) <= e["true"]
        assert f"| {e['recording']} | {e['true']} | " in md


def _rows(diffs: list[float], base: float = 0.9) -> list[dict]:
    rows = []
    for seed, d in enumerate(diffs):
        for name, f1 in (("raw", base), ("svd-8", base + 0.001), (events.DEFAULT, base + d), (events.CEILING, 0.97)):
            row = {"seed": seed, "recording": "noise 0.2", "pipeline": name, "f1": f1, "coh": f1}
            rows.append(row | {"warned": name == events.DEFAULT and seed == 0})
    return rows


def test_summary_names_the_best_baseline_and_the_verdicts() -> None:
    (ahead,) = events.summary(_rows([0.010, 0.012, 0.011, 0.009]))
    assert ahead["best_f1"] == "svd-8"  # the ceiling is not a baseline
    assert ahead["ceiling_f1"] == pytest.approx(0.97) and ahead["default_warned"] == 1
    assert ahead["f1_best_diff"] == pytest.approx(0.0095, abs=1e-9)
    assert ahead["f1_best_verdict"] == "ahead" and ahead["f1_verdict"] == "ahead"
    (mixed,) = events.summary(_rows([0.010, -0.012, 0.011, -0.009]))
    assert mixed["f1_best_verdict"] == "level"
    (behind,) = events.summary(_rows([-0.010, -0.012, -0.011, -0.009]))
    assert behind["f1_best_verdict"] == "behind"
    assert events.verdict(0.0, float("nan")) == "-"
    assert np.isfinite(behind["f1_best_half_width"])


def test_headroom_is_the_ceiling_over_raw_and_the_default_takes_its_share() -> None:
    (e,) = events.summary(_rows([0.010, 0.012, 0.011, 0.009]))  # ceiling 0.97 over raw 0.9
    assert e["headroom"] == pytest.approx(0.07) and e["headroom_half_width"] == pytest.approx(0.0, abs=1e-12)
    assert e["headroom_share"] == pytest.approx(0.0105 / 0.07)
    md = events.markdown({"summary": [e], "seeds": [0, 1, 2, 3], "pipelines": [], "mode": "full", "n_time": 9000,
                          "created": "now", "elapsed_s": 1.0, "model": "m", "model_sha256": "0" * 64})  # fmt: skip
    assert "| noise 0.2 | +0.0700 ± 0.0000 | +0.0105 | 15 % |" in md
    no_ceiling = [r for r in _rows([0.01, 0.02]) if r["pipeline"] != events.CEILING]
    (e,) = events.summary(no_ceiling)
    assert not np.isfinite(e["headroom_share"])


def test_the_target_set_leaves_out_the_baselines_it_does_not_name() -> None:
    assert all(events.in_target_set(p) for p in ("raw", "gauss-0.5", "svd-4", "svd-16"))
    assert not any(events.in_target_set(p) for p in ("svd-mp", "mppca", "savgol", events.DEFAULT, events.CEILING))
    rows = _rows([0.010, 0.012, 0.011, 0.009])
    rows += [dict(r, pipeline="mppca", f1=r["f1"] + 0.05) for r in rows if r["pipeline"] == "raw"]
    (e,) = events.summary(rows)
    assert e["best_f1"] == "mppca" and e["f1_best_verdict"] == "behind"
    assert e["best_target_f1"] == "svd-8" and e["f1_target_verdict"] == "ahead"
    assert e["f1_target_diff"] == pytest.approx(0.0095, abs=1e-9)


def test_lost_events_sum_the_misses_and_false_detections() -> None:
    rows = [r | {"true": 100, "missed": 3 + (r["pipeline"] == "raw"), "false": r["seed"]} for r in _rows([0.01, 0.02])]
    (lost,) = events.lost_events(rows, events.summary(rows))
    assert lost["true"] == 200
    assert set(lost["pipelines"]) == {events.CEILING, "raw", events.DEFAULT, "svd-8"}
    assert lost["pipelines"]["raw"] == {"missed": 8, "false": 1}
    assert lost["pipelines"][events.DEFAULT] == {"missed": 6, "false": 1}
    md = events.markdown({"summary": events.summary(rows), "lost": [lost], "seeds": [0, 1], "mode": "full",
                          "created": "now", "elapsed_s": 1.0, "model": "m", "model_sha256": "0" * 64,
                          "n_time": 9000, "pipelines": ["raw", events.DEFAULT, "svd-8"]})  # fmt: skip
    assert "| noise 0.2 | 200 | 6 / 1 | 8 / 1 | 6 / 1 | svd-8 6 / 1 |" in md


def test_seeds_below_two_are_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        events.main(["--quick", "--seeds", "1"])
    assert exc.value.code == 2
    assert "--seeds must be at least 2" in capsys.readouterr().err


def test_bm3d_runs_on_the_main_recordings_and_counts_as_a_target_baseline(tmp_path, monkeypatch) -> None:
    """``--bm3d`` adds BM3D on the main recordings only (half a minute each in full, so a smoothing
    stands in for it here); the stress rows' means leave it out, and it is one of the target's
    baselines."""
    from scipy.ndimage import gaussian_filter1d

    import benchmarks.pipelines

    monkeypatch.setattr(benchmarks.pipelines, "bm3d_denoise", lambda x: gaussian_filter1d(x, 0.7, axis=0))
    assert events.main(["--quick", "--bm3d", "--seeds", "2", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "events_quick.json").read_text())
    assert res["bm3d"] and res["pipelines"] == [*events.QUICK_PIPELINES, events.BM3D]
    bm3d_rows = {r["recording"] for r in res["rows"] if r["pipeline"] == events.BM3D}
    assert bm3d_rows == {"noise 0.2"}
    for e in res["summary"]:
        assert (events.BM3D in e["f1"]) == (e["recording"] == "noise 0.2")
    md = (tmp_path / "events_quick.md").read_text()
    assert "BM3D on the main recordings only" in md and "BM3D not run" not in md
    assert events.in_target_set(events.BM3D) and not events.in_target_set("mppca")
    means = md.split("Mean F1 of every pipeline")[1].splitlines()
    row = next(line for line in means if line.startswith("| slow rise") and line.endswith(" - |"))
    assert row.count("|") == len(res["pipelines"]) + 2


def test_warned_split_pairs_each_part_with_raw() -> None:
    rows = []
    for seed, (d, warned) in enumerate([(-0.02, True), (-0.03, True), (-0.025, True), (0.01, False), (-0.01, False)]):
        rows += [
            {"seed": seed, "recording": "small", "pipeline": "raw", "f1": 0.7, "warned": False},
            {"seed": seed, "recording": "small", "pipeline": events.DEFAULT, "f1": 0.7 + d, "warned": warned},
        ]
    # a condition warned on every recording (or on none) has nothing to split
    rows += [dict(r, recording="all warned", warned=r["pipeline"] == events.DEFAULT) for r in rows]
    (e,) = events.warned_split(rows)
    assert e["recording"] == "small"
    assert e["warned"]["n"] == 3 and e["warned"]["f1_diff"] == pytest.approx(-0.025)
    assert e["warned"]["f1_verdict"] == "behind"
    assert e["unwarned"]["n"] == 2 and e["unwarned"]["f1_diff"] == pytest.approx(0.0, abs=1e-12)
    assert e["unwarned"]["f1_verdict"] == "level"


def test_render_rewrites_the_tables_from_the_rows_alone(tmp_path) -> None:
    assert events.main(["--quick", "--out", str(tmp_path)]) == 0
    quick = json.loads((tmp_path / "events_quick.json").read_text())
    stale = quick | {"summary": [], "lost": [], "warned_split": []}
    (tmp_path / "events.json").write_text(json.dumps(stale))
    assert events.main(["--render", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "events.json").read_text())
    assert res["rows"] == quick["rows"] and res["created"] == quick["created"]
    assert res["summary"] == quick["summary"] and res["lost"] == quick["lost"]
    assert (tmp_path / "events.md").read_text() == (tmp_path / "events_quick.md").read_text()


def _run(seeds: list[int], **given) -> dict:
    diffs = [0.01 + 0.002 * ((s * 7) % 5) for s in seeds]  # the same per seed in every run
    rows = [
        r | {"seed": seeds[r["seed"]], "true": 100, "missed": 3 + seeds[r["seed"]] % 4, "false": 1}
        for r in _rows(diffs)
    ]
    rows = [r | {"warned": r["pipeline"] == events.DEFAULT and r["seed"] == 0} for r in rows]
    res = {"benchmark": "events", "mode": "full", "n_time": 9000, "pipelines": ["raw", events.DEFAULT, "svd-8"],
           "bm3d": False, "model": "m", "model_sha256": "0" * 64, "created": f"day {seeds[0]}",
           "seeds": seeds, "rows": rows, "elapsed_s": 10.0}  # fmt: skip
    return res | events.tables(rows) | given


def test_merge_joins_runs_on_other_seeds_into_the_tables_of_one(tmp_path) -> None:
    paths = []
    for first in (0, 3):
        paths.append(tmp_path / f"part{first}.json")
        paths[-1].write_text(json.dumps(_run([first, first + 1, first + 2])))
    out = tmp_path / "joined"
    assert events.main(["--merge", *map(str, paths[::-1]), "--out", str(out)]) == 0
    res = json.loads((out / "events.json").read_text())
    one = _run([0, 1, 2, 3, 4, 5])
    assert res["seeds"] == list(range(6)) and res["summary"] == one["summary"] and res["lost"] == one["lost"]
    assert [r["seed"] for r in res["rows"]] == sorted(r["seed"] for r in one["rows"])
    assert [q["seeds"] for q in res["parts"]] == [[0, 1, 2], [3, 4, 5]] and res["elapsed_s"] == 20.0
    assert res["summary"][0]["n"] == 6
    md = (out / "events.md").read_text()
    assert "in 2 parts side by side" in md and "seeds 0-2 on day 0 in 10 s; seeds 3-5 on day 3" in md
    assert "(seeds 0-5)" in md


@pytest.mark.parametrize(
    ("second", "said"),
    [(_run([2, 3, 4]), "the runs share seeds: 2"), (_run([3, 4, 5], model_sha256="1" * 64), "differs from")],
)
def test_merge_refuses_runs_that_do_not_fit_together(tmp_path, capsys, second, said) -> None:
    first = tmp_path / "a.json"
    first.write_text(json.dumps(_run([0, 1, 2])))
    (tmp_path / "b.json").write_text(json.dumps(second))
    with pytest.raises(SystemExit) as exc:
        events.main(["--merge", str(first), str(tmp_path / "b.json"), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert said in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_merge_takes_no_options_of_a_run(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        events.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--seeds", "4"])
    assert exc.value.code == 2 and "--merge runs nothing" in capsys.readouterr().err


def test_first_seed_runs_the_seeds_from_it(tmp_path, monkeypatch) -> None:
    asked: list[int] = []
    monkeypatch.setattr(events, "recordings", lambda seed, n_time, quick, main_only: asked.append(seed) or [])
    monkeypatch.setattr(events, "tables", lambda rows: {})
    monkeypatch.setattr(events, "markdown", lambda res: "")
    res = events.run(quick=True, out_dir=tmp_path, seeds=3, first_seed=24)
    assert asked == [24, 25, 26] and res["seeds"] == [24, 25, 26]


def test_main_only_runs_the_main_recordings_with_the_targets_baselines(tmp_path, monkeypatch, capsys) -> None:
    """``--main-only``: many seeds of the main recordings, with the default and the baselines the
    target names, written as ``events_main`` (and merged as such)."""
    assert {r.name for r in events.recordings(0, 300, False, main_only=True)} == {"noise 0.2", "noise 0.4", "noise 0.8"}
    assert set(events.MAIN_PIPELINES) == {"raw", events.DEFAULT, "gauss-0.5", "gauss-0.6", "gauss-1.0", "svd-4",
                                          "svd-8", "svd-16"}  # fmt: skip
    monkeypatch.setattr(events, "N_TIME", 300)
    out = tmp_path / "part7"
    assert events.main(["--main-only", "--seeds", "2", "--first-seed", "7", "--threads", "1", "--out", str(out)]) == 0
    res = json.loads((out / "events_main.json").read_text())
    assert res["mode"] == "main" and res["pipelines"] == list(events.MAIN_PIPELINES) and res["seeds"] == [7, 8]
    assert {r["recording"] for r in res["rows"]} == {"noise 0.2", "noise 0.4", "noise 0.8"}
    assert len(res["rows"]) == 2 * 3 * (len(events.MAIN_PIPELINES) + 1)
    md = (out / "events_main.md").read_text()
    assert md.startswith("# Event detection over many main recordings") and "events --main-only`" in md
    assert "the main recordings alone, 300 x 152" in md and "stress" not in md
    assert events.main(["--render", "--main-only", "--out", str(out)]) == 0  # its own files, rewritten alike
    assert (out / "events_main.md").read_text() == md and not (out / "events.md").exists()
    # a second part on other seeds (the same rows, renamed) merges into events_main
    other = res | {"seeds": [9, 10], "rows": [r | {"seed": r["seed"] + 2} for r in res["rows"]]}
    (tmp_path / "part9.json").write_text(json.dumps(other))
    assert events.main(["--merge", str(out / "events_main.json"), str(tmp_path / "part9.json"),
                        "--out", str(tmp_path / "joined")]) == 0  # fmt: skip
    joined = json.loads((tmp_path / "joined" / "events_main.json").read_text())
    assert joined["seeds"] == [7, 8, 9, 10] and joined["summary"][0]["n"] == 4
    assert not (tmp_path / "joined" / "events.json").exists()
    with pytest.raises(SystemExit) as exc:
        events.main(["--quick", "--main-only"])
    assert exc.value.code == 2 and "two different runs" in capsys.readouterr().err


def test_against_each_pairs_the_default_with_every_target_baseline() -> None:
    rows = _rows([0.010, 0.012, 0.011, 0.009])
    rows += [dict(r, pipeline="bm3d", f1=r["f1"] - 0.02) for r in rows if r["pipeline"] == "raw" and r["seed"] < 2]
    rows += [dict(r, pipeline="mppca") for r in rows if r["pipeline"] == "raw"]  # beyond the target: left out
    (e,) = events.against_each(rows)
    assert set(e["pipelines"]) == {"raw", "svd-8", "bm3d"}
    assert e["pipelines"]["raw"]["n"] == 4 and e["pipelines"]["raw"]["f1_diff"] == pytest.approx(0.0105)
    assert e["pipelines"]["bm3d"]["n"] == 2 and e["pipelines"]["bm3d"]["f1_diff"] == pytest.approx(0.031)
    md = events.markdown({"summary": events.summary(rows), "against_each": [e], "seeds": [0, 1, 2, 3],
                          "mode": "full", "created": "now", "elapsed_s": 1.0, "model": "m", "model_sha256": "0" * 64,
                          "n_time": 9000, "pipelines": ["raw", events.DEFAULT, "svd-8"]})  # fmt: skip
    assert "| noise 0.2 | 4 | +0.0105 ± " in md and "+0.0310 ± " in md and "(n 2)" in md
