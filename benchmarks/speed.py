"""Throughput of fluorodn next to PyTorch eager and the machine's float32 limit.

Everything is measured side by side in one run, on the same machine and thread count:

* fluorodn (``Denoiser.run``) in Mpixel/s per shipped model (and precision, where the
  runtime offers one), on 101x152 (one training window), 44156x152 (a 2.5 h recording),
  512x512 and 2048x2048;
* PyTorch eager running the *same* weights (the ONNX initializers loaded into an
  ``nn.Sequential`` of ``Conv2d`` + ``ReLU``, ``torch.inference_mode``) on the same
  shapes, with the same normalization around it, on the whole image at once;
* the machine's limit: measured float32 GEMM GFLOP/s (numpy and torch, large square
  matmul, same threads) divided by the model's FLOP per pixel. It is a reference, not a
  hard bound (a convolution may beat GEMM, e.g. with Winograd);
* end-to-end ``fluorodn denoise`` on a multi-page TIFF (a subprocess: wall time and its
  peak RSS from ``os.wait4``).

Where onnxruntime has the CUDA provider (and torch sees a GPU) the same rows are
measured on CUDA too. Each number is the median of repeated runs.

Run with ``python -m benchmarks speed [--quick] [--out DIR]``; writes ``speed.json``,
``speed.csv`` and ``speed.md`` to ``DIR`` (default ``benchmarks/results``).

This module measures the rows and runs the whole; what each column stands on lives beside
it: :mod:`benchmarks.engines` (fluorodn per precision), :mod:`benchmarks.torch_eager` (the
PyTorch reference, FLOP per pixel), :mod:`benchmarks.machine` (the GEMM limit, the load of
other processes), :mod:`benchmarks.measure` (repeated timings, the CLI's wall time and peak
RSS) and :mod:`benchmarks.speed_report` (ratios and the result files).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.engines import engines, precisions
from benchmarks.machine import busy_cpus, gemm_numpy, gemm_torch, load_note, machine_info
from benchmarks.measure import cli_command, median_time, run_child, synthetic_input
from benchmarks.speed_report import add_ratios, write_results
from benchmarks.torch_eager import flop_per_pixel, torch_model, torch_runner

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES_FULL = [(101, 152), (44156, 152), (512, 512), (2048, 2048)]
SHAPES_QUICK = [(101, 152), (256, 152)]
#: Stop repeating a measurement once it has used this many seconds (at least one run).
BUDGET_FULL_S = 20.0
BUDGET_QUICK_S = 2.0
#: Skip a measurement whose single run would take longer than this (predicted from the
#: previous, smaller shape), so that a slow backend or a busy machine cannot stall the run.
MAX_RUN_FULL_S = 120.0
MAX_RUN_QUICK_S = 10.0


def bench_models(
    models: Sequence[str],
    shapes: Sequence[tuple[int, int]],
    devices: Sequence[str],
    threads: int,
    repeats: int,
    budget_s: float,
    torch: Any,
    notes: list[str],
    log: Callable[[str], None],
    max_run_s: float = float("inf"),
    candidates: Sequence[Path] = (),
) -> list[dict[str, Any]]:
    rows = []
    inputs = {shape: synthetic_input(shape) for shape in shapes}
    for model in models:
        for device in devices:
            for precision, den in engines(model, device, threads, candidates, notes):
                path = Path(den.path)
                fpp = flop_per_pixel(den.metadata, path)
                tnet = None
                on_device = device == "cpu" or (torch is not None and torch.cuda.is_available())
                if torch is not None and precision == "fp32" and on_device:
                    tnet = torch_runner(torch_model(path, torch).to(device), torch, device)
                rate: dict[str, float] = {}  # last Mpx/s per backend, to skip hopeless runs
                for shape in sorted(shapes, key=lambda sh: sh[0] * sh[1]):
                    x = inputs[shape]
                    mpx = x.size / 1e6
                    warm = device == "cuda" or x.size < 1_000_000
                    row: dict[str, Any] = {
                        "model": den.name,
                        "device": device,
                        "provider": den.provider,
                        "precision": precision,
                        "shape": f"{shape[0]}x{shape[1]}",
                        "mpx": mpx,
                        "flop_per_pixel": fpp,
                        "threads": den.threads,
                        "torch_parity_rel": None,
                    }
                    # the network's own zero padding on both sides: the same pixels computed
                    runners = {"fluorodn": lambda x=x, den=den: den.run(x, border="zero")}
                    if tnet is not None:
                        runners["torch"] = lambda x=x, tnet=tnet: tnet(x)
                    for backend in ("fluorodn", "torch"):
                        row[f"{backend}_times_s"] = row[f"{backend}_mpx_s"] = None
                        if backend not in runners:
                            continue
                        eta = mpx / rate[backend] if backend in rate else 0.0
                        if eta > max_run_s:
                            row[f"{backend}_skipped"] = f"one run would take about {eta:.0f} s"
                            notes.append(
                                f"{backend} on {den.name} {row['shape']} ({device}) skipped: one run "
                                f"would take about {eta:.0f} s (limit {max_run_s:.0f} s)."
                            )
                            continue
                        times = median_time(runners[backend], repeats, budget_s, warm)
                        row[f"{backend}_times_s"] = times
                        row[f"{backend}_mpx_s"] = rate[backend] = mpx / statistics.median(times)
                    if tnet is not None and shape == min(shapes, key=lambda sh: sh[0] * sh[1]):
                        a, b = den.run(x, border="zero"), tnet(x)  # the same weights: outputs must agree
                        corr = float(np.abs(x - a).max()) or 1.0
                        row["torch_parity_rel"] = float(np.abs(a - b).max()) / corr
                    rows.append(row)
                    fd, pt = (f"{row[k]:.3f}" if row[k] else "-" for k in ("fluorodn_mpx_s", "torch_mpx_s"))
                    log(
                        f"  {den.name:>8} {device:4} {precision} {row['shape']:>10}: "
                        f"fluorodn {fd} Mpx/s, torch {pt} Mpx/s ({len(row['fluorodn_times_s'] or [])} runs)"
                    )
    return rows


def precision_quality(
    models: Sequence[str],
    threads: int,
    candidates: Sequence[Path],
    minutes: float,
    notes: list[str],
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Quality of every precision against fp32, as the quantizer's guard measures it.

    One continuous recording per model at the model's noise scale (``benchmarks.quality``
    generator, TEST_STREAM seed 0, never used in training), denoised by each engine of
    :func:`engines`; PSNR against the clean recording and mean 0-2.5 Hz coherence of the
    fitted ligand signal with ground truth (``benchmarks.quality.analyse``).
    """
    from benchmarks import quality

    band = "coh_mean_0_2.5hz"
    out = []
    for model in models:
        found = engines(model, "cpu", threads, candidates, [])
        if not found or found[0][0] != "fp32":
            continue
        noise = found[0][1].metadata.get("noise_scale")
        if not isinstance(noise, (int, float)):
            notes.append(f"{model}: no noise_scale in its metadata, so no quality deltas.")
            continue
        noise = float(noise)
        (rec,) = quality.make_recordings(round(minutes * 60 * quality.FS), (noise,), robust=False, seed=0)
        ref: dict[str, float] = {}
        for precision, den in found:
            den.run(rec.noisy[:256])  # warm-up
            t0 = time.perf_counter()
            y = np.asarray(den.run(rec.noisy), np.float64)
            seconds = time.perf_counter() - t0
            metrics, _, _ = quality.analyse(rec, y)
            if precision == "fp32":
                ref = {"psnr": metrics["psnr"], "coherence": metrics[band], "seconds": seconds}
            row = {
                "model": den.name, "precision": precision, "noise_scale": noise, "minutes": minutes,
                "psnr_db": metrics["psnr"], "psnr_delta_db": ref["psnr"] - metrics["psnr"],
                "coherence": metrics[band], "coherence_delta": ref["coherence"] - metrics[band],
                "seconds": seconds, "speedup": ref["seconds"] / seconds,
            }  # fmt: skip
            out.append(row)
            log(
                f"  quality {den.name} {precision}: PSNR {row['psnr_db']:.2f} dB (fp32 minus this "
                f"{row['psnr_delta_db']:+.3f}), coherence {row['coherence']:.4f} ({row['coherence_delta']:+.4f})"
            )
    return out


