"""Public video ids: `<provider video id>:<provider>`, as in Bifrost.

The provider suffix makes every id self-routing; the store row behind it holds the rest
(credential, owner, deployment), so nothing is ever guessed from global defaults.
"""

from __future__ import annotations

import os

from .errors import bad_request


def new_event_id() -> str:
    """A request's id (`x-request-id`, the envelope's `event_id`)."""
    return os.urandom(16).hex()  # 128 random bits, like uuid4, at a fraction of its cost


def public_id(upstream_id: str, provider: str) -> str:
    return f"{upstream_id}:{provider}"


def parse_video_id(raw: str) -> tuple[str, str]:
    """(upstream id, provider) from a public id; the HTTP path arrives already decoded."""
    upstream, sep, provider = raw.rpartition(":")
    # Control characters never occur in a public token (`Provider.public_token` escapes
    # them) and PostgreSQL refuses a NUL in a text parameter: refused here, for every
    # surface that takes an id (paths, an edit's `video.id`, characters).
    control = any(c < " " or c == "\x7f" for c in raw)
    if not sep or not upstream or not provider or "/" in provider or control:
        raise bad_request(
            "invalid_video_id",
            f"Video id {raw!r} is not of the form '<provider video id>:<provider>' "
            "(e.g. video_abc123:openai).",
            "video_id",
        )
    return upstream, provider
