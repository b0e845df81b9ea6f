"""Spectral building blocks of the synthetic signal.

Every function returns float64 arrays over a wavelength grid in nm. Random families
take a ``numpy.random.Generator`` so that every draw is reproducible.
"""

from __future__ import annotations

import numpy as np

#: Default spectrometer grid: 152 bins of ~0.78 nm covering ~477-595 nm.
DEFAULT_BINS = 152
DEFAULT_RANGE_NM = (477.0, 595.0)

# Molar extinction (cm^-1 / M), approximate values of Prahl's public tables (450-700 nm).
_HB_NM = np.array(
    [450, 460, 470, 480, 500, 520, 530, 542, 555, 560, 570, 577, 580, 590, 600, 620, 640, 660, 680, 700], float
)
_HBO2 = (
    np.array(
        [
            62.8,
            44.5,
            33.2,
            26.6,
            20.9,
            24.2,
            40.0,
            53.8,
            40.0,
            32.6,
            44.5,
            55.5,
            50.1,
            14.4,
            3.2,
            0.94,
            0.44,
            0.32,
            0.27,
            0.29,
        ]
    )
    * 1e3
)
_HB = (
    np.array(
        [
            103.3,
            23.4,
            16.2,
            14.6,
            20.0,
            31.6,
            39.0,
            47.0,
            54.5,
            53.8,
            45.1,
            40.0,
            37.0,
            28.3,
            14.7,
            6.5,
            4.3,
            3.2,
            2.4,
            1.8,
        ]
    )
    * 1e3
)

#: Sensor families the widened generator draws: (emission, ligand response, wavelength range).
SENSORS = ("ach", "da", "red")


def wavelengths(
    n_bins: int = DEFAULT_BINS, lo: float = DEFAULT_RANGE_NM[0], hi: float = DEFAULT_RANGE_NM[1]
) -> np.ndarray:
    """Bin centres in nm, shape (n_bins,)."""
    return np.linspace(lo, hi, n_bins)


def hemoglobin(wl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(e_HbO2, e_Hb) at ``wl``, each divided by the larger peak so values are <= 1."""
    hbo2 = np.interp(wl, _HB_NM, _HBO2)
    hb = np.interp(wl, _HB_NM, _HB)
    peak = max(_HBO2.max(), _HB.max())
    return hbo2 / peak, hb / peak


def emission(wl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A GFP-like emission spectrum with peak 1, peaking at 505-515 nm.

    Asymmetric Gaussian (steep blue side, long red tail, a few percent left by
    590 nm), a vibronic shoulder near 540 nm and an optional excitation leak below
    ~480 nm.
    """
    peak = rng.uniform(505.0, 515.0)
    left = rng.uniform(10.0, 16.0)
    right = rng.uniform(28.0, 36.0)
    width = np.where(wl < peak, left, right)
    e = np.exp(-0.5 * ((wl - peak) / width) ** 2)
    e += rng.uniform(0.0, 0.15) * np.exp(-0.5 * ((wl - peak - rng.uniform(30, 40)) / 12.0) ** 2)
    leak = rng.uniform(0.0, 0.4) if rng.random() < 0.5 else 0.0
    e += leak * np.exp(-(wl - wl[0]) / rng.uniform(1.5, 5.0))
    e = np.maximum(e, 0.0) + rng.uniform(0.005, 0.03)
    return e / e.max()


def red_emission(wl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An RFP-like emission spectrum with peak 1, peaking at 585-605 nm."""
    peak = rng.uniform(585.0, 605.0)
    width = np.where(wl < peak, rng.uniform(12.0, 18.0), rng.uniform(30.0, 45.0))
    e = np.exp(-0.5 * ((wl - peak) / width) ** 2)
    e = np.maximum(e, 0.0) + rng.uniform(0.005, 0.03)
    return e / e.max()


def intensity_response(wl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """dF/F per unit of neuromodulator of an intensity sensor (dLight/GRAB-like, red sensors).

    Positive over the whole band, 0.01-0.04 at its largest, with a gentle tilt and a
    shallow bump so that its shape differs from the emission spectrum's.
    """
    amp = rng.uniform(0.01, 0.04)
    x = (wl - wl.mean()) / (np.ptp(wl) + 1e-9)
    tilt = rng.uniform(-0.6, 0.6) * x
    bump = rng.uniform(0.0, 0.4) * np.exp(-0.5 * ((wl - rng.uniform(wl[0], wl[-1])) / 15.0) ** 2)
    return amp * np.clip(1.0 + tilt + bump, 0.2, None)


def sensor(wl_bins: int, rng: np.random.Generator, family: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wavelengths, emission, ligand response) of one sensor family on a drawn spectrometer grid."""
    if family == "ach":
        lo = rng.uniform(465.0, 485.0)
        wl = wavelengths(wl_bins, lo, lo + rng.uniform(100.0, 140.0))
        return wl, emission(wl, rng), ligand_response(wl, rng)
    if family == "da":
        lo = rng.uniform(465.0, 485.0)
        wl = wavelengths(wl_bins, lo, lo + rng.uniform(100.0, 140.0))
        return wl, emission(wl, rng), intensity_response(wl, rng)
    if family == "red":
        lo = rng.uniform(540.0, 560.0)
        wl = wavelengths(wl_bins, lo, lo + rng.uniform(100.0, 140.0))
        return wl, red_emission(wl, rng), intensity_response(wl, rng)
    raise ValueError(f"unknown sensor family {family!r}; expected one of {', '.join(SENSORS)}")


def ligand_response(wl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """dF/F per unit of neuromodulator, iAChSnFR-like family.

    About -0.08 at 477 nm, zero near 500 nm, a peak near +0.017 at ~515 nm and
    +0.01 towards 595 nm; every control point is jittered.
    """
    blue, peak = 0.08 * rng.uniform(0.6, 1.4), 0.017 * rng.uniform(0.7, 1.3)
    cross = rng.uniform(495.0, 505.0)
    pk = cross + rng.uniform(10.0, 20.0)
    plateau = peak * rng.uniform(0.45, 0.85, size=2)
    nodes = np.array([wl[0] - 1.0, cross, pk, pk + 20.0, wl[-1] + 1.0])
    vals = np.array([-blue, 0.0, peak, plateau[0], plateau[1]])
    order = np.argsort(nodes)
    s = np.interp(wl, nodes[order], vals[order])
    # smooth the corners (3-bin box filter applied twice)
    for _ in range(2):
        s = np.convolve(np.pad(s, 1, mode="edge"), np.ones(3) / 3.0, mode="valid")
    return s
