"""Interleaved excitations: detected only when unambiguous, split and merged back in row order."""

from __future__ import annotations

import numpy as np
import pytest

from fluorodn import formats
from fluorodn.errors import FileFormatError
from fluorodn.formats import interleave

from .conftest import spectra


@pytest.mark.parametrize("levels", [(1000.0, 400.0), (1000.0, 400.0, 700.0)])
def test_detects_the_number_of_excitations(levels):
    data = spectra(600, 16, levels=levels)
    assert interleave.detect(data, "rec") == len(levels)


def test_a_plain_recording_is_not_interleaved():
    for seed in range(5):
        assert interleave.detect(spectra(600, 16, seed=seed), "rec") == 1


def test_ambiguous_alternation_asks_for_the_option():
    data = spectra(600, 16)
    data[::2] += 5.0  # every other row a little brighter: a few times the noise, not clearly two light sources
    with pytest.raises(FileFormatError, match="excitations=N"):
        interleave.detect(data, "rec")


def test_split_and_merge_restore_row_order_for_odd_lengths():
    data = np.arange(7 * 3, dtype=float).reshape(7, 3)
    parts = interleave.split(data, 2)
    assert [p.shape[0] for p in parts] == [4, 3]
    np.testing.assert_array_equal(interleave.merge(parts), data)


def test_a_declared_count_whose_alternation_breaks_is_refused():
    data = spectra(400, 8, levels=(1000.0, 400.0))
    broken = np.concatenate([data[:201], data[202:]])  # one dropped frame swaps the phases
    with pytest.raises(FileFormatError, match="breaks off"):
        interleave.check_declared(broken, 2, "rec")
    interleave.check_declared(data, 2, "rec")


def test_read_splits_an_interleaved_export_into_channels_with_their_own_times(export):
    values = np.round(spectra(401, 16, levels=(1000.0, 400.0)), 2)
    path = export(values)
    rec = formats.read(path)
    assert rec.excitations == 2 and [c.name for c in rec.channels] == ["excitation 1", "excitation 2"]
    np.testing.assert_array_equal(rec.channels[0].data, values[0::2])
    np.testing.assert_allclose(rec.channels[1].times, np.arange(1, 401, 2) * 0.2, atol=1e-9)
    assert abs(rec.channels[0].timing.rate_hz - 2.5) < 1e-6 and abs(rec.timing.rate_hz - 5.0) < 1e-6
    np.testing.assert_array_equal(rec.arrange([c.data for c in rec.channels])[0], values)
    assert formats.read(path, excitations=1).excitations == 1
    with pytest.raises(FileFormatError, match=r"excitations=\.\.\. must be"):
        formats.read(path, excitations=0)


def test_an_undeclared_alternation_that_breaks_off_is_not_taken_for_a_plain_recording():
    data = spectra(400, 8, levels=(1000.0, 400.0))
    broken = np.concatenate([data[:201], data[202:]])
    with pytest.raises(FileFormatError, match="excitations=N"):
        interleave.detect(broken, "rec")
