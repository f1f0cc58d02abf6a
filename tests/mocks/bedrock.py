"""Loopback mock of bedrock-runtime's asynchronous invocations, SigV4 verified, writing to S3.

`POST /async-invoke` and `GET /async-invoke/{invocationArn}` as Bedrock serves them: every
request must carry a SigV4 signature (service `bedrock`, the mock's region) that the mock
recomputes with botocore from the known secret, answering 403 like AWS otherwise
(`MissingAuthenticationTokenException`, `UnrecognizedClientException` for an unknown access
key or session token, `InvalidSignatureException` for a wrong secret or scope). Bodies are
validated as Bedrock and the models do (`ValidationException`, 400; Nova Reel's and Luma Ray
2's documented `modelInput` shapes, Nova's 1280x720 first frame included). An invocation is
InProgress for `run_seconds`, then Completed, when the mock writes a real MP4 as
`<s3Uri>/<invocation id>/output.mp4` into an S3 store (moto) through `put_object`; a prompt
with `moderation_word` ends Failed with the content-filter message and writes nothing, one
with `blocked_word` is refused at create. Errors are restJson1: `{"message"}` with the code
in `x-amzn-ErrorType`. The same `clientRequestToken` answers the same invocation, as AWS's
idempotency does.
"""

from __future__ import annotations

import base64
import binascii
import io
import random
import re
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from PIL import Image

from .base import ApiError, MockServer
from .common import render_clip, sniff_image, word_pattern

ACCOUNT = "123456789012"
ARN = re.compile(
    r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:async-invoke/([a-z0-9]{12})$"
)
AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$"
)
TOKEN = re.compile(r"^[!-~]{1,256}$")
MAX_SKEW = 300  # AWS refuses signatures more than 5 minutes off
NOVA = ("amazon.nova-reel-v1:0", "amazon.nova-reel-v1:1")
LUMA = "luma.ray-v2:0"
LUMA_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
BLOCKED_TEXT = (
    "This request has been blocked by our content filters. Please adjust your text prompt "
    "to submit a new request."
)
FILTERED = "The generated video has been blocked by our content filters."
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)


