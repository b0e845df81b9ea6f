"""How fast fluorodn reads (and writes back) an OceanView time-series export of a 2.5-hour session.

One run writes a 44156 x 152 export (5 Hz, 477-595 nm, values with 2 decimals, tab-separated,
``HH:MM:SS.fff`` timestamps) and times, over interleaved repeats (median):

* ``fluorodn.formats.read``: parse, timestamps checked, interleave detection (what ``fluorodn
  denoise rec.txt`` does before denoising);
* ``OceanViewText.read``: the parse alone;
* writing the values back in the input's layout (``OceanViewText.text``);
* ``numpy.loadtxt`` of the same values (timestamps column skipped), for scale.

Run::

    python -m benchmarks formats-speed [--repeats 3] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
#: A 2.5-hour session at 5 Hz, 152 bins.
SHAPE = (44156, 152)
QUICK_SHAPE = (3000, 152)
HEADER = (
    "Data from session.txt Node\n\nDate: Fri Jan 20 10:37:06 CET 2017\nUser: lab\nSpectrometer: FLMS12345\n"
    "Trigger mode: 0\nIntegration Time (sec): 1.000000E-1\nScans to average: 1\n"
    "Electric dark correction enabled: true\nNonlinearity correction enabled: false\nBoxcar width: 0\n"
    "XAxis mode: Wavelengths\nNumber of Pixels in Spectrum: {w}\n>>>>>Begin Spectral Data<<<<<\n"
)


def make_export(path: Path, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Write a tab-separated OceanView time-series export of ``shape``; return its values (T, W)."""
    t, w = shape
    rng = np.random.default_rng(seed)
    bins = np.linspace(0.0, 1.0, w)
    emission = 4000.0 * np.exp(-((bins - 0.3) ** 2) / 0.03) + 150.0
    drift = 1.0 + 0.05 * np.sin(np.arange(t) / 500.0)
    values = np.round(drift[:, None] * emission[None, :] + rng.normal(0, 20.0, (t, w)), 2)
    lines = ["\t".join(f"{x:.2f}" for x in np.linspace(477.0, 595.0, w))]
    row = "\t".join(["%.2f"] * w)
    for i, r in enumerate(values.tolist()):
        s = 36000.0 + 0.2 * i
        lines.append(f"{int(s // 3600) % 24:02d}:{int(s % 3600 // 60):02d}:{s % 60:06.3f}\t" + row % tuple(r))
    path.write_text(HEADER.format(w=w) + "\n".join(lines) + "\n")
    return values


def run(repeats: int = 3, out_dir: Path | None = None, quick: bool = False) -> dict[str, Any]:
    from fluorodn import formats
    from fluorodn.formats.oceanview import OceanViewText

    shape = QUICK_SHAPE if quick else SHAPE
    out_dir = out_dir or RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "session.txt"
        values = make_export(src, shape)
        size_mb = src.stat().st_size / 1e6
        parsed = OceanViewText.read(src)
        if not np.array_equal(parsed.values, values) or parsed.text(parsed.values) != src.read_bytes():
            raise RuntimeError("the reader does not give the export back exactly")
        tasks: dict[str, Callable[[], object]] = {
            "formats.read (parse, timestamps, interleave check)": lambda: formats.read(src),
            "OceanViewText.read (parse only)": lambda: OceanViewText.read(src),
            "write back (OceanViewText.text)": lambda: parsed.text(parsed.values),
            "numpy.loadtxt (values only, for scale)": lambda: np.loadtxt(
                src, delimiter="\t", skiprows=15, usecols=range(1, shape[1] + 1)
            ),
        }
        seconds: dict[str, list[float]] = {k: [] for k in tasks}
        for _ in range(repeats):
            for name, task in tasks.items():
                t0 = time.perf_counter()
                task()
                seconds[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in seconds.items()}
    result = {
        "benchmark": "formats-speed",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "shape": list(shape),
        "file_mb": size_mb,
        "repeats": repeats,
        "seconds": seconds,
        "median_s": med,
        "spectra_per_s": {k: shape[0] / v for k, v in med.items()},
        "round_trip_exact": True,
        "quick": quick,
    }
    write_results(result, out_dir)
    return result


def write_results(result: dict[str, Any], out_dir: Path) -> None:
    """``formats_speed.json`` and ``.md`` (``formats_speed_quick.*`` for the quick mode) in ``out_dir``."""
    shape, med, quick = result["shape"], result["median_s"], result.get("quick", False)
    name = "formats_speed_quick" if quick else "formats_speed"
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    machine = result["machine"]
    lines = [
        "# Reading an OceanView export of a 2.5-hour session",
        "",
        f"`python -m benchmarks formats-speed{' --quick' if quick else ''}` on {result['created']}: a "
        f"{shape[0]} x {shape[1]} tab-separated OceanView time-series export ({result['file_mb']:.1f} MB, values "
        f"with 2 decimals, HH:MM:SS.fff timestamps), {result['repeats']} interleaved repeats (median). The export "
        "read and written back is the same bytes. Machine: "
        f"{machine.get('cpus', '?')} CPUs ({machine['platform']}); the seconds are this machine's.",
        "",
        "| step | median s | spectra / s |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v:.2f} | {shape[0] / v:,.0f} |" for k, v in med.items()]
    (out_dir / f"{name}.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks formats-speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help=f"a {QUICK_SHAPE[0]}-spectrum export instead")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    res = run(args.repeats, args.out, args.quick)
    print(json.dumps(res["median_s"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
