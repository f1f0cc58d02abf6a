"""The `bedrock` adapter through the gateway, against the loopback bedrock-runtime mock (SigV4
verified) writing into an S3 store (the moto server of scripts/services.sh, else moto's
in-process server on loopback)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from videogate.config import ConfigError, ProviderConfig, UpstreamKey
from videogate.providers.base import CallContext, CreateParams, InputReference
from videogate.providers.bedrock import BedrockProvider

from .conftest import GatewayHandle, assert_envelope
from .mocks.bedrock import ACCOUNT, BedrockMock
from .provider_helpers import image_bytes, provider_config, until_ended

ACCESS = "AKIAVIDEOGATETEST01"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WRONG = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET"
REEL = "bedrock/amazon.nova-reel-v1:1"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """The shared moto server when the services are up, else one of our own on loopback."""
    url = os.environ.get("VIDEOGATE_TEST_S3_URL")
    if url:
        yield url
        return
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_url,
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )


@pytest.fixture
def bucket(s3: Any) -> str:
    name = "vg-bedrock-" + secrets.token_hex(4)
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def mock(s3: Any) -> Iterator[BedrockMock]:
    with BedrockMock(ACCESS, SECRET, s3, run_seconds=0.4) as m:
        yield m


def bedrock(mock: BedrockMock, s3_url: str, bucket: str, **key: Any) -> dict[str, Any]:
    entry = {
        "value": key.pop("value", SECRET),
        "extra": {"access_key_id": ACCESS, "region": "us-east-1", **key},
    }
    return provider_config(
        "bedrock",
        mock.url,
        entry,
        options={"s3_uri": f"s3://{bucket}/videos", "s3_base_url": s3_url},
    )


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle], mock: BedrockMock, s3_url: str, bucket: str
) -> GatewayHandle:
    return make_gateway(providers={"bedrock": bedrock(mock, s3_url, bucket)})


def started(mock: BedrockMock) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in mock.find_requests("POST", "/async-invoke")]


def png_1280x720() -> bytes:
    return image_bytes((1280, 720), "PNG", (30, 90, 160))


def test_text_job_completes_and_downloads_from_s3(
    gw: GatewayHandle, mock: BedrockMock, s3: Any, bucket: str
) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(
        model=REEL, prompt="a lighthouse at dusk", seconds="6", extra_body={"seed": 42}
    )
    assert video.status == "completed", video
    assert (video.size, video.seconds) == ("1280x720", "6")
    body = started(mock)[0]
    assert body["modelId"] == "amazon.nova-reel-v1:1"
    assert body["modelInput"] == {
        "taskType": "TEXT_VIDEO",
        "textToVideoParams": {"text": "a lighthouse at dusk"},
        "videoGenerationConfig": {
            "durationSeconds": 6,
            "fps": 24,
            "dimension": "1280x720",
            "seed": 42,
        },
    }
    assert body["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/videos"}}
    token, _, provider = video.id.rpartition(":")
    assert provider == "bedrock" and token.startswith(f"us-east-1.{ACCOUNT}.")

    content = client.videos.download_content(video.id)
    assert content.response.headers["content-type"] == "video/mp4"
    assert content.read() == mock.video_bytes()
    job = next(iter(mock.invocations.values()))
    stored = s3.get_object(Bucket=bucket, Key=f"videos/{job.id}/output.mp4")["Body"].read()
    assert stored == mock.video_bytes()  # what the gateway served is what Bedrock wrote
    # Every bedrock-runtime call carried a signature the mock recomputed and accepted.
    assert len(mock.verified) == len(
        [r for r in mock.requests if r.path.startswith("/async-invoke")]
    )


def test_long_and_image_jobs_pick_the_nova_task_type(gw: GatewayHandle, mock: BedrockMock) -> None:
    client = gw.client()
    long = client.videos.create_and_poll(model=REEL, prompt="a road trip", seconds="18")
    assert long.status == "completed" and long.seconds == "18"
    assert started(mock)[0]["modelInput"] == {
        "taskType": "MULTI_SHOT_AUTOMATED",
        "multiShotAutomatedParams": {"text": "a road trip"},
        "videoGenerationConfig": {"durationSeconds": 18, "fps": 24, "dimension": "1280x720"},
    }

    png = png_1280x720()
    animated = client.videos.create_and_poll(
        model=REEL, prompt="waves roll in", input_reference=("f.png", png, "image/png")
    )
    assert animated.status == "completed"
    sent = started(mock)[1]["modelInput"]
    assert sent["taskType"] == "TEXT_VIDEO"
    image = sent["textToVideoParams"]["images"][0]
    assert image["format"] == "png"
    assert image["source"]["bytes"] == base64.b64encode(png).decode()

    with gw.http() as http:
        # Refused before anything is spent: the wrong frame size, a duration off the grid,
        # and a first frame on a multi-shot job.
        small = image_bytes((640, 360), "PNG")
        resp = http.post(
            "/v1/videos",
            data={"model": REEL, "prompt": "x"},
            files={"input_reference": ("s.png", small, "image/png")},
        )
        assert (
            "1280x720" in assert_envelope(resp, 400, "invalid_input_reference")["error"]["message"]
        )
        resp = http.post("/v1/videos", json={"model": REEL, "prompt": "x", "seconds": "7"})
        assert_envelope(resp, 400, "invalid_seconds")
        resp = http.post(
            "/v1/videos",
            data={"model": REEL, "prompt": "x", "seconds": "12"},
            files={"input_reference": ("f.png", png, "image/png")},
        )
        assert_envelope(resp, 400, "invalid_seconds")
    assert len(started(mock)) == 2


def test_failed_and_refused_jobs_are_mapped(gw: GatewayHandle, mock: BedrockMock) -> None:
    client = gw.client()
    video = client.videos.create(model=REEL, prompt="moderation please")
    ended = until_ended(client, video.id)
    assert ended.status == "failed"
    assert ended.error is not None and ended.error.code == "moderation_blocked"
    assert "content filters" in ended.error.message
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": REEL, "prompt": "forbidden scene"})
        env = assert_envelope(resp, 400, "ValidationException", bifrost=False)
        assert "content filters" in env["error"]["message"]
        mock.fail_next(
            429,
            {"message": "Too many requests, please wait before trying again."},
            path_contains="/async-invoke",
            headers={"x-amzn-ErrorType": "ThrottlingException:http://internal.amazon.com/"},
        )
        resp = http.post("/v1/videos", json={"model": REEL, "prompt": "x"})
        assert_envelope(resp, 429, "ThrottlingException", bifrost=False)


def test_bad_credentials_are_refused_by_the_signature_check(
    make_gateway: Callable[..., GatewayHandle], mock: BedrockMock, s3_url: str, bucket: str
) -> None:
    gw = make_gateway(
        providers={
            "badsecret": bedrock(mock, s3_url, bucket, value=WRONG),
            "badid": bedrock(mock, s3_url, bucket, access_key_id="AKIANOTKNOWN"),
            "badregion": bedrock(mock, s3_url, bucket, region="eu-west-1"),
        }
    )
    with gw.http() as http:
        for provider, code in (
            ("badsecret", "InvalidSignatureException"),
            ("badid", "UnrecognizedClientException"),
            ("badregion", "InvalidSignatureException"),
        ):
            model = f"{provider}/amazon.nova-reel-v1:1"
            resp = http.post("/v1/videos", json={"model": model, "prompt": "x"})
            assert_envelope(resp, 403, code, bifrost=False)
            assert WRONG not in resp.text and SECRET not in resp.text
    assert mock.invocations == {} and mock.verified == []


def test_luma_ray_on_bedrock(gw: GatewayHandle, mock: BedrockMock) -> None:
    video = gw.client().videos.create_and_poll(
        model="bedrock/luma.ray-v2:0", prompt="a fox", seconds="9", size="960x540"
    )
    assert video.status == "completed" and (video.size, video.seconds) == ("960x540", "9")
    assert started(mock)[0]["modelInput"] == {
        "prompt": "a fox",
        "aspect_ratio": "16:9",
        "duration": "9s",
        "resolution": "540p",
        "loop": False,
    }


def test_manual_shots_and_key_config() -> None:
    config = ProviderConfig(
        type="bedrock",
        keys=[UpstreamKey(name="k", value=SECRET, extra={"access_key_id": ACCESS})],
        options={"s3_uri": "s3://b/p"},
    )
    provider = BedrockProvider("bedrock", config)
    still = "data:image/jpeg;base64," + base64.b64encode(image_bytes((1280, 720), "JPEG")).decode()
    prepared = provider.prepare(
        CreateParams(
            model="amazon.nova-reel-v1:1",
            prompt="",
            seed=7,
            extra={"shots": [{"text": "one", "image": still}, {"text": "two"}]},
        )
    )
    assert prepared.seconds == "12"
    body = prepared.body["modelInput"]
    assert body["taskType"] == "MULTI_SHOT_MANUAL"
    assert body["videoGenerationConfig"] == {"fps": 24, "dimension": "1280x720", "seed": 7}
    assert body["multiShotManualParams"]["shots"][0]["image"]["format"] == "jpeg"
    assert prepared.shown["modelInput"]["multiShotManualParams"]["shots"][0]["image"]["source"][
        "bytes"
    ].endswith("base64 characters>")
    with pytest.raises(ConfigError, match="output bucket"):
        BedrockProvider(
            "b",
            ProviderConfig(type="bedrock", keys=[UpstreamKey(value=f"{ACCESS}:{SECRET}")]),
        )


async def test_a_retried_create_is_one_invocation(
    mock: BedrockMock, s3_url: str, bucket: str
) -> None:
    """The gateway's reference travels as clientRequestToken: AWS answers a retry with the
    invocation the first attempt started (the mock does as AWS does)."""
    entry = bedrock(mock, s3_url, bucket)
    key = UpstreamKey(name="main", value=entry["keys"][0]["value"], extra=entry["keys"][0]["extra"])
    config = ProviderConfig(type="bedrock", base_url=mock.url, keys=[key], options=entry["options"])
    provider = BedrockProvider("bedrock", config)
    try:
        png = image_bytes((1280, 720), "PNG")
        prepared = provider.prepare(
            CreateParams(
                model="amazon.nova-reel-v1:1",
                prompt="x",
                reference="vg-0123456789abcdef",
                input_reference=InputReference(data=png, content_type="image/png"),
            )
        )
        ctx = CallContext(capture_raw=True)
        first = await provider.create(prepared, key, ctx)
        again = await provider.create(prepared, key, CallContext())
        assert first.id == again.id and len(mock.invocations) == 1
        assert started(mock)[0]["clientRequestToken"] == "vg-0123456789abcdef"
        shown = ctx.raw_request["modelInput"]["textToVideoParams"]["images"][0]["source"]
        assert shown["bytes"].endswith("base64 characters>")  # never the upload itself
        assert ctx.raw_request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].endswith(
            "/videos"
        )
        assert (await provider.retrieve(first.id, key, CallContext())).status == "in_progress"
    finally:
        await provider.aclose()
