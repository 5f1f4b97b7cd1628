"""The built-in SMTP sink: when SMTP_HOST is unset (dev, test), nothing leaves the machine.

An aiosmtpd server on 127.0.0.1:MAIL_SINK_PORT runs in the service's own event
loop and stores every message in the service's database, so every copy's mail
viewer shows them all. When the port is taken (another copy runs the sink), this
copy only serves the viewer. Off in prod.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notify_service import metrics
from services.notify_service import repository as repo
from services.notify_service.domain.mailview import header_summary
from shared.runtime import Runtime

log = logging.getLogger(__name__)

# How often a copy without the sink checks whether the port became free.
TAKEOVER_SECONDS = 5.0


def sink_enabled(runtime: Runtime) -> bool:
    settings = runtime.settings
    return settings.smtp_host is None and settings.app_env != "prod"


class SinkHandler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            summary = header_summary(raw)
        except Exception:
            summary = {"subject": "", "message_id": "", "date": ""}
        try:
            async with self.runtime.db.acquire() as conn:
                await repo.store_sink_message(
                    conn,
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=list(envelope.rcpt_tos),
                    raw=raw,
                    **summary,
                )
        except Exception as exc:
            log.warning("mail sink could not store a message", extra={"error": str(exc)})
            return "451 Requested action aborted: local storage unavailable"
        metrics.SINK_RECEIVED.inc()
        return "250 Message accepted for delivery"


async def start_sink(
    runtime: Runtime, port: int, *, quiet: bool = False
) -> asyncio.AbstractServer | None:
    loop = asyncio.get_running_loop()
    handler = SinkHandler(runtime)

    def factory() -> Any:
        return SMTP(handler, hostname="appointment-invites-sink", loop=loop)

    try:
        server = await loop.create_server(factory, host="127.0.0.1", port=port)
    except OSError as exc:
        if quiet:
            return None
        log.info(
            "mail sink port in use (another copy serves it); serving the viewer only",
            extra={"port": port, "error": str(exc)},
        )
        return None
    log.info("built-in SMTP sink listening", extra={"port": port})
    return server


@contextlib.asynccontextmanager
async def sink_context(runtime: Runtime) -> AsyncIterator[None]:
    if not sink_enabled(runtime):
        yield
        return
    port = runtime.settings.mail_sink_port
    holder: dict[str, asyncio.AbstractServer | None] = {"server": await start_sink(runtime, port)}

    async def take_over() -> None:
        # If the copy that ran the sink stops, another one takes the port over,
        # so the others' sends (to 127.0.0.1:port) find a listener again.
        while holder["server"] is None:
            await asyncio.sleep(TAKEOVER_SECONDS)
            holder["server"] = await start_sink(runtime, port, quiet=True)

    watcher = asyncio.create_task(take_over(), name="notify-sink-takeover")
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        server = holder["server"]
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
