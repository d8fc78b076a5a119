"""PURE lifecycle policy: when an environment expires, and when to warn about it.

The effective expiry is ``spec.expiresAt`` when set, else ``creationTimestamp + spec.ttl``,
else ``creationTimestamp +`` the operator's default TTL (unless the environment carries the
annotation ``shipit.dev/keep: "true"``). The operator's maximum lifetime clamps all of them.
Everything is derived from the resource itself, so it survives operator restarts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from devenv_operator import classes, models

KEEP_ANNOTATION = "shipit.dev/keep"


@dataclass(frozen=True)
class Expiry:
    """The effective expiry of one environment."""

    at: datetime | None
    warn_at: datetime | None
    clamped_note: str | None = None  # set when the request exceeded the maximum lifetime


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_MIN = datetime.min.replace(tzinfo=UTC)
_MAX = datetime.max.replace(tzinfo=UTC)


def shift(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, saturating at the ends of time instead of raising OverflowError."""
    try:
        return _aware(moment) + delta
    except OverflowError:
        return _MAX if delta > timedelta(0) else _MIN


def effective_expiry(
    spec: models.DevEnvironmentSpec,
    created_at: datetime,
    annotations: Mapping[str, str],
    *,
    default_ttl: timedelta | None,
    max_ttl: timedelta | None,
    warning: timedelta,
) -> Expiry:
    created_at = _aware(created_at)
    requested: datetime | None = None
    if spec.expires_at is not None:
        requested = _aware(spec.expires_at)
    elif spec.ttl:
        requested = shift(created_at, models.parse_duration(spec.ttl))
    elif default_ttl is not None and annotations.get(KEEP_ANNOTATION) != "true":
        requested = shift(created_at, default_ttl)
    note = None
    if max_ttl is not None:
        cap = shift(created_at, max_ttl)
        if requested is None or requested > cap:
            if requested is not None:
                note = (f"requested expiry {requested:%Y-%m-%dT%H:%M:%SZ} exceeds the maximum "
                        f"lifetime of {models.format_duration(max_ttl)}; clamped to "
                        f"{cap:%Y-%m-%dT%H:%M:%SZ}")
            requested = cap
    if requested is None:
        return Expiry(None, None)
    return Expiry(requested, shift(requested, -warning), note)


def expiry_of(raw_spec: Mapping[str, Any] | None, spec: models.DevEnvironmentSpec | None,
              created_at: datetime, annotations: Mapping[str, str], *,
              default_ttl: timedelta | None, max_ttl: timedelta | None,
              warning: timedelta, policy: classes.DevEnvironmentClassSpec | None = None
              ) -> Expiry:
    """The effective expiry; the class's lifetime (``policy``) overrides the operator's
    settings. An invalid spec (``spec`` None) still has its readable ``ttl`` and the
    policy honoured, so a broken environment cannot live for ever."""
    if spec is None:
        raw_ttl = (raw_spec or {}).get("ttl")
        ttl = raw_ttl if isinstance(raw_ttl, str) and re.fullmatch(models.DURATION,
                                                                   raw_ttl) else None
        spec = models.DevEnvironmentSpec.model_construct(ttl=ttl, expires_at=None, services=[])
    if policy is not None:
        class_default, class_max = policy.duration("default_ttl"), policy.duration("max_ttl")
        default_ttl = models.parse_duration(class_default) if class_default else default_ttl
        max_ttl = models.parse_duration(class_max) if class_max else max_ttl
    return effective_expiry(spec, created_at, annotations, default_ttl=default_ttl,
                            max_ttl=max_ttl, warning=warning)
