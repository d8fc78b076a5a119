"""``localcluster`` and ``bench`` read no ``DEVENV_*`` environment variable.

``DEVENV_*`` names are the operator's settings, and the operator refuses names it does not
know. ``make run`` and the benchmarks pass their environment on to the operator, so a
variable of theirs under that prefix would stop the operator from starting. Setting
``DEVENV_*`` values for an operator child (``operator_process.py``) or stripping inherited
ones is fine: that passes settings, it does not read them.

The check parses the sources (no import, no regex over text) and flags every read of the
process environment whose name is, or is built from, a string starting with ``DEVENV_``:
``os.environ[...]``, ``os.environ.get/pop/setdefault``, ``os.getenv``, ``in os.environ``,
and comprehensions over ``os.environ`` that keep only ``DEVENV_*`` keys. The scanner itself
is tested on snippets, so a scanner that finds nothing cannot pass for a clean tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from localcluster import config

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("localcluster", "bench")
PREFIX = "DEVENV_"
READ_METHODS = {"get", "pop", "setdefault"}


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` or a bare ``environ`` (``from os import environ``)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name)
    return isinstance(node, ast.Name) and node.id == "environ"


def _environ_iterable(node: ast.AST) -> bool:
    """``os.environ``, ``os.environ.items()`` / ``.keys()``."""
    if _is_environ(node):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("items", "keys")
        and _is_environ(node.func.value)
    )


class _Scanner(ast.NodeVisitor):
    def __init__(self, constants: dict[str, str]) -> None:
        self.constants = constants
        self.found: list[tuple[int, str]] = []

    def _name_of(self, node: ast.AST) -> str | None:
        """The DEVENV_ name an expression stands for, if it clearly is one."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value if node.value.startswith(PREFIX) else None
        if isinstance(node, ast.Name | ast.Attribute):
            key = node.id if isinstance(node, ast.Name) else node.attr
            value = self.constants.get(key)
            return value if value is not None and value.startswith(PREFIX) else None
        if isinstance(node, ast.JoinedStr) and node.values:
            return self._name_of(node.values[0])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._name_of(node.left)
        return None

    def _flag(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if _is_environ(node.value) and isinstance(node.ctx, ast.Load | ast.Del):
            name = self._name_of(node.slice)
            if name:
                self._flag(node, f"os.environ[{name!r}]")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if node.args:
            name = self._name_of(node.args[0])
            reads = (
                isinstance(func, ast.Attribute)
                and (
                    (func.attr in READ_METHODS and _is_environ(func.value))
                    or (func.attr == "getenv" and isinstance(func.value, ast.Name))
                )
            ) or (isinstance(func, ast.Name) and func.id == "getenv")
            if reads and name:
                self._flag(node, f"environment read of {name!r}")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn) and _environ_iterable(right):
                name = self._name_of(node.left)
                if name:
                    self._flag(node, f"{name!r} in os.environ")
        self.generic_visit(node)

    def _keeps_prefixed(self, cond: ast.AST) -> bool:
        """A filter like ``k.startswith("DEVENV_")`` (not negated: that one strips them)."""
        return (
            isinstance(cond, ast.Call)
            and isinstance(cond.func, ast.Attribute)
            and cond.func.attr == "startswith"
            and bool(cond.args)
            and self._name_of(cond.args[0]) is not None
        )

    def _visit_comprehension(self, node: ast.DictComp | ast.ListComp | ast.SetComp
                             | ast.GeneratorExp) -> None:
        for gen in node.generators:
            if _environ_iterable(gen.iter):
                for cond in gen.ifs:
                    parts = cond.values if isinstance(cond, ast.BoolOp) else [cond]
                    if any(self._keeps_prefixed(p) for p in parts):
                        self._flag(node, "DEVENV_* keys taken from os.environ")
        self.generic_visit(node)

    visit_DictComp = _visit_comprehension
    visit_ListComp = _visit_comprehension
    visit_SetComp = _visit_comprehension
    visit_GeneratorExp = _visit_comprehension


def _string_constants(trees: list[ast.Module]) -> dict[str, str]:
    """Module-level ``NAME = "..."`` of all scanned modules (names used across imports)."""
    out: dict[str, str] = {}
    for tree in trees:
        for stmt in tree.body:
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        out[target.id] = stmt.value.value
    return out


