"""WebShop as a text env, as ArCHer plays it, and its HTTP client."""

from __future__ import annotations

import functools
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import numpy as np

from archer_envs.core import OBSERVATION_MAX_LENGTH, TextEnv
from archer_envs.webshop.catalog import (
    DEFAULT_NUM_PRODUCTS,
    Catalog,
    check_difficulty,
    load_catalog,
)
from archer_envs.webshop.search import SearchEngine
from archer_envs.webshop.shop import (
    PRODUCT,
    ShopSession,
    available_actions,
    done_reward,
    page_text,
    parse_action,
    parse_page,
)

INVALID = "Invalid action!"
THINK_REPLY = "OK."
RESULTS_SHOWN = 3  # ArCHer shows only the first three search results


@functools.cache
def load_shop(
    catalog_path: str | None, num_products: int, seed: int, difficulty: str = "hard"
) -> tuple[Catalog, SearchEngine]:
    """The catalogue and its search index, built once per process and shared by every env."""
    catalog = load_catalog(catalog_path, num_products, seed, difficulty)
    return catalog, SearchEngine(catalog)


def is_possible(action: str, actions: dict[str, Any]) -> bool:
    """Whether ``search[...]`` / ``click[...]`` can be played on a page with these available
    actions (WebShop's rule: search needs the search bar, click a listed clickable)."""
    parsed = parse_action(action)
    if parsed is None:
        return False
    verb, argument = parsed
    if verb == "search":
        return actions["has_search_bar"] and bool(argument)
    return verb == "click" and argument.lower() in actions["clickables"]


class HttpShop:
    """The shop of a web site (archer_envs.webshop.server) seen over HTTP: each action is a
    request, each page is read back from its HTML. (The browser env's ``BrowserShop`` has the
    same interface: ``start``, ``act``, ``instruction``, ``elements``, ``reward``.)"""

    def __init__(self, server_url: str, timeout: float = 30.0):
        parts = urllib.parse.urlsplit(server_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"server_url must be an http(s) URL, got {server_url!r}")
        self.base = server_url.rstrip("/")
        self.timeout = timeout
        self.session_url = ""
        self.instruction = ""
        self.elements: list[tuple[str, str]] = []

    def _request(self, url: str, form: dict[str, Any] | None = None) -> None:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with urllib.request.urlopen(url, data=data, timeout=self.timeout) as response:
                final_url, body = response.geturl(), response.read().decode()
        except urllib.error.URLError as error:
            raise ConnectionError(f"WebShop server at {self.base}: {error}") from error
        self.session_url = re.sub(r"/(search|click)$", "", final_url.split("?")[0])
        self.instruction, self.elements = parse_page(body)

    def start(self, goal_index: int) -> None:
        form = {"goal_index": goal_index, "results_shown": RESULTS_SHOWN, "paging": 0}
        self._request(f"{self.base}/start", form)

    def act(self, action: str) -> None:
        verb, argument = parse_action(action)
        if verb == "search":
            self._request(f"{self.session_url}/search", {"query": argument})
        else:
            self._request(f"{self.session_url}/click", {"target": argument.lower()})

    @property
    def reward(self) -> float | None:
        return done_reward(self.elements)


