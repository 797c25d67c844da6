"""Parameter and FLOP counts of any ``torch.nn.Module``.

FLOPs are counted with ``torch.utils.flop_counter`` on the meta device (no memory, no real
arithmetic) and reported in the NAS benchmarks' convention (NAS-Bench-201's
``get_model_infos``): **multiply-accumulates** of convolutions and matrix products (one
multiply-add counts once), plus one add per output element for a bias; pooling, BN,
activations and element-wise sums are not counted.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from zeronas.errors import ZeronasError

aten = torch.ops.aten


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (shared parameters counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def _numel(shape: Any) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _conv_formula(x_shape: Any, w_shape: Any, bias_shape: Any, stride: Any, padding: Any,
                  dilation: Any, transposed: bool, *args: Any, out_shape: Any = None,
                  **kwargs: Any) -> int:
    flops = int(conv_flop_count(list(x_shape), list(w_shape), list(out_shape), transposed))
    if bias_shape is not None:  # the benchmark counts one add per output element for a bias
        flops += 2 * _numel(out_shape)
    return flops


def _addmm_formula(bias_shape: Any, a_shape: Any, b_shape: Any, *args: Any,
                   out_shape: Any = None, **kwargs: Any) -> int:
    m, k = a_shape
    _, n = b_shape
    return 2 * m * k * n + 2 * m * n


_BENCHMARK_MAPPING = {
    aten.convolution: _conv_formula,
    aten.addmm: _addmm_formula,
}


def to_meta(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the meta device (the caller's model is not touched)."""
    if all(p.is_meta for p in model.parameters()) and all(b.is_meta for b in model.buffers()):
        return model
    return copy.deepcopy(model).to("meta")


def count_flops(
    model: nn.Module,
    input_shape: Sequence[int],
    batch_size: int = 1,
) -> float:
    """Multiply-accumulates of one forward pass of ``model`` on one input of ``input_shape``.

    ``input_shape`` is ``(C, H, W)`` (or any per-sample shape); the count is per sample.
    Runs on a meta-device copy, so it is fast and allocates no activations.
    """
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s <= 0 for s in shape):
        raise ZeronasError(
            f"input_shape {input_shape!r} must be a non-empty tuple of positive ints"
        )
    meta = to_meta(model)
    was_training = meta.training
    meta.eval()
    x = torch.empty((batch_size, *shape), device="meta")
    counter = FlopCounterMode(display=False, custom_mapping=_BENCHMARK_MAPPING)
    try:
        with counter, torch.no_grad():
            meta(x)
    except Exception as exc:  # a model that cannot run on the given shape
        raise ZeronasError(
            f"could not run the model on an input of shape {shape} to count FLOPs: {exc}"
        ) from exc
    finally:
        meta.train(was_training)
    return counter.get_total_flops() / 2.0 / batch_size


def node_costs(
    model: nn.Module,
    input_shape: Sequence[int],
    owners: Mapping[str, int],
    n_nodes: int,
) -> tuple[float, ...]:
    """Multiply-accumulates per pixel of the network input, summed per graph node.

    ``owners`` maps the qualified name of a submodule of ``model`` (as in
    ``named_modules``) to the node that performs its work; a node's cost is the
    :func:`count_flops` of the modules it owns (their children included), divided by the
    input's pixel count (``H * W``). Nodes that own nothing cost 0. Used by search spaces to
    give their architecture graphs real per-node costs (``ArchGraph.costs``).
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise ZeronasError(f"input_shape must be (C, H, W), got {input_shape!r}")
    known = dict(model.named_modules())
    for name, node in owners.items():
        if name not in known or name == "":
            raise ZeronasError(f"node_costs: {type(model).__name__} has no submodule {name!r}")
        if not 0 <= node < n_nodes:
            raise ZeronasError(f"node_costs: node {node} of {name!r} is outside 0..{n_nodes - 1}")
    meta = to_meta(model)
    meta.eval()
    counter = FlopCounterMode(display=False, custom_mapping=_BENCHMARK_MAPPING)
    with counter, torch.no_grad():
        meta(torch.empty((1, *shape), device="meta"))
    counts = counter.get_flop_counts()
    root = type(meta).__name__
    costs = [0.0] * n_nodes
    for name, node in owners.items():
        costs[node] += sum(counts.get(f"{root}.{name}", {}).values()) / 2.0
    pixels = shape[1] * shape[2]
    return tuple(c / pixels for c in costs)
