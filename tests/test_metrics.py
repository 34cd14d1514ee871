"""GET /metrics and the event-loop lag monitor behind it (CHATQL_METRICS)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from chatql.config import Settings
from chatql.config_values import ConfigError
from chatql.observability.loop_lag import LoopLagMonitor
from tests.helpers import (
    ON_MESSAGE,
    TRANSPORT_WS,
    Client,
    Socket,
    room_subscribed,
    running_server,
)

SECRET = "p" * 40


def metrics_url(graphql_url: str) -> str:
    """The JSON view (the benchmarks read it); Prometheus text is in test_observability."""
    return graphql_url.removesuffix("/graphql") + "/metrics?format=json"


def test_metrics_is_on_in_development_and_off_in_production_by_default() -> None:
    assert Settings.from_env({}).metrics_enabled
    prod = {"CHATQL_ENV": "production", "CHATQL_JWT_SECRET": SECRET}
    assert not Settings.from_env(prod).metrics_enabled
    assert Settings.from_env({**prod, "CHATQL_METRICS": "1"}).metrics_enabled
    assert not Settings.from_env({"CHATQL_METRICS": "off"}).metrics_enabled


def test_a_bad_metrics_value_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="CHATQL_METRICS must be true or false"):
        Settings.from_env({"CHATQL_METRICS": "sometimes"})


async def test_metrics_is_not_found_in_production_by_default(settings: Settings) -> None:
    prod = replace(settings, env="production", jwt_secret=SECRET)
    async with running_server(prod) as server, httpx.AsyncClient() as http:
        response = await http.get(metrics_url(server.url))
        assert response.status_code == 404
        assert response.json() == {"errors": [{"message": "Not Found"}]}


async def test_metrics_reports_loop_lag_memory_and_uptime(settings: Settings) -> None:
    prod_on = replace(settings, env="production", jwt_secret=SECRET, metrics=True)
    async with running_server(prod_on) as server, httpx.AsyncClient() as http:
        await asyncio.sleep(0.5)  # about 10 samples
        response = await http.get(metrics_url(server.url))
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"loopLagMs", "deliveryLatencyMs", "rssBytes", "uptimeSeconds"}
        lag = body["loopLagMs"]
        assert set(lag) == {"p50", "p99", "max", "samples", "windowSeconds"}
        assert lag["samples"] >= 1 and 0 < lag["windowSeconds"] <= 60
        assert 0 <= lag["p50"] <= lag["p99"] <= lag["max"]
        assert isinstance(body["rssBytes"], int) and body["rssBytes"] > 10 * 1024 * 1024
        assert body["uptimeSeconds"] >= 0

        # ?reset=1 answers the figures so far, then starts a new window
        before = (await http.get(metrics_url(server.url) + "&reset=1")).json()
        after = (await http.get(metrics_url(server.url))).json()
        assert before["loopLagMs"]["samples"] >= lag["samples"]
        assert after["loopLagMs"]["samples"] < before["loopLagMs"]["samples"]


async def test_metrics_reports_the_latency_of_recent_deliveries(settings: Settings) -> None:
    """One sample per write pass (commit -> its last frame), for the passes since the last
    reset: what the server adds to the latency its clients measure."""
    async with running_server(settings) as server, httpx.AsyncClient() as http:
        url = metrics_url(server.url)
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "measured")
        listeners = []
        for _ in range(3):  # one shared group, one pass per message
            sock = await Socket.connect(server, TRANSPORT_WS, alice.token)
            await sock.ack()
            await sock.subscribe(ON_MESSAGE, {"r": room, "a": None})
            listeners.append(sock)
        await room_subscribed(server, room, 3)
        empty = (await http.get(url + "&reset=1")).json()["deliveryLatencyMs"]
        assert set(empty) == {"p50", "p99", "max", "samples"}
        for n in range(4):
            await client.send(alice, room, f"message {n}")
        for sock in listeners:
            assert len(await sock.messages(4)) == 4
        latency = (await http.get(url + "&reset=1")).json()["deliveryLatencyMs"]
        assert latency["samples"] == 4
        assert 0 <= latency["p50"] <= latency["p99"] <= latency["max"] < 5000
        assert (await http.get(url)).json()["deliveryLatencyMs"] == {
            "p50": None,
            "p99": None,
            "max": None,
            "samples": 0,
        }
        for sock in listeners:
            await sock.close()


async def test_a_blocked_event_loop_shows_up_as_lag(settings: Settings) -> None:
    """The test and the server share one event loop, so blocking the test blocks the server:
    the monitor's next tick, due within 50 ms, runs at least 150 ms late."""
    async with running_server(settings) as server, httpx.AsyncClient() as http:
        time.sleep(0.2)  # noqa: ASYNC251 - blocking the loop is the point
        lag = (await http.get(metrics_url(server.url))).json()["loopLagMs"]
        assert lag["max"] >= 149


class FakeLoop:
    """A loop whose clock the test moves; it records the monitor's one pending timer."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pending: tuple[float, Callable[[], None]] | None = None

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Any:
        self.pending = (self.now + delay, callback)
        return self

    def cancel(self) -> None:
        self.pending = None

    def run_next(self, late: float) -> None:
        assert self.pending is not None
        when, callback = self.pending
        self.now = when + late
        callback()


def test_the_window_keeps_the_last_window_seconds() -> None:
    loop = FakeLoop()
    monitor = LoopLagMonitor(interval=0.25, window=10.0, clock=loop.time)
    monitor.start(loop)  # type: ignore[arg-type]
    assert monitor.snapshot() == {
        "p50": None,
        "p99": None,
        "max": None,
        "samples": 0,
        "windowSeconds": 0.0,
    }
    for _ in range(100):
        loop.run_next(late=0.0)
    snap = monitor.snapshot()
    assert (snap["samples"], snap["windowSeconds"], snap["max"]) == (40, 10.0, 0.0)
    loop.run_next(late=2.0)  # one tick covers 2.25 s, so 9 on-time ticks leave the window
    snap = monitor.snapshot()
    assert (snap["samples"], snap["windowSeconds"], snap["max"]) == (32, 10.0, 2000.0)
    monitor.reset()
    assert monitor.snapshot()["samples"] == 0
    monitor.stop()
    assert loop.pending is None


def test_lag_percentiles_are_nearest_rank_and_never_negative() -> None:
    loop = FakeLoop()
    monitor = LoopLagMonitor(interval=0.05, window=60.0, clock=loop.time)
    monitor.start(loop)  # type: ignore[arg-type]
    loop.run_next(late=-0.001)  # asyncio may run a timer a hair early: that is no lag
    monitor.reset()
    for ms in range(100, 0, -1):
        loop.run_next(late=ms / 1000)
    snap = monitor.snapshot()
    assert (snap["p50"], snap["p99"], snap["max"], snap["samples"]) == (50.0, 99.0, 100.0, 100)
    monitor.reset()
    loop.run_next(late=-0.001)
    assert monitor.snapshot()["max"] == 0.0
