"""A .zarr output (``fluorodn.dask.denoise_zarr``, ``fluorodn denoise in.zarr``) is written like every
other output: a temporary store whose name fits where the output's fits, temporary stores of killed
runs removed, and an interrupted write (Ctrl-C, or SIGTERM turned into it) leaving neither its
temporary store nor a partial output, with one sentence and the exit code 130 from the command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("dask")
zarr = pytest.importorskip("zarr")

import fluorodn.dask as fdask  # noqa: E402
from fluorodn import io as fio  # noqa: E402
from fluorodn.cli import app  # noqa: E402
from fluorodn.errors import ModelChoiceWarning, OutOfDomainWarning, OutputError, OutputExistsError  # noqa: E402
from fluorodn.files import name_max  # noqa: E402

#: The tiny image model on spectral-looking stores warns of both; what is checked here is the writing.
pytestmark = [pytest.mark.filterwarnings("ignore", category=c) for c in (ModelChoiceWarning, OutOfDomainWarning)]

#: Rows of the input and rows per chunk: several chunks, written by several threads.
ROWS, CHUNK = 192, 24


@pytest.fixture
def store(tmp_path: Path, helpers: Any) -> Path:
    src = tmp_path / "in.zarr"
    z = zarr.open_array(str(src), mode="w", shape=(ROWS, 40), chunks=(CHUNK, 40), dtype="f4")
    z[:] = helpers.spectra(ROWS, 40, dtype=np.float32)
    return src


def _denoise(tiny_model: Path, *args: Any) -> Any:
    argv = ["denoise", *map(str, args), "--model", str(tiny_model), "--device", "cpu"]
    return CliRunner().invoke(app, argv)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def _stale_store(dest: Path, pid: int) -> Path:
    """A temporary store of ``dest`` as a writer ``pid`` of this host leaves it, with a chunk in it."""
    tmp = dest.with_name(fio.temp_name(dest).name.replace(f"-{os.getpid()}-", f"-{pid}-"))
    (tmp / "c" / "0").mkdir(parents=True)
    (tmp / "zarr.json").write_text("{}")
    (tmp / "c" / "0" / "0").write_bytes(b"part")
    return tmp


# -- names the file system takes --------------------------------------------------------


def test_an_output_name_as_long_as_the_file_system_takes_is_written(
    store: Path, tiny_model: Path, tmp_path: Path
) -> None:
    """The temporary store's name is shortened to fit, so an output name that fits is written, by
    the library and by the command; one that does not fit is one sentence, before any work."""
    limit = name_max(tmp_path)
    long_name = "r" * (limit - len(".zarr")) + ".zarr"
    info = fdask.denoise_zarr(store, tmp_path / long_name, tiny_model, device="cpu", scheduler="synchronous")
    assert info["dst"] == str(tmp_path / long_name)
    assert zarr.open_array(str(tmp_path / long_name), mode="r").shape == (ROWS, 40)

    other = "s" * (limit - len(".zarr")) + ".zarr"
    result = _denoise(tiny_model, store, "-o", tmp_path / other, "-q")
    assert result.exit_code == 0, result.output
    assert zarr.open_array(str(tmp_path / other), mode="r").shape == (ROWS, 40)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.zarr", long_name, other])  # no temporary

    with pytest.raises(OutputError, match=rf"bytes, over the {limit} bytes"):
        fdask.denoise_zarr(store, tmp_path / ("t" * limit + ".zarr"), tiny_model, device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.zarr", long_name, other])


# -- temporary stores of killed runs ----------------------------------------------------


def test_a_killed_run_s_temporary_store_is_removed_by_the_next_run(
    store: Path, tiny_model: Path, tmp_path: Path
) -> None:
    """The command removes, with a note, the temporary store a killed run left in the output's
    folder, and so does the library; one whose writer still runs is left alone."""
    dest = tmp_path / "in_denoised.zarr"
    dead = _dead_pid()
    stale = _stale_store(dest, dead)
    live = _stale_store(dest, os.getppid())  # a process that runs: another fluorodn still writing it
    result = _denoise(tiny_model, store)
    assert result.exit_code == 0, result.output
    assert f"removed 1 temporary output left in {tmp_path} by an interrupted run" in result.stderr
    assert not stale.exists() and live.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.zarr", dest.name, live.name])

    stale = _stale_store(tmp_path / "again.zarr", dead)
    fdask.denoise_zarr(store, tmp_path / "again.zarr", tiny_model, device="cpu", scheduler="synchronous")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.zarr", dest.name, live.name, "again.zarr"])


# -- interrupted writes -----------------------------------------------------------------


@pytest.fixture
def interrupted_writes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Chunk writes into zarr arrays, from dask's threads: the second raises KeyboardInterrupt (as
    Ctrl-C, or SIGTERM under the command, would in the middle of the write), the others write
    slowly, so that some are still being written when the interrupt reaches the caller. Records the
    SIGTERM handler a write found and the writes that ended after the interrupt reached the caller.
    With ``armed`` set False, writes go through as they are."""
    real = zarr.Array.__setitem__
    lock = threading.Lock()
    seen: dict[str, Any] = {"calls": 0, "sigterm": None, "late": 0, "raised_at": None, "armed": True}

    def write(self: Any, key: Any, value: Any) -> None:
        if not seen["armed"]:
            return real(self, key, value)
        with lock:
            seen["calls"] += 1
            n = seen["calls"]
            seen["sigterm"] = signal.getsignal(signal.SIGTERM)
        if n == 2:
            raise KeyboardInterrupt
        time.sleep(0.2)
        real(self, key, value)
        if seen["raised_at"] is not None:
            seen["late"] += 1

    monkeypatch.setattr(zarr.Array, "__setitem__", write)
    return seen


def _names(folder: Path) -> list[str]:
    time.sleep(0.4)  # longer than a chunk write: a write still running would have recreated its store
    return sorted(p.name for p in folder.iterdir())


def test_an_interrupted_write_leaves_no_temporary_store(
    store: Path, tiny_model: Path, tmp_path: Path, interrupted_writes: dict[str, Any]
) -> None:
    """KeyboardInterrupt in the middle of the chunks: the threads end the chunks they write before
    the temporary store is removed, so nothing writes it again afterwards, and no output appears."""
    with pytest.raises(KeyboardInterrupt):
        fdask.denoise_zarr(store, tmp_path / "out.zarr", tiny_model, device="cpu", scheduler="threads", workers=3)
    interrupted_writes["raised_at"] = time.monotonic()
    assert interrupted_writes["calls"] >= 2
    assert _names(tmp_path) == ["in.zarr"]
    assert interrupted_writes["late"] == 0


def test_an_interrupted_overwrite_keeps_the_previous_output(
    store: Path, tiny_model: Path, tmp_path: Path, interrupted_writes: dict[str, Any]
) -> None:
    dest = tmp_path / "out.zarr"
    interrupted_writes["armed"] = False
    fdask.denoise_zarr(store, dest, tiny_model, device="cpu", scheduler="synchronous")
    before = np.asarray(zarr.open_array(str(dest), mode="r")[:])
    interrupted_writes["armed"] = True
    with pytest.raises(KeyboardInterrupt):
        fdask.denoise_zarr(store, dest, tiny_model, device="cpu", scheduler="threads", workers=3, overwrite=True)
    interrupted_writes["raised_at"] = time.monotonic()
    assert _names(tmp_path) == ["in.zarr", "out.zarr"]
    interrupted_writes["armed"] = False
    np.testing.assert_array_equal(zarr.open_array(str(dest), mode="r")[:], before)


def test_the_command_interrupted_removes_the_store_and_says_so(
    store: Path, tiny_model: Path, tmp_path: Path, interrupted_writes: dict[str, Any]
) -> None:
    """The command writes with SIGTERM turned into an interrupt (restored afterwards); interrupted,
    it removes the store being written and ends with one sentence and the exit code 130, its JSON
    document saying it was interrupted."""
    before = signal.getsignal(signal.SIGTERM)
    result = _denoise(tiny_model, store, "--workers", "2", "--json")
    assert result.exit_code == 130, (result.exception, result.output)
    assert result.stderr.strip().splitlines() == ["fluorodn: interrupted; no partial output is left"]
    assert "Traceback" not in result.output
    assert json.loads(result.stdout)["interrupted"] is True
    handler = interrupted_writes["sigterm"]
    assert callable(handler) and "sigterm_interrupts" in handler.__qualname__  # SIGTERM stops like Ctrl-C
    assert signal.getsignal(signal.SIGTERM) is before
    assert _names(tmp_path) == ["in.zarr"]


