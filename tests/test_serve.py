"""`videogate serve --workers N` under both servers: one first start, one background worker."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import free_port


def _wait_up(url: str, proc: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not up in 60 s:\n{log.read_text()}")


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_several_workers_share_one_store(tmp_path: Path, server: str) -> None:
    port, data, log = free_port(), tmp_path / "data", tmp_path / "serve.log"
    argv = [sys.executable, "-m", "videogate", "serve", "--server", server, "--workers", "2"]
    argv += ["--data-dir", str(data), "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_up(url, proc, log)
        key = (data / "default-key").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=auth, timeout=10) as http:
            made = http.post("/v1/videos", json={"prompt": "p", "seconds": "1", "size": "64x64"})
            assert made.status_code == 200, made.text
            vid = made.json()["id"]
            for _ in range(100):  # any process may answer each poll
                seen = http.get(f"/v1/videos/{vid}").json()
                if seen["status"] == "completed":
                    break
                time.sleep(0.1)
            assert seen["status"] == "completed", seen
            content = http.get(f"/v1/videos/{vid}/content")
            assert content.status_code == 200 and content.content[4:8] == b"ftyp"
            assert http.delete(f"/v1/videos/{vid}").json()["deleted"] is True
            assert http.get(f"/v1/videos/{vid}").status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    text = log.read_text()
    assert text.count("created virtual key 'default'") == 1, text  # in the parent, once
    workers = re.findall(r"pid (\d+) serving; background worker here: (True|False)", text)
    assert len({pid for pid, _ in workers}) == 2, text
    assert [here for _, here in workers].count("True") == 1, text
    assert "Traceback" not in text, text


def test_server_flags_merge_with_the_file_and_are_validated(tmp_path: Path) -> None:
    config = tmp_path / "v.yaml"
    config.write_text("server: {workers: 3}\n")
    from videogate.config import settings_from

    merged = settings_from({"config": config, "server": {"kind": "granian", "workers": None}})
    assert (merged.server.kind, merged.server.workers) == ("granian", 3)
    for bad in ("0", "-2"):
        out = subprocess.run(
            [sys.executable, "-m", "videogate", "serve", "--workers", bad, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2 and "greater than or equal to 1" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
