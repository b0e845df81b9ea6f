"""fluorodn watch and a file that cannot be denoised for a while (its output's disk full, its
output folder refusing writes, its input's or output's share out of reach): the file is kept and
tried again until it is denoised, told once and logged as it fails and as it succeeds, and
counted as failed only where the watch stops first; a file that fails for its input is tried
once. An output folder gone while the watch runs is not made again: outputs wait for it."""

from __future__ import annotations

import errno
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from tests.cli.test_watch import env, leftovers, stop, wait_for
from tests.support import interruptible

pytest.importorskip("watchdog")

#: fluorodn's CLI whose publishing of the output named argv[1] (``read:NAME``: whose denoising of the
#: input NAME, as it reads it) fails with ENOSPC (a full disk) the first argv[2] times (``N:CODE``:
#: with errno CODE, a plain OSError), each file denoised noted on a line of argv[3] as it starts and
#: once done, and files whose output could not be written tried again after argv[4] seconds
#: (doubling at each try), not sooner (the free space of the machine's disk is left out).
FULL_DISK = """
import errno, os, sys
from pathlib import Path
import fluorodn._atomic as atomic
import fluorodn.cli.watch as watch
import fluorodn.files as files
name, attempts = sys.argv[1], sys.argv[3]
fails, _, code = sys.argv[2].partition(":")
fails, code = int(fails), getattr(errno, code or "ENOSPC")
watch._RETRY_FIRST_S = float(sys.argv[4])
watch._space_grew = lambda folder, size: None
real_publish, failed = atomic._publish, []
def publish(tmp, dest, overwrite):
    if Path(dest).name == name and len(failed) < fails:
        failed.append(dest)
        raise OSError(code, os.strerror(code))
    real_publish(tmp, dest, overwrite)
atomic._publish = publish
real_denoise = files.denoise_file
def denoise_file(denoiser, source, dest, *args, **kwargs):
    with open(attempts, "a", encoding="utf-8") as fh:
        fh.write(Path(source).name + "\\n")
    try:
        if name == "read:" + Path(source).name and len(failed) < fails:
            failed.append(source)
            raise OSError(code, os.strerror(code))
        return real_denoise(denoiser, source, dest, *args, **kwargs)
    finally:
        with open(attempts, "a", encoding="utf-8") as fh:
            fh.write(Path(source).name + " done\\n")
files.denoise_file = denoise_file
sys.argv = ["fluorodn", *sys.argv[5:]]
from fluorodn.cli import main
main()
"""


def start_full_disk_watch(model: Path, folder: Path, out: Path, log: Path, attempts: Path, name: str, fails: int,
                          first_retry: float = 0.2, code: str = "ENOSPC") -> subprocess.Popen[str]:  # fmt: skip
    """A watch of ``folder`` whose output ``name`` cannot be published the first ``fails`` times
    (an OSError with errno ``code``)."""
    argv = ["watch", str(folder), "-o", str(out), "--model", str(model), "--threads", "1", "--settle", "0.3",
            "--report", str(log)]  # fmt: skip
    cmd = [sys.executable, "-c", FULL_DISK, name, f"{fails}:{code}", str(attempts), str(first_retry), *argv]
    return subprocess.Popen(cmd, text=True, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **interruptible())  # fmt: skip


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def tries(attempts: Path, done: bool = False) -> list[str]:
    """The files whose denoising started (``done``: ended) so far, in order."""
    lines = attempts.read_text().splitlines() if attempts.exists() else []
    return [ln.removesuffix(" done") for ln in lines if ln.endswith(" done") == done]


