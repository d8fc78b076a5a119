"""PURE DevEnvironmentTemplate: typed parameters, and rendering a template into a spec.

A template is a platform-owned stack: the ``services`` and ``config`` of a DevEnvironment spec
in which a value may be a placeholder ``$(params.NAME)``, plus typed ``parameters``. This
module holds the template model (the source of its CRD schema, see ``template_schema``), the
checks of parameter values, and ``render``: template + parameter values + the environment's
overrides -> a spec that validates as ``models.DevEnvironmentSpec``, or a ``RenderError``
naming the parameter and the rule it breaks. Fetching templates, the ``TemplateResolved``
condition and ``status.template`` belong to reconcile, not here.

Substitution. Only values are substituted, never map keys. A string that is exactly one
placeholder takes the parameter's typed value (an integer stays an integer); a placeholder
inside a longer string is replaced by the value's text (booleans as ``true``/``false``).
An optional parameter with no default and no value leaves out a value that is just its
placeholder (a key, or a list item) and is empty text inside a longer string.
Where the DevEnvironment schema wants a string (an env value, an argument) a typed value is
written as its text too, so ``value: $(params.port)`` works for an integer parameter. The
environment's overrides are literal: they are merged after substitution, never substituted.

Schema. The template's ``services`` and ``config`` reuse the DevEnvironment spec's structural
schema, changed so a placeholder is accepted where the author may write one:

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
  scalars), and the Quantity CEL rule lets a placeholder through.

Descriptions stay, so ``kubectl explain devenvtpl.spec.services`` prints what
``devenv.spec.services`` does. ``template_schema`` takes crdgen's model-to-structural
conversion as an argument instead of importing crdgen, which will import this module.

Errors. ``RenderError.reason`` is the condition reason: ``ParameterInvalid`` (a value breaks
its parameter's rule, or names no parameter), ``TemplateInvalid`` (the template itself is
wrong: a bad declaration, an undeclared or malformed placeholder) or ``InvalidSpec`` (the
rendered spec does not validate; the message names the field, e.g. ``spec.services.1.replicas``).

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from devenv_operator import models
from devenv_operator.models import DNS_SUBDOMAIN, DURATION, Model, bounded_duration

KIND = "DevEnvironmentTemplate"
PLURAL = "devenvironmenttemplates"
SINGULAR = "devenvironmenttemplate"
SHORT_NAMES = ["devenvtpl"]

PARAMETER_NAME = r"^[a-zA-Z][a-zA-Z0-9_]{0,62}$"
PLACEHOLDER = re.compile(r"\$\(params\.([a-zA-Z][a-zA-Z0-9_]*)\)")
# A template string holding exactly one placeholder (the schema's pattern for integer leaves).
WHOLE_PLACEHOLDER = r"^\$\(params\.[a-zA-Z][a-zA-Z0-9_]*\)$"
MAX_PARAMETERS = 64
MAX_VALUE_LENGTH = 1024  # as Service.image; also bounds the work a parameter pattern does
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,18}")
# Regex features Python has and RE2 (Go, CEL) lacks: lookaround and backreferences.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\(\?P=|\\[1-9]")
# Keys of which an object may set only one: an override setting one drops the others.
_ONE_OF = (("stringData", "generate", "copyFrom"), ("exec", "httpGet", "tcpSocket", "grpc"))
# Fields of a DevEnvironment spec the template defaults when the environment sets none.
_DEFAULTED = ("className", "ttl", "readyTimeout")
# Fields of a DevEnvironment spec that name a template rather than describe the environment.
_TEMPLATE_FIELDS = ("templateRef", "parameters", "services", "config")

Scalar = StrictBool | StrictInt | StrictStr
ParameterType = Literal["string", "integer", "boolean", "image"]


class Parameter(Model):
    """A typed value the environment supplies and the template refers to as $(params.NAME)."""

    name: str = Field(pattern=PARAMETER_NAME, description="Name used in $(params.NAME).")
    type: ParameterType = Field(description="string, integer, boolean or image.")
    default: Annotated[Scalar | None, WithJsonSchema({
        "x-kubernetes-preserve-unknown-fields": True,
        "description": "Value when the environment gives none (of the parameter's type).",
    })] = None
    required: bool = Field(False, description="Whether the environment must give a value.")
    enum: list[StrictInt | StrictStr] | None = Field(
        None, min_length=1, max_length=100, description="The values allowed.")
    minimum: int | None = Field(None, description="Smallest value allowed (integer).")
    maximum: int | None = Field(None, description="Largest value allowed (integer).")
    pattern: str | None = Field(
        None, max_length=1024, description="Regular expression (RE2) the whole value must "
        "match (string, image).")
    allowed_registries: list[str] | None = Field(
        None, min_length=1, max_length=32, description="Prefixes an image must start with, "
        "e.g. registry.example.com/team/ (image).")
    description: str | None = Field(None, max_length=1024, description="What it is for.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            if _NOT_RE2.search(value):
                raise ValueError("lookaround and backreferences are not RE2: not allowed")
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> Parameter:
        misplaced = [field for field, value, types in (
            ("minimum", self.minimum, {"integer"}), ("maximum", self.maximum, {"integer"}),
            ("pattern", self.pattern, {"string", "image"}),
            ("allowedRegistries", self.allowed_registries, {"image"}),
            ("enum", self.enum, {"string", "integer", "image"}),
        ) if value is not None and self.type not in types]
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)} cannot apply to a {self.type} parameter")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} is above maximum {self.maximum}")
        if any(not prefix for prefix in self.allowed_registries or []):
            raise ValueError("allowedRegistries: a prefix cannot be empty")
        for item in self.enum or []:
            if isinstance(item, int) != (self.type == "integer"):
                raise ValueError(f"enum value {item!r} is not of type {self.type}")
        if self.required and self.default is not None:
            raise ValueError("a required parameter cannot have a default")
        if self.default is not None:
            _, problem = check_value(self, self.default)
            if problem is not None:
                raise ValueError(f"default: {problem.message}")
        return self


class DevEnvironmentTemplateSpec(Model):
    """A stack of services and config with typed parameters, from which environments are made."""

    class_name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN,
        description="The DevEnvironmentClass of environments that name none.")
    ttl: str | None = Field(
        None, max_length=32, pattern=DURATION,
        description="Lifetime of environments that set none, e.g. 8h.")
    ready_timeout: str | None = Field(
        None, max_length=32, pattern=DURATION,
        description="Provisioning timeout of environments that set none, e.g. 15m.")
    parameters: list[Parameter] = Field(
        default_factory=list, max_length=MAX_PARAMETERS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys":
                           ["name"]},
        description="Typed parameters, referred to as $(params.NAME) in services and config.")
    services: list[dict[str, Any]] = Field(
        min_length=1, max_length=models.MAX_SERVICES,
        description="The DevEnvironment's services; any value may be $(params.NAME).")
    config: dict[str, Any] | None = Field(
        None, description="The DevEnvironment's config; any value may be $(params.NAME).")

    @field_validator("ttl", "ready_timeout")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return bounded_duration(value)

    @field_validator("parameters")
    @classmethod
    def _unique(cls, value: list[Parameter]) -> list[Parameter]:
        names = [p.name for p in value]
        if len(set(names)) != len(names):
            raise ValueError("parameter names must be unique")
        return value


# --- parameter values --------------------------------------------------------------------

Rule = Literal["unknown", "required", "type", "enum", "minimum", "maximum", "pattern",
               "allowedRegistries"]


@dataclass(frozen=True)
class ParameterProblem:
    """A parameter value that breaks one rule of its declaration."""

    parameter: str
    rule: Rule
    message: str  # names the parameter and the rule, e.g. "parameter n: 5 is above ..."


def _text(value: bool | int | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _typed(param: Parameter, value: Any) -> bool | int | str | None:
    """The value as the parameter's type (CI passes text), or None if it is not one."""
    if param.type == "boolean":
        if isinstance(value, bool):
            return value
        return {"true": True, "false": False}.get(value) if isinstance(value, str) else None
    if param.type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        ok = isinstance(value, str) and _INTEGER_TEXT.fullmatch(value)
        return int(value) if ok else None
    if isinstance(value, int) and not isinstance(value, bool) and param.type == "string":
        return str(value)  # an unquoted number in YAML, for a string parameter
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
        return None
    if param.type == "image" and (not value or any(c.isspace() for c in value)):
        return None
    return value


