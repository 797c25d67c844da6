"""Training TG-NAS predictors on benchmark ground truth.

:func:`train_predictor` loads the ground truth of one or more spaces, splits each seeded into
training, validation (early stopping) and held-out test architectures, trains the GCN with a
ranking loss and writes the weights with their metadata. :func:`fit_graphs` is the same on
any ``(graphs, targets)`` groups.

Loss: the pairwise logistic ranking loss over all pairs of a batch,
``mean log(1 + exp(-(s_i - s_j)))`` over pairs with ``y_i > y_j``, plus ``mse_weight`` times
the squared error to the standardised targets. Every batch comes from one group (space): the
targets of different spaces are never compared (TG-NAS's batch sampler does the same).

Reproducible: the split, the shuffles and the initialisation come from ``seed`` only (torch's
global RNG is forked and restored); the same seed gives the same weights on the same machine
and thread count.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from zeronas.errors import ZeronasError
from zeronas.predictors.tgnas.cost import COST_DEFINITION
from zeronas.predictors.tgnas.graph import EncodedGraph, GraphEncoder
from zeronas.predictors.tgnas.model import TGNASGCN, GCNConfig, readout_description
from zeronas.predictors.tgnas.predictor import save_weights
from zeronas.predictors.tgnas.vocab import EMBEDDING_MODEL, vocabulary_hash
from zeronas.spaces.base import ArchGraph

ProgressFn = Callable[[int, int, Mapping[str, float]], None]
"""``on_progress(epoch_done, max_epochs, info)``; ``info`` has ``loss``, ``valid_kendall``,
``best_kendall``. Training may stop early, before ``epoch_done == max_epochs``."""


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings (saved in the metadata).

    AdamW with a cosine learning-rate decay over ``max_epochs``; an epoch is one pass over the
    training architectures, or more passes when that is fewer than ``min_steps_per_epoch``
    batches. Early stopping (``patience`` epochs without a better validation Kendall tau, not
    before ``min_epochs``) needs a validation set of at least ``min_valid`` architectures: a
    smaller one ranks epochs by noise (the tau of 16 architectures has a standard error near
    0.17), so below it the validation architectures join the training set and training runs
    ``max_epochs``. ``mse_weight`` adds a squared error to the standardised targets (0 by
    default: it hurt both small-data and cross-space ranking in our measurements).
    """

    lr: float = 1e-3
    weight_decay: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 200
    patience: int = 30
    min_epochs: int = 0
    min_steps_per_epoch: int = 4
    mse_weight: float = 0.0
    schedule: str = "cosine"
    min_valid: int = 50

    def __post_init__(self) -> None:
        if self.batch_size < 2 or self.max_epochs < 1 or self.patience < 1:
            raise ZeronasError(f"invalid training settings: {self}")
        if self.schedule not in ("constant", "cosine"):
            raise ZeronasError(
                f"unknown schedule {self.schedule!r}: expected 'constant' or 'cosine'"
            )


@dataclass(frozen=True)
class Group:
    """The architectures of one space (graphs, higher-is-better targets), with a name."""

    name: str
    graphs: Sequence[ArchGraph]
    targets: np.ndarray


@dataclass
class TrainResult:
    """What :func:`train_predictor` / :func:`fit_graphs` return."""

    model: TGNASGCN
    metadata: dict[str, Any]
    path: Path | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def heldout(self) -> dict[str, Any]:
        return self.metadata["heldout"]


