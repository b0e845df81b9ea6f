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
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import importlib.util
import json
import os
import platform
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


# --------------------------------------------------------------------------- helpers


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


def synthetic_input(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A float32 recording-like input: smooth spectrum x slow drift, plus noise."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    spec = np.exp(-(((np.arange(cols) - 0.3 * cols) / (0.25 * cols)) ** 2))
    drift = 1.0 + 0.1 * np.sin(np.arange(rows) / 50.0)
    x = 200.0 + 800.0 * drift[:, None] * spec[None, :]
    x += rng.normal(0.0, 1.0, shape) * np.sqrt(x)
    return x.astype(np.float32)


def onnx_conv_layers(path: Path) -> list[dict[str, Any]]:
    """The chain of layers of a DnCNN-like ONNX graph: Conv (weights, bias, padding) and ReLU.

    Raises ValueError for anything that is not a plain chain of those (BatchNormalization
    is folded into the preceding Conv).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    layers: list[dict[str, Any]] = []
    current = model.graph.input[0].name
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
            continue
        if node.input[0] != current:
            raise ValueError(f"{path}: not a plain chain of layers at node {node.name or node.op_type}")
        if node.op_type == "Conv":
            w = consts[node.input[1]].astype(np.float32)
            b = consts[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else None
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if (
                attrs.get("group", 1) != 1
                or set(attrs.get("strides", [1, 1])) != {1}
                or set(attrs.get("dilations", [1, 1])) != {1}
                or len(set(pads)) != 1
                or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
            ):
                raise ValueError(f"{path}: unsupported Conv attributes {attrs}")
            layers.append({"op": "conv", "w": w, "b": b, "pad": int(pads[0])})
        elif node.op_type == "Relu":
            layers.append({"op": "relu"})
        elif node.op_type == "BatchNormalization":
            scale, bias, mean, var = (consts[n].astype(np.float64) for n in node.input[1:5])
            k = scale / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
            conv = layers[-1]
            conv["w"] = (conv["w"] * k[:, None, None, None]).astype(np.float32)
            b0 = conv["b"] if conv["b"] is not None else np.zeros(len(k))
            conv["b"] = ((b0 - mean) * k + bias).astype(np.float32)
        elif node.op_type == "Identity":
            pass
        else:
            raise ValueError(f"{path}: unsupported ONNX op {node.op_type}")
        current = node.output[0]
    return layers


def flop_per_pixel(metadata: dict[str, Any], path: Path) -> int:
    """The model's FLOP per output pixel: its metadata, else sum of 2*k*k*cin*cout over convs."""
    if isinstance(metadata.get("flop_per_pixel"), int) and metadata["flop_per_pixel"] > 0:
        return int(metadata["flop_per_pixel"])
    return int(sum(2 * int(np.prod(layer["w"].shape)) for layer in onnx_conv_layers(path) if layer["op"] == "conv"))


def torch_model(path: Path, torch: Any) -> Any:
    """``nn.Sequential`` of Conv2d + ReLU holding the ONNX file's weights, in eval mode."""
    nn = torch.nn
    mods = []
    for layer in onnx_conv_layers(path):
        if layer["op"] == "relu":
            mods.append(nn.ReLU(inplace=True))
            continue
        cout, cin, kh, _ = layer["w"].shape
        conv = nn.Conv2d(cin, cout, kh, padding=layer["pad"], bias=layer["b"] is not None)
        conv.weight.data.copy_(torch.from_numpy(layer["w"]))
        if layer["b"] is not None:
            conv.bias.data.copy_(torch.from_numpy(layer["b"]))
        mods.append(conv)
    return nn.Sequential(*mods).eval()


def torch_runner(net: Any, torch: Any, device: str) -> Callable[[np.ndarray], np.ndarray]:
    """The same pipeline as ``Denoiser.run``: global scale, normalize, net, denormalize."""
    from fluorodn.normalize import global_scale

    def run(x: np.ndarray) -> np.ndarray:
        m, s = global_scale(x)
        z = torch.from_numpy(((x - m) / s).astype(np.float32))[None, None].to(device)
        with torch.inference_mode():
            noise = net(z)[0, 0].cpu().numpy()
        return (x - s * noise.astype(np.float64)).astype(np.float32)

    return run


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


def _precisions(model: str) -> list[str]:
    """Precisions to measure for ``model``: fp32, plus the reduced-precision variants the
    runtime knows (its ``PRECISIONS``) that this model ships (its card's ``variants``)."""
    import fluorodn.denoiser as fd

    known = list(getattr(fd, "PRECISIONS", ["fp32"]))
    try:
        from fluorodn.registry import model_variants

        shipped = set(model_variants(model))
    except (ImportError, ValueError):
        shipped = set()
    return ["fp32", *(p for p in known if p != "fp32" and p in shipped)]


class OpenVINOSession:
    """The ``run`` interface of an onnxruntime session, on OpenVINO's CPU plugin in bf16.

    Swapped into an fp32 :class:`fluorodn.Denoiser` so that normalization, tiling and
    stitching are exactly fluorodn's; only the network runs elsewhere.
    """

    def __init__(self, path: Path, threads: int):
        import openvino as ov

        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "bf16", "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                  "PERFORMANCE_HINT": "LATENCY"}  # fmt: skip
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.precision = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.request = self.compiled.create_infer_request()
        self.version = ov.__version__

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        (x,) = feeds.values()
        return [np.asarray(self.request.infer({0: np.ascontiguousarray(x)})[0])]


def engines(
    model: str, device: str, threads: int, candidates: Sequence[Path], notes: list[str]
) -> list[tuple[str, Any]]:
    """(precision label, Denoiser-like) pairs to measure for ``model`` on ``device``.

    fp32 and every shipped variant; on the CPU also each ``candidates`` file whose metadata
    names this model (a reduced-precision build the quality guard refused: "not shipped"),
    and bf16 on OpenVINO where ``openvino`` is installed.
    """
    from fluorodn import Denoiser, DeviceError, ModelError

    out: list[tuple[str, Any]] = []
    for precision in _precisions(model):
        try:
            out.append((precision, Denoiser(model, device=device, options=_options(threads, precision))))
        except (DeviceError, ModelError) as err:
            notes.append(f"{model} {precision} on {device} not measured: {err}")
    if device != "cpu" or not out or out[0][0] != "fp32":
        return out
    base = out[0][1]
    for path in candidates:
        try:
            den = Denoiser(path, device="cpu", options=_options(threads, "auto"))
        except (DeviceError, ModelError) as err:
            notes.append(f"candidate {path} not measured: {err}")
            continue
        if den.metadata.get("name") == base.metadata.get("name") and den.precision != "fp32":
            den.name = base.name
            out.append((f"{den.precision} (not shipped)", den))
    if importlib.util.find_spec("openvino") is None:
        note = (
            "bf16 not measured: OpenVINO is not installed (pip install openvino); onnxruntime's CPU "
            "provider has no bf16 arithmetic."
        )
        if note not in notes:
            notes.append(note)
    else:
        den = Denoiser(model, device="cpu", options=_options(threads, "fp32"))
        session = OpenVINOSession(Path(den.path), den.threads)
        den._session = session
        den.provider = f"OpenVINO {session.version} CPU ({session.precision})"
        out.append(("bf16 (OpenVINO)", den))
    return out


def _options(threads: int, precision: str) -> Any:
    """DenoiserOptions with ``threads`` and an explicit precision (never "auto")."""
    from fluorodn import DenoiserOptions

    names = {f.name for f in dataclasses.fields(DenoiserOptions)}
    kw: dict[str, Any] = {"threads": threads}
    if "precision" in names:
        kw["precision"] = precision
    return DenoiserOptions(**kw)


def _cli_command() -> list[str]:
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


# --------------------------------------------------------------------------- measurements


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
                    runners = {"fluorodn": lambda x=x, den=den: den.run(x)}
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
                        a, b = den.run(x), tnet(x)  # the same weights: outputs must agree
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
    cmd = _cli_command()
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


# --------------------------------------------------------------------------- reporting


def add_ratios(rows: list[dict[str, Any]], limit_gflops: dict[str, float | None]) -> None:
    """Limit and ratio columns; a reduced-precision row is compared with PyTorch in fp32."""
    fp32_torch = {(r["model"], r["device"], r["shape"]): r["torch_mpx_s"] for r in rows if r["precision"] == "fp32"}
    for row in rows:
        if row["precision"] != "fp32" and row["torch_mpx_s"] is None:
            row["torch_mpx_s"] = fp32_torch.get((row["model"], row["device"], row["shape"]))
        gf = limit_gflops.get(row["device"])
        row["limit_mpx_s"] = gf * 1e9 / row["flop_per_pixel"] / 1e6 if gf else None
        fd = row["fluorodn_mpx_s"]
        row["ratio_limit"] = fd / row["limit_mpx_s"] if fd and row["limit_mpx_s"] else None
        row["ratio_torch"] = fd / row["torch_mpx_s"] if fd and row["torch_mpx_s"] else None


CSV_FIELDS = [
    "model", "device", "provider", "precision", "shape", "mpx", "threads", "flop_per_pixel",
    "fluorodn_mpx_s", "torch_mpx_s", "limit_mpx_s", "ratio_limit", "ratio_torch", "runs", "torch_parity_rel",
]  # fmt: skip


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _cell(row: dict[str, Any], backend: str) -> str:
    return "skipped" if row.get(f"{backend}_skipped") else _fmt(row[f"{backend}_mpx_s"])


def write_results(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    with open(out / "speed.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for row in result["rows"]:
            w.writerow({**row, "runs": len(row["fluorodn_times_s"] or [])})
    (out / "speed.md").write_text(markdown(result), encoding="utf-8")


def markdown(result: dict[str, Any]) -> str:
    m, g = result["machine"], result["gemm"]
    lines = [
        "# Throughput",
        "",
        f"Generated by `python -m benchmarks speed{' --quick' if result['quick'] else ''}` "
        f"on {m['date']}; do not edit by hand.",
        "",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['physical_cores']} physical cores); "
        f"**{m['threads']} threads** for fluorodn (onnxruntime intra-op), PyTorch "
        f"(`torch.set_num_threads`) and BLAS. CPUs busy with other processes before / after the run: "
        f"{_fmt(m.get('busy_cpus_start'), 2)} / {_fmt(m.get('busy_cpus_end'), 2)}. "
        f"onnxruntime {m['onnxruntime']}, numpy {m['numpy']}, torch {result.get('torch_version') or '-'}.",
        "",
        "float32 GEMM (square matmul, n = "
        + ", ".join(sorted({str(v["n"]) for v in g.values()}))
        + "; median / best of the runs), measured before and after the models: "
        + "; ".join(f"{k} {v['gflops']:.1f} / {v['gflops_best']:.1f} GFLOP/s" for k, v in g.items())
        + ". The limit column divides the best GEMM rate per device by the model's FLOP per pixel: "
        "a ceiling, which load from other processes can only lower.",
        "",
        "| model | device | precision | shape | Mpx | fluorodn Mpx/s | PyTorch eager Mpx/s "
        "| limit Mpx/s | fluorodn / limit | fluorodn / PyTorch | runs |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['device']} | {r['precision']} | {r['shape']} | {_fmt(r['mpx'])} "
            f"| {_cell(r, 'fluorodn')} | {_cell(r, 'torch')} | {_fmt(r['limit_mpx_s'])} "
            f"| {_fmt(r['ratio_limit'], 2)} | {_fmt(r['ratio_torch'], 2)} "
            f"| {len(r['fluorodn_times_s'] or [])} |"
        )
    lines.append("")
    q = result.get("precision_quality") or []
    if q:
        lines += [
            f"Quality of each precision against fp32 (one {q[0]['minutes']:g}-min recording per model at its "
            "noise scale, TEST_STREAM seed 0; delta = fp32 minus this precision, so positive is a loss; the "
            "quality guard ships a variant only within 0.1 dB and 0.01):",
            "",
            "| model | precision | PSNR dB | PSNR delta dB | coherence 0-2.5 Hz | coherence delta | speed-up on it |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in q:
            lines.append(
                f"| {r['model']} | {r['precision']} | {r['psnr_db']:.2f} | {r['psnr_delta_db']:+.3f} "
                f"| {r['coherence']:.4f} | {r['coherence_delta']:+.4f} | {r['speedup']:.2f} |"
            )
        lines.append("")
    par = [r["torch_parity_rel"] for r in result["rows"] if r.get("torch_parity_rel") is not None]
    if par:
        lines.append(
            f"Same weights check: max |fluorodn - PyTorch| / max |correction| = {max(par):.1e} on the smallest shape."
        )
    for c in (result.get("cli"), result.get("cli_auto")):
        if not c:
            continue
        if c["ok"]:
            lines.append(
                f"End-to-end CLI ({c.get('precision', 'auto')}): `{c['command']}` on a {c['pages']}-page "
                f"{c['page_shape']} float32 TIFF "
                f"({c['mpx']:.2f} Mpx, {c['input_mib']:.1f} MiB): **{c['seconds']:.2f} s** wall "
                f"({c['mpx_s']:.3f} Mpx/s, start-up included"
                + (f"; {c['ratio_limit']:.0%} of the limit" if c.get("ratio_limit") else "")
                + f"), peak RSS **{c['peak_rss_mib']:.0f} MiB**. "
                f"`fluorodn --version` alone: {c['version_seconds']:.2f} s, "
                f"{c['version_peak_rss_mib']:.0f} MiB."
            )
        else:
            lines.append(f"End-to-end CLI failed: `{c['command']}`: {c.get('output_tail')}")
        lines.append("")
    lines += ["Notes:", ""]
    lines += [f"- {n}" for n in result["notes"]]
    lines += [f"- {s}" for s in summary_sentences(result)]
    return "\n".join(lines) + "\n"


def summary_sentences(result: dict[str, Any]) -> list[str]:
    """Plain statements computed from the rows (no number is typed in by hand)."""
    out = []
    every = [r for r in result["rows"] if r["device"] == "cpu"]
    rows = [r for r in every if r["precision"] == "fp32"]
    with_torch = [r for r in rows if r["ratio_torch"]]
    if with_torch:
        best = max(with_torch, key=lambda r: r["ratio_torch"])
        worst = min(with_torch, key=lambda r: r["ratio_torch"])
        out.append(
            f"On the CPU fluorodn runs at {worst['ratio_torch']:.2f}x to {best['ratio_torch']:.2f}x "
            f"the speed of PyTorch eager on the same weights (lowest on {worst['model']} "
            f"{worst['shape']}, highest on {best['model']} {best['shape']})."
        )
    with_lim = [r for r in rows if r["ratio_limit"]]
    if with_lim:
        out.append(
            "fluorodn reaches "
            + ", ".join(f"{r['ratio_limit']:.0%} ({r['model']} {r['shape']})" for r in with_lim)
            + " of the GEMM-derived limit in fp32."
        )
    fp32 = {(r["model"], r["shape"]): r["fluorodn_mpx_s"] for r in rows}
    by_precision: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for r in every:
        base = fp32.get((r["model"], r["shape"]))
        if r["precision"] != "fp32" and base and r["fluorodn_mpx_s"]:
            by_precision.setdefault((r["model"], r["precision"]), []).append((r["shape"], r["fluorodn_mpx_s"] / base))
    for (model, precision), ratios in by_precision.items():
        out.append(
            f"{model} {precision} runs at "
            + ", ".join(f"{x:.2f}x ({shape})" for shape, x in ratios)
            + " the speed of fp32 in the same run."
        )
    return out


# --------------------------------------------------------------------------- entry point


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
        runs = ["fp32"] + (["auto"] if len(_precisions(cli_model)) > 1 else [])
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
