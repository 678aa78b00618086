"""The KEDA ``externalscaler.ExternalScaler`` service, answering from memory.

Every RPC validates the ScaledObject's metadata (``INVALID_ARGUMENT`` naming the
key), makes sure the object is tracked, and answers from the latest decision.
The scaler computes the replica count itself, so the metric spec is constant:
``targetSizeFloat = 1`` with KEDA's default ``AverageValue`` and the value is the
desired replica count (the HPA then asks for ceil(value), outside its tolerance).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import grpc

from policies import Decision, Status, ceil_replicas
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.limits import clean_message
from scaler.metadata import MetadataError
from scaler.own_metrics import ScalerMetrics
from scaler.tracker import ObjectTracker, TrackedObject

T = TypeVar("T")

METRIC_NAME = "sonic-desired-replicas"
FIRST_DECISION_WAIT_S = 2.0
"""Seconds the very first call for a new object may wait for its first decision;
under the HPA's ~3 s deadline. Later calls never wait."""


class RpcError(Exception):
    """An RPC answered with an error; the message is bounded (gRPC's metadata soft
    limit is 8 KiB) and stripped of URL credentials before it leaves."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        message = clean_message(message)
        super().__init__(message)
        self.code = code
        self.message = message


class ExternalScalerService(pb_grpc.ExternalScalerServicer):
    """The five RPCs of KEDA's external-scaler protocol."""

    def __init__(self, tracker: ObjectTracker, metrics: ScalerMetrics) -> None:
        self._tracker = tracker
        self._metrics = metrics

    def _object(self, ref: pb.ScaledObjectRef) -> TrackedObject:
        try:
            config = self._tracker.config_for(ref.name, ref.namespace, dict(ref.scalerMetadata))
        except MetadataError as exc:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        return self._tracker.track(config)

    def _decision(self, obj: TrackedObject) -> Decision:
        if obj.decision is None and not obj.ready.wait(FIRST_DECISION_WAIT_S):
            raise RpcError(
                grpc.StatusCode.UNAVAILABLE,
                f"{obj.config.key}: first decision not ready yet (metrics being read)",
            )
        d = obj.decision
        assert d is not None
        age = self._tracker.now() - d.time_s
        limit = obj.config.guardrails.fail_after_s
        if d.status is Status.FAIL:
            raise RpcError(grpc.StatusCode.UNAVAILABLE, f"{obj.config.key}: {d.reason}")
        if age > limit + 2 * self._tracker.refresh_interval_s:
            raise RpcError(
                grpc.StatusCode.UNAVAILABLE,
                f"{obj.config.key}: last decision is {age:.0f} s old (> {limit:.0f} s)",
            )
        return d

    def _run(self, method: str, context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return fn()
        except RpcError as exc:
            self._metrics.rpc_errors.labels(method=method, code=exc.code.name).inc()
            context.abort(exc.code, exc.message)
            raise
        finally:
            self._metrics.rpc_seconds.labels(method=method).observe(time.perf_counter() - start)

    @staticmethod
    def _spec() -> pb.GetMetricSpecResponse:
        return pb.GetMetricSpecResponse(
            metricSpecs=[pb.MetricSpec(metricName=METRIC_NAME, targetSize=1, targetSizeFloat=1.0)]
        )

    def GetMetricSpec(
        self, request: pb.ScaledObjectRef, context: grpc.ServicerContext
    ) -> pb.GetMetricSpecResponse:
        def answer() -> pb.GetMetricSpecResponse:
            self._object(request)
            return self._spec()

        return self._run("GetMetricSpec", context, answer)

    def GetMetrics(
        self, request: pb.GetMetricsRequest, context: grpc.ServicerContext
    ) -> pb.GetMetricsResponse:
        def answer() -> pb.GetMetricsResponse:
            d = self._decision(self._object(request.scaledObjectRef))
            value = round(d.value, 3)
            return pb.GetMetricsResponse(
                metricValues=[
                    pb.MetricValue(
                        metricName=request.metricName or METRIC_NAME,
                        metricValue=ceil_replicas(value),
                        metricValueFloat=value,
                    )
                ]
            )

        return self._run("GetMetrics", context, answer)

    def IsActive(
        self, request: pb.ScaledObjectRef, context: grpc.ServicerContext
    ) -> pb.IsActiveResponse:
        def answer() -> pb.IsActiveResponse:
            return pb.IsActiveResponse(result=self._decision(self._object(request)).active)

        return self._run("IsActive", context, answer)

    def StreamIsActive(
        self, request: pb.ScaledObjectRef, context: grpc.ServicerContext
    ) -> Iterator[pb.IsActiveResponse]:
        """Send ``true`` on each inactive→active transition (the stream starts as
        inactive, so an object already active gets one ``true`` at once); ``false``
        is never sent since KEDA ignores it and scale-down is the cooldown's job."""
        try:
            obj = self._object(request)
        except RpcError as exc:
            self._metrics.rpc_errors.labels(method="StreamIsActive", code=exc.code.name).inc()
            context.abort(exc.code, exc.message)
            return
        was_active = False
        seen: Decision | None = None
        while context.is_active() and not self._tracker.stopping:
            d = obj.decision
            if d is not None and d is not seen:
                seen = d
                active = d.active and d.status is not Status.FAIL
                if active and not was_active:
                    yield pb.IsActiveResponse(result=True)
                was_active = active
            with self._tracker.changed:
                self._tracker.changed.wait(timeout=1.0)
            try:
                obj = self._object(request)
            except RpcError:
                obj = self._tracker.track(obj.config)

    def StreamMetricSpec(
        self, request: pb.ScaledObjectRef, context: grpc.ServicerContext
    ) -> Iterator[pb.GetMetricSpecResponse]:
        """The spec is constant, so it is sent once at once and the stream is kept open."""
        try:
            self._object(request)
        except RpcError as exc:
            self._metrics.rpc_errors.labels(method="StreamMetricSpec", code=exc.code.name).inc()
            context.abort(exc.code, exc.message)
            return
        yield self._spec()
        while context.is_active() and not self._tracker.stopping:
            with self._tracker.changed:
                self._tracker.changed.wait(timeout=1.0)
