"""Helpers for provider tests: drive one adapter directly (no gateway) against its mock,
create a job and poll it to its end, and check that requests are refused, by the adapter
or through the gateway, with a 400.

Plain functions: each test module builds its own provider against its own mock.
`run_job` / `run_to_end` do what the gateway's create path does for one target: the
catalogue check (`check_spec`), `prepare`, `create`, then poll `retrieve` until the job ends.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from videogate.config import ProviderConfig, UpstreamKey
from videogate.errors import GatewayError
from videogate.providers.base import CallContext, CreateParams, Prepared, Provider
from videogate.providers.registry import adapter_class
from videogate.providers.specs import check_spec
from videogate.video import TERMINAL, UpstreamVideo

from .conftest import assert_envelope


async def run_to_end(provider: Provider, params: CreateParams) -> UpstreamVideo:
    """What the gateway does for a create, without it: check `params` against the model's
    spec, prepare, create with the first key, then poll until the job ends (at most 5 s).
    The provider's session is closed afterwards."""
    check_spec(provider.spec(params.model), params)
    key = provider.keys.keys[0]
    try:
        video = await provider.create(provider.prepare(params), key, CallContext())
        for _ in range(100):
            video = await provider.retrieve(video.id, key, CallContext())
            if video.status in ("completed", "failed"):
                return video
            await asyncio.sleep(0.05)
        raise AssertionError(f"{provider.id} job {video.id} did not end")
    finally:
        await provider.aclose()


def assert_refused(provider: Provider, cases: list[tuple[CreateParams, str]]) -> None:
    """Each (params, code) is a 400 `code` from the spec check or from `prepare`: refused
    before anything is sent upstream."""
    for params, code in cases:
        with pytest.raises(GatewayError) as caught:
            check_spec(provider.spec(params.model), params)
            provider.prepare(params)
        assert (caught.value.status, caught.value.code) == (400, code), params


def assert_gateway_refuses(
    http: httpx.Client, provider: str, cases: list[tuple[dict[str, Any], str, str]]
) -> None:
    """Each (create fields, code, hint) posted through the gateway (`fields["model"]`
    without the `provider/` prefix, prompt "x" unless given) is a 400 `code` whose message
    contains `hint`."""
    for fields, code, hint in cases:
        body = {"prompt": "x", **fields, "model": f"{provider}/{fields['model']}"}
        env = assert_envelope(http.post("/v1/videos", json=body), 400, code)
        assert hint in env["error"]["message"], env


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
