"""`videogate videos create --wait`: a bar on a terminal, plain lines into a pipe."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

from videogate.watch import Progress

from .conftest import GatewayHandle


def create_and_wait(gateway: GatewayHandle, output: Path) -> list[str]:
    assert gateway.key
    return [
        sys.executable,
        "-m",
        "videogate",
        "videos",
        "create",
        "--prompt",
        "a lighthouse in a pipe",
        "--wait",
        "--url",
        gateway.url,
        "--key",
        gateway.key,
        "--output",
        str(output),
    ]


def test_a_pipe_gets_plain_lines_and_no_carriage_returns(
    gateway: GatewayHandle, tmp_path: Path
) -> None:
    target = tmp_path / "piped.mp4"
    run = subprocess.run(create_and_wait(gateway, target), capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert b"\r" not in run.stdout and b"\r" not in run.stderr
    lines = run.stderr.decode().splitlines()
    video_id = run.stdout.decode().split()[0]
    assert lines[-1].startswith(f"completed: {video_id} -> {target}")
    progress = [line for line in lines[:-1] if line.startswith(f"{video_id}: ")]
    assert progress and progress[-1].startswith(f"{video_id}: completed 100%")
    states = [line.split(" (")[0] for line in progress]
    assert all(a != b for a, b in pairwise(states)), "an unchanged poll printed a line"
    assert target.read_bytes()[4:8] == b"ftyp"


def test_a_terminal_gets_the_bar(gateway: GatewayHandle, tmp_path: Path) -> None:
    """The same command with a pseudo-terminal as stderr redraws one line in place."""
    main, child = os.openpty()
    try:
        run = subprocess.run(
            create_and_wait(gateway, tmp_path / "tty.mp4"),
            stdout=subprocess.PIPE,
            stderr=child,
            timeout=60,
        )
        os.close(child)
        child = -1
        seen = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
        if child >= 0:
            os.close(child)
    assert run.returncode == 0
    assert b"\r[" in seen and b"100% completed" in seen


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_frames_only_on_a_terminal() -> None:
    polls = [
        {"id": "v", "status": "queued", "progress": 0},
        {"id": "v", "status": "in_progress", "progress": 40},
        {"id": "v", "status": "in_progress", "progress": 40},
        {"id": "v", "status": "completed", "progress": 100},
    ]
    plain, tty = io.StringIO(), Terminal()
    for out in (plain, tty):
        progress = Progress(out, started=0.0)
        for video in polls:
            progress.update(video)
        progress.end()
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue()
    assert [line.split(" (")[0] for line in lines] == [
        "v: queued 0%",
        "v: in_progress 40%",
        "v: completed 100%",
    ]
    frames = tty.getvalue()
    assert frames.count("\r") == len(polls) and frames.endswith("\n")
    assert "[" + "#" * 12 + "." * 18 + "]  40% in_progress" in frames
