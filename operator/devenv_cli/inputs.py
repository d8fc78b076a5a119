"""What a user gives the commands, checked: flag values and manifest files.

``KEY=VALUE`` pairs, durations (as the operator reads them) and YAML/JSON documents from a
file or stdin. Anything that cannot work raises ``UsageError`` with the flag or the file
in the sentence; ``app`` turns it into exit code 4.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from devenv_cli import state
from devenv_cli.exits import UsageError


def pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    """Repeated ``FLAG KEY=VALUE`` as a dict (a later key wins)."""
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def duration(text: str, flag: str) -> timedelta:
    try:
        return state.parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def stable_for(text: str) -> float:
    """--stable-for in seconds; a bare 0 (no unit) turns the window off."""
    return 0.0 if text.strip() == "0" else duration(text, "--stable-for").total_seconds()


def document(path: str, kind: str) -> dict[str, Any]:
    """The one document of ``kind`` in the file at ``path`` (``-``: stdin)."""
    found = [d for d in _documents(path) if d.get("kind") == kind]
    if len(found) != 1:
        raise UsageError(f"{path}: expected exactly one {kind}, found {len(found)}")
    return found[0]


def _documents(path: str) -> list[dict[str, Any]]:
    """The documents of a YAML (or JSON) file, ``-`` for stdin; each must be a mapping."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}") from None
    if not all(isinstance(d, dict) for d in docs):
        raise UsageError(f"{path}: every document must be a mapping")
    return docs

