"""GuPPy's files are written all or nothing: a write that fails or is interrupted midway leaves the
folder as it was (the files it replaced put back byte for byte, the new files and the folders it
made removed), with one sentence; one that succeeds replaces every file."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from fluorodn import _atomic
from fluorodn.errors import OutputError
from fluorodn.formats import guppy
from fluorodn.formats.guppy import TRACES, write_unmixed
from tests.support import assert_user_error

FULL = r"cannot write the GuPPy files into .* \(the disk is full\)"

#: What stops the k-th file midway: the disk filling up, or Ctrl-C.
STOPS: dict[str, Callable[[], BaseException]] = {
    "disk full": lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    "interrupt": KeyboardInterrupt,
}


@pytest.fixture(scope="module")
def result() -> Any:
    """A small unmixing (80 samples at 5 Hz), not denoised."""
    from fluorodn import unmix

    rng = np.random.default_rng(0)
    return unmix(1000 + rng.normal(0, 5, (80, 40)), "500:590", "example", denoise=False, rate=5.0, dark=0.0)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (hidden ones included) and folder under ``root``: its bytes, or None for a folder."""
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}


def old_folder(folder: Path, names: tuple[str, ...] = TRACES) -> dict[str, bytes | None]:
    """``folder`` holding a previous run's ``names`` and a file of the user's; its snapshot."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        text = f"timestamps,data,sampling_rate\n0,{name} of the previous run,5\n"
        (folder / f"{name}.csv").write_bytes(text.encode())
    (folder / "notes.txt").write_bytes(b"the user's\n")
    return snapshot(folder)


class _Stopped:
    """A file that takes its first write, then raises ``stop`` (a disk filling up midway, Ctrl-C)."""

    def __init__(self, fh: Any, stop: BaseException) -> None:
        self.fh, self.stop, self.writes = fh, stop, 0

    def __enter__(self) -> _Stopped:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()

    def write(self, text: str) -> int:
        self.writes += 1
        if self.writes > 1:
            raise self.stop
        return int(self.fh.write(text))


def stop_writing(monkeypatch: pytest.MonkeyPatch, k: int, stop: BaseException) -> None:
    """The k-th GuPPy file (from 1) written stops after its first line."""
    opened: list[object] = []

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = open(file, mode, *args, **kwargs)  # noqa: SIM115  # closed by write_guppy's with block
        if "w" not in mode:
            return fh
        opened.append(file)
        return _Stopped(fh, stop) if len(opened) == k else fh

    monkeypatch.setattr(guppy, "open", fake_open, raising=False)


def stop_publishing(monkeypatch: pytest.MonkeyPatch, k: int, stop: BaseException) -> None:
    """The k-th complete file (from 1) that gets its final name fails to."""
    real, calls = _atomic._publish, []

    def publish(tmp: Path, dest: Path, overwrite: bool) -> None:
        calls.append(dest)
        if len(calls) == k:
            raise stop
        real(tmp, dest, overwrite)

    monkeypatch.setattr(_atomic, "_publish", publish)


def expect(stop: str, *, left: str) -> Any:
    if stop == "interrupt":
        return pytest.raises(KeyboardInterrupt)
    return pytest.raises(OutputError, match=f"{FULL}: {left}; free some space or choose another folder$")


@pytest.mark.parametrize("k", [2, 3, len(TRACES)])
@pytest.mark.parametrize("stop", list(STOPS))
def test_a_write_stopped_midway_leaves_the_previous_files_byte_for_byte(
    result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k: int, stop: str
) -> None:
    folder = tmp_path / "guppy"
    before = old_folder(folder)
    stop_writing(monkeypatch, k, STOPS[stop]())
    with expect(stop, left="it is left as it was, none of the new files kept"):
        write_unmixed(result, folder, overwrite=True)
    assert snapshot(folder) == before


@pytest.mark.parametrize("k", [1, 3, len(TRACES)])
@pytest.mark.parametrize("stop", list(STOPS))
def test_a_file_that_cannot_take_its_name_leaves_the_previous_files(
    result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k: int, stop: str
) -> None:
    """Every file is complete before the first is renamed; one rename that fails (or Ctrl-C then)
    puts back the files already replaced."""
    folder = tmp_path / "guppy"
    before = old_folder(folder)
    stop_publishing(monkeypatch, k, STOPS[stop]())
    with expect(stop, left="it is left as it was, none of the new files kept"):
        write_unmixed(result, folder, overwrite=True)
    assert snapshot(folder) == before


@pytest.mark.parametrize("stop", list(STOPS))
def test_files_that_did_not_exist_are_removed_and_those_that_did_are_restored(
    result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    folder = tmp_path / "guppy"
    before = old_folder(folder, ("sensor", "gain"))
    stop_publishing(monkeypatch, 4, STOPS[stop]())
    with expect(stop, left="it is left as it was, none of the new files kept"):
        write_unmixed(result, folder, overwrite=True)
    assert snapshot(folder) == before


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("stop", list(STOPS))
def test_a_new_folder_that_fails_leaves_nothing(
    result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str, nested: bool
) -> None:
    """The folders the call made, the GuPPy folder and those above it, are removed again."""
    folder = tmp_path / "a" / "b" / "guppy" if nested else tmp_path / "guppy"
    stop_writing(monkeypatch, 3, STOPS[stop]())
    with expect(stop, left="nothing was made"):
        write_unmixed(result, folder)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_folder_that_fails_stays_empty(result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "guppy"
    folder.mkdir()
    stop_publishing(monkeypatch, 2, STOPS["disk full"]())
    with expect("disk full", left="it is left as it was, none of the new files kept"):
        write_unmixed(result, folder)
    assert snapshot(tmp_path) == {"guppy": None}


def test_without_hard_links_the_originals_are_renamed_aside_and_put_back(
    result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system without hard links (FAT, some network shares) the originals are renamed aside."""
    folder = tmp_path / "guppy"
    before = old_folder(folder)

    def no_link(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_link)
    with monkeypatch.context() as patch:
        stop_publishing(patch, 4, STOPS["interrupt"]())
        with expect("interrupt", left=""):
            write_unmixed(result, folder, overwrite=True)
    assert snapshot(folder) == before
    write_unmixed(result, folder, overwrite=True)
    assert sorted(snapshot(folder)) == sorted([*(f"{name}.csv" for name in TRACES), "notes.txt"])


