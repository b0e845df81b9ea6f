"""DnCNN (Zhang et al. 2017): residual learning of the noise."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

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


def run_1d(net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, channels: int, shared: bool) -> torch.Tensor:
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


def deepen(model: DnCNN1d, source: DnCNN1d, x: torch.Tensor) -> None:
    """Load a shallower ``source`` into ``model`` so that ``model`` computes what ``source`` does.

    ``model`` is ``source`` with middle layers inserted (same width, input and sharing); its
    dilations are ``source``'s with the inserted layers' dilations among them, and the inserted
    layers are those whose position ``source`` has no layer for (``source``'s layers are matched in
    order, by dilation). Each inserted layer starts as the identity on the activations it receives:
    its convolution passes each channel through its centre tap, and its batch normalization is set
    to the mean and spread those activations have on ``x`` (an input batch), so that it undoes the
    normalization it applies on such batches; the ReLU after it passes the non-negative values it
    receives. This widens the context the network can learn from (a dilated layer sees samples
    ``dilation`` apart) without losing what ``source`` has learned.
    """
    if (model.width, model.shared, model.channels) != (source.width, source.shared, source.channels):
        raise ValueError("deepen needs the same width, sharing and traces as the source")
    src_dil, dst_dil = list(source.dilations), list(model.dilations)
    if dst_dil[0] != src_dil[0] or dst_dil[-1] != src_dil[-1]:
        raise ValueError("deepen keeps the source's first and last convolution")
    matched: list[int | None] = []  # for each middle layer of model: source middle layer or None
    j = 1
    for i in range(1, len(dst_dil) - 1):
        remaining_src = len(src_dil) - 1 - j
        remaining_dst = len(dst_dil) - 1 - i
        if j < len(src_dil) - 1 and dst_dil[i] == src_dil[j] and remaining_dst >= remaining_src:
            matched.append(j)
            j += 1
        else:
            matched.append(None)
    if j != len(src_dil) - 1:
        raise ValueError(f"dilations {dst_dil} do not contain the source's {src_dil} in order")

    def middle(net: nn.Sequential, k: int) -> tuple[nn.Conv1d, nn.BatchNorm1d]:
        conv, bn = net[2 + 3 * (k - 1)], net[3 + 3 * (k - 1)]
        assert isinstance(conv, nn.Conv1d)
        assert isinstance(bn, nn.BatchNorm1d)
        return conv, bn

    src_net, dst_net = source.net, model.net
    assert isinstance(src_net, nn.Sequential)
    assert isinstance(dst_net, nn.Sequential)
    # activations entering each source middle layer, on x (the source in eval mode)
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        middle(src_net, k)[0].register_forward_hook(lambda m, inp, out, k=k: seen.__setitem__(k, inp[0].detach()))
        for k in range(1, len(src_dil) - 1)
    ]
    was_training = source.training
    source.eval()
    with torch.no_grad():
        source(x)
    source.train(was_training)
    for h in hooks:
        h.remove()
    with torch.no_grad():
        _conv(dst_net[0]).weight.copy_(_conv(src_net[0]).weight)
        _conv(dst_net[-1]).weight.copy_(_conv(src_net[-1]).weight)
        nxt = 1  # the source layer the next inserted layer's input feeds
        for i, k in enumerate(matched, start=1):
            conv, bn = middle(dst_net, i)
            if k is not None:
                sconv, sbn = middle(src_net, k)
                conv.weight.copy_(sconv.weight)
                bn.load_state_dict(sbn.state_dict())
                nxt = k + 1
                continue
            if nxt not in seen:
                raise ValueError("deepen inserts layers only before one of the source's middle layers")
            act = seen[nxt]
            mean = act.mean(dim=(0, 2))
            var = act.var(dim=(0, 2), unbiased=False)
            conv.weight.zero_()
            conv.weight[:, :, 1] = torch.eye(model.width)
            assert bn.running_mean is not None
            assert bn.running_var is not None
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mean)
