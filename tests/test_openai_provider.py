"""The `openai` adapter through the gateway, against the loopback OpenAI Videos mock."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from PIL import Image

from .conftest import FAST_SIMULATED, GatewayHandle, assert_envelope, free_port
from .mocks.openai_videos import OpenAIVideosMock

KEY = "sk-upstream-secret-123"


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key=KEY, queued_seconds=0.2, run_seconds=0.6) as m:
        yield m


def openai_provider(mock: OpenAIVideosMock, **over: Any) -> dict[str, Any]:
    return {
        "type": "openai",
        "base_url": mock.url,
        "keys": [{"name": "main", "value": "env.VG_TEST_OPENAI_KEY"}],
        "poll_after_ms": 100,
        **over,
    }


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    monkeypatch: pytest.MonkeyPatch,
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_OPENAI_KEY", KEY)
    return make_gateway(providers={"openai": openai_provider(mock), "simulated": FAST_SIMULATED})


def _wait(pred: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_sdk_end_to_end_through_openai_adapter(gw: GatewayHandle, mock: OpenAIVideosMock) -> None:
    client = gw.client()
    png = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 0, 255)).save(png, format="PNG")
    video = client.videos.create_and_poll(
        model="openai/sora-2",
        prompt="a cat",
        seconds="4",
        size="1280x720",
        input_reference=("ref.png", png.getvalue(), "image/png"),
    )
    assert video.status == "completed" and video.id.endswith(":openai")
    upstream_id = video.id.rsplit(":", 1)[0]
    assert upstream_id in mock.videos
    create_req = mock.find_requests("POST", "/videos")[0]
    assert create_req.headers["authorization"] == f"Bearer {KEY}"
    assert b'name="input_reference"; filename="ref.png"' in create_req.body

    assert client.videos.download_content(video.id).read() == mock.media().video
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/webp"
    assert thumb.read() == mock.media().thumbnail
    sprite = client.videos.download_content(video.id, variant="spritesheet")
    assert sprite.response.headers["content-type"] == "image/jpeg"

    remix = client.videos.remix(video.id, prompt="a dog")
    assert remix.remixed_from_video_id == video.id
    assert client.videos.poll(remix.id).status == "completed"

    # Finished jobs are served from the store: no further upstream retrieve.
    def retrieves() -> int:
        return sum(r.path == f"/v1/videos/{upstream_id}" for r in mock.find_requests("GET"))

    before = retrieves()
    assert client.videos.retrieve(video.id).status == "completed"
    assert retrieves() == before

    gone = client.videos.delete(video.id).model_dump()
    assert gone["extra_fields"]["upstream_deleted"] is True
    assert upstream_id in mock.deleted
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_upstream_errors_are_relayed(gw: GatewayHandle, mock: OpenAIVideosMock) -> None:
    body = {"prompt": "x", "model": "openai/sora-2"}
    with gw.http() as http:
        mock.fail_next(429, headers={"Retry-After": "7"}, path_contains="/videos")
        resp = http.post("/v1/videos", json=body)
        env = assert_envelope(resp, 429, mock_code(resp), bifrost=False)
        assert resp.headers["retry-after"] == "7"
        assert env["extra_fields"]["provider"] == "openai"
        assert env["extra_fields"]["model_requested"] == "sora-2"
        assert env["extra_fields"]["request_type"] == "video_generation"

        mock.fail_next(500, path_contains="/videos")
        assert http.post("/v1/videos", json=body).status_code == 500

        resp = http.post("/v1/videos", json={**body, "frobnicate": "1"})
        env = assert_envelope(resp, 400, mock_code(resp), bifrost=False)
        assert env["error"]["param"] == "frobnicate"

        # what OpenAI's API would refuse is refused before any call (issue 18, Low 16)
        sent = len(mock.find_requests("POST", "/videos"))
        for field, value in (("size", "999x999"), ("size", "1x1"), ("seconds", "7")):
            env = assert_envelope(
                http.post("/v1/videos", json={**body, field: value}), 400, f"invalid_{field}"
            )
            assert env["error"]["param"] == field
        assert len(mock.find_requests("POST", "/videos")) == sent

        mock.garbage_next(path_contains="/videos")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")


def mock_code(resp: Any) -> str:
    """The provider's own code, whatever it is, must come through unchanged."""
    code = resp.json()["error"]["code"]
    assert code
    return str(code)


