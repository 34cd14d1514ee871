"""Live video benchmark: glass-to-glass latency of the HLS ladder, and ffmpeg's CPU per rung.

    python benchmarks/stream_latency.py      # default ladder, 1 s segments (make bench-stream)
    python benchmarks/stream_latency.py --seconds 15 --segment-seconds 2

A fresh `python -m chatql` with CHATQL_MEDIA=on (its own nginx-rtmp and ffmpeg) gets a 720p30
test pattern published by ffmpeg, with the wall clock burned into its top band in
milliseconds (tests/media_tools.py). A player is imitated for each rendition: it polls the
live playlist, downloads each new segment the moment it is listed and decodes its first frame.
Latency = the time the frame is decoded at the player - the time burned into it, i.e. what
a player that plays the live edge as soon as it can would show. (Players keep a buffer on
top: hls.js by default starts three segments behind the edge.)

CPU: ChatQL's transcoder (the whole ladder, one ffmpeg) is sampled from /proc during the
latency run; then one ffmpeg per rung, made by the same code with a one-rung ladder, pulls the
same live stream for a fixed period. Every figure is % of one core; each per-rung figure
includes decoding the source and the thumbnail, which the whole ladder does once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatql.media_plane.ladder import DEFAULT_LADDER, parse_ladder  # noqa: E402
from chatql.media_plane.transcoder import ffmpeg_command  # noqa: E402
from tests.media_tools import (  # noqa: E402
    age_ms,
    first_frame_band,
    playlist_entries,
    publisher_command,
    read_clock,
)

TICKS = os.sysconf("SC_CLK_TCK")
SOURCE = (1280, 720)
SOURCE_KBPS = 4000


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class CpuMeter:
    """% of one core a process used between `start()` and `stop()`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu = 0.0
        self._at = 0.0
        self.percent = 0.0

    def start(self) -> None:
        self._cpu, self._at = cpu_seconds(self.pid), time.monotonic()

    def stop(self) -> float:
        used = cpu_seconds(self.pid) - self._cpu
        self.percent = 100 * used / (time.monotonic() - self._at)
        return self.percent


def transcoder_pid(stream_id: str) -> int | None:
    """ChatQL's ffmpeg for the stream (found by its command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if b"-hls_time" in cmdline and f"/live/{stream_id}".encode() in b" ".join(cmdline):
                return int(entry.name)
    return None


async def start_chatql(
    work: Path, ladder: str, segment_seconds: int
) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    ports = {"port": free_port(), "rtmp": free_port(), "http": free_port()}
    env = {
        **os.environ,
        "CHATQL_HOST": "127.0.0.1",
        "CHATQL_PORT": str(ports["port"]),
        "CHATQL_DATABASE_URL": f"sqlite:///{work}/bench.db",
        "CHATQL_FILES_URL": f"file:{work}/files",
        "CHATQL_JWT_SECRET": "stream-benchmark-secret-0123456789abcdef01234",
        "CHATQL_RATE_LIMIT_AUTH": "off",
        "CHATQL_LOG_LEVEL": "warning",
        "CHATQL_MEDIA": "on",
        "CHATQL_RTMP_PORT": str(ports["rtmp"]),
        "CHATQL_MEDIA_HTTP_PORT": str(ports["http"]),
        "CHATQL_MEDIA_DIR": str(work / "media"),
        "CHATQL_MEDIA_LADDER": ladder,
        "CHATQL_HLS_SEGMENT_SECONDS": str(segment_seconds),
    }
    log = (work / "server.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatql", cwd=ROOT, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{ports['port']}"
    async with httpx.AsyncClient(timeout=1) as http:
        for _ in range(300):
            if process.returncode is not None:
                raise SystemExit(f"chatql exited: {(work / 'server.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return process, {**ports, "url": url}
            await asyncio.sleep(0.1)
    process.kill()
    raise SystemExit("chatql did not become ready in 30 s")


async def gql(
    http: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any], token: str = ""
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body = response.json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL error: {body['errors']}")
    return body["data"]  # type: ignore[no-any-return]


async def open_stream(http: httpx.AsyncClient, url: str) -> tuple[str, str, str]:
    """(token, stream id, publish URL) of a fresh creator's stream."""
    token = (
        await gql(
            http,
            url,
            'mutation($u: String!) { register(username: $u, password: "correct horse") '
            "{ accessToken } }",
            {"u": f"bench{int(time.time() * 1000) % 10**9}"},
        )
    )["register"]["accessToken"]
    stream_id = (
        await gql(
            http, url, 'mutation { createStream(input: { title: "bench" }) { id } }', {}, token
        )
    )["createStream"]["id"]
    key = (
        await gql(
            http,
            url,
            "mutation($s: ID!) { streamKey(streamId: $s) { key ingestUrl } }",
            {"s": stream_id},
            token,
        )
    )["streamKey"]
    return token, stream_id, f"{key['ingestUrl']}/{key['key']}"


async def follow_live_edge(
    http: httpx.AsyncClient, ffmpeg: str, playlist_url: str, seconds: float, skip: int
) -> list[int]:
    """Act as a player at the live edge: each new segment is fetched as soon as it is listed
    and its first frame decoded; the latency of each (ms) is returned."""
    seen: set[str] = set()
    latencies: list[int] = []
    deadline = time.monotonic() + seconds
    first = True
    while time.monotonic() < deadline:
        response = await http.get(playlist_url)
        if response.status_code == 200:
            names = playlist_entries(response.text)
            fresh = [name for name in names if name not in seen]
            seen.update(names)
            if first:  # what was there before we started is not live edge
                first = False
                fresh = fresh[-1:]
            for name in fresh:
                segment = await http.get(playlist_url.rsplit("/", 1)[0] + "/" + name)
                band, width = await first_frame_band(ffmpeg, segment.content)
                if skip > 0:
                    skip -= 1
                    continue
                latencies.append(age_ms(read_clock(band, width)))
        await asyncio.sleep(0.05)
    return latencies


def summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"segments": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "segments": len(values),
        "medianMs": statistics.median(values),
        "p95Ms": p95,
        "minMs": ordered[0],
        "maxMs": ordered[-1],
    }


async def rung_cpu(
    ffmpeg: str, rtmp_url: str, rung: str, segment_seconds: int, work: Path, seconds: float
) -> float:
    """% of a core one ffmpeg uses for a one-rung ladder, on the same live input."""
    folder = work / f"rung-{rung.split(':')[0]}"
    (folder / "v0").mkdir(parents=True, exist_ok=True)
    command = ffmpeg_command(ffmpeg, rtmp_url, folder, parse_ladder(rung), segment_seconds)
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await asyncio.sleep(3)  # probing and encoder start-up are not the steady state
        meter = CpuMeter(process.pid)
        meter.start()
        await asyncio.sleep(seconds)
        return meter.stop()
    finally:
        process.kill()
        await process.wait()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    ffmpeg = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
    ladder = parse_ladder(args.ladder)
    with tempfile.TemporaryDirectory(prefix="chatql-bench-stream-") as tmp:
        work = Path(tmp)
        server, ports = await start_chatql(work, args.ladder, args.segment_seconds)
        publisher: asyncio.subprocess.Process | None = None
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                _token, stream_id, publish_url = await open_stream(http, ports["url"])
                publisher = await asyncio.create_subprocess_exec(
                    *publisher_command(ffmpeg, publish_url, size=SOURCE, video_kbps=SOURCE_KBPS),
                    stdin=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                live_at = time.monotonic()
                base = f"http://127.0.0.1:{ports['http']}/hls/{stream_id}"
                while (await http.get(f"{base}/master.m3u8")).status_code != 200:
                    if time.monotonic() - live_at > 30:
                        raise SystemExit("no master playlist within 30 s")
                    await asyncio.sleep(0.05)
                first_playlist = time.monotonic() - live_at
                pid = transcoder_pid(stream_id)
                assert pid is not None, "ChatQL's transcoder is not running"
                whole, publisher_meter = CpuMeter(pid), CpuMeter(publisher.pid)
                whole.start()
                publisher_meter.start()
                renditions = {}
                for i, rung in enumerate(ladder):  # one player per rendition, all at once
                    renditions[rung.name] = asyncio.create_task(
                        follow_live_edge(
                            http, ffmpeg, f"{base}/v{i}/index.m3u8", args.seconds, skip=2
                        )
                    )
                latency = {name: summary(await task) for name, task in renditions.items()}
                whole.stop()
                publisher_meter.stop()
                rtmp = f"rtmp://127.0.0.1:{ports['rtmp']}/live/{stream_id}"
                per_rung = {}
                for rung in args.ladder.split(","):
                    cpu = await rung_cpu(
                        ffmpeg, rtmp, rung.strip(), args.segment_seconds, work, args.cpu_seconds
                    )
                    per_rung[parse_ladder(rung)[0].name] = round(cpu, 1)
        finally:
            if publisher is not None and publisher.returncode is None:
                publisher.kill()
                await publisher.wait()
            server.terminate()
            await server.wait()
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or ''}",
        "ladder": args.ladder,
        "segmentSeconds": args.segment_seconds,
        "source": f"{SOURCE[0]}x{SOURCE[1]}@30 {SOURCE_KBPS}k x264 + AAC",
        "secondsToFirstPlaylist": round(first_playlist, 2),
        "latency": latency,
        "cpuPercentOfOneCore": {
            "wholeLadderTranscoder": round(whole.percent, 1),
            "perRungAlone": per_rung,
            "publisher (test pattern + x264)": round(publisher_meter.percent, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ladder", default=DEFAULT_LADDER, help="CHATQL_MEDIA_LADDER to use")
    parser.add_argument("--segment-seconds", type=int, default=1, help="HLS segment seconds")
    parser.add_argument("--seconds", type=float, default=30, help="latency measuring time")
    parser.add_argument("--cpu-seconds", type=float, default=15, help="CPU sample per rung")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
        return
    print(f"machine: {result['machine']}")
    print(
        f"source: {result['source']}; ladder {result['ladder']}, {args.segment_seconds} s segments"
    )
    print(f"first playlist {result['secondsToFirstPlaylist']} s after publishing started")
    print("glass-to-glass latency at the live edge (first frame of each new segment):")
    for name, figures in result["latency"].items():
        if figures.get("segments"):
            print(
                f"  {name:>6}: median {figures['medianMs'] / 1000:.2f} s, "
                f"p95 {figures['p95Ms'] / 1000:.2f} s "
                f"(min {figures['minMs'] / 1000:.2f}, max {figures['maxMs'] / 1000:.2f}; "
                f"{figures['segments']} segments)"
            )
    cpu = result["cpuPercentOfOneCore"]
    print("transcoder CPU, % of one core:")
    print(f"  whole ladder (ChatQL's ffmpeg): {cpu['wholeLadderTranscoder']}")
    for name, percent in cpu["perRungAlone"].items():
        print(f"  {name:>6} alone: {percent}")
    print(f"  publisher: {cpu['publisher (test pattern + x264)']}")


if __name__ == "__main__":
    main()
