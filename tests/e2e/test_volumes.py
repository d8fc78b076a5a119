"""services[].volumes on the real apiserver (issue 22, item 3): validated at apply, served
and explained; a persistent volume becomes a claim of the class's StorageClass that binds
(to a PersistentVolume the test provides: kwok has no provisioner) and that the environment
waits for; the class's storage limits are refused at apply by the class policy and again by
the operator; the claims go with the environment.

That the data survives its pod is shown on real containers (tests/real/test_storage.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    apply,
    condition,
    get,
    manifest,
    unique,
    wait_for,
    wait_ready,
    wait_reason,
)

pytestmark = pytest.mark.e2e

DATA = {"name": "data", "mountPath": "/var/lib/postgresql/data", "size": "1Gi"}
RUN = {"name": "run", "mountPath": "/var/run/postgresql", "emptyDir": {"sizeLimit": "64Mi"}}


def db(*volumes: dict[str, Any]) -> dict[str, Any]:
    return {"name": "db", "image": "postgres:16", "volumes": list(volumes)}


@pytest.mark.parametrize(("volume", "words"), [
    ({"name": "v", "mountPath": "/x"}, "set exactly one of size"),
    ({"name": "v", "mountPath": "/x", "size": "1Gi", "emptyDir": {}}, "set exactly one of size"),
    ({"name": "v", "mountPath": "/proc", "emptyDir": {}}, "mountPath may not be"),
    ({"name": "v", "mountPath": "/x", "size": "lots"}, "must be a quantity"),
    ({"name": "v", "mountPath": "/x", "emptyDir": {"sizeLimit": "big"}}, "must be a quantity"),
    ({"name": "v", "mountPath": "x", "emptyDir": {}}, "mountPath"),
    ({"name": "v", "mountPath": "/x", "emptyDir": {"medium": "HugePages"}}, "medium"),
])
def test_a_bad_volume_is_refused_at_apply_with_a_message(
        kubectl: Kubectl, crds: None, volume: dict[str, Any], words: str) -> None:
    obj = manifest(unique("badvol"), services=[db(volume)])
    proc = apply(kubectl, obj, check=False)
    assert proc.returncode != 0, volume
    assert words in proc.stderr, proc.stderr
    assert get(kubectl, "devenvironment", obj["metadata"]["name"]) is None


def test_two_volumes_on_one_mount_path_are_refused_at_apply(kubectl: Kubectl,
                                                           crds: None) -> None:
    obj = manifest(unique("badvol"), services=[db(DATA, {**RUN, "mountPath": DATA["mountPath"]})])
    proc = apply(kubectl, obj, check=False)
    assert proc.returncode != 0
    assert "every volume needs its own mountPath" in proc.stderr, proc.stderr


def test_volumes_and_storage_are_in_the_served_crds_and_explained(kubectl: Kubectl,
                                                                 crds: None) -> None:
    crd = get(kubectl, "crd", "devenvironments.shipit.dev") or {}
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    volume = schema["properties"]["spec"]["properties"]["services"]["items"]["properties"][
        "volumes"]["items"]["properties"]
    assert {"name", "mountPath", "readOnly", "size", "emptyDir"} <= set(volume)
    text = kubectl("explain", "devenvironment.spec.services.volumes.size").stdout
    assert "PersistentVolumeClaim" in text, text
    assert "storageClassName" in text, text
    text = kubectl("explain", "devenvironmentclass.spec.storage").stdout
    for field in ("storageClassName", "maxVolumeSize", "maxTotal", "maxVolumes"):
        assert field in text, text
    tpl = kubectl("explain", "devenvironmenttemplate.spec.services.volumes.emptyDir").stdout
    assert "sizeLimit" in tpl


@pytest.fixture
def volume_pool(kubectl: Kubectl) -> Any:
    """make(storage_class, size) creates a hostPath PersistentVolume a claim of that class
    binds to (kwok's nodes have no provisioner); deleted after the test."""
    made: list[str] = []

    def make(storage_class: str, size: str = "1Gi") -> str:
        name = unique("pv")
        apply(kubectl, {"apiVersion": "v1", "kind": "PersistentVolume",
                        "metadata": {"name": name},
                        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                                 "storageClassName": storage_class,
                                 "persistentVolumeReclaimPolicy": "Retain",
                                 "hostPath": {"path": f"/tmp/{name}"}}})
        made.append(name)
        return name
    yield make
    for name in made:
        kubectl("delete", "pv", name, "--ignore-not-found", "--wait=false")


