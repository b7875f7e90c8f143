"""Networks: MLPs for vector data and small convolutional nets for images, stacked
over K independent members.

Every network here carries a leading member axis: a stack of K models of the same
shape is one module whose weights are (K, ...) tensors, applied with batched matmuls
to inputs of shape (K, B, features). K = 1 is an ordinary single model. Each member is
initialised from its own generator, drawing in the order a lone model would, so a
member's weights do not depend on which others share its stack.

A stacked convolution runs each member through its own one-member kernel, chosen by the
layer's shape alone (never by K), so a member's result is bit for bit the same at every
K, like the linear layers (tested). On the CPU (``bench/conv_layers.py``, batch 64,
forward + backward, 1 and 2 threads, ``bench/results/conv_layers.txt``):

* a layer with at least 2 channels on both sides calls oneDNN's ``F.conv2d`` /
  ``F.conv_transpose2d`` once per member: 2-3x faster than im2col and a batched matmul
  on the MNIST trunk's 32 -> 64 and 64 -> 32 layers, 1.5-3x on 3-channel images;
* a layer with one channel on a side (a grayscale image in or out) keeps im2col
  (``unfold``, :func:`baddbmm`, ``fold``): oneDNN is 0.2-0.8x as fast there.

Not used: one grouped convolution over the K members' channels, which is no faster than
the per-member calls on the CPU and gives a member results that differ with K (at K = 2
and 4 its outputs and gradients differ from K = 8), and ``torch.func.vmap``, which turns
into the same grouped call; channels-last tensors, faster for one layer shape only. On
CUDA every layer keeps the im2col form (one launch for the stack; not measured here).
oneDNN and im2col agree to float rounding (tested), which is enough to send a seed down
another trajectory. Measured on ``studies/table1-conv`` (every model, digits, 3 seeds,
re-run with these kernels against the im2col run): per seed the FID moved by 8-34, the
mean over seeds by at most 6.3, within one seed sd for every model; MaskAAE's active
counts went from 7 6 7 to 7 7 7 (``studies/README.md``). No ordering there changed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from latentdim.config import CONV_CHANNELS, ModelConfig


def bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a_k @ b_k for a (K, n, q), b (K, q, p): ``torch.bmm``, except where q or p is 1.

    There CPU bmm takes a matrix-vector path for K = 1 whose last bits differ from
    K > 1 (a critic's output layer; m = 1, and the backward pass of both), so a
    member's result would depend on its stack; a broadcast product and a sum do not.
    """
    if b.shape[2] == 1:
        return (a * b.transpose(1, 2)).sum(dim=2, keepdim=True)
    if a.shape[2] == 1:
        return a * b
    return torch.bmm(a, b)


