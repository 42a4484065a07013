"""WebShop as a text env, as ArCHer plays it; its HTTP client; and its scripted reference agents."""

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
    OUT_OF_STOCK_MARK,
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
def shop(
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
        return shop(self.catalog_path, self.num_products, self.catalog_seed, self.difficulty)[0]

    @property
    def engine(self) -> SearchEngine:
        return shop(self.catalog_path, self.num_products, self.catalog_seed, self.difficulty)[1]

    @property
    def target(self) -> str:
        """The ASIN of the goal's product (for tests, not for agents)."""
        return self.catalog.goal(self._goal_index)["asin"]

    def episode_options(self) -> list[dict[str, int]]:
        """The test split, one reset option per goal: the fixed episodes of an evaluation."""
        return [{"goal_index": i} for i in self.catalog.split("test")]

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


def make_vector_env(num_envs: int, **kwargs: Any):
    """``gymnasium.make_vec`` entry point: sub-envs share one catalogue and search index."""
    from archer_envs.core import TextVectorEnv

    return TextVectorEnv(WebShopEnv, num_envs, **kwargs)


# --- scripted reference agents -------------------------------------------------------------------
def current_page(observation: str) -> tuple[list[str], str]:
    """(lines of the latest page, instruction) of an observation."""
    body, _, instruction = observation.rpartition("Instruction: ")
    page = body.rstrip("\n").rpartition("Observation:\n")[2]
    return page.split("\n"), instruction.strip()


def option_groups(lines: list[str]) -> list[list[str]]:
    """The option values of an item page, one list per option type (the lines in brackets
    that follow each option type's label)."""
    groups: list[list[str]] = []
    for line in lines:
        if line.startswith("[") and line.strip("[]").lower() not in _PAGE_BUTTONS:
            if groups:
                groups[-1].append(line)
        elif not line.startswith("["):
            if groups and not groups[-1]:
                break  # two texts in a row: the options are over (title, price)
            groups.append([])
    return [group for group in groups if group]


class _ShopAgent:
    def __init__(self, env: WebShopEnv, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def act(self, observations: list[str | None]) -> list[str | None]:
        return [None if obs is None else self.act_one(obs) for obs in observations]


def clickable(line: str) -> str:
    """What to click for a line of a page in brackets: "[x]", "[[x]]" (chosen) or "[x] (out of
    stock)"."""
    return line.removesuffix(OUT_OF_STOCK_MARK).strip("[]")


class RandomShopper(_ShopAgent):
    """Each step a uniformly random clickable of the page (or, on the search page, a search
    for the instruction): the floor."""

    def act_one(self, observation: str) -> str:
        lines, instruction = current_page(observation)
        clickables = [clickable(line) for line in lines if line.startswith("[")]
        if lines == ["[Search]"] or not clickables:
            return f"search[{instruction}]"
        return f"click[{clickables[int(self.rng.integers(len(clickables)))]}]"


class RuleShopper(_ShopAgent):
    """WebShop's rule baseline: search the instruction, click the first result, choose every
    option whose value the instruction names, buy. It clicks each named value once, without
    reading whether it is in stock: where it is not, the click selects nothing and the purchase
    goes without it."""

    def act_one(self, observation: str) -> str:
        lines, instruction = current_page(observation)
        if lines == ["[Search]"]:
            return f"search[{instruction}]"
        if lines and lines[0] == "[Back to Search]" and lines[1].startswith("Page "):
            products = [line for line in lines[2:] if re.fullmatch(r"\[[A-Z0-9]{10}\]", line)]
            return f"click[{products[0].strip('[]')}]" if products else "click[Back to Search]"
        if "[Buy Now]" in lines:
            for group in option_groups(lines):
                values = [clickable(line) for line in group]
                if any(line.startswith("[[") for line in group) or any(
                    f"Action: click[{value}]\n" in observation for value in values
                ):
                    continue  # this option type is chosen already, or its click failed
                for value in values:
                    if re.search(
                        rf"(?<![\w-]){re.escape(value.lower())}(?![\w-])", instruction.lower()
                    ):
                        return f"click[{value}]"
            return "click[Buy Now]"
        return "click[Back to Search]" if "[Back to Search]" in lines else f"search[{instruction}]"


_PAGE_BUTTONS = frozenset(
    ["back to search", "< prev", "description", "features", "reviews", "attributes", "buy now"]
)
_ACCESSORY = re.compile(r"\bfor\b|\bcompatible\b")


def _wanted_forms(value: str) -> list[str]:
    """An option value and the ways a shopper may write it (the hard vocabulary's
    paraphrases, which a careful shopper knows as any shopper does)."""
    from archer_envs.webshop.hard import hard_vocabulary

    return [value, *hard_vocabulary()["option_paraphrases"].get(value, [])]


def _names(value: str, instruction: str) -> bool:
    """Whether the instruction names this option value, in any of its forms, as whole words."""
    return any(_says(form.lower(), instruction) for form in _wanted_forms(value))


@functools.cache
def _attribute_forms() -> dict[str, re.Pattern]:
    """Every attribute of the vocabulary, and a pattern of the ways a shopper may write it."""
    from archer_envs.webshop.catalog import vocabulary
    from archer_envs.webshop.hard import attribute_paraphrases, hard_vocabulary

    names = set()
    for category in vocabulary()["categories"].values():
        names.update(category["attributes"])
        for entry in category["types"]:
            names.update(entry[5])
    for generic in hard_vocabulary()["generic_attributes"].values():
        names.update(generic)
    paraphrases = attribute_paraphrases()
    return {
        name: re.compile(
            r"(?<![\w-])(?:" + "|".join(map(re.escape, (name, *paraphrases.get(name, ())))) + ")"
        )
        for name in sorted(names)
    }


def wanted_attributes(instruction: str) -> set[str]:
    """The vocabulary's attributes an instruction asks for, in any of their usual forms."""
    text = instruction.lower()
    return {name for name, pattern in _attribute_forms().items() if pattern.search(text)}


def named_values(instruction: str) -> list[str]:
    """The option values an instruction names in another spelling ("xl": "x-large")."""
    from archer_envs.webshop.hard import hard_vocabulary

    return sorted(
        value
        for value, forms in hard_vocabulary()["option_paraphrases"].items()
        if any(_says(form, instruction) for form in forms) and not _says(value, instruction)
    )


def _says(words: str, instruction: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(words)}(?![\w-])", instruction.lower()) is not None


class CarefulShopper(_ShopAgent):
    """A scripted careful shopper. It searches the instruction without its price, adding the
    vocabulary's names of the attributes and option values it asks for in other words; on the
    results it skips what is over budget or an accessory "for" the product; it reads the first
    product's Attributes page, and goes back to the next result when a product lacks an
    attribute the instruction asks for or does not stock a value it names, as long as its
    action budget allows; then it chooses for each option type the value the instruction names
    (in any usual spelling, the longest match: "xx-large" over "large") and buys. A value the
    page marks out of stock counts as not stocked: it goes back to the next result, or (out of
    actions) buys without it. The reference that the hard catalogue must separate from the rule
    baseline."""

    def __init__(self, env: WebShopEnv, seed: int | None = None):
        super().__init__(env, seed)
        self.max_steps = getattr(env, "max_steps", 10)
        self.episodes: dict[int, dict] = {}  # what it knows of each episode of the batch

    def act(self, observations: list[str | None]) -> list[str | None]:
        actions = []
        for position, observation in enumerate(observations):
            if observation is None:
                actions.append(None)
                continue
            if "Action: " not in observation:  # the start of an episode
                self.episodes[position] = {"rejected": set(), "checked": set(), "steps": 0}
            episode = self.episodes[position]
            self.rejected, self.checked = episode["rejected"], episode["checked"]
            self.item, self.steps = episode.get("item", ""), episode["steps"]
            actions.append(self.act_one(observation))
            episode["item"], episode["steps"] = self.item, self.steps + 1
        return actions

    def act_one(self, observation: str) -> str:
        """The action for an observation, from what ``act`` set up: the products rejected and
        checked so far, the one opened last, and the actions already taken."""
        lines, instruction = current_page(observation)
        if lines == ["[Search]"]:
            query = re.split(r"[,.] (?:and )?(?:price|under|my budget|it should)", instruction)[0]
            words = [query, *sorted(wanted_attributes(instruction)), *named_values(instruction)]
            return f"search[{' '.join(words)}]"
        if lines and lines[0] == "[Back to Search]" and lines[1].startswith("Page "):
            return self._choose_result(lines[2:], instruction)
        if "[Buy Now]" in lines:
            return self._on_item(lines, instruction)
        if self.item and "[< Prev]" in lines and self.item not in self.checked:  # Attributes
            self.checked.add(self.item)
            have = {line.lower() for line in lines if not line.startswith("[")}
            if not wanted_attributes(instruction) <= have:
                self.rejected.add(self.item)
        return "click[< Prev]" if "[< Prev]" in lines else "click[Back to Search]"

    def _choose_result(self, lines: list[str], instruction: str) -> str:
        limit_match = re.search(r"(\d+\.\d\d) d\w*", instruction)
        limit = float(limit_match.group(1)) if limit_match else float("inf")
        ranked = []
        for i, line in enumerate(lines):
            if re.fullmatch(r"\[[A-Z0-9]{10}\]", line) and i + 2 < len(lines):
                asin, title, price = line.strip("[]"), lines[i + 1], lines[i + 2]
                cost = float(re.sub(r"[^\d.]", "", price.split(" to ")[0]) or 0)
                fits = cost <= limit and not _ACCESSORY.search(title.split(",")[0].lower())
                ranked.append((asin in self.rejected, not fits, i, asin))
        if not ranked:
            return "click[Back to Search]"
        self.item = min(ranked)[3]
        return f"click[{self.item}]"

    def _on_item(self, lines: list[str], instruction: str) -> str:
        groups = option_groups(lines)
        left = self.max_steps - self.steps  # actions left, this one included
        # going back and buying the next result: back, open it, its options, buy
        can_leave = left >= len(groups) + 3
        if self.item not in self.checked and left >= len(groups) + 5:  # + Attributes and back
            return "click[Attributes]"
        # per option type, the line of the value the instruction names (the longest), or None
        wanted = [
            max(
                (line for line in group if _names(clickable(line), instruction)),
                key=lambda line: len(clickable(line)),
                default=None,
            )
            for group in groups
        ]
        stocked = [line is not None and not line.endswith(OUT_OF_STOCK_MARK) for line in wanted]
        if not all(stocked) and can_leave:
            self.rejected.add(self.item)
        if self.item in self.rejected and can_leave:
            return "click[< Prev]"
        for line, in_stock in zip(wanted, stocked, strict=True):
            if in_stock and not line.startswith("[["):
                return f"click[{clickable(line)}]"
        return "click[Buy Now]"


SCRIPTED_AGENTS = {"random": RandomShopper, "rule": RuleShopper, "careful": CarefulShopper}
