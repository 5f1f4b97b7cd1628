"""The gateway-signed identity that every service verifies.

Header ``X-Identity: <base64url(json)>.<base64url(hmac-sha256)>``, with a
short expiry. Only the gateway holds the key to mint it for people; services
also mint one for their own internal calls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

IDENTITY_HEADER = "X-Identity"
Role = Literal["admin", "staff", "faculty", "student", "service", "anonymous"]
STAFF_ROLES: frozenset[str] = frozenset({"admin", "staff"})


class Identity(BaseModel):
    model_config = ConfigDict(frozen=True)

    sub: str  # user id, the student's token hash, or the calling service's name
    role: Role
    name: str = ""
    faculty_id: str | None = None
    exp: float = 0.0

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class InvalidIdentity(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_identity(secret: str, identity: Identity, ttl_seconds: int = 60) -> str:
    body = identity.model_copy(update={"exp": time.time() + ttl_seconds}).model_dump_json()
    payload = _b64(body.encode())
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def verify_identity(secret: str, header: str | None) -> Identity:
    if not header or "." not in header:
        raise InvalidIdentity("no signed identity")
    payload, _, signature = header.partition(".")
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
    except ValueError as exc:
        raise InvalidIdentity("malformed signature") from exc
    if not hmac.compare_digest(expected, given):
        raise InvalidIdentity("bad signature")
    try:
        identity = Identity.model_validate_json(_unb64(payload))
    except (ValidationError, ValueError) as exc:
        raise InvalidIdentity("malformed identity") from exc
    # Real time, not the test clock: the expiry protects the wire, not the domain.
    if identity.exp < time.time():
        raise InvalidIdentity("identity expired")
    return identity
