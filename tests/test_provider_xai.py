"""The `xai` adapter: creates through the gateway (openai SDK) against the loopback xAI mock;
edits and extensions at the adapter level (the gateway's edit/extend routes come later)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from videogate.config import ProviderConfig, UpstreamKey
from videogate.errors import GatewayError, UpstreamError
from videogate.providers.base import (
    CallContext,
    CreateParams,
    InputReference,
    Operation,
    SourceVideo,
    UpstreamVideo,
)
from videogate.providers.specs import check_spec
from videogate.providers.xai import XaiProvider

from .conftest import GatewayHandle, assert_envelope
from .mocks.xai import XaiMock
from .provider_helpers import (
    assert_create_refused,
    assert_fetched_without_credentials,
    assert_remix_unsupported,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
    until_ended,
    upstream_token,
    wait_for,
)

KEY = "xai-" + "k" * 40


@pytest.fixture
def mock() -> Iterator[XaiMock]:
    with XaiMock(KEY, queued_seconds=0.3, run_seconds=0.8) as m:
        yield m


def xai(mock: XaiMock, **over: Any) -> dict[str, Any]:
    return provider_config("xai", mock.origin, "env.VG_TEST_XAI_KEY", **over)


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle], mock: XaiMock, monkeypatch: pytest.MonkeyPatch
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_XAI_KEY", KEY)
    return make_gateway(providers={"xai": xai(mock)})


def test_text_to_video_lifecycle_and_download(gw: GatewayHandle, mock: XaiMock) -> None:
    client = gw.client()
    video = client.videos.create(
        model="xai/grok-imagine-video", prompt="a lighthouse at dusk", seconds="8", size="1280x720"
    )
    assert (video.status, video.size, video.seconds) == ("queued", "1280x720", "8")
    req = mock.find_requests("POST", "/v1/videos/generations")[0]
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert sent_json(mock, "POST", "/generations")[0] == {
        "model": "grok-imagine-video",
        "prompt": "a lighthouse at dusk",
        "duration": 8,
        "aspect_ratio": "16:9",
        "resolution": "720p",
    }
    seen: list[tuple[str, int]] = []

    def finished() -> bool:
        current = client.videos.retrieve(video.id)
        seen.append((current.status, current.progress))
        return current.status in ("completed", "failed")

    wait_for(finished)
    assert seen[-1] == ("completed", 100)
    assert any(s == "in_progress" and 0 < p < 100 for s, p in seen), seen
    assert client.videos.download_content(video.id).read() == mock.video()
    assert_fetched_without_credentials(mock, "/_cdn/")
    with gw.http() as http:
        assert_variants_missing(http, video.id, "thumbnail", "spritesheet")
        assert_remix_unsupported(http, video.id)
    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deleted"] is False


def test_image_upload_and_url(gw: GatewayHandle, mock: XaiMock) -> None:
    image = image_bytes(color=(10, 200, 30))
    video = gw.client().videos.create(
        model="xai/grok-imagine-video",
        prompt="the leaves sway",
        input_reference=("leaf.png", image, "image/png"),
        extra_headers={"x-bf-send-back-raw-request": "true"},
    )
    body = sent_json(mock, "POST", "/generations")[-1]
    assert body["image"] == {"url": "data:image/png;base64," + base64.b64encode(image).decode()}
    raw = video.model_dump()["extra_fields"]["raw_request"]
    assert raw["image"]["url"].startswith("<data: URL, ")  # the upload is not echoed back
    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            json={
                "model": "xai/grok-imagine-video",
                "prompt": "x",
                "input_reference": {"image_url": "https://example.com/leaf.png"},
            },
        )
    assert resp.status_code == 200, resp.text
    assert sent_json(mock, "POST", "/generations")[-1]["image"] == {
        "url": "https://example.com/leaf.png"
    }
    assert until_ended(gw.client(), resp.json()["id"]).status == "completed"


@pytest.mark.parametrize(
    ("prompt", "code"), [("moderation test", "moderation_blocked"), ("a glitch", "internal_error")]
)
def test_failed_jobs_are_mapped(gw: GatewayHandle, prompt: str, code: str) -> None:
    video = gw.client().videos.create_and_poll(model="xai/grok-imagine-video", prompt=prompt)
    assert video.status == "failed" and video.error is not None
    assert video.error.code == code


def test_expired_request_fails_as_expired(gw: GatewayHandle, mock: XaiMock) -> None:
    mock.run_seconds = 30.0
    client = gw.client()
    video = client.videos.create(model="xai/grok-imagine-video", prompt="a long take")
    mock.expire(upstream_token(video.id, "xai"))
    assert until_ended(client, video.id).error.code == "expired"


def test_upstream_errors_are_relayed(gw: GatewayHandle, mock: XaiMock) -> None:
    body = {"model": "xai/grok-imagine-video", "prompt": "x"}
    with gw.http() as http:
        mock.fail_next(429, headers={"Retry-After": "3"}, path_contains="/generations")
        resp = http.post("/v1/videos", json=body)
        env = assert_envelope(resp, 429, "upstream_429", bifrost=False)
        assert resp.headers["retry-after"] == "3"
        assert env["error"]["message"].startswith("Rate limit")
        mock.fail_next(500, path_contains="/generations")
        assert_envelope(http.post("/v1/videos", json=body), 500, "upstream_500", bifrost=False)
        mock.garbage_next(path_contains="/generations")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")
    mock.fail_next(503, path_contains="/v1/videos/", method="GET", count=2)
    video = gw.client().videos.create_and_poll(model="xai/grok-imagine-video", prompt="x")
    assert video.status == "completed"


def test_wrong_key_is_relayed_without_leaking_it(
    make_gateway: Callable[..., GatewayHandle], mock: XaiMock
) -> None:
    gw = make_gateway(providers={"xai": xai(mock, keys=[{"value": "xai-wrong-key"}])})
    env = assert_create_refused(gw, "xai/grok-imagine-video", 400, "upstream_400", "xai-wrong-key")
    assert "Incorrect API key" in env["error"]["message"]


@pytest.mark.parametrize(
    ("over", "code", "param", "says"),
    [
        ({"size": "1920x1080"}, "invalid_size", "size", "1280x720"),
        ({"size": "999x999"}, "invalid_size", "size", "854x480"),
        ({"seconds": "16"}, "invalid_seconds", "seconds", "1 to 15"),
        ({"seconds": "2.5"}, "invalid_seconds", "seconds", "whole"),
        ({"duration": 5}, "invalid_parameter", "duration", "seconds"),
        (
            {"model": "xai/grok-imagine-video", "image": {"url": "x"}},
            "invalid_parameter",
            "image",
            "",
        ),
        (
            {"input_reference": {"file_id": "file_1"}},
            "unsupported_input_reference",
            "input_reference",
            "file_id",
        ),
    ],
)
def test_invalid_requests_never_reach_xai(
    gw: GatewayHandle, mock: XaiMock, over: dict[str, Any], code: str, param: str, says: str
) -> None:
    body = {"model": "xai/grok-imagine-video", "prompt": "x", **over}
    with gw.http() as http:
        env = assert_envelope(http.post("/v1/videos", json=body), 400, code)
    assert env["error"]["param"] == param and says in env["error"]["message"]
    assert mock.requests == []


# -- adapter level: normalised fields, edits and extensions ------------------------------------


@pytest.fixture
async def adapter(mock: XaiMock) -> AsyncIterator[XaiProvider]:
    provider = XaiProvider("xai", ProviderConfig(type="xai", base_url=mock.origin))
    yield provider
    await provider.aclose()


async def finish(adapter: XaiProvider, job: UpstreamVideo) -> UpstreamVideo:
    key = UpstreamKey(name="main", value=KEY)
    for _ in range(100):
        current = await adapter.retrieve(job.id, key, CallContext())
        if current.status in ("completed", "failed"):
            return current
        await asyncio.sleep(0.05)
    raise AssertionError("the xAI job did not finish")


def params(**over: Any) -> CreateParams:
    values: dict[str, Any] = {"model": "grok-imagine-video", "prompt": "x", **over}
    return CreateParams(**values)


async def test_normalised_fields_and_references(adapter: XaiProvider, mock: XaiMock) -> None:
    key = UpstreamKey(name="main", value=KEY)
    refs = [InputReference(data=image_bytes(), content_type="image/png")] * 2
    p = params(aspect_ratio="9:16", resolution="720p", seconds="6", reference_images=refs)
    check_spec(adapter.spec(p.model), p)
    prepared = adapter.prepare(p)
    assert prepared.size == "720x1280"
    job = await adapter.create(prepared, key, CallContext())
    body = sent_json(mock, "POST", "/generations")[-1]
    assert (body["aspect_ratio"], body["resolution"], body["duration"]) == ("9:16", "720p", 6)
    assert len(body["reference_images"]) == 2
    assert body["reference_images"][0]["url"].startswith("data:image/png;base64,")
    assert (await finish(adapter, job)).status == "completed"


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"seed": 3}, "unsupported_seed"),
        ({"negative_prompt": "blur"}, "unsupported_negative_prompt"),
        ({"last_frame": InputReference(image_url="https://e.com/a.png")}, "unsupported_last_frame"),
        ({"resolution": "1080p"}, "invalid_resolution"),
        ({"aspect_ratio": "21:9"}, "invalid_aspect_ratio"),
        (
            {"reference_images": [InputReference(image_url="https://e.com/a.png")] * 8},
            "too_many_reference_images",
        ),
        (
            {
                "model": "grok-imagine-video-1.5-preview",
                "operation": Operation.EDIT,
                "source": SourceVideo(url="https://e.com/v.mp4"),
            },
            "unsupported_operation",
        ),
        (
            {
                "operation": Operation.EXTEND,
                "seconds": "11",
                "source": SourceVideo(url="https://e.com/v.mp4"),
            },
            "invalid_seconds",
        ),
    ],
)
def test_model_table_refuses_what_xai_cannot_do(
    adapter: XaiProvider, over: dict[str, Any], code: str
) -> None:
    p = params(**over)
    with pytest.raises(GatewayError) as caught:
        check_spec(adapter.spec(p.model), p)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"generate_audio": False}, "unsupported_audio"),
        ({"fps": 24}, "unsupported_fps"),
        (
            {
                "input_reference": InputReference(image_url="https://e.com/a.png"),
                "reference_images": [InputReference(image_url="https://e.com/b.png")],
            },
            "invalid_parameter",
        ),
        (
            {
                "reference_images": [InputReference(image_url="https://e.com/b.png")],
                "seconds": "12",
            },
            "invalid_seconds",
        ),
        ({"size": "1280x720", "aspect_ratio": "16:9"}, "invalid_parameter"),
        ({"operation": Operation.EDIT}, "source_required"),
        ({"operation": Operation.EDIT, "source": SourceVideo(data=b"mp4")}, "unsupported_source"),
        (
            {
                "operation": Operation.EDIT,
                "seconds": "5",
                "source": SourceVideo(url="https://e.com/v.mp4"),
            },
            "invalid_seconds",
        ),
        (
            {
                "operation": Operation.EDIT,
                "size": "1280x720",
                "source": SourceVideo(url="https://e.com/v.mp4"),
            },
            "invalid_parameter",
        ),
        (
            {
                "operation": Operation.EDIT,
                "source": SourceVideo(url="https://e.com/v.mp4", seconds=10),
            },
            "invalid_source",
        ),
        (
            {
                "operation": Operation.EXTEND,
                "seconds": "1",
                "source": SourceVideo(url="https://e.com/v.mp4"),
            },
            "invalid_seconds",
        ),
        (
            {
                "operation": Operation.EXTEND,
                "source": SourceVideo(url="https://e.com/v.mp4", seconds=20),
            },
            "invalid_source",
        ),
    ],
)
def test_prepare_refuses_before_any_call(
    adapter: XaiProvider, mock: XaiMock, over: dict[str, Any], code: str
) -> None:
    with pytest.raises(GatewayError) as caught:
        adapter.prepare(params(**over))
    assert caught.value.code == code and caught.value.status == 400
    assert mock.requests == []


async def test_edit_of_an_xai_job_reads_its_fresh_url(adapter: XaiProvider, mock: XaiMock) -> None:
    key = UpstreamKey(name="main", value=KEY)
    source_job = await finish(
        adapter, await adapter.create(adapter.prepare(params(seconds="5")), key, CallContext())
    )
    source = SourceVideo(upstream_id=source_job.id, url="https://gateway.example/v.mp4", seconds=5)
    edit = params(prompt="make it snow", operation=Operation.EDIT, source=source)
    check_spec(adapter.spec(edit.model), edit)
    prepared = adapter.prepare(edit)
    assert (prepared.route, prepared.seconds) == ("/v1/videos/edits", "5")
    job = await adapter.create(prepared, key, CallContext())
    assert sent_json(mock, "POST", "/edits")[-1] == {
        "model": "grok-imagine-video",
        "prompt": "make it snow",
        "video": {"url": mock.output_url(source_job.id)},
    }
    done = await finish(adapter, job)
    assert (done.status, done.seconds) == ("completed", "5")


async def test_extend_by_url_and_source_states(adapter: XaiProvider, mock: XaiMock) -> None:
    key = UpstreamKey(name="main", value=KEY)
    first = await finish(
        adapter, await adapter.create(adapter.prepare(params(seconds="4")), key, CallContext())
    )
    source = SourceVideo(url=mock.output_url(first.id), seconds=4)
    extend = params(prompt="pan left", operation=Operation.EXTEND, source=source, seconds="3")
    check_spec(adapter.spec(extend.model), extend)
    prepared = adapter.prepare(extend)
    assert (prepared.route, prepared.seconds) == ("/v1/videos/extensions", "7")
    done = await finish(adapter, await adapter.create(prepared, key, CallContext()))
    assert (done.status, done.seconds) == ("completed", "7")
    assert sent_json(mock, "POST", "/extensions")[-1]["duration"] == 3

    # A source job still running cannot be extended; one xAI no longer knows falls back to
    # the gateway's URL for it.
    mock.run_seconds = 30.0
    running = await adapter.create(adapter.prepare(params()), key, CallContext())
    busy = params(operation=Operation.EXTEND, source=SourceVideo(upstream_id=running.id))
    with pytest.raises(GatewayError) as caught:
        await adapter.create(adapter.prepare(busy), key, CallContext())
    assert caught.value.code == "invalid_source"
    gone = SourceVideo(upstream_id="0" * 8 + "-0000-0000-0000-" + "0" * 12, url=source.url)
    fallback = await adapter.create(
        adapter.prepare(params(operation=Operation.EXTEND, source=gone)), key, CallContext()
    )
    assert sent_json(mock, "POST", "/extensions")[-1]["video"] == {"url": source.url}
    assert fallback.status == "queued"
    with pytest.raises(UpstreamError):
        await adapter.create(
            adapter.prepare(
                params(operation=Operation.EXTEND, source=SourceVideo(upstream_id="nope"))
            ),
            key,
            CallContext(),
        )


@pytest.mark.parametrize(
    ("answer", "status", "progress", "code"),
    [
        ({"status": "pending"}, "queued", 0, None),
        ({"status": "pending", "progress": 40}, "in_progress", 40, None),
        (
            {"status": "done", "video": {"url": "https://v/x.mp4", "duration": 6}},
            "completed",
            100,
            None,
        ),
        ({"video": {"url": "https://v/x.mp4"}}, "completed", 100, None),
        (
            {"status": "done", "video": {"url": "u", "respect_moderation": False}},
            "failed",
            0,
            "moderation_blocked",
        ),
        ({"status": "done"}, "failed", 0, "generation_failed"),
        ({"status": "expired"}, "failed", 0, "expired"),
        ({"status": "failed"}, "failed", 0, "generation_failed"),
        (
            {"status": "failed", "error": {"code": "internal_error", "message": "m"}},
            "failed",
            0,
            "internal_error",
        ),
    ],
)
def test_status_table(answer: dict[str, Any], status: str, progress: int, code: str | None) -> None:
    video = XaiProvider("xai", ProviderConfig(type="xai")).to_video("r1", answer)
    assert (video.id, video.status, video.progress) == ("r1", status, progress)
    assert (video.error or {}).get("code") == code
