"""Errors as application/problem+json (RFC 9457)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

PROBLEM_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise anywhere in a request to answer with this status and detail."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.errors = errors
        self.extra = extra

    def to_response(self, instance: str | None = None) -> web.Response:
        return problem_response(
            self.status,
            self.detail,
            title=self.title,
            errors=self.errors,
            instance=instance,
            **self.extra,
        )


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return web.Response(
        status=status, text=json.dumps(body, default=str), content_type=PROBLEM_TYPE
    )


def validation_problem(exc: ValidationError, *, prefix: tuple[str | int, ...] = ()) -> Problem:
    errors = [
        {
            "field": ".".join(str(p) for p in (*prefix, *err["loc"])) or "body",
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return Problem(422, f"Invalid input: {fields}", errors=errors)


def field_problem(field: str, message: str, status: int = 422) -> Problem:
    return Problem(status, f"{field}: {message}", errors=[{"field": field, "message": message}])
