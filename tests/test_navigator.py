"""The navigator: restricted spaces, a steerable run that equals run_search when unsteered,
exact replay of steered runs, the web API (bad requests get a 4xx and never hurt the search),
the static report, the CLI, and a real headless-Chromium test of excluding an op."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from zeronas.errors import DataError, ZeronasError
from zeronas.navigator import (
    NavigatorRun,
    RestrictedSpace,
    Restriction,
    RunConfig,
    SteerError,
    candidates,
    replay,
    slot_encoding,
)
from zeronas.navigator.views import cell_svg, pareto_front, pca_2d
from zeronas.proxies import ScoreSettings
from zeronas.search import SpaceExhausted, run_search
from zeronas.spaces import get_space
from zeronas.spaces.nb201 import OPS

TINY = {"C": 2, "N": 1}
"""NB201 cells in a 2-channel, 1-cell-per-stage network: the same architectures, cheap nets."""


def tiny_config(budget: int = 40, seed: int = 3, searcher: str = "evolution",
                proxies: str = "synflow", measure: bool = True) -> RunConfig:
    opts = {"population_size": 10, "sample_size": 3} if searcher == "evolution" else {}
    return RunConfig(space_options=tuple(TINY.items()), proxies=proxies, searcher=searcher,
                     searcher_options=tuple(opts.items()), budget=budget, seed=seed,
                     batch_size=2, batches=1, measure=measure)


@pytest.fixture(scope="module")
def tiny_space():
    return get_space("nb201", **TINY)


@pytest.fixture
def enc(tiny_space):
    return slot_encoding(tiny_space)


# --------------------------------------------------------------------------- restriction
def test_restriction_edits_and_errors(enc):
    r = Restriction.full(enc)
    assert r.size == 5 ** 6 and r.is_full
    r2 = r.exclude(0, "none").exclude("2<-1", "avg_pool_3x3")
    assert r2.size == 4 * 5 * 4 * 5 ** 3
    assert "none" not in r2.to_json()[0] and "avg_pool_3x3" not in r2.to_json()[2]
    assert r2.include(0, "none").to_json()[0] == list(OPS)
    pinned = r2.pin(3, "nor_conv_3x3")
    assert pinned.to_json()[3] == ["nor_conv_3x3"]
    assert pinned.unpin(3).to_json()[3] == list(OPS)
    with pytest.raises(SteerError) as exc:
        pinned.exclude(3, "nor_conv_3x3")
    assert exc.value.status == 409 and "empty" in str(exc.value)
    for bad_edge in (6, -1, "1.5", True, None):
        with pytest.raises(SteerError, match="edge") as exc:
            r.exclude(bad_edge, "none")
        assert exc.value.status == 400
    with pytest.raises(SteerError, match="nor_conv_5x5"):
        r.exclude(0, "nor_conv_5x5")


def test_restricted_space_never_proposes_excluded_ops(tiny_space, enc):
    r = Restriction.full(enc).exclude(0, "none").exclude(0, "skip_connect").pin(5, "nor_conv_1x1")
    sp = RestrictedSpace(tiny_space, r)
    rng = np.random.default_rng(0)
    archs = [sp.sample(rng) for _ in range(300)]
    archs += [sp.mutate(a, rng) for a in archs]
    assert all(r.allows(a) for a in archs)
    assert len({a.ops[0] for a in archs}) == 3
    # a parent outside the restriction is repaired (the repair is the mutation)
    outside = tiny_space.from_str("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    child = sp.mutate(outside, rng)
    assert r.allows(child) and child != outside
    # the same seed gives the same draws
    a = [sp.sample(np.random.default_rng(7)) for _ in range(3)]
    b = [sp.sample(np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    # a one-architecture restriction has nothing to mutate to
    single = Restriction.full(enc)
    for e in range(6):
        single = single.pin(e, "skip_connect")
    one = RestrictedSpace(tiny_space, single)
    arch = one.sample(rng)
    assert len(one) == 1
    with pytest.raises(SpaceExhausted):
        one.mutate(arch, rng)


def test_full_restriction_changes_nothing(tiny_space, enc):
    sp = RestrictedSpace(tiny_space, Restriction.full(enc))
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(50):
        a, b = sp.sample(r1), tiny_space.sample(r2)
        assert a == b
        assert sp.mutate(a, r1) == tiny_space.mutate(b, r2)


def test_unknown_space_for_navigator():
    with pytest.raises(ZeronasError, match="navigator"):
        slot_encoding(get_space("darts"))


# --------------------------------------------------------------------------- views
def test_views_helpers(tiny_space, enc):
    coords, ratios = pca_2d(np.eye(4))
    assert coords.shape == (4, 2) and 0 < ratios[0] <= 1
    assert pca_2d(np.ones((1, 3)))[0].tolist() == [[0.0, 0.0]]
    assert pareto_front([1.0, 3.0, 2.0, None, 5.0], [1.0, 2.0, 3.0, 0.5, 2.0]) == [0, 4]
    svg = cell_svg(tiny_space, tiny_space.from_str(
        "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"), enc)
    assert svg.startswith("<svg") and svg.count('class="node"') == 8
    assert "avg_pool_3x3" in svg and "output" in svg


# --------------------------------------------------------------------------- runs
def test_unsteered_run_equals_run_search(tmp_path, tiny_space):
    cfg = tiny_config(budget=30)
    run = NavigatorRun(cfg, tmp_path / "s.sqlite", ground_truth=False,
                       out=tmp_path / "run.json")
    result = run.run()
    ref = run_search(tiny_space, "synflow", "evolution", 30, 3,
                     ScoreSettings(batch_size=2, batches=1, seed=3), ground_truth=False,
                     searcher_options={"population_size": 10, "sample_size": 3})
    assert candidates(result) == [h["arch"] for h in ref.history]
    assert result["best"]["arch"] == ref.best["arch"]
    assert json.loads((tmp_path / "run.json").read_text())["evaluated"] == 30
    assert all(h["flops"] > 0 and h["params"] > 0 for h in result["history"])
    view = run.view()
    assert len(view["points"]) == 30 and view["meta"]["status"] == "finished"
    json.dumps(view, allow_nan=False)  # browser-safe JSON


def _steer_at(run: NavigatorRun, plan: dict[int, list[tuple[str, dict]]]) -> None:
    """Submit the planned actions from the search thread when an evaluation count is reached
    (deterministic mid-run steering, as a user clicking at that moment)."""
    done: set[int] = set()

    def hook(version: int) -> None:
        n = run.evaluated
        if n in plan and n not in done:
            done.add(n)
            for kind, payload in plan[n]:
                run.submit(kind, payload)

    run.on_change(hook)


def test_steered_run_respects_exclusions_and_replays_exactly(tmp_path, tiny_space):
    store = tmp_path / "s.sqlite"
    run = NavigatorRun(tiny_config(budget=45), store, ground_truth=False)
    add = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|" \
          "nor_conv_3x3~2|"
    _steer_at(run, {
        8: [("exclude", {"edge": 0, "op": "none"}), ("exclude", {"edge": 5, "op": "none"})],
        15: [("pin", {"edge": 2, "op": "nor_conv_3x3"}), ("add", {"arch": add})],
        25: [("unpin", {"edge": 2})],
        40: [("stop", {})],
    })
    result = run.run()
    assert result["stopped"] == "stopped by user" and result["evaluated"] == 40
    kinds = [a["kind"] for a in run.actions]
    assert kinds == ["exclude", "exclude", "pin", "add", "unpin", "stop"]
    hist = result["history"]
    excl_step = run.actions[0]["step"]
    later = [tiny_space.from_str(h["arch"]) for h in hist if h["step"] > excl_step]
    assert later and all(a.ops[0] != "none" and a.ops[5] != "none" for a in later)
    pin_step, unpin_step = run.actions[2]["step"], run.actions[4]["step"]
    pinned = [tiny_space.from_str(h["arch"]) for h in hist if pin_step < h["step"] <= unpin_step]
    assert pinned and all(a.ops[2] == "nor_conv_3x3" for a in pinned)
    injected = [h for h in hist if h["injected"]]
    assert [h["arch"] for h in injected] == [add]
    assert injected[0]["evaluation"] == 16  # evaluated right after the action
    # every action is in the store with the step and evaluation at which it applied
    import sqlite3

    rows = sqlite3.connect(store).execute(
        "SELECT seq, step, evaluation, kind FROM navigator_actions WHERE run_id=? ORDER BY seq",
        (run.run_id,)).fetchall()
    assert [r[3] for r in rows] == kinds
    assert [r[2] for r in rows] == [8, 8, 15, 15, 25, 40]
    # the replay proposes the same candidates in the same order
    again = replay(store, run.run_id, ground_truth=False)
    assert candidates(again.result) == candidates(result)
    assert [(a["kind"], a["step"], a["payload"]) for a in again.actions] == \
           [(a["kind"], a["step"], a["payload"]) for a in run.actions]
    assert again.result["navigator"]["replay_of"] == run.run_id
    with pytest.raises(SteerError, match="replay"):
        again.submit("pause")


def test_random_searcher_in_restricted_space(tmp_path, tiny_space):
    run = NavigatorRun(tiny_config(budget=25, searcher="random", measure=False), None,
                       ground_truth=False)
    run.submit("pin", {"edge": 1, "op": "skip_connect"})
    result = run.run()
    assert result["evaluated"] == 25
    assert all(tiny_space.from_str(a).ops[1] == "skip_connect" for a in candidates(result))


def test_submit_validation(tmp_path):
    run = NavigatorRun(tiny_config(measure=False), None, ground_truth=False)
    for kind, payload, status in [
        ("explode", {}, 400), (3, {}, 400),
        ("exclude", {"edge": 0}, 400), ("exclude", {"op": "none"}, 400),
        ("exclude", {"edge": 0, "op": "none", "extra": 1}, 400),
        ("add", {}, 400), ("add", {"arch": "|nope~0|"}, 400), ("add", {"arch": 5}, 400),
        ("resume", {}, 409),
    ]:
        with pytest.raises(SteerError) as exc:
            run.submit(kind, payload)
        assert exc.value.status == status, (kind, payload)
    for op in OPS[:-1]:
        run.submit("exclude", {"edge": 4, "op": op})
    with pytest.raises(SteerError) as exc:  # the last op of edge 4: empty space
        run.submit("exclude", {"edge": 4, "op": OPS[-1]})
    assert exc.value.status == 409
    with pytest.raises(SteerError) as exc:  # uses an excluded op
        run.submit("add", {"arch": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"})
    assert exc.value.status == 409
    result = run.run()
    assert all(get_space("nb201").from_str(a).ops[4] == "avg_pool_3x3"
               for a in candidates(result))
    with pytest.raises(SteerError, match="ended") as exc:
        run.submit("stop")
    assert exc.value.status == 409


# --------------------------------------------------------------------------- web API
@pytest.fixture
def client_run(tmp_path):
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from zeronas.navigator.app import create_app

    run = NavigatorRun(tiny_config(budget=60), tmp_path / "s.sqlite", ground_truth=False)
    with TestClient(create_app(run)) as client:
        yield client, run
    run.stop(wait=30)


def test_api_serves_page_and_views(client_run):
    client, run = client_run
    page = client.get("/")
    assert page.status_code == 200 and "zeronas navigator" in page.text
    assert "static/plotly.min.js" in page.text and "cdn" not in page.text.lower()
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and "plotly" in js.text[:500].lower()
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/../run.py").status_code == 404
    assert client.get("/static/secrets.txt").status_code == 404
    assert client.get("/api/result").status_code == 409
    run.start()
    assert run.join(120)
    state = client.get("/api/state").json()
    assert len(state["points"]) == 60 and state["meta"]["status"] == "finished"
    assert set(state) >= {"points", "progress", "operators", "pareto", "slots", "restriction"}
    events = client.get("/api/events?once=1")
    assert events.headers["content-type"].startswith("text/event-stream")
    first = events.text.split("\n\n")[0]
    assert first.startswith("data: ") and json.loads(first[6:])["meta"]["evaluated"] == 60
    arch = state["points"][0]["arch"]
    svg = client.get("/api/cell", params={"arch": arch})
    assert svg.status_code == 200 and svg.text.startswith("<svg")
    assert client.get("/api/cell").status_code == 400
    bad = client.get("/api/cell", params={"arch": "|nor_conv_9x9~0|"})
    assert bad.status_code == 400 and "nb201" in bad.json()["error"].lower()
    assert client.get("/api/result").json()["evaluated"] == 60


def test_api_malformed_requests_get_4xx_and_the_search_goes_on(client_run):
    client, run = client_run
    run.start()
    post = lambda body, **kw: client.post("/api/action", content=body, **kw)  # noqa: E731
    cases = [
        (b"not json", 400, "JSON"),
        (b"[1, 2]", 400, "object"),
        (b'{"edge": 0}', 400, "kind"),
        (b'{"kind": "explode"}', 400, "unknown action"),
        (b'{"kind": "exclude", "edge": 99, "op": "none"}', 400, "edge"),
        (b'{"kind": "exclude", "edge": "x", "op": "none"}', 400, "edge"),
        (b'{"kind": "exclude", "edge": 0, "op": "conv_7x7"}', 400, "conv_7x7"),
        (b'{"kind": "exclude", "edge": 0, "op": null}', 400, "op"),
        (b'{"kind": "add", "arch": "|none~0|+"}', 400, "malformed"),
        (b'{"kind": "add"}', 400, "arch"),
        (b'{"kind": "pause", "x": ' + b"1" * 20000 + b"}", 413, "large"),
        (b'{"kind": "resume"}', 409, "running"),
        (b"\xff\xfe", 400, "JSON"),
    ]
    for body, status, words in cases:
        r = post(body)
        assert r.status_code == status, (body[:60], r.text)
        assert words.lower() in r.json()["error"].lower(), (body[:60], r.json())
    assert client.get("/api/action").status_code == 405
    ok = post(b'{"kind": "pin", "edge": 3, "op": "nor_conv_1x1"}')
    assert ok.status_code == 200 and ok.json()["state"] == "queued"
    empty = post(b'{"kind": "exclude", "edge": 3, "op": "nor_conv_1x1"}')
    assert empty.status_code == 409 and "empty" in empty.json()["error"]
    assert run.join(120)
    assert run.status == "finished" and run.evaluated == 60 and run.error is None


def test_api_pause_resume_stop(client_run):
    client, run = client_run
    run.start()
    deadline = time.monotonic() + 60
    while run.evaluated < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.post("/api/action", json={"kind": "pause"}).status_code == 200
    deadline = time.monotonic() + 30
    while run.status != "paused" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.status == "paused"
    n = run.evaluated
    time.sleep(0.6)
    assert run.evaluated == n  # nothing evaluated while paused
    # steering while paused applies at once, at the paused step
    assert client.post("/api/action", json={"kind": "exclude", "edge": 1,
                                            "op": "none"}).status_code == 200
    deadline = time.monotonic() + 10
    while "none" in run.restriction.to_json()[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "none" not in run.restriction.to_json()[1]
    assert client.post("/api/action", json={"kind": "resume"}).status_code == 200
    while run.evaluated < n + 3 and time.monotonic() < deadline + 30:
        time.sleep(0.05)
    assert client.post("/api/action", json={"kind": "stop"}).status_code == 200
    assert run.join(60) and run.status == "stopped"
    assert run.result["stopped"] == "stopped by user"
    assert [a["kind"] for a in run.actions] == ["pause", "exclude", "resume", "stop"]


# --------------------------------------------------------------------------- report + CLI
def test_static_report_from_search_json(tmp_path, tiny_space):
    pytest.importorskip("plotly")
    from zeronas.navigator.report import build_report, write_report

    res = run_search(tiny_space, "synflow+params", "evolution", 20, 1,
                     ScoreSettings(batch_size=2, batches=1, seed=1), ground_truth=False,
                     searcher_options={"population_size": 5, "sample_size": 2})
    path = res.write(tmp_path / "search.json")
    out = write_report(path, tmp_path / "report.html")
    html = out.read_text()
    assert "window.ZERONAS_VIEW" in html and "<svg" in html
    assert "plotly.js v" in html and 'src="http' not in html and "static/plotly" not in html
    view = json.loads(html.split("window.ZERONAS_VIEW = ")[1].split(";\nwindow.ZERONAS_CELLS")[0])
    assert len(view["points"]) == 20 and view["meta"]["aggregation"] == "mean_rank"
    assert all(p["flops"] for p in view["points"])
    # bad inputs: a clear error
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not a JSON run result"):
        write_report(tmp_path / "bad.json", tmp_path / "x.html")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(DataError, match="not a zeronas search result"):
        write_report(tmp_path / "other.json", tmp_path / "x.html")
    prune = {"protocol": {"space": "nb201", "searcher": "prune"}, "history": [{"round": 1}]}
    with pytest.raises(DataError, match="pruning"):
        build_report(prune)


def test_report_shows_ground_truth(tmp_path, nb201_csv):
    pytest.importorskip("plotly")
    from zeronas.navigator.report import build_report

    run = NavigatorRun(tiny_config(budget=15, measure=False), None,
                       data_dir=nb201_csv.parent.parent)
    result = run.run()
    assert all(h["truth"] is not None for h in result["history"])
    html = build_report(result)
    view = json.loads(html.split("window.ZERONAS_VIEW = ")[1].split(";\nwindow.ZERONAS_CELLS")[0])
    assert all(p["truth"] is not None for p in view["points"])
    assert view["progress"][-1]["best_truth"] is not None


def test_cli_report_and_navigate(tmp_path, monkeypatch):
    pytest.importorskip("plotly")
    from typer.testing import CliRunner

    import zeronas.cli_navigator  # noqa: F401  (registers the commands)
    import zeronas.navigator.app as nav_app
    from zeronas.cli import app

    runner = CliRunner()
    run = NavigatorRun(tiny_config(budget=12, measure=False), tmp_path / "s.sqlite",
                       ground_truth=False, out=tmp_path / "run.json")
    run.run()
    r = runner.invoke(app, ["report", str(tmp_path / "run.json"), "--html",
                            str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r.html").stat().st_size > 1_000_000
    r = runner.invoke(app, ["report", str(tmp_path / "missing.json")])
    assert r.exit_code == 2 and "no run result" in r.output
    r = runner.invoke(app, ["navigate", "--store", str(tmp_path / "s.sqlite"), "--replay",
                            run.run_id, "--out", str(tmp_path / "replay.json")])
    assert r.exit_code == 0, r.output
    assert candidates(json.loads((tmp_path / "replay.json").read_text())) == \
        candidates(run.result)
    r = runner.invoke(app, ["navigate", "--store", str(tmp_path / "s.sqlite"), "--replay",
                            "no-such-run"])
    assert r.exit_code == 2 and "no navigator run" in r.output

    seen: dict[str, object] = {}

    def fake_serve(run_, host, port, on_ready=None):
        seen["host"], seen["port"] = host, port
        on_ready(f"http://{host}:{port}/")
        run_.stop(wait=60)

    monkeypatch.setattr(nav_app, "serve", fake_serve)
    common = ["navigate", "--proxies", "params", "--budget", "3", "--store",
              str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "n.json")]
    r = runner.invoke(app, common)
    assert r.exit_code == 0, r.output
    assert "http://127.0.0.1:8765/" in r.output and "warning" not in r.output
    r = runner.invoke(app, [*common, "--host", "0.0.0.0", "--port", "9000"])
    assert r.exit_code == 0 and "warning: listening on 0.0.0.0" in r.output
    r = runner.invoke(app, ["navigate", "--proxies", "nope", "--store", str(tmp_path / "s")])
    assert r.exit_code == 2 and "unknown" in r.output
    r = runner.invoke(app, ["navigate", "--space", "darts", "--store", str(tmp_path / "s")])
    assert r.exit_code == 2 and "navigator" in r.output


def test_is_loopback():
    from zeronas.navigator.app import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


# --------------------------------------------------------------------------- browser
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _browser():
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        reason = (f"{CHROMIUM} or {CHROMEDRIVER} is missing: install the Debian packages "
                  "'chromium chromium-driver' to run the browser test")
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1600", "--disable-extensions", "--no-first-run"):
        opts.add_argument(arg)
    opts.binary_location = str(CHROMIUM)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


def test_browser_exclude_op(tmp_path, tiny_space):
    pytest.importorskip("uvicorn")
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from zeronas.navigator.app import BackgroundServer

    driver = _browser()
    run = NavigatorRun(tiny_config(budget=2000, seed=0), tmp_path / "s.sqlite",
                       ground_truth=False)
    edge, op = 0, "nor_conv_3x3"
    try:
        with BackgroundServer(run) as url:
            run.start()
            driver.get(url)
            wait = WebDriverWait(driver, 20, poll_frequency=0.1)
            wait.until(lambda d: d.execute_script(
                "return document.querySelectorAll('#space-plot g.points path.point').length")
                >= 5)
            selector = f"button.steer[data-action='exclude'][data-edge='{edge}'][data-op='{op}']"

            def click(d):
                try:
                    d.find_element(By.CSS_SELECTOR, selector).click()
                    return True
                except StaleElementReferenceException:
                    return False

            wait.until(click)
            wait.until(lambda d: op not in run.restriction.to_json()[edge])
            cell = f"td.op-cell.excluded[data-edge='{edge}'][data-op='{op}']"
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, cell))
            action = next(a for a in run.actions if a["kind"] == "exclude")
            wait.until(lambda d: run.evaluated >= action["evaluation"] + 25)
            # the page said "queued" on the click, then "applied at evaluation N" once the
            # action showed up in the run's action list
            applied = f"exclude applied at evaluation {action['evaluation']}: {op} on edge {edge}"
            wait.until(lambda d: d.find_element(By.ID, "message").text == applied)
            run.stop(wait=30)
            driver.quit()
    finally:
        driver.quit()
        run.stop(wait=30)
    assert action["payload"] == {"edge": edge, "op": op}
    later = [h for h in run.result["history"] if h["step"] > action["step"]]
    assert len(later) >= 25
    assert all(tiny_space.from_str(h["arch"]).ops[edge] != op for h in later)
    earlier = [h for h in run.result["history"] if h["step"] <= action["step"]]
    assert earlier  # the op was excluded mid-run, not before it


def test_chromium_skip_reason_is_printed(monkeypatch, capsys):
    """Without Chromium the browser test skips with the reason printed."""
    monkeypatch.setattr(f"{__name__}.CHROMIUM", Path("/nonexistent/chromium"))
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        _browser()
    assert "SKIP" in capsys.readouterr().out
