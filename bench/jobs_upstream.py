"""A loopback upstream for the many-active-jobs bench: it answers polls and remembers them.

Every `GET /v1/videos/{id}` answers `in_progress` at once (or, with `--hang`, never: the
connection stays open, as a provider that hangs) and is logged as (id, time). `GET /_polls`
returns the log since the last `DELETE /_polls` as JSON `[[id, t], ...]`, which is how
`bench.active_jobs` counts polls per second, lag and duplicates. One process, uvloop.

Run: `python -m bench.jobs_upstream --port P [--hang]`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from typing import cast

import httptools
import orjson
import uvloop

from .upstream import video


class PollsProtocol(asyncio.Protocol):
    def __init__(self, log: list[tuple[str, float]], hang: bool) -> None:
        self.log = log
        self.hang = hang
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        path = self.url.partition(b"?")[0]
        self.url = b""
        if path == b"/_polls":
            if method == b"DELETE":
                self.log.clear()
                self.send(b"{}")
            else:
                self.send(orjson.dumps(self.log))
            return
        parts = path.strip(b"/").split(b"/")
        if len(parts) == 3 and parts[:2] == [b"v1", b"videos"] and method == b"GET":
            vid = parts[2].decode()
            self.log.append((vid, time.time()))
            if not self.hang:
                self.send(video(vid, status="in_progress"))
            return
        self.send(b'{"error":{"message":"no such route"}}', b"404 Not Found")

    def send(self, body: bytes, status: bytes = b"200 OK") -> None:
        if self.transport is None:
            return
        self.transport.write(
            b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (status, len(body), body)
        )


async def serve(host: str, port: int, hang: bool) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    log: list[tuple[str, float]] = []
    server = await loop.create_server(lambda: PollsProtocol(log, hang), sock=sock)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hang", action="store_true", help="never answer a poll")
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port, args.hang))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