def stopped_once(proc: subprocess.Popen[str], done: Any, then: float = 0.0) -> tuple[int, str, str]:
    """Stop the watch ``proc`` once ``done()`` holds and ``then`` seconds more have passed: (exit
    code, stdout, stderr); it is killed if anything fails on the way."""
    try:
        wait_for(done, timeout=60, proc=proc)
        time.sleep(then)
        return stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_file_whose_disk_was_full_is_retried_until_its_output_is_written(
    tiny_model: Path, denoiser: Any, tmp_path: Path, helpers: Any
) -> None:
    """The output's disk full at the first two tries: one warning says the file will be retried, it
    is tried again (no warning more) and denoised once the disk takes it, which one line tells; it
    counts as denoised, not failed, and the log holds its failure, then its success."""
    incoming, out, log, attempts = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "w.jsonl", tmp_path / "n"
    incoming.mkdir()
    data = helpers.spectra(40, 30)
    tifffile.imwrite(incoming / "a.tif", data)
    src, dest = incoming / "a.tif", out / "a_denoised.tif"
    proc = start_full_disk_watch(tiny_model, incoming, out, log, attempts, "a_denoised.tif", fails=2)
    # its record is the last thing done
    code, stdout, stderr = stopped_once(proc, lambda: len(records(log)) >= 2)
    assert code == 0 and "Traceback" not in stderr, stderr
    assert tries(attempts) == ["a.tif"] * 3
    lines = stderr.splitlines()
    assert not [ln for ln in lines if ln.startswith("fluorodn: error:")], stderr
    told = [ln for ln in lines if "retried" in ln]
    assert told == [f"fluorodn: warning: {src} was not denoised: cannot write {dest} (the disk is full); it will be "
                    "retried once there is free space (the watch goes on)"], stderr  # fmt: skip
    done = f"fluorodn: {src} was denoised when tried again (3 tries), after its output could not be written"
    assert lines.count(done) == 1, stderr
    assert lines[-1] == "fluorodn: stopped; 1 denoised, 0 failed"
    assert f"{src} -> {dest}" in stdout
    np.testing.assert_allclose(tifffile.imread(dest), denoiser.run(data), rtol=1e-6)
    failure, success = records(log)
    assert failure["status"] == "failed" and failure["retry"] is True
    assert failure["input"] == str(src) and failure["output"] == str(dest) and "the disk is full" in failure["error"]
    assert success["status"] == "denoised" and success["input"] == str(src) and "retry" not in success
    assert sorted(p.name for p in out.iterdir()) == ["a_denoised.tif"] and not leftovers(incoming, out)


@pytest.mark.parametrize(
    ("name", "code", "why"),
    [
        ("a_denoised.tif", "EROFS", "cannot write {dest} (Read-only file system)"),
        ("a_denoised.tif", "EACCES", "cannot write {dest} (Permission denied)"),
        ("a_denoised.tif", "ESTALE", "cannot write {dest} (Stale file handle)"),
        (
            "read:a.tif",
            "ECONNRESET",
            "its input or its output {dest} went out of reach while it was denoised (Connection reset by peer)",
        ),
    ],
    ids=["read-only", "no permission", "share out of reach", "input out of reach"],
)
def test_a_file_whose_output_was_refused_or_out_of_reach_is_retried(
    tiny_model: Path, tmp_path: Path, helpers: Any, name: str, code: str, why: str
) -> None:
    """The output's folder refusing the write (a share remounted read-only, permissions) or out of
    reach, or the input out of reach as it is read, the first time: told once, tried again later
    and denoised, not lost."""
    incoming, out, log, attempts = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "w.jsonl", tmp_path / "n"
    incoming.mkdir()
    tifffile.imwrite(incoming / "a.tif", helpers.spectra(40, 30))
    src, dest = incoming / "a.tif", out / "a_denoised.tif"
    proc = start_full_disk_watch(tiny_model, incoming, out, log, attempts, name, fails=1, code=code)
    code_, stdout, stderr = stopped_once(proc, lambda: len(records(log)) >= 2)
    assert code_ == 0 and "Traceback" not in stderr, stderr
    assert tries(attempts) == ["a.tif"] * 2
    told = [ln for ln in stderr.splitlines() if "retried" in ln]
    assert told == [f"fluorodn: warning: {src} was not denoised: {why.format(dest=dest)}; it will be retried later "
                    "(the watch goes on)"], stderr  # fmt: skip
    assert stderr.splitlines()[-1] == "fluorodn: stopped; 1 denoised, 0 failed"
    assert f"{src} -> {dest}" in stdout and dest.exists()
    assert [(r["status"], r.get("retry")) for r in records(log)] == [("failed", True), ("denoised", None)]
    assert not leftovers(incoming, out)


