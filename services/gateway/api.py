"""The gateway's own JSON routes: login, logout, me, users and their API tokens."""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import timedelta

from aiohttp import web

from services.gateway import repository as repo
from services.gateway.auth import (
    SESSION_COOKIE,
    TOKEN_PREFIX,
    Principal,
    authenticate,
    clear_session_cookie,
    end_session,
    passwords,
    require_principal,
    set_session_cookie,
    start_session,
)
from services.gateway.domain.passwords import password_problem
from services.gateway.models import (
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
from shared.errors import Problem, field_problem
from shared.http import json_response, parse_body, parse_query
from shared.runtime import RUNTIME
from shared.tokens import hash_token, new_token


def me_out(principal: Principal) -> MeOut:
    return MeOut(
        **principal.user.public(),
        csrf_token=principal.csrf_token,
        session_expires_at=principal.session_expires_at,
    )


async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginIn)
    user = await authenticate(request, body.username, body.password)
    if SESSION_COOKIE in request.cookies:
        await end_session(request)  # a fresh session id on every login (no fixation)
    value, principal = await start_session(request, user)
    response = json_response(me_out(principal))
    set_session_cookie(request, response, value)
    return response


async def logout(request: web.Request) -> web.Response:
    # Idempotent: logging out without a session is not an error.
    await end_session(request)
    response = json_response(StatusOut(status="logged_out"))
    clear_session_cookie(response)
    return response


async def me(request: web.Request) -> web.Response:
    return json_response(me_out(await require_principal(request)))


async def create_user(request: web.Request) -> web.Response:
    await require_principal(request, "admin")
    body = await parse_body(request, UserIn)
    problem = password_problem(body.password, body.username)
    if problem:
        raise field_problem("password", problem)
    runtime = request.app[RUNTIME]
    password_hash = await asyncio.to_thread(passwords(runtime).hash, body.password)
    async with runtime.db.acquire() as conn:
        try:
            user = await repo.insert_user(
                conn,
                username=body.username,
                password_hash=password_hash,
                role=body.role,
                name=body.name,
                email=body.email,
                faculty_id=body.faculty_id,
            )
        except repo.UsernameTaken as exc:
            raise field_problem("username", "is already taken", status=409) from exc
    return json_response(UserOut(**user.public()), status=201)


def _cursor_out(username: str) -> str:
    return base64.urlsafe_b64encode(username.encode()).decode().rstrip("=")


def _cursor_in(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise field_problem("cursor", "is not a cursor this listing gave out") from exc


async def list_users(request: web.Request) -> web.Response:
    await require_principal(request, "admin")
    query = parse_query(request, UsersQuery)
    async with request.app[RUNTIME].db.acquire() as conn:
        users, more = await repo.list_users(
            conn, limit=query.limit, after_username=_cursor_in(query.cursor)
        )
    return json_response(
        UserList(
            items=[UserOut(**u.public()) for u in users],
            next_cursor=_cursor_out(users[-1].username) if more and users else None,
        )
    )


async def _admin_or_self(request: web.Request) -> repo.User:
    principal = await require_principal(request)
    user_id = request.match_info["user_id"]
    if principal.user.role != "admin" and principal.user.id != user_id:
        raise Problem(403, "Only an admin or the user themself may do this.")
    async with request.app[RUNTIME].db.acquire() as conn:
        user = await repo.get_user(conn, user_id)
    if user is None:
        raise Problem(404, "No such user.")
    return user


async def get_user(request: web.Request) -> web.Response:
    user = await _admin_or_self(request)
    return json_response(UserOut(**user.public()))


async def patch_user(request: web.Request) -> web.Response:
    principal = await require_principal(request)
    user = await _admin_or_self(request)
    body = await parse_body(request, UserPatch)
    given = body.model_dump(exclude_unset=True)
    # Only faculty_id may be cleared; every other field needs a value when given.
    cleared = sorted(k for k, v in given.items() if v is None and k != "faculty_id")
    if cleared:
        raise field_problem(cleared[0], "may not be null")
    is_admin = principal.user.role == "admin"
    admin_only = sorted({"role", "faculty_id", "active"} & set(given))
    if admin_only and not is_admin:
        raise Problem(403, f"Only an admin may change {', '.join(admin_only)}.")
    if (
        is_admin
        and principal.user.id == user.id
        and (given.get("active") is False or given.get("role", "admin") != "admin")
    ):
        raise Problem(409, "An admin may not demote or deactivate themself.")
    changes = {k: v for k, v in given.items() if k != "password"}
    if body.password is not None:
        problem = password_problem(body.password, user.username)
        if problem:
            raise field_problem("password", problem)
        hasher = passwords(request.app[RUNTIME])
        changes["password_hash"] = await asyncio.to_thread(hasher.hash, body.password)
    role = changes.get("role", user.role)
    faculty_id = changes.get("faculty_id", user.faculty_id)
    if role == "faculty" and not faculty_id:
        raise field_problem("faculty_id", "is required for a faculty user")
    async with request.app[RUNTIME].db.acquire() as conn:
        updated = await repo.update_user(conn, user.id, changes)
    if updated is None:
        raise Problem(404, "No such user.")
    return json_response(UserOut(**updated.public()))


async def create_token(request: web.Request) -> web.Response:
    user = await _admin_or_self(request)
    body = await parse_body(request, TokenIn) if request.body_exists else TokenIn()
    token = TOKEN_PREFIX + new_token()
    expires_in = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    async with request.app[RUNTIME].db.acquire() as conn:
        row = await repo.create_token(
            conn,
            user_id=user.id,
            token_hash=hash_token(token),
            name=body.name,
            expires_in=expires_in,
        )
    out = TokenOut(
        id=row["id"],
        name=row["name"],
        token=token,
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )
    return json_response(out, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    user = await _admin_or_self(request)
    async with request.app[RUNTIME].db.acquire() as conn:
        found = await repo.revoke_token(conn, user.id, request.match_info["token_id"])
    if not found:
        raise Problem(404, "No such active token for this user.")
    return json_response(StatusOut(status="revoked"))
