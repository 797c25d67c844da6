"""The one runner every proxy goes through.

It owns the shared concerns so that proxy functions stay pure definitions:

- the caller's model is never changed: each proxy works on a deep copy (structural proxies,
  which read only shapes, get a meta-device copy);
- randomness comes from ``ctx.seed`` (a forked torch RNG, restored afterwards);
- BN mode and dtype are set per proxy from its :class:`ProxySpec`;
- hooks a proxy leaves behind are detected and reported as a bug;
- NaN/inf results are returned as NaN with a warning, never replaced by a made-up number;
- proxies that share a forward/backward pass (same ``shared`` tag) share one copy and one pass:
  the copy is the same object for all of them, and ``ctx.cache`` (fresh for every call) holds
  what the first of them computed.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from zeronas.bench.data import DataSpec, make_batches
from zeronas.errors import ZeronasError
from zeronas.hardware.measures import to_meta
from zeronas.proxies.base import Batch, ProxyContext, ProxySpec, get_proxy


class ProxyWarning(UserWarning):
    """A proxy produced NaN/inf or otherwise could not give a number."""


class ProxyFailed(ZeronasError):
    """A proxy could not run on the given model (wrong output shape, unsupported layers...)."""


class Scores(dict[str, float]):
    """``{proxy: value}`` as :func:`score_model` returns it, plus ``micro_batch``:
    ``{proxy: images per micro-batch}`` for each proxy whose batch did not fit in memory and
    whose value therefore comes from the batch split into micro-batches of that size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.micro_batch: dict[str, int] = {}


class _OutOfMemory(Exception):
    """Internal: a proxy ran out of memory (the allocator's error is ``__cause__``)."""

    def __init__(self, first_line: str) -> None:
        super().__init__(first_line)
        self.first_line = first_line

    def failure(self, spec: ProxySpec, used: Batch, why: str) -> ProxyFailed:
        size = _largest(used) if spec.needs_data else 0
        advice = ("Free memory, use a smaller --batch-size, or score a smaller network"
                  if spec.needs_data else "Free memory or score a smaller network")
        return ProxyFailed(
            f"proxy {spec.name!r} ran out of memory on this model"
            + (f" with batch size {size}" if size else "")
            + f" ({self.first_line}); {why}. {advice}")


@dataclass(frozen=True)
class ScoreSettings:
    """The scoring protocol: data, batch size, number of batches and seed.

    ``batches`` is how many batches are drawn (ZiCo uses all of them; single-batch proxies
    use the first). ``seed`` seeds both the network initialisation and the batch draw.
    """

    batch_size: int = 64
    batches: int = 2
    seed: int = 0
    data: DataSpec = field(default_factory=DataSpec)
    split_on_oom: bool = True
    """Rerun a proxy that runs out of memory on micro-batches (see :func:`score_model`); not
    part of :meth:`protocol`: a split value is recorded with its micro-batch size instead."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ZeronasError(f"batch size must be >= 1, got {self.batch_size}")
        if self.batches < 1:
            raise ZeronasError(f"batches must be >= 1, got {self.batches}")

    def protocol(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict for results files."""
        return {
            "batch_size": self.batch_size,
            "batches": self.batches,
            "seed": self.seed,
            "data": self.data.source,
            "data_description": self.data.describe(),
        }


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's RNG seeded to ``seed``, restoring the caller's RNG after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _hook_count(model: nn.Module) -> int:
    """Hooks on the modules and parameters of ``model`` (one pass over the modules: this
    runs twice per proxy, on the hot path of a search)."""
    total = 0
    for m in model.modules():
        total += len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        total += len(getattr(m, "_backward_pre_hooks", {}))
        for p in m._parameters.values():
            hooks = getattr(p, "_backward_hooks", None) if p is not None else None
            total += len(hooks) if hooks else 0
    return total