def check_value(param: Parameter, value: Any) -> tuple[bool | int | str | None,
                                                       ParameterProblem | None]:
    """The typed value of ``param`` given ``value``, or the first rule it breaks."""
    def broken(rule: Rule, why: str) -> tuple[None, ParameterProblem]:
        return None, ParameterProblem(param.name, rule, f"parameter {param.name}: {why}")

    typed = _typed(param, value)
    if typed is None:
        shown = repr(value)[:80]
        article = "an" if param.type in ("integer", "image") else "a"
        return broken("type", f"{shown} is not {article} {param.type}")
    if param.enum is not None and typed not in param.enum:
        return broken("enum", f"{_text(typed)} is not one of "
                      f"{', '.join(_text(v) for v in param.enum)}")
    if isinstance(typed, int) and not isinstance(typed, bool):
        if param.minimum is not None and typed < param.minimum:
            return broken("minimum", f"{typed} is below the minimum {param.minimum}")
        if param.maximum is not None and typed > param.maximum:
            return broken("maximum", f"{typed} is above the maximum {param.maximum}")
    if isinstance(typed, str):
        if param.pattern is not None and not re.fullmatch(param.pattern, typed):
            return broken("pattern", f"{typed!r} does not match the pattern {param.pattern}")
        registries = param.allowed_registries or []
        if registries and not any(typed.startswith(prefix) for prefix in registries):
            return broken("allowedRegistries", f"{typed} is not from an allowed registry "
                          f"({', '.join(registries)})")
    return typed, None


