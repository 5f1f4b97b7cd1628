"""App factory of the gateway: the only public entry (accounts, sessions, proxy, pages)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from services.gateway import api, ops, pages, proxy
from services.gateway import repository as repo
from services.gateway.auth import gateway_middleware, passwords
from services.gateway.models import (
    ClockIn,
    ClockOut,
    LoginIn,
    MeOut,
    StatusOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserList,
    UserOut,
    UserPatch,
    UsersQuery,
)
from services.gateway.views import JINJA, STATIC_DIR, make_environment
from shared.openapi import add_api_route
from shared.runtime import Runtime, ServiceSpec

log = logging.getLogger(__name__)

SERVICE = "gateway"
PEOPLE = ("admin", "staff", "faculty")
PUBLIC = ("anonymous",)
WEAK_ADMIN_PASSWORDS = frozenset({"", "admin", "password", "changeme"})


def setup_routes(app: web.Application) -> None:
    # Inside the shared problem middleware, so refusals become problem+json.
    app.middlewares.append(gateway_middleware)
    app[JINJA] = make_environment()

    add_api_route(
        app,
        "POST",
        "/api/v1/auth/login",
        api.login,
        summary="Log in (sets the session cookie)",
        roles=PUBLIC,
        body=LoginIn,
        response=MeOut,
    )
    add_api_route(
        app,
        "POST",
        "/api/v1/auth/logout",
        api.logout,
        summary="Log out",
        roles=PUBLIC,
        response=StatusOut,
    )
    add_api_route(
        app,
        "GET",
        "/api/v1/auth/me",
        api.me,
        summary="The logged-in user",
        roles=PEOPLE,
        response=MeOut,
    )
    add_api_route(
        app,
        "POST",
        "/api/v1/users",
        api.create_user,
        summary="Create a user",
        roles=("admin",),
        body=UserIn,
        response=UserOut,
        status=201,
    )
    add_api_route(
        app,
        "GET",
        "/api/v1/users",
        api.list_users,
        summary="List users",
        roles=("admin",),
        query=UsersQuery,
        response=UserList,
    )
    add_api_route(
        app,
        "GET",
        "/api/v1/users/{user_id}",
        api.get_user,
        summary="A user (admin or self)",
        roles=PEOPLE,
        response=UserOut,
    )
    add_api_route(
        app,
        "PATCH",
        "/api/v1/users/{user_id}",
        api.patch_user,
        summary="Change a user (self: password, name, email; admin: also role, faculty_id, active)",
        roles=PEOPLE,
        body=UserPatch,
        response=UserOut,
    )
    add_api_route(
        app,
        "POST",
        "/api/v1/users/{user_id}/tokens",
        api.create_token,
        summary="Create an API token (admin or self); shown once",
        roles=PEOPLE,
        body=TokenIn,
        response=TokenOut,
        status=201,
    )
    add_api_route(
        app,
        "DELETE",
        "/api/v1/users/{user_id}/tokens/{token_id}",
        api.revoke_token,
        summary="Revoke an API token (admin or self)",
        roles=PEOPLE,
        response=StatusOut,
    )
    add_api_route(
        app,
        "POST",
        "/api/v1/test/clock",
        ops.set_test_clock,
        summary="Test mode only: set every service's clock ({now: null} = real time)",
        roles=("admin",),
        body=ClockIn,
        response=ClockOut,
    )
    add_api_route(
        app,
        "GET",
        "/api/v1/openapi.json",
        ops.openapi,
        summary="This OpenAPI description",
        roles=PUBLIC,
    )
    # Everything else under /api/v1 belongs to a service (registered last: it matches all).
    app.router.add_route("*", "/api/v1/{tail:.*}", proxy.proxy)
    app.router.add_get("/i/{token}", proxy.open_link)
    app.router.add_static("/static", STATIC_DIR)
    pages.setup(app)


@contextlib.asynccontextmanager
async def first_admin(runtime: Runtime) -> AsyncIterator[None]:
    """The first admin comes from ADMIN_USERNAME / ADMIN_PASSWORD when no admin exists."""
    settings = runtime.settings
    # The hasher makes a dummy hash when built (argon2 is slow): not on the event loop.
    await asyncio.to_thread(passwords, runtime)
    async with runtime.db.acquire() as conn:
        has_admin = await conn.fetchval("SELECT 1 FROM users WHERE role = 'admin' AND active")
    if not has_admin:
        if settings.app_env == "prod" and settings.admin_password in WEAK_ADMIN_PASSWORDS:
            log.error(
                "no admin created: set ADMIN_PASSWORD to a strong password for production",
                extra={"username": settings.admin_username},
            )
        else:
            password_hash = await asyncio.to_thread(
                passwords(runtime).hash, settings.admin_password
            )
            async with runtime.db.acquire() as conn:
                outcome = await repo.ensure_first_admin(
                    conn, username=settings.admin_username, password_hash=password_hash
                )
            log.info("first admin", extra={"outcome": outcome, "username": settings.admin_username})
    yield


@contextlib.asynccontextmanager
async def sweeper(runtime: Runtime) -> AsyncIterator[None]:
    """Forget old rate-limit attempts and long-expired sessions now and then."""

    async def loop() -> None:
        while True:
            try:
                async with runtime.db.acquire() as conn:
                    await repo.sweep(conn, keep=timedelta(days=1))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sweep failed", extra={"error": str(exc)})
            await asyncio.sleep(300)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


SPEC = ServiceSpec(
    name=SERVICE,
    migrations_dir=Path(__file__).parent / "migrations",
    setup_routes=setup_routes,
    handlers=None,
    background=[first_admin, sweeper],
    verify_identity=False,
)
