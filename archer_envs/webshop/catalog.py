"""The WebShop catalogue: products in WebShop's JSON schema and the synthetic goals built on them.

Products are generated deterministically from a seed by the project's own code, from the
vocabulary in data/webshop/vocabulary.json (5 categories, 116 product types, their attributes,
options and price ranges). Product ``i`` depends only on the seed and ``i``, so a small catalogue
is a prefix of a large one. The default catalogue (10,000 products) is built on first use and
cached as JSON in the user cache directory, keyed by seed, size and generator version; a corrupted
cache file is rebuilt. ``webshop_catalog`` loads the original WebShop files instead.

Each product is a dict in the schema WebShop's ``load_products`` produces: ``asin``, ``name`` /
``Title``, ``category``, ``query``, ``product_category`` (a "›"-separated path), ``pricing`` (a list
of floats), ``Price`` (its text), ``options`` ({option type: [values]}), ``Attributes``,
``BulletPoints``, ``Description``, ``Reviews``, ``Rating``, ``instruction_text`` and
``instruction_attributes``. Products of the hard catalogue carry two fields more (see
archer_envs.webshop.hard): ``decoy`` and ``in_stock`` ({option type: {value: bool}}); every listed
value of the other products is in stock (``in_stock(product, kind, value)``).

Goals follow WebShop's synthetic goals: a product, some of its attributes, one value for each of
its option types and a price limit, phrased as a shopping request. Their order is fixed, and the
splits are those of WebShop's baseline code: goals 0-499 test, 500-1499 dev, the rest train.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import random
import re
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from archer_envs.core import data_path
from archer_envs.oracles.cache import default_cache_path

CATALOG_VERSION = 3
DEFAULT_NUM_PRODUCTS = 10_000
FULL_NUM_PRODUCTS = 1_181_436  # the size of the original WebShop catalogue
DIFFICULTIES = ("easy", "hard")  # easy: the clean catalogue; hard: archer_envs.webshop.hard
SPLITS = {"test": (0, 500), "dev": (500, 1500), "train": (1500, None)}
# WebShop's price limits: multiples of ten above the product's price
PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_PRICE_LIMIT = 1_000_000.0
GOAL_SHUFFLE_SEED = 233  # WebShop shuffles its goals with this seed

_BULLET_TEMPLATES = (
    "{A}: designed to be {a}, so it fits right into your routine.",
    "{A} - our {type} is tested for quality and made to last.",
    "{A}: a {adj} choice for everyday use at home or on the go.",
    "Why you will love it: {a}, {b} and backed by our satisfaction guarantee.",
    "{A}. {brand} stands behind every {type} it makes.",
)
_DESCRIPTION_TEMPLATES = (
    "The {brand} {type} is {a} and {b}. {Adj} by design, it is made for people who want "
    "something that simply works.",
    "Meet the {adj} {type} from {brand}: {a}, {b}, and ready when you are.",
    "{brand} makes this {type} {a} and {b}. Order today and see the difference.",
)
_OPTION_PHRASES = {
    "color": ("in {v}", "in the color {v}", "{v} colored", "color: {v}"),
    "size": ("in size {v}", "size {v}", "in {v}", "{v} size"),
    "shoe size": ("in size {v}", "shoe size {v}", "size {v}"),
    "flavor name": ("{v} flavor", "with {v} flavor", "flavor: {v}", "in {v}"),
    "scent": ("{v} scent", "with a {v} scent", "scent: {v}"),
    "item package quantity": ("pack of {v}", "{v} pack", "quantity {v}"),
}
_REQUEST_TEMPLATES = (
    "i need {article} {attributes} {type}{options}{price}",
    "i am looking for {article} {type} that is {attributes}{options}{price}",
    "i want to buy {article} {type} which is {attributes}{options}{price}",
    "find me {article} {attributes} {type}{options}{price}",
    "can you get me {article} {type}? it should be {attributes}{options}{price}",
    "i'd like {article} {attributes} {type}{options}{price}",
    "looking for {article} {type}, {attributes}{options}{price}",
    "please help me find {article} {attributes} {type}{options}{price}",
    "show me {article} {type} that's {attributes}{options}{price}",
    "i'm shopping for {article} {attributes} {type}{options}{price}",
)
_PRICE_PHRASES = (
    ", and price lower than {p:.2f} dollars",
    ", price lower than {p:.2f} dollars",
    ", under {p:.2f} dollars",
    ", and it should cost less than {p:.2f} dollars",
    ". my budget is {p:.2f} dollars",
)


@functools.cache
def vocabulary() -> dict[str, Any]:
    """The generator's vocabulary (data/webshop/vocabulary.json)."""
    return json.loads(data_path("webshop", "vocabulary.json").read_text())


