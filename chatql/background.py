"""Tasks a part of the server starts and does not await, kept until they end.

The event loop holds its tasks weakly: a task nobody references may be collected before it
finishes. Every part that starts work in the background (go-live notifications, mails, the
assistant's answers, closing revoked sockets, a media pipeline's clean-up) keeps its tasks in
a `BackgroundTasks`, and ends them at shutdown in one of three ways: `wait` lets them all run
to their end, `finish` lets them run for a while and then cancels what is left, `cancel` stops
them at once. Cancelled tasks are awaited too, so none is left pending when the loop closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from typing import Any


class BackgroundTasks:
    """A set of running tasks: each leaves the set when it is done."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self, work: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Run `work` as a task of the running loop, kept here until it ends."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self.keep(task)
        return task

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Keep a task started elsewhere until it ends."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the tasks to end, then cancel the rest."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        await self.cancel()

    async def wait(self) -> None:
        """Wait until every task has ended, also those started meanwhile; nothing is
        cancelled, and the tasks' errors (and a cancellation of one) are dropped."""
        while self._tasks:
            task = self._tasks.pop()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task

    async def cancel(self) -> None:
        """Cancel every task and wait until each has ended (its errors are dropped: the
        tasks log their own)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        """A snapshot: the set may change while the caller goes through it."""
        return iter(list(self._tasks))
