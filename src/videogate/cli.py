"""`videogate`: serve the gateway, manage keys, mint tokens, migrate the store.

Key and token commands work directly against the store and secrets of a data dir, so they
need no running gateway (and work before the first start).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, cli_admin
from .config import ConfigError, Settings, settings_from


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    """The command line's settings as data (what `serve` hands its worker processes)."""
    return {
        "config": args.config,
        "overrides": {
            name: getattr(args, name, None)
            for name in ("host", "port", "data_dir", "database_url", "log_level")
        },
        "no_auth": getattr(args, "no_auth", False),
        "server": {
            "kind": getattr(args, "server", None),
            "workers": getattr(args, "workers", None),
        },
    }


def _settings(args: argparse.Namespace) -> Settings:
    return settings_from(_spec(args))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .api.serve import run

    return run(_spec(args), access_log=args.access_log)


def cmd_providers(args: argparse.Namespace, settings: Settings) -> int:
    from .providers.registry import capability_table

    print(capability_table())
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from .governance.auth import ADMIN_ROLE, VK_ROLE, mint_jwt

    secret = settings.jwt_secret()
    if args.kind == "admin":
        token = mint_jwt(
            secret,
            role=ADMIN_ROLE,
            ttl_seconds=args.ttl,
            subject=args.subject,
            issuer=settings.auth.jwt_issuer,
        )
    else:
        if not args.key_id:
            print(
                "token key needs the virtual key's id (see `videogate keys list`)", file=sys.stderr
            )
            return 2
        token = mint_jwt(
            secret,
            role=VK_ROLE,
            ttl_seconds=args.ttl,
            subject=args.key_id,
            vk=args.key_id,
            issuer=settings.auth.jwt_issuer,
        )
    print(token)
    return 0


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """The background worker without the HTTP server (for separate worker processes)."""
    from .api.serve import configure_logging
    from .gateway import Gateway
    from .jobs.worker import Worker

    configure_logging(settings)
    gw = await Gateway.start(settings)
    worker = Worker(gw)
    worker.start()
    gw.gov_sync.start()  # stopped by gw.close()
    if settings.telemetry.worker_metrics_port:  # no HTTP server here to answer /metrics
        from .telemetry.metrics import serve_standalone

        serve_standalone(settings.host, settings.telemetry.worker_metrics_port)
    logging.getLogger("videogate").info("worker %s running", worker.id)
    try:
        await asyncio.Event().wait()
    finally:
        await worker.stop()
        await gw.close()
    return 0


async def cmd_webhooks_add(args: argparse.Namespace, settings: Settings) -> int:
    from .errors import GatewayError
    from .governance.crypto import Sealer
    from .lifecycle.outbound import check_url
    from .lifecycle.webhooks import add_endpoint
    from .store.db import make_engine, migrate
    from .store.webhooks import EVENTS, WebhookStore

    try:
        check_url(args.url, "url", allow_private=settings.webhooks.allow_private_networks)
    except GatewayError as refused:
        print(f"videogate: {refused.message}", file=sys.stderr)
        return 2
    engine = make_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        events = args.events or list(EVENTS)
        sealer = Sealer(settings.sealing_key())
        row, secret = await add_endpoint(WebhookStore(engine), sealer, args.owner, args.url, events)
    finally:
        await engine.dispose()
    print(f"webhook {row['id']} for {row['owner']} -> {row['url']} ({', '.join(events)})")
    print("signing secret (verify with the standardwebhooks library):")
    print(secret)
    return 0


def _client(args: argparse.Namespace, settings: Settings) -> Any:
    from .watch import GatewayClient

    key = args.key or os.environ.get("VIDEOGATE_KEY")
    if not key:
        default = settings.data_dir / "default-key"
        key = default.read_text().strip() if default.exists() else ""
    url = args.url or f"http://{settings.host}:{settings.port}"
    return GatewayClient(url, key)


async def cmd_videos_watch(args: argparse.Namespace, settings: Settings) -> int:
    return int(await _client(args, settings).watch(args.video_id, args.output))


async def cmd_videos_create(args: argparse.Namespace, settings: Settings) -> int:
    client = _client(args, settings)
    fields = {
        k: v
        for k, v in (
            ("prompt", args.prompt),
            ("model", args.model),
            ("seconds", args.seconds),
            ("size", args.size),
        )
        if v
    }
    video_id = await client.create(fields)
    print(video_id)
    if args.wait:
        return int(await client.watch(video_id, args.output))
    return 0


async def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    async def run(_registry: Any) -> int:
        print(f"schema up to date at {settings.effective_database_url.split('@')[-1]}")
        return 0

    return await cli_admin.with_registry(settings, run)


LOG_LEVELS = ["debug", "info", "warning", "error"]
SHELLS = ["bash", "zsh", "fish"]


