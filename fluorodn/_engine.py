"""The image path's engine and the checks of what :meth:`fluorodn.Denoiser.run` is given.

:func:`denoise_pages` cuts each page into the equal windows of a tile plan, normalizes
them with the page's ``(m, s)``, sends them to the network in batches up to a pixel
budget, and writes ``page - s * noise`` of each window's core into the output; the cores
partition the page, so the stitched result equals the whole-page result. The plan covers the
page extended by mirrored pixels, so that its border is denoised like its interior.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from fluorodn.errors import InputError
from fluorodn.tiling import Tile, TilePlan

__all__ = [
    "CLIP_SHARE",
    "FILL_ADVICE",
    "MAX_VALUE",
    "MIN_VALUE",
    "REMOVAL_LIMIT",
    "Net",
    "Progress",
    "check_input",
    "check_scale",
    "check_values",
    "clipping",
    "clipping_warning",
    "denoise_pages",
    "keep_spots",
    "percent",
    "removal_check",
    "removal_excess",
    "removal_warning",
    "tiny_error",
]

#: The network: a float32 batch in, the noise it estimates out (same shape).
Net = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[int], None]
#: Rows x cols checked for NaN/inf at a time (bounds the temporary boolean mask).
_CHECK_BLOCK = 1 << 22


def _source(axis: slice, n: int, pad: int) -> slice | np.ndarray:
    """Indices of a length-``n`` axis for ``axis`` of the same axis extended by ``pad``
    mirrored samples at each end (:func:`numpy.pad` ``"symmetric"``, repeated for short axes)."""
    lo, hi = axis.start - pad, axis.stop - pad
    if lo >= 0 and hi <= n:
        return slice(lo, hi)
    i = np.mod(np.arange(lo, hi), 2 * n)
    return np.where(i < n, i, 2 * n - 1 - i)


def _window(page: np.ndarray, window: tuple[slice, slice], pad: int) -> np.ndarray:
    rows, cols = (_source(a, n, pad) for a, n in zip(window, page.shape, strict=True))
    if isinstance(rows, slice) and isinstance(cols, slice):
        return page[rows, cols]
    as_index = [np.arange(a.start, a.stop) if isinstance(a, slice) else a for a in (rows, cols)]
    return page[np.ix_(*as_index)]


def _clip_core(tile: Tile, shape: tuple[int, int], pad: int) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """(output slices in page coordinates, the same region in window coordinates) of the part
    of ``tile``'s core inside the page, or None when its core lies in the mirrored border."""
    out, inner = [], []
    for core, win, n in zip(tile.core, tile.inner, shape, strict=True):
        lo, hi = max(core.start, pad), min(core.stop, pad + n)
        if lo >= hi:
            return None
        out.append(slice(lo - pad, hi - pad))
        inner.append(slice(win.start + lo - core.start, win.start + hi - core.start))
    return (out[0], out[1]), (inner[0], inner[1])


