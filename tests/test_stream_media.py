"""The media plane with real processes: nginx-rtmp takes a broadcaster's RTMP, ffmpeg makes the
HLS ladder, nginx serves it, and the stream's life (LIVE, ENDED, replay) follows the video."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatql.config import Settings
from chatql.config_values import ConfigError
from chatql.media_plane import MediaPlane
from chatql.media_plane.ladder import Rendition, parse_ladder
from chatql.media_plane.nginx import (
    MediaPaths,
    NginxSupervisor,
    port_open,
    render_config,
    write_config,
)
from chatql.media_plane.settings import ingest_url, playback_base
from chatql.media_plane.tools import MediaTools
from chatql.media_plane.transcoder import close_playlists, ffmpeg_command
from chatql.store.sqlite import SQLiteStore
from tests.helpers import TRANSPORT_WS, Account, Client, Server, Socket, running_server
from tests.media_tools import (
    TS_SYNC,
    age_ms,
    eventually,
    fetch_text,
    first_frame_band,
    media_settings,
    publish,
    read_clock,
    requires_media,
    segment_urls,
    tools,
    variant_urls,
)

# ------------------------------------------------------------------ settings and ladder


def test_the_default_ladder_is_720_480_240_with_audio_by_height() -> None:
    assert parse_ladder("720p:2800k,480p:1200k,240p:400k") == (
        Rendition(720, 2800, 128),
        Rendition(480, 1200, 96),
        Rendition(240, 400, 64),
    )


def test_a_ladder_is_sorted_high_to_low_and_takes_megabits_and_audio() -> None:
    assert parse_ladder(" 360p:800k , 1080p:4.5M:160k ") == (
        Rendition(1080, 4500, 160),
        Rendition(360, 800, 64),
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "at least one rung"),
        ("720:2800k", "must look like 720p:2800k"),
        ("720p", "must look like 720p:2800k"),
        ("721p:1000k", "height must be even"),
        ("4320p:1000k", "from 144 to 2160"),
        ("720p:50k", "video bitrate must be 100k to 50M"),
        ("720p:1000k:8k", "audio bitrate must be 32k to 320k"),
        ("480p:1000k,480p:800k", "480p is listed twice"),
        (",".join(f"{h}p:500k" for h in range(200, 900, 100)), "at most 6 rungs"),
    ],
)
def test_a_bad_ladder_is_refused_with_the_reason(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ladder(raw)


def test_media_settings_are_read_and_checked_at_start_up(tmp_path: Path) -> None:
    env = {
        "CHATQL_MEDIA": "on",
        "CHATQL_RTMP_PORT": "19350",
        "CHATQL_MEDIA_HTTP_PORT": "18088",
        "CHATQL_MEDIA_DIR": str(tmp_path / "media"),
        "CHATQL_MEDIA_LADDER": "480p:1200k",
        "CHATQL_HLS_SEGMENT_SECONDS": "2",
    }
    settings = Settings.from_env(env)
    assert (settings.media, settings.rtmp_port, settings.hls_segment_seconds) == (True, 19350, 2)
    assert ingest_url(settings) == "rtmp://127.0.0.1:19350/live"
    assert playback_base(settings) == "http://127.0.0.1:18088"
    public = Settings.from_env({**env, "CHATQL_PUBLIC_URL": "https://chat.example.com"})
    assert ingest_url(public) == "rtmp://chat.example.com:19350/live"
    assert playback_base(public) == "http://chat.example.com:18088"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHATQL_RTMP_PORT": "8000"}, "CHATQL_PORT and CHATQL_RTMP_PORT must differ"),
        ({"CHATQL_MEDIA_HTTP_PORT": "1935"}, "CHATQL_RTMP_PORT and CHATQL_MEDIA_HTTP_PORT"),
        ({"CHATQL_RTMP_PORT": "0"}, "CHATQL_RTMP_PORT must be between 1 and 65535"),
        ({"CHATQL_HLS_SEGMENT_SECONDS": "10"}, "between 1 and 6"),
        ({"CHATQL_MEDIA_LADDER": "720p"}, "CHATQL_MEDIA_LADDER: rung '720p' must look like"),
        ({"CHATQL_RTMP_PUBLIC_URL": "http://x/live"}, "CHATQL_RTMP_PUBLIC_URL must be an rtmp"),
        ({"CHATQL_MEDIA_PUBLIC_URL": "cdn.example.com"}, "CHATQL_MEDIA_PUBLIC_URL must be"),
        ({"CHATQL_MEDIA_HOOK_SECRET": "short"}, "at least 16 characters"),
    ],
)
def test_bad_media_settings_stop_start_up_with_a_clear_message(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"CHATQL_MEDIA": "on", **env})


def test_a_media_folder_that_cannot_be_made_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match=r"CHATQL_MEDIA_DIR .*a-file/media' is not a folder"):
        Settings.from_env({"CHATQL_MEDIA": "on", "CHATQL_MEDIA_DIR": f"{tmp_path}/a-file/media"})


def test_media_settings_are_not_checked_while_media_is_off() -> None:
    assert not Settings.from_env({"CHATQL_RTMP_PORT": "8000"}).media


def test_the_transcoder_aligns_keyframes_with_segments_and_maps_every_rung(tmp_path: Path) -> None:
    ladder = parse_ladder("720p:2800k,480p:1200k,240p:400k")
    command = ffmpeg_command("ffmpeg", "rtmp://127.0.0.1:1/live/s1", tmp_path, ladder, 2, run=3)
    joined = " ".join(command)
    assert command[command.index("-g") + 1] == "60"  # 30 fps x 2 s
    assert command[command.index("-keyint_min") + 1] == "60"
    assert command[command.index("-sc_threshold") + 1] == "0"
    assert command[command.index("-hls_time") + 1] == "2"
    assert command[command.index("-hls_playlist_type") + 1] == "event"
    assert command[command.index("-var_stream_map") + 1] == "v:0,a:0 v:1,a:1 v:2,a:2"
    assert "-b:v:1 1200k" in joined and "-b:a:2 64k" in joined
    assert f"{tmp_path}/v%v/r3_%05d.ts" in command  # a new run never reuses a segment name
    silent = ffmpeg_command("ffmpeg", "rtmp://x/live/s", tmp_path, ladder, 1, audio=False)
    assert silent[silent.index("-var_stream_map") + 1] == "v:0 v:1 v:2"
    assert "0:a:0" not in silent


def test_a_killed_transcoders_playlists_are_closed_for_the_replay(tmp_path: Path) -> None:
    (tmp_path / "v0").mkdir()
    (tmp_path / "v0" / "index.m3u8").write_text("#EXTM3U\n#EXTINF:1.0,\nr0_00000.ts")
    close_playlists(tmp_path)
    close_playlists(tmp_path)  # once only
    text = (tmp_path / "v0" / "index.m3u8").read_text()
    assert text.endswith("r0_00000.ts\n#EXT-X-ENDLIST\n")
    assert text.count("ENDLIST") == 1


# ------------------------------------------------------------------ nginx


def _nginx_settings(settings: Settings, tmp_path: Path) -> Settings:
    return media_settings(settings, tmp_path / "media")


def test_the_configuration_hides_the_secret_and_refuses_outside_players(
    settings: Settings, tmp_path: Path
) -> None:
    media = _nginx_settings(settings, tmp_path)
    fake = MediaTools("/usr/sbin/nginx", "/usr/lib/nginx/modules/ngx_rtmp_module.so", "ffmpeg")
    text = render_config(media, fake, MediaPaths.from_settings(media), "s3cret/with&odd=chars")
    hook = f"http://127.0.0.1:{media.port}/internal/media"
    assert f'on_publish "{hook}/on_publish?secret=s3cret%2Fwith%26odd%3Dchars";' in text
    assert f'on_publish_done "{hook}/on_publish_done?secret=s3cret%2Fwith%26odd%3Dchars";' in text
    assert "allow play 127.0.0.1;" in text and "deny play all;" in text
    assert f"listen 127.0.0.1:{media.rtmp_port};" in text
    assert "daemon off;" in text and "master_process on;" in text
    assert str(tmp_path / "media" / "nginx" / "nginx.pid") in text
    assert "application/vnd.apple.mpegurl m3u8;" in text and "video/mp2t ts;" in text
    wide = render_config(replace(media, host="0.0.0.0"), fake, MediaPaths.from_settings(media), "x")
    assert f"listen {media.rtmp_port};" in wide
    assert f"http://127.0.0.1:{media.port}/internal/media/on_publish" in wide


@requires_media
def test_real_nginx_accepts_the_rendered_configuration(settings: Settings, tmp_path: Path) -> None:
    media = _nginx_settings(settings, tmp_path)
    paths = MediaPaths.from_settings(media)
    conf = write_config(media, tools(), paths, "a-secret-of-sixteen+")
    assert conf.stat().st_mode & 0o077 == 0  # the hook secret is in it
    check = subprocess.run(
        [tools().nginx, "-t", "-p", str(paths.nginx), "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr


def _live_group_members(pgid: int) -> list[int]:
    """Processes of a group that still run (a killed orphan may stay a zombie until reaped)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


