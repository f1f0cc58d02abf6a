"""Render a real, playable test-pattern MP4 (plus thumbnail and spritesheet) offline.

The simulated provider and the loopback mocks both need genuine media bytes so that a
client's player, ffprobe or PyAV can read what the gateway serves. Pillow draws the frames
(moving colour bars, the prompt's text and a frame counter) and PyAV encodes H.264, with an
AAC tone when sound was asked for. An edit is the source's frames tinted with the prompt
written over them; characters and reference images are drawn into a corner, labelled, so a
test can see that they reached the render.
"""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
from array import array
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageDraw, ImageFont

BARS = [
    (192, 192, 192),
    (192, 192, 0),
    (0, 192, 192),
    (0, 192, 0),
    (192, 0, 192),
    (192, 0, 0),
    (0, 0, 192),
]
SPRITE_COLUMNS = 5
SPRITE_TILE_WIDTH = 160
AUDIO_RATE = 44100
TONE_HZ = 440.0
AUDIO_FRAME = 1024  # samples per AAC frame
EDIT_TINT = 0.35  # how much of an edited frame is the prompt's colour


@dataclass(frozen=True)
class Inset:
    """A picture drawn into the corner of every frame with its label (a character's still
    and name, or a reference image)."""

    label: str
    image: Image.Image


