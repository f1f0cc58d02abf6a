"""A mirrored asset on local disk, sent as fast as the server allows.

Streaming through obstore copies every chunk twice in Python (Rust buffer → bytes → the
server's write); this sends the file itself:

- whole file, server offers ASGI's `http.response.pathsend` (granian): the server sends the
  file from its own (Rust) loop; Python touches no byte.
- otherwise (uvicorn has no pathsend or zero-copy extension; a byte range): `os.pread` of
  large chunks on a worker thread, one thread hop per chunk, each chunk handed to the server
  as it is read, so memory stays at a chunk or two whatever the file's size.

The file is opened before the response is returned, so a purge that wins the race is still
a clean 404 (the caller's), never a response cut off after its headers.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

CHUNK = 4 * 1024 * 1024  # bench: 1 MiB chunks reach ~75% of 4 MiB's MB/s under uvicorn
# granian's send returns before the bytes reach the socket, so about eight chunks wait in
# its buffers: a Range of the 200 MB file peaked at +33 MB RSS with 4 MiB chunks and +10 MB
# with 1 MiB, at the same MB/s as the sendfile limit (bench, content section)
QUEUED_CHUNK = 1024 * 1024
PATHSEND = "http.response.pathsend"


def open_asset(path: Path) -> int | None:
    """A read-only descriptor of `path`, or None when it is gone."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None


class FileAsset(Response):
    """Bytes [start, end) of the open file `fd` (closed when the response ends)."""

    def __init__(
        self,
        fd: int,
        path: Path,
        start: int,
        end: int,
        *,
        whole: bool,
        status_code: int,
        media_type: str,
        headers: dict[str, str],
    ) -> None:
        self.fd, self.path, self.start, self.end, self.whole = fd, path, start, end, whole
        self.status_code = status_code
        self.media_type = media_type
        self.background: BackgroundTask | None = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"status": self.status_code, "headers": self.raw_headers}
            await send({"type": "http.response.start", **start})
            pathsend = PATHSEND in scope.get("extensions", {})  # granian (see QUEUED_CHUNK)
            if scope.get("method") == "HEAD":
                await send({"type": "http.response.body", "body": b""})
            elif self.whole and pathsend:
                await send({"type": PATHSEND, "path": str(self.path)})
            else:
                await self._stream(send, QUEUED_CHUNK if pathsend else CHUNK)
        finally:
            os.close(self.fd)

    async def _stream(self, send: Send, size: int) -> None:
        loop = asyncio.get_running_loop()
        at, end = self.start, self.end
        if at >= end:
            await send({"type": "http.response.body", "body": b""})
            return
        while at < end:
            chunk = await loop.run_in_executor(None, os.pread, self.fd, min(size, end - at), at)
            if not chunk:  # truncated under us: end the body short rather than hang
                await send({"type": "http.response.body", "body": b""})
                return
            at += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": at < end})
