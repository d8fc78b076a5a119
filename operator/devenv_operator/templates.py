"""PURE DevEnvironmentTemplate: the template model, and rendering a template into a spec.

A template is a platform-owned stack: the ``services``, ``jobs`` and ``config`` of a
DevEnvironment spec in which a value may be a placeholder ``$(params.NAME)``, plus typed
``parameters``. This module holds the template model (the source of its CRD schema, see
``template_schema``), its status, the index of templates seen, and ``render``: template +
parameter values + the environment's overrides -> a spec that validates as
``models.DevEnvironmentSpec``, or a ``RenderError`` naming the parameter and the rule it
breaks. Fetching templates, the ``TemplateResolved`` condition and ``status.template``
belong to reconcile, not here.

Its parts live beside it, and their public names are re-exported from here: ``parameters``
(declarations and the checks of values), ``placeholders`` (substitution, and the schema that
accepts a placeholder) and ``overrides`` (merging the environment's services and config).
Where the DevEnvironment schema wants a string (an env value, an argument) a typed value is
written as its text (``validate_spec``), so ``value: $(params.port)`` works for an integer
parameter. ``template_schema`` takes crdgen's model-to-structural conversion as an argument
instead of importing crdgen, which imports this module.

Errors. ``RenderError.reason`` is the condition reason: ``ParameterInvalid`` (a value breaks
its parameter's rule, or names no parameter), ``TemplateInvalid`` (the template itself is
wrong: a bad declaration, an undeclared or malformed placeholder) or ``InvalidSpec`` (the
rendered spec does not validate; the message names the field, e.g. ``spec.services.1.replicas``).

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from devenv_operator import models
from devenv_operator.fields import DNS_SUBDOMAIN, DURATION, Model, bounded_duration
from devenv_operator.overrides import (
    config_bypass,
    merge_by_name,
    merge_config,
    parameter_bypass,
)
from devenv_operator.parameters import (
    MAX_VALUE_LENGTH,
    PARAMETER_NAME,
    Parameter,
    ParameterProblem,
    ParameterType,
    Rule,
    Scalar,
    as_text,
    check_value,
    placeholder_value,
)
from devenv_operator.placeholders import (
    PLACEHOLDER,
    WHOLE_PLACEHOLDER,
    Substitution,
    accept_placeholders,
    spec_path,
)
from devenv_operator.reasons import Reason

# The public names of the template and its parts, wherever they are defined.
__all__ = [
    "KIND", "MAX_PARAMETERS", "MAX_VALUE_LENGTH", "PARAMETER_NAME", "PLACEHOLDER", "PLURAL",
    "SHORT_NAMES", "SINGULAR", "WHOLE_PLACEHOLDER", "DevEnvironmentTemplateSpec",
    "DevEnvironmentTemplateStatus", "Known", "Parameter", "ParameterProblem", "ParameterType",
    "RenderError", "Rendered", "RenderedSpec", "Rule", "Scalar", "TemplateCondition",
    "TemplateIndex", "check_template", "check_value", "merge_by_name", "placeholder_value",
    "render", "resolve", "template_schema", "validate_spec",
]

KIND = "DevEnvironmentTemplate"
PLURAL = "devenvironmenttemplates"
SINGULAR = "devenvironmenttemplate"
SHORT_NAMES = ["devenvtpl"]

MAX_PARAMETERS = 64
# Fields of a DevEnvironment spec the template defaults when the environment sets none.
_DEFAULTED = ("className", "ttl", "readyTimeout")
# Fields of a DevEnvironment spec that name a template rather than describe the environment.
_TEMPLATE_FIELDS = ("templateRef", "parameters", "services", "jobs", "config")


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
    jobs: list[dict[str, Any]] | None = Field(
        None, max_length=models.MAX_JOBS,
        description="The DevEnvironment's jobs; any value may be $(params.NAME).")
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

    reason: Reason  # ParameterInvalid, TemplateInvalid or InvalidSpec
    message: str
    parameter: str | None = None  # the first parameter at fault (ParameterInvalid)
    rule: Rule | None = None


Rendered = RenderedSpec | RenderError


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
            parent[key] = as_text(error["input"])
            changed = True
    return changed


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    return f"{spec_path(tuple(first['loc']))}: {message}"


def validate_spec(spec: dict[str, Any]) -> Rendered:
    """Validate a rendered spec (changed in place where text is wanted) as a DevEnvironment's."""
    for attempt in range(2):
        try:
            return RenderedSpec(spec, models.DevEnvironmentSpec.model_validate(spec))
        except ValidationError as exc:
            if attempt or not _as_text_where_strings_wanted(spec, exc):
                return RenderError(Reason.INVALID_SPEC, _first_problem(exc))
    raise AssertionError("unreachable")  # pragma: no cover


