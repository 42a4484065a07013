"""WebShop: the catalogue, goals, search, the reward (a hand-worked table) and the text env."""

import json
import random
import subprocess
import sys
from collections import Counter

import gymnasium as gym
import pytest

from archer_envs.agents import load_agent
from archer_envs.datasets import generate_bc_dataset, read_trajectories
from archer_envs.evaluation import evaluate
from archer_envs.webshop.catalog import (
    FULL_NUM_PRODUCTS,
    Catalog,
    cache_file,
    generate_product,
    in_stock,
    load_catalog,
    vocabulary,
)
from archer_envs.webshop.env import INVALID, WebShopEnv, load_shop
from archer_envs.webshop.reward import fuzzy_score, purchase_reward, title_nouns
from archer_envs.webshop.shop import ShopSession

ENV_ID = "archer/WebShop-v0"
SCHEMA = {
    "asin",
    "name",
    "Title",
    "category",
    "query",
    "product_category",
    "pricing",
    "Price",
    "options",
    "Attributes",
    "BulletPoints",
    "Description",
    "Reviews",
    "Rating",
    "instruction_text",
    "instruction_attributes",
}

# --- the reward: a table of hand-worked cases -----------------------------------------------------
SHAMPOO = {
    "asin": "B000000001",
    "name": "Luxe Botanics Natural Shampoo, Sulfate Free, For Dry Hair",
    "Title": "Luxe Botanics Natural Shampoo, Sulfate Free, For Dry Hair",
    "query": "shampoo",
    "product_category": "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos",
    "Attributes": ["sulfate free", "for dry hair", "paraben free"],
    "BulletPoints": ["SULFATE FREE: gentle on your hair.", "Smells of lavender."],
    "Description": "A vegan shampoo for every day.",
    "options": {"size": ["8 fl oz", "16.9 fl oz"], "scent": ["lavender", "rose"]},
    "pricing": [12.99],
}
GOAL = {
    "asin": SHAMPOO["asin"],
    "query": "shampoo",
    "name": SHAMPOO["name"],
    "product_category": SHAMPOO["product_category"],
    "attributes": ["sulfate free", "paraben free"],
    "goal_options": {"size": "16.9 fl oz", "scent": "lavender"},
    "price_upper": 20.0,
}
EARBUDS = {
    **SHAMPOO,
    "name": "Nordic Bloom Wireless Earbuds, Charging Case",
    "Title": "Nordic Bloom Wireless Earbuds, Charging Case",
    "query": "wireless earbuds",
    "product_category": "Electronics › Headphones, Earbuds & Accessories › Earbuds",
}
SOAP = {
    **SHAMPOO,
    "name": "Harvest Table Shampoo Bar Soap",
    "Title": "Harvest Table Shampoo Bar Soap",
    "query": "soap bar",
    "product_category": "Grocery & Gourmet Food › Snacks",
    "Attributes": [],
    "BulletPoints": [],
    "Description": "",
}
RIGHT = {"size": "16.9 fl oz", "scent": "lavender"}
REWARD_TABLE = [
    # (case, product, goal changes, price, chosen options, reward)
    ("exact product, options and price", SHAMPOO, {}, 12.99, RIGHT, 1.0),
    ("one wrong option: (2 + 1 + 1) / 5", SHAMPOO, {}, 12.99, {**RIGHT, "size": "8 fl oz"}, 0.8),
    ("no option chosen: (2 + 0 + 1) / 5", SHAMPOO, {}, 12.99, {}, 0.6),
    ("over budget: (2 + 2 + 0) / 5", SHAMPOO, {}, 25.0, RIGHT, 0.8),
    ("no price limit", SHAMPOO, {"price_upper": 1_000_000.0}, 999.0, RIGHT, 1.0),
    (
        "attribute found in the description, not the list",
        SHAMPOO,
        {"attributes": ["sulfate free", "vegan"]},
        12.99,
        RIGHT,
        1.0,
    ),
    (
        "attribute the product lacks: (1 + 2 + 1) / 5",
        SHAMPOO,
        {"attributes": ["sulfate free", "hair growth"]},
        12.99,
        RIGHT,
        0.8,
    ),
    (
        "an option with extra words: 'size 16.9 fl oz' vs '16.9 fl oz (pack of 1)' scores 80",
        SHAMPOO,
        {},
        12.99,
        {"size": "16.9 fl oz (pack of 1)", "scent": "lavender"},
        0.8,
    ),
    (
        "a value inside another: 'x-large' is not 'size large' (83), 'large' is (100)",
        SHAMPOO,
        {"attributes": ["sulfate free"], "goal_options": {"size": "large"}},
        12.99,
        {"size": "x-large"},
        2 / 3,
    ),
    (
        "the chosen option's type does not matter, only its value",
        SHAMPOO,
        {"attributes": ["sulfate free"], "goal_options": {"size": "large"}},
        12.99,
        {"fit type": "large"},
        1.0,
    ),
    (
        "WebShop's colour normalisation: navy blue and light blue are both blue",
        SHAMPOO,
        {"attributes": ["sulfate free"], "goal_options": {"color": "navy blue"}},
        12.99,
        {"color": "light blue"},
        1.0,
    ),
    ("wrong product type: no noun in common, r_type 0", EARBUDS, {}, 12.99, RIGHT, 0.0),
    (
        "one noun in five, no query or category match: r_type 0.5 x (0 + 0 + 1) / 5",
        SOAP,
        {},
        5.0,
        {},
        0.1,
    ),
]


@pytest.mark.parametrize(
    ("product", "changes", "price", "options", "expected"),
    [row[1:] for row in REWARD_TABLE],
    ids=[row[0] for row in REWARD_TABLE],
)
def test_reward_table(product, changes, price, options, expected):
    reward, parts = purchase_reward(product, {**GOAL, **changes}, price, options)
    assert reward == pytest.approx(expected)
    json.dumps(parts)


def test_type_reward_parts_of_the_table():
    _, parts = purchase_reward(SOAP, GOAL, 5.0, {})
    assert parts["r_type"] == 0.5 and parts["title_score"] == pytest.approx(0.2)
    assert not parts["query_match"] and not parts["category_match"]
    assert title_nouns(GOAL["name"]) == ["luxe", "botanics", "shampoo", "sulfate", "hair"]


@pytest.mark.parametrize(
    ("a", "b", "score"),
    [
        ("Sulfate-Free!", "  sulfate free ", 100),  # lower-cased, punctuation to spaces, stripped
        ("café", "caf", 100),  # thefuzz drops code points 128-255 (force_ascii)
        ("16.9 fl oz", "16.9 fl oz (pack of 1)", 100),  # token set: one side within the other
        ("8 fl oz", "16.9 fl oz", 83),
        # raw ratio 40/47 = 85.1, rounded to 85: not a match (without rounding it would be)
        ("abcdefghijklmnopqrstxyz", "abcdefghijklmnopqrst1234", 85),
        ("", "anything", 0),
    ],
)
def test_fuzzy_score_reproduces_thefuzz(a, b, score):
    assert fuzzy_score(a, b) == score


# --- the catalogue --------------------------------------------------------------------------------
def test_generated_products_have_webshop_schema_and_realistic_variety():
    products = [generate_product(0, i) for i in range(3000)]
    assert all(set(p) == SCHEMA for p in products)
    categories = Counter(p["category"] for p in products)
    assert set(categories) == {"beauty", "food", "fashion", "furniture", "electronics"}
    types = sum(len(c["types"]) for c in vocabulary()["categories"].values())
    assert types >= 100 and len({p["query"] for p in products}) >= 100
    assert len({p["asin"] for p in products}) == 3000
    for p in products:
        assert p["Price"] == f"${p['pricing'][0]:.2f}" and p["pricing"][0] > 0
        assert p["options"] and all(len(v) >= 2 for v in p["options"].values())
        assert 3 <= len(p["Attributes"]) <= 6 and p["BulletPoints"]
        assert p["product_category"].count("›") >= 2
    option_types = {kind for p in products for kind in p["options"]}
    assert {"color", "size", "flavor name", "scent", "item package quantity"} <= option_types


