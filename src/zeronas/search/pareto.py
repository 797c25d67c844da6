"""Multi-objective search: non-dominated sorting, the Pareto front and its report.

A search with ``objectives=("proxy", "latency")`` (or ``flops``, ``params``) maximises the
proxy objective and minimises the hardware cost at once. There is no single best
architecture, so the answer is the **Pareto front**: every evaluated architecture that no
other evaluated one beats on every objective at once (at least as good on all, strictly
better on one).

Steering: the searcher is told a fitness built from the non-dominated sort of the pool
evaluated so far -- ``-front`` (the front number: 0 for the Pareto front, 1 for the front
once it is removed, ...) plus the architecture's proxy rank in the pool scaled into ``[0,
1)`` as a tie-break inside a front. Like any rank aggregate it is pool-relative, so the
searcher is refreshed after each evaluation (``Searcher.rescore``). Random search ignores
it; regularized evolution's tournaments then pick parents from the best fronts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zeronas.errors import DataError, ZeronasError
from zeronas.plotting import png_path, pyplot
from zeronas.search.result_file import load_result

COSTS: dict[str, str] = {
    "latency": "latency_ms",
    "flops": "flops",
    "params": "params",
}
"""Hardware objectives (minimised) and the constraint-checker measure each one reads."""
UNITS: dict[str, str] = {"proxy": "objective (higher is better)", "latency": "ms",
                         "flops": "M multiply-adds", "params": "M parameters"}


def parse_objectives(objectives: str | Sequence[str] | None) -> list[str]:
    """The hardware objectives of ``"proxy,latency"``-style input (``[]`` for single-objective).

    The first item must be ``proxy`` (the search objective); the others are among
    :data:`COSTS`, without repeats.
    """
    if objectives is None:
        return []
    items = objectives.split(",") if isinstance(objectives, str) else list(objectives)
    items = [str(i).strip() for i in items if str(i).strip()]
    if not items or items == ["proxy"]:
        return []
    if items[0] != "proxy":
        raise ZeronasError(f"objectives {','.join(items)!r}: the first must be 'proxy' (the "
                           f"search objective), e.g. 'proxy,latency'")
    costs = items[1:]
    for c in costs:
        if c not in COSTS:
            raise ZeronasError(f"unknown objective {c!r}: expected proxy followed by any of "
                               f"{', '.join(COSTS)}")
    if len(set(costs)) != len(costs):
        raise ZeronasError(f"objectives {','.join(items)!r} repeat an item")
    return costs


def _as_goodness(points: np.ndarray | Sequence[Sequence[float]],
                 maximize: Sequence[bool]) -> np.ndarray:
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2:
        raise ZeronasError(f"points must be a 2-D array (n, objectives), got shape {pts.shape}")
    if pts.shape[1] != len(maximize):
        raise ZeronasError(f"points have {pts.shape[1]} objectives but maximize has "
                           f"{len(maximize)} entries")
    sign = np.array([1.0 if m else -1.0 for m in maximize])
    return pts * sign


def non_dominated_sort(
    points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]
) -> np.ndarray:
    """The front number of each point (0 = Pareto front), by repeated non-dominated filtering.

    ``points[i, k]`` is point i's value on objective k; ``maximize[k]`` says whether higher is
    better. Point a dominates b when a is at least as good on every objective and strictly
    better on one; equal points do not dominate each other (both stay on the same front).
    A point with a NaN anywhere is put on a last front of its own (never on the Pareto front).
    """
    good = _as_goodness(points, maximize)
    n = len(good)
    ranks = np.full(n, -1, dtype=int)
    valid = ~np.isnan(good).any(axis=1) if n else np.zeros(0, dtype=bool)
    # dominated_by[i, j]: j dominates i
    g = good[valid]
    idx = np.flatnonzero(valid)
    if len(g):
        ge = (g[None, :, :] >= g[:, None, :]).all(axis=2)
        gt = (g[None, :, :] > g[:, None, :]).any(axis=2)
        dom = ge & gt
        remaining = np.ones(len(g), dtype=bool)
        front = 0
        while remaining.any():
            # non-dominated among the remaining points
            current = remaining & ~(dom[:, remaining].any(axis=1))
            ranks[idx[current]] = front
            remaining &= ~current
            front += 1
        last = front
    else:
        last = 1  # no valid point: front 0 stays empty
    ranks[~valid] = last
    return ranks


def pareto_front(
    points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]
) -> list[int]:
    """Indices of the non-dominated points (the Pareto front), in input order."""
    return [int(i) for i in np.flatnonzero(non_dominated_sort(points, maximize) == 0)]


def pareto_fitness(proxy: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """The search fitness (higher is better) of a pool: ``-front + proxy rank / n``.

    ``proxy`` (n,) is the objective (higher is better, NaN worst); ``costs`` (n, k) the
    hardware costs (lower is better).
    """
    proxy = np.asarray(proxy, dtype=float)
    costs = np.asarray(costs, dtype=float).reshape(len(proxy), -1)
    pts = np.column_stack([proxy, costs])
    fronts = non_dominated_sort(pts, [True] + [False] * costs.shape[1])
    key = np.where(np.isnan(proxy), -np.inf, proxy)
    order = np.argsort(key, kind="stable")
    rank = np.empty(len(proxy))
    rank[order] = np.arange(len(proxy))
    return -fronts.astype(float) + rank / max(len(proxy), 1)


def pareto_report(
    archs: Sequence[str],
    proxy: Sequence[float],
    costs: Sequence[Sequence[float]],
    cost_names: Sequence[str],
    truth: Sequence[float | None] | None = None,
) -> dict[str, Any]:
    """The ``pareto`` block of a search result: objectives, every point, and the front
    (sorted by the first cost, cheapest first)."""
    pts = np.column_stack([np.asarray(proxy, dtype=float),
                           np.asarray(costs, dtype=float).reshape(len(archs), -1)])
    fronts = non_dominated_sort(pts, [True] + [False] * len(cost_names))
    points = []
    for i, a in enumerate(archs):
        row: dict[str, Any] = {"arch": a, "proxy": _num(pts[i, 0])}
        for k, name in enumerate(cost_names):
            row[name] = _num(pts[i, k + 1])
        row["front"] = int(fronts[i])
        if truth is not None:
            row["truth"] = truth[i]
        points.append(row)
    front = sorted((p for p in points if p["front"] == 0),
                   key=lambda p: (p[cost_names[0]], -(p["proxy"] or -math.inf)))
    return {
        "objectives": ["proxy", *cost_names],
        "maximize": [True] + [False] * len(cost_names),
        "units": {k: UNITS[k] for k in ["proxy", *cost_names]},
        "front": front,
        "points": points,
        "note": "front: evaluated architectures no other evaluated one beats on every "
                "objective; proxy is the search objective (a pool-relative aggregate when "
                "several proxies are combined)",
    }


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def load_pareto(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``pareto`` block of a search result JSON written by ``zeronas search``."""
    p = Path(path)
    data = load_result(p)
    block = data.get("pareto")
    if not isinstance(block, dict) or "points" not in block:
        raise DataError(f"{str(p)!r} has no Pareto front: run `zeronas search --objectives "
                        "proxy,latency` (or proxy,flops) to make one")
    block = dict(block)
    block["protocol"] = data["protocol"]
    return block


