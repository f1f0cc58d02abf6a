"""The measurements: saturation with wrk, latency at a fixed rate, streaming, all per target.

Each run samples the target's process tree: CPU seconds (utime+stime from /proc) divided by
the requests it served, and peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import wrk
from .procs import Sampler
from .targets import ROOT, Target


@dataclass(frozen=True)
class Profile:
    """How long and how hard each kind of run goes (full and --quick differ only here)."""

    name: str
    wrk_seconds: float
    wrk_connections: int
    fixed_rate: float
    fixed_seconds: float
    content_downloads: int
    scale_sizes: tuple[int, ...]
    scale_seconds: float
    pool_size: int
    max_delete_rps: float  # sizes the fresh ids a delete run gets


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    method: str
    path: str  # `{id}` is replaced by an id of `ids_kind`
    ids_kind: str | None = None
    body: str | None = None


CREATE_BODY = (
    '{{"model": "{model}", "prompt": "a bench video {kind}", "seconds": "4", "size": "720x1280"}}'
)

# Issue 19 measures a full page: 100 rows (the most one request may ask for).
LIST = Workload("list", "list (GET /v1/videos?limit=100)", "GET", "/v1/videos?limit=100")
RETRIEVE = Workload(
    "retrieve", "retrieve (finished, from the store)", "GET", "/v1/videos/{id}", "scale"
)
WORKLOADS = (
    Workload("create", "create (POST /v1/videos, JSON)", "POST", "/v1/videos", body=CREATE_BODY),
    Workload(
        "retrieve_running",
        "retrieve, running job (upstream call)",
        "GET",
        "/v1/videos/{id}",
        "running",
    ),
    Workload(
        "retrieve_finished",
        "retrieve, finished job (videogate: from its store)",
        "GET",
        "/v1/videos/{id}",
        "finished",
    ),
    Workload("delete", "delete (distinct existing jobs)", "DELETE", "/v1/videos/{id}", "delete"),
)
CONTENT_LABEL = "content: 200 MB video streamed"
DIRECT_MAX_RPS = 150_000


@dataclass
class Measure:
    """One workload on one target."""

    target: str
    workload: str
    rps: float | None = None
    clean: bool = False  # the saturation run had no error (100% success)
    success_pct: float | None = None
    connections: int | None = None
    p50_ms: float | None = None  # at the fixed rate
    p99_ms: float | None = None
    fixed_rate: float | None = None  # the rate the latency was measured at
    fixed_ok_pct: float | None = None
    fixed_achieved_rps: float | None = None
    cpu_ms_per_req: float | None = None
    peak_rss_mb: float | None = None
    start_rss_mb: float | None = None
    mb_per_s: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _paths(target: Target, wl: Workload, n: int) -> list[str]:
    if wl.ids_kind is None:
        return [wl.path]
    return [wl.path.replace("{id}", i) for i in target.ids(wl.ids_kind, n)]


def _body(target: Target, wl: Workload) -> str | None:
    if wl.body is None:
        return None
    return wl.body.format(model=target.model, kind="run")


def saturate(
    target: Target, wl: Workload, prof: Profile, work: Path
) -> tuple[wrk.WrkResult, Sampler]:
    """wrk at `prof.wrk_connections`, then fewer connections until a run is 100% successful."""
    runs: list[tuple[wrk.WrkResult, Sampler]] = []
    for connections in (prof.wrk_connections, max(4, prof.wrk_connections // 4)):
        ids_file = None
        ids: list[str] = []
        if wl.ids_kind is not None:
            n = prof.pool_size
            if wl.ids_kind == "delete":  # each id is deleted once: enough for the fastest run
                cap = DIRECT_MAX_RPS if target.kind == "direct" else prof.max_delete_rps
                n = int(cap * (prof.wrk_seconds + 1))
            ids = target.ids(wl.ids_kind, n)
            ids_file = work / f"ids_{target.kind}_{wl.key}.txt"
            ids_file.write_text("\n".join(ids) + "\n")
        body_file = None
        body = _body(target, wl)
        headers = dict(target.headers)
        if body is not None:
            body_file = work / f"body_{target.kind}_{wl.key}.json"
            body_file.write_text(body)
            headers["Content-Type"] = "application/json"
        prefix, _, suffix = wl.path.partition("{id}")
        with Sampler(target.pids()) as sampler:
            if not wrk.available():
                result = closed_loop(target, wl, prof, work, connections, ids, body, headers)
                runs.append((result, sampler))
                break
            result = wrk.run(
                f"http://127.0.0.1:{target.port}",
                method=wl.method,
                prefix=prefix if wl.ids_kind else wl.path,
                suffix=suffix if wl.ids_kind else "",
                ids_file=ids_file,
                body_file=body_file,
                headers=headers,
                seconds=prof.wrk_seconds,
                connections=connections,
                threads=2,
                workdir=work,
            )
        runs.append((result, sampler))
        if result.clean(wl.ids_kind == "delete"):
            break
    return runs[-1]


def closed_loop(
    target: Target,
    wl: Workload,
    prof: Profile,
    work: Path,
    connections: int,
    ids: list[str],
    body: str | None,
    headers: dict[str, str],
) -> wrk.WrkResult:
    """Saturation with bench.loadgen's closed loop, where wrk is not installed."""
    paths = [wl.path.replace("{id}", i) for i in ids] if ids else [wl.path]
    spec = {
        "host": "127.0.0.1",
        "port": target.port,
        "method": wl.method,
        "paths": paths,
        "headers": headers,
        "body": body,
        "mode": "closed",
        "seconds": prof.wrk_seconds,
        "concurrency": connections,
    }
    r = loadgen(spec, work, f"closed_{target.kind}_{wl.key}")
    return wrk.WrkResult(
        requests=r["sent"],
        seconds=r["seconds"],
        errors=r["errors"],
        non2xx=r["errors"],
        p50_ms=r["p50_ms"],
        p99_ms=r["p99_ms"],
        wrapped=max(0, r["sent"] - len(paths)) if ids else 0,
        connections=connections,
    )