def test_product_depends_only_on_seed_and_index():
    assert generate_product(0, 123) == generate_product(0, 123)
    assert generate_product(0, 123) != generate_product(1, 123)
    # the asin bijection stays unique at the size of the original catalogue
    tail = {
        generate_product(0, i)["asin"] for i in range(FULL_NUM_PRODUCTS - 500, FULL_NUM_PRODUCTS)
    }
    assert len(tail) == 500


def test_catalogue_is_cached_and_a_corrupted_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHER_GYM_CACHE_DIR", str(tmp_path))
    first = Catalog.generated(200, seed=5, progress=False)
    path = cache_file(200, 5)
    assert path.is_file() and path.is_relative_to(tmp_path)
    assert json.loads(path.read_text())["products"][7] == first.product(7)
    path.write_text('{"version": 1, "seed": 5, "products": [{"asin"')  # cut short
    with pytest.warns(UserWarning, match="rebuilding"):
        again = Catalog.generated(200, seed=5, progress=False)
    assert [again.product(i) for i in range(200)] == [first.product(i) for i in range(200)]
    assert json.loads(path.read_text())["num_products"] == 200  # rewritten whole
    path.write_text(path.read_text().replace('"seed": 5', '"seed": 6', 1))  # another catalogue's
    with pytest.warns(UserWarning, match="does not match"):
        Catalog.generated(200, seed=5, progress=False)
    assert "-v2-" in path.name  # the generator of stock: files of version 1 are not read
    data = json.loads(path.read_text())
    for product in data["products"]:  # a file of the generator before stock, under this name
        del product["in_stock"]
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="does not match"):
        again = Catalog.generated(200, seed=5, progress=False)
    assert again.product(7) == first.product(7) and "in_stock" in again.product(7)
    data = json.loads(path.read_text())
    for values in data["products"][0]["in_stock"].values():  # other stock, the same fields
        for value in values:
            values[value] = not values[value]
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="does not match"):
        assert Catalog.generated(200, seed=5, progress=False).product(0) == first.product(0)
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("ARCHER_GYM_CACHE_DIR", str(blocked))  # a file where the folder goes
    with pytest.warns(UserWarning, match="cannot cache"):
        assert len(Catalog.generated(20, seed=5, progress=False)) == 20


def test_goals_have_fixed_splits_and_name_the_products_options():
    catalog, _ = load_shop(None, 10_000, 0, difficulty="easy")  # goals in the products' words
    assert catalog.split("test") == range(0, 500)
    assert catalog.split("dev") == range(500, 1500)
    assert catalog.split("train") == range(1500, 10_000)
    phrasings = set()
    for index in range(300):
        goal = catalog.goal(index)
        product = catalog.product(catalog.index_of(goal["asin"]))
        assert set(goal["attributes"]) <= set(product["Attributes"])
        assert set(goal["goal_options"]) == set(product["options"])
        for kind, value in goal["goal_options"].items():
            assert value in product["options"][kind] and value in goal["instruction_text"]
        assert goal["price_upper"] > product["pricing"][0]
        phrasings.add(goal["instruction_text"].split(" ")[0])
        reward, _ = purchase_reward(product, goal, product["pricing"][0], goal["goal_options"])
        assert reward == 1.0  # the goal's own product with its options is a perfect purchase
    assert len(phrasings) >= 6
    with pytest.raises(ValueError, match="split must be"):
        catalog.split("validation")


