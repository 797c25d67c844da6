"""The data behind the navigator's five views, computed from a run (live or finished).

One JSON "view" feeds both the live page and the static report:

- ``points``: every evaluated candidate placed in 2-D by PCA of its one-hot slot encoding
  (numpy SVD of the centred matrix over the evaluated pool), with its objective value, raw
  proxy scores, FLOPs, params and true accuracy where known;
- ``progress``: best-so-far objective and true accuracy (of the best by objective) against
  evaluations, and the true accuracy of each candidate;
- ``operators``: for every slot, each option's mean objective among the evaluated
  candidates that use it (and how many do); geometric mean when the objective is shown on a
  log scale (``score_scale``);
- ``pareto``: the non-dominated candidates for objective (higher) against FLOPs and against
  params (lower);
- ``cells``: the DAG of a candidate (:meth:`Space.to_graph`) drawn as SVG by
  :func:`cell_svg`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from zeronas.errors import DataError, ZeronasError
from zeronas.navigator.encoding import SlotEncoding, slot_encoding


def _num(x: Any) -> float | None:
    """A finite float, or None (NaN, infinities and missing values alike)."""
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def pca_2d(matrix: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Rows of ``matrix`` projected on its first two principal components, and the share of
    variance each explains. Signs are fixed (largest loading positive) so that the picture
    does not flip as points are added; missing components (fewer than 3 rows, or rank < 2)
    are zeros."""
    n = matrix.shape[0]
    out = np.zeros((n, 2))
    if n < 2:
        return out, [0.0, 0.0]
    x = matrix - matrix.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    total = float((s ** 2).sum())
    ratios = [0.0, 0.0]
    for k in range(min(2, vt.shape[0])):
        if s[k] <= 1e-12:
            continue
        v = vt[k]
        if v[int(np.argmax(np.abs(v)))] < 0:
            v = -v
        out[:, k] = x @ v
        ratios[k] = float(s[k] ** 2 / total) if total > 0 else 0.0
    return out, ratios


def pareto_front(score: Sequence[float | None], cost: Sequence[float | None]) -> list[int]:
    """Indices of the candidates no other beats on both: higher ``score``, lower ``cost``
    (missing values are never on the front), in increasing cost."""
    idx = [i for i in range(len(score)) if score[i] is not None and cost[i] is not None]
    idx.sort(key=lambda i: (cost[i], -score[i]))  # type: ignore[operator]
    front: list[int] = []
    best = -math.inf
    for i in idx:
        if score[i] > best:  # type: ignore[operator]
            front.append(i)
            best = score[i]  # type: ignore[assignment]
    return front


LOG_SPAN = 1e3
"""Objective values all positive and spanning more than this factor are shown on a log scale
(synflow's values run over tens of orders of magnitude)."""


def score_scale(values: Sequence[float | None]) -> str:
    """``"log"`` when the finite values are all positive and span more than
    :data:`LOG_SPAN`, else ``"linear"``."""
    finite = [v for v in values if v is not None]
    if finite and min(finite) > 0 and max(finite) / min(finite) > LOG_SPAN:
        return "log"
    return "linear"


def operator_means(encoding: SlotEncoding, archs: Sequence[Any],
                   values: Sequence[float | None], scale: str = "linear"
                   ) -> list[list[dict[str, Any]]]:
    """Per slot, per option: ``{"op", "mean", "count"}`` over the candidates using it (the
    mean of finite objective values, geometric when ``scale`` is ``"log"``; None when no
    candidate with a value uses it)."""
    if scale == "log":
        mean_of = lambda v: float(10 ** np.mean(np.log10(v)))  # noqa: E731
    else:
        mean_of = lambda v: float(np.mean(v))  # noqa: E731
    choices = [encoding.decode(a) for a in archs]
    out = []
    for s, opts in enumerate(encoding.options):
        row = []
        for op in opts:
            vals = [values[i] for i, c in enumerate(choices) if c[s] == op]
            finite = [v for v in vals if v is not None]
            row.append({"op": op, "count": len(vals),
                        "mean": mean_of(finite) if finite else None})
        out.append(row)
    return out


_PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f")