def denoise_pages(
    net: Net,
    plan: TilePlan,
    budget: int,
    pages: Sequence[np.ndarray],
    scales: Sequence[tuple[float, float]],
    outs: Sequence[np.ndarray],
    progress: Progress | None,
) -> None:
    """Denoise ``pages`` (all of one shape (H, W)) into ``outs`` (float32), page ``p`` with ``scales[p]``.

    ``plan`` tiles either the pages themselves (the network zero-pads at their border) or the
    pages extended by ``pad`` mirrored pixels on every side (``plan.shape`` is
    ``(H + 2 pad, W + 2 pad)``): with ``pad`` at least the network's halo, the pixels at a
    page's border see mirrored neighbours instead of zeros, as interior pixels see real ones.
    The extension is never materialized: windows that reach into it gather mirrored rows and
    columns. Windows are batched up to ``budget`` pixels per call, across pages; the cores of
    the windows stitch exactly. ``progress`` is called with the output pixels finished after
    each call.
    """
    wr, wc = plan.window
    shape = (int(pages[0].shape[0]), int(pages[0].shape[1]))
    pad = (plan.shape[0] - shape[0]) // 2
    if pad < 0 or plan.shape != (shape[0] + 2 * pad, shape[1] + 2 * pad):
        raise ValueError(f"a plan of {plan.shape} does not tile pages of {shape} with an equal border on every side")
    work = [(tile, clipped) for tile in plan if (clipped := _clip_core(tile, shape, pad)) is not None]
    per_call = max(1, min(budget // plan.window_pixels, len(work) * len(pages)))
    batch = np.empty((per_call, 1, wr, wc), dtype=np.float32)
    norm = np.empty((wr, wc), dtype=np.float64)
    pending: list[tuple[int, tuple[tuple[slice, slice], tuple[slice, slice]]]] = []

    def flush() -> None:
        n = len(pending)
        noise = net(batch[:n])
        done = 0
        for k, (p, (core, inner)) in enumerate(pending):
            _, s = scales[p]
            page_core = pages[p][core]
            np.subtract(
                page_core,
                s * noise[k, 0][inner].astype(np.float64),
                out=norm[: page_core.shape[0], : page_core.shape[1]],
            )
            outs[p][core] = norm[: page_core.shape[0], : page_core.shape[1]]
            done += page_core.size
        pending.clear()
        if progress is not None:
            progress(done)

    for p, page in enumerate(pages):
        m, s = scales[p]
        inv = 1.0 / s
        # float16 values are subtracted in float32, as the same values given as float32 are
        wider = np.float32 if page.dtype == np.float16 else None
        for tile, clipped in work:
            np.subtract(_window(page, tile.window, pad), m, out=norm, dtype=wider)
            norm *= inv
            batch[len(pending), 0] = norm
            pending.append((p, clipped))
            if len(pending) == per_call:
                flush()
    if pending:
        flush()


#: How :func:`check_input` names the layout of an array of 2 or 3 dimensions.
_LAYOUTS = {2: "(H, W)", 3: "(pages, H, W)"}


def masked_refusal(x: Any) -> str | None:
    """The refusal of a masked array that masks any value (its data there are no measurement, and
    NaN under the mask would escape the checks), or None."""
    if not (isinstance(x, np.ma.MaskedArray) and (masked := int(np.ma.count_masked(x)))):
        return None
    return (
        f"the input is a masked array with {masked} masked value{'s' if masked != 1 else ''}, which fluorodn "
        f"cannot leave out: make them NaN (x = x.astype(float).filled(np.nan)) and {FILL_ADVICE}"
    )


def check_input(x: Any, ndims: tuple[int, ...], pages: bool = True, first_page: int = 0) -> np.ndarray:
    """``x`` as a plain array (an ndarray subclass as an ndarray view of its data, not copied) of
    real numbers with one of ``ndims`` dimensions (consecutive), not empty, finite and within
    float32's range (:func:`check_values`; ``pages``: its pages are whole pages, not blocks of a
    chunked run; ``first_page``: the index of its first page in a larger stack, which the messages
    name); InputError naming what is wrong otherwise. A masked array is refused if it masks
    any value: its data there are not measurements, and NaN under the mask would escape the check."""
    if x is None:
        raise InputError("expected an array of real numbers (ints or floats), got None")
    if (masked := masked_refusal(x)) is not None:
        raise InputError(masked)
    try:
        arr = np.asarray(x)
    except ValueError:
        if not isinstance(x, list | tuple):
            raise
        raise InputError(
            "expected an array of real numbers, got nested lists of unequal lengths, which make no array; give "
            "every row (and every page) the same length"
        ) from None
    kind = arr.dtype.kind
    if kind not in "iuf":
        what = {"b": "boolean ", "c": "complex ", "O": "object ", "U": "string ", "S": "bytes "}.get(kind, "")
        hint = (
            " (a table's nullable column, such as pandas' Float32, gives objects: convert it with .to_numpy(float))"
            if kind == "O"
            else ""
        )
        raise InputError(f"expected an array of real numbers (ints or floats), got {what}dtype {arr.dtype}{hint}")
    if arr.ndim not in ndims:
        lo, hi = min(ndims), max(ndims)
        want = (
            f"a {lo}D array {_LAYOUTS.get(lo, '')}".rstrip()
            if lo == hi
            else f"an array of {lo} to {hi} dimensions ((H, W), (pages, H, W) or more leading page axes)"
        )
        raise InputError(f"expected {want}, got {arr.ndim}D with shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"expected a non-empty array, got shape {arr.shape}")
    if (colour := colour_layout(arr.shape)) is not None:
        raise InputError(colour)
    check_values(arr, pages=pages, first_page=first_page)
    return arr


#: Pages of 3 or 4 values across and at least this many down read as colour pixels (H, W, 3 or 4):
#: no recording has 3 or 4 bins (the spectral path needs 24), no frame is 4 pixels wide.
COLOUR_ROWS = 8


def colour_layout(shape: tuple[int, ...]) -> str | None:
    """The refusal of an array of ``shape`` laid out as colour pixels, (H, W, 3) or (H, W, 4) (a
    stack of H pages of W x 3 values to fluorodn), or None."""
    if len(shape) < 3 or shape[-1] not in (3, 4) or shape[-2] < COLOUR_ROWS:
        return None
    h, w = shape[-2:]
    return (
        f"its shape {tuple(shape)} makes pages of {h} x {w} values, as a colour image's (H, W, {w}) pixels are laid "
        "out; fluorodn denoises single-channel pages (pages, H, W): give one channel (x[..., 0]), or move the axis "
        "of pages first (np.moveaxis(x, -1, 0))"
    )


#: Largest magnitude of an input value: the network and the output are float32.
MAX_VALUE = float(np.finfo(np.float32).max)
#: Least that the largest magnitude of a page not all 0 may be: float32's smallest normal number
#: (below it float32 keeps fewer digits, and below 1.4e-45 none).
MIN_VALUE = float(np.finfo(np.float32).tiny)

#: What a refusal of NaN/inf values advises: interpolation over time keeps a recording's spectra,
#: where zeros put in their place would be spread over the spectrum by the projection.
FILL_ADVICE = (
    "fill them first by interpolation over time, e.g. x = fluorodn.files.fill_nonfinite(x)[0] after import "
    "fluorodn.files (on each (T, W) page of a stack)"
)


def check_values(
    arr: np.ndarray, origin: tuple[int, ...] | None = None, pages: bool = True, first_page: int = 0
) -> None:
    """Raise InputError at the first NaN/inf of a float ``arr`` of 2 or more dimensions (pages over
    its last two axes), at the first value beyond :data:`MAX_VALUE` in magnitude, or at the first
    page whose values are not all 0 but all below :data:`MIN_VALUE` in magnitude (float32 holds
    them with few digits or as 0), scanning in blocks so memory stays bounded. ``origin``: the
    index of ``arr``'s first element in a larger array, which the message then names the index in
    (one block of a dask array, whose pages are not whole: the last check is left out, as it is
    where ``pages`` is False); ``first_page``: the index of a stack's first page in a larger stack
    (a block of whole pages); integer arrays always pass."""
    whole = pages and origin is None  # whole pages, whose magnitude the last check reads
    if origin is None and first_page:
        origin = (first_page, *(0,) * (arr.ndim - 1))
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    wide = arr.dtype.itemsize > 4  # float32 and narrower hold nothing beyond MAX_VALUE but inf
    narrow = arr.dtype.itemsize < 4  # float16 holds nothing nonzero below MIN_VALUE
    for lead in np.ndindex(*arr.shape[:-2]):  # one empty index for a 2D array
        page = arr[lead]
        step = max(1, _CHECK_BLOCK // max(1, page.shape[1]))
        # no value of the page seen at MIN_VALUE or above yet (its first row settles most pages)
        tiny = not narrow and whole and not float(np.abs(page[0]).max()) >= MIN_VALUE
        top = 0.0  # the largest magnitude seen while ``tiny``
        for r in range(0, page.shape[0], step):
            block = page[r : r + step]
            finite = bool(np.isfinite(block).all())
            beyond = False
            if finite and (wide or tiny):
                hi, lo = block.max(), block.min()
                beyond = wide and bool(hi > MAX_VALUE or lo < -MAX_VALUE)
                if tiny:
                    top = max(top, float(hi), -float(lo))
                    tiny = top < MIN_VALUE
            if finite and not beyond:
                continue
            i, j = (int(v) for v in np.argwhere(np.abs(block) > MAX_VALUE if finite else ~np.isfinite(block))[0])
            at = (*(int(k) for k in lead), r + i, j)
            where = f"first at index {at}" if origin is None else f"one at index {_shifted(at, origin)}"
            if not finite:
                raise InputError(f"input contains NaN or infinite values ({where}); {FILL_ADVICE}")
            value = block[i, j]  # a longdouble may lie beyond float64 too
            raise InputError(
                f"input holds {np.format_float_scientific(value, precision=2, trim='-')} ({where}), beyond the "
                f"largest float32 ({MAX_VALUE:.3g}) that fluorodn computes in; divide it by a power of ten first, "
                f"e.g. 1e{int(np.floor(np.log10(np.abs(value)))) - 6}, and multiply the output by it "
                "(run(k * x) equals k * run(x))"
            )
        if tiny and top > 0:
            raise tiny_error(top, _shifted(lead, origin[: len(lead)]) if origin is not None else lead)


def tiny_error(top: float, page: tuple[int, ...] = ()) -> InputError:
    """The refusal of a page (index ``page`` of a stack, none for a 2D array) whose values are not
    all 0 but all below :data:`MIN_VALUE` in magnitude, ``top`` the largest."""
    page = tuple(int(k) for k in page)
    where = f" in page index {page[0] if len(page) == 1 else page}" if page else ""
    return InputError(
        f"the input's largest magnitude is {top:.3g}{where}, "
        f"below the smallest normal float32 ({MIN_VALUE:.3g}) that fluorodn computes in, where values keep "
        f"few digits or turn to 0; multiply it by a power of ten in float64 first, e.g. "
        f"1e{6 - int(np.floor(np.log10(top)))}, and divide the output by it (run(k * x) equals k * run(x))"
    )


def _shifted(index: tuple[int, ...], origin: tuple[int, ...]) -> tuple[int, ...]:
    """``index`` in a block whose first element lies at ``origin`` of a larger array, in that array."""
    return tuple(int(a + b) for a, b in zip(index, origin, strict=True))


#: Share of an input's values at its maximum (or minimum) above which :func:`clipping` looks at them.
CLIP_SHARE = 1e-3
#: Fewest values at the maximum (or minimum) that :func:`clipping` looks at.
CLIP_CELLS = 16
#: How many times the values at the next distinct value the extreme's must number in :func:`clipping`.
CLIP_EXCESS = 8


def clipping(arr: np.ndarray) -> tuple[str, float, float] | None:
    """``("maximum" | "minimum", value, share)`` if at least ``CLIP_SHARE`` of ``arr``'s values (and
    ``CLIP_CELLS``) equal its maximum (minimum) and outnumber those at the next distinct value
    inwards ``CLIP_EXCESS`` times, as a detector that saturated or data clipped at a floor leave
    them; None otherwise. Noise makes exact repeats of an extreme value rare; in counts so low
    that the extreme is common (many zeros), the next value is common too. Scans in blocks, so
    memory stays bounded; the larger share is reported if both ends qualify."""
    hi, lo = arr.max(), arr.min()
    if hi == lo:
        return None
    ends = {"maximum": hi, "minimum": lo}
    cells = dict.fromkeys(ends, 0)
    for block in _blocks(arr):
        for side, value in ends.items():
            cells[side] += int(np.count_nonzero(block == value))
    wanted = [side for side in ends if cells[side] >= max(CLIP_CELLS, CLIP_SHARE * arr.size)]
    if not wanted:  # the common case: two reductions and two comparisons
        return None
    near = {"maximum": lo, "minimum": hi}  # the next distinct value inwards from each end
    for block in _blocks(arr):
        near["maximum"] = np.max(block, where=block < hi, initial=near["maximum"])
        near["minimum"] = np.min(block, where=block > lo, initial=near["minimum"])
    beside = dict.fromkeys(wanted, 0)
    for block in _blocks(arr):
        for side in wanted:
            beside[side] += int(np.count_nonzero(block == near[side]))
    found = [(cells[s] / arr.size, s, float(ends[s])) for s in wanted if cells[s] >= CLIP_EXCESS * beside[s]]
    if not found:
        return None
    share, side, value = max(found)
    return side, value, share


def _blocks(arr: np.ndarray) -> Iterator[np.ndarray]:
    """Blocks of rows of about ``_CHECK_BLOCK`` values over the pages of a 2D or 3D ``arr``."""
    pages = [arr] if arr.ndim == 2 else (arr[i] for i in range(arr.shape[0]))
    for page in pages:
        step = max(1, _CHECK_BLOCK // page.shape[1])
        for r in range(0, page.shape[0], step):
            yield page[r : r + step]


def percent(share: float) -> str:
    """A share from 0 to 1 as a percentage for a message: two significant digits under 10 %
    (``"0.42"``, ``"5.3"``), one decimal from there (``"99.7"``), and ``"over 99.9"`` for a share
    that would round to 100 without being all."""
    p = 100.0 * share
    if p < 9.95:  # below what rounds to 10.0
        return f"{p:.2g}"
    if p >= 99.95 and share < 1.0:
        return "over 99.9"
    return f"{p:.1f}" if share < 1.0 else "100"


def clipping_warning(
    arr: np.ndarray,
    consequence: str = "which no training recording had, so the denoised values there are not measurements",
) -> str | None:
    """The sentence an input :func:`clipping` finds clipped gets (a denoiser's ``OutOfDomainWarning``,
    or what ``consequence`` says follows), or None."""
    found = clipping(arr)
    if found is None:
        return None
    side, value, share = found
    why = (
        "the data were clipped at a floor there, or count very few photons (a sparse frame)"
        if side == "minimum" and value == 0 and share > 0.5
        else "the detector saturated (or the data were clipped) there"
    )
    return f"{percent(share)} % of the values equal the input's {side} {value:g}: {why}, {consequence}"


#: Most that the image path may remove, in units of the input's noise level as
#: :func:`removal_excess` measures it, before it is taken to have removed structure as well.
REMOVAL_LIMIT = 1.2
#: Most values of a page that :func:`removal_excess` reads.
REMOVAL_VALUES = 1 << 17
#: Most differences, each way, from which :func:`removal_readings` measures the noise of a page
#: whose values are not whole numbers (:func:`sample_values`; a page of whole numbers, all of them):
#: the median it takes costs more per value the more values it is given, and over this many the
#: noise level it gives lies within about 1 % of all the differences' (the standard error of a MAD
#: over 16384 Gaussian values is 0.9 %; at most 2.4 % on the images benchmark's frames, which
#: ``images.md`` reads both ways), so that a reading within a few per cent of
#: :data:`REMOVAL_LIMIT` may fall on either side of it.
NOISE_VALUES = 1 << 14
#: Seed of :func:`sample_values`' draw: fixed, so that a page gives the same readings each time.
SAMPLE_SEED = 0


#: Values :func:`whole_numbers` looks at.
WHOLE_LOOK = 1024


def whole_numbers(page: np.ndarray, values: np.ndarray) -> bool:
    """Whether a page's values are taken for whole numbers: its dtype is an integer one, or
    :data:`WHOLE_LOOK` of ``values`` (float, read from it), spread evenly over them, are whole. A
    float page of continuous values shows a fraction among a few values; one whole there and not
    elsewhere (a few blank rows among continuous ones) is read as whole numbers are, from every
    difference (the same reading, at the cost of the full median)."""
    if getattr(page, "dtype", np.dtype(np.float64)).kind in "biu":
        return True
    flat = np.ravel(values)
    look = flat[:: max(1, flat.size // WHOLE_LOOK)]
    return bool(np.array_equal(look, np.rint(look)))


def sample_values(values: np.ndarray, most: int | None = None) -> np.ndarray:
    """``values`` (any shape) flattened, or ``most`` of them (:data:`NOISE_VALUES` by default) where
    they hold more, drawn at random without repeats (:data:`SAMPLE_SEED`): a fixed stride, or any
    regular sequence of places, falls in step with a pattern of the rows and columns they come from
    (every other pair of rows crossing a checkerboard's edges, squares a few pixels wide)."""
    most = NOISE_VALUES if most is None else most
    flat = np.ravel(values)
    if flat.size <= most:
        return flat
    return flat[np.random.default_rng(SAMPLE_SEED).choice(flat.size, most, replace=False)]


#: Where the page's range over :data:`fluorodn.normalize.RANGE_FLOOR` exceeds its measured noise this
#: many times (a very bright frame or object: the network then sees the noise, and structure up to
#: that floor, as smaller than it is, and may flatten the structure), :func:`removal_excess` judges
#: what was removed against the noise measured, not against the floor, so that a removal of up to
#: the floor's size is not taken for noise. Bright cells with sharp edges (Poisson counts, the floor
#: 1.5-4 x the noise) left the int8 image model's output 1.3-4 x the input's error (ad hoc; over
#: 1.2 x in ``tests/unit/test_denoiser.py``) while it removed under 1.2 x the floor; with this rule
#: ``python -m benchmarks images`` warns on every frame left worse than the input and on none of its
#: 21 references.
FLOOR_OVER_NOISE = 1.0


#: Largest :func:`removal_structure` of what the image path removed before it is taken to have
#: removed structure: noise correlated as a scanning microscope makes it (0.5 along rows) leaves at
#: most 0.48 in the images benchmark's in-domain references, and ad hoc, ``low``'s training
#: generator at the ends of its noise correlation (0.5 across bins, 0.3 in time) up to 0.63, and
#: noise beyond them (1.0 across bins, 0.8 in time) 0.68; periodic patterns at the finest scale, which raise the
#: noise estimates of :func:`removal_excess` as much as what is removed, leave 0.86-0.99.
REMOVAL_CORRELATION = 0.8


def removal_stats(noisy: np.ndarray, denoised: np.ndarray) -> tuple[float, float, bool]:
    """(:func:`removal_excess`, :func:`removal_structure`, bright tail) of a 2D page, from one read of
    the pairs of neighbouring rows they take (:func:`removal_readings`)."""
    return removal_readings(noisy, denoised)[:3]


def removal_readings(noisy: np.ndarray, denoised: np.ndarray, sample: bool = True) -> tuple[float, float, bool, float]:
    """(:func:`removal_excess`, :func:`removal_structure`, bright tail, smoothness) of a 2D page
    (:func:`_removal_readings`, without the noise level)."""
    return _removal_readings(noisy, denoised, sample)[:4]


def _removal_readings(
    noisy: np.ndarray, denoised: np.ndarray, sample: bool = True
) -> tuple[float, float, bool, float, float, float]:
    """(:func:`removal_excess`, :func:`removal_structure`, bright tail, smoothness, noise level, bright
    values: those beyond ``BRIGHT_TAIL`` noise levels above the mean over what Gaussian noise leaves
    there) of a 2D page, from
    one read of the pairs of neighbouring rows they all take. Smoothness: the correlation of what was
    removed with itself one pixel away along the less correlated of the two axes (0 where negative),
    which noise correlated along one axis, as a scanning microscope makes it, leaves near 0 and a
    smooth part removed (bright objects smoothed) does not. The bright tail: whether what was
    removed has at least
    ``SPOT_COUNT`` values beyond ``BRIGHT_TAIL`` noise levels above its mean and more than twice as
    many as below it, as flattened bright spots leave and removed noise does not (0.8-1.3x on the
    images benchmark's smooth references, about 2x on Poisson blobs over a dark background, 3.4-9x
    on its spot frames), or as many means over 2 x 5 pixels far above their spread
    (:func:`_bright_patches`: faint cells flattened, whose single values stand within the noise):
    :func:`removal_warning` looks for flattened spots there, and where the bright values (``lit``)
    pass ``SPOT_LIT``. ``sample``:
    the noise from a sample of the differences (:func:`sample_values`) where the page's values are
    not whole numbers (:func:`whole_numbers`); False: from all of them."""
    from fluorodn.normalize import RANGE_FLOOR, difference_noise

    rows, cols = noisy.shape
    if rows < 2 or cols < 2:
        return 0.0, 0.0, False, 0.0, 0.0, 0.0
    pairs = max(1, min(rows // 4, REMOVAL_VALUES // (2 * cols)))  # half the rows at most
    starts = np.linspace(0, rows - 2, pairs).astype(np.int64)
    idx = np.stack([starts, starts + 1], axis=1).ravel()
    x = np.asarray(noisy[idx], np.float64)
    r = x - np.asarray(denoised[idx], np.float64)
    # whole numbers (photon counts, a camera's values) take all, whose MAD counting their values gives
    # fast where they span at most 2^16 (fluorodn.normalize.counted_mad): it moves in whole steps, and
    # a sample's can land a step away (ad hoc, on the images benchmark's quick reference of Poisson
    # blobs at 30 counts, 10 new Poisson draws: 1.063-1.070 removed over the noise from all of them,
    # 0.912 and 0.917 from a sample of 16384 on 2)
    sampled = sample and x.size > NOISE_VALUES and not whole_numbers(noisy, x)  # fewer differences: all
    most = NOISE_VALUES if sampled else x.size
    noise = max(
        difference_noise(sample_values(x[1::2] - x[0::2], most)),
        difference_noise(sample_values(np.diff(x, axis=1), most)),
    )
    floor = RANGE_FLOOR * float(x.max() - x.min())
    # the range's floor stands in for a noise too small to measure, not for one it dwarfs (a very
    # bright object, which sets the network's scale: what it removed is judged against the noise)
    level = noise if noise > 0 and floor > FLOOR_OVER_NOISE * noise else max(noise, floor)
    excess = float(np.sqrt(np.mean(r * r)) / level) if level > 0 else 0.0
    r -= r.mean()
    above, below = int(np.count_nonzero(r > BRIGHT_TAIL * level)), int(np.count_nonzero(r < -BRIGHT_TAIL * level))
    bright = level > 0 and (_tail(above, below) or _bright_patches(r))
    lit = above / (_GAUSS_TAIL * r.size) if level > 0 and above >= SPOT_COUNT else 0.0
    energy = float(np.sum(r * r))
    if cols < 3 or not energy > 0:
        return excess, 0.0, bright, 0.0, level, lit
    lags = (
        2.0 * float(np.sum(r[0::2] * r[1::2])),
        float(np.sum(r[:, 1:] * r[:, :-1])) * cols / (cols - 1),
        float(np.sum(r[:, 2:] * r[:, :-2])) * cols / (cols - 2),
    )
    # each lag's sum scaled to all the values' count: on a few columns that can pass 1, which no correlation does
    smooth = min(1.0, max(0.0, min(lags[0], lags[1])) / energy)
    return excess, min(1.0, max(abs(v) for v in lags) / energy), bright, smooth, level, lit


def _bright_patches(r: np.ndarray) -> bool:
    """Whether what was removed (``r``: pairs of neighbouring rows, one after the other, about its
    mean) has at least ``SPOT_COUNT`` sums over 2 x :data:`PATCH_COLUMNS` pixels (a pair of rows)
    beyond :data:`PATCH_SDS` robust standard deviations above 0, and more than twice as many below
    (the spread from the median of the patches side by side, the counts over every patch): faint
    spots or cells a few pixels wide that the model flattened, each of whose pixels stands within
    the noise."""
    from fluorodn.normalize import _MAD_TO_SIGMA, median

    if r.shape[1] < PATCH_COLUMNS:
        return False
    running = np.cumsum(r[0::2] + r[1::2], axis=1, dtype=np.float64)
    sums = running[:, PATCH_COLUMNS - 1 :].copy()
    sums[:, 1:] -= running[:, :-PATCH_COLUMNS]
    apart = np.abs(sums[:, ::PATCH_COLUMNS]).ravel()  # a copy: the median reorders it
    limit = PATCH_SDS * _MAD_TO_SIGMA * float(median(apart, overwrite=True))
    if not limit > 0:
        return False
    return _tail(int(np.count_nonzero(sums > limit)), int(np.count_nonzero(sums < -limit)))


def _tail(above: int, below: int) -> bool:
    """Whether ``above`` values beyond a limit over ``below`` beyond its negative make a bright tail:
    at least ``SPOT_COUNT``, and more than twice as many."""
    return above >= SPOT_COUNT and above > 2 * below


#: What was removed holds a periodic pattern (:func:`periodic_removal`) where, along the rows or the
#: columns, its power at one frequency stands this many times above its median over the frequencies
#: ...
PERIODIC_ABOVE = 20.0
#: ... and this many times above the power two frequencies away on either side (a narrow peak) ...
PERIODIC_NARROW = 8.0
#: ... and the five frequencies about it hold more than this share of the power removed: what was
#: removed is mostly the pattern, not noise. On the images benchmark's 21 in-domain references no
#: frequency passed the first test, and the fine texture of its text and brick frames passed it with
#: peaks 1.2-1.3x their sides. Ad hoc: stripes 3-12 pixels apart, 5-40 counts of noise, that ``low``
#: left worse than the input (error 1.2-4.5x the input's) put 0.52-0.98 of what it removed in the
#: peak, those it left better (0.67-0.91x) 0.34-0.49; blobs of 6 pixels on a grid 36 apart, Poisson
#: noise, denoised with their peaks kept, 0.24-0.28.
PERIODIC_SHARE = 0.5
#: Samples of the Hann-windowed segments whose power spectra :func:`periodic_removal` averages.
PERIODIC_SEGMENT = 512
#: Most values :func:`periodic_stats` reads each way (whole rows, or whole columns, spread evenly over
#: the page; one at least): a pattern over the page repeats in each of them, and the mean of the 32
#: or more segments' spectra this gives (up to 2^14 values a row) spreads removed noise's power at
#: each frequency by about 1 / sqrt(32) = 0.18 of it, so that its highest stays within about twice
#: their median, far under ``PERIODIC_ABOVE``.
PERIODIC_VALUES = 1 << 14
#: Fewest samples along an axis for :func:`periodic_stats` to judge it: a shorter one holds too few
#: periods to tell a line from the noise's spectrum, and the check's fixed cost would pass 5 % of the
#: network's time on a frame that small (64 x 64).
PERIODIC_LEAST = 128
#: The lowest frequencies (in cycles per segment, from 1) that :func:`periodic_removal` does not judge:
#: there a broad shape removed, such as a saturated block, falls off steeply without repeating.
PERIODIC_LOWEST = 3


def periodic_removal(removed: np.ndarray) -> tuple[float, float, float]:
    """(peak, period, share): on the power spectrum of ``removed`` (m, n) along its last axis, the
    narrowest strong peak: how far it stands above the power two frequencies away on either side,
    among the frequencies whose power passes :data:`PERIODIC_ABOVE` times the median (0 where none
    does; the :data:`PERIODIC_LOWEST` lowest frequencies are not judged), its period in samples, and
    the share of all the power that the five frequencies about it hold. The spectrum: the mean over
    the rows and over Hann-windowed segments of up to :data:`PERIODIC_SEGMENT` samples. Removed
    noise, white or correlated, has a smooth spectrum; a removed pattern that repeats has a line."""
    from fluorodn.normalize import median

    r = np.asarray(removed, np.float64)
    n = r.shape[-1]
    seg = min(n, PERIODIC_SEGMENT)
    if seg < 8 or not r.size:
        return 0.0, 0.0, 0.0
    pieces = r[..., : (n // seg) * seg].reshape(-1, seg)
    pieces = pieces - pieces.mean(axis=1, keepdims=True)
    power = np.mean(np.abs(np.fft.rfft(pieces * np.hanning(seg + 2)[1:-1], axis=1)) ** 2, axis=0)[1:]
    typical = float(median(power))
    if not typical > 0:
        return 0.0, 0.0, 0.0
    padded = np.pad(power, 2)
    side = np.maximum(padded[:-4], padded[4:])
    peak = np.where(power > PERIODIC_ABOVE * typical, power / np.maximum(side, typical * 1e-12), 0.0)
    peak[:PERIODIC_LOWEST] = 0.0  # a broad shape (a blob, a ramp) falls off from the lowest frequencies
    k = int(np.argmax(peak))
    share = float(power[max(0, k - 2) : k + 3].sum() / power.sum())
    return float(peak[k]), seg / (k + 1.0), share


def periodic_stats(noisy: np.ndarray, denoised: np.ndarray) -> tuple[float, float, str]:
    """(share, period, direction): of the periodic patterns :func:`periodic_removal` finds in what was
    removed from a 2D page, along its rows and down its columns (whole rows and whole columns spread
    evenly over the page, :data:`PERIODIC_VALUES` values at most each way; an axis shorter than
    :data:`PERIODIC_LEAST` is not judged), the one whose peak is narrow
    (:data:`PERIODIC_NARROW`) and holds the larger share of what was removed (0 where neither is),
    its period in pixels, and "along its rows" or "down its columns"."""
    rows, cols = noisy.shape
    best = (0.0, 0.0, "along its rows")
    for axis, (n, across) in enumerate(((cols, rows), (rows, cols))):
        if n < PERIODIC_LEAST:
            continue
        take = np.unique(np.linspace(0, across - 1, max(1, min(across, PERIODIC_VALUES // max(n, 1)))).astype(np.int64))
        if axis == 0:
            r = np.asarray(noisy[take], np.float64) - np.asarray(denoised[take], np.float64)
        else:
            r = (np.asarray(noisy[:, take], np.float64) - np.asarray(denoised[:, take], np.float64)).T
        peak, period, share = periodic_removal(r)
        if peak > PERIODIC_NARROW and share > best[0]:
            best = (share, period, "along its rows" if axis == 0 else "down its columns")
    return best


def removal_excess(noisy: np.ndarray, denoised: np.ndarray) -> float:
    """RMS of what was removed from a 2D page (``noisy - denoised``) over the page's noise level,
    taken as the larger of two estimates: the MAD of the differences between neighbouring rows,
    and between neighbouring columns, over sqrt 2, on pairs of neighbouring rows spread evenly over
    the page (half its rows, ``REMOVAL_VALUES`` values at most; of their differences, on a page of
    continuous values, ``NOISE_VALUES`` each way at most, :func:`sample_values`; on one of whole
    numbers all, counted; so that the check costs a few per cent of the network's time on a page of
    any size).

    Structure only raises an estimate, and noise correlated along one axis lowers only that axis's,
    so removing noise alone gives at most about ``1 / sqrt(1 - rho)``, rho the lag-1 noise
    correlation along the less correlated axis (1.2 for the image models' training, correlated up
    to 0.3 in time); more means structure was removed too. 0 for a page without measurable noise."""
    return removal_stats(noisy, denoised)[0]


def removal_structure(noisy: np.ndarray, denoised: np.ndarray) -> float:
    """The largest correlation, in magnitude, of what was removed from a 2D page (``noisy -
    denoised``, its mean taken out) with itself one row, one column and two columns away, on the
    rows :func:`removal_excess` reads. Removed noise correlates at most as the noise does; removed
    structure that repeats at the finest scale (a checkerboard, fine stripes) correlates nearly
    fully, while it raises the noise estimates as much as what is removed. 0 for a page smaller
    than 2 x 3 or with nothing removed."""
    return removal_stats(noisy, denoised)[1]


#: Spots :func:`spot_removal` judges: local peaks of a page's 3 x 3 means over its 9 x 9 means that
#: stand this many robust standard deviations of that contrast above it (faint spots are not judged).
#: On the images benchmark's frames whose removed part has a bright tail, other than spot frames and
#: the bright blobs (15 spots, 0.02 removed), it finds at most 2 spots (at 5: 64 on brick at noise 2,
#: 0.51 of their excess removed; ad hoc).
SPOT_SDS = 6.0
#: Fewest spots :func:`spot_removal` judges a page by.
SPOT_COUNT = 5
#: Largest share of its spots' excess over the ring around them that the image path may remove
#: before it is taken to have flattened them: removing noise alone leaves 0.01-0.02 on the images
#: benchmark's bright blobs and, ad hoc, at most 0.10 (0.12 in later draws) on spectral recordings
#: run through ``low`` and ``high`` (noise 0.1-1.2, fast hemodynamics, slow rises, other sensors; judged from 8 standard
#: deviations) and at most 0.07 on the spot frames with exactly their noise taken off (from 6); the
#: network flattens point-like spots by 0.68-0.81 (``images.md``).
SPOT_REMOVED = 0.4
#: The most of their excess that removing noise alone took from spots in those measurements.
SPOT_NOISE = 0.1
#: Largest mean, in the input's noise levels, that the image path may remove from the 5 x 5 cores of
#: its spots (the median over them, :func:`spot_readings`) before it is taken to have flattened them,
#: whatever share of their excess that is: beyond it a core's RMS error is at least this many times
#: the input's noise level, so the core lies further from the truth than the input. Spots 16-128x the
#: noise over their background lose 0.07-0.49 of their excess but 1.9-3.9 noise levels (``images.md``,
#: "Point-like spots"); the images benchmark's bright blobs among its references 0.57-0.79, and ad hoc,
#: 12 more draws of them up to 0.90, so the limit stands above 1 (cores losing 1-1.5 noise levels are
#: worse than the input's and not told).
SPOT_CORE = 1.5
#: ... where the spots' excess over the ring around them (the median) stands more than this many noise
#: levels: bright spots. Fine detail of natural images, which the network flattens by a large share,
#: stands less far out: at most 3.2 noise levels on the images benchmark's frames left better than the
#: input whose cores lose more than ``SPOT_CORE`` (camera, moon, cell), at most 7.7 on frames it
#: warns of otherwise (brick at noise 0.3); spots of 60 photons at their peak 8.0 (ad hoc).
SPOT_BRIGHT = 6.0
#: A page whose removed part has this many times as many values beyond ``BRIGHT_TAIL`` noise levels
#: above its mean as Gaussian noise leaves there has its spots read too, where its removed part has
#: no bright tail: spots bright enough leave about as many below (the network rings around them).
#: The images benchmark's smooth references leave 0.54-0.79, its bright blobs 5.3-6.0; its spot
#: frames without a bright tail (64-128x the noise) 4.7-8.7.
SPOT_LIT = 4.0
#: Noise levels above the mean of what was removed beyond which :func:`removal_stats` counts a
#: bright tail.
BRIGHT_TAIL = 3.0
#: Columns of the patches of 2 rows whose sums :func:`_bright_patches` reads for a bright tail, and
#: the robust standard deviations of those sums beyond which it counts one (white Gaussian noise
#: passes it about once in 3.5 million patches; what the image model removes from spectral
#: recordings run through it passes it on some, ad hoc 17 of 110, whose spots then lose at most 0.12
#: of their excess, far under ``SPOT_REMOVED``). Faint cells 1.5-4 px wide that peak at 3-7x the
#: noise, sparse on a smooth frame, leave one where their single values leave none: of
#: ``local_detail.md``'s 11 frames that take the image path, 3 more are then told and their cells
#: put back (8 in all; 5 were by their single values). On the images
#: benchmark 16 of 81 frames have a bright tail (7 without the patches); among its references
#: only the bright blobs, whose spots lose 0.02 of their excess.
PATCH_COLUMNS = 5
PATCH_SDS = 5.0
#: The share of Gaussian noise beyond ``BRIGHT_TAIL`` standard deviations above its mean.
_GAUSS_TAIL = 0.5 * math.erfc(BRIGHT_TAIL / math.sqrt(2.0))
#: Most values of a page :func:`spot_removal` reads whole; of larger pages it reads blocks of
#: ``SPOT_BLOCK`` x ``SPOT_BLOCK`` spread over the page (:func:`spot_blocks`), as many values or fewer.
SPOT_VALUES = 1 << 16
SPOT_BLOCK = 80


#: Width (pixels) of the Gaussian whose negative Laplacian gives an output's curvature
#: (:func:`curvature_removal`): bright peaks and their sides, not single pixels.
CURVATURE_WIDTH = 2.0
#: Largest correlation of what the image path removed with its output's curvature
#: (:func:`curvature_removal`), where what was removed is smooth (:data:`CURVATURE_AFTER`), before it
#: is taken to have smoothed bright objects. Removed noise follows no shape: at most 0.15 on the
#: images benchmark's in-domain references (0.06 where their noise is correlated along rows) and, ad
#: hoc, 0.05 on the events and stress benchmarks' recordings through the image models (``low`` int8
#: and fp32, ``high``). Bright blobs packed on a frame (``python -m benchmarks images``, group
#: "blobs"), whose peaks the network lowers and whose sides it raises, read 0.36-0.58 where it left
#: them 1.2-3.3x the input's error.
CURVATURE_CORRELATION = 0.3
#: :func:`curvature_removal` is read only where what was removed is smooth beyond this
#: (:func:`removal_readings`: its correlation one pixel away along the less correlated axis):
#: smoothing bright objects removes a smooth part, which reads 0.54-0.88 on the images benchmark's
#: blob frames left worse than the input, where its references read 0.08 at most (white noise and
#: noise correlated along rows) and its frames left better than the input 0.31; blobs the network
#: improved under noise correlated 0.5-0.7 along one axis read 0.29-0.37 and their curvature
#: 0.31-0.40 (ad hoc). Most frames then cost nothing more.
CURVATURE_AFTER = 0.45
#: Most values of a page :func:`curvature_removal` reads whole; of larger pages, 3 x 3 blocks of
#: ``CURVATURE_BLOCK`` a side spread over it (:func:`spot_blocks`). It runs only on pages whose removed
#: part is smooth, and there reads most of what a camera frame holds.
CURVATURE_VALUES = 1 << 20
CURVATURE_BLOCK = 336
#: Pages narrower than this on a side are not read (the Laplacian's kernel spans 13 pixels: on a few
#: pixels the mirrored border is most of it).
CURVATURE_LEAST = 16


def curvature_removal(noisy: np.ndarray, denoised: np.ndarray) -> float:
    """The correlation, on a 2D page (whole up to :data:`CURVATURE_VALUES` values, else blocks of it,
    :func:`spot_blocks`), of what was removed (``noisy - denoised``) with the output's curvature (the
    negative Laplacian of the output smoothed by a Gaussian of :data:`CURVATURE_WIDTH` pixels), each
    about its block's mean. Removed noise follows no shape of the output (near 0); a network that
    smooths bright objects removes their peaks and adds to their sides, as their curvature runs
    (positive). 0 where either is constant, and on a page narrower than :data:`CURVATURE_LEAST`."""
    from scipy.ndimage import gaussian_laplace

    if min(noisy.shape) < CURVATURE_LEAST:
        return 0.0
    across = removed = curved = 0.0
    for rows, cols in spot_blocks(noisy.shape, CURVATURE_VALUES, CURVATURE_BLOCK):
        y = np.asarray(denoised[rows, cols], np.float64)
        r = (np.asarray(noisy[rows, cols], np.float64) - y).ravel()
        # about the block's mean before float32 (a large offset keeps the shapes), cut at 3 widths
        bend = gaussian_laplace(_centred(y), CURVATURE_WIDTH, mode="mirror", truncate=3.0)
        bend = np.asarray(bend, np.float64).ravel()
        r -= r.mean()
        bend -= bend.mean()
        across -= float(r @ bend)  # the negative Laplacian: positive on a peak
        removed += float(r @ r)
        curved += float(bend @ bend)
    return across / float(np.sqrt(removed * curved)) if removed > 0 and curved > 0 else 0.0


class Contrast(NamedTuple):
    """What :func:`spot_removal` and :func:`keep_spots` read of a 2D page to find its spots
    (:func:`contrast`)."""

    x: np.ndarray  #: the page as float32 about its mean (:func:`_centred`)
    bright: np.ndarray  #: its 3 x 3 means - its 9 x 9 means (mirrored at its border)
    around: np.ndarray  #: its 9 x 9 means
    spread: float  #: the robust standard deviation of ``bright``


def contrast(page: np.ndarray) -> Contrast:
    """The :class:`Contrast` of a 2D page (at least 9 pixels a side)."""
    from scipy.ndimage import uniform_filter

    from fluorodn.normalize import difference_noise

    x = _centred(page)
    around = uniform_filter(x, 9, mode="mirror")
    bright = uniform_filter(x, 3, mode="mirror") - around
    return Contrast(x, bright, around, float(np.sqrt(2.0)) * difference_noise(bright[::2, ::2]))  # MAD as an SD


def _read(page: np.ndarray, seen: Contrast | None) -> Contrast:
    """``seen``, the :func:`contrast` of ``page`` read already, or ``page``'s read now."""
    if seen is None:
        return contrast(page)
    if seen.x.shape != page.shape:
        raise ValueError(f"a contrast of {seen.x.shape} was given for a page of {page.shape}")
    return seen


def _peaks(bright: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the local peaks (over the 5 x 5 around each) of ``bright`` beyond
    ``level``, at least 2 pixels from its border (a whole 5 x 5 inside: the mirrored border's
    contrast spreads wider than the inside's)."""
    ii, jj = np.nonzero(bright[2:-2, 2:-2] > level)
    ii, jj = ii + 2, jj + 2
    peak = np.ones(len(ii), bool)
    for di in range(-2, 3):
        for dj in range(-2, 3):
            peak &= bright[ii + di, jj + dj] <= bright[ii, jj]
    return ii[peak], jj[peak]


def _centred(page: np.ndarray) -> np.ndarray:
    """A 2D page as float32 about its mean (taken in float64), so that a large offset keeps its noise."""
    level = float(np.mean(page, dtype=np.float64))
    return np.subtract(page, level if np.isfinite(level) else 0.0, dtype=np.float64).astype(np.float32)


def spot_blocks(
    shape: tuple[int, int], values: int = SPOT_VALUES, block: int = SPOT_BLOCK
) -> list[tuple[slice, slice]]:
    """The blocks of a page of ``shape`` that :func:`spot_removal` reads (and, with its own ``values``
    and ``block``, :func:`curvature_removal`): the whole page where it holds at most ``values``
    values, else up to 3 x 3 blocks of ``block`` x ``block`` spread evenly over it, its corners and
    edges included (on a page shorter than that on one side, up to 3 blocks as long along the other
    as ``values`` allows)."""
    rows, cols = shape
    if rows * cols <= values:
        return [(slice(0, rows), slice(0, cols))]
    bh, bw = min(rows, block), min(cols, block)
    gr, gc = min(3, -(-rows // bh)), min(3, -(-cols // bw))
    budget = values // (gr * gc)
    # a page narrow on one side (a long recording's few bins): longer blocks along the other
    if bh < block:
        bw = min(cols // gc, max(bw, budget // bh))
    if bw < block:
        bh = min(rows // gr, max(bh, budget // bw))
    across = [np.linspace(0, n - b, g).astype(int) for n, b, g in ((rows, bh, gr), (cols, bw, gc))]
    return [(slice(int(r), int(r) + bh), slice(int(c), int(c) + bw)) for r in across[0] for c in across[1]]


def spot_removal(noisy: np.ndarray, denoised: np.ndarray, seen: Contrast | None = None) -> tuple[int, float]:
    """(spots, removed share) of :func:`spot_readings`."""
    return spot_readings(noisy, denoised, seen)[:2]


def spot_readings(
    noisy: np.ndarray, denoised: np.ndarray, seen: Contrast | None = None
) -> tuple[int, float, float, float]:
    """(spots, removed share, removed from the cores, excess): on a 2D page (its blocks,
    :func:`spot_blocks`), the local peaks (over 5 x 5) of its 3 x 3 means over its 9 x 9 means that
    stand ``SPOT_SDS`` robust standard deviations of that contrast above it (point-like spots, fine
    bright detail) and whose 5 x 5 mean stands above the ring around it (the 9 x 9 square without the
    5 x 5); the median over them of what was removed (``noisy - denoised``) over that excess, both as
    5 x 5 means: near 0 where noise alone was removed, near 1 where a spot was flattened to its ring;
    the median over them of the mean of what was removed from the 5 x 5 around each, and of that
    excess, both in the page's units (removed noise averages out over a core; a bright spot that
    loses a small share of its excess loses many noise levels). (spots, nan, nan, nan) under
    ``SPOT_COUNT`` spots. ``seen``: the page's :func:`contrast`, where it was read already (used
    where the page is read whole)."""
    shares: list[np.ndarray] = []
    cores: list[np.ndarray] = []
    found = 0
    blocks = spot_blocks(noisy.shape)
    for rows, cols in blocks:
        crop = np.asarray(noisy[rows, cols])
        n, share, core = _block_spots(crop, denoised[rows, cols], seen if len(blocks) == 1 else None)
        found += n
        shares.append(share)
        cores.append(core)
    kept = np.concatenate(shares) if shares else np.empty(0)
    if len(kept) < SPOT_COUNT:
        return found if not len(kept) else len(kept), float("nan"), float("nan"), float("nan")
    core, excess = np.median(np.concatenate(cores, axis=1), axis=1)
    return len(kept), float(np.median(kept)), float(core), float(excess)


def _block_spots(
    crop: np.ndarray, denoised: np.ndarray, seen: Contrast | None = None
) -> tuple[int, np.ndarray, np.ndarray]:
    """(peaks found, the share of its excess removed at each spot that stands above its ring, the mean
    removed from its 5 x 5) of one block of :func:`spot_readings` (``seen``: its :func:`contrast`,
    where read already)."""
    none = np.empty(0)
    if min(crop.shape) < 9:
        return 0, none, np.empty((2, 0))
    x, bright, around, spread = _read(crop, seen)
    if not spread > 0:
        return 0, none, np.empty((2, 0))
    ii, jj = _peaks(bright, SPOT_SDS * spread)
    if not len(ii):
        return 0, none, np.empty((2, 0))
    offsets = [(di, dj) for di in range(-2, 3) for dj in range(-2, 3)]
    box = sum(x[ii + di, jj + dj] for di, dj in offsets) / 25.0
    excess = box - (81.0 * around[ii, jj] - 25.0 * box) / 56.0  # over the ring around the 5 x 5
    keep = excess > spread
    if not keep.any():
        return len(ii), none, np.empty((2, 0))
    ii, jj = ii[keep], jj[keep]
    removed = (np.asarray(crop, np.float64) - np.asarray(denoised, np.float64)).astype(np.float32)
    gone = sum(removed[ii + di, jj + dj] for di, dj in offsets) / 25.0
    return len(ii), np.asarray(gone / excess[keep], np.float64), np.stack([gone, excess[keep]]).astype(np.float64)


#: Spots :func:`keep_spots` puts back: local peaks (over 5 x 5) of a page's 3 x 3 means over its 9 x 9
#: means beyond this many robust standard deviations of that contrast (fainter than the spots
#: :func:`spot_removal` judges a page by: on a page that flattens those, the fainter ones are
#: flattened too; Gaussian noise alone stands that far out about once in 3 million pixels).
KEEP_SDS = 5.0
#: Half the side of the square around a spot where what the image model removed is put back whole
#: (5 x 5: the spots' cores).
KEEP_CORE = 2
#: Half the side of the square around a spot over which what the model removed around the core
#: is put back smoothed (13 x 13): the model spreads a flattened spot's intensity into a halo that
#: reaches 6-7 pixels out (``images.md``), where what it removed is the halo's negative plus noise.
KEEP_HALO = 6
#: Width (pixels) of the Gaussian that smooths what is put back around the cores.
KEEP_SMOOTH = 1.0


def spot_peaks(page: np.ndarray, sds: float = KEEP_SDS, seen: Contrast | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the spots of a 2D page: local peaks (over the 5 x 5 around each, at least 2
    pixels from the border) of its 3 x 3 means over its 9 x 9 means that stand more than ``sds``
    robust standard deviations of that contrast above it (``seen``: the page's :func:`contrast`,
    where read already)."""
    if min(page.shape) < 9:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    _, bright, _, spread = _read(page, seen)
    if not spread > 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    return _peaks(bright, sds * spread)


def _squares(shape: tuple[int, ...], rows: np.ndarray, cols: np.ndarray, half: int) -> np.ndarray:
    """A boolean mask of ``shape`` that is True on the (2 ``half`` + 1)-pixel squares about
    (``rows``, ``cols``), cut at the border."""
    mask = np.zeros(shape, bool)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        mask[max(r - half, 0) : r + half + 1, max(c - half, 0) : c + half + 1] = True
    return mask


#: Pixels the Gaussian of :data:`KEEP_SMOOTH` reaches (scipy's ``truncate`` of 4 widths).
_SMOOTH_REACH = int(4.0 * KEEP_SMOOTH + 0.5)


def _smoothed_halos(removed: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``gaussian_filter(removed, KEEP_SMOOTH, mode="mirror")`` on the ``KEEP_HALO`` squares about
    (``rows``, ``cols``), the same values; elsewhere undefined (the halos of :func:`keep_spots` lie
    within those squares). Smoothed on the patches around the spots where they hold under half the
    page's values and the page is wider than a patch on both sides, else on the whole page."""
    from scipy.ndimage import gaussian_filter

    reach = KEEP_HALO + _SMOOTH_REACH
    side = 2 * reach + 1
    if 2 * len(rows) * side * side >= removed.size or min(removed.shape) <= side:
        return np.asarray(gaussian_filter(removed, KEEP_SMOOTH, mode="mirror"))
    # numpy's "reflect" is scipy's "mirror"; each patch's middle sees what the page's filter sees
    padded = np.pad(removed, reach, mode="reflect")
    patches = np.lib.stride_tricks.sliding_window_view(padded, (side, side))[rows, cols]
    patches = gaussian_filter(patches, (0.0, KEEP_SMOOTH, KEEP_SMOOTH), mode="mirror")
    out = np.empty_like(removed)
    h = KEEP_HALO
    for k, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        r0, c0 = max(r - h, 0), max(c - h, 0)
        r1, c1 = min(r + h + 1, removed.shape[0]), min(c + h + 1, removed.shape[1])
        out[r0:r1, c0:c1] = patches[k, reach - (r - r0) : reach + (r1 - r), reach - (c - c0) : reach + (c1 - c)]
    return out


def keep_spots(page: np.ndarray, out: np.ndarray, seen: Contrast | None = None) -> int:
    """Put back into ``out`` (the image path's float32 output of the 2D ``page``, changed in place)
    what the model removed from the page's spots (:func:`spot_peaks`): whole over the 5 x 5 square
    around each (``KEEP_CORE``), and smoothed by a Gaussian of ``KEEP_SMOOTH`` pixels (the cores
    left out of it) over the rest of the 13 x 13 square (``KEEP_HALO``), where the model spread the
    spot's intensity. The spots keep their peaks and their intensity, and the input's noise on
    their cores. ``seen``: the page's :func:`contrast`, where read already. Returns the number of
    spots."""
    rows, cols = spot_peaks(page, seen=seen)
    if not len(rows):
        return 0
    core = _squares(page.shape, rows, cols, KEEP_CORE)
    halo = _squares(page.shape, rows, cols, KEEP_HALO)
    halo &= ~core
    removed = np.asarray(page, np.float32) - out
    out[core] += removed[core]
    removed[core] = 0.0
    out[halo] += _smoothed_halos(removed, rows, cols)[halo]
    return len(rows)


def removal_warning(
    pages: Sequence[np.ndarray], outs: Sequence[np.ndarray], first: int = 0, keep: bool = False
) -> str | None:
    """The :class:`OutOfDomainWarning` message of :func:`removal_check`, or None."""
    return removal_check(pages, outs, first, keep)[0]


def removal_check(
    pages: Sequence[np.ndarray], outs: Sequence[np.ndarray], first: int = 0, keep: bool = False
) -> tuple[str | None, int, int | None]:
    """(message, spots put back, page index of the first page they were put back on): the
    :class:`OutOfDomainWarning` message for the first of ``pages`` (page indices from ``first`` on)
    from which the image path (``outs``) removed more than ``REMOVAL_LIMIT`` times its noise level
    (:func:`removal_excess`), something that correlates with itself beyond ``REMOVAL_CORRELATION``
    (:func:`removal_structure`), mostly one periodic pattern beyond ``PERIODIC_SHARE``
    (:func:`periodic_stats`) or, where what was removed has a bright tail (:func:`removal_stats`),
    more than ``SPOT_REMOVED`` of its spots' excess over the ring around them, or, where it has a
    bright tail or bright values beyond ``SPOT_LIT`` times noise's, more than ``SPOT_CORE`` noise
    levels from the cores of spots standing over ``SPOT_BRIGHT`` noise levels out
    (:func:`spot_readings`), or, where it is smooth beyond ``CURVATURE_AFTER``
    (:func:`removal_readings`), something that follows its output's curvature beyond
    ``CURVATURE_CORRELATION`` (:func:`curvature_removal`:
    bright objects smoothed), or None.

    ``keep``: on every page whose spots were flattened so, what the model removed from them is put
    back (:func:`keep_spots`, ``outs`` changed in place), and the message says so; the checks then
    read every page instead of stopping at the first message."""
    from fluorodn.normalize import RANGE_FLOOR, floor_over_noise

    message: str | None = None
    about_spots = False  # the message is the flattened spots'
    spots_kept = pages_kept = 0
    first_kept: int | None = None
    for k, (page, out) in enumerate(zip(pages, outs, strict=True), start=first):
        if message is not None and not keep:
            break
        where = f"page index {k}: " if k else ""
        excess, structure, bright, smooth, level, lit = _removal_readings(page, out)
        said: str | None = None
        if excess > REMOVAL_LIMIT:
            said = (
                f"{where}the image model removed {_beyond(excess, REMOVAL_LIMIT, 2, 'g')}x the input's noise level "
                f"(noise alone: at most {REMOVAL_LIMIT:g}x), so it removed structure too and the output may lie "
                "further from the truth than the input: "
                + (
                    f"its values span {ratio / RANGE_FLOOR:.3g}x its noise (a very bright object), and the model "
                    f"scales a frame by at least {RANGE_FLOOR:g} of its span, {ratio:.3g}x the noise here, so it took "
                    "fainter structure for noise; crop the bright object out, or give the noise level (from Python: "
                    "Denoiser.run(x, scale=(centre, noise)))"
                    if (ratio := floor_over_noise(page)) > FLOOR_OVER_NOISE
                    else "the image models were trained on time x wavelength recordings, and fine texture and sharp "
                    "edges are outside what they saw"
                )
                + "; compare the output with the input"
            )
        elif structure > REMOVAL_CORRELATION:
            said = (
                f"{where}the image model removed a pattern, not noise: what it removed correlates with itself "
                f"{_beyond(structure, REMOVAL_CORRELATION, 2, 'f')} between neighbouring pixels (noise alone: at most "
                f"{REMOVAL_CORRELATION:g}), so the output may lie further from the truth than the input: a pattern "
                "that repeats every pixel or two is outside what the image models saw; compare the output with "
                "the input"
            )
        if said is None and min(page.shape) >= 8:
            share, period, direction = periodic_stats(page, out)
            if share > PERIODIC_SHARE:
                said = (
                    f"{where}the image model removed a pattern that repeats every {period:.3g} pixels {direction}: "
                    f"it makes up {100 * share:.0f} % of what was removed (removed noise has no such line), so the "
                    "output may lie further from the truth than the input: a periodic pattern (stripes, a grid) is "
                    "outside what the image models saw; compare the output with the input"
                )
        if said is None or keep:
            # a page the spots' reading takes whole: its contrast serves both the reading and putting spots back
            look = bright or lit > SPOT_LIT
            whole = look and keep and min(page.shape) >= 9 and len(spot_blocks(page.shape)) == 1
            seen = contrast(page) if whole else None
            spots, share, core, over = spot_readings(page, out, seen) if look else (0, *[float("nan")] * 3)
            core_noise, over_noise = (core / level, over / level) if level > 0 else (0.0, 0.0)
            by_share = bright and share > SPOT_REMOVED
            if by_share or (core_noise > SPOT_CORE and over_noise > SPOT_BRIGHT):
                # bright objects wider than a spot lose their cores too: their curvature's message names them,
                # read before the spots are put back
                if said is None and message is None and not by_share and smooth > CURVATURE_AFTER:
                    said = _curvature_said(where, curvature_removal(page, out))
                    smooth = 0.0  # read
                kept = keep_spots(page, out, seen) if keep else 0
                if kept:
                    spots_kept += kept
                    pages_kept += 1
                    first_kept = k if first_kept is None else first_kept
                if said is None and message is None:
                    about_spots = True
                    told = core_noise > SPOT_CORE  # the cores' loss is said where it passed its limit
                    cores = f", {core_noise:.3g}x the input's noise level from their 5 x 5 cores" if told else ""
                    alone = f" and under {SPOT_CORE:g}x" if told else ""
                    so = ", so their cores lie further from the truth than the input's" if told else ""
                    said = (
                        f"{where}the image model flattened small bright spots: it removed {100 * share:.0f} % of their "
                        f"excess over the ring around them{cores} (median over {spots} spots; removing noise alone "
                        f"takes at most about {100 * SPOT_NOISE:.0f} %{alone}){so}: the image models were trained on "
                        "time x wavelength recordings, and point-like spots are outside what they saw; "
                    )
        if said is None and message is None and smooth > CURVATURE_AFTER:
            said = _curvature_said(where, curvature_removal(page, out))
        if message is None:
            message = said
    if message is not None:
        message += spots_said(spots_kept, pages_kept, about_spots, keep)
    return message, spots_kept, first_kept


def _curvature_said(where: str, bend: float) -> str | None:
    """:func:`removal_check`'s message where what was removed follows the output's curvature beyond
    ``CURVATURE_CORRELATION`` (``bend``), or None."""
    if not bend > CURVATURE_CORRELATION:
        return None
    return (
        f"{where}the image model removed the shape of bright objects with the noise: what it removed follows the "
        f"curvature of its output (correlation {_beyond(bend, CURVATURE_CORRELATION, 2, 'f')}; removed noise follows "
        f"no shape, under {CURVATURE_CORRELATION:g}), so it lowered the objects' peaks and raised their sides, and the "
        "output may lie further from the truth than the input: smooth objects far above the noise are outside what "
        "the image models saw; the model smooths less when told a quarter to a half of the noise level measured "
        "(from Python, a frame at a time: centre, noise = fluorodn.normalize.global_scale(frame), then "
        "Denoiser.run(frame, scale=(centre, noise / 4)), which also turns these checks and putting spots back "
        "off); compare the output with the input"
    )


def spots_said(spots: int, pages: int, about_spots: bool, keep: bool = True) -> str:
    """How a removal check's message ends on the flattened spots: what was put back (``spots``
    spots on ``pages`` pages), after a message about them (``about_spots``) or another one."""
    on = f" on {pages} pages" if pages > 1 else ""
    how = (
        f"(whole on the {2 * KEEP_CORE + 1} x {2 * KEEP_CORE + 1} pixels around each, smoothed over the "
        f"{2 * KEEP_HALO + 1} x {2 * KEEP_HALO + 1}), so they keep their intensity, with the input's noise on them; "
        "keep_spots=False leaves the network's output"
    )
    if about_spots and spots:
        return f"what it removed from the {spots} spots found{on} was put back {how}"
    if about_spots:
        found = "" if not keep else " (none stood out enough on the whole page to be put back)"
        return f"spot intensities are not kept{found}: measure spots on the input"
    if spots:
        return f"; what the image model removed from {spots} small bright spots it flattened{on} was put back {how}"
    return ""


def _beyond(value: float, limit: float, digits: int, kind: str) -> str:
    """``value``, which exceeds ``limit``, formatted ``.{digits}{kind}`` (``kind`` "g" or "f"), with
    more digits where that would print ``limit``."""
    while digits < 17 and float(f"{value:.{digits}{kind}}") == limit:
        digits += 1
    return f"{value:.{digits}{kind}}"


def check_scale(scale: Any) -> tuple[float, float]:
    """A user's ``(m, s)``: two finite numbers, ``s > 0``; InputError otherwise."""
    try:
        m, s = (float(v) for v in scale)
    except (TypeError, ValueError) as err:
        raise InputError(f"scale must be a pair (m, s) of numbers, got {scale!r}") from err
    if not (np.isfinite(m) and np.isfinite(s) and s > 0):
        raise InputError(f"scale (m, s) must be finite with s > 0, got {scale!r}")
    return m, s
