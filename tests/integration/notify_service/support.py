"""A real SMTP server for the tests (aiosmtpd in the test's loop) and event builders."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cached_property
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notify_service.settings import NotifySettings
from shared.events import (
    AppointmentBooked,
    CenterRef,
    CenterUpserted,
    ConsultantRef,
    EmailSent,
    InviteCreated,
    InviteeData,
    make_event,
)
from shared.settings import Settings
from tests.support.infra import EventTap, eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @cached_property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    @cached_property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())


@dataclass
class SmtpServer:
    """aiosmtpd on a fixed port; stop() and start() again to play an outage."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    # Recipients answered with a permanent 550 at RCPT.
    refuse: set[str] = field(default_factory=set)
    _server: asyncio.AbstractServer | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), raw))
        return "250 Message accepted"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="test-smtp", loop=loop), "127.0.0.1", self.port
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # A client that keeps its connection open must not hang the test's teardown.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def duplicates(self) -> int:
        counts = Counter(r.message_id for r in self.received)
        return sum(n - 1 for n in counts.values())


async def sent_emails(tap: EventTap, count: int, timeout: float = 10.0) -> list[EmailSent]:
    """The emails notify announced as sent (batched in ``email.batch_sent``), once ``count``."""

    async def emails() -> list[EmailSent]:
        return [m for e in tap.of_type("email.batch_sent") for m in e.payload.emails]

    return await eventually(
        emails, lambda found: len(found) >= count, timeout=timeout, message=f"{count} sent"
    )


def notify_settings_for(settings: Settings, **overrides: Any) -> NotifySettings:
    values: dict[str, Any] = {
        "notify_poll_seconds": 0.1,
        "notify_retry_base_seconds": 0.2,
        "notify_retry_max_seconds": 1.0,
        "notify_smtp_timeout_seconds": 5.0,
        "mail_from": "Appointment Invites <invites@center.example.edu>",
    }
    values.update(overrides)
    return NotifySettings(**{**settings.model_dump(), **values})


def make_invitees(n: int, prefix: str = "iv") -> list[InviteeData]:
    run = uuid.uuid4().hex[:6]
    return [
        InviteeData(
            invitee_id=f"{prefix}-{run}-{i}",
            student_id=f"S{i}",
            first_name=f"Student{i}",
            last_name="Tester",
            email=f"student{i}.{run}@example.edu",
            token_hash=f"hash{i}",
            link=f"http://invites.test/i/tok-{run}-{i}",
        )
        for i in range(n)
    ]


def invite_event(
    invitees: list[InviteeData],
    *,
    due_date: date,
    send_days: int = 30,
    every: int | None = 2,
    center_id: str = "center-1",
    email_text: str = "Dear {{ student.first_name }} {{ student.last_name }},\n"
    "{{ instructions }}\nYour link: {{ link }}\n",
    instructions: str = "Please book your {{ invite.type|lower }} at {{ center.name }}.",
    reminder_text: str = "REMINDER: you have not booked yet.",
) -> Any:
    return make_event(
        "invite.created",
        InviteCreated(
            invite_id=f"inv-{uuid.uuid4().hex[:8]}",
            widget_id="w-1",
            center_ids=[center_id],
            created_by="staff-1",
            created_at=datetime.now(UTC),
            type="Exam",
            due_date=due_date,
            subject_template="Your {{ invite.type }} invitation",
            email_text=email_text,
            instructions_template=instructions,
            reminder_text=reminder_text,
            send_instructions_days=send_days,
            reminder_every_days=every,
            invitees=invitees,
        ),
        producer="invite_service",
    )


def center_event(center_id: str = "center-1", tz: str = "America/New_York") -> Any:
    return make_event(
        "center.upserted",
        CenterUpserted(center_id=center_id, name="Tutoring Center", timezone=tz),
        producer="search_service",
    )


def booked_event(invitee: InviteeData, invite_id: str, starts_at: datetime) -> Any:
    return make_event(
        "appointment.booked",
        AppointmentBooked(
            appointment_id=f"ap-{uuid.uuid4().hex[:8]}",
            invitee_id=invitee.invitee_id,
            invite_id=invite_id,
            student_id=invitee.student_id,
            availability_id="av-1",
            starts_at=starts_at,
            ends_at=starts_at.replace(hour=starts_at.hour + 1),
            duration_minutes=60,
            consultant=ConsultantRef(id="c-1", name="Dr. Consultant"),
            center=CenterRef(id="center-1", name="Tutoring Center", timezone="America/New_York"),
            modality="in_person",
            kind="one_on_one",
            booked_by="link",
            booked_at=datetime.now(UTC),
        ),
        producer="search_service",
    )
