"""`dispatch` section of params.yaml: where and how `retrain dispatch` sends repository_dispatch."""

from __future__ import annotations

from pydantic import Field

from retrain.config.base import Section


class DispatchSection(Section):
    # owner/name; empty = $GITHUB_REPOSITORY (set on Actions runners) or --repo.
    repository: str = Field("", pattern=r"^$|^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
    # GitHub Enterprise Server: https://HOST/api/v3. $GITHUB_API_URL or --api-url override it.
    api_url: str = Field("https://api.github.com", pattern=r"^https?://[^\s]+$")
    # Name of the environment variable holding the token (never the token itself).
    token_env: str = Field("GITHUB_TOKEN", pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")
    # Retries on 5xx / 429 / rate-limit 403 / network errors, exponential backoff.
    retries: int = Field(4, ge=0, le=10)
    backoff_s: float = Field(1.0, ge=0, le=60)
    max_backoff_s: float = Field(60.0, ge=0, le=600)
    timeout_s: float = Field(10.0, gt=0, le=120)
