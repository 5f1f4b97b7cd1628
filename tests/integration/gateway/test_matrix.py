"""The gateway's own routes × {anonymous, faculty, staff, admin}: the documented answers.

A student has no account: with or without a link token, they are anonymous here.
"""

from __future__ import annotations

import itertools

from tests.integration.gateway.support import ADMIN, bearer_for, create_user, login

ANON, FACULTY, STAFF, ADMIN_ROLE = "anonymous", "faculty", "staff", "admin"
_names = itertools.count()


def new_user_body() -> dict[str, str]:
    n = next(_names)
    return {
        "username": f"new{n}",
        "password": "long-enough-1",
        "role": "staff",
        "name": f"New {n}",
        "email": f"new{n}@example.edu",
    }


async def test_authorisation_matrix_of_the_gateways_routes(start_gateway):
    client, _ = await start_gateway()
    await login(client, *ADMIN)
    staff = await create_user(client, "staff", "sam")
    faculty = await create_user(client, "faculty", "fay", faculty_id="F1")
    me = (await (await client.get("/api/v1/auth/me")).json())["id"]
    headers = {
        ANON: {},
        FACULTY: await bearer_for(client, faculty["id"]),
        STAFF: await bearer_for(client, staff["id"]),
        ADMIN_ROLE: await bearer_for(client, me),
    }
    await client.post("/api/v1/auth/logout")
    sid = staff["id"]
    matrix = [
        # method, path, body, {role: status}
        ("GET", "/api/v1/auth/me", None, {ANON: 401, FACULTY: 200, STAFF: 200, ADMIN_ROLE: 200}),
        (
            "POST",
            "/api/v1/users",
            new_user_body,
            {ANON: 401, FACULTY: 403, STAFF: 403, ADMIN_ROLE: 201},
        ),
        ("GET", "/api/v1/users", None, {ANON: 401, FACULTY: 403, STAFF: 403, ADMIN_ROLE: 200}),
        (
            "GET",
            f"/api/v1/users/{sid}",
            None,
            {ANON: 401, FACULTY: 403, STAFF: 200, ADMIN_ROLE: 200},
        ),
        (
            "POST",
            f"/api/v1/users/{sid}/tokens",
            None,
            {ANON: 401, FACULTY: 403, STAFF: 201, ADMIN_ROLE: 201},
        ),
        (
            "DELETE",
            f"/api/v1/users/{sid}/tokens/none",
            None,
            {ANON: 401, FACULTY: 403, STAFF: 404, ADMIN_ROLE: 404},
        ),
        (
            "POST",
            "/api/v1/test/clock",
            lambda: {"now": None},
            {ANON: 401, FACULTY: 403, STAFF: 403, ADMIN_ROLE: 200},
        ),
        (
            "GET",
            "/api/v1/openapi.json",
            None,
            {ANON: 200, FACULTY: 200, STAFF: 200, ADMIN_ROLE: 200},
        ),
        (
            "POST",
            "/api/v1/auth/logout",
            None,
            {ANON: 200, FACULTY: 200, STAFF: 200, ADMIN_ROLE: 200},
        ),
        # Forwarded routes need a login; the (stopped) service then answers 503.
        ("GET", "/api/v1/students", None, {ANON: 401, FACULTY: 503, STAFF: 503, ADMIN_ROLE: 503}),
        ("GET", "/api/v1/nowhere", None, {ANON: 401, FACULTY: 404, STAFF: 404, ADMIN_ROLE: 404}),
        # A student's link routes need no login at all.
        (
            "GET",
            f"/api/v1/invitations/{'L' * 32}",
            None,
            {ANON: 503, FACULTY: 503, STAFF: 503, ADMIN_ROLE: 503},
        ),
    ]
    wrong = []
    for method, path, body, expected in matrix:
        for role, status in expected.items():
            payload = body() if callable(body) else body
            resp = await client.request(method, path, json=payload, headers=headers[role])
            if resp.status != status:
                wrong.append((method, path, role, resp.status, status))
    assert wrong == []