@functools.cache
def _product_types() -> tuple[tuple[str, list], ...]:
    """(category, type entry) for every product type, in vocabulary order."""
    return tuple(
        (name, entry)
        for name, category in vocabulary()["categories"].items()
        for entry in category["types"]
    )


def _asin(seed: int, index: int) -> str:
    """A unique ten-character ASIN-like id: a seeded bijection of the index onto base-36."""
    space = 36**8
    # an odd multiplier that 3 does not divide: a bijection of the indices onto base-36
    number = (index * 2_654_435_761 + seed * 97_531 + 1_234_567_891) % space
    digits = []
    for _ in range(8):
        number, digit = divmod(number, 36)
        digits.append("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit])
    return "B0" + "".join(reversed(digits))


def _title_case(text: str) -> str:
    return " ".join(w if w[:1].isdigit() else w[:1].upper() + w[1:] for w in text.split())


def generate_product(seed: int, index: int) -> dict[str, Any]:
    """Product ``index`` of the catalogue generated from ``seed`` (it depends on nothing else)."""
    rng = random.Random(seed * 4_294_967_296 + index)
    category_name, (type_name, path, low, high, option_sets, type_attributes) = rng.choice(
        _product_types()
    )
    category = vocabulary()["categories"][category_name]
    brand = rng.choice(category["brands"])
    adjective = rng.choice(category["adjectives"])
    attributes = rng.sample(type_attributes, rng.randint(1, min(2, len(type_attributes))))
    attributes += [a for a in rng.sample(category["attributes"], 4) if a not in attributes][
        : rng.randint(2, 4)
    ]
    in_title = attributes[: rng.randint(1, 2)]
    title = (
        _title_case(f"{brand} {adjective} {type_name}")
        + ", "
        + ", ".join(_title_case(a) for a in in_title)
    )
    options: dict[str, list[str]] = {}
    for option_type in option_sets:
        values = category["options"][option_type]
        chosen = set(rng.sample(range(len(values)), rng.randint(2, min(6, len(values)))))
        options[option_type] = [v for i, v in enumerate(values) if i in chosen]
    price = math.floor(rng.uniform(low, high)) + 0.99
    words = {
        "brand": brand,
        "type": type_name,
        "adj": adjective,
        "Adj": adjective.capitalize(),
        "a": attributes[0],
        "b": attributes[-1],
    }
    bullets = []
    for attribute, template in zip(
        attributes, rng.sample(_BULLET_TEMPLATES, len(_BULLET_TEMPLATES)), strict=False
    ):
        bullets.append(template.format(A=attribute.upper(), **{**words, "a": attribute}))
    reviews = []
    for _ in range(rng.randint(0, 3)):
        score = rng.choice((5, 5, 5, 4, 4, 3, 2, 1))
        reviews.append(
            {
                "title": rng.choice(vocabulary()["review_lines"][str(score)]),
                "score": score,
                "body": f"I bought the {type_name} {rng.choice(('for myself', 'as a gift'))}. "
                f"It is {rng.choice(attributes)} as described.",
                "author": rng.choice(vocabulary()["reviewers"]),
            }
        )
    rating = round(sum(r["score"] for r in reviews) / len(reviews), 1) if reviews else "N.A."
    return {
        "asin": _asin(seed, index),
        "name": title,
        "Title": title,
        "category": category_name,
        "query": type_name,
        "product_category": f"{category['root']} › {path}",
        "pricing": [price],
        "Price": f"${price:.2f}",
        "options": options,
        "Attributes": attributes,
        "BulletPoints": bullets,
        "Description": rng.choice(_DESCRIPTION_TEMPLATES).format(**words),
        "Reviews": reviews,
        "Rating": rating,
        "instruction_text": None,
        "instruction_attributes": attributes,
    }


def _price_limit(rng: random.Random, price: float) -> float:
    """WebShop's rule: the larger of two of the four price steps just above the price."""
    steps = [p for p in PRICE_RANGE if p > price][:4]
    if len(steps) < 2:
        return NO_PRICE_LIMIT
    return max(rng.sample(steps, 2))


def _phrase_goal(rng: random.Random, product: dict, attributes: list[str], options: dict) -> str:
    type_name = product["query"]
    option_parts = [
        rng.choice(_OPTION_PHRASES.get(kind, ("{k}: {v}",))).format(k=kind, v=value)
        for kind, value in options.items()
    ]
    option_text = (", " if rng.random() < 0.5 else " ") + " and ".join(option_parts)
    # people rarely use the catalogue's own words: half the attributes are paraphrased
    paraphrases = vocabulary()["paraphrases"]
    attributes = [
        rng.choice(paraphrases[a]) if a in paraphrases and rng.random() < 0.5 else a
        for a in attributes
    ]
    attribute_text = (
        " and ".join(attributes)
        if len(attributes) < 3
        else (", ".join(attributes[:-1]) + " and " + attributes[-1])
    )
    return rng.choice(_REQUEST_TEMPLATES).format(
        article="some" if type_name.endswith("s") else "an" if type_name[0] in "aeiou" else "a",
        attributes=attribute_text,
        type=type_name,
        options=option_text,
        price="{price}",
    )


def in_stock(product: dict[str, Any], kind: str, value: str) -> bool:
    """Whether a listed value of one of the product's option types can be bought."""
    return product.get("in_stock", {}).get(kind, {}).get(value, True)


def _pack(product: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(product, separators=(",", ":")).encode(), 1)


class Catalog:
    """Products (kept as compressed JSON, decoded on access) and goals.

    ``Catalog.generated(num_products, seed)`` builds (or loads from cache) a generated catalogue;
    ``webshop_catalog(items_path, attributes_path)`` loads the original WebShop files.
    """

    def __init__(
        self,
        rows: list[bytes],
        goals: list[dict] | None,
        seed: int,
        difficulty: str = "hard",
    ):
        if not rows:
            raise ValueError("a catalogue needs at least one product")
        self._rows = rows
        self._fixed_goals = goals
        self.seed = seed
        self.difficulty = difficulty
        self._asins: dict[str, int] | None = None
        self.product = functools.lru_cache(maxsize=4096)(self._decode)
        self.goal = functools.lru_cache(maxsize=4096)(self._goal)

    # --- building ------------------------------------------------------------------------------
    @classmethod
    def generated(
        cls,
        num_products: int = DEFAULT_NUM_PRODUCTS,
        seed: int = 0,
        cache: bool = True,
        progress: bool = True,
        difficulty: str = "hard",
    ) -> Catalog:
        """The catalogue of ``num_products`` products generated from ``seed`` at ``difficulty``
        ("easy" or "hard"): read from the cache file if it holds a valid copy, else generated
        (and cached when ``cache``)."""
        if not isinstance(num_products, int) or num_products < 1:
            raise ValueError(f"num_products must be a positive int, got {num_products!r}")
        check_difficulty(difficulty)
        generate = _generator(difficulty)
        path = cache_file(num_products, seed, difficulty)
        if cache and path.exists():
            rows = _read_cache(path, num_products, seed, difficulty)
            if rows is not None:
                return cls(rows, None, seed, difficulty)
        rows = [
            _pack(generate(seed, i))
            for i in tqdm(
                range(num_products),
                desc="generating WebShop catalogue",
                disable=not progress or num_products < 50_000,
            )
        ]
        if cache:
            try:
                _write_cache(path, rows, num_products, seed, difficulty)
            except OSError as error:  # a read-only home: work without the cache
                warnings.warn(
                    f"cannot cache the WebShop catalogue at {path}: {error}", stacklevel=2
                )
        return cls(rows, None, seed, difficulty)

    # --- products ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def _decode(self, index: int) -> dict[str, Any]:
        return json.loads(zlib.decompress(self._rows[index]))

    def index_of(self, asin: str) -> int | None:
        """The index of the product with this ASIN (case-insensitive), or None."""
        if self._asins is None:
            self._asins = {self._decode(i)["asin"].upper(): i for i in range(len(self._rows))}
        return self._asins.get(asin.strip().upper())

    def search_texts(self) -> Iterator[str]:
        """What the search index sees of each product, as WebShop's index: title, description,
        first bullet point and option values."""
        for index in range(len(self._rows)):
            product = self._decode(index)
            bullets = product["BulletPoints"] or [""]
            values = " ".join(v for vs in product["options"].values() for v in vs)
            yield f"{product['Title']} {product['Description']} {bullets[0]} {values}"

    # --- goals ---------------------------------------------------------------------------------
    @property
    def num_goals(self) -> int:
        return len(self._fixed_goals) if self._fixed_goals is not None else len(self._rows)

    def split(self, name: str) -> range:
        """Goal indices of a split: "test" (0-499), "dev" (500-1499) or "train" (the rest)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {name!r}")
        start, stop = SPLITS[name]
        stop = self.num_goals if stop is None else min(stop, self.num_goals)
        return range(min(start, stop), stop)

    def _goal(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.num_goals:
            raise ValueError(f"goal_index must be in [0, {self.num_goals}), got {index!r}")
        if self._fixed_goals is not None:
            return self._fixed_goals[index]
        if self.difficulty == "hard":
            from archer_envs.webshop.hard import hard_goal

            return hard_goal(self, index)
        # goals visit the products in a seeded order: a bijection i -> (a i + b) mod n
        n = len(self._rows)
        multiplier = next(m for m in itertools.count(1_000_003, 2) if math.gcd(m, n) == 1)
        product = self.product((index * multiplier + self.seed * 7_919) % n)
        rng = random.Random(f"goal:{self.seed}:{index}")
        have = product["Attributes"]
        attributes = rng.sample(have, rng.randint(1, min(3, len(have))))
        options = {kind: rng.choice(values) for kind, values in sorted(product["options"].items())}
        price_upper = _price_limit(rng, product["pricing"][0])
        text = _phrase_goal(rng, product, attributes, options)
        price_text = (
            ""
            if price_upper == NO_PRICE_LIMIT
            else rng.choice(_PRICE_PHRASES).format(p=price_upper)
        )
        text = text.format(price=price_text)
        return _goal_record(product, text, attributes, options, price_upper)


def _goal_record(product, text, attributes, options, price_upper) -> dict[str, Any]:
    return {
        "asin": product["asin"],
        "category": product["category"],
        "query": product["query"],
        "name": product["name"],
        "product_category": product["product_category"],
        "instruction_text": text,
        "attributes": list(attributes),
        "goal_options": dict(options),
        "price_upper": price_upper,
    }


# --- the cache -----------------------------------------------------------------------------------
def check_difficulty(difficulty: str) -> None:
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")


def _generator(difficulty: str):
    """The function that makes product ``i`` of a seed's catalogue at this difficulty."""
    if difficulty == "hard":
        from archer_envs.webshop.hard import generate_hard_product

        return generate_hard_product
    return generate_product


def _version(difficulty: str) -> int:
    if difficulty == "hard":
        from archer_envs.webshop.hard import HARD_VERSION

        return HARD_VERSION
    return CATALOG_VERSION


def cache_file(num_products: int, seed: int, difficulty: str = "hard") -> Path:
    """Where the generated catalogue of this size, seed and difficulty is cached (the easy
    catalogue keeps its file name from before difficulties existed)."""
    name = "catalog" if difficulty == "easy" else f"catalog-{difficulty}"
    return (
        default_cache_path().parent
        / "webshop"
        / f"{name}-v{_version(difficulty)}-seed{seed}-n{num_products}.json"
    )


def _read_cache(
    path: Path, num_products: int, seed: int, difficulty: str = "hard"
) -> list[bytes] | None:
    try:
        data = json.loads(path.read_text())
        products = data["products"]
        generate = _generator(difficulty)
        fields = set(generate(seed, 0))
        # every product has the generator's fields, and a sample of them is what the generator
        # makes now: a file of an older generator (or another catalogue) is never taken for this
        # one, even where its version was not bumped
        valid = (
            data["version"] == _version(difficulty)
            and data.get("difficulty", "easy") == difficulty
            and data["seed"] == seed
            and len(products) == num_products
            and all(isinstance(p, dict) and set(p) == fields for p in products)
            and all(
                products[i] == generate(seed, i)
                for i in {*range(0, num_products, max(1, num_products // 8)), num_products - 1}
            )
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        warnings.warn(
            f"rebuilding the WebShop catalogue: {path} is unreadable ({error})",
            stacklevel=3,
        )
        return None
    if not valid:
        warnings.warn(f"rebuilding the WebShop catalogue: {path} does not match", stacklevel=3)
        return None
    return [_pack(p) for p in products]


def _write_cache(
    path: Path, rows: list[bytes], num_products: int, seed: int, difficulty: str = "hard"
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.partial")
    header = {"version": _version(difficulty), "seed": seed, "num_products": num_products}
    if difficulty != "easy":  # the easy catalogue's files stay as they were
        header["difficulty"] = difficulty
    header = json.dumps(header)
    with temporary.open("w") as handle:
        handle.write(header[:-1] + ', "products": [\n')
        handle.write(",\n".join(zlib.decompress(row).decode() for row in rows))
        handle.write("\n]}\n")
    temporary.replace(path)  # atomic: a concurrent reader sees the old file or the new one


# --- the original WebShop files ------------------------------------------------------------------
def webshop_catalog(items_path: str | os.PathLike, attributes_path: str | os.PathLike) -> Catalog:
    """The original WebShop catalogue: ``items_shuffle.json`` (a list of scraped products) and
    ``items_ins_v2.json`` ({asin: {"attributes", "instruction", "instruction_attributes"}}),
    converted as WebShop's ``load_products`` does. Goals are WebShop's synthetic goals: for each
    product with an instruction, one seeded choice of its options, shuffled with seed 233."""
    try:
        items = json.loads(Path(items_path).read_text())
        annotations = json.loads(Path(attributes_path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the WebShop files: {error}") from error
    if not isinstance(items, list) or not isinstance(annotations, dict):
        raise ValueError(
            "items_shuffle.json must hold a list of products and items_ins_v2.json a dict by ASIN"
        )
    rows, goals, seen = [], [], set()
    rng = random.Random(GOAL_SHUFFLE_SEED)
    for item in items:
        asin = str(item.get("asin", ""))
        if asin in ("", "nan") or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        product = _convert_webshop_item(item, annotations.get(asin, {}))
        rows.append(_pack(product))
        if product["instruction_text"] and product["instruction_attributes"]:
            options = {k: rng.choice(v) for k, v in sorted(product["options"].items()) if v}
            option_text = ", and ".join(f"{k}: {v}" for k, v in options.items())
            price_upper = _price_limit(rng, product["pricing"][0])
            price_text = ""
            if price_upper != NO_PRICE_LIMIT:
                price_text = f", and price lower than {price_upper:.2f} dollars"
            text = product["instruction_text"] + (f" with {option_text}" if option_text else "")
            goals.append(
                _goal_record(
                    product,
                    text + price_text,
                    product["instruction_attributes"],
                    options,
                    price_upper,
                )
            )
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    if not goals:
        raise ValueError("no product in these files has an instruction, so there are no goals")
    return Catalog(rows, goals, seed=GOAL_SHUFFLE_SEED)


def _convert_webshop_item(item: dict[str, Any], annotation: dict[str, Any]) -> dict[str, Any]:
    pricing_text = item.get("pricing") or ""
    pricing = [float(re.sub(r"[^\d.]", "", p) or 100.0) for p in pricing_text.split("$")[1:]][:2]
    pricing = pricing or [100.0]
    price = f"${pricing[0]}" if len(pricing) == 1 else f"${pricing[0]} to ${pricing[1]}"
    options = {}
    for name, contents in (item.get("customization_options") or {}).items():
        if contents:
            options[name.lower()] = [
                c["value"].strip().replace("/", " | ").lower() for c in contents if "value" in c
            ]
    bullets = item.get("small_description") or []
    return {
        "asin": item["asin"],
        "name": item.get("name", ""),
        "Title": item.get("name", ""),
        "category": item.get("category", ""),
        "query": (item.get("query") or "").lower().strip(),
        "product_category": item.get("product_category", ""),
        "pricing": pricing,
        "Price": price,
        "options": options,
        "Attributes": annotation.get("attributes") or ["DUMMY_ATTR"],
        "BulletPoints": bullets if isinstance(bullets, list) else [bullets],
        "Description": item.get("full_description") or "",
        "Reviews": [],
        "Rating": "N.A.",
        "instruction_text": annotation.get("instruction"),
        "instruction_attributes": annotation.get("instruction_attributes") or [],
    }


@functools.cache
def load_catalog(
    catalog_path: str | None = None,
    num_products: int = DEFAULT_NUM_PRODUCTS,
    seed: int = 0,
    difficulty: str = "hard",
) -> Catalog:
    """The catalogue an env uses, shared by every env of the process: the generated one (at
    ``difficulty``), or with ``catalog_path`` a folder holding WebShop's items_shuffle.json and
    items_ins_v2.json."""
    check_difficulty(difficulty)
    if catalog_path is None:
        return Catalog.generated(num_products, seed, difficulty=difficulty)
    folder = Path(catalog_path)
    items, annotations = folder / "items_shuffle.json", folder / "items_ins_v2.json"
    if not (items.is_file() and annotations.is_file()):
        raise ValueError(
            f"catalog_path must be a folder holding items_shuffle.json and items_ins_v2.json "
            f"(WebShop's data files), got {catalog_path!r}"
        )
    return webshop_catalog(items, annotations)
