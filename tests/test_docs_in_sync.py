"""The README's provider table and the example config stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from videogate.config import load_settings
from videogate.providers.registry import KNOWN_TYPES, build_providers, capability_table

ROOT = Path(__file__).resolve().parent.parent


def test_readme_table_is_generated_from_code() -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- providers:start -->\n(.*?)\n<!-- providers:end -->", readme, re.S)
    assert found is not None
    assert found.group(1).strip() == capability_table()


def test_example_config_builds_every_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    text = (ROOT / "examples" / "videogate.yaml").read_text()
    for name in set(re.findall(r"env\.([A-Z0-9_]+)", text)):
        monkeypatch.setenv(name, "test-value")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    monkeypatch.setenv(
        "VERTEX_SERVICE_ACCOUNT_JSON",
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p",
                "private_key_id": "k",
                "private_key": pem,
                "client_email": "sa@p.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        ),
    )
    settings = load_settings(ROOT / "examples" / "videogate.yaml", data_dir=tmp_path)
    providers = build_providers(settings)
    assert {p.type_name for p in providers.values()} == set(KNOWN_TYPES)
