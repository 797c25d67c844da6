"""Where scoring runs: one :class:`Executor` interface, a local process pool or Ray.

An executor maps a task function ``fn(context, item) -> result`` over many items. The
``context`` (the space, the proxies, the batch: everything every task needs) is sent to each
worker once, the items one by one; results come back in completion order. Everything that is
kept (the :class:`~zeronas.execution.store.ScoreStore`) is written by the driver as results
arrive, never by a worker, so a worker that dies loses at most its own task:

- a task that raises, or whose worker process dies, is retried (``retries`` times, default
  1); after that it is reported as a :class:`TaskFailure`, never silently dropped;
- when a local worker process dies, the pool is rebuilt; the tasks that were in flight are
  not charged (the pool cannot tell which one killed it) but rerun one at a time, so a task
  that kills its worker again is identified and charged.

Executors:

- :class:`LocalExecutor` (``local``, the default): ``workers`` processes (default: one per
  core), each with ``threads`` torch intra-op threads (default ``cores // workers``, so the
  machine is used without oversubscription). Workers are started with ``spawn`` (a fork of a
  process whose OpenMP pool is running can hang). One worker runs the tasks in the calling
  process instead, with the same thread setting.
- :class:`RayExecutor` (``ray``, the ``ray`` extra): tasks on a Ray cluster,
  ``address="local"`` starts one on this machine, ``"auto"`` joins a running one (the
  cluster's workers must have zeronas installed). Each task asks Ray for ``threads`` CPUs.

Scores are identical to serial scoring when the thread count is the same: a task builds the
network under the protocol seed and scores the batch made by the driver, exactly as the
serial loop does. The thread count matters: torch's float reductions are split across
threads, so a gradient proxy can differ in its last bits (ZiCo, a float32 variance ratio, in
its fourth digit) between one and two threads. Each executor therefore fixes and records its
workers' thread count (``describe()``).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from zeronas.errors import ZeronasError

EXECUTORS: tuple[str, ...] = ("local", "ray")
DEFAULT_RETRIES = 1


class ExecutionError(ZeronasError):
    """Tasks that failed after every retry (their results were not stored)."""


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed ``attempts`` times; ``error`` is the last error, one line."""

    index: int
    item: Any
    error: str
    attempts: int


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".strip()


def _dumps(obj: Any) -> bytes:
    """Pickle ``obj`` for a worker (cloudpickle when installed: it also handles closures)."""
    try:
        import cloudpickle

        return cloudpickle.dumps(obj)
    except ImportError:
        pass
    return pickle.dumps(obj)


