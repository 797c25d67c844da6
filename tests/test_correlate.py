"""Agreement metrics, the score store, and the correlate protocol (resume after interrupt)."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from zeronas.bench.correlate import constant_value, correlate, parse_sample, select_sample
from zeronas.bench.evaluate import agreement, bootstrap_intervals, top_fraction_precision
from zeronas.bench.groundtruth import GroundTruth
from zeronas.cli import app
from zeronas.errors import DataError, ZeronasError
from zeronas.execution.store import ScoreStore, protocol_key
from zeronas.proxies import ProxySpec, ScoreSettings, register_proxy
from zeronas.proxies.base import _PROXIES


def test_agreement_by_hand():
    truth = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert agreement(truth * 2, truth).kendall == pytest.approx(1.0)
    assert agreement(-truth, truth).spearman == pytest.approx(-1.0)
    assert agreement(-truth, truth, higher_is_better=False).kendall == pytest.approx(1.0)
    # one discordant pair of 10 -> tau = (9 - 1) / 10
    p = np.array([1.0, 3.0, 2.0, 4.0, 5.0])
    assert agreement(p, truth).kendall == pytest.approx(0.8)
    a = agreement(np.array([1.0, np.nan, 3.0, 4.0, 5.0]), truth)
    assert a.nan_count == 1 and a.n == 4 and a.kendall == pytest.approx(1.0)
    const = agreement(np.ones(5), truth)
    assert math.isnan(const.kendall)
    with pytest.raises(ZeronasError):
        agreement(np.ones(3), truth)


def test_agreement_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    p, t = rng.integers(0, 5, 50).astype(float), rng.normal(size=50)
    assert agreement(p, t).kendall == pytest.approx(stats.kendalltau(p, t).statistic)


def test_bootstrap_intervals_cover_and_shrink():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=2000)
    proxy = truth + rng.normal(size=2000)
    k_small, _ = bootstrap_intervals(proxy[:100], truth[:100], 300, seed=0)
    k_big, s_big = bootstrap_intervals(proxy, truth, 300, seed=0)
    tau = stats.kendalltau(proxy, truth).statistic
    rho = stats.spearmanr(proxy, truth).statistic
    assert k_big[0] < tau < k_big[1] and s_big[0] < rho < s_big[1]
    # the interval narrows roughly as 1/sqrt(n): 20x the data, about 4.5x narrower
    ratio = (k_small[1] - k_small[0]) / (k_big[1] - k_big[0])
    assert 3.0 < ratio < 7.0
    assert bootstrap_intervals(proxy, truth, 300, seed=0) == (k_big, s_big)  # seeded
    assert bootstrap_intervals(proxy, truth, 300, seed=1) != (k_big, s_big)
    agr = agreement(-proxy, truth, higher_is_better=False, bootstrap=300)
    assert agr.kendall_ci == k_big
    with pytest.raises(ZeronasError, match="resamples"):
        bootstrap_intervals(proxy, truth, 0)
    assert math.isnan(bootstrap_intervals(proxy[:2], truth[:2])[0][0])


def test_top_fraction_precision():
    truth = np.arange(20.0)
    assert top_fraction_precision(truth, truth) == 1.0
    assert top_fraction_precision(-truth, truth) == 0.0
    p = truth.copy()
    p[19], p[0] = p[0], p[19]  # swap best and worst: one of the top-2 lost
    assert top_fraction_precision(p, truth) == 0.5


def test_sample_selection():
    a = select_sample(100, 10, 0)
    assert a == select_sample(100, 10, 0) and len(set(a)) == 10 and a == sorted(a)
    assert a != select_sample(100, 10, 1)
    assert select_sample(5, None, 0) == [0, 1, 2, 3, 4]
    assert parse_sample("all") is None and parse_sample("12") == 12
    with pytest.raises(ZeronasError):
        parse_sample("many")


def test_store_round_trip(tmp_path):
    path = tmp_path / "s.sqlite"
    with ScoreStore(path) as st:
        key = st.register_protocol({"a": 1})
        assert key == protocol_key({"a": 1}) != protocol_key({"a": 2})
        st.put("nb201", "x", {"p": (1.5, 0.1), "q": (math.nan, 0.2)}, key)
    with ScoreStore(path) as st:
        got = st.get("nb201", ["x", "y"], "p", key)
        assert got == {"x": (1.5, 0.1)}
        assert math.isnan(st.get("nb201", ["x"], "q", key)["x"][0])
    (tmp_path / "bad.sqlite").write_text("not a database at all " * 100)
    with pytest.raises(DataError):
        ScoreStore(tmp_path / "bad.sqlite")


def test_store_open_retries_a_locked_race(tmp_path, monkeypatch):
    """Two lanes creating one new store together: SQLite may answer "database is locked" at
    the WAL switch at once, without waiting. The open retries; a store that stays locked gets
    an error saying so (not "not a zeronas store")."""
    import zeronas.execution.store as store_mod

    real_connect = sqlite3.connect
    refusals = {"left": 2}

    class Refusing:
        def execute(self, *_: object) -> None:
            raise sqlite3.OperationalError("database is locked")

        def close(self) -> None:
            pass

    def connect(*args: object, **kwargs: object) -> object:
        if refusals["left"] > 0:
            refusals["left"] -= 1
            return Refusing()
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(store_mod.sqlite3, "connect", connect)
    with ScoreStore(tmp_path / "s.sqlite") as st:
        st.put("nb201", "x", {"p": (1.0, 0.1)}, st.register_protocol({"a": 1}))
    assert refusals["left"] == 0
    with ScoreStore(tmp_path / "s.sqlite") as st:
        assert st.get("nb201", ["x"], "p", st.register_protocol({"a": 1})) == {"x": (1.0, 0.1)}
    monkeypatch.setattr(store_mod.sqlite3, "connect", lambda *a, **k: Refusing())
    with pytest.raises(DataError, match=r"stayed locked for 0\.2 s"):
        store_mod.open_sqlite(str(tmp_path / "t.sqlite"), "", wait_s=0.2)


def test_store_open_errors_are_data_errors(tmp_path):
    """A real lock held by another connection: a clear error once the wait is over, and the
    open works when it is released. A path SQLite cannot open at all (a directory) is a
    DataError naming it, not a raw sqlite3 error, for the navigator's store too (it opens its
    file the same way)."""
    from zeronas.execution.store import open_sqlite
    from zeronas.navigator.run import ActionLog

    path = tmp_path / "s.sqlite"  # a new file another process is writing (not yet WAL)
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE other (x)")
    with pytest.raises(DataError, match="stayed locked"):
        open_sqlite(str(path), "", wait_s=0.3)
    holder.execute("COMMIT")
    holder.close()
    with ScoreStore(path) as st:
        st.put("nb201", "x", {"p": (1.0, 0.1)}, st.register_protocol({"a": 1}))
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(DataError, match=r"dir\.sqlite"):
        ScoreStore(tmp_path / "dir.sqlite")
    with pytest.raises(DataError, match=r"dir\.sqlite"):
        ActionLog(tmp_path / "dir.sqlite")


@pytest.fixture
def small_truth(nb201):
    rng = np.random.default_rng(1)
    archs = [nb201.to_str(nb201.sample(rng)) for _ in range(30)]
    archs = list(dict.fromkeys(archs))
    values = {a: float(i) for i, a in enumerate(archs)}
    return GroundTruth("nb201", {"cifar10": values}, tuple(archs), "synthetic test truth", "test")


@pytest.fixture
def counting_proxy():
    calls = []

    def count(model, batch, ctx):
        """Counts calls; returns the parameter count so the value depends on the network."""
        calls.append(1)
        return float(sum(p.numel() for p in model.parameters()))

    spec = register_proxy(ProxySpec("_test_count", count, "counts calls", "test",
                                    needs_data=False))
    yield spec, calls
    _PROXIES.pop("_test_count", None)


def test_correlate_resumes_after_interrupt(tmp_path, nb201, small_truth, counting_proxy):
    spec, calls = counting_proxy
    settings = ScoreSettings(batch_size=2, batches=1)

    class Stop(Exception):
        pass

    def stop_after_5(done, total):
        if done == 5:
            raise Stop

    with ScoreStore(tmp_path / "s.sqlite") as st, pytest.raises(Stop):
        correlate(nb201, "cifar10", [spec.name], None, 0, settings, st, small_truth,
                  on_progress=stop_after_5)
    assert len(calls) == 5
    with ScoreStore(tmp_path / "s.sqlite") as st:
        res = correlate(nb201, "cifar10", [spec.name], None, 0, settings, st, small_truth)
    assert len(calls) == len(small_truth)  # only the missing ones were computed
    assert res.summary["n"] == len(small_truth)
    r = res.summary["results"][spec.name]
    assert -1 <= r["kendall"] <= 1 and r["nan_count"] == 0
    assert res.summary["protocol"]["baseline_seconds_per_arch"] > 0
    with ScoreStore(tmp_path / "s.sqlite") as st:  # a third run computes nothing
        correlate(nb201, "cifar10", [spec.name], None, 0, settings, st, small_truth)
    assert len(calls) == len(small_truth)


def test_correlate_writes_files(tmp_path, nb201, small_truth):
    settings = ScoreSettings(batch_size=2, batches=1)
    with ScoreStore(tmp_path / "s.sqlite") as st:
        res = correlate(nb201, "cifar10", ["params"], 10, 0, settings, st, small_truth)
    paths = res.write(tmp_path / "out" / "c.json")
    summary = json.loads(paths[0].read_text())
    assert summary["protocol"]["sample"] == 10 and summary["n"] == 10
    assert set(summary["results"]["params"]) >= {"kendall", "spearman", "top10_precision",
                                                 "seconds_per_arch", "nan_count"}
    lines = paths[1].read_text().splitlines()
    assert lines[0].startswith("row,arch,ground_truth,index,params") and len(lines) == 11
    pngs = res.plot(tmp_path / "out" / "c.json")
    assert pngs[0].exists() and pngs[0].stat().st_size > 1000


def test_cli_correlate_real_ground_truth(tmp_path, nb201_csv):
    res = CliRunner().invoke(app, [
        "correlate", "--proxies", "params", "--sample", "30", "--seed", "0",
        "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "c.json"), "--no-plot",
        "--batch-size", "8",
    ])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "c.json").read_text())
    assert out["n"] == 30 and out["results"]["params"]["kendall"] > 0.3
    r = out["results"]["params"]
    assert r["kendall_ci"][0] <= r["kendall"] <= r["kendall_ci"][1]
    assert out["protocol"]["bootstrap"]["resamples"] == 1000
    assert "95% CI" in res.output and "percentile bootstrap" in res.output
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM scores WHERE proxy='params'").fetchone()[0] == 30
    shared = CliRunner().invoke(app, [
        "correlate", "--proxies", "params,grad_norm,snip", "--sample", "3", "--seed", "0",
        "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "d.json"), "--no-plot",
        "--batch-size", "4", "--shared-passes", "--no-split"])
    assert shared.exit_code == 0, shared.output
    out = json.loads((tmp_path / "d.json").read_text())
    assert out["protocol"]["timing_this_run"] == "shared passes"


def test_cli_correlate_bad_input(tmp_path):
    r = CliRunner().invoke(app, ["correlate", "--dataset", "cifar-10", "--sample", "5",
                                 "--store", str(tmp_path / "s"), "--out", str(tmp_path / "c")])
    assert r.exit_code == 2


def test_correlate_composite(tmp_path, nb201, small_truth):
    settings = ScoreSettings(batch_size=2, batches=1)
    with ScoreStore(tmp_path / "s.sqlite") as st:
        res = correlate(nb201, "cifar10", ["params", "log_rank:params+flops"], None, 0,
                        settings, st, small_truth)
    r = res.summary["results"]
    assert set(r) == {"params", "flops", "log_rank:params+flops"}
    comp = r["log_rank:params+flops"]
    assert comp["composite"]["method"] == "log_rank"
    assert comp["seconds_per_arch"] == pytest.approx(
        r["params"]["seconds_per_arch"] + r["flops"]["seconds_per_arch"])
    assert "log_rank:params+flops" in res.rows[0]
    with pytest.raises(ZeronasError, match="unknown proxy"):
        correlate(nb201, "cifar10", ["params+flopz"], None, 0, settings, st, small_truth)


def test_baseline_timed_on_a_prefix_only(tmp_path, nb201, small_truth):
    settings = ScoreSettings(batch_size=2, batches=1)
    with ScoreStore(tmp_path / "s.sqlite") as st:
        res = correlate(nb201, "cifar10", ["params"], 12, 0, settings, st, small_truth,
                        baseline_sample=3)
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        timed = {a for (a,) in conn.execute(
            "SELECT arch FROM scores WHERE proxy='_baseline_forward_backward'")}
    assert timed == {r["arch"] for r in res.rows[:3]}
    assert res.summary["protocol"]["baseline_sample"] == 3
    assert res.summary["protocol"]["baseline_seconds_per_arch"] > 0
    with pytest.raises(ZeronasError, match="baseline-sample"):
        parse_sample("0", "--baseline-sample", 1)


def test_constant_proxy_is_named_not_a_bare_nan(tmp_path, nb201, small_truth):
    """A proxy that scores every architecture the same (synflow through a saturated tanh
    gives exactly 0) has an undefined correlation: NaN, with the value and a warning."""
    spec = register_proxy(ProxySpec("_test_const", lambda model, batch, ctx: 0.0,
                                    "always 0", "test", needs_data=False))
    try:
        settings = ScoreSettings(batch_size=2, batches=1)
        with ScoreStore(tmp_path / "s.sqlite") as st, \
                pytest.warns(UserWarning, match="_test_const gave the same value"):
            res = correlate(nb201, "cifar10", [spec.name, "params"], 8, 0, settings, st,
                            small_truth)
    finally:
        _PROXIES.pop("_test_const", None)
    r = res.summary["results"]
    assert math.isnan(r["_test_const"]["kendall"]) and r["_test_const"]["constant_value"] == 0.0
    assert r["_test_const"]["nan_count"] == 0
    assert "constant_value" not in r["params"] and not math.isnan(r["params"]["kendall"])


def test_constant_value_by_hand():
    assert constant_value(np.array([2.0, 2.0, np.nan, 2.0])) == 2.0  # NaN ignored
    assert constant_value(np.array([0.0, -0.0])) == 0.0
    assert constant_value(np.array([1.0, 1.0 + 1e-12])) is None  # any difference ranks
    assert constant_value(np.array([np.nan, 3.0])) is None  # one finite value: nothing to say
    assert constant_value(np.array([np.inf, np.inf, 1.0])) is None


@pytest.mark.parametrize("workers", [None, 1])
def test_shared_passes_give_the_same_values(tmp_path, nb201, small_truth, workers):
    """--shared-passes scores an architecture's shared-pass proxies in one call: exactly the
    numbers of scoring each alone, the mode in the protocol, and a proxy outside the shared
    group still timed on its own (not charged a share of the gradient pass)."""
    from zeronas.execution.executor import LocalExecutor

    names = ["grad_norm", "snip", "fisher", "grasp", "zico", "naswot", "synflow", "params",
             "az_expressivity", "az_trainability"]
    settings = ScoreSettings(batch_size=4, batches=2)
    with ScoreStore(tmp_path / "s.sqlite") as st:
        alone = correlate(nb201, "cifar10", names, 3, 0, settings, st, small_truth)
    ex = LocalExecutor(workers=workers, threads=1) if workers else None
    with ScoreStore(tmp_path / "shared.sqlite") as st:
        shared = correlate(nb201, "cifar10", names, 3, 0, settings, st, small_truth,
                           executor=ex, shared_passes=True)
    if ex is not None:
        ex.close()
    for a, b in zip(alone.rows, shared.rows, strict=True):
        for name in names:
            assert a[name] == b[name] or (math.isnan(a[name]) and math.isnan(b[name])), name
    assert alone.summary["protocol"]["timing_this_run"] == "each proxy alone"
    assert shared.summary["protocol"]["timing_this_run"] == "shared passes"
    r = shared.summary["results"]
    # the gradient group's members are charged the same share, the others their own time
    assert r["grad_norm"]["seconds_per_arch"] == r["snip"]["seconds_per_arch"]
    assert r["params"]["seconds_per_arch"] != r["grad_norm"]["seconds_per_arch"]


def test_pass_groups():
    from zeronas.proxies import get_proxy
    from zeronas.proxies.runner import pass_groups

    specs = [get_proxy(n) for n in ("params", "grad_norm", "zen", "snip", "az_expressivity",
                                    "zico", "az_trainability")]
    names = [[s.name for s in g] for g in pass_groups(specs, shared=True)]
    assert names == [["params"], ["grad_norm", "snip", "zico"], ["zen"],
                     ["az_expressivity", "az_trainability"]]
    assert pass_groups(specs, shared=False) == [[s] for s in specs]


def test_every_registered_proxy_has_a_store_key(nb201):
    """proxy_protocol (the score-store key) builds for every registered proxy, on every
    kind of network, and is JSON; describe takes (space, network)."""
    from zeronas.bench.correlate import proxy_protocol
    from zeronas.proxies import get_proxy, list_proxies

    settings = ScoreSettings(batch_size=2, batches=1)
    for spec in (get_proxy(n) for n in list_proxies()):
        for space, network in (("nb201", "cifar10"), ("tnb101_micro", "normal"),
                               ("tnb101_macro", "class_scene")):
            key = proxy_protocol(spec, space, network, settings)
            assert key["proxy"] == spec.name and json.loads(json.dumps(key)) == key
