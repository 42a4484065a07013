"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the tests.

It serves ``POST /v1/chat/completions`` with Flask in a background thread. What it replies is
up to the test: a ``responder(messages) -> str`` writes the text of normal replies, and
``script`` (a list consumed one request at a time) can inject failures first: "429", "500",
"timeout" (sleeps past the client's timeout), "garbage" (200 with a body that is not a chat
completion) and "nochoices" (valid JSON without choices).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server


class OpenAICompatibleServer:
    def __init__(self, responder: Callable[[list[dict[str, str]]], str]):
        self.responder = responder
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[str | None] = []  # the Authorization header of each request
        self.timeout_sleep = 3.0
        self.delay = 0.0  # seconds every reply takes
        self.concurrent_peak = 0  # most requests in flight at once
        self._in_flight = 0
        self._lock = threading.Lock()
        app = Flask("openai-compatible-test-server")
        app.add_url_rule("/v1/chat/completions", view_func=self._chat, methods=["POST"])
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OpenAICompatibleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def _chat(self) -> Response:
        body = request.get_json(force=True)
        with self._lock:
            self.requests.append(body)
            self.headers.append(request.headers.get("Authorization"))
            mode = self.script.pop(0) if self.script else "ok"
            self._in_flight += 1
            self.concurrent_peak = max(self.concurrent_peak, self._in_flight)
        try:
            time.sleep(self.delay)
            return self._reply(body, mode)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _reply(self, body: dict[str, Any], mode: str) -> Response:
        if mode == "429":
            return jsonify({"error": {"message": "rate limited", "type": "rate_limit"}}), 429
        if mode == "500":
            return jsonify({"error": {"message": "boom", "type": "server_error"}}), 500
        if mode == "timeout":
            time.sleep(self.timeout_sleep)
        if mode == "garbage":
            return Response("<html>definitely not json", status=200, mimetype="text/html")
        if mode == "nochoices":
            return jsonify({"id": "x", "object": "chat.completion", "created": 0, "model": "m"})
        text = self.responder(body["messages"])
        return jsonify(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "test-model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )
