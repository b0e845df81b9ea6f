"""``python -m benchmarks NAME|all [--quick] [--out DIR] [options]``, NAME one of :data:`BENCHMARKS`.

Each benchmark is a module with ``main(argv) -> int``; ``all`` runs them in turn
with the shared options (``--quick``, ``--out DIR``) and fails if any of them fails
(those of :data:`NOT_IN_ALL`, which need arguments of their own, excepted).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence

BENCHMARKS = {
    "quality": "benchmarks.quality",
    "speed": "benchmarks.speed",
    "dask": "benchmarks.dask_bench",
    "acceptance": "benchmarks.acceptance",
    "default-speed": "benchmarks.default_speed",
    "formats-speed": "benchmarks.formats_speed",
    "diagnose": "benchmarks.diagnose",
    "fixed-pattern": "benchmarks.fixed_pattern",
    "sweep": "benchmarks.sweep",
    "images": "benchmarks.images",
    "rates": "benchmarks.rates",
    "lengths": "benchmarks.lengths",
    "dark": "benchmarks.dark",
    "strength": "benchmarks.strength",
    "compare": "benchmarks.compare",
    "events": "benchmarks.events",
    "headroom": "benchmarks.headroom",
    "onsets": "benchmarks.onsets",
    "brightness": "benchmarks.brightness",
    "sensor-check": "benchmarks.sensor_check",
    "oscillations": "benchmarks.oscillations",
    "flashes": "benchmarks.flashes",
    "noise-changes": "benchmarks.noise_changes",
    "local-detail": "benchmarks.local_detail",
}
#: Benchmarks that need arguments of their own (``compare``: the candidate model); ``all`` skips them.
NOT_IN_ALL = ("compare",)


def run(name: str, argv: Sequence[str]) -> int:
    """Run one benchmark's ``main(argv)``; its exit code (None counts as 0)."""
    module = importlib.import_module(BENCHMARKS[name])
    rc = module.main(list(argv))
    return int(rc or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = (
        f"python -m benchmarks {{{','.join([*BENCHMARKS, 'all'])}}} [--quick] [--out DIR] [options]\n"
        "  options after the name go to that benchmark; 'python -m benchmarks speed --help' lists them"
    )
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name in BENCHMARKS:
        return run(name, rest)
    if name != "all":
        print(f"unknown benchmark {name!r}\n{usage}", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog="python -m benchmarks all")
    ap.add_argument("--quick", action="store_true", help="the quick mode of every benchmark")
    ap.add_argument("--out", default=None, help="folder for all result files (default benchmarks/results)")
    args = ap.parse_args(rest)
    shared = (["--quick"] if args.quick else []) + (["--out", args.out] if args.out else [])
    failed = []
    for bench in (b for b in BENCHMARKS if b not in NOT_IN_ALL):
        t0 = time.perf_counter()
        print(f"== {bench} ==", flush=True)
        rc = run(bench, shared)
        print(f"== {bench}: exit {rc} in {time.perf_counter() - t0:.0f} s ==", flush=True)
        if rc:
            failed.append(bench)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
