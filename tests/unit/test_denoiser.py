"""The Denoiser's contract: tiling is exact, units do not matter, inputs are validated."""

from __future__ import annotations

import logging
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fluorodn import Denoiser, DenoiserOptions, DeviceError, denoise
from fluorodn.denoiser import physical_cores
from fluorodn.normalize import global_scale


def make(model: Path, **options: Any) -> Denoiser:
    return Denoiser(model, device="cpu", options=DenoiserOptions(threads=1, **options))


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-5) -> None:
    """Equal within ``rtol`` relative to the data's magnitude."""
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * float(np.abs(b).max()))


# -- tiling ----------------------------------------------------------------------------


@pytest.mark.parametrize("tile_pixels", [100, 600, 1500, 2000, 4000, 10_000])
def test_tiled_equals_whole_image(tiny_model: Path, helpers: Any, tile_pixels: int) -> None:
    x = helpers.spectra(300, 152)
    whole = make(tiny_model, tile_pixels=10**9)
    tiled = make(tiny_model, tile_pixels=tile_pixels)
    assert len(tiled.plan(x.shape)) > 1
    assert len(whole.plan(x.shape)) == 1
    close(tiled.run(x), whole.run(x))


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 2), (2, 1), (1, 300), (300, 1), (3, 7), (11, 11), (23, 41), (41, 23), (97, 13)]
)
def test_small_and_thin_inputs_tile_exactly(tiny_model: Path, helpers: Any, shape: tuple[int, int]) -> None:
    x = helpers.spectra(*shape, dtype=np.float64) if min(shape) > 1 else np.random.default_rng(0).random(shape)
    out = make(tiny_model, tile_pixels=10**9).run(x)
    assert out.shape == shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    close(make(tiny_model, tile_pixels=64).run(x), out)


def test_borders_match_for_square_windows(tiny_model: Path, helpers: Any) -> None:
    x = helpers.spectra(157, 131, dtype=np.float32)
    whole = make(tiny_model, tile_pixels=10**9).run(x)
    tiled_dn = make(tiny_model, tile_pixels=900)  # ~30 x 30 windows: halo 5 on every inner edge
    wr, wc = tiled_dn.plan(x.shape).window
    assert wr < x.shape[0] and wc < x.shape[1] and wr * wc <= 900
    tiled = tiled_dn.run(x)
    for edge in (np.s_[:6], np.s_[-6:], np.s_[:, :6], np.s_[:, -6:]):
        close(tiled[edge], whole[edge])
    close(tiled, whole)


def test_output_differs_from_input_and_is_float32(denoiser: Denoiser, recording: np.ndarray) -> None:
    out = denoiser.run(recording)
    assert out.dtype == np.float32 and out.shape == recording.shape
    assert not np.allclose(out, recording)


# -- units -----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1e-3, 0.1, 7.0, 1e3])
def test_scale_equivariance(denoiser: Denoiser, recording: np.ndarray, k: float) -> None:
    x = recording.astype(np.float64)
    close(denoiser.run(k * x), k * denoiser.run(x), rtol=1e-3)


@pytest.mark.parametrize("c", [-500.0, 1e3, 1e5])
def test_offset_invariance(denoiser: Denoiser, recording: np.ndarray, c: float) -> None:
    x = recording.astype(np.float64)
    shifted = denoiser.run(x + c).astype(np.float64) - c
    np.testing.assert_allclose(shifted, denoiser.run(x), atol=1e-6 * (abs(c) + x.max()) + 1e-3)


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.int64, np.uint64,
              np.float16, np.float32, np.float64, ">u2", ">f8"]
)  # fmt: skip
def test_real_dtypes(denoiser: Denoiser, helpers: Any, dtype: Any) -> None:
    x = np.clip(helpers.spectra(80, 30, dtype=np.int64), 0, 120)
    ref = denoiser.run(x.astype(np.float64))
    out = denoiser.run(x.astype(dtype))
    assert out.dtype == np.float32
    close(out, ref, rtol=1e-5)


def test_input_is_never_modified(denoiser: Denoiser, recording: np.ndarray) -> None:
    x = recording.astype(np.float32)
    before = x.copy()
    x.flags.writeable = False
    denoiser.run(x)
    np.testing.assert_array_equal(x, before)


def test_non_contiguous_and_list_inputs(denoiser: Denoiser, recording: np.ndarray) -> None:
    x = recording.astype(np.float64)
    close(denoiser.run(np.asfortranarray(x)), denoiser.run(x))
    close(denoiser.run(x.T.copy().T), denoiser.run(x))
    close(denoiser.run(x[:, ::-1]), denoiser.run(x[:, ::-1].copy()))
    close(denoiser.run(x[:5, :6].tolist()), denoiser.run(x[:5, :6]))


# -- stacks ----------------------------------------------------------------------------


def test_stack_pages_use_their_own_scale(denoiser: Denoiser, helpers: Any) -> None:
    pages = [helpers.spectra(40, 30, seed=s).astype(np.float64) * 10.0**s for s in range(4)]
    stack = np.stack(pages)
    out = denoiser.run(stack)
    assert out.shape == stack.shape and out.dtype == np.float32
    for page, res in zip(pages, out, strict=True):
        close(res, denoiser.run(page))


def test_stream_matches_run_and_batches_pages(tiny_model: Path, helpers: Any) -> None:
    dn = make(tiny_model, tile_pixels=40 * 30 * 3)
    pages = [helpers.spectra(40, 30, seed=s) for s in range(7)] + [helpers.spectra(25, 10, seed=9)]
    calls: list[int] = []
    streamed = list(dn.stream(iter(pages), progress=calls.append))
    assert len(streamed) == len(pages)
    for page, res in zip(pages, streamed, strict=True):
        close(res, dn.run(page))
    assert sum(calls) == sum(p.size for p in pages)


def test_explicit_scale(denoiser: Denoiser, recording: np.ndarray) -> None:
    m, s = global_scale(recording)
    close(denoiser.run(recording, scale=(m, s)), denoiser.run(recording))
    assert not np.allclose(denoiser.run(recording, scale=(m, 3 * s)), denoiser.run(recording))
    with pytest.raises(ValueError, match="2D"):
        denoiser.run(np.stack([recording, recording]), scale=(m, s))
    for bad in [(m, 0.0), (m, -1.0), (np.nan, s), "ab", (1.0,)]:
        with pytest.raises(ValueError, match="scale"):
            denoiser.run(recording, scale=bad)


