"""What the library does with arguments it cannot use: one clear sentence, as an InputError (a
FluorodnError and a ValueError), before anything is computed; and what following its advice gives."""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import fluorodn
import fluorodn.errors
from fluorodn import Denoiser, DenoiserOptions, FluorodnError, InputError, ModelError
from fluorodn._engine import clipping_warning, percent
from fluorodn.io import cast_pages

EXAMPLE = Path(fluorodn.__file__).parent / "data" / "example.tif"

# the tiny test model is an image model, and its output is not a denoiser's
pytestmark = [
    pytest.mark.filterwarnings("ignore::fluorodn.ModelChoiceWarning"),
    pytest.mark.filterwarnings("ignore::fluorodn.OutOfDomainWarning"),
]


@pytest.fixture(scope="module")
def example() -> np.ndarray:
    """The first 600 samples of the shipped example recording, (600, 152) float64."""
    return np.asarray(tifffile.imread(EXAMPLE)[:600], dtype=np.float64)


@pytest.fixture(scope="module")
def default() -> Denoiser:
    return Denoiser(device="cpu", options=DenoiserOptions(threads=1))


def rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - b) ** 2)))


# -- the error classes -------------------------------------------------------------------


def test_input_error_is_a_fluorodn_error_and_a_value_error() -> None:
    assert issubclass(InputError, FluorodnError) and issubclass(InputError, ValueError)
    assert fluorodn.InputError is fluorodn.errors.InputError


def test_every_error_and_warning_class_is_public() -> None:
    classes = {
        name
        for name, value in vars(fluorodn.errors).items()
        if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == "fluorodn.errors"
    }
    assert classes == set(fluorodn.errors.__all__)
    assert classes <= set(fluorodn.__all__)


# -- bad values and types ----------------------------------------------------------------


def _misuses(denoiser: Denoiser, x: np.ndarray) -> list[tuple[Any, str]]:
    nan = x.astype(np.float64)
    nan[3, 4] = np.nan
    return [
        (lambda: Denoiser(denoiser.path, kind="frames"), "kind must be one of"),
        (lambda: Denoiser(denoiser.path, device="gpu"), "device must be one of"),
        (lambda: Denoiser(denoiser.path, precision="fp16"), "precision must be one of"),
        (lambda: DenoiserOptions(strength=2.0), "strength must be from 0 to 1"),
        (lambda: DenoiserOptions(strength="1"), "strength must be a number"),
        (lambda: denoiser.run(x.astype(complex)), "complex"),
        (lambda: denoiser.run(x.astype(str)), "string"),
        (lambda: denoiser.run(nan), "NaN or infinite"),
        (lambda: denoiser.run(x, progress=5), "progress must be None or a function"),
        (lambda: denoiser.run(x, recording="yes"), "recording must be True or False"),
        (lambda: denoiser.run(x, rate=-1.0), "rate must be a positive number"),
        (lambda: denoiser.run(x, rate=1e-300), "rate must be a sampling rate of 1e-06 to 1e[+]09 samples per"),
        (lambda: denoiser.run(x, border="wrap"), "border must be"),
        (lambda: denoiser.run(x, scale=(0.0, -1.0)), "scale"),
        (lambda: denoiser.stream([x], progress="bar"), "progress must be None or a function"),
        (lambda: list(denoiser.stream([x, nan])), r"page index 1: input contains NaN"),
        # checked when stream() is called, not as its pages are taken
        (lambda: denoiser.stream(5), r"stream\(\) takes an iterable of 2D pages .*got int"),
        (lambda: denoiser.stream(None), r"stream\(\) takes an iterable of 2D pages .*got NoneType"),
        (lambda: denoiser.stream(x), r"this is one 2D array .*use run\(x\), or stream\(\[x\]\)"),
    ]


def test_misuse_raises_input_error(denoiser: Denoiser, recording: np.ndarray) -> None:
    for call, match in _misuses(denoiser, recording):
        with pytest.raises(InputError, match=match) as caught:
            call()
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, FluorodnError)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("field", ["keep_fixed_pattern", "spectral_only", "keep_onsets", "self_ensemble"])
@pytest.mark.parametrize("value", ["False", "no", 0, 1, None])
def test_bool_options_take_only_true_or_false(field: str, value: Any) -> None:
    with pytest.raises(InputError, match=rf"^{field} must be True or False, got {re.escape(repr(value))}$"):
        DenoiserOptions(**{field: value})


