"""Real video for the media plane's tests and benchmark: an ffmpeg publisher, playlist reading,
and a clock burned into the picture that can be read back after transcoding.

The clock is a band across the top of the test pattern: `BITS` black or white blocks spelling
the wall-clock milliseconds (modulo 2**BITS) at which the frame entered the encoder. ffmpeg's
`setpts` stamps each frame with `RTCTIME` (the wall clock) as it is read (`-re` paces reading
at real time), `drawbox` paints the bits from that stamp, and the picture's own timestamps
start from zero again before encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from chatql.config import Settings
from chatql.media_plane.tools import MediaTools, find_tools
from tests.helpers import free_port

WIDTH, HEIGHT, FPS = 640, 360, 30
BITS = 32
BAND = 16  # pixels: the clock band's height in the published picture
BLOCK = WIDTH // BITS
MODULO: int = 1 << BITS
TS_SYNC = 0x47  # every MPEG-TS packet starts with it


@functools.cache
def media_tools() -> MediaTools | str:
    """The tools, or why the media tests cannot run here."""
    found = find_tools(Settings(media=True))
    if isinstance(found, list):
        return "needs " + ", ".join(found) + " (make media-tools installs them as root)"
    return found


def tools() -> MediaTools:
    found = media_tools()
    assert isinstance(found, MediaTools), found
    return found


requires_media = pytest.mark.skipif(
    not isinstance(media_tools(), MediaTools),
    reason=str(media_tools()) if not isinstance(media_tools(), MediaTools) else "",
)


def media_settings(settings: Settings, folder: Path, **overrides: Any) -> Settings:
    """Settings with the media plane on: free ports, a small ladder, files under `folder`."""
    values: dict[str, Any] = {
        "media": True,
        "port": free_port(),
        "rtmp_port": free_port(),
        "media_http_port": free_port(),
        "media_dir": str(folder),
        "media_ladder": "360p:800k,240p:300k",
    }
    values.update(overrides)
    return replace(settings, **values)


def clock_filter(base_ms: int, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The filter graph painting the clock band (wall ms - `base_ms`, mod 2**BITS): a black
    band, then one white box per set bit, switched on by a timeline expression of the frame's
    wall-clock stamp (cheap: no per-pixel expression). The band scales with the picture, so
    it is read the same way at any size."""
    block, band = width // BITS, height * BAND // HEIGHT
    boxes = ",".join(
        f"drawbox=x={bit * block}:y=0:w={block}:h={band}:color=white:t=fill"
        f":enable='mod(floor(t*1000/{2**bit}),2)'"
        for bit in range(BITS)
    )
    return (
        f"[0:v]settb=1/1000,setpts='(RTCTIME-{base_ms * 1000})/1000000/TB',"
        f"drawbox=x=0:y=0:w={width}:h={band}:color=black:t=fill,{boxes},"
        "setpts=PTS-STARTPTS[video]"
    )


def clock_base() -> int:
    """A base for the clock: the start of the current 2**BITS-millisecond period."""
    now = int(time.time() * 1000)
    return now - now % MODULO


def publisher_command(
    ffmpeg: str,
    url: str,
    seconds: float | None = None,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    video_kbps: int = 1500,
) -> list[str]:
    """Test pattern and a 440 Hz tone at real-time pace, with the clock band, as OBS would send
    it (x264 with a keyframe every second, AAC, FLV over RTMP)."""
    width, height = size
    command = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={width}x{height}:rate={FPS}",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
    ]
    if seconds is not None:
        command += ["-t", str(seconds)]
    command += [
        "-filter_complex",
        clock_filter(clock_base(), width, height),
        "-map",
        "[video]",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(FPS),
        "-b:v",
        f"{video_kbps}k",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-f",
        "flv",
        url,
    ]
    return command


class Publisher:
    """An ffmpeg publishing to RTMP, as a broadcaster's OBS would."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, seconds: float | None = None) -> Publisher:
        process = await asyncio.create_subprocess_exec(
            *publisher_command(tools().ffmpeg, url, seconds),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def wait(self, timeout: float = 10) -> int:
        """The exit status (non-zero: refused or cut off)."""
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def errors(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode(errors="replace")

    async def stop(self) -> None:
        """The broadcaster presses "Stop streaming": ffmpeg ends the RTMP stream cleanly."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def publish(url: str, seconds: float | None = None) -> Publisher:
    return await Publisher.start(url, seconds)


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 15, every: float = 0.1
) -> Any:
    """Poll `check` until it returns something truthy; its last error explains a timeout."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = await check()
        except (AssertionError, httpx.HTTPError) as exc:
            last = exc
        else:
            if value:
                return value
        await asyncio.sleep(every)
    raise AssertionError(f"not within {timeout} s: {last!r}")


def playlist_entries(text: str) -> list[str]:
    """The URIs a playlist lists (variants of a master, or segments of a media playlist)."""
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


async def fetch_text(http: httpx.AsyncClient, url: str) -> str:
    response = await http.get(url)
    response.raise_for_status()
    return response.text


async def variant_urls(http: httpx.AsyncClient, master_url: str) -> list[str]:
    return [
        urljoin(master_url, uri) for uri in playlist_entries(await fetch_text(http, master_url))
    ]


async def segment_urls(http: httpx.AsyncClient, playlist_url: str) -> list[str]:
    text = await fetch_text(http, playlist_url)
    return [urljoin(playlist_url, uri) for uri in playlist_entries(text)]


async def first_frame_band(ffmpeg: str, segment: bytes) -> tuple[bytes, int]:
    """The clock band of a segment's first frame as 8-bit gray pixels, and its width."""
    probe = await asyncio.create_subprocess_exec(
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "mpegts",
        "-i",
        "pipe:0",
        "-frames:v",
        "1",
        "-vf",
        f"scale={WIDTH}:{HEIGHT},crop={WIDTH}:{BAND}:0:0",
        "-pix_fmt",
        "gray",
        "-f",
        "rawvideo",
        "pipe:1",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    pixels, errors = await probe.communicate(segment)
    assert probe.returncode == 0 and pixels, errors.decode(errors="replace")
    return pixels, WIDTH


def read_clock(pixels: bytes, width: int) -> int:
    """The milliseconds the band spells (mod 2**BITS), read on its middle row."""
    row = pixels[(BAND // 2) * width : (BAND // 2 + 1) * width]
    value = 0
    for bit in range(BITS):
        if row[bit * BLOCK + BLOCK // 2] > 128:
            value |= 1 << bit
    return value


def age_ms(clock: int, now_ms: int | None = None) -> int:
    """How long ago (ms) a burned-in clock reading was, allowing for the modulo."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return (now % MODULO - clock) % MODULO
