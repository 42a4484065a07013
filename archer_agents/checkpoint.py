"""Checkpoints without pickle: safetensors for tensors (weights, optimizer moments, the torch
RNG), JSON for the rest, JSONL for the replay buffer, and a manifest of SHA-256 sums so that a
truncated or edited file is reported instead of silently loaded. Loading checks each file
against what the loader expects too (the manifest lists every file it reads, state.json holds
every key it reads with a value of the right type, each tensor has the expected name and shape):
a damaged checkpoint is a ``ValueError`` that names the file and what is wrong.

A checkpoint is a directory ``checkpoints/iter-NNNNNN/``, written under a temporary name and
renamed into place when complete: a run killed while saving keeps its previous checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage (tied embeddings): store contiguous copies
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def optimizer_to_files(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """An optimizer's state as (tensors, JSON): moments and step counts, and param groups."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return _tensors(tensors), {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_files(
    optimizer: torch.optim.Optimizer, tensors: dict, meta: Any, path: Path
) -> None:
    """Load what ``optimizer_to_files`` wrote (``path``: the tensors' file, for messages): each
    entry must belong to one of the optimizer's parameters, moments of its shape."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not (
        isinstance(meta, dict)
        and isinstance(meta.get("param_groups"), list)
        and isinstance(meta.get("scalars"), dict)
    ):
        raise ValueError(
            f"{path.with_name('state.json')}: the optimizer state of {path.name} "
            'must be {"param_groups": [...], "scalars": {...}}'
        )
    state: dict[int, dict[str, Any]] = {}
    for flat, value in [*tensors.items(), *meta["scalars"].items()]:
        found = re.fullmatch(r"(\d+)\.(\w+)", flat)
        if found is None or int(found[1]) >= len(params):
            raise ValueError(
                f"{path}: {flat!r} is not the state of one of the optimizer's "
                f"{len(params)} parameters"
            )
        index, key = int(found[1]), found[2]
        if torch.is_tensor(value) and value.dim() > 0 and value.shape != params[index].shape:
            raise ValueError(
                f"{path}: {flat} has shape {tuple(value.shape)}, expected "
                f"{tuple(params[index].shape)}"
            )
        state.setdefault(index, {})[key] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: the optimizer state does not fit: {error}") from None


def save_checkpoint(
    directory: str | os.PathLike,
    tensors: dict[str, dict[str, torch.Tensor]],
    meta: dict[str, Any],
    files: dict[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    """Write ``<name>.safetensors`` for each entry of ``tensors``, ``state.json`` from ``meta``
    and each ``files`` entry via its ``save(path)``; then the manifest; then rename into place.
    Only the newest ``keep`` checkpoints of the parent folder are kept."""
    final = Path(directory)
    temporary = final.with_name(final.name + ".partial")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    for name, state in tensors.items():
        save_file(_tensors(state), temporary / f"{name}.safetensors")
    (temporary / "state.json").write_text(json.dumps(meta, indent=1))
    for name, item in (files or {}).items():
        item.save(temporary / name)
    manifest = {p.name: _sha256(p) for p in sorted(temporary.iterdir())}
    (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(temporary, final)
    siblings = sorted(p for p in final.parent.glob("iter-*") if p.suffix != ".partial")
    for old in siblings[:-keep] if keep else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def verify_checkpoint(directory: str | os.PathLike, files: Iterable[str] = ()) -> Path:
    """Raise ValueError with a clear message unless the manifest is an object of SHA-256 sums
    that lists state.json and each of ``files`` (those the caller will read), and every file it
    lists matches its sum."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ValueError(f"{directory} is not a complete checkpoint (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"checkpoint {directory}: corrupted {MANIFEST}: {error}") from None
    if not isinstance(manifest, dict) or not all(
        isinstance(name, str)
        and "/" not in name
        and name not in ("", ".", "..", MANIFEST)
        and isinstance(digest, str)
        and re.fullmatch(r"[0-9a-f]{64}", digest)
        for name, digest in manifest.items()
    ):
        raise ValueError(
            f"checkpoint {directory}: {MANIFEST} must map each file name of the checkpoint to its "
            f"SHA-256 sum, got {json.dumps(manifest)[:120]}"
        )
    unlisted = sorted({"state.json", *files} - set(manifest))
    if unlisted:
        raise ValueError(
            f"checkpoint {directory}: {MANIFEST} does not list {unlisted}, which the loader "
            "reads: the checkpoint is incomplete or was edited"
        )
    for name, digest in manifest.items():
        path = directory / name
        if not path.is_file():
            raise ValueError(f"checkpoint {directory} is incomplete: {name} is missing")
        if _sha256(path) != digest:
            raise ValueError(
                f"checkpoint {directory} is corrupted: {name} does not match its checksum "
                "(truncated or modified); resume from an earlier checkpoint or start again"
            )
    return directory


def load_tensors(
    directory: str | os.PathLike, name: str, like: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """``<name>.safetensors``; with ``like`` (a module's state dict) it must hold exactly those
    tensors, with their shapes and dtypes."""
    path = Path(directory) / f"{name}.safetensors"
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as error:
        raise ValueError(f"checkpoint file {path} cannot be read: {error}") from None
    if like is not None:
        missing, unexpected = sorted(like.keys() - tensors), sorted(tensors.keys() - like)
        if missing or unexpected:
            raise ValueError(
                f"checkpoint file {path} does not fit the model: missing tensors "
                f"{missing[:5]}, unexpected tensors {unexpected[:5]}"
            )
        for key, tensor in tensors.items():
            if tensor.shape != like[key].shape or tensor.dtype != like[key].dtype:
                raise ValueError(
                    f"checkpoint file {path}: {key} is {tensor.dtype} of shape "
                    f"{tuple(tensor.shape)}, expected {like[key].dtype} of {tuple(like[key].shape)}"
                )
    return tensors


def load_meta(directory: str | os.PathLike, fields: dict[str, type]) -> dict[str, Any]:
    """state.json, which must be an object holding each of ``fields`` with a value of its type
    (integers at least 0); the caller checks what else it needs of the values."""
    path = Path(directory) / "state.json"
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"checkpoint file {path} cannot be read: {error}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"checkpoint file {path} must hold a JSON object, got {meta!r:.80}")
    missing = sorted(set(fields) - set(meta))
    if missing:
        raise ValueError(f"checkpoint file {path} lacks {missing}")
    for key, kind in fields.items():
        value = meta[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(
                f"checkpoint file {path}: {key} must be a JSON {kind.__name__}, "
                f"got {json.dumps(value)[:80]}"
            )
        if kind is int and value < 0:
            raise ValueError(f"checkpoint file {path}: {key} must be at least 0, got {value}")
    return meta


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint of a run directory, or None."""
    folder = Path(run_dir) / "checkpoints"
    found = folder.glob("iter-*") if folder.is_dir() else []
    done = sorted(p for p in found if p.suffix != ".partial" and (p / MANIFEST).is_file())
    return done[-1] if done else None
