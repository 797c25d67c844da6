"""Rank aggregation over a pool of candidates, and composite (pool-level) scores.

A proxy scores one architecture; a *composite* scores a pool: its parts are computed per
architecture, then ranked over the pool and the ranks aggregated. Two kinds of composite:

- named composites in :data:`COMPOSITES`, e.g. ``az_nas`` (AZ-NAS, Lee & Ham, CVPR 2024: the
  sum of ``log(rank / n)`` over expressivity, progressivity, trainability and complexity);
- ad-hoc ensembles written ``[method:]part+part+...``, e.g. ``zico+naswot`` (mean rank) or
  ``log_rank:zico+naswot+synflow``. The syntax uses neither commas nor spaces nor shell
  metacharacters, so an ensemble can be given inside a comma-separated ``--proxies`` list:
  ``--proxies zico,naswot,zico+naswot,az_nas``. A part may be a registered proxy or a named
  composite (``az_nas+zico``).

Ranks here are *goodness* ranks: 1 is the worst candidate and ``n`` the best (ties share the
average of their positions, as ``scipy.stats.rankdata``); a NaN (a proxy that could not give a
number) ranks below every number, NaNs tying among themselves. Every aggregate is
higher-is-better. The functions are pure numpy; only the lookup of part names and their
directions reads the proxy registry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from zeronas.errors import UnknownNameError, ZeronasError, unknown_name

Method = Literal["mean_rank", "log_rank"]
METHODS: tuple[str, ...] = ("mean_rank", "log_rank")
"""``mean_rank``: mean over parts of the goodness rank (1 worst .. n best).
``log_rank``: AZ-NAS's sum over parts of ``log(rank / n)`` (0 for a candidate best on every
part); a candidate poor on any one part is pulled down hard, unlike with the mean."""

ENSEMBLE_SEPARATOR = "+"
METHOD_SEPARATOR = ":"
DEFAULT_ENSEMBLE_METHOD: Method = "mean_rank"

COMPOSITES: dict[str, tuple[tuple[str, ...], str]] = {
    "az_nas": (
        ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity"),
        "log_rank",
    ),
}
"""Named composites: ``name -> (parts, method)``."""


class EnsembleError(ZeronasError):
    """A malformed composite name, an unknown part, or pool scores that do not fit."""


@dataclass(frozen=True)
class Composite:
    """A pool-level score: ``parts`` computed per architecture, aggregated with ``method``."""

    name: str
    parts: tuple[str, ...]
    method: str


# ---------------------------------------------------------------------------------------------
# ranks


def _as_vector(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise EnsembleError(f"{what}: expected a sequence of numbers, got {values!r}") from exc
    if v.ndim != 1:
        raise EnsembleError(f"{what}: expected a 1-D sequence of numbers, got shape {v.shape}")
    return v


def rank(values: Sequence[float] | np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Goodness ranks of ``values``: 1 for the worst, ``n`` for the best, as floats.

    Ties get the average of the positions they span (``[5, 5, 1] -> [2.5, 2.5, 1]``). NaN is
    explicitly the worst: the ``k`` NaNs share ranks ``1..k`` (each gets ``(k + 1) / 2``) and
    the numbers are ranked ``k + 1 .. n``; ``-inf``/``inf`` are ordinary extremes. With
    ``higher_is_better=False`` the smallest value is best.
    """
    v = _as_vector(values, "rank")
    if not higher_is_better:
        v = -v
    out = np.empty(v.shape, dtype=float)
    nan = np.isnan(v)
    k = int(nan.sum())
    out[nan] = (k + 1) / 2.0
    if k < v.size:
        _, inverse, counts = np.unique(v[~nan], return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        out[~nan] = k + (ends - (counts - 1) / 2.0)[inverse.reshape(-1)]
    return out


def aggregate(
    scores: Mapping[str, Sequence[float] | np.ndarray],
    method: str = "mean_rank",
    higher_is_better: Mapping[str, bool] | None = None,
) -> np.ndarray:
    """Aggregate per-proxy scores over a pool of ``n`` candidates into one score each.

    ``scores`` maps a proxy name to its ``n`` values (NaN allowed, ranked worst).
    ``higher_is_better`` gives each proxy's direction; a proxy not in it counts as
    higher-is-better. ``method="mean_rank"`` gives the mean goodness rank (1..n),
    ``"log_rank"`` the AZ-NAS aggregate ``sum_p log(rank_p / n)`` (<= 0, 0 for a candidate best
    on all). Higher is better for both.
    """
    if method not in METHODS:
        raise EnsembleError(f"unknown aggregation method {method!r}: expected one of "
                            f"{', '.join(METHODS)}")
    if not scores:
        raise EnsembleError("nothing to aggregate: no proxy scores were given")
    vectors = {name: _as_vector(v, f"scores of {name!r}") for name, v in scores.items()}
    lengths = {name: v.size for name, v in vectors.items()}
    if len(set(lengths.values())) > 1:
        raise EnsembleError(
            "scores cover pools of different sizes: "
            + ", ".join(f"{name}: {n}" for name, n in lengths.items())
        )
    n = next(iter(lengths.values()))
    if n == 0:
        raise EnsembleError("the candidate pool is empty: nothing to rank")
    directions = higher_is_better or {}
    ranks = np.stack([rank(v, directions.get(name, True)) for name, v in vectors.items()])
    if method == "mean_rank":
        return ranks.mean(axis=0)
    return np.log(ranks / n).sum(axis=0)


# ---------------------------------------------------------------------------------------------
# composites


def parse_composite(name: str) -> Composite | None:
    """The :class:`Composite` named by ``name``, or None when ``name`` is a plain proxy name.

    Named composites come from :data:`COMPOSITES`; ensembles are ``[method:]a+b+...`` with at
    least two distinct, non-empty parts (``method`` one of :data:`METHODS`, default
    ``mean_rank``). Part names are not checked here (see :func:`expand`).
    """
    name = name.strip()
    if name in COMPOSITES:
        parts, method = COMPOSITES[name]
        return Composite(name, tuple(parts), method)
    method: str = DEFAULT_ENSEMBLE_METHOD
    body = name
    if METHOD_SEPARATOR in name:
        method, _, body = name.partition(METHOD_SEPARATOR)
        method = method.strip()
        if method not in METHODS:
            raise EnsembleError(
                f"ensemble {name!r}: unknown method {method!r} before {METHOD_SEPARATOR!r}; "
                f"expected one of {', '.join(METHODS)} (e.g. 'log_rank:zico+naswot')"
            )
        if ENSEMBLE_SEPARATOR not in body:
            raise EnsembleError(
                f"ensemble {name!r}: expected two or more parts joined by "
                f"{ENSEMBLE_SEPARATOR!r} after the method (e.g. 'log_rank:zico+naswot')"
            )
    elif ENSEMBLE_SEPARATOR not in name:
        return None
    parts = tuple(p.strip() for p in body.split(ENSEMBLE_SEPARATOR))
    if any(not p for p in parts):
        raise EnsembleError(
            f"ensemble {name!r} has an empty part: expected names joined by "
            f"{ENSEMBLE_SEPARATOR!r}, e.g. 'zico+naswot'"
        )
    if len(set(parts)) != len(parts):
        raise EnsembleError(f"ensemble {name!r} lists a part twice")
    return Composite(name, parts, method)


def is_composite(name: str) -> bool:
    """Whether ``name`` is a named composite or an ensemble expression."""
    return parse_composite(name) is not None


def _registry_names() -> Collection[str]:
    # importing a submodule runs zeronas.proxies/__init__, which registers the built-ins
    import zeronas.proxies.aznas  # noqa: F401
    from zeronas.proxies.base import list_proxies

    return list_proxies()


def _registry_direction(name: str) -> bool:
    from zeronas.proxies.base import get_proxy

    _registry_names()
    return get_proxy(name).higher_is_better


def _check_part(composite: str, part: str, known: Collection[str]) -> None:
    if part not in known:
        err = unknown_name("proxy", part, [*known, *COMPOSITES])
        raise UnknownNameError(f"in {composite!r}: {err}")


def expand(
    names: str | Sequence[str],
    known: Collection[str] | None = None,
) -> tuple[list[str], dict[str, Composite]]:
    """Split requested names into the per-architecture proxies to compute and the composites
    to form over the pool afterwards.

    ``names`` is a list or a comma-separated string (``"zico,az_nas,zico+naswot"``). Returns
    ``(base_proxy_names, composites)``: the base names in first-mention order without
    repeats (a proxy requested directly and as a part is computed once), and
    ``{requested name: Composite}`` in request order. Composite parts that are composites are
    expanded recursively. ``known`` is the set of valid proxy names (default: the registry);
    an unknown name or part raises :class:`~zeronas.errors.UnknownNameError`, a malformed
    ensemble or a name listed twice :class:`EnsembleError` (both are
    :class:`~zeronas.errors.ZeronasError`).
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    items = [n.strip() for n in items if n.strip()]
    if not items:
        raise EnsembleError("no proxies given: expected a comma-separated list of proxy names")
    valid = set(known) if known is not None else set(_registry_names())
    base: list[str] = []
    composites: dict[str, Composite] = {}
    seen: set[str] = set()

    def add_base(n: str) -> None:
        if n not in base:
            base.append(n)

    def visit(comp: Composite, stack: tuple[str, ...]) -> None:
        for part in comp.parts:
            sub = parse_composite(part)
            if sub is not None:
                if part in stack:
                    raise EnsembleError(f"composite {comp.name!r} contains itself via {part!r}")
                visit(sub, (*stack, part))
            else:
                _check_part(comp.name, part, valid)
                add_base(part)

    for n in items:
        if n in seen:
            raise EnsembleError(f"proxy {n!r} is listed twice")
        seen.add(n)
        comp = parse_composite(n)
        if comp is None:
            if n not in valid:
                raise unknown_name("proxy", n, [*valid, *COMPOSITES])
            add_base(n)
        else:
            visit(comp, (n,))
            composites[n] = comp
    return base, composites


def compose(
    name: str,
    pool_scores: Mapping[str, Sequence[float] | np.ndarray],
    higher_is_better: Mapping[str, bool] | Callable[[str], bool] | None = None,
) -> np.ndarray:
    """The composite ``name``'s score for each candidate of a pool (higher is better).

    ``pool_scores`` maps each base proxy to its values over the pool (one per candidate, in
    the same order for all). Directions come from ``higher_is_better`` (a mapping or a
    function of the name) or, by default, from the proxy registry. Composite parts are
    composed first and count as higher-is-better.
    """
    comp = parse_composite(name)
    if comp is None:
        raise EnsembleError(
            f"{name!r} is not a composite: expected one of {', '.join(sorted(COMPOSITES))} or "
            f"an ensemble such as 'zico+naswot'"
        )
    if higher_is_better is None:
        direction: Callable[[str], bool] = _registry_direction
    elif callable(higher_is_better):
        direction = higher_is_better
    else:
        table = higher_is_better
        direction = lambda n: table.get(n, True)  # noqa: E731
    parts: dict[str, np.ndarray] = {}
    directions: dict[str, bool] = {}
    for part in comp.parts:
        if parse_composite(part) is not None:
            parts[part] = compose(part, pool_scores, direction)
            directions[part] = True
        elif part not in pool_scores:
            raise EnsembleError(
                f"composite {name!r} needs the pool's scores of {part!r}; got scores of "
                f"{', '.join(sorted(pool_scores)) or 'nothing'}"
            )
        else:
            parts[part] = _as_vector(pool_scores[part], f"scores of {part!r}")
            directions[part] = direction(part)
    return aggregate(parts, comp.method, directions)


def compose_all(
    composites: Mapping[str, Composite] | Sequence[str],
    pool_scores: Mapping[str, Sequence[float] | np.ndarray],
    higher_is_better: Mapping[str, bool] | Callable[[str], bool] | None = None,
) -> dict[str, np.ndarray]:
    """:func:`compose` for each composite (e.g. the second value :func:`expand` returns)."""
    return {n: compose(n, pool_scores, higher_is_better) for n in composites}