def _check_positive(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ZeronasError(f"{name} must be a positive integer, got {value!r}")


class Executor(ABC):
    """Runs ``fn(context, item)`` for many items; see the module docstring for the contract.

    :meth:`map` is a generator of ``(index, result_or_TaskFailure)`` in completion order;
    every index of ``items`` is yielded exactly once. :meth:`close` releases workers (also on
    ``with`` exit).
    """

    name: str = ""

    def __init__(self, workers: int, threads: int, retries: int = DEFAULT_RETRIES) -> None:
        _check_positive("workers", workers)
        _check_positive("threads", threads)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ZeronasError(f"retries must be a non-negative integer, got {retries!r}")
        self.workers = workers
        self.threads = threads
        self.retries = retries

    @abstractmethod
    def map(self, fn: Callable[[Any, Any], Any], context: Any, items: Sequence[Any]
            ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(context, items[index]))`` or ``(index, TaskFailure)``."""

    def close(self) -> None:  # noqa: B027 (optional hook: most executors hold nothing)
        """Release the workers (the default has none)."""

    def describe(self) -> dict[str, Any]:
        """The executor's settings, for a result's protocol."""
        return {"executor": self.name, "workers": self.workers,
                "threads_per_worker": self.threads, "retries": self.retries}

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _call_with_threads(fn: Callable[[Any, Any], Any], context: Any, item: Any,
                       threads: int) -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn(context, item)
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- local
# The state of a local worker process: the task function and its context, unpickled once by
# the pool's initializer. It lives only in worker processes (never set in the driver).
_WORKER: dict[str, Any] = {}


def _init_worker(payload: bytes, threads: int) -> None:
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # already set in this process
        torch.set_num_interop_threads(1)
    fn, context = pickle.loads(payload)
    _WORKER["fn"], _WORKER["context"] = fn, context


def _worker_task(item: Any) -> Any:
    return _WORKER["fn"](_WORKER["context"], item)


class LocalExecutor(Executor):
    """A process pool on this machine (one worker: in the calling process)."""

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None,
                 retries: int = DEFAULT_RETRIES) -> None:
        _check_positive("workers", workers)
        _check_positive("threads", threads)
        cores = available_cores()
        workers = workers or cores
        threads = threads or max(1, cores // workers)
        super().__init__(workers, threads, retries)
        self._pool: Any = None
        self._pool_for: tuple[Any, Any] | None = None  # (fn, context) its workers hold
        self._payload = b""

    def close(self) -> None:
        """Shut the worker processes down (they are kept between :meth:`map` calls with the
        same ``fn`` and ``context``, so a search scoring round after round pays the start-up
        once)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._pool_for = None, None

    def map(self, fn: Callable[[Any, Any], Any], context: Any, items: Sequence[Any]
            ) -> Iterator[tuple[int, Any]]:
        if self.workers == 1:
            yield from self._map_here(fn, context, items)
        else:
            yield from self._map_pool(fn, context, items)

    def _map_here(self, fn: Callable[[Any, Any], Any], context: Any, items: Sequence[Any]
                  ) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            for attempt in range(1, self.retries + 2):
                try:
                    result = _call_with_threads(fn, context, item, self.threads)
                except Exception as exc:
                    if attempt > self.retries:
                        yield i, TaskFailure(i, item, _one_line(exc), attempt)
                    continue
                yield i, result
                break

    def _map_pool(self, fn: Callable[[Any, Any], Any], context: Any, items: Sequence[Any]
                  ) -> Iterator[tuple[int, Any]]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        same = (self._pool is not None and self._pool_for is not None
                and self._pool_for[0] is fn and self._pool_for[1] is context)
        if not same:
            self.close()
            try:
                self._payload = _dumps((fn, context))
            except Exception as exc:
                raise ZeronasError(
                    f"the scoring task cannot be sent to worker processes ({_one_line(exc)}); "
                    "run with one worker (--workers 1)"
                ) from exc
        payload = self._payload
        ctx = multiprocessing.get_context("spawn")
        attempts = [0] * len(items)
        queue: deque[int] = deque(range(len(items)))
        limit = 2 * self.workers  # tasks in flight: enough to keep workers busy

        def new_pool() -> ProcessPoolExecutor:
            return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                       initargs=(payload, self.threads))

        pool = self._pool if same else new_pool()
        self._pool, self._pool_for = pool, (fn, context)
        suspects: deque[int] = deque()  # in flight when a worker died: rerun one at a time
        isolated = False  # the one task running is a suspect alone on the pool
        finished = 0  # results received in this call
        dead_pools = 0  # pools in a row that broke before returning anything
        pool_worked = False
        running: dict[Future[Any], int] = {}
        try:
            while queue or suspects or running:
                if suspects:
                    if not running:  # a suspect runs alone, so a death is its own
                        i = suspects.popleft()
                        attempts[i] += 1
                        running[pool.submit(_worker_task, items[i])] = i
                        isolated = True
                else:
                    while queue and len(running) < limit:
                        i = queue.popleft()
                        attempts[i] += 1
                        running[pool.submit(_worker_task, items[i])] = i
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    i = running.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        error = f"worker process died ({_one_line(exc)})"
                        if not isolated:  # not known to be the culprit: not charged
                            attempts[i] -= 1
                            suspects.append(i)
                            continue
                    except Exception as exc:
                        error = _one_line(exc)
                    else:
                        finished += 1
                        pool_worked = True
                        yield i, result
                        continue
                    if attempts[i] <= self.retries:
                        (suspects if broken else queue).append(i)
                    else:
                        yield i, TaskFailure(i, items[i], error, attempts[i])
                if not running:
                    isolated = False
                if broken:
                    dead_pools = 0 if pool_worked else dead_pools + 1
                    if dead_pools >= 2 and finished == 0:
                        raise ExecutionError(
                            "worker processes die before finishing any task (see their "
                            "errors above): a task crashes its worker, or the workers cannot "
                            "start. Workers are started with 'spawn', which imports the main "
                            "module again: a script that scores in parallel must run under "
                            "`if __name__ == '__main__':`"
                        )
                    pool_worked = False
                    for fut, i in list(running.items()):  # died with the pool: not charged
                        fut.cancel()
                        attempts[i] -= 1
                        suspects.append(i)
                    running.clear()
                    isolated = False
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool = new_pool()
        except BaseException:  # an error, or the caller stopped reading: start afresh
            self.close()
            raise


