"""NAS-Bench-101 cell space (``nb101``; Ying et al., ICML 2019).

A cell is a DAG of at most 7 vertices given by an upper-triangular 0/1 adjacency matrix and one
label per vertex: ``input`` first, ``output`` last, and ``conv3x3-bn-relu``,
``conv1x1-bn-relu`` or ``maxpool3x3`` in between; at most 9 edges. As in the benchmark's
``ModelSpec``, vertices that are not on a path from input to output are pruned away before
anything else happens: an :class:`NB101Arch` always holds the *pruned* spec, and two specs
that prune to isomorphic graphs share the benchmark's graph hash (:func:`graph_hash`, the
iterative MD5 hash of ``graph_util.hash_module``), which is the space's :meth:`canonical` key.

The string form is JSON, ``{"matrix":[[0,1,...],...],"ops":["input",...,"output"]}``, printed
compactly (no spaces) for the pruned spec. Parsing accepts any spacing and unpruned matrices.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from zeronas.errors import ArchitectureError
from zeronas.spaces.base import ArchGraph, DatasetInfo, Space, choose_other, network_node_costs

INPUT = "input"
OUTPUT = "output"
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
"""Interior vertex labels, in the benchmark's ``available_ops`` order (used by the hash)."""
MAX_VERTICES = 7
MAX_EDGES = 9
BN_MOMENTUM = 0.003
"""PyTorch momentum of the benchmark's TF batch norm (TF decay 0.997)."""
BN_EPS = 1e-5

Matrix = tuple[tuple[int, ...], ...]


# --------------------------------------------------------------------------- specs
def _as_matrix(matrix: Any, where: str) -> list[list[int]]:
    """Validate a square 0/1 upper-triangular matrix given as nested sequences or an array."""
    if isinstance(matrix, np.ndarray):
        matrix = matrix.tolist()
    if not isinstance(matrix, (list, tuple)) or not all(
        isinstance(row, (list, tuple)) for row in matrix
    ):
        raise ArchitectureError(f"NB101 {where}: matrix must be a list of rows, got {matrix!r}")
    n = len(matrix)
    if not 2 <= n <= MAX_VERTICES:
        raise ArchitectureError(
            f"NB101 {where}: matrix has {n} rows; expected 2..{MAX_VERTICES} vertices"
        )
    rows: list[list[int]] = []
    for i, row in enumerate(matrix):
        if len(row) != n:
            raise ArchitectureError(
                f"NB101 {where}: matrix must be square ({n}x{n}), row {i} has {len(row)} entries"
            )
        for j, x in enumerate(row):
            if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x not in (0, 1):
                raise ArchitectureError(
                    f"NB101 {where}: matrix entry [{i}][{j}] is {x!r}; expected 0 or 1"
                )
            if x and j <= i:
                raise ArchitectureError(
                    f"NB101 {where}: matrix is not upper-triangular (entry [{i}][{j}] is 1; "
                    "edges must go from a vertex to a later one, no self loops)"
                )
        rows.append([int(x) for x in row])
    return rows


def _as_ops(ops: Any, n: int, where: str) -> list[str]:
    if not isinstance(ops, (list, tuple)) or not all(isinstance(o, str) for o in ops):
        raise ArchitectureError(f"NB101 {where}: ops must be a list of strings, got {ops!r}")
    if len(ops) != n:
        raise ArchitectureError(
            f"NB101 {where}: {len(ops)} ops for a {n}x{n} matrix; expected one op per vertex"
        )
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ArchitectureError(
            f"NB101 {where}: the first op must be {INPUT!r} and the last {OUTPUT!r}, "
            f"got {ops[0]!r} ... {ops[-1]!r}"
        )
    for i, op in enumerate(ops[1:-1], start=1):
        if op not in OPS:
            raise ArchitectureError(
                f"unknown NB101 op {op!r} at vertex {i} ({where}): expected one of "
                f"{', '.join(OPS)}"
            )
    return list(ops)


