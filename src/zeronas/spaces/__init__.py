"""Search spaces: immutable architecture values, their strings, networks and graphs."""

from zeronas.spaces.base import (
    ArchGraph,
    DatasetInfo,
    Space,
    get_space,
    list_spaces,
    register_space,
)
from zeronas.spaces.nb201 import NB201Arch, NB201Space

register_space("nb201")(NB201Space)

__all__ = [
    "ArchGraph",
    "DatasetInfo",
    "NB201Arch",
    "NB201Space",
    "Space",
    "get_space",
    "list_spaces",
    "register_space",
]
