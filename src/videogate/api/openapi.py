"""The OpenAPI 3.1 document served at `/openapi.json`, written out rather than derived, so
the hot path needs no schema machinery."""

from __future__ import annotations

from functools import cache
from typing import Any

from .. import __version__

REQUEST_TYPES = [
    "video_generation",
    "video_retrieve",
    "video_list",
    "video_download",
    "video_remix",
    "video_delete",
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    str(s): _json(_ref("Error"), d)
    for s, d in (
        (400, "Bad request"),
        (401, "Authentication required"),
        (403, "Forbidden"),
        (404, "Not found"),
        (413, "Payload too large"),
        (415, "Unsupported media type"),
        (429, "Rate limited"),
        (502, "Upstream error"),
        (504, "Upstream timeout"),
    )
}
VIDEO_ID = {
    "name": "video_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "Video ID in format id:provider (e.g. video_abc123:openai); the colon may "
    "be percent-encoded.",
}

SCHEMAS: dict[str, Any] = {
    "ExtraFields": {
        "type": "object",
        "properties": {
            "request_type": {"type": "string", "enum": REQUEST_TYPES},
            "provider": {"type": ["string", "null"]},
            "model_requested": {"type": ["string", "null"]},
            "model_deployment": {"type": ["string", "null"]},
            "latency": {"type": "integer", "description": "milliseconds"},
            "raw_request": {},
            "raw_response": {},
            "upstream_deleted": {"type": "boolean"},
            "upstream_deletion": {
                "type": "string",
                "enum": ["done", "pending", "unsupported", "shared"],
            },
            "cache_debug": {"type": "object"},
        },
    },
    "Video": {
        "type": "object",
        "required": [
            "id",
            "object",
            "model",
            "status",
            "progress",
            "created_at",
            "completed_at",
            "expires_at",
            "prompt",
            "size",
            "seconds",
            "remixed_from_video_id",
            "error",
        ],
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "video"},
            "model": {"type": "string"},
            "status": {"enum": ["queued", "in_progress", "completed", "failed"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "created_at": {"type": "integer"},
            "completed_at": {"type": ["integer", "null"]},
            "expires_at": {"type": ["integer", "null"]},
            "prompt": {"type": ["string", "null"]},
            "size": {"type": ["string", "null"]},
            "seconds": {"type": ["string", "null"]},
            "remixed_from_video_id": {"type": ["string", "null"]},
            "error": {
                "type": ["object", "null"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
            "extra_fields": _ref("ExtraFields"),
        },
    },
    "VideoList": {
        "type": "object",
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": _ref("Video")},
            "first_id": {"type": ["string", "null"]},
            "last_id": {"type": ["string", "null"]},
            "has_more": {"type": "boolean"},
            "extra_fields": _ref("ExtraFields"),
        },
    },
    "VideoDeleted": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "video.deleted"},
            "deleted": {"const": True},
            "extra_fields": _ref("ExtraFields"),
        },
    },
    "CreateVideo": {
        "type": "object",
        "required": ["prompt"],
        "additionalProperties": True,
        "properties": {
            "prompt": {"type": "string", "maxLength": 32000},
            "model": {"type": "string", "description": "provider/model, or a configured alias"},
            "seconds": {"type": "string"},
            "size": {"type": "string", "pattern": "^[0-9]+x[0-9]+$"},
            "input_reference": {"description": "an image file part, or {image_url|file_id}"},
            "fallbacks": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Error": {
        "type": "object",
        "properties": {
            "event_id": {"type": "string"},
            "type": {"type": "string"},
            "is_bifrost_error": {"type": "boolean"},
            "status_code": {"type": "integer"},
            "error": {
                "type": "object",
                "properties": {
                    k: {"type": ["string", "null"]}
                    for k in ("type", "code", "message", "param", "event_id")
                },
            },
            "extra_fields": {
                "type": "object",
                "properties": {
                    k: {"type": ["string", "null"]}
                    for k in ("provider", "model_requested", "request_type")
                },
            },
        },
    },
}


@cache
def openapi_document() -> dict[str, Any]:
    create_body = {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _ref("CreateVideo")},
            "application/json": {"schema": _ref("CreateVideo")},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "videogate", "version": __version__},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/videos": {
                "post": {
                    "summary": "Create a video generation job",
                    "requestBody": create_body,
                    "responses": {"200": _json(_ref("Video")), **ERRORS},
                },
                "get": {
                    "summary": "List your videos (from the gateway's store)",
                    "parameters": [
                        {"name": "after", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                        {"name": "order", "in": "query", "schema": {"enum": ["asc", "desc"]}},
                        {"name": "provider", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _json(_ref("VideoList")), **ERRORS},
                },
            },
            "/v1/videos/{video_id}": {
                "parameters": [VIDEO_ID],
                "get": {
                    "summary": "Retrieve a video",
                    "responses": {"200": _json(_ref("Video")), **ERRORS},
                },
                "delete": {
                    "summary": "Delete a video generation job and its associated assets",
                    "responses": {"200": _json(_ref("VideoDeleted")), **ERRORS},
                },
            },
            "/v1/videos/{video_id}/content": {
                "parameters": [
                    VIDEO_ID,
                    {
                        "name": "variant",
                        "in": "query",
                        "schema": {"enum": ["video", "thumbnail", "spritesheet"]},
                    },
                ],
                "get": {
                    "summary": "Download the video, its thumbnail or spritesheet",
                    "responses": {
                        "200": {
                            "description": "the asset",
                            "content": {"video/mp4": {}, "image/webp": {}, "image/jpeg": {}},
                        },
                        **ERRORS,
                    },
                },
            },
            "/v1/videos/{video_id}/remix": {
                "parameters": [VIDEO_ID],
                "post": {
                    "summary": "Remix a completed video with a new prompt",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["prompt"],
                                    "properties": {"prompt": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {"200": _json(_ref("Video")), **ERRORS},
                },
            },
        },
    }
