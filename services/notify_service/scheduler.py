"""The scheduler loop: claims due messages, sends them, and records what happened.

Life of a message: ``pending`` → ``sending`` (committed BEFORE the SMTP exchange,
with a lease) → ``sent`` | ``failed`` (permanent) | ``pending`` again (temporary
failure, retried after a back-off in ``next_attempt_at``).

Any number of copies may run: claims use ``FOR UPDATE SKIP LOCKED`` and the
unique (invitee, kind, sequence) key means one row per logical email. Each copy
holds at most ``notify_smtp_concurrency`` claimed rows: a row holds its send slot
from its claim until its outcome is committed, so a claimed row is being sent
right away, recorded right after, and its lease (``notify_sending_lease_seconds``,
longer than the SMTP timeout) only runs out when the process died.

Work is batched, one transaction per many emails: a claim takes as many rows as
there are free slots (waiting, under a backlog, until half the slots are free),
and outcomes are recorded together (when half the slots wait for it, when no
send is left running, or ``RECORD_DELAY`` after the first) with ONE
``email.batch_sent`` event for the batch.

The at-least-once window: if a process dies after the SMTP server accepted a
message but before ``sent`` was committed, the row stays in ``sending``. When
its lease runs out another claim takes it (logged, and counted in
``notify_interrupted_sends_total``) and sends it again with the SAME
Message-ID, so the receiving side can recognise the duplicate. At most the rows
held at the crash (≤ ``notify_smtp_concurrency`` per process: in flight, or sent
and not yet recorded) can be delivered twice; none is lost.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import asyncpg

from services.notify_service import metrics
from services.notify_service import repository as repo
from services.notify_service.domain.compose import (
    Attachment,
    BadAddress,
    Composed,
    MimeWriter,
    build_message,
    clean_subject,
    compose_confirmation,
    compose_invite_email,
    compose_report,
    make_address,
    parse_from,
)
from services.notify_service.domain.schedule import (
    reminder_possible,
    retry_delay,
    still_remindable,
    zone,
)
from services.notify_service.handlers import WAKE, Scheduling
from services.notify_service.sender import SendFailure, SmtpSender, smtp_target
from shared.bus.outbox import add_to_outbox
from shared.events import (
    AppointmentBooked,
    EmailBatchSent,
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
INVITE_KINDS = repo.INVITE_KINDS
# Longest an outcome waits for others to share its transaction while sends run.
RECORD_DELAY = 0.05


class Skip(Exception):
    """The message is no longer wanted (booked, cancelled, past the due date)."""


@dataclass(frozen=True)
class Prepared:
    message: EmailMessage | bytes
    recipient: str
    subject: str
    # Whether the invite has reminders (so a sent email may schedule the next one).
    reminders: bool = False


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to, waiting to be recorded with others."""

    row: asyncpg.Record
    at: datetime  # when it happened, on the service's clock
    sent: Prepared | None = None
    failure: SendFailure | None = None
    subject: str | None = None
    skipped: str | None = None


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
        self.mime = MimeWriter(self.sender)
        self.target = smtp_target(self.cfg)
        self.smtp = SmtpSender(self.target)
        self.slots = self.cfg.notify_smtp_concurrency
        # Claims and records are made this many at a time when there is a backlog.
        self.batch = max(1, self.slots // 2)
        runtime.extras[WAKE] = self.wake
        self.sending: set[asyncio.Task[None]] = set()
        self.outcomes: list[Outcome] = []
        self._first_outcome_at = 0.0
        self._changed = asyncio.Event()
        # Whether due rows may be waiting: a full claim, a wake, or the poll says so.
        self._maybe_due = True
        self._backlog = False
        self._last_claim = 0.0
        self._stopping = False
        self.task: asyncio.Task[None] | None = None
        self._invites: dict[str, InviteCreated] = {}

    @property
    def held(self) -> int:
        return len(self.sending) + len(self.outcomes)

    def wake(self) -> None:
        self._maybe_due = True
        self._changed.set()

    # ------------------------------------------------------------ the loop
    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name="notify-scheduler")

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
        while not (self._stopping and not self.held):
            try:
                if self._record_wanted():
                    await self.record()
                if self._claim_wanted():
                    await self.claim_and_start()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "scheduler could not claim or record; retrying", extra={"error": str(exc)}
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            await self._wait()

    def _record_wanted(self) -> bool:
        if not self.outcomes:
            return False
        return (
            self._stopping
            or not self.sending
            or len(self.outcomes) >= self.batch
            or time.monotonic() - self._first_outcome_at >= RECORD_DELAY
        )

    def _claim_wanted(self) -> bool:
        if self._stopping:
            return False
        free = self.slots - self.held
        if free <= 0:
            return False
        if time.monotonic() - self._last_claim >= self.cfg.notify_poll_seconds:
            self._maybe_due = True
        # Under a backlog, wait for half the slots: one claim per many rows.
        return self._maybe_due and (free >= self.batch or not self._backlog)

    async def _wait(self) -> None:
        if self._record_wanted() or self._claim_wanted():
            return
        timeout = self.cfg.notify_poll_seconds
        if self.outcomes:
            timeout = min(timeout, RECORD_DELAY - (time.monotonic() - self._first_outcome_at))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(timeout, 0.001))
        self._changed.clear()

    async def claim_and_start(self) -> int:
        free = self.slots - self.held
        self._last_claim = time.monotonic()
        async with self.runtime.db.acquire() as conn:
            rows = await repo.claim_due(
                conn,
                now=self.s.now(),
                limit=free,
                lease_seconds=self.cfg.notify_sending_lease_seconds,
                worker=self.worker,
            )
            try:
                invites = await self._invite_data(conn, rows)
            except Exception:
                invites = {}  # those sends fail as temporary and are retried; none is dropped
        self._backlog = len(rows) == free
        self._maybe_due = self._backlog
        for row in rows:
            task = asyncio.create_task(
                self.process(row, invites.get(row["invite_id"])),
                name=f"send-{row['message_id']}",
            )
            self.sending.add(task)
            metrics.SENDS_IN_FLIGHT.inc()
            task.add_done_callback(self._done)
        return len(rows)

    async def _invite_data(
        self, conn: asyncpg.Connection, rows: list[asyncpg.Record]
    ) -> dict[str, InviteCreated]:
        """The invite of each claimed invite email, parsed once per invite (it never changes)."""
        wanted = {r["invite_id"] for r in rows if r["kind"] in INVITE_KINDS and r["invite_known"]}
        missing = [i for i in wanted if i not in self._invites]
        if missing:
            for invite_id, raw in (await repo.invite_data(conn, missing)).items():
                if len(self._invites) >= 256:
                    self._invites.pop(next(iter(self._invites)))
                self._invites[invite_id] = InviteCreated.model_validate({**raw, "invitees": []})
        return {i: self._invites[i] for i in wanted if i in self._invites}

    def _done(self, task: asyncio.Task[None]) -> None:
        self.sending.discard(task)
        metrics.SENDS_IN_FLIGHT.dec()
        if not task.cancelled() and task.exception() is not None:
            # Its row stays 'sending' until the lease runs out, then is sent again.
            log.error("send task crashed", extra={"error": repr(task.exception())})
        self._changed.set()

    async def stop(self, grace_seconds: float) -> None:
        self._stopping = True
        self._changed.set()
        if self.sending:
            # Let sends in progress finish; a cut one stays 'sending' and is re-sent later.
            await asyncio.wait(list(self.sending), timeout=grace_seconds)
        for task in list(self.sending):
            task.cancel()
        for task in list(self.sending):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.task is not None:
            # The loop records what was sent, then ends; unrecorded rows are re-sent later.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, timeout=grace_seconds)
        await self.smtp.close()

    # ------------------------------------------------------------ one message
    async def process(self, row: asyncpg.Record, invite: InviteCreated | None) -> None:
        if row["was_status"] == "sending":
            metrics.INTERRUPTED_SENDS.inc()
            log.warning(
                "re-sending a message whose earlier attempt was interrupted",
                extra={"message_id": row["message_id"], "attempts": row["attempts"]},
            )
        try:
            prepared = self.prepare(row, invite)
        except Skip as skip:
            self._add(Outcome(row, self.s.now(), skipped=str(skip)))
            return
        except SendFailure as failure:
            self._add(Outcome(row, self.s.now(), failure=failure))
            return
        try:
            await self.smtp.deliver(prepared.message, self.sender.addr_spec, prepared.recipient)
        except SendFailure as failure:
            self._add(Outcome(row, self.s.now(), failure=failure, subject=prepared.subject))
            return
        self._add(Outcome(row, self.s.now(), sent=prepared))

    def _add(self, outcome: Outcome) -> None:
        if not self.outcomes:
            self._first_outcome_at = time.monotonic()
        self.outcomes.append(outcome)

    def prepare(self, row: asyncpg.Record, invite: InviteCreated | None) -> Prepared:
        kind = row["kind"]
        now = self.s.now()
        invitee_data = (
            InviteeData.model_validate(row["invitee_data"])
            if row["invitee_data"] is not None
            else None
        )
        center_tz = zone(row["center_timezone"])
        center_name = row["center_name"] or ""
        composed: Composed
        reminders = False
        try:
            if kind in INVITE_KINDS:
                if not row["invite_known"] or invitee_data is None:
                    raise Skip("the invite is unknown")
                if row["cancelled_at"] is not None:
                    raise Skip("invite cancelled")
                if row["invitee_status"] != "invited":
                    raise Skip(f"invitee {row['invitee_status']}")
                if invite is None:
                    raise SendFailure("the invite's data could not be read", False)
                reminders = bool(invite.reminder_every_days)
                if not still_remindable(invite.due_date, center_tz, now):
                    raise Skip("the due date has passed")
                composed = compose_invite_email(
                    invite, invitee_data, kind=kind, center_name=center_name
                )
                to = make_address(
                    f"{invitee_data.first_name} {invitee_data.last_name}", invitee_data.email
                )
                # Thousands per invite: written straight to bytes (see MimeWriter).
                raw = self.mime.write(to=to, composed=composed, when=now, msg_id=row["message_id"])
                return Prepared(raw, to.addr_spec, clean_subject(composed.subject), reminders)
            if kind == "confirmation":
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

    async def record(self) -> None:
        """Record every waiting outcome in ONE transaction, with one event for the sent ones.

        The outcomes stay held (and their slots taken) until the commit: if it
        fails they are recorded by the next attempt, or re-sent after their lease.
        """
        batch = list(self.outcomes)
        finishes: list[repo.Finish] = []
        announce: dict[uuid.UUID, tuple[str, bool]] = {}  # failures staff see: error, permanent
        for o in batch:
            pk = o.row["id"]
            if o.sent is not None:
                finishes.append(repo.Finish(pk, "sent", at=o.at, subject=o.sent.subject))
            elif o.skipped is not None:
                finishes.append(repo.Finish(pk, "cancelled", error=o.skipped))
            else:
                assert o.failure is not None
                finish, permanent = self._failure(o)
                finishes.append(finish)
                # Staff see the first temporary failure and every permanent one.
                if permanent or int(o.row["attempts"]) == 1:
                    announce[pk] = (finish.error or "", permanent)
        # Invitees whose sent email may schedule the next reminder.
        follow = [o for o in batch if self._may_follow(o)]
        async with self.runtime.db.acquire() as conn, conn.transaction():
            # Serialise with the event handlers touching the same invitees (locked first).
            invitees = await repo.lock_invitees(conn, [o.row["invitee_id"] for o in follow])
            recorded = await repo.finish(conn, self.worker, finishes)
            sent = [o for o in batch if o.sent is not None and o.row["id"] in recorded]
            events = []
            if sent:
                emails = [EmailSent(**self._event_ids(o.row), sent_at=o.at) for o in sent]
                payload = EmailBatchSent(emails=emails)
                events.append(make_event("email.batch_sent", payload, producer=SERVICE))
            for o in batch:
                if o.row["id"] in announce and o.row["id"] in recorded:
                    error, permanent = announce[o.row["id"]]
                    failed = EmailFailed(
                        **self._event_ids(o.row), error=error, permanent=permanent, failed_at=o.at
                    )
                    events.append(make_event("email.failed", failed, producer=SERVICE))
            await add_to_outbox(conn, events)
            await self._schedule_next(
                conn, [o for o in follow if o.row["id"] in recorded], invitees
            )
        del self.outcomes[: len(batch)]
        if self.outcomes:
            self._first_outcome_at = time.monotonic()
        self._changed.set()  # slots are free again
        self.runtime.wake_relay()
        self._log(batch, recorded)

    def _may_follow(self, o: Outcome) -> bool:
        """Whether a reminder may follow this sent email (else its invitee is not even locked)."""
        row = o.row
        if o.sent is None or not o.sent.reminders or row["kind"] not in INVITE_KINDS:
            return False
        if row["invitee_id"] is None:
            return False
        invite = self._invites.get(row["invite_id"])
        if invite is None:
            return True  # not known here: let schedule_next decide
        return reminder_possible(
            anchor=row["invitee_anchor_at"] or o.at,
            reminder_every_days=invite.reminder_every_days,
            due_date=invite.due_date,
            tz=zone(row["center_timezone"]),
            now=o.at,
        )

    def _failure(self, o: Outcome) -> tuple[repo.Finish, bool]:
        assert o.failure is not None
        attempts = int(o.row["attempts"])
        permanent = o.failure.permanent or attempts >= self.cfg.notify_max_attempts
        error = o.failure.error[:2000]
        if not o.failure.permanent and permanent:
            error = f"gave up after {attempts} attempts: {error}"
        pk = o.row["id"]
        if permanent:
            return repo.Finish(pk, "failed", error=error, at=o.at, subject=o.subject), True
        delay = retry_delay(
            attempts, self.cfg.notify_retry_base_seconds, self.cfg.notify_retry_max_seconds
        )
        finish = repo.Finish(
            pk, "pending", error=error, retry_in_seconds=delay.total_seconds(), subject=o.subject
        )
        return finish, False

    async def _schedule_next(
        self, conn: asyncpg.Connection, sent: list[Outcome], invitees: dict[str, asyncpg.Record]
    ) -> None:
        pairs = [(invitees.get(o.row["invitee_id"]), o.row["invite_id"]) for o in sent]
        wanted = [(i, v) for i, v in pairs if i is not None and i["status"] == "invited"]
        if not wanted:
            return
        invites = await repo.get_invites(conn, [v for _, v in wanted])
        await self.s.schedule_next(
            conn,
            [
                (invitee, invites[v])
                for invitee, v in wanted
                if v in invites
                and invites[v]["data"] is not None
                and not invites[v]["cancelled_at"]
            ],
        )

    def _log(self, batch: list[Outcome], recorded: set[uuid.UUID]) -> None:
        sent = 0
        for o in batch:
            row, kind = o.row, o.row["kind"]
            if o.row["id"] not in recorded:
                log.warning(
                    "outcome not recorded: the claim had been taken over (lease expired)",
                    extra={"message_id": row["message_id"]},
                )
            elif o.sent is not None:
                sent += 1
                metrics.EMAILS_SENT.labels(kind).inc()
                log.debug(
                    "email sent",
                    extra={"message_id": row["message_id"], "kind": kind, "to": o.sent.recipient},
                )
            elif o.skipped is not None:
                log.info(
                    "email not sent", extra={"message_id": row["message_id"], "reason": o.skipped}
                )
            else:
                assert o.failure is not None
                attempts = int(row["attempts"])
                if o.failure.permanent or attempts >= self.cfg.notify_max_attempts:
                    metrics.EMAILS_FAILED.labels(kind, "permanent").inc()
                    log.warning(
                        "email failed for good",
                        extra={"message_id": row["message_id"], "error": o.failure.error},
                    )
                else:
                    metrics.EMAILS_RETRIED.labels(kind).inc()
                    log.info(
                        "email delivery failed; will retry",
                        extra={
                            "message_id": row["message_id"],
                            "attempt": attempts,
                            "error": o.failure.error,
                        },
                    )
        if sent:
            log.info("emails sent", extra={"count": sent})


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
    scheduler.start()
    gauge = asyncio.create_task(_lag_gauge(scheduler), name="notify-scheduler-gauge")
    try:
        yield
    finally:
        gauge.cancel()
        await scheduler.stop(grace_seconds=min(scheduler.cfg.notify_smtp_timeout_seconds, 10.0))
        for t in (scheduler.task, gauge):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