def scan(sources: dict[str, str]) -> list[str]:
    """``path:line: what`` for every DEVENV_* environment read in ``sources``."""
    trees = {path: ast.parse(text, filename=path) for path, text in sources.items()}
    constants = _string_constants(list(trees.values()))
    findings = []
    for path, tree in trees.items():
        scanner = _Scanner(constants)
        scanner.visit(tree)
        findings += [f"{path}:{line}: {what}" for line, what in scanner.found]
    return findings


def _tree_sources() -> dict[str, str]:
    sources = {}
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            sources[str(path.relative_to(ROOT))] = path.read_text()
    return sources


def test_localcluster_and_bench_read_no_devenv_variable() -> None:
    sources = _tree_sources()
    assert "localcluster/config.py" in sources
    assert "bench/__main__.py" in sources
    assert scan(sources) == []


@pytest.mark.parametrize(
    "snippet",
    [
        'import os\nx = os.environ.get("DEVENV_CACHE_DIR", "")',
        'import os\nx = os.environ["DEVENV_CACHE_DIR"]',
        'import os\nx = os.getenv("DEVENV_CACHE_DIR")',
        'from os import getenv\nx = getenv("DEVENV_CACHE_DIR")',
        'from os import environ\nx = environ.get("DEVENV_CACHE_DIR")',
        'import os\nx = os.environ.pop("DEVENV_X", None)',
        'import os\nx = "DEVENV_X" in os.environ',
        'import os\nsuffix = "X"\nx = os.environ.get(f"DEVENV_{suffix}")',
        'import os\nx = os.environ.get("DEVENV_" + "X")',
        'import os\nENV = "DEVENV_CACHE_DIR"\nx = os.environ.get(ENV, "")',
        'import os\nfrom . import config\nx = os.environ.get(config.ENV)\nENV = "DEVENV_A"',
        'import os\nx = {k: v for k, v in os.environ.items() if k.startswith("DEVENV_")}',
        'import os\nx = [k for k in os.environ if k.isupper() and k.startswith("DEVENV_")]',
    ],
)
def test_scanner_flags_reads(snippet: str) -> None:
    assert len(scan({"snippet.py": snippet})) == 1


@pytest.mark.parametrize(
    "snippet",
    [
        # What operator_process.py and the benchmarks do: strip inherited DEVENV_* names and
        # set the operator child's settings.
        'import os\nenv = {k: v for k, v in os.environ.items() if not k.startswith("DEVENV_")}',
        'env = {}\nenv.update(DEVENV_METRICS_PORT="1")\nenv["DEVENV_LOG_LEVEL"] = "INFO"',
        'SETTINGS = {"DEVENV_LOG_LEVEL": "WARNING"}',
        'import os\nx = os.environ.get("LOCALCLUSTER_CACHE_DIR")',
        'import os\nos.environ["DEVENV_X"] = "1"',
    ],
)
def test_scanner_allows_setting_and_stripping(snippet: str) -> None:
    assert scan({"snippet.py": snippet}) == []


def test_scanner_sees_the_old_cache_variable() -> None:
    """The read this test exists for: config.cache_root() once read DEVENV_CACHE_DIR."""
    old = (ROOT / "localcluster" / "config.py").read_text().replace(
        f'ENV_CACHE_DIR = "{config.ENV_CACHE_DIR}"', 'ENV_CACHE_DIR = "DEVENV_CACHE_DIR"'
    )
    assert 'ENV_CACHE_DIR = "DEVENV_CACHE_DIR"' in old
    assert [f.split(": ", 1)[1] for f in scan({"config.py": old})] == [
        "environment read of 'DEVENV_CACHE_DIR'"
    ]


def test_cache_dir_variable_is_outside_the_operator_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert not config.ENV_CACHE_DIR.startswith(PREFIX)
    monkeypatch.delenv(config.ENV_CACHE_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DEVENV_CACHE_DIR", str(tmp_path / "ignored"))
    assert config.cache_root() == tmp_path / "xdg" / "devenv-operator" / "localcluster"
