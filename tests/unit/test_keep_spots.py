"""Putting flattened spots back reads only the squares around the spots, and gives the values that
filtering the whole page gives: the same masks and the same smoothing, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, maximum_filter

from fluorodn import _engine
from fluorodn._engine import KEEP_CORE, KEEP_HALO, KEEP_SMOOTH, contrast, keep_spots, spot_peaks, spot_removal


def _whole_page(page: np.ndarray, out: np.ndarray) -> int:
    """:func:`keep_spots` written with filters over the whole page: square maximum filters for the
    masks, the Gaussian over every pixel."""
    rows, cols = spot_peaks(page)
    if not len(rows):
        return 0
    marks = np.zeros(page.shape, bool)
    marks[rows, cols] = True
    core = maximum_filter(marks, 2 * KEEP_CORE + 1, mode="constant")
    halo = maximum_filter(marks, 2 * KEEP_HALO + 1, mode="constant") & ~core
    removed = np.asarray(page, np.float32) - out
    out[core] += removed[core]
    removed[core] = 0.0
    out[halo] += gaussian_filter(removed, KEEP_SMOOTH, mode="mirror")[halo]
    return len(rows)


def _page(shape: tuple[int, int], at: list[tuple[int, int]], seed: int) -> np.ndarray:
    """Poisson counts of Gaussian spots (width 1.3 px, peaks about 32x the noise) at ``at`` on a
    background of 400."""
    points = np.zeros(shape)
    for r, c in at:
        points[r, c] = 1.0
    clean = 400.0 + 4.0 * 160.0 * 2 * np.pi * 1.3**2 * gaussian_filter(points, 1.3)
    return np.random.default_rng(seed).poisson(clean).astype(np.float32)


_RNG = np.random.default_rng(3)
PAGES = {
    "spots apart": ((256, 256), [tuple(p) for p in _RNG.integers(8, 248, (40, 2))]),
    "at the corners and edges": ((64, 80), [(2, 2), (2, 77), (61, 2), (61, 77), (30, 3), (3, 40), (32, 40)]),
    "one spot on a small page": ((24, 24), [(12, 12)]),
    "a page narrower than a patch": ((15, 40), [(7, 7), (7, 30)]),
    "spots packed": ((128, 128), [tuple(p) for p in _RNG.integers(2, 126, (400, 2))]),
    "a narrow page": ((300, 33), [tuple(p) for p in _RNG.integers(2, 31, (30, 2))]),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_spots_are_put_back_as_filtering_the_whole_page_puts_them(name: str) -> None:
    shape, at = PAGES[name]
    page = _page(shape, at, seed=len(name))
    out = (0.8 * page + 80.0).astype(np.float32)  # the spots flattened
    ours, whole = out.copy(), out.copy()
    found = keep_spots(page, ours)
    assert found == _whole_page(page, whole) and found >= 1
    np.testing.assert_array_equal(ours, whole)
    # the page's contrast read once serves both the reading and putting the spots back
    seen = contrast(page)
    again = out.copy()
    assert keep_spots(page, again, seen) == found
    np.testing.assert_array_equal(again, whole)
    np.testing.assert_array_equal(spot_removal(page, out, seen), spot_removal(page, out))  # NaN equals NaN
    with pytest.raises(ValueError, match="contrast of"):  # another page's
        keep_spots(page[1:], out[1:].copy(), seen)


def test_the_halos_are_smoothed_on_patches_or_the_whole_page_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Few spots on a large page smooth patches around them; many, or a page no wider than a patch,
    the whole page. Both give the whole page's values on the halos."""
    calls: list[tuple[int, ...]] = []
    real = gaussian_filter

    def counted(a: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        calls.append(a.shape)
        return real(a, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("scipy.ndimage.gaussian_filter", counted)
    side = 2 * (KEEP_HALO + 4) + 1
    for name, patched in (("spots apart", True), ("spots packed", False), ("a page narrower than a patch", False)):
        shape, at = PAGES[name]
        page = _page(shape, at, seed=1)
        calls.clear()
        keep_spots(page, (0.8 * page + 80.0).astype(np.float32))
        assert len(calls) == 1
        assert (calls[0][1:] == (side, side)) is patched, (name, calls)
    assert _engine._SMOOTH_REACH == 4  # scipy's Gaussian of 1 pixel reaches 4


def test_the_removal_check_puts_spots_back_as_reading_each_page_anew_does() -> None:
    """:func:`fluorodn._engine.removal_check` reads a page's contrast once for the spots' reading
    and putting them back: the message and every output value equal those of reading it anew for
    each, on the pages of a stack (pages read whole, and one read in blocks)."""
    pages = [_page(shape, at, seed=k) for k, (shape, at) in enumerate(PAGES.values())]
    pages.append(_page((300, 400), [tuple(p) for p in np.random.default_rng(5).integers(8, 290, (60, 2))], seed=9))
    outs = [(0.6 * p + 160.0).astype(np.float32) for p in pages]  # the spots flattened
    ours = [o.copy() for o in outs]
    said, kept, _ = _engine.removal_check(pages, ours, keep=True)
    assert kept > 0 and said is not None and "was put back" in said
    anew = [o.copy() for o in outs]
    for page, out in zip(pages, anew, strict=True):
        _, _, bright, _, level, lit = _engine._removal_readings(page, out)
        if bright or lit > _engine.SPOT_LIT:  # a bright tail, or many bright values: spots read
            _, share, core, over = _engine.spot_readings(page, out)
            cores = core / level > _engine.SPOT_CORE and over / level > _engine.SPOT_BRIGHT
            if (bright and share > _engine.SPOT_REMOVED) or cores:
                keep_spots(page, out)
    for a, b in zip(ours, anew, strict=True):
        np.testing.assert_array_equal(a, b)
