"""TG-NAS: a universal learned proxy (operator descriptions + sentence embeddings + a GCN).

After Qiao, Xu & Huang, "TG-NAS: Leveraging Zero-Cost Proxies with Transformer and Graph
Convolution Networks for Efficient Neural Architecture Search" (2024, github YeQiao/TG-NAS).
Each operator has a natural-language description (:mod:`.vocab`), embedded once with the
all-MiniLM-L6-v2 sentence transformer and shipped as package data (:mod:`.embed`); a graph
convolution network over the architecture's DAG (:mod:`.graph`, :mod:`.model`) predicts its
accuracy ranking. Because operators enter only through their descriptions (and their
parameter count, :mod:`.cost`), the predictor scores spaces and operators it was never
trained on.

- :func:`predict` -- scores for many architectures of a space (batched, cached);
- :func:`train_predictor` -- train on benchmark ground truth, save weights with metadata;
- :func:`register_op` -- add an operator with a description;
- the ``tgnas`` proxy (:mod:`zeronas.proxies.tgnas_proxy`) -- the same through the runner.

Shipped weights: ``weights/tgnas_nb201_cifar10.pt`` (trained on NB201/CIFAR-10),
``weights/tgnas_darts_cifar10.pt`` (DARTS-1000), ``weights/tgnas_loo_<S>.pt`` (trained on
every space with ground truth but ``S``) and ``weights/tgnas_all.pt`` (on all of them).
Scoring a space uses weights *not* trained on it (leave-one-space-out,
:func:`default_weights`).
"""

from zeronas.predictors.tgnas.embeddings import MissingExtraError, encode_texts, load_table
from zeronas.predictors.tgnas.graph import GraphEncoder, message_matrix, normalize_adjacency
from zeronas.predictors.tgnas.model import TGNASGCN, GCNConfig
from zeronas.predictors.tgnas.predictor import (
    Predictor,
    default_weights,
    describe_weights,
    load_predictor,
    loo_weights,
    predict,
    read_weights,
    resolve_weights,
    save_weights,
    shipped_weights,
)
from zeronas.predictors.tgnas.training import (
    Group,
    TrainResult,
    TrainSettings,
    evaluate_predictor,
    fit_graphs,
    train_predictor,
)
from zeronas.predictors.tgnas.vocab import (
    BUILTIN_OPS,
    OpEntry,
    OpVocabulary,
    default_vocabulary,
    register_op,
    vocabulary_hash,
)

__all__ = [
    "BUILTIN_OPS",
    "TGNASGCN",
    "GCNConfig",
    "GraphEncoder",
    "Group",
    "MissingExtraError",
    "OpEntry",
    "OpVocabulary",
    "Predictor",
    "TrainResult",
    "TrainSettings",
    "default_vocabulary",
    "default_weights",
    "describe_weights",
    "encode_texts",
    "evaluate_predictor",
    "fit_graphs",
    "load_predictor",
    "load_table",
    "loo_weights",
    "message_matrix",
    "normalize_adjacency",
    "predict",
    "read_weights",
    "register_op",
    "resolve_weights",
    "save_weights",
    "shipped_weights",
    "train_predictor",
    "vocabulary_hash",
]
