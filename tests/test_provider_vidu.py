"""The `vidu` adapter through the gateway, and its frame/reference/character mappings at the
adapter level, against the loopback Vidu enterprise-API mock."""

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
)
from videogate.providers.vidu import ViduProvider

from .adapter_helpers import assert_gateway_refuses, assert_refused, run_to_end
from .conftest import GatewayHandle, assert_envelope
from .mocks.vidu import ViduMock
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

KEY = "vidu-upstream-secret-123"
FIRST = "https://example.com/first.png"
LAST = "https://example.com/last.png"


@pytest.fixture
def mock() -> Iterator[ViduMock]:
    with ViduMock(api_key=KEY, queued_seconds=0.2, run_seconds=0.4) as m:
        yield m


def vidu(mock: ViduMock, key: str = KEY, **over: Any) -> dict[str, Any]:
    return provider_config("vidu", mock.url, key, **over)


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle], mock: ViduMock) -> GatewayHandle:
    return make_gateway(providers={"vidu": vidu(mock)})


def sent(mock: ViduMock, endpoint: str) -> list[dict[str, Any]]:
    return sent_json(mock, "POST", f"/ent/v2/{endpoint}")


def image(side: int = 320) -> bytes:
    return image_bytes((side, side))


def test_text_and_image_jobs_complete_and_download(gw: GatewayHandle, mock: ViduMock) -> None:
    client = gw.client()
    text = client.videos.create_and_poll(
        model="vidu/viduq2",
        prompt="an astronaut in fog",
        size="1280x720",
        seconds="8",
        extra_body={"bgm": True, "seed": 3},
    )
    assert text.status == "completed" and text.id.endswith(":vidu"), text
    assert (text.size, text.seconds, text.progress) == ("1280x720", "8", 100)
    assert upstream_token(text.id, "vidu") in mock.tasks
    assert sent(mock, "text2video")[0] == {
        "model": "viduq2",
        "prompt": "an astronaut in fog",
        "seed": 3,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "duration": 8,
        "bgm": True,  # multipart "true" back to JSON
    }
    api = [r for r in mock.requests if not r.path.startswith("/cdn/")]
    assert api and all(r.headers["authorization"] == f"Token {KEY}" for r in api)

    png = image()
    uploaded = client.videos.create_and_poll(
        model="vidu/viduq2-pro",
        prompt="the astronaut waves",
        input_reference=("a.png", png, "image/png"),
        extra_body={"audio": True, "movement_amplitude": "small"},
    )
    assert uploaded.status == "completed", uploaded
    assert uploaded.seconds == "5"  # the model's default duration
    body = sent(mock, "img2video")[0]
    assert body["images"] == ["data:image/png;base64," + base64.b64encode(png).decode()]
    assert (body["audio"], body["movement_amplitude"]) == (True, "small")
    assert "aspect_ratio" not in body  # the image sets it

    for video in (text, uploaded):
        content = client.videos.download_content(video.id)
        assert content.response.headers["content-type"] == "video/mp4"
        assert content.read() == mock.media()[0]
        cover = client.videos.download_content(video.id, variant="thumbnail")
        assert cover.read() == mock.media()[1]
    assert_fetched_without_credentials(mock, "/cdn/")
    with gw.http() as http:
        assert_variants_missing(http, text.id, "spritesheet")
        assert_remix_unsupported(http, text.id)
    assert_deleted_in_gateway_only(client, text.id)


def test_moderation_at_create_and_at_the_end(gw: GatewayHandle, mock: ViduMock) -> None:
    video = gw.client().videos.create_and_poll(model="vidu/viduq1", prompt="a moderation test")
    assert video.status == "failed" and video.error is not None
    assert video.error.code == "moderation_blocked"
    assert "CreationPolicyViolation" in video.error.message
    with gw.http() as http:
        env = assert_envelope(
            http.post("/v1/videos", json={"model": "vidu/viduq1", "prompt": "forbidden"}),
            400,
            "moderation_blocked",
            bifrost=False,
        )
    assert "Vidu reason TaskPromptPolicyViolation" in env["error"]["message"]


def test_upstream_errors_are_relayed(
    make_gateway: Callable[..., GatewayHandle], mock: ViduMock
) -> None:
    gw = make_gateway(providers={"vidu": vidu(mock, breaker_threshold=100)})
    body = {"model": "vidu/viduq2", "prompt": "x"}
    with gw.http() as http:
        for status, reason, code in (
            (403, "CreditInsufficient", "insufficient_balance"),
            (429, "TooManyRequests", "rate_limit_exceeded"),
            (400, "SomethingNew", "SomethingNew"),
        ):
            mock.fail_next(
                status,
                {"code": status, "reason": reason, "message": "nope", "metadata": {}},
                path_contains="/text2video",
            )
            env = assert_envelope(http.post("/v1/videos", json=body), status, code, bifrost=False)
            assert f"Vidu reason {reason}" in env["error"]["message"]
        mock.garbage_next(path_contains="/text2video")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")
    assert mock.tasks == {}


def test_poll_errors_are_retried_until_the_job_ends(gw: GatewayHandle, mock: ViduMock) -> None:
    client = gw.client()
    video = client.videos.create(model="vidu/viduq2", prompt="patience")
    mock.fail_next(503, count=2, path_contains="/creations")
    assert until_ended(client, video.id).status == "completed"


def test_wrong_key_is_refused(make_gateway: Callable[..., GatewayHandle], mock: ViduMock) -> None:
    gw = make_gateway(providers={"vidu": vidu(mock, key="vidu-wrong")})
    env = assert_create_refused(gw, "vidu/viduq2", 401, "invalid_api_key", "vidu-wrong")
    assert "Unauthorized" in env["error"]["message"]


