"""Building the emails: pure functions from event data to ``EmailMessage`` or bytes.

Every message is built by the standard library with ``policy.SMTP`` (CRLF line
ends, folded headers, RFC 2047 encoding of non-ASCII names), so a student's
name can never inject a header: display names lose their control characters
and addresses with any are refused.

Invite emails (thousands per invite, text + HTML, no attachments) are written
as bytes by ``MimeWriter`` instead: the ``email`` package's header registry and
folding cost more than everything else notify does per email. It writes the
common case itself (ASCII headers that fit a line, 7bit or quoted-printable
bodies) and hands any other header to the standard library, so the result
parses back to what ``build_message`` gives (tests/unit/notify_service).
"""

from __future__ import annotations

import binascii
import functools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vCalAddress, vText

from shared.events import AppointmentBooked, InviteCreated, InviteeData
from shared.templates import compose_invite_email as render_invite_email
from shared.templates import text_to_html

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9.-]+\.?[A-Za-z0-9-]*$")


class BadAddress(ValueError):
    """An address that cannot be put in a header safely."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Composed:
    """What a message says, before it becomes MIME."""

    subject: str
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = field(default=())


# ------------------------------------------------------------------ headers
def clean_display_name(name: str) -> str:
    """One line of text: control characters (CR, LF, TAB, …) become single spaces."""
    return " ".join(_CONTROL.sub(" ", name).split())


def clean_subject(subject: str) -> str:
    # A rendered template may span lines; a subject is one line.
    return clean_display_name(subject)[:900] or "(no subject)"


def check_address(addr: str) -> str:
    """The bare address, or BadAddress when it is not one (or could inject anything)."""
    addr = addr.strip()
    if not addr or _CONTROL.search(addr) or not _EMAIL.match(addr) or len(addr) > 320:
        raise BadAddress(f"not a valid email address: {addr!r}")
    return addr


def make_address(name: str | None, addr: str) -> Address:
    addr = check_address(addr)
    username, _, domain = addr.rpartition("@")
    return Address(display_name=clean_display_name(name or ""), username=username, domain=domain)


def parse_from(mail_from: str) -> Address:
    """``MAIL_FROM`` as 'Name <addr>' or a bare address."""
    name, addr = parseaddr(mail_from)
    return make_address(name, addr or mail_from)


def split_recipients(values: Sequence[str]) -> list[str]:
    """Addresses from entries that may themselves be ``;``/``,``-separated, in order, once."""
    seen: dict[str, None] = {}
    for value in values:
        for part in re.split(r"[;,]", value):
            part = part.strip()
            if part:
                seen.setdefault(part, None)
    return list(seen)


def message_id(domain: str, *parts: object) -> str:
    """A stable Message-ID, the same for every attempt of one logical email."""
    local = "-".join(_ID_UNSAFE.sub("_", str(p)) for p in parts)
    return f"<{local}@{_ID_UNSAFE.sub('_', domain) or 'localhost'}>"


def domain_of(mail_from: str) -> str:
    _, addr = parseaddr(mail_from)
    return (addr or mail_from).rpartition("@")[2] or "localhost"


# ------------------------------------------------------------------ MIME
def build_message(
    *,
    sender: Address,
    to: Address,
    composed: Composed,
    when: datetime,
    msg_id: str,
) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = msg_id
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = clean_subject(composed.subject)
    msg["MIME-Version"] = "1.0"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(composed.text, subtype="plain", charset="utf-8")
    if composed.html is not None:
        msg.add_alternative(composed.html, subtype="html", charset="utf-8")
    for att in composed.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(
            att.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=clean_display_name(att.filename) or "attachment",
        )
    return msg


# Characters a display name may hold unquoted (RFC 5322 atext, and spaces between words).
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+")
_MAX_LINE = 78  # policy.SMTP's max_line_length: longer headers are folded by the stdlib


def _header(name: str, value: str | Address) -> bytes:
    """One header folded and RFC 2047-encoded by the standard library (the slow, general way)."""
    folded: str = policy.SMTP.header_factory(name, value).fold(policy=policy.SMTP)
    return folded.encode("ascii")


def _plain_header(name: str, value: str) -> bytes | None:
    """``name: value`` written directly when nothing needs encoding or folding, else None."""
    line = f"{name}: {value}"
    if len(line) > _MAX_LINE or not line.isascii() or "=?" in value or not value.isprintable():
        return None
    return line.encode("ascii") + b"\r\n"


def _address_header(name: str, address: Address) -> bytes:
    display, spec = address.display_name, address.addr_spec
    if not display:
        value = spec
    elif _PLAIN_PHRASE.fullmatch(display) and "=?" not in display:
        value = f"{display} <{spec}>"
    else:
        # A quoted string, as the stdlib writes names with specials ("J. Smith").
        quoted = display.replace("\\", "\\\\").replace('"', '\\"')
        value = f'"{quoted}" <{spec}>'
    return _plain_header(name, value) or _header(name, address)


def _body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, CRLF-terminated lines) of a UTF-8 text part."""
    lines = text.encode("utf-8").splitlines()
    body = b"\r\n".join(lines) + b"\r\n"
    if body.isascii() and all(len(line) <= _MAX_LINE for line in lines):
        return "7bit", body
    encoded = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True)
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


