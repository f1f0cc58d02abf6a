"""Edits and extensions (issue 20) with the openai SDK against the simulated provider: they
are creates with a source, so ownership, Idempotency-Key and DELETE behave as for creates,
and the simulated provider really re-renders (edit) or stitches (extend) the source."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import av
import openai
import pytest
from PIL import Image, ImageStat

from videogate.providers.simulated_render import encode_mp4_bytes, render_frames

from .conftest import FAST_SIMULATED, GatewayHandle, assert_envelope

SMALL = {"model": "simulated/test-pattern", "seconds": "2", "size": "160x120"}
SIZE_FORM = {"seconds": "1", "size": "320x240"}


def _duration(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        assert container.duration is not None
        return float(container.duration / 1_000_000)


def _frame(data: bytes, index: int = 0) -> Image.Image:
    with av.open(io.BytesIO(data)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_image()  # type: ignore[no-any-return]
    raise AssertionError("no such frame")


def _streams(data: bytes) -> list[str]:
    with av.open(io.BytesIO(data)) as container:
        return [s.type for s in container.streams]


def _source(client: openai.OpenAI) -> Any:
    video = client.videos.create_and_poll(prompt="a test card", **SMALL)
    assert video.status == "completed"
    return video


def by_id(video_id: str) -> dict[str, Any]:
    """A source named by id through the SDK's typed edit()/extend(): they treat `video` as
    a file to upload (openai-python 3.54 extracts it as one), so the id goes in
    `extra_body`, which the SDK sends in the same multipart body as `video[id]`."""
    return {"video": openai.omit, "extra_body": {"video": {"id": video_id}}}


def _difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute per-channel difference of two frames (0-255)."""
    diff = ImageStat.Stat(
        Image.frombytes(
            "RGB",
            a.size,
            bytes(
                abs(x - y)
                for x, y in zip(a.tobytes(), b.convert("RGB").resize(a.size).tobytes(), strict=True)
            ),
        )
    ).mean
    return sum(diff) / 3


def test_edit_by_id_rerenders_the_source(gateway: GatewayHandle) -> None:
    client = gateway.client()
    source = _source(client)
    edited = client.videos.edit(prompt="make it sepia", **by_id(source.id))
    assert edited.id != source.id and edited.id.endswith(":simulated")
    assert edited.status in ("queued", "in_progress")
    extra = edited.model_extra["extra_fields"]  # type: ignore[index]
    assert extra["request_type"] == "video_edit"
    assert (extra["operation"], extra["source_video_id"]) == ("edit", source.id)
    done = client.videos.poll(edited.id)
    assert done.status == "completed", done.error
    assert (done.size, done.model) == ("160x120", "test-pattern")
    before = client.videos.download_content(source.id).read()
    after = client.videos.download_content(done.id).read()
    assert abs(_duration(after) - _duration(before)) < 0.2  # an edit keeps the length
    assert _difference(_frame(after), _frame(before)) > 20  # tinted, with the prompt drawn


def test_edit_of_an_upload(gateway: GatewayHandle) -> None:
    """The SDK's typed edit() uploads a file as `video`; its length is probed."""
    client = gateway.client()
    clip = encode_mp4_bytes(render_frames(96, 64, 1.5, 8, "uploaded"), 8)
    edited = client.videos.edit(prompt="night time", video=("clip.mp4", clip, "video/mp4"))
    done = client.videos.poll(edited.id)
    assert done.status == "completed", done.error
    assert done.size == "96x64"
    assert abs(_duration(client.videos.download_content(done.id).read()) - 1.5) < 0.2


def test_extend_is_longer_by_the_extension(gateway: GatewayHandle) -> None:
    client = gateway.client()
    source = _source(client)
    extended = client.videos.extend(
        prompt="the camera keeps going",
        seconds="2",  # type: ignore[arg-type]  # the SDK's Literal lists Sora's 4/8/12/16/20
        **by_id(source.id),
    )
    assert extended.model_extra["extra_fields"]["request_type"] == "video_extend"  # type: ignore[index]
    done = client.videos.poll(extended.id)
    assert done.status == "completed", done.error
    assert done.seconds == "4"
    before = _duration(client.videos.download_content(source.id).read())
    after = _duration(client.videos.download_content(done.id).read())
    assert abs(after - before - 2.0) < 0.2
    # like any video: deleted with DELETE, and the source is untouched
    assert client.videos.delete(done.id).deleted is True
    assert client.videos.retrieve(source.id).status == "completed"


