"""The dependsOn graph: cycle detection and a stable creation order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a path (first name repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in deps.get(node, ()):
            if state.get(dep) == 1:
                return [*path[path.index(dep):], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def creation_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Names ordered so that each comes after everything it depends on (spec order kept)."""
    done: set[str] = set()
    order: list[str] = []
    remaining = list(deps)
    while remaining:
        progressed = [n for n in remaining if all(d in done for d in deps[n])]
        if not progressed:
            raise ValueError(f"dependency cycle among {', '.join(remaining)}")
        for name in progressed:
            done.add(name)
            order.append(name)
        remaining = [n for n in remaining if n not in done]
    return order


def dependency_levels(deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Names grouped in waves: each wave depends only on earlier waves (spec order kept)."""
    level: dict[str, int] = {}
    for name in creation_order(deps):
        level[name] = 1 + max((level[d] for d in deps[name]), default=-1)
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in deps:
        waves[level[name]].append(name)
    return waves
