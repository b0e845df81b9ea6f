"""PyTorch eager on the same weights as an ONNX model, and the model's FLOP per pixel.

The ONNX initializers are loaded into an ``nn.Sequential`` of ``Conv2d`` + ``ReLU``
(``torch.inference_mode``), run on the whole image at once with the same normalization
around it as ``Denoiser.run``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["flop_per_pixel", "onnx_conv_layers", "torch_model", "torch_runner"]


def onnx_conv_layers(path: Path) -> list[dict[str, Any]]:
    """The chain of layers of a DnCNN-like ONNX graph: Conv (weights, bias, padding) and ReLU.

    Raises ValueError for anything that is not a plain chain of those (BatchNormalization
    is folded into the preceding Conv).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    layers: list[dict[str, Any]] = []
    current = model.graph.input[0].name
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
            continue
        if node.input[0] != current:
            raise ValueError(f"{path}: not a plain chain of layers at node {node.name or node.op_type}")
        if node.op_type == "Conv":
            w = consts[node.input[1]].astype(np.float32)
            b = consts[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else None
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if (
                attrs.get("group", 1) != 1
                or set(attrs.get("strides", [1, 1])) != {1}
                or set(attrs.get("dilations", [1, 1])) != {1}
                or len(set(pads)) != 1
                or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
            ):
                raise ValueError(f"{path}: unsupported Conv attributes {attrs}")
            layers.append({"op": "conv", "w": w, "b": b, "pad": int(pads[0])})
        elif node.op_type == "Relu":
            layers.append({"op": "relu"})
        elif node.op_type == "BatchNormalization":
            scale, bias, mean, var = (consts[n].astype(np.float64) for n in node.input[1:5])
            k = scale / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
            conv = layers[-1]
            conv["w"] = (conv["w"] * k[:, None, None, None]).astype(np.float32)
            b0 = conv["b"] if conv["b"] is not None else np.zeros(len(k))
            conv["b"] = ((b0 - mean) * k + bias).astype(np.float32)
        elif node.op_type == "Identity":
            pass
        else:
            raise ValueError(f"{path}: unsupported ONNX op {node.op_type}")
        current = node.output[0]
    return layers


def flop_per_pixel(metadata: dict[str, Any], path: Path) -> int:
    """The model's FLOP per output pixel: its metadata, else sum of 2*k*k*cin*cout over convs."""
    if isinstance(metadata.get("flop_per_pixel"), int) and metadata["flop_per_pixel"] > 0:
        return int(metadata["flop_per_pixel"])
    return int(sum(2 * int(np.prod(layer["w"].shape)) for layer in onnx_conv_layers(path) if layer["op"] == "conv"))


def torch_model(path: Path, torch: Any) -> Any:
    """``nn.Sequential`` of Conv2d + ReLU holding the ONNX file's weights, in eval mode."""
    nn = torch.nn
    mods = []
    for layer in onnx_conv_layers(path):
        if layer["op"] == "relu":
            mods.append(nn.ReLU(inplace=True))
            continue
        cout, cin, kh, _ = layer["w"].shape
        conv = nn.Conv2d(cin, cout, kh, padding=layer["pad"], bias=layer["b"] is not None)
        conv.weight.data.copy_(torch.from_numpy(layer["w"]))
        if layer["b"] is not None:
            conv.bias.data.copy_(torch.from_numpy(layer["b"]))
        mods.append(conv)
    return nn.Sequential(*mods).eval()


def torch_runner(net: Any, torch: Any, device: str) -> Callable[[np.ndarray], np.ndarray]:
    """The same pipeline as ``Denoiser.run``: global scale, normalize, net, denormalize."""
    from fluorodn.normalize import global_scale

    def run(x: np.ndarray) -> np.ndarray:
        m, s = global_scale(x)
        z = torch.from_numpy(((x - m) / s).astype(np.float32))[None, None].to(device)
        with torch.inference_mode():
            noise = net(z)[0, 0].cpu().numpy()
        return (x - s * noise.astype(np.float64)).astype(np.float32)

    return run
