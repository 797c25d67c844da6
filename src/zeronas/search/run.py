"""The search driver: objective, constraints, store, budget and the result.

:func:`run_search` is what ``zeronas search`` calls. Its result records everything that
changes a number (the protocol), the best architecture with its scores, FLOPs, params and,
when the benchmark has it, its true accuracy on every dataset (looked up at the end and for
the history, never used by the search), and one history row per evaluation.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from zeronas import __version__
from zeronas.bench.groundtruth import GroundTruth, load_ground_truth
from zeronas.errors import DataError, UnknownNameError
from zeronas.execution.store import ScoreStore
from zeronas.plotting import png_path, pyplot
from zeronas.proxies.runner import ScoreSettings
from zeronas.search.base import Searcher, SearchError, make_searcher
from zeronas.search.constraints import ConstraintChecker, Constraints
from zeronas.search.loop import AskTellLoop, default_caps
from zeronas.search.objective import DEFAULT_OBJECTIVE, Objective
from zeronas.search.pareto import pareto_report, parse_objectives
from zeronas.search.prune import PruneSearch
from zeronas.spaces.base import Space, get_space

if TYPE_CHECKING:
    from zeronas.execution.executor import Executor
    from zeronas.proxies.base import ProxySpec

DEFAULT_SEARCHER = "evolution"
DEFAULT_BUDGET = 500


class SearchWarning(UserWarning):
    """A search finished but not as asked (stopped early, best over a budget)."""


@dataclass
class SearchResult:
    """The JSON-ready result of a search (see :meth:`to_json` for the layout)."""

    protocol: dict[str, Any]
    best: dict[str, Any]
    evaluated: int
    rejected: int
    seconds: float
    history: list[dict[str, Any]]
    repeats: int = 0
    stopped: str = "budget"
    cost: dict[str, Any] = field(default_factory=dict)
    top: list[dict[str, Any]] = field(default_factory=list)
    pareto: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"protocol", "best", "evaluated", "rejected", "repeats", "stopped", "seconds",
        "cost", "top", "history"}``; NaN stays NaN (written as ``NaN`` by :meth:`write`)."""
        return {
            "protocol": self.protocol,
            "best": self.best,
            "evaluated": self.evaluated,
            "rejected": self.rejected,
            "repeats": self.repeats,
            "stopped": self.stopped,
            "seconds": self.seconds,
            "cost": self.cost,
            "top": self.top,
            "history": self.history,
            **({"pareto": self.pareto} if self.pareto is not None else {}),
        }

    def write(self, out: str | os.PathLike[str]) -> Path:
        """Write the JSON to ``out`` (folders created)."""
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, allow_nan=True) + "\n")
        return path

    def plot(self, out: str | os.PathLike[str]) -> Path:
        """Plot best-so-far objective and true accuracy against evaluations to ``out`` (PNG;
        a ``.json`` suffix is replaced by ``.png``). Needs matplotlib (the plot extra)."""
        plt = pyplot(SearchError)
        path = png_path(out)
        proto = self.protocol
        items = ", ".join(proto["objective"]["items"])
        title = f"{proto['space']} / {proto['searcher']} / {items} / seed {proto['seed']}"
        if proto["searcher"] == "prune":
            fig, ax = plt.subplots(figsize=(5.5, 3.5), dpi=110)
            rounds = self.history
            ax.bar(range(1, len(rounds) + 1), [r["candidates"] for r in rounds], color="tab:blue")
            ax.set_xlabel("pruning round")
            ax.set_ylabel("supernets scored")
            gt = self.best.get("ground_truth") or {}
            known = {k: v for k, v in gt.items() if v is not None}
            ax.set_title(title + ("\n" + ", ".join(f"{k} {v:.2f}" for k, v in known.items())
                                  if known else ""), fontsize=8)
        else:
            x = np.array([h["evaluation"] for h in self.history], dtype=float)
            best = np.array([h["best_aggregate"] for h in self.history], dtype=float)
            label = "best-so-far objective"
            if proto["objective"]["aggregation"] == "mean_rank":
                best = best / x
                label = "best-so-far mean rank / pool size"
            truth = np.array([np.nan if h["truth"] is None else h["truth"]
                              for h in self.history], dtype=float)
            best_truth = np.array([np.nan if h["best_truth"] is None else h["best_truth"]
                                   for h in self.history], dtype=float)
            has_truth = bool(np.isfinite(truth).any())
            fig, axes = plt.subplots(2 if has_truth else 1, 1, figsize=(6, 5.5 if has_truth
                                     else 3.2), dpi=110, sharex=True, squeeze=False)
            ax = axes[0, 0]
            ax.plot(x, best, color="tab:blue")
            ax.set_ylabel(label, fontsize=8)
            ax.set_title(title, fontsize=8)
            if has_truth:
                ax2 = axes[1, 0]
                ax2.scatter(x, truth, s=4, color="0.7", label="evaluated")
                ax2.plot(x, best_truth, color="tab:red", label="best so far (by objective)")
                ax2.set_ylabel(f"{proto['truth_dataset']} true accuracy", fontsize=8)
                finite = truth[np.isfinite(truth)]
                if finite.size:
                    ax2.set_ylim(max(float(np.percentile(finite, 5)) - 1, float(finite.min())),
                                 float(finite.max()) + 0.3)
                ax2.legend(fontsize=7, loc="lower right")
                ax2.set_xlabel("evaluations")
            else:
                ax.set_xlabel("evaluations")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path


