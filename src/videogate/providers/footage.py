"""Reading videos the gateway holds as bytes: how long and how big, their frames, a still.

Edits and extensions start from a video (an upload, or a completed job's bytes), and a
character is made from a clip; the gateway must know a source's duration (input-second
prices, extension totals) and the simulated provider re-renders its frames. PyAV decodes;
every function takes bytes and runs in the caller's thread (call it via `asyncio.to_thread`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
from PIL import Image

VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm", "video/x-matroska"})


class UnreadableVideo(ValueError):
    """The bytes are not a video PyAV can decode (or hold no video stream)."""


@dataclass(frozen=True)
class Footage:
    """What a probe finds: duration in seconds, frame size, frame rate."""

    seconds: float
    width: int
    height: int
    fps: float

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def probe(data: bytes) -> Footage:
    """Duration and size of a video, from its container (the stream's when the container
    does not say)."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise UnreadableVideo("no video stream")
            stream = container.streams.video[0]
            seconds: float | None = None
            if container.duration is not None:
                seconds = container.duration / av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            rate = float(stream.average_rate or stream.guessed_rate or 0) or 24.0
            width, height = stream.codec_context.width, stream.codec_context.height
            if seconds is None:  # count the frames
                seconds = len(list(container.decode(stream))) / rate
    except UnreadableVideo:
        raise
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise UnreadableVideo(str(exc)) from None
    if not width or not height:
        raise UnreadableVideo("the video stream has no frame size")
    return Footage(round(seconds, 3), width, height, rate)


def frames_at(data: bytes, fps: int, size: tuple[int, int] | None = None) -> list[Image.Image]:
    """The video resampled to `fps` (the frame shown at each tick of 1/fps), resized to
    `size` when given: what a re-render or a stitch starts from."""
    shown: list[tuple[float, Image.Image]] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                at = float(frame.time) if frame.time is not None else len(shown) / fps
                image = frame.to_image()  # type: ignore[no-untyped-call]
                shown.append((at, image if size is None else image.resize(size)))
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise UnreadableVideo(str(exc)) from None
    if not shown:
        raise UnreadableVideo("no frames")
    start = shown[0][0]
    end = shown[-1][0] + 1 / fps
    ticks = max(1, round((end - start) * fps))
    out: list[Image.Image] = []
    j = 0
    for i in range(ticks):
        t = start + i / fps
        while j + 1 < len(shown) and shown[j + 1][0] <= t + 1e-6:
            j += 1
        out.append(shown[j][1])
    return out


def still_png(data: bytes) -> bytes:
    """The frame halfway through the clip, as PNG: the picture a character is known by.
    Frames are decoded up to the middle only, and only the latest is kept."""
    middle = probe(data).seconds / 2
    picked = None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                if picked is not None and frame.time is not None and frame.time > middle:
                    break
                picked = frame
            image = None if picked is None else picked.to_image()  # type: ignore[no-untyped-call]
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise UnreadableVideo(str(exc)) from None
    if image is None:
        raise UnreadableVideo("no frames")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
