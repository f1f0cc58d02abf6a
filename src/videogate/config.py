"""Gateway configuration: one YAML file plus `VIDEOGATE_*` environment variables.

Secrets are never written into the YAML itself: a value of the form `env.NAME` is replaced
by the environment variable NAME when the file is loaded (Bifrost's convention), so a config
file can be committed while its keys stay in the environment.
"""

from __future__ import annotations

import logging
import os
import secrets
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Provider secrets are encrypted with it (required for them); webhook secrets too, when set.
MASTER_KEY_ENV = "VIDEOGATE_MASTER_KEY"

ENV_PREFIX = "env."
_yaml_data: ContextVar[dict[str, Any] | None] = ContextVar("videogate_yaml_data", default=None)


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


def resolve_env_refs(value: Any, path: str = "") -> Any:
    """Replace every `env.NAME` string with the environment variable NAME (recursively)."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in os.environ:
            raise ConfigError(f"{path or 'value'} refers to environment variable {name}, unset")
        return os.environ[name]
    if isinstance(value, dict):
        return {k: resolve_env_refs(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env_refs(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


class UpstreamKey(BaseModel):
    """One credential for a provider; `models` limits which models it may serve."""

    name: str = "default"
    value: str = ""
    weight: float = 1.0
    models: list[str] = Field(default_factory=list)
    base_url: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ProviderConfig(BaseModel):
    """One configured provider instance; its id is the key under `providers:`."""

    type: str | None = None  # adapter module; defaults to the provider id
    base_url: str | None = None
    keys: list[UpstreamKey] = Field(default_factory=list)
    timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 10.0
    poll_after_ms: int | None = None
    models: list[str] = Field(default_factory=list)  # advertised models, informational
    options: dict[str, Any] = Field(default_factory=dict)
    unhealthy_key_seconds: float = 300.0  # a key answered 401/403: skip it this long
    # Whole-call bound (a dripping upstream cannot hold a create for hours); reads of a
    # stream are bounded by `timeout_seconds` between chunks instead.
    total_timeout_seconds: float = 120.0
    max_response_bytes: int = 16 * 1024 * 1024  # a JSON answer larger than this is refused
    # Asset downloads follow redirects to https only; true also allows http targets (for
    # loopback test doubles and local providers). Credentials never cross origins.
    allow_http_redirects: bool = False
    breaker_threshold: int = 5  # consecutive retryable failures that open the circuit
    breaker_cooldown_seconds: float = 30.0


class AuthConfig(BaseModel):
    enabled: bool = True
    jwt_secret: str | None = None  # None: generated once and kept in <data_dir>/jwt-secret
    jwt_issuer: str | None = None
    key_cache_seconds: float = 1.0


class LimitsConfig(BaseModel):
    max_upload_bytes: int = 50 * 1024 * 1024
    max_json_bytes: int = 1 * 1024 * 1024
    max_prompt_chars: int = 32000


class RawConfig(BaseModel):
    send_back_raw_request: bool = False
    send_back_raw_response: bool = False


STRATEGIES = ("priority", "cheapest", "fastest")


class RouteConfig(BaseModel):
    """A public model served by deployments on several hosts (`provider/model` each).

    `priority` tries them in order; `cheapest` orders them by the estimated cost of the
    request at hand; `fastest` by the measured recent time to completion. Only deployments
    that can serve the request are tried; a retryable failure moves to the next.
    """

    strategy: Literal["priority", "cheapest", "fastest"] = "priority"
    deployments: list[str] = Field(min_length=1, max_length=32)
    description: str | None = Field(default=None, max_length=500)

    @field_validator("deployments")
    @classmethod
    def _provider_model(cls, value: list[str]) -> list[str]:
        for item in value:
            pid, sep, model = item.partition("/")
            if not (sep and pid and model):
                raise ValueError(f"a deployment is 'provider/model', not {item!r}")
        if len(set(value)) != len(value):
            raise ValueError("a route lists each deployment once")
        return value


class ModelsConfig(BaseModel):
    """Bare model names (`sora-2`) resolve through `routes` (public models on several
    hosts), then `aliases`, then to `default_provider`."""

    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    default_provider: str | None = None
    default_model: str = "simulated/test-pattern"


class ServerConfig(BaseModel):
    """The HTTP server and how many processes serve (bench/results/latest.md: granian with two
    workers is the fastest on two cores; one uvicorn process is the simplest to run)."""

    kind: Literal["uvicorn", "granian"] = "uvicorn"
    workers: int = Field(default=1, ge=1, le=64)
    # After SIGTERM, requests in flight get this long to finish before connections are
    # closed (uvicorn's timeout_graceful_shutdown, granian's workers_kill_timeout).
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)
    # After SIGTERM, /ready answers 503 this long before the server stops accepting, so a
    # load balancer takes the instance out of rotation first (0: stop at once).
    drain_seconds: float = Field(default=0.0, ge=0)


class WorkerConfig(BaseModel):
    """The background worker: poller, mirroring, deletion outbox, webhooks, retention."""

    enabled: bool = True
    interval_seconds: float = 1.0
    deletion_backoff_max_seconds: float = 300.0
    poll_batch: int = 50
    lease_seconds: float = 60.0
    # A mirror holds a short lease it renews while it copies (every third of it), so a
    # worker killed mid-copy frees the job within this long; the copy itself may run up to
    # mirror_timeout_seconds.
    mirror_lease_seconds: float = 60.0
    mirror_timeout_seconds: float = 1800.0
    poll_backoff_max_seconds: float = 300.0
    # Retrieve answers from the store while a job's row is fresher than this (the poller
    # keeps it fresh); older rows are refreshed inline from the provider.
    stale_after_seconds: float = 10.0
    # True when this process runs no worker but a separate `videogate worker` polls for it,
    # so retrieve still answers from the store.
    external: bool = False
    purge_interval_seconds: float = 60.0
    # Leased jobs are polled at once, at most this many per provider (one hanging provider
    # must not hold up the others), each poll bounded by poll_timeout_seconds.
    polls_per_provider: int = Field(default=8, ge=1)
    poll_timeout_seconds: float = 90.0
    # The worker records a heartbeat in the store this often; /ready fails when the newest
    # is older than heartbeat_stale_seconds.
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    heartbeat_stale_seconds: float = Field(default=30.0, gt=0)
    # A create's reservation (and intent) not taken over by a recorded job after this long
    # belongs to a create that died: the sweep, every sweep_seconds, gives it back and looks
    # its upstream job up (lifecycle/orphans.py). Longer than any create can run.
    create_grace_seconds: float = Field(default=900.0, gt=0)
    sweep_seconds: float = Field(default=60.0, gt=0)


class AssetsConfig(BaseModel):
    """Where finished videos are mirrored so they outlive the provider's download URLs."""

    mirror: bool = True
    backend: Literal["local", "s3"] = "local"
    directory: str | None = None  # default <data_dir>/assets
    retention_days: float = 7.0
    s3_bucket: str | None = None
    s3_prefix: str | None = None
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # With backend s3: answer content with a 307 to a presigned GET valid this long, so
    # the bytes go from the store to the client and never through the gateway.
    s3_presigned_redirect: bool = False
    s3_presigned_expiry_seconds: float = Field(default=60.0, gt=0, le=7 * 86400)


