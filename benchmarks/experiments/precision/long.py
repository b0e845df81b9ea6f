import sys, time, numpy as np
sys.path[:0] = ["."]
from fluorodn import Denoiser, DenoiserOptions
from fluorodn.normalize import global_scale
from benchmarks.speed import synthetic_input
d = Denoiser("models/high.onnx", device="cpu", options=DenoiserOptions(threads=2))
x = synthetic_input((44156, 152))
t = time.perf_counter(); global_scale(x); print(f"global_scale {time.perf_counter()-t:.2f} s", flush=True)
d.run(x[:2048])
done = [0]; t0 = time.perf_counter(); last = [t0]
def prog(n):
    done[0] += n; now = time.perf_counter()
    print(f"  +{n} px in {now-last[0]:.2f} s ({n/1e6/(now-last[0]):.3f} Mpx/s)", flush=True); last[0] = now
d.run(x, progress=prog)
dt = time.perf_counter() - t0
print(f"44156x152: {x.size/1e6/dt:.3f} Mpx/s, {dt:.1f} s", flush=True)
