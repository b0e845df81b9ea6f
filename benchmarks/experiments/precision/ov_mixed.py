"""OpenVINO bf16 with the first K convolutions (and their ReLUs) kept in f32: quality + speed."""
import json, statistics, sys, time
import numpy as np, onnxruntime as ort, openvino as ov
sys.path[:0] = [".", "train"]
from fluorodn.normalize import global_scale
from fluorodn_train.quantize import _quality
model, threads = sys.argv[1], int(sys.argv[2]); keeps = [int(k) for k in sys.argv[3].split(",")]
core = ov.Core()
quality = _quality(); card = json.load(open(f"models/{model}.json"))
(rec,) = quality.make_recordings(1500, (card["noise_scale"],), robust=False, seed=0)
m, s = global_scale(rec.noisy)
zz = ((rec.noisy - m) / s).astype(np.float32)[None, None]
so = ort.SessionOptions(); so.intra_op_num_threads = threads
sess = ort.InferenceSession(f"models/{model}.onnx", so, providers=["CPUExecutionProvider"])
ref = rec.noisy - s * sess.run(None, {"input": zz})[0][0, 0].astype(np.float64)
a, _, _ = quality.analyse(rec, ref)
def compiled(shape, keep):
    mo = core.read_model(f"models/{model}.onnx"); mo.reshape({"input": [1, 1, *shape]})
    k = 0; marked = []
    for op in mo.get_ordered_ops():
        if op.get_type_name() == "Convolution":
            k += 1
        if 0 < k <= keep and op.get_type_name() in ("Convolution", "Add", "Relu"):
            op.get_rt_info()["disable_fp16_compression_0"] = ""; marked.append(op.get_friendly_name())
    c = core.compile_model(mo, "CPU", {"INFERENCE_PRECISION_HINT": "bf16", "INFERENCE_NUM_THREADS": threads,
                                        "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    prec = {}
    for op in c.get_runtime_model().get_ordered_ops():
        ri = op.get_rt_info()
        key = f"{ri['layerType'].astype(str)}:{ri['runtimePrecision'].astype(str)}"
        prec[key] = prec.get(key, 0) + 1
    r = c.create_infer_request()
    return (lambda z: r.infer({0: z})[0]), prec
x = np.random.default_rng(0).standard_normal((1, 1, 2048, 152)).astype(np.float32)
for keep in keeps:
    fn, prec = compiled(zz.shape[2:], keep)
    y = rec.noisy - s * fn(zz)[0, 0].astype(np.float64)
    b, _, _ = quality.analyse(rec, y)
    fx, _ = compiled(x.shape[2:], keep)
    fx(x); sess.run(None, {"input": x}); to, tf = [], []
    for _ in range(3):
        t = time.perf_counter(); fx(x); to.append(time.perf_counter() - t)
        t = time.perf_counter(); sess.run(None, {"input": x}); tf.append(time.perf_counter() - t)
    print(f"bf16, first {keep} convs f32: PSNR delta {a['psnr'] - b['psnr']:+.3f} dB, coherence delta "
          f"{a['coh_mean_0_2.5hz'] - b['coh_mean_0_2.5hz']:+.4f}, speed vs ORT fp32 on 2048x152 "
          f"{statistics.median(tf) / statistics.median(to):.2f}x; runtime layers {prec}", flush=True)
