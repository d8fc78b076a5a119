"""PURE an environment's overrides merged onto the services and config a template rendered.

The environment's ``spec.services`` and ``spec.config`` are literal: they are merged after
substitution, never substituted. Services, ConfigMaps and Secrets are merged by name (an
override naming no item of the template adds one); everything else is a JSON merge patch
(``null`` removes a key), except that setting one key of a one-of group (a Secret's
``stringData``/``generate``/``copyFrom``, a probe's handler) drops the template's others.
``templates.render`` calls this and re-exports ``merge_by_name``.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# Keys of which an object may set only one: an override setting one drops the others.
_ONE_OF = (("stringData", "generate", "copyFrom"), ("exec", "httpGet", "tcpSocket", "grpc"))


def merge(base: Any, override: Any) -> Any:
    """JSON merge patch (null removes), except that setting one of a one-of group drops the
    others: an override that gives a Secret ``generate`` replaces the template's source."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    out = dict(base)
    for group in _ONE_OF:
        if any(key in override for key in group):
            for key in group:
                out.pop(key, None)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(base.get(key), value)
    return out


def merge_by_name(base: list[Any], overrides: list[Any], where: str) -> list[Any] | str:
    """Items of ``overrides`` merged onto the items of ``base`` with the same name, new names
    appended; or a problem when an override has no name."""
    merged = list(base)
    for i, item in enumerate(overrides):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            return f"{where}.{i}: an override needs a name"
        at = next((j for j, b in enumerate(merged)
                   if isinstance(b, dict) and b.get("name") == name), None)
        if at is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[at] = merge(merged[at], item)
    return merged


def merge_config(base: dict[str, Any] | None,
                 override: Mapping[str, Any] | None) -> dict[str, Any] | str | None:
    """``override`` (an environment's ``spec.config``) merged onto a template's config, its
    ConfigMaps and Secrets by name; or a problem when an override has no name."""
    if not override:
        return base
    out = dict(base or {})
    for key, value in override.items():
        if key in ("configMaps", "secrets") and isinstance(value, list):
            listed = out.get(key)
            merged = merge_by_name(listed if isinstance(listed, list) else [], value,
                                   f"spec.config.{key}")
            if isinstance(merged, str):
                return merged
            out[key] = merged
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out