# -- fluorodn.dask.write_zarr: the public writer, atomic where it computes --------------------------


def test_write_zarr_writes_whole_or_leaves_the_destination_as_it_was(tmp_path: Path) -> None:
    """``write_zarr`` (compute, a local path): a chunk that fails midway leaves no store and no
    temporary; an existing store is refused without ``overwrite`` and, with it, kept whole when the
    write fails, replaced when it succeeds."""
    import dask.array as da

    x = np.arange(ROWS * 40, dtype=np.float32).reshape(ROWS, 40)
    good = da.from_array(x, chunks=(CHUNK, 40))

    def fail_late(block: np.ndarray, block_info: Any = None) -> np.ndarray:
        if block_info[0]["chunk-location"][0] == ROWS // CHUNK - 1:
            raise RuntimeError("a worker failed")
        return block

    bad = good.map_blocks(fail_late, dtype=np.float32)
    dst = tmp_path / "sub" / "out.zarr"
    with pytest.raises(RuntimeError, match="a worker failed"):
        fdask.write_zarr(bad, dst)
    assert sorted(p.name for p in dst.parent.iterdir()) == []
    fdask.write_zarr(good, dst, attrs={"a": 1})
    np.testing.assert_array_equal(zarr.open_array(str(dst), mode="r")[:], x)
    with pytest.raises(OutputExistsError, match="exists already"):
        fdask.write_zarr(good * 2, dst)
    with pytest.raises(RuntimeError, match="a worker failed"):
        fdask.write_zarr(bad * 2, dst, overwrite=True)
    np.testing.assert_array_equal(zarr.open_array(str(dst), mode="r")[:], x)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["out.zarr"]
    fdask.write_zarr(good * 2, dst, overwrite=True)
    z = zarr.open_array(str(dst), mode="r")
    np.testing.assert_array_equal(z[:], 2 * x)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["out.zarr"]


def test_write_zarr_from_two_threads_at_once_leaves_dask_s_config_alone(tmp_path: Path) -> None:
    """Two ``write_zarr`` at once, one ending while the other writes: both write whole, and dask's
    config is as it was, so a later compute and a later ``write_zarr`` run (a pool set process-wide
    by one call, and shut down by it, would leave every later compute refused)."""
    import dask
    import dask.array as da

    pool_before = dask.config.get("pool", None)

    def slow(block: np.ndarray) -> np.ndarray:
        time.sleep(0.02)
        return block

    errors: dict[str, BaseException] = {}

    def job(name: str, n: int) -> None:
        try:
            fdask.write_zarr(da.ones((n * 8, 8), chunks=(8, 8)).map_blocks(slow, dtype=float), tmp_path / name)
        except BaseException as err:  # reported by the assertion below
            errors[name] = err

    threads = [threading.Thread(target=job, args=args) for args in (("short.zarr", 4), ("long.zarr", 40))]
    threads[0].start()
    time.sleep(0.01)
    threads[1].start()
    for t in threads:
        t.join()
    assert errors == {}
    assert dask.config.get("pool", None) is pool_before
    assert dask.config.get("scheduler", None) is None
    for name, n in (("short.zarr", 4), ("long.zarr", 40)):
        np.testing.assert_array_equal(zarr.open_array(str(tmp_path / name), mode="r")[:], np.ones((n * 8, 8)))
    assert float(da.ones(4, chunks=2).sum().compute()) == 4.0
    fdask.write_zarr(da.ones((4, 4), chunks=2), tmp_path / "later.zarr")
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "later.zarr"), mode="r")[:], np.ones((4, 4)))
    assert dask.config.get("pool", None) is pool_before


def test_write_zarr_never_replaces_a_folder_that_is_no_store(tmp_path: Path) -> None:
    """``overwrite=True`` replaces an earlier store, never a folder of other files (computed or not)."""
    import dask.array as da

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's")
    good = da.from_array(np.ones((ROWS, 40), np.float32), chunks=(CHUNK, 40))
    for compute in (True, False):
        with pytest.raises(OutputExistsError, match="is not a zarr store, so it is not replaced"):
            fdask.write_zarr(good, folder, overwrite=True, compute=compute)
    assert (folder / "notes.txt").read_text() == "the user's" and sorted(p.name for p in tmp_path.iterdir()) == ["data"]
