"""What the streams service needs of the media plane, and what it has when there is none.

The media plane (`chatql.media_plane`: nginx-rtmp for ingest, ffmpeg for the HLS ladder,
nginx again for playback) is a supervised child of one ChatQL process. The control plane
only ever talks to it through this protocol, so services never know nginx or ffmpeg exist.
"""

from __future__ import annotations

from typing import Protocol


class MediaPlane(Protocol):
    @property
    def available(self) -> bool:
        """nginx with the RTMP module and ffmpeg are running here."""

    def ingest_url(self) -> str:
        """Where a broadcaster publishes (`rtmp://host:port/live`); the key is the stream name."""

    def playback_url(self, stream_id: str) -> str:
        """The stream's HLS master playlist (live, then its replay)."""

    def thumbnail_url(self, stream_id: str) -> str: ...

    async def drop_publisher(self, stream_id: str) -> None:
        """Cut the stream's publisher off now (its key was rotated, or the creator ended it)."""

    async def delete_recording(self, stream_id: str) -> None:
        """Remove the stream's playlists, segments and thumbnail for good."""


class NoMediaPlane:
    """No media plane in this process: keys and URLs still work, nothing is cut or deleted."""

    def __init__(self, ingest: str = "", playback: str = "") -> None:
        self._ingest = ingest
        self._playback = playback.rstrip("/")

    @property
    def available(self) -> bool:
        return False

    def ingest_url(self) -> str:
        return self._ingest

    def playback_url(self, stream_id: str) -> str:
        return f"{self._playback}/hls/{stream_id}/master.m3u8"

    def thumbnail_url(self, stream_id: str) -> str:
        return f"{self._playback}/hls/{stream_id}/thumb.jpg"

    async def drop_publisher(self, stream_id: str) -> None:
        return None

    async def delete_recording(self, stream_id: str) -> None:
        return None