def test_bool_options_take_numpy_bools() -> None:
    opts = DenoiserOptions(keep_fixed_pattern=np.True_, self_ensemble=np.False_)
    assert opts.keep_fixed_pattern is True and opts.self_ensemble is False


@pytest.mark.parametrize(("field", "value"), [("threads", True), ("threads", 2.0), ("threads", "2"),
                                              ("tile_pixels", True), ("cuda_device", False)])  # fmt: skip
def test_integer_options_refuse_bools_and_other_types(field: str, value: Any) -> None:
    with pytest.raises(InputError, match=f"^{field} must be a"):
        DenoiserOptions(**{field: value})


def test_integer_options_take_numpy_integers() -> None:
    opts = DenoiserOptions(threads=np.int64(2), tile_pixels=np.int32(4096))
    assert (opts.threads, opts.tile_pixels) == (2, 4096) and type(opts.threads) is int


@pytest.mark.parametrize("model", [None, 3, 2.5, ["low"]])
def test_a_model_that_is_no_name_or_path(model: Any) -> None:
    with pytest.raises(InputError, match=r"^model must be a shipped model's name .* or the path to an \.onnx file"):
        Denoiser(model)


def test_options_that_are_no_denoiser_options(tiny_model: Path) -> None:
    with pytest.raises(InputError, match=r"options must be a fluorodn.DenoiserOptions .* not a dict; pass e\.g\. "
                       r"DenoiserOptions\(\*\*\{'strength': 0\.5\}\)"):  # fmt: skip
        Denoiser(tiny_model, options={"strength": 0.5})  # type: ignore[arg-type]


def test_a_folder_given_as_the_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"is a folder, not an \.onnx file"):
        Denoiser(str(tmp_path))


@pytest.mark.parametrize("bad", [5, 1.0, object()])
def test_unmix_refuses_a_denoise_it_cannot_run(bad: Any, example: np.ndarray) -> None:
    with pytest.raises(InputError, match=r"^denoise must be True, False, a model name, the path to an \.onnx file"):
        fluorodn.unmix(example, "477:595", "example", denoise=bad)


def test_unmix_takes_refine_as_true_or_false_only(example: np.ndarray) -> None:
    with pytest.raises(InputError, match=r"refine must be True or False, got 'False'"):
        fluorodn.unmix(example, "477:595", "example", denoise=False, refine="False")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [("nan", "interpolate", "nan must be one of"), ("dtype", "float16", "dtype must be"),
     ("overwrite", "no", "overwrite must be True or False"), ("rate", -5.0, "rate must be a positive")],
)  # fmt: skip
def test_file_settings_refuse_what_they_cannot_use(field: str, value: Any, fragment: str) -> None:
    from fluorodn.files import FileSettings

    with pytest.raises(InputError, match=fragment):
        FileSettings(**{field: value})


# -- NaN and values beyond float32 -----------------------------------------------------------


def test_following_the_nan_advice_keeps_the_output(default: Denoiser, example: np.ndarray) -> None:
    """The message's call bridges NaN over time, so the output stays near that of the recording
    without them; zeros in their place (np.nan_to_num) would be spread over the spectrum."""
    ref = default.run(example)
    rng = np.random.default_rng(0)
    holed = example.copy()
    holed[rng.integers(0, 600, 20), rng.integers(0, 152, 20)] = np.nan
    holed[300] = np.nan
    with pytest.raises(InputError) as caught:
        default.run(holed)
    message = str(caught.value)
    assert "NaN or infinite" in message and "nan_to_num" not in message  # the CLI's hint reads the first
    call = re.search(r"x = (fluorodn\.files\.fill_nonfinite\(x\)\[0\])", message)
    assert call is not None, message
    import fluorodn.files  # as the message says

    filled = eval(call.group(1), {"fluorodn": fluorodn, "x": holed})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good, zeros = rms(default.run(filled), ref), rms(default.run(np.nan_to_num(holed)), ref)
    assert good < 0.002 * float(np.std(example)), (good, zeros)
    assert good < 0.05 * zeros, (good, zeros)


