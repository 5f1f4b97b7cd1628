"""The shared HTTP core in a real service process: identity, validation, health, metrics."""

from __future__ import annotations

import io

from shared.auth import IDENTITY_HEADER, Identity, sign_identity
from tests.integration.probe_service import make_spec
from tests.support.infra import headers_for, problem_fields


async def test_without_signed_identity_answers_401(settings, start_service):
    client, _ = await start_service(make_spec(), settings)
    for headers in (
        {},
        {IDENTITY_HEADER: "garbage"},
        {IDENTITY_HEADER: sign_identity("wrong-secret", Identity(sub="x", role="admin"))},
    ):
        resp = await client.post("/things", json={"id": "a", "count": 1}, headers=headers)
        assert resp.status == 401
        assert resp.content_type == "application/problem+json"
        assert (await resp.json())["status"] == 401


async def test_role_not_allowed_answers_403(settings, start_service):
    client, _ = await start_service(make_spec(), settings)
    resp = await client.post(
        "/things", json={"id": "a", "count": 1}, headers=headers_for("faculty")
    )
    assert resp.status == 403


async def test_malformed_bodies_answer_422_naming_the_field_never_500(settings, start_service):
    client, _ = await start_service(make_spec(), settings)
    h = headers_for("staff")
    resp = await client.post("/things", json={"id": "a", "count": -1}, headers=h)
    assert resp.status == 422 and problem_fields(await resp.json()) == {"count"}
    resp = await client.post("/things", json={"count": "many"}, headers=h)
    assert resp.status == 422 and problem_fields(await resp.json()) == {"id", "count"}
    for raw in (b"{broken", b"\xff\xfe", b"[1, 2]", b"null", b""):
        resp = await client.post(
            "/things", data=raw, headers={**h, "Content-Type": "application/json"}
        )
        assert resp.status == 422, raw
        body = await resp.json()
        assert body["detail"] and body["errors"]
    resp = await client.post("/things", data=io.BytesIO(b"x" * (11 * 1024 * 1024)), headers=h)
    assert resp.status == 413


async def test_health_readiness_and_metrics_are_open(settings, start_service):
    client, _ = await start_service(make_spec(), settings)
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"
    await client.post("/things", json={"id": "m", "count": 1}, headers=headers_for("staff"))
    metrics = await (await client.get("/metrics")).text()
    assert 'http_requests_total{method="POST"' in metrics
    assert "events_published_total" in metrics or "outbox_pending" in metrics


async def test_correlation_id_is_echoed(settings, start_service):
    client, _ = await start_service(make_spec(), settings)
    resp = await client.get("/healthz", headers={"X-Correlation-Id": "abc-123"})
    assert resp.headers["X-Correlation-Id"] == "abc-123"
