"""The test clock across services, and the merged OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.settings import load_settings
from tests.integration.gateway.support import ADMIN, DEAD, create_user, login
from tests.integration.probe_service import make_spec


async def test_clock_moves_every_service_and_waits_for_their_confirmation(
    start_service, start_gateway, gateway_settings
):
    _probe_client, probe = await start_service(make_spec(), gateway_settings)
    probe_url = str(_probe_client.make_url("")).rstrip("/")
    client, gateway = await start_gateway(
        invite_service_url=f"{probe_url},{DEAD}", search_service_url=probe_url
    )
    await login(client, *ADMIN)
    target = datetime(2031, 5, 6, 7, 8, tzinfo=UTC)
    resp = await client.post("/api/v1/test/clock", json={"now": target.isoformat()})
    assert resp.status == 200, await resp.text()
    assert abs(datetime.fromisoformat((await resp.json())["now"]) - target) < timedelta(seconds=5)
    # Answered only once the other process reported the new time.
    assert abs(probe.clock.now() - target) < timedelta(seconds=5)
    assert abs(gateway.clock.now() - target) < timedelta(seconds=5)

    resp = await client.post("/api/v1/test/clock", json={"now": None})
    assert resp.status == 200
    assert abs(probe.clock.now() - datetime.now(UTC)) < timedelta(seconds=5)

    assert (await client.post("/api/v1/test/clock", json={"now": "2030-01-01T00:00"})).status == 422
    assert (await client.post("/api/v1/test/clock", json={})).status == 422


async def test_clock_is_admin_only(start_gateway):
    client, _ = await start_gateway()
    assert (await client.post("/api/v1/test/clock", json={"now": None})).status == 401
    await login(client, *ADMIN)
    await create_user(client, "staff", "sam")
    await client.post("/api/v1/auth/logout")
    await login(client, "sam", "sam-password")
    assert (await client.post("/api/v1/test/clock", json={"now": None})).status == 403


async def test_clock_is_404_outside_test_mode(start_service):
    from services.gateway.app import SPEC
    from tests.support.infra import make_settings

    settings = make_settings(app_env="dev", admin_username=ADMIN[0], admin_password=ADMIN[1])
    for name in ("invite_service", "search_service", "notify_service", "report_service"):
        setattr(settings, f"{name}_url", DEAD)
    client, _ = await start_service(SPEC, settings)
    await login(client, *ADMIN)
    resp = await client.post("/api/v1/test/clock", json={"now": None})
    assert resp.status == 404
    assert load_settings().app_env in ("dev", "test", "prod")


async def test_openapi_merges_service_fragments_with_the_gateways_routes(start_gateway, upstream):
    invite = await upstream("invite")
    invite.reply(
        "GET",
        "/openapi.json",
        {
            "openapi": "3.1.0",
            "paths": {"/api/v1/invites": {"post": {"summary": "Create an invite"}}},
            "components": {"schemas": {"InviteIn": {"type": "object"}}},
        },
    )
    client, _ = await start_gateway(invite_service_url=invite.url)
    resp = await client.get("/api/v1/openapi.json")  # public
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    assert "/api/v1/invites" in doc["paths"] and "/api/v1/auth/login" in doc["paths"]
    assert doc["paths"]["/api/v1/users"]["post"]["responses"]["201"]
    assert {"InviteIn", "UserIn", "LoginIn"} <= set(doc["components"]["schemas"])
    assert set(doc["info"]["x-unavailable-services"]) == {
        "search_service",
        "notify_service",
        "report_service",
    }
    # Fetched as a service, with the internal identity.
    assert invite.seen[-1].identity["role"] == "service"
