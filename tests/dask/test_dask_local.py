"""fluorodn.dask on local schedulers: exactness for any chunking, graph size, zarr/TIFF I/O."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

import dask  # noqa: E402
import dask.array as da  # noqa: E402

import fluorodn.dask as fdask  # noqa: E402
import fluorodn.normalize as fnorm  # noqa: E402
from fluorodn import Denoiser  # noqa: E402


def assert_same(got: np.ndarray, ref: np.ndarray, x: np.ndarray) -> None:
    """Equal within 1e-5 relative, judged on the values and on the removed noise."""
    assert got.dtype == np.float32
    assert got.shape == ref.shape
    scale = float(np.abs(ref).max())
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * scale)
    # the correction x - y is ~100x smaller than y here: check it too, so a stitching
    # error at the borders cannot hide behind the offset
    corr_ref = np.asarray(x, np.float64) - ref
    corr = np.asarray(x, np.float64) - got
    np.testing.assert_allclose(corr, corr_ref, rtol=0, atol=1e-4 * float(np.abs(corr_ref).max()))


@pytest.fixture(scope="module")
def single(dask_model, recording):
    return Denoiser(str(dask_model)).run(recording)


@pytest.mark.parametrize(
    "chunks",
    [
        (97, 61),  # one chunk
        (20, 20),  # regular
        (50, 61),  # rows only
        (3, 4),  # smaller than the halo (6)
        ((40, 2, 55), (7, 1, 53)),  # uneven, with 1- and 2-wide chunks
        ((6, 6, 85), (61,)),  # chunks exactly the halo
    ],
)
def test_equal_to_single_machine_for_any_chunking(dask_model, recording, single, chunks):
    y = fdask.denoise(da.from_array(recording, chunks=chunks), dask_model, device="cpu")
    assert y.dtype == np.float32
    assert y.shape == recording.shape
    got = y.compute(scheduler="threads", num_workers=2)
    assert_same(got, single, recording)


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [((10, 5), (3, 2)), ((5, 40), (1, 7)), ((1, 30), (1, 4)), ((13, 1), (2, 1)), ((14, 40), (7, 3))],
)
def test_arrays_about_the_halo_size(dask_model, shape, chunks):
    """Axes shorter than the halo (6) and chunks thinner than it."""
    x = 100.0 + np.random.default_rng(5).normal(0, 3, shape)
    ref = Denoiser(str(dask_model)).run(x)
    got = fdask.denoise(da.from_array(x, chunks=chunks), dask_model).compute()
    assert_same(got, ref, x)


def test_equal_when_the_denoiser_also_tiles(dask_model, recording, single):
    """Dask chunks and the Denoiser's own tiles (24x24 windows) compose exactly."""
    from fluorodn import DenoiserOptions

    opts = DenoiserOptions(threads=1, tile_pixels=600)
    assert len(Denoiser(str(dask_model), options=opts).plan((50, 61))) > 1
    y = fdask.denoise(da.from_array(recording, chunks=(50, 40)), dask_model, options=opts)
    assert_same(y.compute(), single, recording)


@pytest.mark.parametrize("chunks", [(20, 20), ((40, 2, 55), (7, 1, 53))])
def test_self_ensemble_equal_to_single_machine(dask_model, recording, chunks):
    """Each orientation's network output at a pixel depends on its halo only, so chunks with a
    halo of overlap give the single machine's self-ensemble."""
    from fluorodn import DenoiserOptions

    opts = DenoiserOptions(threads=1, self_ensemble=True)
    ref = Denoiser(str(dask_model), options=opts).run(recording)
    assert np.abs(ref - Denoiser(str(dask_model)).run(recording)).max() > 1e-3
    got = fdask.denoise(da.from_array(recording, chunks=chunks), dask_model, options=opts).compute()
    assert_same(got, ref, recording)


