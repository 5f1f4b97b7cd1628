"""Accounts, sessions, API tokens, login limits and CSRF, against the real database."""

from __future__ import annotations

from datetime import timedelta

from services.gateway.app import SPEC
from services.gateway.auth import SESSION_COOKIE, limits
from services.gateway.domain.ratelimit import Policy
from tests.integration.gateway.support import ADMIN, bearer_for, create_user, login
from tests.support.infra import headers_for, service_db


def set_cookie_header(resp, name: str) -> str:
    for value in resp.headers.getall("Set-Cookie", []):
        if value.startswith(f"{name}="):
            return value
    raise AssertionError(f"no Set-Cookie for {name}")


async def test_first_admin_logs_in_with_a_hardened_cookie(start_gateway, gateway_settings):
    client, _ = await start_gateway()
    resp = await client.post("/api/v1/auth/login", json={"username": "ADMIN", "password": ADMIN[1]})
    assert resp.status == 200
    body = await resp.json()
    assert body["role"] == "admin" and body["csrf_token"]
    cookie = set_cookie_header(resp, SESSION_COOKIE).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "max-age=" in cookie and "secure" not in cookie  # http base URL in tests

    me = await client.get("/api/v1/auth/me")
    assert me.status == 200 and (await me.json())["username"] == "admin"

    # The database keeps only hashes.
    conn = await service_db(gateway_settings, "gateway")
    try:
        row = await conn.fetchrow("SELECT password_hash FROM users WHERE username = 'admin'")
        assert row["password_hash"].startswith("$argon2id$")
        stored = await conn.fetchval("SELECT id_hash FROM sessions")
        assert stored != resp.cookies[SESSION_COOKIE].value
    finally:
        await conn.close()


async def test_first_admin_is_created_once(start_service, start_gateway, gateway_settings):
    await start_gateway()
    gateway_settings.admin_username = "other-admin"
    await start_service(SPEC, gateway_settings)  # a second copy, or a restart
    conn = await service_db(gateway_settings, "gateway")
    try:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE role = 'admin'") == 1
    finally:
        await conn.close()


async def test_wrong_password_and_unknown_user_are_401(start_gateway):
    client, _ = await start_gateway()
    for username, password in (("admin", "nope-nope"), ("ghost", "whatever1")):
        resp = await client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert resp.status == 401
        assert resp.content_type == "application/problem+json"
        assert SESSION_COOKIE not in resp.cookies
    resp = await client.post("/api/v1/auth/login", json={"username": "admin"})
    assert resp.status == 422


async def test_logout_ends_the_session(start_gateway):
    client, _ = await start_gateway()
    await login(client, *ADMIN)
    old_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE]
    resp = await client.post("/api/v1/auth/logout")
    assert resp.status == 200
    assert (await client.get("/api/v1/auth/me")).status == 401
    # The old cookie value no longer works even if replayed.
    replay = await client.get(
        "/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={old_cookie.value}"}
    )
    assert replay.status == 401


async def test_anonymous_requests_to_non_public_routes_are_401(start_gateway):
    client, _ = await start_gateway()
    for method, path in (
        ("GET", "/api/v1/auth/me"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/students"),
        ("POST", "/api/v1/invites"),
        ("GET", "/api/v1/nothing-here"),
        ("POST", "/api/v1/users/x/tokens"),
    ):
        resp = await client.request(method, path, json={})
        assert resp.status == 401, (method, path, resp.status)
        assert resp.content_type == "application/problem+json"


async def test_users_are_created_by_admins_only(start_gateway):
    client, _ = await start_gateway()
    await login(client, *ADMIN)
    staff = await create_user(client, "staff", "sam")
    assert staff["role"] == "staff" and "password" not in staff and "password_hash" not in staff
    faculty = await create_user(client, "faculty", "fay", faculty_id="F-1")
    assert faculty["faculty_id"] == "F-1"

    dup = await client.post(
        "/api/v1/users",
        json={
            "username": "SAM",
            "password": "longenough",
            "role": "staff",
            "name": "S",
            "email": "s@example.edu",
        },
    )
    assert dup.status == 409
    bad = await client.post(
        "/api/v1/users",
        json={
            "username": "f2",
            "password": "longenough",
            "role": "faculty",
            "name": "F",
            "email": "f@example.edu",
        },
    )
    assert bad.status == 422
    short = await client.post(
        "/api/v1/users",
        json={
            "username": "s2",
            "password": "short",
            "role": "staff",
            "name": "S",
            "email": "s@example.edu",
        },
    )
    assert short.status == 422 and (await short.json())["errors"][0]["field"] == "password"
    student = await client.post(
        "/api/v1/users",
        json={
            "username": "s3",
            "password": "longenough",
            "role": "student",
            "name": "S",
            "email": "s@example.edu",
        },
    )
    assert student.status == 422

    listing = await client.get("/api/v1/users?limit=2")
    page = await listing.json()
    assert listing.status == 200 and len(page["items"]) == 2 and page["next_cursor"]
    rest = await (await client.get(f"/api/v1/users?limit=2&cursor={page['next_cursor']}")).json()
    names = [u["username"] for u in page["items"] + rest["items"]]
    assert names == ["admin", "fay", "sam"]

    await client.post("/api/v1/auth/logout")
    await login(client, "sam", "sam-password")
    assert (await client.get("/api/v1/users")).status == 403
    forbidden = await client.post(
        "/api/v1/users",
        json={
            "username": "x1",
            "password": "longenough",
            "role": "admin",
            "name": "X",
            "email": "x@example.edu",
        },
    )
    assert forbidden.status == 403


async def test_api_tokens_admin_or_self(start_gateway):
    client, _ = await start_gateway()
    admin = await login(client, *ADMIN)
    staff = await create_user(client, "staff", "sam")
    headers = await bearer_for(client, staff["id"])
    await client.post("/api/v1/auth/logout")

    me = await client.get("/api/v1/auth/me", headers=headers)
    assert me.status == 200 and (await me.json())["username"] == "sam"
    # Staff may make their own tokens, not someone else's.
    own = await client.post(f"/api/v1/users/{staff['id']}/tokens", headers=headers)
    assert own.status == 201
    other = await client.post(f"/api/v1/users/{admin['id']}/tokens", headers=headers)
    assert other.status == 403
    # A bearer request needs no CSRF token even when unsafe.
    revoke = await client.delete(
        f"/api/v1/users/{staff['id']}/tokens/{(await own.json())['id']}", headers=headers
    )
    assert revoke.status == 200

    assert (
        await client.get("/api/v1/auth/me", headers={"Authorization": "Bearer nope"})
    ).status == 401
    assert (
        await client.get("/api/v1/auth/me", headers={"Authorization": "Basic eDp5"})
    ).status == 401


async def test_login_attempts_are_limited_per_username_and_address(start_gateway):
    client, runtime = await start_gateway()
    limits(runtime).login = Policy("login", 3, timedelta(minutes=15))
    for _ in range(3):
        resp = await client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": "wrong-one"}
        )
        assert resp.status == 401
    # Even the right password is refused until the window frees a place.
    resp = await client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN[1]})
    assert resp.status == 429
    assert (await resp.json())["retry_after_seconds"] > 0
    # Another username from the same address is not affected.
    resp = await client.post("/api/v1/auth/login", json={"username": "someone", "password": "x"})
    assert resp.status == 401


