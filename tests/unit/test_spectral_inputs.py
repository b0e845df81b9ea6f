"""The spectral path on inputs at its edges: nearly constant recordings, pages too narrow or short,
and each bin's time mean with the fixed pattern kept."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fluorodn
from fluorodn import Denoiser, DenoiserOptions, spectral
from fluorodn.errors import FluorodnError, InputError, OutOfDomainWarning
from fluorodn.report import VERDICTS, build_report, page_summary, verdict

EXAMPLE = Path(fluorodn.__file__).parent / "data" / "example.tif"


@pytest.fixture(scope="module")
def den() -> Denoiser:
    return Denoiser(device="cpu", options=DenoiserOptions(threads=1))


def run(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """``call(*args, **kwargs)`` with numpy's RuntimeWarnings (overflow) raised as errors, and the
    OutOfDomainWarning messages it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RuntimeWarning)
        got = call(*args, **kwargs)
    return got, [str(w.message) for w in caught if issubclass(w.category, OutOfDomainWarning)]


def saturated() -> np.ndarray:
    """A uint16 recording saturated at 65535 in all but 2 of its 91,200 values."""
    x = np.full((600, 152), 65535, dtype=np.uint16)
    x[100, 40], x[300, 90] = 65000, 64000
    return x


def one_changed() -> np.ndarray:
    """A constant recording with one value changed."""
    x = np.full((600, 152), 1000.0)
    x[3, 50] = 1001.0
    return x


def dark_counts() -> np.ndarray:
    """Photon counts taken in the dark: about 46 single counts among 91,200 zeros."""
    return np.random.default_rng(0).poisson(0.0005, (600, 152)).astype(np.uint16)


@pytest.mark.parametrize("make", [saturated, one_changed, dark_counts], ids=["saturated", "one changed", "dark"])
def test_a_nearly_constant_recording_has_a_floor_of_its_own_scale(make: Any) -> None:
    """All but a few values equal: the noise levels are a floor of a millionth of the recording's
    range (which keeps the departures' squares in the whitening finite), the projection finite, no
    pattern removed from a spectrum that is one value, and each departure its bin's own (the few
    bins holding the most)."""
    x = make()
    p, _ = run(spectral.project, x)
    span = float(x.max()) - float(x.min())
    assert p.nearly_constant and p.pattern is None
    np.testing.assert_allclose(p.sigma, 1e-6 * span)
    assert np.isfinite(p.coef).all() and np.isfinite(p.basis).all()
    assert set(np.abs(p.basis).sum(axis=0)) == {1.0}  # unit vectors: one bin each
    back = spectral.reconstruct(p, p.coef, np.float64)
    departed = (x != np.median(x)).any(axis=0)
    held = np.abs(p.basis).sum(axis=1) > 0
    assert held[departed].sum() == min(departed.sum(), p.components)
    np.testing.assert_allclose(back[:, held], x[:, held], atol=1e-9 * span)
    np.testing.assert_allclose(back[:, ~held], np.median(x), atol=1e-9 * span)


@pytest.mark.parametrize("make", [saturated, one_changed, dark_counts], ids=["saturated", "one changed", "dark"])
def test_a_nearly_constant_recording_is_denoised_without_overflow(den: Denoiser, make: Any) -> None:
    """Denoiser.run on a nearly constant recording: no overflow and no LinAlgError; each output
    value is its input value or the common one (as recorded where the components hold the
    departures, all of them with a few), and the one sentence of the checks names the recording
    nearly constant instead of noisier than training, of a pattern or of structure removed."""
    x = make()
    out, said = run(den.run, x)
    assert np.isfinite(out).all()
    common = float(np.median(x))
    assert np.all(np.isclose(out, x, atol=1e-6) | np.isclose(out, common, atol=1e-6))
    if make is not dark_counts:  # 1 or 2 departures: all kept
        np.testing.assert_array_equal(out, x.astype(np.float32))
    ours = [m for m in said if "nearly constant" in m]
    assert len(ours) == 1 and "no noise to measure" in ours[0], said
    assert not any(("noisier" in m or "structure" in m or "not smooth" in m) for m in said), said