def test_search_is_deterministic_paged_and_finds_products():
    catalog, engine = load_shop(None, 10_000, 0, difficulty="easy")  # typed queries, clean titles
    found = 0
    for index in range(100):
        goal = catalog.goal(index)
        results = engine.search(goal["instruction_text"])
        assert results == engine.search(goal["instruction_text"])
        assert len(results) == len(set(results)) <= 50
        found += catalog.index_of(goal["asin"]) in results
        title = catalog.product(catalog.index_of(goal["asin"]))["Title"]
        assert catalog.index_of(goal["asin"]) in engine.search(title)[:10]
    assert found >= 60
    first, total = engine.page("running shoes", 1, 10)
    second, _ = engine.page("running shoes", 2, 10)
    assert total == 50 and first + second == engine.search("running shoes")[:20]
    assert all(catalog.product(i)["query"] == "running shoes" for i in first)
    assert engine.search("zzzz qqqq") == [] and engine.search("") == []


def test_original_webshop_files_load(tmp_path):
    items = [
        {
            "asin": "B01ABCDEF1",
            "name": "Acme Cotton T-Shirt for Men",
            "category": "fashion",
            "query": "t shirt men",
            "product_category": "Clothing, Shoes & Jewelry › Men › Clothing › Shirts",
            "full_description": "A soft cotton tee.",
            "small_description": ["Machine wash", "100% cotton"],
            "pricing": "$12.50$19.99",
            "customization_options": {
                "Color": [{"value": "Navy/White", "image": None}, {"value": "Black"}],
                "Size": [{"value": "Large"}, {"value": "Small"}],
            },
        },
        {"asin": "nan", "name": "skipped"},
        {
            "asin": "B01ABCDEF2",
            "name": "Acme Mug",
            "category": "furniture",
            "query": "mug",
            "product_category": "Home & Kitchen › Kitchen",
            "full_description": "",
            "small_description": "Dishwasher safe",
            "pricing": "",
            "customization_options": None,
        },
    ]
    annotations = {
        "B01ABCDEF1": {
            "attributes": ["machine wash", "cotton"],
            "instruction": "i need a machine wash cotton t-shirt",
            "instruction_attributes": ["machine wash"],
        }
    }
    (tmp_path / "items_shuffle.json").write_text(json.dumps(items))
    (tmp_path / "items_ins_v2.json").write_text(json.dumps(annotations))
    catalog = load_catalog(str(tmp_path))
    assert len(catalog) == 2 and catalog.num_goals == 1
    shirt = catalog.product(catalog.index_of("b01abcdef1"))
    assert shirt["pricing"] == [12.5, 19.99] and shirt["Price"] == "$12.5 to $19.99"
    assert shirt["options"] == {"color": ["navy | white", "black"], "size": ["large", "small"]}
    mug = catalog.product(1)
    assert mug["Attributes"] == ["DUMMY_ATTR"] and mug["BulletPoints"] == ["Dishwasher safe"]
    goal = catalog.goal(0)
    assert goal["instruction_text"].startswith("i need a machine wash cotton t-shirt with ")
    assert goal["price_upper"] in (30.0, 40.0, 50.0)
    env = gym.make(ENV_ID, catalog_path=str(tmp_path), split="test")
    observation, _ = env.reset(seed=0)
    assert observation.endswith(f"Instruction: {goal['instruction_text']}\n")
    with pytest.raises(ValueError, match=r"items_shuffle\.json"):
        load_catalog(str(tmp_path / "missing"))


# --- the text env ---------------------------------------------------------------------------------
def test_think_invalid_actions_and_the_step_cap():
    env = gym.make(ENV_ID)
    observation, info = env.reset(options={"goal_index": 2017})
    instruction = env.unwrapped.catalog.goal(2017)["instruction_text"]
    assert observation == f"Observation:\n[Search]\n\nInstruction: {instruction}\n"
    observation, reward, terminated, _, info = env.step("think[I should search first]")
    assert "Action: think[I should search first]\nObservation:\nOK.\n" in observation
    assert reward == 0.0 and not terminated and info["valid"]
    observation, reward, _, _, info = env.step("click[Buy Now]")  # not on the search page
    assert observation.endswith(f"Observation:\n{INVALID}\n\nInstruction: {instruction}\n")
    assert reward == 0.0 and not info["valid"]
    assert info["available_actions"] == {"has_search_bar": True, "clickables": []}
    observation, _, _, _, info = env.step("search[wireless earbuds]")
    clickables = info["available_actions"]["clickables"]
    assert clickables[0] == "back to search" and len(clickables) == 4  # the top three results
    assert "[Next >]" not in observation and "Page 1 (Total results: " in observation
    assert env.step("search[again]")[4]["valid"] is False  # no search bar on results
    for _ in range(5):
        _, reward, terminated, truncated, info = env.step("think[...]")
        assert not terminated
    _, reward, terminated, truncated, info = env.step("think[out of steps]")
    assert (reward, terminated, truncated, info["turn"]) == (0.0, True, False, 10)
    assert info["purchased"] is None and info["success"] is False


