"""The newcomer's path with the official openai SDK against the simulated provider."""

from __future__ import annotations

import io
import json
from typing import Any

import av
import openai
import pytest
from PIL import Image

from .conftest import GatewayHandle, assert_envelope

VIDEO_KEYS = {
    "id",
    "object",
    "model",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "prompt",
    "size",
    "seconds",
    "remixed_from_video_id",
    "error",
    "extra_fields",
}


def _duration(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        assert container.duration is not None
        return float(container.duration / 1_000_000)


def test_create_poll_download_delete_with_sdk(gateway: GatewayHandle) -> None:
    client = gateway.client()
    video = client.videos.create_and_poll(
        model="simulated/test-pattern", prompt="a test card", seconds="2", size="320x240"
    )
    assert video.status == "completed" and video.progress == 100
    assert video.id.endswith(":simulated")
    extra: dict[str, Any] = video.model_extra["extra_fields"]  # type: ignore[index]
    assert extra["request_type"] == "video_retrieve"
    assert extra["provider"] == "simulated"
    assert extra["model_requested"] == "test-pattern"  # as Bifrost: no provider prefix
    assert extra["model_deployment"] is None  # nothing was mapped
    assert isinstance(extra["latency"], int)

    mp4 = client.videos.download_content(video.id).read()
    assert abs(_duration(mp4) - 2.0) < 0.3
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(thumb.read())).size == (320, 240)
    sprite = client.videos.download_content(video.id, variant="spritesheet")
    assert sprite.response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(sprite.read())).format == "JPEG"

    deleted = client.videos.delete(video.id)
    body = deleted.model_dump()
    assert body["id"] == video.id and body["object"] == "video.deleted" and body["deleted"] is True
    fields = body["extra_fields"]
    assert fields["request_type"] == "video_delete"
    assert fields["provider"] == "simulated"
    assert fields["model_requested"] == "test-pattern"
    assert fields["model_deployment"] is None
    assert isinstance(fields["latency"], int)
    assert fields["upstream_deleted"] is True

    for call in (
        lambda: client.videos.delete(video.id),
        lambda: client.videos.retrieve(video.id),
        lambda: client.videos.download_content(video.id),
        lambda: client.videos.remix(video.id, prompt="again"),
    ):
        with pytest.raises(openai.NotFoundError) as err:
            call()
        assert_envelope(err.value.response, 404, "video_not_found")
    # The simulated provider's files (the gateway's assets for this job) are gone too.
    upstream_id = video.id.rsplit(":", 1)[0]
    assert not list((gateway.settings.data_dir / "simulated").glob(f"{upstream_id}*"))


def test_video_object_has_every_key_and_poll_header(gateway: GatewayHandle) -> None:
    with gateway.http() as http:
        created = http.post("/v1/videos", json={"prompt": "keys", "size": "64x64", "seconds": 1})
        assert created.status_code == 200, created.text
        body = created.json()
        assert set(body) == VIDEO_KEYS
        assert body["status"] in ("queued", "in_progress")
        assert isinstance(body["progress"], int)
        assert body["completed_at"] is None and body["error"] is None
        assert body["extra_fields"]["request_type"] == "video_generation"
        got = http.get(f"/v1/videos/{body['id']}")
        assert set(got.json()) == VIDEO_KEYS
        assert int(got.headers["openai-poll-after-ms"]) > 0
        assert got.headers["x-request-id"]


def test_input_reference_upload_and_url(gateway: GatewayHandle) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (255, 0, 0)).save(buf, format="PNG")
    client = gateway.client()
    video = client.videos.create(
        model="simulated/test-pattern",
        prompt="from an image",
        size="64x64",
        seconds="1",
        input_reference=("ref.png", buf.getvalue(), "image/png"),
    )
    assert video.status == "queued"
    video2 = client.videos.create(
        model="simulated/test-pattern",
        prompt="from a url",
        size="64x64",
        seconds="1",
        # This SDK version only takes files for input_reference; the object form travels as
        # Stainless bracket fields (input_reference[image_url]) through extra_body.
        extra_body={"input_reference": {"image_url": "https://example.invalid/x.png"}},
    )
    assert video2.id != video.id
    for vid in (video.id, video2.id):
        state = gateway.settings.data_dir / "simulated" / (vid.rsplit(":", 1)[0] + ".json")
        assert json.loads(state.read_text())["has_input_reference"] is True
    with gateway.http() as http:
        bad = http.post(
            "/v1/videos",
            data={"prompt": "x", "model": "simulated/test-pattern"},
            files={"input_reference": ("x.txt", b"not an image", "text/plain")},
        )
        assert_envelope(bad, 400, "invalid_input_reference")


def test_remix_and_failed_job(gateway: GatewayHandle) -> None:
    client = gateway.client()
    source = client.videos.create_and_poll(
        model="simulated/test-pattern", prompt="first", size="64x64", seconds="1"
    )
    remix = client.videos.remix(source.id, prompt="second")
    assert remix.remixed_from_video_id == source.id
    assert remix.model_extra["extra_fields"]["request_type"] == "video_remix"  # type: ignore[index]
    done = client.videos.poll(remix.id)
    assert done.status == "completed" and done.prompt == "second"

    failed = client.videos.create_and_poll(
        model="simulated/test-pattern",
        prompt="blocked",
        size="64x64",
        seconds="1",
        extra_body={"simulated_failure": "moderation"},
    )
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "moderation_blocked"
    with gateway.http() as http:
        resp = http.get(f"/v1/videos/{failed.id}/content")
        assert_envelope(resp, 409, "video_not_ready")


def test_delete_running_job_cancels_it(gateway: GatewayHandle) -> None:
    client = gateway.client()
    video = client.videos.create(
        model="simulated/test-pattern",
        prompt="slow",
        size="64x64",
        seconds="1",
        extra_body={"simulated_generation_seconds": 30},
    )
    deleted = client.videos.delete(video.id).model_dump()
    assert deleted["deleted"] is True
    assert deleted["extra_fields"]["upstream_deletion"] == "done"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_sdk_list_pages_through_own_videos(gateway: GatewayHandle) -> None:
    client = gateway.client()
    ids = [
        client.videos.create(
            model="simulated/test-pattern", prompt=f"p{i}", size="64x64", seconds="1"
        ).id
        for i in range(5)
    ]
    first = client.videos.list(limit=2)
    assert [v.id for v in first.data] == ids[::-1][:2]
    assert first.has_more is True
    everything = [v.id for v in client.videos.list(limit=2)]  # auto-pagination via `after`
    assert everything == ids[::-1]
    asc = client.videos.list(limit=100, order="asc")
    assert [v.id for v in asc.data] == ids
