"""PURE: ``spec.owner`` parsed once, into who it names.

``alice`` is a user, ``group:team-a`` a group, ``system:serviceaccount:ci:runner`` a
ServiceAccount (the username Kubernetes gives it). The builders take its RBAC subject, the
classes count environments per owner, and the kubectl plugin asks whether the caller is it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

GROUP_PREFIX = "group:"
_SERVICEACCOUNT_PREFIX = "system:serviceaccount:"
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Owner:
    """Who ``spec.owner`` names."""

    kind: Literal["User", "Group", "ServiceAccount"]
    name: str
    namespace: str | None = None  # a ServiceAccount's
    text: str = ""  # as written in the spec

    @classmethod
    def parse(cls, text: str) -> Owner:
        if text.startswith(GROUP_PREFIX):
            return cls("Group", text.removeprefix(GROUP_PREFIX), text=text)
        parts = text.split(":")
        if len(parts) == 4 and text.startswith(_SERVICEACCOUNT_PREFIX):
            return cls("ServiceAccount", parts[3], namespace=parts[2], text=text)
        return cls("User", text, text=text)

    def subject(self) -> dict[str, Any]:
        """The RBAC subject that grants this owner rights."""
        if self.kind == "ServiceAccount":
            return {"kind": "ServiceAccount", "namespace": self.namespace, "name": self.name}
        return {"kind": self.kind, "apiGroup": RBAC_GROUP, "name": self.name}

    def held_by(self, username: str, groups: Iterable[str]) -> bool:
        """Whether a caller with this username and these groups is (or is in) the owner."""
        if self.kind == "Group":
            return self.name in set(groups)
        return self.text == username
