"""Gradient-based proxies: values against independent computations (closed forms on linear
models, direct autograd, numpy formulas), shared passes, order independence, determinism."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import zeronas.proxies.gradient as gradient
from zeronas.proxies import Batch, ProxyContext, ProxyWarning, get_proxy, score_model
from zeronas.proxies.runner import _hook_count, seeded

ALL = ["grad_norm", "snip", "grasp", "fisher", "synflow", "gradsign", "zico", "zico_accumulated"]
SHARED = ["grad_norm", "snip", "grasp", "fisher", "zico", "zico_accumulated"]


def conv_net(dropout: float = 0.0) -> nn.Module:
    with seeded(0):
        return nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Conv2d(6, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Dropout(dropout), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5),
        )


def linear_net(d: int = 7, c: int = 4) -> nn.Module:
    with seeded(1):
        return nn.Sequential(nn.Flatten(), nn.Linear(d, c))


def images(n_batches: int = 2, n: int = 6, shape: tuple[int, ...] = (3, 6, 6), c: int = 5,
           seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(tuple((torch.randn(n, *shape, generator=g), torch.randint(0, c, (n,), generator=g))
                       for _ in range(n_batches)))


def ctx_for(shape: tuple[int, ...] = (3, 6, 6), c: int = 5, seed: int = 0) -> ProxyContext:
    return ProxyContext(input_shape=shape, num_classes=c, seed=seed)


def weighted(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def run(model: nn.Module, names: list[str], batch: Batch, ctx: ProxyContext) -> dict[str, float]:
    return score_model(model, names, batch, ctx)


def _linear_parts(net: nn.Module, batch: Batch) -> tuple[np.ndarray, ...]:
    """X (N, D), one-hot Y (N, C), softmax P (N, C) and W (C, D) of a Flatten-Linear net."""
    lin = net[1]
    x, y = batch.first
    X = x.reshape(len(x), -1).double().numpy()
    W = lin.weight.detach().double().numpy()
    z = X @ W.T + lin.bias.detach().double().numpy()
    P = np.exp(z - z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    Y = np.eye(W.shape[0])[y.numpy()]
    return X, Y, P, W


# --------------------------------------------------------------------------- values


def test_grad_norm_closed_form_linear():
    net, batch = linear_net(), images(1, 9, (7,), 4)
    X, Y, P, _ = _linear_parts(net, batch)
    grad = (P - Y).T @ X / len(X)  # dCE/dW for a linear classifier
    out = run(net, ["grad_norm"], batch, ctx_for((7,), 4))
    assert out["grad_norm"] == pytest.approx(np.linalg.norm(grad), rel=1e-5)


def test_grad_norm_and_snip_match_direct_autograd():
    net, batch = conv_net(), images()
    ref = copy.deepcopy(net).train()
    x, y = batch.first
    grads = torch.autograd.grad(F.cross_entropy(ref(x), y), weighted(ref))
    out = run(net, ["grad_norm", "snip"], batch, ctx_for())
    assert out["grad_norm"] == pytest.approx(sum(float(g.norm()) for g in grads), rel=1e-6)
    snip = sum(float((w.detach() * g).abs().sum())
               for w, g in zip(weighted(ref), grads, strict=True))
    assert out["snip"] == pytest.approx(snip, rel=1e-6)


def test_grasp_closed_form_linear():
    # CE Hessian of a linear classifier: H_W g = 1/N sum_n (diag p_n - p_n p_n^T) G x_n x_n^T
    net, batch = linear_net(), images(1, 9, (7,), 4)
    X, Y, P, W = _linear_parts(net, batch)
    G = (P - Y).T @ X / len(X)
    hg = sum((np.diag(p) - np.outer(p, p)) @ G @ np.outer(xn, xn)
             for xn, p in zip(X, P, strict=True))
    hg /= len(X)
    out = run(net, ["grasp"], batch, ctx_for((7,), 4))
    assert out["grasp"] == pytest.approx(float(-(W * hg).sum()), rel=1e-4)


def test_grasp_matches_hessian_vector_product():
    net, batch = conv_net(), images()
    ref = copy.deepcopy(net).train()
    x, y = batch.first
    ws = weighted(ref)
    g = [t.detach() for t in torch.autograd.grad(F.cross_entropy(ref(x), y), ws)]
    gf = torch.autograd.grad(F.cross_entropy(ref(x), y), ws, create_graph=True)
    hg = torch.autograd.grad(sum((a * b).sum() for a, b in zip(g, gf, strict=True)), ws)
    expected = sum(float((-w.detach() * h).sum()) for w, h in zip(ws, hg, strict=True))
    assert run(net, ["grasp"], batch, ctx_for())["grasp"] == pytest.approx(expected, rel=1e-5)


def _fisher_by_hand(inplace_safe_net: nn.Module, batch: Batch, fan_in: bool = False) -> float:
    """Fisher on conv_net-like Sequentials, with every Conv2d/Linear output kept by hand
    (``fan_in``: each channel counted once per weight of that channel, as released)."""
    net = copy.deepcopy(inplace_safe_net).train()
    x, y = batch.first
    acts = []
    h = x
    for layer in net:
        h = layer(h)
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            h.retain_grad()
            acts.append(h)
    F.cross_entropy(h, y).backward()
    total = 0.0
    layers = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer, a in zip(layers, acts, strict=True):
        prod = (a * a.grad).detach()
        g_nk = prod.flatten(2).sum(2) if prod.dim() > 2 else prod
        weight = layer.weight.shape[1:].numel() if fan_in else 1
        total += float((0.5 * g_nk.pow(2).mean(0)).sum()) * weight
    return total


def test_fisher_by_hand():
    net, batch = conv_net(), images()
    out = run(net, ["fisher"], batch, ctx_for())
    assert out["fisher"] == pytest.approx(_fisher_by_hand(net, batch), rel=1e-5)


def test_fisher_released_weights_channels_by_fan_in():
    net, batch = conv_net(), images()
    out = run(net, ["fisher", "fisher_released"], batch, ctx_for())
    expected = _fisher_by_hand(net, batch, fan_in=True)
    assert out["fisher_released"] == pytest.approx(expected, rel=1e-5)
    assert out["fisher_released"] > 5 * out["fisher"]  # fan-ins here: 27, 54 and 6


def test_fisher_with_inplace_relu_after_conv():
    # an in-place ReLU overwrites the conv output the tap holds: the pass is redone with copies
    def make(inplace: bool) -> nn.Module:
        with seeded(3):
            return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=inplace),
                                 nn.Flatten(), nn.Linear(4 * 36, 5))

    batch = images()
    plain = _fisher_by_hand(make(False), batch)
    out = run(make(True), ["fisher", "grad_norm"], batch, ctx_for())
    assert out["fisher"] == pytest.approx(plain, rel=1e-5)
    assert out["grad_norm"] == run(make(False), ["grad_norm"], batch, ctx_for())["grad_norm"]


def test_synflow_closed_form_two_layer_linear():
    # all-positive weights, ones input: ReLU is the identity and BN is removed (bn="off"), so
    # R = sum |W2| (|W1| 1 + |b1|) + sum |b2|; dR/dW2 = 1 h^T, dR/dW1 = (1^T |W2|)^T 1^T
    with seeded(2):
        net = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))
    W1, b1 = (net[0].weight.detach().double().abs().numpy(),
              net[0].bias.detach().double().abs().numpy())
    W2 = net[3].weight.detach().double().abs().numpy()
    h = W1 @ np.ones(5) + b1
    s = W2.sum(0)
    expected = (W2 * h[None, :]).sum() + (W1 * s[:, None]).sum()
    out = run(net, ["synflow"], None, ProxyContext(input_shape=(5,), num_classes=3))
    assert out["synflow"] == pytest.approx(expected, rel=1e-12)


def test_synflow_spec_and_data_free():
    spec = get_proxy("synflow")
    assert spec.bn == "off" and spec.dtype == torch.float64 and not spec.needs_data
    net = conv_net()
    a = run(net, ["synflow"], None, ctx_for())["synflow"]
    b = run(net, ["synflow"], images(), ctx_for())["synflow"]
    assert a == b and a > 0


def test_gradsign_closed_form_linear():
    # per-sample CE gradient of a linear classifier: (p_n - y_n) x_n^T
    net, batch = linear_net(), images(1, 9, (7,), 4)
    X, Y, P, _ = _linear_parts(net, batch)
    signs = np.sign(np.einsum("nc,nd->ncd", P - Y, X))
    expected = float(np.abs(signs.sum(0)).sum())
    assert run(net, ["gradsign"], batch, ctx_for((7,), 4))["gradsign"] == expected


def test_gradsign_batch1_loop_and_fallback():
    # each sample alone through the net (batch-1 BN statistics), as the reference loop does
    net, batch = conv_net(), images()
    ref = copy.deepcopy(net).train()
    x, y = batch.first
    ws = weighted(ref)
    acc = [torch.zeros_like(w) for w in ws]
    for i in range(len(x)):
        for a, g in zip(acc, torch.autograd.grad(F.cross_entropy(ref(x[i:i + 1]), y[i:i + 1]), ws),
                        strict=True):
            a += g.sign()
    expected = sum(float(a.abs().sum()) for a in acc)
    assert run(net, ["gradsign"], batch, ctx_for())["gradsign"] == expected

    class NoVmap(nn.Module):  # .item() cannot run under vmap: the loop is used instead
        def __init__(self, body: nn.Module) -> None:
            super().__init__()
            self.body = body

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return self.body(t) * (1.0 if t.sum().item() < 1e30 else 0.0)

    assert run(NoVmap(net), ["gradsign"], batch, ctx_for())["gradsign"] == expected


def _zico_numpy(per_batch: list[list[np.ndarray]]) -> float:
    """ZiCo's formula written directly: per layer, ln sum_{std>0} mean|g| / std(g)."""
    total = 0.0
    for layer in range(len(per_batch[0])):
        G = np.stack([b[layer].reshape(-1) for b in per_batch]).astype(np.float64)
        std = np.std(G, axis=0)
        nz = np.nonzero(std)[0]
        s = np.sum(np.mean(np.abs(G), axis=0)[nz] / std[nz])
        if s != 0:
            total += np.log(s)
    return float(total)


