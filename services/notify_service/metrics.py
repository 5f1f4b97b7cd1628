"""Prometheus metrics of the notify service (served at /metrics with the shared ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EMAILS_SENT = Counter("notify_emails_sent_total", "Emails accepted by the SMTP server", ["kind"])
EMAILS_FAILED = Counter(
    "notify_emails_failed_total", "Emails recorded as failed for good", ["kind", "reason"]
)
EMAILS_RETRIED = Counter(
    "notify_emails_retried_total", "Temporary delivery failures, retried later", ["kind"]
)
INTERRUPTED_SENDS = Counter(
    "notify_interrupted_sends_total",
    "Messages found in 'sending' after a lease expired (process died mid-send); re-sent"
    " with the same Message-ID",
)
SENDS_IN_FLIGHT = Gauge("notify_sends_in_flight", "SMTP sends running in this process")
SINK_RECEIVED = Counter("notify_sink_messages_total", "Messages captured by the built-in sink")
SCHEDULER_OLDEST_DUE = Gauge(
    "scheduler_oldest_due_seconds",
    "Age of the oldest scheduled email that is due but not sent yet (0 when none)",
    ["service"],
)
