"""Activation-, Jacobian- and NTK-based zero-cost proxies.

``jacob_cov``, ``naswot``, ``zen``, ``ntk``, ``linear_regions``, ``meco`` and ``swap``. None of
them needs labels; all but ``zen`` (data-free, Gaussian inputs) read the images of the first
batch. BN is in train mode (batch statistics) for all of them, as in every reference.

**Which activations.** The ReLU-pattern proxies hook activation *modules*: ``nn.ReLU``,
``nn.ReLU6``, ``nn.LeakyReLU``, ``nn.PReLU`` and ``nn.RReLU``, chosen by type, never by name
(the NASWOT reference matches "ReLU" in the type name, which also catches blocks such as
NB201's ``ReLUConvBN``; see :func:`naswot`). A ReLU called as a function (``F.relu``,
``torch.relu``) cannot be hooked; a model without ReLU modules gets a clear error rather than a
made-up score. A unit's code is ``output > 0``, which equals ``input > 0`` for all of these and
is also right when the ReLU works in place. Codes are taken inside the hook, so a later in-place
operation on the same tensor cannot change them.

**Shared pass.** ``naswot``, ``linear_regions`` and ``swap`` read the same thing: the binary
codes of one no-grad forward of the first batch. They carry the same ``shared`` tag
(:data:`SHARED_TAG`), so the runner gives them one model copy, and the first of them computes
all three summaries in one forward and keeps them in ``ctx.cache`` (keyed on the model object,
the image tensor and the weights' version counters, so an entry cannot be reused for another
copy, batch or changed weights).

Deviations from the reference code, all deliberate, are listed in each proxy's docstring; the
common ones: eigenvalues are computed with symmetric solvers in float64 (the references use
``eig`` in float32/float64; differences are rounding), and randomness comes from
``ctx.generator()``, never the global RNG.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from zeronas.errors import ZeronasError
from zeronas.proxies.base import Batch, ProxyContext, proxy

SHARED_TAG = "relu_codes"
"""The ``shared`` tag of ``naswot``, ``linear_regions`` and ``swap`` (one forward for all)."""

RELU_TYPES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU)
"""Activation modules whose ``output > 0`` pattern the ReLU-code proxies read."""

JACOB_COV_EPS = 1e-5
"""The ``k`` of jacob_cov's ``-sum(log(v + k) + 1 / (v + k))`` (zero-cost-nas)."""

NTK_MAX_SAMPLES = 16
"""``ntk`` uses the first this-many images of the first batch (``prune_tenas.py``'s default
``--batch_size 16``; TE-NAS's ``prune_launch.py`` passes 72 for NAS-Bench-201)."""

ZEN_BATCH_SIZE = 64
"""Batch size of Zen's Gaussian inputs (ZenNAS's CIFAR search scripts use 64)."""

ZEN_MIXUP_GAMMA = 1e-2
"""Zen's perturbation scale ``alpha`` (ZenNAS default ``--gamma 1e-2``)."""

ZEN_REPEAT = 1
"""How many re-initialisations Zen averages (1 in ZenNAS's evolution search)."""


# --------------------------------------------------------------------------- helpers


@contextmanager
def _hooks() -> Iterator[list[RemovableHandle]]:
    """A list to put hook handles in; every one is removed on exit, also after an error."""
    handles: list[RemovableHandle] = []
    try:
        yield handles
    finally:
        for h in handles:
            h.remove()


def _images(batch: Batch, name: str) -> torch.Tensor:
    if not batch.batches:
        raise ZeronasError(f"proxy {name!r} needs a batch of images, none was given")
    x = batch.first[0]
    if x.dim() < 2 or x.shape[0] < 2:
        raise ZeronasError(
            f"proxy {name!r} needs a batch of at least 2 images, got shape {tuple(x.shape)}"
        )
    return x.detach()