@dataclass
class Invocation:
    arn: str
    id: str
    model: str
    body: dict[str, Any]
    s3_uri: str
    created: float
    failed: bool
    token: str | None
    written: bool = False

    @property
    def seconds(self) -> int:
        config = self.body["modelInput"].get("videoGenerationConfig") or {}
        if "durationSeconds" in config:
            return int(config["durationSeconds"])
        shots = self.body["modelInput"].get("multiShotManualParams", {}).get("shots")
        if shots:
            return 6 * len(shots)
        return int(str(self.body["modelInput"].get("duration", "5s")).rstrip("s"))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class BedrockMock(MockServer):
    """bedrock-runtime's StartAsyncInvoke / GetAsyncInvoke; outputs go to `s3` (a boto3
    S3 client, e.g. on moto)."""

    error_content_type = "application/json"

    def __init__(
        self,
        access_key_id: str,
        secret: str,
        s3: Any,
        *,
        region: str = "us-east-1",
        session_token: str | None = None,
        run_seconds: float = 0.5,
        moderation_word: str = "moderation",
        blocked_word: str = "forbidden",
        media_size: tuple[int, int] = (64, 36),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock=clock)
        self.access_key_id = access_key_id
        self.secret = secret
        self.session_token = session_token
        self.region = region
        self.s3 = s3
        self.run_seconds = run_seconds
        self.moderation = word_pattern(moderation_word)
        self.blocked = word_pattern(blocked_word)
        self.media_size = media_size
        self.invocations: dict[str, Invocation] = {}
        self.verified: list[str] = []  # access key ids of requests whose signature verified

    def video_bytes(self) -> bytes:
        return self.rendered("video", lambda: render_clip(self.media_size, "videogate bedrock"))

    # -- AWS's envelope and SigV4 ---------------------------------------------------------

    def new_request_id(self) -> str:
        return "".join(random.choices(string.hexdigits.lower(), k=32))

    request_id_header = "x-amzn-RequestId"

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {"message": message}

    def error_response(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        kind = code or {400: "ValidationException", 403: "AccessDeniedException"}.get(
            status, "InternalServerException"
        )
        merged = {**(headers or {}), "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/"}
        return super().error_response(
            status, message, type=type, param=param, code=code, headers=merged
        )

    def _verify(self, request: web.Request, body: bytes) -> None:
        """Recompute the SigV4 signature from the known secret, as AWS does."""
        header = request.headers.get("Authorization")
        if not header:
            raise ApiError(
                403, "Missing Authentication Token", code="MissingAuthenticationTokenException"
            )
        match = AUTH.match(header)
        if match is None:
            raise ApiError(
                403,
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.",
                code="IncompleteSignatureException",
            )
        access, day, region, service, signed, signature = match.groups()
        token = request.headers.get("X-Amz-Security-Token")
        if access != self.access_key_id or token != self.session_token:
            raise ApiError(
                403,
                "The security token included in the request is invalid.",
                code="UnrecognizedClientException",
            )
        if region != self.region or service != "bedrock":
            raise ApiError(
                403,
                f"Credential should be scoped to a valid region ({self.region}) and service "
                "(bedrock).",
                code="InvalidSignatureException",
            )
        stamp = request.headers.get("X-Amz-Date", "")
        try:
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(
                403, "X-Amz-Date is missing or malformed.", code="IncompleteSignatureException"
            ) from None
        if abs(when.timestamp() - self.clock()) > MAX_SKEW or not stamp.startswith(day):
            raise ApiError(403, "Signature expired.", code="InvalidSignatureException")
        names = signed.split(";")
        if "host" not in names:
            raise ApiError(403, BAD_SIGNATURE, code="InvalidSignatureException")
        headers = {n: request.headers.get(n, "") for n in names}
        aws = AWSRequest(
            method=request.method,
            url=f"http://{request.host}{request.raw_path}",
            data=body,
            headers=headers,
        )
        aws.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(access, self.secret, token), service, region)
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        if expected != signature:
            raise ApiError(403, BAD_SIGNATURE, code="InvalidSignatureException")
        with self.lock:
            self.verified.append(access)

    # -- routes ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/async-invoke", self.start_invoke)
        app.router.add_get("/async-invoke/{arn}", self.get_invoke)

    async def start_invoke(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self._verify(request, raw)
        body = await self.read_json(request)
        self._validate(body)
        token = body.get("clientRequestToken")
        with self.lock:
            for existing in self.invocations.values():
                if token and existing.token == token:
                    return self.json_response({"invocationArn": existing.arn})
        prompt = _prompt(body["modelInput"])
        if self.blocked.search(prompt):
            raise ApiError(400, BLOCKED_TEXT, code="ValidationException")
        job = "".join(random.choices(string.ascii_lowercase + string.digits, k=12))
        arn = f"arn:aws:bedrock:{self.region}:{ACCOUNT}:async-invoke/{job}"
        with self.lock:
            self.invocations[arn] = Invocation(
                arn,
                job,
                body["modelId"],
                body,
                body["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].rstrip("/"),
                self.clock(),
                bool(self.moderation.search(prompt)),
                token,
            )
        return self.json_response({"invocationArn": arn})

    async def get_invoke(self, request: web.Request) -> web.Response:
        self._verify(request, await request.read())
        arn = unquote(request.match_info["arn"])
        if not ARN.match(arn):
            raise ApiError(
                400,
                f"1 validation error detected: Value '{arn}' at 'invocationArn' failed to "
                "satisfy constraint",
                code="ValidationException",
            )
        with self.lock:
            job = self.invocations.get(arn)
        if job is None:
            raise ApiError(
                404,
                "The specified invocation ARN does not exist.",
                code="ResourceNotFoundException",
            )
        ended = self.clock() - job.created >= self.run_seconds
        status = "InProgress"
        if ended:
            status = "Failed" if job.failed else "Completed"
        if status == "Completed" and not job.written:
            self._write(job)
        answer: dict[str, Any] = {
            "invocationArn": job.arn,
            "modelArn": f"arn:aws:bedrock:{self.region}::foundation-model/{job.model}",
            "status": status,
            "submitTime": _iso(job.created),
            "lastModifiedTime": _iso(job.created),
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"{job.s3_uri}/{job.id}"}},
        }
        if job.token:
            answer["clientRequestToken"] = job.token
        if ended:
            answer["endTime"] = answer["lastModifiedTime"] = _iso(job.created + self.run_seconds)
        if status == "Failed":
            answer["failureMessage"] = FILTERED
        return self.json_response(answer)

    def _write(self, job: Invocation) -> None:
        bucket, _, prefix = job.s3_uri[len("s3://") :].partition("/")
        key = f"{prefix}/{job.id}/output.mp4" if prefix else f"{job.id}/output.mp4"
        self.s3.put_object(Bucket=bucket, Key=key, Body=self.video_bytes(), ContentType="video/mp4")
        job.written = True

    # -- validation (ValidationException) -------------------------------------------------

    def _validate(self, body: Any) -> None:
        if not isinstance(body, dict):
            _invalid("The request body must be a JSON object.")
        allowed = {"modelId", "modelInput", "outputDataConfig", "clientRequestToken", "tags"}
        for name in body:
            if name not in allowed:
                _invalid(f"Unknown field {name!r}.")
        model = body.get("modelId")
        if model not in (*NOVA, LUMA):
            _invalid(f"The provided model identifier is invalid: {model!r}.")
        s3 = (body.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}
        if not str(s3.get("s3Uri", "")).startswith("s3://"):
            _invalid("outputDataConfig.s3OutputDataConfig.s3Uri must be an s3:// URI.")
        token = body.get("clientRequestToken")
        if token is not None and not (isinstance(token, str) and TOKEN.match(token)):
            _invalid("clientRequestToken failed to satisfy constraint [!-~]{1,256}.")
        model_input = body.get("modelInput")
        if not isinstance(model_input, dict):
            _invalid("modelInput must be a JSON object.")
        if model == LUMA:
            _check_luma(model_input)
        else:
            _check_nova(model, model_input)


