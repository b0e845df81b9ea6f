"""Which kernels run: onnxruntime's per-node profile of fp32 and int8 on one 2048x152 input.

nice -n 19 python scratch/prec/profile.py FP32.onnx INT8.onnx THREADS
"""
import collections
import json
import sys

import numpy as np
import onnxruntime as ort

threads = int(sys.argv[3])
x = np.random.default_rng(0).standard_normal((1, 1, 2048, 152)).astype(np.float32)
for path in sys.argv[1:3]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_profiling = True
    so.profile_file_prefix = f"/tmp/prof_{path.split('/')[-1]}"
    so.optimized_model_filepath = f"/tmp/opt_{path.split('/')[-1]}"
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(3):
        s.run(None, {"input": x})
    prof = s.end_profiling()
    ev = json.load(open(prof))
    by = collections.defaultdict(float)
    n_by = collections.Counter()
    prov = collections.Counter()
    total = 0.0
    for e in ev:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e["args"].get("op_name")
            by[op] += e["dur"]
            n_by[op] += 1
            prov[e["args"].get("provider")] += 1
            total += e["dur"]
    import onnx

    opt = onnx.load(so.optimized_model_filepath)
    ops = collections.Counter(n.op_type for n in opt.graph.node)
    print(f"== {path}: providers {s.get_providers()}; optimized graph ops {dict(ops)}")
    print(f"   kernel providers {dict(prov)}")
    for op, d in sorted(by.items(), key=lambda kv: -kv[1]):
        print(f"   {op:24s} {d / 3e3:9.1f} ms/run  {100 * d / total:5.1f}%  ({n_by[op] // 3} nodes)")
