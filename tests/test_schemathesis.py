"""A bounded schemathesis run over every operation of the running gateway's own OpenAPI
document (as `/openapi.json` serves it), with a virtual key for the API and an admin JWT for
the admin routes. Each answer must not be a 5xx and must conform to the document: a listed
status, a listed content type, a body matching its schema, the headers it promises (issue 18:
a run like this found the first of the tenant-reachable 500s; issue 17: the document covers
every route)."""

from __future__ import annotations

import copy
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from videogate.api.auth import mint_jwt

from .conftest import GatewayHandle

# Examples per operation; derandomized, so CI runs the same cases every time. The /v1
# operations get more than their aliases under the other mounts (the same handlers).
EXAMPLES = 6
ALIAS_EXAMPLES = 2
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
BUDGET_SECONDS = 90  # the whole run; a slower one is a regression worth seeing


AUTH_HEADERS = ("authorization", "x-bf-vk", "x-api-key", "x-goog-api-key", "api-key")


def _is_admin(operation: Any) -> bool:
    return bool(operation.definition.raw.get("security") == [{"bearer": []}])


def _real_things(gateway: GatewayHandle, admin: str) -> dict[str, str]:
    """Things that exist, so that some cases reach past the 404: a completed video, a
    customer, a team, a virtual key and a webhook endpoint."""
    with gateway.http() as http:
        video = http.post("/v1/videos", json={"prompt": "seed", "size": "64x64", "seconds": "1"})
        video_id = video.json()["id"]
        deadline = time.monotonic() + 20
        while http.get(f"/v1/videos/{video_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline, "the seed video did not complete"
            time.sleep(0.2)
    with gateway.http(admin) as http:
        made = {
            kind: http.post(f"/api/governance/{kind}", json={"name": f"st-{kind}"}).json()["id"]
            for kind in ("customers", "teams", "virtual-keys")
        }
        hook = http.post("/api/webhooks", json={"url": "http://127.0.0.1:9/hook", "owner": "admin"})
        assert hook.status_code == 200, hook.text
    return {"video_id": video_id, "endpoint_id": hook.json()["id"], **made}


def _substitute(case: Any, real: dict[str, str]) -> None:
    """Point the case's path parameters at things that exist (never for a DELETE, which
    would remove them for the cases after it)."""
    params = case.path_parameters or {}
    if case.method == "DELETE":
        return
    if "video_id" in params:
        params["video_id"] = real["video_id"]
    if "endpoint_id" in params:
        params["endpoint_id"] = real["endpoint_id"]
    if "ref" in params:
        kind = case.path.split("/")[3]
        params["ref"] = real[kind]


@dataclass
class Run:
    operations: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def calls(self) -> int:
        return sum(self.statuses.values())


def run_schemathesis(
    gateway: GatewayHandle, spec: dict[str, Any], admin: str, real: dict[str, str]
) -> Run:
    """Every operation of `spec`, bounded, each answer checked against `spec`."""
    schema = schemathesis.openapi.from_dict(spec)
    out = Run()

    def check(operation: Any) -> None:
        token = admin if _is_admin(operation) else gateway.key
        headers = {"Authorization": f"Bearer {token}"}
        alias = "_" in operation.definition.raw["operationId"]
        count = [0]

        @given(case=operation.as_strategy())
        @settings(
            max_examples=ALIAS_EXAMPLES if alias else EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            count[0] += 1
            # Most cases carry the real credential (the generated ones are 401s); every
            # fourth keeps what schemathesis made of the security schemes.
            sent = dict(headers)
            if count[0] % 4 != 0 and case.headers:
                for name in [h for h in case.headers if h.lower() in AUTH_HEADERS]:
                    del case.headers[name]
            elif count[0] % 4 == 0:
                sent = {}
            if count[0] % 2 == 1:
                _substitute(case, real)
            response = case.call(base_url=gateway.url, headers=sent, timeout=30)
            out.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=sent)
            except FailureGroup as exc:  # every failed check (a BaseExceptionGroup)
                out.failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{str(exc)[:600]}"
                )

        run()

    for result in schema.get_all_operations():
        out.operations += 1
        check(result.ok())
    return out


@pytest.fixture
def seeded(make_gateway: Any) -> tuple[GatewayHandle, dict[str, Any], str, dict[str, str]]:
    gateway = make_gateway(webhooks={"allow_private_networks": True})
    spec = httpx.get(gateway.url + "/openapi.json").json()
    admin = mint_jwt(gateway.settings.jwt_secret(), role="admin", ttl_seconds=600)
    return gateway, spec, admin, _real_things(gateway, admin)


def test_every_operation_conforms(
    seeded: tuple[GatewayHandle, dict[str, Any], str, dict[str, str]],
) -> None:
    gateway, spec, admin, real = seeded
    began = time.monotonic()
    run = run_schemathesis(gateway, spec, admin, real)
    elapsed = time.monotonic() - began
    print(
        f"schemathesis: {run.operations} operations, {run.calls} calls, "
        f"{len(run.failures)} failures, {elapsed:.1f} s, "
        f"statuses {dict(sorted(run.statuses.items()))}"
    )
    assert run.operations == sum(len(item) for item in spec["paths"].values())
    assert not run.failures, f"{len(run.failures)} failures:\n" + "\n".join(run.failures[:15])
    assert run.calls >= 2 * run.operations, (run.calls, run.operations)  # it did run
    assert run.statuses[200] >= run.operations // 2, run.statuses  # and got past the guards
    assert elapsed < BUDGET_SECONDS


def test_the_checks_catch_a_document_that_lies(
    seeded: tuple[GatewayHandle, dict[str, Any], str, dict[str, str]],
) -> None:
    """The same run over a document that is wrong in three ways fails on each: a status the
    handler returns left out, a Video key the body lacks made required, and a JSON answer
    declared as another media type."""
    gateway, spec, admin, real = seeded
    paths = spec["paths"]
    lying = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "components": copy.deepcopy(spec["components"]),
        "paths": {
            "/v1/videos": {"get": copy.deepcopy(paths["/v1/videos"]["get"])},
            "/v1/videos/{video_id}": {"get": copy.deepcopy(paths["/v1/videos/{video_id}"]["get"])},
            "/health": {"get": copy.deepcopy(paths["/health"]["get"])},
        },
    }
    del lying["paths"]["/v1/videos"]["get"]["responses"]["400"]
    video = lying["components"]["schemas"]["Video"]
    video["required"].append("thumbnail")
    video["properties"]["thumbnail"] = {"type": "string"}
    ok = lying["paths"]["/health"]["get"]["responses"]["200"]
    ok["content"] = {"text/plain": ok["content"]["application/json"]}
    run = run_schemathesis(gateway, lying, admin, real)
    text = "\n".join(run.failures)
    assert "GET /v1/videos -> 400" in text, text
    assert "thumbnail" in text, text
    assert "GET /health -> 200" in text, text