def test_item_page_options_sub_pages_and_purchase():
    env = gym.make(ENV_ID)
    catalog = env.unwrapped.catalog
    goal = catalog.goal(42)
    env.reset(options={"goal_index": 42})
    product = catalog.product(catalog.index_of(goal["asin"]))
    _, _, _, _, info = env.step(f"search[{product['Title']}]")
    observation, *_ = env.step(f"click[{goal['asin'].lower()}]")  # any case
    page = observation.rpartition("Observation:\n")[2]
    assert page.startswith("[Back to Search]\n[< Prev]\n")
    for kind, values in product["options"].items():
        for value in values:  # every listed value, those out of stock marked so
            mark = "" if in_stock(product, kind, value) else " (out of stock)"
            assert f"\n[{value}]{mark}\n" in page
    assert f"Price: {product['Price']}" in page and "[Buy Now]" in page
    observation, *_ = env.step("click[Features]")
    assert product["BulletPoints"][0] in observation.rpartition("Observation:\n")[2]
    env.step("click[< Prev]")
    for value in goal["goal_options"].values():
        observation, *_ = env.step(f"click[{value}]")
        assert f"[[{value}]]" in observation.rpartition("Observation:\n")[2]
    observation, reward, terminated, _, info = env.step("click[Buy Now]")
    assert terminated and reward == 1.0 and info["success"]
    assert info["target"] == info["purchased"] == goal["asin"]
    assert "Your score (min 0.0, max 1.0): 1.0" in observation


def out_of_stock_goal(catalog):
    """(goal index, the goal's product, an option type of it and a value of that type out of
    stock) of the first goal whose product has a value out of stock."""
    for index in range(catalog.num_goals):
        product = catalog.product(catalog.index_of(catalog.goal(index)["asin"]))
        for kind, values in product["options"].items():
            for value in values:
                if not in_stock(product, kind, value):
                    return index, product, kind, value
    raise AssertionError("no product has a value out of stock")


def test_an_option_out_of_stock_is_shown_choosing_it_says_why_and_selects_nothing():
    env = gym.make(ENV_ID)
    catalog = env.unwrapped.catalog
    index, product, kind, value = out_of_stock_goal(catalog)
    goal = catalog.goal(index)
    env.reset(options={"goal_index": index})
    env.step(f"search[{product['Title']}]")
    observation, *_ = env.step(f"click[{goal['asin']}]")
    assert f"\n[{value}] (out of stock)\n" in observation.rpartition("Observation:\n")[2]
    for wanted in goal["goal_options"].values():
        env.step(f"click[{wanted}]")
    observation, reward, terminated, _, info = env.step(f"click[{value}]")
    page = observation.rpartition("Observation:\n")[2].split("\n\nInstruction: ")[0]
    assert info["valid"] and reward == 0.0 and not terminated  # a page reply, not an error
    assert page.endswith(f"[Buy Now]\nSorry, {value} ({kind}) is out of stock.")
    assert f"[[{value}]]" not in page and f"[[{goal['goal_options'][kind]}]]" in page
    env.step("click[Features]")
    observation, *_ = env.step("click[< Prev]")  # the reply was for that action only
    assert "is out of stock." not in observation.rpartition("Observation:\n")[2]
    _, reward, terminated, _, _ = env.step("click[Buy Now]")
    assert terminated and reward == 1.0  # the goal's own options, still chosen