def test_shipped_default_model_with_default_settings(recording):
    """model="default", device="auto", precision "auto": the same as Denoiser().run."""
    import fluorodn

    if not fluorodn.available_models():
        pytest.skip("no shipped models in this checkout")
    x = np.tile(recording, (2, 1))  # (194, 61)
    ref = Denoiser().run(x)
    got = fdask.denoise(da.from_array(x, chunks=(64, 32))).compute()
    assert_same(got, ref, x)


def test_frames_with_the_spectral_path_s_settings():
    """The default model with spectral settings hands frames on to the image model without them,
    as one call does: the same result, no refusal."""
    import fluorodn

    if not fluorodn.available_models():
        pytest.skip("no shipped models in this checkout")
    x = np.random.default_rng(3).normal(100.0, 5.0, size=(96, 96)).astype(np.float32)  # a frame
    options = fluorodn.DenoiserOptions(threads=1, strength=0.5, keep_onsets=False, keep_fixed_pattern=True)
    ref = Denoiser(options=options).run(x)
    got = fdask.denoise(da.from_array(x, chunks=(64, 32)), options=options).compute()
    assert_same(got, ref, x)


def test_integer_input(dask_model, recording):
    x = np.round(recording * 10).astype(np.uint16)
    ref = Denoiser(str(dask_model)).run(x)
    got = fdask.denoise(da.from_array(x, chunks=(30, 25)), dask_model).compute()
    assert_same(got, ref, x)


def test_row_sampled_scale_matches_global_scale(dask_model, recording, monkeypatch):
    """Above MAX_SAMPLES values the scale uses row pairs: the dask path fetches the same ones."""
    monkeypatch.setattr(fnorm, "MAX_SAMPLES", 2000)
    assert fnorm.sample_rows(recording.shape) is not None
    a = da.from_array(recording, chunks=(13, 17))
    (m, s), rows = fdask._image_scale(a)
    assert (m, s) == fnorm.global_scale(recording)
    np.testing.assert_array_equal(rows, recording[fnorm.sample_rows(recording.shape)])
    ref = Denoiser(str(dask_model)).run(recording)
    assert_same(fdask.denoise(a, dask_model).compute(), ref, recording)


def test_explicit_scale(dask_model, recording):
    sc = (250.0, 4.0)
    ref = Denoiser(str(dask_model)).run(recording, scale=sc)
    got = fdask.denoise(da.from_array(recording, chunks=(25, 25)), dask_model, scale=sc).compute()
    assert_same(got, ref, recording)


def test_stack_pagewise(dask_model, recording):
    rng = np.random.default_rng(3)
    stack = np.stack([recording * k + rng.normal(0, 1, recording.shape) for k in (0.5, 1.0, 3.0, 1e3, 2.0)])
    ref = Denoiser(str(dask_model)).run(stack)
    y = fdask.denoise(da.from_array(stack, chunks=(2, 40, 30)), dask_model)
    assert y.chunks[1:] == ((97,), (61,))  # whole pages per chunk
    got = y.compute()
    for k in range(stack.shape[0]):
        assert_same(got[k], ref[k], stack[k])


def test_graph_is_small_and_holds_no_model_bytes(dask_model):
    onnx = pytest.importorskip("onnx")
    weights = max(onnx.load(str(dask_model)).graph.initializer, key=lambda t: len(t.raw_data))
    needle = weights.raw_data[:128]  # a stretch of the model's largest weight tensor
    assert len(needle) == 128
    assert needle in dask_model.read_bytes()
    a = da.ones((4000, 152), chunks=(500, 152), dtype=np.float32)
    y = fdask.denoise(a, dask_model)
    graph = pickle.dumps(dict(y.__dask_graph__()), protocol=5)
    assert needle not in graph
    assert str(dask_model).encode() in graph  # only the path travels
    assert len(graph) < 64 * 1024, len(graph)


