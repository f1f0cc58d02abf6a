"""The `runway` adapter through the gateway (openai SDK), against the loopback Runway mock."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from videogate.providers.runway import RunwayProvider, failure_code

from .conftest import GatewayHandle, assert_envelope
from .mocks.runway import VERSION, RunwayMock
from .provider_helpers import (
    assert_create_refused,
    assert_fetched_without_credentials,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
    wait_for,
)

KEY = "key_" + "ab" * 64


@pytest.fixture
def mock() -> Iterator[RunwayMock]:
    with RunwayMock(KEY, queued_seconds=0.3, throttled_seconds=0.3, run_seconds=0.8) as m:
        yield m


def runway(mock: RunwayMock, **over: Any) -> dict[str, Any]:
    return provider_config("runway", mock.origin, "env.VG_TEST_RUNWAY_KEY", **over)


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle], mock: RunwayMock, monkeypatch: pytest.MonkeyPatch
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_RUNWAY_KEY", KEY)
    return make_gateway(providers={"runway": runway(mock)})


def sent(mock: RunwayMock, path: str, index: int = -1) -> dict[str, Any]:
    return sent_json(mock, "POST", path)[index]


def test_text_to_video_lifecycle_download_and_delete(
    gw: GatewayHandle, mock: RunwayMock, make_gateway: Callable[..., GatewayHandle]
) -> None:
    client = gw.client()
    video = client.videos.create(
        model="runway/gen4.5", prompt="a lighthouse at dusk", seconds="6", size="720x1280"
    )
    assert (video.status, video.size, video.seconds) == ("queued", "720x1280", "6")
    upstream_id = video.id.rsplit(":", 1)[0]
    req = mock.find_requests("POST", "/v1/text_to_video")[0]
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["x-runway-version"] == VERSION
    assert json.loads(req.body) == {
        "model": "gen4.5",
        "promptText": "a lighthouse at dusk",
        "ratio": "720:1280",
        "duration": 6,
    }

    seen: list[tuple[str, int]] = []

    def finished() -> bool:
        current = client.videos.retrieve(video.id)
        seen.append((current.status, current.progress))
        return current.status in ("completed", "failed")

    wait_for(finished)
    assert seen[-1] == ("completed", 100)
    assert any(s == "in_progress" and 0 < p < 100 for s, p in seen), seen
    done = client.videos.retrieve(video.id)
    assert done.completed_at is not None and done.created_at <= done.completed_at

    content = client.videos.download_content(video.id)
    assert content.response.headers["content-type"] == "video/mp4"
    assert content.read() == mock.video()
    assert_fetched_without_credentials(mock, "/_cdn/")  # no key to the CDN

    with gw.http() as http:
        assert_variants_missing(http, video.id, "thumbnail")

    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deleted"] is True
    assert upstream_id in mock.deleted and upstream_id not in mock.cancelled_by_delete
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_default_poll_interval_is_runways_five_seconds(
    make_gateway: Callable[..., GatewayHandle], mock: RunwayMock
) -> None:
    config = runway(mock, keys=[{"value": KEY}])
    config.pop("poll_after_ms")
    slow = make_gateway(providers={"runway": config})
    video = slow.client().videos.create(model="runway/veo3.1", prompt="x")
    with slow.http() as http:
        resp = http.get(f"/v1/videos/{video.id}")
        assert resp.headers["openai-poll-after-ms"] == "5000"


def test_image_upload_url_and_typed_extras(gw: GatewayHandle, mock: RunwayMock) -> None:
    client = gw.client()
    image = image_bytes(color=(200, 30, 30))
    video = client.videos.create_and_poll(
        model="runway/gen4_turbo",
        prompt="the cat blinks",
        seconds="10",
        size="960x960",
        input_reference=("cat.png", image, "image/png"),
        extra_body={"seed": 7, "contentModeration": {"publicFigureThreshold": "low"}},
        extra_headers={"x-bf-send-back-raw-request": "true"},
    )
    assert video.status == "completed"
    body = sent(mock, "/v1/image_to_video")
    assert body["promptImage"] == "data:image/png;base64," + base64.b64encode(image).decode()
    assert (body["ratio"], body["duration"], body["seed"]) == ("960:960", 10, 7)
    assert body["contentModeration"] == {"publicFigureThreshold": "low"}
    assert client.videos.download_content(video.id).read() == mock.video()

    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            json={
                "model": "runway/veo3.1",
                "prompt": "wide shot",
                "input_reference": {"image_url": "https://example.com/cat.png"},
            },
            headers={"x-bf-send-back-raw-request": "true"},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["seconds"] == "8" and resp.json()["size"] == "1280x720"
        assert sent(mock, "/v1/image_to_video")["promptImage"] == "https://example.com/cat.png"
        resp = http.post(
            "/v1/videos",
            files={"input_reference": ("cat.png", image, "image/png")},
            data={"model": "runway/gen4.5", "prompt": "x", "seconds": "5"},
            headers={"x-bf-send-back-raw-request": "true"},
        )
        raw = resp.json()["extra_fields"]["raw_request"]
        assert raw["promptImage"].startswith("<data: URL, ")  # not the whole image again
        assert KEY not in resp.text


def test_delete_running_task_cancels_it(gw: GatewayHandle, mock: RunwayMock) -> None:
    mock.run_seconds = 30.0
    client = gw.client()
    video = client.videos.create(model="runway/veo3.1_fast", prompt="a long take")
    upstream_id = video.id.rsplit(":", 1)[0]
    wait_for(lambda: mock.tasks[upstream_id].status_at(time.time())[0] == "RUNNING")
    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deleted"] is True
    assert upstream_id in mock.cancelled_by_delete
    resp = httpx.get(
        f"{mock.origin}/v1/tasks/{upstream_id}",
        headers={"Authorization": f"Bearer {KEY}", "X-Runway-Version": VERSION},
    )
    assert resp.status_code == 404


@pytest.mark.parametrize(
    ("prompt", "code", "message"),
    [
        ("moderation test", "moderation_blocked", "flagged by content moderation"),
        ("a glitch", "internal_error", "did not pass checks"),
    ],
)
def test_failed_task_maps_failure_code(
    gw: GatewayHandle, mock: RunwayMock, prompt: str, code: str, message: str
) -> None:
    video = gw.client().videos.create_and_poll(model="runway/gen4.5", prompt=prompt, seconds="5")
    assert video.status == "failed"
    assert video.error is not None
    assert video.error.code == code and message in video.error.message


def test_cancelled_elsewhere_is_failed_cancelled(gw: GatewayHandle, mock: RunwayMock) -> None:
    mock.run_seconds = 30.0
    client = gw.client()
    video = client.videos.create(model="runway/gen4.5", prompt="x", seconds="5")
    mock.cancel(video.id.rsplit(":", 1)[0])
    done = wait_for(lambda: (v := client.videos.retrieve(video.id)).status == "failed" and v)
    assert done.error.code == "cancelled"


def test_upstream_errors_are_relayed(gw: GatewayHandle, mock: RunwayMock) -> None:
    body = {"model": "runway/gen4.5", "prompt": "x", "seconds": "5"}
    with gw.http() as http:
        mock.fail_next(429, headers={"Retry-After": "7"}, path_contains="/v1/text_to_video")
        resp = http.post("/v1/videos", json=body)
        env = assert_envelope(resp, 429, "upstream_429", bifrost=False)
        assert resp.headers["retry-after"] == "7"
        assert env["error"]["message"].startswith("Rate limit reached")  # Runway's own text
        assert env["extra_fields"]["provider"] == "runway"

        mock.fail_next(500, path_contains="/v1/text_to_video")
        assert_envelope(http.post("/v1/videos", json=body), 500, "upstream_500", bifrost=False)

        mock.garbage_next(path_contains="/v1/text_to_video")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")

    # Failed polls are retried: the job still completes.
    mock.fail_next(503, path_contains="/v1/tasks/", count=2)
    video = gw.client().videos.create_and_poll(model="runway/gen4.5", prompt="x", seconds="5")
    assert video.status == "completed"


def test_wrong_key_is_relayed_without_leaking_it(
    make_gateway: Callable[..., GatewayHandle], mock: RunwayMock
) -> None:
    gw = make_gateway(providers={"runway": runway(mock, keys=[{"value": "key_wrong"}])})
    env = assert_create_refused(gw, "runway/gen4.5", 401, "upstream_401", "key_wrong")
    assert "incorrect or disabled" in env["error"]["message"]


@pytest.mark.parametrize(
    ("over", "code", "param", "says"),
    [
        ({"model": "runway/gen4_turbo"}, "input_reference_required", "input_reference", "gen4.5"),
        ({"size": "999x999"}, "invalid_size", "size", "1280x720, 720x1280."),
        ({"size": "960x960"}, "invalid_size", "size", "text-to-video"),
        ({"seconds": "11"}, "invalid_seconds", "seconds", "2 to 10"),
        ({"model": "runway/veo3.1", "seconds": "5"}, "invalid_seconds", "seconds", "4, 6, 8"),
        ({"model": "runway/veo3", "seconds": "4"}, "invalid_seconds", "seconds", "allowed: 8."),
        ({"model": "runway/gen3a_turbo"}, "unsupported_model", "model", "veo3.1_fast"),
        (
            {"input_reference": {"image_url": "http://example.com/a.png"}},
            "invalid_input_reference",
            "input_reference",
            "https://",
        ),
        (
            {"input_reference": {"file_id": "file_123"}},
            "unsupported_input_reference",
            "input_reference",
            "file ids",
        ),
        ({"ratio": "1280:720"}, "invalid_parameter", "ratio", "'size'"),
        ({"seed": "lucky"}, "invalid_seed", "seed", "whole number"),
        ({"prompt": "x" * 1001}, "prompt_too_long", "prompt", "1000"),
    ],
)
def test_invalid_requests_never_reach_runway(
    gw: GatewayHandle, mock: RunwayMock, over: dict[str, Any], code: str, param: str, says: str
) -> None:
    body = {"model": "runway/gen4.5", "prompt": "x", "seconds": "5", **over}
    with gw.http() as http:
        resp = http.post("/v1/videos", json=body)
    env = assert_envelope(resp, 400, code)
    assert env["error"]["param"] == param
    assert says in env["error"]["message"]
    assert mock.requests == []


def test_upload_too_big_for_a_data_url_is_refused(gw: GatewayHandle, mock: RunwayMock) -> None:
    big = image_bytes(color=(200, 30, 30)) + bytes(4 * 1024 * 1024)  # 5.3 MB once base64-encoded
    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            files={"input_reference": ("big.png", big, "image/png")},
            data={"model": "runway/gen4_turbo", "prompt": "x", "seconds": "5"},
        )
    env = assert_envelope(resp, 400, "input_reference_too_large")
    assert "https image_url" in env["error"]["message"]
    assert mock.requests == []


def test_output_url_expiry_is_handled_by_refetching_the_task(
    make_gateway: Callable[..., GatewayHandle], mock: RunwayMock
) -> None:
    mock.url_ttl = 0.5
    gw = make_gateway(
        providers={"runway": runway(mock, keys=[{"value": KEY}])}, assets={"mirror": False}
    )
    client = gw.client()
    video = client.videos.create_and_poll(model="runway/gen4.5", prompt="x", seconds="5")
    stale = mock.output_url(video.id.rsplit(":", 1)[0])
    time.sleep(0.6)
    assert httpx.get(stale).status_code == 403
    assert client.videos.download_content(video.id).read() == mock.video()


def test_mock_requires_the_version_header(mock: RunwayMock) -> None:
    url = f"{mock.origin}/v1/text_to_video"
    body = {"model": "gen4.5", "promptText": "x", "ratio": "1280:720", "duration": 5}
    auth = {"Authorization": f"Bearer {KEY}"}
    resp = httpx.post(url, json=body, headers=auth)
    assert resp.status_code == 400 and "X-Runway-Version" in resp.json()["error"]
    resp = httpx.post(url, json=body, headers={**auth, "X-Runway-Version": VERSION})
    assert resp.status_code == 200 and set(resp.json()) == {"id"}


@pytest.mark.parametrize(
    ("task", "status", "progress", "error_code"),
    [
        ({"status": "PENDING"}, "queued", 0, None),
        ({"status": "THROTTLED"}, "queued", 0, None),
        ({"status": "RUNNING", "progress": 0.426}, "in_progress", 42, None),
        ({"status": "SUCCEEDED", "output": ["https://cdn/x.mp4"]}, "completed", 100, None),
        (
            {"status": "FAILED", "failure": "f", "failureCode": "SAFETY.OUTPUT.VIDEO"},
            "failed",
            0,
            "moderation_blocked",
        ),
        ({"status": "FAILED", "failure": "f"}, "failed", 0, "generation_failed"),
        ({"status": "CANCELLED"}, "failed", 0, "cancelled"),
    ],
)
def test_task_status_table(
    task: dict[str, Any], status: str, progress: int, error_code: str | None
) -> None:
    from videogate.config import ProviderConfig

    adapter = RunwayProvider("runway", ProviderConfig(type="runway"))
    video = adapter.to_video({"id": "t1", "createdAt": "2025-11-11T21:48:50.448Z", **task})
    assert (video.status, video.progress, video.created_at) == (status, progress, 1762897730)
    assert (video.error or {}).get("code") == error_code


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("SAFETY.INPUT.TEXT", "moderation_blocked"),
        ("SAFETY.INPUT.IMAGE", "moderation_blocked"),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", "moderation_blocked"),
        ("INTERNAL", "internal_error"),
        ("INTERNAL.BAD_OUTPUT.CODE01", "internal_error"),
        ("INPUT_PREPROCESSING.INTERNAL", "internal_error"),
        ("THIRD_PARTY.UNAVAILABLE", "internal_error"),
        ("ASSET.INVALID", "invalid_request"),
        ("SAFETYNET", "generation_failed"),
        ("SOMETHING.NEW", "generation_failed"),
        (None, "generation_failed"),
    ],
)
def test_failure_code_families(code: str | None, expected: str) -> None:
    assert failure_code(code) == expected
