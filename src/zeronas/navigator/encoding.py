"""Architectures as a fixed list of slots, each holding one of a few options.

The navigator needs to talk about "the operation on edge 2" (to show which operations score
well, to exclude or pin one, to place candidates on a 2-D map). That needs a space whose
architectures are a fixed number of categorical choices. :class:`SlotEncoding` says what the
slots are, their options, and how to go between an architecture and its choices; it is
registered per space name, so a new space joins the navigator by registering one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zeronas.errors import unknown_name
from zeronas.spaces.base import Space


@dataclass(frozen=True)
class SlotEncoding:
    """A space's architectures as ``len(slots)`` categorical choices.

    ``slots[i]`` is a short label of slot ``i`` (``"1<-0"`` for the NB201 edge from node 0 to
    node 1), ``options[i]`` its possible values (strings) in the space's own order;
    ``decode(arch)`` gives the chosen option of every slot and ``encode(choices)`` the
    architecture back. ``kind`` names what a slot is (``edge``, ``layer``) for the page.
    """

    slots: tuple[str, ...]
    options: tuple[tuple[str, ...], ...]
    decode: Callable[[Any], tuple[str, ...]]
    encode: Callable[[Sequence[str]], Any]
    kind: str = "edge"

    @property
    def width(self) -> int:
        """Length of the one-hot vector of an architecture."""
        return sum(len(o) for o in self.options)

    def one_hot(self, archs: Sequence[Any]) -> np.ndarray:
        """The one-hot matrix (architectures x all slot options) of ``archs``."""
        offsets = np.cumsum([0, *[len(o) for o in self.options[:-1]]])
        index = [{op: k for k, op in enumerate(o)} for o in self.options]
        out = np.zeros((len(archs), self.width), dtype=float)
        for r, arch in enumerate(archs):
            for s, op in enumerate(self.decode(arch)):
                out[r, offsets[s] + index[s][op]] = 1.0
        return out


_ENCODINGS: dict[str, Callable[[Space[Any]], SlotEncoding]] = {}


def register_encoding(space_name: str
                      ) -> Callable[[Callable[[Space[Any]], SlotEncoding]],
                                    Callable[[Space[Any]], SlotEncoding]]:
    """Decorator registering ``factory(space) -> SlotEncoding`` for a space name."""

    def deco(factory: Callable[[Space[Any]], SlotEncoding]
             ) -> Callable[[Space[Any]], SlotEncoding]:
        _ENCODINGS[space_name] = factory
        return factory

    return deco


def slot_encoding(space: Space[Any]) -> SlotEncoding:
    """The :class:`SlotEncoding` of ``space`` (an error naming the supported spaces if none)."""
    try:
        factory = _ENCODINGS[space.name]
    except KeyError:
        raise unknown_name("space for the navigator (one with a fixed list of choices)",
                           space.name, _ENCODINGS) from None
    return factory(space)


@register_encoding("nb201")
def _nb201(space: Space[Any]) -> SlotEncoding:
    from zeronas.spaces.nb201 import EDGES, OPS, NB201Arch

    return SlotEncoding(
        slots=tuple(f"{t}<-{s}" for s, t in EDGES),
        options=tuple(OPS for _ in EDGES),
        decode=lambda arch: tuple(arch.ops),
        encode=lambda choices: NB201Arch(tuple(choices)),
        kind="edge",
    )


@register_encoding("nats_sss")
def _nats_sss(space: Space[Any]) -> SlotEncoding:
    from zeronas.spaces.nats_sss import CANDIDATES, LAYER_ROLES, NATSSizeArch

    opts = tuple(str(c) for c in CANDIDATES)
    return SlotEncoding(
        slots=LAYER_ROLES,
        options=tuple(opts for _ in LAYER_ROLES),
        decode=lambda arch: tuple(str(c) for c in arch.channels),
        encode=lambda choices: NATSSizeArch(tuple(int(c) for c in choices)),
        kind="layer",
    )
