"""Random search: uniform samples of the space, without repeats."""

from __future__ import annotations

from typing import Any, TypeVar

from zeronas.search.base import Searcher, SpaceExhausted, register_searcher
from zeronas.spaces.base import Space

A = TypeVar("A")

MAX_DRAWS = 1000
"""Draws per :meth:`RandomSearch.ask` before a non-finite space counts as exhausted."""


@register_searcher("random")
class RandomSearch(Searcher[A]):
    """Uniform random sampling (``space.sample``) that never proposes an architecture twice.

    An architecture is "seen" once asked (told or rejected), keyed by its canonical string
    (``space.to_str``). In a finite space, once most of it has been seen the remaining
    architectures are drawn uniformly from an explicit list, so asking never stalls; when
    all of it has been seen, :meth:`ask` raises :class:`SpaceExhausted`. In an infinite space
    :meth:`ask` gives up after ``MAX_DRAWS`` draws that are all repeats.
    """

    name = "random"

    def __init__(self, space: Space[A], seed: int = 0) -> None:
        super().__init__(space, seed)
        self._seen: set[str] = set()
        self._remaining: list[A] | None = None

    def ask(self) -> A:
        space = self.space
        if space.finite and self._remaining is None and len(self._seen) >= 0.5 * len(space):
            # sample the rest from an explicit list: rejection sampling would slow down
            self._remaining = [a for a in space if space.to_str(a) not in self._seen]
        if self._remaining is not None:
            while self._remaining:
                i = int(self.rng.integers(len(self._remaining)))
                arch = self._remaining[i]
                self._remaining[i] = self._remaining[-1]
                self._remaining.pop()
                key = space.to_str(arch)
                if key not in self._seen:
                    self._seen.add(key)
                    return arch
            raise SpaceExhausted(
                f"random search has proposed all {len(space)} architectures of {space.name!r}"
            )
        for _ in range(MAX_DRAWS):
            arch = space.sample(self.rng)
            key = space.to_str(arch)
            if key not in self._seen:
                self._seen.add(key)
                return arch
        raise SpaceExhausted(
            f"random search drew {MAX_DRAWS} architectures of {space.name!r} in a row that "
            "had all been proposed before"
        )

    def tell(self, arch: A, score: float) -> None:
        self._seen.add(self.space.to_str(arch))

    def reject(self, arch: A) -> None:
        self._seen.add(self.space.to_str(arch))

    def hyperparameters(self) -> dict[str, Any]:
        return {"seed": self.seed, "repeats": False}