# --------------------------------------------------------------------------- ray
def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ZeronasError("the ray executor needs the 'ray' extra: pip install 'zeronas[ray]'"
                           ) from exc
    return ray


def _ray_task(payload: tuple[Callable[[Any, Any], Any], Any], item: Any, threads: int) -> Any:
    fn, context = payload
    return _call_with_threads(fn, context, item, threads)


class RayExecutor(Executor):
    """Tasks on a Ray cluster (``address``: ``"local"`` starts one here, ``"auto"`` joins the
    running one, or any address :func:`ray.init` accepts). A Ray instance this executor started
    is shut down by :meth:`close`; one already running is left alone."""

    name = "ray"

    def __init__(self, address: str | None = "local", workers: int | None = None,
                 threads: int = 1, retries: int = DEFAULT_RETRIES) -> None:
        _check_positive("workers", workers)
        ray = _import_ray()
        self._ray = ray
        self._started = False
        self.address = address or "local"
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if self.address == "local":
                kwargs["num_cpus"] = (workers or available_cores()) * threads
            else:
                kwargs["address"] = self.address
            try:
                ray.init(**kwargs)
            except Exception as exc:
                raise ZeronasError(f"could not start or join Ray at {self.address!r}: "
                                   f"{_one_line(exc)}") from exc
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = workers or max(1, cpus // threads)
        super().__init__(workers, threads, retries)
        self._remote = ray.remote(_ray_task).options(num_cpus=threads, max_retries=0)
        self._payload: tuple[Any, Any, Any] | None = None  # (fn, context, object ref)

    def map(self, fn: Callable[[Any, Any], Any], context: Any, items: Sequence[Any]
            ) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        cached = self._payload
        if cached is None or cached[0] is not fn or cached[1] is not context:
            self._payload = cached = (fn, context, ray.put((fn, context)))
        payload = cached[2]
        attempts = [0] * len(items)
        queue: deque[int] = deque(range(len(items)))
        running: dict[Any, int] = {}
        limit = 2 * self.workers
        try:
            while queue or running:
                while queue and len(running) < limit:
                    i = queue.popleft()
                    attempts[i] += 1
                    running[self._remote.remote(payload, items[i], self.threads)] = i
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    i = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # task error or worker crash (RayError)
                        cause = getattr(exc, "cause", None)
                        error = _one_line(cause if isinstance(cause, BaseException) else exc)
                        if attempts[i] <= self.retries:
                            queue.append(i)
                        else:
                            yield i, TaskFailure(i, items[i], error, attempts[i])
                        continue
                    yield i, result
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        self._payload = None
        if self._started:
            self._ray.shutdown()
            self._started = False

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "ray_address": self.address}


def make_executor(
    kind: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    retries: int = DEFAULT_RETRIES,
    ray_address: str | None = None,
) -> Executor:
    """An executor by name: ``local`` (process pool) or ``ray``."""
    if kind == "local":
        if ray_address is not None:
            raise ZeronasError("--ray-address is for --executor ray")
        return LocalExecutor(workers, threads, retries)
    if kind == "ray":
        return RayExecutor(ray_address or "local", workers, threads or 1, retries)
    raise ZeronasError(f"unknown executor {kind!r}: expected one of {', '.join(EXECUTORS)}")


# --------------------------------------------------------------------------- scoring tasks
@dataclass(frozen=True)
class ScoringJob:
    """What every scoring task of one correlate run shares (sent to each worker once)."""

    space: Any
    network: str
    settings: Any
    specs: tuple[Any, ...]
    batch: Any
    ctx: Any
    shared_passes: bool = False


