"""The `replicate` adapter through the gateway (openai SDK), against the loopback mock."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from videogate.config import ProviderConfig
from videogate.providers.replicate import ReplicateProvider

from .conftest import GatewayHandle, assert_envelope
from .mocks.replicate import DEFAULT_MODELS, ReplicateMock
from .provider_helpers import (
    assert_create_refused,
    assert_variants_missing,
    image_bytes,
    provider_config,
    upstream_token,
)

KEY = "r8_upstream_secret_123"
KLING = "replicate/kwaivgi/kling-v2.1"
MINIMAX_VERSION = DEFAULT_MODELS["minimax/video-01"].version
MODEL_OPTIONS = {
    "kwaivgi/kling-v2.1": {
        "image_input": "start_image",
        "aspect_ratios": ["16:9", "9:16", "1:1"],
        "durations": ["5", "10"],
    },
    "minimax/video-01": {"image_input": "first_frame_image", "seconds_input": None},
}


@pytest.fixture
def mock() -> Iterator[ReplicateMock]:
    with ReplicateMock(api_key=KEY, queued_seconds=0.2, run_seconds=0.5) as m:
        yield m


def replicate_provider(mock: ReplicateMock, **over: Any) -> dict[str, Any]:
    over.setdefault("options", {"models": MODEL_OPTIONS})
    return provider_config("replicate", mock.url, "env.VG_TEST_REPLICATE_KEY", **over)


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle],
    mock: ReplicateMock,
    monkeypatch: pytest.MonkeyPatch,
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_REPLICATE_KEY", KEY)
    return make_gateway(providers={"replicate": replicate_provider(mock)})


def prediction_id(public_id: str) -> str:
    return upstream_token(public_id, "replicate")


def test_text_to_video_end_to_end(gw: GatewayHandle, mock: ReplicateMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(
        model=KLING, prompt="a fox in snow", seconds="5", size="1280x720", extra_body={"seed": 7}
    )
    assert video.status == "completed" and video.progress == 100
    pid = prediction_id(video.id)
    (sent,) = mock.find_requests("POST", "/v1/models/kwaivgi/kling-v2.1/predictions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert orjson.loads(sent.body) == {
        "input": {"prompt": "a fox in snow", "aspect_ratio": "16:9", "duration": 5, "seed": 7}
    }
    assert mock.find_requests("GET", f"/v1/predictions/{pid}")
    assert video.completed_at is not None and video.expires_at == video.completed_at + 3600

    download = client.videos.download_content(video.id)
    assert download.response.headers["content-type"] == "video/mp4"
    assert download.read() == mock.media()[0]
    with gw.http() as http:
        assert_variants_missing(http, video.id, "thumbnail")


def test_pinned_version_image_inputs_and_list_output(
    gw: GatewayHandle, mock: ReplicateMock
) -> None:
    client = gw.client()
    png = image_bytes(color=(40, 200, 40))
    pinned = client.videos.create_and_poll(
        model=f"replicate/minimax/video-01:{MINIMAX_VERSION}",
        prompt="waves",
        input_reference=("ref.png", png, "image/png"),
    )
    assert pinned.status == "completed"
    (sent,) = mock.find_requests("POST", "/v1/predictions")
    body = orjson.loads(sent.body)
    assert body["version"] == MINIMAX_VERSION
    header, _, payload = body["input"]["first_frame_image"].partition(",")
    assert header == "data:image/png;base64" and base64.b64decode(payload) == png
    # The output is [poster.jpg, output.mp4]: the mp4 is the video.
    download = client.videos.download_content(pinned.id)
    assert download.read() == mock.media()[0]

    url = "https://example.com/fox.png"
    by_url = client.videos.create_and_poll(
        model=KLING, prompt="the fox runs", extra_body={"input_reference": {"image_url": url}}
    )
    assert by_url.status == "completed"
    assert mock.prediction(prediction_id(by_url.id)).input["start_image"] == url


def test_refused_parameters_and_relayed_validation(gw: GatewayHandle, mock: ReplicateMock) -> None:
    with gw.http() as http:
        minimax = "replicate/minimax/video-01"
        cases = [
            ({"size": "1000x999"}, "unsupported_size", "size", "16:9, 9:16, 1:1"),
            # Declared durations make a table entry, which answers before the adapter.
            ({"seconds": "7"}, "invalid_seconds", "seconds", "5, 10"),
            ({"model": minimax, "seconds": "5"}, "unsupported_seconds", "seconds", "duration"),
            ({"input_reference": {"file_id": "f"}}, "unsupported_input_reference", None, "upload"),
            ({"model": "replicate/kling"}, "invalid_model", "model", "owner/name"),
        ]
        for extra, code, param, allowed in cases:
            body = {"model": KLING, "prompt": "x", **extra}
            env = assert_envelope(http.post("/v1/videos", json=body), 400, code)
            assert env["error"]["param"] == (param or "input_reference")
            assert allowed in env["error"]["message"]
        assert not mock.find_requests("POST")

        # What only Replicate knows (the model's schema) comes back as its own 422.
        resp = http.post("/v1/videos", json={"model": KLING, "prompt": "x", "duration": 7})
        env = assert_envelope(resp, 422, "enum", bifrost=False)
        assert env["error"]["param"] == "input.duration"
        assert "duration must be one of" in env["error"]["message"]


def test_delete_running_prediction_cancels_it(gw: GatewayHandle, mock: ReplicateMock) -> None:
    mock.run_seconds = 5.0
    client = gw.client()
    video = client.videos.create(model=KLING, prompt="a long fox")
    pid = prediction_id(video.id)
    gone = client.videos.delete(video.id).model_dump()
    assert gone["deleted"] is True
    assert gone["extra_fields"]["upstream_deleted"] is True
    assert gone["extra_fields"]["upstream_deletion"] == "done"
    (cancel,) = mock.find_requests("POST", f"/v1/predictions/{pid}/cancel")
    assert cancel.headers["authorization"] == f"Bearer {KEY}"
    assert mock.prediction(pid).status_at(time.time()) == "canceled"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_delete_after_completion_is_final(gw: GatewayHandle, mock: ReplicateMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(model=KLING, prompt="done fox")
    pid = prediction_id(video.id)
    gone = client.videos.delete(video.id).model_dump()
    assert gone["deleted"] is True
    assert gone["extra_fields"]["upstream_deletion"] != "pending"
    assert len(mock.find_requests("POST", f"/v1/predictions/{pid}/cancel")) == 1
    assert mock.prediction(pid).status_at(time.time()) == "succeeded"


def test_delete_after_completion_reports_not_deleted(
    gw: GatewayHandle, mock: ReplicateMock
) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(model=KLING, prompt="done fox")
    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deleted"] is False


def test_failed_predictions_carry_canonical_codes(gw: GatewayHandle, mock: ReplicateMock) -> None:
    client = gw.client()
    moderated = client.videos.create_and_poll(model=KLING, prompt="needs moderation please")
    assert moderated.status == "failed" and moderated.error is not None
    assert moderated.error.code == "moderation_blocked"
    assert "flagged as sensitive" in moderated.error.message

    # Cancelled by someone else (e.g. on replicate.com): failed with code `cancelled`.
    mock.run_seconds = 3.0
    video = client.videos.create(model=KLING, prompt="cancel me elsewhere")
    httpx.post(
        f"{mock.url}/predictions/{prediction_id(video.id)}/cancel",
        headers={"Authorization": f"Bearer {KEY}"},
    ).raise_for_status()
    cancelled = client.videos.poll(video.id)
    assert cancelled.status == "failed" and cancelled.error is not None
    assert cancelled.error.code == "cancelled"


def test_upstream_errors_are_relayed(gw: GatewayHandle, mock: ReplicateMock) -> None:
    body = {"model": KLING, "prompt": "x"}
    with gw.http() as http:
        mock.fail_next(500, method="POST")
        env = assert_envelope(
            http.post("/v1/videos", json=body), 500, "upstream_500", bifrost=False
        )
        assert env["extra_fields"]["provider"] == "replicate"
        assert (
            env["error"]["message"]
            == "The server had an error while processing your request. Sorry about that!"
        )

        mock.garbage_next(method="POST")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")


def test_wrong_key_is_relayed(
    make_gateway: Callable[..., GatewayHandle],
    mock: ReplicateMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VG_TEST_REPLICATE_KEY", "r8_wrong")
    gw = make_gateway(providers={"replicate": replicate_provider(mock)})
    env = assert_create_refused(gw, KLING, 401, "upstream_401", "r8_wrong")
    assert env["error"]["message"] == "You did not pass a valid authentication token"


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (
            "failed",
            "NSFW content detected. Try running it again, or try a different prompt.",
            "moderation_blocked",
        ),
        ("failed", "Prediction failed: content policy violation", "moderation_blocked"),
        ("failed", "CUDA out of memory", "generation_failed"),
        ("canceled", None, "cancelled"),
        ("aborted", None, "expired"),
    ],
)
def test_failure_table(status: str, error: str | None, code: str) -> None:
    provider = ReplicateProvider("replicate", ProviderConfig(type="replicate"))
    video = provider.to_video({"id": "p1", "status": status, "error": error})
    assert video.status == "failed" and video.error is not None
    assert video.error["code"] == code


def test_outputs_and_retention() -> None:
    provider = ReplicateProvider("replicate", ProviderConfig(type="replicate"))
    done = {"id": "p1", "status": "succeeded", "completed_at": "2025-06-01T10:00:00.123456Z"}
    listed = provider.to_video({**done, "output": ["https://x/a.png", "https://x/b.mp4"]})
    assert listed.status == "completed" and listed.completed_at == 1748772000
    assert listed.expires_at == 1748772000 + 3600
    removed = provider.to_video({**done, "output": "https://x/b.mp4", "data_removed": True})
    assert removed.expires_at == removed.completed_at
    empty = provider.to_video({**done, "output": None})
    assert empty.status == "failed" and empty.error == {
        "code": "generation_failed",
        "message": "The prediction produced no video.",
    }
    running = provider.to_video({"id": "p1", "status": "processing", "logs": " 42%|####  | 21/50"})
    assert running.status == "in_progress" and running.progress == 42


def test_model_table_from_options_and_normalised_inputs() -> None:
    from videogate.errors import GatewayError
    from videogate.providers.base import CreateParams, InputReference

    from .adapter_helpers import make_adapter, prepared_for

    options = {
        "models": {
            **MODEL_OPTIONS,
            "kwaivgi/kling-v2.1": {
                **MODEL_OPTIONS["kwaivgi/kling-v2.1"],
                "inputs": {"last_frame": "end_image"},
                "spec": {"image_input": True, "last_frame": True, "audio": False},
            },
        }
    }
    adapter, _ = make_adapter("replicate", "http://127.0.0.1:9", KEY, options=options)
    spec = adapter.spec("kwaivgi/kling-v2.1")
    assert (
        spec is not None
        and spec.seconds == (5, 10)
        and spec.aspect_ratios == ("16:9", "9:16", "1:1")
    )
    assert adapter.spec("kwaivgi/kling-v2.1:abc123") == spec  # a pinned version, same table
    assert adapter.spec("someone/other") is None
    job = CreateParams(
        model="kwaivgi/kling-v2.1",
        prompt="x",
        aspect_ratio="9:16",
        seed=4,
        negative_prompt="blur",
        last_frame=InputReference(image_url="https://e.com/b.png"),
    )
    inputs = prepared_for(adapter, job).body["input"]
    assert inputs == {
        "prompt": "x",
        "aspect_ratio": "9:16",
        "seed": 4,
        "negative_prompt": "blur",
        "end_image": "https://e.com/b.png",
    }
    with pytest.raises(GatewayError) as caught:
        prepared_for(
            adapter, CreateParams(model="kwaivgi/kling-v2.1", prompt="x", generate_audio=True)
        )
    assert caught.value.code == "unsupported_audio"
    with pytest.raises(GatewayError) as caught:
        prepared_for(
            adapter, CreateParams(model="kwaivgi/kling-v2.1", prompt="x", aspect_ratio="4:3")
        )
    assert caught.value.code == "invalid_aspect_ratio"
