"""Who is asking: sessions, API tokens, the CSRF and /internal guards, the login itself.

The principal is resolved lazily (once per request, only where a route needs it),
so static files, health checks and students' link pages cost no session lookup.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from aiohttp import web

from services.gateway import repository as repo
from services.gateway.domain import csrf
from services.gateway.domain.client_address import client_address
from services.gateway.domain.passwords import Passwords
from services.gateway.domain.ratelimit import Limits
from services.gateway.domain.routing import STUDENT_PREFIX
from shared.auth import IDENTITY_HEADER, Identity, InvalidIdentity, sign_identity, verify_identity
from shared.errors import Problem
from shared.http import IDENTITY_KEY, Handler
from shared.runtime import RUNTIME, Runtime
from shared.tokens import hash_token, new_token

log = logging.getLogger(__name__)

SESSION_COOKIE = "aiv_session"
SESSION_TTL = timedelta(hours=12)
TOKEN_PREFIX = "aiv_"
STUDENT_IDENTITY = Identity(sub="link", role="student", name="student")


@dataclass(frozen=True)
class Principal:
    user: repo.User
    via: Literal["session", "token"]
    session_hash: str | None = None
    csrf_token: str | None = None
    session_expires_at: datetime | None = None

    def identity(self) -> Identity:
        u = self.user
        return Identity(
            sub=u.id,
            role=u.role,
            name=u.name,
            faculty_id=u.faculty_id,
        )


@dataclass(frozen=True)
class _Resolved:
    principal: Principal | None


_RESOLVED = web.RequestKey("gateway_principal", _Resolved)


def passwords(runtime: Runtime) -> Passwords:
    return runtime.one(Passwords)


def limits(runtime: Runtime) -> Limits:
    return runtime.one(Limits)


def client_ip(request: web.Request) -> str:
    """The client's address: the peer, or what trusted proxies say (TRUSTED_PROXIES)."""
    return client_address(
        request.remote,
        request.headers.get("X-Forwarded-For"),
        request.app[RUNTIME].settings.trusted_proxy_networks,
    )


def signed_identity(runtime: Runtime, identity: Identity) -> str:
    s = runtime.settings
    return sign_identity(s.internal_auth_secret, identity, s.identity_ttl_seconds)


# ------------------------------------------------------------------ principal
async def current_principal(request: web.Request) -> Principal | None:
    resolved = request.get(_RESOLVED)
    if resolved is None:
        resolved = _Resolved(await _resolve(request))
        request[_RESOLVED] = resolved
    return resolved.principal


