"""What :meth:`fluorodn.Denoiser.run` makes of the inputs numpy lets a caller build: ndarray
subclasses (masked arrays, matrices, memmaps), ragged lists, float16, values at the ends of
float32's range; and the notes it gives on stacks and on bin counts outside the spectral range."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import fluorodn
from fluorodn import Denoiser, DenoiserOptions, InputError, OutOfDomainWarning, _engine
from fluorodn import denoiser as denoiser_module
from fluorodn._engine import check_input, removal_warning

EXAMPLE = Path(fluorodn.__file__).parent / "data" / "example.tif"
ND = (2, 3, 4, 5, 6)  # the dimensions run() takes


@pytest.fixture(scope="module")
def example() -> np.ndarray:
    """The first 200 samples of the shipped example recording, (200, 152) float32."""
    return np.asarray(tifffile.imread(EXAMPLE)[:200], dtype=np.float32)


@pytest.fixture(scope="module")
def default() -> Denoiser:
    return Denoiser(device="cpu", options=DenoiserOptions(threads=1))


def frame(seed: int = 0, shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    """A noisy (H, W) float32 frame with smooth structure."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (100 + 30 * np.sin(x / 7.0) * np.cos(y / 9.0) + rng.normal(0, 5, shape)).astype(np.float32)


def messages(fn: Any, *args: Any, **kwargs: Any) -> list[str]:
    """The OutOfDomainWarning messages of ``fn(*args, **kwargs)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    return [str(w.message) for w in caught if issubclass(w.category, OutOfDomainWarning)]


# -- ndarray subclasses and ragged lists -------------------------------------------------


def test_a_masked_array_with_masked_values_is_refused(denoiser: Denoiser) -> None:
    """NaN under a mask would reach the network (an all-NaN output), and finite values under it
    would be taken as data: both are refused, with how to fill them."""
    x = frame()
    x[5:8, 5:8] = np.nan
    with pytest.raises(InputError, match=r"masked array with 9 masked values.*x\.astype\(float\)\.filled\("):
        denoiser.run(np.ma.masked_invalid(x))
    hidden = np.ma.masked_array(frame(), mask=np.zeros(x.shape, bool))
    hidden.data[0, 0] = 6e4
    hidden[0, 0] = np.ma.masked
    with pytest.raises(InputError, match="masked array with 1 masked value,"):
        denoiser.run(hidden)
    with pytest.raises(InputError, match="page index 0: the input is a masked array"):
        list(denoiser.stream([np.ma.masked_invalid(x)]))


def test_a_masked_array_with_nothing_masked_runs_on_its_data(
    denoiser: Denoiser, default: Denoiser, example: np.ndarray
) -> None:
    x = frame()
    out = denoiser.run(np.ma.masked_array(x))
    assert type(out) is np.ndarray and np.array_equal(out, denoiser.run(x))
    assert np.array_equal(default.run(np.ma.masked_array(example)), default.run(example))  # the spectral path


def test_matrix_and_memmap_are_plain_views(default: Denoiser, example: np.ndarray, tmp_path: Path) -> None:
    """An ndarray subclass is read as an ndarray view of its data (no copy); the spectral path
    gives a matrix what it gives the array."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # numpy's advice against np.matrix
        m = np.matrix(example)
    arr = check_input(m, ND)
    assert type(arr) is np.ndarray and np.shares_memory(arr, m)
    mm = np.memmap(tmp_path / "x.dat", dtype=np.float32, mode="w+", shape=example.shape)
    mm[:] = example
    arr = check_input(mm, ND)
    assert type(arr) is np.ndarray and np.shares_memory(arr, mm)
    assert check_input(example, ND) is example
    assert np.array_equal(default.run(m), default.run(example))


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_pixels_are_refused_not_denoised_as_narrow_pages(denoiser: Denoiser, channels: int) -> None:
    """(H, W, 3) or (H, W, 4), as colour images are laid out: refused in one sentence saying how to
    give one channel (were H pages of W x 3 values, denoised with a warning); a stack of 3 pages of
    a frame, (3, H, W), runs."""
    rgb = np.random.default_rng(0).integers(0, 255, (64, 48, channels)).astype(np.uint8)
    with pytest.raises(
        InputError, match=rf"\(64, 48, {channels}\) makes pages of 48 x {channels} values.*x\[\.\.\., 0\]"
    ):
        denoiser.run(rgb)
    assert denoiser.run(np.moveaxis(rgb, -1, 0).astype(np.float32)).shape == (channels, 64, 48)


