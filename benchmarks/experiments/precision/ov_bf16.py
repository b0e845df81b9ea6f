"""bf16 on this CPU: OpenVINO's CPU plugin (ONNX frontend, INFERENCE_PRECISION_HINT) vs
onnxruntime fp32 and int8, same process, same threads, interleaved; plus bf16 quality.

nice -n 19 /tmp/ovenv/bin/python scratch/prec/ov_bf16.py MODEL INT8.onnx THREADS
"""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
import openvino as ov

sys.path[:0] = [".", "train"]
from fluorodn.normalize import global_scale  # noqa: E402

model, int8, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
core = ov.Core()
print("openvino", ov.__version__, "| CPU:", core.get_property("CPU", "FULL_DEVICE_NAME"),
      "| capabilities:", core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"), flush=True)


def ov_runner(shape, prec):
    m = core.read_model(f"models/{model}.onnx")
    m.reshape({"input": [1, 1, *shape]})
    c = core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": prec, "INFERENCE_NUM_THREADS": threads,
                                      "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    got = c.get_property("INFERENCE_PRECISION_HINT")
    req = c.create_infer_request()
    return (lambda z: req.infer({0: z})[0]), str(got), c


def ort_runner(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return lambda z: s.run(None, {"input": z})[0]


res = {}
for shape in [(101, 152), (2048, 152), (512, 512)]:
    z = np.random.default_rng(0).standard_normal((1, 1, *shape)).astype(np.float32)
    runs = {"ort_fp32": ort_runner(f"models/{model}.onnx"), "ort_int8": ort_runner(int8)}
    for prec in ("f32", "bf16"):
        fn, got, comp = ov_runner(shape, prec)
        runs[f"ov_{prec}"] = fn
        if shape == (2048, 152):
            print(f"  ov {prec}: compiled precision {got}", flush=True)
            if prec == "bf16":  # which precision each layer actually ran in
                rt = comp.get_runtime_model()
                types = {}
                for op in rt.get_ordered_ops():
                    info = op.get_rt_info()
                    t = str(info["layerType"]) if "layerType" in info else op.get_type_name()
                    p = str(info["runtimePrecision"]) if "runtimePrecision" in info else "?"
                    types[f"{t}:{p}"] = types.get(f"{t}:{p}", 0) + 1
                print("  ov bf16 runtime layers:", types, flush=True)
    ref = runs["ort_fp32"](z)
    for fn in runs.values():
        fn(z)
    times = {n: [] for n in runs}
    for _ in range(20 if shape[0] == 101 else 3):
        for n, fn in runs.items():
            t = time.perf_counter()
            fn(z)
            times[n].append(time.perf_counter() - t)
    med = {n: statistics.median(v) for n, v in times.items()}
    err = {n: float(np.abs(fn(z) - ref).max()) for n, fn in runs.items()}
    res[f"{shape[0]}x{shape[1]}"] = {n: {"mpx_s": z.size / 1e6 / med[n], "speedup_vs_ort_fp32": med["ort_fp32"] / med[n],
                                        "max_abs_err": err[n]} for n in runs}
    print(shape, {n: f"{z.size / 1e6 / med[n]:.3f} Mpx/s ({med['ort_fp32'] / med[n]:.2f}x, err {err[n]:.1e})"
                  for n in runs}, flush=True)

# quality of bf16 (whole recording at once) vs onnxruntime fp32, with the quantize guard's analysis
from fluorodn_train.quantize import _quality  # noqa: E402

quality = _quality()
card = json.load(open(f"models/{model}.json"))
(rec,) = quality.make_recordings(1500, (card["noise_scale"],), robust=False, seed=0)
m, s = global_scale(rec.noisy)
zz = ((rec.noisy - m) / s).astype(np.float32)[None, None]
outs = {}
for name in ("ort_fp32", "ov_bf16"):
    fn = ort_runner(f"models/{model}.onnx") if name == "ort_fp32" else ov_runner(zz.shape[2:], "bf16")[0]
    outs[name] = rec.noisy - s * fn(zz)[0, 0].astype(np.float64)
a, _, _ = quality.analyse(rec, outs["ort_fp32"])
b, _, _ = quality.analyse(rec, outs["ov_bf16"])
res["quality_bf16"] = {"psnr_delta_db": a["psnr"] - b["psnr"],
                       "coherence_delta": a["coh_mean_0_2.5hz"] - b["coh_mean_0_2.5hz"]}
print("bf16 quality (fp32 - bf16):", res["quality_bf16"], flush=True)
json.dump(res, open(f"scratch/prec/ov_{model}_{threads}t.json", "w"), indent=1)