def test_zico_formula_on_fixed_gradients():
    rng = np.random.default_rng(0)
    layers = [(4, 3), (5,), (2, 2)]
    per_batch = [[rng.normal(size=s) for s in layers] for _ in range(3)]
    for b in per_batch:
        b[0][0, 0] = 1.5  # zero std: skipped
        b[2][:] = 0.0  # a dead layer adds nothing
    got = gradient.zico_from_gradients([[torch.tensor(g, dtype=torch.float32) for g in b]
                                        for b in per_batch])
    expected = _zico_numpy([[g.astype(np.float32) for g in b] for b in per_batch])
    assert got == pytest.approx(expected, rel=1e-6)
    # two batches: mean|g|/std = (|a|+|b|)/|a-b|, by hand
    a, b = np.array([1.0, -2.0, 3.0]), np.array([3.0, 2.0, 3.0])
    by_hand = math.log((1 + 3) / 2 + (2 + 2) / 4)
    pair = [[torch.tensor(a)], [torch.tensor(b)]]
    assert gradient.zico_from_gradients(pair) == pytest.approx(by_hand, rel=1e-12)


def test_zico_and_accumulated_from_independent_gradients():
    net, batch = conv_net(), images(n_batches=3)
    ref = copy.deepcopy(net).train()
    per_batch = []
    for x, y in batch.batches:
        grads = torch.autograd.grad(F.cross_entropy(ref(x), y), weighted(ref))
        per_batch.append([g.numpy().copy() for g in grads])
    cumulative = [[sum(per_batch[j][k] for j in range(i + 1)) for k in range(len(per_batch[0]))]
                  for i in range(len(per_batch))]
    out = run(net, ["zico", "zico_accumulated"], batch, ctx_for())
    assert out["zico"] == pytest.approx(_zico_numpy(per_batch), rel=1e-5)
    assert out["zico_accumulated"] == pytest.approx(_zico_numpy(cumulative), rel=1e-5)
    assert out["zico"] != out["zico_accumulated"]


