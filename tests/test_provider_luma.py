"""The `luma` adapter through the gateway (openai SDK), against the loopback Luma mock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from videogate.config import ProviderConfig, UpstreamKey
from videogate.errors import GatewayError
from videogate.providers.base import (
    CallContext,
    Capability,
    CreateParams,
    InputReference,
    Operation,
    SourceVideo,
)
from videogate.providers.luma import LumaAgentsProvider, LumaProvider, failure_code

from .adapter_helpers import make_adapter, prepared_for, run_job
from .conftest import GatewayHandle, assert_envelope
from .mocks.luma import LumaAgentsMock, LumaMock
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
        # The model table (providers/specs.py) answers these before the adapter.
        ({"seconds": "7"}, "invalid_seconds", "seconds", "renders 5, 9 seconds"),
        ({"model": "luma/ray-1-6", "seconds": "9"}, "invalid_seconds", "seconds", "renders 5 s"),
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


# -- Dream Machine modify / extend and the Agents API, at the adapter level ----------------


async def _completed(mock: LumaMock, adapter: Any, key: UpstreamKey) -> str:
    _, _, done = await run_job(
        adapter, key, CreateParams(model="ray-2", prompt="a fox", seconds="5")
    )
    assert done.status == "completed"
    return str(done.id)


async def test_extension_continues_the_source_generation(mock: LumaMock) -> None:
    adapter, key = make_adapter("luma", mock.url, KEY)
    source_id = await _completed(mock, adapter, key)
    job = CreateParams(
        model="ray-2",
        prompt="the fox runs on",
        operation=Operation.EXTEND,
        source=SourceVideo(upstream_id=source_id, size="1280x720", seconds=5.0),
        seconds="9",
        last_frame=InputReference(image_url="https://e.com/end.jpg"),
    )
    prepared, _, done = await run_job(adapter, key, job)
    body = sent_json(mock, "POST", "/generations/video")[-1]
    assert body["keyframes"] == {
        "frame0": {"type": "generation", "id": source_id},
        "frame1": {"type": "image", "url": "https://e.com/end.jpg"},
    }
    assert (body["duration"], prepared.size) == ("9s", "1280x720")
    assert done.status == "completed"
    await adapter.aclose()


async def test_edit_is_a_modify_of_the_source_url(mock: LumaMock) -> None:
    adapter, key = make_adapter("luma", mock.url, KEY)
    job = CreateParams(
        model="ray-flash-2",
        prompt="make it claymation",
        operation=Operation.EDIT,
        source=SourceVideo(url="https://cdn.e.com/in.mp4", size="1280x720", seconds=5.0),
        extra={"mode": "reimagine_2"},
        input_reference=InputReference(image_url="https://e.com/first.jpg"),
    )
    prepared, created, done = await run_job(adapter, key, job)
    assert prepared.route == "/generations/video/modify"
    assert sent_json(mock, "POST", "/generations/video/modify")[-1] == {
        "generation_type": "modify_video",
        "model": "ray-flash-2",
        "mode": "reimagine_2",
        "media": {"url": "https://cdn.e.com/in.mp4"},
        "prompt": "make it claymation",
        "first_frame": {"url": "https://e.com/first.jpg"},
    }
    assert (created.size, created.seconds) == ("1280x720", "5")
    assert done.status == "completed"
    await adapter.aclose()


@pytest.mark.parametrize(
    ("over", "code"),
    [
        (
            {
                "model": "ray-1-6",
                "operation": Operation.EDIT,
                "source": SourceVideo(url="https://x/a.mp4"),
            },
            "unsupported_operation",
        ),
        ({"operation": Operation.EDIT, "source": SourceVideo(data=b"mp4")}, "source_url_required"),
        (
            {
                "operation": Operation.EDIT,
                "source": SourceVideo(url="https://x/a.mp4"),
                "extra": {"mode": "wild"},
            },
            "invalid_parameter",
        ),
        (
            {
                "operation": Operation.EDIT,
                "source": SourceVideo(url="https://x/a.mp4"),
                "seconds": "5",
            },
            "invalid_parameter",
        ),
        (
            {"operation": Operation.EXTEND, "source": SourceVideo(url="https://x/a.mp4")},
            "source_not_on_provider",
        ),
        (
            {
                "operation": Operation.EXTEND,
                "source": SourceVideo(upstream_id="g"),
                "seconds": "12",
            },
            "invalid_seconds",
        ),
        (
            {"last_frame": InputReference(data=b"png", content_type="image/png")},
            "input_reference_url_required",
        ),
        ({"seed": 1}, "unsupported_seed"),
        ({"generate_audio": True}, "unsupported_audio"),
        ({"aspect_ratio": "9:21", "resolution": "1080p", "model": "ray-1-6"}, "invalid_resolution"),
    ],
)
def test_dream_machine_refusals_before_the_call(
    mock: LumaMock, over: dict[str, Any], code: str
) -> None:
    adapter, _ = make_adapter("luma", mock.url, KEY)
    with pytest.raises(GatewayError) as caught:
        prepared_for(adapter, CreateParams(**{"model": "ray-2", "prompt": "x", **over}))
    assert caught.value.code == code
    assert mock.requests == []


def test_aspect_ratio_and_resolution_map_directly() -> None:
    adapter, _ = make_adapter("luma", "http://127.0.0.1:9", KEY)
    job = CreateParams(model="ray-2", prompt="x", aspect_ratio="9:16", resolution="1080p")
    prepared = prepared_for(adapter, job)
    assert (prepared.body["aspect_ratio"], prepared.body["resolution"]) == ("9:16", "1080p")
    assert prepared.size == "1080x1920"


def test_mock_refuses_a_modify_without_mode_or_an_extension_of_nothing(mock: LumaMock) -> None:
    import httpx

    auth = {"Authorization": f"Bearer {KEY}"}
    resp = httpx.post(
        f"{mock.url}/generations/video/modify",
        json={"generation_type": "modify_video", "model": "ray-2", "media": {"url": "https://x"}},
        headers=auth,
    )
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "mode"]
    resp = httpx.post(
        f"{mock.url}/generations/video",
        json={"model": "ray-2", "keyframes": {"frame0": {"type": "generation", "id": "nope"}}},
        headers=auth,
    )
    assert resp.status_code == 404


@pytest.fixture
def agents() -> Iterator[LumaAgentsMock]:
    with LumaAgentsMock("luma-api-secret") as m:
        yield m


def agents_adapter(agents: LumaAgentsMock) -> tuple[Any, UpstreamKey]:
    return make_adapter("luma", agents.url, "luma-api-secret", options={"api": "agents"})


async def test_agents_api_text_image_and_download(agents: LumaAgentsMock) -> None:
    adapter, key = agents_adapter(agents)
    assert isinstance(adapter, LumaAgentsProvider)
    job = CreateParams(
        model="ray-3.2",
        prompt="a greenhouse at sunrise",
        aspect_ratio="21:9",
        resolution="1080p",
        input_reference=InputReference(data=image_bytes(), content_type="image/png"),
        last_frame=InputReference(image_url="https://e.com/end.png"),
    )
    prepared, created, done = await run_job(adapter, key, job)
    body = sent_json(agents, "POST", "/generations")[-1]
    assert (body["type"], body["aspect_ratio"]) == ("video", "21:9")
    assert body["video"]["resolution"] == "1080p" and body["video"]["duration"] == "5s"
    assert body["video"]["start_frame"]["media_type"] == "image/png"
    assert body["video"]["end_frame"] == {"url": "https://e.com/end.png"}
    assert prepared.shown["video"]["start_frame"]["data"].startswith("<")
    assert (created.size, created.seconds) == ("2520x1080", "5")
    content = await adapter.content(done.id, "video", key, CallContext())
    data = b"".join([chunk async for chunk in content.chunks])
    await content.close()
    assert data == agents.media()
    await adapter.aclose()


async def test_agents_api_edit_and_extend_by_generation_id(agents: LumaAgentsMock) -> None:
    adapter, key = agents_adapter(agents)
    _, _, first = await run_job(adapter, key, CreateParams(model="ray-3.2", prompt="a lighthouse"))
    source = SourceVideo(upstream_id=first.id, size="1280x720", seconds=5.0)
    edit = CreateParams(
        model="ray-3.2", prompt="moonlit 35mm", operation=Operation.EDIT, source=source
    )
    _, edited, done = await run_job(adapter, key, edit)
    body = sent_json(agents, "POST", "/generations")[-1]
    assert body["type"] == "video_edit" and body["source"] == {"generation_id": first.id}
    assert body["video"] == {"edit": {"auto_controls": True}}
    assert (edited.size, edited.seconds, done.status) == ("1280x720", "5", "completed")
    extend = CreateParams(
        model="ray-3.2", prompt="dawn breaks", operation=Operation.EXTEND, source=source
    )
    _, extended, done = await run_job(adapter, key, extend)
    body = sent_json(agents, "POST", "/generations")[-1]
    assert body["video"]["start_frame"] == {"generation_id": first.id}
    assert (extended.seconds, done.status) == ("10", "completed")
    await adapter.aclose()


@pytest.mark.parametrize(
    ("over", "code"),
    [
        (
            {"seconds": "10", "input_reference": InputReference(image_url="https://e.com/a.png")},
            "invalid_seconds",
        ),
        ({"seconds": "9"}, "invalid_seconds"),
        ({"resolution": "4k"}, "invalid_resolution"),
        ({"aspect_ratio": "9:21"}, "invalid_aspect_ratio"),
        (
            {"operation": Operation.EXTEND, "source": SourceVideo(url="https://x/a.mp4")},
            "source_not_on_provider",
        ),
        (
            {
                "operation": Operation.EXTEND,
                "source": SourceVideo(upstream_id="g"),
                "seconds": "10",
            },
            "invalid_seconds",
        ),
        ({"model": "ray-2"}, "unsupported_model"),
    ],
)
def test_agents_api_refusals_before_the_call(
    agents: LumaAgentsMock, over: dict[str, Any], code: str
) -> None:
    adapter, _ = agents_adapter(agents)
    with pytest.raises(GatewayError) as caught:
        prepared_for(adapter, CreateParams(**{"model": "ray-3.2", "prompt": "x", **over}))
    assert caught.value.code == code
    assert agents.requests == []


def test_the_api_option_picks_the_class() -> None:
    dream = LumaProvider("luma", ProviderConfig(type="luma"))
    agent = LumaProvider("luma", ProviderConfig(type="luma", options={"api": "agents"}))
    assert type(dream) is LumaProvider and type(agent) is LumaAgentsProvider
    assert Capability.DELETE not in agent.capabilities and Capability.EXTEND in agent.capabilities
    with pytest.raises(ValueError, match=r"options\.api"):
        LumaProvider("luma", ProviderConfig(type="luma", options={"api": "v2"}))
