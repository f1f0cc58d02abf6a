"""Characters: a name and a still frame taken from a short clip, reusable in later creates.

`POST /v1/videos/characters` uploads the clip; the gateway keeps no copy of it, only the
frame halfway through (PNG, in the asset store) and its row. A create naming the character
(`characters: [{"id": …}]`) sends providers its name and that still (`CharacterRef`), so a
provider that takes reference images gets a picture and one driven by the prompt a name.
Only the key that made a character can use or read it (404 for anyone else, as for videos).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

from ..assets.store import AssetStore
from ..errors import GatewayError, bad_request
from ..governance.auth import Principal
from ..providers.base import CharacterRef, InputReference
from ..providers.footage import UnreadableVideo, probe, still_png
from ..store.characters import Character, CharacterStore

STILL_TYPE = "image/png"


def character_not_found(character_id: str, param: str = "character_id") -> GatewayError:
    return GatewayError(
        404,
        "character_not_found",
        f"No character with id {character_id!r} exists or it is not yours.",
        param=param,
    )


def unreadable(exc: UnreadableVideo, param: str = "video") -> GatewayError:
    return bad_request("invalid_video", f"The video could not be read as a video: {exc}.", param)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Characters:
    def __init__(self, store: CharacterStore, assets: AssetStore) -> None:
        self.store = store
        self.assets = assets

    async def create(self, principal: Principal, name: str, video: bytes) -> Character:
        """Probe the clip, keep its middle frame, record the character."""
        try:
            footage = await asyncio.to_thread(probe, video)
            still = await asyncio.to_thread(still_png, video)
        except UnreadableVideo as exc:
            raise unreadable(exc) from None
        character_id = "char_" + os.urandom(16).hex()
        key = f"characters/{character_id}/still.png"
        await self.assets.put(key, _once(still), STILL_TYPE)
        character = Character(
            id=character_id,
            owner=principal.owner,
            name=name,
            still_key=key,
            still_type=STILL_TYPE,
            created_at=int(time.time()),
            source_seconds=footage.seconds,
            source_size=footage.size,
        )
        try:
            await self.store.insert(character)
        except BaseException:
            await self.assets.delete(key)
            raise
        return character

    async def get(self, principal: Principal, character_id: str) -> Character:
        found = await self.store.get_owned(_owner(principal), [character_id])
        if character_id not in found:
            raise character_not_found(character_id)
        return found[character_id]

    async def refs(self, principal: Principal, ids: list[str]) -> list[CharacterRef]:
        """The characters a create names, each with its still; 404 for one that is not the
        caller's."""
        found = await self.store.get_owned(_owner(principal), ids)
        refs = []
        for character_id in ids:
            character = found.get(character_id)
            if character is None:
                raise character_not_found(character_id, "characters")
            refs.append(CharacterRef(character.id, character.name, await self._still(character)))
        return refs

    async def _still(self, character: Character) -> InputReference | None:
        chunks = await self.assets.open(character.still_key)
        if chunks is None:  # the asset store lost it: the name still works
            return None
        data = b"".join([chunk async for chunk in chunks])
        return InputReference(
            data=data, content_type=character.still_type, filename=f"{character.id}.png"
        )


def _owner(principal: Principal) -> str | None:
    return None if principal.is_admin else principal.owner
