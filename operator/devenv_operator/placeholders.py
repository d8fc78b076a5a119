"""PURE placeholders ``$(params.NAME)``: where a template may write one, and what replaces it.

Substitution. Only values are substituted, never map keys. A string that is exactly one
placeholder takes the parameter's typed value (an integer stays an integer); a placeholder
inside a longer string is replaced by the value's text (booleans as ``true``/``false``).
An optional parameter with no default and no value leaves out a value that is just its
placeholder (a key, or a list item) and is empty text inside a longer string.

Schema. The template's ``services`` and ``config`` reuse the DevEnvironment spec's structural
schema, changed by ``accept_placeholders`` so a placeholder is accepted where the author may
write one:

- integer leaves become ``x-kubernetes-int-or-string`` with the placeholder as ``pattern``
  (OpenAPI applies ``pattern`` to strings only and ``minimum``/``maximum`` to integers only,
  as kubebuilder's Quantity fields do), so ``replicas: 25`` is still refused at apply;
- boolean leaves lose their type and get ``x-kubernetes-preserve-unknown-fields``: int-or-
  string cannot hold a boolean and ``anyOf`` alone is not structural, and a preserve-unknown
  leaf is one of the two exceptions to "every node has a type" (the other being
  int-or-string). Such a leaf accepts any value at apply; ``check_template`` and ``render``
  refuse a wrong one through the models;
- a string ``pattern`` or ``enum`` becomes "the original pattern, or contains a placeholder";
  formats are dropped;
- a map-keyed list whose key field lost its type becomes atomic (list-map keys must be typed
  scalars), and the Quantity CEL rule lets a placeholder through;
- a CEL rule that reads a boolean leaf is dropped (CEL cannot see an untyped field, and the
  CRD would not compile); ``check_template`` and ``render`` still apply it through the models.

Descriptions stay, so ``kubectl explain devenvtpl.spec.services`` prints what
``devenv.spec.services`` does. ``templates`` uses both and re-exports the public names.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devenv_operator.fields import QUANTITIES
from devenv_operator.parameters import as_text

PLACEHOLDER = re.compile(r"\$\(params\.([a-zA-Z][a-zA-Z0-9_]*)\)")
# A template string holding exactly one placeholder (the schema's pattern for integer leaves).
WHOLE_PLACEHOLDER = r"^\$\(params\.[a-zA-Z][a-zA-Z0-9_]*\)$"


def spec_path(path: tuple[str | int, ...]) -> str:
    """Where in a DevEnvironment spec ``path`` points, e.g. ``spec.services.1.replicas``."""
    return ".".join(str(p) for p in ("spec", *path))


_OMIT = object()  # what a lone placeholder of an optional parameter left unset becomes


@dataclass
class Substitution:
    """Placeholders replaced by values; problems collected with the path where they are."""

    values: Mapping[str, bool | int | str]
    declared: frozenset[str]
    problems: list[str]

    def apply(self, node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, dict):
            pairs = ((k, self.apply(v, (*path, k))) for k, v in node.items())
            return {k: v for k, v in pairs if v is not _OMIT}
        if isinstance(node, list):
            items = (self.apply(v, (*path, i)) for i, v in enumerate(node))
            return [v for v in items if v is not _OMIT]
        if not isinstance(node, str) or "$(" not in node:
            return node
        undeclared = [n for n in PLACEHOLDER.findall(node) if n not in self.declared]
        if undeclared:
            self.problems.append(f"{spec_path(path)}: $(params.{undeclared[0]}) names no "
                                 "declared parameter")
            return node
        if "$(params." in PLACEHOLDER.sub("", node):
            self.problems.append(f"{spec_path(path)}: malformed placeholder in {node[:80]!r} "
                                 "(write $(params.NAME))")
            return node
        whole = PLACEHOLDER.fullmatch(node)
        if whole:
            return self.values.get(whole.group(1), _OMIT)
        return PLACEHOLDER.sub(lambda m: as_text(self.values.get(m.group(1), "")), node)


# --- schema ------------------------------------------------------------------------------

# The Quantity rule of the models, and the same rule letting a placeholder through.
_QUANTITY_RULE = QUANTITIES["x-kubernetes-validations"][0]["rule"]
_TEMPLATE_QUANTITY_RULE = ("self.all(k, string(self[k]).contains('$(params.') || "
                           "isQuantity(string(self[k])))")
_ANYWHERE = PLACEHOLDER.pattern


def _list_keys_untyped(node: Mapping[str, Any]) -> bool:
    items = node.get("items") or {}
    keys = node.get("x-kubernetes-list-map-keys") or []
    props = items.get("properties") or {}
    if node.get("x-kubernetes-list-type") == "set":
        return "type" not in items
    return any("type" not in props.get(k, {}) for k in keys)


def _integer(node: dict[str, Any]) -> None:
    del node["type"]
    node["x-kubernetes-int-or-string"] = True
    node["pattern"] = WHOLE_PLACEHOLDER


def _boolean(node: dict[str, Any]) -> None:
    del node["type"]
    node["x-kubernetes-preserve-unknown-fields"] = True


def _string(node: dict[str, Any]) -> None:
    node.pop("format", None)
    allowed = node.pop("enum", None)
    pattern = node.pop("pattern", None)
    if allowed is not None:
        pattern = "^(?:" + "|".join(re.escape(str(v)) for v in allowed) + ")$"
    if pattern is not None:
        node["pattern"] = f"(?:{pattern})|{_ANYWHERE}"


# How a leaf of each type is changed to accept a placeholder (in place).
_LEAVES: dict[Any, Callable[[dict[str, Any]], None]] = {
    "integer": _integer, "boolean": _boolean, "string": _string}


def accept_placeholders(node: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the structural schema ``node`` that accepts a placeholder wherever a value
    may be written (see the module's docstring), its descriptions kept."""
    out = dict(node)
    if "properties" in out:
        out["properties"] = {k: accept_placeholders(v) for k, v in out["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), Mapping):
            out[key] = accept_placeholders(out[key])
    leaf = _LEAVES.get(out.get("type"))
    if leaf is not None:
        leaf(out)
    if out.get("x-kubernetes-list-type") in ("map", "set") and _list_keys_untyped(out):
        out["x-kubernetes-list-type"] = "atomic"
        out.pop("x-kubernetes-list-map-keys", None)
    if "x-kubernetes-validations" in out:
        untyped = [k for k, v in (out.get("properties") or {}).items() if "type" not in v
                   and v.get("x-kubernetes-preserve-unknown-fields")]
        out["x-kubernetes-validations"] = [
            {**v, "rule": _TEMPLATE_QUANTITY_RULE} if v["rule"] == _QUANTITY_RULE else v
            for v in out["x-kubernetes-validations"]
            if not any(re.search(rf"\bself\.{k}\b", v["rule"]) for k in untyped)]
        if not out["x-kubernetes-validations"]:
            del out["x-kubernetes-validations"]
    return out
