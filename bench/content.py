"""Content from the gateway's own asset store, each beside its limit in the same run.

- mirrored (local disk): a 200 MB file in the asset store, against `bench.fileserver`
  (os.sendfile on loopback) serving the same file: whole body and an open-ended Range.
- S3-compatible (moto): the same object streamed through the gateway, or answered with a
  presigned 307 that curl follows, against a direct presigned GET from the store.

Each download is curl to /dev/null; best MB/s of `downloads`; the gateway's process tree is
sampled for CPU and RSS (start→peak shows buffering).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import seed
from .procs import Group, Sampler, free_port
from .targets import ROOT, Variant, clean_env, start_videogate

SIZE = 200 * 2**20
VIDEO_ID = "video_done_content_0:openai"
RANGE_START = 50 * 2**20  # a seek into the video: bytes=52428800- (150 MiB)
Log = Callable[[str], None]


def make_file(path: Path) -> None:
    """200 MiB of non-repeating-looking bytes (never sparse, so reads hit real pages)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(2**20)
    with path.open("wb") as f:
        for i in range(SIZE // len(block)):
            f.write(block[i % 251 :] + block[: i % 251])


def curl(
    url: str, headers: dict[str, str], rng: str | None, follow: bool
) -> tuple[int, int, float]:
    argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]
    if follow:
        argv.append("-L")
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    if rng:
        argv += ["-H", f"Range: {rng}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=False)
    code, size, seconds = out.stdout.split()
    return int(code), int(size), float(seconds)


def downloads(
    url: str,
    headers: dict[str, str],
    pids: list[int],
    n: int,
    *,
    rng: str | None = None,
    follow: bool = False,
) -> dict[str, Any]:
    want = SIZE - RANGE_START if rng else SIZE
    ok = 206 if rng else 200
    speeds: list[float] = []
    note = ""
    with Sampler(pids, interval=0.02) as sampler:
        for _ in range(n):
            code, size, seconds = curl(url, headers, rng, follow)
            if code != ok or size != want:
                note = f"download failed: HTTP {code}, {size} bytes"
                break
            speeds.append(size / 2**20 / seconds)
    return {
        "mb_per_s": max(speeds) if speeds else None,
        "speeds": speeds,
        "start_rss_mb": sampler.start_rss / 2**20,
        "peak_rss_mb": sampler.peak_rss / 2**20,
        "cpu_ms": 1000 * sampler.cpu / len(speeds) if speeds else None,
        "note": note,
    }


def _key(owner: str) -> str:
    return f"{owner}/{VIDEO_ID.replace(':', '~')}/video"


def run_mirrored(
    group: Group,
    work: Path,
    variants: list[tuple[str, Variant, Path | None]],
    upstream_port: int,
    n: int,
    log: Log,
) -> list[dict[str, Any]]:
    """(label, variant, other checkout or None) each serving the mirrored file, and the
    sendfile server on the same file; rows of whole-body and Range MB/s."""
    rows: list[dict[str, Any]] = []
    master = work / "content_200mb.mp4"
    make_file(master)
    port = free_port()
    limit = group.start(
        "fileserver",
        [sys.executable, "-m", "bench.fileserver", "--port", str(port), "--file", str(master)],
        port=port,
        log=work / "fileserver.log",
        env=clean_env(),
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}/video.mp4"
    for rng in (None, f"bytes={RANGE_START}-"):
        got = downloads(url, {}, limit.tree(), n, rng=rng)
        rows.append({"target": "sendfile server (limit)", "range": rng, **got})
        log(f"  limit {'range' if rng else 'whole'}: {got['mb_per_s'] or 0:,.0f} MB/s")
    group.stop(limit)
    for label, variant, src in variants:
        target, setup = start_videogate(
            group, work, variant, upstream_port, None, tag="_mirror", seed_pools=0, src=src
        )
        try:
            key = _key(setup.owner)
            path = setup.data_dir / "assets" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(master, path)  # the very same file (and page cache) as the limit's
            seed.mirrored(setup.db_url, VIDEO_ID, key, SIZE)
            vurl = f"http://127.0.0.1:{target.port}/v1/videos/{VIDEO_ID}/content"
            for rng in (None, f"bytes={RANGE_START}-"):
                got = downloads(vurl, target.headers, target.pids(), n, rng=rng)
                rows.append({"target": label, "range": rng, **got})
                log(
                    f"  {label} {'range' if rng else 'whole'}: {got['mb_per_s'] or 0:,.0f} MB/s "
                    f"rss {got['start_rss_mb']:.0f}->{got['peak_rss_mb']:.0f} MB {got['note']}"
                )
        finally:
            group.stop(target.service)
    return rows


def s3_config(endpoint: str, bucket: str, redirect: bool) -> dict[str, Any]:
    return {
        "assets": {
            "backend": "s3",
            "s3_bucket": bucket,
            "s3_endpoint": endpoint,
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
            "s3_presigned_redirect": redirect,
            "s3_presigned_expiry_seconds": 60,
        }
    }


def _s3_store(endpoint: str, bucket: str) -> Any:
    from obstore.store import S3Store

    return S3Store(
        bucket,
        endpoint=endpoint,
        virtual_hosted_style_request=False,
        access_key_id="test",
        secret_access_key="test",
        region="us-east-1",
        client_options={"allow_http": True},
    )


def run_s3(
    group: Group,
    work: Path,
    variant: Variant,
    upstream_port: int,
    endpoint: str,
    n: int,
    log: Log,
) -> list[dict[str, Any]]:
    """The object in moto: a direct presigned GET (the limit), the gateway streaming it,
    and the gateway redirecting to it (curl -L)."""
    import boto3
    import obstore

    bucket = f"vgbench-{os.getpid()}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    store = _s3_store(endpoint, bucket)
    master = work / "content_200mb.mp4"
    if not master.exists():
        make_file(master)
    rows: list[dict[str, Any]] = []
    uploaded: set[str] = set()
    for label, redirect in (("videogate, streamed", False), ("videogate, 307 redirect", True)):
        target, setup = start_videogate(
            group,
            work,
            variant,
            upstream_port,
            None,
            tag="_s3" + ("r" if redirect else "s"),
            seed_pools=0,
            extra_config=s3_config(endpoint, bucket, redirect),
        )
        try:
            key = _key(setup.owner)
            if key not in uploaded:
                with master.open("rb") as f:
                    obstore.put(store, key, f, chunk_size=8 * 2**20)
                uploaded.add(key)
            seed.mirrored(setup.db_url, VIDEO_ID, key, SIZE)
            if not rows:
                direct = obstore.sign(store, "GET", key, dt.timedelta(minutes=10))
                for rng in (None, f"bytes={RANGE_START}-"):
                    got = downloads(direct, {}, [], n, rng=rng)
                    rows.append({"target": "direct presigned GET (limit)", "range": rng, **got})
                    what = "range" if rng else "whole"
                    log(f"  s3 limit {what}: {got['mb_per_s'] or 0:,.0f} MB/s")
            vurl = f"http://127.0.0.1:{target.port}/v1/videos/{VIDEO_ID}/content"
            for rng in (None, f"bytes={RANGE_START}-"):
                got = downloads(vurl, target.headers, target.pids(), n, rng=rng, follow=redirect)
                rows.append({"target": f"{label} ({variant.name})", "range": rng, **got})
                log(
                    f"  {label} {'range' if rng else 'whole'}: {got['mb_per_s'] or 0:,.0f} MB/s "
                    f"rss {got['start_rss_mb']:.0f}->{got['peak_rss_mb']:.0f} MB {got['note']}"
                )
        finally:
            group.stop(target.service)
    return rows
