"""Response bodies: the Bifrost error envelope, JSON via orjson, and request ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from ..errors import GatewayError
from ..ids import new_event_id


class JSON(Response):
    media_type = "application/json"

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Starlette's, minus its scans: a JSON body always has a length and this type (a
        caller's own content-type still wins)."""
        raw = [(b"content-length", str(len(self.body)).encode())]
        if headers:
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if not headers or not any(k.lower() == "content-type" for k in headers):
            raw.append((b"content-type", b"application/json"))
        self.raw_headers = raw

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            # Store rows passed through whole have str-subclass keys (SQLAlchemy's
            # quoted_name), which orjson only takes with this slower option.
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_body(exc: GatewayError, event_id: str, request_type: str | None) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": exc.type,
        "is_bifrost_error": exc.is_bifrost_error,
        "status_code": exc.status,
        "error": {
            "type": exc.type,
            "code": exc.code,
            "message": exc.message,
            "param": exc.param,
            "event_id": event_id,
        },
        "extra_fields": {
            "provider": exc.provider,
            "model_requested": exc.model_requested,
            "request_type": request_type,
            **(exc.extra_fields or {}),
        },
    }


def error_response(
    exc: GatewayError, event_id: str | None = None, request_type: str | None = None
) -> JSON:
    event_id = event_id or new_event_id()
    headers = {**exc.headers, "x-request-id": event_id}
    return JSON(error_body(exc, event_id, request_type), status_code=exc.status, headers=headers)
