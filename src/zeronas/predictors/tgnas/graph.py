"""Architecture graphs as GCN input: node features from the operator embeddings, and
normalised adjacency matrices, batched with padding.

An :class:`~zeronas.spaces.base.ArchGraph` of ``n`` nodes (operators on nodes, data flow on
edges, including ``input``/``output`` and, for DARTS, both cells as ``groups``) becomes ``n + 1``
nodes: a virtual **global node** at index 0, linked from every node (as in TG-NAS, where the
prediction is read from it), then the graph's nodes in order.

Messages (TG-NAS's convention): node ``t`` aggregates from itself and from every node ``s`` with
an edge ``s -> t`` (the data flow); the global node aggregates from all nodes. With
``direction="both"`` nodes also aggregate from their successors (and from the global node).
The message matrix ``M`` (``M[t, s] = 1``, self loops included) is normalised as
``D_r^-1/2 M D_c^-1/2`` with ``D_r``/``D_c`` its row/column sums -- for a symmetric ``M`` the
usual ``D^-1/2 (A + I) D^-1/2`` of Kipf & Welling; TG-NAS itself leaves ``M`` unnormalised,
which lets the node count scale the activations and hurts transfer between spaces of different
graph sizes (NB201 cells have 9 nodes, DARTS genotypes 22).

Node features: the 384-d embedding of the node's description (short or long), one
"is global" flag (TG-NAS's extra dimension), the numeric features of
:data:`~zeronas.predictors.tgnas.vocab.NUMERIC_FEATURES` and, last, the node's **cost**
(:mod:`~zeronas.predictors.tgnas.cost`: ``log2(1 + parameters) / 12`` of its operator, or of the
node's multiply-adds per input pixel when the graph gives ``costs``; 0 for the global node).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from zeronas.errors import ZeronasError
from zeronas.predictors.tgnas.cost import cost_feature, op_cost
from zeronas.predictors.tgnas.embeddings import EmbeddingTable, encode_texts, load_table
from zeronas.predictors.tgnas.vocab import (
    EMBEDDING_DIM,
    GLOBAL,
    NUMERIC_FEATURES,
    TEXT_KINDS,
    OpVocabulary,
    default_vocabulary,
)
from zeronas.spaces.base import ArchGraph

DIRECTIONS: tuple[str, ...] = ("forward", "both")
FEATURE_DIM = EMBEDDING_DIM + 1 + len(NUMERIC_FEATURES) + 1
"""Node feature size: embedding, global flag, numeric features, cost."""
NUMERIC_SLICE = slice(EMBEDDING_DIM + 1, EMBEDDING_DIM + 1 + len(NUMERIC_FEATURES))
"""Where the numeric features sit in a node's feature vector."""
COST_INDEX = FEATURE_DIM - 1
"""Where the cost sits: the last feature (the model reads it from there)."""


def message_matrix(
    n: int, edges: Sequence[tuple[int, int]], direction: str = "forward"
) -> np.ndarray:
    """``M[t, s] = 1`` when node ``t`` aggregates node ``s``, for a graph of ``n`` nodes plus the
    global node at index 0 (graph node ``i`` is row ``i + 1``); self loops included."""
    if direction not in DIRECTIONS:
        raise ZeronasError(f"unknown direction {direction!r}: expected one of {DIRECTIONS}")
    m = np.eye(n + 1, dtype=np.float32)
    for s, t in edges:
        m[t + 1, s + 1] = 1.0
    m[0, 1:] = 1.0  # the global node hears every node
    if direction == "both":
        m = np.maximum(m, m.T)
    return m


def normalize_adjacency(m: np.ndarray) -> np.ndarray:
    """``D_r^-1/2 M D_c^-1/2`` (row and column sums of ``M``; zero rows/columns stay zero)."""
    m = np.asarray(m, dtype=np.float64)
    r = m.sum(axis=1)
    c = m.sum(axis=0)
    with np.errstate(divide="ignore"):
        rs = np.where(r > 0, r ** -0.5, 0.0)
        cs = np.where(c > 0, c ** -0.5, 0.0)
    return (rs[:, None] * m * cs[None, :]).astype(np.float32)


def _row_key(label: str, macs: float | None) -> Any:
    """The feature-row key of a node: its label, with its cost when the graph gives one."""
    return label if macs is None else (label, float(macs))


@dataclass(frozen=True)
class EncodedGraph:
    """One graph ready for batching: feature-row ids per node (global first) and the key of
    its normalised adjacency in the encoder's structure cache."""

    rows: tuple[int, ...]
    structure: int