class MimeWriter:
    """Writes text (+ HTML) emails as bytes; what every message shares is prepared once.

    From is folded once per process, the Subject block once per distinct subject
    (an invite's subject is usually the same for all its students); per message
    only To, Message-ID, Date and the bodies are written.
    """

    MAX_SUBJECTS = 256

    def __init__(self, sender: Address) -> None:
        self._from = _header("From", sender)
        self._tails: dict[str, bytes] = {}

    def _tail(self, subject: str) -> bytes:
        tail = self._tails.get(subject)
        if tail is None:
            tail = (
                _plain_header("Subject", subject) or _header("Subject", subject)
            ) + b"MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n"
            if len(self._tails) >= self.MAX_SUBJECTS:
                self._tails.pop(next(iter(self._tails)))
            self._tails[subject] = tail
        return tail

    def write(self, *, to: Address, composed: Composed, when: datetime, msg_id: str) -> bytes:
        """The message as ``build_message`` would give it (no attachments), CRLF, 7-bit."""
        if composed.attachments:
            raise ValueError("MimeWriter writes no attachments: use build_message")
        head = b"".join(
            (
                _plain_header("Date", format_datetime(when))
                or _header("Date", format_datetime(when)),
                _plain_header("Message-ID", msg_id) or _header("Message-ID", msg_id),
                self._from,
                _address_header("To", to),
                self._tail(clean_subject(composed.subject)),
            )
        )
        parts = [_body(composed.text)]
        if composed.html is None:
            cte, body = parts[0]
            return head + _text_headers("plain", cte) + b"\r\n" + body
        parts.append(_body(composed.html))
        boundary = _boundary(b"".join(body for _, body in parts))
        out = [
            head,
            b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n\r\n',
        ]
        for subtype, (cte, body) in zip(("plain", "html"), parts, strict=True):
            out += [b"--", boundary, b"\r\n", _text_headers(subtype, cte), b"\r\n", body, b"\r\n"]
        out += [b"--", boundary, b"--\r\n"]
        return b"".join(out)


def _text_headers(subtype: str, cte: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    ).encode("ascii")


def _boundary(bodies: bytes) -> bytes:
    # "=_" never occurs in quoted-printable text; a 7bit body is checked.
    while True:
        boundary = f"=_{uuid.uuid4().hex}".encode("ascii")
        if boundary not in bodies:
            return boundary


def html_document(body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        '<body style="font-family: Arial, Helvetica, sans-serif; line-height: 1.45">\n'
        f"{body}\n</body></html>\n"
    )


# ------------------------------------------------------------------ invite emails
def compose_invite_email(
    invite: InviteCreated,
    invitee: InviteeData,
    *,
    kind: str,
    center_name: str,
) -> Composed:
    """Instruction or reminder email; raises TemplateProblem when a template fails.

    Rendered by ``shared.templates.compose_invite_email``, the same function the
    invite preview uses, so what staff preview is what the student gets.
    """
    email = render_invite_email(invite, invitee, kind=kind, center_name=center_name)
    return Composed(subject=email.subject, text=email.text, html=html_document(email.html))


