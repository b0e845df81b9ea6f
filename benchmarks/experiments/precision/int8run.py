import numpy as np, onnxruntime as ort, sys
so = ort.SessionOptions(); so.intra_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).standard_normal((1, 1, 1024, 152)).astype(np.float32)
for _ in range(4): s.run(None, {"input": x})
