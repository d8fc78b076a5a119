"""Every file in examples/ runs verbatim on real containers under the shipped default class
(the stock-image lookalikes stand in for the official images), and an image whose user is
root, under a class that does not allow root, fails early with the kubelet's reason."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    apply,
    delete_env,
    get,
    manifest,
    unique,
    wait_for,
    wait_ready,
)
from tests.real.helpers import RealCluster

# As the examples' own comments fill them in (the lookalikes are tagged for it).
PR_NUMBER = "1234"
# (example file, the templates it needs applied first)
EXAMPLES = [("minimal.yaml", ()), ("stack.yaml", ()), ("ci-ephemeral.yaml", ()),
            ("ci-template.yaml", ("template-shop.yaml",))]


def documents(name: str) -> list[dict[str, Any]]:
    text = (ROOT / "examples" / name).read_text().replace("PR_NUMBER", PR_NUMBER)
    return [d for d in yaml.safe_load_all(text) if d]


def test_every_example_is_a_devenvironment_or_a_template_these_tests_apply() -> None:
    covered = {f for f, _ in EXAMPLES} | {t for _, ts in EXAMPLES for t in ts}
    assert covered == {p.name for p in (ROOT / "examples").glob("*.yaml")}


@pytest.mark.parametrize(("example", "needs"), EXAMPLES)
def test_an_example_applied_verbatim_becomes_ready_under_the_default_class(
    example: str, needs: tuple[str, ...], installed: dict[str, float], kubectl: Kubectl,
    real_cluster: RealCluster,
) -> None:
    for template in needs:
        apply(kubectl, documents(template))
    (env,) = documents(example)
    name = env["metadata"]["name"]
    apply(kubectl, env)
    try:
        ready = wait_ready(kubectl, name, timeout=240)
        assert ready["status"]["phase"] == "Ready"
        assert all(s["restarts"] == 0 for s in ready["status"]["services"]), ready["status"]
        namespace = get(kubectl, "namespace", ready["status"]["namespace"]) or {}
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
            "baseline")
    finally:
        delete_env(kubectl, name)
        for template in needs:
            for doc in documents(template):
                kubectl("delete", "devenvironmenttemplate", doc["metadata"]["name"],
                        "--ignore-not-found")


def test_a_root_image_under_a_class_without_root_fails_early_saying_why(
    installed: dict[str, float], kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    """Under runAsNonRoot (the restricted class's allowRoot: false) the kubelet refuses to
    create a container whose image runs as root; the environment fails after the class's
    failFast window (here 10s) with ContainerCreateFailed quoting the kubelet, instead of
    waiting for its readyTimeout."""
    cls = unique("no-root")
    restricted = yaml.safe_load((ROOT / "deploy" / "classes" / "restricted.yaml").read_text())
    spec = {**restricted["spec"], "failFast": {"imagePullFailAfter": "10s",
                                               "crashLoopRestarts": 3}}
    apply(kubectl, {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
                    "metadata": {"name": cls}, "spec": spec})
    name = unique("root-refused")
    apply(kubectl, manifest(name, className=cls, services=[
        {"name": "db", "image": "postgres:16"}]))
    try:
        def failed() -> dict[str, Any] | None:
            found = get(kubectl, "devenvironment", name) or {}
            status = found.get("status") or {}
            return status if status.get("phase") == "Failed" else None

        status = wait_for(failed, 120, interval=1, what=f"{name} Failed")
        ready = status["conditions"][0]
        assert ready["reason"] == "ContainerCreateFailed"
        assert "runAsNonRoot" in ready["message"]
        assert "root" in ready["message"]
    finally:
        delete_env(kubectl, name)
        kubectl("delete", "devenvironmentclass", cls, "--ignore-not-found", "--wait=false")


def test_the_restricted_class_runs_postgres_as_its_own_uid(
    installed: dict[str, float], kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    """Pod Security restricted on real containers: no capability at all, not root; the
    postgres image starts straight as uid 999 when the service says so, and serves."""
    name = unique("restricted-pg")
    apply(kubectl, manifest(name, className="restricted", services=[
        {"name": "db", "image": "postgres:16", "ports": [{"name": "pg", "port": 5432}],
         "env": [{"name": "POSTGRES_PASSWORD", "value": "not-a-secret"}],
         "securityContext": {"runAsUser": 999, "runAsGroup": 999, "fsGroup": 999},
         "readinessProbe": {"tcpSocket": {"port": 5432}, "periodSeconds": 1}}]))
    try:
        ready = wait_ready(kubectl, name, timeout=180)
        ns = ready["status"]["namespace"]
        namespace = get(kubectl, "namespace", ns) or {}
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
            "restricted")
        status = kubectl("exec", "-n", ns, "deploy/db", "--", "cat", "/proc/1/status").stdout
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        assert fields["Uid"].split()[0] == "999"
        assert int(fields["CapBnd"].strip(), 16) == 0  # every capability dropped
        assert ready["status"]["services"][0]["restarts"] == 0
    finally:
        delete_env(kubectl, name)


@pytest.mark.parametrize(("class_name", "security", "rule"), [
    ("default", {"capabilities": {"add": ["SYS_ADMIN"]}},
     "workloadSecurity.allowedCapabilities"),
    ("default", {"capabilities": {"add": ["NET_RAW"]}}, "workloadSecurity.allowedCapabilities"),
    ("restricted", {"capabilities": {"add": ["CHOWN"]}}, "workloadSecurity.allowedCapabilities"),
    ("restricted", {"runAsUser": 0}, "workloadSecurity.allowRoot"),
])
def test_a_service_asking_more_than_its_class_allows_is_refused_at_apply(
    installed: dict[str, float], kubectl: Kubectl, real_cluster: RealCluster,
    class_name: str, security: dict[str, Any], rule: str,
) -> None:
    """The class policy installed from deploy/ refuses it at `kubectl apply`, naming the
    class, the field and the service; nothing is created."""
    name = unique("beyond")
    obj = manifest(name, className=class_name, services=[
        {"name": "db", "image": "postgres:16", "securityContext": security}])
    proc = apply(kubectl, obj, check=False)
    assert proc.returncode != 0, proc.stdout
    assert rule in proc.stderr, proc.stderr
    assert f"class {class_name}" in proc.stderr, proc.stderr
    assert "service db" in proc.stderr, proc.stderr
    assert get(kubectl, "devenvironment", name) is None
