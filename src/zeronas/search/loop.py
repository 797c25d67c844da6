"""The ask/tell loop every ask/tell search runs: ``zeronas search`` and the navigator.

One step: the searcher proposes (``ask``), the driver answers a repeat from the pool, rejects
a candidate over a hardware budget before any proxy runs, and otherwise scores it and
``tell``s the searcher. :class:`AskTellLoop` does this until the budget is spent, and

- **in rounds** of ``parallel`` candidates (default 1, the classic sequential loop): the
  searcher is asked until ``parallel`` new admissible candidates are pending, they are scored
  together (on an :class:`~zeronas.execution.executor.Executor` when one is given, one task
  per architecture), then told in the order they were proposed. With ``parallel=k`` the
  result depends on ``k`` (an evolution step sees the population of the last round, as in
  batched evolution) but never on worker timing: it is deterministic for a given seed and
  ``k``. Random search proposes the same candidates for every ``k``.
- **with steering** (:class:`Steering`): hooks called before every proposal (wait while
  paused, stop), to inject a chosen architecture, to veto a proposal outside a restricted
  space, and after every evaluation (publish it). The navigator implements them; without
  steering the hooks do nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from zeronas.search.base import Searcher, SpaceExhausted
from zeronas.search.constraints import ConstraintChecker
from zeronas.search.objective import Objective
from zeronas.search.pareto import COSTS, pareto_fitness

if TYPE_CHECKING:
    from zeronas.execution.executor import Executor

MAX_OFF_RESTRICTION = 10_000
"""Consecutive proposals outside a steering restriction before the search gives up (a
searcher that keeps a list of candidates made before the restriction, e.g. random search,
drains it)."""


def default_caps(budget: int) -> tuple[int, int]:
    """``(max_rejected, max_repeats)`` for a budget: ``max(1000, 20 * budget)`` rejections
    and ``max(1000, 50 * budget)`` repeats (a converged population keeps re-proposing)."""
    return max(1000, 20 * budget), max(1000, 50 * budget)


@dataclass(frozen=True)
class Proposal:
    """A candidate on its way to being scored: ``step`` counts proposals so far (injected
    ones included); ``injected`` marks an architecture a person added."""

    arch: Any
    key: str
    step: int
    injected: bool = False


class Steering:
    """Hooks through which a caller steers a running search; this base class steers nothing.

    - :meth:`before_step` runs before every proposal and may block (a paused run); returning
      False ends the search with :attr:`stop_reason`.
    - :meth:`injection` may return ``(arch, key)`` to evaluate instead of asking the searcher
      (it is told to the searcher like any candidate).
    - :meth:`allows` vetoes a proposal (outside a restricted space): it is rejected to the
      searcher and never scored.
    - :meth:`extra` adds fields to an evaluation's history row; :meth:`evaluated` is called
      with the row and the current objective values after each evaluation.
    """

    stop_reason = "stopped by user"

    def before_step(self, steps: int) -> bool:
        """``steps``: proposals so far."""
        return True

    def injection(self) -> tuple[Any, str] | None:
        return None

    def allows(self, arch: Any) -> bool:
        return True

    def extra(self, proposal: Proposal) -> dict[str, Any]:
        return {}

    def evaluated(self, row: dict[str, Any], values: np.ndarray) -> None:
        return None


@dataclass
class AskTellLoop:
    """Runs ``searcher`` against ``objective`` until ``budget`` distinct architectures are in
    the pool (see the module docstring). :meth:`run` fills the public counters and
    ``history`` (one row per evaluation) and sets ``stopped``."""

    searcher: Searcher[Any]
    objective: Objective
    checker: ConstraintChecker
    budget: int
    truth_of: Callable[[str], float | None]
    costs: Sequence[str] = ()
    max_rejected: int = 1_000
    max_repeats: int = 1_000
    steering: Steering = field(default_factory=Steering)
    executor: Executor | None = None
    parallel: int = 1
    on_progress: Callable[[int, int], None] | None = None

    history: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    repeats: int = 0
    off_restriction: int = 0
    steps: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    cost_rows: list[list[float]] = field(default_factory=list)
    stopped: str = "budget"
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def score_of(self, arch: Any) -> float:
        """The current objective value of an evaluated architecture."""
        return float(self.values[self.objective.position(self.objective.space.to_str(arch))])

    def run(self) -> None:
        """Propose, check, score and tell until the budget is spent or the search stops."""
        obj, srch, steer = self.objective, self.searcher, self.steering
        space = obj.space
        rejected_keys: set[str] = set()
        off_streak = 0
        ended = False
        while len(obj) < self.budget and not ended:
            pending: list[Proposal] = []
            pending_keys: set[str] = set()
            again: list[Proposal] = []  # re-proposals of a pending candidate: told after it
            want = min(self.parallel, self.budget - len(obj))
            while len(pending) < want:
                if not steer.before_step(self.steps):
                    self.stopped, ended = steer.stop_reason, True
                    break
                injected = steer.injection()
                if injected is not None:
                    arch, key = injected
                else:
                    try:
                        arch = srch.ask()
                    except SpaceExhausted:
                        self.stopped, ended = "space exhausted", True
                        break
                    key = space.to_str(arch)
                self.steps += 1
                if not steer.allows(arch):  # proposed before the restriction changed
                    self.off_restriction += 1
                    off_streak += 1
                    if injected is None:
                        srch.reject(arch)
                    if off_streak >= MAX_OFF_RESTRICTION:
                        self.stopped, ended = "restriction cap", True
                        break
                    continue
                off_streak = 0
                if key in obj or key in pending_keys:  # answered from the pool: no budget
                    self.repeats += 1
                    if key in obj:
                        srch.tell(arch, self.score_of(arch))
                    else:
                        again.append(Proposal(arch, key, self.steps))
                    if self.repeats >= self.max_repeats:
                        self.stopped, ended = "repeat cap", True
                        break
                    continue
                reason = ("again (over budget)" if key in rejected_keys
                          else self.checker.check(arch, key))
                if reason is not None:
                    self.rejected += 1
                    rejected_keys.add(key)
                    kind = reason.split(" ")[0]
                    self.reasons[kind] = self.reasons.get(kind, 0) + 1
                    srch.reject(arch)
                    if self.rejected >= self.max_rejected:
                        self.stopped, ended = "rejection cap", True
                        break
                    continue
                pending.append(Proposal(arch, key, self.steps, injected is not None))
                pending_keys.add(key)
            self._evaluate(pending)
            for p in again:
                srch.tell(p.arch, self.score_of(p.arch))

    def _evaluate(self, pending: Sequence[Proposal]) -> None:
        if not pending:
            return
        obj, srch = self.objective, self.searcher
        all_scores = obj.score_many([(p.arch, p.key) for p in pending], self.executor)
        for p, scores in zip(pending, all_scores, strict=True):
            obj.add(p.key, scores)
            values = obj.values()
            if self.costs:  # multi-objective: steer by non-dominated sorting of the pool
                measured = self.checker.measure(p.arch, p.key)
                self.cost_rows.append([measured[COSTS[c]] for c in self.costs])
                values = pareto_fitness(values, np.array(self.cost_rows))
            self.values = values
            if obj.pool_relative or self.costs:
                srch.rescore(self.score_of)
            srch.tell(p.arch, float(values[-1]))
            b = obj.best(values)
            best_key = obj.archs[b]
            row = {
                "evaluation": len(obj),
                "arch": p.key,
                "scores": scores,
                "aggregate": float(values[-1]),
                "best_arch": best_key,
                "best_aggregate": float(values[b]),
                "truth": self.truth_of(p.key),
                "best_truth": self.truth_of(best_key),
                **self.steering.extra(p),
            }
            self.history.append(row)
            self.steering.evaluated(row, values)
            if self.on_progress is not None:
                self.on_progress(len(obj), self.budget)


__all__ = ["MAX_OFF_RESTRICTION", "AskTellLoop", "Proposal", "Steering", "default_caps"]
