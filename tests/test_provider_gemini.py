"""The `gemini` adapter (Veo on the Gemini Developer API) through the gateway, against the
loopback Gemini mock: operations, the redirected download, safety filtering and errors."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from videogate.config import ProviderConfig, UpstreamKey
from videogate.errors import GatewayError, UpstreamError
from videogate.providers.base import (
    CallContext,
    CreateParams,
    InputReference,
    Operation,
    SourceVideo,
)
from videogate.providers.gemini import GeminiProvider
from videogate.providers.specs import check_spec

from .conftest import GatewayHandle, assert_envelope
from .mocks.veo import FILTER_REASON, GeminiVeoMock
from .provider_helpers import (
    assert_create_refused,
    assert_deleted_in_gateway_only,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
    wait_for,
)

KEY = "AIza-gemini-upstream-secret"
MODEL = "gemini/veo-3.1-generate-preview"


@pytest.fixture
def mock() -> Iterator[GeminiVeoMock]:
    with GeminiVeoMock(api_key=KEY, run_seconds=0.4) as m:
        yield m


def provider(mock: GeminiVeoMock) -> dict[str, Any]:
    return provider_config("gemini", mock.origin, "env.VG_TEST_GEMINI_KEY")


@pytest.fixture
def gw(
    mock: GeminiVeoMock,  # first, so the mock outlives the gateway at teardown
    make_gateway: Callable[..., GatewayHandle],
    monkeypatch: pytest.MonkeyPatch,
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_GEMINI_KEY", KEY)
    return make_gateway(providers={"gemini": provider(mock)})


def image(fmt: str) -> bytes:
    return image_bytes((32, 18), fmt)


def create_bodies(mock: GeminiVeoMock) -> list[dict[str, Any]]:
    return sent_json(mock, "POST", ":predictLongRunning")


def test_text_to_video_poll_and_redirected_download(gw: GatewayHandle, mock: GeminiVeoMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(
        model=MODEL,
        prompt="a lighthouse at dusk",
        seconds="6",
        size="1080x1920",
        extra_body={"negative_prompt": "fog", "sampleCount": "1"},
        poll_interval_ms=100,
    )
    assert video.status == "completed", video
    assert video.progress == 100
    assert (video.size, video.seconds) == ("1080x1920", "6")
    token = video.id.rsplit(":", 1)[0]
    assert video.id.endswith(":gemini") and "/" not in token
    (name,) = mock.operations
    assert name == f"models/veo-3.1-generate-preview/operations/{token.split('~')[-1]}"
    assert video.expires_at == video.completed_at + 2 * 24 * 3600  # Gemini keeps 2 days

    (body,) = create_bodies(mock)
    assert body == {
        "instances": [{"prompt": "a lighthouse at dusk"}],
        "parameters": {
            "aspectRatio": "9:16",
            "durationSeconds": 6,
            "resolution": "1080p",
            "negativePrompt": "fog",
            "sampleCount": 1,
        },
    }
    create = mock.find_requests("POST", ":predictLongRunning")[0]
    assert create.headers["x-goog-api-key"] == KEY
    assert mock.find_requests("GET", f"/v1beta/{name}"), "the operation was never polled"

    data = client.videos.download_content(video.id)
    assert data.response.headers["content-type"] == "video/mp4"
    assert data.read() == mock.media()
    # The file URI answered 302 with the key; the signed URL served the bytes.
    assert mock.find_requests("GET", ":download?alt=media")
    assert mock.find_requests("GET", "/signed/")


def test_image_input_upload_and_data_url(gw: GatewayHandle, mock: GeminiVeoMock) -> None:
    client = gw.client()
    png = image("PNG")
    client.videos.create(
        model=MODEL, prompt="animate", input_reference=("first.png", png, "image/png")
    )
    jpeg = image("JPEG")
    data_url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    client.videos.create(
        model=MODEL, prompt="animate", extra_body={"input_reference": {"image_url": data_url}}
    )
    first, second = (b["instances"][0]["image"] for b in create_bodies(mock))
    assert first == {"bytesBase64Encoded": base64.b64encode(png).decode(), "mimeType": "image/png"}
    assert second == {
        "bytesBase64Encoded": base64.b64encode(jpeg).decode(),
        "mimeType": "image/jpeg",
    }

    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            json={"model": MODEL, "prompt": "x", "input_reference": {"image_url": data_url}},
            headers={"x-bf-send-back-raw-request": "true"},
        )
        assert resp.status_code == 200, resp.text
        shown = resp.json()["extra_fields"]["raw_request"]["instances"][0]["image"]
        assert shown["bytesBase64Encoded"].startswith("<") and KEY not in resp.text

        before = len(create_bodies(mock))
        resp = http.post(
            "/v1/videos",
            json={
                "model": MODEL,
                "prompt": "x",
                "input_reference": {"image_url": "https://example.com/a.png"},
            },
        )
        env = assert_envelope(resp, 400, "unsupported_input_reference")
        assert "data:image" in env["error"]["message"]
        resp = http.post(
            "/v1/videos",
            files={"input_reference": ("a.webp", image("WEBP"), "image/webp")},
            data={"model": MODEL, "prompt": "x"},
        )
        env = assert_envelope(resp, 400, "invalid_input_reference")
        assert "JPEG, PNG" in env["error"]["message"]
        assert len(create_bodies(mock)) == before  # refused before any upstream call


def test_delete_is_gateway_only_and_no_thumbnail(gw: GatewayHandle, mock: GeminiVeoMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(model=MODEL, prompt="waves", poll_interval_ms=100)
    assert video.status == "completed"
    with gw.http() as http:
        assert_variants_missing(http, video.id, "thumbnail", "spritesheet")
    assert_deleted_in_gateway_only(client, video.id)
    assert not mock.find_requests("DELETE")


def test_safety_filtered_and_failed_operations(gw: GatewayHandle, mock: GeminiVeoMock) -> None:
    client = gw.client()
    blocked = client.videos.create_and_poll(
        model=MODEL, prompt="a moderation trigger", poll_interval_ms=100
    )
    assert blocked.status == "failed"
    assert blocked.error is not None
    assert blocked.error.code == "moderation_blocked"
    assert FILTER_REASON in blocked.error.message
    with gw.http() as http:
        resp = http.get(f"/v1/videos/{blocked.id}/content")
        assert_envelope(resp, 409, "video_not_ready")

    broken = client.videos.create_and_poll(model=MODEL, prompt="a glitch", poll_interval_ms=100)
    assert broken.status == "failed"
    assert broken.error is not None and broken.error.code == "internal_error"


def test_progress_is_read_from_metadata_when_present(
    gw: GatewayHandle, mock: GeminiVeoMock
) -> None:
    mock.run_seconds = 3.0
    mock.report_progress = True
    client = gw.client()
    video = client.videos.create(model=MODEL, prompt="slow")
    assert video.status == "in_progress"

    def partly_done() -> bool:
        current = client.videos.retrieve(video.id)
        return current.status == "in_progress" and 0 < current.progress < 100

    wait_for(partly_done, timeout=10)


def test_upstream_errors_are_relayed(gw: GatewayHandle, mock: GeminiVeoMock) -> None:
    body = {"model": MODEL, "prompt": "x"}
    with gw.http() as http:
        mock.fail_next(500, path_contains=":predictLongRunning")
        env = assert_envelope(http.post("/v1/videos", json=body), 500, "INTERNAL", bifrost=False)
        assert env["error"]["message"] == "Internal error encountered."
        assert env["extra_fields"]["provider"] == "gemini"

        mock.fail_next(429, headers={"Retry-After": "9"}, path_contains=":predictLongRunning")
        resp = http.post("/v1/videos", json=body)
        assert_envelope(resp, 429, "RESOURCE_EXHAUSTED", bifrost=False)
        assert resp.headers["retry-after"] == "9"

        resp = http.post("/v1/videos", json={**body, "model": "gemini/veo-9-nonexistent"})
        env = assert_envelope(resp, 404, "NOT_FOUND", bifrost=False)
        assert "ListModels" in env["error"]["message"]

        mock.garbage_next(path_contains=":predictLongRunning")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")


def test_wrong_api_key_is_relayed_without_leaking_it(
    make_gateway: Callable[..., GatewayHandle],
    mock: GeminiVeoMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VG_TEST_GEMINI_KEY", "AIza-wrong-key")
    gw = make_gateway(providers={"gemini": provider(mock)})
    env = assert_create_refused(gw, MODEL, 400, "API_KEY_INVALID", "AIza-wrong-key")
    assert env["error"]["message"] == "API key not valid. Please pass a valid API key."


def test_unsupported_options_are_refused_before_any_upstream_call(
    gw: GatewayHandle, mock: GeminiVeoMock
) -> None:
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": MODEL, "prompt": "x", "size": "1024x1024"})
        env = assert_envelope(resp, 400, "invalid_size")
        assert env["error"]["param"] == "size"
        assert "1280x720, 720x1280, 1920x1080, 1080x1920" in env["error"]["message"]

        resp = http.post("/v1/videos", json={"model": MODEL, "prompt": "x", "seconds": "5"})
        env = assert_envelope(resp, 400, "invalid_seconds")
        assert "renders 4, 6, 8 seconds" in env["error"]["message"]

        # Veo 2 has its own durations (5-8 s) and renders 720p only.
        veo2 = {"model": "gemini/veo-2.0-generate-001", "prompt": "x"}
        resp = http.post("/v1/videos", json={**veo2, "size": "1920x1080"})
        assert_envelope(resp, 400, "invalid_size")
        resp = http.post("/v1/videos", json={**veo2, "seconds": "4"})
        assert_envelope(resp, 400, "invalid_seconds")

        # seed is a normalised field now: the Gemini API's Veo spec takes none
        resp = http.post("/v1/videos", json={"model": MODEL, "prompt": "x", "seed": 3})
        env = assert_envelope(resp, 400, "unsupported_seed")
        assert env["error"]["param"] == "seed"
        resp = http.post("/v1/videos", json={"model": MODEL, "prompt": "x", "aspectRatio": "1:1"})
        assert_envelope(resp, 400, "invalid_parameter")
    assert mock.requests == []

    with gw.http() as http:  # ...while a valid Veo 2 request goes out without `resolution`
        resp = http.post("/v1/videos", json={**veo2, "seconds": "5", "size": "720x1280"})
        assert resp.status_code == 200, resp.text
    (body,) = create_bodies(mock)
    assert body["parameters"] == {"aspectRatio": "9:16", "durationSeconds": 5}


# -- Veo 3.1 features, at the adapter (the edit/extend routes are built elsewhere) ----------


def gemini_adapter(mock: GeminiVeoMock) -> GeminiProvider:
    return GeminiProvider(
        "gemini",
        ProviderConfig(type="gemini", base_url=mock.origin, keys=[UpstreamKey(value=KEY)]),
    )


def png_ref(color: tuple[int, int, int] = (10, 20, 30)) -> InputReference:
    return InputReference(data=image_bytes((32, 18), "PNG", color), content_type="image/png")


async def test_frames_references_and_normalised_fields(mock: GeminiVeoMock) -> None:
    adapter = gemini_adapter(mock)
    ctx = CallContext()
    try:
        params = CreateParams(
            model="veo-3.1-generate-preview",
            prompt="a cat walks from the door to the window",
            seconds="8",
            aspect_ratio="9:16",
            resolution="4k",
            negative_prompt="blur",
            generate_audio=True,  # Veo 3 on the Gemini API always renders sound
            input_reference=png_ref(),
            last_frame=png_ref((200, 10, 10)),
        )
        check_spec(adapter.spec(params.model), params)
        prepared = adapter.prepare(params)
        assert prepared.size == "2160x3840" and prepared.seconds == "8"
        video = await adapter.create(prepared, UpstreamKey(value=KEY), ctx)
        (body,) = create_bodies(mock)
        assert body["parameters"] == {
            "aspectRatio": "9:16",
            "durationSeconds": 8,
            "resolution": "4k",
            "negativePrompt": "blur",
        }
        instance = body["instances"][0]
        assert set(instance) == {"prompt", "image", "lastFrame"}
        assert instance["lastFrame"]["mimeType"] == "image/png"
        assert mock.lookup(video.id).instance["lastFrame"] == instance["lastFrame"]

        refs = adapter.prepare(
            CreateParams(
                model="veo-3.1-fast-generate-preview",
                prompt="the same mug on a beach",
                reference_images=[png_ref(), png_ref((1, 2, 3))],
            )
        )
        await adapter.create(refs, UpstreamKey(value=KEY), ctx)
        sent = create_bodies(mock)[1]["instances"][0]["referenceImages"]
        assert [r["referenceType"] for r in sent] == ["asset", "asset"]

        # What the model or the surface does not take is refused before any call.
        lite = CreateParams(model="veo-3.1-lite-generate-preview", prompt="x", resolution="4k")
        with pytest.raises(GatewayError, match="720p, 1080p"):
            check_spec(adapter.spec(lite.model), lite)
        for bad, message in (
            ({"seed": 3}, "does not take a seed"),
            ({"fps": 24}, "Vertex AI only"),
            ({"generate_audio": False}, "always renders sound"),
            ({"last_frame": png_ref()}, "input_reference with last_frame"),
            ({"resolution": "4k", "seconds": "4"}, "8 seconds only"),
            ({"reference_images": [png_ref()] * 4}, "at most 3 reference images"),
        ):
            with pytest.raises(GatewayError, match=message):
                adapter.prepare(CreateParams(model="veo-3.1-generate-preview", prompt="x", **bad))
        assert len(create_bodies(mock)) == 2
    finally:
        await adapter.aclose()


async def test_extend_a_previous_job_by_its_operation(mock: GeminiVeoMock) -> None:
    adapter = gemini_adapter(mock)
    key, ctx = UpstreamKey(value=KEY), CallContext()
    try:
        first = await adapter.create(
            adapter.prepare(CreateParams(model="veo-3.1-generate-preview", prompt="a river")),
            key,
            ctx,
        )
        mock.complete_now(first.id)
        params = CreateParams(
            model="veo-3.1-generate-preview",
            prompt="the river reaches the sea",
            operation=Operation.EXTEND,
            source=SourceVideo(upstream_id=first.id, seconds=8),
        )
        check_spec(adapter.spec(params.model), params)
        prepared = adapter.prepare(params)
        assert (prepared.route, prepared.seconds, prepared.size) == ("extend", "7", "1280x720")
        extended = await adapter.create(prepared, key, ctx)
        body = create_bodies(mock)[1]
        uri = mock.operation_json(mock.lookup(first.id))["response"]["generateVideoResponse"][
            "generatedSamples"
        ][0]["video"]["uri"]
        assert body["instances"][0] == {
            "prompt": "the river reaches the sea",
            "video": {"uri": uri},
        }
        assert body["parameters"] == {"aspectRatio": "16:9", "resolution": "720p"}
        assert mock.lookup(extended.id).seconds == 15
        mock.complete_now(extended.id)
        assert (await adapter.retrieve(extended.id, key, ctx)).status == "completed"

        # Refused before any call: a source not 720p, a total past 148 s, other seconds.
        for bad, message in (
            ({"resolution": "1080p"}, "720p videos only"),
            ({"source": SourceVideo(upstream_id=first.id, seconds=145)}, "148 seconds"),
            ({"seconds": "4"}, "by 7 seconds"),
            ({"source": SourceVideo(url="gs://b/v.mp4")}, "file URI"),
        ):
            with pytest.raises(GatewayError, match=message):
                adapter.prepare(replace(params, **bad))
        lite = replace(params, model="veo-3.1-lite-generate-preview")
        with pytest.raises(GatewayError, match="does not support extend"):
            check_spec(adapter.spec(lite.model), lite)
        # The mock refuses a source Veo did not make, as Google does.
        with pytest.raises(UpstreamError, match="generated by Veo"):
            await adapter.create(
                adapter.prepare(
                    replace(params, source=SourceVideo(url="https://example.com/x.mp4"))
                ),
                key,
                ctx,
            )
    finally:
        await adapter.aclose()
