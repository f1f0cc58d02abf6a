"""The `openrouter` adapter through the gateway (openai SDK), against the loopback OpenRouter
video mock; normalised fields at the adapter level."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from videogate.config import ProviderConfig, UpstreamKey
from videogate.errors import GatewayError
from videogate.providers.base import CallContext, CreateParams, InputReference, Operation
from videogate.providers.openrouter import OpenRouterProvider, failure_code
from videogate.providers.specs import check_spec

from .conftest import GatewayHandle, assert_envelope
from .mocks.openrouter import OpenRouterMock
from .provider_helpers import (
    assert_create_refused,
    assert_deleted_in_gateway_only,
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

KEY = "sk-or-v1-" + "a" * 64
MODEL = "openrouter/bytedance/seedance-2.0"


@pytest.fixture
def mock() -> Iterator[OpenRouterMock]:
    with OpenRouterMock(KEY, queued_seconds=0.3, run_seconds=0.8) as m:
        yield m


def openrouter(mock: OpenRouterMock, **over: Any) -> dict[str, Any]:
    return provider_config("openrouter", mock.origin + "/api", "env.VG_TEST_OPENROUTER_KEY", **over)


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenRouterMock,
    monkeypatch: pytest.MonkeyPatch,
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_OPENROUTER_KEY", KEY)
    return make_gateway(
        providers={"openrouter": openrouter(mock, options={"app_title": "videogate tests"})}
    )


def test_lifecycle_with_content_through_the_proxy(gw: GatewayHandle, mock: OpenRouterMock) -> None:
    client = gw.client()
    video = client.videos.create(model=MODEL, prompt="a red kite", seconds="5", size="1280x720")
    assert (video.status, video.seconds, video.size) == ("queued", "5", "1280x720")
    req = mock.find_requests("POST", "/api/v1/videos")[0]
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["x-openrouter-title"] == "videogate tests"
    assert sent_json(mock, "POST", "/api/v1/videos")[0] == {
        "model": "bytedance/seedance-2.0",
        "prompt": "a red kite",
        "duration": 5,
        "size": "1280x720",
    }
    seen: list[str] = []

    def finished() -> bool:
        seen.append(client.videos.retrieve(video.id).status)
        return seen[-1] in ("completed", "failed")

    wait_for(finished)
    assert seen[-1] == "completed" and "in_progress" in seen and seen[0] == "queued"
    content = client.videos.download_content(video.id)
    assert content.response.headers["content-type"] == "video/mp4"
    assert content.read() == mock.video()
    fetched = mock.find_requests("GET", "/content")
    assert fetched and fetched[-1].headers["authorization"] == f"Bearer {KEY}"
    assert fetched[-1].path.endswith("/content?index=0")
    with gw.http() as http:
        assert_variants_missing(http, video.id, "thumbnail")
        assert_remix_unsupported(http, video.id)
    assert_deleted_in_gateway_only(client, video.id)


def test_content_redirect_goes_to_storage_without_the_key(
    make_gateway: Callable[..., GatewayHandle], mock: OpenRouterMock
) -> None:
    mock.redirect_content = True
    gw = make_gateway(
        providers={"openrouter": openrouter(mock, keys=[{"value": KEY}])}, assets={"mirror": False}
    )
    client = gw.client()
    video = client.videos.create_and_poll(model=MODEL, prompt="x", seconds="4")
    assert client.videos.download_content(video.id).read() == mock.video()
    assert_fetched_without_credentials(mock, "/_storage/")


def test_first_frame_upload_and_url(gw: GatewayHandle, mock: OpenRouterMock) -> None:
    image = image_bytes(color=(1, 2, 250))
    video = gw.client().videos.create(
        model=MODEL,
        prompt="the sea moves",
        input_reference=("sea.png", image, "image/png"),
        extra_headers={"x-bf-send-back-raw-request": "true"},
    )
    frames = sent_json(mock, "POST", "/api/v1/videos")[-1]["frame_images"]
    assert frames == [
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64," + base64.b64encode(image).decode()},
            "frame_type": "first_frame",
        }
    ]
    raw = video.model_dump()["extra_fields"]["raw_request"]
    assert raw["frame_images"][0]["image_url"]["url"].startswith("<data: URL, ")
    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            json={
                "model": "openrouter/google/veo-3.1",
                "prompt": "x",
                "seconds": "8",
                "input_reference": {"image_url": "https://example.com/a.jpg"},
            },
        )
    assert resp.status_code == 200, resp.text
    assert until_ended(gw.client(), resp.json()["id"]).status == "completed"


def test_failures_are_mapped(gw: GatewayHandle, mock: OpenRouterMock) -> None:
    client = gw.client()
    failed = client.videos.create_and_poll(model=MODEL, prompt="moderation please", seconds="4")
    assert failed.status == "failed" and failed.error is not None
    assert (failed.error.code, failed.error.message) == (
        "moderation_blocked",
        "Content policy violation",
    )
    mock.run_seconds = 30.0
    video = client.videos.create(model=MODEL, prompt="slow", seconds="4")
    mock.set_status(upstream_token(video.id, "openrouter"), "expired")
    assert until_ended(client, video.id).error.code == "expired"


def test_upstream_errors_are_relayed(gw: GatewayHandle, mock: OpenRouterMock) -> None:
    body = {"model": MODEL, "prompt": "x", "seconds": "4"}
    with gw.http() as http:
        mock.fail_next(402, {"error": {"code": 402, "message": "Insufficient credits"}})
        env = assert_envelope(
            http.post("/v1/videos", json=body), 402, "upstream_402", bifrost=False
        )
        assert env["error"]["message"] == "Insufficient credits"
        mock.fail_next(429, headers={"Retry-After": "9"}, path_contains="/api/v1/videos")
        resp = http.post("/v1/videos", json=body)
        assert_envelope(resp, 429, "upstream_429", bifrost=False)
        assert resp.headers["retry-after"] == "9"
        # What the model cannot do is OpenRouter's to refuse for models the gateway does not
        # know in detail (wan-2.6 renders 5, 10 or 15 s): relayed as OpenRouter's 400.
        resp = http.post("/v1/videos", json={**body, "model": "openrouter/alibaba/wan-2.6"})
        env = assert_envelope(resp, 400, "upstream_400", bifrost=False)
        assert "duration must be one of [5, 10, 15]" in env["error"]["message"]
        mock.garbage_next(path_contains="/api/v1/videos")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")
    mock.fail_next(500, path_contains="/api/v1/videos/", method="GET", count=2)
    assert gw.client().videos.create_and_poll(**body).status == "completed"


def test_wrong_key_is_relayed_without_leaking_it(
    make_gateway: Callable[..., GatewayHandle], mock: OpenRouterMock
) -> None:
    gw = make_gateway(providers={"openrouter": openrouter(mock, keys=[{"value": "sk-or-bad"}])})
    env = assert_create_refused(gw, MODEL, 401, "upstream_401", "sk-or-bad")
    assert env["error"]["message"] == "User not found."


@pytest.mark.parametrize(
    ("over", "code", "param"),
    [
        ({"seconds": "3"}, "invalid_seconds", "seconds"),
        ({"model": "openrouter/google/veo-3.1", "seconds": "5"}, "invalid_seconds", "seconds"),
        ({"seconds": "4.5"}, "invalid_seconds", "seconds"),
        ({"duration": 5}, "invalid_parameter", "duration"),
        ({"frame_images": []}, "invalid_parameter", "frame_images"),
        ({"provider": "google"}, "invalid_parameter", "provider"),
    ],
)
def test_invalid_requests_never_reach_openrouter(
    gw: GatewayHandle, mock: OpenRouterMock, over: dict[str, Any], code: str, param: str
) -> None:
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": MODEL, "prompt": "x", **over})
    assert assert_envelope(resp, 400, code)["error"]["param"] == param
    assert mock.requests == []


# -- adapter level ---------------------------------------------------------------------------


@pytest.fixture
async def adapter(mock: OpenRouterMock) -> AsyncIterator[OpenRouterProvider]:
    provider = OpenRouterProvider(
        "openrouter", ProviderConfig(type="openrouter", base_url=mock.origin + "/api")
    )
    yield provider
    await provider.aclose()


async def test_normalised_fields_are_mapped(
    adapter: OpenRouterProvider, mock: OpenRouterMock
) -> None:
    p = CreateParams(
        model="google/veo-3.1",
        prompt="a fox",
        seconds="6",
        resolution="1080p",
        aspect_ratio="9:16",
        generate_audio=False,
        seed=11,
        input_reference=InputReference(image_url="https://example.com/first.png"),
        last_frame=InputReference(data=image_bytes(), content_type="image/png"),
        extra={"provider": {"options": {"google-vertex": {"parameters": {"enhancePrompt": True}}}}},
    )
    check_spec(adapter.spec(p.model), p)
    prepared = adapter.prepare(p)
    assert (prepared.size, prepared.seconds) == ("1080x1920", "6")
    job = await adapter.create(prepared, UpstreamKey(name="k", value=KEY), CallContext())
    assert job.status == "queued"
    body = sent_json(mock, "POST", "/api/v1/videos")[-1]
    assert {
        k: body[k] for k in ("duration", "resolution", "aspect_ratio", "generate_audio", "seed")
    } == {
        "duration": 6,
        "resolution": "1080p",
        "aspect_ratio": "9:16",
        "generate_audio": False,
        "seed": 11,
    }
    assert [f["frame_type"] for f in body["frame_images"]] == ["first_frame", "last_frame"]
    assert body["provider"]["options"]["google-vertex"]["parameters"] == {"enhancePrompt": True}


async def test_reference_images_become_input_references(
    adapter: OpenRouterProvider, mock: OpenRouterMock
) -> None:
    refs = [InputReference(image_url="https://example.com/r.png")] * 2
    p = CreateParams(model="bytedance/seedance-2.0", prompt="x", seconds="4", reference_images=refs)
    check_spec(adapter.spec(p.model), p)
    await adapter.create(adapter.prepare(p), UpstreamKey(name="k", value=KEY), CallContext())
    assert (
        sent_json(mock, "POST", "/api/v1/videos")[-1]["input_references"]
        == [{"type": "image_url", "image_url": {"url": "https://example.com/r.png"}}] * 2
    )


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"model": "google/veo-3.1", "resolution": "480p"}, "invalid_resolution"),
        ({"model": "google/veo-3.1", "aspect_ratio": "1:1"}, "invalid_aspect_ratio"),
        (
            {"model": "google/veo-3.1", "reference_images": [InputReference(image_url="u")] * 4},
            "too_many_reference_images",
        ),
        ({"negative_prompt": "blur"}, "unsupported_negative_prompt"),
        ({"n": 2}, "invalid_n"),
        ({"operation": Operation.EXTEND}, "unsupported_operation"),
        ({"aspect_ratio": "5:4"}, "invalid_aspect_ratio"),
    ],
)
def test_model_table_refuses(adapter: OpenRouterProvider, over: dict[str, Any], code: str) -> None:
    p = CreateParams(**{"model": "some/new-model", "prompt": "x", **over})
    with pytest.raises(GatewayError) as caught:
        check_spec(adapter.spec(p.model), p)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"fps": 24}, "unsupported_fps"),
        ({"size": "1280x720", "resolution": "720p"}, "invalid_parameter"),
        (
            {
                "input_reference": InputReference(image_url="https://e/a.png"),
                "reference_images": [InputReference(image_url="https://e/b.png")],
            },
            "invalid_parameter",
        ),
        ({"operation": Operation.EDIT}, "unsupported_operation"),
        ({"input_reference": InputReference(file_id="file_1")}, "unsupported_input_reference"),
    ],
)
def test_prepare_refuses(adapter: OpenRouterProvider, over: dict[str, Any], code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        adapter.prepare(CreateParams(**{"model": "m/x", "prompt": "x", **over}))
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        ("failed", "Content policy violation", "moderation_blocked"),
        ("failed", "Upstream provider error", "internal_error"),
        ("failed", None, "generation_failed"),
        ("cancelled", "Job was cancelled", "cancelled"),
        ("expired", "Job exceeded maximum time to live", "expired"),
    ],
)
def test_failure_codes(status: str, error: str | None, expected: str) -> None:
    assert failure_code(status, error) == expected
    adapter = OpenRouterProvider("openrouter", ProviderConfig(type="openrouter"))
    video = adapter.to_video({"id": "j", "polling_url": "/x", "status": status, "error": error})
    assert video.status == "failed" and (video.error or {})["code"] == expected
