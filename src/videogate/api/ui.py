"""The web UI at `/ui`: its files, shipped inside the package, and content tickets for players.

The UI is static (Preact + htm modules, no build step at run time; `ui/` at the repository
root vendors them), so this module only serves `videogate/ui/*` with their media types,
an ETag, and cache headers: the vendored files carry their version in their name and are
immutable; everything else is revalidated (`no-cache` + ETag, a 304 when unchanged).

A `<video src>` cannot send `Authorization`, so the page asks for a **content ticket**:
`POST /ui/tickets {"video_id"}` (authenticated as any API call, the video must be the
caller's) answers a URL `/ui/content/{video_id}?ticket=…` valid for `TICKET_SECONDS`. The
ticket is an HS256 JWT under a key derived from the gateway's JWT secret (so it is never a
credential for the API itself), naming the video and the caller; `/ui/content` checks it,
checks that its virtual key is still usable (a revoked or blocked key stops streaming at
once), and serves the bytes exactly as `/v1/videos/{id}/content` does, Range included, so
the browser streams and seeks without holding the file in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import GatewayError, bad_request
from ..gateway import Gateway
from ..governance.auth import LOCAL, Authenticator, Principal
from ..lifecycle.call import Call
from .context import endpoint, principal, respond
from .parsing import read_json_object
from .videos import content_for

TICKET_SECONDS = 900  # a player seeks within one viewing; the page asks again after that
TICKET_AUDIENCE = "videogate:ui-content"
TICKET_KEY_LABEL = b"videogate ui content ticket v1"
# Suffix -> media type; a file of any other kind is not served.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"  # vendor/<name>-<version>.*
REVALIDATE = "no-cache"
# The page loads only its own files; media and posters may also be blob: (never used
# today, allowed for a future upload preview); no inline script, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str
    cache_control: str


@cache
def assets() -> dict[str, Asset]:
    """Every servable file under `videogate/ui`, read once (the whole UI is ~200 kB)."""
    found: dict[str, Asset] = {}
    pending = [("", files("videogate") / "ui")]
    while pending:
        prefix, folder = pending.pop()
        for entry in folder.iterdir():
            name = prefix + entry.name
            if entry.is_dir():
                pending.append((name + "/", entry))
                continue
            media_type = MEDIA_TYPES.get("." + entry.name.rsplit(".", 1)[-1])
            if media_type is None:
                continue
            body = entry.read_bytes()
            found[name] = Asset(
                body,
                media_type,
                '"' + hashlib.sha256(body).hexdigest()[:20] + '"',
                IMMUTABLE if name.startswith("vendor/") else REVALIDATE,
            )
    return found


def _file(request: Request, name: str) -> Response:
    asset = assets().get(name)
    if asset is None:
        raise GatewayError(404, "route_not_found", f"No UI file {name!r}.")
    headers = {"ETag": asset.etag, "Cache-Control": asset.cache_control, **SECURITY_HEADERS}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


async def index(request: Request) -> Response:
    return _file(request, "index.html")


async def static(request: Request) -> Response:
    return _file(request, request.path_params["path"])


# -- content tickets --------------------------------------------------------------------------
def _ticket_key(gw: Gateway) -> bytes:
    """A key of its own, derived from the JWT secret: a ticket can never pass as an API
    credential, and an API JWT never as a ticket."""
    return hmac.new(gw.auth.jwt_secret.encode(), TICKET_KEY_LABEL, hashlib.sha256).digest()


def mint_ticket(gw: Gateway, who: Principal, video_id: str, now: float) -> str:
    claims: dict[str, Any] = {
        "aud": TICKET_AUDIENCE,
        "vid": video_id,
        "knd": who.kind,
        "sub": who.name or who.owner,
        "exp": int(now) + TICKET_SECONDS,
    }
    if who.key_id is not None:
        claims["kid"] = who.key_id
    return jwt.encode(claims, _ticket_key(gw), algorithm="HS256")


def _ticket_denied(message: str) -> GatewayError:
    return GatewayError(401, "invalid_ticket", message, param="ticket")


async def ticket_principal(gw: Gateway, ticket: str, video_id: str) -> Principal:
    """Who the ticket was issued to, if it is genuine, unexpired, for this video, and its
    virtual key still usable now."""
    try:
        claims = jwt.decode(
            ticket,
            _ticket_key(gw),
            algorithms=["HS256"],
            audience=TICKET_AUDIENCE,
            options={"require": ["exp", "vid", "knd"]},
        )
    except jwt.ExpiredSignatureError:
        raise _ticket_denied("The content ticket has expired; ask for a new one.") from None
    except jwt.InvalidTokenError:
        raise _ticket_denied("The content ticket is not valid.") from None
    if claims["vid"] != video_id:
        raise _ticket_denied("The content ticket is for another video.")
    kind = claims["knd"]
    if kind == "virtual_key":
        # the key's current row, so a revocation or block ends streaming at once
        return Authenticator.check_row(await gw.keys.by_id(str(claims.get("kid"))))
    if kind == "admin":
        return Principal(kind="admin", owner="admin", name=str(claims.get("sub") or "admin"))
    if kind == "local" and not gw.settings.auth.enabled:
        return LOCAL
    raise _ticket_denied("The content ticket is not valid.")


@endpoint("ui_ticket")
async def create_ticket(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)
    body = await read_json_object(request, gw.settings.limits)
    video_id = body.get("video_id")
    if not isinstance(video_id, str) or not video_id:
        raise bad_request("missing_video_id", "video_id is required.", "video_id")
    video = await gw.reader.owned(who, video_id, call)  # 404 unless it is the caller's
    now = time.time()
    ticket = mint_ticket(gw, who, video.id, now)
    url = f"/ui/content/{video.id}?ticket={ticket}"
    return respond(
        call,
        {
            "object": "content_ticket",
            "video_id": video.id,
            "url": url,
            "thumbnail_url": url + "&variant=thumbnail",
            "expires_at": int(now) + TICKET_SECONDS,
        },
        {"Cache-Control": "no-store"},
    )


@endpoint("ui_content")
async def ticket_content(request: Request, gw: Gateway, call: Call) -> Response:
    video_id = request.path_params["video_id"]
    who = await ticket_principal(gw, request.query_params.get("ticket", ""), video_id)
    response = await content_for(gw, request, who, video_id, call)
    if response.status_code < 300:  # a 307 to a presigned URL must not outlive that URL
        response.headers["Cache-Control"] = "private, max-age=300"
    return response


ROUTES = [
    Route("/ui", index, methods=["GET"]),  # the page names its files from /ui/, not relatively
    Route("/ui/", index, methods=["GET"]),
    Route("/ui/tickets", create_ticket, methods=["POST"]),
    Route("/ui/content/{video_id}", ticket_content, methods=["GET"]),
    Route("/ui/{path:path}", static, methods=["GET"]),
]
