"""External agents: the batched protocol, adapters, and a chat agent for OpenAI-compatible APIs.

The protocol is batched. ``reset(tasks)`` (optional) starts one episode per task; each following
``act(observations)`` gets one entry per episode in the same order, ``None`` for an episode that
has already ended, and returns one action per entry (anything for the ``None`` entries). A plain
``str -> str`` callable is adapted to it.

Two optional attributes are recorded by ``evaluate``: ``raw_replies`` (after each ``act``, one
entry per observation: the text the action was taken from, such as a chat model's whole reply,
or ``None``) and ``decoding`` (how the agent chooses, e.g. ``"greedy"``; an agent with a boolean
``greedy`` attribute is read as greedy or sampled).
"""

from __future__ import annotations

import abc
import importlib
import importlib.metadata
import inspect
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from archer_envs.oracles.openai_backend import ChatClient


@runtime_checkable
class Agent(Protocol):
    def act(self, observations: Sequence[str | None]) -> list[str | None]: ...


class CallableAgent:
    """Adapts a ``str -> str`` function (one observation in, one action out)."""

    def __init__(self, function: Callable[[str], str]):
        self.function = function
        self.name = getattr(function, "__name__", type(function).__name__)

    def act(self, observations: Sequence[str | None]) -> list[str | None]:
        return [None if obs is None else self.function(obs) for obs in observations]


def as_agent(agent: Any) -> Agent:
    """An object with ``act`` as it is; a callable through ``CallableAgent``."""
    if isinstance(agent, Agent):
        return agent
    if callable(agent):
        return CallableAgent(agent)
    raise TypeError(
        f"an agent is a callable str -> str or an object with act(observations), "
        f"got {type(agent).__name__}"
    )


def first_question(reply: str) -> str:
    """The action in a chat model's reply: its first line that asks a question (up to the first
    question mark), or else its first non-empty line (an action of a text adventure or a shop:
    ``open the door``, ``search[...]``), without list markers, labels, quotes or markdown.
    "Sure! Let me think.\nIs it alive?" is "Is it alive?": a preamble costs no turn."""
    lines = []
    for line in reply.splitlines():
        line = line.replace("**", "").replace("__", "")
        line = re.sub(r"^\s*(?:[-*>]|\d+[.)]|#+)\s*", "", line)
        line = re.sub(
            r"^(?:(?:my )?(?:next |final )?(?:question|guess|answer|action)|q)\s*\d*"
            r"(?: is)?\s*:\s*",
            "",
            line,
            flags=re.I,
        )
        line = line.strip().strip("*\"'` ").strip()
        if line:
            lines.append(line)
    for line in lines:
        if "?" in line:
            return line[: line.index("?") + 1]
    return lines[0] if lines else reply.strip()


class ChatHistoryAgent(abc.ABC):
    """What the chat agents share: each episode keeps its own chat history, the task
    description as the system prompt, then the env's observations (only what is new since the
    last one, when the observation grows as a transcript) as user turns and the model's replies
    as assistant turns; the action is the reply's first question (``first_question``). A
    backend implements ``_replies(histories) -> list[str]``, one reply per history."""

    system_prompt: str | None = None

    def reset(self, tasks: Sequence[str]) -> None:
        self._histories = [
            [{"role": "system", "content": self.system_prompt or task}] for task in tasks
        ]
        self._last = ["" for _ in tasks]

    def act(self, observations: Sequence[str | None]) -> list[str | None]:
        if len(self._histories) != len(observations):
            self.reset(["" for _ in observations])
        slots = [i for i, obs in enumerate(observations) if obs is not None]
        for i in slots:
            observation = observations[i]
            previous = self._last[i]
            new = (
                observation[len(previous) :]
                if previous and observation.startswith(previous)
                else observation
            )
            self._histories[i].append({"role": "user", "content": new})
            self._last[i] = observation
        replies = self._replies([self._histories[i] for i in slots]) if slots else []
        actions: list[str | None] = [None] * len(observations)
        self.raw_replies: list[str | None] = [None] * len(observations)
        for i, reply in zip(slots, replies, strict=True):
            self._histories[i].append({"role": "assistant", "content": reply})
            actions[i] = first_question(reply)
            self.raw_replies[i] = reply
        return actions

    @abc.abstractmethod
    def _replies(self, histories: list[list[dict[str, str]]]) -> list[str]:
        """One reply per chat history (the backend: an API, a local model)."""


