"""Dashboard hardening (issue 13 findings 9, 10): secrets never shown, state-changing
work needs the token, bounded uploads, Host allow-list and frame/CSP headers."""

from __future__ import annotations

from tests.dashboard.conftest import METADATA, Env

SECRET_META = {
    **METADATA,
    "tlsClientKey": "-----BEGIN PRIVATE KEY-----MIIEv",
    "caCert": "-----BEGIN CERTIFICATE-----MIIDd",
    "passwordFromEnv": "PROM_PASSWORD",
}


def test_trigger_secrets_are_never_shown_by_the_api_or_the_export(env: Env) -> None:
    env.tracker.track(env.tracker.config_for("triton", "ligo", SECRET_META))
    texts = [
        env.client.get("/api/objects/ligo/triton").text,
        env.client.get("/api/objects/ligo/triton/export").text,
        env.client.get("/api/objects").text,
    ]
    for text in texts:
        assert "MIIEv" not in text and "MIIDd" not in text and "PROM_PASSWORD" not in text
    body = env.client.get("/api/objects/ligo/triton").json()
    assert body["base_metadata"]["tlsClientKey"] == "<redacted>"
