"""SQL of the gateway: users, sessions, API tokens, rate-limit attempts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.gateway.domain.ratelimit import Decision, Policy, decide


@dataclass(frozen=True)
class User:
    id: str
    username: str
    role: str
    name: str
    email: str
    faculty_id: str | None
    active: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        return cls(
            id=row["id"],
            username=row["username"],
            role=row["role"],
            name=row["name"],
            email=row["email"],
            faculty_id=row["faculty_id"],
            active=row["active"],
            created_at=row["created_at"],
        )

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "name": self.name,
            "email": self.email,
            "faculty_id": self.faculty_id,
            "active": self.active,
            "created_at": self.created_at,
        }


_USER_COLUMNS = "u.id, u.username, u.role, u.name, u.email, u.faculty_id, u.active, u.created_at"


class UsernameTaken(Exception):
    pass


# ------------------------------------------------------------------ users
async def user_with_hash(conn: asyncpg.Connection, username: str) -> tuple[User, str] | None:
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u"
        " WHERE lower(u.username) = lower($1) AND u.active",
        username,
    )
    if row is None:
        return None
    return User.from_row(row), row["password_hash"]


async def get_user(conn: asyncpg.Connection, user_id: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)
    return User.from_row(row) if row else None


async def insert_user(
    conn: asyncpg.Connection,
    *,
    username: str,
    password_hash: str,
    role: str,
    name: str,
    email: str,
    faculty_id: str | None,
) -> User:
    try:
        row = await conn.fetchrow(
            "INSERT INTO users AS u (id, username, password_hash, role, name, email, faculty_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            f" RETURNING {_USER_COLUMNS}",
            str(uuid.uuid4()),
            username,
            password_hash,
            role,
            name,
            email,
            faculty_id,
        )
    except asyncpg.UniqueViolationError as exc:
        raise UsernameTaken(username) from exc
    assert row is not None
    return User.from_row(row)


async def update_password_hash(conn: asyncpg.Connection, user_id: str, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def update_user(
    conn: asyncpg.Connection, user_id: str, changes: dict[str, Any]
) -> User | None:
    """Apply the given column changes; ending access also ends the user's sessions."""
    allowed = ("password_hash", "name", "email", "role", "faculty_id", "active")
    columns = [c for c in allowed if c in changes]
    async with conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1 FOR UPDATE", user_id
        )
        if row is None:
            return None
        if columns:
            sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
            row = await conn.fetchrow(
                f"UPDATE users AS u SET {sets} WHERE u.id = $1 RETURNING {_USER_COLUMNS}",
                user_id,
                *(changes[c] for c in columns),
            )
        if {"password_hash", "role", "active", "faculty_id"} & set(columns):
            await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
    assert row is not None
    return User.from_row(row)


async def list_users(
    conn: asyncpg.Connection, *, limit: int, after_username: str | None
) -> tuple[list[User], bool]:
    rows = await conn.fetch(
        f"SELECT {_USER_COLUMNS} FROM users u"
        " WHERE $1::text IS NULL OR lower(u.username) > $1"
        " ORDER BY lower(u.username) LIMIT $2",
        after_username.lower() if after_username else None,
        limit + 1,
    )
    return [User.from_row(r) for r in rows[:limit]], len(rows) > limit


async def ensure_first_admin(conn: asyncpg.Connection, *, username: str, password_hash: str) -> str:
    """Create the first admin unless an admin exists; safe when two copies start at once."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('first-admin', 0))")
        if await conn.fetchval("SELECT 1 FROM users WHERE role = 'admin' AND active"):
            return "exists"
        if await conn.fetchval("SELECT 1 FROM users WHERE lower(username) = lower($1)", username):
            return "username-taken"
        await insert_user(
            conn,
            username=username,
            password_hash=password_hash,
            role="admin",
            name="Administrator",
            email="",
            faculty_id=None,
        )
        return "created"


# ------------------------------------------------------------------ sessions
async def create_session(
    conn: asyncpg.Connection,
    *,
    id_hash: str,
    user_id: str,
    csrf_token: str,
    ttl: timedelta,
    ip: str | None,
    user_agent: str | None,
) -> datetime:
    expires: datetime = await conn.fetchval(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at, ip, user_agent)"
        " VALUES ($1, $2, $3, now() + $4::interval, $5, $6) RETURNING expires_at",
        id_hash,
        user_id,
        csrf_token,
        ttl,
        ip,
        (user_agent or "")[:300],
    )
    return expires


async def session_user(conn: asyncpg.Connection, id_hash: str) -> tuple[User, str, datetime] | None:
    """The live session's user, CSRF token and expiry (sessions use real time)."""
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s"
        " JOIN users u ON u.id = s.user_id"
        " WHERE s.id_hash = $1 AND s.expires_at > now() AND u.active",
        id_hash,
    )
    if row is None:
        return None
    return User.from_row(row), row["csrf_token"], row["expires_at"]