def test_a_ragged_list_is_one_sentence(denoiser: Denoiser) -> None:
    with pytest.raises(InputError, match=r"^expected an array of real numbers, got nested lists of unequal lengths"):
        denoiser.run([[1.0, 2.0, 3.0], [4.0, 5.0]])


# -- stacks ----------------------------------------------------------------------------


def test_run_names_the_first_clipped_page_of_a_stack(denoiser: Denoiser) -> None:
    """Each page is checked against its own extremes, as stream() checks it: a saturated page
    next to brighter ones is found, named by its index, once."""
    rng = np.random.default_rng(0)
    ok = rng.poisson(100 + 80 * np.sin(np.arange(64) / 5.0)[:, None] * np.ones(64)).astype(np.uint16)
    sat = np.minimum(ok, np.percentile(ok, 95)).astype(np.uint16)  # 5 % at the ceiling
    brighter = ok + np.uint16(50)

    def clipped(x: Any) -> list[str]:
        return [m for m in messages(denoiser.run, x) if "equal the input's maximum" in m]

    assert clipped(np.stack([sat, brighter])) == clipped(sat)
    (second,) = clipped(np.stack([brighter, sat, sat]))
    assert second.startswith("page index 1: ") and second == clipped(np.stack([brighter, sat]))[0]
    assert [m for m in messages(lambda p: list(denoiser.stream(p)), [brighter, sat]) if "maximum" in m] == [second]
    assert clipped(np.stack([ok, brighter])) == []


# -- the spectral model's bin range -----------------------------------------------------


def test_declared_spectral_says_when_the_bins_are_outside_the_range() -> None:
    """Once per run, and in a stream at the first page outside the range, named by its index."""
    bins_warning = denoiser_module.bins_warning
    den = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    rng = np.random.default_rng(0)
    x = 1000 + rng.normal(0, 10, (200, 40)) + 100 * np.sin(np.arange(200) / 20)[:, None]
    want = "the recording has 10 wavelength bins, outside the 24-1024 bins of the spectral recordings"
    assert sum(m.startswith(want) for m in messages(den.run, x[:, :10])) == 1
    assert sum(m.startswith(want) for m in messages(den.run, np.stack([x[:, :10]] * 2))) == 1
    streamed = messages(lambda pages: list(den.stream(pages)), [x[:, :30], x[:, :10], x[:, 10:20]])
    assert [m for m in streamed if "bins, outside" in m] == [f"page index 1: {bins_warning(10)}"]
    assert bins_warning(24) is None and bins_warning(1024) is None
    assert bins_warning(1025) is not None and bins_warning(1025).startswith("the recording has 1025 wavelength bins")


def test_a_recording_handed_to_the_image_model_for_its_bins_says_so() -> None:
    """Pages known to be time x wavelength (``recording=True``, a spectrometer's file) with 8-23 bins
    (or over 1024) go to the image model, which says so once, in one call and a stream alike; with
    fewer than 8 bins the narrow-pages warning says it; in range, or not known to be a recording,
    nothing of bins is said."""
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    rng = np.random.default_rng(1)
    x = 1000 + rng.normal(0, 10, (300, 40)) + 100 * np.sin(np.arange(300) / 20)[:, None]
    want = "the recording has 16 wavelength bins, outside the 24-1024 the spectral model takes"
    assert sum(m.startswith(want) for m in messages(lambda a: den.run(a, recording=True), x[:, :16])) == 1
    streamed = messages(lambda pages: list(den.stream(pages, recording=True)), [x[:, :16], x[:, 16:32]])
    assert sum(m.startswith(want) for m in streamed) == 1
    assert not [m for m in messages(lambda a: den.run(a, recording=True), x[:, :6]) if "wavelength bins" in m]
    assert not [m for m in messages(lambda a: den.run(a, recording=True), x[:, :30]) if "wavelength bins" in m]
    assert not [m for m in messages(den.run, x[:, :16]) if "wavelength bins" in m]
    assert denoiser_module.recorded_bins_warning((300, 1025)) is not None


def test_declared_spectral_in_range_says_nothing_of_bins(example: np.ndarray) -> None:
    den = Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(threads=1))
    assert not [m for m in messages(den.run, example) if "wavelength bins, outside" in m]


# -- dtypes and the ends of float32's range -----------------------------------------------


