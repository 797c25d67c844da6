"""AZ-NAS: four complementary proxies from one forward/backward pass.

Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search", CVPR 2024
(reference code: github.com/cvlab-yonsei/AZ-NAS, ``NB201/ZeroShotProxy/compute_az_nas_score.py``
and ``ImageNet_MBV2/ZeroShotProxy/compute_az_nas_score.py``).

The network is re-initialised (Kaiming normal, fan-in, for ``Conv2d``/``Linear``; unit/zero
affine for ``BatchNorm2d``/``GroupNorm``; as the reference does by default), put in train mode
(batch statistics), and run once on a batch of ``AZ_BATCH_SIZE`` (64) standard Gaussian images
of ``ctx.input_shape``, drawn after the re-initialisation: the proxies are data-free, as in the
reference (its NB201 notebook ``tss_general.ipynb`` lists ``az_nas`` outside its
``real_input_metrics``, so ``compute_nas_score`` gets ``trainloader=None`` and draws
``torch.randn(batch_size, 3, 32, 32)`` with the search loader's batch size 64; its ImageNet
search defaults to ``--rand_input True`` with ``--batch_size 64``). This matters: on 100
NAS-Bench-201 networks, CIFAR-10 images instead of Gaussian noise drop progressivity's Kendall
tau against CIFAR-10 accuracy from 0.54 to 0.19 and the composite's from 0.70 to 0.60 (real
images make the stem's feature far less isotropic than the cells', so the smallest expressivity
step no longer tracks the cells). The *block features* ``f_0 .. f_L`` (see
:func:`feature_blocks`) are recorded. Then, as in the reference:

- **expressivity** of one feature map ``(B, C, H, W)``: the ``B*H*W`` channel vectors are
  centred, ``Sigma = X^T X / (B*H*W)``, its eigenvalues ``s`` are normalised to
  ``p = s / sum(s)`` and the score is the entropy ``-sum p * log(p + 1e-8)`` (isotropy of the
  feature space). ``az_expressivity`` is the sum over all features.
- **progressivity**: ``min_l (E_l - E_{l-1})``, the smallest increase of expressivity from one
  feature to the next.
- **trainability**: for each consecutive pair, going from the last pair back to the first, a
  Rademacher (+-1) gradient ``g_out`` is drawn for ``f_l``, backpropagated to
  ``g_in = d<f_l, g_out>/d f_{l-1}``; if the resolution halves, ``g_in`` is pixel-unshuffled to
  ``g_out``'s resolution; ``M = g_in^T g_out / (B*H*W)`` and with its largest singular value
  ``s`` the pair scores ``-s - 1/(s + 1e-6) + 2`` (0 at ``s = 1``, a perfectly norm-preserving
  block). A block whose ``g_in`` equals ``g_out`` exactly (an identity) scores ``-inf``, as in
  the reference; ``az_trainability`` is the mean over pairs (so ``-inf``, reported as NaN by the
  runner, which ranks worst in :mod:`zeronas.proxies.ensemble`, as ``-inf`` does in the
  reference).
- **complexity**: FLOPs (:func:`zeronas.hardware.count_flops`, millions of multiply-adds);
  higher ranks better, as in the reference's rank aggregation.

The composite AZ-NAS score over a pool of candidates is the sum over the four of
``log(rank / n)`` (:mod:`zeronas.proxies.ensemble`, composite ``az_nas``).

Deviations from the reference, all deliberate: randomness (re-initialisation, the Gaussian
inputs and the +-1 gradients) comes from ``ctx.generator()`` rather than the global RNG (the
draw order is the reference's, so under the same seed the numbers agree); eigen- and singular
values are computed in float64 (the reference uses the features' float32; differences are ~1e-6
relative, except that for features whose covariance is nearly singular, e.g. NB201 cells made
only of pooling and skips, float32 round-off gives eigenvalues below ``-1e-8 * sum(s)``, the
reference's ``log(p + 1e-8)`` is NaN and the network gets expressivity and progressivity
``-inf``, the worst rank; here such a network keeps its small finite value: 5 of 100 random
NB201 networks, all among the 15% least accurate, composite Kendall tau 0.706 here against the
reference's 0.715 on the same networks); and the
features of a generic ``nn.Module`` are picked by a rule (:func:`feature_blocks`) where the
reference has a hand-written ``extract_cell_features`` per search space. For NAS-Bench-201
networks the rule picks exactly the reference's features: the stem output and every cell's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from zeronas.errors import ZeronasError
from zeronas.hardware.measures import count_flops
from zeronas.proxies.base import Batch, ProxyContext, proxy

AZ_SHARED = "aznas"
"""The ``shared`` tag of the AZ-NAS proxies: requested together they use one pass."""

AZ_REFERENCE = (
    "Lee & Ham, AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search, CVPR 2024"
)

AZ_BATCH_SIZE = 64
"""How many standard Gaussian images the AZ-NAS pass uses (the reference's batch size for
NB201 CIFAR and its ImageNet search)."""

InitMethod = Literal["kaiming_normal_fanin", "none"]

# Layers that are not blocks of their own. The first group keeps the shape and, inside an
# nn.Sequential, extends the block before it; the second group (pooling, reshaping) does not.
_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
)
_PASS_TYPES: tuple[type[nn.Module], ...] = (
    *_NORM_TYPES,
    nn.modules.dropout._DropoutNd,
    nn.Identity,
)
_RESHAPE_TYPES: tuple[type[nn.Module], ...] = (nn.Flatten, nn.Unflatten)
_WEIGHT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear, nn.Bilinear)


def _is_pass_through(m: nn.Module) -> bool:
    """A shape-preserving norm/activation/dropout/identity leaf."""
    if list(m.children()):
        return False
    return isinstance(m, _PASS_TYPES) or type(m).__module__ == "torch.nn.modules.activation"


def _is_non_block(m: nn.Module) -> bool:
    """A layer (or plain container of layers) that never counts as a block: norms, activations,
    dropout, identity, pooling, up-sampling, reshaping."""
    if _is_plain_container(m):
        return all(_is_non_block(c) for c in m.children())
    if list(m.children()):
        return False
    return (
        _is_pass_through(m)
        or isinstance(m, _RESHAPE_TYPES)
        or type(m).__module__
        in ("torch.nn.modules.pooling", "torch.nn.modules.upsampling",
            "torch.nn.modules.pixelshuffle")
    )


def _is_plain_container(m: nn.Module) -> bool:
    return type(m) in (nn.Sequential, nn.ModuleList)


def _block_like(m: nn.Module) -> bool:
    """A child that makes its plain container worth opening: a weight layer or a module with
    submodules (that is not itself only norms/activations/pooling)."""
    if isinstance(m, _WEIGHT_TYPES):
        return True
    return bool(list(m.children())) and not _is_non_block(m)


def feature_blocks(model: nn.Module) -> list[str]:
    """Names of the modules whose outputs are AZ-NAS's features, for any ``nn.Module``.

    The rule (the reference hand-codes the features per search space; this reproduces its
    choice for NAS-Bench-201 — stem, then every cell — and generalises it):

    1. Start from the model's children (a module with a single child is looked through).
    2. A plain ``nn.Sequential``/``nn.ModuleList`` with two or more block-like children
       (weight layers or modules with submodules) is opened and its children take its place,
       recursively; anything else is one unit. NB201's ``stem = Sequential(conv, BN)`` stays
       whole while its ``cells`` Sequential is opened; ResNet stages open into residual blocks.
    3. Units made only of norms, activations, dropout, identities, pooling, up-sampling or
       reshaping are not blocks (NB201's final BN-ReLU, global pooling). Inside an
       ``nn.Sequential``, norm/activation/dropout leaves that directly follow a block extend it:
       its feature is taken after them (``conv, BN, ReLU`` gives the post-ReLU map).
    4. At run time (:func:`collect_features`) only outputs that are 4-D ``(B, C, H, W)`` tensors
       with ``H*W > 1`` are used, in execution order, so classifier heads fall away.

    Pass explicit module names to :func:`az_nas_stats` (``layers=``) where this rule does not
    fit a network.
    """
    root, prefix = model, ""
    while len(children := list(root.named_children())) == 1 and list(children[0][1].children()):
        name, root = children[0]
        prefix += name + "."
    names: list[str] = []
    _collect_units(root, prefix, names)
    return names


def _collect_units(module: nn.Module, prefix: str, out: list[str]) -> None:
    """Append the block names found under ``module`` (whose children are being listed)."""
    # only where children run in registration order may a pass-through extend the block before
    sequential = isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward
    last_block: int | None = None  # index in ``out`` of the block a pass-through may extend
    for name, child in module.named_children():
        full = prefix + name
        if _is_plain_container(child) and sum(_block_like(c) for c in child.children()) >= 2:
            _collect_units(child, full + ".", out)
            last_block = None
        elif _is_pass_through(child):
            if sequential and last_block is not None:
                out[last_block] = full
        elif _is_non_block(child):
            last_block = None
        else:
            out.append(full)
            last_block = len(out) - 1


def _floating_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.is_floating_point()


def collect_features(
    model: nn.Module,
    inputs: torch.Tensor,
    layers: Sequence[str] | None = None,
) -> list[tuple[str, torch.Tensor]]:
    """Run ``model`` once on ``inputs`` and return ``(name, output)`` of the feature modules,
    in execution order, still attached to the autograd graph.

    With ``layers=None`` the modules are :func:`feature_blocks` and only 4-D outputs with more
    than one spatial position are kept; explicit ``layers`` are all kept (4-D maps, 3-D token
    sequences ``(B, N, C)`` or 2-D ``(B, C)``). Every hook is removed before returning. The
    forward output passed on from a feature module is a copy, so that in-place operations
    further on cannot change a recorded feature.
    """
    explicit = layers is not None
    names = list(layers) if explicit else feature_blocks(model)
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ZeronasError(
            f"AZ-NAS layers {missing} are not modules of the model; expected names from "
            "model.named_modules()"
        )
    recorded: list[tuple[str, torch.Tensor]] = []

    def make_hook(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            if not _floating_tensor(output):
                return None
            keep = output.dim() in (2, 3, 4) if explicit else (
                output.dim() == 4 and output.shape[2] * output.shape[3] > 1
            )
            if not keep:
                return None
            recorded.append((name, output))
            return output.clone()

        return hook

    handles = [modules[n].register_forward_hook(make_hook(n)) for n in names]
    try:
        x = inputs.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return recorded


def _as_rows(feat: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W) -> (B*H*W, C)``; ``(B, N, C) -> (B*N, C)``; ``(B, C)`` unchanged."""
    if feat.dim() == 4:
        b, c, h, w = feat.shape
        return feat.permute(0, 2, 3, 1).reshape(b * h * w, c)
    if feat.dim() == 3:
        b, n, c = feat.shape
        return feat.reshape(b * n, c)
    return feat


def expressivity_of(feature: torch.Tensor) -> float:
    """Isotropy of one feature map: the entropy of the normalised eigenvalues of its channel
    covariance (over batch and positions), ``-sum p log(p + 1e-8)`` with ``p = s / sum(s)``.

    At most ``log(C)`` (all eigenvalues equal); NaN when the feature is constant (``sum(s) = 0``).
    """
    x = _as_rows(feature.detach()).to(torch.float64)
    x = x - x.mean(dim=0, keepdim=True)
    sigma = x.T @ x / x.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def _pair_trainability(f_in: torch.Tensor, f_out: torch.Tensor, g_out: torch.Tensor,
                       names: tuple[str, str]) -> float:
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True,
                                  allow_unused=True)
    if g_in is None:
        raise ZeronasError(
            f"AZ-NAS feature {names[1]!r} does not depend on {names[0]!r}: the features must form "
            "a chain; pass explicit layers="
        )
    if g_out.shape == g_in.shape and bool(torch.all(g_in == g_out)):
        return -math.inf
    if g_in.dim() == 4 and g_out.dim() == 4 and g_in.shape[2:] != g_out.shape[2:]:
        (hi, wi), (ho, wo) = g_in.shape[2:], g_out.shape[2:]
        r = hi // ho if ho else 0
        if r < 1 or hi != r * ho or wi != r * wo:
            raise ZeronasError(
                f"AZ-NAS trainability needs {names[1]!r} ({ho}x{wo}) to be {names[0]!r} "
                f"({hi}x{wi}) down-sampled by an integer factor"
            )
        g_in = nn.functional.pixel_unshuffle(g_in, r)
    rows_in, rows_out = _as_rows(g_in).to(torch.float64), _as_rows(g_out).to(torch.float64)
    if rows_in.shape[0] != rows_out.shape[0]:
        raise ZeronasError(
            f"AZ-NAS trainability cannot pair {names[0]!r} {tuple(g_in.shape)} with "
            f"{names[1]!r} {tuple(g_out.shape)}: positions differ"
        )
    mat = rows_in.T @ rows_out / rows_out.shape[0]
    s_max = float(torch.linalg.svdvals(mat).max())
    return -s_max - 1.0 / (s_max + 1e-6) + 2.0


def kaiming_fanin_init(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """The reference's default initialisation (``init_model(model, 'kaiming_norm_fanin')``):
    Kaiming normal (fan-in, ReLU gain) for ``Conv2d``/``Linear`` weights with zero bias, unit
    weight and zero bias for affine ``BatchNorm2d``/``GroupNorm``, in ``model.apply`` order."""

    def init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu",
                                    generator=generator)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    with torch.no_grad():
        model.apply(init)


@dataclass(frozen=True)
class AZNASStats:
    """What one AZ-NAS pass measured: the features used, expressivity per feature and
    trainability per consecutive pair (both in forward order)."""

    layers: tuple[str, ...]
    expressivity_per_layer: tuple[float, ...]
    trainability_per_pair: tuple[float, ...]

    @property
    def expressivity(self) -> float:
        """Sum of the per-feature expressivities."""
        return float(np.sum(self.expressivity_per_layer))

    @property
    def progressivity(self) -> float:
        """Smallest increase of expressivity between consecutive features."""
        e = np.asarray(self.expressivity_per_layer)
        return float(np.min(e[1:] - e[:-1]))

    @property
    def trainability(self) -> float:
        """Mean of the per-pair trainability scores."""
        return float(np.mean(self.trainability_per_pair))


def az_nas_stats(
    model: nn.Module,
    inputs: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    layers: Sequence[str] | None = None,
    init: InitMethod = "kaiming_normal_fanin",
) -> AZNASStats:
    """Expressivity, progressivity and trainability of ``model`` on ``inputs`` (one pass).

    ``model`` is changed (re-initialised unless ``init="none"``, BN statistics updated): give
    it a copy. Its train/eval mode is used as is (the reference uses train mode). Randomness
    is drawn from ``generator`` (re-initialisation first, then one +-1 gradient per pair, last
    pair first); ``None`` means a generator seeded with 0.
    """
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    if init == "kaiming_normal_fanin":
        kaiming_fanin_init(model, gen)
    elif init != "none":
        raise ZeronasError(f"AZ-NAS init {init!r}: expected 'kaiming_normal_fanin' or 'none'")
    feats = collect_features(model, inputs, layers)
    if len(feats) < 2:
        raise ZeronasError(
            f"AZ-NAS needs at least two block features, found {len(feats)} "
            f"({[n for n, _ in feats]}); pass explicit layers= naming the blocks of the network"
        )
    names = tuple(n for n, _ in feats)
    expressivity = tuple(expressivity_of(f) for _, f in feats)
    train: list[float] = [math.nan] * (len(feats) - 1)
    for i in reversed(range(1, len(feats))):
        f_out, f_in = feats[i][1], feats[i - 1][1]
        g_out = (torch.bernoulli(torch.full_like(f_out, 0.5), generator=gen) - 0.5) * 2
        train[i - 1] = _pair_trainability(f_in, f_out, g_out, (names[i - 1], names[i]))
    return AZNASStats(names, expressivity, tuple(train))


