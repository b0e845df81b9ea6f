"""Tile plans: cores partition the image, windows are equal, halos are respected."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fluorodn.tiling import axis_windows, plan_tiles, window_shape


@pytest.mark.parametrize(
    ("length", "window", "halo"),
    [(1, 5, 3), (10, 10, 3), (10, 7, 3), (100, 11, 5), (100, 12, 5), (101, 30, 5), (1000, 64, 20), (57, 41, 20)],
)
def test_axis_windows_partition_and_halo(length: int, window: int, halo: int) -> None:
    wins = axis_windows(length, window, halo)
    covered = np.zeros(length, dtype=int)
    size = min(window, length)
    for start, stop, c0, c1 in wins:
        assert stop - start == size
        assert 0 <= start <= c0 < c1 <= stop <= length
        covered[c0:c1] += 1
        if start > 0:
            assert c0 - start >= halo
        if stop < length:
            assert stop - c1 >= halo
    assert (covered == 1).all()


def test_axis_window_must_exceed_twice_the_halo() -> None:
    with pytest.raises(ValueError, match="twice the halo"):
        axis_windows(100, 10, 5)


def test_window_shape_prefers_whole_rows_for_spectra() -> None:
    assert window_shape((44_000, 152), 20, 1 << 18) == ((1 << 18) // 152, 152)
    assert window_shape((50, 40), 20, 1 << 18) == (50, 40)


def test_window_shape_square_for_wide_images() -> None:
    wr, wc = window_shape((5000, 5000), 20, 1 << 18)
    assert wr == wc == 512
    # a tiny budget is overridden by the minimum window (4 x halo per side)
    assert window_shape((5000, 5000), 20, 100) == (80, 80)


def test_plan_tiles_cover_image_once() -> None:
    for shape, window in itertools.product([(37, 53), (120, 40), (11, 11)], [(11, 11), (20, 15), (64, 64)]):
        plan = plan_tiles(shape, 5, window=window)
        count = np.zeros(shape, dtype=int)
        for tile in plan:
            count[tile.core] += 1
            assert count[tile.window].shape == plan.window
            rows, cols = tile.inner
            assert rows.stop - rows.start == tile.core[0].stop - tile.core[0].start
            assert cols.stop - cols.start == tile.core[1].stop - tile.core[1].start
        assert (count == 1).all()


def test_plan_requires_budget_or_window() -> None:
    with pytest.raises(ValueError, match="budget"):
        plan_tiles((10, 10), 2)
