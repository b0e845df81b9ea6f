"""DnCNN (Zhang et al. 2017): residual learning of the noise."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn


class DnCNN(nn.Module):
    """``depth`` 3x3 convolutions without biases; BN + ReLU in the middle layers.

    Input and output are (N, 1, H, W) float32; the output is the predicted noise, so
    the denoised image is ``x - model(x)``. The receptive field is
    ``(2 * depth + 1)`` squared, i.e. an output value depends on inputs within
    ``depth`` samples of it (``halo``).
    """

    def __init__(self, depth: int = 20, width: int = 64):
        super().__init__()
        if depth < 3:
            raise ValueError("DnCNN needs at least 3 layers")
        layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1, bias=False), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 1, 3, padding=1, bias=False))
        self.net = nn.Sequential(*layers)
        self.depth, self.width = depth, width
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        with torch.no_grad():
            # First-layer kernels start zero-sum (edge/noise detectors): the input is in noise
            # units, so the smooth signal can be ~1000x larger than the noise, and kernels that
            # pass it drown the noise in the batch statistics (a DnCNN-20/32 with plain init
            # learned nothing in 100 steps at noise scale 0.3: validation MSE 2.2066 against
            # 2.2058 for predicting zero).
            first = _conv(self.net[0]).weight
            first -= first.mean(dim=(2, 3), keepdim=True)
        nn.init.zeros_(_conv(self.net[-1]).weight)  # start as the identity denoiser (predicts 0)

    @property
    def halo(self) -> int:
        return self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _conv(m: nn.Module) -> nn.Conv1d | nn.Conv2d:
    assert isinstance(m, (nn.Conv1d, nn.Conv2d))
    return m


def run_1d(net: nn.Module, x: torch.Tensor, channels: int, shared: bool) -> torch.Tensor:
    """:class:`DnCNN1d`'s forward around its chain ``net``: (N, 2C, T) -> (N, C, T)."""
    levels = x[:, channels:]
    if not shared:
        return net(x) / levels
    n, _, t = x.shape
    pairs = torch.stack([x[:, :channels], levels], dim=2).reshape(-1, 2, t)  # (N * C, 2, T)
    return net(pairs).reshape(n, channels, t) / levels


class Rescaled(nn.Module):
    """A folded :class:`DnCNN1d`: its Conv/ReLU chain with :func:`run_1d` around it."""

    def __init__(self, net: nn.Module, channels: int, shared: bool):
        super().__init__()
        self.net, self.channels, self.shared = net, channels, shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_1d(self.net, x, self.channels, self.shared)


class Rows2d(nn.Module):
    """A 1D Conv/ReLU chain computed by 2D convolutions on one-row images: (N, C, T) -> (N, C', T).

    Each ``Conv1d`` becomes a ``Conv2d`` with a 1 x k kernel (same weights, padding and
    dilation along time), so the result equals the chain's. onnxruntime's CPU provider runs
    2D convolutions through its blocked-layout kernels, which 1D convolutions do not reach
    (``python -m benchmarks default-speed`` measures what this saves).
    """

    def __init__(self, chain: nn.Module):
        super().__init__()
        layers: list[nn.Module] = []
        for m in chain.children():
            if isinstance(m, nn.Conv1d):
                conv = nn.Conv2d(
                    m.in_channels,
                    m.out_channels,
                    (1, m.kernel_size[0]),
                    padding=(0, _int(m.padding)),
                    dilation=(1, m.dilation[0]),
                    bias=m.bias is not None,
                )
                conv.weight.data.copy_(m.weight.detach().unsqueeze(2))
                if m.bias is not None:
                    assert conv.bias is not None
                    conv.bias.data.copy_(m.bias.detach())
                layers.append(conv)
            else:
                layers.append(copy.deepcopy(m))
        self.net = nn.Sequential(*layers).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.unsqueeze(2)).squeeze(2)


def _int(padding: tuple[int, ...] | str) -> int:
    assert not isinstance(padding, str)
    return int(padding[0])


