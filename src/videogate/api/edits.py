"""Edits, extensions and characters (`/v1/videos/edits`, `/extensions`, `/characters`).

An edit or extension is a create with a source video: the body is parsed like a create's
(plus `video`), what it names is resolved (`lifecycle/sources.py`), and the create service
runs as for `POST /v1/videos`, so the Idempotency-Key, the cache headers, budgets and
webhooks apply unchanged. Shapes from openai-python 3.54 (`resources/videos.py`,
`types/video_edit_params.py`, `video_extend_params.py`, `video_create_character_*`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..gateway import Gateway
from ..lifecycle.call import Call
from ..providers.base import Operation
from ..store.characters import Character
from .context import endpoint, principal, respond
from .parsing import parse_character, parse_create
from .videos import mount_of, present, run_create


async def _derived(request: Request, gw: Gateway, call: Call, operation: Operation) -> Response:
    who = await principal(gw, request)
    body = await parse_create(request, gw.settings.limits, operation)
    body.mount = mount_of(request.url.path.removeprefix(request.scope.get("root_path", "")))
    await gw.inputs.resolve(who, body, call)
    created = await run_create(gw, request, who, body, call)
    headers = {"idempotent-replayed": "true"} if created.replayed else None
    source = body.source.native.video_id if body.source is not None else None
    more: dict[str, Any] = {"operation": operation.value, "source_video_id": source}
    return respond(call, present(created.video, call, **more, **created.extra), headers)


@endpoint("video_edit")
async def edit_video(request: Request, gw: Gateway, call: Call) -> Response:
    return await _derived(request, gw, call, Operation.EDIT)


@endpoint("video_extend")
async def extend_video(request: Request, gw: Gateway, call: Call) -> Response:
    return await _derived(request, gw, call, Operation.EXTEND)


def present_character(character: Character, call: Call) -> dict[str, Any]:
    """OpenAI's character object (`VideoCreateCharacterResponse`) and `extra_fields`."""
    return {
        "id": character.id,
        "name": character.name,
        "created_at": character.created_at,
        "extra_fields": call.extra_fields(),
    }


@endpoint("video_character_create")
async def create_character(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)
    name, video, _ = await parse_character(request, gw.settings.limits)
    character = await gw.characters.create(who, name, video)
    return respond(call, present_character(character, call))


@endpoint("video_character_retrieve")
async def get_character(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)
    character = await gw.characters.get(who, request.path_params["character_id"])
    return respond(call, present_character(character, call))
