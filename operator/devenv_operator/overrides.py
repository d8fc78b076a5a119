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
import re
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




def _parameters_in(value: Any, placeholder: re.Pattern[str]) -> list[str]:
    """The parameters a template value is filled from (placeholders anywhere in it)."""
    if isinstance(value, str):
        return placeholder.findall(value)
    if isinstance(value, dict):
        return [p for v in value.values() for p in _parameters_in(v, placeholder)]
    if isinstance(value, list):
        return [p for v in value for p in _parameters_in(v, placeholder)]
    return []


def _overridden_parameter(base: Any, rendered: Any, override: Any, where: str,
                          placeholder: re.Pattern[str]) -> str | None:
    if not isinstance(override, dict) or not isinstance(base, dict):
        return None
    rendered = rendered if isinstance(rendered, dict) else {}
    for key, value in override.items():
        if key not in base or key == "name":
            continue
        if isinstance(base[key], dict) and isinstance(value, dict):  # merged key by key
            found = _overridden_parameter(base[key], rendered.get(key), value,
                                          f"{where}.{key}", placeholder)
            if found:
                return found
            continue
        used = _parameters_in(base[key], placeholder)
        if used and value != rendered.get(key, base[key]):  # the value it renders to is fine
            return (f"{where}.{key}: the template fills it from parameter {used[0]}; set the "
                    "parameter in spec.parameters (its rules apply), not an override")
    return None


def parameter_bypass(base: list[Any], rendered: list[Any], overrides: list[Any], where: str,
                     placeholder: re.Pattern[str]) -> str | None:
    """Why an override would replace what the template fills from a parameter, else None.

    An override is literal: were it allowed to set a parameterized field (an image from
    ``$(params.apiImage)``), the parameter's rules (allowedRegistries, enum, bounds) would be
    skipped; repeating the value the parameter gives is not. ``base`` is the template's
    items before substitution, ``rendered`` after; ``placeholder`` finds the parameters in a
    value (``placeholders.PLACEHOLDER``)."""
    named = {b.get("name"): b for b in base if isinstance(b, dict)}
    done = {b.get("name"): b for b in rendered if isinstance(b, dict)}
    for item in overrides:
        if isinstance(item, dict) and item.get("name") in named:
            found = _overridden_parameter(named[item["name"]], done.get(item["name"]), item,
                                          f"{where}[{item['name']}]", placeholder)
            if found:
                return found
    return None


def config_bypass(base: Mapping[str, Any] | None, rendered: Mapping[str, Any] | None,
                  override: Mapping[str, Any] | None,
                  placeholder: re.Pattern[str]) -> str | None:
    """As ``parameter_bypass``, for the ConfigMaps and Secrets of ``spec.config``."""
    for key in ("configMaps", "secrets"):
        listed = (base or {}).get(key)
        wanted = (override or {}).get(key)
        if isinstance(listed, list) and isinstance(wanted, list):
            done = (rendered or {}).get(key)
            found = parameter_bypass(listed, done if isinstance(done, list) else [], wanted,
                                     f"spec.config.{key}", placeholder)
            if found:
                return found
    return None
