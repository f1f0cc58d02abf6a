"""The `dashscope` adapter (Wan 2.6/2.7/3.0) through the gateway, and its edit/extend and
normalised-field mappings at the adapter level, against the loopback DashScope mock."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from videogate.config import ConfigError, ProviderConfig, UpstreamKey
from videogate.errors import GatewayError
from videogate.providers.base import (
    CharacterRef,
    CreateParams,
    InputReference,
    Operation,
    SourceVideo,
    UpstreamVideo,
)
from videogate.providers.dashscope import DashScopeProvider

from .adapter_helpers import assert_gateway_refuses, assert_refused, run_to_end
from .conftest import GatewayHandle, assert_envelope
from .mocks.dashscope import DashScopeMock
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
)

KEY = "sk-dashscope-upstream-secret"
CREATE = "/video-synthesis"
SOURCE = "https://cdn.example.com/source.mp4"


@pytest.fixture
def mock() -> Iterator[DashScopeMock]:
    with DashScopeMock(api_key=KEY, queued_seconds=0.2, run_seconds=0.4) as m:
        yield m


def dashscope(mock: DashScopeMock, key: str = KEY, **over: Any) -> dict[str, Any]:
    return provider_config("dashscope", mock.url, key, **over)


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle], mock: DashScopeMock) -> GatewayHandle:
    return make_gateway(providers={"dashscope": dashscope(mock)})


def sent(mock: DashScopeMock) -> list[dict[str, Any]]:
    return sent_json(mock, "POST", CREATE)


def image(side: int = 320) -> bytes:
    return image_bytes((side, side))


def test_text_and_image_jobs_complete_and_download(gw: GatewayHandle, mock: DashScopeMock) -> None:
    client = gw.client()
    text = client.videos.create_and_poll(
        model="dashscope/wan2.6-t2v",
        prompt="a kitten under the moon",
        size="1280x720",
        seconds="10",
        extra_body={"prompt_extend": False, "seed": 7, "shot_type": "multi"},
    )
    assert text.status == "completed" and text.id.endswith(":dashscope"), text
    assert (text.size, text.seconds, text.progress) == ("1280x720", "10", 100)
    assert upstream_token(text.id, "dashscope") in mock.tasks
    assert sent(mock)[0] == {
        "model": "wan2.6-t2v",
        "input": {"prompt": "a kitten under the moon"},
        "parameters": {
            "seed": 7,
            "size": "1280*720",
            "duration": 10,
            "prompt_extend": False,  # multipart "false" back to JSON
            "shot_type": "multi",
        },
    }
    creates = mock.find_requests("POST", CREATE)
    assert all(r.headers["x-dashscope-async"] == "enable" for r in creates)
    api_calls = [r for r in mock.requests if not r.path.startswith("/oss/")]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in api_calls)

    png = image()
    uploaded = client.videos.create_and_poll(
        model="dashscope/wan2.6-i2v-flash",
        prompt="the cat runs",
        size="1920x1080",
        input_reference=("cat.png", png, "image/png"),
    )
    assert uploaded.status == "completed", uploaded
    assert sent(mock)[1]["input"]["img_url"] == (
        "data:image/png;base64," + base64.b64encode(png).decode()
    )
    assert sent(mock)[1]["parameters"] == {"resolution": "1080P"}  # the image sets the shape

    by_url = client.videos.create_and_poll(
        model="dashscope/wan2.7-i2v",
        prompt="zoom in",
        extra_body={"input_reference": {"image_url": "https://example.com/first.png"}},
    )
    assert by_url.status == "completed", by_url
    assert sent(mock)[2]["input"]["media"] == [
        {"type": "first_frame", "url": "https://example.com/first.png"}
    ]

    for video in (text, uploaded, by_url):
        body = client.videos.download_content(video.id)
        assert body.response.headers["content-type"] == "video/mp4"
        assert body.read() == mock.video_bytes()
    assert_fetched_without_credentials(mock, "/oss/")
    with gw.http() as http:
        assert_variants_missing(http, text.id, "thumbnail", "spritesheet")
        assert_remix_unsupported(http, text.id)
    assert_deleted_in_gateway_only(client, text.id)


def test_raw_request_summarises_uploads_and_hides_the_key(
    gw: GatewayHandle, mock: DashScopeMock
) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(image()).decode()
    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            json={
                "model": "dashscope/wan2.7-i2v",
                "prompt": "raw",
                "input_reference": {"image_url": data_url},
            },
            headers={"x-bf-send-back-raw-response": "true"},
        )
    assert resp.status_code == 200, resp.text
    fields = resp.json()["extra_fields"]
    assert fields["raw_request"]["input"]["media"][0]["url"].startswith("<")
    assert fields["raw_response"]["output"]["task_status"] == "PENDING"
    assert sent(mock)[0]["input"]["media"][0]["url"] == data_url
    assert KEY not in resp.text


def test_moderation_at_create_and_at_the_end(gw: GatewayHandle, mock: DashScopeMock) -> None:
    video = gw.client().videos.create_and_poll(
        model="dashscope/wan2.7-t2v", prompt="a moderation test"
    )
    assert video.status == "failed" and video.error is not None
    assert video.error.code == "moderation_blocked"
    assert "DataInspectionFailed" in video.error.message
    with gw.http() as http:
        env = assert_envelope(
            http.post(
                "/v1/videos", json={"model": "dashscope/wan2.7-t2v", "prompt": "forbidden words"}
            ),
            400,
            "moderation_blocked",
            bifrost=False,
        )
    assert "DashScope code DataInspectionFailed" in env["error"]["message"]


def test_a_task_dashscope_no_longer_knows_ends_expired(
    gw: GatewayHandle, mock: DashScopeMock
) -> None:
    client = gw.client()
    video = client.videos.create(model="dashscope/wan2.6-t2v", prompt="slow")
    mock.forget(upstream_token(video.id, "dashscope"))  # 24 h later, as far as DashScope knows
    ended = until_ended(client, video.id)
    assert ended.status == "failed" and ended.error is not None
    assert ended.error.code == "expired", ended.error
    assert "24 hours" in ended.error.message


def test_upstream_errors_are_relayed(
    make_gateway: Callable[..., GatewayHandle], mock: DashScopeMock
) -> None:
    gw = make_gateway(providers={"dashscope": dashscope(mock, breaker_threshold=100)})
    body = {"model": "dashscope/wan2.7-t2v", "prompt": "x"}
    with gw.http() as http:
        for status, dashscope_code, code in (
            (429, "Throttling.RateQuota", "rate_limit_exceeded"),
            (400, "Arrearage", "insufficient_balance"),
            (500, "InternalError", "upstream_internal_error"),
            (403, "AccessDenied.Unpurchased", "access_denied"),
        ):
            mock.fail_next(
                status,
                {"request_id": "r", "code": dashscope_code, "message": "nope"},
                path_contains=CREATE,
            )
            env = assert_envelope(http.post("/v1/videos", json=body), status, code, bifrost=False)
            assert f"DashScope code {dashscope_code}" in env["error"]["message"]
        mock.garbage_next(path_contains=CREATE)
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")
    assert mock.tasks == {}


def test_wrong_key_is_refused(
    make_gateway: Callable[..., GatewayHandle], mock: DashScopeMock
) -> None:
    gw = make_gateway(providers={"dashscope": dashscope(mock, key="sk-wrong")})
    env = assert_create_refused(gw, "dashscope/wan2.7-t2v", 401, "invalid_api_key", "sk-wrong")
    assert "InvalidApiKey" in env["error"]["message"]


def test_unsupported_requests_are_refused_before_any_upstream_call(
    gw: GatewayHandle, mock: DashScopeMock
) -> None:
    url = {"image_url": "https://example.com/a.png"}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"model": "wan2.6-t2v", "size": "999x999"}, "invalid_size", "1280x720"),
        ({"model": "wan2.6-t2v", "seconds": "20"}, "invalid_seconds", "2 to 15"),
        ({"model": "wan2.6-r2v", "seconds": "12"}, "invalid_seconds", "2 to 10"),
        ({"model": "wan2.6-t2v", "input_reference": url}, "unsupported_input_reference", "input"),
        ({"model": "wan2.6-i2v"}, "missing_input_reference", "input_reference"),
        ({"model": "wan2.6-r2v"}, "missing_input_reference", "reference_images"),
        ({"model": "wan2.7-videoedit"}, "unsupported_operation", "edit"),
        ({"model": "wan9-t2v"}, "unsupported_model", "wan2.6-t2v"),
        ({"model": "wan2.7-t2v", "resolution": "720P"}, "invalid_parameter", "size"),
        ({"model": "wan2.7-t2v", "prompt": "p" * 5001}, "prompt_too_long", "5000"),
        ({"model": "wan2.7-t2v", "prompt_extend": "maybe"}, "invalid_parameter", "true or false"),
    ]
    with gw.http() as http:
        assert_gateway_refuses(http, "dashscope", cases)
        tiny = http.post(
            "/v1/videos",
            data={"model": "dashscope/wan2.6-i2v", "prompt": "x"},
            files={"input_reference": ("a.png", image(100), "image/png")},
        )
        env = assert_envelope(tiny, 400, "invalid_input_reference")
        assert "240px" in env["error"]["message"]
    assert mock.requests == []


# -- adapter level: edit, extend and the normalised fields ---------------------------------
@pytest.fixture
def provider(mock: DashScopeMock) -> Iterator[DashScopeProvider]:
    config = ProviderConfig(
        type="dashscope", base_url=mock.url, keys=[UpstreamKey(name="main", value=KEY)]
    )
    yield DashScopeProvider("dashscope", config)


async def test_edit_maps_to_videoedit_with_the_source_url(
    provider: DashScopeProvider, mock: DashScopeMock
) -> None:
    params = CreateParams(
        model="wan2.7-videoedit",
        prompt="make it claymation",
        operation=Operation.EDIT,
        source=SourceVideo(url=SOURCE, seconds=6),
        reference_images=[InputReference(image_url="https://example.com/style.png")],
        resolution="720p",
    )
    prepared = provider.prepare(params)
    assert prepared.seconds == "6"  # no duration: the source's length
    video = await run_to_end(provider, params)
    assert video.status == "completed", video
    assert sent(mock)[0] == {
        "model": "wan2.7-videoedit",
        "input": {
            "prompt": "make it claymation",
            "media": [
                {"type": "video", "url": SOURCE},
                {"type": "reference_image", "url": "https://example.com/style.png"},
            ],
        },
        "parameters": {"resolution": "720P"},
    }


async def test_extend_continues_a_first_clip(
    provider: DashScopeProvider, mock: DashScopeMock
) -> None:
    params = CreateParams(
        model="wan2.7-i2v",
        prompt="and then it flies",
        seconds="8",
        operation=Operation.EXTEND,
        source=SourceVideo(url=SOURCE, seconds=5),
        last_frame=InputReference(image_url="https://example.com/end.png"),
    )
    assert (await run_to_end(provider, params)).status == "completed"
    assert sent(mock)[0]["input"]["media"] == [
        {"type": "first_clip", "url": SOURCE},
        {"type": "last_frame", "url": "https://example.com/end.png"},
    ]
    assert sent(mock)[0]["parameters"] == {"duration": 8}


async def test_normalised_fields_map_onto_wan_parameters(
    provider: DashScopeProvider, mock: DashScopeMock
) -> None:
    params = CreateParams(
        model="wan2.7-t2v",
        prompt="rain on a window",
        negative_prompt="blurry",
        seed=42,
        generate_audio=False,
        aspect_ratio="9:16",
        resolution="720p",
        seconds="4",
    )
    prepared = provider.prepare(params)
    assert (prepared.size, prepared.seconds) == ("720x1280", "4")
    assert (await run_to_end(provider, params)).status == "completed"
    assert sent(mock)[0] == {
        "model": "wan2.7-t2v",
        "input": {"prompt": "rain on a window", "negative_prompt": "blurry"},
        "parameters": {
            "audio": False,
            "seed": 42,
            "resolution": "720P",
            "ratio": "9:16",
            "duration": 4,
        },
    }


async def test_references_and_characters_become_reference_urls(
    provider: DashScopeProvider, mock: DashScopeMock
) -> None:
    png = image()
    params = CreateParams(
        model="wan2.6-r2v-flash",
        prompt="character1 waves at character2",
        reference_images=[InputReference(image_url="https://example.com/a.png")],
        characters=[
            CharacterRef(id="char_1", name="Mia", image=InputReference(data=png)),
            CharacterRef(id="char_2", name="No still"),  # left to the prompt
        ],
        aspect_ratio="1:1",
    )
    assert (await run_to_end(provider, params)).status == "completed"
    body = sent(mock)[0]
    assert body["input"]["reference_urls"] == [
        "https://example.com/a.png",
        "data:image/png;base64," + base64.b64encode(png).decode(),
    ]
    assert body["parameters"]["size"] == "1440*1440"  # 1080p is 2.6's default tier


def test_what_the_models_do_not_take_is_refused(provider: DashScopeProvider) -> None:
    frame = InputReference(image_url="https://example.com/f.png")
    cases: list[tuple[CreateParams, str]] = [
        (CreateParams(model="wan2.6-t2v", prompt="x", fps=30), "unsupported_fps"),
        (CreateParams(model="wan2.6-i2v", prompt="x", last_frame=frame), "unsupported_last_frame"),
        (
            CreateParams(
                model="wan2.6-i2v", prompt="x", input_reference=frame, aspect_ratio="9:16"
            ),
            "invalid_aspect_ratio",
        ),
        (
            CreateParams(model="wan2.7-t2v", prompt="x", size="1280x720", resolution="1080p"),
            "invalid_parameter",
        ),
        (
            CreateParams(
                model="wan2.7-i2v",
                prompt="x",
                operation=Operation.EXTEND,
                source=SourceVideo(upstream_id="abc"),
            ),
            "unsupported_source",
        ),
        (
            CreateParams(
                model="wan2.7-i2v",
                prompt="x",
                operation=Operation.EXTEND,
                source=SourceVideo(url=SOURCE),
                input_reference=frame,
            ),
            "invalid_input_reference",
        ),
        (
            CreateParams(
                model="wan2.7-t2v", prompt="x", negative_prompt="a", extra={"negative_prompt": "b"}
            ),
            "invalid_parameter",
        ),
    ]
    assert_refused(provider, cases)


def test_regions_pick_the_api_root() -> None:
    def base(options: dict[str, Any], key: dict[str, Any], base_url: str | None = None) -> str:
        config = ProviderConfig(
            type="dashscope", base_url=base_url, options=options, keys=[UpstreamKey(**key)]
        )
        return DashScopeProvider("d", config)._base(config.keys[0])

    assert base({}, {}) == "https://dashscope-intl.aliyuncs.com"
    assert base({"region": "beijing"}, {}) == "https://dashscope.aliyuncs.com"
    assert base({"region": "beijing"}, {"extra": {"region": "virginia"}}) == (
        "https://dashscope-us.aliyuncs.com"
    )
    assert base({"region": "beijing"}, {}, "https://proxy.example/") == "https://proxy.example"
    assert base({}, {"base_url": "https://k.example"}) == "https://k.example"
    with pytest.raises(ConfigError, match="known: ap-southeast-1, beijing"):
        base({"region": "mars"}, {})


def test_ended_tasks_without_a_code_keep_their_reason(provider: DashScopeProvider) -> None:
    def ended(status: str, **output: Any) -> UpstreamVideo:
        return provider.to_video({"output": {"task_id": "t", "task_status": status, **output}})

    cancelled = ended("CANCELED")
    assert (cancelled.status, cancelled.error) == (
        "failed",
        {"code": "cancelled", "message": "The task was cancelled on DashScope."},
    )
    unexplained = ended("FAILED")
    assert unexplained.error is not None and unexplained.error["code"] == "generation_failed"
    internal = ended("FAILED", code="InternalError.Timeout", message="took too long")
    assert internal.error == {
        "code": "internal_error",
        "message": "took too long (InternalError.Timeout)",
    }
    running = ended("RUNNING")
    assert (running.status, running.progress, running.completed_at) == ("in_progress", 0, None)
    with pytest.raises(GatewayError) as caught:
        provider.to_video({"request_id": "r"})
    assert (caught.value.status, caught.value.code) == (502, "upstream_bad_response")
