"""One operation's bookkeeping, as the services see it: its id, type, timer, the provider
and model it concerns, and what goes into `extra_fields`.

The API layer makes one per request (from the raw-capture headers) and hands it to the
service; the service fills in `provider` and `model_requested` as it learns them, so an
error raised anywhere below is tagged with them in the envelope. It holds no reference to
the HTTP request.
"""

from __future__ import annotations

import time
from typing import Any

from ..ids import new_event_id
from ..providers.base import CallContext


class Call:
    __slots__ = ("ctx", "event_id", "model_requested", "provider", "request_type", "started")

    def __init__(self, request_type: str, *, capture_raw: bool = False) -> None:
        self.request_type = request_type
        self.started = time.perf_counter()
        self.event_id = new_event_id()
        self.provider: str | None = None
        self.model_requested: str | None = None
        self.ctx = CallContext(capture_raw=capture_raw)

    def extra_fields(self, deployment: str | None = None, **more: Any) -> dict[str, Any]:
        """Bifrost's `extra_fields`; `model_deployment` only where the model was mapped to
        another name (an alias, or a provider reporting its own), as Bifrost sets it only
        for providers with deployments."""
        fields: dict[str, Any] = {
            "request_type": self.request_type,
            "provider": self.provider,
            "model_requested": self.model_requested,
            "model_deployment": None if deployment == self.model_requested else deployment,
            "latency": int((time.perf_counter() - self.started) * 1000),
        }
        if self.ctx.capture_raw:
            fields["raw_request"] = self.ctx.raw_request
            fields["raw_response"] = self.ctx.raw_response
            # Where the answer came from: "upstream" (the raw bodies are that call's) or
            # "store" (the gateway answered from its own copy; nothing was sent anywhere).
            fields["raw_source"] = "upstream" if self.ctx.reached else "store"
        fields.update(more)
        return fields
