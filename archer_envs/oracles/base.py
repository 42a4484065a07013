"""The oracle protocol: a batched ``answer(queries) -> list[str]``.

An oracle answers on behalf of the simulated human who knows the hidden target. Backends: the
offline knowledge base ("kb"), any OpenAI-compatible chat endpoint ("openai:<model>"), a local
transformers model ("hf:<name-or-path>"), or any object with an ``answer`` method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Query:
    """One question to an oracle: the hidden target, the question, and the turns before it."""

    target: str
    question: str
    history: tuple[tuple[str, str], ...] = field(default=())


@runtime_checkable
class Oracle(Protocol):
    def answer(self, queries: Sequence[Query]) -> list[str]:
        """One raw answer per query, in order. The env normalises the text."""
        ...


class OracleError(RuntimeError):
    """An oracle backend failed after its retries; the message says which and why."""


@dataclass(frozen=True)
class Prompt:
    """How an env phrases a query for a language-model oracle.

    ``chat`` builds OpenAI chat messages; ``text`` builds the input of a local model (for 20Q the
    upstream flan-t5 format). ``max_tokens`` bounds the reply.
    """

    chat: Callable[[Query], list[dict[str, str]]]
    text: Callable[[Query], str]
    max_tokens: int


def make_oracle(
    spec: str | Oracle,
    *,
    knowledge_base: Callable[[], Oracle],
    prompt: Prompt,
    options: dict[str, Any] | None = None,
) -> Oracle:
    """Resolve an env's ``oracle=`` argument.

    ``"kb"`` builds the env's knowledge-base oracle; ``"openai:<model>"`` and
    ``"hf:<name-or-path>"`` build language-model oracles with ``options`` as their keyword
    arguments (base_url, api_key_env, timeout, max_retries, cache, cache_mode, checkpoint, device,
    ...); an object with an ``answer`` method is used as it is.
    """
    options = dict(options or {})
    if not isinstance(spec, str):
        if not isinstance(spec, Oracle):
            raise TypeError(
                f"oracle must be 'kb', 'openai:<model>', 'hf:<name-or-path>' or an object with "
                f"answer(queries), got {type(spec).__name__}"
            )
        if options:
            raise ValueError("oracle_kwargs only apply to 'openai:' and 'hf:' oracles")
        return spec
    backend, _, model = spec.partition(":")
    if backend == "kb" and not model:
        if options:
            raise ValueError(f"the knowledge-base oracle takes no oracle_kwargs, got {options}")
        return knowledge_base()
    if backend == "openai" and model:
        from archer_envs.oracles.openai_backend import OpenAIOracle

        return OpenAIOracle(model, prompt=prompt, **options)
    if backend == "hf" and model:
        from archer_envs.oracles.hf import HFOracle

        return HFOracle(model, prompt=prompt, **options)
    raise ValueError(f"unknown oracle {spec!r}: use 'kb', 'openai:<model>' or 'hf:<name-or-path>'")
