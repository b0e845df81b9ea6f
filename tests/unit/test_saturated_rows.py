"""Samples saturated in every bin are set aside as the light-off samples are, and named for what they
are: an out-of-domain warning, not the light-off notice."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fluorodn import Denoiser
from fluorodn.errors import LightOffNotice, OutOfDomainWarning

pytest.importorskip("fluorodn_train")


@pytest.fixture(scope="module")
def den() -> Denoiser:
    return Denoiser(device="cpu")


def _recording(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) float64, 3000 x 152, scaled to a 16-bit detector's range below its maximum."""
    from fluorodn_train.data import make_instance
    from fluorodn_train.synth import WIDE

    inst = make_instance(np.random.default_rng(seed), 3000, 152, 0.4, signal=WIDE)
    k = 50000.0 / float(inst.noisy.max())
    return inst.noisy.astype(np.float64) * k, inst.clean.astype(np.float64) * k


def _said(run, *args) -> tuple[np.ndarray, list[tuple[type, str]]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = run(*args)
    return got, [(w.category, str(w.message)) for w in caught if w.category in (OutOfDomainWarning, LightOffNotice)]


def test_saturated_samples_are_set_aside_and_named(den: Denoiser) -> None:
    """10 samples at the detector's maximum in every bin: returned as recorded, their neighbours
    denoised as well as without them (projected with the others they spread there), and named as
    saturated, not as taken with the light off; dark samples at the start are still named so."""
    x, clean = _recording()
    y = x.copy()
    y[1000:1010] = 65535.0
    out, said = _said(den.run, y.astype(np.float32))
    assert said == [
        (OutOfDomainWarning, "10 of 3000 samples are saturated (every bin at one value above the other samples, at "
                             "sample 1000-1009, counting from 0): they hold no measurement, were returned as recorded "
                             "and left out of the denoising of the others"),
    ]  # fmt: skip
    np.testing.assert_array_equal(out[1000:1010], 65535.0)
    near = np.r_[980:1000, 1010:1030]
    raw = np.mean((x[near] - clean[near]) ** 2)
    assert np.mean((out[near] - clean[near]) ** 2) < 0.1 * raw
    from unittest import mock

    from fluorodn import spectral

    every_row = (np.ones(3000, bool), np.zeros(3000, bool))
    # projected with the others (and not kept as sudden changes either), they spread there
    first = mock.patch.object(spectral, "keep_brief", lambda coef, first, *_: (first, np.zeros(len(first), bool)))
    with mock.patch.object(spectral, "set_aside", return_value=every_row), first, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        projected = den.run(y.astype(np.float32))
    assert np.mean((projected[near] - clean[near]) ** 2) > 0.3 * raw
    dark = y.copy()
    dark[:5] = 400.0 + np.random.default_rng(1).normal(0.0, 5.0, (5, 152))
    _, said = _said(den.run, dark.astype(np.float32))
    assert [c for c, _ in said] == [LightOffNotice, OutOfDomainWarning]
    assert (
        said[0][1].startswith("5 of 3000 samples read as taken with the light off") and "at sample 0-4," in said[0][1]
    )
    assert said[1][1].startswith("10 of 3000 samples are saturated")


def test_dark_samples_on_top_of_a_negated_recording_are_light_off(den: Denoiser) -> None:
    """Negated, a recording's dark samples stand above the others, with their noise: light off, not
    saturation."""
    x, _ = _recording(2)
    x[:6] = 400.0 + np.random.default_rng(3).normal(0.0, 5.0, (6, 152))
    _, said = _said(den.run, (-x).astype(np.float32))
    assert [c for c, _ in said] == [LightOffNotice] and "at sample 0-5," in said[0][1]


def test_a_stack_and_dask_name_saturated_samples_as_one_call_does(den: Denoiser) -> None:
    """In a stack the saturated page is named by its index, and the checks of the later pages go on
    (as after a light-off notice); fluorodn.dask gives one call's messages."""
    da = pytest.importorskip("dask.array")
    import fluorodn.dask as fdask

    x, _ = _recording(4)
    y = x.copy()
    y[2000:2003] = 65535.0
    one = _said(den.run, y.astype(np.float32))[1]
    lazy = _said(fdask.denoise, da.from_array(y.astype(np.float32), chunks=(700, 152)))
    assert lazy[1] == one and one[0][1].startswith("3 of 3000 samples are saturated")
    # in a stack, the page's checks read the rows one call keeps: 200 saturated rows (7 % of the
    # values at the maximum) are named once, not also as clipping
    y[2200:2400] = 65535.0
    stack = np.stack([x, y]).astype(np.float32)
    _, said = _said(den.run, stack)
    assert [m for _, m in said] == [f"page index 1: {m}" for _, m in _said(den.run, stack[1])[1]]
    assert len(said) == 1 and "203 of 3000 samples are saturated" in said[0][1]
    assert _said(fdask.denoise, da.from_array(stack, chunks=(1, 3000, 152)))[1] == said


def test_a_stretch_of_saturation_longer_than_light_off_stretches_is_set_aside(den: Denoiser) -> None:
    """600 saturated samples, more than a light-off stretch may span: set aside and named all the same."""
    x, _ = _recording(5)
    x[1000:1600] = 65535.0
    out, said = _said(den.run, x.astype(np.float32))
    assert [c for c, _ in said] == [OutOfDomainWarning] and said[0][1].startswith("600 of 3000 samples are saturated")
    np.testing.assert_array_equal(out[1000:1600], 65535.0)