class WebhooksConfig(BaseModel):
    # Standard Webhooks' suggested schedule, about a day in all.
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    timeout_seconds: float = 10.0
    # Endpoints on private, loopback or link-local addresses are refused unless this is set
    # (local receivers, tests): checked at registration and at every connection.
    allow_private_networks: bool = False


class GovernanceConfig(BaseModel):
    rotation_grace_seconds: float = 3600.0  # a rotated key's old secret works this long
    # Admin-registered upstream keys may name a base_url on a private address only if set.
    allow_private_base_urls: bool = False
    # "provider/model" pattern -> dollars per output second, or
    # {"per_second": x, "tiers": {"720p": y, "1080p": z}, "bill_failures": false}
    prices: dict[str, Any] = Field(default_factory=dict)
    # How often each process checks the store for prices and upstream keys changed through
    # another process or instance (one primary-key read; a reload only when they changed).
    refresh_seconds: float = Field(default=2.0, gt=0)


# -- response cache (docs/cache.md) ----------------------------------------------------------
class CacheEmbeddingConfig(BaseModel):
    """How prompts are embedded for semantic hits; `none` leaves only direct hits."""

    backend: Literal["none", "openai", "local"] = "none"
    base_url: str | None = None  # openai: the API root, e.g. https://api.openai.com/v1
    api_key: str | None = None  # openai: usually env.NAME
    # openai: the embedding model; local: a package shipping a sentence-transformers model
    model: str | None = None
    dimensions: int | None = None  # openai: ask for shorter vectors (text-embedding-3-*)
    timeout_seconds: float = 10.0


