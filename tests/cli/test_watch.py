"""fluorodn watch as a process: a recording written slowly by another process, a corrupt file
among good ones, and Ctrl-C while idle and while a file is being written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from tests.support import interruptible

pytest.importorskip("watchdog")

REPO = Path(__file__).resolve().parents[2]

#: A writer process: an .npy recording written a few rows at a time, with pauses shorter
#: than the watch's --settle, as an acquisition program appends samples.
WRITER = """
import sys, time
import numpy as np
path, rows, cols, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
data = np.load(sys.argv[5])
with open(path, "wb") as fh:
    np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (rows, cols)})
    fh.flush()
    for start in range(0, rows, 20):
        fh.write(data[start:start + 20].astype("<f4").tobytes())
        fh.flush()
        time.sleep(pause)
"""

#: fluorodn's CLI with Denoiser.stream slowed down (seconds per page), to interrupt it mid-file.
SLOW_CLI = """
import sys, time
from fluorodn import Denoiser
from fluorodn.cli import main
real, pause = Denoiser.stream, float(sys.argv[1])
def stream(self, pages, **kw):
    for page in real(self, pages, **kw):
        time.sleep(pause)
        yield page
Denoiser.stream = stream
sys.argv = ["fluorodn", *sys.argv[2:]]
main()
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def start_watch(model: Path, folder: Path, out: Path, *args: Any, slow: float | None = None) -> subprocess.Popen[str]:
    argv = ["watch", str(folder), "-o", str(out), "--model", str(model), "--threads", "1", *map(str, args)]
    cmd = [sys.executable, "-c", SLOW_CLI, str(slow), *argv] if slow else [sys.executable, "-m", "fluorodn", *argv]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.Popen(cmd, text=True, env=env(), **pipes, **interruptible())


