"""Finding nginx, its RTMP module and ffmpeg on this machine.

Missing tools are not an error: the media plane stays off and says which ones to install.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from chatql.config import Settings

INSTALL_HINT = "install them with `make media-tools` (apt: nginx libnginx-mod-rtmp ffmpeg)"
NGINX_FALLBACKS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
MODULE_DIRS = (
    "/usr/lib/nginx/modules",  # Debian, Ubuntu
    "/usr/lib64/nginx/modules",  # Fedora, RHEL
    "/usr/share/nginx/modules",
    "/etc/nginx/modules",
    "/usr/local/nginx/modules",
    "/usr/local/lib/nginx/modules",
)
RTMP_MODULE = "ngx_rtmp_module.so"


@dataclass(frozen=True, slots=True)
class MediaTools:
    nginx: str
    rtmp_module: str | None  # None: compiled into nginx, nothing to load
    ffmpeg: str


def _binary(configured: str, name: str, fallbacks: tuple[str, ...] = ()) -> str | None:
    if configured:
        return configured if Path(configured).is_file() else shutil.which(configured)
    found = shutil.which(name)
    if found:
        return found
    return next((path for path in fallbacks if Path(path).is_file()), None)


def _rtmp_module(nginx: str) -> tuple[bool, str | None]:
    """(found, path to load): a dynamic module on disk, or RTMP built into nginx itself."""
    for directory in MODULE_DIRS:
        candidate = Path(directory) / RTMP_MODULE
        if candidate.is_file():
            return True, str(candidate)
    try:
        version = subprocess.run(
            [nginx, "-V"], capture_output=True, text=True, timeout=10, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return False, None
    return ("rtmp-module" in version and "dynamic-module" not in version), None


def _has_x264(ffmpeg: str) -> bool:
    try:
        encoders = subprocess.run(
            [ffmpeg, "-hide_banner", "-encoders"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return " libx264 " in encoders and " aac " in encoders


def find_tools(settings: Settings) -> MediaTools | list[str]:
    """The tools, or what is missing (each as a short phrase for the start-up warning)."""
    missing: list[str] = []
    nginx = _binary(settings.nginx_path, "nginx", NGINX_FALLBACKS)
    module: str | None = None
    if nginx is None:
        missing.append(f"nginx ({settings.nginx_path or 'not on PATH or in /usr/sbin'})")
    else:
        found, module = _rtmp_module(nginx)
        if not found:
            missing.append(f"nginx's RTMP module ({RTMP_MODULE}, Debian: libnginx-mod-rtmp)")
    ffmpeg = _binary(settings.ffmpeg_path, "ffmpeg")
    if ffmpeg is None:
        missing.append(f"ffmpeg ({settings.ffmpeg_path or 'not on PATH'})")
    elif not _has_x264(ffmpeg):
        missing.append(f"ffmpeg with libx264 and aac ({ffmpeg} has not both)")
    if missing or nginx is None or ffmpeg is None:
        return missing
    return MediaTools(nginx=nginx, rtmp_module=module, ffmpeg=ffmpeg)
