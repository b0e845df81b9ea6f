"""Atomic outputs: a disk that takes only part of a write is named as full, whatever raised it."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from fluorodn import io as fio
from fluorodn.errors import OutputError


@pytest.mark.parametrize(
    "err",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError("456000 requested and 261872 written"),  # numpy's tofile on a full disk: no errno
    ],
)
def test_a_full_disk_is_named_and_nothing_is_left(tmp_path: Path, err: OSError) -> None:
    def write() -> None:
        with fio.atomic_output(tmp_path / "out.tif") as tmp:
            tmp.write_bytes(b"part")
            raise err

    with pytest.raises(OutputError, match=r"cannot write .*out\.tif \(the disk is full\)"):
        write()
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_keep_their_own_text(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="something else"), fio.atomic_output(tmp_path / "out.tif"):
        raise OSError("something else")
    assert list(tmp_path.iterdir()) == []
