"""Noise models: parametric (shot + dark) and recorded (the user's own detector).

Both return additive noise in counts for a clean recording, with the shot part
scaled by ``noise_scale`` and by the square root of each bin's synthetic intensity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import convolve1d, gaussian_filter1d, uniform_filter1d
from scipy.signal import lfilter


@dataclass
class NoiseConfig:
    """Ranges of the parametric noise model (one line each)."""

    gain: tuple[float, float] = (0.75, 1.33)  #: detector gain spread around 1 (log-uniform)
    bin_corr: tuple[float, float] = (0.0, 0.5)  #: neighbour weight of the across-bin kernel
    time_corr: tuple[float, float] = (0.0, 0.3)  #: AR(1) coefficient of shot noise in time
    read_sigma: tuple[float, float] = (1.0, 15.0)  #: white dark read noise, counts
    fixed_pattern: tuple[float, float] = (0.0, 6.0)  #: per-bin fixed pattern std, counts
    drift: tuple[float, float] = (0.0, 3.0)  #: slow dark drift std, counts


def correlated_normal(
    rng: np.random.Generator, shape: tuple[int, int], bin_corr: float, time_corr: float
) -> np.ndarray:
    """Unit-variance normal field, correlated across neighbouring bins and in time."""
    z = rng.standard_normal(shape)
    if bin_corr > 0:
        k = np.array([bin_corr, 1.0, bin_corr])
        z = convolve1d(z, k, axis=1, mode="wrap")
        z /= np.sqrt((k**2).sum())
    if time_corr > 0:
        z = lfilter([np.sqrt(1 - time_corr**2)], [1.0, -time_corr], z, axis=0)
    return z


def parametric_noise(
    rng: np.random.Generator, photons: np.ndarray, noise_scale: float, cfg: NoiseConfig | None = None
) -> np.ndarray:
    """Shot + dark noise for a (T, W) array of signal counts."""
    cfg = cfg or NoiseConfig()
    t, w = photons.shape
    gain = float(np.exp(rng.uniform(np.log(cfg.gain[0]), np.log(cfg.gain[1]))))
    shot = correlated_normal(rng, (t, w), rng.uniform(*cfg.bin_corr), rng.uniform(*cfg.time_corr))
    shot *= noise_scale * np.sqrt(gain * photons)
    dark = rng.uniform(*cfg.read_sigma) * rng.standard_normal((t, w))
    pattern = rng.standard_normal((w,))
    dark += rng.uniform(*cfg.fixed_pattern) * pattern[None, :]
    sig = rng.uniform(2.0, 20.0) * 5.0
    pad = int(4 * sig)
    drift = gaussian_filter1d(rng.standard_normal(t + 2 * pad), sig)[pad : pad + t]
    dark += (rng.uniform(*cfg.drift) * drift / (drift.std() + 1e-12))[:, None]
    return shot + dark


class RecordedNoise:
    """Noise recorded on the user's detector, split into a dark and a unit shot part.

    Parameters
    ----------
    dark : (T, W) frames recorded with no light.
    light : (T, W) frames of a steady (possibly pulsed) light source.

    The dark part is ``dark`` minus its smooth per-bin baseline (fixed pattern and
    temporal structure kept). The shot part is what the light frames add on top of
    the dark noise, per bin, divided by the square root of the light's intensity,
    so that it can be rescaled to any synthetic intensity: ``noise_scale * u * sqrt(I)``.
    """

    def __init__(self, dark: np.ndarray, light: np.ndarray):
        dark = np.asarray(dark, dtype=np.float64)
        light = np.asarray(light, dtype=np.float64)
        if dark.ndim != 2 or light.ndim != 2 or dark.shape[1] != light.shape[1]:
            raise ValueError(
                "dark and light frames must be 2D (frames x bins) with the same "
                f"number of bins, got {dark.shape} and {light.shape}"
            )
        if dark.shape[0] < 8 or light.shape[0] < 8:
            raise ValueError("need at least 8 dark and 8 light frames")
        dark_mean = dark.mean(axis=0)
        baseline = uniform_filter1d(dark_mean, 9, mode="nearest")
        self.dark = dark - baseline[None, :]
        # keep frames when the (pulsed) light was on
        sums = light.sum(axis=1)
        thr = 0.5 * (dark.sum(axis=1).mean() + np.percentile(sums, 95))
        on = light[sums > thr] - dark_mean[None, :]
        if on.shape[0] < 8:
            raise ValueError("fewer than 8 light frames are clearly brighter than the dark frames")
        profile = on.mean(axis=0)
        if np.any(profile <= 0):
            profile = np.maximum(profile, 1e-3 * profile.max())
        level = on @ profile / (profile @ profile)  # per-frame brightness (pulse overlap)
        expected = np.outer(level, profile)
        resid = on - expected
        var_r = resid.var(axis=0)
        var_shot = np.clip(var_r - (dark - dark_mean).var(axis=0), 0.0, None)
        self.shot = resid * np.sqrt(var_shot / np.maximum(var_r, 1e-12))[None, :]
        self.shot /= np.sqrt(np.maximum(expected, 1e-6))
        self.bins = dark.shape[1]

    @classmethod
    def from_files(cls, dark: str | Path, light: str | Path) -> RecordedNoise:
        return cls(load_frames(dark), load_frames(light))

    def split(self, frac: float = 0.8) -> tuple[RecordedNoise, RecordedNoise]:
        """Split frames in time into a training and a validation part."""
        a, b = object.__new__(RecordedNoise), object.__new__(RecordedNoise)
        a.bins = b.bins = self.bins
        nd, ns = int(frac * len(self.dark)), int(frac * len(self.shot))
        a.dark, b.dark = self.dark[:nd], self.dark[nd:]
        a.shot, b.shot = self.shot[:ns], self.shot[ns:]
        return a, b

    @staticmethod
    def _segment(rng: np.random.Generator, src: np.ndarray, n: int) -> np.ndarray:
        parts, got = [], 0
        while got < n:
            take = min(n - got, len(src))
            start = int(rng.integers(0, len(src) - take + 1))
            parts.append(src[start : start + take])
            got += take
        return np.concatenate(parts, axis=0)

    def sample(self, rng: np.random.Generator, photons: np.ndarray, noise_scale: float) -> np.ndarray:
        """Noise for a (T, W) array of signal counts, W equal to the recorded bins."""
        t, w = photons.shape
        if w != self.bins:
            raise ValueError(f"recorded noise has {self.bins} bins, the signal has {w}")
        shot = self._segment(rng, self.shot, t) * noise_scale * np.sqrt(photons)
        return shot + self._segment(rng, self.dark, t)


def load_frames(path: str | Path) -> np.ndarray:
    """Read a (frames, bins) array from .npy or .tif/.tiff."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        arr = np.load(path)
    elif path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        arr = tifffile.imread(path)
    else:
        raise ValueError(f"{path}: expected a .npy or .tif file of noise frames")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 3:  # pages of frames: stack along time
        arr = arr.reshape(-1, arr.shape[-1])
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected frames x bins, got shape {arr.shape}")
    return arr
