"""Every error path answers the seed's envelope with its own status and code."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from videogate.api.auth import mint_jwt

from .conftest import GatewayHandle, assert_envelope


def _create(http: httpx.Client, **body: Any) -> dict[str, Any]:
    payload = {"prompt": "p", "model": "simulated/test-pattern", "size": "64x64", "seconds": 1}
    resp = http.post("/v1/videos", json={**payload, **body})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_request_errors(gateway: GatewayHandle) -> None:
    with gateway.http() as http:
        assert_envelope(http.get("/v1/videos/no-colon-here"), 400, "invalid_video_id")
        # a NUL (PostgreSQL refuses it in text) in a path id or an edit's video id
        assert_envelope(http.get("/v1/videos/a%00b:simulated"), 400, "invalid_video_id")
        edit = {"prompt": "p", "video": {"id": "a\u0000b:simulated"}}
        assert_envelope(http.post("/v1/videos/edits", json=edit), 400, "invalid_video_id")
        assert_envelope(http.get("/v1/videos/abc:nosuch"), 400, "unknown_provider")
        assert_envelope(http.get("/v1/videos/video_0:simulated"), 404, "video_not_found")
        assert_envelope(
            http.post(
                "/v1/videos", content=b"{not json", headers={"content-type": "application/json"}
            ),
            400,
            "invalid_json",
        )
        assert_envelope(
            http.post("/v1/videos", content=b"[1]", headers={"content-type": "application/json"}),
            400,
            "invalid_json",
        )
        assert_envelope(
            http.post("/v1/videos", content=b"prompt", headers={"content-type": "text/plain"}),
            415,
            "unsupported_media_type",
        )
        assert_envelope(
            http.post("/v1/videos", json={"model": "simulated/x"}), 400, "missing_prompt"
        )
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x", "model": "nosuch/m"}),
            400,
            "unknown_provider",
        )
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x", "model": "bare"}), 400, "unknown_model"
        )
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x", "size": "big"}), 400, "invalid_size"
        )
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x", "size": "4000x4000"}), 400, "invalid_size"
        )
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x", "seconds": "-3"}), 400, "invalid_seconds"
        )
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x", "fallbacks": "[oops"}),
            400,
            "invalid_fallbacks",
        )
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x" * 40000}), 400, "prompt_too_long"
        )
        assert_envelope(http.get("/v1/videos?limit=0"), 400, "invalid_limit")
        assert_envelope(http.get("/v1/videos?limit=abc"), 400, "invalid_limit")
        assert_envelope(http.get("/v1/videos?order=up"), 400, "invalid_order")
        assert_envelope(http.get("/v1/videos?provider=nosuch"), 400, "unknown_provider")
        assert_envelope(http.get("/v1/videos?after=video_x:simulated"), 400, "invalid_after")
        vid = _create(http)["id"]
        assert_envelope(
            http.get(f"/v1/videos/{vid}/content?variant=poster"), 400, "invalid_variant"
        )
        assert_envelope(http.post(f"/v1/videos/{vid}/remix", json={}), 400, "missing_prompt")
        assert_envelope(http.get("/v1/nothing"), 404, "route_not_found")
        assert_envelope(http.put("/v1/videos"), 405, "method_not_allowed")


def test_error_envelope_names_request_type_and_provider(gateway: GatewayHandle) -> None:
    with gateway.http() as http:
        body = assert_envelope(http.get("/v1/videos/video_0:simulated"), 404, "video_not_found")
        assert body["extra_fields"]["request_type"] == "video_retrieve"
        assert body["extra_fields"]["provider"] == "simulated"
        ids = {
            assert_envelope(http.get("/v1/videos/x:simulated"), 404, "video_not_found")["event_id"]
            for _ in range(3)
        }
        assert len(ids) == 3


def test_oversize_upload_is_413(make_gateway: Any) -> None:
    gw = make_gateway(limits={"max_upload_bytes": 10_000})
    with gw.http() as http:
        resp = http.post(
            "/v1/videos",
            data={"prompt": "x"},
            files={"input_reference": ("big.png", b"\x89PNG" + b"0" * 20_000, "image/png")},
        )
        assert_envelope(resp, 413, "payload_too_large")

        def chunks() -> Any:  # no Content-Length: the streamed body is cut off at the limit
            boundary = b"--b\r\n"
            yield boundary + b'Content-Disposition: form-data; name="input_reference"; '
            yield b'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
            for _ in range(10):
                yield b"0" * 4096
            yield b"\r\n--b--\r\n"

        resp = http.post(
            "/v1/videos",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert_envelope(resp, 413, "payload_too_large")


def test_auth_errors(gateway: GatewayHandle) -> None:
    secret = gateway.settings.jwt_secret()
    url = gateway.url + "/v1/videos"
    assert_envelope(httpx.get(url), 401, "virtual_key_required")
    assert_envelope(
        httpx.get(url, headers={"Authorization": "Basic abc"}), 401, "virtual_key_required"
    )
    assert_envelope(
        httpx.get(url, headers={"Authorization": "Bearer sk-bf-nope"}), 401, "virtual_key_not_found"
    )
    assert_envelope(httpx.get(url, headers={"Authorization": "Bearer hello"}), 401, "invalid_token")
    now = int(time.time())
    expired = jwt.encode({"role": "admin", "exp": now - 10}, secret, algorithm="HS256")
    assert_envelope(
        httpx.get(url, headers={"Authorization": f"Bearer {expired}"}), 401, "token_expired"
    )
    early = jwt.encode(
        {"role": "admin", "exp": now + 600, "nbf": now + 300}, secret, algorithm="HS256"
    )
    assert_envelope(
        httpx.get(url, headers={"Authorization": f"Bearer {early}"}), 401, "token_not_yet_valid"
    )
    no_exp = jwt.encode({"role": "admin"}, secret, algorithm="HS256")
    assert_envelope(
        httpx.get(url, headers={"Authorization": f"Bearer {no_exp}"}), 401, "invalid_token"
    )
    wrong_secret = "a-wrong-secret-that-is-long-enough-for-hs256!"
    forged = jwt.encode({"role": "admin", "exp": now + 60}, wrong_secret, algorithm="HS256")
    assert_envelope(
        httpx.get(url, headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_token"
    )
    other_alg = jwt.encode({"role": "admin", "exp": now + 60}, secret, algorithm="HS512")
    assert_envelope(
        httpx.get(url, headers={"Authorization": f"Bearer {other_alg}"}), 401, "invalid_token"
    )
    unsigned = jwt.encode({"role": "admin", "exp": now + 60}, None, algorithm="none")
    assert_envelope(
        httpx.get(url, headers={"Authorization": f"Bearer {unsigned}"}), 401, "invalid_token"
    )
    ok = mint_jwt(secret, role="admin", ttl_seconds=60)
    assert httpx.get(url, headers={"Authorization": f"Bearer {ok}"}).status_code == 200
    assert httpx.get(url, headers={"x-bf-vk": gateway.key or ""}).status_code == 200


def test_ownership_between_keys_and_admin(gateway: GatewayHandle) -> None:
    key_b = gateway.new_key("bob")
    secret = gateway.settings.jwt_secret()
    with gateway.http() as alice, gateway.http(key_b) as bob:
        mine = _create(alice)["id"]
        theirs = _create(bob)["id"]
        for path in (f"/v1/videos/{theirs}", f"/v1/videos/{theirs}/content"):
            assert_envelope(alice.get(path), 404, "video_not_found")
        assert_envelope(
            alice.post(f"/v1/videos/{theirs}/remix", json={"prompt": "x"}), 404, "video_not_found"
        )
        assert_envelope(alice.delete(f"/v1/videos/{theirs}"), 404, "video_not_found")
        assert [v["id"] for v in alice.get("/v1/videos").json()["data"]] == [mine]
        assert [v["id"] for v in bob.get("/v1/videos").json()["data"]] == [theirs]
        # A cursor from someone else's listing is not a way in either.
        assert_envelope(alice.get(f"/v1/videos?after={theirs}"), 400, "invalid_after")
    admin = mint_jwt(secret, role="admin", ttl_seconds=60)
    with gateway.http(admin) as root:
        assert {v["id"] for v in root.get("/v1/videos").json()["data"]} == {mine, theirs}
        assert root.get(f"/v1/videos/{theirs}").status_code == 200
        assert root.delete(f"/v1/videos/{theirs}").json()["deleted"] is True
    with gateway.http(key_b) as bob:
        assert_envelope(bob.get(f"/v1/videos/{theirs}"), 404, "video_not_found")


def test_virtual_key_jwt_resolves_to_its_key(gateway: GatewayHandle) -> None:
    with gateway.http() as alice:
        vid = _create(alice)["id"]
        key_id = gateway.key_ids()[0]
    token = mint_jwt(gateway.settings.jwt_secret(), role="virtual_key", ttl_seconds=60, vk=key_id)
    with gateway.http(token) as via_jwt:
        assert via_jwt.get(f"/v1/videos/{vid}").status_code == 200
    ghost = mint_jwt(
        gateway.settings.jwt_secret(), role="virtual_key", ttl_seconds=60, vk="vk_missing"
    )
    assert_envelope(
        httpx.get(gateway.url + "/v1/videos", headers={"Authorization": f"Bearer {ghost}"}),
        401,
        "virtual_key_not_found",
    )


def test_revoked_key_stops_within_a_second(gateway: GatewayHandle) -> None:
    import subprocess
    import sys

    key = gateway.new_key("short-lived")
    with gateway.http(key) as http:
        assert http.get("/v1/videos").status_code == 200
        subprocess.run(
            [
                sys.executable,
                "-m",
                "videogate",
                "keys",
                "revoke",
                "short-lived",
                "--data-dir",
                str(gateway.settings.data_dir),
                "--database-url",
                gateway.settings.effective_database_url,
            ],
            check=True,
            capture_output=True,
        )
        time.sleep(1.1)
        assert_envelope(http.get("/v1/videos"), 401, "virtual_key_revoked")


@pytest.mark.parametrize("prefix", ["/v1", "", "/openai", "/openai/v1", "/openai/openai"])
def test_all_prefixes_and_encoded_colon(gateway: GatewayHandle, prefix: str) -> None:
    with gateway.http() as http:
        resp = http.post(f"{prefix}/videos", json={"prompt": "p", "size": "64x64", "seconds": 1})
        assert resp.status_code == 200, resp.text
        vid = resp.json()["id"]
        encoded = vid.replace(":", "%3A")
        assert http.get(f"{prefix}/videos/{encoded}").json()["id"] == vid
        assert http.get(f"{prefix}/videos").json()["data"][0]["id"] == vid
        gone = http.delete(f"{prefix}/videos/{encoded}").json()
        assert gone["id"] == vid and gone["deleted"] is True
        assert_envelope(http.get(f"{prefix}/videos/{vid}"), 404, "video_not_found")


def test_list_filters_by_provider(make_gateway: Any) -> None:
    fast = {"type": "simulated", "options": {"generation_seconds": 1.0, "fps": 8}}
    gw = make_gateway(providers={"simulated": fast, "sim2": fast})
    with gw.http() as http:
        a = _create(http)["id"]
        b = _create(http, model="sim2/test-pattern")["id"]
        assert b.endswith(":sim2")
        assert [v["id"] for v in http.get("/v1/videos?provider=sim2").json()["data"]] == [b]
        listed = http.get("/v1/videos", headers={"x-bf-video-list-provider": "simulated"})
        assert [v["id"] for v in listed.json()["data"]] == [a]
        assert listed.json()["extra_fields"]["request_type"] == "video_list"


def test_no_auth_mode(make_gateway: Any) -> None:
    gw = make_gateway(auth={"enabled": False})
    assert gw.key is None
    resp = httpx.post(gw.url + "/v1/videos", json={"prompt": "p", "size": "64x64", "seconds": 1})
    assert resp.status_code == 200
    assert httpx.get(gw.url + "/v1/videos").json()["data"][0]["id"] == resp.json()["id"]


def test_openapi_and_providers(gateway: GatewayHandle) -> None:
    spec = httpx.get(gateway.url + "/openapi.json").json()
    assert "/v1/videos/{video_id}" in spec["paths"]
    assert "delete" in spec["paths"]["/v1/videos/{video_id}"]
    with gateway.http() as http:
        providers = http.get("/v1/providers").json()["data"]
    assert providers[0]["id"] == "simulated"
    assert "remix" in providers[0]["capabilities"]