def searcher_options(
    population_size: int | None = None,
    sample_size: int | None = None,
    C: int | None = None,
    N: int | None = None,
    layers: int | None = None,
    ops: str | Sequence[str] | None = None,
    rule: str | None = None,
) -> dict[str, Any]:
    """The ``searcher_options`` of :func:`run_search` from CLI-style values (None = unset;
    ``ops`` may be comma-separated). An option the chosen searcher does not take is an error
    there, naming the searcher's options."""
    if isinstance(ops, str):
        ops = [o.strip() for o in ops.split(",") if o.strip()]
    given = {"population_size": population_size, "sample_size": sample_size, "C": C, "N": N,
             "layers": layers, "ops": None if ops is None else tuple(ops), "rule": rule}
    return {k: v for k, v in given.items() if v is not None}


def _load_truth(space: Space[Any], data_dir: str | os.PathLike[str] | None
                ) -> GroundTruth | None:
    try:
        return load_ground_truth(space.name, data_dir)
    except (DataError, UnknownNameError):
        return None


def _float(x: Any) -> float | None:
    if x is None:
        return None
    return float(x)


def run_search(
    space: Space[Any] | str,
    proxies: str | Sequence[str] = DEFAULT_OBJECTIVE,
    searcher: str = DEFAULT_SEARCHER,
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
    settings: ScoreSettings | None = None,
    store: ScoreStore | None = None,
    dataset: str = "cifar10",
    *,
    max_flops: float | None = None,
    max_params: float | None = None,
    max_latency_ms: float | None = None,
    latency_fn: Callable[[Any], float] | None = None,
    objectives: str | Sequence[str] | None = None,
    searcher_options: Mapping[str, Any] | None = None,
    ground_truth: GroundTruth | Literal[False] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    max_rejected: int | None = None,
    max_repeats: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    executor: Executor | None = None,
    parallel: int | None = None,
    overrides: Mapping[str, ProxySpec] | None = None,
) -> SearchResult:
    """Search ``space`` for the architecture the objective ``proxies`` likes best.

    - ``proxies``: the objective (see :mod:`zeronas.search.objective`); default
      :data:`~zeronas.search.objective.DEFAULT_OBJECTIVE`.
    - ``searcher``: ``random``, ``evolution`` (ask/tell) or ``prune`` (supernet pruning,
      nb201 and darts); ``searcher_options`` are its hyper-parameters (e.g.
      ``{"population_size": 50, "sample_size": 10}``, ``{"C": 16, "N": 1}``).
    - ``budget``: distinct architectures scored by the objective (a score read from the store
      counts: the store changes the time, never the result). Ignored by ``prune``, whose cost
      is fixed by the space.
    - ``seed``: the searcher's generator; ``settings`` is the scoring protocol (data, batch,
      network-initialisation seed), default ``ScoreSettings(seed=seed)``.
    - ``store``: scores are read from and written to it under the per-proxy protocol keys of
      ``zeronas correlate``; None keeps them in memory only.
    - ``dataset``: the dataset whose network is built (classes, input size).
    - ``max_flops`` (M multiply-adds), ``max_params`` (M), ``max_latency_ms`` (with
      ``latency_fn(arch) -> ms``): checked before any proxy, cheapest first; a candidate over
      budget is never scored and does not count against ``budget``. After ``max_rejected``
      rejections (default ``max(1000, 20 * budget)``) the search stops, with an error when
      nothing within the constraints was found. The result's ``rejection_reasons`` counts
      them by the bound hit first (``params``, ``flops``, ``latency``; ``again`` for a
      re-proposal of a rejected architecture).
    - A proposal evaluated before (evolution's children often are) is answered from the pool
      without spending budget and counted in ``repeats``; after ``max_repeats`` of them
      (default ``max(1000, 50 * budget)``; a converged population keeps re-proposing) the
      search stops early with a :class:`SearchWarning`.
    - ``objectives``: ``"proxy,latency"`` (or ``flops``, ``params``, several allowed) makes
      the search multi-objective: the proxy objective is maximised and the hardware costs
      minimised, the searcher is steered by non-dominated sorting of the pool, and the
      result's ``pareto`` block holds the front (see :mod:`zeronas.search.pareto`);
      ``latency`` needs ``latency_fn``. The history's ``aggregate`` is then that steering
      fitness; ``best`` stays the architecture the proxy objective ranks first.
    - ``ground_truth``: the benchmark truth to report (default: loaded for the space from
      ``data_dir`` or ``$ZERONAS_DATA`` when present; ``False``: none).
    - ``executor``: score each round's candidates in parallel on it (see
      :mod:`zeronas.execution.executor`); ``parallel``: candidates proposed per round
      (default: the executor's workers, else 1). With ``parallel > 1`` the searcher is asked
      for that many new candidates before any of them is told (batched evolution): the
      result is deterministic for a seed and ``parallel``, whatever the executor or its
      timing, and equals the sequential search for ``parallel=1`` (random search: for any
      ``parallel``). Both are recorded in the protocol.
    - ``on_progress(done, total)``: called after each evaluation.
    - ``overrides``: registered proxy specs replaced by name, e.g. ``{"tgnas":
      tgnas_spec(PATH)}`` (other predictor weights; the CLI's ``--predictor-weights``); the
      protocol's ``objective.proxy_details`` says which weights were used.
    """
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    sp = get_space(space) if isinstance(space, str) else space
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise SearchError(f"budget must be a positive integer, got {budget!r}")
    budget = int(budget)
    if parallel is None:
        parallel = executor.workers if executor is not None else 1
    if isinstance(parallel, bool) or not isinstance(parallel, (int, np.integer)) or parallel < 1:
        raise SearchError(f"parallel must be a positive integer, got {parallel!r}")
    parallel = int(parallel)
    settings = settings if settings is not None else ScoreSettings(seed=seed)
    constraints = Constraints(max_flops, max_params, max_latency_ms, latency_fn)
    objective = Objective(proxies, sp, dataset, settings, store, overrides)
    srch = make_searcher(searcher, sp, seed, **dict(searcher_options or {}))
    caps = default_caps(budget)
    max_rejected = caps[0] if max_rejected is None else max_rejected
    max_repeats = caps[1] if max_repeats is None else max_repeats
    gt = None if ground_truth is False else (ground_truth or _load_truth(sp, data_dir))
    truth_dataset = None
    if gt is not None:
        truth_dataset = dataset if dataset in gt.datasets else gt.datasets[0]
    checker = ConstraintChecker(sp, dataset, constraints)
    costs = parse_objectives(objectives)
    if "latency" in costs and latency_fn is None:
        raise SearchError("the latency objective needs latency_fn=<callable(arch) -> ms> "
                          "(measured or predicted latency, see zeronas.hardware.latency)")
    if costs and isinstance(srch, PruneSearch):
        raise SearchError("multi-objective search needs an ask/tell searcher (random or "
                          "evolution), not prune")

    def truth_of(key: str, ds: str | None = truth_dataset) -> float | None:
        return None if gt is None or ds is None else _float(gt.get(key, ds))

    described = objective.describe()
    protocol: dict[str, Any] = {
        "space": sp.name,
        "space_options": {k: v for k, v in vars(sp).items()
                          if not k.startswith("_") and isinstance(v, (int, float, bool, str))},
        "dataset": dataset,
        "searcher": searcher,
        "searcher_options": srch.hyperparameters(),
        "objective": described,
        "budget": budget if not isinstance(srch, PruneSearch) else None,
        "budget_unit": "distinct architectures scored (store hits included)",
        "seed": seed,
        "network_init_seed": settings.seed,
        "data": settings.data.source,
        "data_description": settings.data.describe(),
        "data_used": described["needs_data"],
        "batch_size": settings.batch_size,
        "batches": settings.batches,
        "constraints": constraints.protocol(),
        **({"objectives": ["proxy", *costs]} if costs else {}),
        "max_rejected": max_rejected,
        "max_repeats": max_repeats,
        "parallel": parallel,
        "parallel_note": "candidates proposed per round and scored together before any is "
                         "told; the result depends on it, never on the executor",
        "executor": None if executor is None else executor.describe(),
        "ground_truth": None if gt is None else gt.description,
        "ground_truth_source": None if gt is None else gt.source,
        "truth_dataset": truth_dataset,
        "truth_note": "true accuracy is looked up after scoring, for the report only; the "
                      "search never reads it",
        "store": None if store is None else str(store.path),
        "zeronas_version": __version__,
        "torch_threads": torch.get_num_threads(),
    }
    if isinstance(srch, PruneSearch):
        for k in ("parallel", "parallel_note"):
            protocol.pop(k)
        if executor is not None:
            protocol["executor_note"] = "not used: prune scores its supernets in this process"
        return _run_prune(srch, objective, sp, dataset, settings, store, checker, gt,
                          protocol, on_progress, t_start, cpu_start)
    if not isinstance(srch, Searcher):
        raise SearchError(f"searcher {searcher!r} is neither ask/tell nor prune")

    loop = AskTellLoop(srch, objective, checker, budget, truth_of, costs,
                       max_rejected=max_rejected, max_repeats=max_repeats, executor=executor,
                       parallel=parallel, on_progress=on_progress)
    loop.run()
    stopped, rejected, repeats = loop.stopped, loop.rejected, loop.repeats
    history, reasons, cost_rows = loop.history, loop.reasons, loop.cost_rows
    if len(objective) == 0:
        limits = ", ".join(f"{k}={v}" for k, v in constraints.protocol().items()
                           if k.startswith("max_") and v is not None)
        raise SearchError(
            f"no architecture of {sp.name!r} could be evaluated: {rejected} candidates were "
            f"over budget ({limits}) and the search stopped ({stopped}); loosen the budget"
            if rejected else f"no architecture of {sp.name!r} could be evaluated ({stopped})"
        )
    if stopped != "budget":
        warnings.warn(f"search stopped after {len(objective)} of {budget} evaluations: "
                      f"{stopped}", SearchWarning, stacklevel=2)
    values = objective.values()
    b = objective.best(values)
    best_key = objective.archs[b]
    best_arch = sp.from_str(best_key)
    order = sorted(range(len(values)), key=lambda i: (-_nan_low(values[i]), i))[:10]
    top = [{"arch": objective.archs[i], "aggregate": float(values[i]),
            "truth": truth_of(objective.archs[i])} for i in order]
    best = _best_entry(sp, best_arch, best_key, {n: v[b] for n, v in objective.raw.items()},
                       float(values[b]), checker, gt)
    protocol["rejection_reasons"] = reasons
    if objective.micro_batch:  # out of memory: values at a smaller batch size
        protocol["micro_batch"] = objective.micro_batch
    cost = {"scores_computed": objective.computed, "scores_reused": objective.reused,
            "scoring_seconds": objective.scoring_seconds,
            "cpu_seconds": time.process_time() - cpu_start}
    pareto = None
    if costs:
        pareto = pareto_report(objective.archs, values, cost_rows, costs,
                               [truth_of(a) for a in objective.archs])
    return SearchResult(protocol, best, len(objective), rejected,
                        time.perf_counter() - t_start, history, repeats, stopped, cost, top,
                        pareto)


