"""Gradient-based zero-cost proxies: grad_norm, snip, grasp, fisher, synflow, gradsign, ZiCo.

All of them read the gradients of the weights of ``nn.Conv2d`` and ``nn.Linear`` layers (the
layers the reference implementations use), visited in ``model.modules()`` order.

**Shared pass.** ``grad_norm``, ``snip``, ``fisher``, ``grasp``, ``zico`` and
``zico_accumulated`` all start from the same thing: the weight gradients of ``ctx.loss``
(cross-entropy) on the first batch, with BN in train mode. They carry the same ``shared``
tag (:data:`SHARED_TAG`), so the runner gives them one model copy, and the first of them to
run computes that pass once (with the per-channel Fisher terms recorded on the way) and keeps
it in ``ctx.cache``. The others only add what is theirs: GraSP one forward and a double
backward, ZiCo the remaining batches. Gradients are taken with :func:`torch.autograd.grad`,
never accumulated into ``.grad``, and every pass is seeded from ``ctx.seed`` and the batch
index, so the value of a proxy does not depend on which other proxies were requested or in
which order (BN running statistics change with each forward, but in train mode they are not
read).

Cache entries are keyed by ``id(model)`` and checked against the model object itself (a weak
reference), the batch tensors and the weights' version counters, so an entry can never be
reused for another copy, another batch or changed weights.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from zeronas.proxies.base import Batch, ProxyContext, proxy

SHARED_TAG = "ce_grad"
"""The ``shared`` tag of the proxies that reuse the first-batch cross-entropy gradients."""

_ZC = "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 " \
      "(SamsungLabs/zero-cost-nas)"

Grads = list[torch.Tensor | None]


# --------------------------------------------------------------------------- helpers


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """The ``nn.Conv2d`` and ``nn.Linear`` layers of ``model`` in ``modules()`` order."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _weights(model: nn.Module) -> list[torch.Tensor]:
    ws = [m.weight for m in weighted_layers(model)]
    for w in ws:  # the model is a private copy: frozen weights still get a gradient
        if not w.requires_grad:
            w.requires_grad_(True)
    return ws


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG inside the block only (dropout masks of a pass)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _grad(out: torch.Tensor, inputs: Sequence[torch.Tensor], **kwargs: Any) -> Grads:
    """``torch.autograd.grad`` that tolerates an output with no graph (no weights used)."""
    if not inputs:
        return []
    if not out.requires_grad:
        return [None] * len(inputs)
    return list(torch.autograd.grad(out, list(inputs), allow_unused=True, **kwargs))


def _labels(y: torch.Tensor | None) -> torch.Tensor:
    if y is None:  # the runner rejects unlabeled data first (needs_labels=True)
        raise ValueError("this proxy needs labels, but the batch has none")
    return y


def _sum(values: Iterator[torch.Tensor]) -> float:
    total = 0.0
    for v in values:
        total += float(v)
    return total


# --------------------------------------------------------------------------- the shared pass


@dataclass
class _FirstPass:
    """What the shared first-batch pass leaves for the proxies of the group."""

    weights: list[torch.Tensor]
    grads: Grads  # dL/dw of each weighted layer (None when the layer is unused)
    fisher: list[torch.Tensor | None]  # per-channel Fisher terms of each layer
    fisher_valid: bool  # False when an activation was modified in place after the tap


