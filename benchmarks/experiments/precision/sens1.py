"""Which layers need float: keep the first K convs float, quantize the rest; PSNR delta + speed."""
import json, sys, time, statistics
from pathlib import Path
import numpy as np
import onnx
sys.path[:0] = [".", "train"]
from fluorodn import Denoiser, DenoiserOptions
from fluorodn_train import quantize as q
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

model = sys.argv[1]; keeps = [int(k) for k in sys.argv[2].split(",")]
src = Path(f"models/{model}.onnx"); card = json.loads(src.with_suffix(".json").read_text())
windows = q.calibration_windows(card["noise_scale"])
m = onnx.load(str(src)); convs = q._conv_names(m)
cache = Path(f"scratch/prec/{model}.calib.json"); cache.unlink(missing_ok=True)
class R(CalibrationDataReader):
    def __init__(s): s.it = iter([{"input": windows[i:i+8]} for i in range(0, len(windows), 8)])
    def get_next(s): return next(s.it, None)
quality = q._quality()
(rec,) = quality.make_recordings(600, (card["noise_scale"],), robust=False, seed=0)
def psnr(y): return float(quality.analysis.image_scores(rec.clean, y)["psnr"])
opts = DenoiserOptions(threads=1)
ref = Denoiser(src, device="cpu", options=opts); yref = ref.run(rec.noisy).astype(np.float64); pref = psnr(yref)
x = (200 + 30*np.random.default_rng(0).standard_normal((2048,152))).astype(np.float32)
first = True
for k in keeps:
    out = Path(f"scratch/prec/{model}.keep{k}.onnx")
    mm = onnx.ModelProto(); mm.CopyFrom(m)
    quantize_static(mm, str(out), R(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=(convs[:k] if k >= 0 else [c for i, c in enumerate(convs) if i != -k - 1]),
        calibrate_method=CalibrationMethod.MinMax, calibration_cache_path=str(cache),
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    if first:
        rng = json.loads(cache.read_text()); first = False
        print(cache.read_text()[:6000], flush=True)
    qm = onnx.load(str(out)); qm.metadata_props.extend(m.metadata_props); onnx.save(qm, str(out))
    d = Denoiser(out, device="cpu", options=opts)
    y = d.run(rec.noisy).astype(np.float64)
    d.run(x); ref.run(x)
    tq, tf = [], []
    for _ in range(2):
        t = time.perf_counter(); d.run(x); tq.append(time.perf_counter() - t)
        t = time.perf_counter(); ref.run(x); tf.append(time.perf_counter() - t)
    print(f"k={k:3d} (negative: only conv {-k-1} int8): PSNR delta {pref - psnr(y):+.3f} dB, max|diff|/s-ish {np.abs(y-yref).max():.3g}, speedup 2048x152 {statistics.median(tf)/statistics.median(tq):.2f}x", flush=True)
