"""Screenshot of the navigator for the README: a short NB201 search steered from the page.

``python -m zeronas.navigator.demo --out docs/navigator.png`` starts a search (synflow,
regularized evolution) behind the web app, opens the page in headless Chromium
(``/usr/bin/chromium`` with ``/usr/bin/chromedriver``; nothing is downloaded), clicks
"exclude" on ``none`` for every edge once a few candidates are in, waits for the budget, and
saves a screenshot. True accuracy shows when ``$ZERONAS_DATA`` holds the NB201 table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from zeronas.errors import ZeronasError
from zeronas.navigator.app import BackgroundServer
from zeronas.navigator.page import need
from zeronas.navigator.run import NavigatorRun, RunConfig


def screenshot(out: Path, budget: int = 100, proxies: str = "synflow", seed: int = 0,
               exclude: str = "none", store: Path | None = None,
               chromium: str = "/usr/bin/chromium",
               chromedriver: str = "/usr/bin/chromedriver") -> Path:
    """Run the demo search, steer it from the page, and save the page as PNG ``out``."""
    webdriver = need("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    for exe in (chromium, chromedriver):
        if not Path(exe).exists():
            raise ZeronasError(f"{exe} is missing: install the Debian packages 'chromium "
                               "chromium-driver' (apt-get install -y chromium chromium-driver)")
    store = store or Path(tempfile.mkdtemp()) / "navigator-demo.sqlite"
    run = NavigatorRun(RunConfig(proxies=proxies, budget=budget, seed=seed), store)
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1750", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.binary_location = chromium
    driver = webdriver.Chrome(service=Service(chromedriver), options=opts)
    try:
        with BackgroundServer(run) as url:
            run.start()
            driver.get(url)
            _wait(lambda: run.evaluated >= max(5, budget // 4), 600)
            for edge in range(len(run.encoding.slots)):
                driver.execute_script(
                    "document.querySelector(arguments[0]).click()",
                    f"button.steer[data-action='exclude'][data-edge='{edge}']"
                    f"[data-op='{exclude}']")
                _wait(lambda e=edge: exclude not in run.restriction.to_json()[e], 30)
            run.join(3600)
            time.sleep(2.0)  # the last event reaches the page
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
            driver.quit()
    finally:
        driver.quit()
        run.stop(wait=60)
    return out


def _wait(cond: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise ZeronasError("the navigator demo timed out")
        time.sleep(0.1)


def main() -> None:
    """Command-line entry: ``python -m zeronas.navigator.demo --out docs/navigator.png``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/navigator.png"))
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--proxies", default="synflow")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude", default="none", help="op excluded on every edge from the page")
    p.add_argument("--store", type=Path, default=None)
    a = p.parse_args()
    path = screenshot(a.out, a.budget, a.proxies, a.seed, a.exclude, a.store)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
