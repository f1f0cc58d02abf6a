"""The `seedance` adapter (BytePlus ModelArk tasks) through the gateway, against its mock."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from videogate.config import ProviderConfig
from videogate.errors import GatewayError
from videogate.providers.base import (
    CharacterRef,
    CreateParams,
    InputReference,
    Operation,
    SourceVideo,
)

from .adapter_helpers import make_adapter, prepared_for, run_job
from .conftest import GatewayHandle, assert_envelope
from .mocks.seedance import SeedanceMock
from .provider_helpers import (
    assert_fetched_without_credentials,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
    wait_for,
)

KEY = "ark-upstream-secret-123"
PRO = "seedance/seedance-1-0-pro-250528"
TASKS = "/contents/generations/tasks"


@pytest.fixture
def mock() -> Iterator[SeedanceMock]:
    with SeedanceMock(api_key=KEY, queued_seconds=0.2, run_seconds=0.6) as m:
        yield m


def seedance_provider(mock: SeedanceMock) -> dict[str, Any]:
    return provider_config("seedance", mock.url, "env.VG_TEST_ARK_KEY")


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle],
    mock: SeedanceMock,
    monkeypatch: pytest.MonkeyPatch,
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_ARK_KEY", KEY)
    return make_gateway(providers={"seedance": seedance_provider(mock)})


def _creates(mock: SeedanceMock) -> list[dict[str, Any]]:
    return sent_json(mock, "POST", TASKS)


def _png(side: int = 320) -> bytes:
    return image_bytes((side, side), color=(0, 128, 255))


def test_text_to_video_poll_download_and_thumbnail(gw: GatewayHandle, mock: SeedanceMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(
        model=PRO, prompt="a red fox in snow", seconds="5", size="1248x704"
    )
    assert video.status == "completed" and video.id.endswith(":seedance")
    assert video.progress == 100 and video.error is None
    task_id = video.id.rsplit(":", 1)[0]
    assert task_id.startswith("cgt-") and mock.status(task_id) == "succeeded"
    assert video.size == "1248x704" and video.seconds == "5"

    (sent,) = _creates(mock)
    assert sent == {
        "model": "seedance-1-0-pro-250528",
        "resolution": "720p",
        "ratio": "16:9",
        "duration": 5,
        "return_last_frame": True,
        "content": [{"type": "text", "text": "a red fox in snow"}],
    }
    assert mock.find_requests("POST", TASKS)[0].headers["authorization"] == f"Bearer {KEY}"

    mp4, png = mock.media()
    assert client.videos.download_content(video.id).read() == mp4
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/png"
    assert thumb.read() == png
    # Result links are pre-signed: the Ark key never travels to the object store.
    assert_fetched_without_credentials(mock, "/tos/")

    with gw.http() as http:
        assert_variants_missing(http, video.id, "spritesheet")


def test_image_url_and_upload_become_first_frames(gw: GatewayHandle, mock: SeedanceMock) -> None:
    client = gw.client()
    url = "https://example.com/first-frame.png"
    by_url = client.videos.create(
        model=PRO, prompt="pan right", extra_body={"input_reference": {"image_url": url}}
    )
    png = _png()
    uploaded = client.videos.create(
        model=PRO,
        prompt="zoom in",
        seconds="3",  # type: ignore[arg-type]  # Seedance takes 2-12, not only 4/8/12
        input_reference=("a.png", png, "image/png"),
        extra_body={"generate_audio": False},
        extra_headers={"x-bf-send-back-raw-response": "true"},
    ).model_dump()
    shown = uploaded["extra_fields"]["raw_request"]["content"][1]["image_url"]["url"]
    assert shown.startswith("<") and "bytes image/png" in shown  # never the base64 itself
    assert KEY not in json.dumps(uploaded)

    first, second = _creates(mock)
    assert first["content"][1] == {
        "type": "image_url",
        "image_url": {"url": url},
        "role": "first_frame",
    }
    assert "ratio" not in first and "duration" not in first  # Ark's defaults apply
    image = second["content"][1]
    assert image["role"] == "first_frame"
    assert image["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert second["duration"] == 3 and second["generate_audio"] is False  # typed, not "false"
    assert client.videos.poll(uploaded["id"]).status == "completed"
    assert client.videos.poll(by_url.id).status == "completed"


def test_delete_completed_removes_the_task_record(gw: GatewayHandle, mock: SeedanceMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(model=PRO, prompt="short clip", seconds="2")
    task_id = video.id.rsplit(":", 1)[0]
    with gw.http() as http:
        resp = http.delete(f"/v1/videos/{video.id}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
    assert body["id"] == video.id and body["object"] == "video.deleted" and body["deleted"] is True
    assert body["extra_fields"]["upstream_deleted"] is True
    assert body["extra_fields"]["upstream_deletion"] == "done"
    assert body["extra_fields"]["provider"] == "seedance"
    assert mock.status(task_id) is None  # the record is gone upstream
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_delete_queued_cancels_it(gw: GatewayHandle, mock: SeedanceMock) -> None:
    mock.queued_seconds = 30.0
    client = gw.client()
    video = client.videos.create(model=PRO, prompt="never starts")
    task_id = video.id.rsplit(":", 1)[0]
    assert mock.status(task_id) == "queued"
    gone = client.videos.delete(video.id).model_dump()
    assert gone["deleted"] is True and gone["extra_fields"]["upstream_deleted"] is True
    assert mock.status(task_id) == "cancelled"


def test_delete_running_waits_for_the_end(gw: GatewayHandle, mock: SeedanceMock) -> None:
    mock.queued_seconds, mock.run_seconds = 0.0, 2.0
    client = gw.client()
    video = client.videos.create(model=PRO, prompt="long render")
    task_id = video.id.rsplit(":", 1)[0]
    wait_for(lambda: mock.status(task_id) == "running", timeout=5)
    gone = client.videos.delete(video.id).model_dump()
    assert gone["deleted"] is True
    assert gone["extra_fields"]["upstream_deleted"] is False
    assert gone["extra_fields"]["upstream_deletion"] == "pending"
    assert mock.find_requests("DELETE", task_id)  # asked, and Ark refused while running
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    wait_for(lambda: mock.status(task_id) is None)  # the worker deletes it once it has ended


def test_moderation_and_expiry_fail_with_canonical_codes(
    gw: GatewayHandle, mock: SeedanceMock
) -> None:
    client = gw.client()
    blocked = client.videos.create_and_poll(model=PRO, prompt="moderation will reject this")
    assert blocked.status == "failed"
    assert blocked.error is not None and blocked.error.code == "moderation_blocked"
    assert "OutputVideoSensitiveContentDetected" in blocked.error.message

    mock.queued_seconds = 30.0
    stuck = client.videos.create(model=PRO, prompt="waits forever")
    mock.expire_now(stuck.id.rsplit(":", 1)[0])
    ended = client.videos.poll(stuck.id)
    assert ended.status == "failed" and ended.error is not None
    assert ended.error.code == "expired"

    with gw.http() as http:  # input review answers at create time: relayed as Ark's own error
        resp = http.post("/v1/videos", json={"model": PRO, "prompt": "a forbidden scene"})
        env = assert_envelope(resp, 400, "InputTextSensitiveContentDetected", bifrost=False)
        assert env["extra_fields"]["provider"] == "seedance"


def test_upstream_500_and_wrong_key_are_relayed(
    make_gateway: Callable[..., GatewayHandle],
    mock: SeedanceMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VG_TEST_ARK_KEY", KEY)
    wrong = {"type": "seedance", "base_url": mock.url, "keys": [{"value": "ark-wrong"}]}
    gw = make_gateway(providers={"seedance": seedance_provider(mock), "wrongkey": wrong})
    body = {"model": PRO, "prompt": "x"}
    with gw.http() as http:
        mock.fail_next(500, path_contains=TASKS, method="POST")
        resp = http.post("/v1/videos", json=body)
        env = assert_envelope(resp, 500, "InternalServiceError", bifrost=False)
        assert env["error"]["type"] == "InternalServerError"

        resp = http.post("/v1/videos", json={**body, "model": "wrongkey/seedance-1-0-pro-250528"})
        env = assert_envelope(resp, 401, "AuthenticationError", bifrost=False)
        assert env["error"]["param"] is None
        assert "ark-wrong" not in resp.text and KEY not in resp.text


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({"size": "999x999"}, "invalid_size", "size"),
        ({"size": "1280x720", "model": "seedance/seedance-1-0-lite-t2v-250428"}, None, None),
        (
            {"size": "1920x1080", "model": "seedance/dreamina-seedance-2-0-fast-260128"},
            "invalid_size",
            "size",
        ),
        ({"seconds": "20"}, "invalid_seconds", "seconds"),
        (
            {"seconds": "2", "model": "seedance/seedance-1-5-pro-251215"},
            "invalid_seconds",
            "seconds",
        ),
        ({"ratio": "2:1"}, "invalid_ratio", "ratio"),
        ({"seconds": "5", "duration": "6"}, "invalid_parameter", "duration"),
        ({"watermark": "maybe"}, "invalid_parameter", "watermark"),
        (
            {"model": "seedance/seedance-1-0-lite-i2v-250428"},
            "input_reference_required",
            "input_reference",
        ),
    ],
)
def test_invalid_parameters_are_refused_before_any_upstream_call(
    gw: GatewayHandle,
    mock: SeedanceMock,
    fields: dict[str, str],
    code: str | None,
    param: str | None,
) -> None:
    body = {"model": PRO, "prompt": "x", **fields}
    with gw.http() as http:
        resp = http.post("/v1/videos", json=body)
    if code is None:  # the control: a valid size for that model does reach Ark
        assert resp.status_code == 200, resp.text
        assert _creates(mock)[0]["resolution"] == "720p"
        return
    env = assert_envelope(resp, 400, code)
    assert env["error"]["param"] == param
    assert not mock.find_requests("POST", TASKS)
    if code == "invalid_size":
        assert "864x480" in env["error"]["message"] or "864x496" in env["error"]["message"]


def test_image_for_text_only_model_and_small_upload_are_refused(
    gw: GatewayHandle, mock: SeedanceMock
) -> None:
    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            json={
                "model": "seedance/seedance-1-0-lite-t2v-250428",
                "prompt": "x",
                "input_reference": {"image_url": "https://example.com/a.png"},
            },
        )
        assert_envelope(resp, 400, "unsupported_input_reference")
        resp = http.post(
            "/v1/videos",
            data={"model": PRO, "prompt": "x"},
            files={"input_reference": ("tiny.png", _png(16), "image/png")},
        )
        env = assert_envelope(resp, 400, "invalid_input_reference")
        assert "300px" in env["error"]["message"]
    assert not mock.find_requests("POST", TASKS)


# -- the model table, edits/extensions, references and usage, at the adapter level ----------

SD2 = "dreamina-seedance-2-0-260128"


def _params(model: str = SD2, prompt: str = "a paper boat", **over: Any) -> CreateParams:
    return CreateParams(model=model, prompt=prompt, **over)


async def test_finished_task_reports_token_usage_in_raw(mock: SeedanceMock) -> None:
    adapter, key = make_adapter("seedance", mock.url, KEY)
    job = _params(seconds="5", resolution="480p", aspect_ratio="16:9", seed=9)
    prepared, created, done = await run_job(adapter, key, job)
    body = _creates(mock)[-1]
    assert (body["ratio"], body["resolution"], body["duration"], body["seed"]) == (
        "16:9",
        "480p",
        5,
        9,
    )
    assert (prepared.size, created.size) == ("864x496", "864x496")  # Ark's v2 pixels
    assert done.status == "completed"
    # Ark bills per token: what the task reports is kept, under Ark's own key.
    tokens = 864 * 480 * 24 * 5 // 1024  # the mock's formula (its PIXELS_PER_FRAME)
    assert done.raw["usage"] == {"completion_tokens": tokens, "total_tokens": tokens}
    assert done.tokens == float(tokens)
    await adapter.aclose()


@pytest.mark.parametrize("operation", [Operation.EDIT, Operation.EXTEND])
async def test_edit_and_extend_send_the_source_as_reference_video(
    mock: SeedanceMock, operation: Operation
) -> None:
    adapter, key = make_adapter("seedance", mock.url, KEY)
    refs = [InputReference(image_url="https://img.example/a.png")]
    character = CharacterRef(id="c1", name="Ann", image=InputReference(image_url="https://i/c.png"))
    job = _params(
        "dreamina-seedance-2-0-fast-260128",
        "continue [Video 1]; [Image 1] walks in",
        operation=operation,
        source=SourceVideo(upstream_id="cgt-old", url="https://cdn.example/src.mp4"),
        seconds="6",
        generate_audio=False,
        reference_images=refs,
        characters=[character],
    )
    _, _, done = await run_job(adapter, key, job)
    body = _creates(mock)[-1]
    assert body["content"][1:] == [
        {
            "type": "image_url",
            "image_url": {"url": "https://img.example/a.png"},
            "role": "reference_image",
        },
        {"type": "image_url", "image_url": {"url": "https://i/c.png"}, "role": "reference_image"},
        {
            "type": "video_url",
            "video_url": {"url": "https://cdn.example/src.mp4"},
            "role": "reference_video",
        },
    ]
    assert (body["duration"], body["generate_audio"]) == (6, False)
    assert done.status == "completed"
    await adapter.aclose()


@pytest.mark.parametrize(
    ("over", "code"),
    [
        # Ark fetches reference videos by URL; it takes no inline video.
        ({"operation": Operation.EDIT, "source": SourceVideo(data=b"mp4")}, "source_url_required"),
        ({"operation": Operation.EDIT}, "source_required"),
        (
            {
                "model": "seedance-1-5-pro-251215",
                "operation": Operation.EDIT,
                "source": SourceVideo(url="https://x/a.mp4"),
            },
            "unsupported_operation",
        ),
        (
            {
                "input_reference": InputReference(image_url="https://x/f.png"),
                "reference_images": [InputReference(image_url="https://x/r.png")],
            },
            "invalid_parameter",
        ),
        (
            {"reference_images": [InputReference(image_url="https://x/r.png")] * 10},
            "too_many_reference_images",
        ),
        (
            {"model": "dreamina-seedance-2-0-fast-260128", "resolution": "1080p"},
            "invalid_resolution",
        ),
        ({"model": "seedance-1-0-pro-250528", "generate_audio": True}, "unsupported_audio"),
        (
            {
                "model": "seedance-1-0-pro-fast-251015",
                "last_frame": InputReference(image_url="https://x/l.png"),
            },
            "unsupported_last_frame",
        ),
        ({"fps": 30}, "invalid_fps"),
        ({"negative_prompt": "blur"}, "unsupported_negative_prompt"),
        ({"aspect_ratio": "16:9", "extra": {"ratio": "9:16"}}, "invalid_parameter"),
        ({"size": "1280x720", "aspect_ratio": "16:9"}, "invalid_parameter"),
        ({"seconds": "16"}, "invalid_seconds"),
    ],
)
def test_what_ark_would_refuse_is_refused_before_the_call(
    mock: SeedanceMock, over: dict[str, Any], code: str
) -> None:
    adapter, _ = make_adapter("seedance", mock.url, KEY)
    with pytest.raises(GatewayError) as caught:
        prepared_for(adapter, _params(**over))
    assert caught.value.code == code
    assert mock.requests == []


def test_catalogue_patterns_find_every_spelling() -> None:
    from videogate.providers.seedance import SeedanceProvider

    adapter = SeedanceProvider("seedance", ProviderConfig(type="seedance"))
    fast = adapter.spec("dreamina-seedance-2-0-fast-260128")
    assert fast is not None and fast.resolutions == ("480p", "720p") and fast.audio_default
    full = adapter.spec("doubao-seedance-2-0-260128")
    assert full is not None and "1080p" in full.resolutions and full.max_reference_images == 9
    assert full.operations == {"create", "edit", "extend"}
    lite = adapter.spec("seedance-1-0-lite-t2v-250428")
    assert lite is not None and not lite.image_input
    assert adapter.spec("seedance-1-0-pro-fast-251015") is not adapter.spec(
        "seedance-1-0-pro-250528"
    )
    assert adapter.spec("ep-20260101-abc") is None  # endpoint ids: Ark judges
    # Either published spelling of a size stays accepted (v1 and v2 pixel tables).
    assert {"1248x704", "1280x720"} <= set(full.sizes)


@pytest.mark.parametrize(
    "content",
    [
        [
            {"type": "text", "text": "x"},
            {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
        ],
        [
            {"type": "text", "text": "x"},
            {
                "type": "video_url",
                "video_url": {"url": "data:video/mp4;base64,AA"},
                "role": "reference_video",
            },
        ],
        [
            {"type": "image_url", "image_url": {"url": "https://x/f.png"}, "role": "first_frame"},
            {
                "type": "image_url",
                "image_url": {"url": "https://x/r.png"},
                "role": "reference_image",
            },
        ],
    ],
)
def test_mock_refuses_what_ark_refuses(mock: SeedanceMock, content: list[dict[str, Any]]) -> None:
    resp = httpx.post(
        f"{mock.url}{TASKS}",
        json={"model": SD2, "content": content},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert resp.status_code == 400, resp.text
    resp = httpx.post(
        f"{mock.url}{TASKS}",
        json={
            "model": "seedance-1-5-pro-251215",
            "content": [
                {"type": "text", "text": "x"},
                {
                    "type": "video_url",
                    "video_url": {"url": "https://x/v.mp4"},
                    "role": "reference_video",
                },
            ],
        },
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert resp.status_code == 400 and "video input" in resp.text