def _in_dtype(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``model.to(dtype)``, skipped when every floating-point tensor already has ``dtype``
    (``Module.to`` walks every module even then, a measurable cost per architecture)."""
    for m in model.modules():
        for t in (*m._parameters.values(), *m._buffers.values()):
            if t is not None and t.is_floating_point() and t.dtype != dtype:
                return model.to(dtype)
    return model


def _remove_bn(model: nn.Module) -> None:
    """Replace every batch-norm layer of ``model`` (a private copy) by the identity."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, child_name, nn.Identity())


def _set_bn(model: nn.Module, mode: str) -> None:
    if mode == "off":
        _remove_bn(model)
        model.train()
    elif mode == "train":
        model.train()
    elif mode == "eval":
        model.eval()


def _cast_batch(batch: Batch, dtype: torch.dtype) -> Batch:
    if all(x.dtype == dtype for x, _ in batch.batches):
        return batch
    return Batch(tuple((x.to(dtype), y) for x, y in batch.batches), synthetic=batch.synthetic)


def _finite_or_nan(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"proxy {name!r} returned {value!r}, expected a float") from exc
    if not math.isfinite(v):
        warnings.warn(f"proxy {name!r} gave {v}; reported as NaN", ProxyWarning, stacklevel=3)
        return math.nan
    return v


def _check_batch(
    specs: Sequence[ProxySpec], batch: Batch | None, ctx: ProxyContext | None = None
) -> None:
    for spec in specs:
        if spec.needs_data and (batch is None or not batch.batches):
            raise ZeronasError(f"proxy {spec.name!r} needs a batch of data, none was given")
        if spec.needs_arch and (ctx is None or ctx.arch is None or ctx.space is None):
            raise ZeronasError(
                f"proxy {spec.name!r} scores architectures of a search space, not arbitrary "
                "modules: score it through a space (score_arch, zeronas score/correlate)"
            )
        if spec.needs_labels and batch is not None and any(y is None for _, y in batch.batches):
            raise ZeronasError(
                f"proxy {spec.name!r} needs labels, but the data has none: give labeled data or "
                "choose a label-free proxy"
            )


def score_model(
    model: nn.Module,
    proxies: Sequence[str | ProxySpec],
    batch: Batch | None,
    ctx: ProxyContext,
    *,
    owned: bool = False,
    fresh: Callable[[], nn.Module] | None = None,
    split: bool = True,
) -> Scores:
    """Score ``model`` with each proxy; returns ``{name: value}`` in the order given.

    The model is not modified: each proxy (or group sharing a pass) works on its own copy.
    Values are floats, NaN where a proxy could not give a finite number (with a
    :class:`ProxyWarning`).

    Copies are the hot path of a search (a ``deepcopy`` of an NB201 network costs about as
    much as a cheap proxy), so a caller that built the network for this call alone can say
    so: ``owned=True`` hands ``model`` over and it is left changed. Proxies then work on it
    directly: after a proxy (or shared group) that kept the module structure, the model's
    parameters, buffers, modes and dtype are restored from a snapshot taken first, so the
    next proxy again sees the pristine network; proxies that remove BN (``bn="off"``) run
    last. Where a pristine copy is still needed, ``fresh`` builds one (for example the same
    seeded constructor) instead of ``deepcopy``. Values are the same as on copies.

    A data-reading proxy that runs out of memory is run again, on a pristine copy, with each
    batch split into micro-batches (halved until they fit): BN statistics and kernels over
    the batch then see one micro-batch, a single-batch proxy the first micro-batch, a
    multi-batch proxy (zico) every micro-batch as a batch, so the value is *not* the number of
    the requested protocol. It is never passed off as one: a :class:`ProxyWarning` says so and
    the result's ``micro_batch`` maps the proxy to the micro-batch size used, for callers to
    record. ``split=False``, or a proxy that does not read the batch, raises
    :class:`ProxyFailed` instead.
    """
    specs = [get_proxy(p) if isinstance(p, str) else p for p in proxies]
    _check_batch(specs, batch, ctx)
    ctx = dataclasses.replace(ctx, cache={})  # shared passes never leak between calls
    results: dict[str, float] = {}
    scores = Scores()
    shared_copies: dict[tuple[str, str, torch.dtype], nn.Module] = {}
    # structure-changing proxies last, so the owned model can be restored between the others
    order = sorted(range(len(specs)),
                   key=lambda i: specs[i].needs_weights and specs[i].bn == "off")
    group = [(s.shared, s.bn, s.dtype) if s.shared else ("", s.name, s.dtype) for s in specs]
    last_of_group = {group[i]: i for i in order}
    # one proxy: no reuse, unless an out-of-memory retry needs the pristine model back
    snapshot = (_Snapshot(model) if owned and (len(specs) > 1 or (split and fresh is None))
                else None)
    model_free = owned  # the owned model is pristine and nobody works on it
    for i in order:
        spec = specs[i]
        if not spec.needs_weights:
            pristine = model if (model_free or not owned) else fresh_or_copy(model, fresh)
            work = to_meta(pristine)
        else:
            key = (spec.shared, spec.bn, spec.dtype)
            if spec.shared and key in shared_copies:
                work = shared_copies[key]
            else:
                if model_free:
                    work, model_free = model, False
                else:
                    work = fresh_or_copy(model, fresh)
                work = _in_dtype(work, spec.dtype)
                _set_bn(work, spec.bn)
                if spec.shared:
                    shared_copies[key] = work
        used = _cast_batch(batch, spec.dtype) if batch is not None else Batch(())
        hooks_before = _hook_count(work)
        try:
            value = _run_proxy(spec, work, used, ctx)
        except _OutOfMemory as exc:
            oom = exc.with_traceback(None)  # its frames hold the failed copy: let it go
            del exc
            if _hook_count(work) != hooks_before:
                raise RuntimeError(f"proxy {spec.name!r} left hooks on the model after running "
                                   "out of memory (a bug in zeronas)") from oom.__cause__
            if not spec.needs_data:
                raise oom.failure(spec, used, "the proxy does not read the batch, so a "
                                  "smaller batch cannot help") from oom.__cause__
            if not split or _largest(used) <= 1:
                why = ("splitting is turned off (--no-split)" if not split
                       else "even one image at a time does not fit")
                raise oom.failure(spec, used, why) from oom.__cause__
            if work is model:  # the failed pass left the handed-over model changed
                model_free = snapshot is not None and snapshot.restore(model)
                if not model_free and fresh is None:
                    raise oom.failure(spec, used, "no pristine copy of the handed-over model "
                                      "is left to retry on") from oom.__cause__
            if spec.shared:
                shared_copies.pop((spec.shared, spec.bn, spec.dtype), None)
            del work  # a failed copy: its gradients go before the retry allocates

            def pristine(spec: ProxySpec = spec) -> nn.Module:
                work = _in_dtype(fresh_or_copy(model, fresh), spec.dtype)
                _set_bn(work, spec.bn)
                return work

            work, value, hooks_before, micro = _run_split(spec, pristine, used, ctx, oom)
            scores.micro_batch[spec.name] = micro
        if _hook_count(work) != hooks_before:
            raise RuntimeError(f"proxy {spec.name!r} left hooks on the model (a bug in zeronas)")
        if (snapshot is not None and work is model and last_of_group[group[i]] == i
                and spec.bn != "off"):
            model_free = snapshot.restore(model)  # False: structure changed, rebuild instead
        results[spec.name] = _finite_or_nan(spec.name, value)
    scores.update((s.name, results[s.name]) for s in specs)
    return scores


def pass_groups(specs: Sequence[ProxySpec], shared: bool) -> list[list[ProxySpec]]:
    """How to split ``specs`` into :func:`score_model` calls: one proxy per call, or with
    ``shared`` one call per shared-pass tag (proxies with the same ``shared`` tag reuse one
    forward/backward pass) and one per untagged proxy, in first-appearance order. Timing each
    call and splitting its time evenly then charges a proxy only for the pass it shares."""
    if not shared:
        return [[s] for s in specs]
    groups: dict[str, list[ProxySpec]] = {}
    for i, s in enumerate(specs):
        groups.setdefault(s.shared or f"\0{i}", []).append(s)
    return list(groups.values())


def score_in_groups(
    model: nn.Module, specs: Sequence[ProxySpec], batch: Batch | None, ctx: ProxyContext,
    *, shared: bool = False, split: bool = True,
) -> Iterator[tuple[list[ProxySpec], Scores, float]]:
    """Score ``specs`` on ``model`` one :func:`pass_groups` group at a time, yielding
    ``(group, scores, seconds per proxy)`` as each group finishes (so a caller can store it
    at once). A group gets ``batch`` only if one of its proxies reads data; its time, copies
    included, is split evenly over its proxies."""
    for group in pass_groups(specs, shared):
        t0 = time.perf_counter()
        scores = score_model(model, group, batch if any(s.needs_data for s in group) else None,
                             ctx, split=split)
        yield group, scores, (time.perf_counter() - t0) / len(group)


def _run_proxy(spec: ProxySpec, work: nn.Module, used: Batch, ctx: ProxyContext) -> Any:
    """Run one proxy on ``work`` under the context's seed and return its raw value.
    An allocation failure becomes :class:`_OutOfMemory`; any other failure of the model
    becomes :class:`ProxyFailed` naming the proxy."""
    try:
        with seeded(ctx.seed):
            return spec.fn(work, used, ctx)
    except ZeronasError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError, MemoryError) as exc:
        first = first_line(exc)
        if is_out_of_memory(exc):
            # the traceback's frames hold the failed pass's activations: drop them, so
            # the retry has the memory back
            raise _OutOfMemory(first) from exc.with_traceback(None)
        raise ProxyFailed(
            f"proxy {spec.name!r} could not run on this model ({type(exc).__name__}: "
            f"{first}); proxies expect a module mapping images to logits of shape "
            f"(batch, {ctx.num_classes})"
        ) from exc


