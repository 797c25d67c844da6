"""The navigator: watch and steer a search in the browser, replay it, report on it.

- :class:`NavigatorRun` runs an ask/tell search in a background thread with pause, resume,
  stop, op exclusion/pinning (a :class:`RestrictedSpace`) and hand-added candidates, every
  action recorded in the store; :func:`replay` reruns a recorded run exactly.
- :mod:`zeronas.navigator.app` serves it (Starlette under uvicorn; the ``navigator`` extra);
  :mod:`zeronas.navigator.report` writes the same views as a self-contained HTML file.

Importing this package needs no web dependency; they are imported when a server or a report
is made.
"""

from zeronas.navigator.encoding import SlotEncoding, register_encoding, slot_encoding
from zeronas.navigator.restrict import RestrictedSpace, Restriction, SteerError
from zeronas.navigator.run import ActionLog, NavigatorRun, RunConfig, candidates, replay

__all__ = [
    "ActionLog",
    "NavigatorRun",
    "RestrictedSpace",
    "Restriction",
    "RunConfig",
    "SlotEncoding",
    "SteerError",
    "candidates",
    "register_encoding",
    "replay",
    "slot_encoding",
]
