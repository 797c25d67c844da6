"""A SQLite store of scores keyed by (space, architecture, proxy, protocol).

Every score is committed as soon as it is computed, so a run that is interrupted (Ctrl-C,
``kill -9``) and started again computes only what is missing and loses nothing already
written. The protocol key is a hash of the JSON of everything that changes the value (dataset
network, data, batch size, batches, seed); the JSON itself is kept beside it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zeronas.errors import DataError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS protocols (
    key TEXT PRIMARY KEY,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    space TEXT NOT NULL,
    arch TEXT NOT NULL,
    proxy TEXT NOT NULL,
    protocol TEXT NOT NULL,
    value REAL,
    seconds REAL NOT NULL,
    created REAL NOT NULL,
    micro_batch INTEGER,
    PRIMARY KEY (space, arch, proxy, protocol)
);
CREATE TABLE IF NOT EXISTS latency (
    space TEXT NOT NULL,
    arch TEXT NOT NULL,
    device TEXT NOT NULL,
    protocol TEXT NOT NULL,
    median_ms REAL NOT NULL,
    spread_ms REAL NOT NULL,
    json TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (space, arch, device, protocol)
);
"""


def protocol_key(protocol: Mapping[str, Any]) -> str:
    """A short stable hash of a protocol dict (keys sorted)."""
    text = json.dumps(protocol, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def open_sqlite(target: str, schema: str, wait_s: float = 30.0,
                **connect: Any) -> sqlite3.Connection:
    """Connect to the SQLite file ``target`` (or ``":memory:"``), switch it to WAL and run
    ``schema`` (``CREATE TABLE IF NOT EXISTS ...``); ``connect`` goes to
    :func:`sqlite3.connect`. Every store of zeronas (scores, the navigator's runs) opens its
    file here.

    Two processes opening a new file at the same moment (two ``correlate`` lanes started
    together, a navigator beside a search) can both reach the WAL switch; SQLite then answers
    "database is locked" at once instead of waiting on its busy timeout. That is a race, not
    a broken file, so the open is retried until ``wait_s`` has passed. Any other SQLite error
    (a corrupt file, a directory) is a one-line :class:`DataError` naming ``target``.
    """
    deadline = time.monotonic() + wait_s
    while True:
        conn: sqlite3.Connection | None = None
        try:
            # the busy handler waits only for what is left of the deadline
            conn = sqlite3.connect(target, timeout=max(0.0, deadline - time.monotonic()),
                                   **connect)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(schema)
            return conn
        except sqlite3.DatabaseError as exc:  # OperationalError included
            if conn is not None:
                conn.close()
            if "locked" not in str(exc):
                raise DataError(
                    f"store {target!r} cannot be opened as a zeronas SQLite store: {exc}"
                ) from exc
            if time.monotonic() >= deadline:
                raise DataError(
                    f"store {target!r} stayed locked for {wait_s:g} s: another process "
                    f"holds it, or the filesystem's locking does not work: {exc}"
                ) from exc
            time.sleep(0.05)


class ScoreStore:
    """Scores on disk. NaN is stored as NULL and read back as NaN (never as a number)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = open_sqlite(str(self.path), _SCHEMA)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        """Stores written before ``micro_batch`` existed get the column (NULL: the whole
        batch fitted, which is what every score written before it means)."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(scores)")}
        if "micro_batch" in columns:
            return
        try:
            self._conn.execute("ALTER TABLE scores ADD COLUMN micro_batch INTEGER")
            self._conn.commit()
        except sqlite3.OperationalError as exc:
            if "duplicate column" in str(exc):  # another process added it first
                return
            raise DataError(
                f"store {str(self.path)!r} was written by an older zeronas and needs a new "
                f"column (micro_batch), but it cannot be changed: {exc}. Open it once "
                "with write access"
            ) from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register_protocol(self, protocol: Mapping[str, Any]) -> str:
        """Record ``protocol`` and return its key."""
        key = protocol_key(protocol)
        self._conn.execute(
            "INSERT OR IGNORE INTO protocols (key, json) VALUES (?, ?)",
            (key, json.dumps(protocol, sort_keys=True)),
        )
        self._conn.commit()
        return key

    def get(
        self, space: str, archs: Iterable[str], proxy: str, protocol: str
    ) -> dict[str, tuple[float, float]]:
        """``{arch: (value, seconds)}`` for the archs already scored under ``protocol``."""
        rows = self._select_archs("SELECT arch, value, seconds FROM scores WHERE space=? AND "
                                  "proxy=? AND protocol=?", (space, proxy, protocol), archs)
        return {arch: (math.nan if value is None else float(value), float(seconds))
                for arch, value, seconds in rows}

    def _select_archs(self, sql: str, params: tuple[Any, ...], archs: Iterable[str]
                      ) -> list[tuple[Any, ...]]:
        """Rows of ``sql ... AND arch IN (archs)``, in chunks of 500 (SQLite's variable cap)."""
        wanted = list(archs)
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows.extend(self._conn.execute(f"{sql} AND arch IN ({marks})", (*params, *chunk)))
        return rows

    def put(
        self, space: str, arch: str, values: Mapping[str, tuple[float, float]], protocol: str,
        micro_batch: Mapping[str, int] | None = None,
    ) -> None:
        """Write ``{proxy: (value, seconds)}`` for one architecture and commit at once.
        ``micro_batch`` names the proxies whose batch did not fit in memory, with the
        micro-batch size their value was computed at (see ``score_model``)."""
        now = time.time()
        micro = micro_batch or {}
        self._conn.executemany(
            "INSERT OR REPLACE INTO scores (space, arch, proxy, protocol, value, seconds, "
            "created, micro_batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (space, arch, proxy, protocol, None if math.isnan(v) else float(v), float(s), now,
                 micro.get(proxy))
                for proxy, (v, s) in values.items()
            ],
        )
        self._conn.commit()

    def get_micro_batches(
        self, space: str, archs: Iterable[str], proxy: str, protocol: str
    ) -> dict[str, int]:
        """``{arch: micro-batch size}`` for the archs whose score under ``protocol`` was
        computed on a split batch (out of memory); the others are absent."""
        rows = self._select_archs("SELECT arch, micro_batch FROM scores WHERE space=? AND "
                                  "proxy=? AND protocol=? AND micro_batch IS NOT NULL",
                                  (space, proxy, protocol), archs)
        return {arch: int(m) for arch, m in rows}

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    # Latency has its own table rather than rows of ``scores`` under a pseudo-proxy name: a
    # measurement is keyed by the device it ran on as well as by its protocol, it carries a
    # spread and the raw run statistics (not one value), and keeping it apart means proxy
    # queries and :meth:`count` never see it.
    def get_latency(
        self, space: str, archs: Iterable[str], device: str, protocol: str
    ) -> dict[str, dict[str, Any]]:
        """``{arch: measurement dict}`` for the archs already measured on ``device``."""
        rows = self._select_archs("SELECT arch, json FROM latency WHERE space=? AND device=? "
                                  "AND protocol=?", (space, device, protocol), archs)
        return {arch: json.loads(text) for arch, text in rows}

    def put_latency(
        self, space: str, arch: str, device: str, protocol: str, record: Mapping[str, Any]
    ) -> None:
        """Write one latency measurement (``record`` has ``median_ms`` and ``spread_ms``)."""
        self._conn.execute(
            "INSERT OR REPLACE INTO latency (space, arch, device, protocol, median_ms, "
            "spread_ms, json, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (space, arch, device, protocol, float(record["median_ms"]),
             float(record["spread_ms"]), json.dumps(dict(record), sort_keys=True), time.time()),
        )
        self._conn.commit()
