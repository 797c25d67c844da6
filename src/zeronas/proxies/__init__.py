"""Zero-cost proxies: the registry, the runner, and the proxy definitions."""

from zeronas.proxies import (  # noqa: F401  (importing registers the proxies)
    activation,
    aznas,
    gradient,
    structural,
    tgnas_proxy,
)
from zeronas.proxies.base import (
    Batch,
    ProxyContext,
    ProxySpec,
    get_proxy,
    list_proxies,
    parse_proxies,
    register_proxy,
)
from zeronas.proxies.runner import (
    ProxyWarning,
    Scores,
    ScoreSettings,
    score_arch,
    score_model,
)

__all__ = [
    "Batch",
    "ProxyContext",
    "ProxySpec",
    "ProxyWarning",
    "ScoreSettings",
    "Scores",
    "get_proxy",
    "list_proxies",
    "parse_proxies",
    "register_proxy",
    "score_arch",
    "score_model",
]
