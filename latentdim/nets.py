"""Networks: MLPs for vector data, stacked over K independent members.

Every network here carries a leading member axis: a stack of K models of the same
shape is one module whose weights are (K, ...) tensors, applied with batched matmuls
to inputs of shape (K, B, features). K = 1 is an ordinary single model. Each member is
initialised from its own generator, drawing in the order a lone model would, so a
member's weights do not depend on which others share its stack.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn


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


class StackedLinear(nn.Module):
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


def mlp(sizes: Sequence[int], stack: int = 1, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Stacked linear layers through ``sizes`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(StackedLinear(stack, fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


@torch.no_grad()
def reset_parameters(module: nn.Module, generators: Sequence[torch.Generator]) -> None:
    """Re-draw every stacked linear layer as PyTorch's ``nn.Linear`` default does, member k
    from ``generators[k]``: W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with
    a = sqrt 5), same for b. Member k draws all its layers, in module order, before k + 1."""
    layers = [layer for layer in module.modules() if isinstance(layer, StackedLinear)]
    for k, generator in enumerate(generators):
        for layer in layers:
            weight = torch.empty(layer.out_features, layer.in_features)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(layer.in_features)
            bias = torch.empty(layer.out_features).uniform_(-bound, bound, generator=generator)
            layer.weight[k].copy_(weight.T)
            layer.bias[k].copy_(bias)