class _FisherTaps:
    """Forward hooks on Conv2d/Linear that record, in the backward pass, the per-channel
    Fisher term ``0.5 * mean_n (sum_spatial act * dL/dact)^2`` of each layer output.

    ``act`` is the layer output itself (not a copy, for speed) unless ``clone`` is set; if a
    later in-place op changes it, ``valid`` becomes False and the caller redoes the pass with
    ``clone=True``. Use as a context manager: the hooks are removed on exit, always.
    """

    def __init__(self, layers: Sequence[nn.Module], clone: bool = False) -> None:
        self.layers = list(layers)
        self.clone = clone
        self.valid = True
        self.values: list[torch.Tensor | None] = [None] * len(self.layers)
        self._handles: list[Any] = []

    def __enter__(self) -> _FisherTaps:
        try:
            for i, layer in enumerate(self.layers):
                self._handles.append(layer.register_forward_hook(self._forward_hook(i)))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _forward_hook(self, index: int) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, out: Any) -> None:
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                return
            act = out.detach().clone() if self.clone else out.detach()
            version = act._version

            def tensor_hook(grad: torch.Tensor) -> None:
                if act._version != version:
                    self.valid = False
                    return
                self._add(index, act, grad.detach())

            out.register_hook(tensor_hook)  # lives on this graph only: gone with it

        return hook

    def _add(self, index: int, act: torch.Tensor, grad: torch.Tensor) -> None:
        prod = act * grad
        if isinstance(self.layers[index], nn.Linear):
            # features are the last dim; any middle dims (tokens) are summed like space
            g_nk = prod.reshape(prod.shape[0], -1, prod.shape[-1]).sum(1)
        else:
            g_nk = prod.flatten(2).sum(2) if prod.dim() > 2 else prod
        term = g_nk.pow(2).mean(0).mul(0.5)
        prev = self.values[index]
        self.values[index] = term if prev is None else prev + term


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


def _cache_get(ctx: ProxyContext, name: str, model: nn.Module, batch: Batch) -> Any:
    entry = ctx.cache.get(f"zeronas.gradient.{name}:{id(model)}")
    if entry is None:
        return None
    ref, batches, versions, value = entry
    if ref() is not model or versions != _versions(model):
        return None
    if len(batches) != len(batch.batches) or not all(
        _same(x0, x1) and _same(y0, y1)
        for (x0, y0), (x1, y1) in zip(batches, batch.batches, strict=True)
    ):
        return None
    return value


def _cache_put(ctx: ProxyContext, name: str, model: nn.Module, batch: Batch, value: Any) -> None:
    ctx.cache[f"zeronas.gradient.{name}:{id(model)}"] = (
        weakref.ref(model), batch.batches, _versions(model), value,
    )


def _versions(model: nn.Module) -> tuple[int, ...]:
    return tuple(m.weight._version for m in weighted_layers(model))


def _batch_grads(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: ProxyContext, index: int,
    weights: list[torch.Tensor], taps: _FisherTaps | None = None,
) -> Grads:
    """Weight gradients of ``ctx.loss`` on one batch (the RNG seeded with seed + index)."""
    with _seeded(ctx.seed + index):
        if taps is None:
            loss = ctx.loss(model(x), y)
            return _grad(loss, weights)
        with taps:
            loss = ctx.loss(model(x), y)
            return _grad(loss, weights)


def _first_pass(model: nn.Module, batch: Batch, ctx: ProxyContext) -> _FirstPass:
    """The shared pass: first-batch weight gradients and Fisher terms (cached per call)."""
    cached = _cache_get(ctx, "first", model, batch)
    if cached is not None:
        return cached["pass"]
    x, y = batch.first
    weights = _weights(model)
    taps = _FisherTaps(weighted_layers(model))
    grads = [None if g is None else g.detach()
             for g in _batch_grads(model, x, _labels(y), ctx, 0, weights, taps)]
    result = _FirstPass(weights, grads, taps.values, taps.valid)
    _cache_put(ctx, "first", model, batch, {"pass": result})
    return result


def _batch_gradients(model: nn.Module, batch: Batch, ctx: ProxyContext) -> list[Grads]:
    """Independent weight gradients of every batch of ``batch`` (one forward/backward each,
    nothing accumulated between them); the first comes from the shared pass."""
    cached = _cache_get(ctx, "batches", model, batch)
    if cached is not None:
        return cached["grads"]
    first = _first_pass(model, batch, ctx)
    out: list[Grads] = [first.grads]
    for i, (x, y) in enumerate(batch.batches[1:], start=1):
        grads = _batch_grads(model, x, _labels(y), ctx, i, first.weights)
        out.append([None if g is None else g.detach() for g in grads])
    _cache_put(ctx, "batches", model, batch, {"grads": out})
    return out


