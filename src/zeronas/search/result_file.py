"""Reading a search run's result JSON back (``zeronas search`` / ``zeronas navigate``)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zeronas.errors import DataError


def load_result(path: str | os.PathLike[str], required: Sequence[str] = ("protocol",)
                ) -> dict[str, Any]:
    """The JSON object of a run result, with a DataError naming the file when it is missing,
    not JSON, or lacks one of the ``required`` top-level keys."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise DataError(f"no run result at {str(p)!r}") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise DataError(f"{str(p)!r} is not a JSON run result: {exc}") from None
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if missing:
        raise DataError(f"{str(p)!r} is not a zeronas search result: expected the JSON of "
                        f"`zeronas search` or `zeronas navigate` (missing {', '.join(missing)})")
    return data
