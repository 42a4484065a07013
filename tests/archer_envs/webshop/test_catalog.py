"""WebShop's catalogue difficulties: "easy" is the catalogue as it was, "hard" the marketplace
(archer_envs.webshop.hard) that separates a careful shopper from WebShop's rule baseline."""

import hashlib
import json
import re

import gymnasium as gym
import pytest

from archer_envs.agents import load_agent
from archer_envs.evaluation import evaluate
from archer_envs.webshop.agents import current_page
from archer_envs.webshop.catalog import Catalog, cache_file, in_stock, vocabulary
from archer_envs.webshop.env import load_shop
from archer_envs.webshop.hard import generate_hard_product, hard_vocabulary, type_options
from archer_envs.webshop.reward import option_matches, purchase_reward
from archer_envs.webshop.shop import ShopSession, page_text

ENV_ID = "archer/WebShop-v0"
# sha256 of products 0-1999 and goals 0-499 of the easy catalogue of seed 0, as they were made
# before difficulties existed (commit 27f0f42): easy must never change
EASY_FINGERPRINT = "5606279bd12c63f3"


def fingerprint(catalog: Catalog, products: int, goals: int) -> str:
    digest = hashlib.sha256()
    for i in range(products):
        digest.update(json.dumps(catalog.product(i), sort_keys=True).encode())
    for i in range(goals):
        digest.update(json.dumps(catalog.goal(i), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def test_easy_is_the_catalogue_as_it_was():
    explicit = Catalog.generated(2000, seed=0, cache=False, difficulty="easy")
    assert fingerprint(explicit, 2000, 500) == EASY_FINGERPRINT
    # old caches still valid
    assert cache_file(10_000, 0, "easy").name == "catalog-v3-seed0-n10000.json"
    assert cache_file(10_000, 0, "hard").name.startswith("catalog-hard-v2-")
    assert not any("in_stock" in explicit.product(i) for i in range(2000))  # all in stock


def test_hard_is_deterministic_per_seed_and_its_goals_are_fair():
    one, two = (Catalog.generated(1500, seed=3, cache=False, difficulty="hard") for _ in "12")
    assert fingerprint(one, 1500, 200) == fingerprint(two, 1500, 200)
    other = Catalog.generated(1500, seed=4, cache=False, difficulty="hard")
    assert fingerprint(other, 1500, 200) != fingerprint(one, 1500, 200)
    assert generate_hard_product(3, 1234) == one.product(1234)  # depends on seed and index only
    decoys = sum(one.product(i)["decoy"] for i in range(1500))
    assert 0.25 < decoys / 1500 < 0.45
    for index in range(200):
        goal = one.goal(index)
        product = one.product(one.index_of(goal["asin"]))
        assert not product["decoy"]
        assert set(goal["attributes"]) <= set(product["Attributes"])
        assert all(goal["goal_options"][k] in product["options"][k] for k in product["options"])
        assert all(product["in_stock"][k][v] for k, v in goal["goal_options"].items())
        assert goal["price_upper"] > product["pricing"][0]
        # buying the goal's product with its options scores 1: the goal is always reachable
        reward, _ = purchase_reward(product, goal, product["pricing"][0], goal["goal_options"])
        assert reward == 1.0


def test_hard_products_have_some_values_out_of_stock_never_all():
    products = [generate_hard_product(0, i) for i in range(3000)]
    listed = out = 0
    for product in products:
        assert product["in_stock"].keys() == product["options"].keys()
        for kind, values in product["options"].items():
            assert list(product["in_stock"][kind]) == values
            assert any(product["in_stock"][kind].values())  # one at least can be bought
            listed += len(values)
            out += sum(not stocked for stocked in product["in_stock"][kind].values())
    assert 0.12 < out / listed < 0.25
    assert generate_hard_product(0, 7)["in_stock"] == products[7]["in_stock"]


def test_every_goal_asks_for_values_its_product_has_in_stock():
    catalog, _ = load_shop(None, 10_000, 0)
    for index in range(catalog.num_goals):
        goal = catalog.goal(index)
        product = catalog.product(catalog.index_of(goal["asin"]))
        assert all(in_stock(product, k, v) for k, v in goal["goal_options"].items()), index


def test_hard_goals_avoid_the_products_own_words():
    catalog = Catalog.generated(1500, seed=0, cache=False, difficulty="hard")
    options_verbatim = type_verbatim = 0
    for index in range(300):
        goal = catalog.goal(index)
        text = goal["instruction_text"]
        options_verbatim += all(v in text for v in goal["goal_options"].values())
        type_verbatim += goal["query"] in text
    assert options_verbatim / 300 < 0.5  # most goals write some option another way ("xl")
    assert 0.3 < type_verbatim / 300 < 0.9  # and many the product type ("thumb drive", typos)


UNIT_FAMILIES = {
    "inch": r"\binch\b|\d+in\b",
    "ft": r"\bft\b",
    "mm": r"\d+mm\b",
    "letter": r"^(x-small|small|medium|large|x-large|xx-large|3x-large)$",
    "bed": r"^(twin|twin xl|full|queen|king|california king)$",
    "tier": r"\btier\b",
}


def test_every_hard_type_has_sensible_options_and_attributes():
    for category in vocabulary()["categories"].values():
        for type_name, _, _, _, option_set, _ in category["types"]:
            for kind, values in type_options(category, type_name, option_set).items():
                families = {
                    name
                    for name, pattern in UNIT_FAMILIES.items()
                    if any(re.search(pattern, v) for v in values)
                }
                # a monitor is not sold in "small" and "10 ft": one family of sizes per type
                assert len(families) <= 1, (type_name, kind, values)
                for value in values:  # and each value scores as itself
                    assert option_matches([value], {kind: value}) == 1, (type_name, kind, value)
    monitors = [generate_hard_product(0, i) for i in range(3000)]
    monitors = [p for p in monitors if p["query"] == "computer monitor"]
    assert monitors
    for product in monitors:
        assert {"water resistant", "noise cancelling"}.isdisjoint(product["Attributes"])
        assert all("inch" in size for size in product["options"]["size"])
    generic = hard_vocabulary()["generic_attributes"]
    assert set(generic) == set(vocabulary()["categories"])


def test_difficulty_is_checked():
    with pytest.raises(ValueError, match="difficulty must be one of"):
        gym.make(ENV_ID, difficulty="medium")
    with pytest.raises(ValueError, match="difficulty must be one of"):
        Catalog.generated(10, difficulty="impossible", cache=False)


def test_the_careful_shopper_beats_the_rule_baseline_on_hard():
    """On the hard catalogue the rule baseline falls to WebShop's level while the careful
    shopper (reads Attributes, knows usual spellings, skips accessories) stays well above."""
    episodes = [{"goal_index": i} for i in range(80)]
    kwargs = {"difficulty": "hard"}
    results = {
        name: evaluate(
            load_agent(name, ENV_ID), ENV_ID, episodes=episodes, env_kwargs=kwargs, progress=False
        )
        for name in ("rule", "careful")
    }
    rule, careful = results["rule"], results["careful"]
    assert rule.mean_return < 0.6 and rule.success_rate < 0.2
    assert careful.mean_return > rule.mean_return + 0.15
    assert careful.success_rate > rule.success_rate + 0.15
    assert all(len(r["transitions"]) <= 10 for r in careful.records)
    # it never clicks a value out of stock, and leaves products where the one it wants is
    catalog = gym.make(ENV_ID).unwrapped.catalog
    left = 0
    for record in careful.records:
        wanted = catalog.goal(record["options"]["goal_index"])["goal_options"].values()
        for transition in record["transitions"]:
            lines, _ = current_page(transition["observation"])
            action = transition["action"]
            assert not any(
                action == f"click[{line[1:].split(']')[0]}]"
                for line in lines
                if line.endswith("] (out of stock)")
            )
            if action == "click[< Prev]" and "[Buy Now]" in lines:
                left += any(f"[{value}] (out of stock)" in lines for value in wanted)
    assert left >= 5


def test_the_rule_baseline_clicks_a_named_value_out_of_stock_once_then_buys():
    """As WebShop's rule baseline: it does not read whether a value is in stock; the click
    selects nothing, and it buys without the value."""
    catalog, engine = load_shop(None, 10_000, 0)
    product, value = next(
        (p, v)
        for p in map(catalog.product, range(100))
        for v in p["options"].get("color", [])
        if not in_stock(p, "color", v)
    )
    instruction = f"i want {product['query']} in {value}"
    session = ShopSession(catalog, engine, catalog.goal(0), page="item", asin=product["asin"])
    history = f"Observation:\n[Search]\n\nAction: click[{product['asin']}]\n"
    rule = load_agent("rule", ENV_ID)
    actions = []
    while session.page != "done" and len(actions) < 5:
        observation = f"{history}Observation:\n{page_text(session.elements())}\n\n"
        actions.append(rule.act([f"{observation}Instruction: {instruction}\n"])[0])
        session.act(actions[-1])
        history = f"{observation}Action: {actions[-1]}\n"
    assert actions == [f"click[{value}]", "click[Buy Now]"]
    assert "color" not in session.options


def test_the_careful_shopper_keeps_each_episode_of_a_batch_apart():
    episodes = [{"goal_index": i} for i in range(24)]
    kwargs = {"difficulty": "hard"}
    returns = [
        [
            r["return"]
            for r in evaluate(
                load_agent("careful", ENV_ID),
                ENV_ID,
                episodes=episodes,
                num_envs=num_envs,
                env_kwargs=kwargs,
                progress=False,
            ).records
        ]
        for num_envs in (1, 4)
    ]
    assert returns[0] == returns[1]


def test_the_hard_site_plays_as_the_hard_env():
    from archer_envs.webshop.server import ShopServer

    local = gym.make(ENV_ID, difficulty="hard")
    with ShopServer(difficulty="hard") as server:
        remote = gym.make(ENV_ID, difficulty="hard", server_url=server.url)
        for goal_index in (0, 11):
            transcripts = []
            for env in (local, remote):
                agent = load_agent("careful", ENV_ID)
                observation, _ = env.reset(options={"goal_index": goal_index})
                steps = [observation]
                terminated = False
                while not terminated:
                    observation, reward, terminated, _, _ = env.step(agent.act([observation])[0])
                    steps.append((observation, reward))
                transcripts.append(steps)
            assert transcripts[0] == transcripts[1]
