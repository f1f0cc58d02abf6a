"""Workload 3 of issue 19: many active jobs polled by `videogate worker` processes.

For each store · processes · jobs it seeds N running jobs (not yet due), starts the real
worker as `videogate worker` processes against a loopback upstream that answers polls at once
and logs each (`bench.jobs_upstream`), then runs phases on the same table:

- capacity: all N jobs due at once; polls/s per process while the backlog lasts.
- full / half load: jobs fall due at 2,000 / 1,000 polls/s per process (job k at t0 + k/R);
  lag = when the upstream saw the poll minus when the job was due. A job due in the window
  and never polled counts with the lag it had reached at the end.
- slow provider: the half load plus 1,000 jobs of a second provider whose upstream never
  answers, due first; the fast jobs' lag must stay within the target.

The providers' poll interval is an hour, so a job polled twice in a window is a duplicate
(two processes polled it, or one did twice). Targets: ≥ 2,000 polls/s per process, p99 lag
≤ 1 s at half load (also with the slow provider), no duplicates.

Run: `python -m bench.active_jobs [--quick] [--sizes 10000,100000] [--pg URL]
[--profile DIR]`; `run(quick, pg_url, log)` returns the rows as dicts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from videogate.store.db import make_engine, migrate
from videogate.store.models import videos

from . import seed
from .procs import Group, Sampler, Service, free_port
from .targets import ROOT, VENV_BIN, clean_env

TARGET_POLLS = 2000.0  # per worker process
TARGET_P99 = 1.0  # seconds, at half load
SLOW_JOBS = 1000
HOUR_MS = 3_600_000
Log = Callable[[str], None]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# -- the store ---------------------------------------------------------------------------
async def _seed(url: str, provider: str, prefix: str, count: int) -> None:
    """`count` running jobs of `provider`, upstream ids `video_run_<prefix>_<n>`, not due."""
    engine = create_async_engine(url)
    try:
        done = 0
        while done < count:
            n = min(seed.SERIES_CHUNK, count - done)
            counter = select(literal(done, Integer).label("n")).cte("counter", recursive=True)
            counter = counter.union_all(select(counter.c.n + 1).where(counter.c.n < done + n - 1))
            upstream = literal(f"video_run_{prefix}_", String) + cast(counter.c.n, String)
            values: dict[str, Any] = {
                "id": upstream + literal(f":{provider}", String),
                "provider": literal(provider, String),
                "upstream_id": upstream,
                "model_requested": literal(f"{provider}/sora-2", String),
                "model_deployment": literal("sora-2", String),
                "provider_key": literal("main", String),
                "owner": literal("vk_bench", String),
                "status": literal("in_progress", String),
                "progress": literal(50, Integer),
                "prompt": literal("a bench video", String),
                "size": literal("720x1280", String),
                "seconds": literal("4", String),
                "created_at": literal(int(time.time()), BigInteger),
                "updated_at": literal(time.time(), Float),
                "poll_failures": literal(0, Integer),
            }
            sel = select(*(v.label(k) for k, v in values.items())).select_from(counter)
            cols = [videos.c[str(c.name)] for c in sel.selected_columns]
            async with engine.begin() as conn:
                await conn.execute(insert(videos).from_select(cols, sel))
            done += n
    finally:
        await engine.dispose()


async def _schedule(url: str, provider: str, lead: float, rate: float | None, due: int) -> float:
    """`_park_and_schedule`, again when PostgreSQL picks it as a deadlock's victim: its
    bulk UPDATE of every row meets the running workers' batched writes in another order
    (seen once at 10^5 jobs and two workers, which ended the whole bench run)."""
    for attempt in range(5):
        try:
            return await _park_and_schedule(url, provider, lead, rate, due)
        except DBAPIError as exc:
            if "deadlock" not in str(exc) or attempt == 4:
                raise
            print(
                f"warning: scheduling deadlocked with a worker; again ({exc.orig})", file=sys.stderr
            )
    raise AssertionError("unreachable")


async def _park_and_schedule(
    url: str, provider: str, lead: float, rate: float | None, due: int
) -> float:
    """Park every job of `provider`, then make the first `due` (by seq) fall due from
    t0 = `lead` seconds after the parking committed: all at t0 (rate None) or job k at
    t0 + k/rate. Returns t0."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:  # parking 10^5 rows takes PostgreSQL seconds
            await conn.execute(
                update(videos)
                .where(videos.c.provider == provider)
                .values(next_poll_at=None, lease_owner=None, lease_until=None, poll_failures=0)
            )
            first = (
                await conn.execute(
                    select(func.min(videos.c.seq)).where(videos.c.provider == provider)
                )
            ).scalar_one()
        t0 = time.time() + lead
        step = 0.0 if rate is None else 1.0 / rate
        async with engine.begin() as conn:
            await conn.execute(
                update(videos)
                .where(videos.c.provider == provider, videos.c.seq < first + due)
                .values(next_poll_at=t0 + (videos.c.seq - first) * step)
            )
        if due and time.time() > t0:
            print(f"warning: scheduling took {time.time() - t0 + lead:.1f}s", file=sys.stderr)
        return t0
    finally:
        await engine.dispose()


