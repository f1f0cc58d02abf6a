"""Reading an S3 object back through the gateway (assets/store.py): the exact bytes of
every range, a clean None for a missing key, a 502 `asset_store_unavailable`
(never an unhandled exception) when the store is down or refuses, and a prefixed store
reads its own keys. Against moto, started by scripts/services.sh."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from videogate.assets.store import AssetStore
from videogate.config import AssetsConfig
from videogate.errors import GatewayError

from .conftest import _require, new_bucket

pytestmark = pytest.mark.db


def s3_config(endpoint: str, **more: Any) -> AssetsConfig:
    bucket = new_bucket(endpoint, "vg-read-")
    values = {
        "backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint": endpoint,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
        **more,
    }
    return AssetsConfig(**values)


async def _chunks(body: Any) -> bytes:
    return b"".join([chunk async for chunk in body])


async def _source() -> AsyncIterator[bytes]:
    yield DATA


DATA = os.urandom(3 * 1024 * 1024 + 12345)  # more than one read chunk, not a multiple


@pytest.mark.parametrize("prefix", [None, "media/x"])
def test_ranges_read_back_exactly(tmp_path: Path, prefix: str | None) -> None:
    endpoint = _require("VIDEOGATE_TEST_S3_URL", "S3-compatible storage")
    store = AssetStore.from_config(s3_config(endpoint, s3_prefix=prefix), tmp_path)

    async def run() -> None:
        assert await store.put("vk_1/v~openai/video", _source(), "video/mp4")
        for start, end in ((0, None), (0, len(DATA)), (1, 2), (5, None), (1048575, 2097153)):
            body = await store.open("vk_1/v~openai/video", start, end)
            assert body is not None
            assert await _chunks(body) == DATA[start:end], (start, end)
        assert await store.open("vk_1/missing/video") is None
        # a half-read body releases its connection: the next read still works
        body = await store.open("vk_1/v~openai/video")
        assert body is not None
        first = await body.__anext__()
        assert first == DATA[: len(first)]
        await body.aclose()  # type: ignore[attr-defined]
        body = await store.open("vk_1/v~openai/video", 7, 9)
        assert body is not None and await _chunks(body) == DATA[7:9]

    asyncio.run(run())


class _Busy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"busy")

    def log_message(self, *args: Any) -> None:
        return


def test_a_store_that_is_down_or_refuses_is_a_502(tmp_path: Path) -> None:
    endpoint = _require("VIDEOGATE_TEST_S3_URL", "S3-compatible storage")
    good = s3_config(endpoint).model_dump()
    busy = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    threading.Thread(target=busy.serve_forever, daemon=True).start()
    down = AssetStore.from_config(
        AssetsConfig(**{**good, "s3_endpoint": "http://127.0.0.1:9"}), tmp_path
    )
    refusing = AssetStore.from_config(
        AssetsConfig(**{**good, "s3_endpoint": f"http://127.0.0.1:{busy.server_port}"}),
        tmp_path,
    )
    missing_bucket = AssetStore.from_config(
        AssetsConfig(**{**good, "s3_bucket": "vg-no-such-bucket-" + secrets.token_hex(4)}),
        tmp_path,
    )

    async def run() -> None:
        try:
            for store in (down, refusing):
                with pytest.raises(GatewayError) as err:
                    await store.open("vk_1/v/video")
                assert err.value.status == 502, err.value
                assert err.value.code == "asset_store_unavailable"
                assert "127.0.0.1" not in err.value.message
            # moto answers a missing bucket with 404 NoSuchBucket: gone, like a missing key
            assert await missing_bucket.open("vk_1/v/video") is None
        finally:
            busy.shutdown()

    asyncio.run(run())
