"""One record per environment UID: created in one place, ended in one place."""

from __future__ import annotations

from devenv_operator.records import Records


def test_a_record_is_opened_once_per_uid_and_closed_once() -> None:
    records = Records()
    first = records.open("uid-1", "pr-1")
    assert records.open("uid-1", "pr-1") is first
    assert len(records) == 1
    assert records.close("uid-1") is first
    assert records.close("uid-1") is None
    assert records.get("uid-1") is None


def test_a_re_created_environment_starts_with_a_fresh_record() -> None:
    """Before: the last error of a deleted environment kept its successor from a Warning."""
    records = Records()
    old = records.open("uid-1", "pr-1")
    old.last_error = "Reconcile failed (retrying): boom"
    old.written = '{"phase": "Failed"}'
    new = records.open("uid-2", "pr-1")
    assert (new.last_error, new.written) == (None, None)
    assert {r.uid for r in records.named("pr-1")} == {"uid-1", "uid-2"}
    records.close("uid-1")
    assert records.named("pr-1") == [new]


def test_children_are_served_only_for_live_environments_in_their_namespace() -> None:
    records = Records()
    record = records.open("uid-1", "pr-1")
    assert not records.serves("pr-1", "dev-pr-1")  # no reconcile has placed it yet
    record.namespace = "dev-pr-1"
    assert records.serves("pr-1", "dev-pr-1")
    assert not records.serves("pr-1", "kube-system")
    assert not records.serves("other", "dev-pr-1")
    records.close("uid-1")
    assert not records.serves("pr-1", "dev-pr-1")


def test_phase_counts_and_copy_sources_come_from_the_records() -> None:
    records = Records()
    a, b = records.open("a", "a"), records.open("b", "b")
    a.phase, b.phase = "Ready", "Ready"
    b.copy_sources = frozenset({("platform", "pull")})
    assert records.phase_counts() == {"Ready": 2}
    assert records.copying(("platform", "pull")) == [b]
    records.close("b")
    assert records.phase_counts() == {"Ready": 1}
    assert records.copying(("platform", "pull")) == []
