"""The operator's few error types, and the one place API statuses are mapped onto them.

::

    KubeError                 any failed API call (carries the HTTP code and Status reason)
    ├── Transient             worth retrying: 5xx, 429, timeouts, connection errors
    ├── NotFound              404
    ├── AlreadyExists         409 with reason AlreadyExists (a create whose name is taken)
    ├── Conflict              409 otherwise (optimistic-lock or precondition failure)
    ├── Invalid               400/422: this object is refused; the spec must change
    └── Forbidden             401/403: RBAC (or an admission policy) does not allow it

Classification reads the HTTP code and the ``reason`` of the ``metav1.Status`` the API
server answers with, never the message text. ``kube.py`` raises these; ``main.py`` decides
what to retry and ``reconcile.py`` maps them onto condition reasons.
"""

from __future__ import annotations


class KubeError(Exception):
    """Raised when an API call fails."""

    status: int = 0

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.reason = reason  # metav1.Status reason, e.g. "AlreadyExists"; "" when unknown


class Transient(KubeError):
    """Raised when a call may succeed if retried (server errors, throttling, network)."""


class NotFound(KubeError):
    """Raised when the object does not exist (404)."""

    status = 404


class AlreadyExists(KubeError):
    """Raised when creating an object whose name is taken (409, reason AlreadyExists)."""

    status = 409


class Conflict(KubeError):
    """Raised when a write loses an optimistic-lock or precondition check (409)."""

    status = 409


class Invalid(KubeError):
    """Raised when the API server refuses an object as malformed or invalid (400, 422).

    Retrying the same object will not help: the spec that produced it must change.
    """

    status = 422


class Forbidden(KubeError):
    """Raised when the operator's credentials do not allow a call (401/403)."""

    status = 403


def from_status(status: int, reason: str, message: str, what: str) -> KubeError:
    """The error for an API answer: its HTTP code and its ``metav1.Status`` reason."""
    text = f"{what}: {message}"
    if status == 404:
        return NotFound(text, reason=reason)
    if status == 409:
        if reason == "AlreadyExists":
            return AlreadyExists(text, reason=reason)
        return Conflict(text, reason=reason)
    if status in (400, 422):
        return Invalid(message, status=status, reason=reason)
    if status in (401, 403):
        return Forbidden(text, status=status, reason=reason)
    return Transient(text, status=status, reason=reason)
