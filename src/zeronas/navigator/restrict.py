"""A space shrunk by the user: some options excluded, some slots pinned to one option.

:class:`Restriction` is an immutable value (the allowed options of every slot) with the four
steering edits (exclude, include, pin, unpin); an edit that would leave a slot with no option
is an error, so a restriction is never empty. :class:`RestrictedSpace` wraps a space so that
``sample`` and ``mutate`` only ever produce allowed architectures: the searcher keeps running
unchanged, inside the smaller space, drawing from its own seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from torch import nn

from zeronas.errors import ZeronasError
from zeronas.navigator.encoding import SlotEncoding
from zeronas.search.base import SpaceExhausted
from zeronas.spaces.base import ArchGraph, Space

A = TypeVar("A")

MAX_TRIES = 64
"""Draws of the wrapped space's ``sample``/``mutate`` before falling back to a repair."""


class SteerError(ZeronasError):
    """A steering request that cannot be applied; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Restriction:
    """The allowed options of each slot of a :class:`SlotEncoding` (never empty)."""

    encoding: SlotEncoding
    allowed: tuple[frozenset[str], ...]

    @classmethod
    def full(cls, encoding: SlotEncoding) -> Restriction:
        """Every option of every slot allowed (the whole space)."""
        return cls(encoding, tuple(frozenset(o) for o in encoding.options))

    # ------------------------------------------------------------------ edits
    def slot(self, slot: Any) -> int:
        """Check a slot index from a request (an int in range, or its label)."""
        enc = self.encoding
        if isinstance(slot, str) and slot in enc.slots:
            return enc.slots.index(slot)
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < len(enc.slots):
            raise SteerError(
                f"edge {slot!r} is not valid: expected an integer 0..{len(enc.slots) - 1} or "
                f"one of {', '.join(enc.slots)}")
        return slot

    def option(self, slot: int, op: Any) -> str:
        """Check an option name of ``slot`` from a request."""
        opts = self.encoding.options[slot]
        if not isinstance(op, str) or op not in opts:
            raise SteerError(
                f"op {op!r} is not valid on edge {self.encoding.slots[slot]}: expected one of "
                f"{', '.join(opts)}")
        return op

    def _with(self, slot: int, allowed: frozenset[str], what: str) -> Restriction:
        if not allowed:
            raise SteerError(
                f"{what} would leave edge {self.encoding.slots[slot]} with no operation: the "
                "restricted space would be empty", status=409)
        new = list(self.allowed)
        new[slot] = allowed
        return Restriction(self.encoding, tuple(new))

    def exclude(self, slot: Any, op: Any) -> Restriction:
        """``op`` no longer allowed on ``slot``."""
        s = self.slot(slot)
        o = self.option(s, op)
        return self._with(s, self.allowed[s] - {o}, f"excluding {o!r}")

    def include(self, slot: Any, op: Any) -> Restriction:
        """``op`` allowed again on ``slot``."""
        s = self.slot(slot)
        o = self.option(s, op)
        return self._with(s, self.allowed[s] | {o}, f"including {o!r}")

    def pin(self, slot: Any, op: Any) -> Restriction:
        """Only ``op`` allowed on ``slot``."""
        s = self.slot(slot)
        o = self.option(s, op)
        return self._with(s, frozenset({o}), f"pinning {o!r}")

    def unpin(self, slot: Any, op: Any = None) -> Restriction:
        """Every option allowed again on ``slot`` (``op`` is ignored)."""
        s = self.slot(slot)
        return self._with(s, frozenset(self.encoding.options[s]), "unpinning")

    # ------------------------------------------------------------------ queries
    def allows(self, arch: Any) -> bool:
        """Whether every slot of ``arch`` holds an allowed option."""
        return all(c in ok for c, ok in zip(self.encoding.decode(arch), self.allowed,
                                             strict=True))

    def violations(self, arch: Any) -> list[str]:
        """``"op on edge"`` for every slot of ``arch`` holding an option not allowed."""
        return [f"{c} on edge {label}" for c, ok, label in
                zip(self.encoding.decode(arch), self.allowed, self.encoding.slots, strict=True)
                if c not in ok]

    @property
    def size(self) -> int:
        """Number of architectures the restriction allows."""
        return math.prod(len(a) for a in self.allowed)

    @property
    def is_full(self) -> bool:
        return all(len(a) == len(o) for a, o in zip(self.allowed, self.encoding.options,
                                                    strict=True))

    def to_json(self) -> list[list[str]]:
        """The allowed options of each slot, in the space's option order."""
        return [[o for o in opts if o in ok]
                for opts, ok in zip(self.encoding.options, self.allowed, strict=True)]

    def _pick(self, slot: int, rng: np.random.Generator) -> str:
        ok = [o for o in self.encoding.options[slot] if o in self.allowed[slot]]
        return ok[int(rng.integers(len(ok)))]

    def repair(self, arch: Any, rng: np.random.Generator) -> Any:
        """``arch`` with every disallowed slot replaced by a uniformly drawn allowed option."""
        choices = [c if c in ok else self._pick(s, rng)
                   for s, (c, ok) in enumerate(zip(self.encoding.decode(arch), self.allowed,
                                                   strict=True))]
        return self.encoding.encode(choices)


