"""The vocabulary every API model is written in: the base model, name patterns, durations,
quantities and the schema extensions (CEL rules, list types) models attach to fields.

``models``, ``workloads``, ``seeds``, ``classes`` and the template modules build on this;
``models`` re-exports it, so ``models.parse_duration`` and ``models.DNS_LABEL`` keep working.
Nothing here describes a resource of its own.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
PORT_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# At most four parts of at most six digits: no duration can overflow date arithmetic.
DURATION = r"^([0-9]{1,6}[smhd]){1,4}$"
MAX_DURATION = timedelta(days=3650)  # ten years: longer is refused as a typo

_DURATION_PART = re.compile(r"([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
QUANTITY_RE = re.compile(
    r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``30m``, ``8h``, ``2d`` or a combination such as ``1h30m``."""
    if not re.fullmatch(DURATION, text):
        raise ValueError(f"invalid duration {text!r}: use a number and a unit s, m, h or d "
                         "(at most 6 digits per part)")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def bounded_duration(text: str | None) -> str | None:
    """A duration field's validator: well-formed and at most ``MAX_DURATION``."""
    if text is not None and parse_duration(text) > MAX_DURATION:
        raise ValueError(f"{text} is longer than the maximum of {format_duration(MAX_DURATION)}")
    return text


def format_duration(delta: timedelta) -> str:
    """Render a duration the way users write it (``1d2h``, ``90s`` stays ``1m30s``)."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def cel_rules(*rules: tuple[str, str]) -> dict[str, Any]:
    """``x-kubernetes-validations`` from (rule, message) pairs, for ``json_schema_extra``."""
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


def map_list(*keys: str) -> dict[str, Any]:
    """A list the API server merges by ``keys`` (``x-kubernetes-list-type: map``)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


SET_LIST: dict[str, Any] = {"x-kubernetes-list-type": "set"}
ATOMIC_LIST: dict[str, Any] = {"x-kubernetes-list-type": "atomic"}
QUANTITIES: dict[str, Any] = cel_rules((
    "self.all(k, isQuantity(string(self[k])))", "values must be quantities such as 500m or 1Gi"
))


Quantity = Annotated[int | str, Field(json_schema_extra={"maxLength": 64})]
IntOrString = Annotated[int | str, Field(json_schema_extra={"maxLength": 63})]


class Model(BaseModel):
    """Base: camelCase aliases as in Kubernetes, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