def bench_cli(
    model: str, pages: int, page_shape: tuple[int, int], threads: int, workdir: Path, precision: str | None = None
) -> dict[str, Any]:
    """End-to-end ``fluorodn denoise`` on a multi-page float32 TIFF (``--precision`` if given)."""
    import tifffile

    stack = np.stack([synthetic_input(page_shape, seed=k) for k in range(pages)])
    src, dst = workdir / "stack.tif", workdir / "stack_denoised.tif"
    tifffile.imwrite(src, stack, photometric="minisblack")
    cmd = cli_command()
    help_full = subprocess.run([*cmd, "denoise", "--help"], capture_output=True, text=True).stdout
    if Path(model).is_file():
        model = str(Path(model).resolve())
    args = [*cmd, "denoise", src.name, "-o", dst.name, "--model", model]
    if "--threads" in help_full:
        args += ["--threads", str(threads)]
    if "--device" in help_full:
        args += ["--device", "cpu"]
    if precision is not None and "--precision" in help_full:
        args += ["--precision", precision]
    version = run_child([*cmd, "--version"], cwd=workdir)
    res = run_child(args, cwd=workdir)
    mpx = stack.size / 1e6
    ok = res["returncode"] == 0 and dst.is_file()
    return {
        "precision": precision or "auto",
        "pages": pages,
        "page_shape": f"{page_shape[0]}x{page_shape[1]}",
        "mpx": mpx,
        "command": " ".join(["fluorodn", *args[len(cmd) :]]),
        "seconds": res["seconds"],
        "mpx_s": mpx / res["seconds"] if ok else None,
        "peak_rss_mib": res["peak_rss_mib"],
        "input_mib": stack.nbytes / 2**20,
        "ok": ok,
        "output_tail": None if ok else res["output_tail"],
        "version_seconds": version["seconds"],
        "version_peak_rss_mib": version["peak_rss_mib"],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks speed", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small shapes, one run each (< 30 s)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for speed.json/csv/md")
    p.add_argument("--threads", type=int, default=None, help="threads (default: the physical cores)")
    p.add_argument("--models", nargs="*", default=None, help="model names or .onnx paths (default: all shipped)")
    p.add_argument("--repeats", type=int, default=None, help="runs per measurement (default 3, quick 1)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    p.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    p.add_argument("--no-quality", action="store_true", help="skip the per-precision quality deltas")
    p.add_argument(
        "--candidates",
        nargs="*",
        type=Path,
        default=[],
        help="reduced-precision .onnx files not shipped (e.g. from fluorodn_train quantize --keep-refused)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from fluorodn import available_models
    from fluorodn.denoiser import physical_cores

    def log(msg: str) -> None:
        print(msg, flush=True)

    t_start = time.perf_counter()
    threads = args.threads or physical_cores()
    quick = bool(args.quick)
    repeats = args.repeats or (1 if quick else 3)
    budget = BUDGET_QUICK_S if quick else BUDGET_FULL_S
    max_run = MAX_RUN_QUICK_S if quick else MAX_RUN_FULL_S
    shapes = SHAPES_QUICK if quick else SHAPES_FULL
    models = args.models or [c["name"] for c in available_models()]
    if not models:
        print("no shipped models found; pass --models NAME_OR_PATH ...", file=sys.stderr)
        return 2
    notes: list[str] = []

    torch = None
    if not args.no_torch:
        try:
            import torch as _torch

            torch = _torch
            torch.set_num_threads(threads)
        except ImportError:
            notes.append("PyTorch is not importable here: the PyTorch column is empty.")
    else:
        notes.append("PyTorch column skipped (--no-torch).")

    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # fluorodn reports provider problems itself
    devices = ["cpu"]
    has_gpu = Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None
    if "CUDAExecutionProvider" in ort.get_available_providers() and has_gpu:
        devices.append("cuda")

    machine = machine_info(threads)
    log(f"speed: {machine['cpu']}, {threads} threads, models {' '.join(models)}, devices {'/'.join(devices)}")

    def measure_gemm(when: str) -> dict[str, Any]:
        n = 1024 if quick else 4096
        res: dict[str, Any] = {f"numpy_cpu_{when}": gemm_numpy(n, repeats, threads)}
        if torch is not None:
            res[f"torch_cpu_{when}"] = gemm_torch(n, repeats, torch, "cpu")
            if "cuda" in devices and torch.cuda.is_available():
                res[f"torch_cuda_{when}"] = gemm_torch(2048 if quick else 8192, max(3, repeats), torch, "cuda")
        log(f"  GEMM ({when}): " + ", ".join(f"{k} {v['gflops']:.1f} GFLOP/s" for k, v in res.items()))
        return res

    gemm = measure_gemm("start")
    rows = bench_models(
        models, shapes, devices, threads, repeats, budget, torch, notes, log, max_run, candidates=args.candidates
    )
    gemm.update(measure_gemm("end"))
    limit = {
        dev: max((v["gflops_best"] for k, v in gemm.items() if f"_{dev}_" in k), default=None)
        for dev in ("cpu", "cuda")
    }
    if "cuda" in devices and limit["cuda"] is None:
        notes.append("No CUDA GEMM reference (torch without CUDA): no limit for the CUDA rows.")
    add_ratios(rows, limit)

    quality_rows = []
    if not args.no_quality:
        quality_rows = precision_quality(models, threads, args.candidates, 1.0 if quick else 10.0, notes, log)

    cli = cli_auto = None
    if not args.no_cli:
        pages, page_shape = (2, (101, 152)) if quick else (16, (2048, 152))
        cli_model = models[0] if args.models else "default"
        fpp = next((r["flop_per_pixel"] for r in rows if r["device"] == "cpu"), None)
        # fp32 end to end; and the default (auto) where the model ships a faster variant
        runs = ["fp32"] + (["auto"] if len(precisions(cli_model)) > 1 else [])
        for precision in runs:
            with tempfile.TemporaryDirectory(prefix="fluorodn-speed-") as tmp:
                res = bench_cli(cli_model, pages, page_shape, threads, Path(tmp), precision)
            ok = res["mpx_s"] and fpp and limit["cpu"]
            res["ratio_limit"] = res["mpx_s"] / (limit["cpu"] * 1e3 / fpp) if ok else None
            if res["ok"]:
                log(f"  CLI ({precision}): {res['seconds']:.2f} s, peak RSS {res['peak_rss_mib']:.0f} MiB")
            else:
                log(f"  CLI ({precision}) failed: {res['output_tail']}")
            if precision == "fp32":
                cli = res
            else:
                cli_auto = res

    notes.append(
        "Every number is the median of its runs (up to "
        f"{repeats}; a measurement stops repeating after {budget:.0f} s). Small inputs get one untimed "
        "warm-up run. fluorodn tiles the image (bounded memory); PyTorch eager runs the whole image "
        "at once, with the same global normalization before and after. PyTorch always runs fp32 "
        "(a reduced-precision row is compared with it); the limit is the float32 GEMM rate."
    )
    if cli is not None:
        notes.append(
            "The CLI runs with --precision fp32, and with its default (auto) where the model ships a "
            "reduced-precision variant; it reads pages ahead of the network and writes behind it."
        )
    machine["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    machine["busy_cpus_end"] = busy_cpus()
    note = load_note(machine)
    if note:
        notes.append(note)
    result = {
        "benchmark": "speed",
        "quick": quick,
        "machine": machine,
        "torch_version": getattr(torch, "__version__", None),
        "gemm": gemm,
        "limit_gflops": limit,
        "rows": rows,
        "cli": cli,
        "cli_auto": cli_auto,
        "precision_quality": quality_rows,
        "notes": notes,
        "seconds": time.perf_counter() - t_start,
    }
    write_results(args.out, result)
    log(f"speed: wrote {args.out}/speed.json, speed.csv, speed.md in {result['seconds']:.0f} s")
    return 0 if all(c is None or c["ok"] for c in (cli, cli_auto)) else 1


if __name__ == "__main__":
    sys.exit(main())
