"""The TG-NAS graph convolution network, in plain torch (dense batched adjacency).

Like TG-NAS's ``GCN``: a stack of graph convolutions ``H' = relu(norm(Â H W))`` over the
padded node features and a head. Differences, each for a reason:

- **per-node readout**: the head scores every node and the prediction is the mean of those
  scores over the graph's real nodes, the global node excluded (TG-NAS reads the global
  node alone). Each operator then contributes a score of its own, which carries over to a
  space with other cell sizes and other operators;
- **monotone cost term**: the graph's score gets ``softplus(w) * 4 * C`` added, ``w`` one
  learnt scalar (0 at the start, so the gain starts at ``4 ln 2``) and ``C`` read from the
  nodes' cost features (their last input feature, ``log2(1 + parameters) / 12``, see
  :mod:`~zeronas.predictors.tgnas.cost`). With ``cost_readout="total"`` (weight format 3,
  the default) ``C`` is the same feature of the graph's *summed* size,
  ``log2(1 + sum_i p_i) / 12``; with ``"mean"`` (format 2) it is the mean of the node
  features. The sign is fixed: more parameters never lower this term, the prior that
  survives between spaces. The cost is also an ordinary input feature, so the network may
  correct the prior.

  Why the total: the mean of log-sizes counts how many parametric operators a cell has
  more than how big they are, so it is a weaker size measure than the sum (two 1x1
  convolutions outweigh one 3x3 in the mean, not in the sum). Alone, on each space's
  seeded 1,000-architecture sample (Spearman, CIFAR-10 / class_scene): NB201 0.777 (mean)
  / 0.771 (total), DARTS 0.755 / 0.809, TransNAS micro 0.603 / 0.685, macro 0.824 / 0.853;
  ``params``: 0.772, 0.808, 0.613, 0.343.

  Measured for format 2 against the model without the cost (format 1), CIFAR-10, seed 0:
  NB201-trained -> all 1,000 DARTS Spearman 0.529 -> 0.661 (params: 0.808); DARTS-trained
  -> all 15,625 NB201 0.721 -> 0.751; 1 % of NB201 (156 cells) -> the other 15,469, seeds
  0/1/2: 0.859/0.864/0.854 -> 0.887/0.892/0.897.

- two graph convolutions by default (TG-NAS: four): in our measurements deeper stacks fit
  the training space as well but transferred worse (DARTS-trained weights ranked NB201 with
  Spearman 0.70-0.74 with two layers, 0.63-0.70 with four);
- the normalisation is a per-node ``LayerNorm`` instead of ``BatchNorm1d`` over nodes, so a
  prediction depends neither on the other graphs in the batch nor on the padding;
- ``Â`` is normalised (see :mod:`~zeronas.predictors.tgnas.graph`);
- layers after the first are residual (``H' = H + relu(norm(Â H W))``);
- the head is a small MLP; the input weights of the numeric features start at zero (a
  predictor never trained on varying widths ignores them instead of adding noise).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from zeronas.errors import ZeronasError
from zeronas.predictors.tgnas.cost import COST_BITS
from zeronas.predictors.tgnas.graph import DIRECTIONS, FEATURE_DIM, NUMERIC_SLICE

COST_GAIN = 4.0
"""The cost term is ``softplus(cost_weight) * COST_GAIN`` times the graph's cost (see
:data:`COST_READOUTS`)."""
COST_READOUTS: tuple[str, ...] = ("total", "mean")
"""What the monotone cost term reads. ``"total"`` (the default since weight format 3): the
cost feature of the graph's summed size, ``log2(1 + sum_i p_i) / 12`` with ``p_i`` the
parameters (or multiply-adds per pixel) of node ``i``, recovered from its feature
``log2(1 + p_i) / 12``; this orders graphs like their total size, i.e. like the network's
parameters or FLOPs. ``"mean"`` (format 2): the mean over nodes of the per-node features,
which counts *how many* parametric operators a graph has more than how big they are."""


def readout_description(config: GCNConfig) -> str:
    """The readout of a model of ``config`` in words (recorded in weight files)."""
    term = ("log2(1 + sum of the nodes' sizes) / 12" if config.cost_readout == "total"
            else "the mean of the node costs")
    return f"mean of per-node scores (global node excluded) + softplus(w) * 4 * {term}"


def total_cost(cost: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``log2(1 + sum_i mask_i * (2^(12 cost_i) - 1)) / 12`` per graph: the cost feature of the
    summed sizes of the masked nodes (``cost``, ``mask``: (B, N); returns (B,)). The sum is
    taken in float64; the float32 features in and out resolve a size to about 1e-6 relative
    (on all 3,256 macro skeletons the result orders them exactly as their summed sizes)."""
    size = torch.expm1(cost.double() * (COST_BITS * math.log(2.0))) * mask.double()
    return (torch.log1p(size.sum(-1)) / (COST_BITS * math.log(2.0))).to(cost.dtype)