# -- input errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.ones((4, 4), dtype=bool), "boolean"),
        (np.ones((4, 4), dtype=complex), "complex"),
        (np.array([[1, "a"], [2, 3]], dtype=object), "object"),
        (np.array([["a", "b"], ["c", "d"]]), "string"),
        (np.float64(3.0), "0D"),
        (np.ones(5), "1D"),
        (np.ones((1, 1, 1, 1, 1, 2, 2)), "7D"),
        (np.ones((0, 5)), "non-empty"),
        (np.ones((3, 0, 5)), "non-empty"),
    ],
)
def test_bad_inputs_raise_value_error(denoiser: Denoiser, x: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        denoiser.run(x)


def test_higher_dimensions_are_pages_over_the_last_two_axes(denoiser: Denoiser) -> None:
    x = np.random.default_rng(0).normal(100, 5, (2, 3, 20, 16))
    np.testing.assert_array_equal(denoiser.run(x), denoiser.run(x.reshape(6, 20, 16)).reshape(x.shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected_with_location(denoiser: Denoiser, bad: float) -> None:
    x = np.ones((20, 10))
    x[7, 3] = bad
    with pytest.raises(ValueError, match=r"NaN or infinite.*\(7, 3\)"):
        denoiser.run(x)
    with pytest.raises(ValueError, match=r"\(1, 7, 3\)"):
        denoiser.run(np.stack([np.ones((20, 10)), x]))


# -- threads, devices, options -----------------------------------------------------------


def test_thread_safety(denoiser: Denoiser, helpers: Any) -> None:
    inputs = [helpers.spectra(60 + 7 * i, 33, seed=i) for i in range(8)]
    expected = [denoiser.run(x) for x in inputs]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = [denoiser.run(inputs[i]) for _ in range(5)]
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(8):
        for res in results[i]:
            np.testing.assert_array_equal(res, expected[i])


def cuda_works(model: Path) -> bool:
    return Denoiser(model, device="auto").provider == "CUDAExecutionProvider"


def test_cuda_requested_where_it_is_not_usable_raises(tiny_model: Path, capfd: Any) -> None:
    """onnxruntime without a CUDA provider, or onnxruntime-gpu without GPU/libraries: a clear error,
    and nothing of onnxruntime's own log on stderr beside it."""
    if cuda_works(tiny_model):
        pytest.skip("CUDA works on this machine")
    capfd.readouterr()
    with pytest.raises(DeviceError, match=r"CUDA was requested.*device 'cpu'"):
        Denoiser(tiny_model, device="cuda")
    assert "onnxruntime" not in capfd.readouterr().err


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_cuda_provider_that_does_not_load(tiny_model: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    """A CUDA provider that is listed but does not load: 'cuda' fails loudly, 'auto' uses the CPU."""
    import onnxruntime

    real = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" in real:
        pytest.skip("onnxruntime-gpu: the real provider is checked by the test above")
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", *real])
    monkeypatch.setattr(onnxruntime, "preload_dlls", lambda *a, **k: None, raising=False)
    with pytest.raises(DeviceError, match="CUDA"):
        Denoiser(tiny_model, device="cuda")
    with caplog.at_level(logging.INFO, logger="fluorodn"):
        dn = Denoiser(tiny_model, device="auto")
    assert dn.provider == "CPUExecutionProvider" and dn.cuda_available
    assert "running on the CPU" in caplog.text


@pytest.mark.gpu
def test_cuda_matches_cpu(tiny_model: Path, helpers: Any) -> None:
    if not cuda_works(tiny_model):
        pytest.skip("CUDA is not usable on this machine")
    x = helpers.spectra(300, 152)
    gpu = Denoiser(tiny_model, device="cuda", options=DenoiserOptions(tile_pixels=5000))
    assert gpu.provider == "CUDAExecutionProvider"
    cpu = Denoiser(tiny_model, device="cpu")
    close(gpu.run(x), cpu.run(x), rtol=1e-3)


def test_auto_logs_the_provider(tiny_model: Path, caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="fluorodn"):
        dn = Denoiser(tiny_model)
    assert dn.provider in caplog.text
    assert dn.name == "tiny" and dn.halo == 5 and len(dn.sha256) == 64


def test_cpu_is_the_last_provider(denoiser: Denoiser) -> None:
    assert denoiser._session.get_providers()[-1] == "CPUExecutionProvider"


def test_bad_device_and_options(tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="device"):
        Denoiser(tiny_model, device="gpu")
    for field, bad in (("threads", 0), ("tile_pixels", -1), ("cuda_device", -1)):
        with pytest.raises(ValueError, match=field):
            DenoiserOptions(**{field: bad})


def test_threads_default_to_physical_cores(tiny_model: Path) -> None:
    assert physical_cores() >= 1
    assert Denoiser(tiny_model, device="cpu").threads == physical_cores()


def test_denoise_shortcut(tiny_model: Path, denoiser: Denoiser, recording: np.ndarray) -> None:
    close(denoise(recording, tiny_model, device="cpu"), denoiser.run(recording))


# -- memory ----------------------------------------------------------------------------


def test_memory_is_bounded_by_output_plus_tiles(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Besides the output, memory is the tile batch plus the global-scale sample.

    The global scale (fluorodn.normalize) uses a few float64 copies of at most
    MAX_SAMPLES values; it is lowered here so that the test sees the engine's own use.
    """
    import fluorodn.normalize

    monkeypatch.setattr(fluorodn.normalize, "MAX_SAMPLES", 50_000)
    x = np.random.default_rng(0).random((1500, 1000))  # 12 MB of float64
    dn = make(tiny_model, tile_pixels=1 << 16)
    tracemalloc.start()
    try:
        out = dn.run(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    budget = out.nbytes + 40 * (1 << 16) * 4 + (4 << 20)  # output + batches/temporaries + slack
    assert peak < budget, f"peak {peak / 1e6:.1f} MB exceeds {budget / 1e6:.1f} MB"


@pytest.mark.reliability
def test_hundreds_of_millions_of_values(tiny_model: Path, tmp_path: Path) -> None:
    """A 200-million-value memory-mapped input stays within output + tile memory."""
    x = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.uint16, shape=(200_000, 1000))
    rng = np.random.default_rng(0)
    for i in range(0, x.shape[0], 10_000):
        x[i : i + 10_000] = rng.poisson(100, (10_000, 1000))
    dn = Denoiser(tiny_model, device="cpu")
    tracemalloc.start()
    try:
        out = dn.run(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == x.shape and np.isfinite(out[::1000]).all()
    assert peak < out.nbytes + (200 << 20)


# -- border ----------------------------------------------------------------------------


def test_border_is_mirrored_for_frames_and_zero_padded_for_spectra(tiny_model: Path) -> None:
    """Frames default to a mirrored border (equal to denoising the page padded with numpy's
    "symmetric" mode, cropped); spectral-looking pages default to the network's zero padding;
    both can be chosen; the interior is the same either way."""
    den = make(tiny_model)
    h = den.halo
    rng = np.random.default_rng(0)
    frame = rng.standard_normal((60, 70)) * 5 + 100
    m, s = global_scale(frame)
    mirrored = den.run(frame)
    close(mirrored, den.run(frame, border="mirror"))
    padded = den.run(np.pad(frame, h, mode="symmetric"), scale=(m, s), border="zero")[h:-h, h:-h]
    close(mirrored, padded)
    zero = den.run(frame, border="zero")
    assert not np.allclose(zero[:h], mirrored[:h])
    close(zero[2 * h : -2 * h, 2 * h : -2 * h], mirrored[2 * h : -2 * h, 2 * h : -2 * h])
    recording = rng.standard_normal((400, 48)) * 5 + 100
    assert den.border_mode(recording.shape) == "zero" and den.border_mode(frame.shape) == "mirror"
    close(den.run(recording), den.run(recording, border="zero"))
    with pytest.raises(ValueError, match="border must be"):
        den.run(frame, border="reflect")


# -- self-ensemble ---------------------------------------------------------------------


def _turn(a: np.ndarray, k: int) -> np.ndarray:
    b = np.rot90(a, k % 4)
    return b[:, ::-1] if k >= 4 else b


def _unturn(a: np.ndarray, k: int) -> np.ndarray:
    return np.rot90(a[:, ::-1] if k >= 4 else a, -(k % 4))


@pytest.mark.parametrize("border", [None, "zero"])
def test_self_ensemble_averages_the_eight_orientations(tiny_model: Path, border: str | None) -> None:
    """Each rotation and mirror image of the page through the network (with the page's own scale
    and border), turned back and averaged; the page's tiling, stacks and progress as without it."""
    rng = np.random.default_rng(3)
    frame = rng.standard_normal((37, 52)) * 5 + 100
    plain, ens = make(tiny_model), make(tiny_model, self_ensemble=True)
    m, s = global_scale(frame)
    mode = plain.border_mode(frame.shape, border)
    views = [_unturn(plain.run(np.ascontiguousarray(_turn(frame, k)), scale=(m, s), border=mode), k) for k in range(8)]
    calls: list[int] = []
    out = ens.run(frame, border=border, progress=calls.append)
    close(out, np.mean(views, axis=0))
    assert sum(calls) == frame.size
    assert np.abs(out - plain.run(frame, border=border)).max() > 1e-3 * s  # the tiny network is not symmetric
    close(make(tiny_model, self_ensemble=True, tile_pixels=300).run(frame, border=border), out)
    stack = np.stack([frame, frame[::-1] * 2])
    res = ens.run(stack, border=border)
    close(res[0], out)
    close(res[1], ens.run(frame[::-1] * 2, border=border))
    close(make(tiny_model, self_ensemble=True, tile_pixels=300).run(stack, border=border), res)  # page by page
    (streamed,) = ens.stream(iter([frame]))
    close(streamed, ens.run(frame))


def test_self_ensemble_lowers_the_shipped_image_models_error() -> None:
    """``low`` on a smooth frame with shot noise at its training noise: the self-ensemble keeps
    less of the raw error, inside and on the border."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(4)
    clean = gaussian_filter(rng.standard_normal((160, 160)), 6) * 400 + 1000
    noisy = clean + 0.3 * rng.standard_normal(clean.shape) * np.sqrt(clean)
    inner, edge = np.s_[10:-10, 10:-10], np.ones(clean.shape, bool)
    edge[2:-2, 2:-2] = False

    def ratio(y: np.ndarray, where: Any) -> float:
        return float(np.sqrt(np.mean((y - clean)[where] ** 2) / np.mean((noisy - clean)[where] ** 2)))

    plain = Denoiser("low", device="cpu", precision="fp32", options=DenoiserOptions(threads=1)).run(noisy)
    ens = Denoiser("low", device="cpu", precision="fp32", options=DenoiserOptions(threads=1, self_ensemble=True))
    out = ens.run(noisy)
    assert ratio(out, inner) < 0.95 * ratio(plain, inner) < 0.95 * 0.5
    assert ratio(out, edge) < ratio(plain, edge)


# -- the model choice -----------------------------------------------------------------


def test_warning_classes_are_public() -> None:
    import fluorodn

    assert issubclass(fluorodn.OutOfDomainWarning, UserWarning)
    assert issubclass(fluorodn.ModelChoiceWarning, UserWarning)
    assert issubclass(fluorodn.EventDetectionWarning, UserWarning)
    assert not issubclass(fluorodn.EventDetectionWarning, fluorodn.OutOfDomainWarning)
    assert {"OutOfDomainWarning", "ModelChoiceWarning", "EventDetectionWarning"} <= set(dir(fluorodn))


def _choice_warnings(fn: Any) -> list[str]:
    import warnings

    from fluorodn import ModelChoiceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, ModelChoiceWarning)]


def test_an_image_model_on_a_spectral_recording_warns_once(tiny_model: Path, helpers: Any) -> None:
    x = helpers.spectra(400, 152)
    den = make(tiny_model)
    assert _choice_warnings(lambda: den.run(x[:300])) == []  # fewer than twice as many rows as bins
    (message,) = _choice_warnings(lambda: den.run(x))
    assert "model 'tiny' is an image model" in message and "400 x 152" in message
    assert "below the raw recording's" in message and "kind 'image'" in message
    # one warning for a stream of such pages, none per page after the first
    assert len(_choice_warnings(lambda: list(den.stream([x, x, x])))) == 1
    # known recordings (a spectrometer's file, what unmix denoises) have no frames to declare
    for known in (lambda: den.run(x, recording=True), lambda: list(den.stream([x], recording=True))):
        (told,) = _choice_warnings(known)
        assert told.endswith("run the default model") and "kind 'image'" not in told
    # declared frames, real frames and chunks of a larger array (a scale given) do not warn
    frames = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1), kind="image")
    assert _choice_warnings(lambda: frames.run(x)) == []
    assert _choice_warnings(lambda: den.run(helpers.spectra(200, 200))) == []
    assert _choice_warnings(lambda: den.run(x, scale=global_scale(x))) == []
    # the output is what it was without the warning
    close(frames.run(x), den.run(x))


def test_the_default_model_denoises_a_stack_of_recordings_page_by_page(helpers: Any) -> None:
    """A stack of pages that look like spectral recordings goes through the spectral path, each
    page on its own: what stream() and each page alone give, with no model-choice warning."""
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    x = helpers.spectra(600, 152).astype(np.float32)
    y = helpers.spectra(600, 152, seed=2).astype(np.float32)
    one = den.run(x)
    assert _choice_warnings(lambda: den.run(x)) == []
    stack = den.run(np.stack([x, y]))
    assert _choice_warnings(lambda: den.run(np.stack([x, y]))) == []
    np.testing.assert_array_equal(stack[0], one)
    np.testing.assert_array_equal(stack[1], den.run(y))
    streamed = list(den.stream([x, y]))
    np.testing.assert_array_equal(stack, np.stack(streamed))
    frames = np.stack([x[:, :20], x[:, :20]])  # few bins: frames, for the image model
    assert _choice_warnings(lambda: den.run(frames)) == []
    np.testing.assert_array_equal(den.run(frames), Denoiser(device="cpu", kind="image").run(frames))


def test_saturated_frames_warn(tiny_model: Path) -> None:
    """The image path names pixels at the ceiling of a saturated frame, as the spectral path does."""
    import warnings

    from fluorodn import OutOfDomainWarning

    rng = np.random.default_rng(2)
    frame = rng.normal(120, 10, (128, 128))
    frames = Denoiser(tiny_model, device="cpu", options=DenoiserOptions(threads=1), kind="image")
    plain = frame.astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        frames.run(plain)
    frame[40:60, 30:70] = 1e4
    saturated = np.clip(frame, 0, 255).astype(np.uint8)
    with pytest.warns(OutOfDomainWarning, match=r"^4.9 % of the values equal the input's maximum 255: the detector"):
        frames.run(saturated)
    with warnings.catch_warnings(record=True) as caught:  # a stream: the first clipped page, once
        warnings.simplefilter("always")
        list(frames.stream([plain, saturated, saturated]))
    assert [str(w.message)[:40] for w in caught] == ["page index 1: 4.9 % of the values equal "]


def _texture(rng: np.random.Generator, n: int = 192) -> np.ndarray:
    """A frame of fine texture (a 4-pixel checkerboard on a smooth ramp), in counts."""
    yy, xx = np.mgrid[:n, :n]
    return 1000.0 + 300.0 * (((yy // 2) + (xx // 2)) % 2) + np.linspace(0, 200, n)[None, :]


def test_the_image_path_warns_when_it_removes_structure() -> None:
    """An image model on fine texture (which no training recording had) removes it as if it were
    noise and ends further from the truth than the input: the image path says so, naming how much
    it removed. On the smooth frames of the frame benchmark, with white noise or noise correlated
    along one axis, it denoises and stays silent."""
    import warnings

    from scipy.ndimage import gaussian_filter
    from scipy.signal import lfilter

    from fluorodn import OutOfDomainWarning
    from fluorodn._engine import REMOVAL_LIMIT, removal_excess

    rng = np.random.default_rng(5)
    low = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1), kind="image")
    clean = _texture(rng)
    noisy = clean + 0.3 * np.sqrt(clean) * rng.standard_normal(clean.shape)
    with pytest.warns(OutOfDomainWarning, match=r"^the image model removed [\d.]+x the input's noise level"):
        out = low.run(noisy)
    assert np.sqrt(np.mean((out - clean) ** 2)) > 1.2 * np.sqrt(np.mean((noisy - clean) ** 2))  # worse than raw
    assert removal_excess(noisy, out) > REMOVAL_LIMIT

    smooth = gaussian_filter(rng.standard_normal((192, 192)), 8) * 400 + 1000
    white = rng.standard_normal(smooth.shape)
    along = lfilter([np.sqrt(0.75)], [1.0, -0.5], rng.standard_normal(smooth.shape), axis=1)  # scan-line noise
    for unit in (white, along):
        for scale in (0.1, 0.8, 2.0):
            x = smooth + scale * np.sqrt(smooth) * unit
            with warnings.catch_warnings():
                warnings.simplefilter("error", OutOfDomainWarning)
                y = low.run(x)
            assert np.sqrt(np.mean((y - smooth) ** 2)) < 0.5 * np.sqrt(np.mean((x - smooth) ** 2))

    # a stack: the first page it removed structure from, once, by its index
    stack = np.stack([smooth + 0.3 * np.sqrt(smooth) * white, noisy, noisy])
    for run in (low.run, lambda s: list(low.stream(s))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run(stack)
        messages = [str(w.message) for w in caught if issubclass(w.category, OutOfDomainWarning)]
        assert len(messages) == 1 and messages[0].startswith("page index 1: the image model removed"), messages
        assert caught[0].filename == __file__


def test_every_warning_points_at_the_caller() -> None:
    """Whichever path warns (the default model handing frames to the image model, a spectral
    recording, a transposed one, an image model on a recording), by ``run`` or by ``stream``, the
    warning names the caller's line, where the user can act on it, not the package's."""
    import warnings

    from scipy.ndimage import gaussian_filter

    from fluorodn import ModelChoiceWarning, OutOfDomainWarning

    rng = np.random.default_rng(6)
    options = DenoiserOptions(threads=1)
    default = Denoiser(device="cpu", options=options)
    low = Denoiser("low", device="cpu", options=options)
    clean = _texture(rng)
    textured = clean + 0.3 * np.sqrt(clean) * rng.standard_normal(clean.shape)
    smooth = gaussian_filter(rng.standard_normal((192, 192)), 8) * 400 + 1000
    clipped = np.minimum(smooth, np.quantile(smooth, 0.97))
    t = np.arange(1200)[:, None]
    spectrum = 800.0 * np.exp(-0.5 * ((np.arange(152)[None, :] - 60) / 20.0) ** 2) + 100.0
    recording = spectrum * (1 + 0.05 * np.sin(t / 30.0)) + 60.0 * rng.standard_normal((1200, 152))  # too noisy
    cases = [
        (default, textured, OutOfDomainWarning, "the image model removed"),
        (default, clipped, OutOfDomainWarning, "% of the values equal"),
        (default, recording, OutOfDomainWarning, "noisier than any"),
        (default, recording.T, OutOfDomainWarning, "looks like a spectral recording given as (wavelength, time)"),
        (low, textured, OutOfDomainWarning, "the image model removed"),
        (low, recording, ModelChoiceWarning, "is an image model"),
    ]
    for den, x, category, text in cases:
        runs = [
            den.run,
            lambda pages, den=den: list(den.stream([pages])),
            lambda pages, den=den: denoise(pages, "low" if den is low else "default", device="cpu", options=options),
        ]
        if "given as (wavelength, time)" not in text:  # (..., H, W): pages, the orientation check is for one 2D array
            runs.append(lambda pages, den=den: den.run(pages[None, None]))
        for run in runs:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run(x)
            found = [w for w in caught if issubclass(w.category, category) and text in str(w.message)]
            assert found, (den.name, text, [str(w.message) for w in caught])
            assert all(w.filename == __file__ for w in caught), [(w.filename, str(w.message)[:60]) for w in caught]

    # a stack of recordings: the warnings of the first page that gets any, named by its index, once
    quiet = spectrum * (1 + 0.05 * np.sin(t / 30.0)) + 2.0 * rng.standard_normal((1200, 152))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        default.run(recording)
    alone = [str(w.message) for w in caught]
    assert alone
    for run in (default.run, lambda pages: list(default.stream(pages))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run(np.stack([quiet, recording, recording]))
        assert [str(w.message) for w in caught] == [f"page index 1: {m}" for m in alone]
        assert all(w.filename == __file__ for w in caught)


def test_removal_excess_measures_against_the_noise() -> None:
    """Removing exactly the noise gives 1, whether it is white or correlated along one axis;
    removing structure gives more; a page without noise gives 0."""
    from scipy.signal import lfilter

    from fluorodn._engine import removal_excess

    rng = np.random.default_rng(6)
    smooth = np.add.outer(np.linspace(0, 50, 300), np.linspace(0, 80, 200)) + 500
    white = 10 * rng.standard_normal(smooth.shape)
    assert removal_excess(smooth + white, smooth) == pytest.approx(1.0, abs=0.03)
    along = 10 * lfilter([np.sqrt(0.75)], [1.0, -0.5], rng.standard_normal(smooth.shape), axis=1)
    assert removal_excess(smooth + along, smooth) == pytest.approx(1.0, abs=0.03)
    assert removal_excess(smooth + white, np.full(smooth.shape, smooth.mean())) > 2.0
    assert removal_excess(smooth, smooth) == 0.0


def test_a_very_bright_object_that_sets_the_scale_is_told_with_what_to_do() -> None:
    """A bead a million counts bright on 0.3 % of a frame of cells 10x their noise: the network's scale
    is the range's floor, 200x the noise, and it flattens the cells (error 2x the input's away from
    the bead). What it removed is judged against the noise measured, not against that floor, and the
    message names the cause and the way out (the noise level given), which denoises the cells."""
    import warnings

    from fluorodn import OutOfDomainWarning
    from fluorodn.normalize import floor_over_noise

    rng = np.random.default_rng(13)
    y, x = np.mgrid[:256, :256]
    cells = np.full((256, 256), 100.0)
    for cy, cx in rng.uniform(0, 256, (12, 2)):
        cells += 50 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 72.0)
    bead = ((y - 60) ** 2 + (x - 200) ** 2) < 7**2
    away = ((y - 60) ** 2 + (x - 200) ** 2) >= 15**2
    noise = 5.0 * rng.standard_normal(cells.shape)
    low = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1), kind="image")

    def error(out: np.ndarray, clean: np.ndarray) -> float:
        return float(np.sqrt(np.mean((out[away] - clean[away]) ** 2)))

    clean = cells + 1e6 * bead
    noisy = clean + noise
    assert floor_over_noise(noisy) > 100
    with pytest.warns(OutOfDomainWarning, match=r"its values span [\d.e+]+x its noise \(a very bright object\)"):
        out = low.run(noisy)
    assert error(out, clean) > error(noisy, clean)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        given = low.run(noisy, scale=(100.0, 5.0))
        plain = low.run(cells + noise)  # without the bead: nothing to tell
    assert error(given, clean) < 0.4 * error(noisy, clean) and error(plain, cells) < 0.4 * error(noisy, clean)
    assert floor_over_noise(cells + noise) < 1


def test_a_bright_frame_whose_floor_stands_a_few_times_over_its_noise_is_told() -> None:
    """Flat-topped cells with sharp edges at high photon counts: the range's floor stands 1.5-4x over
    the noise, so the network sees the noise smaller than it is, and the int8 image model (the
    default's on the CPU) leaves the frame 1.3-4x the input's error. What it removed is judged
    against the noise measured (1.7-4.7x it), not against the floor (under 1.2x), so it warns; at
    lower counts the floor is under the noise, and what was removed is judged against the noise as before."""
    from fluorodn import OutOfDomainWarning
    from fluorodn.normalize import floor_over_noise

    rng = np.random.default_rng(5)
    y, x = np.mgrid[:256, :256]
    cells = np.full((256, 256), 20.0)
    for cy, cx, r, a in rng.uniform([0, 0, 4, 50], [256, 256, 12, 200], (40, 4)):
        cells[(y - cy) ** 2 + (x - cx) ** 2 < r * r] += a
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    for photons in (300, 3000):
        clean = cells * photons
        noisy = rng.poisson(clean).astype(np.float64)
        assert 1.0 < floor_over_noise(noisy) < 10.0
        with pytest.warns(OutOfDomainWarning, match=r"its values span [\d.e+]+x its noise \(a very bright object\)"):
            out = den.run(noisy)
        assert np.sqrt(np.mean((out - clean) ** 2)) > 1.2 * np.sqrt(np.mean((noisy - clean) ** 2))
    dim = rng.poisson(cells * 3).astype(np.float64)
    assert floor_over_noise(dim) < 1.0


def test_bright_blobs_the_network_smooths_are_told_and_removed_noise_is_not() -> None:
    """Gaussian blobs packed on a frame, peaking at 500x the background's noise: the network lowers
    their peaks and raises their sides, leaving the frame worse than the input. What it removed is
    smooth and follows the output's curvature, which removed noise does not: told, and told a lower
    noise level the model leaves the frame better than the input. Sparse blobs that come out
    denoised stay silent."""
    import warnings

    from scipy.ndimage import gaussian_filter

    from fluorodn import OutOfDomainWarning
    from fluorodn._engine import CURVATURE_AFTER, CURVATURE_CORRELATION, curvature_removal, removal_readings

    rng = np.random.default_rng(0)
    i, j = np.mgrid[:128, :128]
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1))

    def blobs(count: int) -> np.ndarray:
        points = np.zeros((128, 128))
        at = rng.integers(20, 108, (count, 2))
        points[at[:, 0], at[:, 1]] = 1.0
        b = gaussian_filter(points, 5.0)
        return 100.0 * (1.0 + 0.3 * np.sin(i / 60.0) * np.cos(j / 45.0)) + 5000.0 * b / b.max()

    def error(out: np.ndarray) -> float:
        return float(np.sqrt(np.mean((out - clean) ** 2) / np.mean((noisy - clean) ** 2)))

    clean = blobs(60)
    noisy = rng.poisson(clean).astype(np.float64)
    with pytest.warns(OutOfDomainWarning, match="the image model removed"):
        out = den.run(noisy)
    assert error(out) > 1.1
    # the network's output: what it removed is smooth and follows the output's curvature, the reading
    # that names it (the blobs' cores, which lose more than the noise, are then put back)
    flat = Denoiser(device="cpu", options=DenoiserOptions(threads=1, keep_spots=False)).run(noisy)
    assert removal_readings(noisy, flat)[3] > CURVATURE_AFTER
    assert curvature_removal(noisy, flat) > CURVATURE_CORRELATION + 0.1
    assert error(out) < error(flat) - 0.05
    centre, noise = global_scale(noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        assert error(den.run(noisy, scale=(centre, noise / 4))) < 0.9
    # the truth's own noise taken off: no shape (a reading near 0, positive or negative)
    assert abs(curvature_removal(noisy, clean)) < 0.1 < CURVATURE_CORRELATION
    assert removal_readings(noisy, clean)[3] < 0.1
    clean = blobs(8)
    noisy = rng.poisson(clean).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        assert error(den.run(noisy)) < 0.9


def test_blobs_improved_under_noise_correlated_along_rows_stay_silent() -> None:
    """Noise correlated along rows (a scanning microscope) makes what was removed correlate with itself
    along them: wider blobs the network improves, whose removed part follows their curvature a
    little, stay silent, since along the columns what was removed is not smooth."""
    import warnings

    from scipy.ndimage import gaussian_filter
    from scipy.signal import lfilter

    from fluorodn import OutOfDomainWarning
    from fluorodn._engine import CURVATURE_AFTER, curvature_removal, removal_readings

    rng = np.random.default_rng(8)
    points = np.zeros((256, 256))
    at = rng.integers(20, 236, (240, 2))
    points[at[:, 0], at[:, 1]] = 1.0
    b = gaussian_filter(points, 8.0)
    i, j = np.mgrid[:256, :256]
    clean = 100.0 * (1.0 + 0.3 * np.sin(i / 60.0) * np.cos(j / 45.0)) + 5000.0 * b / b.max()
    along = lfilter([np.sqrt(1 - 0.5**2)], [1.0, -0.5], rng.standard_normal(clean.shape), axis=1)
    noisy = clean + np.sqrt(clean) * along
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        out = Denoiser(device="cpu", options=DenoiserOptions(threads=1)).run(noisy)
    assert np.sqrt(np.mean((out - clean) ** 2) / np.mean((noisy - clean) ** 2)) < 0.85
    _, structure, _, smooth = removal_readings(noisy, out)
    assert structure > CURVATURE_AFTER > smooth  # smooth along the rows only
    assert curvature_removal(noisy, out) > 0.2  # what the gate keeps from a false warning


def test_the_curvature_reading_covers_a_large_frame_and_skips_a_tiny_one() -> None:
    """On a 1024 x 1024 frame the curvature is read on the whole frame (the spot search's nine 80 x 80
    blocks would miss blobs that lie between them); on 2048 x 2048, on nine blocks of 336 x 336; a
    frame under 16 pixels a side is not read (the kernel spans 13)."""
    from scipy.ndimage import gaussian_filter

    from fluorodn._engine import CURVATURE_BLOCK, CURVATURE_VALUES, curvature_removal, spot_blocks

    assert spot_blocks((1024, 1024), CURVATURE_VALUES, CURVATURE_BLOCK) == [(slice(0, 1024), slice(0, 1024))]
    blocks = spot_blocks((2048, 2048), CURVATURE_VALUES, CURVATURE_BLOCK)
    assert len(blocks) == 9 and sum((r.stop - r.start) * (c.stop - c.start) for r, c in blocks) <= CURVATURE_VALUES
    rng = np.random.default_rng(3)
    points = np.zeros((1024, 1024))
    at = rng.integers(20, 1004, (3000, 2))
    off = np.ones(len(at), bool)
    for rows, cols in spot_blocks((1024, 1024)):  # none on the spot search's blocks
        on_rows = (at[:, 0] >= rows.start - 15) & (at[:, 0] < rows.stop + 15)
        off &= ~(on_rows & (at[:, 1] >= cols.start - 15) & (at[:, 1] < cols.stop + 15))
    points[at[off, 0], at[off, 1]] = 1.0
    clean = 100.0 + 5000.0 * gaussian_filter(points, 5.0) / gaussian_filter(points, 5.0).max()
    smoothed = gaussian_filter(clean, 2.0)  # an output that lowered the peaks and raised their sides
    assert curvature_removal(clean, smoothed) > 0.5
    tiny = rng.normal(1000.0, 30.0, (12, 12))
    assert curvature_removal(tiny, gaussian_filter(tiny, 2.0)) == 0.0


def test_a_removed_periodic_pattern_is_told_and_removed_noise_is_not() -> None:
    """Stripes a few pixels apart (striated muscle, a grating) that the image model flattens leave the
    output further from the truth than the input; what it removed is mostly one line of its power
    spectrum, which removed noise (white or correlated along one axis) never is, and the warning names
    the period. Blobs on a regular grid, denoised with their peaks kept, stay silent."""
    import warnings

    from scipy.ndimage import gaussian_filter
    from scipy.signal import lfilter

    from fluorodn import OutOfDomainWarning
    from fluorodn._engine import PERIODIC_SHARE, periodic_stats

    rng = np.random.default_rng(2)
    low = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1), kind="image")
    cols = np.arange(256)
    for period, noise, turned in ((4, 20.0, True), (6, 20.0, False)):
        clean = np.tile(100.0 + 50.0 * np.sin(2 * np.pi * cols / period), (256, 1))
        for frame in (clean, clean.T.copy()) if turned else (clean,):
            noisy = frame + noise * rng.standard_normal(frame.shape)
            direction = "along its rows" if frame is clean else "down its columns"
            with pytest.warns(
                OutOfDomainWarning,
                match=rf"repeats every ({period}|{period - 1}\.9\d*)(\.\d+)? pixels {direction}: it makes up",
            ):
                out = low.run(noisy)
            assert np.sqrt(np.mean((out - frame) ** 2)) > np.sqrt(np.mean((noisy - frame) ** 2))
    smooth = gaussian_filter(rng.standard_normal((256, 256)), 8) * 400 + 1000
    along = lfilter([np.sqrt(0.75)], [1.0, -0.5], rng.standard_normal(smooth.shape), axis=1)
    assert periodic_stats(smooth + np.sqrt(smooth) * along, smooth)[0] < 0.1  # removed noise: no line
    _, ii, jj = _spot_page()
    points = np.zeros((256, 256))
    points[ii, jj] = 1.0
    blobs = gaussian_filter(points, 6)
    blobs = 30.0 + 3000.0 * blobs / blobs.max()
    page = rng.poisson(blobs).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        out = low.run(page)
    assert periodic_stats(page, out)[0] < PERIODIC_SHARE


def test_a_spectral_warning_says_where_the_shape_chose_the_path() -> None:
    """A tall frame (600 x 256) looks like a time x wavelength recording and takes the spectral path:
    its out-of-domain warnings say so and how to declare frames; a recording declared so (or a
    model declared spectral) gets them as they are."""
    import warnings

    from fluorodn import OutOfDomainWarning
    from fluorodn.denoiser import DETECTED_PATH

    rng = np.random.default_rng(0)
    y, x = np.mgrid[:600, :256]
    cells = np.full((600, 256), 100.0)
    for cy, cx in rng.uniform(0, [600, 256], (30, 2)):
        cells += 50 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 72.0)
    noisy = cells + 5 * rng.standard_normal(cells.shape)

    def said(run: Any) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
        return [str(w.message) for w in caught if issubclass(w.category, OutOfDomainWarning)]

    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    detected = said(lambda: den.run(noisy))
    assert detected and all(m.endswith(DETECTED_PATH) for m in detected)
    assert "declare them: kind='image'" in DETECTED_PATH
    streamed = said(lambda: list(den.stream([noisy])))
    assert streamed == detected
    for run in (lambda: den.run(noisy, recording=True), lambda: Denoiser(kind="spectral").run(noisy)):
        told = said(run)
        assert told and not any(DETECTED_PATH in m for m in told)
    assert said(lambda: Denoiser(kind="image").run(noisy)) == []


def test_removal_structure_tells_a_removed_pattern_from_removed_noise() -> None:
    """What was removed correlates with itself as the noise does (0 for white noise, about 0.5
    for noise correlated 0.5 along rows), nearly fully for a checkerboard of pixels or fine stripes,
    whose removal :func:`removal_excess` cannot see: they raise its noise estimates as much."""
    from scipy.signal import lfilter

    from fluorodn._engine import REMOVAL_CORRELATION, REMOVAL_LIMIT, removal_excess, removal_structure

    rng = np.random.default_rng(7)
    smooth = np.add.outer(np.linspace(0, 50, 300), np.linspace(0, 80, 200)) + 500
    white = 10 * rng.standard_normal(smooth.shape)
    assert removal_structure(smooth + white, smooth) < 0.05
    along = 10 * lfilter([np.sqrt(0.75)], [1.0, -0.5], rng.standard_normal(smooth.shape), axis=1)
    assert removal_structure(smooth + along, smooth) == pytest.approx(0.5, abs=0.05)
    i, j = np.mgrid[: smooth.shape[0], : smooth.shape[1]]
    for pattern in (np.where((i + j) % 2 == 0, 40.0, -40.0), 40.0 * np.sin(2 * np.pi * j / 2.5)):
        noisy = smooth + pattern + white
        removed_all = np.full(smooth.shape, smooth.mean())  # pattern, noise and the ramps removed
        assert removal_excess(noisy, smooth) < REMOVAL_LIMIT  # the pattern hides in the noise estimate
        assert removal_structure(noisy, smooth) > 0.85 > REMOVAL_CORRELATION
        assert removal_structure(noisy, removed_all) > REMOVAL_CORRELATION
    assert removal_structure(smooth, smooth) == 0.0
    assert removal_structure(smooth[:2, :2], smooth[:2, :2] + 1) == 0.0
    # on 3 columns a lag's sum is scaled up to 3-fold: still no correlation beyond 1
    assert max(removal_structure(rng.standard_normal((3, 3)), np.zeros((3, 3))) for _ in range(50)) <= 1.0


def test_spot_removal_tells_flattened_spots_from_removed_noise() -> None:
    """Removing only the noise around bright spots removes about none of their excess over the ring
    around them; flattening them removes all of it; a page without spots standing out is not judged.
    Long pages are judged on a crop wide enough for the spots, integer counts and large offsets alike."""
    from scipy.ndimage import gaussian_filter

    from fluorodn._engine import SPOT_COUNT, SPOT_NOISE, SPOT_REMOVED, removal_stats, spot_removal

    rng = np.random.default_rng(8)

    def spots(shape: tuple[int, int], n: int) -> np.ndarray:
        points = np.zeros(shape)
        step = shape[1] // n
        points[rng.integers(10, shape[0] - 10, n), 10 + step * np.arange(n)] = 1.0  # apart along the columns
        return 400.0 + 160.0 * 2 * np.pi * 1.3**2 * gaussian_filter(points, 1.3)  # peaks 8x the noise

    clean = spots((200, 300), 28)
    noisy = clean + 20.0 * rng.standard_normal(clean.shape)
    found, share = spot_removal(noisy, clean)
    assert 20 <= found <= 28 and abs(share) < SPOT_NOISE
    found, share = spot_removal(noisy, np.full(clean.shape, 400.0))
    assert 20 <= found <= 28 and share > 0.9 > SPOT_REMOVED
    # the runtime looks for flattened spots where what was removed has a bright tail: not removed noise
    assert removal_stats(noisy, np.full(clean.shape, 400.0))[2] and not removal_stats(noisy, clean)[2]
    found, share = spot_removal(400.0 + 20.0 * rng.standard_normal(clean.shape), np.full(clean.shape, 400.0))
    assert found < SPOT_COUNT and np.isnan(share)
    assert np.isnan(spot_removal(noisy[:8], clean[:8])[1]) and np.isnan(spot_removal(clean * 0, clean * 0)[1])

    counts = np.clip(noisy, 0, None).astype(np.uint16)  # integer counts, read as they are
    assert spot_removal(counts, np.full(clean.shape, 400.0))[1] > 0.9
    offset = 1e7  # a large offset keeps its noise of 20 counts
    assert abs(spot_removal(noisy + offset, clean + offset)[1]) < SPOT_NOISE

    wide = spots((32, 40000), 400)  # a long recording's worth of columns: judged on a crop 32 rows high
    wide_noisy = wide + 20.0 * rng.standard_normal(wide.shape)
    for page, flat in ((wide_noisy, np.full(wide.shape, 400.0)), (wide_noisy.T, np.full(wide.T.shape, 400.0))):
        found, share = spot_removal(page, flat)
        assert found >= SPOT_COUNT and share > 0.9


def _spot_page(spots: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean, ii, jj): 36 Gaussian spots of width 1.3 px, peaks 8x the noise of a background of 400
    counts, 36 px apart (or the background alone)."""
    from scipy.ndimage import gaussian_filter

    points = np.zeros((256, 256))
    ii, jj = 8 + 12 * (np.arange(36) // 6) * 3, 8 + 12 * (np.arange(36) % 6) * 3
    points[ii, jj] = 1.0 if spots else 0.0
    return 400.0 + 160.0 * 2 * np.pi * 1.3**2 * gaussian_filter(points, 1.3), ii, jj


def _intensity(a: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> float:
    """The spots' mean intensity over the 9 x 9 around each, the background taken off."""
    return float(np.mean([a[i - 4 : i + 5, j - 4 : j + 5].sum() - 81 * 400.0 for i, j in zip(ii, jj, strict=True)]))


def test_the_image_path_puts_back_the_spots_it_flattens_and_says_so() -> None:
    """Point-like spots (a microscope's puncta) are outside what the image models saw: the network
    flattens them to a fraction of their peaks and spreads them into a halo. The image path puts back
    what it removed from them, so they keep their peaks and intensity, changes nothing farther than
    6 pixels from a spot, and says so; keep_spots=False leaves the network's output and its warning."""
    from fluorodn import OutOfDomainWarning

    rng = np.random.default_rng(9)
    clean, ii, jj = _spot_page()
    noisy = rng.poisson(clean).astype(np.float64)
    low = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1), kind="image")
    flat = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1, keep_spots=False), kind="image")
    put_back = r"^the image model flattened small bright spots: it removed \d+ % of their excess.* was put back"
    with pytest.warns(OutOfDomainWarning, match=put_back):
        out = low.run(noisy)
    with pytest.warns(OutOfDomainWarning, match=r"flattened small bright spots.*measure spots on the input$"):
        y = flat.run(noisy)
    truth = _intensity(clean, ii, jj)
    assert np.mean(y[ii, jj] - 400.0) < 0.5 * 160.0  # the network alone: peaks under half the truth's
    assert np.mean(out[ii, jj] - 400.0) == pytest.approx(np.mean(clean[ii, jj] - 400.0), rel=0.1)
    assert _intensity(out, ii, jj) == pytest.approx(truth, rel=0.15)
    assert abs(_intensity(out, ii, jj) - truth) < 0.5 * abs(_intensity(y, ii, jj) - truth)
    # what it removed elsewhere stays removed: every pixel farther than 6 from a spot is the network's
    near = np.zeros(clean.shape, bool)
    for i, j in zip(ii, jj, strict=True):
        near[max(0, i - 6) : i + 7, max(0, j - 6) : j + 7] = True
    np.testing.assert_array_equal(out[~near], y[~near])
    assert np.sqrt(np.mean((out - clean) ** 2)) < np.sqrt(np.mean((y - clean) ** 2))


@pytest.mark.parametrize("peak", [30.0, 120.0])
def test_bright_spots_that_lose_a_small_share_but_many_noise_levels_are_put_back(peak: float) -> None:
    """Spots far brighter than the noise lose a small share of their excess (under the 40 % a faint
    spot is judged by) but several noise levels from their cores, which then lie further from the
    truth than the input's: told, and put back. Peaks at 120x the noise leave as much removed below
    as above (the network rings around them), so no bright tail reads them: their count beyond what
    noise leaves does."""
    import warnings

    from fluorodn import OutOfDomainWarning
    from fluorodn._engine import SPOT_REMOVED, spot_readings

    rng = np.random.default_rng(5)
    i, j = np.mgrid[:256, :256]
    at = rng.integers(12, 244, (40, 2))
    clean = np.full((256, 256), 50.0)
    for r, c in at:
        clean += 5.0 * peak * np.exp(-((i - r) ** 2 + (j - c) ** 2) / 8.0)
    noisy = clean + rng.normal(0.0, 5.0, clean.shape)
    cores = np.zeros(clean.shape, bool)
    for r, c in at:
        cores[r - 2 : r + 3, c - 2 : c + 3] = True

    def on_cores(out: np.ndarray) -> float:
        return float(np.sqrt(np.mean((out - clean)[cores] ** 2) / np.mean((noisy - clean)[cores] ** 2)))

    flat = Denoiser(device="cpu", options=DenoiserOptions(threads=1, keep_spots=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        y = flat.run(noisy)
    _, share, core, _ = spot_readings(noisy, y)
    assert share < SPOT_REMOVED and core > 2.0 * 5.0
    assert on_cores(y) > 2.0  # the network alone: the cores far worse than the input's
    den = Denoiser(device="cpu", options=DenoiserOptions(threads=1))
    with pytest.warns(OutOfDomainWarning, match=r"flattened small bright spots: .* noise level from their 5 x 5 cores"):
        out = den.run(noisy)
    assert on_cores(out) < 1.05  # the input's values, and its noise, put back on them
    assert np.sqrt(np.mean((out - clean) ** 2)) < 0.7 * np.sqrt(np.mean((noisy - clean) ** 2))


def test_faint_cells_the_network_flattens_are_told_and_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faint cells a few pixels wide (peaks 3-7x the noise), sparse on a smooth frame: the network
    removes most of each, so the cells end further from the truth than the input, while each of
    their pixels stands within the noise and what was removed has no bright tail of single values.
    Its means over 2 x 5 patches have one: the spots are read, told and put back."""
    import warnings

    from fluorodn import OutOfDomainWarning, _engine

    rng = np.random.default_rng(12)
    i, j = np.mgrid[:256, :256]
    clean = 1.0 + 10.0 * j / 256  # a ramp across the columns
    for _ in range(8):  # 8 cells, 1.5-4 px wide, peak 2 at noise 0.3
        ci, cj, width = rng.uniform(8, 248), rng.uniform(8, 248), rng.uniform(1.5, 4.0)
        clean = clean + 2.0 * np.exp(-((i - ci) ** 2 + (j - cj) ** 2) / (2 * width**2))
    cells = clean - (1.0 + 10.0 * j / 256) > 1.0
    noisy = clean + 0.3 * rng.standard_normal(clean.shape)

    def on_cells(y: np.ndarray) -> float:
        return float(np.sqrt(np.mean((y - clean)[cells] ** 2) / np.mean((noisy - clean)[cells] ** 2)))

    flat = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1, keep_spots=False), kind="image")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        y = flat.run(noisy)
    assert on_cells(y) > 1.5  # the network alone: the cells far worse than the input's
    assert [str(w.message).startswith("the image model flattened small bright spots") for w in said] == [True]
    assert _engine.spot_readings(noisy, y)[1] > 0.7 > _engine.SPOT_REMOVED
    with monkeypatch.context() as m:  # single values alone: no bright tail, no reading, nothing said
        m.setattr(_engine, "_bright_patches", lambda r: False)
        assert not _engine._removal_readings(noisy, y)[2] and _engine._removal_readings(noisy, y)[5] < _engine.SPOT_LIT
        with warnings.catch_warnings():
            warnings.simplefilter("error", OutOfDomainWarning)
            flat.run(noisy)
    den = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1), kind="image")
    with pytest.warns(OutOfDomainWarning, match=r"flattened small bright spots.* was put back"):
        out = den.run(noisy)
    assert on_cells(out) < 1.1  # the input's values put back on them
    assert np.sqrt(np.mean((out - clean) ** 2)) < 0.3 * np.sqrt(np.mean((noisy - clean) ** 2))


def test_pages_without_flattened_spots_are_left_as_the_network_gives_them() -> None:
    """Bright blobs on a dark background, which the image path denoises, and plain noise stay silent
    and come out as the network gives them; noise alone holds no spot to put back."""
    import warnings

    from scipy.ndimage import gaussian_filter

    from fluorodn import OutOfDomainWarning
    from fluorodn._engine import spot_peaks

    rng = np.random.default_rng(10)
    low = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1), kind="image")
    flat = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1, keep_spots=False), kind="image")
    _, ii, jj = _spot_page()
    points = np.zeros((256, 256))
    points[ii, jj] = 1.0
    blobs = gaussian_filter(points, 6)
    blobs = 30.0 + 3000.0 * blobs / blobs.max()
    for page, truth in ((rng.poisson(blobs).astype(np.float64), blobs), (rng.poisson(_spot_page(False)[0]), None)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", OutOfDomainWarning)
            y = low.run(page)
        np.testing.assert_array_equal(y, flat.run(page))
        if truth is not None:  # the blobs come out denoised, their peaks kept
            assert np.mean(y[ii, jj]) == pytest.approx(np.mean(truth[ii, jj]), rel=0.05)
    # noise alone stands out as a spot about once in 3 million pixels, and never at the border
    # (mirrored, where the contrast spreads wider): none within 2 pixels of it
    found = [spot_peaks(rng.standard_normal((512, 512))) for _ in range(20)]
    assert sum(len(rows) for rows, _ in found) <= 3
    assert all(np.all((a >= 2) & (a < 510)) for rows, cols in found for a in (rows, cols))


def test_spots_are_put_back_on_every_page_of_a_stack_and_streamed_alike() -> None:
    """A stack: each page whose spots were flattened gets them back, the warning names the first
    and counts them all, a page of noise alone is left as the network gives it, and the stream
    (the files' path) gives the same pages as run."""
    import warnings

    from fluorodn import OutOfDomainWarning

    rng = np.random.default_rng(11)
    clean, ii, jj = _spot_page()
    background = _spot_page(False)[0]
    stack = np.stack([rng.poisson(c).astype(np.float32) for c in (background, clean, clean)])
    low = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1), kind="image")
    flat = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1, keep_spots=False), kind="image")
    with pytest.warns(OutOfDomainWarning, match=r"^page index 1: .*the \d+ spots found on 2 pages was put back"):
        out = low.run(stack)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = flat.run(stack)
        streamed = np.stack(list(low.stream(iter(stack))))
    np.testing.assert_array_equal(out[0], y[0])
    for k in (1, 2):
        assert np.mean(out[k][ii, jj] - 400.0) == pytest.approx(np.mean(clean[ii, jj] - 400.0), rel=0.15)
    np.testing.assert_array_equal(streamed, out)


def test_spots_put_back_after_another_warning_of_a_stream_are_told_once() -> None:
    """A stream cut into one page a chunk (the files' path on large frames): a page from which the
    model removed a pattern warns first; the spots put back on later pages are told of once, by the
    page where they were first put back, and every page equals what run gives it alone."""
    import warnings

    from fluorodn import OutOfDomainWarning

    rng = np.random.default_rng(12)
    clean = _spot_page()[0]
    i, j = np.indices(clean.shape)
    checker = 400.0 + 200.0 * np.where((i + j) % 2 == 0, 1.0, -1.0)
    pages = [rng.poisson(c).astype(np.float32) for c in (checker, clean, clean)]
    low = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1, tile_pixels=256 * 256), kind="image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        streamed = list(low.stream(iter(pages)))
    said = [str(w.message) for w in caught if issubclass(w.category, OutOfDomainWarning)]
    assert len(said) == 2 and said[0].startswith("the image model removed a pattern")
    assert said[1].startswith("page index 1: what the image model removed from") and "was put back" in said[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for page, out in zip(pages, streamed, strict=True):
            np.testing.assert_array_equal(out, low.run(page))


def test_an_image_model_refuses_the_spectral_path_s_options(tiny_model: Path, helpers: Any) -> None:
    """An image model runs every input through the image path, where the spectral options would be
    dropped without a word: it refuses them, naming each (and a declared spectral kind refuses the
    image path's self-ensemble); the default model hands frames to the image model without them, and
    its frames come out as the image model's alone."""
    from fluorodn.errors import ModelError

    for options, named in (
        (DenoiserOptions(strength=0.5), "strength=... applies"),
        (DenoiserOptions(spectral_only=True), "spectral_only=True applies"),
        (DenoiserOptions(keep_onsets=False, keep_fixed_pattern=True), "keep_fixed_pattern=True and keep_onsets=False"),
    ):
        with pytest.raises(ModelError, match="is an image model") as err:
            Denoiser(str(tiny_model), device="cpu", options=options)
        assert named in str(err.value)
    assert DenoiserOptions(strength=0.3, keep_onsets=False).for_images() == DenoiserOptions()
    with pytest.raises(ModelError, match="self_ensemble=True applies to the image path only"):
        Denoiser(device="cpu", kind="spectral", options=DenoiserOptions(self_ensemble=True))
    frame = np.random.default_rng(0).normal(size=(96, 96)).astype(np.float32)
    weaker = Denoiser(device="cpu", options=DenoiserOptions(threads=1, strength=0.3, keep_fixed_pattern=True))
    plain = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1))
    np.testing.assert_array_equal(weaker.run(frame), plain.run(frame))