def _largest(batch: Batch) -> int:
    """The largest batch size in ``batch`` (0 for no data)."""
    return max((int(x.shape[0]) for x, _ in batch.batches), default=0)


def split_batch(batch: Batch, size: int) -> Batch:
    """The same images, in order, as micro-batches of at most ``size``: each ``(x, y)``
    becomes ``ceil(len(x) / size)`` consecutive pieces (labels, of any shape, split with
    their images)."""
    if size < 1:
        raise ZeronasError(f"micro-batch size must be >= 1, got {size}")
    pieces: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    for x, y in batch.batches:
        xs = torch.split(x, size)
        ys = torch.split(y, size) if y is not None else (None,) * len(xs)
        pieces.extend(zip(xs, ys, strict=True))
    return Batch(tuple(pieces), synthetic=batch.synthetic)


def _run_split(
    spec: ProxySpec, pristine: Callable[[], nn.Module], used: Batch, ctx: ProxyContext,
    oom: _OutOfMemory,
) -> tuple[nn.Module, Any, int, int]:
    """Rerun ``spec`` after an out-of-memory error on micro-batches of half, a quarter...
    of the batch until one fits: ``(model it ran on, raw value, hooks before, micro-batch
    size)``, with a :class:`ProxyWarning` that the value belongs to the smaller batch.
    Every attempt starts from a pristine model and an empty shared-pass cache."""
    size = _largest(used)
    micro = size
    while micro > 1:
        micro = (micro + 1) // 2
        gc.collect()  # the failed attempt's tensors, before the next one allocates
        try:
            work = pristine()
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            raise oom.failure(spec, used, "not even a fresh copy of the network fits"
                              ) from exc.with_traceback(None)
        hooks = _hook_count(work)
        pieces = split_batch(used, micro)
        try:
            value = _run_proxy(spec, work, pieces, dataclasses.replace(ctx, cache={}))
        except _OutOfMemory as again:
            oom = again.with_traceback(None)  # drop the frames holding this attempt's copy
            del again, work
            continue
        warnings.warn(
            f"proxy {spec.name!r} ran out of memory at batch size {size} ({oom.first_line}); "
            f"it was rerun with each batch split into micro-batches of {micro}: BN batch "
            f"statistics and kernels over the batch see {micro} images, a proxy that reads one "
            f"batch sees the first {micro} images, one that reads every batch (zico) sees "
            f"{len(pieces.batches)} batches of up to {micro}. The value is "
            "recorded with micro_batch, not as the requested protocol's",
            ProxyWarning, stacklevel=3)
        return work, value, hooks, micro
    raise oom.failure(spec, used, "no micro-batch size down to 1 image fit"
                      ) from oom.__cause__


