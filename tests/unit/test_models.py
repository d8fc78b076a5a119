"""The pydantic models validate what the CRD schema cannot, and generate the committed CRD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from devenv_operator import crdgen, fields, models, seeds, workloads

ROOT = Path(__file__).resolve().parents[2]


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"services": [{"name": "web", "image": "nginx"}]}
    base.update(overrides)
    return base


def test_committed_crd_matches_the_models() -> None:
    committed = (ROOT / "crds" / "devenvironments.shipit.dev.yaml").read_text()
    assert committed == crdgen.render(), "crds/ is stale: run `make manifests`"


def test_the_parts_of_the_spec_stay_importable_from_models() -> None:
    """The spec's parts live in workloads, seeds and fields; callers keep writing models.X."""
    for part in (workloads, seeds, fields):
        defined = [name for name, value in vars(part).items()
                   if isinstance(value, type) and value.__module__ == part.__name__]
        assert defined
        for name in defined:
            assert getattr(models, name) is getattr(part, name), f"models.{name}"
    for name in ("parse_duration", "format_duration", "bounded_duration", "DURATION",
                 "DNS_LABEL", "DNS_SUBDOMAIN", "Quantity", "MAX_SERVICES", "ServiceName"):
        assert name in models.__all__


def test_defaults_are_applied() -> None:
    parsed = models.DevEnvironmentSpec.model_validate(spec())
    assert parsed.ready_timeout is None  # a template's may apply; else the operator's 10m
    assert parsed.ready_timeout_delta().total_seconds() == 600
    assert parsed.services[0].replicas == 1


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("8h", 28800), ("2d", 172800), ("1h30m", 5400),
])
def test_durations_parse(text: str, seconds: int) -> None:
    assert models.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "10", "5 m", "1w", "-5s", "1.5h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        models.parse_duration(text)


def test_duration_formatting_round_trips() -> None:
    assert models.format_duration(models.parse_duration("1d2h3m4s")) == "1d2h3m4s"


def test_a_secret_needs_exactly_one_source() -> None:
    two = spec(config={"secrets": [{"name": "s", "stringData": {"a": "b"},
                                    "generate": {"keys": ["x"]}}]})
    with pytest.raises(ValidationError, match="exactly one of"):
        models.DevEnvironmentSpec.model_validate(two)
    none = spec(config={"secrets": [{"name": "s"}]})
    with pytest.raises(ValidationError, match="exactly one of"):
        models.DevEnvironmentSpec.model_validate(none)


def test_depends_on_must_name_a_known_service() -> None:
    bad = {"services": [{"name": "api", "image": "x", "dependsOn": ["db"]}]}
    with pytest.raises(ValidationError, match="unknown service or job db"):
        models.DevEnvironmentSpec.model_validate(bad)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="imagee"):
        models.DevEnvironmentSpec.model_validate(
            {"services": [{"name": "a", "image": "x", "imagee": "y"}]})


def test_resource_quantities_are_checked() -> None:
    bad = {"services": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "lots"}}}]}
    with pytest.raises(ValidationError, match="not a quantity"):
        models.DevEnvironmentSpec.model_validate(bad)


def test_crd_has_the_contract_names_and_columns() -> None:
    crd = crdgen.crd()
    names = crd["spec"]["names"]
    assert names["shortNames"] == ["devenv", "denv"]
    assert names["categories"] == ["shipit"]
    assert crd["spec"]["scope"] == "Cluster"
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:6] == ["Namespace", "Phase", "Ready", "Expires", "Age", "URL"]


def test_crd_schema_is_structural_and_described() -> None:
    schema = crdgen.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    services = schema["properties"]["spec"]["properties"]["services"]
    assert services["x-kubernetes-list-type"] == "map"
    assert services["x-kubernetes-list-map-keys"] == ["name"]
    assert services["maxItems"] == 50
    assert "minItems" not in services  # with a templateRef it may be empty; a CEL rule
    assert any("templateRef" in r["rule"] for r in   # asks for one service otherwise
               schema["properties"]["spec"]["x-kubernetes-validations"])
    assert "workloads" in services["description"]

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            assert "$ref" not in node, path
            assert "anyOf" not in node or node.get("x-kubernetes-int-or-string"), path
            assert "title" not in node, path
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(schema, "$")


