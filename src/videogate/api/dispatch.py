"""A direct route table for the `/v1/videos` surface, consulted before Starlette's router.

Starlette tries each route's regex in turn and wraps every request in three exception layers,
about 12% of a create's CPU in the bench profile. The six video routes have fixed shapes, so
splitting the path finds them. Everything else still goes through Starlette: the admin,
governance and cache routes, wrong methods (405), HEAD, trailing slashes and empty ids (404),
and apps mounted under a `root_path`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
OnError = Callable[[Request, Exception], Awaitable[Response]]
Hit = tuple[Handler, dict[str, str]]

ID = "{video_id}"  # the path parameters, named as in Starlette's routes
CHARACTER_ID = "{character_id}"


class VideoRoutes:
    """`(method, shape)` → handler, where shape is "", "{video_id}", "{video_id}/<action>",
    a fixed word ("edits") or "<word>/{param}" ("characters/{character_id}") under each of
    `prefixes` + "/videos". Fixed words are tried before ids (a video id holds a ':')."""

    def __init__(
        self,
        prefixes: Iterable[str],
        routes: dict[tuple[str, str], Handler],
        on_error: OnError,
    ) -> None:
        # longest first, so "/openai/v1/videos" is not mistaken for "" + "/openai…"
        self.roots = sorted((p + "/videos" for p in prefixes), key=len, reverse=True)
        self.routes = routes
        self.on_error = on_error
        self.fixed = {k: h for k, h in routes.items() if k[1] and "{" not in k[1]}
        # (method, word) -> (handler, parameter name) for "<word>/{param}" shapes
        self.nested: dict[tuple[str, str], tuple[Handler, str]] = {}
        for (method, shape), handler in routes.items():
            word, slash, param = shape.partition("/")
            if slash and "{" not in word and param.startswith("{") and param.endswith("}"):
                self.nested[(method, word)] = (handler, param[1:-1])

    def match(self, method: str, path: str) -> Hit | None:
        for root in self.roots:
            if path.startswith(root):
                rest = path[len(root) :]
                break
        else:
            return None
        if not rest:
            handler = self.routes.get((method, ""))
            return None if handler is None else (handler, {})
        if rest[0] != "/":
            return None
        fixed = self.fixed.get((method, rest[1:]))
        if fixed is not None:
            return fixed, {}
        video_id, slash, action = rest[1:].partition("/")
        if not video_id:
            return None
        if slash and action and "/" not in action:
            nested = self.nested.get((method, video_id))
            if nested is not None:
                return nested[0], {nested[1]: action}
        handler = self.routes.get((method, f"{ID}/{action}" if slash else ID))
        return None if handler is None else (handler, {"video_id": video_id})

    async def run(self, hit: Hit, scope: Scope, receive: Receive, send: Send) -> None:
        """Call the handler; an exception before the response exists becomes its envelope.
        One raised while a body streams propagates, and the server drops the connection,
        as it would under Starlette (the status line is already sent)."""
        handler, scope["path_params"] = hit
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except Exception as exc:  # handlers envelope their own errors; this is a backstop
            response = await self.on_error(request, exc)
        await response(scope, receive, send)
