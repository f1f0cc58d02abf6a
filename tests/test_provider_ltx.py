"""The `ltx` adapter: LTX's synchronous API wrapped into gateway jobs, through the gateway
(openai SDK) against the loopback LTX mock; restarts and crashes mid-call; request building
at the adapter level."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from videogate.config import ProviderConfig, UpstreamKey
from videogate.errors import GatewayError
from videogate.providers.base import CallContext, CreateParams, InputReference, Operation
from videogate.providers.ltx import LtxProvider
from videogate.providers.specs import check_spec

from .conftest import GatewayHandle, GatewayProcess, assert_envelope
from .mocks.ltx import LtxMock
from .provider_helpers import (
    assert_create_refused,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
    until_ended,
    upstream_token,
    wait_for,
)

KEY = "ltxv_" + "z" * 40
FAST = {"early_error_seconds": 0.2, "heartbeat_seconds": 0.1, "orphan_after_seconds": 0.5}


@pytest.fixture
def mock() -> Iterator[LtxMock]:
    with LtxMock(KEY, render_seconds=1.0) as m:
        yield m


def ltx(mock: LtxMock, state: Path, key: str = KEY, **options: Any) -> dict[str, Any]:
    opts = {"state_dir": str(state), "expected_seconds": 1.0, **FAST, **options}
    return provider_config("ltx", mock.origin, key, options=opts)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "ltx-state"


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle], mock: LtxMock, state: Path) -> GatewayHandle:
    return make_gateway(providers={"ltx": ltx(mock, state, concurrent_calls=1)})


def test_sync_call_becomes_a_job_queued_running_completed(
    gw: GatewayHandle, mock: LtxMock, state: Path
) -> None:
    client = gw.client()
    first = client.videos.create(model="ltx/ltx-2-fast", prompt="a harbour at dawn", seconds="6")
    second = client.videos.create(model="ltx/ltx-2-pro", prompt="a quiet street")
    assert (first.seconds, first.size) == ("6", "1920x1080")
    assert (second.status, second.seconds) == ("queued", "8")  # one call slot: it waits
    req = mock.find_requests("POST", "/v1/text-to-video")[0]
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(req.body) == {
        "prompt": "a harbour at dawn",
        "model": "ltx-2-fast",
        "duration": 6,
        "resolution": "1920x1080",
    }
    seen: list[tuple[str, int]] = []

    def second_done() -> bool:
        current = client.videos.retrieve(second.id)
        seen.append((current.status, current.progress))
        return current.status in ("completed", "failed")

    wait_for(second_done)
    statuses = [s for s, _ in seen]
    assert statuses[0] == "queued" and statuses[-1] == "completed", seen
    assert any(s == "in_progress" and 0 < p < 100 for s, p in seen), seen
    assert client.videos.retrieve(first.id).status == "completed"
    assert client.videos.download_content(second.id).read() == mock.video()
    with gw.http() as http:
        assert_variants_missing(http, second.id, "thumbnail")
    token = upstream_token(second.id, "ltx")
    assert (state / f"{token}.mp4").exists()
    gone = client.videos.delete(second.id).model_dump()
    assert gone["extra_fields"]["upstream_deleted"] is True
    assert not (state / f"{token}.mp4").exists() and not (state / f"{token}.json").exists()


def test_image_to_video(gw: GatewayHandle, mock: LtxMock) -> None:
    image = image_bytes(color=(250, 250, 0))
    video = gw.client().videos.create(
        model="ltx/ltx-2-fast",
        prompt="the flower opens",
        input_reference=("f.png", image, "image/png"),
        extra_body={"camera_motion": "dolly_in"},
        extra_headers={"x-bf-send-back-raw-request": "true"},
    )
    body = sent_json(mock, "POST", "/v1/image-to-video")[0]
    assert body["image_uri"] == "data:image/png;base64," + base64.b64encode(image).decode()
    assert body["camera_motion"] == "dolly_in"
    assert video.model_dump()["extra_fields"]["raw_request"]["image_uri"].startswith("<data: URL")
    assert until_ended(gw.client(), video.id).status == "completed"


def test_early_refusals_are_relayed_and_leave_no_job(
    gw: GatewayHandle, mock: LtxMock, state: Path
) -> None:
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": "ltx/ltx-2-fast", "prompt": "moderation"})
        env = assert_envelope(resp, 400, "upstream_400", bifrost=False)
        assert "content policy" in env["error"]["message"]
        mock.fail_next(429, headers={"Retry-After": "4"}, path_contains="/v1/text-to-video")
        resp = http.post("/v1/videos", json={"model": "ltx/ltx-2-fast", "prompt": "x"})
        assert_envelope(resp, 429, "upstream_429", bifrost=False)
        assert resp.headers["retry-after"] == "4"
    assert list(state.glob("*.json")) == []  # refused before rendering: no job was kept


def test_wrong_key_is_relayed_without_leaking_it(
    make_gateway: Callable[..., GatewayHandle], mock: LtxMock, state: Path
) -> None:
    wrong = make_gateway(providers={"ltx": ltx(mock, state, key="ltxv_wrong")})
    env = assert_create_refused(wrong, "ltx/ltx-2-fast", 401, "upstream_401", "ltxv_wrong")
    assert "API key" in env["error"]["message"]
    assert list(state.glob("*.json")) == []


def test_late_failures_fail_the_job(gw: GatewayHandle, mock: LtxMock) -> None:
    client = gw.client()
    mock.hang_next(0.5, path_contains="/v1/text-to-video")
    mock.fail_next(500, path_contains="/v1/text-to-video")
    video = client.videos.create(model="ltx/ltx-2-fast", prompt="x")
    assert video.status == "in_progress"
    done = until_ended(client, video.id)
    assert (done.status, done.error.code) == ("failed", "internal_error")
    mock.hang_next(0.5, path_contains="/v1/text-to-video")
    mock.fail_next(422, {"error": {"type": "validation_error", "message": "bad"}})
    done = until_ended(client, client.videos.create(model="ltx/ltx-2-fast", prompt="x").id)
    assert (done.error.code, done.error.message) == ("invalid_request", "bad")
    mock.hang_next(0.5, path_contains="/v1/text-to-video")
    mock.garbage_next(path_contains="/v1/text-to-video")  # 200, but JSON-ish, not a video
    done = until_ended(client, client.videos.create(model="ltx/ltx-2-fast", prompt="x").id)
    assert done.error.code == "internal_error" and "instead of a video" in done.error.message


def test_a_call_that_outlasts_the_timeout_fails(
    make_gateway: Callable[..., GatewayHandle], mock: LtxMock, state: Path
) -> None:
    mock.render_seconds = 5.0
    gw = make_gateway(providers={"ltx": ltx(mock, state, generation_timeout_seconds=0.6)})
    client = gw.client()
    done = until_ended(client, client.videos.create(model="ltx/ltx-2-fast", prompt="x").id)
    assert done.error.code == "internal_error" and "did not answer in time" in done.error.message


def test_gateway_shutdown_mid_call_fails_the_job(
    make_gateway: Callable[..., GatewayHandle], mock: LtxMock, state: Path
) -> None:
    mock.render_seconds = 30.0
    first = make_gateway(providers={"ltx": ltx(mock, state)})
    video = first.client().videos.create(model="ltx/ltx-2-fast", prompt="a long render")
    first.stop()
    job = json.loads((state / f"{upstream_token(video.id, 'ltx')}.json").read_text())
    assert job["status"] == "failed" and "shut down" in job["error"]["message"]
    again = make_gateway(providers={"ltx": ltx(mock, state)})
    # the restarted gateway learns of the failure on its next look at the job (the worker's
    # poll or a retrieve past the freshness window): wait for it rather than race it
    done = until_ended(again.client(key=first.key), video.id)
    assert (done.status, done.error.code) == ("failed", "internal_error")
    assert "safe to create the video again" in done.error.message


def test_crash_mid_call_fails_the_job_once_its_heartbeat_stops(
    spawn_gateway: Callable[..., GatewayProcess],
    make_gateway: Callable[..., GatewayHandle],
    mock: LtxMock,
    state: Path,
    tmp_path: Path,
) -> None:
    mock.render_seconds = 30.0
    proc = spawn_gateway(providers={"ltx": ltx(mock, state)})
    key = (tmp_path / "spawned" / "default-key").read_text().strip()
    made = httpx.post(
        proc.url + "/v1/videos",
        json={"model": "ltx/ltx-2-fast", "prompt": "x"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert made.status_code == 200, made.text
    video_id = made.json()["id"]
    job_file = state / f"{upstream_token(video_id, 'ltx')}.json"
    beat = json.loads(job_file.read_text())["heartbeat"]
    wait_for(lambda: json.loads(job_file.read_text())["heartbeat"] > beat, 5)  # kept alive
    proc.kill9()
    assert json.loads(job_file.read_text())["status"] == "in_progress"  # nobody said otherwise
    # The gateway comes back (same store, same state directory) and polls the job again.
    again = make_gateway(providers={"ltx": ltx(mock, state)})
    done = until_ended(again.client(key=key), video_id)
    assert (done.status, done.error.code) == ("failed", "internal_error")
    assert "stopped" in done.error.message


@pytest.mark.parametrize(
    ("over", "code", "param"),
    [
        ({"seconds": "7"}, "invalid_seconds", "seconds"),
        ({"size": "1280x720"}, "invalid_size", "size"),
        ({"model": "ltx/ltx-2-pro", "seconds": "12"}, "invalid_seconds", "seconds"),
        ({"seconds": "12", "size": "3840x2160"}, "invalid_seconds", "seconds"),
        ({"duration": 6}, "invalid_parameter", "duration"),
        ({"prompt": "x" * 5001}, "prompt_too_long", "prompt"),
    ],
)
def test_invalid_requests_never_reach_ltx(
    gw: GatewayHandle, mock: LtxMock, over: dict[str, Any], code: str, param: str
) -> None:
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": "ltx/ltx-2-fast", "prompt": "x", **over})
    assert assert_envelope(resp, 400, code)["error"]["param"] == param
    assert mock.requests == []


# -- adapter level ---------------------------------------------------------------------------


@pytest.fixture
async def adapter(tmp_path: Path) -> AsyncIterator[LtxProvider]:
    provider = LtxProvider(
        "ltx", ProviderConfig(type="ltx", options={"state_dir": str(tmp_path / "s")})
    )
    yield provider
    await provider.aclose()


def test_normalised_fields_are_mapped(adapter: LtxProvider) -> None:
    p = CreateParams(
        model="ltx-2-3-pro",
        prompt="x",
        seconds="10",
        resolution="4k",
        aspect_ratio="9:16",
        fps=48,
        generate_audio=False,
        input_reference=InputReference(image_url="https://example.com/a.png"),
        last_frame=InputReference(image_url="https://example.com/b.png"),
    )
    check_spec(adapter.spec(p.model), p)
    prepared = adapter.prepare(p)
    assert prepared.route == "/v1/image-to-video"
    assert (prepared.size, prepared.seconds) == ("2160x3840", "10")
    assert prepared.body == {
        "prompt": "x",
        "model": "ltx-2-3-pro",
        "duration": 10,
        "resolution": "2160x3840",
        "fps": 48,
        "generate_audio": False,
        "image_uri": "https://example.com/a.png",
        "last_frame_uri": "https://example.com/b.png",
    }


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"seed": 1}, "unsupported_seed"),
        ({"negative_prompt": "blur"}, "unsupported_negative_prompt"),
        ({"last_frame": InputReference(image_url="https://e/a.png")}, "unsupported_last_frame"),
        ({"fps": 30}, "invalid_fps"),
        ({"aspect_ratio": "9:16"}, "invalid_aspect_ratio"),
        ({"resolution": "720p"}, "invalid_resolution"),
        (
            {"reference_images": [InputReference(image_url="https://e/a.png")]},
            "too_many_reference_images",
        ),
        ({"operation": Operation.EXTEND}, "unsupported_operation"),
    ],
)
def test_model_table_refuses(adapter: LtxProvider, over: dict[str, Any], code: str) -> None:
    p = CreateParams(**{"model": "ltx-2-fast", "prompt": "x", **over})
    with pytest.raises(GatewayError) as caught:
        check_spec(adapter.spec(p.model), p)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"seconds": "14", "fps": 50}, "invalid_seconds"),
        ({"size": "1920x1080", "resolution": "1080p"}, "invalid_parameter"),
        (
            {"model": "ltx-2-3-fast", "last_frame": InputReference(image_url="https://e/b.png")},
            "input_reference_required",
        ),
        (
            {
                "input_reference": InputReference(
                    data=b"\x89PNG\r\n\x1a\n" + bytes(6 * 1024 * 1024), content_type="image/png"
                )
            },
            "input_reference_too_large",
        ),
        ({"input_reference": InputReference(file_id="file_1")}, "unsupported_input_reference"),
        ({"operation": Operation.EDIT}, "unsupported_operation"),
        ({"seconds": "6.5"}, "invalid_seconds"),
    ],
)
def test_prepare_refuses(adapter: LtxProvider, over: dict[str, Any], code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        adapter.prepare(CreateParams(**{"model": "ltx-2-fast", "prompt": "x", **over}))
    assert caught.value.code == code


def test_orphan_window_must_exceed_the_heartbeat(tmp_path: Path) -> None:
    options = {"state_dir": str(tmp_path), "heartbeat_seconds": 5, "orphan_after_seconds": 8}
    with pytest.raises(ValueError, match="orphan_after_seconds"):
        LtxProvider("ltx", ProviderConfig(type="ltx", options=options))


def test_unknown_job_ids_are_404s(adapter: LtxProvider) -> None:
    with pytest.raises(GatewayError) as caught:
        adapter._load("../etc/passwd")
    assert caught.value.status == 404


async def test_running_job_has_no_content_and_its_deletion_waits(
    mock: LtxMock, tmp_path: Path
) -> None:
    mock.render_seconds = 1.0
    options = {"state_dir": str(tmp_path / "s"), **FAST}
    provider = LtxProvider("ltx", ProviderConfig(type="ltx", base_url=mock.origin, options=options))
    key = UpstreamKey(name="main", value=KEY)
    try:
        prepared = provider.prepare(CreateParams(model="ltx-2-fast", prompt="x"))
        job = await provider.create(prepared, key, CallContext())
        assert job.status == "in_progress"
        with pytest.raises(GatewayError) as caught:
            await provider.content(job.id, "video", key, CallContext())
        assert caught.value.code == "video_not_ready"
        pending = await provider.delete(job.id, key, CallContext())
        assert (pending.deleted, pending.pending) == (False, True)
        for _ in range(60):
            if (await provider.retrieve(job.id, key, CallContext())).status == "completed":
                break
            await asyncio.sleep(0.05)
        assert (await provider.delete(job.id, key, CallContext())).deleted is True
        assert list((tmp_path / "s").iterdir()) == []
        assert (await provider.delete(job.id, key, CallContext())).detail == "already gone"
    finally:
        await provider.aclose()
