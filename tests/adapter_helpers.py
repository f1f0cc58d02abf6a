"""Driving one adapter directly (no gateway) against its mock: edits and extensions are
tested this way until the public edit/extend routes exist.

`run_job` does what the gateway's create path does for one target: the catalogue check
(`check_spec`), `prepare`, `create`, then polls `retrieve` until the job ends.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from videogate.config import ProviderConfig, UpstreamKey
from videogate.providers.base import CallContext, CreateParams, Prepared, Provider
from videogate.providers.registry import adapter_class
from videogate.providers.specs import check_spec
from videogate.video import TERMINAL, UpstreamVideo


def make_adapter(
    type_name: str, base_url: str, key: str, **config: Any
) -> tuple[Provider, UpstreamKey]:
    """An adapter of `type_name` pointed at a mock, and the key to call it with."""
    upstream = UpstreamKey(name="main", value=key, extra=config.pop("key_extra", {}))
    cfg = ProviderConfig(
        type=type_name, base_url=base_url, keys=[upstream], allow_http_redirects=True, **config
    )
    return adapter_class(type_name)(type_name, cfg), upstream


def prepared_for(provider: Provider, params: CreateParams) -> Prepared:
    """What the gateway's routing does before any upstream call: the catalogue check,
    then the adapter's own."""
    check_spec(provider.spec(params.model), params)
    return provider.prepare(params)


async def run_job(
    provider: Provider, key: UpstreamKey, params: CreateParams, within: float = 10.0
) -> tuple[Prepared, UpstreamVideo, UpstreamVideo]:
    """Create the job `params` describes and poll it to its end: (prepared, the create's
    answer, the final state)."""
    prepared = prepared_for(provider, params)
    created = await provider.create(prepared, key, CallContext(capture_raw=True))
    deadline = time.monotonic() + within
    current = created
    while current.status not in TERMINAL:
        if time.monotonic() > deadline:
            raise AssertionError(f"job {created.id} still {current.status} after {within}s")
        await asyncio.sleep(0.05)
        current = await provider.retrieve(created.id, key, CallContext())
    return prepared, created, current
