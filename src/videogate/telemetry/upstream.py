"""One provider API call observed: its metrics sample, its client span and the
`traceparent` it carries (providers/http.py wraps every call in a `Watch`).

The model label is the model of the request being served (the API's RequestRecord) or of
the job being polled (`working_on`, set by the worker step); "" when neither is known.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from . import metrics, tracing
from .logs import CURRENT

WORKER_MODEL: ContextVar[str] = ContextVar("videogate_worker_model", default="")


def working_on(model: str | None) -> None:
    """The model of the job this worker step handles (its task's upstream calls)."""
    WORKER_MODEL.set(model or "")


def current_model() -> str:
    rec = CURRENT.get()
    if rec is not None and rec.model:
        return str(rec.model)
    return WORKER_MODEL.get()


class Watch:
    __slots__ = ("model", "provider", "span", "started")

    def __init__(self, provider: str, method: str, url: str) -> None:
        self.provider = provider
        self.model = current_model()
        self.started = time.perf_counter()
        self.span = (
            tracing.start(
                f"upstream {method}",
                tracing.CLIENT,
                attributes={
                    "http.request.method": method,
                    "url.full": url.split("?", 1)[0],  # no query: it may carry a signature
                    "videogate.provider": provider,
                    "videogate.model": self.model or None,
                },
            )
            if tracing.enabled()
            else None
        )

    def headers(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        """`headers` plus `traceparent` naming this call's span (as given when tracing is
        off)."""
        if self.span is None:
            return headers
        out = dict(headers or {})
        with tracing.use(self.span):
            tracing.propagate(out)
        return out

    def end(self, status: int | None, error: Any = None) -> None:
        """`status` answered (None: no answer), `error` the GatewayError raised, if any."""
        seconds = time.perf_counter() - self.started
        code = getattr(error, "code", None)
        if error is not None and getattr(error, "is_bifrost_error", True) and code:
            outcome = str(code)  # the gateway's own kind of failure: a small, fixed set
        else:
            outcome = str(status) if status is not None else "error"
        metrics.upstream_done(self.provider, self.model, outcome, seconds)
        if error is not None:
            metrics.upstream_failed(self.provider, self.model, outcome)
        tracing.finish(
            self.span,
            error=error is not None,
            attributes={"http.response.status_code": status, "videogate.outcome": outcome},
        )
