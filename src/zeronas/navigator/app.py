"""The navigator's web app (Starlette): the page, a live view over server-sent events, and
the steering API. It only reads the run's published state and submits actions to it: the
search runs in its own thread, so a closed browser or a bad request never touches it.

Routes::

    GET  /                    the page
    GET  /static/<file>       app.js, style.css, plotly.min.js (from the plotly package)
    GET  /api/state           the current view (JSON)
    GET  /api/events          the view as server-sent events, one per change (?once=1: one)
    GET  /api/cell?arch=...   the DAG of an architecture (SVG)
    GET  /api/result          the result JSON once the run has ended (409 before)
    POST /api/action          {"kind": pause|resume|stop|exclude|include|pin|unpin|add, ...}

A malformed request gets a 4xx with ``{"error": message}``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from zeronas.errors import ZeronasError
from zeronas.navigator.page import live_page, need, plotly_js_path, static_text
from zeronas.navigator.restrict import SteerError
from zeronas.navigator.run import NavigatorRun, _jsonable
from zeronas.navigator.views import cell_svg

MAX_BODY = 16_384
"""Largest steering request accepted (bytes)."""
EVENT_INTERVAL = 0.3
"""Seconds between checks for a new view on an event stream."""
KEEPALIVE = 15.0
"""Seconds between keep-alive comments on an idle event stream."""


def create_app(run: NavigatorRun) -> Any:
    """A Starlette app serving ``run`` (which the caller starts and owns)."""
    need("starlette")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import (
        FileResponse,
        HTMLResponse,
        JSONResponse,
        Response,
        StreamingResponse,
    )
    from starlette.routing import Route

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def index(request: Request) -> Response:
        return HTMLResponse(live_page())

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js_path(), media_type="text/javascript")
        if name == "app.js":
            return Response(static_text(name), media_type="text/javascript")
        if name == "style.css":
            return Response(static_text(name), media_type="text/css")
        return error(f"no static file {name!r}", 404)

    async def state(request: Request) -> Response:
        return JSONResponse(run.view())

    async def events(request: Request) -> Response:
        once = request.query_params.get("once") in ("1", "true")

        async def stream() -> Any:
            last, idle = -1, 0.0
            while True:
                if run.version != last:
                    last = run.version
                    yield "data: " + json.dumps(run.view(), allow_nan=False) + "\n\n"
                    idle = 0.0
                    if once:
                        return
                elif idle >= KEEPALIVE:
                    yield ": keep-alive\n\n"
                    idle = 0.0
                await asyncio.sleep(EVENT_INTERVAL)
                idle += EVENT_INTERVAL

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    async def cell(request: Request) -> Response:
        text = request.query_params.get("arch")
        if not text:
            return error("give the architecture as ?arch=<string>")
        try:
            arch = run.base_space.parse(text)
        except ZeronasError as exc:
            return error(str(exc))
        return Response(cell_svg(run.base_space, arch, run.encoding),
                        media_type="image/svg+xml")

    async def result(request: Request) -> Response:
        if run.result is None:
            return error(f"the run has not ended ({run.status})", 409)
        return JSONResponse(_jsonable(run.result))

    async def action(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(f"request too large ({len(body)} bytes, at most {MAX_BODY})", 413)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error(f"request body is not valid JSON: {exc}")
        if not isinstance(data, dict):
            return error(f"request body must be a JSON object with 'kind', got "
                         f"{type(data).__name__}")
        if "kind" not in data:
            return error("request needs 'kind': one of pause, resume, stop, exclude, include, "
                         "pin, unpin, add")
        kind = data.pop("kind")
        try:
            done = run.submit(kind, data)
        except SteerError as exc:
            return error(str(exc), exc.status)
        except ZeronasError as exc:
            return error(str(exc))
        return JSONResponse(_jsonable(done))

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/state", state),
        Route("/api/events", events),
        Route("/api/cell", cell),
        Route("/api/result", result),
        Route("/api/action", action, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> Any:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ZeronasError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pass "
                           "another --port (0 picks a free one)") from None
    sock.listen(64)
    return sock


def _url(host: str, sock: Any) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{sock.getsockname()[1]}/"


def _server(run: NavigatorRun) -> Any:
    uvicorn = need("uvicorn")
    config = uvicorn.Config(create_app(run), log_level="warning", timeout_graceful_shutdown=2,
                            lifespan="off")
    return uvicorn.Server(config)


def serve(run: NavigatorRun, host: str = "127.0.0.1", port: int = 8765,
          on_ready: Any = None) -> None:
    """Serve ``run`` with uvicorn until interrupted (blocks). ``on_ready(url)`` is called
    once the socket is bound (``port=0`` picks a free port)."""
    sock = _bind(host, port)
    server = _server(run)
    if on_ready is not None:
        on_ready(_url(host, sock))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class BackgroundServer:
    """The app of ``run`` served by uvicorn in a background thread (tests, screenshots)::

        with BackgroundServer(run) as url:
            ...  # open url in a browser
    """

    def __init__(self, run: NavigatorRun, host: str = "127.0.0.1", port: int = 0) -> None:
        self.run, self.host, self.port = run, host, port
        self.url = ""

    def __enter__(self) -> str:
        import threading
        import time

        self._sock = _bind(self.host, self.port)
        self.url = _url(self.host, self._sock)
        self._server = _server(self.run)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._server.started:
            raise ZeronasError(f"the navigator server did not start on {self.url}")
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
