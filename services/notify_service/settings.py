"""Notify-specific settings, read from the environment like the shared ones.

The shared ``Settings`` holds what every deployment names in API.md; what only
the notify service tunes lives here, in a subclass, so ``shared/settings.py``
stays the lead's.
"""

from __future__ import annotations

from pydantic import Field

from shared.settings import Settings


class NotifySettings(Settings):
    # Local hour (in the center's timezone) at which instruction emails go out.
    notify_send_hour: int = Field(default=9, ge=0, le=23)
    # How often the scheduler looks for due messages when nothing woke it.
    notify_poll_seconds: float = Field(default=1.0, gt=0)
    # Every SMTP exchange (connect .. QUIT) is bounded by this.
    notify_smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # How many claimed messages a process holds at once (each an SMTP send in
    # flight, or sent and waiting to be recorded): the most a crash can deliver
    # twice. A send waits mostly on the SMTP server, so a fan-out needs many at
    # once (on the bench machine 64 sent a 2,000 fan-out 1.8x faster than 8);
    # lower it for a relay that limits connections per client (one per send slot).
    notify_smtp_concurrency: int = Field(default=64, ge=1, le=200)
    # A row in "sending" longer than this belongs to a process that died: re-sent
    # (same Message-ID). Must exceed the SMTP timeout.
    notify_sending_lease_seconds: float = Field(default=120.0, gt=0)
    # Back-off of temporary failures: base * 2^(attempt-1), capped.
    notify_retry_base_seconds: float = Field(default=5.0, gt=0)
    notify_retry_max_seconds: float = Field(default=600.0, gt=0)
    # After this many temporary failures the message is recorded as failed for good.
    notify_max_attempts: int = Field(default=30, ge=1)
    # Domain of the Message-IDs; by default the domain of MAIL_FROM.
    notify_message_id_domain: str | None = None


def notify_settings(settings: Settings) -> NotifySettings:
    """The notify view of a process's settings (``python -m`` builds plain Settings)."""
    if isinstance(settings, NotifySettings):
        return settings
    # Values already resolved win; the notify-only fields come from the environment.
    return NotifySettings(**settings.model_dump())
