"""The navigator's HTML: the live page (scripts served by the app) and the self-contained
static report (Plotly, script, style and data inlined).

Plotly's JavaScript comes from the installed ``plotly`` Python package
(``plotly/package_data/plotly.min.js``): no CDN, nothing downloaded at run time.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from zeronas.errors import ZeronasError

STATIC_FILES = ("app.js", "style.css")


class MissingExtra(ZeronasError):
    """An optional dependency of the navigator is not installed."""


def need(module: str) -> Any:
    """Import an optional dependency of the navigator, or fail naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(
            f"the navigator needs {module!r}: pip install 'zeronas[navigator]' "
            "(starlette, uvicorn, plotly)") from None


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` bundled with the installed plotly package."""
    need("plotly")
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise MissingExtra(f"the installed plotly package has no {path}: reinstall plotly")
    return path


def static_text(name: str) -> str:
    """One of the page's own files (``index.html``, ``app.js``, ``style.css``)."""
    return (resources.files("zeronas.navigator") / "static" / name).read_text(encoding="utf-8")


def live_page() -> str:
    """The page the app serves at ``/``: scripts and style loaded from ``static/``."""
    head = '<link rel="stylesheet" href="static/style.css">'
    scripts = ('<script src="static/plotly.min.js"></script>\n'
               '<script src="static/app.js"></script>')
    return (static_text("index.html").replace("<!--HEAD-->", head)
            .replace("<!--SCRIPTS-->", scripts))


def _inline_js(code: str) -> str:
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


def _json_js(value: Any) -> str:
    # JSON is valid JavaScript; "<" escaped so no string can close the script element
    return json.dumps(value, allow_nan=False).replace("<", "\\u003c")


def static_report(view: dict[str, Any], cells: dict[str, str], title: str | None = None) -> str:
    """A standalone HTML report of ``view`` with the cell SVGs ``cells`` (keyed by arch)."""
    head = "<style>" + static_text("style.css") + "</style>"
    if title:
        import html

        head += f"\n<meta name=\"description\" content=\"{html.escape(title)}\">"
    scripts = "\n".join([
        _inline_js(plotly_js_path().read_text(encoding="utf-8")),
        "<script>window.ZERONAS_VIEW = " + _json_js(view) + ";\nwindow.ZERONAS_CELLS = "
        + _json_js(cells) + ";</script>",
        _inline_js(static_text("app.js")),
    ])
    return (static_text("index.html").replace("<!--HEAD-->", head)
            .replace("<!--SCRIPTS-->", scripts))
