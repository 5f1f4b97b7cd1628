from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.system import free_port


@dataclass
class Captured:
    recipients: list[str]
    message_id: str
    subject: str
    text: str


@dataclass
class SinkHandler:
    messages: list[Captured] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg: Message = message_from_bytes(envelope.original_content or envelope.content)
        text = ""
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                text = payload.decode(part.get_content_charset() or "utf-8") if payload else ""
                break
        self.messages.append(
            Captured(
                list(envelope.rcpt_tos), msg.get("Message-ID", ""), msg.get("Subject", ""), text
            )
        )
        return "250 OK"


class SmtpSink:
    """A real SMTP server in the test process that counts what notify delivers."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = SinkHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[Captured]:
        return self.handler.messages

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def env(self) -> dict[str, str]:
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.port), "SMTP_STARTTLS": "false"}


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def anyio_backend() -> AsyncIterator[str]:  # pragma: no cover - not used by asyncio tests
    yield "asyncio"
