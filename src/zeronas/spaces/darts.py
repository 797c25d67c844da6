"""DARTS CNN cell space (``darts``; Liu, Simonyan & Yang, ICLR 2019).

A genotype has a normal and a reduction cell. Each cell has two inputs (node 0 is the output
of the cell before the previous one, ``c_{k-2}``; node 1 the previous one, ``c_{k-1}``) and four
intermediate nodes 2..5; node ``k`` is the sum of two operations applied to earlier nodes
``0..k-1``, and the cell output is the concatenation of nodes 2..5. The canonical string is the
repr of the DARTS ``Genotype`` namedtuple, byte for byte as DARTS prints it (and as the
DARTS-1000 benchmark file stores it)::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...x8], normal_concat=[2, 3, 4, 5],
             reduce=[...x8], reduce_concat=[2, 3, 4, 5])

(on one line). Whitespace between tokens and double quotes are tolerated when parsing, and
``range(2, 6)`` (how DARTS' own ``genotypes.py`` writes the concat under Python 3) is accepted
for ``[2, 3, 4, 5]``.

**Two inputs of one node.** In the DARTS paper space the two inputs of a node are distinct
nodes (DARTS keeps the two strongest edges from distinct predecessors). The public DARTS-1000
ground truth (SWAP, ICLR 2024) was sampled with the two inputs drawn independently: about 80%
of its rows have a node fed twice by the same node. The DARTS network code builds such cells
without trouble, so :class:`DartsSpace` accepts them by default (``distinct_inputs=False``),
which is what lets the ``darts`` space parse its ground truth; ``DartsSpace(
distinct_inputs=True)`` is the strict paper space (sampling, mutation and parsing all keep the
inputs distinct, as DARTS and its random-search baseline do).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn

import numpy as np
import torch
from torch import nn

from zeronas.errors import ArchitectureError
from zeronas.spaces.base import ArchGraph, DatasetInfo, Space, choose_other
from zeronas.spaces.ops import FactorizedReduce, ReLUConvBN
from zeronas.spaces.ops_darts import (
    DARTS_OPS,
    AuxiliaryHeadCIFAR,
    AuxiliaryHeadImageNet,
    make_darts_op,
)

OPS = DARTS_OPS
NUM_INPUTS = 2
NUM_STEPS = 4
NUM_EDGES = 2 * NUM_STEPS
CONCAT: tuple[int, ...] = tuple(range(NUM_INPUTS, NUM_INPUTS + NUM_STEPS))
CELLS: tuple[str, str] = ("normal", "reduce")

Edge = tuple[str, int]
Cell = tuple[Edge, ...]


def edge_node(e: int) -> int:
    """The intermediate node (2..5) that edge ``e`` (0..7) of a cell feeds."""
    return NUM_INPUTS + e // 2


def _check_cell(cell: object, which: str, distinct_inputs: bool = False) -> Cell:
    """Validate one cell (a sequence of 8 ``(op, input)`` pairs) and return it as a tuple."""
    if not isinstance(cell, (tuple, list)):
        raise ArchitectureError(
            f"DARTS {which} cell must be a sequence of {NUM_EDGES} (op, input) pairs, "
            f"got {type(cell).__name__}"
        )
    if len(cell) != NUM_EDGES:
        raise ArchitectureError(
            f"DARTS {which} cell has {len(cell)} edges: expected {NUM_EDGES} "
            f"(two inputs for each of the {NUM_STEPS} intermediate nodes)"
        )
    out: list[Edge] = []
    for e, edge in enumerate(cell):
        if not isinstance(edge, (tuple, list)) or len(edge) != 2:
            raise ArchitectureError(
                f"DARTS {which} cell edge {e} must be an (op, input) pair, got {edge!r}"
            )
        op, src = edge
        if op not in OPS:
            raise ArchitectureError(
                f"unknown DARTS op {op!r} in {which} cell edge {e}: expected one of "
                f"{', '.join(OPS)}"
            )
        if isinstance(src, bool) or not isinstance(src, (int, np.integer)):
            raise ArchitectureError(
                f"DARTS {which} cell edge {e} input must be an integer node, got {src!r}"
            )
        node = edge_node(e)
        src = int(src)
        if src == node:
            raise ArchitectureError(
                f"DARTS {which} cell edge {e} ({op!r}, {src}): node {node} cannot take itself "
                f"as input (self loop); expected an input in 0..{node - 1}"
            )
        if src > node:
            raise ArchitectureError(
                f"DARTS {which} cell edge {e} ({op!r}, {src}): node {node} cannot take input "
                f"from the later node {src}; expected an input in 0..{node - 1}"
            )
        if src < 0:
            raise ArchitectureError(
                f"DARTS {which} cell edge {e} ({op!r}, {src}): negative input; expected an "
                f"input in 0..{node - 1}"
            )
        out.append((str(op), src))
    if distinct_inputs:
        for k in range(NUM_STEPS):
            a, b = out[2 * k][1], out[2 * k + 1][1]
            if a == b:
                raise ArchitectureError(
                    f"DARTS {which} cell node {k + NUM_INPUTS} takes both inputs from node {a}: "
                    "the DARTS space needs two distinct inputs per node (sets such as "
                    "DARTS-1000 that allow this need DartsSpace(distinct_inputs=False))"
                )
    return tuple(out)


@dataclass(frozen=True)
class DartsGenotype:
    """A DARTS genotype: 8 ``(op, input)`` edges per cell, in the DARTS order (edges ``2k`` and
    ``2k+1`` feed node ``k+2``). Immutable and hashable; both cells concatenate nodes 2..5.

    Build one from lists with :meth:`create` (or from a DARTS ``Genotype`` namedtuple with
    :meth:`from_darts`).
    """

    normal: Cell
    reduce: Cell

    def __post_init__(self) -> None:
        for which in CELLS:
            cell = getattr(self, which)
            if not isinstance(cell, tuple) or not all(isinstance(e, tuple) for e in cell):
                raise ArchitectureError(
                    f"DartsGenotype.{which} must be a tuple of (op, input) tuples; "
                    "use DartsGenotype.create(normal, reduce) to convert lists"
                )
            if _check_cell(cell, which) != cell:
                raise ArchitectureError(
                    f"DartsGenotype.{which} inputs must be plain ints, got {cell!r}"
                )

    @classmethod
    def create(cls, normal: Any, reduce: Any) -> DartsGenotype:
        """A genotype from two sequences of ``(op, input)`` pairs (lists are fine)."""
        return cls(_check_cell(normal, "normal"), _check_cell(reduce, "reduce"))

    @classmethod
    def from_darts(cls, genotype: Any) -> DartsGenotype:
        """Convert a DARTS ``Genotype`` namedtuple (``.normal``, ``.reduce``, concat 2..5)."""
        for which in CELLS:
            concat = tuple(getattr(genotype, f"{which}_concat", CONCAT))
            if concat != CONCAT:
                raise ArchitectureError(
                    f"{which}_concat must be {list(CONCAT)} (every intermediate node), "
                    f"got {list(concat)}"
                )
        return cls.create(genotype.normal, genotype.reduce)

    @property
    def normal_concat(self) -> tuple[int, ...]:
        return CONCAT

    @property
    def reduce_concat(self) -> tuple[int, ...]:
        return CONCAT

    def cell(self, which: str) -> Cell:
        """The ``normal`` or ``reduce`` cell."""
        if which not in CELLS:
            raise ArchitectureError(f"DARTS cell must be 'normal' or 'reduce', got {which!r}")
        return self.normal if which == "normal" else self.reduce

    def has_duplicate_inputs(self) -> bool:
        """Whether some node takes both of its inputs from the same node."""
        return any(
            cell[2 * k][1] == cell[2 * k + 1][1]
            for cell in (self.normal, self.reduce)
            for k in range(NUM_STEPS)
        )

    def __str__(self) -> str:
        return genotype_to_str(self)


# --------------------------------------------------------------------------- strings
def _cell_str(cell: Cell) -> str:
    return "[" + ", ".join(f"('{op}', {src})" for op, src in cell) + "]"


def genotype_to_str(g: DartsGenotype) -> str:
    """The canonical string: the repr of DARTS' ``Genotype`` namedtuple, concat as a list."""
    concat = "[" + ", ".join(str(i) for i in CONCAT) + "]"
    return (
        f"Genotype(normal={_cell_str(g.normal)}, normal_concat={concat}, "
        f"reduce={_cell_str(g.reduce)}, reduce_concat={concat})"
    )


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'[^'\\\n]*'|\"[^\"\\\n]*\")|(?P<int>\d+)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<punct>[\[\](),=]))"
)
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


