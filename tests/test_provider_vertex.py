"""The `vertex` adapter (Veo on Vertex AI) through the gateway, against the loopback Vertex
mock: a service account whose RSA key the test generates, OAuth tokens minted by google-auth
at the mock's token endpoint, inline and gs:// outputs, safety filtering and errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from videogate.config import ConfigError, ProviderConfig, UpstreamKey
from videogate.errors import GatewayError
from videogate.providers.base import CallContext, CreateParams, Operation, SourceVideo
from videogate.providers.specs import check_spec
from videogate.providers.vertex import VertexProvider

from .conftest import GatewayHandle, assert_envelope
from .mocks.veo import VertexVeoMock
from .provider_helpers import (
    assert_create_refused,
    assert_deleted_in_gateway_only,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
)

PROJECT = "vg-test-project"
EMAIL = f"veo-runner@{PROJECT}.iam.gserviceaccount.com"
MODEL = "vertex/veo-3.0-generate-001"
RESOURCE = f"projects/{PROJECT}/locations/us-central1/publishers/google/models/veo-3.0-generate-001"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa_key()


def service_account_json(mock: VertexVeoMock, key: rsa.RSAPrivateKey) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "kid-1",
            "private_key": pem(key),
            "client_email": EMAIL,
            "client_id": "1234567890",
            "token_uri": mock.token_uri,
        }
    )


@pytest.fixture
def mock(signing_key: rsa.RSAPrivateKey) -> Iterator[VertexVeoMock]:
    with VertexVeoMock(run_seconds=0.4) as m:
        m.trust(EMAIL, public_pem(signing_key), PROJECT)
        yield m


def provider(mock: VertexVeoMock) -> dict[str, Any]:
    key = {"name": "sa", "value": "env.VG_TEST_VERTEX_SA", "extra": {"location": "us-central1"}}
    return provider_config("vertex", mock.origin, key, options={"storage_base_url": mock.origin})


@pytest.fixture
def gw(
    mock: VertexVeoMock,  # first, so the mock outlives the gateway at teardown
    make_gateway: Callable[..., GatewayHandle],
    signing_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_VERTEX_SA", service_account_json(mock, signing_key))
    return make_gateway(providers={"vertex": provider(mock)})


def create_bodies(mock: VertexVeoMock) -> list[dict[str, Any]]:
    return sent_json(mock, "POST", ":predictLongRunning")


def test_inline_video_with_cached_token(gw: GatewayHandle, mock: VertexVeoMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(
        model=MODEL, prompt="a red kite", seconds="4", size="720x1280", poll_interval_ms=100
    )
    assert video.status == "completed", video
    assert (video.size, video.seconds, video.progress) == ("720x1280", "4", 100)
    assert video.expires_at is None  # inline bytes: Google keeps nothing for us
    token = video.id.rsplit(":", 1)[0]
    (name,) = mock.operations
    assert name.startswith(RESOURCE + "/operations/")
    assert token == f"{PROJECT}~us-central1~google~veo-3.0-generate-001~{name.rsplit('/', 1)[1]}"

    create = mock.find_requests("POST", ":predictLongRunning")[0]
    assert create.path == f"/v1/{RESOURCE}:predictLongRunning"
    assert create.headers["authorization"].startswith("Bearer ya29.mock-")
    assert create_bodies(mock) == [
        {
            "instances": [{"prompt": "a red kite"}],
            "parameters": {"aspectRatio": "9:16", "durationSeconds": 4, "resolution": "720p"},
        }
    ]
    polls = mock.find_requests("POST", ":fetchPredictOperation")
    assert polls and all(json.loads(p.body) == {"operationName": name} for p in polls)

    data = client.videos.download_content(video.id)
    assert data.response.headers["content-type"] == "video/mp4"
    assert data.read() == mock.media()
    # One token served every call: google-auth's token is cached until it goes stale.
    assert len(mock.find_requests("POST", "/token")) == 1


def test_gcs_output_and_vertex_only_parameters(gw: GatewayHandle, mock: VertexVeoMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(
        model=MODEL,
        prompt="a harbour",
        extra_body={
            "storageUri": "gs://vg-bucket/renders/",
            "seed": 7,
            "generate_audio": True,
            "labels": {"team": "video"},
        },
        poll_interval_ms=100,
    )
    assert video.status == "completed", video
    (body,) = create_bodies(mock)
    assert body["parameters"] == {
        "aspectRatio": "16:9",
        "durationSeconds": 8,
        "resolution": "720p",
        "storageUri": "gs://vg-bucket/renders/",
        "seed": 7,
        "generateAudio": True,
    }
    assert body["labels"] == {"team": "video"}
    assert client.videos.download_content(video.id).read() == mock.media()
    # The object name travels fully encoded, as the Cloud Storage JSON API requires.
    op_id = next(iter(mock.operations)).rsplit("/", 1)[1]
    raw_path = f"/storage/v1/b/vg-bucket/o/renders%2F{op_id}%2Fsample_0.mp4?alt=media"
    assert raw_path in mock.storage_raw_paths
    storage = mock.find_requests("GET", "/storage/v1/b/")[0]
    assert storage.headers["authorization"].startswith("Bearer ya29.mock-")


def test_image_upload_is_sent_inline(gw: GatewayHandle, mock: VertexVeoMock) -> None:
    jpeg = image_bytes((32, 18), "JPEG", (10, 120, 200))
    gw.client().videos.create(
        model=MODEL, prompt="pan left", input_reference=("f.jpg", jpeg, "image/jpeg")
    )
    (body,) = create_bodies(mock)
    assert body["instances"][0]["image"] == {
        "bytesBase64Encoded": base64.b64encode(jpeg).decode(),
        "mimeType": "image/jpeg",
    }


def test_delete_is_gateway_only_and_no_thumbnail(gw: GatewayHandle, mock: VertexVeoMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(model=MODEL, prompt="rain", poll_interval_ms=100)
    with gw.http() as http:
        assert_variants_missing(http, video.id, "thumbnail")
    assert_deleted_in_gateway_only(client, video.id)


def test_safety_filtered_job_fails_as_moderation(gw: GatewayHandle, mock: VertexVeoMock) -> None:
    video = gw.client().videos.create_and_poll(
        model=MODEL, prompt="moderation please", poll_interval_ms=100
    )
    assert video.status == "failed"
    assert video.error is not None and video.error.code == "moderation_blocked"


def test_revoked_token_is_replaced(gw: GatewayHandle, mock: VertexVeoMock) -> None:
    client = gw.client()
    video = client.videos.create(model=MODEL, prompt="a slow pan")
    mock.revoke_tokens()  # polls now get 401 until the adapter mints a new token
    assert client.videos.poll(video.id, poll_interval_ms=100).status == "completed"
    assert len(mock.find_requests("POST", "/token")) == 2


def test_upstream_errors_are_relayed(gw: GatewayHandle, mock: VertexVeoMock) -> None:
    body = {"model": MODEL, "prompt": "x"}
    with gw.http() as http:
        mock.fail_next(500, path_contains=":predictLongRunning")
        env = assert_envelope(http.post("/v1/videos", json=body), 500, "INTERNAL", bifrost=False)
        assert env["extra_fields"]["provider"] == "vertex"
        resp = http.post("/v1/videos", json={**body, "model": "vertex/veo-0-missing"})
        env = assert_envelope(resp, 404, "NOT_FOUND", bifrost=False)
        assert "Publisher Model" in env["error"]["message"]


def test_rejected_service_account_gives_a_clean_envelope(
    make_gateway: Callable[..., GatewayHandle],
    mock: VertexVeoMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    impostor = rsa_key()  # not the key the token endpoint trusts for this account
    monkeypatch.setenv("VG_TEST_VERTEX_SA", service_account_json(mock, impostor))
    gw = make_gateway(providers={"vertex": provider(mock)})
    env = assert_create_refused(gw, MODEL, 401, "invalid_grant", "PRIVATE KEY")
    assert "Invalid JWT Signature" in env["error"]["message"]
    assert mock.find_requests("POST", "/token")
    assert not mock.find_requests("POST", ":predictLongRunning")


def test_unsupported_options_are_refused_before_any_upstream_call(
    gw: GatewayHandle, mock: VertexVeoMock
) -> None:
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": MODEL, "prompt": "x", "size": "640x480"})
        env = assert_envelope(resp, 400, "invalid_size")
        assert "1920x1080" in env["error"]["message"]
        resp = http.post("/v1/videos", json={"model": MODEL, "prompt": "x", "seconds": "10"})
        env = assert_envelope(resp, 400, "invalid_seconds")
        assert "renders 4, 6, 8 seconds" in env["error"]["message"]
        resp = http.post(
            "/v1/videos",
            json={"model": MODEL, "prompt": "x", "webhookConfig": {"uris": ["https://a"]}},
        )
        assert_envelope(resp, 400, "unsupported_parameter")
        resp = http.post("/v1/videos", json={"model": MODEL, "prompt": "x", "seed": "abc"})
        assert_envelope(resp, 400, "invalid_seed")
    assert mock.requests == []  # not even a token request


def test_unusable_service_account_fails_at_start_up() -> None:
    for value in ("{not json", "/nonexistent/sa.json", json.dumps({"type": "service_account"})):
        config = ProviderConfig(type="vertex", keys=[UpstreamKey(name="bad", value=value)])
        with pytest.raises(ConfigError, match="'bad'"):
            VertexProvider("vertex", config)


# -- Veo 3.1 on Vertex AI, at the adapter (the edit/extend routes are built elsewhere) ------


async def test_vertex_parameters_and_extension(
    mock: VertexVeoMock, signing_key: rsa.RSAPrivateKey
) -> None:
    key = UpstreamKey(
        name="sa", value=service_account_json(mock, signing_key), extra={"location": "us-central1"}
    )
    adapter = VertexProvider(
        "vertex",
        ProviderConfig(
            type="vertex",
            base_url=mock.origin,
            keys=[key],
            options={"storage_base_url": mock.origin},
        ),
    )
    ctx = CallContext()
    model = "veo-3.1-generate-001"
    try:
        params = CreateParams(
            model=model,
            prompt="a kite",
            seed=11,
            fps=24,
            generate_audio=False,
            negative_prompt="rain",
            seconds="6",
        )
        check_spec(adapter.spec(model), params)
        first = await adapter.create(adapter.prepare(params), key, ctx)
        assert create_bodies(mock)[0]["parameters"] == {
            "aspectRatio": "16:9",
            "durationSeconds": 6,
            "resolution": "720p",
            "negativePrompt": "rain",
            "seed": 11,
            "fps": 24,
            "generateAudio": False,
        }
        mock.complete_now(first.id)
        # Extending an inline output sends its bytes back; a gs:// output, its URI.
        extend = CreateParams(
            model=model,
            prompt="the kite flies higher",
            operation=Operation.EXTEND,
            source=SourceVideo(upstream_id=first.id, seconds=6),
        )
        longer = await adapter.create(adapter.prepare(extend), key, ctx)
        video = create_bodies(mock)[1]["instances"][0]["video"]
        assert video["mimeType"] == "video/mp4"
        assert base64.b64decode(video["bytesBase64Encoded"]) == mock.media()
        stored = await adapter.create(
            adapter.prepare(replace(params, extra={"storageUri": "gs://vg-out/runs"})), key, ctx
        )
        mock.complete_now(stored.id)
        again = await adapter.create(
            adapter.prepare(replace(extend, source=SourceVideo(upstream_id=stored.id))), key, ctx
        )
        assert create_bodies(mock)[3]["instances"][0]["video"]["gcsUri"].startswith("gs://vg-out/")
        # 6 + 7 from the stored object; inline bytes carry no length the mock reads (8 + 7).
        assert (mock.lookup(again.id).seconds, mock.lookup(longer.id).seconds) == (13, 15)
        with pytest.raises(GatewayError, match="Cloud Storage"):
            adapter.prepare(replace(extend, source=SourceVideo(url="https://example.com/v.mp4")))
        # The API leaves a normalised field in `extra` as sent too: the typed one is mapped
        # and the copy is not sent a second time.
        typed = adapter.prepare(replace(params, seed=5, extra={"seed": 5}))
        assert typed.body["parameters"]["seed"] == 5
    finally:
        await adapter.aclose()
