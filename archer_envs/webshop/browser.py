"""WebShop in a real browser: selenium drives headless Chromium on the WebShop web site."""

from __future__ import annotations

import atexit
import functools
import os
import urllib.parse
from typing import Any

from archer_envs.webshop.catalog import DEFAULT_NUM_PRODUCTS
from archer_envs.webshop.env import RESULTS_SHOWN, WebShopEnv
from archer_envs.webshop.shop import BUTTON, done_reward, parse_action

# Debian's packages (apt-get install chromium chromium-driver); given explicitly so that
# Selenium Manager never looks for, or downloads, a browser or a driver
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
_KINDS = {
    "text": "text",
    "label": "label",
    "button": "button",
    "product-link": "product",
    "option": "option",
    "option selected": "selected",
    "option out-of-stock": "out of stock",
}


@functools.cache
def local_server(
    num_products: int, catalog_seed: int, catalog_path: str | None, difficulty: str = "hard"
) -> str:
    """The URL of a WebShop site served from this process (started once, on first use)."""
    from archer_envs.webshop.server import ShopServer

    server = ShopServer(
        num_products=num_products,
        catalog_seed=catalog_seed,
        catalog_path=catalog_path,
        difficulty=difficulty,
    )
    server.__enter__()  # runs until the process exits (a daemon thread)
    return server.url


_BROWSERS: dict[int, Any] = {}  # process id -> its browser (a forked worker starts its own)


def shared_browser():
    """The headless Chromium of this process: every browser env has a tab in it (one browser
    start instead of one per env). Its first, blank tab keeps it open until the last env's tab
    closes; it quits then, or at exit."""
    if os.getpid() not in _BROWSERS:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        atexit.register(_quit, os.getpid())
        _BROWSERS[os.getpid()] = driver
    return _BROWSERS[os.getpid()]


def _quit(pid: int) -> None:
    driver = _BROWSERS.pop(pid, None)
    if driver is not None and pid == os.getpid():
        driver.quit()


# one round trip per page: the visible text (innerText) and class of each element of <main>
_READ_PAGE = """
return [document.querySelector('.instruction').innerText,
        [...document.querySelectorAll('main > *')].map(e => [e.className, e.innerText])];
"""
_FIND_LINK = """
return [...document.querySelectorAll('main a')]
    .find(a => a.innerText.trim().toLowerCase() === arguments[0]) || null;
"""


def _click(driver, element) -> None:
    """Click ``element`` in the page (a DOM click event, as a mouse click sends). Selenium's
    own click would also wait for the page it opens, about half a second a click in headless
    Chromium; ``BrowserShop._navigate`` waits for it instead, polling."""
    driver.execute_script("arguments[0].click();", element)


