"""AZ-NAS proxies (checked against independent numpy computations and against numbers from
the reference implementation) and rank aggregation / composite scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import rankdata
from torch import nn

from zeronas.errors import UnknownNameError, ZeronasError
from zeronas.hardware.measures import count_flops
from zeronas.proxies import aznas
from zeronas.proxies.aznas import (
    AZ_BATCH_SIZE,
    AZ_PARTS,
    az_nas_gaussian_stats,
    az_nas_stats,
    collect_features,
    expressivity_of,
    feature_blocks,
    kaiming_fanin_init,
)
from zeronas.proxies.base import Batch, ProxyContext
from zeronas.proxies.ensemble import (
    COMPOSITES,
    Composite,
    EnsembleError,
    aggregate,
    compose,
    compose_all,
    expand,
    parse_composite,
    rank,
)
from zeronas.proxies.runner import ProxyWarning, score_model, seeded

CTX = dict(input_shape=(3, 8, 8), num_classes=10, seed=0)

# ---------------------------------------------------------------------------------------------
# a tiny network whose AZ-NAS features can be worked out by hand


class Lin(nn.Module):
    """A 1x1 convolution, optionally strided and followed by a ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, relu: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.relu(y) if self.relu else y


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))
        self.blocks = nn.Sequential(Lin(4, 6), Lin(6, 5, stride=2), Lin(5, 7, relu=True))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(7, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def _tiny() -> Tiny:
    with seeded(0):
        return Tiny()


def _batch(n: int = 6) -> Batch:
    g = torch.Generator().manual_seed(0)
    return Batch(((torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)),))


def _np_expressivity(feat: np.ndarray) -> float:
    c = feat.shape[1]
    x = feat.transpose(0, 2, 3, 1).reshape(-1, c).astype(np.float64)
    x = x - x.mean(axis=0)
    s = np.linalg.eigvalsh(x.T @ x / x.shape[0])
    p = s / s.sum()
    return float(-(p * np.log(p + 1e-8)).sum())


