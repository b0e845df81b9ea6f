"""Concurrency and determinism: shared Denoisers, several processes on one folder, repeat runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from fluorodn import Denoiser, DenoiserOptions


def test_eight_threads_share_one_denoiser(tiny_model: Path, rel: Any) -> None:
    """2D arrays, stacks and streams of several shapes and dtypes, at once, from 8 threads."""
    dn = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=2, tile_pixels=1 << 12))
    inputs: list[Any] = [
        rel.stack(1, 70 + 9 * i, 33 + 5 * i, seed=i, dtype=[np.uint16, np.float32, np.int32, np.float64][i % 4])[0]
        for i in range(4)
    ]
    inputs += [rel.stack(3 + i, 40, 50 + i, seed=10 + i) for i in range(4)]
    expected = [dn.run(x) for x in inputs]
    barrier = threading.Barrier(8)
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            got = [dn.run(inputs[i]) for _ in range(4)]
            if inputs[i].ndim == 3:
                got.append(np.stack(list(dn.stream(iter(inputs[i])))))
            results[i] = got
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    for i, got in results.items():
        for g in got:
            np.testing.assert_array_equal(g, expected[i])
    assert len(results) == 8


@pytest.fixture
def batch(tmp_path: Path, rel: Any) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(8):
        tifffile.imwrite(raw / f"r{i}.tif", rel.stack(6, 128, 96, seed=i), photometric="minisblack")
    return raw


def test_four_processes_write_into_one_folder(
    batch: Path, tmp_path: Path, tiny_model: Path, denoiser: Denoiser, rel: Any
) -> None:
    """Four runs over the same files (each in its own order) into one folder, with --skip-existing.

    They race for every file: each output is written once and completely, the losers of a
    race count the file as skipped, every run succeeds, and the outputs are bit-identical
    to this process's results (the same input gives the same output in any process).
    """
    out = tmp_path / "out"
    files = sorted(batch.iterdir())
    procs = []
    for k in range(4):
        order = files[2 * k :] + files[: 2 * k]
        procs.append(rel.start("denoise", *order, "-o", out, "--skip-existing", "--model", tiny_model,
                               "--device", "cpu", "--threads", 1))  # fmt: skip
    results = [p.communicate(timeout=600) for p in procs]
    for p, (stdout, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stdout + stderr
        assert not rel.error_lines(stderr), stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f.name.replace(".tif", "_denoised.tif") for f in files)
    for f in files:
        got = tifffile.imread(out / f.name.replace(".tif", "_denoised.tif"))
        np.testing.assert_array_equal(got, denoiser.run(tifffile.imread(f)))


@pytest.mark.reliability
def test_four_processes_overwriting_the_same_outputs(
    batch: Path, tmp_path: Path, tiny_model: Path, denoiser: Denoiser, rel: Any
) -> None:
    """With --overwrite every run replaces every output; each replacement is whole (atomic)."""
    out = tmp_path / "out"
    procs = [
        rel.start("denoise", batch, "-o", out, "--overwrite", "--model", tiny_model, "--device", "cpu", "--threads", 1)
        for _ in range(4)
    ]
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stdout + stderr
    assert not rel.temporaries(out)
    for f in sorted(batch.iterdir()):
        got = tifffile.imread(out / f.name.replace(".tif", "_denoised.tif"))
        np.testing.assert_array_equal(got, denoiser.run(tifffile.imread(f)))


def test_without_overwrite_a_racing_output_is_never_replaced(
    batch: Path, tmp_path: Path, tiny_model: Path, rel: Any
) -> None:
    """Runs without --overwrite or --skip-existing: an output another run finished first is kept.

    The loser reports the file and exits 1; the winner's file stays exactly as written.
    """
    out = tmp_path / "out"
    files = sorted(batch.iterdir())[:3]
    procs = [
        rel.start("denoise", *files, "-o", out, "--model", tiny_model, "--device", "cpu", "--threads", 1)
        for _ in range(3)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (stdout, stderr) in zip(procs, results, strict=True):
        assert p.returncode in (0, 1), stdout + stderr
        assert "Traceback" not in stderr
        for line in rel.error_lines(stderr):
            assert "_denoised.tif" in line and ("exists already" in line or "appeared while" in line), line
    # one "input -> output" line on stdout per file a run wrote
    written = sum(
        sum(" -> " in line and not line.startswith("Denoised") for line in stdout.splitlines()) for stdout, _ in results
    )
    assert written == len(files), [r[0] for r in results]  # each output written by exactly one run
    assert not rel.temporaries(out)


def test_same_input_same_output_bit_for_bit(tiny_model: Path, rel: Any) -> None:
    """Repeated calls, fresh Denoisers, stream vs run and tile budgets that batch differently agree exactly."""
    x = rel.stack(5, 90, 70, seed=3)
    first = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1)).run(x)
    again = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1))
    for _ in range(3):
        np.testing.assert_array_equal(again.run(x), first)
    np.testing.assert_array_equal(np.stack(list(again.stream(iter(x)))), first)
    page_by_page = np.stack([again.run(p) for p in x])
    np.testing.assert_array_equal(page_by_page, first)
    two_threads = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=2)).run(x)
    np.testing.assert_array_equal(two_threads, first)
