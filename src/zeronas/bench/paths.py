"""Where data lives: always an explicit argument or the ``ZERONAS_DATA`` directory."""

from __future__ import annotations

import os
from pathlib import Path

from zeronas.errors import DataError

ENV_VAR = "ZERONAS_DATA"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``explicit`` if given, else ``$ZERONAS_DATA``.

    Raises DataError naming both options when neither is set or the directory is missing.
    """
    raw = explicit if explicit is not None else os.environ.get(ENV_VAR)
    if raw is None or str(raw) == "":
        raise DataError(
            f"no data directory: pass a path or set {ENV_VAR} to the folder that holds "
            "nb201/, cifar10/, ... (see the README, 'Benchmark data')"
        )
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise DataError(f"data directory {str(path)!r} does not exist or is not a directory")
    return path


def data_file(relative: str, explicit: str | os.PathLike[str] | None = None) -> Path:
    """A file below the data directory, with an error naming it when it is missing."""
    path = data_dir(explicit) / relative
    if not path.exists():
        raise DataError(f"data file {str(path)!r} not found (expected under ${ENV_VAR}/{relative})")
    return path
