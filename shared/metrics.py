"""Prometheus metrics every service exposes at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "route"]
)
EVENTS_PUBLISHED = Counter("events_published_total", "Outbox rows published", ["service"])
OUTBOX_PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total", "Relay batches that could not be published", ["service"]
)
OUTBOX_PENDING = Gauge("outbox_pending", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_SECONDS = Gauge(
    "outbox_oldest_pending_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled", ["service", "type", "outcome"])
EVENT_HANDLING = Histogram("event_handling_seconds", "Event handler latency", ["service", "type"])
