"""`python -m bench` (`make bench`): direct vs videogate vs LiteLLM, side by side, in one run.

Starts a loopback upstream, videogate in several variants (uvicorn/granian, SQLite/PG, one or
two worker processes) and LiteLLM's proxy, drives each with the same workloads, and writes
bench/results/latest.md (`--quick`: tiny durations, LiteLLM only if already installed,
bench/results/quick.md). `--profile` adds py-spy profiles of the hot paths.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata as md
import importlib.util
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from . import active_jobs, content, litellm, pyspy, report, seed, wrk
from .measure import (
    LIST,
    RETRIEVE,
    WORKLOADS,
    Measure,
    Profile,
    log_measure,
    run_all,
    run_workload,
    saturate,
)
from .procs import Group, Service
from .targets import (
    ROOT,
    VENV_BIN,
    Target,
    Variant,
    VideogateSetup,
    direct_target,
    start_upstream,
    start_videogate,
)

RESULTS = ROOT / "bench" / "results"
GRANIAN_VERSION = "2.8.7"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:54329/postgres"

FULL = Profile(
    name="full",
    wrk_seconds=3,
    wrk_connections=64,
    fixed_rate=1000,
    fixed_seconds=3,
    content_downloads=3,
    scale_sizes=(10_000, 100_000, 1_000_000),
    scale_seconds=2,
    pool_size=20_000,
    max_delete_rps=8_000,
)
QUICK = Profile(
    name="quick",
    wrk_seconds=1,
    wrk_connections=16,
    fixed_rate=1000,
    fixed_seconds=0.5,
    content_downloads=1,
    scale_sizes=(100, 1_000),
    scale_seconds=1,
    pool_size=2_000,
    max_delete_rps=8_000,
)
FULL_VARIANTS = [
    Variant(server, db, workers)
    for db in ("sqlite", "pg")
    for workers in (1, 2)
    for server in ("uvicorn", "granian")
]


SCALE_SERVER, SCALE_WORKERS = "granian", 2  # the scale phase's deployment (see main)


def quick_variants(pg: bool) -> list[Variant]:
    """Both servers, both stores and a multi-process run, with what is here (no installs)."""
    server = "granian" if importlib.util.find_spec("granian") else "uvicorn"
    return [Variant("uvicorn", "sqlite", 1), Variant(server, "pg" if pg else "sqlite", 2)]


DEPS = (
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "granian",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "aiohttp",
    "orjson",
    "pydantic",
    "pyjwt",
)
Log = Callable[[str], None]


def log(msg: str) -> None:
    print(msg, flush=True)


# -- prerequisites ----------------------------------------------------------------------------
def ensure_granian() -> None:
    if importlib.util.find_spec("granian") is None:
        log(f"installing granian=={GRANIAN_VERSION} into the venv")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", f"granian=={GRANIAN_VERSION}"],
            check=True,
        )


DEFAULT_S3 = "http://127.0.0.1:54330"


def _s3_up(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=2).close()  # loopback moto
    except urllib.error.HTTPError:
        return True  # moto answers; a status is an answer
    except OSError:
        return False
    return True


def ensure_s3() -> str | None:
    """The S3-compatible store's endpoint (scripts/services.sh starts moto), or None."""
    url = os.environ.get("VIDEOGATE_TEST_S3_URL", DEFAULT_S3)
    if _s3_up(url):
        return url
    out = subprocess.run(
        [str(ROOT / "scripts" / "services.sh"), "start"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    for line in out.stdout.splitlines():
        if line.startswith("export VIDEOGATE_TEST_S3_URL="):
            url = line.split("=", 1)[1].strip()
    return url if _s3_up(url) else None


def run_bytes(
    group: Group, work: Path, upstream: Service, prof: Profile, pg_base: str | None, quick: bool
) -> dict[str, Any]:
    """Issue 19's byte and job workloads: a 200 MB mirrored file against a sendfile server,
    the same object in S3 (streamed and redirected) against a direct presigned GET, and many
    active jobs polled by worker processes."""
    n = prof.content_downloads
    servers = [("granian", "pathsend")] if importlib.util.find_spec("granian") else []
    servers.append(("uvicorn", "4 MiB pread chunks"))
    mirrored = content.run_mirrored(
        group,
        work,
        [(f"videogate {s} ({how})", Variant(s, "sqlite", 1), None) for s, how in servers],
        upstream.port,
        n,
        log,
    )
    endpoint = ensure_s3()
    s3: list[dict[str, Any]] = []
    if endpoint is None:
        log("S3-compatible store unavailable: the S3 rows are not measured")
    else:
        s3 = content.run_s3(
            group, work, Variant(servers[0][0], "sqlite", 1), upstream.port, endpoint, n, log
        )
    # quick (the test suite's run): one SQLite worker, a small backlog
    try:
        jobs = active_jobs.run(quick, pg_base, log, only=[("sqlite", 1)] if quick else None)
    except Exception as exc:  # the rest of the run is still worth its report
        log(f"active jobs failed: {exc!r}")
        jobs = []
    return {"mirrored": mirrored, "s3": s3, "s3_endpoint": endpoint, "active_jobs": jobs}


def _pg_up(url: str) -> bool:
    async def probe() -> bool:
        import asyncpg  # type: ignore[import-untyped,unused-ignore]

        try:
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def ensure_pg() -> tuple[str | None, bool]:
    """(PostgreSQL base URL or None, whether the bench started it and must stop it)."""
    url = os.environ.get("VIDEOGATE_TEST_PG_URL", DEFAULT_PG)
    if _pg_up(url):
        return url, False
    out = subprocess.run(
        [str(ROOT / "scripts" / "services.sh"), "start"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    for line in out.stdout.splitlines():
        if line.startswith("export VIDEOGATE_TEST_PG_URL="):
            url = line.split("=", 1)[1].strip()
    if _pg_up(url):
        return url, True
    log(f"PostgreSQL unavailable; PG variants are skipped:\n{out.stderr[-1000:]}")
    return None, True


def ensure_py_spy() -> Path:
    exe = VENV_BIN / "py-spy"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return exe


# -- facts ------------------------------------------------------------------------------------
def src_mtime() -> float:
    """The newest modification time under src/ (to notice edits made during a run)."""
    return max((p.stat().st_mtime for p in (ROOT / "src").rglob("*.py")), default=0.0)


def _version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def _pg_version(url: str | None) -> str:
    if url is None:
        return "not available"

    async def q() -> str:
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(q())


def machine_facts(pg_url: str | None, loadavg_start: str) -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "cores": f"{os.cpu_count()} ({cpu})",
        "memory": f"{int(mem) / 2**20:.0f} GiB",
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "videogate": f"{_version('videogate')} (commit {commit}"
        + (", src/ modified)" if dirty else ")"),
        "videogate deps": ", ".join(f"{d} {_version(d)}" for d in DEPS),
        "PostgreSQL": f"{_pg_version(pg_url)} (scripts/services.sh: fsync=off)",
        "LiteLLM": f"{litellm.version_of() or 'not installed'} (litellm[proxy], own venv)",
        "load tools": f"{wrk.version()}; bench.loadgen (open-loop, Python/uvloop/httptools)",
        "load average at start / end": loadavg_start,
    }


METHOD = [
    "All processes share this machine's cores: the load generator, the upstream and the "
    "gateway under test compete for the same CPUs.",
    "Saturation: wrk (2 threads, {conns} keep-alive connections, {secs:.0f} s); a run with "
    "any error or non-2xx answer is retried with a quarter of the connections; ⚠ marks a "
    "result that still had errors. Ids are walked from a list, each wrk thread its own share.",
    "Latency: bench.loadgen in its own process sends at a fixed {rate:,.0f} RPS for "
    "{fsecs:g} s, open loop (requests are dispatched on schedule whether or not earlier ones "
    "have answered; waiting for a free connection counts). A target whose saturation "
    "throughput is below 1.1x that rate is measured at half its saturation rate instead "
    "(noted as @N/s).",
    "CPU ms/req: utime+stime of the target's whole process tree (/proc/<pid>/stat, every "
    "worker process and thread) during the saturation run, divided by its requests. Peak RSS: "
    "the tree's summed RSS sampled every 50 ms (20 ms while streaming).",
    "Direct = the loopback upstream itself (raw asyncio Protocol on uvloop, {procs} "
    "SO_REUSEPORT processes); its RPS is the ceiling of this machine for each workload.",
    "videogate: auth on with a virtual key (Bearer) that has a monthly budget, so every "
    "create reserves its estimated cost against it, log level info, no access log; the "
    "background worker runs in one process only and is parked during the bench; running "
    "jobs are stale so every retrieve of one refreshes it from the upstream; finished jobs "
    "are answered from the store. Jobs for retrieve/delete/scale are inserted directly into "
    "the `videos` table (SQLAlchemy Core, INSERT … SELECT) under the bench key's id.",
    "LiteLLM: `litellm --config` with the upstream as an `openai/` video deployment "
    "(api_base on loopback), master key on, LITELLM_LOCAL_MODEL_COST_MAP=True, telemetry "
    "off, no access log; run in its own network namespace (unshare --net, loopback only) "
    "against its own instance of the same upstream, and only ever sent ids it returned. "
    "Every successful answer is matched against the upstream's request counters.",
    "Content: curl downloads the 200 MB video {downloads}x in a row; best MB/s reported; "
    "RSS start→peak shows whether the gateway buffers.",
]


# -- phases -----------------------------------------------------------------------------------
@contextlib.contextmanager
def running_videogate(
    group: Group,
    work: Path,
    variant: Variant,
    upstream: Service,
    pg_base: str | None,
    **options: Any,
) -> Iterator[tuple[Target, VideogateSetup]]:
    """A videogate variant for the `with` block: stopped after, its PG database dropped."""
    target, setup = start_videogate(group, work, variant, upstream.port, pg_base, **options)
    try:
        yield target, setup
    finally:
        group.stop(target.service)
        if setup.pg_name and pg_base:
            seed.pg_drop(pg_base, setup.pg_name)


def run_requests(target: Target, prof: Profile, work: Path) -> list[Measure]:
    """The request workloads only (no content download), each logged as it ends."""
    out = []
    for wl in WORKLOADS:
        out.append(run_workload(target, wl, prof, work))
        log_measure(target, wl, out[-1], log)
    return out


def run_variants(
    group: Group,
    work: Path,
    variants: list[Variant],
    upstream: Service,
    pg_base: str | None,
    prof: Profile,
    *,
    requests_only: bool = False,
) -> dict[str, list[Measure]]:
    out: dict[str, list[Measure]] = {}
    for variant in variants:
        if variant.db == "pg" and pg_base is None:
            continue
        log(f"videogate {variant.name}")
        with running_videogate(
            group, work, variant, upstream, pg_base, seed_pools=prof.pool_size
        ) as (target, _setup):
            out[variant.name] = (
                run_requests(target, prof, work)
                if requests_only
                else run_all(target, prof, work, log)
            )
    return out


def _cycler(pool: list[str]) -> Callable[[str, int], list[str]]:
    return lambda _kind, n: [pool[i % len(pool)] for i in range(n)]


def run_scale(
    group: Group,
    work: Path,
    variants: list[Variant],
    upstream: Service,
    pg_base: str | None,
    prof: Profile,
    *,
    src: Path | None = None,
    code: str = "",
    spy: Path | None = None,
) -> list[dict[str, Any]]:
    """Retrieve and list latency as the store grows to each of `prof.scale_sizes` jobs.

    `src`: another checkout's code (a baseline in the same run), named `code` in the rows;
    `spy`: py-spy every retrieve and list run into that directory (raw stacks and summaries).
    """
    rows: list[dict[str, Any]] = []
    sprof = replace(prof, wrk_seconds=prof.scale_seconds, fixed_seconds=prof.scale_seconds)
    rng = random.Random(7)
    for variant in variants:
        if variant.db == "pg" and pg_base is None:
            continue
        log(f"scale {variant.name}" + (f" ({code})" if code else ""))
        tag = "_scale" + ("_base" if code else "")  # a PG database name: lower case
        with running_videogate(
            group, work, variant, upstream, pg_base, tag=tag, seed_pools=0, src=src
        ) as (target, setup):
            have = 0
            for size in prof.scale_sizes:
                t = time.monotonic()
                seed.seed(
                    setup.db_url, "scale", size - have, owner=setup.owner, finished=True, start=have
                )
                log(f"  seeded {size:,} jobs ({time.monotonic() - t:.1f}s)")
                have = size
                sample = [
                    f"video_done_scale_{rng.randrange(size)}:openai"
                    for _ in range(min(prof.pool_size, size))
                ]
                target.ids = _cycler(sample)
                for wl in (RETRIEVE, LIST):
                    spied = None
                    if spy is not None:
                        name = f"{variant.slug}{'-' + code if code else ''}-{wl.key}-{size}"
                        raw = spy / f"{name}.txt"
                        spied = (raw, spy_on(target, raw, prof.scale_seconds))
                    m = run_workload(target, wl, sprof, work)
                    log(
                        f"  {wl.key:<9} @ {size:>9,} {m.rps or 0:>8,.0f} rps "
                        f"p50 {m.p50_ms or 0:.2f} p99 {m.p99_ms or 0:.2f} ms "
                        f"cpu {m.cpu_ms_per_req or 0:.3f} ms/req"
                    )
                    if spied is not None:
                        raw, proc = spied
                        proc.wait(prof.scale_seconds + 30)
                        text = pyspy.render(raw, 12) if raw.exists() else "(py-spy wrote nothing)"
                        raw.with_suffix(".summary.txt").write_text(text + "\n")
                    rows.append(
                        {
                            "backend": "SQLite" if variant.db == "sqlite" else "PostgreSQL",
                            "variant": variant.name + (f" ({code})" if code else ""),
                            "size": size,
                            "workload": wl.key,
                            "measure": m.as_dict(),
                        }
                    )
    return rows


def spy_on(target: Target, raw: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy (raw collapsed stacks, 250 Hz) on the target's newest process for `seconds`
    (the saturation run that follows)."""
    spy = subprocess.Popen(
        [
            *(str(ensure_py_spy()), "record", "--pid", str(target.pids()[-1])),
            *("--rate", "250", "--duration", str(max(1, int(seconds)))),
            *("--format", "raw", "--nonblocking", "--output", str(raw)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return spy


def baseline_src(ref: str, work: Path) -> Path:
    """The tree of commit `ref` (git archive) in the work directory: a baseline's code."""
    out = work / f"baseline_{ref.replace('/', '_')}"
    out.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", ref, "src"], capture_output=True, check=True, cwd=ROOT
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def scale_only(
    group: Group,
    work: Path,
    variants: list[Variant],
    upstream: Service,
    pg_base: str | None,
    prof: Profile,
    *,
    baseline: str | None,
    spy: bool,
) -> None:
    """`--scale`: the scale workloads only, with the code of `baseline` first when given
    (before / after in one run), then a table (bench/results/scale.md)."""
    spydir = RESULTS / "profile" if spy else None
    if spydir is not None:
        spydir.mkdir(parents=True, exist_ok=True)
    direct = direct_target(upstream)
    direct_list = run_workload(direct, LIST, prof, work)
    log_measure(direct, LIST, direct_list, log)
    direct_retrieve = run_workload(direct, RETRIEVE, prof, work)
    log_measure(direct, RETRIEVE, direct_retrieve, log)
    rows: list[dict[str, Any]] = []
    for variant in variants:
        if baseline is not None:
            src = baseline_src(baseline, work)
            rows += run_scale(
                group, work, [variant], upstream, pg_base, prof, src=src, code=baseline, spy=spydir
            )
        rows += run_scale(group, work, [variant], upstream, pg_base, prof, spy=spydir)
    directs: dict[str, dict[str, Any] | None] = {
        "retrieve": direct_retrieve.as_dict(),
        "list": direct_list.as_dict(),
    }
    text = report.scale_table(rows, directs)
    (RESULTS / "scale.md").write_text(text + "\n")
    print("\n" + text)


def at_litellm_rates(
    group: Group,
    work: Path,
    variant: Variant | None,
    upstream: Service,
    pg_base: str | None,
    prof: Profile,
    ll_measures: list[dict[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    """A variant's latency again, at the lower rate each LiteLLM latency was taken at (it
    cannot sustain the fixed rate), so the two are compared under the same load."""
    from .measure import fixed_rate

    rates = {
        m["workload"]: m["fixed_rate"]
        for m in ll_measures or []
        if m.get("fixed_rate") and m["fixed_rate"] != prof.fixed_rate
    }
    wanted = [wl for wl in WORKLOADS if wl.key in rates]
    if variant is None or not wanted or (variant.db == "pg" and pg_base is None):
        return {}
    log(f"videogate {variant.name} at LiteLLM's rates")
    out: dict[str, dict[str, Any]] = {}
    with running_videogate(
        group, work, variant, upstream, pg_base, tag="_same", seed_pools=prof.pool_size
    ) as (target, _setup):
        for wl in wanted:
            got, _ = fixed_rate(target, wl, prof, work, rates[wl.key])
            p50, p99 = got["p50_ms"], got["p99_ms"]
            out[wl.key] = {
                "variant": variant.name,
                "fixed_rate": rates[wl.key],
                "p50_ms": p50,
                "p99_ms": p99,
            }
            log(f"  {wl.key:<18} @{rates[wl.key]:,.0f}/s p50 {p50:.2f} p99 {p99:.2f} ms")
    return out


def loadgen_ceiling(direct: Target, prof: Profile, work: Path) -> dict[str, Any]:
    """How fast bench.loadgen itself can go (against the upstream), so 1,000 RPS is safe."""
    from .measure import fixed_rate

    wl = next(w for w in WORKLOADS if w.key == "retrieve_finished")
    result, _ = fixed_rate(direct, wl, prof, work, rate=5 * prof.fixed_rate)
    return {k: v for k, v in result.items() if k != "ids"}


def profile_hot_paths(
    group: Group,
    work: Path,
    variants: list[Variant],
    upstream: Service,
    pg_base: str | None,
    prof: Profile,
    seconds: float,
) -> dict[str, str]:
    """py-spy (raw collapsed stacks, 250 Hz) on each hot path under wrk saturation."""
    exe = ensure_py_spy()
    outdir = RESULTS / "profile"
    outdir.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, str] = {}
    pprof = replace(prof, wrk_seconds=seconds)
    for variant in variants:
        if variant.db == "pg" and pg_base is None:
            continue
        with running_videogate(
            group, work, variant, upstream, pg_base, tag="_profile", seed_pools=prof.pool_size
        ) as (target, _setup):
            for wl in WORKLOADS:
                if wl.key == "retrieve_running":
                    continue
                # wall: every thread that is not idle; gil: only the thread holding the GIL
                for mode, extra in (("wall", []), ("gil", ["--gil"])):
                    name = f"{variant.slug}-{wl.key}-{mode}"
                    raw = outdir / f"{name}.txt"
                    spy = subprocess.Popen(
                        [
                            *(str(exe), "record", "--pid", str(target.pids()[-1])),
                            *("--rate", "250", "--duration", str(int(seconds))),
                            *("--format", "raw", "--nonblocking", "--output", str(raw), *extra),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(0.5)
                    sat, sampler = saturate(target, wl, pprof, work)
                    spy.wait(seconds + 30)
                    text = pyspy.render(raw, 15) if raw.exists() else "(py-spy wrote nothing)"
                    head = (
                        f"# {variant.name} {wl.key} ({mode}): {sat.rps:,.0f} rps under py-spy, "
                        f"{1000 * sampler.cpu / max(1, sat.requests):.3f} CPU ms/req\n"
                    )
                    (outdir / f"{name}.summary.txt").write_text(head + text + "\n")
                    summaries[name] = head + text
                    log(head.strip())
    return summaries


# -- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny durations (the test suite's)")
    parser.add_argument("--skip-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--profile", action="store_true", help="also py-spy the hot paths")
    parser.add_argument("--profile-only", action="store_true", help="only the py-spy profiles")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--only",
        metavar="SLUGS",
        help="comma-separated variants (e.g. uvicorn_pg_1w,granian_sqlite_2w): direct and "
        "these only, request workloads only, logged without a report (a quick A/B while tuning)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="only the scale workloads (retrieve and list as the store grows), for the "
        "variants in --only (default uvicorn_sqlite_1w,uvicorn_pg_1w); writes "
        "bench/results/scale.md",
    )
    parser.add_argument(
        "--baseline",
        metavar="GITREF",
        help="with --scale: also run each variant on the code of this commit first "
        "(before / after in one run)",
    )
    parser.add_argument(
        "--sizes", metavar="N,N,…", help="with --scale: store sizes (default: the profile's)"
    )
    args = parser.parse_args(argv)
    prof = QUICK if args.quick else FULL
    started = time.monotonic()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    loadavg_start = Path("/proc/loadavg").read_text().split()[:3]
    src_at_start = src_mtime()
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vgbench-"))
    group = Group()
    pg_base: str | None = None
    pg_started = False
    try:
        if args.quick:  # no installs, no network: use what is here
            url = os.environ.get("VIDEOGATE_TEST_PG_URL", DEFAULT_PG)
            pg_base = url if _pg_up(url) else None
            variants = quick_variants(pg_base is not None)
        else:
            wrk.ensure_installed()
            ensure_granian()
            pg_base, pg_started = ensure_pg()
            variants = FULL_VARIANTS
        upstream = start_upstream(group, work)
        if args.scale:
            wanted = (args.only or "uvicorn_sqlite_1w,uvicorn_pg_1w").split(",")
            picked = [v for v in FULL_VARIANTS if v.slug in wanted]
            if len(picked) != len(wanted):
                parser.error(f"--only takes these: {', '.join(v.slug for v in FULL_VARIANTS)}")
            if args.sizes:
                prof = replace(prof, scale_sizes=tuple(int(n) for n in args.sizes.split(",")))
            scale_only(
                group,
                work,
                picked,
                upstream,
                pg_base,
                prof,
                baseline=args.baseline,
                spy=args.profile,
            )
            return 0
        if args.only:
            wanted = args.only.split(",")
            picked = [v for v in FULL_VARIANTS if v.slug in wanted]
            if len(picked) != len(wanted):
                parser.error(f"--only takes these: {', '.join(v.slug for v in FULL_VARIANTS)}")
            run_requests(direct_target(upstream), prof, work)
            run_variants(group, work, picked, upstream, pg_base, prof, requests_only=True)
            return 0
        if args.profile_only:
            profile_hot_paths(
                group,
                work,
                [Variant("uvicorn", "sqlite", 1), Variant("uvicorn", "pg", 1)],
                upstream,
                pg_base,
                prof,
                10,
            )
            return 0
        want_litellm = not args.skip_litellm and (not args.quick or litellm.installed())
        if want_litellm and not args.quick:
            litellm.ensure_venv(log)
        log(f"direct (upstream on port {upstream.port})")
        direct = direct_target(upstream)
        direct_measures = run_all(direct, prof, work, log)
        direct_measures.append(run_workload(direct, LIST, prof, work))  # the scale list's limit
        log_measure(direct, LIST, direct_measures[-1], log)
        ceiling = loadgen_ceiling(direct, prof, work)
        log(
            f"  loadgen ceiling check: {ceiling['achieved_rps']:,.0f} rps, "
            f"p99 {ceiling['p99_ms']:.2f} ms"
        )
        vg = run_variants(group, work, variants, upstream, pg_base, prof)
        vg_dicts = {k: [m.as_dict() for m in v] for k, v in vg.items()}
        best = report.best_variant(vg_dicts)
        ll_result: dict[str, Any] = {
            "skipped": "--skip-litellm"
            if args.skip_litellm
            else "not installed (quick mode never installs it)"
        }
        if want_litellm:
            log(f"LiteLLM {litellm.VERSION} (own network namespace)")
            ll_result = litellm.run_phase(
                {
                    "profile": asdict(prof),
                    "workers": [1] if args.quick else [1, 2],
                    "pool": 20 if args.quick else 200,
                },
                work,
                log,
            )
            for run in ll_result["runs"]:
                log(
                    f"  {run['label']}: upstream saw {run['upstream_seen']}, "
                    f"LiteLLM answered {run['litellm_ok']}; all hit upstream: "
                    f"{run['all_hit_upstream']}; egress log lines: {len(run['egress_lines'])}"
                )
        same_rate = {
            v.name: at_litellm_rates(
                group, work, v, upstream, pg_base, prof, report.litellm_measures(ll_result)
            )
            for v in variants
        }
        if args.quick:  # the test suite's run: SQLite only, whichever variant did best
            pick = report.best_variant({n: ms for n, ms in vg_dicts.items() if "SQLite" in n})
            scale_variants = [v for v in variants if v.name == pick]
        else:
            # A fixed deployment, not the run's best pick (which changed from run to run
            # with the noise): a list is CPU work in the gateway process, so the dashboard
            # deployment is one worker process per core.
            scale_variants = [Variant(SCALE_SERVER, db, SCALE_WORKERS) for db in ("sqlite", "pg")]
        scale_rows = run_scale(group, work, scale_variants, upstream, pg_base, prof)
        log("bytes and jobs (issue 19)")
        byte_rows = run_bytes(group, work, upstream, prof, pg_base, args.quick)
        profiles = {}
        if args.profile:
            profiles = profile_hot_paths(
                group,
                work,
                [Variant("uvicorn", "sqlite", 1), Variant("uvicorn", "pg", 1)],
                upstream,
                pg_base,
                prof,
                10,
            )
        facts = machine_facts(pg_base, "")
        facts["load average at start / end"] = (
            f"{' '.join(loadavg_start)} / {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
        )
        if src_mtime() > src_at_start:
            edited = dt.datetime.fromtimestamp(src_mtime(), dt.UTC).strftime("%H:%M:%S UTC")
            facts["WARNING"] = (
                f"src/ was edited while this run was going on (last at {edited}): later "
                "variants ran newer code than earlier ones; rerun on a quiet tree"
            )
        ll_note = []
        for run in ll_result.get("runs", []):
            ll_note.append(
                f"{run['label']}: started in {run['startup_seconds']:.0f} s; "
                f"upstream requests seen {run['upstream_seen']}, successful LiteLLM answers "
                f"{run['litellm_ok']} → every answer hit the loopback upstream: "
                f"{run['all_hit_upstream']}; isolated network namespace: "
                f"{ll_result.get('isolated')}; log lines naming outside hosts: "
                f"{len(run['egress_lines'])}"
            )
        method = [
            line.format(
                conns=prof.wrk_connections,
                secs=prof.wrk_seconds,
                rate=prof.fixed_rate,
                fsecs=prof.fixed_seconds,
                procs=2,
                downloads=prof.content_downloads,
            )
            for line in METHOD
        ]
        method.append(
            f"bench.loadgen's own ceiling: asked for {5 * prof.fixed_rate:,.0f} RPS against the "
            f"upstream it delivered {ceiling['achieved_rps']:,.0f} RPS at p99 "
            f"{ceiling['p99_ms']:.2f} ms."
        )
        method.extend(ll_note)
        results = {
            "profile": asdict(prof),
            "started": stamp,
            "elapsed_seconds": time.monotonic() - started,
            "direct": [m.as_dict() for m in direct_measures],
            "videogate": vg_dicts,
            "best_variant": best,
            "litellm": ll_result,
            "same_rate": same_rate,
            "scale": scale_rows,
            "bytes": byte_rows,
            "loadgen_ceiling": ceiling,
            "facts": facts,
            "method": method,
            "profiles": profiles,
        }
        text = report.render(results)
        name = "quick" if args.quick else "latest"
        (RESULTS / f"{name}.md").write_text(text)
        (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1, default=str))
        print("\n" + text)
        log(f"written to {RESULTS / (name + '.md')} in {time.monotonic() - started:.0f} s")
        return 0
    finally:
        group.stop_all()
        if pg_started:
            subprocess.run([str(ROOT / "scripts" / "services.sh"), "stop"], check=False, cwd=ROOT)
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
