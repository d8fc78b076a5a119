"""PURE comparison of a desired object with the observed one: does it need an apply?

A write is skipped only when the observed object already carries everything we would
apply (same fields, same values; quantities compared by value, so ``1000m`` equals ``1``)
and the hash of our last applied configuration is unchanged (which catches fields we
stopped setting, which a subset check alone would miss). Secret and ConfigMap data are
compared exactly and are never hashed into an annotation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from devenv_operator.builders.common import HASH_ANNOTATION

_DATA_FIELDS = ("data", "stringData", "binaryData")
_SUFFIX = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}


def parse_quantity(value: str | int | float) -> Decimal | None:
    """A Kubernetes quantity as a number, or None if it is not one."""
    text = str(value).strip()
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            number, factor = text[: -len(suffix)], _SUFFIX[suffix]
            break
    else:
        number, factor = text, Decimal(1)
    try:
        return Decimal(number) * factor
    except InvalidOperation:
        return None


def config_hash(obj: Mapping[str, Any]) -> str:
    """A short hash of what we apply, without any Secret/ConfigMap data."""
    trimmed = {k: v for k, v in obj.items() if k not in _DATA_FIELDS}
    meta = dict(trimmed.get("metadata", {}))
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != HASH_ANNOTATION}
    meta["annotations"] = annotations
    trimmed["metadata"] = meta
    encoded = json.dumps(trimmed, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def with_hash(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of obj annotated with its config hash."""
    out = dict(obj)
    meta = dict(out.get("metadata", {}))
    meta["annotations"] = {**(meta.get("annotations") or {}), HASH_ANNOTATION: config_hash(obj)}
    out["metadata"] = meta
    return out


def _same_scalar(want: Any, have: Any, quantity: bool) -> bool:
    if want == have:
        return True
    if quantity and have is not None:
        a, b = parse_quantity(want), parse_quantity(have)
        return a is not None and a == b
    return False


def is_subset(want: Any, have: Any, path: tuple[str, ...] = ()) -> bool:
    """Whether ``have`` contains everything in ``want`` (lists compared element-wise)."""
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return False
        return all(is_subset(v, have.get(k), (*path, str(k))) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return False
        return all(is_subset(w, h, path) for w, h in zip(want, have, strict=True))
    quantity = len(path) >= 2 and path[-2] in ("requests", "limits")
    return _same_scalar(want, have, quantity)


def needs_apply(desired: Mapping[str, Any], observed: Mapping[str, Any] | None) -> bool:
    """Whether applying ``desired`` (already hashed by with_hash) would change anything."""
    if observed is None:
        return True
    if observed.get("metadata", {}).get("deletionTimestamp"):
        return True
    want_hash = (desired.get("metadata", {}).get("annotations") or {}).get(HASH_ANNOTATION)
    have_hash = (observed.get("metadata", {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if want_hash != have_hash:
        return True
    for field in _DATA_FIELDS:
        if field in desired and (desired[field] or {}) != (observed.get(field) or {}):
            return True
    rest = {k: v for k, v in desired.items() if k not in _DATA_FIELDS}
    return not is_subset(rest, observed)


def needs_replace(desired: Mapping[str, Any], observed: Mapping[str, Any]) -> bool:
    """Whether applying ``desired`` over ``observed`` changes a field the API server keeps
    immutable (a Secret's ``type``; a Deployment's ``spec.selector``; a RoleBinding's
    ``roleRef``, e.g. the owner's when the class's ownerRole changes): delete, then create."""
    if desired.get("kind") == "RoleBinding":
        return desired.get("roleRef") != observed.get("roleRef")
    if desired.get("kind") == "Secret":
        return (desired.get("type") or "Opaque") != (observed.get("type") or "Opaque")
    if desired.get("kind") == "Deployment":
        want = (desired.get("spec") or {}).get("selector")
        have = (observed.get("spec") or {}).get("selector")
        return want is not None and have is not None and want != have
    return False


_POD_LISTS = ("containers", "initContainers")


def foreign_containers(desired: Mapping[str, Any], observed: Mapping[str, Any] | None
                       ) -> list[dict[str, Any]]:
    """A JSON patch that removes from an observed Deployment's pod template the containers
    (and init containers) ``desired`` does not name: added by someone else, which a
    server-side apply keeps (they belong to another field manager). Each removal is guarded
    by a test of the container's name, so a stale view fails the patch instead of removing
    the wrong one. Empty when there is none (or the object is not a Deployment)."""
    if desired.get("kind") != "Deployment" or not observed:
        return []
    want = ((desired.get("spec") or {}).get("template") or {}).get("spec") or {}
    have = ((observed.get("spec") or {}).get("template") or {}).get("spec") or {}
    ops: list[dict[str, Any]] = []
    for field in _POD_LISTS:
        named = {c.get("name") for c in want.get(field) or []}
        for index in reversed(range(len(have.get(field) or []))):
            name = have[field][index].get("name")
            if name not in named:
                path = f"/spec/template/spec/{field}/{index}"
                ops += [{"op": "test", "path": f"{path}/name", "value": name},
                        {"op": "remove", "path": path}]
    return ops