def wait_for(condition: Callable[[], bool], timeout: float = 120.0, proc: subprocess.Popen[str] | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"fluorodn watch ended early: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError("timed out")


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def leftovers(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if p.name.endswith(".tmp")]


def _watching_one_file(tiny_model: Path, tmp_path: Path, seed: int) -> tuple[Path, Path, Path, Any, Any]:
    """(incoming, out, log, rng, process): a watch of ``incoming`` (logging to ``log``) started on
    one frame ``a.npy`` of noise drawn from ``rng``."""
    incoming, out, log = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "watch.jsonl"
    incoming.mkdir()
    rng = np.random.default_rng(seed)
    np.save(incoming / "a.npy", rng.normal(100.0, 5.0, (64, 64)).astype(np.float32))
    return incoming, out, log, rng, start_watch(tiny_model, incoming, out, "--settle", 0.3, "--report", log)


def test_a_file_replaced_after_it_was_denoised_is_told_whatever_its_time_and_counts_once(
    tiny_model: Path, tmp_path: Path
) -> None:
    """A recording replaced under its name after this watch denoised it, by a copy that keeps an
    older modification time (cp -p, rsync -t): told as changed, its output kept, and counted so in
    the summary, not as denoised. A file that failed (written in pauses longer than --settle) and was
    denoised once complete counts as denoised only."""
    incoming, out, log, rng, proc = _watching_one_file(tiny_model, tmp_path, seed=2)
    try:
        wait_for(lambda: log.exists() and log.read_text().count("\n") == 1, timeout=60, proc=proc)
        denoised = (out / "a_denoised.npy").read_bytes()
        np.save(tmp_path / "next.npy", rng.normal(100.0, 5.0, (80, 64)).astype(np.float32))
        old = (out / "a_denoised.npy").stat().st_mtime_ns - 10**11  # made 100 s before the output
        os.utime(tmp_path / "next.npy", ns=(old, old))
        os.replace(tmp_path / "next.npy", incoming / "a.npy")
        wait_for(lambda: log.read_text().count('"changed"') == 1, timeout=30, proc=proc)
        (incoming / "b.npy").write_bytes(b"\x93NUMPY garbage")  # a writer that paused: fails first
        wait_for(lambda: log.read_text().count('"failed"') == 1, timeout=30, proc=proc)
        np.save(tmp_path / "b.npy", rng.normal(100.0, 5.0, (64, 64)).astype(np.float32))
        os.replace(tmp_path / "b.npy", incoming / "b.npy")
        wait_for(lambda: (out / "b_denoised.npy").is_file() and log.read_text().count("\n") == 4, proc=proc)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    assert (out / "a_denoised.npy").read_bytes() == denoised
    statuses = [json.loads(line)["status"] for line in log.read_text().splitlines()]
    assert statuses == ["denoised", "changed", "failed", "denoised"], statuses
    # each file counted once, by its last outcome: the replaced one as written to after its output
    last = "fluorodn: stopped; 1 denoised, 0 failed, 1 written to after their output (the output kept)"
    assert stderr.strip().splitlines()[-1] == last


def test_files_whose_output_exists_are_passed_over_and_counted(tiny_model: Path, tmp_path: Path) -> None:
    """A restarted watch passes over the files whose output is there, leaves those outputs as they
    are, and its summary counts them beside the files it denoised."""
    incoming, out = tmp_path / "incoming", tmp_path / "denoised"
    incoming.mkdir()
    out.mkdir()
    rng = np.random.default_rng(4)
    for name in ("done1", "done2", "new"):
        np.save(incoming / f"{name}.npy", rng.normal(100.0, 5.0, (64, 64)).astype(np.float32))
    for name in ("done1", "done2"):
        (out / f"{name}_denoised.npy").write_bytes(b"an earlier run's output")
    proc = start_watch(tiny_model, incoming, out, "--settle", 0.3)
    try:
        wait_for(lambda: (out / "new_denoised.npy").is_file(), proc=proc)
        time.sleep(1.0)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    assert all((out / f"{n}_denoised.npy").read_bytes() == b"an earlier run's output" for n in ("done1", "done2"))
    assert stderr.strip().splitlines()[-1] == "fluorodn: stopped; 1 denoised, 0 failed, 2 skipped (output exists)"


def test_slow_writer_corrupt_file_and_ctrl_c(tiny_model: Path, denoiser: Any, tmp_path: Path, helpers: Any) -> None:
    incoming, out = tmp_path / "incoming", tmp_path / "denoised"
    incoming.mkdir()
    early = helpers.spectra(40, 30)
    tifffile.imwrite(incoming / "early.tif", early)  # there before the watch starts
    # the writer pauses 0.1 s between writes, 30x shorter than --settle: holds on a loaded machine too
    proc = start_watch(tiny_model, incoming, out, "--settle", 3.0, "--report", tmp_path / "report.jsonl")
    try:
        wait_for(lambda: (out / "early_denoised.tif").is_file(), proc=proc)
        # a recording written slowly by another process: 200 rows, 20 at a time, 0.1 s apart
        data = helpers.spectra(200, 30).astype(np.float32)
        np.save(tmp_path / "source.npy", data)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(incoming / "slow.npy"), "200", "30", "0.1",
                                   str(tmp_path / "source.npy")])  # fmt: skip
        (incoming / "broken.npy").write_bytes(b"\x93NUMPY garbage")  # a corrupt file among good ones
        tifffile.imwrite(incoming / "late.tif", helpers.spectra(40, 30, seed=3))
        (incoming / "notes.txt").write_text("not a recording")
        assert writer.wait(timeout=60) == 0
        wait_for(lambda: (out / "slow_denoised.npy").is_file() and (out / "late_denoised.tif").is_file(), proc=proc)
        report = tmp_path / "report.jsonl"
        # a file's record is the last thing the watch does with it: stopped after all three, it is idle
        done = ("broken.npy", "slow.npy", "late.tif")
        wait_for(lambda: report.is_file() and all(f'{name}"' in report.read_text() for name in done), proc=proc)
        code, stdout, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    np.testing.assert_allclose(np.load(out / "slow_denoised.npy"), denoiser.run(data), rtol=1e-5)
    np.testing.assert_allclose(tifffile.imread(out / "early_denoised.tif"), denoiser.run(early), rtol=1e-6)
    assert sorted(p.name for p in out.iterdir()) == ["early_denoised.tif", "late_denoised.tif", "slow_denoised.npy"]
    errors = [ln for ln in stderr.splitlines() if ln.startswith("fluorodn: error:")]
    assert len(errors) == 1 and "broken.npy" in errors[0], stderr
    assert "Traceback" not in stderr and "still being written" not in stderr
    assert stderr.strip().splitlines()[-1] == "fluorodn: stopped; 3 denoised, 1 failed"
    assert f"{incoming / 'slow.npy'} -> {out / 'slow_denoised.npy'}" in stdout
    records = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    outcomes = sorted((Path(r["input"]).name, r["status"]) for r in records)
    assert outcomes == [("broken.npy", "failed"), ("early.tif", "denoised"), ("late.tif", "denoised"),
                        ("slow.npy", "denoised")]  # fmt: skip
    assert not leftovers(incoming, out)