def email_html(text: str) -> str:
    """The HTML part: says exactly what the text part says (shared.templates.text_to_html)."""
    return html_document(text_to_html(text))


# ------------------------------------------------------------------ confirmation
def _local(when: datetime, tz: ZoneInfo) -> datetime:
    return when.astimezone(tz)


def _when_text(start: datetime, end: datetime) -> str:
    day = f"{start:%A}, {start:%B} {start.day}, {start.year}"
    return f"{day}, {start:%H:%M}–{end:%H:%M} ({start.tzname()})"


def compose_confirmation(
    appointment: AppointmentBooked,
    invitee: InviteeData | None,
    *,
    tz: ZoneInfo,
    uid_domain: str,
    now: datetime,
) -> Composed:
    start = _local(appointment.starts_at, tz)
    end = _local(appointment.ends_at, tz)
    when = _when_text(start, end)
    first_name = invitee.first_name if invitee else ""
    link = invitee.link if invitee else ""
    center = appointment.center.name
    consultant = appointment.consultant.name
    modality = "online" if appointment.modality == "online" else "in person"
    lines = [
        f"Hello {first_name}," if first_name else "Hello,",
        "",
        "Your appointment is booked.",
        "",
        f"When: {when}",
        f"Where: {center} ({modality})",
        f"With: {consultant}",
        f"Duration: {appointment.duration_minutes} minutes",
    ]
    if link:
        lines += ["", f"View your appointment: {link}"]
    lines += ["", "The attached calendar file adds it to your calendar."]
    text = "\n".join(lines) + "\n"
    ics = appointment_ics(
        appointment, tz=tz, uid_domain=uid_domain, now=now, description=link, student=invitee
    )
    return Composed(
        subject=f"Appointment confirmed: {start:%a} {start:%b} {start.day}, {start:%H:%M}",
        text=text,
        html=email_html(text),
        attachments=(Attachment("appointment.ics", "text/calendar", ics),),
    )


def appointment_ics(
    appointment: AppointmentBooked,
    *,
    tz: ZoneInfo,
    uid_domain: str,
    now: datetime,
    description: str = "",
    student: InviteeData | None = None,
) -> bytes:
    """An iCalendar file with one VEVENT in the center's timezone (TZID + VTIMEZONE)."""
    cal = Calendar()
    cal.add("prodid", "-//Appointment Invites//notify_service//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    # Stable per appointment: a calendar that imports it twice updates one event.
    event.add("uid", f"appointment-{_ID_UNSAFE.sub('_', appointment.appointment_id)}@{uid_domain}")
    event.add("dtstamp", now)
    event.add("dtstart", appointment.starts_at.astimezone(tz))
    event.add("dtend", appointment.ends_at.astimezone(tz))
    event.add(
        "summary",
        f"Appointment with {appointment.consultant.name} at {appointment.center.name}",
    )
    event.add("location", vText(appointment.center.name))
    if description:
        event.add("description", description)
    if student is not None:
        attendee = vCalAddress(f"mailto:{student.email}")
        attendee.params["cn"] = vText(f"{student.first_name} {student.last_name}".strip())
        event.add("attendee", attendee, encode=False)
    cal.add_component(event)
    # VTIMEZONEs go before the events that name them (as add_missing_timezones does).
    for tzid in sorted(cal.get_missing_tzids()):
        cal.subcomponents.insert(0, _vtimezone(tzid))
    return bytes(cal.to_ical())


@functools.lru_cache(maxsize=64)
def _vtimezone(tzid: str) -> Timezone:
    """The VTIMEZONE of a zone, built once: building it walks decades of transitions
    (≈10 ms), and every confirmation of a center needs the same one."""
    return Timezone.from_tzid(tzid)


# ------------------------------------------------------------------ report
def compose_report(subject: str, body_text: str, attachment: Attachment) -> Composed:
    return Composed(
        subject=subject or "Report",
        text=body_text or "The report is attached.",
        html=None,
        attachments=(attachment,),
    )