def resolve(template: DevEnvironmentTemplateSpec,
            parameters: Mapping[str, Any]) -> tuple[dict[str, bool | int | str],
                                                    list[ParameterProblem]]:
    """Typed values of every parameter (given, else default) and every rule broken."""
    declared = {p.name: p for p in template.parameters}
    problems = [
        ParameterProblem(name, "unknown", f"parameter {name}: the template declares no such "
                         f"parameter ({', '.join(declared) or 'it has none'})")
        for name in sorted(parameters) if name not in declared
    ]
    values: dict[str, bool | int | str] = {}
    for param in template.parameters:
        given = parameters.get(param.name)
        if given is None and param.default is None:
            if param.required:
                problems.append(ParameterProblem(
                    param.name, "required", f"parameter {param.name}: required, and no value "
                    "was given"))
            continue
        typed, problem = check_value(param, param.default if given is None else given)
        if problem is not None:
            problems.append(problem)
        elif typed is not None:
            values[param.name] = typed
    return values, problems


# --- rendering ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderedSpec:
    """A rendered DevEnvironment spec: as merged (JSON-like) and as validated."""

    spec: dict[str, Any]
    model: models.DevEnvironmentSpec


@dataclass(frozen=True)
class RenderError:
    """Why a template could not be rendered for an environment."""

    reason: Literal["ParameterInvalid", "TemplateInvalid", "InvalidSpec"]
    message: str
    parameter: str | None = None  # the first parameter at fault (ParameterInvalid)
    rule: Rule | None = None


Rendered = RenderedSpec | RenderError


def _where(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in ("spec", *path))


_OMIT = object()  # what a lone placeholder of an optional parameter left unset becomes


@dataclass
class _Substitution:
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
            self.problems.append(f"{_where(path)}: $(params.{undeclared[0]}) names no "
                                 "declared parameter")
            return node
        if "$(params." in PLACEHOLDER.sub("", node):
            self.problems.append(f"{_where(path)}: malformed placeholder in {node[:80]!r} "
                                 "(write $(params.NAME))")
            return node
        whole = PLACEHOLDER.fullmatch(node)
        if whole:
            return self.values.get(whole.group(1), _OMIT)
        return PLACEHOLDER.sub(lambda m: _text(self.values.get(m.group(1), "")), node)


def _merge(base: Any, override: Any) -> Any:
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
            out[key] = _merge(base.get(key), value)
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
            merged[at] = _merge(merged[at], item)
    return merged


def _merge_config(base: dict[str, Any] | None,
                  override: Mapping[str, Any] | None) -> dict[str, Any] | str | None:
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
            out[key] = _merge(out.get(key), value)
    return out


