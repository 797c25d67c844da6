"""Supernets for pruning-based search: every edge of a cell sums all of its remaining ops.

A supernet is a plain ``nn.Module`` (logits out), so every module proxy scores it as it
scores any network. The set of remaining ops is a :data:`State`: for each edge id, the
tuple of op names still on it (an empty tuple removes the edge). :meth:`restricted` returns
a copy holding only the remaining ops, *with the same weights* as the full supernet, so that
scores of different prunings differ only by what was removed (their parameter counts and
FLOPs drop with the removed ops as well).

- :class:`NB201SuperNet`: the NAS-Bench-201 skeleton (stem, 3 stages of ``N`` cells, residual
  reduction blocks, BN-ReLU, pooling, classifier); edge ids ``0..5`` in the order of the
  canonical string.
- :class:`DartsSuperNet`: the DARTS search network (stem to ``3C``, ``layers`` cells with
  reductions at ``layers//3`` and ``2*layers//3``); each cell's node ``k`` (2..5) sums one mixed
  edge from every earlier node, 14 edges per cell; edge ids ``("normal"|"reduce", e)`` with
  ``e`` in DARTS order (node 2: inputs 0, 1; node 3: 0, 1, 2; ...). All normal cells share one
  state, all reduction cells the other (the genotype has one of each).
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from zeronas.search.base import SearchError
from zeronas.spaces.nb201 import EDGES as NB201_EDGES
from zeronas.spaces.nb201 import NUM_NODES as NB201_NODES
from zeronas.spaces.nb201 import make_op as nb201_op
from zeronas.spaces.ops import FactorizedReduce, ReLUConvBN, ResNetBasicBlock
from zeronas.spaces.ops_darts import make_darts_op

State = Mapping[Hashable, tuple[str, ...]]
"""Edge id -> the op names remaining on that edge."""


class MixedEdge(nn.Module):
    """The sum of the edge's remaining ops applied to one input (None when none remain)."""

    def __init__(self, ops: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.ops = nn.ModuleDict(dict(ops))

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        out: torch.Tensor | None = None
        for op in self.ops.values():
            y = op(x)
            out = y if out is None else out + y
        return out


def _sum(terms: Sequence[torch.Tensor | None], what: str) -> torch.Tensor:
    present = [t for t in terms if t is not None]
    if not present:
        raise SearchError(f"{what} has no remaining input edge (a pruning bug)")
    total = present[0]
    for t in present[1:]:
        total = total + t
    return total


class _SuperNet(nn.Module):
    """What the pruner needs from a supernet: its edges, ops, and restricted copies."""

    def edge_ids(self) -> list[Hashable]:
        raise NotImplementedError

    def mixed_edges(self) -> list[tuple[Hashable, MixedEdge]]:
        raise NotImplementedError

    def full_state(self) -> dict[Hashable, tuple[str, ...]]:
        raise NotImplementedError

    @contextmanager
    def pruned(self, state: State) -> Iterator[_SuperNet]:
        """Within the block, this supernet holds only the ops of ``state`` on each edge.

        Each mixed edge's op table is swapped for its kept part and restored on exit; nothing
        is copied (the proxy runner copies the model it scores anyway).
        """
        saved: list[tuple[MixedEdge, nn.ModuleDict]] = []
        try:
            for edge_id, mixed in self.mixed_edges():
                keep = state[edge_id]
                saved.append((mixed, mixed.ops))
                mixed.ops = nn.ModuleDict({n: m for n, m in mixed.ops.items() if n in keep})
            yield self
        finally:
            for mixed, ops in saved:
                mixed.ops = ops

    def restricted(self, state: State) -> nn.Module:
        """A copy keeping only the ops of ``state`` on each edge (same weights)."""
        with self.pruned(state) as net:
            return copy.deepcopy(net)


# --------------------------------------------------------------------------- NB201
class NB201SuperCell(nn.Module):
    """An NB201 cell whose 6 edges are mixed edges; node j sums its incoming edges."""

    def __init__(self, ops: Sequence[str], c_in: int, c_out: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            MixedEdge({op: nb201_op(op, c_in if src == 0 else c_out, c_out, 1) for op in ops})
            for src, _ in NB201_EDGES
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, NB201_NODES):
            nodes.append(_sum([self.edges[e](nodes[src])
                               for e, (src, dst) in enumerate(NB201_EDGES) if dst == j],
                              f"NB201 supernet node {j}"))
        return nodes[-1]


class NB201SuperNet(_SuperNet):
    """The NB201 skeleton with :class:`NB201SuperCell` cells (each with its own weights)."""

    def __init__(self, ops: Sequence[str], num_classes: int = 10, C: int = 16, N: int = 5) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        channels = [C] * N + [C * 2] + [C * 2] * N + [C * 4] + [C * 4] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        cells: list[nn.Module] = []
        c_prev = C
        for c_cur, reduction in zip(channels, reductions, strict=True):
            cells.append(ResNetBasicBlock(c_prev, c_cur, 2) if reduction
                         else NB201SuperCell(self.ops, c_prev, c_cur))
            c_prev = c_cur
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU())
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.global_pooling(out).flatten(1))

    def edge_ids(self) -> list[Hashable]:
        return list(range(len(NB201_EDGES)))

    def full_state(self) -> dict[Hashable, tuple[str, ...]]:
        return {e: self.ops for e in self.edge_ids()}

    def mixed_edges(self) -> list[tuple[Hashable, MixedEdge]]:
        out: list[tuple[Hashable, MixedEdge]] = []
        for cell in self.cells:
            if isinstance(cell, NB201SuperCell):
                out.extend((e, m) for e, m in enumerate(cell.edges))  # type: ignore[misc]
        return out


