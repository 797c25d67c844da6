"""Search spaces: immutable architecture values, their strings, networks and graphs."""

from zeronas.spaces.base import (
    ArchGraph,
    DatasetInfo,
    Space,
    get_space,
    list_spaces,
    register_space,
)
from zeronas.spaces.darts import DartsGenotype, DartsSpace
from zeronas.spaces.mbv2 import MBV2Arch, MBV2Space
from zeronas.spaces.nats_sss import NATSSizeArch, NATSSizeSpace
from zeronas.spaces.nb101 import NB101Arch, NB101Space
from zeronas.spaces.nb201 import NB201Arch, NB201Space
from zeronas.spaces.tnb101 import (
    TNB101MacroArch,
    TNB101MacroSpace,
    TNB101MicroArch,
    TNB101MicroSpace,
)

register_space("nb201")(NB201Space)
register_space("nats_sss")(NATSSizeSpace)
register_space("mbv2")(MBV2Space)
register_space("darts")(DartsSpace)
register_space("nb101")(NB101Space)
register_space("tnb101_micro")(TNB101MicroSpace)
register_space("tnb101_macro")(TNB101MacroSpace)

__all__ = [
    "ArchGraph",
    "DartsGenotype",
    "DartsSpace",
    "DatasetInfo",
    "MBV2Arch",
    "MBV2Space",
    "NATSSizeArch",
    "NATSSizeSpace",
    "NB101Arch",
    "NB101Space",
    "NB201Arch",
    "NB201Space",
    "Space",
    "TNB101MacroArch",
    "TNB101MacroSpace",
    "TNB101MicroArch",
    "TNB101MicroSpace",
    "get_space",
    "list_spaces",
    "register_space",
]
