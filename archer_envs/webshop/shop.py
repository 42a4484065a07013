"""The shop's pages and transitions: pure rules shared by the text env, the web site and the
HTTP client.

A ``ShopSession`` is one shopper's visit: the page it is on (search, results, item, an item's
sub-page, done), the chosen options, and the reward once it buys. ``act("search[...]")`` and
``act("click[...]")`` move it; a page is a list of elements (text, buttons, product links,
options), which ``page_text`` renders as the text env's observation (clickables in [brackets])
and the server renders as HTML. ``parse_page`` reads the elements back from that HTML, so a
client over HTTP sees exactly what the in-process env sees.

An item page lists every option value of the product, those out of stock marked so; choosing
one of these selects nothing and the page says why, so a purchase never includes a value out
of stock.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, ClassVar

from archer_envs.webshop.catalog import Catalog, in_stock
from archer_envs.webshop.reward import purchase_reward
from archer_envs.webshop.search import SearchEngine

ACTION_PATTERN = re.compile(r"^\s*(search|click|think)\s*\[(.*)\]\s*$", re.I | re.S)
SUB_PAGES = ("Description", "Features", "Reviews", "Attributes")
BACK, PREV, NEXT, BUY = "Back to Search", "< Prev", "Next >", "Buy Now"
SCORE_TEXT = "Your score (min 0.0, max 1.0)"
# element kinds: plain text, a button, a link to a product (by ASIN), an option value (and one
# that is selected, and one out of stock), an option type's label
TEXT, BUTTON, PRODUCT, LABEL = "text", "button", "product", "label"
OPTION, SELECTED, OUT_OF_STOCK = "option", "selected", "out of stock"
OUT_OF_STOCK_MARK = " (out of stock)"  # after a value out of stock, on the page


def parse_action(action: str) -> tuple[str, str] | None:
    """("search" | "click" | "think", argument) of an action, or None if it is neither."""
    match = ACTION_PATTERN.match(action)
    if match is None:
        return None
    return match.group(1).lower(), match.group(2).strip()


@dataclass
class ShopSession:
    """One visit to the shop, for one goal. ``results_shown`` products are listed per results
    page (ArCHer: 3); ``paging`` adds Next/Prev buttons between result pages (off in ArCHer)."""

    catalog: Catalog
    engine: SearchEngine
    goal: dict[str, Any]
    results_shown: int = 3
    paging: bool = False
    page: str = "search"  # search | results | item | sub-page name | done
    query: str = ""
    page_number: int = 1
    asin: str = ""
    options: dict[str, str] = field(default_factory=dict)
    notice: str = ""  # what the page says of the last action (an option out of stock)
    reward: float | None = None

    # --- what can be done ------------------------------------------------------------------------
    @property
    def has_search_bar(self) -> bool:
        return self.page == "search"

    def clickables(self) -> list[str]:
        return available_actions(self.elements())["clickables"]

    def act(self, action: str) -> bool:
        """Play ``search[query]`` or ``click[button]``; False (and nothing changes) if the action
        is not possible on this page."""
        parsed = parse_action(action)
        if parsed is None or self.page == "done":
            return False
        verb, argument = parsed
        if verb == "search":
            if not self.has_search_bar or not argument:
                return False
            self.page, self.query, self.page_number, self.notice = "results", argument, 1, ""
            return True
        if verb != "click":
            return False
        target = argument.lower()
        if target not in self.clickables():
            return False
        self.notice = ""
        self._click(target)
        return True

    def _click(self, target: str) -> None:
        if target == BACK.lower():
            self.page, self.query, self.asin, self.options = "search", "", "", {}
        elif target == NEXT.lower():
            self.page_number += 1
        elif target == PREV.lower():
            if self.page == "results":
                self.page_number -= 1
            elif self.page == "item":
                self.page, self.asin, self.options = "results", "", {}
            else:
                self.page = "item"
        elif target == BUY.lower():
            self._buy()
        elif self.page == "results":
            self.page, self.asin, self.options = "item", target.upper(), {}
        elif target in (name.lower() for name in SUB_PAGES):
            self.page = target.capitalize()
        else:  # an option value: select it for its type, if it is in stock
            product = self.product()
            for kind, values in product["options"].items():
                if target in values:
                    if in_stock(product, kind, target):
                        self.options[kind] = target
                    else:
                        self.notice = f"Sorry, {target} ({kind}) is out of stock."
                    break

    def _buy(self) -> None:
        product = self.product()
        self.reward, _ = purchase_reward(product, self.goal, product["pricing"][0], self.options)
        self.page = "done"

    # --- what is shown ---------------------------------------------------------------------------
    def product(self) -> dict[str, Any]:
        return self.catalog.product(self.catalog.index_of(self.asin))

    def results(self) -> tuple[list[int], int]:
        return self.engine.page(self.query, self.page_number, self.results_shown)

    def elements(self) -> list[tuple[str, str]]:
        """The current page as (kind, text) elements, in reading order."""
        if self.page == "search":
            return [(BUTTON, "Search")]
        if self.page == "done":
            return [
                (TEXT, "Thank you for shopping with us!"),
                (TEXT, f"{SCORE_TEXT}: {self.reward!r}"),
            ]
        if self.page == "results":
            shown, total = self.results()
            out = [(BUTTON, BACK), (TEXT, f"Page {self.page_number} (Total results: {total})")]
            if self.paging and self.page_number > 1:
                out.append((BUTTON, PREV))
            if self.paging and self.page_number * self.results_shown < total:
                out.append((BUTTON, NEXT))
            for index in shown:
                product = self.catalog.product(index)
                out += [(PRODUCT, product["asin"]), (TEXT, product["Title"])]
                out.append((TEXT, product["Price"]))
            return out
        product = self.product()
        out = [(BUTTON, BACK), (BUTTON, PREV)]
        if self.page == "item":
            for kind, values in product["options"].items():
                out.append((LABEL, kind))
                for value in values:
                    if self.options.get(kind) == value:
                        out.append((SELECTED, value))
                    elif in_stock(product, kind, value):
                        out.append((OPTION, value))
                    else:
                        out.append((OUT_OF_STOCK, value))
            out += [
                (TEXT, product["Title"]),
                (TEXT, f"Price: {product['Price']}"),
                (TEXT, f"Rating: {product['Rating']}"),
            ]
            out += [(BUTTON, name) for name in SUB_PAGES]
            out.append((BUTTON, BUY))
            if self.notice:
                out.append((TEXT, self.notice))
        elif self.page == "Description":
            out.append((TEXT, product["Description"]))
        elif self.page == "Features":
            out += [(TEXT, bullet) for bullet in product["BulletPoints"]]
        elif self.page == "Reviews":
            for review in product["Reviews"]:
                out += [
                    (TEXT, f"{review['title']} ({review['score']}/5, {review['author']})"),
                    (TEXT, review["body"]),
                ]
        else:  # Attributes
            out += [(TEXT, attribute) for attribute in product["Attributes"]]
        return out


def available_actions(elements: list[tuple[str, str]]) -> dict[str, Any]:
    """WebShop's available actions of a page: whether it has the search bar, and its buttons
    and links, lower-cased."""
    clickable = (BUTTON, PRODUCT, OPTION, SELECTED, OUT_OF_STOCK)
    return {
        "has_search_bar": (BUTTON, "Search") in elements,
        "clickables": [t.lower() for k, t in elements if k in clickable and t != "Search"],
    }


def page_text(elements: list[tuple[str, str]]) -> str:
    """The text env's rendering of a page: one element a line, clickables in [brackets], the
    selected option in [[double brackets]], an option out of stock as "[value] (out of
    stock)"."""
    lines = []
    for kind, text in elements:
        if kind in (BUTTON, PRODUCT, OPTION):
            lines.append(f"[{text}]")
        elif kind == OUT_OF_STOCK:
            lines.append(f"[{text}]{OUT_OF_STOCK_MARK}")
        elif kind == SELECTED:
            lines.append(f"[[{text}]]")
        else:
            lines.append(text)
    return "\n".join(lines)