def test_ctrl_c_while_writing_removes_the_partial_output(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    incoming, out = tmp_path / "incoming", tmp_path / "denoised"
    incoming.mkdir()
    tifffile.imwrite(incoming / "long.tif", np.stack([helpers.spectra(20, 20, seed=s) for s in range(40)]))
    proc = start_watch(tiny_model, incoming, out, "--settle", 0.3, slow=0.2)
    try:
        wait_for(lambda: out.is_dir() and bool(leftovers(out)), proc=proc)  # the output is being written
        time.sleep(0.5)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, stderr
    cut = f"fluorodn: stopped; {incoming / 'long.tif'} was not denoised (its partial output removed); 0 denoised"
    assert cut in stderr and "Traceback" not in stderr, stderr
    assert list(out.iterdir()) == [] and not leftovers(incoming)


def test_already_denoised_files_are_skipped_and_a_killed_run_is_cleaned(tiny_model: Path, tmp_path: Path,
                                                                        helpers: Any) -> None:  # fmt: skip
    from fluorodn.io import temp_name

    incoming, out = tmp_path / "incoming", tmp_path / "denoised"
    incoming.mkdir()
    out.mkdir()
    tifffile.imwrite(incoming / "a.tif", helpers.spectra(30, 20))
    (out / "a_denoised.tif").write_bytes(b"done before")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = temp_name(out / "b_denoised.tif")
    stale = stale.with_name(stale.name.replace(f"-{os.getpid()}-", f"-{int(dead.stdout)}-"))
    stale.write_bytes(b"left by kill -9")
    proc = start_watch(tiny_model, incoming, out, "--settle", 0.3)
    try:
        wait_for(lambda: not stale.exists(), proc=proc)
        time.sleep(1.5)
        code, stdout, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    assert (out / "a_denoised.tif").read_bytes() == b"done before" and stdout == ""
    assert "removed 1 temporary file" in stderr


def test_watch_notes_the_options_a_file_s_path_does_not_read(tmp_path: Path) -> None:
    """The default model hands a frame to the image path: watch prints one note naming the spectral
    option that path does not read, and its log lists it as ``unread_options``."""
    incoming, out, log = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "watch.jsonl"
    incoming.mkdir()
    np.save(incoming / "frame.npy", np.random.default_rng(1).normal(100.0, 5.0, (96, 96)).astype(np.float32))
    proc = start_watch("default", incoming, out, "--strength", 0.5, "--settle", 0.3, "--report", log)
    try:
        wait_for(lambda: log.exists() and log.read_text().endswith("\n"), proc=proc)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    notes = [ln for ln in stderr.splitlines() if ln.startswith("fluorodn: note:")]
    assert notes == [
        f"fluorodn: note: {incoming / 'frame.npy'}: its pages are frames, which the image path denoises without "
        "--strength"
    ]
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["status"] == "denoised" and record["unread_options"] == ["--strength"]
    assert (out / "frame_denoised.npy").exists()


def test_one_spectrum_exports_are_not_taken_one_by_one(tiny_model: Path, tmp_path: Path) -> None:
    """A folder receiving one-spectrum OceanView exports (each one sample of a recording) gets one
    note, no failure per file; a recording beside them is denoised."""
    from tests.formats.conftest import HEADER

    incoming, out, log = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "watch.jsonl"
    incoming.mkdir()
    wl = np.linspace(477.0, 595.0, 8)
    for k in range(3):
        rows = "".join(f"{w:.2f}\t{1000.0 + k + i:.2f}\n" for i, w in enumerate(wl))
        name = f"rec_FLMS12345_10-00-0{k}-000__{k}__.txt"
        (incoming / name).write_text(HEADER.format(name="rec", pixels=8) + rows, encoding="utf-8")
    np.save(incoming / "frame.npy", np.random.default_rng(1).normal(100.0, 5.0, (64, 64)).astype(np.float32))
    proc = start_watch(str(tiny_model), incoming, out, "--settle", 0.3, "--report", log)
    try:
        wait_for(lambda: log.exists() and log.read_text().endswith("\n"), proc=proc)
        time.sleep(1.0)  # time for any record of the exports
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    assert "error" not in stderr, stderr
    told = [ln for ln in stderr.splitlines() if "one-spectrum OceanView exports" in ln]
    assert len(told) == 1 and "give it to fluorodn denoise" in told[0], stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(Path(r["input"]).name, r["status"]) for r in records] == [("frame.npy", "denoised")]


