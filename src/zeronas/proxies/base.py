"""The proxy registry: one :class:`ProxySpec` per zero-cost proxy.

A proxy is a pure function ``fn(model, batch, ctx) -> float`` on any ``torch.nn.Module``.
The runner (:mod:`zeronas.proxies.runner`) owns everything around it: copying the model,
seeding, BN mode, dtype, hooks, NaN policy. A proxy function may change the model it is given
(it is always a private copy) but must remove every hook it registers.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from zeronas.errors import ZeronasError, unknown_name


@dataclass(frozen=True)
class Batch:
    """The protocol's inputs: one or more ``(images, labels)`` batches.

    ``labels`` may be None for unlabeled data; a proxy that needs labels then fails clearly.
    """

    batches: tuple[tuple[torch.Tensor, torch.Tensor | None], ...]
    synthetic: bool = False

    @property
    def first(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.batches[0]

    @property
    def inputs(self) -> torch.Tensor:
        return self.batches[0][0]


@dataclass
class ProxyContext:
    """What a proxy may need besides the model and the batch.

    ``input_shape`` is the per-sample shape ``(C, H, W)``; ``seed`` seeds any randomness the
    proxy draws (through :meth:`generator`, never the global RNG); ``loss`` maps
    ``(logits, labels)`` to a scalar (cross-entropy by default); ``cache`` is shared by the
    proxies of one runner call, so passes can be shared. ``space``, ``arch`` and ``network``
    (the dataset the network was built for) are set when the model was built from a search
    space; proxies that read the architecture rather than the module (``needs_arch``) use them.
    """

    input_shape: tuple[int, ...]
    num_classes: int
    seed: int = 0
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy
    cache: dict[str, Any] = field(default_factory=dict)
    space: Any = None
    arch: Any = None
    network: str | None = None

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh CPU generator seeded with ``seed + offset``."""
        return torch.Generator().manual_seed(int(self.seed) + int(offset))


ProxyFn = Callable[[nn.Module, Batch, ProxyContext], float]
BNMode = Literal["train", "eval", "off", "keep"]


@dataclass(frozen=True)
class ProxySpec:
    """A registered zero-cost proxy and everything the runner needs to run it honestly.

    - ``needs_data``: reads the batch's images (data-free proxies ignore it);
    - ``needs_labels``: reads labels (fails on unlabeled data);
    - ``needs_weights``: needs real parameter values (False for structural measures such as
      params and FLOPs, which can run on the meta device);
    - ``needs_arch``: reads ``ctx.space``/``ctx.arch`` (e.g. a learned graph predictor), so it
      works only on networks built from a search space;
    - ``needs_network``: reads the model at all. False (with ``needs_arch``) for a proxy of
      the architecture graph only: the runner then hands it an empty placeholder module
      instead of building the network (building was 70 % of a tgnas search's time);
    - ``bn``: the mode the model copy is put in before the proxy runs: ``train`` (batch
      statistics), ``eval`` (running statistics), ``off`` (every BN layer replaced by the
      identity, e.g. synflow) or ``keep`` (the caller's mode);
    - ``dtype``: the dtype the model copy and inputs are cast to;
    - ``shared``: proxies with the same non-empty tag reuse one forward/backward pass;
    - ``describe``: a function of the space name and the network's dataset/task (None when
      not known) giving protocol entries that the flags above do not capture (which learned
      weights; which feature map), also part of the score-store key.
    """

    name: str
    fn: ProxyFn
    description: str
    reference: str
    higher_is_better: bool = True
    needs_data: bool = True
    needs_labels: bool = False
    needs_weights: bool = True
    needs_arch: bool = False
    needs_network: bool = True
    bn: BNMode = "train"
    dtype: torch.dtype = torch.float32
    unit: str = ""
    shared: str = ""
    describe: Callable[..., dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not self.needs_network and (self.needs_data or self.needs_weights
                                       or not self.needs_arch):
            raise ZeronasError(
                f"proxy {self.name!r}: needs_network=False is for proxies of the architecture "
                "alone (needs_arch=True, needs_data=False, needs_weights=False)"
            )

    @property
    def data_free(self) -> bool:
        return not self.needs_data


_PROXIES: dict[str, ProxySpec] = {}


def register_proxy(spec: ProxySpec) -> ProxySpec:
    """Add ``spec`` to the registry (warns when a name is registered twice)."""
    if spec.name in _PROXIES and _PROXIES[spec.name] is not spec:
        warnings.warn(f"proxy {spec.name!r} registered twice; the later one wins", stacklevel=2)
    _PROXIES[spec.name] = spec
    return spec


def proxy(name: str, **kwargs: Any) -> Callable[[ProxyFn], ProxyFn]:
    """Decorator form of :func:`register_proxy`; the docstring's first paragraph is the
    description when none is given."""

    def deco(fn: ProxyFn) -> ProxyFn:
        desc = kwargs.pop("description", None) or (fn.__doc__ or "").strip().split("\n\n")[0]
        register_proxy(ProxySpec(name=name, fn=fn, description=" ".join(desc.split()), **kwargs))
        return fn

    return deco


def list_proxies(pattern: str = "*") -> list[str]:
    """Registered proxy names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _PROXIES if fnmatch.fnmatch(n, pattern))


def get_proxy(name: str) -> ProxySpec:
    """The :class:`ProxySpec` registered as ``name`` (close matches suggested if unknown)."""
    try:
        return _PROXIES[name]
    except KeyError:
        raise unknown_name("proxy", name, _PROXIES) from None


def resolve_proxies(names: Sequence[str], overrides: Mapping[str, ProxySpec] | None = None
                    ) -> list[ProxySpec]:
    """The specs of ``names``: ``overrides[name]`` where given (e.g. ``tgnas`` bound to other
    predictor weights), else the registered one (unknown names: a clear error)."""
    chosen = dict(overrides or {})
    return [chosen.get(n) or get_proxy(n) for n in names]


def parse_proxies(text: str | list[str]) -> list[ProxySpec]:
    """Parse ``"a,b,c"`` (or a list) into specs, rejecting unknown and repeated names."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if not names:
        from zeronas.errors import ZeronasError

        raise ZeronasError("no proxies given: expected a comma-separated list of proxy names")
    seen: set[str] = set()
    specs = []
    for n in names:
        if n in seen:
            from zeronas.errors import ZeronasError

            raise ZeronasError(f"proxy {n!r} is listed twice")
        seen.add(n)
        specs.append(get_proxy(n))
    return specs
