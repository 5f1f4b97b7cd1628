"""HTTP helpers every service's app factory uses: middlewares, parsing, health, metrics."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from shared import metrics
from shared.auth import IDENTITY_HEADER, Identity, InvalidIdentity, verify_identity
from shared.errors import Problem, problem_response, validation_problem
from shared.logs import correlation_id_var

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
CORRELATION_HEADER = "X-Correlation-Id"
IDENTITY_KEY: web.RequestKey[Identity] = web.RequestKey("identity", Identity)
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MAX_BODY_BYTES = 10 * 1024 * 1024

ReadinessCheck = Callable[[], Awaitable[None]]
READINESS_CHECKS = web.AppKey("readiness_checks", list)
SERVICE_NAME = web.AppKey("service_name", str)
IDENTITY_SECRET = web.AppKey("identity_secret", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def correlation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    cid = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
    token = correlation_id_var.set(cid[:100])
    started = time.perf_counter()
    service = request.app[SERVICE_NAME]
    route = (
        request.match_info.route.resource.canonical
        if request.match_info.route.resource
        else "unmatched"
    )
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[CORRELATION_HEADER] = cid
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        metrics.HTTP_REQUESTS.labels(service, request.method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(service, route).observe(elapsed)
        if request.path not in OPEN_PATHS:
            log.info(
                "http request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "ms": round(elapsed * 1000, 1),
                },
            )
        correlation_id_var.reset(token)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as exc:
        return exc.to_response()
    except ValidationError as exc:
        return validation_problem(exc).to_response()
    except web.HTTPRequestEntityTooLarge:
        return problem_response(413, "The request body is too large.")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(exc.status, exc.reason or "Error")
    except Exception as exc:
        if is_unavailable(exc):
            # The database is down or out of connections: the caller may retry.
            log.warning("database unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
            response = problem_response(503, "The service is briefly unavailable; try again.")
            response.headers["Retry-After"] = "1"
            return response
        log.exception("unhandled error")
        return problem_response(500, "Something went wrong on our side; it has been logged.")


def is_unavailable(exc: BaseException) -> bool:
    """The database is down or out of connections, rather than the request wrong."""
    return isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError
        | asyncpg.TooManyConnectionsError
        | TimeoutError,
    )


@web.middleware
async def identity_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in OPEN_PATHS:
        return await handler(request)
    try:
        identity = verify_identity(
            request.app[IDENTITY_SECRET], request.headers.get(IDENTITY_HEADER)
        )
    except InvalidIdentity as exc:
        raise Problem(401, f"Authentication required ({exc}).") from exc
    request[IDENTITY_KEY] = identity
    return await handler(request)


def create_base_app(
    service: str, identity_secret: str, *, verify_identity_header: bool = True
) -> web.Application:
    middlewares = [correlation_middleware, problem_middleware]
    if verify_identity_header:
        middlewares.append(identity_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[SERVICE_NAME] = service
    app[IDENTITY_SECRET] = identity_secret
    app[READINESS_CHECKS] = []
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE_NAME]})


async def _readyz(request: web.Request) -> web.Response:
    failures = {}
    for check in request.app[READINESS_CHECKS]:
        try:
            await check()
        except Exception as exc:
            failures[getattr(check, "__name__", "check")] = str(exc) or type(exc).__name__
    if failures:
        return web.json_response({"status": "unavailable", "failures": failures}, status=503)
    return web.json_response({"status": "ready", "service": request.app[SERVICE_NAME]})


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


# ------------------------------------------------------------------ request helpers
def identity(request: web.Request) -> Identity:
    ident: Identity | None = request.get(IDENTITY_KEY)
    if ident is None:
        raise Problem(401, "Authentication required.")
    return ident


def require_role(request: web.Request, *roles: str) -> Identity:
    ident = identity(request)
    if ident.role not in roles:
        raise Problem(403, "Your role may not do this.")
    return ident


async def read_json(request: web.Request) -> Any:
    if not request.can_read_body:
        raise Problem(
            422, "A JSON body is required.", errors=[{"field": "body", "message": "missing"}]
        )
    try:
        return await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Problem(
            422,
            "The body is not valid JSON.",
            errors=[{"field": "body", "message": str(exc)}],
        ) from exc


async def parse_body(request: web.Request, model: type[M]) -> M:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc) from exc
    except (TypeError, AttributeError) as exc:
        # A custom validator met input of a shape it did not expect: still the
        # caller's input, so a 422, never a 500.
        raise Problem(
            422,
            "Invalid input: the body has values of the wrong type.",
            errors=[{"field": "body", "message": str(exc)[:300]}],
        ) from exc


def parse_query(request: web.Request, model: type[M], *, list_fields: Iterable[str] = ()) -> M:
    data: dict[str, Any] = {}
    listed = set(list_fields)
    for key in request.query:
        values = request.query.getall(key)
        data[key] = values if key in listed else values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc) from exc


def json_response(data: Any, status: int = 200) -> web.Response:
    if isinstance(data, BaseModel):
        text = data.model_dump_json()
    else:
        text = json.dumps(data, default=_default)
    return web.Response(status=status, text=text, content_type="application/json")


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
