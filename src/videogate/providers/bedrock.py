"""`bedrock`: video models on Amazon Bedrock (Amazon Nova Reel, Luma Ray 2), SigV4-signed.

A job is a Bedrock asynchronous invocation: `POST /async-invoke` on bedrock-runtime with
`{"modelId","modelInput","outputDataConfig":{"s3OutputDataConfig":{"s3Uri"}},
"clientRequestToken"}` answers `{"invocationArn"}`; `GET /async-invoke/{invocationArn}`
(the ARN URL-encoded as one path segment) answers `status` InProgress | Completed | Failed,
`failureMessage`, `submitTime`/`endTime` and the `outputDataConfig` whose `s3Uri` names
the invocation's own folder in the caller's bucket, where the model wrote `output.mp4`.
The gateway reads that object back from S3 with the same credentials (a SigV4 GET,
streamed), so the video never passes through a public URL.

Nova Reel's `modelInput` (AWS Nova user guide, "Video generation access and usage" and the
multi-shot code examples): `TEXT_VIDEO` renders 6 s, optionally from one first frame
(`textToVideoParams.images[0]` = `{"format":"png"|"jpeg","source":{"bytes"}}`, which must be
exactly 1280x720); `MULTI_SHOT_AUTOMATED` renders 12-120 s in steps of 6 from one prompt
(up to 4000 characters, v1:1 only); `MULTI_SHOT_MANUAL` takes 2-20 `shots` of 6 s each
(`extra.shots`). `videoGenerationConfig` is `{durationSeconds, fps: 24, dimension:
"1280x720", seed}` (seed 0-2147483646). Luma Ray 2 (`luma.ray-v2:0`, Bedrock user guide
"Luma AI models") takes `{"prompt","aspect_ratio","loop","duration":"5s"|"9s",
"resolution":"540p"|"720p"}`; that it also writes `output.mp4` into the invocation's folder
is *(inferred)*. Errors are restJson1: the code in the `x-amzn-ErrorType` header
(ValidationException, AccessDeniedException, ThrottlingException, ...), the text in the
body's `message`; prompts refused by the content filters are a ValidationException at create,
videos refused after rendering a Failed job whose message names the content filters.

A key's `value` is the secret access key; `extra.access_key_id` the access key id (or
`value: "AKID:SECRET"`), `extra.session_token` an STS session token, `extra.region` the
region (default us-east-1: Nova Reel 1.1's only region), `extra.s3_uri` where the videos go
(else `options.s3_uri`). `options.s3_base_url` (or `extra.s3_base_url`) points S3 calls at
another endpoint, path-style. Signing is botocore's `SigV4Auth`/`S3SigV4Auth` over the
provider's pooled aiohttp session: boto3's own clients would block the event loop.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import orjson
import yarl
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from PIL import Image

from ..config import ConfigError, ProviderConfig, UpstreamKey
from ..errors import UpstreamError, bad_request
from ..video import Failure
from .base import (
    CallContext,
    Capability,
    Content,
    CreateParams,
    InputReference,
    Prepared,
    Status,
    UpstreamVideo,
)
from .convert import iso_to_unix, parse_size
from .failures import not_ready
from .http import HttpProvider
from .media import ImageRules, reference_image
from .params import ExtraKind, check_prompt_length, coerce_extras
from .specs import ModelSpec

DEFAULT_REGION = "us-east-1"
SIGNING_NAME = "bedrock"  # bedrock-runtime signs as "bedrock"
OUTPUT_OBJECT = "output.mp4"
S3_SCHEME = "s3://"

STATUS_MAP: dict[str, Status] = {
    "InProgress": "in_progress",
    "Completed": "completed",
    "Failed": "failed",
}
# Lower-cased phrases of a Failed job's `failureMessage` -> canonical code, first match wins.
# "The generated video has been blocked by our content filters." (Nova user guide, error
# handling); the others are how AWS words internal and input failures *(inferred)*.
FAILURE_MAP: dict[str, str] = {
    "content filters": Failure.MODERATION,
    "responsible ai": Failure.MODERATION,
    "internal": Failure.INTERNAL,
    "timed out": Failure.INTERNAL,
    "throttl": Failure.INTERNAL,
    "access denied": Failure.INVALID,  # e.g. no s3:PutObject on the output bucket
    "validation": Failure.INVALID,
}

NOVA_SIZE = "1280x720"
NOVA_FPS = 24
NOVA_SHOT = 6  # seconds per shot
NOVA_MAX_SEED = 2_147_483_646
NOVA_TEXT_LIMIT = 512  # TEXT_VIDEO and each manual shot
NOVA_AUTOMATED_LIMIT = 4000
NOVA_MIN_SHOTS, NOVA_MAX_SHOTS = 2, 20
NOVA_IMAGE = ImageRules("Nova Reel", frozenset({"image/png", "image/jpeg"}), 10 << 20, 1, 100.0)
IMAGE_FORMATS: dict[str, str] = {"image/png": "png", "image/jpeg": "jpeg"}

LUMA_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
LUMA_PROMPT_LIMIT = 5000
# (aspect ratio, resolution) -> the WxH Luma renders *(inferred from 540p/720p tiers)*.
LUMA_HEIGHTS: dict[str, int] = {"540p": 540, "720p": 720}

MODELS: dict[str, ModelSpec] = {
    "amazon.nova-reel-v1:1": ModelSpec(
        seconds=tuple(range(NOVA_SHOT, 121, NOVA_SHOT)),
        sizes=(NOVA_SIZE,),
        resolutions=("720p",),
        aspect_ratios=("16:9",),
        fps=(NOVA_FPS,),
        image_input=True,
        seed=True,
    ),
    "amazon.nova-reel-v1:0": ModelSpec(
        seconds=(NOVA_SHOT,),
        sizes=(NOVA_SIZE,),
        resolutions=("720p",),
        aspect_ratios=("16:9",),
        fps=(NOVA_FPS,),
        image_input=True,
        seed=True,
    ),
    "luma.ray-v2:0": ModelSpec(
        seconds=(5, 9),
        resolutions=tuple(LUMA_HEIGHTS),
        aspect_ratios=LUMA_RATIOS,
    ),
}
NOVA_EXTRAS: dict[str, ExtraKind] = {"shots": list, "seed": int}
LUMA_EXTRAS: dict[str, ExtraKind] = {"loop": bool, "aspect_ratio": str, "resolution": str}


def normalised(params: CreateParams, extra: dict[str, Any], name: str) -> Any:
    """A normalised CreateParams field, or the same name given as a provider extra (how a
    client sets it before the API layer parses it); the field wins."""
    given = extra.pop(name, None)
    value = getattr(params, name)
    return value if value is not None else given


@dataclass(frozen=True)
class Account:
    """One key's AWS identity and where its videos go."""

    credentials: Credentials
    region: str
    bucket: str
    prefix: str  # the key prefix inside the bucket, "" or ending in "/"
    s3_base_url: str | None

    @property
    def s3_uri(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.prefix}".rstrip("/")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    if not uri.startswith(S3_SCHEME):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} names no bucket")
    return bucket, key.strip("/")