def test_unsupported_requests_are_refused_before_any_upstream_call(
    gw: GatewayHandle, mock: ViduMock
) -> None:
    url = {"image_url": FIRST}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"model": "viduq2", "seconds": "12"}, "invalid_seconds", "1 to 10"),
        ({"model": "viduq1", "seconds": "8"}, "invalid_seconds", "5 seconds"),
        ({"model": "viduq2", "size": "999x999"}, "invalid_size", "720 (720p)"),
        (
            {"model": "viduq2-pro-fast", "size": "960x540", "input_reference": url},
            "invalid_size",
            "720p, 1080p",
        ),
        ({"model": "viduq2", "input_reference": url}, "unsupported_input_reference", "image"),
        ({"model": "viduq2-pro"}, "unsupported_model", "viduq2, viduq3-pro"),
        ({"model": "viduq2", "audio": True}, "unsupported_audio", "bgm"),
        ({"model": "viduq2", "duration": 5}, "invalid_parameter", "seconds"),
        ({"model": "viduq2", "prompt": "p" * 2001}, "prompt_too_long", "2000"),
        ({"model": "viduq2", "bgm": "loud"}, "invalid_parameter", "true or false"),
    ]
    with gw.http() as http:
        assert_gateway_refuses(http, "vidu", cases)
        tiny = http.post(
            "/v1/videos",
            data={"model": "vidu/viduq2-pro", "prompt": "x"},
            files={"input_reference": ("a.png", image(100), "image/png")},
        )
        env = assert_envelope(tiny, 400, "invalid_input_reference")
        assert "128px" in env["error"]["message"]
    assert mock.requests == []


# -- adapter level: frames, references, characters, normalised fields ------------------------
@pytest.fixture
def provider(mock: ViduMock) -> ViduProvider:
    config = ProviderConfig(type="vidu", base_url=mock.url, keys=[UpstreamKey(value=KEY)])
    return ViduProvider("vidu", config)


async def test_first_and_last_frame_go_to_start_end(provider: ViduProvider, mock: ViduMock) -> None:
    params = CreateParams(
        model="viduq2-turbo",
        prompt="the bird flies off",
        seconds="8",
        resolution="1080p",
        seed=9,
        input_reference=InputReference(image_url=FIRST),
        last_frame=InputReference(image_url=LAST),
    )
    assert (await run_to_end(provider, params)).status == "completed"
    assert sent(mock, "start-end2video")[0] == {
        "model": "viduq2-turbo",
        "prompt": "the bird flies off",
        "seed": 9,
        "resolution": "1080p",
        "duration": 8,
        "images": [FIRST, LAST],
    }


async def test_references_and_characters_go_to_reference2video(
    provider: ViduProvider, mock: ViduMock
) -> None:
    png = image()
    refs = CreateParams(
        model="viduq2",
        prompt="Santa and the bear hug",
        aspect_ratio="3:4",
        reference_images=[InputReference(image_url=FIRST), InputReference(image_url=LAST)],
    )
    assert (await run_to_end(provider, refs)).status == "completed"
    assert sent(mock, "reference2video")[0]["images"] == [FIRST, LAST]
    assert sent(mock, "reference2video")[0]["aspect_ratio"] == "3:4"

    cast = CreateParams(
        model="viduq2",
        prompt="@Mia and @1 eat hotpot",
        generate_audio=True,
        reference_images=[InputReference(image_url=FIRST)],
        characters=[CharacterRef(id="char_1", name="Mia", image=InputReference(data=png))],
    )
    assert (await run_to_end(provider, cast)).status == "completed"
    body = sent(mock, "reference2video")[1]
    assert body["audio"] is True and "images" not in body
    assert body["subjects"] == [
        {"id": "1", "images": [FIRST]},
        {"id": "Mia", "images": ["data:image/png;base64," + base64.b64encode(png).decode()]},
    ]


def test_what_vidu_does_not_take_is_refused(provider: ViduProvider) -> None:
    frame = InputReference(image_url=FIRST)
    cases: list[tuple[CreateParams, str]] = [
        (CreateParams(model="viduq2", prompt="x", fps=24), "unsupported_fps"),
        (
            CreateParams(model="viduq2", prompt="x", negative_prompt="no"),
            "unsupported_negative_prompt",
        ),
        (
            CreateParams(model="viduq2-pro", prompt="x", input_reference=frame, aspect_ratio="1:1"),
            "invalid_aspect_ratio",
        ),
        (CreateParams(model="viduq2-pro", prompt="x", last_frame=frame), "missing_input_reference"),
        (
            CreateParams(
                model="viduq1", prompt="x", input_reference=frame, reference_images=[frame]
            ),
            "invalid_input_reference",
        ),
        (
            CreateParams(
                model="viduq2-pro",
                prompt="x",
                seconds="10",
                input_reference=frame,
                last_frame=frame,
            ),
            "invalid_seconds",
        ),
        (
            CreateParams(model="vidu2.0", prompt="x", reference_images=[frame] * 4),
            "too_many_reference_images",
        ),
        (CreateParams(model="viduq2", prompt="x", aspect_ratio="21:9"), "invalid_aspect_ratio"),
    ]
    assert_refused(provider, cases)


def test_regions_pick_the_api_root() -> None:
    def base(options: dict[str, Any]) -> str:
        config = ProviderConfig(type="vidu", options=options, keys=[UpstreamKey(value="k")])
        return ViduProvider("v", config)._base(config.keys[0])

    assert base({}) == "https://api.vidu.com"
    assert base({"region": "cn"}) == "https://api.vidu.cn"