def az_nas_gaussian_stats(
    model: nn.Module,
    input_shape: Sequence[int],
    generator: torch.Generator | None = None,
    batch_size: int = AZ_BATCH_SIZE,
) -> AZNASStats:
    """The reference's protocol: re-initialise ``model`` (Kaiming normal fan-in), then draw
    ``batch_size`` standard Gaussian images of ``input_shape`` (per sample, e.g. ``(3, 32, 32)``),
    then run :func:`az_nas_stats` on them; all three draws from ``generator`` in this order
    (``None``: seeded with 0). ``model`` is changed: give it a copy."""
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    kaiming_fanin_init(model, gen)
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.randn((batch_size, *input_shape), generator=gen, dtype=dtype)
    if param is not None:
        x = x.to(param.device)
    return az_nas_stats(model, x, gen, init="none")


def _shared_stats(model: nn.Module, batch: Batch, ctx: ProxyContext) -> AZNASStats:
    """The AZ-NAS pass for ``model`` (the batch is not used: the inputs are Gaussian, drawn
    from ``ctx.generator()``), computed once per runner call.

    The cache entry (keyed by ``id(model)``) holds the model object itself, the seed and the
    input shape, and is reused only for that very model, so two model copies can never be
    confused. (A recomputation would give the same numbers: the model is re-initialised from
    the same seed.)
    """
    key = f"{AZ_SHARED}:{id(model)}"
    tag = (int(ctx.seed), tuple(ctx.input_shape))
    entry = ctx.cache.get(key)
    if entry is not None and entry[0] is model and entry[1] == tag:
        return entry[2]
    stats = az_nas_gaussian_stats(model, ctx.input_shape, ctx.generator())
    ctx.cache[key] = (model, tag, stats)
    return stats


