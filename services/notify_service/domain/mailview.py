"""Reading captured messages for the mail viewer: raw RFC 5322 bytes → plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


@dataclass(frozen=True)
class AttachmentInfo:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MailView:
    subject: str
    date: str
    message_id: str
    header_from: str
    header_to: str
    text: str
    html: str
    attachments: list[AttachmentInfo] = field(default_factory=list)


def parse_raw(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _content(part: EmailMessage | None) -> str:
    if part is None:
        return ""
    try:
        value = part.get_content()
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def attachments_of(msg: EmailMessage) -> list[tuple[AttachmentInfo, bytes]]:
    found: list[tuple[AttachmentInfo, bytes]] = []
    for part in msg.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        found.append(
            (
                AttachmentInfo(
                    part.get_filename() or "attachment", part.get_content_type(), len(data)
                ),
                data,
            )
        )
    return found


def view(raw: bytes) -> MailView:
    msg = parse_raw(raw)
    text = _content(msg.get_body(preferencelist=("plain",)))  # type: ignore[arg-type]
    html = _content(msg.get_body(preferencelist=("html",)))  # type: ignore[arg-type]
    return MailView(
        subject=str(msg.get("Subject", "")),
        date=str(msg.get("Date", "")),
        message_id=str(msg.get("Message-ID", "")),
        header_from=str(msg.get("From", "")),
        header_to=str(msg.get("To", "")),
        text=text,
        html=html,
        attachments=[info for info, _ in attachments_of(msg)],
    )


def header_summary(raw: bytes) -> dict[str, Any]:
    msg = parse_raw(raw)
    return {
        "subject": str(msg.get("Subject", "")),
        "message_id": str(msg.get("Message-ID", "")),
        "date": str(msg.get("Date", "")),
    }
