"""Unit-test fixtures: every status the pure code computes must satisfy the status model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devenv_operator import models, status


def _validated(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        result = fn(*args, **kwargs)
        # As written: fields that are None are left out of the patch.
        models.DevEnvironmentStatus.model_validate(
            {k: v for k, v in result.items() if v is not None})
        return result
    return wrapper


@pytest.fixture(autouse=True)
def statuses_match_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrap the status computations so that any test computing one also validates it."""
    monkeypatch.setattr(status, "compute", _validated(status.compute))
    monkeypatch.setattr(status, "terminating", _validated(status.terminating))
