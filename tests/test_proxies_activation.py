"""Activation/Jacobian/NTK proxies: each checked against a value worked out independently
(by hand, or from the definition with plain torch/numpy and no hooks) on a tiny network."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import zeronas.proxies.activation as act
from zeronas.errors import ZeronasError
from zeronas.proxies import Batch, ProxyContext, get_proxy, score_model
from zeronas.proxies.runner import _hook_count, seeded

NAMES = ["jacob_cov", "naswot", "zen", "ntk", "linear_regions", "meco", "swap"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add synchronisation, which is very slow when the
    machine is busy (e.g. other test processes). Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _ctx(shape: tuple[int, ...] = (3, 8, 8), seed: int = 0) -> ProxyContext:
    return ProxyContext(input_shape=shape, num_classes=3, seed=seed)


def _batch(x: torch.Tensor) -> Batch:
    return Batch(((x, None),))


def _images(n: int = 8, shape: tuple[int, ...] = (3, 8, 8), seed: int = 0) -> torch.Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


def _conv_net() -> nn.Sequential:
    with seeded(0):
        return nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3),
        )


def _codes_net(conv: bool) -> nn.Sequential:
    """Three hidden units with pre-activations (a, b, a + b): Linear or 1x1 conv, then ReLU."""
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    if conv:
        first: nn.Module = nn.Conv2d(2, 3, 1, bias=False)
        first.weight.data = w.reshape(3, 2, 1, 1).clone()
        return nn.Sequential(first, nn.ReLU(), nn.Flatten(), nn.Linear(3, 1))
    first = nn.Linear(2, 3, bias=False)
    first.weight.data = w.clone()
    return nn.Sequential(first, nn.ReLU(), nn.Linear(3, 1))


# --------------------------------------------------------------------------- specs


def test_specs():
    for name in NAMES:
        spec = get_proxy(name)
        assert not spec.needs_labels and spec.bn == "train" and spec.dtype == torch.float32
        assert spec.reference and spec.fn.__doc__
        assert spec.higher_is_better == (name != "ntk")
        assert spec.needs_data == (name != "zen")
    shared = {n for n in NAMES if get_proxy(n).shared == act.SHARED_TAG}
    assert shared == {"naswot", "linear_regions", "swap"}


# --------------------------------------------------------------------------- NASWOT


def test_naswot_by_hand():
    # pre-activations (a, b, a + b); codes: (1,1) -> 111, (1,-1) -> 100, (-1,2) -> 011
    # K_ij = 3 - hamming(i, j) = [[3,1,2],[1,3,0],[2,0,3]], det K = 27 - 3 - 12 = 12
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 2.0]])
    out = score_model(_codes_net(conv=False), ["naswot"], _batch(x), _ctx((2,)))
    assert out["naswot"] == pytest.approx(math.log(12.0), abs=1e-12)


def test_naswot_matches_hook_free_computation():
    net, x = _conv_net(), _images(8)
    ref = _conv_net().train()
    h1 = ref[0:3](x)
    h2 = ref[3:6](h1)
    codes = torch.cat([(h > 0).reshape(8, -1) for h in (h1, h2)], 1).double().numpy()
    k = codes @ codes.T + (1 - codes) @ (1 - codes).T
    out = score_model(net, ["naswot"], _batch(x), _ctx())
    assert out["naswot"] == pytest.approx(np.linalg.slogdet(k)[1], rel=1e-12)


def test_naswot_identical_images_is_nan():
    x = _images(4)
    x[1] = x[0]
    with pytest.warns(UserWarning, match="NaN"):
        out = score_model(_conv_net(), ["naswot"], _batch(x), _ctx())
    assert math.isnan(out["naswot"])


def test_relu_proxies_need_relu_modules():
    class FunctionalRelu(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.fc(x))

    for name in ("naswot", "linear_regions", "swap"):
        with pytest.raises(ZeronasError, match="no ReLU modules"):
            score_model(FunctionalRelu(), [name], _batch(torch.randn(4, 2)), _ctx((2,)))
    # ReLUs on 2-D inputs only: NASWOT counts them, the feature-map proxies refuse
    for name in ("linear_regions", "swap"):
        with pytest.raises(ZeronasError, match="4-D"):
            score_model(_codes_net(conv=False), [name], _batch(torch.randn(4, 2)), _ctx((2,)))


# --------------------------------------------------------------------------- TE-NAS regions, SWAP


def test_linear_regions_and_swap_by_hand():
    # codes per image: 111, 100, 111, 000, 100, 011 -> 4 distinct images (regions);
    # per unit over the 6 images: u1 = 111010, u2 = 101001, u3 = 101001 -> 2 distinct
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [2.0, 3.0], [-1.0, -1.0], [3.0, -5.0],
                      [-1.0, 2.0]]).reshape(6, 2, 1, 1)
    out = score_model(_codes_net(conv=True), ["linear_regions", "swap"], _batch(x), _ctx((2, 1, 1)))
    assert out == {"linear_regions": 4.0, "swap": 2.0}
    # two units with the same pattern over the images count once in SWAP
    y = torch.tensor([[1.0, 1.0], [-1.0, -1.0]]).reshape(2, 2, 1, 1)  # every unit: 10
    out = score_model(_codes_net(conv=True), ["linear_regions", "swap"], _batch(y), _ctx((2, 1, 1)))
    assert out == {"linear_regions": 2.0, "swap": 1.0}


def test_regions_and_swap_match_hook_free_computation():
    net, x = _conv_net(), _images(16, (3, 4, 4))
    ref = _conv_net().train()
    h1 = ref[0:3](x)
    h2 = ref[3:6](h1)
    codes = torch.cat([(h > 0).reshape(16, -1) for h in (h1, h2)], 1).numpy()
    regions = len({row.tobytes() for row in codes})
    units = len({col.tobytes() for col in codes.T.copy()})
    out = score_model(net, ["linear_regions", "swap"], _batch(x), _ctx((3, 4, 4)))
    assert out == {"linear_regions": float(regions), "swap": float(units)}


def test_shared_pass_same_values_alone_or_together():
    net = _conv_net()
    b1, b2 = _batch(_images(8, seed=1)), _batch(_images(8, seed=2))
    together = score_model(net, ["naswot", "linear_regions", "swap"], b1, _ctx())
    alone = {n: score_model(net, [n], b1, _ctx())[n] for n in together}
    assert together == alone
    other = score_model(net, ["swap", "naswot"], b2, _ctx())
    assert other["naswot"] != together["naswot"]


# --------------------------------------------------------------------------- jacob_cov


def test_jacob_cov_matches_autograd_jacobian():
    net, x = _conv_net(), _images(6, (3, 4, 4))
    ref = _conv_net().train()
    full = torch.autograd.functional.jacobian(ref, x)  # (B, classes, B, 3, 4, 4)
    jac = full.sum(dim=(0, 1)).reshape(6, -1).double().numpy()  # d sum(out) / d x_b
    corr = np.corrcoef(jac)
    v = np.real(np.linalg.eig(corr)[0])
    expected = -np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5))
    out = score_model(net, ["jacob_cov"], _batch(x), _ctx((3, 4, 4)))
    assert out["jacob_cov"] == pytest.approx(expected, rel=1e-6)


def test_jacob_cov_score_formula():
    # orthogonal centred rows: correlation matrix = identity, v = 1
    jac = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])
    k = 1e-5
    assert act.jacob_cov_score(jac) == pytest.approx(-2 * (math.log(1 + k) + 1 / (1 + k)))
    assert math.isnan(act.jacob_cov_score(np.array([[1.0, 1.0], [0.0, 1.0]])))  # constant row


# --------------------------------------------------------------------------- NTK


def test_ntk_condition_number_from_explicit_jacobian():
    with seeded(3):
        net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    x = _images(5, (3,), seed=4)
    w1, b1 = net[0].weight.detach().double(), net[0].bias.detach().double()
    w2 = net[2].weight.detach().double()
    xd = x.double()
    rows = []
    for i in range(5):
        h = w1 @ xd[i] + b1
        on = (h > 0).double()
        # f_i = sum_k (w2 relu(h))_k + const: d/dw2[k, j] = relu(h_j); d/dw1[j, :] = s_j on_j x
        s = w2.sum(dim=0)
        g_w1 = torch.outer(s * on, xd[i])
        g_w2 = torch.relu(h).expand(2, 8)
        rows.append(torch.cat([g_w1.reshape(-1), g_w2.reshape(-1)]))  # weights only, no biases
    jac = torch.stack(rows).numpy()
    ev = np.linalg.eigvalsh(jac @ jac.T)
    out = score_model(net, ["ntk"], _batch(x), _ctx((3,)))
    assert out["ntk"] == pytest.approx(ev[-1] / ev[0], rel=1e-6)


def test_ntk_uses_first_16_images_and_matches_per_image_grads():
    net, x = _conv_net(), _images(20, (3, 4, 4))
    assert act.NTK_MAX_SAMPLES == 16
    a = score_model(net, ["ntk"], _batch(x), _ctx((3, 4, 4)))["ntk"]
    b = score_model(net, ["ntk"], _batch(x[:16]), _ctx((3, 4, 4)))["ntk"]
    assert a == b
    # on a conv + BN net (train mode: images interact through the batch statistics)
    model = _conv_net().train()
    params = act._weight_params(model)
    s = model(x[:4]).sum(dim=1)
    loop = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(s[i], params,
                                                                   retain_graph=True)])
            for i in range(4)]
    g = torch.stack(loop).double()
    theta = act.empirical_ntk(_conv_net().train(), x[:4])
    assert torch.allclose(theta, g @ g.T, rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------- MeCo


def test_meco_matches_hook_free_computation():
    with seeded(0):
        net = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()),
            nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3),
        )
    x = _images(4)
    ref = net.train()
    one = x[:1]
    c1 = ref[0][0](one)
    b1 = ref[0][1](c1)
    r1 = ref[0][2](b1)
    c2 = ref[1](r1)
    r2 = ref[2](c2)

    def min_eig(t: torch.Tensor) -> float:
        corr = np.corrcoef(t.detach()[0].reshape(t.shape[1], -1).double().numpy())
        corr = np.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
        return float(np.linalg.eigvalsh(corr)[0])

    # every module's output counts: the inner Sequential's (= r1) again
    expected = sum(min_eig(t) for t in (c1, b1, r1, r1, c2, r2))
    out = score_model(net, ["meco"], _batch(x), _ctx())
    assert out["meco"] == pytest.approx(expected, rel=1e-9, abs=1e-9)


# --------------------------------------------------------------------------- Zen


def test_zen_from_definition():
    ctx = _ctx((3, 6, 6), seed=5)
    net = _conv_net()
    got = score_model(net, ["zen"], None, ctx)["zen"]  # data-free: no batch needed

    ref = _conv_net().train()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in (ref[0], ref[3], ref[8]):  # conv, conv, linear in modules() order
            m.weight.copy_(torch.randn(m.weight.shape, generator=g))
        ref[8].bias.zero_()
        x = torch.randn(64, 3, 6, 6, generator=g)
        e = torch.randn(64, 3, 6, 6, generator=g)
        f = ref[0:6]
        a1 = ref[0](x)
        a2 = ref[3](ref[2](ref[1](a1)))
        log_bn = sum(0.5 * math.log(a.double().var(dim=(0, 2, 3)).mean().item())
                     for a in (a1, a2))
        delta = (f(x) - f(x + 0.01 * e)).abs().double().sum(dim=(1, 2, 3)).mean().item()
    assert got == pytest.approx(math.log(delta) + log_bn, rel=1e-6)
    assert score_model(net, ["zen"], None, _ctx((3, 6, 6), seed=6))["zen"] != got


def test_zen_released_reads_running_variance():
    ctx = _ctx((3, 6, 6), seed=5)
    got = score_model(_conv_net(), ["zen_released"], None, ctx)["zen_released"]
    ref = _conv_net().train()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in (ref[0], ref[3], ref[8]):
            m.weight.copy_(torch.randn(m.weight.shape, generator=g))
        ref[8].bias.zero_()
        x = torch.randn(64, 3, 6, 6, generator=g)
        e = torch.randn(64, 3, 6, 6, generator=g)
        f = ref[0:6]
        clean, mixed = f(x), f(x + 0.01 * e)  # train mode: both update running_var
        delta = (clean - mixed).abs().double().sum(dim=(1, 2, 3)).mean().item()
        # by hand: running_var = 0.81 + 0.09 var(first) + 0.1 var(second), per channel
        a1, b1 = ref[0](x), ref[0](x + 0.01 * e)
    log_bn = sum(0.5 * math.log(bn.running_var.double().mean().item()) for bn in (ref[1], ref[4]))
    v1 = a1.double().var(dim=(0, 2, 3))
    w1 = b1.double().var(dim=(0, 2, 3))
    assert torch.allclose(ref[1].running_var.double(), 0.81 + 0.09 * v1 + 0.1 * w1, rtol=1e-5)
    assert got == pytest.approx(math.log(delta) + log_bn, rel=1e-6)
    # a dead branch: the batch variance of an all-zero input is 0 (zen -> NaN), the running
    # variance is not
    class DeadBranch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.side = nn.BatchNorm2d(4)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.bn(self.conv(x)))
            h = h + self.side(h * 0)  # what an NB201 edge fed only by `none` looks like
            return self.fc(self.pool(h).flatten(1))

    with pytest.warns(UserWarning, match="zen"):
        assert math.isnan(score_model(DeadBranch(), ["zen"], None, ctx)["zen"])
    assert math.isfinite(score_model(DeadBranch(), ["zen_released"], None, ctx)["zen_released"])


def test_pre_gap_feature_rules():
    class FunctionalGap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.se_pool = nn.AdaptiveAvgPool2d(1)  # used inside the body (SE-like)
            self.conv2 = nn.Conv2d(4, 4, 1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.conv(x)
            h = h * self.se_pool(h)
            h = self.conv2(h)
            return self.fc(h.mean(dim=(2, 3)))

    model, x = FunctionalGap(), _images(2, (3, 4, 4))
    with torch.no_grad():
        h = model.conv(x)
        expected = model.conv2(h * h.mean(dim=(2, 3), keepdim=True))
    got = act.pre_gap_features(model, x)
    assert torch.allclose(got.feature, expected, atol=1e-6)
    net = _conv_net().train()
    with torch.no_grad():
        got = act.pre_gap_features(net, x)
        assert torch.allclose(got.feature, net[0:6](x), atol=1e-6)


# --------------------------------------------------------------------------- contract


class _Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom inside forward")


@pytest.mark.parametrize("name", NAMES)
def test_hooks_removed_when_forward_raises(name):
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), _Boom())
    net.train()
    spec = get_proxy(name)
    with pytest.raises(RuntimeError, match="boom"):
        spec.fn(net, _batch(_images(4)), _ctx())
    assert _hook_count(net) == 0


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_model_untouched(name):
    net, batch = _conv_net(), _batch(_images(8))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    a = score_model(net, [name], batch, _ctx())[name]
    b = score_model(net, [name], batch, _ctx())[name]
    assert a == b and math.isfinite(a)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_small_nb201_network_all_proxies(nb201):
    with seeded(0):
        net = nb201.to_torch(nb201[13714], C=4, N=1)
    out = score_model(net, NAMES, _batch(_images(16, (3, 8, 8))), _ctx())
    assert all(math.isfinite(v) for v in out.values()), out
    assert out["linear_regions"] <= 16 and out["ntk"] >= 1.0


def test_jacob_cov_needs_tensor_output():
    class TupleOut(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, self.fc(x)

    with pytest.raises(ZeronasError, match="one tensor of logits"):
        score_model(TupleOut(), ["jacob_cov"], _batch(torch.randn(4, 2)), _ctx((2,)))


@pytest.mark.parametrize("popcount", [True, False])
def test_hamming_both_paths(monkeypatch, popcount):
    bits = np.random.default_rng(0).random((5, 77)) > 0.5
    expected = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    if not popcount:
        monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert np.array_equal(act._hamming(np.packbits(bits, axis=1)), expected)


def test_pre_gap_ignores_1x1_head_after_pooling():
    with seeded(0):
        net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                            nn.Conv2d(4, 3, 1), nn.Flatten())
    x = _images(2, (3, 4, 4))
    with torch.no_grad():
        expected = net[0:2](x)
    assert torch.allclose(act.pre_gap_features(net, x).feature, expected)


@pytest.mark.parametrize("width", [0, 1, 8, 9, 30])
def test_unique_rows(width):
    rng = np.random.default_rng(width)
    rows = rng.integers(0, 2, size=(40, width)).astype(np.uint8)
    expected = len({r.tobytes() for r in rows})
    assert act._unique_rows(rows) == expected
    assert act._unique_rows(rows[:0]) == 0


def test_meco_single_image_bn1d_error_is_clear():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4), nn.BatchNorm1d(4), nn.ReLU())
    with pytest.raises(ZeronasError, match="ONE image"):
        score_model(net, ["meco"], _batch(_images(4)), _ctx())
