"""Which kernels run for each precision on this CPU (issue 5's "say which kernels actually run").

python benchmarks/experiments/precision/kernels.py models/low.onnx models/low.int8.onnx [THREADS] > kernels.md

* onnxruntime fp32 and int8: the optimized graph's node types and onnxruntime's per-node
  profile (time share per operator type) on one 1024 x 152 window;
* OpenVINO bf16 (if installed): the CPU plugin's executed graph, per convolution its
  primitive (implementation) and runtime precision.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort


def ort_profile(path: str, threads: int, x: np.ndarray) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "prof")
        so.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        for _ in range(3):
            sess.run(None, {"input": x})
        events = json.loads(Path(sess.end_profiling()).read_text())
        graph = collections.Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    time_by: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            time_by[e["args"].get("op_name", "?")] += e["dur"]
    total = sum(time_by.values()) or 1
    lines = [f"### onnxruntime {ort.__version__}: `{Path(path).name}`", "",
             "Optimized graph: " + ", ".join(f"{k} x{v}" for k, v in sorted(graph.items())), "",
             "| operator | share of kernel time |", "|---|---:|"]
    lines += [f"| {op} | {t / total:.1%} |" for op, t in time_by.most_common()]
    return [*lines, ""]


def openvino_kernels(path: str, threads: int, x: np.ndarray) -> list[str]:
    try:
        import openvino as ov
    except ImportError:
        return ["### OpenVINO: not installed (pip install openvino)", ""]
    core = ov.Core()
    compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "bf16",
                                                               "INFERENCE_NUM_THREADS": threads})
    compiled.create_infer_request().infer({0: x})
    kinds: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer, prim, prec = (info[k].astype(str) for k in ("layerType", "primitiveType", "runtimePrecision"))
        if layer.lower().startswith("convolution"):
            kinds[(layer, prim, prec)] += 1
    lines = [f"### OpenVINO {ov.__version__} CPU plugin, INFERENCE_PRECISION_HINT bf16: `{Path(path).name}`", "",
             "| layer | primitive | runtime precision | count |", "|---|---|---|---:|"]
    lines += [f"| {a} | {b} | {c} | {n} |" for (a, b, c), n in sorted(kinds.items())]
    return [*lines, ""]


def main() -> None:
    fp32, int8 = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    x = np.random.default_rng(0).standard_normal((1, 1, 1024, 152)).astype(np.float32)
    flags = sorted({f for line in open("/proc/cpuinfo") if line.startswith("flags") for f in line.split()
                    if f.startswith(("avx512", "amx", "avx_vnni"))})
    out = ["# Kernels per precision", "", f"CPU flags: {' '.join(flags)}; {threads} threads.", ""]
    out += ort_profile(fp32, threads, x)
    out += ort_profile(int8, threads, x)
    out += openvino_kernels(fp32, threads, x)
    print("\n".join(out))


if __name__ == "__main__":
    main()
