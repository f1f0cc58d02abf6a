"""The `minimax_h3` adapter (MiniMax H3 / H3-Max, v2 API) through the gateway, and its
content[] mapping (keyframes, references, an edit's source) at the adapter level."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from videogate.config import ProviderConfig, UpstreamKey
from videogate.providers.base import (
    CharacterRef,
    CreateParams,
    InputReference,
    Operation,
    SourceVideo,
)
from videogate.providers.minimax_h3 import MiniMaxH3Provider

from .adapter_helpers import assert_gateway_refuses, assert_refused, run_to_end
from .conftest import GatewayHandle, assert_envelope
from .mocks.minimax_h3 import MiniMaxH3Mock
from .provider_helpers import (
    assert_coded_errors,
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

KEY = "mm-h3-upstream-secret"
CREATE = "/v2/video_generation"
FIRST = "https://example.com/first.png"
CLIP = "https://example.com/clip.mp4"


@pytest.fixture
def mock() -> Iterator[MiniMaxH3Mock]:
    with MiniMaxH3Mock(api_key=KEY, queued_seconds=0.2, run_seconds=0.4) as m:
        yield m


def h3(mock: MiniMaxH3Mock, key: str = KEY, **over: Any) -> dict[str, Any]:
    return provider_config("minimax_h3", mock.url, key, **over)


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle], mock: MiniMaxH3Mock) -> GatewayHandle:
    return make_gateway(providers={"h3": h3(mock)})


def sent(mock: MiniMaxH3Mock) -> list[dict[str, Any]]:
    return sent_json(mock, "POST", CREATE)


def test_text_and_image_jobs_complete_and_download(gw: GatewayHandle, mock: MiniMaxH3Mock) -> None:
    client = gw.client()
    text = client.videos.create_and_poll(
        model="h3/MiniMax-H3",
        prompt="two friends on a rooftop after rain",
        size="2560x1440",
        seconds="6",
        extra_body={"aigc_watermark": False},
    )
    assert text.status == "completed" and text.id.endswith(":h3"), text
    assert (text.seconds, text.progress) == ("6", 100)
    assert upstream_token(text.id, "h3") in mock.h3_tasks
    assert sent(mock)[0] == {
        "model": "MiniMax-H3",
        "resolution": "2K",
        "ratio": "16:9",
        "duration": 6,
        "aigc_watermark": False,  # multipart "false" back to JSON
        "content": [{"type": "text", "text": "two friends on a rooftop after rain"}],
    }
    api = [r for r in mock.requests if not r.path.startswith("/cdn/")]
    assert api and all(r.headers["authorization"] == f"Bearer {KEY}" for r in api)

    png = image_bytes((320, 320))
    uploaded = client.videos.create_and_poll(
        model="h3/MiniMax-H3-Max",
        prompt="she turns around",
        input_reference=("a.png", png, "image/png"),
    )
    assert uploaded.status == "completed", uploaded
    body = sent(mock)[1]
    assert body["ratio"] == "adaptive"  # the keyframe sets the shape
    assert body["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
        "role": "first_frame",
    }

    for video in (text, uploaded):
        content = client.videos.download_content(video.id)
        assert content.response.headers["content-type"] == "video/mp4"
        assert content.read() == mock.video_bytes()
    assert_fetched_without_credentials(mock, "/cdn/v2/")
    with gw.http() as http:
        assert_variants_missing(http, text.id, "thumbnail")
        assert_remix_unsupported(http, text.id)
    assert_deleted_in_gateway_only(client, text.id)


def test_moderated_and_cancelled_tasks_fail_with_their_reason(
    gw: GatewayHandle, mock: MiniMaxH3Mock
) -> None:
    client = gw.client()
    moderated = client.videos.create_and_poll(model="h3/MiniMax-H3", prompt="a moderation test")
    assert moderated.status == "failed" and moderated.error is not None
    assert moderated.error.code == "moderation_blocked"
    assert "1027" in moderated.error.message
    cancelled = client.videos.create_and_poll(model="h3/MiniMax-H3", prompt="please cancelme")
    assert cancelled.status == "failed" and cancelled.error is not None
    assert cancelled.error.code == "cancelled"


def test_errors_inside_200_bodies_are_relayed_with_mapped_status(
    make_gateway: Callable[..., GatewayHandle], mock: MiniMaxH3Mock
) -> None:
    gw = make_gateway(providers={"h3": h3(mock, breaker_threshold=100)})
    body = {"model": "h3/MiniMax-H3", "prompt": "x"}
    cases = [
        (1008, 402, "insufficient_balance"),
        (1002, 429, "rate_limit_exceeded"),
        (2013, 400, "invalid_parameter"),
        (4242, 502, "minimax_error_4242"),
    ]
    with gw.http() as http:
        assert_coded_errors(
            http,
            mock,
            body,
            cases,
            lambda n: {"task_id": "", "base_resp": {"status_code": n, "status_msg": "nope"}},
            path_contains=CREATE,
            vendor="MiniMax",
        )
        env = assert_envelope(
            http.post("/v1/videos", json={**body, "prompt": "forbidden scene"}),
            422,
            "moderation_blocked",
            bifrost=False,
        )
        assert "1026" in env["error"]["message"]
    assert mock.h3_tasks == {}


def test_query_errors_are_retried_until_the_job_ends(
    gw: GatewayHandle, mock: MiniMaxH3Mock
) -> None:
    client = gw.client()
    video = client.videos.create(model="h3/MiniMax-H3", prompt="patience")
    mock.fail_next(
        200,
        {"base_resp": {"status_code": 1002, "status_msg": "rate limit"}},
        count=2,
        path_contains="/v2/query/",
    )
    assert until_ended(client, video.id).status == "completed"


def test_wrong_key_is_refused(
    make_gateway: Callable[..., GatewayHandle], mock: MiniMaxH3Mock
) -> None:
    gw = make_gateway(providers={"h3": h3(mock, key="mm-wrong")})
    env = assert_create_refused(gw, "h3/MiniMax-H3", 401, "invalid_api_key", "mm-wrong")
    assert "1004" in env["error"]["message"]


def test_unsupported_requests_are_refused_before_any_upstream_call(
    gw: GatewayHandle, mock: MiniMaxH3Mock
) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"model": "MiniMax-H3", "seconds": "3"}, "invalid_seconds", "4 to 15"),
        ({"model": "MiniMax-H3", "seconds": "16"}, "invalid_seconds", "4 to 15"),
        ({"model": "MiniMax-H3", "size": "1280x720"}, "invalid_size", "768 (768P)"),
        ({"model": "MiniMax-H3", "ratio": "adaptive"}, "invalid_parameter", "size"),
        ({"model": "MiniMax-H3", "reference_videos": [CLIP] * 4}, "too_many_reference_media", "3"),
        (
            {"model": "MiniMax-H3", "reference_audios": ["https://example.com/a.mp3"]},
            "invalid_parameter",
            "beside",
        ),
        (
            {
                "model": "MiniMax-H3",
                "input_reference": {"image_url": FIRST},
                "reference_videos": [CLIP],
            },
            "invalid_input_reference",
            "not both",
        ),
        ({"model": "MiniMax-H3", "prompt": "p" * 7001}, "prompt_too_long", "7000"),
    ]
    with gw.http() as http:
        assert_gateway_refuses(http, "h3", cases)
    assert mock.requests == []


# -- adapter level: keyframes, references, characters, edit --------------------------------
@pytest.fixture
def provider(mock: MiniMaxH3Mock) -> MiniMaxH3Provider:
    config = ProviderConfig(type="minimax_h3", base_url=mock.url, keys=[UpstreamKey(value=KEY)])
    return MiniMaxH3Provider("h3", config)


async def test_first_and_last_frame_are_keyframes(
    provider: MiniMaxH3Provider, mock: MiniMaxH3Mock
) -> None:
    params = CreateParams(
        model="MiniMax-H3",
        prompt="from dawn to dusk",
        resolution="768p",
        aspect_ratio="9:16",
        input_reference=InputReference(image_url=FIRST),
        last_frame=InputReference(image_url="https://example.com/last.png"),
    )
    assert (await run_to_end(provider, params)).status == "completed"
    body = sent(mock)[0]
    assert (body["resolution"], body["ratio"]) == ("768P", "9:16")
    assert [(c["type"], c.get("role")) for c in body["content"]] == [
        ("text", None),
        ("image_url", "first_frame"),
        ("image_url", "last_frame"),
    ]


async def test_references_characters_and_media_extras(
    provider: MiniMaxH3Provider, mock: MiniMaxH3Mock
) -> None:
    png = image_bytes((320, 320))
    params = CreateParams(
        model="MiniMax-H3",
        prompt="<Image 1> meets Mia; <Video 1> sets the pace",
        generate_audio=True,
        reference_images=[InputReference(image_url=FIRST)],
        characters=[CharacterRef(id="char_1", name="Mia", image=InputReference(data=png))],
        extra={"reference_videos": [CLIP], "reference_audios": ["https://example.com/v.mp3"]},
    )
    assert (await run_to_end(provider, params)).status == "completed"
    assert sent(mock)[0]["content"][1:] == [
        {"type": "image_url", "image_url": {"url": FIRST}, "role": "reference_image"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
            "role": "reference_image",
        },
        {"type": "video_url", "video_url": {"url": CLIP}, "role": "reference_video"},
        {
            "type": "audio_url",
            "audio_url": {"url": "https://example.com/v.mp3"},
            "role": "reference_audio",
        },
    ]


async def test_edit_sends_the_source_as_a_reference_video(
    provider: MiniMaxH3Provider, mock: MiniMaxH3Mock
) -> None:
    params = CreateParams(
        model="MiniMax-H3",
        prompt="replace the sky with a storm",
        seconds="5",
        operation=Operation.EDIT,
        source=SourceVideo(url=CLIP, seconds=5),
    )
    assert (await run_to_end(provider, params)).status == "completed"
    assert sent(mock)[0]["content"][1] == {
        "type": "video_url",
        "video_url": {"url": CLIP},
        "role": "reference_video",
    }


def test_what_h3_does_not_take_is_refused(provider: MiniMaxH3Provider) -> None:
    frame = InputReference(image_url=FIRST)
    cases: list[tuple[CreateParams, str]] = [
        (CreateParams(model="MiniMax-H3", prompt="x", generate_audio=False), "unsupported_audio"),
        (CreateParams(model="MiniMax-H3", prompt="x", seed=1), "unsupported_seed"),
        (
            CreateParams(model="MiniMax-H3", prompt="x", negative_prompt="no"),
            "unsupported_negative_prompt",
        ),
        (CreateParams(model="MiniMax-H3", prompt="x", fps=24), "unsupported_fps"),
        (CreateParams(model="MiniMax-H3-Max", prompt="x", resolution="2k"), "invalid_resolution"),
        (
            CreateParams(
                model="MiniMax-H3", prompt="x", input_reference=frame, reference_images=[frame]
            ),
            "invalid_input_reference",
        ),
        (
            CreateParams(
                model="MiniMax-H3",
                prompt="x",
                operation=Operation.EXTEND,
                source=SourceVideo(url=CLIP),
            ),
            "unsupported_operation",
        ),
        (
            CreateParams(
                model="MiniMax-H3",
                prompt="x",
                operation=Operation.EDIT,
                source=SourceVideo(upstream_id="123"),
            ),
            "unsupported_source",
        ),
    ]
    assert_refused(provider, cases)
