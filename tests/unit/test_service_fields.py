"""The service fields real software needs: probes, imagePullPolicy, workingDir, a
securityContext bounded by the class, and the class's default resources in the Deployment.

Models, builders and ``classes.violations``, without a cluster; tests/e2e/
test_service_fields.py drives the same through the apiserver.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from devenv_operator import builders, classes, crdgen, models, placeholders
from devenv_operator.classes import DevEnvironmentClassSpec

CLASS = "team"
DB = {"name": "db", "image": "postgres:16"}
PROBE = {"tcpSocket": {"port": 5432}}


def spec(*services: dict[str, Any]) -> models.DevEnvironmentSpec:
    return models.DevEnvironmentSpec.model_validate({"services": list(services) or [DB]})


def policy(**fields: Any) -> DevEnvironmentClassSpec:
    return DevEnvironmentClassSpec.model_validate(fields)


def deployment(env_spec: models.DevEnvironmentSpec,
               cls: DevEnvironmentClassSpec | None = None) -> dict[str, Any]:
    env = builders.Env(name="pr-1", uid="u", spec=env_spec, namespace="dev-pr-1",
                       class_name=CLASS if cls else None, policy=cls or builders.UNCLASSED)
    return builders.build_deployment(env, env_spec.services[0])


def pod_of(env_spec: models.DevEnvironmentSpec,
           cls: DevEnvironmentClassSpec | None = None) -> dict[str, Any]:
    return dict(deployment(env_spec, cls)["spec"]["template"]["spec"])


def rules(env_spec: models.DevEnvironmentSpec, cls: DevEnvironmentClassSpec) -> list[str]:
    found = classes.violations(env_spec, CLASS, cls, namespace="dev-pr-1",
                               operator_prefix="dev-")
    return [v.rule for v in found]


# -- models -------------------------------------------------------------------------------


def test_the_new_fields_are_written_as_on_a_core_container() -> None:
    container = pod_of(spec({**DB, "imagePullPolicy": "Always", "workingDir": "/srv",
                             "livenessProbe": PROBE,
                             "startupProbe": {**PROBE, "failureThreshold": 30,
                                              "successThreshold": 1}}))["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["workingDir"] == "/srv"
    assert container["livenessProbe"] == {"tcpSocket": {"port": 5432}}
    assert container["startupProbe"] == {"tcpSocket": {"port": 5432}, "failureThreshold": 30,
                                         "successThreshold": 1}
    assert "readinessProbe" not in container


def test_unset_fields_are_left_to_the_api_server_defaults() -> None:
    container = pod_of(spec())["containers"][0]
    for key in ("imagePullPolicy", "workingDir", "livenessProbe", "startupProbe",
                "resources"):
        assert key not in container


@pytest.mark.parametrize(("service", "where"), [
    ({"imagePullPolicy": "Sometimes"}, "imagePullPolicy"),
    ({"workingDir": "srv"}, "workingDir"),
    ({"workingDir": ""}, "workingDir"),
    ({"livenessProbe": {**PROBE, "successThreshold": 2}}, "livenessProbe.successThreshold"),
    ({"startupProbe": {**PROBE, "successThreshold": 2}}, "startupProbe.successThreshold"),
    ({"startupProbe": {"tcpSocket": {"port": 1, "host": "elsewhere"}}}, "host"),
    ({"livenessProbe": {}}, "livenessProbe"),
    ({"securityContext": {"privileged": True}}, "securityContext.privileged"),
    ({"securityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation"),
    ({"securityContext": {"runAsUser": -1}}, "securityContext.runAsUser"),
    ({"securityContext": {"runAsGroup": 2**31}}, "securityContext.runAsGroup"),
    ({"securityContext": {"runAsNonRoot": True, "runAsUser": 0}}, "contradicts"),
    ({"securityContext": {"capabilities": {"add": ["chown"]}}}, "capabilities.add"),
    ({"securityContext": {"capabilities": {"add": ["CAP_CHOWN"]}}}, "without CAP_"),
    ({"securityContext": {"capabilities": {"drop": ["ALL"]}}}, "capabilities.drop"),
])
def test_bad_values_are_refused_with_where_they_are(service: dict[str, Any],
                                                    where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec({**DB, **service})
    assert where in str(caught.value)


def test_the_crd_refuses_what_the_models_refuse() -> None:
    schema = crdgen.render()
    assert "runAsNonRoot: true contradicts runAsUser: 0" in schema
    assert "!self.startsWith('CAP_')" in schema.replace("''", "'")
    assert "maximum: 1" in schema  # successThreshold of liveness and startup probes


def test_template_schemas_drop_a_rule_that_reads_a_boolean_placeholder_leaf() -> None:
    node = {"type": "object", "properties": {
        "runAsNonRoot": {"type": "boolean"}, "runAsUser": {"type": "integer"},
        "name": {"type": "string"}},
        "x-kubernetes-validations": [
            {"rule": "!(has(self.runAsNonRoot) && self.runAsNonRoot == true)", "message": "a"},
            {"rule": "self.name != 'x'", "message": "b"}]}
    out = placeholders.accept_placeholders(node)
    assert [v["message"] for v in out["x-kubernetes-validations"]] == ["b"]
    only = placeholders.accept_placeholders({**node, "x-kubernetes-validations": [
        node["x-kubernetes-validations"][0]]})  # type: ignore[index]
    assert "x-kubernetes-validations" not in only


# -- securityContext in the Deployment ----------------------------------------------------


def test_the_service_security_context_is_laid_over_the_class_hardening() -> None:
    env_spec = spec({**DB, "securityContext": {
        "runAsUser": 999, "runAsGroup": 998, "fsGroup": 997, "runAsNonRoot": True,
        "readOnlyRootFilesystem": True, "capabilities": {"add": ["CHOWN", "SETUID"]}}})
    pod = pod_of(env_spec, policy(workloadSecurity={
        "addCapabilities": ["SETUID", "SETGID"], "allowedCapabilities": ["CHOWN"]}))
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"},
                                      "fsGroup": 997}
    assert pod["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False, "runAsUser": 999, "runAsGroup": 998,
        "runAsNonRoot": True, "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["SETUID", "SETGID", "CHOWN"]}}


def test_without_a_security_context_the_class_hardening_is_all() -> None:
    pod = pod_of(spec(), policy())
    assert pod["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}


def test_a_class_that_drops_nothing_still_adds_what_a_service_asks() -> None:
    pod = pod_of(spec({**DB, "securityContext": {"capabilities": {"add": ["CHOWN"]}}}),
                 policy(workloadSecurity={"dropAllCapabilities": False,
                                          "allowedCapabilities": ["CHOWN"]}))
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"add": ["CHOWN"]}


def test_a_class_without_root_makes_containers_non_root_unless_the_service_says_more() -> None:
    no_root = policy(workloadSecurity={"allowRoot": False})
    plain = pod_of(spec(), no_root)["containers"][0]["securityContext"]
    assert plain["runAsNonRoot"] is True
    mine = pod_of(spec({**DB, "securityContext": {"runAsUser": 70}}), no_root)
    assert mine["containers"][0]["securityContext"]["runAsNonRoot"] is True
    assert "runAsNonRoot" not in pod_of(spec(), policy())["containers"][0]["securityContext"]


# -- the class bounds -----------------------------------------------------------------------


BOUNDED = policy(workloadSecurity={"allowedCapabilities": ["CHOWN", "NET_BIND_SERVICE"],
                                   "addCapabilities": ["SETUID"], "allowRoot": False})


@pytest.mark.parametrize(("security", "rule"), [
    ({"capabilities": {"add": ["SYS_ADMIN"]}}, "workloadSecurity.allowedCapabilities"),
    ({"capabilities": {"add": ["CHOWN", "NET_RAW"]}}, "workloadSecurity.allowedCapabilities"),
    ({"capabilities": {"add": ["ALL"]}}, "workloadSecurity.allowedCapabilities"),
    ({"runAsUser": 0}, "workloadSecurity.allowRoot"),
    ({"runAsNonRoot": False}, "workloadSecurity.allowRoot"),
])
def test_a_service_gets_no_more_than_its_class_allows(security: dict[str, Any],
                                                      rule: str) -> None:
    env_spec = spec({"name": "web", "image": "nginx:1"}, {**DB, "securityContext": security})
    found = classes.violations(env_spec, CLASS, BOUNDED, namespace="dev-pr-1",
                               operator_prefix="dev-")
    assert [v.rule for v in found] == [rule]
    assert "service db" in found[0].message
    assert f"class {CLASS}" in found[0].message


def test_what_the_class_allows_or_gives_anyway_is_accepted() -> None:
    env_spec = spec({**DB, "securityContext": {
        "runAsUser": 999, "runAsNonRoot": True, "fsGroup": 0,
        "capabilities": {"add": ["CHOWN", "NET_BIND_SERVICE", "SETUID"]}}})
    assert rules(env_spec, BOUNDED) == []


def test_by_default_a_class_allows_root_and_no_added_capability() -> None:
    assert rules(spec({**DB, "securityContext": {"runAsUser": 0}}), policy()) == []
    assert rules(spec({**DB, "securityContext": {"capabilities": {"add": ["CHOWN"]}}}),
                 policy()) == ["workloadSecurity.allowedCapabilities"]


def test_a_class_listing_all_allows_any_capability() -> None:
    env_spec = spec({**DB, "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}})
    assert rules(env_spec, policy(workloadSecurity={"allowedCapabilities": ["ALL"]})) == []


def test_the_refusal_names_the_class_and_the_field() -> None:
    env_spec = spec({**DB, "securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}}})
    resolved = classes.Resolved(CLASS, BOUNDED)
    reason, message = classes.refusal(resolved, env_spec, namespace="dev-pr-1",
                                      operator_prefix="dev-", owner_count=0) or ("", "")
    assert reason == "PolicyViolation"
    assert "class team" in message
    assert "securityContext.capabilities.add SYS_PTRACE" in message


# -- the class's default resources ----------------------------------------------------------


LIMITS = policy(limitRange={"defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                            "default": {"memory": "512Mi"}, "max": {"cpu": "4"}})


def resources(service: dict[str, Any], cls: DevEnvironmentClassSpec = LIMITS) -> Any:
    return pod_of(spec({**DB, **service}), cls)["containers"][0].get("resources")


def test_a_service_without_resources_gets_what_the_limit_range_would_give() -> None:
    # As the apiserver defaults a LimitRange: a default limit from max, a request from it.
    assert resources({}) == {"limits": {"cpu": "4", "memory": "512Mi"},
                             "requests": {"cpu": "50m", "memory": "64Mi"}}
    assert resources({}, policy(limitRange={"default": {"memory": "1Gi"}})) == {
        "limits": {"memory": "1Gi"}, "requests": {"memory": "1Gi"}}


def test_what_a_service_sets_wins_key_by_key() -> None:
    assert resources({"resources": {"requests": {"memory": "256Mi"},
                                    "limits": {"cpu": "1", "memory": "1Gi"}}}) == {
        "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "256Mi"}}
    # A limit of its own without a request: the request is that limit, as for a pod.
    assert resources({"resources": {"limits": {"memory": "128Mi"}}}) == {
        "limits": {"cpu": "4", "memory": "128Mi"}, "requests": {"cpu": "50m", "memory": "128Mi"}}


def test_no_limit_range_no_defaults() -> None:
    assert resources({}, policy()) is None
    assert resources({"resources": {"requests": {"cpu": 1}}}, policy()) == {
        "requests": {"cpu": "1"}}
