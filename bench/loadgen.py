"""Open-loop HTTP/1.1 load at a fixed rate (no coordinated omission), or closed-loop batches.

Fixed rate: request i is due at t0 + i/rate whatever the server does; its latency runs from
the moment it is dispatched (perf_counter, not the event loop's millisecond clock), and a
request that finds no idle connection waits in a queue that counts towards its latency, so a
server that falls behind is charged for the queueing it causes. Requests go out on keep-alive
connections (a pool that grows up to `max_connections`); responses are parsed with httptools.
Closed mode keeps `concurrency` requests in flight for `count` requests (or, with count 0, for
`seconds`) and can keep the `id` of each JSON answer (how the bench collects the ids LiteLLM
hands out); it is also the saturation fallback where wrk is missing.

Run: `python -m bench.loadgen SPEC.json` (see `Spec`); prints one JSON result line.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httptools
import orjson
import uvloop


@dataclass
class Spec:
    host: str
    port: int
    method: str
    paths: list[str]  # cycled
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    mode: str = "rate"  # rate | closed
    rate: float = 1000.0
    seconds: float = 3.0
    count: int = 0
    concurrency: int = 16
    max_connections: int = 512
    timeout: float = 30.0
    keep_ids: bool = False


@dataclass
class Result:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    status: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    max_ms: float = 0.0
    seconds: float = 0.0
    achieved_rps: float = 0.0
    ids: list[str] = field(default_factory=list)


def build_requests(spec: Spec) -> list[bytes]:
    body = spec.body.encode() if spec.body is not None else b""
    head = "".join(f"{k}: {v}\r\n" for k, v in spec.headers.items())
    head += f"Host: {spec.host}:{spec.port}\r\n"
    if body or spec.method in ("POST", "PUT", "PATCH"):
        head += f"Content-Length: {len(body)}\r\n"
    return [f"{spec.method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body for path in spec.paths]


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.started = 0.0
        self.body: list[bytes] = []
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.fail()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.busy:
            self.fail()
        self.gen.lost(self)

    def on_body(self, body: bytes) -> None:
        if self.gen.spec.keep_ids:
            self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        keep = self.parser.should_keep_alive()
        body, self.body = b"".join(self.body), []
        self.busy = False
        self.gen.finished(self, status, body)
        if not keep and self.transport is not None:
            self.transport.close()

    def send(self, payload: bytes, started: float) -> None:
        assert self.transport is not None
        self.busy = True
        self.started = started
        self.transport.write(payload)

    def fail(self) -> None:
        if self.busy:
            self.busy = False
            self.gen.failed(self)
        if self.transport is not None:
            self.transport.close()


class Generator:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.requests = build_requests(spec)
        self.loop = asyncio.get_running_loop()
        self.idle: list[Conn] = []
        self.pending: collections.deque[tuple[bytes, float]] = collections.deque()
        self.open = 0
        self.connecting = 0
        self.latencies: list[float] = []
        self.result = Result()
        self.outstanding = 0
        self.all_done = asyncio.Event()
        self.next_index = 0
        self.closed_loop = False
        self.deadline = 0.0
        self.scheduling_done = False

    def payload(self) -> bytes:
        req = self.requests[self.next_index % len(self.requests)]
        self.next_index += 1
        return req

    async def connect(self) -> None:
        self.connecting += 1
        try:
            _, conn = await self.loop.create_connection(
                lambda: Conn(self), self.spec.host, self.spec.port
            )
        except OSError:
            self.connecting -= 1
            if self.pending:
                _payload, started = self.pending.popleft()
                self.record_error(started)
            return
        self.connecting -= 1
        self.open += 1
        self.release(conn)

    def dispatch(self, payload: bytes, started: float) -> None:
        self.result.sent += 1
        self.outstanding += 1
        if self.idle:
            self.idle.pop().send(payload, started)
            return
        self.pending.append((payload, started))
        if self.open + self.connecting < self.spec.max_connections:
            self.loop.create_task(self.connect())

    def release(self, conn: Conn) -> None:
        if conn.transport is None:
            return
        if self.pending:
            payload, started = self.pending.popleft()
            conn.send(payload, started)
        elif self.closed_loop and self.more():
            self.result.sent += 1
            self.outstanding += 1
            conn.send(self.payload(), time.perf_counter())
        else:
            self.idle.append(conn)

    def finished(self, conn: Conn, status: int, body: bytes) -> None:
        self.latencies.append(time.perf_counter() - conn.started)
        key = str(status)
        self.result.status[key] = self.result.status.get(key, 0) + 1
        if 200 <= status < 300:
            self.result.ok += 1
            if self.spec.keep_ids and body:
                with_id: Any = orjson.loads(body)
                self.result.ids.append(str(with_id["id"]))
        else:
            self.result.errors += 1
        self.done_one()
        self.release(conn)

    def record_error(self, started: float) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.result.errors += 1
        self.result.status["conn_error"] = self.result.status.get("conn_error", 0) + 1
        self.done_one()

    def failed(self, conn: Conn) -> None:
        self.record_error(conn.started)

    def lost(self, conn: Conn) -> None:
        self.open -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        if self.pending and self.open + self.connecting < self.spec.max_connections:
            self.loop.create_task(self.connect())

    def more(self) -> bool:
        """Closed loop: whether another request is still to be sent."""
        if self.spec.count:
            return self.result.sent < self.spec.count
        return time.perf_counter() < self.deadline

    def done_one(self) -> None:
        self.outstanding -= 1
        drained = not self.closed_loop or not self.more()
        if self.outstanding == 0 and self.scheduling_done and drained:
            self.all_done.set()

    async def warm(self, n: int) -> None:
        await asyncio.gather(*(self.connect() for _ in range(n)))

    async def run(self) -> Result:
        spec = self.spec
        await self.warm(min(spec.concurrency, spec.max_connections))
        clock = time.perf_counter
        t0 = clock()
        if spec.mode == "rate":
            total = max(1, int(spec.rate * spec.seconds))
            i = 0
            while i < total:
                due = min(total, int((clock() - t0) * spec.rate) + 1)
                while i < due:
                    self.dispatch(self.payload(), clock())
                    i += 1
                await asyncio.sleep(max(0.0, t0 + i / spec.rate - clock()))
        else:
            self.closed_loop = True
            self.deadline = clock() + spec.seconds
            for conn in list(self.idle):
                self.idle.remove(conn)
                self.release(conn)
            if not spec.count:
                await asyncio.sleep(spec.seconds)
        self.scheduling_done = True
        if self.outstanding or (self.closed_loop and self.more()):
            try:
                await asyncio.wait_for(self.all_done.wait(), spec.timeout)
            except TimeoutError:
                self.result.errors += self.outstanding
                self.result.status["timeout"] = self.outstanding
        elapsed = clock() - t0
        lat = sorted(self.latencies)
        r = self.result
        r.seconds = elapsed
        r.achieved_rps = r.ok / elapsed if elapsed else 0.0
        if lat:
            r.p50_ms = lat[len(lat) // 2] * 1000
            r.p99_ms = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
            r.mean_ms = sum(lat) / len(lat) * 1000
            r.max_ms = lat[-1] * 1000
        return r


async def _main(spec: Spec) -> Result:
    gen = Generator(spec)
    if spec.mode == "closed":
        # in closed mode every finished request frees its connection for the next one
        gen.spec.max_connections = spec.concurrency
    return await gen.run()


def run_spec(spec: Spec) -> Result:
    return uvloop.run(_main(spec))


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    with open(args[0]) as fh:
        spec = Spec(**json.load(fh))
    started = time.monotonic()
    result = run_spec(spec)
    out = asdict(result)
    out["wall_seconds"] = time.monotonic() - started
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
