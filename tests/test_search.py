"""Zero-shot search: the ask/tell contract, determinism, evolution vs random, constraints before
scoring, resume through the store, supernet pruning, the result's JSON, ground truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from zeronas.bench.groundtruth import GroundTruth, load_ground_truth
from zeronas.errors import ZeronasError
from zeronas.execution.store import ScoreStore
from zeronas.proxies import ProxySpec, ScoreSettings, register_proxy
from zeronas.proxies.base import _PROXIES
from zeronas.proxies.ensemble import aggregate
from zeronas.search import (
    DEFAULT_OBJECTIVE,
    Constraints,
    Objective,
    PruneSearch,
    RandomSearch,
    Searcher,
    SearchError,
    SpaceExhausted,
    list_searchers,
    make_searcher,
    run_search,
    searcher_options,
)
from zeronas.search.objective import parse_objective
from zeronas.search.supernet import DARTS_EDGES, build_supernet
from zeronas.spaces import get_space
from zeronas.spaces.base import DatasetInfo, Space

ASK_TELL = ["random", "evolution"]
SETTINGS = ScoreSettings(batch_size=2, batches=1)


@pytest.fixture(scope="module")
def tiny201():
    """NB201 with a 2-channel, 1-cell-per-stage network: same architectures, cheap networks."""
    return get_space("nb201", C=2, N=1)


@pytest.fixture
def fake_proxies():
    """Temporary data-free proxies on meta networks: conv count (toy objective), a call
    counter, and the conv count negated (lower is better)."""
    calls: list[int] = []

    def convs(model, batch, ctx):
        """Number of Conv2d modules."""
        return float(sum(isinstance(m, nn.Conv2d) for m in model.modules()))

    def counted(model, batch, ctx):
        """Counts calls; the value is the parameter count."""
        calls.append(1)
        return float(sum(p.numel() for p in model.parameters()))

    def neg_convs(model, batch, ctx):
        """Minus the conv count, lower is better (so the same ordering as convs)."""
        return -convs(model, batch, ctx)

    specs = [
        ProxySpec("_t_convs", convs, "conv count", "test", needs_data=False, needs_weights=False),
        ProxySpec("_t_count", counted, "counter", "test", needs_data=False, needs_weights=False),
        ProxySpec("_t_negconvs", neg_convs, "neg conv count", "test", higher_is_better=False,
                  needs_data=False, needs_weights=False),
    ]
    for s in specs:
        register_proxy(s)
    yield calls
    for s in specs:
        _PROXIES.pop(s.name, None)


def conv_ops(arch) -> int:
    return sum(op.startswith("nor_conv") for op in arch.ops)


# ------------------------------------------------------------------ ask/tell contract
@pytest.mark.parametrize("name", ASK_TELL)
@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_searcher_contract(name, space_name):
    """One contract for every ask/tell searcher: valid proposals, tell/reject/rescore accepted,
    own seeded generator (same seed and scores -> same proposals), hyper-parameters recorded."""
    sp = get_space(space_name)
    assert name in list_searchers()

    def drive(seed: int) -> list[str]:
        opts = {"population_size": 5, "sample_size": 2} if name == "evolution" else {}
        s = make_searcher(name, sp, seed, **opts)
        assert isinstance(s, Searcher) and s.hyperparameters()["seed"] == seed
        out = []
        for i in range(40):
            arch = s.ask()
            key = sp.to_str(arch)
            assert sp.to_str(sp.from_str(key)) == key  # a valid architecture of the space
            out.append(key)
            if i % 7 == 3:
                s.reject(arch)
            else:
                s.tell(arch, float(len(key) % 13) if i % 11 else math.nan)
            s.rescore(lambda a: float(len(sp.to_str(a)) % 5))
        return out

    a = drive(3)
    assert a == drive(3)
    assert a != drive(4)
    if name == "random":
        assert len(set(a)) == len(a)


def test_searchers_use_no_global_rng(tiny201):
    np.random.seed(0)
    a = [tiny201.to_str(RandomSearch(tiny201, 1).ask()) for _ in range(2)]
    np.random.seed(1)
    b = [tiny201.to_str(RandomSearch(tiny201, 1).ask()) for _ in range(2)]
    assert a == b


def test_random_search_exhausts_a_finite_space_without_repeats():
    class Tiny(Space[int]):
        name = "tiny"
        datasets = {"d": DatasetInfo("d", 2, (1, 2, 2))}  # noqa: RUF012

        def sample(self, rng):
            return int(rng.integers(7))

        def mutate(self, arch, rng):
            return (arch + 1) % 7

        def neighbours(self, arch):
            return [(arch + 1) % 7]

        def to_str(self, arch):
            return str(arch)

        def from_str(self, text):
            return int(text)

        def to_torch(self, arch, **kw):
            return nn.Linear(4, 2)

        def to_graph(self, arch):
            raise NotImplementedError

        @property
        def finite(self):
            return True

        def __len__(self):
            return 7

        def __getitem__(self, i):
            return i

    s = RandomSearch(Tiny(), 0)
    seen = []
    for _ in range(7):
        a = s.ask()
        seen.append(a)
        s.tell(a, 0.0)
    assert sorted(seen) == list(range(7))
    with pytest.raises(SpaceExhausted):
        s.ask()


def test_searcher_options_are_checked(tiny201):
    with pytest.raises(SearchError, match="population_size"):
        make_searcher("evolution", tiny201, 0, population_size=0)
    with pytest.raises(SearchError, match="sample_size"):
        make_searcher("evolution", tiny201, 0, population_size=5, sample_size=6)
    with pytest.raises(SearchError, match="options"):
        make_searcher("evolution", tiny201, 0, populaton_size=5)
    with pytest.raises(ZeronasError, match="unknown searcher"):
        make_searcher("evolutoin", tiny201, 0)
    with pytest.raises(SearchError, match="nb201 or darts"):
        make_searcher("prune", get_space("nb101"), 0)
    opts = searcher_options(population_size=20, ops="none, skip_connect", layers=None)
    assert opts == {"population_size": 20, "ops": ("none", "skip_connect")}
    with pytest.raises(SearchError, match="population_size"):
        make_searcher("random", tiny201, 0, **opts)


# ------------------------------------------------------------------ driver
def test_run_search_is_deterministic(tiny201, fake_proxies):
    runs = [run_search(tiny201, "_t_convs,_t_count", "evolution", 40, 7, SETTINGS,
                       ground_truth=False,
                       searcher_options={"population_size": 10, "sample_size": 3})
            for _ in range(2)]
    h0, h1 = ([(h["arch"], h["aggregate"], h["best_arch"]) for h in r.history] for r in runs)
    assert h0 == h1 and len(h0) == 40
    other = run_search(tiny201, "_t_convs", "evolution", 40, 8, SETTINGS, ground_truth=False)
    assert [h["arch"] for h in other.history] != [a for a, _, _ in h0]


def test_evolution_beats_random_on_a_toy_objective(tiny201, fake_proxies):
    """Objective: number of Conv2d modules (grows with the count of conv ops in the cell)."""
    best = {}
    for name in ASK_TELL:
        found = []
        for seed in range(3):
            r = run_search(tiny201, "_t_convs", name, 60, seed, SETTINGS, ground_truth=False,
                           searcher_options={"population_size": 10, "sample_size": 3}
                           if name == "evolution" else None)
            found.append(conv_ops(tiny201.from_str(r.best["arch"])))
        best[name] = np.mean(found)
    assert best["evolution"] > best["random"]
    assert best["evolution"] >= 5.5  # 6 is the maximum; random hits it with p ~ 0.2 per run


def test_lower_is_better_proxy_is_negated(tiny201, fake_proxies):
    r = run_search(tiny201, "_t_negconvs", "evolution", 60, 0, SETTINGS, ground_truth=False,
                   searcher_options={"population_size": 10, "sample_size": 3})
    assert conv_ops(tiny201.from_str(r.best["arch"])) >= 5
    assert r.best["aggregate"] == -r.best["scores"]["_t_negconvs"]


def test_rank_aggregate_is_recomputed_over_the_pool(tiny201, fake_proxies):
    r = run_search(tiny201, "_t_convs+_t_count", "random", 30, 0, SETTINGS, ground_truth=False)
    assert r.protocol["objective"]["pool_relative"]
    raw = {p: np.array([h["scores"][p] for h in r.history]) for p in ("_t_convs", "_t_count")}
    final = aggregate(raw, "mean_rank")
    assert r.best["arch"] == r.history[int(np.argmax(final))]["arch"]
    assert r.best["aggregate"] == pytest.approx(final.max())
    # each history row's best is the argmax of the aggregate over the pool at that time
    for n in (5, 17):
        agg = aggregate({p: v[:n] for p, v in raw.items()}, "mean_rank")
        assert r.history[n - 1]["best_arch"] == r.history[int(np.argmax(agg))]["arch"]
    # several items: mean rank of the items; a plain proxy alone: its value (not pool-relative)
    ob = Objective("_t_convs,_t_count", tiny201, "cifar10", SETTINGS)
    assert ob.pool_relative and ob.method == "mean_rank"
    assert not Objective("_t_convs", tiny201, "cifar10", SETTINGS).pool_relative


def test_repeats_are_free_and_capped(tiny201, fake_proxies):
    """A searcher that keeps proposing one architecture: answered from the pool, no budget
    spent, and the search stops with a warning at the repeat cap."""
    from zeronas.search import SearchWarning, register_searcher
    from zeronas.search.base import _SEARCHERS

    class Same(Searcher):
        name = "_t_same"

        def __init__(self, space, seed=0):
            super().__init__(space, seed)
            self.told = []

        def ask(self):
            return self.space[0]

        def tell(self, arch, score):
            self.told.append(score)

    register_searcher("_t_same")(Same)
    try:
        with pytest.warns(SearchWarning, match="repeat cap"):
            r = run_search(tiny201, "_t_count", "_t_same", 5, 0, SETTINGS, ground_truth=False,
                           max_repeats=20)
    finally:
        _SEARCHERS.pop("_t_same", None)
    assert r.evaluated == 1 and r.repeats == 20 and r.stopped == "repeat cap"
    assert len(fake_proxies) == 1


def test_objective_errors():
    assert parse_objective(DEFAULT_OBJECTIVE)
    with pytest.raises(ZeronasError, match="unknown proxy"):
        parse_objective("synflow+naswotx")
    with pytest.raises(ZeronasError):
        parse_objective(" , ")
    with pytest.raises(SearchError, match="budget"):
        run_search("nb201", "params", "random", 0)


# ------------------------------------------------------------------ constraints
def test_constraints_reject_before_scoring(tiny201, fake_proxies):
    calls = fake_proxies
    from zeronas.search.constraints import ConstraintChecker

    checker = ConstraintChecker(tiny201, "cifar10", Constraints())
    params = sorted({checker.params(tiny201[i]) for i in range(150)})
    limit = params[len(params) // 3]  # a tight budget: many candidates are rejected
    r = run_search(tiny201, "_t_count", "random", 20, 0, SETTINGS, ground_truth=False,
                   max_params=limit)
    assert r.evaluated == 20 and r.rejected > 0
    assert len(calls) == 20  # over-budget candidates were never scored
    assert all(h["scores"]["_t_count"] >= 0 for h in r.history)
    assert all(checker.params(tiny201.from_str(h["arch"])) <= limit for h in r.history)
    assert r.best["params"] <= limit
    assert r.protocol["constraints"]["max_params_M"] == limit
    assert r.protocol["rejection_reasons"] == {"params": r.rejected}

    flops = run_search(tiny201, "_t_count", "evolution", 10, 0, SETTINGS, ground_truth=False,
                       max_flops=1e6)
    assert flops.rejected == 0 and flops.best["flops"] > 0

    # impossible budget: a clear error once the rejection cap is reached, nothing scored
    n = len(calls)
    with pytest.raises(SearchError, match="over budget"):
        run_search(tiny201, "_t_count", "random", 5, 0, SETTINGS, ground_truth=False,
                   max_params=1e-6, max_rejected=30)
    assert len(calls) == n


def test_latency_budget_needs_a_measurement(tiny201, fake_proxies):
    with pytest.raises(SearchError, match="latency"):
        run_search(tiny201, "_t_count", "random", 5, 0, SETTINGS, max_latency_ms=5.0)
    seen = []

    def fake_latency(arch):
        seen.append(arch)
        return float(conv_ops(arch))

    r = run_search(tiny201, "_t_convs", "evolution", 15, 0, SETTINGS, ground_truth=False,
                   max_latency_ms=2.0, latency_fn=fake_latency)
    assert r.rejected > 0 and seen
    assert all(conv_ops(tiny201.from_str(h["arch"])) <= 2 for h in r.history)
    assert r.best["latency_ms"] <= 2.0
    with pytest.raises(SearchError, match="positive"):
        Constraints(max_flops=-1.0)


# ------------------------------------------------------------------ store: reuse and resume
def test_search_resumes_through_the_store(tmp_path, tiny201, fake_proxies):
    calls = fake_proxies
    path = tmp_path / "s.sqlite"

    class Stop(Exception):
        pass

    def stop_after_7(done, total):
        if done == 7:
            raise Stop

    with ScoreStore(path) as st, pytest.raises(Stop):
        run_search(tiny201, "_t_count", "evolution", 25, 3, SETTINGS, st, ground_truth=False,
                   on_progress=stop_after_7)
    assert len(calls) == 7
    with ScoreStore(path) as st:
        first = run_search(tiny201, "_t_count", "evolution", 25, 3, SETTINGS, st,
                           ground_truth=False)
    assert len(calls) == 25  # only the missing 18 were computed
    assert first.cost["scores_reused"] == 7 and first.cost["scores_computed"] == 18
    with ScoreStore(path) as st:
        again = run_search(tiny201, "_t_count", "evolution", 25, 3, SETTINGS, st,
                           ground_truth=False)
    assert len(calls) == 25  # a repeated search computes nothing
    assert again.cost["scores_computed"] == 0
    assert again.best == first.best
    assert [h["arch"] for h in again.history] == [h["arch"] for h in first.history]


# ------------------------------------------------------------------ pruning
def test_prune_nb201_tiny_supernet(tmp_path, tiny201):
    sp = tiny201  # the supernet size is the searcher's; the space's is for the final network
    assert make_searcher("prune", sp, 0).expected_evaluations() == 6 * (2 + 3 + 4 + 5) + 4
    opts = {"ops": ("none", "nor_conv_1x1", "nor_conv_3x3"), "C": 4, "N": 1}
    with ScoreStore(tmp_path / "p.sqlite") as st:
        r = run_search(sp, "synflow", "prune", seed=0, settings=SETTINGS, store=st,
                       ground_truth=False, searcher_options=opts)
        arch = sp.from_str(r.best["arch"])
        assert len(arch.ops) == 6 and set(arch.ops) <= set(opts["ops"])
        assert r.evaluated == 6 * (2 + 3) + 2
        assert r.cost["supernets_computed"] == r.evaluated and r.cost["prune_seconds"] > 0
        assert len(r.history) == 2 and all(len(h["pruned"]) == 6 for h in r.history)
        # synflow with BN off: 'none' contributes nothing, so it is pruned first everywhere
        assert set(r.history[0]["pruned"].values()) == {"none"}
        assert r.best["constraints_met"] and r.best["flops"] > 0
        assert r.protocol["searcher_options"]["supernet"] == {"C": 4, "N": 1}
        again = run_search(sp, "synflow", "prune", seed=0, settings=SETTINGS, store=st,
                           ground_truth=False, searcher_options=opts)
    assert again.best["arch"] == r.best["arch"] and again.cost["supernets_computed"] == 0


def test_prune_discretize_rule_is_zero_cost_pt(tiny201):
    """Zero-Cost-PT: edges decided one at a time (seeded order), each keeping the op whose
    removal lowers the objective most: k + 1 supernet evaluations per edge."""
    sp = tiny201
    opts = {"ops": ("none", "skip_connect", "nor_conv_3x3"), "C": 4, "N": 1,
            "rule": "discretize"}
    assert make_searcher("prune", sp, 0, **opts).expected_evaluations() == 6 * 4
    runs = [run_search(sp, "synflow", "prune", seed=s, settings=SETTINGS, ground_truth=False,
                       searcher_options=opts) for s in (0, 0, 1)]
    assert runs[0].best["arch"] == runs[1].best["arch"] and runs[0].evaluated == 24
    hist = runs[0].history
    assert [h["stage"] for h in hist] == ["discretize"] * 6
    assert sorted(h["edge"] for h in hist) == sorted(h["edge"] for h in runs[2].history)
    assert [h["edge"] for h in hist] != [h["edge"] for h in runs[2].history]  # seeded order
    # synflow (BN off) loses most when a convolution is removed: every edge keeps it
    assert {h["kept"] for h in hist} == {"nor_conv_3x3"}
    assert set(sp.from_str(runs[0].best["arch"]).ops) == {"nor_conv_3x3"}
    assert runs[0].protocol["searcher_options"]["rule"] == "discretize"
    with pytest.raises(SearchError, match="unknown prune rule"):
        make_searcher("prune", sp, 0, rule="greedy")


def test_prune_darts_tiny_supernet(fake_proxies):
    sp = get_space("darts", distinct_inputs=True)
    ops = ("max_pool_3x3", "sep_conv_3x3")
    r = run_search(sp, "params+_t_convs", "prune", seed=0, settings=SETTINGS,
                   ground_truth=False, searcher_options={"ops": ops, "C": 4, "layers": 3})
    g = sp.from_str(r.best["arch"])  # strict space: two distinct inputs per node
    for cell in (g.normal, g.reduce):
        assert all(op in ops for op, _ in cell)
    assert r.evaluated == make_searcher("prune", sp, 0, ops=ops, C=4,
                                        layers=3).expected_evaluations()
    assert [h["stage"] for h in r.history] == ["ops", "inputs", "inputs", "inputs"]
    # params and conv count both reward convolutions: pooling is pruned everywhere
    assert all(op == "sep_conv_3x3" for op, _ in (*g.normal, *g.reduce))


def test_supernet_restricted_keeps_weights():
    sp = get_space("darts")
    net = build_supernet(sp, ("skip_connect", "sep_conv_3x3"), 10, C=4, layers=3)
    state = net.full_state()
    state[("normal", 0)] = ("sep_conv_3x3",)
    state[("normal", len(DARTS_EDGES) - 1)] = ()
    small = net.restricted(state)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in net.parameters())
    w_full = dict(net.named_parameters())
    assert all(torch.equal(p, w_full[n]) for n, p in small.named_parameters())
    assert small(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_prune_refuses_architecture_proxies(tiny201):
    spec = ProxySpec("_t_arch", lambda m, b, c: 0.0, "reads arch", "test", needs_data=False,
                     needs_arch=True)
    register_proxy(spec)
    try:
        with pytest.raises(SearchError, match="supernet"):
            PruneSearch(get_space("nb201"), C=2).run("_t_arch", "cifar10", SETTINGS)
    finally:
        _PROXIES.pop("_t_arch", None)


def test_overrides_replace_a_proxy_by_name(tiny201, fake_proxies):
    """``overrides`` (the CLI's ``--predictor-weights``) swap a registered spec for another of
    the same name in every searcher, and the protocol says what the swapped one depends on."""
    def fewer_convs(model, batch, ctx):
        """Minus the conv count, presented as higher-is-better: the opposite ranking."""
        return -float(sum(isinstance(m, nn.Conv2d) for m in model.modules()))

    swapped = ProxySpec("_t_convs", fewer_convs, "fewer convs", "test", needs_data=False,
                        needs_weights=False, describe=lambda space, network=None: {"bound": 1})
    for searcher, opts in (("random", {}), ("evolution", {}),
                           ("prune", {"ops": ("none", "nor_conv_3x3"), "C": 4, "N": 1})):
        kw = dict(budget=30, seed=0, settings=SETTINGS, ground_truth=False,
                  searcher_options=opts)
        plain = run_search(tiny201, "_t_convs", searcher, **kw)
        bound = run_search(tiny201, "_t_convs", searcher, overrides={"_t_convs": swapped}, **kw)
        n_plain = conv_ops(tiny201.from_str(plain.best["arch"]))
        n_bound = conv_ops(tiny201.from_str(bound.best["arch"]))
        assert n_bound < n_plain, searcher  # the override, not the registered spec, ranked
        assert bound.protocol["objective"]["proxy_details"] == {"_t_convs": {"bound": 1}}
        assert "proxy_details" not in plain.protocol["objective"]


# ------------------------------------------------------------------ result
def test_result_json_and_plot(tmp_path, tiny201, fake_proxies):
    truth = {tiny201.to_str(tiny201[i]): float(i % 97) for i in range(len(tiny201))}
    gt = GroundTruth("nb201", {"cifar10": truth}, tuple(truth), "fake truth", "test")
    r = run_search(tiny201, "_t_convs+_t_count", "evolution", 12, 1, SETTINGS,
                   ground_truth=gt, searcher_options={"population_size": 5, "sample_size": 2})
    d = json.loads(json.dumps(r.to_json()))
    assert set(d) >= {"protocol", "best", "evaluated", "rejected", "seconds", "history"}
    p = d["protocol"]
    for key in ("space", "searcher", "searcher_options", "objective", "budget", "seed", "data",
                "batch_size", "batches", "constraints", "network_init_seed", "dataset"):
        assert key in p
    assert p["searcher_options"] == {"seed": 1, "population_size": 5, "sample_size": 2}
    assert p["objective"]["proxies"] == ["_t_convs", "_t_count"]
    assert set(d["best"]) >= {"arch", "scores", "flops", "params", "ground_truth"}
    assert d["best"]["ground_truth"] == {"cifar10": truth[d["best"]["arch"]]}
    assert d["evaluated"] == 12 == len(d["history"]) and d["rejected"] == 0
    h = d["history"][-1]
    assert set(h) >= {"arch", "scores", "aggregate", "best_arch", "best_aggregate", "truth",
                      "best_truth"}
    assert h["truth"] == truth[h["arch"]]
    out = r.write(tmp_path / "r" / "search.json")
    assert json.loads(out.read_text())["best"]["arch"] == r.best["arch"]
    pytest.importorskip("matplotlib")
    png = r.plot(tmp_path / "r" / "search.json")
    assert png.suffix == ".png" and png.stat().st_size > 1000


def test_ground_truth_lookup(nb201_csv, tiny201):
    r = run_search(tiny201, "params", "random", 8, 0, SETTINGS, data_dir=nb201_csv.parents[1])
    gt = load_ground_truth("nb201", nb201_csv.parents[1])
    best = r.best["arch"]
    assert r.best["ground_truth"] == {ds: gt.get(best, ds) for ds in gt.datasets}
    assert set(r.best["ground_truth"]) == {"cifar10", "cifar100", "ImageNet16-120"}
    assert all(h["truth"] == gt.get(h["arch"], "cifar10") for h in r.history)
    assert r.protocol["truth_dataset"] == "cifar10"
    none = run_search(tiny201, "params", "random", 3, 0, SETTINGS, ground_truth=False)
    assert none.best["ground_truth"] is None and none.history[0]["truth"] is None
