"""Interruption: Ctrl-C (SIGINT), ``kill`` (SIGTERM) and SIGKILL in the middle of a run.

``fluorodn denoise`` runs as a real process on several multi-page TIFF files (or one long
one). The test waits until at least one output is finished and the next one is partly
written, then sends the signal. Afterwards every file under a final name must be a
complete, correct output; nothing partial may carry a final name; and a rerun with
``--skip-existing`` must finish the rest. After SIGINT and SIGTERM no temporary file may
remain; after SIGKILL (which no program can catch) the partial output may remain only as
a hidden ``.<name>.<id>.tmp`` file.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from fluorodn import Denoiser

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

PAGE = (256, 256)  # 8 pages per network call with the default CPU budget (2**19 pixels)
OUT_PAGE_BYTES = PAGE[0] * PAGE[1] * 4  # float32 output
SCENARIOS = {
    # files x pages each
    "multi-file": (5, 16),
    "multi-page": (1, 60),
}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory, rel: Any) -> dict[str, Path]:
    """One folder of raw TIFF stacks per scenario (shared by the tests, which never change them)."""
    folders = {}
    for name, (n_files, n_pages) in SCENARIOS.items():
        folder = tmp_path_factory.mktemp(name.replace("-", "_"))
        for i in range(n_files):
            data = rel.stack(n_pages, *PAGE, seed=i)
            tifffile.imwrite(folder / f"rec{i:02d}.tif", data, photometric="minisblack")
        folders[name] = folder
    return folders


def partial_writes(out: Path) -> list[Path]:
    """Temporary outputs that already hold more than one page of data."""
    found = []
    for p in out.glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            if p.stat().st_size > OUT_PAGE_BYTES:
                found.append(p)
    return found


def check_output(raw: Path, out: Path, denoiser: Denoiser) -> None:
    """``out`` is the complete, correct output of ``raw`` (first, middle and last page checked)."""
    src = tifffile.imread(raw)
    with tifffile.TiffFile(out) as tif:
        got = tif.asarray()
    assert got.shape == src.shape and got.dtype == np.float32, out
    for k in (0, len(src) // 2, len(src) - 1):
        np.testing.assert_array_equal(got[k], denoiser.run(src[k]), err_msg=f"{out} page {k}")
    assert np.isfinite(got).all()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_run_keeps_finished_outputs_and_resumes(
    scenario: str, sig: int, recordings: dict[str, Path], tmp_path: Path, tiny_model: Path, denoiser: Denoiser, rel: Any
) -> None:
    raw = recordings[scenario]
    before = rel.snapshot(raw)
    out = tmp_path / "out"
    args = ("denoise", raw, "-o", out, "--model", tiny_model, "--device", "cpu", "--threads", 1)
    proc = rel.start(*args)
    several = len(list(raw.iterdir())) > 1
    rel.wait_for(lambda: bool(partial_writes(out)) and (not several or any(out.glob("*.tif"))), proc)
    stdout, stderr = rel.interrupt(proc, sig)

    finished = sorted(out.glob("*.tif"))
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        leftovers = rel.temporaries(out)
        assert all(p.name.startswith(".rec") for p in leftovers), leftovers
    else:
        assert proc.returncode == 130, stdout + stderr
        assert "interrupted" in stderr and "Traceback" not in stderr, stderr
        assert not rel.temporaries(out)
    assert len(finished) < len(list(raw.iterdir())), "the run was not interrupted in the middle"
    assert {p.name for p in out.iterdir() if not p.name.endswith(".tmp")} == {p.name for p in finished}
    for p in finished:  # whatever carries a final name is complete and correct
        check_output(raw / p.name.replace("_denoised", ""), p, denoiser)

    again = rel.run(*args, "--skip-existing")
    assert again.returncode == 0, again.stdout + again.stderr
    if finished:
        assert f"{len(finished)} skipped" in again.stdout
    for src in sorted(raw.iterdir()):
        check_output(src, out / src.name.replace(".tif", "_denoised.tif"), denoiser)
    assert rel.snapshot(raw) == before, "an input changed"
    if sig != signal.SIGKILL:
        assert not rel.temporaries(out)


def test_sigterm_cleans_up_like_ctrl_c(recordings: dict[str, Path], tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    """``kill PID`` (what job schedulers send first) removes the partial output too."""
    out = tmp_path / "out"
    proc = rel.start("denoise", recordings["multi-page"], "-o", out, "--model", tiny_model, "--device", "cpu")
    rel.wait_for(lambda: bool(partial_writes(out)), proc)
    stdout, stderr = rel.interrupt(proc, signal.SIGTERM)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(out.iterdir()) == []


def test_an_interrupt_a_library_clean_up_turns_into_another_error_still_interrupts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that fails while the interrupt unwinds it (its clean-up raising, say, a TypeError)
    must not turn Ctrl-C or SIGTERM into "this file failed" and go on with the next file; an error
    of the same type without an interrupt behind it stays that file's failure."""
    import fluorodn.files
    from fluorodn.cli import _common

    def torn(*args: Any, **kw: Any) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise TypeError("expected str, bytes or os.PathLike object, not BufferedWriter") from None

    monkeypatch.setattr(fluorodn.files, "denoise_file", torn)
    with pytest.raises(KeyboardInterrupt):
        _common.denoise_one(None, tmp_path / "a.tif", tmp_path / "b.tif", None)

    def broken(*args: Any, **kw: Any) -> None:
        raise TypeError("a plain failure")

    monkeypatch.setattr(fluorodn.files, "denoise_file", broken)
    result, _, err = _common.denoise_one(None, tmp_path / "a.tif", tmp_path / "b.tif", None)
    assert result is None and isinstance(err, TypeError)


#: Rows of the long recording: one spectral denoising call of several seconds with the default model.
LONG_ROWS = 150_000
#: Seconds within which Ctrl-C must end a run that is inside one long denoising call.
PROMPT_S = 3.0


def test_ctrl_c_inside_one_long_recording_stops_promptly(tmp_path: Path, rel: Any) -> None:
    """Ctrl-C while one long recording (a single page, denoised in one call) is being denoised ends
    the command within seconds, not when the call would have finished: exit code 130, the one
    "interrupted" line, no traceback, and no output, temporary or partial, left."""
    import time
    from importlib import resources

    with resources.as_file(resources.files("fluorodn") / "data" / "example.tif") as example:
        one = tifffile.imread(example).astype(np.float32)
    raw = tmp_path / "long.tif"
    tifffile.imwrite(raw, np.tile(one, (-(-LONG_ROWS // len(one)), 1))[:LONG_ROWS], photometric="minisblack")
    out = tmp_path / "out"
    proc = rel.start("denoise", raw, "-o", out, "--device", "cpu")
    rel.wait_for(lambda: bool(rel.temporaries(out)), proc)  # the output is opened: the denoising has begun
    time.sleep(1.0)  # well inside the call
    assert proc.poll() is None, "the run ended before it could be interrupted"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=PROMPT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"fluorodn did not stop within {PROMPT_S} s of Ctrl-C")
    took = time.monotonic() - t0
    assert proc.returncode == 130, f"{stdout}\n{stderr}"
    assert "interrupted; no partial output is left" in stderr and "Traceback" not in stderr, stderr
    assert list(out.iterdir()) == [], f"left after {took:.2f} s: {list(out.iterdir())}"
