"""The google-genai SDK (1.55.0, Developer-API mode) pointed at `{host}/genai`, as Bifrost
serves Google's native API: generate_videos -> operations.get -> files.download, over the
same create, ownership and download as `/v1/videos`."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from .conftest import FAST_SIMULATED, GatewayHandle, assert_envelope
from .mocks.veo import GeminiVeoMock
from .provider_helpers import image_bytes, provider_config, sent_json

KEY = "AIza-gemini-upstream-secret"
ALIAS = "veo-3.1-fast-generate-preview"


def client_for(gw: GatewayHandle, key: str | None = None) -> genai.Client:
    return genai.Client(
        api_key=key or gw.key,
        http_options=types.HttpOptions(base_url=gw.url + "/genai", timeout=30_000),
    )


def finish(
    client: genai.Client, op: types.GenerateVideosOperation
) -> types.GenerateVideosOperation:
    deadline = time.time() + 30
    while not op.done:
        assert time.time() < deadline, op
        time.sleep(0.2)
        op = client.operations.get(op)
    return op


@pytest.fixture
def mock() -> Iterator[GeminiVeoMock]:
    with GeminiVeoMock(api_key=KEY, run_seconds=0.4) as m:
        yield m


@pytest.fixture
def gw(
    mock: GeminiVeoMock,
    make_gateway: Callable[..., GatewayHandle],
    monkeypatch: pytest.MonkeyPatch,
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_GEMINI_KEY", KEY)
    return make_gateway(
        providers={
            "gemini": provider_config("gemini", mock.origin, "env.VG_TEST_GEMINI_KEY"),
            "simulated": FAST_SIMULATED,
        },
        models={"aliases": {ALIAS: "simulated/test-pattern"}},
    )


def test_generate_poll_download_on_the_simulated_provider_via_an_alias(gw: GatewayHandle) -> None:
    client = client_for(gw)
    op = client.models.generate_videos(
        model=ALIAS,
        prompt="a red square",
        config=types.GenerateVideosConfig(
            aspect_ratio="16:9", resolution="720p", duration_seconds=1, number_of_videos=1
        ),
    )
    assert op.name and op.name.startswith(f"models/{ALIAS}/operations/")
    video_id = op.name.rsplit("/", 1)[-1]
    assert video_id.endswith(":simulated")
    op = finish(client, op)
    assert op.error is None and op.response is not None
    (generated,) = op.response.generated_videos or []
    assert generated.video is not None and generated.video.uri
    data = client.files.download(file=generated.video)
    assert data[4:8] == b"ftyp"  # a real MP4 from the simulated renderer
    # the same video on the OpenAI surface: 1280x720, 1 s, owned by the same key
    with gw.http() as http:
        same = http.get(f"/v1/videos/{video_id}").json()
        assert (same["size"], same["seconds"], same["status"]) == ("1280x720", "1", "completed")
        assert http.get(f"/v1/videos/{video_id}/content").content == data


def test_generate_on_veo_with_an_image_and_parameters(
    gw: GatewayHandle, mock: GeminiVeoMock
) -> None:
    client = client_for(gw)
    png = image_bytes((32, 18), "PNG")
    op = client.models.generate_videos(
        model="gemini/veo-3.1-generate-preview",
        prompt="a lighthouse at dusk",
        image=types.Image(image_bytes=png, mime_type="image/png"),
        config=types.GenerateVideosConfig(
            aspect_ratio="9:16", resolution="1080p", duration_seconds=6, negative_prompt="fog"
        ),
    )
    op = finish(client, op)
    assert op.response is not None and op.response.generated_videos
    video = op.response.generated_videos[0].video
    assert video is not None
    assert client.files.download(file=video) == mock.media()
    (body,) = sent_json(mock, "POST", ":predictLongRunning")
    assert body["parameters"]["aspectRatio"] == "9:16"
    assert body["parameters"]["resolution"] == "1080p"
    assert body["parameters"]["durationSeconds"] == 6
    assert body["parameters"]["negativePrompt"] == "fog"
    instance = body["instances"][0]
    assert instance["prompt"] == "a lighthouse at dusk"
    assert base64.b64decode(instance["image"]["bytesBase64Encoded"]) == png


def test_moderation_comes_back_as_veos_filtered_response(gw: GatewayHandle) -> None:
    client = client_for(gw)
    op = client.models.generate_videos(
        model="gemini/veo-3.1-generate-preview", prompt="this has moderation in it"
    )
    op = finish(client, op)
    assert op.response is not None
    assert not op.response.generated_videos
    assert op.response.rai_media_filtered_count == 1
    assert op.response.rai_media_filtered_reasons


def test_ownership_auth_and_bad_input(gw: GatewayHandle) -> None:
    client = client_for(gw)
    op = client.models.generate_videos(
        model=ALIAS, prompt="mine", config=types.GenerateVideosConfig(duration_seconds=1)
    )
    other = client_for(gw, gw.new_key("other"))
    with pytest.raises(genai_errors.ClientError) as err:
        other.operations.get(op)
    assert err.value.code == 404
    stranger = client_for(gw, "sk-bf-nobody")  # kept: a dropped Client closes its session
    with pytest.raises(genai_errors.ClientError) as err:
        stranger.operations.get(op)
    assert err.value.code == 401
    url = gw.url + "/genai/v1beta/models/" + ALIAS + ":predictLongRunning"
    headers = {"x-goog-api-key": gw.key or ""}
    bad: list[tuple[dict[str, Any], str]] = [
        ({"instances": []}, "invalid_parameter"),
        ({"instances": [{}]}, "missing_prompt"),
        ({"instances": [{"prompt": "p"}], "parameters": {"sampleCount": 2}}, "invalid_parameter"),
        ({"instances": [{"prompt": "p"}], "parameters": {"aspectRatio": "4:3"}}, "invalid_size"),
        (
            {"instances": [{"prompt": "p", "image": {"gcsUri": "gs://b/o"}}]},
            "unsupported_input_reference",
        ),
        (
            {"instances": [{"prompt": "p", "image": {"bytesBase64Encoded": "!!"}}]},
            "invalid_input_reference",
        ),
    ]
    for body, code in bad:
        assert_envelope(httpx.post(url, json=body, headers=headers), 400, code)
    assert_envelope(
        httpx.post(gw.url + "/genai/v1beta/models/x:generateContent", json={}, headers=headers),
        404,
        "route_not_found",
    )
    assert_envelope(
        httpx.get(gw.url + "/genai/v1beta/files/zzzz:download", headers=headers),
        404,
        "file_not_found",
    )


def test_vertex_mode_generate_and_fetch_predict_operation(
    gw: GatewayHandle, mock: GeminiVeoMock
) -> None:
    """`vertexai=True` with an API key and a base URL: publishers/.../models/{m} paths and
    `fetchPredictOperation`; the finished video comes back inline, as Vertex sends it."""
    client = genai.Client(
        vertexai=True,
        api_key=gw.key,
        http_options=types.HttpOptions(base_url=gw.url + "/genai", timeout=30_000),
    )
    # the Gemini API has no seed: the gateway says so before anything is sent upstream
    with pytest.raises(genai_errors.ClientError) as refused:
        client.models.generate_videos(
            model="gemini/veo-3.1-generate-preview",
            prompt="a lighthouse",
            config=types.GenerateVideosConfig(seed=3),
        )
    assert refused.value.code == 400 and "seed" in str(refused.value)
    assert mock.find_requests("POST") == []
    op = client.models.generate_videos(
        model="gemini/veo-3.1-generate-preview",  # -> publishers/gemini/models/veo-3.1-…
        prompt="a lighthouse",
        config=types.GenerateVideosConfig(duration_seconds=4, negative_prompt="fog"),
    )
    assert op.name and op.name.startswith("publishers/gemini/models/")
    op = finish(client, op)
    assert op.response is not None and op.response.generated_videos
    video = op.response.generated_videos[0].video
    assert video is not None and video.video_bytes == mock.media()
    (body,) = sent_json(mock, "POST", ":predictLongRunning")
    assert body["parameters"]["durationSeconds"] == 4
    assert body["parameters"]["negativePrompt"] == "fog"