class OpenAIChatAgent(ChatHistoryAgent):
    """An agent backed by any OpenAI-compatible chat endpoint (histories as in
    ``ChatHistoryAgent``). Requests for the episodes of a batch run concurrently. The API key
    is read from ``api_key_env``.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        temperature: float = 0.0,
        max_tokens: int = 64,
        timeout: float = 60.0,
        max_retries: int = 3,
        concurrency: int = 8,
        system_prompt: str | None = None,
    ):
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = base_url
        self.sampling = {"temperature": temperature, "max_tokens": max_tokens}
        self.system_prompt = system_prompt
        self.decoding = "greedy" if temperature == 0 else f"sampled (temperature {temperature:g})"
        self.raw_replies: list[str | None] = []
        self.chat = ChatClient(
            model,
            base_url=base_url,
            api_key_env=api_key_env,
            timeout=timeout,
            max_retries=max_retries,
            concurrency=concurrency,
            sampling=self.sampling,
            role="chat agent",
            missing_text="",
        )
        self._histories: list[list[dict[str, str]]] = []
        self._last: list[str] = []

    def _replies(self, histories: list[list[dict[str, str]]]) -> list[str]:
        return self.chat.complete_all(histories)


class HFCausalLMAgent(ChatHistoryAgent):
    """A prompted local transformers causal LM (``hf:<name-or-path>``): a directory, or a name
    already in the local Hugging Face cache; nothing is downloaded. Histories as in
    ``ChatHistoryAgent``; the prompt is the history through the tokenizer's chat template
    when it has one (with the generation prompt), else plain text: the task description, a
    blank line and the observations so far (for a question game: the transcript), which the
    model continues. The episodes of a
    batch are generated together (left padding), greedily, or sampling at ``temperature``
    from torch's global random state (seeded by ``seed`` when the model loads). torch and
    transformers are imported on first use (the ``agents`` extra)."""

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str = "cpu",
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        seed: int = 0,
        system_prompt: str | None = None,
    ):
        if not name_or_path:
            raise ValueError("hf: needs a model directory or a cached model name (hf:PATH)")
        self.name_or_path = name_or_path
        self.name = f"hf:{name_or_path}"
        self.device, self.seed = device, seed
        self.sampling = {
            "max_new_tokens": max_new_tokens,
            "do_sample": temperature > 0,
            **({"temperature": temperature} if temperature > 0 else {}),
        }
        self.system_prompt = system_prompt
        self.decoding = "greedy" if temperature == 0 else f"sampled (temperature {temperature:g})"
        self._model = None
        self._tokenizer = None
        self._histories: list[list[dict[str, str]]] = []
        self._last: list[str] = []

    def prompt(self, history: list[dict[str, str]]) -> str:
        """The text the model continues for one episode's ``history``."""
        tokenizer = self._load()[1]
        if tokenizer.chat_template:
            return tokenizer.apply_chat_template(
                history, add_generation_prompt=True, tokenize=False
            )
        task = history[0]["content"]
        observation = "".join(m["content"] for m in history if m["role"] == "user")
        return f"{task}\n\n{observation}" if task else observation

    def _replies(self, histories: list[list[dict[str, str]]]) -> list[str]:
        import torch

        model, tokenizer = self._load()
        room = getattr(model.config, "max_position_embeddings", None) or 1024
        batch = tokenizer(
            [self.prompt(history) for history in histories],
            padding=True,
            truncation=True,
            return_tensors="pt",
            add_special_tokens=False,
            max_length=max(1, room - self.sampling["max_new_tokens"]),
        )
        with torch.inference_mode():
            output = model.generate(
                **batch.to(self.device), **self.sampling, pad_token_id=tokenizer.pad_token_id
            )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        return tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    def _load(self):
        if self._model is None:
            try:
                import torch
                import transformers
            except ImportError as error:
                raise ImportError(
                    "the hf agent needs torch and transformers: pip install 'archer-gym[agents]'"
                ) from error
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    self.name_or_path, local_files_only=True
                )
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    self.name_or_path, local_files_only=True
                )
            except (OSError, ValueError) as error:
                raise ValueError(
                    f"hf:{self.name_or_path} is not a causal LM on this machine (a directory, or "
                    f"a name in the local Hugging Face cache; nothing is downloaded): {error}"
                ) from None
            tokenizer.padding_side = "left"  # generation continues from the right edge
            tokenizer.truncation_side = "left"  # a long history keeps its newest turns
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            torch.manual_seed(self.seed)
            self._model = model.to(self.device).eval()
            self._tokenizer = tokenizer
        return self._model, self._tokenizer


# loaders of agents saved as folders: name -> loader(path, seed=..., **options)
_FOLDER_LOADERS: dict[str, Callable[..., Any]] = {}
AGENT_LOADER_GROUP = "archer_gym.agent_loaders"  # the entry point group of installed loaders


def register_agent_loader(name: str, loader: Callable[..., Any]) -> None:
    """Register how agents saved as folders load: ``loader(path, seed=..., **options)`` returns
    the agent, or raises ``ValueError`` for a folder that is not of its kind. A package
    registers its loader on import, and declares it in the ``archer_gym.agent_loaders`` entry
    point group so that ``load_agent`` finds it before it is imported (archer_agents: the run
    folders of ``archer-train``). archer_envs itself imports no loader's package."""
    _FOLDER_LOADERS[name] = loader