def _bypass(template: DevEnvironmentTemplateSpec, rendered: tuple[Any, Any, Any],
            services: list[Any], jobs: Any, config: Mapping[str, Any] | None) -> str | None:
    """Why the environment's overrides would set what the template fills from a
    parameter, skipping its rules (before: a literal image beat allowedRegistries).
    ``rendered``: the template's services, jobs and config with the parameters put in."""
    return (parameter_bypass(template.services, rendered[0], services, "spec.services",
                             PLACEHOLDER)
            or (parameter_bypass(template.jobs or [], rendered[1], jobs, "spec.jobs",
                                 PLACEHOLDER) if isinstance(jobs, list) else None)
            or config_bypass(template.config, rendered[2], config, PLACEHOLDER))


def _render_values(template: DevEnvironmentTemplateSpec, values: Mapping[str, bool | int | str],
                   overrides_services: list[Any] | None, overrides_config: Mapping[str, Any] | None,
                   environment: Mapping[str, Any] | None) -> Rendered:
    substitution = Substitution(values, frozenset(p.name for p in template.parameters), [])
    services = substitution.apply(template.services, ("services",))
    jobs = substitution.apply(template.jobs or [], ("jobs",))
    config = substitution.apply(template.config, ("config",))
    if substitution.problems:
        return RenderError(Reason.TEMPLATE_INVALID, "; ".join(substitution.problems))
    overrides_jobs = (environment or {}).get("jobs")
    bypass = _bypass(template, (services, jobs, config), overrides_services or [],
                     overrides_jobs, overrides_config)
    if bypass:
        return RenderError(Reason.INVALID_SPEC, bypass)
    merged = merge_by_name(services, overrides_services or [], "spec.services")
    merged_jobs = merge_by_name(jobs, overrides_jobs if isinstance(overrides_jobs, list)
                                else [], "spec.jobs")
    merged_config = merge_config(config, overrides_config)
    for problem in (merged, merged_jobs, merged_config):
        if isinstance(problem, str):
            return RenderError(Reason.INVALID_SPEC, problem)
    spec = {k: copy.deepcopy(v) for k, v in (environment or {}).items()
            if k not in _TEMPLATE_FIELDS}
    defaults = template.model_dump(by_alias=True, include={"class_name", "ttl", "ready_timeout"})
    for key in _DEFAULTED:
        if spec.get(key) is None and defaults.get(key) is not None:
            spec[key] = defaults[key]
    spec["services"] = merged
    if merged_jobs:
        spec["jobs"] = merged_jobs
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
        return [f"{spec_path(tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()]


def render(template: DevEnvironmentTemplateSpec | Mapping[str, Any],
           parameters: Mapping[str, Any],
           overrides_services: list[Any] | None = None,
           overrides_config: Mapping[str, Any] | None = None,
           *, environment: Mapping[str, Any] | None = None) -> Rendered:
    """Render a template for an environment: a spec that validates, or why not.

    ``parameters`` is the environment's ``spec.parameters``; ``overrides_*`` its
    ``spec.services`` and ``spec.config``, merged by name onto the template's, and so is its
    ``spec.jobs`` (taken from ``environment``). ``environment``
    is the rest of its spec (owner, namespace, ttl, expiresAt, readyTimeout, className), kept
    as is; the template's className, ttl and readyTimeout fill in those it does not set.
    """
    parsed = _parse(template)
    if isinstance(parsed, list):
        return RenderError(Reason.TEMPLATE_INVALID, "template " + "; ".join(parsed))
    values, problems = resolve(parsed, parameters)
    if problems:
        return RenderError(Reason.PARAMETER_INVALID, "; ".join(p.message for p in problems),
                           problems[0].parameter, problems[0].rule)
    return _render_values(parsed, values, overrides_services, overrides_config, environment)


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


def template_schema(structural: Callable[[type[BaseModel]], dict[str, Any]]) -> dict[str, Any]:
    """The structural schema of a DevEnvironmentTemplate's spec.

    ``structural`` turns a model into its structural schema (``crdgen.model_schema``); it is
    passed in because crdgen, which writes the CRDs, imports this module.
    """
    root = structural(DevEnvironmentTemplateSpec)
    spec = structural(models.DevEnvironmentSpec)
    for field in ("services", "jobs", "config"):
        body = accept_placeholders(spec["properties"][field])
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
