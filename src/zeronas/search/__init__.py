"""Zero-shot search: ask/tell searchers (random, regularized evolution), supernet pruning
(TE-NAS style), objectives aggregated by rank, hardware constraints checked before scoring.

The entry point is :func:`run_search`; see DESIGN.md (``search/``).
"""

from zeronas.search.base import (
    Searcher,
    SearchError,
    SpaceExhausted,
    list_searchers,
    make_searcher,
    register_searcher,
)
from zeronas.search.constraints import ConstraintChecker, Constraints
from zeronas.search.evolution import RegularizedEvolution
from zeronas.search.objective import DEFAULT_OBJECTIVE, Objective
from zeronas.search.prune import PruneSearch
from zeronas.search.random import RandomSearch
from zeronas.search.run import (
    DEFAULT_BUDGET,
    DEFAULT_SEARCHER,
    SearchResult,
    SearchWarning,
    run_search,
    searcher_options,
)

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_OBJECTIVE",
    "DEFAULT_SEARCHER",
    "ConstraintChecker",
    "Constraints",
    "Objective",
    "PruneSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "SearchError",
    "SearchResult",
    "SearchWarning",
    "Searcher",
    "SpaceExhausted",
    "list_searchers",
    "make_searcher",
    "register_searcher",
    "run_search",
    "searcher_options",
]