async def test_successful_login_resets_the_count(start_gateway):
    client, runtime = await start_gateway()
    limits(runtime).login = Policy("login", 2, timedelta(minutes=15))
    bad = {"username": "admin", "password": "wrong-one"}
    assert (await client.post("/api/v1/auth/login", json=bad)).status == 401
    await login(client, *ADMIN)
    assert (await client.post("/api/v1/auth/login", json=bad)).status == 401
    assert (await client.post("/api/v1/auth/login", json=bad)).status == 401
    assert (await client.post("/api/v1/auth/login", json=bad)).status == 429


async def test_cross_origin_and_csrf_refusals(start_gateway):
    client, _ = await start_gateway()
    me = await login(client, *ADMIN)
    body = {
        "username": "u1",
        "password": "longenough",
        "role": "staff",
        "name": "U",
        "email": "u@example.edu",
    }
    evil = await client.post("/api/v1/users", json=body, headers={"Origin": "https://evil.example"})
    assert evil.status == 403
    cross = await client.post("/api/v1/users", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403
    wrong = await client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "nope"})
    assert wrong.status == 403
    same = await client.post(
        "/api/v1/users",
        json=body,
        headers={"Origin": "http://invites.test", "X-CSRF-Token": me["csrf_token"]},
    )
    assert same.status == 201
    # A page form without the synchronizer token is refused; with it, it works.
    assert (await client.post("/logout", data={})).status == 403
    resp = await client.post(
        "/logout", data={"csrf_token": me["csrf_token"]}, allow_redirects=False
    )
    assert resp.status == 303
    # Logging in from another site is refused too.
    resp = await client.post(
        "/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN[1]},
        headers={"Origin": "https://evil.example"},
    )
    assert resp.status == 403


async def test_internal_routes_need_a_service_identity(start_gateway):
    client, _ = await start_gateway()
    assert (await client.get("/internal/clock")).status == 401
    assert (await client.get("/internal/clock", headers=headers_for("staff"))).status == 403
    resp = await client.get("/internal/clock", headers=headers_for("service", "search_service"))
    assert resp.status == 200 and "offset_seconds" in await resp.json()
    # A session is not a service identity.
    await login(client, *ADMIN)
    assert (await client.get("/internal/clock")).status == 401


async def test_users_change_their_password_and_admins_deactivate(start_gateway):
    client, _ = await start_gateway()
    admin = await login(client, *ADMIN)
    staff = await create_user(client, "staff", "sam")
    headers = await bearer_for(client, staff["id"])
    url = f"/api/v1/users/{staff['id']}"

    own = await client.patch(url, json={"password": "a-new-password"}, headers=headers)
    assert own.status == 200
    promote = await client.patch(url, json={"role": "admin"}, headers=headers)
    assert promote.status == 403
    short = await client.patch(url, json={"password": "short"}, headers=headers)
    assert short.status == 422

    await client.post("/api/v1/auth/logout")
    await login(client, "sam", "a-new-password")
    await client.post("/api/v1/auth/logout")

    await login(client, *ADMIN)
    demote_self = await client.patch(f"/api/v1/users/{admin['id']}", json={"role": "staff"})
    assert demote_self.status == 409
    off = await client.patch(url, json={"active": False})
    assert off.status == 200 and (await off.json())["active"] is False
    # A deactivated user's tokens stop working and they cannot log in.
    assert (await client.get("/api/v1/auth/me", headers=headers)).status == 401
    resp = await client.post(
        "/api/v1/auth/login", json={"username": "sam", "password": "a-new-password"}
    )
    assert resp.status == 401
