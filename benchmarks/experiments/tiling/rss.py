"""Peak RSS of Denoiser.run on one image for a CPU tile budget of 2**B pixels.

python benchmarks/experiments/tiling/rss.py B HxW   (one process per budget: ru_maxrss is per process)
"""
import sys, resource, time, numpy as np
from fluorodn import Denoiser, DenoiserOptions
b=int(sys.argv[1]); shape=tuple(map(int, sys.argv[2].split("x")))
x=np.random.default_rng(0).normal(size=shape).astype(np.float32)*3+100
d=Denoiser("high", device="cpu", options=DenoiserOptions(threads=1, tile_pixels=1<<b, precision="fp32"))
r0=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024
t=time.time(); d.run(x); dt=time.time()-t
print(b, shape, d.plan(shape).window, len(d.plan(shape)), f"{dt:.1f}s", f"rss before {r0:.0f} MiB peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f} MiB")
