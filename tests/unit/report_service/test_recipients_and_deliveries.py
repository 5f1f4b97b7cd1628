from __future__ import annotations

import pytest

from services.report_service.domain.deliveries import EmailOutcome, delivery_state
from services.report_service.domain.recipients import (
    MAX_RECIPIENTS,
    InvalidRecipients,
    parse_recipients,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a@example.edu", ["a@example.edu"]),
        ("a@example.edu;b@example.edu", ["a@example.edu", "b@example.edu"]),
        (" a@example.edu ; b@example.edu ;", ["a@example.edu", "b@example.edu"]),
        ("a@example.edu, b@example.edu", ["a@example.edu", "b@example.edu"]),
        ("A@Example.edu;a@example.edu", ["A@Example.edu"]),
        (["a@example.edu", "b@example.edu;c@x.example.org"],
         ["a@example.edu", "b@example.edu", "c@x.example.org"]),
        ("first.last+tag@sub.example.co.uk", ["first.last+tag@sub.example.co.uk"]),
    ],
)  # fmt: skip
def test_valid(raw: str | list[str], expected: list[str]) -> None:
    assert parse_recipients(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "at least one"),
        (" ; ;", "at least one"),
        ([], "at least one"),
        ("not-an-address", "not a valid email address"),
        ("a@localhost", "not a valid email address"),
        ("a b@example.edu", "not a valid email address"),
        ("Ann <a@example.edu>", "not a valid email address"),
        ("a@@example.edu", "not a valid email address"),
        (".a@example.edu", "not a valid email address"),
        ("a@-example.edu", "not a valid email address"),
        ("a@example.edu\r\nBcc: evil@example.com", "line breaks"),
        ("a@example.edu\nb@example.edu", "line breaks"),
        ("a@exa\x00mple.edu", "line breaks"),
        ("x" * 250 + "@example.edu", "not a valid email address"),
    ],
)
def test_invalid(raw: str | list[str], message: str) -> None:
    with pytest.raises(InvalidRecipients, match=message):
        parse_recipients(raw)


def test_at_most_fifty() -> None:
    many = ";".join(f"u{i}@example.edu" for i in range(MAX_RECIPIENTS))
    assert len(parse_recipients(many)) == MAX_RECIPIENTS
    with pytest.raises(InvalidRecipients, match="at most 50"):
        parse_recipients(many + ";one.more@example.edu")


SENT = EmailOutcome("sent")
TRANSIENT = EmailOutcome("failed", "try later", permanent=False)
PERMANENT = EmailOutcome("failed", "550 no such user", permanent=True)


@pytest.mark.parametrize(
    ("emails", "status", "error"),
    [
        ([], "requested", None),
        ([SENT], "sent", None),  # one email to every recipient
        ([SENT, SENT], "sent", None),  # one email per recipient
        ([TRANSIENT], "requested", "try later"),  # notify retries
        ([SENT, TRANSIENT], "requested", "try later"),
        ([SENT, PERMANENT], "failed", "550 no such user"),
        ([PERMANENT], "failed", "550 no such user"),
    ],
)
def test_delivery_state(emails: list[EmailOutcome], status: str, error: str | None) -> None:
    view = delivery_state(emails)
    assert (view.status, view.error) == (status, error)
    assert view.sent == sum(1 for e in emails if e.outcome == "sent")
