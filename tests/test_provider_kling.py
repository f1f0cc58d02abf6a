"""The `kling` adapter through the gateway, against the loopback Kling mock (JWT verified)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import jwt
import pytest

from videogate.api.auth import mint_jwt
from videogate.config import ConfigError, ProviderConfig, UpstreamKey
from videogate.errors import GatewayError, UpstreamError
from videogate.providers import kling as kling_module
from videogate.providers.base import (
    CallContext,
    CreateParams,
    InputReference,
    Operation,
    SourceVideo,
    UpstreamVideo,
)
from videogate.providers.kling import KlingProvider
from videogate.providers.specs import check_spec

from .conftest import GatewayHandle, assert_envelope
from .mocks.kling import KlingMock
from .provider_helpers import (
    assert_coded_errors,
    assert_deleted_in_gateway_only,
    assert_remix_unsupported,
    assert_variants_missing,
    image_bytes,
    provider_config,
    sent_json,
    until_ended,
)

ACCESS = "ak-upstream-123"
WRONG = "sk-not-the-secret-0123456789abcdef"
SECRET = "sk-upstream-secret-0123456789abcdef"  # 32 bytes, like a real one


@pytest.fixture
def mock() -> Iterator[KlingMock]:
    with KlingMock(ACCESS, SECRET, queued_seconds=0.2, run_seconds=0.5) as m:
        yield m


def kling(mock: KlingMock, key: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    key = key or {"value": SECRET, "extra": {"access_key": ACCESS}}
    return provider_config("kling", mock.url, key, **over)


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle], mock: KlingMock) -> GatewayHandle:
    return make_gateway(providers={"kling": kling(mock)})


def image(fmt: str = "PNG") -> bytes:
    return image_bytes((320, 320), fmt, (40, 120, 200))


def sent(mock: KlingMock, endpoint: str) -> list[dict[str, Any]]:
    return sent_json(mock, "POST", f"/v1/videos/{endpoint}")


def task_of(video_id: str) -> tuple[str, str]:
    """(endpoint, Kling task id) from a public id such as `text2video-abc:kling`."""
    endpoint, _, task = video_id.rsplit(":", 1)[0].partition("-")
    return endpoint, task


def test_text_and_image_jobs_complete_and_download(gw: GatewayHandle, mock: KlingMock) -> None:
    client = gw.client()
    text = client.videos.create_and_poll(
        model="kling/kling-v2-6", prompt="a fox", seconds="10", size="1080x1920"
    )
    assert text.status == "completed" and text.id.endswith(":kling")
    assert (text.size, text.seconds) == ("1080x1920", "10")
    (t2v,) = sent(mock, "text2video")
    # The gateway's reference for the create, where it makes one (to find a lost create).
    assert t2v.pop("external_task_id", "vg-").startswith("vg-")
    assert [t2v] == [
        {
            "model_name": "kling-v2-6",
            "prompt": "a fox",
            "duration": "10",
            "mode": "pro",
            "aspect_ratio": "9:16",
        }
    ]
    endpoint, task = task_of(text.id)
    assert (endpoint, mock.tasks[task].endpoint) == ("text2video", "text2video")
    assert mock.find_requests("GET", f"/v1/videos/text2video/{task}")

    by_url = client.videos.create_and_poll(
        model="kling/kling-v1-6",
        prompt="pan left",
        extra_body={
            "input_reference": {"image_url": "https://example.com/first.jpg"},
            "negative_prompt": "blur",
            "cfg_scale": 0.3,
        },
    )
    assert by_url.status == "completed"
    i2v = sent(mock, "image2video")[0]
    assert i2v["image"] == "https://example.com/first.jpg"
    assert (i2v["cfg_scale"], i2v["negative_prompt"]) == (0.3, "blur")  # number again
    assert "aspect_ratio" not in i2v  # image2video takes the image's shape
    endpoint, task = task_of(by_url.id)
    assert endpoint == "image2video"
    assert mock.find_requests("GET", f"/v1/videos/image2video/{task}")

    jpeg = image(fmt="JPEG")
    uploaded = client.videos.create_and_poll(
        model="kling/kling-v2-1", prompt="blink", input_reference=("f.jpg", jpeg, "image/jpeg")
    )
    assert uploaded.status == "completed"
    assert sent(mock, "image2video")[1]["image"] == base64.b64encode(jpeg).decode()

    for video in (text, by_url, uploaded):
        body = client.videos.download_content(video.id)
        assert body.response.headers["content-type"] == "video/mp4"
        assert body.read() == mock.video_bytes()

    # One token, signed as Kling documents it, served every call.
    tokens = {r.headers["authorization"] for r in mock.requests if r.path.startswith("/v1/")}
    assert len(tokens) == 1
    token = tokens.pop().removeprefix("Bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["iss"] == ACCESS and claims["exp"] - claims["nbf"] == 1805

    assert_deleted_in_gateway_only(client, text.id)
    with gw.http() as http:
        assert_variants_missing(http, by_url.id, "thumbnail")
        assert_remix_unsupported(http, by_url.id, "extend")


def test_moderated_task_fails_as_moderation(gw: GatewayHandle, mock: KlingMock) -> None:
    video = gw.client().videos.create_and_poll(model="kling/kling-v2-6", prompt="moderation me")
    assert video.status == "failed"
    assert video.error is not None
    assert video.error.code == "moderation_blocked"
    assert "risk control" in video.error.message


def test_task_lost_upstream_ends_as_expired(gw: GatewayHandle, mock: KlingMock) -> None:
    client = gw.client()
    video = client.videos.create(model="kling/kling-v2-6", prompt="vanishing")
    mock.forget(task_of(video.id)[1])  # Kling now answers 400 / 1201 "Task not found"
    current = until_ended(client, video.id)
    assert current.status == "failed"
    assert current.error is not None and current.error.code == "expired"


def test_error_codes_are_relayed_from_4xx_and_200_bodies(
    make_gateway: Callable[..., GatewayHandle], mock: KlingMock
) -> None:
    # Many retryable answers in a row: keep the circuit breaker out of this test.
    gw = make_gateway(providers={"kling": kling(mock, breaker_threshold=100)})
    body = {"model": "kling/kling-v2-6", "prompt": "x"}
    cases = [
        (1303, 429, "concurrency_limit_exceeded"),
        (1102, 429, "resource_pack_exhausted"),
        (1201, 400, "invalid_parameter"),
        (5001, 503, "upstream_unavailable"),
        (7777, 502, "kling_error_7777"),
    ]
    with gw.http() as http:
        assert_coded_errors(
            http,
            mock,
            body,
            cases,
            lambda number: {"code": number, "message": "nope", "request_id": "r-1"},
            path_contains="/v1/videos/",
            vendor="Kling",
        )
        env = assert_envelope(
            http.post("/v1/videos", json={**body, "prompt": "forbidden words"}),
            400,
            "moderation_blocked",
            bifrost=False,
        )
        assert "1301" in env["error"]["message"]
        mock.fail_next(429, path_contains="/v1/videos/", headers={"Retry-After": "3"})
        resp = http.post("/v1/videos", json=body)
        assert_envelope(resp, 429, "rate_limit_exceeded", bifrost=False)
        assert resp.headers["retry-after"] == "3"
        mock.garbage_next(path_contains="/v1/videos/")
        assert_envelope(http.post("/v1/videos", json=body), 502, "upstream_bad_response")
    assert mock.tasks == {}


def test_wrong_secret_is_rejected_by_the_jwt_check(
    make_gateway: Callable[..., GatewayHandle], mock: KlingMock
) -> None:
    gw = make_gateway(
        providers={
            "kling": kling(mock, {"value": f"{ACCESS}:{SECRET}"}),  # the "AK:SK" form
            "badkling": kling(mock, {"value": f"{ACCESS}:{WRONG}"}),
        }
    )
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": "badkling/kling-v2-6", "prompt": "x"})
        env = assert_envelope(resp, 401, "authorization_invalid", bifrost=False)
        assert "1002" in env["error"]["message"]
        assert WRONG not in resp.text
        good = http.post("/v1/videos", json={"model": "kling/kling-v2-6", "prompt": "x"})
        assert good.status_code == 200, good.text
    assert len(mock.tasks) == 1


def test_unsupported_combinations_are_refused_before_any_upstream_call(
    gw: GatewayHandle, mock: KlingMock
) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"model": "kling-v2-6", "seconds": "7"}, "invalid_seconds", "5, 10"),
        ({"model": "kling-v3", "seconds": "16"}, "invalid_seconds", "3, 4, 5"),
        ({"model": "kling-v2-6", "size": "1366x768"}, "invalid_size", "1280x720"),
        ({"model": "kling-v2-1"}, "missing_input_reference", "image-to-video only"),
        ({"model": "kling-v2-6", "cfg_scale": 2}, "invalid_parameter", "from 0 to 1"),
        ({"model": "kling-v2-6", "mode": "ultra"}, "invalid_parameter", "std, pro"),
        (
            {"model": "kling-v2-6", "size": "1280x720", "mode": "pro"},
            "invalid_parameter",
            "contradicts",
        ),
        ({"model": "kling-v2-6", "prompt": "p" * 2501}, "prompt_too_long", "2500"),
        ({"model": "kling-v2-6", "image": "abc"}, "invalid_parameter", "input_reference"),
    ]
    with gw.http() as http:
        for fields, code, hint in cases:
            body = {"prompt": "x", **fields, "model": "kling/" + fields["model"]}
            env = assert_envelope(http.post("/v1/videos", json=body), 400, code)
            assert hint in env["error"]["message"], env
        webp = http.post(
            "/v1/videos",
            data={"model": "kling/kling-v2-6", "prompt": "x"},
            files={"input_reference": ("a.webp", image(fmt="WEBP"), "image/webp")},
        )
        env = assert_envelope(webp, 400, "invalid_input_reference")
        assert "JPEG, PNG" in env["error"]["message"]
    assert mock.requests == []


def test_token_is_cached_until_close_to_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    key = UpstreamKey(name="k", value=f"{ACCESS}:{SECRET}")
    provider = KlingProvider("kling", ProviderConfig(type="kling", keys=[key]))
    now = time.time()
    monkeypatch.setattr(kling_module.time, "time", lambda: now)
    first = provider.token(key)
    assert provider.token(key) == first
    monkeypatch.setattr(kling_module.time, "time", lambda: now + 1800 - 299)
    renewed = provider.token(key)
    assert renewed != first
    claims = jwt.decode(
        renewed, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}
    )
    assert claims["exp"] == int(now + 1800 - 299) + 1800

    with pytest.raises(ConfigError, match="access key"):
        KlingProvider("k", ProviderConfig(type="kling", keys=[UpstreamKey(value="no-colon")]))


def test_timed_out_create_is_found_by_its_reference_and_billed(
    make_gateway: Callable[..., GatewayHandle], mock: KlingMock
) -> None:
    """Kling takes a client task id: a create with an Idempotency-Key sends one derived
    from it, so the retry after an upstream timeout finds exactly that task (not one with
    the same prompt made by someone else) and records it with a usage row."""
    gw = make_gateway(providers={"kling": kling(mock, timeout_seconds=0.5)})
    body = {"prompt": "slow to answer", "model": "kling/kling-v2-6", "seconds": "5"}
    mock.hang_next(1.5, path_contains="/v1/videos/text2video", method="POST")
    with gw.http() as http:
        timed_out = http.post("/v1/videos", json=body, headers={"Idempotency-Key": "k1"})
        assert_envelope(timed_out, 504, "upstream_timeout")
        deadline = time.time() + 10
        while len(mock.tasks) < 1:
            assert time.time() < deadline
            time.sleep(0.05)
        # Another client of the account makes the same prompt: not evidence of anything.
        other = {"model_name": "kling-v2-6", "prompt": "slow to answer", "duration": "5"}
        token = kling_module.KlingProvider("k", ProviderConfig(type="kling")).token(
            UpstreamKey(value=SECRET, extra={"access_key": ACCESS})
        )
        httpx.post(
            mock.url + "/v1/videos/text2video",
            json=other,
            headers={"Authorization": f"Bearer {token}"},
        )
        (first,) = sent(mock, "text2video")[:1]
        reference = first["external_task_id"]
        assert reference.startswith("vg-")
        retry = http.post("/v1/videos", json=body, headers={"Idempotency-Key": "k1"})
        assert retry.status_code == 200, retry.text
        assert retry.json()["extra_fields"]["reconciled"] is True
        _, task = task_of(retry.json()["id"])
        assert mock.tasks[task].body.get("external_task_id") == reference
        assert len(mock.tasks) == 2  # nothing created again
    admin = mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=60)
    with gw.http(admin) as root:
        usage = root.get("/api/governance/usage").json()["data"]
    assert [u["video_id"] for u in usage] == [retry.json()["id"]]


def test_a_retry_with_no_task_upstream_creates_it(
    make_gateway: Callable[..., GatewayHandle], mock: KlingMock
) -> None:
    """The timed-out create never reached Kling (the listing has no task with its
    reference): the retry creates it, once."""
    gw = make_gateway(providers={"kling": kling(mock, timeout_seconds=0.5)})
    body = {"prompt": "never arrived", "model": "kling/kling-v2-6", "seconds": "5"}
    mock.hang_next(1.5, path_contains="/v1/videos/text2video", method="POST")
    with gw.http() as http:
        assert (
            http.post("/v1/videos", json=body, headers={"Idempotency-Key": "k2"}).status_code == 504
        )
        time.sleep(1.2)
        mock.tasks.clear()  # as if Kling had dropped the request
        mock.external_ids.clear()
        retry = http.post("/v1/videos", json=body, headers={"Idempotency-Key": "k2"})
        assert retry.status_code == 200, retry.text
        assert "reconciled" not in retry.json()["extra_fields"]
        assert len(mock.tasks) == 1


# -- normalised fields and video-extend, at the adapter (the extend route is built elsewhere)


def adapter(mock: KlingMock) -> tuple[KlingProvider, UpstreamKey]:
    key = UpstreamKey(name="k", value=SECRET, extra={"access_key": ACCESS})
    config = ProviderConfig(type="kling", base_url=mock.url, keys=[key])
    return KlingProvider("kling", config), key


async def until_done(provider: KlingProvider, video_id: str, key: UpstreamKey) -> UpstreamVideo:
    deadline = time.time() + 10
    while (video := await provider.retrieve(video_id, key, CallContext())).status not in (
        "completed",
        "failed",
    ):
        assert time.time() < deadline, "the task did not end"
        await asyncio.sleep(0.05)
    return video


async def test_normalised_fields_map_to_klings_names(mock: KlingMock) -> None:
    provider, key = adapter(mock)
    try:
        params = CreateParams(
            model="kling-v2-6",
            prompt="rain on a window",
            seconds="5",
            aspect_ratio="9:16",
            resolution="1080p",
            negative_prompt="people",
            generate_audio=True,
        )
        check_spec(provider.spec(params.model), params)
        prepared = provider.prepare(params)
        assert prepared.size == "1080x1920"
        await provider.create(prepared, key, CallContext())
        assert sent(mock, "text2video")[0] == {
            "model_name": "kling-v2-6",
            "prompt": "rain on a window",
            "duration": "5",
            "mode": "pro",
            "aspect_ratio": "9:16",
            "negative_prompt": "people",
            "sound": "on",
        }
        tail = CreateParams(
            model="kling-v1-6",
            prompt="dusk falls",
            last_frame=InputReference(data=image(), content_type="image/png"),
        )
        check_spec(provider.spec(tail.model), tail)
        await provider.create(provider.prepare(tail), key, CallContext())
        i2v = sent(mock, "image2video")[0]
        assert i2v["image_tail"] == base64.b64encode(image()).decode() and "image" not in i2v

        # What a model lacks is refused before the call (the mock would refuse it too).
        for bad, message in (
            ({"model": "kling-v2-5-turbo", "generate_audio": True}, "does not generate audio"),
            ({"model": "kling-v2-master", "last_frame": tail.last_frame}, "last frame"),
            ({"model": "kling-v2-6", "seed": 1}, "seed"),
        ):
            refused = CreateParams(prompt="x", **bad)
            with pytest.raises(GatewayError, match=message):
                check_spec(provider.spec(refused.model), refused)
        with pytest.raises(GatewayError, match="set twice"):
            provider.prepare(
                CreateParams(
                    model="kling-v2-6", prompt="x", generate_audio=False, extra={"sound": "on"}
                )
            )
        with pytest.raises(UpstreamError, match="sound is not supported"):
            await provider.create(
                provider.prepare(
                    CreateParams(model="kling-v1-6", prompt="x", extra={"sound": "on"})
                ),
                key,
                CallContext(),
            )
    finally:
        await provider.aclose()


async def test_extend_a_finished_job_by_its_video_id(mock: KlingMock) -> None:
    provider, key = adapter(mock)
    ctx = CallContext()
    try:
        source = await provider.create(
            provider.prepare(CreateParams(model="kling-v1-6", prompt="a kite", seconds="10")),
            key,
            ctx,
        )
        extend = CreateParams(
            model="kling-v1-6",
            prompt="the kite climbs",
            negative_prompt="birds",
            operation=Operation.EXTEND,
            source=SourceVideo(upstream_id=source.id, seconds=10, size="1280x720"),
        )
        check_spec(provider.spec(extend.model), extend)
        prepared = provider.prepare(extend)
        assert (prepared.route, prepared.seconds, prepared.size) == (
            "video-extend",
            "5",
            "1280x720",
        )
        with pytest.raises(GatewayError, match="only a finished video"):
            await provider.create(prepared, key, ctx)  # the source is still running
        await until_done(provider, source.id, key)
        longer = await provider.create(prepared, key, ctx)
        task = source.id.partition("/")[2]
        assert sent(mock, "video-extend") == [
            {"prompt": "the kite climbs", "negative_prompt": "birds", "video_id": f"{task}-v0"}
        ]
        assert longer.id.startswith("video-extend/")
        done = await until_done(provider, longer.id, key)
        assert done.status == "completed"
        assert done.raw["task_result"]["videos"][0]["duration"] == "15"
        assert provider.public_token(longer.id).startswith("video-extend-")

        for bad, message in (
            ({"seconds": "8"}, "4 to 5 seconds"),
            ({"source": SourceVideo(upstream_id=source.id, seconds=178)}, "180 seconds"),
            ({"source": SourceVideo(url="https://example.com/v.mp4")}, "source Kling job"),
            ({"aspect_ratio": "1:1"}, "cannot be set"),
        ):
            with pytest.raises(GatewayError, match=message):
                provider.prepare(replace(extend, **bad))
        v2 = replace(extend, model="kling-v2-6")
        with pytest.raises(GatewayError, match="does not support extend"):
            check_spec(provider.spec(v2.model), v2)
    finally:
        await provider.aclose()
