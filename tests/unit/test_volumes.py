"""services[].volumes: the model's checks, the claims and pod volumes built from it, the
class's storage limits, and the storage step through a reconcile against the fake API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from devenv_operator import builders, classes, kube, models
from devenv_operator.volumes import parse_quantity
from tests.unit.test_reconcile_parts import World

DATA = {"name": "data", "mountPath": "/var/lib/postgresql/data", "size": "1Gi"}
RUN = {"name": "run", "mountPath": "/var/run/postgresql", "emptyDir": {"sizeLimit": "64Mi"}}


def service(*volumes: dict[str, Any], name: str = "db", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "postgres:16", "volumes": list(volumes), **fields}


def spec(*services: dict[str, Any]) -> models.DevEnvironmentSpec:
    return models.DevEnvironmentSpec.model_validate({"services": list(services)})


def env(the_spec: models.DevEnvironmentSpec, **policy: Any) -> builders.Env:
    return builders.Env(name="pr-1", uid="u", spec=the_spec, namespace="dev-pr-1",
                        class_name="c" if policy else None,
                        policy=classes.DevEnvironmentClassSpec.model_validate(policy)
                        if policy else builders.UNCLASSED)


@pytest.mark.parametrize(("text", "value"), [
    ("1Gi", 2**30), ("500M", 5e8), ("2", 2), (3, 3), ("1.5Ki", 1536), ("1e3", 1000),
    ("100m", 0.1), ("1E", 1e18)])
def test_quantities_are_parsed_as_the_api_server_reads_them(text: Any, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize(("volume", "message"), [
    ({"name": "v", "mountPath": "/x"}, "exactly one of size"),
    ({"name": "v", "mountPath": "/x", "size": "1Gi", "emptyDir": {}}, "exactly one of size"),
    ({"name": "v", "mountPath": "/proc", "emptyDir": {}}, "may not be /, /proc"),
    ({"name": "v", "mountPath": "/x", "size": "lots"}, "not a quantity"),
    ({"name": "v", "mountPath": "/x", "size": "0"}, "more than 0"),
    ({"name": "v", "mountPath": "relative", "emptyDir": {}}, "should match pattern"),
    ({"name": "V", "mountPath": "/x", "emptyDir": {}}, "should match pattern"),
])
def test_a_bad_volume_is_refused_with_what_is_wrong(volume: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(service(volume))


def test_volume_names_and_mount_paths_are_unique_in_a_service() -> None:
    with pytest.raises(ValidationError, match="names must be unique"):
        spec(service(DATA, {**RUN, "name": "data"}))
    with pytest.raises(ValidationError, match="its own mountPath"):
        spec(service(DATA, {**RUN, "mountPath": DATA["mountPath"] + "/"}))


def test_two_volumes_that_would_share_a_claim_name_are_refused() -> None:
    with pytest.raises(ValidationError, match="share the claim name a-b-c"):
        spec(service({**DATA, "name": "c"}, name="a-b"), service({**DATA, "name": "b-c"},
                                                                 name="a"))


def test_a_persistent_volume_is_a_claim_of_the_class_s_storage_class() -> None:
    the_env = env(spec(service(DATA, RUN)), storage={"storageClassName": "fast"})
    (claim,) = builders.build_volume_claims(the_env, the_env.spec.services[0])
    assert claim["metadata"]["name"] == "db-data"
    assert claim["metadata"]["namespace"] == "dev-pr-1"
    assert claim["metadata"]["labels"][builders.ENVIRONMENT_LABEL] == "pr-1"
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": "1Gi"}},
                             "storageClassName": "fast"}
    unclassed = env(spec(service(DATA)))
    (plain,) = builders.build_volume_claims(unclassed, unclassed.spec.services[0])
    assert "storageClassName" not in plain["spec"]  # the cluster's default


def test_the_pod_mounts_its_claims_and_empty_dirs_and_is_recreated_not_rolled() -> None:
    the_env = env(spec(service(DATA, {**RUN, "readOnly": True})))
    deployment = builders.build_deployment(the_env, the_env.spec.services[0])
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "db-data"}},
        {"name": "run", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "data", "mountPath": "/var/lib/postgresql/data"},
        {"name": "run", "mountPath": "/var/run/postgresql", "readOnly": True}]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_a_service_with_only_scratch_space_keeps_its_rolling_updates() -> None:
    the_env = env(spec(service({**RUN, "emptyDir": {}})))
    deployment = builders.build_deployment(the_env, the_env.spec.services[0])
    assert "strategy" not in deployment["spec"]
    assert deployment["spec"]["template"]["spec"]["volumes"] == [{"name": "run", "emptyDir": {}}]
    assert builders.build_volume_claims(the_env, the_env.spec.services[0]) == []


def broken(the_spec: models.DevEnvironmentSpec, **storage: Any) -> list[classes.Violation]:
    policy = classes.DevEnvironmentClassSpec.model_validate({"storage": storage})
    return classes.violations(the_spec, "team", policy, namespace="dev-pr-1",
                              operator_prefix="dev-")


def test_the_class_caps_each_volume_the_total_and_the_count() -> None:
    two = spec(service({**DATA, "size": "6Gi"}, {**DATA, "name": "wal", "mountPath": "/wal",
                                                 "size": "5Gi"}))
    assert broken(two, maxVolumeSize="6Gi", maxTotal="11Gi", maxVolumes=2) == []
    (size,) = broken(two, maxVolumeSize="5Gi")
    assert size.rule == "storage.maxVolumeSize"
    assert "volume data asks for 6Gi" in size.message
    assert "5Gi per volume" in size.message
    (total,) = broken(two, maxTotal="10Gi")
    assert total.rule == "storage.maxTotal"
    assert "6Gi + 5Gi" in total.message
    (count,) = broken(two, maxVolumes=1)
    assert count.rule == "storage.maxVolumes"
    assert "2 persistent volumes" in count.message
    assert broken(spec(service(RUN)), maxVolumes=0) == []  # emptyDir is no claim


@pytest.fixture
def world() -> Iterator[World]:
    made = World()
    yield made
    made.close()


def test_a_reconcile_applies_the_claims_and_prunes_one_the_spec_drops(world: World) -> None:
    body = world.environment(services=[service(DATA, {**DATA, "name": "wal",
                                                      "mountPath": "/wal"})])
    outcome = world.reconcile(body)
    assert outcome.status["phase"] == "Provisioning"
    for claim in ("db-data", "db-wal"):
        stored = world.api.stored(kube.PVC, claim, "dev-pr-1")
        assert stored is not None
        assert stored["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    body = world.api.patch(kube.DEVENV, "pr-1", {"spec": {"services": [service(DATA)]}})
    world.children.invalidate(world.records.open(body["metadata"]["uid"], "pr-1"))
    world.reconcile(body)
    assert world.api.stored(kube.PVC, "db-data", "dev-pr-1") is not None
    assert world.api.stored(kube.PVC, "db-wal", "dev-pr-1") is None


def job_spec(*volumes: dict[str, Any], name: str = "seed") -> models.DevEnvironmentSpec:
    return models.DevEnvironmentSpec.model_validate({
        "services": [service(DATA)],
        "jobs": [{"name": name, "image": "postgres:16", "volumes": list(volumes)}]})


def test_a_job_mounts_its_claim_and_scratch_space_and_its_claim_is_built() -> None:
    the_env = env(job_spec({**DATA, "name": "dump", "mountPath": "/dump"}, RUN),
                  storage={"storageClassName": "fast"})
    job = the_env.spec.jobs[0]
    (claim,) = builders.build_volume_claims(the_env, job)
    assert claim["metadata"]["name"] == "seed-dump"
    assert claim["spec"]["storageClassName"] == "fast"
    pod = builders.build_job(the_env, job)["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "dump", "persistentVolumeClaim": {"claimName": "seed-dump"}},
        {"name": "run", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "dump", "mountPath": "/dump"},
        {"name": "run", "mountPath": "/var/run/postgresql"}]
    plain = builders.build_job(env(job_spec()), job_spec().jobs[0])["spec"]["template"]["spec"]
    assert "volumes" not in plain
    assert "volumeMounts" not in plain["containers"][0]


def test_a_job_s_claim_may_not_take_a_service_s_claim_name() -> None:
    with pytest.raises(ValidationError, match="share the claim name db-data"):
        job_spec({**DATA, "name": "data"}, name="db")


def test_the_class_counts_the_jobs_claims_with_the_services() -> None:
    both = job_spec({**DATA, "name": "dump", "mountPath": "/dump", "size": "2Gi"})
    assert broken(both, maxVolumes=2, maxTotal="3Gi") == []
    (count,) = broken(both, maxVolumes=1)
    assert count.rule == "storage.maxVolumes"
    (total,) = broken(both, maxTotal="2Gi")
    assert "1Gi + 2Gi" in total.message


def test_a_reconcile_applies_a_job_s_claim(world: World) -> None:
    body = world.environment(services=[service(RUN)],
                             jobs=[{"name": "seed", "image": "postgres:16",
                                    "volumes": [{**DATA, "name": "dump", "mountPath": "/d"}]}])
    world.reconcile(body)
    assert world.api.stored(kube.PVC, "seed-dump", "dev-pr-1") is not None