@requires_media
async def test_the_supervisor_restarts_nginx_killed_with_sigkill_and_stops_it(
    settings: Settings, tmp_path: Path
) -> None:
    media = _nginx_settings(settings, tmp_path)
    paths = MediaPaths.from_settings(media)
    write_config(media, tools(), paths, "a-secret-of-sixteen+")
    died = asyncio.Event()

    async def on_restart() -> None:
        died.set()

    ports = (media.rtmp_port, media.media_http_port)
    supervisor = NginxSupervisor(tools().nginx, paths, ports, on_restart=on_restart)
    assert await supervisor.start()
    first = supervisor.pid
    assert first is not None
    try:
        os.kill(first, signal.SIGKILL)
        await asyncio.wait_for(died.wait(), 5)
        assert await supervisor.wait_ready(10)
        assert supervisor.pid not in (None, first) and supervisor.restarts == 1
        assert _live_group_members(first) == []  # the dead master's worker went with it
        assert all([await port_open(port) for port in ports])
    finally:
        await supervisor.stop()
    assert not supervisor.running
    assert not any([await port_open(port) for port in ports])


@requires_media
async def test_a_leftover_nginx_from_a_killed_chatql_is_replaced(
    settings: Settings, tmp_path: Path
) -> None:
    """ChatQL was kill -9'd: its nginx still holds the ports; the next start takes over."""
    media = _nginx_settings(settings, tmp_path)
    paths = MediaPaths.from_settings(media)
    write_config(media, tools(), paths, "a-secret-of-sixteen+")
    orphan = await asyncio.create_subprocess_exec(
        tools().nginx,
        "-p",
        str(paths.nginx),
        "-c",
        str(paths.conf),
        start_new_session=True,
        stderr=asyncio.subprocess.DEVNULL,
    )
    supervisor = NginxSupervisor(tools().nginx, paths, (media.rtmp_port, media.media_http_port))
    try:
        for _ in range(100):
            if await port_open(media.rtmp_port):
                break
            await asyncio.sleep(0.05)
        assert await supervisor.start()
        assert await asyncio.wait_for(orphan.wait(), 5) is not None
        assert supervisor.pid != orphan.pid
    finally:
        await supervisor.stop()
        if orphan.returncode is None:
            os.killpg(orphan.pid, signal.SIGKILL)
            await orphan.wait()


