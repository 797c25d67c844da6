"""The TG-NAS graph convolution network, in plain torch (dense batched adjacency).

Like TG-NAS's ``GCN``: a stack of graph convolutions ``H' = relu(norm(Â H W))`` over the
padded node features, the prediction read from the global node (index 0 here) through a
linear head. Differences, each for a reason:

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

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from zeronas.errors import ZeronasError
from zeronas.predictors.tgnas.graph import DIRECTIONS, FEATURE_DIM, NUMERIC_SLICE


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

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.layers < 1:
            raise ZeronasError(f"GCN needs hidden >= 1 and layers >= 1, got {self}")
        if self.direction not in DIRECTIONS:
            raise ZeronasError(
                f"unknown direction {self.direction!r}: expected one of {DIRECTIONS}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TGNASGCN(nn.Module):
    """Graph convolutions over operator-embedding features; one score per graph."""

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
        with torch.no_grad():
            if c.in_dim == FEATURE_DIM:
                self.inp.weight[:, NUMERIC_SLICE] = 0.0

    def _layers(self, h: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        # h: (B, N, hidden) after the first weight; adj: (B, N, N)
        h = torch.relu(self.norms[0](torch.bmm(adj, h)))
        for conv, norm in zip(self.convs, self.norms[1:], strict=True):
            h = h + torch.relu(norm(torch.bmm(adj, conv(self.drop(h)))))
        return self.head(self.drop(h[:, 0])).squeeze(-1)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """``x`` (B, N, in_dim) node features with the global node first, ``adj`` (B, N, N)
        normalised adjacency; returns (B,) scores."""
        if x.dim() != 3 or adj.dim() != 3 or adj.shape[:2] != x.shape[:2]:
            raise ZeronasError(
                f"expected features (B, N, F) and adjacency (B, N, N), got {tuple(x.shape)} "
                f"and {tuple(adj.shape)}"
            )
        return self._layers(self.inp(self.in_drop(x)), adj)

    def forward_ids(
        self, table: torch.Tensor, ids: torch.Tensor, adj: torch.Tensor
    ) -> torch.Tensor:
        """As :meth:`forward` with ``x = table[ids]``, projecting the table first (fast)."""
        return self._layers(self.inp(self.in_drop(table))[ids], adj)
