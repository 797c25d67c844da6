"""score_model's hand-over path (owned/fresh) gives the same numbers as the copying path."""

from __future__ import annotations

import math

import pytest
import torch

from zeronas.proxies import ScoreSettings
from zeronas.proxies.runner import build_network, make_batch, make_context, score_model
from zeronas.spaces import get_space

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|"


@pytest.fixture
def synflow_twin():
    """A second registered proxy with synflow's needs (BN removed), under another name."""
    import dataclasses

    from zeronas.proxies import get_proxy
    from zeronas.proxies.base import _PROXIES

    spec = dataclasses.replace(get_proxy("synflow"), name="_synflow_twin")
    _PROXIES[spec.name] = spec
    yield spec
    _PROXIES.pop(spec.name, None)


@pytest.mark.parametrize(("proxies", "rebuilds"), [
    # meco runs first on the handed-over model, which is restored; synflow (BN removed) last
    (["synflow", "meco"], 0),
    # params reads the pristine model; grad_norm+snip share it, then it is restored; flops
    # reads it again; synflow (BN removed) runs last on it
    (["params", "synflow", "grad_norm", "snip", "flops"], 0),
    # one shared gradient pass on the handed-over model
    (["grad_norm", "snip", "zico"], 0),
    # two proxies that remove BN: the second needs a rebuilt pristine network
    (["synflow", "_synflow_twin"], 1),
])
def test_owned_and_fresh_match_copying(proxies, rebuilds, synflow_twin):
    sp = get_space("nb201")
    arch = sp.from_str(ARCH)
    settings = ScoreSettings(batch_size=8, batches=2)
    batch = make_batch(sp, "cifar10", settings)
    ctx = make_context(sp, "cifar10", settings, arch)

    def build():
        return build_network(sp, arch, "cifar10", settings.seed)

    reference = score_model(build(), proxies, batch, ctx)
    calls = []

    def counted():
        calls.append(1)
        return build()

    handed = score_model(build(), proxies, batch, ctx, owned=True, fresh=counted)
    assert handed.keys() == reference.keys()
    for name in proxies:
        assert math.isclose(handed[name], reference[name], rel_tol=1e-9, abs_tol=0), name
    assert len(calls) == rebuilds


def test_not_owned_leaves_model_unchanged():
    sp = get_space("nb201")
    arch = sp.from_str(ARCH)
    settings = ScoreSettings(batch_size=4, batches=1)
    net = build_network(sp, arch, "cifar10", 0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    score_model(net, ["synflow"], None, make_context(sp, "cifar10", settings, arch),
                fresh=lambda: build_network(sp, arch, "cifar10", 0))
    after = net.state_dict()
    assert all((before[k] == after[k]).all() for k in before)


def test_out_of_memory_is_a_clear_error(monkeypatch):
    from zeronas.proxies import ProxySpec
    from zeronas.proxies.runner import ProxyFailed

    def greedy(model, batch, ctx):
        return float(torch.empty(10**13).sum())  # the CPU allocator refuses 40 TB

    spec = ProxySpec(name="_greedy", fn=greedy, description="allocates too much",
                     reference="test", needs_data=True)
    sp = get_space("nb201")
    arch = sp.from_str(ARCH)
    settings = ScoreSettings(batch_size=4, batches=1)
    net = build_network(sp, arch, "cifar10", 0)
    with pytest.raises(ProxyFailed, match=r"ran out of memory .* batch size 4 .*--batch-size"):
        score_model(net, [spec], make_batch(sp, "cifar10", settings),
                    make_context(sp, "cifar10", settings, arch))


def test_snapshot_restores_in_place_changes_and_replaced_tensors():
    """The fast path (every tensor object still in place) and the fallback (a parameter
    replaced, the dtype changed) both give back the exact state, modes and flags."""
    from zeronas.proxies.runner import _in_dtype, _Snapshot

    sp = get_space("nb201")
    net = build_network(sp, sp.from_str(ARCH), "cifar10", 0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    snap = _Snapshot(net)

    def same() -> bool:
        after = net.state_dict()
        return after.keys() == before.keys() and all(
            after[k].dtype == before[k].dtype and torch.equal(after[k], before[k])
            for k in before)

    with torch.no_grad():  # in place: values, BN statistics, modes, gradients
        for p in net.parameters():
            p.mul_(-2.0)
            p.grad = torch.ones_like(p)
        net(torch.randn(2, 3, 32, 32))
    net.eval()
    assert not same() and snap.restore(net) and same()
    assert net.training and all(p.grad is None for p in net.parameters())

    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    conv.weight = torch.nn.Parameter(torch.zeros_like(conv.weight))  # a new object
    net.double()
    assert snap.restore(net) and same()
    assert _in_dtype(net, torch.float32) is net  # already float32: no walk through .to
    assert _in_dtype(net, torch.float64).stem[0].weight.dtype == torch.float64


def test_snapshot_of_a_model_with_a_shared_module():
    """A module registered under two names is one set of tensors: the snapshot takes it
    (state_dict lists it twice) and the fallback path restores it."""
    from zeronas.proxies.runner import _Snapshot

    lin = torch.nn.Linear(3, 3)
    net = torch.nn.Sequential(lin, torch.nn.ReLU(), lin)
    before = lin.weight.detach().clone()
    snap = _Snapshot(net)
    lin.weight = torch.nn.Parameter(torch.zeros(3, 3))  # replaced: the load_state_dict path
    assert snap.restore(net) and torch.equal(net[0].weight, before) and net[0] is net[2]