def _load_folder(path: str, seed: int, options: dict[str, Any]) -> Any:
    missing = []
    for entry in importlib.metadata.entry_points(group=AGENT_LOADER_GROUP):
        if entry.name not in _FOLDER_LOADERS:
            try:
                _FOLDER_LOADERS[entry.name] = entry.load()
            except ImportError as error:
                missing.append(f"{entry.value} ({error})")
    if not _FOLDER_LOADERS:
        why = f": {'; '.join(missing)}" if missing else ""
        raise ValueError(
            f"{path} is a folder, and no agent loader is installed to load it (a trained policy "
            f"needs the agents extra: pip install 'archer-gym[agents]'){why}"
        )
    errors = []
    for name, loader in _FOLDER_LOADERS.items():
        try:
            return as_agent(loader(path, seed=seed, **options))
        except ValueError as error:
            errors.append(f"{name}: {error}")
    raise ValueError(f"no agent loader can load {path}: " + "; ".join(errors))


# env id -> agent name -> "module:Class", filled by register_scripted_agents (archer_envs'
# own ids in archer_envs/__init__.py); classes are imported when looked up
_SCRIPTED_AGENTS: dict[str, dict[str, str]] = {}


def register_scripted_agents(env_id: str, agents: dict[str, str]) -> None:
    """Register the scripted reference agents of ``env_id``: name -> ``"module:Class"``, a
    class built as ``Class(env, seed=..., **options)`` that reads only the observations."""
    _SCRIPTED_AGENTS.setdefault(env_id, {}).update(agents)


def scripted_agents(env_id: str) -> dict[str, Any]:
    """The scripted reference agents of ``env_id`` by name (classes; see
    ``register_scripted_agents``)."""
    from archer_envs.core import check_env_id

    check_env_id(env_id)
    agents = {}
    for name, entry_point in _SCRIPTED_AGENTS.get(env_id, {}).items():
        module, _, attribute = entry_point.partition(":")
        agents[name] = getattr(importlib.import_module(module), attribute)
    return agents


def load_agent(spec: str | Any, env_id: str | None = None, seed: int = 0, **options: Any) -> Agent:
    """Build an agent from a spec:

    - ``"openai:<model>"``: ``OpenAIChatAgent`` (``options``: base_url, api_key_env, ...);
    - ``"hf:<name-or-path>"``: ``HFCausalLMAgent``, a local transformers causal LM (``options``:
      device, max_new_tokens, temperature, ...);
    - ``"random"``, ``"expert"``, ``"optimal"``: the env's scripted reference agents
      (``options``: e.g. epsilon);
    - a folder: the agent saved there, by a registered loader (``register_agent_loader``); a
      run or checkpoint directory of ``archer-train`` is its trained policy (needs the
      ``agents`` extra), decoding greedily (``options``: greedy=False samples, from a generator
      seeded by ``seed``);
    - ``"package.module:attr"``: a callable ``str -> str``, an object with ``act``, or a class /
      factory returning one (called with ``options``, and ``seed`` if it takes one);
    - anything else that is already an agent or a callable.
    """
    if not isinstance(spec, str):
        return as_agent(spec)
    if spec.startswith("openai:"):
        return OpenAIChatAgent(spec.removeprefix("openai:"), **options)
    if spec.startswith("hf:"):
        return HFCausalLMAgent(spec.removeprefix("hf:"), seed=seed, **options)
    if os.path.isdir(spec):
        return _load_folder(spec, seed, options)
    if ":" not in spec:
        if "/" in spec or os.sep in spec or spec.startswith("."):
            raise ValueError(
                f"no run folder {spec!r}: a trained agent is the run (or checkpoint) folder of "
                "archer-train, e.g. runs/archer; check the path"
            )
        if env_id is None:
            raise ValueError(f"scripted agent {spec!r} needs an env id")
        import gymnasium as gym

        scripted = scripted_agents(env_id)
        if spec not in scripted:
            raise ValueError(
                f"unknown agent {spec!r}: use a scripted agent of {env_id} {sorted(scripted)}, "
                "the run folder of archer-train (e.g. runs/archer), 'openai:<model>', "
                "'hf:<name-or-path>' or 'package.module:attribute'"
            )
        return scripted[spec](gym.make(env_id).unwrapped, seed=seed, **options)
    module_name, _, attribute = spec.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load agent {spec!r}: {error}") from error
    if inspect.isclass(target) or (options and callable(target)):
        try:
            takes_seed = "seed" in inspect.signature(target).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            takes_seed = False
        target = target(**({"seed": seed} if takes_seed else {}), **options)
    return as_agent(target)
