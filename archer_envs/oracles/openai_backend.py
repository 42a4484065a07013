"""Oracle backed by any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

The API key is read from the environment variable whose *name* is ``api_key_env``; it is never
stored. Transport errors (429, 5xx, timeouts, refused connections) are retried by the openai
client with backoff; a reply that is not a valid chat completion is retried here. After the
retries the oracle raises ``OracleError`` naming the endpoint and the last error, and nothing is
cached for that query.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from archer_envs.oracles.base import OracleError, Prompt, Query
from archer_envs.oracles.cache import ReplyCache, cached_generate


class ChatClient:
    """One OpenAI-compatible chat endpoint, as the oracle and the chat agent use it: the client
    is made on first use, the requests of a batch run ``concurrency`` at a time, a malformed
    reply is asked again, and after the retries an ``OracleError`` names ``role``, the model,
    the endpoint and the last error. A reply without text is ``missing_text``, or malformed
    where that is None."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key_env: str,
        timeout: float,
        max_retries: int,
        concurrency: int,
        sampling: dict[str, Any],
        role: str,
        missing_text: str | None = None,
    ):
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.sampling = sampling
        self.role = role
        self.missing_text = missing_text
        self._client = None

    def __getstate__(self):  # the HTTP client is rebuilt on first use in the new process
        return {**self.__dict__, "_client": None}

    def complete_all(self, conversations: list[list[dict[str, str]]]) -> list[str]:
        if len(conversations) == 1:
            return [self.complete(conversations[0])]
        workers = max(1, min(self.concurrency, len(conversations)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self.complete, conversations))

    def complete(self, messages: list[dict[str, str]]) -> str:
        import openai

        client = self._get_client()
        last_error: Exception | None = None
        for _ in range(self.max_retries + 1):
            try:
                response = client.chat.completions.create(
                    model=self.model, messages=messages, **self.sampling
                )
                text = response.choices[0].message.content
                if text is None and self.missing_text is not None:
                    return self.missing_text
                if not isinstance(text, str):
                    raise ValueError(f"the reply holds no message text: {response!r:.200}")
                return text
            except (openai.APIStatusError, openai.APIConnectionError) as error:
                # the client has already retried these with backoff
                raise OracleError(self._failure(error)) from error
            except (
                openai.APIResponseValidationError,
                ValueError,
                TypeError,
                AttributeError,
                IndexError,
                KeyError,
            ) as error:
                last_error = error  # a malformed reply: ask again
        raise OracleError(self._failure(last_error))

    def _failure(self, error: Exception | None) -> str:
        return (
            f"{self.role} {self.model!r} at {self.base_url or 'api.openai.com'} "
            f"failed after {self.max_retries} retries: {type(error).__name__}: {error}"
        )

    def _get_client(self) -> Any:
        if self._client is None:
            self._client = openai_client(
                self.base_url, self.api_key_env, self.timeout, self.max_retries
            )
        return self._client


class OpenAIOracle:
    def __init__(
        self,
        model: str,
        *,
        prompt: Prompt,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 30.0,
        max_retries: int = 3,
        concurrency: int = 8,
        temperature: float = 0.0,
        cache: str | os.PathLike | None = None,
        cache_mode: str = "read-write",
    ):
        self.model = model
        self.prompt = prompt
        self.base_url = base_url
        self.sampling = {"temperature": temperature, "max_tokens": prompt.max_tokens}
        self.chat = ChatClient(
            model,
            base_url=base_url,
            api_key_env=api_key_env,
            timeout=timeout,
            max_retries=max_retries,
            concurrency=concurrency,
            sampling=self.sampling,
            role="OpenAI-compatible oracle",
        )
        self.cache = ReplyCache(cache, cache_mode)

    def answer(self, queries: Sequence[Query]) -> list[str]:
        messages = [self.prompt.chat(query) for query in queries]
        endpoint = self.base_url or "https://api.openai.com/v1"
        return cached_generate(
            self.cache,
            f"openai:{endpoint}",
            self.model,
            messages,
            self.sampling,
            self.chat.complete_all,
        )


def openai_client(base_url: str | None, api_key_env: str, timeout: float, max_retries: int):
    """An ``openai.OpenAI`` client for ``base_url``, its key read from the environment variable
    named ``api_key_env`` (local servers, which ignore keys, need none)."""
    try:
        import openai
    except ImportError as error:
        raise ImportError(
            "OpenAI-compatible endpoints need the openai package: pip install 'archer-gym[openai]'"
        ) from error
    key = os.environ.get(api_key_env)
    if key is None:
        if base_url is None:
            raise OracleError(
                f"set the environment variable {api_key_env} to your API key, or give a "
                "base_url for a local OpenAI-compatible server"
            )
        key = "no-key-needed"
    return openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=max_retries)