class _Snapshot:
    """Parameters, buffers, train/eval modes, requires_grad flags and dtype of a model, to
    put it back exactly after a proxy that kept its module structure.

    Restoring is on the hot path of a search (once per proxy group per architecture), so
    when the proxy left every module, parameter and buffer object in place -- the usual
    case -- the values are copied back in one ``torch._foreach_copy_`` call; anything else
    (a tensor replaced, a dtype changed) goes through ``load_state_dict``.
    """

    def __init__(self, model: nn.Module) -> None:
        self.modules = list(model.modules())
        self.structure = [(n, type(m)) for n, m in model.named_modules()]
        self.tensors = self._tensors(self.modules)
        self.saved = [t.detach().clone() for t in self.tensors]
        # the fallback's state dict, sharing the clones (a module or tensor registered under
        # two names appears once in ``tensors`` and under both names here)
        by_id = {id(t): c for t, c in zip(self.tensors, self.saved, strict=True)}
        self.state = {k: by_id[id(v)] for k, v in model.state_dict(keep_vars=True).items()}
        self.modes = [m.training for m in self.modules]
        self.flags = [p.requires_grad for p in model.parameters()]
        param = next(model.parameters(), None)
        self.dtype = param.dtype if param is not None else None

    @staticmethod
    def _tensors(modules: Sequence[nn.Module]) -> list[torch.Tensor]:
        """Every parameter and persistent buffer, in ``state_dict`` order."""
        out: list[torch.Tensor] = []
        for m in modules:
            out.extend(p for p in m._parameters.values() if p is not None)
            skip = m._non_persistent_buffers_set
            out.extend(b for k, b in m._buffers.items() if b is not None and k not in skip)
        return out

    def _unchanged(self, model: nn.Module) -> bool:
        modules = list(model.modules())
        if len(modules) != len(self.modules) or any(
                a is not b for a, b in zip(modules, self.modules, strict=True)):
            return False
        live = self._tensors(modules)
        return len(live) == len(self.tensors) and all(
            a is b and a.dtype == s.dtype and a.shape == s.shape
            for a, b, s in zip(live, self.tensors, self.saved, strict=True))

    def restore(self, model: nn.Module) -> bool:
        """Put ``model`` back; False (model left as is) if its module structure changed."""
        if self._unchanged(model):
            with torch.no_grad():
                torch._foreach_copy_([t.detach() for t in self.tensors], self.saved)
        else:
            if [(n, type(m)) for n, m in model.named_modules()] != self.structure:
                return False
            if self.dtype is not None:
                model.to(self.dtype)
            with torch.no_grad():
                model.load_state_dict(self.state, strict=True)
        for m, mode in zip(model.modules(), self.modes, strict=True):
            m.training = mode
        for p, flag in zip(model.parameters(), self.flags, strict=True):
            p.grad = None
            p.requires_grad_(flag)
        return True


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type name when the message is empty
    (``MemoryError()`` has none), for one-line error messages."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (CUDA OOM or the CPU allocator's)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):  # MemoryError: numpy, Python
        return True
    text = str(exc)
    return "out of memory" in text.lower() or "can't allocate memory" in text


