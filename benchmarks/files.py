"""Files benchmark: upload and download speed, and the server's memory while it streams.

    python benchmarks/files.py                 # 100 MB and 200 MB files (make bench runs this)
    python benchmarks/files.py --sizes 5       # a quick run

A fresh `python -m chatql` (SQLite, files on local disk in a temporary folder, limits raised)
is started; one user uploads each file through the ticket's URL (ChatQL's own upload endpoint)
and downloads it back through its signed URL. The server's RSS is sampled from /proc every
20 ms: the growth over its idle RSS shows whether bytes stream or pile up in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000
CHUNK = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss(pid: int) -> int:
    """Resident set size in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class RssSampler:
    """The highest RSS of a process while a block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss(self.pid))


def content(size: int) -> Iterator[bytes]:
    """`size` bytes of plain text, made as they are sent (the client holds 1 MiB at a time)."""
    line = b"ChatQL streams files in chunks; memory stays flat.\n"
    block = (line * (CHUNK // len(line) + 1))[:CHUNK]
    left = size
    while left:
        part = block[: min(CHUNK, left)]
        left -= len(part)
        yield part


def start_server(workdir: Path, max_bytes: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "CHATQL_PORT": str(port),
        "CHATQL_HOST": "127.0.0.1",
        "CHATQL_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
        "CHATQL_FILES_URL": f"file:{workdir}/files",
        "CHATQL_MAX_UPLOAD_BYTES": str(max_bytes),
        "CHATQL_RATE_LIMIT_AUTH": "off",
        "CHATQL_RATE_LIMIT_UPLOADS": "off",
        "CHATQL_RATE_LIMIT_MESSAGES": "off",
        "CHATQL_JWT_SECRET": "files-benchmark-secret-0123456789abcdef0123",
        "CHATQL_LOG_LEVEL": "warning",
    }
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "chatql"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"chatql exited: {(workdir / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("chatql did not become ready in 30 s")


def gql(
    http: httpx.Client, url: str, query: str, variables: dict[str, object], token: str = ""
) -> dict:  # type: ignore[type-arg]
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = http.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers
    ).json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL error: {body['errors']}")
    return body["data"]  # type: ignore[no-any-return]


def measure(url: str, pid: int, size: int) -> dict[str, float]:
    with httpx.Client(timeout=600) as http:
        auth = gql(
            http,
            url,
            'mutation($u: String!) { register(username: $u, password: "correct horse") '
            "{ accessToken } }",
            {"u": f"bench{int(time.time() * 1000) % 10**9}"},
        )["register"]["accessToken"]
        room = gql(
            http, url, 'mutation { createChatRoom(input: {name: "files"}) { id } }', {}, auth
        )["createChatRoom"]["id"]
        ticket = gql(
            http,
            url,
            "mutation($i: CreateUploadInput!) { createUpload(input: $i) "
            "{ uploadId url headers { name value } } }",
            {"i": {"filename": "big.txt", "mimeType": "text/plain", "size": size}},
            auth,
        )["createUpload"]
        headers = {h["name"]: h["value"] for h in ticket["headers"]}
        headers["content-length"] = str(size)
        idle = rss(pid)
        with RssSampler(pid) as up:
            started = time.perf_counter()
            response = http.put(url + ticket["url"], content=content(size), headers=headers)
            upload_s = time.perf_counter() - started
        if response.status_code != 204:
            raise SystemExit(f"upload answered {response.status_code}: {response.text}")
        started = time.perf_counter()
        attachment = gql(
            http,
            url,
            "mutation($u: ID!) { completeUpload(uploadId: $u) { id url } }",
            {"u": ticket["uploadId"]},
            auth,
        )["completeUpload"]
        complete_s = time.perf_counter() - started
        gql(
            http,
            url,
            "mutation($i: CreateMessageInput!) { createMessage(input: $i) { id } }",
            {"i": {"chatRoomId": room, "content": "", "attachmentIds": [attachment["id"]]}},
            auth,
        )
        received = 0
        with RssSampler(pid) as down:
            started = time.perf_counter()
            with http.stream("GET", url + attachment["url"]) as stream:
                for chunk in stream.iter_raw(CHUNK):
                    received += len(chunk)
            download_s = time.perf_counter() - started
        if received != size:
            raise SystemExit(f"downloaded {received} bytes of {size}")
    return {
        "sizeMB": size / MB,
        "uploadMBps": size / MB / upload_s,
        "completeSeconds": complete_s,
        "downloadMBps": size / MB / download_s,
        "idleRssMB": idle / MB,
        "uploadRssGrowthMB": (up.peak - idle) / MB,
        "downloadRssGrowthMB": (down.peak - idle) / MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,200", help="file sizes in MB, comma-separated")
    parser.add_argument("--json", action="store_true", help="one JSON line per size")
    args = parser.parse_args()
    sizes = [int(float(s) * MB) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="chatql-bench-files-") as work:
        process, url = start_server(Path(work), max(sizes) + 1)
        try:
            print("Files (local store, one client, loopback):")
            for size in sizes:
                result = measure(url, process.pid, size)
                if args.json:
                    print(json.dumps(result))
                    continue
                print(
                    f"  {result['sizeMB']:.0f} MB: upload {result['uploadMBps']:.0f} MB/s, "
                    f"completeUpload {result['completeSeconds']:.2f} s, "
                    f"download {result['downloadMBps']:.0f} MB/s; server RSS idle "
                    f"{result['idleRssMB']:.0f} MB, growth while uploading "
                    f"{result['uploadRssGrowthMB']:.1f} MB, while downloading "
                    f"{result['downloadRssGrowthMB']:.1f} MB"
                )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


if __name__ == "__main__":
    main()
