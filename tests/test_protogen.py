"""The committed stubs are exactly what protoc generates from the committed proto."""

from __future__ import annotations

from pathlib import Path

from scaler.protogen import GENERATED, STUB_DIR, generate


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    generate(tmp_path)
    for name in GENERATED:
        assert (tmp_path / name).read_text() == (STUB_DIR / name).read_text(), (
            f"scaler/keda_proto/{name} is stale: run `make proto` and commit"
        )


def test_proto_is_wire_exact_with_keda() -> None:
    from scaler.keda_proto import externalscaler_pb2 as pb

    d = pb.DESCRIPTOR
    assert d.package == "externalscaler"
    fields = {
        m.name: {f.name: f.number for f in m.fields} for m in d.message_types_by_name.values()
    }
    assert fields == {
        "ScaledObjectRef": {"name": 1, "namespace": 2, "scalerMetadata": 3},
        "IsActiveResponse": {"result": 1},
        "GetMetricSpecResponse": {"metricSpecs": 1},
        "MetricSpec": {"metricName": 1, "targetSize": 2, "targetSizeFloat": 3},
        "GetMetricsRequest": {"scaledObjectRef": 1, "metricName": 2},
        "GetMetricsResponse": {"metricValues": 1},
        "MetricValue": {"metricName": 1, "metricValue": 2, "metricValueFloat": 3},
    }
    svc = d.services_by_name["ExternalScaler"]
    methods = {
        m.name: (m.input_type.name, m.output_type.name, m.server_streaming) for m in svc.methods
    }
    assert methods == {
        "IsActive": ("ScaledObjectRef", "IsActiveResponse", False),
        "StreamIsActive": ("ScaledObjectRef", "IsActiveResponse", True),
        "GetMetricSpec": ("ScaledObjectRef", "GetMetricSpecResponse", False),
        "GetMetrics": ("GetMetricsRequest", "GetMetricsResponse", False),
        "StreamMetricSpec": ("ScaledObjectRef", "GetMetricSpecResponse", True),
    }
