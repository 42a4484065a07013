"""The WebShop web site: the text env over HTTP sees what it sees in-process, and the site holds
up to concurrent shoppers, hostile text and malformed requests."""

import html
import http.client
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gymnasium as gym
import pytest

from archer_envs.agents import load_agent
from archer_envs.webshop.env import load_shop
from archer_envs.webshop.server import ShopServer, create_app
from tests.archer_envs.webshop.test_env import out_of_stock_goal

ENV_ID = "archer/WebShop-v0"


@pytest.fixture(scope="module")
def server():
    with ShopServer() as running:
        yield running


def request(url, form=None, method=None):
    """(status, final url, body) of a request; 4xx/5xx answers are returned, not raised."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, method=method), timeout=30
        ) as response:
            return response.status, response.geturl(), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, url, error.read().decode()


def raw_get(server, path):
    """GET a path exactly as written (no client-side normalisation of '..')."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    status, body, location = response.status, response.read(), response.getheader("Location")
    connection.close()
    redirect = urllib.parse.urlsplit(location or "").path
    if status in (301, 308) and redirect.startswith("/static/"):  # werkzeug merges slashes
        return raw_get(server, redirect)
    return status, body


def play(env, goal_index, agent, extra_actions=()):
    observation, info = env.reset(options={"goal_index": goal_index})
    transcript = [(observation, info)]
    actions = list(extra_actions)
    while True:
        action = actions.pop(0) if actions else agent.act([observation])[0]
        observation, reward, terminated, truncated, info = env.step(action)
        transcript.append((action, observation, reward, terminated, truncated, info))
        if terminated or truncated:
            return transcript


@pytest.mark.parametrize("agent_name", ["rule", "random"])
def test_text_env_over_http_has_identical_transcripts(server, agent_name):
    local = gym.make(ENV_ID)
    remote = gym.make(ENV_ID, server_url=server.url)
    odd = ["think[first]", "click[nothing here]", "search[]", "hello", "click[Search]"]
    for goal_index in (0, 7, 2017):
        extra = odd if goal_index == 7 else ()
        a = play(local, goal_index, load_agent(agent_name, ENV_ID, seed=goal_index), extra)
        b = play(remote, goal_index, load_agent(agent_name, ENV_ID, seed=goal_index), extra)
        assert a == b
        assert a[-1][3]  # terminated: a purchase or the step cap


def test_a_value_out_of_stock_on_the_site(server):
    """The site marks it, answers a click on it with the reason and selects nothing; the text
    env over HTTP sees all of it as in-process."""
    catalog, _ = load_shop(None, 10_000, 0)
    index, product, kind, value = out_of_stock_goal(catalog)
    _, url, _ = request(f"{server.url}/start", {"goal_index": index})
    request(f"{url}/search", {"query": product["Title"]})
    _, _, page = request(f"{url}/click?target={product['asin'].lower()}")
    link = f'{urllib.parse.quote(html.escape(value))}">{html.escape(value)}</a>'
    assert (
        f'<a class="option out-of-stock" href="{url.removeprefix(server.url)}/click?target='
        f'{link}<span class="stock"> (out of stock)</span>' in page
    )
    status, _, page = request(f"{url}/click?target={urllib.parse.quote(value)}")
    assert status == 200 and html.escape(f"Sorry, {value} ({kind}) is out of stock.") in page
    assert f'class="option selected" href="{url.removeprefix(server.url)}' not in page
    goal = catalog.goal(index)
    chosen = [f"click[{v}]" for v in goal["goal_options"].values()]
    actions = [
        f"search[{product['Title']}]",
        f"click[{goal['asin']}]",
        f"click[{value}]",
        *chosen,
        f"click[{value}]",
    ]
    local = gym.make(ENV_ID)
    remote = gym.make(ENV_ID, server_url=server.url)
    a = play(local, index, load_agent("rule", ENV_ID), actions)
    b = play(remote, index, load_agent("rule", ENV_ID), actions)
    assert a == b and f"Sorry, {value} ({kind}) is out of stock." in a[3][1]
    assert a[-1][2] == 1.0  # the goal's own options: a value out of stock never replaced one


def test_64_concurrent_sessions_stay_isolated(server):
    queries = ["running shoes", "ground coffee", "office chair", "face serum"]

    def shopper(number):
        _, url, _ = request(f"{server.url}/start", {"goal_index": number, "results_shown": 3})
        request(f"{url}/search", {"query": queries[number % 4]})
        _, _, page = request(url)
        asin = re.findall(r'class="product-link" href="[^"]*">([A-Z0-9]{10})<', page)[number % 3]
        request(f"{url}/click?target={asin.lower()}")
        return url, number, asin

    with ThreadPoolExecutor(max_workers=64) as pool:
        visits = list(pool.map(shopper, range(64)))
    assert len({url for url, _, _ in visits}) == 64
    catalog, _ = load_shop(None, 10_000, 0)
    for url, number, asin in visits:
        status, _, page = request(url)  # each session is on the page of its own product
        title = catalog.product(catalog.index_of(asin))["Title"]
        assert status == 200 and html.escape(title) in page and ">Buy Now<" in page
        _, _, results = request(f"{url}/click?target=%3C+prev")
        assert f'Results for "{queries[number % 4]}"' in results  # and had its own query