def prune(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> tuple[Matrix, tuple[str, ...]]:
    """Remove the vertices that are not on a path from input to output (as the benchmark's
    ``ModelSpec`` does) and return the pruned matrix and ops.

    Raises ArchitectureError when there is no path from input to output at all.
    """
    n = len(ops)
    from_input = {0}
    frontier = [0]
    while frontier:
        v = frontier.pop()
        for w in range(v + 1, n):
            if matrix[v][w] and w not in from_input:
                from_input.add(w)
                frontier.append(w)
    to_output = {n - 1}
    frontier = [n - 1]
    while frontier:
        v = frontier.pop()
        for w in range(v):
            if matrix[w][v] and w not in to_output:
                to_output.add(w)
                frontier.append(w)
    keep = sorted(from_input & to_output)
    if len(keep) < 2:
        raise ArchitectureError("NB101 spec has no path from input to output")
    pruned = tuple(tuple(int(matrix[i][j]) for j in keep) for i in keep)
    return pruned, tuple(ops[i] for i in keep)


def graph_hash(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """The benchmark's isomorphism-invariant hash of a (pruned) spec, as a hex MD5 string.

    Each vertex starts from the MD5 of ``str((out_degree, in_degree, label))`` with label -1
    for input, -2 for output and the op's index in :data:`OPS` otherwise; then, as many rounds
    as there are vertices, each vertex hashes the sorted hashes of its in-neighbours, ``|``,
    the sorted hashes of its out-neighbours, ``|`` and its own hash; the fingerprint is the MD5
    of ``str`` of the sorted vertex hashes. This is the key of the benchmark's tables.
    """
    n = len(ops)
    labels = [-1] + [OPS.index(op) for op in ops[1:-1]] + [-2]
    in_deg = [sum(int(matrix[s][t]) for s in range(n)) for t in range(n)]
    out_deg = [sum(int(x) for x in matrix[s]) for s in range(n)]

    def md5(text: str) -> str:
        return hashlib.md5(text.encode("utf-8")).hexdigest()

    hashes = [md5(str((out_deg[v], in_deg[v], labels[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [
            md5(
                "".join(sorted(hashes[w] for w in range(n) if matrix[w][v]))
                + "|"
                + "".join(sorted(hashes[w] for w in range(n) if matrix[v][w]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return md5(str(sorted(hashes)))


@dataclass(frozen=True)
class NB101Arch:
    """A pruned NB101 spec: adjacency ``matrix`` (tuple of row tuples) and vertex ``ops``.

    Immutable and hashable; equality is equality of the pruned spec (use :meth:`spec_hash`
    for isomorphism). The constructor only accepts specs that are already pruned and valid;
    :meth:`create` prunes (and validates) any matrix the benchmark accepts.
    """

    matrix: Matrix
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.matrix, tuple) or not all(
            isinstance(r, tuple) for r in self.matrix
        ) or not isinstance(self.ops, tuple):
            raise ArchitectureError(
                "NB101Arch needs a tuple of row tuples and a tuple of ops; use "
                "NB101Arch.create(matrix, ops) for lists or arrays"
            )
        rows = _as_matrix(self.matrix, "spec")
        _as_ops(self.ops, len(rows), "spec")
        pruned, _ = prune(rows, self.ops)
        if len(pruned) != len(rows):
            raise ArchitectureError(
                "NB101Arch holds pruned specs only, but this matrix has vertices off every "
                "input-to-output path; use NB101Arch.create(matrix, ops), which prunes them"
            )
        if tuple(tuple(r) for r in rows) != self.matrix:
            raise ArchitectureError("NB101Arch matrix entries must be plain ints 0 or 1")
        edges = sum(map(sum, rows))
        if edges > MAX_EDGES:
            raise ArchitectureError(
                f"NB101 spec has {edges} edges after pruning; the benchmark allows at most "
                f"{MAX_EDGES}"
            )

    @classmethod
    def create(cls, matrix: Any, ops: Any, where: str = "spec") -> NB101Arch:
        """Validate ``matrix``/``ops`` (any spec the benchmark accepts), prune, and build."""
        rows = _as_matrix(matrix, where)
        op_list = _as_ops(ops, len(rows), where)
        try:
            pruned, pruned_ops = prune(rows, op_list)
        except ArchitectureError as exc:
            raise ArchitectureError(f"{exc} ({where})") from None
        edges = sum(map(sum, pruned))
        if edges > MAX_EDGES:
            raise ArchitectureError(
                f"NB101 {where} has {edges} edges after pruning; the benchmark allows at most "
                f"{MAX_EDGES}"
            )
        return cls(pruned, pruned_ops)

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.matrix))

    def spec_hash(self) -> str:
        """The benchmark's graph hash (equal for isomorphic cells)."""
        return graph_hash(self.matrix, self.ops)

    def __str__(self) -> str:
        return arch_to_str(self)


def arch_to_str(arch: NB101Arch) -> str:
    """Compact JSON of the pruned spec: ``{"matrix":[[...],...],"ops":[...]}``."""
    return json.dumps({"matrix": [list(r) for r in arch.matrix], "ops": list(arch.ops)},
                      separators=(",", ":"))


def arch_from_str(text: str) -> NB101Arch:
    """Parse the JSON form ``{"matrix": [[...]], "ops": [...]}`` (pruning as the benchmark
    does), with an error naming the input and what is wrong."""
    if not isinstance(text, str):
        raise ArchitectureError(f"an NB101 architecture string must be a str, got {text!r}")
    shown = text if len(text) <= 200 else text[:197] + "..."
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ArchitectureError(
            f"NB101 architecture {shown!r} is not JSON ({exc}); expected "
            '{"matrix": [[0,1,...],...], "ops": ["input",...,"output"]}'
        ) from None
    if not isinstance(obj, dict) or set(obj) != {"matrix", "ops"}:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise ArchitectureError(
            f"NB101 architecture {shown!r} must be a JSON object with exactly the keys "
            f"'matrix' and 'ops', got {keys}"
        )
    return NB101Arch.create(obj["matrix"], obj["ops"], where=f"architecture {shown!r}")


def compute_vertex_channels(c_in: int, c_out: int, matrix: Matrix) -> list[int]:
    """Channels of every vertex, as the benchmark computes them (``compute_vertex_channels``).

    The output's channels are split evenly over the vertices feeding it (the first ones get
    one extra channel when the split is uneven); every other interior vertex takes the largest
    channel count among the interior vertices it feeds.
    """
    n = len(matrix)
    channels = [0] * n
    channels[0], channels[-1] = c_in, c_out
    if n == 2:
        return channels
    fan_in = sum(matrix[v][n - 1] for v in range(1, n - 1))
    base, extra = divmod(c_out, fan_in)
    for v in range(1, n - 1):
        if matrix[v][n - 1]:
            channels[v] = base + (1 if extra > 0 else 0)
            extra -= 1 if extra > 0 else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            for w in range(v + 1, n - 1):
                if matrix[v][w]:
                    channels[v] = max(channels[v], channels[w])
        if channels[v] <= 0:
            raise ArchitectureError(
                f"NB101 cell with output {c_out} channels leaves vertex {v} with no channels"
            )
    return channels


# --------------------------------------------------------------------------- networks
class ConvBnRelu(nn.Sequential):
    """Conv (no bias, 'same' padding) -> BN (TF momentum 0.997, eps 1e-5) -> ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=False),
        )


def _vertex_op(op: str, channels: int) -> nn.Module:
    if op == "conv3x3-bn-relu":
        return ConvBnRelu(channels, channels, 3)
    if op == "conv1x1-bn-relu":
        return ConvBnRelu(channels, channels, 1)
    if op == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ArchitectureError(f"unknown NB101 op {op!r}: expected one of {', '.join(OPS)}")


class NB101Cell(nn.Module):
    """One NB101 module, built as the benchmark's ``build_module``.

    A vertex sums its inputs: interior predecessors (sliced to its channel count when they
    carry one extra channel) and, when fed by the cell input, a 1x1 conv-BN-ReLU projection of
    the input. The output concatenates the interior vertices feeding it, and adds a projection
    of the input when the input feeds the output directly (or is only that projection when no
    interior vertex feeds the output).
    """

    def __init__(self, arch: NB101Arch, c_in: int, c_out: int) -> None:
        super().__init__()
        m = arch.matrix
        n = len(m)
        self.matrix = m
        self.channels = compute_vertex_channels(c_in, c_out, m)
        self.projections = nn.ModuleDict(
            {str(t): ConvBnRelu(c_in, self.channels[t], 1) for t in range(1, n) if m[0][t]}
        )
        self.vertex_ops = nn.ModuleList(
            [nn.Identity()] + [_vertex_op(arch.ops[t], self.channels[t]) for t in range(1, n - 1)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, n = self.matrix, len(self.matrix)
        tensors = [x]
        for t in range(1, n - 1):
            width = self.channels[t]
            inputs = [tensors[s][:, :width] for s in range(1, t) if m[s][t]]
            if m[0][t]:
                inputs.append(self.projections[str(t)](x))
            total = inputs[0]
            for extra in inputs[1:]:
                total = total + extra
            tensors.append(self.vertex_ops[t](total))
        last = [tensors[t] for t in range(1, n - 1) if m[t][n - 1]]
        if not last:
            return self.projections[str(n - 1)](x)
        out = last[0] if len(last) == 1 else torch.cat(last, dim=1)
        if m[0][n - 1]:
            out = out + self.projections[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    """The NAS-Bench-101 network: 3x3 conv-BN-ReLU stem (128 channels), ``num_stacks`` stacks
    of ``num_modules`` cells with a 2x2 max-pool and doubled channels before every stack but
    the first, global average pooling and a dense layer (with bias). Returns logits."""

    def __init__(
        self, arch: NB101Arch, num_classes: int = 10, stem_channels: int = 128,
        num_stacks: int = 3, num_modules: int = 3,
    ) -> None:
        super().__init__()
        self.stem = ConvBnRelu(3, stem_channels, 3)
        layers: list[nn.Module] = []
        c_in = channels = stem_channels
        for stack in range(num_stacks):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))  # TF 'same' padding
                channels *= 2
            for _ in range(num_modules):
                layers.append(NB101Cell(arch, c_in, channels))
                c_in = channels
        self.layers = nn.Sequential(*layers)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.global_pooling(self.layers(self.stem(x))).flatten(1)
        return self.classifier(out)


def tf_init_(net: nn.Module) -> nn.Module:
    """Re-initialise ``net`` as the benchmark's TF code did: conv kernels from TF's
    ``variance_scaling_initializer()`` (fan-in, truncated normal at 2 std, std
    ``sqrt(1/fan_in)/0.8796``), dense kernels Glorot-uniform, biases zero, BN 1/0."""
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.weight[0].numel()
                std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
                nn.init.trunc_normal_(mod.weight, 0.0, std, -2 * std, 2 * std)
            elif isinstance(mod, nn.Linear):
                nn.init.xavier_uniform_(mod.weight)
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.BatchNorm2d) and mod.affine:
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)
    return net


# --------------------------------------------------------------------------- the space
class NB101Space(Space[NB101Arch]):
    """NAS-Bench-101: cells of up to 7 vertices and 9 edges, 3 ops, 423,624 unique graphs.

    ``stem_channels``, ``num_stacks`` and ``num_modules`` set the default network (benchmark:
    128, 3, 3). ``mutation`` picks :meth:`mutate`: ``"single"`` (default) one edit, uniform over
    :meth:`neighbours`; ``"benchmark"`` the benchmark's own mutation with ``mutation_rate``
    (see :meth:`mutate_benchmark`). Not finite here (the benchmark's own table is not
    shipped): ``len()`` raises TypeError.
    """

    name = "nb101"
    description = "NAS-Bench-101: 7-vertex cells, <= 9 edges, 3 ops, 423,624 unique graphs"
    datasets: ClassVar[dict[str, DatasetInfo]] = {
        "cifar10": DatasetInfo("cifar10", 10, (3, 32, 32)),
    }
    ops = OPS

    def __init__(
        self, stem_channels: int = 128, num_stacks: int = 3, num_modules: int = 3,
        mutation: str = "single", mutation_rate: float = 1.0,
    ) -> None:
        _check_size(stem_channels, num_stacks, num_modules)
        if mutation not in ("single", "benchmark"):
            raise ArchitectureError(
                f"nb101 mutation must be 'single' or 'benchmark', got {mutation!r}"
            )
        if not 0 < mutation_rate <= MAX_VERTICES - 2:
            raise ArchitectureError(f"nb101 mutation_rate must be in (0, 5], got {mutation_rate}")
        self.mutation = mutation
        self.stem_channels, self.num_stacks, self.num_modules = (
            stem_channels, num_stacks, num_modules,
        )
        self.mutation_rate = float(mutation_rate)

    @staticmethod
    def _check(arch: NB101Arch) -> NB101Arch:
        if not isinstance(arch, NB101Arch):
            raise ArchitectureError(f"expected an NB101Arch, got {type(arch).__name__}")
        return arch

    # -- values
    def sample(self, rng: np.random.Generator) -> NB101Arch:
        """The benchmark's random spec: every upper-triangular entry 0/1 with probability 1/2,
        every interior op uniform, redrawn until the pruned spec is valid (so the draw is
        uniform over valid 7-vertex specs, not over unique graphs)."""
        while True:
            bits = rng.integers(2, size=(MAX_VERTICES, MAX_VERTICES))
            matrix = np.triu(bits, 1).tolist()
            ops = [INPUT, *(OPS[int(i)] for i in rng.integers(len(OPS), size=MAX_VERTICES - 2)),
                   OUTPUT]
            try:
                return NB101Arch.create(matrix, ops)
            except ArchitectureError:
                continue

    def _padded(self, arch: NB101Arch, rng: np.random.Generator) -> tuple[list[list[int]],
                                                                         list[str]]:
        """``arch`` as a 7-vertex spec: isolated vertices (random ops) before the output."""
        n = arch.num_vertices
        pad = MAX_VERTICES - n
        matrix = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
        for i in range(n):
            for j in range(n):
                ii = i if i < n - 1 else MAX_VERTICES - 1
                jj = j if j < n - 1 else MAX_VERTICES - 1
                matrix[ii][jj] = arch.matrix[i][j]
        extra = [OPS[int(i)] for i in rng.integers(len(OPS), size=pad)] if pad else []
        ops = [*arch.ops[:-1], *extra, OUTPUT]
        return matrix, ops

    def mutate(self, arch: NB101Arch, rng: np.random.Generator) -> NB101Arch:
        """A random different cell: by default one edit, uniform over :meth:`neighbours` (so
        the result is one of them); with ``mutation="benchmark"``,
        :meth:`mutate_benchmark`."""
        if self.mutation == "benchmark":
            return self.mutate_benchmark(arch, rng)
        nbrs = self.neighbours(arch)
        return nbrs[int(rng.integers(len(nbrs)))]

    def mutate_benchmark(self, arch: NB101Arch, rng: np.random.Generator) -> NB101Arch:
        """The benchmark's mutation (its regularized-evolution example): on the 7-vertex spec
        (pruned vertices padded back as isolated ones with random ops), flip every edge with
        probability ``mutation_rate / 7`` and change every interior op with probability
        ``mutation_rate / 5``; redraw until the result is valid and is a different graph
        (another hash). May change more than one component."""
        self._check(arch)
        own = arch.spec_hash()
        edge_p = self.mutation_rate / MAX_VERTICES
        op_p = self.mutation_rate / (MAX_VERTICES - 2)
        while True:
            matrix, ops = self._padded(arch, rng)
            for s in range(MAX_VERTICES - 1):
                for t in range(s + 1, MAX_VERTICES):
                    if rng.random() < edge_p:
                        matrix[s][t] = 1 - matrix[s][t]
            for v in range(1, MAX_VERTICES - 1):
                if rng.random() < op_p:
                    ops[v] = choose_other(OPS, ops[v], rng)
            try:
                child = NB101Arch.create(matrix, ops)
            except ArchitectureError:
                continue
            if child.spec_hash() != own:
                return child

    def neighbours(self, arch: NB101Arch) -> list[NB101Arch]:
        """Every valid cell one edit away, one per graph hash, without ``arch``'s own graph.

        An edit is one edge flip, one op change, or (when ``arch`` has fewer than 7 vertices)
        one new vertex of any op on a new path ``u -> new -> w`` between two existing vertices:
        the smallest change that can grow the cell, since a single edge to a pruned vertex
        would leave it dangling. The default :meth:`mutate` picks one of these uniformly;
        :meth:`mutate_benchmark` can change several components at once, so its result need
        not be in this list.
        """
        self._check(arch)
        n = arch.num_vertices
        seen = {arch.spec_hash()}
        out: list[NB101Arch] = []
        candidates: list[tuple[list[list[int]], list[str]]] = []
        for s in range(n - 1):
            for t in range(s + 1, n):
                matrix = [list(r) for r in arch.matrix]
                matrix[s][t] = 1 - matrix[s][t]
                candidates.append((matrix, list(arch.ops)))
        for v in range(1, n - 1):
            for op in OPS:
                if op != arch.ops[v]:
                    ops = list(arch.ops)
                    ops[v] = op
                    candidates.append(([list(r) for r in arch.matrix], ops))
        if n < MAX_VERTICES:
            for u in range(n - 1):
                for w in range(u + 1, n):
                    old = [i if i < w else i + 1 for i in range(n)]  # new vertex goes at w
                    matrix = [[0] * (n + 1) for _ in range(n + 1)]
                    for i in range(n):
                        for j in range(n):
                            matrix[old[i]][old[j]] = arch.matrix[i][j]
                    matrix[old[u]][w] = matrix[w][old[w]] = 1
                    for op in OPS:
                        candidates.append(([list(r) for r in matrix],
                                           [*arch.ops[:w], op, *arch.ops[w:]]))
        for matrix, ops in candidates:
            try:
                child = NB101Arch.create(matrix, ops)
            except ArchitectureError:
                continue
            h = child.spec_hash()
            if h not in seen:
                seen.add(h)
                out.append(child)
        return out

    def to_str(self, arch: NB101Arch) -> str:
        return arch_to_str(self._check(arch))

    def from_str(self, text: str) -> NB101Arch:
        return arch_from_str(text)

    def canonical(self, arch: NB101Arch) -> str:
        """The benchmark's graph hash: equal for isomorphic cells."""
        return self._check(arch).spec_hash()

    # -- networks
    def to_torch(
        self, arch: NB101Arch, num_classes: int = 10, stem_channels: int | None = None,
        num_stacks: int | None = None, num_modules: int | None = None, init: str = "torch",
        **kwargs: Any,
    ) -> nn.Module:
        """The benchmark's network for ``arch`` (defaults: the space's sizes, 128/3/3).

        ``init="torch"`` keeps PyTorch's default initialisation; ``init="tf"`` re-initialises
        as the benchmark's TensorFlow code did (:func:`tf_init_`)."""
        if kwargs:
            raise TypeError(f"nb101 to_torch got unexpected options: {sorted(kwargs)}")
        if init not in ("torch", "tf"):
            raise ArchitectureError(f"nb101 init must be 'torch' or 'tf', got {init!r}")
        self._check(arch)
        sizes = (
            self.stem_channels if stem_channels is None else stem_channels,
            self.num_stacks if num_stacks is None else num_stacks,
            self.num_modules if num_modules is None else num_modules,
        )
        _check_size(*sizes)
        net = NB101Network(arch, num_classes, *sizes)
        return tf_init_(net) if init == "tf" else net

    def to_graph(self, arch: NB101Arch) -> ArchGraph:
        """The pruned cell itself: vertex labels (``input``, ops, ``output``) and its edges.
        ``costs``: each vertex's multiply-adds per input pixel (32x32) summed over every cell
        of the network, its 1x1 input projection included (the widths of a vertex depend on
        the cell's shape, which the label cannot say); summed over the graph they are the
        network's multiply-adds less the stem and the classifier."""
        self._check(arch)
        n = arch.num_vertices
        edges = tuple((s, t) for s in range(n) for t in range(s + 1, n) if arch.matrix[s][t])
        owners: dict[str, int] = {}
        layer = 0
        for stack in range(self.num_stacks):
            layer += stack > 0  # the max-pool before every stack but the first
            for _ in range(self.num_modules):
                for t in range(1, n):
                    if arch.matrix[0][t]:
                        owners[f"layers.{layer}.projections.{t}"] = t
                    if t < n - 1:
                        owners[f"layers.{layer}.vertex_ops.{t}"] = t
                layer += 1
        costs = network_node_costs(self, arch, owners, n, (3, 32, 32))
        return ArchGraph(arch.ops, edges, costs=costs)


def _check_size(stem_channels: int, num_stacks: int, num_modules: int) -> None:
    for name, value, low in (("stem_channels", stem_channels, 1), ("num_stacks", num_stacks, 1),
                             ("num_modules", num_modules, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ArchitectureError(f"nb101 needs {name} >= {low}, got {value!r}")
