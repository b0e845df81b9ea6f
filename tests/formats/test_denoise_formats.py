"""Denoised acquisition files equal ``Denoiser().run`` on the same array, to the file's text precision."""

from __future__ import annotations

import numpy as np
import pytest

from fluorodn import Denoiser, formats

from .conftest import spectra


@pytest.fixture(scope="module")
def dn() -> Denoiser:
    return Denoiser()


def _at_precision(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.array([[float(f"{v:.{decimals}f}") for v in row] for row in np.asarray(values).tolist()])


def test_text_export_denoised_equals_run_to_text_precision(export, tmp_path, dn):
    values = np.round(spectra(300, 152, seed=4), 2)
    path = export(values, stamp_kind="dated")
    rec = formats.read(path)
    out = rec.write(
        tmp_path / "rec_denoised.txt",
        [dn.run(c.data) for c in rec.channels],
        provenance={"fluorodn": "x", "model": dn.name, "model_sha256": dn.sha256},
    )
    back = formats.read(out, excitations=1)
    np.testing.assert_array_equal(back.streams[0], _at_precision(dn.run(values), 2))
    np.testing.assert_array_equal(back.times, rec.times)
    lines = out.read_text().splitlines()
    assert lines[13].startswith(f"Denoised by: fluorodn x, model {dn.name} (sha256 {dn.sha256[:12]})")


def test_interleaved_channels_are_each_denoised_as_if_alone(export, tmp_path, dn):
    values = np.round(spectra(401, 152, seed=5, levels=(1000.0, 350.0)), 2)
    rec = formats.read(export(values))
    assert rec.excitations == 2
    out = rec.write(tmp_path / "o.txt", [dn.run(c.data) for c in rec.channels])
    back = formats.read(out, excitations=2)
    for k in range(2):
        alone = dn.run(values[k::2])
        np.testing.assert_array_equal(back.channels[k].data, _at_precision(alone, 2))


def test_recording_pages_are_the_channels(tmp_path, export):
    values = np.round(spectra(201, 16, levels=(1000.0, 400.0)), 2)
    rec = formats.SpectralRecording(export(values))
    assert rec.n_pages == 2 and rec.page_shape == (101, 16) and rec.shape == (201, 16) and not rec.writes_folder
    pages = list(rec.pages())
    dest = tmp_path / "o.txt"
    rec.write(dest, [p + 1 for p in pages], np.dtype(np.float32), {"fluorodn": "x"})
    back = formats.read(dest)
    np.testing.assert_array_equal(back.streams[0], _at_precision(values + 1, 2))
    assert "2 excitations denoised separately" in dest.read_text()
