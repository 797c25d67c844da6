"""Contract tests over every registered proxy: the caller's model is unchanged, results are
finite or explicitly NaN, deterministic under a seed, and no hooks are left behind."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zeronas.proxies import Batch, ProxyContext, get_proxy, list_proxies, score_model
from zeronas.proxies.runner import _hook_count, seeded


def _tiny_net() -> nn.Module:
    with seeded(0):
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
        )


def _batch() -> Batch:
    g = torch.Generator().manual_seed(0)
    return Batch(tuple((torch.randn(8, 3, 8, 8, generator=g),
                        torch.randint(0, 10, (8,), generator=g)) for _ in range(2)))


CTX = dict(input_shape=(3, 8, 8), num_classes=10, seed=0)


def _ctx(name: str) -> ProxyContext:
    """Proxies that read the architecture get an NB201 cell as their context."""
    if not get_proxy(name).needs_arch:
        return ProxyContext(**CTX)
    from zeronas.spaces import get_space

    sp = get_space("nb201")
    return ProxyContext(**CTX, space=sp, arch=sp[0], network="cifar10")


@pytest.mark.parametrize("name", list_proxies())
def test_contract(name):
    net = _tiny_net()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    hooks = _hook_count(net)
    rng_state = torch.random.get_rng_state()
    a = score_model(net, [name], _batch(), _ctx(name))[name]
    b = score_model(net, [name], _batch(), _ctx(name))[name]
    assert isinstance(a, float)
    assert math.isfinite(a) or math.isnan(a)
    assert a == b or (math.isnan(a) and math.isnan(b))
    after = net.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert net.training and _hook_count(net) == hooks
    assert all(p.grad is None for p in net.parameters())
    assert torch.equal(rng_state, torch.random.get_rng_state())  # global RNG untouched


@pytest.mark.parametrize("name", list_proxies())
def test_spec_is_documented(name):
    spec = get_proxy(name)
    assert spec.description and spec.reference
    assert spec.fn.__doc__ and len(spec.fn.__doc__) > 40


def test_needs_labels_error():
    label_proxies = [n for n in list_proxies() if get_proxy(n).needs_labels]
    if not label_proxies:
        pytest.skip("no registered proxy needs labels yet")
    unlabeled = Batch(((torch.randn(4, 3, 8, 8), None),))
    with pytest.raises(ValueError, match="needs labels"):
        score_model(_tiny_net(), label_proxies[:1], unlabeled, ProxyContext(**CTX))


def test_nan_is_reported_not_replaced():
    from zeronas.proxies import ProxySpec, ProxyWarning

    spec = ProxySpec("always_nan", lambda m, b, c: float("inf"), "returns inf", "test",
                     needs_data=False)
    with pytest.warns(ProxyWarning, match="reported as NaN"):
        out = score_model(_tiny_net(), [spec], None, ProxyContext(**CTX))
    assert math.isnan(out["always_nan"])


def test_leftover_hook_is_caught():
    from zeronas.proxies import ProxySpec

    def leaky(model, batch, ctx):
        model.register_forward_hook(lambda *a: None)
        return 1.0

    spec = ProxySpec("leaky", leaky, "leaks a hook", "test", needs_data=False)
    with pytest.raises(RuntimeError, match="left hooks"):
        score_model(_tiny_net(), [spec], None, ProxyContext(**CTX))


def test_structural_values_by_hand():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    out = score_model(net, ["params", "flops"], None, ProxyContext(**CTX))
    assert out["params"] == pytest.approx((192 * 10 + 10) / 1e6)
    assert out["flops"] == pytest.approx((192 * 10 + 10) / 1e6)


class _TupleOut(nn.Module):
    """Returns (features, logits) like the original NB201 code: not plain logits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _tiny_net()

    def forward(self, x):
        return x.mean(), self.body(x)


@pytest.mark.parametrize("name", ["snip", "grad_norm", "zico", "jacob_cov"])
def test_non_logit_output_is_a_clear_error(name):
    from zeronas.errors import ZeronasError

    with pytest.raises(ZeronasError, match=f"proxy '{name}' (could not run|needs a model)"):
        score_model(_TupleOut(), [name], _batch(), ProxyContext(**CTX))
