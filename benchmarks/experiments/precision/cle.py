"""Cross-layer equalization (exact in float: ReLU(a x) = a ReLU(x), a > 0) before int8."""
import json, sys, time, statistics
from pathlib import Path
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper, helper
sys.path[:0] = [".", "train"]
from fluorodn import Denoiser, DenoiserOptions
from fluorodn_train import quantize as q
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
model = sys.argv[1]
src = Path(f"models/{model}.onnx"); card = json.loads(src.with_suffix(".json").read_text())
m = onnx.load(str(src))
windows = q.calibration_windows(card["noise_scale"])
convs = [n for n in m.graph.node if n.op_type == "Conv"]
relus = [n.output[0] for n in m.graph.node if n.op_type == "Relu"]
mm = onnx.ModelProto(); mm.CopyFrom(m)
for r in relus: mm.graph.output.append(helper.make_tensor_value_info(r, onnx.TensorProto.FLOAT, None))
s = ort.InferenceSession(mm.SerializeToString(), providers=["CPUExecutionProvider"])
rmax = None
for i in range(0, len(windows), 8):
    o = s.run(relus, {"input": windows[i:i+8]})
    cur = [a.max(axis=(0, 2, 3)) for a in o]
    rmax = cur if rmax is None else [np.maximum(x, y) for x, y in zip(rmax, cur)]
quality = q._quality()
(rec,) = quality.make_recordings(600, (card["noise_scale"],), robust=False, seed=0)
def psnr(y): return float(quality.analysis.image_scores(rec.clean, y)["psnr"])
opts = DenoiserOptions(threads=1)
fref = Denoiser(src, device="cpu", options=opts)
yref = fref.run(rec.noisy); pref = psnr(yref)
x = (200 + 30*np.random.default_rng(0).standard_normal((2048,152))).astype(np.float32)
inits = {i.name: i for i in m.graph.initializer}
for alpha, keep, rr in [(0, 2, False), (0.5, 2, False), (1.0, 2, False), (1.0, 1, False), (0.75, 2, False)]:
    e = onnx.ModelProto(); e.CopyFrom(m)
    ei = {i.name: i for i in e.graph.initializer}
    for k in range(1, len(convs) - 1):  # conv k output (relu k) feeds conv k+1
        r = np.maximum(rmax[k], 1e-6)
        sc = (r / np.exp(np.mean(np.log(r)))) ** alpha
        a, b = convs[k], convs[k + 1]
        w = numpy_helper.to_array(ei[a.input[1]]) / sc[:, None, None, None]
        ei[a.input[1]].CopyFrom(numpy_helper.from_array(w.astype(np.float32), a.input[1]))
        if len(a.input) > 2:
            bb = numpy_helper.to_array(ei[a.input[2]]) / sc
            ei[a.input[2]].CopyFrom(numpy_helper.from_array(bb.astype(np.float32), a.input[2]))
        w2 = numpy_helper.to_array(ei[b.input[1]]) * sc[None, :, None, None]
        ei[b.input[1]].CopyFrom(numpy_helper.from_array(w2.astype(np.float32), b.input[1]))
    fp = Path(f"/tmp/cle_{alpha}.onnx"); onnx.save(e, str(fp))
    pf = psnr(Denoiser(fp, device="cpu", options=opts).run(rec.noisy))
    out = Path(f"scratch/prec/{model}.cle{alpha}_keep{keep}.onnx")
    class R(CalibrationDataReader):
        def __init__(s): s.it = iter([{"input": windows[i:i+8]} for i in range(0, len(windows), 8)])
        def get_next(s): return next(s.it, None)
    quantize_static(e, str(out), R(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=rr,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=[c.name for c in convs[:keep]],
        calibrate_method=CalibrationMethod.MinMax, extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    qm = onnx.load(str(out)); qm.metadata_props.extend(m.metadata_props); onnx.save(qm, str(out))
    d = Denoiser(out, device="cpu", options=opts)
    y = d.run(rec.noisy)
    d.run(x); fref.run(x); tq, tf = [], []
    for _ in range(2):
        t = time.perf_counter(); d.run(x); tq.append(time.perf_counter() - t)
        t = time.perf_counter(); fref.run(x); tf.append(time.perf_counter() - t)
    print(f"alpha {alpha} keep {keep} rr {rr}: float-equalized delta {pref - pf:+.4f}; int8 PSNR delta {pref - psnr(y):+.3f} dB, speedup {statistics.median(tf)/statistics.median(tq):.2f}x", flush=True)
