"""Small helpers for e2e tests: apply manifests, read objects, wait for conditions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def manifest(name: str, **spec: Any) -> dict[str, Any]:
    """A DevEnvironment manifest; default: one service ``web``."""
    spec.setdefault("services", [{"name": "web", "image": "nginx:1.27"}])
    return {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
            "metadata": {"name": name}, "spec": spec}


def apply(kubectl: Any, obj: dict[str, Any] | list[dict[str, Any]], check: bool = True) -> Any:
    # JSON, not YAML: kubectl's YAML 1.1 parser would turn strings like "y" into booleans.
    docs = obj if isinstance(obj, list) else [obj]
    body = docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs}
    return kubectl("apply", "-f", "-", input=json.dumps(body), check=check)


def get(kubectl: Any, *what: str) -> dict[str, Any] | None:
    """`kubectl get WHAT -o json`, or None when it does not exist."""
    proc = kubectl("get", *what, "-o", "json", check=False)
    if proc.returncode != 0:
        if "NotFound" in proc.stderr or "not found" in proc.stderr:
            return None
        raise AssertionError(proc.stderr)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def items(kubectl: Any, *what: str) -> list[dict[str, Any]]:
    found = get(kubectl, *what)
    return list(found["items"]) if found else []


def wait_for(predicate: Callable[[], T | None], timeout: float = 60, interval: float = 0.25,
             what: str = "condition") -> T:
    """Poll until predicate returns something truthy; fail with what it last returned."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def condition(env: dict[str, Any] | None, ctype: str) -> dict[str, Any]:
    for cond in ((env or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return dict(cond)
    return {}


def devenv(kubectl: Any, name: str) -> dict[str, Any] | None:
    return get(kubectl, "devenvironment", name)


def wait_phase(kubectl: Any, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        env = devenv(kubectl, name)
        return env if env and (env.get("status") or {}).get("phase") == phase else None
    return wait_for(check, timeout, what=f"{name} phase {phase}")


def events_for(kubectl: Any, name: str) -> list[dict[str, Any]]:
    return items(kubectl, "events", "-A", "--field-selector",
                 f"involvedObject.kind=DevEnvironment,involvedObject.name={name}")


def unique(prefix: str) -> str:
    """A fresh DevEnvironment name, so tests never collide with leftovers."""
    import uuid

    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def delete_env(kubectl: Any, name: str, wait: bool = False) -> None:
    kubectl("delete", "devenvironment", name, "--ignore-not-found", f"--wait={str(wait).lower()}")
