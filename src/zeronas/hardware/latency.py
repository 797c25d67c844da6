"""Measured inference latency of any ``torch.nn.Module``, and a cheap latency predictor.

Measurement (:func:`measure_latency`): the model (a private copy, in eval mode) runs on a
fixed random input, first ``warmup`` times untimed, then ``runs`` times each timed alone with
``time.perf_counter_ns``. The result is the **median** of the timed runs, with the
inter-quartile range and the median absolute deviation as its spread: on a shared CPU a
few runs are always slowed by other processes, and the median ignores them where a mean would
not. torch's intra-op thread count is fixed to ``threads`` for the measurement (latency
depends strongly on it) and restored afterwards.

Two clocks are read around every run, and ``clock`` chooses which one the median is taken of:

- ``cpu`` (default, single-threaded only): the CPU time of the measuring thread
  (``time.thread_time_ns``). With one intra-op thread all the work of a forward pass runs in
  that thread, so this is the pass's compute time; time spent waiting while another process
  had the core is not counted. On an idle machine it equals wall-clock latency (within a few
  percent); on a shared machine it is the number that repeats (a 2-core machine running two
  other jobs doubled the wall-clock median of an NB201 network between consecutive calls,
  while its CPU-time median moved by under 10%).
- ``wall``: elapsed time (``time.perf_counter_ns``), the latency a user waits for, which
  includes any waiting for the CPU; the only valid choice with several threads.

Both medians are kept in the result (``cpu_median_ms``, ``wall_median_ms``), so contention is
visible. Two backends:

- ``torch``: eager PyTorch under ``torch.inference_mode`` (default, no extra dependency);
- ``onnxruntime``: the model exported to ONNX and run by ONNX Runtime's CPU provider with
  ``intra_op_num_threads=threads`` (needs the ``onnx`` extra). The export uses torch's
  TorchScript-based exporter (``dynamo=False``), which exports an NB201 network in well under a
  second; when a torch release no longer has it, the ``torch.export``-based exporter
  (``dynamo=True``, which also needs ``onnxscript`` and takes about ten seconds) is used. The
  exporter used is recorded with the measurement.

Latency of a search-space architecture (:func:`arch_latency`) is cached in the
:class:`~zeronas.execution.store.ScoreStore`, keyed by space, architecture, device (the CPU
model and its logical core count) and the measurement protocol.

Prediction (:class:`LatencyTable`): as in hardware-aware NAS (per-operator lookup tables summed
over the network), latency is modelled as a base cost plus one cost per (edge, operator) of the
cell -- for NB201, 6 edges x 5 ops -- fitted by least squares to measured latencies of sampled
architectures. The cell is repeated through the network, so a cell-level table is exactly what
is needed; a prediction is a sum of 7 numbers, cheap enough to call for every candidate of a
search. Spaces without a fixed edge list use operator counts over their graph
(:meth:`~zeronas.spaces.base.Space.to_graph`) as features.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zeronas.errors import DataError, ZeronasError

BACKENDS: tuple[str, ...] = ("torch", "onnxruntime")
CLOCKS: tuple[str, ...] = ("cpu", "wall")


@dataclass(frozen=True)
class LatencySettings:
    """How latency is measured: backend, input batch size, warm-up and timed runs, threads.

    ``threads`` is torch's (or ONNX Runtime's) intra-op thread count during the measurement;
    the default of 1 gives the steadiest numbers on a shared machine and matches a search
    that scores in one process per core.
    """

    backend: str = "torch"
    batch_size: int = 1
    warmup: int = 10
    runs: int = 30
    threads: int = 1
    clock: str = "cpu"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ZeronasError(
                f"latency backend {self.backend!r} is unknown: expected one of "
                f"{', '.join(BACKENDS)}"
            )
        if self.clock not in CLOCKS:
            raise ZeronasError(f"latency clock {self.clock!r} is unknown: expected one of "
                               f"{', '.join(CLOCKS)}")
        for name, low in (("batch_size", 1), ("warmup", 0), ("runs", 3), ("threads", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ZeronasError(f"latency {name} must be an integer >= {low}, got {v!r}")
        if self.clock == "cpu" and self.threads != 1:
            raise ZeronasError(
                f"latency clock 'cpu' counts the measuring thread only, so it needs threads=1 "
                f"(got {self.threads}); use clock 'wall' to measure with several threads"
            )

    def protocol(self, input_shape: Sequence[int]) -> dict[str, Any]:
        """Everything that changes a measured value (the store key), JSON-ready."""
        proto: dict[str, Any] = {
            "kind": "latency",
            "backend": self.backend,
            "batch_size": self.batch_size,
            "input_shape": [int(s) for s in input_shape],
            "warmup": self.warmup,
            "runs": self.runs,
            "threads": self.threads,
            "clock": self.clock,
            "statistic": "median of timed runs (spread: IQR)",
            "torch": torch.__version__,
        }
        if self.backend == "onnxruntime":
            ort = _import_onnxruntime()
            proto["onnxruntime"] = ort.__version__
        return proto


@dataclass(frozen=True)
class Latency:
    """One latency measurement, in milliseconds per forward pass of one batch."""

    median_ms: float
    iqr_ms: float
    mad_ms: float
    min_ms: float
    mean_ms: float
    runs: int
    backend: str
    threads: int
    batch_size: int
    clock: str = "cpu"
    cpu_median_ms: float = math.nan
    wall_median_ms: float = math.nan
    exporter: str | None = None

    @property
    def spread_ms(self) -> float:
        """The spread reported with the median: the inter-quartile range."""
        return self.iqr_ms

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["spread_ms"] = self.spread_ms
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Latency:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


def device_name() -> str:
    """The measuring device: CPU model and logical core count (``cpu: <model> x<n>``)."""
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown"
    return f"cpu: {model} x{os.cpu_count() or 1}"


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ZeronasError(
            "the onnxruntime latency backend needs the 'onnx' extra: "
            "pip install 'zeronas[onnx]'"
        ) from exc
    return onnxruntime


def _summary(times_ns: Sequence[int]) -> dict[str, float]:
    ms = np.asarray(times_ns, dtype=float) / 1e6
    med = float(np.median(ms))
    q1, q3 = np.percentile(ms, [25, 75])
    return {
        "median_ms": med,
        "iqr_ms": float(q3 - q1),
        "mad_ms": float(np.median(np.abs(ms - med))),
        "min_ms": float(ms.min()),
        "mean_ms": float(ms.mean()),
    }


def _time_calls(call: Callable[[], Any], warmup: int, runs: int
                ) -> tuple[list[int], list[int]]:
    """Nanoseconds of each timed run: (wall clock, CPU time of this thread)."""
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(runs):
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        call()
        t1 = time.perf_counter_ns()
        cpu.append(time.thread_time_ns() - c0)
        wall.append(t1 - t0)
    return wall, cpu


def _export_onnx(model: nn.Module, x: torch.Tensor, path: Path) -> str:
    """Export ``model`` to ``path``; returns the exporter used (see the module docstring)."""
    errors = []
    for dynamo in (False, True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
                kwargs: dict[str, Any] = {"input_names": ["x"], "output_names": ["y"],
                                          "dynamo": dynamo}
                if dynamo:
                    kwargs["verbose"] = False
                torch.onnx.export(model, (x,), str(path), **kwargs)
            return "torch.export (dynamo=True)" if dynamo else "torchscript (dynamo=False)"
        except Exception as exc:  # try the other exporter, then report both failures
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            errors.append(f"dynamo={dynamo}: {type(exc).__name__}: {first}")
    raise ZeronasError("could not export the model to ONNX (" + "; ".join(errors) + ")")


def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    settings: LatencySettings | None = None,
) -> Latency:
    """Measured latency of one forward pass of ``model`` on a batch of ``input_shape`` inputs.

    ``input_shape`` is the per-sample shape, e.g. ``(3, 32, 32)``. The caller's model is not
    changed (a copy is put in eval mode) and torch's thread count is restored afterwards.
    """
    settings = settings or LatencySettings()
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s <= 0 for s in shape):
        raise ZeronasError(f"input_shape {input_shape!r} must be a non-empty tuple of "
                           "positive ints")
    if any(p.is_meta for p in model.parameters()):
        raise ZeronasError("latency needs a real network, not one on the meta device")
    net = copy.deepcopy(model).eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((settings.batch_size, *shape), generator=gen)
    threads_before = torch.get_num_threads()
    exporter = None
    try:
        torch.set_num_threads(settings.threads)
        if settings.backend == "torch":
            def call() -> Any:
                with torch.inference_mode():
                    return net(x)
        else:
            ort = _import_onnxruntime()
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.onnx"
                exporter = _export_onnx(net, x, path)
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = settings.threads
                opts.inter_op_num_threads = 1
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                session = ort.InferenceSession(str(path), opts,
                                               providers=["CPUExecutionProvider"])
            feed = {session.get_inputs()[0].name: x.numpy()}

            def call() -> Any:
                return session.run(None, feed)
        try:
            call()
        except ZeronasError:
            raise
        except Exception as exc:
            raise ZeronasError(
                f"the model could not run on an input of shape {(settings.batch_size, *shape)} "
                f"to measure latency: {type(exc).__name__}: {exc}"
            ) from exc
        wall, cpu = _time_calls(call, settings.warmup, settings.runs)
    finally:
        torch.set_num_threads(threads_before)
    times = cpu if settings.clock == "cpu" else wall
    return Latency(**_summary(times), runs=settings.runs, backend=settings.backend,
                   threads=settings.threads, batch_size=settings.batch_size,
                   clock=settings.clock, cpu_median_ms=float(np.median(cpu)) / 1e6,
                   wall_median_ms=float(np.median(wall)) / 1e6, exporter=exporter)


def repeatability(values: Sequence[float]) -> float:
    """Largest relative deviation of repeated medians from their median (0.05 = 5%)."""
    if len(values) < 2:
        raise ZeronasError("repeatability needs at least two measurements")
    mid = statistics.median(values)
    return max(abs(v - mid) for v in values) / mid if mid > 0 else math.nan


# --------------------------------------------------------------------------- architectures
def latency_protocol(
    space: Any, dataset: str, settings: LatencySettings
) -> dict[str, Any]:
    """The store protocol of a latency measurement of ``space``'s networks for ``dataset``."""
    info = space.dataset(dataset)
    return {"space": space.name, "network": dataset, **settings.protocol(info.input_shape)}