def test_a_permission_error_is_one_sentence(result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "guppy"
    before = old_folder(folder)
    stop_publishing(monkeypatch, 3, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
    with pytest.raises(OutputError, match=r"\(Permission denied\): it is left as it was.*; choose a writable folder$"):
        write_unmixed(result, folder, overwrite=True)
    assert snapshot(folder) == before


def test_an_original_that_cannot_be_put_back_is_named(
    result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a replaced file cannot be put back, the sentence says where its original is kept."""
    folder = tmp_path / "guppy"
    old_folder(folder)
    stop_publishing(monkeypatch, 3, STOPS["disk full"]())
    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if str(src).endswith(".old"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutputError, match=r"and of the files it held before, 2 could not be put back") as err:
        write_unmixed(result, folder, overwrite=True)
    kept = sorted(folder.glob(".*.old"))
    assert len(kept) == 2 and all(p.name in str(err.value) for p in kept)
    assert {p.read_bytes().split(b"\n")[1].split(b",")[1] for p in kept} == {
        b"gain of the previous run",
        b"offset of the previous run",
    }


def test_success_replaces_every_file(result: Any, tmp_path: Path) -> None:
    """All six files hold the new traces, the user's other files are left, and no temporary file
    or original kept aside remains."""
    fresh = write_unmixed(result, tmp_path / "fresh")
    folder = tmp_path / "guppy"
    before = old_folder(folder)
    files = write_unmixed(result, folder, overwrite=True)
    assert files == [folder / f"{name}.csv" for name in TRACES]
    after = snapshot(folder)
    assert after == {**before, **{f.name: f.read_bytes() for f in fresh}}
    assert all(after[f"{name}.csv"] != before[f"{name}.csv"] for name in TRACES)


@pytest.mark.parametrize("table", ["rec.csv", "rec.parquet"])
def test_the_command_leaves_the_folder_and_its_table_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    """``fluorodn unmix -o TABLE --guppy FOLDER --overwrite`` on a full disk: one error line, the
    folder and the previous table as they were (the table gets its name only after the folder)."""
    from fluorodn.cli import app

    rng = np.random.default_rng(1)
    np.save(tmp_path / "rec.npy", (1000 + rng.normal(0, 5, (80, 40))).astype(np.float32))
    folder = tmp_path / "guppy"
    before = old_folder(folder)
    (tmp_path / table).write_bytes(b"the previous run's table\n")
    stop_writing(monkeypatch, 3, STOPS["disk full"]())
    args = ["unmix", tmp_path / "rec.npy", "--sensor", "example", "--wavelengths", "500:590", "--rate", "5",
            "--dark", "0", "--no-denoise", "--guppy", folder, "--overwrite", "-o", tmp_path / table]  # fmt: skip
    got = CliRunner().invoke(app, [str(a) for a in args])
    assert_user_error(got, f"cannot write the GuPPy files into {folder} (the disk is full): it is left as it was")
    assert snapshot(folder) == before
    assert (tmp_path / table).read_bytes() == b"the previous run's table\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["rec.npy", "guppy", table])  # no temporary left
    monkeypatch.undo()
    got = CliRunner().invoke(app, [str(a) for a in args])
    assert got.exit_code == 0, got.output
    assert (tmp_path / table).read_bytes() != b"the previous run's table\n" and snapshot(folder) != before


def test_the_guppy_files_warning_points_at_the_callers_line(tmp_path: Path) -> None:
    """``unmix_file(..., guppy=)`` writes GuPPy's files from inside the table's write; the warning
    they give (light-off samples bridged) still points at the line that called it."""
    from fluorodn.unmixing import unmix_file

    rng = np.random.default_rng(2)
    x = (1000 + rng.normal(0, 5, (80, 40))).astype(np.float32)
    x[30:35] = rng.normal(0, 1, (5, 40))  # the light off inside the recording
    np.save(tmp_path / "rec.npy", x)
    with pytest.warns(UserWarning, match="GuPPy places events by counting rows") as got:
        unmix_file(tmp_path / "rec.npy", "example", "500:590", denoise=False, rate=5.0, dark=0.0, guppy=tmp_path / "g")
    told = [w for w in got if "GuPPy places events" in str(w.message)]
    assert len(told) == 1 and told[0].filename == __file__
    assert (tmp_path / "g" / "sensor.csv").is_file() and (tmp_path / "rec_unmixed.csv").is_file()


def test_the_command_interrupted_leaves_the_folder_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM, which the command turns into it) while the GuPPy files are written: one
    line, exit code 130, the folder and the previous table as they were."""
    from fluorodn.cli import app

    rng = np.random.default_rng(1)
    np.save(tmp_path / "rec.npy", (1000 + rng.normal(0, 5, (80, 40))).astype(np.float32))
    folder = tmp_path / "guppy"
    before = old_folder(folder)
    (tmp_path / "rec.csv").write_bytes(b"the previous run's table\n")
    stop_writing(monkeypatch, 4, KeyboardInterrupt())
    args = ["unmix", tmp_path / "rec.npy", "--sensor", "example", "--wavelengths", "500:590", "--rate", "5",
            "--dark", "0", "--no-denoise", "--guppy", folder, "--overwrite", "-o", tmp_path / "rec.csv"]  # fmt: skip
    got = CliRunner().invoke(app, [str(a) for a in args])
    assert got.exit_code == 130, got.output
    assert got.stderr.strip() == "fluorodn: interrupted; no output was left half written"
    assert snapshot(folder) == before and (tmp_path / "rec.csv").read_bytes() == b"the previous run's table\n"