# ------------------------------------------------------------------ end to end, over GraphQL

CREATE = "mutation($t: String!) { createStream(input: { title: $t }) { id status } }"
KEY = "mutation($s: ID!) { streamKey(streamId: $s) { key ingestUrl } }"
ROTATE = "mutation($s: ID!) { regenerateStreamKey(streamId: $s) { key } }"
FOLLOW = "mutation($u: ID!) { followUser(userId: $u) }"
GET = (
    "query($s: ID!) { getStream(id: $s) "
    "{ status startedAt endedAt playbackUrl thumbnailUrl hasRecording } }"
)
DELETE_RECORDING = "mutation($s: ID!) { deleteStreamRecording(streamId: $s) { hasRecording } }"
ON_NOTIFICATION = "subscription { onNotificationReceived { type stream { id status } } }"


@contextlib.asynccontextmanager
async def media_server(settings: Settings) -> AsyncIterator[Server]:
    """ChatQL on the ports `settings` names, with its media plane running nginx."""
    async with running_server(settings, port=settings.port) as server:
        yield server


def plane_of(server: Server) -> MediaPlane:
    plane = server.app.state.services.media
    assert isinstance(plane, MediaPlane)
    return plane


@dataclass
class Studio:
    """A creator with a scheduled stream and its key, and a client to ask with."""

    client: Client
    creator: Account
    stream_id: str
    key: str
    ingest_url: str

    @classmethod
    async def open(cls, server: Server) -> Studio:
        client = Client(server)
        creator = await client.register()
        stream = (await client.data(CREATE, {"t": "Test pattern"}, creator.token))["createStream"]
        assert stream["status"] == "SCHEDULED"
        key = (await client.data(KEY, {"s": stream["id"]}, creator.token))["streamKey"]
        return cls(client, creator, stream["id"], key["key"], key["ingestUrl"])

    async def stream(self) -> dict[str, Any]:
        data = await self.client.data(GET, {"s": self.stream_id}, self.creator.token)
        return data["getStream"]  # type: ignore[no-any-return]

    async def status_is(self, status: str) -> dict[str, Any] | None:
        stream = await self.stream()
        return stream if stream["status"] == status else None


