"""The `luma` adapter through the gateway (openai SDK), against the loopback Luma mock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from videogate.config import ProviderConfig, UpstreamKey
from videogate.errors import GatewayError
from videogate.providers.base import CallContext
from videogate.providers.luma import LumaProvider, failure_code

from .conftest import GatewayHandle, assert_envelope
from .mocks.luma import LumaMock
from .provider_helpers import (
    assert_create_refused,
    assert_fetched_without_credentials,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
    wait_for,
)

KEY = "luma-secret-123"


@pytest.fixture
def mock() -> Iterator[LumaMock]:
    with LumaMock(KEY, queued_seconds=0.3, run_seconds=0.8) as m:
        yield m


def luma(mock: LumaMock, **over: Any) -> dict[str, Any]:
    return provider_config("luma", mock.url, "env.VG_TEST_LUMA_KEY", **over)


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle], mock: LumaMock, monkeypatch: pytest.MonkeyPatch
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_LUMA_KEY", KEY)
    return make_gateway(providers={"luma": luma(mock)})


def last_create(mock: LumaMock) -> dict[str, Any]:
    return sent_json(mock, "POST", "/generations/video")[-1]


def test_text_to_video_lifecycle_thumbnail_and_delete(gw: GatewayHandle, mock: LumaMock) -> None:
    client = gw.client()
    video = client.videos.create(
        model="luma/ray-2",
        prompt="waves on a rocky shore",
        seconds="9",
        size="1920x1080",
        extra_body={"loop": True},
    )
    assert (video.status, video.size, video.seconds) == ("queued", "1920x1080", "9")
    req = mock.find_requests("POST", "/generations/video")[0]
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(req.body) == {
        "generation_type": "video",
        "model": "ray-2",
        "prompt": "waves on a rocky shore",
        "aspect_ratio": "16:9",
        "resolution": "1080p",
        "duration": "9s",
        "loop": True,
    }
    seen: list[str] = []

    def finished() -> bool:
        seen.append(client.videos.retrieve(video.id).status)
        return seen[-1] in ("completed", "failed")

    wait_for(finished)
    assert seen[-1] == "completed" and "in_progress" in seen
    done = client.videos.retrieve(video.id)
    assert done.progress == 100 and done.completed_at is not None

    mp4, jpeg = mock.media()
    content = client.videos.download_content(video.id)
    assert content.response.headers["content-type"] == "video/mp4"
    assert content.read() == mp4
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/jpeg"  # Luma's real type
    assert thumb.read() == jpeg
    assert_fetched_without_credentials(mock, "/_cdn/")
    with gw.http() as http:
        assert_variants_missing(http, video.id, "spritesheet")

    upstream_id = video.id.rsplit(":", 1)[0]
    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deleted"] is True
    assert upstream_id in mock.deleted


def test_image_url_keyframes_and_refused_uploads(gw: GatewayHandle, mock: LumaMock) -> None:
    client = gw.client()
    video = client.videos.create(
        model="luma/ray-flash-2",
        prompt="the tiger walks",
        size="720x1280",
        extra_body={
            "input_reference": {"image_url": "https://example.com/tiger.jpg"},
            "keyframes": {"frame1": {"type": "image", "url": "https://example.com/end.jpg"}},
        },
    )
    assert video.seconds == "5" and video.size == "720x1280"
    body = last_create(mock)
    assert (body["aspect_ratio"], body["resolution"], body["duration"]) == ("9:16", "720p", "5s")
    assert body["keyframes"] == {
        "frame0": {"type": "image", "url": "https://example.com/tiger.jpg"},
        "frame1": {"type": "image", "url": "https://example.com/end.jpg"},
    }
    posted = len(mock.requests)

    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            files={"input_reference": ("a.png", image_bytes(color=(0, 0, 0)), "image/png")},
            data={"model": "luma/ray-2", "prompt": "x"},
        )
        env = assert_envelope(resp, 400, "input_reference_url_required")
        assert "an uploaded image" in env["error"]["message"]
        assert "cdn image urls" in env["error"]["message"]
        for ref, says in [
            ({"image_url": "data:image/png;base64,iVBORw0KGgo="}, "a data: URL"),
            ({"file_id": "file_1"}, "a file id"),
        ]:
            body = {"model": "luma/ray-2", "prompt": "x", "input_reference": ref}
            env = assert_envelope(
                http.post("/v1/videos", json=body), 400, "input_reference_url_required"
            )
            assert says in env["error"]["message"]
    assert len(mock.requests) == posted


@pytest.mark.parametrize(
    ("prompt", "code", "message"),
    [
        ("moderation please", "moderation_blocked", "Advanced moderation failed"),
        ("unfetchable frame", "invalid_request", "400: failed to moderate image"),
        ("a glitch", "generation_failed", "Generation failed, please try again"),
    ],
)
def test_failed_generation_maps_failure_reason(
    gw: GatewayHandle, prompt: str, code: str, message: str
) -> None:
    video = gw.client().videos.create_and_poll(model="luma/ray-2", prompt=prompt)
    assert video.status == "failed" and video.error is not None
    assert (video.error.code, video.error.message) == (code, message)


def test_upstream_errors_are_relayed(gw: GatewayHandle, mock: LumaMock) -> None:
    body = {"model": "luma/ray-2", "prompt": "x"}
    with gw.http() as http:
        mock.fail_next(429, headers={"Retry-After": "11"}, path_contains="/generations/video")
        resp = http.post("/v1/videos", json=body)
        env = assert_envelope(resp, 429, "upstream_429", bifrost=False)
        assert resp.headers["retry-after"] == "11"
        assert env["error"]["message"].startswith("Rate limit reached")  # from `detail`

        mock.fail_next(500, path_contains="/generations/video")
        assert_envelope(http.post("/v1/videos", json=body), 500, "upstream_500", bifrost=False)

        # Luma's own validation (FastAPI-style 422) comes back with its field as `param`.
        resp = http.post("/v1/videos", json={**body, "camera": "orbit"})
        env = assert_envelope(resp, 422, "upstream_422", bifrost=False)
        assert env["error"]["param"] == "camera"
        assert env["error"]["message"] == "Extra inputs are not permitted"


def test_wrong_key_is_relayed_without_leaking_it(
    make_gateway: Callable[..., GatewayHandle], mock: LumaMock
) -> None:
    gw = make_gateway(providers={"luma": luma(mock, keys=[{"value": "luma-wrong"}])})
    env = assert_create_refused(gw, "luma/ray-2", 401, "upstream_401", "luma-wrong")
    assert env["error"]["message"] == "Invalid API key is provided"


@pytest.mark.parametrize(
    ("over", "code", "param", "says"),
    [
        ({"size": "1792x1024"}, "invalid_size", "size", "1280x720"),
        ({"seconds": "7"}, "invalid_seconds", "seconds", "allowed: 5, 9."),
        ({"model": "luma/ray-1-6", "seconds": "9"}, "invalid_seconds", "seconds", "allowed: 5."),
        ({"model": "luma/ray-1-6", "size": "1920x1080"}, "invalid_size", "size", "720x1280"),
        ({"model": "luma/ray-3"}, "unsupported_model", "model", "ray-flash-2"),
        ({"aspect_ratio": "16:9"}, "invalid_parameter", "aspect_ratio", "request's size"),
        ({"loop": "maybe"}, "invalid_parameter", "loop", "true or false"),
        (
            {
                "input_reference": {"image_url": "https://e.com/a.jpg"},
                "keyframes": {"frame0": {"type": "image", "url": "https://e.com/b.jpg"}},
            },
            "invalid_parameter",
            "keyframes",
            "give one",
        ),
    ],
)
def test_invalid_requests_never_reach_luma(
    gw: GatewayHandle, mock: LumaMock, over: dict[str, Any], code: str, param: str, says: str
) -> None:
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": "luma/ray-2", "prompt": "x", **over})
    env = assert_envelope(resp, 400, code)
    assert env["error"]["param"] == param
    assert says in env["error"]["message"]
    assert mock.requests == []


def test_refused_delete_of_a_running_generation_is_retried(
    gw: GatewayHandle, mock: LumaMock
) -> None:
    mock.run_seconds = 1.5
    client = gw.client()
    video = client.videos.create(model="luma/ray-2", prompt="slow")
    upstream_id = video.id.rsplit(":", 1)[0]
    mock.fail_next(409, path_contains=f"/generations/{upstream_id}", method="DELETE")
    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deletion"] == "pending"
    assert upstream_id not in mock.deleted
    wait_for(lambda: upstream_id in mock.deleted)


async def test_delete_refused_while_dreaming_is_pending_not_an_error(mock: LumaMock) -> None:
    mock.run_seconds = 0.6
    adapter = LumaProvider("luma", ProviderConfig(type="luma", base_url=mock.url))
    key, ctx = UpstreamKey(value=KEY), CallContext()
    gen_id = mock.add_generation("busy")
    try:
        mock.fail_next(409, path_contains=gen_id, method="DELETE")
        result = await adapter.delete(gen_id, key, ctx)
        assert (result.deleted, result.pending) == (False, True)
        await asyncio.sleep(1.0)  # completed now: a refusal is a real error, not "later"
        mock.fail_next(409, path_contains=gen_id, method="DELETE")
        with pytest.raises(GatewayError) as err:
            await adapter.delete(gen_id, key, ctx)
        assert err.value.status == 409
        assert (await adapter.delete(gen_id, key, ctx)).deleted
        assert (await adapter.delete(gen_id, key, ctx)).deleted  # 404: already gone
    finally:
        await adapter.aclose()


def test_mirrored_media_outlive_the_cdn(gw: GatewayHandle, mock: LumaMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(model="luma/ray-2", prompt="keep")
    with gw.http() as http:
        wait_for(lambda: http.get(f"/v1/videos/{video.id}").json()["extra_fields"].get("mirrored"))
    mock.expire_assets(video.id.rsplit(":", 1)[0])
    mp4, jpeg = mock.media()
    assert client.videos.download_content(video.id).read() == mp4
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/jpeg" and thumb.read() == jpeg


@pytest.mark.parametrize(
    ("generation", "status", "error_code"),
    [
        ({"state": "queued"}, "queued", None),
        ({"state": "dreaming"}, "in_progress", None),
        ({"state": "completed"}, "completed", None),
        (
            {"state": "failed", "failure_reason": "Prompt not allowed"},
            "failed",
            "moderation_blocked",
        ),
        ({"state": "failed", "failure_reason": None}, "failed", "generation_failed"),
    ],
)
def test_generation_state_table(
    generation: dict[str, Any], status: str, error_code: str | None
) -> None:
    adapter = LumaProvider("luma", ProviderConfig(type="luma"))
    request = {"model": "ray-2", "prompt": "p", "aspect_ratio": "9:16", "resolution": "540p"}
    video = adapter.to_video(
        {"id": "g", "created_at": "2024-12-02T15:34:40Z", "request": request, **generation}
    )
    assert (video.status, video.created_at, video.size) == (status, 1733153680, "540x960")
    assert (video.error or {}).get("code") == error_code


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Advanced moderation failed", "moderation_blocked"),
        ("400: failed to moderate image", "invalid_request"),
        ("Prompt not allowed because it contains blocked words", "moderation_blocked"),
        ("Internal server error", "internal_error"),
        ("Job timed out", "internal_error"),
        ("Generation failed, please try again", "generation_failed"),
    ],
)
def test_failure_reason_table(reason: str, expected: str) -> None:
    assert failure_code(reason) == expected
