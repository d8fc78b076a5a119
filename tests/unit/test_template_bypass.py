"""An environment's overrides may not set what its template fills from a parameter (issue
26): before, ``services: [{name: api, image: evil.example/x}]`` beat the parameter's
allowedRegistries, and any other rule of a parameter could be skipped the same way."""

from __future__ import annotations

from typing import Any

import pytest

from devenv_operator import templates
from devenv_operator.reasons import Reason

TEMPLATE: dict[str, Any] = {
    "parameters": [
        {"name": "apiImage", "type": "image", "required": True,
         "allowedRegistries": ["registry.example.com/shop/"]},
        {"name": "replicas", "type": "integer", "default": 1, "minimum": 1, "maximum": 3},
        {"name": "level", "type": "string", "enum": ["debug", "info"], "default": "info"}],
    "services": [
        {"name": "db", "image": "postgres:16"},
        {"name": "api", "image": "$(params.apiImage)", "replicas": "$(params.replicas)",
         "env": [{"name": "LOG_LEVEL", "value": "$(params.level)"}], "workingDir": "/app"}],
    "jobs": [{"name": "seed", "image": "$(params.apiImage)", "args": ["seed"]}],
    "config": {"configMaps": [{"name": "app", "data": {"LEVEL": "$(params.level)", "A": "1"}}]},
}
PARAMS = {"apiImage": "registry.example.com/shop/api:1"}


def render(services: list[Any] | None = None, config: dict[str, Any] | None = None,
           jobs: list[Any] | None = None) -> Any:
    environment = {"templateRef": {"name": "shop"}, "parameters": PARAMS,
                   **({"jobs": jobs} if jobs else {})}
    return templates.render(TEMPLATE, PARAMS, services, config, environment=environment)


@pytest.mark.parametrize(("kwargs", "where", "parameter"), [
    ({"services": [{"name": "api", "image": "evil.example/x:1"}]},
     "spec.services[api].image", "apiImage"),
    ({"services": [{"name": "api", "replicas": 20}]}, "spec.services[api].replicas",
     "replicas"),
    ({"services": [{"name": "api", "env": [{"name": "LOG_LEVEL", "value": "trace"}]}]},
     "spec.services[api].env", "level"),
    ({"jobs": [{"name": "seed", "image": "evil.example/x:1"}]}, "spec.jobs[seed].image",
     "apiImage"),
    ({"config": {"configMaps": [{"name": "app", "data": {"LEVEL": "trace"}}]}},
     "spec.config.configMaps[app].data.LEVEL", "level"),
])
def test_an_override_of_a_parameterized_field_is_refused(
        kwargs: dict[str, Any], where: str, parameter: str) -> None:
    result = render(**kwargs)
    assert isinstance(result, templates.RenderError)
    assert result.reason == Reason.INVALID_SPEC
    assert result.message.startswith(f"{where}: the template fills it from parameter "
                                     f"{parameter}")


def test_overrides_of_what_no_parameter_fills_still_merge() -> None:
    result = render(services=[{"name": "api", "workingDir": "/srv"},
                              {"name": "db", "image": "postgres:17"},
                              {"name": "extra", "image": "registry.example.com/shop/x:1"}],
                    config={"configMaps": [{"name": "app", "data": {"A": "2"}}]})
    assert not isinstance(result, templates.RenderError), result
    services = {s["name"]: s for s in result.spec["services"]}
    assert services["api"]["workingDir"] == "/srv"
    assert services["api"]["image"] == PARAMS["apiImage"]
    assert services["db"]["image"] == "postgres:17"
    assert result.spec["config"]["configMaps"][0]["data"] == {"LEVEL": "info", "A": "2"}


def test_an_override_may_repeat_the_value_the_parameter_gives() -> None:
    """The schema wants an override's image: naming the one the parameter gives is fine."""
    result = render(services=[{"name": "api", "image": PARAMS["apiImage"], "workingDir": "/x"}],
                    jobs=[{"name": "seed", "image": PARAMS["apiImage"], "args": ["more"]}])
    assert not isinstance(result, templates.RenderError), result
    assert result.spec["jobs"][0]["args"] == ["more"]
