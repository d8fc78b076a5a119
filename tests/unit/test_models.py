"""The pydantic models validate what the CRD schema cannot, and generate the committed CRD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from devenv_operator import crdgen, models

ROOT = Path(__file__).resolve().parents[2]


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"services": [{"name": "web", "image": "nginx"}]}
    base.update(overrides)
    return base


def test_committed_crd_matches_the_models() -> None:
    committed = (ROOT / "crds" / "devenvironments.shipit.dev.yaml").read_text()
    assert committed == crdgen.render(), "crds/ is stale: run `make manifests`"


def test_defaults_are_applied() -> None:
    parsed = models.DevEnvironmentSpec.model_validate(spec())
    assert parsed.ready_timeout == "10m"
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
    with pytest.raises(ValidationError, match="unknown service db"):
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
    assert columns[:5] == ["Namespace", "Phase", "Ready", "Expires", "Age"]


def test_crd_schema_is_structural_and_described() -> None:
    schema = crdgen.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    services = schema["properties"]["spec"]["properties"]["services"]
    assert services["x-kubernetes-list-type"] == "map"
    assert services["x-kubernetes-list-map-keys"] == ["name"]
    assert services["maxItems"] == 50
    assert services["minItems"] == 1
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