# -- the processes -----------------------------------------------------------------------
def _config(data_dir: Path, db_url: str, fast: int, slow: int) -> Path:
    def provider(port: int) -> dict[str, Any]:
        return {
            "type": "openai",
            "base_url": f"http://127.0.0.1:{port}/v1",
            "poll_after_ms": HOUR_MS,
            "keys": [{"name": "main", "value": "sk-bench"}],
        }

    config = {
        "host": "127.0.0.1",
        "data_dir": str(data_dir),
        "database_url": db_url,
        "log_level": "warning",
        "assets": {"mirror": False},
        "providers": {"openai": provider(fast), "slow": provider(slow)},
    }
    path = data_dir / "videogate.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _start_worker(group: Group, work: Path, config: Path, n: int) -> Service:
    argv = [str(VENV_BIN / "videogate"), "worker", "--config", str(config)]
    # VG_BENCH_SRC: another checkout's src (a baseline measured with this bench)
    src = os.environ.get("VG_BENCH_SRC") or str(ROOT / "src")
    env = clean_env(PYTHONPATH=f"{src}:{ROOT}")
    # no port: started without waiting, then ready once its heartbeat row appears
    return group.start(
        f"worker{n}", argv, port=0, log=work / f"worker{n}.log", env=env, cwd=ROOT, wait=False
    )


async def _wait_workers(url: str, count: int, within: float = 60.0) -> None:
    engine = create_async_engine(url)
    beats = text("SELECT count(*) FROM worker_heartbeats")
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                n = (await conn.execute(beats)).scalar_one()
            if n >= count:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{count} worker(s) did not start in {within:.0f}s")
    finally:
        await engine.dispose()


class Upstream:
    def __init__(self, service: Service) -> None:
        self.url = f"http://127.0.0.1:{service.port}/_polls"

    def clear(self) -> None:
        httpx.delete(self.url, timeout=30)

    def polls(self) -> list[tuple[str, float]]:
        return [(v, t) for v, t in httpx.get(self.url, timeout=60).json()]


def _start_upstream(group: Group, work: Path, name: str, hang: bool) -> Service:
    port = free_port()
    argv = [sys.executable, "-m", "bench.jobs_upstream", "--port", str(port)]
    if hang:
        argv.append("--hang")
    return group.start(name, argv, port=port, log=work / f"{name}.log", env=clean_env(), cwd=ROOT)


# -- one phase ---------------------------------------------------------------------------
def _lags(
    polls: list[tuple[str, float]], prefix: str, t0: float, rate: float, due: int, end: float
) -> tuple[list[float], int, int]:
    """(lag of every job due before `end`, duplicates, polls) of one load phase."""
    head = f"video_run_{prefix}_"
    seen: Counter[int] = Counter()
    first: dict[int, float] = {}
    for vid, t in polls:
        if not vid.startswith(head):
            continue
        k = int(vid[len(head) :])
        seen[k] += 1
        first.setdefault(k, t)
    lags = []
    for k in range(due):
        at = t0 + k / rate
        if at > end:
            break
        lags.append(first.get(k, end) - at)
    dups = sum(c - 1 for c in seen.values() if c > 1)
    return lags, dups, sum(seen.values())


