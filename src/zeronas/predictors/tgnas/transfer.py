"""The TG-NAS leave-one-space-out matrix: train on one space, score the others.

TG-NAS's claim is transfer: a predictor trained on one search space ranks architectures of
another, through the text of their operators. :func:`transfer_matrix` measures it over the
spaces with ground truth (default :data:`DEFAULT_SPACES`, one dataset or task each):

- **matrix** (rows trained on, columns scored): Spearman (and Kendall) of a predictor trained
  on the row's space alone against the column space's ground truth. Off the diagonal the
  column is scored on its evaluation sample (every row the same architectures); on the
  diagonal, where the predictor was trained on the column's own space, only the held-out
  split of that training run counts (architectures it never saw), and the entry says so.
- **leave-one-out**: for each space, a predictor trained on *all the other* spaces together
  scores it: the honest default for a space, since it never saw the space.
- **params**: the parameter count on the same evaluation sample, the baseline every learned
  proxy must beat.

``weights_dir`` keeps the leave-one-out weight files (``tgnas_loo_<space>.pt``) and one
trained on every space (``tgnas_all.pt``); each file's metadata records what it was trained
on and the command, like any weights :func:`~zeronas.predictors.tgnas.train_predictor` saves.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zeronas.errors import ZeronasError
from zeronas.plotting import png_path, pyplot

DEFAULT_SPACES: dict[str, str] = {
    "nb201": "cifar10",
    "darts": "cifar10",
    "tnb101_micro": "class_scene",
    "tnb101_macro": "class_scene",
}
"""The spaces of the matrix and the dataset (or task) of each one's ground truth."""
EVAL_SAMPLE = 1000
"""Architectures per column (seeded sample; all when the space has fewer)."""

StepFn = Callable[[str], None]


