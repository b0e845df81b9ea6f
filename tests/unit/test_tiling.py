"""Tile plans: cores partition the image, windows are equal, halos are respected."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fluorodn.tiling import axis_windows, even_window, plan_tiles, window_shape


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


def _computed(shape: tuple[int, int], halo: int, window: tuple[int, int]) -> int:
    plan = plan_tiles(shape, halo, window=window)
    return len(plan) * plan.window_pixels


def test_window_shape_prefers_whole_rows_for_spectra() -> None:
    wr, wc = window_shape((44_000, 152), 20, 1 << 18)
    assert wc == 152 and wr * wc <= 1 << 18
    # evenly sized: 27 windows of 1671 rows, not 26 of 1724 and a last one mostly recomputed
    assert _computed((44_000, 152), 20, (wr, wc)) <= 1.025 * 44_000 * 152
    assert window_shape((50, 40), 20, 1 << 18) == (50, 40)


def test_page_just_over_the_budget_is_split_evenly() -> None:
    # a 2048 x 152 page over a 1724-row budget: two 1044-row windows (2088 rows), not two of 1724
    assert window_shape((2048, 152), 20, 1 << 18) == (1044, 152)
    assert len(plan_tiles((2048, 152), 20, budget=1 << 18)) == 2


def test_window_shape_for_wide_images_computes_fewer_pixels() -> None:
    shape = (2048, 2048)
    wr, wc = window_shape(shape, 20, 1 << 18)
    assert wr * wc <= 1 << 18
    bands = _computed(shape, 20, ((1 << 18) // 2048, 2048))  # whole-row bands of 128 rows
    best = _computed(shape, 20, (wr, wc))
    assert best <= 1.15 * shape[0] * shape[1] < 0.8 * bands
    # a tiny budget is overridden by the minimum window (4 x halo per side)
    assert window_shape((5000, 5000), 20, 100) == (80, 80)


@pytest.mark.parametrize("seed", range(5))
def test_window_shape_respects_budget_and_never_beats_whole_bands(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(15):
        shape = (int(rng.integers(1, 4000)), int(rng.integers(1, 2500)))
        halo = int(rng.integers(0, 25))
        budget = int(rng.integers(max(64, 16 * halo * halo), 1 << 19))
        wr, wc = window_shape(shape, halo, budget)
        plan = plan_tiles(shape, halo, window=(wr, wc))
        count = np.zeros(shape, dtype=np.int8)
        for tile in plan:
            count[tile.core] += 1
        assert (count == 1).all()
        min_side = max(4 * halo, 8)
        if budget // shape[1] >= min(shape[0], min_side):  # whole-row bands were possible
            assert wr * wc <= budget
            band = min(shape[0], budget // shape[1])
            assert len(plan) * plan.window_pixels <= _computed(shape, halo, (band, shape[1]))


@pytest.mark.parametrize(
    ("length", "window", "halo"), [(2048, 1724, 20), (44_156, 1724, 20), (100, 30, 5), (57, 41, 20)]
)
def test_even_window_keeps_the_count_and_is_minimal(length: int, window: int, halo: int) -> None:
    even = even_window(length, window, halo)
    n = len(axis_windows(length, window, halo))
    assert even <= window
    assert len(axis_windows(length, even, halo)) == n
    if even - 1 > 2 * halo:
        assert len(axis_windows(length, even - 1, halo)) > n


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


@pytest.mark.parametrize(("shape", "window"), [((37, 53), (21, 25)), ((7, 9), (30, 30)), ((64, 20), (40, 30))])
def test_mirrored_border_equals_an_explicitly_padded_page(shape: tuple[int, int], window: tuple[int, int]) -> None:
    """denoise_pages with ``pad`` (windows gathering mirrored rows and columns at the border)
    gives what one call on the page padded with numpy's "symmetric" mode gives, cropped, for
    any tiling; also for a page smaller than the halo (the mirror repeats)."""
    from scipy.ndimage import uniform_filter

    from fluorodn._engine import denoise_pages

    halo = 4

    def net(b: np.ndarray) -> np.ndarray:  # local means of radius <= halo, zero beyond the window
        return np.stack([[uniform_filter(c, 9, mode="constant") * 0.5 for c in row] for row in b]).astype(np.float32)

    rng = np.random.default_rng(0)
    pages = [rng.standard_normal(shape) * 3 + 10 for _ in range(2)]
    scales = [(10.0, 3.0), (9.0, 2.0)]
    got = [np.empty(shape, np.float32) for _ in pages]
    padded_shape = (shape[0] + 2 * halo, shape[1] + 2 * halo)
    plan = plan_tiles(padded_shape, halo, window=window)
    seen: list[int] = []
    denoise_pages(net, plan, 10**7, pages, scales, got, seen.append)
    assert sum(seen) == 2 * shape[0] * shape[1]
    with pytest.raises(ValueError, match="equal border"):
        denoise_pages(
            net, plan_tiles((shape[0] + 2, shape[1] + 4), halo, window=window), 10**7, pages, scales, got, None
        )
    for page, (m, s), out in zip(pages, scales, got, strict=True):
        ext = np.pad(page, halo, mode="symmetric")
        whole = ext - s * net(((ext - m) / s)[None, None])[0, 0]
        np.testing.assert_allclose(out, whole[halo:-halo, halo:-halo], rtol=1e-5, atol=1e-4)