@pytest.mark.filterwarnings("ignore:proxy 'zico' gave nan")
def test_zico_needs_two_batches():
    with pytest.warns(ProxyWarning, match="at least 2 batches"):
        out = run(conv_net(), ["zico"], images(n_batches=1), ctx_for())
    assert math.isnan(out["zico"])


# --------------------------------------------------------------------------- sharing


def test_specs():
    for name in SHARED:
        spec = get_proxy(name)
        assert spec.shared == gradient.SHARED_TAG and spec.bn == "train"
        assert spec.dtype == torch.float32 and spec.needs_labels and spec.higher_is_better
    assert get_proxy("gradsign").shared == "" and get_proxy("synflow").shared == ""


def test_together_equals_alone_in_any_order():
    net, batch = conv_net(dropout=0.3), images()  # dropout: passes must be seeded per batch
    alone = {n: run(net, [n], batch, ctx_for())[n] for n in ALL}
    orders = [ALL, ALL[::-1], ["zico_accumulated", "grasp", "fisher", "zico", "snip", "grad_norm"]]
    orders += [list(p) for p in itertools.islice(itertools.permutations(SHARED), 0, 720, 97)]
    for order in orders:
        assert run(net, order, batch, ctx_for()) == {n: alone[n] for n in order}


def test_one_shared_pass():
    calls = []
    net = conv_net()
    net.register_forward_hook(lambda *a: calls.append(1))  # copied into every model copy
    batch = images()
    run(net, ["grad_norm", "snip", "fisher"], batch, ctx_for())
    assert len(calls) == 1
    calls.clear()
    run(net, ["fisher", "zico", "grad_norm", "zico_accumulated", "snip"], batch, ctx_for())
    assert len(calls) == 2  # the first batch once, the second batch once
    calls.clear()
    run(net, ["grasp", "grad_norm"], batch, ctx_for())
    assert len(calls) == 2  # grasp adds one forward (with a double backward)


