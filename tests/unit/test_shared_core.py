"""Unit tests of the shared core: identity signing, clock, settings, topology names."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.auth import Identity, InvalidIdentity, sign_identity, verify_identity
from shared.bus.topology import (
    SUBSCRIPTIONS,
    definitions,
    events_exchange,
    parked_queue,
    retry_queue,
    service_queue,
)
from shared.clock import Clock
from shared.settings import Settings
from shared.tokens import hash_token, link_for, looks_like_token, new_token


def test_identity_round_trip_and_tamper_detection():
    ident = Identity(sub="u1", role="faculty", name="F", faculty_id="f-9")
    header = sign_identity("k", ident, 60)
    assert verify_identity("k", header).faculty_id == "f-9"
    with pytest.raises(InvalidIdentity):
        verify_identity("other-key", header)
    payload, _, sig = header.partition(".")
    forged = sign_identity("k", ident.model_copy(update={"role": "admin"}), 60).split(".")[0]
    with pytest.raises(InvalidIdentity):
        verify_identity("k", f"{forged}.{sig}")
    for bad in (None, "", "nodot", "a.b", f"{payload}.!!"):
        with pytest.raises(InvalidIdentity):
            verify_identity("k", bad)


def test_identity_expires():
    header = sign_identity("k", Identity(sub="u", role="staff"), ttl_seconds=-1)
    with pytest.raises(InvalidIdentity, match="expired"):
        verify_identity("k", header)


def test_clock_moves_by_offset_and_returns_to_real_time():
    clock = Clock()
    target = datetime(2030, 1, 1, tzinfo=UTC)
    clock.set(target)
    assert abs((clock.now() - target).total_seconds()) < 1
    before = clock.now()
    time.sleep(0.01)
    assert clock.now() > before  # time keeps flowing after a move
    clock.set(None)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)
    with pytest.raises(ValueError):
        clock.set(datetime(2030, 1, 1))


def test_settings_names_and_defaults(monkeypatch):
    monkeypatch.setenv("SMTP_HOST", "mail.example.edu")
    monkeypatch.setenv("GATEWAY_PORT", "9000")
    monkeypatch.setenv("SEARCH_SERVICE_URL", "http://a:1, http://b:2/")
    s = Settings()
    assert s.smtp_host == "mail.example.edu" and s.gateway_port == 9000
    assert s.service_urls("search_service") == ["http://a:1", "http://b:2"]
    assert s.database_name("invite_service") == "appointment_invites_invite_service"
    assert s.postgres_dsn.startswith("postgresql://") and "127.0.0.1" in s.amqp_url


def test_queue_names_say_whose_they_are():
    assert events_exchange("ai") == "ai.events"
    assert service_queue("ai", "notify_service") == "ai.notify_service"
    assert retry_queue("ai", "notify_service", 10_000) == "ai.notify_service.retry.10s"
    assert retry_queue("ai", "notify_service", 250) == "ai.notify_service.retry.250ms"
    assert parked_queue("ai", "notify_service") == "ai.notify_service.parked"


def test_definitions_cover_every_subscription():
    defs = definitions("ai", (1000, 5000))
    queue_names = {q["name"] for q in defs["queues"]}
    for service, keys in SUBSCRIPTIONS.items():
        assert {service_queue("ai", service), parked_queue("ai", service)} <= queue_names
        bound = {b["routing_key"] for b in defs["bindings"] if b["destination"].endswith(service)}
        assert bound == set(keys)
    assert all(q["arguments"]["x-queue-type"] == "quorum" for q in defs["queues"])


def test_tokens_are_long_random_and_hashed():
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    token = next(iter(tokens))
    assert len(token) >= 22 and looks_like_token(token)  # ≥128 bits
    assert hash_token(token) != token and len(hash_token(token)) == 64
    assert link_for("http://x/", token) == f"http://x/i/{token}"
    assert not looks_like_token("../../etc/passwd")
