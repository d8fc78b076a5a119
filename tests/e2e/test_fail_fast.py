"""Fail fast: an image that keeps failing to pull, or a container crash-looping, fails the
environment early (not at readyTimeout), names the service, and recovers by itself when the
cause goes away. Restarts and the last termination of each service are in its status.

kwok simulates the kubelet: images under ``unpullable.invalid/`` never pull, and images under
``crashloop.invalid/`` crash with exit code 1, their restartCount rising every 2 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.helpers import (
    Kubectl,
    Operator,
    apply,
    condition,
    devenv,
    events_for,
    manifest,
    unique,
    wait_for,
    wait_ready,
)

pytestmark = pytest.mark.e2e

SLACK = 30  # the bound: the threshold plus 30 s


def failed_with(kubectl: Kubectl, name: str, reason: str
                ) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        env = devenv(kubectl, name) or {}
        status = env.get("status") or {}
        return env if status.get("phase") == "Failed" and condition(
            env, "Ready").get("reason") == reason else None
    return check


def service(env: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in env["status"]["services"] if s["name"] == name)


def test_an_image_that_keeps_failing_to_pull_fails_after_the_class_threshold_and_recovers(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Callable[..., str]) -> None:
    cls = make_class(failFast={"imagePullFailAfter": "10s"})
    name = unique("pullfail")
    names.append(name)
    started = time.monotonic()
    apply(kubectl, manifest(name, className=cls, services=[
        {"name": "db", "image": "postgres:16"},
        {"name": "api", "image": "unpullable.invalid/shop/api:pr-1"}]))

    # Within the threshold it is still Provisioning, the pull error named.
    def pull_error_named() -> dict[str, Any] | None:
        env = devenv(kubectl, name) or {}
        services = (env.get("status") or {}).get("services") or []
        api = next((s for s in services if s["name"] == "api"), {})
        return env if "ImagePullBackOff" in api.get("message", "") else None
    early = wait_for(pull_error_named, 20, what="api's pull error reported")
    if time.monotonic() - started < 8:
        assert early["status"]["phase"] == "Provisioning", early["status"]
    env = wait_for(failed_with(kubectl, name, "ImagePullFailed"), 10 + SLACK,
                   what="Failed/ImagePullFailed")
    took = time.monotonic() - started
    assert took >= 9, f"failed before the 10 s threshold ({took:.1f}s)"
    ready = condition(env, "Ready")
    assert "api" in ready["message"]
    assert "unpullable.invalid/shop/api:pr-1" in ready["message"]
    assert condition(env, "Stalled")["status"] == "True"
    assert condition(env, "Stalled")["reason"] == "ImagePullFailed"
    assert condition(env, "ServicesReady")["reason"] == "ImagePullFailed"
    assert service(env, "api")["reason"] == "ImagePullFailed"
    assert service(env, "db")["ready"] is True
    reasons = {(e["type"], e["reason"]) for e in events_for(kubectl, name)}
    assert ("Warning", "ImagePullFailed") in reasons

    # The image is fixed: the environment recovers by itself.
    kubectl("patch", "devenvironment", name, "--type=json", "-p",
            '[{"op": "replace", "path": "/spec/services/1/image", "value": "shop/api:1"}]')
    env = wait_ready(kubectl, name, generation=2, timeout=60)
    assert condition(env, "Stalled")["status"] == "False"
    assert service(env, "api")["reason"] == "Available"


def test_a_crash_loop_fails_the_environment_naming_the_container_and_recovers(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    name = unique("crash")
    names.append(name)
    started = time.monotonic()
    apply(kubectl, manifest(name, services=[
        {"name": "web", "image": "nginx:1.27"},
        {"name": "worker", "image": "crashloop.invalid/shop/worker:1"}]))
    env = wait_for(failed_with(kubectl, name, "CrashLooping"), SLACK,
                   what="Failed/CrashLooping (operator default: 3 restarts)")
    took = time.monotonic() - started
    worker = service(env, "worker")
    assert worker["reason"] == "CrashLooping"
    assert worker["restarts"] >= 3
    assert worker["lastTerminationReason"] == "Error"
    assert worker["lastExitCode"] == 1
    assert "container worker restarted" in condition(env, "Ready")["message"]
    assert "exit code 1" in condition(env, "Ready")["message"]
    assert condition(env, "Stalled")["status"] == "True"
    assert service(env, "web")["restarts"] == 0
    # `kubectl wait` on Stalled ends at once (generic CI tools fail fast on it).
    proc = kubectl("wait", f"devenv/{name}", "--for=condition=Stalled", "--timeout=5s")
    assert proc.returncode == 0
    print(f"crash loop failed the environment {took:.1f}s after apply")

    kubectl("patch", "devenvironment", name, "--type=json", "-p",
            '[{"op": "replace", "path": "/spec/services/1/image", "value": "shop/worker:2"}]')
    env = wait_ready(kubectl, name, generation=2, timeout=60)
    assert service(env, "worker")["reason"] == "Available"
    assert condition(env, "Stalled")["status"] == "False"


def test_a_class_may_tolerate_more_restarts_and_the_count_still_shows(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Callable[..., str]) -> None:
    cls = make_class(failFast={"crashLoopRestarts": 100})
    name = unique("tolerant")
    names.append(name)
    apply(kubectl, manifest(name, className=cls, services=[
        {"name": "worker", "image": "crashloop.invalid/shop/worker:1"}]))

    def restarted() -> dict[str, Any] | None:
        env = devenv(kubectl, name) or {}
        services = (env.get("status") or {}).get("services") or []
        return env if services and services[0].get("restarts", 0) >= 4 else None
    env = wait_for(restarted, 40, what="4 restarts reported")
    assert env["status"]["phase"] == "Provisioning", env["status"]
    worker = service(env, "worker")
    assert worker["reason"] == "ServiceNotReady"
    assert "CrashLoopBackOff" in worker["message"]
    assert worker["lastExitCode"] == 1
    assert condition(env, "Stalled")["status"] == "False"
