"""DevEnvironmentTemplate through kubectl: typed parameters, defaults, every kind of invalid
parameter, a missing template, overrides merged by name, a template edit re-rendering its
environments, and a template that breaks later while its environment keeps running.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    apply,
    condition,
    devenv,
    get,
    unique,
    wait_for,
    wait_ready,
    wait_reason,
)

pytestmark = pytest.mark.e2e

SHOP = yaml.safe_load((ROOT / "examples" / "template-shop.yaml").read_text())


@pytest.fixture
def template(kubectl: Kubectl) -> Iterator[dict[str, Any]]:
    """The example template under a fresh name (removed afterwards)."""
    obj = copy.deepcopy(SHOP)
    obj["metadata"]["name"] = unique("shop")
    apply(kubectl, obj)
    yield obj
    kubectl("delete", "devenvironmenttemplate", obj["metadata"]["name"], "--ignore-not-found")


def env_from(name: str, template: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
            "metadata": {"name": name}, "spec": {"templateRef": {"name": template}, **spec}}






def test_a_template_renders_typed_values_and_defaults(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        template: dict[str, Any]) -> None:
    tpl = template["metadata"]["name"]
    wait_for(lambda: condition(get(kubectl, "devenvironmenttemplate", tpl), "Valid")
             .get("status") == "True", 30, what="the template to be checked Valid")
    name = unique("tpl")
    names.append(name)
    apply(kubectl, env_from(name, tpl, parameters={
        "apiImage": "registry.example.com/shop/api:pr-1", "apiReplicas": "2"}))
    env = wait_ready(kubectl, name)
    ns = env["status"]["namespace"]
    assert env["status"]["template"] == {"name": tpl, "generation": 1}
    resolved = condition(env, "TemplateResolved")
    assert (resolved["status"], resolved["reason"]) == ("True", "TemplateRendered")
    api = get(kubectl, "deployment", "api", "-n", ns) or {}
    assert api["spec"]["replicas"] == 2  # the string "2" arrived as the integer 2
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example.com/shop/api:pr-1")
    config = get(kubectl, "configmap", "app-config", "-n", ns) or {}
    assert config["data"]["LOG_LEVEL"] == "info"  # the default
    assert env["status"]["expiresAt"]  # the template's ttl


@pytest.mark.parametrize(("parameters", "words"), [
    ({}, "apiImage"),  # required, missing
    ({"apiImage": "docker.io/evil/api:1"}, "apiImage"),  # not from an allowed registry
    ({"apiImage": "registry.example.com/shop/api:1", "apiReplicas": 5}, "maximum"),
    ({"apiImage": "registry.example.com/shop/api:1", "apiReplicas": "many"}, "apiReplicas"),
    ({"apiImage": "registry.example.com/shop/api:1", "logLevel": "trace"}, "logLevel"),
    ({"apiImage": "registry.example.com/shop/api:1", "colour": "blue"}, "colour"),
])
def test_an_invalid_parameter_creates_nothing_and_names_the_parameter(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        template: dict[str, Any], parameters: dict[str, Any], words: str) -> None:
    name = unique("badparam")
    names.append(name)
    apply(kubectl, env_from(name, template["metadata"]["name"], parameters=parameters))
    env = wait_reason(kubectl, name, "ParameterInvalid")
    assert env["status"]["phase"] == "Failed"
    assert words in condition(env, "TemplateResolved")["message"]
    assert condition(env, "TemplateResolved")["status"] == "False"
    assert get(kubectl, "namespace", f"dev-{name}") is None


def test_a_missing_template_creates_nothing(kubectl: Kubectl, running_operator: Operator,
                                            names: list[str]) -> None:
    name = unique("notpl")
    names.append(name)
    apply(kubectl, env_from(name, "no-such-template"))
    env = wait_reason(kubectl, name, "TemplateNotFound")
    assert "no-such-template" in condition(env, "Ready")["message"]
    assert get(kubectl, "namespace", f"dev-{name}") is None


def test_overrides_are_merged_by_name(kubectl: Kubectl, running_operator: Operator,
                                      names: list[str], template: dict[str, Any]) -> None:
    name = unique("override")
    names.append(name)
    apply(kubectl, env_from(name, template["metadata"]["name"],
                            parameters={"apiImage": "registry.example.com/shop/api:1"},
                            services=[{"name": "worker", "image": "registry.example.com/w:1"},
                                      {"name": "cache", "image": "redis:7.4"}]))
    env = wait_ready(kubectl, name)
    ns = env["status"]["namespace"]
    assert {s["name"] for s in env["status"]["services"]} == {"db", "cache", "api", "worker"}
    cache = get(kubectl, "deployment", "cache", "-n", ns) or {}
    container = cache["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "redis:7.4"
    assert container["ports"][0]["containerPort"] == 6379  # the rest of the template's


def test_an_override_cannot_skip_a_parameter_s_rules(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        template: dict[str, Any]) -> None:
    """The api image comes from apiImage, whose allowedRegistries a literal override of the
    image skipped before."""
    name = unique("bypass")
    names.append(name)
    apply(kubectl, env_from(name, template["metadata"]["name"],
                            parameters={"apiImage": "registry.example.com/shop/api:1"},
                            services=[{"name": "api", "image": "docker.io/evil/api:1"}]))
    env = wait_reason(kubectl, name, "InvalidSpec")
    message = condition(env, "Ready")["message"]
    assert "spec.services[api].image: the template fills it from parameter apiImage" in message
    assert get(kubectl, "namespace", f"dev-{name}") is None


def test_editing_a_template_re_renders_and_a_broken_one_keeps_the_environment_running(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        template: dict[str, Any]) -> None:
    tpl = template["metadata"]["name"]
    name = unique("follow")
    names.append(name)
    apply(kubectl, env_from(name, tpl, parameters={
        "apiImage": "registry.example.com/shop/api:1"}))
    env = wait_ready(kubectl, name)
    ns = env["status"]["namespace"]

    edited = copy.deepcopy(template)
    edited["spec"]["parameters"][2]["default"] = "debug"
    apply(kubectl, edited)
    wait_for(lambda: ((get(kubectl, "configmap", "app-config", "-n", ns) or {}).get("data")
                      or {}).get("LOG_LEVEL") == "debug", 60,
             what="the edit to reach the environment")
    wait_for(lambda: ((devenv(kubectl, name) or {}).get("status") or {}).get("template")
             == {"name": tpl, "generation": 2}, 30, what="status.template generation 2")

    broken = copy.deepcopy(edited)
    broken["spec"]["services"][0]["image"] = "$(params.undeclared)"
    apply(kubectl, broken)
    wait_for(lambda: condition(get(kubectl, "devenvironmenttemplate", tpl), "Valid")
             .get("status") == "False", 30, what="the template to be marked invalid")
    assert "undeclared" in condition(get(kubectl, "devenvironmenttemplate", tpl),
                                     "Valid")["message"]
    env = wait_reason(kubectl, name, "TemplateInvalid")
    assert "undeclared" in condition(env, "TemplateResolved")["message"]
    # It keeps what it had: the namespace and its services are still there.
    for service in ("db", "cache", "api"):
        assert get(kubectl, "deployment", service, "-n", ns) is not None
