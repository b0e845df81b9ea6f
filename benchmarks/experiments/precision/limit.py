import sys, time, statistics, json
sys.path[:0] = ["."]
import torch
from benchmarks.speed import gemm_numpy, gemm_torch, synthetic_input
from fluorodn import Denoiser
torch.set_num_threads(2)
d = Denoiser("models/high.onnx", device="cpu")  # defaults: threads, session options
print("default threads", d.threads, "provider", d.provider, "tile_pixels", d.tile_pixels, flush=True)
x = synthetic_input((44156, 152)); d.run(x[:2048])
for rnd in range(2):
    g1 = gemm_numpy(4096, 3, 2)["gflops"]; g2 = gemm_torch(4096, 3, torch, "cpu")["gflops"]
    t = time.perf_counter(); d.run(x); dt = time.perf_counter() - t
    lim = max(g1, g2) * 1e9 / d.metadata["flop_per_pixel"] / 1e6
    print(f"round {rnd}: GEMM numpy {g1:.1f} torch {g2:.1f} GFLOP/s -> limit {lim:.3f} Mpx/s; fluorodn fp32 44156x152 "
          f"{x.size/1e6/dt:.3f} Mpx/s ({dt:.1f} s) = {x.size/1e6/dt/lim:.0%}", flush=True)
