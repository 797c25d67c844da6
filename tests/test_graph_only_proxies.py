"""Proxies of the architecture graph alone (``needs_network=False``, e.g. ``tgnas``): the
runner never builds their network, and their values do not change for it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zeronas.errors import ZeronasError
from zeronas.predictors.tgnas import predict
from zeronas.proxies import ScoreSettings, get_proxy, score_arch
from zeronas.proxies.base import ProxySpec
from zeronas.proxies.runner import NoNetwork, network_for_proxies
from zeronas.spaces import get_space


def _archs(n: int = 6) -> list:
    sp = get_space("nb201")
    return [sp.sample(np.random.default_rng(10 + i)) for i in range(n)]


def test_network_for_proxies_builds_only_what_is_read():
    sp, arch = get_space("nb201"), _archs(1)[0]
    tgnas, params, synflow = (get_proxy(n) for n in ("tgnas", "params", "synflow"))
    assert isinstance(network_for_proxies([tgnas], sp, arch, "cifar10", 0), NoNetwork)
    meta = network_for_proxies([tgnas, params], sp, arch, "cifar10", 0)
    assert all(p.is_meta for p in meta.parameters())
    for real in (network_for_proxies([synflow], sp, arch, "cifar10", 0),
                 network_for_proxies([tgnas], sp, arch, "cifar10", 0, weights=True)):
        assert not any(p.is_meta for p in real.parameters())
    with pytest.raises(ZeronasError, match="needs_network=False but ran the model"):
        NoNetwork()(torch.zeros(1))


def test_graph_only_proxies_never_build_the_network(monkeypatch, data_dir, tmp_path):
    from zeronas.bench.correlate import correlate
    from zeronas.bench.data import parse_data
    from zeronas.execution.store import ScoreStore
    from zeronas.search.run import run_search

    sp = get_space("nb201")
    archs = _archs()
    want = predict(sp, archs)

    built = []
    original = type(sp).network_for

    def counting(self, *args, **kwargs):
        built.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(sp), "network_for", counting)
    got = [score_arch(sp, a, ["tgnas"], "cifar10")["tgnas"] for a in archs]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert built == []
    settings = ScoreSettings(seed=0, data=parse_data("synthetic"))
    with ScoreStore(tmp_path / "s.sqlite") as store:
        out = correlate(sp, "cifar10", ["tgnas"], 20, 0, settings, store, baseline_sample=1)
    # 20 scored without a network; one built to time the baseline forward+backward
    assert np.isfinite(out.summary["results"]["tgnas"]["spearman"]) and len(built) == 1
    built.clear()
    res = run_search("nb201", "tgnas", "random", 8, 0, settings, store=None)
    # eight candidates scored without a network; one built to report the winner's cost
    assert res.evaluated == 8 and built == [sp.from_str(res.best["arch"])]


def test_needs_network_false_is_only_for_graph_proxies():
    fn = get_proxy("tgnas").fn
    for bad in ({"needs_data": True}, {"needs_weights": True}, {"needs_arch": False}):
        flags = {"needs_data": False, "needs_weights": False, "needs_arch": True, **bad}
        with pytest.raises(ZeronasError, match="needs_network=False is for proxies"):
            ProxySpec(name="x", fn=fn, description="", reference="", needs_network=False,
                      **flags)