def load_account(key: UpstreamKey, options: Mapping[str, Any]) -> Account:
    """The AWS identity of `key`; a ConfigError naming the key when it is incomplete."""
    access = key.extra.get("access_key_id")
    secret = key.value
    if not access:
        access, _, secret = key.value.partition(":")
    uri = key.extra.get("s3_uri") or options.get("s3_uri")
    if not access or not secret:
        raise ConfigError(
            f"Bedrock key {key.name!r} needs an access key id and a secret: set "
            "extra.access_key_id and value to the secret, or value to 'AKID:SECRET'."
        )
    if not uri:
        raise ConfigError(
            f"Bedrock key {key.name!r} has no output bucket: set options.s3_uri (or the key's "
            "extra.s3_uri) to s3://bucket/prefix; Bedrock writes each video there."
        )
    try:
        bucket, prefix = parse_s3_uri(str(uri))
    except ValueError as exc:
        raise ConfigError(f"Bedrock key {key.name!r}: {exc}.") from None
    token = key.extra.get("session_token")
    s3_base = key.extra.get("s3_base_url") or options.get("s3_base_url")
    return Account(
        Credentials(str(access), secret, str(token) if token else None),
        str(key.extra.get("region") or DEFAULT_REGION),
        bucket,
        f"{prefix}/" if prefix else "",
        str(s3_base).rstrip("/") if s3_base else None,
    )


def signed_headers(
    account: Account,
    method: str,
    url: str,
    *,
    service: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers of a SigV4-signed request (Authorization, X-Amz-Date, the session token
    and, for S3, the payload hash); `url` must be the URL exactly as it will be sent."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(account.credentials, service, account.region).add_auth(request)
    # aiohttp writes Host itself, from the same URL the signature covered.
    return {k: v for k, v in request.headers.items() if k.lower() != "host"}


def failure(message: str | None) -> dict[str, str]:
    text = message or "Bedrock reported the invocation as failed."
    lowered = text.lower()
    code = next((c for k, c in FAILURE_MAP.items() if k in lowered), Failure.UNKNOWN)
    return {"code": code, "message": text}


S3_ERROR = re.compile(r"<Code>([^<]+)</Code>.*?<Message>([^<]*)</Message>", re.DOTALL)


class BedrockProvider(HttpProvider):
    type_name = "bedrock"
    capabilities = frozenset(
        {Capability.CREATE, Capability.RETRIEVE, Capability.CONTENT, Capability.IMAGE_INPUT}
    )
    default_poll_after_ms = 10000  # ~90 s for 6 s of Nova Reel, 14-17 min for 2 minutes
    models: ClassVar[dict[str, ModelSpec]] = MODELS

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        # A half-configured key fails at start-up, not on the first video.
        self._accounts = {key.name: load_account(key, config.options) for key in config.keys}

    def account(self, key: UpstreamKey) -> Account:
        found = self._accounts.get(key.name)
        if found is None:
            found = self._accounts[key.name] = load_account(key, self.config.options)
        return found

    def _runtime(self, key: UpstreamKey) -> str:
        region = self.account(key).region
        return self.base_url(key, f"https://bedrock-runtime.{region}.amazonaws.com")

    def public_token(self, upstream_id: str) -> str:
        """`arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc` ->
        `us-east-1.123456789012.abc`: region, account and id together are unique."""
        head, _, job = upstream_id.rpartition("/")
        parts = head.split(":")
        if len(parts) >= 6 and job:
            return super().public_token(f"{parts[3]}.{parts[4]}.{job}")
        return super().public_token(upstream_id)

    # -- errors ---------------------------------------------------------------------------

    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """restJson1 `{"message"}` (the code travels in a header, see `_raise_for`) or S3's
        XML `<Error><Code/><Message/></Error>`."""
        if isinstance(body, Mapping):
            message = body.get("message") or body.get("Message")
            kind = body.get("__type")
            code = str(kind).rsplit("#", 1)[-1] if kind else None
            if message:
                return str(message), code, None, None
        if isinstance(body, str) and (found := S3_ERROR.search(body)):
            return found.group(2) or found.group(1), found.group(1), None, None
        return super().error_message(status, body)

    def _raise_for(self, status: int, raw: bytes, headers: Mapping[str, str]) -> None:
        """As the base, with the AWS error code from `x-amzn-ErrorType`
        ("ValidationException:http://internal.amazon.com/...")."""
        try:
            super()._raise_for(status, raw, headers)
        except UpstreamError as exc:
            kind = headers.get("x-amzn-ErrorType")
            if kind:
                exc.code = kind.split(":", 1)[0]
            raise

    # -- create ---------------------------------------------------------------------------

    def prepare(self, params: CreateParams) -> Prepared:
        """`modelInput` for the model; every check that needs no upstream call."""
        if params.model.startswith("luma."):
            return self._prepare_luma(params)
        if params.model.startswith("amazon.nova-reel"):
            return self._prepare_nova(params)
        raise bad_request(
            "unsupported_model",
            f"Bedrock model {params.model!r} is not a video model this gateway speaks; "
            f"supported: {', '.join(MODELS)}.",
            "model",
        )

    def _prepare_nova(self, params: CreateParams) -> Prepared:
        extra = coerce_extras(params.extra, NOVA_EXTRAS)
        unknown = sorted(set(extra) - set(NOVA_EXTRAS))
        if unknown:
            raise bad_request(
                "unsupported_parameter",
                f"Nova Reel takes no parameter {unknown[0]!r}; extra parameters: shots, seed.",
                unknown[0],
            )
        config: dict[str, Any] = {"fps": NOVA_FPS, "dimension": NOVA_SIZE}
        seed = normalised(params, extra, "seed")
        if seed is not None:
            if not 0 <= seed <= NOVA_MAX_SEED:
                raise bad_request(
                    "invalid_seed", f"Nova Reel takes a seed from 0 to {NOVA_MAX_SEED}.", "seed"
                )
            config["seed"] = seed
        if "shots" in extra:
            model_input = self._manual_shots(params, extra["shots"], config)
            seconds = NOVA_SHOT * len(extra["shots"])
        else:
            seconds = int(params.seconds) if params.seconds else NOVA_SHOT
            if seconds == NOVA_SHOT:
                check_prompt_length(params.prompt, NOVA_TEXT_LIMIT, "Nova Reel")
                text: dict[str, Any] = {"text": params.prompt}
                if params.input_reference is not None:
                    image = nova_image(params.input_reference, "input_reference")
                    text["images"] = [image]
                model_input = {
                    "taskType": "TEXT_VIDEO",
                    "textToVideoParams": text,
                    "videoGenerationConfig": {"durationSeconds": seconds, **config},
                }
            else:
                if params.input_reference is not None:
                    raise bad_request(
                        "invalid_seconds",
                        "Nova Reel animates a first frame in a single 6 s shot; for longer "
                        "videos from images give extra.shots (one image per 6 s shot).",
                        "seconds",
                    )
                check_prompt_length(params.prompt, NOVA_AUTOMATED_LIMIT, "Nova Reel")
                model_input = {
                    "taskType": "MULTI_SHOT_AUTOMATED",
                    "multiShotAutomatedParams": {"text": params.prompt},
                    "videoGenerationConfig": {"durationSeconds": seconds, **config},
                }
        body = {"modelId": params.model, "modelInput": model_input}
        if params.reference:
            body["clientRequestToken"] = params.reference[:256]
        return Prepared(params, body, _shown(body), size=NOVA_SIZE, seconds=str(seconds))

    def _manual_shots(
        self, params: CreateParams, shots: list[Any], config: dict[str, Any]
    ) -> dict[str, Any]:
        """MULTI_SHOT_MANUAL from `extra.shots`: [{"text", "image"?: data: URL}], 6 s each."""
        if params.model != "amazon.nova-reel-v1:1":
            raise bad_request(
                "unsupported_parameter", "Only amazon.nova-reel-v1:1 renders shots.", "shots"
            )
        if not NOVA_MIN_SHOTS <= len(shots) <= NOVA_MAX_SHOTS:
            raise bad_request(
                "invalid_parameter",
                f"shots takes {NOVA_MIN_SHOTS} to {NOVA_MAX_SHOTS} shots of 6 seconds each.",
                "shots",
            )
        if params.seconds and int(params.seconds) != NOVA_SHOT * len(shots):
            raise bad_request(
                "invalid_seconds",
                f"{len(shots)} shots render {NOVA_SHOT * len(shots)} seconds, not "
                f"{params.seconds}.",
                "seconds",
            )
        out: list[dict[str, Any]] = []
        for index, shot in enumerate(shots):
            text = shot.get("text") if isinstance(shot, Mapping) else None
            if not isinstance(text, str) or not 1 <= len(text) <= NOVA_TEXT_LIMIT:
                raise bad_request(
                    "invalid_parameter",
                    f"shots[{index}].text must be 1 to {NOVA_TEXT_LIMIT} characters.",
                    f"shots[{index}].text",
                )
            item: dict[str, Any] = {"text": text}
            image = shot.get("image")
            if image is not None:
                if not isinstance(image, str):
                    raise bad_request(
                        "invalid_parameter",
                        f"shots[{index}].image must be a data:image/...;base64 URL.",
                        f"shots[{index}].image",
                    )
                item["image"] = nova_image(InputReference(image_url=image), f"shots[{index}]")
            out.append(item)
        return {
            "taskType": "MULTI_SHOT_MANUAL",
            "multiShotManualParams": {"shots": out},
            "videoGenerationConfig": config,
        }

    def _prepare_luma(self, params: CreateParams) -> Prepared:
        extra = coerce_extras(params.extra, LUMA_EXTRAS)
        unknown = sorted(set(extra) - set(LUMA_EXTRAS))
        if unknown:
            raise bad_request(
                "unsupported_parameter",
                f"Luma Ray 2 on Bedrock takes no parameter {unknown[0]!r}; extra: loop, "
                "aspect_ratio, resolution.",
                unknown[0],
            )
        check_prompt_length(params.prompt, LUMA_PROMPT_LIMIT, "Luma Ray 2")
        ratio = normalised(params, extra, "aspect_ratio")
        resolution = normalised(params, extra, "resolution")
        for name, value, allowed in (
            ("aspect_ratio", ratio, LUMA_RATIOS),
            ("resolution", resolution, tuple(LUMA_HEIGHTS)),
        ):
            if value is not None and value not in allowed:
                raise bad_request(
                    f"invalid_{name}",
                    f"Luma Ray 2 takes {name} {', '.join(allowed)}, not {value!r}.",
                    name,
                )
        if params.size:
            dims = parse_size(params.size)
            size_shape = _luma_shape(dims) if dims else None
            if size_shape is None:
                raise bad_request(
                    "invalid_size",
                    f"size {params.size!r} is not a Luma Ray 2 frame; use aspect_ratio "
                    f"({', '.join(LUMA_RATIOS)}) and resolution (540p, 720p) instead.",
                    "size",
                )
            ratio, resolution = ratio or size_shape[0], resolution or size_shape[1]
        ratio, resolution = ratio or "16:9", resolution or "720p"
        seconds = int(params.seconds) if params.seconds else 5
        model_input: dict[str, Any] = {
            "prompt": params.prompt,
            "aspect_ratio": ratio,
            "duration": f"{seconds}s",
            "resolution": resolution,
            "loop": bool(extra.get("loop", False)),
        }
        body: dict[str, Any] = {"modelId": params.model, "modelInput": model_input}
        if params.reference:
            body["clientRequestToken"] = params.reference[:256]
        return Prepared(
            params, body, body, size=_luma_size(ratio, resolution), seconds=str(seconds)
        )

    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        account = self.account(key)
        body = {
            **prepared.body,
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": account.s3_uri}},
        }
        shown = {**prepared.shown, "outputDataConfig": body["outputDataConfig"]}
        answer = await self._call(key, "POST", "/async-invoke", ctx, json_body=body, shown=shown)
        found = self.expect_object(
            answer, "answered without an invocationArn", id_field="invocationArn"
        )
        return prepared.accepted(str(found["invocationArn"]), answer)

    async def _call(
        self,
        key: UpstreamKey,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        json_body: Any = None,
        shown: Any = None,
    ) -> Any:
        """One signed bedrock-runtime call; the URL is normalised first so that the
        signature covers exactly the path aiohttp sends."""
        url = str(yarl.URL(self._runtime(key) + path))
        data = orjson.dumps(json_body) if json_body is not None else b""
        headers = {"Accept": "application/json"}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        signed = signed_headers(
            self.account(key), method, url, service=SIGNING_NAME, body=data, headers=headers
        )
        _, answer, _ = await self.request(
            method, url, headers=signed, data=data or None, ctx=ctx, shown=shown
        )
        return answer

    # -- read -----------------------------------------------------------------------------

    async def _invocation(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        path = "/async-invoke/" + quote(video_id, safe="")
        return await self._call(key, "GET", path, ctx)

    def to_video(self, body: Any) -> UpstreamVideo:
        found = self.expect_object(body, "answered without an invocation", id_field="invocationArn")
        native = str(found.get("status"))
        status: Status = STATUS_MAP.get(native, "in_progress")
        ended = iso_to_unix(found.get("endTime"))
        return UpstreamVideo(
            id=str(found["invocationArn"]),
            status=status,
            progress=100 if status == "completed" else 0,
            created_at=iso_to_unix(found.get("submitTime")) or int(time.time()),
            completed_at=(ended or int(time.time())) if status != "in_progress" else None,
            error=failure(found.get("failureMessage")) if status == "failed" else None,
            raw=found,
        )

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._invocation(video_id, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """`output.mp4` in the invocation's S3 folder, read with the key's credentials."""
        body = await self._invocation(video_id, key, ctx)
        video = self.to_video(body)
        if video.status != "completed":
            raise not_ready(
                self.id, f"Bedrock invocation {video_id!r} is {video.status}; no video yet."
            )
        config = body.get("outputDataConfig") if isinstance(body, Mapping) else None
        s3 = config.get("s3OutputDataConfig") if isinstance(config, Mapping) else None
        uri = s3.get("s3Uri") if isinstance(s3, Mapping) else None
        try:
            bucket, folder = parse_s3_uri(str(uri))
        except ValueError:
            raise self.bad_response(
                f"Bedrock invocation {video_id!r} completed without an s3Uri.", body
            ) from None
        object_key = f"{folder}/{OUTPUT_OBJECT}" if folder else OUTPUT_OBJECT
        url = self._object_url(self.account(key), bucket, object_key)
        headers = signed_headers(self.account(key), "GET", url, service="s3")
        return await self.stream(url, headers=headers, content_type="video/mp4", ctx=ctx)

    def _object_url(self, account: Account, bucket: str, object_key: str) -> str:
        """Path-style on a configured endpoint, else AWS's virtual-hosted style."""
        path = quote(object_key, safe="/~")
        if account.s3_base_url:
            return str(yarl.URL(f"{account.s3_base_url}/{bucket}/{path}"))
        return str(yarl.URL(f"https://{bucket}.s3.{account.region}.amazonaws.com/{path}"))


def nova_image(ref: InputReference, param: str) -> dict[str, Any]:
    """An ImageSource: inline PNG/JPEG bytes of exactly 1280x720 (Nova user guide)."""
    image = reference_image(ref, NOVA_IMAGE, param)
    if image.data is None:
        raise bad_request(
            "unsupported_input_reference",
            "Nova Reel takes the first frame as bytes (an upload or a data: URL), not a URL "
            "the gateway would have to fetch.",
            param,
        )
    with Image.open(io.BytesIO(image.data)) as img:
        if img.size != (1280, 720):
            raise bad_request(
                "invalid_input_reference",
                f"Nova Reel needs a first frame of exactly 1280x720, not "
                f"{img.size[0]}x{img.size[1]}.",
                param,
            )
    fmt = IMAGE_FORMATS[image.content_type or "image/png"]
    return {"format": fmt, "source": {"bytes": image.base64()}}


def _shown(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with image bytes summarised for `raw_request`."""

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                k: f"<{len(v)} base64 characters>"
                if k == "bytes" and isinstance(v, str)
                else walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    result: dict[str, Any] = walk(body)
    return result


def _luma_shape(dims: tuple[int, int]) -> tuple[str, str] | None:
    for ratio in LUMA_RATIOS:
        for resolution in LUMA_HEIGHTS:
            if _luma_size(ratio, resolution) == f"{dims[0]}x{dims[1]}":
                return ratio, resolution
    return None


def _luma_size(ratio: str, resolution: str) -> str | None:
    """The frame Luma renders: the resolution is the short side *(inferred)*."""
    w, _, h = ratio.partition(":")
    short = LUMA_HEIGHTS.get(resolution)
    if not short or not w.isdigit() or not h.isdigit():
        return None
    wide, high = int(w), int(h)
    if wide >= high:
        return f"{round(short * wide / high / 2) * 2}x{short}"
    return f"{short}x{round(short * high / wide / 2) * 2}"
