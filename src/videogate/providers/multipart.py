"""multipart/form-data bodies (RFC 7578) built straight into bytes.

aiohttp's FormData builds a payload object and header set per part and streams them; for the
few short fields of a create that cost ~23 µs per request (a quarter of the upstream call's
client CPU, bench). Parts here are joined once; a reference image is already in memory.
"""

from __future__ import annotations

import os

_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})  # as browsers do (WHATWG)


def _quoted(value: str) -> bytes:
    return value.translate(_ESCAPES).encode()


class Multipart:
    """Fields and files in order; `body()` encodes them under a boundary none of them holds."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[tuple[bytes, bytes]] = []  # (part headers, content)

    def add_field(self, name: str, value: str) -> None:
        head = b'Content-Disposition: form-data; name="' + _quoted(name) + b'"\r\n\r\n'
        self._parts.append((head, value.encode()))

    def add_file(self, name: str, data: bytes, *, filename: str, content_type: str) -> None:
        head = (
            b'Content-Disposition: form-data; name="'
            + _quoted(name)
            + b'"; filename="'
            + _quoted(filename)
            + b'"\r\nContent-Type: '
            + content_type.encode("latin-1")
            + b"\r\n\r\n"
        )
        self._parts.append((head, data))

    def encode(self) -> tuple[bytes, str]:
        """(body, Content-Type header value)."""
        while True:
            boundary = os.urandom(16).hex().encode()
            if not any(boundary in content for _, content in self._parts):
                break
        dash = b"--" + boundary
        out = [
            piece
            for head, content in self._parts
            for piece in (dash, b"\r\n", head, content, b"\r\n")
        ]
        out += (dash, b"--\r\n")
        return b"".join(out), "multipart/form-data; boundary=" + boundary.decode()