class RestrictedSpace(Space[A]):
    """``base`` limited to the architectures a :class:`Restriction` allows.

    ``sample`` draws from ``base.sample`` until an allowed architecture comes (uniform over the
    restricted space, as rejection sampling is), repairing the last draw after
    :data:`MAX_TRIES`; ``mutate`` first repairs a disallowed parent (the repair is the
    mutation), else draws ``base.mutate`` until an allowed child comes, else picks among the
    allowed neighbours, and raises :class:`SpaceExhausted` when there is none (a restriction
    of a single architecture). Every random number comes from the caller's ``rng``.
    Everything else (strings, networks, graphs, benchmark index) is the base space's.
    """

    def __init__(self, base: Space[A], restriction: Restriction) -> None:
        self.base = base
        self.restriction = restriction
        self.name = base.name
        self.description = base.description
        self.datasets = base.datasets  # type: ignore[misc]

    def __getattr__(self, item: str) -> Any:
        # options of the wrapped space (C, N, ops, ...) read through
        if item in ("base", "restriction"):
            raise AttributeError(item)
        return getattr(self.base, item)

    def sample(self, rng: np.random.Generator) -> A:
        arch = self.base.sample(rng)
        for _ in range(MAX_TRIES - 1):
            if self.restriction.allows(arch):
                return arch
            arch = self.base.sample(rng)
        return arch if self.restriction.allows(arch) else self.restriction.repair(arch, rng)

    def mutate(self, arch: A, rng: np.random.Generator) -> A:
        r = self.restriction
        if not r.allows(arch):
            return r.repair(arch, rng)
        for _ in range(MAX_TRIES):
            child = self.base.mutate(arch, rng)
            if r.allows(child):
                return child
        options = self.neighbours(arch)
        if not options:
            raise SpaceExhausted(
                f"the restricted {self.name} space has a single architecture "
                f"({self.base.to_str(arch)}): nothing to mutate to")
        return options[int(rng.integers(len(options)))]

    def neighbours(self, arch: A) -> list[A]:
        return [n for n in self.base.neighbours(arch) if self.restriction.allows(n)]

    def to_str(self, arch: A) -> str:
        return self.base.to_str(arch)

    def from_str(self, text: str) -> A:
        return self.base.from_str(text)

    def to_torch(self, arch: A, **kwargs: Any) -> nn.Module:
        return self.base.to_torch(arch, **kwargs)

    def to_graph(self, arch: A) -> ArchGraph:
        return self.base.to_graph(arch)

    def network_for(self, arch: A, dataset: str) -> nn.Module:
        return self.base.network_for(arch, dataset)

    def canonical(self, arch: A) -> Any:
        return self.base.canonical(arch)

    @property
    def finite(self) -> bool:
        return self.base.finite

    def __len__(self) -> int:
        """Number of allowed architectures (not the base space's size)."""
        return self.restriction.size

    def __getitem__(self, index: int) -> A:
        """The base space's architecture at benchmark ``index`` (indices stay the benchmark's)."""
        return self.base[index]

    def index(self, arch: A) -> int:
        return self.base.index(arch)

    def __iter__(self) -> Iterator[A]:
        """The allowed architectures, in the benchmark's order."""
        return (a for a in self.base if self.restriction.allows(a))
