"""Long and large: memory stays flat for long stacks, big files and many calls.

The long cases are marked ``reliability`` (run them with ``pytest -m reliability``); they
measure the peak resident memory of a ``fluorodn denoise`` child process (``wait4``) on a
small file and on a big one of the same page size: the difference must stay small,
i.e. memory is bounded by the pages and tiles in flight, not by the file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from fluorodn import Denoiser, DenoiserOptions

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="measures RSS via /proc and wait4")


def _calls_grow_memory(dn: Denoiser, calls: int, rel: Any) -> list[float]:
    """RSS (MB) after a warm-up and then at four points of ``calls`` run() calls."""
    rng = np.random.default_rng(0)
    inputs = [rng.poisson(100, (48, 40)).astype(np.uint16) for _ in range(8)]
    for i in range(200):
        dn.run(inputs[i % 8])
    marks = []
    for i in range(calls):
        dn.run(inputs[i % 8])
        if (i + 1) % (calls // 4) == 0:
            marks.append(rel.rss_mb())
    return marks


@linux_only
def test_a_thousand_run_calls_do_not_grow_memory(tiny_model: Path, rel: Any) -> None:
    dn = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1))
    marks = _calls_grow_memory(dn, 1_000, rel)
    assert marks[-1] - marks[0] < 2.0, f"RSS grew from {marks[0]:.1f} to {marks[-1]:.1f} MB"


@linux_only
@pytest.mark.reliability
def test_ten_thousand_run_calls_do_not_grow_memory(tiny_model: Path, rel: Any) -> None:
    dn = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1))
    marks = _calls_grow_memory(dn, 10_000, rel)
    print(f"RSS after 2,500 / 5,000 / 7,500 / 10,000 calls: {' / '.join(f'{m:.1f}' for m in marks)} MB")
    assert marks[-1] - marks[0] < 2.0, f"RSS grew from {marks[0]:.1f} to {marks[-1]:.1f} MB"


def _write_stack(path: Path, n_pages: int, page: tuple[int, int], dtype: Any, **kw: Any) -> None:
    """Write ``n_pages`` pages page by page (the test never holds the whole stack)."""
    rng = np.random.default_rng(0)
    base = rng.poisson(200, (16, *page)).astype(dtype)

    def pages() -> Any:
        for k in range(n_pages):
            yield base[k % 16] + dtype(k % 7)

    tifffile.imwrite(path, pages(), shape=(n_pages, *page), dtype=dtype, photometric="minisblack", **kw)


def _denoise_measured(src: Path, out: Path, model: Path, rel: Any, *extra: Any) -> tuple[float, float]:
    code, peak, seconds, stdout, stderr = rel.run_measured(
        ("denoise", src, "-o", out, "--model", model, "--device", "cpu", *extra)
    )
    assert code == 0, stdout + stderr
    return peak, seconds


def _spot_check(src: Path, out: Path, model: Path, pages: list[int]) -> None:
    """Some pages of the output equal the library's result (a fresh process, so the default threads)."""
    dn = Denoiser(model, device="cpu")
    with tifffile.TiffFile(src) as a, tifffile.TiffFile(out) as b:
        assert len(b.series[0].shape) == len(a.series[0].shape) and b.series[0].shape == a.series[0].shape
        for k in pages:
            want = dn.run(a.pages[k].asarray())
            np.testing.assert_allclose(b.pages[k].asarray(), want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


@linux_only
@pytest.mark.reliability
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_20000_page_stack_flat_memory(tmp_path: Path, tiny_model: Path, rel: Any, compression: str | None) -> None:
    small, big = tmp_path / "small.tif", tmp_path / "big.tif"
    _write_stack(small, 1_000, (32, 32), np.uint16, compression=compression)
    _write_stack(big, 20_000, (32, 32), np.uint16, compression=compression)
    peak_small, t_small = _denoise_measured(small, tmp_path / "out", tiny_model, rel)
    peak_big, t_big = _denoise_measured(big, tmp_path / "out", tiny_model, rel)
    print(
        f"20,000 x 32 x 32 uint16 ({compression or 'uncompressed'}): peak RSS {peak_big:.0f} MB in {t_big:.1f} s; "
        f"1,000 pages: {peak_small:.0f} MB in {t_small:.1f} s"
    )
    assert peak_big - peak_small < 25, f"peak RSS {peak_small:.0f} MB -> {peak_big:.0f} MB"
    with tifffile.TiffFile(tmp_path / "out" / "big_denoised.tif") as tif:
        assert tif.series[0].shape == (20_000, 32, 32)
    _spot_check(big, tmp_path / "out" / "big_denoised.tif", tiny_model, [0, 9_999, 19_999])


@linux_only
@pytest.mark.reliability
def test_bigtiff_over_2gb_flat_memory(tmp_path: Path, tiny_model: Path, rel: Any) -> None:
    """A 2.2 GB BigTIFF (270 float64 pages of 1024 x 1024) against 8 pages of the same size."""
    small, big = tmp_path / "small.tif", tmp_path / "big.tif"
    _write_stack(small, 8, (1024, 1024), np.float64, bigtiff=True)
    _write_stack(big, 270, (1024, 1024), np.float64, bigtiff=True)
    assert big.stat().st_size > 2 * 2**30
    peak_small, t_small = _denoise_measured(small, tmp_path / "out", tiny_model, rel)
    peak_big, t_big = _denoise_measured(big, tmp_path / "out", tiny_model, rel)
    print(
        f"{big.stat().st_size / 2**30:.2f} GiB BigTIFF: peak RSS {peak_big:.0f} MB in {t_big:.1f} s; "
        f"8 pages: {peak_small:.0f} MB in {t_small:.1f} s"
    )
    assert peak_big - peak_small < 64, f"peak RSS {peak_small:.0f} MB -> {peak_big:.0f} MB"
    _spot_check(big, tmp_path / "out" / "big_denoised.tif", tiny_model, [0, 135, 269])