@requires_media
async def test_a_broadcast_goes_live_plays_every_rendition_and_stays_as_a_replay(
    settings: Settings, tmp_path: Path
) -> None:
    media = media_settings(settings, tmp_path / "media")
    async with media_server(media) as server:
        studio = await Studio.open(server)
        assert studio.ingest_url == f"rtmp://127.0.0.1:{media.rtmp_port}/live"
        follower = await studio.client.register()
        assert (await studio.client.data(FOLLOW, {"u": studio.creator.id}, follower.token))[
            "followUser"
        ]
        socket = await Socket.connect(server, TRANSPORT_WS, follower.token)
        await socket.ack()
        await socket.subscribe(ON_NOTIFICATION, {})
        http = httpx.AsyncClient(timeout=5)
        publisher = await publish(f"{studio.ingest_url}/{studio.key}")
        try:
            live = await eventually(lambda: studio.status_is("LIVE"))
            master_url = (
                f"http://127.0.0.1:{media.media_http_port}/hls/{studio.stream_id}/master.m3u8"
            )
            assert live["startedAt"] and live["playbackUrl"] == master_url
            note = (await socket.next_payload(timeout=10))["data"]["onNotificationReceived"]
            assert note == {
                "type": "STREAM_LIVE",
                "stream": {"id": studio.stream_id, "status": "LIVE"},
            }

            variants = await eventually(lambda: variant_urls(http, master_url))
            master = await http.get(master_url)
            assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
            assert master.headers["cache-control"] == "no-cache"
            assert master.headers["access-control-allow-origin"] == "*"
            assert len(variants) == 2 and "x360" in master.text and "x240" in master.text
            assert studio.key not in master.text
            assert os.listdir(tmp_path / "media" / "hls") == [studio.stream_id]  # no key on disk

            for variant in variants:
                segments = await eventually(functools.partial(_segments, http, variant, 2))
                for url in segments[:2]:
                    segment = await http.get(url)
                    assert segment.headers["content-type"] == "video/mp2t"
                    assert "max-age=31536000" in segment.headers["cache-control"]
                    assert len(segment.content) > 1000 and segment.content[0] == TS_SYNC
            newest = (await segment_urls(http, variants[-1]))[-1]
            band, width = await first_frame_band(tools().ffmpeg, (await http.get(newest)).content)
            assert 0 < age_ms(read_clock(band, width)) < 15_000  # the burned-in clock reads back

            thumbnail_url = await eventually(lambda: _field(studio, "thumbnailUrl"))
            thumbnail = await http.get(thumbnail_url)
            assert thumbnail.headers["content-type"] == "image/jpeg"
            assert thumbnail.content[:2] == b"\xff\xd8"

            await publisher.stop()  # "Stop streaming"
            ended = await eventually(lambda: studio.status_is("ENDED"))
            assert ended["endedAt"]
            replay = await eventually(lambda: _field(studio, "hasRecording"))
            assert replay is True
            assert (await studio.stream())["playbackUrl"] == master_url
            for variant in variants:
                text = await fetch_text(http, variant)
                assert text.rstrip().endswith("#EXT-X-ENDLIST") and "PLAYLIST-TYPE:EVENT" in text

            gone = await studio.client.data(
                DELETE_RECORDING, {"s": studio.stream_id}, studio.creator.token
            )
            assert gone["deleteStreamRecording"]["hasRecording"] is False
            assert (await http.get(master_url)).status_code == 404
            assert not (tmp_path / "media" / "hls" / studio.stream_id).exists()
            assert (await studio.stream())["playbackUrl"] is None
        finally:
            await publisher.stop()
            await socket.close()
            await http.aclose()
            await studio.client.close()


