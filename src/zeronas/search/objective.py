"""The search objective: one proxy, or several combined by rank over the evaluated pool.

An objective is written like ``--proxies`` elsewhere: a comma-separated list (or a list)
of registered proxies, named composites (``az_nas``) and ensembles
(``[method:]a+b``, see :mod:`zeronas.proxies.ensemble`).

- One plain proxy: the objective is its value (negated when lower is better), so it is
  absolute: an architecture's score never changes.
- A composite, or several items: the objective is a rank aggregate over *every architecture
  evaluated so far* in this search (a single composite uses its own method; several items are
  combined by the mean of their goodness ranks, each item being a proxy or a composite).
  It is pool-relative: as the pool grows, the aggregate of an earlier architecture changes,
  and the best-so-far can change to an architecture evaluated earlier. The raw per-proxy
  scores of every evaluated architecture are kept and the aggregate recomputed after each
  evaluation; searchers are refreshed through ``Searcher.rescore``.

Scores go through the :class:`~zeronas.execution.store.ScoreStore` under the same per-proxy
protocol keys as ``zeronas correlate`` (:func:`~zeronas.bench.correlate.proxy_protocol`), so a
repeated search reuses them and an interrupted one resumes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from zeronas.bench.correlate import proxy_protocol
from zeronas.execution.store import ScoreStore
from zeronas.proxies.base import Batch, ProxyContext, ProxySpec, get_proxy, resolve_proxies
from zeronas.proxies.ensemble import aggregate, compose, expand
from zeronas.proxies.runner import (
    Scores,
    ScoreSettings,
    make_batch,
    make_context,
    network_for_proxies,
    score_model,
)
from zeronas.search.base import SearchError
from zeronas.spaces.base import Space

if TYPE_CHECKING:
    from zeronas.execution.executor import Executor

DEFAULT_OBJECTIVE = "synflow+meco"
"""The default objective of ``zeronas search``: synflow and MeCo, combined by mean rank.

Data-free: synflow reads no images (an all-ones input), and MeCo only the first image of the
batch, with no label, so with the default synthetic Gaussian batches the search needs no
dataset. Why these two (NB201, CIFAR-10 networks, synthetic batch, 700 random cells): MeCo
ranks best of the cheap data-free candidates (Spearman 0.90 with the test accuracy; synflow
0.78, params 0.77, NASWOT on Gaussian images 0.71 with 9 of 700 cells at -inf), and the
pair's top-1 out of 300 random cells averages 93.63% (synflow alone 93.45%); NASWOT with
synflow does as well (93.80%) but costs six times as much per cell at batch 64 (about 0.36 s
against 0.06 s for MeCo), which alone would break the one-minute budget of a 500-evaluation
search. With regularized evolution and 500 evaluations the pair's optimum, the all-3x3 cell
(93.76%), is found from every seed tried. Change this constant to switch the default (the
learned ``tgnas`` proxy is meant to replace it once registered)."""

COMBINE_METHOD = "mean_rank"
"""How several top-level objective items are combined (see :mod:`zeronas.proxies.ensemble`)."""


def parse_objective(proxies: str | Sequence[str]) -> list[str]:
    """The objective's top-level items (a comma-separated string or a list), stripped."""
    items = proxies.split(",") if isinstance(proxies, str) else list(proxies)
    items = [str(n).strip() for n in items if str(n).strip()]
    if not items:
        raise SearchError("no objective given: expected proxy names, e.g. 'synflow+naswot'")
    expand(items)  # unknown names, malformed ensembles, repeats: a clear error now
    return items


def _nan_key(x: float) -> float:
    return -math.inf if math.isnan(x) else x


@dataclass(frozen=True)
class ObjectiveJob:
    """Everything needed to compute an objective's proxies for any architecture (sent once to
    each worker of an executor): the space, the dataset the networks are built for, the
    scoring settings, the proxy specs, the batch (None when no proxy reads data) and the
    proxy context."""

    space: Space[Any]
    dataset: str
    settings: ScoreSettings
    specs: tuple[ProxySpec, ...]
    batch: Batch | None
    ctx: ProxyContext


def compute_scores(job: ObjectiveJob, arch: Any, names: Sequence[str]
                   ) -> tuple[Scores, float]:
    """Compute the proxies ``names`` of ``arch`` under ``job``: ``({name: value}, seconds per
    proxy)``, the values' ``micro_batch`` naming any proxy whose batch did not fit in memory.
    The network is built for this call only (seeded): it is handed to the runner, which
    rebuilds it instead of deep-copying it for each further proxy; proxies that share passes
    share them, so the time is split evenly between them."""
    by_name = {s.name: s for s in job.specs}
    specs = [by_name[n] for n in names]
    t0 = time.perf_counter()

    def build() -> Any:
        return network_for_proxies(specs, job.space, arch, job.dataset, job.settings.seed)

    batch = job.batch if any(s.needs_data for s in specs) else None
    values = score_model(build(), specs, batch, dataclasses.replace(job.ctx, arch=arch),
                         owned=True, fresh=build, split=job.settings.split_on_oom)
    seconds = (time.perf_counter() - t0) / max(1, len(specs))
    return values, seconds


