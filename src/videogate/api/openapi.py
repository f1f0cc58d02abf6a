"""The OpenAPI 3.1 document served at `/openapi.json`, generated from the app's own routes
and their descriptions in `routes_spec.py`.

Every Starlette route (each method but the HEAD Starlette adds to a GET) is looked up in
`routes_spec.SPEC` by (method, path), or, for a route served under every mount
(`{mount}/videos…`, `{mount}/models…`), in `routes_spec.MOUNTED` by its collection and shape;
`undescribed` lists the routes that have no entry (a test keeps it empty). The document is
built once per app, on first request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Route

from .. import __version__
from .routes_spec import (
    ADMIN,
    CANONICAL_MOUNT,
    HEADERS,
    MOUNTED,
    NONE,
    SCHEMAS,
    SPEC,
    Op,
    ref,
)

ERROR_DESCRIPTIONS = {
    400: "Bad request (the parameter is named in error.param)",
    401: "No, or an invalid, credential",
    402: "A budget would be exceeded",
    403: "Forbidden: key blocked or expired, model or provider not allowed, admin JWT needed",
    404: "Not found",
    405: "Method not allowed (the Allow header names the path's methods)",
    409: "Conflict: not ready, Idempotency-Key reused, or a name taken",
    413: "The body exceeds the configured limit",
    415: "Unsupported Content-Type",
    416: "Range not satisfiable",
    429: "Rate limited (Retry-After)",
    502: "The provider could not be reached or answered something unusable",
    503: "Unavailable: the provider's circuit is open, or no master key is configured",
    504: "The provider did not answer in time",
}
ERROR_HEADERS = {
    429: ("x-request-id", "Retry-After"),
    416: ("x-request-id", "Content-Range"),
    405: ("x-request-id", "Allow"),
}
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A virtual key (sk-bf-…), a virtual-key JWT or an admin JWT.",
    },
    "x-bf-vk": {"type": "apiKey", "in": "header", "name": "x-bf-vk"},
    "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "x-goog-api-key": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
    "api-key": {"type": "apiKey", "in": "header", "name": "api-key"},
}
# A virtual key travels in any of these (api/auth.py `bearer`, Bifrost's order); JWTs only
# as Bearer.
API_SECURITY: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]
SECURITY: dict[str, list[dict[str, list[str]]]] = {ADMIN: [{"bearer": []}], NONE: []}
CONVERTER = re.compile(r"\{(\w+):\w+\}")
MOUNT = re.compile(r"^(/[a-z0-9]+)*$")


def openapi_path(path: str) -> str:
    """Starlette's path without its converters (`{model_id:path}` -> `{model_id}`)."""
    return CONVERTER.sub(r"{\1}", path)


def _mount_id(operation_id: str, mount: str) -> str:
    if mount == CANONICAL_MOUNT:
        return operation_id
    return operation_id + "_" + ("_".join(mount.strip("/").split("/")) or "root")


def find(method: str, path: str) -> tuple[Op, str] | None:
    """The description of `method path` and its operationId, or None."""
    op = SPEC.get((method, path))
    if op is not None:
        return op, op.operation_id
    for collection, ops in MOUNTED.items():
        mount, found, rest = path.partition(f"/{collection}")
        if not found or not MOUNT.match(mount) or (rest and not rest.startswith("/")):
            continue
        op = ops.get((method, rest[1:]))
        if op is not None:
            return op, _mount_id(op.operation_id, mount)
    return None


def operations(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """(method, Starlette path) of every operation the app serves."""
    out: list[tuple[str, str]] = []
    for route in routes:
        if not isinstance(route, Route):
            continue
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette's implicit HEAD for every GET
        out += [(m, route.path) for m in sorted(methods)]
    return out


def undescribed(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    return [(m, p) for m, p in operations(routes) if find(m, p) is None]


def _headers(names: Iterable[str]) -> dict[str, Any]:
    return {h: {"$ref": f"#/components/headers/{h}"} for h in names}


def _operation(op: Op, operation_id: str, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.ok is not None:
        responses["200"] = {
            "description": "OK",
            "headers": _headers(op.ok_headers),
            "content": {"application/json": {"schema": op.ok}},
        }
    responses.update(op.responses)
    # A path parameter Starlette's converter cannot match ('/' in a plain one, a newline in
    # any) finds no route: 404 route_not_found, whatever the handler would say.
    errors = {*op.errors, 404} if "{" in path else set(op.errors)
    for status in sorted(errors):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    out: dict[str, Any] = {
        "operationId": operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    if op.description or operation_id != op.operation_id:
        more = [op.description] if op.description else []
        if operation_id != op.operation_id:
            more.append(f"The same operation as {op.operation_id}, under another mount.")
        out["description"] = " ".join(more)
    if op.inferred_id:
        out["x-operation-id-inferred"] = True
    if op.params:
        out["parameters"] = list(op.params)
    if op.body is not None:
        out["requestBody"] = op.body
    if op.auth in SECURITY:
        out["security"] = SECURITY[op.auth]
    return out


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS[status],
        "headers": _headers(ERROR_HEADERS.get(status, ("x-request-id",))),
        "content": {"application/json": {"schema": ref("Error")}},
    }


def build(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The document for `routes`; a route with no description is left out (and fails the
    test that calls `undescribed`)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in operations(routes):
        found = find(method, path)
        if found is None:
            continue
        op, operation_id = found
        paths.setdefault(openapi_path(path), {})[method.lower()] = _operation(
            op, operation_id, path
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "videogate",
            "version": __version__,
            "description": "OpenAI's Videos API in front of many providers, with Bifrost's "
            "governance, cache and error envelope. The videos and models routes are served "
            "under /v1, /, /openai, /openai/v1 and /openai/openai (each listed; the /v1 "
            "operations carry OpenAI's operationIds). Any path answers 405 with Allow for a "
            "method it does not take, and 404 route_not_found when nothing matches. A "
            "provider's own error is relayed with its status (is_bifrost_error false).",
        },
        "components": {
            "schemas": SCHEMAS,
            "headers": HEADERS,
            "responses": {f"E{s}": _error_response(s) for s in ERROR_DESCRIPTIONS},
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": API_SECURITY,
        "paths": paths,
    }


def openapi_document(app: Any) -> dict[str, Any]:
    """The document for `app` (a Starlette app), built once and kept on `app.state`."""
    doc: dict[str, Any] | None = getattr(app.state, "openapi_document", None)
    if doc is None:
        doc = build(app.router.routes)
        app.state.openapi_document = doc
    return doc
