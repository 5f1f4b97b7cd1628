"""The scheduler loop: claims due messages and sends them.

Life of a message: ``pending`` → ``sending`` (committed BEFORE the SMTP exchange,
with a lease) → ``sent`` | ``failed`` (permanent) | ``pending`` again (temporary
failure, retried after a back-off in ``next_attempt_at``).

Any number of copies may run: claims use ``FOR UPDATE SKIP LOCKED`` and the
unique (invitee, kind, sequence) key means one row per logical email. Each copy
claims only as many rows as it has free send slots, so a claimed row is being
sent right away and its lease (``notify_sending_lease_seconds``, longer than the
SMTP timeout) only runs out when the process died.

The at-least-once window: if a process dies after the SMTP server accepted a
message but before ``sent`` was committed, the row stays in ``sending``. When
its lease runs out another claim takes it (logged, and counted in
``notify_interrupted_sends_total``) and sends it again with the SAME
Message-ID, so the receiving side can recognise the duplicate. At most the
messages in flight at the crash (≤ ``notify_smtp_concurrency`` per process)
can be delivered twice; none is lost.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import asyncpg

from services.notify_service import metrics
from services.notify_service import repository as repo
from services.notify_service.domain.compose import (
    Attachment,
    BadAddress,
    Composed,
    build_message,
    compose_confirmation,
    compose_invite_email,
    compose_report,
    make_address,
    parse_from,
)
from services.notify_service.domain.schedule import retry_delay, still_remindable, zone
from services.notify_service.handlers import WAKE, Scheduling
from services.notify_service.sender import SendFailure, SmtpSender, smtp_target
from shared.bus.outbox import add_to_outbox
from shared.events import (
    AppointmentBooked,
    EmailFailed,
    EmailSent,
    InviteCreated,
    InviteeData,
    make_event,
)
from shared.runtime import Runtime
from shared.templates import TemplateProblem

log = logging.getLogger(__name__)

SERVICE = "notify_service"


class Skip(Exception):
    """The message is no longer wanted (booked, cancelled, past the due date)."""


@dataclass(frozen=True)
class Prepared:
    message: EmailMessage
    recipient: str
    subject: str
    # Whether the invite has reminders (so a sent email may schedule the next one).
    reminders: bool = False


class Scheduler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        scheduling = runtime.extras.get("scheduling")
        self.s: Scheduling = (
            scheduling if isinstance(scheduling, Scheduling) else Scheduling(runtime)
        )
        self.cfg = self.s.settings
        self.worker = f"{uuid.uuid4().hex[:12]}"
        self.sender = parse_from(self.cfg.mail_from)
        self.target = smtp_target(self.cfg)
        self.smtp = SmtpSender(self.target)
        self.wake_event = asyncio.Event()
        runtime.extras[WAKE] = self.wake_event
        self.in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._invites: dict[str, InviteCreated] = {}

    # ------------------------------------------------------------ the loop
    async def run(self) -> None:
        async with self.runtime.db.acquire() as conn:
            stale = await repo.count_stale_sending(conn)
        if stale:
            log.warning(
                "messages left in 'sending' by a stopped process; re-sending them"
                " with their Message-ID",
                extra={"count": stale},
            )
        if self.target is None:
            log.error("SMTP_HOST is not set in prod: emails wait until it is configured")
        backoff = 0.5
        while not self._stopping:
            try:
                claimed = await self.claim_and_start()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("scheduler could not claim; retrying", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            free = self.cfg.notify_smtp_concurrency - len(self.in_flight)
            if claimed and free == 0:
                # Busy: go on as soon as a slot frees up.
                await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            if claimed:
                continue  # more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake_event.wait(), self.cfg.notify_poll_seconds)
            self.wake_event.clear()

    async def claim_and_start(self) -> int:
        free = self.cfg.notify_smtp_concurrency - len(self.in_flight)
        if free <= 0:
            return 0
        async with self.runtime.db.acquire() as conn:
            rows = await repo.claim_due(
                conn,
                now=self.s.now(),
                limit=free,
                lease_seconds=self.cfg.notify_sending_lease_seconds,
                worker=self.worker,
            )
        for row in rows:
            task = asyncio.create_task(self.process(row), name=f"send-{row['message_id']}")
            self.in_flight.add(task)
            metrics.SENDS_IN_FLIGHT.inc()
            task.add_done_callback(self._done)
        return len(rows)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        metrics.SENDS_IN_FLIGHT.dec()
        if not task.cancelled() and task.exception() is not None:
            log.error("send task crashed", extra={"error": repr(task.exception())})
        self.wake_event.set()

    async def stop(self, grace_seconds: float) -> None:
        self._stopping = True
        self.wake_event.set()
        if self.in_flight:
            # Let sends in progress finish; a cut one stays 'sending' and is re-sent later.
            await asyncio.wait(list(self.in_flight), timeout=grace_seconds)
        for task in list(self.in_flight):
            task.cancel()
        for task in list(self.in_flight):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.smtp.close()

    # ------------------------------------------------------------ one message
    async def process(self, row: asyncpg.Record) -> None:
        if row["was_status"] == "sending":
            metrics.INTERRUPTED_SENDS.inc()
            log.warning(
                "re-sending a message whose earlier attempt was interrupted",
                extra={"message_id": row["message_id"], "attempts": row["attempts"]},
            )
        try:
            prepared = await self.prepare(row)
        except Skip as skip:
            await self.record_skipped(row, str(skip))
            return
        except SendFailure as failure:
            await self.record_failure(row, failure)
            return
        try:
            await self.smtp.deliver(prepared.message, self.sender.addr_spec, prepared.recipient)
        except SendFailure as failure:
            await self.record_failure(row, failure, subject=prepared.subject)
            return
        await self.record_sent(row, prepared)

    async def prepare(self, row: asyncpg.Record) -> Prepared:
        kind = row["kind"]
        now = self.s.now()
        async with self.runtime.db.acquire() as conn:
            ctx = await repo.message_context(conn, row["invitee_id"], row["invite_id"])
        assert ctx is not None
        invitee_data = (
            InviteeData.model_validate(ctx["invitee_data"])
            if ctx["invitee_data"] is not None
            else None
        )
        center_tz = zone(ctx["center_timezone"])
        center_name = ctx["center_name"] or ""
        composed: Composed
        reminders = False
        try:
            if kind in ("instructions", "reminder"):
                if ctx["invite_data"] is None or invitee_data is None:
                    raise Skip("the invite is unknown")
                if ctx["cancelled_at"] is not None:
                    raise Skip("invite cancelled")
                if ctx["invitee_status"] != "invited":
                    raise Skip(f"invitee {ctx['invitee_status']}")
                data = self.invite_data(row["invite_id"], ctx["invite_data"])
                reminders = bool(data.reminder_every_days)
                if not still_remindable(data.due_date, center_tz, now):
                    raise Skip("the due date has passed")
                composed = compose_invite_email(
                    data, invitee_data, kind=kind, center_name=center_name
                )
                to = make_address(
                    f"{invitee_data.first_name} {invitee_data.last_name}", invitee_data.email
                )
            elif kind == "confirmation":
                if invitee_data is None:
                    raise SendFailure("waiting for the invite's data to address the email", False)
                appointment = AppointmentBooked.model_validate(row["data"])
                composed = compose_confirmation(
                    appointment,
                    invitee_data,
                    tz=zone(appointment.center.timezone),
                    uid_domain=self.s.domain,
                    now=now,
                )
                to = make_address(
                    f"{invitee_data.first_name} {invitee_data.last_name}", invitee_data.email
                )
            else:
                data_r = row["data"]
                attachment = Attachment(
                    data_r["filename"],
                    data_r["content_type"],
                    base64.b64decode(data_r["content_base64"]),
                )
                composed = compose_report(data_r["subject"], data_r["body_text"], attachment)
                to = make_address("", row["recipient"] or "")
        except TemplateProblem as exc:
            raise SendFailure(f"template error: {exc}", True) from exc
        except BadAddress as exc:
            raise SendFailure(str(exc), True) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise SendFailure(f"cannot build the email: {exc}", True) from exc
        message = build_message(
            sender=self.sender, to=to, composed=composed, when=now, msg_id=row["message_id"]
        )
        return Prepared(message, to.addr_spec, str(message["Subject"]), reminders)

    def invite_data(self, invite_id: str, raw: dict[str, Any]) -> InviteCreated:
        """The invite's data, parsed once: it never changes after invite.created."""
        cached = self._invites.get(invite_id)
        if cached is None:
            cached = InviteCreated.model_validate({**raw, "invitees": []})
            if len(self._invites) >= 256:
                self._invites.pop(next(iter(self._invites)))
            self._invites[invite_id] = cached
        return cached

    # ------------------------------------------------------------ outcomes
    def _event_ids(self, row: asyncpg.Record) -> dict[str, Any]:
        return {
            "message_id": row["message_id"],
            "kind": row["kind"],
            "sequence": row["sequence"],
            "invitee_id": row["invitee_id"],
            "invite_id": row["invite_id"],
            "delivery_id": row["delivery_id"],
        }

    async def record_sent(self, row: asyncpg.Record, prepared: Prepared) -> None:
        now = self.s.now()
        invitee: asyncpg.Record | None = None
        async with self.runtime.db.acquire() as conn, conn.transaction():
            if row["invitee_id"] is not None:
                # Serialise with the event handlers touching the same invitee.
                invitee = await repo.lock_invitee(conn, row["invitee_id"])
            recorded = await repo.finish(
                conn, row["id"], self.worker, status="sent", sent_at=now, subject=prepared.subject
            )
            if not recorded:
                log.warning(
                    "sent, but the claim had been taken over (lease expired)",
                    extra={"message_id": row["message_id"]},
                )
                return
            await add_to_outbox(
                conn,
                [
                    make_event(
                        "email.sent",
                        EmailSent(**self._event_ids(row), sent_at=now),
                        producer=SERVICE,
                    )
                ],
            )
            if (
                row["kind"] in ("instructions", "reminder")
                and invitee is not None
                and invitee["status"] == "invited"
                and prepared.reminders
            ):
                invite = await repo.get_invite(conn, row["invite_id"])
                if invite is not None and invite["data"] is not None and not invite["cancelled_at"]:
                    await self.s.schedule_next(conn, invitee, invite)
        self.runtime.wake_relay()
        metrics.EMAILS_SENT.labels(row["kind"]).inc()
        log.info(
            "email sent",
            extra={"message_id": row["message_id"], "kind": row["kind"], "to": prepared.recipient},
        )

    async def record_failure(
        self, row: asyncpg.Record, failure: SendFailure, subject: str | None = None
    ) -> None:
        now = self.s.now()
        attempts = int(row["attempts"])
        permanent = failure.permanent or attempts >= self.cfg.notify_max_attempts
        error = failure.error[:2000]
        if not failure.permanent and permanent:
            error = f"gave up after {attempts} attempts: {error}"
        async with self.runtime.db.acquire() as conn, conn.transaction():
            if permanent:
                recorded = await repo.finish(
                    conn,
                    row["id"],
                    self.worker,
                    status="failed",
                    error=error,
                    sent_at=now,
                    subject=subject,
                )
            else:
                delay = retry_delay(
                    attempts, self.cfg.notify_retry_base_seconds, self.cfg.notify_retry_max_seconds
                )
                recorded = await repo.finish(
                    conn,
                    row["id"],
                    self.worker,
                    status="pending",
                    error=error,
                    retry_in_seconds=delay.total_seconds(),
                    subject=subject,
                )
            # Staff see the first temporary failure and every permanent one.
            if recorded and (permanent or attempts == 1):
                await add_to_outbox(
                    conn,
                    [
                        make_event(
                            "email.failed",
                            EmailFailed(
                                **self._event_ids(row),
                                error=error,
                                permanent=permanent,
                                failed_at=now,
                            ),
                            producer=SERVICE,
                        )
                    ],
                )
        self.runtime.wake_relay()
        if permanent:
            metrics.EMAILS_FAILED.labels(row["kind"], "permanent").inc()
            log.warning(
                "email failed for good",
                extra={"message_id": row["message_id"], "error": error},
            )
        else:
            metrics.EMAILS_RETRIED.labels(row["kind"]).inc()
            log.info(
                "email delivery failed; will retry",
                extra={"message_id": row["message_id"], "attempt": attempts, "error": error},
            )

    async def record_skipped(self, row: asyncpg.Record, reason: str) -> None:
        async with self.runtime.db.acquire() as conn:
            await repo.finish(conn, row["id"], self.worker, status="cancelled", error=reason)
        log.info("email not sent", extra={"message_id": row["message_id"], "reason": reason})


async def _lag_gauge(scheduler: Scheduler) -> None:
    """scheduler_oldest_due_seconds, which deploy/prometheus/alerts.yml watches."""
    while True:
        try:
            async with scheduler.runtime.db.acquire() as conn:
                age = await repo.oldest_due_seconds(conn, scheduler.s.now())
            metrics.SCHEDULER_OLDEST_DUE.labels(SERVICE).set(age)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("scheduler gauge skipped", extra={"error": str(exc)})
        await asyncio.sleep(10)


@contextlib.asynccontextmanager
async def scheduler_context(runtime: Runtime) -> AsyncIterator[None]:
    scheduler = Scheduler(runtime)
    runtime.extras["scheduler"] = scheduler
    task = asyncio.create_task(scheduler.run(), name="notify-scheduler")
    gauge = asyncio.create_task(_lag_gauge(scheduler), name="notify-scheduler-gauge")
    try:
        yield
    finally:
        gauge.cancel()
        await scheduler.stop(grace_seconds=min(scheduler.cfg.notify_smtp_timeout_seconds, 10.0))
        task.cancel()
        for t in (task, gauge):
            with contextlib.suppress(asyncio.CancelledError):
                await t