def cell_svg(space: Any, arch: Any, encoding: SlotEncoding | None = None) -> str:
    """The DAG of ``arch`` (``space.to_graph``) as a standalone SVG string.

    Nodes go in columns by their longest distance from a source, so data flows left to
    right; each node is a box labelled with its op, coloured by the op's position among the
    slot options (input/output in grey).
    """
    g = space.to_graph(arch)
    n = len(g.ops)
    depth = [0] * n
    for s, t in sorted(g.edges, key=lambda e: e[1]):
        depth[t] = max(depth[t], depth[s] + 1)
    columns: dict[int, list[int]] = {}
    for i in range(n):
        columns.setdefault(depth[i], []).append(i)
    ops_order: list[str] = []
    if encoding is not None:
        for opts in encoding.options:
            ops_order += [o for o in opts if o not in ops_order]
    box_w, box_h, gap_x, gap_y, pad = 120, 30, 50, 18, 12
    rows = max(len(c) for c in columns.values())
    width = pad * 2 + len(columns) * box_w + (len(columns) - 1) * gap_x
    height = pad * 2 + rows * box_h + (rows - 1) * gap_y
    pos: dict[int, tuple[float, float]] = {}
    for d, members in columns.items():
        col_h = len(members) * box_h + (len(members) - 1) * gap_y
        y0 = (height - col_h) / 2
        for k, i in enumerate(members):
            pos[i] = (pad + d * (box_w + gap_x), y0 + k * (box_h + gap_y))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cell" width="100%" '
        f'style="max-width:{width}px" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        'font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555"/></marker></defs>',
    ]
    for s, t in g.edges:
        x1, y1 = pos[s][0] + box_w, pos[s][1] + box_h / 2
        x2, y2 = pos[t][0], pos[t][1] + box_h / 2
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                     'stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>')
    for i, label in enumerate(g.ops):
        x, y = pos[i]
        colour = (_PALETTE[ops_order.index(label) % len(_PALETTE)] if label in ops_order
                  else "#bbbbbb")
        text = html.escape(label)
        parts.append(f'<g class="node" data-op="{text}"><rect x="{x:.1f}" y="{y:.1f}" '
                     f'width="{box_w}" height="{box_h}" rx="6" fill="{colour}" '
                     f'fill-opacity="0.85" stroke="#333"/><text x="{x + box_w / 2:.1f}" '
                     f'y="{y + box_h / 2 + 4:.1f}" text-anchor="middle" fill="#111">{text}'
                     '</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def build_view(
    space: Any,
    encoding: SlotEncoding,
    records: Sequence[Mapping[str, Any]],
    values: Sequence[float],
    history: Sequence[Mapping[str, Any]],
    meta: Mapping[str, Any],
    restriction: Sequence[Sequence[str]] | None = None,
    actions: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON view of a run (see the module docstring).

    ``records``: one per evaluated candidate, in evaluation order, with ``arch`` (string),
    ``scores``, ``flops``, ``params``, ``truth``; ``values``: their current objective
    values; ``history``: the run's history rows (``evaluation``, ``best_aggregate``,
    ``best_truth``, ``truth``, ``best_arch``); ``meta``: shown as is (status, protocol).
    """
    if len(values) != len(records):
        raise ZeronasError(f"{len(records)} candidates but {len(values)} objective values")
    archs = [space.from_str(r["arch"]) for r in records]
    vals = [_num(v) for v in values]
    coords, ratios = pca_2d(encoding.one_hot(archs)) if archs else (np.zeros((0, 2)),
                                                                      [0.0, 0.0])
    points = []
    for i, r in enumerate(records):
        points.append({
            "i": i,
            "evaluation": i + 1,
            "arch": r["arch"],
            "x": float(coords[i, 0]),
            "y": float(coords[i, 1]),
            "score": vals[i],
            "scores": {k: _num(v) for k, v in (r.get("scores") or {}).items()},
            "flops": _num(r.get("flops")),
            "params": _num(r.get("params")),
            "truth": _num(r.get("truth")),
            "injected": bool(r.get("injected", False)),
            "choices": list(encoding.decode(archs[i])),
        })
    progress = [{
        "evaluation": int(h["evaluation"]),
        "best": _num(h.get("best_aggregate")),
        "best_arch": h.get("best_arch"),
        "best_truth": _num(h.get("best_truth")),
        "truth": _num(h.get("truth")),
    } for h in history]
    scale = score_scale(vals)
    flops = [p["flops"] for p in points]
    params = [p["params"] for p in points]
    return {
        "meta": dict(meta),
        "slots": [{"label": label, "options": list(opts)}
                  for label, opts in zip(encoding.slots, encoding.options, strict=True)],
        "slot_kind": encoding.kind,
        "restriction": [list(r) for r in (restriction or encoding.options)],
        "points": points,
        "pca_variance": ratios,
        "progress": progress,
        "score_scale": scale,
        "operators": operator_means(encoding, archs, vals, scale),
        "pareto": {"flops": pareto_front(vals, flops), "params": pareto_front(vals, params)},
        "actions": [dict(a) for a in actions],
    }


def view_from_result(result: Mapping[str, Any], data_dir: Any = None,
                     measure: bool = True) -> tuple[dict[str, Any], Any, SlotEncoding]:
    """The view of a finished run's JSON (``zeronas search`` or ``zeronas navigate``).

    Current objective values are recomputed from the raw scores over the whole pool (for a
    rank objective they differ from the values at evaluation time); FLOPs and params missing
    from the history are counted (meta device) unless ``measure`` is False; true accuracy
    missing from the history is looked up when the benchmark is available. Returns
    ``(view, space, encoding)``.
    """
    from zeronas.proxies import ScoreSettings
    from zeronas.search.constraints import ConstraintChecker, Constraints
    from zeronas.search.objective import Objective
    from zeronas.spaces import get_space

    try:
        proto = result["protocol"]
        history = list(result["history"])
        space_name = proto["space"]
    except (KeyError, TypeError) as exc:
        raise DataError(f"not a zeronas search result: missing {exc}; expected the JSON "
                        "written by `zeronas search` or `zeronas navigate`") from None
    if proto.get("searcher") == "prune":
        raise DataError("a supernet-pruning result has no per-candidate history to show; "
                        "the report needs an ask/tell search (random or evolution)")
    if history and not all(isinstance(h, Mapping) and "arch" in h for h in history):
        raise DataError("the result's history rows have no 'arch': not an ask/tell search")
    space = get_space(space_name, **dict(proto.get("space_options") or {}))
    encoding = slot_encoding(space)
    dataset = proto.get("dataset", "cifar10")
    items = proto["objective"]["items"]
    objective = Objective(items, space, dataset, ScoreSettings())
    raw = {name: [float("nan") if h["scores"].get(name) is None else float(h["scores"][name])
                  for h in history] for name in objective.base}
    values = [float(v) for v in objective.combine(raw)] if history else []
    gt_ds = proto.get("truth_dataset")
    gt = None
    if any(h.get("truth") is None for h in history):
        from zeronas.navigator.run import _load_truth

        gt = _load_truth(space, data_dir)
        if gt is not None and gt_ds not in gt.datasets:
            gt_ds = dataset if dataset in gt.datasets else gt.datasets[0]
    if gt is not None and gt_ds is not None:
        history = [dict(h) for h in history]
        for h in history:
            if h.get("truth") is None:
                h["truth"] = gt.get(h["arch"], gt_ds)
            if h.get("best_truth") is None and h.get("best_arch"):
                h["best_truth"] = gt.get(h["best_arch"], gt_ds)
    checker = ConstraintChecker(space, dataset, Constraints()) if measure else None
    records = []
    for h in history:
        rec = {"arch": h["arch"], "scores": h["scores"], "flops": h.get("flops"),
               "params": h.get("params"), "truth": h.get("truth"),
               "injected": h.get("injected", False)}
        if checker is not None and (rec["flops"] is None or rec["params"] is None):
            rec.update(checker.measure(space.from_str(h["arch"]), h["arch"]))
        if rec["truth"] is None and gt is not None and gt_ds is not None:
            rec["truth"] = gt.get(h["arch"], gt_ds)
        records.append(rec)
    nav = result.get("navigator") or {}
    restriction = (nav.get("restriction") or {}).get("allowed")
    meta = {
        "status": ("stopped" if result.get("stopped") == "stopped by user" else "finished"),
        "stopped": result.get("stopped"),
        "live": False,
        "run_id": nav.get("run_id"),
        "space": space_name,
        "objective": ", ".join(items),
        "aggregation": proto["objective"].get("aggregation"),
        "searcher": proto.get("searcher"),
        "seed": proto.get("seed"),
        "budget": proto.get("budget"),
        "evaluated": len(history),
        "dataset": dataset,
        "truth_dataset": gt_ds,
        "best": result.get("best"),
    }
    view = build_view(space, encoding, records, values, history, meta, restriction,
                      nav.get("actions") or ())
    return view, space, encoding
