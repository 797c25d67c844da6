"""``zeronas report``: the navigator's views of a finished run as one self-contained HTML file.

Works on the result JSON of ``zeronas search`` (random or evolution) and of
``zeronas navigate``; Plotly, the page's script and style, the data and the SVG of every
candidate's cell are inlined, so the file opens anywhere without a network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zeronas.navigator.page import static_report
from zeronas.navigator.run import _jsonable
from zeronas.navigator.views import cell_svg, view_from_result
from zeronas.search.result_file import load_result


def build_report(result: dict[str, Any], data_dir: str | os.PathLike[str] | None = None
                 ) -> str:
    """The HTML report of a run's result (see the module docstring)."""
    view, space, encoding = view_from_result(result, data_dir)
    cells = {p["arch"]: cell_svg(space, space.from_str(p["arch"]), encoding)
             for p in view["points"]}
    proto = result["protocol"]
    title = (f"zeronas {proto.get('searcher')} on {proto.get('space')}, objective "
             f"{', '.join(proto['objective']['items'])}, seed {proto.get('seed')}")
    return static_report(_jsonable(view), cells, title)


def write_report(run_json: str | os.PathLike[str], out: str | os.PathLike[str],
                 data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write the HTML report of the result JSON ``run_json`` to ``out`` (folders made)."""
    html = build_report(load_result(run_json, ("protocol", "history")), data_dir)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
