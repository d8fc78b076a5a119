"""The Grafana dashboard and the Prometheus Operator examples match what the operator exposes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv_operator import metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"

_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
             "or", "unless", "offset", "inf", "nan"}


def exposed_series_names() -> set[str]:
    """Every sample name the registry can expose, whether or not it has been observed yet."""
    names = set()
    for family in metrics.REGISTRY.collect():
        names |= {family.name + suffix for suffix in _SUFFIXES[family.type]}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels, keywords removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors ([5m], [$__rate_interval])
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group()
        follows = expr[match.end():].lstrip()[:1]
        if follows == "(" or word.lower() in _KEYWORDS:
            continue  # a function call or an operator keyword
        names.add(word)
    return names


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def queries() -> list[str]:
    found = [str(node["expr"]) for node in walk(dashboard()) if "expr" in node]
    for var in dashboard()["templating"]["list"]:
        if var.get("type") == "query":
            query = var["query"]
            found.append(query["query"] if isinstance(query, dict) else query)
    return found


def test_metric_names_are_extracted_from_promql() -> None:
    assert metric_names(
        'histogram_quantile(0.95, sum by (le, step) (rate(devenv_x_bucket{job=~"$job"}'
        "[$__rate_interval])))") == {"devenv_x_bucket"}
    assert metric_names("sum(rate(a_total[5m])) / sum(rate(b_total[5m])) > 0.5") == {
        "a_total", "b_total"}
    assert metric_names("label_values(devenv_y, job)") == {"devenv_y", "job"}


def test_every_dashboard_query_uses_only_metrics_the_operator_exposes() -> None:
    exposed = exposed_series_names()
    assert "devenv_time_to_ready_seconds_bucket" in exposed
    assert queries()
    for query in queries():
        used = metric_names(query)
        if query.startswith("label_values("):
            used -= {"job"}  # label_values(METRIC, LABEL): the second argument is a label
        assert used, f"no metric in {query!r}"
        unknown = used - exposed
        assert not unknown, f"{query!r} uses {sorted(unknown)}, not exposed by the operator"


def test_dashboard_covers_what_the_issue_asks_for() -> None:
    text = "\n".join(queries())
    for needed in ("devenv_environments", "devenv_time_to_ready_seconds_bucket",
                   "devenv_failures_total", "devenv_expirations_total",
                   "devenv_reconciles_total", "devenv_api_requests_total"):
        assert needed in text, needed
    assert "histogram_quantile(0.5," in text
    assert "histogram_quantile(0.95," in text


def test_dashboard_panels_are_well_formed() -> None:
    board = dashboard()
    assert board["uid"]
    assert board["title"]
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]


def load_yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def deploy_object(kind: str) -> dict[str, Any]:
    for path in sorted((ROOT / "deploy").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind and "devenv-operator" in doc["metadata"]["name"]:
                found: dict[str, Any] = doc
                return found
    pytest.fail(f"no {kind} in deploy/")


def test_service_monitor_selects_the_metrics_service_port() -> None:
    monitor = load_yaml(MONITORING / "servicemonitor.yaml")
    service = deploy_object("Service")
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])


def test_pod_monitor_selects_the_operator_pods_metrics_port() -> None:
    monitor = load_yaml(MONITORING / "podmonitor.yaml")
    deployment = deploy_object("Deployment")
    template = deployment["spec"]["template"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        template["metadata"]["labels"].items())
    ports = {p.get("name") for c in template["spec"]["containers"] for p in c.get("ports", [])}
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= ports


def test_monitoring_kustomization_ships_the_dashboard_file() -> None:
    kustomization = load_yaml(MONITORING / "kustomization.yaml")
    files = [f for gen in kustomization["configMapGenerator"] for f in gen["files"]]
    assert DASHBOARD.name in files
    for resource in kustomization["resources"]:
        assert (MONITORING / resource).is_file()