def test_a_file_still_waiting_to_be_retried_when_the_watch_stops_counts_as_failed(
    tiny_model: Path, tmp_path: Path, helpers: Any
) -> None:
    """The output's disk stays full: the file is tried again and again, told and logged once; the
    watch stopped meanwhile counts it as failed, says it was not denoised and logs that outcome."""
    incoming, out, log, attempts = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "w.jsonl", tmp_path / "n"
    incoming.mkdir()
    tifffile.imwrite(incoming / "a.tif", helpers.spectra(40, 30))
    proc = start_full_disk_watch(tiny_model, incoming, out, log, attempts, "a_denoised.tif", fails=10**6,
                                 first_retry=1.0)  # fmt: skip
    # stopped once the second try is over, 2 s before the third: not while the file is denoised
    code, stdout, stderr = stopped_once(proc, lambda: len(tries(attempts, done=True)) == 2)
    assert code == 0 and "Traceback" not in stderr, stderr
    assert tries(attempts) == ["a.tif"] * 2
    lines = stderr.splitlines()
    assert sum("will be retried" in ln for ln in lines) == 1, stderr
    told = (f"fluorodn: warning: {incoming / 'a.tif'} was not denoised: it waited to be tried again (the output "
            "could not be written) when the watch stopped; a later watch takes it")  # fmt: skip
    assert lines[-2] == told, stderr
    assert lines[-1] == "fluorodn: stopped; 0 denoised, 1 failed"
    first, last = records(log)  # the failure that is retried, then the outcome at the stop
    assert first["status"] == "failed" and first["retry"] is True
    assert last["status"] == "failed" and "retry" not in last and last["input"] == str(incoming / "a.tif")
    assert last["error"].endswith("was not denoised: it waited to be tried again when the watch stopped")
    assert stdout == "" and list(out.iterdir()) == [] and not leftovers(incoming, out)


def test_a_file_that_fails_for_its_input_is_tried_once(tiny_model: Path, tmp_path: Path) -> None:
    """A corrupt file and one holding NaN fail once each, with an error and a record that promises
    no retry, and are not tried again, while retries come every 0.1 s; the file beside them is
    denoised."""
    incoming, out, log, attempts = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "w.jsonl", tmp_path / "n"
    incoming.mkdir()
    (incoming / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    holes = np.random.default_rng(1).normal(100.0, 5.0, (64, 64)).astype(np.float32)
    holes[3, 4] = np.nan
    np.save(incoming / "holes.npy", holes)
    np.save(incoming / "good.npy", np.random.default_rng(2).normal(100.0, 5.0, (64, 64)).astype(np.float32))
    proc = start_full_disk_watch(tiny_model, incoming, out, log, attempts, "none", fails=0, first_retry=0.1)
    # time for tries again once all three are logged (there are none)
    code, _, stderr = stopped_once(proc, lambda: len(records(log)) >= 3, then=2.0)
    assert code == 0 and "Traceback" not in stderr, stderr
    assert sorted(tries(attempts)) == ["broken.npy", "good.npy", "holes.npy"]
    assert "retried" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("fluorodn: error:")]
    assert len(errors) == 2, stderr
    assert stderr.splitlines()[-1] == "fluorodn: stopped; 1 denoised, 2 failed"
    outcomes = sorted((Path(r["input"]).name, r["status"], r.get("retry")) for r in records(log))
    assert outcomes == [("broken.npy", "failed", None), ("good.npy", "denoised", None), ("holes.npy", "failed", None)]