def test_float16_is_denoised_as_the_same_values_in_float32(denoiser: Denoiser) -> None:
    h16 = (frame() * np.linspace(0.02, 2, 64)).astype(np.float16)  # 2 to 260: x - m is not exact in float16
    assert np.array_equal(denoiser.run(h16), denoiser.run(h16.astype(np.float32)))
    stack = np.stack([h16, h16[::-1]])
    assert np.array_equal(denoiser.run(stack), denoiser.run(stack.astype(np.float32)))


@pytest.mark.parametrize("k", [1e-50, 1e-300])
def test_values_below_float32s_normal_range_are_refused_with_rescaling_advice(denoiser: Denoiser, k: float) -> None:
    x = frame().astype(np.float64)
    with pytest.raises(InputError, match=r"largest magnitude is .*below the smallest normal float32.*multiply it"):
        denoiser.run(x * k)
    with pytest.raises(InputError, match=r"in page index 1, below the smallest normal float32"):
        denoiser.run(np.stack([x, x * k]))


def test_small_but_normal_values_and_zeros_run(denoiser: Denoiser) -> None:
    x = frame().astype(np.float64)
    out = denoiser.run(x * 1e-30)
    np.testing.assert_allclose(out, 1e-30 * denoiser.run(x), rtol=1e-4, atol=1e-4 * 1e-30 * float(np.abs(x).max()))
    denoiser.run(np.zeros((16, 16)))
    with pytest.raises(InputError, match="smallest normal float32"):
        denoiser.run(np.full((16, 16), 1e-39, np.float32))  # float32's own subnormal values


# -- messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("excess", "structure", "printed"),
    [
        (1.2004, 0.0, "removed 1.2004x the input's noise level"),
        (1.5, 0.0, "removed 1.5x"),
        (1.0, 0.8001, "itself 0.8001 "),
    ],
)
def test_the_removal_warning_prints_what_tells_the_value_from_the_limit(
    monkeypatch: pytest.MonkeyPatch, excess: float, structure: float, printed: str
) -> None:
    monkeypatch.setattr(_engine, "_removal_readings", lambda noisy, denoised: (excess, structure, False, 0.0, 1.0, 0.0))
    page = np.zeros((4, 4))
    message = removal_warning([page], [page])
    assert message is not None and printed in message


@pytest.mark.parametrize(("smooth", "bend", "told"), [(0.6, 0.9, True), (0.3, 0.9, False), (0.6, 0.2, False)])
def test_smoothed_bright_objects_are_told_where_the_removed_part_is_smooth_and_follows_the_curvature(
    monkeypatch: pytest.MonkeyPatch, smooth: float, bend: float, told: bool
) -> None:
    """Under the size and correlation limits, the curvature reading warns only where what was removed
    is smooth beyond its limit too, and names the way out."""
    monkeypatch.setattr(_engine, "_removal_readings", lambda noisy, denoised: (1.0, 0.6, False, smooth, 1.0, 0.0))
    monkeypatch.setattr(_engine, "curvature_removal", lambda noisy, denoised: bend)
    monkeypatch.setattr(_engine, "periodic_stats", lambda noisy, denoised: (0.0, 0.0, ""))
    page = np.zeros((32, 32))
    message = removal_warning([page], [page])
    if not told:
        assert message is None
        return
    assert message is not None and "follows the curvature of its output (correlation 0.90;" in message
    assert "global_scale(frame)" in message and "scale=(centre, noise / 4)" in message


def test_input_messages_read_as_sentences(denoiser: Denoiser) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        denoiser.run(np.ones((1, 1)))
    assert any("read as 1 trace of 1 value," in str(w.message) for w in caught)
    for x in (np.ones(5), np.ones((1,) * 7)):
        with pytest.raises(
            InputError, match=r"^expected an array of 2 to 6 dimensions \(\(H, W\), \(pages, H, W\) or "
        ):
            denoiser.run(x)
    with pytest.raises(InputError, match=r"^page index 0: expected a 2D array \(H, W\), got 3D"):
        list(denoiser.stream([np.ones((2, 3, 4))]))
    with pytest.raises(InputError, match=r"got None$"):
        denoiser.run(None)


# -- options that would be dropped or unbounded ------------------------------------------


