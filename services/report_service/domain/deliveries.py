"""A report delivery's status from what notify said about its emails.

Notify may send one email to all recipients or one per recipient; both are
tolerated. Each email's latest outcome counts (a transient failure followed
by a success is a success):
- ``failed`` as soon as any email failed permanently (its error is shown);
- ``sent`` once at least one email went out and none is (still) failing;
- ``requested`` otherwise (nothing heard yet, or a transient failure that
  notify will retry; its error is shown meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

DeliveryState = Literal["requested", "sent", "failed"]


@dataclass(frozen=True)
class EmailOutcome:
    outcome: Literal["sent", "failed"]
    error: str | None = None
    permanent: bool = False


@dataclass(frozen=True)
class DeliveryView:
    status: DeliveryState
    error: str | None
    sent: int
    failed: int


def delivery_state(emails: Iterable[EmailOutcome]) -> DeliveryView:
    emails = list(emails)
    sent = sum(1 for e in emails if e.outcome == "sent")
    failing = [e for e in emails if e.outcome == "failed"]
    permanent = [e for e in failing if e.permanent]
    if permanent:
        return DeliveryView("failed", permanent[-1].error, sent, len(failing))
    if failing:
        return DeliveryView("requested", failing[-1].error, sent, len(failing))
    if sent:
        return DeliveryView("sent", None, sent, 0)
    return DeliveryView("requested", None, 0, 0)
