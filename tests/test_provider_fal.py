"""The `fal` adapter through the gateway (openai SDK), against the loopback fal queue mock."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from .conftest import GatewayHandle, assert_envelope
from .mocks.fal import FalQueueMock
from .provider_helpers import (
    assert_create_refused,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
    upstream_token,
    wait_for,
)

KEY = "fal-key-id:fal-key-secret"
T2V = "fal/fal-ai/kling-video/v2/master/text-to-video"
I2V = "fal/fal-ai/kling-video/v2/master/image-to-video"


@pytest.fixture
def mock() -> Iterator[FalQueueMock]:
    with FalQueueMock(api_key=KEY, queued_seconds=0.2, run_seconds=0.5) as m:
        yield m


def fal_provider(mock: FalQueueMock, **over: Any) -> dict[str, Any]:
    return provider_config("fal", mock.url, "env.VG_TEST_FAL_KEY", **over)


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle], mock: FalQueueMock, monkeypatch: pytest.MonkeyPatch
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_FAL_KEY", KEY)
    return make_gateway(providers={"fal": fal_provider(mock)})


def request_id(public_id: str) -> str:
    return upstream_token(public_id, "fal")


def test_text_to_video_end_to_end(gw: GatewayHandle, mock: FalQueueMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(
        model=T2V,
        prompt="a cat on a skateboard",
        seconds="5",
        size="1280x720",
        extra_body={"negative_prompt": "blur", "seed": 7},
    )
    assert video.status == "completed" and video.progress == 100
    rid = request_id(video.id)
    assert "/" not in rid and "|" not in rid and rid in mock.jobs
    (sent,) = mock.find_requests("POST", "/fal-ai/kling-video/v2/master/text-to-video")
    assert sent.headers["authorization"] == f"Key {KEY}"
    assert orjson.loads(sent.body) == {
        "prompt": "a cat on a skateboard",
        "aspect_ratio": "16:9",
        "duration": "5",
        "negative_prompt": "blur",
        "seed": 7,  # a multipart string restored to its JSON type
    }
    # Status and result live under the app's base path, without the endpoint subpath.
    polled = mock.find_requests("GET", f"/fal-ai/kling-video/requests/{rid}")
    assert any(r.path.startswith(f"/fal-ai/kling-video/requests/{rid}/status") for r in polled)
    assert not mock.find_requests(path_contains="/text-to-video/requests/")

    download = client.videos.download_content(video.id)
    assert download.response.headers["content-type"] == "video/mp4"
    assert download.read() == mock.video_bytes()
    with gw.http() as http:
        assert_variants_missing(http, video.id, "thumbnail")


def test_image_inputs_as_url_and_upload(gw: GatewayHandle, mock: FalQueueMock) -> None:
    client = gw.client()
    url = "https://example.com/cat.png"
    by_url = client.videos.create_and_poll(
        model=I2V,
        prompt="the cat jumps",
        size="720x1280",
        extra_body={"input_reference": {"image_url": url}},
    )
    assert by_url.status == "completed"
    assert mock.job(request_id(by_url.id)).input["image_url"] == url
    assert mock.job(request_id(by_url.id)).input["aspect_ratio"] == "9:16"

    png = image_bytes()
    uploaded = client.videos.create_and_poll(
        model=I2V,
        prompt="the cat lands",
        size="1280x720",
        input_reference=("ref.png", png, "image/png"),
        extra_body={"aspect_ratio": "1:1"},  # extra overrides the size mapping
    )
    assert uploaded.status == "completed"
    sent = mock.job(request_id(uploaded.id)).input
    assert sent["aspect_ratio"] == "1:1"
    header, _, payload = sent["image_url"].partition(",")
    assert header == "data:image/png;base64"
    assert base64.b64decode(payload) == png

    # raw_request shows the data: URL summarised, never the image itself.
    with gw.http() as http:
        data_url = "data:image/png;base64," + base64.b64encode(png).decode()
        resp = http.post(
            "/v1/videos",
            json={"model": I2V, "prompt": "raw", "input_reference": {"image_url": data_url}},
            headers={"x-bf-send-back-raw-response": "true", "x-bf-send-back-raw-request": "true"},
        )
        assert resp.status_code == 200, resp.text
        fields = resp.json()["extra_fields"]
        assert fields["raw_request"]["image_url"].startswith("<data: URL")
        assert fields["raw_response"]["request_id"] == request_id(resp.json()["id"])
        assert KEY not in resp.text


def test_unsupported_parameters_are_refused_before_any_upstream_call(
    gw: GatewayHandle, mock: FalQueueMock
) -> None:
    with gw.http() as http:
        cases = [
            ({"size": "1000x999"}, "unsupported_size", "size", "16:9, 9:16, 1:1"),
            ({"seconds": "7"}, "unsupported_seconds", "seconds", "5, 10"),
            ({"input_reference": {"file_id": "f"}}, "unsupported_input_reference", None, "upload"),
            ({"model": "fal/kling"}, "invalid_model", "model", "fal-ai/kling-video"),
        ]
        for extra, code, param, allowed in cases:
            body = {"model": T2V, "prompt": "x", **extra}
            env = assert_envelope(http.post("/v1/videos", json=body), 400, code)
            assert env["error"]["param"] == (param or "input_reference")
            assert allowed in env["error"]["message"]
    assert not mock.find_requests("POST")


def test_delete_while_queued_cancels_upstream(gw: GatewayHandle, mock: FalQueueMock) -> None:
    mock.queued_seconds = 5.0
    client = gw.client()
    video = client.videos.create(model=T2V, prompt="a long one")
    rid = request_id(video.id)
    gone = client.videos.delete(video.id).model_dump()
    assert gone["deleted"] is True
    assert gone["extra_fields"]["upstream_deleted"] is True
    assert gone["extra_fields"]["upstream_deletion"] == "done"
    (cancel,) = mock.find_requests("PUT", f"/fal-ai/kling-video/requests/{rid}/cancel")
    assert cancel.headers["authorization"] == f"Key {KEY}"
    assert mock.job(rid).cancelled_at is not None
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_delete_while_running_cancels_upstream(gw: GatewayHandle, mock: FalQueueMock) -> None:
    mock.run_seconds = 5.0
    client = gw.client()
    video = client.videos.create(model=T2V, prompt="running long")
    rid = request_id(video.id)
    wait_for(lambda: mock.job(rid).status_at(time.time()) == "IN_PROGRESS", timeout=5)
    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deleted"] is True
    assert mock.job(rid).cancel_requests == 1 and mock.job(rid).cancelled_at is not None


def test_refused_cancel_of_a_running_request_is_retried(
    gw: GatewayHandle, mock: FalQueueMock
) -> None:
    """Older fal answered 400 to cancelling a started request: the deletion stays pending
    while the request runs, and the outbox tries again."""
    mock.run_seconds = 8.0
    client = gw.client()
    video = client.videos.create(model=T2V, prompt="stubborn")
    rid = request_id(video.id)
    mock.fail_next(400, {"detail": "Request is already being processed"}, path_contains="/cancel")
    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deletion"] == "pending"
    assert gone["extra_fields"]["upstream_deleted"] is False
    wait_for(
        lambda: mock.job(rid).cancelled_at is not None, what="the outbox never retried the cancel"
    )
    assert len(mock.find_requests("PUT", f"/fal-ai/kling-video/requests/{rid}/cancel")) == 2


def test_delete_after_completion_is_final(gw: GatewayHandle, mock: FalQueueMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(model=T2V, prompt="done already")
    rid = request_id(video.id)
    gone = client.videos.delete(video.id).model_dump()
    assert gone["deleted"] is True
    # fal answered ALREADY_COMPLETED: nothing can be deleted, and nothing is left to retry.
    assert gone["extra_fields"]["upstream_deletion"] != "pending"
    assert mock.job(rid).cancel_requests == 1
    assert mock.job(rid).cancelled_at is None
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_delete_after_completion_reports_not_deleted(gw: GatewayHandle, mock: FalQueueMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(model=T2V, prompt="done already")
    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deleted"] is False


def test_failed_jobs_carry_canonical_codes(gw: GatewayHandle, mock: FalQueueMock) -> None:
    client = gw.client()
    moderated = client.videos.create_and_poll(model=T2V, prompt="this needs moderation")
    assert moderated.status == "failed"
    assert moderated.error is not None and moderated.error.code == "moderation_blocked"
    assert "content checker" in moderated.error.message

    # A ratio no Kling app takes is refused by the gateway's catalogue before any call.
    with gw.http() as http:
        body = {"model": T2V, "prompt": "square", "aspect_ratio": "4:3"}
        env = assert_envelope(http.post("/v1/videos", json=body), 400, "invalid_aspect_ratio")
        assert "4:3" in env["error"]["message"]
    # Input the app rejects while running (the queue accepted it): a 422 result. This
    # deployment of the app takes fewer ratios than the catalogue lists.
    mock.aspect_ratios = ("16:9", "9:16")
    invalid = client.videos.create_and_poll(
        model=T2V, prompt="square", extra_body={"aspect_ratio": "1:1"}
    )
    assert invalid.status == "failed" and invalid.error is not None
    assert invalid.error.code == "invalid_request" and "aspect_ratio" in invalid.error.message

    # A runner failure (request error with error_type) is an internal error.
    video = client.videos.create(model=T2V, prompt="crash")
    mock.fail_job(
        request_id(video.id),
        503,
        {"detail": "Runner disconnected unexpectedly", "error_type": "runner_disconnected"},
    )
    crashed = client.videos.poll(video.id)
    assert crashed.status == "failed" and crashed.error is not None
    assert crashed.error.code == "internal_error"


def test_upstream_errors_are_relayed(gw: GatewayHandle, mock: FalQueueMock) -> None:
    body = {"model": T2V, "prompt": "x"}
    with gw.http() as http:
        mock.fail_next(500, path_contains="/fal-ai/", method="POST")
        env = assert_envelope(
            http.post("/v1/videos", json=body), 500, "upstream_500", bifrost=False
        )
        assert env["extra_fields"]["provider"] == "fal"

        mock.fail_next(
            422,
            {"detail": [{"loc": ["body", "prompt"], "msg": "too long", "type": "string_too_long"}]},
            method="POST",
        )
        env = assert_envelope(
            http.post("/v1/videos", json=body), 422, "string_too_long", bifrost=False
        )
        assert env["error"]["param"] == "prompt" and "prompt: too long" in env["error"]["message"]

        mock.garbage_next(method="POST")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")

    # A transient 5xx while polling is retried, not taken for the job's failure.
    client = gw.client()
    mock.fail_next(503, path_contains="/status", count=2)
    assert client.videos.create_and_poll(model=T2V, prompt="flaky").status == "completed"


def test_wrong_key_is_relayed(
    make_gateway: Callable[..., GatewayHandle],
    mock: FalQueueMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VG_TEST_FAL_KEY", "wrong-secret")
    gw = make_gateway(providers={"fal": fal_provider(mock)})
    assert_create_refused(gw, T2V, 401, "upstream_401", "wrong-secret")
    assert mock.find_requests("POST")[0].headers["authorization"] == "Key wrong-secret"


def test_mock_speaks_fal_auth_and_paths(mock: FalQueueMock) -> None:
    """The mock refuses a Bearer token and the endpoint's full path for status."""
    url = f"{mock.url}/fal-ai/kling-video/v2/master/text-to-video"
    bearer = httpx.post(url, json={"prompt": "x"}, headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 401 and "detail" in bearer.json()
    ok = httpx.post(url, json={"prompt": "x"}, headers={"Authorization": f"Key {KEY}"})
    rid = ok.json()["request_id"]
    assert ok.json()["status_url"].endswith(f"/fal-ai/kling-video/requests/{rid}/status")
    wrong = httpx.get(f"{url}/requests/{rid}/status", headers={"Authorization": f"Key {KEY}"})
    assert wrong.status_code == 404


async def test_veo31_table_and_normalised_inputs(mock: FalQueueMock) -> None:
    from videogate.providers.base import CreateParams

    from .adapter_helpers import make_adapter, run_job

    adapter, key = make_adapter("fal", mock.url, KEY)
    spec = adapter.spec("fal-ai/veo3.1")
    assert spec is not None and spec.seconds == (4, 6, 8) and spec.audio_default
    assert spec.resolutions == ("720p", "1080p", "4k") and not spec.image_input
    assert adapter.spec("fal-ai/kling-video/v2/master/text-to-video") is None  # undeclared
    job = CreateParams(
        model="fal-ai/veo3.1",
        prompt="a fox",
        seconds="6",
        aspect_ratio="9:16",
        resolution="1080p",
        generate_audio=False,
        negative_prompt="text",
        seed=5,
    )
    _, _, done = await run_job(adapter, key, job)
    assert sent_json(mock, "POST", "/fal-ai/veo3.1")[-1] == {
        "prompt": "a fox",
        "aspect_ratio": "9:16",
        "duration": "6s",
        "generate_audio": False,
        "negative_prompt": "text",
        "seed": 5,
        "resolution": "1080p",
    }
    assert done.status == "completed"
    await adapter.aclose()


def test_tables_and_inputs_follow_the_per_model_options() -> None:
    from videogate.errors import GatewayError
    from videogate.providers.base import CreateParams, InputReference

    from .adapter_helpers import make_adapter, prepared_for

    app = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video"
    options = {
        "models": {
            app: {
                "durations": ["5", "10"],
                "inputs": {"last_frame": "tail_image_url"},
                "spec": {"image_input": True, "last_frame": True, "seed": False},
            },
            "fal-ai/veo3.1": {"spec": {"resolutions": ["720p"]}},
        }
    }
    adapter, _ = make_adapter("fal", "http://127.0.0.1:9", KEY, options=options)
    job = CreateParams(
        model=app,
        prompt="x",
        seconds="5",
        input_reference=InputReference(image_url="https://e.com/a.png"),
        last_frame=InputReference(image_url="https://e.com/b.png"),
    )
    assert prepared_for(adapter, job).body["tail_image_url"] == "https://e.com/b.png"
    for over, code in [
        ({"seed": 3}, "unsupported_seed"),  # the declared spec says no
        ({"seconds": "7"}, "invalid_seconds"),
        (
            # Allowed by the open table; refused as no input name is configured for it.
            {"reference_images": [InputReference(image_url="https://e.com/r.png")]},
            "unsupported_reference_images",
        ),
    ]:
        with pytest.raises(GatewayError) as caught:
            prepared_for(adapter, CreateParams(model=app, prompt="x", **over))
        assert caught.value.code == code
    veo = adapter.spec("fal-ai/veo3.1")
    assert veo is not None and veo.resolutions == ("720p",) and veo.seconds == (4, 6, 8)
    # An undeclared app sends a normalised field only under a configured name.
    with pytest.raises(GatewayError) as caught:
        prepared_for(
            adapter,
            CreateParams(
                model="fal-ai/wan/v2.2/text-to-video",
                prompt="x",
                last_frame=InputReference(image_url="https://e.com/b.png"),
            ),
        )
    assert caught.value.code == "unsupported_last_frame"
