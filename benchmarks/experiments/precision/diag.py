import json, sys
from pathlib import Path
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper, helper
sys.path[:0] = [".", "train"]
from fluorodn import Denoiser, DenoiserOptions
from fluorodn_train import quantize as q
model = sys.argv[1]
src = Path(f"models/{model}.onnx"); card = json.loads(src.with_suffix(".json").read_text())
m = onnx.load(str(src))
windows = q.calibration_windows(card["noise_scale"], 8)
relus = [n.output[0] for n in m.graph.node if n.op_type == "Relu"]
mm = onnx.ModelProto(); mm.CopyFrom(m)
for r in relus: mm.graph.output.append(helper.make_tensor_value_info(r, onnx.TensorProto.FLOAT, None))
s = ort.InferenceSession(mm.SerializeToString(), providers=["CPUExecutionProvider"])
outs = s.run(relus, {"input": windows})
for i, a in enumerate(outs):
    ch = a.max(axis=(0, 2, 3)); p999 = np.percentile(a, 99.9); med = np.median(a[a > 0]) if (a > 0).any() else 0
    print(f"relu {i:2d}: max {a.max():8.2f}  p99.9 {p999:7.2f}  median(>0) {med:6.3f}  channel max: min {ch.min():7.2f} median {np.median(ch):7.2f}  dead {int((ch == 0).sum())}")
# weights-only fake quant (int8 per output channel, symmetric)
quality = q._quality()
(rec,) = quality.make_recordings(600, (card["noise_scale"],), robust=False, seed=0)
def psnr(y): return float(quality.analysis.image_scores(rec.clean, y)["psnr"])
ref = psnr(Denoiser(src, device="cpu", options=DenoiserOptions(threads=1)).run(rec.noisy))
for bits in (8, 7):
    w = onnx.ModelProto(); w.CopyFrom(m)
    for init in w.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.ndim == 4:
            qmax = 2 ** (bits - 1) - 1
            sc = np.abs(a).max(axis=(1, 2, 3), keepdims=True) / qmax
            init.CopyFrom(numpy_helper.from_array((np.round(a / sc) * sc).astype(np.float32), init.name))
    p = Path(f"/tmp/wq{bits}.onnx"); onnx.save(w, str(p))
    print(f"weights-only {bits}-bit per-channel: PSNR delta {ref - psnr(Denoiser(p, device='cpu', options=DenoiserOptions(threads=1)).run(rec.noisy)):+.3f} dB")
