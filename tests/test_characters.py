"""Characters (issue 20): made from a clip with the SDK's create_character, read back with
get_character, owned by their key, and drawn into later renders by the simulated provider."""

from __future__ import annotations

import io

import av
import openai
import pytest
from PIL import Image

from videogate.providers.simulated_render import encode_mp4_bytes

from .conftest import GatewayHandle, assert_envelope

RED = (220, 20, 20)
SIZE = {"seconds": "1", "size": "320x240"}


def _red_clip() -> bytes:
    """Two seconds of a solid red square: a character whose still anyone can recognise."""
    return encode_mp4_bytes([Image.new("RGB", (64, 64), RED)] * 16, 8)


def _first_frame(data: bytes) -> Image.Image:
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(video=0):
            return frame.to_image()  # type: ignore[no-any-return]
    raise AssertionError("no frames")


def _reddish(pixel: tuple[int, ...]) -> bool:
    r, g, b = pixel[:3]
    return r > 150 and g < 90 and b < 90


def _inset_is_red(video: bytes) -> bool:
    """The simulated render draws a character's still at the top right (side = 1/5 of the
    short edge, 4 px from the edges)."""
    frame = _first_frame(video).convert("RGB")
    w, h = frame.size
    side = min(w, h) // 5
    return _reddish(frame.getpixel((w - 4 - side // 2, 4 + side // 2)))  # type: ignore[arg-type]


def test_create_and_get_character_with_the_sdk(gateway: GatewayHandle) -> None:
    client = gateway.client()
    made = client.videos.create_character(
        name="Mossy", video=("mossy.mp4", _red_clip(), "video/mp4")
    )
    assert made.id and made.id.startswith("char_")
    assert made.name == "Mossy" and made.created_at > 0
    got = client.videos.get_character(made.id)
    assert (got.id, got.name, got.created_at) == (made.id, "Mossy", made.created_at)
    with pytest.raises(openai.NotFoundError) as err:
        client.videos.get_character("char_" + "0" * 32)
    assert err.value.code == "character_not_found"


def test_a_character_is_drawn_into_a_create(gateway: GatewayHandle) -> None:
    client = gateway.client()
    mossy = client.videos.create_character(name="Mossy", video=("m.mp4", _red_clip(), "video/mp4"))
    assert mossy.id is not None
    plain = client.videos.create_and_poll(prompt="a meadow", **SIZE)
    # OpenAI's shape, `characters: [{"id": …}]`; the SDK sends it as `characters[][id]`
    starring = client.videos.create_and_poll(
        prompt="Mossy in a meadow", extra_body={"characters": [{"id": mossy.id}]}, **SIZE
    )
    assert starring.status == "completed", starring.error
    assert not _inset_is_red(client.videos.download_content(plain.id).read())
    assert _inset_is_red(client.videos.download_content(starring.id).read())
    with gateway.http() as http:  # and as JSON
        made = http.post(
            "/v1/videos",
            json={"prompt": "Mossy again", "characters": [{"id": mossy.id}], **SIZE},
        )
        assert made.status_code == 200, made.text


def test_characters_belong_to_their_key(gateway: GatewayHandle) -> None:
    client = gateway.client()
    mine = client.videos.create_character(name="Mine", video=("m.mp4", _red_clip(), "video/mp4"))
    assert mine.id is not None
    other = gateway.new_key("other")
    with pytest.raises(openai.NotFoundError):
        gateway.client(other).videos.get_character(mine.id)
    with gateway.http(other) as http:
        used = http.post("/v1/videos", json={"prompt": "x", "characters": [{"id": mine.id}]})
    body = assert_envelope(used, 404, "character_not_found")
    assert body["error"]["param"] == "characters"


def test_a_character_needs_a_readable_video(gateway: GatewayHandle) -> None:
    with gateway.http() as http:
        bad = http.post(
            "/v1/videos/characters",
            data={"name": "Nope"},
            files={"video": ("x.mp4", b"not a video at all", "video/mp4")},
        )
        assert_envelope(bad, 400, "invalid_video")
        unnamed = http.post(
            "/v1/videos/characters", files={"video": ("x.mp4", _red_clip(), "video/mp4")}
        )
        assert_envelope(unnamed, 400, "missing_name")
        for prefix in ("", "/openai/v1"):  # every mount
            made = http.post(
                f"{prefix}/videos/characters",
                data={"name": "Everywhere"},
                files={"video": ("x.mp4", _red_clip(), "video/mp4")},
            )
            assert made.status_code == 200, made.text
            assert http.get(f"{prefix}/videos/characters/{made.json()['id']}").status_code == 200
