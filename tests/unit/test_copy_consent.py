"""Copy consent names what a tenant cannot choose for itself (issue 26, item 2): an owner,
a team, a class. Namespace names and globs, which a tenant picks within its prefix, are no
consent any more (before: ``dev-ci-*`` let ``spec.namespace: dev-ci-mallory`` read a CI key)."""

from __future__ import annotations

import pytest

from devenv_operator.classes import shared_with


@pytest.mark.parametrize(("annotation", "owner", "class_name", "shared"), [
    (None, "mallory", None, True),  # labelled copyable, not narrowed: anyone
    ("alice", "alice", None, True),
    ("alice", "mallory", "ci", False),
    ("group:team-a", "group:team-a", None, True),
    ("group:team-a", "team-a", None, False),  # a user named like the group is not it
    ("class:ci", "mallory", "ci", True),
    ("class:ci", "mallory", "default", False),
    ("class:ci", "class:ci", None, False),  # an owner string is not a class
    ("alice, class:ci ,", "bob", "ci", True),
    ("dev-ci-*", "mallory", "default", False),  # the review's forgery
    ("dev-ci-mallory", "mallory", "default", False),
    ("", "mallory", "default", False),
])
def test_consent_names_owners_teams_and_classes_only(
        annotation: str | None, owner: str, class_name: str | None, shared: bool) -> None:
    assert shared_with(annotation, owner=owner, class_name=class_name) is shared