# --- HTML ----------------------------------------------------------------------------------------
def element_html(kind: str, text: str, href: str) -> str:
    """One element as HTML (``href``: where a click on it goes). Every text is escaped."""
    safe = html.escape(text)
    if kind == TEXT:
        return f'<p class="text">{safe}</p>'
    if kind == LABEL:
        return f'<h4 class="label">{safe}</h4>'
    if kind == BUTTON and text == "Search":
        return (
            f'<form class="search" method="post" action="{html.escape(href)}">'
            '<input type="text" name="query" aria-label="search"> '
            '<button type="submit" class="button">Search</button></form>'
        )
    if kind == OUT_OF_STOCK:  # still a link: choosing it is answered with the reason
        return (
            f'<a class="option out-of-stock" href="{html.escape(href)}">{safe}</a>'
            f'<span class="stock">{html.escape(OUT_OF_STOCK_MARK)}</span>'
        )
    css = {BUTTON: "button", PRODUCT: "product-link", OPTION: "option", SELECTED: "option selected"}
    return f'<a class="{css[kind]}" href="{html.escape(href)}">{safe}</a>'


class _PageParser(HTMLParser):
    """Reads the elements (and the instruction) back from a page of the site."""

    KINDS: ClassVar[dict[str, str]] = {
        "text": TEXT,
        "label": LABEL,
        "button": BUTTON,
        "product-link": PRODUCT,
        "option": OPTION,
        "option selected": SELECTED,
        "option out-of-stock": OUT_OF_STOCK,
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, str]] = []
        self.instruction = ""
        self._kind: str | None = None
        self._buffer: list[str] = []

    def handle_starttag(self, tag, attrs):
        css = dict(attrs).get("class") or ""
        if css == "instruction":
            self._kind = "instruction"
            self._buffer = []
        elif css in self.KINDS and self._kind is None:
            self._kind = self.KINDS[css]
            self._buffer = []

    def handle_endtag(self, tag):
        if self._kind is None or tag not in ("p", "h4", "a", "button", "div"):
            return
        text = "".join(self._buffer)
        if self._kind == "instruction":
            self.instruction = text
        else:
            self.elements.append((self._kind, text))
        self._kind = None

    def handle_data(self, data):
        if self._kind is not None:
            self._buffer.append(data)


def parse_page(page_html: str) -> tuple[str, list[tuple[str, str]]]:
    """(instruction, elements) of a page of the site."""
    parser = _PageParser()
    parser.feed(page_html)
    parser.close()
    return parser.instruction, parser.elements


def done_reward(elements: list[tuple[str, str]]) -> float | None:
    """The score a done page shows (exactly: it is printed with repr), or None."""
    for kind, text in elements:
        if kind == TEXT and text.startswith(SCORE_TEXT + ": "):
            return float(text.split(": ", 1)[1])
    return None
