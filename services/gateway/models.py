"""Request and response bodies of the gateway's own routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Role = Literal["admin", "staff", "faculty"]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: str
    username: str
    role: Role
    name: str
    email: str
    faculty_id: str | None = None
    active: bool = True
    created_at: datetime


class MeOut(UserOut):
    # The synchronizer token of the session (pages send it as X-CSRF-Token).
    csrf_token: str | None = None
    session_expires_at: datetime | None = None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@+-]+$")
    password: str = Field(min_length=1, max_length=1024)
    role: Role
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    faculty_id: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _faculty_needs_id(self) -> UserIn:
        if self.role == "faculty" and not self.faculty_id:
            raise ValueError("faculty_id is required for a faculty user")
        return self


class UserPatch(BaseModel):
    """Only the fields given change. Role, faculty_id and active are for admins only."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    password: str | None = Field(default=None, min_length=1, max_length=1024)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Role | None = None
    faculty_id: str | None = Field(default=None, min_length=1, max_length=100)
    active: bool | None = None


class UsersQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class UserList(BaseModel):
    items: list[UserOut]
    next_cursor: str | None = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="api", min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    id: str
    name: str
    # Shown once; only its hash is stored.
    token: str
    created_at: datetime
    expires_at: datetime | None = None


class StatusOut(BaseModel):
    status: str


class ClockIn(BaseModel):
    now: AwareDatetime | None


class ClockOut(BaseModel):
    now: datetime
    offset_seconds: float
