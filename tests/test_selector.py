"""The activation selector: a metric name with equality matchers, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaler.metadata import MetadataError, parse_metadata
from scaler.promql import queries_for
from scaler.selector import Selector, SelectorError, parse_selector

ENVOY_NONE_HEALTHY = (
    'envoy_cluster_upstream_cx_none_healthy{envoy_cluster_name="triton_grpc_service"}'
)
ENVOY_DOWNSTREAM = 'envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress_grpc"}'


def test_a_bare_metric_name_is_a_selector() -> None:
    assert parse_selector("envoy_cluster_upstream_rq_total") == Selector(
        "envoy_cluster_upstream_rq_total"
    )


@pytest.mark.parametrize("text", [ENVOY_NONE_HEALTHY, ENVOY_DOWNSTREAM])
def test_supersonic_envoy_defaults_parse_and_round_trip(text: str) -> None:
    assert parse_selector(text).text() == text


def test_labels_are_sorted_and_spacing_and_a_trailing_comma_are_allowed() -> None:
    sel = parse_selector(' m { b = "1", a="x:9/y" , } ')
    assert sel == Selector("m", (("a", "x:9/y"), ("b", "1")))
    assert sel.text() == 'm{a="x:9/y",b="1"}'


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("sum(x)", "no functions"),
        ("rate(x[5m])", "no functions"),
        ("x[5m]", "no functions"),
        ('x{a="b"} + 1', "after the closing"),
        ('x{a="b"} or vector(1)', "after the closing"),
        ('x{a=~"b.*"}', "only equality"),
        ('x{a!="b"}', "only equality"),
        ('x{__name__="y"}', "reserved"),
        ('x{a="b",a="c"}', "twice"),
        ('x{a="b" b="c"}', "expected ','"),
        ('x{a="b"', "closing"),
        ("x{a=b}", "double-quoted"),
        ('x{a="b}"}', "may hold only"),
        ('x{a="b c"}', "may hold only"),
        ('x{a="' + "v" * 300 + '"}', "at most"),
        ("9x", "metric name"),
        ('{a="b"}', "metric name"),
        (",".join(f'l{i}="v"' for i in range(9)).join(("x{", "}")), "more than 8"),
    ],
)
def test_anything_but_a_plain_selector_is_refused_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(SelectorError, match=says):
        parse_selector(text)


def test_reserved_labels_are_refused_naming_the_key_that_sets_them() -> None:
    with pytest.raises(SelectorError, match="'namespace' key"):
        parse_selector('x{namespace="other"}', reserved=frozenset({"namespace"}))


@given(st.text(max_size=60))
def test_the_parser_raises_only_selector_error(text: str) -> None:
    try:
        sel = parse_selector(text)
    except SelectorError:
        return
    assert parse_selector(sel.text()) == sel
    assert '"' not in "".join(v for _, v in sel.labels)


def test_activation_metric_metadata_is_canonicalised_and_scoped_by_namespace_and_release() -> None:
    cfg = parse_metadata(
        "so",
        "supersonic",
        {
            "release": "sonic",
            "activationMetric": " " + ENVOY_NONE_HEALTHY.replace("=", " = ").replace("{", "{ "),
        },
    )
    assert cfg.activation_metric == ENVOY_NONE_HEALTHY
    assert queries_for(cfg).activation_rps == (
        "sum(rate(envoy_cluster_upstream_cx_none_healthy{envoy_cluster_name="
        '"triton_grpc_service",namespace="supersonic",release="sonic"}[30s]))'
    )


@pytest.mark.parametrize(
    "value", ["sum(x)", 'x{namespace="other"}', 'x{release="other"}', 'x{a=~".*"}']
)
def test_a_bad_activation_metric_is_invalid_metadata_naming_the_key(value: str) -> None:
    with pytest.raises(MetadataError, match="activationMetric"):
        parse_metadata("so", "ns", {"activationMetric": value})
