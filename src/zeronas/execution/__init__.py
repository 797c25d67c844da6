"""Where scoring runs and where scores are kept (a SQLite store keyed by protocol)."""

from zeronas.execution.store import ScoreStore, protocol_key

__all__ = ["ScoreStore", "protocol_key"]
