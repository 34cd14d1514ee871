"""BackgroundTasks: tasks kept until they end, finished or cancelled at shutdown."""

from __future__ import annotations

import asyncio

from chatql.background import BackgroundTasks


async def test_a_task_is_kept_while_it_runs_and_let_go_when_it_ends() -> None:
    tasks = BackgroundTasks()
    release = asyncio.Event()
    task = tasks.spawn(release.wait(), name="waiting")
    assert task.get_name() == "waiting"
    assert list(tasks) == [task] and len(tasks) == 1
    release.set()
    await task
    await asyncio.sleep(0)  # the done callbacks run on the next turn
    assert len(tasks) == 0 and list(tasks) == []


async def test_finish_lets_quick_tasks_end_and_cancels_the_rest() -> None:
    tasks = BackgroundTasks()
    ended: list[str] = []

    async def work(name: str, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
            ended.append(name)
        except asyncio.CancelledError:
            ended.append(f"{name} cancelled")
            raise

    quick = tasks.spawn(work("quick", 0.01))
    slow = tasks.spawn(work("slow", 60))
    await tasks.finish(timeout=0.5)
    assert ended == ["quick", "slow cancelled"]
    assert quick.done() and not quick.cancelled()
    assert slow.cancelled()
    assert len(tasks) == 0


async def test_cancel_stops_every_task_and_waits_for_each() -> None:
    tasks = BackgroundTasks()
    cleaned: list[int] = []

    async def work(n: int) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0)  # clean-up that itself awaits
            cleaned.append(n)

    started = [tasks.spawn(work(n)) for n in range(3)]
    await asyncio.sleep(0)
    await tasks.cancel()
    assert sorted(cleaned) == [0, 1, 2]
    assert all(task.cancelled() for task in started)


async def test_a_failing_task_does_not_stop_the_others_or_the_shutdown() -> None:
    tasks = BackgroundTasks()

    async def fails() -> None:
        raise RuntimeError("boom")

    failing = tasks.spawn(fails())
    other = tasks.spawn(asyncio.sleep(0.01))
    await tasks.finish(timeout=1)
    assert isinstance(failing.exception(), RuntimeError)
    assert other.done() and not other.cancelled()


async def test_a_task_started_elsewhere_can_be_kept() -> None:
    tasks = BackgroundTasks()
    task = asyncio.get_running_loop().create_task(asyncio.sleep(60))
    tasks.keep(task)
    assert list(tasks) == [task]
    await tasks.cancel()
    assert task.cancelled()


async def test_wait_lets_every_task_end_also_those_started_meanwhile() -> None:
    tasks = BackgroundTasks()
    ended: list[str] = []

    async def work(name: str, then: str | None = None) -> None:
        await asyncio.sleep(0.01)
        if then is not None:  # a task that starts another while the shutdown waits
            tasks.spawn(work(then))
        ended.append(name)

    async def fails() -> None:
        raise RuntimeError("boom")

    tasks.spawn(work("first", then="started meanwhile"))
    failing = tasks.spawn(fails())
    await tasks.wait()
    assert sorted(ended) == ["first", "started meanwhile"]
    assert isinstance(failing.exception(), RuntimeError)
    assert len(tasks) == 0
