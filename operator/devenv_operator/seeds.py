"""The config a DevEnvironment seeds into its namespace before its services start:
ConfigMaps of literal values, and Secrets from exactly one source (literal values, values
generated once, or a copy of a Secret whose owner opted in).

These models are the ``spec.config`` of the DevEnvironment CRD; ``models`` re-exports them.
Building the objects (and the copy consent check) is ``builders.config``'s.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from devenv_operator.fields import (
    CONFIG_KEY,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    SET_LIST,
    Model,
    cel_rules,
    map_list,
)

_CONFIG_KEYS: dict[str, Any] = {
    "maxProperties": 500,
    **cel_rules((
        "self.all(k, k.size() <= 253 && k.matches('^[-._a-zA-Z0-9]+$'))",
        "keys must be at most 253 letters, digits, '-', '_' or '.'",
    )),
}


def _config_keys(data: dict[str, str]) -> dict[str, str]:
    if len(data) > 500:
        raise ValueError("at most 500 keys")
    for key in data:
        if len(key) > 253 or not re.fullmatch(CONFIG_KEY, key):
            raise ValueError(f"{key[:64]!r} is not a valid key (at most 253 letters, digits, "
                             "'-', '_' or '.')")
    return data


class ConfigMapSeed(Model):
    """A ConfigMap seeded into the environment's namespace."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="ConfigMap name.")
    data: dict[str, str] = Field(
        default_factory=dict, description="Keys and literal values.",
        json_schema_extra=_CONFIG_KEYS,
    )

    @field_validator("data")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        return _config_keys(value)


class GenerateSpec(Model):
    """Random values generated once and never rotated by reconciles."""

    keys: list[str] = Field(
        min_length=1, max_length=50, json_schema_extra=SET_LIST,
        description="Keys to fill with random values.",
    )
    length: int = Field(32, ge=8, le=256, description="Length of each value (8..256, default 32).")

    @field_validator("keys")
    @classmethod
    def _key_names(cls, value: list[str]) -> list[str]:
        for key in value:
            if not re.fullmatch(CONFIG_KEY, key):
                raise ValueError(f"{key!r} is not a valid Secret key")
        return value


class SecretSource(Model):
    """An existing Secret to copy; it must be labelled shipit.dev/copyable=true."""

    namespace: str = Field(max_length=63, pattern=DNS_LABEL, description="Source namespace.")
    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="Source Secret name.")


class SecretSeed(Model):
    """A Secret seeded into the namespace from exactly one source."""

    model_config = ConfigDict(json_schema_extra=cel_rules((
        "[has(self.stringData), has(self.generate), has(self.copyFrom)]"
        ".filter(x, x).size() == 1",
        "set exactly one of stringData, generate or copyFrom",
    )))

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="Secret name.")
    string_data: dict[str, str] | None = Field(
        None, description="Literal values. Anyone who can read this DevEnvironment can read "
        "them: use generate or copyFrom for real credentials.",
        json_schema_extra=_CONFIG_KEYS,
    )
    generate: GenerateSpec | None = Field(None, description="Random values, generated once.")
    copy_from: SecretSource | None = Field(
        None, description="Copy of a Secret whose owner opted in (label shipit.dev/copyable)."
    )

    @field_validator("string_data")
    @classmethod
    def _keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _config_keys(value)

    @model_validator(mode="after")
    def _one_source(self) -> SecretSeed:
        sources = [self.string_data is not None, self.generate is not None,
                   self.copy_from is not None]
        if sum(sources) != 1:
            raise ValueError(
                f"secret {self.name}: set exactly one of stringData, generate or copyFrom"
            )
        return self


class Config(Model):
    """ConfigMaps and Secrets seeded into the namespace before services start."""

    config_maps: list[ConfigMapSeed] | None = Field(
        None, max_length=50, json_schema_extra=map_list("name"),
        description="ConfigMaps to create.",
    )
    secrets: list[SecretSeed] | None = Field(
        None, max_length=50, json_schema_extra=map_list("name"),
        description="Secrets to create.",
    )

