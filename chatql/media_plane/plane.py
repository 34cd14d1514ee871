"""The media plane: nginx-rtmp for ingest, one ffmpeg per live stream, nginx for playback.

It implements `chatql.services.stream_media.MediaPlane` for the control plane, and answers
nginx's hooks (`chatql.media_plane.hooks`) through the streams service, so going LIVE and
ENDED are ordinary writes that reach subscribers through the change feed.

A publisher's stream key never goes further than the `on_publish` hook: the hook answers
with a redirect to the stream's id, which nginx-rtmp adopts as the stream's name, so pulls,
folders and URLs only ever carry the id. nginx's `on_publish_done` still reports the name
the publisher used (the key), so broadcasts are found again by nginx's client id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shutil
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chatql.background import BackgroundTasks
from chatql.config import Settings
from chatql.errors import ChatError
from chatql.media_plane import settings as media_settings
from chatql.media_plane.ladder import parse_ladder
from chatql.media_plane.nginx import MediaPaths, NginxSupervisor, check_config, write_config
from chatql.media_plane.tools import INSTALL_HINT, MediaTools, find_tools
from chatql.media_plane.transcoder import FINISH_TIMEOUT, Transcoder

log = logging.getLogger("chatql.media")

APP = "live"
SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
STOP_TIMEOUT = 5.0


class Stream(Protocol):
    @property
    def id(self) -> str: ...


class BroadcastControl(Protocol):
    """What the media plane asks of the streams service (`chatql.services.streams.Streams`)."""

    async def begin_broadcast(self, key: str) -> Stream: ...
    async def end_broadcast(self, stream_id: str) -> Any: ...
    async def end_orphaned_broadcasts(self) -> int: ...
    async def recording_saved(self, stream_id: str, *, has_recording: bool) -> None: ...
    async def thumbnail_captured(self, stream_id: str) -> None: ...


@dataclass(slots=True)
class Broadcast:
    """A publisher connected to nginx, and the ffmpeg transcoding it."""

    stream_id: str
    client_id: str
    key: str
    transcoder: Transcoder


class MediaPlane:
    """Constructed in every process; runs nginx and ffmpeg only with CHATQL_MEDIA=on and the
    tools installed (otherwise `available` stays False and start-up says what is missing)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.paths = MediaPaths.from_settings(settings)
        self.ladder = parse_ladder(settings.media_ladder)
        self.hook_secret = settings.media_hook_secret or secrets.token_urlsafe(32)
        self.tools: MediaTools | None = None
        self.nginx: NginxSupervisor | None = None
        self._streams: BroadcastControl | None = None
        self._broadcasts: dict[str, Broadcast] = {}
        self._tasks = BackgroundTasks()
        self._stopping = False

    # ------------------------------------------------------------ the control plane's view
    def counts(self) -> tuple[int, int, int]:
        """(broadcasts live on this node, ffmpeg restarts among them, nginx restarts): what
        the metrics export of the media plane."""
        broadcasts = list(self._broadcasts.values())
        restarts = sum(max(b.transcoder.runs - 1, 0) for b in broadcasts)
        return len(broadcasts), restarts, self.nginx.restarts if self.nginx is not None else 0

    @property
    def available(self) -> bool:
        return self.nginx is not None and self.nginx.running and not self._stopping

    def ingest_url(self) -> str:
        return media_settings.ingest_url(self._settings)

    def playback_url(self, stream_id: str) -> str:
        return f"{media_settings.playback_base(self._settings)}/hls/{stream_id}/master.m3u8"

    def thumbnail_url(self, stream_id: str) -> str:
        return f"{media_settings.playback_base(self._settings)}/hls/{stream_id}/thumb.jpg"

    async def drop_publisher(self, stream_id: str) -> None:
        """nginx-rtmp's control module cuts the publisher; its `on_publish_done` follows."""
        if self.nginx is None or not SAFE_NAME.fullmatch(stream_id):
            return
        path = f"/control/drop/publisher?app={APP}&name={stream_id}"
        try:
            status = await _loopback_get(self._settings.media_http_port, path)
        except OSError as exc:
            log.warning("could not drop the publisher of stream %s: %s", stream_id, exc)
            return
        if status != 200:
            log.warning("nginx answered %s to dropping stream %s's publisher", status, stream_id)

    async def delete_recording(self, stream_id: str) -> None:
        if not SAFE_NAME.fullmatch(stream_id):
            return
        broadcast = self._broadcasts.pop(stream_id, None)
        if broadcast is not None:  # the control plane refuses this while live; be safe anyway
            await broadcast.transcoder.abort()
        await asyncio.to_thread(shutil.rmtree, self.paths.stream(stream_id), True)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self._log_file(stream_id).unlink)

    # ------------------------------------------------------------ life cycle
    async def start(self, streams: BroadcastControl) -> None:
        self._streams = streams
        if not self._settings.media:
            return
        found = await asyncio.to_thread(find_tools, self._settings)
        try:
            ended = await streams.end_orphaned_broadcasts()
        except Exception:
            log.exception("ending streams left live by an earlier run failed")
        else:
            if ended:
                log.warning("ended %d stream(s) left live by an earlier run", ended)
        if isinstance(found, list):
            log.warning(
                "CHATQL_MEDIA is on, but live video is off: missing %s; %s. Everything else runs.",
                ", ".join(found),
                INSTALL_HINT,
            )
            return
        self.tools = found
        await asyncio.to_thread(write_config, self._settings, found, self.paths, self.hook_secret)
        problem = await check_config(found.nginx, self.paths)
        if problem:
            log.error("live video is off: nginx refuses %s: %s", self.paths.conf, problem)
            return
        self.nginx = NginxSupervisor(
            found.nginx,
            self.paths,
            (self._settings.rtmp_port, self._settings.media_http_port),
            on_restart=self._nginx_died,
        )
        if await self.nginx.start():
            log.info(
                "live video on: ingest %s, playback %s/hls/ (ladder %s, %d s segments)",
                self.ingest_url(),
                media_settings.playback_base(self._settings),
                ",".join(r.name for r in self.ladder),
                self._settings.hls_segment_seconds,
            )
        else:
            log.error(
                "nginx is not listening on ports %d and %d yet (see %s); still trying",
                self._settings.rtmp_port,
                self._settings.media_http_port,
                self.paths.error_log,
            )

    async def stop(self) -> None:
        """Cut every publisher so each ffmpeg ends its playlists, end those streams, then
        stop nginx."""
        self._stopping = True
        broadcasts = list(self._broadcasts)
        for stream_id in broadcasts:
            await self.drop_publisher(stream_id)
        await asyncio.gather(*(self._finish(stream_id, STOP_TIMEOUT) for stream_id in broadcasts))
        await self._tasks.finish(STOP_TIMEOUT)
        if self.nginx is not None:
            await self.nginx.stop()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(work)

    async def _nginx_died(self) -> None:
        """Every publisher was connected to the nginx that died: their streams are over."""
        await asyncio.gather(*(self._finish(stream_id) for stream_id in list(self._broadcasts)))

    def _log_file(self, stream_id: str) -> Path:
        return self.paths.nginx / "transcode" / f"{stream_id}.log"

    # ------------------------------------------------------------ nginx's hooks
    async def publish_started(self, form: Mapping[str, str]) -> str | None:
        """`on_publish`: the stream id to publish as, or None to refuse the publisher."""
        streams = self._streams
        key = form.get("name", "")
        if streams is None or self.tools is None or self._stopping or form.get("app") != APP:
            return None
        try:
            stream = await streams.begin_broadcast(key)
        except ChatError as exc:
            log.info("refused a publisher from %s: %s", form.get("addr", "?"), exc.message)
            return None
        stream_id = stream.id
        if not SAFE_NAME.fullmatch(stream_id) or stream_id in self._broadcasts:
            log.error("refused a publisher for stream %r: unusable or already live", stream_id)
            return None

        async def thumbnail_captured() -> None:
            await streams.thumbnail_captured(stream_id)

        async def lost() -> None:  # ffmpeg never got the video: the publisher is useless
            await self.drop_publisher(stream_id)
            self._spawn(self._finish(stream_id))

        transcoder = Transcoder(
            self.tools.ffmpeg,
            stream_id,
            f"rtmp://127.0.0.1:{self._settings.rtmp_port}/{APP}/{stream_id}",
            self.paths.stream(stream_id),
            self._log_file(stream_id),
            self.ladder,
            self._settings.hls_segment_seconds,
            on_thumbnail=thumbnail_captured,
            on_lost=lost,
        )
        self._broadcasts[stream_id] = Broadcast(
            stream_id, form.get("clientid", ""), key, transcoder
        )
        transcoder.start()
        log.info("stream %s is live (publisher %s)", stream_id, form.get("addr", "?"))
        return stream_id

    def publish_done(self, form: Mapping[str, str]) -> None:
        """`on_publish_done`: the publisher left (or was cut off). Wrapping up takes a moment
        (ffmpeg closes its playlists), so it runs after the hook is answered."""
        stream_id = self._broadcast_of(form.get("clientid", ""), form.get("name", ""))
        if stream_id is not None:
            self._spawn(self._finish(stream_id))

    def _broadcast_of(self, client_id: str, key: str) -> str | None:
        for broadcast in self._broadcasts.values():
            if client_id and broadcast.client_id == client_id:
                return broadcast.stream_id
        for broadcast in self._broadcasts.values():
            if key and broadcast.key == key:
                return broadcast.stream_id
        return None

    async def _finish(self, stream_id: str, timeout: float | None = None) -> None:
        """ffmpeg ends its playlists (the replay); the stream goes ENDED meanwhile."""
        broadcast = self._broadcasts.pop(stream_id, None)
        if broadcast is None:
            return
        finishing = asyncio.create_task(broadcast.transcoder.finish(timeout or FINISH_TIMEOUT))
        streams = self._streams
        try:
            if streams is not None:
                await streams.end_broadcast(stream_id)
        except Exception:
            log.exception("ending stream %s failed", stream_id)
        recorded = await finishing
        try:
            if streams is not None:
                await streams.recording_saved(stream_id, has_recording=recorded)
        except Exception:
            log.exception("recording the replay of stream %s failed", stream_id)
        log.info("stream %s ended (replay: %s)", stream_id, "yes" if recorded else "none")


async def _loopback_get(port: int, path: str) -> int:
    """One HTTP/1.0 GET to the local nginx: its status code."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    parts = status_line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