def score_task(job: ScoringJob, item: tuple[str, tuple[str, ...], bool]) -> dict[str, Any]:
    """Score one architecture as the serial correlate loop does: ``item`` is
    ``(arch string, proxy names missing, baseline missing)``; returns
    ``{"values": {name: (value, seconds)}, "baseline": seconds or None, "micro_batch":
    {name: micro-batch size} for the proxies whose batch did not fit in memory}``."""
    import dataclasses

    from zeronas.bench.correlate import bare_forward_backward
    from zeronas.proxies.runner import network_for_proxies, score_in_groups

    arch_str, names, want_baseline = item
    by_name = {s.name: s for s in job.specs}
    missing = [by_name[n] for n in names]
    arch = job.space.from_str(arch_str)
    net = network_for_proxies(missing, job.space, arch, job.network, job.settings.seed,
                              weights=want_baseline)
    values: dict[str, tuple[float, float]] = {}
    micro_batch: dict[str, int] = {}
    for group, scores, seconds in score_in_groups(
            net, missing, job.batch, dataclasses.replace(job.ctx, arch=arch),
            shared=job.shared_passes, split=job.settings.split_on_oom):
        for s in group:
            values[s.name] = (scores[s.name], seconds)
        micro_batch.update(scores.micro_batch)
    baseline = bare_forward_backward(net, job.batch, job.ctx.loss) if want_baseline else None
    return {"values": values, "baseline": baseline, "micro_batch": micro_batch}


def failed_architectures(failures: Sequence[TaskFailure], total: int, retries: int
                         ) -> ExecutionError:
    """The error for scoring tasks (items ``(arch string, ...)``) that failed after every
    retry: names the first three, says that everything else is stored."""
    shown = "; ".join(f"{f.item[0]}: {f.error} ({f.attempts} attempts)" for f in failures[:3])
    more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
    return ExecutionError(
        f"{len(failures)} of {total} architectures failed after {retries + 1} attempt(s) and "
        f"were not stored: {shown}{more}. Everything else is in the store; rerun the same "
        "command to retry only these")


def score_in_parallel(
    executor: Executor,
    job: ScoringJob,
    archs: Sequence[str],
    have: dict[str, dict[str, tuple[float, float]]],
    keys: Mapping[str, str],
    baseline: tuple[str, str],
    store: Any,
    on_progress: Callable[[int, int], None] | None = None,
    timed: Collection[str] | None = None,
) -> None:
    """Score what ``have`` lacks for ``archs`` on ``executor``, writing each result to
    ``store`` (from this process) and into ``have`` as it arrives.

    ``keys`` maps proxy names to their store protocol keys; ``baseline`` is the
    ``(name, protocol key)`` of the forward/backward baseline timing, taken only for the
    architectures in ``timed`` (all when None). Raises
    :class:`ExecutionError` after every other task has finished and been stored when some
    failed after their retries.
    """
    base_name, base_key = baseline
    items = []
    for a in archs:
        names = tuple(s.name for s in job.specs if a not in have[s.name])
        want_base = a not in have[base_name] and (timed is None or a in timed)
        if names or want_base:
            items.append((a, names, want_base))
    done = len(archs) - len(items)
    if on_progress is not None:
        on_progress(done, len(archs))
    failures: list[TaskFailure] = []
    for index, result in executor.map(score_task, job, items):
        if isinstance(result, TaskFailure):
            failures.append(result)
        else:
            arch_str = items[index][0]
            for name, (value, seconds) in result["values"].items():
                store.put(job.space.name, arch_str, {name: (value, seconds)}, keys[name],
                          micro_batch=result["micro_batch"])
                have[name][arch_str] = (value, seconds)
            if result["baseline"] is not None:
                entry = (math.nan, float(result["baseline"]))
                if not math.isnan(entry[1]):  # out of memory: not stored, tried next run
                    store.put(job.space.name, arch_str, {base_name: entry}, base_key)
                have[base_name][arch_str] = entry
        done += 1
        if on_progress is not None:
            on_progress(done, len(archs))
    if failures:
        raise failed_architectures(failures, len(items), executor.retries)
