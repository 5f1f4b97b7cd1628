"""The background sweep that expires invitees whose due date is over.

Several copies of the service may sweep at once: rows are claimed with
``FOR UPDATE SKIP LOCKED`` and each expiry emits its event in the same
transaction, so no invitee is expired (or announced) twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from shared.bus.outbox import add_to_outbox
from shared.events import InviteeStatusChanged, make_event
from shared.runtime import Runtime

from . import repository as repo
from .api.common import SERVICE

log = logging.getLogger(__name__)

# Cheap (a partial index finds the invited rows), so often enough that an invitee
# shows expired soon after the due date ends.
SWEEP_EVERY_SECONDS = 10.0
BATCH = 500


async def expire_due_invitees(pool: asyncpg.Pool, now: datetime, *, batch: int = BATCH) -> int:
    """Expire every overdue invitee, one batch per transaction; returns how many."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await repo.claim_expired(conn, now, batch)
            await add_to_outbox(
                conn,
                [
                    make_event(
                        "invitee.status_changed",
                        InviteeStatusChanged(
                            invitee_id=str(r["invitee_id"]),
                            invite_id=str(r["invite_id"]),
                            status="expired",
                        ),
                        producer=SERVICE,
                    )
                    for r in rows
                ],
            )
        total += len(rows)
        if len(rows) < batch:
            return total


@contextlib.asynccontextmanager
async def expiry_loop(runtime: Runtime) -> AsyncIterator[None]:
    async def run() -> None:
        while True:
            try:
                expired = await expire_due_invitees(runtime.db, runtime.clock.now())
                if expired:
                    runtime.wake_relay()
                    log.info("invitees expired", extra={"count": expired})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("expiry sweep failed; will retry", extra={"error": str(exc)})
            await asyncio.sleep(SWEEP_EVERY_SECONDS)

    task = asyncio.create_task(run(), name=f"{SERVICE}-expiry")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
