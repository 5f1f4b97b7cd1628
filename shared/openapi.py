"""Routes declared with their pydantic models, so the OpenAPI description comes from the
same models that validate requests.

A service adds routes with ``add_api_route``; its app serves its fragment at
``/openapi.json``, and the gateway merges the fragments into
``/api/v1/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

API_ROUTES = web.AppKey("api_routes", list)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    summary: str
    roles: tuple[str, ...]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    content_types: tuple[str, ...] = field(default=("application/json",))


def add_api_route(
    app: web.Application,
    method: str,
    path: str,
    handler: Handler,
    *,
    summary: str,
    roles: tuple[str, ...],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
) -> None:
    app.router.add_route(method, path, handler)
    if API_ROUTES not in app:
        app[API_ROUTES] = []
        app.router.add_get("/openapi.json", _serve_fragment)
    app[API_ROUTES].append(
        ApiRoute(method.upper(), path, summary, roles, body, query, response, status)
    )


async def _serve_fragment(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[API_ROUTES], "fragment"))


def openapi_document(routes: list[ApiRoute], title: str, version: str = "1") -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for r in routes:
        for m in (r.body, r.response):
            if m is not None:
                models.add(m)
    keyed: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (m, "validation") for m in sorted(models, key=lambda m: m.__name__)
    ]
    refs, schemas = (
        models_json_schema(keyed, ref_template="#/components/schemas/{model}")
        if keyed
        else ({}, {})
    )
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "x-roles": list(r.roles),
            "responses": {
                str(r.status): {"description": "OK"},
                "401": {"description": "Not authenticated"},
                "403": {"description": "Not allowed for this role"},
                "422": {
                    "description": "Invalid input",
                    "content": {"application/problem+json": {"schema": {"type": "object"}}},
                },
            },
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(r.path)
        ]
        if r.query is not None:
            qschema = r.query.model_json_schema()
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                params.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(r.body, "validation")]}},
            }
        if r.response is not None:
            op["responses"][str(r.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": refs[(r.response, "validation")]}},
            }
        paths.setdefault(_openapi_path(r.path), {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {})},
    }


def _path_params(path: str) -> list[str]:
    import re

    return [m.split(":")[0] for m in re.findall(r"{([^}]+)}", path)]


def _openapi_path(path: str) -> str:
    import re

    return re.sub(r"{([^}:]+)(:[^}]*)?}", r"{\1}", path)
