"""Loopback mocks of Google Veo: the Gemini Developer API and Vertex AI (with Google's OAuth
token endpoint and the Cloud Storage JSON API), so the `gemini` and `vertex` adapters are
tested without reaching Google.

Both surfaces share `VeoMock`: request validation (instances/parameters, inline images,
allowed durations, aspect ratios and resolutions), the long-running operation driven by the
clock (`done` absent while running), the three outcomes (a video; a Responsible-AI refusal:
done with no samples and `raiMediaFilteredCount`/`raiMediaFilteredReasons`; an operation
`error` google.rpc.Status) and Google's error envelope `{"error":{"code","message","status"}}`.

`GeminiVeoMock` checks `x-goog-api-key` (wrong: 400 API_KEY_INVALID, missing: 403), serves
`GET /v1beta/{name}` and a `files/{id}:download?alt=media` URI that 302-redirects to a signed
path on itself serving the MP4 without the key. `VertexVeoMock` issues access tokens at
`POST /token` for JWT-bearer assertions it verifies (RS256) against public keys a test
registers with `trust()`, requires those tokens on `:predictLongRunning`,
`:fetchPredictOperation` and `GET /storage/v1/b/{bucket}/o/{object}?alt=media`, answers
videos inline, or as `gs://` objects when `storageUri` was given.

Prompts containing `moderation_word` are filtered, `error_word` fails with INTERNAL.
Response shapes follow googleapis/python-genai (models.py / operations.py converters);
message texts are Google's where known, inferred otherwise.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web

from .base import ApiError, MockServer
from .common import render_clip, sniff_image, word_pattern

# HTTP status -> google.rpc status name, for errors whose handler names none.
RPC_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# Google's wording for injected failures (fail_next without a body).
GOOGLE_MESSAGES: dict[int, str] = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}
GOOGLE_MODELS = frozenset(
    {
        "veo-3.1-generate-preview",
        "veo-3.1-fast-generate-preview",
        "veo-3.1-lite-generate-preview",
        "veo-3.1-generate-001",
        "veo-3.1-fast-generate-001",
        "veo-3.0-generate-001",
        "veo-3.0-fast-generate-001",
        "veo-2.0-generate-001",
    }
)
ASPECT_RATIOS = frozenset({"16:9", "9:16"})
RESOLUTIONS = frozenset({"720p", "1080p"})
INSTANCE_FIELDS = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})
EXTEND_SECONDS, MAX_EXTENDED = 7, 148  # Gemini API docs, "Extending Veo videos"
IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})
GEMINI_PARAMETERS = frozenset(
    {
        "aspectRatio",
        "durationSeconds",
        "resolution",
        "negativePrompt",
        "personGeneration",
        "sampleCount",
        "enhancePrompt",
    }
)
VERTEX_PARAMETERS = GEMINI_PARAMETERS | {
    "storageUri",
    "seed",
    "fps",
    "generateAudio",
    "compressionQuality",
    "pubsubTopic",
    "resizeMode",
}
FILTER_REASON = (
    "Your prompt may violate our policies. Please rephrase it and try again. "
    "Support codes: 58061214"
)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # what google-auth signs for
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
MODEL_PATH = r"{model:[^/:]+}"


def durations(model: str) -> tuple[int, ...]:
    """Veo 2 renders 5-8 s, Veo 3.x 4, 6 or 8 s."""
    return (5, 6, 7, 8) if model.startswith("veo-2.") else (4, 6, 8)


def full_veo31(model: str) -> bool:
    """Veo 3.1 and 3.1 Fast: 4k, reference images and extension (not Lite, not 3.0 / 2)."""
    return model.startswith(("veo-3.1-generate", "veo-3.1-fast-generate"))


def unsupported(name: str) -> ApiError:
    return ApiError(
        400,
        f"`{name}` isn't supported by this model. Please remove it or refer to the "
        "documentation for supported usage.",
        code="INVALID_ARGUMENT",
    )


@dataclass
class Operation:
    """One job; `done` follows from the clock, the outcome from the prompt."""

    name: str
    model: str
    prompt: str
    parameters: dict[str, Any]
    image: dict[str, Any] | None
    created: float
    run_seconds: float
    outcome: str  # "video" | "filtered" | "error"
    extra: dict[str, Any] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)
    seconds: int = 8  # the length of the video it yields (an extension's: source + 7)

    def done(self, now: float) -> bool:
        return now - self.created >= self.run_seconds

    def progress(self, now: float) -> int:
        return min(100, int(100 * (now - self.created) / self.run_seconds))


class VeoMock(MockServer):
    """What both Veo surfaces share; subclasses add routes, auth and output placement."""

    parameters_allowed: frozenset[str] = GEMINI_PARAMETERS
    top_level_allowed: frozenset[str] = frozenset({"instances", "parameters"})

    def __init__(
        self,
        *,
        api_key: str | None,
        auth_header: str,
        run_seconds: float = 0.5,
        moderation_word: str = "moderation",
        error_word: str = "glitch",
        report_progress: bool = False,
        models: Iterable[str] = GOOGLE_MODELS,
        media_size: tuple[int, int] = (64, 36),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, auth_header=auth_header, clock=clock)
        self.run_seconds = run_seconds
        self.moderation = word_pattern(moderation_word)
        self.error = word_pattern(error_word)
        self.report_progress = report_progress
        self.models = frozenset(models)
        self.media_size = media_size
        self.operations: dict[str, Operation] = {}

    # -- Google's envelope ----------------------------------------------------------------

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        """`code` carries the google.rpc status name; without one the HTTP status picks it
        (and Google's own wording replaces the base mock's OpenAI-style default text)."""
        if not (code and code.isupper()):
            message = GOOGLE_MESSAGES.get(status, message)
            code = RPC_STATUS.get(status, "UNKNOWN")
        return {"error": {"code": status, "message": message, "status": code}}

    def not_found_route(self, request: web.Request) -> web.Response:
        return self.error_response(404, "Requested entity was not found.", code="NOT_FOUND")

    @staticmethod
    def invalid(message: str) -> ApiError:
        return ApiError(400, message, code="INVALID_ARGUMENT")

    async def google_json(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise self.invalid("Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(body, dict):
            raise self.invalid("Invalid JSON payload received. Expected an object.")
        return body

    # -- media and state ------------------------------------------------------------------

    def media(self) -> bytes:
        """The MP4 every finished operation yields (rendered once, tiny but real)."""
        return self.rendered("video", lambda: render_clip(self.media_size, "videogate veo mock"))

    def complete_now(self, name: str) -> None:
        with self.lock:
            op = self.operations[name]
            op.created = self.clock() - op.run_seconds

    def lookup(self, name: str) -> Operation:
        with self.lock:
            op = self.operations.get(name)
        if op is None:
            raise ApiError(404, f"Operation {name} not found.", code="NOT_FOUND")
        return op

    def check_model(self, model: str, resource: str) -> None:
        if model not in self.models:
            raise ApiError(404, self.unknown_model_message(model, resource), code="NOT_FOUND")

    def unknown_model_message(self, model: str, resource: str) -> str:
        return f"models/{model} is not found."

    def check_create(self, parent: str, model: str, body: dict[str, Any]) -> Operation:
        """Validate a `predictLongRunning` body the way Veo does and start an operation
        named under `parent` (the model's resource name)."""
        unknown = sorted(set(body) - self.top_level_allowed)
        if unknown:
            raise self.invalid(
                f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
            )
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1:
            raise self.invalid("instances must hold exactly one instance.")
        instance = instances[0]
        if not isinstance(instance, dict):
            raise self.invalid("instances[0] must be an object.")
        unknown = sorted(set(instance) - INSTANCE_FIELDS)
        if unknown:
            raise self.invalid(
                f'Invalid JSON payload received. Unknown name "{unknown[0]}" at '
                "'instances[0]': Cannot find field."
            )
        prompt = instance.get("prompt")
        image = instance.get("image")
        if image is not None:
            self.check_image(image)
        if not (isinstance(prompt, str) and prompt.strip()) and image is None:
            raise self.invalid("A prompt or an image is required.")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise self.invalid("parameters must be an object.")
        self.check_parameters(model, parameters)
        seconds = self.check_frames(model, instance, parameters)
        text = prompt if isinstance(prompt, str) else ""
        outcome = (
            "filtered"
            if self.moderation.search(text)
            else ("error" if self.error.search(text) else "video")
        )
        op = Operation(
            name=f"{parent}/operations/{self.new_operation_id()}",
            model=model,
            prompt=text,
            parameters=parameters,
            image=image,
            created=self.clock(),
            run_seconds=self.run_seconds,
            outcome=outcome,
            extra={k: v for k, v in body.items() if k not in ("instances", "parameters")},
            instance=instance,
            seconds=seconds,
        )
        with self.lock:
            self.operations[op.name] = op
        return op

    def check_frames(self, model: str, instance: dict[str, Any], parameters: dict[str, Any]) -> int:
        """lastFrame, referenceImages and an extension's video, as Veo 3.1 takes them; the
        length of the video the operation will yield."""
        seconds = int(parameters.get("durationSeconds", 8))
        if "lastFrame" in instance:
            if not model.startswith("veo-3.1"):
                raise unsupported("lastFrame")
            if "image" not in instance:
                raise self.invalid("lastFrame requires image (the first frame).")
            self.check_image(instance["lastFrame"])
        refs = instance.get("referenceImages")
        if refs is not None:
            if not full_veo31(model):
                raise unsupported("referenceImages")
            if not isinstance(refs, list) or not 1 <= len(refs) <= 3:
                raise self.invalid("referenceImages takes 1 to 3 images.")
            for ref in refs:
                if not isinstance(ref, dict) or ref.get("referenceType") != "asset":
                    raise self.invalid("referenceImages[].referenceType must be asset.")
                self.check_image(ref.get("image"))
            if seconds != 8:
                raise self.invalid("referenceImages require durationSeconds 8.")
        if parameters.get("resolution") == "4k" and seconds != 8:
            raise self.invalid("4k videos require durationSeconds 8.")
        video = instance.get("video")
        if video is None:
            return seconds
        if not full_veo31(model):
            raise unsupported("video")
        if parameters.get("resolution", "720p") != "720p":
            raise self.invalid("Video extension supports 720p only.")
        if "image" in instance or refs is not None:
            raise self.invalid("video cannot be combined with image or referenceImages.")
        total = self.source_seconds(video) + EXTEND_SECONDS
        if total > MAX_EXTENDED:
            raise self.invalid(f"The extended video would exceed {MAX_EXTENDED} seconds.")
        return total

    def source_seconds(self, video: Any) -> int:
        """The length of an extension's source; refuses what is not a Veo video."""
        raise NotImplementedError

    def inline_video_seconds(self, video: dict[str, Any], data_field: str) -> int:
        try:
            data = base64.b64decode(str(video.get(data_field, "")), validate=True)
        except (binascii.Error, ValueError):
            data = b""
        if data[4:8] != b"ftyp":
            raise self.invalid("Unable to process input video. It must be an MP4 video.")
        return 8

    def check_image(self, image: Any) -> None:
        if not isinstance(image, dict) or set(image) - {"bytesBase64Encoded", "mimeType"}:
            raise self.invalid("image must be {bytesBase64Encoded, mimeType}.")
        mime = image.get("mimeType")
        if mime not in IMAGE_TYPES:
            raise self.invalid(f"Unsupported image mimeType {mime!r}; use image/png or image/jpeg.")
        try:
            data = base64.b64decode(str(image.get("bytesBase64Encoded", "")), validate=True)
        except (binascii.Error, ValueError):
            data = b""
        if sniff_image(data) != mime:
            raise self.invalid("Unable to process input image. Please retry or report in feedback.")

    def check_parameters(self, model: str, parameters: dict[str, Any]) -> None:
        for name in parameters:
            if name not in self.parameters_allowed:
                raise self.invalid(
                    f"`{name}` isn't supported by this model. Please remove it or refer to "
                    "the documentation for supported usage."
                )
        ratio = parameters.get("aspectRatio", "16:9")
        if ratio not in ASPECT_RATIOS:
            raise self.invalid(f"Unsupported aspect ratio: {ratio}. Supported: 16:9, 9:16.")
        resolution = parameters.get("resolution", "720p")
        if resolution not in RESOLUTIONS | ({"4k"} if full_veo31(model) else set()):
            raise self.invalid(f"Unsupported resolution: {resolution}.")
        seconds = parameters.get("durationSeconds", 8)
        allowed = durations(model)
        if type(seconds) is not int or seconds not in allowed:
            raise self.invalid(
                f"The number value for `durationSeconds` is out of bound. Please provide a "
                f"value among {', '.join(map(str, allowed))}."
            )

    def operation_json(self, op: Operation) -> dict[str, Any]:
        """The operation as Google returns it right now."""
        now = self.clock()
        out: dict[str, Any] = {"name": op.name}
        if self.report_progress:
            out["metadata"] = {"progressPercent": op.progress(now)}
        if not op.done(now):
            return out
        out["done"] = True
        if op.outcome == "error":
            out["error"] = {"code": 13, "message": "Video generation failed: internal error."}
        elif op.outcome == "filtered":
            out["response"] = self.wrap_response(
                {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [FILTER_REASON]}
            )
        else:
            out["response"] = self.wrap_response(self.video_response(op))
        return out

    # -- surface hooks --------------------------------------------------------------------

    def new_operation_id(self) -> str:
        raise NotImplementedError

    def wrap_response(self, inner: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def video_response(self, op: Operation) -> dict[str, Any]:
        raise NotImplementedError


class GeminiVeoMock(VeoMock):
    """generativelanguage.googleapis.com, as the Gemini API serves Veo."""

    top_level_allowed = frozenset({"instances", "parameters", "webhookConfig"})
    public_paths = ("/signed/",)

    def __init__(self, api_key: str = "gemini-mock-key", **kwargs: Any) -> None:
        super().__init__(api_key=api_key, auth_header="x-goog-api-key", **kwargs)
        self.files: dict[str, str] = {}  # file id -> operation name
        self.signed: dict[str, str] = {}  # signed-URL token -> file id

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(f"/v1beta/models/{MODEL_PATH}:predictLongRunning", self.create)
        app.router.add_get("/v1beta/models/{model}/operations/{op}", self.get_operation)
        app.router.add_get("/v1beta/files/{file:[^/:]+}:download", self.download)
        app.router.add_get("/signed/{token}", self.signed_media)

    def unauthorized(self, request: web.Request) -> web.Response:
        if not request.headers.get("x-goog-api-key"):
            return self.error_response(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
                code="PERMISSION_DENIED",
            )
        message = "API key not valid. Please pass a valid API key."
        body = self.error_body(400, message, type="", param=None, code="INVALID_ARGUMENT")
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
        return self.json_response(body, status=400)

    def unknown_model_message(self, model: str, resource: str) -> str:
        return (
            f"models/{model} is not found for API version v1beta, or is not supported for "
            "predictLongRunning. Call ListModels to see the list of available models and their "
            "supported methods."
        )

    def new_operation_id(self) -> str:
        return secrets.token_hex(6)

    def wrap_response(self, inner: dict[str, Any]) -> dict[str, Any]:
        return {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta."
            "PredictLongRunningResponse",
            "generateVideoResponse": inner,
        }

    def source_seconds(self, video: Any) -> int:
        """A Gemini API file URI of a Veo video this mock made, or inline MP4 bytes."""
        if not isinstance(video, dict):
            raise self.invalid("video must be an object.")
        if "encodedVideo" in video:
            return self.inline_video_seconds(video, "encodedVideo")
        uri = str(video.get("uri", ""))
        file_id = uri.rsplit("/files/", 1)[-1].split(":", 1)[0] if "/files/" in uri else ""
        with self.lock:
            name = self.files.get(file_id)
            op = self.operations.get(name or "")
        if op is None:
            raise self.invalid("Input video must be a video generated by Veo.")
        return op.seconds

    def video_response(self, op: Operation) -> dict[str, Any]:
        file_id = op.name.rsplit("/", 1)[-1]
        with self.lock:
            self.files[file_id] = op.name
        uri = f"{self.origin}/v1beta/files/{file_id}:download?alt=media"
        return {"generatedSamples": [{"video": {"uri": uri}}]}

    async def create(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        self.check_model(model, f"models/{model}")
        op = self.check_create(f"models/{model}", model, await self.google_json(request))
        return self.json_response({"name": op.name})

    async def get_operation(self, request: web.Request) -> web.Response:
        name = f"models/{request.match_info['model']}/operations/{request.match_info['op']}"
        return self.json_response(self.operation_json(self.lookup(name)))

    async def download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file"]
        with self.lock:
            known = file_id in self.files
        if not known:
            raise ApiError(404, f"File files/{file_id} not found.", code="NOT_FOUND")
        if request.query.get("alt") != "media":
            raise self.invalid("Only alt=media downloads are served for generated videos.")
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.signed[token] = file_id
        location = f"{self.origin}/signed/{token}?Expires={int(self.clock()) + 600}&Signature=x"
        return web.Response(status=302, headers={"Location": location})

    async def signed_media(self, request: web.Request) -> web.Response:
        with self.lock:
            known = request.match_info["token"] in self.signed
        if not known:
            return web.Response(status=403, text="AccessDenied: signature does not match")
        return web.Response(body=self.media(), headers={"Content-Type": "video/mp4"})


@dataclass
class Trusted:
    """A service account the mock's token endpoint accepts."""

    public_key_pem: bytes
    project: str


class VertexVeoMock(VeoMock):
    """{location}-aiplatform.googleapis.com + oauth2.googleapis.com/token + storage JSON API."""

    parameters_allowed = VERTEX_PARAMETERS
    top_level_allowed = frozenset({"instances", "parameters", "labels"})

    def __init__(self, token_lifetime: int = 3599, **kwargs: Any) -> None:
        super().__init__(api_key=None, auth_header="authorization", **kwargs)
        self.token_lifetime = token_lifetime
        self.trusted: dict[str, Trusted] = {}  # client_email -> key and project
        self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (email, expiry)
        self.objects: dict[tuple[str, str], bytes] = {}  # (bucket, object) -> bytes
        self.object_seconds: dict[str, int] = {}  # gs:// URI -> the video's length
        self.storage_raw_paths: list[str] = []

    @property
    def token_uri(self) -> str:
        return f"{self.origin}/token"

    def trust(self, client_email: str, public_key_pem: bytes, project: str) -> None:
        with self.lock:
            self.trusted[client_email] = Trusted(public_key_pem, project)

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def add_routes(self, app: web.Application) -> None:
        models = "/v1/projects/{project}/locations/{location}/publishers/google/models/"
        app.router.add_post("/token", self.token)
        app.router.add_post(models + MODEL_PATH + ":predictLongRunning", self.create)
        app.router.add_post(models + MODEL_PATH + ":fetchPredictOperation", self.fetch)
        app.router.add_get("/storage/v1/b/{bucket}/o/{object}", self.storage_get)

    # -- auth -----------------------------------------------------------------------------

    def token_owner(self, request: web.Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None
        with self.lock:
            found = self.tokens.get(header[len("Bearer ") :])
        if found is None or found[1] < self.clock():
            return None
        return found[0]

    def is_authorized(self, request: web.Request) -> bool:
        return request.path == "/token" or self.token_owner(request) is not None

    def unauthorized(self, request: web.Request) -> web.Response:
        body = self.error_body(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            type="",
            param=None,
            code="UNAUTHENTICATED",
        )
        reason = (
            "ACCESS_TOKEN_EXPIRED"
            if request.headers.get("authorization")
            else ("CREDENTIALS_MISSING")
        )
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "aiplatform.googleapis.com"},
            }
        ]
        return self.json_response(body, status=401)

    def check_project(self, request: web.Request, permission: str) -> None:
        email = self.token_owner(request)
        with self.lock:
            trusted = self.trusted.get(email or "")
        project = request.match_info["project"]
        if trusted is None or trusted.project != project:
            raise ApiError(
                403,
                f"Permission '{permission}' denied on resource '//aiplatform.googleapis.com/"
                f"projects/{project}/locations/{request.match_info['location']}/publishers/"
                f"google/models/{request.match_info['model']}' (or it may not exist).",
                code="PERMISSION_DENIED",
            )

    @staticmethod
    def oauth_error(error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=400)

    async def token(self, request: web.Request) -> web.Response:
        """RFC 7523 JWT-bearer grant: verify the RS256 assertion, issue an access token."""
        form = {p.name: p.text for p in await self.read_form(request)}
        if form.get("grant_type") != JWT_BEARER:
            return self.oauth_error(
                "unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}"
            )
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return self.oauth_error("invalid_grant", "Invalid JWT: malformed assertion.")
        email = str(claims.get("iss", ""))
        with self.lock:
            trusted = self.trusted.get(email)
        if trusted is None:
            return self.oauth_error("invalid_grant", "Invalid grant: account not found")
        try:
            claims = jwt.decode(
                assertion,
                trusted.public_key_pem,
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except jwt.InvalidSignatureError:
            return self.oauth_error("invalid_grant", "Invalid JWT Signature.")
        except jwt.PyJWTError as exc:
            return self.oauth_error("invalid_grant", f"Invalid JWT: {exc}")
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            return self.oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience.")
        access = "ya29.mock-" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[access] = (email, self.clock() + self.token_lifetime)
        return web.json_response(
            {"access_token": access, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        )

    # -- Veo ------------------------------------------------------------------------------

    def unknown_model_message(self, model: str, resource: str) -> str:
        return (
            f"Publisher Model `{resource}` was not found or your project does not have access "
            "to it. Please ensure you are using a valid model version."
        )

    def new_operation_id(self) -> str:
        return f"{secrets.randbelow(10**19):019d}"

    def wrap_response(self, inner: dict[str, Any]) -> dict[str, Any]:
        return {
            "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
            **inner,
        }

    def video_response(self, op: Operation) -> dict[str, Any]:
        storage = op.parameters.get("storageUri")
        if not storage:
            data = base64.b64encode(self.media()).decode()
            return {"videos": [{"bytesBase64Encoded": data, "mimeType": "video/mp4"}]}
        bucket, _, prefix = str(storage)[len("gs://") :].partition("/")
        op_id = op.name.rsplit("/", 1)[-1]
        obj = f"{prefix.strip('/')}/{op_id}/sample_0.mp4".lstrip("/")
        with self.lock:
            self.objects[(bucket, obj)] = self.media()
            self.object_seconds[f"gs://{bucket}/{obj}"] = op.seconds
        return {"videos": [{"gcsUri": f"gs://{bucket}/{obj}", "mimeType": "video/mp4"}]}

    def source_seconds(self, video: Any) -> int:
        """A gs:// object this mock wrote, or inline MP4 bytes."""
        if not isinstance(video, dict):
            raise self.invalid("video must be an object.")
        if "bytesBase64Encoded" in video:
            return self.inline_video_seconds(video, "bytesBase64Encoded")
        with self.lock:
            seconds = self.object_seconds.get(str(video.get("gcsUri", "")))
        if seconds is None:
            raise ApiError(404, f"No such object: {video.get('gcsUri')}", code="NOT_FOUND")
        return seconds

    def check_parameters(self, model: str, parameters: dict[str, Any]) -> None:
        super().check_parameters(model, parameters)
        storage = parameters.get("storageUri")
        if storage is not None and not (isinstance(storage, str) and storage.startswith("gs://")):
            raise self.invalid("storageUri must be a gs:// URI.")

    def _resource_of(self, request: web.Request) -> str:
        m = request.match_info
        return (
            f"projects/{m['project']}/locations/{m['location']}/publishers/google/models/"
            f"{m['model']}"
        )

    async def create(self, request: web.Request) -> web.Response:
        self.check_project(request, "aiplatform.endpoints.predict")
        resource = self._resource_of(request)
        model = request.match_info["model"]
        self.check_model(model, resource)
        op = self.check_create(resource, model, await self.google_json(request))
        return self.json_response({"name": op.name})

    async def fetch(self, request: web.Request) -> web.Response:
        self.check_project(request, "aiplatform.endpoints.predict")
        body = await self.google_json(request)
        name = body.get("operationName")
        if not isinstance(name, str) or not name.startswith(self._resource_of(request) + "/"):
            raise self.invalid("operationName must name an operation of this model.")
        return self.json_response(self.operation_json(self.lookup(name)))

    async def storage_get(self, request: web.Request) -> web.Response:
        """Cloud Storage JSON API media download; the object name must arrive encoded."""
        with self.lock:
            self.storage_raw_paths.append(request.raw_path)
        bucket, obj = request.match_info["bucket"], request.match_info["object"]
        if request.query.get("alt") != "media":
            raise self.invalid("Only alt=media is served by this mock.")
        with self.lock:
            data = self.objects.get((bucket, obj))
        if data is None:
            raise ApiError(404, f"No such object: {bucket}/{obj}", code="NOT_FOUND")
        return web.Response(body=data, headers={"Content-Type": "video/mp4"})
