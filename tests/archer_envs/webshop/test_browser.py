"""The browser env: headless Chromium plays whole episodes exactly as the text env does."""

import os
import subprocess
import sys

import gymnasium as gym
import pytest

from archer_envs.agents import load_agent
from archer_envs.webshop.browser import _BROWSERS, CHROMEDRIVER, CHROMIUM, BrowserShop
from tests.archer_envs.webshop.test_env import out_of_stock_goal

ENV_ID = "archer/WebShop-v0"


def play(env, goal_index, agent, extra=()):
    observation, _ = env.reset(options={"goal_index": goal_index})
    transcript, actions = [observation], list(extra)
    while True:
        action = actions.pop(0) if actions else agent.act([observation])[0]
        observation, reward, terminated, truncated, info = env.step(action)
        transcript.append((action, observation, reward, terminated, truncated, info))
        if terminated or truncated:
            return transcript


def test_browser_plays_whole_episodes_like_the_text_env():
    text = gym.make(ENV_ID, difficulty="easy")  # where the rule agent buys goal 7 perfectly
    browser = gym.make("archer/WebShopBrowser-v0", difficulty="easy")
    rewards = []
    for goal_index, extra in ((7, ()), (3, ("think[look]", "click[nowhere]", "search[]"))):
        expected = play(text, goal_index, load_agent("rule", ENV_ID), extra)
        seen = play(browser, goal_index, load_agent("rule", ENV_ID), extra)
        assert seen == expected  # observations, rewards, ends and infos
        rewards.append(seen[-1][2])
    assert rewards[0] == 1.0 and 0.0 < rewards[1] < 1.0  # a perfect and a partial purchase
    # the item page as the browser rendered it: options, sub-page buttons, Buy Now
    assert "[Buy Now]" in expected[-2][1] and "[Features]" in expected[-2][1]
    browser.close()
    text.close()


def test_the_browser_shows_a_value_out_of_stock_and_its_reply_as_the_text_env():
    text = gym.make(ENV_ID)
    browser = gym.make("archer/WebShopBrowser-v0")
    catalog = text.unwrapped.catalog
    index, product, kind, value = out_of_stock_goal(catalog)
    asin = catalog.goal(index)["asin"]
    actions = (f"search[{product['Title']}]", f"click[{asin}]", f"click[{value}]")
    expected = play(text, index, load_agent("rule", ENV_ID), actions)
    seen = play(browser, index, load_agent("rule", ENV_ID), actions)
    assert seen == expected
    assert f"\n[{value}] (out of stock)\n" in seen[2][1]
    assert f"Sorry, {value} ({kind}) is out of stock." in seen[3][1]
    # what a person sees: the mark beside the value, the reply on the page
    browser.reset(options={"goal_index": index})
    for action in actions:
        browser.step(action)
    driver = next(iter(_BROWSERS.values()))
    driver.switch_to.window(browser.unwrapped._remote._handle)
    marked = driver.execute_script(
        "return [...document.querySelectorAll('a.out-of-stock')].map("
        "a => a.innerText + a.nextElementSibling.innerText)"
    )
    assert f"{value} (out of stock)" in marked
    reply = f"Sorry, {value} ({kind}) is out of stock."
    assert reply in driver.find_element("tag name", "main").text
    browser.close()
    text.close()


def test_browser_is_debians_and_its_tabs_close(monkeypatch):
    assert (CHROMIUM, CHROMEDRIVER) == ("/usr/bin/chromium", "/usr/bin/chromedriver")
    envs = [gym.make("archer/WebShopBrowser-v0") for _ in range(2)]
    for env in envs:
        env.reset(options={"goal_index": 1})
    driver = next(iter(_BROWSERS.values()))
    assert driver.capabilities["browserName"] in ("chrome", "chromium")
    tabs = len(driver.window_handles)
    envs[0].close()
    assert len(driver.window_handles) == tabs - 1
    envs[1].close()
    monkeypatch.setattr("archer_envs.webshop.browser.CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(FileNotFoundError, match="apt-get install chromium chromium-driver"):
        BrowserShop(None, (10_000, 0, None))


def test_selenium_manager_is_never_run():
    """Selenium Manager (which can download browsers and drivers) refuses to start when
    SE_MANAGER_PATH names no file: the browser must come up without it."""
    code = (
        "import gymnasium as gym, archer_envs\n"
        "env = gym.make('archer/WebShopBrowser-v0')\n"
        "observation, _ = env.reset(options={'goal_index': 0})\n"
        "print(observation.splitlines()[1])\n"
        "env.close()\n"
    )
    environment = {**os.environ, "SE_MANAGER_PATH": "/nonexistent/selenium-manager"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[Search]"
