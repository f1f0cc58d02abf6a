"""Errors several adapters raise the same way: a provider's numeric error codes looked up in
a table, and the 409/404 for content that is not ready or a variant a job lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import GatewayError, UpstreamError


# -- numeric error codes ---------------------------------------------------------------------
# Some providers (MiniMax's `base_resp`, Kling's `code`) report errors as numbers, often
# inside an HTTP 200. Each adapter keeps a table number -> CodedError; these helpers turn a
# number into the relayed UpstreamError so the envelope says the right HTTP status.
@dataclass(frozen=True)
class CodedError:
    """How one provider error number is relayed: HTTP status and `error.code`."""

    status: int
    code: str


def describe_code(
    vendor: str, number: int, message: str, table: Mapping[int, CodedError]
) -> tuple[str, str]:
    """(message naming the provider's number, our `error.code`) for a provider error."""
    known = table.get(number)
    code = known.code if known else f"{vendor.lower()}_error_{number}"
    return f"{message or 'error'} ({vendor} code {number})", code


def coded_error(
    provider: str,
    vendor: str,
    number: int,
    message: str,
    table: Mapping[int, CodedError],
    raw: Any = None,
) -> UpstreamError:
    """The UpstreamError for an error number found in a 2xx body: the table's HTTP status,
    or 502 for a number the table does not know."""
    text, code = describe_code(vendor, number, message, table)
    known = table.get(number)
    return UpstreamError(
        known.status if known else 502, text, code=code, provider=provider, raw_response=raw
    )


# -- content ---------------------------------------------------------------------------------
def not_ready(provider: str, message: str) -> GatewayError:
    """409 `video_not_ready`: the job has no content to download (yet)."""
    return GatewayError(409, "video_not_ready", message, provider=provider)


def variant_missing(provider: str, message: str) -> GatewayError:
    """404 `variant_not_available`: this job has no such asset (e.g. no thumbnail)."""
    return GatewayError(404, "variant_not_available", message, param="variant", provider=provider)
