"""Log lines (text or one JSON object each) and what is known about the request in flight.

The app's outermost layer makes one `RequestRecord` per HTTP request and makes it current
(a contextvar: the handler runs in the same task, so nothing is threaded through calls).
Handlers fill in what they learn: the `Call` (request id, provider, model), the caller's
key, the cost. When the response ends the record becomes the access line, the metrics
sample and, for API routes, a row of the request log. Any other line logged while the
request runs carries its request id in JSON mode.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from contextvars import ContextVar
from typing import Any

import orjson

ACCESS = logging.getLogger("videogate.access")


class RequestRecord:
    __slots__ = (
        "call",
        "cost_usd",
        "key_id",
        "method",
        "path",
        "request_id",
        "route",
        "started",
        "status",
    )

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        self.route: str | None = None
        self.status = 0
        self.started = time.perf_counter()
        self.request_id: str | None = None
        self.key_id: str | None = None
        self.cost_usd: float | None = None
        self.call: Any = None  # lifecycle.call.Call, read for its id, provider and model

    @property
    def provider(self) -> str | None:
        return getattr(self.call, "provider", None)

    @property
    def model(self) -> str | None:
        return getattr(self.call, "model_requested", None)

    def latency_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)

    def fields(self, latency_ms: float) -> dict[str, Any]:
        return {
            "request_id": self.request_id or getattr(self.call, "event_id", None),
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "status": self.status,
            "key_id": self.key_id,
            "provider": self.provider,
            "model": self.model,
            "latency_ms": latency_ms,
            "cost_usd": self.cost_usd,
        }


CURRENT: ContextVar[RequestRecord | None] = ContextVar("videogate_request", default=None)


def note_call(call: Any) -> None:
    """The handler's `Call`: its event id is the request id; provider and model follow it."""
    rec = CURRENT.get()
    if rec is not None:
        rec.call = call


def note_key(key_id: str | None) -> None:
    rec = CURRENT.get()
    if rec is not None:
        rec.key_id = key_id


def note_cost(dollars: float | None) -> None:
    """What the request will cost, where known (a create's reserved estimate)."""
    rec = CURRENT.get()
    if rec is not None and dollars is not None:
        rec.cost_usd = dollars


def access(fields: dict[str, Any]) -> None:
    """The access line of a finished request (text: one readable line; JSON: the fields)."""
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.info(
            "%s %s %s %.1fms key=%s provider=%s model=%s id=%s",
            fields["method"],
            fields["path"],
            fields["status"],
            fields["latency_ms"],
            fields["key_id"],
            fields["provider"],
            fields["model"],
            fields["request_id"],
            extra={"fields": fields},
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's fields when
    the line is an access line, else the id of the request it was logged during."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        else:
            rec = CURRENT.get()
            if rec is not None:
                out["request_id"] = rec.request_id or getattr(rec.call, "event_id", None)
                out["route"] = rec.route
        if record.exc_info:
            out["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return orjson.dumps(out, default=str).decode()


JsonFormatter.converter = time.gmtime


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The servers' own loggers: they get the same handler as everything else (uvicorn's
# dictConfig would otherwise give them their own plain-text ones).
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "granian", "_granian")


def configure(level: str, fmt: str, access: bool = False) -> None:
    """The process's log format and level: text, or JSON lines (`log_format: json`); the
    access line of every request with `access` (the servers' own are always off: ours
    carry the request id, key, provider, model and cost)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in SERVER_LOGGERS:
        server = logging.getLogger(name)
        for old in list(server.handlers):
            server.removeHandler(old)
        server.propagate = True
    ACCESS.setLevel(logging.INFO if access else logging.WARNING)


def granian_log_config(fmt: str) -> dict[str, Any] | None:
    """granian's own loggers as JSON lines too (its dictConfig would give them text
    handlers); None in text mode (its defaults)."""
    if fmt != "json":
        return None
    handler = {
        "formatter": "json",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    return {
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"console": handler},
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