def loadgen(spec: dict[str, Any], work: Path, name: str) -> dict[str, Any]:
    """Run bench.loadgen in its own process (so it never shares a GIL with anything)."""
    spec_file = work / f"loadgen_{name}.json"
    spec_file.write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", str(spec_file)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=spec.get("seconds", 3) + spec.get("timeout", 30) + 60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def fixed_rate(
    target: Target, wl: Workload, prof: Profile, work: Path, rate: float | None = None
) -> tuple[dict[str, Any], Sampler]:
    rate = rate or prof.fixed_rate
    n = int(rate * prof.fixed_seconds) + 1
    paths = _paths(target, wl, n)
    headers = dict(target.headers)
    body = _body(target, wl)
    if body is not None:
        headers["Content-Type"] = "application/json"
    spec = {
        "host": "127.0.0.1",
        "port": target.port,
        "method": wl.method,
        "paths": paths,
        "headers": headers,
        "body": body,
        "rate": rate,
        "seconds": prof.fixed_seconds,
        "concurrency": 32,
        "max_connections": 512,
        "timeout": 30.0,
    }
    with Sampler(target.pids()) as sampler:
        result = loadgen(spec, work, f"{target.kind}_{wl.key}")
    return result, sampler


def run_workload(target: Target, wl: Workload, prof: Profile, work: Path) -> Measure:
    m = Measure(target=target.name, workload=wl.key)
    if wl.key in target.unsupported:
        m.note = target.unsupported[wl.key]
        return m
    sat, s1 = saturate(target, wl, prof, work)
    m.rps = sat.rps
    m.clean = sat.clean(wl.ids_kind == "delete")
    m.connections = sat.connections
    total = sat.requests + (sat.errors if sat.non2xx == 0 else 0)
    m.success_pct = 100.0 * (sat.requests - sat.non2xx) / total if total else 0.0
    m.cpu_ms_per_req = 1000 * s1.cpu / sat.requests if sat.requests else None
    if not m.clean:
        m.note = f"errors in saturation run: {sat.errors} (wrapped ids: {sat.wrapped})"
    # A target that cannot sustain the fixed rate would only measure its own queue growing:
    # measure it at half its saturation throughput instead (the report says so).
    rate = prof.fixed_rate
    if m.rps is not None and m.rps < 1.1 * rate:
        rate = float(max(5, round(m.rps * 0.5)))
    m.fixed_rate = rate
    fixed, s2 = fixed_rate(target, wl, prof, work, rate)
    m.p50_ms, m.p99_ms = fixed["p50_ms"], fixed["p99_ms"]
    m.fixed_ok_pct = 100.0 * fixed["ok"] / fixed["sent"] if fixed["sent"] else 0.0
    m.fixed_achieved_rps = fixed["achieved_rps"]
    m.peak_rss_mb = max(s1.peak_rss, s2.peak_rss) / 2**20
    m.extra = {"wrk": asdict(sat), "fixed": {k: v for k, v in fixed.items() if k != "ids"}}
    return m


