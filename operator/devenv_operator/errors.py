"""The operator's few error types, and the one place API statuses are mapped onto them.

::

    KubeError                 any failed API call
    ├── Transient             worth retrying: 5xx, 429, timeouts, connection errors
    ├── NotFound              404
    ├── AlreadyExists         409 on create
    ├── Conflict              409 otherwise (optimistic-lock or precondition failure)
    ├── Invalid               422: the object was refused; the spec must change
    └── Forbidden             401/403: RBAC does not allow it

``kube.py`` raises these; ``main.py`` maps them onto ``kopf.TemporaryError``/``PermanentError``
and ``reconcile.py`` onto condition reasons.
"""

from __future__ import annotations


class KubeError(Exception):
    """Raised when an API call fails."""

    status: int = 0


class Transient(KubeError):
    """Raised when a call may succeed if retried (server errors, throttling, network)."""


class NotFound(KubeError):
    """Raised when the object does not exist (404)."""

    status = 404


class AlreadyExists(KubeError):
    """Raised when creating an object whose name is taken (409 AlreadyExists)."""

    status = 409


class Conflict(KubeError):
    """Raised when a write loses an optimistic-lock or precondition check (409)."""

    status = 409


class Invalid(KubeError):
    """Raised when the API server refuses an object as invalid (422); retrying will not help."""

    status = 422


class Forbidden(KubeError):
    """Raised when the operator's credentials do not allow a call (401/403)."""

    status = 403


def from_status(status: int, message: str, what: str) -> KubeError:
    """The error for an HTTP status from the API server."""
    text = f"{what}: {message}"
    if status == 404:
        return NotFound(text)
    if status == 409:
        if "already exists" in message:
            return AlreadyExists(text)
        return Conflict(text)
    if status == 422:
        return Invalid(message)
    if status in (401, 403):
        return Forbidden(text)
    error = Transient(text)
    error.status = status
    return error
