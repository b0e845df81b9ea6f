"""Builders of acquisition files in every dialect the readers take (no vendor files, no network)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

HEADER = (
    "Data from {name} Node\n"
    "\n"
    "Date: Fri Jan 20 10:37:06 CET 2017\n"
    "User: lab\n"
    "Spectrometer: FLMS12345\n"
    "Trigger mode: 0\n"
    "Integration Time (sec): 1.000000E-1\n"
    "Scans to average: 1\n"
    "Electric dark correction enabled: true\n"
    "Nonlinearity correction enabled: false\n"
    "Boxcar width: 0\n"
    "XAxis mode: Wavelengths\n"
    "Number of Pixels in Spectrum: {pixels}\n"
    ">>>>>Begin Spectral Data<<<<<\n"
)


def spectra(t: int = 300, w: int = 24, seed: int = 0, levels: tuple[float, ...] = (1000.0,)) -> np.ndarray:
    """(t, w) positive spectra with noise; rows cycle through ``levels`` (interleaved excitations)."""
    rng = np.random.default_rng(seed)
    wl = np.linspace(0, 1, w)
    shape = np.exp(-((wl - 0.3) ** 2) / 0.05)
    level = np.array(levels)[np.arange(t) % len(levels)]
    slow = 1 + 0.05 * np.sin(np.arange(t) / 40)
    return (level * slow)[:, None] * (0.2 + shape)[None, :] + rng.normal(0, 3, (t, w))


def stamps(t: int, kind: str, period: float = 0.2, start: float = 36000.0) -> list[str]:
    out = []
    for i in range(t):
        s = start + i * period
        h, rem = divmod(s, 3600)
        m, sec = divmod(rem, 60)
        if kind == "clock":
            out.append(f"{int(h) % 24:02d}:{int(m):02d}:{sec:06.3f}")
        elif kind == "dated":
            out.append(f"1970-01-01 {int(h) % 24:02d}:{int(m):02d}:{sec:09.6f}")
        elif kind == "seconds":
            out.append(f"{i * period:.3f}")
        else:
            raise ValueError(kind)
    return out


def write_export(
    path: Path,
    values: np.ndarray,
    *,
    wavelengths: np.ndarray | None = None,
    times: list[str] | None = None,
    sep: str = "\t",
    decimal: str = ".",
    decimals: int = 2,
    stamp_kind: str = "clock",
    newline: str = "\n",
    footer: str = "",
    header: str | None = None,
) -> Path:
    t, w = values.shape
    wl = np.linspace(477.0, 595.0, w) if wavelengths is None else wavelengths
    ts = stamps(t, stamp_kind) if times is None else times
    head = (HEADER if header is None else header).format(name=path.name, pixels=w)

    def num(x: float, d: int) -> str:
        text = f"{x:.{d}f}"
        return text.replace(".", ",") if decimal == "," else text

    lines = [sep.join(num(x, 2) for x in wl)]
    for stamp, row in zip(ts, values, strict=True):
        st = stamp.replace(".", ",") if decimal == "," and stamp_kind == "seconds" else stamp
        lines.append(st + sep + sep.join(num(x, decimals) for x in row))
    text = head + "\n".join(lines) + "\n" + footer
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


@pytest.fixture
def export(tmp_path: Path) -> Callable[..., Path]:
    """``export(values, name="rec.txt", **dialect)``: an OceanView time-series export in tmp_path."""

    def make(values: np.ndarray, name: str = "rec.txt", **kw: object) -> Path:
        return write_export(tmp_path / name, values, **kw)  # type: ignore[arg-type]

    return make