class _Parser:
    """A tiny recursive-descent parser for the ``Genotype(...)`` repr (no ``eval``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                self.fail(f"unexpected character {text[pos:].lstrip()[:1]!r}", pos)
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0

    def fail(self, what: str, pos: int | None = None) -> NoReturn:
        if pos is None:
            pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        shown = self.text if len(self.text) <= 160 else self.text[:157] + "..."
        raise ArchitectureError(
            f"malformed DARTS genotype {shown!r}: {what} at character {pos}; expected the form "
            "Genotype(normal=[('op', input), ...x8], normal_concat=[2, 3, 4, 5], "
            "reduce=[...x8], reduce_concat=[2, 3, 4, 5])"
        )

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None, what: str = "") -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            want = what or (repr(value) if value is not None else kind)
            got = "the end of the string" if tok is None else repr(tok[1])
            self.fail(f"expected {want}, got {got}")
        self.i += 1
        return tok[1]

    def integer(self, what: str) -> int:
        tok = self.take("int", what=what)
        if len(tok) > 6 or tok != str(int(tok)):
            self.i -= 1
            self.fail(f"{what} {tok!r} is not a plain integer")
        return int(tok)

    def accept(self, value: str) -> bool:
        """Consume the punctuation ``value`` if it comes next."""
        tok = self.peek()
        if tok is not None and tok[0] == "punct" and tok[1] == value:
            self.i += 1
            return True
        return False

    def close_or_comma(self) -> bool:
        """After a list item: True at ']' (consumed), False at ',' (consumed), else fail."""
        if self.accept("]"):
            return True
        if self.accept(","):
            return False
        tok = self.peek()
        got = "the end of the string" if tok is None else repr(tok[1])
        self.fail(f"expected ',' or ']', got {got}")

    def edges(self, which: str) -> list[tuple[str, int]]:
        self.take("punct", "[", what=f"'[' starting the {which} cell")
        out: list[tuple[str, int]] = []
        if self.accept("]"):
            return out
        while True:
            self.take("punct", "(", what=f"'(' starting a {which} edge")
            op = self.take("str", what="a quoted op name")[1:-1]
            self.take("punct", ",")
            src = self.integer("input node")
            self.take("punct", ")")
            out.append((op, src))
            if self.close_or_comma():
                return out

    def concat(self, which: str) -> list[int]:
        tok = self.peek()
        if tok is not None and tok[0] == "name" and tok[1] == "range":
            self.i += 1
            self.take("punct", "(")
            lo = self.integer("range start")
            self.take("punct", ",")
            hi = self.integer("range stop")
            self.take("punct", ")")
            return list(range(lo, hi))
        self.take("punct", "[", what=f"'[' starting {which}_concat")
        out = [self.integer("concat node")]
        while not self.close_or_comma():
            out.append(self.integer("concat node"))
        return out

    def genotype(self, distinct_inputs: bool) -> DartsGenotype:
        self.take("name", "Genotype", what="'Genotype'")
        self.take("punct", "(")
        cells: dict[str, list[tuple[str, int]]] = {}
        for n, field in enumerate(_FIELDS):
            if n:
                self.take("punct", ",", what=f"',' before {field}=")
            self.take("name", field, what=f"the field name {field!r}")
            self.take("punct", "=")
            if field.endswith("_concat"):
                concat = self.concat(field[: -len("_concat")])
                if tuple(concat) != CONCAT:
                    raise ArchitectureError(
                        f"DARTS genotype {field}={concat} is not supported: every cell of the "
                        f"DARTS space concatenates all intermediate nodes {list(CONCAT)}"
                    )
            else:
                cells[field] = self.edges(field)
        self.take("punct", ")", what="')' closing Genotype(")
        if self.peek() is not None:
            self.fail("unexpected text after the closing ')'")
        return DartsGenotype(
            _check_cell(cells["normal"], "normal", distinct_inputs),
            _check_cell(cells["reduce"], "reduce", distinct_inputs),
        )


def genotype_from_str(text: str, distinct_inputs: bool = False) -> DartsGenotype:
    """Parse a ``Genotype(...)`` string, with an error naming what is wrong.

    ``distinct_inputs`` rejects a node whose two inputs are the same node (the strict DARTS
    paper space); see the module docstring.
    """
    if not isinstance(text, str):
        raise ArchitectureError(f"a DARTS genotype string must be a str, got {text!r}")
    if not text.strip():
        raise ArchitectureError("empty DARTS genotype string: expected 'Genotype(normal=...)'")
    return _Parser(text).genotype(distinct_inputs)


def canonical_genotype(g: DartsGenotype) -> DartsGenotype:
    """The genotype with each node's two edges in sorted order (a node sums its two edges,
    so the order does not change the function)."""

    def sort_cell(cell: Cell) -> Cell:
        out: list[Edge] = []
        for k in range(NUM_STEPS):
            out.extend(sorted(cell[2 * k : 2 * k + 2], key=lambda e: (e[1], e[0])))
        return tuple(out)

    return DartsGenotype(sort_cell(g.normal), sort_cell(g.reduce))


# --------------------------------------------------------------------------- networks
class DartsCell(nn.Module):
    """A DARTS evaluation cell: preprocess both inputs to ``C`` channels, four nodes each the
    sum of two ops, output the concatenation of nodes 2..5 (``4 * C`` channels).

    Ops on the cell inputs have stride 2 in a reduction cell. Drop-path (a training-time
    regulariser of the DARTS code) is left out: this network is for scoring.
    """

    def __init__(
        self, cell: Cell, c_prev_prev: int, c_prev: int, C: int, reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_prev_prev, C, 2)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, C, 1, 1, 0)
        self._ops = nn.ModuleList()
        self._indices: list[int] = []
        for op, src in cell:
            stride = 2 if reduction and src < NUM_INPUTS else 1
            self._ops.append(make_darts_op(op, C, stride))
            self._indices.append(src)
        self.multiplier = len(CONCAT)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(NUM_STEPS):
            a = self._ops[2 * k](states[self._indices[2 * k]])
            b = self._ops[2 * k + 1](states[self._indices[2 * k + 1]])
            states.append(a + b)
        return torch.cat([states[i] for i in CONCAT], dim=1)


class _DartsNetwork(nn.Module):
    """Cells shared by the CIFAR and ImageNet networks; subclasses define the stem."""

    def _make_cells(
        self, g: DartsGenotype, C: int, layers: int, c_stem: int, reduction_prev: bool,
        num_classes: int, auxiliary: bool, aux_head: type[nn.Module],
    ) -> None:
        self._layers = layers
        c_prev_prev, c_prev, c_curr = c_stem, c_stem, C
        self.cells = nn.ModuleList()
        c_aux = c_prev
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = DartsCell(
                g.reduce if reduction else g.normal, c_prev_prev, c_prev, c_curr, reduction,
                reduction_prev,
            )
            reduction_prev = reduction
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == 2 * layers // 3:
                c_aux = c_prev
        self.auxiliary_head = aux_head(c_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def stem_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and the auxiliary head's logits (None without an auxiliary head)."""
        s0, s1 = self.stem_forward(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == 2 * self._layers // 3 and self.auxiliary_head is not None:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return logits, aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0, s1 = self.stem_forward(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))


class DartsNetworkCIFAR(_DartsNetwork):
    """DARTS ``NetworkCIFAR``: 3x3 stem conv to ``3C`` + BN, ``layers`` cells with reductions
    at ``layers//3`` and ``2*layers//3`` (channels doubled there), global average pooling and a
    linear classifier. ``forward`` returns the logits (the auxiliary head, when built, is only
    run by :meth:`forward_with_aux`)."""

    def __init__(
        self, genotype: DartsGenotype, num_classes: int = 10, C: int = 36, layers: int = 20,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        c_stem = 3 * C
        self.stem = nn.Sequential(
            nn.Conv2d(3, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem)
        )
        self._make_cells(genotype, C, layers, c_stem, False, num_classes, auxiliary,
                         AuxiliaryHeadCIFAR)

    def stem_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)
        return s, s


class DartsNetworkImageNet(_DartsNetwork):
    """DARTS ``NetworkImageNet``: two stems (``stem0``: two stride-2 3x3 convs to ``C``;
    ``stem1``: ReLU + stride-2 3x3 conv), the first cell treating its inputs as reduced, global
    pooling (adaptive; equal to DARTS' ``AvgPool2d(7)`` at 224x224 input) and a classifier."""

    def __init__(
        self, genotype: DartsGenotype, num_classes: int = 1000, C: int = 48, layers: int = 14,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        self.stem0 = nn.Sequential(
            nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=False),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self._make_cells(genotype, C, layers, C, True, num_classes, auxiliary,
                         AuxiliaryHeadImageNet)

    def stem_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)


# --------------------------------------------------------------------------- the space
class DartsSpace(Space[DartsGenotype]):
    """The DARTS CNN space: 8 ops, a normal and a reduction cell of 4 nodes x 2 inputs.

    ``C`` (initial channels) and ``layers`` (cells) set the default network. The default,
    ``C=16, layers=8``, is a small *proxy* setting for fast scoring (the DARTS search network's
    size); the paper's CIFAR-10 evaluation network is ``C=36, layers=20`` (3.3M parameters for
    DARTS-V2) and its ImageNet (mobile) one ``C=48, layers=14``; pass these to :meth:`to_torch`
    or the constructor. ``distinct_inputs`` (default False) makes the space strict: a node's
    two inputs must be different nodes; see the module docstring for why the default accepts
    them (the DARTS-1000 ground truth). Not finite: ``len()`` raises TypeError.
    """

    name = "darts"
    description = "DARTS CNN cells: 8 ops, normal + reduction cell, 4 nodes x 2 inputs each"
    datasets: ClassVar[dict[str, DatasetInfo]] = {
        "cifar10": DatasetInfo("cifar10", 10, (3, 32, 32)),
    }
    ops = OPS

    def __init__(self, C: int = 16, layers: int = 8, distinct_inputs: bool = False) -> None:
        _check_size(C, layers)
        self.C, self.layers = C, layers
        self.distinct_inputs = bool(distinct_inputs)

    # -- values
    def _check(self, arch: DartsGenotype) -> DartsGenotype:
        if not isinstance(arch, DartsGenotype):
            raise ArchitectureError(f"expected a DartsGenotype, got {type(arch).__name__}")
        if self.distinct_inputs:
            _check_cell(arch.normal, "normal", True)
            _check_cell(arch.reduce, "reduce", True)
        return arch

    def _sample_cell(self, rng: np.random.Generator) -> Cell:
        cell: list[Edge] = []
        for k in range(NUM_STEPS):
            node = k + NUM_INPUTS
            if self.distinct_inputs:
                srcs = [int(s) for s in rng.choice(node, size=2, replace=False)]
            else:
                srcs = [int(s) for s in rng.integers(node, size=2)]
            ops = rng.integers(len(OPS), size=2)
            cell.extend((OPS[int(o)], s) for o, s in zip(ops, srcs, strict=True))
        return tuple(cell)

    def sample(self, rng: np.random.Generator) -> DartsGenotype:
        """Uniform over the space's cells: each node draws two ops uniformly and two inputs
        uniformly from its earlier nodes (without replacement when ``distinct_inputs``);
        normal and reduction cells are drawn independently."""
        return DartsGenotype(self._sample_cell(rng), self._sample_cell(rng))

    def _input_options(self, cell: Cell, e: int) -> list[int]:
        node = edge_node(e)
        partner = cell[e ^ 1][1]
        return [
            s for s in range(node)
            if s != cell[e][1] and not (self.distinct_inputs and s == partner)
        ]

    @staticmethod
    def _replace(g: DartsGenotype, which: str, e: int, edge: Edge) -> DartsGenotype:
        cell = list(g.cell(which))
        cell[e] = edge
        new = tuple(cell)
        return DartsGenotype(new, g.reduce) if which == "normal" else DartsGenotype(g.normal, new)

    def mutate(self, arch: DartsGenotype, rng: np.random.Generator) -> DartsGenotype:
        """Change one op or one input of one edge (cell, edge, and op-or-input drawn
        uniformly; an edge with no other valid input changes its op)."""
        self._check(arch)
        which = CELLS[int(rng.integers(2))]
        e = int(rng.integers(NUM_EDGES))
        op, src = arch.cell(which)[e]
        options = self._input_options(arch.cell(which), e)
        if options and rng.random() < 0.5:
            return self._replace(arch, which, e, (op, options[int(rng.integers(len(options)))]))
        return self._replace(arch, which, e, (choose_other(OPS, op, rng), src))

    def neighbours(self, arch: DartsGenotype) -> list[DartsGenotype]:
        """Every genotype with one op or one input of one edge changed."""
        self._check(arch)
        out: list[DartsGenotype] = []
        for which in CELLS:
            cell = arch.cell(which)
            for e, (op, src) in enumerate(cell):
                out.extend(self._replace(arch, which, e, (o, src)) for o in OPS if o != op)
                out.extend(
                    self._replace(arch, which, e, (op, s)) for s in self._input_options(cell, e)
                )
        return out

    def to_str(self, arch: DartsGenotype) -> str:
        return genotype_to_str(self._check(arch))

    def from_str(self, text: str) -> DartsGenotype:
        return genotype_from_str(text, self.distinct_inputs)

    def canonical(self, arch: DartsGenotype) -> str:
        """The string of the genotype with each node's two edges sorted (same function)."""
        return genotype_to_str(canonical_genotype(self._check(arch)))

    # -- networks
    def to_torch(
        self, arch: DartsGenotype, num_classes: int = 10, C: int | None = None,
        layers: int | None = None, auxiliary: bool = False, imagenet: bool = False,
        **kwargs: Any,
    ) -> nn.Module:
        """The DARTS evaluation network of ``arch`` (CIFAR by default, ``imagenet=True`` for
        NetworkImageNet). ``C``/``layers`` default to the space's (16/8, the proxy setting;
        the paper: 36/20 on CIFAR-10, 48/14 on ImageNet). ``auxiliary`` adds the auxiliary
        head (DARTS counts parameters without it)."""
        if kwargs:
            raise TypeError(f"darts to_torch got unexpected options: {sorted(kwargs)}")
        self._check(arch)
        C = self.C if C is None else C
        layers = self.layers if layers is None else layers
        _check_size(C, layers)
        if imagenet:
            return DartsNetworkImageNet(arch, num_classes, C, layers, auxiliary)
        return DartsNetworkCIFAR(arch, num_classes, C, layers, auxiliary)

    def to_graph(self, arch: DartsGenotype) -> ArchGraph:
        """Op-on-node DAG of both cells (``groups`` ``normal`` then ``reduce``, 11 nodes each).

        Per cell: nodes ``input_c_{k-2}`` and ``input_c_{k-1}`` (the cell inputs), one node per
        edge op (8, in genotype order) and ``output`` (the concatenation). The op node of an edge
        from node ``j`` takes the two op nodes of node ``j`` (or the input node when ``j < 2``);
        ``output`` takes all 8 op nodes (every intermediate node is concatenated). The two
        cells are not connected to each other.
        """
        self._check(arch)
        labels: list[str] = []
        edges: list[tuple[int, int]] = []
        groups: list[str] = []
        for which in CELLS:
            base = len(labels)
            cell = arch.cell(which)
            labels.extend(["input_c_{k-2}", "input_c_{k-1}", *(op for op, _ in cell), "output"])
            groups.extend([which] * (NUM_INPUTS + NUM_EDGES + 1))
            for e, (_, src) in enumerate(cell):
                node = base + NUM_INPUTS + e
                if src < NUM_INPUTS:
                    edges.append((base + src, node))
                else:
                    first = base + NUM_INPUTS + 2 * (src - NUM_INPUTS)
                    edges.extend([(first, node), (first + 1, node)])
            out = base + NUM_INPUTS + NUM_EDGES
            edges.extend((base + NUM_INPUTS + e, out) for e in range(NUM_EDGES))
        return ArchGraph(tuple(labels), tuple(sorted(set(edges))), tuple(groups))


def _check_size(C: int, layers: int) -> None:
    if isinstance(C, bool) or not isinstance(C, int) or C < 2 or C % 2:
        raise ArchitectureError(f"darts needs an even C >= 2 (initial channels), got C={C!r}")
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ArchitectureError(f"darts needs layers >= 1, got layers={layers!r}")
