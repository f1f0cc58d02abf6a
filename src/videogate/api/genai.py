"""Google's native Veo API on `/genai`, as Bifrost serves it, over the same services.

The google-genai SDK pointed at `{host}/genai` (Developer-API mode) runs
`POST /v1beta/models/{model}:predictLongRunning`, polls `GET /v1beta/{operation name}` and
downloads `GET /v1beta/files/{file}:download?alt=media`. Here a create is the gateway's own
create (routing, governance, cache, idempotency alike), the operation's id is the gateway's
video id, and a download is the video's content read with the caller's ownership.

Wire format read from googleapis/python-genai 1.55.0 (models.py `_GenerateVideos*_to_mldev`,
`_GenerateVideosOperation_from_mldev`; files.py `download`; _transformers.py `t_file_name`,
`t_model`): body `{"instances":[{"prompt","image","lastFrame","referenceImages","video"}],
"parameters":{"sampleCount","durationSeconds","aspectRatio","resolution","negativePrompt",
"personGeneration","enhancePrompt","seed","generateAudio"}}`, images as
`{"bytesBase64Encoded","mimeType"}`; a finished operation carries
`response.generateVideoResponse.generatedSamples[].video.uri`. Bifrost names the operation
`models/{model}/operations/{id}` (core/providers/gemini/videos.go).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import GatewayError, bad_request
from ..gateway import Gateway
from ..governance.auth import Principal
from ..lifecycle.call import Call
from ..lifecycle.reading import Source
from ..lifecycle.requests import CreateRequest
from ..providers.base import InputReference
from ..providers.media import decode_base64
from ..video import Failure, Video, VideoStatus
from .context import endpoint, principal, respond
from .parsing import read_json_object
from .videos import run_create, serve_content

PREFIX = "/genai/v1beta"
GENERATE = ":predictLongRunning"
FETCH = ":fetchPredictOperation"
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
VERTEX_RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
# Vertex-mode model resource: `[projects/{p}/locations/{l}/]publishers/google/models/{m}`.
VERTEX_MODEL = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/([^/]+)/models/(.+)$")
# Vertex-mode clients cannot download a URI (python-genai's files.download is Developer-API
# only), so a finished video travels inline up to this size, as Vertex does without a
# storageUri; a larger one is given as `gcsUri` naming the gateway's download URL.
MAX_INLINE_VIDEO = 64 * 1024 * 1024
# Veo's frames: aspectRatio x resolution -> OpenAI size (Gemini API docs: 16:9 | 9:16 at
# 720p | 1080p; 4k on Veo 3.1 is inferred from its model page).
SHORT_EDGE = {"720p": 720, "1080p": 1080, "4k": 2160}
RATIOS = {"16:9": (16, 9), "9:16": (9, 16)}
DEFAULT_RESOLUTION = "720p"
# `parameters` passed to the provider as they are (the Veo adapters take Google's names).
PASSED_PARAMETERS = ("personGeneration", "enhancePrompt")
# `instances[0]` fields beyond prompt and image, passed on for providers that take them.
PASSED_INSTANCE = ("lastFrame", "referenceImages")
# A failed job's canonical code -> google.rpc (code, status) of the operation's error.
RPC_ERRORS: dict[str, tuple[int, str]] = {
    Failure.INTERNAL: (13, "INTERNAL"),
    Failure.CANCELLED: (1, "CANCELLED"),
    Failure.EXPIRED: (5, "NOT_FOUND"),
    Failure.INVALID: (3, "INVALID_ARGUMENT"),
    Failure.UNKNOWN: (2, "UNKNOWN"),
}
FILE_TOKEN = re.compile(r"files/([a-z2-7]+)")  # base32, as python-genai's `[a-z0-9]+` reads


# -- ids ----------------------------------------------------------------------------------------
def operation_name(model: str, video_id: str) -> str:
    return f"models/{quote(model, safe='')}/operations/{video_id}"


def file_token(video_id: str) -> str:
    """The video id as a file name python-genai can read back out of a URI (lowercase
    alphanumerics only: `t_file_name` keeps `[a-z0-9]+` after `files/`)."""
    return base64.b32encode(video_id.encode()).decode().rstrip("=").lower()


def video_of_token(token: str) -> str:
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        return base64.b32decode(padded).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise GatewayError(404, "file_not_found", f"No file {token!r}.", param="file") from None


# -- request --------------------------------------------------------------------------------------
def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request("invalid_parameter", f"{name} must be an object.", name)
    return value


def _image(value: Any, name: str) -> InputReference:
    image = _object(value, name)
    data = image.get("bytesBase64Encoded")
    if not isinstance(data, str) or not data:
        what = "a gcsUri" if image.get("gcsUri") else "no bytesBase64Encoded"
        raise bad_request(
            "unsupported_input_reference",
            f"{name} has {what}: send the image inline as bytesBase64Encoded.",
            name,
        )
    raw = decode_base64(data, name, f"{name}.bytesBase64Encoded")
    return InputReference(data=raw, content_type=image.get("mimeType") or None, filename="image")


def size_of(parameters: dict[str, Any]) -> str | None:
    ratio, resolution = parameters.get("aspectRatio"), parameters.get("resolution")
    if ratio is None and resolution is None:
        return None
    ratio = ratio or "16:9"
    resolution = resolution or DEFAULT_RESOLUTION
    if ratio not in RATIOS:
        raise bad_request(
            "invalid_size",
            f"aspectRatio {ratio!r} is not one of {', '.join(RATIOS)}.",
            "aspectRatio",
        )
    if resolution not in SHORT_EDGE:
        raise bad_request(
            "invalid_size",
            f"resolution {resolution!r} is not one of {', '.join(SHORT_EDGE)}.",
            "resolution",
        )
    a, b = RATIOS[ratio]
    short = SHORT_EDGE[resolution]
    return f"{short * a // b}x{short}" if a > b else f"{short}x{short * b // a}"


def create_request(model: str, body: dict[str, Any], provider: str | None) -> CreateRequest:
    """The gateway's create from a `predictLongRunning` body."""
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1:
        raise bad_request(
            "invalid_parameter", "instances must hold exactly one instance.", "instances"
        )
    instance = _object(instances[0], "instances[0]")
    parameters = _object(body.get("parameters"), "parameters")
    prompt = instance.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_request("missing_prompt", "instances[0].prompt is required.", "prompt")
    if instance.get("video") is not None:
        raise bad_request(
            "unsupported_parameter",
            "Video extension (instances[0].video) is not available through /genai yet.",
            "video",
        )
    count = parameters.get("sampleCount", 1)
    if count != 1:
        raise bad_request(
            "invalid_parameter",
            "sampleCount (number_of_videos) must be 1: a gateway video is one clip.",
            "sampleCount",
        )
    seconds = parameters.get("durationSeconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
        raise bad_request(
            "invalid_seconds", "durationSeconds must be a whole number.", "durationSeconds"
        )
    extra: dict[str, Any] = {k: parameters[k] for k in PASSED_PARAMETERS if k in parameters}
    extra.update({k: instance[k] for k in PASSED_INSTANCE if k in instance})
    if provider and model and "/" not in model:
        model = f"{provider}/{model}"  # Bifrost's x-model-provider header
    return CreateRequest(
        prompt=prompt,
        model=model,
        seconds=None if seconds is None else str(seconds),
        size=size_of(parameters),
        input_reference=(
            _image(instance["image"], "image") if instance.get("image") is not None else None
        ),
        fallbacks=[],
        extra=extra,
        # Google's names for the normalised fields, checked against the model's table
        negative_prompt=_typed(parameters, "negativePrompt", str),
        seed=_typed(parameters, "seed", int),
        generate_audio=_typed(parameters, "generateAudio", bool),
    )


def _typed(parameters: dict[str, Any], name: str, kind: type[Any]) -> Any:
    """`parameters[name]` if it has the JSON type `kind` (None when absent); a 400 if not."""
    value = parameters.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad_request("invalid_parameter", f"parameters.{name} has the wrong type.", name)
    return value


# -- response -------------------------------------------------------------------------------------
def file_uri(base: str, video_id: str) -> str:
    """Where the video's bytes are downloaded through the gateway (python-genai's form)."""
    return f"{base}{PREFIX}/files/{file_token(video_id)}:download?alt=media"


def failure(video: Video) -> tuple[dict[str, Any], str]:
    """A failed video as Google reports it: Veo's filtered response (no video) for a
    moderation refusal, else a google.rpc error; (that object, "response" | "error")."""
    code = video.error_code or Failure.UNKNOWN.value
    message = video.error_message or "The video generation failed."
    if code == Failure.MODERATION:
        return {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [message]}, "response"
    number, status = RPC_ERRORS.get(code, RPC_ERRORS[Failure.UNKNOWN])
    return {"code": number, "message": message, "status": status}, "error"


def operation(video: Video, model: str, base: str, call: Call) -> dict[str, Any]:
    """The video as a google.longrunning Operation (`done` absent while it runs)."""
    op: dict[str, Any] = {
        "name": operation_name(model, video.id),
        "metadata": {"progressPercent": video.progress},
    }
    if video.status == VideoStatus.COMPLETED:
        video_out = {"uri": file_uri(base, video.id), "encoding": "video/mp4"}
        samples = {"generatedSamples": [{"video": video_out}]}
        op.update(done=True, response={"@type": RESPONSE_TYPE, "generateVideoResponse": samples})
    elif video.status == VideoStatus.FAILED:
        found, kind = failure(video)
        if kind == "response":
            found = {"@type": RESPONSE_TYPE, "generateVideoResponse": found}
        op.update(done=True, **{kind: found})
    op["extra_fields"] = call.extra_fields(video.model_deployment)
    return op


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _body_limit(gw: Gateway) -> int:
    """Images travel base64-encoded inside the JSON: room for an upload-sized one."""
    limits = gw.settings.limits
    return limits.max_json_bytes + limits.max_upload_bytes * 4 // 3


async def _video_bytes(gw: Gateway, source: Source) -> bytes | None:
    """The whole video, or None when it is larger than MAX_INLINE_VIDEO."""
    if source.stored is not None:
        if source.stored.size > MAX_INLINE_VIDEO:
            return None
        chunks = await gw.assets.open(source.stored.key)
        if chunks is None:
            raise GatewayError(404, "video_content_expired", "The stored video was removed.")
        return b"".join([chunk async for chunk in chunks])
    content = source.upstream
    assert content is not None
    try:
        out = bytearray()
        async for chunk in content.chunks:
            out += chunk
            if len(out) > MAX_INLINE_VIDEO:
                return None
        return bytes(out)
    finally:
        await content.close()


async def vertex_operation(
    gw: Gateway, request: Request, who: Principal, video: Video, resource: str, call: Call
) -> dict[str, Any]:
    """The video as Vertex AI's operation: `response.videos[]` inline, failures as there."""
    op: dict[str, Any] = {"name": f"{resource}/operations/{video.id}"}
    if video.status == VideoStatus.COMPLETED:
        source = await gw.reader.content(who, video.id, "video", call)
        data = await _video_bytes(gw, source)
        if data is None:
            sample = {"gcsUri": file_uri(_base(request), video.id), "mimeType": "video/mp4"}
        else:
            sample = {
                "bytesBase64Encoded": base64.b64encode(data).decode(),
                "mimeType": "video/mp4",
            }
        op.update(done=True, response={"@type": VERTEX_RESPONSE_TYPE, "videos": [sample]})
    elif video.status == VideoStatus.FAILED:
        found, kind = failure(video)
        if kind == "response":
            found = {"@type": VERTEX_RESPONSE_TYPE, **found}
        op.update(done=True, **{kind: found})
    op["extra_fields"] = call.extra_fields(video.model_deployment)
    return op


# -- handlers -------------------------------------------------------------------------------------
@endpoint("video_generation")
async def generate(request: Request, gw: Gateway, call: Call) -> Response:
    path: str = request.path_params["path"]
    if not path.endswith(GENERATE):
        raise GatewayError(
            404, "route_not_found", f"No route for POST {request.url.path}; only {GENERATE}."
        )
    model = path.removesuffix(GENERATE)
    who = await principal(gw, request)
    body = await read_json_object(request, gw.settings.limits, _body_limit(gw))
    create = create_request(model, body, request.headers.get("x-model-provider"))
    created = await run_create(gw, request, who, create, call)
    return respond(call, operation(created.video, model, _base(request), call))


def _operation_path(path: str) -> tuple[str, str]:
    """(model, video id) from `{model}/operations/{id}` (the model may hold slashes)."""
    model, sep, video_id = path.rpartition("/operations/")
    if not sep or not model or not video_id:
        raise GatewayError(404, "route_not_found", f"No operation at models/{path}.")
    return model, unquote(video_id)


@endpoint("video_retrieve")
async def get_operation(request: Request, gw: Gateway, call: Call) -> Response:
    model, video_id = _operation_path(request.path_params["path"])
    who = await principal(gw, request)
    video = await gw.reader.retrieve(who, video_id, call)
    return respond(call, operation(video, model, _base(request), call))


@endpoint("video_download")
async def download(request: Request, gw: Gateway, call: Call) -> Response:
    """`files/{token}:download`. python-genai keeps a plain-http URI whole and appends it to
    `files/`, so the token is the last `files/<base32>` in the path, whatever precedes it."""
    found = FILE_TOKEN.findall("files/" + request.path_params["path"])
    if not found or not request.url.path.endswith(":download"):
        raise GatewayError(404, "file_not_found", "No such file.", param="file")
    who = await principal(gw, request)
    source = await gw.reader.content(who, video_of_token(found[-1]), "video", call)
    return await serve_content(gw, request, source, call)


def _vertex_model(path: str) -> tuple[str, str]:
    """(resource name, gateway model) from a Vertex-mode path before its `:method`."""
    found = VERTEX_MODEL.match(path)
    if found is None:
        raise GatewayError(404, "route_not_found", f"No Vertex AI model at {path!r}.")
    publisher, model = found.groups()
    if publisher != "google" and "/" not in model:
        model = f"{publisher}/{model}"  # publishers/{provider}/models/{m}: that provider
    return path.rsplit("/models/", 1)[0] + "/models/" + quote(
        unquote(found.group(2)), safe=""
    ), model


@endpoint("video_generation")
async def vertex(request: Request, gw: Gateway, call: Call) -> Response:
    """Vertex-mode python-genai (`vertexai=True`, an API key, a base URL): create with
    `{model}:predictLongRunning`, poll with `{model}:fetchPredictOperation`."""
    path: str = request.path_params["path"]
    resource_path, colon, method = path.rpartition(":")
    if not colon or f":{method}" not in (GENERATE, FETCH):
        raise GatewayError(404, "route_not_found", f"No route for POST {request.url.path}.")
    resource, model = _vertex_model(resource_path)
    who = await principal(gw, request)
    body = await read_json_object(request, gw.settings.limits, _body_limit(gw))
    if f":{method}" == FETCH:
        call.request_type = "video_retrieve"
        name = body.get("operationName")
        if not isinstance(name, str) or "/operations/" not in name:
            raise bad_request(
                "invalid_parameter", "operationName must name an operation.", "operationName"
            )
        video = await gw.reader.retrieve(who, unquote(name.rsplit("/operations/", 1)[1]), call)
    else:
        create = create_request(model, body, request.headers.get("x-model-provider"))
        video = (await run_create(gw, request, who, create, call)).video
    return respond(call, await vertex_operation(gw, request, who, video, resource, call))


ROUTES = [
    Route(f"{PREFIX}/models/{{path:path}}", get_operation, methods=["GET"]),
    Route(f"{PREFIX}/models/{{path:path}}", generate, methods=["POST"]),
    Route(f"{PREFIX}/files/{{path:path}}", download, methods=["GET"]),
    Route("/genai/v1beta1/{path:path}", vertex, methods=["POST"]),
    Route("/genai/v1/{path:path}", vertex, methods=["POST"]),
]
