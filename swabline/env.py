"""Typed readers for settings that come from the environment."""

from __future__ import annotations

import os


class MissingSetting(RuntimeError):
    """A setting that production cannot run without is absent."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return int(raw)


def env_list(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_required(name: str, hint: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise MissingSetting(f"{name} must be set in production. {hint}")
    return value
