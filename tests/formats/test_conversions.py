"""Conversions of TIFF, .npy and .mat inputs (``to="npy"|"tif"|"h5"``), and constant pages."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from fluorodn import Denoiser, FileFormatError, formats
from fluorodn.files import FileSettings, denoise_file
from fluorodn.formats.convert import write_pages

from .conftest import spectra

SHAPE = (4, 2, 32, 32)  # T, C, Y, X


def stack() -> np.ndarray:
    return np.random.default_rng(7).normal(1000.0, 30.0, SHAPE).astype(np.uint16)


def imagej_tif(path: Path) -> Path:
    tifffile.imwrite(path, stack(), imagej=True, metadata={"axes": "TCYX"}, resolution=(2.5, 2.5))
    return path


def test_to_npy_and_tif_keep_a_tiff_stacks_shape_and_metadata(tmp_path: Path, denoiser: Denoiser) -> None:
    src = imagej_tif(tmp_path / "s.tif")
    denoise_file(denoiser, src, tmp_path / "same.tif")
    same = tifffile.imread(tmp_path / "same.tif")
    denoise_file(denoiser, src, tmp_path / "s.npy", FileSettings(to="npy"))
    out = np.load(tmp_path / "s.npy")
    assert out.shape == SHAPE
    np.testing.assert_array_equal(out, same)
    (tmp_path / "conv").mkdir()
    denoise_file(denoiser, src, tmp_path / "conv" / "s.tif", FileSettings(to="tif"))
    with tifffile.TiffFile(tmp_path / "conv" / "s.tif") as tif, tifffile.TiffFile(tmp_path / "same.tif") as ref:
        assert tif.is_imagej and tif.series[0].axes == "TCYX" and tif.series[0].shape == SHAPE
        assert tif.pages[0].resolution == ref.pages[0].resolution == pytest.approx((2.5, 2.5))
        np.testing.assert_array_equal(tif.asarray(), same)


def test_to_tif_keeps_a_4d_npys_shape(tmp_path: Path, denoiser: Denoiser) -> None:
    np.save(tmp_path / "s.npy", stack())
    denoise_file(denoiser, tmp_path / "s.npy", tmp_path / "same.npy")
    denoise_file(denoiser, tmp_path / "s.npy", tmp_path / "s.tif", FileSettings(to="tif"))
    out = tifffile.imread(tmp_path / "s.tif")
    assert out.shape == SHAPE
    np.testing.assert_array_equal(out, np.load(tmp_path / "same.npy"))


def test_to_h5_refuses_frames_before_a_page_is_denoised(tmp_path: Path, denoiser: Denoiser) -> None:
    src = imagej_tif(tmp_path / "s.tif")
    with pytest.raises(FileFormatError, match="holds frames") as info:
        denoise_file(denoiser, src, tmp_path / "s.h5", FileSettings(to="h5"))
    assert "\n" not in str(info.value) and "to='npy'" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]


@pytest.mark.filterwarnings("ignore")  # the tiny image model on spectral recordings warns of it
def test_to_h5_keeps_recordings_as_channels(tmp_path: Path, denoiser: Denoiser) -> None:
    values = np.stack([np.round(spectra(200, 40, seed=s), 2) for s in (1, 2)]).astype(np.float32)
    np.save(tmp_path / "r.npy", values)
    denoise_file(denoiser, tmp_path / "r.npy", tmp_path / "r.h5", FileSettings(to="h5"))
    back = formats.read(tmp_path / "r.h5")
    assert len(back.streams) == 2
    for k in range(2):
        np.testing.assert_array_equal(back.streams[k], denoiser.run(values[k]))


@pytest.mark.filterwarnings("ignore")  # the tiny image model on spectral recordings warns of it
def test_to_h5_keeps_the_axes_a_tiff_recording_states(tmp_path: Path, denoiser: Denoiser) -> None:
    """A TIFF recording whose description states its wavelengths (all of them, or first and last),
    sampling rate or timestamps, start and dark level (as fluorodn example and --to tif write them):
    --to h5 keeps them as the HDF5 axes and dark_counts, so that it unmixes as the TIFF output does;
    a TIFF that states nothing gets no axes, as before."""
    import json

    from fluorodn.unmixing import unmix_file

    values = np.round(spectra(200, 40, seed=3), 2).astype(np.float32) + 100.0
    wl = np.linspace(480.0, 590.0, 40)
    stated = [
        {"wavelength_nm": [480.0, 590.0], "sampling_hz": 5.0, "dark_counts": 100.0},
        {"wavelength_nm": wl.tolist(), "time_s": (0.2 * np.arange(200) + 0.01 * (np.arange(200) > 99)).tolist(),
         "start": "2017-01-20T10:37:06+01:00", "dark_counts": [100.0] * 40},
    ]  # fmt: skip
    for k, meta in enumerate(stated):
        src = tmp_path / f"r{k}.tif"
        tifffile.imwrite(src, values, description=json.dumps(meta), metadata=None)
        denoise_file(denoiser, src, tmp_path / f"r{k}.h5", FileSettings(to="h5"))
        denoise_file(denoiser, src, tmp_path / f"r{k}_out.tif")
        back = formats.read(tmp_path / f"r{k}.h5")
        np.testing.assert_allclose(back.wavelengths, wl)
        times = np.asarray(meta.get("time_s", 0.2 * np.arange(200)))
        np.testing.assert_allclose(back.times, times - times[0], atol=1e-9)
        assert back.meta["dark_counts"] == pytest.approx([100.0] * 40)
        if "start" in meta:
            assert back.meta["start"].isoformat() == meta["start"]
        h5_res, _ = unmix_file(tmp_path / f"r{k}.h5", "example", denoise=False, output=tmp_path / f"h{k}.csv")
        tif_res, _ = unmix_file(tmp_path / f"r{k}_out.tif", "example", denoise=False, output=tmp_path / f"t{k}.csv")
        np.testing.assert_allclose(h5_res.sensor, tif_res.sensor, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(h5_res.dark, tif_res.dark)
        np.testing.assert_allclose(h5_res.time_s, tif_res.time_s, atol=1e-9)
    tifffile.imwrite(tmp_path / "plain.tif", values)
    denoise_file(denoiser, tmp_path / "plain.tif", tmp_path / "plain.h5", FileSettings(to="h5"))
    with h5py.File(tmp_path / "plain.h5") as f:
        assert sorted(f) == ["Channel1"] and "dark_counts" not in f.attrs


def test_to_h5_writes_pages_as_they_come(tmp_path: Path) -> None:
    n, page = 200, (64, 64)

    def pages() -> Iterator[np.ndarray]:
        for k in range(n):
            yield np.full(page, k, np.float32)

    tracemalloc.start()
    try:
        write_pages("h5", tmp_path / "o.h5", pages(), (n, *page), np.dtype(np.float32), {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    page_bytes = 64 * 64 * 4
    assert peak < 20 * page_bytes, f"peak {peak} bytes for pages of {page_bytes}"
    with h5py.File(tmp_path / "o.h5") as f:
        assert len([name for name in f if name.startswith("Channel")]) == n
        assert float(f["Channel200"][0, 0]) == 199.0


def test_to_h5_refuses_a_short_stream(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected 3 pages"):
        write_pages("h5", tmp_path / "o.h5", iter([np.zeros((8, 8))] * 2), (3, 8, 8), np.dtype(np.float32), {})


@pytest.mark.parametrize("value", [0.0, 1e-3, 5.0, -7.0])
def test_a_constant_frame_comes_back_as_that_constant(denoiser: Denoiser, value: float) -> None:
    out = denoiser.run(np.full((64, 64), value, np.float32))
    assert np.all(out == np.float32(value)), np.unique(out)


def test_a_blank_page_of_a_stack_comes_back_blank(denoiser: Denoiser) -> None:
    pages = np.random.default_rng(3).normal(100.0, 5.0, (3, 64, 64)).astype(np.float32)
    pages[1] = 0.0
    out = denoiser.run(pages)
    assert np.all(out[1] == 0.0), np.unique(out[1])
    assert np.abs(out[1]).max() == 0.0
