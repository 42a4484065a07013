"""The hard WebShop catalogue (``difficulty="hard"``): what makes the real WebShop hard, on the
same vocabulary and schema as the easy one.

WebShop's rule baseline scores 45.6 on the real catalogue and far more on a clean one. The real
catalogue is hard because it is a marketplace: many near-duplicate products of a type from
different brands at different prices, long noisy titles, attributes mentioned only in the bullet
points, option lists that differ in small ways from product to product ("king" and "california
king", "x-large" and "xx-large") and not all values in stock, and accessories whose titles match
a query's words but that are not the product. Its goals were written by crowd workers: partial,
paraphrased ("xl", "navy", "thumb drive"), sometimes misspelt. This module generates both from
data/webshop/hard_vocabulary.json (which also gives each product type options and attributes
that make sense for it). The price limit and the reward are WebShop's, unchanged.

Product ``i`` depends only on the seed and ``i``, as in the easy catalogue. Products carry two
fields more than the easy ones: ``decoy`` (whether it is an accessory) and ``in_stock`` ({option
type: {value: bool}}: about one listed value in five is out of stock, never every value of an
option type; the shop lists them but will not sell them). Goals are never decoys and ask only
for values their product has in stock, so buying a goal's own product with its options always
scores 1.
"""

from __future__ import annotations

import functools
import json
import math
import random
from typing import Any

from archer_envs.core import data_path

HARD_VERSION = 2
DECOY_RATE = 0.35  # products that are accessories of a type, not the type
OUT_OF_STOCK_RATE = 0.2  # listed option values out of stock (but never all of an option type's)
TYPO_RATE = 0.3  # goals with one misspelt word
ATTRIBUTE_PARAPHRASE_RATE = 0.95  # attributes written another way, where there is one
OPTION_PARAPHRASE_RATE = 0.95  # option values written another way ("xl"), where there is one
_REQUESTS = (
    "i need {type} that is {attributes}{options}{price}",
    "looking for {type}, {attributes}{options}{price}",
    "{attributes} {type}{options}{price}",
    "i want {type} {attributes}{options}{price}",
    "get me {type}. must be {attributes}{options}{price}",
    "hi, i'm after {type} - {attributes}{options}{price}",
    "{type} please, {attributes}{options}{price}",
)
_OPTION_JOINS = (" in {v}", ", {v}", " {v}", " - {v}", ", {k} {v}")


@functools.cache
def hard_vocabulary() -> dict[str, Any]:
    """The hard catalogue's additions to the vocabulary (data/webshop/hard_vocabulary.json)."""
    return json.loads(data_path("webshop", "hard_vocabulary.json").read_text())


@functools.cache
def attribute_paraphrases() -> dict[str, list[str]]:
    """The ways a shopper writes each attribute: vocabulary.json's and the hard vocabulary's."""
    from archer_envs.webshop.catalog import vocabulary

    merged = {name: list(forms) for name, forms in vocabulary()["paraphrases"].items()}
    for name, forms in hard_vocabulary()["attribute_paraphrases"].items():
        merged[name] = merged.get(name, []) + [f for f in forms if f not in merged.get(name, [])]
    return merged


def type_options(category: dict, type_name: str, option_set: list[str]) -> dict[str, list[str]]:
    """The option values a product type can have in the hard catalogue: the type's own list
    where the vocabulary gives one, else its category's."""
    own = hard_vocabulary()["option_values"].get(type_name, {})
    return {kind: own.get(kind, category["options"][kind]) for kind in option_set}