class BrowserShop:
    """The shop as a browser sees it: pages are read from the rendered DOM (the visible text of
    each element, clickables by their role) and actions are typed and clicked."""

    def __init__(self, server_url: str | None, catalog: tuple[int, int, str | None, str]):
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.path.exists(path):
                raise FileNotFoundError(
                    f"{path} not found: the browser env needs Debian's chromium and "
                    "chromium-driver (apt-get install chromium chromium-driver)"
                )
        self.server_url = server_url
        self.catalog = catalog
        self.session_url = ""
        self.instruction = ""
        self.elements: list[tuple[str, str]] = []
        self._handle: str | None = None

    def __getstate__(self):  # a tab cannot cross a process boundary; the copy opens its own
        return {**self.__dict__, "_handle": None}

    def _browser(self):
        """The process's browser, switched to this shop's own tab (opened on first use)."""
        driver = shared_browser()
        if self._handle is None or self._handle not in driver.window_handles:
            driver.switch_to.new_window("tab")
            self._handle = driver.current_window_handle
            if self.session_url:
                driver.get(self.session_url)
        elif driver.current_window_handle != self._handle:
            driver.switch_to.window(self._handle)
        return driver

    def _navigate(self, do) -> None:
        """Run ``do(driver)`` (a click that loads a page) and wait for the new page."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        driver = self._browser()
        old_page = expected_conditions.staleness_of(driver.find_element(By.TAG_NAME, "main"))
        do(driver)

        def loaded(driver) -> bool:
            return (
                old_page(driver)
                and driver.execute_script("return document.readyState") == "complete"
            )

        # while the page changes, the browser may answer with transient errors: ask again
        WebDriverWait(
            driver, 60, poll_frequency=0.01, ignored_exceptions=(WebDriverException,)
        ).until(loaded)
        self._read()

    def _read(self) -> None:
        driver = self._browser()
        self.session_url = driver.current_url
        self.instruction, elements = driver.execute_script(_READ_PAGE)
        self.elements = []
        for css, text in elements:
            if css == "search":
                self.elements.append((BUTTON, "Search"))
            elif css in _KINDS:
                self.elements.append((_KINDS[css], text))

    def start(self, goal_index: int) -> None:
        from selenium.webdriver.common.by import By

        if self.server_url is None:
            self.server_url = local_server(*self.catalog)
        query = urllib.parse.urlencode(
            {"goal_index": goal_index, "results_shown": RESULTS_SHOWN, "paging": 0}
        )
        driver = self._browser()
        driver.get(f"{self.server_url}/?{query}")
        self._navigate(lambda d: _click(d, d.find_element(By.ID, "start")))

    def act(self, action: str) -> None:
        from selenium.webdriver.common.by import By

        verb, argument = parse_action(action)
        if verb == "search":

            def search(driver):
                box = driver.find_element(By.NAME, "query")
                box.clear()
                box.send_keys(argument)
                _click(driver, driver.find_element(By.CSS_SELECTOR, "form.search button"))

            self._navigate(search)
            return

        def click(driver):
            link = driver.execute_script(_FIND_LINK, argument.lower())
            if link is None:
                raise LookupError(f"no link {argument!r} on {driver.current_url}")
            _click(driver, link)

        self._navigate(click)

    @property
    def reward(self) -> float | None:
        return done_reward(self.elements)

    def close(self) -> None:
        if self._handle is not None:
            driver = shared_browser()
            if self._handle in driver.window_handles:
                driver.switch_to.window(self._handle)
                driver.close()
                driver.switch_to.window(driver.window_handles[0])  # the blank first tab
            self._handle = None
            if len(driver.window_handles) == 1:  # no env of this process has a tab any more
                _quit(os.getpid())


class WebShopBrowserEnv(WebShopEnv):
    """WebShop in a real browser: selenium drives headless Chromium on the WebShop site.

    ## Description
    The task, goals, actions, rewards and episode ends of ``archer/WebShop-v0`` (see
    ``WebShopEnv``), but every page is rendered by Chromium and read back from the browser: the
    observation is built from the visible text of the page's elements, with the clickables in
    [brackets]; ``search[...]`` types into the search box and presses Search, ``click[...]``
    clicks the link with that text. On the same goal it plays exactly as the text env.

    ## Arguments
    As ``WebShopEnv``; ``server_url``: a running site (``archer-envs webshop-server``), else one
    is served from this process on first use. Needs Debian's ``chromium`` and
    ``chromium-driver`` at /usr/bin (nothing is downloaded). The envs of a process share one
    browser, a tab each; ``close()`` closes the env's tab.

    ## Version History
    - v0: initial release.
    """

    def __init__(
        self,
        num_products: int = DEFAULT_NUM_PRODUCTS,
        catalog_seed: int = 0,
        catalog_path: str | None = None,
        split: str = "train",
        max_steps: int = 10,
        server_url: str | None = None,
        render_mode: str | None = None,
        difficulty: str = "hard",
    ):
        super().__init__(
            num_products,
            catalog_seed,
            catalog_path,
            split,
            max_steps,
            None,
            render_mode,
            difficulty,
        )
        self.server_url = server_url
        catalog = (num_products, catalog_seed, self.catalog_path, difficulty)
        self._remote = BrowserShop(server_url, catalog)

    def close(self) -> None:
        self._remote.close()
        super().close()