def test_edit_as_json_and_on_every_mount(gateway: GatewayHandle) -> None:
    client = gateway.client()
    source = _source(client)
    with gateway.http() as http:
        for prefix in ("/v1", "", "/openai", "/openai/v1", "/openai/openai"):
            made = http.post(
                f"{prefix}/videos/edits", json={"prompt": "json", "video": {"id": source.id}}
            )
            assert made.status_code == 200, (prefix, made.text)
            assert made.json()["extra_fields"]["provider"] == "simulated"
        longer = http.post(
            "/v1/videos/extensions",
            json={"prompt": "on", "seconds": 1, "video": {"id": source.id}},
        )
        assert longer.status_code == 200, longer.text
        missing = http.post(
            "/v1/videos/extensions", json={"prompt": "x", "video": {"id": source.id}}
        )
        assert_envelope(missing, 400, "missing_seconds")
        assert_envelope(http.post("/v1/videos/edits", json={"prompt": "x"}), 400, "missing_video")


def test_another_key_cannot_edit_my_video(gateway: GatewayHandle) -> None:
    source = _source(gateway.client())
    other = gateway.client(gateway.new_key("other"))
    with pytest.raises(openai.NotFoundError) as err:
        other.videos.edit(prompt="mine now", **by_id(source.id))
    assert err.value.code == "video_not_found"
    with pytest.raises(openai.NotFoundError):
        other.videos.extend(prompt="mine", seconds="4", **by_id(source.id))


def test_a_running_video_cannot_be_edited_yet(gateway: GatewayHandle) -> None:
    client = gateway.client()
    running = client.videos.create(
        prompt="slow", extra_body={"simulated_generation_seconds": 30}, **SMALL
    )
    with gateway.http() as http:
        refused = http.post("/v1/videos/edits", json={"prompt": "x", "video": {"id": running.id}})
    assert_envelope(refused, 409, "video_not_ready")
    assert refused.json()["error"]["param"] == "video"


