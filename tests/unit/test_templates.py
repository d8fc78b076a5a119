"""Templates render typed parameters into a spec that validates, or say which rule broke."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from devenv_operator import crdgen, fields, models, overrides, parameters, placeholders, templates
from devenv_operator.templates import (
    WHOLE_PLACEHOLDER,
    DevEnvironmentTemplateSpec,
    Parameter,
    RenderedSpec,
    RenderError,
    check_template,
    render,
    template_schema,
)


def shop(**overrides: Any) -> dict[str, Any]:
    """The example template of docs/api.md Part 2."""
    base: dict[str, Any] = {
        "className": "default",
        "ttl": "8h",
        "parameters": [
            {"name": "apiImage", "type": "image", "required": True,
             "allowedRegistries": ["registry.example.com/"]},
            {"name": "apiReplicas", "type": "integer", "default": 1, "minimum": 1, "maximum": 3},
            {"name": "logLevel", "type": "string", "enum": ["debug", "info"], "default": "info"},
            {"name": "seed", "type": "boolean", "default": True},
            {"name": "tag", "type": "string", "pattern": "[a-z0-9-]+", "default": "main"},
        ],
        "services": [
            {"name": "db", "image": "postgres:16", "ports": [{"name": "pg", "port": 5432}]},
            {"name": "api", "image": "$(params.apiImage)", "replicas": "$(params.apiReplicas)",
             "dependsOn": ["db"]},
        ],
        "config": {"configMaps": [{"name": "app", "data": {"LOG_LEVEL": "$(params.logLevel)"}}]},
    }
    base.update(overrides)
    return base


IMAGE = "registry.example.com/shop/api:pr-1234"


def rendered(result: RenderedSpec | RenderError) -> RenderedSpec:
    assert isinstance(result, RenderedSpec), result
    return result


def failed(result: RenderedSpec | RenderError) -> RenderError:
    assert isinstance(result, RenderError), result
    return result


def service(result: RenderedSpec, name: str) -> dict[str, Any]:
    return next(s for s in result.spec["services"] if s["name"] == name)


# --- typed rendering and defaults ---------------------------------------------------------

def test_an_integer_placeholder_arrives_as_an_integer_even_when_ci_passes_text() -> None:
    result = rendered(render(shop(), {"apiImage": IMAGE, "apiReplicas": "3"}))
    assert service(result, "api")["replicas"] == 3
    assert result.model.services[1].replicas == 3
    assert service(result, "api")["image"] == IMAGE


def test_defaults_fill_in_parameters_the_environment_does_not_give() -> None:
    result = rendered(render(shop(), {"apiImage": IMAGE}))
    assert service(result, "api")["replicas"] == 1
    assert result.spec["config"]["configMaps"][0]["data"] == {"LOG_LEVEL": "info"}


def test_a_placeholder_inside_a_longer_string_stays_a_string() -> None:
    template = shop(services=[{
        "name": "api", "image": "registry.example.com/api:$(params.tag)",
        "args": ["--replicas=$(params.apiReplicas)", "--seed=$(params.seed)"]}])
    result = rendered(render(template, {"apiImage": IMAGE, "apiReplicas": 2}))
    api = service(result, "api")
    assert api["image"] == "registry.example.com/api:main"
    assert api["args"] == ["--replicas=2", "--seed=true"]


def test_a_typed_value_is_written_as_text_where_the_spec_wants_a_string() -> None:
    template = shop(services=[{"name": "api", "image": "x", "env": [
        {"name": "REPLICAS", "value": "$(params.apiReplicas)"},
        {"name": "SEED", "value": "$(params.seed)"}]}])
    result = rendered(render(template, {"apiImage": IMAGE}))
    assert service(result, "api")["env"] == [{"name": "REPLICAS", "value": "1"},
                                             {"name": "SEED", "value": "true"}]


def test_booleans_from_text_are_typed() -> None:
    template = shop(services=[{"name": "api", "image": "x", "env": [{
        "name": "A", "valueFrom": {"secretKeyRef": {
            "name": "s", "key": "k", "optional": "$(params.seed)"}}}]}])
    result = rendered(render(template, {"apiImage": IMAGE, "seed": "false"}))
    ref = result.model.services[0].env[0].value_from.secret_key_ref  # type: ignore[index,union-attr]
    assert ref is not None
    assert ref.optional is False


def test_an_optional_parameter_left_unset_leaves_its_value_out() -> None:
    template = shop(parameters=[{"name": "memory", "type": "string"}], config=None, services=[{
        "name": "api", "image": "x:$(params.memory)",
        "resources": {"limits": {"memory": "$(params.memory)", "cpu": "1"}}}])
    result = rendered(render(template, {}))
    assert service(result, "api")["resources"] == {"limits": {"cpu": "1"}}
    assert service(result, "api")["image"] == "x:"
    given_one = rendered(render(template, {"memory": "1Gi"}))
    assert service(given_one, "api")["resources"]["limits"]["memory"] == "1Gi"


def test_template_lifetime_and_class_apply_only_where_the_environment_sets_none() -> None:
    template = shop(readyTimeout="15m")
    result = rendered(render(template, {"apiImage": IMAGE},
                             environment={"owner": "alice", "ttl": "2h", "parameters": {}}))
    assert result.spec["owner"] == "alice"
    assert result.spec["ttl"] == "2h"
    assert result.spec["className"] == "default"
    assert result.spec["readyTimeout"] == "15m"
    assert "parameters" not in result.spec


# --- invalid parameters -------------------------------------------------------------------

@pytest.mark.parametrize(("given", "rule", "text"), [
    ({}, "required", "parameter apiImage: required, and no value was given"),
    ({"apiImage": IMAGE, "logLevel": "trace"}, "enum",
     "parameter logLevel: trace is not one of debug, info"),
    ({"apiImage": IMAGE, "apiReplicas": 0}, "minimum",
     "parameter apiReplicas: 0 is below the minimum 1"),
    ({"apiImage": IMAGE, "apiReplicas": "5"}, "maximum",
     "parameter apiReplicas: 5 is above the maximum 3"),
    ({"apiImage": IMAGE, "tag": "Not OK"}, "pattern",
     "parameter tag: 'Not OK' does not match the pattern [a-z0-9-]+"),
    ({"apiImage": "docker.io/evil:1"}, "allowedRegistries",
     "parameter apiImage: docker.io/evil:1 is not from an allowed registry "
     "(registry.example.com/)"),
    ({"apiImage": IMAGE, "apiReplicas": "three"}, "type",
     "parameter apiReplicas: 'three' is not an integer"),
    ({"apiImage": IMAGE, "apiReplicas": True}, "type",
     "parameter apiReplicas: True is not an integer"),
    ({"apiImage": IMAGE, "seed": "yes"}, "type", "parameter seed: 'yes' is not a boolean"),
    ({"apiImage": "registry.example.com/a b"}, "type",
     "parameter apiImage: 'registry.example.com/a b' is not an image"),
    ({"apiImage": IMAGE, "apiReplcias": 2}, "unknown",
     "parameter apiReplcias: the template declares no such parameter"),
])
def test_an_invalid_parameter_is_refused_naming_it_and_the_rule(
        given: dict[str, Any], rule: str, text: str) -> None:
    error = failed(render(shop(), given))
    assert error.reason == "ParameterInvalid"
    assert error.rule == rule
    assert text in error.message


def test_every_broken_parameter_is_named_at_once() -> None:
    error = failed(render(shop(), {"apiReplicas": 9, "logLevel": "trace"}))
    for name in ("apiImage", "apiReplicas", "logLevel"):
        assert f"parameter {name}:" in error.message


# --- invalid templates --------------------------------------------------------------------

def test_a_placeholder_naming_an_undeclared_parameter_makes_the_template_invalid() -> None:
    template = shop(services=[{"name": "api", "image": "$(params.apiImage)",
                               "replicas": "$(params.apiReplicass)"}])
    error = failed(render(template, {"apiImage": IMAGE}))
    assert error.reason == "TemplateInvalid"
    assert error.message == ("spec.services.0.replicas: $(params.apiReplicass) names no "
                             "declared parameter")
    assert check_template(template) == [error.message]


def test_a_malformed_placeholder_is_reported() -> None:
    template = shop(services=[{"name": "api", "image": "x:$(params.api-image)"}])
    assert "malformed placeholder" in failed(render(template, {"apiImage": IMAGE})).message


def test_a_rendered_spec_that_does_not_validate_names_the_field() -> None:
    template = shop(parameters=[{"name": "n", "type": "integer", "default": 30}], config=None,
                    services=[{"name": "db", "image": "x"},
                              {"name": "api", "image": "x", "replicas": "$(params.n)"}])
    error = failed(render(template, {}))
    assert error.reason == "InvalidSpec"
    assert error.message.startswith("spec.services.1.replicas: ")
    assert check_template(template) == [error.message]


def test_the_example_template_is_valid_on_its_own() -> None:
    assert check_template(shop()) == []


@pytest.mark.parametrize(("parameter", "text"), [
    ({"type": "string", "minimum": 1}, "minimum cannot apply to a string parameter"),
    ({"type": "integer", "pattern": "x"}, "pattern cannot apply to a integer parameter"),
    ({"type": "string", "allowedRegistries": ["r/"]}, "allowedRegistries cannot apply"),
    ({"type": "boolean", "enum": ["a"]}, "enum cannot apply"),
    ({"type": "string", "pattern": "("}, "not a regular expression"),
    ({"type": "string", "pattern": "(?!x).*"}, "not RE2"),
    ({"type": "integer", "minimum": 3, "maximum": 1}, "minimum 3 is above maximum 1"),
    ({"type": "integer", "enum": ["a"]}, "enum value 'a' is not of type integer"),
    ({"type": "integer", "default": 5, "maximum": 3}, "default: parameter p: 5 is above"),
    ({"type": "string", "enum": ["a"], "default": "b"}, "default: parameter p: b is not one"),
    ({"type": "boolean", "default": "maybe"}, "'maybe' is not a boolean"),
    ({"type": "image", "required": True, "default": "r/x"}, "cannot have a default"),
    ({"type": "float"}, "type"),
    ({"type": "string", "nope": 1}, "nope"),
])
def test_a_parameter_declaration_that_does_not_fit_its_type_is_refused(
        parameter: dict[str, Any], text: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(text)):
        Parameter.model_validate({"name": "p", **parameter})
    problems = check_template(shop(parameters=[{"name": "p", **parameter}]))
    assert any(text in p for p in problems), problems


def test_parameter_names_are_unique_and_well_formed() -> None:
    with pytest.raises(ValidationError, match="unique"):
        DevEnvironmentTemplateSpec.model_validate(shop(parameters=[
            {"name": "a", "type": "string"}, {"name": "a", "type": "integer"}]))
    with pytest.raises(ValidationError, match="name"):
        Parameter.model_validate({"name": "1a", "type": "string"})


def test_an_invalid_template_fails_rendering_with_its_problem() -> None:
    error = failed(render(shop(ttl="forever"), {"apiImage": IMAGE}))
    assert error.reason == "TemplateInvalid"
    assert "spec.ttl" in error.message


# --- overrides ----------------------------------------------------------------------------

def test_overrides_merge_by_name_and_new_services_are_appended() -> None:
    overrides = [{"name": "api", "env": [{"name": "A", "value": "1"}],
                  "resources": {"limits": {"memory": "1Gi"}}},
                 {"name": "worker", "image": "registry.example.com/shop/worker:pr-1234"}]
    template = shop()
    template["services"][1]["resources"] = {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    result = rendered(render(template, {"apiImage": IMAGE}, overrides))
    assert [s["name"] for s in result.spec["services"]] == ["db", "api", "worker"]
    api = service(result, "api")
    assert api["image"] == IMAGE  # kept from the template
    assert api["env"] == [{"name": "A", "value": "1"}]
    assert api["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1"}}
    assert template["services"][1]["resources"] == {"limits": {"cpu": "1"},
                                                    "requests": {"cpu": "1"}}


def test_an_override_replaces_lists_and_one_of_sources() -> None:
    template = shop(config={"secrets": [{"name": "db", "stringData": {"a": "b"}}],
                            "configMaps": [{"name": "app", "data": {"A": "1", "B": "2"}}]})
    template["services"][0]["readinessProbe"] = {"tcpSocket": {"port": 5432}}
    result = rendered(render(
        template, {"apiImage": IMAGE},
        [{"name": "db", "ports": [{"port": 1}], "readinessProbe": {"exec": {"command": ["x"]}}}],
        {"secrets": [{"name": "db", "generate": {"keys": ["password"]}}],
         "configMaps": [{"name": "app", "data": {"B": "3"}}, {"name": "more", "data": {}}]}))
    db = service(result, "db")
    assert db["ports"] == [{"port": 1}]
    assert db["readinessProbe"] == {"exec": {"command": ["x"]}}
    assert result.spec["config"]["secrets"] == [{"name": "db",
                                                 "generate": {"keys": ["password"]}}]
    assert result.spec["config"]["configMaps"] == [
        {"name": "app", "data": {"A": "1", "B": "3"}}, {"name": "more", "data": {}}]


def test_overrides_are_literal_and_need_a_name() -> None:
    error = failed(render(shop(), {"apiImage": IMAGE}, [{"image": "x"}]))
    assert error.message == "spec.services.0: an override needs a name"
    result = rendered(render(shop(), {"apiImage": IMAGE},
                             [{"name": "api", "args": ["$(params.tag)"]}]))
    assert service(result, "api")["args"] == ["$(params.tag)"]


# --- schema -------------------------------------------------------------------------------

SCHEMA = template_schema(crdgen.model_schema)


def nodes(schema: dict[str, Any], path: str = "spec") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def test_the_template_schema_is_structural() -> None:
    exempt = ("x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields")
    for path, node in nodes(SCHEMA):
        assert "type" in node or any(node.get(e) for e in exempt), path
        assert not {"anyOf", "oneOf", "allOf", "$ref"} & node.keys(), path
        if node.get("x-kubernetes-list-type") == "map":
            props, required = node["items"]["properties"], node["items"].get("required", [])
            for key in node["x-kubernetes-list-map-keys"]:
                assert "type" in props[key], f"{path}: map key {key} is untyped"
                assert key in required or "default" in props[key], path
        if node.get("x-kubernetes-list-type") == "set":
            assert node["items"].get("type") in ("string", "integer"), path


def test_integer_fields_accept_a_placeholder_and_still_refuse_other_text() -> None:
    replicas = SCHEMA["properties"]["services"]["items"]["properties"]["replicas"]
    assert replicas["x-kubernetes-int-or-string"] is True
    assert (replicas["minimum"], replicas["maximum"]) == (0, 20)
    assert replicas["pattern"] == WHOLE_PLACEHOLDER
    assert re.search(replicas["pattern"], "$(params.apiReplicas)")
    assert not re.search(replicas["pattern"], "3 $(params.apiReplicas)")
    assert replicas["description"].startswith("Number of pods")


def test_patterned_strings_accept_placeholders_and_booleans_accept_any_scalar() -> None:
    item = SCHEMA["properties"]["services"]["items"]["properties"]
    name = item["name"]["pattern"]
    assert re.search(name, "api")
    assert re.search(name, "api-$(params.suffix)")
    assert not re.search(name, "Not_A_Label")
    protocol = item["ports"]["items"]["properties"]["protocol"]["pattern"]
    assert re.search(protocol, "UDP")
    assert not re.search(protocol, "ICMP")
    optional = (item["env"]["items"]["properties"]["valueFrom"]["properties"]
                ["secretKeyRef"]["properties"]["optional"])
    assert optional.get("x-kubernetes-preserve-unknown-fields") is True
    assert "type" not in optional


def test_the_parts_of_templates_stay_importable_from_templates() -> None:
    """parameters, placeholders and overrides hold parts of templates; callers write
    templates.X."""
    for part, names in ((parameters, ("Parameter", "ParameterProblem", "Rule", "check_value",
                                      "placeholder_value")),
                        (placeholders, ("PLACEHOLDER", "WHOLE_PLACEHOLDER")),
                        (overrides, ("merge_by_name",))):
        for name in names:
            assert name in templates.__all__
            assert getattr(templates, name) is getattr(part, name), f"templates.{name}"


def test_the_template_schema_keeps_parameters_typed_and_quantities_checked() -> None:
    params = SCHEMA["properties"]["parameters"]
    assert params["x-kubernetes-list-map-keys"] == ["name"]
    assert params["items"]["properties"]["type"]["enum"] == [
        "string", "integer", "boolean", "image"]
    text = repr(SCHEMA)
    assert "isQuantity" in text
    assert fields.QUANTITIES["x-kubernetes-validations"][0]["rule"] not in text


# --- properties ---------------------------------------------------------------------------

NAMES = ("a", "b", "c")
rarely = st.sampled_from([*[False] * 9, True])  # integers() would favour the bounds
scalars = st.one_of(st.integers(-5, 30), st.booleans(), st.sampled_from(
    ["", "x", "3", "true", "Ab", "registry.example.com/x:1", "a b", "-1"]))
FITTING = {  # values of each type, mostly valid, some breaking a rule drawn below
    "string": st.sampled_from(["x", "api", "Ab", "3"]),
    "integer": st.one_of(st.integers(-1, 25), st.sampled_from(["2", "07"])),
    "boolean": st.one_of(st.booleans(), st.sampled_from(["true", "false"])),
    "image": st.sampled_from(["registry.example.com/x:1", "nginx"]),
}
RULES: dict[str, list[tuple[str, st.SearchStrategy[Any]]]] = {
    "string": [("pattern", st.sampled_from(["[a-z]+", ".*", "x|y"])),
               ("enum", st.lists(st.sampled_from(["x", "api", "y"]), min_size=1, max_size=2))],
    "integer": [("minimum", st.integers(-2, 5)), ("maximum", st.integers(0, 25)),
                ("enum", st.lists(st.integers(0, 25), min_size=1, max_size=3))],
    "boolean": [],
    "image": [("allowedRegistries", st.just(["registry.example.com/"])),
              ("pattern", st.just(".*:[0-9]+"))],
}


@st.composite
def parameter_decls(draw: st.DrawFn) -> list[dict[str, Any]]:
    decls = []
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3)):
        kind = draw(st.sampled_from(sorted(FITTING)))
        decl: dict[str, Any] = {"name": name, "type": kind}
        rules = RULES[kind] if not draw(rarely) else [
            ("minimum", st.just(1)), ("pattern", st.just("x"))]  # sometimes misplaced rules
        for key, strategy in rules:
            if draw(st.sampled_from([True, False, False])):
                decl[key] = draw(strategy)
        choice = draw(st.sampled_from(["fitting", "any", "required", "unset"]))
        if choice == "required":
            decl["required"] = True
        elif choice != "unset":
            decl["default"] = draw(FITTING[kind] if choice == "fitting" else scalars)
        decls.append(decl)
    return decls


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], list[Any] | None]:
    """A template (mostly valid), parameter values (mostly fitting) and overrides."""
    decls = draw(parameter_decls())
    refs = [f"$(params.{d['name']})" for d in decls] or ["x"]
    if draw(rarely):
        refs.append(draw(st.sampled_from(["$(params.zz)", "$(params.)"])))
    ref = st.sampled_from(refs)
    values = st.one_of(ref, ref, scalars, ref.map(lambda r: f"x-{r}"))
    service = st.fixed_dictionaries(
        {"name": st.one_of(st.sampled_from(["api", "db"]), ref.map(lambda r: f"x-{r}")),
         "image": st.one_of(st.just("nginx"), ref, ref.map(lambda r: f"r/{r}:1"))},
        optional={"replicas": values, "args": st.lists(values, max_size=2),
                  "env": st.lists(st.fixed_dictionaries({"name": st.just("E"), "value": values}),
                                  max_size=1),
                  "dependsOn": st.lists(st.sampled_from(["api", "db"]), max_size=1),
                  "ports": st.lists(st.fixed_dictionaries({"port": values}), max_size=1)})
    template = draw(st.fixed_dictionaries(
        {"parameters": st.just(decls), "services": st.lists(service, min_size=1, max_size=3)},
        optional={"ttl": st.sampled_from(["1h", "30m"]),
                  "config": st.fixed_dictionaries({"configMaps": st.lists(st.fixed_dictionaries(
                      {"name": st.just("cm"), "data": st.dictionaries(st.just("K"), values)}),
                      max_size=1)})}))
    given: dict[str, Any] = {}
    for decl in decls:
        if draw(st.booleans()):
            given[decl["name"]] = draw(scalars if draw(rarely) else FITTING[decl["type"]])
    if draw(rarely):
        given["zz"] = "x"
    override = draw(st.none() | st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["api", "web"])},
        optional={"replicas": st.integers(-1, 25), "image": st.just("nginx")}), max_size=2))
    return template, given, override


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_render_yields_a_valid_spec_or_says_why_not(
        case: tuple[dict[str, Any], dict[str, Any], list[Any] | None]) -> None:
    template, given, override = case
    result = render(template, given, override, None)
    event(result.reason if isinstance(result, RenderError) else "rendered")
    if isinstance(result, RenderError):
        assert result.message.strip()
        if result.reason == "ParameterInvalid":
            assert f"parameter {result.parameter}:" in result.message
        return
    assert models.DevEnvironmentSpec.model_validate(result.spec) == result.model
    assert "$(params." not in repr(result.spec)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_a_template_that_checks_clean_renders_with_its_defaults(
        case: tuple[dict[str, Any], dict[str, Any], list[Any] | None]) -> None:
    template = case[0]
    problems = check_template(template)
    needs_values = any(p.get("required") for p in template["parameters"])
    if not problems and not needs_values:
        assert isinstance(render(template, {}), RenderedSpec)
    if problems:
        assert all(p.strip() for p in problems)
