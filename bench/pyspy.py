"""Summaries of py-spy's `--format raw` (collapsed stacks): where the samples went.

`python -m bench.pyspy FILE [N]` prints self time by package, then the top N functions by self
and by inclusive time, and videogate's own functions by inclusive time, each as a share of all
samples.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*?)(?::\d+)?\)$")
PACKAGES = (
    ("videogate/", "videogate"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("aiosqlite/", "aiosqlite (thread)"),
    ("sqlite3/", "sqlite3"),
    ("asyncpg/", "asyncpg"),
    ("starlette/", "Starlette"),
    ("uvicorn/", "uvicorn"),
    ("granian/", "granian"),
    ("aiohttp/", "aiohttp"),
    ("multidict/", "aiohttp"),
    ("yarl/", "aiohttp"),
    ("logging/", "logging"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "asyncio"),
    ("threading.py", "threading"),
    ("concurrent/", "threading"),
    ("queue.py", "threading"),
    ("uuid.py", "uuid"),
    ("jwt/", "PyJWT"),
    ("pydantic", "pydantic"),
)


def _frame(raw: str) -> tuple[str, str]:
    found = FRAME.match(raw.strip())
    if not found:
        return raw.strip(), ""
    return found.group("func"), found.group("file")


def package(file: str) -> str:
    for needle, name in PACKAGES:
        if needle in file:
            return name
    return file.split("/")[0] if "/" in file else (file or "?")


def load(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([_frame(f) for f in stack.split(";")], int(count)))
    return stacks


def summary(path: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Shares (%) of samples: self by package, self by function, inclusive by function."""
    stacks = load(path)
    total = sum(c for _, c in stacks) or 1
    by_pkg: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    incl_own: Counter[str] = Counter()
    for frames, count in stacks:
        func, file = frames[-1]
        by_pkg[package(file)] += count
        self_fn[f"{func} ({file})"] += count
        for name in {f"{fn} ({fl})" for fn, fl in frames}:
            incl_fn[name] += count
        for name in {f"{fn} ({fl})" for fn, fl in frames if fl.startswith("videogate/")}:
            incl_own[name] += count

    def pct(c: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(k, 100.0 * v / total) for k, v in c.most_common(n)]

    return {
        "samples": [("total", float(total))],
        "self_by_package": pct(by_pkg, top),
        "self_by_function": pct(self_fn, top),
        "inclusive_by_function": pct(incl_fn, top * 2),
        "videogate_inclusive": pct(incl_own, top),
    }


def render(path: Path, top: int = 15) -> str:
    data = summary(path, top)
    out = [f"samples: {int(data.pop('samples')[0][1])}"]
    for section, rows in data.items():
        out.append(f"## {section}")
        out.extend(f"{share:6.1f}%  {name}" for name, share in rows)
    return "\n".join(out)


if __name__ == "__main__":
    print(render(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 15))