def test_idempotent_edit_returns_the_same_video(gateway: GatewayHandle) -> None:
    client = gateway.client()
    source = _source(client)
    key = {"Idempotency-Key": "edit-once"}
    first = client.videos.edit(prompt="once", extra_headers=key, **by_id(source.id))
    again = client.videos.with_raw_response.edit(
        prompt="once", extra_headers=key, **by_id(source.id)
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert again.parse().id == first.id
    # the same body as JSON (the SDK's generic post) is the same request
    as_json = client.post(
        "/videos/edits",
        body={"prompt": "once", "video": {"id": source.id}},
        cast_to=openai.types.Video,
        options={"headers": key},
    )
    assert as_json.id == first.id
    with pytest.raises(openai.ConflictError) as err:  # same key, another edit
        client.videos.edit(prompt="twice", extra_headers=key, **by_id(source.id))
    assert err.value.code == "idempotency_key_reused"


def test_generate_audio_gives_an_audio_track(gateway: GatewayHandle) -> None:
    client = gateway.client()
    silent = client.videos.create_and_poll(prompt="quiet", **SMALL)
    loud = client.videos.create_and_poll(
        prompt="with sound", extra_body={"generate_audio": True}, **SMALL
    )
    assert loud.status == "completed", loud.error
    assert _streams(client.videos.download_content(silent.id).read()) == ["video"]
    assert _streams(client.videos.download_content(loud.id).read()) == ["video", "audio"]


def test_normalised_fields_are_type_checked(gateway: GatewayHandle) -> None:
    with gateway.http() as http:
        for field, value, code in (
            ("seed", "abc", "invalid_seed"),
            ("generate_audio", "loud", "invalid_generate_audio"),
            ("fps", 0, "invalid_fps"),
            ("n", "two", "invalid_n"),
            ("aspect_ratio", "wide", "invalid_aspect_ratio"),
            ("resolution", "big", "invalid_resolution"),
            ("negative_prompt", ["fog"], "invalid_negative_prompt"),
            ("reference_images", ["ftp://x"], "invalid_reference_images"),
            ("last_frame", 7, "invalid_last_frame"),
        ):
            body = {"prompt": "x", field: value}
            refused = http.post("/v1/videos", json=body)
            assert_envelope(refused, 400, code)
            assert refused.json()["error"]["param"] == field
        # the model's spec refuses what it cannot do (the simulated provider makes one clip)
        assert_envelope(http.post("/v1/videos", json={"prompt": "x", "n": 2}), 400, "invalid_n")
        shaped = http.post(
            "/v1/videos",
            json={"prompt": "x", "resolution": "360p", "aspect_ratio": "16:9", "fps": 4},
        )
        assert shaped.status_code == 200, shaped.text
        assert shaped.json()["size"] == "640x360"


def test_unsupported_provider_is_refused_naming_who_can(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    gw = make_gateway(
        providers={
            "simulated": FAST_SIMULATED,
            # never called: the edit is refused before anything is sent (MiniMax's
            # v1 API has no edit endpoint; OpenAI's contract now has one)
            "minimax": {
                "type": "minimax",
                "base_url": "http://127.0.0.1:9",
                "keys": [{"value": "k"}],
            },
        }
    )
    source = _source(gw.client())
    with gw.http() as http:
        refused = http.post(
            "/v1/videos/edits",
            json={"prompt": "x", "model": "minimax/MiniMax-Hailuo-2.3", "video": {"id": source.id}},
        )
    body = assert_envelope(refused, 400, "unsupported_operation")
    assert "'minimax'" in body["error"]["message"] and "simulated" in body["error"]["message"]


def test_edit_on_another_provider_gets_the_bytes(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    """The source's own provider gets its job id; another gets the video's bytes."""
    gw = make_gateway(providers={"sim-a": FAST_SIMULATED, "sim-b": FAST_SIMULATED})
    client = gw.client()
    source = client.videos.create_and_poll(
        prompt="on a", model="sim-a/test-pattern", seconds="1", size="160x120"
    )
    moved = client.videos.extend(
        prompt="on b",
        seconds="1",  # type: ignore[arg-type]
        video=openai.omit,
        extra_body={"video": {"id": source.id}, "model": "sim-b/test-pattern"},
    )
    assert moved.id.endswith(":sim-b")
    done = client.videos.poll(moved.id)
    assert done.status == "completed", done.error
    assert abs(_duration(client.videos.download_content(done.id).read()) - 2.0) < 0.2


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buf, format="PNG")
    return buf.getvalue()


def _last_frame(data: bytes) -> Image.Image:
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_image() for f in container.decode(video=0)]
    return frames[-1]


def test_reference_images_and_last_frame_reach_the_render(gateway: GatewayHandle) -> None:
    """As multipart (`reference_images[]` files, a `last_frame` file) and as JSON data URLs."""
    client = gateway.client()
    red = base64.b64encode(_png((220, 20, 20))).decode()
    with gateway.http() as http:
        made = http.post(
            "/v1/videos",
            data={"prompt": "guided", **SIZE_FORM},
            files=[
                ("reference_images[]", ("r.png", _png((220, 20, 20)), "image/png")),
                ("last_frame", ("l.png", _png((20, 20, 220)), "image/png")),
            ],
        )
        assert made.status_code == 200, made.text
        too_many = http.post(
            "/v1/videos",
            json={"prompt": "x", "reference_images": [f"data:image/png;base64,{red}"] * 5},
        )
        assert_envelope(too_many, 400, "too_many_reference_images")
        as_json = http.post(
            "/v1/videos",
            json={"prompt": "x", "reference_images": [{"image_url": "data:image/png;base64,!"}]},
        )
        assert_envelope(as_json, 400, "invalid_input_reference")
    done = client.videos.poll(made.json()["id"])
    assert done.status == "completed", done.error
    video = client.videos.download_content(done.id).read()
    first = _frame(video).convert("RGB")
    w, h = first.size
    side = min(w, h) // 5
    r, g, b = first.getpixel((w - 4 - side // 2, 4 + side // 2))  # type: ignore[misc]
    assert r > 150 and g < 90 and b < 90  # the reference image, drawn in
    r, g, b = _last_frame(video).convert("RGB").getpixel((w // 2, h // 2))  # type: ignore[misc]
    assert b > 150 and r < 90  # the clip ends on the last frame given


@pytest.mark.parametrize(
    ("method", "path", "found"),
    [
        ("POST", "/v1/videos/edits", ("edit_video", {})),
        ("POST", "/openai/openai/videos/extensions", ("extend_video", {})),
        ("POST", "/videos/characters", ("create_character", {})),
        (
            "GET",
            "/openai/v1/videos/characters/char_1",
            ("get_character", {"character_id": "char_1"}),
        ),
        ("GET", "/v1/videos/characters/char_1/more", None),
        ("GET", "/v1/videos/edits/x", None),
        ("POST", "/v1/videos/x:y", None),  # still Starlette's 405
        ("GET", "/v1/videos/x:y/content", ("video_content", {"video_id": "x:y"})),
    ],
)
def test_the_direct_route_table_finds_the_new_routes(
    method: str, path: str, found: tuple[str, dict[str, str]] | None
) -> None:
    from videogate.api.app import GatewayApp

    hit = GatewayApp.video_table.match(method, path)
    if found is None:
        assert hit is None
    else:
        assert hit is not None and (hit[0].__name__, hit[1]) == found