def arch_latency(
    space: Any,
    arch: Any,
    dataset: str = "cifar10",
    settings: LatencySettings | None = None,
    store: Any = None,
) -> Latency:
    """Measured latency of ``arch``'s network for ``dataset`` (read from ``store`` if there).

    The network is built with the same initialisation as for scoring (weights do not change
    latency for these dense networks, but a fixed seed keeps the measurement reproducible).
    """
    from zeronas.proxies.runner import build_network

    settings = settings or LatencySettings()
    key = space.to_str(arch)
    device = device_name()
    proto_key = None
    if store is not None:
        proto_key = store.register_protocol(latency_protocol(space, dataset, settings))
        got = store.get_latency(space.name, [key], device, proto_key)
        if key in got:
            return Latency.from_json(got[key])
    net = build_network(space, arch, dataset, 0)
    result = measure_latency(net, space.dataset(dataset).input_shape, settings)
    if store is not None and proto_key is not None:
        store.put_latency(space.name, key, device, proto_key, result.to_json())
    return result


def measured_latency_fn(
    space: Any, dataset: str = "cifar10", settings: LatencySettings | None = None,
    store: Any = None,
) -> Callable[[Any], float]:
    """``fn(arch) -> median ms``, measuring (and caching in ``store``) on first use."""
    settings = settings or LatencySettings()

    def measured_latency(arch: Any) -> float:
        return arch_latency(space, arch, dataset, settings, store).median_ms

    return measured_latency