def test_a_long_nearly_constant_recording_with_its_departure_in_a_row_not_read(den: Denoiser) -> None:
    """Long enough that the statistics rows (and the rows after them read for the time differences)
    skip rows, a constant recording with one value changed in a row none of them reads: the rows
    read are all equal, and the noise levels are a floor of a millionth of the common value; the
    projection and the output are finite, without overflow, and each output value is its input
    value or the common one."""
    t = 3 * spectral.STAT_ROWS + 3  # statistics rows every 4th: rows 3, 7, ... not read
    x = np.full((t, 152), 1000.0, np.float32)
    x[3, 50] = 1001.0
    p, _ = run(spectral.project, x)
    assert p.nearly_constant
    np.testing.assert_allclose(p.sigma, 1e-6 * 1000.0)
    assert np.isfinite(p.coef).all()
    out, said = run(den.run, x)
    assert np.isfinite(out).all()
    assert np.all((out == x) | (out == np.float32(1000.0)))
    assert any("nearly constant" in m for m in said), said


def test_unmix_refuses_a_recording_whose_bins_do_not_change() -> None:
    """fluorodn.unmix(..., denoise=True) of the saturated recording: every bin holds one value (its
    noise reads 0), so nothing is left to fit; one sentence, without overflow."""
    from fluorodn.unmixing import UnmixError

    with pytest.raises(UnmixError, match="152 of the recording's 152 bins hold one value in nearly every sample and 0"):
        run(fluorodn.unmix, saturated(), "477:595", "example")


def test_the_report_names_a_nearly_constant_recording() -> None:
    """A nearly constant recording's report: its noise level is a floor, so the verdict says there
    is nothing to judge (not that the removed part looks like noise), without overflow; nothing
    removed stays 'nothing removed'."""
    x = one_changed()[:300]
    flat = np.full_like(x, 1000.0)
    (text, summary), _ = run(build_report, x, flat)
    (page,) = summary["pages"]
    assert page["nearly_constant"] and page["verdict"] == "nearly constant: nothing to judge"
    assert VERDICTS[page["verdict"]] == "none"
    assert '<td class="none">nearly constant: nothing to judge</td>' in text
    s, _ = run(page_summary, saturated(), saturated())
    assert s["nearly_constant"] and verdict(s) == "nothing removed"
    s, _ = run(page_summary, dark_counts(), np.zeros((600, 152)))
    assert verdict(s) == "nearly constant: nothing to judge"