class SignSymmetric(nn.Module):
    """A 1D network made odd in the coefficient traces: ``(f(x) - f(x')) / 2``, where ``x'`` is
    ``x`` with every trace negated (levels unchanged).

    The noise is symmetric and a trace's sign is arbitrary (the projection fixes it by a
    convention), so the best denoiser is odd, ``f(-x) = -f(x)``; averaging a network with its
    mirror image enforces that, at twice the work (both run as one batch).
    """

    def __init__(self, net: nn.Module, channels: int):
        super().__init__()
        self.net, self.channels = net, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], self.channels
        flip = torch.cat([-torch.ones(c), torch.ones(x.shape[1] - c)]).to(x.dtype).view(1, -1, 1)
        out = self.net(torch.cat([x, x * flip], dim=0))
        return 0.5 * (out[:n] - out[n:])


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy with every BatchNorm folded into the preceding convolution (1D or 2D),
    computing what ``model`` computes."""
    out: list[nn.Module] = []
    mods = list(model.get_submodule("net").children())
    i = 0
    while i < len(mods):
        m = mods[i]
        if (
            isinstance(m, (nn.Conv1d, nn.Conv2d))
            and i + 1 < len(mods)
            and isinstance(mods[i + 1], (nn.BatchNorm1d, nn.BatchNorm2d))
        ):
            bn = mods[i + 1]
            assert isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d))
            assert bn.running_var is not None
            assert bn.running_mean is not None
            std = torch.sqrt(bn.running_var + bn.eps)
            shape = (-1,) + (1,) * (m.weight.dim() - 1)
            w = m.weight * (bn.weight / std).reshape(shape)
            b = bn.bias - bn.running_mean * bn.weight / std
            conv = copy.deepcopy(m)  # same kernel, padding and dilation
            conv.bias = nn.Parameter(torch.zeros(m.out_channels))
            conv.weight.data.copy_(w.detach())
            assert conv.bias is not None
            conv.bias.data.copy_(b.detach())
            out.append(conv)
            i += 2
        else:
            out.append(m)
            i += 1
    chain = nn.Sequential(*out).eval()
    if isinstance(model, DnCNN1d):
        return Rescaled(chain, model.channels, model.shared).eval()
    return chain


class DnCNN1d(nn.Module):
    """DnCNN over time on spectral coefficient traces.

    Input (N, 2C, T) float32: ``fluorodn.spectral.network_input``, i.e. C coefficient traces
    divided by their scale, then C constant traces holding ``1 / scale``. Output (N, C, T):
    the traces' predicted noise in the units of the undivided traces (the network's output
    times the scale); the denoised traces are ``coef - model(x)``. ``depth`` convolutions of
    kernel 3 without biases, BN + ReLU in the middle layers. ``dilations``: one per
    convolution (default all 1); an output sample depends on inputs within ``sum(dilations)``
    samples (``halo``), so dilations widen the context for the same work.

    ``shared``: one network denoises every trace on its own (input: the trace and its level,
    2 channels; the C traces of a recording are C batch items), instead of all C traces at
    once (2C input channels).
    """

    def __init__(
        self,
        channels: int = 16,
        depth: int = 17,
        width: int = 64,
        shared: bool = False,
        dilations: Sequence[int] | None = None,
    ):
        super().__init__()
        if depth < 3:
            raise ValueError("DnCNN needs at least 3 layers")
        dil = tuple(int(d) for d in dilations) if dilations else (1,) * depth
        if len(dil) != depth or min(dil) < 1:
            raise ValueError(f"need {depth} dilations of at least 1, got {dil}")
        c_in, c_out = (2, 1) if shared else (2 * channels, channels)

        def conv(a: int, b: int, d: int) -> nn.Conv1d:
            return nn.Conv1d(a, b, 3, padding=d, dilation=d, bias=False)

        layers: list[nn.Module] = [conv(c_in, width, dil[0]), nn.ReLU(inplace=True)]
        for d in dil[1:-1]:
            layers += [conv(width, width, d), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
        layers.append(conv(width, c_out, dil[-1]))
        self.net = nn.Sequential(*layers)
        self.channels, self.depth, self.width, self.shared, self.dilations = channels, depth, width, shared, dil
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.zeros_(_conv(self.net[-1]).weight)

    @property
    def halo(self) -> int:
        return sum(self.dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_1d(self.net, x, self.channels, self.shared)
