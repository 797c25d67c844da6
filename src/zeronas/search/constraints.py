"""Hardware budgets as constraints, checked cheapest first and before any proxy runs.

Parameters and FLOPs are counted on a meta-device network (no memory, no arithmetic), cached
per canonical architecture string (``space.to_str``). Not per ``space.canonical``: two NB201
cells that compute the same function can differ in FLOPs (a convolution applied to an
all-zero node still runs and is counted), and a budget is about the network that is built.
Latency has no built-in measure here: it comes from a callable (the hardware module's
measured latency) passed as ``latency_fn``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zeronas.hardware.measures import count_flops, count_params
from zeronas.proxies.runner import build_network
from zeronas.search.base import SearchError
from zeronas.spaces.base import Space


@dataclass(frozen=True)
class Constraints:
    """Upper bounds on a network: ``max_flops`` (M multiply-adds per sample), ``max_params``
    (M parameters), ``max_latency_ms`` (needs ``latency_fn(arch) -> milliseconds``).
    None means unconstrained."""

    max_flops: float | None = None
    max_params: float | None = None
    max_latency_ms: float | None = None
    latency_fn: Callable[[Any], float] | None = None

    def __post_init__(self) -> None:
        for name in ("max_flops", "max_params", "max_latency_ms"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v <= 0:
                raise SearchError(f"{name} must be a positive number, got {v!r}")
        if self.max_latency_ms is not None and self.latency_fn is None:
            raise SearchError(
                "max_latency_ms needs measured latency, which this search cannot measure by "
                "itself: pass latency_fn=<callable(arch) -> milliseconds> (the hardware "
                "module's latency measurement), or drop the latency budget"
            )
        if self.latency_fn is not None and not callable(self.latency_fn):
            raise SearchError(f"latency_fn must be callable(arch) -> ms, got {self.latency_fn!r}")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.max_flops, self.max_params, self.max_latency_ms))

    def protocol(self) -> dict[str, Any]:
        return {
            "max_flops_M": self.max_flops,
            "max_params_M": self.max_params,
            "max_latency_ms": self.max_latency_ms,
            "latency_fn": None if self.latency_fn is None else getattr(
                self.latency_fn, "__qualname__", repr(self.latency_fn)),
            "flops_unit": "M multiply-adds per sample (NAS-Bench convention)",
            "params_unit": "M parameters",
        }


class ConstraintChecker:
    """Checks :class:`Constraints` for architectures of one space and dataset network.

    ``measure(arch)`` gives ``{"params": M, "flops": M}`` (cached); ``check(arch)`` returns
    None when ``arch`` is within every bound, else a short reason. Bounds are checked in the
    order params (cheapest: no forward pass), FLOPs (a meta-device forward), latency (a
    measurement), and the first violated one ends the check.
    """

    def __init__(self, space: Space[Any], dataset: str, constraints: Constraints) -> None:
        self.space = space
        self.dataset = dataset
        self.constraints = constraints
        self.info = space.dataset(dataset)
        self._params: dict[str, float] = {}
        self._flops: dict[str, float] = {}
        self._latency: dict[str, float] = {}
        self._nets: dict[str, Any] = {}

    def _net(self, key: str, arch: Any) -> Any:
        if key not in self._nets:
            self._nets.clear()  # only the latest one is worth keeping
            self._nets[key] = build_network(self.space, arch, self.dataset, 0, meta=True)
        return self._nets[key]

    def params(self, arch: Any, key: str | None = None) -> float:
        key = key or self.space.to_str(arch)
        if key not in self._params:
            self._params[key] = count_params(self._net(key, arch)) / 1e6
        return self._params[key]

    def flops(self, arch: Any, key: str | None = None) -> float:
        key = key or self.space.to_str(arch)
        if key not in self._flops:
            self._flops[key] = count_flops(self._net(key, arch), self.info.input_shape) / 1e6
        return self._flops[key]

    def latency(self, arch: Any, key: str | None = None) -> float:
        fn = self.constraints.latency_fn
        if fn is None:
            raise SearchError("no latency_fn was given")
        key = key or self.space.to_str(arch)
        if key not in self._latency:
            value = float(fn(arch))
            if not math.isfinite(value) or value < 0:
                raise SearchError(f"latency_fn gave {value!r} ms for {key}: expected a "
                                  "non-negative finite number")
            self._latency[key] = value
        return self._latency[key]

    def measure(self, arch: Any, key: str | None = None) -> dict[str, float]:
        """Params and FLOPs (M) of ``arch``, and its latency (ms) when a latency_fn is set."""
        key = key or self.space.to_str(arch)
        out = {"params": self.params(arch, key), "flops": self.flops(arch, key)}
        if self.constraints.latency_fn is not None:
            out["latency_ms"] = self.latency(arch, key)
        self._nets.clear()
        return out

    def check(self, arch: Any, key: str | None = None) -> str | None:
        c = self.constraints
        key = key or self.space.to_str(arch)
        try:
            if c.max_params is not None and (v := self.params(arch, key)) > c.max_params:
                return f"params {v:.4g}M > {c.max_params:g}M"
            if c.max_flops is not None and (v := self.flops(arch, key)) > c.max_flops:
                return f"flops {v:.4g}M > {c.max_flops:g}M"
            if c.max_latency_ms is not None and (v := self.latency(arch, key)) \
                    > c.max_latency_ms:
                return f"latency {v:.4g} ms > {c.max_latency_ms:g} ms"
        finally:
            self._nets.clear()
        return None
