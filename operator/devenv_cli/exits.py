"""PURE: the plugin's exit codes, in one place, and the error of its own that ends in one.

``Outcome`` is how a ``wait`` ended (its value is the exit code); the other commands use the
same numbers for the same meanings (``app`` documents them). Nothing here imports anything,
so that ``app`` can parse the arguments, and answer ``--help`` and ``--version``, before the
commands and the models they read (pydantic) are loaded.
"""

from __future__ import annotations

import enum


class Outcome(enum.IntEnum):
    """How a wait ended; the value is the exit code."""

    READY = 0
    FAILED = 1
    TIMEOUT = 2
    GONE = 3  # deleted (or being deleted), or not found


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_FOUND = 3
EXIT_ERROR = 4  # usage, configuration or API errors (not an outcome of the environment)


class UsageError(Exception):
    """Raised for arguments that cannot work together (exit 4)."""


class Unavailable(Exception):
    """Raised when what a command names is not in the environment (a service, a port, a
    job, its namespace), with the names that would have worked (exit 1)."""