def test_user_text_is_escaped(server):
    _, url, _ = request(f"{server.url}/start", {"goal_index": 0})
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    status, _, page = request(f"{url}/search", {"query": hostile})
    assert status == 200
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_malformed_requests_get_4xx_never_500(server):
    _, url, _ = request(f"{server.url}/start", {"goal_index": 3})
    cases = [
        (f"{server.url}/session/not-a-session", None, None, 404),
        (f"{server.url}/session/0123456789abcdef", None, None, 404),  # well formed, unknown
        (f"{server.url}/session/0123456789abcdef/search", {"query": "x"}, None, 404),
        (f"{server.url}/start", {}, None, 400),
        (f"{server.url}/start", {"goal_index": "abc"}, None, 400),
        (f"{server.url}/start", {"goal_index": -1}, None, 400),
        (f"{server.url}/start", {"goal_index": 10**9}, None, 400),
        (f"{server.url}/start", {"goal_index": 1, "results_shown": 0}, None, 400),
        (f"{server.url}/start", None, "GET", 405),
        (f"{url}/click", None, None, 400),  # no target
        (f"{url}/click?target=buy+now", None, None, 400),  # not on the search page
        (f"{url}/search", None, "GET", 405),
        (f"{url}/search", {"query": "x" * 5000}, None, 400),
        (f"{url}/search", {"query": "a\nb"}, None, 400),
        (f"{server.url}/nothing/here", None, None, 404),
    ]
    for target, form, method, expected in cases:
        status, _, _ = request(target, form, method)
        assert status == expected, target
    status, _, page = request(url)  # the session survived all of it
    assert status == 200 and '<button type="submit" class="button">Search</button>' in page


def test_only_the_static_folder_is_served(server):
    status, body = raw_get(server, "/static/style.css")
    assert status == 200 and b"body" in body
    for path in (
        "/static/../server.py",
        "/static/%2e%2e/server.py",
        "/static/..%2fserver.py",
        "/static//etc/passwd",
        "/static/../../../../etc/passwd",
        "/server.py",
        "/archer_envs/webshop/server.py",
    ):
        status, body = raw_get(server, path)
        assert 400 <= status < 500, path
        assert b"import" not in body and b"root:" not in body


def test_done_page_shows_the_score_and_ends_the_session(server):
    env = gym.make(ENV_ID, server_url=server.url)
    transcript = play(env, 11, load_agent("rule", ENV_ID))
    _, observation, reward, terminated, _, _ = transcript[-1]
    assert terminated and f"Your score (min 0.0, max 1.0): {reward!r}" in observation


def test_cli_serves_on_localhost():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "archer_envs.cli", "webshop-server", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):
            try:
                status, _, page = request(f"http://127.0.0.1:{port}/")
                break
            except urllib.error.URLError:
                assert process.poll() is None, process.stdout.read()
                time.sleep(0.1)
        assert status == 200 and "goals over 10000 products" in page
        # the listening socket (state 0A) is bound to 127.0.0.1 only
        listening = [
            line.split()[1]
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
            if line.split()[3] == "0A" and line.split()[1].endswith(f":{port:04X}")
        ]
        assert listening == [f"0100007F:{port:04X}"]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_results_are_paged_for_people(server):
    _, url, _ = request(f"{server.url}/start", {"goal_index": 5})  # 10 a page, with paging
    _, _, first = request(f"{url}/search", {"query": "running shoes"})
    asins = re.compile(r'class="product-link" href="[^"]*">([A-Z0-9]{10})<')
    assert "Page 1 (Total results: 50)" in first and ">Next &gt;<" in first
    assert "&lt; Prev" not in first and len(asins.findall(first)) == 10
    _, _, second = request(f"{url}/click?target=next+%3E")
    assert "Page 2 (Total results: 50)" in second and ">&lt; Prev<" in second
    assert not set(asins.findall(first)) & set(asins.findall(second))
    _, _, back = request(f"{url}/click?target=%3C+prev")
    assert asins.findall(back) == asins.findall(first)


def test_idle_sessions_make_room_for_new_ones_beyond_the_limit():
    client = create_app(max_sessions=2, min_idle=0).test_client()
    urls = [client.post("/start", data={"goal_index": i}).headers["Location"] for i in range(3)]
    assert client.get(urls[0]).status_code == 404  # forgotten: a 404, not a crash
    assert [client.get(url).status_code for url in urls[1:]] == [200, 200]
    client.get(urls[1])  # now urls[2] is the one left unused longest
    client.post("/start", data={"goal_index": 0})
    assert [client.get(url).status_code for url in urls[1:]] == [200, 404]


def test_a_client_opening_sessions_in_bulk_cannot_push_out_anyone_else():
    with ShopServer(max_sessions=50) as site:  # min_idle: the default five minutes
        status, mine, _ = request(f"{site.url}/start", {"goal_index": 3})
        assert status == 200
        with ThreadPoolExecutor(4) as pool:
            flood = list(
                pool.map(lambda i: request(f"{site.url}/start", {"goal_index": i})[0], range(200))
            )
        assert flood.count(200) == 49 and flood.count(503) == 151
        assert request(mine)[0] == 200
        assert request(f"{mine}/search", {"query": "shoes"})[0] == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{site.url}/start", data=b"goal_index=1", timeout=30)
        assert refused.value.code == 503
        assert 1 <= int(refused.value.headers["Retry-After"]) <= 300
