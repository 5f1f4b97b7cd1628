"""Calls to the services: copies taken round-robin, a refusing copy skipped, streaming both ways.

``forward`` relays a browser/API request unchanged (method, path, query, body,
content type, accepted encodings, correlation id) with a freshly signed identity and
streams the answer back as its bytes came (a gzip body stays compressed); ``call`` is
the same path for the gateway's own pages, returning parsed JSON.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from services.gateway.auth import signed_identity
from shared.auth import IDENTITY_HEADER, Identity
from shared.errors import Problem
from shared.http import CORRELATION_HEADER
from shared.logs import correlation_id_var
from shared.runtime import RUNTIME, Runtime

log = logging.getLogger(__name__)

# Connecting is quick or the copy is down; reading may take long (large reports).
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=3, sock_read=300)
CHUNK = 64 * 1024
# A GET answer of known length up to this size is read whole and sent in one write:
# far fewer reads, writes and task switches than streaming it (a week of slots, gzip,
# is ≈0.4 MB); larger or unsized answers (CSV reports) stream.
WHOLE = 1024 * 1024

# Request headers passed on; everything else (cookies, Authorization) stays here.
_REQUEST_HEADERS = ("Content-Type", "Content-Length", "Accept", "Accept-Language", "If-None-Match")
# Response headers passed back.
_RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Disposition",
    "Cache-Control",
    "ETag",
    "Last-Modified",
    "Location",
    "Retry-After",
    "Content-Language",
    "Content-Security-Policy",
    "Content-Encoding",
    "Vary",
)

SERVICE_LABELS = {
    "invite_service": "invite service",
    "search_service": "search service",
    "notify_service": "notification service",
    "report_service": "report service",
}


class Upstreams:
    """Round-robin order over the copies of each service (settings read at each call)."""

    def __init__(self) -> None:
        self._counters: dict[str, Iterator[int]] = {}

    def order(self, runtime: Runtime, service: str) -> list[str]:
        urls = runtime.settings.service_urls(service)
        if not urls:
            return []
        start = next(self._counters.setdefault(service, itertools.count())) % len(urls)
        return urls[start:] + urls[:start]


def upstreams(runtime: Runtime) -> Upstreams:
    return runtime.one(Upstreams)


def unavailable(service: str) -> Problem:
    label = SERVICE_LABELS.get(service, service)
    return Problem(
        503, f"The {label} is not available right now; try again shortly.", service=service
    )


async def _open(
    runtime: Runtime,
    service: str,
    method: str,
    path_qs: str,
    headers: dict[str, str],
    data: Any,
    *,
    auto_decompress: bool = True,
) -> aiohttp.ClientResponse:
    """The first copy that accepts the connection answers; 503 when none does."""
    assert runtime.http is not None
    for base in upstreams(runtime).order(runtime, service):
        try:
            return await runtime.http.request(
                method,
                base + path_qs,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=TIMEOUT,
                auto_decompress=auto_decompress,
            )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # Refused before anything was sent: the body stream is still unread.
            log.warning(
                "service copy unreachable",
                extra={"service": service, "url": base, "error": str(exc)},
            )
            continue
        except aiohttp.ServerDisconnectedError as exc:
            # A copy that died on a kept-alive connection: only a body-less call is repeatable.
            if data is None and method in ("GET", "HEAD", "OPTIONS"):
                continue
            raise unavailable(service) from exc
        except TimeoutError as exc:
            raise Problem(
                504, f"The {SERVICE_LABELS.get(service, service)} took too long."
            ) from exc
        except aiohttp.ClientError as exc:
            log.warning("service call failed", extra={"service": service, "error": str(exc)})
            raise unavailable(service) from exc
    raise unavailable(service)


def _outgoing_headers(
    runtime: Runtime, identity: Identity, source: Mapping[str, str]
) -> dict[str, str]:
    headers = {name: source[name] for name in _REQUEST_HEADERS if name in source}
    headers[IDENTITY_HEADER] = signed_identity(runtime, identity)
    cid = correlation_id_var.get()
    if cid:
        headers[CORRELATION_HEADER] = cid
    return headers


async def forward(
    request: web.Request, service: str, identity: Identity, *, path_qs: str | None = None
) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    headers = _outgoing_headers(runtime, identity, request.headers)
    # The client's own encodings (the service may answer gzip, passed through as it
    # is); without any, identity, or the client session would ask for gzip itself.
    headers["Accept-Encoding"] = request.headers.get("Accept-Encoding") or "identity"
    data = request.content if request.body_exists else None
    upstream = await _open(
        runtime,
        service,
        request.method,
        path_qs or request.raw_path,
        headers,
        data,
        auto_decompress=False,
    )
    async with upstream:
        headers = {
            name: upstream.headers[name] for name in _RESPONSE_HEADERS if name in upstream.headers
        }
        cid = correlation_id_var.get()
        if cid:
            headers[CORRELATION_HEADER] = cid
        headers["X-Content-Type-Options"] = "nosniff"
        length = upstream.content_length
        if (
            request.method == "GET"
            and length is not None
            and length <= WHOLE
            and "Content-Type" in headers
        ):
            try:
                body = await upstream.read()
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                log.warning(
                    "upstream answer cut short", extra={"service": service, "error": str(exc)}
                )
                raise unavailable(service) from exc
            except TimeoutError as exc:
                raise Problem(
                    504, f"The {SERVICE_LABELS.get(service, service)} took too long."
                ) from exc
            return web.Response(
                status=upstream.status, reason=upstream.reason, body=body, headers=headers
            )
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        # The bytes pass as they came (not decompressed), so their length holds.
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            log.info("client went away during a streamed answer", extra={"service": service})
        except (aiohttp.ClientPayloadError, TimeoutError) as exc:
            log.warning("upstream answer cut short", extra={"service": service, "error": str(exc)})
        return response


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        if isinstance(self.data, dict):
            return str(self.data.get("detail") or self.data.get("title") or self.status)
        return str(self.status)

    @property
    def errors(self) -> list[dict[str, Any]]:
        if isinstance(self.data, dict) and isinstance(self.data.get("errors"), list):
            return list(self.data["errors"])
        return []


async def call(
    runtime: Runtime,
    service: str,
    identity: Identity,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
) -> Answer:
    """One JSON call to a service on behalf of ``identity`` (503 Problem when it is down)."""
    headers = _outgoing_headers(runtime, identity, {"Accept": "application/json"})
    data = None
    if json_body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(json_body)
    path_qs = path
    if params:
        clean = [(k, str(v)) for k, v in _flatten(params) if v is not None and v != ""]
        if clean:
            from urllib.parse import urlencode

            path_qs = f"{path}?{urlencode(clean)}"
    upstream = await _open(runtime, service, method, path_qs, headers, data)
    async with upstream:
        body = await upstream.read()
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body.decode(errors="replace")
        return Answer(upstream.status, parsed, dict(upstream.headers))


def _flatten(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in params.items():
        if isinstance(value, list | tuple):
            out.extend((key, v) for v in value)
        else:
            out.append((key, value))
    return out
