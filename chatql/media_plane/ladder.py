"""The HLS ladder: which renditions ffmpeg makes of every live stream.

`CHATQL_MEDIA_LADDER` lists rungs as `HEIGHTp:VIDEOk[:AUDIOk]`, e.g. `720p:2800k,480p:1200k`.
Widths follow the source's aspect ratio, so only heights are named; audio defaults by height
(a phone on 240p does not need 128 kb/s of sound).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_LADDER = "720p:2800k,480p:1200k,240p:400k"
MAX_RUNGS = 6
_RUNG = re.compile(r"(\d{2,4})p:(\d+(?:\.\d+)?)([km])(?::(\d+)k)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rendition:
    height: int
    video_kbps: int
    audio_kbps: int

    @property
    def name(self) -> str:
        return f"{self.height}p"

    @property
    def bandwidth(self) -> int:
        """Bits per second, as a player sees it in the master playlist."""
        return (self.video_kbps + self.audio_kbps) * 1000


def default_audio_kbps(height: int) -> int:
    if height >= 720:
        return 128
    if height >= 480:
        return 96
    return 64


def parse_ladder(raw: str) -> tuple[Rendition, ...]:
    """Renditions from the highest to the lowest; ValueError says which rung is wrong and why."""
    rungs = [part.strip() for part in raw.split(",") if part.strip()]
    if not rungs:
        raise ValueError(f"needs at least one rung like {DEFAULT_LADDER!r}")
    if len(rungs) > MAX_RUNGS:
        raise ValueError(
            f"at most {MAX_RUNGS} rungs (each is one more x264 encoder), got {len(rungs)}"
        )
    renditions: list[Rendition] = []
    for rung in rungs:
        match = _RUNG.fullmatch(rung)
        if match is None:
            raise ValueError(
                f"rung {rung!r} must look like 720p:2800k (height, video bitrate in k or M, "
                "and optionally :128k of audio)"
            )
        height = int(match.group(1))
        if not 144 <= height <= 2160 or height % 2:
            raise ValueError(f"rung {rung!r}: the height must be even, from 144 to 2160")
        video = float(match.group(2)) * (1000 if match.group(3).lower() == "m" else 1)
        if not 100 <= video <= 50_000:
            raise ValueError(f"rung {rung!r}: the video bitrate must be 100k to 50M")
        audio = int(match.group(4)) if match.group(4) else default_audio_kbps(height)
        if not 32 <= audio <= 320:
            raise ValueError(f"rung {rung!r}: the audio bitrate must be 32k to 320k")
        if any(r.height == height for r in renditions):
            raise ValueError(f"rung {rung!r}: {height}p is listed twice")
        renditions.append(Rendition(height, int(video), audio))
    return tuple(sorted(renditions, key=lambda r: r.height, reverse=True))
