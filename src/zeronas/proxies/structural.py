"""Structural proxies: parameter count and FLOPs. They need no data and no weights."""

from __future__ import annotations

from torch import nn

from zeronas.hardware.measures import count_flops, count_params
from zeronas.proxies.base import Batch, ProxyContext, proxy


@proxy(
    "params",
    reference="parameter count; baseline in Abdelfattah et al., ICLR 2021",
    needs_data=False,
    needs_weights=False,
    unit="M parameters",
)
def params(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Number of parameters in millions (BN affine parameters included, as the benchmarks
    count them). Higher is better: in these spaces larger networks train to higher accuracy."""
    return count_params(model) / 1e6


@proxy(
    "flops",
    reference="FLOPs; baseline in Abdelfattah et al., ICLR 2021",
    needs_data=False,
    needs_weights=False,
    unit="M multiply-adds",
)
def flops(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """FLOPs of one forward pass on one sample, in millions of multiply-adds (the benchmarks'
    convention: convolutions and linear layers). Higher is better, as for params."""
    return count_flops(model, ctx.input_shape) / 1e6
