"""Helpers the provider mocks share: prompt triggers, image checks, rendered media, the
clock-driven job lifecycle and OpenAI-style list pages.

Server plumbing lives in `MockServer` (base.py); what is here is the small provider-neutral
logic that several mocks would otherwise each write again. Each mock keeps its own wire
format (regexes of what it accepts, status names, error texts) and passes it in.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from videogate.providers.simulated_render import render_frames, render_mp4_bytes, thumbnail_bytes

T = TypeVar("T")

# A base64 data: URL; group 1 is the declared type, group 2 the payload.
DATA_URL = re.compile(r"^data:([\w/+.-]+);base64,(.*)$", re.DOTALL)


def word_pattern(word: str) -> re.Pattern[str]:
    """Matches `word` as a whole word in any case: how a prompt triggers a mock's failure
    paths (moderation, refusals, errors)."""
    return re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)


def sniff_image(data: bytes) -> str | None:
    """The image MIME type from magic bytes: real APIs judge the file, not its label."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def data_url_payload(url: str, pattern: re.Pattern[str] = DATA_URL) -> tuple[str | None, bytes]:
    """(declared type, decoded bytes) of a base64 data: URL that `pattern` accepts; the type
    is None when it does not match, and the bytes are empty when the base64 is invalid."""
    match = pattern.match(url)
    if match is None:
        return None, b""
    try:
        return match.group(1), base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return match.group(1), b""


def fetchable_image(value: Any, pattern: re.Pattern[str] = DATA_URL) -> bool:
    """An http(s) URL (taken on trust: never fetched, so tests stay offline), or a data: URL
    accepted by `pattern` whose payload really is a JPEG, PNG or WebP image."""
    if not isinstance(value, str):
        return False
    if value.startswith(("http://", "https://")):
        return True
    return sniff_image(data_url_payload(value, pattern)[1]) is not None


def render_clip(size: tuple[int, int], label: str, seconds: float = 1.0, fps: int = 8) -> bytes:
    """A tiny but real MP4 with `label` drawn on it: the video a mock's jobs output."""
    width, height = size
    return render_mp4_bytes(width, height, seconds, fps, label)


def render_clip_and_still(
    size: tuple[int, int],
    label: str,
    still_format: str,
    *,
    frame: int = 0,
    seconds: float = 1.0,
    fps: int = 8,
) -> tuple[bytes, bytes]:
    """(MP4, one of its frames as a `still_format` image): a video and its poster, thumbnail
    or last frame."""
    width, height = size
    frames = render_frames(width, height, seconds, fps, label)
    return render_clip(size, label, seconds, fps), thumbnail_bytes(frames[frame], still_format)


def stage_at(elapsed: float, *durations: float) -> int:
    """Which of a job's consecutive timed stages it is in `elapsed` seconds after it started:
    0 during the first (lasting `durations[0]`), 1 during the second, ..., and
    `len(durations)` once they have all passed (the job has ended)."""
    bound = 0.0
    for index, length in enumerate(durations):
        bound += length
        if elapsed < bound:
            return index
    return len(durations)


def cursor_page(
    items: Sequence[T], after: str | None, limit: int, id_of: Callable[[T], str]
) -> tuple[Sequence[T], bool]:
    """(page, has_more) of an OpenAI-style list: up to `limit` items following the one whose
    id is `after` (from the start without one; an unknown cursor gives an empty page)."""
    ids = [id_of(item) for item in items]
    start = (ids.index(after) + 1 if after in ids else len(ids)) if after else 0
    return items[start : start + limit], start + limit < len(items)


def list_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """An OpenAI-style list object around `data` (already in wire form)."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