def test_model_loaded_once_per_process(dask_model):
    a = da.random.random((300, 80), chunks=(40, 40))
    fdask.denoise(a, dask_model, device="cpu").compute(scheduler="threads", num_workers=4)
    fdask.denoise(a, dask_model, device="cpu").compute(scheduler="threads", num_workers=4)
    mine = {k: n for k, n in fdask.LOADS.items() if k[0] == str(dask_model)}
    assert mine
    assert set(mine.values()) == {1}


def test_rejects_bad_input(dask_model):
    with pytest.raises(ValueError, match="2D"):
        fdask.denoise(da.ones((4, 4, 4, 4)), dask_model)
    with pytest.raises(ValueError, match="real"):
        fdask.denoise(da.ones((8, 8), dtype=complex), dask_model)
    with pytest.raises(ValueError, match="2D"):
        fdask.denoise(da.ones((2, 8, 8)), dask_model, scale=(0.0, 1.0))
    for shape in ((0, 64), (64, 0), (3, 0, 8)):
        with pytest.raises(ValueError, match="non-empty"):
            fdask.denoise(da.ones(shape), dask_model)


def test_bad_input_is_an_input_error(dask_model):
    from fluorodn import FluorodnError, InputError

    with pytest.raises(InputError, match="2D") as caught:
        fdask.denoise(da.ones((4, 4, 4, 4)), dask_model)
    assert isinstance(caught.value, FluorodnError)
    with pytest.raises(InputError, match=r"^model must be a shipped model's name"):
        fdask.denoise(da.ones((8, 8)), None)
    with pytest.raises(InputError, match=r"^recording must be True or False"):
        fdask.denoise(da.ones((8, 8)), dask_model, recording="no")
    with pytest.raises(InputError, match=r"^device must be one of auto, cpu, cuda; got 'gpu'"):  # as it is built
        fdask.denoise(da.ones((8, 8)), dask_model, device="gpu")


def test_the_image_path_s_shape_warnings_match_one_call() -> None:
    """Pages too narrow for the image model, and a stack that looks like recordings with their
    channels last: the same warnings as one call, from the client, as the graph is built."""
    import warnings

    rng = np.random.default_rng(0)
    narrow = rng.random((500, 3)).astype(np.float32)
    spectrum = 1000.0 * np.exp(-0.5 * ((np.arange(64) - 20) / 8.0) ** 2) + 200.0
    recording = spectrum * (1.0 + 0.05 * rng.standard_normal((150, 1))) + rng.normal(0, 10, (150, 64))
    channels_last = np.stack([recording, 0.5 * recording], -1).astype(np.float32)
    default = Denoiser(device="cpu")
    for x in (narrow, channels_last):
        with warnings.catch_warnings(record=True) as one:
            warnings.simplefilter("always")
            default.run(x)
        with warnings.catch_warnings(record=True) as lazy:
            warnings.simplefilter("always")
            fdask.denoise(da.from_array(x, chunks=x.shape), device="cpu")
        expected = {str(w.message) for w in one if "narrow" in str(w.message) or "channels last" in str(w.message)}
        assert expected and expected <= {str(w.message) for w in lazy}, (expected, [str(w.message) for w in lazy])


def _nan_where(y: Any) -> str:
    """The index that ``y()``, a dask denoising, names for its NaN (raised when built or computed)."""
    from fluorodn import InputError

    with pytest.raises(InputError, match="NaN or infinite") as caught:
        y().compute(scheduler="threads", num_workers=2)
    found = re.search(r"at index (\([\d, ]+\))", str(caught.value))
    assert found is not None, caught.value
    return found.group(1)