def _at(data: Any, loc: tuple[str | int, ...]) -> tuple[Any, str | int] | None:
    for part in loc[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return (data, loc[-1]) if loc else None


def _as_text_where_strings_wanted(spec: dict[str, Any], exc: ValidationError) -> bool:
    """Write typed values as text where the spec wants a string; whether any was changed."""
    changed = False
    for error in exc.errors():
        if error["type"] != "string_type" or not isinstance(error["input"], bool | int):
            continue
        found = _at(spec, tuple(error["loc"]))
        if found is not None:
            parent, key = found
            parent[key] = _text(error["input"])
            changed = True
    return changed


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    return f"{_where(tuple(first['loc']))}: {message}"


def validate_spec(spec: dict[str, Any]) -> Rendered:
    """Validate a rendered spec (changed in place where text is wanted) as a DevEnvironment's."""
    for attempt in range(2):
        try:
            return RenderedSpec(spec, models.DevEnvironmentSpec.model_validate(spec))
        except ValidationError as exc:
            if attempt or not _as_text_where_strings_wanted(spec, exc):
                return RenderError("InvalidSpec", _first_problem(exc))
    raise AssertionError("unreachable")  # pragma: no cover


def _render_values(template: DevEnvironmentTemplateSpec, values: Mapping[str, bool | int | str],
                   overrides_services: list[Any] | None, overrides_config: Mapping[str, Any] | None,
                   environment: Mapping[str, Any] | None) -> Rendered:
    substitution = _Substitution(values, frozenset(p.name for p in template.parameters), [])
    services = substitution.apply(template.services, ("services",))
    config = substitution.apply(template.config, ("config",))
    if substitution.problems:
        return RenderError("TemplateInvalid", "; ".join(substitution.problems))
    merged = merge_by_name(services, overrides_services or [], "spec.services")
    merged_config = _merge_config(config, overrides_config)
    for problem in (merged, merged_config):
        if isinstance(problem, str):
            return RenderError("InvalidSpec", problem)
    spec = {k: copy.deepcopy(v) for k, v in (environment or {}).items()
            if k not in _TEMPLATE_FIELDS}
    defaults = template.model_dump(by_alias=True, include={"class_name", "ttl", "ready_timeout"})
    for key in _DEFAULTED:
        if spec.get(key) is None and defaults.get(key) is not None:
            spec[key] = defaults[key]
    spec["services"] = merged
    if merged_config is not None:
        spec["config"] = merged_config
    return validate_spec(spec)


def _parse(template: DevEnvironmentTemplateSpec | Mapping[str, Any]
           ) -> DevEnvironmentTemplateSpec | list[str]:
    if isinstance(template, DevEnvironmentTemplateSpec):
        return template
    try:
        return DevEnvironmentTemplateSpec.model_validate(template)
    except ValidationError as exc:
        return [f"{_where(tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()]


def render(template: DevEnvironmentTemplateSpec | Mapping[str, Any],
           parameters: Mapping[str, Any],
           overrides_services: list[Any] | None = None,
           overrides_config: Mapping[str, Any] | None = None,
           *, environment: Mapping[str, Any] | None = None) -> Rendered:
    """Render a template for an environment: a spec that validates, or why not.

    ``parameters`` is the environment's ``spec.parameters``; ``overrides_*`` its
    ``spec.services`` and ``spec.config``, merged by name onto the template's. ``environment``
    is the rest of its spec (owner, namespace, ttl, expiresAt, readyTimeout, className), kept
    as is; the template's className, ttl and readyTimeout fill in those it does not set.
    """
    parsed = _parse(template)
    if isinstance(parsed, list):
        return RenderError("TemplateInvalid", "template " + "; ".join(parsed))
    values, problems = resolve(parsed, parameters)
    if problems:
        return RenderError("ParameterInvalid", "; ".join(p.message for p in problems),
                           problems[0].parameter, problems[0].rule)
    return _render_values(parsed, values, overrides_services, overrides_config, environment)


def placeholder_value(param: Parameter) -> bool | int | str:
    """A value that stands in for a required parameter when a template is checked alone."""
    if param.enum:
        return param.enum[0]
    if param.type == "integer":
        fallback = 0 if param.maximum is None else min(0, param.maximum)
        return param.minimum if param.minimum is not None else fallback
    if param.type == "boolean":
        return False
    if param.type == "image":
        prefix = (param.allowed_registries or ["registry.example.com/"])[0]
        return f"{prefix}image:tag"
    return "x"


def check_template(template: DevEnvironmentTemplateSpec | Mapping[str, Any]) -> list[str]:
    """Problems of a template on its own (empty if it renders with its defaults)."""
    parsed = _parse(template)
    if isinstance(parsed, list):
        return parsed
    values, problems = resolve(parsed, {})
    found = [p.message for p in problems if p.rule != "required"]
    for param in parsed.parameters:
        if param.required:
            values.setdefault(param.name, placeholder_value(param))
    result = _render_values(parsed, values, None, None, None)
    if isinstance(result, RenderError):
        found.append(result.message)
    return found


# --- schema ------------------------------------------------------------------------------

# models' Quantity rule, and the same rule letting a placeholder through.
_QUANTITY_RULE = models._QUANTITIES["x-kubernetes-validations"][0]["rule"]
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


def _accept_placeholders(node: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(node)
    if "properties" in out:
        out["properties"] = {k: _accept_placeholders(v) for k, v in out["properties"].items()}
    if isinstance(out.get("items"), Mapping):
        out["items"] = _accept_placeholders(out["items"])
    if isinstance(out.get("additionalProperties"), Mapping):
        out["additionalProperties"] = _accept_placeholders(out["additionalProperties"])
    kind = out.get("type")
    if kind == "integer":
        del out["type"]
        out["x-kubernetes-int-or-string"] = True
        out["pattern"] = WHOLE_PLACEHOLDER
    elif kind == "boolean":
        del out["type"]
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "string":
        out.pop("format", None)
        allowed = out.pop("enum", None)
        pattern = out.pop("pattern", None)
        if allowed is not None:
            pattern = "^(?:" + "|".join(re.escape(str(v)) for v in allowed) + ")$"
        if pattern is not None:
            out["pattern"] = f"(?:{pattern})|{_ANYWHERE}"
    if out.get("x-kubernetes-list-type") in ("map", "set") and _list_keys_untyped(out):
        out["x-kubernetes-list-type"] = "atomic"
        out.pop("x-kubernetes-list-map-keys", None)
    if "x-kubernetes-validations" in out:
        out["x-kubernetes-validations"] = [
            {**v, "rule": _TEMPLATE_QUANTITY_RULE} if v["rule"] == _QUANTITY_RULE else v
            for v in out["x-kubernetes-validations"]]
    return out


def template_schema(structural: Callable[[type[BaseModel]], dict[str, Any]]) -> dict[str, Any]:
    """The structural schema of a DevEnvironmentTemplate's spec.

    ``structural`` turns a model into its structural schema (``crdgen.model_schema``); it is
    passed in because crdgen, which writes the CRDs, imports this module.
    """
    root = structural(DevEnvironmentTemplateSpec)
    spec = structural(models.DevEnvironmentSpec)
    for field in ("services", "config"):
        body = _accept_placeholders(spec["properties"][field])
        body["description"] = root["properties"][field]["description"]
        root["properties"][field] = body
    return root


class TemplateCondition(Model):
    """A metav1.Condition of a template."""

    type: str = Field(description="Valid.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="TemplateValid or TemplateInvalid.")
    message: str = Field("", description="What is wrong with the template, if anything.")
    last_transition_time: str = Field(description="When status last changed.")
    observed_generation: int | None = Field(None, description="Generation this describes.")


class DevEnvironmentTemplateStatus(Model):
    """Whether the template renders (with its defaults) into a valid spec."""

    observed_generation: int | None = Field(None, description="Generation checked.")
    conditions: list[TemplateCondition] | None = Field(
        None, json_schema_extra={"x-kubernetes-list-type": "map",
                                 "x-kubernetes-list-map-keys": ["type"]},
        description="Valid (metav1.Condition).")


@dataclass(frozen=True)
class Known:
    """A template as the operator last saw it."""

    spec: Mapping[str, Any]
    generation: int


class TemplateIndex:
    """The DevEnvironmentTemplates the operator has seen (fed by its watch), by name.

    Thread-safe: the event loop writes, reconcile threads read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._templates: dict[str, Known] = {}

    def put(self, name: str, spec: Mapping[str, Any], generation: int) -> None:
        with self._lock:
            self._templates[name] = Known(dict(spec), generation)

    def remove(self, name: str) -> None:
        with self._lock:
            self._templates.pop(name, None)

    def get(self, name: str) -> Known | None:
        with self._lock:
            return self._templates.get(name)
