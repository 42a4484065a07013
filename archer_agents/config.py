"""What every algorithm's config dataclass shares: ``replace`` that names the unknown keys."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

C = TypeVar("C")


def replace_config(config: C, overrides: dict[str, Any]) -> C:
    """``dataclasses.replace`` that refuses unknown keys, naming them and the known ones."""
    names = sorted(field.name for field in dataclasses.fields(config))
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        label = getattr(config, "label", type(config).__name__)
        raise ValueError(f"unknown {label} config keys {unknown}; known: {names}")
    return dataclasses.replace(config, **overrides)


class Config:
    """Base of the algorithms' config dataclasses; ``label`` names the algorithm in errors."""

    label = "algorithm"

    def replace(self: C, **overrides: Any) -> C:
        return replace_config(self, overrides)
