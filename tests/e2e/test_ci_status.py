"""What CI tools read off an environment: Stalled (kstatus) whenever it is Failed, and the
in-cluster address of every service port."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.helpers import (
    Kubectl,
    Operator,
    apply,
    condition,
    devenv,
    manifest,
    unique,
    wait_for,
)

pytestmark = pytest.mark.e2e


def test_a_ready_environment_lists_its_endpoints_and_is_not_stalled(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    name = unique("endpoints")
    names.append(name)
    apply(kubectl, manifest(name, services=[
        {"name": "api", "image": "nginx:1.27", "ports": [{"name": "http", "port": 8080},
                                                         {"name": "admin", "port": 9090}]},
        {"name": "worker", "image": "nginx:1.27"}]))

    def ready() -> dict[str, Any] | None:
        env = devenv(kubectl, name) or {}
        return env if (env.get("status") or {}).get("phase") == "Ready" else None
    env = wait_for(ready, 60, what="Ready")
    ns = env["status"]["namespace"]
    assert env["status"]["endpoints"] == [
        {"service": "api", "port": 8080, "internal": f"api.{ns}.svc.cluster.local:8080"},
        {"service": "api", "port": 9090, "internal": f"api.{ns}.svc.cluster.local:9090"}]
    assert condition(env, "Stalled")["status"] == "False"
    # `kubectl wait` on Stalled works like on Ready (it fails fast for generic tools).
    proc = kubectl("wait", f"devenv/{name}", "--for=condition=Stalled=False", "--timeout=5s")
    assert proc.returncode == 0


def test_a_failed_environment_is_stalled_with_the_same_reason(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    name = unique("stalled")
    names.append(name)
    apply(kubectl, manifest(name, namespace="default"))  # never adopted: NamespaceConflict

    def stalled() -> dict[str, Any] | None:
        env = devenv(kubectl, name) or {}
        return env if condition(env, "Stalled").get("status") == "True" else None
    env = wait_for(stalled, 60, what="Stalled=True")
    assert env["status"]["phase"] == "Failed"
    assert condition(env, "Stalled")["reason"] == "NamespaceConflict"
    assert condition(env, "Stalled")["message"] == condition(env, "Ready")["message"]
