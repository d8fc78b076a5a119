"""dependsOn ordering and cycle detection."""

from devenv_operator.builders import creation_order, find_cycle


def test_order_puts_dependencies_first_and_keeps_spec_order() -> None:
    deps = {"api": ["db", "cache"], "db": [], "web": ["api"], "cache": []}
    order = creation_order(deps)
    assert order.index("db") < order.index("api") < order.index("web")
    assert order.index("cache") < order.index("api")
    assert order[:2] == ["db", "cache"]


def test_cycle_is_reported_as_a_path() -> None:
    cycle = find_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": []})
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}


def test_no_cycle_in_a_dag() -> None:
    assert find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None


def test_levels_group_independent_services_into_waves() -> None:
    from devenv_operator.builders import dependency_levels

    deps = {"api": ["db", "cache"], "db": [], "web": ["api"], "cache": [], "docs": []}
    assert dependency_levels(deps) == [["db", "cache", "docs"], ["api"], ["web"]]
    assert dependency_levels({}) == []
