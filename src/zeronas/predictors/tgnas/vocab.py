"""The operator vocabulary of the TG-NAS predictor: a description for every node label.

TG-NAS (Qiao, Xu & Huang, 2024) gives each operator a natural-language description, embeds it
with a pretrained sentence transformer and feeds the embeddings to a graph network, so that an
operator never seen in training (``sep_conv_5x5``, "Depthwise separable convolution") is
understood through its text, close to operators that were seen ("Convolution").

This module is the one readable table of those descriptions, :data:`BUILTIN_OPS`: one
:class:`OpEntry` per label (or family of labels) that any built-in space's ``to_graph``
emits, each with a short description (what the shipped weights were trained with) and a long
one.

Labels with numbers in them are *families*, written with ``{name}`` fields
(``sep_conv_{kernel}x{kernel}``; a repeated field must repeat its value):

- ``kernel`` and ``channels`` are **numeric fields** (:data:`NUMERIC_FEATURES`): the
  description does not mention them; they become input features of their own,
  ``(kernel + 1) / 8`` and ``log2(channels) / 6``, so every kernel size and width works
  without a language model (``conv_7x7``, ``conv_3x3_c128``). Numbers are kept out of the
  text because the sentence embedding does not order them: with "Convolution 1 by 1" /
  "Convolution 3 by 3" texts, DARTS-trained weights ranked NB201's 1x1 convolutions above its
  3x3 ones (and NB201-trained weights ranked DARTS 5x5 below 3x3 ops). A predictor trained
  only on spaces whose widths do not vary (NB201, DARTS) has no signal for ``channels``: its
  input weights for it start at zero and stay there, so it ignores widths -- by
  construction, rather than through untrained random weights.
- any other field (``expansion``) is a **text field**: its value is written into the
  description (``mbconv_k5_e6`` -> "..., expansion 6"), so each value has its own
  embedding. The shipped table holds the values the built-in spaces use; another value
  (``mbconv_k3_e3``) is embedded on first use, which needs the ``embed`` extra.

Add an operator with :func:`register_op` (``register_op("shift_conv", "Shift then a pointwise
convolution")``); a label that matches no entry raises
:class:`~zeronas.errors.UnknownNameError` naming the label and how to add it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from zeronas.errors import UnknownNameError, ZeronasError

EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""The sentence transformer whose embeddings the table holds (384 dimensions)."""
EMBEDDING_DIM = 384
GLOBAL = "global"
"""Label of the virtual node the graph builder adds and links to every node."""

NUMERIC_FEATURES: tuple[str, ...] = ("kernel", "channels")
"""Family fields that become numeric input features instead of text, in feature order."""
TEXT_KINDS: tuple[str, ...] = ("short", "long")

_FIELD = re.compile(r"\{([a-z_]+)\}")


def numeric_feature(name: str, value: int) -> float:
    """The input feature of a numeric field: ``(kernel + 1) / 8`` (1 -> 0.25, 3 -> 0.5,
    5 -> 0.75, 7 -> 1) and ``log2(channels) / 6`` (64 -> 1); 0 when the label has none."""
    if name == "kernel":
        return (int(value) + 1) / 8.0
    if name == "channels":
        return math.log2(max(int(value), 1)) / 6.0
    raise ZeronasError(f"no numeric feature named {name!r}: expected one of {NUMERIC_FEATURES}")


