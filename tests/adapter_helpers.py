"""Helpers for provider tests: create a job straight through an adapter (edits, extensions
and normalised fields, which the API routes do not build yet) and poll it to its end, and
check that requests are refused, by the adapter or through the gateway, with a 400.

Plain functions: each test module builds its own provider against its own mock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from videogate.errors import GatewayError
from videogate.providers.base import CallContext, CreateParams, Provider, UpstreamVideo
from videogate.providers.specs import check_spec

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
