"""PURE typed parameters of a DevEnvironmentTemplate: their declaration and the checks of the
values an environment gives them.

A template declares ``parameters`` (string, integer, boolean or image, with optional enum,
bounds, pattern or allowed registries); an environment gives values in ``spec.parameters``,
often as text (CI passes ``--set tag=42``). ``check_value`` turns a value into the parameter's
type or names the rule it breaks. Where values go (placeholders) is ``placeholders``'; the
template as a whole and rendering are ``templates``', which re-exports this module's names.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from devenv_operator.fields import Model

PARAMETER_NAME = r"^[a-zA-Z][a-zA-Z0-9_]{0,62}$"
MAX_VALUE_LENGTH = 1024  # as Service.image; also bounds the work a parameter pattern does
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,18}")
# Regex features Python has and RE2 (Go, CEL) lacks: lookaround and backreferences.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\(\?P=|\\[1-9]")

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


Rule = Literal["unknown", "required", "type", "enum", "minimum", "maximum", "pattern",
               "allowedRegistries"]


@dataclass(frozen=True)
class ParameterProblem:
    """A parameter value that breaks one rule of its declaration."""

    parameter: str
    rule: Rule
    message: str  # names the parameter and the rule, e.g. "parameter n: 5 is above ..."


def as_text(value: bool | int | str) -> str:
    """A typed value as text, as it reads in YAML: booleans as ``true``/``false``."""
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
        return broken("enum", f"{as_text(typed)} is not one of "
                      f"{', '.join(as_text(v) for v in param.enum)}")
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

