"""Searching in rounds (``parallel``) and on an executor: deterministic, same scores."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from zeronas.cli import app
from zeronas.execution.executor import LocalExecutor
from zeronas.proxies import ScoreSettings
from zeronas.search import Searcher, SearchError, register_searcher, run_search
from zeronas.search.base import _SEARCHERS
from zeronas.spaces import get_space

SETTINGS = ScoreSettings(batch_size=2, batches=1)
EVOLUTION = {"population_size": 8, "sample_size": 3}


@pytest.fixture(scope="module")
def tiny201():
    return get_space("nb201", C=2, N=1)


def _trace(result):
    return [(h["arch"], h["scores"], h["aggregate"], h["best_arch"]) for h in result.history]


def test_random_search_proposes_the_same_in_any_round_size(tiny201):
    runs = [run_search(tiny201, "params", "random", 20, 3, SETTINGS, ground_truth=False,
                       parallel=k) for k in (1, 4)]
    assert _trace(runs[0]) == _trace(runs[1])
    assert runs[0].protocol["parallel"] == 1 and runs[1].protocol["parallel"] == 4
    assert runs[1].protocol["executor"] is None


def test_rounds_are_deterministic_and_distinct(tiny201):
    runs = [run_search(tiny201, "params,flops", "evolution", 30, 5, SETTINGS,
                       ground_truth=False, parallel=4, searcher_options=EVOLUTION)
            for _ in range(2)]
    assert _trace(runs[0]) == _trace(runs[1])
    archs = [h["arch"] for h in runs[0].history]
    assert len(archs) == len(set(archs)) == 30
    with pytest.raises(SearchError, match="parallel"):
        run_search(tiny201, "params", "random", 5, 0, SETTINGS, ground_truth=False, parallel=0)


def test_a_repeat_within_a_round_is_scored_once_and_told_after(tiny201):
    """A searcher proposing a, a, b, c, ...: the second a is pending when proposed, so it is
    not scored again, spends no budget, and is told (with a's score) after the round."""

    made = []

    class Doubling(Searcher):
        name = "_t_doubling"

        def __init__(self, space, seed=0):
            super().__init__(space, seed)
            self.i = 0
            self.told = []
            made.append(self)

        def ask(self):
            arch = self.space[self.i // 2 if self.i < 2 else self.i - 1]
            self.i += 1
            return arch

        def tell(self, arch, score):
            self.told.append((self.space.to_str(arch), score))

    register_searcher("_t_doubling")(Doubling)
    try:
        r = run_search(tiny201, "params", "_t_doubling", 3, 0, SETTINGS, ground_truth=False,
                       parallel=3)
    finally:
        _SEARCHERS.pop("_t_doubling", None)
    first = tiny201.to_str(tiny201[0])
    assert [h["arch"] for h in r.history] == [tiny201.to_str(tiny201[i]) for i in range(3)]
    assert r.evaluated == 3 and r.repeats == 1
    assert r.cost["scores_computed"] == 3
    told = made[0].told
    assert [k for k, _ in told] == [first, tiny201.to_str(tiny201[1]),
                                    tiny201.to_str(tiny201[2]), first]
    assert told[3][1] == told[0][1]


def test_an_executor_changes_the_time_never_the_search(tiny201):
    assert torch.get_num_threads() == 1  # conftest: the workers below use one thread too
    kwargs = dict(ground_truth=False, parallel=2, searcher_options=EVOLUTION)
    here = run_search(tiny201, "synflow,naswot", "evolution", 12, 1, SETTINGS, **kwargs)
    with LocalExecutor(workers=2, threads=1) as ex:
        pooled = run_search(tiny201, "synflow,naswot", "evolution", 12, 1, SETTINGS,
                            executor=ex, **kwargs)
    assert _trace(here) == _trace(pooled)
    assert pooled.protocol["executor"] == {"executor": "local", "workers": 2,
                                           "threads_per_worker": 1, "retries": 1}
    assert pooled.cost["scores_computed"] == 24


def test_cli_search_records_executor_and_rounds(tmp_path):
    out = tmp_path / "s.json"
    res = CliRunner().invoke(app, [
        "search", "--space", "nb201", "--searcher", "random", "--proxies", "params",
        "--budget", "6", "--workers", "1", "--parallel", "3", "--store",
        str(tmp_path / "s.sqlite"), "--out", str(out), "--no-plot"])
    assert res.exit_code == 0, res.output
    proto = json.loads(out.read_text())["protocol"]
    assert proto["parallel"] == 3
    assert proto["executor"]["executor"] == "local" and proto["executor"]["workers"] == 1
    bad = CliRunner().invoke(app, ["search", "--parallel", "0", "--out", str(out)])
    assert bad.exit_code == 2


def test_a_task_that_keeps_failing_is_named_and_the_rest_is_stored(tmp_path, tiny201,
                                                                   monkeypatch):
    import zeronas.search.objective as objective_module
    from zeronas.execution.executor import ExecutionError
    from zeronas.execution.store import ScoreStore
    from zeronas.search.objective import Objective

    real = objective_module.compute_scores
    bad = tiny201.to_str(tiny201[1])

    def flaky(job, arch, names):
        if job.space.to_str(arch) == bad:
            raise RuntimeError("worker lost")
        return real(job, arch, names)

    monkeypatch.setattr(objective_module, "compute_scores", flaky)
    items = [(tiny201[i], tiny201.to_str(tiny201[i])) for i in range(3)]
    with ScoreStore(tmp_path / "s.sqlite") as db:
        ob = Objective("params", tiny201, "cifar10", SETTINGS, db)
        with LocalExecutor(workers=1, threads=1, retries=1) as ex, \
                pytest.raises(ExecutionError, match=r"1 of 3 .* after 2 attempt.*worker lost"):
            ob.score_many(items, ex)
        assert ob.computed == 2  # the other two were scored and stored
        again = Objective("params", tiny201, "cifar10", SETTINGS, db)
        monkeypatch.setattr(objective_module, "compute_scores", real)
        scores = again.score_many(items)
    assert again.reused == 2 and again.computed == 1 and len(scores) == 3


def test_default_caps_scale_with_the_budget(tiny201):
    from zeronas.search.loop import default_caps

    assert default_caps(10) == (1000, 1000)
    assert default_caps(100) == (2000, 5000)
    r = run_search(tiny201, "params", "random", 5, 0, SETTINGS, ground_truth=False)
    assert (r.protocol["max_rejected"], r.protocol["max_repeats"]) == default_caps(5)
