import sys, time, numpy as np, onnxruntime as ort
sys.path[:0]=['.','train']
from fluorodn_train.data import Sampler, VAL_STREAM
s=Sampler(12345, VAL_STREAM, (101,152), (0.7,0.9))
t=time.time(); x,_=s.batch(16); print('gen',time.time()-t)
print(x.shape, np.percentile(x,[0,0.1,1,50,99,99.9,100]))
np.save('scratch/prec/calib_high.npy', x)
from onnxruntime.quantization import quantize_static, QuantFormat, QuantType, CalibrationDataReader, CalibrationMethod
class R(CalibrationDataReader):
    def __init__(s_, x): s_.it=iter([{'input': x[i:i+4]} for i in range(0,len(x),4)])
    def get_next(s_): return next(s_.it, None)
for fmt in (QuantFormat.QDQ, QuantFormat.QOperator):
    t=time.time()
    quantize_static('models/high.onnx', f'scratch/prec/high.{fmt.name}.onnx', R(x), quant_format=fmt, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    print(fmt, time.time()-t)