def content(target: Target, prof: Profile, work: Path) -> Measure:
    """Sequential downloads of the 200 MB video with curl; best MB/s and the RSS they cost."""
    m = Measure(target=target.name, workload="content")
    if "content" in target.unsupported:
        m.note = target.unsupported["content"]
        return m
    vid = target.ids("content", 1)[0]
    url = f"http://127.0.0.1:{target.port}/v1/videos/{vid}/content"
    argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]
    for name, value in target.headers.items():
        argv += ["-H", f"{name}: {value}"]
    speeds: list[float] = []
    with Sampler(target.pids(), interval=0.02) as sampler:
        for _ in range(prof.content_downloads):
            out = subprocess.run([*argv, url], capture_output=True, text=True, check=False)
            code, size, seconds = out.stdout.split()
            if code != "200" or int(size) != 200 * 2**20:
                m.note = f"download failed: HTTP {code}, {size} bytes"
                break
            speeds.append(int(size) / 2**20 / float(seconds))
    m.mb_per_s = max(speeds) if speeds else None
    m.clean = len(speeds) == prof.content_downloads
    m.start_rss_mb = sampler.start_rss / 2**20
    m.peak_rss_mb = sampler.peak_rss / 2**20
    m.cpu_ms_per_req = 1000 * sampler.cpu / len(speeds) if speeds else None
    m.extra = {"speeds_mb_s": speeds}
    return m


def log_measure(target: Target, wl: Workload, m: Measure, log: Any = print) -> None:
    log(
        f"  {target.name:<22} {wl.key:<18} "
        + (f"{m.rps:>9,.0f} rps " if m.rps is not None else f"{'n/a':>13} ")
        + (f"p50 {m.p50_ms:6.2f} p99 {m.p99_ms:7.2f} ms " if m.p50_ms is not None else "")
        + (f"cpu {m.cpu_ms_per_req:.3f} ms/req " if m.cpu_ms_per_req else "")
        + ("ok" if m.clean else m.note)
    )


def run_all(target: Target, prof: Profile, work: Path, log: Any) -> list[Measure]:
    out = []
    for wl in WORKLOADS:
        m = run_workload(target, wl, prof, work)
        log_measure(target, wl, m, log)
        out.append(m)
    m = content(target, prof, work)
    log(
        f"  {target.name:<22} {'content':<18} "
        + (f"{m.mb_per_s:,.0f} MB/s " if m.mb_per_s else "n/a ")
        + (f"rss {m.start_rss_mb:.0f}->{m.peak_rss_mb:.0f} MB " if m.peak_rss_mb else "")
        + m.note
    )
    out.append(m)
    return out
