"""Generate the DevEnvironment CustomResourceDefinition from the pydantic models.

Pydantic emits JSON Schema (``$ref``, ``anyOf`` with null for optionals, titles); the API
server wants a structural OpenAPI v3 schema. This module inlines references, turns optionals
into plain optional properties, and keeps descriptions, defaults, bounds, patterns and our
``x-kubernetes-*`` extensions. ``make manifests`` writes its output to ``crds/``.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from devenv_operator import classes, models, templates

_DROP = {"title", "additionalProperties", "$defs", "discriminator"}


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return {**_resolve(target, defs), **siblings}
    return schema


def _is_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null"


# Keys of a JSON Schema node that a structural schema does not keep as they are.
_SKIPPED = _DROP | {"anyOf", "required", "propertyNames"}  # propertyNames: the operator checks


def _union(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """An ``anyOf``: an optional (one type or null), int-or-string, or boolean-or-object
    (such as ``expose: true | {path: /}``: kept as it comes, the operator validates it)."""
    variants = schema["anyOf"]
    non_null = [v for v in variants if not _is_null(v)]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if len(non_null) == 1:
        return _convert({**_resolve(non_null[0], defs), **rest}, defs)
    types = {_resolve(v, defs).get("type") for v in non_null}
    if types == {"integer", "string"}:
        either = _convert(rest, defs)
        either["x-kubernetes-int-or-string"] = True
        return either
    if types == {"boolean", "object"}:
        return {**{k: v for k, v in rest.items() if k == "description"},
                "x-kubernetes-preserve-unknown-fields": True}
    raise ValueError(f"unsupported union in schema: {variants}")


def _value(key: str, value: Any, defs: dict[str, Any]) -> Any:
    if key == "properties":
        return {name: _convert(sub, defs) for name, sub in value.items()}
    if key == "items":
        return _convert(value, defs)
    return value


def _required(schema: dict[str, Any]) -> list[str]:
    # Fields with a default are filled by the API server, so not required from users.
    return [r for r in schema.get("required") or []
            if "default" not in schema["properties"][r]]


def _convert(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(schema, defs)
    if schema.get("anyOf") is not None:
        return _union(schema, defs)
    out = {key: _value(key, value, defs) for key, value in schema.items()
           if key not in _SKIPPED and not (key == "default" and value is None)}
    if "properties" in schema:
        required = _required(schema)
        if required:
            out["required"] = required
        out["type"] = "object"
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict) and "properties" not in schema:
        out["additionalProperties"] = _convert(additional, defs)
        out["type"] = "object"
    free_form = "properties" not in out and "additionalProperties" not in out
    if out.get("type") == "object" and free_form:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if "const" in out:  # a one-value Literal: the API server's schemas know no const
        out["enum"] = [out.pop("const")]
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a model, camelCase field names."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}))


def _printer_columns() -> list[dict[str, Any]]:
    return [
        {"name": "Namespace", "type": "string", "jsonPath": ".status.namespace"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Ready", "type": "string", "jsonPath": ".status.readyServices"},
        # A "date" column renders future times as <invalid>; show the timestamp instead.
        {"name": "Expires", "type": "string", "jsonPath": ".status.expiresAt"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "URL", "type": "string", "jsonPath": ".status.url"},  # the first exposed
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    ]


def _without_service_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """No API-server default for services[].replicas (nor jobs[].backoffLimit): with a
    templateRef, services and jobs are overrides merged onto the template's, and a defaulted
    ``replicas: 1`` would silently replace the template's value. The operator applies the
    same defaults when it reads a spec."""
    service = spec["properties"]["services"]["items"]["properties"]
    service["replicas"].pop("default", None)
    spec["properties"]["jobs"]["items"]["properties"]["backoffLimit"].pop("default", None)
    # ports[].protocol keeps its default: it is a list-map key, and a ports override
    # replaces the template's list as a whole anyway.
    return spec


@dataclass(frozen=True)
class _Names:
    kind: str
    plural: str
    singular: str
    short_names: list[str]


def _definition(names: _Names, description: str, schemas: dict[str, dict[str, Any]],
                columns: list[dict[str, Any]], *,
                rules: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A cluster-scoped CRD of the shipit.dev group; a status subresource if it has one."""
    root: dict[str, Any] = {"type": "object", "description": description, "required": ["spec"]}
    if rules:
        root["x-kubernetes-validations"] = rules
    root["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                          "metadata": {"type": "object"}, **schemas}
    version: dict[str, Any] = {"name": models.VERSION, "served": True, "storage": True}
    if "status" in schemas:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = columns
    version["schema"] = {"openAPIV3Schema": root}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{names.plural}.{models.GROUP}",
            "labels": {"app.kubernetes.io/name": "devenv-operator"},
        },
        "spec": {
            "group": models.GROUP,
            "scope": "Cluster",
            "names": {
                "kind": names.kind,
                "listKind": f"{names.kind}List",
                "plural": names.plural,
                "singular": names.singular,
                "shortNames": names.short_names,
                "categories": models.CATEGORIES,
            },
            "versions": [version],
        },
    }


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def crd() -> dict[str, Any]:
    """The DevEnvironment CustomResourceDefinition."""
    return _definition(
        _Names(models.KIND, models.PLURAL, models.SINGULAR, models.SHORT_NAMES),
        "A development environment: a namespace with services and seeded config.",
        {"spec": _without_service_defaults(model_schema(models.DevEnvironmentSpec)),
         "status": model_schema(models.DevEnvironmentStatus)},
        _printer_columns(),
        # The name is the value of the shipit.dev/environment label on every child.
        rules=[{"rule": f"self.metadata.name.size() <= {models.MAX_NAME}",
                "message": f"metadata.name must be at most {models.MAX_NAME} characters"}])