@dataclass(frozen=True)
class RenderedAssets:
    """Where the three variants of one rendered job were written."""

    video: Path
    thumbnail: Path
    spritesheet: Path


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _base_frame(width: int, height: int, text: str) -> Image.Image:
    """The static part of every frame: bars and the prompt text."""
    img = Image.new("RGB", (width, height), (16, 16, 16))
    draw = ImageDraw.Draw(img)
    bar_w = max(1, math.ceil(width / len(BARS)))
    bars_h = height * 2 // 3
    for i, colour in enumerate(BARS):
        draw.rectangle([i * bar_w, 0, (i + 1) * bar_w - 1, bars_h], fill=colour)
    font_size = max(10, min(width, height) // 16)
    font = _font(font_size)
    chars_per_line = max(8, int(width / (font_size * 0.6)))
    lines = textwrap.wrap(text, chars_per_line)[:4] or [""]
    y = bars_h + font_size // 2
    for line in lines:
        draw.text((font_size // 2, y), line, fill=(240, 240, 240), font=font)
        y += int(font_size * 1.2)
    return img


def _frame(base: Image.Image, index: int, total: int, fps: int) -> Image.Image:
    """One frame: the base plus a sweeping marker and a timecode, so frames differ."""
    img = base.copy()
    draw = ImageDraw.Draw(img)
    w, h = img.size
    x = int((index / max(1, total - 1)) * (w - 1))
    draw.rectangle([x - 2, 0, x + 2, h * 2 // 3], fill=(255, 255, 255))
    font = _font(max(10, min(w, h) // 20))
    draw.text((4, 4), f"{index // fps:02d}s f{index % fps:02d}", fill=(0, 0, 0), font=font)
    return img


def _encode(
    frames: list[Image.Image], fps: int, out: io.BufferedIOBase | Path, audio: bool = False
) -> None:
    width, height = frames[0].size
    target = str(out) if isinstance(out, Path) else out
    with av.open(target, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"preset": "ultrafast", "tune": "stillimage", "crf": "30"}
        # every stream exists before the first packet (the header is written then)
        sound = container.add_stream("aac", rate=AUDIO_RATE) if audio else None
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_image(img)  # type: ignore[no-untyped-call]
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            _encode_tone(container, sound, len(frames) / fps)


def _encode_tone(container: Any, stream: Any, seconds: float) -> None:
    """A mono AAC sine tone as long as the picture (`generate_audio`)."""
    total = int(seconds * AUDIO_RATE)
    step = 2 * math.pi * TONE_HZ / AUDIO_RATE
    for start in range(0, total, AUDIO_FRAME):
        count = min(AUDIO_FRAME, total - start)
        samples = array("f", (0.2 * math.sin(step * n) for n in range(start, start + count)))
        frame = av.AudioFrame(format="flt", layout="mono", samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def render_frames(
    width: int, height: int, seconds: float, fps: int, text: str
) -> list[Image.Image]:
    """All frames of a clip; width and height must be even (H.264 4:2:0)."""
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError("width and height must be even and at least 16")
    total = max(1, round(seconds * fps))
    base = _base_frame(width, height, text)
    return [_frame(base, i, total, fps) for i in range(total)]


def prompt_colour(text: str) -> tuple[int, int, int]:
    """A colour that depends only on `text`: an edit's tint, different per prompt."""
    digest = hashlib.sha256(text.encode()).digest()
    return (64 + digest[0] % 192, 64 + digest[1] % 192, 64 + digest[2] % 192)


def edit_frames(frames: list[Image.Image], prompt: str) -> list[Image.Image]:
    """An edit of `frames`: each tinted with the prompt's colour, the prompt written on a
    band across the middle (a change anyone can see, and a test can measure)."""
    if not frames:
        return []
    w, h = frames[0].size
    tint = Image.new("RGB", (w, h), prompt_colour(prompt))
    font_size = max(10, min(w, h) // 14)
    font = _font(font_size)
    band = (0, h // 2 - font_size, w, h // 2 + font_size)
    out = []
    for frame in frames:
        img = Image.blend(frame.convert("RGB"), tint, EDIT_TINT)
        draw = ImageDraw.Draw(img)
        draw.rectangle(band, fill=(0, 0, 0))
        draw.text(
            (font_size // 2, band[1] + font_size // 3),
            f"EDIT: {prompt}",
            fill=(255, 255, 0),
            font=font,
        )
        out.append(img)
    return out


def with_insets(frames: list[Image.Image], insets: list[Inset]) -> list[Image.Image]:
    """`frames` with each inset's picture and label in a column at the top right."""
    if not insets or not frames:
        return frames
    w, h = frames[0].size
    side = max(16, min(w, h) // 5)
    font = _font(max(10, side // 5))
    overlay: list[tuple[Image.Image, tuple[int, int], str]] = []
    y = 4
    for inset in insets:
        picture = inset.image.convert("RGB")
        picture.thumbnail((side, side))
        overlay.append((picture, (w - side - 4, y), inset.label))
        y += side + side // 4
    out = []
    for frame in frames:
        img = frame.copy()
        draw = ImageDraw.Draw(img)
        for picture, (x, top), label in overlay:
            img.paste(picture, (x, top))
            draw.text((x, top + picture.size[1]), label, fill=(255, 255, 255), font=font)
        out.append(img)
    return out


def encode_mp4_bytes(frames: list[Image.Image], fps: int, audio: bool = False) -> bytes:
    buf = io.BytesIO()
    _encode(frames, fps, buf, audio)
    return buf.getvalue()


def render_mp4_bytes(width: int, height: int, seconds: float, fps: int, text: str) -> bytes:
    """An in-memory MP4, for mocks that serve small clips."""
    buf = io.BytesIO()
    _encode(render_frames(width, height, seconds, fps, text), fps, buf)
    return buf.getvalue()


def thumbnail_bytes(frame: Image.Image, fmt: str = "WEBP") -> bytes:
    buf = io.BytesIO()
    frame.save(buf, format=fmt)
    return buf.getvalue()


def spritesheet_image(frames: list[Image.Image], tiles: int = 10) -> Image.Image:
    """A JPEG-able grid of evenly spaced frames, the way players show scrub previews."""
    step = max(1, len(frames) // tiles)
    picked = frames[::step][:tiles]
    w, h = frames[0].size
    tile_h = max(1, round(h * SPRITE_TILE_WIDTH / w))
    rows = math.ceil(len(picked) / SPRITE_COLUMNS)
    sheet = Image.new("RGB", (SPRITE_TILE_WIDTH * SPRITE_COLUMNS, tile_h * rows))
    for i, f in enumerate(picked):
        tile = f.resize((SPRITE_TILE_WIDTH, tile_h))
        sheet.paste(
            tile, ((i % SPRITE_COLUMNS) * SPRITE_TILE_WIDTH, (i // SPRITE_COLUMNS) * tile_h)
        )
    return sheet


def render_assets(
    directory: Path,
    stem: str,
    width: int,
    height: int,
    seconds: float,
    fps: int,
    text: str,
    *,
    frames: list[Image.Image] | None = None,
    audio: bool = False,
) -> RenderedAssets:
    """Write `<stem>.mp4`, `<stem>.webp` and `<stem>.jpg`; files appear atomically (rename).
    `frames` replaces the test pattern (an edit or extension composed them); `audio` adds
    a tone track."""
    directory.mkdir(parents=True, exist_ok=True)
    if frames is None:
        frames = render_frames(width, height, seconds, fps, text)
    paths = RenderedAssets(
        video=directory / f"{stem}.mp4",
        thumbnail=directory / f"{stem}.webp",
        spritesheet=directory / f"{stem}.jpg",
    )
    tmp_video = directory / f".{stem}.mp4.tmp"
    _encode(frames, fps, tmp_video, audio)
    tmp_thumb = directory / f".{stem}.webp.tmp"
    frames[len(frames) // 2].save(tmp_thumb, format="WEBP")
    tmp_sprite = directory / f".{stem}.jpg.tmp"
    spritesheet_image(frames).save(tmp_sprite, format="JPEG", quality=80)
    tmp_thumb.replace(paths.thumbnail)
    tmp_sprite.replace(paths.spritesheet)
    tmp_video.replace(paths.video)  # last: the video's presence means "all done"
    return paths
