"""The search-space protocol shared by every space, and the space registry.

An architecture is an immutable, hashable value (a genotype). A space makes, checks, prints,
parses and mutates those values, and builds a fresh ``torch.nn.Module`` from one on demand:
the network never *is* the architecture.
"""

from __future__ import annotations

import fnmatch
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from zeronas.errors import ArchitectureError, unknown_name

A = TypeVar("A")


@dataclass(frozen=True)
class DatasetInfo:
    """What a network for one dataset (or task) looks like: classes and the per-sample input
    shape (``(C, H, W)``, or e.g. ``(tiles, C, H, W)`` for a jigsaw task).

    The defaults describe an image classifier. Other tasks set ``output_shape`` (the
    per-sample network output; default ``(num_classes,)``), ``loss`` (the training loss that
    gradient proxies use, a name in :data:`zeronas.spaces.tasks.LOSSES`) and ``target`` (what
    that loss compares against, a name in :data:`zeronas.spaces.tasks.TARGETS`).
    """

    name: str
    num_classes: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None = None
    loss: str = "cross_entropy"
    target: str = "class"

    @property
    def out_shape(self) -> tuple[int, ...]:
        """The per-sample output shape of the network: ``output_shape`` or ``(num_classes,)``."""
        return self.output_shape if self.output_shape is not None else (self.num_classes,)


@dataclass(frozen=True)
class ArchGraph:
    """A node-labelled DAG of an architecture, for graph predictors.

    ``ops[i]`` is the label of node ``i`` (operators plus ``input``/``output`` and any other
    structural nodes); ``edges`` are ``(source, target)`` pairs with ``source < target`` in a
    topological order. ``groups`` optionally names which sub-graph (e.g. ``normal`` or
    ``reduce`` cell) each node belongs to.

    ``costs`` optionally gives each node's multiply-adds per pixel of the network input, for
    spaces where the label alone does not fix a node's size (a macro skeleton, whose blocks
    run at different widths and resolutions). Without it the cost of a node comes from its
    label (see :mod:`zeronas.predictors.tgnas.cost`). For a cell that runs at the input
    resolution the two agree: a convolution's multiply-adds per output pixel are its weights.
    """

    ops: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    groups: tuple[str, ...] | None = None
    costs: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.ops)
        for s, t in self.edges:
            if not (0 <= s < t < n):
                raise ArchitectureError(
                    f"graph edge ({s}, {t}) is invalid for {n} nodes: expected 0 <= source < target"
                )
        if self.groups is not None and len(self.groups) != n:
            raise ArchitectureError(f"graph has {n} nodes but {len(self.groups)} group labels")
        if self.costs is not None:
            if len(self.costs) != n:
                raise ArchitectureError(f"graph has {n} nodes but {len(self.costs)} costs")
            bad = [c for c in self.costs if not (math.isfinite(c) and c >= 0)]
            if bad:
                raise ArchitectureError(
                    f"graph node costs must be finite and >= 0, got {bad[0]!r}"
                )

    def adjacency(self) -> np.ndarray:
        """Dense adjacency matrix ``a[source, target] = 1``."""
        a = np.zeros((len(self.ops), len(self.ops)), dtype=np.float32)
        for s, t in self.edges:
            a[s, t] = 1.0
        return a


def network_node_costs(
    space: Space[Any], arch: Any, owners: dict[str, int], n_nodes: int,
    input_shape: tuple[int, ...], **network_options: Any,
) -> tuple[float, ...]:
    """``ArchGraph.costs`` read off the network itself: ``space.to_torch(arch)`` is built on
    the meta device (no memory; the global random state is left as it was) and each node's
    cost is the multiply-adds of the submodules ``owners`` assigns to it, per pixel of an
    input of ``input_shape`` (:func:`zeronas.hardware.measures.node_costs`)."""
    from zeronas.hardware.measures import node_costs

    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        net = space.to_torch(arch, **network_options)
    return node_costs(net, input_shape, owners, n_nodes)


