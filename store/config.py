"""Repo settings: ``parity.yaml`` at the top of a feature repo, plus environment overrides.

Unknown keys are errors (a typo must not silently fall back to a default). Environment
variables win over the file: ``PARITY_REDIS_URL`` (online URL) and ``PARITY_API_KEYS``
(comma-separated server keys).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from store.errors import ConfigError

CONFIG_FILE = "parity.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OfflineConfig(_Strict):
    """DuckDB settings for training frames and materialization."""

    type: Literal["duckdb"] = "duckdb"
    memory_limit: str = "4GB"
    threads: int | None = None
    temp_directory: str | None = None


class OnlineConfig(_Strict):
    """Redis settings. With no ``url`` the store runs its own redis-server in the data folder."""

    type: Literal["redis"] = "redis"
    url: str | None = None
    cluster: bool = False
    socket_timeout: float = 2.0
    max_connections: int = 64

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return url


class ServerConfig(_Strict):
    """Feature server settings."""

    api_keys: tuple[str, ...] = ()
    max_entities: int = 1000
    max_body_bytes: int = 1_000_000
    log_sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    log_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    log_max_files: int = Field(default=8, gt=0)
    log_rotate_seconds: float | None = Field(default=86_400.0, gt=0)
    log_retention_seconds: float | None = Field(default=7 * 86_400.0, gt=0)

    @field_validator("api_keys")
    @classmethod
    def _no_blank_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        # " , " used to leave the server open without a word: a blank key is a mistake.
        blank = [i for i, k in enumerate(keys) if not k.strip()]
        if blank:
            raise ValueError(
                f"key {blank[0] + 1} of {len(keys)} is empty or blank (PARITY_API_KEYS is a "
                "comma-separated list such as 'k1,k2'); remove it, or unset PARITY_API_KEYS to "
                "serve without keys"
            )
        return tuple(k.strip() for k in keys)


class RepoConfig(_Strict):
    """The whole of ``parity.yaml``."""

    project: str
    data_dir: str = "data"
    offline: OfflineConfig = OfflineConfig()
    online: OnlineConfig = OnlineConfig()
    server: ServerConfig = ServerConfig()

    @field_validator("project")
    @classmethod
    def _project_name(cls, name: str) -> str:
        from store.types import check_name

        try:
            return check_name(name, what="project")
        except ValueError as exc:
            raise ValueError(str(exc)) from None


def load_config(repo: Path) -> RepoConfig:
    """Read ``repo/parity.yaml`` and apply environment overrides."""
    path = repo / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {repo}: run parity in a feature repo folder or pass --repo PATH. "
            f"A feature repo is a folder with a {CONFIG_FILE} (at least `project: NAME`) and a "
            "Python module of definitions; Parity's own checkout has an example in "
            "definitions/ (`parity quickstart` runs it there)"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping with at least 'project: NAME'")
    env_url = os.environ.get("PARITY_REDIS_URL")
    if env_url:
        raw.setdefault("online", {})
        raw["online"] = {**(raw["online"] or {}), "url": env_url}
    env_keys = os.environ.get("PARITY_API_KEYS")
    if env_keys:  # set and not empty (empty, as compose passes an unset one, means unset)
        raw["server"] = {**(raw.get("server") or {}), "api_keys": env_keys.split(",")}
    try:
        return RepoConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
