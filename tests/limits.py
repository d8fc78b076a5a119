"""Size limits of the operator's and the plugin's code, checked by ``make lint``.

No function longer than 50 lines, no class over 200 lines, no module over 400 lines in
``operator/`` (McCabe complexity above 10 is ruff's C901, configured in pyproject.toml).
A limit is a floor for alarm, not a budget to fill. ``python -m tests.limits [ROOT]``
prints every breach and exits 1 if there is one.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_FUNCTION_LINES = 50
MAX_CLASS_LINES = 200
MAX_MODULE_LINES = 400


def breaches(source_root: Path) -> Iterator[str]:
    """Every breach of the limits under ``source_root`` (``path:line: what``)."""
    for path in sorted(source_root.rglob("*.py")):
        text = path.read_text()
        lines = text.count("\n") + (not text.endswith("\n") and bool(text))
        if lines > MAX_MODULE_LINES:
            yield f"{path}:1: module has {lines} lines (limit {MAX_MODULE_LINES})"
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                limit, what = MAX_FUNCTION_LINES, "function"
            elif isinstance(node, ast.ClassDef):
                limit, what = MAX_CLASS_LINES, "class"
            else:
                continue
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            if size > limit:
                yield f"{path}:{node.lineno}: {what} {node.name} has {size} lines (limit {limit})"


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "operator"
    found = list(breaches(root))
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