# --------------------------------------------------------------------------- prediction
def latency_features(space: Any, arch: Any) -> dict[str, float]:
    """The lookup-table features of ``arch``: ``edge<i>:<op>`` for cells with a fixed list of
    edges (NB201: one op per edge), otherwise operator counts ``op:<label>`` over the graph
    (prefixed by the node group, e.g. ``normal:sep_conv_3x3``, when the graph has groups)."""
    ops = getattr(arch, "ops", None)
    if isinstance(ops, tuple) and ops and all(isinstance(o, str) for o in ops):
        return {f"edge{i}:{op}": 1.0 for i, op in enumerate(ops)}
    graph = space.to_graph(arch)
    counts: dict[str, float] = {}
    for i, label in enumerate(graph.ops):
        if label in ("input", "output"):
            continue
        group = f"{graph.groups[i]}:" if graph.groups is not None else ""
        name = f"op:{group}{label}"
        counts[name] = counts.get(name, 0.0) + 1.0
    return counts


@dataclass(frozen=True)
class LatencyTable:
    """A fitted latency lookup table: ``latency = base_ms + sum(table[f] * x_f)``.

    ``features`` are those seen in the fit; predicting an architecture with a feature the fit
    never saw is an error (its cost is unknown), never a silent zero. ``protocol`` is the
    measurement protocol and device of the latencies the table was fitted to; ``fit`` holds
    the in-sample report (n, RMSE, Spearman).
    """

    space: str
    network: str
    base_ms: float
    table: dict[str, float]
    protocol: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)

    def predict(self, space: Any, arch: Any) -> float:
        """Predicted latency (ms) of ``arch`` of ``space``."""
        if space.name != self.space:
            raise ZeronasError(f"this latency table was fitted on space {self.space!r}, "
                               f"not {space.name!r}")
        total = self.base_ms
        for name, value in latency_features(space, arch).items():
            if name not in self.table:
                raise ZeronasError(
                    f"latency table has no entry for {name!r} (never seen in its "
                    f"{self.fit.get('n', '?')} fitting architectures): refit with more"
                )
            total += self.table[name] * value
        return float(total)

    def latency_fn(self, space: Any) -> Callable[[Any], float]:
        """``fn(arch) -> predicted ms`` for ``space`` (for search constraints/objectives)."""
        if space.name != self.space:
            raise ZeronasError(f"this latency table was fitted on space {self.space!r}, "
                               f"not {space.name!r}")

        def predicted_latency(arch: Any) -> float:
            return self.predict(space, arch)

        return predicted_latency

    def to_json(self) -> dict[str, Any]:
        return {"kind": "zeronas latency table", "space": self.space, "network": self.network,
                "base_ms": self.base_ms, "table": dict(self.table), "protocol": self.protocol,
                "fit": self.fit}

    def save(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_json(), indent=2, allow_nan=True) + "\n")
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatencyTable:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise DataError(f"latency table {str(p)!r} does not exist") from None
        except (OSError, ValueError) as exc:
            raise DataError(f"latency table {str(p)!r} is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("kind") != "zeronas latency table":
            raise DataError(f"{str(p)!r} is not a zeronas latency table (written by "
                            "`zeronas latency --fit N --out FILE`)")
        return cls(data["space"], data["network"], float(data["base_ms"]),
                   {k: float(v) for k, v in data["table"].items()},
                   data.get("protocol", {}), data.get("fit", {}))


def fit_latency_table(
    space: Any,
    archs: Sequence[Any],
    latencies_ms: Sequence[float],
    network: str = "cifar10",
    protocol: Mapping[str, Any] | None = None,
) -> LatencyTable:
    """Least-squares fit of a :class:`LatencyTable` to measured latencies of ``archs``.

    The design matrix has an intercept column and one column per feature; per-edge one-hot
    features are collinear with the intercept, so the minimum-norm least-squares solution is
    taken (predictions are unique; individual entries are relative costs).
    """
    if len(archs) != len(latencies_ms):
        raise ZeronasError(f"{len(archs)} architectures but {len(latencies_ms)} latencies")
    if len(archs) < 3:
        raise ZeronasError(f"a latency table needs at least 3 measured architectures, got "
                           f"{len(archs)}")
    y = np.asarray(latencies_ms, dtype=float)
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        raise ZeronasError("latencies must be finite non-negative milliseconds")
    feats = [latency_features(space, a) for a in archs]
    names = sorted({k for f in feats for k in f})
    x = np.zeros((len(archs), len(names) + 1))
    x[:, 0] = 1.0
    col = {n: i + 1 for i, n in enumerate(names)}
    for r, f in enumerate(feats):
        for k, v in f.items():
            x[r, col[k]] = v
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    pred = x @ coef
    from scipy import stats

    report = {
        "n": len(archs),
        "features": len(names),
        "rmse_ms": float(np.sqrt(np.mean((pred - y) ** 2))),
        "spearman": float(stats.spearmanr(pred, y).statistic),
        "method": "least squares (minimum norm) on intercept + per-feature counts",
    }
    return LatencyTable(space.name, network, float(coef[0]),
                        {n: float(coef[col[n]]) for n in names}, dict(protocol or {}), report)


def evaluate_latency_table(
    table: LatencyTable, space: Any, archs: Sequence[Any], latencies_ms: Sequence[float]
) -> dict[str, float]:
    """Agreement of predictions with measured latencies: Spearman, Kendall, mean absolute
    percentage error and the worst percentage error."""
    from scipy import stats

    y = np.asarray(latencies_ms, dtype=float)
    pred = np.array([table.predict(space, a) for a in archs])
    if len(y) < 3:
        raise ZeronasError("evaluating a latency table needs at least 3 architectures")
    ape = np.abs(pred - y) / y
    return {
        "n": len(y),
        "spearman": float(stats.spearmanr(pred, y).statistic),
        "kendall": float(stats.kendalltau(pred, y).statistic),
        "mape": float(ape.mean()),
        "max_ape": float(ape.max()),
    }


def sample_archs(space: Any, n: int, seed: int) -> list[Any]:
    """``n`` distinct architectures of ``space`` drawn with a generator seeded by ``seed``."""
    if n < 1:
        raise ZeronasError(f"number of architectures must be >= 1, got {n}")
    if space.finite and n > len(space):
        raise ZeronasError(f"space {space.name!r} has only {len(space)} architectures, "
                           f"{n} were asked")
    rng = np.random.default_rng(seed)
    seen: dict[str, Any] = {}
    draws = 0
    while len(seen) < n:
        arch = space.sample(rng)
        seen.setdefault(space.to_str(arch), arch)
        draws += 1
        if draws > 100 * n + 1000:
            raise ZeronasError(f"could not draw {n} distinct architectures of {space.name!r}")
    return list(seen.values())


def measure_archs(
    space: Any,
    archs: Sequence[Any],
    dataset: str = "cifar10",
    settings: LatencySettings | None = None,
    store: Any = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """Median latency (ms) of each of ``archs`` (cached in ``store``), in the given order."""
    out = []
    for i, arch in enumerate(archs):
        out.append(arch_latency(space, arch, dataset, settings, store).median_ms)
        if on_progress is not None:
            on_progress(i + 1, len(archs))
    return out


def search_latency_fn(
    space: Any,
    dataset: str,
    table: str | os.PathLike[str] | None,
    store: Any,
    max_latency_ms: float | None,
    objectives: str | Sequence[str] | None,
    settings: LatencySettings | None = None,
) -> Callable[[Any], float] | None:
    """The ``latency_fn`` a search needs: None when neither a latency budget nor a latency
    objective is asked for; predicted from ``table`` when given; else measured on this
    machine (cached in ``store``)."""
    items = objectives.split(",") if isinstance(objectives, str) else list(objectives or [])
    wanted = max_latency_ms is not None or "latency" in [str(i).strip() for i in items]
    if not wanted:
        if table is not None:
            raise ZeronasError("--latency-table is used only with --max-latency-ms or a "
                               "latency objective (--objectives proxy,latency)")
        return None
    if table is not None:
        lt = LatencyTable.load(table)
        if lt.network != dataset:
            raise ZeronasError(f"latency table {str(table)!r} was fitted on {lt.network!r} "
                               f"networks, the search builds {dataset!r} ones")
        return lt.latency_fn(space)
    return measured_latency_fn(space, dataset, settings, store)
