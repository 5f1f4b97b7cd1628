"""Request and response bodies of the report API (they also describe it in OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.report_service.domain.presets import Preset

GroupByName = Literal["type", "reason", "section", "consultant"]


class ReportParams(BaseModel):
    """The report's parameters: the query string of GET, the body of a delivery."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date | None = Field(
        default=None,
        alias="from",
        description="First day (YYYY-MM-DD, center timezone), with `to`; inclusive.",
    )
    to: date | None = Field(default=None, description="Last day, inclusive.")
    preset: Preset | None = Field(
        default=None,
        description="Instead of from/to. Weeks start on Monday. Without from/to/preset: this_week.",
    )
    center_id: str | None = Field(
        default=None,
        max_length=200,
        description="Only this center's appointments; its timezone decides 'today' "
        "(default: the first center's, else UTC).",
    )
    type: str | None = Field(default=None, max_length=200, description="Invite type (any case).")
    subject: str | None = Field(default=None, max_length=200)
    course: str | None = Field(default=None, max_length=200)
    section_id: str | None = Field(default=None, max_length=200)
    reason_id: str | None = Field(default=None, max_length=200)
    fields: str | list[str] | None = Field(
        default=None, description="Extra columns, comma separated (e.g. student_email,due_date)."
    )
    format: Literal["html", "csv"] = "html"
    totals: bool = False
    group_by: GroupByName | None = None
    include_cancelled: bool = Field(
        default=False, description="Also list cancelled appointments (see the status field)."
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        # An HTML form sends empty inputs as "": they mean "not filtered".
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and v.strip() == "")}
        return data


class DeliveryRequest(ReportParams):
    recipients: str | list[str] = Field(
        description="Addresses separated by ';' (at most 50), or a list of addresses."
    )
    format: Literal["html", "csv"] = "csv"


class DeliveryAccepted(BaseModel):
    id: str
    status: Literal["requested"] = "requested"


class DeliveryStatus(BaseModel):
    id: str
    status: Literal["requested", "sent", "failed"]
    recipients: list[str]
    error: str | None = None
    requested_at: datetime
    requested_by: str
    filename: str
    format: str
    row_count: int
    messages_sent: int
    messages_failed: int