@pytest.mark.parametrize("shape", [(600, 1), (1, 152)])
def test_a_page_too_narrow_or_short_for_the_spectral_path_is_an_input_error(shape: tuple[int, int]) -> None:
    """Declared spectral, a page of 1 bin or 1 sample is fluorodn's InputError (a ValueError too),
    with the sentence that names its shape."""
    rng = np.random.default_rng(0)
    x = 1000 + rng.normal(0, 10, shape)
    spectral_den = Denoiser(kind="spectral", options=DenoiserOptions(threads=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)  # a bin count outside the model's range
        with pytest.raises(InputError, match=f"2 bins, got {shape[0]} x {shape[1]}") as caught:
            spectral_den.run(x)
    assert isinstance(caught.value, FluorodnError) and isinstance(caught.value, ValueError)
    with pytest.raises(InputError):
        spectral.fit(x)


def test_a_report_needs_4_samples_and_names_the_samples_given() -> None:
    """3 samples give each bin one time difference for its noise level, which has no spread: the
    report refuses them naming the samples and values given; 4 samples report."""
    rng = np.random.default_rng(0)
    for shape, said in (((3, 152), "3 time samples of 152 values,"), ((600, 1), "600 time samples of 1 value,")):
        x = 1000 + rng.normal(0, 10, shape)
        with pytest.raises(ValueError, match=f"cannot be reported on: it has {said} and a report needs at least 4"):
            build_report(x, np.full_like(x, 1000.0))
    with pytest.raises(ValueError, match=r"per page, and"):
        build_report(np.ones((2, 3, 152)), np.ones((2, 3, 152)))
    with pytest.raises(ValueError, match=r"must be \(T, W\) or \(N, T, W\) .*got shape \(152,\)$"):
        build_report(np.ones(152), np.ones(152))
    x = 1000 + rng.normal(0, 10, (4, 152))
    _, summary = build_report(x, np.full_like(x, 1000.0))
    assert summary["pages"][0]["verdict"] in VERDICTS


def example(rows: int = 1200) -> np.ndarray:
    import tifffile

    return np.asarray(tifffile.imread(EXAMPLE)[:rows], np.float64)


def test_keeping_the_fixed_pattern_keeps_each_bins_time_mean() -> None:
    """DenoiserOptions(keep_fixed_pattern=True), through the network and spectral-only: each bin's
    time mean comes out as recorded, to float32 rounding (the part of its departure from the
    median outside the kept components was dropped: up to 2.3 counts on the example)."""
    x = example()
    tol = 4 * np.finfo(np.float32).eps * float(np.abs(x).max())
    for spectral_only in (False, True):
        options = DenoiserOptions(threads=1, keep_fixed_pattern=True, spectral_only=spectral_only)
        out, _ = run(Denoiser(device="cpu", options=options).run, x)
        np.testing.assert_allclose(out.mean(axis=0, dtype=np.float64), x.mean(axis=0), rtol=0, atol=tol)


def test_the_kept_time_mean_is_of_the_lit_samples() -> None:
    """With samples taken with the light off (returned as recorded), the lit samples keep their
    time mean: the dark ones do not enter the mean matched."""
    x = example(1000)
    dark = np.zeros(len(x), bool)
    dark[300:340] = True
    x[dark] = 500.0 + np.random.default_rng(1).normal(0.0, 3.0, (int(dark.sum()), x.shape[1]))
    keep = Denoiser(device="cpu", options=DenoiserOptions(threads=1, keep_fixed_pattern=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = keep.run(x)
    tol = 4 * np.finfo(np.float32).eps * float(np.abs(x).max())
    np.testing.assert_array_equal(out[dark], x[dark].astype(np.float32))
    np.testing.assert_allclose(out[~dark].mean(axis=0, dtype=np.float64), x[~dark].mean(axis=0), rtol=0, atol=tol)


def test_the_kept_time_mean_in_projections() -> None:
    """project(fixed_pattern=False) gives reconstruct the whole recording's time mean, which it
    keeps whatever the traces' means became; fit (pieces of a run, as fluorodn.dask fits) gives the
    statistics rows' mean through the traces' own means, and its rows keep their values in any
    piece. The pattern removed (the default): no mean."""
    x = example(600)
    p = spectral.project(x, fixed_pattern=False)
    assert p.mean is not None
    moved = p.coef + np.float32(0.5)  # the traces' means moved
    for coef in (p.coef, moved):
        np.testing.assert_allclose(
            spectral.reconstruct(p, coef, np.float64).mean(axis=0), x.mean(axis=0), atol=1e-9 * x.max()
        )
    f = spectral.fit(x, fixed_pattern=False)
    assert f.mean is not None
    coef = spectral.coefficients(f, x)
    whole = spectral.reconstruct(f, coef, np.float64)
    np.testing.assert_allclose(whole.mean(axis=0), x.mean(axis=0), atol=1e-6 * x.max())
    np.testing.assert_array_equal(spectral.reconstruct(f, coef[100:200], np.float64), whole[100:200])
    shifted = spectral.reconstruct(f, coef + np.float32(0.5), np.float64).mean(axis=0)
    assert not np.allclose(shifted, x.mean(axis=0), atol=1e-6 * x.max())  # through the traces' means
    d = spectral.project(x)
    assert d.mean is None
