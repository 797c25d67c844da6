"""Task losses and synthetic targets for networks that are not plain image classifiers.

A :class:`~zeronas.spaces.base.DatasetInfo` names the loss its network was trained with
(``loss``) and the kind of target that loss compares against (``target``). Gradient proxies
(grad_norm, snip, ZiCo, ...) differentiate that loss, so a dense-prediction network is scored
through its own pixel-wise loss rather than through a cross-entropy it was never trained
with. Without the task's real data, targets are drawn at random with the task's shape (see
:func:`synthetic_targets`); :func:`task_protocol` says so for results files.

Losses (names used in ``DatasetInfo.loss``):

- ``cross_entropy``: ``torch.nn.functional.cross_entropy`` -- class logits ``(N, C)`` against
  integer labels ``(N,)``, or per-pixel logits ``(N, C, H, W)`` against ``(N, H, W)``;
- ``soft_cross_entropy``: ``-(t * log(softmax(x) + 1e-5)).sum(-1).mean()``, the
  ``SoftmaxCrossEntropyWithLogits`` TransNAS-Bench-101 trains its classification tasks with
  (targets are class distributions; integer labels are taken as one-hot distributions);
- ``mse``: mean squared error; ``l1``: mean absolute error.

Targets (names used in ``DatasetInfo.target``):

- ``class``: integer labels in ``[0, num_classes)``, as the batch loader already draws them;
- ``pixel_class``: integer labels in ``[0, num_classes)`` of shape ``output_shape[1:]``;
- ``gaussian``: standard normal values of ``output_shape`` (standardised regression targets);
- ``unit``: uniform values in ``[0, 1)`` of ``output_shape`` (an image read as ``[0, 1]``);
- ``input``: the input images themselves (an autoencoder reconstructs its input).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from zeronas.errors import unknown_name

if TYPE_CHECKING:
    from zeronas.spaces.base import DatasetInfo

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SOFT_CE_EPS = 1e-5
"""The constant TransNAS-Bench-101's ``SoftmaxCrossEntropyWithLogits`` adds inside the log."""
_TARGET_STREAM = 0x7A4E_7467
"""Mixed into the seed of the target generator, so targets never reuse the images' stream."""


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """TransNAS-Bench-101's classification loss: ``-(t * log(softmax(x) + 1e-5)).sum(-1)``,
    averaged over the batch. ``target`` is a class distribution per sample (the benchmark's
    Taskonomy labels are soft) or an integer label per sample (taken as one-hot)."""
    if not target.is_floating_point():
        if target.shape != logits.shape[:-1]:
            raise ValueError(
                f"integer targets of shape {tuple(target.shape)} do not match logits of shape "
                f"{tuple(logits.shape)}: expected one label per sample"
            )
        target = F.one_hot(target.long(), logits.shape[-1])
    target = target.to(logits.dtype)
    log_p = torch.log(torch.softmax(logits, dim=-1) + SOFT_CE_EPS)
    return -(target * log_p).sum(dim=-1).mean()


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (the target cast to the output's dtype)."""
    return F.mse_loss(output, target.to(output.dtype))


def l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error (the target cast to the output's dtype)."""
    return F.l1_loss(output, target.to(output.dtype))


LOSSES: dict[str, LossFn] = {
    "cross_entropy": F.cross_entropy,
    "soft_cross_entropy": soft_cross_entropy,
    "mse": mse,
    "l1": l1,
}
"""Task losses by name (``DatasetInfo.loss``)."""

TARGETS: dict[str, str] = {
    "class": "integer class labels, uniform over the classes",
    "pixel_class": "integer class labels per pixel, uniform over the classes",
    "gaussian": "standard normal values of the output's shape",
    "unit": "uniform values in [0, 1) of the output's shape",
    "input": "the input images themselves (reconstruction)",
}
"""Target kinds by name (``DatasetInfo.target``) and how synthetic ones are drawn."""


def task_loss(name: str) -> LossFn:
    """The loss function named ``name``; an unknown name lists the valid ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise unknown_name("task loss", name, LOSSES) from None


def check_target(name: str) -> str:
    """``name`` if it is a known target kind; otherwise an error listing the valid ones."""
    if name not in TARGETS:
        raise unknown_name("task target", name, TARGETS)
    return name


def target_generator(seed: int) -> torch.Generator:
    """The CPU generator targets are drawn from: seeded from ``seed`` but on a stream of its
    own, so targets are not a function of the images drawn with the same seed."""
    mixed = np.random.SeedSequence([int(seed) & 0xFFFF_FFFF, _TARGET_STREAM])
    return torch.Generator().manual_seed(int(mixed.generate_state(1, dtype=np.uint64)[0] >> 1))


def synthetic_targets(
    info: DatasetInfo, images: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Random targets for ``images`` (a batch) with the shape ``info``'s loss expects.

    ``class`` targets are integer labels of shape ``(N,)``; the other kinds are described in
    the module docstring. Values come from ``generator`` only.
    """
    kind = check_target(info.target)
    n = int(images.shape[0])
    out = info.out_shape
    if kind == "class":
        return torch.randint(0, info.num_classes, (n,), generator=generator)
    if kind == "pixel_class":
        return torch.randint(0, info.num_classes, (n, *out[1:]), generator=generator)
    if kind == "gaussian":
        return torch.randn((n, *out), generator=generator)
    if kind == "unit":
        return torch.rand((n, *out), generator=generator)
    # "input": the reconstruction target is the image itself
    if tuple(images.shape[1:]) != tuple(out):
        raise ValueError(
            f"task {info.name!r} reconstructs its input, but inputs of shape "
            f"{tuple(images.shape[1:])} differ from the output shape {tuple(out)}"
        )
    return images.clone()


def with_task_targets(
    info: DatasetInfo, pairs: Sequence[tuple[torch.Tensor, Any]], seed: int
) -> list[tuple[torch.Tensor, Any]]:
    """``pairs`` of (images, labels) with the labels replaced by synthetic targets of
    ``info``'s task, unless the task's targets are plain class labels (then unchanged)."""
    if check_target(info.target) == "class":
        return list(pairs)
    gen = target_generator(seed)
    return [(x, synthetic_targets(info, x, gen)) for x, _ in pairs]


def task_protocol(info: DatasetInfo) -> dict[str, Any]:
    """The task's loss and targets as protocol entries for results files."""
    kind = check_target(info.target)
    return {
        "task_loss": info.loss,
        "task_output_shape": list(info.out_shape),
        "task_targets": "labels of the data" if kind == "class"
        else f"synthetic: {TARGETS[kind]}",
    }
