"""Prometheus URLs: one canonical spelling, and credentials never in a URL or a message."""

from __future__ import annotations

import pytest

from scaler.metadata import MetadataError, parse_metadata
from scaler.prometheus_urls import (
    PrometheusTarget,
    UrlError,
    normalise_url,
    parse_allowed,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("http://prom:9090", "http://prom:9090"),
        (" HTTP://Prom.Example:9090/ ", "http://prom.example:9090"),
        ("http://prom:80/", "http://prom"),
        ("https://prom:443/prometheus/", "https://prom/prometheus"),
        ("http://[::1]:9090", "http://[::1]:9090"),
    ],
)
def test_urls_are_normalised(raw: str, canonical: str) -> None:
    assert normalise_url(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "empty"),
        ("prom:9090", "scheme"),
        ("ftp://prom", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("http://", "no host"),
        ("http://prom:9090/?x=1", "no query"),
        ("http://prom:9090/#f", "no query"),
        ("http://prom:99999", "not a valid URL"),
        ("http://pr om", "whitespace"),
        ("http://alice:s3cret@prom:9090", "credentials in the URL"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(raw: str, says: str) -> None:
    with pytest.raises(UrlError, match=says) as err:
        normalise_url(raw)
    assert "s3cret" not in str(err.value)


def test_the_allow_list_is_comma_or_space_separated_normalised_and_deduplicated() -> None:
    assert parse_allowed("http://a:9090/, http://A:9090  https://b") == (
        "http://a:9090",
        "https://b",
    )
    assert parse_allowed("") == ()
    with pytest.raises(UrlError, match="SCALER_PROMETHEUS_ALLOWED_URLS"):
        parse_allowed("http://a:9090,nope")


def test_server_address_is_normalised_into_the_config() -> None:
    cfg = parse_metadata("so", "ns", {"serverAddress": "HTTP://R1-Prometheus-Server.ns.svc:9090/"})
    assert cfg.prometheus == PrometheusTarget(url="http://r1-prometheus-server.ns.svc:9090")
    assert parse_metadata("so", "ns", {}).prometheus.is_default


def test_a_bad_server_address_names_the_key_and_hides_credentials() -> None:
    with pytest.raises(MetadataError, match="serverAddress") as err:
        parse_metadata("so", "ns", {"serverAddress": "http://alice:s3cret@prom:9090"})
    assert "s3cret" not in str(err.value)


def test_credentials_come_from_the_from_env_keys_and_never_show() -> None:
    cfg = parse_metadata(
        "so", "ns", {"serverAddress": "http://p:9090", "bearerTokenFromEnv": "tok3n"}
    )
    assert cfg.prometheus.authorization == "Bearer tok3n"
    assert "tok3n" not in repr(cfg)
    cfg = parse_metadata("so", "ns", {"authHeaderFromEnv": "Basic YWxpY2U6eA=="})
    assert cfg.prometheus == PrometheusTarget(url=None, authorization="Basic YWxpY2U6eA==")


@pytest.mark.parametrize(
    ("meta", "says"),
    [
        ({"bearerTokenFromEnv": "s3cret1", "authHeaderFromEnv": "s3cret2"}, "both set"),
        ({"bearerTokenFromEnv": "tok\r\nX-Evil: 1"}, "control characters"),
        ({"authHeaderFromEnv": "x" * 9000}, "at most|1 to"),
    ],
)
def test_bad_credentials_are_refused_without_echoing_them(meta: dict[str, str], says: str) -> None:
    with pytest.raises(MetadataError, match=says) as err:
        parse_metadata("so", "ns", meta)
    for value in meta.values():
        assert value not in str(err.value)


def test_other_from_env_keys_are_read_as_their_base_key() -> None:
    """KEDA forwards ``<key>FromEnv`` with the resolved value: any scaler key may come
    from the environment; an unknown one is refused without echoing its value."""
    assert parse_metadata("so", "ns", {"maxReplicasFromEnv": "7"}).prometheus.is_default
    with pytest.raises(MetadataError) as err:
        parse_metadata("so", "ns", {"somethingFromEnv": "s3cret"})
    assert "somethingFromEnv" in str(err.value) and "s3cret" not in str(err.value)
