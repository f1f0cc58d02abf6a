"""OpenTelemetry traces over OTLP/HTTP to a collector the test runs on loopback: a span per
request, per upstream call and per worker step, `traceparent` on upstream calls and
webhooks; nothing of it when no endpoint is configured."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from videogate.api.auth import mint_jwt

from .conftest import GatewayHandle
from .mocks.openai_videos import OpenAIVideosMock

KEY = "sk-upstream-tracing"
CREATE = {"model": "openai/sora-2", "prompt": "a cat", "seconds": "4", "size": "720x1280"}
CLIENT, SERVER = 3, 2  # Span.SpanKind in the OTLP protobuf


class Receiver:
    """A loopback HTTP server recording what is POSTed to it (headers and body)."""

    def __init__(self, answer: Callable[[bytes], tuple[str, bytes]]) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                ctype, out = answer(body)
                self.send_response(200)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Collector(Receiver):
    """An OTLP/HTTP traces endpoint: decodes each ExportTraceServiceRequest (protobuf)."""

    def __init__(self) -> None:
        super().__init__(
            lambda _: ("application/x-protobuf", ExportTraceServiceResponse().SerializeToString())
        )

    def spans(self) -> list[dict[str, Any]]:
        out = []
        for path, headers, body in list(self.posts):
            assert path == "/v1/traces", path
            assert headers["content-type"] == "application/x-protobuf"
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        attrs = {}
                        for a in span.attributes:
                            kind = a.value.WhichOneof("value")
                            attrs[a.key] = getattr(a.value, kind) if kind else None
                        out.append(
                            {
                                "name": span.name,
                                "kind": span.kind,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "attributes": attrs,
                                "service": service.get("service.name"),
                            }
                        )
        return out


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    r = Receiver(lambda _: ("application/json", b"{}"))
    yield r
    r.close()


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key=KEY, queued_seconds=0.1, run_seconds=0.3) as m:
        yield m


def openai(mock: OpenAIVideosMock) -> dict[str, Any]:
    return {
        "type": "openai",
        "base_url": mock.url,
        "keys": [{"name": "main", "value": KEY}],
        "poll_after_ms": 100,
    }


def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def parse_traceparent(value: str) -> tuple[str, str]:
    version, trace_id, parent_id, flags = value.split("-")
    assert version == "00" and len(trace_id) == 32 and len(parent_id) == 16
    assert int(flags, 16) & 1, flags  # sampled
    return trace_id, parent_id


def test_requests_upstream_calls_worker_steps_and_webhooks_are_traced(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    collector: Collector,
    hooks: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export every 0.1 s, not 5 s
    gw = make_gateway(
        providers={"openai": openai(mock)},
        telemetry={"otlp_endpoint": collector.url, "service_name": "vg-test"},
        webhooks={"allow_private_networks": True, "retry_schedule_seconds": [0.2]},
    )
    admin = mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=300)
    owner = gw.key_ids()[0]
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {admin}"}) as http:
        made = http.post(
            "/api/webhooks", json={"url": hooks.url, "owner": owner, "events": ["video.completed"]}
        )
        assert made.status_code == 200, made.text
    with gw.http() as http:
        created = http.post("/v1/videos", json=CREATE)
        assert created.status_code == 200, created.text
        request_id = created.headers["x-request-id"]
        vid = created.json()["id"]
        until(lambda: http.get(f"/v1/videos/{vid}").json()["status"] == "completed", "completed")
    until(lambda: hooks.posts, "the webhook")

    # the request's span, and the upstream create as its child
    spans = until(
        lambda: (
            [s for s in collector.spans() if s["name"] == "POST /v1/videos"] and collector.spans()
        ),
        "the request's span",
    )
    server = next(s for s in spans if s["name"] == "POST /v1/videos")
    assert server["kind"] == SERVER and server["service"] == "vg-test"
    assert server["attributes"]["http.route"] == "/v1/videos"
    assert server["attributes"]["http.response.status_code"] == 200
    assert server["attributes"]["videogate.request_id"] == request_id
    assert server["attributes"]["videogate.provider"] == "openai"
    assert server["attributes"]["videogate.model"] == "sora-2"
    upstream = [s for s in spans if s["trace_id"] == server["trace_id"] and s["kind"] == CLIENT]
    assert [s["name"] for s in upstream] == ["upstream POST"], upstream
    assert upstream[0]["parent"] == server["span_id"]
    assert upstream[0]["attributes"]["videogate.provider"] == "openai"
    assert upstream[0]["attributes"]["http.response.status_code"] == 200

    # the mock received the upstream span's context: same trace, that span as parent
    sent = mock.find_requests("POST", "/v1/videos")[0].headers["traceparent"]
    assert parse_traceparent(sent) == (server["trace_id"], upstream[0]["span_id"])

    # each worker poll is a span with its upstream GET inside
    def polls() -> list[dict[str, Any]]:
        return [s for s in collector.spans() if s["name"] == "worker poll"]

    poll = until(polls, "a worker poll span")[0]
    assert poll["attributes"]["videogate.video_id"] == vid
    inner = until(
        lambda: [s for s in collector.spans() if s["parent"] == poll["span_id"]], "its call"
    )
    assert inner[0]["name"] == "upstream GET" and inner[0]["trace_id"] == poll["trace_id"]
    polled = [r for r in mock.requests if r.method == "GET" and "traceparent" in r.headers]
    assert polled, "polls carry traceparent too"

    # the webhook carries the delivery span's context
    _, headers, body = hooks.posts[0]
    assert json.loads(body)["type"] == "video.completed"
    trace_id, parent_id = parse_traceparent(headers["traceparent"])
    deliveries = until(
        lambda: [s for s in collector.spans() if s["name"] == "webhook deliver"], "delivery span"
    )
    assert (deliveries[0]["trace_id"], deliveries[0]["span_id"]) == (trace_id, parent_id)


def test_without_an_endpoint_nothing_is_traced_or_propagated(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    gw = make_gateway(providers={"openai": openai(mock)})
    with gw.http() as http:
        assert http.post("/v1/videos", json=CREATE).status_code == 200
    sent = mock.find_requests("POST", "/v1/videos")
    assert sent and all("traceparent" not in r.headers for r in sent)


def test_the_standard_environment_variable_turns_tracing_on(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    gw = make_gateway(providers={"openai": openai(mock)})
    with gw.http() as http:
        assert http.get("/v1/videos").status_code == 200
    found = until(
        lambda: [s for s in collector.spans() if s["name"] == "GET /v1/videos"], "list span"
    )
    assert found[0]["service"] == "videogate"