@dataclass(frozen=True)
class OpEntry:
    """One operator (or family of operators) and its descriptions.

    ``id`` is the label, or a family pattern with ``{field}`` placeholders standing for
    positive integers (``mbconv_k{kernel}_e{expansion}``); the descriptions may use the text
    fields (never the numeric ones). ``spaces`` documents where the label comes from.
    ``embedding``, for user entries only, is a fixed vector used instead of the language model.
    ``params``, for user entries only, is the operator's parameter count at 16 channels in and
    out, stride 1: the predictor's cost feature (:mod:`~zeronas.predictors.tgnas.cost`; without
    it, labels the NB201/DARTS op factories cannot build cost 0).
    """

    id: str
    short: str
    long: str
    spaces: tuple[str, ...] = ()
    embedding: tuple[float, ...] | None = field(default=None, compare=False, repr=False)
    params: int | None = field(default=None, compare=False)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_FIELD.findall(self.id)))

    @property
    def is_family(self) -> bool:
        return bool(self.fields)

    def pattern(self) -> re.Pattern[str]:
        parts = _FIELD.split(self.id)
        regex, seen = "", set()
        for i, p in enumerate(parts):
            if i % 2 == 0:
                regex += re.escape(p)
            elif p in seen:  # a repeated field (``{kernel}x{kernel}``) must repeat its value
                regex += f"(?P={p})"
            else:
                seen.add(p)
                regex += f"(?P<{p}>[1-9][0-9]{{0,8}})"
        return re.compile(f"^{regex}$")

    def text(self, kind: str, values: Mapping[str, int] | None = None) -> str:
        """The ``short`` or ``long`` description, with text fields filled from ``values``."""
        template = self.short if kind == "short" else self.long
        if not self.is_family:
            return template
        values = dict(values or {})
        return template.format(**{k: v for k, v in values.items() if k not in NUMERIC_FEATURES})

    def key(self, values: Mapping[str, int] | None = None) -> str:
        """The embedding-table key: the id with text fields filled, numeric fields kept."""
        values = dict(values or {})
        filled = {f: values[f] for f in self.fields if f not in NUMERIC_FEATURES}
        filled.update({f: "{" + f + "}" for f in self.fields if f in NUMERIC_FEATURES})
        return self.id.format(**filled) if self.fields else self.id


@dataclass(frozen=True)
class ResolvedOp:
    """A label resolved against the vocabulary: its entry, embedding key, texts, numbers."""

    label: str
    entry: OpEntry
    key: str
    texts: Mapping[str, str]
    numeric: tuple[float, ...]


_CONV = "Convolution"
_CONV_BN_RELU = (
    "A two-dimensional convolution followed by batch normalization and a rectified linear unit"
)
_RELU_CONV_BN = (
    "A rectified linear unit, then a two-dimensional convolution, then batch normalization"
)

BUILTIN_OPS: tuple[OpEntry, ...] = (
    # --- structural nodes ---------------------------------------------------------------
    OpEntry("input", "Input", "Input node: the feature map that enters the cell or network",
            ("nb201", "nb101", "nats_sss", "mbv2")),
    OpEntry("output", "Output",
            "Output node: combines the results of the operators of the cell or network",
            ("nb201", "darts", "nb101", "nats_sss", "mbv2")),
    OpEntry(GLOBAL, "Global node",
            "A virtual global node connected to every operator that summarises the architecture",
            ("all",)),
    OpEntry("input_c_{k-2}", "Input from the cell before the previous one",
            "Input node: the output of the cell two cells back", ("darts",)),
    OpEntry("input_c_{k-1}", "Input from the previous cell",
            "Input node: the output of the previous cell", ("darts",)),
    # --- cell operators: NB201 / DARTS ----------------------------------------------------
    OpEntry("none", "None", "A none operator that outputs zeros, cutting the connection",
            ("nb201", "darts")),
    OpEntry("skip_connect", "Residual connection",
            "A skip connection: identity mapping of the input to the next layer",
            ("nb201", "darts")),
    OpEntry("nor_conv_{kernel}x{kernel}", _CONV, _RELU_CONV_BN, ("nb201",)),
    OpEntry("avg_pool_{kernel}x{kernel}", "Average pooling", "An average pooling operator",
            ("nb201", "darts")),
    OpEntry("max_pool_{kernel}x{kernel}", "Max pooling", "A max pooling operator", ("darts",)),
    OpEntry("sep_conv_{kernel}x{kernel}", "Depthwise separable convolution",
            "Two stacked blocks of a rectified linear unit, a depthwise convolution, a 1 by 1 "
            "pointwise convolution and batch normalization", ("darts",)),
    OpEntry("dil_conv_{kernel}x{kernel}", "Dilated convolution",
            "A rectified linear unit, a depthwise convolution with dilation 2, a 1 by 1 "
            "pointwise convolution and batch normalization", ("darts",)),
    # --- NAS-Bench-101 -------------------------------------------------------------------
    OpEntry("conv{kernel}x{kernel}-bn-relu", _CONV, _CONV_BN_RELU, ("nb101",)),
    OpEntry("maxpool{kernel}x{kernel}", "Max pooling", "A max pooling operator", ("nb101",)),
    # --- macro spaces --------------------------------------------------------------------
    OpEntry("conv_{kernel}x{kernel}", _CONV, _CONV_BN_RELU, ("mbv2",)),
    OpEntry("conv_{kernel}x{kernel}_c{channels}", _CONV,
            "A two-dimensional convolution followed by batch normalization", ("nats_sss",)),
    OpEntry("cell_c{channels}", "Cell of 3 by 3 convolutions and a residual connection",
            "A cell of four nodes joined by five 3 by 3 convolutions (rectified linear unit, "
            "convolution, batch normalization) and one skip connection", ("nats_sss",)),
    OpEntry("resblock_c{channels}", "Residual block with stride 2",
            "A residual block that halves the resolution: two 3 by 3 convolutions with batch "
            "normalization and rectified linear units, and a shortcut of average pooling and a "
            "1 by 1 convolution", ("nats_sss",)),
    OpEntry("mbconv_k{kernel}_e{expansion}",
            "Inverted residual block with a depthwise convolution, expansion {expansion}",
            "A mobile inverted bottleneck block: a 1 by 1 convolution widening the channels "
            "{expansion} times, a depthwise convolution and a 1 by 1 projection convolution, "
            "each with batch normalization, and a residual connection", ("mbv2",)),
)
"""Every label the built-in spaces emit (see the module docstring for families)."""

