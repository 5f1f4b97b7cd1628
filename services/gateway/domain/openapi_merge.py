"""Merge the services' OpenAPI fragments with the gateway's own into one 3.1 document.

Schema names can collide between services (two ``ItemList`` models, say). The
first one keeps its name; a different schema under a taken name is renamed
``<service>__<Name>`` and every ``$ref`` of its fragment is rewritten to match.
"""

from __future__ import annotations

import copy
from typing import Any

REF_PREFIX = "#/components/schemas/"

SECURITY_SCHEMES: dict[str, Any] = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "aiv_session",
        "description": "Set by POST /api/v1/auth/login.",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from POST /api/v1/users/{id}/tokens.",
    },
}


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                name = value[len(REF_PREFIX) :]
                out[key] = REF_PREFIX + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def merge_documents(
    own: dict[str, Any],
    fragments: dict[str, dict[str, Any]],
    *,
    title: str,
    version: str,
    server_url: str,
    unavailable: list[str] | None = None,
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}

    def add(source: str, document: dict[str, Any]) -> None:
        doc_schemas: dict[str, Any] = (document.get("components") or {}).get("schemas") or {}
        renames: dict[str, str] = {}
        for name, schema in doc_schemas.items():
            if name in schemas and schemas[name] != schema:
                renames[name] = f"{source}__{name}"
        for name, schema in doc_schemas.items():
            target = renames.get(name, name)
            schemas[target] = _rewrite_refs(copy.deepcopy(schema), renames)
        for path, operations in (document.get("paths") or {}).items():
            merged = paths.setdefault(path, {})
            for method, operation in operations.items():
                op = _rewrite_refs(copy.deepcopy(operation), renames)
                op.setdefault("tags", [source])
                merged.setdefault(method, op)  # the first owner of a path wins

    add("gateway", own)
    for service in sorted(fragments):
        add(service, fragments[service])

    info: dict[str, Any] = {"title": title, "version": version}
    if unavailable:
        info["x-unavailable-services"] = sorted(unavailable)
        info["description"] = (
            "Some services did not answer; their routes are missing: " + ", ".join(unavailable)
        )
    return {
        "openapi": "3.1.0",
        "info": info,
        "servers": [{"url": server_url}],
        "security": [{"session": []}, {"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
