"""The direct `/v1/videos` route table answers exactly what Starlette's routes would."""

from __future__ import annotations

import gc
from typing import Any

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response

from videogate.api import videos
from videogate.api.app import GatewayApp, on_error
from videogate.api.dispatch import VideoRoutes
from videogate.errors import GatewayError

from .conftest import GatewayHandle, assert_envelope

MATCH = GatewayApp.video_table.match


@pytest.mark.parametrize(
    ("method", "path", "handler", "video_id"),
    [
        ("POST", "/v1/videos", videos.create_video, None),
        ("GET", "/videos", videos.list_videos, None),
        ("GET", "/openai/v1/videos", videos.list_videos, None),
        ("GET", "/v1/videos/video_a:openai", videos.retrieve_video, "video_a:openai"),
        ("DELETE", "/openai/v1/videos/x:y", videos.delete_video, "x:y"),
        ("GET", "/videos/x:y/content", videos.video_content, "x:y"),
        ("POST", "/v1/videos/x:y/remix", videos.remix_video, "x:y"),
        ("GET", "/v1/videos/.", videos.retrieve_video, "."),
    ],
)
def test_video_routes_are_found(method: str, path: str, handler: Any, video_id: str) -> None:
    hit = MATCH(method, path)
    assert hit is not None
    assert hit[0] is handler
    assert hit[1] == ({} if video_id is None else {"video_id": video_id})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/videos"),  # wrong method: Starlette's 405
        ("HEAD", "/v1/videos/x:y"),  # Starlette answers HEAD for GET routes
        ("GET", "/v1/videos/"),  # trailing slash / empty id: 404, never a redirect
        ("GET", "/v1/videos//content"),
        ("GET", "/v1/videos/x:y/"),
        ("GET", "/v1/videos/x:y/content/more"),
        ("GET", "/v1/videos/x:y/thumbnail"),
        ("GET", "/v1/videosx"),
        ("GET", "/v2/videos"),
        ("POST", "/v1/videos/x:y"),
        ("GET", "/v1/videos/x:y/remix"),
    ],
)
def test_everything_else_is_left_to_starlette(method: str, path: str) -> None:
    assert MATCH(method, path) is None


def test_what_passes_through_still_gets_the_envelope(gateway: GatewayHandle) -> None:
    with gateway.http() as http:
        wrong = http.put("/v1/videos")
        assert_envelope(wrong, 405, "method_not_allowed")
        assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST", "HEAD"}
        assert_envelope(http.get("/v1/videos/"), 404, "route_not_found")
        assert_envelope(http.post("/openai/v1/videos/x:simulated"), 405, "method_not_allowed")
        assert http.head("/v1/videos/nope:simulated").status_code == 404
        listed = http.get("/openai/v1/videos")
        assert listed.status_code == 200 and listed.json()["object"] == "list"


async def _run(handler: Any) -> tuple[int, dict[str, Any]]:
    routes = VideoRoutes(["/v1"], {("GET", ""): handler}, on_error)
    hit = routes.match("GET", "/v1/videos")
    assert hit is not None
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v1/videos", "headers": []}
    await routes.run(hit, scope, receive, send)
    return sent[0]["status"], orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))


async def test_handler_errors_become_envelopes(caplog: pytest.LogCaptureFixture) -> None:
    async def refuses(request: Request) -> Response:
        raise GatewayError(409, "busy", "Not now.")

    async def crashes(request: Request) -> Response:
        raise RuntimeError("boom")

    status, body = await _run(refuses)
    assert status == 409 and body["error"]["code"] == "busy"
    status, body = await _run(crashes)
    assert status == 500 and body["error"]["code"] == "internal_error"
    assert "boom" not in orjson.dumps(body).decode()  # no internals leak to the caller
    assert "boom" in caplog.text  # but the log has the traceback


OURS = ("videogate", "starlette", "aiohttp", "uvicorn")


def test_requests_leave_no_reference_cycles(gateway: GatewayHandle) -> None:
    """Every request's objects die with their last reference: cycles would wait for the
    collector, whose passes over them stalled every request in flight (bench p99)."""
    body = {"prompt": "p", "model": "simulated/test-pattern", "size": "64x64", "seconds": 1}
    with gateway.http() as http:
        http.get(f"/v1/videos/{http.post('/v1/videos', json=body).json()['id']}")  # warm up
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(10):
                vid = http.post("/v1/videos", json=body).json()["id"]
                assert http.get(f"/v1/videos/{vid}").status_code == 200
                assert http.get("/v1/videos?limit=2").status_code == 200
                assert http.get("/v1/videos/nope:simulated").status_code == 404
                assert http.get("/v1/videos/no-colon").status_code == 400
                assert http.delete(f"/v1/videos/{vid}").status_code == 200
            gc.collect()
            ours = sorted(
                {
                    f"{type(o).__module__}.{type(o).__qualname__}"
                    for o in gc.garbage
                    if type(o).__module__.split(".")[0] in OURS
                }
            )
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert ours == []
