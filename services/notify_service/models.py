"""Request and response bodies of the mail viewer's JSON API (a stable contract: other
test suites read captured email through it)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class MailQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(default=None, max_length=320, description="envelope recipient")
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: int | None = Field(default=None, ge=1, description="next_cursor of the previous page")


class AttachmentOut(BaseModel):
    filename: str
    content_type: str
    size: int


class MailOut(BaseModel):
    id: int
    received_at: datetime
    mail_from: str
    to: list[str]
    subject: str
    date: str
    message_id: str
    header_from: str
    header_to: str
    text: str
    html: str
    attachments: list[AttachmentOut]


class MailDetailOut(MailOut):
    raw: str


class MailList(BaseModel):
    items: list[MailOut]
    next_cursor: int | None = None