@pytest.mark.parametrize(("where", "chunks"), [((600, 500), (256, 512)), ((21, 1), (20, 20)), ((0, 0), (20, 20))])
@pytest.mark.parametrize("sampled", [True, False])
def test_nan_is_named_by_its_index_in_the_whole_array(dask_model, where, chunks, sampled, monkeypatch):
    """Not by its index in the overlapped block a worker denoises; whether the client reads it
    (the rows the scale is computed from) or only a worker does."""
    x = np.random.default_rng(0).normal(100.0, 5.0, (700, 600))
    if not sampled:
        monkeypatch.setattr(fnorm, "MAX_SAMPLES", 2000)
        rows = fnorm.sample_rows(x.shape)
        assert rows is not None
        where = (min(set(range(where[0], 700)) - set(rows.tolist())), where[1])
    x[where] = np.nan
    assert _nan_where(lambda: fdask.denoise(da.from_array(x, chunks=chunks), dask_model)) == str(where)


@pytest.mark.filterwarnings("ignore::fluorodn.EventDetectionWarning")
def test_nan_in_a_spectral_recording_or_stack_is_named_by_its_index():
    import fluorodn

    if not fluorodn.available_models():
        pytest.skip("no shipped models in this checkout")
    rng = np.random.default_rng(5)
    t, w = 3000, 40
    spectrum = 800.0 * np.exp(-0.5 * ((np.arange(w) - 15) / 8.0) ** 2) + 100.0
    x = spectrum * (1 + 0.05 * rng.standard_normal((t, 1))) + rng.normal(0, 5.0, (t, w))
    x[2999, 3] = np.nan
    assert _nan_where(lambda: fdask.denoise(da.from_array(x, chunks=(700, w)), device="cpu")) == "(2999, 3)"
    stack = np.stack([x[:1000], x[2000:]])
    got = _nan_where(lambda: fdask.denoise(da.from_array(stack, chunks=(1, 300, w)), device="cpu"))
    assert got == "(1, 999, 3)"


def _refusal(call: Any) -> str:
    from fluorodn.errors import InputError

    def computed() -> None:
        out = call()
        if hasattr(out, "compute"):
            out.compute()

    with pytest.raises(InputError) as caught:
        computed()
    return str(caught.value)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_values_below_float32s_normal_range_are_refused_as_one_call_refuses_them(dask_model):
    """A page whose values all lie below float32's smallest normal number is refused with one call's
    sentence, its page named by its index in the whole stack, whether the workers' blocks are whole
    pages (a stack, one page a block) or pieces of one (a frame, a spectral recording); a frame half
    of whose values are that small, and a block of such values given a scale, are denoised."""
    rng = np.random.default_rng(7)
    frame = rng.normal(100.0, 5.0, (256, 256)).astype(np.float32)
    tiny = frame * np.float32(1e-42)
    stack = np.stack([frame, tiny, frame])
    spectrum = 800.0 * np.exp(-0.5 * ((np.arange(40) - 15) / 8.0) ** 2) + 100.0
    recording = (spectrum * (1 + 0.05 * rng.standard_normal((1500, 1))) + rng.normal(0, 5.0, (1500, 40))) * 1e-42
    cases = [
        (tiny, (64, 256), str(dask_model)),
        (stack, (1, 256, 256), str(dask_model)),
        (recording.astype(np.float32), (400, 40), "default"),
    ]
    for x, chunks, model in cases:
        expected = _refusal(lambda x=x, model=model: Denoiser(model, device="cpu").run(x))
        assert "below the smallest normal float32" in expected
        got = _refusal(lambda x=x, chunks=chunks, model=model: fdask.denoise(da.from_array(x, chunks=chunks), model))
        assert got == expected
    lazy = da.from_array(stack, chunks=(1, 256, 256))
    assert "in page index 1," in _refusal(lambda: fdask.denoise(lazy, str(dask_model)))
    half = frame.copy()
    half[:, :128] *= np.float32(1e-42)
    got = fdask.denoise(da.from_array(half, chunks=(256, 64)), str(dask_model)).compute()
    assert_same(got, Denoiser(str(dask_model)).run(half), half)
    scaled = fdask.denoise(da.from_array(tiny, chunks=(64, 256)), str(dask_model), scale=(0.0, 1.0))
    assert np.isfinite(scaled.compute()).all()


