"""User-facing errors.

Every error a user can cause with bad input (an unknown op, a malformed architecture string,
a missing data file) is a :class:`ZeronasError`. The CLI prints its message on one line and
exits with code 2; library users can catch it as a ``ValueError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZeronasError(ValueError):
    """Bad input that the user can fix; the message names the input and what was expected."""


class ArchitectureError(ZeronasError):
    """A malformed or invalid architecture (string, index, or value)."""


class UnknownNameError(ZeronasError):
    """An unknown registry name (space, proxy, dataset, op)."""


class DataError(ZeronasError):
    """A missing or malformed data file."""


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> UnknownNameError:
    """Build an :class:`UnknownNameError` that lists close matches and the valid names."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownNameError(
        f"unknown {kind} {name!r}.{hint} Valid names: {', '.join(valid)}"
    )
