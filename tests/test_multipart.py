"""Multipart bodies the gateway builds read back exactly through aiohttp's server-side parser."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from videogate.providers.multipart import Multipart

names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
values = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
files = st.tuples(names, st.binary(max_size=300), names)


async def _read(body: bytes, ctype: str) -> list[tuple[str | None, str | None, bytes]]:
    """Parsed as the gateway parses uploads (Starlette over python-multipart)."""
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        chunk, sent = (b"" if sent else body), True
        return {"type": "http.request", "body": chunk, "more_body": False}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", ctype.encode())]}
    form = await Request(scope, receive).form(max_part_size=2**20)
    out: list[tuple[str | None, str | None, bytes]] = []
    for name, value in form.multi_items():
        if isinstance(value, str):
            out.append((name, None, value.encode()))
        else:
            out.append((name, value.filename, await value.read()))
    return out


@settings(max_examples=150, deadline=None)
@given(fields=st.lists(st.tuples(names, values), max_size=5), upload=st.none() | files)
def test_round_trip(fields: list[tuple[str, str]], upload: tuple[str, bytes, str] | None) -> None:
    form = Multipart()
    for name, value in fields:
        form.add_field(name, value)
    if upload is not None:
        form.add_file(upload[0], upload[1], filename=upload[2], content_type="image/png")
    body, ctype = form.encode()
    parts = asyncio.run(_read(body, ctype))
    want: list[tuple[str | None, str | None, bytes]] = [
        (_seen(n), None, v.encode()) for n, v in fields
    ]
    if upload is not None:
        want.append((_seen(upload[0]), _seen(upload[2]), upload[1]))
    assert parts == want


def _seen(name: str) -> str:
    """What a reader gets back: quotes and line breaks arrive percent-escaped (WHATWG)."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def test_boundary_never_in_a_part() -> None:
    form = Multipart()
    form.add_file("f", b"--" * 1000, filename="x", content_type="application/octet-stream")
    body, ctype = form.encode()
    boundary = ctype.split("boundary=")[1].encode()
    assert body.count(boundary) == 2