def cmd_completion(args: argparse.Namespace, settings: Settings) -> int:
    """The shell code that makes the shell ask `videogate` itself for completions.

    argcomplete's mechanism: the shell runs `videogate` with the line typed so far in its
    environment, and `main` answers from the same parser that parses real calls, so the
    completions can never drift from the commands.
    """
    from argcomplete.shell_integration import shellcode

    print(shellcode(["videogate"], shell=args.shell))
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="YAML config file")
    common.add_argument(
        "--data-dir",
        dest="data_dir",
        type=Path,
        help="holds the SQLite file, secrets and assets (default ./.videogate)",
    )
    common.add_argument(
        "--database-url", dest="database_url", help="SQLAlchemy URL; default SQLite in the data dir"
    )

    parser = argparse.ArgumentParser(prog="videogate", description=__doc__)
    parser.add_argument(
        "--version",
        action="version",
        version=f"videogate {__version__}",
        help="print the version and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the gateway")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--log-level", dest="log_level", choices=LOG_LEVELS, help="default info")
    serve.add_argument("--no-auth", action="store_true", help="local mode: no keys needed (unsafe)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument(
        "--server", choices=["uvicorn", "granian"], help="HTTP server (default uvicorn)"
    )
    serve.add_argument(
        "--workers", type=int, help="processes serving requests (default 1); one runs the worker"
    )
    serve.set_defaults(handler=cmd_serve)

    cli_admin.register(sub, common)

    providers = sub.add_parser("providers", help="capability matrix of every adapter")
    providers.set_defaults(handler=cmd_providers, config=None)

    token = sub.add_parser("token", parents=[common], help="mint a JWT")
    token.add_argument(
        "kind", choices=["admin", "key"], help="an admin token, or one for a virtual key"
    )
    token.add_argument("key_id", nargs="?", help="for `token key`: the virtual key's id")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.add_argument(
        "--subject", default="admin", help="the admin token's `sub` claim (default admin)"
    )
    token.set_defaults(handler=cmd_token)

    worker = sub.add_parser("worker", parents=[common], help="run only the background worker")
    worker.add_argument("--log-level", dest="log_level", choices=LOG_LEVELS, help="default info")
    worker.set_defaults(handler=cmd_worker)

    hooks = sub.add_parser("webhooks", help="webhook endpoints").add_subparsers(
        dest="hooks_cmd", required=True, metavar="COMMAND"
    )
    add = hooks.add_parser("add", parents=[common], help="send a key's video events to a URL")
    add.add_argument("owner", help="virtual key id (vk_…)")
    add.add_argument("url", help="the endpoint (https; private addresses need a config opt-in)")
    add.add_argument(
        "--events",
        nargs="+",
        choices=["video.completed", "video.failed", "video.deleted"],
        help="which events to send (default all three)",
    )
    add.set_defaults(handler=cmd_webhooks_add)

    client = argparse.ArgumentParser(add_help=False, parents=[common])
    client.add_argument("--url", help="gateway URL (default http://127.0.0.1:8080)")
    client.add_argument("--key", help="virtual key (default $VIDEOGATE_KEY or the data dir's)")
    client.add_argument(
        "--output", type=Path, help="where to save the video (default ./<video id>.mp4)"
    )
    vids = sub.add_parser("videos", help="create and watch jobs").add_subparsers(
        dest="videos_cmd", required=True, metavar="COMMAND"
    )
    watch = vids.add_parser(
        "watch", parents=[client], help="show progress until the job ends, then download it"
    )
    watch.add_argument("video_id", help="the id `videos create` printed")
    watch.set_defaults(handler=cmd_videos_watch)
    vcreate = vids.add_parser("create", parents=[client], help="start a job; prints its id")
    vcreate.add_argument("--prompt", required=True, help="what the video shows")
    vcreate.add_argument("--model", help="provider/model or an alias (default: the config's)")
    vcreate.add_argument("--seconds", help="duration, e.g. 4")
    vcreate.add_argument("--size", help="WIDTHxHEIGHT, e.g. 1280x720")
    vcreate.add_argument("--wait", action="store_true", help="watch it, then download it")
    vcreate.set_defaults(handler=cmd_videos_create)

    db = sub.add_parser("db", help="store maintenance").add_subparsers(
        dest="db_cmd", required=True, metavar="COMMAND"
    )
    upgrade = db.add_parser("upgrade", parents=[common], help="apply migrations")
    upgrade.set_defaults(handler=cmd_db_upgrade)

    completion = sub.add_parser(
        "completion",
        help='shell completion code: eval "$(videogate completion bash)"',
        description="Print the code that gives SHELL tab completion for videogate. "
        'bash: eval "$(videogate completion bash)" in ~/.bashrc; zsh: the same in ~/.zshrc '
        "(after compinit); fish: videogate completion fish | source, or save it as "
        "~/.config/fish/completions/videogate.fish.",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    completion.set_defaults(handler=cmd_completion, config=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (`videogate completion`)
        import argcomplete

        argcomplete.autocomplete(parser)  # answers and exits
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except (ConfigError, ValueError) as exc:
        print(f"videogate: {exc}", file=sys.stderr)
        return 2
    result = args.handler(args, settings)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return int(result)


if __name__ == "__main__":
    raise SystemExit(main())
