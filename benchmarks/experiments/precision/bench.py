"""Issue 5 experiments: int8 variants (format, activation type, float layers) vs fp32.

nice -n 19 python scratch/prec/bench.py MODEL THREADS [rounds]
Writes scratch/prec/bench_<model>_<threads>t.json. Speed: Denoiser.run (tiling included),
variants interleaved round by round; quality: the quantize guard (1 x 5 min).
"""
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [".", "train"]
from fluorodn import Denoiser, DenoiserOptions  # noqa: E402
from fluorodn_train import quantize as q  # noqa: E402

model = sys.argv[1]
threads = int(sys.argv[2])
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
src = Path(f"models/{model}.onnx")
card = json.loads(src.with_suffix(".json").read_text())
out = Path("scratch/prec")
variants = {
    "qdq_u8s8": dict(quant_format="QDQ"),
    "qop_u8s8": dict(quant_format="QOperator"),
    "qdq_u8s8_firstlast_float": dict(quant_format="QDQ", float_layers=("first", "last")),
}
t0 = time.perf_counter()
windows = q.calibration_windows(card["noise_scale"])
print(f"calibration windows {windows.shape} in {time.perf_counter() - t0:.1f} s; range "
      f"{np.percentile(windows, [0, 0.01, 50, 99.99, 100]).round(2)}", flush=True)
paths = {"fp32": src}
for name, kw in variants.items():
    p = out / f"{model}.{name}.onnx"
    t0 = time.perf_counter()
    q.quantize_int8(src, p, windows, **kw)
    paths[name] = p
    print(f"{name}: built in {time.perf_counter() - t0:.1f} s", flush=True)

res = {"model": model, "threads": threads, "quality": {}, "speed": {}}
for name, p in paths.items():
    if name == "fp32":
        continue
    try:
        g = q.guard(src, p, card["noise_scale"], seeds=(0,), minutes=5.0, threads=threads)
        res["quality"][name] = {k: g[k] for k in ("psnr_delta_db", "coherence_delta")} | {"ok": True}
    except q.QualityGuardError as err:
        res["quality"][name] = {"ok": False, "error": str(err)}
    print(name, res["quality"][name], flush=True)

dens = {n: Denoiser(p, device="cpu", options=DenoiserOptions(threads=threads)) for n, p in paths.items()}
rng = np.random.default_rng(0)
for shape in [(101, 152), (2048, 152), (512, 512)]:
    x = (200 + 30 * rng.standard_normal(shape)).astype(np.float32)
    times = {n: [] for n in dens}
    for d in dens.values():
        d.run(x)
    for _ in range(rounds if shape[0] > 101 else rounds * 10):
        for n, d in dens.items():
            t = time.perf_counter()
            d.run(x)
            times[n].append(time.perf_counter() - t)
    med = {n: statistics.median(v) for n, v in times.items()}
    res["speed"][f"{shape[0]}x{shape[1]}"] = {
        n: {"s": med[n], "mpx_s": x.size / 1e6 / med[n], "speedup": med["fp32"] / med[n]} for n in med
    }
    print(shape, {n: f"{x.size / 1e6 / med[n]:.3f} Mpx/s ({med['fp32'] / med[n]:.2f}x)" for n in med}, flush=True)
(out / f"bench_{model}_{threads}t.json").write_text(json.dumps(res, indent=1))
