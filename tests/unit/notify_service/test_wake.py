"""The scheduler is woken after an event handler's transaction, not inside it."""

from __future__ import annotations

import asyncio

from services.notify_service.handlers import WAKE, Scheduling
from shared.clock import Clock
from shared.runtime import Runtime


async def test_wake_after_commit_waits_for_the_handling_task_to_end(settings):
    runtime = Runtime(service="notify_service", settings=settings, clock=Clock())
    woken: list[str] = []
    runtime.extras[WAKE] = lambda: woken.append("wake")
    s = Scheduling(runtime)
    committed = asyncio.Event()

    async def handle_one_message() -> None:
        # As the consumer does: the handler runs, then the transaction commits,
        # all in the task of this one message.
        s.wake_after_commit()
        await asyncio.sleep(0)
        assert woken == [], "woken while the transaction is still open"
        committed.set()

    await asyncio.create_task(handle_one_message())
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    assert committed.is_set() and woken == ["wake"]
