"""The list's Video objects are rendered by the database (`store/listing.py`): on both
backends each row's bytes equal `orjson.dumps(video.openai())`, whatever the text holds
(quotes, backslashes, every control character, non-ASCII, empty strings, nulls, a failure
with and without a code), and paging (order, `after`, provider, owner, `has_more`) keeps
its meaning."""

from __future__ import annotations

import asyncio
import time

import orjson

from videogate.store.backend import backend_for
from videogate.store.db import check_url, make_engine, migrate
from videogate.store.videos import VideoStore
from videogate.video import Video

NASTY = (
    'say "hi" \\ back\\slash /slash',
    "".join(chr(c) for c in range(1, 32)) + "\x7f",  # PostgreSQL text holds no NUL
    "ünïcödé — 視頻 🎬 \u2028\u2029 \ufeff",
    "",
)


def videos() -> list[Video]:
    now = int(time.time())
    out = []
    for n in range(12):
        text = NASTY[n % len(NASTY)]
        failed = n % 3 == 0
        out.append(
            Video(
                id=f"video_{n}_{text[:3]!r}:sim".replace("\\", ""),
                provider="sim" if n % 2 else "other",
                upstream_id=f"up_{n}",
                owner="key_a" if n < 10 else "key_b",
                status="failed" if failed else ("completed" if n % 3 == 1 else "queued"),
                created_at=now + n,
                updated_at=time.time(),
                model_requested=None if n == 4 else f"sim/{text}",
                model_deployment=("" if n % 4 == 1 else None) if n % 2 else f"dep {text}",
                progress=n * 7 % 101,
                prompt=None if n == 5 else text,
                size=None if n == 6 else "720x1280",
                seconds=None if n == 7 else "4",
                completed_at=now + 60 if n % 3 == 1 else None,
                expires_at=now + 86400 if n % 3 == 1 else None,
                remixed_from="video_0:sim" if n == 8 else None,
                error_code=(None if n == 3 else ("" if n == 6 else "moderation_blocked"))
                if failed
                else ("internal_error" if n == 10 else None),
                error_message=None if n == 0 else text,
                assets={"video": {"key": "k", "size": 1, "content_type": "video/mp4"}},
                extra={"x": text},
            )
        )
    return out


def test_rendered_rows_equal_openai_objects_and_paging(db_url: str) -> None:
    async def run() -> None:
        engine = make_engine(db_url)
        await migrate(engine)
        backend = backend_for(check_url(db_url))
        store = VideoStore(engine, backend)
        try:
            made = videos()
            for v in made:
                await store.insert(v)
            by_id = {v.id: v for v in made}
            rows = await backend.page(owner=None, provider=None, after=None, limit=100, order="asc")
            assert rows is not None and [r[1] for r in rows] == [v.id for v in made]
            for text, vid in rows:
                assert text.encode() == orjson.dumps(by_id[vid].openai()), vid

            mine = [v for v in made if v.owner == "key_a"]
            page = await store.page(owner="key_a", provider=None, after=None, limit=4, order="desc")
            assert page is not None and page.has_more
            want = [v.openai() for v in reversed(mine)][:4]
            assert page.data == orjson.dumps(want)
            assert (page.first_id, page.last_id) == (want[0]["id"], want[-1]["id"])

            rest = await store.page(
                owner="key_a", provider=None, after=page.last_id, limit=100, order="desc"
            )
            assert rest is not None and not rest.has_more
            assert orjson.loads(rest.data) == [v.openai() for v in reversed(mine)][4:]

            sim = await store.page(owner="key_a", provider="sim", after=None, limit=2, order="asc")
            assert sim is not None and sim.has_more
            assert orjson.loads(sim.data) == [v.openai() for v in mine if v.provider == "sim"][:2]

            empty = await store.page(
                owner="key_b", provider=None, after=made[-1].id, limit=5, order="asc"
            )
            assert empty is not None and empty.data == b"[]" and not empty.has_more
            assert (empty.first_id, empty.last_id) == (None, None)
            # another owner's video is no cursor
            assert (
                await store.page(
                    owner="key_b", provider=None, after=made[0].id, limit=5, order="asc"
                )
                is None
            )
        finally:
            await backend.aclose()
            await engine.dispose()

    asyncio.run(run())