def _run_config(
    store: str,
    procs: int,
    jobs: int,
    *,
    pg_url: str | None,
    quick: bool,
    work: Path,
    log: Log,
    profile: Path | None,
) -> dict[str, Any]:
    group = Group()
    slug = f"{store}_{procs}p_{jobs}"
    data_dir = work / slug
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    pg_name = None
    if store == "pg":
        assert pg_url is not None
        pg_name = f"vgbench_jobs_{procs}p_{jobs}"
        db_url = seed.pg_create(pg_url, pg_name)
    else:
        db_url = f"sqlite+aiosqlite:///{data_dir / 'videogate.db'}"
    window = 3.0 if quick else 8.0
    row: dict[str, Any] = {"store": "SQLite" if store == "sqlite" else "PG", "procs": procs}
    row["jobs"] = jobs
    try:
        fast = _start_upstream(group, work, f"fast_{slug}", hang=False)
        slow = _start_upstream(group, work, f"slow_{slug}", hang=True)
        up = Upstream(fast)
        config = _config(data_dir, db_url, fast.port, slow.port)

        async def prepare() -> None:
            engine = make_engine(db_url)
            await migrate(engine)
            await engine.dispose()
            await _seed(db_url, "openai", "f", jobs)
            await _seed(db_url, "slow", "s", SLOW_JOBS)

        asyncio.run(prepare())
        workers = [_start_worker(group, data_dir, config, i) for i in range(procs)]
        asyncio.run(_wait_workers(db_url, procs))
        pids = [p for w in workers for p in w.tree()]

        # capacity: the whole table due at once
        up.clear()
        t0 = asyncio.run(_schedule(db_url, "openai", 0.5, None, jobs))
        spy = None
        if profile is not None:
            import subprocess

            profile.mkdir(parents=True, exist_ok=True)
            out = profile / f"{slug}.txt"
            spy = subprocess.Popen(
                [
                    *(str(VENV_BIN / "py-spy"), "record", "--format", "raw", "-r", "200"),
                    *("-d", str(int(window)), "-o", str(out), "-p", str(workers[0].pid)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        with Sampler(pids) as cpu:
            time.sleep(max(0.0, t0 - time.time()) + window)
        if spy is not None:
            spy.wait(60)
        polls = up.polls()
        times = [t for _, t in polls]
        n = len(polls)
        # from the first poll to the last (scheduling 10^5 rows on PostgreSQL takes seconds)
        span = max(times) - min(times) if n > 1 else window
        row["polls_per_s"] = n / span / procs if span > 0 else 0.0
        row["cpu_per_poll_ms"] = 1000 * cpu.cpu / n if n else float("nan")
        row["cap_dups"] = n - len({v for v, _ in polls})
        log(f"  {slug} capacity: {n} polls in {span:.1f}s, {row['polls_per_s']:.0f}/s/proc")

        for name, per_proc, with_slow in (
            ("full", TARGET_POLLS, False),
            ("half", TARGET_POLLS / 2, False),
            ("slow", TARGET_POLLS / 2, True),
        ):
            rate = per_proc * procs
            due = min(jobs, int(rate * window))
            # park everything, let the last phase's in-flight polls land, then start afresh
            asyncio.run(_schedule(db_url, "openai", 0, None, 0))
            time.sleep(1.5)
            up.clear()
            if with_slow:  # due first: the whole slow backlog at once
                asyncio.run(_schedule(db_url, "slow", 0.5, None, SLOW_JOBS))
            t0 = asyncio.run(_schedule(db_url, "openai", 1.0, rate, due))
            end = t0 + due / rate
            time.sleep(max(0.0, end - time.time()) + 2.0)  # a grace for the last ones
            polls = up.polls()
            lags, dups, count = _lags(polls, "f", t0, rate, due, end + 2.0)
            row[f"{name}_p50"] = _pct(lags, 0.5)
            row[f"{name}_p99"] = _pct(lags, 0.99)
            row[f"{name}_dups"] = dups
            row[f"{name}_missed"] = due - len({v for v, _ in polls if v.startswith("video_run_f_")})
            log(
                f"  {slug} {name}: {count}/{due} polls at {rate:.0f}/s, lag p50 "
                f"{row[f'{name}_p50']:.3f}s p99 {row[f'{name}_p99']:.3f}s, dups {dups}"
            )
            if with_slow:
                asyncio.run(_schedule(db_url, "slow", 0, None, 0))
        phases = ("cap", "full", "half", "slow")
        row["duplicates"] = sum(row[f"{p}_dups"] for p in phases)
        row["target_met"] = (
            row["polls_per_s"] >= TARGET_POLLS
            and row["half_p99"] <= TARGET_P99
            and row["slow_p99"] <= TARGET_P99
            and row["duplicates"] == 0
        )
        return row
    finally:
        group.stop_all()
        if pg_name is not None and pg_url is not None:
            seed.pg_drop(pg_url, pg_name)


def configs(pg_url: str | None) -> list[tuple[str, int]]:
    out = [("sqlite", 1)]
    if pg_url:
        out += [("pg", 1), ("pg", 2)]
    return out


def run(
    quick: bool,
    pg_url: str | None,
    log: Log = print,
    sizes: list[int] | None = None,
    profile: Path | None = None,
    only: list[tuple[str, int]] | None = None,
) -> list[dict[str, Any]]:
    """One row per store · processes · jobs (see the module's docstring)."""
    sizes = sizes or ([2000] if quick else [10_000, 100_000])
    rows = []
    work = Path(tempfile.mkdtemp(prefix="vg_active_jobs_"))
    try:
        for store, procs in only or configs(pg_url):
            for jobs in sizes:
                log(f"active jobs: {store} · {procs} proc · {jobs} jobs")
                rows.append(
                    _run_config(
                        store,
                        procs,
                        jobs,
                        pg_url=pg_url,
                        quick=quick,
                        work=work,
                        log=log,
                        profile=profile,
                    )
                )
    finally:
        if not os.environ.get("VG_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    return rows


def _ms(v: float) -> str:
    return "-" if v != v else f"{1000 * v:.0f} ms"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| store · processes · jobs | polls/s per process | CPU ms/poll | lag p50/p99 full "
        "| lag p50/p99 half | lag p50/p99 half + hanging provider | duplicates | target met |\n"
        "|---|---:|---:|---:|---:|---:|---:|---|\n"
    )
    lines = []
    for r in rows:
        lines.append(
            f"| {r['store']} · {r['procs']} · {r['jobs']:,} | {r['polls_per_s']:,.0f} "
            f"| {r['cpu_per_poll_ms']:.2f} "
            f"| {_ms(r['full_p50'])} / {_ms(r['full_p99'])} "
            f"| {_ms(r['half_p50'])} / {_ms(r['half_p99'])} "
            f"| {_ms(r['slow_p50'])} / {_ms(r['slow_p99'])} "
            f"| {r['duplicates']} | {'yes' if r['target_met'] else 'no'} |"
        )
    return head + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help="comma-separated job counts (default 10000,100000)")
    parser.add_argument("--pg", default=os.environ.get("VIDEOGATE_TEST_PG_URL"))
    parser.add_argument("--only", help="configs, e.g. sqlite:1,pg:2")
    parser.add_argument("--profile", type=Path, help="py-spy the first worker's capacity phase")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    only = None
    if args.only:
        only = [(s.split(":")[0], int(s.split(":")[1])) for s in args.only.split(",")]
    pg = args.pg
    if pg and pg.startswith("postgresql://"):
        pg = "postgresql+asyncpg://" + pg[len("postgresql://") :]
    rows = run(
        args.quick,
        pg,
        lambda m: print(m, file=sys.stderr, flush=True),
        sizes,
        args.profile,
        only,
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