def test_threads_are_capped_at_four_times_the_cpus_where_the_session_opens(tiny_model: Path) -> None:
    """Options may be made for other machines (Dask workers): the cap applies where a Denoiser opens
    its session, at 4 x that machine's CPUs."""
    limit = 4 * (os.cpu_count() or 1)
    opts = DenoiserOptions(threads=10**6)  # for a machine of another size
    assert Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=limit)).threads == limit
    with pytest.raises(InputError, match=rf"^threads must be from 1 to {limit} \(4 x the"):
        Denoiser(tiny_model, device="cpu", options=opts)


def test_border_on_the_spectral_path_is_refused(default: Denoiser, example: np.ndarray) -> None:
    for border in ("mirror", "zero"):
        with pytest.raises(InputError, match=r"^border=\.\.\. applies to the image path only"):
            default.run(example, border=border)
    square = frame()  # the image model it hands frames to takes it
    assert default.run(square, border="zero").shape == square.shape


def test_a_block_of_a_chunked_run_is_not_judged_as_a_page(tiny_model: Path) -> None:
    """A block (a scale given, or rows through ``run_projected``) whose values are all 0 or below
    float32's normal range is denoised: the page it belongs to is judged, not the block."""
    den = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1))
    block = np.full((48, 48), 1e-40, np.float32)
    block[0, 0] = 0.0
    with pytest.raises(InputError, match="below the smallest normal float32"):
        den.run(block)
    assert np.isfinite(den.run(block, scale=(0.0, 1.0))).all()


def test_the_masked_stack_advice_works_as_written() -> None:
    """The refusal of a masked stack names the fill that works on a stack, page by page."""
    import fluorodn.files

    rng = np.random.default_rng(3)
    stack = np.ma.masked_invalid(
        np.where(rng.random((2, 60, 40)) < 0.01, np.nan, 100.0 + rng.normal(0, 1, (2, 60, 40)))
    )
    with pytest.raises(InputError) as got:
        Denoiser("low", options=DenoiserOptions(threads=1)).run(stack)
    assert "x = x.astype(float).filled(np.nan)" in str(got.value) and "on each (T, W) page of a stack" in str(got.value)
    filled = np.stack([fluorodn.files.fill_nonfinite(page)[0] for page in stack.filled(np.nan)])
    assert np.isfinite(filled).all()


