"""Ranking agreement between a proxy and ground truth: Kendall tau, Spearman rho, top-k.

All functions drop pairs where either value is NaN and report how many were dropped, so a
proxy that fails on some architectures is never silently scored on a different set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from zeronas.errors import ZeronasError


@dataclass(frozen=True)
class Agreement:
    """Agreement of one proxy with the ground truth over ``n`` architectures."""

    kendall: float
    spearman: float
    top10_precision: float
    n: int
    nan_count: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def top_fraction_precision(
    proxy: np.ndarray, truth: np.ndarray, fraction: float = 0.10
) -> float:
    """|top ``fraction`` by proxy ∩ top ``fraction`` by truth| / size of that top set.

    Both rankings take the best ``ceil(fraction * n)`` architectures (higher is better for
    both arrays). Ties at the cut are broken by position (stable sort).
    """
    n = len(proxy)
    if n == 0:
        return math.nan
    k = max(1, math.ceil(fraction * n))
    top_p = set(np.argsort(-proxy, kind="stable")[:k].tolist())
    top_t = set(np.argsort(-truth, kind="stable")[:k].tolist())
    return len(top_p & top_t) / k


def agreement(
    proxy: Sequence[float] | np.ndarray,
    truth: Sequence[float] | np.ndarray,
    higher_is_better: bool = True,
) -> Agreement:
    """Kendall tau-b, Spearman rho and top-10% precision of ``proxy`` against ``truth``.

    ``higher_is_better=False`` flips the proxy so that correlations are positive when the
    proxy ranks well. NaN proxy values are dropped and counted in ``nan_count``.
    """
    p = np.asarray(proxy, dtype=float)
    t = np.asarray(truth, dtype=float)
    if p.shape != t.shape or p.ndim != 1:
        raise ZeronasError(f"proxy and truth must be 1-D of equal length, got {p.shape}, {t.shape}")
    if not higher_is_better:
        p = -p
    keep = np.isfinite(p) & np.isfinite(t)
    nan_count = int((~keep).sum())
    p, t = p[keep], t[keep]
    if len(p) < 2 or np.all(p == p[0]):
        return Agreement(math.nan, math.nan, top_fraction_precision(p, t), len(p), nan_count)
    kendall = float(stats.kendalltau(p, t).statistic)
    spearman = float(stats.spearmanr(p, t).statistic)
    return Agreement(kendall, spearman, top_fraction_precision(p, t), len(p), nan_count)
