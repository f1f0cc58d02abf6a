"""`assets.s3_presigned_redirect`: content of a mirrored video is a 307 to a presigned GET
on the S3-compatible store (moto), so its bytes never pass through the gateway.

The Location fetches exactly the mirrored bytes (and honours Range) with no gateway or
store credentials, and only the video's owner is ever given one. Expiry: moto serves a
presigned URL without checking its signature or its age (tried: a URL past its expiry still
answers 200), so the test checks what S3 enforces instead: the URL carries a valid SigV4
query signature over the configured X-Amz-Expires (recomputed with botocore), which no
longer verifies once the expiry is altered, and whose window has passed after it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from .conftest import GatewayHandle, _require, assert_envelope, new_bucket
from .mocks.openai_videos import OpenAIVideosMock
from .test_durable_lifecycle import KEY, mirrored, provider, wait_for


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key=KEY, queued_seconds=0.1, run_seconds=0.3) as m:
        yield m


def s3_assets(expiry: float) -> dict[str, Any]:
    endpoint = _require("VIDEOGATE_TEST_S3_URL", "S3-compatible storage")
    bucket = new_bucket(endpoint, "vg-redirect-")
    return {
        "backend": "s3",
        "s3_bucket": bucket,
        "s3_prefix": "media",
        "s3_endpoint": endpoint,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
        "s3_presigned_redirect": True,
        "s3_presigned_expiry_seconds": expiry,
    }


def signature_valid(url: str, secret: str = "test") -> bool:
    """Whether `url`'s SigV4 query signature is the store credentials' for exactly this URL
    (method GET, object, date, expiry): what S3 checks before serving it."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    given = query.pop("X-Amz-Signature")
    request = AWSRequest("GET", urlunsplit(parts._replace(query=urlencode(query))))
    request.context["timestamp"] = query["X-Amz-Date"]
    auth = S3SigV4QueryAuth(
        Credentials("test", secret), "s3", "us-east-1", expires=int(query["X-Amz-Expires"])
    )
    wanted = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return bool(wanted == given)


def valid_until(url: str) -> float:
    query = dict(parse_qsl(urlsplit(url).query))
    signed = dt.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return signed.timestamp() + int(query["X-Amz-Expires"])


def mirrored_video(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock, expiry: float
) -> tuple[GatewayHandle, str]:
    gw = make_gateway(providers={"openai": provider(mock)}, assets=s3_assets(expiry))
    video = gw.client().videos.create(model="openai/sora-2", prompt="redirect me")
    with gw.http() as http:
        wait_for(lambda: mirrored(http, video.id))
    mock.expire_content(video.id.rsplit(":", 1)[0])  # only the mirrored copy is left
    return gw, video.id


def test_content_redirects_to_the_stored_bytes_and_honours_range(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw, vid = mirrored_video(make_gateway, mock, expiry=60)
    data = mock.media().video
    with gw.http() as http:
        answer = http.get(f"/v1/videos/{vid}/content")
        assert answer.status_code == 307, answer.text
        assert answer.headers["cache-control"] == "no-store"
        location = answer.headers["location"]
        assert "X-Amz-Signature=" in location and "/media/" in location
        assert "X-Amz-Expires=60" in location and signature_valid(location)
        thumb = http.get(f"/v1/videos/{vid}/content?variant=thumbnail")
        assert thumb.status_code == 307
    # A plain client: no Authorization, no store credentials.
    with httpx.Client(timeout=30) as plain:
        whole = plain.get(location)
        assert whole.status_code == 200 and whole.content == data
        part = plain.get(location, headers={"Range": "bytes=10-99"})
        assert part.status_code == 206 and part.content == data[10:100]
        assert plain.get(thumb.headers["location"]).content == mock.media().thumbnail


def test_redirect_is_signed_for_a_short_while_only(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw, vid = mirrored_video(make_gateway, mock, expiry=1)
    with gw.http() as http:
        asked = time.time()
        location = http.get(f"/v1/videos/{vid}/content").headers["location"]
    assert "X-Amz-Expires=1&" in location
    assert signature_valid(location)
    assert not signature_valid(location, secret="not-the-store-secret")
    assert not signature_valid(location.replace("X-Amz-Expires=1&", "X-Amz-Expires=3600&"))
    assert asked - 2 <= valid_until(location) - 1 <= time.time() + 1
    time.sleep(max(0.0, valid_until(location) - time.time()) + 0.1)
    assert time.time() > valid_until(location)  # S3 answers 403 "Request has expired" now
    with gw.http() as http:  # a new request gets a new URL
        again = http.get(f"/v1/videos/{vid}/content").headers["location"]
    assert signature_valid(again) and valid_until(again) > valid_until(location)


def test_ownership_is_checked_before_redirecting(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw, vid = mirrored_video(make_gateway, mock, expiry=60)
    stranger = gw.new_key("stranger")
    with gw.http(stranger) as http:
        answer = http.get(f"/v1/videos/{vid}/content")
        assert "location" not in answer.headers
        assert_envelope(answer, 404, "video_not_found")
    with httpx.Client(base_url=gw.url, timeout=30) as anonymous:
        answer = anonymous.get(f"/v1/videos/{vid}/content")
        assert answer.status_code == 401 and "location" not in answer.headers
