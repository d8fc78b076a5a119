"""Unit-test fixtures: every status the pure code computes must satisfy the status model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devenv_operator import models, status


def _validated(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        written = result.as_dict() if isinstance(result, status.EnvStatus) else result
        # As written: fields that are None are left out of the patch.
        models.DevEnvironmentStatus.model_validate(
            {k: v for k, v in written.items() if v is not None})
        return result
    return wrapper


@pytest.fixture(autouse=True)
def statuses_match_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrap the status computations so that any test computing one also validates it."""
    monkeypatch.setattr(status, "compute", _validated(status.compute))
    monkeypatch.setattr(status, "terminating", _validated(status.terminating))
