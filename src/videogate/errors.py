"""Errors that carry everything the Bifrost error envelope needs.

Raised anywhere below the HTTP layer; `api.envelope` renders them. A gateway-made error has
`is_bifrost_error=True`; an error relayed from a provider keeps the provider's status and
message with `is_bifrost_error=False`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# HTTP status -> OpenAI-style error type, used when a raiser does not name one.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "budget_exceeded",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}
# Error code -> the type Bifrost's governance puts in its envelope's top-level `type` (the
# decision names of plugins/governance/resolver.go and main.go), so a Bifrost client that
# branches on `type` keeps working; `error.code` keeps the gateway's finer code. Inferred:
# an expired key is Bifrost's `virtual_key_blocked` (its resolver's "Virtual key has expired"
# reason), a revoked one `virtual_key_not_found` ("does not exist or has been revoked").
BIFROST_TYPES: dict[str, str] = {
    "virtual_key_required": "virtual_key_required",
    "virtual_key_not_found": "virtual_key_not_found",
    "virtual_key_revoked": "virtual_key_not_found",
    "virtual_key_blocked": "virtual_key_blocked",
    "virtual_key_expired": "virtual_key_blocked",
    "model_blocked": "model_blocked",
    "provider_blocked": "provider_blocked",
    "budget_exceeded": "budget_exceeded",
    "rate_limited": "rate_limited",
}


@dataclass
class GatewayError(Exception):
    status: int
    code: str
    message: str
    param: str | None = None
    type: str | None = None
    is_bifrost_error: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    provider: str | None = None
    model_requested: str | None = None
    raw_response: Any = None
    # More `extra_fields` for the envelope (e.g. the attempts of a failed-over create).
    extra_fields: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if self.type is None:
            self.type = BIFROST_TYPES.get(self.code) or ERROR_TYPES.get(
                self.status, "api_error" if self.status >= 500 else "invalid_request_error"
            )


def bad_request(code: str, message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, code, message, param=param)


def whole_number(text: object, max_digits: int = 9) -> int | None:
    """`text` as a non-negative int if it is 1..max_digits ASCII digits, else None.

    Not `str.isdigit()`: it accepts '²' and '①', which `int()` then rejects (a 500), and
    numbers thousands of digits long, which `int()` refuses to parse."""
    if not isinstance(text, str) or not 0 < len(text) <= max_digits:
        return None
    if not all("0" <= c <= "9" for c in text):
        return None
    return int(text)


def not_found(video_id: str | None = None, message: str | None = None) -> GatewayError:
    return GatewayError(
        404,
        "video_not_found",
        message or f"No video with id {video_id!r} exists or it is not yours.",
        param="video_id",
    )


class UpstreamError(GatewayError):
    """An error answered by a provider, relayed with its status (is_bifrost_error False)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        retry_after: str | None = None,
        provider: str | None = None,
        raw_response: Any = None,
    ) -> None:
        headers = {"retry-after": retry_after} if retry_after else {}
        super().__init__(
            status=status,
            code=code or f"upstream_{status}",
            message=message,
            param=param,
            type=type,
            is_bifrost_error=False,
            headers=headers,
            provider=provider,
            raw_response=raw_response,
        )

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500


class UpstreamUnavailable(GatewayError):
    """The provider could not be reached or answered something unusable (gateway-made)."""

    def __init__(self, status: int, code: str, message: str, provider: str | None = None) -> None:
        super().__init__(status=status, code=code, message=message, provider=provider)

    @property
    def retryable(self) -> bool:
        return True


def is_retryable(exc: Exception) -> bool:
    """Whether another key or a fallback model may succeed where this attempt failed."""
    return isinstance(exc, UpstreamError | UpstreamUnavailable) and exc.retryable
