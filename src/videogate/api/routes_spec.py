"""What every route takes and answers, one `Op` per (method, path): the single description
`openapi.py` turns into `/openapi.json`.

Adding a route means adding one entry here (`SPEC` for a fixed path, `MOUNTED` for a route
served under every mount); a route with no entry fails tests/test_openapi.py. Paths are
Starlette's, converters included (`{model_id:path}`). Error statuses are the ones the
handler's code paths raise (named beside each helper below); a provider's own error is
relayed with the provider's status (`is_bifrost_error: false`), which is one of these for
every provider adapter's mapped answer but may be any status a provider returns.

OpenAI's operationIds: `createVideo`, `ListVideos`, `GetVideo`, `DeleteVideo`,
`RetrieveVideoContent`, `CreateVideoRemix` (openai-openapi); `CreateVideoCharacter`,
`GetVideoCharacter`, `CreateVideoEdit`, `CreateVideoExtend` are read from a list of that
spec's operationIds in third-party code (inferred: not seen in openai/openai-openapi
itself); the paths and fields from openai-python 3.54 `resources/videos.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **more: Any) -> Schema:
    return {"type": [kind, "null"], **more}


STRING = {"type": "string"}
OBJECT: Schema = {"type": "object"}
# Who may call: "api" (virtual key or any JWT), "admin" (admin JWT), "none" (public).
API, ADMIN, NONE = "api", "admin", "none"


@dataclass(frozen=True)
class Op:
    """One operation. `errors` are the statuses besides the success one; `responses` adds
    or replaces whole response objects (e.g. a 206, a 304)."""

    operation_id: str
    summary: str
    tag: str
    ok: Schema | None  # the 200 body's JSON schema; None when `responses` gives the 200
    errors: tuple[int, ...]
    auth: str = API
    params: tuple[Schema, ...] = ()
    body: Schema | None = None  # a requestBody object
    ok_headers: tuple[str, ...] = ("x-request-id",)
    responses: dict[str, Schema] = field(default_factory=dict)
    description: str | None = None
    inferred_id: bool = False  # operationId inferred, not read from OpenAI's spec


# -- parameters and headers -----------------------------------------------------------------
def path_param(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema or STRING,
        "description": description,
    }


def query(name: str, schema: Schema, description: str = "") -> Schema:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def header(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "header", "schema": schema or STRING, "description": description}


VIDEO_ID = path_param(
    "video_id",
    "The gateway's video id, `<token>:<provider>` (e.g. video_abc123:openai); the colon may "
    "be percent-encoded.",
)
RAW_HEADERS = (
    header(
        "x-bf-send-back-raw-request",
        "true: extra_fields.raw_request holds the body sent upstream (Bifrost's header).",
    ),
    header(
        "x-bf-send-back-raw-response",
        "true: extra_fields.raw_response holds the provider's answer (Bifrost's header).",
    ),
)
CACHE_HEADERS = (
    header("x-bf-cache-key", "Opt into the cache under this namespace (1-255 characters)."),
    header("x-bf-cache-ttl", "Seconds, or a duration such as 5m or 1h30m (positive)."),
    header("x-bf-cache-threshold", "Semantic similarity threshold, 0-1."),
    header("x-bf-cache-type", "direct or semantic.", {"enum": ["direct", "semantic"]}),
    header("x-bf-cache-no-store", "true: look up, never store this answer."),
)
IDEMPOTENCY = header(
    "Idempotency-Key",
    "A retry with the same key and body answers the first create (idempotent-replayed: "
    "true); the same key with another body is a 409.",
)
CREATE_HEADERS = (IDEMPOTENCY, *CACHE_HEADERS, *RAW_HEADERS)
RANGE = header("Range", "One byte range, `bytes=<first>-[<last>]` or `bytes=-<suffix>`.")

# Response headers, by name (components/headers).
HEADERS: dict[str, Schema] = {
    "x-request-id": {
        "description": "The request's event id (also the envelope's event_id).",
        "schema": STRING,
    },
    "openai-poll-after-ms": {
        "description": "How long to wait before polling again (the provider's interval).",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "idempotent-replayed": {
        "description": "true when the answer is the replay of an earlier create with the same "
        "Idempotency-Key.",
        "schema": {"const": "true"},
    },
    "Retry-After": {"description": "Seconds until a retry may succeed.", "schema": STRING},
    "x-bf-provider": {"description": "The provider the bytes come from.", "schema": STRING},
    "Content-Range": {
        "description": "The range served (206), or `bytes */size` (416).",
        "schema": STRING,
    },
    "Accept-Ranges": {"description": "bytes, where a Range is honoured.", "schema": STRING},
    "Content-Disposition": {"description": "inline; filename=<token>.<suffix>", "schema": STRING},
    "Allow": {"description": "The methods this path takes (405).", "schema": STRING},
    "Cache-Control": {"description": "Caching of the answer.", "schema": STRING},
    "ETag": {"description": "The file's version.", "schema": STRING},
}

# -- schemas ----------------------------------------------------------------------------------
REQUEST_TYPES = [
    "video_generation",
    "video_edit",
    "video_extend",
    "video_retrieve",
    "video_list",
    "video_download",
    "video_remix",
    "video_delete",
    "video_quote",
    "video_character_create",
    "video_character_retrieve",
    "model_list",
    "model_retrieve",
    "provider_list",
    "ui_ticket",
    "ui_content",
]
VIDEO_KEYS = (
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
)
IMAGE_REF = {
    "description": "An image: a file part (multipart), an http(s) or data:image/ URL, or "
    "{image_url | file_id}.",
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {"image_url": STRING, "file_id": STRING},
        },
    ],
}
# Fields every create-shaped body takes (parsing.py `parse_create`); unknown fields are
# passed to the provider as they are.
CREATE_FIELDS: Schema = {
    "prompt": {"type": "string", "minLength": 1, "description": "At most limits.max_prompt_chars."},
    "model": {"type": "string", "description": "provider/model, a public route, or a bare model."},
    "seconds": {
        "type": "string",
        "pattern": "^[0-9]{1,6}$",
        "description": "A positive whole number (a number is accepted too).",
    },
    "size": {"type": "string", "pattern": "^[0-9]{1,5}x[0-9]{1,5}$"},
    "input_reference": IMAGE_REF,
    "fallbacks": {
        "type": "array",
        "maxItems": 5,
        "items": {"type": "string", "minLength": 1},
        "description": "provider/model targets tried in order after the first (or a "
        "comma-separated string in a form).",
    },
    "generate_audio": {"type": "boolean"},
    "negative_prompt": STRING,
    "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
    "aspect_ratio": {"type": "string", "pattern": "^[0-9]{1,3}:[0-9]{1,3}$"},
    "resolution": {"type": "string", "pattern": "^([0-9]{3,4}p|[248]k)$"},
    "fps": {"type": "integer", "minimum": 1, "maximum": 240},
    "n": {"type": "integer", "minimum": 1, "maximum": 16},
    "last_frame": IMAGE_REF,
    "reference_images": {"type": "array", "maxItems": 8, "items": IMAGE_REF},
    "characters": {
        "type": "array",
        "maxItems": 8,
        "items": {"type": "object", "required": ["id"], "properties": {"id": STRING}},
        "description": "Stored characters, [{id: char_…}] (multipart: characters[][id]).",
    },
}
SOURCE_VIDEO = {
    "description": "The source: {id: <completed gateway video id>} (multipart: video[id]), "
    "or an uploaded MP4/MOV/WebM file.",
    "anyOf": [
        {"type": "object", "required": ["id"], "properties": {"id": STRING}},
        {"type": "string", "format": "binary"},
    ],
}


def _body_schema(required: list[str], extra: Schema | None = None) -> Schema:
    return {
        "type": "object",
        "required": required,
        "properties": {**CREATE_FIELDS, **(extra or {})},
    }


ERROR_DETAIL = {
    "type": "object",
    "required": ["type", "code", "message", "param", "event_id"],
    "properties": {
        k: _nullable("string") for k in ("type", "code", "message", "param", "event_id")
    },
}
SCHEMAS: dict[str, Schema] = {
    "ExtraFields": {
        "type": "object",
        "description": "Bifrost's extra_fields; more keys may be added (cache_hit, "
        "cache_debug, attempts, operation, source_video_id, mirrored).",
        "properties": {
            "request_type": {"type": "string", "enum": REQUEST_TYPES},
            "provider": _nullable("string"),
            "model_requested": _nullable("string"),
            "model_deployment": _nullable("string"),
            "latency": {"type": "integer", "minimum": 0, "description": "milliseconds"},
            "raw_request": {},
            "raw_response": {},
            "raw_source": {"enum": ["upstream", "store"]},
            "upstream_deleted": {"type": "boolean"},
            "upstream_deletion": {"enum": ["done", "pending", "unsupported", "shared"]},
            "operation": {"enum": ["create", "edit", "extend"]},
            "source_video_id": _nullable("string"),
            "mirrored": {"type": "boolean"},
            "cache_debug": OBJECT,
            "cache_hit": OBJECT,
        },
    },
    "VideoError": {
        "type": ["object", "null"],
        "required": ["code", "message"],
        "properties": {"code": STRING, "message": STRING},
    },
    "Video": {
        "type": "object",
        "description": "OpenAI's Video object (every key present, null where unknown) and "
        "extra_fields.",
        "required": list(VIDEO_KEYS),
        "properties": {
            "id": STRING,
            "object": {"const": "video"},
            "model": _nullable("string"),
            "status": {"enum": ["queued", "in_progress", "completed", "failed"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "created_at": {"type": "integer"},
            "completed_at": _nullable("integer"),
            "expires_at": _nullable("integer"),
            "prompt": _nullable("string"),
            "size": _nullable("string"),
            "seconds": _nullable("string"),
            "remixed_from_video_id": _nullable("string"),
            "error": ref("VideoError"),
            "extra_fields": ref("ExtraFields"),
        },
    },
    "VideoList": {
        "type": "object",
        "required": ["object", "data", "first_id", "last_id", "has_more"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": ref("Video")},
            "first_id": _nullable("string"),
            "last_id": _nullable("string"),
            "has_more": {"type": "boolean"},
            "extra_fields": ref("ExtraFields"),
        },
    },
    "VideoDeleted": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {
            "id": STRING,
            "object": {"const": "video.deleted"},
            "deleted": {"const": True},
            "extra_fields": ref("ExtraFields"),
        },
    },
    "CreateVideo": _body_schema(["prompt"]),
    "EditVideo": _body_schema(["prompt", "video"], {"video": SOURCE_VIDEO}),
    "ExtendVideo": _body_schema(
        ["prompt", "video", "seconds"],
        {
            "video": SOURCE_VIDEO,
            "seconds": {
                "type": "string",
                "pattern": "^[0-9]{1,6}$",
                "description": "The length of the new segment.",
            },
        },
    ),
    "RemixVideo": {
        "type": "object",
        "required": ["prompt"],
        "properties": {"prompt": {"type": "string", "minLength": 1}},
    },
    "CreateCharacter": {
        "type": "object",
        "required": ["name", "video"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 80},
            "video": {"type": "string", "format": "binary", "description": "A video file."},
        },
    },
    "Character": {
        "type": "object",
        "required": ["id", "name", "created_at"],
        "properties": {
            "id": STRING,
            "name": _nullable("string"),
            "created_at": {"type": "integer"},
            "extra_fields": ref("ExtraFields"),
        },
    },
    "Quote": {
        "type": "object",
        "required": ["object", "deployment", "provider", "estimated_cost_usd", "candidates"],
        "properties": {
            "object": {"const": "video.quote"},
            "model": _nullable("string"),
            "route": _nullable("string"),
            "strategy": _nullable("string"),
            "deployment": STRING,
            "provider": STRING,
            "estimated_cost_usd": {"type": "number"},
            "reserved_usd": {"type": "number"},
            "currency": {"const": "USD"},
            "seconds": {"type": "number"},
            "admitted": {"type": "boolean"},
            "budgets": {"type": "array", "items": OBJECT},
            "candidates": {"type": "array", "items": OBJECT},
            "skipped": {"type": "array", "items": OBJECT},
            "extra_fields": ref("ExtraFields"),
        },
    },
    "Model": {
        "type": "object",
        "description": "OpenAI's model entry with what it accepts, its price, deployments, "
        "health and measured speed.",
        "required": ["id", "object"],
        "properties": {
            "id": STRING,
            "object": {"const": "model"},
            "created": {"type": "integer"},
            "owned_by": STRING,
            "extra_fields": ref("ExtraFields"),
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": ref("Model")},
            "extra_fields": ref("ExtraFields"),
        },
    },
    "ProviderList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"const": "list"},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "type", "capabilities"],
                    "properties": {
                        "id": STRING,
                        "type": STRING,
                        "capabilities": {"type": "array", "items": STRING},
                        "models": {"type": "array", "items": STRING},
                        "poll_after_ms": {"type": "integer"},
                    },
                },
            },
        },
    },
    "List": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": OBJECT}},
    },
    "Deleted": {
        "type": "object",
        "required": ["deleted"],
        "properties": {"id": STRING, "deleted": {"const": True}},
    },
    "Error": {
        "type": "object",
        "description": "Bifrost's error envelope.",
        "required": [
            "event_id",
            "type",
            "is_bifrost_error",
            "status_code",
            "error",
            "extra_fields",
        ],
        "properties": {
            "event_id": STRING,
            "type": STRING,
            "is_bifrost_error": {"type": "boolean"},
            "status_code": {"type": "integer"},
            "error": ERROR_DETAIL,
            "extra_fields": {
                "type": "object",
                "properties": {
                    "provider": _nullable("string"),
                    "model_requested": _nullable("string"),
                    "request_type": _nullable("string"),
                    "attempts": {"type": "array", "items": OBJECT},
                },
            },
        },
    },
    "GenaiOperation": {
        "type": "object",
        "description": "A google.longrunning Operation (`done` absent while it runs).",
        "required": ["name"],
        "properties": {
            "name": STRING,
            "done": {"type": "boolean"},
            "metadata": OBJECT,
            "response": OBJECT,
            "error": OBJECT,
            "extra_fields": ref("ExtraFields"),
        },
    },
    "GenaiPredict": {
        "type": "object",
        "description": "predictLongRunning: {instances: [{prompt, image, lastFrame, "
        "referenceImages}], parameters: {sampleCount, durationSeconds, aspectRatio, "
        "resolution, negativePrompt, personGeneration, enhancePrompt, seed, generateAudio}}; "
        "fetchPredictOperation (Vertex mode): {operationName}.",
        "properties": {
            "instances": {"type": "array", "items": OBJECT},
            "parameters": OBJECT,
            "operationName": STRING,
        },
    },
    "Ticket": {
        "type": "object",
        "required": ["object", "video_id", "url", "thumbnail_url", "expires_at"],
        "properties": {
            "object": {"const": "content_ticket"},
            "video_id": STRING,
            "url": STRING,
            "thumbnail_url": STRING,
            "expires_at": {"type": "integer"},
        },
    },
}

# -- bodies and responses ---------------------------------------------------------------------
FORM_AND_JSON = ("multipart/form-data", "application/x-www-form-urlencoded", "application/json")


def body(schema: str, types: tuple[str, ...] = FORM_AND_JSON) -> Schema:
    return {"required": True, "content": {t: {"schema": ref(schema)} for t in types}}


def json_body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


ADMIN_OBJECT = json_body({"type": "object"})
MEDIA: dict[str, Schema] = {"video/mp4": {}, "image/webp": {}, "image/jpeg": {}, "image/png": {}}


def media(description: str, status_headers: tuple[str, ...]) -> Schema:
    return {
        "description": description,
        "headers": {h: {"$ref": f"#/components/headers/{h}"} for h in status_headers},
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA},
    }


CONTENT_HEADERS = ("x-request-id", "x-bf-provider", "Content-Disposition")
CONTENT_RESPONSES = {
    "200": media("The whole asset.", (*CONTENT_HEADERS, "Accept-Ranges")),
    "206": media("The requested byte range.", (*CONTENT_HEADERS, "Content-Range", "Accept-Ranges")),
}

# -- error sets, by code path -------------------------------------------------------------------
# `context.principal`: 401 (no, unknown, revoked or invalid credential), 403 (blocked or
# expired key), 429 (the key's rpm); `context.admin` adds 403 admin_required.
AUTHED = (401, 403, 429)
# `parsing.read_body`: 400 (malformed), 413 (over the limit), 415 (another content type);
# `read_json_object`: 400 and 413.
FORM = (400, 413, 415)
JSON_ONLY = (400, 413)
# The create service (`gw.create`): 400 (unknown model or provider, a parameter the model
# refuses), 402 (budget), 403 (model or provider blocked for the key), 404 (a replayed
# Idempotency-Key's video since deleted), 409 (Idempotency-Key reused with another body, or
# in flight), 502 (provider unreachable or bad answer), 503 (circuit open, no master key),
# 504 (provider timeout); a provider's own error keeps its status.
CREATE = (*AUTHED, *FORM, 402, 404, 409, 502, 503, 504)
# Reading a stored video (`reader.retrieve`, a refresh from its provider may run): 400
# (unknown provider in the id), 404, and the provider's 502/503/504.
READ = (*AUTHED, 400, 404, 502, 503, 504)


def _video_ops() -> dict[tuple[str, str], Op]:
    tag = "videos"
    return {
        ("POST", "edits"): Op(
            "CreateVideoEdit",
            "Edit a video: a create with a source video",
            tag,
            ref("Video"),
            # sources.py: 404 unknown source, 409 source not completed, 413 source too large
            CREATE,
            params=CREATE_HEADERS,
            body=body("EditVideo"),
            ok_headers=("x-request-id", "idempotent-replayed"),
            inferred_id=True,
        ),
        ("POST", "extensions"): Op(
            "CreateVideoExtend",
            "Extend a video by a new segment of `seconds`",
            tag,
            ref("Video"),
            CREATE,
            params=CREATE_HEADERS,
            body=body("ExtendVideo"),
            ok_headers=("x-request-id", "idempotent-replayed"),
            inferred_id=True,
        ),
        ("POST", "characters"): Op(
            "CreateVideoCharacter",
            "Store a character from an uploaded video",
            tag,
            ref("Character"),
            (*AUTHED, *FORM),
            body=body("CreateCharacter", ("multipart/form-data",)),
            inferred_id=True,
        ),
        ("GET", "characters/{character_id}"): Op(
            "GetVideoCharacter",
            "Retrieve a stored character",
            tag,
            ref("Character"),
            (*AUTHED, 404),
            params=(path_param("character_id", "The character's id (char_…)."),),
            inferred_id=True,
        ),
        ("POST", ""): Op(
            "createVideo",
            "Create a video generation job",
            tag,
            ref("Video"),
            CREATE,
            params=CREATE_HEADERS,
            body=body("CreateVideo"),
            ok_headers=("x-request-id", "idempotent-replayed"),
        ),
        ("GET", ""): Op(
            "ListVideos",
            "List your videos (from the gateway's store)",
            tag,
            ref("VideoList"),
            (*AUTHED, 400),
            params=(
                query("after", STRING, "A video id: the page after it."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                query("order", {"enum": ["asc", "desc"]}),
                query("provider", STRING, "Only this provider's videos."),
                header("x-bf-video-list-provider", "As ?provider= (Bifrost's header)."),
            ),
        ),
        ("GET", "{video_id}"): Op(
            "GetVideo",
            "Retrieve a video",
            tag,
            ref("Video"),
            READ,
            params=(VIDEO_ID, *RAW_HEADERS),
            ok_headers=("x-request-id", "openai-poll-after-ms"),
        ),
        ("DELETE", "{video_id}"): Op(
            "DeleteVideo",
            "Delete a video and its assets (upstream too, where the provider can)",
            tag,
            ref("VideoDeleted"),
            READ,
            params=(VIDEO_ID,),
        ),
        ("GET", "{video_id}/content"): Op(
            "RetrieveVideoContent",
            "Download the video, its thumbnail or spritesheet",
            tag,
            None,
            # reading.py: 404 variant not available or content expired, 409 not ready;
            # videos.py: 400 invalid variant, 416 unsatisfiable Range
            (*READ, 409, 416),
            params=(
                VIDEO_ID,
                query("variant", {"enum": ["video", "thumbnail", "spritesheet"]}),
                RANGE,
            ),
            responses=CONTENT_RESPONSES,
        ),
        ("POST", "{video_id}/remix"): Op(
            "CreateVideoRemix",
            "Remix a completed video with a new prompt",
            tag,
            ref("Video"),
            # remix.py: 400 when the source cannot be remixed; then the create's errors
            (*CREATE, 409),
            params=(VIDEO_ID,),
            body=body("RemixVideo"),
        ),
        ("POST", "quote"): Op(
            "quoteVideo",
            "What a create of this body would cost and where it would go (no upstream call)",
            tag,
            ref("Quote"),
            (*AUTHED, *FORM, 402, 403),
            body=body("CreateVideo"),
        ),
    }


MODEL_ID = path_param("model_id", "A public model (route) or provider/model.")


def _model_ops() -> dict[tuple[str, str], Op]:
    return {
        ("GET", ""): Op("listModels", "The model catalogue", "models", ref("ModelList"), AUTHED),
        ("GET", "{model_id:path}"): Op(
            "retrieveModel",
            "One model of the catalogue",
            "models",
            ref("Model"),
            (*AUTHED, 404),
            params=(MODEL_ID,),
        ),
    }


# Routes served under every mount (app.py PREFIXES): collection -> (method, shape) -> Op.
MOUNTED: dict[str, dict[tuple[str, str], Op]] = {"videos": _video_ops(), "models": _model_ops()}
# The mount whose operations carry the plain operationId; the others add their own suffix.
CANONICAL_MOUNT = "/v1"

# -- fixed paths -------------------------------------------------------------------------------
REF = path_param("ref", "The entity's id or name.")
WEBHOOK_EVENTS = ["video.completed", "video.failed"]


def _entity(kind: str, plural: str) -> dict[tuple[str, str], Op]:
    base = f"/api/governance/{plural}"
    tag = "governance"
    title = kind.capitalize()
    return {
        ("POST", base): Op(
            f"create{title}",
            f"Create a {kind} (budgets, rate limits, allowed models)",
            tag,
            OBJECT,
            (*AUTHED, *JSON_ONLY, 409),
            auth=ADMIN,
            body=json_body(
                {"type": "object", "required": ["name"], "properties": {"name": STRING}}
            ),
        ),
        ("GET", base): Op(f"list{title}s", f"List {plural}", tag, ref("List"), AUTHED, auth=ADMIN),
        ("GET", base + "/{ref}"): Op(
            f"get{title}",
            f"Retrieve a {kind}",
            tag,
            OBJECT,
            (*AUTHED, 404),
            auth=ADMIN,
            params=(REF,),
        ),
        ("PATCH", base + "/{ref}"): Op(
            f"update{title}",
            f"Change a {kind}",
            tag,
            OBJECT,
            (*AUTHED, *JSON_ONLY, 404, 409),
            auth=ADMIN,
            params=(REF,),
            body=ADMIN_OBJECT,
        ),
        ("DELETE", base + "/{ref}"): Op(
            f"delete{title}",
            f"Delete a {kind}",
            tag,
            ref("Deleted"),
            (*AUTHED, 404),
            auth=ADMIN,
            params=(REF,),
        ),
    }


def _ui_file(description: str) -> dict[str, Schema]:
    headers = {h: {"$ref": f"#/components/headers/{h}"} for h in ("ETag", "Cache-Control")}
    return {
        "200": {
            "description": description,
            "headers": headers,
            "content": {
                t: {"schema": STRING}
                for t in (
                    "text/html",
                    "text/javascript",
                    "text/css",
                    "image/svg+xml",
                    "image/png",
                    "image/x-icon",
                    "text/plain",
                )
            },
        },
        "304": {"description": "Not modified (If-None-Match).", "headers": headers},
    }


PROMPT_OPERATION = path_param(
    "path",
    "`{model}:predictLongRunning` (POST) or `{model}/operations/{id}` (GET); the model may "
    "hold slashes.",
    {"type": "string"},
)
GENAI_CREATE = (*AUTHED, *JSON_ONLY, 402, 404, 409, 502, 503, 504)
WEBHOOK_ID = path_param("endpoint_id", "The webhook endpoint's id.")

USAGE_FILTERS = ("key_id", "team_id", "customer_id", "provider", "model", "status")

READY: Schema = {
    "type": "object",
    "required": ["status", "failed", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not_ready", "draining"]},
        "failed": {"type": "array", "items": STRING},
        "checks": {"type": "object"},
    },
}

SPEC: dict[tuple[str, str], Op] = {
    ("GET", "/health"): Op(
        "health",
        "Liveness",
        "meta",
        {"type": "object", "required": ["status"]},
        (),
        auth=NONE,
        ok_headers=(),
    ),
    ("GET", "/ready"): Op(
        "ready",
        "Readiness: the database, Redis when configured, the asset store, the worker",
        "meta",
        READY,
        (),
        auth=NONE,
        ok_headers=(),
        responses={
            "503": {
                "description": "Not ready, or draining: `failed` names what.",
                "content": {"application/json": {"schema": READY}},
            }
        },
    ),
    ("GET", "/health/readiness"): Op(
        "readiness",
        "Readiness (LiteLLM's path for /ready)",
        "meta",
        READY,
        (),
        auth=NONE,
        ok_headers=(),
        responses={
            "503": {
                "description": "Not ready, or draining: `failed` names what.",
                "content": {"application/json": {"schema": READY}},
            }
        },
    ),
    ("GET", "/metrics"): Op(
        "metrics",
        "Prometheus metrics (text exposition format)",
        "meta",
        None,
        (),
        auth=NONE,
        ok_headers=(),
        responses={
            "200": {
                "description": "Prometheus text format 0.0.4.",
                "content": {"text/plain": {"schema": STRING}},
            }
        },
    ),
    ("GET", "/api/logs"): Op(
        "listRequestLog",
        "The request log, newest first, filtered and paged",
        "operations",
        {"type": "object", "required": ["object", "data"]},
        (*AUTHED, 400),
        auth=ADMIN,
        params=(
            *(query(k, STRING) for k in ("key_id", "provider", "model", "route")),
            query("status", STRING, "A code (404) or a class (4xx)."),
            query("since", {"type": "number"}, "unix time"),
            query("until", {"type": "number"}, "unix time"),
            query("after", {"type": "integer"}, "An entry id: the page after it."),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
        ),
    ),
    ("GET", "/openapi.json"): Op(
        "openapi", "This document", "meta", OBJECT, (), auth=NONE, ok_headers=()
    ),
    ("GET", "/v1/providers"): Op(
        "listProviders",
        "Configured providers and their capabilities",
        "models",
        ref("ProviderList"),
        AUTHED,
        ok_headers=(),
    ),
    # -- admin: webhooks (admin.py)
    ("POST", "/api/webhooks"): Op(
        "createWebhook",
        "Register a webhook endpoint (its signing secret is shown once)",
        "webhooks",
        OBJECT,
        (*AUTHED, *JSON_ONLY),
        auth=ADMIN,
        body=json_body(
            {
                "type": "object",
                "required": ["url", "owner"],
                "properties": {
                    "url": {"type": "string", "format": "uri"},
                    "owner": {"type": "string", "maxLength": 64},
                    "events": {"type": "array", "items": {"enum": WEBHOOK_EVENTS}},
                },
            }
        ),
    ),
    ("GET", "/api/webhooks"): Op(
        "listWebhooks",
        "List webhook endpoints",
        "webhooks",
        ref("List"),
        AUTHED,
        auth=ADMIN,
        params=(query("owner", STRING),),
    ),
    ("GET", "/api/webhooks/deliveries"): Op(
        "listWebhookDeliveries",
        "Webhook deliveries and their state",
        "webhooks",
        ref("List"),
        AUTHED,
        auth=ADMIN,
        params=(query("endpoint_id", STRING), query("owner", STRING)),
    ),
    ("DELETE", "/api/webhooks/{endpoint_id}"): Op(
        "deleteWebhook",
        "Delete a webhook endpoint",
        "webhooks",
        ref("Deleted"),
        (*AUTHED, 404),
        auth=ADMIN,
        params=(WEBHOOK_ID,),
    ),
    # -- admin: governance (governance.py)
    **_entity("customer", "customers"),
    **_entity("team", "teams"),
    ("POST", "/api/governance/virtual-keys"): Op(
        "createVirtualKey",
        "Create a virtual key (its secret is shown once)",
        "governance",
        OBJECT,
        (*AUTHED, *JSON_ONLY, 409),
        auth=ADMIN,
        body=json_body({"type": "object", "required": ["name"], "properties": {"name": STRING}}),
    ),
    ("GET", "/api/governance/virtual-keys"): Op(
        "listVirtualKeys",
        "List virtual keys (never their secrets)",
        "governance",
        ref("List"),
        AUTHED,
        auth=ADMIN,
    ),
    ("GET", "/api/governance/virtual-keys/{ref}"): Op(
        "getVirtualKey",
        "Retrieve a virtual key",
        "governance",
        OBJECT,
        (*AUTHED, 404),
        auth=ADMIN,
        params=(REF,),
    ),
    ("PATCH", "/api/governance/virtual-keys/{ref}"): Op(
        "updateVirtualKey",
        "Change a virtual key",
        "governance",
        OBJECT,
        (*AUTHED, *JSON_ONLY, 404, 409),
        auth=ADMIN,
        params=(REF,),
        body=ADMIN_OBJECT,
    ),
    ("DELETE", "/api/governance/virtual-keys/{ref}"): Op(
        "revokeVirtualKey",
        "Revoke a virtual key",
        "governance",
        {"type": "object", "required": ["id", "revoked"]},
        (*AUTHED, 404),
        auth=ADMIN,
        params=(REF,),
    ),
    ("POST", "/api/governance/virtual-keys/{ref}/rotate"): Op(
        "rotateVirtualKey",
        "A new secret; the old one stays valid for grace_seconds",
        "governance",
        OBJECT,
        (*AUTHED, *JSON_ONLY, 404),
        auth=ADMIN,
        params=(REF,),
        body={
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"grace_seconds": {"type": "number", "minimum": 0}},
                    }
                }
            },
        },
    ),
    ("GET", "/api/governance/usage"): Op(
        "getUsage",
        "Usage rows and totals",
        "governance",
        {"type": "object", "required": ["object", "data", "totals"]},
        (*AUTHED, 400),
        auth=ADMIN,
        params=(
            *(query(k, STRING) for k in USAGE_FILTERS),
            query("since", STRING, "unix time"),
            query("until", STRING, "unix time"),
        ),
    ),
    ("GET", "/api/governance/prices"): Op(
        "getPrices",
        "The effective price table",
        "governance",
        {"type": "object", "required": ["object", "data"]},
        AUTHED,
        auth=ADMIN,
    ),
    ("PUT", "/api/governance/prices"): Op(
        "setPrice",
        "Set the price of a provider/model pattern",
        "governance",
        {"type": "object", "required": ["object", "data"]},
        (*AUTHED, *JSON_ONLY),
        auth=ADMIN,
        body=json_body(
            {"type": "object", "required": ["pattern"], "properties": {"pattern": STRING}}
        ),
    ),
    ("GET", "/api/governance/audit"): Op(
        "listAudit", "The audit log", "governance", ref("List"), AUTHED, auth=ADMIN
    ),
    ("GET", "/api/governance/routes"): Op(
        "listRoutes", "Public-model routes", "governance", ref("List"), AUTHED, auth=ADMIN
    ),
    ("GET", "/api/governance/routes/{name}"): Op(
        "getRoute",
        "One public-model route",
        "governance",
        OBJECT,
        (*AUTHED, 400, 404),
        auth=ADMIN,
        params=(path_param("name", "The public model's name (no '/')."),),
    ),
    ("PUT", "/api/governance/routes/{name}"): Op(
        "putRoute",
        "Create or replace a public-model route",
        "governance",
        OBJECT,
        (*AUTHED, *JSON_ONLY),
        auth=ADMIN,
        params=(path_param("name", "The public model's name (no '/')."),),
        body=json_body(
            {
                "type": "object",
                "required": ["deployments"],
                "properties": {"deployments": {"type": "array", "items": STRING}},
            }
        ),
    ),
    ("DELETE", "/api/governance/routes/{name}"): Op(
        "deleteRoute",
        "Delete a stored public-model route",
        "governance",
        {"type": "object", "required": ["name", "object", "deleted"]},
        (*AUTHED, 400, 404),
        auth=ADMIN,
        params=(path_param("name", "The public model's name (no '/')."),),
    ),
    ("GET", "/api/providers"): Op(
        "listProviderKeys",
        "Providers and their upstream keys (never the secrets)",
        "governance",
        ref("List"),
        AUTHED,
        auth=ADMIN,
    ),
    ("POST", "/api/providers/{provider}/keys"): Op(
        "putProviderKey",
        "Add or replace an upstream key (encrypted with the master key)",
        "governance",
        OBJECT,
        (*AUTHED, *JSON_ONLY, 503),
        auth=ADMIN,
        params=(path_param("provider", "A configured provider id."),),
        body=json_body(
            {
                "type": "object",
                "required": ["name", "value"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"},
                    "value": {"type": "string", "minLength": 1},
                    "weight": {"type": "number", "exclusiveMinimum": 0},
                    "models": {"type": "array", "items": STRING},
                    "base_url": STRING,
                },
            }
        ),
    ),
    ("DELETE", "/api/providers/{provider}/keys/{name}"): Op(
        "deleteProviderKey",
        "Delete an upstream key stored by the admin API",
        "governance",
        {"type": "object", "required": ["provider", "name", "deleted"]},
        (*AUTHED, 404),
        auth=ADMIN,
        params=(path_param("provider", "A provider id."), path_param("name", "The key's name.")),
    ),
    # -- admin: cache (cache_admin.py)
    ("GET", "/api/cache/stats"): Op(
        "getCacheStats",
        "Cache entries, hits, misses and dollars saved",
        "cache",
        {"type": "object", "required": ["object", "namespaces"]},
        AUTHED,
        auth=ADMIN,
        params=(query("namespace", STRING),),
    ),
    ("DELETE", "/api/cache/namespaces/{namespace:path}"): Op(
        "purgeCacheNamespace",
        "Forget every entry of a namespace",
        "cache",
        {"type": "object", "required": ["namespace", "deleted_entries", "purged"]},
        AUTHED,
        auth=ADMIN,
        params=(path_param("namespace", "The namespace (may hold '/')."),),
    ),
    # -- Google's Veo API (genai.py)
    ("GET", "/genai/v1beta/models/{path:path}"): Op(
        "genaiGetOperation",
        "Poll an operation (python-genai, Developer API)",
        "genai",
        ref("GenaiOperation"),
        READ,
        params=(PROMPT_OPERATION,),
    ),
    ("POST", "/genai/v1beta/models/{path:path}"): Op(
        "genaiPredictLongRunning",
        "Create a video (`{model}:predictLongRunning`)",
        "genai",
        ref("GenaiOperation"),
        GENAI_CREATE,
        params=(PROMPT_OPERATION, header("x-model-provider", "The provider of a bare model.")),
        body=json_body(ref("GenaiPredict")),
    ),
    ("GET", "/genai/v1beta/files/{path:path}"): Op(
        "genaiDownloadFile",
        "Download a video (`files/{token}:download?alt=media`)",
        "genai",
        None,
        (*READ, 409, 416),
        params=(path_param("path", "`{token}:download`."), query("alt", {"const": "media"}), RANGE),
        responses=CONTENT_RESPONSES,
    ),
    ("POST", "/genai/v1beta1/{path:path}"): Op(
        "genaiVertexBeta",
        "Vertex mode: `…/models/{m}:predictLongRunning|:fetchPredictOperation`",
        "genai",
        ref("GenaiOperation"),
        GENAI_CREATE,
        params=(
            path_param("path", "[projects/{p}/locations/{l}/]publishers/{pub}/models/{m}:{method}"),
            header("x-model-provider", "The provider of a bare model."),
        ),
        body=json_body(ref("GenaiPredict")),
    ),
    ("POST", "/genai/v1/{path:path}"): Op(
        "genaiVertex",
        "Vertex mode (v1), as genaiVertexBeta",
        "genai",
        ref("GenaiOperation"),
        GENAI_CREATE,
        params=(
            path_param("path", "[projects/{p}/locations/{l}/]publishers/{pub}/models/{m}:{method}"),
            header("x-model-provider", "The provider of a bare model."),
        ),
        body=json_body(ref("GenaiPredict")),
    ),
    # -- the web UI (ui.py)
    ("GET", "/ui"): Op(
        "uiIndex",
        "The web UI",
        "ui",
        None,
        (404,),
        auth=NONE,
        ok_headers=(),
        responses=_ui_file("index.html"),
    ),
    ("GET", "/ui/"): Op(
        "uiIndexSlash",
        "The web UI",
        "ui",
        None,
        (404,),
        auth=NONE,
        ok_headers=(),
        responses=_ui_file("index.html"),
    ),
    ("POST", "/ui/tickets"): Op(
        "createContentTicket",
        "A URL a <video> element can play for 15 minutes",
        "ui",
        ref("Ticket"),
        (*AUTHED, *JSON_ONLY, 404),
        ok_headers=("x-request-id", "Cache-Control"),
        body=json_body(
            {"type": "object", "required": ["video_id"], "properties": {"video_id": STRING}}
        ),
    ),
    ("GET", "/ui/content/{video_id}"): Op(
        "getTicketedContent",
        "A video's bytes for a content ticket",
        "ui",
        None,
        (400, 401, 403, 404, 409, 416, 502, 503, 504),
        auth=NONE,
        params=(
            VIDEO_ID,
            query("ticket", STRING, "From POST /ui/tickets."),
            query("variant", {"enum": ["video", "thumbnail", "spritesheet"]}),
            RANGE,
        ),
        responses=CONTENT_RESPONSES,
    ),
    ("GET", "/ui/{path:path}"): Op(
        "uiFile",
        "A file of the web UI",
        "ui",
        None,
        (404,),
        auth=NONE,
        ok_headers=(),
        params=(path_param("path", "The file."),),
        responses=_ui_file("The file"),
    ),
}
