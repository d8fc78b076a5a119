"""Operator settings, read once at startup from ``DEVENV_*`` environment variables.

The settings object is passed to whatever needs it; nothing reads the environment later.
``describe()`` lists every setting with its default for the README and ``--help``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from devenv_operator.models import DNS_LABEL, parse_duration

PREFIX = "DEVENV_"


def _parsed(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _longer_than_zero(value: timedelta | None) -> timedelta | None:
    # Zero would mean a busy reconcile loop, or deleting every environment on sight.
    if value is not None and value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


# A duration such as 90s, 15m, 1h30m or 7d; typed: zero is zero, never "unset".
Duration = Annotated[timedelta, BeforeValidator(_parsed)]
Positive = Annotated[timedelta, BeforeValidator(_parsed), AfterValidator(_longer_than_zero)]


class SettingsError(ValueError):
    """Raised when a DEVENV_* variable has an invalid value."""


class Settings(BaseModel):
    """Every operator setting; the environment variable is DEVENV_<NAME in upper case>."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace_prefix: str = Field(
        "dev-", pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?-?)?$",
        description="Prefix of the default namespace (prefix + DevEnvironment name).",
    )
    default_ttl: Positive | None = Field(
        None, description="TTL for environments that set neither ttl nor expiresAt (none).")
    max_ttl: Positive | None = Field(
        None, description="Longest lifetime allowed; longer requests are clamped (none).")
    expiry_warning: Duration = Field(
        "15m", validate_default=True,
        description="How long before expiry the ExpiringSoon Event and condition appear "
        "(0s: no warning).")
    resync_interval: Positive = Field(
        "5m", validate_default=True,
        description="How often a settled environment is re-checked for drift; each "
        "re-check also re-reads its children from the API instead of the operator's cache.")
    provisioning_recheck: Positive = Field(
        "5s", validate_default=True,
        description="How often a provisioning environment re-reads its pods' state.")
    image_pull_fail_after: Positive = Field(
        "2m", validate_default=True,
        description="How long an image may keep failing to pull before the environment "
        "is Failed/ImagePullFailed (a class's failFast overrides it).")
    crash_loop_restarts: int = Field(
        3, ge=1, le=1000, description="Restarts of a container still not running after which "
        "the environment is Failed/CrashLooping (a class's failFast overrides it).")
    workers: int = Field(
        16, ge=1, le=256, description="Threads for blocking API calls (also the connection pool).")
    metrics_port: int = Field(
        8080, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz (0: off).")
    log_format: Literal["text", "json"] = Field("text", description="Log format: text or json.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level.")
    require_class: bool = Field(
        True, description="Refuse (ClassNotFound) an environment that names no class on a "
        "cluster with no default class, instead of running it without a class's guardrails.")
    peering: str | None = Field(
        None, description="Kopf peering name for several replicas (none: standalone).")


# What the kubelet injects for every Service in the pod's namespace (service links): a
# Service named devenv-operator-metrics gives DEVENV_OPERATOR_METRICS_SERVICE_HOST and the
# like. They are not settings, and must not stop the operator from starting.
_SERVICE_LINK = re.compile(
    r"^[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)"
    r"(_PROTO|_PORT|_ADDR)?)?)$")


def load(environ: Mapping[str, str]) -> Settings:
    """Settings from an environment mapping; unknown DEVENV_* names are an error (except
    the variables Kubernetes injects for Services, which only look like settings)."""
    values: dict[str, Any] = {}
    fields = Settings.model_fields
    for key, raw in environ.items():
        if not key.startswith(PREFIX):
            continue
        if key[len(PREFIX):].lower() not in fields and _SERVICE_LINK.match(key):
            continue
        name = key[len(PREFIX):].lower()
        if name not in fields:
            raise SettingsError(f"unknown setting {key}; known: "
                                + ", ".join(PREFIX + f.upper() for f in fields))
        if raw.strip() != "":  # set but empty: keep the default
            values[name] = raw.strip()
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{PREFIX}{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors())
        raise SettingsError(problems) from exc
    if settings.namespace_prefix and not _valid_prefix(settings.namespace_prefix):
        raise SettingsError(f"{PREFIX}NAMESPACE_PREFIX: {settings.namespace_prefix!r} is invalid")
    return settings


def _valid_prefix(prefix: str) -> bool:
    return re.fullmatch(DNS_LABEL, prefix.rstrip("-") or "a") is not None


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting."""
    rows = []
    for name, info in Settings.model_fields.items():
        default = "(none)" if info.default is None else str(info.default)
        rows.append((PREFIX + name.upper(), default, info.description or ""))
    return rows
