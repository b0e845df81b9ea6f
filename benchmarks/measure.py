"""How the benchmarks measure: repeated wall times, a synthetic recording, a command's wall time and peak RSS,
the command line of benchmarks that take only ``--quick`` and ``--out``, and how results are written.

Shared by the speed, dask, default-speed, diagnose, fixed-pattern, images, rates and lengths benchmarks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cli_command", "median_time", "run_child", "synthetic_input", "write_results"]


def median_time(fn: Callable[[], Any], repeats: int, budget_s: float, warmup: bool) -> list[float]:
    """Wall times of up to ``repeats`` calls of ``fn``; stops early when over ``budget_s``."""
    if warmup:
        fn()
    times: list[float] = []
    spent = 0.0
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
        if spent + times[-1] > budget_s:
            break
    return times


def fastest(fn: Callable[[], Any], times: int = 3) -> float:
    """The fastest of ``times`` calls of ``fn``, in seconds (``time.perf_counter``)."""
    best = float("inf")
    for _ in range(times):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def synthetic_input(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A float32 recording-like input: smooth spectrum x slow drift, plus noise."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    spec = np.exp(-(((np.arange(cols) - 0.3 * cols) / (0.25 * cols)) ** 2))
    drift = 1.0 + 0.1 * np.sin(np.arange(rows) / 50.0)
    x = 200.0 + 800.0 * drift[:, None] * spec[None, :]
    x += rng.normal(0.0, 1.0, shape) * np.sqrt(x)
    return x.astype(np.float32)


def cli_command() -> list[str]:
    if importlib.util.find_spec("fluorodn.__main__") is not None:
        return [sys.executable, "-m", "fluorodn"]
    exe = shutil.which("fluorodn")
    if exe is not None:
        return [exe]
    return [sys.executable, "-c", "import sys; from fluorodn.cli import main; sys.exit(main())"]


_WRAPPER = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
cwd = sys.argv[1] or None
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd)
output = proc.stdout.read()
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({
    "seconds": time.perf_counter() - t0,
    "returncode": os.waitstatus_to_exitcode(status),
    "peak_rss_mib": usage.ru_maxrss / 1024.0,
    "output_tail": output.decode(errors="replace")[-600:],
}))
"""


def run_child(cmd: Sequence[str], cwd: Path | None = None) -> dict[str, Any]:
    """Run a command; its wall time, exit code, output tail and peak RSS (MiB, Linux).

    The command is started from a small wrapper process: Linux carries the peak RSS of
    the process that forks over ``exec`` (``ru_maxrss``), so forking from this process
    (with torch loaded) would report this process's memory instead of the command's.
    """
    import fluorodn

    env = dict(os.environ)  # the same fluorodn as this process, from any working directory
    root = str(Path(fluorodn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(cwd or ""), *cmd],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    res: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    res["cmd"] = list(cmd)
    return res


def quick_out_main(
    argv: list[str] | None, name: str, doc: str, run: Callable[[bool, Path | None], Any], quick_help: str
) -> int:
    """``python -m benchmarks NAME [--quick] [--out DIR]``: parse ``argv``, call ``run(quick, out)``."""
    import argparse

    ap = argparse.ArgumentParser(prog=f"python -m benchmarks {name}", description=doc.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    run(args.quick, args.out)
    return 0


def check_cost_line(cost: dict[str, float]) -> str:
    """A check's cost beside the whole run, from ``{"check_s", "run_s", "samples"}`` (152 bins)."""
    return (
        f"Cost: the check {1e3 * cost['check_s']:.1f} ms beside the whole run's {cost['run_s']:.2f} s on "
        f"{cost['samples']} x 152 ({100 * cost['check_s'] / cost['run_s']:.2f} %)."
    )


def run_record(t0: float, den: Any) -> dict[str, Any]:
    """The head of a model benchmark's result: when it ran, for how long since ``t0``
    (``time.perf_counter``), on what machine, with which model (``den``, a ``fluorodn.Denoiser``)."""
    import platform

    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": platform.platform(),
        "model": den.name,
        "model_sha256": den.sha256,
    }


def write_results(
    result: dict[str, Any], out_dir: str | Path | None, default: Path, stem: str, render: Callable[[Any], str]
) -> str:
    """Write ``result`` as ``STEM.json`` and its markdown ``render(result)`` as ``STEM.md`` into
    ``out_dir`` (``default`` if None, created if needed); the markdown is returned."""
    out = Path(out_dir) if out_dir is not None else default
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    text = render(result)
    (out / f"{stem}.md").write_text(text)
    return text


def warning_lead(message: str) -> str:
    """A warning's opening words, up to its first bracket or colon: a table's cell (the whole
    message listed once below the table)."""
    return message.split(" (")[0].split(": ")[0]


def warnings_in_full(messages: Any) -> list[str]:
    """Markdown lines listing each distinct message of ``messages`` once (none if there are none):
    the text behind the :func:`warning_lead` cells of a table above them."""
    said = list(dict.fromkeys(messages))
    return ["", "The warnings in full:", "", *(f"- {w}" for w in said)] if said else []
