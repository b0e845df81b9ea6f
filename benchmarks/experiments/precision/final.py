"""Issue 5, same-run table at THREADS threads: onnxruntime fp32 / int8 vs OpenVINO bf16 variants,
and fluorodn fp32 on 44156x152 vs the float32 GEMM limit.

nice -n 19 /tmp/ovenv/bin/python scratch/prec/final.py MODEL INT8.onnx THREADS
"""
import json
import statistics
import sys
import time

import numpy as np
import onnx  # noqa: F401
import onnxruntime as ort
import openvino as ov
from onnx.utils import extract_model

sys.path[:0] = [".", "train"]
import torch  # noqa: E402

from benchmarks.speed import gemm_numpy, gemm_torch, synthetic_input  # noqa: E402
from fluorodn import Denoiser, DenoiserOptions  # noqa: E402

model, int8, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
path = f"models/{model}.onnx"
card = json.load(open(f"models/{model}.json"))
core = ov.Core()
torch.set_num_threads(threads)
res = {"threads": threads, "model": model}

# 1. the float32 limit and fluorodn fp32 on a 2.5 h recording
g_np = gemm_numpy(4096, 3, threads)
g_t = gemm_torch(4096, 3, torch, "cpu")
limit_gflops = max(g_np["gflops"], g_t["gflops"])
limit_mpx = limit_gflops * 1e9 / card["flop_per_pixel"] / 1e6
den = Denoiser(path, device="cpu", options=DenoiserOptions(threads=threads))
x = synthetic_input((44156, 152))
den.run(x[:2048])
ts = []
for _ in range(2):
    t = time.perf_counter()
    den.run(x)
    ts.append(time.perf_counter() - t)
mpx = x.size / 1e6 / statistics.median(ts)
res["fp32_44156x152"] = {"gemm_numpy_gflops": g_np["gflops"], "gemm_torch_gflops": g_t["gflops"],
                         "limit_mpx_s": limit_mpx, "fluorodn_mpx_s": mpx, "ratio": mpx / limit_mpx,
                         "seconds": statistics.median(ts), "threads": den.threads,
                         "flop_per_pixel": card["flop_per_pixel"]}
print(f"GEMM numpy {g_np['gflops']:.1f}, torch {g_t['gflops']:.1f} GFLOP/s -> limit {limit_mpx:.3f} Mpx/s; "
      f"fluorodn fp32 44156x152: {mpx:.3f} Mpx/s ({statistics.median(ts):.1f} s) = {mpx / limit_mpx:.0%} of the limit",
      flush=True)

# 2. same-run precisions on the speed benchmark's shapes (whole image per call)
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
s32 = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
s8 = ort.InferenceSession(int8, so, providers=["CPUExecutionProvider"])
relus = [n.output[0] for n in onnx.load(path).graph.node if n.op_type == "Relu"]
cfg = {"INFERENCE_PRECISION_HINT": "bf16", "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
       "NUM_STREAMS": 1}


def ov_full(shape):
    m = core.read_model(path)
    m.reshape({"input": [1, 1, *shape]})
    r = core.compile_model(m, "CPU", cfg).create_infer_request()
    return lambda z: r.infer({0: z})[0]


def ov_tail(shape, keep):
    cut = relus[keep - 1]
    extract_model(path, f"/tmp/head{keep}.onnx", ["input"], [cut])
    extract_model(path, f"/tmp/tail{keep}.onnx", [cut], ["noise"])
    head = ort.InferenceSession(f"/tmp/head{keep}.onnx", so, providers=["CPUExecutionProvider"])
    m = core.read_model(f"/tmp/tail{keep}.onnx")
    m.reshape({cut: [1, 32, *shape]})
    r = core.compile_model(m, "CPU", cfg).create_infer_request()
    return lambda z: r.infer({0: head.run(None, {"input": z})[0]})[0]


res["shapes"] = {}
for shape in [(101, 152), (2048, 152), (512, 512)]:
    z = np.random.default_rng(0).standard_normal((1, 1, *shape)).astype(np.float32) * 3
    runs = {"ort_fp32": lambda z: s32.run(None, {"input": z})[0],
            "ort_int8 (refused)": lambda z: s8.run(None, {"input": z})[0],
            "ov_bf16": ov_full(shape), "ov_bf16_tail1": ov_tail(shape, 1), "ov_bf16_tail2": ov_tail(shape, 2)}
    for fn in runs.values():
        fn(z)
    times = {n: [] for n in runs}
    for _ in range(15 if shape[0] == 101 else 3):
        for n, fn in runs.items():
            t = time.perf_counter()
            fn(z)
            times[n].append(time.perf_counter() - t)
    med = {n: statistics.median(v) for n, v in times.items()}
    res["shapes"][f"{shape[0]}x{shape[1]}"] = {n: {"mpx_s": z.size / 1e6 / med[n],
                                                   "speedup": med["ort_fp32"] / med[n]} for n in runs}
    print(f"{shape[0]}x{shape[1]}: " + ", ".join(f"{n} {z.size / 1e6 / med[n]:.3f} Mpx/s ({med['ort_fp32'] / med[n]:.2f}x)"
                                                 for n in runs), flush=True)
json.dump(res, open(f"scratch/prec/final_{model}_{threads}t.json", "w"), indent=1)
