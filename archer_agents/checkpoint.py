"""Checkpoints without pickle: safetensors for tensors (weights, optimizer moments, the torch
RNG), JSON for the rest, JSONL for the replay buffer, and a manifest of SHA-256 sums so that a
truncated or edited file is reported instead of silently loaded.

A checkpoint is a directory ``checkpoints/iter-NNNNNN/``, written under a temporary name and
renamed into place when complete: a run killed while saving keeps its previous checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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


def optimizer_from_files(optimizer: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for flat, value in [*tensors.items(), *meta["scalars"].items()]:
        index, key = flat.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(directory: str | os.PathLike, tensors: dict[str, dict[str, torch.Tensor]],
                    meta: dict[str, Any], files: dict[str, Any] | None = None,
                    keep: int = 2) -> Path:  # fmt: skip
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


def verify_checkpoint(directory: str | os.PathLike) -> Path:
    """Raise ValueError with a clear message unless every file matches the manifest."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ValueError(f"{directory} is not a complete checkpoint (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"checkpoint {directory}: corrupted {MANIFEST}: {error}") from None
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


def load_tensors(directory: str | os.PathLike, name: str) -> dict[str, torch.Tensor]:
    path = Path(directory) / f"{name}.safetensors"
    try:
        return load_file(path)
    except (SafetensorError, OSError) as error:
        raise ValueError(f"checkpoint file {path} cannot be read: {error}") from None


def load_meta(directory: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(directory) / "state.json").read_text())


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint of a run directory, or None."""
    folder = Path(run_dir) / "checkpoints"
    found = folder.glob("iter-*") if folder.is_dir() else []
    done = sorted(p for p in found if p.suffix != ".partial" and (p / MANIFEST).is_file())
    return done[-1] if done else None
