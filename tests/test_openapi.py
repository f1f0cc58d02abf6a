"""`/openapi.json` describes every route the app serves: each Starlette route (and each
VIDEO_ROUTES entry under every mount) has a description in `api/routes_spec.py`, every
operation a unique operationId, and the /v1 video operations OpenAI's."""

from __future__ import annotations

from openapi_spec_validator import validate

from videogate.api.app import PREFIXES, VIDEO_ROUTES, create_app
from videogate.api.openapi import build, find, openapi_path, undescribed
from videogate.config import Settings

OPENAI_IDS = {
    ("POST", "/v1/videos"): "createVideo",
    ("GET", "/v1/videos"): "ListVideos",
    ("GET", "/v1/videos/{video_id}"): "GetVideo",
    ("DELETE", "/v1/videos/{video_id}"): "DeleteVideo",
    ("GET", "/v1/videos/{video_id}/content"): "RetrieveVideoContent",
    ("POST", "/v1/videos/{video_id}/remix"): "CreateVideoRemix",
    ("POST", "/v1/videos/edits"): "CreateVideoEdit",
    ("POST", "/v1/videos/extensions"): "CreateVideoExtend",
    ("POST", "/v1/videos/characters"): "CreateVideoCharacter",
    ("GET", "/v1/videos/characters/{character_id}"): "GetVideoCharacter",
}


def _doc() -> tuple[object, dict]:
    app = create_app(Settings())
    return app, build(app.router.routes)


def test_every_route_is_described() -> None:
    app, _ = _doc()
    assert undescribed(app.router.routes) == []


def test_a_route_without_a_description_is_caught() -> None:
    from starlette.routing import Route

    app, _ = _doc()
    extra = Route("/api/brand-new", lambda r: None, methods=["GET"])
    assert undescribed([*app.router.routes, extra]) == [("GET", "/api/brand-new")]


def test_every_video_route_under_every_mount() -> None:
    _, doc = _doc()
    for prefix in PREFIXES:
        for method, shape in VIDEO_ROUTES:
            path = f"{prefix}/videos" + (f"/{shape}" if shape else "")
            assert find(method, path) is not None, (method, path)
            assert method.lower() in doc["paths"][openapi_path(path)], (method, path)


def test_operation_ids_unique_and_openai_s() -> None:
    _, doc = _doc()
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for (method, path), wanted in OPENAI_IDS.items():
        assert doc["paths"][path][method.lower()]["operationId"] == wanted


def test_document_is_valid_openapi_3_1() -> None:
    _, doc = _doc()
    validate(doc)
    video = doc["components"]["schemas"]["Video"]
    assert video["properties"]["status"]["enum"] == ["queued", "in_progress", "completed", "failed"]
    assert video["properties"]["progress"]["maximum"] == 100
    assert set(doc["components"]["securitySchemes"]) == {
        "bearer",
        "x-bf-vk",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
    }
