"""Delivering webhook events, signed per Standard Webhooks, retried for about a day.

The `webhook-id` is the same on every retry of one event to one endpoint, so receivers can
de-duplicate; each attempt is recorded in the delivery log the admin API shows.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from ..config import WebhooksConfig
from ..errors import GatewayError
from ..governance.crypto import Sealer
from ..store.webhooks import Row, WebhookStore
from ..telemetry import metrics, tracing
from . import outbound

log = logging.getLogger("videogate.webhooks")


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


async def add_endpoint(
    store: WebhookStore, sealer: Sealer, owner: str, url: str, events: list[str]
) -> tuple[Row, str]:
    """(the stored endpoint, its signing secret in the clear: shown once, kept sealed)."""
    secret = new_secret()
    return await store.create_endpoint(owner, url, events, sealer.seal(secret)), secret


class WebhookDelivery:
    """Sends queued events, signed (Standard Webhooks), retrying on the configured schedule."""

    def __init__(self, store: WebhookStore, config: WebhooksConfig, sealer: Sealer) -> None:
        self.store = store
        self.config = config
        self.sealer = sealer
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """One pooled session for every delivery, made on first use (most processes never
        deliver: no endpoints, or the worker runs elsewhere)."""
        if self._session is None or self._session.closed:
            self._session = outbound.session(allow_private=self.config.allow_private_networks)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def deliver_due(self) -> int:
        rows = await self.store.due()
        schedule = self.config.retry_schedule_seconds
        for row in rows:
            endpoint = await self.store.endpoint(row["endpoint_id"])
            attempts = int(row["attempts"]) + 1
            if endpoint is None or not endpoint["enabled"]:
                await self.store.record_attempt(
                    row["seq"],
                    state="failed",
                    attempts=attempts,
                    next_at=time.time(),
                    status=None,
                    error="endpoint removed or disabled",
                )
                continue
            with tracing.span(
                "webhook deliver",
                tracing.CLIENT,
                attributes={
                    "videogate.event_type": row.get("event_type"),
                    "videogate.video_id": row.get("video_id"),
                },
            ) as span:
                status, error = await self._send(endpoint, row["id"], row["payload"])
                tracing.finish_attributes(span, {"http.response.status_code": status})
            delivered = status is not None and 200 <= status < 300
            metrics.webhook_attempt(
                "delivered" if delivered else ("failed" if attempts > len(schedule) else "retrying")
            )
            if delivered:
                await self.store.record_attempt(
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
            await self.store.record_attempt(
                row["seq"],
                state="failed" if exhausted else "pending",
                attempts=attempts,
                next_at=time.time() + delay,
                status=status,
                error=error,
            )
        return len(rows)

    async def _send(
        self, endpoint: dict[str, str], msg_id: str, payload: str
    ) -> tuple[int | None, str | None]:
        now = datetime.now(tz=UTC)
        signature = Webhook(self.sealer.open(endpoint["secret"])).sign(msg_id, now, payload)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
            "user-agent": "videogate-webhooks",
        }
        tracing.propagate(headers)  # W3C traceparent of the delivery's span, when tracing
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        try:
            # again at send time: a row may predate the rule (a name is checked on connect)
            outbound.check_url(
                endpoint["url"], "url", allow_private=self.config.allow_private_networks
            )
        except GatewayError as refused:
            return None, refused.message
        try:
            async with self.session().post(
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