def test_zarr_seconds_count_the_client_s_work_too(dask_model, recording, tmp_path, monkeypatch):
    """The seconds a zarr run reports cover what the client does before the chunks (the fit and
    checks of ``denoise``), not the chunks alone."""
    src = tmp_path / "in.zarr"
    zarr.create_array(store=str(src), shape=recording.shape, chunks=(32, 61), dtype="f8")[:] = recording
    planned = fdask.denoise

    def slow_plan(*args, **kw):
        time.sleep(0.5)
        return planned(*args, **kw)

    monkeypatch.setattr(fdask, "denoise", slow_plan)
    info = fdask.denoise_zarr(src, tmp_path / "out.zarr", model=dask_model, scheduler="synchronous")
    assert info["seconds"] >= 0.5


def test_zarr_round_trip_keeps_attributes(dask_model, recording, single, tmp_path):
    src, dst = tmp_path / "in.zarr", tmp_path / "out.zarr"
    zin = zarr.create_array(
        store=str(src),
        shape=recording.shape,
        chunks=(32, 61),
        dtype="f8",
        attributes={"units": "counts", "fs_hz": 5.0, "wl_nm": [477.0, 595.0]},
    )
    zin[:] = recording
    info = fdask.denoise_zarr(src, dst, model=dask_model, device="cpu", scheduler="threads", workers=2)
    assert info["shape"] == recording.shape
    assert info["dst"] == str(dst)
    out, attrs = fdask.read_zarr(dst)
    assert out.dtype == np.float32
    assert attrs["units"] == "counts"
    assert attrs["fs_hz"] == 5.0
    assert attrs["wl_nm"] == [477.0, 595.0]
    prov = attrs["fluorodn"]
    assert prov["source"] == str(src)
    assert prov["normalization"] == fnorm.CONVENTION
    assert prov["model_sha256"] == Denoiser(str(dask_model)).sha256
    assert zarr.open_array(str(dst), mode="r").chunks == (32, 61)
    assert_same(out.compute(), single, recording)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr", "out.zarr"]  # no temp left

    with pytest.raises(FileExistsError):
        fdask.denoise_zarr(src, dst, model=dask_model, scheduler="synchronous")
    # an output never replaces its input, even with overwrite
    with pytest.raises(FileExistsError, match="its input"):
        fdask.denoise_zarr(dst, dst, model=dask_model, scheduler="synchronous", overwrite=True)
    # denoising the output again keeps the first provenance as "previous"; overwrite replaces an earlier output
    again = tmp_path / "again.zarr"
    fdask.denoise_zarr(dst, again, model=dask_model, scheduler="synchronous")
    fdask.denoise_zarr(dst, again, model=dask_model, scheduler="synchronous", overwrite=True)
    _, attrs2 = fdask.read_zarr(again)
    assert attrs2["fluorodn"]["previous"]["source"] == str(src)
    assert attrs2["units"] == "counts"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.zarr", "in.zarr", "out.zarr"]


def test_failed_job_leaves_no_output(dask_model, tmp_path):
    src = tmp_path / "in.zarr"
    z = zarr.create_array(store=str(src), shape=(40, 30), chunks=(20, 30), dtype="f4")
    z[:] = 1.0
    with pytest.raises((ValueError, OSError)):
        fdask.denoise_zarr(src, tmp_path / "out.zarr", model=tmp_path / "missing.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr"]


