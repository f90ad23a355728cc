"""Prompts are data: YAML files in `agents/prompts/`, loaded once and validated."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from core.errors import ConfigError

PROMPTS_DIR = Path(__file__).parent / "prompts"


@lru_cache(maxsize=16)
def load_prompt(name: str) -> dict[str, str]:
    """The mapping in `agents/prompts/<name>.yaml` (every value a string)."""
    path = PROMPTS_DIR / f"{name}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Prompt file {path} is missing or invalid: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"Prompt file {path} must map names to strings.")
    return data