def plot_pareto(block: Mapping[str, Any], out: str | os.PathLike[str]) -> Path:
    """Scatter every evaluated architecture (proxy vs first cost) with the front drawn as a
    step line; writes a PNG. Needs matplotlib (the plot extra)."""
    plt = pyplot()
    path = png_path(out)
    cost = block["objectives"][1]
    pts = [p for p in block["points"] if p["proxy"] is not None and p[cost] is not None]
    front = [p for p in block["front"] if p["proxy"] is not None]
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=110)
    ax.scatter([p[cost] for p in pts], [p["proxy"] for p in pts], s=6, color="0.65",
               label=f"evaluated ({len(pts)})")
    fx = [p[cost] for p in front]
    fy = [p["proxy"] for p in front]
    ax.step(fx, fy, where="post", color="tab:red", lw=1)
    ax.scatter(fx, fy, s=14, color="tab:red", label=f"Pareto front ({len(front)})", zorder=3)
    ax.set_xlabel(f"{cost} ({block.get('units', {}).get(cost, '')})")
    ax.set_ylabel("proxy objective (higher is better)")
    ys = [p["proxy"] for p in pts]
    if ys and min(ys) > 0 and max(ys) / min(ys) > 1e3:  # e.g. synflow spans many decades
        ax.set_yscale("log")
    proto = block.get("protocol") or {}
    items = ", ".join((proto.get("objective") or {}).get("items", []))
    ax.set_title(f"{proto.get('space', '')} / {proto.get('searcher', '')} / {items}",
                 fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