def _nan_low(x: float) -> float:
    return -math.inf if math.isnan(x) else float(x)


def _best_entry(sp: Space[Any], arch: Any, key: str, scores: Mapping[str, float],
                aggregate: float | None, checker: ConstraintChecker, gt: GroundTruth | None
                ) -> dict[str, Any]:
    measures = checker.measure(arch, key)
    entry: dict[str, Any] = {
        "arch": key,
        "index": sp.index(arch) if sp.finite else None,
        "scores": dict(scores),
        "aggregate": aggregate,
        "flops": measures["flops"],
        "params": measures["params"],
    }
    if "latency_ms" in measures:
        entry["latency_ms"] = measures["latency_ms"]
    entry["ground_truth"] = (None if gt is None else
                             {ds: _float(gt.get(key, ds)) for ds in gt.datasets})
    return entry


def _run_prune(
    srch: PruneSearch, objective: Objective, sp: Space[Any], dataset: str,
    settings: ScoreSettings, store: ScoreStore | None, checker: ConstraintChecker,
    gt: GroundTruth | None, protocol: dict[str, Any],
    on_progress: Callable[[int, int], None] | None, t_start: float, cpu_start: float,
) -> SearchResult:
    outcome = srch.run(objective.items, dataset, settings, store, on_progress,
                       overrides={s.name: s for s in objective.specs})
    key = sp.to_str(outcome.arch)
    scores = objective.evaluate(outcome.arch, key)
    best = _best_entry(sp, outcome.arch, key, scores,
                       None if objective.pool_relative else float(objective.values()[0]),
                       checker, gt)
    reason = checker.check(outcome.arch, key)
    best["constraints_met"] = reason is None
    if reason is not None:
        warnings.warn(f"the pruned architecture is over budget ({reason}): pruning does not "
                      "steer by constraints", SearchWarning, stacklevel=3)
    protocol["evaluations_unit"] = "supernet evaluations (each scores one pruned supernet)"
    if outcome.micro_batch or objective.micro_batch:  # out of memory: smaller batches
        protocol["micro_batch"] = {"supernets": outcome.micro_batch,
                                   "architecture": objective.micro_batch}
    cost = {"supernet_evaluations": outcome.evaluations,
            "supernets_computed": outcome.computed,
            "prune_seconds": outcome.seconds,
            "rounds": len(outcome.rounds),
            "cpu_seconds": time.process_time() - cpu_start}
    return SearchResult(protocol, best, outcome.evaluations, 0,
                        time.perf_counter() - t_start, outcome.rounds, 0, "pruned", cost, [])
