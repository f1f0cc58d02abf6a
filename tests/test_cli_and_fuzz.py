"""The CLI a newcomer uses, and open-ended inputs that must never crash the gateway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from videogate.config import load_settings

from .conftest import GatewayHandle


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "videogate", *args], capture_output=True, text=True
    )


def test_keys_and_tokens_against_the_store(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = run_cli("keys", "create", "alice", "--data-dir", data)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("sk-bf-") and len(key) > 40
    listed = run_cli("keys", "list", "--data-dir", data)
    assert "alice" in listed.stdout and key not in listed.stdout
    assert run_cli("keys", "revoke", "nobody", "--data-dir", data).returncode == 1
    assert "revoked" in run_cli("keys", "revoke", "alice", "--data-dir", data).stdout
    token = run_cli("token", "admin", "--data-dir", data, "--ttl", "60").stdout.strip()
    secret = load_settings(None, data_dir=Path(data)).jwt_secret()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["role"] == "admin" and claims["exp"] - claims["iat"] == 60
    assert (Path(data) / "jwt-secret").stat().st_mode & 0o777 == 0o600
    bad = run_cli("serve", "--config", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2 and "cannot read config" in bad.stderr


ID_CHARS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=ID_CHARS)
def test_any_video_id_gets_a_4xx_envelope(gateway: GatewayHandle, raw: str) -> None:
    from urllib.parse import quote

    # dots escaped too: the client would drop a bare "." or ".." segment (RFC 3986 5.2.4),
    # turning the path into the collection's, which is not an id at all
    quoted = quote(raw, safe="").replace(".", "%2E")
    with gateway.http() as http:
        for method, suffix in (("GET", ""), ("DELETE", ""), ("GET", "/content")):
            resp = http.request(method, f"/v1/videos/{quoted}{suffix}")
            assert resp.status_code in (400, 404, 405), (raw, resp.text)
            assert "error" in resp.json()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(
            ["prompt", "model", "seconds", "size", "input_reference", "fallbacks", "x"]
        ),
        json_values,
        max_size=6,
    )
)
def test_any_create_body_is_answered_cleanly(gateway: GatewayHandle, body: dict[str, Any]) -> None:
    with gateway.http() as http:
        resp = http.post("/v1/videos", json=body)
        assert resp.status_code in (200, 400, 413, 415), resp.text
        if resp.status_code != 200:
            assert resp.json()["is_bifrost_error"] is True
