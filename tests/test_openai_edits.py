"""Edits and extensions on the `openai` adapter (the OpenAI-shaped contract resellers serve),
at the adapter level against the OpenAI Videos mock; and what Azure's v1 adapter declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from videogate.config import ProviderConfig
from videogate.errors import GatewayError
from videogate.providers.azure import AzureProvider
from videogate.providers.base import Capability, CreateParams, Operation, SourceVideo
from videogate.providers.openai import OpenAIProvider

from .adapter_helpers import make_adapter, prepared_for, run_job
from .mocks.openai_videos import OpenAIVideosMock

KEY = "sk-upstream-secret-123"


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key=KEY, queued_seconds=0.1, run_seconds=0.3) as m:
        yield m


def form(mock: OpenAIVideosMock, path: str) -> dict[str, Any]:
    """The last multipart form sent to `path`: text fields, and files as (name, bytes)."""
    import email
    import email.policy

    req = mock.find_requests("POST", path)[-1]
    raw = f"Content-Type: {req.headers['content-type']}\r\n\r\n".encode() + req.body
    message = email.message_from_bytes(raw, policy=email.policy.HTTP)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[name] = (part.get_filename(), payload) if part.get_filename() else payload.decode()
    return fields


async def _source(mock: OpenAIVideosMock, seconds: str = "8") -> tuple[OpenAIProvider, Any, str]:
    adapter, key = make_adapter("openai", mock.url, KEY)
    job = CreateParams(model="sora-2", prompt="a lighthouse", seconds=seconds, size="1280x720")
    _, _, done = await run_job(adapter, key, job)
    assert done.status == "completed"
    return adapter, key, done.id  # type: ignore[return-value]


async def test_edit_by_upstream_id_keeps_the_source_frame(mock: OpenAIVideosMock) -> None:
    adapter, key, source_id = await _source(mock)
    source = SourceVideo(upstream_id=source_id, size="1280x720", seconds=8.0)
    job = CreateParams(
        model="sora-2", prompt="make it night", operation=Operation.EDIT, source=source
    )
    prepared, created, done = await run_job(adapter, key, job)
    assert prepared.route == "/videos/edits"
    assert form(mock, "/videos/edits") == {"prompt": "make it night", "video[id]": source_id}
    assert prepared.shown == {"prompt": "make it night", "video": {"id": source_id}}
    assert (created.size, created.seconds, prepared.seconds) == ("1280x720", "8", "8")
    assert done.status == "completed"
    await adapter.aclose()


async def test_extension_sends_the_new_segment_and_reports_the_total(
    mock: OpenAIVideosMock,
) -> None:
    adapter, key, source_id = await _source(mock, seconds="4")
    source = SourceVideo(upstream_id=source_id, size="1280x720", seconds=4.0)
    job = CreateParams(
        model="sora-2",
        prompt="the gull lands",
        operation=Operation.EXTEND,
        source=source,
        seconds="16",
    )
    prepared, created, done = await run_job(adapter, key, job)
    assert form(mock, "/videos/extensions") == {
        "prompt": "the gull lands",
        "seconds": "16",
        "video[id]": source_id,
    }
    assert prepared.seconds == "20" == created.seconds  # stitched total, as the API reports
    assert done.status == "completed"
    await adapter.aclose()


async def test_edit_of_a_source_from_elsewhere_uploads_its_bytes(mock: OpenAIVideosMock) -> None:
    adapter, key = make_adapter("openai", mock.url, KEY)
    clip = mock.media().video
    job = CreateParams(
        model="sora-2", prompt="restyle", operation=Operation.EDIT, source=SourceVideo(data=clip)
    )
    prepared, _, done = await run_job(adapter, key, job)
    sent = form(mock, "/videos/edits")
    assert sent["video"] == ("source.mp4", clip)
    assert prepared.shown["video"] == f"<{len(clip)} bytes video/mp4>"
    assert done.status == "completed"
    await adapter.aclose()


@pytest.mark.parametrize(
    ("over", "code"),
    [
        (
            {"operation": Operation.EDIT, "source": SourceVideo(url="https://x/a.mp4")},
            "source_not_on_provider",
        ),
        ({"operation": Operation.EDIT}, "source_required"),
        (
            {"operation": Operation.EDIT, "source": SourceVideo(upstream_id="v"), "seconds": "8"},
            "invalid_seconds",
        ),
        (
            {
                "operation": Operation.EDIT,
                "source": SourceVideo(upstream_id="v"),
                "size": "1280x720",
            },
            "invalid_size",
        ),
        (
            {"operation": Operation.EXTEND, "source": SourceVideo(upstream_id="v"), "seconds": "6"},
            "invalid_seconds",
        ),
        (
            {
                "operation": Operation.EXTEND,
                "source": SourceVideo(upstream_id="v"),
                "seconds": "24",
            },
            "invalid_seconds",
        ),
        (
            {"operation": Operation.EXTEND, "source": SourceVideo(upstream_id="v")},
            "invalid_seconds",
        ),
        ({"generate_audio": False}, "unsupported_audio"),
        ({"size": "1792x1024"}, "invalid_size"),  # Pro only
        ({"seed": 3}, "unsupported_seed"),
        ({"aspect_ratio": "7:4"}, "invalid_aspect_ratio"),
    ],
)
def test_what_the_api_would_refuse_is_refused_before_the_call(
    mock: OpenAIVideosMock, over: dict[str, Any], code: str
) -> None:
    adapter, _ = make_adapter("openai", mock.url, KEY)
    with pytest.raises(GatewayError) as caught:
        prepared_for(adapter, CreateParams(model="sora-2", prompt="x", **over))
    assert caught.value.code == code
    assert mock.requests == []


def test_aspect_ratio_becomes_a_size_and_options_widen_the_table() -> None:
    adapter, _ = make_adapter("openai", "http://127.0.0.1:9", KEY)
    pro = prepared_for(adapter, CreateParams(model="sora-2-pro", prompt="x", aspect_ratio="7:4"))
    assert pro.size == "1792x1024"
    reseller, _ = make_adapter(
        "openai", "http://127.0.0.1:9", KEY, options={"sizes": ["1920x1080"], "seconds": [10]}
    )
    spec = reseller.spec("sora-2")
    assert spec is not None and spec.sizes == ("1920x1080",) and spec.seconds == (10,)
    wide = prepared_for(
        reseller, CreateParams(model="sora-2", prompt="x", aspect_ratio="16:9", seconds="10")
    )
    assert (wide.size, wide.seconds) == ("1920x1080", "10")
    assert reseller.spec("reseller-model-x") is None  # undeclared: passes through


def test_mock_refuses_malformed_edits_and_extensions(mock: OpenAIVideosMock) -> None:
    import httpx

    auth = {"Authorization": f"Bearer {KEY}"}
    cases = [
        ("/videos/edits", {"prompt": "x"}),  # no video
        ("/videos/edits", {"prompt": "x", "video[id]": "video_nope"}),  # unknown id
        ("/videos/extensions", {"prompt": "x", "video[id]": "video_nope"}),  # no seconds
        ("/videos/edits", {"prompt": "x", "video[url]": "https://x"}),
    ]
    for path, data in cases:
        resp = httpx.post(
            f"{mock.url}{path}", files={k: (None, v) for k, v in data.items()}, headers=auth
        )
        assert resp.status_code in (400, 404), (path, data, resp.text)
    resp = httpx.post(f"{mock.url}/videos/edits", json={"prompt": "x"}, headers=auth)
    assert resp.status_code == 400


def test_azure_v1_declares_no_edits_or_extensions() -> None:
    config = ProviderConfig(type="azure", base_url="https://r.openai.azure.com/openai/v1")
    adapter = AzureProvider("azure", config)
    assert Capability.EDIT not in adapter.capabilities
    assert Capability.EXTEND not in adapter.capabilities
    assert Capability.REMIX in adapter.capabilities
    spec = adapter.spec("sora-2")
    assert spec is not None and spec.operations == {"create"}
    assert (
        Capability.EDIT in OpenAIProvider.capabilities
        and Capability.EXTEND in OpenAIProvider.capabilities
    )
