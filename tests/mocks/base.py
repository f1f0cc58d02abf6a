"""Shared machinery for loopback provider mocks: a threaded aiohttp server plus fault injection.

Every provider mock (OpenAI, Runway, Luma, Veo, ...) needs the same plumbing: a real socket on
127.0.0.1 that sync tests, async tests and gateway subprocesses can all reach, a record of what
the client actually sent, and a way to make the next few requests misbehave (status codes,
garbage bodies, hangs). `MockServer` owns all of that; a subclass only adds routes, state and,
if its provider does not use OpenAI's `{"error": {...}}` envelope, its own `error_body`.

The server runs on its own event loop in a daemon thread, so it never competes with the test's
loop, and everything a test calls from outside (`fail_next`, `requests`, ...) is guarded by a
lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")
REQUEST_ID = web.RequestKey("request_id", str)

GARBAGE_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n{not json"
DEFAULT_FAILURES: dict[int, tuple[str, str, str | None]] = {
    # status -> (message, type, code); shaped like the OpenAI platform's own answers.
    400: ("Bad request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "invalid_request_error", None),
    404: ("Not found.", "invalid_request_error", None),
    409: ("Conflict.", "invalid_request_error", None),
    429: (
        "Rate limit reached for requests. Please try again later.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


class RecordedRequest(NamedTuple):
    """One request as the client sent it; `path` includes the query string, header names
    are lower-cased so lookups do not depend on the client's spelling."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class FormPart:
    """One multipart/urlencoded field; `filename` is set for file parts."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    @property
    def is_file(self) -> bool:
        return self.filename is not None


class ApiError(Exception):
    """Raised by route handlers; the middleware turns it into the provider's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})


@dataclass
class _Rule:
    """A pending injection; `count` is how many more matching requests it applies to."""

    count: int
    path_contains: str | None
    method: str | None
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_contains is None or self.path_contains in path


class MockServer:
    """A provider mock served from a background thread; subclass and implement `add_routes`.

    Request pipeline (middleware): record -> pending hang -> pending injected response ->
    auth (`is_authorized`, except under `public_paths`) -> route handler. Hangs and injected
    responses are separate queues, so `hang_next(5)` followed by `fail_next(503)` delays *and*
    fails the same request.
    """

    request_id_header = "x-request-id"
    # Path prefixes served without credentials (a CDN, pre-signed links): auth is not checked.
    public_paths: tuple[str, ...] = ()
    # The Content-Type of the provider's error envelopes (injected failures stay JSON).
    error_content_type = "application/json"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        auth_header: str = "authorization",
        prefix: str = "",
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
        shutdown_timeout: float = 1.0,
    ) -> None:
        self.api_key = api_key
        self.auth_header = auth_header.lower()
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.host = host
        self.clock = clock
        self.shutdown_timeout = shutdown_timeout
        self.requests: list[RecordedRequest] = []
        self.handler_errors: list[BaseException] = []
        self.lock = threading.RLock()
        self._responses: list[_Rule] = []
        self._hangs: list[_Rule] = []
        self._holds: list[_Rule] = []
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._rendered: dict[str, Any] = {}
        self._render_lock = threading.RLock()  # a render may use another rendered value

    # -- subclass hooks -------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the provider's routes; use `self.path(...)` to apply the prefix."""
        raise NotImplementedError

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        """The JSON error envelope; OpenAI's by default, override for other providers."""
        return {"error": {"message": message, "type": type, "param": param, "code": code}}

    def is_authorized(self, request: web.Request) -> bool:
        """Bearer token (`auth_header="authorization"`) or a raw key header (e.g. `api-key`)."""
        if self.api_key is None:
            return True
        value = request.headers.get(self.auth_header)
        if self.auth_header == "authorization":
            return value == f"Bearer {self.api_key}"
        return value == self.api_key

    def unauthorized(self, request: web.Request) -> web.Response:
        """The answer to a missing or wrong key."""
        return self.error_response(
            401,
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )

    def not_found_route(self, request: web.Request) -> web.Response:
        """The answer for a path/method the mock does not serve."""
        return self.error_response(404, f"Invalid URL ({request.method} {request.path})")

    def new_request_id(self) -> str:
        return "req_" + uuid.uuid4().hex

    # -- helpers for subclasses -----------------------------------------------------------

    def path(self, suffix: str) -> str:
        """`suffix` under the configured prefix, e.g. "/videos" -> "/v1/videos"."""
        return self.prefix + suffix

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
        body = self.error_body(status, message, type=type, param=param, code=code)
        merged = CIMultiDict(headers or {})
        merged.setdefault("Content-Type", self.error_content_type)
        return self.json_response(body, status=status, headers=merged)

    @staticmethod
    def json_response(
        body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        merged = CIMultiDict(headers or {})
        merged.setdefault("Content-Type", "application/json")
        return web.Response(body=json.dumps(body).encode(), status=status, headers=merged)

    def rendered(self, name: str, render: Callable[[], T]) -> T:
        """`render()`'s result, computed on first use and kept: media every job of this mock
        shares (rendering is slow enough to do once)."""
        with self._render_lock:
            if name not in self._rendered:
                self._rendered[name] = render()
            value: T = self._rendered[name]
            return value

    async def read_json(self, request: web.Request) -> Any:
        """The JSON body, or a 400 in the provider's envelope if it does not parse."""
        raw = await request.read()
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise ApiError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
            ) from None

    async def read_form(self, request: web.Request) -> list[FormPart]:
        """multipart/form-data or urlencoded fields, in order. Parsed from the recorded bytes
        (aiohttp's own `post()` cannot re-read a body the recorder already consumed)."""
        raw = await request.read()
        if request.content_type == "application/x-www-form-urlencoded":
            pairs = parse_qsl(raw.decode(), keep_blank_values=True)
            return [FormPart(k, v.encode()) for k, v in pairs]
        header = request.headers.get("content-type", "")
        message = email.message_from_bytes(
            b"Content-Type: " + header.encode() + b"\r\n\r\n" + raw, policy=email.policy.HTTP
        )
        if not message.is_multipart():
            raise ApiError(400, "Could not parse multipart form data.")
        parts: list[FormPart] = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                raise ApiError(400, "Multipart field is missing a name.")
            payload = part.get_payload(decode=True)
            parts.append(
                FormPart(
                    name=name,
                    data=payload if isinstance(payload, bytes) else b"",
                    filename=part.get_filename(),
                    content_type=part.get("content-type"),
                )
            )
        return parts

    # -- fault injection (thread-safe) ----------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        count: int = 1,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` matching requests with `status`. `body` None -> the
        provider's error envelope; bytes/str are sent raw; anything else as JSON."""
        with self.lock:
            self._responses.append(
                _Rule(count, path_contains, method, status, body, dict(headers or {}))
            )

    def garbage_next(
        self,
        count: int = 1,
        *,
        body: bytes = GARBAGE_BODY,
        content_type: str = "application/json",
        status: int = 200,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer 200 with an unparseable body. It claims to be JSON on purpose: SDKs (openai
        included) return non-JSON content types as plain text instead of failing."""
        self.fail_next(
            status,
            body,
            {"Content-Type": content_type},
            count=count,
            path_contains=path_contains,
            method=method,
        )

    def hang_next(
        self,
        seconds: float,
        count: int = 1,
        *,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Sleep `seconds` before answering the next matching requests (client timeouts).
        The sleep ends early when the server stops, so a hung test never blocks teardown."""
        with self.lock:
            self._hangs.append(_Rule(count, path_contains, method, delay=seconds))

    def hold_answer_next(
        self,
        seconds: float,
        count: int = 1,
        *,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Run the next matching requests' handlers (a create *is* made) but sleep
        `seconds` before answering: the upstream acted, the caller has not heard (kill -9
        tests). Ends early when the server stops."""
        with self.lock:
            self._holds.append(_Rule(count, path_contains, method, delay=seconds))

    def clear_injections(self) -> None:
        with self.lock:
            self._responses.clear()
            self._hangs.clear()
            self._holds.clear()

    def find_requests(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method and a substring of the path (with query)."""
        with self.lock:
            recorded = list(self.requests)
        return [
            r
            for r in recorded
            if (method is None or r.method == method.upper())
            and (path_contains is None or path_contains in r.path)
        ]

    @staticmethod
    def _take(rules: list[_Rule], method: str, path: str) -> _Rule | None:
        for rule in rules:
            if rule.matches(method, path):
                rule.count -= 1
                if rule.count <= 0:
                    rules.remove(rule)
                return rule
        return None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("mock server is not started")
        return self._port

    @property
    def origin(self) -> str:
        """Scheme, host and port, without the prefix."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL a client is configured with (origin + prefix)."""
        return self.origin + self.prefix

    def start(self) -> Self:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        sock.listen(128)
        sock.setblocking(False)
        self._port = sock.getsockname()[1]
        self._started.clear()
        self._thread = threading.Thread(
            target=self._serve,
            args=(sock,),
            name=f"{type(self).__name__}:{self._port}",
            daemon=True,
        )
        self._thread.start()
        self._started.wait(10)
        if self._start_error is not None:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError("mock server failed to start") from self._start_error
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            fut.result(self.shutdown_timeout + 5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            self._thread = None
            self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup(sock))
        except BaseException as exc:  # surfaced by start()
            self._start_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self, sock: socket.socket) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self.add_routes(app)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=self.shutdown_timeout
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the pipeline ---------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = self.new_request_id()
        request[REQUEST_ID] = request_id  # for streaming handlers, which prepare early
        response = await self._dispatch(request, handler)
        if not response.prepared:
            response.headers.setdefault(self.request_id_header, request_id)
        return response

    async def _dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self.lock:
            self.requests.append(RecordedRequest(request.method, request.path_qs, headers, body))
            hang = self._take(self._hangs, request.method, request.path_qs)
            injected = self._take(self._responses, request.method, request.path_qs)
            held = self._take(self._holds, request.method, request.path_qs)
        if hang is not None and self._stopping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), hang.delay)
        if injected is not None:
            return self._injected_response(injected)
        if not request.path.startswith(self.public_paths) and not self.is_authorized(request):
            return self.unauthorized(request)
        try:
            answer = await handler(request)
            if held is not None and self._stopping is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), held.delay)
            return answer
        except ApiError as err:
            return self.error_response(
                err.status,
                err.message,
                type=err.type,
                param=err.param,
                code=err.code,
                headers=err.headers,
            )
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            return self.not_found_route(request)
        except web.HTTPException as exc:  # e.g. 413 from aiohttp itself, in our envelope
            return self.error_response(exc.status, exc.reason)
        except Exception as exc:  # a mock bug: answer like a real 500 and keep it for asserts
            self.handler_errors.append(exc)
            traceback.print_exc()
            return self.error_response(500, f"mock handler crashed: {exc!r}", type="server_error")

    def _injected_response(self, rule: _Rule) -> web.Response:
        headers = dict(rule.headers)
        if rule.body is None:
            message, etype, code = DEFAULT_FAILURES.get(
                rule.status, (f"Injected HTTP {rule.status}.", "server_error", None)
            )
            body = self.error_body(rule.status, message, type=etype, param=None, code=code)
            return self.json_response(body, status=rule.status, headers=headers)
        if isinstance(rule.body, bytes | str):
            raw = rule.body.encode() if isinstance(rule.body, str) else rule.body
            merged = CIMultiDict(headers)
            merged.setdefault("Content-Type", "text/plain")
            return web.Response(body=raw, status=rule.status, headers=merged)
        return self.json_response(rule.body, status=rule.status, headers=headers)