class WebShopEnv(TextEnv):
    """WebShop: buy the product a shopping request describes, by searching and clicking.

    ## Description
    A simulated e-commerce site (Yao et al., 2022) in ArCHer's text setting. The catalogue is
    generated in WebShop's schema (10,000 products in 5 categories and 116 product types by
    default; up to the original's 1,181,436) or loaded from the original WebShop files. Each
    episode is a goal: a product's attributes, one value for each of its options and a price
    limit, phrased as a request ("i need a sulfate free shampoo in 16.9 fl oz, and price lower
    than 20.00 dollars"). The agent searches, opens products, chooses options and buys.

    ## Action Space
    ``Text(256)``: ``search[query]`` (on the search page), ``click[button]`` (a clickable of the
    current page, case-insensitive: a product's ASIN, an option value, "Back to Search",
    "< Prev", "Description", "Features", "Reviews", "Attributes", "Buy Now"), or
    ``think[...]`` (answered "OK."). Anything else, or an action the page does not offer, is
    answered "Invalid action!" and changes nothing.

    ## Observation Space
    ``Text(8192)``: as ArCHer, the history and then the instruction: the first page, then for
    every step ``"Action: ..."`` and ``"Observation:"`` with the page text (clickables in
    [brackets], the chosen option in [[double brackets]], an option value out of stock as
    "[value] (out of stock)"; results pages list the first three products with no paging),
    then ``"Instruction: ..."``. The oldest steps are dropped if it grows past 8,192
    characters. Choosing a value out of stock selects nothing: the item page comes back with
    "Sorry, <value> (<option type>) is out of stock." as its last line.

    ## Rewards
    0 until the purchase; on ``click[Buy Now]`` the WebShop reward in [0, 1] (type match x
    share of goal attributes, options and price limit met; see archer_envs.webshop.reward).

    ## Episode End
    Terminated on a purchase, or after ``max_steps`` actions (10, as ArCHer) with reward 0;
    both are rules of ArCHer's game.

    ## Information
    ``turn``, ``success`` (a reward of exactly 1), ``action_cut``, ``valid`` (whether the action
    was possible), ``available_actions`` (``{"has_search_bar", "clickables"}`` as WebShop);
    ``task`` at reset; ``target`` (the goal's ASIN), ``goal_index`` and ``purchased`` once over.

    ## Arguments
    - ``num_products`` (10,000), ``catalog_seed`` (0): the generated catalogue, built on first
      use and cached; ``catalog_path``: a folder with WebShop's items_shuffle.json and
      items_ins_v2.json instead.
    - ``split``: goals a seeded reset draws from: "train" (default), "dev" or "test" (WebShop's
      fixed splits: goals 0-499 test, 500-1499 dev, the rest train).
    - ``difficulty``: the generated catalogue and its goals: "hard" (default,
      archer_envs.webshop.hard: a marketplace's near-duplicates, noisy titles, decoys, option
      values out of stock, partial paraphrased goals with typos; calibrated so that WebShop's
      rule baseline scores as on the real WebShop) or "easy" (clean products, every value in
      stock, goals in the products' own words).
    - ``max_steps``: actions per episode (10).
    - ``server_url``: play on a running site (``archer-envs webshop-server``) over HTTP instead
      of in-process; the transcripts are identical.
    - ``render_mode``: "ansi" or "human".

    ``reset(options={"goal_index": i})`` picks goal ``i``; ``episode_options()`` lists the test
    split, the fixed episodes of an evaluation.

    ## References
    Yao, Chen, Yang, Narasimhan, WebShop (arXiv 2207.01206); Zhou et al., ArCHer (2402.19446).

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
        super().__init__(render_mode)
        check_difficulty(difficulty)
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        if not isinstance(num_products, int) or num_products < 1:
            raise ValueError(f"num_products must be a positive int, got {num_products!r}")
        if split not in ("train", "dev", "test"):
            raise ValueError(f"split must be 'train', 'dev' or 'test', got {split!r}")
        self.num_products = num_products
        self.catalog_seed = catalog_seed
        self.difficulty = difficulty
        self.catalog_path = None if catalog_path is None else str(catalog_path)
        self.split = split
        self.max_steps = max_steps
        self.server_url = server_url
        self._remote: HttpShop | None = HttpShop(server_url) if server_url else None
        self.task_description = (
            "You are shopping on WebShop. Follow the instruction at the end of each "
            "observation and buy the product it describes. Actions: search[your query] on the "
            "search page, click[text of a button or link in brackets] (a product id, an option "
            "such as a colour or size, Description, Features, Reviews, Attributes, < Prev, Back "
            f"to Search, Buy Now), think[your thoughts]. You have {max_steps} actions; the "
            "purchase is scored from 0 to 1 by how well it matches the instruction. Reply with "
            "one action only."
        )
        self._session: ShopSession | None = None
        self._goal_index = 0
        self._history: list[tuple[str | None, str]] = []
        self._instruction = ""
        self._product: str | None = None  # the ASIN of the product page last opened
        self._bought: str | None = None

    # --- the catalogue, loaded on first use ----------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        return self._shop()[0]

    @property
    def engine(self) -> SearchEngine:
        return self._shop()[1]

    def _shop(self) -> tuple[Catalog, SearchEngine]:
        return load_shop(self.catalog_path, self.num_products, self.catalog_seed, self.difficulty)

    @property
    def target(self) -> str:
        """The ASIN of the goal's product (for tests, not for agents)."""
        return self.catalog.goal(self._goal_index)["asin"]

    def episode_options(self) -> list[dict[str, int]]:
        """The test split, one reset option per goal: the fixed episodes of an evaluation."""
        return [{"goal_index": i} for i in self.catalog.split("test")]

    def training_options(self) -> list[dict[str, int]]:
        """The reset options a trainer starts episodes from: the goals of the env's ``split``
        ("train" unless made otherwise; an evaluation plays the test split)."""
        return [{"goal_index": i} for i in self.catalog.split(self.split)]

    # --- the game ------------------------------------------------------------------------------
    def _start(self, options: dict[str, Any]) -> str:
        unknown = set(options) - {"goal_index"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'goal_index'")
        if "goal_index" in options:
            index = options["goal_index"]
            if not isinstance(index, (int, np.integer)) or not 0 <= index < self.catalog.num_goals:
                raise ValueError(
                    f"goal_index must be an int in [0, {self.catalog.num_goals}), got {index!r}"
                )
            self._goal_index = int(index)
        else:
            goals = self.catalog.split(self.split)
            if len(goals) == 0:
                goals = range(self.catalog.num_goals)
            self._goal_index = goals[int(self.np_random.integers(len(goals)))]
        goal = self.catalog.goal(self._goal_index)
        if self._remote is not None:
            self._remote.start(self._goal_index)
            self._instruction = self._remote.instruction
        else:
            self._session = ShopSession(
                self.catalog, self.engine, goal, results_shown=RESULTS_SHOWN, paging=False
            )
            self._instruction = goal["instruction_text"]
        self._product = self._bought = None
        self._history = [(None, page_text(self._elements()))]
        return self._render_history()

    def _elements(self) -> list[tuple[str, str]]:
        return self._remote.elements if self._remote is not None else self._session.elements()

    def _play(self, action: str, answer: str | None):
        actions = available_actions(self._elements())
        parsed = parse_action(action)
        reward, bought, valid = 0.0, False, True
        if parsed is not None and (PRODUCT, parsed[1].upper()) in self._elements():
            self._product = parsed[1].upper()
        if parsed is not None and parsed[0] == "think":
            page = THINK_REPLY
        elif is_possible(action, actions):
            if self._remote is not None:
                self._remote.act(action)
                result = self._remote.reward
            else:
                self._session.act(action)
                result = self._session.reward
            page = page_text(self._elements())
            if result is not None:
                reward, bought, self._bought = result, True, self._product
        else:
            page, valid = INVALID, False
        self._history.append((action, page))
        terminated = bought or len(self._history) - 1 >= self.max_steps
        if terminated:
            self._finish(reward == 1.0)
        info = {"valid": valid, "available_actions": available_actions(self._elements())}
        return self._render_history(), reward, terminated, False, info

    def _render_history(self) -> str:
        blocks = [
            (f"Action: {action}\n" if action is not None else "") + f"Observation:\n{page}\n\n"
            for action, page in self._history
        ]
        tail = f"Instruction: {self._instruction}\n"
        total = sum(map(len, blocks)) + len(tail)
        while blocks and total > OBSERVATION_MAX_LENGTH:
            total -= len(blocks.pop(0))
        return ("".join(blocks) + tail)[-OBSERVATION_MAX_LENGTH:]

    def _reveal(self) -> dict[str, Any]:
        return {"target": self.target, "goal_index": self._goal_index, "purchased": self._bought}

    # --- pickling: the catalogue stays behind, the process that unpickles loads its own ----------
    def __getstate__(self):
        state = self.__dict__.copy()
        session = state.pop("_session")
        state["_session_state"] = (
            None
            if session is None
            else {k: v for k, v in vars(session).items() if k not in ("catalog", "engine")}
        )
        return state

    def __setstate__(self, state):
        session_state = state.pop("_session_state")
        self.__dict__.update(state)
        self._session = (
            None
            if session_state is None
            else ShopSession(self.catalog, self.engine, **session_state)
        )
