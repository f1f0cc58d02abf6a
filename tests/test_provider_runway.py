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

from videogate.errors import GatewayError
from videogate.providers.base import (
    CharacterRef,
    CreateParams,
    InputReference,
    Operation,
    SourceVideo,
)
from videogate.providers.runway import RunwayProvider, failure_code

from .adapter_helpers import make_adapter, prepared_for, run_job
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
        # The model table (providers/specs.py) answers before the adapter: all its sizes.
        ({"size": "999x999"}, "invalid_size", "size", "1584x672, not 999x999."),
        ({"size": "960x960"}, "invalid_size", "size", "text-to-video"),
        ({"seconds": "11"}, "invalid_seconds", "seconds", "2 to 10"),
        ({"model": "runway/veo3.1", "seconds": "5"}, "invalid_seconds", "seconds", "4, 6, 8"),
        ({"model": "runway/veo3", "seconds": "4"}, "invalid_seconds", "seconds", "renders 8 s"),
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


# -- edits (video_to_video) and the normalised fields, at the adapter level ------------------


def params(model: str, prompt: str = "make it winter", **over: Any) -> CreateParams:
    return CreateParams(model=model, prompt=prompt, **over)


def edit(model: str, source: SourceVideo, **over: Any) -> CreateParams:
    return params(model, operation=Operation.EDIT, source=source, **over)


async def test_aleph2_edit_sends_the_source_url_and_keeps_its_size(mock: RunwayMock) -> None:
    adapter, key = make_adapter("runway", mock.origin, KEY)
    source = SourceVideo(url="https://cdn.example/in.mp4", size="1280x720", seconds=5.0)
    job = edit("aleph2", source, seed=3, aspect_ratio="21:9")
    prepared, created, done = await run_job(adapter, key, job)
    assert prepared.route == "/v1/video_to_video"
    assert sent(mock, "/v1/video_to_video") == {
        "model": "aleph2",
        "promptText": "make it winter",
        "videoUri": "https://cdn.example/in.mp4",
        "seed": 3,
        "targetAspectRatio": "21:9",
    }
    assert (created.size, created.seconds) == ("1280x720", "5")  # the output follows the input
    assert done.status == "completed"
    await adapter.aclose()


async def test_seedance2_edit_inlines_bytes_and_maps_the_normalised_fields(
    mock: RunwayMock,
) -> None:
    adapter, key = make_adapter("runway", mock.origin, KEY)
    clip = mock.video()
    refs = [InputReference(data=image_bytes(), content_type="image/png")]
    character = CharacterRef(
        id="char_1", name="Mia", image=InputReference(image_url="https://x/m.png")
    )
    job = edit(
        "seedance2",
        SourceVideo(data=clip),
        seconds="6",
        aspect_ratio="9:16",
        resolution="720p",
        generate_audio=True,
        reference_images=refs,
        characters=[character],
    )
    prepared, _, done = await run_job(adapter, key, job)
    body = sent(mock, "/v1/video_to_video")
    assert body["promptVideo"] == "data:video/mp4;base64," + base64.b64encode(clip).decode()
    assert (body["ratio"], body["duration"], body["audio"]) == ("720:1280", 6, True)
    assert [r["uri"][:22] for r in body["references"]] == [
        "data:image/png;base64,",
        "https://x/m.png",
    ]
    assert prepared.shown["promptVideo"].startswith("<data: URL, ")
    assert (prepared.size, prepared.seconds) == ("720x1280", "6")
    assert done.status == "completed"
    await adapter.aclose()


@pytest.mark.parametrize(
    ("model", "source", "over", "code"),
    [
        # gen4_aleph fetches its source from "A HTTPS URL" only.
        ("gen4_aleph", SourceVideo(data=b"\0\0\0\x18ftypmp42"), {}, "source_url_required"),
        ("aleph2", SourceVideo(data=bytes(13 * 1024 * 1024)), {}, "source_too_large"),
        ("aleph2", SourceVideo(url="http://cdn.example/in.mp4"), {}, "invalid_source"),
        ("aleph2", SourceVideo(upstream_id="task-1"), {}, "source_url_required"),
        ("aleph2", SourceVideo(url="https://x/a.mp4"), {"seconds": "5"}, "invalid_seconds"),
        ("gen4.5", SourceVideo(url="https://x/a.mp4"), {}, "unsupported_operation"),
        (
            "gemini_omni_flash",
            SourceVideo(url="https://x/a.mp4"),
            {"prompt": ""},
            "prompt_required",
        ),
        (
            "gen4_aleph",
            SourceVideo(url="https://x/a.mp4"),
            {"reference_images": [InputReference(image_url="https://x/1.png")] * 2},
            "too_many_reference_images",
        ),
    ],
)
def test_edits_runway_would_refuse_are_refused_before_the_call(
    mock: RunwayMock, model: str, source: SourceVideo, over: dict[str, Any], code: str
) -> None:
    adapter, _ = make_adapter("runway", mock.origin, KEY)
    with pytest.raises(GatewayError) as caught:
        prepared_for(adapter, edit(model, source, **over))
    assert caught.value.code == code
    assert mock.requests == []


def test_extensions_are_not_offered() -> None:
    adapter, _ = make_adapter("runway", "http://127.0.0.1:9", KEY)
    assert all("extend" not in spec.operations for spec in adapter.models.values())
    job = params("gen4.5", operation=Operation.EXTEND, source=SourceVideo(upstream_id="t"))
    with pytest.raises(GatewayError) as caught:
        prepared_for(adapter, job)
    assert caught.value.code == "unsupported_operation"


