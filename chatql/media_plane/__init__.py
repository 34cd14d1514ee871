"""Live video for streams: nginx-rtmp ingest, an ffmpeg HLS ladder, nginx playback."""

from chatql.media_plane.plane import MediaPlane

__all__ = ["MediaPlane"]