BUILTIN_FAMILY_VALUES: dict[str, tuple[dict[str, int], ...]] = {
    "mbconv_k{kernel}_e{expansion}": tuple({"expansion": e} for e in (1, 2, 4, 6)),
}
"""Text-field values whose embeddings are shipped (those the built-in spaces use)."""


class OpVocabulary:
    """A table of :class:`OpEntry`; resolves node labels to descriptions and features.

    Exact labels win over families; a later registration of the same id replaces the earlier
    one. Use :func:`default_vocabulary` for the built-in table plus :func:`register_op` entries.
    """

    def __init__(self, entries: Iterable[OpEntry] = BUILTIN_OPS) -> None:
        self._entries: dict[str, OpEntry] = {}
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._resolved: dict[str, ResolvedOp] = {}
        for e in entries:
            self.add(e)

    def add(self, entry: OpEntry) -> None:
        """Add (or replace) ``entry``."""
        if not entry.id or not entry.short.strip() or not entry.long.strip():
            raise ZeronasError(
                f"operator {entry.id!r} needs a non-empty label and description"
            )
        if entry.embedding is not None and len(entry.embedding) != EMBEDDING_DIM:
            raise ZeronasError(
                f"embedding of operator {entry.id!r} has {len(entry.embedding)} values, "
                f"expected {EMBEDDING_DIM} (the size of {EMBEDDING_MODEL})"
            )
        if entry.params is not None and (isinstance(entry.params, bool)
                                         or not isinstance(entry.params, int)
                                         or entry.params < 0):
            raise ZeronasError(
                f"params of operator {entry.id!r} must be a parameter count (an int >= 0), "
                f"got {entry.params!r}"
            )
        self._entries[entry.id] = entry
        if entry.is_family:
            self._patterns[entry.id] = entry.pattern()
        self._resolved.clear()

    @property
    def entries(self) -> tuple[OpEntry, ...]:
        return tuple(self._entries.values())

    def __contains__(self, label: object) -> bool:
        if not isinstance(label, str):
            return False
        try:
            self.resolve(label)
        except UnknownNameError:
            return False
        return True

    def resolve(self, label: str) -> ResolvedOp:
        """The entry, embedding key, descriptions and numeric features of ``label``."""
        hit = self._resolved.get(label)
        if hit is not None:
            return hit
        entry = self._entries.get(label)
        values: dict[str, int] = {}
        if entry is None or entry.is_family:  # an id with braces is matched as a pattern
            entry = None
            for eid, pat in self._patterns.items():
                m = pat.match(label)
                if m:
                    entry = self._entries[eid]
                    values = {k: int(v) for k, v in m.groupdict().items()}
                    break
        if entry is None:
            raise UnknownNameError(
                f"operator {label!r} is not in the TG-NAS vocabulary: add it with "
                f"zeronas.predictors.tgnas.register_op({label!r}, 'a short description of the "
                "operator') (embedding it needs the 'embed' extra: pip install "
                "'zeronas[embed]'), or pass a precomputed embedding=..."
            )
        numeric = tuple(
            numeric_feature(f, values[f]) if f in values else 0.0 for f in NUMERIC_FEATURES
        )
        resolved = ResolvedOp(
            label=label,
            entry=entry,
            key=entry.key(values),
            texts={k: entry.text(k, values) for k in TEXT_KINDS},
            numeric=numeric,
        )
        self._resolved[label] = resolved
        return resolved

    def builtin_keys(self) -> list[tuple[str, OpEntry, dict[str, int]]]:
        """``(key, entry, text values)`` of every embedding the shipped table holds."""
        out: list[tuple[str, OpEntry, dict[str, int]]] = []
        for e in BUILTIN_OPS:
            text_fields = [f for f in e.fields if f not in NUMERIC_FEATURES]
            if text_fields:
                for values in BUILTIN_FAMILY_VALUES[e.id]:
                    out.append((e.key(values), e, dict(values)))
            else:
                out.append((e.key(), e, {}))
        return out


