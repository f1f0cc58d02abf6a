"""One asset store over obstore, so local disk and S3-compatible storage share one code path.

Objects are written by streaming (multipart for S3), read back by ranges for HTTP Range
requests, and deleted idempotently. Keys are `<owner>/<video id>/<variant>`.

Reading back has two shortcuts past the gateway's own byte loop: a local store names the
file (`local_path`), so the server can send it zero-copy, and an S3 store configured for it
signs a short-lived GET (`signed_url`), so the client fetches the bytes from the store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import re
import time
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import LocalStore, S3Store

from ..config import AssetsConfig
from ..errors import GatewayError

if TYPE_CHECKING:
    from obstore.store import ClientConfig

READ_CHUNK = 1024 * 1024


STAGING = re.compile(r"#\d+$")


class AssetStore:
    def __init__(
        self,
        store: Any,
        description: str,
        *,
        attributes: bool,
        root: Path | None = None,
        signed_for: float | None = None,
    ) -> None:
        self._store = store
        self.description = description
        self._root = root  # the directory of a local store
        # Local files cannot carry a Content-Type; the store row records it either way.
        self._attributes = attributes
        # seconds a presigned content URL lives; None: content is streamed, never redirected
        self._signed_for = dt.timedelta(seconds=signed_for) if signed_for else None

    @classmethod
    def from_config(cls, config: AssetsConfig, data_dir: Path) -> AssetStore:
        if config.backend == "s3":
            if not (config.s3_bucket and config.s3_access_key_id and config.s3_secret_access_key):
                raise ValueError("assets.backend s3 needs s3_bucket and explicit credentials")
            options: dict[str, Any] = {
                "access_key_id": config.s3_access_key_id,
                "secret_access_key": config.s3_secret_access_key,
                "region": config.s3_region,
            }
            if config.s3_endpoint:
                options["endpoint"] = config.s3_endpoint
                options["virtual_hosted_style_request"] = False
            plain_http = bool(config.s3_endpoint and config.s3_endpoint.startswith("http:"))
            client: ClientConfig = {"allow_http": plain_http}
            store = S3Store(
                config.s3_bucket, prefix=config.s3_prefix or None, client_options=client, **options
            )
            return cls(
                store,
                f"s3://{config.s3_bucket}/{config.s3_prefix or ''}",
                attributes=True,
                signed_for=(
                    config.s3_presigned_expiry_seconds if config.s3_presigned_redirect else None
                ),
            )
        root = Path(config.directory) if config.directory else data_dir / "assets"
        root.mkdir(parents=True, exist_ok=True)
        return cls(
            LocalStore(prefix=root.resolve(), mkdir=True),
            str(root),
            attributes=False,
            root=root.resolve(),
        )

    def clean_staging(self, older_than: float) -> int:
        """Remove the partial files of uploads that died with their process (a local store
        stages `<name>#<n>` beside the target until the upload completes); only files
        untouched for `older_than` seconds, so a copy still running is left alone."""
        if self._root is None:
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for path in self._root.rglob("*#*"):
            try:
                if path.is_file() and STAGING.search(path.name) and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    async def put(self, key: str, chunks: AsyncIterable[bytes], content_type: str) -> int:
        """Stream `chunks` into `key`; returns the byte count written."""
        written = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal written
            async for chunk in chunks:
                written += len(chunk)
                yield chunk

        attributes = {"Content-Type": content_type} if self._attributes else None
        await obstore.put_async(self._store, key, counted(), attributes=attributes)
        self._drop_stale_stages(key)
        return written

    def _drop_stale_stages(self, key: str) -> None:
        """Partial files of earlier attempts at `key` (a worker killed mid-copy leaves its
        `<name>#<n>`; the copy that just completed makes them useless). A writer still on
        one lost its lease, so its own completion is refused anyway (lifecycle/mirror.py)."""
        path = self.local_path(key)
        if path is None:
            return
        for stage in path.parent.glob(f"{glob.escape(path.name)}#*"):
            if STAGING.search(stage.name):
                with contextlib.suppress(FileNotFoundError):
                    stage.unlink()

    async def size(self, key: str) -> int | None:
        try:
            meta = await obstore.head_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            return None
        return int(meta["size"])

    def local_path(self, key: str) -> Path | None:
        """The file holding `key` in a local store (None for S3): what a server sends with
        sendfile/pathsend instead of reading it through Python."""
        if self._root is None:
            return None
        path = (self._root / key).resolve()
        if not path.is_relative_to(self._root):  # keys are ours, but never leave the root
            return None
        return path

    def signed_url(self, key: str) -> str | None:
        """A presigned GET of `key`, valid for the configured expiry, when content is to be
        answered with a redirect (signing is local: no request to the store); else None."""
        if self._signed_for is None:
            return None
        return obstore.sign(self._store, "GET", key, self._signed_for)

    async def open(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes] | None:
        """Bytes [start, end) of `key` (end None: to the end), or None if it is gone.

        The object is opened before anything is sent, so a purge or delete that wins the race
        gives the client a clean 404 instead of a response cut off after its headers.
        """
        options: dict[str, Any] = {}
        if start or end is not None:
            options["range"] = {"offset": start} if end is None else (start, end)
        try:
            result = await obstore.get_async(self._store, key, options=options)  # type: ignore[arg-type]
        except (NotFoundError, FileNotFoundError):
            return None
        except (BaseError, OSError) as exc:  # the store is down or refuses: not our 500
            raise GatewayError(
                502,
                "asset_store_unavailable",
                f"The asset store could not be read ({type(exc).__name__}); try again.",
            ) from exc

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in result.stream(min_chunk_size=READ_CHUNK):
                yield bytes(chunk)

        return chunks()

    async def delete(self, key: str) -> None:
        """Remove `key`; a missing object is not an error (deletes are retried)."""
        try:
            await obstore.delete_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            return