def _invalid(message: str) -> Any:
    raise ApiError(400, message, code="ValidationException")


def _prompt(model_input: dict[str, Any]) -> str:
    for params in ("textToVideoParams", "multiShotAutomatedParams"):
        if params in model_input:
            return str(model_input[params].get("text", ""))
    shots = model_input.get("multiShotManualParams", {}).get("shots") or []
    return " ".join(str(s.get("text", "")) for s in shots) or str(model_input.get("prompt", ""))


def _check_luma(model_input: dict[str, Any]) -> None:
    prompt = model_input.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 5000:
        _invalid("prompt must be 1 to 5000 characters.")
    checks = {
        "aspect_ratio": LUMA_RATIOS,
        "duration": ("5s", "9s"),
        "resolution": ("540p", "720p"),
    }
    for name, allowed in checks.items():
        if name in model_input and model_input[name] not in allowed:
            _invalid(f"{name} must be one of {', '.join(allowed)}.")
    if "loop" in model_input and not isinstance(model_input["loop"], bool):
        _invalid("loop must be a boolean.")
    unknown = set(model_input) - {"prompt", "loop", *checks}
    if unknown:
        _invalid(f"Unknown field {sorted(unknown)[0]!r} in modelInput.")


def _check_nova(model: str, model_input: dict[str, Any]) -> None:
    task = model_input.get("taskType")
    config = model_input.get("videoGenerationConfig")
    if not isinstance(config, dict):
        _invalid("videoGenerationConfig is required.")
    if config.get("fps", 24) != 24 or config.get("dimension", "1280x720") != "1280x720":
        _invalid("fps must be 24 and dimension must be 1280x720.")
    seed = config.get("seed")
    if seed is not None and not (isinstance(seed, int) and 0 <= seed <= 2147483646):
        _invalid("seed must be an integer from 0 to 2147483646.")
    duration = config.get("durationSeconds")
    if task == "TEXT_VIDEO":
        params = model_input.get("textToVideoParams") or {}
        _text(params.get("text"), 512)
        images = params.get("images")
        if images is not None:
            if not isinstance(images, list) or len(images) != 1:
                _invalid("images must contain exactly one image.")
            _image(images[0])
        if duration != 6:
            _invalid("durationSeconds must be 6 for TEXT_VIDEO.")
    elif task == "MULTI_SHOT_AUTOMATED" and model == "amazon.nova-reel-v1:1":
        _text((model_input.get("multiShotAutomatedParams") or {}).get("text"), 4000)
        if not (isinstance(duration, int) and duration % 6 == 0 and 12 <= duration <= 120):
            _invalid("durationSeconds must be a multiple of 6 from 12 to 120.")
    elif task == "MULTI_SHOT_MANUAL" and model == "amazon.nova-reel-v1:1":
        shots = (model_input.get("multiShotManualParams") or {}).get("shots")
        if not isinstance(shots, list) or not 2 <= len(shots) <= 20:
            _invalid("shots must contain 2 to 20 shots.")
        for shot in shots:
            _text(shot.get("text"), 512)
            if "image" in shot:
                _image(shot["image"])
        if duration is not None:
            _invalid("durationSeconds is not allowed for MULTI_SHOT_MANUAL.")
    else:
        _invalid(f"taskType {task!r} is not supported by {model}.")


def _text(value: Any, limit: int) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        _invalid(f"text must be 1 to {limit} characters.")


def _image(source: Any) -> None:
    fmt = source.get("format") if isinstance(source, dict) else None
    raw = (source.get("source") or {}).get("bytes") if isinstance(source, dict) else None
    if fmt not in ("png", "jpeg") or not isinstance(raw, str):
        _invalid("image must be {format: png|jpeg, source: {bytes}}.")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        _invalid("image bytes are not valid base64.")
    if sniff_image(data) != f"image/{fmt}":
        _invalid(f"image is not a {fmt} image.")
    with Image.open(io.BytesIO(data)) as img:
        if img.size != (1280, 720):
            _invalid(f"Input image dimensions must be 1280x720, not {img.size[0]}x{img.size[1]}.")