async def _segments(http: httpx.AsyncClient, playlist: str, count: int) -> list[str] | None:
    found = await segment_urls(http, playlist)
    return found if len(found) >= count else None


async def _field(studio: Studio, name: str) -> Any:
    return (await studio.stream())[name]


@requires_media
async def test_a_wrong_key_is_refused_and_the_stream_stays_scheduled(
    settings: Settings, tmp_path: Path
) -> None:
    media = media_settings(settings, tmp_path / "media")
    async with media_server(media) as server:
        studio = await Studio.open(server)
        try:
            for wrong in (studio.key[:-4] + "AAAA", "not-a-key", studio.stream_id):
                publisher = await publish(f"{studio.ingest_url}/{wrong}", seconds=5)
                assert await publisher.wait(timeout=5) != 0, wrong
            assert (await studio.stream())["status"] == "SCHEDULED"
            assert not any((tmp_path / "media" / "hls").iterdir())
            assert not plane_of(server)._broadcasts
        finally:
            await studio.client.close()


@requires_media
async def test_rotating_the_key_cuts_the_live_publisher_off_and_ends_the_stream(
    settings: Settings, tmp_path: Path
) -> None:
    media = media_settings(settings, tmp_path / "media")
    async with media_server(media) as server:
        studio = await Studio.open(server)
        publisher = await publish(f"{studio.ingest_url}/{studio.key}")
        try:
            await eventually(lambda: studio.status_is("LIVE"))
            await studio.client.data(ROTATE, {"s": studio.stream_id}, studio.creator.token)
            assert await publisher.wait(timeout=5) != 0  # nginx dropped it
            await eventually(lambda: studio.status_is("ENDED"))
            again = await publish(f"{studio.ingest_url}/{studio.key}", seconds=5)
            assert await again.wait(timeout=5) != 0  # the old key is worthless now
        finally:
            await publisher.stop()
            await studio.client.close()


@requires_media
async def test_ending_the_stream_cuts_the_publisher_off_and_keeps_the_replay(
    settings: Settings, tmp_path: Path
) -> None:
    media = media_settings(settings, tmp_path / "media", media_ladder="240p:300k")
    async with media_server(media) as server:
        studio = await Studio.open(server)
        publisher = await publish(f"{studio.ingest_url}/{studio.key}")
        try:
            await eventually(lambda: studio.status_is("LIVE"))
            playlist = tmp_path / "media" / "hls" / studio.stream_id / "v0" / "index.m3u8"
            await eventually(lambda: _exists_with(playlist, ".ts"))
            ended = await studio.client.data(
                "mutation($s: ID!) { endStream(id: $s) { status } }",
                {"s": studio.stream_id},
                studio.creator.token,
            )
            assert ended["endStream"]["status"] == "ENDED"
            assert await publisher.wait(timeout=5) != 0
            assert await eventually(lambda: _field(studio, "hasRecording"))
            assert await _exists_with(playlist, "#EXT-X-ENDLIST")
            assert not plane_of(server)._broadcasts
        finally:
            await publisher.stop()
            await studio.client.close()


