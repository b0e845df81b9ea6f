"""bf16 tail + f32 head: the first K conv+relu in f32 (onnxruntime), the rest in OpenVINO bf16."""
import json, statistics, sys, time
import numpy as np, onnx, onnxruntime as ort, openvino as ov
from onnx.utils import extract_model
sys.path[:0] = [".", "train"]
from fluorodn.normalize import global_scale
from fluorodn_train.quantize import _quality
model, threads = sys.argv[1], int(sys.argv[2]); keeps = [int(k) for k in sys.argv[3].split(",")]
core = ov.Core(); quality = _quality(); card = json.load(open(f"models/{model}.json"))
(rec,) = quality.make_recordings(1500, (card["noise_scale"],), robust=False, seed=0)
m, s = global_scale(rec.noisy); zz = ((rec.noisy - m) / s).astype(np.float32)[None, None]
so = ort.SessionOptions(); so.intra_op_num_threads = threads
sess = ort.InferenceSession(f"models/{model}.onnx", so, providers=["CPUExecutionProvider"])
ref = rec.noisy - s * sess.run(None, {"input": zz})[0][0, 0].astype(np.float64)
a, _, _ = quality.analyse(rec, ref)
g = onnx.load(f"models/{model}.onnx")
relus = [n.output[0] for n in g.graph.node if n.op_type == "Relu"]
x = np.random.default_rng(0).standard_normal((1, 1, 2048, 152)).astype(np.float32)
for keep in keeps:
    cut = relus[keep - 1]
    extract_model(f"models/{model}.onnx", "/tmp/head.onnx", ["input"], [cut])
    extract_model(f"models/{model}.onnx", "/tmp/tail.onnx", [cut], ["noise"])
    head = ort.InferenceSession("/tmp/head.onnx", so, providers=["CPUExecutionProvider"])
    def runner(shape):
        t = core.read_model("/tmp/tail.onnx"); t.reshape({cut: [1, 32, *shape]})
        c = core.compile_model(t, "CPU", {"INFERENCE_PRECISION_HINT": "bf16", "INFERENCE_NUM_THREADS": threads,
                                          "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
        r = c.create_infer_request()
        return lambda z: r.infer({0: head.run(None, {"input": z})[0]})[0]
    fn = runner(zz.shape[2:])
    y = rec.noisy - s * fn(zz)[0, 0].astype(np.float64)
    b, _, _ = quality.analyse(rec, y)
    fx = runner(x.shape[2:]); fx(x); to, tf = [], []
    for _ in range(3):
        t = time.perf_counter(); fx(x); to.append(time.perf_counter() - t)
        t = time.perf_counter(); sess.run(None, {"input": x}); tf.append(time.perf_counter() - t)
    print(f"first {keep} conv+relu f32 (ORT), rest bf16 (OV): PSNR delta {a['psnr'] - b['psnr']:+.3f} dB, coherence "
          f"delta {a['coh_mean_0_2.5hz'] - b['coh_mean_0_2.5hz']:+.4f}, speed vs ORT fp32 2048x152 "
          f"{statistics.median(tf) / statistics.median(to):.2f}x", flush=True)
