"""The limit for mirrored content: a minimal zero-copy file server on loopback.

One file, every GET path answers it (a single `Range: bytes=a-b` honoured with a 206), the
body sent with `os.sendfile` from the page cache straight to the socket: no byte passes
through Python. Blocking, one thread per connection, which is all a sequential curl needs.

Run: `python -m bench.fileserver --port P --file PATH`.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import threading

RANGE = re.compile(rb"\r\nrange: *bytes=(\d*)-(\d*)\r\n", re.I)


def serve_one(conn: socket.socket, path: str) -> None:
    with conn:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                start, end, status = 0, size, b"200 OK"
                found = RANGE.search(head + b"\r\n")
                extra = b""
                if found:
                    a, b = found.group(1), found.group(2)
                    start = int(a) if a else max(0, size - int(b))
                    end = min(int(b) + 1, size) if a and b else size
                    status = b"206 Partial Content"
                    extra = b"Content-Range: bytes %d-%d/%d\r\n" % (start, end - 1, size)
                conn.sendall(
                    b"HTTP/1.1 %s\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n%s\r\n"
                    % (status, end - start, extra)
                )
                at = start
                while at < end:
                    sent = os.sendfile(conn.fileno(), fd, at, end - at)
                    if sent == 0:
                        return
                    at += sent
            finally:
                os.close(fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", required=True)
    args = parser.parse_args(argv)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(64)
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_one, args=(conn, args.file), daemon=True).start()


if __name__ == "__main__":
    raise SystemExit(main())