def fresh_or_copy(model: nn.Module, fresh: Callable[[], nn.Module] | None) -> nn.Module:
    """A pristine copy of ``model``: ``fresh()`` when given (cheaper), else a deepcopy."""
    return fresh() if fresh is not None else copy.deepcopy(model)


def build_network(space: Any, arch: Any, dataset: str, seed: int, meta: bool = False) -> nn.Module:
    """The network of ``arch`` for ``dataset``, initialised under ``seed`` (or on meta)."""
    if meta:
        with torch.device("meta"):
            return space.network_for(arch, dataset)
    with seeded(seed):
        return space.network_for(arch, dataset)


class NoNetwork(nn.Module):
    """The placeholder model handed to proxies that do not read the network
    (``ProxySpec.needs_network=False``): no parameters, and calling it is an error."""

    def forward(self, *args: Any) -> torch.Tensor:
        raise ZeronasError("this proxy declared needs_network=False but ran the model")


def network_for_proxies(
    specs: Sequence[ProxySpec], space: Any, arch: Any, dataset: str, seed: int,
    weights: bool = False,
) -> nn.Module:
    """The network the proxies ``specs`` read: built under ``seed`` when one needs real
    weights (or ``weights``: e.g. to time a forward+backward), on the meta device when they
    only need its structure, and a :class:`NoNetwork` placeholder when none reads the
    network at all (graph predictors such as ``tgnas``)."""
    if not weights and not any(s.needs_network for s in specs):
        return NoNetwork()
    return build_network(space, arch, dataset, seed,
                         meta=not (weights or any(s.needs_weights for s in specs)))


