"""WebShop's scripted reference agents: random, a rule-based shopper (ArCHer's baseline) and a
careful shopper that reads the instruction's attributes and options. They see only the
observation."""

from __future__ import annotations

import functools
import re

import numpy as np

from archer_envs.webshop.env import WebShopEnv
from archer_envs.webshop.shop import OUT_OF_STOCK_MARK


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
