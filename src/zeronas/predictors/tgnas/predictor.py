"""Trained TG-NAS predictors: weight files, the leave-one-space-out default, fast prediction.

A weight file is ``torch.save`` of a plain dict (loaded with ``weights_only=True``)::

    {"format": "zeronas-tgnas", "version": 3, "config": GCNConfig fields,
     "metadata": {what it was trained on, held-out metrics, ...}, "state_dict": ...}

Version 3 (this one): node features end with the operator cost and the model reads out the
mean of per-node scores plus a monotone term in the graph's total cost
(:mod:`~zeronas.predictors.tgnas.model`, ``GCNConfig.cost_readout``). Version 2 files have
the same tensors and a term in the *mean* of the node costs; they are read with
``cost_readout="mean"`` and score as they always did. Version 1 files (global-node
readout, no cost) cannot be read as version 2 -- their input
layer has one feature fewer and their scores mean something else -- and are rejected with a
message saying to retrain.

The shipped weights (``weights/*.pt``) were trained by zeronas's own commands, each file's
metadata holding the exact one: ``tgnas_nb201_cifar10.pt`` and ``tgnas_darts_cifar10.pt`` by
``zeronas train-predictor`` on one space each; ``tgnas_loo_<S>.pt`` (trained on every space with
ground truth except ``S``) and ``tgnas_all.pt`` (on all of them) by ``zeronas transfer-matrix
--weights-dir``, with the factor on their learned part chosen inside their own training spaces
(:func:`~zeronas.predictors.tgnas.transfer.select_learned_scale`).

When scoring space ``S`` the default is **leave-one-space-out** (:func:`default_weights`):
``tgnas_loo_<S>.pt`` when it exists, else ``tgnas_all.pt`` when ``S`` is not among its
training spaces, else a single-space file not trained on ``S``; so a correlation against
``S``'s ground truth never measures memorisation. ``weights=PATH`` overrides the choice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zeronas.errors import DataError, ZeronasError
from zeronas.predictors.tgnas.cost import GRAPH_COSTS
from zeronas.predictors.tgnas.graph import EncodedGraph, GraphEncoder
from zeronas.predictors.tgnas.model import TGNASGCN, GCNConfig
from zeronas.predictors.tgnas.vocab import OpVocabulary, vocabulary_hash
from zeronas.spaces.base import ArchGraph, Space

FORMAT = "zeronas-tgnas"
FORMAT_VERSION = 3
READ_VERSIONS: tuple[int, ...] = (2, 3)
"""Format versions :func:`read_weights` reads: 3 is written; a version-2 file is read with
``cost_readout="mean"``, the only readout it had."""
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED: dict[str, str] = {
    "nb201": "tgnas_nb201_cifar10.pt",
    "darts": "tgnas_darts_cifar10.pt",
}
"""Shipped single-space weight files, by the space they were trained on (the last resort of
:func:`default_weights`, in this order)."""
LOO_SPACES = ("nb201", "darts", "tnb101_micro", "tnb101_macro")
"""Spaces with a shipped leave-one-out file ``tgnas_loo_<space>.pt`` (trained on the others)."""
ALL_FILE = "tgnas_all.pt"
"""Shipped weights trained on every space of :data:`LOO_SPACES` (the default elsewhere)."""
PREDICT_NODES = 163_840
"""Nodes per forward pass: big enough that thread start-up is amortised (small batches are
slow with several threads on a busy machine), small enough to bound memory (~50 MB)."""
CACHE_LIMIT = 500_000


def shipped_weights() -> dict[str, Path]:
    """``{training space: path}`` of the shipped weight files that exist."""
    return {s: WEIGHTS_DIR / f for s, f in SHIPPED.items() if (WEIGHTS_DIR / f).is_file()}


def loo_weights() -> dict[str, Path]:
    """``{scored space: path}`` of the shipped leave-one-out files that exist."""
    return {s: p for s in LOO_SPACES if (p := WEIGHTS_DIR / f"tgnas_loo_{s}.pt").is_file()}


def _never_saw(path: Path, space: str) -> tuple[bool, list[str]]:
    """Whether the weights at ``path`` were trained without ``space``; a file whose
    metadata does not say what it was trained on never qualifies."""
    spaces = list(load_predictor(path).metadata.get("spaces") or [])
    return bool(spaces) and space not in spaces, spaces


def default_weights(space: str) -> tuple[Path, str]:
    """The shipped weights to score ``space`` with (leave-one-space-out) and why.

    In order: ``tgnas_loo_<space>.pt``, ``tgnas_all.pt`` if ``space`` is not among its
    training spaces, a single-space file (:data:`SHIPPED`) not trained on ``space``; each
    file's metadata is checked, so a file trained on ``space`` is never the default.
    Returns ``(path, reason)``; raises DataError when no shipped file avoids ``space``.
    """
    candidates = [*(([loo_weights()[space]]) if space in loo_weights() else []),
                  *([WEIGHTS_DIR / ALL_FILE] if (WEIGHTS_DIR / ALL_FILE).is_file() else []),
                  *shipped_weights().values()]
    for path in candidates:
        ok, spaces = _never_saw(path, space)
        if ok:
            scale = load_predictor(path).model.learned_scale
            return path, (
                f"leave-one-space-out: scoring {space!r} with weights trained on "
                f"{' + '.join(spaces)}" + ("" if len(spaces) == 1 else " together") +
                (f", learned part x{scale:g} (chosen inside those spaces)"
                 if scale != 1.0 else "")
            )
    available = shipped_weights()
    raise DataError(
        f"no shipped TG-NAS weights avoid space {space!r} (found: {sorted(available)}); "
        "train some with zeronas.predictors.tgnas.train_predictor or pass weights=PATH"
    )


def save_weights(
    path: str | os.PathLike[str], model: TGNASGCN, metadata: Mapping[str, Any]
) -> Path:
    """Write ``model`` and its JSON-able ``metadata`` to ``path`` (parents created)."""
    try:  # plain JSON types only, so the file loads with weights_only=True
        metadata = json.loads(json.dumps(dict(metadata)))
    except (TypeError, ValueError) as exc:
        raise ZeronasError(f"TG-NAS metadata must be JSON-able: {exc}") from None
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "version": FORMAT_VERSION,
                "config": model.config.to_dict(), "metadata": dict(metadata),
                "state_dict": state}, p)
    return p


def read_weights(path: str | os.PathLike[str]) -> tuple[TGNASGCN, dict[str, Any]]:
    """Load a weight file: ``(model in eval mode, metadata)``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"TG-NAS weight file {str(p)!r} not found")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise DataError(f"{str(p)!r} is not a TG-NAS weight file: {exc}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise DataError(f"{str(p)!r} is not a TG-NAS weight file (format {FORMAT!r} expected)")
    version = blob.get("version")
    if version not in READ_VERSIONS:
        raise DataError(
            f"{str(p)!r} has TG-NAS weight format version {version!r}; this zeronas reads "
            f"versions {READ_VERSIONS[0]} and {READ_VERSIONS[1]} only (version 2 added the "
            "operator-cost feature and the per-node readout): retrain it with `zeronas "
            "train-predictor` (its metadata's 'command' says how it was made)"
        )
    try:
        config_fields = dict(blob["config"])
        # format 2 had one cost readout, the mean of the node costs
        if version == 2 and config_fields.setdefault("cost_readout", "mean") != "mean":
            raise TypeError("a version-2 file can only have cost_readout 'mean'")
        config = GCNConfig(**config_fields)
        model = TGNASGCN(config)
        model.load_state_dict(blob["state_dict"])
    except (TypeError, KeyError, ValueError, RuntimeError) as exc:
        raise DataError(f"{str(p)!r}: weights do not match the TG-NAS model: {exc}") from None
    model.eval()
    metadata = dict(blob.get("metadata") or {})
    scale = metadata.get("learned_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (
            math.isfinite(scale) and scale >= 0):
        raise DataError(f"{str(p)!r}: metadata 'learned_scale' must be a finite number >= 0, "
                        f"got {scale!r}")
    model.learned_scale = float(scale)
    trained_hash = metadata.get("vocabulary_hash")
    if trained_hash and trained_hash != vocabulary_hash():
        warnings.warn(
            f"TG-NAS weights {p.name} were trained with operator vocabulary {trained_hash}, "
            f"this zeronas has {vocabulary_hash()}: descriptions changed since training",
            UserWarning, stacklevel=2,
        )
    return model, metadata


class Predictor:
    """A loaded predictor: scores architecture graphs, caching each architecture's encoding.

    ``predict(space, archs)`` returns one float per architecture (higher is better; the
    scale is arbitrary, only the ranking is meaningful).
    """

    def __init__(
        self,
        model: TGNASGCN,
        metadata: Mapping[str, Any] | None = None,
        vocabulary: OpVocabulary | None = None,
        path: Path | None = None,
    ) -> None:
        self.model = model.eval()
        self.metadata = dict(metadata or {})
        self.path = path
        self.encoder = GraphEncoder(text=model.config.text, direction=model.config.direction,
                                    vocabulary=vocabulary)
        self._cache: dict[tuple[str, Any], EncodedGraph] = {}

    @property
    def trained_on(self) -> list[str]:
        return list(self.metadata.get("spaces", []))

    def encode(self, space: Space[Any], archs: Iterable[Any]) -> list[EncodedGraph]:
        out = []
        name = space.name
        cache = self._cache
        for arch in archs:
            key = (name, arch)
            g = cache.get(key)
            if g is None:
                g = self.encoder.encode(space.to_graph(arch))
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()
                cache[key] = g
            out.append(g)
        return out

    def predict_encoded(self, graphs: Sequence[EncodedGraph]) -> np.ndarray:
        if not graphs:
            return np.zeros(0, dtype=np.float64)
        out = np.empty(len(graphs), dtype=np.float64)
        with torch.inference_mode():
            table = self.encoder.features()
            size = max(len(g.rows) for g in graphs)
            step = max(64, PREDICT_NODES // size)
            for start in range(0, len(graphs), step):
                chunk = graphs[start:start + step]
                ids, adj = self.encoder.batch(chunk)
                out[start:start + len(chunk)] = self.model.forward_ids(table, ids, adj).numpy()
        return out

    def predict_graphs(self, graphs: Sequence[ArchGraph]) -> np.ndarray:
        """Scores of ``ArchGraph`` values (no caching)."""
        return self.predict_encoded([self.encoder.encode(g) for g in graphs])

    def predict(self, space: Space[Any], archs: Iterable[Any]) -> np.ndarray:
        """Scores of ``archs`` of ``space`` (graphs cached per architecture)."""
        return self.predict_encoded(self.encode(space, archs))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> Predictor:
    model, metadata = read_weights(path)
    return Predictor(model, metadata, path=Path(path))


def load_predictor(path: str | os.PathLike[str]) -> Predictor:
    """The predictor stored at ``path`` (loaded once per process and file version, for the
    default vocabulary)."""
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise DataError(f"TG-NAS weight file {str(p)!r} not found")
    return _load_cached(str(p), p.stat().st_mtime)


def _has_graph_costs(space: Space[Any]) -> bool:
    """Whether ``space``'s graphs carry per-node ``costs`` (checked on one seeded sample)."""
    return space.to_graph(space.sample(np.random.default_rng(0))).costs is not None


def _space(space: Space[Any] | str) -> Space[Any]:
    if isinstance(space, str):
        from zeronas.spaces import get_space

        return get_space(space)
    if not isinstance(space, Space):
        raise ZeronasError(f"expected a search space or its name, got {type(space).__name__}")
    return space


def resolve_weights(
    space: Space[Any] | str, weights: str | os.PathLike[str] | None = None
) -> tuple[Path, str]:
    """``(path, reason)`` of the weights to score ``space`` with."""
    name = space if isinstance(space, str) else space.name
    if weights is not None:
        return Path(weights), "given explicitly (predictor_weights)"
    return default_weights(name)


def describe_weights(
    space: Space[Any] | str, weights: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """What scoring ``space`` with TG-NAS will use, for results' protocol sections (and score
    store keys: ``weights_sha256`` changes whenever the weights do)."""
    path, reason = resolve_weights(space, weights)
    pred = load_predictor(path)
    name = space if isinstance(space, str) else space.name
    md = pred.metadata
    return {
        "weights": str(path),
        "weights_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16],
        "choice": reason,
        "trained_on": md.get("spaces"),
        "datasets": md.get("datasets"),
        "n_train": md.get("n_train"),
        "seed": md.get("seed"),
        "heldout": md.get("heldout"),
        "learned_scale": pred.model.learned_scale,
        "scored_space_in_training": name in (md.get("spaces") or []),
        "vocabulary_hash": md.get("vocabulary_hash"),
        # whether this space's graphs bring their own node costs (read off one of its
        # graphs): a change is a new protocol, so stored scores are never reused across it
        "graph_costs": GRAPH_COSTS if _has_graph_costs(_space(space)) else None,
    }


def predict(
    space: Space[Any] | str,
    archs: Iterable[Any],
    weights: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """TG-NAS scores of ``archs`` of ``space`` (higher = predicted more accurate).

    ``weights`` is a weight file; by default the shipped weights not trained on ``space``
    (leave-one-space-out, see :func:`default_weights`). Batched and cached: all 15,625 NB201
    cells take well under two seconds on two CPU cores.
    """
    sp = _space(space)
    path, _ = resolve_weights(sp, weights)
    return load_predictor(path).predict(sp, archs)