class Space(ABC, Generic[A]):
    """A search space: makes and handles architecture values of type ``A``.

    Subclasses set ``name`` and ``datasets`` (the datasets the benchmark trained on, with the
    network's input shape and classes). Finite spaces also implement ``__len__``,
    ``__getitem__`` (index to architecture, in the benchmark's own order) and ``index``.
    """

    name: str = ""
    description: str = ""
    datasets: ClassVar[dict[str, DatasetInfo]] = {}
    graph_family: ClassVar[str] = ""
    """Names the graphs this space shares with other spaces: spaces with the same non-empty
    ``graph_family`` give *identical* :meth:`to_graph` graphs for corresponding architectures
    (NB201 cells and TransNAS-Bench-101 micro cells: ``"nb201-cell"``), so a graph predictor
    cannot tell them apart, and one of them is never an unseen space for a predictor trained
    on the other (see :func:`zeronas.predictors.tgnas.transfer.graph_families`). Empty: the
    space shares its graphs with no other."""

    # --- making architectures -------------------------------------------------------------
    @abstractmethod
    def sample(self, rng: np.random.Generator) -> A:
        """A uniformly random architecture, drawn from ``rng`` only."""

    @abstractmethod
    def mutate(self, arch: A, rng: np.random.Generator) -> A:
        """A random neighbour of ``arch`` (one component changed), different from ``arch``."""

    @abstractmethod
    def neighbours(self, arch: A) -> list[A]:
        """All architectures one mutation away from ``arch``."""

    # --- strings ----------------------------------------------------------------------------
    @abstractmethod
    def to_str(self, arch: A) -> str:
        """The benchmark's canonical string of ``arch``."""

    @abstractmethod
    def from_str(self, text: str) -> A:
        """Parse the benchmark's canonical string; raise ArchitectureError when malformed."""

    # --- networks and graphs ----------------------------------------------------------------
    @abstractmethod
    def to_torch(self, arch: A, **kwargs: Any) -> nn.Module:
        """A freshly initialised network for ``arch``, built as the benchmark trained it."""

    @abstractmethod
    def to_graph(self, arch: A) -> ArchGraph:
        """A node-labelled DAG of ``arch``."""

    def dataset(self, name: str) -> DatasetInfo:
        """The :class:`DatasetInfo` of ``name``; raise UnknownNameError for an unknown one."""
        try:
            return self.datasets[name]
        except KeyError:
            raise unknown_name(f"dataset of space {self.name!r}", name, self.datasets) from None

    def network_for(self, arch: A, dataset: str) -> nn.Module:
        """The network of ``arch`` sized for ``dataset`` (its number of classes)."""
        return self.to_torch(arch, num_classes=self.dataset(dataset).num_classes)

    def canonical(self, arch: A) -> Any:
        """A key equal for architectures that compute the same function (default: itself)."""
        return arch

    # --- finite spaces ----------------------------------------------------------------------
    @property
    def finite(self) -> bool:
        """Whether the space can be enumerated in the benchmark's index order."""
        return False

    def __len__(self) -> int:
        raise TypeError(f"space {self.name!r} is not finite")

    def __getitem__(self, index: int) -> A:
        raise TypeError(f"space {self.name!r} is not finite")

    def index(self, arch: A) -> int:
        """The benchmark index of ``arch`` (finite spaces only)."""
        raise TypeError(f"space {self.name!r} is not finite")

    def __iter__(self) -> Iterator[A]:
        for i in range(len(self)):
            yield self[i]

    def parse(self, text: str) -> A:
        """Parse either the canonical string or, for finite spaces, a decimal index."""
        text = text.strip()
        if self.finite and text.isdigit():
            return self[int(text)]
        return self.from_str(text)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# --------------------------------------------------------------------------- registry
_SPACES: dict[str, Callable[..., Space[Any]]] = {}


def register_space(name: str) -> Callable[[Callable[..., Space[Any]]], Callable[..., Space[Any]]]:
    """Decorator registering a space factory under ``name`` (warns when it replaces one)."""

    def deco(factory: Callable[..., Space[Any]]) -> Callable[..., Space[Any]]:
        if name in _SPACES and _SPACES[name] is not factory:
            warnings.warn(f"space {name!r} registered twice; the later one wins", stacklevel=2)
        _SPACES[name] = factory
        return factory

    return deco


def list_spaces(pattern: str = "*") -> list[str]:
    """Registered space names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _SPACES if fnmatch.fnmatch(n, pattern))


def get_space(name: str, **kwargs: Any) -> Space[Any]:
    """A new space object by registered name; ``kwargs`` go to the space's constructor."""
    try:
        factory = _SPACES[name]
    except KeyError:
        raise unknown_name("space", name, _SPACES) from None
    return factory(**kwargs)


def check_index(index: int, size: int, space: str) -> int:
    """Validate a benchmark index, raising ArchitectureError outside ``[0, size)``."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise ArchitectureError(f"index {index!r} for space {space!r} must be an integer")
    if not 0 <= int(index) < size:
        raise ArchitectureError(
            f"index {index} is out of range for space {space!r}: expected 0..{size - 1}"
        )
    return int(index)


def choose_other(options: Sequence[str], current: str, rng: np.random.Generator) -> str:
    """A uniformly random element of ``options`` other than ``current``."""
    others = [o for o in options if o != current]
    return others[int(rng.integers(len(others)))]
