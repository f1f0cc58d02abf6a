"""Delivering webhook events, signed per Standard Webhooks, retried for about a day.

The `webhook-id` is the same on every retry of one event to one endpoint, so receivers can
de-duplicate; each attempt is recorded in the delivery log the admin API shows.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from ..gateway import Gateway

log = logging.getLogger("videogate.webhooks")


async def deliver_due(gw: Gateway) -> int:
    rows = await gw.webhooks.due()
    schedule = gw.settings.webhooks.retry_schedule_seconds
    for row in rows:
        endpoint = await gw.webhooks.endpoint(row["endpoint_id"])
        attempts = int(row["attempts"]) + 1
        if endpoint is None or not endpoint["enabled"]:
            await gw.webhooks.record_attempt(
                row["seq"],
                state="failed",
                attempts=attempts,
                next_at=time.time(),
                status=None,
                error="endpoint removed or disabled",
            )
            continue
        status, error = await _send(gw, endpoint, row["id"], row["payload"])
        if status is not None and 200 <= status < 300:
            await gw.webhooks.record_attempt(
                row["seq"],
                state="delivered",
                attempts=attempts,
                next_at=time.time(),
                status=status,
                error=None,
            )
            continue
        exhausted = attempts > len(schedule)
        delay = 0.0 if exhausted else schedule[attempts - 1]
        await gw.webhooks.record_attempt(
            row["seq"],
            state="failed" if exhausted else "pending",
            attempts=attempts,
            next_at=time.time() + delay,
            status=status,
            error=error,
        )
    return len(rows)


async def _send(
    gw: Gateway, endpoint: dict[str, str], msg_id: str, payload: str
) -> tuple[int | None, str | None]:
    now = datetime.now(tz=UTC)
    signature = Webhook(endpoint["secret"]).sign(msg_id, now, payload)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "user-agent": "videogate-webhooks",
    }
    timeout = aiohttp.ClientTimeout(total=gw.settings.webhooks.timeout_seconds)
    try:
        async with gw.http_session().post(
            endpoint["url"],
            data=payload.encode(),
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        ) as resp:
            await resp.read()
            return resp.status, None if resp.status < 300 else f"HTTP {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
