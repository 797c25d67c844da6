"""The TG-NAS learned predictor as a zero-cost proxy: ``tgnas``.

It reads the architecture (``ctx.space``, ``ctx.arch``), not the network: data-free, and
when no other proxy of the call needs the network the runner does not build it
(``needs_network=False``; the model argument is then an empty placeholder). Weights are the
shipped ones not trained on the scored space (leave-one-space-out; see
:func:`zeronas.predictors.tgnas.default_weights`); :func:`tgnas_spec` binds a weight file
instead (the CLI's ``--predictor-weights``). Loaded weights are cached per file.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from zeronas.proxies.base import Batch, ProxyContext, ProxySpec, proxy

REFERENCE = (
    "Qiao, Xu & Huang, TG-NAS: Leveraging Zero-Cost Proxies with Transformer and Graph "
    "Convolution Networks for Efficient NAS, 2024 (github YeQiao/TG-NAS)"
)
_FLAGS: dict[str, Any] = dict(
    reference=REFERENCE,
    needs_data=False,
    needs_weights=False,
    needs_arch=True,
    needs_network=False,
    unit="predicted score (ranking only)",
)


def _describe(weights: str | os.PathLike[str] | None) -> Any:
    def describe(space: Any, network: str | None = None) -> dict[str, Any]:
        from zeronas.predictors.tgnas.predictor import describe_weights

        return {"predictor": describe_weights(space, weights)}

    return describe


def _predict_one(ctx: ProxyContext, weights: str | os.PathLike[str] | None) -> float:
    from zeronas.predictors.tgnas.predictor import load_predictor, resolve_weights

    path, _ = resolve_weights(ctx.space, weights)
    return float(load_predictor(path).predict(ctx.space, [ctx.arch])[0])


@proxy("tgnas", describe=_describe(None), **_FLAGS)
def tgnas(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """TG-NAS learned proxy: a graph convolution network over the architecture's operator
    graph, whose node features are sentence-transformer embeddings of operator descriptions,
    so it scores unseen spaces and operators. Uses the shipped weights not trained on the
    scored space (leave-one-space-out). Higher is better."""
    return _predict_one(ctx, None)


def tgnas_spec(weights: str | os.PathLike[str] | None = None) -> ProxySpec:
    """A ``tgnas`` proxy spec bound to a weight file (``None``: the registered default).

    Pass the returned spec wherever proxy names are accepted (``score_arch(space, arch,
    [tgnas_spec(path)], dataset)``); results are still keyed ``tgnas``.
    """
    from zeronas.proxies.base import get_proxy

    if weights is None:
        return get_proxy("tgnas")
    from zeronas.predictors.tgnas.predictor import load_predictor

    load_predictor(weights)  # a bad path or file fails here, before any scoring
    path = os.fspath(weights)

    def fn(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
        return _predict_one(ctx, path)

    fn.__doc__ = tgnas.__doc__
    return ProxySpec(name="tgnas", fn=fn, describe=_describe(path),
                     description=f"TG-NAS learned proxy with weights {path}", **_FLAGS)