def test_masked_values_are_refused_by_fill_and_unmix_and_left_out_of_a_report() -> None:
    """A masked array that masks values (sentinels under the mask): fill_nonfinite and unmix refuse
    it as run does, with advice that works on integers too (fill_nonfinite gave it back unchanged,
    unmix fitted the sentinels); a report leaves the masked values out and counts them."""
    import warnings

    import fluorodn.files
    from fluorodn.report import build_report
    from fluorodn.unmixing import UnmixError

    x = np.random.default_rng(0).normal(1000.0, 4.0, (600, 152)).round().astype(np.uint16)
    m = np.ma.masked_array(x.copy(), mask=np.zeros(x.shape, bool))
    m.data[200:203, 40:45] = 0
    m.mask[200:203, 40:45] = True
    with pytest.raises(InputError, match="masked array with 15 masked values") as got:
        fluorodn.files.fill_nonfinite(m)
    assert "(x = x.astype(float).filled(np.nan))" in str(got.value)
    assert np.isnan(m.astype(float).filled(np.nan)).sum() == 15  # the advice as written, on integers
    with pytest.raises(UnmixError, match="masked array with 15 masked values"):
        fluorodn.unmix(m, "477:595", "example", denoise=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, summary = build_report(m, m)
    assert summary["nonfinite"] == 15
    with pytest.raises(InputError, match="got dtype bool"):
        fluorodn.files.fill_nonfinite(np.zeros((4, 4), bool))


def test_a_sparse_frame_of_photon_counts_is_scaled_by_its_range_and_told(denoiser: Denoiser) -> None:
    """Nearly every value 0 (one photon in 4096 pixels; photon counts at 0.05 %): the noise and the
    percentile range are 0, so the scale comes from the whole range (was 1e-300, a float32 overflow
    and a raw numpy RuntimeWarning); the output is finite and a warning says why the frame is
    outside training, as counts, not only as saturation."""
    import warnings

    one = np.zeros((64, 64))
    one[10, 10] = 1.0
    counts = (np.random.default_rng(0).random((256, 256)) < 0.0005).astype(np.uint16)
    for frame in (one, counts):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = denoiser.run(frame)
        assert np.isfinite(out).all() and not [w for w in caught if w.category is RuntimeWarning]
        said = [str(w.message) for w in caught if issubclass(w.category, OutOfDomainWarning)]
        assert any("count very few photons (a sparse frame)" in m for m in said), said


def test_an_offset_float32_cannot_resolve_beside_the_noise_is_told(default: Denoiser, example: np.ndarray) -> None:
    """The example recording plus 1e8 (float32 steps by 8 there, its quieter bins' noise about 10):
    one OutOfDomainWarning names float32's step and how to keep the offset out, and the output is
    that much worse than the offset-free run's; plus 1e6 (a step of 1/16): none."""
    import warnings

    x = example.astype(np.float64)
    ref = default.run(x).astype(np.float64)
    for offset, told in ((1e8, True), (1e6, False)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = default.run(x + offset).astype(np.float64) - offset
        found = [w for w in caught if "float32, the output's type, steps by" in str(w.message)]
        said = [str(w.message) for w in found]
        assert len(said) == int(told), said
        if told:
            assert said[0].startswith("values lie near 1.00") and "run(x - c).astype('float64') + c" in said[0]
            assert issubclass(found[0].category, OutOfDomainWarning)
            with pytest.warns(OutOfDomainWarning, match="float32, the output's type, steps by 8"):
                list(default.stream([x + offset]))
            assert np.sqrt(np.mean((out - ref) ** 2)) > 1.0  # counts lost to float32's step of 8
        else:
            assert np.sqrt(np.mean((out - ref) ** 2)) < 0.1
    star = np.random.default_rng(0).normal(0.0, 0.01, (64, 64))
    star[30, 30] = 1e5  # a bright pixel is no offset
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        default.run(star)
    assert not [w for w in caught if "float32, the output's type" in str(w.message)]


def test_a_pickled_denoiser_of_a_relative_model_path_survives_a_change_of_folder(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle
    import shutil

    shutil.copyfile(tiny_model, tmp_path / "mine.onnx")
    monkeypatch.chdir(tmp_path)
    blob = pickle.dumps(Denoiser("mine.onnx", device="cpu", options=DenoiserOptions(threads=1)))
    monkeypatch.chdir(tmp_path.parent)
    assert pickle.loads(blob).path == tmp_path / "mine.onnx"


def test_rows_denoised_with_a_projection_of_the_whole_recording_keep_their_own_level() -> None:
    """``run_projected`` on row blocks with the projection ``spectral.project`` made of the whole
    recording, pattern kept: each block keeps its own level (a drift is not erased)."""
    from fluorodn import spectral

    x = np.asarray(tifffile.imread(EXAMPLE), np.float32)[:2000]
    x = x + np.linspace(0.0, 500.0, len(x), dtype=np.float32)[:, None]  # a drift of 500 counts
    den = Denoiser(options=DenoiserOptions(threads=1, keep_fixed_pattern=True))
    p = spectral.project(x, den.channels, fixed_pattern=False)
    first = den.run_projected(x[:1000], p)
    assert abs(float(first.mean()) - float(x[:1000].mean())) < 5.0  # 250 counts off when forced to the whole mean


def test_small_api_refusals_say_what_was_meant(example: np.ndarray) -> None:
    """Each in one sentence: a report's provenance that is no record and warnings that are one
    string; unmix without wavelengths; an array of objects (a nullable table column) pointed to a
    conversion; a dtype named once. fluorodn.denoise takes recording= and rate= as run does."""
    from fluorodn.report import build_report
    from fluorodn.unmixing import UnmixError

    x = example[:60]
    with pytest.raises(InputError, match=r"provenance is the record a denoised output keeps .* not a list"):
        build_report(x, x, provenance=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="warnings is a list of messages"):
        build_report(x, x, warnings="abc")
    with pytest.raises(UnmixError, match="unmixing needs the bins' wavelengths: give them as 'FIRST:LAST'"):
        fluorodn.unmix(x, None, "example")
    with pytest.raises(InputError, match=r"got object dtype object \(a table's nullable column.*to_numpy\(float\)"):
        fluorodn.denoise(x.astype(object))
    with pytest.raises(InputError, match=r"got dtype datetime64\[s\]$"):
        fluorodn.denoise(np.zeros((60, 40), "datetime64[s]"))
    assert fluorodn.denoise(example, recording=True, rate=5.0).shape == example.shape
    with pytest.raises(InputError, match="rate must be a positive number"):
        fluorodn.denoise(example, rate=-1.0)
