"""OpenTelemetry traces: on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

The SDK and its OTLP/HTTP exporter read the standard `OTEL_*` variables themselves (headers,
timeouts, sampler, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`); ChatQL only decides whether
to trace and names the service `chatql` unless told otherwise. The application takes a
`TracerProvider`, so tests hand it one with the SDK's in-memory exporter.

Spans: one per HTTP request and per WebSocket operation (SERVER, continuing an incoming
`traceparent`), one per GraphQL operation beneath it, one per store call beneath that. They
carry routes, operation names and types, codes and counts: never variables, tokens, query
text or message contents.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from chatql.config_values import ConfigError

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
SERVICE_NAME = "chatql"
TRACER_NAME = "chatql"


def tracing_endpoint(environ: Mapping[str, str]) -> str | None:
    """The OTLP endpoint when tracing is on; a malformed one is a configuration error."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    for name in ENDPOINT_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    f"{name} must be an http(s) URL like http://localhost:4318, got {value!r}"
                )
            return value
    return None


def tracer_provider_from_env(environ: Mapping[str, str]) -> TracerProvider | None:
    """A provider exporting over OTLP/HTTP in batches, or None when tracing is off."""
    if tracing_endpoint(environ) is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = "OTEL_SERVICE_NAME" in environ or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {"service.name": SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider
