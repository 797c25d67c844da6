"""A search that can be watched and steered while it runs, and replayed exactly afterwards.

:class:`NavigatorRun` runs the ask/tell loop :func:`zeronas.search.run.run_search` runs
(:class:`~zeronas.search.loop.AskTellLoop`: same objective, constraints, store, budget and
result layout) with the navigator's :class:`~zeronas.search.loop.Steering` hooks, so at the
step boundary before every ``ask`` it

- waits while paused (``pause``/``resume``), and ends the run on ``stop``;
- applies the steering the user queued since the last step: ``exclude``/``include``/``pin``/
  ``unpin`` an option of a slot (the searcher's space is a
  :class:`~zeronas.navigator.restrict.RestrictedSpace`, so the searcher carries on inside the
  smaller space), and ``add`` an architecture, evaluated next and told to the searcher (it
  joins evolution's population).

Every action is written to the run's SQLite store (table ``navigator_actions``) with the step
(number of proposals so far) and the evaluation count at which it took effect. A steered
run is a function of its configuration and that list, so :func:`replay` reruns it and gets
the same sequence of candidates (scores come back from the store, or are recomputed under the
same seeds). Without steering the run proposes exactly what ``run_search`` proposes.

The loop runs in a background thread (:meth:`NavigatorRun.start`); the web app only reads
snapshots and submits actions, so closing the browser neither stops nor loses the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import secrets
import sqlite3
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zeronas import __version__
from zeronas.errors import DataError, UnknownNameError, ZeronasError
from zeronas.execution.store import open_sqlite
from zeronas.navigator.encoding import SlotEncoding, slot_encoding
from zeronas.navigator.restrict import RestrictedSpace, Restriction, SteerError
from zeronas.search.loop import AskTellLoop, Proposal, Steering, default_caps

STEER_KINDS = ("exclude", "include", "pin", "unpin")
"""Actions that change the restriction of the space (payload: ``edge``, ``op``)."""
ACTION_KINDS = ("pause", "resume", "stop", "add", *STEER_KINDS)
"""Every action a user can submit."""
REPLAYED_KINDS = ("stop", "add", *STEER_KINDS)
"""Actions that change what the search proposes (pause/resume only change when)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS navigator_runs (
    run_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    config TEXT NOT NULL,
    replay_of TEXT,
    status TEXT NOT NULL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS navigator_actions (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    time REAL NOT NULL,
    step INTEGER NOT NULL,
    evaluation INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS navigator_measures (
    space TEXT NOT NULL,
    dataset TEXT NOT NULL,
    arch TEXT NOT NULL,
    params REAL NOT NULL,
    flops REAL NOT NULL,
    PRIMARY KEY (space, dataset, arch)
);
"""


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what a navigator run proposes (its replay key).

    The fields mirror ``zeronas search``: ``space`` with ``space_options`` (e.g. ``C``/``N``),
    the objective ``proxies``, ``searcher`` with ``searcher_options``, ``budget``, ``seed``
    (searcher, network initialisation and batches), the network ``dataset``, the batches
    (``data``, ``batch_size``, ``batches``), budgets ``max_flops``/``max_params`` (M), and
    ``measure``: count FLOPs and params of every candidate for the page (cached in the store).
    """

    space: str = "nb201"
    space_options: tuple[tuple[str, Any], ...] = ()
    proxies: str = "synflow+meco"
    searcher: str = "evolution"
    searcher_options: tuple[tuple[str, Any], ...] = ()
    budget: int = 500
    seed: int = 0
    dataset: str = "cifar10"
    data: str = "synthetic"
    batch_size: int = 64
    batches: int = 2
    max_flops: float | None = None
    max_params: float | None = None
    measure: bool = True

    def __post_init__(self) -> None:
        b = self.budget
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise ZeronasError(f"budget must be a positive integer, got {b!r}")
        object.__setattr__(self, "space_options", tuple(sorted(dict(self.space_options).items())))
        object.__setattr__(self, "searcher_options",
                           tuple(sorted(dict(self.searcher_options).items())))

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["space_options"] = dict(self.space_options)
        out["searcher_options"] = dict(self.searcher_options)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise DataError(f"navigator run config has unknown field(s) {unknown}")
        d = dict(data)
        d["space_options"] = tuple(dict(d.get("space_options") or {}).items())
        d["searcher_options"] = tuple(dict(d.get("searcher_options") or {}).items())
        return cls(**d)

    def make_space(self) -> Any:
        from zeronas.spaces import get_space

        try:
            return get_space(self.space, **dict(self.space_options))
        except TypeError as exc:
            raise ZeronasError(f"space {self.space!r} got invalid options "
                               f"{dict(self.space_options)}: {exc}") from None

    def settings(self) -> Any:
        from zeronas.bench.data import parse_data
        from zeronas.proxies import ScoreSettings

        return ScoreSettings(batch_size=self.batch_size, batches=self.batches, seed=self.seed,
                             data=parse_data(self.data))


def space_key(space: Any) -> str:
    """The space's name and its numeric options, e.g. ``nb201{"C":16,"N":5}``."""
    opts = {k: v for k, v in sorted(vars(space).items())
            if not k.startswith("_") and isinstance(v, (int, float, bool, str))}
    return space.name + json.dumps(opts, separators=(",", ":"))


class ActionLog:
    """The navigator's tables in the run's SQLite store (runs, actions, FLOPs/params cache).

    One connection shared by the web and search threads behind a lock. ``path=None`` keeps
    everything in memory (a throw-away run).
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        target = ":memory:"
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target = str(self.path)
        self._lock = threading.Lock()
        self._conn = open_sqlite(target, _SCHEMA, check_same_thread=False)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def new_run(self, run_id: str, config: RunConfig, replay_of: str | None) -> None:
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO navigator_runs (run_id, created, config, replay_of, status) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (run_id, time.time(), json.dumps(config.to_json()), replay_of, "starting"))
            except sqlite3.IntegrityError:
                raise ZeronasError(f"navigator run {run_id!r} already exists in "
                                   f"{self.path}") from None
            self._conn.commit()

    def set_status(self, run_id: str, status: str, result: Mapping[str, Any] | None = None
                   ) -> None:
        with self._lock:
            if result is None:
                self._conn.execute("UPDATE navigator_runs SET status=? WHERE run_id=?",
                                   (status, run_id))
            else:
                self._conn.execute(
                    "UPDATE navigator_runs SET status=?, result=? WHERE run_id=?",
                    (status, json.dumps(_jsonable(result)), run_id))
            self._conn.commit()

    def record(self, run_id: str, action: Mapping[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO navigator_actions (run_id, seq, time, step, evaluation, kind, "
                "payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, action["seq"], action["time"], action["step"], action["evaluation"],
                 action["kind"], json.dumps(action["payload"])))
            self._conn.commit()

    def run(self, run_id: str) -> dict[str, Any]:
        """``{"config", "status", "replay_of", "result", "actions"}`` of a recorded run."""
        with self._lock:
            row = self._conn.execute(
                "SELECT config, status, replay_of, result FROM navigator_runs WHERE run_id=?",
                (run_id,)).fetchone()
            if row is None:
                known = [r[0] for r in self._conn.execute(
                    "SELECT run_id FROM navigator_runs ORDER BY created DESC LIMIT 10")]
                raise ZeronasError(f"no navigator run {run_id!r} in {self.path}; recent runs: "
                                   f"{', '.join(known) or 'none'}")
            actions = [
                {"seq": seq, "time": t, "step": step, "evaluation": ev, "kind": kind,
                 "payload": json.loads(payload)}
                for seq, t, step, ev, kind, payload in self._conn.execute(
                    "SELECT seq, time, step, evaluation, kind, payload FROM navigator_actions "
                    "WHERE run_id=? ORDER BY seq", (run_id,))]
        return {"config": json.loads(row[0]), "status": row[1], "replay_of": row[2],
                "result": None if row[3] is None else json.loads(row[3]), "actions": actions}

    def runs(self) -> list[dict[str, Any]]:
        """Every recorded run, newest first: id, created, status."""
        with self._lock:
            return [{"run_id": r, "created": c, "status": s} for r, c, s in self._conn.execute(
                "SELECT run_id, created, status FROM navigator_runs ORDER BY created DESC")]

    def get_measure(self, space: str, dataset: str, arch: str) -> dict[str, float] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT params, flops FROM navigator_measures WHERE space=? AND dataset=? AND "
                "arch=?", (space, dataset, arch)).fetchone()
        return None if row is None else {"params": row[0], "flops": row[1]}

    def put_measure(self, space: str, dataset: str, arch: str, m: Mapping[str, float]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO navigator_measures (space, dataset, arch, params, flops)"
                " VALUES (?, ?, ?, ?, ?)", (space, dataset, arch, m["params"], m["flops"]))
            self._conn.commit()


def _jsonable(x: Any) -> Any:
    """``x`` with NaN and infinities as None (browsers' JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, (np.floating, np.integer)):
        return _jsonable(x.item())
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


def new_run_id() -> str:
    """A fresh run id: the start time and 6 random hex digits (``20250101-120000-a1b2c3``)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


Status = Literal["starting", "running", "paused", "finished", "stopped", "failed"]


@dataclass
class _Record:
    """One evaluated candidate, as the page shows it."""

    arch: str
    scores: dict[str, float]
    flops: float | None
    params: float | None
    truth: float | None
    step: int
    injected: bool


@dataclass
class _Shared:
    """What the search thread publishes for the web thread (under the run's lock)."""

    records: list[_Record] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


class NavigatorRun:
    """A steerable ask/tell search (see the module docstring).

    - ``config``: :class:`RunConfig`; ``store``: SQLite path for scores, actions and the
      FLOPs/params cache (None: in memory); ``out``: where the result JSON is written when
      the run ends (None: not written).
    - ``ground_truth``: as in ``run_search`` (default: loaded from ``data_dir`` or
      ``$ZERONAS_DATA`` when present; ``False``: none). Shown on the page, never read by the
      search.
    - ``scheduled``: recorded actions to apply at their recorded steps (a replay); while
      replaying, no user action is accepted.
    """

    def __init__(
        self,
        config: RunConfig,
        store: str | Path | None = None,
        *,
        run_id: str | None = None,
        out: str | Path | None = None,
        ground_truth: Any = None,
        data_dir: str | Path | None = None,
        scheduled: Sequence[Mapping[str, Any]] | None = None,
        replay_of: str | None = None,
    ) -> None:
        from zeronas.search.base import Searcher, make_searcher
        from zeronas.search.objective import parse_objective

        self.config = config
        self.store_path = None if store is None else Path(store)
        self.out = None if out is None else Path(out)
        self.run_id = run_id or new_run_id()
        self.base_space = config.make_space()
        self.encoding: SlotEncoding = slot_encoding(self.base_space)
        self.base_space.dataset(config.dataset)
        parse_objective(config.proxies)
        self.settings = config.settings()
        self._restriction = Restriction.full(self.encoding)
        self._projected = self._restriction
        self.space = RestrictedSpace(self.base_space, self._restriction)
        self.searcher = make_searcher(config.searcher, self.space, config.seed,
                                      **dict(config.searcher_options))
        if not isinstance(self.searcher, Searcher):
            raise ZeronasError(f"the navigator drives ask/tell searchers (random, evolution); "
                               f"{config.searcher!r} is not one")
        self.gt = None if ground_truth is False else (ground_truth or
                                                      _load_truth(self.base_space, data_dir))
        self.truth_dataset: str | None = None
        if self.gt is not None:
            self.truth_dataset = (config.dataset if config.dataset in self.gt.datasets
                                  else self.gt.datasets[0])
        self.scheduled = sorted((dict(a) for a in scheduled or []
                                 if a["kind"] in REPLAYED_KINDS), key=lambda a: a["seq"])
        self.replaying = scheduled is not None
        self.replay_of = replay_of
        self.log = ActionLog(self.store_path)
        self.log.new_run(self.run_id, config, replay_of)

        self._cond = threading.Condition()
        self._pending: list[dict[str, Any]] = []
        self._injections: deque[tuple[Any, str]] = deque()
        self._paused = False
        self._stop = False
        self._status: Status = "starting"
        self._error: str | None = None
        self._evaluated = 0
        self._seq = 0
        self.actions: list[dict[str, Any]] = []
        self.version = 0
        self._shared = _Shared()
        self.result: dict[str, Any] | None = None
        self._ask_tell: AskTellLoop | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[int], None]] = []
        self._view_cache: tuple[int, dict[str, Any]] | None = None
        self.encoding_size = Restriction.full(self.encoding).size
        from zeronas.search.objective import Objective

        self._aggregation = Objective(config.proxies, self.base_space, config.dataset,
                                      self.settings).method

    # ------------------------------------------------------------------ public state
    @property
    def status(self) -> Status:
        return self._status

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def done(self) -> bool:
        return self._status in ("finished", "stopped", "failed")

    @property
    def restriction(self) -> Restriction:
        """The restriction the searcher works in now (queued edits not yet included)."""
        return self._restriction

    @property
    def _step(self) -> int:
        """Proposals so far (the step an action is recorded at and replayed at)."""
        return 0 if self._ask_tell is None else self._ask_tell.steps

    @property
    def rejected(self) -> int:
        """Proposals over a hardware budget so far."""
        return 0 if self._ask_tell is None else self._ask_tell.rejected

    @property
    def repeats(self) -> int:
        """Proposals answered from the pool so far."""
        return 0 if self._ask_tell is None else self._ask_tell.repeats

    @property
    def off_restriction(self) -> int:
        """Proposals outside the restricted space so far (rejected unscored)."""
        return 0 if self._ask_tell is None else self._ask_tell.off_restriction

    @property
    def evaluated(self) -> int:
        return self._evaluated

    def published(self) -> tuple[int, list[_Record], list[float], list[dict[str, Any]]]:
        """``(version, records, current objective values, history)``, copied under the lock."""
        with self._cond:
            s = self._shared
            return self.version, list(s.records), list(s.values), list(s.history)

    def view(self) -> dict[str, Any]:
        """The JSON view of the run as it is now (see :mod:`zeronas.navigator.views`),
        cached per published version."""
        from zeronas.navigator.views import build_view

        with self._cond:
            version = self.version
            cached = self._view_cache
            if cached is not None and cached[0] == version:
                return cached[1]
            s = self._shared
            records, values, history = list(s.records), list(s.values), list(s.history)
            actions = list(self.actions)
            restriction = self._restriction
            meta = {
                "status": self._status, "live": True, "run_id": self.run_id,
                "replaying": self.replaying, "replay_of": self.replay_of,
                "space": self.base_space.name, "objective": self.config.proxies,
                "aggregation": None, "searcher": self.config.searcher,
                "seed": self.config.seed, "budget": self.config.budget,
                "evaluated": len(records), "rejected": self.rejected, "repeats": self.repeats,
                "error": self._error, "truth_dataset": self.truth_dataset,
                "space_size": self.encoding_size, "restricted_size": restriction.size,
                "store": None if self.store_path is None else str(self.store_path),
                "best": None if self.result is None else self.result["best"],
                "stopped": None if self.result is None else self.result["stopped"],
            }
        meta["aggregation"] = self._aggregation
        view = build_view(self.base_space, self.encoding,
                          [dataclasses.asdict(r) for r in records], values, history, meta,
                          restriction.to_json(), actions)
        view = _jsonable(view)
        with self._cond:
            self._view_cache = (version, view)
        return view

    def on_change(self, fn: Callable[[int], None]) -> None:
        """Call ``fn(version)`` from the search thread whenever the published state changes."""
        self._listeners.append(fn)

    # ------------------------------------------------------------------ actions
    def submit(self, kind: Any, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validate and submit one user action; returns it (``state``: applied or queued).

        Raises :class:`SteerError` (with an HTTP status) for a malformed or impossible
        request; the search is never disturbed by one.
        """
        payload = {} if payload is None else payload
        if not isinstance(payload, Mapping):
            raise SteerError(f"action payload must be a JSON object, got {payload!r}")
        if not isinstance(kind, str) or kind not in ACTION_KINDS:
            raise SteerError(f"unknown action {kind!r}: expected one of {', '.join(ACTION_KINDS)}")
        with self._cond:
            if self.replaying:
                raise SteerError("this run is a replay: it takes no new actions", status=409)
            if self.done:
                raise SteerError(f"the run has ended ({self._status}): nothing to {kind}",
                                 status=409)
            if kind in ("pause", "resume"):
                if (kind == "pause") == self._paused:
                    now = "paused" if self._paused else "running"
                    raise SteerError(f"the run is already {now}", status=409)
                self._paused = kind == "pause"
                action = self._record(kind, {})
                self._cond.notify_all()
                self._changed()
                return {**action, "state": "applied"}
            if kind == "stop":
                clean: dict[str, Any] = {}
            elif kind == "add":
                clean = self._check_add(payload)
            else:
                extra = sorted(set(payload) - {"edge", "op"})
                if extra:
                    raise SteerError(f"{kind} takes 'edge' and 'op', got unexpected {extra}")
                if "edge" not in payload or (kind != "unpin" and "op" not in payload):
                    raise SteerError(f"{kind} needs 'edge' (slot index) and 'op' (operation)")
                r = self._projected
                edge = r.slot(payload["edge"])
                op = payload.get("op") if kind == "unpin" else r.option(edge, payload["op"])
                self._projected = getattr(r, kind)(edge, op)
                clean = {"edge": edge, "op": op}
            action = {"kind": kind, "payload": clean, "submitted": time.time()}
            self._pending.append(action)
            self._cond.notify_all()
        return {**action, "state": "queued"}

    def _check_add(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        extra = sorted(set(payload) - {"arch"})
        if extra or not isinstance(payload.get("arch"), str):
            raise SteerError("add needs {'arch': '<architecture string>'}"
                             + (f", got unexpected {extra}" if extra else ""))
        try:
            arch = self.base_space.parse(payload["arch"])
        except ZeronasError as exc:
            raise SteerError(f"cannot add {payload['arch']!r}: {exc}") from None
        bad = self._projected.violations(arch)
        if bad:
            raise SteerError(f"cannot add {self.base_space.to_str(arch)}: it uses "
                             f"{', '.join(bad)}, which the search excludes", status=409)
        return {"arch": self.base_space.to_str(arch)}

    def _record(self, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        # caller holds the lock
        self._seq += 1
        action = {"seq": self._seq, "time": time.time(), "step": self._step,
                  "evaluation": self._evaluated, "kind": kind, "payload": dict(payload)}
        self.actions.append(action)
        self.log.record(self.run_id, action)
        return action

    def _apply(self, kind: str, payload: Mapping[str, Any]) -> None:
        # caller holds the lock; the action was validated against the projection
        if kind == "stop":
            self._stop = True
        elif kind == "add":
            arch = self.base_space.from_str(payload["arch"])
            self._injections.append((arch, payload["arch"]))
        else:
            self._restriction = getattr(self._restriction, kind)(payload["edge"],
                                                                 payload.get("op"))
            self.space.restriction = self._restriction
            if self.replaying:
                self._projected = self._restriction
        self._record(kind, payload)

    def _apply_pending(self) -> None:
        # caller holds the lock
        if self.replaying:
            while self.scheduled and self.scheduled[0]["step"] <= self._step:
                a = self.scheduled.pop(0)
                self._apply(a["kind"], a["payload"])
        else:
            for a in self._pending:
                self._apply(a["kind"], a["payload"])
            self._pending.clear()

    def _changed(self) -> None:
        self.version += 1
        for fn in self._listeners:
            fn(self.version)

    def _set_status(self, status: Status) -> None:
        if status != self._status:
            self._status = status
            self.log.set_status(self.run_id, status)
            self._changed()

    # ------------------------------------------------------------------ running
    def start(self) -> NavigatorRun:
        """Run the search in a background (daemon) thread; returns self."""
        if self._thread is not None:
            raise ZeronasError("this navigator run was already started")
        self._thread = threading.Thread(target=self.run, name=f"navigator-{self.run_id}",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Release the store connection (after the run has ended)."""
        self.log.close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the background run to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def stop(self, wait: float | None = None) -> None:
        """Ask the run to stop at its next step (recorded like the page's stop)."""
        with contextlib.suppress(SteerError):
            self.submit("stop")
        self.join(wait)

    def run(self) -> dict[str, Any] | None:
        """Run the search in this thread until the budget, a stop, or an error; the result
        JSON (also written to ``out``), or None when the run failed (see :attr:`error`)."""
        try:
            self.result = self._loop()
        except Exception as exc:
            self._error = (str(exc) if isinstance(exc, ZeronasError)
                           else f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            with self._cond:
                self._set_status("failed")
            return None
        with self._cond:
            self._set_status("stopped" if self.result["stopped"] == "stopped by user"
                             else "finished")
        self.log.set_status(self.run_id, self._status, self.result)
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.out.write_text(json.dumps(self.result, indent=2, allow_nan=True) + "\n")
        return self.result

    def _loop(self) -> dict[str, Any]:
        from zeronas.execution.store import ScoreStore
        from zeronas.search.constraints import ConstraintChecker, Constraints
        from zeronas.search.objective import Objective

        cfg = self.config
        t_start, cpu_start = time.perf_counter(), time.process_time()
        store = None if self.store_path is None else ScoreStore(self.store_path)
        try:
            objective = Objective(cfg.proxies, self.base_space, cfg.dataset, self.settings, store)
            checker = ConstraintChecker(self.base_space, cfg.dataset,
                                        Constraints(cfg.max_flops, cfg.max_params))
            max_rejected, max_repeats = default_caps(cfg.budget)
            loop = AskTellLoop(self.searcher, objective, checker, cfg.budget, self._truth,
                               max_rejected=max_rejected, max_repeats=max_repeats,
                               steering=_Steering(self, checker))
            self._ask_tell = loop
            loop.run()
            sp, reasons, stopped = self.base_space, loop.reasons, loop.stopped
            if len(objective) == 0:
                raise ZeronasError(f"no architecture of {sp.name!r} could be evaluated "
                                   f"({stopped}; {self.rejected} over budget)")
            return self._result(objective, checker, reasons, stopped, t_start, cpu_start)
        finally:
            if store is not None:
                store.close()

    def _measure(self, checker: Any, skey: str, arch: Any, key: str) -> dict[str, float]:
        got = self.log.get_measure(skey, self.config.dataset, key)
        if got is None:
            got = checker.measure(arch, key)
            self.log.put_measure(skey, self.config.dataset, key, got)
        return got

    def _truth(self, key: str) -> float | None:
        if self.gt is None or self.truth_dataset is None:
            return None
        v = self.gt.get(key, self.truth_dataset)
        return None if v is None else float(v)

    def _result(self, objective: Any, checker: Any, reasons: Mapping[str, int], stopped: str,
                t_start: float, cpu_start: float) -> dict[str, Any]:
        import torch

        cfg, sp = self.config, self.base_space
        values = objective.values()
        b = objective.best(values)
        best_key = objective.archs[b]
        best_arch = sp.from_str(best_key)
        m = checker.measure(best_arch, best_key)
        best = {
            "arch": best_key,
            "index": sp.index(best_arch) if sp.finite else None,
            "scores": {n: v[b] for n, v in objective.raw.items()},
            "aggregate": float(values[b]),
            "flops": m["flops"],
            "params": m["params"],
            "ground_truth": None if self.gt is None else {
                ds: _opt_float(self.gt.get(best_key, ds)) for ds in self.gt.datasets},
        }
        order = sorted(range(len(values)),
                       key=lambda i: (-(values[i] if math.isfinite(values[i]) else -math.inf),
                                      i))[:10]
        top = [{"arch": objective.archs[i], "aggregate": float(values[i]),
                "truth": self._truth(objective.archs[i])} for i in order]
        protocol = {
            "space": sp.name,
            "space_options": dict(cfg.space_options) or {
                k: v for k, v in vars(sp).items()
                if not k.startswith("_") and isinstance(v, (int, float, bool, str))},
            "dataset": cfg.dataset,
            "searcher": cfg.searcher,
            "searcher_options": self.searcher.hyperparameters(),
            "objective": objective.describe(),
            "budget": cfg.budget,
            "budget_unit": "distinct architectures scored (store hits included)",
            "seed": cfg.seed,
            "network_init_seed": self.settings.seed,
            "data": self.settings.data.source,
            "data_description": self.settings.data.describe(),
            "batch_size": cfg.batch_size,
            "batches": cfg.batches,
            "constraints": checker.constraints.protocol(),
            "rejection_reasons": dict(reasons),
            "ground_truth": None if self.gt is None else self.gt.description,
            "truth_dataset": self.truth_dataset,
            "truth_note": "true accuracy is looked up after scoring, for the report only; the "
                          "search never reads it",
            "store": None if self.store_path is None else str(self.store_path),
            "zeronas_version": __version__,
            "torch_threads": torch.get_num_threads(),
        }
        if objective.micro_batch:  # out of memory: values at a smaller batch size
            protocol["micro_batch"] = objective.micro_batch
        cost = {"scores_computed": objective.computed, "scores_reused": objective.reused,
                "scoring_seconds": objective.scoring_seconds,
                "cpu_seconds": time.process_time() - cpu_start}
        with self._cond:
            history = list(self._shared.history)
            actions = list(self.actions)
        return {
            "protocol": protocol,
            "best": best,
            "evaluated": len(objective),
            "rejected": self.rejected,
            "repeats": self.repeats,
            "stopped": stopped,
            "seconds": time.perf_counter() - t_start,
            "cost": cost,
            "top": top,
            "history": history,
            "navigator": {
                "run_id": self.run_id,
                "replay_of": self.replay_of,
                "config": cfg.to_json(),
                "actions": actions,
                "restriction": {"slots": list(self.encoding.slots),
                                 "allowed": self._restriction.to_json()},
                "off_restriction": self.off_restriction,
                "note": "replay with zeronas.navigator.replay(store, run_id): the actions are "
                        "applied at their recorded step (proposals so far)",
            },
        }


class _Steering(Steering):
    """The navigator's hooks into the shared ask/tell loop: pause, stop, queued steering and
    injected architectures at each step boundary; publish each evaluation to the page."""

    def __init__(self, run: NavigatorRun, checker: Any) -> None:
        self.run = run
        self.checker = checker
        self.skey = space_key(run.base_space)

    def before_step(self, steps: int) -> bool:
        r = self.run
        with r._cond:
            r._apply_pending()
            while r._paused and not r._stop:
                r._set_status("paused")
                r._cond.wait(0.25)
                r._apply_pending()
            if r._stop:
                return False
            r._set_status("running")
        return True

    def injection(self) -> tuple[Any, str] | None:
        r = self.run
        with r._cond:
            return r._injections.popleft() if r._injections else None

    def allows(self, arch: Any) -> bool:
        return self.run._restriction.allows(arch)

    def extra(self, proposal: Proposal) -> dict[str, Any]:
        r = self.run
        measures = (r._measure(self.checker, self.skey, proposal.arch, proposal.key)
                    if r.config.measure else {})
        return {"flops": measures.get("flops"), "params": measures.get("params"),
                "step": proposal.step, "injected": proposal.injected}

    def evaluated(self, row: dict[str, Any], values: np.ndarray) -> None:
        r = self.run
        rec = _Record(row["arch"], dict(row["scores"]), row["flops"], row["params"],
                      row["truth"], row["step"], row["injected"])
        with r._cond:
            r._evaluated = row["evaluation"]
            r._shared.records.append(rec)
            r._shared.values = [float(v) for v in values]
            r._shared.history.append(row)
            r._changed()


def _load_truth(space: Any, data_dir: str | Path | None) -> Any:
    from zeronas.bench.groundtruth import load_ground_truth

    try:
        return load_ground_truth(space.name, data_dir)
    except (DataError, UnknownNameError):
        return None


def replay(
    store: str | Path,
    run_id: str,
    *,
    out: str | Path | None = None,
    ground_truth: Any = None,
    data_dir: str | Path | None = None,
) -> NavigatorRun:
    """Rerun the recorded navigator run ``run_id`` of ``store`` with its recorded actions.

    Runs in the calling thread and returns the finished replay (a new run in the store, with
    ``replay_of`` set); its ``result["history"]`` lists the same candidates in the same order.
    """
    log = ActionLog(store)
    try:
        rec = log.run(run_id)
    finally:
        log.close()
    config = RunConfig.from_json(rec["config"])
    run = NavigatorRun(config, store, out=out, ground_truth=ground_truth, data_dir=data_dir,
                       scheduled=rec["actions"], replay_of=run_id)
    run.run()
    if run.error is not None:
        raise ZeronasError(f"replay of {run_id} failed: {run.error}")
    return run


def candidates(result: Mapping[str, Any]) -> list[str]:
    """The evaluated architectures of a run's result, in evaluation order."""
    return [h["arch"] for h in result["history"]]