def _describe(space: Any, network: str | None = None) -> dict[str, Any]:
    return {"inputs": "gaussian", "batch_size": AZ_BATCH_SIZE}


_SHARED_SPEC: dict[str, Any] = dict(
    reference=AZ_REFERENCE, bn="train", shared=AZ_SHARED, needs_data=False, describe=_describe
)


@proxy("az_expressivity", unit="nats", **_SHARED_SPEC)
def az_expressivity(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """AZ-NAS expressivity: the sum over block features of the entropy of the normalised
    eigenvalues of the feature covariance (isotropy of the feature space), after the reference's
    Kaiming fan-in re-initialisation, with batch statistics, on 64 Gaussian images (data-free,
    as the reference). Higher is better."""
    return _shared_stats(model, batch, ctx).expressivity


@proxy("az_progressivity", unit="nats", **_SHARED_SPEC)
def az_progressivity(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """AZ-NAS progressivity: the smallest increase of expressivity from one block feature to
    the next (a network should grow more expressive with depth), on 64 Gaussian images
    (data-free). Higher is better."""
    return _shared_stats(model, batch, ctx).progressivity


@proxy("az_trainability", **_SHARED_SPEC)
def az_trainability(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """AZ-NAS trainability: the mean over consecutive block features of ``-s - 1/s + 2``,
    ``s`` the spectral norm of the input-output gradient relation under a random +-1 output
    gradient (0 when blocks preserve gradient norms; -inf, reported NaN, for an identity
    block), on 64 Gaussian images (data-free). Higher is better."""
    return _shared_stats(model, batch, ctx).trainability


@proxy(
    "az_complexity",
    reference=AZ_REFERENCE,
    needs_data=False,
    needs_weights=False,
    unit="M multiply-adds",
)
def az_complexity(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """AZ-NAS complexity: FLOPs of one forward pass on one sample in millions of multiply-adds
    (the same count as ``flops``). Higher ranks better in AZ-NAS's aggregation; it needs no
    pass of its own, so it runs on the meta device."""
    return count_flops(model, ctx.input_shape) / 1e6


AZ_PARTS: tuple[str, ...] = ("az_expressivity", "az_progressivity", "az_trainability",
                             "az_complexity")
"""The four AZ-NAS proxies, in the paper's order."""
