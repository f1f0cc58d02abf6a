"""The `minimax` adapter through the gateway, against the loopback MiniMax v1 mock."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .conftest import GatewayHandle, assert_envelope
from .mocks.minimax import MiniMaxMock
from .provider_helpers import (
    assert_coded_errors,
    assert_create_refused,
    assert_deleted_in_gateway_only,
    assert_remix_unsupported,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
    until_ended,
)

KEY = "mm-upstream-secret-123"


@pytest.fixture
def mock() -> Iterator[MiniMaxMock]:
    with MiniMaxMock(api_key=KEY, queued_seconds=0.2, run_seconds=0.5) as m:
        yield m


def minimax(mock: MiniMaxMock, key: str = KEY, **over: Any) -> dict[str, Any]:
    return provider_config("minimax", mock.url, key, **over)


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle], mock: MiniMaxMock) -> GatewayHandle:
    return make_gateway(providers={"minimax": minimax(mock)})


def image(side: int = 320) -> bytes:
    return image_bytes((side, side))


def sent(mock: MiniMaxMock) -> list[dict[str, Any]]:
    """The create bodies the mock received, in order."""
    return sent_json(mock, "POST", "/v1/video_generation")


def test_text_and_image_jobs_complete_and_download(gw: GatewayHandle, mock: MiniMaxMock) -> None:
    client = gw.client()
    text = client.videos.create_and_poll(
        model="minimax/MiniMax-Hailuo-02", prompt="a cat", seconds="6", size="1366x768"
    )
    assert text.status == "completed" and text.id.endswith(":minimax")
    assert (text.size, text.seconds, text.progress) == ("1366x768", "6", 100)
    assert text.id.rsplit(":", 1)[0] in mock.tasks
    assert sent(mock)[0] == {
        "model": "MiniMax-Hailuo-02",
        "prompt": "a cat",
        "duration": 6,
        "resolution": "768P",
    }
    assert all(
        r.headers["authorization"] == f"Bearer {KEY}"
        for r in mock.requests
        if not r.path.startswith("/cdn/")
    )

    by_url = client.videos.create_and_poll(
        model="minimax/MiniMax-Hailuo-2.3",
        prompt="zoom in",
        extra_body={
            "input_reference": {"image_url": "https://example.com/first.png"},
            "prompt_optimizer": False,
        },
    )
    assert by_url.status == "completed"
    assert sent(mock)[1]["first_frame_image"] == "https://example.com/first.png"
    assert sent(mock)[1]["prompt_optimizer"] is False  # multipart "false" back to JSON
    assert (sent(mock)[1]["duration"], sent(mock)[1]["resolution"]) == (6, "768P")

    png = image()
    uploaded = client.videos.create_and_poll(
        model="minimax/I2V-01", prompt="wave", input_reference=("a.png", png, "image/png")
    )
    assert uploaded.status == "completed"
    assert sent(mock)[2]["first_frame_image"] == (
        "data:image/png;base64," + base64.b64encode(png).decode()
    )
    assert (sent(mock)[2]["duration"], sent(mock)[2]["resolution"]) == (6, "720P")

    for video in (text, by_url, uploaded):
        body = client.videos.download_content(video.id)
        assert body.response.headers["content-type"] == "video/mp4"
        assert body.read() == mock.video_bytes()
    assert mock.find_requests("GET", "/v1/files/retrieve")  # download_url fetched fresh

    with gw.http() as http:
        assert_variants_missing(http, text.id, "thumbnail")
        assert_remix_unsupported(http, text.id)
    assert_deleted_in_gateway_only(client, text.id)


def test_raw_request_summarises_the_image_and_hides_the_key(
    gw: GatewayHandle, mock: MiniMaxMock
) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(image()).decode()
    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            json={
                "model": "minimax/MiniMax-Hailuo-2.3",
                "prompt": "raw",
                "input_reference": {"image_url": data_url},
            },
            headers={"x-bf-send-back-raw-response": "true"},
        )
    assert resp.status_code == 200, resp.text
    fields = resp.json()["extra_fields"]
    assert fields["raw_request"]["first_frame_image"].startswith("<")
    assert fields["raw_response"]["base_resp"]["status_code"] == 0
    assert sent(mock)[0]["first_frame_image"] == data_url
    assert KEY not in resp.text


def test_moderated_output_fails_the_job(gw: GatewayHandle, mock: MiniMaxMock) -> None:
    video = gw.client().videos.create_and_poll(
        model="minimax/MiniMax-Hailuo-2.3", prompt="a moderation test"
    )
    assert video.status == "failed"
    assert video.error is not None
    assert video.error.code == "moderation_blocked"
    assert "1027" in video.error.message


def test_errors_inside_200_bodies_are_relayed_with_mapped_status(
    make_gateway: Callable[..., GatewayHandle], mock: MiniMaxMock
) -> None:
    # Many retryable answers in a row: keep the circuit breaker out of this test.
    gw = make_gateway(providers={"minimax": minimax(mock, breaker_threshold=100)})
    body = {"model": "minimax/MiniMax-Hailuo-2.3", "prompt": "x"}
    cases = [
        (1008, 402, "insufficient_balance"),
        (1002, 429, "rate_limit_exceeded"),
        (2013, 400, "invalid_parameter"),
        (1000, 500, "upstream_unknown_error"),
        (4242, 502, "minimax_error_4242"),
    ]
    with gw.http() as http:
        envelopes = assert_coded_errors(
            http,
            mock,
            body,
            cases,
            lambda number: {
                "task_id": "",
                "base_resp": {"status_code": number, "status_msg": "nope"},
            },
            path_contains="/v1/video_generation",
            vendor="MiniMax",
        )
        assert all(env["extra_fields"]["provider"] == "minimax" for env in envelopes)

        # The mock's own 1026 for a sensitive prompt, also inside a 200.
        env = assert_envelope(
            http.post("/v1/videos", json={**body, "prompt": "something forbidden"}),
            422,
            "moderation_blocked",
            bifrost=False,
        )
        assert "1026" in env["error"]["message"]

        # The newer envelope on a real 4xx: the number rides at the end of the message.
        mock.fail_next(
            401,
            {
                "type": "error",
                "error": {"type": "authorized_error", "message": "invalid api key (2049)"},
            },
            path_contains="/v1/video_generation",
        )
        assert_envelope(http.post("/v1/videos", json=body), 401, "invalid_api_key", bifrost=False)

        mock.garbage_next(path_contains="/v1/video_generation")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")
    assert len(mock.tasks) == 0


def test_query_errors_are_retried_until_the_job_ends(gw: GatewayHandle, mock: MiniMaxMock) -> None:
    client = gw.client()
    video = client.videos.create(model="minimax/MiniMax-Hailuo-2.3", prompt="patience")
    mock.fail_next(
        200,
        {"base_resp": {"status_code": 1002, "status_msg": "rate limit"}},
        count=2,
        path_contains="/v1/query/video_generation",
    )
    current = until_ended(client, video.id)
    assert current.status == "completed"


def test_wrong_key_is_relayed(
    make_gateway: Callable[..., GatewayHandle], mock: MiniMaxMock
) -> None:
    gw = make_gateway(providers={"minimax": minimax(mock, key="mm-wrong-key")})
    model = "minimax/MiniMax-Hailuo-2.3"
    env = assert_create_refused(gw, model, 401, "invalid_api_key", "mm-wrong-key")
    assert "1004" in env["error"]["message"]


def test_unsupported_combinations_are_refused_before_any_upstream_call(
    gw: GatewayHandle, mock: MiniMaxMock
) -> None:
    url = {"image_url": "https://example.com/a.png"}
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"model": "MiniMax-Hailuo-02", "seconds": "10", "size": "1920x1080"},
            "invalid_seconds",
            "1080P: 6 s",
        ),
        ({"model": "MiniMax-Hailuo-2.3", "size": "999x999"}, "invalid_size", "768 (768P)"),
        ({"model": "MiniMax-Hailuo-02", "size": "912x512"}, "invalid_size", "image-to-video only"),
        # The model table (providers/specs.py) answers before the adapter.
        ({"model": "T2V-01", "seconds": "10"}, "invalid_seconds", "renders 6 seconds"),
        ({"model": "I2V-01"}, "missing_input_reference", "image-to-video only"),
        (
            {"model": "T2V-01", "input_reference": url},
            "unsupported_input_reference",
            "does not take an input image",
        ),
        (
            {"model": "MiniMax-Hailuo-2.3", "size": "1366x768", "resolution": "1080P"},
            "invalid_parameter",
            "contradicts",
        ),
        ({"model": "MiniMax-Hailuo-2.3", "prompt": "p" * 2001}, "prompt_too_long", "2000"),
        (
            {"model": "MiniMax-Hailuo-2.3", "prompt_optimizer": "maybe"},
            "invalid_parameter",
            "true or false",
        ),
    ]
    with gw.http() as http:
        for fields, code, hint in cases:
            body = {"prompt": "x", **fields, "model": "minimax/" + fields["model"]}
            env = assert_envelope(http.post("/v1/videos", json=body), 400, code)
            assert hint in env["error"]["message"], env
        tiny = http.post(
            "/v1/videos",
            data={"model": "minimax/I2V-01", "prompt": "x"},
            files={"input_reference": ("a.png", image(100), "image/png")},
        )
        env = assert_envelope(tiny, 400, "invalid_input_reference")
        assert "300px" in env["error"]["message"]
    assert mock.requests == []


def test_model_table_and_normalised_resolution() -> None:
    from videogate.config import ProviderConfig
    from videogate.providers.base import CreateParams
    from videogate.providers.minimax import MiniMaxProvider
    from videogate.providers.specs import check_spec

    adapter = MiniMaxProvider("minimax", ProviderConfig(type="minimax"))
    hailuo = adapter.spec("MiniMax-Hailuo-2.3")
    assert hailuo is not None
    assert (hailuo.seconds, hailuo.resolutions) == ((6, 10), ("768p", "1080p"))
    t2v = adapter.spec("T2V-01")
    assert t2v is not None and not t2v.image_input and t2v.resolutions == ("720p",)
    assert adapter.spec("MiniMax-Hailuo-3") is None  # the v2 API's model: not this adapter's
    params = CreateParams(model="MiniMax-Hailuo-2.3", prompt="x", resolution="1080p")
    check_spec(hailuo, params)
    prepared = adapter.prepare(params)
    assert (prepared.body["resolution"], prepared.body["duration"]) == ("1080P", 6)
    with pytest.raises(Exception, match="renders 768p, 1080p, not 4k"):
        check_spec(hailuo, CreateParams(model="MiniMax-Hailuo-2.3", prompt="x", resolution="4k"))