def _np_trainability(g_in: np.ndarray, g_out: np.ndarray) -> float:
    """Pair score from explicit (B, C, H, W) gradients, unshuffling ``g_in`` if needed."""
    r = g_in.shape[2] // g_out.shape[2]
    if r > 1:
        b, c, h, w = g_in.shape
        g_in = g_in.reshape(b, c, h // r, r, w // r, r).transpose(0, 1, 3, 5, 2, 4)
        g_in = g_in.reshape(b, c * r * r, h // r, w // r)
    rows_in = g_in.transpose(0, 2, 3, 1).reshape(-1, g_in.shape[1])
    rows_out = g_out.transpose(0, 2, 3, 1).reshape(-1, g_out.shape[1])
    s = np.linalg.svd(rows_in.T @ rows_out / rows_out.shape[0], compute_uv=False).max()
    return float(-s - 1 / (s + 1e-6) + 2)


# ---------------------------------------------------------------------------------------------
# AZ-NAS


def test_expressivity_of_known_covariances():
    c = 5
    # rows +-e_i: zero mean, covariance (1/c) I -> all eigenvalues equal -> entropy log(c)
    rows = np.concatenate([np.eye(c), -np.eye(c)])
    feat = torch.tensor(rows, dtype=torch.float32).reshape(2 * c, c, 1, 1)
    assert expressivity_of(feat) == pytest.approx(math.log(c), abs=1e-6)
    # rank one: a single direction -> entropy ~ 0
    v = torch.arange(1.0, c + 1)
    feat = (torch.randn(12, generator=torch.Generator().manual_seed(0))[:, None] * v)
    assert expressivity_of(feat.reshape(12, c, 1, 1)) == pytest.approx(0.0, abs=1e-5)
    # a random correlated map, against numpy (layout (B, C, H, W), positions count as samples)
    g = torch.Generator().manual_seed(1)
    mix = torch.randn(c, c, generator=g)
    feat = torch.einsum("bhwc,cd->bdhw", torch.randn(3, 4, 4, c, generator=g), mix)
    assert expressivity_of(feat) == pytest.approx(_np_expressivity(feat.numpy()), rel=1e-9)
    # a constant map has no spectrum
    assert math.isnan(expressivity_of(torch.ones(2, 3, 2, 2)))


def test_feature_blocks_rule():
    from zeronas.spaces.nb201 import NB201Network, arch_from_str

    arch = arch_from_str("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|none~2|")
    with seeded(0):
        nb = NB201Network(arch, 10, C=4, N=2)
    # the reference's features for NB201: the stem, then every cell (reductions included);
    # the classifier is a candidate but its 2-D output is dropped when features are collected
    cells = ["stem"] + [f"cells.{i}" for i in range(3 * 2 + 2)]
    assert feature_blocks(nb) == [*cells, "classifier"]
    assert [n for n, _ in collect_features(nb, torch.zeros(2, 3, 8, 8))] == cells
    assert feature_blocks(Tiny()) == ["stem", "blocks.0", "blocks.1", "blocks.2", "head"]
    # leaf-level Sequential: conv features extend over the following BN and ReLU
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    assert feature_blocks(seq) == ["2", "5", "7"]
    # a wrapper with a single child is looked through
    wrapped = nn.Module()
    wrapped.net = seq
    assert feature_blocks(wrapped) == ["net.2", "net.5", "net.7"]


def test_collect_features_drops_heads_and_removes_hooks():
    net = _tiny()
    feats = collect_features(net, _batch().inputs)
    assert [n for n, _ in feats] == ["stem", "blocks.0", "blocks.1", "blocks.2"]
    assert [tuple(f.shape) for _, f in feats][1:] == [(6, 6, 8, 8), (6, 5, 4, 4), (6, 7, 4, 4)]
    assert all(not m._forward_hooks for m in net.modules())
    with pytest.raises(ZeronasError, match="not modules of the model"):
        collect_features(net, _batch().inputs, layers=["stem", "nope"])


def test_stats_match_hand_computation():
    """Expressivity, progressivity and trainability of Tiny, worked out with numpy from the
    blocks' weights (1x1 convolutions, so the input gradients are W^T g)."""
    net = _tiny().train()
    x = _batch().inputs
    stats = az_nas_stats(net, x, torch.Generator().manual_seed(5), init="none")

    with torch.no_grad():
        f0 = net.stem(x)
        pre2 = net.blocks[2].conv(net.blocks[1].conv(net.blocks[0].conv(f0)))
    f1 = torch.einsum("oc,bchw->bohw", net.blocks[0].conv.weight[:, :, 0, 0], f0).detach()
    w1 = net.blocks[1].conv.weight[:, :, 0, 0].detach().numpy()
    w2 = net.blocks[2].conv.weight[:, :, 0, 0].detach().numpy()
    w0 = net.blocks[0].conv.weight[:, :, 0, 0].detach().numpy()
    f1n = f1.numpy()
    f2n = np.einsum("oc,bchw->bohw", w1, f1n[:, :, ::2, ::2])
    f3n = np.maximum(np.einsum("oc,bchw->bohw", w2, f2n), 0)
    np.testing.assert_allclose(f3n, torch.relu(pre2).numpy(), rtol=1e-5, atol=1e-6)
    feats = [f0.numpy(), f1n, f2n, f3n]
    expr = [_np_expressivity(f) for f in feats]
    assert stats.layers == ("stem", "blocks.0", "blocks.1", "blocks.2")
    np.testing.assert_allclose(stats.expressivity_per_layer, expr, rtol=1e-5)
    assert stats.expressivity == pytest.approx(sum(expr), rel=1e-5)
    assert stats.progressivity == pytest.approx(min(np.diff(expr)), rel=1e-4, abs=1e-6)

    # the +-1 output gradients: one per pair, drawn last pair first
    gen = torch.Generator().manual_seed(5)
    g3, g2, g1 = (
        ((torch.bernoulli(torch.full(f.shape, 0.5), generator=gen) - 0.5) * 2).numpy()
        for f in (f3n, f2n, f1n)
    )
    gin3 = np.einsum("oc,bohw->bchw", w2, g3 * (np.einsum("oc,bchw->bohw", w2, f2n) > 0))
    gin2 = np.zeros_like(f1n)
    gin2[:, :, ::2, ::2] = np.einsum("oc,bohw->bchw", w1, g2)
    gin1 = np.einsum("oc,bohw->bchw", w0, g1)
    train = [_np_trainability(gin1, g1), _np_trainability(gin2, g2), _np_trainability(gin3, g3)]
    np.testing.assert_allclose(stats.trainability_per_pair, train, rtol=1e-5)
    assert stats.trainability == pytest.approx(np.mean(train), rel=1e-5)


# Numbers from cvlab-yonsei/AZ-NAS NB201/ZeroShotProxy/compute_az_nas_score.py (float32),
# run on the same zeronas NB201 network (C=8, N=1, features = stem + cells as the reference's
# extract_cell_features), the same batch, and torch.manual_seed(3) for its global RNG.
REFERENCE = {
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "avg_pool_3x3~2|": (14.458140850067139, 0.07351255416870117, -0.37468846826825547),
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
    "skip_connect~2|": (13.073088884353638, -0.362058162689209, -0.5593027735534007),
}


@pytest.mark.parametrize("arch_str", sorted(REFERENCE))
def test_matches_reference_implementation(arch_str):
    from zeronas.spaces.nb201 import NB201Network, arch_from_str

    with seeded(0):
        net = NB201Network(arch_from_str(arch_str), 10, C=8, N=1)
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    stats = az_nas_stats(net.train(), x, torch.Generator().manual_seed(3))
    expr, prog, train = REFERENCE[arch_str]
    assert stats.expressivity == pytest.approx(expr, rel=1e-6)
    assert stats.progressivity == pytest.approx(prog, rel=1e-4)
    assert stats.trainability == pytest.approx(train, rel=1e-5)


# The reference's NB201 protocol: compute_nas_score(model, gpu, trainloader=None, resolution=16,
# batch_size=8) with torch.manual_seed(3): Kaiming fan-in re-initialisation, then
# torch.randn(8, 3, 16, 16), then the +-1 gradients, all from the global RNG.
REFERENCE_GAUSSIAN = {
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "avg_pool_3x3~2|": (14.588312268257141, 0.06211411952972412, -0.37174508258622635),
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
    "skip_connect~2|": (12.972442388534546, -0.37235474586486816, -0.5815921282796463),
}


@pytest.mark.parametrize("arch_str", sorted(REFERENCE_GAUSSIAN))
def test_gaussian_protocol_matches_reference(arch_str):
    from zeronas.spaces.nb201 import NB201Network, arch_from_str

    with seeded(0):
        net = NB201Network(arch_from_str(arch_str), 10, C=8, N=1)
    stats = az_nas_gaussian_stats(net.train(), (3, 16, 16), torch.Generator().manual_seed(3),
                                  batch_size=8)
    expr, prog, train = REFERENCE_GAUSSIAN[arch_str]
    assert stats.expressivity == pytest.approx(expr, rel=1e-6)
    assert stats.progressivity == pytest.approx(prog, rel=1e-4, abs=1e-6)
    assert stats.trainability == pytest.approx(train, rel=1e-5)


def test_proxies_are_data_free_on_gaussian_inputs():
    """The registered parts ignore the batch: they re-initialise the copy, draw 64 Gaussian
    images of ctx.input_shape and the +-1 gradients from ctx.generator(), in that order."""
    from zeronas.proxies import get_proxy

    assert AZ_BATCH_SIZE == 64
    assert all(not get_proxy(n).needs_data for n in AZ_PARTS)
    net = _tiny()
    ctx = ProxyContext(**{**CTX, "seed": 7})
    out = score_model(net, list(AZ_PARTS), _batch(8), ctx)
    assert out == score_model(net, list(AZ_PARTS), None, ProxyContext(**{**CTX, "seed": 7}))

    # by hand, from the published definition, on a copy prepared step by step
    work = _tiny().train()
    gen = torch.Generator().manual_seed(7)
    kaiming_fanin_init(work, gen)
    x = torch.randn(64, 3, 8, 8, generator=gen)
    g = {n: p.detach().clone() for n, p in work.named_parameters()}
    # Kaiming normal fan-in: std sqrt(2 / fan_in) for conv/linear weights; BN affine 1 / 0
    fan_in = g["stem.0.weight"][0].numel()
    assert float(g["stem.0.weight"].std()) == pytest.approx(math.sqrt(2 / fan_in), rel=0.3)
    assert torch.equal(g["stem.1.weight"], torch.ones(4)) and torch.equal(g["head.2.bias"],
                                                                          torch.zeros(10))
    with torch.no_grad():
        f0 = work.stem(x)
        f1 = work.blocks[0](f0)
        f2 = work.blocks[1](f1)
        f3 = work.blocks[2](f2)
    expr = [_np_expressivity(f.numpy()) for f in (f0, f1, f2, f3)]
    assert out["az_expressivity"] == pytest.approx(sum(expr), rel=1e-5)
    assert out["az_progressivity"] == pytest.approx(min(np.diff(expr)), rel=1e-4, abs=1e-6)
    stats = az_nas_stats(work, x, gen, init="none")  # the remaining draws: the gradients
    assert out["az_trainability"] == pytest.approx(stats.trainability, rel=1e-9)
    assert out["az_expressivity"] == pytest.approx(stats.expressivity, rel=1e-9)


def test_shared_pass_any_order(monkeypatch):
    net, batch = _tiny(), _batch(8)
    alone = {n: score_model(net, [n], batch, ProxyContext(**CTX))[n] for n in AZ_PARTS}
    calls = []
    real = aznas.az_nas_gaussian_stats
    monkeypatch.setattr(aznas, "az_nas_gaussian_stats",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    together = score_model(net, list(AZ_PARTS), batch, ProxyContext(**CTX))
    assert len(calls) == 1  # one pass for the three data-dependent parts
    backwards = score_model(net, list(reversed(AZ_PARTS)), batch, ProxyContext(**CTX))
    mixed = score_model(net, ["az_trainability", "flops", "az_expressivity"], batch,
                        ProxyContext(**CTX))
    assert together == alone == backwards
    assert mixed["az_trainability"] == alone["az_trainability"]
    assert mixed["az_expressivity"] == alone["az_expressivity"]
    assert all(p.grad is None for p in net.parameters())


def test_complexity_is_flops():
    net = _tiny()
    out = score_model(net, ["az_complexity"], None, ProxyContext(**CTX))["az_complexity"]
    assert out == pytest.approx(count_flops(net, (3, 8, 8)) / 1e6)


def test_identity_block_is_worst_trainability():
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.Identity())

    class Same(nn.Module):  # a block whose output is its input
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 1.0

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Sequential(nn.Conv2d(3, 4, 1)), Same()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(x))

    holder = Holder()
    stats = az_nas_stats(holder, _batch().inputs, layers=["a", "b"])
    assert stats.trainability == -math.inf
    with pytest.warns(ProxyWarning, match="reported as NaN"):
        out = score_model(holder, ["az_trainability"], Batch(((_batch().inputs, None),)),
                          ProxyContext(**CTX))
    assert math.isnan(out["az_trainability"])
    assert len(feature_blocks(net)) == 2


def test_explicit_layers_and_errors():
    mlp = nn.Sequential(nn.Linear(12, 9), nn.ReLU(), nn.Linear(9, 7), nn.ReLU())
    x = torch.randn(10, 12, generator=torch.Generator().manual_seed(0))
    stats = az_nas_stats(mlp, x, layers=["1", "3"])  # explicit 2-D features are allowed
    assert stats.layers == ("1", "3") and len(stats.trainability_per_pair) == 1
    with pytest.raises(ZeronasError, match="at least two block features"):
        az_nas_stats(mlp, x)  # the automatic rule uses spatial maps only
    with pytest.raises(ZeronasError, match="init"):
        az_nas_stats(mlp, x, layers=["1", "3"], init="xavier")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# ranks and aggregation


def test_rank_by_hand():
    np.testing.assert_array_equal(rank([3.0, 1.0, 2.0]), [3, 1, 2])
    np.testing.assert_array_equal(rank([3.0, 1.0, 2.0], higher_is_better=False), [1, 3, 2])
    np.testing.assert_array_equal(rank([5, 5, 1]), [2.5, 2.5, 1])
    np.testing.assert_array_equal(rank([2, 2, 2]), [2, 2, 2])
    # NaN is worst; NaNs tie among themselves; -inf is an ordinary (lowest) number
    np.testing.assert_array_equal(rank([np.nan, 2, np.nan, 1]), [1.5, 4, 1.5, 3])
    np.testing.assert_array_equal(rank([np.nan, 2, 1], higher_is_better=False), [1, 2, 3])
    np.testing.assert_array_equal(rank([-np.inf, np.nan, 0.0]), [2, 1, 3])
    assert rank([]).shape == (0,)
    g = np.random.default_rng(0)
    v = g.integers(0, 5, size=40).astype(float)
    np.testing.assert_array_equal(rank(v), rankdata(v))
    with pytest.raises(EnsembleError, match="1-D"):
        rank(np.zeros((2, 2)))


def test_aggregate_by_hand():
    scores = {"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, np.nan]}
    # ranks a: [1, 2, 3]; b: [3, 2, 1] (NaN worst)
    np.testing.assert_allclose(aggregate(scores), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(
        aggregate(scores, "log_rank"),
        [np.log(1 / 3) + np.log(3 / 3), 2 * np.log(2 / 3), np.log(3 / 3) + np.log(1 / 3)],
    )
    flipped = aggregate(scores, "mean_rank", {"b": False})  # b lower-better: ranks [2, 3, 1]
    np.testing.assert_allclose(flipped, [1.5, 2.5, 2.0])
    # the AZ-NAS notebook's formula: sum of log(rankdata(v) / n), argmax is the pick
    g = np.random.default_rng(1)
    parts = {k: g.normal(size=20) for k in "wxyz"}
    expected = sum(np.log(rankdata(v) / 20) for v in parts.values())
    np.testing.assert_allclose(aggregate(parts, "log_rank"), expected)


@pytest.mark.parametrize(
    ("scores", "method", "match"),
    [
        ({}, "mean_rank", "no proxy scores"),
        ({"a": [], "b": []}, "mean_rank", "pool is empty"),
        ({"a": [1, 2], "b": [1, 2, 3]}, "mean_rank", "different sizes"),
        ({"a": [1, 2]}, "median", "unknown aggregation method"),
        ({"a": ["x", 1]}, "mean_rank", "sequence of numbers"),
    ],
)
def test_aggregate_errors(scores, method, match):
    with pytest.raises(EnsembleError, match=match):
        aggregate(scores, method)


# ---------------------------------------------------------------------------------------------
# composites

KNOWN = {"zico", "naswot", "synflow", "flops", *AZ_PARTS}


def test_parse_composite():
    assert parse_composite("zico") is None
    assert parse_composite("az_nas") == Composite("az_nas", AZ_PARTS, "log_rank")
    assert COMPOSITES["az_nas"] == (AZ_PARTS, "log_rank")
    assert parse_composite("zico+naswot") == Composite("zico+naswot", ("zico", "naswot"),
                                                       "mean_rank")
    assert parse_composite("log_rank:zico+naswot").method == "log_rank"
    for bad, match in [("zico++naswot", "empty part"), ("zico+zico", "twice"),
                       ("median:zico+naswot", "unknown method"), ("log_rank:zico", "two or more")]:
        with pytest.raises(EnsembleError, match=match):
            parse_composite(bad)


def test_expand():
    base, comps = expand("zico,az_nas,zico+naswot", known=KNOWN)
    assert base == ["zico", *AZ_PARTS, "naswot"]
    assert list(comps) == ["az_nas", "zico+naswot"]
    base, comps = expand(["log_rank:az_nas+synflow"], known=KNOWN)
    assert base == [*AZ_PARTS, "synflow"] and comps["log_rank:az_nas+synflow"].method == "log_rank"
    with pytest.raises(UnknownNameError, match="zicoo"):
        expand(["zicoo+naswot"], known=KNOWN)
    with pytest.raises(UnknownNameError, match="nope"):
        expand(["nope"], known=KNOWN)
    with pytest.raises(ZeronasError, match="listed twice"):
        expand("zico,zico", known=KNOWN)
    with pytest.raises(ZeronasError, match="no proxies"):
        expand(" , ", known=KNOWN)
    # default: the registry, with the AZ-NAS parts registered
    base, _ = expand(["az_nas", "flops+params"])
    assert base == [*AZ_PARTS, "flops", "params"]


def test_compose():
    pool = {
        "az_expressivity": [3.0, 1.0, 2.0],
        "az_progressivity": [1.0, 2.0, 3.0],
        "az_trainability": [np.nan, 1.0, 2.0],
        "az_complexity": [10.0, 20.0, 20.0],
        "naswot": [5.0, 6.0, 7.0],
    }
    # goodness ranks per part: [3,1,2], [1,2,3], [1,2,3], [1,2.5,2.5]
    expected = np.log(np.array([3 * 1 * 1 * 1, 1 * 2 * 2 * 2.5, 2 * 3 * 3 * 2.5]) / 3**4)
    np.testing.assert_allclose(compose("az_nas", pool), expected)
    np.testing.assert_allclose(compose("az_complexity+naswot", pool, {"naswot": False}),
                               [2.0, 2.25, 1.75])
    nested = compose("az_nas+naswot", pool, lambda n: True)
    np.testing.assert_allclose(nested, (rankdata(expected) + np.array([1, 2, 3])) / 2)
    pool["flops"] = pool["az_complexity"]  # directions from the registry by default
    assert set(compose_all(["az_nas", "flops+az_expressivity"], pool)) == {
        "az_nas", "flops+az_expressivity"}
    with pytest.raises(EnsembleError, match="needs the pool's scores of 'zico'"):
        compose("zico+naswot", pool, {})
    with pytest.raises(EnsembleError, match="not a composite"):
        compose("naswot", pool)
    with pytest.raises(EnsembleError, match="different sizes"):
        compose("naswot+az_complexity", {"naswot": [1, 2], "az_complexity": [1.0]}, {})
