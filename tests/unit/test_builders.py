"""Pure builders: the objects an environment's spec turns into."""

from __future__ import annotations

import base64
from typing import Any

from devenv_operator import builders, classes, models
from devenv_operator.builders import Ownership

SPEC = models.DevEnvironmentSpec.model_validate({
    "owner": "Alice Smith <alice@example.com>",
    "services": [
        {"name": "db", "image": "postgres:16", "ports": [{"name": "pg", "port": 5432}],
         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
        {"name": "api", "image": "api:1", "dependsOn": ["db"], "replicas": 2,
         "env": [{"name": "A", "value": "1"},
                 {"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
         "envFrom": [{"configMapRef": {"name": "app"}}]},
        {"name": "worker", "image": "w:1"},
    ],
    "config": {
        "configMaps": [{"name": "app", "data": {"LOG": "debug"}}],
        "secrets": [
            {"name": "lit", "stringData": {"user": "u"}},
            {"name": "db", "generate": {"keys": ["password", "token"], "length": 12}},
            {"name": "pull", "copyFrom": {"namespace": "platform", "name": "registry"}},
        ],
    },
})
ENV = builders.Env(name="pr-1", uid="uid-1", spec=SPEC, namespace="dev-pr-1")


def fixed(n: int) -> str:
    return "r" * n


def test_every_object_carries_the_contract_labels() -> None:
    objects = [builders.build_namespace(ENV), *builders.build_config_maps(ENV)]
    for service in SPEC.services:
        objects.append(builders.build_deployment(ENV, service))
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "devenv-operator"
        assert labels["shipit.dev/environment"] == "pr-1"
        assert labels["shipit.dev/owner"] == "Alice-Smith-alice-example.com"
        assert obj["metadata"]["annotations"]["shipit.dev/owner"] == SPEC.owner
    deployment = builders.build_deployment(ENV, SPEC.services[0])
    assert deployment["metadata"]["labels"]["app.kubernetes.io/name"] == "db"
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "db"


def test_namespace_is_owned_by_the_environment() -> None:
    ns = builders.build_namespace(ENV)
    [ref] = ns["metadata"]["ownerReferences"]
    assert ref == {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
                   "name": "pr-1", "uid": "uid-1", "controller": True,
                   "blockOwnerDeletion": True}


def test_namespace_ownership_needs_labels_and_owner_uid() -> None:
    ours = builders.build_namespace(ENV)
    assert builders.namespace_ownership(ours, "pr-1", "uid-1") is Ownership.OURS
    assert builders.namespace_ownership(ours, "pr-1", "other-uid") is Ownership.FOREIGN
    labelled_only = {"metadata": {"name": "dev-pr-1", "labels": ours["metadata"]["labels"]}}
    assert builders.namespace_ownership(labelled_only, "pr-1", "uid-1") is Ownership.FOREIGN
    bare: dict[str, Any] = {"metadata": {"name": "dev-pr-1"}}
    assert builders.namespace_ownership(bare, "pr-1", "uid-1") is Ownership.FOREIGN
    old = {"metadata": {**ours["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z",
                        "ownerReferences": [{"uid": "previous"}]}}
    assert builders.namespace_ownership(old, "pr-1", "uid-1") is Ownership.TERMINATING


def test_deployment_mirrors_the_service() -> None:
    api = builders.build_deployment(ENV, SPEC.services[1])
    assert api["spec"]["replicas"] == 2
    assert api["spec"]["selector"]["matchLabels"] == {
        "shipit.dev/environment": "pr-1", "app.kubernetes.io/name": "api"}
    [container] = api["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "api:1"
    assert container["env"][1] == {
        "name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
    assert container["envFrom"] == [{"configMapRef": {"name": "app"}}]
    db = builders.build_deployment(ENV, SPEC.services[0])
    assert db["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"}}


def test_service_only_when_ports_are_given() -> None:
    svc = builders.build_service(ENV, SPEC.services[0])
    assert svc is not None
    assert svc["spec"]["ports"] == [{"name": "pg", "port": 5432, "targetPort": 5432,
                                     "protocol": "TCP"}]
    assert builders.build_service(ENV, SPEC.services[2]) is None


def copyable(labelled: bool = True, data: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"shipit.dev/copyable": "true"} if labelled else {}
    return {"metadata": {"labels": labels}, "type": "kubernetes.io/dockerconfigjson",
            "data": data or {".dockerconfigjson": "e30="}}


def test_secrets_from_literals_generation_and_copy() -> None:
    secrets, problems = builders.build_secrets(
        ENV, existing={}, sources={("platform", "registry"): copyable()}, random_value=fixed)
    assert problems == []
    by_name = {s["metadata"]["name"]: s for s in secrets}
    assert base64.b64decode(by_name["lit"]["data"]["user"]) == b"u"
    assert base64.b64decode(by_name["db"]["data"]["password"]) == b"r" * 12
    assert by_name["pull"]["type"] == "kubernetes.io/dockerconfigjson"
    assert by_name["pull"]["data"] == {".dockerconfigjson": "e30="}


def test_generated_values_are_kept_across_reconciles() -> None:
    existing = {"db": {"password": "a2VlcA=="}}
    secrets, _ = builders.build_secrets(
        ENV, existing=existing, sources={("platform", "registry"): copyable()},
        random_value=fixed)
    db = next(s for s in secrets if s["metadata"]["name"] == "db")
    assert db["data"]["password"] == "a2VlcA=="  # kept
    assert base64.b64decode(db["data"]["token"]) == b"r" * 12  # new key generated


def test_copy_refused_without_the_owners_opt_in() -> None:
    secrets, problems = builders.build_secrets(
        ENV, existing={}, sources={("platform", "registry"): copyable(labelled=False)},
        random_value=fixed)
    assert [p.reason for p in problems] == ["SecretNotCopyable"]
    assert "platform/registry" in problems[0].message
    assert "pull" not in {s["metadata"]["name"] for s in secrets}


def test_a_missing_source_reads_exactly_like_one_not_shared() -> None:
    """No existence oracle: the reason and message cannot tell the two apart."""
    _, missing = builders.build_secrets(
        ENV, existing={}, sources={("platform", "registry"): None}, random_value=fixed)
    _, unshared = builders.build_secrets(
        ENV, existing={}, sources={("platform", "registry"): copyable(labelled=False)},
        random_value=fixed)
    assert [(p.secret, p.reason) for p in missing] == [("pull", "SecretNotCopyable")]
    assert missing == unshared


def test_class_pull_secrets_are_copied_after_the_seeds_unless_the_spec_seeds_that_name() -> None:
    policy = classes.DevEnvironmentClassSpec.model_validate({"images": {"pullSecrets": [
        {"namespace": "platform", "name": "pull"}, {"namespace": "platform", "name": "mirror"},
        {"namespace": "platform", "name": "gone"}]}})
    env = builders.Env(name="pr-1", uid="uid-1", spec=SPEC, namespace="dev-pr-1", policy=policy)
    sources = {("platform", "registry"): copyable(), ("platform", "mirror"): copyable(),
               ("platform", "pull"): copyable(), ("platform", "gone"): None}
    secrets, problems = builders.build_secrets(
        env, existing={}, sources=sources, random_value=fixed)
    assert [s["metadata"]["name"] for s in secrets] == ["lit", "db", "pull", "mirror"]
    copied = {s["metadata"]["name"]: s["metadata"]["annotations"]["shipit.dev/copied-from"]
              for s in secrets[2:]}
    assert copied == {"pull": "platform/registry", "mirror": "platform/mirror"}  # the spec's pull
    assert [(p.secret, p.reason) for p in problems] == [("gone", "SecretNotCopyable")]


def test_problem_messages_never_contain_secret_values() -> None:
    source = copyable(labelled=False, data={"token": base64.b64encode(b"hunter2").decode()})
    _, problems = builders.build_secrets(
        ENV, existing={}, sources={("platform", "registry"): source}, random_value=fixed)
    for problem in problems:
        assert "hunter2" not in problem.message
        assert source["data"]["token"] not in problem.message
