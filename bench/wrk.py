"""Closed-loop saturation runs with wrk (Debian's package), driven by one Lua script.

The script sends a fixed request or walks a list of ids (each wrk thread takes every n-th id,
so no id is sent twice until the list wraps), and prints one `WRKJSON {…}` summary line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = r"""
local ids, n, i, wrapped = {}, 0, 0, 0
local method, prefix, suffix, body = "GET", "/", "", nil
local threads, counter = {}, 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  method, prefix, suffix = args[1], args[2], args[3]
  local idsfile, bodyfile, nthreads = args[4], args[5], tonumber(args[6])
  if bodyfile ~= "-" then
    local f = assert(io.open(bodyfile, "rb")); body = f:read("*a"); f:close()
  end
  if idsfile ~= "-" then
    local k = 0
    for line in io.lines(idsfile) do
      if k % nthreads == tid then n = n + 1; ids[n] = line end
      k = k + 1
    end
  end
end

function request()
  if n == 0 then return wrk.format(method, prefix .. suffix, nil, body) end
  i = i + 1
  if i > n then i = 1; wrapped = wrapped + 1; wrk.thread:set("wrapped", wrapped) end
  return wrk.format(method, prefix .. ids[i] .. suffix, nil, body)
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wrapped") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"wrapped":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.mean, w))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: int
    non2xx: int
    p50_ms: float
    p99_ms: float
    wrapped: int
    connections: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def clean(self, distinct: bool) -> bool:
        """No error; for `distinct` ids (deletes) also no id sent twice."""
        return self.errors == 0 and (self.wrapped == 0 or not distinct)


def available() -> bool:
    return shutil.which("wrk") is not None


def version() -> str:
    if not available():
        return "wrk not installed (bench.loadgen closed loop instead)"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (out.stdout + out.stderr).splitlines()[0].strip()


def ensure_installed() -> None:
    """wrk from Debian's packages when it is missing (needs root, as on the bench machines)."""
    if shutil.which("wrk"):
        return
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)


def run(
    url_base: str,
    *,
    method: str,
    prefix: str,
    suffix: str = "",
    ids_file: Path | None = None,
    body_file: Path | None = None,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    threads: int,
    workdir: Path,
) -> WrkResult:
    """One wrk run; `prefix` + id + `suffix` is each request's path."""
    script = workdir / "walk.lua"
    if not script.exists():
        script.write_text(LUA)
    threads = max(1, min(threads, connections))
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    argv += ["--timeout", "10s", "-s", str(script)]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv += [url_base, "--", method, prefix, suffix]
    argv += [str(ids_file) if ids_file else "-", str(body_file) if body_file else "-", str(threads)]
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(
            f"wrk failed ({out.returncode}): {out.stdout[-2000:]}{out.stderr[-2000:]}"
        )
    d = json.loads(line[len("WRKJSON ") :])
    errors = d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"]
    return WrkResult(
        requests=d["requests"],
        seconds=d["duration_us"] / 1e6,
        errors=errors,
        non2xx=d["status"],
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        wrapped=d["wrapped"],
        connections=connections,
    )
