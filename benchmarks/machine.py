"""The machine a benchmark runs on: its CPU, the load other processes put on it, and its float32 GEMM rate.

The GEMM rate (numpy and torch, large square matmul, same threads) divided by a model's FLOP
per pixel is the speed benchmark's limit column.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

__all__ = ["busy_cpus", "gemm_numpy", "gemm_torch", "load_note", "machine_info"]


def busy_cpus(seconds: float = 1.0) -> float | None:
    """CPUs kept busy by other processes: machine-wide CPU use over ``seconds`` while this
    process sleeps (Linux ``/proc/stat``; None elsewhere)."""

    def snapshot() -> tuple[int, int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                fields = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    a = snapshot()
    time.sleep(seconds)
    b = snapshot()
    if a is None or b is None or b[0] == a[0]:
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cpus * (1.0 - (b[1] - a[1]) / (b[0] - a[0]))


def load_note(machine: dict[str, Any]) -> str | None:
    """A warning when other processes used the CPUs around this run, else None."""
    busy = [v for v in (machine.get("busy_cpus_start"), machine.get("busy_cpus_end")) if v is not None]
    if not busy or max(busy) < 0.2:
        return None
    return (
        f"Other processes kept {max(busy):.1f} of {machine['logical_cpus']} CPUs busy around this run "
        "(measured before and after it), so these numbers are lower and noisier than on an idle machine."
    )


def machine_info(threads: int) -> dict[str, Any]:
    from fluorodn import __version__
    from fluorodn.denoiser import physical_cores

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    import onnxruntime as ort

    return {
        "cpu": cpu,
        "logical_cpus": allowed,
        "physical_cores": physical_cores(),
        "threads": threads,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "busy_cpus_start": busy_cpus(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "fluorodn": __version__,
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def gemm_numpy(n: int, repeats: int, threads: int) -> dict[str, Any]:
    """float32 n x n matmul GFLOP/s with numpy, in a subprocess limited to ``threads``."""
    code = (
        "import json, time, numpy as np\n"
        f"n, r = {n}, {repeats}\n"
        "rng = np.random.default_rng(0)\n"
        "a = rng.random((n, n), dtype=np.float32); b = rng.random((n, n), dtype=np.float32)\n"
        "a @ b\n"
        "ts = []\n"
        "for _ in range(r):\n"
        "    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)\n"
        "print(json.dumps(ts))\n"
    )
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        env[var] = str(threads)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    times = json.loads(out.stdout.strip().splitlines()[-1])
    return _gemm_result(n, times)


def gemm_torch(n: int, repeats: int, torch: Any, device: str) -> dict[str, Any]:
    """float32 n x n matmul GFLOP/s with torch on ``device`` (TF32 off on CUDA)."""
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.rand(n, n, dtype=torch.float32, device=device)
    b = torch.rand(n, n, dtype=torch.float32, device=device)

    def mm() -> None:
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()

    mm()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        mm()
        times.append(time.perf_counter() - t0)
    return _gemm_result(n, times)


def _gemm_result(n: int, times: list[float]) -> dict[str, Any]:
    flop = 2.0 * n**3
    return {
        "n": n,
        "times_s": times,
        "gflops": flop / statistics.median(times) / 1e9,
        "gflops_best": flop / min(times) / 1e9,
    }
