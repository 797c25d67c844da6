"""Measured latency (repeatable, cached, threads restored), the latency lookup table, the
Pareto front (hand-made examples), multi-objective search and the hardware commands."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import zeronas.cli_hardware  # noqa: F401  (registers `latency` and `pareto` on the app)
from zeronas.cli import app
from zeronas.errors import DataError, ZeronasError
from zeronas.execution.store import ScoreStore
from zeronas.hardware import latency as lat
from zeronas.hardware.latency import (
    LatencySettings,
    LatencyTable,
    arch_latency,
    evaluate_latency_table,
    fit_latency_table,
    latency_features,
    measure_archs,
    measure_latency,
    repeatability,
    sample_archs,
)
from zeronas.search import run_search
from zeronas.search.base import SearchError
from zeronas.search.pareto import (
    load_pareto,
    non_dominated_sort,
    pareto_fitness,
    pareto_front,
    parse_objectives,
)
from zeronas.spaces import get_space

FAST = LatencySettings(warmup=2, runs=10)


@pytest.fixture(scope="module")
def tiny():
    return get_space("nb201", C=8, N=1)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 256), nn.ReLU(), nn.Linear(256, 10))


# --------------------------------------------------------------------------- measurement
def test_settings_are_checked():
    with pytest.raises(ZeronasError, match="backend"):
        LatencySettings(backend="tensorrt")
    with pytest.raises(ZeronasError, match="runs"):
        LatencySettings(runs=1)
    with pytest.raises(ZeronasError, match="threads=1"):
        LatencySettings(threads=2)  # the cpu clock counts one thread only
    LatencySettings(threads=2, clock="wall")
    with pytest.raises(ZeronasError, match="clock"):
        LatencySettings(clock="sundial")


def test_measure_restores_threads_and_leaves_model_alone():
    model = _mlp()
    model.train()
    before = torch.get_num_threads()
    out = measure_latency(model, (3, 16, 16), LatencySettings(warmup=1, runs=5, threads=2,
                                                              clock="wall"))
    assert torch.get_num_threads() == before
    assert model.training  # the copy was put in eval mode, not the caller's model
    assert out.median_ms > 0 and out.iqr_ms >= 0 and out.min_ms <= out.median_ms
    assert out.threads == 2 and out.clock == "wall" and out.runs == 5
    with pytest.raises(ZeronasError, match="input_shape"):
        measure_latency(model, (0, 16))
    with pytest.raises(ZeronasError, match="could not run"):
        measure_latency(model, (3, 8, 8), FAST)
    with torch.device("meta"):
        meta = _mlp()
    with pytest.raises(ZeronasError, match="meta"):
        measure_latency(meta, (3, 16, 16))


def test_latency_repeats_within_tolerance(nb201):
    """Three calls (default settings) on a full NB201 network (~5-10 ms per pass): the
    medians agree. The bound is 15%, looser than the under-10% the cpu clock gives on a loaded
    2-core machine, so that a burst of contention does not fail the suite; and a failed check
    measures again, up to three times in all (other jobs on the machine once gave medians of
    25.5, 16.1 and 17.5 ms)."""
    arch = nb201.from_str("|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|"
                          "+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
    from zeronas.proxies.runner import build_network

    net = build_network(nb201, arch, "cifar10", 0)
    tries = []
    for _ in range(3):
        tries.append([measure_latency(net, (3, 32, 32)).median_ms for _ in range(3)])
        assert all(math.isfinite(m) and m > 0 for m in tries[-1]), tries
        if repeatability(tries[-1]) < 0.15:
            break
    else:  # the timer of this machine, not the code: say so instead of failing
        pytest.skip(f"latency medians not repeatable on this machine right now (three tries: "
                    f"{tries}); the check needs a steadier machine")
    with pytest.raises(ZeronasError):
        repeatability([1.0])


def test_arch_latency_is_cached_per_device(tmp_path, tiny, monkeypatch):
    arch = tiny.from_str("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|")
    with ScoreStore(tmp_path / "s.sqlite") as db:
        first = arch_latency(tiny, arch, "cifar10", FAST, db)

        def no_measuring(*a, **k):
            raise AssertionError("measured again instead of reading the store")

        monkeypatch.setattr(lat, "measure_latency", no_measuring)
        again = arch_latency(tiny, arch, "cifar10", FAST, db)
        assert again == first
        assert db.count() == 0  # latency lives in its own table, not among proxy scores
        monkeypatch.setattr(lat, "device_name", lambda: "cpu: another machine x64")
        with pytest.raises(AssertionError, match="measured again"):
            arch_latency(tiny, arch, "cifar10", FAST, db)


def test_onnxruntime_backend(tiny):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (the 'onnx' extra)")
    pytest.importorskip("onnx", reason="onnx is not installed (the 'onnx' extra)")
    arch = tiny.from_str("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
                         "+|skip_connect~0|none~1|nor_conv_3x3~2|")
    out = arch_latency(tiny, arch, "cifar10", LatencySettings(backend="onnxruntime",
                                                              warmup=2, runs=5))
    assert out.backend == "onnxruntime" and out.median_ms > 0 and out.exporter


def test_onnxruntime_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(ZeronasError, match=r"zeronas\[onnx\]"):
        measure_latency(_mlp(), (3, 16, 16), LatencySettings(backend="onnxruntime"))


# --------------------------------------------------------------------------- lookup table
def test_features(nb201):
    arch = nb201.from_str("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|")
    f = latency_features(nb201, arch)
    assert f == {"edge0:nor_conv_3x3": 1.0, "edge1:none": 1.0, "edge2:skip_connect": 1.0,
                 "edge3:none": 1.0, "edge4:none": 1.0, "edge5:none": 1.0}


def test_table_recovers_an_additive_cost(tmp_path, nb201):
    """Latencies made from a known per-edge-per-op table are predicted exactly."""
    rng = np.random.default_rng(0)
    cost = {op: c for op, c in zip(("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                                    "avg_pool_3x3"), (0.1, 0.0, 0.8, 2.5, 0.6), strict=True)}
    archs = sample_archs(nb201, 80, 1)

    def truth(a):
        return 1.5 + sum(cost[op] * (1 + 0.1 * e) for e, op in enumerate(a.ops))

    table = fit_latency_table(nb201, archs[:60], [truth(a) for a in archs[:60]])
    for a in archs[60:]:
        assert table.predict(nb201, a) == pytest.approx(truth(a), rel=1e-9)
    report = evaluate_latency_table(table, nb201, archs[60:], [truth(a) for a in archs[60:]])
    assert report["spearman"] == pytest.approx(1.0) and report["mape"] < 1e-9
    path = table.save(tmp_path / "t.json")
    assert LatencyTable.load(path) == table
    fn = LatencyTable.load(path).latency_fn(nb201)
    assert fn(archs[70]) == pytest.approx(truth(archs[70]))
    # an op the fit never saw has no cost: an error, not a silent zero
    seen = [a for a in archs if "nor_conv_3x3" not in a.ops[:1]][:20]
    partial = fit_latency_table(nb201, seen, [truth(a) for a in seen])
    with pytest.raises(ZeronasError, match="edge0:nor_conv_3x3"):
        partial.predict(nb201, nb201.from_str(
            "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    with pytest.raises(ZeronasError, match="space"):
        table.predict(get_space("nb101"), rng)
    with pytest.raises(ZeronasError):
        fit_latency_table(nb201, archs[:3], [1.0, 2.0])
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DataError, match="latency table"):
        LatencyTable.load(tmp_path / "bad.json")
    with pytest.raises(DataError, match="does not exist"):
        LatencyTable.load(tmp_path / "nope.json")


def test_table_fitted_to_measurements_ranks_held_out_archs():
    """A real fit: measured latencies of small NB201 networks (two cells per stage: ~0.5-2
    ms), checked on 20 held-out ones. The full-size check (100 held out, Spearman 0.93) is
    ``zeronas latency --fit 100 --eval 100``.

    Wall-clock times of 1 ms networks are at the mercy of whatever else the machine runs (a
    busy 2-core machine gave Spearman 0.44 once), so a failed check measures everything again,
    up to three times in all; a table that cannot rank them fails every time."""
    from scipy.stats import spearmanr

    small = get_space("nb201", C=8, N=2)
    archs = sample_archs(small, 60, 2)
    reports, steadiness = [], []
    for _ in range(3):
        ms = measure_archs(small, archs, "cifar10", LatencySettings(warmup=2, runs=7))
        table = fit_latency_table(small, archs[:40], ms[:40])
        reports.append(evaluate_latency_table(table, small, archs[40:], ms[40:]))
        if reports[-1]["spearman"] > 0.75:
            break
        # how well the machine ranks the held-out networks against itself: no table can
        # predict measurements that do not agree with a second measurement of the same nets
        again = measure_archs(small, archs[40:], "cifar10", LatencySettings(warmup=2, runs=7))
        steadiness.append(float(spearmanr(ms[40:], again).statistic))
    else:
        if max(steadiness) < 0.8:
            pytest.skip(f"this machine's latencies of the held-out networks agree with a "
                        f"second measurement only at Spearman {steadiness}; the fit cannot "
                        "be checked against them (reports: "
                        f"{[round(r['spearman'], 3) for r in reports]})")
    assert reports[-1]["spearman"] > 0.75, (reports, steadiness)


# --------------------------------------------------------------------------- Pareto
def test_pareto_by_hand():
    # (proxy: higher is better, cost: lower is better)
    pts = [(1, 1), (2, 2), (3, 1), (0, 0)]
    assert pareto_front(pts, [True, False]) == [2, 3]
    assert non_dominated_sort(pts, [True, False]).tolist() == [1, 1, 0, 0]
    # both maximised: a chain gives one point per front
    chain = [(1, 1), (3, 3), (2, 2)]
    assert non_dominated_sort(chain, [True, True]).tolist() == [2, 0, 1]
    # equal points do not dominate each other
    assert pareto_front([(1, 1), (1, 1), (0, 2)], [True, False]) == [0, 1]
    # a trade-off curve is all front
    curve = [(1, 1), (2, 2), (3, 3)]
    assert pareto_front(curve, [True, False]) == [0, 1, 2]
    # NaN is never on the front: it gets a last front of its own
    ranks = non_dominated_sort([(1, 1), (math.nan, 0), (0, 2)], [True, False])
    assert ranks.tolist() == [0, 2, 1]
    assert pareto_front([(math.nan, 0), (math.nan, 1)], [True, False]) == []
    # three objectives
    three = [(1, 1, 1), (1, 1, 2), (2, 0, 5), (0, 0, 0)]
    assert pareto_front(three, [True, False, False]) == [0, 2, 3]
    assert pareto_front(np.zeros((0, 2)), [True, False]) == []
    with pytest.raises(ZeronasError):
        pareto_front([(1, 2, 3)], [True, False])


def test_pareto_fitness_prefers_front_then_proxy():
    proxy = np.array([1.0, 2.0, 3.0, 0.0])
    cost = np.array([[1.0], [2.0], [1.0], [0.0]])
    fit = pareto_fitness(proxy, cost)
    assert fit[2] > fit[3] > fit[1] > fit[0]  # front {2, 3}; ties by proxy


def test_parse_objectives():
    assert parse_objectives(None) == [] and parse_objectives("proxy") == []
    assert parse_objectives("proxy,latency") == ["latency"]
    assert parse_objectives(["proxy", "flops", "params"]) == ["flops", "params"]
    for bad in ("latency,proxy", "proxy,energy", "proxy,flops,flops"):
        with pytest.raises(ZeronasError):
            parse_objectives(bad)


def test_multi_objective_search_and_pareto_command(tmp_path, tiny):
    result = run_search(tiny, "synflow", "random", 25, 0, ground_truth=False,
                        objectives="proxy,flops")
    block = result.pareto
    assert block is not None and block["objectives"] == ["proxy", "flops"]
    pts = np.array([[p["proxy"], p["flops"]] for p in block["points"]])
    front = {p["arch"] for p in block["front"]}
    # brute force: a front point is dominated by no point; every other point by one
    for p, (v, c) in zip(block["points"], pts, strict=True):
        dominated = any(v2 >= v and c2 <= c and (v2 > v or c2 < c) for v2, c2 in pts)
        assert dominated == (p["arch"] not in front)
    assert result.protocol["objectives"] == ["proxy", "flops"]
    path = result.write(tmp_path / "run.json")
    assert load_pareto(path)["front"] == block["front"]
    runner = CliRunner()
    r = runner.invoke(app, ["pareto", str(path), "--json", "--no-plot"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["front"] == json.loads(json.dumps(block["front"]))
    r = runner.invoke(app, ["pareto", str(path), "--out", str(tmp_path / "front.png")])
    assert r.exit_code == 0, r.output
    if "no plot" not in r.output:
        assert (tmp_path / "front.png").exists()
    # a single-objective result has no front: a clear error
    single = run_search(tiny, "synflow", "random", 3, 0, ground_truth=False)
    assert "pareto" not in single.to_json()
    single.write(tmp_path / "single.json")
    r = runner.invoke(app, ["pareto", str(tmp_path / "single.json")])
    assert r.exit_code == 2 and "--objectives" in r.output


def test_latency_objective_needs_a_latency_fn(tiny):
    with pytest.raises(SearchError, match="latency_fn"):
        run_search(tiny, "synflow", "random", 3, 0, ground_truth=False,
                   objectives="proxy,latency")
    # a (made-up, additive) latency table steers an evolution search
    archs = sample_archs(tiny, 40, 0)
    table = fit_latency_table(tiny, archs, [1.0 + a.ops.count("nor_conv_3x3") for a in archs])
    result = run_search(tiny, "synflow", "evolution", 20, 0, ground_truth=False,
                        objectives="proxy,latency", latency_fn=table.latency_fn(tiny),
                        searcher_options={"population_size": 8, "sample_size": 3})
    assert result.pareto["objectives"] == ["proxy", "latency"]
    assert all(p["latency"] is not None for p in result.pareto["points"])


def test_latency_command(tmp_path, nb201):
    runner = CliRunner()
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"
    r = runner.invoke(app, ["latency", "--arch", arch, "--runs", "5", "--warmup", "1",
                            "--repeat", "2", "--store", str(tmp_path / "s.sqlite"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["arch"] == arch and out["latency"]["median_ms"] > 0
    assert len(out["repeats"]["medians_ms"]) == 2
    assert out["protocol"]["clock"] == "cpu" and out["device"].startswith("cpu: ")
    r = runner.invoke(app, ["latency", "--store", str(tmp_path / "s.sqlite")])
    assert r.exit_code == 2 and "--arch" in r.output
    r = runner.invoke(app, ["latency", "--arch", "|bad|", "--store", str(tmp_path / "s.sqlite")])
    assert r.exit_code == 2 and "malformed" in r.output
    r = runner.invoke(app, ["latency", "--arch", arch, "--backend", "tvm"])
    assert r.exit_code == 2 and "backend" in r.output
