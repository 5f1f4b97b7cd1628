"""Rate limits as sliding windows over the times of counted attempts.

The database keeps the attempt times (so every gateway copy shares them); this
module decides, given those times, whether one more attempt is allowed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Policy:
    name: str
    limit: int
    window: timedelta

    def bucket(self, *parts: str) -> str:
        """A bounded-length key; usernames and addresses are hashed, not stored."""
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
        return f"{self.name}:{digest}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_seconds: int = 0


def decide(attempts: list[datetime], policy: Policy, now: datetime) -> Decision:
    """Allowed while fewer than ``limit`` attempts fall in the window ending now."""
    recent = sorted(t for t in attempts if t > now - policy.window)
    if len(recent) < policy.limit:
        return Decision(True)
    # The window frees a place when the oldest counted attempt leaves it.
    frees_at = recent[len(recent) - policy.limit] + policy.window
    return Decision(False, max(1, int((frees_at - now).total_seconds() + 0.999)))


@dataclass
class Limits:
    """The gateway's policies; tests may tighten them on ``runtime.extras``."""

    # Failed or pending logins per (username, client address).
    login: Policy = field(default_factory=lambda: Policy("login", 5, timedelta(minutes=15)))
    # Unknown personal-link tokens per client address (guessing).
    link_guesses: Policy = field(
        default_factory=lambda: Policy("link404", 20, timedelta(minutes=1))
    )
