"""Helpers of the gateway's integration tests: a stand-in upstream service and logins.

An upstream is only an HTTP server to the gateway, so a tiny aiohttp app stands in
for a service where a test is about the gateway's own behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared.auth import IDENTITY_HEADER, InvalidIdentity, verify_identity
from tests.support.infra import SECRET

DEAD = "http://127.0.0.1:1"  # nothing listens there: connections are refused
ADMIN = ("admin", "admin-password-1")

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes
    identity: dict[str, Any] | None


@dataclass
class FakeUpstream:
    name: str
    seen: list[Seen] = field(default_factory=list)
    routes: dict[tuple[str, str], Responder] = field(default_factory=dict)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def on(self, method: str, path: str, responder: Responder) -> None:
        self.routes[(method, path)] = responder

    def reply(self, method: str, path: str, data: Any, status: int = 200) -> None:
        async def respond(_: web.Request) -> web.StreamResponse:
            return web.json_response(data, status=status)

        self.on(method, path, respond)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            ident = verify_identity(SECRET, request.headers.get(IDENTITY_HEADER)).model_dump()
        except InvalidIdentity:
            ident = None
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body, ident))
        responder = self.routes.get((request.method, request.path))
        if responder is not None:
            return await responder(request)
        if ident is None:
            return web.json_response({"detail": "no identity"}, status=401)
        return web.json_response(
            {
                "upstream": self.name,
                "method": request.method,
                "path_qs": request.path_qs,
                "identity": ident,
                "body": body.decode(errors="replace"),
                "content_type": request.headers.get("Content-Type"),
                "correlation_id": request.headers.get("X-Correlation-Id"),
            }
        )


async def start_upstream(name: str, servers: list[TestServer]) -> FakeUpstream:
    fake = FakeUpstream(name)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    fake.server = TestServer(app)
    await fake.server.start_server()
    servers.append(fake.server)
    return fake


async def login(client: TestClient[Any, Any], username: str, password: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def create_user(
    client: TestClient[Any, Any], role: str, username: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "username": username,
        "password": f"{username}-password",
        "role": role,
        "name": username.title(),
        "email": f"{username}@example.edu",
        **extra,
    }
    resp = await client.post("/api/v1/users", json=body)
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def bearer_for(client: TestClient[Any, Any], user_id: str) -> dict[str, str]:
    resp = await client.post(f"/api/v1/users/{user_id}/tokens", json={"name": "test"})
    assert resp.status == 201, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


def problem(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data