def vocabulary_hash(entries: Iterable[OpEntry] = BUILTIN_OPS) -> str:
    """A short hash of the descriptions and the embedding model (identifies the features)."""
    payload = {
        "model": EMBEDDING_MODEL,
        "numeric": list(NUMERIC_FEATURES),
        "ops": sorted([e.id, e.short, e.long] for e in entries),
        "family_values": {k: [sorted(d.items()) for d in v]
                          for k, v in sorted(BUILTIN_FAMILY_VALUES.items())},
    }
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_DEFAULT: list[OpVocabulary] = []


def default_vocabulary() -> OpVocabulary:
    """The vocabulary predictions use by default: the built-in table plus :func:`register_op`
    entries (created on first use; nothing happens at import)."""
    if not _DEFAULT:
        _DEFAULT.append(OpVocabulary())
    return _DEFAULT[0]


def register_op(
    label: str,
    description: str,
    *,
    long: str | None = None,
    embedding: np.ndarray | Iterable[float] | None = None,
    params: int | None = None,
    vocabulary: OpVocabulary | None = None,
) -> OpEntry:
    """Add an operator to the vocabulary with only a description.

    ``label`` is what ``to_graph`` emits (a family pattern with ``{field}`` placeholders is
    allowed, see the module docstring); ``description`` is used for both the short and the
    long text unless ``long`` is given. Its embedding is computed with the sentence
    transformer on first use (needs ``pip install 'zeronas[embed]'``) unless ``embedding``
    (384 numbers) is given. ``params`` is its parameter count at 16 channels in and out,
    stride 1 (the predictor's cost feature; omitted, an op the NB201/DARTS factories cannot
    build costs 0). Returns the new entry.
    """
    if not isinstance(label, str) or not label.strip():
        raise ZeronasError(f"operator label must be a non-empty string, got {label!r}")
    if not isinstance(description, str) or not description.strip():
        raise ZeronasError(f"operator {label!r} needs a non-empty description")
    emb = None
    if embedding is not None:
        arr = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(arr)):
            raise ZeronasError(f"embedding of operator {label!r} has non-finite values")
        emb = tuple(float(x) for x in arr)
    entry = OpEntry(label, description.strip(), (long or description).strip(), ("user",), emb,
                    params)
    (vocabulary or default_vocabulary()).add(entry)
    return entry
