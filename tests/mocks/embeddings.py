"""An OpenAI-compatible `/v1/embeddings` endpoint with a deterministic bag-of-words model.

Each word (lower-cased, stop words dropped) is hashed to one of `dimensions` buckets with a
sign, so two prompts are as similar as the words they share: a rewording that keeps the
nouns scores high, another subject scores low, and tests can compute the exact cosine the
gateway should report (`cosine`). `usage.prompt_tokens` counts the words, as a real
endpoint counts tokens.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from aiohttp import web

from .base import ApiError, MockServer

STOP_WORDS = frozenset({"a", "an", "the", "of", "in", "on", "at", "to", "and", "with", "is"})
WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOP_WORDS]


def bag_of_words(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in words(text):
        digest = hashlib.sha256(word.encode()).digest()
        sign = 1.0 if digest[4] & 1 else -1.0
        vector[int.from_bytes(digest[:4], "big") % dimensions] += sign
    return vector


def cosine(a: str, b: str, dimensions: int = 256) -> float:
    """What the gateway should report for prompts `a` and `b` under this model."""
    va, vb = bag_of_words(a, dimensions), bag_of_words(b, dimensions)
    norm = math.sqrt(sum(x * x for x in va)) * math.sqrt(sum(x * x for x in vb))
    return sum(x * y for x, y in zip(va, vb, strict=True)) / norm


class EmbeddingsMock(MockServer):
    def __init__(self, api_key: str = "sk-embed", dimensions: int = 256) -> None:
        super().__init__(api_key=api_key, prefix="/v1")
        self.dimensions = dimensions

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.path("/embeddings"), self.embeddings)

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await self.read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise ApiError(400, "you must provide a model parameter", param="model")
        inputs: Any = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(i, str) for i in inputs)
        ):
            raise ApiError(400, "'input' must be a string or a list of strings", param="input")
        tokens = sum(len(words(i)) for i in inputs)
        return self.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "object": "embedding",
                        "index": n,
                        "embedding": bag_of_words(i, self.dimensions),
                    }
                    for n, i in enumerate(inputs)
                ],
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
