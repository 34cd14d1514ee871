"""Observability: Prometheus /metrics from a real server doing real work, its protection, the
Grafana dashboard against a real scrape, and OpenTelemetry spans (in-memory exporter)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from chatql.config import Settings
from chatql.config_values import ConfigError
from chatql.observability.metrics import OTHER, BoundedLabel
from chatql.observability.tracing import tracer_provider_from_env, tracing_endpoint
from tests.helpers import (
    LEGACY_WS,
    ON_MESSAGE,
    TRANSPORT_WS,
    Client,
    Server,
    Socket,
    free_port,
    running_server,
    until,
)

SECRET = "p" * 40
TOKEN = "metrics-token-0123456789"
DASHBOARD = Path(__file__).parent.parent / "deploy" / "grafana" / "chatql-dashboard.json"
MESSAGE_TEXT = "the launch code is TANGO-FOXTROT-42"
ME = "query Me { me { id } }"


def metrics_url(server: Server) -> str:
    return server.url.removesuffix("/graphql") + "/metrics"


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Scrape:
    """A parsed Prometheus text answer: samples by (name, labels), families by name and type."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: Samples = {}
        self.families: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            self.families[family.name] = family.type
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, metric: str, /, **labels: str) -> float:
        return self.samples.get((metric, frozenset(labels.items())), 0.0)

    def total(self, metric: str, /, **labels: str) -> float:
        """Summed over every series of `metric` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == metric and wanted <= ls)

    def exported_names(self) -> set[str]:
        """Every series name the families stand for (a counter `x`: `x_total`, a histogram:
        `_bucket`, `_sum`, `_count`), whether or not a labelled family has a series yet."""
        names = set()
        for name, kind in self.families.items():
            if kind == "counter":
                names |= {f"{name}_total", f"{name}_created"}
            elif kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
            else:
                names.add(name)
        return names


async def scrape(server: Server, **headers: str) -> Scrape:
    async with httpx.AsyncClient() as http:
        response = await http.get(metrics_url(server), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def chat_activity(server: Server) -> dict[str, Any]:
    """Two users, a room, a shared subscriber (graphql-transport-ws), a per-subscriber one
    (graphql-ws), one message delivered to both, one named query refused."""
    client = Client(server)
    alice = await client.register("alice", password="alice-password-1")
    bob = await client.register("bob")
    room = await client.create_room(alice)
    await client.join(bob, room)
    shared = await Socket.connect(server, TRANSPORT_WS, bob.token)
    await shared.ack()
    await shared.subscribe(ON_MESSAGE, {"r": room})
    single = await Socket.connect(server, LEGACY_WS, alice.token)
    await single.ack()
    await single.subscribe(ON_MESSAGE, {"r": room})
    await asyncio.sleep(0.2)  # both subscriptions are open
    sent = await client.send(alice, room, MESSAGE_TEXT)
    assert [m["id"] for m in await shared.messages(1)] == [sent["id"]]
    assert [m["id"] for m in await single.messages(1)] == [sent["id"]]
    refused = await client.error(ME)  # no token
    assert refused["extensions"]["code"] == "UNAUTHENTICATED"
    return {"client": client, "shared": shared, "single": single, "alice": alice}


async def test_metrics_count_requests_operations_errors_sockets_and_deliveries(
    settings: Settings,
) -> None:
    async with running_server(settings) as server:
        activity = await chat_activity(server)
        m = await scrape(server)

        post = {"method": "POST", "route": "/graphql", "status": "200"}
        assert m.value("chatql_http_requests_total", **post) >= 6
        assert m.total("chatql_http_request_duration_seconds_count", route="/graphql") >= 6
        assert (
            m.value("chatql_graphql_operations_total", type="query", name="Me", outcome="error")
            == 1
        )
        assert m.total("chatql_graphql_operations_total", type="mutation", outcome="ok") >= 5
        assert m.value("chatql_graphql_errors_total", code="UNAUTHENTICATED") == 1
        assert m.total("chatql_graphql_operation_duration_seconds_count", type="mutation") >= 5

        assert m.value("chatql_websocket_connections", protocol="graphql-transport-ws") == 1
        assert m.value("chatql_websocket_connections", protocol="graphql-ws") == 1
        assert m.value("chatql_subscriptions", field="onMessageCreated") == 2
        assert m.value("chatql_subscription_deliveries_total", path="shared") == 1
        assert m.value("chatql_subscription_deliveries_total", path="single") == 1
        assert m.value("chatql_delivery_latency_seconds_count") == 2
        assert 0 < m.value("chatql_delivery_latency_seconds_sum") < 5
        assert m.value("chatql_delivery_latency_seconds_bucket", le="+Inf") == 2
        assert m.value("chatql_change_feed_lag_seconds_count") >= 1
        assert m.value("chatql_subscription_drops_total", reason="queue_overflow") == 0

        assert m.value("chatql_store_call_duration_seconds_count", method="create_user") == 2
        assert m.total("chatql_store_call_duration_seconds_count") > 10
        assert m.value("chatql_event_loop_lag_seconds_count") >= 1
        assert m.value("process_resident_memory_bytes") > 10 * 2**20
        assert m.total("python_gc_collections_total") >= 0
        assert "python_info" in m.families

        # nothing a user typed or holds ends up in the metrics
        for secret in (MESSAGE_TEXT, "alice-password-1", activity["alice"].token):
            assert secret not in m.text

        await activity["shared"].close()
        await activity["single"].close()

        async def sockets_gone() -> bool:
            after = await scrape(server)
            return (
                after.total("chatql_websocket_connections") == 0
                and after.value("chatql_subscriptions", field="onMessageCreated") == 0
            )

        await until(sockets_gone)
        closed = await scrape(server)
        assert closed.total("chatql_websocket_closes_total") == 2
        await activity["client"].close()


WATCH = "subscription($s: ID!) { watchStream(streamId: $s) { id viewerCount } }"
CREATE_STREAM = "mutation($i: CreateStreamInput!) { createStream(input: $i) { id } }"


async def test_stream_watchers_are_counted_while_they_watch(settings: Settings) -> None:
    async with running_server(replace(settings, stream_viewer_interval=0.05)) as server:
        client = Client(server)
        creator, viewer = await client.register("creator"), await client.register("viewer")
        created = await client.data(CREATE_STREAM, {"i": {"title": "Show"}}, creator.token)
        stream_id = created["createStream"]["id"]
        before = await scrape(server)
        assert before.value("chatql_stream_watchers") == 0
        assert before.value("chatql_stream_broadcasts") == 0  # no media plane here
        sock = await Socket.connect(server, TRANSPORT_WS, viewer.token)
        await sock.ack()
        await sock.subscribe(WATCH, {"s": stream_id})

        async def counted(watchers: int, streams: int) -> bool:
            m = await scrape(server)
            return (
                m.value("chatql_stream_watchers") == watchers
                and m.value("chatql_streams_watched") == streams
            )

        await until(lambda: counted(1, 1))
        await sock.close()
        await until(lambda: counted(0, 0))
        await client.close()


async def test_slow_subscribers_count_as_drops(settings: Settings) -> None:
    async with running_server(replace(settings, subscription_queue_size=2)) as server:
        app = server.app
        stats = app.state.services.hub.stats
        hub = app.state.services.hub
        subscription = hub.subscribe("room:x", maxsize=2)
        for n in range(3):  # never read: the third overflows the queue of 2
            hub.deliver("room:x", n)
        m = await scrape(server)
        assert m.value("chatql_subscription_drops_total", reason="queue_overflow") == 1
        assert stats.drops["queue_overflow"] == 1
        subscription.close()


def test_client_chosen_label_values_are_bounded() -> None:
    names = BoundedLabel(3)
    assert [names(n) for n in ("A", "B", "C", "D", "A")] == ["A", "B", "C", OTHER, "A"]
    assert names("not a name!") == OTHER
    assert BoundedLabel(10)("x" * 65) == OTHER


async def test_many_operation_names_end_up_as_other(settings: Settings) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        for n in range(205):
            await client.post(f"query Q{n} {{ __typename }}")
        m = await scrape(server)
        named = {
            dict(labels)["name"]
            for (name, labels) in m.samples
            if name == "chatql_graphql_operations_total"
        }
        assert len(named) == 201 and OTHER in named  # 200 names, then `other`
        assert m.value("chatql_graphql_operations_total", type="query", name=OTHER, outcome="ok")
        await client.close()


# ------------------------------------------------------------------ protection


async def test_metrics_are_not_found_in_production_by_default(settings: Settings) -> None:
    prod = replace(settings, env="production", jwt_secret=SECRET)
    async with running_server(prod) as server, httpx.AsyncClient() as http:
        response = await http.get(metrics_url(server))
        assert response.status_code == 404
        assert response.json() == {"errors": [{"message": "Not Found"}]}


async def test_a_metrics_token_is_required_when_set(settings: Settings) -> None:
    prod = Settings.from_env(
        {
            "CHATQL_ENV": "production",
            "CHATQL_JWT_SECRET": SECRET,
            "CHATQL_METRICS_TOKEN": TOKEN,
            "CHATQL_DATABASE_URL": settings.database_url,
            "CHATQL_FILES_URL": settings.files_url,
        }
    )
    assert prod.metrics_enabled  # a token turns the endpoint on in production
    async with running_server(prod) as server, httpx.AsyncClient() as http:
        url = metrics_url(server)
        wrong = ({}, {"authorization": "Bearer wrong-token-0000000"}, {"authorization": TOKEN})
        for headers in wrong:
            response = await http.get(url, headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            assert (await http.get(url + "?format=json", headers=headers)).status_code == 401
        m = await scrape(server, authorization=f"Bearer {TOKEN}")
        assert "chatql_http_requests" in m.families
        assert (
            m.value("chatql_http_requests_total", method="GET", route="/metrics", status="401") == 6
        )


async def test_a_metrics_port_serves_metrics_apart_from_the_public_port(
    settings: Settings,
) -> None:
    port = free_port()
    separate = replace(settings, metrics_port=port, metrics_token=TOKEN)
    async with running_server(separate) as server, httpx.AsyncClient() as http:
        assert (await http.get(metrics_url(server))).status_code == 404  # the public port
        await Client(server).post(ME)
        listener = f"http://127.0.0.1:{port}/metrics"
        assert (await http.get(listener)).status_code == 401
        response = await http.get(listener, headers={"authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        m = Scrape(response.text)
        assert m.value("chatql_graphql_errors_total", code="UNAUTHENTICATED") == 1
        assert (await http.get(f"http://127.0.0.1:{port}/graphql")).status_code == 404
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):  # stopped with the server
            await http.get(f"http://127.0.0.1:{port}/metrics")


def test_bad_observability_settings_are_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="CHATQL_METRICS_TOKEN must be at least 16"):
        Settings.from_env({"CHATQL_METRICS_TOKEN": "short"})
    with pytest.raises(ConfigError, match="CHATQL_METRICS_PORT must differ"):
        Settings.from_env({"CHATQL_PORT": "9000", "CHATQL_METRICS_PORT": "9000"})
    with pytest.raises(ConfigError, match="CHATQL_LOG_FORMAT must be one of text, json"):
        Settings.from_env({"CHATQL_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_ENDPOINT must be an http"):
        tracing_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})
    assert tracing_endpoint({}) is None
    assert tracer_provider_from_env({}) is None
    off = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}
    assert tracer_provider_from_env(off) is None
    provider = tracer_provider_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "chatql"
    provider.shutdown()


# ------------------------------------------------------------------ the dashboard

METRIC_NAME = re.compile(r"\b((?:chatql|process|python)_[a-z0-9_]+)\b")


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            expressions.append(query["query"])
    return expressions


async def test_the_dashboard_names_only_metrics_that_are_exported(settings: Settings) -> None:
    expressions = dashboard_expressions()
    assert len(expressions) >= 10
    used = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    async with running_server(settings) as server:
        activity = await chat_activity(server)
        exported = (await scrape(server)).exported_names()
        await activity["shared"].close()
        await activity["single"].close()
        await activity["client"].close()
    missing = sorted(used - exported)
    assert not missing, f"the dashboard queries metrics /metrics does not export: {missing}"
    # and it shows every ChatQL family at least once
    families = {n for n in exported if n.startswith("chatql_")}
    shown = {n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for n in used}
    unshown = sorted(
        f
        for f in families
        if not f.endswith("_created")
        and f.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") not in shown
    )
    assert not unshown, f"families without a panel: {unshown}"


# ------------------------------------------------------------------ traces


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def test_a_request_span_holds_the_operation_span_which_holds_store_calls(
    settings: Settings, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    metrics_off = replace(settings, metrics=False)  # tracing alone installs the store proxy
    async with running_server(metrics_off, tracer_provider=provider) as server:
        client = Client(server)
        alice = await client.register("alice", password="alice-password-1")
        room = await client.create_room(alice)
        exporter.clear()
        async with httpx.AsyncClient() as http:
            response = await http.post(
                server.url,
                json={
                    "query": "mutation Send($i: CreateMessageInput!) "
                    "{ createMessage(input: $i) { id } }",
                    "variables": {"i": {"chatRoomId": room, "content": MESSAGE_TEXT}},
                },
                headers={"authorization": f"Bearer {alice.token}", "traceparent": TRACEPARENT},
            )
        assert response.status_code == 200 and "errors" not in response.json()
        finished = exporter.get_finished_spans()
        request = [s for s in finished if s.kind == SpanKind.SERVER]
        assert [s.name for s in request] == ["POST /graphql"]
        (request_span,) = request
        assert format(request_span.context.trace_id, "032x") == TRACE_ID  # traceparent honoured
        assert request_span.parent is not None and request_span.parent.is_remote
        assert request_span.attributes["http.response.status_code"] == 200
        (operation,) = [s for s in finished if s.name == "mutation Send"]
        assert operation.parent.span_id == request_span.context.span_id
        assert operation.attributes["graphql.operation.type"] == "mutation"
        stores = [s for s in finished if s.name.startswith("store.")]
        assert stores and all(s.kind == SpanKind.CLIENT for s in stores)
        assert "store.insert_message" in {s.name for s in stores}
        beneath = {operation.context.span_id}
        for span in sorted(stores, key=lambda s: s.start_time):
            assert span.parent is not None and span.parent.span_id in beneath, span.name
            beneath.add(span.context.span_id)
        everything = json.dumps([json.loads(s.to_json()) for s in finished])
        for secret in (MESSAGE_TEXT, "alice-password-1", alice.token):
            assert secret not in everything
        await client.close()


async def test_a_websocket_operation_is_a_server_span_over_its_graphql_span(
    settings: Settings, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    async with running_server(settings, tracer_provider=provider) as server:
        client = Client(server)
        alice = await client.register("alice")
        exporter.clear()
        sock = await Socket.connect(server, TRANSPORT_WS, alice.token)
        await sock.ack()
        await sock.send({"id": "1", "type": "subscribe", "payload": {"query": ME}})
        frame = await sock.recv()
        assert frame["type"] == "next" and frame["payload"]["data"]["me"]["id"] == alice.id
        await sock.close()
        await client.close()

        async def ended() -> bool:
            return any(s.name == "query Me" for s in exporter.get_finished_spans())

        await until(ended)
        finished = exporter.get_finished_spans()
        servers = [s for s in finished if s.kind == SpanKind.SERVER and s.name == "query Me"]
        graphql = [s for s in finished if s.kind == SpanKind.INTERNAL and s.name == "query Me"]
        assert len(servers) == 1 and len(graphql) == 1
        assert graphql[0].parent.span_id == servers[0].context.span_id