async def _resolve(request: web.Request) -> Principal | None:
    runtime = request.app[RUNTIME]
    authorization = request.headers.get("Authorization", "")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Problem(401, "Unsupported Authorization header; use 'Bearer <api token>'.")
        async with runtime.db.acquire() as conn:
            user = await repo.token_user(conn, hash_token(value.strip()))
        if user is None:
            raise Problem(401, "The API token is unknown, revoked or expired.")
        return Principal(user=user, via="token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    id_hash = hash_token(cookie)
    async with runtime.db.acquire() as conn:
        found = await repo.session_user(conn, id_hash)
    if found is None:
        return None
    user, csrf_token, expires = found
    return Principal(user, "session", id_hash, csrf_token, expires)


async def require_principal(request: web.Request, *roles: str) -> Principal:
    principal = await current_principal(request)
    if principal is None:
        raise Problem(401, "Log in first (a session cookie or a Bearer API token is required).")
    if roles and principal.user.role not in roles:
        raise Problem(403, "Your role may not do this.")
    return principal


# ------------------------------------------------------------------ login / sessions
async def authenticate(request: web.Request, username: str, password: str) -> repo.User:
    """Check a password under the per (username, address) limit; 401 or 429 on failure."""
    runtime = request.app[RUNTIME]
    policy = limits(runtime).login
    bucket = policy.bucket(username.strip().lower(), client_ip(request))
    async with runtime.db.acquire() as conn:
        decision = await repo.take_attempt(conn, bucket, policy)
        if not decision.allowed:
            log.warning("login rate limited", extra={"ip": client_ip(request)})
            raise Problem(
                429,
                "Too many login attempts; try again later.",
                retry_after_seconds=decision.retry_after_seconds,
            )
        found = await repo.user_with_hash(conn, username.strip())
    hasher = passwords(runtime)
    stored = found[1] if found else None
    ok = await asyncio.to_thread(hasher.verify, stored, password)
    if not ok or found is None:
        log.info("login failed", extra={"ip": client_ip(request)})
        raise Problem(401, "Wrong username or password.")
    user, stored_hash = found
    async with runtime.db.acquire() as conn:
        await repo.clear(conn, bucket)
        if hasher.needs_rehash(stored_hash):
            new_hash = await asyncio.to_thread(hasher.hash, password)
            await repo.update_password_hash(conn, user.id, new_hash)
    return user


async def start_session(request: web.Request, user: repo.User) -> tuple[str, Principal]:
    """Create a session row; returns the cookie value and the new principal."""
    runtime = request.app[RUNTIME]
    value = new_token() + new_token()  # 384 bits
    csrf_token = csrf.new_csrf_token()
    id_hash = hash_token(value)
    async with runtime.db.acquire() as conn:
        expires = await repo.create_session(
            conn,
            id_hash=id_hash,
            user_id=user.id,
            csrf_token=csrf_token,
            ttl=SESSION_TTL,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent"),
        )
    principal = Principal(user, "session", id_hash, csrf_token, expires)
    request[_RESOLVED] = _Resolved(principal)
    return value, principal


def set_session_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    secure = request.app[RUNTIME].settings.public_base_url.lower().startswith("https:")
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure,
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


async def end_session(request: web.Request) -> None:
    principal = await current_principal(request)
    if principal is not None and principal.session_hash:
        async with request.app[RUNTIME].db.acquire() as conn:
            await repo.delete_session(conn, principal.session_hash)
    request[_RESOLVED] = _Resolved(None)


# ------------------------------------------------------------------ middleware
_CSRF_EXEMPT = ("/login", "/api/v1/auth/login")


def _allowed_origins(request: web.Request) -> set[str]:
    settings = request.app[RUNTIME].settings
    return {csrf.origin_of(settings.public_base_url), csrf.origin_of(str(request.url))}


async def _enforce_csrf(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    refusal = csrf.cross_origin_refusal(
        origin=origin,
        sec_fetch_site=request.headers.get("Sec-Fetch-Site"),
        # Parsing URLs costs; only a request that names an origin needs the allowed ones.
        allowed_origins=_allowed_origins(request) if origin else set(),
    )
    if refusal:
        raise Problem(403, f"Forbidden: {refusal}.")
    path = request.path
    if path in _CSRF_EXEMPT or path.startswith(STUDENT_PREFIX) or path.startswith("/invitations/"):
        return  # no session involved: the link's token is the credential
    if request.headers.get("Authorization") or SESSION_COOKIE not in request.cookies:
        return  # no ambient credential to abuse
    principal = await current_principal(request)
    if principal is None or principal.via != "session":
        return
    given = request.headers.get(csrf.CSRF_HEADER)
    is_api = path.startswith("/api/")
    if (
        given is None
        and not is_api
        and request.content_type
        in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        )
    ):
        form = await request.post()
        value = form.get(csrf.CSRF_FIELD)
        given = value if isinstance(value, str) else None
    refusal = csrf.token_refusal(expected=principal.csrf_token, given=given, required=not is_api)
    if refusal:
        raise Problem(403, f"Forbidden: {refusal}; reload the page and try again.")


def _guard_internal(request: web.Request) -> None:
    """/internal/* on the gateway answers services and admins only (signed identity)."""
    secret = request.app[RUNTIME].settings.internal_auth_secret
    try:
        ident = verify_identity(secret, request.headers.get(IDENTITY_HEADER))
    except InvalidIdentity as exc:
        raise Problem(401, f"Authentication required ({exc}).") from exc
    if ident.role not in ("service", "admin"):
        raise Problem(403, "Only services may call internal routes.")
    request[IDENTITY_KEY] = ident


PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.content_type == "text/html" and not request.path.startswith("/dev/mail"):
        headers.setdefault("Content-Security-Policy", PAGE_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/internal/") or request.path == "/openapi.json":
        _guard_internal(request)
        return await handler(request)
    if request.method in csrf.UNSAFE_METHODS:
        await _enforce_csrf(request)
    response = await handler(request)
    _security_headers(request, response)
    return response
