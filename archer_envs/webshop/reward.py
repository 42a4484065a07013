"""The WebShop reward of a purchase (Yao et al., 2022, section 3.1), as WebShop's code computes it.

    r = r_type * (|U_att ∩ Y_att| + |U_opt ∩ Y_opt| + 1[price <= limit]) / (|U_att| + |U_opt| + 1)

An attribute of the goal is matched by a purchased product's attribute with a fuzzy token-set
ratio above 85, or found verbatim in its title, bullet points or description; an option of the
goal is matched by a chosen option the same way (with WebShop's colour normalisation, and
compared with the text "type value", as WebShop's code passes (type, value) pairs). The
ratio reproduces thefuzz's ``token_set_ratio``: its preprocessing (code points 128-255 dropped,
lower-cased, non-alphanumerics to spaces, stripped) and its rounding to an int.

``r_type`` in {0, 0.1, 0.5, 1} compares product types: WebShop tags the titles' nouns with spaCy;
we take the words of the title that are not stopwords, adjectives, colours or numbers, which
keeps product-type nouns, brands and nouns of attributes as spaCy does, without any model.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from archer_envs.webshop.catalog import vocabulary

MATCH_THRESHOLD = 85
# WebShop's normalize_color: the first of these contained in an option value replaces it
COLOR_SET = (
    "alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze brown "
    "burgundy camel camo caramel champagne charcoal cheetah chestnut chocolate christmas coffee "
    "cognac copper coral cranberry cream crystal dark denim eggplant elephant espresso fuchsia "
    "gold granite grape graphite grass gray green grey heather indigo ivory ivy khaki lavender "
    "lemon leopard light lilac lime magenta maroon mauve merlot midnight mint mocha multicolor "
    "mushroom mustard natural navy nude olive orange peach pewter pink plum purple rainbow red "
    "rose royal rust sand sapphire seashell silver skull slate steel stone stonewash sunflower tan "
    "taupe teal tiger turquoise violet walnut wheat white wine yellow"
).split()
_LATIN1 = {code: None for code in range(128, 256)}
_NOT_NOUNS = frozenset(
    (
        "a an and are as at be by for from in into is it its of on or over than that the this "
        "to up with without x "
        # adjectives and participles that product titles use
        "adjustable all anti best big built classic comfortable compact contemporary cool cooling "
        "crunchy curly damaged dark deep dimmable dry durable easy electric elastic everyday "
        "extra fast flat free fresh full gentle genuine gourmet great hands healthy heavy high "
        "homestyle hot hydrating industrial instant large light lightweight long low matte "
        "medium mid mini minimalist modern natural new nourishing oily open organic original "
        "portable powerful premium professional pure quick raw ready refreshing regular "
        "relaxed resistant rugged rustic safe savory scandinavian sensitive short silent slim "
        "small smart soft soothing stainless sturdy super thick thin ultra unscented vintage "
        "warm waterproof wide wireless"
    ).split()
)


def full_process(text: str) -> str:
    """thefuzz's ``full_process(text, force_ascii=True)``."""
    return default_process(text.translate(_LATIN1))


def fuzzy_score(a: str, b: str) -> int:
    """thefuzz's ``fuzz.token_set_ratio(a, b)``: preprocessed, then rounded (half to even)."""
    return round(fuzz.token_set_ratio(full_process(a), full_process(b)))


def normalize_color(value: str) -> str:
    for color in COLOR_SET:
        if color in value:
            return color
    return value


@functools.cache
def _adjectives() -> frozenset[str]:
    words = set(_NOT_NOUNS) | set(COLOR_SET)
    for category in vocabulary()["categories"].values():
        for adjective in category["adjectives"]:
            words.update(adjective.split())
    return frozenset(words)


def title_nouns(title: str) -> list[str]:
    """The nouns of a title, without a tagger: its words minus stopwords, adjectives, colours
    and anything with a digit."""
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", title.lower())
    return [w for w in words if w not in _adjectives() and not any(c.isdigit() for c in w)]


def type_reward(product: dict[str, Any], goal: dict[str, Any]) -> dict[str, Any]:
    """WebShop's ``get_type_reward``: r_type and the matches that decide it."""
    query_match = product["query"] == goal["query"]
    bought_path = {part.strip() for part in product["product_category"].split("›")}
    goal_path = {part.strip() for part in goal["product_category"].split("›")}
    category_match = len(bought_path & goal_path) >= 2
    bought = set(title_nouns(product["name"]))
    desired = title_nouns(goal["name"])
    title_score = len(bought & set(desired)) / len(desired) if desired else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {
        "r_type": r_type,
        "query_match": query_match,
        "category_match": category_match,
        "title_score": title_score,
    }


def attribute_matches(product: dict[str, Any], goal: dict[str, Any]) -> int:
    """How many goal attributes the product has (fuzzy match, or verbatim in its text)."""
    text = " ".join(
        [product["Title"], " ".join(product["BulletPoints"]), product["Description"]]
    ).lower()
    count = 0
    for wanted in goal["attributes"]:
        fuzzy = any(fuzzy_score(have, wanted) > MATCH_THRESHOLD for have in product["Attributes"])
        if fuzzy or wanted in text:
            count += 1
    return count


def option_matches(chosen: list[str], wanted: dict[str, str]) -> int:
    """How many of the goal's options ({type: value}) a chosen value matches.

    As in WebShop's code, which hands the goal's options to the matcher as (type, value) pairs:
    ``normalize_color`` replaces a pair only when it holds a colour name exactly, and thefuzz
    reads a pair as its text, so a chosen value is compared with "type value" ("large" matches
    "size: large" but "x-large" does not)."""
    chosen = [normalize_color(value) for value in chosen]
    count = 0
    for kind, value in wanted.items():
        goal = next((color for color in COLOR_SET if color in (kind, value)), f"{kind} {value}")
        if any(fuzzy_score(have, goal) > MATCH_THRESHOLD for have in chosen):
            count += 1
    return count


def purchase_reward(
    product: dict[str, Any], goal: dict[str, Any], price: float, options: dict[str, str]
) -> tuple[float, dict[str, Any]]:
    """The reward of buying ``product`` at ``price`` with the chosen ``options`` ({type: value})
    for ``goal``, and its parts."""
    r_type = type_reward(product, goal)
    r_price = price <= goal["price_upper"] if goal["price_upper"] > 0 else True
    n_attributes = attribute_matches(product, goal)
    n_options = option_matches(list(options.values()), goal["goal_options"])
    total = (n_attributes + n_options + r_price) / (
        len(goal["attributes"]) + len(goal["goal_options"]) + 1
    )
    parts = {
        **r_type,
        "r_price": bool(r_price),
        "attribute_matches": n_attributes,
        "option_matches": n_options,
    }
    return total * r_type["r_type"], parts
