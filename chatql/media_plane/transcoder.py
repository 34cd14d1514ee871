"""One ffmpeg per live stream: RTMP from the local nginx in, an HLS ladder and a thumbnail out.

Layout of `<media dir>/hls/<stream id>/`: `master.m3u8` naming every rendition,
`v<i>/index.m3u8` and `v<i>/r<run>_<n>.ts` for rendition i (highest first), `thumb.jpg`.
Playlists are EVENT playlists: they keep every segment, and ffmpeg closes them with
#EXT-X-ENDLIST when the publisher leaves, which makes the same URL the replay.

If ffmpeg dies while the publisher is still there, a new run starts and *appends* to the same
playlists (ffmpeg's `append_list`, with a discontinuity): viewers and the replay keep one URL.
Segment names carry the run number, so a name is never reused and segments can be cached
forever. Keyframes every `segment seconds` at a fixed 30 fps give segments of exactly that
length, aligned across renditions (a player can switch at any segment).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from chatql.media_plane.ladder import Rendition

log = logging.getLogger("chatql.media.transcoder")

FPS = 30
THUMBNAIL_EVERY = 4  # seconds between thumbnail refreshes
THUMBNAIL_HEIGHT = 360
START_DELAY = 0.2  # let nginx finish accepting the publisher before pulling from it
RESTART_FIRST, RESTART_MAX = 0.25, 5.0
EXIT_GRACE = 1.0  # after an exit, a publish_done this close means "ended", not "crashed"
FINISH_TIMEOUT = 10.0
GIVE_UP_AFTER = 30.0  # seconds without a new segment, ffmpeg failing: the input is unusable
NO_AUDIO = "matches no streams"  # ffmpeg's words when `-map 0:a` finds no sound
ENDLIST = "#EXT-X-ENDLIST"


def ffmpeg_command(
    ffmpeg: str,
    source: str,
    folder: Path,
    ladder: tuple[Rendition, ...],
    segment_seconds: int,
    run: int = 0,
    audio: bool = True,
) -> list[str]:
    """The full ffmpeg invocation for one run (pure, so tests can read it)."""
    count = len(ladder)
    gop = str(FPS * segment_seconds)
    split = "".join(f"[s{i}]" for i in range(count))
    graph = [f"[0:v]fps={FPS},split={count + 1}{split}[thumbsrc]"]
    for i, rung in enumerate(ladder):  # never upscale a smaller source
        graph.append(f"[s{i}]scale=w=-2:h='min({rung.height},ih)'[v{i}]")
    # two frames in a row every THUMBNAIL_EVERY seconds: ffmpeg writes a picture to the
    # image2 muxer when the next one arrives, so the second makes the first appear at once
    graph.append(
        f"[thumbsrc]select='lt(mod(n,{FPS * THUMBNAIL_EVERY}),2)',"
        f"scale=w=-2:h='min({THUMBNAIL_HEIGHT},ih)'[thumb]"
    )
    command = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-y",  # a restarted run overwrites the thumbnail
        "-loglevel",
        "error",
        "-fflags",
        "nobuffer",
        "-fpsprobesize",  # the frame rate is fixed below: start as soon as both codecs are known
        "0",
        "-i",
        source,
        "-filter_complex",
        ";".join(graph),
    ]
    for i in range(count):
        command += ["-map", f"[v{i}]"]
        if audio:
            command += ["-map", "0:a:0"]
    command += [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-g",
        gop,
        "-keyint_min",
        gop,
        "-sc_threshold",
        "0",
    ]
    for i, rung in enumerate(ladder):
        video = f"{rung.video_kbps}k"
        command += [
            f"-b:v:{i}",
            video,
            f"-maxrate:v:{i}",
            f"{rung.video_kbps * 11 // 10}k",
            f"-bufsize:v:{i}",
            video,
        ]
        if audio:
            command += [f"-b:a:{i}", f"{rung.audio_kbps}k"]
    if audio:
        command += ["-c:a", "aac", "-ac", "2"]
    streams = " ".join(f"v:{i},a:{i}" if audio else f"v:{i}" for i in range(count))
    command += [
        "-f",
        "hls",
        "-hls_time",
        str(segment_seconds),
        "-hls_playlist_type",
        "event",
        "-hls_flags",
        "independent_segments+temp_file+append_list",
        "-hls_segment_filename",
        str(folder / "v%v" / f"r{run}_%05d.ts"),
        "-master_pl_name",
        "master.m3u8",
        "-var_stream_map",
        streams,
        str(folder / "v%v" / "index.m3u8"),
        "-map",
        "[thumb]",
        "-c:v",
        "mjpeg",
        "-q:v",
        "5",
        "-fps_mode",
        "vfr",
        "-f",
        "image2",
        "-update",
        "1",
        "-atomic_writing",
        "1",
        str(folder / "thumb.jpg"),
    ]
    return command


def variant_playlists(folder: Path) -> list[Path]:
    return sorted(folder.glob("v*/index.m3u8"))


def has_recording(folder: Path) -> bool:
    """A replay exists: a master playlist and at least one variant with a segment."""
    if not (folder / "master.m3u8").is_file():
        return False
    for playlist in variant_playlists(folder):
        with contextlib.suppress(OSError):
            if ".ts" in playlist.read_text():
                return True
    return False


def close_playlists(folder: Path) -> None:
    """An ffmpeg that had to be killed leaves its playlists open; a replay needs them closed."""
    for playlist in variant_playlists(folder):
        try:
            text = playlist.read_text()
        except OSError:
            continue
        if ENDLIST not in text:
            with playlist.open("a") as out:
                out.write(("" if text.endswith("\n") else "\n") + ENDLIST + "\n")


class Transcoder:
    """Runs (and re-runs) one stream's ffmpeg while its publisher is connected."""

    def __init__(
        self,
        ffmpeg: str,
        stream_id: str,
        source: str,
        folder: Path,
        log_file: Path,
        ladder: tuple[Rendition, ...],
        segment_seconds: int,
        on_thumbnail: Callable[[], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]],
    ) -> None:
        self.stream_id = stream_id
        self._ffmpeg = ffmpeg
        self._source = source
        self._folder = folder
        self._log_file = log_file
        self._ladder = ladder
        self._segment_seconds = segment_seconds
        self._on_thumbnail = on_thumbnail
        self._on_lost = on_lost
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._finishing = asyncio.Event()
        self.audio = True
        self.runs = 0  # ffmpeg processes started, restarts included

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def start(self) -> None:
        for i in range(len(self._ladder)):
            (self._folder / f"v{i}").mkdir(parents=True, exist_ok=True)
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._supervise(), name=f"transcode-{self.stream_id}")

    async def _spawn(self, run: int) -> asyncio.subprocess.Process:
        command = ffmpeg_command(
            self._ffmpeg,
            self._source,
            self._folder,
            self._ladder,
            self._segment_seconds,
            run,
            self.audio,
        )
        with self._log_file.open("ab") as errors:
            errors.write(f"--- run {run} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
            errors.flush()
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,  # stopped by us, not by the terminal's Ctrl-C
            )
        self.runs += 1
        return process

    async def _supervise(self) -> None:
        """Start ffmpeg; while the stream is live, start it again whenever it exits."""
        thumbnail = asyncio.create_task(self._watch_thumbnail())
        run = 0
        backoff = RESTART_FIRST
        progress = time.monotonic()
        try:
            await asyncio.sleep(START_DELAY)
            while not self._finishing.is_set():
                segments_before = self._segment_count()
                self._process = await self._spawn(run)
                code = await self._process.wait()
                if self._finishing.is_set():
                    return
                with contextlib.suppress(TimeoutError):  # the publisher left: not a crash
                    await asyncio.wait_for(self._finishing.wait(), EXIT_GRACE)
                    return
                if self.audio and NO_AUDIO in self._log_tail():
                    log.info("stream %s has no sound: transcoding video only", self.stream_id)
                    self.audio = False
                    continue
                if self._segment_count() > segments_before:
                    run += 1  # new names: the segments written so far stay valid
                    backoff = RESTART_FIRST
                    progress = time.monotonic()
                elif time.monotonic() - progress > GIVE_UP_AFTER:
                    log.error(
                        "ffmpeg made nothing of stream %s for %.0f s; giving up: %s",
                        self.stream_id,
                        GIVE_UP_AFTER,
                        self._log_tail(),
                    )
                    await self._on_lost()
                    return
                log.warning(
                    "ffmpeg for stream %s exited with %s while live; restarting in %.2f s: %s",
                    self.stream_id,
                    code,
                    backoff,
                    self._log_tail(),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._finishing.wait(), backoff)
                backoff = min(backoff * 2, RESTART_MAX)
        finally:
            thumbnail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await thumbnail

    def _segment_count(self) -> int:
        return sum(1 for _ in self._folder.glob("v0/*.ts"))

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = self._log_file.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    async def _watch_thumbnail(self) -> None:
        """Tell the control plane once, as soon as the first thumbnail is on disk."""
        thumb = self._folder / "thumb.jpg"
        while True:
            if thumb.is_file():
                break
            await asyncio.sleep(0.25)
        try:
            await self._on_thumbnail()
        except Exception:
            log.exception("recording the thumbnail of stream %s failed", self.stream_id)

    async def finish(self, timeout: float = FINISH_TIMEOUT) -> bool:
        """The publisher left: ffmpeg reads the end of its input and closes the playlists by
        itself; one that does not within `timeout` is killed and its playlists are closed
        here. True when a replay exists."""
        self._finishing.set()
        process = self._process
        if process is not None and process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                log.warning("ffmpeg for stream %s did not finish; killing it", self.stream_id)
                self._kill()
                await process.wait()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(close_playlists, self._folder)
        return await asyncio.to_thread(has_recording, self._folder)

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)

    async def abort(self) -> None:
        """ChatQL is stopping: no waiting for the publisher."""
        self._finishing.set()
        self._kill()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        process = self._process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
        await asyncio.to_thread(close_playlists, self._folder)
