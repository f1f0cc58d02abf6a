"""LiteLLM's proxy as the comparison point, measured in a network namespace of its own.

`ensure_venv()` installs `litellm[proxy]==VERSION` once into bench/.venv-litellm. The
measurements run in a child (`python -m bench.litellm SPEC.json`) started under
`unshare --net`: it sees only its own loopback, so nothing LiteLLM tries can leave the
machine. The child starts its own instance of the loopback upstream, LiteLLM pointed at it as
an openai-compatible video deployment, creates the jobs it retrieves through LiteLLM itself
(LiteLLM encodes provider and model into its ids, so only ids it returned are sent), runs the
same workloads and checks that every successful LiteLLM answer matches a request the upstream
saw.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .measure import WORKLOADS, Measure, Profile, content, loadgen, run_workload
from .procs import Group, free_port
from .targets import ROOT, UPSTREAM_KEY, Target, clean_env, start_upstream

VERSION = "1.102.4"  # newest whose [proxy] extra resolves against the package index here
VENV = ROOT / "bench" / ".venv-litellm"
MASTER_KEY = "sk-litellm-bench-master"
STAMP = VENV / ".bench-installed"
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "uvicorn": {"handlers": ["err"], "level": "INFO"},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def installed() -> bool:
    return STAMP.exists() and STAMP.read_text().strip() == VERSION


def ensure_venv(log: Any) -> bool:
    """Create bench/.venv-litellm with the pinned LiteLLM unless it is already there."""
    if installed():
        return True
    log(f"installing litellm[proxy]=={VERSION} into {VENV.relative_to(ROOT)} (once)")
    shutil.rmtree(VENV, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    out = subprocess.run(
        [*pip, f"litellm[proxy]=={VERSION}"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"installing LiteLLM failed:\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
    STAMP.write_text(VERSION + "\n")
    return True


def netns_available() -> bool:
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def run_phase(spec: dict[str, Any], work: Path, log: Any) -> dict[str, Any]:
    """Run the LiteLLM measurements in a child under `unshare --net`; returns its results."""
    spec_file = work / "litellm_spec.json"
    out_file = work / "litellm_results.json"
    spec = {**spec, "out": str(out_file), "work": str(work / "litellm")}
    spec_file.write_text(json.dumps(spec))
    argv = [sys.executable, "-m", "bench.litellm", str(spec_file)]
    isolated = netns_available()
    if isolated:
        argv = ["unshare", "--net", "--", *argv]
    else:
        log("  WARNING: no network namespace available; LiteLLM runs on the host's network")
    proc = subprocess.Popen(argv, cwd=ROOT, env=clean_env(PYTHONPATH=str(ROOT)))
    try:
        code = proc.wait(timeout=spec.get("budget_seconds", 600))
    except BaseException:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        raise
    if code != 0 or not out_file.exists():
        raise RuntimeError(f"LiteLLM phase failed with exit code {code}")
    result: dict[str, Any] = json.loads(out_file.read_text())
    result["isolated"] = isolated
    return result


# -- inside the namespace ---------------------------------------------------------------------
def _upstream_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=5) as resp:
        stats: dict[str, int] = json.loads(resp.read())
    return stats


def _config(upstream_port: int) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "sora-2",
                "litellm_params": {
                    "model": "openai/sora-2",
                    "api_base": f"http://127.0.0.1:{upstream_port}/v1",
                    "api_key": UPSTREAM_KEY,
                },
                "model_info": {"mode": "video_generation"},
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }


def _create_pool(target: Target, prompt: str, count: int, work: Path) -> list[str]:
    body = json.dumps({"model": "sora-2", "prompt": prompt, "seconds": "4", "size": "720x1280"})
    spec = {
        "host": "127.0.0.1",
        "port": target.port,
        "method": "POST",
        "paths": ["/v1/videos"],
        "headers": {**target.headers, "Content-Type": "application/json"},
        "body": body,
        "mode": "closed",
        "count": count,
        "concurrency": 16,
        "keep_ids": True,
    }
    result = loadgen(spec, work, f"litellm_pool_{prompt.split()[-1]}")
    ids: list[str] = result["ids"]
    if len(ids) != count:
        raise RuntimeError(f"LiteLLM created {len(ids)} of {count} jobs: {result['status']}")
    return ids


def _phase(spec: dict[str, Any]) -> dict[str, Any]:
    prof = Profile(**{**spec["profile"], "scale_sizes": tuple(spec["profile"]["scale_sizes"])})
    work = Path(spec["work"])
    work.mkdir(parents=True, exist_ok=True)
    if shutil.which("ip"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
    group = Group()
    results: list[dict[str, Any]] = []
    try:
        upstream = start_upstream(group, work, name="upstream_litellm")
        cfg = work / "litellm.yaml"
        cfg.write_text(yaml.safe_dump(_config(upstream.port), sort_keys=False))
        log_cfg = work / "log_config.json"
        log_cfg.write_text(json.dumps(LOG_CONFIG))
        env = clean_env(
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            LITELLM_LOG="INFO",
            OPENAI_API_KEY=UPSTREAM_KEY,
            OPENAI_API_BASE=f"http://127.0.0.1:{upstream.port}/v1",
            OPENAI_BASE_URL=f"http://127.0.0.1:{upstream.port}/v1",
        )
        for name in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL"):
            env.pop(name, None)
        for workers in spec["workers"]:
            port = free_port()
            argv = [str(VENV / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1"]
            argv += ["--port", str(port), "--num_workers", str(workers), "--telemetry", "False"]
            argv += ["--log_config", str(log_cfg)]
            started = time.monotonic()
            service = group.start(
                f"litellm_{workers}w",
                argv,
                port=port,
                log=work / f"litellm_{workers}w.log",
                env=env,
                cwd=work,
                timeout=180,
            )
            time.sleep(1.0 if workers > 1 else 0.2)  # let every worker finish its start-up
            target = Target(
                name=f"LiteLLM {workers}w",
                kind="litellm",
                port=port,
                model="sora-2",
                headers={"Authorization": f"Bearer {MASTER_KEY}"},
                service=service,
                ids=lambda kind, n: [],
                label=f"LiteLLM {VERSION} ({workers} worker{'s' if workers > 1 else ''})",
            )
            before = _upstream_stats(upstream.port)
            pools = {
                "running": _create_pool(target, "a bench video run", spec["pool"], work),
                "finished": _create_pool(target, "a bench video done", spec["pool"], work),
            }
            pools["content"] = pools["finished"][:1]

            def ids(kind: str, n: int, pools: dict[str, list[str]] = pools) -> list[str]:
                pool = pools[kind]
                return [pool[i % len(pool)] for i in range(n)]

            target.ids = ids
            probe = subprocess.run(
                [
                    *("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE"),
                    *("-H", f"Authorization: Bearer {MASTER_KEY}"),
                    f"http://127.0.0.1:{port}/v1/videos/{pools['finished'][0]}",
                ],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if probe != "200":
                target.unsupported["delete"] = (
                    f"no DELETE /v1/videos/{{id}} route in LiteLLM {VERSION} (HTTP {probe})"
                )
            measures: list[Measure] = []
            for wl in WORKLOADS:
                m = run_workload(target, wl, prof, work)
                print(f"  {target.name:<22} {wl.key:<18} {m.rps or 0:>9,.0f} rps", flush=True)
                measures.append(m)
            measures.append(content(target, prof, work))
            after = _upstream_stats(upstream.port)
            seen = {k: after[k] - before[k] for k in after}
            answered = _successes(measures, spec["pool"])
            results.append(
                {
                    "workers": workers,
                    "label": target.label,
                    "startup_seconds": time.monotonic() - started,
                    "measures": [m.as_dict() for m in measures],
                    "upstream_seen": seen,
                    "litellm_ok": answered,
                    "all_hit_upstream": all(seen.get(k, 0) >= v for k, v in answered.items()),
                    "egress_lines": _egress_lines(work / f"litellm_{workers}w.log"),
                }
            )
            group.stop(service)
    finally:
        group.stop_all()
    return {"version": VERSION, "runs": results}


def _successes(measures: list[Measure], pool: int) -> dict[str, int]:
    """Successful LiteLLM answers per upstream route (creates include the id pools)."""
    ok = {"create": 2 * pool, "retrieve": 0, "content": 0}
    route = {"create": "create", "retrieve_running": "retrieve", "retrieve_finished": "retrieve"}
    for m in measures:
        if m.workload == "content":
            ok["content"] += len(m.extra.get("speeds_mb_s", []))
            continue
        if m.workload not in route or not m.extra:
            continue
        sat, fixed = m.extra["wrk"], m.extra["fixed"]
        ok[route[m.workload]] += sat["requests"] - sat["non2xx"] + fixed["ok"]
    return ok


def _egress_lines(log: Path) -> list[str]:
    """Log lines that mention a host other than the loopback (there should be none)."""
    needles = ("api.openai.com", "Name or service not known", "Network is unreachable")
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line[:300] for line in text.splitlines() if any(n in line for n in needles)][:10]


def version_of(venv: Path = VENV) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    spec = json.loads(Path(args[0]).read_text())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = _phase(spec)
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