def service(**fields: Any) -> dict[str, Any]:
    return {"services": [{"name": "a", "image": "x", **fields}]}


@pytest.mark.parametrize("text", ["3000000d", "1s1s1s1s1s", "9999999h"])
def test_durations_are_bounded_by_the_pattern(text: str) -> None:
    with pytest.raises(ValidationError, match="should match pattern"):
        models.DevEnvironmentSpec.model_validate({**service(), "ttl": text})


def test_durations_are_bounded_by_the_maximum() -> None:
    models.DevEnvironmentSpec.model_validate({**service(), "ttl": "3650d"})
    with pytest.raises(ValidationError, match="longer than the maximum"):
        models.DevEnvironmentSpec.model_validate({**service(), "ttl": "3651d"})
    with pytest.raises(ValidationError, match="longer than the maximum"):
        models.DevEnvironmentSpec.model_validate({**service(), "readyTimeout": "999999d"})


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_expires_at_is_bounded(when: str) -> None:
    with pytest.raises(ValidationError, match="between 1970-01-01 and 9000-01-01"):
        models.DevEnvironmentSpec.model_validate({**service(), "expiresAt": when})


@pytest.mark.parametrize("key", ["a b", "", "x" * 254, "ключ", "a/b"])
def test_config_keys_are_validated(key: str) -> None:
    with pytest.raises(ValidationError, match="valid key"):
        models.DevEnvironmentSpec.model_validate(
            {**service(), "config": {"configMaps": [{"name": "c", "data": {key: "v"}}]}})
    with pytest.raises(ValidationError, match="valid key"):
        models.DevEnvironmentSpec.model_validate(
            {**service(), "config": {"secrets": [{"name": "s", "stringData": {key: "v"}}]}})


def test_probes_are_typed_and_target_only_the_pod() -> None:
    ok = models.DevEnvironmentSpec.model_validate(service(readinessProbe={
        "httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}))
    probe = ok.services[0].readiness_probe
    assert probe is not None
    assert probe.http_get is not None
    assert probe.http_get.port == "http"
    for bad, match in (({"httpGet": {"port": 80, "host": "10.0.0.1"}}, "host"),
                       ({"tcpSocket": {"port": 5432, "host": "db.example"}}, "host"),
                       ({"httpGet": {"port": 80}, "periodSecond": 5}, "periodSecond"),
                       ({"httpGet": {"port": 80}, "exec": {"command": ["true"]}},
                        "exactly one"),
                       ({}, "exactly one")):
        with pytest.raises(ValidationError, match=match):
            models.DevEnvironmentSpec.model_validate(service(readinessProbe=bad))


def test_field_refs_are_typed() -> None:
    ok = service(env=[{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                      {"name": "CPU", "valueFrom": {"resourceFieldRef": {
                          "resource": "limits.cpu", "divisor": "1m"}}}])
    models.DevEnvironmentSpec.model_validate(ok)
    typo = service(env=[{"name": "POD", "valueFrom": {"fieldRef": {"fieldpath": "x"}}}])
    with pytest.raises(ValidationError, match="fieldpath"):
        models.DevEnvironmentSpec.model_validate(typo)


def test_crd_refuses_long_names_and_has_no_free_form_spec_fields() -> None:
    crd = crdgen.crd()
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert any("metadata.name.size() <= 63" in r["rule"]
               for r in root["x-kubernetes-validations"])

    def free(schema: Any, where: str) -> list[str]:
        found = [where] if isinstance(schema, dict) and schema.get(
            "x-kubernetes-preserve-unknown-fields") else []
        if isinstance(schema, dict):
            for key, sub in (schema.get("properties") or {}).items():
                found += free(sub, f"{where}.{key}")
            if "items" in schema:
                found += free(schema["items"], f"{where}[]")
        return found

    # The one union of a boolean and an object (expose: true | {path}): structural schemas
    # cannot say it, so the operator validates it (InvalidSpec).
    assert free(root["properties"]["spec"], "spec") == ["spec.services[].ports[].expose"]
