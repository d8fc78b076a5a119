"""The template scenario's pure parts (bench/template_edit.py), with no cluster."""

from __future__ import annotations

from bench import render, stats, template_edit
from devenv_operator import templates


def test_the_bench_template_is_valid_and_the_edit_changes_only_the_log_level() -> None:
    assert templates.check_template(template_edit.template_body()["spec"]) == []
    before, after = template_edit.full_spec("info"), template_edit.full_spec("debug")
    assert template_edit.config_value(before) == "info"
    assert template_edit.config_value(after) == "debug"
    after["config"]["configMaps"][0]["data"]["LOG_LEVEL"] = "info"
    assert after == before  # nothing else differs


def test_the_full_spec_is_what_the_operator_renders_from_the_template() -> None:
    raw = template_edit.templated_spec()
    result = templates.render(template_edit.template_body()["spec"], raw["parameters"],
                              environment=raw)
    assert isinstance(result, templates.RenderedSpec)
    assert result.spec == template_edit.full_spec()
    assert "templateRef" not in result.spec
    assert render.render("x", result.spec, "dev-x").child_count == 9


def _devenv(generation: int, observed: int, template_generation: int | None,
            ready: bool = True) -> dict[str, object]:
    status: dict[str, object] = {
        "observedGeneration": observed,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if template_generation is not None:
        status["template"] = {"name": template_edit.TEMPLATE_NAME,
                              "generation": template_generation}
    return {"metadata": {"name": "t1-0", "generation": generation}, "status": status}


def test_an_environment_has_converged_once_ready_and_recording_the_edit() -> None:
    assert not template_edit.converged_status(_devenv(1, 1, 1), 2)
    assert template_edit.converged_status(_devenv(1, 1, 2), 2)
    assert not template_edit.converged_status(_devenv(1, 1, 2, ready=False), 2)
    # Without a template: the spec changed (generation 2) and the operator observed it.
    assert not template_edit.converged_status(_devenv(1, 1, None), None)
    assert not template_edit.converged_status(_devenv(2, 1, None), None)
    assert template_edit.converged_status(_devenv(2, 2, None), None)


def test_edit_summary_counts_both_milestones_and_stragglers() -> None:
    namespaces = {"a": "dev-a", "b": "dev-b", "c": "dev-c"}
    got = template_edit.summarize_edit(100.0, 101.0, {"dev-a": 102.0, "dev-b": 103.0},
                                       {"a": 104.0, "b": 102.5, "c": 105.0}, namespaces)
    assert got["command_seconds"] == 1.0
    assert got["makespan"] == 4.0  # a: the later of config (2 s) and status (4 s)
    assert got["converged"]["n"] == 2
    assert got["not_converged"] == 1  # c: its ConfigMap never showed the value
    assert got["config"]["max"] == 3.0


def test_the_template_section_renders_in_the_markdown_summary() -> None:
    round_ = {"command_seconds": 0.2, "converged": {"p50": 10.0, "p95": 19.0},
              "config": {"max": 19.5}, "status": {"max": 20.0}, "makespan": 20.0,
              "not_converged": 0, "client_writes": 1,
              "operator": {"writes": 2.0, "events": 1.0, "cpu_seconds": 0.01}}
    result = {"schema": stats.SCHEMA_VERSION, "date": "2026-12-01T00:00:00Z",
              "environment": {}, "settings": {"qps": 200, "nodes": 12, "operator": {}},
              "scenarios": {"template": {"environments": 200, "edit": "logLevel",
                                         "template": round_,
                                         "no_template": {**round_, "client_writes": 200}}},
              "targets": {}}
    text = stats.markdown(result)
    assert "| template (1 template edited) | 1 | 0.2 | 10 | 19 | 20 |" in text
    assert "| no template (200 specs edited) | 200 |" in text