def test_a_file_whose_output_name_is_too_long_fails_alone(tiny_model: Path, tmp_path: Path) -> None:
    """An input whose output name would be longer than the file system takes fails with one line
    and a record; the watch goes on and denoises the file beside it."""
    incoming, out, log = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "watch.jsonl"
    incoming.mkdir()
    frame = np.random.default_rng(1).normal(100.0, 5.0, (64, 64)).astype(np.float32)
    np.save(incoming / ("r" * 246 + ".npy"), frame)  # 250 bytes; with _denoised, 259
    np.save(incoming / "frame.npy", frame)
    proc = start_watch(str(tiny_model), incoming, out, "--settle", 0.3, "--report", log)
    try:
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2, proc=proc)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0 and "Traceback" not in stderr, stderr
    records = {Path(r["input"]).name[:5]: r for r in map(json.loads, log.read_text().splitlines())}
    assert records["frame"]["status"] == "denoised" and records["rrrrr"]["status"] == "failed"
    assert "bytes" in records["rrrrr"]["error"]


def test_a_file_deleted_before_it_is_complete_is_told_and_logged(tiny_model: Path, tmp_path: Path,
                                                                 helpers: Any) -> None:  # fmt: skip
    """A recording deleted while the acquisition program still writes it gets a warning line and a
    ``deleted`` record in the log, and no output."""
    incoming, out, log = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "watch.jsonl"
    incoming.mkdir()
    tifffile.imwrite(incoming / "first.tif", helpers.spectra(30, 20))
    proc = start_watch(tiny_model, incoming, out, "--settle", 4, "--report", log)
    try:
        wait_for(lambda: (out / "first_denoised.tif").is_file(), proc=proc)  # the watch is up
        (incoming / "aborted.npy").write_bytes(b"\x93NUMPY partial")
        time.sleep(1.0)  # seen, and 3 s short of complete
        (incoming / "aborted.npy").unlink()
        wait_for(lambda: "aborted.npy" in log.read_text(), proc=proc)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    assert f"fluorodn: warning: {incoming / 'aborted.npy'} was deleted before it was complete" in stderr
    records = {Path(r["input"]).name: r for r in map(json.loads, log.read_text().splitlines())}
    assert records["aborted.npy"]["status"] == "deleted" and records["first.tif"]["status"] == "denoised"
    assert sorted(p.name for p in out.iterdir()) == ["first_denoised.tif"]


