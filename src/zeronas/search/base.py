"""The searcher protocol (ask/tell) and the searcher registry.

A searcher proposes architectures and learns from their scores; it never scores anything
itself. The driver (:func:`zeronas.search.run.run_search`) owns everything else: the
objective, the hardware constraints, the score store, the budget. One step of a search::

    arch = searcher.ask()            # propose
    # the driver checks the constraints (cheap first) and either
    searcher.reject(arch)            # ... over budget: never scored
    # or scores it and
    searcher.tell(arch, score)       # ... higher is better

When the objective aggregates several proxies by rank, the score of an architecture depends
on the pool evaluated so far, so after every evaluation the driver also calls
``searcher.rescore(score_of)`` with the current scores of every architecture evaluated;
searchers that keep scores (evolution's population) refresh them there.

Each searcher owns a :class:`numpy.random.Generator` made from its ``seed`` and draws from
it only, so the same seed (and the same scores) gives the same sequence of proposals.
"""

from __future__ import annotations

import fnmatch
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

from zeronas.errors import ZeronasError, unknown_name
from zeronas.spaces.base import Space

A = TypeVar("A")


class SearchError(ZeronasError):
    """A search that cannot run or cannot finish as asked (bad options, impossible budget)."""


class SpaceExhausted(SearchError):
    """Raised by :meth:`Searcher.ask` when a finite space has nothing left to propose."""


class Searcher(ABC, Generic[A]):
    """An ask/tell searcher over a :class:`~zeronas.spaces.base.Space`.

    Subclasses set ``name`` and implement :meth:`ask` and :meth:`tell`; they draw every
    random number from ``self.rng`` (seeded with ``seed``), never from a global RNG.
    """

    name: str = ""

    def __init__(self, space: Space[A], seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SearchError(f"searcher seed must be a non-negative integer, got {seed!r}")
        self.space = space
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    @abstractmethod
    def ask(self) -> A:
        """The next architecture to evaluate.

        Called by the driver whenever it has budget left. May return an architecture that
        was already told (the driver answers it from its cache without spending budget);
        raises :class:`SpaceExhausted` when a finite space has nothing new left.
        """

    @abstractmethod
    def tell(self, arch: A, score: float) -> None:
        """Report the objective value of ``arch`` (higher is better; NaN for a failure).

        Called once for each architecture :meth:`ask` returned that was within the
        constraints, after it was scored (or looked up when it had been scored before).
        """

    def reject(self, arch: A) -> None:
        """Report that ``arch`` (returned by :meth:`ask`) violates a hardware constraint.

        It is never scored and never told. The default does nothing.
        """

    def rescore(self, score_of: Callable[[A], float]) -> None:
        """Refresh any stored scores with ``score_of(arch)`` (the current objective).

        Called after every evaluation when the objective is pool-relative (rank
        aggregation), because the ranks of earlier architectures change as the pool grows.
        The default does nothing.
        """

    def hyperparameters(self) -> dict[str, Any]:
        """The searcher's settings, for the result's protocol."""
        return {"seed": self.seed}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({opts})"


# --------------------------------------------------------------------------- registry
_SEARCHERS: dict[str, Callable[..., Any]] = {}


def register_searcher(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a searcher factory ``factory(space, seed, **options)``."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _SEARCHERS and _SEARCHERS[name] is not factory:
            warnings.warn(f"searcher {name!r} registered twice; the later one wins",
                          stacklevel=2)
        _SEARCHERS[name] = factory
        return factory

    return deco


def list_searchers(pattern: str = "*") -> list[str]:
    """Registered searcher names matching a shell-style ``pattern``, sorted."""
    _load_builtins()
    return sorted(n for n in _SEARCHERS if fnmatch.fnmatch(n, pattern))


def get_searcher_factory(name: str) -> Callable[..., Any]:
    """The factory registered as ``name`` (close matches suggested if unknown)."""
    _load_builtins()
    try:
        return _SEARCHERS[name]
    except KeyError:
        raise unknown_name("searcher", name, _SEARCHERS) from None


def make_searcher(name: str, space: Space[Any], seed: int = 0, **options: Any) -> Any:
    """A new searcher by registered name; ``options`` are its hyper-parameters.

    An unknown option raises :class:`SearchError` naming the valid ones.
    """
    factory = get_searcher_factory(name)
    try:
        return factory(space, seed, **options)
    except TypeError as exc:
        import inspect

        params = [p for p in inspect.signature(factory).parameters if p not in ("space", "seed")]
        raise SearchError(
            f"searcher {name!r} got invalid options {sorted(options)}: {exc}; its options are "
            f"{', '.join(params) or 'none'}"
        ) from None


def _load_builtins() -> None:
    # importing the modules registers the built-in searchers
    from zeronas.search import evolution, prune, random  # noqa: F401
