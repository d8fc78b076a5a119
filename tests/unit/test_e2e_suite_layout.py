"""Rules for the e2e suite's source, checked without a cluster.

- Tests import what they share from helper modules, never from ``conftest``: pytest imports
  conftest itself, and a second import under another name is a second copy of it.
- No module-level name in an e2e module is the name of a fixture it can see: a helper
  called like a fixture takes the name a test would use to request the fixture (a test
  module's ``names()`` helper kept its tests from the ``names`` cleanup fixture).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "e2e"


def _is_fixture(node: ast.AST) -> bool:
    """``@pytest.fixture``, ``@pytest.fixture(...)``, ``@fixture`` or ``@fixture(...)``."""
    decorators = getattr(node, "decorator_list", [])
    for dec in decorators:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
        if isinstance(target, ast.Name) and target.id == "fixture":
            return True
    return False


def _fixture_name(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call):
            for kw in dec.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
    return node.name


def fixtures_defined(tree: ast.Module) -> set[str]:
    return {_fixture_name(node) for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_fixture(node)}


def _targets(target: ast.expr) -> list[ast.Name]:
    if isinstance(target, ast.Name):
        return [target]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _targets(elt)]
    return []


def top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The module's statements, and those in ``if``/``try``/``with``/loops among them."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If | ast.For | ast.While):
            yield from top_level(stmt.body + stmt.orelse)
        elif isinstance(stmt, ast.With):
            yield from top_level(stmt.body)
        elif isinstance(stmt, ast.Try):
            handlers = [s for h in stmt.handlers for s in h.body]
            yield from top_level(stmt.body + handlers + stmt.orelse + stmt.finalbody)


def module_names(tree: ast.Module) -> list[tuple[str, int]]:
    """(name, line) of what the module binds at its top level, fixtures excepted."""
    found: list[tuple[str, int]] = []
    for node in top_level(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if not _is_fixture(node):
                found.append((node.name, node.lineno))
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [(n.id, node.lineno) for t in targets for n in _targets(t)]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found += [((a.asname or a.name).split(".")[0], node.lineno) for a in node.names]
    return sorted(found, key=lambda hit: hit[1])


def shadowing(source: str, fixtures: set[str], filename: str = "<module>") -> list[str]:
    """Module-level names in ``source`` that are also fixture names it can see."""
    tree = ast.parse(source, filename)
    visible = fixtures | fixtures_defined(tree)
    return [f"{filename}:{line}: {name!r} is also a fixture"
            for name, line in module_names(tree) if name in visible]


def conftest_imports(source: str, filename: str = "<module>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom):
            prefix = f"{node.module}." if node.module else ""
            modules = [node.module or ""] + [prefix + a.name for a in node.names]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        hits = [m for m in modules if "conftest" in m.split(".")]
        if hits:
            found.append(f"{filename}:{node.lineno}: imports {hits[0]}")
    return found


def e2e_modules() -> list[Path]:
    return sorted(p for p in E2E.glob("*.py") if p.name != "conftest.py")


def conftest_fixtures() -> set[str]:
    return fixtures_defined(ast.parse((E2E / "conftest.py").read_text()))


# -- the checks on the suite ------------------------------------------------------------


def test_e2e_modules_do_not_import_conftest() -> None:
    found = [hit for path in e2e_modules()
             for hit in conftest_imports(path.read_text(), path.name)]
    assert not found, "import these from tests.e2e.helpers instead:\n" + "\n".join(found)


def test_no_e2e_module_level_name_is_a_fixture_name() -> None:
    fixtures = conftest_fixtures()
    assert {"cluster", "kubectl", "operator", "names"} <= fixtures  # the parse found them
    found = [hit for path in e2e_modules()
             for hit in shadowing(path.read_text(), fixtures, path.name)]
    assert not found, "rename these helpers:\n" + "\n".join(found)


# -- the checks catch what they are meant to ----------------------------------------------


def test_a_helper_named_like_a_fixture_is_caught() -> None:
    source = '''
import pytest
from helpers import names as names, kubectl
from x import (
    operator,
)
ok = 1
cluster: int = 2
a, (b, crds) = 1, (2, 3)
if True:
    running_operator = 3

def names(kubectl, kind): ...

class Operator: ...

@pytest.fixture
def mine() -> None: ...

@pytest.fixture(name="theirs")
def _theirs() -> None: ...

def mine(): ...
def theirs(): ...

@pytest.fixture
def cluster(): ...  # overriding a fixture with a fixture is fine

def test_x(names, kubectl):
    local_names = names
    names = 1
'''
    fixtures = {"names", "kubectl", "operator", "cluster", "crds", "running_operator"}
    found = [hit.split(": ", 1)[1] for hit in shadowing(source, fixtures)]
    assert found == [f"{name!r} is also a fixture" for name in [
        "names", "kubectl", "operator", "cluster", "crds", "running_operator", "names",
        "mine", "theirs"]]


def test_a_conftest_import_is_caught() -> None:
    source = '''
from conftest import Kubectl
from tests.e2e.conftest import Operator
import tests.e2e.conftest as c
from . import conftest
from tests.e2e import helpers, conftest as fixtures
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from tests.e2e.conftest import ROOT
from tests.e2e.helpers import Kubectl
'''
    assert [hit.split(": ", 1)[1] for hit in conftest_imports(source)] == [
        "imports conftest", "imports tests.e2e.conftest", "imports tests.e2e.conftest",
        "imports conftest", "imports tests.e2e.conftest", "imports tests.e2e.conftest"]


def test_fixtures_are_found_by_decorator_and_name() -> None:
    tree = ast.parse('''
import pytest
from pytest import fixture

@pytest.fixture(scope="session")
def a(): ...

@fixture
def b(): ...

@pytest.fixture(name="c")
def _c(): ...

def not_one(): ...
''')
    assert fixtures_defined(tree) == {"a", "b", "c"}