def test_cache_never_confuses_models_batches_or_weights():
    ctx = ctx_for()
    a, b = conv_net(), conv_net()
    with torch.no_grad():
        for p in b.parameters():
            p.mul_(1.5)
    batch, other = images(), images(seed=1)
    models = {"a": a.train(), "b": b.train()}
    batches = {"batch": batch, "other": other}
    fresh = {(m, bt): gradient.grad_norm(copy.deepcopy(models[m]), batches[bt], ctx_for())
             for m in models for bt in batches}
    for (m, bt), value in fresh.items():  # one cache across models and batches
        assert gradient.grad_norm(models[m], batches[bt], ctx) == value
    with torch.no_grad():  # weights changed in place: recomputed
        weighted(a)[0].mul_(2.0)
    assert gradient.grad_norm(a, batch, ctx) != fresh[("a", "batch")]


def test_determinism_and_seed():
    net, batch = conv_net(dropout=0.5), images()
    first = run(net, ALL, batch, ctx_for(seed=3))
    assert run(net, ALL, batch, ctx_for(seed=3)) == first
    assert run(net, ["snip"], batch, ctx_for(seed=4))["snip"] != first["snip"]  # dropout masks


def test_hooks_removed_when_forward_fails():
    class Boom(nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    net = nn.Sequential(nn.Conv2d(3, 4, 3), Boom())
    with pytest.raises(RuntimeError, match="boom"):
        gradient.fisher(net, images(), ctx_for())
    assert _hook_count(net) == 0


def test_caller_model_untouched():
    net = conv_net()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    for p in weighted(net):
        p.requires_grad_(False)  # frozen weights: the copies still get gradients
    out = run(net, ALL, images(), ctx_for())
    assert all(math.isfinite(v) for v in out.values())
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert all(not p.requires_grad for p in weighted(net))
    assert all(p.grad is None for p in net.parameters())


def test_small_nb201_network():
    from zeronas.spaces import get_space

    sp = get_space("nb201")
    with seeded(0):
        net = sp.to_torch(sp[13714], num_classes=5, C=4, N=1)
    out = run(net, ALL, images(shape=(3, 8, 8)), ctx_for((3, 8, 8)))
    assert all(math.isfinite(v) for v in out.values())
    assert out["synflow"] > 0 and out["gradsign"] > 0 and out["grad_norm"] > 0