def test_watch_refusals(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fluorodn.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["watch", str(tmp_path), "--pattern", "sub/*.tif"])
    assert result.exit_code == 1 and "file names, not paths" in result.stderr
    result = runner.invoke(app, ["watch", str(tmp_path), "--settle", "0"])
    assert result.exit_code == 1 and "--settle" in result.stderr
    result = runner.invoke(app, ["watch", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "does not exist" in result.stderr


def test_watch_refuses_a_setting_that_would_never_denoise(tmp_path: Path) -> None:
    """--settle that is not finite, and --suffix '' where outputs would go beside their inputs: refused
    at the start in one sentence."""
    from typer.testing import CliRunner

    from fluorodn.cli import app
    from tests.support import assert_user_error

    runner = CliRunner()
    missing = ["--model", str(tmp_path / "missing.onnx")]  # a watch that is not refused stops there, not runs on
    for value in ("nan", "inf"):
        result = runner.invoke(app, ["watch", str(tmp_path), "--settle", value, *missing])
        assert_user_error(result, f"--settle {value} must be a finite number of seconds above 0")
    for where in ([], ["-o", str(tmp_path)]):
        result = runner.invoke(app, ["watch", str(tmp_path), "--suffix", "", *where, *missing])
        assert_user_error(result, "--suffix '' would give each output the name of its input", "give a suffix")


def test_watch_refuses_a_report_that_is_an_input_or_cannot_be_written(tmp_path: Path, helpers: Any) -> None:
    """A --report that is a recording (by name or content, a link to one too), named like one, a
    folder, a file that is not a log, or one that cannot be written: refused at the start, nothing
    written anywhere."""
    from typer.testing import CliRunner

    from fluorodn.cli import app
    from tests.support import assert_user_error

    incoming, out = tmp_path / "incoming", tmp_path / "denoised"
    incoming.mkdir()
    tifffile.imwrite(incoming / "rec.tif", helpers.spectra(20, 20))
    (incoming / "link.jsonl").symlink_to("rec.tif")
    (tmp_path / "notes.txt").write_text("my notes\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    cases = [
        (incoming / "rec.tif", "is a recording, which the log would be appended to"),
        (incoming / "link.jsonl", "is not a log of JSON lines"),
        (incoming / "next.tif", "is named like a recording (.tif), which watch may take or write"),
        (out / "rec_denoised.txt", "is named like a recording (.txt)"),
        (incoming, "is a folder"),
        (tmp_path / "notes.txt", "is not a log of JSON lines"),
        (tmp_path / "no" / "such" / "log.jsonl", "cannot write the report"),
    ]
    runner = CliRunner()
    missing = ["--model", str(tmp_path / "missing.onnx")]  # a watch that is not refused stops there, not runs on
    for report, fragment in cases:
        result = runner.invoke(app, ["watch", str(incoming), "-o", str(out), "--report", str(report), *missing])
        assert_user_error(result, f"{report}", fragment)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert not out.exists()  # the -o folder, made before the report was judged, is gone again


def test_a_refused_watch_leaves_no_output_folder_behind(tmp_path: Path) -> None:
    """Options refused after -o was made (an image path given the spectral path's strength, a model that
    does not exist): the folders -o created, parents included, are removed again; a folder that existed
    stays."""
    from typer.testing import CliRunner

    from fluorodn.cli import app
    from tests.support import assert_user_error

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    runner = CliRunner()
    for refused in (["--kind", "image", "--strength", "0.3"], ["--model", str(tmp_path / "missing.onnx")]):
        out = tmp_path / "new" / "deeper" / "out"
        result = runner.invoke(app, ["watch", str(incoming), "-o", str(out), *refused])
        assert result.exit_code == 1, result.stderr
        assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    result = runner.invoke(app, ["watch", str(incoming), "-o", str(kept), "--model", str(tmp_path / "missing.onnx")])
    assert_user_error(result, "missing.onnx")
    assert kept.is_dir()


def test_outputs_in_the_watched_folder_and_outputs_of_the_inputs_name(tiny_model: Path, tmp_path: Path,
                                                                     helpers: Any) -> None:  # fmt: skip
    """-o the watched folder itself: outputs beside their inputs, told by their suffix; --suffix ''
    with -o another folder: each output under its input's name there. A log in the watched folder
    is not taken for a recording."""
    incoming, out = tmp_path / "incoming", tmp_path / "denoised"
    incoming.mkdir()
    tifffile.imwrite(incoming / "a.tif", helpers.spectra(30, 20))
    log = incoming / "log.txt"
    proc = start_watch(tiny_model, incoming, incoming, "--settle", 0.3, "--report", log)
    try:
        wait_for(lambda: (incoming / "a_denoised.tif").is_file() and log.exists(), timeout=60, proc=proc)
        time.sleep(1.0)  # time for the output, or the log, to be taken (they are not)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0 and "error" not in stderr, stderr
    assert [json.loads(line)["status"] for line in log.read_text().splitlines()] == ["denoised"]
    proc = start_watch(tiny_model, incoming, out, "--settle", 0.3, "--suffix", "", "--pattern", "a.tif")
    try:
        wait_for(lambda: (out / "a.tif").is_file(), timeout=60, proc=proc)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.tif"]


def test_a_recursive_watch_removes_what_a_killed_run_left_in_the_subfolders(tiny_model: Path,
                                                                            tmp_path: Path) -> None:  # fmt: skip
    from fluorodn.io import temp_name

    incoming, out = tmp_path / "incoming", tmp_path / "denoised"
    (incoming / "mouse1").mkdir(parents=True)
    (out / "mouse1" / "day2").mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = []
    for folder in (out, out / "mouse1", out / "mouse1" / "day2"):
        name = temp_name(folder / "big_denoised.tif")
        stale.append(name.with_name(name.name.replace(f"-{os.getpid()}-", f"-{int(dead.stdout)}-")))
        stale[-1].write_bytes(b"left by kill -9")
    np.save(incoming / "mouse1" / "frame.npy", np.random.default_rng(1).normal(100.0, 5.0, (64, 64)).astype(np.float32))
    proc = start_watch(tiny_model, incoming, out, "--settle", 0.3, "--recursive")
    try:  # a file denoised says the watch runs (a stop before that is an interrupted start)
        done = out / "mouse1" / "frame_denoised.npy"
        wait_for(lambda: done.exists() and not any(p.exists() for p in stale), timeout=60, proc=proc)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    assert "removed 3 temporary files" in stderr


def test_a_watched_folder_deleted_is_told_and_watched_again_when_back(tiny_model: Path, tmp_path: Path,
                                                                      helpers: Any) -> None:  # fmt: skip
    import shutil

    incoming, out = tmp_path / "incoming", tmp_path / "denoised"
    incoming.mkdir()
    tifffile.imwrite(incoming / "first.tif", helpers.spectra(30, 20))
    proc = start_watch(tiny_model, incoming, out, "--settle", 0.3)
    try:
        wait_for(lambda: (out / "first_denoised.tif").is_file(), proc=proc)  # the watch is up
        shutil.rmtree(incoming)
        time.sleep(2.5)  # looked at twice while it is gone
        incoming.mkdir()
        tifffile.imwrite(incoming / "second.tif", helpers.spectra(30, 20, seed=2))
        wait_for(lambda: (out / "second_denoised.tif").is_file(), timeout=60, proc=proc)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert lines.count(f"fluorodn: warning: the watched folder {incoming} is gone (deleted, renamed or unmounted); "
                       "watch waits for it to be back (Ctrl-C stops)") == 1, stderr  # fmt: skip
    assert lines.count(f"fluorodn: {incoming} is back; watching it again") == 1, stderr


@pytest.mark.parametrize("through_link", ["folder", "output"])
def test_outputs_inside_the_watched_folder_are_not_taken_when_a_link_names_either(
    tiny_model: Path, tmp_path: Path, through_link: str
) -> None:
    """--recursive --suffix '' with -o a folder inside the watched one, the watched folder or -o given
    through a link to it: each input is denoised once, and its output is not taken as an input."""
    real, link, log = tmp_path / "real", tmp_path / "link", tmp_path / "watch.jsonl"
    real.mkdir()
    link.symlink_to(real, target_is_directory=True)
    np.save(real / "a.npy", np.random.default_rng(1).normal(100.0, 5.0, (64, 64)).astype(np.float32))
    folder, out = (link, real / "out") if through_link == "folder" else (real, link / "out")
    proc = start_watch(tiny_model, folder, out, "--settle", 0.3, "--recursive", "--suffix", "", "--report", log)
    try:
        wait_for(lambda: log.exists() and log.read_text().endswith("\n"), timeout=60, proc=proc)
        time.sleep(2.0)  # time for the output to be taken as an input (it is not)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    assert sorted(p.relative_to(real).as_posix() for p in real.rglob("*")) == ["a.npy", "out", "out/a.npy"]
    assert [json.loads(line)["status"] for line in log.read_text().splitlines()] == ["denoised"]


def test_a_file_written_after_its_output_is_told_at_each_writing_and_at_a_restart(
    tiny_model: Path, tmp_path: Path
) -> None:
    """A file written again after it was denoised (a recording of the same name): its output is
    kept, and each writing gets one warning line, naming what to do, and one ``changed`` record; a
    restarted watch tells it again (the output is still older than its input). An input copied a
    moment after its output (a folder copied) is not taken for one written again."""
    incoming, out, log, rng, proc = _watching_one_file(tiny_model, tmp_path, seed=1)
    try:
        wait_for(lambda: log.exists() and log.read_text().endswith("\n"), timeout=60, proc=proc)
        denoised = (out / "a_denoised.npy").read_bytes()
        written = (out / "a_denoised.npy").stat().st_mtime_ns
        for count in (1, 2):
            np.save(incoming / "a.npy", rng.normal(100.0, 5.0, (64, 64)).astype(np.float32))
            later = written + count * 10**10  # 10 s and 20 s after its output, as a recording made again
            os.utime(incoming / "a.npy", ns=(later, later))
            wait_for(lambda count=count: log.read_text().count('"changed"') == count, timeout=30, proc=proc)
        time.sleep(1.0)  # time for a third telling, which must not come: nothing was written again
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    src = incoming / "a.npy"
    warning = (f"fluorodn: warning: {src} was written after its output {out / 'a_denoised.npy'}, which was kept "
               "(it may be of an earlier recording of that name); to denoise this one, move that output away and "
               f"restart the watch, or run fluorodn denoise {src} --overwrite")  # fmt: skip
    assert stderr.splitlines().count(warning) == 2, stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["status"] for r in records] == ["denoised", "changed", "changed"]
    assert records[1]["input"] == str(incoming / "a.npy") and records[1]["output"] == str(out / "a_denoised.npy")
    assert records[1]["reason"].startswith("was written after its output") and "error" not in records[1]
    assert (out / "a_denoised.npy").read_bytes() == denoised
    again = start_watch(tiny_model, incoming, out, "--settle", 0.3, "--report", log)
    try:
        wait_for(lambda: log.read_text().count('"changed"') == 3, timeout=30, proc=again)
        code, _, stderr = stop(again)
    finally:
        if again.poll() is None:
            again.kill()
    assert code == 0 and stderr.splitlines().count(warning) == 1, stderr
    moment = (out / "a_denoised.npy").stat().st_mtime_ns + 10**9  # 1 s after its output
    os.utime(incoming / "a.npy", ns=(moment, moment))
    third = start_watch(tiny_model, incoming, out, "--settle", 0.3, "--report", log)
    try:
        time.sleep(3.0)  # the files at the start taken
        code, _, stderr = stop(third)
    finally:
        if third.poll() is None:
            third.kill()
    assert code == 0 and "was written after its output" not in stderr, stderr


def test_an_output_another_process_wrote_meanwhile_is_skipped(tiny_model: Path, tmp_path: Path,
                                                              helpers: Any) -> None:  # fmt: skip
    """An output another process (a second watch of the folder) publishes while watch denoises its
    input is kept, and the file is skipped: a warning that says so (not an --overwrite watch lacks),
    a ``skipped`` record, no failure."""
    incoming, out, log = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "watch.jsonl"
    incoming.mkdir()
    tifffile.imwrite(incoming / "long.tif", np.stack([helpers.spectra(20, 20, seed=s) for s in range(10)]))
    proc = start_watch(tiny_model, incoming, out, "--settle", 0.3, "--report", log, slow=0.2)
    try:
        wait_for(lambda: out.is_dir() and bool(leftovers(out)), proc=proc)  # the output is being written
        (out / "long_denoised.tif").write_bytes(b"written by another watch")
        wait_for(lambda: log.exists() and log.read_text().endswith("\n"), timeout=60, proc=proc)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, stderr
    assert "--overwrite" not in stderr and "error" not in stderr, stderr
    told = [ln for ln in stderr.splitlines() if ln.startswith("fluorodn: warning:")]
    warning = (f"fluorodn: warning: {incoming / 'long.tif'} was skipped: another process wrote its output "
               f"{out / 'long_denoised.tif'} while it was denoised (another watch of {incoming}?)")  # fmt: skip
    assert told == [warning], stderr
    assert stderr.strip().splitlines()[-1] == "fluorodn: stopped; 0 denoised, 0 failed"
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["status"] == "skipped" and "another process wrote its output" in record["reason"]
    assert (out / "long_denoised.tif").read_bytes() == b"written by another watch" and not leftovers(out)


def test_watch_refuses_an_output_folder_it_cannot_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An -o folder no file can be made in: refused at the start in one sentence, not each file failing."""
    import errno
    import tempfile

    from typer.testing import CliRunner

    from fluorodn.cli import app
    from tests.support import assert_user_error

    incoming, out = tmp_path / "incoming", tmp_path / "denoised"
    incoming.mkdir()
    out.mkdir()
    out.chmod(0o555)
    if os.access(out, os.W_OK):  # (a superuser writes into a read-only folder: the refusal is what is tested)
        real = tempfile.TemporaryFile

        def read_only(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("dir") is not None and Path(kwargs["dir"]) == out:
                raise PermissionError(errno.EACCES, "Permission denied")
            return real(*args, **kwargs)

        monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    missing = ["--model", str(tmp_path / "missing.onnx")]  # a watch that is not refused stops there, not runs on
    try:
        result = CliRunner().invoke(app, ["watch", str(incoming), "-o", str(out), *missing])
    finally:
        out.chmod(0o755)
    assert_user_error(result, f"cannot write into -o {out} (Permission denied)", "give -o a folder that can be written")


#: fluorodn's CLI given Ctrl-C while it starts: as the module of a command is imported, or as the
#: command line is parsed (before the command runs).
INTERRUPTED_START = """
import os, signal, sys
where = sys.argv[1]
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if where == "import" and name == "fluorodn.cli.watch":
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
import typer.main
real = typer.main.get_command
def get_command(app):
    if where == "parse":
        os.kill(os.getpid(), signal.SIGINT)
    return real(app)
typer.main.get_command = get_command
sys.argv = ["fluorodn", "watch", sys.argv[2]]
from fluorodn.cli import main
main()
"""


@pytest.mark.parametrize("where", ["import", "parse"])
def test_ctrl_c_while_the_command_starts_exits_quietly(tmp_path: Path, where: str) -> None:
    proc = subprocess.run([sys.executable, "-c", INTERRUPTED_START, where, str(tmp_path)], capture_output=True,
                          text=True, env=env(), timeout=60, **interruptible())  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "")


def test_an_hdf5_file_its_writer_holds_open_waits_for_it_and_is_not_a_failure(
    tiny_model: Path, tmp_path: Path, helpers: Any
) -> None:
    """An HDF5 recording its writer holds open (and locked) past --settle: one note that it waits for
    the writer, no error and no failure; once the writer closes it, it is denoised."""
    h5py = pytest.importorskip("h5py")
    incoming, out, log = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "watch.jsonl"
    incoming.mkdir()
    x = helpers.spectra(120, 40).astype(np.float32)
    writer = h5py.File(incoming / "live.h5", "w")
    try:
        writer["Channel1"] = x
        writer["Time"] = np.arange(len(x)) / 5.0
        writer["Wavelength"] = np.linspace(500.0, 600.0, x.shape[1])
        writer.flush()
        proc = start_watch(tiny_model, incoming, out, "--settle", 0.3, "--report", log)
        time.sleep(4.0)  # settled and handed over while the writer holds it
    finally:
        writer.close()
    try:
        wait_for(lambda: log.exists() and '"denoised"' in log.read_text(), timeout=60, proc=proc)
        code, _, stderr = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0 and "fluorodn: error:" not in stderr, stderr
    waits = [ln for ln in stderr.splitlines() if "is open in the program writing it" in ln]
    assert len(waits) == 1 and stderr.splitlines()[-1] == "fluorodn: stopped; 1 denoised, 0 failed", stderr
    assert [json.loads(line)["status"] for line in log.read_text().splitlines()] == ["denoised"]