def test_values_beyond_float32_are_refused_before_computing(default: Denoiser, example: np.ndarray) -> None:
    big = example * 1e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way to the refusal
        with pytest.raises(InputError, match=r"^input holds [\d.]+e\+4\d \(first at index \(0, 0\)\), beyond the "
                           r"largest float32 \(3\.4e\+38\)") as caught:  # fmt: skip
            default.run(big)
    found = re.search(
        r"divide it by a power of ten first, e\.g\. (1e\d+), and multiply the output by it", str(caught.value)
    )
    assert found is not None, caught.value
    k = float(found.group(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y, ref = default.run(big / k) * k, default.run(example) * 1e38
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))
    stack = np.ones((2, 20, 10))
    stack[1, 7, 3] = -1e39
    with pytest.raises(InputError, match=r"^input holds -1e\+39 \(first at index \(1, 7, 3\)\)"):
        default.run(stack)
    huge = np.ones((20, 10), dtype=np.longdouble)
    beyond_float64 = np.finfo(np.longdouble).max > np.longdouble("1e400")  # x86-64's 80-bit longdouble
    huge[2, 2] = np.longdouble("1e400") if beyond_float64 else 1e300
    with pytest.raises(InputError, match=r"\(first at index \(2, 2\)\), beyond the largest float32"):
        default.run(huge)
    deep = np.ones((2, 3, 20, 10))  # pages over the last two axes of a 4D array
    deep[1, 2, 5, 7] = np.nan
    with pytest.raises(InputError, match=r"NaN or infinite values \(first at index \(1, 2, 5, 7\)\)"):
        default.run(deep)
    deep[1, 2, 5, 7] = 1e39
    with pytest.raises(InputError, match=r"^input holds 1e\+39 \(first at index \(1, 2, 5, 7\)\)"):
        default.run(deep)


def test_values_within_float32_are_denoised_in_proportion(default: Denoiser, example: np.ndarray) -> None:
    k = 3e38 / float(example.max())  # the largest value just under float32's largest
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y, ref = default.run(example * k), default.run(example)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y / k, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))


# -- progress with samples taken with the light off ------------------------------------------


def test_progress_counts_every_value_with_the_light_off(default: Denoiser, example: np.ndarray) -> None:
    dark = np.random.default_rng(1).normal(0.0, 1.0, (20, example.shape[1]))
    x = np.vstack([dark, example])
    counts: list[int] = []
    with pytest.warns(fluorodn.LightOffNotice):
        default.run(x, progress=counts.append)
    assert sum(counts) == x.size
    counts.clear()
    with pytest.warns(fluorodn.LightOffNotice):
        list(default.stream([x, example], progress=counts.append))
    assert sum(counts) == x.size + example.size


# -- messages and outputs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "text"),
    [(0.001, "0.1"), (0.049, "4.9"), (0.0996, "10.0"), (0.123, "12.3"), (0.997, "99.7"), (0.9996, "over 99.9")],
)
def test_shares_print_as_percentages(share: float, text: str) -> None:
    assert percent(share) == text


def test_a_clipping_share_near_all_prints_without_an_exponent() -> None:
    x = np.full((40, 25), 5.0)
    x.flat[:3] = [1.0, 2.0, 3.0]  # 997 of 1000 values at the maximum
    message = clipping_warning(x)
    assert message is not None and message.startswith("99.7 % of the values equal the input's maximum 5"), message


def test_float16_output_keeps_infinite_values_and_clips_finite_ones() -> None:
    page = np.array([[np.inf, -np.inf, np.nan, 1e6, -1e6, 3.5]], dtype=np.float32)
    (out,) = cast_pages([page], np.dtype(np.float16))
    assert out.dtype == np.float16
    assert out[0, 0] == np.inf and out[0, 1] == -np.inf and np.isnan(out[0, 2])
    assert out[0, 3] == np.finfo(np.float16).max and out[0, 4] == np.finfo(np.float16).min
    assert out[0, 5] == np.float16(3.5)


def test_a_float16_file_keeps_its_inf_through_nan_fill(denoiser: Denoiser, tmp_path: Path, helpers: Any) -> None:
    from fluorodn.files import FileSettings, denoise_file

    x = helpers.spectra(120, 40).astype(np.float16)
    x[5, 3], x[9, 4], x[60, 0] = np.inf, -np.inf, np.nan
    np.save(tmp_path / "f16.npy", x)
    denoise_file(denoiser, tmp_path / "f16.npy", tmp_path / "out.npy", FileSettings(dtype="same", nan="fill"))
    y = np.load(tmp_path / "out.npy")
    assert y.dtype == np.float16
    assert y[5, 3] == np.inf and y[9, 4] == -np.inf and np.isnan(y[60, 0])
    assert int(np.isfinite(y).sum()) == y.size - 3