# --------------------------------------------------------------------------- DARTS
DARTS_STEPS = 4
DARTS_EDGES: tuple[tuple[int, int], ...] = tuple(
    (src, node) for node in range(2, 2 + DARTS_STEPS) for src in range(node)
)
"""``(source, node)`` of the 14 edges of a DARTS supernet cell, in DARTS order."""


class DartsSuperCell(nn.Module):
    """A DARTS search cell: preprocessed inputs, 4 nodes each summing a mixed edge from every
    earlier node, output the concatenation of nodes 2..5."""

    def __init__(self, ops: Sequence[str], c_pp: int, c_p: int, C: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module = (FactorizedReduce(c_pp, C, 2) if reduction_prev
                                       else ReLUConvBN(c_pp, C, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(c_p, C, 1, 1, 0)
        self.edges = nn.ModuleList(
            MixedEdge({op: make_darts_op(op, C, 2 if reduction and src < 2 else 1)
                       for op in ops})
            for src, _ in DARTS_EDGES
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(2, 2 + DARTS_STEPS):
            states.append(_sum([self.edges[e](states[src])
                                for e, (src, dst) in enumerate(DARTS_EDGES) if dst == node],
                               f"DARTS supernet node {node}"))
        return torch.cat(states[2:], dim=1)


class DartsSuperNet(_SuperNet):
    """The DARTS search network with :class:`DartsSuperCell` cells."""

    def __init__(self, ops: Sequence[str], num_classes: int = 10, C: int = 16,
                 layers: int = 8) -> None:
        super().__init__()
        self.ops = tuple(ops)
        c_stem = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_stem))
        c_pp, c_p, c_cur = c_stem, c_stem, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            self.cells.append(DartsSuperCell(self.ops, c_pp, c_p, c_cur, reduction,
                                             reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, DARTS_STEPS * c_cur
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def edge_ids(self) -> list[Hashable]:
        return [(which, e) for which in ("normal", "reduce") for e in range(len(DARTS_EDGES))]

    def full_state(self) -> dict[Hashable, tuple[str, ...]]:
        return {e: self.ops for e in self.edge_ids()}

    def mixed_edges(self) -> list[tuple[Hashable, MixedEdge]]:
        out: list[tuple[Hashable, MixedEdge]] = []
        for cell in self.cells:
            which = "reduce" if cell.reduction else "normal"
            out.extend(((which, e), m) for e, m in enumerate(cell.edges))
        return out


def build_supernet(space: Any, ops: Sequence[str], num_classes: int,
                   **size: Any) -> _SuperNet:
    """The supernet of ``space`` (``nb201`` or ``darts``) with ``ops`` on every edge.

    ``size``: ``C``/``N`` for nb201, ``C``/``layers`` for darts. Build it under
    ``torch.device("meta")`` when only structural proxies will score it.
    """
    if space.name == "nb201":
        return NB201SuperNet(ops, num_classes, **size)
    if space.name == "darts":
        return DartsSuperNet(ops, num_classes, **size)
    raise SearchError(
        f"pruning search needs a cell space with a supernet (nb201 or darts), got "
        f"{space.name!r}: use the random or evolution searcher"
    )
