"""OpenTelemetry traces, off unless an OTLP/HTTP endpoint is configured.

Off, every helper here is one `None` check: no SDK object is built and no header added.
On, the gateway owns its TracerProvider (not the process-global one, so tests and embedders
may start several gateways), exports in batches over OTLP/HTTP, and propagates W3C
`traceparent` on every upstream call and webhook delivery. Spans nest through contextvars:
the request's span is current while its handler runs, so an upstream call made from it is
its child without anything being passed along.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_PATH = "/v1/traces"

SERVER, CLIENT, INTERNAL = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL

_state: dict[str, Any] = {"tracer": None, "provider": None}


def endpoint_for(configured: str | None) -> str | None:
    """The traces URL: the configured endpoint, else OTEL_EXPORTER_OTLP_ENDPOINT; as with
    the standard variable, a base URL gets `/v1/traces` appended."""
    base = configured or os.environ.get(ENDPOINT_ENV)
    if not base:
        return None
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def configure(
    endpoint: str | None, service_name: str, headers: Mapping[str, str] | None = None
) -> bool:
    """Start exporting to `endpoint` (None: tracing stays off); True when on."""
    shutdown()
    url = endpoint_for(endpoint)
    if url is None:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=url, headers=dict(headers or {})))
    )
    _state["provider"] = provider
    _state["tracer"] = provider.get_tracer("videogate")
    return True


def shutdown() -> None:
    """Flush what is buffered and stop exporting."""
    provider = _state["provider"]
    _state["provider"] = _state["tracer"] = None
    if provider is not None:
        provider.shutdown()


def tracer() -> Tracer | None:
    found: Tracer | None = _state["tracer"]
    return found


def enabled() -> bool:
    return _state["tracer"] is not None


def start(
    name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> Span | None:
    """A span, not made current (see `use`), ended by `finish`; None when tracing is off."""
    t = _state["tracer"]
    if t is None:
        return None
    span: Span = t.start_span(name, kind=kind, attributes=_clean(attributes or {}))
    return span


@contextlib.contextmanager
def span(
    name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> Iterator[Span | None]:
    """`with span(...)`: a current span around a block; an exception marks it failed."""
    t = _state["tracer"]
    if t is None:
        yield None
        return
    with t.start_as_current_span(name, kind=kind, attributes=_clean(attributes or {})) as current:
        yield current


def use(span_: Span | None) -> Any:
    """A context manager making `span_` current (nothing when tracing is off)."""
    if span_ is None:
        return contextlib.nullcontext()
    return trace.use_span(span_, end_on_exit=False)


def finish(
    span_: Span | None, error: bool = False, attributes: Mapping[str, Any] | None = None
) -> None:
    if span_ is None:
        return
    for k, v in _clean(attributes or {}).items():
        span_.set_attribute(k, v)
    if error:
        span_.set_status(Status(StatusCode.ERROR))
    span_.end()


def finish_attributes(span_: Span | None, attributes: Mapping[str, Any]) -> None:
    """Attributes learnt while a `span(...)` block runs (nothing when tracing is off)."""
    if span_ is not None:
        for k, v in _clean(attributes).items():
            span_.set_attribute(k, v)


def propagate(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """`headers` with the current span's `traceparent` added (unchanged when off)."""
    if _state["tracer"] is not None:
        inject(headers)
    return headers


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