def make_context(
    space: Any, dataset: str, settings: ScoreSettings, arch: Any = None
) -> ProxyContext:
    """The :class:`ProxyContext` for networks of ``space`` on ``dataset`` (``arch`` optional).

    ``loss`` is the dataset's (task's) training loss (``DatasetInfo.loss``): cross-entropy for
    classifiers, e.g. L1 for TransNAS-Bench-101's pixel-wise tasks.
    """
    from zeronas.spaces.tasks import task_loss

    info = space.dataset(dataset)
    return ProxyContext(input_shape=info.input_shape, num_classes=info.num_classes,
                        seed=settings.seed, loss=task_loss(info.loss), space=space, arch=arch,
                        network=dataset)


def make_batch(space: Any, dataset: str, settings: ScoreSettings) -> Batch:
    """The protocol's batches for networks of ``space`` on ``dataset``.

    For a task whose targets are not class labels (``DatasetInfo.target``: pixel labels,
    regression values, images), the labels are replaced by synthetic targets of the task's
    shape, drawn from ``settings.seed`` (:func:`zeronas.spaces.tasks.with_task_targets`;
    :func:`zeronas.spaces.tasks.task_protocol` describes them for results files).
    """
    from zeronas.spaces.tasks import with_task_targets

    info = space.dataset(dataset)
    # labels of non-class tasks are replaced below: draw them over >= 10 classes, so that
    # real CIFAR-10 images are accepted for, e.g., a 9-value regression task
    classes = info.num_classes if info.target == "class" else max(info.num_classes, 10)
    pairs = make_batches(settings.data, settings.batch_size, settings.batches, settings.seed,
                         info.input_shape, classes)
    pairs = with_task_targets(info, pairs, settings.seed)
    return Batch(tuple(pairs), synthetic=settings.data.is_synthetic)


def score_arch(
    space: Any,
    arch: Any,
    proxies: Sequence[str | ProxySpec],
    dataset: str,
    settings: ScoreSettings | None = None,
    batch: Batch | None = None,
) -> Scores:
    """Build ``arch``'s network for ``dataset`` and score it with ``proxies`` (see
    :func:`score_model` for ``micro_batch``, set when a batch did not fit in memory).

    Structural proxies alone run on a meta-device network (no memory, no data). ``batch`` may
    be passed to reuse the same images over many architectures.
    """
    settings = settings or ScoreSettings()
    specs = [get_proxy(p) if isinstance(p, str) else p for p in proxies]
    net = network_for_proxies(specs, space, arch, dataset, settings.seed)
    if batch is None and any(s.needs_data for s in specs):
        batch = make_batch(space, dataset, settings)
    return score_model(net, specs, batch, make_context(space, dataset, settings, arch),
                       split=settings.split_on_oom)