# --------------------------------------------------------------------------- proxies


@proxy(
    "grad_norm",
    reference=_ZC,
    needs_data=True,
    needs_labels=True,
    bn="train",
    dtype=torch.float32,
    unit="sum of per-layer L2 norms",
    shared=SHARED_TAG,
)
def grad_norm(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Sum over Conv2d/Linear layers of the L2 norm of the layer's weight gradient of
    cross-entropy on the first batch (BN in train mode).

    Abdelfattah et al., ICLR 2021 (``grad_norm`` in SamsungLabs/zero-cost-nas). Higher is
    better in their ranking (larger gradients: the network trains faster at first)."""
    fp = _first_pass(model, batch, ctx)
    return _sum(g.norm() for g in fp.grads if g is not None)


@proxy(
    "snip",
    reference="Lee et al., SNIP, ICLR 2019; zero-cost form of " + _ZC,
    needs_data=True,
    needs_labels=True,
    bn="train",
    dtype=torch.float32,
    unit="sum |w * dL/dw|",
    shared=SHARED_TAG,
)
def snip(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """SNIP saliency summed over the network: sum over Conv2d/Linear weights of
    ``|w * dL/dw|``, L the cross-entropy on the first batch (BN in train mode).

    Lee et al., ICLR 2019, as a zero-cost proxy in Abdelfattah et al., ICLR 2021. Their code
    takes the gradient with respect to a multiplicative all-ones mask, which equals
    ``w * dL/dw``; here it is computed directly (no mask, no patched forward). Higher is
    better."""
    fp = _first_pass(model, batch, ctx)
    return _sum((w.detach() * g).abs().sum() for w, g in zip(fp.weights, fp.grads, strict=True)
                if g is not None)


@proxy(
    "grasp",
    reference="Wang et al., GraSP, ICLR 2020; zero-cost form and sign of " + _ZC,
    needs_data=True,
    needs_labels=True,
    bn="train",
    dtype=torch.float32,
    unit="sum -w * Hg",
    shared=SHARED_TAG,
)
def grasp(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """GraSP: sum over Conv2d/Linear weights of ``-w * (H g)``, with g the weight gradient of
    cross-entropy on the first batch (shared pass) and ``H g`` the Hessian-gradient product,
    obtained by differentiating ``sum(stop_grad(g) * dL/dw)`` (a second forward with
    ``create_graph`` and a double backward). Temperature 1, BN in train mode.

    Wang et al., ICLR 2020, as a zero-cost proxy in Abdelfattah et al., ICLR 2021, whose sign
    is kept: they report accuracy correlating with ``-w * Hg``, so higher is better."""
    fp = _first_pass(model, batch, ctx)
    x, y = batch.first
    with _seeded(ctx.seed):
        loss = ctx.loss(model(x), _labels(y))
        grad_f = _grad(loss, fp.weights, create_graph=True)
        z: torch.Tensor | None = None
        for gw, gf in zip(fp.grads, grad_f, strict=True):
            if gw is not None and gf is not None:
                term = (gw * gf).sum()
                z = term if z is None else z + term
        if z is None:
            return 0.0
        hg = _grad(z, fp.weights)
    return _sum((-w.detach() * h).sum() for w, h in zip(fp.weights, hg, strict=True)
                if h is not None)


@proxy(
    "fisher",
    reference="Turner et al., BlockSwap, ICLR 2020; Theis et al. 2018; zero-cost form of "
    + _ZC,
    needs_data=True,
    needs_labels=True,
    bn="train",
    dtype=torch.float32,
    unit="sum of per-channel Fisher terms",
    shared=SHARED_TAG,
)
def fisher(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Fisher information summed over channels: for the output ``a`` of every Conv2d/Linear
    layer (as zero-cost-nas hooks it: the layer output, before BN and activation) and its
    gradient ``dL/da`` for cross-entropy on the first batch, each channel k contributes
    ``0.5 * mean_n (sum_spatial a * dL/da)^2``; the score sums channels and layers.

    Theis et al. 2018 / Turner et al., ICLR 2020, as a zero-cost proxy in Abdelfattah et al.,
    ICLR 2021. Note their code then broadcasts each channel's value over the channel's
    weights before summing, i.e. their total weights channel k by its fan-in
    ``weight[k].numel()`` (that is ``fisher_released``); this proxy is the plain sum over
    channels. Higher is better."""
    return _sum(v.abs().sum() for v in _fisher_channels(model, batch, ctx) if v is not None)


def _fisher_channels(model: nn.Module, batch: Batch, ctx: ProxyContext
                     ) -> list[torch.Tensor | None]:
    """Per-channel Fisher terms of every Conv2d/Linear layer (``weighted_layers`` order)."""
    fp = _first_pass(model, batch, ctx)
    if fp.fisher_valid:
        return list(fp.fisher)
    # an activation was changed in place: redo the pass with copied activations
    x, y = batch.first
    taps = _FisherTaps(weighted_layers(model), clone=True)
    _batch_grads(model, x, _labels(y), ctx, 0, fp.weights, taps)
    return list(taps.values)


@proxy(
    "fisher_released",
    reference="Abdelfattah et al., ICLR 2021, as released (SamsungLabs/zero-cost-nas, "
    "measures/fisher.py: per-channel values broadcast over the channel's weights)",
    needs_data=True,
    needs_labels=True,
    bn="train",
    dtype=torch.float32,
    unit="sum of per-weight Fisher terms",
    shared=SHARED_TAG,
)
def fisher_released(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Fisher as the released zero-cost code sums it: the per-channel terms of ``fisher``,
    each counted once per weight of its output channel, i.e. channel k of a layer weighted by
    its fan-in ``weight[k].numel()`` (in_channels / groups x kernel area). Wide-input layers
    dominate more than in ``fisher``; the ZiCo paper's NB201 number for Fisher was computed
    this way. Higher is better."""
    values = _fisher_channels(model, batch, ctx)
    layers = weighted_layers(model)
    return _sum(v.abs().sum() * layer.weight[0].numel()
                for layer, v in zip(layers, values, strict=True) if v is not None)


@proxy(
    "synflow",
    reference="Tanaka et al., SynFlow, NeurIPS 2020; zero-cost form of " + _ZC,
    needs_data=False,
    needs_labels=False,
    bn="off",
    dtype=torch.float64,
    unit="sum |w * dR/dw|",
)
def synflow(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Synaptic flow: with BN removed, every parameter (and floating-point buffer, as
    zero-cost-nas takes ``abs`` of the whole ``state_dict``) replaced by its absolute value
    and float64 arithmetic, R = sum of the outputs for one all-ones input of shape
    ``(1, *ctx.input_shape)``; the score is the sum over Conv2d/Linear weights of
    ``|w * dR/dw|``. Data-free.

    Tanaka et al., NeurIPS 2020, as a zero-cost proxy in Abdelfattah et al., ICLR 2021.
    Higher is better."""
    weights = _weights(model)
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
        for b in model.buffers():
            if b.is_floating_point():
                b.abs_()
    dtype = weights[0].dtype if weights else torch.float64
    x = torch.ones((1, *ctx.input_shape), dtype=dtype)
    with _seeded(ctx.seed):
        out = model(x)
        grads = _grad(out.sum(), weights)
    return _sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads, strict=True)
                if g is not None)


_PER_SAMPLE_BUDGET = 1 << 26
"""Per-sample gradient elements held at once by gradsign (256 MB in float32)."""


def _sign_sums_vmap(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: ProxyContext
) -> list[torch.Tensor]:
    """``sum_i sign(g_i)`` per weight, the per-sample gradients from ``torch.func`` (vmap of
    grad over batch-1 calls, in chunks). Each sample still sees batch-1 BN statistics."""
    from torch.func import functional_call, grad, vmap

    names = [f"{n}.weight" if n else "weight" for n, m in model.named_modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    weights = {n: w.detach() for n, w in zip(names, _weights(model), strict=True)}

    def loss_one(ws: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return ctx.loss(functional_call(model, ws, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    per_sample = vmap(grad(loss_one), in_dims=(None, 0, 0), randomness="different")
    numel = max(1, sum(w.numel() for w in weights.values()))
    chunk = max(1, min(x.shape[0], _PER_SAMPLE_BUDGET // numel))
    sums = [torch.zeros_like(w) for w in weights.values()]
    with _no_running_stats(model), torch.no_grad():  # no graph for the captured parameters
        for start in range(0, x.shape[0], chunk):
            gs = per_sample(weights, x[start : start + chunk], y[start : start + chunk])
            for acc, n in zip(sums, names, strict=True):
                acc.add_(gs[n].sign().sum(0))
    return sums


@contextmanager
def _no_running_stats(model: nn.Module) -> Iterator[None]:
    """Inside the block, BN layers in train mode do not update their running statistics
    (vmap cannot write them; train mode does not read them). Restored on exit."""
    saved = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training:
            saved.append((m, m.track_running_stats, m.running_mean, m.running_var,
                          m.num_batches_tracked))
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
    try:
        yield
    finally:
        for m, track, mean, var, count in saved:
            m.track_running_stats = track
            m.running_mean, m.running_var, m.num_batches_tracked = mean, var, count


def _sign_sums_loop(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: ProxyContext
) -> list[torch.Tensor]:
    """``sum_i sign(g_i)`` per weight with one batch-1 forward/backward per sample."""
    weights = _weights(model)
    sums = [torch.zeros_like(w) for w in weights]
    for i in range(x.shape[0]):
        with _seeded(ctx.seed + i):
            grads = _grad(ctx.loss(model(x[i : i + 1]), y[i : i + 1]), weights)
        for acc, g in zip(sums, grads, strict=True):
            if g is not None:
                acc.add_(g.sign())
    return sums


@proxy(
    "gradsign",
    reference="Zhang & Jia, GradSign, ICLR 2022 (cmu-catalyst/GradSign)",
    needs_data=True,
    needs_labels=True,
    bn="train",
    dtype=torch.float32,
    unit="sum over weights of |sum over samples of sign(g)|",
)
def gradsign(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """GradSign: for each sample i of the first batch, the gradient ``g_i`` of its own
    cross-entropy (the sample alone through the network, so BN in train mode normalises with
    that sample's statistics, as the reference's batch-1 loop does) with respect to the
    Conv2d/Linear weights; the score is ``sum over weights |sum_i sign(g_i)|`` (NaN elements
    skipped, as ``np.nansum``).

    Zhang & Jia, ICLR 2022 (``get_grad_conflict`` in cmu-catalyst/GradSign). Higher is better:
    per-sample gradients that agree in sign mean a smoother, denser optimisation landscape.
    The per-sample gradients come from ``torch.func.vmap`` (about 2x faster than the
    reference's loop on CPU); a network that ``vmap`` cannot run falls back to the loop. The
    two agree up to float rounding, which can flip the sign of a near-zero gradient (on NB201
    about 3e-5 of the score)."""
    x, y = batch.first
    y = _labels(y)
    try:
        sums = _sign_sums_vmap(model, x, y, ctx)
    except Exception:  # an op torch.func cannot batch: the reference's loop
        sums = _sign_sums_loop(model, x, y, ctx)
    return _sum(torch.nansum(s.abs()) for s in sums)


def zico_from_gradients(per_batch: Sequence[Sequence[torch.Tensor | None]]) -> float:
    """ZiCo from weight gradients: ``per_batch[b][l]`` is layer l's gradient on batch b.

    Per layer, over the batches: ``s = sum over elements with std != 0 of mean|g| / std(g)``
    (population std, ``ddof=0``); the layer adds ``ln s`` when ``s > 0``. Computed in float64.
    A layer with no gradient in any batch counts as zeros (it adds nothing)."""
    if not per_batch:
        return 0.0
    n = len(per_batch)
    sizes: list[int] = []
    columns: list[list[torch.Tensor | None]] = []
    for layer in range(len(per_batch[0])):
        gs = [b[layer] for b in per_batch]
        ref = next((g for g in gs if g is not None), None)
        if ref is not None:
            sizes.append(ref.numel())
            columns.append(gs)
    if not columns:
        return 0.0
    # one flat float64 vector per batch: a few large kernels instead of many small ones
    flat = [
        torch.cat([(torch.zeros(size) if col[b] is None else col[b].reshape(-1))
                   for size, col in zip(sizes, columns, strict=True)]).double()
        for b in range(n)
    ]
    mean = torch.stack(flat).sum(0).div_(n) if n > 1 else flat[0]
    var = torch.zeros_like(mean)
    mean_abs = torch.zeros_like(mean)
    for f in flat:
        var.add_((f - mean).square_())
        mean_abs.add_(f.abs())
    std = var.div_(n).sqrt_()
    ratio = torch.where(std != 0, mean_abs.div_(n) / std, torch.zeros_like(std))
    total = 0.0
    for s in torch.stack([r.sum() for r in ratio.split(sizes)]).tolist():
        if s > 0:
            total += math.log(s)
    return total


def _zico_common(per_batch: list[Grads], name: str) -> float:
    if len(per_batch) < 2:
        from zeronas.proxies.runner import ProxyWarning

        warnings.warn(f"{name} needs at least 2 batches (the std over batches of one batch "
                      "is 0 everywhere); reported as NaN", ProxyWarning, stacklevel=3)
        return math.nan
    return zico_from_gradients(per_batch)


@proxy(
    "zico",
    reference="Li et al., ZiCo, ICLR 2023 (SLDGroup/ZiCo, compute_zico.py)",
    needs_data=True,
    needs_labels=True,
    bn="train",
    dtype=torch.float32,
    unit="sum over layers of ln(sum mean|g| / std g)",
    shared=SHARED_TAG,
)
def zico(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """ZiCo: the Conv2d/Linear weight gradients of cross-entropy on each batch of the protocol
    (default 2), each batch its own forward/backward with the gradients reset in between;
    per layer ``s = sum over weights with nonzero std of mean|g| / std(g)`` over the batches
    (population std), the layer adding ``ln s`` when ``s > 0``; summed over layers.

    Li et al., ICLR 2023 (``getzico`` in SLDGroup/ZiCo since its Feb 2023 fix, which resets
    the gradients per batch). Higher is better (large, consistent gradients). NaN with fewer
    than 2 batches."""
    return _zico_common(_batch_gradients(model, batch, ctx), "zico")


@proxy(
    "zico_accumulated",
    reference="Li et al., ZiCo, ICLR 2023 (SLDGroup/ZiCo, compute_zico.py as first released)",
    needs_data=True,
    needs_labels=True,
    bn="train",
    dtype=torch.float32,
    unit="sum over layers of ln(sum mean|g| / std g)",
    shared=SHARED_TAG,
)
def zico_accumulated(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """ZiCo as the first release of the original code computed it: no ``zero_grad`` between
    batches, so the gradient recorded after batch b is the running sum ``g_1 + ... + g_b``
    (accumulated in float32, batch order) and the ZiCo formula is applied to those sums.

    Li et al., ICLR 2023 (SLDGroup/ZiCo ``compute_zico.py`` before commit d7076d5, run on a
    GPU, where each recorded gradient is a copy). Higher is better. NaN with fewer than 2
    batches."""
    per_batch = _batch_gradients(model, batch, ctx)
    running: Grads = [None] * (len(per_batch[0]) if per_batch else 0)
    cumulative: list[Grads] = []
    for grads in per_batch:
        running = [g if r is None else (r if g is None else r + g)
                   for r, g in zip(running, grads, strict=True)]
        cumulative.append(list(running))
    return _zico_common(cumulative, "zico_accumulated")