class CacheConfig(BaseModel):
    """The create cache; a request opts in with `x-bf-cache-key`, these are its defaults."""

    enabled: bool = True
    default_ttl_seconds: float = Field(default=86400.0, gt=0)
    default_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    share: Literal["team", "customer", "key"] = "team"  # who may hit an entry
    disabled_keys: list[str] = Field(default_factory=list)  # virtual key ids or names
    max_semantic_candidates: int = Field(default=2000, gt=0)  # newest entries scored
    # How long an identical create in flight holds its claim (others wait for it, then
    # attach); a crashed holder's claim is taken over after this.
    claim_ttl_seconds: float = Field(default=120.0, gt=0)
    embedding: CacheEmbeddingConfig = Field(default_factory=CacheEmbeddingConfig)


class TelemetryConfig(BaseModel):
    """Metrics are always on at /metrics; traces only with an OTLP/HTTP endpoint (here, or
    the standard OTEL_EXPORTER_OTLP_ENDPOINT)."""

    metrics: bool = True
    otlp_endpoint: str | None = None  # e.g. http://collector:4318 (/v1/traces is added)
    otlp_headers: dict[str, str] = Field(default_factory=dict)
    service_name: str = "videogate"
    # How long a job-count snapshot read for a scrape is reused (one GROUP BY per period).
    jobs_snapshot_seconds: float = Field(default=5.0, ge=0)
    # A standalone `videogate worker` serves its own /metrics on this port (on `host`).
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)


class LoggingConfig(BaseModel):
    """`log_format: json` (or VIDEOGATE_LOG_FORMAT=json) makes every log line one JSON
    object; the request log is the store's table of recent requests (GET /api/logs)."""

    request_log: bool = True
    request_log_retention_days: float = Field(default=7.0, gt=0)
    # The worker deletes request-log rows past their retention at most this often.
    prune_interval_seconds: float = Field(default=300.0, gt=0)


def _default_providers() -> dict[str, ProviderConfig]:
    return {"simulated": ProviderConfig(type="simulated")}


class Settings(BaseSettings):
    """Everything the gateway reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="VIDEOGATE_", env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".videogate")
    database_url: str | None = None
    redis_url: str | None = None  # counters and reservations shared by many instances
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    raw: RawConfig = Field(default_factory=RawConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    assets: AssetsConfig = Field(default_factory=AssetsConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=_default_providers)

    @field_validator("providers")
    @classmethod
    def _ids_are_clean(cls, v: dict[str, ProviderConfig]) -> dict[str, ProviderConfig]:
        for pid in v:
            if not pid or any(c in pid for c in ":/ "):
                raise ValueError(f"provider id {pid!r} may not contain ':', '/' or spaces")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # CLI flags beat the environment, which beats the YAML file.
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'videogate.db').resolve()}"

    def sealing_key(self) -> str:
        """What webhook secrets are encrypted with: VIDEOGATE_MASTER_KEY when set, else a
        key generated once per data dir (mode 0600)."""
        return os.environ.get(MASTER_KEY_ENV) or _persistent_secret(self.data_dir / "sealing-key")

    def jwt_secret(self) -> str:
        """The configured HS256 secret, or one generated once per data dir (mode 0600)."""
        if self.auth.jwt_secret:
            return self.auth.jwt_secret
        return _persistent_secret(self.data_dir / "jwt-secret")


class _YamlSource(PydanticBaseSettingsSource):
    """The already-parsed YAML file, with `env.NAME` references resolved."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (0700): it holds the database, keys
    and secrets. An existing one is tightened too (it may predate this rule)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read (0600), created empty if missing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o600)
    return path


def _persistent_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    private_dir(path.parent)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the YAML file (if any), resolve `env.NAME` references, apply overrides."""
    data: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = yaml.safe_load(config_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {config_file}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"config {config_file} must be a mapping at the top level")
        data = resolve_env_refs(raw)
    token = _yaml_data.set(data)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _yaml_data.reset(token)


def settings_from(spec: dict[str, Any]) -> Settings:
    """Settings from a config file path and command-line overrides (None = not given)."""
    config = spec.get("config")
    overrides = {k: v for k, v in spec.get("overrides", {}).items() if v is not None}
    if spec.get("no_auth"):
        overrides["auth"] = {"enabled": False}
    settings = load_settings(Path(config) if config else None, **overrides)
    if spec.get("no_auth"):
        settings.auth.enabled = False  # the file's `auth:` section replaces the override
    given = {k: v for k, v in (spec.get("server") or {}).items() if v is not None}
    if given:  # validated like the file's own values (`--workers 0` is an error)
        settings.server = ServerConfig.model_validate(settings.server.model_dump() | given)
    return settings


def configure_logging(settings: Settings) -> None:
    """The process's log format and level, for `serve`, its worker processes and `worker`."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
