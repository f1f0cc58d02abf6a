"""Every process's copy of the governance state the admin API changes, kept in step.

Stored prices and upstream keys live in the store, but the hot path does not read them per
request: each process holds a copy (the price table's `stored` patterns, and each provider's
key list: its configured keys, with stored keys of the same name taking their place). The
process that handled an admin change reloads at once (`reload`). Every other process and
instance notices within `governance.refresh_seconds`: each audited change bumps the store's
governance stamp in its own transaction (`registry.bump_stamp`), and `run` reads the stamp
with one primary-key lookup per interval and reloads when it moved. A reload also calls the
`forget` hooks (the cached key, team and customer rows), so a revocation reaches every
process within the same interval however long `auth.key_cache_seconds` is.

A stored row that cannot be loaded (a secret encrypted under another master key, or with no
master key set; a malformed price) is logged once and skipped: the others still load, and
neither start-up nor the loop stops for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from ..config import RouteConfig, UpstreamKey
from ..errors import GatewayError
from ..netguard import host_of
from ..providers.base import Provider
from .crypto import decrypt
from .prices import Price, PriceTable, parse_price
from .registry import Registry

log = logging.getLogger("videogate.governance")
Row = dict[str, Any]
UNLOADABLE = (GatewayError, ValueError, TypeError, KeyError)


class GovernanceSync:
    def __init__(
        self,
        registry: Registry,
        prices: PriceTable,
        providers: Mapping[str, Provider],
        refresh_seconds: float,
        forget: Iterable[Callable[[], None]] = (),
        on_routes: Callable[[dict[str, RouteConfig]], None] | None = None,
        allow_private_base_urls: bool = False,
    ) -> None:
        self.registry = registry
        self.prices = prices
        self.providers = providers
        self.refresh_seconds = refresh_seconds
        self.forget = list(forget)
        self.on_routes = on_routes  # receives the stored public-model routes at each load
        self.allow_private_base_urls = allow_private_base_urls
        self.version: int | None = None  # the stamp the current copy was loaded at
        self._lock = asyncio.Lock()  # one load at a time: an older one never lands last
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reported: set[tuple[str, str, str]] = set()

    # -- loading --------------------------------------------------------------------------
    async def reload(self) -> None:
        """Load prices and upstream keys now (start-up, and after this process's own change)."""
        async with self._lock:
            await self._load(await self.registry.stamp())

    async def refresh(self) -> bool:
        """Reload if the stamp moved since the last load (else one cheap read); True if so."""
        async with self._lock:
            stamp = await self.registry.stamp()
            if stamp == self.version:
                return False
            await self._load(stamp)
            return True

    async def _load(self, stamp: int) -> None:
        # The stamp is read before the rows: a change committing in between is in the rows
        # and moves the stamp again, so at worst it is loaded twice, never missed.
        price_rows = await self.registry.stored_prices()
        key_rows = await self.registry.upstream_keys()
        route_rows = await self.registry.stored_routes()
        self.prices.stored = self._prices(price_rows)
        if self.on_routes is not None:
            self.on_routes(self._routes(route_rows))
        stored = self._keys(key_rows)
        for pid, provider in self.providers.items():
            names = {k.name for k in stored.get(pid, [])}
            configured = [k for k in provider.config.keys if k.name not in names]
            provider.keys.keys = configured + stored.get(pid, [])
            # An admin-set base URL was checked when it was set; its host is checked again
            # at every connect, so a name re-pointed at an internal address is refused.
            hosts = {host_of(k.base_url) for k in stored.get(pid, []) if k.base_url}
            provider.guarded_hosts.clear()
            if not self.allow_private_base_urls:
                provider.guarded_hosts.update(h for h in hosts if h)
        self.version = stamp
        for forget in self.forget:
            forget()

    def _prices(self, rows: list[Row]) -> dict[str, Price]:
        loaded: dict[str, Price] = {}
        for r in rows:
            try:
                loaded[r["pattern"]] = parse_price(
                    {
                        "per_second": r["per_second"],
                        "tiers": r.get("tiers") or {},
                        "bill_failures": bool(r.get("bill_failures")),
                        **(r.get("dimensions") or {}),
                    }
                )
            except UNLOADABLE as exc:
                self._skip("price", str(r.get("pattern")), exc)
        return loaded

    def _routes(self, rows: list[Row]) -> dict[str, RouteConfig]:
        loaded: dict[str, RouteConfig] = {}
        for r in rows:
            try:
                loaded[r["name"]] = RouteConfig(
                    strategy=r["strategy"],
                    deployments=r["deployments"],
                    description=r.get("description"),
                )
            except (*UNLOADABLE, ValidationError) as exc:
                self._skip("route", str(r.get("name")), exc)
        return loaded

    def _keys(self, rows: list[Row]) -> dict[str, list[UpstreamKey]]:
        loaded: dict[str, list[UpstreamKey]] = {}
        for r in rows:
            try:
                key = UpstreamKey(
                    name=r["name"],
                    value=decrypt(r["secret_encrypted"]),
                    weight=r["weight"],
                    models=r["models"] or [],
                    base_url=r["base_url"],
                )
            except UNLOADABLE as exc:
                self._skip("upstream key", f"{r.get('provider')}/{r.get('name')}", exc)
                continue
            loaded.setdefault(r["provider"], []).append(key)
        return loaded

    def _skip(self, kind: str, ident: str, exc: Exception) -> None:
        reason = exc.message if isinstance(exc, GatewayError) else str(exc)
        first = (kind, ident, reason) not in self._reported
        self._reported.add((kind, ident, reason))
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "skipping the stored %s %r, which cannot be loaded: %s",
            kind,
            ident,
            reason,
        )

    # -- the loop -------------------------------------------------------------------------
    def start(self) -> None:
        """Run `refresh` every `refresh_seconds` on the running loop until `stop`."""
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name="videogate-governance-sync"
            )

    async def stop(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.refresh_seconds)
            if self._stop.is_set():
                return
            try:
                await self.refresh()
            except Exception as exc:  # the store is away: keep the copy, try again
                log.warning(
                    "governance refresh failed (%s); retrying every %g s",
                    exc,
                    self.refresh_seconds,
                    exc_info=not failing,
                )
                failing = True
                continue
            if failing:
                log.info("governance refresh works again")
                failing = False
