"""The pool that runs one reconcile's independent API calls in parallel.

A reconcile thread hands its independent calls (the LISTs of an environment's children,
the applies of one dependency wave, the reads of copy sources) to this pool and waits for
them, as a client applying a directory would. Invariant: only a reconcile thread waits on
these futures, and a job never submits or waits on another job; a job that waited for
other jobs could take every thread of the pool and deadlock it.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class Fanout:
    """A bounded pool for the blocking calls of reconciles (threads named ``apply-N``)."""

    def __init__(self, workers: int) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="apply")

    def start(self, jobs: Sequence[Callable[[], T]]) -> list[concurrent.futures.Future[T]]:
        """Submit jobs without waiting; collect them later from the same reconcile thread."""
        return [self._pool.submit(job) for job in jobs]

    @staticmethod
    def collect(futures: Sequence[concurrent.futures.Future[T]]) -> list[T]:
        """Results in order; the first error is raised."""
        return [future.result() for future in futures]

    def run(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Run jobs concurrently and wait for all; a single job runs on the caller's thread."""
        if len(jobs) <= 1:
            return [job() for job in jobs]
        return self.collect(self.start(jobs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