def test_tiff_lazy_pages(dask_model, recording, tmp_path):
    tifffile = pytest.importorskip("tifffile")
    stack = np.stack([recording, recording * 2, recording + 7]).astype(np.float32)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, photometric="minisblack")
    lazy = fdask.read_tiff_lazy(path, pages_per_chunk=2)
    assert lazy.shape == stack.shape
    assert lazy.chunks[0] == (2, 1)
    np.testing.assert_array_equal(lazy[2].compute(), stack[2])
    np.testing.assert_array_equal(lazy.compute(), stack)

    one = tmp_path / "one.tif"
    tifffile.imwrite(one, stack[0])
    assert fdask.read_tiff_lazy(one).shape == stack.shape[1:]

    dst = tmp_path / "out.zarr"
    fdask.denoise_zarr(path, dst, model=dask_model, scheduler="threads", workers=2)
    out, attrs = fdask.read_zarr(dst)
    ref = Denoiser(str(dask_model)).run(stack)
    np.testing.assert_allclose(out.compute(), ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
    assert attrs["fluorodn"]["settings"]["scale"] == "per page"
    assert attrs["fluorodn"]["settings"]["precision"] and attrs["fluorodn"]["model_sha256"]  # the files' schema


def test_processes_scheduler(dask_model, recording, single, tmp_path):
    src, dst = tmp_path / "in.zarr", tmp_path / "out.zarr"
    zarr.create_array(store=str(src), data=recording, chunks=(40, 61))
    fdask.denoise_zarr(src, dst, model=dask_model, scheduler="processes", workers=2)
    out, _ = fdask.read_zarr(dst)
    assert_same(out.compute(), single, recording)


def test_progress_and_local_cluster(dask_model, recording, single, tmp_path, capsys):
    """scheduler="local" starts (and stops) a LocalCluster of `workers` processes."""
    src = tmp_path / "in.zarr"
    zarr.create_array(store=str(src), data=recording, chunks=(50, 61))
    fdask.denoise_zarr(src, tmp_path / "a.zarr", model=dask_model, scheduler="synchronous", progress=True)
    assert "100%" in capsys.readouterr().out
    info = fdask.denoise_zarr(src, tmp_path / "b.zarr", model=dask_model, scheduler="local", workers=1)
    assert info["scheduler"] == "local"
    out, _ = fdask.read_zarr(tmp_path / "b.zarr")
    assert_same(out.compute(), single, recording)


def test_core_package_imports_without_dask():
    code = (
        "import sys, fluorodn\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'zarr')]\n"
        "assert not heavy, heavy\n"
    )
    root = Path(fdask.__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_dask_config_not_changed_globally(dask_model, tmp_path):
    before = dask.config.get("scheduler", None)
    src = tmp_path / "in.zarr"
    zarr.create_array(store=str(src), data=np.ones((30, 20), np.float32), chunks=(10, 20))
    fdask.denoise_zarr(src, tmp_path / "o.zarr", model=dask_model, scheduler="synchronous")
    assert dask.config.get("scheduler", None) == before


def test_an_image_model_on_spectral_recordings_warns_once_on_the_client(dask_model):
    """The model-choice warning comes once, when the graph is built, not from every chunk."""
    import warnings

    from fluorodn import ModelChoiceWarning

    rng = np.random.default_rng(3)
    rec = (rng.normal(500.0, 10.0, (200, 40))).astype(np.float32)
    for arr, chunks in ((rec, (50, 40)), (np.stack([rec, rec, rec]), (1, 200, 40))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = fdask.denoise(da.from_array(arr, chunks=chunks), dask_model, device="cpu")
            built = [w for w in caught if issubclass(w.category, ModelChoiceWarning)]
            got = y.compute(scheduler="threads", num_workers=2)
        assert len(built) == 1 and "200 x 40" in str(built[0].message)
        assert len([w for w in caught if issubclass(w.category, ModelChoiceWarning)]) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ModelChoiceWarning)
            assert_same(got, Denoiser(str(dask_model), kind="image").run(arr), arr)


def test_the_default_model_on_a_stack_of_recordings_equals_one_machine():
    """Pages that look like spectral recordings go through the spectral path, each on its own, in
    whatever blocks of pages dask holds them."""
    rng = np.random.default_rng(4)
    t, w = 300, 40
    spectrum = 800.0 * np.exp(-0.5 * ((np.arange(w) - 15) / 8.0) ** 2) + 100.0
    stack = np.stack([spectrum * (1 + 0.05 * rng.standard_normal((t, 1))) for _ in range(3)])
    stack = (stack + rng.normal(0, 5.0, stack.shape)).astype(np.float32)
    ref = Denoiser(device="cpu").run(stack)
    np.testing.assert_array_equal(ref[1], Denoiser(device="cpu").run(stack[1]))
    got = fdask.denoise(da.from_array(stack, chunks=(2, 100, w)), device="cpu").compute(scheduler="threads")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)


def test_spots_are_put_back_on_a_stack_s_pages_and_warned_of_on_a_chunked_frame() -> None:
    """The image model flattens point-like spots: on a stack (whole pages a chunk) the workers put
    back what it removed as one call does, and the client's warning says so; a single frame cut into
    chunks keeps the network's output, and the warning says to measure spots on the input."""
    import warnings

    from scipy.ndimage import gaussian_filter

    from fluorodn import DenoiserOptions, OutOfDomainWarning

    rng = np.random.default_rng(9)
    points = np.zeros((256, 256))
    points[8 + 36 * (np.arange(36) // 6), 8 + 36 * (np.arange(36) % 6)] = 1.0
    clean = 400.0 + 160.0 * 2 * np.pi * 1.3**2 * gaussian_filter(points, 1.3)  # peaks 8x the noise
    stack = np.stack([rng.poisson(clean) for _ in range(2)]).astype(np.float32)
    options = DenoiserOptions(threads=1)
    one = Denoiser("low", device="cpu", options=options, kind="image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = one.run(stack)
    with pytest.warns(OutOfDomainWarning, match="was put back"):
        lazy = fdask.denoise(da.from_array(stack, chunks=(1, 256, 256)), "low", device="cpu", options=options)
    assert_same(lazy.compute(scheduler="synchronous"), ref, stack)
    with pytest.warns(OutOfDomainWarning, match="measure spots on the input"):
        lazy = fdask.denoise(da.from_array(stack[0], chunks=(128, 128)), "low", device="cpu", options=options)
    flat = Denoiser("low", device="cpu", options=DenoiserOptions(threads=1, keep_spots=False), kind="image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(lazy.compute(scheduler="synchronous"), flat.run(stack[0]), stack[0])


def test_a_recording_whose_noise_changes_is_told_that_dask_denoises_it_at_one_level() -> None:
    """fluorodn.dask fits one noise level on the client: where the noise changes over the recording
    (noise 4x larger in its second half, the light steady) it says so and points to Denoiser().run,
    which steadies it; a steady recording is not told."""
    import warnings

    import fluorodn

    if not fluorodn.available_models():
        pytest.skip("no shipped models in this checkout")
    rng = np.random.default_rng(8)
    t, w = 2000, 60
    spectrum = 800.0 * np.exp(-0.5 * ((np.arange(w) - 25) / 10.0) ** 2) + 100.0
    level = np.where(np.arange(t) < t // 2, 2.0, 8.0)[:, None]
    clean = spectrum * (1 + 0.05 * np.sin(np.arange(t) / 40.0)[:, None])
    for noise, told in ((level, True), (np.full((t, 1), 4.0), False)):
        x = (clean + noise * rng.standard_normal((t, w))).astype(np.float32)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fdask.denoise(da.from_array(x, chunks=(500, w)), device="cpu").compute()
        said = [str(c.message) for c in caught if "fluorodn.dask denoises it at one noise level" in str(c.message)]
        assert len(said) == int(told), said
        if told:
            assert issubclass(
                next(c.category for c in caught if "one noise level" in str(c.message)), fluorodn.OutOfDomainWarning
            )
