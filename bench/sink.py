"""The bench's own SMTP sink (aiosmtpd in the bench process), counting exactly what it accepted.

notify_service is pointed at it through SMTP_HOST/SMTP_PORT, and the raw baseline
sends to the same server, so both pay for the same SMTP exchange. The handler only
records (time, envelope, raw bytes): parsing happens after the measurement.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_LINK = re.compile(r"/i/([A-Za-z0-9_\-]{16,})")


@dataclass
class Received:
    at: float
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes


@dataclass
class Sink:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    _server: asyncio.AbstractServer | None = None
    _waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sink = self

        class Handler:
            async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
                raw = envelope.original_content or envelope.content or b""
                if isinstance(raw, str):
                    raw = raw.encode("utf-8", "surrogateescape")
                sink._accept(
                    Received(time.monotonic(), envelope.mail_from or "", envelope.rcpt_tos, raw)
                )
                return "250 Message accepted for delivery"

        def factory() -> Any:
            # data_size_limit=0: report attachments may be large.
            return SMTP(Handler(), hostname="bench-sink", data_size_limit=0)

        self._server = await loop.create_server(factory, host=self.host, port=self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def reset(self) -> None:
        self.messages = []

    def _accept(self, message: Received) -> None:
        self.messages.append(message)
        count = len(self.messages)
        for item in list(self._waiters):
            wanted, future = item
            if count >= wanted and not future.done():
                future.set_result(None)
                self._waiters.remove(item)

    async def wait_for(self, count: int, timeout: float) -> float:
        """Wait until ``count`` messages were accepted; the monotonic time of the last one."""
        if len(self.messages) < count:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((count, future))
            await asyncio.wait_for(future, timeout)
        return self.messages[count - 1].at

    # ------------------------------------------------------------------ after the fact
    def message_ids(self) -> Counter[bytes]:
        found: Counter[bytes] = Counter()
        for m in self.messages:
            head = m.raw.split(b"\r\n\r\n", 1)[0]
            match = _MESSAGE_ID.search(head)
            found[match.group(1) if match else b"<none:%d>" % id(m)] += 1
        return found

    def duplicates(self) -> int:
        """Messages beyond the first with the same Message-ID."""
        return sum(n - 1 for n in self.message_ids().values() if n > 1)

    def recipients(self) -> Counter[str]:
        return Counter(r.lower() for m in self.messages for r in m.rcpt_tos)


def token_in(raw: bytes) -> str | None:
    """The personal link token of an email (parsed properly: bodies may be QP-encoded)."""
    message = message_from_bytes(raw, policy=policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            match = _LINK.search(part.get_content())
            if match:
                return match.group(1)
    return None