def test_unreachable_timeout_and_wrong_key(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VG_TEST_OPENAI_KEY", "sk-wrong")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    gw = make_gateway(
        providers={
            "openai": openai_provider(mock),
            "dead": {"type": "openai", "base_url": dead, "keys": [{"value": "x"}]},
            "slow": openai_provider(mock, timeout_seconds=0.5),
        }
    )
    with gw.http() as http:
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x", "model": "dead/sora-2"}),
            502,
            "upstream_unreachable",
        )
        resp = http.post("/v1/videos", json={"prompt": "x", "model": "openai/sora-2"})
        assert_envelope(resp, 401, mock_code(resp), bifrost=False)
        assert "sk-wrong" not in resp.text
        mock.hang_next(3, path_contains="/videos")
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x", "model": "slow/sora-2"}),
            504,
            "upstream_timeout",
        )


def test_fallback_on_retryable_failure(gw: GatewayHandle, mock: OpenAIVideosMock) -> None:
    mock.fail_next(503, path_contains="/videos")
    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            json={
                "prompt": "x",
                "model": "openai/sora-2",
                "size": "720x1280",  # one both the openai API and the simulator take
                "seconds": "4",
                "fallbacks": ["simulated/test-pattern"],
            },
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["id"].endswith(":simulated")
        assert body["extra_fields"]["fallback_index"] == 1
        assert body["extra_fields"]["provider"] == "simulated"
        # A non-retryable error (bad request) does not fall back.
        resp = http.post(
            "/v1/videos",
            json={
                "prompt": "x",
                "model": "openai/sora-2",
                "size": "999x999",
                "fallbacks": ["simulated/test-pattern"],
            },
        )
        assert resp.status_code == 400


def test_raw_request_and_response_without_credentials(
    gw: GatewayHandle, mock: OpenAIVideosMock
) -> None:
    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            json={"prompt": "raw", "model": "openai/sora-2"},
            headers={"x-bf-send-back-raw-response": "true"},
        )
        fields = resp.json()["extra_fields"]
        assert fields["raw_request"]["prompt"] == "raw"
        assert fields["raw_response"]["id"] == resp.json()["id"].rsplit(":", 1)[0]
        assert KEY not in resp.text
        plain = http.post("/v1/videos", json={"prompt": "raw", "model": "openai/sora-2"})
        assert "raw_response" not in plain.json()["extra_fields"]


def test_delete_running_job_is_finished_by_worker(
    gw: GatewayHandle, mock: OpenAIVideosMock
) -> None:
    mock.run_seconds = 2.0
    client = gw.client()
    video = client.videos.create(model="openai/sora-2", prompt="long")
    upstream_id = video.id.rsplit(":", 1)[0]
    gone = client.videos.delete(video.id).model_dump()
    assert gone["deleted"] is True
    assert gone["extra_fields"]["upstream_deletion"] == "pending"
    assert gone["extra_fields"]["upstream_deleted"] is False
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    assert upstream_id not in mock.deleted
    _wait(lambda: upstream_id in mock.deleted)


def test_pending_deletion_survives_kill_9(
    spawn_gateway: Callable[..., Any], mock: OpenAIVideosMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VG_TEST_OPENAI_KEY", KEY)
    mock.run_seconds = 4.0
    proc = spawn_gateway(providers={"openai": openai_provider(mock)})
    key = (proc.log.parent / "spawned" / "default-key").read_text().strip()
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key=key, max_retries=0)
    video = client.videos.create(model="openai/sora-2", prompt="killed mid-way")
    upstream_id = video.id.rsplit(":", 1)[0]
    assert client.videos.delete(video.id).model_dump()["extra_fields"]["upstream_deletion"] == (
        "pending"
    )
    proc.kill9()
    assert upstream_id not in mock.deleted
    proc.start()  # same config and data dir: the outbox is all it has to go on
    _wait(lambda: upstream_id in mock.deleted, timeout=20)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