def test_a_purchase_never_includes_a_value_out_of_stock():
    """Every listed value of many products clicked in a random order, then Buy Now: what is
    bought holds, for each option type, the last value clicked that was in stock."""
    catalog, engine = load_shop(None, 10_000, 0)
    rng = random.Random(0)
    refused = 0
    for index in range(300):
        product = catalog.product(index)
        session = ShopSession(catalog, engine, catalog.goal(0), page="item", asin=product["asin"])
        clicks = [(k, v) for k, values in product["options"].items() for v in values] * 2
        rng.shuffle(clicks)
        last_in_stock = {}
        for kind, value in clicks:
            assert session.act(f"click[{value}]")
            if in_stock(product, kind, value):
                last_in_stock[kind] = value
            else:
                refused += 1
                assert session.notice == f"Sorry, {value} ({kind}) is out of stock."
        assert session.options == last_in_stock
        session.act("click[Buy Now]")
        assert session.page == "done"
        assert all(in_stock(product, k, v) for k, v in session.options.items())
    assert refused > 100


def test_observation_keeps_the_instruction_when_history_is_long():
    env = gym.make(ENV_ID, max_steps=50)
    env.reset(options={"goal_index": 0})
    for _ in range(45):
        observation, *_ = env.step("think[" + "x" * 240 + "]")
    assert len(observation) <= 8192 and env.observation_space.contains(observation)
    assert observation.startswith("Action: think[")  # the oldest steps were dropped
    assert observation.endswith(env.unwrapped.catalog.goal(0)["instruction_text"] + "\n")


def test_env_is_cheap_to_construct_and_rejects_bad_arguments():
    code = (
        "import time, gymnasium as gym, archer_envs\n"
        "start = time.perf_counter(); gym.make('archer/WebShop-v0')\n"
        "from archer_envs.webshop import env\n"
        "print(env.load_shop.cache_info().currsize)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"  # the catalogue is loaded on the first reset, not before
    with pytest.raises(ValueError, match="max_steps"):
        WebShopEnv(max_steps=0)
    with pytest.raises(ValueError, match="split"):
        WebShopEnv(split="validation")
    with pytest.raises(ValueError, match="goal_index must be"):
        gym.make(ENV_ID).reset(options={"goal_index": 10_000})


def test_rule_baseline_beats_random_and_bc_data(tmp_path):
    episodes = [{"goal_index": i} for i in range(40)]
    rule = evaluate(load_agent("rule", ENV_ID), ENV_ID, episodes=episodes, progress=False)
    random = evaluate(
        load_agent("random", ENV_ID, seed=1), ENV_ID, episodes=episodes, progress=False
    )
    assert rule.mean_return > random.mean_return + 0.2
    assert 0.0 < rule.success_rate < 1.0
    assert all(len(r["transitions"]) <= 10 for r in random.records)
    summary = generate_bc_dataset(
        ENV_ID, tmp_path / "bc.jsonl", episodes=12, agent="rule", num_envs=4, progress=False
    )
    records = list(read_trajectories(tmp_path / "bc.jsonl"))
    assert len(records) == summary["episodes"] == 12
    assert records[0]["transitions"][0]["action"].startswith("search[")
    assert all(r["target"] for r in records)


def test_every_option_of_the_vocabulary_matches_itself():
    """WebShop's colour normalisation turns a chosen "standard" into "tan" and "sandalwood"
    into "sand", which then fail to match the goal's own value: the vocabulary avoids such
    values, so that buying the goal's product with the goal's options always scores 1."""
    from archer_envs.webshop.reward import option_matches

    for category in vocabulary()["categories"].values():
        for kind, values in category["options"].items():
            for value in values:
                assert option_matches([value], {kind: value}) == 1, (kind, value)
    assert option_matches(["standard"], {"style": "standard"}) == 0  # the quirk itself
