"""Oracle backed by a local transformers model (seq2seq such as flan-t5, or causal).

``hf:<name-or-path>`` loads the config, tokenizer and weights from a directory (or a hub name when
the user has one cached). ``checkpoint=`` loads a state dict over them: a ``.safetensors`` file, or
a torch file such as the paper's released flan-t5 oracles (``{"model_state_dict": ...}``), read
with ``torch.load(weights_only=True)`` so that no pickled code can run. Generation is greedy and
batched; torch and transformers are imported only when the oracle is first used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archer_envs.oracles.base import OracleError, Prompt, Query
from archer_envs.oracles.cache import ReplyCache, cached_generate


def load_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Weights from a safetensors file or a torch checkpoint, never executing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise OracleError(f"oracle checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise OracleError(
            f"cannot read oracle checkpoint {path} as plain tensors ({type(error).__name__}: "
            f"{error}); archer-gym loads only weights, never pickled objects"
        ) from error
    if isinstance(state, dict) and "model_state_dict" in state:
        state = state["model_state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise OracleError(f"oracle checkpoint {path} does not hold a state dict")
    return state


class HFOracle:
    def __init__(
        self,
        name_or_path: str,
        *,
        prompt: Prompt,
        checkpoint: str | os.PathLike | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        cache: str | os.PathLike | None = None,
        cache_mode: str = "read-write",
    ):
        self.name_or_path = name_or_path
        self.prompt = prompt
        self.checkpoint = str(checkpoint) if checkpoint is not None else None
        self.device = device
        self.batch_size = batch_size
        self.sampling = {"do_sample": False, "max_new_tokens": prompt.max_tokens}
        self.cache = ReplyCache(cache, cache_mode)
        self._model = None
        self._tokenizer = None

    def __getstate__(self):  # the model is reloaded on first use in the new process
        return {**self.__dict__, "_model": None, "_tokenizer": None}

    def answer(self, queries: Sequence[Query]) -> list[str]:
        texts = [self.prompt.text(query) for query in queries]
        model_id = f"{self.name_or_path}|{self.checkpoint}"
        return cached_generate(self.cache, "hf", model_id, texts, self.sampling, self._generate)

    def _generate(self, texts: list[str]) -> list[str]:
        import torch

        model, tokenizer = self._load()
        replies: list[str] = []
        for start in range(0, len(texts), self.batch_size):
            batch = tokenizer(
                texts[start : start + self.batch_size],
                padding=True,
                truncation=True,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                output = model.generate(
                    **batch, **self.sampling, pad_token_id=tokenizer.pad_token_id
                )
            if not model.config.is_encoder_decoder:
                output = output[:, batch["input_ids"].shape[1] :]  # keep only the new tokens
            replies.extend(tokenizer.batch_decode(output, skip_special_tokens=True))
        return replies

    def _load(self):
        if self._model is None:
            try:
                import transformers
            except ImportError as error:
                raise ImportError(
                    "the hf oracle needs torch and transformers: pip install 'archer-gym[agents]'"
                ) from error
            config = transformers.AutoConfig.from_pretrained(self.name_or_path)
            tokenizer = transformers.AutoTokenizer.from_pretrained(self.name_or_path)
            if config.is_encoder_decoder:
                model_class = transformers.AutoModelForSeq2SeqLM
            else:
                model_class = transformers.AutoModelForCausalLM
                tokenizer.padding_side = "left"  # generation continues from the right edge
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model = model_class.from_pretrained(self.name_or_path)
            if self.checkpoint is not None:
                model.load_state_dict(load_state_dict(self.checkpoint))
            self._model = model.to(self.device).eval()
            self._tokenizer = tokenizer
        return self._model, self._tokenizer
