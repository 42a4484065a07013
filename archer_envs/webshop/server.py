"""The WebShop web site (Flask): start page, search, results, item pages and their sub-pages
(description, features, reviews, attributes), and the done page with the score.

Each shopper has a session, addressed by its id in the URL (``/session/<id>``); its state lives
on the server and every page is rendered from it, so the text env over HTTP and a browser see
the same shop as the in-process env. All user text is escaped; malformed requests and unknown
sessions get 4xx answers; only the static folder is served as files.

Sessions are kept by age: the site holds at most ``max_sessions``; when it is full, a new
session replaces the one left unused longest, if that one has been idle ``min_idle`` seconds or
more, and is refused otherwise (503, with Retry-After). So a client that opens sessions by the
thousand can fill the site, but never push out a session that is in use.

    archer-envs webshop-server --port 3000      # binds 127.0.0.1
"""

from __future__ import annotations

import contextlib
import html
import re
import secrets
import threading
import time
import urllib.parse
from collections import OrderedDict
from pathlib import Path

from flask import Flask, abort, redirect, request
from werkzeug.serving import WSGIRequestHandler, make_server

from archer_envs.webshop.catalog import DEFAULT_NUM_PRODUCTS
from archer_envs.webshop.env import load_shop
from archer_envs.webshop.search import RESULTS_PER_PAGE
from archer_envs.webshop.shop import BUTTON, ShopSession, element_html

MAX_SESSIONS = 10_000
MIN_IDLE = 300.0  # seconds: a session used more recently is never replaced by a new one
SESSION_ID = re.compile(r"[0-9a-f]{16}")
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>WebShop</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><header><h1>WebShop</h1>{goal}</header><main>{body}</main></body></html>
"""


def create_app(
    num_products: int = DEFAULT_NUM_PRODUCTS,
    catalog_seed: int = 0,
    catalog_path: str | None = None,
    max_sessions: int = MAX_SESSIONS,
    min_idle: float = MIN_IDLE,
    difficulty: str = "hard",
) -> Flask:
    """The site's Flask app over the catalogue these arguments select (as for the env), with
    the session policy of the module docstring."""
    if max_sessions < 1 or min_idle < 0:
        raise ValueError(
            f"max_sessions must be at least 1 and min_idle at least 0, got "
            f"{max_sessions} and {min_idle}"
        )
    catalog, engine = load_shop(catalog_path, num_products, catalog_seed, difficulty)
    app = Flask(__name__, static_folder=str(Path(__file__).with_name("static")))
    # least recently used first; the time each was last used
    sessions: OrderedDict[str, tuple[threading.Lock, ShopSession]] = OrderedDict()
    last_used: dict[str, float] = {}
    registry_lock = threading.Lock()

    def session_or_404(session_id: str) -> tuple[threading.Lock, ShopSession]:
        if not SESSION_ID.fullmatch(session_id):
            abort(404, "no such session")
        with registry_lock:
            if session_id not in sessions:
                abort(404, "no such session")
            sessions.move_to_end(session_id)
            last_used[session_id] = time.monotonic()
            return sessions[session_id]

    def render(session_id: str, session: ShopSession, status: int = 200, note: str = ""):
        base = f"/session/{session_id}"
        parts = [f'<p class="note">{html.escape(note)}</p>'] if note else []
        if session.page == "results":
            parts.append(f'<p class="query">Results for "{html.escape(session.query)}"</p>')
        for kind, text in session.elements():
            if kind == BUTTON and text == "Search":
                href = f"{base}/search"
            else:
                href = f"{base}/click?target={urllib.parse.quote(text.lower())}"
            parts.append(element_html(kind, text, href))
        goal = (
            '<div id="goal"><b>Instruction:</b> <div class="instruction">'
            f"{html.escape(session.goal['instruction_text'])}</div></div>"
        )
        return PAGE.format(goal=goal, body="\n".join(parts)), status

    def form_int(name: str, default: int | None, low: int, high: int) -> int:
        raw = request.values.get(name)
        if raw is None and default is not None:
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            abort(400, f"{name} must be an integer")
        if not low <= value <= high:
            abort(400, f"{name} must be in [{low}, {high}]")
        return value

    @app.get("/")
    def index():
        # the start form; its fields can be pre-filled from the query string
        fields = {
            "goal_index": form_int("goal_index", 0, 0, catalog.num_goals - 1),
            "results_shown": form_int("results_shown", RESULTS_PER_PAGE, 1, 50),
            "paging": form_int("paging", 1, 0, 1),
        }
        body = (
            f"<p>{catalog.num_goals} goals over {len(catalog)} products.</p>"
            '<form method="post" action="/start"><label>Goal <input type="number" '
            f'name="goal_index" value="{fields["goal_index"]}" min="0"></label>'
            f'<input type="hidden" name="results_shown" value="{fields["results_shown"]}">'
            f'<input type="hidden" name="paging" value="{fields["paging"]}">'
            ' <button type="submit" id="start">Start</button></form>'
        )
        return PAGE.format(goal="", body=body)

    @app.post("/start")
    def start():
        goal_index = form_int("goal_index", None, 0, catalog.num_goals - 1)
        shown = form_int("results_shown", RESULTS_PER_PAGE, 1, 50)
        paging = form_int("paging", 1, 0, 1)
        session = ShopSession(
            catalog, engine, catalog.goal(goal_index), results_shown=shown, paging=bool(paging)
        )
        session_id = secrets.token_hex(8)
        now = time.monotonic()
        with registry_lock:
            if len(sessions) >= max_sessions:
                oldest = next(iter(sessions))
                idle = now - last_used[oldest]
                if idle < min_idle:
                    wait = str(max(1, round(min_idle - idle)))
                    return "the site is full: try again later", 503, {"Retry-After": wait}
                del sessions[oldest], last_used[oldest]
            sessions[session_id] = (threading.Lock(), session)
            last_used[session_id] = now
        return redirect(f"/session/{session_id}", code=303)

    @app.get("/session/<session_id>")
    def page(session_id: str):
        lock, session = session_or_404(session_id)
        with lock:
            return render(session_id, session)

    @app.post("/session/<session_id>/search")
    def search(session_id: str):
        query = request.form.get("query", "")
        return act(session_id, f"search[{query}]")

    @app.route("/session/<session_id>/click", methods=["GET", "POST"])
    def click(session_id: str):
        target = request.values.get("target")
        if target is None:
            abort(400, "target is required")
        return act(session_id, f"click[{target}]")

    def act(session_id: str, action: str):
        lock, session = session_or_404(session_id)
        if len(action) > 1000 or "\n" in action:
            abort(400, "action too long or on several lines")
        with lock:
            if not session.act(action):
                return render(session_id, session, 400, "Invalid action!")
        return redirect(f"/session/{session_id}", code=303)

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # no line per request in tests and envs
        pass


class ShopServer:
    """The site served from a background thread on 127.0.0.1 (port 0: a free one), as a
    context manager: ``with ShopServer() as server: ... server.url``."""

    def __init__(self, port: int = 0, **catalog_arguments):
        self.app = create_app(**catalog_arguments)
        self._server = make_server(
            "127.0.0.1", port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ShopServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._thread.join()


def serve(port: int, **catalog_arguments) -> None:
    """Serve the site on 127.0.0.1:``port`` until interrupted."""
    server = make_server("127.0.0.1", port, create_app(**catalog_arguments), threaded=True)
    print(f"WebShop at http://127.0.0.1:{server.server_port} (Ctrl-C stops it)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
