"""The cost feature of a node: how many parameters its operator has.

Why: the sentence embedding says *what* an operator is, not how big it is, and on DARTS-1000
the parameter count alone ranks accuracy better (Spearman 0.808) than the NB201-trained
predictor did without it (0.529). Each node gets one more input feature,

    cost = log2(1 + parameters of the op built at C=16 channels in and out, stride 1) / 12

(``nor_conv_3x3``: 2,336 parameters -> 0.93; ``sep_conv_3x3``: 864 -> 0.81; ``nor_conv_1x1``:
288 -> 0.68; pooling, ``skip_connect``, ``none``: 0), and the model adds a monotone term in
the graph's summed size, read back from these features, to its score
(:mod:`~zeronas.predictors.tgnas.model`).

Where the count comes from, in order:

0. the graph's own ``costs`` (:class:`~zeronas.spaces.base.ArchGraph`): each node's
   multiply-adds per pixel of the network input, for spaces whose labels do not fix a
   node's size (``tnb101_macro``: the same ``conv_3x3_c64`` costs 16 times less after two
   more halvings of the resolution). For a cell run at the input resolution this is the
   same number as its parameter count (a convolution does one multiply-add per weight per
   output pixel), so the two sources share one scale;
1. ``params=`` declared on the vocabulary entry (:func:`~zeronas.predictors.tgnas.vocab.
   register_op`), for an operator of your own;
2. the space's own op factory: :func:`zeronas.spaces.nb201.make_op` (NB201 and the
   TransNAS-Bench-101 micro cells, which use its labels), then
   :func:`zeronas.spaces.ops_darts.make_darts_op` -- the ops are built on the meta device
   (no memory, no random numbers drawn);
3. otherwise **0**, the cost of ``input``/``output``/the global node. This is the documented
   fallback for labels no factory builds in graphs without ``costs`` (a user's graph or
   operator without ``params=``; the built-in NB-101, MobileNetV2, NATS-SSS and TransNAS macro
   graphs carry ``costs``): they still score, through their description, but the predictor
   sees them as free. Declare ``params=`` to do better.
"""

from __future__ import annotations

import math

import torch

from zeronas.errors import ArchitectureError, ZeronasError
from zeronas.predictors.tgnas.vocab import GLOBAL, OpVocabulary

COST_CHANNELS = 16
"""Channels in and out of the op whose parameters are counted (NB201's first stage)."""
COST_BITS = 12.0
"""``log2`` of the count is divided by this so ordinary cells give costs in ``[0, 1]``."""
COST_DEFINITION = (
    f"log2(1 + params of the op at C={COST_CHANNELS}, stride 1) / {COST_BITS:g}; params from "
    "the vocabulary entry's params=, else nb201.make_op, else ops_darts.make_darts_op, else 0"
)
"""Recorded in weight files' metadata: what the cost input of the model meant."""
GRAPH_COSTS = (
    "the graph's own costs (multiply-adds per input pixel, same log2 scale) replace the label's"
)
"""How graphs that carry ``costs`` feed the cost input (recorded in the protocol of a space
whose graphs carry them, so a score computed before a space gained graph costs is never
reused)."""


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def factory_params(label: str) -> int | None:
    """Parameters of ``label`` built by the NB201 or the DARTS op factory at
    :data:`COST_CHANNELS` channels, stride 1; ``None`` when neither builds it."""
    from zeronas.spaces.nb201 import make_op
    from zeronas.spaces.ops_darts import make_darts_op

    with torch.device("meta"), torch.random.fork_rng(devices=[]):
        try:
            return _count(make_op(label, COST_CHANNELS, COST_CHANNELS, 1))
        except ArchitectureError:
            pass
        try:
            return _count(make_darts_op(label, COST_CHANNELS, 1))
        except ArchitectureError:
            return None


def op_params(label: str, vocabulary: OpVocabulary) -> int:
    """The parameter count behind the cost of ``label`` (see the module docstring; 0 when
    neither the vocabulary entry nor a factory gives one)."""
    if label == GLOBAL:
        return 0
    declared = vocabulary.resolve(label).entry.params
    if declared is not None:
        return int(declared)
    counted = factory_params(label)
    return 0 if counted is None else counted


def cost_feature(params: float) -> float:
    """``log2(1 + params) / COST_BITS`` (``params``: a parameter count, or a node's
    multiply-adds per input pixel)."""
    if params < 0:
        raise ZeronasError(f"a parameter count cannot be negative, got {params}")
    return math.log2(1 + params) / COST_BITS


def op_cost(label: str, vocabulary: OpVocabulary) -> float:
    """The cost input feature of a node labelled ``label``."""
    return cost_feature(op_params(label, vocabulary))
