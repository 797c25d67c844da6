"""Matplotlib for result plots: headless (Agg) and optional (the ``plot`` extra)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zeronas.errors import ZeronasError


def pyplot(error: type[ZeronasError] = ZeronasError) -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), or ``error`` saying
    which extra to install when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise error("plots need the 'plot' extra: pip install 'zeronas[plot]'") from exc
    return plt


def png_path(out: str | os.PathLike[str]) -> Path:
    """``out`` with a ``.png`` suffix (any other suffix replaced), its folder created."""
    path = Path(out)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
