"""The OpenAI Videos mock, driven by the official openai SDK.

If the SDK can create, poll, list, download, remix and delete against the mock, and sees the
errors it would see from api.openai.com, then gateway tests that use the mock as an upstream
are testing against the real wire format rather than our own idea of it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Literal

import av
import openai
import pytest
from PIL import Image

from tests.mocks.openai_videos import OpenAIVideosMock
from tests.provider_helpers import image_bytes

# Every Videos method carries @deprecated (Sora API shutdown notice); that is not our concern.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(queued_seconds=0.1, run_seconds=0.3, poll_after_ms=50) as server:
        yield server


@pytest.fixture
def client(mock: OpenAIVideosMock) -> openai.OpenAI:
    mock.clear_injections()
    return openai.OpenAI(base_url=mock.url, api_key=mock.api_key, max_retries=0, timeout=10)


def png_bytes(size: tuple[int, int] = (72, 128)) -> bytes:
    return image_bytes(size)


def completed(client: openai.OpenAI, prompt: str = "a lighthouse at dusk") -> openai.types.Video:
    video = client.videos.create_and_poll(prompt=prompt, poll_interval_ms=20)
    assert video.status == "completed"
    return video


def test_create_and_poll_uses_poll_after_header(
    mock: OpenAIVideosMock, client: openai.OpenAI
) -> None:
    started = time.monotonic()
    video = client.videos.create_and_poll(prompt="a calico cat playing piano", size="1280x720")
    elapsed = time.monotonic() - started
    # Without the header the SDK would sleep 1000 ms after the first (queued) poll.
    assert elapsed < 0.9
    assert video.status == "completed"
    assert video.progress == 100
    assert video.model == "sora-2" and video.seconds == "4" and video.size == "1280x720"
    assert video.id.startswith("video_") and len(video.id) == len("video_") + 32
    assert video.completed_at is not None and video.expires_at == video.completed_at + 3600
    polls = mock.find_requests("GET", f"/v1/videos/{video.id}")
    assert len(polls) >= 3
    assert polls[0].headers["authorization"] == f"Bearer {mock.api_key}"
    assert polls[0].headers["x-stainless-poll-helper"] == "true"
    raw = client.videos.with_raw_response.retrieve(video.id)
    assert raw.headers["openai-poll-after-ms"] == "50"
    assert raw.headers["x-request-id"].startswith("req_")
    assert set(raw.http_response.json()) == {
        "id", "object", "model", "status", "progress", "created_at", "completed_at",
        "expires_at", "prompt", "size", "seconds", "remixed_from_video_id", "error",
    }  # fmt: skip


def test_lifecycle_goes_queued_in_progress_completed(
    mock: OpenAIVideosMock, client: openai.OpenAI
) -> None:
    video = client.videos.create(prompt="waves", model="sora-2-pro", seconds="8")
    assert (video.status, video.progress, video.completed_at) == ("queued", 0, None)
    time.sleep(0.2)
    running = client.videos.retrieve(video.id)
    assert running.status == "in_progress" and 0 <= running.progress < 100
    assert running.seconds == "8" and running.model == "sora-2-pro"


def test_create_with_input_reference_file(mock: OpenAIVideosMock, client: openai.OpenAI) -> None:
    video = client.videos.create(
        prompt="animate this", input_reference=("ref.png", png_bytes(), "image/png")
    )
    request = mock.find_requests("POST", "/v1/videos")[-1]
    assert request.headers["content-type"].startswith("multipart/form-data")
    ref = mock.videos[video.id].input_reference
    assert ref is not None and ref["type"] == "file" and ref["content_type"] == "image/png"


def test_create_with_input_reference_image_url(
    mock: OpenAIVideosMock, client: openai.OpenAI
) -> None:
    url = "https://example.invalid/x.png"
    # openai 3.54.0's create() rejects a dict here client-side (its extract_files treats
    # `input_reference` as file-only), so pass the object through extra_body: the SDK then
    # flattens it into the same Stainless bracket field the typed path was meant to send.
    video = client.videos.create(
        prompt="animate this", extra_body={"input_reference": {"image_url": url}}
    )
    request = mock.find_requests("POST", "/v1/videos")[-1]
    assert b'name="input_reference[image_url]"' in request.body
    assert mock.videos[video.id].input_reference == {"type": "image_url", "image_url": url}


def test_input_reference_variants(mock: OpenAIVideosMock, client: openai.OpenAI) -> None:
    webp = image_bytes((8, 8), "WEBP", (0, 0, 0))
    # Unlabelled bytes are judged by their magic number, like the real API.
    video = client.videos.create(prompt="webp", input_reference=webp)
    ref = mock.videos[video.id].input_reference
    assert ref is not None and ref["content_type"] == "image/webp"
    video = client.videos.create(prompt="id", extra_body={"input_reference": {"file_id": "file-1"}})
    assert mock.videos[video.id].input_reference == {"type": "file_id", "file_id": "file-1"}
    with pytest.raises(openai.BadRequestError) as exc:
        client.videos.create(prompt="x", input_reference=("ref.gif", b"GIF89a....", "image/gif"))
    assert exc.value.param == "input_reference"
    with pytest.raises(openai.BadRequestError) as exc:
        client.videos.create(
            prompt="x",
            extra_body={"input_reference": {"image_url": "https://e.invalid/a", "file_id": "f"}},
        )
    assert exc.value.param == "input_reference"


def test_strict_reference_size() -> None:
    with OpenAIVideosMock(strict_reference_size=True) as strict:
        sdk = openai.OpenAI(base_url=strict.url, api_key=strict.api_key, max_retries=0)
        with pytest.raises(openai.BadRequestError):
            sdk.videos.create(prompt="x", input_reference=("r.png", png_bytes(), "image/png"))
        sized = png_bytes((1280, 720))
        video = sdk.videos.create(
            prompt="x", size="1280x720", input_reference=("r.png", sized, "image/png")
        )
        assert video.size == "1280x720"


def test_list_paginates(mock: OpenAIVideosMock, client: openai.OpenAI) -> None:
    ids = [client.videos.create(prompt=f"list {i}").id for i in range(3)]
    page = client.videos.list(limit=1, order="asc")
    assert len(page.data) == 1 and page.has_more is True and page.last_id == page.data[0].id
    raw = client.videos.with_raw_response.list(limit=1).http_response.json()
    assert raw["object"] == "list" and raw["first_id"] == raw["last_id"] == ids[-1]
    everything = [v.id for v in client.videos.list(limit=1, order="asc")]  # auto-paginates
    assert everything[-3:] == ids
    newest = client.videos.list(limit=2)
    assert [v.id for v in newest.data] == ids[::-1][:2]
    with pytest.raises(openai.BadRequestError):
        client.videos.list(limit=101)


def test_download_content_variants(mock: OpenAIVideosMock, client: openai.OpenAI) -> None:
    video = completed(client)
    expected: dict[Literal["video", "thumbnail", "spritesheet"], str] = {
        "video": "video/mp4",
        "thumbnail": "image/webp",
        "spritesheet": "image/jpeg",
    }
    for variant, content_type in expected.items():
        raw = client.videos.with_raw_response.download_content(video.id, variant=variant)
        data = raw.http_response.content
        assert raw.headers["content-type"] == content_type
        assert int(raw.headers["content-length"]) == len(data) > 0
        if variant == "video":
            with av.open(io.BytesIO(data), mode="r") as container:
                stream = container.streams.video[0]
                assert stream.codec_context.name == "h264"
                assert len(list(container.decode(stream))) > 0
        else:
            Image.open(io.BytesIO(data)).verify()
    assert client.videos.download_content(video.id).read() == mock.media().video
    mock.expire_content(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)


def test_content_of_unfinished_video_is_rejected(client: openai.OpenAI) -> None:
    video = client.videos.create(prompt="not yet")
    with pytest.raises(openai.BadRequestError):
        client.videos.download_content(video.id)


def test_remix(client: openai.OpenAI) -> None:
    source = completed(client)
    remix = client.videos.remix(source.id, prompt="same, but at night")
    assert remix.remixed_from_video_id == source.id
    assert remix.status == "queued" and remix.size == source.size
    with pytest.raises(openai.BadRequestError):
        client.videos.remix(remix.id, prompt="remix of an unfinished video")


def test_delete(mock: OpenAIVideosMock, client: openai.OpenAI) -> None:
    video = completed(client)
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    assert video.id in mock.deleted
    with pytest.raises(openai.NotFoundError) as exc:
        client.videos.retrieve(video.id)
    assert exc.value.code == "video_not_found"
    assert video.id not in [v.id for v in client.videos.list(limit=100)]


def test_delete_running_video_is_rejected(client: openai.OpenAI) -> None:
    video = client.videos.create(prompt="still rendering")
    with pytest.raises(openai.BadRequestError) as exc:
        client.videos.delete(video.id)
    assert exc.value.type == "invalid_request_error"


def test_wrong_key(mock: OpenAIVideosMock) -> None:
    bad = openai.OpenAI(base_url=mock.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as exc:
        bad.videos.list()
    assert exc.value.code == "invalid_api_key"
    assert exc.value.request_id is not None


def test_azure_api_key_header() -> None:
    with OpenAIVideosMock(api_key="az-key", auth_header="api-key", prefix="/openai/v1") as az:
        assert az.url.endswith("/openai/v1")
        bearer = openai.OpenAI(base_url=az.url, api_key="az-key", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bearer.videos.list()
        azure = openai.OpenAI(
            base_url=az.url, api_key="unused", default_headers={"api-key": "az-key"}
        )
        assert azure.videos.create(prompt="azure").object == "video"


def test_validation_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.videos.create(prompt="x", size="640x480")  # type: ignore[arg-type]
    assert (exc.value.param, exc.value.code) == ("size", "invalid_value")
    with pytest.raises(openai.BadRequestError) as exc:
        client.videos.create(prompt="x", seconds="5")  # type: ignore[arg-type]
    assert exc.value.param == "seconds"
    with pytest.raises(openai.BadRequestError) as exc:
        client.videos.create(prompt="x", model="sora-3")
    assert exc.value.param == "model"
    with pytest.raises(openai.BadRequestError) as exc:
        client.videos.create(prompt="x", extra_body={"fps": "24"})
    assert (exc.value.param, exc.value.code) == ("fps", "unknown_parameter")


def test_json_body_is_accepted(client: openai.OpenAI) -> None:
    body = {"prompt": "json", "input_reference": {"file_id": "file-abc"}}
    video = client.post("/videos", body=body, cast_to=openai.types.Video)
    assert video.status == "queued"
    with pytest.raises(openai.BadRequestError) as exc:
        client.post("/videos", body={"prompt": "x", "seconds": 4}, cast_to=openai.types.Video)
    assert exc.value.code == "invalid_type"


def test_moderated_prompt_fails(client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="trip the moderation filter", poll_interval_ms=20)
    assert video.status == "failed"
    assert video.error is not None and video.error.code == "moderation_blocked"
    assert video.expires_at is None


def test_fail_next_rate_limit(mock: OpenAIVideosMock, client: openai.OpenAI) -> None:
    mock.fail_next(429, headers={"retry-after": "7"})
    with pytest.raises(openai.RateLimitError) as exc:
        client.videos.list()
    assert exc.value.response.headers["retry-after"] == "7"
    assert exc.value.code == "rate_limit_exceeded"
    client.videos.list()  # count=1: the next request is normal again


def test_fail_next_path_filter_and_count(mock: OpenAIVideosMock, client: openai.OpenAI) -> None:
    mock.fail_next(503, count=2, path_contains="/remix")
    client.videos.list()  # not matched
    source = completed(client)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.videos.remix(source.id, prompt="again")
    assert client.videos.remix(source.id, prompt="again").remixed_from_video_id == source.id


def test_garbage_next(mock: OpenAIVideosMock, client: openai.OpenAI) -> None:
    mock.garbage_next()
    with pytest.raises(ValueError):  # json.JSONDecodeError from the SDK's response parsing
        client.videos.list()


def test_hang_next_times_out(mock: OpenAIVideosMock) -> None:
    impatient = openai.OpenAI(base_url=mock.url, api_key=mock.api_key, max_retries=0, timeout=0.2)
    mock.hang_next(1.0)
    with pytest.raises(openai.APITimeoutError):
        impatient.videos.list()


async def test_usable_from_async_tests(mock: OpenAIVideosMock) -> None:
    """The server has its own loop in a thread, so an async client on the test loop works."""
    async with openai.AsyncOpenAI(base_url=mock.url, api_key=mock.api_key) as aclient:
        video = await aclient.videos.create_and_poll(prompt="async", poll_interval_ms=20)
    assert video.status == "completed"
