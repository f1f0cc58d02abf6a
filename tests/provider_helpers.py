"""Helpers the provider tests (`test_provider_*.py`) share: the provider entry of a gateway
config, small test images, waiting for background work, reading what a mock was sent, and
the checks every adapter's tests make (missing variants, unsupported remix or delete, a
refused key, assets fetched without credentials, numeric error codes relayed).

Fixtures stay in each test module (they differ per provider); these are plain functions.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import openai
import pytest
from PIL import Image

from .conftest import GatewayHandle, assert_envelope
from .mocks.base import MockServer

T = TypeVar("T")


def provider_config(
    type_name: str, base_url: str, key: str | dict[str, Any], **over: Any
) -> dict[str, Any]:
    """A `providers.<id>` config entry with one upstream key named `main` (`key` is its
    value, e.g. `env.VG_TEST_X_KEY`, or the whole key entry) and fast polling; `over` adds
    or replaces top-level fields."""
    entry = {"name": "main", **key} if isinstance(key, dict) else {"name": "main", "value": key}
    return {
        "type": type_name,
        "base_url": base_url,
        "keys": [entry],
        "poll_after_ms": 100,
        "allow_http_redirects": True,  # the mocks' signed URLs are loopback http
        **over,
    }


def image_bytes(
    size: tuple[int, int] = (16, 16), fmt: str = "PNG", color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    """A solid-colour image of `size` encoded as `fmt` (PNG, JPEG, WEBP...)."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def wait_for(
    pred: Callable[[], T], timeout: float = 15.0, what: str = "condition not met in time"
) -> T:
    """Poll `pred` until it returns something truthy, and return that; after `timeout`
    seconds fail saying `what`."""
    deadline = time.time() + timeout
    while not (value := pred()):
        assert time.time() < deadline, what
        time.sleep(0.05)
    return value


def until_ended(client: Any, video_id: str, timeout: float = 15.0) -> Any:
    """The video, retrieved through the gateway (openai SDK `client`) until it has completed
    or failed."""
    return wait_for(
        lambda: (v := client.videos.retrieve(video_id)).status in ("completed", "failed") and v,
        timeout,
    )


def assert_variants_missing(http: httpx.Client, video_id: str, *variants: str) -> None:
    """Each content variant answers 404 `variant_not_available`: the provider has none."""
    for variant in variants:
        resp = http.get(f"/v1/videos/{video_id}/content", params={"variant": variant})
        assert_envelope(resp, 404, "variant_not_available")


def assert_remix_unsupported(http: httpx.Client, video_id: str, prompt: str = "again") -> None:
    """A remix answers 400 `unsupported_operation`: the provider has none."""
    resp = http.post(f"/v1/videos/{video_id}/remix", json={"prompt": prompt})
    assert_envelope(resp, 400, "unsupported_operation")


def assert_deleted_in_gateway_only(client: Any, video_id: str) -> None:
    """Deleting a video of a provider without delete or cancel removes the gateway's copy
    and says nothing was deleted upstream."""
    gone = client.videos.delete(video_id).model_dump()
    assert gone["deleted"] is True, gone
    assert gone["extra_fields"]["upstream_deleted"] is False, gone
    assert gone["extra_fields"]["upstream_deletion"] == "unsupported", gone
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video_id)


def assert_create_refused(
    gw: GatewayHandle, model: str, status: int, code: str, secret: str
) -> dict[str, Any]:
    """A create through the gateway `gw` is refused upstream (e.g. a wrong key): the
    provider's `status` and `code` are relayed, and `secret` appears nowhere in the answer.
    Returns the envelope."""
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": model, "prompt": "x"})
    env = assert_envelope(resp, status, code, bifrost=False)
    assert secret not in resp.text, "the secret leaked into the answer"
    return env


def assert_fetched_without_credentials(mock: MockServer, path_contains: str) -> None:
    """Assets under `path_contains` (a CDN, pre-signed links) were fetched, and never with
    the provider key."""
    fetched = mock.find_requests("GET", path_contains)
    assert fetched, f"nothing was fetched from {path_contains}"
    assert all("authorization" not in r.headers for r in fetched), "a key went to the CDN"


def assert_coded_errors(
    http: httpx.Client,
    mock: MockServer,
    request: dict[str, Any],
    cases: list[tuple[int, int, str]],
    answer: Callable[[int], Any],
    *,
    path_contains: str,
    vendor: str,
) -> list[dict[str, Any]]:
    """For each (provider error number, HTTP status, `error.code`): the mock answers the
    create with HTTP 200 and `answer(number)`, and the gateway must relay the mapped status
    and code, with the provider's number in the message. Returns the envelopes."""
    envelopes = []
    for number, status, code in cases:
        mock.fail_next(200, answer(number), path_contains=path_contains)
        env = assert_envelope(http.post("/v1/videos", json=request), status, code, bifrost=False)
        assert f"{vendor} code {number}" in env["error"]["message"], env
        envelopes.append(env)
    return envelopes


def sent_json(mock: MockServer, method: str, path_contains: str) -> list[dict[str, Any]]:
    """The JSON bodies of the matching requests the mock received, in order."""
    return [json.loads(r.body) for r in mock.find_requests(method, path_contains)]


def upstream_token(public_id: str, provider: str) -> str:
    """The provider's part of a public video id `<token>:<provider>`."""
    token, _, suffix = public_id.rpartition(":")
    assert suffix == provider
    return token
