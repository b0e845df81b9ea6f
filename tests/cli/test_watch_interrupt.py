"""fluorodn watch stopped (Ctrl-C, SIGTERM) at the instants around a file's output being published:
either the output was not published, and the stop says it was removed, or it was, and the file is
counted and logged before the watch stops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from tests.cli.test_watch import env, leftovers
from tests.support import interruptible

pytest.importorskip("watchdog")

#: fluorodn's CLI sent a signal (argv[2]) by itself at one instant (argv[1]) of the first file's
#: handling: "published", as its output gets its name; "record", as its record is appended to the
#: --report log; "changed", as the input, written to once more, is checked before its output gets
#: its name.
STOPPED_AT = """
import signal, sys
where, sig = sys.argv[1], getattr(signal, sys.argv[2])
sent = []
def stop():
    if not sent:
        sent.append(sig)
        signal.raise_signal(sig)
if where == "published":
    import fluorodn._atomic as atomic
    real_publish = atomic._publish
    def publish(tmp, dest, overwrite):
        real_publish(tmp, dest, overwrite)
        stop()
    atomic._publish = publish
elif where == "record":
    import fluorodn.cli.watch as watch
    real_append = watch._append_json_line
    def append(path, record):
        if record.get("status") == "denoised":
            stop()
        real_append(path, record)
    watch._append_json_line = append
elif where == "changed":
    import fluorodn._file_pipeline as pipeline
    real_signature, seen = pipeline._signature, []
    def signature(path):
        seen.append(path)
        if len(seen) == 2:  # the check before the output is published
            with open(path, "ab") as fh:
                fh.write(bytes(16))
            stop()
        return real_signature(path)
    pipeline._signature = signature
sys.argv = ["fluorodn", *sys.argv[3:]]
from fluorodn.cli import main
main()
"""


def watch_stopped_at(where: str, sig: str, model: Path, folder: Path, out: Path, log: Path) -> tuple[int, str, str]:
    """Run a watch of ``folder`` that stops itself at ``where`` while it handles its first file."""
    argv = ["watch", str(folder), "-o", str(out), "--model", str(model), "--threads", "1", "--settle", "0.3",
            "--report", str(log)]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", STOPPED_AT, where, sig, *argv], capture_output=True, text=True,
                          env=env(), timeout=120, **interruptible())  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(("where", "sig"), [("published", "SIGINT"), ("published", "SIGTERM"), ("record", "SIGINT")])
def test_a_stop_after_the_output_is_published_counts_and_logs_the_file(
    tiny_model: Path, denoiser: Any, tmp_path: Path, helpers: Any, where: str, sig: str
) -> None:
    """Ctrl-C or SIGTERM just after a file's output got its name, or as its record is written: the
    output is kept and complete, the file is counted as denoised in the last line and its record
    is in the log; the watch then stops, having cut nothing (exit 0)."""
    incoming, out, log = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "watch.jsonl"
    incoming.mkdir()
    data = helpers.spectra(40, 30)
    tifffile.imwrite(incoming / "a.tif", data)
    code, stdout, stderr = watch_stopped_at(where, sig, tiny_model, incoming, out, log)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "partial output removed" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "fluorodn: stopped; 1 denoised, 0 failed"
    assert f"{incoming / 'a.tif'} -> {out / 'a_denoised.tif'}" in stdout
    np.testing.assert_allclose(tifffile.imread(out / "a_denoised.tif"), denoiser.run(data), rtol=1e-6)
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["status"] == "denoised" and record["input"] == str(incoming / "a.tif")
    assert record["output"] == str(out / "a_denoised.tif")
    assert sorted(p.name for p in out.iterdir()) == ["a_denoised.tif"] and not leftovers(incoming, out)


def test_a_stop_while_a_changed_input_is_discarded_says_it_was_not_denoised(
    tiny_model: Path, tmp_path: Path, helpers: Any
) -> None:
    """Ctrl-C once the last page was written, as the input turns out to have been written to
    meanwhile: its output is discarded, and the note says it was not denoised (not that it will
    be, as the watch stops); no output, nothing counted."""
    incoming, out, log = tmp_path / "incoming", tmp_path / "denoised", tmp_path / "watch.jsonl"
    incoming.mkdir()
    tifffile.imwrite(incoming / "a.tif", helpers.spectra(40, 30))
    code, stdout, stderr = watch_stopped_at("changed", "SIGINT", tiny_model, incoming, out, log)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "it is denoised once complete" not in stderr, stderr
    note = (f"fluorodn: {incoming / 'a.tif'} is still being written; its output was discarded and it was not "
            "denoised, as the watch stops (a later watch takes it once it is complete)")  # fmt: skip
    assert note in stderr.splitlines(), stderr
    assert stderr.strip().splitlines()[-1] == "fluorodn: stopped; 0 denoised, 0 failed"
    assert stdout == "" and not log.exists()
    assert list(out.iterdir()) == [] and not leftovers(incoming, out)


def test_held_stop_notes_a_signal_and_hands_it_on_at_release() -> None:
    """A stop signal held back is handed to its own handler at release, once; a second one goes to
    it at once; the handlers are restored. Off the main thread nothing is held, and nothing fails."""
    import signal
    import threading

    from fluorodn.cli.watch import _HeldStop

    got: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        got.append(signum)

    before = signal.signal(signal.SIGINT, handler)
    try:
        held = _HeldStop()
        held.hold()
        signal.raise_signal(signal.SIGINT)
        assert got == [] and held.stopping
        held.release()
        assert got == [signal.SIGINT] and signal.getsignal(signal.SIGINT) is handler
        got.clear()
        twice = _HeldStop()  # a second signal goes to its handler at once, and only it
        twice.hold()
        signal.raise_signal(signal.SIGINT)
        assert got == []
        signal.raise_signal(signal.SIGINT)
        assert got == [signal.SIGINT]
        twice.release()
        assert got == [signal.SIGINT] and signal.getsignal(signal.SIGINT) is handler
        errors: list[BaseException] = []

        def off_main() -> None:
            try:
                other = _HeldStop()
                other.hold()
                assert signal.getsignal(signal.SIGINT) is handler and not other.stopping
                other.release()
            except BaseException as err:  # (told to the test below)
                errors.append(err)

        thread = threading.Thread(target=off_main)
        thread.start()
        thread.join()
        assert errors == []
    finally:
        signal.signal(signal.SIGINT, before)
