"""Molar extinction of oxy- and deoxy-hemoglobin, on any wavelength grid.

The table is ``fluorodn/data/hemoglobin_prahl.csv``: S. Prahl, Oregon Medical Laser Center,
"Tabulated molar extinction coefficient for hemoglobin in water" (compiled from data of
W. B. Gratzer and N. Kollias), 400-800 nm in 2 nm steps, in cm^-1/(mol/L). The values are
decadic: a layer of concentration c (mol/L) and thickness L (cm) transmits 10**(-e c L).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["RANGE_NM", "TABLE", "extinction", "table"]

#: File name of the table inside ``fluorodn/data``.
TABLE = "hemoglobin_prahl.csv"
#: Wavelengths (nm) the table covers.
RANGE_NM = (400.0, 800.0)


@lru_cache(maxsize=1)
def table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wavelength_nm, e_HbO2, e_Hb) of the shipped table, each (N,) float64, cm^-1/(mol/L)."""
    with resources.as_file(resources.files("fluorodn") / "data" / TABLE) as path:
        data = np.loadtxt(path, delimiter=",", comments="#", skiprows=6, dtype=np.float64)
    wl, hbo2, hb = data.T
    for arr in (wl, hbo2, hb):
        arr.setflags(write=False)
    return wl, hbo2, hb


def extinction(wavelengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(e_HbO2, e_Hb) at ``wavelengths`` (nm), each float64 of the same shape, cm^-1/(mol/L).

    Linear interpolation between the table's 2 nm steps. Raises ValueError for a
    wavelength outside :data:`RANGE_NM`.
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    if wl.size and (np.nanmin(wl) < RANGE_NM[0] or np.nanmax(wl) > RANGE_NM[1] or not np.isfinite(wl).all()):
        raise ValueError(
            f"the hemoglobin table covers {RANGE_NM[0]:g}-{RANGE_NM[1]:g} nm, the recording "
            f"{np.nanmin(wl):g}-{np.nanmax(wl):g} nm; check the wavelengths"
        )
    grid, hbo2, hb = table()
    return np.interp(wl, grid, hbo2), np.interp(wl, grid, hb)