def pairwise_logistic(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of ``log(1 + exp(-(s_i - s_j)))`` over pairs with ``targets_i > targets_j``."""
    diff_t = targets[:, None] - targets[None, :]
    mask = diff_t > 0
    if not bool(mask.any()):
        return scores.sum() * 0.0
    diff_s = scores[:, None] - scores[None, :]
    return torch.nn.functional.softplus(-diff_s[mask]).mean()


def _split_sizes(n: int, train_size: float | int, valid_fraction: float,
                 min_valid: int = 0) -> tuple[int, int]:
    if isinstance(train_size, bool) or train_size <= 0:
        raise ZeronasError(f"train_size must be a fraction in (0, 1] or a count, got {train_size}")
    n_lab = round(train_size * n) if train_size <= 1 else int(train_size)
    if n_lab > n:
        raise ZeronasError(f"train_size {train_size} is more than the {n} architectures")
    if n_lab < 4:
        raise ZeronasError(f"train_size {train_size} leaves {n_lab} < 4 training architectures")
    if not 0 <= valid_fraction < 1:
        raise ZeronasError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    n_valid = round(valid_fraction * n_lab) if valid_fraction > 0 else 0
    if n_valid < max(2, min_valid):
        n_valid = 0  # too few to select epochs by: train on them too, for max_epochs
    if n_lab - n_valid < 2:
        raise ZeronasError(f"train_size {train_size} leaves too few architectures to train on")
    return n_lab, n_valid


def _agree(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    if len(pred) < 2 or np.all(pred == pred[0]):
        return {"kendall": math.nan, "spearman": math.nan, "n": len(pred)}
    return {"kendall": float(stats.kendalltau(pred, truth).statistic),
            "spearman": float(stats.spearmanr(pred, truth).statistic),
            "n": len(pred)}


def _predict(model: TGNASGCN, table: torch.Tensor, ids: torch.Tensor, adj: torch.Tensor,
             chunk: int = 4096) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        out = [model.forward_ids(table, ids[i:i + chunk], adj[i:i + chunk])
               for i in range(0, len(ids), chunk)]
    return torch.cat(out).numpy().astype(np.float64)


def fit_graphs(
    groups: Sequence[Group],
    *,
    seed: int = 0,
    train_size: float | int = 0.9,
    valid_fraction: float = 0.1,
    config: GCNConfig | None = None,
    settings: TrainSettings | None = None,
    encoder: GraphEncoder | None = None,
    on_progress: ProgressFn | None = None,
) -> TrainResult:
    """Train a predictor on ``groups`` with a seeded train/valid/test split of each group.

    ``train_size`` is the fraction (<= 1) or number of architectures of each group whose
    targets training may see; ``valid_fraction`` of those are held back for early stopping
    (the best validation Kendall tau wins; see :class:`TrainSettings` for small sets); the
    rest of the group is the held-out test set reported in ``metadata["heldout"]`` (per
    group, and ``mean``).
    """
    config = config or GCNConfig()
    settings = settings or TrainSettings()
    if not groups:
        raise ZeronasError("no training data: give at least one space")
    encoder = encoder or GraphEncoder(text=config.text, direction=config.direction)
    if (encoder.text, encoder.direction) != (config.text, config.direction):
        raise ZeronasError(
            f"the encoder ({encoder.text}, {encoder.direction}) does not match the model "
            f"config ({config.text}, {config.direction})"
        )
    rng = np.random.default_rng(seed)
    data = []
    for g in groups:
        y = np.asarray(g.targets, dtype=np.float64)
        if len(y) != len(g.graphs):
            raise ZeronasError(f"group {g.name!r}: {len(g.graphs)} graphs but {len(y)} targets")
        if not np.all(np.isfinite(y)):
            raise ZeronasError(f"group {g.name!r} has non-finite targets")
        n_lab, n_valid = _split_sizes(len(y), train_size, valid_fraction, settings.min_valid)
        perm = rng.permutation(len(y))
        valid, train, test = perm[:n_valid], perm[n_valid:n_lab], perm[n_lab:]
        encoded: list[EncodedGraph] = [encoder.encode(gr) for gr in g.graphs]
        ids, adj = encoder.batch(encoded)
        mu, sd = float(y[train].mean()), float(y[train].std()) or 1.0
        data.append({"name": g.name, "y": y, "z": torch.tensor((y - mu) / sd, dtype=torch.float32),
                     "ids": ids, "adj": adj, "train": train, "valid": valid, "test": test})
    table = encoder.features()

    history: list[dict[str, float]] = []
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TGNASGCN(config)
        opt = torch.optim.AdamW(model.parameters(), lr=settings.lr,
                                weight_decay=settings.weight_decay)
        sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings.max_epochs)
                 if settings.schedule == "cosine" else None)
        best_state = copy.deepcopy(model.state_dict())
        best_kendall, best_epoch, stale = -math.inf, 0, 0
        has_valid = all(len(d["valid"]) >= 2 for d in data)
        for epoch in range(1, settings.max_epochs + 1):
            model.train()
            batches: list[tuple[int, np.ndarray]] = []
            for gi, d in enumerate(data):
                tr = d["train"]
                per_epoch = max(1, math.ceil(len(tr) / settings.batch_size))
                passes = max(1, math.ceil(settings.min_steps_per_epoch / per_epoch))
                for _ in range(passes):
                    order = rng.permutation(tr)
                    batches.extend((gi, order[i:i + settings.batch_size])
                                   for i in range(0, len(order), settings.batch_size))
            rng.shuffle(batches)  # type: ignore[arg-type]
            total = 0.0
            for gi, idx in batches:
                d = data[gi]
                t = torch.from_numpy(idx)
                scores = model.forward_ids(table, d["ids"][t], d["adj"][t])
                z = d["z"][t]
                loss = pairwise_logistic(scores, z)
                if settings.mse_weight:
                    loss = loss + settings.mse_weight * torch.mean((scores - z) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            if sched is not None:
                sched.step()
            info = {"epoch": epoch, "loss": total / max(1, len(batches))}
            if has_valid:
                taus = []
                for d in data:
                    v = d["valid"]
                    p = _predict(model, table, d["ids"][v], d["adj"][v])
                    taus.append(_agree(p, d["y"][v])["kendall"])
                tau = float(np.nanmean(taus)) if not all(math.isnan(x) for x in taus) else -1.0
                info["valid_kendall"] = tau
                if tau > best_kendall:
                    best_kendall, best_epoch, stale = tau, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    stale += 1
            else:
                best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
            info["best_kendall"] = best_kendall
            history.append(info)
            if on_progress is not None:
                on_progress(epoch, settings.max_epochs, info)
            if has_valid and stale >= settings.patience and epoch >= settings.min_epochs:
                break
        model.load_state_dict(best_state)
    model.eval()

    heldout: dict[str, Any] = {}
    for d in data:
        te = d["test"]
        if len(te) >= 2:
            heldout[d["name"]] = _agree(_predict(model, table, d["ids"][te], d["adj"][te]),
                                        d["y"][te])
        else:
            heldout[d["name"]] = {"kendall": math.nan, "spearman": math.nan, "n": len(te)}
    heldout["mean"] = {m: float(np.mean([heldout[d["name"]][m] for d in data]))
                       for m in ("kendall", "spearman")}
    from zeronas import __version__

    metadata: dict[str, Any] = {
        "spaces": [d["name"] for d in data],
        "n": {d["name"]: len(d["y"]) for d in data},
        "n_train": {d["name"]: len(d["train"]) for d in data},
        "n_valid": {d["name"]: len(d["valid"]) for d in data},
        "n_test": {d["name"]: len(d["test"]) for d in data},
        "seed": int(seed),
        "train_size": train_size,
        "valid_fraction": valid_fraction,
        "heldout": heldout,
        "valid_kendall": best_kendall if has_valid else None,
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "seconds": round(time.perf_counter() - started, 2),
        "config": config.to_dict(),
        "settings": asdict(settings),
        "loss": "pairwise logistic" + (f" + {settings.mse_weight} * MSE on standardised targets"
                                       if settings.mse_weight else ""),
        "cost_feature": COST_DEFINITION,
        "readout": readout_description(config),
        "vocabulary_hash": vocabulary_hash(),
        "embedding_model": EMBEDDING_MODEL,
        "zeronas_version": __version__,
        "torch_version": str(torch.__version__),
        "torch_threads": torch.get_num_threads(),
    }
    return TrainResult(model=model, metadata=metadata, history=history)


def _as_datasets(space_names: Sequence[str], datasets: str | Sequence[str] | Mapping[str, str]
                 ) -> dict[str, str]:
    if isinstance(datasets, str):
        return dict.fromkeys(space_names, datasets)
    if isinstance(datasets, Mapping):
        missing = [s for s in space_names if s not in datasets]
        if missing:
            raise ZeronasError(f"no dataset given for space(s) {missing}")
        return {s: datasets[s] for s in space_names}
    ds = list(datasets)
    if len(ds) == 1:
        return dict.fromkeys(space_names, ds[0])
    if len(ds) != len(space_names):
        raise ZeronasError(
            f"give one dataset, or one per space: {len(space_names)} spaces, {len(ds)} datasets"
        )
    return dict(zip(space_names, ds, strict=True))


def load_group(space_name: str, dataset: str,
               data: str | os.PathLike[str] | None = None) -> tuple[Group, Any, list[Any]]:
    """The ground truth of ``space_name`` on ``dataset`` as a training :class:`Group`, with
    the space and its architectures (in the ground truth's order)."""
    from zeronas.bench.groundtruth import load_ground_truth
    from zeronas.spaces import get_space

    space = get_space(space_name)
    gt = load_ground_truth(space_name, data=data)
    column = gt.column(dataset)
    keys = [k for k in gt.order if k in column]
    archs = [space.from_str(k) for k in keys]
    y = np.array([column[k] for k in keys], dtype=np.float64)
    if not gt.higher_is_better:
        y = -y
    return Group(space_name, [space.to_graph(a) for a in archs], y), space, archs


def train_predictor(
    space_names: str | Sequence[str],
    datasets: str | Sequence[str] | Mapping[str, str] = "cifar10",
    out_path: str | os.PathLike[str] | None = None,
    seed: int = 0,
    *,
    train_size: float | int = 0.9,
    valid_fraction: float = 0.1,
    config: GCNConfig | None = None,
    settings: TrainSettings | None = None,
    data: str | os.PathLike[str] | None = None,
    on_progress: ProgressFn | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train a TG-NAS predictor on the ground truth of ``space_names`` and save it.

    ``datasets`` is one dataset for all spaces, one per space, or ``{space: dataset}``;
    ``data`` is the benchmark data directory (default ``$ZERONAS_DATA``). The held-out
    Kendall/Spearman (architectures never seen in training nor validation) are in
    ``result.heldout`` and in the saved metadata, with everything needed to reproduce the
    file (spaces, datasets, sizes, seed, settings, vocabulary hash, zeronas version and
    ``command`` if given). ``out_path=None`` saves nothing.
    """
    names = [space_names] if isinstance(space_names, str) else list(space_names)
    if not names:
        raise ZeronasError("no spaces to train on")
    if len(set(names)) != len(names):
        raise ZeronasError(f"space listed twice in {names}")
    ds = _as_datasets(names, datasets)
    groups = [load_group(s, ds[s], data)[0] for s in names]
    result = fit_graphs(groups, seed=seed, train_size=train_size, valid_fraction=valid_fraction,
                        config=config, settings=settings, on_progress=on_progress)
    result.metadata["datasets"] = ds
    result.metadata["ground_truth"] = {s: ds[s] for s in names}
    if command:
        result.metadata["command"] = command
    if out_path is not None:
        result.path = save_weights(out_path, result.model, result.metadata)
    return result


def evaluate_predictor(
    space_name: str,
    dataset: str = "cifar10",
    weights: str | os.PathLike[str] | None = None,
    *,
    sample: int | None = None,
    seed: int = 0,
    data: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Kendall/Spearman of a predictor against ``space_name``'s ground truth.

    ``weights`` defaults to the leave-one-space-out choice; ``sample`` draws that many
    architectures (seeded) instead of all.
    """
    from zeronas.predictors.tgnas.predictor import load_predictor, resolve_weights

    group, space, archs = load_group(space_name, dataset, data)
    idx = np.arange(len(archs))
    if sample is not None and sample < len(archs):
        idx = np.sort(np.random.default_rng(seed).choice(len(archs), size=sample, replace=False))
    path, reason = resolve_weights(space, weights)
    pred = load_predictor(path)
    p = pred.predict(space, [archs[i] for i in idx])
    out = _agree(p, group.targets[idx])
    out.update({"space": space_name, "dataset": dataset, "weights": str(path),
                "choice": reason, "trained_on": pred.trained_on})
    return out
