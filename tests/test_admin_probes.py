"""The admin API under odd input (issue 18, Low 11): every field of every create with every
JSON type, duplicate names, odd webhook and price bodies. Each is a 4xx, never a 500."""

from __future__ import annotations

import json
from typing import Any

from videogate.api.auth import mint_jwt

from .conftest import GatewayHandle

ODD: list[Any] = [None, True, 1, -1, 1.5, "x", "", [], [[]], {}, {"a": 1}, "9" * 400, ["x"], [1]]
LIMITS = ["budget_usd", "budget_period", "rpm", "max_active_jobs", "video_seconds_per_day"]
FIELDS = {
    "teams": ["name", "customer", *LIMITS, "allowed_models"],
    "customers": ["name", *LIMITS],
    "virtual-keys": [
        "name",
        "team",
        *LIMITS,
        "allowed_models",
        "allowed_providers",
        "provider_keys",
        "expires_at",
        "blocked",
        "description",
        "no_such_field",
    ],
}


def test_admin_api_answers_odd_input_with_4xx(gateway: GatewayHandle) -> None:
    token = mint_jwt(gateway.settings.jwt_secret(), role="admin", ttl_seconds=600)
    bad: list[tuple[Any, ...]] = []

    def probe(what: str, resp: Any) -> None:
        if resp.status_code >= 500:
            bad.append((what, resp.status_code, resp.text[:200]))

    with gateway.http(token) as http:
        for kind, fields in FIELDS.items():
            for field in fields:
                for n, value in enumerate(ODD):
                    body = {} if field == "name" else {"name": f"{kind}-{field}-{n}"}
                    body[field] = value
                    resp = http.post(f"/api/governance/{kind}", json=body)
                    probe(f"{kind}.{field}={json.dumps(value)[:20]}", resp)
        for kind in ("teams", "customers"):
            assert http.post(f"/api/governance/{kind}", json={"name": "dup"}).status_code == 200
            again = http.post(f"/api/governance/{kind}", json={"name": "dup"})
            assert again.status_code == 409, again.text
            assert again.json()["error"]["code"] == "name_taken"
        for value in ODD:
            body = {"owner": "vk_x", "url": "https://example.com", "events": value}
            probe(f"webhook events={value!r}", http.post("/api/webhooks", json=body))
            body = {"owner": value, "url": "https://example.com"}
            probe(f"webhook owner={value!r}", http.post("/api/webhooks", json=body))
            probe(f"prices={value!r}", http.put("/api/governance/prices", json=value))
            body = {"budget_usd": value}
            probe(f"team patch={value!r}", http.patch("/api/governance/teams/dup", json=body))
    assert not bad, bad