def test_a_file_is_tried_again_once_its_output_s_disk_has_room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The free space of the output's disk grown by the input's size (at least 1 MiB) since the
    failure: time to try again; less, or a disk that cannot be asked, not."""
    import shutil
    from types import SimpleNamespace

    import fluorodn.cli.watch as watch

    free = [10 << 20]
    asked: list[Path] = []

    def disk_usage(path: Any) -> Any:
        asked.append(Path(path))
        return SimpleNamespace(total=100 << 20, used=0, free=free[0])

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    grew = watch._space_grew(tmp_path / "not" / "made", 3 << 20)
    assert grew is not None and not grew()
    assert set(asked) == {tmp_path}  # the folder above that exists
    free[0] += 2 << 20
    assert not grew()
    free[0] += 1 << 20
    assert grew()
    small = watch._space_grew(tmp_path, 10)  # at least 1 MiB
    assert small is not None and not small()
    free[0] += 1 << 20
    assert small()

    def unknown(path: Any) -> Any:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(shutil, "disk_usage", unknown)
    assert watch._space_grew(tmp_path, 10) is None and not grew()


def test_passing_failures_are_told_from_the_others() -> None:
    """A full disk (or quota) behind an output error, an output folder refusing writes or out of
    reach, or any file out of reach while it is read or written (a share reconnecting) passes; an
    input's failure, an output refused for good, or an input refused does not."""
    from fluorodn._atomic import write_error
    from fluorodn.cli.watch import _passing, _why_failed
    from fluorodn.errors import FileFormatError, InputError, OutputError

    def raised_from(err: BaseException, cause: BaseException) -> BaseException:
        err.__cause__ = cause  # as ``raise err from cause`` leaves it
        return err

    full = OSError(errno.ENOSPC, "No space left on device")
    dest = Path("out/a_denoised.tif")
    assert _passing(raised_from(write_error(dest, full), full)) is full
    short = OSError("4096 requested and 1024 written")  # numpy's tofile on a full disk, without an errno
    assert _passing(raised_from(write_error(dest, short), short)) is short
    quota = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert _passing(quota) is quota
    assert _why_failed(quota, quota, dest) == f"cannot write {dest} (the disk quota is full)"
    stale = OSError(errno.ESTALE, "Stale file handle")
    made = raised_from(OutputError(f"cannot create the output folder {dest.parent}"), stale)
    assert _passing(made) is stale and _why_failed(made, stale, dest) == f"cannot write {dest} (Stale file handle)"
    assert _passing(stale) is stale  # while it was read or written: which one is not known
    told = f"its input or its output {dest} went out of reach while it was denoised (Stale file handle)"
    assert _why_failed(stale, stale, dest) == told
    reset = OSError(errno.ECONNRESET, "Connection reset by peer")
    assert _passing(raised_from(FileFormatError("cannot read in.npy"), reset)) is reset  # the input's share
    assert _passing(raised_from(FileFormatError("cannot read in.npy"), full)) is None
    for code in (errno.EACCES, errno.EPERM, errno.EROFS):  # the output folder, until someone acts
        refused = OSError(code, os.strerror(code))
        assert _passing(raised_from(write_error(dest, refused), refused)) is refused
        assert _passing(refused) is None  # not known to be the output's
        assert _passing(raised_from(FileFormatError("cannot read in.npy"), refused)) is None
    assert _passing(InputError("values are NaN")) is None and _passing(ValueError("x")) is None
    assert _passing(OutputError(f"the name of {dest} is too long")) is None


def run_watcher(
    tmp_path: Path, handle: Any, gone: list[Path] | None = None
) -> tuple[threading.Thread, threading.Event]:
    from fluorodn.watch import Watcher

    watcher = Watcher(tmp_path, lambda p: p.suffix == ".npy", settle=0.2, tick=0.02)
    done = threading.Event()
    told = None if gone is None else gone.append
    thread = threading.Thread(target=watcher.run, args=(handle, done), kwargs={"gone": told}, daemon=True)
    thread.start()
    return thread, done


@pytest.mark.parametrize("early", [False, True])
def test_the_watcher_hands_a_file_to_retry_over_again(tmp_path: Path, early: bool) -> None:
    """A file ``handle`` returns :class:`Retry` for is handed over again after its wait, or at once
    where ``sooner`` says so; a file handled is not (nor one that changes later, handled again)."""
    from fluorodn.watch import Retry

    (tmp_path / "a.npy").write_bytes(b"x" * 10)
    (tmp_path / "b.npy").write_bytes(b"y" * 10)
    seen: list[tuple[str, float]] = []
    ready = threading.Event()

    def handle(path: Path) -> Retry | None:
        seen.append((path.name, time.monotonic()))
        if path.name == "a.npy" and sum(name == "a.npy" for name, _ in seen) < 3:
            return Retry(60.0, ready.is_set) if early else Retry(0.3)
        return None

    thread, done = run_watcher(tmp_path, handle)
    try:
        if early:
            time.sleep(1.5)
            assert [name for name, _ in seen].count("a.npy") == 1  # the wait is long: not yet
            ready.set()
        deadline = time.monotonic() + 30
        while [name for name, _ in seen].count("a.npy") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # time for a fourth (there is none)
    finally:
        done.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    names = [name for name, _ in seen]
    assert names.count("a.npy") == 3 and names.count("b.npy") == 1, names
    times = [t for name, t in seen if name == "a.npy"]
    assert all(later - earlier >= 0.3 for earlier, later in itertools.pairwise(times)), times


