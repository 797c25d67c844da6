"""zeronas: zero-shot neural architecture search.

Rank untrained networks with zero-cost proxies and learned proxies, search architecture
spaces with those rankings, and measure honestly how well each ranking agrees with real
benchmark ground truth.
"""

from zeronas.errors import ZeronasError

__version__ = "0.1.0"
__all__ = ["ZeronasError", "__version__"]
