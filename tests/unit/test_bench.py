"""The pure parts of the benchmark harness: percentiles, ratios, counters, result schema."""

from __future__ import annotations

import pytest

from bench import stats
from bench.methods import Sample


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 50) == 2.5
    assert stats.percentile(values, 100) == 4.0
    assert stats.percentile([5.0], 99) == 5.0


def test_percentile_refuses_no_values_and_out_of_range_quantiles() -> None:
    with pytest.raises(ValueError, match="no values"):
        stats.percentile([], 50)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        stats.percentile([1.0], 101)


def test_summarize_reports_count_and_rounded_percentiles() -> None:
    summary = stats.summarize([0.1, 0.2, 0.3, 0.4, 10.0])
    assert summary["n"] == 5
    assert summary["p50"] == 0.3
    assert summary["max"] == 10.0
    assert stats.summarize([]) == {"n": 0}


def test_ratios_compare_the_subject_with_every_other_method() -> None:
    summaries = {"operator": {"p50": 3.0, "p95": 6.0}, "floor": {"p50": 2.0, "p95": 4.0},
                 "kubectl": {"p50": 0.0, "p95": 3.0}}
    assert stats.ratios(summaries, "operator") == {
        "operator/floor": {"p50": 1.5, "p95": 1.5},
        "operator/kubectl": {"p50": None, "p95": 2.0},
    }


def test_counter_deltas_and_per_item_give_requests_per_environment() -> None:
    before = {"get": 10.0, "patch": 5.0}
    after = {"get": 30.0, "patch": 5.0, "create": 40.0}
    deltas = stats.counter_deltas(before, after)
    assert deltas == {"get": 20.0, "create": 40.0}
    assert stats.per_item(deltas, 20) == {"create": 2.0, "get": 1.0}
    assert stats.writes(deltas) == 40.0


def test_prometheus_text_is_parsed_and_grouped_by_label() -> None:
    text = ('# HELP devenv_api_requests_total x\n'
            'devenv_api_requests_total{result="2xx",verb="get"} 3.0\n'
            'devenv_api_requests_total{result="404",verb="get"} 1.0\n'
            'devenv_api_requests_total{result="2xx",verb="patch"} 2.0\n'
            'process_open_fds 7.0\n')
    samples = stats.parse_prometheus(text)
    assert stats.by_label(samples["devenv_api_requests_total"], "verb") == {
        "get": 4.0, "patch": 2.0}
    assert samples["process_open_fds"] == {(): 7.0}


def test_targets_are_reported_not_enforced() -> None:
    assert stats.target("x", 1.1, 1.25)["met"] is True
    assert stats.target("x", 1.3, 1.25)["met"] is False
    assert stats.target("x", None, 1.25)["met"] is None


def test_a_minimal_result_fits_the_schema_and_renders() -> None:
    result = {"schema": stats.SCHEMA_VERSION, "date": "2026-11-26T00:00:00Z",
              "environment": {"cpus": 2}, "settings": {"qps": 200, "nodes": 12, "operator": {}},
              "scenarios": {}, "targets": {"t": stats.target("goal", 1.0, 2.0)}}
    assert stats.validate_result(result) == []
    assert "| goal | 1 | 2 | yes |" in stats.markdown(result)
    assert stats.validate_result({"schema": 0}) != []


def test_sample_steps_are_increments_between_milestones() -> None:
    sample = Sample("e", "ns", started=100.0, namespace_at=100.5, config_at=100.75,
                    services_at=102.0, ready_at=102.5)
    assert sample.total == 2.5
    assert sample.steps() == {"namespace": 0.5, "config": 0.25, "services": 1.25, "status": 0.5}
    assert Sample("e", "ns", started=1.0).steps() == {}
