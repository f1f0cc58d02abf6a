"""`python -m bench --quick` still runs end to end and writes a complete table (no timings)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("curl") is None, reason="the bench downloads with curl"),
]


def test_quick_bench_writes_every_row() -> None:
    from bench.__main__ import QUICK
    from bench.report import expected_rows

    out = ROOT / "bench" / "results" / "quick.md"
    out.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    for label in expected_rows(QUICK.scale_sizes):
        assert any(label in line for line in table_lines), f"no table row for {label!r}"
    for column in ("direct RPS", "videogate RPS", "LiteLLM RPS"):
        assert column in text
    assert "## Machine and versions" in text