class GraphEncoder:
    """Turns :class:`ArchGraph` values into GCN input.

    Holds the node-feature matrix (one row per distinct label seen; row 0 is the all-zero
    padding row), the normalised adjacency of each distinct graph structure, and the
    embeddings computed with the language model for texts not in the shipped table.
    """

    def __init__(
        self,
        text: str = "short",
        direction: str = "forward",
        vocabulary: OpVocabulary | None = None,
        table: EmbeddingTable | None = None,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if text not in TEXT_KINDS:
            raise ZeronasError(f"unknown description kind {text!r}: expected one of {TEXT_KINDS}")
        if direction not in DIRECTIONS:
            raise ZeronasError(f"unknown direction {direction!r}: expected one of {DIRECTIONS}")
        self.text = text
        self.direction = direction
        self.vocabulary = vocabulary or default_vocabulary()
        self._table = table
        self._model_path = model_path
        self._rows: dict[Any, int] = {}
        self._features: list[np.ndarray] = [np.zeros(FEATURE_DIM, dtype=np.float32)]
        self._feature_tensor: torch.Tensor | None = None
        self._structures: dict[tuple[int, tuple[tuple[int, int], ...]], int] = {}
        self._adjacency: list[np.ndarray] = []
        self._lm_cache: dict[str, np.ndarray] = {}

    @property
    def table(self) -> EmbeddingTable:
        if self._table is None:
            self._table = load_table()
        return self._table

    # --- node features ------------------------------------------------------------------
    def embedding(self, label: str) -> np.ndarray:
        """The description embedding of ``label`` (shipped table, user vector or the LM)."""
        op = self.vocabulary.resolve(label)
        if op.entry.embedding is not None:
            return np.asarray(op.entry.embedding, dtype=np.float32)
        text = op.texts[self.text]
        vec = self.table.lookup(op.key, self.text, text)
        if vec is None:
            vec = self._lm_cache.get(text)
            if vec is None:
                vec = encode_texts([text], self._model_path)[0]
                self._lm_cache[text] = vec
        return vec

    def row(self, label: str, macs: float | None = None) -> int:
        """The feature-matrix row of ``label`` (added on first use); ``macs``, when the graph
        gives the node's multiply-adds per input pixel, sets its cost instead of the label."""
        key = _row_key(label, macs)
        r = self._rows.get(key)
        if r is None:
            op = self.vocabulary.resolve(label)
            feat = np.zeros(FEATURE_DIM, dtype=np.float32)
            feat[:EMBEDDING_DIM] = self.embedding(label)
            feat[EMBEDDING_DIM] = 1.0 if label == GLOBAL else 0.0
            feat[NUMERIC_SLICE] = op.numeric
            if label == GLOBAL:
                feat[COST_INDEX] = 0.0
            elif macs is None:
                feat[COST_INDEX] = op_cost(label, self.vocabulary)
            else:
                feat[COST_INDEX] = cost_feature(macs)
            r = len(self._features)
            self._features.append(feat)
            self._rows[key] = r
            self._feature_tensor = None
        return r

    def features(self) -> torch.Tensor:
        """The node-feature matrix ``(rows, FEATURE_DIM)``; row 0 is padding."""
        if self._feature_tensor is None:
            self._feature_tensor = torch.from_numpy(np.stack(self._features))
        return self._feature_tensor

    # --- graphs ---------------------------------------------------------------------------
    def encode(self, graph: ArchGraph) -> EncodedGraph:
        known = self._rows
        costs = graph.costs or (None,) * len(graph.ops)
        try:
            rows = (known[GLOBAL],
                    *[known[_row_key(op, c)] for op, c in zip(graph.ops, costs, strict=True)])
        except KeyError:  # a label (or label and cost) seen for the first time
            rows = (self.row(GLOBAL),
                    *(self.row(op, c) for op, c in zip(graph.ops, costs, strict=True)))
        key = (len(graph.ops), graph.edges)
        s = self._structures.get(key)
        if s is None:
            m = message_matrix(len(graph.ops), graph.edges, self.direction)
            adj = normalize_adjacency(m)
            s = len(self._adjacency)
            self._adjacency.append(adj)
            self._structures[key] = s
        return EncodedGraph(rows, s)

    def batch(self, graphs: Sequence[EncodedGraph]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ``(ids (B, N) long, adjacency (B, N, N) float)``; padding rows/cols are 0."""
        if not graphs:
            raise ZeronasError("no graphs to batch")
        size = max(len(g.rows) for g in graphs)
        ids = np.zeros((len(graphs), size), dtype=np.int64)
        adj = np.zeros((len(graphs), size, size), dtype=np.float32)
        structures = np.fromiter((g.structure for g in graphs), dtype=np.int64,
                                 count=len(graphs))
        for i, g in enumerate(graphs):
            ids[i, : len(g.rows)] = g.rows
        for s in np.unique(structures):  # graphs of one structure share one matrix
            a = self._adjacency[int(s)]
            adj[structures == s, : a.shape[0], : a.shape[0]] = a
        return torch.from_numpy(ids), torch.from_numpy(adj)

    def dense(self, graphs: Sequence[EncodedGraph]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ``(features (B, N, F), adjacency (B, N, N))``."""
        ids, adj = self.batch(graphs)
        return self.features()[ids], adj
