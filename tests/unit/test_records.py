"""One record per environment UID: created in one place, ended in one place; its slices
belong to the parts that define them; lookups go through indexes."""

from __future__ import annotations

from dataclasses import dataclass

from devenv_operator import records
from devenv_operator.children import ChildMemory
from devenv_operator.controller import loop_of
from devenv_operator.records import Records
from devenv_operator.statuswriter import StatusMemory


@dataclass
class Note:
    text: str = ""


def test_a_record_is_opened_once_per_uid_and_closed_once() -> None:
    live = Records()
    first = live.open("uid-1", "pr-1")
    assert live.open("uid-1", "pr-1") is first
    assert len(live) == 1
    assert live.close("uid-1") is first
    assert live.close("uid-1") is None
    assert live.get("uid-1") is None


def test_each_part_gets_its_own_slice_created_empty_once() -> None:
    record = Records().open("uid-1", "pr-1")
    note = record.part(Note)
    note.text = "mine"
    assert record.part(Note) is note
    assert record.part(StatusMemory).written is None  # another part's slice is separate


def test_a_re_created_environment_starts_with_a_fresh_record() -> None:
    """Before: the last error of a deleted environment kept its successor from a Warning."""
    live = Records()
    old = live.open("uid-1", "pr-1")
    loop_of(old).last_error = "Reconcile failed (retrying): boom"
    old.part(StatusMemory).written = '{"phase": "Failed"}'
    new = live.open("uid-2", "pr-1")
    assert (loop_of(new).last_error, new.part(StatusMemory).written) == (None, None)
    assert {r.uid for r in live.named("pr-1")} == {"uid-1", "uid-2"}
    live.close("uid-1")
    assert live.named("pr-1") == [new]


def test_children_are_served_only_for_live_environments_in_their_namespace() -> None:
    live = Records()
    record = live.open("uid-1", "pr-1")
    assert not live.serves("pr-1", "dev-pr-1")  # no reconcile has placed it yet
    record.part(ChildMemory).namespace = "dev-pr-1"
    live.tag(record, records.HOME, [("pr-1", "dev-pr-1")])
    assert live.serves("pr-1", "dev-pr-1")
    assert not live.serves("pr-1", "kube-system")
    assert not live.serves("other", "dev-pr-1")
    live.close("uid-1")
    assert not live.serves("pr-1", "dev-pr-1")


def test_a_tag_replaces_the_records_earlier_keys_in_that_index_only() -> None:
    live = Records()
    a, b = live.open("a", "a"), live.open("b", "b")
    live.tag(a, records.TEMPLATE, ["shop"])
    live.tag(b, records.TEMPLATE, ["shop"])
    live.tag(a, records.CLASS, ["default"])
    live.tag(a, records.TEMPLATE, ["blog"])  # re-rendered from another template
    assert live.tagged(records.TEMPLATE, "shop") == [b]
    assert live.tagged(records.TEMPLATE, "blog") == [a]
    assert live.tagged(records.CLASS, "default") == [a]
    live.tag(b, records.COPIES, [("platform", "pull"), ("platform", "tls")])
    live.tag(b, records.COPIES, [])
    assert live.tagged(records.COPIES, ("platform", "pull")) == []


def test_closing_a_record_removes_it_from_every_index_and_it_is_not_filed_again() -> None:
    live = Records()
    record = live.open("a", "a")
    live.tag(record, records.CLASS, [None])
    live.close("a")
    assert live.tagged(records.CLASS, None) == []
    assert live.named("a") == []
    live.tag(record, records.CLASS, [None])  # a late reconcile of a deleted environment
    assert live.tagged(records.CLASS, None) == []