def generate_hard_product(seed: int, index: int) -> dict[str, Any]:
    """Product ``index`` of the hard catalogue generated from ``seed``."""
    from archer_envs.webshop.catalog import _asin, _product_types, _title_case, vocabulary

    rng = random.Random(f"hard:{seed}:{index}")
    category_name, (type_name, path, low, high, option_set, own) = rng.choice(_product_types())
    category = vocabulary()["categories"][category_name]
    hard = hard_vocabulary()
    brand = rng.choice(category["brands"])
    adjective = rng.choice(category["adjectives"])
    generic = hard["generic_attributes"][category_name]
    decoy = rng.random() < DECOY_RATE
    attributes = rng.sample(own, rng.randint(1, len(own)))
    attributes += rng.sample(generic, rng.randint(1, 2))
    noise = rng.sample(hard["decoy_noise"] if decoy else hard["title_noise"], rng.randint(2, 3))
    model = f"{rng.choice('ABCDEFGHKMNPRSTVXZ')}{rng.randint(10, 999)}"
    if decoy:
        noun = rng.choice(hard["decoys"])
        head = f"{brand} {noun} for {type_name}"
        attributes = rng.sample(generic, rng.randint(1, 2))  # an accessory's own
        query, path = f"{type_name} {noun}", f"Accessories › {_title_case(noun)}s"
        options = {"color": rng.sample(["black", "white", "grey", "blue"], 2)}
        low, high = max(5, low // 4), max(12, high // 3)
    else:
        head = f"{brand} {model} {adjective} {type_name}"
        query = type_name
        options = {}
        for kind, values in type_options(category, type_name, option_set).items():
            # near-duplicates stock different runs of the same list: neighbouring values
            count = rng.randint(2, min(3, len(values)))
            start = rng.randint(0, len(values) - count)
            options[kind] = values[start : start + count]
    in_title = attributes[:1] if rng.random() < 0.6 and not decoy else []
    # the description names some of the attributes (the search index sees it), the bullet points
    # all of them (it does not)
    described = rng.sample(attributes, rng.randint(0, len(attributes)))
    title = ", ".join([_title_case(head)] + [_title_case(a) for a in in_title] + noise)
    price = math.floor(rng.uniform(low, high)) + 0.99
    # the search index sees the first bullet only: the attributes come after it
    bullets = [
        f"{text.upper()}: {rng.choice(_BULLETS).format(type=type_name, brand=brand)}"
        for text in [f"{brand} quality", *rng.sample(attributes, len(attributes))]
    ]
    if decoy:  # an accessory's description names its product's attributes: it is found by them
        # and, stuffed for search, the words shoppers use for them
        wording = attribute_paraphrases()
        said = [rng.choice(wording.get(a, [a])) for a in own + rng.sample(generic, 2)]
        described = [f"fits every {type_name}, {rng.choice(own)} or not", "for " + ", ".join(said)]
    description = (
        f"{brand} {type_name}. {rng.choice(_BULLETS).format(type=type_name, brand=brand)} "
        + "".join(f"{a.capitalize()}. " for a in described)
        + f"Model {model}."
    )
    reviews = []
    for _ in range(rng.randint(0, 3)):
        score = rng.choice((5, 5, 4, 4, 3, 2, 1))
        reviews.append(
            {
                "title": rng.choice(vocabulary()["review_lines"][str(score)]),
                "score": score,
                "body": f"Works as described, {rng.choice(attributes)}.",
                "author": rng.choice(vocabulary()["reviewers"]),
            }
        )
    rating = round(sum(r["score"] for r in reviews) / len(reviews), 1) if reviews else "N.A."
    return {
        "asin": _asin(seed, index),
        "name": title,
        "Title": title,
        "category": category_name,
        "query": query,
        "product_category": f"{category['root']} › {path}",
        "pricing": [price],
        "Price": f"${price:.2f}",
        "options": options,
        "Attributes": attributes,
        "BulletPoints": bullets,
        "Description": description,
        "Reviews": reviews,
        "Rating": rating,
        "instruction_text": None,
        "instruction_attributes": attributes,
        "decoy": decoy,
        "in_stock": _stock(seed, index, options),
    }


def _stock(seed: int, index: int, options: dict[str, list[str]]) -> dict[str, dict[str, bool]]:
    """Which listed values of each option type are in stock: each is out of stock with chance
    ``OUT_OF_STOCK_RATE``, and one at least stays in. Drawn by a generator of its own, so the
    rest of the product is as it was before stock existed."""
    rng = random.Random(f"hard-stock:{seed}:{index}")
    stock = {}
    for kind, values in options.items():
        available = [rng.random() >= OUT_OF_STOCK_RATE for _ in values]
        if not any(available):
            available[rng.randrange(len(values))] = True
        stock[kind] = dict(zip(values, available, strict=True))
    return stock


_BULLETS = (
    "made to last and backed by our 30-day money back guarantee.",
    "the {type} our customers keep coming back for.",
    "{brand} tests every unit before it ships.",
    "great for home, office or travel.",
    "please check the size chart and options before you order.",
)


def _typo(rng: random.Random, text: str) -> str:
    """The text with two neighbouring letters of one longer word swapped."""
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not long_words:
        return text
    i = rng.choice(long_words)
    j = rng.randrange(1, len(words[i]) - 2)
    w = words[i]
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def hard_goal(catalog, index: int) -> dict[str, Any]:
    """Goal ``index`` of a hard catalogue: a product that is not a decoy, some of its
    attributes (paraphrased where the vocabulary can), one value in stock for each of its
    options (often abbreviated), WebShop's price limit; phrased partially, sometimes with a
    typo."""
    from archer_envs.webshop.catalog import (
        _PRICE_PHRASES,
        NO_PRICE_LIMIT,
        _goal_record,
        _price_limit,
    )

    n = len(catalog)
    multiplier = next(m for m in range(1_000_003, 10**8, 2) if math.gcd(m, n) == 1)
    position = (index * multiplier + catalog.seed * 7_919) % n
    product = catalog.product(position)
    for step in range(1, n):  # the next product that is not a decoy
        if not product.get("decoy"):
            break
        product = catalog.product((position + step) % n)
    rng = random.Random(f"hard-goal:{catalog.seed}:{index}")
    hard = hard_vocabulary()
    have = product["Attributes"]
    attributes = rng.sample(have, min(len(have), rng.randint(2, 3)))
    options = {
        kind: rng.choice([v for v in values if product["in_stock"][kind][v]])
        for kind, values in sorted(product["options"].items())
    }
    price_upper = _price_limit(rng, product["pricing"][0])
    paraphrases = attribute_paraphrases()
    said = [
        rng.choice(paraphrases[a])
        if a in paraphrases and rng.random() < ATTRIBUTE_PARAPHRASE_RATE
        else a
        for a in attributes
    ]
    option_text = ""
    for kind, value in options.items():
        words = hard["option_paraphrases"].get(value)
        shown = rng.choice(words) if words and rng.random() < OPTION_PARAPHRASE_RATE else value
        option_text += rng.choice(_OPTION_JOINS).format(k=kind, v=shown)
    type_words = hard["type_paraphrases"].get(product["query"])
    type_text = rng.choice(type_words) if type_words and rng.random() < 0.5 else product["query"]
    price_text = (
        "" if price_upper == NO_PRICE_LIMIT else rng.choice(_PRICE_PHRASES).format(p=price_upper)
    )
    text = rng.choice(_REQUESTS).format(
        type=type_text, attributes=" and ".join(said), options=option_text, price=price_text
    )
    if rng.random() < TYPO_RATE:
        text = _typo(rng, text)
    return _goal_record(product, text, attributes, options, price_upper)
