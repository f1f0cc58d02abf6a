"""`videogate keys|teams|customers|usage`: governance from the command line.

These work directly against the store of a data dir (or `--database-url`), so they need no
running gateway; every change goes through the same registry as the admin API and lands in
the audit log with the actor `cli:<user>`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .config import Settings

if TYPE_CHECKING:  # imported when a command runs: the store would cost every `--help`,
    # `--version` and completion (each tab press) about 0.6 s
    from .governance.registry import Registry


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def with_registry(settings: Settings, fn: Callable[[Registry], Awaitable[int]]) -> int:
    from .governance.registry import Registry
    from .store.db import make_engine, migrate

    engine = make_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        return await fn(Registry(engine))
    except ValueError as exc:
        print(f"videogate: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()


def limit_values(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("budget_usd", "budget_period", "rpm", "max_active_jobs", "video_seconds_per_day"):
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    if getattr(args, "models", None):
        values["allowed_models"] = args.models
    return values


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _limits(row: dict[str, Any]) -> str:
    parts = []
    if row.get("budget_usd") is not None:
        parts.append(f"${row['budget_usd']:g}/{row.get('budget_period') or 'never'}")
    for name, label in (
        ("rpm", "rpm"),
        ("max_active_jobs", "active"),
        ("video_seconds_per_day", "s/day"),
    ):
        if row.get(name) is not None:
            parts.append(f"{row[name]:g} {label}")
    return ", ".join(parts) or "-"


# -- keys ---------------------------------------------------------------------------------
async def keys_create(args: argparse.Namespace, settings: Settings) -> int:
    async def run(reg: Registry) -> int:
        values = limit_values(args)
        if args.team:
            values["team"] = args.team
        if args.providers:
            values["allowed_providers"] = args.providers
        if args.provider_keys:
            values["provider_keys"] = args.provider_keys
        if args.expires_in is not None:
            values["expires_at"] = time.time() + args.expires_in
        if args.description:
            values["description"] = args.description
        row, secret = await reg.create_key(args.name, values, _actor())
        print(
            f"created virtual key {row['name']!r} (id {row['id']}; limits: {_limits(row)}); "
            "it is shown only once:"
        )
        print(secret)
        return 0

    return await with_registry(settings, run)


async def keys_list(args: argparse.Namespace, settings: Settings) -> int:
    async def run(reg: Registry) -> int:
        teams = {t["id"]: t["name"] for t in await reg.entities("team")}
        rows = []
        for r in await reg.keys.all():
            state = "revoked" if r["revoked_at"] else ("blocked" if r["blocked"] else "active")
            rows.append(
                [
                    r["id"],
                    r["name"],
                    r["key_prefix"] + "…",
                    state,
                    teams.get(r["team_id"] or "", "-"),
                    _limits(r),
                    ",".join(r["allowed_models"] or []) or "*",
                ]
            )
        print(table(rows, ["ID", "NAME", "PREFIX", "STATE", "TEAM", "LIMITS", "MODELS"]))
        return 0

    return await with_registry(settings, run)


async def keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async def run(reg: Registry) -> int:
        row = await reg.revoke_key(args.key, _actor())
        if row is None:
            print(f"no single key has id or name {args.key!r}", file=sys.stderr)
            return 1
        print(f"revoked {row['id']} ({row['name']})")
        return 0

    return await with_registry(settings, run)


async def keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    grace = args.grace if args.grace is not None else settings.governance.rotation_grace_seconds

    async def run(reg: Registry) -> int:
        rotated = await reg.rotate_key(args.key, grace, _actor())
        if rotated is None:
            print(f"no active key has id or name {args.key!r}", file=sys.stderr)
            return 1
        row, secret = rotated
        print(
            f"rotated {row['id']} ({row['name']}); the old secret works for {grace:g} s more. "
            "New secret, shown only once:"
        )
        print(secret)
        return 0

    return await with_registry(settings, run)


async def keys_block(args: argparse.Namespace, settings: Settings) -> int:
    async def run(reg: Registry) -> int:
        row = await reg.keys.find(args.key)
        if row is None:
            print(f"no single key has id or name {args.key!r}", file=sys.stderr)
            return 1
        await reg.update_key(row["id"], {"blocked": args.block}, _actor())
        print(f"{'blocked' if args.block else 'unblocked'} {row['id']} ({row['name']})")
        return 0

    return await with_registry(settings, run)


# -- teams and customers ------------------------------------------------------------------
def entity_commands(
    kind: str,
) -> tuple[Callable[..., Awaitable[int]], Callable[..., Awaitable[int]]]:
    async def create(args: argparse.Namespace, settings: Settings) -> int:
        async def run(reg: Registry) -> int:
            values = limit_values(args)
            if kind == "customer":
                values.pop("allowed_models", None)
            if getattr(args, "customer", None):
                customer = await reg.get("customer", args.customer)
                if customer is None:
                    raise ValueError(f"no customer {args.customer!r}")
                values["customer_id"] = customer["id"]
            row = await reg.create_entity(kind, {"name": args.name, **values}, _actor())
            print(f"created {kind} {row['name']!r} (id {row['id']}; limits: {_limits(row)})")
            return 0

        return await with_registry(settings, run)

    async def listing(args: argparse.Namespace, settings: Settings) -> int:
        async def run(reg: Registry) -> int:
            rows = [[r["id"], r["name"], _limits(r)] for r in await reg.entities(kind)]
            print(table(rows, ["ID", "NAME", "LIMITS"]))
            return 0

        return await with_registry(settings, run)

    return create, listing


# -- usage --------------------------------------------------------------------------------
async def usage(args: argparse.Namespace, settings: Settings) -> int:
    async def run(reg: Registry) -> int:
        filters: dict[str, Any] = {
            "provider": args.provider,
            "model": args.model,
            "status": args.status,
        }
        if args.key:
            key = await reg.keys.find(args.key)
            filters["key_id"] = key["id"] if key else args.key
        for kind in ("team", "customer"):
            ref = getattr(args, kind)
            if ref:
                found = await reg.get(kind, ref)
                filters[f"{kind}_id"] = found["id"] if found else ref
        if args.since_hours is not None:
            filters["since"] = time.time() - args.since_hours * 3600
        rows, totals = await reg.usage(filters)
        body = [
            [
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["created_at"])),
                r["video_id"],
                r["key_id"] or "-",
                f"{r['provider']}/{r['model']}",
                f"{r['seconds']:g}",
                r["resolution"] or "-",
                r["status"],
                f"{r['cost_usd']:.4f}",
            ]
            for r in rows
        ]
        print(
            table(
                body,
                ["WHEN (UTC)", "VIDEO", "KEY", "MODEL", "SECONDS", "RES", "STATUS", "COST USD"],
            )
        )
        print(
            f"\ntotal: {totals['jobs']} jobs, {totals['seconds']:g} s, "
            f"${totals['cost_usd']:.4f} charged, ${totals['reserved_usd']:.4f} reserved"
        )
        return 0

    return await with_registry(settings, run)


def add_limit_flags(p: argparse.ArgumentParser, models: bool = True) -> None:
    p.add_argument("--budget-usd", dest="budget_usd", type=float, help="spending cap in USD")
    p.add_argument(
        "--budget-period",
        dest="budget_period",
        choices=["daily", "weekly", "monthly", "never"],
        help="when the budget resets (default never)",
    )
    p.add_argument("--rpm", type=int, help="requests per minute")
    p.add_argument(
        "--max-active-jobs", dest="max_active_jobs", type=int, help="jobs running at once"
    )
    p.add_argument(
        "--video-seconds-per-day",
        dest="video_seconds_per_day",
        type=float,
        help="seconds of video generated per day",
    )
    if models:
        p.add_argument("--models", nargs="+", help="allowed provider/model patterns")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    keys = sub.add_parser("keys", help="virtual keys").add_subparsers(
        dest="keys_cmd", required=True, metavar="COMMAND"
    )
    create = keys.add_parser("create", parents=[common], help="create a key; prints it last")
    create.add_argument("name", help="a name unique among the keys")
    create.add_argument("--description", help="free text shown in listings")
    create.add_argument("--team", help="team name or id")
    create.add_argument("--providers", nargs="+", help="allowed providers")
    create.add_argument(
        "--provider-keys", dest="provider_keys", nargs="+", help="upstream key names it may use"
    )
    create.add_argument(
        "--expires-in", dest="expires_in", type=float, help="seconds until the key expires"
    )
    add_limit_flags(create)
    create.set_defaults(handler=keys_create)
    keys.add_parser("list", parents=[common], help="list keys (never secrets)").set_defaults(
        handler=keys_list
    )
    revoke = keys.add_parser("revoke", parents=[common], help="revoke a key by id or name")
    revoke.add_argument("key", help="the key's id or name")
    revoke.set_defaults(handler=keys_revoke)
    rotate = keys.add_parser("rotate", parents=[common], help="new secret; prints it last")
    rotate.add_argument("key", help="the key's id or name")
    rotate.add_argument(
        "--grace",
        type=float,
        help="seconds the old secret keeps working (default governance.rotation_grace_seconds)",
    )
    rotate.set_defaults(handler=keys_rotate)
    for name, flag in (("block", True), ("unblock", False)):
        p = keys.add_parser(name, parents=[common], help=f"{name} a key")
        p.add_argument("key", help="the key's id or name")
        p.set_defaults(handler=keys_block, block=flag)

    for kind, plural in (("team", "teams"), ("customer", "customers")):
        make, listing = entity_commands(kind)
        group = sub.add_parser(plural, help=f"{plural} and their limits").add_subparsers(
            dest=f"{plural}_cmd", required=True, metavar="COMMAND"
        )
        c = group.add_parser("create", parents=[common], help=f"create a {kind}")
        c.add_argument("name", help=f"a name unique among the {plural}")
        add_limit_flags(c, models=kind == "team")
        if kind == "team":
            c.add_argument("--customer", help="customer name or id")
        c.set_defaults(handler=make)
        group.add_parser("list", parents=[common], help=f"list {plural}").set_defaults(
            handler=listing
        )

    use = sub.add_parser("usage", parents=[common], help="usage rows and totals")
    for name, what in (
        ("key", "a virtual key's id or name"),
        ("team", "a team's id or name"),
        ("customer", "a customer's id or name"),
        ("provider", "a provider id"),
        ("model", "a model, without its provider/ prefix"),
        ("status", "a job status, e.g. completed"),
    ):
        use.add_argument(f"--{name}", help=f"only rows of {what}")
    use.add_argument("--since-hours", dest="since_hours", type=float, help="only the last N hours")
    use.set_defaults(handler=usage)