@requires_media
async def test_a_transcoder_that_dies_while_live_is_restarted_into_the_same_playlists(
    settings: Settings, tmp_path: Path
) -> None:
    media = media_settings(settings, tmp_path / "media", media_ladder="240p:300k")
    async with media_server(media) as server:
        studio = await Studio.open(server)
        playlist = tmp_path / "media" / "hls" / studio.stream_id / "v0" / "index.m3u8"
        publisher = await publish(f"{studio.ingest_url}/{studio.key}")
        try:
            await eventually(lambda: studio.status_is("LIVE"))
            transcoder = plane_of(server)._broadcasts[studio.stream_id].transcoder
            await eventually(lambda: _exists_with(playlist, "r0_00001.ts"))
            first = transcoder.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await eventually(lambda: _exists_with(playlist, "r1_"))  # new names, same playlist
            assert transcoder.pid not in (None, first)
            await publisher.stop()
            await eventually(lambda: _field(studio, "hasRecording"))
            text = playlist.read_text()
            assert "r0_00000.ts" in text and "#EXT-X-DISCONTINUITY\n#EXTINF" in text
            assert text.rstrip().endswith("#EXT-X-ENDLIST")
        finally:
            await publisher.stop()
            await studio.client.close()


@requires_media
async def test_stopping_chatql_ends_its_live_streams_and_closes_their_replays(
    settings: Settings, tmp_path: Path
) -> None:
    media = media_settings(settings, tmp_path / "media", media_ladder="240p:300k")
    async with media_server(media) as server:
        studio = await Studio.open(server)
        playlist = tmp_path / "media" / "hls" / studio.stream_id / "v0" / "index.m3u8"
        publisher = await publish(f"{studio.ingest_url}/{studio.key}")
        try:
            await eventually(lambda: studio.status_is("LIVE"))
            await eventually(lambda: _exists_with(playlist, "r0_00001.ts"))
        finally:
            await studio.client.close()
    try:
        assert await publisher.wait(timeout=5) != 0  # cut off when nginx went
    finally:
        await publisher.stop()
    assert await _exists_with(playlist, "#EXT-X-ENDLIST")
    assert not await port_open(media.rtmp_port) and not await port_open(media.media_http_port)
    store = SQLiteStore(media.database_url)
    await store.open()
    try:
        stream = await store.get_stream(studio.stream_id)
    finally:
        await store.close()
    assert stream is not None and stream.status == "ENDED" and stream.has_recording


async def _exists_with(path: Path, text: str) -> bool:
    def check() -> bool:
        return path.is_file() and text in path.read_text()

    return await asyncio.to_thread(check)


@requires_media
async def test_the_hooks_answer_only_nginx_with_the_secret(
    settings: Settings, tmp_path: Path
) -> None:
    media = media_settings(settings, tmp_path / "media")
    async with media_server(media) as server:
        base = f"http://127.0.0.1:{media.port}/internal/media/on_publish"
        secret = plane_of(server).hook_secret
        form = {"app": "live", "name": "sk_guess", "addr": "127.0.0.1", "clientid": "1"}
        async with httpx.AsyncClient() as http:
            assert (await http.post(base, data=form)).status_code == 404
            assert (await http.post(f"{base}?secret=wrong", data=form)).status_code == 404
            assert (await http.post(f"{base}?secret={secret}", data=form)).status_code == 403


async def test_without_the_tools_live_video_says_so_and_the_rest_runs(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    media = media_settings(
        settings, tmp_path / "media", nginx_path="/nonexistent/nginx", ffmpeg_path="/no/ffmpeg"
    )
    with caplog.at_level(logging.WARNING, logger="chatql.media"):
        async with media_server(media) as server:
            assert not plane_of(server).available
            studio = await Studio.open(server)  # keys and URLs still work
            assert studio.key.startswith("sk_")
            await studio.client.close()
    warning = next(r.getMessage() for r in caplog.records if r.name == "chatql.media")
    assert "live video is off: missing nginx (/nonexistent/nginx)" in warning
    assert "ffmpeg (/no/ffmpeg)" in warning and "make media-tools" in warning