async def test_veo_first_and_last_frame_audio_and_negative_prompt(mock: RunwayMock) -> None:
    adapter, key = make_adapter("runway", mock.origin, KEY)
    job = params(
        "veo3.1",
        input_reference=InputReference(image_url="https://x/first.png"),
        last_frame=InputReference(data=image_bytes(), content_type="image/png"),
        generate_audio=False,
        negative_prompt="text, logos",
        seconds="4",
    )
    prepared, _, done = await run_job(adapter, key, job)
    body = sent(mock, "/v1/image_to_video")
    assert body["promptImage"][0] == {"uri": "https://x/first.png", "position": "first"}
    assert body["promptImage"][1]["position"] == "last"
    assert (body["audio"], body["negativePrompt"], body["duration"]) == (False, "text, logos", 4)
    assert prepared.shown["promptImage"][1]["uri"].startswith("<data: URL, ")
    assert done.status == "completed"
    await adapter.aclose()


@pytest.mark.parametrize(
    ("model", "over", "ratio"),
    [
        ("seedance2", {"aspect_ratio": "21:9", "resolution": "1080p"}, "2206:946"),
        ("seedance2", {"aspect_ratio": "16:9", "resolution": "4k"}, "3840:2160"),
        ("seedance2_fast", {"aspect_ratio": "1:1"}, "960:960"),  # 720p unless told
        ("gen4.5", {"aspect_ratio": "9:16"}, "720:1280"),
        ("veo3", {"resolution": "1080p"}, "1080:1920"),
    ],
)
async def test_aspect_ratio_and_resolution_pick_the_ratio(
    mock: RunwayMock, model: str, over: dict[str, Any], ratio: str
) -> None:
    adapter, key = make_adapter("runway", mock.origin, KEY)
    prepared, created, _ = await run_job(adapter, key, params(model, **over))
    assert prepared.body["ratio"] == ratio == sent(mock, "/v1/text_to_video")["ratio"]
    assert created.size == ratio.replace(":", "x")
    await adapter.aclose()


@pytest.mark.parametrize(
    ("model", "over", "code"),
    [
        (
            "gen4.5",
            {"last_frame": InputReference(image_url="https://x/l.png")},
            "unsupported_last_frame",
        ),
        ("gen4.5", {"generate_audio": True}, "unsupported_audio"),
        ("veo3.1", {"seed": 4}, "unsupported_seed"),
        ("gen4.5", {"negative_prompt": "blur"}, "unsupported_negative_prompt"),
        ("seedance2_mini", {"resolution": "1080p"}, "invalid_resolution"),
        ("gen4.5", {"fps": 24}, "unsupported_fps"),
        ("gen4.5", {"aspect_ratio": "4:3"}, "invalid_aspect_ratio"),  # 4:3 is image-only
        ("seedance2", {"seed": 1, "extra": {"seed": 2}}, "unsupported_seed"),
        (
            "gen4.5",
            {"aspect_ratio": "16:9", "extra": {"targetAspectRatio": "9:16"}},
            "invalid_parameter",
        ),
        (
            "seedance2",
            {
                "input_reference": InputReference(image_url="https://x/f.png"),
                "reference_images": [InputReference(image_url="https://x/r.png")],
            },
            "unsupported_reference_images",
        ),
    ],
)
def test_normalised_fields_a_model_cannot_take_are_refused(
    model: str, over: dict[str, Any], code: str
) -> None:
    adapter, _ = make_adapter("runway", "http://127.0.0.1:9", KEY)
    with pytest.raises(GatewayError) as caught:
        prepared_for(adapter, params(model, **over))
    assert caught.value.code == code


def test_catalogue_is_derived_from_the_wire_table() -> None:
    seedance = RunwayProvider.models["seedance2"]
    assert seedance.operations == {"create", "edit"}
    assert (seedance.min_seconds, seedance.max_seconds, seedance.max_reference_images) == (4, 15, 9)
    assert seedance.resolutions == ("480p", "720p", "1080p", "4k")
    assert RunwayProvider.models["aleph2"].operations == {"edit"}
    assert RunwayProvider.models["veo3.1"].last_frame and RunwayProvider.models["veo3.1"].audio
    assert not RunwayProvider.models["gen4_turbo"].last_frame


@pytest.mark.parametrize(
    "body",
    [
        {"model": "aleph2", "videoUri": "http://x/a.mp4"},
        {"model": "aleph2", "videoUri": "https://x/a.mp4", "duration": 5},
        {
            "model": "gen4_aleph",
            "videoUri": "data:video/mp4;base64,AAAAGGZ0eXA=",
            "promptText": "x",
        },
        {"model": "gen4.5", "videoUri": "https://x/a.mp4"},
        {"model": "seedance2", "videoUri": "https://x/a.mp4"},
        {"model": "aleph2", "videoUri": "https://x/a.mp4", "targetAspectRatio": "5:4"},
    ],
)
def test_mock_refuses_what_video_to_video_refuses(mock: RunwayMock, body: dict[str, Any]) -> None:
    resp = httpx.post(
        f"{mock.origin}/v1/video_to_video",
        json=body,
        headers={"Authorization": f"Bearer {KEY}", "X-Runway-Version": VERSION},
    )
    assert resp.status_code == 400, resp.text
