"""Executors: scores from a local process pool and from a real local Ray instance equal serial
scores bit for bit (same seed, same thread count); failed tasks are retried, then reported."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from zeronas.bench.correlate import correlate
from zeronas.bench.groundtruth import GroundTruth
from zeronas.errors import ZeronasError
from zeronas.execution.executor import (
    ExecutionError,
    LocalExecutor,
    TaskFailure,
    make_executor,
)
from zeronas.execution.store import ScoreStore
from zeronas.proxies import ProxySpec, ScoreSettings, register_proxy
from zeronas.proxies.base import _PROXIES
from zeronas.spaces import get_space

PROXIES = ["synflow", "naswot"]


@pytest.fixture(scope="module")
def small_space():
    return get_space("nb201", C=8, N=1)  # small networks: seconds, not minutes


@pytest.fixture(scope="module")
def truth(small_space):
    rng = np.random.default_rng(3)
    archs = list(dict.fromkeys(small_space.to_str(small_space.sample(rng)) for _ in range(6)))
    return GroundTruth("nb201", {"cifar10": {a: float(i) for i, a in enumerate(archs)}},
                       tuple(archs), "synthetic test truth", "test")


SETTINGS = ScoreSettings(batch_size=8, batches=1, seed=5)


def _run(tmp_path: Path, name: str, space, truth, executor=None):
    with ScoreStore(tmp_path / f"{name}.sqlite") as db:
        result = correlate(space, "cifar10", PROXIES, None, 5, SETTINGS, db, truth,
                           executor=executor)
        stored = db.count()
    return result, stored


def _same_rows(a: list[dict], b: list[dict]) -> bool:
    """Rows equal bit for bit (NaN equal to NaN)."""
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if ra.keys() != rb.keys():
            return False
        for k in ra:
            x, y = ra[k], rb[k]
            if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
                continue
            if x != y:
                return False
    return True


@pytest.fixture(scope="module")
def serial(tmp_path_factory, small_space, truth):
    assert torch.get_num_threads() == 1  # conftest: executors below use 1 thread too
    return _run(tmp_path_factory.mktemp("serial"), "serial", small_space, truth)


def test_local_pool_equals_serial(tmp_path, small_space, truth, serial):
    ref, n_ref = serial
    with LocalExecutor(workers=2, threads=1) as ex:
        got, n_got = _run(tmp_path, "pool", small_space, truth, ex)
    assert _same_rows(got.rows, ref.rows)
    assert n_got == n_ref == len(truth.order) * (len(PROXIES) + 1)  # + the baseline timing
    assert got.summary["protocol"]["executor"] == {
        "executor": "local", "workers": 2, "threads_per_worker": 1, "retries": 1}
    assert "executor" not in ref.summary["protocol"]  # the default run is unchanged
    for name in PROXIES:
        assert got.summary["results"][name]["kendall"] == ref.summary["results"][name]["kendall"]


def test_one_worker_runs_here_and_resumes_from_store(tmp_path, small_space, truth, serial):
    ref, _ = serial
    with LocalExecutor(workers=1, threads=1) as ex:
        got, _ = _run(tmp_path, "one", small_space, truth, ex)
        again, _ = _run(tmp_path, "one", small_space, truth, ex)  # everything from the store
    assert _same_rows(got.rows, ref.rows) and _same_rows(again.rows, ref.rows)


# --------------------------------------------------------------------------- failures
def flaky(context: Path, item: tuple[str, str]) -> str:
    """A task that misbehaves on its first attempt (a marker file remembers across processes):
    ``raise`` raises, ``die`` kills its worker process, ``always`` raises every time."""
    kind, name = item
    marker = context / name
    if kind == "always":
        raise RuntimeError(f"{name} always fails")
    if kind in ("raise", "die") and not marker.exists():
        marker.write_text("x")
        if kind == "die":
            os._exit(3)
        raise RuntimeError(f"{name} fails once")
    return f"ok {name}"


ITEMS = [("raise", "a"), ("ok", "b"), ("always", "c"), ("die", "d"), ("ok", "e")]


def _check_flaky(results: dict[int, object]) -> None:
    assert sorted(results) == list(range(len(ITEMS)))  # every task reported exactly once
    for i in (0, 1, 3, 4):
        assert results[i] == f"ok {ITEMS[i][1]}"
    fail = results[2]
    assert isinstance(fail, TaskFailure) and fail.attempts == 2 and fail.item == ITEMS[2]
    assert "always fails" in fail.error


def test_local_pool_retries_then_reports(tmp_path):
    with LocalExecutor(workers=2, threads=1, retries=1) as ex:
        results = dict(ex.map(flaky, tmp_path, ITEMS))
    _check_flaky(results)


def test_in_process_retry_and_no_retry(tmp_path):
    items = [("raise", "a"), ("ok", "b")]
    ex = LocalExecutor(workers=1, threads=1, retries=0)
    results = dict(ex.map(flaky, tmp_path, items))
    assert isinstance(results[0], TaskFailure) and results[0].attempts == 1
    assert results[1] == "ok b"
    results = dict(LocalExecutor(workers=1, threads=1).map(flaky, tmp_path / "x",
                                                           [("ok", "z")]))
    assert results == {0: "ok z"}


def _explode(model, batch, ctx):
    raise RuntimeError("boom")


def test_correlate_reports_failed_archs_and_keeps_the_rest(tmp_path, small_space, truth):
    spec = register_proxy(ProxySpec("_test_explode", _explode, "always fails", "test",
                                    needs_data=False))
    try:
        with ScoreStore(tmp_path / "f.sqlite") as db:
            with pytest.raises(ExecutionError, match=r"6 of 6 architectures failed after 2"):
                correlate(small_space, "cifar10", ["synflow", spec.name], None, 5, SETTINGS,
                          db, truth, executor=LocalExecutor(workers=1, threads=1))
            # nothing was stored for the failing tasks: a rerun retries exactly those
            assert db.count() == 0
    finally:
        _PROXIES.pop(spec.name, None)


def test_make_executor_errors():
    with pytest.raises(ZeronasError, match="unknown executor"):
        make_executor("dask")
    with pytest.raises(ZeronasError, match="workers"):
        make_executor("local", workers=0)
    with pytest.raises(ZeronasError, match="ray-address"):
        make_executor("local", ray_address="auto")
    with pytest.raises(ZeronasError, match="retries"):
        LocalExecutor(1, 1, retries=-1)
    ex = make_executor("local", workers=1)
    assert ex.threads >= 1 and ex.describe()["executor"] == "local"


# --------------------------------------------------------------------------- ray
@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="ray is not installed (the 'ray' extra)")
    from ray import cloudpickle

    # Ray workers cannot import this test module by name: ship its functions by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_ray_equals_serial(tmp_path, small_space, truth, serial, ray_instance):
    ref, n_ref = serial
    ex = make_executor("ray", threads=1)
    got, n_got = _run(tmp_path, "ray", small_space, truth, ex)
    ex.close()  # a Ray instance it did not start is left running
    assert ray_instance.is_initialized()
    assert _same_rows(got.rows, ref.rows) and n_got == n_ref
    assert got.summary["protocol"]["executor"]["executor"] == "ray"


def test_ray_retries_then_reports(tmp_path, ray_instance):
    ex = make_executor("ray", threads=1, retries=1)
    results = dict(ex.map(flaky, tmp_path, ITEMS))
    _check_flaky(results)
