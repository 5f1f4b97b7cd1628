"""SMTP delivery through aiosmtplib, every exchange bounded by a timeout.

Connections are reused: each of the ``notify_smtp_concurrency`` send slots keeps
at most one open client and sends message after message on it (saving the
connect/EHLO/STARTTLS/AUTH round trips). A client is never trusted after an
error (aiosmtplib #243: a long-lived client can hang on reconnect): any failure
closes and drops it, and the next send connects afresh. A client idle for a
while, or that has sent many messages, is replaced too. Every operation runs
under ``asyncio.wait_for`` as well as aiosmtplib's own per-command timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from services.notify_service.settings import NotifySettings


class SendFailure(Exception):
    """Why a send did not succeed; ``permanent`` failures are not retried."""

    def __init__(self, error: str, permanent: bool) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    timeout: float


def smtp_target(settings: NotifySettings) -> SmtpTarget | None:
    """Where to send: the configured server, or the built-in sink outside prod."""
    if settings.smtp_host:
        return SmtpTarget(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.notify_smtp_timeout_seconds,
        )
    if settings.app_env == "prod":
        return None
    return SmtpTarget(
        "127.0.0.1",
        settings.mail_sink_port,
        None,
        None,
        False,
        settings.notify_smtp_timeout_seconds,
    )


def classify(exc: BaseException) -> SendFailure:
    """5xx answers are permanent; 4xx, refused connections, timeouts, drops are temporary."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return SendFailure(f"recipient refused: {text}", all(c >= 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # A configuration problem, not this email's: keep it and retry.
        return SendFailure(f"SMTP authentication failed: {exc.code} {exc.message}", False)
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPTimeoutError):
        return SendFailure(f"SMTP server unreachable: {exc}", False)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        permanent = 500 <= exc.code < 600
        return SendFailure(f"SMTP {exc.code} {exc.message}".strip(), permanent)
    if isinstance(exc, TimeoutError):
        return SendFailure("SMTP exchange timed out", False)
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return SendFailure(f"SMTP error: {type(exc).__name__}: {exc}", False)
    return SendFailure(f"{type(exc).__name__}: {exc}", False)


class _Dropped(Exception):
    """The connection was gone before the server answered."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class _Client:
    smtp: aiosmtplib.SMTP
    last_used: float
    sent: int = 0


class SmtpSender:
    """Sends messages over a small set of reused, bounded SMTP connections."""

    MAX_IDLE_SECONDS = 20.0
    MAX_MESSAGES_PER_CONNECTION = 500

    def __init__(self, target: SmtpTarget | None) -> None:
        self.target = target
        self._idle: list[_Client] = []
        self._closing: set[asyncio.Task[None]] = set()

    async def deliver(self, message: EmailMessage | bytes, sender: str, recipient: str) -> None:
        """Send one message (built, or already its bytes); raises SendFailure."""
        target = self.target
        if target is None:
            raise SendFailure("no SMTP server configured (SMTP_HOST is unset in prod)", False)
        reused = self._take()
        try:
            await self._send_on(reused, target, message, sender, recipient)
        except _Dropped as dropped:
            # A reused connection the server had closed meanwhile: once more on a
            # fresh one (nothing was accepted on the dead one).
            if reused is None:
                raise classify(dropped.cause) from dropped.cause
            try:
                await self._send_on(None, target, message, sender, recipient)
            except _Dropped as again:
                raise classify(again.cause) from again.cause

    async def _send_on(
        self,
        client: _Client | None,
        target: SmtpTarget,
        message: EmailMessage | bytes,
        sender: str,
        recipient: str,
    ) -> None:
        try:
            if client is None:
                client = _Client(await self._connect(target), time.monotonic())
            if isinstance(message, bytes):
                sending = client.smtp.sendmail(sender, [recipient], message)
            else:
                sending = client.smtp.send_message(message, sender=sender, recipients=[recipient])
            await asyncio.wait_for(sending, timeout=target.timeout * 2)
        except asyncio.CancelledError:
            if client is not None:
                await _close(client.smtp)
            raise
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
            if client is not None:
                await _close(client.smtp)
            raise _Dropped(exc) from exc
        except Exception as exc:
            if client is not None:
                await _close(client.smtp)
            raise classify(exc) from exc
        client.sent += 1
        client.last_used = time.monotonic()
        if client.sent >= self.MAX_MESSAGES_PER_CONNECTION:
            await _close(client.smtp)
        else:
            self._idle.append(client)

    def _take(self) -> _Client | None:
        while self._idle:
            client = self._idle.pop()
            fresh = time.monotonic() - client.last_used < self.MAX_IDLE_SECONDS
            if fresh and client.smtp.is_connected:
                return client
            # Stale: the server may have dropped it; quit politely in the background.
            task = asyncio.create_task(_close(client.smtp))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return None

    async def _connect(self, target: SmtpTarget) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            start_tls=target.starttls,
            use_tls=False,
            timeout=target.timeout,
        )
        await asyncio.wait_for(smtp.connect(), timeout=target.timeout * 2)
        return smtp

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            await _close(client.smtp)


async def _close(smtp: aiosmtplib.SMTP) -> None:
    """QUIT if the connection is healthy, otherwise just drop it."""
    with contextlib.suppress(Exception):
        if smtp.is_connected:
            await asyncio.wait_for(smtp.quit(), timeout=2)
    with contextlib.suppress(Exception):
        smtp.close()