def test_a_persistent_volume_is_a_bound_claim_before_ready_and_goes_with_the_environment(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        volume_pool: Any) -> None:
    storage_class = unique("sc")
    cls = make_class(storage={"storageClassName": storage_class, "maxVolumeSize": "2Gi"})
    name = unique("vol")
    names.append(name)
    namespace = f"dev-{name}"
    apply(kubectl, manifest(name, className=cls, services=[db(DATA, RUN)]))
    # No volume to bind yet: the environment waits, and says on what.
    env = wait_for(lambda: (e := get(kubectl, "devenvironment", name)) and (
        "PersistentVolumeClaim" in json.dumps(e.get("status", {}).get("services")) or
        "unbound" in json.dumps(e.get("status", {}).get("services"))) and e, 60,
        what="the service waiting for its claim")
    assert env["status"]["phase"] == "Provisioning"
    claim = get(kubectl, "pvc", "db-data", "-n", namespace) or {}
    assert claim["spec"]["storageClassName"] == storage_class
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["labels"]["shipit.dev/environment"] == name
    volume = volume_pool(storage_class)
    wait_ready(kubectl, name)
    claim = get(kubectl, "pvc", "db-data", "-n", namespace) or {}
    assert claim["spec"]["volumeName"] == volume
    deployment = get(kubectl, "deployment", "db", "-n", namespace) or {}
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "db-data"}} in pod["volumes"]
    kubectl("delete", "devenvironment", name, "--wait=true", "--timeout=120s")
    assert get(kubectl, "namespace", namespace) is None
    pv = get(kubectl, "pv", volume) or {}
    assert pv["status"]["phase"] in ("Released", "Failed"), pv["status"]  # let go of


# What a class with 2Gi a volume, 3Gi in all and 2 claims refuses.
STORAGE = {"maxVolumeSize": "2Gi", "maxTotal": "3Gi", "maxVolumes": 2}
TOO_MUCH = [
    ([{**DATA, "size": "3Gi"}], "storage.maxVolumeSize"),
    ([{**DATA, "size": "2Gi"}, {**DATA, "name": "wal", "mountPath": "/wal", "size": "1500Mi"}],
     "storage.maxTotal"),
    ([{**DATA, "name": f"v{i}", "mountPath": f"/v{i}", "size": "1Mi"} for i in range(3)],
     "storage.maxVolumes"),
]


@pytest.mark.parametrize(("volumes", "rule"), TOO_MUCH)
def test_the_operator_refuses_more_storage_than_the_class_allows_and_creates_nothing(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        volumes: list[dict[str, Any]], rule: str) -> None:
    cls = make_class(storage=STORAGE)
    name = unique("bigvol")
    names.append(name)
    apply(kubectl, manifest(name, className=cls, services=[db(*volumes)]))
    env = wait_reason(kubectl, name, "PolicyViolation")
    message = condition(env, "Ready")["message"]
    assert rule in message, message
    assert cls in message, message
    assert get(kubectl, "namespace", f"dev-{name}") is None


def test_the_class_policy_refuses_more_storage_at_apply(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    policy = ROOT / "deploy" / "admission" / "class-policy.yaml"
    cls = make_class(storage=STORAGE, limits={"maxServices": 3, "maxReplicas": 2})
    kubectl("apply", "-f", str(policy))
    try:
        def refusal(volumes: list[dict[str, Any]]) -> str:
            obj = manifest(unique("celvol"), className=cls, services=[db(*volumes)])
            proc = kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                           input=json.dumps(obj))
            return proc.stderr or ""

        for volumes, rule in TOO_MUCH:
            def named(v: list[dict[str, Any]] = volumes, r: str = rule) -> str | None:
                error = refusal(v)
                return error if r in error else None
            error = wait_for(named, 30, interval=1, what=f"a refusal naming {rule}")
            assert f"class {cls}" in error, error
        # Within the class, an emptyDir besides: accepted.
        assert refusal([{**DATA, "size": "2Gi"}, RUN]) == ""
        # A job's claim counts with the services' ones.
        obj = manifest(unique("celjob"), className=cls, services=[db({**DATA, "size": "2Gi"})],
                       jobs=[{"name": "seed", "image": "postgres:16", "volumes": [
                           {**DATA, "name": "dump", "mountPath": "/dump", "size": "1500Mi"}]}])
        proc = kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                       input=json.dumps(obj))
        assert "storage.maxTotal" in (proc.stderr or ""), proc.stderr
        # An environment of a template names no services of its own: the class's rules
        # (maxServices, storage...) leave it to the operator, and it is not refused.
        obj = manifest(unique("celtpl"), className=cls, templateRef={"name": "any"})
        del obj["spec"]["services"]
        proc = kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                       input=json.dumps(obj))
        assert proc.returncode == 0, proc.stderr
    finally:
        kubectl("delete", "-f", str(policy), "--ignore-not-found")
