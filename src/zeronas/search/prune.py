"""Pruning from a supernet, in the style of TE-NAS (Chen, Gong & Wang, ICLR 2021) and
TG-NAS (which runs the same procedure with its learned proxy).

Start from the supernet where every edge keeps every candidate op
(:mod:`zeronas.search.supernet`). Each round:

1. score the current supernet with the objective's proxies;
2. for every edge with more than one op left and every op on it, score the supernet with
   that one op removed;
3. the *importance* of an op, for each proxy, is how much its removal lowers the proxy's
   goodness (``g(current) - g(without op)``, ``g`` the value oriented so higher is better;
   a removal that makes a proxy fail counts as infinitely harmful);
4. importances are turned into goodness ranks over all the round's candidates and
   aggregated across the objective's items (mean rank; a composite item such as ``az_nas``
   aggregates its parts with its own method first), as TE-NAS sums its two ranks;
5. on every edge, the op with the lowest aggregated importance, the one whose removal hurts
   least, is pruned (ties: the first in the space's op order).

Rounds repeat until one op per edge remains. For DARTS, the cell then has 14 edges and each
node must keep two inputs: the same procedure removes whole edges, one per node and round
(among the nodes with more than two left), until every node has two, as TE-NAS does.

The result is a valid architecture of the space plus its cost: the number of supernet
evaluations and seconds. Supernet scores go through the score store too (keyed by the
supernet's size and remaining ops), so an interrupted pruning resumes.

DARTS candidate ops exclude ``none`` by default: DARTS derives genotypes without ``none``
(an edge is dropped by the input selection instead). NB201 keeps all five ops, ``none``
included, as TE-NAS does. Proxies that read the architecture rather than the module
(``needs_arch``, e.g. a graph predictor) cannot score a supernet and are refused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from zeronas.bench.correlate import proxy_protocol
from zeronas.execution.store import ScoreStore
from zeronas.proxies.base import Batch, ProxySpec, resolve_proxies
from zeronas.proxies.ensemble import aggregate, compose, expand
from zeronas.proxies.runner import ScoreSettings, make_batch, make_context, score_model, seeded
from zeronas.search.base import SearchError, register_searcher
from zeronas.search.objective import COMBINE_METHOD, parse_objective
from zeronas.search.supernet import DARTS_EDGES, DARTS_STEPS, State, build_supernet
from zeronas.spaces.base import Space

RULES = {
    "prune": "one op pruned per edge and round (lowest aggregated importance), TE-NAS style",
    "discretize": "Zero-Cost-PT: edges decided one at a time in a seeded random order, each "
                  "keeping the op whose removal lowers the objective most",
}
"""How the supernet shrinks (the ``rule`` option)."""
NB201_SIZE = {"C": 16, "N": 1}
DARTS_SIZE = {"C": 8, "layers": 3}
"""Default supernet sizes. On a CPU the cost of scoring a supernet is mostly per module (the
runner's copy, hooks, Python dispatch), i.e. cells x edges x remaining ops, so the supernets
are shallower than the benchmark networks: one cell per stage for NB201 (88 supernet
evaluations, about 11 CPU-seconds with the default objective), and for DARTS three cells
(normal, reduction, reduction: both cell types present) at half the DARTS search width
(809 supernet evaluations; the full 7-op supernet costs 0.8 CPU-seconds per evaluation with
the default objective, 1.3 with five cells). Override with the searcher options ``C`` and
``N`` / ``layers``."""


@dataclass
class PruneOutcome:
    """What a pruning run returns: the architecture and what it cost."""

    arch: Any
    evaluations: int
    computed: int
    seconds: float
    rounds: list[dict[str, Any]] = field(default_factory=list)
    micro_batch: dict[str, dict[str, int]] = field(default_factory=dict)
    """``{pruned-supernet key: {proxy: micro-batch size}}`` for supernet scores whose batch
    did not fit in memory (computed at that smaller batch size; see ``score_model``)."""


@register_searcher("prune")
class PruneSearch:
    """TE-NAS-style pruning of a supernet (not ask/tell: it scores supernets, not
    architectures). See the module docstring for the procedure.

    Options: ``ops`` (candidate ops; default all of the space's, minus ``none`` for darts),
    ``C`` and ``N`` (nb201) or ``C`` and ``layers`` (darts) for the supernet size. The
    supernet is initialised with the scoring protocol's seed; the search ``seed`` is recorded
    but the procedure is deterministic given the scores.
    """

    name = "prune"

    def __init__(self, space: Space[Any], seed: int = 0, ops: Sequence[str] | None = None,
                 C: int | None = None, N: int | None = None, layers: int | None = None,
                 rule: str = "prune") -> None:
        if space.name not in ("nb201", "darts"):
            raise SearchError(
                f"pruning search needs a cell space with a supernet (nb201 or darts), got "
                f"{space.name!r}: use the random or evolution searcher"
            )
        if rule not in RULES:
            raise SearchError(f"unknown prune rule {rule!r}: expected one of {', '.join(RULES)}")
        self.rule = rule
        self.space = space
        self.seed = int(seed)
        all_ops = tuple(space.ops)  # type: ignore[attr-defined]
        if ops is None:
            ops = tuple(o for o in all_ops if not (space.name == "darts" and o == "none"))
        ops = tuple(ops)
        bad = [o for o in ops if o not in all_ops]
        if bad or len(set(ops)) != len(ops) or not ops:
            raise SearchError(
                f"prune ops {list(ops)} must be distinct ops of {space.name!r}: "
                f"{', '.join(all_ops)}"
            )
        self.ops = ops
        if space.name == "nb201":
            if layers is not None:
                raise SearchError("prune on nb201 takes C and N, not layers")
            self.size = {"C": C or NB201_SIZE["C"], "N": N or NB201_SIZE["N"]}
        else:
            if N is not None:
                raise SearchError("prune on darts takes C and layers, not N")
            self.size = {"C": C or DARTS_SIZE["C"], "layers": layers or DARTS_SIZE["layers"]}
        if self.size["C"] < 2 or self.size["C"] % 2:
            raise SearchError(f"prune supernet C must be even and >= 2, got {self.size['C']}")

    def hyperparameters(self) -> dict[str, Any]:
        return {"seed": self.seed, "ops": list(self.ops), "supernet": dict(self.size),
                "rule": self.rule, "edge_rule": RULES[self.rule],
                "aggregation": COMBINE_METHOD}

    def expected_evaluations(self) -> int:
        """Supernet evaluations of a full run (for progress bars)."""
        k = len(self.ops)
        if self.space.name == "nb201":
            edges, extra = 6, 0
            if self.rule == "discretize":
                return edges * (k + 1)
        else:
            edges = 2 * len(DARTS_EDGES)
            # input selection: node with m inputs needs m - 2 rounds removing one each
            extra = 2 * sum(sum(m - r for r in range(m - 2)) for m in range(3, 2 + DARTS_STEPS))
            extra += DARTS_STEPS - 1  # one evaluation of the current supernet per round
        if self.rule == "discretize":
            return edges * (k + 1) + extra
        return edges * sum(range(2, k + 1)) + (k - 1) + extra

    # ------------------------------------------------------------------ running
    def run(
        self,
        proxies: str | Sequence[str],
        dataset: str,
        settings: ScoreSettings,
        store: ScoreStore | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        overrides: Mapping[str, ProxySpec] | None = None,
    ) -> PruneOutcome:
        """Prune the supernet with the objective ``proxies``; the networks are sized for
        ``dataset``. Returns the architecture and the cost. ``overrides`` replaces registered
        proxy specs by name (as :class:`~zeronas.search.objective.Objective` does)."""
        items = parse_objective(proxies)
        base, composites = expand(items)
        specs = resolve_proxies(base, overrides)
        for s in specs:
            if s.needs_arch:
                raise SearchError(
                    f"proxy {s.name!r} reads the architecture, not the module, so it cannot "
                    "score a supernet: prune with module proxies, or use the random or "
                    "evolution searcher"
                )
        info = self.space.dataset(dataset)
        meta = not any(s.needs_weights for s in specs)  # structural proxies only
        with seeded(settings.seed), torch.device("meta" if meta else "cpu"):
            supernet = build_supernet(self.space, self.ops, info.num_classes, **self.size)
        ctx = make_context(self.space, dataset, settings)
        batch: Batch | None = (make_batch(self.space, dataset, settings)
                               if any(s.needs_data for s in specs) else None)
        config = {"supernet": self.space.name, "ops": list(self.ops), **self.size}
        keys = {}
        if store is not None:
            keys = {s.name: store.register_protocol(
                {**proxy_protocol(s, self.space.name, dataset, settings), "supernet": config})
                for s in specs}
        total = self.expected_evaluations()
        counter = {"evaluations": 0, "computed": 0}
        split: dict[str, dict[str, int]] = {}  # supernet key -> {proxy: micro-batch}
        t_start = time.perf_counter()

        def score(state: State) -> dict[str, float]:
            key = _state_key(config, state)
            have: dict[str, float] = {}
            if store is not None:
                for s in specs:
                    got = store.get(self.space.name, [key], s.name, keys[s.name])
                    if key in got:
                        have[s.name] = got[key][0]
                        micro = store.get_micro_batches(self.space.name, [key], s.name,
                                                        keys[s.name])
                        if micro:
                            split.setdefault(key, {})[s.name] = micro[key]
            missing = [s for s in specs if s.name not in have]
            if missing:
                t0 = time.perf_counter()
                with supernet.pruned(state) as net:  # score_model copies what it scores
                    values = score_model(net, missing, batch, ctx, split=settings.split_on_oom)
                seconds = (time.perf_counter() - t0) / len(missing)
                counter["computed"] += 1
                have.update(values)
                if values.micro_batch:
                    split.setdefault(key, {}).update(values.micro_batch)
                if store is not None:
                    for s in missing:
                        store.put(self.space.name, key, {s.name: (values[s.name], seconds)},
                                  keys[s.name], micro_batch=values.micro_batch)
            counter["evaluations"] += 1
            if on_progress is not None:
                on_progress(counter["evaluations"], total)
            return have

        def importance(current: dict[str, float], without: list[dict[str, float]]) -> np.ndarray:
            deltas = {s.name: np.array([_delta(s, current[s.name], w[s.name]) for w in without])
                      for s in specs}
            return _combine_importance(items, composites, deltas)

        state: dict[Hashable, tuple[str, ...]] = supernet.full_state()
        rounds: list[dict[str, Any]] = []
        # -------- Zero-Cost-PT: decide one edge at a time, in a seeded random order
        if self.rule == "discretize":
            order = list(state)
            np.random.default_rng(self.seed).shuffle(order)  # type: ignore[arg-type]
            for e in order:
                if len(state[e]) < 2:
                    continue
                current = score(state)
                cands = list(state[e])
                without = [score({**state, e: tuple(o for o in cands if o != op)})
                           for op in cands]
                imp = importance(current, without)
                i = max(range(len(cands)),
                        key=lambda i: (_nan_low(imp[i]), -self.ops.index(cands[i])))
                state[e] = (cands[i],)
                rounds.append({"stage": "discretize", "edge": _edge_name(e),
                               "candidates": len(cands), "kept": cands[i]})
        # -------- op pruning: one op per edge per round
        while any(len(v) > 1 for v in state.values()):
            current = score(state)
            cands = [(e, op) for e, ops in state.items() if len(ops) > 1 for op in ops]
            without = [score({**state, e: tuple(o for o in state[e] if o != op)})
                       for e, op in cands]
            imp = importance(current, without)
            pruned = {}
            for e in state:
                idx = [i for i, (ce, _) in enumerate(cands) if ce == e]
                if idx:
                    i = min(idx, key=lambda i: (_nan_low(imp[i]), self.ops.index(cands[i][1])))
                    pruned[e] = cands[i][1]
            for e, op in pruned.items():
                state[e] = tuple(o for o in state[e] if o != op)
            rounds.append({"stage": "ops", "candidates": len(cands),
                           "pruned": {_edge_name(e): op for e, op in pruned.items()}})
        # -------- DARTS: keep two inputs per node
        if self.space.name == "darts":
            while True:
                over = [(which, node) for which in ("normal", "reduce")
                        for node in range(2, 2 + DARTS_STEPS)
                        if len(_node_edges(state, which, node)) > 2]
                if not over:
                    break
                current = score(state)
                cands = [(which, node, e) for which, node in over
                         for e in _node_edges(state, which, node)]
                without = [score({**state, (which, e): ()}) for which, _, e in cands]
                imp = importance(current, without)
                removed = {}
                for which, node in over:
                    idx = [i for i, c in enumerate(cands) if c[:2] == (which, node)]
                    i = min(idx, key=lambda i: (_nan_low(imp[i]), cands[i][2]))
                    state[(which, cands[i][2])] = ()
                    removed[f"{which}:node{node}"] = f"input {DARTS_EDGES[cands[i][2]][0]}"
                rounds.append({"stage": "inputs", "candidates": len(cands), "pruned": removed})
        arch = self._arch(state)
        return PruneOutcome(arch, counter["evaluations"], counter["computed"],
                            time.perf_counter() - t_start, rounds, split)

    def _arch(self, state: State) -> Any:
        if self.space.name == "nb201":
            from zeronas.spaces.nb201 import NB201Arch

            arch: Any = NB201Arch(tuple(state[e][0] for e in range(6)))
        else:
            from zeronas.spaces.darts import DartsGenotype

            cells = []
            for which in ("normal", "reduce"):
                cell = []
                for node in range(2, 2 + DARTS_STEPS):
                    for e in _node_edges(state, which, node):
                        cell.append((state[(which, e)][0], DARTS_EDGES[e][0]))
                cells.append(cell)
            arch = DartsGenotype.create(cells[0], cells[1])
        return self.space.from_str(self.space.to_str(arch))  # validated by the space


def _node_edges(state: State, which: str, node: int) -> list[int]:
    return [e for e, (_, dst) in enumerate(DARTS_EDGES) if dst == node and state[(which, e)]]


def _edge_name(e: Hashable) -> str:
    if isinstance(e, tuple):
        which, i = e
        src, dst = DARTS_EDGES[i]
        return f"{which}:{src}->{dst}"
    from zeronas.spaces.nb201 import EDGES

    src, dst = EDGES[int(e)]  # type: ignore[call-overload]
    return f"{src}->{dst}"


def _state_key(config: dict[str, Any], state: State) -> str:
    """A stable string naming a supernet configuration and its remaining ops."""
    size = ",".join(f"{k}={v}" for k, v in config.items() if k not in ("supernet", "ops"))
    edges = ";".join(f"{_edge_name(e)}:{'|'.join(ops) or '-'}" for e, ops in state.items())
    return f"supernet({config['supernet']};{size})[{edges}]"


def _goodness(spec: ProxySpec, value: float) -> float:
    return value if spec.higher_is_better else -value


def _delta(spec: ProxySpec, current: float, without: float) -> float:
    """How much removing an op lowers ``spec``'s goodness (+inf when the removal breaks it)."""
    if math.isnan(current):
        return math.nan
    if math.isnan(without):
        return math.inf
    return _goodness(spec, current) - _goodness(spec, without)


def _nan_low(x: float) -> float:
    return -math.inf if math.isnan(x) else float(x)


def _combine_importance(items: Sequence[str], composites: dict[str, Any],
                        deltas: dict[str, np.ndarray]) -> np.ndarray:
    """Aggregate per-proxy importances (higher = more important) over the candidates."""
    if len(items) == 1 and items[0] not in composites:
        return deltas[items[0]]
    up = {n: True for n in deltas}
    parts = {item: (compose(item, deltas, up) if item in composites else deltas[item])
             for item in items}
    if len(parts) == 1:
        return next(iter(parts.values()))
    return aggregate(parts, COMBINE_METHOD, {n: True for n in parts})