def _logits(out: Any, name: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise ZeronasError(
            f"proxy {name!r} needs a model whose forward returns one tensor of logits, got "
            f"{type(out).__name__}"
        )
    return out


def relu_modules(model: nn.Module) -> list[nn.Module]:
    """The ReLU-family activation modules of ``model`` (:data:`RELU_TYPES`), in order."""
    return [m for m in model.modules() if isinstance(m, RELU_TYPES)]


def _require_relus(model: nn.Module, name: str) -> list[nn.Module]:
    relus = relu_modules(model)
    if not relus:
        raise ZeronasError(
            f"proxy {name!r} reads ReLU activation patterns, but the model has no ReLU modules "
            f"({', '.join(t.__name__ for t in RELU_TYPES)}); activations called as functions "
            "(F.relu) cannot be hooked"
        )
    return relus


def _param_versions(model: nn.Module) -> tuple[int, ...]:
    return tuple(p._version for p in model.parameters())


def _unique_rows(rows: np.ndarray) -> int:
    """Number of distinct rows of a 2-D ``uint8`` array (rows compared as 64-bit words)."""
    n, width = rows.shape
    if n == 0:
        return 0
    if width == 0:
        return 1
    words = np.pad(rows, ((0, 0), (0, -width % 8))).view(np.uint64)
    if words.shape[1] == 1:
        flat = np.sort(words[:, 0])
        return 1 + int(np.count_nonzero(flat[1:] != flat[:-1]))
    ordered = words[np.lexsort(words.T[::-1])]
    return 1 + int(np.any(ordered[1:] != ordered[:-1], axis=1).sum())


def _hamming(packed: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances (``int64``, ``R x R``) between the rows of a bit-packed
    ``uint8`` array (``np.packbits`` along axis 1; padding bits are 0 in every row)."""
    r = packed.shape[0]
    if hasattr(np, "bitwise_count"):  # numpy >= 2: XOR + popcount on 64-bit words
        words = np.pad(packed, ((0, 0), (0, -packed.shape[1] % 8))).view(np.uint64)
        out = np.empty((r, r), dtype=np.int64)
        step = max(1, (1 << 22) // max(1, r * words.shape[1]))  # ~32 MB of temporaries
        for i in range(0, r, step):
            xor = words[i:i + step, None, :] ^ words[None, :, :]
            out[i:i + step] = np.bitwise_count(xor).sum(axis=-1, dtype=np.int64)
        return out
    bits = np.unpackbits(packed, axis=1).astype(np.float64)  # exact: integer counts < 2^53
    on = bits.sum(axis=1)
    return np.rint(on[:, None] + on[None, :] - 2.0 * (bits @ bits.T)).astype(np.int64)


# --------------------------------------------------------------------------- the shared pass


@dataclass
class ReluCodes:
    """What one no-grad forward of the first batch gives the ReLU-code proxies.

    - ``kernel``: NASWOT's ``K`` (``B x B``, float64), ``K_ij`` = number of units on which
      samples ``i`` and ``j`` agree, summed over every ReLU call;
    - ``sample_patterns``: number of distinct per-sample codes over the ReLUs with 4-D outputs
      (TE-NAS linear regions);
    - ``unit_patterns``: number of distinct per-unit codes (a unit's code is its on/off vector
      over the samples) over the ReLUs with 4-D outputs (SWAP);
    - ``relu_calls`` / ``map_calls``: how many ReLU calls were seen, and how many of them had
      4-D outputs.
    """

    kernel: np.ndarray
    sample_patterns: int
    unit_patterns: int
    relu_calls: int
    map_calls: int


@dataclass
class _Entry:
    model: weakref.ref[nn.Module]
    images: torch.Tensor
    versions: tuple[int, ...]
    codes: ReluCodes


def relu_codes(model: nn.Module, images: torch.Tensor, name: str = "relu_codes") -> ReluCodes:
    """Run ``model`` once on ``images`` (no gradients, the model's current BN mode) and
    summarise the binary codes of its ReLU modules (see :class:`ReluCodes`)."""
    relus = _require_relus(model, name)
    b = images.shape[0]
    kernel = np.zeros((b, b), dtype=np.float64)
    per_sample: list[np.ndarray] = []  # (B, bytes) packed codes of each 4-D ReLU call
    per_unit: list[np.ndarray] = []  # (units, bytes) packed codes of each 4-D ReLU call
    calls = [0, 0]

    def hook(module: nn.Module, args: Any, out: Any) -> None:
        if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != b:
            raise ZeronasError(
                f"proxy {name!r}: ReLU module {type(module).__name__} gave an output of shape "
                f"{tuple(getattr(out, 'shape', ()))}, expected the batch ({b}) first"
            )
        codes = (out.detach() > 0).reshape(b, -1).cpu().numpy()
        packed = np.packbits(codes, axis=1)
        # units on which i and j agree (both on or both off) = units - hamming(i, j)
        kernel[...] += codes.shape[1] - _hamming(packed)
        calls[0] += 1
        if out.dim() == 4:
            calls[1] += 1
            per_sample.append(packed)
            per_unit.append(np.packbits(np.ascontiguousarray(codes.T), axis=1))

    with _hooks() as handles, torch.no_grad():
        for m in relus:
            handles.append(m.register_forward_hook(hook))
        model(images)

    if per_sample:
        sample_patterns = _unique_rows(np.concatenate(per_sample, axis=1))
        unit_patterns = _unique_rows(np.concatenate(per_unit, axis=0))
    else:
        sample_patterns = unit_patterns = 0
    return ReluCodes(kernel, sample_patterns, unit_patterns, calls[0], calls[1])


def _shared_codes(model: nn.Module, batch: Batch, ctx: ProxyContext, name: str) -> ReluCodes:
    images = _images(batch, name)
    key = f"activation.relu_codes.{id(model)}"
    entry = ctx.cache.get(key)
    versions = _param_versions(model)
    if (
        isinstance(entry, _Entry)
        and entry.model() is model
        and entry.images is batch.first[0]
        and entry.versions == versions
    ):
        return entry.codes
    codes = relu_codes(model, images, name)
    ctx.cache[key] = _Entry(weakref.ref(model), batch.first[0], versions, codes)
    return codes


# --------------------------------------------------------------------------- jacob_cov


def jacob_cov_score(jacobian: np.ndarray, eps: float = JACOB_COV_EPS) -> float:
    """``-sum(log(v + eps) + 1 / (v + eps))`` over the eigenvalues ``v`` of the correlation
    matrix of the rows of ``jacobian`` (one row per sample). NaN when it is not defined (a
    constant row, a negative ``v + eps``)."""
    with np.errstate(all="ignore"):
        corr = np.corrcoef(np.asarray(jacobian, dtype=np.float64))
        if not np.all(np.isfinite(corr)):
            return math.nan
        v = np.linalg.eigvalsh(corr)
        return float(-np.sum(np.log(v + eps) + 1.0 / (v + eps)))


def input_jacobian(model: nn.Module, images: torch.Tensor, name: str = "jacob_cov") -> torch.Tensor:
    """``d sum(model(x)) / dx`` for the whole batch in one backward, one row per sample
    (the "batch Jacobian" of NASWOT v1 / zero-cost-nas)."""
    x = images.detach().clone().requires_grad_(True)
    y = _logits(model(x), name)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return grad.reshape(grad.shape[0], -1)


@proxy(
    "jacob_cov",
    reference="Mellor et al., Neural Architecture Search without Training, arXiv v1 (2020); "
    "as implemented in Abdelfattah et al., ICLR 2021 (SamsungLabs/zero-cost-nas, jacob_cov.py)",
    needs_data=True,
    needs_labels=False,
    bn="train",
    dtype=torch.float32,
    unit="-sum(log(v+k) + 1/(v+k))",
)
def jacob_cov(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Correlation of input Jacobians: with ``J`` the gradient of the sum of all logits with
    respect to the input (one backward over the first batch, BN in train mode), one flattened
    row per image, ``C = corrcoef(J)`` and ``v`` its eigenvalues, the score is
    ``-sum(log(v + 1e-5) + 1 / (v + 1e-5))``.

    Mellor et al., "Neural Architecture Search without Training" (arXiv v1, 2020), the form in
    SamsungLabs/zero-cost-nas (batch 64, train mode). Higher is better: the score peaks when
    the per-image Jacobians are uncorrelated (all ``v = 1``), i.e. the network tells inputs
    apart. NaN when ``C`` is undefined (an image with a constant Jacobian). Eigenvalues are
    from ``eigvalsh`` (the reference uses ``eig``; same values up to rounding)."""
    jac = input_jacobian(model, _images(batch, "jacob_cov"), "jacob_cov")
    return jacob_cov_score(jac.detach().to(torch.float64).numpy())


# --------------------------------------------------------------------------- NASWOT


@proxy(
    "naswot",
    reference="Mellor et al., Neural Architecture Search without Training, ICML 2021 "
    "(BayesWatch/nas-without-training, score_networks.py, hook_logdet)",
    needs_data=True,
    needs_labels=False,
    bn="train",
    dtype=torch.float32,
    unit="log|det K|",
    shared=SHARED_TAG,
)
def naswot(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """NASWOT: with ``c`` the binary code (``unit > 0``) of each image at a ReLU module,
    ``K = sum over ReLU calls of c c^T + (1 - c)(1 - c)^T`` (``K_ij`` counts the units on which
    images ``i`` and ``j`` agree) and the score is ``log|det K|`` (``slogdet``), from one no-grad
    forward of the first batch, BN in train mode.

    Mellor et al., ICML 2021. Higher is better: images that the untrained network maps to
    dissimilar activation patterns make ``K`` closer to diagonal. ``-inf`` (singular ``K``,
    e.g. two identical images) is reported as NaN by the runner.

    Differences from the reference script (``score_networks.py``), which scores NAS-Bench-201
    with batch 128 (zeronas uses the protocol's batch): it hooks every module whose *type name*
    contains "ReLU", and reads the module's *input*; in NB201 that includes each
    ``ReLUConvBN`` block, whose input codes are those of the ReLU inside it, so all ReLUs but
    the final one are counted twice there (on one NB201 network, 867.6 against 823.4 here;
    with the hooks on ``nn.ReLU`` only the reference gives exactly this proxy's value). It
    also counts only ReLUs a backward pass reached (in NB201 all of them); here every ReLU
    module called in the forward counts and no backward is run."""
    k = _shared_codes(model, batch, ctx, "naswot").kernel
    _sign, logdet = np.linalg.slogdet(k)
    return float(logdet)


# --------------------------------------------------------------------------- TE-NAS


@proxy(
    "linear_regions",
    reference="Chen et al., Neural Architecture Search on ImageNet in Four GPU Hours (TE-NAS), "
    "ICLR 2021 (VITA-Group/TENAS, Linear_Region_Collector)",
    needs_data=True,
    needs_labels=False,
    bn="train",
    dtype=torch.float32,
    unit="distinct activation patterns",
    shared=SHARED_TAG,
)
def linear_regions(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Number of linear regions hit by the first batch: the number of distinct binary codes
    (``unit > 0`` over the outputs of all ReLU modules with 4-D outputs, concatenated) among
    its images, from one no-grad forward, BN in train mode.

    Chen et al., TE-NAS, ICLR 2021 (``Linear_Region_Collector``, which counts
    ``sum_i 1 / #{j: code_j = code_i}``, the same number). Higher is better (more
    expressive). At most the batch size, and it saturates there for all but tiny networks:
    TE-NAS measured a thin one-cell supernet (``C = 1``, no stem) on 3000 single-channel 3x3
    crops, which has no counterpart for an arbitrary ``nn.Module``; with full-size inputs it
    separates networks only when some images share a code. Like the reference, only ReLUs with
    4-D (feature-map) outputs count; codes are exact (the reference multiplies them in half
    precision)."""
    codes = _shared_codes(model, batch, ctx, "linear_regions")
    if codes.map_calls == 0:
        raise ZeronasError(
            "proxy 'linear_regions' counts patterns of ReLUs on 4-D feature maps; the model "
            "applies none"
        )
    return float(codes.sample_patterns)


def _weight_params(model: nn.Module) -> list[nn.Parameter]:
    params = [p for n, p in model.named_parameters() if "weight" in n]
    for p in params:  # a private copy: frozen weights still count, as in the reference
        if not p.requires_grad:
            p.requires_grad_(True)
    return params


def _per_sample_grads(
    s: torch.Tensor, params: Sequence[torch.Tensor]
) -> list[torch.Tensor | None]:
    """For each parameter, the gradients of every ``s[i]`` stacked along a new first axis
    (None for a parameter that ``s`` does not depend on); one backward per ``i``, as in TE-NAS
    (faster on CPU than one vmapped backward, ``is_grads_batched``, for 16 images)."""
    n = s.shape[0]
    rows = [torch.autograd.grad(s[i], list(params), retain_graph=i < n - 1, allow_unused=True)
            for i in range(n)]
    out: list[torch.Tensor | None] = []
    for j in range(len(params)):
        col = [r[j] for r in rows]
        out.append(None if any(c is None for c in col)
                   else torch.stack([c for c in col if c is not None]))
    return out


def empirical_ntk(model: nn.Module, images: torch.Tensor, name: str = "ntk") -> torch.Tensor:
    """The empirical NTK on ``images`` (float64, ``n x n``): ``Theta_ij = <g_i, g_j>`` with
    ``g_i`` the gradient of the sum of image ``i``'s logits with respect to every parameter
    whose name contains ``weight`` (TE-NAS's choice: conv, linear and BN weights, no biases),
    one backward per image."""
    params = _weight_params(model)
    if not params:
        raise ZeronasError(f"proxy {name!r} needs parameters named '*weight*'; the model has none")
    y = _logits(model(images), name)
    s = y.reshape(y.shape[0], -1).sum(dim=1)
    n = s.shape[0]
    ntk = torch.zeros(n, n, dtype=torch.float64)
    for g in _per_sample_grads(s, params):
        if g is not None:
            flat = g.detach().reshape(n, -1).to(torch.float64)
            ntk += flat @ flat.T
    return ntk


@proxy(
    "ntk",
    reference="Chen et al., Neural Architecture Search on ImageNet in Four GPU Hours (TE-NAS), "
    "ICLR 2021 (VITA-Group/TENAS, procedures/ntk.py get_ntk_n)",
    higher_is_better=False,
    needs_data=True,
    needs_labels=False,
    bn="train",
    dtype=torch.float32,
    unit="condition number",
)
def ntk(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Condition number ``lambda_max / lambda_min`` of the empirical NTK on the first 16 images
    of the first batch (BN in train mode): ``Theta_ij = <g_i, g_j>``, ``g_i`` the gradient of
    the sum of image ``i``'s logits with respect to all parameters named ``*weight*``.

    Chen et al., TE-NAS, ICLR 2021. LOWER is better (a well-conditioned NTK trains faster);
    ``higher_is_better`` is False, and the value is the condition number itself (TE-NAS ranks
    by its negative). 16 images (``NTK_MAX_SAMPLES``, prune_tenas.py's default); the cost is
    about that many backward passes. The NTK is accumulated and diagonalised in float64 (the
    reference uses float32); a non-positive smallest eigenvalue (a singular NTK) gives ``inf``
    (reported as NaN by the runner; the reference replaced NaN by 1e5).

    Real images, as TE-NAS (``get_ntk_n`` iterates its data loader). Published NB201 numbers
    differ by input: ZiCo's port (SLDGroup/ZiCo ``ZeroShotProxy/compute_te_nas_score.py``)
    feeds ``torch.randn`` images, and with 16 Gaussian images the Kendall tau of ``-cond``
    against CIFAR-10 accuracy is 0.29 on 60 random NB201 networks against 0.59 with 16
    CIFAR-10 images on the same networks (ZiCo's table reports 0.33)."""
    images = _images(batch, "ntk")[:NTK_MAX_SAMPLES]
    theta = empirical_ntk(model, images, "ntk")
    ev = torch.linalg.eigvalsh(theta)  # ascending
    lo, hi = float(ev[0]), float(ev[-1])
    if not lo > 0:
        return math.inf
    return hi / lo


# --------------------------------------------------------------------------- SWAP


@proxy(
    "swap",
    reference="Peng et al., SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS, "
    "ICLR 2024 (pym1024/SWAP, src/metrics/swap.py)",
    needs_data=True,
    needs_labels=False,
    bn="train",
    dtype=torch.float32,
    unit="distinct unit patterns",
    shared=SHARED_TAG,
)
def swap(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """SWAP score: the number of distinct sample-wise activation patterns, where the pattern
    of a unit (one element of a ReLU module's 4-D output) is its on/off vector over the images
    of the first batch; one no-grad forward, BN in train mode.

    Peng et al., ICLR 2024 (the base score, without the parameter-count regularisation
    ``exp(-(params - mu)^2 / sigma)`` of the regularised variant). Higher is better. At most
    ``min(#units, 2^batch)``. The reference used 16 CIFAR images and averaged 32 repetitions,
    each after re-initialising the network with N(0, 1) weights; here one forward of the
    protocol's batch with the model's own weights."""
    codes = _shared_codes(model, batch, ctx, "swap")
    if codes.map_calls == 0:
        raise ZeronasError(
            "proxy 'swap' counts patterns of ReLUs on 4-D feature maps; the model applies none"
        )
    return float(codes.unit_patterns)


# --------------------------------------------------------------------------- MeCo


def _corr(feature: torch.Tensor) -> torch.Tensor:
    """Pearson correlation matrix (float64) of the rows of ``feature``, NaN/inf entries (from
    constant rows) set to 0 as in the reference."""
    corr = torch.corrcoef(feature.detach().to(torch.float64))
    return torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)


def _sum_min_eigs(matrices: Sequence[torch.Tensor]) -> float:
    """Sum of the smallest eigenvalues of symmetric ``matrices``, in the given order.

    Matrices of one size are decomposed in one batched call (a search scores hundreds of
    layers per network, and per-call overhead dominated); each matrix's eigenvalues are the
    ones a single call gives."""
    mins = [0.0] * len(matrices)
    by_size: dict[int, list[int]] = {}
    for i, m in enumerate(matrices):
        by_size.setdefault(m.shape[0], []).append(i)
    for idx in by_size.values():
        eig = torch.linalg.eigvalsh(torch.stack([matrices[i] for i in idx]))[:, 0]
        for i, v in zip(idx, eig.tolist(), strict=True):
            mins[i] = v
    return float(sum(mins))


@proxy(
    "meco",
    reference="Jiang et al., MeCo: Zero-Shot NAS with One Data and Single Forward Pass via "
    "Minimum Eigenvalue of Correlation, NeurIPS 2023 (HamsterMimi/MeCo)",
    needs_data=True,
    needs_labels=False,
    bn="train",
    dtype=torch.float32,
    unit="sum of min eigenvalues",
)
def meco(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """MeCo: one forward of ONE image (the first of the first batch, BN in train mode); for
    the output of every module call, reshaped to ``(channels, rest)``, the smallest eigenvalue
    of the channels' Pearson correlation matrix; the score is their sum.

    Jiang et al., NeurIPS 2023 (their NAS-Bench-201 script: batch size 1, train mode). Higher
    is better. As in the reference, *every* module counts, containers included (a
    ``Sequential``'s output is counted again after its last child's), so the value depends on
    how the model is nested; outputs with fewer than 3 dimensions (logits) contribute 0 there
    and are skipped here, as are non-tensor outputs; constant channels give NaN correlations,
    set to 0."""
    x = batch.first[0] if batch.batches else None
    if x is None or x.shape[0] < 1:
        raise ZeronasError("proxy 'meco' needs a batch of images, none was given")
    corrs: list[torch.Tensor] = []

    def hook(module: nn.Module, args: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and out.dim() >= 3 and out.is_floating_point():
            fea = out[0].reshape(out.shape[1], -1)
            if fea.shape[0] >= 2 and fea.shape[1] >= 2:  # else all-NaN, i.e. 0 in the reference
                corrs.append(_corr(fea))  # now: a later in-place op may change ``out``

    with _hooks() as handles, torch.no_grad():
        for m in model.modules():
            handles.append(m.register_forward_hook(hook))
        try:
            model(x[:1].detach())
        except ValueError as exc:
            if "more than 1 value per channel" not in str(exc):
                raise
            raise ZeronasError(
                "proxy 'meco' runs ONE image with BN in train mode, and this model has a "
                f"batch-norm layer that then sees a single value per channel ({exc})"
            ) from exc
    return _sum_min_eigs(corrs)


# --------------------------------------------------------------------------- Zen-NAS


def gaussian_init_(model: nn.Module, generator: torch.Generator) -> None:
    """Zen-NAS's initialisation, in place: conv and linear weights ~ N(0, 1), their biases 0,
    BN/GroupNorm affine weight 1 and bias 0; draws in ``model.modules()`` order."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator,
                                           dtype=m.weight.dtype))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                if m.weight is not None:
                    m.weight.fill_(1.0)
                if m.bias is not None:
                    m.bias.zero_()


@dataclass
class PreGap:
    """The pre-GAP feature map and the log BN scalings before it, of one forward."""

    feature: torch.Tensor
    log_bn_scaling: float
    bn_modules: tuple[nn.Module, ...] = ()
    """The BN modules called before the pre-GAP point, in call order, each once."""


def pre_gap_features(
    model: nn.Module, x: torch.Tensor, name: str = "zen", bn_stats: bool = True
) -> PreGap:
    """Run ``model`` on ``x`` (no gradients) and return its *pre-GAP feature map*: the input
    of the last ``nn.AdaptiveAvgPool2d`` call, unless a leaf module produced a 4-D output with
    more than one pixel after that call (e.g. a squeeze-excitation pool inside the body), in
    which case the last such output (the map a functional global pooling would read). 1x1 maps
    (a 1x1-conv head after the pooling) never count. A model that names the module whose
    input is its feature map in ``pre_gap_input`` (a module path; e.g. a dense decoder's last
    convolution, which has no pooling before it) gets exactly that. With ``bn_stats``, also returns
    ``sum log sqrt(mean_c var_c)`` over the BN calls made up to that point, ``var_c`` the
    unbiased batch variance of channel ``c`` of the BN's input (what ``running_var`` records
    with momentum 1); else 0."""
    step = [0]
    pool: list[tuple[int, torch.Tensor]] = []
    leaf: list[tuple[int, torch.Tensor]] = []
    bn_logs: list[tuple[int, float]] = []
    bn_calls: list[tuple[int, nn.Module]] = []

    def on_pool(module: nn.Module, args: tuple[Any, ...]) -> None:
        step[0] += 1
        if args and isinstance(args[0], torch.Tensor):
            pool[:] = [(step[0], args[0])]

    def on_leaf(module: nn.Module, args: Any, out: Any) -> None:
        step[0] += 1
        if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[2] * out.shape[3] > 1:
            leaf[:] = [(step[0], out)]

    def on_bn(module: nn.Module, args: tuple[Any, ...]) -> None:
        step[0] += 1
        bn_calls.append((step[0], module))
        if not bn_stats:
            return
        inp = args[0]
        dims = [d for d in range(inp.dim()) if d != 1]
        var = float(inp.detach().to(torch.float64).var(dim=dims, unbiased=True).mean())
        bn_logs.append((step[0], 0.5 * math.log(var) if var > 0 else -math.inf))

    named = getattr(model, "pre_gap_input", None)
    try:
        target = model.get_submodule(named) if isinstance(named, str) else None
    except AttributeError as exc:
        raise ZeronasError(f"the model's pre_gap_input {named!r} names no module: {exc}"
                           ) from exc
    with _hooks() as handles, torch.no_grad():
        for m in model.modules():
            if m is target or (target is None and isinstance(m, nn.AdaptiveAvgPool2d)):
                handles.append(m.register_forward_pre_hook(on_pool))
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                handles.append(m.register_forward_pre_hook(on_bn))
                handles.append(m.register_forward_hook(on_leaf))
            elif not isinstance(m, nn.AdaptiveAvgPool2d) and not any(True for _ in m.children()):
                handles.append(m.register_forward_hook(on_leaf))
        model(x)
    if target is not None:
        if not pool:
            raise ZeronasError(f"proxy {name!r}: the model's pre_gap_input {named!r} was "
                               "never called in the forward pass")
        at, feature = pool[0]
    elif pool and (not leaf or pool[0][0] > leaf[0][0]):
        at, feature = pool[0]
    elif leaf:
        at, feature = leaf[0]
    else:
        raise ZeronasError(
            f"proxy {name!r} needs a feature map before global pooling: the model has no "
            "AdaptiveAvgPool2d and no module with a 4-D output"
        )
    called = tuple(dict.fromkeys(m for s, m in bn_calls if s < at))
    return PreGap(feature, sum(v for s, v in bn_logs if s < at), called)


def zen_score(
    model: nn.Module,
    input_shape: Sequence[int],
    generator: torch.Generator,
    batch_size: int = ZEN_BATCH_SIZE,
    mixup_gamma: float = ZEN_MIXUP_GAMMA,
    repeat: int = ZEN_REPEAT,
    bn_variance: str = "batch",
) -> float:
    """Zen-score of ``model`` (changed in place: re-initialised, BN statistics updated).

    For each of ``repeat`` rounds: :func:`gaussian_init_`, ``x, e ~ N(0, 1)`` of shape
    ``(batch_size, *input_shape)``, ``delta = mean_b sum_chw |f(x) - f(x + gamma e)|`` with
    ``f`` the pre-GAP feature map (:func:`pre_gap_features`), and
    ``log(delta) + sum_BN log sqrt(mean_c var_c)`` with the BN batch variances of the forward
    of ``x`` (``bn_variance="batch"``, the paper) or each BN's ``running_var`` after both
    forwards (``"running"``, the released code). Returns the mean over rounds."""
    if repeat < 1:
        raise ZeronasError(f"zen repeat must be >= 1, got {repeat}")
    if bn_variance not in ("batch", "running"):
        raise ZeronasError(f"zen bn_variance must be 'batch' or 'running', got {bn_variance!r}")
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    shape = (int(batch_size), *(int(s) for s in input_shape))
    scores = []
    for _ in range(repeat):
        gaussian_init_(model, generator)
        x = torch.randn(shape, generator=generator, dtype=dtype)
        e = torch.randn(shape, generator=generator, dtype=dtype)
        clean = pre_gap_features(model, x)
        mixed = pre_gap_features(model, x + mixup_gamma * e, bn_stats=False)
        diff = (clean.feature - mixed.feature).abs().to(torch.float64)
        delta = float(diff.reshape(diff.shape[0], -1).sum(dim=1).mean())
        if bn_variance == "batch":
            log_bn = clean.log_bn_scaling
        else:
            log_bn = sum(0.5 * math.log(float(m.running_var.to(torch.float64).mean()))
                         for m in clean.bn_modules
                         if getattr(m, "running_var", None) is not None)
        scores.append((math.log(delta) if delta > 0 else -math.inf) + log_bn)
    return float(np.mean(scores))


DENSE_FEATURE_TASKS = ("segmentsemantic", "normal", "autoencoder")
"""TransNAS-Bench-101 tasks whose decoder is dense: the Zen-score's feature map there is the
input of the decoder's last convolution (see ``EncoderDecoder.pre_gap_input``)."""


def _zen_describe(space: str, network: str | None = None) -> dict[str, Any]:
    """The feature map's definition where it is not the input of a global pooling: part of
    the store key, so values computed before the dense decoders named it are not reused."""
    if space.startswith("tnb101") and network in DENSE_FEATURE_TASKS:
        return {"feature_map": "input of the decoder's last convolution (as NASLib)"}
    return {}


@proxy(
    "zen",
    reference="Lin et al., Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition, "
    "ICCV 2021 (idstcv/ZenNAS, ZeroShotProxy/compute_zen_score.py)",
    needs_data=False,
    needs_labels=False,
    bn="train",
    dtype=torch.float32,
    unit="log",
    describe=_zen_describe,
)
def zen(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Zen-score: the network is re-initialised with N(0, 1) conv/linear weights (BN affine
    1/0), two Gaussian batches ``x`` and ``x + 0.01 e`` (64 images of ``ctx.input_shape``,
    drawn from ``ctx.generator()``) go through it with BN in train mode, and the score is
    ``log(mean_b sum |f(x) - f(x + 0.01 e)|) + sum over BN layers of log sqrt(mean_c var_c)``,
    ``f`` the pre-GAP feature map and ``var_c`` the BN's batch variance per channel.

    Lin et al., ICCV 2021. Higher is better (more expressive). Data-free: the batch is
    ignored. The pre-GAP map of a generic module is the input of its last
    ``nn.AdaptiveAvgPool2d`` (or the last 4-D module output if a functional pooling follows);
    only BN calls before it count. The reference reads ``running_var`` after the two forwards
    with PyTorch's default momentum 0.1, i.e. ``0.81 + 0.09 var(x) + 0.1 var(x')`` rather than
    the batch variance its paper defines; here the paper's batch variance (of the forward of
    ``x``, unbiased) is used. That is not a small difference: about ``0.5 log 0.19`` per BN
    layer, so the reference penalises BN-heavy networks (on one NB201 network 175.4 as
    released against 239.2 here; the reference with BN momentum 1 gives 239.2 as well, 8e-4
    apart: the variance of ``x + 0.01 e`` rather than ``x``). One round (``ZEN_REPEAT``) as in
    ZenNAS's search; the norm is the reference's per-image L1 norm."""
    return zen_score(model, ctx.input_shape, ctx.generator())


@proxy(
    "zen_released",
    reference="Lin et al., ICCV 2021, as released (idstcv/ZenNAS, "
    "ZeroShotProxy/compute_zen_score.py: BN running_var)",
    needs_data=False,
    needs_labels=False,
    bn="train",
    dtype=torch.float32,
    unit="log",
    describe=_zen_describe,
)
def zen_released(model: nn.Module, batch: Batch, ctx: ProxyContext) -> float:
    """Zen-score as the released code computes it: the same as ``zen`` except that each BN
    layer's scaling is ``sqrt(mean_c running_var_c)`` read after the two forwards (PyTorch's
    momentum 0.1 from a fresh ``running_var = 1``: ``0.81 + 0.09 var(x) + 0.1 var(x')``).

    The running variance is never zero, so a BN whose input is all zero (a dead branch such as
    an NB201 edge fed only by ``none``) does not send the score to -inf as the paper's batch
    variance does; the published NB201 correlations of Zen-score were computed this way.
    Higher is better. Data-free."""
    return zen_score(model, ctx.input_shape, ctx.generator(), bn_variance="running")


__all__ = [
    "JACOB_COV_EPS",
    "NTK_MAX_SAMPLES",
    "RELU_TYPES",
    "SHARED_TAG",
    "ZEN_BATCH_SIZE",
    "ZEN_MIXUP_GAMMA",
    "ZEN_REPEAT",
    "PreGap",
    "ReluCodes",
    "empirical_ntk",
    "gaussian_init_",
    "input_jacobian",
    "jacob_cov",
    "jacob_cov_score",
    "linear_regions",
    "meco",
    "naswot",
    "ntk",
    "pre_gap_features",
    "relu_codes",
    "relu_modules",
    "swap",
    "zen",
    "zen_released",
    "zen_score",
]