@dataclass(frozen=True)
class GCNConfig:
    """Architecture of the predictor (saved with its weights)."""

    in_dim: int = FEATURE_DIM
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.0
    input_dropout: float = 0.0
    text: str = "short"
    direction: str = "forward"
    cost_readout: str = "total"

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.layers < 1:
            raise ZeronasError(f"GCN needs hidden >= 1 and layers >= 1, got {self}")
        if self.direction not in DIRECTIONS:
            raise ZeronasError(
                f"unknown direction {self.direction!r}: expected one of {DIRECTIONS}"
            )
        if self.cost_readout not in COST_READOUTS:
            raise ZeronasError(f"unknown cost_readout {self.cost_readout!r}: expected one of "
                               f"{COST_READOUTS}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TGNASGCN(nn.Module):
    """Graph convolutions over operator-embedding features; one score per graph: the mean
    over real nodes (global node excluded) of ``head(h)``, plus ``softplus(cost_weight) * 4``
    times the graph's cost read from the last input feature (``config.cost_readout``)."""

    def __init__(self, config: GCNConfig | None = None) -> None:
        super().__init__()
        self.config = config or GCNConfig()
        c = self.config
        self.inp = nn.Linear(c.in_dim, c.hidden, bias=False)
        self.convs = nn.ModuleList(
            nn.Linear(c.hidden, c.hidden, bias=False) for _ in range(c.layers - 1)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(c.hidden) for _ in range(c.layers))
        self.drop = nn.Dropout(c.dropout)
        self.in_drop = nn.Dropout(c.input_dropout)
        self.head = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.ReLU(),
                                  nn.Linear(c.hidden, 1))
        self.cost_weight = nn.Parameter(torch.zeros(()))
        self.learned_scale = 1.0
        """Factor on the learned per-node score (not a parameter; 1 while training). A weight
        file's metadata may set it (see :func:`~zeronas.predictors.tgnas.transfer.
        select_learned_scale`); 0 leaves only the monotone cost term."""
        with torch.no_grad():
            if c.in_dim == FEATURE_DIM:
                self.inp.weight[:, NUMERIC_SLICE] = 0.0

    def _layers(self, h: torch.Tensor, adj: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
        # h: (B, N, hidden) after the first weight; adj: (B, N, N); cost: (B, N)
        h = torch.relu(self.norms[0](torch.bmm(adj, h)))
        for conv, norm in zip(self.convs, self.norms[1:], strict=True):
            h = h + torch.relu(norm(torch.bmm(adj, conv(self.drop(h)))))
        node = self.head(self.drop(h)).squeeze(-1)
        if self.learned_scale != 1.0:
            node = node * self.learned_scale
        gain = nn.functional.softplus(self.cost_weight) * COST_GAIN
        # real nodes have a self loop, padding rows are all zero; the global node is index 0
        mask = (adj.abs().sum(-1) > 0).to(h.dtype)
        mask[:, 0] = 0.0
        count = mask.sum(1).clamp_min(1.0)
        if self.config.cost_readout == "mean":
            return ((node + gain * cost) * mask).sum(1) / count
        return (node * mask).sum(1) / count + gain * total_cost(cost, mask)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """``x`` (B, N, in_dim) node features with the global node first, ``adj`` (B, N, N)
        normalised adjacency; returns (B,) scores."""
        if x.dim() != 3 or adj.dim() != 3 or adj.shape[:2] != x.shape[:2]:
            raise ZeronasError(
                f"expected features (B, N, F) and adjacency (B, N, N), got {tuple(x.shape)} "
                f"and {tuple(adj.shape)}"
            )
        return self._layers(self.inp(self.in_drop(x)), adj, x[..., -1])

    def forward_ids(
        self, table: torch.Tensor, ids: torch.Tensor, adj: torch.Tensor
    ) -> torch.Tensor:
        """As :meth:`forward` with ``x = table[ids]``, projecting the table first (fast)."""
        return self._layers(self.inp(self.in_drop(table))[ids], adj, table[:, -1][ids])
