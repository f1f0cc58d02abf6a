"""The `azure` adapter through the gateway, for both of Azure's video APIs.

`azure` (options.api v1) is Sora 2 on Azure's OpenAI-shaped v1 API; `sora1` (options.api
jobs) is Sora 1 on the preview jobs API. Both run against one loopback Azure resource mock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from videogate.config import ProviderConfig
from videogate.providers.azure import AzureJobsProvider, AzureProvider
from videogate.providers.registry import adapter_class

from .conftest import GatewayHandle, assert_envelope
from .mocks.azure import AzureOpenAIMock, JobState
from .provider_helpers import (
    assert_create_refused,
    assert_remix_unsupported,
    assert_variants_missing,
    image_bytes,
    provider_config,
)

KEY = "azure-upstream-key-123"
ENTRA_TOKEN = "entra-token-abc"
JOBS = "/openai/v1/video/generations/jobs"


@pytest.fixture
def mock() -> Iterator[AzureOpenAIMock]:
    with AzureOpenAIMock(
        api_key=KEY, entra_token=ENTRA_TOKEN, queued_seconds=0.2, run_seconds=0.6
    ) as m:
        yield m


def azure_provider(base_url: str, api: str = "v1", **over: Any) -> dict[str, Any]:
    options = {"api": api, **over.pop("options", {})}
    return provider_config("azure", base_url, "env.VG_TEST_AZURE_KEY", options=options, **over)


def make(
    make_gateway: Callable[..., GatewayHandle], mock: AzureOpenAIMock, **providers: Any
) -> GatewayHandle:
    """A gateway whose downloads reach the adapter (no mirroring) and which lists both APIs:
    `azure` at the `/openai/v1` root, `sora1` at the bare origin (the path is implied)."""
    return make_gateway(
        providers={
            "azure": azure_provider(mock.url),
            "sora1": azure_provider(mock.origin, "jobs"),
            **providers,
        },
        assets={"mirror": False},
    )


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle],
    mock: AzureOpenAIMock,
    monkeypatch: pytest.MonkeyPatch,
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_AZURE_KEY", KEY)
    return make(make_gateway, mock)


def png(size: tuple[int, int] = (32, 18)) -> bytes:
    return image_bytes(size, color=(10, 120, 200))


def upstream(video_id: str) -> str:
    return video_id.rsplit(":", 1)[0]


def job_creates(mock: AzureOpenAIMock) -> list[Any]:
    return mock.find_requests("POST", JOBS)


# -- v1 API (Sora 2) ---------------------------------------------------------------------------


def test_v1_end_to_end_with_api_key(gw: GatewayHandle, mock: AzureOpenAIMock) -> None:
    client = gw.client()
    video = client.videos.create_and_poll(
        model="azure/sora-2",
        prompt="a lighthouse at dusk",
        seconds="4",
        size="1280x720",
        input_reference=("ref.png", png(), "image/png"),
    )
    assert video.status == "completed" and video.id.endswith(":azure")
    assert video.model == "sora-2" and video.progress == 100
    vid = upstream(video.id)
    create = mock.find_requests("POST", "/openai/v1/videos")[0]
    assert create.headers["api-key"] == KEY and "authorization" not in create.headers
    assert b'name="model"\r\n\r\nsora-2' in create.body
    assert b'name="input_reference"; filename="ref.png"' in create.body

    assert client.videos.download_content(video.id).read() == mock.media().video
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/webp"
    assert thumb.read() == mock.media().thumbnail

    remix = client.videos.remix(video.id, prompt="the same lighthouse in fog")
    assert remix.remixed_from_video_id == video.id
    assert upstream(remix.id) in mock.videos
    assert mock.find_requests("POST", f"/openai/v1/videos/{vid}/remix")[0].headers["api-key"] == KEY

    gone = client.videos.delete(video.id).model_dump()
    assert gone["deleted"] is True and gone["extra_fields"]["upstream_deleted"] is True
    assert vid in mock.deleted


def test_v1_moderation_and_upstream_errors(gw: GatewayHandle, mock: AzureOpenAIMock) -> None:
    video = gw.client().videos.create_and_poll(model="azure/sora-2", prompt="moderation test")
    assert video.status == "failed"
    assert video.error is not None and video.error.code == "moderation_blocked"
    with gw.http() as http:
        mock.fail_next(500, path_contains="/openai/v1/videos")
        resp = http.post("/v1/videos", json={"model": "azure/sora-2", "prompt": "x"})
        env = assert_envelope(resp, 500, "upstream_500", bifrost=False)
        assert env["extra_fields"]["provider"] == "azure"

        resp = http.post("/v1/videos", json={"model": "azure/no-such-deployment", "prompt": "x"})
        env = assert_envelope(resp, 404, "upstream_404", bifrost=False)
        assert "deployment 'no-such-deployment'" in env["error"]["message"]
        assert env["error"]["type"] == "video_generation_user_error"


# -- jobs API (Sora 1) -------------------------------------------------------------------------


def test_jobs_text_end_to_end(gw: GatewayHandle, mock: AzureOpenAIMock) -> None:
    client = gw.client()
    created = client.videos.create(
        model="sora1/sora", prompt="a paper boat on a river", size="854x480", seconds="5"
    )
    assert created.id.endswith(":sora1") and created.status == "queued"
    assert created.progress == 0
    job_id = upstream(created.id)
    assert job_id.startswith("task_")
    create = job_creates(mock)[0]
    assert create.path.endswith("?api-version=preview")
    assert create.headers["api-key"] == KEY
    assert json.loads(create.body) == {
        "model": "sora",
        "prompt": "a paper boat on a river",
        "width": 854,
        "height": 480,
        "n_seconds": 5,
        "n_variants": 1,
    }

    video = client.videos.poll(created.id)
    assert video.status == "completed" and video.progress == 100
    assert (video.size, video.seconds, video.model) == ("854x480", "5", "sora")
    assert video.completed_at == mock.job_json(job_id)["finished_at"]

    body = client.videos.download_content(video.id)
    assert body.response.headers["content-type"] == "video/mp4"
    assert body.read() == mock.media().video
    generation = mock.job_json(job_id)["generations"][0]["id"]
    assert mock.find_requests("GET", f"/video/generations/{generation}/content/video")
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/jpeg"
    assert thumb.read() == mock.thumbnail_jpeg()

    with gw.http() as http:
        assert_variants_missing(http, video.id, "spritesheet")
        assert_remix_unsupported(http, video.id)

    gone = client.videos.delete(video.id).model_dump()
    assert gone["id"] == video.id and gone["object"] == "video.deleted" and gone["deleted"]
    assert gone["extra_fields"]["upstream_deleted"] is True
    assert gone["extra_fields"]["upstream_deletion"] == "done"
    delete = mock.find_requests("DELETE", f"{JOBS}/{job_id}")
    assert delete and delete[0].path.endswith("?api-version=preview")
    assert job_id in mock.deleted_jobs
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


@pytest.mark.parametrize("as_data_url", [False, True])
def test_jobs_image_to_video(gw: GatewayHandle, mock: AzureOpenAIMock, as_data_url: bool) -> None:
    image = png((48, 48))
    client = gw.client()
    if as_data_url:
        url = "data:image/png;base64," + base64.b64encode(image).decode()
        created = client.videos.create(
            model="sora1/sora",
            prompt="the boat sails off",
            size="720x720",
            extra_body={"input_reference": {"image_url": url}},
        )
    else:
        created = client.videos.create(
            model="sora1/sora",
            prompt="the boat sails off",
            size="720x720",
            input_reference=("boat.png", image, "image/png"),
        )
    job = mock.jobs[upstream(created.id)]
    assert job.inpaint_items == [
        {
            "frame_index": 0,
            "type": "image",
            "file_name": "input_reference.png",
            "crop_bounds": {
                "left_fraction": 0.0,
                "top_fraction": 0.0,
                "right_fraction": 1.0,
                "bottom_fraction": 1.0,
            },
        }
    ]
    part = job.files["input_reference.png"]
    assert part.data == image and part.content_type == "image/png"
    assert (job.width, job.height, job.n_variants) == (720, 720, 1)
    assert client.videos.poll(created.id).status == "completed"


@pytest.mark.parametrize(
    ("prompt", "reason", "code"),
    [
        ("moderation please", "input_moderation", "moderation_blocked"),
        ("a forbiddenscene", "output_moderation", "moderation_blocked"),
        ("kaboom", "internal_error", "internal_error"),
    ],
)
def test_jobs_failures_map_to_canonical_codes(
    gw: GatewayHandle, mock: AzureOpenAIMock, prompt: str, reason: str, code: str
) -> None:
    video = gw.client().videos.create_and_poll(model="sora1/sora", prompt=prompt)
    assert video.status == "failed"
    assert mock.job_json(upstream(video.id))["failure_reason"] == reason
    assert video.error is not None and video.error.code == code and video.error.message
    with gw.http() as http:
        resp = http.get(f"/v1/videos/{video.id}/content")
        assert_envelope(resp, 409, "video_not_ready")


def test_jobs_upstream_errors_are_relayed(gw: GatewayHandle, mock: AzureOpenAIMock) -> None:
    with gw.http() as http:
        mock.fail_next(500, path_contains=JOBS)
        resp = http.post("/v1/videos", json={"model": "sora1/sora", "prompt": "x"})
        env = assert_envelope(resp, 500, "upstream_500", bifrost=False)
        assert env["extra_fields"]["provider"] == "sora1"

        mock.fail_next(429, headers={"Retry-After": "3"}, path_contains=JOBS)
        resp = http.post("/v1/videos", json={"model": "sora1/sora", "prompt": "x"})
        assert_envelope(resp, 429, "rate_limit_exceeded", bifrost=False)
        assert resp.headers["retry-after"] == "3"

        resp = http.post("/v1/videos", json={"model": "sora1/sora-turbo", "prompt": "x"})
        env = assert_envelope(resp, 404, "upstream_404", bifrost=False)
        assert "deployment 'sora-turbo'" in env["error"]["message"]

        # Azure's reference error shape without the `error` wrapper is read too.
        unwrapped = {"code": "contentFilter", "message": "Prompt was filtered.", "param": "prompt"}
        mock.fail_next(400, unwrapped, path_contains=JOBS)
        resp = http.post("/v1/videos", json={"model": "sora1/sora", "prompt": "x"})
        env = assert_envelope(resp, 400, "contentFilter", bifrost=False)
        assert env["error"]["message"] == "Prompt was filtered."
        assert env["error"]["param"] == "prompt"

        mock.garbage_next(path_contains=JOBS)
        resp = http.post("/v1/videos", json={"model": "sora1/sora", "prompt": "x"})
        assert_envelope(resp, 502, "upstream_bad_response")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"size": "1280x1280"}, "size"),
        ({"size": "1024x1792"}, "size"),
        ({"size": "1920x1080", "seconds": "15"}, "seconds"),
        ({"size": "720x720", "seconds": "21"}, "seconds"),
        ({"seconds": "0"}, "seconds"),
        ({"n_variants": 2}, "n_variants"),
        ({"width": 480}, "width"),
        ({"input_reference": {"image_url": "https://example.com/a.png"}}, "input_reference"),
    ],
)
def test_jobs_rejects_unsupported_parameters_before_any_upstream_call(
    gw: GatewayHandle, mock: AzureOpenAIMock, body: dict[str, Any], param: str
) -> None:
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"model": "sora1/sora", "prompt": "x", **body})
    env = assert_envelope(resp, 400, env_code(resp))
    assert env["error"]["param"] == param
    if param == "size":
        assert "1920x1080" in env["error"]["message"]  # lists what is allowed
    assert job_creates(mock) == []


def env_code(resp: httpx.Response) -> str:
    code = resp.json()["error"]["code"]
    assert code.startswith("invalid_")
    return str(code)


def test_jobs_1080p_allows_ten_seconds(gw: GatewayHandle, mock: AzureOpenAIMock) -> None:
    video = gw.client().videos.create(
        model="sora1/sora", prompt="x", size="1080x1920", seconds="10"
    )
    assert video.size == "1080x1920" and video.seconds == "10"
    assert json.loads(job_creates(mock)[0].body)["n_seconds"] == 10


def test_jobs_stages_map_to_openai_statuses() -> None:
    """Every stage of the job timeline maps to an OpenAI status, progress never goes back."""
    provider = adapter_class("azure")(
        "sora1", ProviderConfig(options={"api": "jobs", "resource": "r"}, keys=[{"value": "k"}])
    )
    assert isinstance(provider, AzureJobsProvider)
    job = JobState("task_1", "sora", "p", 480, 480, 5, 1, 0.0, 1.0, 1.0, generation_ids=["g"])
    seen = []
    for t in (0.1, 0.7, 1.2, 1.8, 2.5):
        body = job.to_json(t)
        video = provider.to_video(body)
        seen.append((body["status"], video.status, video.progress))
    assert seen == [
        ("preprocessing", "queued", 0),
        ("queued", "queued", 0),
        ("running", "in_progress", 50),
        ("processing", "in_progress", 90),
        ("succeeded", "completed", 100),
    ]
    done = provider.to_video(job.to_json(3.0))
    assert (done.size, done.seconds, done.completed_at, done.error) == ("480x480", "5", 2, None)
    cancelled = provider.to_video({**job.to_json(3.0), "status": "cancelled"})
    assert cancelled.status == "failed" and cancelled.error is not None
    assert cancelled.error["code"] == "cancelled"
    unknown = provider.to_video({**job.to_json(3.0), "status": "failed", "failure_reason": None})
    assert unknown.error is not None and unknown.error["code"] == "generation_failed"


# -- credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["azure/sora-2", "sora1/sora"])
def test_wrong_key_is_relayed_as_401(
    make_gateway: Callable[..., GatewayHandle],
    mock: AzureOpenAIMock,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
) -> None:
    monkeypatch.setenv("VG_TEST_AZURE_KEY", "not-the-key")
    gw = make(make_gateway, mock)
    env = assert_create_refused(gw, model, 401, "401", "not-the-key")
    assert env["error"]["message"].startswith("Access denied due to invalid subscription key")
    assert mock.jobs == {} and mock.videos == {}


def test_entra_bearer_token(
    make_gateway: Callable[..., GatewayHandle],
    mock: AzureOpenAIMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VG_TEST_AZURE_KEY", ENTRA_TOKEN)
    gw = make(
        make_gateway,
        mock,
        entra=azure_provider(mock.url, "jobs", options={"auth": "bearer"}),
        entra2=azure_provider(mock.url, options={"auth": "bearer"}),
    )
    client = gw.client()
    assert client.videos.create_and_poll(model="entra/sora", prompt="x").status == "completed"
    assert client.videos.create(model="entra2/sora-2", prompt="y").id.endswith(":entra2")
    for create in (job_creates(mock)[0], mock.find_requests("POST", "/openai/v1/videos")[0]):
        assert create.headers["authorization"] == f"Bearer {ENTRA_TOKEN}"
        assert "api-key" not in create.headers


# -- configuration -------------------------------------------------------------------------------


def test_one_type_two_apis() -> None:
    """Whichever class the registry returns, `options.api` picks the implementation."""
    cls = adapter_class("azure")
    key = {"name": "k", "value": "secret"}
    v1 = cls("a", ProviderConfig(type="azure", options={"resource": "contoso"}, keys=[key]))
    jobs = cls("b", ProviderConfig(options={"api": "jobs", "resource": "contoso"}, keys=[key]))
    assert type(v1) is AzureProvider and type(jobs) is AzureJobsProvider
    assert v1.type_name == jobs.type_name == "azure"
    assert type(AzureJobsProvider("c", v1.config)) is AzureProvider
    for provider in (v1, jobs):
        assert (
            provider._base(provider.config.keys[0]) == "https://contoso.openai.azure.com/openai/v1"
        )
        assert provider._headers(provider.config.keys[0]) == {"api-key": "secret"}
    per_key = ProviderConfig(
        keys=[{"value": "x", "extra": {"resource": "east"}}, {"value": "y", "base_url": "http://h"}]
    )
    p = cls("d", per_key)
    assert [p._base(k) for k in per_key.keys] == [
        "https://east.openai.azure.com/openai/v1",
        "http://h/openai/v1",
    ]
    for bad in (
        ProviderConfig(keys=[key]),  # no resource anywhere
        ProviderConfig(options={"api": "v2", "resource": "x"}, keys=[key]),
        ProviderConfig(options={"auth": "basic", "resource": "x"}, keys=[key]),
        ProviderConfig(options={"resource": "not a host"}, keys=[key]),
    ):
        with pytest.raises(ValueError):
            cls("e", bad)


def test_providers_listing_reports_each_api(gw: GatewayHandle) -> None:
    with gw.http() as http:
        listed = {p["id"]: p for p in http.get("/v1/providers").json()["data"]}
    assert listed["azure"]["type"] == listed["sora1"]["type"] == "azure"
    assert "remix" in listed["azure"]["capabilities"]
    assert set(listed["sora1"]["capabilities"]) == {
        "create",
        "retrieve",
        "content",
        "delete",
        "image_input",
        "thumbnail",
    }


def test_mock_requires_api_version_on_jobs(mock: AzureOpenAIMock) -> None:
    headers = {"api-key": KEY}
    body = {"model": "sora", "prompt": "x", "width": 480, "height": 480}
    resp = httpx.post(mock.url + "/video/generations/jobs", json=body, headers=headers)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "MissingApiVersionParameter"
    assert mock.jobs == {}
    ok = httpx.post(
        mock.url + "/video/generations/jobs?api-version=preview", json=body, headers=headers
    )
    assert ok.status_code == 200 and ok.json()["object"] == "video.generation.job"