def baddbmm(input: torch.Tensor, a: torch.Tensor, b: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """input + alpha a_k @ b_k: ``torch.baddbmm``, with :func:`bmm`'s rule for a
    dimension of 1."""
    if 1 in (a.shape[2], b.shape[2]):
        return input + (bmm(a, b) if alpha == 1.0 else alpha * bmm(a, b))
    return torch.baddbmm(input, a, b, alpha=alpha)


class Stacked(nn.Module):
    """A layer of K members whose weights are initialised as PyTorch's own layer of
    one member would be (see :func:`reset_parameters`)."""

    def torch_shape(self) -> tuple[int, ...]:
        """The weight shape of the equivalent ``torch.nn`` layer of one member."""
        raise NotImplementedError

    def set_member(self, k: int, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Store member k's weight and bias, given in the ``torch.nn`` layer's layout."""
        raise NotImplementedError


class StackedLinear(Stacked):
    """K independent affine maps: y_k = x_k A_k + b_k for x of shape (K, B, in).

    ``weight`` A is (K, in, out), member k's the transpose of an ``nn.Linear`` weight
    (that layout needs no transposed copy in the forward pass: ~15 % faster at K = 16),
    and ``bias`` (K, out). One ``baddbmm`` applies all K; on CPU a member's result is
    bit for bit the same whatever K is (checked by the stacking tests).
    """

    def __init__(self, stack: int, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(stack, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(stack, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return baddbmm(self.bias.unsqueeze(1), x, self.weight)

    def torch_shape(self) -> tuple[int, ...]:
        return (self.out_features, self.in_features)

    def set_member(self, k: int, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.weight[k].copy_(weight.T)
        self.bias[k].copy_(bias)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # run directories written before stacking hold nn.Linear weights (out, in)
        weight, bias = state_dict.get(prefix + "weight"), state_dict.get(prefix + "bias")
        if weight is not None and weight.ndim == 2:
            state_dict[prefix + "weight"] = weight.T.unsqueeze(0)
        if bias is not None and bias.ndim == 1:
            state_dict[prefix + "bias"] = bias.unsqueeze(0)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"stack={self.weight.shape[0]}, in_features={self.in_features}, out_features={self.out_features}"
        )


KERNEL, STRIDE, PADDING = 4, 2, 1  # every convolution: 4 x 4, stride 2, padding 1 (DCGAN's)


def _im2col(layer: StackedConv2d | StackedConvTranspose2d, x: torch.Tensor) -> bool:
    """Whether ``layer`` runs as im2col and a batched matmul (a side of one channel, or
    CUDA) rather than one oneDNN call per member (see the module docstring)."""
    return x.is_cuda or min(layer.in_channels, layer.out_channels) == 1


def _per_member(conv: Callable[..., torch.Tensor], x: torch.Tensor, weight, bias, *options) -> torch.Tensor:
    """``conv`` applied to each member's images, weight and bias, stacked back to (K, ...)."""
    outputs = [
        conv(xk, wk, bk, *options)
        for xk, wk, bk in zip(x.unbind(0), weight.unbind(0), bias.unbind(0), strict=True)
    ]
    return outputs[0].unsqueeze(0) if len(outputs) == 1 else torch.stack(outputs)


class StackedConv2d(Stacked):
    """K independent 4 x 4, stride-2 convolutions on images x (K, B, C, H, W), giving
    (K, B, out, H // 2, W // 2). ``weight`` is (K, C * 16, out): member k's
    ``nn.Conv2d`` weight (out, C, 4, 4), flattened and transposed for the matmul."""

    def __init__(self, stack: int, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.weight = nn.Parameter(torch.empty(stack, in_channels * KERNEL**2, out_channels))
        self.bias = nn.Parameter(torch.empty(stack, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _im2col(self, x):
            weight = self.weight.transpose(1, 2).reshape(-1, *self.torch_shape())
            return _per_member(F.conv2d, x, weight, self.bias, STRIDE, PADDING)
        k, b, c, h, w = x.shape
        cols = F.unfold(x.reshape(k * b, c, h, w), KERNEL, padding=PADDING, stride=STRIDE)
        blocks = cols.shape[-1]
        cols = cols.reshape(k, b, -1, blocks).transpose(2, 3).reshape(k, b * blocks, -1)
        y = baddbmm(self.bias.unsqueeze(1), cols, self.weight)
        return y.reshape(k, b, h // STRIDE, w // STRIDE, -1).permute(0, 1, 4, 2, 3)

    def torch_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.in_channels, KERNEL, KERNEL)

    def set_member(self, k: int, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.weight[k].copy_(weight.reshape(self.out_channels, -1).T)
        self.bias[k].copy_(bias)

    def extra_repr(self) -> str:
        return f"stack={self.weight.shape[0]}, {self.in_channels}, {self.out_channels}, kernel={KERNEL}"


class StackedConvTranspose2d(Stacked):
    """K independent 4 x 4, stride-2 transposed convolutions: (K, B, C, H, W) to
    (K, B, out, *size), ``size`` 2H or 2H + 1 per side (the shape the matching
    :class:`StackedConv2d` took in). The adjoint of the convolution: a matmul with
    ``weight`` (K, C, out * 16), member k's ``nn.ConvTranspose2d`` weight
    (C, out, 4, 4) flattened, then ``fold``."""

    def __init__(self, stack: int, in_channels: int, out_channels: int, size: tuple[int, int]):
        super().__init__()
        self.in_channels, self.out_channels, self.size = in_channels, out_channels, tuple(size)
        self.weight = nn.Parameter(torch.empty(stack, in_channels, out_channels * KERNEL**2))
        self.bias = nn.Parameter(torch.empty(stack, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _im2col(self, x):
            weight = self.weight.reshape(-1, *self.torch_shape())
            padding = self.size[0] - STRIDE * x.shape[3], self.size[1] - STRIDE * x.shape[4]
            return _per_member(F.conv_transpose2d, x, weight, self.bias, STRIDE, PADDING, padding)
        k, b, c, h, w = x.shape
        cols = bmm(x.permute(0, 1, 3, 4, 2).reshape(k, b * h * w, c), self.weight)
        cols = cols.reshape(k * b, h * w, -1).transpose(1, 2)
        y = F.fold(cols, self.size, KERNEL, padding=PADDING, stride=STRIDE)
        return y.reshape(k, b, self.out_channels, *self.size) + self.bias[:, None, :, None, None]

    def torch_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.out_channels, KERNEL, KERNEL)

    def set_member(self, k: int, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.weight[k].copy_(weight.reshape(self.in_channels, -1))
        self.bias[k].copy_(bias)

    def extra_repr(self) -> str:
        return (
            f"stack={self.weight.shape[0]}, {self.in_channels}, {self.out_channels}, "
            f"kernel={KERNEL}, size={self.size}"
        )


class Reshape(nn.Module):
    """(K, B, ...) to (K, B, *shape)."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*x.shape[:2], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def mlp(sizes: Sequence[int], stack: int = 1, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Stacked linear layers through ``sizes`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(StackedLinear(stack, fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def mlp_jacobians(net: nn.Sequential, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The transposed Jacobians of a one-member :func:`mlp` with ReLU activations at
    rows z (N, in): (N, in, out), with its outputs (N, out). Forward mode, the in
    tangents of all rows carried through each layer as one (N in, width) matmul, so a
    layer costs one GEMM rather than a ``vmap``-ed ``jacfwd``'s batched ones (0.40 of
    its time on one CPU thread through 256-wide layers with 64 tangents, 0.35 through
    128-wide ones; ``bench/estimate_speed.py --jacobians``). Other layers raise."""
    n, m = z.shape
    value, tangents = z, torch.eye(m, dtype=z.dtype, device=z.device).expand(n, m, m)
    for layer in net:
        if isinstance(layer, StackedLinear):
            weight = layer.weight[0]
            value = torch.addmm(layer.bias[0], value, weight)
            tangents = (tangents.reshape(n * m, -1) @ weight).reshape(n, m, -1)
        elif isinstance(layer, nn.ReLU):
            live = value > 0
            value = value * live
            tangents = tangents * live[:, None, :]
        else:
            raise TypeError(f"mlp_jacobians: no rule for {type(layer).__name__}")
    return tangents, value




def conv_sides(image_shape: Sequence[int]) -> list[tuple[int, int]]:
    """(H, W) at the input and after each convolution of the trunk: each halves it, rounding down."""
    sides = [tuple(image_shape[1:])]
    for _ in CONV_CHANNELS:
        sides.append((sides[-1][0] // STRIDE, sides[-1][1] // STRIDE))
    return sides


def conv_encoder(
    image_shape: Sequence[int], hidden: Sequence[int], outputs: int, stack: int = 1
) -> nn.Sequential:
    """Images (C, H, W), given as rows (K, B, C * H * W), to (K, B, outputs): two 4 x 4
    stride-2 convolutions (32 and 64 channels, ReLU), then an MLP through ``hidden``."""
    channels = (image_shape[0], *CONV_CHANNELS)
    sides = conv_sides(image_shape)
    layers: list[nn.Module] = [Reshape(*image_shape)]
    for fan_in, fan_out in itertools.pairwise(channels):
        layers += [StackedConv2d(stack, fan_in, fan_out), nn.ReLU()]
    layers += [Reshape(-1), *mlp([channels[-1] * math.prod(sides[-1]), *hidden, outputs], stack)]
    return nn.Sequential(*layers)


def conv_decoder(
    image_shape: Sequence[int], hidden: Sequence[int], inputs: int, stack: int = 1
) -> nn.Sequential:
    """The mirror of :func:`conv_encoder`: (K, B, inputs) through an MLP to 64 channels
    of the trunk's last side, two 4 x 4 stride-2 transposed convolutions back to
    (C, H, W), returned as rows (K, B, C * H * W)."""
    channels = (image_shape[0], *CONV_CHANNELS)[::-1]
    sides = conv_sides(image_shape)[::-1]
    layers: list[nn.Module] = [*mlp([inputs, *hidden, channels[0] * math.prod(sides[0])], stack)]
    layers += [nn.ReLU(), Reshape(channels[0], *sides[0])]
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(channels)):
        layers.append(StackedConvTranspose2d(stack, fan_in, fan_out, sides[i + 1]))
        if i < len(channels) - 2:
            layers.append(nn.ReLU())
    layers.append(Reshape(-1))
    return nn.Sequential(*layers)


@torch.no_grad()
def reset_parameters(module: nn.Module, generators: Sequence[torch.Generator]) -> None:
    """Re-draw every stacked layer as PyTorch's default for its ``torch.nn`` layer does
    (``nn.Linear``, ``nn.Conv2d``, ``nn.ConvTranspose2d``), member k from
    ``generators[k]``: W ~ kaiming_uniform(a = sqrt 5), b ~ U(-1/sqrt(fan_in),
    1/sqrt(fan_in)), fan_in as PyTorch computes it from the weight's shape. Member k
    draws all its layers, in module order, before k + 1."""
    layers = [layer for layer in module.modules() if isinstance(layer, Stacked)]
    for k, generator in enumerate(generators):
        for layer in layers:
            weight = torch.empty(layer.torch_shape())
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
            bound = 1.0 / math.sqrt(fan_in)
            bias = torch.empty(layer.bias.shape[1]).uniform_(-bound, bound, generator=generator)
            layer.set_member(k, weight, bias)


def encoder_net(config: ModelConfig, outputs: int, stack: int = 1) -> nn.Module:
    """The encoder of ``config.net``: data rows (K, B, d) to (K, B, outputs)."""
    if config.net == "conv":
        return conv_encoder(config.conv_image_shape(), config.hidden, outputs, stack)
    return mlp([config.data_dim, *config.hidden, outputs], stack)


def decoder_net(config: ModelConfig, stack: int = 1) -> nn.Module:
    """The decoder of ``config.net``: codes (K, B, m) to data rows (K, B, d)."""
    if config.net == "conv":
        return conv_decoder(config.conv_image_shape(), config.hidden[::-1], config.latent_dim, stack)
    return mlp([config.latent_dim, *reversed(config.hidden), config.data_dim], stack)

