"""The run context that the steps of one reconcile share (see ``steps/__init__``).

``Parts`` are the operator's shared collaborators, ``Context`` one run's input and
findings, ``Stop`` how a step ends the run.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devenv_operator import builders, classes, kube, lifecycle, status, templates
from devenv_operator.children import ChildReader, Children
from devenv_operator.engine import Applier, Run
from devenv_operator.fanout import Fanout
from devenv_operator.records import EnvRecord, Records, Source
from devenv_operator.settings import Settings
from devenv_operator.transitions import Event

NO_EXPIRY = lifecycle.Expiry(None, None)
UNCHECKED = builders.Validated(None, None)
UNRESOLVED = classes.Resolved(None, None)
UNOBSERVED = status.Observation(generation=1, created_at=datetime.min)


@dataclass(frozen=True)
class Parts:
    """What steps work with: the API seam, the settings, and the operator's shared parts."""

    api: kube.Kube
    settings: Settings
    children: ChildReader
    applier: Applier
    fanout: Fanout
    records: Records
    classes: classes.ClassIndex
    templates: templates.TemplateIndex
    random: Callable[[int], str]


@dataclass
class Context:
    """One run: its input, what its steps found, and what they decided."""

    body: Mapping[str, Any]
    record: EnvRecord
    now: datetime
    previous: dict[str, Any]  # the newest status (the body's, or the one written since)
    run: Run = field(default_factory=Run)
    events: list[Event] = field(default_factory=list)
    # validate and render
    raw: Mapping[str, Any] = field(default_factory=dict)  # the spec to build from
    checked: builders.Validated = UNCHECKED
    resolved: classes.Resolved = UNRESOLVED
    expiry: lifecycle.Expiry = NO_EXPIRY
    obs: status.Observation = UNOBSERVED
    # from the namespace on
    env: builders.Env | None = None
    fresh_namespace: bool = False  # this run created it: it has no children to list
    children: Children = field(default_factory=dict)
    copy_sources: frozenset[Source] = frozenset()
    pending: list[concurrent.futures.Future[status.ApplyFailure | None]] = field(
        default_factory=list)

    @property
    def meta(self) -> Mapping[str, Any]:
        meta: Mapping[str, Any] = self.body["metadata"]
        return meta

    def environment(self) -> builders.Env:
        """The environment being built (set once the namespace step has run)."""
        if self.env is None:
            raise RuntimeError("no environment before the namespace step")
        return self.env


@dataclass(frozen=True)
class Stop:
    """End the run here. ``final``: nothing to compute or write (the environment was
    deleted); else the status is computed from ``ctx.obs`` as it stands."""

    why: str
    final: bool = False


Step = Callable[[Parts, Context], Stop | None]

