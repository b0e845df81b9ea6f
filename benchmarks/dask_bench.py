"""Throughput of ``fluorodn.dask`` with 1 and 2 workers, and the cost of 1 TB.

One 2.5 h recording (44156 x 152 float32, in a zarr store chunked by rows) is denoised
zarr -> zarr with :func:`fluorodn.dask.denoise_zarr` on a ``distributed.LocalCluster``
of 1 and then 2 single-threaded worker processes, next to a plain single-threaded
``Denoiser.run`` on the same array (no dask) in the same run. Cluster start-up and the
workers' first model load are timed separately and left out of the throughput.

The measured per-core throughput (1 worker, 1 thread, I/O, halo and scheduling
included) gives the cost of denoising 1 TB of recordings:

    core-hours = (1e12 / bytes_per_value) / (per_core_mpx_s * 1e6) / 3600

for float32 (4 bytes per value) and uint16 (2 bytes) recordings.

Run with ``python -m benchmarks dask [--quick] [--out DIR]``; writes ``dask.json`` and
``dask.md`` to ``DIR`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
TB = 1e12
BYTES_PER_VALUE = {"float32": 4, "uint16": 2}


def _synthetic(shape: tuple[int, int]) -> np.ndarray:
    from benchmarks.measure import synthetic_input

    return synthetic_input(shape, seed=7)


def _repeat(fn: Callable[[], float], repeats: int, budget_s: float) -> list[float]:
    """Seconds reported by up to ``repeats`` calls of ``fn``; stop early over ``budget_s``."""
    times: list[float] = []
    while len(times) < repeats:
        times.append(fn())
        if sum(times) + times[-1] > budget_s:
            break
    return times


def window_rows(model: str, cols: int) -> int:
    """Chunk rows such that a chunk plus its halo is one network window of the Denoiser.

    The Denoiser tiles anything larger than its pixel budget into equal windows; a chunk
    just above the budget would cost up to two windows, so chunks are sized to fit one.
    """
    from fluorodn import Denoiser, DenoiserOptions

    den = Denoiser(model, device="cpu", options=DenoiserOptions(threads=1))
    return max(4 * den.halo, den.tile_pixels // cols - 2 * den.halo)


def core_hours_per_tb(per_core_mpx_s: float, bytes_per_value: int) -> float:
    """Core-hours to denoise 1 TB of values stored with ``bytes_per_value`` bytes each."""
    return TB / bytes_per_value / (per_core_mpx_s * 1e6) / 3600.0


def bench(
    model: str, shape: tuple[int, int], rows_per_chunk: int, workers: Sequence[int], repeats: int,
    budget_s: float, log: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    import distributed
    import zarr

    import fluorodn.dask as fdask
    from fluorodn import Denoiser, DenoiserOptions

    x = _synthetic(shape)
    mpx = x.size / 1e6
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fluorodn-dask-bench-") as tmp:
        src = Path(tmp) / "in.zarr"
        zarr.create_array(store=str(src), data=x, chunks=(rows_per_chunk, shape[1]))

        den = Denoiser(model, device="cpu", options=DenoiserOptions(threads=1))
        den.run(x[: min(256, shape[0])])

        def plain() -> float:
            t0 = time.perf_counter()
            den.run(np.asarray(zarr.open_array(str(src), mode="r")[:]))
            return time.perf_counter() - t0

        times = _repeat(plain, repeats, budget_s)
        rows.append(
            {
                "setup": f"Denoiser.run ({den.precision}), 1 thread, no dask",
                "workers": 0,
                "cores": 1,
                "times_s": times,
                "mpx_s": mpx / statistics.median(times),
            }
        )
        log(f"  no dask, 1 thread: {rows[-1]['mpx_s']:.3f} Mpx/s")

        for n in workers:
            t0 = time.perf_counter()
            cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=logging.ERROR,
            )  # fmt: skip
            with cluster, distributed.Client(cluster) as client:
                client.wait_for_workers(n)
                t_start = time.perf_counter() - t0
                t1 = time.perf_counter()
                loaded = client.run(fdask.preload, model, "cpu")  # {worker: summary}
                t_load = time.perf_counter() - t1

                def job(n: int = n, address: str = cluster.scheduler_address) -> float:
                    info = fdask.denoise_zarr(
                        src, Path(tmp) / f"out{n}-{uuid.uuid4().hex[:8]}.zarr", model=model, device="cpu",
                        scheduler=address, rows_per_chunk=rows_per_chunk,
                    )  # fmt: skip
                    return float(info["seconds"])

                times = _repeat(job, repeats, budget_s)
            mpx_s = mpx / statistics.median(times)
            used = sorted({f"{v['name']} {v['precision']} on {v['provider']}" for v in loaded.values()})
            rows.append(
                {
                    "setup": f"LocalCluster, {n} worker process(es) x 1 thread, zarr -> zarr",
                    "workers": n,
                    "cores": n,
                    "times_s": times,
                    "mpx_s": mpx_s,
                    "per_core_mpx_s": mpx_s / n,
                    "cluster_start_s": t_start,
                    "model_load_s": t_load,
                    "worker_models": used,
                }
            )
            log(f"  {n} worker(s): {mpx_s:.3f} Mpx/s (start {t_start:.1f} s, model load {t_load:.2f} s)")
    one = next(r for r in rows if r["workers"] == min(workers))
    for r in rows:
        if r["workers"] > 0:
            r["scaling_efficiency"] = r["mpx_s"] / (one["mpx_s"] * r["workers"] / one["workers"])
    return {"shape": list(shape), "mpx": mpx, "rows_per_chunk": rows_per_chunk, "rows": rows}


def _worker_models(b: dict[str, Any]) -> list[str]:
    return sorted({m for r in b["rows"] for m in r.get("worker_models", [])})


def markdown(res: dict[str, Any]) -> str:
    from benchmarks.speed_report import fmt

    m = res["machine"]
    b = res["bench"]
    lines = [
        "# Dask scale-out",
        "",
        f"Generated by `python -m benchmarks dask{' --quick' if res['quick'] else ''}` on {m['date']}; "
        "do not edit by hand.",
        "",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs; CPUs busy with other processes before / "
        f"after the run: {fmt(m.get('busy_cpus_start'), 2)} / {fmt(m.get('busy_cpus_end'), 2)}. "
        f"Model {res['model']} (workers ran: {', '.join(_worker_models(b))}); "
        f"input {b['shape'][0]} x {b['shape'][1]} float32 ({b['mpx']:.2f} Mpx) in a "
        f"zarr store chunked by {b['rows_per_chunk']} rows (with the halo, one network window per chunk); "
        f"dask {res['versions']['dask']}, "
        f"distributed {res['versions']['distributed']}, zarr {res['versions']['zarr']}.",
        "",
        "| setup | cores | Mpx/s | per core | scaling efficiency | runs | cluster start s | model load s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in b["rows"]:
        lines.append(
            f"| {r['setup']} | {r['cores']} | {r['mpx_s']:.3f} | {r['mpx_s'] / r['cores']:.3f} "
            f"| {r['scaling_efficiency']:.2f} | {len(r['times_s'])} | {r['cluster_start_s']:.1f} "
            f"| {r['model_load_s']:.2f} |"
            if r["workers"]
            else f"| {r['setup']} | 1 | {r['mpx_s']:.3f} | {r['mpx_s']:.3f} | - | {len(r['times_s'])} | - | - |"
        )
    e = res["estimate_1tb"]
    lines += [
        "",
        "## Cost of 1 TB",
        "",
        f"Per-core throughput measured above (1 worker, zarr -> zarr): **{e['per_core_mpx_s']:.3f} Mpx/s**. "
        "`core-hours = (1e12 / bytes_per_value) / (per_core_mpx_s * 1e6) / 3600`:",
        "",
        "| stored as | values in 1 TB | core-hours | wall-clock on 100 cores |",
        "|---|---:|---:|---:|",
    ]
    for k, v in e["by_dtype"].items():
        lines.append(f"| {k} | {v['values']:.3g} | {v['core_hours']:.0f} | {v['core_hours'] / 100:.1f} h |")
    lines += [
        "",
        "The wall-clock column assumes linear scaling (recordings and their chunks are independent; "
        "the table shows the efficiency measured here); cluster start-up and one model load per "
        "worker come on top.",
        "",
        "Notes:",
        "",
    ]
    lines += [f"- {n}" for n in res["notes"]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks dask", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a 2048 x 152 array, one run (< 30 s)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for dask.json/md")
    p.add_argument("--model", default="default", help="model name or .onnx path")
    p.add_argument("--repeats", type=int, default=None, help="runs per setup (default 3, quick 1)")
    p.add_argument("--rows-per-chunk", type=int, default=None, help="zarr/dask chunk rows (default: one window)")
    args = p.parse_args(argv)
    try:
        import dask
        import distributed
        import zarr
    except ImportError as err:
        print(f"dask benchmark needs fluorodn[dask] (dask, distributed, zarr): {err}", file=sys.stderr)
        return 2
    from benchmarks.machine import busy_cpus, load_note, machine_info

    def log(msg: str) -> None:
        print(msg, flush=True)

    t0 = time.perf_counter()
    quick = bool(args.quick)
    shape = (2048, 152) if quick else (44156, 152)
    rows_per_chunk = args.rows_per_chunk or window_rows(args.model, shape[1])
    repeats = args.repeats or (1 if quick else 3)
    budget = 5.0 if quick else 60.0
    machine = machine_info(threads=1)
    log(f"dask: {machine['cpu']}, {machine['logical_cpus']} CPUs, model {args.model}, shape {shape}")
    b = bench(args.model, shape, rows_per_chunk, (1, 2), repeats, budget, log)
    one = next(r for r in b["rows"] if r["workers"] == 1)
    per_core = one["per_core_mpx_s"]
    estimate = {
        "per_core_mpx_s": per_core,
        "source": "LocalCluster, 1 worker x 1 thread, zarr -> zarr",
        "formula": "core_hours = (1e12 / bytes_per_value) / (per_core_mpx_s * 1e6) / 3600",
        "by_dtype": {
            k: {"bytes_per_value": n, "values": TB / n, "core_hours": core_hours_per_tb(per_core, n)}
            for k, n in BYTES_PER_VALUE.items()
        },
    }
    notes = [
        "Each setup's number is the median of its runs (a setup stops repeating after "
        f"{budget:.0f} s). Workers run one onnxruntime thread each (fluorodn.dask's default).",
        "Scaling efficiency = Mpx/s / (Mpx/s of 1 worker x workers); on a machine with only as many "
        "cores as workers the scheduler and the client compete with the workers for them.",
    ]
    machine |= {"loadavg_end": list(os.getloadavg()), "busy_cpus_end": busy_cpus()}
    notes += [n for n in (load_note(machine),) if n]
    res = {
        "benchmark": "dask",
        "quick": quick,
        "model": args.model,
        "machine": machine,
        "versions": {
            "dask": dask.__version__,
            "distributed": distributed.__version__,
            "zarr": zarr.__version__,
        },
        "bench": b,
        "estimate_1tb": estimate,
        "notes": notes,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - t0,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dask.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    (args.out / "dask.md").write_text(markdown(res), encoding="utf-8")
    log(f"dask: 1 TB float32 = {estimate['by_dtype']['float32']['core_hours']:.0f} core-hours; "
        f"wrote {args.out}/dask.json, dask.md in {res['seconds']:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