def test_a_file_to_retry_deleted_meanwhile_is_told_gone(tmp_path: Path) -> None:
    from fluorodn.watch import Retry

    (tmp_path / "a.npy").write_bytes(b"x" * 10)
    seen: list[Path] = []
    gone: list[Path] = []

    def handle(path: Path) -> Retry:
        seen.append(path)
        return Retry(60.0)

    thread, done = run_watcher(tmp_path, handle, gone)
    try:
        wait_for(lambda: bool(seen), timeout=30)
        (tmp_path / "a.npy").unlink()
        wait_for(lambda: bool(gone), timeout=30)
    finally:
        done.set()
        thread.join(timeout=10)
    assert seen == [tmp_path / "a.npy"] and gone == [tmp_path / "a.npy"]


def test_a_file_to_retry_out_of_reach_meanwhile_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file to retry whose share is out of reach when it is looked at (stat fails with ESTALE) is
    neither forgotten nor told gone: it is handed over again once it can be read."""
    import fluorodn.watch as watch_module
    from fluorodn.watch import Retry, missing

    a = tmp_path / "a.npy"
    a.write_bytes(b"x" * 10)
    out_of_reach = threading.Event()
    real_stat = os.stat

    class Os:
        def __getattr__(self, attr: str) -> Any:
            return getattr(os, attr)

        @staticmethod
        def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
            if out_of_reach.is_set() and Path(path) == a:
                raise OSError(errno.ESTALE, "Stale file handle")
            return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(watch_module, "os", Os())
    monkeypatch.setattr(watch_module, "_PRUNE_S", 0.2)  # files gone without an event looked for often
    seen: list[Path] = []
    gone: list[Path] = []

    def handle(path: Path) -> Retry | None:
        seen.append(path)
        if len(seen) == 1:
            out_of_reach.set()  # the share drops as the first try fails
            return Retry(0.3)
        return None

    thread, done = run_watcher(tmp_path, handle, gone)
    try:
        wait_for(lambda: bool(seen), timeout=30)
        time.sleep(2.0)  # past the wait and several prunes, out of reach all along
        assert seen == [a] and gone == []
        assert not missing(a)
        out_of_reach.clear()
        wait_for(lambda: len(seen) == 2, timeout=30)
    finally:
        done.set()
        thread.join(timeout=10)
    assert seen == [a, a] and gone == []
    assert missing(tmp_path / "b.npy") and missing(a / "inside")


def test_an_output_folder_gone_is_waited_for_not_made_again(tiny_model: Path, tmp_path: Path, helpers: Any) -> None:
    """The -o folder removed while the watch runs (deleted, or a share unmounted, whose mount point
    would take the outputs on the local disk): a file that comes meanwhile waits, with one warning,
    and no folder is made; once the folder is there again, a note says so and the file is denoised,
    counted as denoised, not failed."""
    incoming, out, log, attempts = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "w.jsonl", tmp_path / "n"
    incoming.mkdir()
    proc = start_full_disk_watch(tiny_model, incoming, out, log, attempts, "none", fails=0)
    try:
        wait_for(out.is_dir, timeout=60, proc=proc)
        time.sleep(0.5)  # the watch is looking
        out.rmdir()
        tifffile.imwrite(incoming / "a.tif", helpers.spectra(40, 30))
        time.sleep(3.0)  # settled, handed over, and tried again several times
        assert not out.exists()
        out.mkdir()
        code, _, stderr = stopped_once(proc, lambda: len(records(log)) >= 1)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0 and "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    gone = [ln for ln in lines if "is gone" in ln]
    said = (f"fluorodn: warning: the output folder {out} is gone (deleted, renamed or its share unmounted); "
            "outputs wait until it is back: make it again, or mount the share (the watch goes on)")  # fmt: skip
    assert gone == [said], stderr
    assert lines.count(f"fluorodn: the output folder {out} is back; writing outputs into it again") == 1, stderr
    assert lines[-1] == "fluorodn: stopped; 1 denoised, 0 failed"
    assert [r["status"] for r in records(log)] == ["denoised"] and (out / "a_denoised.tif").is_file()
