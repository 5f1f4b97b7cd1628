"""Event handlers: turn what other services announce into scheduled messages.

Each runs in the consumer's transaction (with the inbox row), is idempotent, and
tolerates events arriving out of order:

- any event about an invitee not heard of yet leaves a stub row, so a late
  ``invite.created`` schedules nothing for an invitee already cancelled/booked;
- booked/invited changes carry ``occurred_at``; an older one than the last
  applied is ignored (``invitee.status_changed`` from invite_service and
  ``appointment.*`` from search_service race each other);
- ``center.upserted`` after the invite moves what was scheduled in UTC to the
  center's timezone.

After a cancelled appointment the invitee is an ordinary invitee again: if the
due date has not ended, the instructions (if they never went out) or the next
reminder on the usual cadence are scheduled again. Reminders already sent are
never repeated (their sequence numbers are used up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.notify_service import repository as repo
from services.notify_service.domain.compose import domain_of, message_id, split_recipients
from services.notify_service.domain.schedule import (
    instruction_moment,
    next_reminder,
    still_remindable,
    zone,
)
from services.notify_service.settings import NotifySettings, notify_settings
from shared.bus.consumer import Handler
from shared.events import InviteCreated
from shared.runtime import Runtime

log = logging.getLogger(__name__)

TERMINAL = ("cancelled", "expired")
# runtime.extras key of the scheduler's wake() in this process.
WAKE = "notify_wake"


class Scheduling:
    """What handlers and the sender share: settings, clock, and Message-ID domain."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings: NotifySettings = notify_settings(runtime.settings)
        self.domain = self.settings.notify_message_id_domain or domain_of(self.settings.mail_from)

    def now(self) -> datetime:
        return self.runtime.clock.now()

    def msg_id(self, *parts: object) -> str:
        return message_id(self.domain, *parts)

    def wake(self) -> None:
        """Tell the scheduler (if this process runs one) that messages may be due now."""
        wake = self.runtime.extras.get(WAKE)
        if callable(wake):
            wake()

    def wake_after_commit(self) -> None:
        """Wake the scheduler once the handler's transaction has committed.

        Woken inside the transaction, its claim would not see the new rows yet
        and the first send would wait a whole ``notify_poll_seconds``. The
        consumer handles each message in a task of its own and commits before
        that task ends, so the wake goes with the task's end (the poll still
        catches up should a caller run handlers otherwise).
        """
        task = asyncio.current_task()
        if task is None:
            self.wake()
        else:
            task.add_done_callback(lambda _: self.wake())

    async def schedule_next(
        self,
        conn: asyncpg.Connection,
        pairs: Sequence[tuple[asyncpg.Record, asyncpg.Record]],
    ) -> None:
        """After emails went out or an appointment was cancelled: what comes next.

        ``pairs`` are (invitee, invite) rows, the invitee locked by the caller; a
        whole batch of sent emails takes one progress query and one insert.
        """
        now = self.now()
        invites: dict[str, InviteCreated] = {}
        zones: dict[str | None, ZoneInfo] = {}
        live = []
        for invitee, invite in pairs:
            data = invites.get(invite["invite_id"])
            if data is None:
                data = InviteCreated.model_validate({**invite["data"], "invitees": []})
                invites[invite["invite_id"]] = data
            center_id = invite["center_id"]
            if center_id not in zones:
                center = await repo.get_center(conn, center_id)
                zones[center_id] = zone(center["timezone"] if center else None)
            tz = zones[center_id]
            if still_remindable(data.due_date, tz, now):
                live.append((invitee, invite, data, tz))
        if not live:
            return
        progress = await repo.invitee_progress(conn, [i["invitee_id"] for i, *_ in live])
        rows = []
        for invitee, invite, data, tz in live:
            done = progress[invitee["invitee_id"]]
            if done["has_pending"]:
                continue
            email = (invitee["data"] or {}).get("email")
            if done["instructions"] in (None, "cancelled"):
                # Never went out: the instructions again, at their moment (or now).
                rows.append(
                    (
                        invitee["invitee_id"],
                        invite["invite_id"],
                        self.msg_id(invitee["invitee_id"], "instructions", 0),
                        "instructions",
                        0,
                        email,
                        invitee["anchor_at"] or now,
                    )
                )
                continue
            if done["instructions"] != "sent":
                continue  # failed for good: reminders would fail the same way
            following = next_reminder(
                anchor=invitee["anchor_at"] or now,
                reminder_every_days=data.reminder_every_days,
                due_date=data.due_date,
                tz=tz,
                reminders_sent=int(done["reminders_done"]),
                now=now,
            )
            if following is not None:
                rows.append(
                    (
                        invitee["invitee_id"],
                        invite["invite_id"],
                        self.msg_id(invitee["invitee_id"], "reminder", following.sequence),
                        "reminder",
                        following.sequence,
                        email,
                        following.due_at,
                    )
                )
        if rows:
            await repo.insert_invite_messages(conn, rows)