def objective_task(job: ObjectiveJob, item: tuple[str, tuple[str, ...]]
                   ) -> tuple[Scores, float]:
    """An executor task: ``item`` is ``(architecture string, proxy names)``; scores it as
    :func:`compute_scores` does in the driver."""
    key, names = item
    return compute_scores(job, job.space.from_str(key), names)


class Objective:
    """Scores architectures of ``space`` (networks built for ``dataset``) and aggregates.

    :meth:`evaluate` adds an architecture to the pool (reading the store first, computing
    and writing what is missing); :meth:`values` gives the current objective value of every
    architecture in the pool, in evaluation order. ``overrides`` replaces registered specs by
    name (e.g. ``tgnas`` bound to other predictor weights, :func:`~zeronas.proxies.tgnas_proxy.
    tgnas_spec`), as in ``zeronas correlate``.
    """

    def __init__(
        self,
        proxies: str | Sequence[str],
        space: Space[Any],
        dataset: str,
        settings: ScoreSettings,
        store: ScoreStore | None = None,
        overrides: Mapping[str, ProxySpec] | None = None,
    ) -> None:
        self.items = parse_objective(proxies)
        self.base, self.composites = expand(self.items)
        self.specs = resolve_proxies(self.base, overrides)
        self.space = space
        self.dataset = dataset
        self.settings = settings
        self.store = store
        space.dataset(dataset)  # unknown dataset: a clear error now
        self.pool_relative = len(self.items) > 1 or self.items[0] in self.composites
        self.method = (COMBINE_METHOD if len(self.items) > 1 else
                       self.composites[self.items[0]].method if self.pool_relative else "value")
        self.keys = {}
        if store is not None:
            self.keys = {s.name: store.register_protocol(
                proxy_protocol(s, space.name, dataset, settings)) for s in self.specs}
        self.ctx = make_context(space, dataset, settings)
        self._batch: Batch | None = None
        self._job: ObjectiveJob | None = None
        self.archs: list[str] = []
        self._index: dict[str, int] = {}
        self.raw: dict[str, list[float]] = {s.name: [] for s in self.specs}
        self.computed = 0
        """Proxy values computed in this run (not read from the store)."""
        self.reused = 0
        """Proxy values read from the store."""
        self.scoring_seconds = 0.0
        self.micro_batch: dict[str, dict[str, int]] = {}
        """``{arch: {proxy: micro-batch size}}`` for values whose batch did not fit in
        memory (computed at that smaller batch size; see ``score_model``)."""

    # ------------------------------------------------------------------ scoring
    @property
    def batch(self) -> Batch | None:
        if self._batch is None and any(s.needs_data for s in self.specs):
            self._batch = make_batch(self.space, self.dataset, self.settings)
        return self._batch

    def job(self) -> ObjectiveJob:
        """What a worker needs to compute this objective's proxies (see :func:`objective_task`);
        one object per objective, so an executor keeps its workers between rounds."""
        if self._job is None:
            self._job = ObjectiveJob(self.space, self.dataset, self.settings, tuple(self.specs),
                                     self.batch, self.ctx)
        return self._job

    def _stored(self, key: str) -> dict[str, float]:
        have: dict[str, float] = {}
        if self.store is not None:
            for s in self.specs:
                got = self.store.get(self.space.name, [key], s.name, self.keys[s.name])
                if key in got:
                    have[s.name] = got[key][0]
                    split = self.store.get_micro_batches(self.space.name, [key], s.name,
                                                         self.keys[s.name])
                    if split:
                        self.micro_batch.setdefault(key, {})[s.name] = split[key]
        self.reused += len(have)
        return have

    def _keep(self, key: str, values: Scores, seconds: float) -> None:
        """Count and store freshly computed ``values`` (``seconds``: per proxy)."""
        self.scoring_seconds += seconds * len(values)
        self.computed += len(values)
        if values.micro_batch:
            self.micro_batch.setdefault(key, {}).update(values.micro_batch)
        if self.store is not None:
            for name, value in values.items():
                self.store.put(self.space.name, key, {name: (value, seconds)}, self.keys[name],
                               micro_batch=values.micro_batch)

    def score(self, arch: Any, key: str | None = None) -> dict[str, float]:
        """Raw per-proxy scores of ``arch`` (store first), without adding it to the pool."""
        key = key or self.space.to_str(arch)
        return self.score_many([(arch, key)])[0]

    def score_many(self, items: Sequence[tuple[Any, str]], executor: Executor | None = None
                   ) -> list[dict[str, float]]:
        """Raw per-proxy scores of each ``(arch, key)`` (store first), in order, without adding
        them to the pool. What the store lacks is computed here, or on ``executor`` when more
        than one architecture needs computing; either way each architecture is scored exactly
        as :func:`compute_scores` scores it (same seeds, same batch), and the driver writes
        the store as results arrive, so a failed task loses nothing else."""
        have = [self._stored(key) for _, key in items]
        todo = [i for i, h in enumerate(have) if len(h) < len(self.specs)]
        missing = {i: tuple(s.name for s in self.specs if s.name not in have[i]) for i in todo}
        if executor is None or len(todo) < 2:
            for i in todo:
                arch, key = items[i]
                values, seconds = compute_scores(self.job(), arch, missing[i])
                self._keep(key, values, seconds)
                have[i].update(values)
        else:
            from zeronas.execution.executor import TaskFailure, failed_architectures

            tasks = [(items[i][1], missing[i]) for i in todo]
            failures: list[TaskFailure] = []
            for j, result in executor.map(objective_task, self.job(), tasks):
                if isinstance(result, TaskFailure):
                    failures.append(result)
                    continue
                values, seconds = result
                self._keep(tasks[j][0], values, seconds)
                have[todo[j]].update(values)
            if failures:
                raise failed_architectures(failures, len(tasks), executor.retries)
        return [{s.name: h[s.name] for s in self.specs} for h in have]

    def add(self, key: str, scores: dict[str, float]) -> None:
        """Add the architecture ``key`` with its raw ``scores`` to the pool (once)."""
        if key in self._index:
            return
        self._index[key] = len(self.archs)
        self.archs.append(key)
        for n in self.raw:
            self.raw[n].append(scores[n])

    def evaluate(self, arch: Any, key: str | None = None) -> dict[str, float]:
        """Score ``arch`` and add it to the pool (once: a second call only looks it up)."""
        key = key or self.space.to_str(arch)
        if key in self._index:
            i = self._index[key]
            return {n: v[i] for n, v in self.raw.items()}
        scores = self.score(arch, key)
        self.add(key, scores)
        return scores

    def position(self, key: str) -> int:
        """Where the architecture string ``key`` is in the pool (evaluation order)."""
        return self._index[key]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self.archs)

    # ------------------------------------------------------------------ aggregation
    def combine(self, raw: dict[str, Sequence[float] | np.ndarray]) -> np.ndarray:
        """The objective over any pool given its raw per-proxy scores (higher is better)."""
        if not self.pool_relative:
            spec = self.specs[0]
            v = np.asarray(raw[spec.name], dtype=float)
            return v if spec.higher_is_better else -v
        parts: dict[str, np.ndarray] = {}
        directions: dict[str, bool] = {}
        for item in self.items:
            if item in self.composites:
                parts[item] = compose(item, raw)
                directions[item] = True
            else:
                parts[item] = np.asarray(raw[item], dtype=float)
                directions[item] = get_proxy(item).higher_is_better
        if len(parts) == 1:
            return next(iter(parts.values()))
        return aggregate(parts, COMBINE_METHOD, directions)

    def values(self) -> np.ndarray:
        """The current objective of every evaluated architecture, in evaluation order."""
        if not self.archs:
            return np.zeros(0)
        return self.combine(self.raw)

    def best(self, values: np.ndarray | None = None) -> int:
        """Position of the best architecture so far (NaN worst; ties: the earliest)."""
        v = self.values() if values is None else values
        if v.size == 0:
            raise SearchError("nothing has been evaluated yet")
        return int(np.argmax([_nan_key(x) for x in v]))

    def describe(self) -> dict[str, Any]:
        """The objective for the result's protocol."""
        out: dict[str, Any] = {
            "items": list(self.items),
            "proxies": list(self.base),
            "higher_is_better": {s.name: s.higher_is_better for s in self.specs},
            "aggregation": self.method,
            "pool_relative": self.pool_relative,
            "needs_data": any(s.needs_data for s in self.specs),
            "needs_labels": any(s.needs_labels for s in self.specs),
        }
        # what a proxy's value depends on beyond the shared protocol (e.g. which TG-NAS
        # weights, trained on what): the part of its store key its own ``describe`` adds
        details = {s.name: s.describe(self.space.name, self.dataset)
                   for s in self.specs if s.describe is not None}
        if details:
            out["proxy_details"] = details
        if self.pool_relative:
            out["composites"] = {n: {"parts": list(c.parts), "method": c.method}
                                 for n, c in self.composites.items()}
            out["note"] = ("rank aggregate over every architecture evaluated so far; an "
                           "architecture's aggregate (and the best-so-far) can change as the "
                           "pool grows")
        return out

