"""Unmixing: the sensor's trace a(t) from a spectral recording, separated from hemoglobin.

Every time sample t of a (T, W) recording (time x wavelength, counts) is fitted with

    F(t, l) - dark(l) = E(l) * gain(t) * exp(sensor(t) S(l) - hbo2(t) k_HbO2(l) - hb(t) k_Hb(l)) + offset(t)

* ``E(l)``: the recording's typical emission spectrum, estimated from the recording itself:
  the median spectrum over time, then corrected once by the median residual of a first fit.
  The fitted traces are therefore relative to the recording's typical state (the state whose
  spectrum is E): ``sensor`` and the hemoglobin terms are near 0 on average, ``gain`` near 1.
* ``S(l)``: the sensor's ligand response, dF/F per unit of ``sensor`` (a CSV of the user's).
* ``k_HbO2, k_Hb``: hemoglobin absorption per µM·cm, ``ln(10) * 1e-6 * e(l)`` with ``e`` the
  molar extinction of :mod:`fluorodn.hemoglobin`; ``hbo2`` and ``hb`` are changes of
  concentration times effective path length, in µM·cm.
* ``gain(t)``: wavelength-independent brightness (bleaching, light coupling), 1 = typical.
* ``offset(t)``: wavelength-independent additive offset in the recording's units (counts),
  relative to the typical state like the other terms: E holds the recording's typical offset,
  so ``offset`` is near 0 on typical samples and shows additive artifacts (movement). An
  additive background present all the time (detector dark level, fiber autofluorescence)
  cannot be told apart from E from the recording alone; give it as ``dark``.

The fit is linearised: ``log((F - dark) / E)`` is, to first order in offset/F, linear in
``log gain, sensor, hbo2, hb`` and ``offset / gain`` (whose spectrum is 1/E), so all samples
are solved at once with one weighted least-squares pseudo-inverse of a (W, 5) design; the fit
runs twice, the second time on the data minus the first fit's offset, which removes most of the
first-order error. Each bin is weighted by the inverse variance of its log intensity,
E^2 / sigma^2, with sigma the bin's noise estimated from the input's sample-to-sample
differences (shot and dark noise alike).
``refine=True`` then fits the full model above per sample with ``scipy.optimize.least_squares``
(residuals ``(F - dark - model) / sigma``), starting at the linear solution.

Samples taken with the light off (:func:`fluorodn.spectral.lit_mask`: the rows the Denoiser sets
aside and longer stretches, at the dark level where it is given, else where they hold no spectrum)
hold no spectrum to fit:
they are set aside before anything is estimated, the lit samples are denoised and fitted as one
recording, and every trace is NaN on the dark ones.

The package: :mod:`~fluorodn.unmixing.inputs` (wavelengths, the sensor spectrum, the dark
level, a recording's metadata), :mod:`~fluorodn.unmixing.fit` (:func:`unmix`),
:mod:`~fluorodn.unmixing.result` (:class:`UnmixResult` and its CSV, Parquet and NWB tables),
:mod:`~fluorodn.unmixing.file` (:func:`unmix_file`).
"""

from __future__ import annotations

from fluorodn.unmixing.file import unmix_file
from fluorodn.unmixing.fit import LN10_PER_UM, REFINE_TOL, unmix
from fluorodn.unmixing.inputs import (
    SENSORS,
    DarkLevelNotice,
    UnmixError,
    UnmixWarning,
    load_sensor,
    read_sensor,
    read_values,
    recording_metadata,
    wavelength_grid,
)
from fluorodn.unmixing.result import COLUMNS, OUTPUT_FORMATS, UnmixResult

__all__ = [
    "COLUMNS",
    "LN10_PER_UM",
    "OUTPUT_FORMATS",
    "REFINE_TOL",
    "SENSORS",
    "DarkLevelNotice",
    "UnmixError",
    "UnmixResult",
    "UnmixWarning",
    "load_sensor",
    "read_sensor",
    "read_values",
    "recording_metadata",
    "unmix",
    "unmix_file",
    "wavelength_grid",
]