def make_handlers(runtime: Runtime) -> Mapping[str, Handler]:
    s = Scheduling(runtime)
    runtime.extras["scheduling"] = s

    async def on_invite_created(conn: asyncpg.Connection, event: Any) -> None:
        p: InviteCreated = event.payload
        now = s.now()
        center_id = p.center_ids[0] if p.center_ids else None
        center = await repo.get_center(conn, center_id)
        tz = zone(center["timezone"] if center else None)
        invite = await repo.upsert_invite(
            conn, p.invite_id, p.model_dump(mode="json", exclude={"invitees"}), center_id
        )
        anchor = instruction_moment(
            p.due_date, p.send_instructions_days, s.settings.notify_send_hour, tz, now
        )
        await repo.upsert_invitees(
            conn,
            p.invite_id,
            [(i.invitee_id, i.model_dump(mode="json")) for i in p.invitees],
            scheduled_at=now,
            anchor_at=anchor,
            tz_known=center is not None,
        )
        if invite["cancelled_at"] is not None or not still_remindable(p.due_date, tz, now):
            log.info("invite needs no emails", extra={"invite_id": p.invite_id})
            return
        statuses = {
            r["invitee_id"]: r
            for r in await conn.fetch(
                "SELECT invitee_id, status, anchor_at FROM invitees WHERE invitee_id = ANY($1)",
                [i.invitee_id for i in p.invitees],
            )
        }
        rows = []
        for i in p.invitees:
            row = statuses.get(i.invitee_id)
            if row is None or row["status"] != "invited":
                continue
            rows.append(
                (
                    i.invitee_id,
                    p.invite_id,
                    s.msg_id(i.invitee_id, "instructions", 0),
                    "instructions",
                    0,
                    i.email,
                    row["anchor_at"] or anchor,
                )
            )
        await repo.insert_invite_messages(conn, rows)
        log.info(
            "instruction emails scheduled",
            extra={"invite_id": p.invite_id, "count": len(rows), "at": anchor.isoformat()},
        )
        s.wake_after_commit()

    async def on_invite_cancelled(conn: asyncpg.Connection, event: Any) -> None:
        p = event.payload
        await repo.mark_invite_cancelled(conn, p.invite_id, p.cancelled_at)
        ids = list(p.invitee_ids)
        ids += [
            r["invitee_id"]
            for r in await conn.fetch(
                "SELECT invitee_id FROM invitees WHERE invite_id = $1", p.invite_id
            )
        ]
        ids = list(dict.fromkeys(ids))
        await repo.terminate_invitees(conn, ids, "cancelled", p.invite_id)
        n = await repo.cancel_pending(conn, ids, "invite cancelled")
        log.info("invite cancelled; emails stopped", extra={"invite_id": p.invite_id, "n": n})

    async def on_status_changed(conn: asyncpg.Connection, event: Any) -> None:
        p = event.payload
        invitee = await repo.lock_invitee(conn, p.invitee_id)
        if invitee["status"] in TERMINAL:
            return  # cancelled/expired is final
        if p.status in TERMINAL:
            await repo.set_invitee_state(conn, p.invitee_id, p.status, invite_id=p.invite_id)
            await repo.cancel_pending(conn, [p.invitee_id], f"invitee {p.status}")
            return
        if invitee["state_at"] is not None and event.occurred_at <= invitee["state_at"]:
            return  # an older booked/invited change than the one applied
        await repo.set_invitee_state(
            conn, p.invitee_id, p.status, invite_id=p.invite_id, state_at=event.occurred_at
        )
        if p.status == "booked":
            await repo.cancel_pending(conn, [p.invitee_id], "booked")
        elif p.status == "invited" and invitee["status"] == "booked":
            await _reactivate(conn, p.invitee_id)

    async def _reactivate(conn: asyncpg.Connection, invitee_id: str) -> None:
        invitee = await repo.get_invitee(conn, invitee_id)
        if invitee is None or invitee["data"] is None:
            return
        invite = await repo.get_invite(conn, invitee["invite_id"])
        if invite is None or invite["data"] is None or invite["cancelled_at"] is not None:
            return
        await s.schedule_next(conn, [(invitee, invite)])
        s.wake_after_commit()

    async def on_appointment_booked(conn: asyncpg.Connection, event: Any) -> None:
        p = event.payload
        invitee = await repo.lock_invitee(conn, p.invitee_id)
        already_cancelled = await repo.confirmation_exists(conn, p.appointment_id)
        if invitee["status"] not in TERMINAL and (
            invitee["state_at"] is None or event.occurred_at > invitee["state_at"]
        ):
            await repo.set_invitee_state(
                conn,
                p.invitee_id,
                "booked",
                invite_id=p.invite_id,
                state_at=event.occurred_at,
                appointment_id=p.appointment_id,
            )
            await repo.cancel_pending(conn, [p.invitee_id], "booked")
        if already_cancelled:
            return  # the cancellation came first, or this is a replay
        email = (invitee["data"] or {}).get("email")
        await repo.insert_confirmation(
            conn,
            invitee_id=p.invitee_id,
            invite_id=p.invite_id,
            appointment_id=p.appointment_id,
            domain_message_id=lambda seq: s.msg_id(p.invitee_id, "confirmation", seq),
            recipient=email,
            data=p.model_dump(mode="json"),
            due_at=s.now(),
        )
        s.wake_after_commit()

    async def on_appointment_cancelled(conn: asyncpg.Connection, event: Any) -> None:
        p = event.payload
        invitee = await repo.lock_invitee(conn, p.invitee_id)
        if not await repo.confirmation_exists(conn, p.appointment_id):
            # Cancelled before we heard of the booking: a cancelled placeholder makes
            # the late appointment.booked send nothing.
            await repo.insert_confirmation(
                conn,
                invitee_id=p.invitee_id,
                invite_id=p.invite_id,
                appointment_id=p.appointment_id,
                domain_message_id=lambda seq: s.msg_id(p.invitee_id, "confirmation", seq),
                recipient=None,
                data=None,
                due_at=s.now(),
                status="cancelled",
            )
        else:
            await repo.cancel_confirmation(conn, p.appointment_id)
        if invitee["status"] in TERMINAL:
            return
        if invitee["appointment_id"] not in (None, p.appointment_id):
            return  # an older appointment; the current one stands
        if invitee["state_at"] is not None and event.occurred_at <= invitee["state_at"]:
            return
        await repo.set_invitee_state(
            conn,
            p.invitee_id,
            "invited",
            invite_id=p.invite_id,
            state_at=event.occurred_at,
            appointment_id=None,
            keep_appointment=False,
        )
        if invitee["status"] == "booked":
            await _reactivate(conn, p.invitee_id)

    async def on_center_upserted(conn: asyncpg.Connection, event: Any) -> None:
        p = event.payload
        await repo.upsert_center(conn, p.center_id, p.name, p.timezone)
        tz = zone(p.timezone)
        for invite in await repo.invites_of_center(conn, p.center_id):
            data = invite["data"]
            due_date = InviteCreated.model_validate({**data, "invitees": []}).due_date
            for row in await repo.anchors_of_invite(conn, invite["invite_id"]):
                new_anchor = instruction_moment(
                    due_date,
                    int(data.get("send_instructions_days") or 0),
                    s.settings.notify_send_hour,
                    tz,
                    row["scheduled_at"],
                )
                if new_anchor != row["anchor_at"]:
                    await repo.shift_anchor(
                        conn, invite["invite_id"], row["scheduled_at"], row["anchor_at"], new_anchor
                    )

    async def on_report_delivery(conn: asyncpg.Connection, event: Any) -> None:
        p = event.payload
        data = {
            "subject": p.subject,
            "body_text": p.body_text,
            "filename": p.filename,
            "content_type": p.content_type,
            "content_base64": p.content_base64,
        }
        now = s.now()
        rows = [
            (p.delivery_id, seq, addr, s.msg_id("report", p.delivery_id, seq), data, now)
            for seq, addr in enumerate(split_recipients(p.recipients))
        ]
        await repo.insert_report_messages(conn, rows)
        s.wake_after_commit()

    return {
        "invite.created": on_invite_created,
        "invite.cancelled": on_invite_cancelled,
        "invitee.status_changed": on_status_changed,
        "appointment.booked": on_appointment_booked,
        "appointment.cancelled": on_appointment_cancelled,
        "center.upserted": on_center_upserted,
        "report.delivery_requested": on_report_delivery,
    }
