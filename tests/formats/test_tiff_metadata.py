"""TIFF outputs keep the input's OME-XML (planes, channels, instrument, annotations) with the
pixel type and storage of the new file, keep tiling, and say that a pyramid's reduced levels
are not written."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from fluorodn._tiff import TiffRecording, read_provenance
from fluorodn.cli import app

NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
T, C, H, W = 4, 2, 40, 48


def _bioformats_xml(significant: int = 12) -> str:
    """OME-XML as Bio-Formats writes it: instrument, acquisition date, channels with
    wavelengths, one TiffData per plane with a file UUID, per-plane timing and position."""
    tiffdata = "".join(
        f'<TiffData FirstT="{t}" FirstC="{c}" FirstZ="0" IFD="{2 * t + c}" PlaneCount="1">'
        f'<UUID FileName="rec.ome.tif">urn:uuid:00000000-0000-0000-0000-000000000001</UUID></TiffData>'
        for t in range(T)
        for c in range(C)
    )
    planes = "".join(
        f'<Plane TheZ="0" TheT="{t}" TheC="{c}" DeltaT="{0.5 * t + 0.01 * c:.3f}" DeltaTUnit="s" '
        f'ExposureTime="{50 + 25 * c}" ExposureTimeUnit="ms" PositionX="1234.5" PositionXUnit="µm" '
        f'PositionY="-56.25" PositionZ="7.5"><HashSHA1>{"0" * 40}</HashSHA1></Plane>'
        for t in range(T)
        for c in range(C)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<OME xmlns="{NS}" Creator="OME Bio-Formats 6.8.0" UUID="urn:uuid:00000000-0000-0000-0000-000000000001">'
        '<Instrument ID="Instrument:0"><Microscope Manufacturer="Nikon" Model="Ti2"/>'
        '<Objective ID="Objective:0:0" NominalMagnification="60.0" LensNA="1.4" Immersion="Oil"/></Instrument>'
        '<Image ID="Image:0" Name="cells_timelapse"><AcquisitionDate>2024-05-06T10:11:12</AcquisitionDate>'
        '<InstrumentRef ID="Instrument:0"/><ObjectiveSettings ID="Objective:0:0"/>'
        f'<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="{W}" SizeY="{H}" SizeZ="1" '
        f'SizeC="{C}" SizeT="{T}" PhysicalSizeX="0.108" PhysicalSizeXUnit="µm" PhysicalSizeY="0.108" '
        f'PhysicalSizeYUnit="µm" SignificantBits="{significant}" BigEndian="false">'
        '<Channel ID="Channel:0:0" Name="GFP" SamplesPerPixel="1" ExcitationWavelength="488" '
        'ExcitationWavelengthUnit="nm" EmissionWavelength="525" Fluor="EGFP"/>'
        '<Channel ID="Channel:0:1" Name="mCherry" SamplesPerPixel="1" ExcitationWavelength="561" '
        'ExcitationWavelengthUnit="nm" EmissionWavelength="610" Fluor="mCherry"/>'
        f'{tiffdata}{planes}</Pixels><AnnotationRef ID="Annotation:0"/></Image>'
        '<StructuredAnnotations><MapAnnotation ID="Annotation:0" Namespace="openmicroscopy.org/OriginalMetadata">'
        '<Value><M K="Camera">Orca Flash 4</M></Value></MapAnnotation></StructuredAnnotations></OME>'
    )


def _stack(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(100, 4000, (T, C, H, W), dtype=np.uint16)


@pytest.fixture
def bf_ome(tmp_path: Path) -> Path:
    """A TCYX uint16 OME-TIFF written as Bio-Formats writes one (its own XML, one IFD per plane)."""
    path = tmp_path / "rec.ome.tif"
    with tifffile.TiffWriter(path) as tif:
        for k, page in enumerate(_stack().reshape(-1, H, W)):
            desc = _bioformats_xml().encode() if k == 0 else None
            tif.write(page, photometric="minisblack", description=desc, metadata=None)
    return path


def _rewrite(src: Path, dest: Path, dtype: Any, provenance: dict[str, Any] | None = None) -> list[str]:
    """``src`` written to ``dest`` as ``dtype`` (pages + 0.5 for floats); the warnings raised."""
    rec = TiffRecording(src)
    try:
        dt = np.dtype(dtype)
        pages = (p.astype(dt) + (0.5 if dt.kind == "f" else 0) for p in rec.pages())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rec.write(dest, pages, dt, provenance or {"fluorodn": "9.9", "model": "tiny"})
    finally:
        rec.close()
    return [str(w.message) for w in caught]


def _as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [x]


def _ome(path: Path) -> tuple[dict[str, Any], Any, np.ndarray]:
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and len(tif.series) == 1
        series = tif.series[0]
        return tifffile.xml2dict(tif.ome_metadata)["OME"], (series.shape, series.axes), series.asarray()


def test_ome_output_keeps_planes_channels_and_instrument(bf_ome: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ome.tif"
    _rewrite(bf_ome, out, np.float32)
    ome, (shape, axes), data = _ome(out)
    assert (shape, axes) == ((T, C, H, W), "TCYX")
    np.testing.assert_array_equal(data, _stack().astype(np.float32) + 0.5)
    image = ome["Image"]
    pixels = image["Pixels"]
    assert pixels["Type"] == "float" and pixels["DimensionOrder"] == "XYCZT"
    assert pixels["SignificantBits"] == 32 and pixels["PhysicalSizeX"] == 0.108
    planes = _as_list(pixels["Plane"])
    assert len(planes) == T * C
    assert [p["DeltaT"] for p in planes] == pytest.approx([0.5 * t + 0.01 * c for t in range(T) for c in range(C)])
    assert [p["ExposureTime"] for p in planes] == [50 + 25 * c for t in range(T) for c in range(C)]
    assert {(p["PositionX"], p["PositionY"], p["PositionZ"]) for p in planes} == {(1234.5, -56.25, 7.5)}
    assert all("HashSHA1" not in p for p in planes)  # the hash of the input's pixels
    channels = _as_list(pixels["Channel"])
    assert [c["ExcitationWavelength"] for c in channels] == [488, 561]
    assert [c["EmissionWavelength"] for c in channels] == [525, 610]
    assert [c["Fluor"] for c in channels] == ["EGFP", "mCherry"] and channels[0]["Name"] == "GFP"
    assert ome["Instrument"]["Objective"]["LensNA"] == 1.4
    assert ome["Instrument"]["Microscope"]["Model"] == "Ti2"
    assert image["AcquisitionDate"] == "2024-05-06T10:11:12"
    assert image["ObjectiveSettings"]["ID"] == "Objective:0:0"
    # the storage is the new file's: one TiffData of all its pages, no reference to the input's UUID
    tiffdata = _as_list(pixels["TiffData"])
    assert tiffdata == [{"IFD": 0, "PlaneCount": T * C}]
    assert ome["UUID"] != "urn:uuid:00000000-0000-0000-0000-000000000001"
    # the input's own annotations stay beside the provenance
    anns = _as_list(ome["StructuredAnnotations"]["MapAnnotation"])
    assert {a["Namespace"] for a in anns} == {"openmicroscopy.org/OriginalMetadata", "fluorodn/provenance"}
    assert read_provenance(out) == {"fluorodn": "9.9", "model": "tiny"}


def test_ome_output_of_the_input_dtype_states_it(bf_ome: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ome.tif"
    _rewrite(bf_ome, out, np.uint16)
    ome, (shape, axes), data = _ome(out)
    assert (shape, axes) == ((T, C, H, W), "TCYX")
    np.testing.assert_array_equal(data, _stack())
    assert ome["Image"]["Pixels"]["Type"] == "uint16" and ome["Image"]["Pixels"]["SignificantBits"] == 16
    assert [p["DeltaT"] for p in _as_list(ome["Image"]["Pixels"]["Plane"])][:3] == pytest.approx([0, 0.01, 0.5])


def test_ome_output_denoised_again_has_one_provenance(bf_ome: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.ome.tif", tmp_path / "b.ome.tif"
    _rewrite(bf_ome, first, np.float32, {"fluorodn": "1"})
    _rewrite(first, second, np.float32, {"fluorodn": "2"})
    ome, (shape, _), _data = _ome(second)
    assert shape == (T, C, H, W)
    anns = _as_list(ome["StructuredAnnotations"]["MapAnnotation"])
    assert sum(a["Namespace"] == "fluorodn/provenance" for a in anns) == 1
    refs = [r["ID"] for r in _as_list(ome["Image"]["AnnotationRef"])]
    assert sorted(refs) == sorted(a["ID"] for a in anns)
    assert read_provenance(second) == {"fluorodn": "2"}
    planes = _as_list(ome["Image"]["Pixels"]["Plane"])
    assert [p["DeltaT"] for p in planes] == pytest.approx([0.5 * t + 0.01 * c for t in range(T) for c in range(C)])


def test_cli_keeps_plane_timestamps(bf_ome: Path, tiny_model: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["denoise", str(bf_ome), "-o", str(tmp_path / "out"), "--model",
                                      str(tiny_model), "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    ome, (shape, axes), data = _ome(tmp_path / "out" / "rec_denoised.ome.tif")
    assert (shape, axes) == ((T, C, H, W), "TCYX") and data.dtype == np.float32
    pixels = ome["Image"]["Pixels"]
    assert pixels["Type"] == "float"
    assert [p["DeltaT"] for p in _as_list(pixels["Plane"])][-1] == pytest.approx(1.51)
    assert [c["EmissionWavelength"] for c in _as_list(pixels["Channel"])] == [525, 610]
    assert json.loads(json.dumps(read_provenance(tmp_path / "out" / "rec_denoised.ome.tif")))["model"] == "tiny"


@pytest.fixture
def pyramid(tmp_path: Path) -> Path:
    """A tiled (64 x 64) OME-TIFF pyramid: 200 x 136 with two reduced levels in SubIFDs."""
    path = tmp_path / "pyr.ome.tif"
    image = np.random.default_rng(1).integers(0, 60000, (200, 136), dtype=np.uint16)
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(image, subifds=2, tile=(64, 64), photometric="minisblack", metadata={"axes": "YX"})
        tif.write(image[::2, ::2], subfiletype=1, tile=(64, 64), photometric="minisblack")
        tif.write(image[::4, ::4], subfiletype=1, tile=(64, 64), photometric="minisblack")
    return path


def test_pyramid_is_said_and_tiling_kept(pyramid: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ome.tif"
    told = _rewrite(pyramid, out, np.uint16)
    assert len(told) == 1 and "pyramid of 3 resolution levels" in told[0] and "2 reduced levels" in told[0]
    with tifffile.TiffFile(out) as tif, tifffile.TiffFile(pyramid) as src:
        assert tif.is_ome and len(tif.series) == 1 and len(tif.series[0].levels) == 1
        page = tif.pages[0]
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (64, 64)
        np.testing.assert_array_equal(tif.series[0].asarray(), src.series[0].asarray())


def test_cli_warns_of_the_pyramid(pyramid: Path, tiny_model: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["denoise", str(pyramid), "-o", str(tmp_path / "out"), "--model",
                                      str(tiny_model), "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("2 reduced levels") == 1
    with tifffile.TiffFile(tmp_path / "out" / "pyr_denoised.ome.tif") as tif:
        assert tif.series[0].shape == (200, 136) and tif.pages[0].is_tiled


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiled_stack_stays_tiled(tmp_path: Path, compression: str | None) -> None:
    src, out = tmp_path / "t.tif", tmp_path / "o.tif"
    stack = np.random.default_rng(2).integers(0, 1000, (3, 70, 50), dtype=np.uint16)  # edge tiles padded
    tifffile.imwrite(src, stack, tile=(32, 48), compression=compression, photometric="minisblack")
    assert _rewrite(src, out, np.float32) == []
    with tifffile.TiffFile(out) as tif:
        assert len(tif.pages) == 3
        for page in tif.pages:
            assert page.is_tiled and (page.tilelength, page.tilewidth) == (32, 48)
        assert (tif.pages[0].compression != 1) == (compression is not None)
        np.testing.assert_array_equal(tif.series[0].asarray(), stack.astype(np.float32) + 0.5)
