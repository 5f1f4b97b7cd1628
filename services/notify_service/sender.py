"""SMTP delivery through aiosmtplib: one bounded exchange per message.

A new connection per message keeps the failure model simple (no long-lived
client that can hang on reconnect, aiosmtplib #243); every exchange is bounded
by ``notify_smtp_timeout_seconds`` twice over (aiosmtplib's own per-command
timeout and an outer ``wait_for``).
"""

from __future__ import annotations

import asyncio
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


async def deliver(
    target: SmtpTarget | None, message: EmailMessage, sender: str, recipient: str
) -> None:
    """Send one message; raises SendFailure."""
    if target is None:
        raise SendFailure("no SMTP server configured (SMTP_HOST is unset in prod)", False)
    try:
        await asyncio.wait_for(
            aiosmtplib.send(
                message,
                sender=sender,
                recipients=[recipient],
                hostname=target.host,
                port=target.port,
                username=target.username,
                password=target.password,
                start_tls=target.starttls,
                use_tls=False,
                timeout=target.timeout,
            ),
            timeout=target.timeout * 2,
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise classify(exc) from exc
