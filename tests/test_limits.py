"""Bounds on client input, bounded messages and secret redaction (issue 13 findings 4, 5, 8, 9)."""

from __future__ import annotations

import pytest

from scaler.limits import (
    MAX_MESSAGE_CHARS,
    clean_message,
    metadata_size_problem,
    number_problem,
    redact,
    short,
    strip_url_credentials,
)
from scaler.metadata import MetadataError, parse_metadata


def test_url_credentials_are_stripped_plain_and_url_encoded() -> None:
    text = "cannot reach http://user:pa55@prom:9090/api and https%3A%2F%2Fme%3Asecret%40host%2F"
    out = strip_url_credentials(text)
    assert "pa55" not in out and "secret" not in out
    assert "http://prom:9090/api" in out


def test_messages_are_bounded() -> None:
    msg = clean_message("x" * 20_000)
    assert len(msg) <= MAX_MESSAGE_CHARS
    assert "20000 chars" in msg
    assert len(short("y" * 5000)) < 120


def test_secrets_are_redacted_by_name() -> None:
    meta = {
        "tlsClientKey": "-----BEGIN PRIVATE KEY-----",
        "caCert": "-----BEGIN CERTIFICATE-----",
        "bearerTokenFromEnv": "MY_TOKEN",
        "apiPassword": "hunter2",
        "target": "50",
        "url": "http://u:p@host",
    }
    out = redact(meta)
    assert out["tlsClientKey"] == out["caCert"] == out["bearerTokenFromEnv"] == "<redacted>"
    assert out["apiPassword"] == "<redacted>"
    assert out["target"] == "50"
    assert out["url"] == "http://host"


def test_size_is_checked_before_anything_else() -> None:
    assert metadata_size_problem({"k": "v" * 100}, 1000) is None
    assert "SCALER_MAX_METADATA_BYTES" in (metadata_size_problem({"k": "v" * 2000}, 1000) or "")
    assert "characters" in (metadata_size_problem({"k": "v" * 20_000}, 10**6) or "")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN", "1e400", "9" * 400])
def test_non_finite_and_absurd_numbers_are_named(value: str) -> None:
    assert "maxStepUp" in (number_problem("maxStepUp", value) or "")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("maxStepUp", "9" * 400),
        ("target", "inf"),
        ("target", "nan"),
        ("scaleDownStabilizationSeconds", "1e400"),
        ("schedule", "nan/1h/100"),
        ("schedule", "inf/1h/100"),
        ("schedule", "2026-12-01T00:00:00Z/nan/100"),
        ("schedule", "[" * 5000 + "]" * 5000),
        ("schedule", ";".join(["0/1h/100"] * 600)),
    ],
)
def test_broken_metadata_is_refused_naming_the_key(key: str, value: str) -> None:
    meta = {"target": "50", key: value}
    if key == "schedule":
        meta["policy"] = "scheduled"
    with pytest.raises(MetadataError) as err:
        parse_metadata("t", "cms", meta)
    message = str(err.value)
    assert key in message
    assert len(message) < 1024


def test_an_unknown_huge_key_is_quoted_short() -> None:
    with pytest.raises(MetadataError) as err:
        parse_metadata("t", "cms", {"k" * 200: "v" * 10_000})
    assert len(str(err.value)) < 1024


def test_an_unknown_secret_named_key_is_named_but_its_value_never_quoted() -> None:
    with pytest.raises(MetadataError) as err:
        parse_metadata("t", "cms", {"target": "50", "apiToken": "tok-123-secret"})
    assert "apiToken" in str(err.value)
    assert "tok-123" not in str(err.value)
