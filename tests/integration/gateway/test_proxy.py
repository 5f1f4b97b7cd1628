"""The proxy: routing by prefix, signed identity, round robin, streaming, 503, student links."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from aiohttp import web

from services.gateway import repository as gateway_repo
from services.gateway.auth import limits
from services.gateway.domain.ratelimit import Policy
from services.gateway.proxy import miss_watch
from tests.integration.gateway.support import ADMIN, DEAD, create_user, login
from tests.support.infra import eventually

TOKEN = "A" * 32


async def test_forwards_request_with_a_verifiable_identity(start_gateway, upstream):
    invite = await upstream("invite")
    client, _ = await start_gateway(invite_service_url=invite.url)
    await login(client, *ADMIN)
    faculty = await create_user(client, "faculty", "fay", faculty_id="F-9")
    await client.post("/api/v1/auth/logout")
    await login(client, "fay", "fay-password")

    resp = await client.post(
        "/api/v1/students:import?dry_run=1&x=a%2Fb",
        data=b"student_id,first_name\nS1,Ann\n",
        headers={"Content-Type": "text/csv", "X-Correlation-Id": "corr-123"},
    )
    assert resp.status == 200
    echoed = await resp.json()
    assert echoed["method"] == "POST"
    assert echoed["path_qs"].startswith("/api/v1/students:import?dry_run=1&x=a")
    assert echoed["body"] == "student_id,first_name\nS1,Ann\n"
    assert echoed["content_type"] == "text/csv"
    assert echoed["correlation_id"] == "corr-123"
    assert resp.headers["X-Correlation-Id"] == "corr-123"
    ident = echoed["identity"]
    assert ident["sub"] == faculty["id"] and ident["role"] == "faculty"
    assert ident["name"] == "Fay" and ident["faculty_id"] == "F-9"
    seen = invite.seen[-1]
    # Credentials of the browser never reach a service.
    assert "Cookie" not in seen.headers and "Authorization" not in seen.headers


async def test_bearer_token_is_forwarded_as_identity_and_status_passes_through(
    start_gateway, upstream
):
    search = await upstream("search")
    search.reply("POST", "/api/v1/appointments/a1/cancel", {"detail": "already"}, status=409)
    client, _ = await start_gateway(search_service_url=search.url)
    await login(client, *ADMIN)
    staff = await create_user(client, "staff", "sam")
    token = await (await client.post(f"/api/v1/users/{staff['id']}/tokens")).json()
    await client.post("/api/v1/auth/logout")
    headers = {"Authorization": f"Bearer {token['token']}"}
    resp = await client.post("/api/v1/appointments/a1/cancel", headers=headers)
    assert resp.status == 409
    assert search.seen[-1].identity["role"] == "staff"


async def test_round_robin_over_copies_and_a_refusing_copy_is_skipped(start_gateway, upstream):
    one, two = await upstream("one"), await upstream("two")
    client, _ = await start_gateway(report_service_url=f"{one.url},{DEAD},{two.url}")
    await login(client, *ADMIN)
    answered = []
    for _ in range(6):
        resp = await client.get("/api/v1/reports/appointment-invite-schedule")
        assert resp.status == 200
        answered.append((await resp.json())["upstream"])
    assert answered.count("one") >= 2 and answered.count("two") >= 2
    assert len(one.seen) + len(two.seen) == 6


async def test_service_down_is_a_503_problem(start_gateway):
    client, _ = await start_gateway(notify_service_url=f"{DEAD},{DEAD}")
    await login(client, *ADMIN)
    resp = await client.get("/api/v1/mail")
    assert resp.status == 503
    body = await resp.json()
    assert resp.content_type == "application/problem+json"
    assert "notification service" in body["detail"]


async def test_unknown_route_is_a_404_problem_and_own_paths_are_not_forwarded(start_gateway):
    client, _ = await start_gateway()
    await login(client, *ADMIN)
    resp = await client.get("/api/v1/nothing/here")
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    resp = await client.put("/api/v1/users")
    assert resp.status == 405


async def test_large_answers_stream_back_intact(start_gateway, upstream):
    report = await upstream("report")
    blob = bytes(range(256)) * (4 * 1024 * 4)  # 4 MiB

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/csv",
                "Content-Disposition": 'attachment; filename="r.csv"',
            }
        )
        await resp.prepare(request)
        for start in range(0, len(blob), 256 * 1024):
            await resp.write(blob[start : start + 256 * 1024])
        await resp.write_eof()
        return resp

    report.on("GET", "/api/v1/reports/appointment-invite-schedule", big)
    client, _ = await start_gateway(report_service_url=report.url)
    await login(client, *ADMIN)
    resp = await client.get("/api/v1/reports/appointment-invite-schedule?format=csv")
    assert resp.status == 200
    assert resp.headers["Content-Disposition"] == 'attachment; filename="r.csv"'
    assert await resp.read() == blob


async def test_student_routes_need_no_login_and_carry_the_link_identity(start_gateway, upstream):
    search = await upstream("search")
    client, _ = await start_gateway(search_service_url=search.url)
    resp = await client.get(f"/api/v1/invitations/{TOKEN}/slots?from=2030-01-01&to=2030-01-02")
    assert resp.status == 200
    ident = (await resp.json())["identity"]
    assert ident["role"] == "student" and ident["sub"] == "link"
    # Even a logged-in staff member opens a link as the student would.
    await login(client, *ADMIN)
    resp = await client.get(f"/api/v1/invitations/{TOKEN}")
    assert (await resp.json())["identity"]["role"] == "student"


async def test_token_guessing_is_limited_per_address(start_gateway, upstream):
    search = await upstream("search")

    async def unknown(request: web.Request) -> web.StreamResponse:
        return web.json_response({"detail": "not found"}, status=404)

    for i in range(5):
        search.on("GET", f"/api/v1/invitations/{'B' * 31}{i}", unknown)
    client, runtime = await start_gateway(search_service_url=search.url)
    limits(runtime).link_guesses = Policy("link404", 3, timedelta(minutes=1))
    assert (await client.get(f"/api/v1/invitations/{TOKEN}")).status == 200  # not counted
    for i in range(2):
        assert (await client.get(f"/api/v1/invitations/{'B' * 31}{i}")).status == 404
    assert (await client.get("/i/short")).status == 404  # malformed: counted without a lookup
    resp = await client.get(f"/api/v1/invitations/{TOKEN}")
    assert resp.status == 429
    assert (await client.get(f"/i/{TOKEN}", allow_redirects=False)).status == 429
    assert len(search.seen) == 3  # refused guesses never reach the service


async def _guess_until_limited(client: Any, forwarded_for: str) -> None:
    headers = {"X-Forwarded-For": forwarded_for}
    for i in range(3):
        resp = await client.get(f"/api/v1/invitations/{'B' * 31}{i}", headers=headers)
        assert resp.status == 404
    resp = await client.get(f"/api/v1/invitations/{TOKEN}", headers=headers)
    assert resp.status == 429


async def test_behind_a_trusted_proxy_guessing_is_limited_per_forwarded_address(
    start_gateway, upstream
):
    search = await upstream("search")
    for i in range(3):
        search.on("GET", f"/api/v1/invitations/{'B' * 31}{i}", _unknown)
    client, runtime = await start_gateway(
        search_service_url=search.url, trusted_proxies="127.0.0.1, ::1"
    )
    limits(runtime).link_guesses = Policy("link404", 3, timedelta(minutes=1))
    await _guess_until_limited(client, "198.51.100.77, 203.0.113.9")
    # Another student behind the same proxy is not caught by the guesser's limit.
    other = await client.get(
        f"/api/v1/invitations/{TOKEN}", headers={"X-Forwarded-For": "203.0.113.10"}
    )
    assert other.status == 200


async def test_without_trusted_proxies_a_forwarded_address_changes_nothing(start_gateway, upstream):
    search = await upstream("search")
    for i in range(3):
        search.on("GET", f"/api/v1/invitations/{'B' * 31}{i}", _unknown)
    client, runtime = await start_gateway(search_service_url=search.url)
    limits(runtime).link_guesses = Policy("link404", 3, timedelta(minutes=1))
    await _guess_until_limited(client, "203.0.113.9")
    # A guesser cannot escape the limit by claiming another address.
    spoofed = await client.get(
        f"/api/v1/invitations/{TOKEN}", headers={"X-Forwarded-For": "203.0.113.10"}
    )
    assert spoofed.status == 429


async def test_link_requests_from_an_address_without_misses_ask_no_database(
    start_gateway, upstream, monkeypatch
):
    search = await upstream("search")
    search.on("GET", f"/api/v1/invitations/{'B' * 32}", _unknown)
    client, _ = await start_gateway(search_service_url=search.url)
    calls: list[str] = []
    for name in ("check", "record_and_check"):
        real = getattr(gateway_repo, name)

        async def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls.append(_name)
            return await _real(*args)

        monkeypatch.setattr(gateway_repo, name, counted)
    for _ in range(5):
        assert (await client.get(f"/api/v1/invitations/{TOKEN}")).status == 200
    assert calls == []
    assert (await client.get(f"/api/v1/invitations/{'B' * 32}")).status == 404

    async def seen() -> list[str]:
        return list(calls)

    # Counted once the 404 has gone out.
    await eventually(seen, lambda c: c == ["record_and_check"], message="miss counted")
    # Having missed, the address is checked (other copies may have counted more).
    assert (await client.get(f"/api/v1/invitations/{TOKEN}")).status == 200
    assert calls == ["record_and_check", "check"]


async def test_a_guesser_limited_on_one_copy_gets_one_guess_on_another(start_gateway, upstream):
    search = await upstream("search")
    for i in range(5):
        search.on("GET", f"/api/v1/invitations/{'B' * 31}{i}", _unknown)
    first, first_runtime = await start_gateway(search_service_url=search.url)
    second, second_runtime = await start_gateway(search_service_url=search.url)
    for runtime in (first_runtime, second_runtime):
        limits(runtime).link_guesses = Policy("link404", 3, timedelta(minutes=1))
    for i in range(3):
        assert (await first.get(f"/api/v1/invitations/{'B' * 31}{i}")).status == 404
    await _refusing(first_runtime)
    assert (await first.get(f"/api/v1/invitations/{'B' * 31}3")).status == 429
    # The other copy has not seen this address miss: one guess, counted in the database...
    assert (await second.get(f"/api/v1/invitations/{'B' * 31}3")).status == 404
    # ...which says the address is over its limit.
    await _refusing(second_runtime)
    assert (await second.get(f"/api/v1/invitations/{'B' * 31}4")).status == 429
    assert (await second.get(f"/api/v1/invitations/{TOKEN}")).status == 429
    assert (await first.get(f"/api/v1/invitations/{TOKEN}")).status == 429
    assert len(search.seen) == 4


async def _refusing(runtime: Any) -> None:
    """Misses are counted after the 404 has gone out: wait until this copy refuses."""
    bucket = limits(runtime).link_guesses.bucket("127.0.0.1")

    async def wait() -> int | None:
        return miss_watch(runtime).wait(bucket, time.monotonic())

    await eventually(wait, lambda w: w is not None and w > 0, message="address refused")


async def _unknown(request: web.Request) -> web.StreamResponse:
    return web.json_response({"detail": "not found"}, status=404)
