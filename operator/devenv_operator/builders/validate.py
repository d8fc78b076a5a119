"""Validation of a DevEnvironment's spec beyond its schema: the namespace and the graph.

The apiserver already enforced the CRD schema; this re-parses the spec with the models
(the operator never trusts a body it did not validate), derives the namespace, and checks
what the schema cannot: that the default namespace name is valid and that ``dependsOn``
has no cycle (among services and jobs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from devenv_operator import models
from devenv_operator.builders.common import namespace_name
from devenv_operator.builders.graph import find_cycle

# The largest spec (as compact JSON, after its template is rendered) the operator builds from;
# etcd takes objects up to about 1.5 MiB, and every byte of a spec is read at each reconcile.
MAX_SPEC_BYTES = 256 * 1024


@dataclass(frozen=True)
class Validated:
    """The parsed spec and its namespace, or why the spec is invalid (``problem``)."""

    spec: models.DevEnvironmentSpec | None
    namespace: str | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.spec is not None and self.namespace is not None and self.problem is None


def validate(name: str, raw: Mapping[str, Any] | None, prefix: str,
             recorded: str | None = None) -> Validated:
    """Parse and check the spec of the DevEnvironment ``name``; ``recorded`` is the
    namespace its status already names, if any (it keeps it)."""
    raw = raw or {}
    size = len(json.dumps(raw, separators=(",", ":"), default=str).encode())
    if size > MAX_SPEC_BYTES:  # checked first: nothing of it is parsed or kept
        namespace = raw.get("namespace")
        return Validated(None, namespace if isinstance(namespace, str) else None, (
            f"spec: {size // 1024} KiB, at most {MAX_SPEC_BYTES // 1024} KiB (a "
            "DevEnvironment is not a place for data: copy a Secret, or seed a volume "
            "with a job)"))
    if len(name) > models.MAX_NAME:  # refused at apply since; older objects may exist
        return Validated(None, None, (
            f"metadata.name: at most {models.MAX_NAME} characters (it is a label value)"))
    try:
        spec = models.DevEnvironmentSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = f"spec.{where}: {first['msg']}" if where else f"spec: {first['msg']}"
        namespace = raw.get("namespace")
        return Validated(None, namespace if isinstance(namespace, str) else None, message)
    namespace = namespace_name(name, spec, prefix, recorded)
    if len(namespace) > 63 or not re.fullmatch(models.DNS_LABEL, namespace):
        return Validated(spec, None, (
            f"the default namespace {namespace!r} is not a valid namespace name "
            "(at most 63 lowercase letters, digits and '-'); set spec.namespace"))
    cycle = find_cycle(spec.dependencies())
    if cycle:
        where = "spec.services" if not spec.jobs else "spec.services/spec.jobs"
        return Validated(spec, namespace, f"{where}: dependsOn cycle {' -> '.join(cycle)}")
    return Validated(spec, namespace)