async def delete_session(conn: asyncpg.Connection, id_hash: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE id_hash = $1", id_hash)


# ------------------------------------------------------------------ API tokens
async def create_token(
    conn: asyncpg.Connection,
    *,
    user_id: str,
    token_hash: str,
    name: str,
    expires_in: timedelta | None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO api_tokens (id, user_id, token_hash, name, expires_at)"
        " VALUES ($1, $2, $3, $4, now() + $5::interval)"
        " RETURNING id, name, created_at, expires_at",
        str(uuid.uuid4()),
        user_id,
        token_hash,
        name,
        expires_in,
    )
    assert row is not None
    return row


async def token_user(conn: asyncpg.Connection, token_hash: str) -> User | None:
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS}, t.id AS token_id, t.last_used_at FROM api_tokens t"
        " JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
        " AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.active",
        token_hash,
    )
    if row is None:
        return None
    # Written at most once a minute per token, not on every request.
    await conn.execute(
        "UPDATE api_tokens SET last_used_at = now() WHERE id = $1"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        row["token_id"],
    )
    return User.from_row(row)


async def revoke_token(conn: asyncpg.Connection, user_id: str, token_id: str) -> bool:
    status = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now()"
        " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        token_id,
        user_id,
    )
    return status.endswith(" 1")


# ------------------------------------------------------------------ rate limits
async def _attempts(
    conn: asyncpg.Connection, bucket: str, policy: Policy
) -> tuple[list[datetime], datetime]:
    rows = await conn.fetch(
        "SELECT at, clock_timestamp() AS now FROM rate_events"
        " WHERE bucket = $1 AND at > clock_timestamp() - $2::interval",
        bucket,
        policy.window,
    )
    now = rows[0]["now"] if rows else await conn.fetchval("SELECT clock_timestamp()")
    return [r["at"] for r in rows], now


async def take_attempt(conn: asyncpg.Connection, bucket: str, policy: Policy) -> Decision:
    """Count one attempt if the window has room (atomic across gateway copies)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", bucket)
        attempts, now = await _attempts(conn, bucket, policy)
        decision = decide(attempts, policy, now)
        if decision.allowed:
            await conn.execute("INSERT INTO rate_events (bucket) VALUES ($1)", bucket)
        return decision


async def check(conn: asyncpg.Connection, bucket: str, policy: Policy) -> Decision:
    attempts, now = await _attempts(conn, bucket, policy)
    return decide(attempts, policy, now)


async def record_and_check(conn: asyncpg.Connection, bucket: str, policy: Policy) -> Decision:
    """Count one attempt and decide on the next, in one statement (one round trip)."""
    rows = await conn.fetch(
        """WITH added AS (INSERT INTO rate_events (bucket) VALUES ($1) RETURNING at)
           SELECT at, clock_timestamp() AS now FROM rate_events
            WHERE bucket = $1 AND at > clock_timestamp() - $2::interval
           UNION ALL
           SELECT at, clock_timestamp() FROM added""",
        bucket,
        policy.window,
    )
    # The statement's snapshot does not see its own insert: ``added`` brings it in.
    return decide([r["at"] for r in rows], policy, rows[0]["now"])


async def clear(conn: asyncpg.Connection, bucket: str) -> None:
    await conn.execute("DELETE FROM rate_events WHERE bucket = $1", bucket)


async def sweep(conn: asyncpg.Connection, keep: timedelta) -> None:
    """Forget attempts older than any window and sessions long expired."""
    await conn.execute("DELETE FROM rate_events WHERE at < now() - $1::interval", keep)
    await conn.execute("DELETE FROM sessions WHERE expires_at < now() - interval '1 day'")
