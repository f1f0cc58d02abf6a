"""The /ui routes over HTTP: the page's files (media types, cache headers, 304s) and the
content tickets that let a `<video>` element load a caller's video without a header."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from videogate.api import ui
from videogate.api.auth import ADMIN_ROLE, VK_ROLE, mint_jwt

from .conftest import GatewayHandle, assert_envelope

SIMULATED = {"type": "simulated", "options": {"generation_seconds": 0.3, "fps": 8}}


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle]) -> GatewayHandle:
    return make_gateway(providers={"simulated": SIMULATED})


def new_video(gw: GatewayHandle, key: str | None = None) -> str:
    with gw.http(key) as http:
        video = http.post("/v1/videos", json={"prompt": "ui", "seconds": "1", "size": "64x64"})
    assert video.status_code == 200, video.text
    return str(video.json()["id"])


def finished_video(gw: GatewayHandle, key: str | None = None) -> str:
    """A completed job whose bytes the gateway has mirrored (it serves Range from there)."""
    video_id = new_video(gw, key)
    with gw.http(key) as http:
        deadline = time.monotonic() + 10
        while not http.get(f"/v1/videos/{video_id}").json()["extra_fields"].get("mirrored"):
            assert time.monotonic() < deadline, "the simulated job did not complete"
            time.sleep(0.1)
    return video_id


def admin_token(gw: GatewayHandle) -> str:
    return mint_jwt(gw.settings.jwt_secret(), role=ADMIN_ROLE, ttl_seconds=60)


def default_key_id(gw: GatewayHandle) -> str:
    with gw.http(admin_token(gw)) as http:  # the admin API, not the CLI: no subprocess
        return str(http.get("/api/governance/virtual-keys").json()["data"][0]["id"])


def ticket_for(gw: GatewayHandle, video_id: str, key: str | None = None) -> dict[str, Any]:
    with gw.http(key) as http:
        resp = http.post("/ui/tickets", json={"video_id": video_id})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    return dict(resp.json())


def test_index_and_files_with_their_types_and_cache_headers(gw: GatewayHandle) -> None:
    for path in ("/ui", "/ui/"):
        page = httpx.get(gw.url + path)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert '<script type="module" src="/ui/app.js">' in page.text
    app = httpx.get(gw.url + "/ui/app.js")
    assert app.headers["content-type"] == "text/javascript; charset=utf-8"
    assert app.headers["cache-control"] == "no-cache"
    again = httpx.get(gw.url + "/ui/app.js", headers={"If-None-Match": app.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    # every file the page names exists, the versioned vendor files are immutable
    for name in ui.assets():
        assert name.count(".") >= 1
    vendored = [n for n in ui.assets() if n.startswith("vendor/") and n != "vendor/LICENSES.txt"]
    assert len(vendored) == 5
    for name in vendored:
        resp = httpx.get(f"{gw.url}/ui/{name}")
        assert resp.status_code == 200, name
        assert resp.headers["cache-control"] == ui.IMMUTABLE
    assert httpx.get(gw.url + "/ui/style.css").headers["content-type"].startswith("text/css")
    # no file outside the UI's own, and no other kinds of file
    for path in ("/ui/missing.js", "/ui/../api/ui.py", "/ui/vendor", "/ui/%2e%2e/config.py"):
        assert_envelope(httpx.get(gw.url + path), 404, "route_not_found")


def test_ticket_plays_the_callers_video_with_ranges(gw: GatewayHandle) -> None:
    video_id = finished_video(gw)
    ticket = ticket_for(gw, video_id)
    assert ticket["expires_at"] - time.time() == pytest.approx(ui.TICKET_SECONDS, abs=5)
    url = gw.url + ticket["url"]
    whole = httpx.get(url)  # no Authorization header: the ticket is the credential
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.content[4:8] == b"ftyp"
    part = httpx.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"
    thumb = httpx.get(gw.url + ticket["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"


def test_tickets_are_only_for_the_owner_and_only_for_one_video(gw: GatewayHandle) -> None:
    assert gw.key is not None
    with gw.http(admin_token(gw)) as http:
        other_key = http.post("/api/governance/virtual-keys", json={"name": "other"}).json()["key"]
    mine = new_video(gw)
    theirs = new_video(gw, other_key)
    # minting needs a credential, and the video must be the caller's (404, as the API)
    assert_envelope(
        httpx.post(gw.url + "/ui/tickets", json={"video_id": mine}), 401, "virtual_key_required"
    )
    with gw.http(other_key) as http:
        assert_envelope(http.post("/ui/tickets", json={"video_id": mine}), 404, "video_not_found")
        assert_envelope(http.post("/ui/tickets", json={}), 400, "missing_video_id")
    # a ticket opens its own video only
    ticket = ticket_for(gw, mine)["url"].split("ticket=")[1]
    for path in (f"/ui/content/{theirs}?ticket={ticket}", f"/ui/content/{mine}"):
        assert_envelope(httpx.get(gw.url + path), 401, "invalid_ticket")
    tampered = ticket[:-3] + ("AAA" if not ticket.endswith("AAA") else "BBB")
    assert_envelope(
        httpx.get(f"{gw.url}/ui/content/{mine}?ticket={tampered}"), 401, "invalid_ticket"
    )
    # an API JWT is no ticket, and a ticket is no API credential
    admin = mint_jwt(gw.settings.jwt_secret(), role=ADMIN_ROLE, ttl_seconds=60)
    assert_envelope(httpx.get(f"{gw.url}/ui/content/{mine}?ticket={admin}"), 401, "invalid_ticket")
    with gw.http(ticket) as http:
        assert http.get(f"/v1/videos/{mine}").status_code == 401


def test_an_expired_ticket_or_a_revoked_key_stops_playback(gw: GatewayHandle) -> None:
    assert gw.key is not None
    video_id = finished_video(gw)
    url = gw.url + ticket_for(gw, video_id)["url"]
    claims = jwt.decode(url.split("ticket=")[1], options={"verify_signature": False})
    key = ui.hmac.new(
        gw.settings.jwt_secret().encode(), ui.TICKET_KEY_LABEL, ui.hashlib.sha256
    ).digest()
    stale = jwt.encode({**claims, "exp": int(time.time()) - 5}, key, algorithm="HS256")
    resp = httpx.get(f"{gw.url}/ui/content/{video_id}?ticket={stale}")
    assert "expired" in assert_envelope(resp, 401, "invalid_ticket")["error"]["message"]

    assert httpx.get(url).status_code == 200
    key_id, admin = default_key_id(gw), admin_token(gw)
    with gw.http(admin) as http:
        assert http.patch(
            f"/api/governance/virtual-keys/{key_id}", json={"blocked": True}
        ).is_success
    assert_envelope(httpx.get(url), 403, "virtual_key_blocked")
    with gw.http(admin) as http:
        assert http.delete(f"/api/governance/virtual-keys/{key_id}").is_success
    assert_envelope(httpx.get(url), 401, "virtual_key_revoked")


def test_admin_and_key_jwts_get_tickets(gw: GatewayHandle) -> None:
    video_id = finished_video(gw)
    secret = gw.settings.jwt_secret()
    admin = mint_jwt(secret, role=ADMIN_ROLE, ttl_seconds=60)
    vk = mint_jwt(secret, role=VK_ROLE, ttl_seconds=60, vk=default_key_id(gw))
    for token in (admin, vk):
        assert httpx.get(gw.url + ticket_for(gw, video_id, token)["url"]).status_code == 200


def test_without_auth_the_page_and_its_tickets_need_no_credential(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    gw = make_gateway(providers={"simulated": SIMULATED}, auth={"enabled": False})
    video_id = finished_video(gw)
    url = gw.url + ticket_for(gw, video_id)["url"]
    assert httpx.get(url).status_code == 200
    claims = jwt.decode(url.split("ticket=")[1], options={"verify_signature": False})
    assert claims["knd"] == "local"