@dataclass
class TransferMatrix:
    """The result of :func:`transfer_matrix` (see the module docstring); :meth:`to_json`
    is the file layout."""

    spaces: list[str]
    datasets: dict[str, str]
    spearman: np.ndarray
    kendall: np.ndarray
    leave_one_out: dict[str, dict[str, Any]]
    params: dict[str, dict[str, float]]
    protocol: dict[str, Any]
    eval_n: dict[str, int] = field(default_factory=dict)
    diagonal_n: dict[str, int] = field(default_factory=dict)
    all_spaces: dict[str, Any] = field(default_factory=dict)
    """The learned scale (and its selection table) of the predictor trained on every space,
    chosen on leave-one-graph-family-out folds (:func:`fold_training_sets`; empty when not
    nested)."""

    def to_json(self) -> dict[str, Any]:
        """``{"protocol", "spaces", "datasets", "matrix": {"spearman", "kendall"} (rows
        trained on, columns scored), "diagonal_n", "eval_n", "leave_one_out",
        "all_spaces", "params", "summary"}``."""
        return {
            "protocol": self.protocol,
            "spaces": self.spaces,
            "datasets": self.datasets,
            "matrix": {"rows": "trained on", "columns": "scored",
                       "spearman": self.spearman.tolist(), "kendall": self.kendall.tolist()},
            "eval_n": self.eval_n,
            "diagonal_n": self.diagonal_n,
            "leave_one_out": self.leave_one_out,
            "all_spaces": self.all_spaces,
            "params": self.params,
            "summary": self.summary(),
        }

    def summary(self) -> dict[str, Any]:
        """Where the leave-one-out predictor beats ``params`` (Spearman), and its worst loss."""
        diffs = {s: self.leave_one_out[s]["spearman"] - self.params[s]["spearman"]
                 for s in self.spaces}
        return {"beats_params_on": [s for s, d in diffs.items() if d > 0],
                "spearman_minus_params": diffs,
                "worst_loss_to_params": float(min(0.0, *diffs.values()))}

    def write(self, out: str | os.PathLike[str]) -> Path:
        """Write the JSON to ``out`` (folders created)."""
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    def plot(self, out: str | os.PathLike[str]) -> Path:
        """A heat map of the Spearman matrix, with the leave-one-out and params rows under
        it (PNG; a ``.json`` suffix is replaced). Needs matplotlib (the plot extra)."""
        plt = pyplot(ZeronasError)
        path = png_path(out)
        rows = [*(f"trained on {s}" for s in self.spaces), "all others (LOO)", "params"]
        grid = np.vstack([self.spearman,
                          [self.leave_one_out[s]["spearman"] for s in self.spaces],
                          [self.params[s]["spearman"] for s in self.spaces]])
        fig, ax = plt.subplots(figsize=(1.6 * len(self.spaces) + 2.6, 0.5 * len(rows) + 1.4),
                               dpi=110)
        im = ax.imshow(grid, cmap="viridis", vmin=min(0.0, float(np.nanmin(grid))), vmax=1.0)
        ax.set_xticks(range(len(self.spaces)),
                      [f"{s}\n{self.datasets[s]}" for s in self.spaces], fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.axhline(len(self.spaces) - 0.5, color="white", lw=2)
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                mark = "*" if i == j and i < len(self.spaces) else ""
                ax.text(j, i, f"{grid[i, j]:.2f}{mark}", ha="center", va="center",
                        fontsize=7, color="white" if grid[i, j] < 0.6 else "black")
        ax.set_title("TG-NAS transfer, Spearman (columns scored; * held-out split)", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.04)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path


def _params(space: Any, dataset: str, archs: list[Any]) -> np.ndarray:
    from zeronas.hardware.measures import count_params
    from zeronas.proxies.runner import build_network

    return np.array([count_params(build_network(space, a, dataset, 0, meta=True))
                     for a in archs], dtype=float)


SCALE_GRID: tuple[float, ...] = (0.0, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
"""Candidate factors on the learned part of the score (see :func:`select_learned_scale`)."""


def score_parts(predictor: Any, space: Any, archs: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(cost, learned)``: the monotone cost term and the learned part of ``predictor``'s
    scores of ``archs``, so that the score at learned scale ``a`` is ``cost + a * learned``
    (the readout is linear in the scale; equal up to float32 rounding, about 1e-6). The
    predictor's own scale is restored."""
    model = predictor.model
    keep = model.learned_scale
    try:
        model.learned_scale = 0.0
        cost = predictor.predict(space, archs)
        model.learned_scale = 1.0
        learned = predictor.predict(space, archs) - cost
    finally:
        model.learned_scale = keep
    return cost, learned


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(x) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def select_learned_scale(
    folds: Mapping[str, Mapping[str, Any]], grid: tuple[float, ...] = SCALE_GRID
) -> tuple[float, dict[str, Any]]:
    """Choose the factor on the learned part by leave-one-space-out *inside* the training
    spaces, so the scored space's labels never enter.

    ``folds`` maps each training space ``h`` to ``{"cost", "learned", "truth",
    "params_spearman"}``: the two score parts of a predictor trained on the *other*
    training spaces (in :func:`transfer_matrix`, those outside ``h``'s graph family: see
    :func:`graph_families`), on ``h``'s evaluation sample, with its ground truth and the Spearman of
    ``params`` there. For every factor ``a`` in ``grid`` the margin of a fold is
    ``spearman(cost + a * learned, truth) - params_spearman`` (constant scores count as
    Spearman 0; a non-finite ``params_spearman`` or a constant truth is an error); the chosen
    factor maximises
    the worst fold's margin (the criterion the leave-one-space-out default is held to: never
    far below ``params`` on a space it never saw), ties going to the larger factor.

    Returns ``(factor, table)``, ``table`` holding every fold's Spearman per factor."""
    if not folds:
        raise ZeronasError("selecting the learned scale needs at least one inner fold")
    for h, f in folds.items():  # a NaN margin would make the worst fold depend on dict order
        if not math.isfinite(float(f["params_spearman"])):
            raise ZeronasError(f"inner fold {h!r}: params' Spearman is "
                               f"{f['params_spearman']} (constant parameter counts?); the "
                               "learned scale cannot be chosen against it")
        if np.ptp(np.asarray(f["truth"], dtype=float)) == 0:
            raise ZeronasError(f"inner fold {h!r}: its ground truth is constant")
    rows: dict[str, dict[str, float]] = {}
    worst: dict[float, float] = {}
    for a in grid:
        margins = []
        for h, f in folds.items():
            rho = _spearman(np.asarray(f["cost"]) + a * np.asarray(f["learned"]),
                            np.asarray(f["truth"]))
            rows.setdefault(h, {})[f"{a:g}"] = rho
            margins.append(rho - float(f["params_spearman"]))
        worst[a] = min(margins)
    best = max(grid, key=lambda a: (round(worst[a], 12), a))
    table = {"grid": list(grid), "criterion": "max over the grid of the worst inner fold's "
             "Spearman minus params' Spearman (ties: larger factor)",
             "spearman": rows, "params_spearman": {h: float(f["params_spearman"])
                                                   for h, f in folds.items()},
             "worst_margin": {f"{a:g}": worst[a] for a in grid}}
    return float(best), table


def graph_families(names: list[str]) -> dict[str, str]:
    """``{space: family}`` for the inner folds of :func:`select_learned_scale`: a space's
    :attr:`~zeronas.spaces.base.Space.graph_family`, or its own name when it has none.

    Spaces of one family give identical graphs (the NB201 cell and the TransNAS-Bench-101
    micro cell), so an inner fold holds out a whole family: a predictor trained on the NB201
    cells has already seen every micro graph, and scoring the micro cells with it measures
    transfer between tasks, not to an unseen space. When every training space is of one
    family there is nothing to hold out across families, and each space is its own fold."""
    from zeronas.spaces import get_space

    family = {s: get_space(s).graph_family or s for s in names}
    if len(set(family.values())) < 2:
        return {s: s for s in names}
    return family


def fold_training_sets(train_on: list[str]) -> dict[str, list[str]]:
    """``{h: spaces the inner fold of h trains on}`` for :func:`select_learned_scale` over a
    predictor trained on ``train_on``: every training space outside ``h``'s graph family
    (:func:`graph_families`), in ``train_on``'s order."""
    family = graph_families(train_on)
    return {h: [o for o in train_on if family[o] != family[h]] for h in train_on}


def planned_training_sets(
    names: list[str], nested: bool = True, all_spaces: bool = False
) -> list[tuple[str, ...]]:
    """The distinct training runs :func:`transfer_matrix` makes over ``names``, in order:
    each space alone, each leave-one-out set with (``nested``) its inner folds, the folds of
    the predictor of every space, and (``all_spaces``, when weights are saved) that predictor
    itself. Its length drives the command's progress bar."""
    runs: list[tuple[str, ...]] = []

    def add(train_on: list[str]) -> None:
        if tuple(train_on) not in runs:
            runs.append(tuple(train_on))

    for s in names:
        add([s])
    for s in names:
        others = [o for o in names if o != s]
        add(others)
        if nested and len(others) >= 2:
            for rest in fold_training_sets(others).values():
                add(rest)
    if nested:
        for rest in fold_training_sets(names).values():
            add(rest)
    if all_spaces:
        add(names)
    return runs


def transfer_matrix(
    spaces: Mapping[str, str] | None = None,
    *,
    seed: int = 0,
    eval_sample: int | None = EVAL_SAMPLE,
    data: str | os.PathLike[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    command: str | None = None,
    settings: Any = None,
    config: Any = None,
    nested: bool = True,
    on_step: StepFn | None = None,
) -> TransferMatrix:
    """Train and score the matrix over ``spaces`` (``{space: dataset}``, default
    :data:`DEFAULT_SPACES`; at least two). ``eval_sample``: architectures per column
    (seeded; None: all). ``settings``/``config``: :class:`TrainSettings`/:class:`GCNConfig`
    for every training run (defaults: those of ``zeronas train-predictor``).
    ``nested``: give each leave-one-out predictor the learned scale chosen by
    :func:`select_learned_scale` over its own training spaces (needs at least two of them;
    the extra runs are its leave-one-graph-family-out folds, :func:`fold_training_sets`, each
    run made once: :func:`planned_training_sets`). ``on_step(message)`` is called before
    each space's ground truth is loaded and before each training run."""
    from zeronas.predictors.tgnas.predictor import Predictor
    from zeronas.predictors.tgnas.training import _agree, fit_graphs, load_group

    spaces = dict(DEFAULT_SPACES if spaces is None else spaces)
    if len(spaces) < 2:
        raise ZeronasError(f"a transfer matrix needs at least two spaces, got {list(spaces)}")
    names = list(spaces)
    step = on_step or (lambda message: None)
    t0 = time.perf_counter()
    groups, evals, params = {}, {}, {}
    for s in names:
        step(f"ground truth and params of {s}")
        group, space, archs = load_group(s, spaces[s], data)
        idx = np.arange(len(archs))
        if eval_sample is not None and eval_sample < len(archs):
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(len(archs), size=eval_sample, replace=False))
        groups[s] = group
        evals[s] = (space, [archs[i] for i in idx], group.targets[idx])
        params[s] = _agree(_params(space, spaces[s], evals[s][1]), evals[s][2])

    fitted: dict[tuple[str, ...], Any] = {}

    def fit(train_on: list[str]) -> Any:
        key = tuple(train_on)
        if key not in fitted:
            step("training on " + "+".join(train_on))
            fitted[key] = fit_graphs([groups[s] for s in train_on], seed=seed, config=config,
                                     settings=settings)
        return fitted[key]

    def score(result: Any, s: str) -> dict[str, float]:
        space, archs, truth = evals[s]
        return _agree(Predictor(result.model, result.metadata).predict(space, archs), truth)

    def select_for(train_on: list[str]) -> tuple[float, dict[str, Any]]:
        folds = {}
        for h, rest in fold_training_sets(train_on).items():
            space, archs, truth = evals[h]
            inner = Predictor(fit(rest).model)
            cost, learned = score_parts(inner, space, archs)
            folds[h] = {"cost": cost, "learned": learned, "truth": truth,
                        "params_spearman": params[h]["spearman"], "trained_on": rest}
        scale, table = select_learned_scale(folds)
        table["folds_trained_on"] = {h: f["trained_on"] for h, f in folds.items()}
        return scale, table

    n = len(names)
    rho, tau = np.full((n, n), np.nan), np.full((n, n), np.nan)
    diag_n: dict[str, int] = {}
    for i, s in enumerate(names):
        res = fit([s])
        held = res.metadata["heldout"][s]
        rho[i, i], tau[i, i] = held["spearman"], held["kendall"]
        diag_n[s] = int(held["n"])
        for j, other in enumerate(names):
            if j != i:
                got = score(res, other)
                rho[i, j], tau[i, j] = got["spearman"], got["kendall"]
    loo: dict[str, dict[str, Any]] = {}
    out_dir = None if weights_dir is None else Path(weights_dir)
    for s in names:
        others = [o for o in names if o != s]
        res = fit(others)
        entry: dict[str, Any] = {"trained_on": others}
        if nested and len(others) >= 2:
            scale, table = select_for(others)
            res.model.learned_scale = 1.0
            entry["unscaled"] = score(res, s)
            res.model.learned_scale = scale
            entry.update(learned_scale=scale, selection=table)
        loo[s] = {**score(res, s), **entry}
        if out_dir is not None:
            _save(res, out_dir / f"tgnas_loo_{s}.pt", others, spaces, command,
                  loo[s].get("learned_scale"), loo[s].get("selection"))
        res.model.learned_scale = 1.0
    combined: dict[str, Any] = {}
    if nested:  # the predictor of every space, on leave-one-graph-family-out folds
        combined["learned_scale"], combined["selection"] = select_for(names)
    if out_dir is not None:
        _save(fit(names), out_dir / "tgnas_all.pt", names, spaces, command,
              combined.get("learned_scale"), combined.get("selection"))
    protocol = {
        "spaces": spaces,
        "seed": seed,
        "eval_sample": eval_sample,
        "eval_note": "off-diagonal, leave-one-out and params entries: the column space's "
                     "seeded evaluation sample; diagonal: the held-out split (never seen in "
                     "training) of the row's own training run",
        "training": "zeronas train-predictor defaults (90% labelled, 10% of those for early "
                    "stopping, pairwise logistic loss), per row on the row's space alone; "
                    "leave-one-out on every other space together",
        "params_note": "parameter count of the network built for the column's dataset",
        "learned_scale": ("each leave-one-out predictor's factor on its learned part, chosen "
                          "by leave-one-space-out inside its own training spaces, a space's "
                          "whole graph family held out with it (worst inner "
                          "fold's Spearman minus params', grid " + str(list(SCALE_GRID)) +
                          "); 'unscaled' is the same predictor at factor 1")
        if nested else "1 (not selected)",
        "seconds": time.perf_counter() - t0,
        **({"command": command} if command else {}),
    }
    return TransferMatrix(names, spaces, rho, tau, loo, params, protocol,
                          {s: len(evals[s][1]) for s in names}, diag_n, combined)


def _save(result: Any, path: Path, trained_on: list[str], spaces: Mapping[str, str],
          command: str | None, learned_scale: float | None = None,
          selection: Mapping[str, Any] | None = None) -> None:
    from zeronas.predictors.tgnas.predictor import save_weights

    meta = dict(result.metadata)
    if learned_scale is not None:
        meta["learned_scale"] = learned_scale
        meta["learned_scale_selection"] = dict(selection or {})
    meta["datasets"] = {s: spaces[s] for s in trained_on}
    meta["ground_truth"] = dict(meta["datasets"])
    if command:
        meta["command"] = command
    save_weights(path, result.model, meta)


def parse_spaces(text: str) -> dict[str, str]:
    """``"nb201:cifar10,darts:cifar10,..."`` as ``{space: dataset}``; a space without
    ``:dataset`` takes its :data:`DEFAULT_SPACES` dataset."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, ds = part.partition(":")
        name, ds = name.strip(), ds.strip()
        if not ds:
            if name not in DEFAULT_SPACES:
                raise ZeronasError(f"give a dataset for space {name!r} as {name}:DATASET")
            ds = DEFAULT_SPACES[name]
        if name in out:
            raise ZeronasError(f"space {name!r} listed twice in {text!r}")
        out[name] = ds
    return out


__all__ = ["DEFAULT_SPACES", "EVAL_SAMPLE", "SCALE_GRID", "TransferMatrix",
           "fold_training_sets", "graph_families", "parse_spaces", "planned_training_sets",
           "score_parts", "select_learned_scale", "transfer_matrix"]