def class_crd() -> dict[str, Any]:
    """The DevEnvironmentClass CustomResourceDefinition."""
    return _definition(
        _Names(classes.KIND, classes.PLURAL, classes.SINGULAR, classes.SHORT_NAMES),
        "Platform policy for the DevEnvironments that name it (spec.className), like a "
        "StorageClass. Annotate one shipit.dev/is-default-class: \"true\".",
        {"spec": model_schema(classes.DevEnvironmentClassSpec)},
        [{"name": "PodSecurity", "type": "string", "jsonPath": ".spec.podSecurity"},
         {"name": "Network", "type": "string", "jsonPath": ".spec.networkPolicy"},
         {"name": "Default", "type": "string",
          "jsonPath": ".metadata.annotations.shipit\\.dev/is-default-class"},
         _AGE,
         {"name": "Description", "type": "string", "jsonPath": ".spec.description",
          "priority": 1}])


def template_crd() -> dict[str, Any]:
    """The DevEnvironmentTemplate CustomResourceDefinition."""
    valid = '.status.conditions[?(@.type=="Valid")]'
    return _definition(
        _Names(templates.KIND, templates.PLURAL, templates.SINGULAR, templates.SHORT_NAMES),
        "A platform-owned stack with typed parameters: DevEnvironments name it in "
        "spec.templateRef and fill in spec.parameters.",
        {"spec": templates.template_schema(model_schema),
         "status": model_schema(templates.DevEnvironmentTemplateStatus)},
        [{"name": "Valid", "type": "string", "jsonPath": f"{valid}.status"},
         {"name": "Message", "type": "string", "jsonPath": f"{valid}.message", "priority": 1},
         _AGE])


HEADER = "# Generated from operator/devenv_operator/{source} by `make manifests`. Do not edit.\n"
# File name under crds/ -> (source module, the CRD).
FILES = {
    f"{models.PLURAL}.{models.GROUP}.yaml": ("models.py", crd),
    f"{classes.PLURAL}.{models.GROUP}.yaml": ("classes.py", class_crd),
    f"{templates.PLURAL}.{models.GROUP}.yaml": ("templates.py", template_crd),
}


def render(name: str = f"{models.PLURAL}.{models.GROUP}.yaml") -> str:
    """One CRD as the YAML committed under crds/."""
    source, build = FILES[name]
    return HEADER.format(source=source) + yaml.safe_dump(build(), sort_keys=False, width=100)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    for file_name in FILES:
        if out is None:
            sys.stdout.write(render(file_name))
        else:
            (out / file_name).write_text(render(file_name))
